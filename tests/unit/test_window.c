/* SPDX-License-Identifier: MIT */
/* Maintenance windows in local time (a POSIX TZ rule, so no tzdata is needed): inside,
 * before, across midnight, too short for the run, by day of the week, over a daylight
 * saving change; and the parsers. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "advert/rfc3339.h"
#include "advert/schedule.h"
#include "advert/window.h"
#include "testutil.h"

#define MON  (1u << 1)
#define SAT  (1u << 6)
#define DAYS 0x7fu

/* Local wall-clock time in the test's zone. */
static time_t local(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900,
			 .tm_mon = mo - 1,
			 .tm_mday = d,
			 .tm_hour = h,
			 .tm_min = mi,
			 .tm_isdst = -1 };
	return mktime(&tm);
}

static void test_parsers(void)
{
	CU_ASSERT_EQUAL(window_day("sun"), 0);
	CU_ASSERT_EQUAL(window_day("Sat"), 6);
	CU_ASSERT_EQUAL(window_day("sunday"), -1);
	CU_ASSERT_EQUAL(window_parse_time("00:00"), 0);
	CU_ASSERT_EQUAL(window_parse_time("22:30"), 22 * 60 + 30);
	CU_ASSERT_EQUAL(window_parse_time("23:59"), 23 * 60 + 59);
	CU_ASSERT_EQUAL(window_parse_time("24:00"), -1);
	CU_ASSERT_EQUAL(window_parse_time("7:00"), -1);
	CU_ASSERT_EQUAL(window_parse_time("07:60"), -1);
	CU_ASSERT_EQUAL(window_parse_time("07-00"), -1);
}

static void test_next_start(void)
{
	/* Every night 22:00 for 4 hours. 2026-12-01 is a Tuesday. */
	struct window nightly = { DAYS, 22 * 60, 4 * 3600 };
	time_t t = local(2026, 12, 1, 12, 0);
	CU_ASSERT_EQUAL(window_next_start(&nightly, 1, 3600, t), local(2026, 12, 1, 22, 0));
	/* Inside, with room: now. */
	t = local(2026, 12, 1, 23, 0);
	CU_ASSERT_EQUAL(window_next_start(&nightly, 1, 3600, t), t);
	/* Across midnight, still room (until 02:00 - 1 h = 01:00). */
	t = local(2026, 12, 2, 0, 59);
	CU_ASSERT_EQUAL(window_next_start(&nightly, 1, 3600, t), t);
	/* Too little room left: the next night. */
	t = local(2026, 12, 2, 1, 1);
	CU_ASSERT_EQUAL(window_next_start(&nightly, 1, 3600, t), local(2026, 12, 2, 22, 0));
	/* Exactly the window's length fits, from its opening only. */
	t = local(2026, 12, 1, 22, 0);
	CU_ASSERT_EQUAL(window_next_start(&nightly, 1, 4 * 3600, t), t);
	CU_ASSERT_EQUAL(window_next_start(&nightly, 1, 4 * 3600, t + 1), local(2026, 12, 2, 22, 0));
	/* Longer than the window: never. */
	CU_ASSERT_EQUAL(window_next_start(&nightly, 1, 4 * 3600 + 1, t), 0);
	CU_ASSERT_FALSE(window_fits(&nightly, 1, 4 * 3600 + 1));
	CU_ASSERT(window_fits(&nightly, 1, 4 * 3600));
}

static void test_days(void)
{
	/* Saturdays 08:00 for 2 hours, and Mondays 06:00 for an hour. */
	struct window w[] = { { SAT, 8 * 60, 7200 }, { MON, 6 * 60, 3600 } };
	time_t tue = local(2026, 12, 1, 12, 0);
	CU_ASSERT_EQUAL(window_next_start(w, 2, 1800, tue), local(2026, 12, 5, 8, 0));
	/* Too long for Monday's hour: only Saturday's window will do. */
	time_t sun = local(2026, 12, 6, 12, 0);
	CU_ASSERT_EQUAL(window_next_start(w, 2, 1800, sun), local(2026, 12, 7, 6, 0));
	CU_ASSERT_EQUAL(window_next_start(w, 2, 5400, sun), local(2026, 12, 12, 8, 0));
	/* A window of days: Monday 22:00 for three days is still open on Wednesday, and
	 * one of a week opened six days ago is too. */
	struct window longer = { MON, 22 * 60, 3 * 86400 };
	time_t wed = local(2026, 12, 2, 10, 0);
	CU_ASSERT_EQUAL(window_next_start(&longer, 1, 3600, wed), wed);
	struct window week = { SAT, 8 * 60, 7 * 86400 - 60 };
	time_t fri = local(2026, 12, 4, 12, 0);
	CU_ASSERT_EQUAL(window_next_start(&week, 1, 3600, fri), fri);
	/* No day at all: no window. */
	struct window none = { 0, 0, 3600 };
	CU_ASSERT_EQUAL(window_next_start(&none, 1, 60, tue), 0);
	CU_ASSERT_FALSE(window_fits(&none, 1, 60));
}

static void test_daylight_saving(void)
{
	/* 2027-03-28: clocks go from 02:00 to 03:00 in CET/CEST. A window at 01:00 for 3 h
	 * opens at 01:00 CET and lasts 3 real hours. */
	struct window w = { DAYS, 60, 3 * 3600 };
	time_t before = local(2027, 3, 28, 0, 30);
	time_t open = window_next_start(&w, 1, 3600, before);
	char buf[RFC3339_BUFSIZE];
	CU_ASSERT_STRING_EQUAL(rfc3339_format(open, buf, sizeof(buf)), "2027-03-28T00:00:00Z");
	/* 03:30 CEST is 01:30 UTC: 90 real minutes in, room for an hour. */
	time_t later = local(2027, 3, 28, 3, 30);
	CU_ASSERT_EQUAL(window_next_start(&w, 1, 3600, later), later);
}

static void test_schedule_waits_for_window(void)
{
	struct advert a = { .id = "W", .enabled = true, .rerun = ADV_RERUN_NEVER };
	struct window nightly = { DAYS, 22 * 60, 4 * 3600 };
	a.schedule.windows = &nightly;
	a.schedule.n_windows = 1;
	a.program.max_runtime = 3600;
	struct schedule_history own = { 0 };
	time_t noon = local(2026, 12, 1, 12, 0);
	struct schedule_decision d = schedule_decide(&a, &own, NULL, 0, noon);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WAIT);
	CU_ASSERT_EQUAL(d.when, local(2026, 12, 1, 22, 0));
	CU_ASSERT_PTR_NOT_NULL(strstr(d.reason, "waiting for a maintenance window"));
	d = schedule_decide(&a, &own, NULL, 0, d.when);
	CU_ASSERT_EQUAL(d.verdict, SCHED_DUE);
	/* Expiry before the next window: it will not run. */
	a.schedule.has_expires = true;
	a.schedule.expires = local(2026, 12, 1, 20, 0);
	d = schedule_decide(&a, &own, NULL, 0, noon);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WAIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.reason, "after expiry"));
}

int main(void)
{
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	static const struct tu_test tests[] = {
		{ "parsers", test_parsers },
		{ "next start", test_next_start },
		{ "days of the week", test_days },
		{ "daylight saving", test_daylight_saving },
		{ "schedule waits for a window", test_schedule_waits_for_window },
		{ NULL, NULL },
	};
	return tu_run("window", tests);
}

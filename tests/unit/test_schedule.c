/* SPDX-License-Identifier: MIT */
/* Scheduling: every verdict, each rerun policy against each kind of history, missed
 * occurrences, expiry, splay, dependencies (through a real history), extreme times, and
 * the splay hash's stability and spread — all with an injected clock. */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advert/history.h"
#include "advert/rfc3339.h"
#include "advert/schedule.h"
#include "advert/util.h"
#include "testutil.h"

#define S     ((time_t)1795341600) /* 2026-11-22T10:00:00Z */
#define E     ((time_t)1798761600) /* 2027-01-01T00:00:00Z */
#define D     ((time_t)86400)
#define H     ((time_t)3600)
#define SPLAY 17
#define ANY   ((time_t)-7) /* do not check */

/* Values pinned when the hash was chosen. */
#define GOLDEN_SPLAY UINT32_C(1406948298) /* ws1.example.test, LAB00001, UINT32_MAX */

enum sched {
	DAILY,        /* start S, recur D, expires E */
	ONCE,         /* start S only */
	ASAP,         /* nothing: as soon as possible */
	ASAP_HOURLY,  /* no start, recur H */
	SHORT,        /* daily, expires S + 2.5 D: mid-recurrence */
	TIGHT,        /* daily, expires S + 2 D + 10: splay pushes past it */
	FUTURE_TIGHT, /* start S, expires S + 10: even the first is past it */
};

static const struct advert_schedule schedules[] = {
	[DAILY] = { .has_start = true, .start = S, .has_expires = true, .expires = E, .recur = D },
	[ONCE] = { .has_start = true, .start = S },
	[ASAP] = { 0 },
	[ASAP_HOURLY] = { .recur = H },
	[SHORT] = { .has_start = true,
		    .start = S,
		    .has_expires = true,
		    .expires = S + 2 * D + D / 2,
		    .recur = D },
	[TIGHT] = { .has_start = true,
		    .start = S,
		    .has_expires = true,
		    .expires = S + 2 * D + 10,
		    .recur = D },
	[FUTURE_TIGHT] = { .has_start = true, .start = S, .has_expires = true, .expires = S + 10 },
};

enum dep { DEP_NONE, DEP_NEVER, DEP_FAILED, DEP_INTERRUPTED, DEP_OK, DEP_REBOOT, DEP_OK_ONCE };

static const struct schedule_history deps[] = {
	[DEP_NONE] = { 0 },
	[DEP_NEVER] = { 0 },
	[DEP_FAILED] = { .ever_started = true,
			 .last_result = RUN_FAILED,
			 .last_start = S - D,
			 .last_end = S - D + 60 },
	[DEP_INTERRUPTED] = { .ever_started = true,
			      .last_result = RUN_INTERRUPTED,
			      .last_start = S - D,
			      .last_end = S - D + 60 },
	[DEP_OK] = { .ever_started = true,
		     .ever_succeeded = true,
		     .last_result = RUN_SUCCEEDED,
		     .last_start = S - D },
	[DEP_REBOOT] = { .ever_started = true,
			 .ever_succeeded = true,
			 .last_result = RUN_SUCCEEDED_REBOOT,
			 .last_start = S - D },
	/* It succeeded once, then failed: success is for good. */
	[DEP_OK_ONCE] = { .ever_started = true,
			  .ever_succeeded = true,
			  .last_result = RUN_FAILED,
			  .last_start = S - D },
};

/* Histories: never ran, or the latest run (started at t) with its result. */
#define NEVER_RAN                                                                                  \
	{                                                                                          \
		0                                                                                  \
	}
#define RAN(res, t)                                                                                \
	{                                                                                          \
		.ever_started = true,                                                              \
		.ever_succeeded = (res) == RUN_SUCCEEDED || (res) == RUN_SUCCEEDED_REBOOT,         \
		.last_result = (res), .last_start = (t), .last_end = (t) + 60                      \
	}
#define OK   RUN_SUCCEEDED
#define FAIL RUN_FAILED
#define INTR RUN_INTERRUPTED

static struct advert make_advert(enum sched s, enum advert_rerun rerun, enum dep dep)
{
	struct advert a = {
		.id = "LAB00001", .enabled = true, .rerun = rerun, .schedule = schedules[s]
	};
	if (dep != DEP_NONE)
		a.program.depends_on = "LAB00009";
	return a;
}

struct row {
	int line;
	enum sched sched;
	enum advert_rerun rerun;
	struct schedule_history own;
	enum dep dep;
	uint32_t splay;
	time_t now;
	enum schedule_verdict want;
	time_t want_when;
	time_t want_occ;         /* ANY: not checked */
	const char *want_reason; /* a substring, or NULL */
};

#define N  ADV_RERUN_NEVER
#define A  ADV_RERUN_ALWAYS
#define IF ADV_RERUN_IF_FAILED
#define IS ADV_RERUN_IF_SUCCEEDED

/* The rerun matrix: day 1's occurrence is S + D; "now" is an hour after it. "Same": the
 * latest run served day 1 (it started at S + D + 100); "next": it served day 0 only. */
#define NOW1  (S + D + H)
#define SAME  (S + D + 100)
#define PREV  (S + 100)
#define NEXT2 (S + 2 * D + SPLAY)

static const struct row matrix[] = {
	/* never */
	{ __LINE__, DAILY, N, NEVER_RAN, DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D,
	  "due: occurrence 2026-11-23T10:00:00Z (+17 s splay)" },
	{ __LINE__, DAILY, N, RAN(OK, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, 0, ANY,
	  "rerun = never and it started at 2026-11-23T10:01:40Z" },
	{ __LINE__, DAILY, N, RAN(OK, PREV), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, 0, ANY,
	  NULL },
	{ __LINE__, DAILY, N, RAN(FAIL, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, 0, ANY,
	  NULL },
	{ __LINE__, DAILY, N, RAN(FAIL, PREV), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, 0, ANY,
	  NULL },
	{ __LINE__, DAILY, N, RAN(INTR, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, 0, ANY,
	  NULL },
	/* An interrupted run may have done its work: a "never" program never starts again. */
	{ __LINE__, DAILY, N, RAN(INTR, PREV), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, 0, ANY,
	  "rerun = never" },

	/* always: each occurrence once */
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, A, RAN(OK, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WAIT, NEXT2, S + 2 * D,
	  "occurrence 2026-11-23T10:00:00Z ran at 2026-11-23T10:01:40Z; next due at "
	  "2026-11-24T10:00:17Z" },
	{ __LINE__, DAILY, A, RAN(OK, PREV), DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, A, RAN(FAIL, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WAIT, NEXT2, S + 2 * D,
	  NULL },
	{ __LINE__, DAILY, A, RAN(FAIL, PREV), DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, A, RAN(INTR, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WAIT, NEXT2, S + 2 * D,
	  NULL },
	{ __LINE__, DAILY, A, RAN(INTR, PREV), DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },

	/* if-failed */
	{ __LINE__, DAILY, IF, NEVER_RAN, DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, IF, RAN(OK, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, NEXT2,
	  S + D, "rerun = if-failed and the latest run (2026-11-23T10:01:40Z) succeeded" },
	{ __LINE__, DAILY, IF, RAN(OK, PREV), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, NEXT2,
	  S + D, "next due at 2026-11-24T10:00:17Z" },
	{ __LINE__, DAILY, IF, RAN(FAIL, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WAIT, NEXT2, S + 2 * D,
	  NULL },
	{ __LINE__, DAILY, IF, RAN(FAIL, PREV), DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, IF, RAN(INTR, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WAIT, NEXT2, S + 2 * D,
	  NULL },
	{ __LINE__, DAILY, IF, RAN(INTR, PREV), DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, IF, RAN(RUN_SUCCEEDED_REBOOT, PREV), DEP_NONE, SPLAY, NOW1,
	  SCHED_WILL_NOT_RERUN, NEXT2, S + D, NULL },

	/* if-succeeded */
	{ __LINE__, DAILY, IS, NEVER_RAN, DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, IS, RAN(OK, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WAIT, NEXT2, S + 2 * D,
	  NULL },
	{ __LINE__, DAILY, IS, RAN(OK, PREV), DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, IS, RAN(RUN_SUCCEEDED_REBOOT, PREV), DEP_NONE, SPLAY, NOW1, SCHED_DUE, 0,
	  S + D, NULL },
	{ __LINE__, DAILY, IS, RAN(FAIL, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, NEXT2,
	  S + D, "rerun = if-succeeded and the latest run (2026-11-23T10:01:40Z) failed" },
	{ __LINE__, DAILY, IS, RAN(FAIL, PREV), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, NEXT2,
	  S + D, NULL },
	{ __LINE__, DAILY, IS, RAN(INTR, SAME), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, NEXT2,
	  S + D, "interrupted" },
	{ __LINE__, DAILY, IS, RAN(INTR, PREV), DEP_NONE, SPLAY, NOW1, SCHED_WILL_NOT_RERUN, NEXT2,
	  S + D, NULL },
	/* Refused on the last day: no later occurrence, nothing to look again for. */
	{ __LINE__, SHORT, IS, RAN(FAIL, S + 2 * D + 5), DEP_NONE, SPLAY, S + 2 * D + H,
	  SCHED_WILL_NOT_RERUN, 0, S + 2 * D, "no later occurrence before expiry" },
};

static const struct row other[] = {
	/* Running: never overlap, even if a new occurrence came meanwhile. */
	{ __LINE__,
	  DAILY,
	  A,
	  { .running = true, .ever_started = true, .last_start = PREV },
	  DEP_NONE,
	  0,
	  NOW1,
	  SCHED_RUNNING,
	  0,
	  0,
	  "running since 2026-11-22T10:01:40Z" },
	{ __LINE__,
	  DAILY,
	  A,
	  { .running = true, .ever_started = true, .last_start = PREV },
	  DEP_FAILED,
	  0,
	  E + D,
	  SCHED_RUNNING,
	  0,
	  0,
	  NULL },

	/* Expiry: at the instant, and later; a second before still runs. */
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, 0, E, SCHED_EXPIRED, 0, 0,
	  "expired at 2027-01-01T00:00:00Z" },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, 0, E + 5 * D, SCHED_EXPIRED, 0, 0, NULL },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NEVER, 0, E, SCHED_EXPIRED, 0, 0, NULL },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, 0, E - 1, SCHED_DUE, 0, E - 14 * H, NULL },
	/* Expiry in the middle of a recurrence: day 2 runs, day 3 never comes. */
	{ __LINE__, SHORT, A, RAN(OK, S + D + 5), DEP_NONE, 0, S + 2 * D + 1, SCHED_DUE, 0,
	  S + 2 * D, NULL },
	{ __LINE__, SHORT, A, RAN(OK, S + 2 * D + 5), DEP_NONE, 0, S + 2 * D + H,
	  SCHED_WILL_NOT_RERUN, 0, S + 2 * D, "no later occurrence before expiry" },
	{ __LINE__, SHORT, A, RAN(OK, S + D + 5), DEP_NONE, 0, S + 3 * D, SCHED_EXPIRED, 0, 0,
	  NULL },
	/* Splay pushing an occurrence past expiry: due before it, splayed after: no run. */
	{ __LINE__, TIGHT, A, RAN(OK, S + D + 5), DEP_NONE, SPLAY, S + 2 * D + 3, SCHED_WAIT,
	  S + 2 * D + 10, S + 2 * D, "falls after expiry" },
	{ __LINE__, TIGHT, A, RAN(OK, S + D + 5), DEP_NONE, SPLAY, S + 2 * D + 10, SCHED_EXPIRED, 0,
	  0, NULL },
	{ __LINE__, TIGHT, A, RAN(OK, S + D + 5), DEP_NONE, 9, S + 2 * D + 9, SCHED_DUE, 0,
	  S + 2 * D, "(+9 s splay)" },
	/* The day before: after day 1 ran there is no next due time before expiry. */
	{ __LINE__, TIGHT, A, RAN(OK, S + D + 20), DEP_NONE, SPLAY, S + D + H, SCHED_WILL_NOT_RERUN,
	  0, S + D, NULL },
	{ __LINE__, TIGHT, A, RAN(OK, S + D + 20), DEP_NONE, 9, S + D + H, SCHED_WAIT,
	  S + 2 * D + 9, S + 2 * D, NULL },
	{ __LINE__, FUTURE_TIGHT, A, NEVER_RAN, DEP_NONE, SPLAY, S - H, SCHED_WAIT, S + 10, S,
	  "will not run: the first occurrence 2026-11-22T10:00:00Z (+17 s splay) falls after "
	  "expiry" },

	/* Start in the future: wait for start + splay, whatever the dependency says. */
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, SPLAY, S - H, SCHED_WAIT, S + SPLAY, S,
	  "waiting for the first occurrence 2026-11-22T10:00:00Z (+17 s splay)" },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, 0, S - 1, SCHED_WAIT, S, S, NULL },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_FAILED, SPLAY, S - H, SCHED_WAIT, S + SPLAY, S, NULL },
	{ __LINE__, ONCE, N, NEVER_RAN, DEP_NONE, 0, S - 30 * D, SCHED_WAIT, S, S, NULL },
	/* Inside the splay window: due at occurrence + splay, not before. */
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, SPLAY, S, SCHED_WAIT, S + SPLAY, S,
	  "is due at 2026-11-22T10:00:17Z" },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, SPLAY, S + SPLAY - 1, SCHED_WAIT, S + SPLAY, S,
	  NULL },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, SPLAY, S + SPLAY, SCHED_DUE, 0, S, NULL },
	{ __LINE__, DAILY, A, RAN(OK, PREV), DEP_NONE, SPLAY, S + D + 5, SCHED_WAIT, S + D + SPLAY,
	  S + D, NULL },
	/* No splay: the reason says nothing of it. */
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NONE, 0, S, SCHED_DUE, 0, S,
	  "due: occurrence 2026-11-22T10:00:00Z" },

	/* Missed occurrences: off for three days, one run for the latest occurrence. */
	{ __LINE__, DAILY, A, RAN(OK, PREV), DEP_NONE, SPLAY, S + 3 * D + 2 * H, SCHED_DUE, 0,
	  S + 3 * D, NULL },
	{ __LINE__, DAILY, A, RAN(OK, S + 3 * D + 2 * H), DEP_NONE, SPLAY, S + 3 * D + 2 * H,
	  SCHED_WAIT, S + 4 * D + SPLAY, S + 4 * D, NULL },
	{ __LINE__, DAILY, IF, RAN(FAIL, PREV), DEP_NONE, SPLAY, S + 3 * D + 2 * H, SCHED_DUE, 0,
	  S + 3 * D, NULL },

	/* One occurrence only. */
	{ __LINE__, ONCE, A, NEVER_RAN, DEP_NONE, SPLAY, S + 10 * D, SCHED_DUE, 0, S, NULL },
	{ __LINE__, ONCE, A, RAN(OK, S + 30), DEP_NONE, SPLAY, S + 10 * D, SCHED_WILL_NOT_RERUN, 0,
	  S, "it does not recur" },
	/* A failed run of a program that does not recur is retried (rerun = if-failed), after
	 * a backoff: here long past it. */
	{ __LINE__, ONCE, IF, RAN(FAIL, S + 30), DEP_NONE, SPLAY, S + 10 * D, SCHED_DUE, 0, S,
	  "due: retrying, the latest run (2026-11-22T10:00:30Z) failed" },
	/* ... not before it: without a first_seen the backoff is an hour after the end. */
	{ __LINE__, ONCE, IF, RAN(FAIL, S + 30), DEP_NONE, SPLAY, S + 30 + 60, SCHED_WAIT,
	  S + 30 + 60 + H, S, "rerun = if-failed retries it at 2026-11-22T11:01:30Z" },
	{ __LINE__, ONCE, IF, RAN(FAIL, S - D), DEP_NONE, SPLAY, S + 10 * D, SCHED_DUE, 0, S,
	  NULL },

	/* As soon as possible: at once without an anchor; from first_seen + splay with one. */
	{ __LINE__, ASAP, N, NEVER_RAN, DEP_NONE, SPLAY, S, SCHED_DUE, 0, S,
	  "due: as soon as possible, first run" },
	{ __LINE__,
	  ASAP,
	  N,
	  { .first_seen = S - 5 },
	  DEP_NONE,
	  SPLAY,
	  S,
	  SCHED_WAIT,
	  S - 5 + SPLAY,
	  S - 5,
	  NULL },
	{ __LINE__,
	  ASAP,
	  N,
	  { .first_seen = S - 30 },
	  DEP_NONE,
	  SPLAY,
	  S,
	  SCHED_DUE,
	  0,
	  S - 30,
	  "(+17 s splay)" },
	{ __LINE__,
	  ASAP,
	  N,
	  { .first_seen = S + 30 },
	  DEP_NONE,
	  SPLAY,
	  S,
	  SCHED_DUE,
	  0,
	  S,
	  NULL }, /* seen "in the future": the clock moved back; do not wait for it */
	{ __LINE__, ASAP, N, RAN(OK, S - D), DEP_NONE, SPLAY, S, SCHED_WILL_NOT_RERUN, 0, ANY,
	  "rerun = never" },
	{ __LINE__, ASAP, A, RAN(OK, S - D), DEP_NONE, SPLAY, S, SCHED_WILL_NOT_RERUN, 0, S - D,
	  "it does not recur" },
	{ __LINE__, ASAP, A, NEVER_RAN, DEP_NEVER, 0, S, SCHED_WAIT_DEPENDENCY, 0, S, NULL },
	/* Recurring without a start: the interval counts from the last run. */
	{ __LINE__, ASAP_HOURLY, A, RAN(OK, S - 100), DEP_NONE, SPLAY, S, SCHED_WAIT,
	  S - 100 + H + SPLAY, S - 100 + H, NULL },
	{ __LINE__, ASAP_HOURLY, A, RAN(OK, S - H - 20), DEP_NONE, SPLAY, S, SCHED_DUE, 0, S - 20,
	  NULL },
	{ __LINE__, ASAP_HOURLY, A, RAN(OK, S - H - 10), DEP_NONE, SPLAY, S, SCHED_WAIT,
	  S - 10 + SPLAY, S - 10, NULL },
	/* Off for five hours: one run, for the latest occurrence. */
	{ __LINE__, ASAP_HOURLY, A, RAN(OK, S - 5 * H - 20), DEP_NONE, 0, S, SCHED_DUE, 0, S - 20,
	  NULL },
	{ __LINE__, ASAP_HOURLY, IF, RAN(OK, S - H - 20), DEP_NONE, 0, S, SCHED_WILL_NOT_RERUN,
	  S - 20 + H, S - 20, NULL },

	/* Dependencies: success ever (reboot codes included) lets it go; a failed or
	 * interrupted latest run says so; never run waits. */
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NEVER, 0, NOW1, SCHED_WAIT_DEPENDENCY, 0, S + D,
	  "waiting for dependency \"LAB00009\" to succeed first" },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_FAILED, 0, NOW1, SCHED_DEPENDENCY_FAILED, 0, S + D,
	  "its latest run failed" },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_INTERRUPTED, 0, NOW1, SCHED_DEPENDENCY_FAILED, 0,
	  S + D, "was interrupted" },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_OK, 0, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_REBOOT, 0, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_OK_ONCE, 0, NOW1, SCHED_DUE, 0, S + D, NULL },
	{ __LINE__, DAILY, N, RAN(OK, PREV), DEP_OK, 0, NOW1, SCHED_WILL_NOT_RERUN, 0, ANY, NULL },
	{ __LINE__, DAILY, A, NEVER_RAN, DEP_NEVER, 0, E, SCHED_EXPIRED, 0, 0, NULL },
};

static void check_rows(const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct row *w = &rows[i];
		struct advert a = make_advert(w->sched, w->rerun, w->dep);
		struct schedule_decision d = schedule_decide(
			&a, &w->own, w->dep == DEP_NONE ? NULL : &deps[w->dep], w->splay, w->now);
		bool ok = d.verdict == w->want && d.when == w->want_when &&
			  (w->want_occ == ANY || d.occurrence == w->want_occ) &&
			  (!w->want_reason || strstr(d.reason, w->want_reason)) && d.reason[0];
		if (!ok)
			fprintf(stderr,
				"\nline %d: %s when %jd occ %jd \"%s\"; want %s when %jd occ %jd "
				"\"%s\"\n",
				w->line, schedule_verdict_name(d.verdict), (intmax_t)d.when,
				(intmax_t)d.occurrence, d.reason, schedule_verdict_name(w->want),
				(intmax_t)w->want_when, (intmax_t)w->want_occ,
				w->want_reason ? w->want_reason : "");
		CU_ASSERT(ok);
		/* Pure: the same question, the same answer. */
		struct schedule_decision again = schedule_decide(
			&a, &w->own, w->dep == DEP_NONE ? NULL : &deps[w->dep], w->splay, w->now);
		CU_ASSERT_EQUAL(memcmp(&d, &again, sizeof(d)), 0);
		/* Enabled off wins over everything. */
		a.enabled = false;
		d = schedule_decide(&a, &w->own, NULL, w->splay, w->now);
		CU_ASSERT_EQUAL(d.verdict, SCHED_DISABLED);
	}
}

static void test_matrix(void)
{
	check_rows(matrix, sizeof(matrix) / sizeof(matrix[0]));
}

static void test_other(void)
{
	check_rows(other, sizeof(other) / sizeof(other[0]));
}

/* Disabled wins over everything, running and expired included. */
static void test_disabled(void)
{
	struct advert a = make_advert(DAILY, ADV_RERUN_ALWAYS, DEP_FAILED);
	a.enabled = false;
	struct schedule_history own = { .running = true, .ever_started = true, .last_start = S };
	struct schedule_decision d = schedule_decide(&a, &own, &deps[DEP_FAILED], SPLAY, E + D);
	CU_ASSERT_EQUAL(d.verdict, SCHED_DISABLED);
	CU_ASSERT_EQUAL(d.when, 0);
	CU_ASSERT_EQUAL(d.occurrence, 0);
	CU_ASSERT_STRING_EQUAL(d.reason, "disabled: enabled = false");
}

static void test_names(void)
{
	static const char *const verdicts[] = {
		"due",     "wait",     "wait-dependency", "dependency-failed", "will-not-rerun",
		"expired", "disabled", "running",
	};
	for (int v = SCHED_DUE; v <= SCHED_RUNNING; v++)
		CU_ASSERT_STRING_EQUAL(schedule_verdict_name((enum schedule_verdict)v),
				       verdicts[v]);
	CU_ASSERT_STRING_EQUAL(schedule_verdict_name((enum schedule_verdict)99), "?");
	CU_ASSERT_STRING_EQUAL(run_result_name(RUN_NONE), "none");
	CU_ASSERT_STRING_EQUAL(run_result_name(RUN_SUCCEEDED), "succeeded");
	CU_ASSERT_STRING_EQUAL(run_result_name(RUN_SUCCEEDED_REBOOT), "succeeded-reboot");
	CU_ASSERT_STRING_EQUAL(run_result_name(RUN_FAILED), "failed");
	CU_ASSERT_STRING_EQUAL(run_result_name(RUN_INTERRUPTED), "interrupted");
	CU_ASSERT_STRING_EQUAL(run_result_name((enum run_result) - 1), "?");
}

static time_t at(const char *s)
{
	time_t t = 0;
	if (rfc3339_parse(s, &t) < 0) {
		fprintf(stderr, "bad time %s\n", s);
		abort();
	}
	return t;
}

/* The same instants written with different offsets decide the same: schedules are UTC,
 * and no daylight saving time can shift them. */
static void test_offsets(void)
{
	static const char *const starts[] = { "2026-03-29T01:30:00Z", "2026-03-29T02:30:00+01:00",
					      "2026-03-29T03:30:00+02:00",
					      "2026-03-28T20:30:00-05:00" };
	static const char *const nows[] = { "2026-03-29T01:29:59Z",      "2026-03-29T01:30:00Z",
					    "2026-03-29T03:30:05+02:00", "2026-03-30T01:30:16Z",
					    "2026-03-30T01:30:17Z",      "2026-10-25T01:30:17Z",
					    "2026-10-25T02:30:17+01:00" };
	for (size_t n = 0; n < sizeof(nows) / sizeof(nows[0]); n++) {
		struct schedule_decision first = { 0 };
		for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
			struct advert a = { .id = "DST",
					    .enabled = true,
					    .rerun = ADV_RERUN_ALWAYS };
			a.schedule.has_start = true;
			a.schedule.start = at(starts[s]);
			a.schedule.recur = 86400;
			struct schedule_history own = { .ever_started = true,
							.last_result = RUN_SUCCEEDED };
			own.last_start = at("2026-03-29T01:31:00+00:00");
			struct schedule_decision d =
				schedule_decide(&a, &own, NULL, 17, at(nows[n]));
			if (s == 0)
				first = d;
			else
				CU_ASSERT_EQUAL(memcmp(&first, &d, sizeof(d)), 0);
		}
		/* Days are exactly 86400 s apart across both DST changes in Europe. */
		if (first.occurrence)
			CU_ASSERT_EQUAL((first.occurrence - at("2026-03-29T01:30:00Z")) % 86400, 0);
	}
	/* Across the October change: the occurrence stays at 01:30 UTC. */
	struct advert a = { .id = "DST", .enabled = true, .rerun = ADV_RERUN_ALWAYS };
	a.schedule.has_start = true;
	a.schedule.start = at("2026-03-29T03:30:00+02:00");
	a.schedule.recur = 86400;
	struct schedule_history own = NEVER_RAN;
	struct schedule_decision d = schedule_decide(&a, &own, NULL, 0, at("2026-10-26T12:00:00Z"));
	CU_ASSERT_EQUAL(d.verdict, SCHED_DUE);
	CU_ASSERT_EQUAL(d.occurrence, at("2026-10-26T01:30:00Z"));
	CU_ASSERT_EQUAL(d.occurrence, at("2026-10-26T02:30:00+01:00"));
}

/* A daemon loop on an injected clock: ten days of a daily program, the machine off for
 * days 3 to 5; on wakeup it runs once for the three missed days. */
static void test_simulated_days(void)
{
	struct advert a = { .id = "SIM", .enabled = true, .rerun = ADV_RERUN_ALWAYS };
	a.schedule = schedules[DAILY];
	struct schedule_history own = NEVER_RAN;
	time_t now = S - H, off_from = S + 3 * D - H, off_until = S + 5 * D + 2 * H;
	time_t runs[16];
	size_t n = 0;
	for (int step = 0; step < 100 && now < S + 10 * D; step++) {
		struct schedule_decision d = schedule_decide(&a, &own, NULL, SPLAY, now);
		if (d.verdict == SCHED_DUE) {
			CU_ASSERT(n < 16);
			if (n < 16)
				runs[n++] = now;
			own.ever_started = own.ever_succeeded = true;
			own.last_result = RUN_SUCCEEDED;
			own.last_start = now;
			own.last_end = now + 60;
			now += 60;
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(d.verdict, SCHED_WAIT);
		CU_ASSERT(d.when > now);
		now = d.when;
		if (now >= off_from && now < off_until)
			now = off_until; /* switched off: the timer fires at power-on */
	}
	/* Days 0, 1, 2, then once at power-on (day 5), then 6..9. */
	CU_ASSERT_EQUAL(n, 8);
	static const time_t want[] = { S + SPLAY,         S + D + SPLAY,     S + 2 * D + SPLAY,
				       S + 5 * D + 2 * H, S + 6 * D + SPLAY, S + 7 * D + SPLAY,
				       S + 8 * D + SPLAY, S + 9 * D + SPLAY };
	for (size_t i = 0; i < n && i < 8; i++)
		CU_ASSERT_EQUAL(runs[i], want[i]);
}

/* An ASAP program with a first_seen anchor: the WAIT it gives is reached, then it is due;
 * the target does not move while it waits. */
static void test_asap_anchor_converges(void)
{
	struct advert a = { .id = "ASAP", .enabled = true, .rerun = ADV_RERUN_NEVER };
	struct schedule_history own = { .first_seen = S };
	time_t now = S;
	struct schedule_decision d = schedule_decide(&a, &own, NULL, 45, now);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WAIT);
	CU_ASSERT_EQUAL(d.when, S + 45);
	d = schedule_decide(&a, &own, NULL, 45, S + 20);
	CU_ASSERT_EQUAL(d.when, S + 45);
	d = schedule_decide(&a, &own, NULL, 45, S + 45);
	CU_ASSERT_EQUAL(d.verdict, SCHED_DUE);
	CU_ASSERT_EQUAL(d.occurrence, S);
}

/* Recurring without a start, with splay: the runs keep the interval exactly, anchored
 * where the host first received it (05:29:24, 05:31:04, 05:32:44 was the drift: recur 60
 * and splay 40 ran every 100 s). A late run does not move the ones after it. */
static void test_recurring_without_start_does_not_drift(void)
{
	struct advert a = { .id = "R", .enabled = true, .rerun = ADV_RERUN_ALWAYS };
	a.schedule = (struct advert_schedule){ .recur = 60 };
	struct schedule_history own = { .first_seen = S };
	time_t now = S, runs[8];
	size_t n = 0;
	for (int step = 0; step < 64 && n < 8; step++) {
		struct schedule_decision d = schedule_decide(&a, &own, NULL, 40, now);
		if (d.verdict == SCHED_DUE) {
			runs[n++] = now;
			own.ever_started = own.ever_succeeded = true;
			own.last_result = RUN_SUCCEEDED;
			own.last_start = now;
			own.last_end = now + 1;
			now += 1;
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(d.verdict, SCHED_WAIT);
		CU_ASSERT_FATAL(d.when > now);
		/* The fourth run starts 15 s late (a queue, a slow DC). */
		now = d.when + (n == 3 && d.when == S + 220 ? 15 : 0);
	}
	CU_ASSERT_EQUAL_FATAL(n, 8);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(runs[i], S + 40 + 60 * (time_t)i + (i == 3 ? 15 : 0));
}

/* Without a known first instant (or one later than the last run: its record was lost),
 * the interval counts from the last run, as before. */
static void test_recurring_without_anchor_counts_from_last_run(void)
{
	struct advert a = { .id = "R", .enabled = true, .rerun = ADV_RERUN_ALWAYS };
	a.schedule = (struct advert_schedule){ .recur = 60 };
	struct schedule_history own = { .ever_started = true,
					.ever_succeeded = true,
					.last_result = RUN_SUCCEEDED,
					.last_start = S,
					.first_seen = S + 500 };
	struct schedule_decision d = schedule_decide(&a, &own, NULL, 40, S + 10);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WAIT);
	CU_ASSERT_EQUAL(d.when, S + 100);
	own.first_seen = 0;
	d = schedule_decide(&a, &own, NULL, 40, S + 10);
	CU_ASSERT_EQUAL(d.when, S + 100);
}

/* The retry of a failed program that does not recur backs off: it waits as long as the
 * advertisement had been on this host at the failure, from 5 minutes to a day, and not
 * past expiry. */
static void test_if_failed_retry_backs_off(void)
{
	struct advert a = { .id = "F", .enabled = true, .rerun = ADV_RERUN_IF_FAILED };
	struct schedule_history own = { .first_seen = S };
	time_t now = S, runs[12];
	size_t n = 0;
	for (int step = 0; step < 64 && n < 12; step++) {
		struct schedule_decision d = schedule_decide(&a, &own, NULL, 0, now);
		if (d.verdict == SCHED_DUE) {
			runs[n++] = now;
			own.ever_started = true;
			own.last_result = RUN_FAILED;
			own.last_start = now;
			own.last_end = now + 60;
			now += 60;
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(d.verdict, SCHED_WAIT);
		CU_ASSERT_FATAL(d.when > now);
		now = d.when;
	}
	CU_ASSERT_EQUAL_FATAL(n, 12);
	CU_ASSERT_EQUAL(runs[0], S);
	CU_ASSERT_EQUAL(runs[1], S + 60 + 300); /* the floor */
	for (size_t i = 2; i < n; i++) {
		time_t wait = runs[i] - (runs[i - 1] + 60);
		time_t age = runs[i - 1] + 60 - S;
		CU_ASSERT_EQUAL(wait, age < D ? age : D);
	}
	CU_ASSERT_EQUAL(runs[11] - runs[10] - 60, D); /* the ceiling */

	/* Succeeded at last: no more. */
	own.last_result = RUN_SUCCEEDED;
	own.ever_succeeded = true;
	struct schedule_decision d = schedule_decide(&a, &own, NULL, 0, now + 10 * D);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WILL_NOT_RERUN);
	/* A retry that would fall after expiry is none. */
	own.last_result = RUN_FAILED;
	a.schedule = (struct advert_schedule){ .has_expires = true, .expires = own.last_end + 100 };
	d = schedule_decide(&a, &own, NULL, 0, own.last_end + 50);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WILL_NOT_RERUN);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.reason, "falls after expiry"));
}

/* A dependency that succeeded with "restart pending": its dependents wait for the
 * restart, unless they say they need not. */
static void test_dependency_restart_pending(void)
{
	struct advert a = { .id = "AFTER", .enabled = true, .rerun = ADV_RERUN_NEVER };
	a.program.depends_on = (char *)"RBT";
	a.program.wait_for_restart = true;
	struct schedule_history own = { 0 };
	struct schedule_history dep = { .ever_started = true,
					.ever_succeeded = true,
					.last_result = RUN_SUCCEEDED_REBOOT,
					.last_start = S - 60,
					.restart_pending = true };
	struct schedule_decision d = schedule_decide(&a, &own, &dep, 0, S);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WAIT_DEPENDENCY);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.reason, "needs a restart first"));
	a.program.wait_for_restart = false;
	d = schedule_decide(&a, &own, &dep, 0, S);
	CU_ASSERT_EQUAL(d.verdict, SCHED_DUE);
	/* After the restart (a new boot), it runs. */
	a.program.wait_for_restart = true;
	dep.restart_pending = false;
	d = schedule_decide(&a, &own, &dep, 0, S);
	CU_ASSERT_EQUAL(d.verdict, SCHED_DUE);
}

static void test_extremes(void)
{
	struct advert a = { .id = "X", .enabled = true, .rerun = ADV_RERUN_ALWAYS };
	struct schedule_history own = NEVER_RAN;
	struct schedule_decision d;

	/* A start near the end of time: start + splay and the next occurrence saturate. */
	a.schedule = (struct advert_schedule){ .has_start = true,
					       .start = UTIL_TIME_T_MAX - 10,
					       .recur = 366 * 86400 };
	d = schedule_decide(&a, &own, NULL, 4000000000u, UTIL_TIME_T_MAX - 20);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WAIT);
	CU_ASSERT_EQUAL(d.when, UTIL_TIME_T_MAX);
	d = schedule_decide(&a, &own, NULL, 0, UTIL_TIME_T_MAX);
	CU_ASSERT_EQUAL(d.verdict, SCHED_DUE);
	CU_ASSERT_EQUAL(d.occurrence, UTIL_TIME_T_MAX - 10);
	own = (struct schedule_history){ .ever_started = true,
					 .ever_succeeded = true,
					 .last_result = RUN_SUCCEEDED,
					 .last_start = UTIL_TIME_T_MAX - 5,
					 .last_end = UTIL_TIME_T_MAX };
	d = schedule_decide(&a, &own, NULL, 0, UTIL_TIME_T_MAX);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WILL_NOT_RERUN); /* the next one would overflow */
	CU_ASSERT_EQUAL(d.when, 0);

	/* The most negative start with the largest recurrence and now: no overflow, and the
	 * occurrence is the latest one at or before now. */
	static const time_t origins[] = { INT64_MIN, INT64_MIN + 1, -1, 0, 1 };
	static const int recurs[] = { 60, 86400, 366 * 86400, INT_MAX };
	static const time_t nows[] = { UTIL_TIME_T_MAX, UTIL_TIME_T_MAX - 1, 1795341600, 0 };
	for (size_t o = 0; o < 5; o++) {
		for (size_t r = 0; r < 4; r++) {
			for (size_t n = 0; n < 4; n++) {
				if (nows[n] < origins[o])
					continue;
				a.schedule = (struct advert_schedule){ .has_start = true,
								       .start = origins[o],
								       .recur = recurs[r] };
				own = (struct schedule_history)NEVER_RAN;
				d = schedule_decide(&a, &own, NULL, 0, nows[n]);
				CU_ASSERT_EQUAL(d.verdict, SCHED_DUE);
				CU_ASSERT(d.occurrence <= nows[n]);
				CU_ASSERT(d.occurrence >= origins[o]);
				CU_ASSERT((uint64_t)nows[n] - (uint64_t)d.occurrence <
					  (uint64_t)recurs[r]);
				CU_ASSERT(((uint64_t)d.occurrence - (uint64_t)origins[o]) %
						  (uint64_t)recurs[r] ==
					  0);
			}
		}
	}

	/* No own history at all is an empty one. */
	a.schedule = schedules[ONCE];
	d = schedule_decide(&a, NULL, NULL, 0, S);
	CU_ASSERT_EQUAL(d.verdict, SCHED_DUE);
	/* A recurrence that is not positive is "once". */
	a.schedule.recur = -5;
	own = (struct schedule_history)RAN(OK, S + 1);
	d = schedule_decide(&a, &own, NULL, 0, S + 10 * D);
	CU_ASSERT_EQUAL(d.verdict, SCHED_WILL_NOT_RERUN);
	CU_ASSERT_EQUAL(d.when, 0);
}

/* A ← B ← C through a real history: each waits for the one before it to succeed. */
static void test_dependency_chain(void)
{
	char *dir = tu_mkdtemp();
	struct history *h = NULL;
	CU_ASSERT_EQUAL_FATAL(history_open(dir, &h), 0);

	struct advert a = { .id = "A", .enabled = true, .rerun = ADV_RERUN_IF_FAILED };
	struct advert b = { .id = "B", .enabled = true, .rerun = ADV_RERUN_NEVER };
	struct advert c = { .id = "C", .enabled = true, .rerun = ADV_RERUN_NEVER };
	a.schedule = b.schedule = c.schedule = schedules[DAILY];
	b.program.depends_on = "A";
	c.program.depends_on = "B";
	time_t now = S + H;

#define DECIDE(x)                                                                                  \
	schedule_decide(&x, history_summary(h, x.id),                                              \
			x.program.depends_on ? history_summary(h, x.program.depends_on) : NULL, 0, \
			now)
	CU_ASSERT_EQUAL(DECIDE(a).verdict, SCHED_DUE);
	CU_ASSERT_EQUAL(DECIDE(b).verdict, SCHED_WAIT_DEPENDENCY);
	CU_ASSERT_EQUAL(DECIDE(c).verdict, SCHED_WAIT_DEPENDENCY);

	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL_FATAL(history_begin(h, "A", "swinstall", NULL, now, run), 0);
	CU_ASSERT_EQUAL(DECIDE(a).verdict, SCHED_RUNNING);
	CU_ASSERT_EQUAL(DECIDE(b).verdict, SCHED_WAIT_DEPENDENCY);
	CU_ASSERT_EQUAL(history_end(h, run, RUN_FAILED, 1, 0, 1000, NULL, "exit 1", now + 1), 0);
	CU_ASSERT_EQUAL(DECIDE(a).verdict, SCHED_WAIT); /* day 1 will retry */
	CU_ASSERT_EQUAL(DECIDE(b).verdict, SCHED_DEPENDENCY_FAILED);
	CU_ASSERT_EQUAL(DECIDE(c).verdict, SCHED_WAIT_DEPENDENCY);

	now = S + D + H;
	CU_ASSERT_EQUAL(DECIDE(a).verdict, SCHED_DUE);
	CU_ASSERT_EQUAL(history_begin(h, "A", "swinstall", NULL, now, run), 0);
	CU_ASSERT_EQUAL(
		history_end(h, run, RUN_SUCCEEDED_REBOOT, 3010, 0, 1000, NULL, NULL, now + 1), 0);
	CU_ASSERT_EQUAL(DECIDE(a).verdict, SCHED_WILL_NOT_RERUN);
	CU_ASSERT_EQUAL(DECIDE(b).verdict, SCHED_DUE);
	CU_ASSERT_EQUAL(DECIDE(c).verdict, SCHED_WAIT_DEPENDENCY);

	CU_ASSERT_EQUAL(history_begin(h, "B", "swinstall", NULL, now + 2, run), 0);
	CU_ASSERT_EQUAL(history_end(h, run, RUN_SUCCEEDED, 0, 0, 1000, NULL, NULL, now + 3), 0);
	CU_ASSERT_EQUAL(DECIDE(b).verdict, SCHED_WILL_NOT_RERUN);
	CU_ASSERT_EQUAL(DECIDE(c).verdict, SCHED_DUE);
	/* A fails later: B and C are not affected, success was for good. */
	now = S + 2 * D + H;
	CU_ASSERT_EQUAL(DECIDE(a).verdict, SCHED_WILL_NOT_RERUN); /* if-failed, it succeeded */
	CU_ASSERT_EQUAL(DECIDE(c).verdict, SCHED_DUE);
#undef DECIDE
	history_close(h);
	tu_rmtree(dir);
	free(dir);
}

static void test_splay(void)
{
	CU_ASSERT_EQUAL(schedule_splay("ws1.example.test", "LAB00001", 0), 0);
	CU_ASSERT_EQUAL(schedule_splay("ws1.example.test", "LAB00001", 1), 0);
	/* Pinned: a new hash would reshuffle every host's start times across a fleet. */
	CU_ASSERT_EQUAL(schedule_splay("ws1.example.test", "LAB00001", 60),
			schedule_splay("ws1.example.test", "LAB00001", 60));
	uint32_t golden = schedule_splay("ws1.example.test", "LAB00001", UINT32_MAX);
	CU_ASSERT_EQUAL(golden, GOLDEN_SPLAY);
	CU_ASSERT_EQUAL(schedule_splay("ws1.example.test", "LAB00001", 60), 48);
	CU_ASSERT_EQUAL(schedule_splay("ws2.example.test", "LAB00001", 3600), 947);
	/* The NUL between host and id: ("ab", "c") is not ("a", "bc"). */
	CU_ASSERT_NOT_EQUAL(schedule_splay("ab", "c", UINT32_MAX),
			    schedule_splay("a", "bc", UINT32_MAX));
	CU_ASSERT_EQUAL(schedule_splay(NULL, NULL, 60), schedule_splay("", "", 60));

	/* 1000 ids on one host, and one id on 1000 hosts, over 60 s: in range, stable,
	 * spread (every value used, no value with more than three times its share). */
	for (int mode = 0; mode < 2; mode++) {
		unsigned counts[60] = { 0 };
		for (int i = 0; i < 1000; i++) {
			char name[32];
			snprintf(name, sizeof(name), mode ? "ws%04d.example.test" : "LAB%05d", i);
			const char *host = mode ? name : "ws1.example.test";
			const char *id = mode ? "LAB00001" : name;
			uint32_t v = schedule_splay(host, id, 60);
			CU_ASSERT(v < 60);
			CU_ASSERT_EQUAL(v, schedule_splay(host, id, 60));
			counts[v < 60 ? v : 0]++;
		}
		unsigned distinct = 0, most = 0;
		for (int i = 0; i < 60; i++) {
			distinct += counts[i] > 0;
			most = counts[i] > most ? counts[i] : most;
		}
		CU_ASSERT_EQUAL(distinct, 60);
		CU_ASSERT(most <= 50);
	}
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "names", test_names },
		{ "disabled", test_disabled },
		{ "rerun policy x history x occurrence", test_matrix },
		{ "every other verdict and boundary", test_other },
		{ "offsets denote the same instant", test_offsets },
		{ "simulated days with the machine off", test_simulated_days },
		{ "asap anchor converges", test_asap_anchor_converges },
		{ "recurring without start does not drift",
		  test_recurring_without_start_does_not_drift },
		{ "recurring without anchor counts from last run",
		  test_recurring_without_anchor_counts_from_last_run },
		{ "if-failed retry backs off", test_if_failed_retry_backs_off },
		{ "a dependency's pending restart", test_dependency_restart_pending },
		{ "extreme times", test_extremes },
		{ "dependency chain through a history", test_dependency_chain },
		{ "splay: stable and spread", test_splay },
		{ 0 },
	};
	return tu_run("schedule", tests);
}

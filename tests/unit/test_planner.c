/* SPDX-License-Identifier: MIT */
/* The run planner, with the real scheduler behind its decide callback and the clock
 * passed in: concurrency and order, forced runs, the decision cache and its
 * invalidation, retries, reports once per change, recurrence, expiry, dependencies,
 * splay. No daemon, no sleep. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "advert/planner.h"
#include "testutil.h"

#define NOW  ((time_t)1795341600) /* 2026-11-22T10:00:00Z */
#define H    ((time_t)3600)
#define MAXA 8

/* A small world: advertisements, what the history says of each, what was reported. */
struct world {
	struct advert ads[MAXA];
	char *deps[MAXA];
	struct schedule_history hist[MAXA];
	struct plan_cache cache[MAXA];
	struct plan_item items[MAXA];
	uint32_t splay[MAXA];
	size_t n;
	unsigned decisions[MAXA];
	unsigned reports[MAXA];
	enum schedule_verdict last_report[MAXA];
};

static size_t index_of(const struct world *w, const char *id)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->ads[i].id, id) == 0)
			return i;
	return (size_t)-1;
}

static struct schedule_decision decide(void *data, const struct advert *a, time_t now)
{
	struct world *w = data;
	size_t i = index_of(w, a->id),
	       d = a->program.depends_on ? index_of(w, a->program.depends_on) : (size_t)-1;
	w->decisions[i]++;
	return schedule_decide(a, &w->hist[i], d != (size_t)-1 ? &w->hist[d] : NULL, w->splay[i],
			       now);
}

static void report(void *data, const struct advert *a, const struct schedule_decision *dec)
{
	struct world *w = data;
	size_t i = index_of(w, a->id);
	w->reports[i]++;
	w->last_report[i] = dec->verdict;
}

static struct planner_io io_of(struct world *w)
{
	return (struct planner_io){ .decide = decide, .report = report, .data = w };
}

/* Adds an advertisement: rerun policy, start (0: as soon as possible), recur. */
static size_t add(struct world *w, const char *id, enum advert_rerun rerun, time_t start, int recur)
{
	size_t i = w->n++;
	w->ads[i] = (struct advert){ .id = (char *)id, .rerun = rerun, .enabled = true };
	w->ads[i].schedule =
		(struct advert_schedule){ .has_start = start != 0, .start = start, .recur = recur };
	w->hist[i] = (struct schedule_history){ .first_seen = NOW - 10 * H };
	w->items[i] = (struct plan_item){ .a = &w->ads[i], .cache = &w->cache[i] };
	return i;
}

struct pass {
	size_t n;
	size_t start[MAXA];
	time_t next;
	bool any_due;
};

static struct pass run_pass(struct world *w, size_t slots, time_t now)
{
	struct pass p = { 0 };
	const struct planner_io io = io_of(w);
	p.n = planner_pass(w->items, w->n, &io, slots, now, 300, p.start, &p.next, &p.any_due);
	return p;
}

/* What the daemon does when a run it started ends: the history changes. */
static void ran(struct world *w, size_t i, enum run_result res, time_t at)
{
	w->hist[i].ever_started = true;
	w->hist[i].ever_succeeded |= res == RUN_SUCCEEDED;
	w->hist[i].last_result = res;
	w->hist[i].last_start = at;
	w->hist[i].last_end = at + 1;
	planner_invalidate(&w->cache[i]);
}

static void test_concurrency_and_order(void)
{
	struct world w = { 0 };
	add(&w, "C", ADV_RERUN_NEVER, NOW - 1 * H, 0);
	add(&w, "A", ADV_RERUN_NEVER, NOW - 3 * H, 0);
	add(&w, "B", ADV_RERUN_NEVER, NOW - 3 * H, 0); /* same time as A: by id */
	add(&w, "D", ADV_RERUN_NEVER, NOW - 2 * H, 0);
	add(&w, "E", ADV_RERUN_NEVER, NOW + 1 * H, 0); /* not yet */
	struct pass p = run_pass(&w, 2, NOW);
	CU_ASSERT_EQUAL(p.n, 2);
	CU_ASSERT_STRING_EQUAL(w.ads[p.start[0]].id, "A");
	CU_ASSERT_STRING_EQUAL(w.ads[p.start[1]].id, "B");
	CU_ASSERT_TRUE(p.any_due);
	CU_ASSERT_EQUAL(p.next, NOW + 300); /* E starts in an hour: the poll comes first */

	/* No slot free: nothing starts, but it was due; the due ones keep their place. */
	p = run_pass(&w, 0, NOW + 1);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_TRUE(p.any_due);
	p = run_pass(&w, 8, NOW + 2);
	/* A and B were started (their history here did not change, so they are still due),
	 * C and D wait in due order. */
	CU_ASSERT_EQUAL(p.n, 4);
	CU_ASSERT_STRING_EQUAL(w.ads[p.start[0]].id, "A");
	CU_ASSERT_STRING_EQUAL(w.ads[p.start[2]].id, "D");
	CU_ASSERT_STRING_EQUAL(w.ads[p.start[3]].id, "C");

	/* Nothing due: next is the poll at the latest. */
	struct world q = { 0 };
	add(&q, "LATE", ADV_RERUN_NEVER, NOW + 5 * H, 0);
	p = run_pass(&q, 2, NOW);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_FALSE(p.any_due);
	CU_ASSERT_EQUAL(p.next, NOW + 300);
}

static void test_forced(void)
{
	struct world w = { 0 };
	size_t due = add(&w, "DUE", ADV_RERUN_NEVER, NOW - 1 * H, 0);
	size_t later = add(&w, "LATER", ADV_RERUN_NEVER, NOW + 5 * H, 0);
	size_t off = add(&w, "OFF", ADV_RERUN_NEVER, 0, 0);
	w.ads[off].enabled = false;
	w.items[later].forced = w.items[off].forced = true;
	struct pass p = run_pass(&w, 1, NOW);
	CU_ASSERT_EQUAL(p.n, 1);
	CU_ASSERT_EQUAL(p.start[0], later); /* forced: first in line, whatever its schedule */
	p = run_pass(&w, 8, NOW);
	CU_ASSERT_EQUAL(p.n, 2);
	CU_ASSERT_EQUAL(p.start[0], later);
	CU_ASSERT_EQUAL(p.start[1], due);
	/* A forced run of a disabled or running advertisement does not start. */
	for (size_t i = 0; i < p.n; i++)
		CU_ASSERT_NOT_EQUAL(p.start[i], off);
	w.hist[later].running = true;
	w.items[later].forced = true;
	planner_invalidate(&w.cache[later]);
	p = run_pass(&w, 8, NOW);
	for (size_t i = 0; i < p.n; i++)
		CU_ASSERT_NOT_EQUAL(p.start[i], later);
}

/* A decision stands until its recheck time; invalidation and a new catalog (every cache
 * cleared) take it again; a retry waits unless forced. */
static void test_cache_and_invalidation(void)
{
	struct world w = { 0 };
	size_t wait = add(&w, "WAIT", ADV_RERUN_NEVER, NOW + 2 * H, 0);
	size_t done = add(&w, "DONE", ADV_RERUN_NEVER, NOW - 2 * H, 0);
	ran(&w, done, RUN_SUCCEEDED, NOW - H);
	run_pass(&w, 2, NOW);
	CU_ASSERT_EQUAL(w.decisions[wait], 1);
	CU_ASSERT_EQUAL(w.decisions[done], 1);
	for (int k = 1; k <= 10; k++)
		run_pass(&w, 2, NOW + k);
	CU_ASSERT_EQUAL(w.decisions[wait], 1); /* until NOW + 2 h: no new decision */
	CU_ASSERT_EQUAL(w.decisions[done], 1); /* never again: never decided again */
	struct pass p = run_pass(&w, 2, NOW + 2 * H);
	CU_ASSERT_EQUAL(w.decisions[wait], 2);
	CU_ASSERT_EQUAL(p.n, 1);
	CU_ASSERT_EQUAL(p.start[0], wait);

	planner_invalidate(&w.cache[done]);
	run_pass(&w, 2, NOW + 2 * H + 1);
	CU_ASSERT_EQUAL(w.decisions[done], 2);

	/* A failed preparation: not before retry_at, unless forced. */
	struct world r = { 0 };
	size_t x = add(&r, "RETRY", ADV_RERUN_ALWAYS, 0, 0);
	r.cache[x].retry_at = NOW + 600;
	p = run_pass(&r, 2, NOW);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(r.decisions[x], 0);
	CU_ASSERT_EQUAL(p.next, NOW + 300); /* the poll comes first */
	r.cache[x].retry_at = NOW + 100;
	p = run_pass(&r, 2, NOW);
	CU_ASSERT_EQUAL(p.next, NOW + 100);
	r.items[x].forced = true;
	p = run_pass(&r, 2, NOW);
	CU_ASSERT_EQUAL(p.n, 1);
	r.items[x].forced = false;
	p = run_pass(&r, 2, NOW + 100);
	CU_ASSERT_EQUAL(p.n, 1);
}

/* A verdict is reported when it changes, not at every pass. */
static void test_reports_once(void)
{
	struct world w = { 0 };
	size_t once = add(&w, "ONCE", ADV_RERUN_NEVER, 0, 0);
	ran(&w, once, RUN_SUCCEEDED, NOW - H);
	for (int k = 0; k < 5; k++) {
		planner_invalidate(&w.cache[once]);
		run_pass(&w, 2, NOW + k);
	}
	CU_ASSERT_EQUAL(w.decisions[once], 5);
	CU_ASSERT_EQUAL(w.reports[once], 1);
	CU_ASSERT_EQUAL(w.last_report[once], SCHED_WILL_NOT_RERUN);
	/* Another verdict is reported, and the first again when it comes back. */
	w.ads[once].enabled = false;
	planner_invalidate(&w.cache[once]);
	run_pass(&w, 2, NOW + 10);
	CU_ASSERT_EQUAL(w.reports[once], 2);
	CU_ASSERT_EQUAL(w.last_report[once], SCHED_DISABLED);
	w.ads[once].enabled = true;
	planner_invalidate(&w.cache[once]);
	run_pass(&w, 2, NOW + 11);
	CU_ASSERT_EQUAL(w.reports[once], 3);
	CU_ASSERT_EQUAL(w.last_report[once], SCHED_WILL_NOT_RERUN);
	/* A start clears what was shown: after the run, the verdict is reported anew. */
	size_t again = add(&w, "AGAIN", ADV_RERUN_ALWAYS, 0, 0);
	struct pass p = run_pass(&w, 2, NOW + 12);
	CU_ASSERT_EQUAL(p.n, 1);
	CU_ASSERT_FALSE(w.cache[again].has_shown);
}

/* program.when: a due program waits while the condition is not met, is looked at again
 * a minute later, reported once however long it waits, and starts once it is met. */
static void test_logon_condition(void)
{
	struct world w = { 0 };
	size_t nu = add(&w, "NOUSER", ADV_RERUN_NEVER, 0, 0);
	size_t u = add(&w, "USER", ADV_RERUN_NEVER, 0, 0);
	w.ads[nu].program.when = ADV_WHEN_NO_USER;
	w.ads[u].program.when = ADV_WHEN_USER;
	for (size_t i = 0; i < 2; i++) {
		w.hist[i].sessions_known = true;
		w.hist[i].user_sessions = 1;
		w.hist[i].sessions_source = "utmp";
	}
	struct pass p = run_pass(&w, 2, NOW);
	CU_ASSERT_EQUAL_FATAL(p.n, 1);
	CU_ASSERT_EQUAL(p.start[0], u); /* a user is logged on */
	ran(&w, u, RUN_SUCCEEDED, NOW);
	CU_ASSERT_EQUAL(w.last_report[nu], SCHED_WAIT_LOGON);
	CU_ASSERT_EQUAL(p.next, NOW + 60);
	for (int k = 1; k <= 10; k++) /* ten more minutes of it */
		run_pass(&w, 2, NOW + 60 * k);
	CU_ASSERT_EQUAL(w.reports[nu], 1);
	CU_ASSERT(w.decisions[nu] >= 10);
	/* The user logs off: at the next look it starts. */
	w.hist[nu].user_sessions = 0;
	p = run_pass(&w, 2, NOW + 11 * 60);
	CU_ASSERT_EQUAL_FATAL(p.n, 1);
	CU_ASSERT_EQUAL(p.start[0], nu);
	/* Sessions that cannot be read hold it. */
	struct world v = { 0 };
	size_t x = add(&v, "X", ADV_RERUN_NEVER, 0, 0);
	v.ads[x].program.when = ADV_WHEN_NO_USER;
	p = run_pass(&v, 2, NOW);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(v.last_report[x], SCHED_WAIT_LOGON);
}

/* Recurrence: after a run, the next occurrence is the recheck time and the wake-up. */
static void test_recurrence(void)
{
	struct world w = { 0 };
	size_t daily = add(&w, "DAILY", ADV_RERUN_ALWAYS, NOW - 3 * 24 * H, 24 * (int)H);
	struct pass p = run_pass(&w, 2, NOW);
	CU_ASSERT_EQUAL(p.n, 1); /* three missed occurrences: one run */
	ran(&w, daily, RUN_SUCCEEDED, NOW);
	p = run_pass(&w, 2, NOW + 1);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(p.next, NOW + 1 + 300);
	CU_ASSERT_EQUAL(w.cache[daily].recheck_at, NOW + 24 * H);
	p = run_pass(&w, 2, NOW + 24 * H);
	CU_ASSERT_EQUAL(p.n, 1);
}

/* Expiry: a due advertisement is rechecked at its expiry, and then reported expired. */
static void test_expiry(void)
{
	struct world w = { 0 };
	size_t e = add(&w, "EXP", ADV_RERUN_ALWAYS, NOW - H, 0);
	w.ads[e].schedule.has_expires = true;
	w.ads[e].schedule.expires = NOW + H;
	struct pass p = run_pass(&w, 0, NOW); /* due, no slot */
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(w.cache[e].recheck_at, NOW + H);
	p = run_pass(&w, 2, NOW + H);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(w.last_report[e], SCHED_EXPIRED);
}

/* A dependency: waits, and once the dependency succeeds (which invalidates it), runs. */
static void test_dependency(void)
{
	struct world w = { 0 };
	size_t a = add(&w, "BASE", ADV_RERUN_NEVER, NOW + H, 0);
	size_t b = add(&w, "ADDON", ADV_RERUN_NEVER, 0, 0);
	w.ads[b].program.depends_on = (char *)"BASE";
	struct pass p = run_pass(&w, 2, NOW);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(w.last_report[b], SCHED_WAIT_DEPENDENCY);
	ran(&w, a, RUN_FAILED, NOW + H);
	planner_invalidate(&w.cache[b]);
	p = run_pass(&w, 2, NOW + H + 10);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(w.last_report[b], SCHED_DEPENDENCY_FAILED);
	ran(&w, a, RUN_SUCCEEDED, NOW + 2 * H);
	planner_invalidate(&w.cache[b]);
	p = run_pass(&w, 2, NOW + 2 * H + 10);
	CU_ASSERT_EQUAL(p.n, 1);
	CU_ASSERT_EQUAL(p.start[0], b);
}

/* Splay: the due time is the occurrence plus the host's offset; the wake-up says so. */
static void test_splay(void)
{
	struct world w = { 0 };
	size_t s = add(&w, "SPLAYED", ADV_RERUN_NEVER, NOW + H, 0);
	w.splay[s] = 17;
	struct pass p = run_pass(&w, 2, NOW);
	CU_ASSERT_EQUAL(p.next, NOW + 300);
	p = run_pass(&w, 2, NOW + H);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(p.next, NOW + H + 17);
	p = run_pass(&w, 2, NOW + H + 17);
	CU_ASSERT_EQUAL(p.n, 1);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "concurrency and order", test_concurrency_and_order },
		{ "forced runs", test_forced },
		{ "the decision cache, invalidation, retries", test_cache_and_invalidation },
		{ "a verdict is reported once per change", test_reports_once },
		{ "logon conditions", test_logon_condition },
		{ "recurrence", test_recurrence },
		{ "expiry", test_expiry },
		{ "dependencies", test_dependency },
		{ "splay", test_splay },
		{ 0 },
	};
	return tu_run("planner", tests);
}

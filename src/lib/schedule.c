/* SPDX-License-Identifier: MIT */
/* Scheduling: the latest occurrence at or before now, the rerun policy for it, expiry,
 * dependencies and the host's splay — pure functions of their arguments, clock included. */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "advert/rfc3339.h"
#include "advert/schedule.h"
#include "advert/util.h"

static const char *const verdict_names[] = {
	[SCHED_DUE] = "due",
	[SCHED_WAIT] = "wait",
	[SCHED_WAIT_DEPENDENCY] = "wait-dependency",
	[SCHED_DEPENDENCY_FAILED] = "dependency-failed",
	[SCHED_WILL_NOT_RERUN] = "will-not-rerun",
	[SCHED_EXPIRED] = "expired",
	[SCHED_DISABLED] = "disabled",
	[SCHED_RUNNING] = "running",
	[SCHED_HISTORY_DAMAGED] = "history-damaged",
	[SCHED_WAIT_LOGON] = "wait-logon",
};

static const char *const result_names[] = {
	[RUN_NONE] = "none",
	[RUN_SUCCEEDED] = "succeeded",
	[RUN_SUCCEEDED_REBOOT] = "succeeded-reboot",
	[RUN_FAILED] = "failed",
	[RUN_INTERRUPTED] = "interrupted",
	[RUN_NOT_STARTED] = "not-started",
};

const char *schedule_verdict_name(enum schedule_verdict v)
{
	return (unsigned)v < sizeof(verdict_names) / sizeof(verdict_names[0]) ? verdict_names[v]
									      : "?";
}

const char *run_result_name(enum run_result r)
{
	return (unsigned)r < sizeof(result_names) / sizeof(result_names[0]) ? result_names[r] : "?";
}

/* FNV-1a 64 over host, a NUL, and the id — the NUL keeps ("ab", "c") apart from ("a",
 * "bc") — then a murmur3 finaliser, because FNV's low bits alone spread a modulus of a
 * few dozen poorly across ids that differ only in their last characters. */
uint32_t schedule_splay(const char *host, const char *advert_id, uint32_t splay)
{
	if (splay == 0)
		return 0;
	host = host ? host : "";
	advert_id = advert_id ? advert_id : "";
	uint64_t h = util_fnv1a(UTIL_FNV_OFFSET, host, strlen(host) + 1);
	h = util_fnv1a(h, advert_id, strlen(advert_id));
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32_t)(h % splay);
}

/* t + d, saturating: a far-future start plus splay must not wrap into the past. */
static time_t add_sat(time_t t, uintmax_t d)
{
	if (t >= 0 && d > (uintmax_t)(UTIL_TIME_T_MAX - t))
		return UTIL_TIME_T_MAX;
	return (time_t)((uintmax_t)t + d);
}

/* Where now stands among the occurrences. */
struct position {
	bool have;      /* some occurrence is at or before now */
	time_t at;      /* the latest such occurrence, or the first one when !have */
	bool splayed;   /* at + splay is its due time; false: an ASAP first run, no anchor */
	bool have_next; /* an occurrence after `at` exists */
	time_t next;
};

/* Occurrences start + k*recur for k >= 0; only the latest at or before now matters, so a
 * machine that was off for a week runs a missed daily program once, not seven times. */
static void locate_recurring(time_t origin, int recur, time_t now, struct position *p)
{
	p->splayed = true;
	if (now < origin) {
		p->have = false;
		p->at = origin;
		return;
	}
	p->have = true;
	if (recur <= 0) {
		p->at = origin;
		return;
	}
	/* As unsigned, the distance cannot overflow even for the most negative origin. */
	uintmax_t diff = (uintmax_t)now - (uintmax_t)origin;
	uintmax_t k = diff / (uintmax_t)recur;
	p->at = (time_t)((uintmax_t)origin + k * (uintmax_t)recur);
	if (p->at <= UTIL_TIME_T_MAX - recur) {
		p->have_next = true;
		p->next = p->at + recur;
	}
}

static void locate(const struct advert *a, const struct schedule_history *own, time_t now,
		   struct position *p)
{
	*p = (struct position){ 0 };
	if (a->schedule.has_start) {
		locate_recurring(a->schedule.start, a->schedule.recur, now, p);
		return;
	}
	if (own->last_start == 0 && !own->ever_started) {
		/* As soon as possible: the first occurrence is now, unless the daemon told us
		 * when it first saw the advertisement — a fixed instant the splay can count
		 * from; "now + splay" would be a target that moves with every look. */
		p->have = true;
		p->splayed = own->first_seen > 0 && own->first_seen <= now;
		p->at = p->splayed ? own->first_seen : now;
		return;
	}
	if (own->last_start == 0) {
		/* Started, but when is unknown: there is nothing to count an interval from,
		 * so this occurrence is the one that ran. */
		p->have = true;
		p->at = 0;
		return;
	}
	/* Recurring without a start: the occurrences are anchored where the first one was,
	 * when this host first received the advertisement, so the splay is a fixed offset
	 * and the interval does not grow by it at every run. Without that instant (or with
	 * one after the last run: the record of it was lost), the interval counts from the
	 * last run, which is then occurrence k = 0 and therefore already ran. */
	if (a->schedule.recur > 0 && own->first_seen > 0 && own->first_seen <= own->last_start)
		locate_recurring(own->first_seen, a->schedule.recur, now, p);
	else
		locate_recurring(own->last_start, a->schedule.recur, now, p);
}

static bool result_failed(enum run_result r)
{
	return r == RUN_FAILED || r == RUN_INTERRUPTED;
}

static bool result_succeeded(enum run_result r)
{
	return r == RUN_SUCCEEDED || r == RUN_SUCCEEDED_REBOOT;
}

/* Whether the policy lets a new occurrence run, given what ran before. An interrupted
 * run counts as started: it may have done its work. */
static bool policy_allows(enum advert_rerun rerun, const struct schedule_history *own)
{
	if (!own->ever_started)
		return true;
	switch (rerun) {
	case ADV_RERUN_ALWAYS:
		return true;
	case ADV_RERUN_IF_FAILED:
		return result_failed(own->last_result);
	case ADV_RERUN_IF_SUCCEEDED:
		return result_succeeded(own->last_result);
	case ADV_RERUN_NEVER:
	default:
		return false;
	}
}

/* How a run ended, to follow "the latest run". */
static const char *result_phrase(enum run_result r)
{
	switch (r) {
	case RUN_SUCCEEDED:
		return "succeeded";
	case RUN_SUCCEEDED_REBOOT:
		return "succeeded (restart pending)";
	case RUN_FAILED:
		return "failed";
	case RUN_INTERRUPTED:
		return "was interrupted";
	default:
		return "has no result";
	}
}

/* " (+17 s splay)", or nothing without splay. */
static const char *splay_text(uint32_t splay, char *buf, size_t size)
{
	if (splay == 0)
		buf[0] = '\0';
	else
		snprintf(buf, size, " (+%" PRIu32 " s splay)", splay);
	return buf;
}

#define FMT(t, buf) rfc3339_format((t), (buf), sizeof(buf))

/* What holds an advertisement whatever its occurrences: disabled, running, a possibly
 * lost start of a "never" program, expiry. True when one does, with d filled. */
static bool decide_held(const struct advert *a, const struct schedule_history *own, time_t now,
			struct schedule_decision *d)
{
	char t1[RFC3339_BUFSIZE];
	const struct advert_schedule *s = &a->schedule;
	if (!a->enabled) {
		d->verdict = SCHED_DISABLED;
		snprintf(d->reason, sizeof(d->reason), "disabled: enabled = false");
		return true;
	}
	if (own->running) {
		d->verdict = SCHED_RUNNING;
		snprintf(d->reason, sizeof(d->reason),
			 "running since %s; a program never overlaps itself",
			 FMT(own->last_start, t1));
		return true;
	}
	/* Damage may have taken this program's start record with it: a "never" program
	 * that looks as if it never ran might have. Better held than run twice. */
	if (own->damaged && a->rerun == ADV_RERUN_NEVER && !own->ever_started) {
		d->verdict = SCHED_HISTORY_DAMAGED;
		snprintf(d->reason, sizeof(d->reason),
			 "held: the run history has damaged records, and a run of this "
			 "\"never\" program may be among them (check, then advertctl "
			 "clear-damage)");
		return true;
	}
	if (s->has_expires && now >= s->expires) {
		d->verdict = SCHED_EXPIRED;
		snprintf(d->reason, sizeof(d->reason), "expired at %s", FMT(s->expires, t1));
		return true;
	}
	return false;
}

/* The dependency has not succeeded yet: waiting for it, or for it to be fixed. */
static void decide_dependency(const struct advert *a, const struct schedule_history *dep,
			      const struct position *p, struct schedule_decision *d)
{
	char t1[RFC3339_BUFSIZE];
	const char *id = a->program.depends_on ? a->program.depends_on : "?";
	d->occurrence = p->at;
	if (result_failed(dep->last_result)) {
		d->verdict = SCHED_DEPENDENCY_FAILED;
		snprintf(d->reason, sizeof(d->reason),
			 "waiting for dependency \"%.64s\": its latest run %s at %s", id,
			 result_phrase(dep->last_result),
			 FMT(dep->last_end ? dep->last_end : dep->last_start, t1));
	} else {
		d->verdict = SCHED_WAIT_DEPENDENCY;
		snprintf(d->reason, sizeof(d->reason),
			 "waiting for dependency \"%.64s\" to succeed first", id);
	}
}

/* The occurrence at p has not run and the policy allows it: due, or waiting for its
 * splay, or never (its due time falls after expiry). */
static void decide_pending(const struct advert *a, const struct schedule_history *own,
			   const struct position *p, uint32_t splay, time_t now,
			   struct schedule_decision *d)
{
	char t1[RFC3339_BUFSIZE], t2[RFC3339_BUFSIZE], sp[32];
	const struct advert_schedule *s = &a->schedule;
	time_t due = add_sat(p->at, splay);
	d->occurrence = p->at;
	/* An occurrence runs only if it becomes due before expiry; later ones are later
	 * still, so none of them would either. */
	if (s->has_expires && due >= s->expires) {
		d->verdict = SCHED_WAIT;
		d->when = s->expires;
		snprintf(d->reason, sizeof(d->reason),
			 "will not run: %s %s%s falls after expiry at %s",
			 p->have ? "occurrence" : "the first occurrence", FMT(p->at, t1),
			 splay_text(splay, sp, sizeof(sp)), FMT(s->expires, t2));
	} else if (!p->have) {
		d->verdict = SCHED_WAIT;
		d->when = due;
		snprintf(d->reason, sizeof(d->reason), "waiting for the first occurrence %s%s",
			 FMT(p->at, t1), splay_text(splay, sp, sizeof(sp)));
	} else if (now < due) {
		d->verdict = SCHED_WAIT;
		d->when = due;
		snprintf(d->reason, sizeof(d->reason), "waiting: occurrence %s%s is due at %s",
			 FMT(p->at, t1), splay_text(splay, sp, sizeof(sp)), FMT(due, t2));
	} else {
		d->verdict = SCHED_DUE;
		if (!s->has_start && !own->ever_started)
			snprintf(d->reason, sizeof(d->reason),
				 "due: as soon as possible, first run%s",
				 splay_text(splay, sp, sizeof(sp)));
		else
			snprintf(d->reason, sizeof(d->reason), "due: occurrence %s%s",
				 FMT(p->at, t1), splay_text(splay, sp, sizeof(sp)));
	}
}

/* The occurrence at p is done with (it ran, or the policy refuses it): say when the
 * next one is due, if any is. */
static void decide_done(const struct advert *a, const struct schedule_history *own,
			const struct position *p, uint32_t splay_offset, bool allowed,
			struct schedule_decision *d)
{
	char t1[RFC3339_BUFSIZE], t2[RFC3339_BUFSIZE], t3[RFC3339_BUFSIZE];
	const struct advert_schedule *s = &a->schedule;
	time_t next_due = 0;
	if (p->have_next) {
		next_due = add_sat(p->next, splay_offset);
		if (s->has_expires && next_due >= s->expires)
			next_due = 0;
	}
	char nexttext[64];
	if (next_due)
		snprintf(nexttext, sizeof(nexttext), "next due at %s", FMT(next_due, t3));
	else
		snprintf(nexttext, sizeof(nexttext), "%s",
			 p->have_next ? "no later occurrence before expiry" : "it does not recur");

	d->occurrence = p->at;
	if (!allowed) {
		d->verdict = SCHED_WILL_NOT_RERUN;
		d->when = next_due;
		snprintf(d->reason, sizeof(d->reason),
			 "will not rerun: rerun = %s and the latest run (%s) %s; %s",
			 advert_rerun_name(a->rerun), FMT(own->last_start, t1),
			 result_phrase(own->last_result), nexttext);
	} else if (next_due) {
		d->verdict = SCHED_WAIT;
		d->occurrence = p->next;
		d->when = next_due;
		snprintf(d->reason, sizeof(d->reason), "waiting: occurrence %s ran at %s; %s",
			 FMT(p->at, t1), FMT(own->last_start, t2), nexttext);
	} else {
		d->verdict = SCHED_WILL_NOT_RERUN;
		snprintf(d->reason, sizeof(d->reason),
			 "will not rerun: occurrence %s ran at %s and %s", FMT(p->at, t1),
			 FMT(own->last_start, t2), nexttext);
	}
}

/* A program that does not recur, with rerun = "if-failed", is retried after a failed
 * run: as long after its end as it had been on this host by then (so each retry waits
 * about twice as long as the one before), at least RETRY_MIN and at most RETRY_MAX.
 * Without the moment it was first received, RETRY_UNKNOWN. */
#define RETRY_MIN     ((time_t)300)
#define RETRY_MAX     ((time_t)86400)
#define RETRY_UNKNOWN ((time_t)3600)

static time_t retry_time(const struct schedule_history *own)
{
	time_t end = own->last_end ? own->last_end : own->last_start;
	time_t wait = RETRY_UNKNOWN;
	if (own->first_seen > 0 && own->first_seen <= end)
		wait = end - own->first_seen;
	wait = wait < RETRY_MIN ? RETRY_MIN : wait > RETRY_MAX ? RETRY_MAX : wait;
	return add_sat(end, (uintmax_t)wait);
}

static void decide_retry(const struct advert *a, const struct schedule_history *own,
			 const struct position *p, time_t now, struct schedule_decision *d)
{
	char t1[RFC3339_BUFSIZE], t2[RFC3339_BUFSIZE];
	const struct advert_schedule *s = &a->schedule;
	time_t at = retry_time(own);
	d->occurrence = p->at;
	if (s->has_expires && at >= s->expires) {
		d->verdict = SCHED_WILL_NOT_RERUN;
		snprintf(d->reason, sizeof(d->reason),
			 "will not rerun: the latest run (%s) %s, and its retry at %s falls after "
			 "expiry",
			 FMT(own->last_start, t1), result_phrase(own->last_result), FMT(at, t2));
	} else if (now < at) {
		d->verdict = SCHED_WAIT;
		d->when = at;
		snprintf(d->reason, sizeof(d->reason),
			 "waiting: the latest run (%s) %s; rerun = if-failed retries it at %s",
			 FMT(own->last_start, t1), result_phrase(own->last_result), FMT(at, t2));
	} else {
		d->verdict = SCHED_DUE;
		snprintf(d->reason, sizeof(d->reason), "due: retrying, the latest run (%s) %s",
			 FMT(own->last_start, t1), result_phrase(own->last_result));
	}
}

static struct schedule_decision decide(const struct advert *a,
				       const struct schedule_history *own_or_null,
				       const struct schedule_history *dep, uint32_t splay_offset,
				       time_t now)
{
	static const struct schedule_history none = { 0 };
	const struct schedule_history *own = own_or_null ? own_or_null : &none;
	struct schedule_decision d = { 0 };
	char t1[RFC3339_BUFSIZE];

	if (decide_held(a, own, now, &d))
		return d;
	struct position p;
	locate(a, own, now, &p);
	uint32_t splay = p.splayed ? splay_offset : 0;
	if (!p.have) { /* the start is still ahead */
		decide_pending(a, own, &p, splay, now, &d);
		return d;
	}
	if (dep && !dep->ever_succeeded) {
		decide_dependency(a, dep, &p, &d);
		return d;
	}
	if (dep && dep->restart_pending && a->program.wait_for_restart) {
		d.verdict = SCHED_WAIT_DEPENDENCY;
		d.occurrence = p.at;
		snprintf(d.reason, sizeof(d.reason),
			 "waiting for dependency \"%.40s\": it succeeded and needs a restart "
			 "first (wait_for_restart = false runs it now)",
			 a->program.depends_on ? a->program.depends_on : "?");
		return d;
	}
	if (a->rerun == ADV_RERUN_NEVER && own->ever_started) {
		d.verdict = SCHED_WILL_NOT_RERUN;
		d.occurrence = p.at;
		if (own->last_start)
			snprintf(d.reason, sizeof(d.reason),
				 "will not rerun: rerun = never and it started at %s",
				 FMT(own->last_start, t1));
		else
			snprintf(d.reason, sizeof(d.reason),
				 "will not rerun: rerun = never and it started before");
		return d;
	}
	/* "Already ran" is by start time: a run that began at or after the occurrence (its
	 * splay, a manual run) served it. */
	bool ran_this = own->last_start != 0 && own->last_start >= p.at;
	bool allowed = policy_allows(a->rerun, own);
	if (ran_this && allowed && a->rerun == ADV_RERUN_IF_FAILED && a->schedule.recur == 0)
		decide_retry(a, own, &p, now, &d);
	else if (!ran_this && allowed)
		decide_pending(a, own, &p, splay, now, &d);
	else
		decide_done(a, own, &p, splay_offset, allowed, &d);
	return d;
}

/* A due program with maintenance windows starts only inside one that leaves room for its
 * max_runtime: otherwise it waits for the next such window. */
static void in_window(const struct advert *a, time_t now, struct schedule_decision *d)
{
	char t1[RFC3339_BUFSIZE], t2[RFC3339_BUFSIZE];
	const struct advert_schedule *s = &a->schedule;
	time_t at = window_next_start(s->windows, s->n_windows, a->program.max_runtime, now);
	if (at == now)
		return;
	d->verdict = SCHED_WAIT;
	if (!at) {
		d->when = 0;
		snprintf(d->reason, sizeof(d->reason),
			 "due, but no maintenance window in the next 8 days has room for its "
			 "max_runtime (%d s)",
			 a->program.max_runtime);
	} else if (s->has_expires && at >= s->expires) {
		d->when = s->expires;
		snprintf(d->reason, sizeof(d->reason),
			 "will not run: the next maintenance window with room opens at %s, after "
			 "expiry at %s",
			 FMT(at, t1), FMT(s->expires, t2));
	} else {
		d->when = at;
		snprintf(d->reason, sizeof(d->reason),
			 "due, waiting for a maintenance window: the next with room for %d s "
			 "opens at %s",
			 a->program.max_runtime, FMT(at, t1));
	}
}

/* How often a program waiting for a logon condition is looked at again. */
#define LOGON_RECHECK 60

/* program.when: a due program waits until no user, or some user, is logged on. Sessions
 * that cannot be read hold it: better late than on someone's desktop. */
static void logon_condition(const struct advert *a, const struct schedule_history *own, time_t now,
			    struct schedule_decision *d)
{
	bool want_user = a->program.when == ADV_WHEN_USER;
	const char *src = own->sessions_source ? own->sessions_source : "sessions";
	if (own->sessions_known && (own->user_sessions > 0) == want_user)
		return;
	d->verdict = SCHED_WAIT_LOGON;
	d->when = now + LOGON_RECHECK;
	if (!own->sessions_known)
		snprintf(d->reason, sizeof(d->reason),
			 "due, waiting: when = \"%s\" and the user sessions cannot be read",
			 advert_when_name(a->program.when));
	else if (want_user)
		snprintf(d->reason, sizeof(d->reason),
			 "due, waiting for a user to log on (when = \"user\"; %s: none)", src);
	else
		snprintf(d->reason, sizeof(d->reason),
			 "due, waiting until no user is logged on (when = \"no-user\"; %s: %u "
			 "session(s))",
			 src, own->user_sessions);
}

struct schedule_decision schedule_decide(const struct advert *a,
					 const struct schedule_history *own_or_null,
					 const struct schedule_history *dep, uint32_t splay_offset,
					 time_t now)
{
	struct schedule_decision d = decide(a, own_or_null, dep, splay_offset, now);
	if (d.verdict == SCHED_DUE && a->schedule.n_windows)
		in_window(a, now, &d);
	if (d.verdict == SCHED_DUE && a->program.when != ADV_WHEN_ANY && own_or_null)
		logon_condition(a, own_or_null, now, &d);
	return d;
}

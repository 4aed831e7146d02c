/* SPDX-License-Identifier: MIT */
/* Scheduling: whether an advertisement is due, as a pure function of the advertisement,
 * its run history, its dependency's history, the host's splay offset and the clock. No
 * I/O, so every rule is tested with an injected clock. */
#ifndef ADVERT_SCHEDULE_H
#define ADVERT_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "advert/advert.h"

enum run_result {
	RUN_NONE = 0,         /* never ran */
	RUN_SUCCEEDED,        /* a success code */
	RUN_SUCCEEDED_REBOOT, /* a reboot code: success, restart pending */
	RUN_FAILED,           /* another exit code, a signal, or could not start */
	RUN_INTERRUPTED,      /* started, and its end was never recorded */
	RUN_NOT_STARTED,      /* recorded, but the program was never exec'd: as if the run
			      * had not been (it does not count as started) */
};

/* What the history knows about one advertisement. */
struct schedule_history {
	bool ever_started; /* an intent was ever recorded (interrupted runs count) */
	bool ever_succeeded;
	enum run_result last_result; /* of the latest run */
	time_t last_start;           /* of the latest run; 0 when none */
	time_t last_end;
	bool running; /* a run is in progress now */
	/* The history had damaged records not yet cleared by an admin: a start of this
	 * advertisement may have been lost with them. */
	bool damaged;
	/* Not stored by the history: when this daemon first saw the advertisement (its load
	 * time is fine). It anchors the splay of an as-soon-as-possible advertisement's first
	 * run, which has no scheduled instant of its own; 0: unknown, due at once. */
	time_t first_seen;
	/* Not stored by the history either: the latest run ended "restart pending" in this
	 * boot, so the restart it needs has not happened yet. */
	bool restart_pending;
	/* Not stored either: the user sessions on this machine now, for program.when. */
	bool sessions_known;
	unsigned user_sessions;
	const char *sessions_source; /* "logind" or "utmp", for the reason */
};

enum schedule_verdict {
	SCHED_DUE,               /* run it now */
	SCHED_WAIT,              /* not yet: at `when` */
	SCHED_WAIT_DEPENDENCY,   /* the dependency has not succeeded yet */
	SCHED_DEPENDENCY_FAILED, /* the dependency's latest run failed: waiting for it */
	SCHED_WILL_NOT_RERUN,    /* the rerun policy says no, for good or until `when` */
	SCHED_EXPIRED,
	SCHED_DISABLED,
	SCHED_RUNNING,         /* already running: never overlap itself */
	SCHED_HISTORY_DAMAGED, /* rerun = never, and its history may have lost a start */
	SCHED_WAIT_LOGON,      /* due, but program.when is not met: looked at again at `when` */
};

struct schedule_decision {
	enum schedule_verdict verdict;
	time_t when;       /* SCHED_WAIT, and SCHED_WILL_NOT_RERUN when a later occurrence
			     * may run: the time to look again; 0: never */
	time_t occurrence; /* the occurrence this decision is about (0: none) */
	char reason[160];  /* one sentence for admins (advertctl explain) */
};

/* The host's deterministic delay for an advertisement, in [0, splay): a hash of host
 * and id, the same on every restart, spread across a fleet. 0 when splay is 0. */
uint32_t schedule_splay(const char *host, const char *advert_id, uint32_t splay);

/* Decides for a at now. dep is the dependency's history, or NULL when a has none. */
struct schedule_decision schedule_decide(const struct advert *a, const struct schedule_history *own,
					 const struct schedule_history *dep, uint32_t splay_offset,
					 time_t now);

const char *schedule_verdict_name(enum schedule_verdict v);
const char *run_result_name(enum run_result r);

#endif

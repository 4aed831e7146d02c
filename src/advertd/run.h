/* SPDX-License-Identifier: MIT */
/* One run, in its own process: identity, program, revert — reported to the daemon as
 * fixed-size events on a pipe (each smaller than PIPE_BUF, so written atomically). */
#ifndef ADVERTD_RUN_H
#define ADVERTD_RUN_H

#include <sys/types.h>

#include "advert/advert.h"
#include "advert/config.h"
#include "advert/runner.h"

enum run_event_type {
	RUN_EV_FAILOVER = 1,   /* a DC did not answer; the run moved on (dc = the silent one) */
	RUN_EV_GUARD,          /* the lockout guard held: nothing was sent */
	RUN_EV_PREPARE_FAILED, /* identity, path or set-up: the program did not start */
	RUN_EV_REJECTED,       /* requirements: platform (10018) or free space */
	RUN_EV_READY,          /* identity in hand: may the program start? (the daemon
			      * records the run durably first, then answers) */
	RUN_EV_STARTED,        /* the program was exec'd */
	RUN_EV_FINISHED,       /* how it ended */
};

struct run_event {
	int type;
	int outcome; /* enum runner_outcome, RUN_EV_FINISHED */
	int exit_code;
	int signal;
	pid_t pid;
	int platform; /* RUN_EV_REJECTED: 1 = platform, 0 = free space */
	long duration_ms;
	long long output_dropped;
	unsigned stragglers;
	char account[64];
	char dc[128];
	struct why why;
	char tail[RUNNER_TAIL_MAX];
};

/* The daemon's answer to RUN_EV_READY. */
struct run_go {
	char go; /* 'G': start it; anything else: do not */
	char run_id[32];
};

/* The body of a run process: never returns. Writes events to event_fd, reads the
 * answer to RUN_EV_READY from go_fd, and exits 0. */
void run_child(const struct config *cfg, const struct advert *a, int event_fd, int go_fd)
	__attribute__((noreturn));

#endif

/* SPDX-License-Identifier: MIT */
/* The service: one single-threaded event loop over signals, file changes, timers and
 * the run processes; the catalog, the scheduler's decisions, the durable history and
 * the status messages tied together. */
#ifndef ADVERTD_DAEMON_H
#define ADVERTD_DAEMON_H

#include <stdbool.h>

struct daemon_options {
	const char *config_path;
	bool once;       /* run what is due now, wait for it, exit */
	bool foreground; /* log to stderr */
	bool detach;     /* become a daemon once set up (fork, setsid, syslog) */
};

/* Runs the service until SIGTERM/SIGINT (or, with once, until nothing is due or
 * running). Returns the process exit status. */
int daemon_main(const struct daemon_options *opt);

/* advertd --dry-run: prints what a run now would start, as whom, with which rights, and
 * why each other advertisement would not, changing nothing anywhere. Returns the exit
 * status: 1 when the configuration or an advertisement has an error. */
int dryrun_main(const char *config_path);

#endif

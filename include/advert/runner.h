/* SPDX-License-Identifier: MIT */
/* Running one program: fork, drop privileges in the right order and prove it, exec with
 * a scrubbed environment and only fds 0-2, capture its output within a bound, enforce
 * the maximum run time on every process of the run (double-forked ones included), and
 * classify how it ended. Knows nothing of advertisements or Kerberos. */
#ifndef ADVERT_RUNNER_H
#define ADVERT_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "advert/util.h"

#define RUNNER_TAIL_MAX 512 /* bytes of the last output lines kept for status */

/* A program's PATH unless its environment sets one. */
#define RUNNER_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The PATH= value of a NULL-terminated "K=V" environment, else RUNNER_DEFAULT_PATH. */
const char *runner_env_path(char *const *env) __attribute__((nonnull));

struct runner_spec {
	char *const *argv;       /* argv[0] as configured: resolved by runner_resolve */
	const char *program;     /* the program to exec, resolved and checked by the caller
				  * (absolute); NULL: resolve argv[0] here */
	const char *working_dir; /* must exist */
	char *const *env;        /* the complete environment, "K=V", NULL-terminated */
	bool as_root;            /* true: stay root (a "system" run) */
	uid_t uid;               /* otherwise: the account's ids, never 0 */
	gid_t gid;
	const gid_t *groups; /* exactly these supplementary groups */
	size_t n_groups;
	int max_runtime;         /* seconds */
	int kill_grace;          /* seconds between SIGTERM and SIGKILL */
	const char *log_path;    /* output goes here, created 0640 */
	long long max_log_bytes; /* beyond this output is counted, not kept */
	const int *success_codes;
	size_t n_success_codes;
	const int *reboot_codes;
	size_t n_reboot_codes;
};

enum runner_outcome {
	RUNNER_SUCCEEDED,
	RUNNER_SUCCEEDED_REBOOT,
	RUNNER_FAILED,      /* exit code not a success, or a signal */
	RUNNER_TIMED_OUT,   /* max_runtime exceeded: the run was killed */
	RUNNER_NOT_STARTED, /* the program never ran: see why */
	RUNNER_INTERRUPTED, /* runner_request_stop(): the run was stopped */
};

struct runner_result {
	enum runner_outcome outcome;
	int exit_code; /* -1 when it did not exit normally */
	int signal;    /* 0 unless killed by a signal */
	pid_t pid;
	long duration_ms;
	long long output_bytes;     /* everything the program wrote */
	long long output_dropped;   /* beyond max_log_bytes */
	unsigned stragglers;        /* processes of the run still alive at its end, killed */
	char tail[RUNNER_TAIL_MAX]; /* its last lines, for a failure status */
	struct why why;             /* why it did not start, or how it ended */
};

/* Resolves argv0 the way a run will exec it: with a '/', relative to working_dir unless
 * absolute; without one, in working_dir first, then each directory of path. Returns 0
 * with *ret (malloc'd) naming an existing executable regular file, or -ENOENT/-EACCES
 * with *ret naming the path that was missing or not executable. */
int runner_resolve(const char *argv0, const char *working_dir, const char *path, char **ret)
	__attribute__((nonnull, warn_unused_result));

/* Runs spec to its end (synchronously: call it in a process made for the run; it makes
 * that process a child subreaper). started, if given, is called in the parent once the
 * program has been exec'd. Returns 0 with *ret filled — look at ret->outcome — or
 * -errno when nothing could even be tried. */
int runner_run(const struct runner_spec *spec, void (*started)(void *data, pid_t pid), void *data,
	       struct runner_result *ret) __attribute__((nonnull(1, 4), warn_unused_result));

/* Asks a runner_run in progress in this process to stop the run now: TERM to every
 * process of it, the grace, then KILL. Async-signal-safe: call it from a handler. */
void runner_request_stop(void);

const char *runner_outcome_name(enum runner_outcome o);

/* Sends sig to pid (and, when group, to its process group) only if pid, pinned by a
 * pidfd, is still parent's child: never to a process that reused the number. Returns 0,
 * -ESRCH (gone, or not parent's) or -errno. */
int runner_signal(pid_t pid, pid_t parent, int sig, bool group);

#endif

/* SPDX-License-Identifier: MIT */
/* The daemon's side of a run: starting its process, the events it reports over its pipe
 * (the READY/GO handshake that records the start durably first), its end and its
 * reaping. The run itself is run.c, in its own process. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "advert/config.h"
#include "advert/history.h"
#include "advert/log.h"
#include "advert/runner.h"
#include "advert/status.h"
#include "advert/textrec.h"
#include "advert/util.h"
#include "daemon-internal.h"
#include "run.h"

#define MAX_FIELDS 16

/* --- runs ------------------------------------------------------------------------- */

struct active_run *daemon_run_of(struct daemon *d, const char *advert_id)
{
	for (size_t i = 0; i < d->n_runs; i++)
		if (strcmp(d->runs[i].advert_id, advert_id) == 0)
			return &d->runs[i];
	return NULL;
}

void daemon_start_run(struct daemon *d, const struct advert *a)
{
	int ev[2], go[2];
	if (pipe2(ev, O_CLOEXEC) < 0) {
		log_error_errno(-errno, "pipe");
		return;
	}
	if (pipe2(go, O_CLOEXEC) < 0) {
		log_error_errno(-errno, "pipe");
		close(ev[0]), close(ev[1]);
		return;
	}
	struct active_run *v = reallocarray(d->runs, d->n_runs + 1, sizeof(*v));
	if (!v) {
		close(ev[0]), close(ev[1]), close(go[0]), close(go[1]);
		return;
	}
	d->runs = v;
	fflush(NULL);
	pid_t daemon_pid = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		log_error_errno(-errno, "fork");
		close(ev[0]), close(ev[1]), close(go[0]), close(go[1]);
		return;
	}
	if (pid == 0) {
		/* The run keeps its two pipes and stdio; nothing else of the daemon's (the
		 * history's lock, the status socket, the signalfd) may outlive it. */
		int evw = fcntl(ev[1], F_DUPFD_CLOEXEC, 64),
		    gor = fcntl(go[0], F_DUPFD_CLOEXEC, 64);
		if (evw < 0 || gor < 0 || dup3(evw, 3, O_CLOEXEC) < 0 ||
		    dup3(gor, 4, O_CLOEXEC) < 0)
			_exit(1);
		close_range(5, ~0U, 0);
		/* If the daemon dies, the run stops its program and ends. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != daemon_pid)
			_exit(1);
		run_child(d->cfg, a, 3, 4);
	}
	close(ev[1]);
	close(go[0]);
	struct active_run *r = &d->runs[d->n_runs++];
	*r = (struct active_run){ .pid = pid, .ev_fd = ev[0], .go_fd = go[1], .t0 = time(NULL) };
	snprintf(r->advert_id, sizeof(r->advert_id), "%s", a->id);
	snprintf(r->package_id, sizeof(r->package_id), "%s", a->package.id);
	snprintf(r->program, sizeof(r->program), "%s", a->program.name);
	snprintf(r->account, sizeof(r->account), "%s", a->program.run_as);
	r->admin = a->program.rights == ADV_RIGHTS_ADMIN;
	r->restart_after = a->program.after_run == ADV_AFTER_RESTART;
	snprintf(r->package_name, sizeof(r->package_name), "%s", a->package.name);
}

/* A problem that stays the same is said again at most this many poll_intervals apart. */
#define REMIND_POLLS 12

/* The attempt could not start: tried again after poll_interval, and remembered, so that
 * list, status, explain and run say so instead of "due". Returns whether its status
 * message is worth sending: a new problem, or the same one a reminder later. */
static bool retry_later(struct daemon *d, const char *advert_id, enum status_id status,
			const char *reason)
{
	struct advert_state *st = daemon_state_of(d, advert_id);
	if (!st)
		return true;
	time_t now = time(NULL);
	st->plan.retry_at = now + d->cfg->poll_interval;
	reason = reason ? reason : "";
	bool same = st->problem.status == (int)status && st->problem.reason &&
		    strcmp(st->problem.reason, reason) == 0;
	bool say = !same || now - st->problem.said >= (time_t)d->cfg->poll_interval * REMIND_POLLS;
	char *copy = same ? NULL : strdup(reason);
	if (copy) {
		free(st->problem.reason);
		st->problem.reason = copy;
		st->problem.status = (int)status;
	}
	st->problem.at = now;
	if (say)
		st->problem.said = now;
	return say;
}

static void clear_problem(struct daemon *d, const char *advert_id)
{
	struct advert_state *st = daemon_state_of(d, advert_id);
	if (!st)
		return;
	free(st->problem.reason);
	st->problem.reason = NULL;
	st->problem.status = 0;
	st->problem.at = 0;
}

static enum run_result result_of(int outcome)
{
	switch (outcome) {
	case RUNNER_SUCCEEDED:
		return RUN_SUCCEEDED;
	case RUNNER_SUCCEEDED_REBOOT:
		return RUN_SUCCEEDED_REBOOT;
	case RUNNER_INTERRUPTED:
		return RUN_INTERRUPTED;
	default:
		return RUN_FAILED;
	}
}

static void finish_run(struct daemon *d, struct active_run *r, enum run_result result,
		       int exit_code, int sig, long duration_ms, const char *reason)
{
	if (!r->begun || r->finished)
		return;
	int e = history_end(d->hist, r->run_id, result, exit_code, sig, duration_ms,
			    r->dc[0] ? r->dc : NULL, reason, time(NULL));
	if (e < 0) {
		/* The start is on disk; reconciliation at the next start-up will end it as
		 * interrupted. Say so now. */
		struct status_field f[] = { { "advert", r->advert_id },
					    { "run", r->run_id },
					    { "reason", strerror(-e) } };
		emit(d, STATUS_HISTORY_FAILED, f, 3);
	}
	r->finished = true;
	/* Keep the log bounded while the daemon runs, not only at start-up: now and then,
	 * once it has grown past 1 MiB, rewrite it (runs still open are kept). */
	if (e == 0 && ++d->ends_since_compaction >= 256) {
		struct history_stats hs;
		history_get_stats(d->hist, &hs);
		d->ends_since_compaction = 0;
		if (hs.size > (1u << 20) && history_compact(d->hist) < 0)
			log_warning("cannot compact the run history in %s", d->cfg->state_dir);
	}
}

static enum status_id finished_id(int outcome)
{
	switch (outcome) {
	case RUNNER_SUCCEEDED:
		return STATUS_PROGRAM_SUCCEEDED;
	case RUNNER_SUCCEEDED_REBOOT:
		return STATUS_SUCCESS_REBOOT;
	case RUNNER_TIMED_OUT:
		return STATUS_MAX_RUNTIME_EXCEEDED;
	case RUNNER_INTERRUPTED:
		return STATUS_INTERRUPTED;
	default:
		return STATUS_PROGRAM_FAILED;
	}
}

/* The program ended: its end on disk, one status line, what a restart needs. f holds
 * the run's fields (n of them), the rest are ev's numbers as text. */
static void run_finished(struct daemon *d, struct active_run *r, const struct run_event *ev,
			 struct status_field *f, size_t n, const char *exit_s, const char *sig_s,
			 const char *dur, const char *dropped)
{
	enum status_id id = finished_id(ev->outcome);
	struct why reason = ev->why;
	if (r->stop_requested && ev->outcome == RUNNER_INTERRUPTED)
		why_prefix(&reason, 0, "stopped by advertctl stop");
	f[n++] = (struct status_field){ "exit", ev->signal ? NULL : exit_s };
	f[n++] = (struct status_field){ "signal", ev->signal ? sig_s : NULL };
	f[n++] = (struct status_field){ "duration", dur };
	if (ev->output_dropped)
		f[n++] = (struct status_field){ "output_dropped", dropped };
	if (id != STATUS_PROGRAM_SUCCEEDED && id != STATUS_SUCCESS_REBOOT) {
		f[n++] = (struct status_field){ "reason", reason.text };
		f[n++] = (struct status_field){ "output", ev->tail[0] ? ev->tail : NULL };
		d->failed++;
	}
	finish_run(d, r, result_of(ev->outcome), ev->signal ? -1 : ev->exit_code, ev->signal,
		   ev->duration_ms, reason.text);
	emit(d, id, f, n);
	daemon_restart_after(d, r, result_of(ev->outcome));
}

static void handle_event(struct daemon *d, struct active_run *r, const struct run_event *ev)
{
	char exit_s[16], sig_s[32], dur[32], pid_s[16], dropped[32];
	const char *sig_name = ev->signal ? sigabbrev_np(ev->signal) : NULL;
	snprintf(exit_s, sizeof(exit_s), "%d", ev->exit_code);
	snprintf(sig_s, sizeof(sig_s), "SIG%s", sig_name ? sig_name : "?");
	snprintf(dur, sizeof(dur), "%.3f", (double)ev->duration_ms / 1000.0);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)ev->pid);
	snprintf(dropped, sizeof(dropped), "%lld", ev->output_dropped);
	if (ev->dc[0])
		snprintf(r->dc, sizeof(r->dc), "%s", ev->dc);

	struct status_field base[] = {
		{ "advert", r->advert_id },        { "package", r->package_id },
		{ "program", r->program },         { "run", r->run_id[0] ? r->run_id : NULL },
		{ "account", r->account },         { "rights", r->admin ? "admin" : NULL },
		{ "dc", r->dc[0] ? r->dc : NULL },
	};
	struct status_field f[MAX_FIELDS];
	size_t n = sizeof(base) / sizeof(base[0]);
	memcpy(f, base, sizeof(base));

	switch (ev->type) {
	case RUN_EV_FAILOVER:
		f[n++] = (struct status_field){ "tried", ev->why.text };
		emit(d, STATUS_DC_FAILOVER, f, n);
		break;
	case RUN_EV_GUARD:
		f[n++] = (struct status_field){ "reason", ev->why.text };
		if (retry_later(d, r->advert_id, STATUS_GUARD_HOLDING, ev->why.text))
			emit(d, STATUS_GUARD_HOLDING, f, n);
		d->failed++;
		break;
	case RUN_EV_PREPARE_FAILED:
		f[n++] = (struct status_field){ "reason", ev->why.text };
		if (retry_later(d, r->advert_id, STATUS_PREPARE_FAILED, ev->why.text))
			emit(d, STATUS_PREPARE_FAILED, f, n);
		/* Recorded, but the program was never exec'd: it does not count as run. */
		if (r->begun)
			finish_run(d, r, RUN_NOT_STARTED, -1, 0, 0, ev->why.text);
		d->failed++;
		break;
	case RUN_EV_REJECTED:
		f[n++] = (struct status_field){ "reason", ev->why.text };
		if (retry_later(d, r->advert_id,
				ev->platform ? STATUS_PLATFORM_REJECTED
					     : STATUS_REQUIREMENTS_NOT_MET,
				ev->why.text))
			emit(d,
			     ev->platform ? STATUS_PLATFORM_REJECTED : STATUS_REQUIREMENTS_NOT_MET,
			     f, n);
		d->failed++;
		break;
	case RUN_EV_READY: {
		struct run_go go = { .go = 'N' };
		int e = history_begin(d->hist, r->advert_id, r->account, r->dc[0] ? r->dc : NULL,
				      time(NULL), r->run_id);
		if (e == 0) {
			r->begun = true;
			go.go = 'G';
			snprintf(go.run_id, sizeof(go.run_id), "%s", r->run_id);
		} else {
			f[3].value = NULL;
			f[n++] = (struct status_field){ "reason", strerror(-e) };
			emit(d, STATUS_HISTORY_FAILED, f, n);
			log_error_errno(e, "cannot record the start of %s: not running it",
					r->advert_id);
			(void)retry_later(d, r->advert_id, STATUS_HISTORY_FAILED, strerror(-e));
			d->failed++;
		}
		if (write(r->go_fd, &go, sizeof(go)) != (ssize_t)sizeof(go) && r->begun)
			finish_run(d, r, RUN_NOT_STARTED, -1, 0, 0, "the run process went away");
		break;
	}
	case RUN_EV_STARTED:
		r->program_pid = ev->pid;
		clear_problem(d, r->advert_id);
		f[n++] = (struct status_field){ "pid", pid_s };
		emit(d, STATUS_PROGRAM_STARTED, f, n);
		d->ran++;
		break;
	case RUN_EV_FINISHED:
		run_finished(d, r, ev, f, n, exit_s, sig_s, dur, dropped);
		break;
	}
}

void daemon_read_events(struct daemon *d, struct active_run *r)
{
	struct run_event ev;
	ssize_t k = read(r->ev_fd, &ev, sizeof(ev));
	if (k == (ssize_t)sizeof(ev)) {
		handle_event(d, r, &ev);
		return;
	}
	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	/* EOF: the run process is done. A recorded start without an end means it died. */
	close(r->ev_fd);
	r->ev_fd = -1;
	if (r->begun && !r->finished) {
		/* Its program, if any, was re-parented to us (subreaper): it must not run on
		 * without a supervisor, a time limit or a record. */
		/* Its parent is still the dying run process, or already us. */
		if (r->program_pid > 0 &&
		    runner_signal(r->program_pid, getpid(), SIGKILL, true) == -ESRCH)
			runner_signal(r->program_pid, r->pid, SIGKILL, true);
		struct status_field f[] = { { "advert", r->advert_id },
					    { "run", r->run_id },
					    { "reason",
					      "the run process ended without a result" } };
		emit(d, STATUS_INTERRUPTED, f, 3);
		finish_run(d, r, RUN_INTERRUPTED, -1, 0, -1,
			   "the run process ended without a result");
		d->failed++;
	}
}

void daemon_reap_children(struct daemon *d)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0)
			return;
		if (daemon_poller_reaped(d, p))
			continue;
		for (size_t i = 0; i < d->n_runs; i++)
			if (d->runs[i].pid == p)
				d->runs[i].exited = true;
	}
}

/* Drops runs whose process has exited and whose events have all been read. */
void daemon_collect_runs(struct daemon *d)
{
	size_t k = 0;
	for (size_t i = 0; i < d->n_runs; i++) {
		struct active_run *r = &d->runs[i];
		if (r->exited && r->ev_fd < 0) {
			close(r->go_fd);
			daemon_undecide(d, r->advert_id);
			continue;
		}
		d->runs[k++] = *r;
	}
	d->n_runs = k;
}

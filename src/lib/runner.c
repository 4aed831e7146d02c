/* SPDX-License-Identifier: MIT */
/* One program run: fork, drop, prove, exec; capture, time-limit, reap everything.
 * The run's process is made a child subreaper, so a grandchild that double-forks and
 * calls setsid() is re-parented to it and found by the final sweep: no process of the
 * run outlives the run. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/runner.h"
#include "advert/util.h"
#include "runner-internal.h"

/* What the child reports through its close-on-exec pipe when it cannot exec. */
enum child_stage {
	STAGE_SIGNALS = 1,
	STAGE_SESSION,
	STAGE_STDIO,
	STAGE_FDS,
	STAGE_SETGROUPS,
	STAGE_SETRESGID,
	STAGE_SETRESUID,
	STAGE_VERIFY_IDS,
	STAGE_VERIFY_GROUPS,
	STAGE_REGAIN_ROOT,
	STAGE_CHDIR,
	STAGE_EXEC,
};

struct child_error {
	int stage;
	int err;
};

static const char *stage_text(int stage)
{
	switch (stage) {
	case STAGE_SIGNALS:
		return "resetting signals";
	case STAGE_SESSION:
		return "starting a session";
	case STAGE_STDIO:
		return "setting up stdin/stdout/stderr";
	case STAGE_FDS:
		return "closing inherited descriptors";
	case STAGE_SETGROUPS:
		return "setgroups";
	case STAGE_SETRESGID:
		return "setresgid";
	case STAGE_SETRESUID:
		return "setresuid";
	case STAGE_VERIFY_IDS:
		return "verifying the dropped uid/gid";
	case STAGE_VERIFY_GROUPS:
		return "verifying the group list";
	case STAGE_REGAIN_ROOT:
		return "verifying root cannot be regained";
	case STAGE_CHDIR:
		return "entering the working directory";
	default:
		return "exec";
	}
}

static volatile sig_atomic_t stop_requested;

void runner_request_stop(void)
{
	stop_requested = 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_executable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

int runner_resolve(const char *argv0, const char *working_dir, const char *path, char **ret)
{
	char *p = NULL;
	if (strchr(argv0, '/')) {
		/* "./setup" is the working directory's setup: named without the "./". */
		const char *rel = argv0;
		while (rel[0] == '.' && rel[1] == '/')
			for (rel += 2; *rel == '/'; rel++)
				;
		if (argv0[0] == '/' ? !(p = strdup(argv0))
				    : asprintf(&p, "%s/%s", working_dir, rel) < 0)
			return -ENOMEM;
		*ret = p;
		return is_executable_file(p) ? 0 : access(p, F_OK) == 0 ? -EACCES : -ENOENT;
	}
	/* The package's own directory first: "setup" means the package's setup. */
	if (asprintf(&p, "%s/%s", working_dir, argv0) < 0)
		return -ENOMEM;
	if (is_executable_file(p)) {
		*ret = p;
		return 0;
	}
	free(p);
	for (const char *d = path; d && *d;) {
		size_t len = strcspn(d, ":");
		/* Only absolute PATH entries: a relative one would mean one directory now and
		 * another after the chdir to the working directory. */
		if (len > 0 && d[0] == '/') {
			if (asprintf(&p, "%.*s/%s", (int)len, d, argv0) < 0)
				return -ENOMEM;
			if (is_executable_file(p)) {
				*ret = p;
				return 0;
			}
			free(p);
		}
		d += len + (d[len] == ':');
	}
	if (asprintf(ret, "%s (searched %s and PATH)", argv0, working_dir) < 0)
		return -ENOMEM;
	return -ENOENT;
}

static void __attribute__((noreturn)) child_fail(int fd, int stage, int err)
{
	struct child_error ce = { stage, err };
	ssize_t w = write(fd, &ce, sizeof(ce));
	(void)w;
	_exit(127);
}

/* Whether the kernel's list (have, m, sorted here) is exactly the set want holds: n log n,
 * for accounts with thousands of groups. */
static bool same_group_set(const gid_t *want, size_t n, gid_t *have, int m)
{
	static gid_t w[NGROUPS_MAX];
	if (n > NGROUPS_MAX || m < 0)
		return false;
	memcpy(w, want, n * sizeof(*w));
	size_t nw = util_unique_gids(w, n), nh = util_unique_gids(have, (size_t)m);
	return nw == nh && memcmp(w, have, nw * sizeof(*w)) == 0;
}

/* In the forked child: never returns into the parent's code path. */
static void __attribute__((noreturn))
child(const struct runner_spec *s, const char *path, int out_fd, int err_fd, int devnull)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* SIGKILL/SIGSTOP refuse: harmless */
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(err_fd, STAGE_SIGNALS, errno);
	if (setsid() < 0)
		child_fail(err_fd, STAGE_SESSION, errno);
	umask(022);
	if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
		child_fail(err_fd, STAGE_STDIO, errno);
	/* Keep only 0-2 and the error pipe (close-on-exec, so gone after exec). */
	if ((err_fd > 3 && close_range(3, (unsigned)err_fd - 1, 0) < 0) ||
	    close_range((unsigned)err_fd + 1, ~0U, 0) < 0)
		child_fail(err_fd, STAGE_FDS, errno);

	if (!s->as_root) {
		/* Groups first, while we may still set them; then gid; then uid. */
		if (setgroups(s->n_groups, s->groups) < 0)
			child_fail(err_fd, STAGE_SETGROUPS, errno);
		if (setresgid(s->gid, s->gid, s->gid) < 0)
			child_fail(err_fd, STAGE_SETRESGID, errno);
		if (setresuid(s->uid, s->uid, s->uid) < 0)
			child_fail(err_fd, STAGE_SETRESUID, errno);

		/* Prove it: all three ids, the exact group list, and no way back. */
		uid_t ru, eu, su;
		gid_t rg, eg, sg;
		if (getresuid(&ru, &eu, &su) < 0 || ru != s->uid || eu != s->uid || su != s->uid ||
		    getresgid(&rg, &eg, &sg) < 0 || rg != s->gid || eg != s->gid || sg != s->gid)
			child_fail(err_fd, STAGE_VERIFY_IDS, EPERM);
		static gid_t have[NGROUPS_MAX];
		int m = getgroups(NGROUPS_MAX, have);
		if (m < 0 || !same_group_set(s->groups, s->n_groups, have, m))
			child_fail(err_fd, STAGE_VERIFY_GROUPS, EPERM);
		if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
			child_fail(err_fd, STAGE_REGAIN_ROOT, EPERM);
	}
	if (chdir(s->working_dir) < 0)
		child_fail(err_fd, STAGE_CHDIR, errno);
	execve(path, s->argv, s->env);
	child_fail(err_fd, STAGE_EXEC, errno);
}

/* The last lines of the output, printable, for a status message. */
static void make_tail(const char *ring, size_t len, char *out, size_t size)
{
	size_t start = 0, lines = 0;
	for (size_t i = len; i > 0; i--) {
		if (ring[i - 1] == '\n' && i != len && ++lines == 5) {
			start = i;
			break;
		}
	}
	size_t o = 0;
	for (size_t i = start; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)ring[i];
		out[o++] = c == '\n' ? '|' : (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	while (o > 0 && (out[o - 1] == '|' || out[o - 1] == ' '))
		o--;
	out[o] = '\0';
}

static bool code_in(const int *codes, size_t n, int code)
{
	for (size_t i = 0; i < n; i++)
		if (codes[i] == code)
			return true;
	return false;
}

const char *runner_env_path(char *const *env)
{
	for (char *const *e = env; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return RUNNER_DEFAULT_PATH;
}

/* One run's plumbing while it is supervised. */
struct supervision {
	pid_t pid;
	int pidfd;
	int out, err; /* read ends: the program's output, the child's exec report */
	int log_fd;
	bool main_done, out_open, err_open, exec_failed;
	int main_status;
	struct child_error ce;
	char ring[RUNNER_TAIL_MAX * 2]; /* the newest output, for the tail */
	size_t ring_len;
};

/* Output into the log up to max_log_bytes (the rest counted), and into the tail ring. */
static void capture(struct supervision *v, const struct runner_spec *s, struct runner_result *res)
{
	char buf[8192];
	ssize_t k = read(v->out, buf, sizeof(buf));
	if (k <= 0) {
		v->out_open = false;
		return;
	}
	res->output_bytes += k;
	long long room = s->max_log_bytes - (res->output_bytes - k);
	size_t keep = room <= 0 ? 0 : room < k ? (size_t)room : (size_t)k;
	if (keep && write(v->log_fd, buf, keep) < 0)
		keep = 0;
	res->output_dropped += k - (ssize_t)keep;
	if ((size_t)k >= sizeof(v->ring)) {
		memcpy(v->ring, buf + k - sizeof(v->ring), sizeof(v->ring));
		v->ring_len = sizeof(v->ring);
		return;
	}
	if (v->ring_len + (size_t)k > sizeof(v->ring)) {
		size_t drop = v->ring_len + (size_t)k - sizeof(v->ring);
		memmove(v->ring, v->ring + drop, v->ring_len - drop);
		v->ring_len -= drop;
	}
	memcpy(v->ring + v->ring_len, buf, (size_t)k);
	v->ring_len += (size_t)k;
}

/* Until the program has ended and its output is closed: the deadline (TERM, grace,
 * KILL), a stop request, stragglers holding the output, the exec report. */
static void supervise(struct supervision *v, const struct runner_spec *s, long t0,
		      void (*started)(void *data, pid_t pid), void *data, struct runner_result *res)
{
	long deadline = t0 + (long)s->max_runtime * 1000, kill_at = -1;
	while (!v->main_done || v->out_open) {
		long now = now_ms();
		if (kill_at < 0 && !v->main_done && (now >= deadline || stop_requested)) {
			/* Over time, or told to stop: TERM to every process of the run, KILL
			 * after the grace. */
			res->outcome = stop_requested ? RUNNER_INTERRUPTED : RUNNER_TIMED_OUT;
			runner_signal_all(v->pid, v->main_done, SIGTERM);
			kill_at = now + (long)s->kill_grace * 1000;
		}
		if (kill_at >= 0 && now >= kill_at) {
			runner_signal_all(v->pid, v->main_done, SIGKILL);
			kill_at = now + 1000; /* and again, for anything forked meanwhile */
		}
		long wait = v->main_done ? 1000 : (kill_at >= 0 ? kill_at : deadline) - now;
		struct pollfd p[3] = { { v->out_open ? v->out : -1, POLLIN, 0 },
				       { v->err_open ? v->err : -1, POLLIN, 0 },
				       { v->main_done ? -1 : v->pidfd, POLLIN, 0 } };
		int n = poll(p, 3, (int)(wait < 0 ? 0 : wait > 1000 ? 1000 : wait));
		if (n < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			ssize_t k = read(v->err, &v->ce, sizeof(v->ce));
			v->exec_failed = k == (ssize_t)sizeof(v->ce);
			v->err_open = false;
			close(v->err);
			if (!v->exec_failed && started)
				started(data, v->pid);
		}
		if (p[0].revents)
			capture(v, s, res);
		runner_reap(v->pid, &v->main_done, &v->main_status);
		if (v->main_done && v->out_open && kill_at < 0) {
			/* The program is done but something of it still holds its output:
			 * stragglers get the same TERM, grace, KILL as an overrun. */
			res->stragglers = runner_signal_all(0, true, SIGTERM);
			kill_at = now_ms() + (long)s->kill_grace * 1000;
		}
	}
}

/* Whatever of the run is left (it closed its output but lives on) goes too. */
static void kill_leftovers(const struct runner_spec *s, struct runner_result *res)
{
	runner_reap(-1, &(bool){ false }, &(int){ 0 });
	unsigned left = runner_has_children() ? runner_signal_all(0, true, SIGTERM) : 0;
	if (!left)
		return;
	res->stragglers += left;
	long until = now_ms() + (long)s->kill_grace * 1000;
	while (runner_has_children() && runner_signal_all(0, true, 0) && now_ms() < until)
		runner_pause_and_reap(20);
	if (runner_has_children())
		runner_signal_all(0, true, SIGKILL);
	for (int i = 0; i < 100 && runner_has_children(); i++)
		runner_pause_and_reap(10);
}

/* How it ended, from the exec report and the main process's status. */
static void classify(const struct runner_spec *s, const struct supervision *v,
		     struct runner_result *res)
{
	if (v->exec_failed) {
		res->outcome = RUNNER_NOT_STARTED;
		why_set(&res->why, 0, "%s failed: %s", stage_text(v->ce.stage),
			strerror(v->ce.err));
		return;
	}
	bool stopped = res->outcome == RUNNER_TIMED_OUT || res->outcome == RUNNER_INTERRUPTED;
	if (WIFSIGNALED(v->main_status)) {
		res->signal = WTERMSIG(v->main_status);
		if (!stopped)
			res->outcome = RUNNER_FAILED;
		const char *abbrev = sigabbrev_np(res->signal);
		why_set(&res->why, 0, "killed by SIG%s%s", abbrev ? abbrev : "?",
			res->outcome == RUNNER_TIMED_OUT ? " after exceeding its maximum run time"
			: res->outcome == RUNNER_INTERRUPTED ? " when advertd stopped"
							     : "");
		return;
	}
	res->exit_code = WEXITSTATUS(v->main_status);
	if (!stopped) {
		if (code_in(s->success_codes, s->n_success_codes, res->exit_code))
			res->outcome = RUNNER_SUCCEEDED;
		else if (code_in(s->reboot_codes, s->n_reboot_codes, res->exit_code))
			res->outcome = RUNNER_SUCCEEDED_REBOOT;
		else
			res->outcome = RUNNER_FAILED;
	}
	why_set(&res->why, 0, "exit code %d%s", res->exit_code,
		res->outcome == RUNNER_TIMED_OUT ? " after exceeding its maximum run time" : "");
}

/* The log's last words (a truncation note), made durable. */
static void close_log(const struct runner_spec *s, int log_fd, const struct runner_result *res)
{
	if (res->output_dropped > 0) {
		char note[128];
		int len = snprintf(
			note, sizeof(note),
			"\n[advertd: output truncated at %lld bytes; %lld more bytes dropped]\n",
			s->max_log_bytes, res->output_dropped);
		ssize_t w = write(log_fd, note, (size_t)len);
		(void)w; /* the log is best effort; the status says it all */
	}
	fsync(log_fd);
	close(log_fd);
}

/* What must hold before anything is created: never uid 0 for an account, the working
 * directory there, the program the caller resolved and checked (*ret_path). Returns 0,
 * -ENOMEM, or 1 with res->why set (the run did not start). */
static int preflight(const struct runner_spec *s, char **ret_path, struct runner_result *res)
{
	struct stat st;
	*ret_path = NULL;
	if (!s->as_root && s->uid == 0) {
		why_set(&res->why, 0, "refusing to run as uid 0 for an account");
		return 1;
	}
	if (stat(s->working_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		why_set(&res->why, 0, "working directory \"%s\" is missing", s->working_dir);
		return 1;
	}
	/* The program the caller resolved and checked is the one that runs: resolving again
	 * could find another (a file put meanwhile in an earlier PATH directory). */
	int r = s->program ? ((*ret_path = strdup(s->program))
				      ? (is_executable_file(*ret_path) ? 0 : -ENOENT)
				      : -ENOMEM)
			   : runner_resolve(s->argv[0], s->working_dir, runner_env_path(s->env),
					    ret_path);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		why_set(&res->why, 0, "program \"%s\" %s", *ret_path,
			r == -EACCES ? "is not executable" : "is missing");
		return 1;
	}
	return 0;
}

int runner_run(const struct runner_spec *s, void (*started)(void *data, pid_t pid), void *data,
	       struct runner_result *ret)
{
	struct runner_result res = { .outcome = RUNNER_NOT_STARTED, .exit_code = -1 };
	char *path = NULL;
	int r = preflight(s, &path, &res);
	if (r < 0)
		return r;
	if (r > 0)
		goto out;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* O_EXCL: an earlier run's output is never overwritten, whatever the history says. */
	int log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (log_fd < 0) {
		why_set(&res.why, 0, "cannot create the log \"%s\": %s", s->log_path,
			errno == EEXIST ? "it exists already (refusing to overwrite an earlier "
					  "run's output)"
					: strerror(errno));
		goto out;
	}
	int outp[2], errp[2];
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		r = -errno;
		close(log_fd);
		free(path);
		return r;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		r = -errno;
		close(outp[0]), close(outp[1]), close(log_fd), close(devnull);
		free(path);
		return r;
	}

	long t0 = now_ms();
	pid_t pid = fork();
	if (pid == 0)
		child(s, path, outp[1], errp[1], devnull);
	close(outp[1]);
	close(errp[1]);
	close(devnull);
	if (pid < 0) {
		r = -errno;
		close(outp[0]), close(errp[0]), close(log_fd);
		free(path);
		return r;
	}
	res.pid = pid;
	struct supervision v = { .pid = pid,
				 .pidfd = pidfd_open(pid, 0),
				 .out = outp[0],
				 .err = errp[0],
				 .log_fd = log_fd,
				 .out_open = true,
				 .err_open = true };
	supervise(&v, s, t0, started, data, &res);
	kill_leftovers(s, &res);
	if (v.err_open)
		close(v.err);
	if (v.out_open)
		close(v.out);
	if (v.pidfd >= 0)
		close(v.pidfd);
	close_log(s, log_fd, &res);
	res.duration_ms = now_ms() - t0;
	make_tail(v.ring, v.ring_len, res.tail, sizeof(res.tail));
	classify(s, &v, &res);
out:
	free(path);
	*ret = res;
	return 0;
}

const char *runner_outcome_name(enum runner_outcome o)
{
	static const char *const names[] = {
		[RUNNER_SUCCEEDED] = "succeeded",
		[RUNNER_SUCCEEDED_REBOOT] = "succeeded-reboot",
		[RUNNER_FAILED] = "failed",
		[RUNNER_TIMED_OUT] = "timed-out",
		[RUNNER_NOT_STARTED] = "not-started",
		[RUNNER_INTERRUPTED] = "interrupted",
	};
	return names[o];
}

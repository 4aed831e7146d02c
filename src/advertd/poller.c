/* SPDX-License-Identifier: MIT */
/* The poller: a child process that polls the directory for published advertisements
 * (pubpoll.c), writes the verified set to state_dir/published and tells the daemon one
 * line per poll over a pipe. The daemon itself never waits on a DC; it reads the set
 * again when a line says it changed, says once when no DC answers (the cached set keeps
 * running), and starts a poller again when one ends. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/log.h"
#include "advert/pubpoll.h"
#include "advert/rfc3339.h"
#include "advert/status.h"
#include "daemon-internal.h"

/* --- the child ---------------------------------------------------------------------- */

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0)
		_exit(0); /* the daemon is gone */
}

static void sleep_until(time_t when)
{
	for (time_t now = time(NULL); now < when; now = time(NULL)) {
		struct timespec ts = { .tv_sec = when - now };
		nanosleep(&ts, NULL);
	}
}

static _Noreturn void poller_child(const struct config *cfg, int fd, bool once)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	struct pubpoll p;
	struct why why = { "" };
	if (pubpoll_init(&p, cfg, &why) == -EBADMSG)
		say(fd, "damaged %s", why.text);
	for (;;) {
		struct pubpoll_report rep;
		int r = pubpoll_run(&p, time(NULL), &rep);
		if (r == 0)
			say(fd, "ok %d %zu %s", rep.changed ? 1 : 0, rep.entries, rep.dc);
		else
			say(fd, "fail %s", rep.why.text[0] ? rep.why.text : strerror(-r));
		if (once)
			_exit(r == 0 ? 0 : 1);
		sleep_until(pubpoll_next(cfg, time(NULL)));
	}
}

/* --- the daemon's side ---------------------------------------------------------------- */

void daemon_poller_start(struct daemon *d)
{
	if (d->pub.pid > 0 || !pubpoll_wanted(d->cfg) || time(NULL) < d->pub.restart_at)
		return;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_warning_errno(-errno, "cannot start the directory poller");
		return;
	}
	fflush(NULL);
	pid_t daemon_pid = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		log_warning_errno(-errno, "cannot start the directory poller");
		close(fds[0]), close(fds[1]);
		return;
	}
	if (pid == 0) {
		/* Nothing of the daemon's but the pipe and stdio outlives the fork. */
		int w = fcntl(fds[1], F_DUPFD_CLOEXEC, 64);
		if (w < 0 || dup3(w, 3, O_CLOEXEC) < 0)
			_exit(1);
		close_range(4, ~0U, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != daemon_pid)
			_exit(1);
		prctl(PR_SET_NAME, "advertd-poll");
		poller_child(d->cfg, 3, d->opt->once);
	}
	close(fds[1]);
	d->pub.pid = pid;
	d->pub.fd = fds[0];
	d->pub.len = 0;
}

void daemon_poller_stop(struct daemon *d)
{
	if (d->pub.pid > 0) {
		kill(d->pub.pid, SIGTERM);
		waitpid(d->pub.pid, NULL, 0);
	}
	if (d->pub.fd >= 0)
		close(d->pub.fd);
	d->pub.pid = 0;
	d->pub.fd = -1;
	d->pub.len = 0;
}

bool daemon_poller_reaped(struct daemon *d, pid_t pid)
{
	if (pid != d->pub.pid || pid <= 0)
		return false;
	d->pub.pid = 0;
	/* One that ends (it should not) is started again a poll_interval later. */
	if (!d->opt->once)
		d->pub.restart_at = time(NULL) + d->cfg->poll_interval;
	return true;
}

void daemon_published_load(struct daemon *d)
{
	struct published_set set;
	struct why why;
	int r = published_load(d->cfg->state_dir, &set, &why);
	if (r == -EBADMSG || r == -EPERM) {
		if (!d->pub.damaged_said) {
			struct status_field f[] = { { "file", PUBLISHED_FILE },
						    { "reason", why.text } };
			emit(d, STATUS_PUBLISHED_DAMAGED, f, 2);
			d->pub.damaged_said = true;
		}
		return; /* the set in memory, if any, stays */
	}
	if (r < 0)
		return;
	d->pub.damaged_said = false;
	published_clear(&d->pub.set);
	d->pub.set = set;
	d->pub.have_set = true;
}

const struct published_set *daemon_published(struct daemon *d)
{
	if (d->pub.have_set)
		return &d->pub.set;
	/* Nothing verified yet: the host's name (for host targets), no groups. */
	if (!d->pub.set.host)
		d->pub.set.host = pubpoll_host_name(d->cfg);
	return &d->pub.set;
}

static void took_line(struct daemon *d, char *line)
{
	time_t now = time(NULL);
	if (strncmp(line, "ok ", 3) == 0) {
		int changed = 0;
		size_t entries = 0;
		int used = 0;
		if (sscanf(line + 3, "%d %zu %n", &changed, &entries, &used) < 2)
			return;
		snprintf(d->pub.dc, sizeof(d->pub.dc), "%s", line + 3 + used);
		d->pub.ok_at = now;
		d->pub.offline_since = 0;
		d->pub.offline_said = false;
		d->pub.why[0] = '\0';
		if (changed) {
			daemon_published_load(d);
			d->reload = true;
			d->rescan = true;
			char n[24];
			snprintf(n, sizeof(n), "%zu", entries);
			struct status_field f[] = { { "dc", d->pub.dc }, { "entries", n } };
			emit(d, STATUS_PUBLISHED_UPDATED, f, 2);
		}
	} else if (strncmp(line, "fail ", 5) == 0) {
		snprintf(d->pub.why, sizeof(d->pub.why), "%s", line + 5);
		if (!d->pub.offline_since)
			d->pub.offline_since = now;
		if (!d->pub.offline_said) {
			char since[40] = "never";
			if (d->pub.have_set && d->pub.set.verified)
				rfc3339_format(d->pub.set.verified, since, sizeof(since));
			char n[24];
			snprintf(n, sizeof(n), "%zu", d->pub.have_set ? d->pub.set.n : (size_t)0);
			struct status_field f[] = { { "reason", d->pub.why },
						    { "verified", since },
						    { "entries", n } };
			emit(d, STATUS_PUBLISHED_OFFLINE, f, 3);
			d->pub.offline_said = true;
		}
	} else if (strncmp(line, "damaged ", 8) == 0 && !d->pub.damaged_said) {
		struct status_field f[] = { { "file", PUBLISHED_FILE }, { "reason", line + 8 } };
		emit(d, STATUS_PUBLISHED_DAMAGED, f, 2);
		d->pub.damaged_said = true;
	}
}

void daemon_poller_read(struct daemon *d)
{
	for (;;) {
		ssize_t n =
			read(d->pub.fd, d->pub.buf + d->pub.len, sizeof(d->pub.buf) - d->pub.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) { /* the poller ended: its pid is reaped with the others */
			close(d->pub.fd);
			d->pub.fd = -1;
			return;
		}
		d->pub.len += (size_t)n;
		char *nl;
		while ((nl = memchr(d->pub.buf, '\n', d->pub.len))) {
			*nl = '\0';
			took_line(d, d->pub.buf);
			size_t used = (size_t)(nl - d->pub.buf) + 1;
			memmove(d->pub.buf, nl + 1, d->pub.len - used);
			d->pub.len -= used;
		}
		if (d->pub.len == sizeof(d->pub.buf)) /* no line of ours is this long */
			d->pub.len = 0;
		return; /* one read per wake-up: the pipe is blocking */
	}
}

void daemon_poller_wait(struct daemon *d)
{
	/* --once: the one poll first, then the advertisements, cached ones included. */
	while (d->pub.fd >= 0)
		daemon_poller_read(d);
	if (d->pub.pid > 0) {
		waitpid(d->pub.pid, NULL, 0);
		d->pub.pid = 0;
	}
}

/* SPDX-License-Identifier: MIT */
/* Restarts, as SMS SP2 did them. A reboot code means "succeeded, restart pending": the
 * run records the boot it ran in, dependents wait for a new boot, and once the machine
 * has restarted the run is reported completed (10008). after_run = "restart" asks for
 * the restart itself, through restart.command (logind's shutdown with a delay and a
 * wall message by default), once nothing of ours runs, once per run. Either way
 * restart.required_file (Debian's /run/reboot-required) says a restart is needed.
 *
 * state_dir/restart holds the one restart in hand: "wanted|requested BOOT RUN ADVERT".
 * state_dir/restarted lists the runs whose completion after a restart was reported. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/log.h"
#include "advert/textrec.h"
#include "advert/trust.h"
#include "advert/util.h"
#include "daemon-internal.h"

#define RESTART_FILE   "restart"
#define RESTARTED_FILE "restarted"
#define RESTART_HOLD   600 /* s: new programs wait this long for a requested restart */
#define COMMAND_WAIT   5   /* s: for restart.command to say it took the request */

static void save_state(struct daemon *d)
{
	char buf[256] = "";
	int n = 0;
	if (d->restart.wanted || d->restart.requested)
		n = snprintf(buf, sizeof(buf), "%s %s %s %s\n",
			     d->restart.requested ? "requested" : "wanted",
			     history_boot_id(d->hist), d->restart.run_id, d->restart.advert_id);
	bool keep = n > 0 && (size_t)n < sizeof(buf);
	if (daemon_state_write(d, RESTART_FILE, keep ? buf : NULL, keep ? (size_t)n : 0) < 0)
		log_warning("cannot record the pending restart in %s", d->cfg->state_dir);
}

void daemon_restart_load(struct daemon *d)
{
	FILE *f = daemon_state_open(d, RESTART_FILE);
	if (!f)
		return;
	char state[16], boot[HISTORY_BOOT_ID_MAX], run[HISTORY_RUN_ID_MAX], id[ADV_ID_MAX + 1];
	int k = fscanf(f, "%15s %39s %15s %64s", state, boot, run, id);
	fclose(f);
	const char *now_boot = history_boot_id(d->hist);
	if (k != 4 || !now_boot[0] || strcmp(boot, now_boot) != 0) {
		save_state(d); /* an earlier boot's: that restart happened */
		return;
	}
	d->restart.wanted = strcmp(state, "wanted") == 0;
	d->restart.requested = strcmp(state, "requested") == 0;
	snprintf(d->restart.run_id, sizeof(d->restart.run_id), "%s", run);
	snprintf(d->restart.advert_id, sizeof(d->restart.advert_id), "%s", id);
	if (d->restart.requested)
		d->restart.hold_until = time(NULL) + RESTART_HOLD;
}

bool daemon_restart_pending(const struct daemon *d, const char *advert_id)
{
	const struct schedule_history *h = history_summary(d->hist, advert_id);
	const char *boot = history_last_boot(d->hist, advert_id), *now = history_boot_id(d->hist);
	return h->last_result == RUN_SUCCEEDED_REBOOT && boot[0] && now[0] &&
	       strcmp(boot, now) == 0;
}

bool daemon_restart_holds(const struct daemon *d, time_t now)
{
	return d->restart.wanted || (d->restart.requested && now < d->restart.hold_until);
}

/* Debian's flag file, and the package in its .pkgs list. */
static void mark_required(struct daemon *d, const struct active_run *r)
{
	const char *file = d->cfg->restart.required_file;
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write(fd, "*** System restart required ***\n", 32) != 32)
		log_warning("cannot write %s: %s", file, strerror(errno));
	if (fd >= 0)
		close(fd);
	char *pkgs = NULL;
	if (asprintf(&pkgs, "%s.pkgs", file) < 0)
		return;
	fd = open(pkgs, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0) {
		dprintf(fd, "%s\n", r->package_name);
		close(fd);
	}
	free(pkgs);
}

void daemon_restart_after(struct daemon *d, const struct active_run *r, enum run_result res)
{
	bool ok = res == RUN_SUCCEEDED || res == RUN_SUCCEEDED_REBOOT;
	if (res == RUN_SUCCEEDED_REBOOT || (ok && r->restart_after))
		mark_required(d, r);
	if (!ok || !r->restart_after || d->restart.wanted)
		return;
	d->restart.wanted = true;
	d->restart.requested = false;
	snprintf(d->restart.run_id, sizeof(d->restart.run_id), "%s", r->run_id);
	snprintf(d->restart.advert_id, sizeof(d->restart.advert_id), "%s", r->advert_id);
	save_state(d);
}

/* Runs restart.command as root with a bare environment; its exit status, or -errno. */
static int run_command(char *const *argv)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		setsid();
		char *const env[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
		execve(argv[0], argv, env);
		_exit(127);
	}
	for (int i = 0; i < COMMAND_WAIT * 20; i++) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (w < 0)
			return -errno;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT; /* still running: the reaper collects it */
}

void daemon_restart_poll(struct daemon *d)
{
	if (!d->restart.wanted || d->n_runs > 0 || d->stopping)
		return;
	/* As root, run nothing that root did not write. */
	char *why = NULL;
	int r = trust_check(d->cfg->restart.command[0], TRUST_FILE, &why) < 0
			? -EPERM
			: run_command(d->cfg->restart.command);
	if (why) {
		log_error("not running restart.command: %s", why);
		free(why);
	}
	char code[24];
	snprintf(code, sizeof(code), "%d", r);
	const char *reason = r == 0            ? "asked for a restart"
			     : r == -ETIMEDOUT ? "the restart command is still running"
			     : r == -EPERM     ? "restart.command is not root's alone: not run"
					       : "the restart command failed";
	struct status_field f[] = { { "advert", d->restart.advert_id },
				    { "run", d->restart.run_id },
				    { "command", d->cfg->restart.command[0] },
				    { "exit", r >= 0 ? code : NULL },
				    { "reason", reason } };
	emit(d, STATUS_RESTART_REQUESTED, f, ARRAY_SIZE(f));
	if (r != 0 && r != -ETIMEDOUT)
		log_error("%s: %s (%s)", d->cfg->restart.command[0], reason,
			  r < 0 ? strerror(-r) : code);
	/* Once per run, whatever the command said: a restart that was refused or cancelled
	 * is the admin's call, not something to insist on. */
	d->restart.wanted = false;
	d->restart.requested = true;
	d->restart.hold_until = time(NULL) + RESTART_HOLD;
	save_state(d);
}

/* --- completed after the restart ------------------------------------------------------ */

static bool listed(const char *list, const char *run_id)
{
	size_t n = strlen(run_id);
	for (const char *p = list; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, run_id, n) == 0)
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

void daemon_restart_report(struct daemon *d)
{
	const char *boot = history_boot_id(d->hist);
	if (!boot[0] || !d->cat)
		return;
	char *old = NULL;
	size_t cap = 0;
	FILE *f = daemon_state_open(d, RESTARTED_FILE);
	if (f) {
		if (getdelim(&old, &cap, '\0', f) < 0) {
			free(old);
			old = NULL;
		}
		fclose(f);
	}
	/* The list keeps only the runs that are still the latest of their advertisement. */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	bool changed = false;
	for (size_t i = 0; m && i < d->cat->n; i++) {
		const struct advert *a = d->cat->items[i];
		const struct schedule_history *h = history_summary(d->hist, a->id);
		const char *ran_in = history_last_boot(d->hist, a->id);
		if (h->last_result != RUN_SUCCEEDED_REBOOT || !ran_in[0] ||
		    strcmp(ran_in, boot) == 0)
			continue;
		struct history_run l;
		if (!history_latest(d->hist, a->id, &l))
			continue;
		fprintf(m, "%s\n", l.run_id);
		if (listed(old, l.run_id))
			continue;
		struct status_field fs[] = { { "advert", a->id },
					     { "package", a->package.id },
					     { "program", a->program.name },
					     { "run", l.run_id },
					     { "reason", "the restart it needed has happened" } };
		emit(d, STATUS_PROGRAM_SUCCEEDED, fs, ARRAY_SIZE(fs));
		changed = true;
	}
	if (m && fclose(m) == 0 && (changed || (old && strcmp(old, buf) != 0)) &&
	    daemon_state_write(d, RESTARTED_FILE, buf, len) < 0)
		log_warning("cannot record the runs completed after a restart");
	free(buf);
	free(old);
}

/* SPDX-License-Identifier: MIT */
/* advertd's event loop: signals, the control socket, inotify and the timers, set-up and
 * teardown, and the scheduling pass (the planner decides, this starts). The daemon keeps
 * the client token identity at all times: every run happens in a process of its own
 * (run.c, supervised by supervise.c), and the catalog side is adverts.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "advert/catalog.h"
#include "advert/config.h"
#include "advert/history.h"
#include "advert/identity.h"
#include "advert/log.h"
#include "advert/rfc3339.h"
#include "advert/schedule.h"
#include "advert/status.h"
#include "advert/util.h"
#include "advert/textrec.h"
#include "daemon-internal.h"
#include "run.h"
#include "sessions.h"

#define STATUS_QUEUE_MAX 4096

/* --- scheduling ------------------------------------------------------------------- */

/* The status sink advertd.conf asks for: the syslog socket, or journald's own fields. */
static int open_status(const struct config *cfg, struct status_sink **ret)
{
	int r = status_open(cfg->syslog.socket, cfg->syslog.facility, cfg->syslog.ident,
			    STATUS_QUEUE_MAX, ret);
	if (r == 0 && config_syslog_journal(cfg, status_journal_present()))
		status_set_target(*ret, STATUS_TARGET_JOURNAL);
	return r;
}

/* The planner's report: a verdict worth a status line, once per change. */
static void report_verdict(void *data, const struct advert *a, const struct schedule_decision *dec)
{
	struct daemon *d = data;
	enum status_id id;
	switch (dec->verdict) {
	case SCHED_EXPIRED:
		id = STATUS_EXPIRED;
		break;
	case SCHED_WAIT_DEPENDENCY:
		id = STATUS_WAITING_DEPENDENCY;
		break;
	case SCHED_DEPENDENCY_FAILED:
		id = STATUS_DEPENDENCY_FAILED;
		break;
	case SCHED_WILL_NOT_RERUN:
		id = STATUS_WILL_NOT_RERUN;
		break;
	case SCHED_HISTORY_DAMAGED:
		id = STATUS_HISTORY_DAMAGED;
		break;
	case SCHED_WAIT_LOGON:
		id = STATUS_WAITING_LOGON;
		break;
	case SCHED_DISABLED: /* SMS: a disabled advertisement is withdrawn from the client */
		id = STATUS_ADVERT_WITHDRAWN;
		break;
	default:
		return;
	}
	struct status_field f[] = { { "advert", a->id },
				    { "package", a->package.id },
				    { "program", a->program.name },
				    { "depends_on", a->program.depends_on },
				    { "reason", dec->reason } };
	emit(d, id, f, ARRAY_SIZE(f));
	d->reported_dirty = true;
}

static struct schedule_decision decide_cb(void *data, const struct advert *a, time_t now)
{
	return daemon_decide(data, a, now);
}

struct schedule_decision daemon_decide(struct daemon *d, const struct advert *a, time_t now)
{
	struct advert_state *st = daemon_state_of(d, a->id);
	struct schedule_history own = *history_summary(d->hist, a->id);
	own.running = daemon_run_of(d, a->id) != NULL;
	own.restart_pending = daemon_restart_pending(d, a->id);
	if (a->program.when != ADV_WHEN_ANY) {
		if (d->sessions.at != now) {
			struct sessions ses;
			d->sessions.error = sessions_read(&ses);
			d->sessions.users = ses.users;
			d->sessions.source = ses.source;
			d->sessions.at = now;
		}
		own.sessions_known = d->sessions.error == 0;
		own.user_sessions = d->sessions.users;
		own.sessions_source = d->sessions.source;
	}
	own.first_seen = st ? st->first_seen : now;
	const struct schedule_history *dep =
		a->program.depends_on ? history_summary(d->hist, a->program.depends_on) : NULL;
	struct schedule_history dep_copy;
	if (dep) {
		dep_copy = *dep;
		dep_copy.running = daemon_run_of(d, a->program.depends_on) != NULL;
		dep_copy.restart_pending = daemon_restart_pending(d, a->program.depends_on);
		dep = &dep_copy;
	}
	uint32_t splay = schedule_splay(d->host, a->id, (uint32_t)d->cfg->splay);
	return schedule_decide(a, &own, dep, splay, now);
}

static ssize_t forced_index(const struct daemon *d, const char *id)
{
	for (size_t i = 0; i < d->n_forced; i++)
		if (strcmp(d->forced[i], id) == 0)
			return (ssize_t)i;
	return -1;
}

int daemon_force_run(struct daemon *d, const char *id)
{
	if (forced_index(d, id) >= 0)
		return 0;
	char **v = reallocarray(d->forced, d->n_forced + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->forced = v;
	if (!(v[d->n_forced] = strdup(id)))
		return -ENOMEM;
	d->n_forced++;
	return 0;
}

static void unforce(struct daemon *d, const char *id)
{
	ssize_t i = forced_index(d, id);
	if (i < 0)
		return;
	free(d->forced[i]);
	d->forced[i] = d->forced[--d->n_forced];
}

/* Decides for every advertisement (the planner), starts what is due within
 * max_concurrent. Returns the next time anything needs a look, and sets *any_due. */
static time_t schedule_pass(struct daemon *d, bool *any_due)
{
	time_t now = time(NULL), next = now + d->cfg->poll_interval;
	size_t n = d->cat->n;
	struct plan_item *items = calloc(n ? n : 1, sizeof(*items));
	size_t *start = calloc(n ? n : 1, sizeof(*start));
	*any_due = false;
	if (!items || !start) {
		free(items);
		free(start);
		return next;
	}
	for (size_t i = 0; i < n; i++) {
		const struct advert *a = d->cat->items[i];
		struct advert_state *st = daemon_state_of(d, a->id);
		items[i] =
			(struct plan_item){ .a = a,
					    .cache = st ? &st->plan : NULL,
					    .forced = d->n_forced && forced_index(d, a->id) >= 0 };
	}
	const struct planner_io io = { .decide = decide_cb, .report = report_verdict, .data = d };
	size_t slots = d->n_runs < (size_t)d->cfg->max_concurrent
			       ? (size_t)d->cfg->max_concurrent - d->n_runs
			       : 0;
	size_t k = planner_pass(items, n, &io, slots, now, d->cfg->poll_interval, start, &next,
				any_due);
	for (size_t i = 0; i < k; i++) {
		unforce(d, items[start[i]].a->id);
		daemon_start_run(d, items[start[i]].a);
	}
	free(items);
	free(start);
	return next;
}

/* Something changed for advert_id (a run ended, it was retried): it and whatever
 * depends on it are decided again at the next pass. */
void daemon_undecide(struct daemon *d, const char *advert_id)
{
	struct advert_state *st = daemon_state_of(d, advert_id);
	if (st)
		planner_invalidate(&st->plan);
	for (size_t i = 0; d->cat && i < d->cat->n; i++) {
		const struct advert *a = d->cat->items[i];
		if (a->program.depends_on && strcmp(a->program.depends_on, advert_id) == 0 &&
		    (st = daemon_state_of(d, a->id)))
			planner_invalidate(&st->plan);
	}
}

void daemon_redecide_all(struct daemon *d)
{
	for (size_t i = 0; d->cat && i < d->cat->n; i++) {
		struct advert_state *st = daemon_state_of(d, d->cat->items[i]->id);
		if (st) {
			planner_invalidate(&st->plan);
			st->plan.has_shown = false;
		}
	}
}

/* --- the loop --------------------------------------------------------------------- */

static void on_interrupted(void *data, const struct history_run *run)
{
	struct daemon *d = data;
	struct status_field f[] = { { "advert", run->advert_id },
				    { "run", run->run_id },
				    { "account", run->account[0] ? run->account : NULL },
				    { "reason", run->other_boot
							? "the machine restarted during the run"
							: "advertd stopped during the run" } };
	emit(d, STATUS_INTERRUPTED, f, 4);
}

static void notify(const char *what)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, what);
#else
	(void)what;
#endif
}

/* SIGHUP and advertctl reload: a new advertd.conf replaces the old one only if it is
 * free of errors; running programs continue either way (their processes have their
 * own copy). What cannot change without a restart is said so. */
/* One status line for a reload, taken or refused. */
static void reload_said(struct daemon *d, bool taken, const char *reason)
{
	struct status_field f[] = { { "config", d->opt->config_path },
				    { "result", taken ? "reloaded" : "refused" },
				    { "reason", reason } };
	emit(d, STATUS_CONFIG_RELOADED, f, ARRAY_SIZE(f));
}

int daemon_reload_config(struct daemon *d, struct why *why)
{
	notify("RELOADING=1");
	struct diag_list diags = { 0 };
	struct config *cfg = NULL;
	int r = config_load(d->opt->config_path, &cfg, &diags);
	if (r < 0 || diag_count(&diags, DIAG_ERROR)) {
		/* The first error says why; every one is reported (11010) once. */
		const struct diag *first = NULL;
		for (size_t i = 0; !first && i < diags.n; i++)
			if (diags.items[i].level == DIAG_ERROR)
				first = &diags.items[i];
		why_set(why, 0, "%s has errors, keeping the running configuration: %s:%d: %s",
			d->opt->config_path, first && first->file ? first->file : "?",
			first ? first->line : 0, first ? first->msg : strerror(-r));
		/* Said by 11023 and in the log, each error of it: the set of reported file
		 * problems (the advertisements') is not this one's to replace. */
		for (size_t i = 0; i < diags.n; i++)
			if (diags.items[i].level == DIAG_ERROR)
				log_error("%s:%d: %s",
					  diags.items[i].file ? diags.items[i].file : "?",
					  diags.items[i].line, diags.items[i].msg);
		reload_said(d, false, why->text);
		config_free(cfg);
		diag_clear(&diags);
		notify("READY=1");
		return r < 0 ? r : -EINVAL;
	}
	diag_clear(&diags);
	const char *note = NULL;
	if (strcmp(cfg->state_dir, d->cfg->state_dir) != 0 ||
	    strcmp(cfg->control_socket, d->cfg->control_socket) != 0) {
		note = "state_dir and control_socket changes take effect at the next start";
		log_warning("%s", note);
	}
	if (strcmp(cfg->syslog.socket, d->cfg->syslog.socket) != 0 ||
	    strcmp(cfg->syslog.ident, d->cfg->syslog.ident) != 0 ||
	    cfg->syslog.facility != d->cfg->syslog.facility ||
	    cfg->syslog.target != d->cfg->syslog.target) {
		struct status_sink *s = NULL;
		if (open_status(cfg, &s) == 0) {
			status_flush(d->status, time(NULL));
			status_close(d->status);
			d->status = s;
		}
	}
	/* Paths and sockets that stay are taken from the running configuration. */
	free(cfg->state_dir);
	cfg->state_dir = strdup(d->cfg->state_dir);
	free(cfg->control_socket);
	cfg->control_socket = strdup(d->cfg->control_socket);
	if (!cfg->state_dir || !cfg->control_socket) {
		config_free(cfg);
		notify("READY=1");
		return why_set(why, -ENOMEM, "out of memory");
	}
	if (d->control && strcmp(cfg->admin_group, d->cfg->admin_group) != 0 &&
	    control_set_admin_group(d->control, cfg->admin_group) < 0)
		log_warning("cannot give the control socket to admin_group \"%s\"",
			    cfg->admin_group);
	config_free(d->cfg);
	d->cfg = cfg;
	daemon_poller_stop(d); /* the next pass starts one with the new configuration */
	d->pub.restart_at = 0;
	daemon_watch_directories(d);
	d->reload = true;
	d->rescan = true; /* a reload reads everything */
	log_info("configuration reloaded from %s", d->opt->config_path);
	why_set(why, 0, "%s", note ? note : "");
	reload_said(d, true, note);
	notify("READY=1");
	return 0;
}

/* One advertd per machine: a lock next to the control socket. The second one says who
 * holds it and leaves the first one's socket alone. Returns the lock's fd or -errno. */
FILE *daemon_state_open(const struct daemon *d, const char *name)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s", d->cfg->state_dir, name) < 0)
		return NULL;
	FILE *f = fopen(path, "re");
	free(path);
	return f;
}

int daemon_state_write(const struct daemon *d, const char *name, const char *buf, size_t len)
{
	int dfd = open(d->cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int r = buf ? textrec_atomic_replace(dfd, name, buf, len, 0600)
		: unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno
								: 0;
	close(dfd);
	return r;
}

static int single_instance(const char *control_socket)
{
	char *dir = strdup(control_socket), *slash = dir ? strrchr(dir, '/') : NULL, *path = NULL;
	if (!slash) {
		free(dir);
		return -EINVAL;
	}
	*slash = '\0';
	if (dir[0] && mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int r = log_error_errno(-errno, "cannot create %s", dir);
		free(dir);
		return r;
	}
	if (asprintf(&path, "%s/advertd.pid", dir[0] ? dir : "/") < 0) {
		free(dir);
		return -ENOMEM;
	}
	free(dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		int r = log_error_errno(-errno, "cannot open %s", path);
		free(path);
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t k = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[k > 0 ? k : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_error("already running (pid %s)", buf[0] ? buf : "?");
		close(fd);
		free(path);
		return -EALREADY;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warning("cannot write %s", path);
	free(path);
	return fd;
}

static int setup(struct daemon *d)
{
	struct diag_list diags = { 0 };
	int r = config_load(d->opt->config_path, &d->cfg, &diags);
	diag_print(&diags, stderr);
	size_t errors = diag_count(&diags, DIAG_ERROR);
	diag_clear(&diags);
	if (r < 0 || errors)
		return log_internal(LOG_ERR, 0, "%s has errors: not starting", d->opt->config_path)
			       ?: -EINVAL;

	d->lock_fd = single_instance(d->cfg->control_socket);
	if (d->lock_fd < 0)
		return d->lock_fd;
	gethostname(d->host, sizeof(d->host) - 1);
	r = open_status(d->cfg, &d->status);
	if (r < 0)
		return log_error_errno(r, "status messages to %s", d->cfg->syslog.socket);

	if (mkdir(d->cfg->state_dir, 0700) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "state directory %s", d->cfg->state_dir);
	r = history_open(d->cfg->state_dir, &d->hist);
	if (r == -EBUSY)
		return log_error_errno(r, "another advertd uses %s", d->cfg->state_dir);
	if (r < 0)
		return log_error_errno(r, "cannot open the run history in %s", d->cfg->state_dir);
	struct history_stats hs;
	history_get_stats(d->hist, &hs);
	if (hs.write_error)
		log_error_errno(
			hs.write_error,
			"the run history cannot be written: no program will run until it can");
	if (hs.skipped)
		log_warning("the run history had %zu damaged record(s), skipped", hs.skipped);
	r = history_reconcile(d->hist, time(NULL), on_interrupted, d);
	if (r < 0)
		log_error_errno(r, "cannot record interrupted runs");

	/* Signals through a signalfd; the run processes unblock them for themselves. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sfd < 0)
		return log_error_errno(-errno, "signalfd");
	signal(SIGPIPE, SIG_IGN);
	/* Anything a run leaves behind is re-parented to us, not to init, and reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	if (!d->opt->once) {
		r = control_open(d->cfg->control_socket, d->cfg->admin_group, &d->control);
		if (r < 0)
			return log_error_errno(r, "control socket %s", d->cfg->control_socket);
	}
	/* Every run process inherits initialised krb5, GSSAPI, SASL and libldap. */
	identity_prewarm(d->cfg);
	d->ifd = -1;
	daemon_watch_directories(d);
	daemon_load_received(d);
	daemon_reported_load(d);
	daemon_restart_load(d);
	daemon_published_load(d);
	/* --once polls first and waits; the daemon's poller starts in the loop, after the
	 * detach (a poller forked before it would die with the first parent). */
	if (d->opt->once) {
		daemon_poller_start(d);
		daemon_poller_wait(d);
	}
	daemon_load_catalog(d);
	struct status_field f[] = { { "version", PACKAGE_VERSION }, { "config", d->cfg->file } };
	emit(d, STATUS_DAEMON_STARTED, f, 2);
	daemon_restart_report(d);
	if (hs.damaged) {
		char count[24];
		snprintf(count, sizeof(count), "%zu", hs.skipped);
		struct status_field df[] = {
			{ "count", count },
			{ "reason", "the run history has damaged records: \"never\" programs that "
				    "look as if they never ran are held until an admin checks them "
				    "(advertctl clear-damage ID|--all)" },
		};
		emit(d, STATUS_HISTORY_DAMAGED, df, 2);
	}
	return 0;
}

static void handle_signals(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			daemon_reap_children(d);
			break;
		case SIGHUP:
			log_info("SIGHUP: reloading the configuration and the advertisements");
			d->reload_config = true;
			break;
		default:
			if (!d->stopping) {
				log_info("stopping: no new runs; running programs get %d s",
					 d->cfg->kill_grace);
				struct status_field f[] = {
					{ "signal", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM" }
				};
				emit(d, STATUS_DAEMON_STOPPING, f, 1);
			}
			if (!d->stopping)
				notify("STOPPING=1");
			d->stopping = true;
			daemon_poller_stop(d);
			/* The run processes stop their programs (TERM, grace, KILL) and report
			 * them as interrupted. */
			for (size_t i = 0; i < d->n_runs; i++)
				kill(d->runs[i].pid, SIGTERM);
			break;
		}
	}
}

static void teardown(struct daemon *d)
{
	daemon_poller_stop(d);
	published_clear(&d->pub.set);
	control_close(d->control);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (d->status)
		status_flush(d->status, time(NULL));
	status_close(d->status);
	if (d->hist)
		history_close(d->hist);
	catalog_free(d->cat);
	config_free(d->cfg);
	for (size_t i = 0; i < d->n_states; i++)
		daemon_state_clear(&d->states[i]);
	free(d->states);
	free(d->state_slots);
	free(d->reported_problems);
	diag_clear(&d->problems);
	free(d->runs);
	for (size_t i = 0; i < d->n_forced; i++)
		free(d->forced[i]);
	free(d->forced);
	daemon_unwatch(d);
	if (d->sfd >= 0)
		close(d->sfd);
}

/* What --once did, and what it left for later: an occurrence that has come but waits for
 * this host's splay is not "nothing to do", and a rejected advertisement is a failure. */
static void once_summary(struct daemon *d)
{
	time_t now = time(NULL);
	unsigned splayed = 0;
	for (size_t i = 0; d->cat && i < d->cat->n; i++) {
		const struct advert *a = d->cat->items[i];
		struct schedule_decision dec = daemon_decide(d, a, now);
		if (dec.verdict != SCHED_WAIT || !dec.when || dec.occurrence > now)
			continue;
		if (splayed++ == 0)
			printf("not yet due (this host's splay):\n");
		printf("  %-12s due in %lld s\n", a->id, (long long)(dec.when - now));
	}
	printf("advertd --once: %u program(s) ran, %u problem(s), %u waiting for splay, %zu "
	       "error(s) in the advertisements\n",
	       d->ran, d->failed, splayed, d->rejected);
}

/* The classic double fork, after setup: the caller's exit status says whether advertd
 * started. The locks (the pid file's, the history's) belong to the open files, which the
 * grandchild keeps; the pid file is rewritten with its pid, and the subreaper flag, which
 * fork does not pass on, is set again. */
static int detach(struct daemon *d)
{
	pid_t pid = fork();
	if (pid < 0)
		return log_error_errno(-errno, "fork");
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		return log_error_errno(-errno, "fork");
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return log_error_errno(-errno, "chdir /");
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	log_setup("advertd", LOG_TARGET_SYSLOG, d->cfg->syslog.facility);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	char text[32];
	int len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, text, (size_t)len, 0) != len)
		log_warning("cannot write the pid file");
	return 0;
}

int daemon_main(const struct daemon_options *opt)
{
	struct daemon d = { .opt = opt, .sfd = -1, .ifd = -1, .lock_fd = -1, .pub.fd = -1 };
	if (setup(&d) < 0 || (opt->detach && detach(&d) < 0)) {
		teardown(&d);
		return 1;
	}
	notify("READY=1");
	time_t next_rescan = time(NULL) + d.cfg->poll_interval;
	bool idle_once = false;
	for (;;) {
		time_t now = time(NULL);
		if (d.reload_config) { /* SIGHUP */
			struct why why;
			d.reload_config = false;
			daemon_reload_config(&d, &why);
		}
		if (d.reload || now >= next_rescan) {
			d.reload = false;
			if (now >= next_rescan)
				d.rescan = true;
			daemon_load_catalog(&d);
			next_rescan = now + d.cfg->poll_interval;
		}
		daemon_restart_poll(&d);
		if (!d.stopping && !opt->once)
			daemon_poller_start(&d);
		bool any_due = false;
		/* While a restart is wanted or on its way, nothing new starts: it would be cut
		 * short, or hold the restart up. */
		bool hold = daemon_restart_holds(&d, now);
		time_t next = d.stopping || hold ? now + 1 : schedule_pass(&d, &any_due);
		if (next > next_rescan)
			next = next_rescan;
		if ((d.stopping || (opt->once && !any_due)) && d.n_runs == 0) {
			idle_once = true;
			break;
		}

		long timeout = (long)(next - now) * 1000;
		int status_fd = status_pollfd(d.status);
		if (status_queued(d.status) && status_fd < 0 && timeout > 1000)
			timeout = 1000; /* syslog is away: try again soon */
		/* signalfd, inotify, the syslog socket while messages wait for room, the
		 * run processes, the control socket and its clients. */
		if (d.pub.pid == 0 && d.pub.restart_at > now &&
		    d.pub.restart_at - now < timeout / 1000)
			timeout = (long)(d.pub.restart_at - now) * 1000;
		enum { P_SIGNAL, P_INOTIFY, P_STATUS, P_POLLER, P_RUNS };
		size_t nfds = P_RUNS + d.n_runs + 1 + CONTROL_CLIENTS_MAX;
		struct pollfd *p = calloc(nfds, sizeof(*p));
		if (!p)
			break;
		p[P_SIGNAL] = (struct pollfd){ d.sfd, POLLIN, 0 };
		p[P_INOTIFY] = (struct pollfd){ d.ifd, POLLIN, 0 };
		p[P_STATUS] = (struct pollfd){ status_fd, POLLOUT, 0 };
		p[P_POLLER] = (struct pollfd){ d.pub.fd, POLLIN, 0 };
		for (size_t i = 0; i < d.n_runs; i++)
			p[P_RUNS + i] = (struct pollfd){ d.runs[i].ev_fd, POLLIN, 0 };
		size_t cbase = P_RUNS + d.n_runs, nc = 0;
		if (d.control)
			nc = control_pollfds(d.control, p + cbase, 1 + CONTROL_CLIENTS_MAX);
		nfds = cbase + nc;
		if (nc > 1 && timeout > 1000)
			timeout = 1000; /* clients time out */
		if (timeout < 0)
			timeout = 0;
		int n = poll(p, nfds, (int)(timeout > INT_MAX ? INT_MAX : timeout));
		if (n < 0 && errno != EINTR) {
			free(p);
			break;
		}
		if (p[P_SIGNAL].revents)
			handle_signals(&d);
		if (p[P_INOTIFY].revents)
			daemon_read_inotify(&d);
		if (p[P_POLLER].revents && d.pub.fd >= 0)
			daemon_poller_read(&d);
		for (size_t i = 0; i < d.n_runs; i++)
			if (p[P_RUNS + i].revents && d.runs[i].ev_fd >= 0)
				daemon_read_events(&d, &d.runs[i]);
		if (d.control)
			control_dispatch(d.control, p + cbase, nc, daemon_command, &d);
		free(p);
		daemon_reap_children(&d);
		daemon_collect_runs(&d);
		daemon_reported_save(&d);
		if (status_queued(d.status))
			status_flush(d.status, time(NULL));
	}
	daemon_reported_save(&d);
	int rc = opt->once ? (d.failed || d.rejected ? 1 : 0) : 0;
	if (opt->once && idle_once)
		once_summary(&d);
	teardown(&d);
	return rc;
}

/* advertd's event loop. The daemon keeps the client token identity at all times: every
 * run happens in a process of its own (run.c) that reports events over a pipe. Before a
 * program starts, its run is recorded durably (history), so no record is lost and a
 * "never" program that may have started is never started again. */
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
#include <sys/inotify.h>
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

#define STATUS_QUEUE_MAX 4096
#define MAX_FIELDS       16

static void undecide(struct daemon *d, const char *advert_id);

static void emit(struct daemon *d, enum status_id id, const struct status_field *f, size_t n)
{
	status_emit(d->status, time(NULL), id, f, n);
}

/* --- advertisement states ------------------------------------------------------- */

static uint64_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return h;
}

/* Open addressing over the states array (slot = index + 1, 0 empty): 10,000
 * advertisements are looked up on every pass, a linear search would be quadratic. */
static int index_states(struct daemon *d, size_t cap)
{
	size_t *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_states; i++) {
		size_t k = id_hash(d->states[i].id) & (cap - 1);
		while (slots[k])
			k = (k + 1) & (cap - 1);
		slots[k] = i + 1;
	}
	free(d->state_slots);
	d->state_slots = slots;
	d->state_cap = cap;
	return 0;
}

struct advert_state *daemon_state_of(struct daemon *d, const char *id)
{
	size_t k = 0;
	if (d->state_cap) {
		for (k = id_hash(id) & (d->state_cap - 1); d->state_slots[k];
		     k = (k + 1) & (d->state_cap - 1))
			if (strcmp(d->states[d->state_slots[k] - 1].id, id) == 0)
				return &d->states[d->state_slots[k] - 1];
	}
	struct advert_state *v = reallocarray(d->states, d->n_states + 1, sizeof(*v));
	if (!v)
		return NULL;
	d->states = v;
	v[d->n_states] = (struct advert_state){ .id = strdup(id), .first_seen = time(NULL) };
	if (!v[d->n_states].id)
		return NULL;
	d->n_states++;
	if (2 * d->n_states > d->state_cap) {
		if (index_states(d, d->state_cap ? 2 * d->state_cap : 64) < 0) {
			free(v[--d->n_states].id);
			return NULL;
		}
	} else {
		d->state_slots[k] = d->n_states;
	}
	return &v[d->n_states - 1];
}

struct active_run *daemon_run_of(struct daemon *d, const char *advert_id)
{
	for (size_t i = 0; i < d->n_runs; i++)
		if (strcmp(d->runs[i].advert_id, advert_id) == 0)
			return &d->runs[i];
	return NULL;
}

/* A signature that changes when the advertisement's definition may have changed. */
static char *signature(const struct advert *a)
{
	struct stat st;
	char *s = NULL;
	if (stat(a->file, &st) < 0)
		st.st_mtim = (struct timespec){ 0 };
	if (asprintf(&s, "%s:%d:%lld.%09ld", a->file, a->line, (long long)st.st_mtim.tv_sec,
		     st.st_mtim.tv_nsec) < 0)
		return NULL;
	return s;
}

static bool already_reported(struct daemon *d, const char *text)
{
	for (size_t i = 0; i < d->n_reported; i++)
		if (strcmp(d->reported_problems[i], text) == 0)
			return true;
	return false;
}

/* Reports each new problem once; forgets those that went away. */
static void report_problems(struct daemon *d, const struct diag_list *diags)
{
	char **now = calloc(diags->n + 1, sizeof(*now));
	size_t n = 0;
	for (size_t i = 0; now && i < diags->n; i++) {
		const struct diag *g = &diags->items[i];
		char line[16];
		snprintf(line, sizeof(line), "%d", g->line);
		char *text = NULL;
		if (asprintf(&text, "%s:%d:%s", g->file ? g->file : "", g->line, g->msg) < 0)
			continue;
		if (!already_reported(d, text)) {
			struct status_field f[] = { { "file", g->file },
						    { "line", g->line ? line : NULL },
						    { "reason", g->msg } };
			emit(d, STATUS_FILE_REJECTED, f, 3);
			log_warning("%s:%d: %s", g->file ? g->file : "?", g->line, g->msg);
		}
		now[n++] = text;
	}
	for (size_t i = 0; i < d->n_reported; i++)
		free(d->reported_problems[i]);
	free(d->reported_problems);
	d->reported_problems = now;
	d->n_reported = n;
}

/* --- what was announced ------------------------------------------------------------
 * "Advertisement received" is said once per new or changed advertisement, not again at
 * every start: state_dir/received keeps "id signature" lines (the daemon holds the
 * single-instance lock, so it is the only writer). */

static void load_received(struct daemon *d)
{
	char *path = NULL;
	if (asprintf(&path, "%s/received", d->cfg->state_dir) < 0)
		return;
	FILE *f = fopen(path, "re");
	free(path);
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		if (!advert_id_valid(line))
			continue;
		struct advert_state *st = daemon_state_of(d, line);
		if (st && !st->signature)
			st->signature = strdup(sp + 1);
	}
	free(line);
	fclose(f);
}

static void save_received(struct daemon *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return;
	for (size_t i = 0; i < d->n_states; i++)
		if (d->states[i].signature)
			fprintf(m, "%s %s\n", d->states[i].id, d->states[i].signature);
	if (fclose(m) != 0) {
		free(buf);
		return;
	}
	int dfd = open(d->cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (textrec_atomic_replace(dfd, "received", buf, len, 0600) < 0)
			log_debug("cannot record announced advertisements in %s",
				  d->cfg->state_dir);
		close(dfd);
	}
	free(buf);
}

/* --- loading ---------------------------------------------------------------------- */

static void watch_directories(struct daemon *d)
{
	if (d->ifd >= 0)
		close(d->ifd);
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ifd < 0) {
		log_warning_errno(-errno, "inotify: changes are seen every %d s only",
				  d->cfg->poll_interval);
		return;
	}
	for (size_t i = 0; i < d->cfg->n_advertisements; i++) {
		/* A directory is watched itself; a file through the directory holding it,
		 * so that replacing it by rename is seen too. */
		const char *p = d->cfg->advertisements[i];
		struct stat st;
		char *dir = strdup(p);
		if (dir && !(stat(p, &st) == 0 && S_ISDIR(st.st_mode))) {
			char *slash = strrchr(dir, '/');
			if (slash)
				slash[slash == dir] = '\0';
		}
		if (dir && inotify_add_watch(d->ifd, dir,
					     IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
						     IN_DELETE | IN_CREATE | IN_ATTRIB) < 0)
			log_debug("inotify on %s: %s", dir, strerror(errno));
		free(dir);
	}
}

static void load_catalog(struct daemon *d)
{
	struct diag_list diags = { 0 };
	const char **names = calloc(d->cfg->n_accounts + 1, sizeof(*names));
	for (size_t i = 0; names && i < d->cfg->n_accounts; i++)
		names[i] = d->cfg->accounts[i].name;
	struct catalog_accounts acc = { names, d->cfg->n_accounts };
	struct catalog *cat = NULL;
	/* Only new or changed files are parsed again; the checks across files rerun. */
	struct catalog_reload_stats rs;
	int r = catalog_reload(d->cat, (const char *const *)d->cfg->advertisements,
			       d->cfg->n_advertisements, &acc, &cat, &diags, &rs);
	free(names);
	if (r < 0) {
		log_error_errno(r, "cannot load the advertisements; keeping the previous ones");
		diag_clear(&diags);
		return;
	}
	report_problems(d, &diags);
	diag_clear(&diags);

	bool announced = false;
	for (size_t i = 0; i < d->n_states; i++) {
		d->states[i].seen = false;
		planner_invalidate(&d->states[i].plan); /* a new catalog: decide everything again */
	}
	for (size_t i = 0; i < cat->n; i++) {
		const struct advert *a = cat->items[i];
		struct advert_state *st = daemon_state_of(d, a->id);
		if (!st)
			continue;
		st->seen = true;
		/* A file the reload did not parse again keeps its very advertisement objects:
		 * nothing to compare. */
		if (st->last == a && st->signature)
			continue;
		st->last = a;
		char *sig = signature(a);
		if (sig && (!st->signature || strcmp(sig, st->signature) != 0)) {
			struct status_field f[] = { { "advert", a->id },
						    { "package", a->package.id },
						    { "program", a->program.name },
						    { "file", a->file } };
			emit(d, STATUS_ADVERT_RECEIVED, f, 4);
			announced = true;
			/* A changed definition deserves a fresh look. */
			st->plan.retry_at = 0;
			st->plan.has_shown = false;
		}
		free(st->signature);
		st->signature = sig;
	}
	for (size_t i = 0; i < d->n_states; i++) {
		struct advert_state *st = &d->states[i];
		if (!st->seen)
			st->last = NULL; /* its object is freed with the old catalog */
		if (!st->seen && st->signature) {
			struct status_field f[] = {
				{ "advert", st->id },
				{ "reason", "no longer in any valid advertisement file" }
			};
			emit(d, STATUS_ADVERT_WITHDRAWN, f, 2);
			free(st->signature);
			st->signature = NULL;
			announced = true;
		}
	}
	if (announced)
		save_received(d);
	catalog_free(d->cat);
	d->cat = cat;
}

/* --- runs ------------------------------------------------------------------------- */

static void start_run(struct daemon *d, const struct advert *a)
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
}

static void retry_later(struct daemon *d, const char *advert_id)
{
	struct advert_state *st = daemon_state_of(d, advert_id);
	if (st)
		st->plan.retry_at = time(NULL) + d->cfg->poll_interval;
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
		{ "advert", r->advert_id }, { "package", r->package_id },
		{ "program", r->program },  { "run", r->run_id[0] ? r->run_id : NULL },
		{ "account", r->account },  { "dc", r->dc[0] ? r->dc : NULL },
	};
	struct status_field f[MAX_FIELDS];
	size_t n = sizeof(base) / sizeof(base[0]);
	memcpy(f, base, sizeof(base));

	switch (ev->type) {
	case RUN_EV_FAILOVER:
		f[n++] = (struct status_field){ "tried", ev->reason };
		emit(d, STATUS_DC_FAILOVER, f, n);
		break;
	case RUN_EV_GUARD:
		f[n++] = (struct status_field){ "reason", ev->reason };
		emit(d, STATUS_GUARD_HOLDING, f, n);
		retry_later(d, r->advert_id);
		d->failed++;
		break;
	case RUN_EV_PREPARE_FAILED:
		f[n++] = (struct status_field){ "reason", ev->reason };
		emit(d, STATUS_PREPARE_FAILED, f, n);
		/* Recorded, but the program was never exec'd: it does not count as run. */
		if (r->begun)
			finish_run(d, r, RUN_NOT_STARTED, -1, 0, 0, ev->reason);
		retry_later(d, r->advert_id);
		d->failed++;
		break;
	case RUN_EV_REJECTED:
		f[n++] = (struct status_field){ "reason", ev->reason };
		emit(d, ev->platform ? STATUS_PLATFORM_REJECTED : STATUS_REQUIREMENTS_NOT_MET, f,
		     n);
		retry_later(d, r->advert_id);
		d->failed++;
		break;
	case RUN_EV_READY: {
		struct run_go go = { .go = 'N' };
		int e = history_begin(d->hist, r->advert_id, r->account, time(NULL), r->run_id);
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
			retry_later(d, r->advert_id);
			d->failed++;
		}
		if (write(r->go_fd, &go, sizeof(go)) != (ssize_t)sizeof(go) && r->begun)
			finish_run(d, r, RUN_NOT_STARTED, -1, 0, 0, "the run process went away");
		break;
	}
	case RUN_EV_STARTED:
		r->program_pid = ev->pid;
		f[n++] = (struct status_field){ "pid", pid_s };
		emit(d, STATUS_PROGRAM_STARTED, f, n);
		d->ran++;
		break;
	case RUN_EV_FINISHED: {
		enum status_id id;
		switch (ev->outcome) {
		case RUNNER_SUCCEEDED:
			id = STATUS_PROGRAM_SUCCEEDED;
			break;
		case RUNNER_SUCCEEDED_REBOOT:
			id = STATUS_SUCCESS_REBOOT;
			break;
		case RUNNER_TIMED_OUT:
			id = STATUS_MAX_RUNTIME_EXCEEDED;
			break;
		case RUNNER_INTERRUPTED:
			id = STATUS_INTERRUPTED;
			break;
		default:
			id = STATUS_PROGRAM_FAILED;
			break;
		}
		f[n++] = (struct status_field){ "exit", ev->signal ? NULL : exit_s };
		f[n++] = (struct status_field){ "signal", ev->signal ? sig_s : NULL };
		f[n++] = (struct status_field){ "duration", dur };
		if (ev->output_dropped)
			f[n++] = (struct status_field){ "output_dropped", dropped };
		if (id != STATUS_PROGRAM_SUCCEEDED && id != STATUS_SUCCESS_REBOOT) {
			f[n++] = (struct status_field){ "reason", ev->reason };
			f[n++] = (struct status_field){ "output", ev->tail[0] ? ev->tail : NULL };
			d->failed++;
		}
		finish_run(d, r, result_of(ev->outcome), ev->signal ? -1 : ev->exit_code,
			   ev->signal, ev->duration_ms, ev->reason);
		emit(d, id, f, n);
		break;
	}
	}
}

static void read_events(struct daemon *d, struct active_run *r)
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

static void reap_children(struct daemon *d)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0)
			return;
		for (size_t i = 0; i < d->n_runs; i++)
			if (d->runs[i].pid == p)
				d->runs[i].exited = true;
	}
}

/* Drops runs whose process has exited and whose events have all been read. */
static void collect_runs(struct daemon *d)
{
	size_t k = 0;
	for (size_t i = 0; i < d->n_runs; i++) {
		struct active_run *r = &d->runs[i];
		if (r->exited && r->ev_fd < 0) {
			close(r->go_fd);
			undecide(d, r->advert_id);
			continue;
		}
		d->runs[k++] = *r;
	}
	d->n_runs = k;
}

/* --- scheduling ------------------------------------------------------------------- */

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
	default:
		return;
	}
	struct status_field f[] = { { "advert", a->id },
				    { "package", a->package.id },
				    { "program", a->program.name },
				    { "depends_on", a->program.depends_on },
				    { "reason", dec->reason } };
	emit(d, id, f, ARRAY_SIZE(f));
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
	own.first_seen = st ? st->first_seen : now;
	const struct schedule_history *dep =
		a->program.depends_on ? history_summary(d->hist, a->program.depends_on) : NULL;
	struct schedule_history dep_copy;
	if (dep) {
		dep_copy = *dep;
		dep_copy.running = daemon_run_of(d, a->program.depends_on) != NULL;
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
		start_run(d, items[start[i]].a);
	}
	free(items);
	free(start);
	return next;
}

/* Something changed for advert_id (a run ended, it was retried): it and whatever
 * depends on it are decided again at the next pass. */
static void undecide(struct daemon *d, const char *advert_id)
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
static void reload_config(struct daemon *d)
{
	notify("RELOADING=1");
	struct diag_list diags = { 0 };
	struct config *cfg = NULL;
	int r = config_load(d->opt->config_path, &cfg, &diags);
	if (r < 0 || diag_count(&diags, DIAG_ERROR)) {
		report_problems(d, &diags);
		log_error("%s has errors: keeping the running configuration", d->opt->config_path);
		config_free(cfg);
		diag_clear(&diags);
		notify("READY=1");
		return;
	}
	diag_clear(&diags);
	if (strcmp(cfg->state_dir, d->cfg->state_dir) != 0 ||
	    strcmp(cfg->control_socket, d->cfg->control_socket) != 0)
		log_warning("state_dir and control_socket changes take effect at the next start");
	if (strcmp(cfg->syslog.socket, d->cfg->syslog.socket) != 0 ||
	    strcmp(cfg->syslog.ident, d->cfg->syslog.ident) != 0 ||
	    cfg->syslog.facility != d->cfg->syslog.facility) {
		struct status_sink *s = NULL;
		if (status_open(cfg->syslog.socket, cfg->syslog.facility, cfg->syslog.ident,
				STATUS_QUEUE_MAX, &s) == 0) {
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
		return;
	}
	config_free(d->cfg);
	d->cfg = cfg;
	watch_directories(d);
	log_info("configuration reloaded from %s", d->opt->config_path);
	notify("READY=1");
}

/* One advertd per machine: a lock next to the control socket. The second one says who
 * holds it and leaves the first one's socket alone. Returns the lock's fd or -errno. */
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
	r = status_open(d->cfg->syslog.socket, d->cfg->syslog.facility, d->cfg->syslog.ident,
			STATUS_QUEUE_MAX, &d->status);
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
	watch_directories(d);
	load_received(d);
	load_catalog(d);
	struct status_field f[] = { { "version", PACKAGE_VERSION }, { "config", d->cfg->file } };
	emit(d, STATUS_DAEMON_STARTED, f, 2);
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
			reap_children(d);
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
			/* The run processes stop their programs (TERM, grace, KILL) and report
			 * them as interrupted. */
			for (size_t i = 0; i < d->n_runs; i++)
				kill(d->runs[i].pid, SIGTERM);
			break;
		}
	}
}

static void drain_inotify(struct daemon *d)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(d->ifd, buf, sizeof(buf)) > 0)
		d->reload = true;
}

static void teardown(struct daemon *d)
{
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
	for (size_t i = 0; i < d->n_states; i++) {
		free(d->states[i].id);
		free(d->states[i].signature);
	}
	free(d->states);
	free(d->state_slots);
	for (size_t i = 0; i < d->n_reported; i++)
		free(d->reported_problems[i]);
	free(d->reported_problems);
	free(d->runs);
	for (size_t i = 0; i < d->n_forced; i++)
		free(d->forced[i]);
	free(d->forced);
	if (d->ifd >= 0)
		close(d->ifd);
	if (d->sfd >= 0)
		close(d->sfd);
}

int daemon_main(const struct daemon_options *opt)
{
	struct daemon d = { .opt = opt, .sfd = -1, .ifd = -1, .lock_fd = -1 };
	if (setup(&d) < 0) {
		teardown(&d);
		return 1;
	}
	notify("READY=1");
	time_t next_rescan = time(NULL) + d.cfg->poll_interval;
	bool idle_once = false;
	for (;;) {
		time_t now = time(NULL);
		if (d.reload_config) {
			d.reload_config = false;
			reload_config(&d);
			d.reload = true;
		}
		if (d.reload || now >= next_rescan) {
			d.reload = false;
			load_catalog(&d);
			next_rescan = now + d.cfg->poll_interval;
		}
		bool any_due = false;
		time_t next = d.stopping ? now + 1 : schedule_pass(&d, &any_due);
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
		enum { P_SIGNAL, P_INOTIFY, P_STATUS, P_RUNS };
		size_t nfds = P_RUNS + d.n_runs + 1 + CONTROL_CLIENTS_MAX;
		struct pollfd *p = calloc(nfds, sizeof(*p));
		if (!p)
			break;
		p[P_SIGNAL] = (struct pollfd){ d.sfd, POLLIN, 0 };
		p[P_INOTIFY] = (struct pollfd){ d.ifd, POLLIN, 0 };
		p[P_STATUS] = (struct pollfd){ status_fd, POLLOUT, 0 };
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
			drain_inotify(&d);
		for (size_t i = 0; i < d.n_runs; i++)
			if (p[P_RUNS + i].revents && d.runs[i].ev_fd >= 0)
				read_events(&d, &d.runs[i]);
		if (d.control)
			control_dispatch(d.control, p + cbase, nc, daemon_command, &d);
		free(p);
		reap_children(&d);
		collect_runs(&d);
		if (status_queued(d.status))
			status_flush(d.status, time(NULL));
	}
	int rc = opt->once ? (d.failed ? 1 : 0) : 0;
	if (opt->once && idle_once)
		printf("advertd --once: %u program(s) ran, %u problem(s)\n", d.ran, d.failed);
	teardown(&d);
	return rc;
}

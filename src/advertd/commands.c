/* SPDX-License-Identifier: MIT */
/* What advertctl can ask the daemon: list, status, explain, run, history, identity,
 * reload. Replies are JSON objects; advertctl prints them for people or as they are.
 * Every string goes in through jstr(): names, paths and KDC messages are bytes from
 * files and servers, and a reply must be valid UTF-8 all the same. */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <signal.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "advert/dcloc.h"
#include "advert/lockout.h"
#include "advert/rfc3339.h"
#include "advert/textrec.h"
#include "advert/util.h"
#include "daemon-internal.h"

static struct json_object *jstr(const char *s)
{
	return control_json_string(s);
}

static struct json_object *jtime(time_t t)
{
	char buf[RFC3339_BUFSIZE];
	return t ? json_object_new_string(rfc3339_format(t, buf, sizeof(buf))) : NULL;
}

static void add(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static struct json_object *ok_reply(void)
{
	struct json_object *o = json_object_new_object();
	add(o, "ok", json_object_new_boolean(1));
	return o;
}

static const struct advert *find(struct daemon *d, const char *id)
{
	return d->cat ? catalog_find(d->cat, id) : NULL;
}

/* Why its latest attempt could not start, or NULL: when, which status message, why. */
static struct json_object *problem_json(struct daemon *d, const char *id)
{
	struct advert_state *st = daemon_state_of(d, id);
	if (!st || !st->problem.status)
		return NULL;
	struct json_object *p = json_object_new_object();
	add(p, "at", jtime(st->problem.at));
	add(p, "status", json_object_new_int(st->problem.status));
	add(p, "name", jstr(status_event_name((enum status_id)st->problem.status)));
	add(p, "reason", jstr(st->problem.reason));
	return p;
}

/* One advertisement's state as list and status show it. */
static struct json_object *summary(struct daemon *d, const struct advert *a, time_t now)
{
	struct json_object *o = json_object_new_object();
	const struct schedule_history *h = history_summary(d->hist, a->id);
	struct active_run *r = daemon_run_of(d, a->id);
	struct schedule_decision dec = daemon_decide(d, a, now);
	add(o, "id", jstr(a->id));
	add(o, "package", jstr(a->package.name));
	add(o, "program", jstr(a->program.name));
	add(o, "run_as", jstr(a->program.run_as));
	add(o, "rights", jstr(advert_rights_name(a->program.rights)));
	struct json_object *problem = r ? NULL : problem_json(d, a->id);
	/* Due, but its latest attempt could not start: that is what the admin must see. */
	add(o, "state",
	    jstr(r ? "running"
		 : problem && (dec.verdict == SCHED_DUE || dec.verdict == SCHED_WAIT)
			 ? "could-not-start"
			 : schedule_verdict_name(dec.verdict)));
	add(o, "last_problem", problem);
	add(o, "next_due",
	    dec.verdict == SCHED_DUE ? jtime(now)
				     : jtime(dec.verdict == SCHED_WAIT ? dec.when : 0));
	add(o, "last_result", h->ever_started ? jstr(run_result_name(h->last_result)) : NULL);
	add(o, "last_start", jtime(h->last_start));
	if (r) {
		add(o, "run", jstr(r->run_id[0] ? r->run_id : NULL));
		add(o, "pid", json_object_new_int(r->pid));
	}
	return o;
}

static struct json_object *cmd_list(struct daemon *d, time_t now)
{
	struct json_object *o = ok_reply(), *arr = json_object_new_array();
	for (size_t i = 0; d->cat && i < d->cat->n; i++)
		json_object_array_add(arr, summary(d, d->cat->items[i], now));
	add(o, "advertisements", arr);
	return o;
}

static struct json_object *strv_json(char *const *v)
{
	struct json_object *arr = json_object_new_array();
	for (; v && *v; v++)
		json_object_array_add(arr, jstr(*v));
	return arr;
}

static struct json_object *cmd_status(struct daemon *d, const struct advert *a, time_t now)
{
	struct json_object *o = ok_reply(), *s = summary(d, a, now);
	add(s, "file", jstr(a->file));
	add(s, "line", json_object_new_int(a->line));
	add(s, "package_id", jstr(a->package.id));
	add(s, "source", jstr(a->package.source));
	add(s, "command", strv_json(a->program.command));
	add(s, "rerun", jstr(advert_rerun_name(a->rerun)));
	add(s, "enabled", json_object_new_boolean(a->enabled));
	add(s, "max_runtime", json_object_new_int(a->program.max_runtime));
	const struct schedule_history *h = history_summary(d->hist, a->id);
	add(s, "ever_started", json_object_new_boolean(h->ever_started));
	add(s, "ever_succeeded", json_object_new_boolean(h->ever_succeeded));
	add(s, "last_end", jtime(h->last_end));
	add(o, "advertisement", s);
	return o;
}

static void add_run(void *data, const struct history_run *run)
{
	struct json_object *arr = data, *o = json_object_new_object();
	add(o, "run", jstr(run->run_id));
	add(o, "advert", jstr(run->advert_id));
	add(o, "account", jstr(run->account[0] ? run->account : NULL));
	add(o, "start", jtime(run->start));
	add(o, "end", run->ended ? jtime(run->end) : NULL);
	add(o, "result", run->ended ? jstr(run_result_name(run->result)) : jstr("running"));
	if (run->ended && run->signal)
		add(o, "signal", json_object_new_int(run->signal));
	else if (run->ended && run->result != RUN_INTERRUPTED)
		add(o, "exit", json_object_new_int(run->exit_code));
	if (run->duration_ms >= 0 && run->ended)
		add(o, "duration_ms", json_object_new_int64(run->duration_ms));
	add(o, "dc", jstr(run->dc[0] ? run->dc : NULL));
	add(o, "reason", jstr(run->reason[0] ? run->reason : NULL));
	json_object_array_add(arr, o);
}

/* t + secs, held at the ends of time_t instead of overflowing: since comes from a file
 * on disk and may say anything the parser accepts. */
static time_t time_add_sat(time_t t, long long secs)
{
	time_t r;
	if (__builtin_add_overflow(t, secs, &r))
		return secs < 0 ? UTIL_TIME_T_MIN : UTIL_TIME_T_MAX;
	return r;
}

/* The lockout guard's view of an account, read without taking its lock. */
/* An admin has checked what damage to the run history may have cost: ID (or every
 * advertisement, --all) is no longer held for it. */
static struct json_object *cmd_clear_damage(struct daemon *d, char **argv, int argc)
{
	char ex[CONTROL_EXCERPT_SIZE];
	bool all = argc == 2 && strcmp(argv[1], "--all") == 0;
	if (argc != 2)
		return control_error(CONTROL_USAGE, "usage: clear-damage ID|--all");
	if (!all && !find(d, argv[1]))
		return control_error(CONTROL_NOT_FOUND, "no advertisement \"%s\"",
				     control_excerpt(argv[1], ex));
	struct history_stats hs;
	history_get_stats(d->hist, &hs);
	if (!hs.damaged)
		return control_error(CONTROL_REFUSED, "the run history has no damage to clear");
	int r = history_clear_damage(d->hist, all ? NULL : argv[1]);
	if (r < 0)
		return control_error(CONTROL_FAILED, "cannot record it in the run history: %s",
				     strerror(-r));
	daemon_redecide_all(d);
	struct json_object *o = ok_reply();
	add(o, "cleared", jstr(all ? "--all" : argv[1]));
	return o;
}

static struct json_object *guard_json(struct daemon *d, const char *account, time_t now)
{
	struct json_object *o = json_object_new_object();
	char *path = NULL;
	struct lockout_state st = { 0 };
	int r = -ENOMEM;
	if (asprintf(&path, "%s/lockout/%s", d->cfg->state_dir, account) >= 0) {
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = fd < 0 ? (errno == ENOENT ? 0 : -errno) : lockout_read(fd, &st);
		if (fd >= 0)
			close(fd);
	}
	free(path);
	if (r == -EBADMSG) { /* the next run quarantines it and holds the secret */
		add(o, "outcome", jstr("damaged"));
		add(o, "holding",
		    jstr("the state file is damaged: nothing is sent until the "
			 "keytab or password file changes"));
		return o;
	}
	if (r < 0) {
		add(o, "error", jstr(strerror(-r)));
		return o;
	}
	add(o, "outcome", jstr(lockout_outcome_name(st.outcome)));
	if (st.outcome == LOCKOUT_NONE)
		return o;
	add(o, "since", jtime(st.since));
	add(o, "dc", jstr(st.dc));
	add(o, "message", jstr(st.message));
	add(o, "attempts", json_object_new_int64((int64_t)st.attempts)); /* unsigned: all of it */
	if (st.outcome == LOCKOUT_REJECTED || st.outcome == LOCKOUT_DAMAGED)
		add(o, "holding", jstr("until the keytab or password file changes"));
	else if (st.outcome == LOCKOUT_REVOKED || st.outcome == LOCKOUT_UNUSABLE ||
		 st.outcome == LOCKOUT_INFLIGHT) {
		time_t until = time_add_sat(st.since, d->cfg->lockout.backoff);
		if (until > now)
			add(o, "holding_until", jtime(until));
	}
	return o;
}

static struct json_object *account_json(struct daemon *d, const char *name, time_t now)
{
	struct json_object *o = json_object_new_object();
	add(o, "name", jstr(name));
	if (strcmp(name, "system") == 0) {
		add(o, "kind", jstr("system"));
		add(o, "principal", jstr(d->cfg->client_token.principal));
		add(o, "guard", guard_json(d, "system", now));
		return o;
	}
	const struct config_account *acct = config_find_account(d->cfg, name);
	if (!acct)
		return o;
	add(o, "kind",
	    jstr(acct->kind == ACCOUNT_KEYTAB     ? "keytab"
		 : acct->kind == ACCOUNT_PASSWORD ? "password-file"
						  : "local"));
	add(o, "principal", jstr(acct->principal));
	add(o, "local_user", jstr(acct->local_user));
	if (acct->kind != ACCOUNT_LOCAL)
		add(o, "guard", guard_json(d, name, now));
	return o;
}

/* Where a came from: its file, or the directory (live, or the cached set while no DC
 * answers, and since when). */
static struct json_object *source_json(struct daemon *d, const struct advert *a)
{
	struct json_object *o = json_object_new_object();
	add(o, "file", jstr(a->file));
	add(o, "line", json_object_new_int(a->line));
	if (!config_is_url(a->file))
		return o;
	const struct published_set *pub = daemon_published(d);
	bool cached = d->pub.offline_since || !d->pub.ok_at;
	add(o, "from", jstr(cached ? "cache" : "directory"));
	add(o, "dc", jstr(pub->dc));
	add(o, "verified", pub->verified ? jtime(pub->verified) : NULL);
	add(o, "checked", d->pub.ok_at ? jtime(d->pub.ok_at) : NULL);
	add(o, "polled_dc", d->pub.dc[0] ? jstr(d->pub.dc) : NULL);
	if (d->pub.offline_since) {
		add(o, "offline_since", jtime(d->pub.offline_since));
		add(o, "offline_reason", jstr(d->pub.why));
	}
	return o;
}

/* Why a is or is not due, and what a run would use. */
static struct json_object *explain_object(struct daemon *d, const struct advert *a, time_t now)
{
	struct json_object *e = json_object_new_object();
	struct schedule_decision dec = daemon_decide(d, a, now);
	struct active_run *r = daemon_run_of(d, a->id);
	add(e, "id", jstr(a->id));
	add(e, "run_as", jstr(a->program.run_as));
	add(e, "rights", jstr(advert_rights_name(a->program.rights)));
	add(e, "after_run", jstr(advert_after_run_name(a->program.after_run)));
	add(e, "when", jstr(advert_when_name(a->program.when)));
	if (a->program.depends_on)
		add(e, "wait_for_restart", json_object_new_boolean(a->program.wait_for_restart));
	if (a->program.when != ADV_WHEN_ANY) {
		/* Where the sessions came from, as the decision above saw them. */
		struct json_object *ses = json_object_new_object();
		add(ses, "source", jstr(d->sessions.error ? NULL : d->sessions.source));
		add(ses, "users",
		    d->sessions.error ? NULL : json_object_new_int64(d->sessions.users));
		add(e, "sessions", ses);
	}
	add(e, "source", source_json(d, a));
	if (a->targets) {
		struct why why;
		published_targeted(a, daemon_published(d), &why);
		add(e, "targeted", jstr(why.text));
	}
	add(e, "restart_pending", json_object_new_boolean(daemon_restart_pending(d, a->id)));
	add(e, "verdict", jstr(r ? "running" : schedule_verdict_name(dec.verdict)));
	add(e, "reason", jstr(dec.reason));
	add(e, "last_problem", r ? NULL : problem_json(d, a->id));
	add(e, "occurrence", jtime(dec.occurrence));
	add(e, "when", jtime(dec.when));
	add(e, "splay",
	    json_object_new_int64(schedule_splay(d->host, a->id, (uint32_t)d->cfg->splay)));
	struct json_object *sched = json_object_new_object();
	add(sched, "start",
	    a->schedule.has_start ? jtime(a->schedule.start) : jstr("as soon as possible"));
	add(sched, "expires", a->schedule.has_expires ? jtime(a->schedule.expires) : NULL);
	add(sched, "recur", json_object_new_int(a->schedule.recur));
	if (a->schedule.n_windows) {
		static const char *const days[] = {
			"sun", "mon", "tue", "wed", "thu", "fri", "sat"
		};
		struct json_object *wins = json_object_new_array();
		for (size_t i = 0; i < a->schedule.n_windows; i++) {
			const struct window *w = &a->schedule.windows[i];
			char text[96] = "";
			size_t n = 0;
			for (int k = 0; k < 7; k++)
				if (w->days & (1u << k))
					n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s",
							      n ? "," : "", days[k]);
			snprintf(text + n, sizeof(text) - n, " %02d:%02d for %d s", w->start / 60,
				 w->start % 60, w->duration);
			json_object_array_add(wins, jstr(text));
		}
		add(sched, "windows", wins);
	}
	add(e, "schedule", sched);
	add(e, "rerun", jstr(advert_rerun_name(a->rerun)));
	struct json_object *last = json_object_new_array();
	history_list(d->hist, a->id, 1, add_run, last);
	add(e, "last_run",
	    json_object_array_length(last) ? json_object_get(json_object_array_get_idx(last, 0))
					   : NULL);
	json_object_put(last);
	if (a->program.depends_on) {
		struct json_object *dep = json_object_new_object();
		const struct schedule_history *h = history_summary(d->hist, a->program.depends_on);
		add(dep, "id", jstr(a->program.depends_on));
		add(dep, "ever_succeeded", json_object_new_boolean(h->ever_succeeded));
		add(dep, "last_result",
		    h->ever_started ? jstr(run_result_name(h->last_result)) : NULL);
		add(e, "dependency", dep);
	}
	struct json_object *req = json_object_new_object();
	struct utsname u;
	uname(&u);
	add(req, "platforms", strv_json(a->program.platforms));
	add(req, "machine", jstr(u.machine));
	/* Free space is checked by the run itself, right before it: a statvfs here, in the
	 * event loop, could hang the daemon on a dead distribution point. */
	add(req, "working_dir",
	    jstr(a->program.working_dir ? a->program.working_dir : a->package.source));
	add(req, "min_free_mb", json_object_new_int64(a->program.min_free_mb));
	add(e, "requirements", req);
	add(e, "account", account_json(d, a->program.run_as, now));
	/* The DC a run would try first: the one that last worked, else the first listed. */
	struct json_object *dc = json_object_new_object();
	char *affinity = NULL;
	if (dcloc_affinity_load(d->cfg->state_dir, &affinity) == 0)
		add(dc, "affinity", jstr(affinity));
	free(affinity);
	struct json_object *servers = json_object_new_array();
	for (size_t i = 0; i < d->cfg->directory.n_servers; i++)
		json_object_array_add(servers, jstr(d->cfg->directory.servers[i].host));
	add(dc, "servers",
	    d->cfg->directory.n_servers ? servers : (json_object_put(servers), jstr("DNS SRV")));
	add(e, "dc", dc);
	return e;
}

static struct json_object *cmd_explain(struct daemon *d, const struct advert *a, time_t now)
{
	struct json_object *o = ok_reply();
	add(o, "explain", explain_object(d, a, now));
	return o;
}

/* explain --all: every advertisement, in catalog order. */
static struct json_object *cmd_explain_all(struct daemon *d, time_t now)
{
	struct json_object *o = ok_reply(), *all = json_object_new_array();
	for (size_t i = 0; d->cat && i < d->cat->n; i++)
		json_object_array_add(all, explain_object(d, d->cat->items[i], now));
	add(o, "explain", all);
	return o;
}

/* problems: every advertisement file or advertisement the latest load rejected (and its
 * warnings), as --check prints them. */
static struct json_object *cmd_problems(struct daemon *d)
{
	struct json_object *o = ok_reply(), *arr = json_object_new_array();
	for (size_t i = 0; i < d->problems.n; i++) {
		const struct diag *g = &d->problems.items[i];
		struct json_object *p = json_object_new_object();
		add(p, "file", jstr(g->file));
		add(p, "line", g->line ? json_object_new_int(g->line) : NULL);
		add(p, "level", jstr(g->level == DIAG_ERROR ? "error" : "warning"));
		add(p, "message", jstr(g->msg));
		json_object_array_add(arr, p);
	}
	add(o, "problems", arr);
	return o;
}

#define LOG_CHUNK (256 * 1024) /* of output per answer: a follower asks again */

/* log ID [RUN [OFFSET]]: a run's captured output (the latest run's without RUN), from
 * OFFSET, at most LOG_CHUNK of it; with whether the run has ended and how. */
static struct json_object *cmd_log(struct daemon *d, char **argv, int argc, char *ex)
{
	if (argc < 2 || argc > 4)
		return control_error(CONTROL_USAGE, "usage: log ID [RUN [OFFSET]]");
	const char *id = argv[1];
	if (!advert_id_valid(id))
		return control_error(CONTROL_USAGE, "\"%s\" is not an advertisement id",
				     control_excerpt(id, ex));
	/* The latest run, from memory: a follower asks often, the log need not be read. */
	struct history_run now = { 0 };
	bool any = history_latest(d->hist, id, &now);
	struct history_run l = now;
	if (argc >= 3) {
		const char *run = argv[2];
		if (run[0] != 'r' || !run[1] || strlen(run) >= HISTORY_RUN_ID_MAX ||
		    strspn(run + 1, "0123456789") != strlen(run + 1))
			return control_error(CONTROL_USAGE, "\"%s\" is not a run id",
					     control_excerpt(argv[2], ex));
		snprintf(l.run_id, sizeof(l.run_id), "%s", argv[2]);
	} else if (!any) {
		return control_error(CONTROL_NOT_FOUND, "\"%s\" has no run", id);
	}
	intmax_t from = 0;
	if (argc == 4 && textrec_parse_int(argv[3], false, 0, LLONG_MAX, &from) < 0)
		return control_error(CONTROL_USAGE, "\"%s\" is not an offset",
				     control_excerpt(argv[3], ex));
	/* Whether that run has ended: an older one has. */
	bool ended = !any || strcmp(now.run_id, l.run_id) != 0 || now.ended;

	char *path = NULL;
	if (asprintf(&path, "%s/%s/%s.log", d->cfg->log_dir, id, l.run_id) < 0)
		return control_error(CONTROL_FAILED, "out of memory");
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return control_error(CONTROL_NOT_FOUND, "no output of %s run %s (%s)", id, l.run_id,
				     errno == ENOENT ? "none kept: max_logs_per_advert"
						     : strerror(errno));
	char *buf = malloc(LOG_CHUNK + 1);
	ssize_t k = buf ? pread(fd, buf, LOG_CHUNK, (off_t)from) : -1;
	struct stat st;
	long long size = fstat(fd, &st) == 0 ? (long long)st.st_size : 0;
	close(fd);
	if (k < 0) {
		free(buf);
		return control_error(CONTROL_FAILED, "cannot read the output of %s", l.run_id);
	}
	/* A chunk ends on a character boundary: the next one starts where this one ends. */
	if (k == LOG_CHUNK) {
		ssize_t j = k;
		while (j > 0 && k - j < 4 && ((unsigned char)buf[j - 1] & 0xc0) == 0x80)
			j--;
		unsigned char lead = j > 0 ? (unsigned char)buf[j - 1] : 0;
		ssize_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
		if (j > 0 && j - 1 + need > k)
			k = j - 1;
	}
	struct json_object *o = ok_reply();
	add(o, "advert", jstr(id));
	add(o, "run", jstr(l.run_id));
	add(o, "offset", json_object_new_int64(from));
	add(o, "next", json_object_new_int64(from + k));
	add(o, "size", json_object_new_int64(size));
	add(o, "output", control_json_bytes(buf, (size_t)k));
	add(o, "ended", json_object_new_boolean(ended));
	if (ended && any && strcmp(now.run_id, l.run_id) == 0)
		add(o, "result", jstr(run_result_name(now.result)));
	free(buf);
	return o;
}

/* stop ID: ends a running program now, as SIGTERM to advertd would (TERM to every
 * process of the run, kill_grace, KILL); recorded as interrupted. Root only. */
static struct json_object *cmd_stop(struct daemon *d, const char *id, struct active_run *r,
				    char *ex)
{
	if (!r)
		return control_error(CONTROL_REFUSED, "\"%s\" is not running",
				     control_excerpt(id, ex));
	if (!r->stop_requested && kill(r->pid, SIGTERM) < 0)
		return control_error(CONTROL_FAILED, "cannot stop \"%s\": %s", id, strerror(errno));
	r->stop_requested = true;
	struct json_object *o = ok_reply();
	add(o, "stopping", jstr(r->advert_id));
	add(o, "run", jstr(r->run_id[0] ? r->run_id : NULL));
	add(o, "kill_grace", json_object_new_int(d->cfg->kill_grace));
	return o;
}

/* A program still running whose advertisement was withdrawn: it runs to its end (an
 * installer cut short is worse than one that finishes), and status says so. */
static struct json_object *withdrawn_status(const struct active_run *r)
{
	struct json_object *o = ok_reply(), *s = json_object_new_object();
	add(s, "id", jstr(r->advert_id));
	add(s, "state", jstr("running"));
	add(s, "withdrawn", json_object_new_boolean(true));
	add(s, "note",
	    jstr("its advertisement was withdrawn: this run finishes, no other "
		 "starts (advertctl stop ends it now)"));
	add(s, "run", jstr(r->run_id[0] ? r->run_id : NULL));
	add(s, "pid", json_object_new_int(r->pid));
	add(o, "advertisement", s);
	return o;
}

/* "no advertisement X", and where it went when the latest load rejected it. */
static struct json_object *not_found(struct daemon *d, const char *id, char *ex)
{
	const struct catalog_untargeted *u = d->cat ? catalog_find_untargeted(d->cat, id) : NULL;
	if (u)
		return control_error(
			CONTROL_NOT_FOUND, "advertisement \"%s\" (%s:%d) is not for this host: %s",
			control_excerpt(id, ex), u->advert->file, u->advert->line, u->why.text);
	char quoted[ADV_ID_MAX + 3];
	snprintf(quoted, sizeof(quoted), "\"%s\"", id);
	for (size_t i = 0; i < d->problems.n; i++) {
		const struct diag *g = &d->problems.items[i];
		if (g->level == DIAG_ERROR && strstr(g->msg, quoted))
			return control_error(
				CONTROL_NOT_FOUND, "no advertisement \"%s\": rejected at %s:%d: %s",
				control_excerpt(id, ex), g->file ? g->file : "?", g->line, g->msg);
	}
	size_t errors = diag_count(&d->problems, DIAG_ERROR);
	if (errors)
		return control_error(CONTROL_NOT_FOUND,
				     "no advertisement \"%s\" (%zu problem(s) in the advertisement "
				     "files: advertctl problems)",
				     control_excerpt(id, ex), errors);
	return control_error(CONTROL_NOT_FOUND, "no advertisement \"%s\"", control_excerpt(id, ex));
}

static struct json_object *cmd_history(struct daemon *d, char **argv, int argc)
{
	char ex[CONTROL_EXCERPT_SIZE];
	const char *id = NULL;
	long n = 20;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			char *end;
			n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 100000)
				return control_error(CONTROL_USAGE,
						     "-n takes a number from 1 to 100000");
		} else if (!id) {
			id = argv[i];
		} else {
			return control_error(CONTROL_USAGE, "usage: history [ID] [-n N]");
		}
	}
	if (id && !find(d, id) && !history_summary(d->hist, id)->ever_started)
		return control_error(CONTROL_NOT_FOUND, "no advertisement \"%s\"",
				     control_excerpt(id, ex));
	struct json_object *o = ok_reply(), *arr = json_object_new_array();
	int r = history_list(d->hist, id, (size_t)n, add_run, arr);
	if (r < 0) {
		json_object_put(o);
		json_object_put(arr);
		return control_error(CONTROL_FAILED, "cannot read the history: %s", strerror(-r));
	}
	add(o, "runs", arr);
	return o;
}

struct json_object *daemon_command(void *data, enum control_perm perm, char **argv, int argc)
{
	struct daemon *d = data;
	time_t now = time(NULL);
	const char *cmd = argv[0];
	char ex[CONTROL_EXCERPT_SIZE];
	if (strcmp(cmd, "ping") == 0)
		return ok_reply();
	if (strcmp(cmd, "list") == 0)
		return argc == 1 ? cmd_list(d, now) : control_error(CONTROL_USAGE, "usage: list");
	if (strcmp(cmd, "history") == 0)
		return cmd_history(d, argv, argc);
	if (strcmp(cmd, "reload") == 0) {
		struct why why;
		if (daemon_reload_config(d, &why) < 0)
			return control_error(CONTROL_FAILED, "%s", why.text);
		struct json_object *o = ok_reply();
		add(o, "reloaded", jstr(d->opt->config_path));
		add(o, "note", jstr(why.text[0] ? why.text : NULL));
		return o;
	}
	if (strcmp(cmd, "clear-damage") == 0)
		return cmd_clear_damage(d, argv, argc);
	if (strcmp(cmd, "problems") == 0)
		return cmd_problems(d);
	if (strcmp(cmd, "log") == 0)
		return cmd_log(d, argv, argc, ex);
	if (strcmp(cmd, "explain") == 0 && argc == 2 && strcmp(argv[1], "--all") == 0)
		return cmd_explain_all(d, now);
	if (argc != 2)
		return control_error(CONTROL_USAGE, "usage: %s %s", cmd,
				     strcmp(cmd, "identity") == 0 ? "ACCOUNT" : "ID");
	if (strcmp(cmd, "identity") == 0) {
		if (strcmp(argv[1], "system") != 0 && !config_find_account(d->cfg, argv[1]))
			return control_error(CONTROL_NOT_FOUND, "no account \"%s\" in advertd.conf",
					     control_excerpt(argv[1], ex));
		struct json_object *o = ok_reply();
		add(o, "account", account_json(d, argv[1], now));
		return o;
	}
	const struct advert *a = find(d, argv[1]);
	struct active_run *running = daemon_run_of(d, argv[1]);
	if (strcmp(cmd, "stop") == 0)
		return cmd_stop(d, argv[1], running, ex);
	if (!a && running && strcmp(cmd, "status") == 0)
		return withdrawn_status(running);
	if (!a)
		return not_found(d, argv[1], ex);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(d, a, now);
	if (strcmp(cmd, "explain") == 0)
		return cmd_explain(d, a, now);
	if (strcmp(cmd, "run") == 0) {
		if (daemon_run_of(d, a->id))
			return control_error(CONTROL_REFUSED, "\"%s\" is already running", a->id);
		if (!a->enabled)
			return control_error(CONTROL_REFUSED,
					     "\"%s\" is disabled (enabled = false)", a->id);
		if (d->stopping)
			return control_error(CONTROL_REFUSED, "advertd is stopping");
		if (daemon_force_run(d, a->id) < 0)
			return control_error(CONTROL_FAILED, "out of memory");
		struct json_object *o = ok_reply();
		add(o, "queued", jstr(a->id));
		add(o, "last_problem", problem_json(d, a->id));
		return o;
	}
	(void)perm;
	return control_error(CONTROL_USAGE, "unknown command \"%s\"", control_excerpt(cmd, ex));
}

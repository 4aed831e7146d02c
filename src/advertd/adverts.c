/* SPDX-License-Identifier: MIT */
/* The daemon's side of the catalog: the per-advertisement states, what was announced
 * ("received", once per definition), the problems reported once each, the directory
 * watches, and loading the catalog again. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "advert/config.h"
#include "advert/history.h"
#include "advert/log.h"
#include "advert/pubpoll.h"
#include "advert/runner.h"
#include "advert/status.h"
#include "advert/textrec.h"
#include "advert/util.h"
#include "daemon-internal.h"
#include "run.h"

/* --- advertisement states ------------------------------------------------------- */

static uint64_t id_hash(const char *id)
{
	return util_fnv1a(UTIL_FNV_OFFSET, id, strlen(id));
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

void daemon_state_clear(struct advert_state *st)
{
	free(st->id);
	free(st->signature);
	free(st->problem.reason);
}

/* A signature that changes when the advertisement's definition has changed, not when
 * its file was only touched or reformatted; one from the directory says so. */
#define SIGNATURE_PUBLISHED "@ldap"
static char *signature(const struct advert *a)
{
	char *s = NULL;
	if (asprintf(&s, "digest:%016" PRIx64 "%s", advert_digest(a),
		     config_is_url(a->file) ? SIGNATURE_PUBLISHED : "") < 0)
		return NULL;
	return s;
}

/* Whether the advertisement whose signature is sig came from the directory. */
static bool published_signature(const char *sig)
{
	size_t n = strlen(sig), k = strlen(SIGNATURE_PUBLISHED);
	return n >= k && strcmp(sig + n - k, SIGNATURE_PUBLISHED) == 0;
}

static bool already_reported(const struct daemon *d, uint64_t h)
{
	for (size_t i = 0; i < d->n_reported; i++)
		if (d->reported_problems[i] == h)
			return true;
	return false;
}

/* Reports each new problem once, across restarts too (reported.c keeps their digests);
 * forgets those that went away. */
void daemon_report_problems(struct daemon *d, const struct diag_list *diags)
{
	uint64_t *now = calloc(diags->n + 1, sizeof(*now));
	size_t n = 0;
	for (size_t i = 0; now && i < diags->n; i++) {
		const struct diag *g = &diags->items[i];
		char line[16];
		snprintf(line, sizeof(line), "%d", g->line);
		char *text = NULL;
		if (asprintf(&text, "%s:%d:%s", g->file ? g->file : "", g->line, g->msg) < 0)
			continue;
		uint64_t h = util_fnv1a(UTIL_FNV_OFFSET, text, strlen(text));
		free(text);
		if (!already_reported(d, h)) {
			struct status_field f[] = { { "advert", g->advert },
						    { "file", g->file },
						    { "line", g->line ? line : NULL },
						    { "reason", g->msg } };
			emit(d, STATUS_FILE_REJECTED, f, ARRAY_SIZE(f));
			/* At the level --check gives it: an error is not a warning. */
			if (g->level == DIAG_ERROR)
				log_error("%s:%d: error: %s", g->file ? g->file : "?", g->line,
					  g->msg);
			else
				log_warning("%s:%d: %s", g->file ? g->file : "?", g->line, g->msg);
			d->reported_dirty = true;
		}
		now[n++] = h;
	}
	if (!now)
		return;
	if (n != d->n_reported)
		d->reported_dirty = true;
	free(d->reported_problems);
	d->reported_problems = now;
	d->n_reported = n;
}

/* --- what was announced ------------------------------------------------------------
 * "Advertisement received" is said once per new or changed advertisement, not again at
 * every start: state_dir/received keeps "id +first-seen signature" lines (the daemon
 * holds the single-instance lock, so it is the only writer). first-seen, when this host
 * first received the advertisement, anchors the occurrences of one that recurs without a
 * schedule.start; lines written before it was kept ("id signature") still load. */

void daemon_load_received(struct daemon *d)
{
	FILE *f = daemon_state_open(d, "received");
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
		char *sig = sp + 1;
		long long seen = 0;
		if (sig[0] == '+') {
			char *end;
			errno = 0;
			seen = strtoll(sig + 1, &end, 10);
			if (errno || *end != ' ' || seen <= 0)
				continue;
			sig = end + 1;
		}
		struct advert_state *st = daemon_state_of(d, line);
		if (st && !st->signature) {
			st->signature = strdup(sig);
			if (seen > 0 && seen <= (long long)time(NULL))
				st->first_seen = (time_t)seen;
		}
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
			fprintf(m, "%s +%lld %s\n", d->states[i].id,
				(long long)d->states[i].first_seen, d->states[i].signature);
	if (fclose(m) != 0) {
		free(buf);
		return;
	}
	if (daemon_state_write(d, "received", buf, len) < 0)
		log_debug("cannot record announced advertisements in %s", d->cfg->state_dir);
	free(buf);
}

/* --- loading ---------------------------------------------------------------------- */

/* Beyond this many names before a load, reading everything costs about the same. */
#define CATALOG_CHANGED_MAX 512

static void forget_changes(struct daemon *d)
{
	for (size_t i = 0; i < d->n_changed; i++)
		free(d->changed[i]);
	free(d->changed);
	d->changed = NULL;
	d->n_changed = 0;
}

void daemon_unwatch(struct daemon *d)
{
	for (size_t i = 0; i < d->n_watches; i++)
		free(d->watches[i].dir);
	free(d->watches);
	d->watches = NULL;
	d->n_watches = 0;
	forget_changes(d);
	if (d->ifd >= 0)
		close(d->ifd);
	d->ifd = -1;
}

void daemon_watch_directories(struct daemon *d)
{
	daemon_unwatch(d);
	d->rescan = true; /* what happened while nothing watched is unknown */
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ifd < 0) {
		log_warning_errno(-errno, "inotify: changes are seen every %d s only",
				  d->cfg->poll_interval);
		return;
	}
	d->watches = calloc(d->cfg->n_advertisements + 1, sizeof(*d->watches));
	for (size_t i = 0; d->watches && i < d->cfg->n_advertisements; i++) {
		/* A directory is watched itself; a file through the directory holding it,
		 * so that replacing it by rename is seen too. */
		const char *p = d->cfg->advertisements[i];
		struct stat st;
		char *dir = strdup(p);
		bool is_dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
		if (dir && !is_dir) {
			char *slash = strrchr(dir, '/');
			if (slash)
				slash[slash == dir] = '\0';
		}
		int wd = dir ? inotify_add_watch(d->ifd, dir,
						 IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
							 IN_DELETE | IN_CREATE | IN_ATTRIB)
			     : -1;
		if (wd < 0) {
			log_debug("inotify on %s: %s", dir ? dir : p, strerror(errno));
			free(dir);
			continue;
		}
		d->watches[d->n_watches++] = (struct dir_watch){ wd, dir, is_dir };
	}
}

/* What one event means for the next load: names to read again, or everything. */
static void note_event(struct daemon *d, const struct inotify_event *ev)
{
	d->reload = true;
	/* Lost events, the directory itself (its mode, say), a watch gone: read everything. */
	if ((ev->mask & IN_Q_OVERFLOW) || ev->len == 0 || !ev->name[0]) {
		d->rescan = true;
		return;
	}
	bool known = false;
	for (size_t i = 0; !d->rescan && i < d->n_watches; i++) {
		const struct dir_watch *w = &d->watches[i];
		if (w->wd != ev->wd)
			continue;
		known = true;
		char **v = w->is_dir && d->n_changed < CATALOG_CHANGED_MAX
				   ? reallocarray(d->changed, d->n_changed + 1, sizeof(*v))
				   : NULL;
		if (!v) { /* a configured file's directory, too many names, or ENOMEM */
			d->rescan = true;
			break;
		}
		d->changed = v;
		if (asprintf(&v[d->n_changed], "%s/%s", w->dir, ev->name) < 0)
			d->rescan = true;
		else
			d->n_changed++;
	}
	if (!known)
		d->rescan = true;
}

void daemon_read_inotify(struct daemon *d)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;
	while ((len = read(d->ifd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= len;) {
			const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
			note_event(d, ev);
			off += (ssize_t)sizeof(*ev) + ev->len;
		}
	}
	if (d->rescan)
		forget_changes(d);
}

void daemon_load_catalog(struct daemon *d)
{
	struct diag_list diags = { 0 };
	const char **names = calloc(d->cfg->n_accounts + 1, sizeof(*names));
	for (size_t i = 0; names && i < d->cfg->n_accounts; i++)
		names[i] = d->cfg->accounts[i].name;
	struct catalog_context acc = { names, d->cfg->n_accounts, daemon_published(d) };
	struct catalog *cat = NULL;
	/* Only new or changed files are parsed again; the checks across files rerun. With
	 * inotify's names, only those are looked at (the update reads everything when it
	 * cannot be sure); else every file is, for its identity and its trust. */
	struct catalog_reload_stats rs;
	const char *const *paths = (const char *const *)d->cfg->advertisements;
	int r = d->rescan || !d->cat ? catalog_reload(d->cat, paths, d->cfg->n_advertisements, &acc,
						      &cat, &diags, &rs)
				     : catalog_update(d->cat, paths, d->cfg->n_advertisements, &acc,
						      (const char *const *)d->changed, d->n_changed,
						      &cat, &diags, &rs);
	free(names);
	forget_changes(d);
	d->rescan = false;
	if (r < 0) {
		log_error_errno(r, "cannot load the advertisements; keeping the previous ones");
		d->rescan = true; /* the names it was given are forgotten */
		diag_clear(&diags);
		return;
	}
	daemon_report_problems(d, &diags);
	d->rejected = diag_count(&diags, DIAG_ERROR);
	diag_clear(&d->problems);
	if (diag_move(&d->problems, &diags) < 0)
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
		/* With no verified set yet (none cached, or a damaged one), the directory's
		 * advertisements are unknown, not withdrawn: they stay until a DC says. */
		if (!st->seen && st->signature && !d->pub.have_set &&
		    published_signature(st->signature) && pubpoll_wanted(d->cfg))
			continue;
		if (!st->seen && st->signature) {
			const struct catalog_untargeted *u = catalog_find_untargeted(cat, st->id);
			char reason[UTIL_WHY_MAX + 40];
			snprintf(reason, sizeof(reason), "not targeted at this host: %s",
				 u ? u->why.text : "");
			struct status_field f[] = {
				{ "advert", st->id },
				{ "reason",
				  u ? reason : "no longer in any valid advertisement file" }
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

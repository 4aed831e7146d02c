/* SPDX-License-Identifier: MIT */
/* Run history: one append-only log of checksummed text records (histrec.c), made
 * durable before a program starts and after it ends, read back into per-advertisement
 * summaries, and compacted by an atomic rewrite (histcompact.c) that keeps what "never
 * rerun" depends on forever. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/history.h"
#include "advert/textrec.h"
#include "advert/util.h"
#include "history-internal.h"

static void damaged_line(void *data, const char *line, size_t len)
{
	struct history *h = data;
	h->damage_epoch++;
	for (size_t i = 0; line && i + 5 < len; i++) {
		if ((i == 0 || line[i - 1] == ' ') && memcmp(line + i, "run=r", 5) == 0) {
			uint64_t v = 0;
			size_t k = i + 5;
			while (k < len && line[k] >= '0' && line[k] <= '9' &&
			       v < HISTORY_SEQ_MAX / 10)
				v = v * 10 + (uint64_t)(line[k++] - '0');
			if (v > 0 && v < HISTORY_SEQ_MAX)
				hist_seen_seq(h, v);
		}
	}
}

static int load_record(void *data, const struct rec *r, uint64_t off, size_t len)
{
	struct history *h = data;
	if (r->kind == REC_SEQ || r->kind == REC_DAMAGE || r->kind == REC_CLEAR_ALL) {
		hist_apply(h, NULL, r);
		return 0;
	}
	struct entry *e = hist_get_entry(h, r->advert_id);
	if (!e || hist_reserve_open(h) < 0)
		return -ENOMEM;
	hist_apply(h, e, r);
	return 0;
}

/* --- writing ------------------------------------------------------------------------- */

/* Appends sealed records and makes them durable. On failure the log is cut back to its
 * valid length (or will be before the next append), so a half-written record can never
 * glue itself to the next one. */
int hist_append(struct history *h, const char *data, size_t len, size_t records)
{
	if (h->write_error)
		return h->write_error;
	if (h->tail_dirty) {
		if (ftruncate(h->fd, (off_t)h->end) < 0)
			return -errno;
		h->tail_dirty = false;
	}
	int r = textrec_write_all(h->fd, data, len);
	if (r == 0 && fdatasync(h->fd) < 0)
		r = -errno;
	if (r < 0) {
		/* After a failed fdatasync the record may still reach the disk; if it does,
		 * the next start reconciles it as interrupted: at most once, never twice. */
		if (ftruncate(h->fd, (off_t)h->end) < 0)
			h->tail_dirty = true;
		return r;
	}
	h->end += len;
	h->stats.records += records;
	return 0;
}

void hist_run_id_of(uint64_t seq, char id[HISTORY_RUN_ID_MAX])
{
	snprintf(id, HISTORY_RUN_ID_MAX, "r%08" PRIu64, seq);
}

int history_begin(struct history *h, const char *advert_id, const char *account, const char *dc,
		  time_t now, char ret_run_id[HISTORY_RUN_ID_MAX])
{
	if (strlen(advert_id) > ADV_ID_MAX || !advert_id_valid(advert_id))
		return -EINVAL;
	if (h->write_error)
		return h->write_error;
	struct entry *e = hist_lookup(h, advert_id);
	if (e && e->sum.running)
		return -EBUSY;
	if (h->next_seq >= HISTORY_SEQ_MAX)
		return -EOVERFLOW; /* never wrap around to an id already used */
	/* Memory first: once the record is durable nothing may fail. */
	e = hist_get_entry(h, advert_id);
	if (!e || hist_reserve_open(h) < 0)
		return -ENOMEM;
	e->sum.damaged = hist_held(h, e);

	struct rec *rec = calloc(1, sizeof(*rec));
	struct line *l = malloc(sizeof(*l));
	int r = rec && l ? 0 : -ENOMEM;
	if (r == 0) {
		/* Taken even if the append fails: a record that reached the disk anyway must
		 * not share its id with the next run. */
		rec->kind = REC_START;
		rec->seq = h->next_seq++;
		snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", advert_id);
		rec->time = now;
		snprintf(rec->boot_id, sizeof(rec->boot_id), "%s", h->boot_id);
		snprintf(rec->account, sizeof(rec->account), "%s", account ? account : "");
		snprintf(rec->dc, sizeof(rec->dc), "%s", dc ? dc : "");
		r = histrec_format(rec, l);
	}
	if (r == 0)
		r = hist_append(h, l->data, l->len, 1);
	if (r == 0) {
		hist_apply(h, e, rec);
		hist_run_id_of(rec->seq, ret_run_id);
	}
	free(rec);
	free(l);
	return r;
}

/* The end record of an open run. */
static void end_rec(const struct history *h, const struct open_run *o, enum run_result result,
		    int exit_code, int signal, long duration_ms, const char *dc, const char *reason,
		    time_t now, struct rec *rec)
{
	*rec = (struct rec){ .kind = REC_END,
			     .seq = o->seq,
			     .start = o->start,
			     .time = now,
			     .result = result,
			     .exit_code = exit_code,
			     .signal = signal,
			     .duration_ms = duration_ms < -1 ? -1 : duration_ms };
	snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", h->entries[o->entry]->id);
	snprintf(rec->boot_id, sizeof(rec->boot_id), "%s", o->boot_id);
	snprintf(rec->dc, sizeof(rec->dc), "%s", dc && *dc ? dc : o->dc);
	snprintf(rec->account, sizeof(rec->account), "%s", o->account);
	snprintf(rec->reason, sizeof(rec->reason), "%s", reason ? reason : "");
}

int history_end(struct history *h, const char *run_id, enum run_result result, int exit_code,
		int signal, long duration_ms, const char *dc, const char *reason, time_t now)
{
	if (result == RUN_NONE || (unsigned)result > RUN_NOT_STARTED)
		return -EINVAL;
	uint64_t seq;
	if (!histrec_parse_run_id(run_id, &seq))
		return -ENOENT;
	struct open_run *o = hist_find_open(h, seq);
	if (!o)
		return -ENOENT;
	struct entry *e = h->entries[o->entry];
	struct rec *rec = malloc(sizeof(*rec));
	struct line *l = malloc(sizeof(*l));
	int r = rec && l ? 0 : -ENOMEM;
	if (r == 0) {
		end_rec(h, o, result, exit_code, signal, duration_ms, dc, reason, now, rec);
		r = histrec_format(rec, l);
	}
	if (r == 0)
		r = hist_append(h, l->data, l->len, 1);
	if (r == 0)
		hist_apply(h, e, rec);
	free(rec);
	free(l);
	return r;
}

static int cmp_open(const void *a, const void *b)
{
	const struct open_run *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *interrupted_why(const struct history *h, const struct open_run *o,
				   bool *ret_other_boot)
{
	bool known = o->boot_id[0] && h->boot_id[0];
	*ret_other_boot = known && strcmp(o->boot_id, h->boot_id) != 0;
	if (!known)
		return "interrupted: its end was never recorded";
	return *ret_other_boot ? "interrupted: the system restarted during the run"
			       : "interrupted: advertd stopped during the run";
}

int history_reconcile(struct history *h, time_t now,
		      void (*cb)(void *data, const struct history_run *run), void *data)
{
	if (h->n_opens == 0)
		return 0;
	if (h->write_error)
		return h->write_error;
	qsort(h->opens, h->n_opens, sizeof(*h->opens), cmp_open);

	/* All the ends in one write and one fdatasync: after a crash with many runs open,
	 * start-up should not wait for one disk flush each. */
	struct rec *rec = malloc(sizeof(*rec));
	struct line *l = malloc(sizeof(*l));
	struct history_run *run = malloc(sizeof(*run));
	char *batch = NULL;
	size_t len = 0, cap = 0;
	int r = rec && l && run ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < h->n_opens; i++) {
		bool other_boot;
		const char *why = interrupted_why(h, &h->opens[i], &other_boot);
		end_rec(h, &h->opens[i], RUN_INTERRUPTED, 0, 0, -1, NULL, why, now, rec);
		r = histrec_format(rec, l);
		if (r == 0 && len + l->len > cap) {
			size_t ncap = cap ? 2 * cap : 8192;
			while (ncap < len + l->len)
				ncap *= 2;
			char *n = realloc(batch, ncap);
			if (n) {
				batch = n;
				cap = ncap;
			} else {
				r = -ENOMEM;
			}
		}
		if (r == 0) {
			memcpy(batch + len, l->data, l->len);
			len += l->len;
		}
	}
	/* A copy to walk: the callback may begin new runs. */
	size_t n = h->n_opens;
	struct open_run *done = r == 0 ? malloc(n * sizeof(*done)) : NULL;
	if (r == 0 && !done)
		r = -ENOMEM;
	if (r == 0) {
		memcpy(done, h->opens, n * sizeof(*done));
		r = hist_append(h, batch, len, n);
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct open_run o = done[i];
		bool other_boot;
		const char *why = interrupted_why(h, &o, &other_boot);
		end_rec(h, &o, RUN_INTERRUPTED, 0, 0, -1, NULL, why, now, rec);
		hist_apply(h, h->entries[o.entry], rec); /* drops it from the open runs */
		*run = (struct history_run){ .start = o.start,
					     .ended = true,
					     .end = now,
					     .result = RUN_INTERRUPTED,
					     .duration_ms = -1,
					     .other_boot = other_boot };
		hist_run_id_of(o.seq, run->run_id);
		snprintf(run->advert_id, sizeof(run->advert_id), "%s", h->entries[o.entry]->id);
		snprintf(run->account, sizeof(run->account), "%s", o.account);
		snprintf(run->boot_id, sizeof(run->boot_id), "%s", o.boot_id);
		snprintf(run->dc, sizeof(run->dc), "%s", o.dc);
		snprintf(run->reason, sizeof(run->reason), "%s", why);
		if (cb)
			cb(data, run);
	}
	free(done);
	free(batch);
	free(run);
	free(l);
	free(rec);
	return r;
}

int history_clear_damage(struct history *h, const char *advert_id)
{
	if (advert_id && (strlen(advert_id) > ADV_ID_MAX || !advert_id_valid(advert_id)))
		return -EINVAL;
	if (!hist_held(h, advert_id ? hist_lookup(h, advert_id) : NULL) && advert_id)
		return 0;
	struct entry *e = advert_id ? hist_get_entry(h, advert_id) : NULL;
	if (advert_id && !e)
		return -ENOMEM;
	struct rec rec = { .kind = advert_id ? REC_CLEAR : REC_CLEAR_ALL };
	if (advert_id)
		snprintf(rec.advert_id, sizeof(rec.advert_id), "%s", advert_id);
	struct line *l = malloc(sizeof(*l));
	int r = l ? histrec_format(&rec, l) : -ENOMEM;
	if (r == 0)
		r = hist_append(h, l->data, l->len, 1);
	free(l);
	if (r < 0)
		return r;
	if (e)
		e->cleared = h->damage_epoch;
	else
		h->cleared_all = h->damage_epoch;
	hist_refresh_damage(h);
	h->stats.damaged = h->damage_epoch > h->cleared_all;
	return 0;
}

const struct schedule_history *history_summary(const struct history *h, const char *advert_id)
{
	const struct entry *e = hist_lookup(h, advert_id);
	return e ? &e->sum : &h->empty;
}

/* --- listing ----------------------------------------------------------------------------- */

struct list_ctx {
	const char *advert_id;
	size_t max;
	struct history_run *runs; /* ascending by run sequence, at most max */
	uint64_t *seqs;
	size_t n, cap;
};

static int list_record(void *data, const struct rec *r, uint64_t off, size_t len)
{
	struct list_ctx *c = data;
	if (r->kind != REC_START && r->kind != REC_END)
		return 0;
	if (c->advert_id && strcmp(c->advert_id, r->advert_id) != 0)
		return 0;

	/* Find the run, or where it would go. */
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->seqs[mid] < r->seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	struct history_run *run;
	if (lo < c->n && c->seqs[lo] == r->seq) {
		run = &c->runs[lo];
	} else {
		if (c->n == c->max) {
			if (lo == 0)
				return 0; /* older than every run kept */
			/* Drop the oldest to make room. */
			memmove(c->runs, c->runs + 1, (lo - 1) * sizeof(*c->runs));
			memmove(c->seqs, c->seqs + 1, (lo - 1) * sizeof(*c->seqs));
			lo--;
		} else {
			if (c->n == c->cap) {
				size_t cap = c->cap ? 2 * c->cap : 16;
				if (cap > c->max)
					cap = c->max;
				struct history_run *nr = realloc(c->runs, cap * sizeof(*nr));
				if (!nr)
					return -ENOMEM;
				c->runs = nr;
				uint64_t *ns = realloc(c->seqs, cap * sizeof(*ns));
				if (!ns)
					return -ENOMEM;
				c->seqs = ns;
				c->cap = cap;
			}
			memmove(c->runs + lo + 1, c->runs + lo, (c->n - lo) * sizeof(*c->runs));
			memmove(c->seqs + lo + 1, c->seqs + lo, (c->n - lo) * sizeof(*c->seqs));
			c->n++;
		}
		run = &c->runs[lo];
		c->seqs[lo] = r->seq;
		*run = (struct history_run){ .duration_ms = -1 };
		hist_run_id_of(r->seq, run->run_id);
		snprintf(run->advert_id, sizeof(run->advert_id), "%s", r->advert_id);
	}
	snprintf(run->account, sizeof(run->account), "%s", r->account);
	if (r->kind == REC_START) {
		run->start = r->time;
		snprintf(run->boot_id, sizeof(run->boot_id), "%s", r->boot_id);
		if (!run->ended)
			snprintf(run->dc, sizeof(run->dc), "%s", r->dc);
	} else {
		if (r->start)
			run->start = r->start;
		run->ended = true;
		run->end = r->time;
		run->result = r->result;
		run->exit_code = r->exit_code;
		run->signal = r->signal;
		run->duration_ms = r->duration_ms;
		snprintf(run->dc, sizeof(run->dc), "%s", r->dc);
		snprintf(run->reason, sizeof(run->reason), "%s", r->reason);
	}
	return 0;
}

int history_list(const struct history *h, const char *advert_id, size_t max,
		 void (*cb)(void *data, const struct history_run *run), void *data)
{
	if (max == 0 || h->fd < 0)
		return 0;
	struct list_ctx c = { .advert_id = advert_id, .max = max };
	int r = histrec_scan(h->fd, h->end, list_record, NULL, &c, NULL);
	if (r == 0)
		for (size_t i = c.n; i-- > 0;)
			cb(data, &c.runs[i]);
	free(c.runs);
	free(c.seqs);
	return r;
}

/* --- opening ------------------------------------------------------------------------------- */

static void read_boot_id(char id[HISTORY_BOOT_ID_MAX])
{
	id[0] = '\0';
	int fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[HISTORY_BOOT_ID_MAX];
	ssize_t k = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (k <= 0)
		return;
	buf[k] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (histrec_boot_id_valid(buf))
		memcpy(id, buf, strlen(buf) + 1);
}

static bool write_refused(int err)
{
	return err == EROFS || err == EACCES || err == EPERM;
}

/* Opens the log for appending, creating it (and making its name durable) when missing;
 * when it cannot be written, read-only with *ret_write_error set, or -1 when it does not
 * exist either. */
static int open_log(int dfd, int *ret_fd, int *ret_write_error)
{
	int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
	int fd = openat(dfd, LOG_NAME, flags);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(dfd, LOG_NAME, flags | O_CREAT | O_EXCL, 0600);
		/* A start record in a file whose name is lost in a crash is no record. */
		if (fd >= 0 && fsync(dfd) < 0) {
			int r = -errno;
			close(fd);
			unlinkat(dfd, LOG_NAME, 0);
			return r;
		}
	}
	if (fd >= 0) {
		*ret_fd = fd;
		*ret_write_error = 0;
		return 0;
	}
	int err = errno;
	if (!write_refused(err))
		return -err;
	fd = openat(dfd, LOG_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return -errno;
	*ret_fd = fd;
	*ret_write_error = -err;
	return 0;
}

static int open_history(const char *state_dir, bool readonly, struct history **ret)
{
	struct history *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = -1;
	h->next_seq = 1;
	int r = 0;
	h->dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->dfd < 0)
		r = -errno;
	if (r == 0 && readonly) {
		/* A look, not a writer: no lock (the daemon may hold it), nothing created. */
		h->fd = openat(h->dfd, LOG_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (h->fd < 0 && errno != ENOENT)
			r = -errno;
		h->write_error = -EROFS;
	} else if (r == 0) {
		r = open_log(h->dfd, &h->fd, &h->write_error);
	}

	struct stat st = { 0 };
	if (r == 0 && h->fd >= 0) {
		if (!readonly && flock(h->fd, LOCK_EX | LOCK_NB) < 0)
			r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		else if (fstat(h->fd, &st) < 0)
			r = -errno;
		/* Someone else's file could forge "never ran" and rerun a program. */
		else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
			r = -EPERM;
	}
	read_boot_id(h->boot_id);

	struct scan sc = { 0 };
	if (r == 0 && h->fd >= 0)
		r = histrec_scan(h->fd, UINT64_MAX, load_record, damaged_line, h, &sc);
	if (r < 0) {
		history_close(h);
		return r;
	}
	h->end = sc.end;
	h->stats.records = sc.valid;
	h->stats.skipped += sc.invalid;
	if (sc.last_invalid) {
		/* A last line without its newline, or with NUL bytes where a sector was lost,
		 * is what a crash mid-append leaves: torn, not damaged. */
		h->stats.skipped--;
		h->stats.torn_tail = true;
		h->end = sc.last_off;
	}
	h->stats.damaged = h->damage_epoch > h->cleared_all;
	hist_refresh_damage(h);
	/* Anything past the last valid record goes before the next append, not now: a
	 * read-only look must not change the file. */
	h->tail_dirty = h->fd >= 0 && (uint64_t)st.st_size > h->end;

	if (!h->write_error && h->fd >= 0) {
		unlinkat(h->dfd, TMP_NAME, 0); /* a crash mid-compaction: harmless, and useless */
		if (hist_worth_compacting(h))
			(void)history_compact(h); /* the old log stays usable when this fails */
	}
	*ret = h;
	return 0;
}

bool history_latest(const struct history *h, const char *advert_id, struct history_run *ret)
{
	const struct entry *e = hist_lookup(h, advert_id);
	if (!e || !e->last_seq)
		return false;
	*ret = (struct history_run){ .start = e->sum.last_start,
				     .ended = !e->sum.running,
				     .result = e->sum.running ? RUN_NONE : e->sum.last_result };
	hist_run_id_of(e->last_seq, ret->run_id);
	snprintf(ret->advert_id, sizeof(ret->advert_id), "%s", advert_id);
	return true;
}

const char *history_last_boot(const struct history *h, const char *advert_id)
{
	const struct entry *e = hist_lookup(h, advert_id);
	return e ? e->last_boot : "";
}

const char *history_boot_id(const struct history *h)
{
	return h->boot_id;
}

int history_open(const char *state_dir, struct history **ret)
{
	return open_history(state_dir, false, ret);
}

int history_open_readonly(const char *state_dir, struct history **ret)
{
	return open_history(state_dir, true, ret);
}

void history_close(struct history *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	if (h->dfd >= 0)
		close(h->dfd);
	for (size_t i = 0; i < h->n_entries; i++)
		free(h->entries[i]);
	free(h->entries);
	free(h->slots);
	free(h->opens);
	free(h);
}

void history_get_stats(const struct history *h, struct history_stats *ret)
{
	*ret = h->stats;
	ret->size = h->end;
	ret->adverts = h->n_entries;
	ret->write_error = h->write_error;
}

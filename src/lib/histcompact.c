/* SPDX-License-Identifier: MIT */
/* Compaction of the run history: an atomic rewrite that keeps the newest runs of each
 * advertisement, every summary, the run id sequence and the damage hold. */
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

/* --- compaction ---------------------------------------------------------------------------- */

struct keep {
	uint64_t seq;
	uint64_t off[2]; /* start and end records; UINT64_MAX: none */
	uint32_t len[2];
};

struct span {
	uint64_t off;
	uint32_t len;
};

struct compact_ctx {
	struct history *h;
	struct keep **rings; /* per entry, HISTORY_KEEP_RUNS slots ascending by seq, or NULL */
	size_t *n_ring;
	/* Which advertisement each run id belongs to: the first record that names it, as
	 * loading decided (a later start of another advertisement with that id was damage
	 * and must not take the run over in the rewritten log). Open addressing; slot:
	 * seq, and entry index + 1 (0: empty). */
	struct owner {
		uint64_t seq;
		size_t entry;
	} * owners;
	size_t cap_owners, n_owners;
};

/* The owner of seq (entry index + 1), recording ei as it when there is none yet; 0 when
 * out of memory. */
static size_t run_owner(struct compact_ctx *c, uint64_t seq, size_t ei)
{
	if (2 * (c->n_owners + 1) > c->cap_owners) {
		size_t cap = c->cap_owners ? 2 * c->cap_owners : 1024;
		struct owner *o = calloc(cap, sizeof(*o));
		if (!o)
			return 0;
		for (size_t i = 0; i < c->cap_owners; i++) {
			if (!c->owners[i].entry)
				continue;
			size_t k = (size_t)util_fnv1a(UTIL_FNV_OFFSET, &c->owners[i].seq, 8) &
				   (cap - 1);
			while (o[k].entry)
				k = (k + 1) & (cap - 1);
			o[k] = c->owners[i];
		}
		free(c->owners);
		c->owners = o, c->cap_owners = cap;
	}
	size_t k = (size_t)util_fnv1a(UTIL_FNV_OFFSET, &seq, 8) & (c->cap_owners - 1);
	for (; c->owners[k].entry; k = (k + 1) & (c->cap_owners - 1))
		if (c->owners[k].seq == seq)
			return c->owners[k].entry;
	c->owners[k] = (struct owner){ .seq = seq, .entry = ei + 1 };
	c->n_owners++;
	return ei + 1;
}

static int compact_record(void *data, const struct rec *r, uint64_t off, size_t len)
{
	struct compact_ctx *c = data;
	if (r->kind != REC_START && r->kind != REC_END)
		return 0;
	/* Open runs are written from memory: they must survive whatever the log holds. */
	if (hist_find_open(c->h, r->seq))
		return 0;
	struct entry *e = hist_lookup(c->h, r->advert_id);
	if (!e)
		return 0;
	size_t ei = e->index;
	size_t owner = run_owner(c, r->seq, ei);
	if (owner == 0)
		return -ENOMEM;
	if (owner != ei + 1)
		return 0; /* another advertisement's run id: damage, dropped */
	if (!c->rings[ei]) {
		c->rings[ei] = calloc(HISTORY_KEEP_RUNS, sizeof(struct keep));
		if (!c->rings[ei])
			return -ENOMEM;
	}
	struct keep *ring = c->rings[ei];
	size_t *n = &c->n_ring[ei];
	int which = r->kind == REC_END;
	size_t i;
	for (i = 0; i < *n && ring[i].seq != r->seq; i++)
		;
	if (i == *n) {
		/* A new run: keep the newest HISTORY_KEEP_RUNS by sequence. */
		size_t pos = *n;
		while (pos > 0 && ring[pos - 1].seq > r->seq)
			pos--;
		if (*n == HISTORY_KEEP_RUNS) {
			if (pos == 0)
				return 0;
			memmove(ring, ring + 1, (pos - 1) * sizeof(*ring));
			pos--;
		} else {
			memmove(ring + pos + 1, ring + pos, (*n - pos) * sizeof(*ring));
			(*n)++;
		}
		ring[pos] = (struct keep){ .seq = r->seq, .off = { UINT64_MAX, UINT64_MAX } };
		i = pos;
	}
	/* Loading applied every record of the run's owner, in order: the last start and
	 * the last end are the ones that stand. */
	ring[i].off[which] = off;
	ring[i].len[which] = (uint32_t)len;
	return 0;
}

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

struct out {
	int fd;
	char buf[READ_CHUNK];
	size_t len;
	uint64_t total;
	size_t records;
};

static int out_add(struct out *o, const char *data, size_t len)
{
	o->total += len;
	if (len > sizeof(o->buf) - o->len) {
		int r = textrec_write_all(o->fd, o->buf, o->len);
		o->len = 0;
		if (r < 0)
			return r;
	}
	if (len > sizeof(o->buf))
		return textrec_write_all(o->fd, data, len);
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

static int out_rec(struct out *o, const struct rec *r, struct line *l)
{
	int k = histrec_format(r, l);
	if (k == 0)
		k = out_add(o, l->data, l->len);
	o->records++;
	return k;
}

static int pread_all(int fd, char *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t k = pread(fd, buf, len, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO; /* the log shrank under us */
		buf += k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* Writes the compacted log to fd. */
static int write_compacted(struct history *h, int fd, struct compact_ctx *c, uint64_t *ret_size,
			   size_t *ret_records)
{
	struct out *o = calloc(1, sizeof(*o));
	struct line *l = malloc(sizeof(*l));
	struct rec *rec = calloc(1, sizeof(*rec));
	struct span *spans = NULL;
	size_t n_spans = 0, cap = 0;
	int r = o && l && rec ? 0 : -ENOMEM;
	if (r < 0)
		goto out;
	o->fd = fd;

	/* The sequence first, so run ids never repeat even if every run is dropped. */
	*rec = (struct rec){ .kind = REC_SEQ, .seq = h->next_seq };
	r = out_rec(o, rec, l);
	/* Damage outlives the damaged records it drops, and so do the admin's clears. */
	if (r == 0 && h->damage_epoch > h->cleared_all) {
		*rec = (struct rec){ .kind = REC_DAMAGE };
		r = out_rec(o, rec, l);
		for (size_t i = 0; r == 0 && i < h->n_entries; i++) {
			if (h->entries[i]->cleared != h->damage_epoch)
				continue;
			*rec = (struct rec){ .kind = REC_CLEAR };
			snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", h->entries[i]->id);
			r = out_rec(o, rec, l);
		}
	}

	/* What must outlive every run record: one summary per advertisement. */
	for (size_t i = 0; r == 0 && i < h->n_entries; i++) {
		const struct entry *e = h->entries[i];
		/* With a run open, the summary is what it was before the oldest open run: its
		 * start record follows, and if it ends "not started" the summary must come
		 * back as it was, after a restart too. */
		const struct schedule_history *sum = &e->sum;
		uint64_t seq = e->last_seq;
		const struct open_run *oldest = NULL;
		for (size_t k = 0; e->open && k < h->n_opens; k++)
			if (h->opens[k].entry == e->index &&
			    (!oldest || h->opens[k].seq < oldest->seq))
				oldest = &h->opens[k];
		if (oldest)
			sum = &oldest->before, seq = oldest->before_seq;
		if (!sum->ever_started && !sum->last_start && !seq)
			continue; /* a begin that failed left it empty */
		*rec = (struct rec){ .kind = REC_SUMMARY,
				     .seq = seq,
				     .start = sum->last_start,
				     .time = sum->last_end,
				     .result = sum->last_result,
				     .started = sum->ever_started,
				     .succeeded = sum->ever_succeeded };
		snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", e->id);
		snprintf(rec->boot_id, sizeof(rec->boot_id), "%s", e->last_boot);
		r = out_rec(o, rec, l);
	}

	/* The kept runs, in their original order, copied byte for byte. */
	for (size_t i = 0; r == 0 && i < h->n_entries; i++) {
		for (size_t k = 0; c->rings[i] && k < c->n_ring[i]; k++) {
			for (int w = 0; w < 2; w++) {
				if (c->rings[i][k].off[w] == UINT64_MAX)
					continue;
				if (n_spans == cap) {
					cap = cap ? 2 * cap : 256;
					struct span *ns = realloc(spans, cap * sizeof(*ns));
					if (!ns) {
						r = -ENOMEM;
						goto out;
					}
					spans = ns;
				}
				spans[n_spans++] = (struct span){ c->rings[i][k].off[w],
								  c->rings[i][k].len[w] };
			}
		}
	}
	if (n_spans)
		qsort(spans, n_spans, sizeof(*spans), cmp_span);
	for (size_t i = 0; r == 0 && i < n_spans; i++) {
		if (spans[i].len > sizeof(l->data)) {
			r = -EIO;
			break;
		}
		r = pread_all(h->fd, l->data, spans[i].len, spans[i].off);
		if (r == 0)
			r = out_add(o, l->data, spans[i].len);
		o->records++;
	}

	/* Runs still open, last, from memory. */
	for (size_t i = 0; r == 0 && i < h->n_opens; i++) {
		const struct open_run *op = &h->opens[i];
		*rec = (struct rec){ .kind = REC_START, .seq = op->seq, .time = op->start };
		snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", h->entries[op->entry]->id);
		snprintf(rec->boot_id, sizeof(rec->boot_id), "%s", op->boot_id);
		snprintf(rec->account, sizeof(rec->account), "%s", op->account);
		snprintf(rec->dc, sizeof(rec->dc), "%s", op->dc);
		r = out_rec(o, rec, l);
	}
	if (r == 0 && o->len)
		r = textrec_write_all(fd, o->buf, o->len);
	if (r == 0) {
		*ret_size = o->total;
		*ret_records = o->records;
	}
out:
	free(spans);
	free(rec);
	free(l);
	free(o);
	return r;
}

int history_compact(struct history *h)
{
	if (h->write_error)
		return h->write_error;
	if (h->fd < 0)
		return 0;

	struct compact_ctx c = { .h = h };
	c.rings = calloc(h->n_entries + 1, sizeof(*c.rings));
	c.n_ring = calloc(h->n_entries + 1, sizeof(*c.n_ring));
	int r = c.rings && c.n_ring ? 0 : -ENOMEM;
	if (r == 0)
		r = histrec_scan(h->fd, h->end, compact_record, NULL, &c, NULL);

	int tfd = -1;
	uint64_t size = 0;
	size_t records = 0;
	if (r == 0) {
		/* The fixed name is safe: the log's lock is held, and a stale one from a crash
		 * mid-compaction is simply overwritten. */
		tfd = textrec_replace_open(h->dfd, LOG_NAME, O_RDWR | O_APPEND, 0600);
		if (tfd < 0)
			r = tfd;
	}
	if (r == 0)
		r = write_compacted(h, tfd, &c, &size, &records);
	/* Complete on disk before it may replace the old log. */
	if (r == 0 && fsync(tfd) < 0)
		r = -errno;
	/* Locked before its name appears, so no other process can slip in between. */
	if (r == 0 && flock(tfd, LOCK_EX | LOCK_NB) < 0)
		r = -errno;
	if (tfd >= 0)
		r = textrec_replace_commit(h->dfd, LOG_NAME, r);
	if (r < 0) {
		if (tfd >= 0)
			close(tfd);
	} else {
		close(h->fd);
		h->fd = tfd;
		h->end = size;
		h->tail_dirty = false;
		h->stats.records = records;
		h->stats.torn_tail = false;
		/* Without this the rename may be lost in a crash; the old log, still complete,
		 * would come back, which is safe, but the caller should know. */
		if (fsync(h->dfd) < 0)
			r = -errno;
	}
	for (size_t i = 0; c.rings && i < h->n_entries; i++)
		free(c.rings[i]);
	free(c.rings);
	free(c.n_ring);
	free(c.owners);
	return r;
}

bool hist_worth_compacting(const struct history *h)
{
	size_t kept = 1;
	for (size_t i = 0; i < h->n_entries; i++) {
		size_t runs = h->entries[i]->runs;
		kept += 1 + 2 * (runs < HISTORY_KEEP_RUNS ? runs : HISTORY_KEEP_RUNS);
	}
	size_t n = h->stats.records + h->stats.skipped;
	if (n < COMPACT_MIN_RECORDS)
		return false;
	return n > 4 * kept || (h->end > COMPACT_SIZE && n > 2 * kept);
}

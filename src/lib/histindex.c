/* SPDX-License-Identifier: MIT */
/* The run history's in-memory index: one summary per advertisement in an open-addressed
 * table, the runs started and not yet ended, and how each record changes them. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "advert/history.h"
#include "advert/util.h"
#include "history-internal.h"

/* --- the in-memory summary -------------------------------------------------------------- */

static uint64_t id_hash(const char *id)
{
	uint64_t h = util_fnv1a(UTIL_FNV_OFFSET, id, strlen(id));
	return h ^ (h >> 29);
}

struct entry *hist_lookup(const struct history *h, const char *id)
{
	if (!h->n_slots)
		return NULL;
	size_t mask = h->n_slots - 1;
	for (size_t i = (size_t)id_hash(id) & mask;; i = (i + 1) & mask) {
		uint32_t s = h->slots[i];
		if (!s)
			return NULL;
		if (strcmp(h->entries[s - 1]->id, id) == 0)
			return h->entries[s - 1];
	}
}

static int rehash(struct history *h, size_t n_slots)
{
	uint32_t *slots = calloc(n_slots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t e = 0; e < h->n_entries; e++) {
		size_t i = (size_t)id_hash(h->entries[e]->id) & (n_slots - 1);
		while (slots[i])
			i = (i + 1) & (n_slots - 1);
		slots[i] = (uint32_t)(e + 1);
	}
	free(h->slots);
	h->slots = slots;
	h->n_slots = n_slots;
	return 0;
}

/* The entry for id, created empty when new; NULL only when out of memory. */
struct entry *hist_get_entry(struct history *h, const char *id)
{
	struct entry *e = hist_lookup(h, id);
	if (e)
		return e;
	if (h->n_entries >= UINT32_MAX - 1)
		return NULL;
	if (h->n_entries == h->cap_entries) {
		size_t cap = h->cap_entries ? 2 * h->cap_entries : 64;
		struct entry **n = realloc(h->entries, cap * sizeof(*n));
		if (!n)
			return NULL;
		h->entries = n;
		h->cap_entries = cap;
	}
	/* At most 70% full, so probes stay short. */
	if ((h->n_entries + 1) * 10 > h->n_slots * 7 &&
	    rehash(h, h->n_slots ? 2 * h->n_slots : 128) < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->index = h->n_entries;
	h->entries[h->n_entries] = e;
	snprintf(e->id, sizeof(e->id), "%s", id);
	size_t mask = h->n_slots - 1;
	size_t i = (size_t)id_hash(id) & mask;
	while (h->slots[i])
		i = (i + 1) & mask;
	h->slots[i] = (uint32_t)(++h->n_entries);
	return e;
}

int hist_reserve_open(struct history *h)
{
	if (h->n_opens < h->cap_opens)
		return 0;
	size_t cap = h->cap_opens ? 2 * h->cap_opens : 8;
	struct open_run *n = realloc(h->opens, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	h->opens = n;
	h->cap_opens = cap;
	return 0;
}

struct open_run *hist_find_open(struct history *h, uint64_t seq)
{
	for (size_t i = 0; i < h->n_opens; i++)
		if (h->opens[i].seq == seq)
			return &h->opens[i];
	return NULL;
}

static void hist_drop_open(struct history *h, struct open_run *o)
{
	struct entry *e = h->entries[o->entry];
	e->open--;
	e->sum.running = e->open > 0;
	size_t i = (size_t)(o - h->opens);
	memmove(o, o + 1, (h->n_opens - i - 1) * sizeof(*o));
	h->n_opens--;
}

void hist_seen_seq(struct history *h, uint64_t seq)
{
	if (seq >= h->next_seq)
		h->next_seq = seq + 1;
}

/* Applies one valid record to the summaries. Needs hist_reserve_open to have succeeded for a
 * start record. */
void hist_apply(struct history *h, struct entry *e, const struct rec *r)
{
	switch (r->kind) {
	case REC_START: {
		struct open_run *o = hist_find_open(h, r->seq);
		bool again = o != NULL;
		if (o && o->entry != e->index) {
			/* One run id for two advertisements: not a history we wrote. */
			h->damage_epoch++;
			h->stats.skipped++;
			hist_seen_seq(h, r->seq);
			break;
		}
		if (!o) {
			o = &h->opens[h->n_opens++];
			*o = (struct open_run){ .seq = r->seq,
						.entry = e->index,
						.start = r->time,
						.before = e->sum,
						.before_seq = e->last_seq };
			snprintf(o->boot_id, sizeof(o->boot_id), "%s", r->boot_id);
			snprintf(o->account, sizeof(o->account), "%s", r->account);
			snprintf(o->dc, sizeof(o->dc), "%s", r->dc);
			e->open++;
		}
		e->runs++;
		e->sum.ever_started = true;
		e->sum.running = true;
		/* A run's last start counts (compaction keeps that one): a second start of a
		 * run still open moves the open run's time too, which compaction writes back
		 * from memory. */
		if (again)
			o->start = r->time;
		if (r->seq >= e->last_seq) {
			e->last_seq = r->seq;
			e->sum.last_start = r->time;
		}
		hist_seen_seq(h, r->seq);
		break;
	}
	case REC_END: {
		struct open_run *o = hist_find_open(h, r->seq);
		if (r->result == RUN_NOT_STARTED) {
			if (o && o->entry == e->index) {
				e->sum = o->before;
				e->last_seq = o->before_seq;
				hist_drop_open(h, o);
			}
			hist_seen_seq(h, r->seq);
			break;
		}
		/* The boot it ran in: its start's, else what the end says. */
		char boot[HISTORY_BOOT_ID_MAX];
		snprintf(boot, sizeof(boot), "%s",
			 o && o->entry == e->index && o->boot_id[0] ? o->boot_id : r->boot_id);
		if (o && o->entry == e->index)
			hist_drop_open(h, o);
		e->sum.ever_started = true;
		if (r->result == RUN_SUCCEEDED || r->result == RUN_SUCCEEDED_REBOOT)
			e->sum.ever_succeeded = true;
		/* An end older than the latest start must not overwrite what that run says. */
		if (r->seq >= e->last_seq) {
			e->last_seq = r->seq;
			if (r->start)
				e->sum.last_start = r->start;
			e->sum.last_end = r->time;
			e->sum.last_result = r->result;
			snprintf(e->last_boot, sizeof(e->last_boot), "%s", boot);
		}
		hist_seen_seq(h, r->seq);
		break;
	}
	case REC_SUMMARY:
		e->sum.ever_started |= r->started;
		e->sum.ever_succeeded |= r->succeeded;
		if (r->seq >= e->last_seq && !e->open) {
			e->last_seq = r->seq;
			e->sum.last_result = r->result;
			e->sum.last_start = r->start;
			e->sum.last_end = r->time;
			snprintf(e->last_boot, sizeof(e->last_boot), "%s", r->boot_id);
		}
		if (r->seq)
			hist_seen_seq(h, r->seq);
		break;
	case REC_SEQ:
		if (r->seq > h->next_seq)
			h->next_seq = r->seq;
		break;
	case REC_DAMAGE:
		h->damage_epoch++;
		break;
	case REC_CLEAR:
		e->cleared = h->damage_epoch;
		break;
	case REC_CLEAR_ALL:
		h->cleared_all = h->damage_epoch;
		break;
	}
}

bool hist_held(const struct history *h, const struct entry *e)
{
	return h->damage_epoch > h->cleared_all && (!e || h->damage_epoch > e->cleared);
}

/* Brings every summary's damaged flag up to date. */
void hist_refresh_damage(struct history *h)
{
	for (size_t i = 0; i < h->n_entries; i++)
		h->entries[i]->sum.damaged = hist_held(h, h->entries[i]);
	h->empty.damaged = hist_held(h, NULL);
}

/* A complete line that is not a valid record: damage. Its run id, if one can still be
 * read, joins the high-water mark, so that id is never handed out again. */

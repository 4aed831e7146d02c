/* SPDX-License-Identifier: MIT */
/* The run planner: decisions cached until they can change, the due ones ordered, the
 * free slots filled. */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advert/planner.h"
#include "advert/util.h"

void planner_invalidate(struct plan_cache *cache)
{
	cache->decided = false;
}

struct due {
	size_t index;
	time_t at; /* 0: forced, first in line */
	const char *id;
};

static int cmp_due(const void *x, const void *y)
{
	const struct due *a = x, *b = y;
	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return strcmp(a->id, b->id);
}

static void report(const struct planner_io *io, struct plan_cache *c, const struct advert *a,
		   const struct schedule_decision *dec)
{
	if (c->has_shown && c->shown == dec->verdict)
		return;
	c->shown = dec->verdict;
	c->has_shown = true;
	if (io->report)
		io->report(io->data, a, dec);
}

size_t planner_pass(struct plan_item *items, size_t n, const struct planner_io *io,
		    size_t free_slots, time_t now, int poll, size_t *ret_start, time_t *ret_next,
		    bool *ret_any_due)
{
	time_t next = now + poll;
	struct due *due = calloc(n ? n : 1, sizeof(*due));
	size_t n_due = 0;
	for (size_t i = 0; due && i < n; i++) {
		const struct advert *a = items[i].a;
		struct plan_cache *c = items[i].cache;
		if (!c)
			continue;
		bool forced = items[i].forced;
		if (c->retry_at > now && !forced) {
			if (c->retry_at < next)
				next = c->retry_at;
			continue;
		}
		/* A decision stands until its time comes or something it depends on changes
		 * (the catalog, a run of its own or of its dependency): with thousands of
		 * advertisements, most passes decide nothing anew. */
		if (c->decided && c->recheck_at > now && !forced) {
			if (c->due_at)
				due[n_due++] = (struct due){ i, c->due_at, a->id };
			else if (c->recheck_at < next)
				next = c->recheck_at;
			continue;
		}
		struct schedule_decision dec = io->decide(io->data, a, now);
		c->decided = true;
		c->due_at = 0;
		c->recheck_at = UTIL_TIME_T_MAX;
		if (forced && dec.verdict != SCHED_RUNNING && dec.verdict != SCHED_DISABLED) {
			c->decided = false;
			due[n_due++] = (struct due){ i, 0, a->id }; /* asked for: first in line */
			continue;
		}
		if (dec.verdict == SCHED_DUE) {
			c->due_at = dec.occurrence ? dec.occurrence : 1;
			if (a->schedule.has_expires)
				c->recheck_at = a->schedule.expires;
			due[n_due++] = (struct due){ i, c->due_at, a->id };
			continue;
		}
		if (dec.verdict != SCHED_RUNNING)
			report(io, c, a, &dec);
		if ((dec.verdict == SCHED_WAIT || dec.verdict == SCHED_WILL_NOT_RERUN ||
		     dec.verdict == SCHED_WAIT_LOGON) &&
		    dec.when > now)
			c->recheck_at = dec.when;
		else if (a->schedule.has_expires && a->schedule.expires > now)
			c->recheck_at = a->schedule.expires;
		if (c->recheck_at < next)
			next = c->recheck_at;
	}
	qsort(due, n_due, sizeof(*due), cmp_due);
	size_t k = 0;
	for (; k < n_due && k < free_slots; k++) {
		struct plan_cache *c = items[due[k].index].cache;
		c->has_shown = false;
		c->decided = false; /* running now: decided again when it ends */
		ret_start[k] = due[k].index;
	}
	*ret_any_due = n_due > 0;
	*ret_next = next;
	free(due);
	return k;
}

/* SPDX-License-Identifier: MIT */
/* The run planner: which advertisements to start now, in which order, and when to look
 * again — from the catalog, the scheduler's decisions, what is running or forced, the
 * free run slots and the clock. Pure: the decisions come through a callback, what must
 * be reported goes out through one, and the only state is the caller's per-advertisement
 * cache, so a pass is a function of its inputs. */
#ifndef ADVERT_PLANNER_H
#define ADVERT_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "advert/advert.h"
#include "advert/schedule.h"

/* What the planner remembers about one advertisement between passes (the caller keeps
 * it; zeroed means "nothing known": decide again). */
struct plan_cache {
	bool decided; /* the last decision stands until recheck_at */
	time_t recheck_at;
	time_t due_at;   /* nonzero: it was due (its occurrence; 1 if none) */
	time_t retry_at; /* after a failure to prepare: not before (the caller sets it) */
	bool has_shown;  /* a verdict was reported, and which */
	enum schedule_verdict shown;
};

/* One advertisement of the pass. */
struct plan_item {
	const struct advert *a;
	struct plan_cache *cache; /* NULL: left out of the pass (no memory for it) */
	bool forced;              /* an admin asked for it: first in line, whatever its schedule */
};

struct planner_io {
	/* The scheduler's decision for a at now (schedule_decide with what the caller
	 * knows of its history and its dependency's). */
	struct schedule_decision (*decide)(void *data, const struct advert *a, time_t now);
	/* Called when a verdict that is not "due" or "running" differs from the last one
	 * reported for it. May be NULL. */
	void (*report)(void *data, const struct advert *a, const struct schedule_decision *dec);
	void *data;
};

/* One pass over items at now: decides what needs deciding (a decision stands until its
 * recheck time, unless the item is forced or its cache was cleared), collects what is
 * due, and returns in ret_start (room for n indices into items) the ones to start now —
 * forced first, then by due time, then by id — at most free_slots of them; their caches
 * are cleared (they are decided again once they end). Returns how many to start; sets
 * *ret_next (when anything needs a look again; at most now + poll) and *ret_any_due
 * (something was due, started or not). */
size_t planner_pass(struct plan_item *items, size_t n, const struct planner_io *io,
		    size_t free_slots, time_t now, int poll, size_t *ret_start, time_t *ret_next,
		    bool *ret_any_due) __attribute__((nonnull(3, 8, 9)));

/* Forgets the decision of cache (the advertisement's history or its dependency's
 * changed): decided again at the next pass. */
void planner_invalidate(struct plan_cache *cache) __attribute__((nonnull));

#endif

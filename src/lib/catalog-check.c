/* SPDX-License-Identifier: MIT */
/* The checks across files: unique ids (the first definition wins), run_as naming an
 * account, dependencies that exist, were not rejected and form no cycle. All of them
 * together are O(n log n): one sort by id, then linear passes. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advert/catalog.h"
#include "advert/cfgread.h"
#include "catalog-internal.h"

/* Id → position, for lookups in checks that span the whole catalog. */
struct id_index {
	const char *id;
	size_t pos;
};

static int cmp_index(const void *a, const void *b)
{
	const struct id_index *x = a, *y = b;
	int r = strcmp(x->id, y->id);
	return r ? r : (x->pos > y->pos) - (x->pos < y->pos);
}

static const struct id_index *index_find(const struct id_index *idx, size_t n, const char *id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* first entry with this id */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(idx[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(idx[lo].id, id) == 0 ? &idx[lo] : NULL;
}

static bool account_exists(const struct catalog_context *acc, const char *name)
{
	if (strcmp(name, "system") == 0)
		return true;
	for (size_t i = 0; acc && i < acc->n; i++)
		if (strcmp(acc->names[i], name) == 0)
			return true;
	return false;
}

static int check_run_as(const struct catalog *cat, const struct catalog_context *acc, bool *keep,
			struct diag_list *diags)
{
	for (size_t i = 0; i < cat->n; i++) {
		const struct advert *a = cat->items[i];
		if (!keep[i] || account_exists(acc, a->program.run_as))
			continue;
		keep[i] = false;
		const char **names = calloc((acc ? acc->n : 0) + 2, sizeof(*names));
		const char *hint = NULL;
		if (names) {
			names[0] = "system";
			for (size_t k = 0; acc && k < acc->n; k++)
				names[k + 1] = acc->names[k];
			hint = cfgread_suggest(a->program.run_as, names);
			free(names);
		}
		int r = hint ? diag_error(diags, a->file, a->line,
					  "advertisement \"%s\": run_as \"%s\" names no account "
					  "in advertd.conf (did you mean \"%s\"?)",
					  a->id, a->program.run_as, hint)
			     : diag_error(diags, a->file, a->line,
					  "advertisement \"%s\": run_as \"%s\" names no account "
					  "in advertd.conf and is not \"system\"",
					  a->id, a->program.run_as);
		if (r == 0)
			r = diag_tag_advert(diags, diags->n - 1, a->id);
		if (r < 0)
			return -ENOMEM;
	}
	return 0;
}

#define NONE SIZE_MAX

enum dep_state { DEP_UNKNOWN, DEP_OK, DEP_MISSING, DEP_REJECTED, DEP_WALKING };

/* Leaves out advertisements in a depends_on cycle, then those whose dependency is
 * missing or was left out, however long the chain. dep[i] is the position of the
 * definition that i depends on (the winner among duplicates), or NONE. */
static int check_dependencies(const struct catalog *cat, const size_t *dep, bool *keep,
			      struct diag_list *diags)
{
	size_t n = cat->n;
	unsigned char *st = calloc(n, 1);
	size_t *stack = malloc(n * sizeof(*stack));
	if (!st || !stack) {
		free(st);
		free(stack);
		return -ENOMEM;
	}
	/* Cycles among the kept: each has at most one dependency, so walking from each
	 * unvisited one either ends, joins an earlier walk, or meets itself. */
	enum { WHITE, ON_PATH, DONE, CYCLE };
	for (size_t i = 0; i < n; i++) {
		size_t p = i;
		while (p != NONE && keep[p] && st[p] == WHITE) {
			st[p] = ON_PATH;
			p = dep[p];
		}
		if (p != NONE && keep[p] && st[p] == ON_PATH)
			for (size_t q = p; st[q] == ON_PATH; q = dep[q])
				st[q] = CYCLE;
		for (size_t q = i; q != NONE && keep[q] && st[q] == ON_PATH; q = dep[q])
			st[q] = DONE;
	}
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (st[i] != CYCLE)
			continue;
		const struct advert *a = cat->items[i];
		r = diag_error(diags, a->file, a->line,
			       "advertisement \"%s\": depends_on \"%s\" forms a cycle", a->id,
			       a->program.depends_on);
		if (r == 0)
			r = diag_tag_advert(diags, diags->n - 1, a->id);
	}
	for (size_t i = 0; i < n; i++)
		if (st[i] == CYCLE)
			keep[i] = false;

	/* Then what each kept one's chain ends in, each chain walked once. */
	memset(st, DEP_UNKNOWN, n);
	for (size_t i = 0; i < n; i++) {
		size_t depth = 0, p = i;
		enum dep_state end = DEP_OK;
		for (;;) {
			if (!keep[p]) {
				end = DEP_REJECTED;
				break;
			}
			if (st[p] != DEP_UNKNOWN) {
				end = st[p] == DEP_OK ? DEP_OK : DEP_REJECTED;
				break;
			}
			if (!cat->items[p]->program.depends_on) {
				st[p] = DEP_OK;
				break;
			}
			if (dep[p] == NONE) {
				st[p] = DEP_MISSING;
				end = DEP_REJECTED;
				break;
			}
			st[p] = DEP_WALKING; /* no cycle is left, but never loop on a bug */
			stack[depth++] = p;
			p = dep[p];
		}
		while (depth > 0)
			st[stack[--depth]] = end;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if (!keep[i] || st[i] == DEP_OK)
			continue;
		keep[i] = false;
		const struct advert *a = cat->items[i];
		const struct diag *why = st[i] == DEP_MISSING
						 ? diag_find_advert(diags, a->program.depends_on)
						 : NULL;
		if (why)
			r = diag_error(diags, a->file, a->line,
				       "advertisement \"%s\": depends_on \"%s\" names an "
				       "advertisement that was rejected (%s:%d)",
				       a->id, a->program.depends_on, why->file ? why->file : "?",
				       why->line);
		else
			r = diag_error(diags, a->file, a->line,
				       st[i] == DEP_REJECTED
					       ? "advertisement \"%s\": depends_on \"%s\" "
						 "names an advertisement that was rejected"
					       : "advertisement \"%s\": depends_on \"%s\" "
						 "names no advertisement",
				       a->id, a->program.depends_on);
		if (r == 0)
			r = diag_tag_advert(diags, diags->n - 1, a->id);
	}
	free(st);
	free(stack);
	return r < 0 ? -ENOMEM : 0;
}

int catalog_validate(struct catalog *cat, const struct catalog_context *acc,
		     struct diag_list *diags)
{
	size_t n = cat->n;
	bool *keep = malloc((n ? n : 1) * sizeof(*keep));
	struct id_index *idx = malloc((n ? n : 1) * sizeof(*idx));
	size_t *dep = malloc((n ? n : 1) * sizeof(*dep));
	int r = keep && idx && dep ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		keep[i] = true;
		idx[i] = (struct id_index){ cat->items[i]->id, i };
	}
	if (r == 0 && n > 0)
		qsort(idx, n, sizeof(*idx), cmp_index);

	/* Duplicate ids: the first definition (file order) wins; idx is sorted by id, then
	 * by position, so the first of each run of equal ids is the winner. */
	for (size_t k = 1, first = 0; r == 0 && k < n; k++) {
		if (strcmp(idx[k].id, idx[first].id) != 0) {
			first = k;
			continue;
		}
		const struct advert *a = cat->items[idx[k].pos], *f = cat->items[idx[first].pos];
		keep[idx[k].pos] = false;
		r = diag_error(diags, a->file, a->line,
			       "advertisement id \"%s\" is already defined at %s:%d", a->id,
			       f->file, f->line) < 0
			    ? -ENOMEM
			    : 0;
	}
	if (r == 0)
		r = check_run_as(cat, acc, keep, diags);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *d = cat->items[i]->program.depends_on;
		const struct id_index *e = d ? index_find(idx, n, d) : NULL;
		dep[i] = e ? e->pos : NONE;
	}
	if (r == 0)
		r = check_dependencies(cat, dep, keep, diags);

	/* by_id: the kept ones in idx order, already sorted by id (no second sort). */
	if (r == 0 && !(cat->by_id = malloc((n ? n : 1) * sizeof(*cat->by_id))))
		r = -ENOMEM;
	if (r == 0) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (keep[idx[i].pos])
				cat->by_id[k++] = cat->items[idx[i].pos];
		k = 0;
		for (size_t i = 0; i < n; i++)
			if (keep[i])
				cat->items[k++] = cat->items[i];
		cat->n = k;
	}
	free(keep);
	free(idx);
	free(dep);
	return r;
}

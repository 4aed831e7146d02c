/* SPDX-License-Identifier: MIT */
/* Updating the catalog for the names inotify reported: the other entries are kept as
 * they are, and the result is the catalog that reading everything would give; when
 * that is not certain, everything is read. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "advert/catalog.h"
#include "catalog-internal.h"

/* Beyond this many names, reading the directories costs about the same. */
#define UPDATE_MAX 512

struct change {
	size_t group;
	const char *path; /* a changed name's, or a retried entry's */
	const char *name; /* in path */
};

static int cmp_change(const void *a, const void *b)
{
	const struct change *x = a, *y = b;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Whether old was loaded from these paths, and its directories are distinct: then a name
 * in a directory is read through that one path only. */
static bool can_update(const struct catalog *old, const char *const *paths, size_t n_paths)
{
	if (!old || old->n_groups != n_paths || old->duplicates)
		return false;
	for (size_t i = 0; i < n_paths; i++) {
		const struct catalog_group *g = &old->groups[i];
		if (strcmp(g->path, paths[i]) != 0)
			return false;
		for (size_t k = 0; g->realdir && k < i; k++)
			if (old->groups[k].realdir &&
			    strcmp(old->groups[k].realdir, g->realdir) == 0)
				return false;
	}
	return true;
}

/* Which group each changed name belongs to, plus every entry to look at again, sorted
 * and without repeats. Returns the count, or -EAGAIN (read everything), or -ENOMEM. */
static ssize_t plan_changes(const struct catalog *old, const char *const *changed, size_t n_changed,
			    struct change **ret)
{
	if (n_changed + old->n_retry > UPDATE_MAX)
		return -EAGAIN;
	struct change *ch = malloc((n_changed + old->n_retry + 1) * sizeof(*ch));
	size_t n = 0;
	if (!ch)
		return -ENOMEM;
	for (size_t i = 0; i < n_changed; i++) {
		for (size_t g = 0; g < old->n_groups; g++) {
			const struct catalog_group *grp = &old->groups[g];
			size_t len = strlen(grp->path);
			const char *name = changed[i] + len + 1;
			bool inside = strncmp(changed[i], grp->path, len) == 0 &&
				      changed[i][len] == '/' && *name && !strchr(name, '/');
			/* A configured file, or a directory itself, or a name in a directory
			 * that could not be read: nothing to go by. */
			if (strcmp(changed[i], grp->path) == 0 || (inside && !grp->realdir)) {
				free(ch);
				return -EAGAIN;
			}
			if (inside && catalog_is_conf_name(name))
				ch[n++] = (struct change){ g, changed[i], name };
		}
	}
	for (size_t g = 0; old->n_retry && g < old->n_groups; g++) {
		const struct catalog_group *grp = &old->groups[g];
		for (size_t i = grp->first; i < grp->first + grp->n; i++) {
			if (!old->parsed[i]->retry)
				continue;
			if (!grp->realdir) { /* a configured file: only reading everything retries it */
				free(ch);
				return -EAGAIN;
			}
			ch[n++] = (struct change){ g, old->parsed[i]->path,
						   old->parsed[i]->path + strlen(grp->path) + 1 };
		}
	}
	if (n > 1)
		qsort(ch, n, sizeof(*ch), cmp_change);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (k == 0 || cmp_change(&ch[k - 1], &ch[i]) != 0)
			ch[k++] = ch[i];
	*ret = ch;
	return (ssize_t)k;
}

struct updater {
	const struct catalog *old;
	const struct catalog_file *prev; /* the entry being replaced, or NULL */
	bool foreign;                    /* the new entry's real path is not its directory's */
	bool unsure;                     /* it may be a file that another entry reads */
};

/* Notes whether real may be read through another entry already. */
static int claim_unique(void *data, const char *real)
{
	struct updater *u = data;
	/* Distinct directories, no entry resolved elsewhere: a regular file's real path,
	 * the directory's + "/" + name, is its own. */
	if (!u->foreign && u->old->n_foreign == 0)
		return 1;
	if (u->foreign) {
		u->unsure = true;
		return 1;
	}
	for (size_t i = 0; i < u->old->n_parsed; i++) {
		const struct catalog_file *f = u->old->parsed[i];
		if (f != u->prev && f->foreign && f->real && strcmp(f->real, real) == 0)
			u->unsure = true;
	}
	return 1;
}

/* The entry for a changed name now (NULL: gone, or not a file of the catalog). */
static int reload_name(struct updater *u, const struct catalog_group *g, const struct change *c,
		       struct catalog_file *prev, struct timespec started,
		       struct catalog_reload_stats *stats, struct catalog_file **ret)
{
	struct stat lst;
	*ret = NULL;
	if (lstat(c->path, &lst) < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0; /* removed, or renamed away */
	/* readdir's d_type: DT_REG for a regular file; the rest get the full trust walk. */
	bool regular = S_ISREG(lst.st_mode);
	char *path = NULL, *real = NULL;
	if (catalog_entry_paths(g, c->name, regular, &path, &real) < 0)
		return -ENOMEM;
	u->prev = prev;
	u->foreign = !regular;
	int r = catalog_file_load(path, real, prev, started, claim_unique, u, stats, ret);
	free(path);
	free(real);
	return r;
}

/* The old catalog with the changed names read again, group by group; sets *unsure when
 * the result might not be what reading everything gives. */
static int apply_changes(const struct catalog *old, const struct change *ch, size_t n_ch,
			 struct catalog *cat, struct catalog_reload_stats *stats, bool *unsure)
{
	struct timespec started;
	clock_gettime(CLOCK_REALTIME, &started);
	struct updater u = { .old = old };
	size_t c = 0;
	for (size_t g = 0; g < old->n_groups; g++) {
		const struct catalog_group *og = &old->groups[g];
		struct catalog_group *ng = &cat->groups[cat->n_groups++];
		ng->path = strdup(og->path);
		ng->realdir = og->realdir ? strdup(og->realdir) : NULL;
		ng->first = cat->n_parsed;
		if (!ng->path || (og->realdir && !ng->realdir) ||
		    catalog_copy_diags(&ng->diags, &og->diags) < 0)
			return -ENOMEM;
		size_t i = og->first, end = og->first + og->n;
		for (; c < n_ch && ch[c].group == g; c++) {
			for (; i < end && strcmp(old->parsed[i]->path, ch[c].path) < 0; i++) {
				old->parsed[i]->refs++;
				cat->parsed[cat->n_parsed++] = old->parsed[i];
			}
			struct catalog_file *prev = NULL, *f = NULL;
			if (i < end && strcmp(old->parsed[i]->path, ch[c].path) == 0)
				prev = old->parsed[i++];
			int r = reload_name(&u, og, &ch[c], prev, started, stats, &f);
			if (r < 0)
				return r;
			if (f)
				cat->parsed[cat->n_parsed++] = f;
		}
		for (; i < end; i++) {
			old->parsed[i]->refs++;
			cat->parsed[cat->n_parsed++] = old->parsed[i];
		}
		ng->n = cat->n_parsed - ng->first;
	}
	*unsure = u.unsure;
	return 0;
}

int catalog_update(const struct catalog *old, const char *const *paths, size_t n_paths,
		   const struct catalog_context *accounts, const char *const *changed,
		   size_t n_changed, struct catalog **ret, struct diag_list *diags,
		   struct catalog_reload_stats *stats)
{
	struct change *ch = NULL;
	ssize_t n_ch = can_update(old, paths, n_paths) ? plan_changes(old, changed, n_changed, &ch)
						       : -EAGAIN;
	if (n_ch == -EAGAIN)
		return catalog_reload(old, paths, n_paths, accounts, ret, diags, stats);
	if (n_ch < 0)
		return (int)n_ch;
	struct catalog_reload_stats st = { 0 };
	bool unsure = false;
	struct catalog *cat = catalog_new(n_paths, old->n_parsed + (size_t)n_ch);
	int r = cat ? apply_changes(old, ch, (size_t)n_ch, cat, &st, &unsure) : -ENOMEM;
	free(ch);
	if (r == 0 && unsure) {
		catalog_free(cat);
		return catalog_reload(old, paths, n_paths, accounts, ret, diags, stats);
	}
	if (r == 0)
		r = catalog_assemble(cat, accounts, diags);
	if (r < 0) {
		catalog_free(cat);
		return r;
	}
	if (stats)
		*stats = st;
	*ret = cat;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* The catalog of all advertisements: the configured directories and files, read in
 * full (a reload reads again only the files whose identity changed, and checks every
 * one for trust) or updated for the names inotify reported; either way the checks
 * across files (catalog-check.c) run over the whole result. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "advert/config.h"
#include "advert/published.h"
#include "advert/util.h"
#include "advert/cfgread.h"
#include "advert/trust.h"
#include "catalog-internal.h"

static void group_clear(struct catalog_group *g)
{
	free(g->path);
	free(g->realdir);
	diag_clear(&g->diags);
}

void catalog_free(struct catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->n_parsed; i++)
		catalog_file_unref(cat->parsed[i]);
	free(cat->parsed);
	for (size_t i = 0; i < cat->n_groups; i++)
		group_clear(&cat->groups[i]);
	free(cat->groups);
	free(cat->by_id);
	free(cat->untargeted);
	free(cat->items);
	free(cat->files);
	free(cat);
}

/* Grows *v (elements of size sz) to hold at least n + extra; returns 0 or -ENOMEM. */
static int grow(void *v, size_t *cap, size_t n, size_t extra, size_t sz)
{
	if (n + extra <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < n + extra)
		c *= 2;
	void *p = reallocarray(*(void **)v, c, sz);
	if (!p)
		return -ENOMEM;
	*(void **)v = p;
	*cap = c;
	return 0;
}

/* An empty catalog with room for n_paths groups and n entries; NULL on ENOMEM. */
struct catalog *catalog_new(size_t n_paths, size_t n)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	if (!cat)
		return NULL;
	cat->groups = calloc(n_paths ? n_paths : 1, sizeof(*cat->groups));
	cat->parsed = malloc((n ? n : 1) * sizeof(*cat->parsed));
	if (!cat->groups || !cat->parsed) {
		catalog_free(cat);
		return NULL;
	}
	return cat;
}

static int append(struct catalog *cat, size_t *cap, struct catalog_file *f)
{
	if (grow(&cat->parsed, cap, cat->n_parsed, 1, sizeof(*cat->parsed)) < 0) {
		catalog_file_unref(f);
		return -ENOMEM;
	}
	cat->parsed[cat->n_parsed++] = f;
	return 0;
}

/* Copies a group's or a file's own problems into the load's list. */
int catalog_copy_diags(struct diag_list *diags, const struct diag_list *from)
{
	for (size_t i = 0; i < from->n; i++) {
		const struct diag *g = &from->items[i];
		if (diag_add(diags, g->level, g->file, g->line, "%s", g->msg) < 0 ||
		    diag_tag_advert(diags, diags->n - 1, g->advert) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Before the checks across files: an advertisement for other hosts is not this host's
 * to check (two variants of one id may target different groups). */
static int leave_out_untargeted(struct catalog *cat, const struct catalog_context *ctx)
{
	size_t k = 0;
	for (size_t i = 0; i < cat->n; i++) {
		const struct advert *a = cat->items[i];
		struct why why;
		if (!a->targets || published_targeted(a, ctx ? ctx->published : NULL, &why) == 1) {
			cat->items[k++] = cat->items[i];
			continue;
		}
		struct catalog_untargeted *v =
			reallocarray(cat->untargeted, cat->n_untargeted + 1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		cat->untargeted = v;
		v[cat->n_untargeted].advert = a;
		v[cat->n_untargeted].why = why;
		cat->n_untargeted++;
	}
	cat->n = k;
	return 0;
}

const struct catalog_untargeted *catalog_find_untargeted(const struct catalog *cat, const char *id)
{
	for (size_t i = 0; i < cat->n_untargeted; i++)
		if (strcmp(cat->untargeted[i].advert->id, id) == 0)
			return &cat->untargeted[i];
	return NULL;
}

/* Every problem (each group's, then its files', in reading order), every advertisement
 * and every file read, then the checks across files. */
int catalog_assemble(struct catalog *cat, const struct catalog_context *acc,
		     struct diag_list *diags)
{
	size_t total = 0, n_files = 0;
	for (size_t i = 0; i < cat->n_parsed; i++) {
		const struct catalog_file *f = cat->parsed[i];
		total += f->n_ads;
		n_files += f->real != NULL;
		cat->n_foreign += f->foreign;
		cat->n_retry += f->retry;
	}
	cat->items = malloc((total ? total : 1) * sizeof(*cat->items));
	cat->files = malloc((n_files + 1) * sizeof(*cat->files));
	if (!cat->items || !cat->files)
		return -ENOMEM;
	for (size_t g = 0; g < cat->n_groups; g++) {
		const struct catalog_group *grp = &cat->groups[g];
		if (catalog_copy_diags(diags, &grp->diags) < 0)
			return -ENOMEM;
		for (size_t i = grp->first; i < grp->first + grp->n; i++) {
			const struct catalog_file *f = cat->parsed[i];
			if (catalog_copy_diags(diags, &f->diags) < 0)
				return -ENOMEM;
			if (f->real)
				cat->files[cat->n_files++] = f->real;
			for (size_t k = 0; k < f->n_ads; k++)
				cat->items[cat->n++] = f->ads[k];
		}
	}
	cat->files[cat->n_files] = NULL;
	return leave_out_untargeted(cat, acc) < 0 ? -ENOMEM : catalog_validate(cat, acc, diags);
}

/* --- the files read so far, by real path (a file named twice is read once) ---------- */

struct path_set {
	const char **slots; /* open addressing; the strings belong to catalog.files */
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	return util_fnv1a(UTIL_FNV_OFFSET, s, strlen(s));
}

static bool path_set_has(const struct path_set *s, const char *p)
{
	if (s->cap == 0)
		return false;
	for (size_t i = hash_str(p) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->slots[i])
			return false;
		if (strcmp(s->slots[i], p) == 0)
			return true;
	}
}

static void path_set_put(struct path_set *s, const char *p)
{
	size_t i = hash_str(p) & (s->cap - 1);
	while (s->slots[i])
		i = (i + 1) & (s->cap - 1);
	s->slots[i] = p;
	s->n++;
}

/* Makes room for one more; returns 0 or -ENOMEM. */
static int path_set_reserve(struct path_set *s)
{
	if (2 * (s->n + 1) <= s->cap)
		return 0;
	struct path_set bigger = { calloc(s->cap ? 2 * s->cap : 64, sizeof(char *)),
				   s->cap ? 2 * s->cap : 64, 0 };
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			path_set_put(&bigger, s->slots[i]);
	free(s->slots);
	*s = bigger;
	return 0;
}

/* --- reading everything ------------------------------------------------------------- */

struct loader {
	struct catalog *cat;
	const struct catalog_context *ctx;
	const struct catalog *old;
	struct catalog_reload_stats stats;
	struct timespec started; /* CLOCK_REALTIME before the first stat */
	struct path_set read;
	size_t cap_parsed;
};

/* Records real as read; returns 1, or 0 when it was read already, or -ENOMEM. */
static int claim_once(void *data, const char *real)
{
	struct loader *ld = data;
	if (path_set_has(&ld->read, real)) {
		ld->cat->duplicates = true;
		return 0;
	}
	if (path_set_reserve(&ld->read) < 0)
		return -ENOMEM;
	/* The string must outlive the set: the entry is made after the claim. */
	char *copy = strdup(real);
	if (!copy)
		return -ENOMEM;
	path_set_put(&ld->read, copy);
	return 1;
}

/* The entry of path in c (a directory's entries are in path order), or NULL. */
static struct catalog_file *entry_of(const struct catalog *c, const char *path)
{
	for (size_t g = 0; c && g < c->n_groups; g++) {
		size_t lo = c->groups[g].first, hi = lo + c->groups[g].n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int r = strcmp(c->parsed[mid]->path, path);
			if (r == 0)
				return c->parsed[mid];
			if (r < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return NULL;
}

static int load_file(struct loader *ld, const char *path, const char *real_hint)
{
	struct catalog_file *f = NULL;
	int r = catalog_file_load(path, real_hint, entry_of(ld->old, path), ld->started, claim_once,
				  ld, &ld->stats, &f);
	return r < 0 || !f ? r : append(ld->cat, &ld->cap_parsed, f);
}

bool catalog_is_conf_name(const char *name)
{
	size_t len = strlen(name);
	return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".conf") == 0;
}

struct dir_entry {
	char *name;
	bool regular; /* a regular file (not a symlink): its real path is the directory's */
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct dir_entry *)a)->name, ((const struct dir_entry *)b)->name);
}

/* name's path in the directory g (as configured + "/" + name) and, for a regular file,
 * its real path (the directory's + "/" + name; else NULL). Returns 0 or -ENOMEM. */
int catalog_entry_paths(const struct catalog_group *g, const char *name, bool regular,
			char **ret_path, char **ret_real)
{
	/* realdir is "/" or has no trailing slash; one per file of 10,000: no asprintf */
	size_t plen = strlen(g->path), nlen = strlen(name);
	size_t rlen = strcmp(g->realdir, "/") == 0 ? 0 : strlen(g->realdir);
	char *path = malloc(plen + nlen + 2), *real = regular ? malloc(rlen + nlen + 2) : NULL;
	if (!path || (regular && !real)) {
		free(path);
		free(real);
		return -ENOMEM;
	}
	memcpy(path, g->path, plen);
	path[plen] = '/';
	memcpy(path + plen + 1, name, nlen + 1);
	if (real) {
		memcpy(real, g->realdir, rlen);
		real[rlen] = '/';
		memcpy(real + rlen + 1, name, nlen + 1);
	}
	*ret_path = path;
	*ret_real = real;
	return 0;
}

static int load_directory(struct loader *ld, struct catalog_group *g)
{
	const char *dir = g->path;
	char *why = NULL;
	int r = trust_check(dir, TRUST_DIRECTORY, &why);
	if (r < 0) {
		r = diag_error(&g->diags, dir, 0, "refusing advertisement directory: %s",
			       why ? why : strerror(-r)) < 0 ||
				    r == -ENOMEM
			    ? -ENOMEM
			    : 0;
		free(why);
		return r;
	}
	char *realdir = realpath(dir, NULL);
	DIR *d = realdir ? opendir(dir) : NULL;
	if (!d) {
		r = diag_error(&g->diags, dir, 0, "cannot read the directory: %s",
			       strerror(errno)) < 0
			    ? -ENOMEM
			    : 0;
		free(realdir);
		return r;
	}
	g->realdir = realdir;
	struct dir_entry *names = NULL;
	size_t n = 0, cap = 0;
	r = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (!catalog_is_conf_name(de->d_name))
			continue;
		if (grow(&names, &cap, n, 1, sizeof(*names)) < 0 ||
		    !(names[n].name = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		names[n++].regular = de->d_type == DT_REG;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_entry);
	for (size_t i = 0; i < n; i++) {
		char *path = NULL, *real = NULL;
		if (r == 0 &&
		    catalog_entry_paths(g, names[i].name, names[i].regular, &path, &real) < 0)
			r = -ENOMEM;
		if (r == 0)
			r = load_file(ld, path, real);
		free(path);
		free(real);
		free(names[i].name);
	}
	free(names);
	return r;
}

/* An ldap:/// path: the published set's entries under it, parsed from their text. */
static int load_published(struct loader *ld, const char *url)
{
	const struct published_set *pub = ld->ctx ? ld->ctx->published : NULL;
	for (size_t i = 0; pub && i < pub->n; i++) {
		const struct published_entry *e = &pub->items[i];
		if (strcmp(e->base, url) != 0)
			continue;
		struct catalog_file *f = calloc(1, sizeof(*f));
		if (!f || asprintf(&f->path, "ldap:///%s", e->dn) < 0) {
			free(f);
			return -ENOMEM;
		}
		f->refs = 1;
		if (advert_parse_text(f->path, e->text, &f->ads, &f->n_ads, &f->diags) == -ENOMEM) {
			catalog_file_unref(f);
			return -ENOMEM;
		}
		ld->stats.files_seen++;
		ld->stats.files_parsed++;
		if (append(ld->cat, &ld->cap_parsed, f) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int gather(struct loader *ld, const char *const *paths, size_t n_paths)
{
	struct catalog *cat = ld->cat;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n_paths; i++) {
		struct catalog_group *g = &cat->groups[cat->n_groups++];
		g->first = cat->n_parsed;
		struct stat st;
		if (!(g->path = strdup(paths[i])))
			r = -ENOMEM;
		else if (config_is_url(paths[i]))
			r = load_published(ld, paths[i]);
		else if (stat(paths[i], &st) < 0)
			r = diag_warning(&g->diags, paths[i], 0,
					 "advertisement path is missing: %s", strerror(errno)) < 0
				    ? -ENOMEM
				    : 0;
		else if (S_ISDIR(st.st_mode))
			r = load_directory(ld, g);
		else
			r = load_file(ld, paths[i], NULL);
		g->n = cat->n_parsed - g->first;
	}
	return r;
}

int catalog_reload(const struct catalog *old, const char *const *paths, size_t n_paths,
		   const struct catalog_context *accounts, struct catalog **ret,
		   struct diag_list *diags, struct catalog_reload_stats *stats)
{
	struct loader ld = { .old = old, .ctx = accounts, .stats.full = true };
	if (!(ld.cat = catalog_new(n_paths, 0)))
		return -ENOMEM;
	ld.cap_parsed = 1;
	clock_gettime(CLOCK_REALTIME, &ld.started);
	int r = gather(&ld, paths, n_paths);
	for (size_t i = 0; i < ld.read.cap; i++)
		free((char *)ld.read.slots[i]);
	free(ld.read.slots);
	if (r == 0)
		r = catalog_assemble(ld.cat, accounts, diags);
	if (r < 0) {
		catalog_free(ld.cat);
		return r;
	}
	if (stats)
		*stats = ld.stats;
	*ret = ld.cat;
	return 0;
}

int catalog_load(const char *const *paths, size_t n_paths, const struct catalog_context *accounts,
		 struct catalog **ret, struct diag_list *diags)
{
	return catalog_reload(NULL, paths, n_paths, accounts, ret, diags, NULL);
}

const struct advert *catalog_find(const struct catalog *cat, const char *id)
{
	size_t lo = 0, hi = cat->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(cat->by_id[mid]->id, id);
		if (c == 0)
			return cat->by_id[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

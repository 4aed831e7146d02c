/* SPDX-License-Identifier: MIT */
/* The catalog of all advertisements: reading the directories and files, each file's
 * parse kept for the next reload. A reload reads again only the files that changed
 * since the previous catalog; every file is still checked for trust, and the checks
 * across files (catalog-check.c) still run over the whole result. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "advert/util.h"
#include "advert/cfgread.h"
#include "advert/trust.h"
#include "catalog-internal.h"

static void file_unref(struct catalog_file *f)
{
	if (!f || --f->refs > 0)
		return;
	for (size_t i = 0; i < f->n_ads; i++)
		advert_free(f->ads[i]);
	free(f->ads);
	diag_clear(&f->diags);
	free(f->path);
	free(f);
}

void catalog_free(struct catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->n_parsed; i++)
		file_unref(cat->parsed[i]);
	free(cat->parsed);
	free(cat->by_path);
	free(cat->by_id);
	free(cat->items);
	strv_free(cat->files);
	free(cat);
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

/* --- loading ------------------------------------------------------------------------ */

struct loader {
	struct catalog *cat;
	const struct catalog *old;
	struct diag_list *diags;
	struct catalog_reload_stats stats;
	struct timespec started; /* CLOCK_REALTIME before the first stat */
	struct path_set read;
	size_t cap_files, cap_parsed;
};

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

/* Records real as read; returns 1, or 0 when it was read already, or -ENOMEM. */
static int add_file(struct loader *ld, const char *real)
{
	struct catalog *cat = ld->cat;
	if (path_set_has(&ld->read, real))
		return 0;
	if (path_set_reserve(&ld->read) < 0 ||
	    grow(&cat->files, &ld->cap_files, cat->n_files, 2, sizeof(char *)) < 0 ||
	    !(cat->files[cat->n_files] = strdup(real)))
		return -ENOMEM;
	path_set_put(&ld->read, cat->files[cat->n_files]);
	cat->files[++cat->n_files] = NULL;
	return 1;
}

static int cmp_file_path(const void *a, const void *b)
{
	const struct catalog_file *x = *(struct catalog_file *const *)a,
				  *y = *(struct catalog_file *const *)b;
	return strcmp(x->path, y->path);
}

static struct catalog_file *old_parse(const struct catalog *old, const char *path)
{
	size_t lo = 0, hi = old ? old->n_parsed : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(old->by_path[mid]->path, path);
		if (c == 0)
			return old->by_path[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool unchanged(const struct catalog_file *f, const struct stat *st)
{
	return f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
	       same_time(f->mtim, st->st_mtim) && same_time(f->ctim, st->st_ctim);
}

/* Whether a change made after the read would surely show in the ctime. File times come
 * from the kernel's coarse clock, so a write in the same tick as the read (or, on a file
 * system with whole-second times, the same second) could leave them as they were: such
 * a file is read again next time, as git does with its "racily clean" entries. */
static bool settled(const struct stat *st, struct timespec started)
{
	if (st->st_ctim.tv_nsec == 0) /* probably whole seconds: allow for 2 s ones (FAT) */
		return st->st_ctim.tv_sec + 2 <= started.tv_sec;
	/* File times can lag the clock by a few coarse ticks, or (multigrain timestamps)
	 * be finer than it: settled means older than the read by a safe margin. */
	const long margin_ns = 20 * 1000 * 1000;
	long long c = (long long)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
	long long s = (long long)started.tv_sec * 1000000000LL + started.tv_nsec;
	return c + margin_ns < s;
}

/* Copies a file's own problems into the reload's list. */
static int report(struct diag_list *diags, const struct diag_list *from)
{
	for (size_t i = 0; i < from->n; i++) {
		const struct diag *g = &from->items[i];
		if (diag_add(diags, g->level, g->file, g->line, "%s", g->msg) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse(struct loader *ld, const char *path, const struct stat *st,
		 struct catalog_file **ret)
{
	struct catalog_file *f = calloc(1, sizeof(*f));
	char *copy = strdup(path);
	if (!f || !copy) {
		free(f);
		free(copy);
		return -ENOMEM;
	}
	*f = (struct catalog_file){ .refs = 1,
				    .path = copy,
				    .dev = st->st_dev,
				    .ino = st->st_ino,
				    .size = st->st_size,
				    .mtim = st->st_mtim,
				    .ctim = st->st_ctim };
	int r = advert_parse_file(path, &f->ads, &f->n_ads, &f->diags);
	if (r == -ENOMEM) {
		file_unref(f);
		return r;
	}
	/* What the bytes say (valid or not: a syntax error, @include, a NUL) holds until the
	 * file changes, so a broken file is not parsed again at every rescan; one that
	 * could not be read is, the cause being outside it. */
	f->reusable = (r == 0 || r == -EINVAL || r == -EPERM) && settled(st, ld->started);
	*ret = f;
	return 0;
}

static int load_file(struct loader *ld, const char *path, const char *real_hint)
{
	struct catalog *cat = ld->cat;
	ld->stats.files_seen++;
	char *why = NULL;
	/* A plain file in a directory that was just checked needs only its own lstat; a
	 * symlink or a file named directly gets the full walk up to /. */
	struct stat lst;
	int r = real_hint && lstat(path, &lst) == 0 ? trust_check_entry(path, &lst, &why) : -EAGAIN;
	if (r == -EAGAIN)
		r = trust_check(path, TRUST_FILE, &why);
	if (r < 0) {
		ld->stats.files_refused++;
		r = diag_error(ld->diags, path, 0, "refusing advertisement file: %s",
			       why ? why : strerror(-r)) < 0 ||
				    r == -ENOMEM
			    ? -ENOMEM
			    : 0;
		free(why);
		return r;
	}
	char *real = real_hint ? strdup(real_hint) : realpath(path, NULL);
	if (!real) {
		ld->stats.files_refused++;
		return errno == ENOMEM ? -ENOMEM : 0;
	}
	r = add_file(ld, real);
	free(real);
	if (r <= 0) /* already read through another path, or ENOMEM */
		return r;

	/* The identity is taken before the read: a change during it shows next time. */
	struct stat st;
	if (real_hint && S_ISREG(lst.st_mode))
		st = lst;
	else if (stat(path, &st) < 0) {
		ld->stats.files_refused++;
		return diag_error(ld->diags, path, 0, "cannot read the file: %s", strerror(errno)) <
				       0
			       ? -ENOMEM
			       : 0;
	}
	if (grow(&cat->parsed, &ld->cap_parsed, cat->n_parsed, 1, sizeof(*cat->parsed)) < 0)
		return -ENOMEM;
	struct catalog_file *f = old_parse(ld->old, path);
	if (f && f->reusable && unchanged(f, &st)) {
		f->refs++;
		ld->stats.files_reused++;
	} else {
		if ((r = parse(ld, path, &st, &f)) < 0)
			return r;
		ld->stats.files_parsed++;
	}
	cat->parsed[cat->n_parsed++] = f;
	return report(ld->diags, &f->diags);
}

static bool is_conf_name(const char *name)
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

static int load_directory(struct loader *ld, const char *dir)
{
	char *why = NULL;
	int r = trust_check(dir, TRUST_DIRECTORY, &why);
	if (r < 0) {
		r = diag_error(ld->diags, dir, 0, "refusing advertisement directory: %s",
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
		r = diag_error(ld->diags, dir, 0, "cannot read the directory: %s",
			       strerror(errno)) < 0
			    ? -ENOMEM
			    : 0;
		free(realdir);
		return r;
	}
	struct dir_entry *names = NULL;
	size_t n = 0, cap = 0;
	r = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (!is_conf_name(de->d_name))
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
	size_t rlen = strlen(realdir), dlen = strlen(dir);
	for (size_t i = 0; i < n; i++) {
		size_t nlen = strlen(names[i].name);
		char *path = r == 0 ? malloc(dlen + nlen + 2) : NULL;
		char *real = path && names[i].regular ? malloc(rlen + nlen + 2) : NULL;
		if (r == 0 && (!path || (names[i].regular && !real)))
			r = -ENOMEM;
		if (r == 0) {
			memcpy(path, dir, dlen);
			path[dlen] = '/';
			memcpy(path + dlen + 1, names[i].name, nlen + 1);
			if (real) {
				/* realdir is "/" or has no trailing slash */
				memcpy(real, realdir, rlen);
				real[rlen] = '/';
				memcpy(real + rlen + (rlen > 1), names[i].name, nlen + 1);
			}
			r = load_file(ld, path, real);
		}
		free(path);
		free(real);
		free(names[i].name);
	}
	free(names);
	free(realdir);
	return r;
}

/* --- the catalog -------------------------------------------------------------------- */

/* by_path, for the next reload to find a file's previous parse. */
static int index_paths(struct catalog *cat)
{
	cat->by_path = malloc((cat->n_parsed ? cat->n_parsed : 1) * sizeof(*cat->by_path));
	if (!cat->by_path)
		return -ENOMEM;
	if (cat->n_parsed > 0) {
		memcpy(cat->by_path, cat->parsed, cat->n_parsed * sizeof(*cat->by_path));
		qsort(cat->by_path, cat->n_parsed, sizeof(*cat->by_path), cmp_file_path);
	}
	return 0;
}

static int gather(struct loader *ld, const char *const *paths, size_t n_paths)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < n_paths; i++) {
		struct stat st;
		if (stat(paths[i], &st) < 0)
			r = diag_warning(ld->diags, paths[i], 0,
					 "advertisement path is missing: %s", strerror(errno)) < 0
				    ? -ENOMEM
				    : 0;
		else if (S_ISDIR(st.st_mode))
			r = load_directory(ld, paths[i]);
		else
			r = load_file(ld, paths[i], NULL);
	}
	if (r < 0)
		return r;

	/* Every advertisement of every file read, in reading order. */
	struct catalog *cat = ld->cat;
	size_t total = 0;
	for (size_t i = 0; i < cat->n_parsed; i++)
		total += cat->parsed[i]->n_ads;
	if (!(cat->items = malloc((total ? total : 1) * sizeof(*cat->items))))
		return -ENOMEM;
	for (size_t i = 0; i < cat->n_parsed; i++)
		for (size_t k = 0; k < cat->parsed[i]->n_ads; k++)
			cat->items[cat->n++] = cat->parsed[i]->ads[k];
	return 0;
}

int catalog_reload(const struct catalog *old, const char *const *paths, size_t n_paths,
		   const struct catalog_accounts *accounts, struct catalog **ret,
		   struct diag_list *diags, struct catalog_reload_stats *stats)
{
	struct loader ld = { .old = old, .diags = diags };
	ld.cat = calloc(1, sizeof(*ld.cat));
	if (!ld.cat || !(ld.cat->files = calloc(1, sizeof(char *)))) {
		free(ld.cat);
		return -ENOMEM;
	}
	ld.cap_files = 1;
	clock_gettime(CLOCK_REALTIME, &ld.started);
	int r = gather(&ld, paths, n_paths);
	free(ld.read.slots);
	if (r == 0)
		r = catalog_validate(ld.cat, accounts, diags);
	if (r == 0)
		r = index_paths(ld.cat);
	if (r < 0) {
		catalog_free(ld.cat);
		return r;
	}
	if (stats)
		*stats = ld.stats;
	*ret = ld.cat;
	return 0;
}

int catalog_load(const char *const *paths, size_t n_paths, const struct catalog_accounts *accounts,
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

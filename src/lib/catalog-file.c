/* SPDX-License-Identifier: MIT */
/* One advertisement file of the catalog: the trust check, its identity before the read,
 * the parse, and the reuse of a previous parse while the file is unchanged. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "advert/trust.h"
#include "catalog-internal.h"

void catalog_file_unref(struct catalog_file *f)
{
	if (!f || --f->refs > 0)
		return;
	for (size_t i = 0; i < f->n_ads; i++)
		advert_free(f->ads[i]);
	free(f->ads);
	diag_clear(&f->diags);
	free(f->path);
	free(f->real);
	free(f);
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

/* An entry that holds only a problem with the file (f->real may be set already); it is
 * looked at again every time. Returns 0, or -ENOMEM (f freed). */
static int refuse(struct catalog_file *f, const char *what, const char *why)
{
	f->retry = true;
	if (diag_error(&f->diags, f->path, 0, "%s: %s", what, why) < 0) {
		catalog_file_unref(f);
		return -ENOMEM;
	}
	return 0;
}

static int parse(struct catalog_file *f, const struct stat *st, struct timespec started)
{
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtim = st->st_mtim;
	f->ctim = st->st_ctim;
	int r = advert_parse_file(f->path, &f->ads, &f->n_ads, &f->diags);
	if (r == -ENOMEM)
		return r;
	/* What the bytes say (valid or not: a syntax error, @include, a NUL) holds until the
	 * file changes, so a broken file is not parsed again at every rescan; one that
	 * could not be read is, the cause being outside it. */
	f->retry = !(r == 0 || r == -EINVAL || r == -EPERM);
	f->reusable = !f->retry && settled(st, started);
	return 0;
}

/* A new entry for path; real (may be NULL) is taken over. */
static struct catalog_file *file_new(const char *path, char *real)
{
	struct catalog_file *f = calloc(1, sizeof(*f));
	char *copy = f ? strdup(path) : NULL;
	if (!copy) {
		free(f);
		free(real);
		return NULL;
	}
	*f = (struct catalog_file){ .refs = 1, .path = copy, .real = real };
	return f;
}

int catalog_file_load(const char *path, const char *real_hint, struct catalog_file *prev,
		      struct timespec started, int (*claim)(void *data, const char *real),
		      void *data, struct catalog_reload_stats *stats, struct catalog_file **ret)
{
	struct catalog_reload_stats none;
	if (!stats)
		stats = &none;
	stats->files_seen++;
	char *why = NULL;
	/* A plain file in a directory that was just checked needs only its own lstat; a
	 * symlink or a file named directly gets the full walk up to /. */
	struct stat lst;
	int r = real_hint && lstat(path, &lst) == 0 ? trust_check_entry(path, &lst, &why) : -EAGAIN;
	if (r == -EAGAIN)
		r = trust_check(path, TRUST_FILE, &why);
	if (r == -ENOMEM) {
		free(why);
		return r;
	}
	struct catalog_file *f = NULL;
	if (r < 0) {
		stats->files_refused++;
		f = file_new(path, NULL);
		r = f ? refuse(f, "refusing advertisement file", why ? why : strerror(-r))
		      : -ENOMEM;
		free(why);
		*ret = f;
		return r;
	}
	char *real = real_hint ? strdup(real_hint) : realpath(path, NULL);
	if (!real) {
		/* Gone since it was listed: nothing to say, but look again next time. */
		stats->files_refused++;
		if (errno == ENOMEM || !(f = file_new(path, NULL)))
			return -ENOMEM;
		f->retry = true;
		*ret = f;
		return 0;
	}
	if ((r = claim(data, real)) <= 0) { /* already read through another path, or ENOMEM */
		free(real);
		*ret = NULL;
		return r;
	}
	/* The identity is taken before the read: a change during it shows next time. */
	struct stat st;
	if (real_hint && S_ISREG(lst.st_mode))
		st = lst;
	else if (stat(path, &st) < 0) {
		int e = errno;
		stats->files_refused++;
		if (!(f = file_new(path, real)))
			return -ENOMEM;
		r = refuse(f, "cannot read the file", strerror(e));
		*ret = r < 0 ? NULL : f;
		return r;
	}
	if (prev && prev->reusable && unchanged(prev, &st) && prev->real &&
	    strcmp(prev->real, real) == 0 && prev->foreign == !real_hint) {
		free(real);
		prev->refs++;
		stats->files_reused++;
		*ret = prev;
		return 0;
	}
	if (!(f = file_new(path, real)))
		return -ENOMEM;
	f->foreign = !real_hint;
	if ((r = parse(f, &st, started)) < 0) {
		catalog_file_unref(f);
		return r;
	}
	stats->files_parsed++;
	*ret = f;
	return 0;
}

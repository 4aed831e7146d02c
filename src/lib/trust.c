/* SPDX-License-Identifier: MIT */
/* Refuses configuration that anyone but root could have written. */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "advert/trust.h"

static int fail(char **ret_reason, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char **ret_reason, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(ret_reason, fmt, ap) < 0)
		*ret_reason = NULL;
	va_end(ap);
	return err;
}

/* Ownership and mode of one path that has no symlink left in it. */
static int check_one(const char *path, bool is_ancestor, struct stat *st, char **ret_reason)
{
	if (stat(path, st) < 0)
		return fail(ret_reason, -errno, "cannot stat \"%s\": %s", path, strerror(errno));
	const char *what = S_ISDIR(st->st_mode) ? "directory" : "file";
	if (st->st_uid != 0)
		return fail(ret_reason, -EPERM, "%s \"%s\" is owned by uid %u, not root", what,
			    path, (unsigned)st->st_uid);
	bool sticky_dir = S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(is_ancestor && sticky_dir))
		return fail(ret_reason, -EPERM,
			    "%s \"%s\" is writable by group or others (mode %04o)", what, path,
			    (unsigned)(st->st_mode & 07777));
	return 0;
}

int trust_check_entry(const char *path, const struct stat *st, char **ret_reason)
{
	*ret_reason = NULL;
	if (S_ISLNK(st->st_mode))
		return -EAGAIN;
	if (!S_ISREG(st->st_mode))
		return fail(ret_reason, -EPERM, "\"%s\" is not a regular file", path);
	if (st->st_uid != 0)
		return fail(ret_reason, -EPERM, "file \"%s\" is owned by uid %u, not root", path,
			    (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return fail(ret_reason, -EPERM,
			    "file \"%s\" is writable by group or others (mode %04o)", path,
			    (unsigned)(st->st_mode & 07777));
	return 0;
}

/* Checks real (already resolved) and each of its ancestors up to /. */
static int check_chain(const char *real, char **ret_reason)
{
	char *p = strdup(real);
	if (!p)
		return -ENOMEM;
	struct stat st;
	int r = check_one(p, false, &st, ret_reason);
	while (r == 0 && strcmp(p, "/") != 0) {
		char *slash = strrchr(p, '/');
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
		r = check_one(p, true, &st, ret_reason);
	}
	free(p);
	return r;
}

int trust_check(const char *path, enum trust_kind kind, char **ret_reason)
{
	*ret_reason = NULL;

	char *real = realpath(path, NULL);
	if (!real)
		return fail(ret_reason, -errno, "cannot open \"%s\": %s", path, strerror(errno));

	struct stat st;
	int r = 0;
	if (stat(real, &st) < 0)
		r = fail(ret_reason, -errno, "cannot stat \"%s\": %s", real, strerror(errno));
	else if (kind == TRUST_FILE && !S_ISREG(st.st_mode))
		r = fail(ret_reason, -EPERM, "\"%s\" is not a regular file", real);
	else if (kind == TRUST_DIRECTORY && !S_ISDIR(st.st_mode))
		r = fail(ret_reason, -ENOTDIR, "\"%s\" is not a directory", real);
	else
		r = check_chain(real, ret_reason);
	free(real);
	if (r < 0)
		return r;

	/* A symlink is only as safe as the directory holding it: whoever can write there
	 * can point it elsewhere. */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		char *copy = strdup(path);
		if (!copy)
			return -ENOMEM;
		char *dir = realpath(dirname(copy), NULL);
		free(copy);
		if (!dir)
			return fail(ret_reason, -errno, "cannot resolve the directory of \"%s\"",
				    path);
		r = check_chain(dir, ret_reason);
		free(dir);
	}
	return r;
}

/* SPDX-License-Identifier: MIT */
/* What the parts of the catalog share: catalog.c (the directories, reload and update),
 * catalog-file.c (one file: trust, identity, parse) and catalog-check.c (the checks
 * across files). */
#ifndef ADVERT_CATALOG_INTERNAL_H
#define ADVERT_CATALOG_INTERNAL_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "advert/catalog.h"

/* One name a load looked at, in reading order: its advertisements (owned here), its
 * problems (the refusal, or what the parse found), and the identity the file had just
 * before it was read. Shared, reference-counted, by the catalogs that kept it. */
struct catalog_file {
	unsigned refs;
	char *path; /* as read: a directory's path + "/" + name, or a configured path */
	char *real; /* its real path, or NULL: refused before it was resolved */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	bool reusable; /* read (whatever it said), not modified in the tick it was read */
	bool retry;    /* the outcome had a cause outside the bytes: look again every time */
	bool foreign;  /* real is not the directory's real path + "/" + name */
	struct advert **ads;
	size_t n_ads;
	struct diag_list diags;
};

/* One configured path: a directory (its *.conf files, in name order) or a file. */
struct catalog_group {
	char *path;             /* as configured */
	char *realdir;          /* a directory that was trusted and read; else NULL */
	size_t first, n;        /* its entries in catalog.parsed */
	struct diag_list diags; /* its own problems: missing, refused, unreadable */
};

void catalog_file_unref(struct catalog_file *f);

/* --- catalog.c ---------------------------------------------------------------------- */

/* An empty catalog with room for n_paths groups and n entries; NULL on ENOMEM. */
struct catalog *catalog_new(size_t n_paths, size_t n);
/* Copies a group's or a file's own problems into a load's list; 0 or -ENOMEM. */
int catalog_copy_diags(struct diag_list *diags, const struct diag_list *from);
/* From cat's groups and entries: every problem in reading order, the items and the
 * files, then the checks across files. Returns 0 or -ENOMEM. */
int catalog_assemble(struct catalog *cat, const struct catalog_context *acc,
		     struct diag_list *diags) __attribute__((warn_unused_result));
/* name's path in the directory g and, for a regular file, its real path (else NULL);
 * both for the caller to free. Returns 0 or -ENOMEM. */
int catalog_entry_paths(const struct catalog_group *g, const char *name, bool regular,
			char **ret_path, char **ret_real);
/* Whether a directory's entry is an advertisement file: *.conf, not hidden. */
bool catalog_is_conf_name(const char *name);

/* --- catalog-file.c ----------------------------------------------------------------- */

/* Checks path for trust, resolves it and reads it, or reuses prev (which may be NULL)
 * when it is unchanged. real_hint is the real path of a regular file in a directory
 * just checked (only its own lstat is needed then), or NULL (the full walk up to /).
 * claim(data, real) records that file as read and returns 1, or 0 when it was read
 * already through another path (it is not read twice), or -ENOMEM. Returns 0 with *ret:
 * an entry (a new one, or prev with one more reference; caller unrefs), or NULL when the
 * file was read already; or -ENOMEM. stats may be NULL. */
int catalog_file_load(const char *path, const char *real_hint, struct catalog_file *prev,
		      struct timespec started, int (*claim)(void *data, const char *real),
		      void *data, struct catalog_reload_stats *stats, struct catalog_file **ret)
	__attribute__((nonnull(1, 5, 8), warn_unused_result));

/* --- catalog-check.c ---------------------------------------------------------------- */

/* Leaves out of cat->items what fails a check across files (the rest stay, in order),
 * each with its reason in diags, and builds cat->by_id. Returns 0 or -ENOMEM. */
int catalog_validate(struct catalog *cat, const struct catalog_context *acc,
		     struct diag_list *diags) __attribute__((nonnull(1, 3), warn_unused_result));

#endif

/* SPDX-License-Identifier: MIT */
/* The catalog: every advertisement from every configured file and directory, checked as
 * a whole (unique ids, accounts that exist, dependencies that exist and form no cycle).
 * A broken file or advertisement is reported and left out; the rest stay. */
#ifndef ADVERT_CATALOG_H
#define ADVERT_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "advert/advert.h"
#include "advert/diag.h"
#include "advert/util.h"

/* One file's parse, shared (reference-counted) by the catalogs that read it unchanged. */
struct catalog_file;
struct catalog_group;

struct catalog {
	struct advert **items; /* sorted by file, then line; read-only: shared with other
				* catalogs that reused the same file */
	size_t n;
	const char **files; /* every file that was read (trusted), NULL-terminated; the
			     * strings are the catalog's */
	size_t n_files;

	/* Private to catalog*.c. */
	struct catalog_file **parsed; /* every name looked at, in reading order */
	size_t n_parsed;
	struct catalog_group *groups; /* one per configured path, in order */
	size_t n_groups;
	bool duplicates;       /* a file was reached through two paths (and read once) */
	size_t n_foreign;      /* entries whose real path is not their directory's */
	size_t n_retry;        /* entries to look at again every time */
	struct advert **by_id; /* items sorted by id, for catalog_find */
	struct catalog_untargeted *untargeted; /* left out by their targets, file order */
	size_t n_untargeted;
};

struct published_set;

/* What a load needs besides the paths: which run_as names exist besides "system"; the
 * published set, for ldap:/// paths and for targets (NULL: none; an ldap:/// path then
 * gives nothing and a target names no host). */
struct catalog_context {
	const char *const *names;
	size_t n;
	const struct published_set *published;
};

/* An advertisement left out because it is not for this host. */
struct catalog_untargeted {
	const struct advert *advert;
	struct why why;
};

/* What a reload did with the advertisement files it found. */
struct catalog_reload_stats {
	size_t files_seen;    /* *.conf files in the directories, and files named directly */
	size_t files_parsed;  /* read and parsed */
	size_t files_reused;  /* unchanged since old: its previous parse was reused */
	size_t files_refused; /* failed the trust check (or vanished while being read) */
	bool full;            /* every path was read (for catalog_update: it had to) */
};

/* Loads every path (a directory: its *.conf files, in name order; a file; or an ldap:///
 * URL: the published set's entries under it, each named "ldap:///DN"), each checked for
 * trust first, leaves out what is not targeted at this host (cat->untargeted), then
 * validates across files against accounts. Every problem
 * is reported in diags; *ret holds every valid advertisement. Returns 0, or -ENOMEM.
 * Same as catalog_reload(NULL, …). */
int catalog_load(const char *const *paths, size_t n_paths, const struct catalog_context *accounts,
		 struct catalog **ret, struct diag_list *diags)
	__attribute__((nonnull(4, 5), warn_unused_result));

/* Like catalog_load, but a file that old (may be NULL) parsed and that is unchanged
 * (same path, device, inode, size, mtime and ctime, and not modified in the clock tick
 * old read it in) is not read again: its advertisements and its diagnostics are reused.
 * Trust checks run for every directory and file every time, and the checks across
 * files run over the whole result. Files with an @include, and files that could not
 * be parsed at all, are always read again. old is not modified; it may be freed before
 * or after *ret (the shared parses are reference-counted, without locking: one thread).
 * stats may be NULL. Returns 0 with a new *ret (caller frees), or -ENOMEM. */
int catalog_reload(const struct catalog *old, const char *const *paths, size_t n_paths,
		   const struct catalog_context *accounts, struct catalog **ret,
		   struct diag_list *diags, struct catalog_reload_stats *stats)
	__attribute__((nonnull(5, 6), warn_unused_result));

/* Like catalog_reload(old, …), for when only the names in changed may have changed
 * since old was loaded from the same paths (inotify's names: a configured directory's
 * path as configured + "/" + name; created, written, removed, renamed or changed
 * attributes). The other files are kept as they were, unread and unchecked; the checks
 * across files run over the whole result, which is the catalog, and the diagnostics,
 * that catalog_reload would give. A changed name that no configured directory holds, or
 * that is no *.conf name, is ignored. Falls back to catalog_reload (stats->full) when it
 * cannot be sure: no old, other paths, a configured file or a directory itself changed,
 * a file reached through two paths, or too many names. The counts in stats are for
 * the names looked at. Returns 0 with a new *ret (caller frees), or -ENOMEM. */
int catalog_update(const struct catalog *old, const char *const *paths, size_t n_paths,
		   const struct catalog_context *accounts, const char *const *changed,
		   size_t n_changed, struct catalog **ret, struct diag_list *diags,
		   struct catalog_reload_stats *stats)
	__attribute__((nonnull(7, 8), warn_unused_result));

/* Why the advertisement with this id was left out by its targets, or NULL. */
const struct catalog_untargeted *catalog_find_untargeted(const struct catalog *cat, const char *id);

/* The advertisement with this id, or NULL; O(log n). */
const struct advert *catalog_find(const struct catalog *cat, const char *id);

void catalog_free(struct catalog *cat);

#endif

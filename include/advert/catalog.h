/* The catalog: every advertisement from every configured file and directory, checked as
 * a whole (unique ids, accounts that exist, dependencies that exist and form no cycle).
 * A broken file or advertisement is reported and left out; the rest stay. */
#ifndef ADVERT_CATALOG_H
#define ADVERT_CATALOG_H

#include <stddef.h>

#include "advert/advert.h"
#include "advert/diag.h"

struct catalog {
	struct advert **items; /* sorted by file, then line */
	size_t n;
	char **files; /* every file that was read (trusted), NULL-terminated */
	size_t n_files;
};

/* Which run_as names exist besides "system". */
struct catalog_accounts {
	const char *const *names;
	size_t n;
};

/* Loads every path (a directory: its *.conf files, in name order; or a file), each
 * checked for trust first, then validates across files against accounts. Every problem
 * is reported in diags; *ret holds every valid advertisement. Returns 0, or -ENOMEM. */
int catalog_load(const char *const *paths, size_t n_paths,
		 const struct catalog_accounts *accounts, struct catalog **ret,
		 struct diag_list *diags) __attribute__((nonnull(4, 5), warn_unused_result));

/* The advertisement with this id, or NULL. */
const struct advert *catalog_find(const struct catalog *cat, const char *id);

void catalog_free(struct catalog *cat);

#endif

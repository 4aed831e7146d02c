/* SPDX-License-Identifier: MIT */
/* What catalog.c (reading files) and catalog-check.c (the checks across files) share. */
#ifndef ADVERT_CATALOG_INTERNAL_H
#define ADVERT_CATALOG_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "advert/catalog.h"

/* One file as parsed: its advertisements (owned here), the problems the parse found, and
 * the identity the file had just before it was read. */
struct catalog_file {
	unsigned refs;
	char *path; /* as read: a directory's path + "/" + name, or a configured path */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	bool reusable; /* read (whatever it said), not modified in the tick it was read */
	struct advert **ads;
	size_t n_ads;
	struct diag_list diags;
};

/* Leaves out of cat->items what fails a check across files (the rest stay, in order),
 * each with its reason in diags, and builds cat->by_id. Returns 0 or -ENOMEM. */
int catalog_validate(struct catalog *cat, const struct catalog_accounts *acc,
		     struct diag_list *diags) __attribute__((nonnull(1, 3), warn_unused_result));

#endif

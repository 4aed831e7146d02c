/* SPDX-License-Identifier: MIT */
/* The whole-configuration check behind `advertd --check` and `advertctl check-config`:
 * advertd.conf, then every advertisement it points to, validated together. */
#ifndef ADVERT_CHECK_H
#define ADVERT_CHECK_H

#include <stdio.h>

#include "advert/catalog.h"
#include "advert/config.h"
#include "advert/diag.h"

struct check_result {
	struct config *config;           /* NULL when advertd.conf could not be read at all */
	struct catalog *catalog;         /* NULL on ENOMEM only */
	struct diag_list diags;          /* sorted by file and line */
	struct published_set *published; /* the cached published set, NULL when unread */
	const char *const *extra;        /* the paths checked on request, borrowed */
	size_t n_extra;
};

/* Reads config_path and its advertisements (without extra paths, the directory's from
 * the cache in state_dir, when it can be read) plus the extra files or directories. When
 * extra paths are given, only problems in them (and in advertd.conf) are kept: the
 * question is "would these files work here?". Returns 0 (look at the diagnostics) or
 * -ENOMEM. Free with check_result_clear. */
int check_run(const char *config_path, const char *const *extra, size_t n_extra,
	      struct check_result *ret) __attribute__((nonnull(1, 4), warn_unused_result));

/* Prints what was found: the configuration and each advertisement on one line; with
 * extra paths, only the advertisements from them. */
void check_print_summary(const struct check_result *res, FILE *out);

void check_result_clear(struct check_result *res);

#endif

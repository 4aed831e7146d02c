/* SPDX-License-Identifier: MIT */
/* Diagnostics: problems found while reading configuration, each tied to a file and line
 * so an admin can go straight to it. Collected, never printed by the library itself. */
#ifndef ADVERT_DIAG_H
#define ADVERT_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum diag_level { DIAG_ERROR, DIAG_WARNING };

struct diag {
	enum diag_level level;
	char *file; /* NULL when the problem belongs to no file */
	int line;   /* 0 when unknown */
	char *msg;
	char *advert; /* the advertisement it rejected, when its id is known; else NULL */
};

struct diag_list {
	struct diag *items;
	size_t n, cap;
};

/* Appends a problem; file may be NULL, line 0. Returns 0 or -ENOMEM. */
int diag_add(struct diag_list *l, enum diag_level level, const char *file, int line,
	     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define diag_error(l, file, line, ...)   diag_add((l), DIAG_ERROR, (file), (line), __VA_ARGS__)
#define diag_warning(l, file, line, ...) diag_add((l), DIAG_WARNING, (file), (line), __VA_ARGS__)

/* Names advert as the advertisement of the entries from index from on that name none yet
 * (what its parse or check reported). Returns 0 or -ENOMEM. */
int diag_tag_advert(struct diag_list *l, size_t from, const char *advert);

/* The first error that rejected advert, or NULL. */
const struct diag *diag_find_advert(const struct diag_list *l, const char *advert);

/* Number of entries of the given level. */
size_t diag_count(const struct diag_list *l, enum diag_level level);

/* Moves every entry of src to the end of dst; src is left empty. Returns 0 or -ENOMEM. */
int diag_move(struct diag_list *dst, struct diag_list *src);

/* Sorts by file, then line, keeping insertion order among equals. */
void diag_sort(struct diag_list *l);

/* Prints one entry per line as "FILE:LINE: error: MESSAGE". */
void diag_print(const struct diag_list *l, FILE *out);

/* Frees the entries; the list itself is reusable afterwards. */
void diag_clear(struct diag_list *l);

#endif

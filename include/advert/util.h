/* SPDX-License-Identifier: MIT */
/* The few small things every module would otherwise write again: FNV-1a hashing (the
 * tables' and the splay's), a monotonic clock in milliseconds, array lengths. */
#ifndef ADVERT_UTIL_H
#define ADVERT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The largest time_t: "never" in schedules, holds and deadlines. */
#define UTIL_TIME_T_MAX ((time_t)((UINTMAX_C(1) << (sizeof(time_t) * CHAR_BIT - 1)) - 1))
#define UTIL_TIME_T_MIN (-UTIL_TIME_T_MAX - 1)

#define UTIL_FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* FNV-1a 64 of the n bytes at p, continuing from h (UTIL_FNV_OFFSET to start). */
uint64_t util_fnv1a(uint64_t h, const void *p, size_t n) __attribute__((pure));

/* The same over s up to its NUL, ASCII letters folded to lower case (for names that
 * compare case-insensitively: DNs, host names). */
uint64_t util_fnv1a_lower(uint64_t h, const char *s) __attribute__((pure, nonnull));

/* Sorts the n gids at v ascending and drops repeats; returns how many are left. */
size_t util_unique_gids(gid_t *v, size_t n);

/* CLOCK_MONOTONIC in milliseconds. */
double util_now_ms(void);

/* Why something failed, in one sentence for an admin: the one shape the text of a
 * failure takes on its way up (the directory, creds, the identity, the runner, the run
 * process's events), fixed-size so that it can cross a pipe and needs no freeing. */
#define UTIL_WHY_MAX 640
struct why {
	char text[UTIL_WHY_MAX];
};

/* Sets w's text; returns r, so that "return why_set(w, -EIO, …)" is one step. */
int why_set(struct why *w, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with a va_list. */
int why_vset(struct why *w, int r, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Puts the formatted text before what w says, as "prefix: text"; returns r. */
int why_prefix(struct why *w, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

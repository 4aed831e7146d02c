/* SPDX-License-Identifier: MIT */
/* Maintenance windows: days of the week, a local start time and a duration. A program
 * starts only inside a window that still has room for its whole max_runtime. Local time
 * is the process's (TZ); daylight saving is mktime's: a window at 02:30 on a day that
 * skips it opens at the first valid time after. */
#ifndef ADVERT_WINDOW_H
#define ADVERT_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define WINDOW_MAX          16
#define WINDOW_DURATION_MAX (7 * 86400)

struct window {
	unsigned days; /* bit 0 = Sunday … bit 6 = Saturday */
	int start;     /* minutes after local midnight, 0 … 1439 */
	int duration;  /* seconds */
};

/* "sun" … "sat" (any case) to 0 … 6, else -1. */
int window_day(const char *name);

/* "HH:MM" (00:00 … 23:59) to minutes after midnight, else -1. */
int window_parse_time(const char *s);

/* The earliest instant at or after t at which a program that runs for up to runtime
 * seconds may start inside one of the n windows (t itself when inside one with room),
 * looking 8 days ahead; 0 when none is found. */
time_t window_next_start(const struct window *w, size_t n, int runtime, time_t t);

/* Whether some window is long enough for runtime at all. */
bool window_fits(const struct window *w, size_t n, int runtime);

#endif

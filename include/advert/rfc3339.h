/* SPDX-License-Identifier: MIT */
/* RFC 3339 timestamps ("2026-11-22T10:00:00Z", "2026-11-22T11:00:00+01:00"). */
#ifndef ADVERT_RFC3339_H
#define ADVERT_RFC3339_H

#include <stddef.h>
#include <time.h>

/* Parses a full RFC 3339 date-time (offset required, fractional seconds ignored) into
 * seconds since the epoch, from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z once the
 * offset is applied. Seconds are 00 to 59 (no leap second). Never reads past the NUL.
 * Returns 0, or -EINVAL for anything else, impossible dates included. */
int rfc3339_parse(const char *s, time_t *ret) __attribute__((nonnull, warn_unused_result));

/* Formats t in UTC as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). Returns buf. */
char *rfc3339_format(time_t t, char *buf, size_t size) __attribute__((nonnull));

#define RFC3339_BUFSIZE 32

#endif

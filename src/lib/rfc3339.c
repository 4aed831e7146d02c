/* SPDX-License-Identifier: MIT */
/* RFC 3339 date-time parsing and formatting, always computed in UTC (never the local
 * time zone), so schedules mean the same on every host. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "advert/rfc3339.h"

/* The latest time accepted, 9999-12-31T23:59:59Z: rfc3339_format writes a later one with a
 * five-digit year, which no parser of this format reads back. */
#define RFC3339_MAX ((time_t)253402300799LL)

/* Reads exactly n digits at *p and moves past them; -1 (and *p unchanged) if one is not a
 * digit. It stops at the first byte that is not a digit, so it never reads past a NUL. */
static int take_digits(const char **p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* Moves past one byte if it is one of alts; never past the NUL. */
static bool take(const char **p, const char *alts)
{
	if (**p == '\0' || !strchr(alts, **p))
		return false;
	(*p)++;
	return true;
}

int rfc3339_parse(const char *s, time_t *ret)
{
	/* One byte at a time, each looked at only once the one before matched: the input
	 * may end anywhere, and nothing past its NUL is read. */
	const char *p = s;
	int year, mon, day, hour, min, sec;
	if ((year = take_digits(&p, 4)) < 0 || !take(&p, "-") || (mon = take_digits(&p, 2)) < 0 ||
	    !take(&p, "-") || (day = take_digits(&p, 2)) < 0 || !take(&p, "Tt") ||
	    (hour = take_digits(&p, 2)) < 0 || !take(&p, ":") || (min = take_digits(&p, 2)) < 0 ||
	    !take(&p, ":") || (sec = take_digits(&p, 2)) < 0)
		return -EINVAL;
	/* Leap seconds are not worth supporting here: POSIX time has no number for one, and
	 * no schedule needs 23:59:60. So seconds run 00 to 59, and "10:00:60" is an error,
	 * not 10:01:00. */
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
	    sec > 59)
		return -EINVAL;

	if (take(&p, ".")) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}

	long offset = 0;
	if (take(&p, "Zz")) {
		/* UTC */
	} else if (*p == '+' || *p == '-') {
		long sign = *p == '-' ? -1 : 1;
		p++;
		int oh, om;
		if ((oh = take_digits(&p, 2)) < 0 || !take(&p, ":") ||
		    (om = take_digits(&p, 2)) < 0 || oh > 23 || om > 59)
			return -EINVAL;
		offset = sign * (oh * 3600L + om * 60L);
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;

	struct tm tm = { .tm_year = year - 1900,
			 .tm_mon = mon - 1,
			 .tm_mday = day,
			 .tm_hour = hour,
			 .tm_min = min,
			 .tm_sec = sec };
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	/* timegm normalises 2026-02-30 to March 2nd: reject dates that moved. */
	if (tm.tm_mday != day || tm.tm_mon != mon - 1)
		return -EINVAL;
	/* The offset can move a time past either end of the range (1970-01-01T00:00:00+01:00
	 * is in 1969): accept only times that rfc3339_format writes in a form read here. */
	t -= offset;
	if (t < 0 || t > RFC3339_MAX)
		return -EINVAL;
	*ret = t;
	return 0;
}

char *rfc3339_format(time_t t, char *buf, size_t size)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "@%lld", (long long)t);
	return buf;
}

/* RFC 3339 date-time parsing and formatting, always computed in UTC (never the local
 * time zone), so schedules mean the same on every host. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "advert/rfc3339.h"

/* Reads exactly n digits; returns -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int rfc3339_parse(const char *s, time_t *ret)
{
	/* YYYY-MM-DDTHH:MM:SS */
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2);
	int hour = digits(s + 11, 2), min = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
	    min < 0 || min > 59 || sec < 0 || sec > 60)
		return -EINVAL;

	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}

	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh = digits(p + 1, 2), om = p[3] == ':' ? digits(p + 4, 2) : -1;
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;

	/* A leap second is folded into the next second, as POSIX time does. */
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
			 .tm_hour = hour, .tm_min = min, .tm_sec = sec == 60 ? 59 : sec };
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	/* timegm normalises 2026-02-30 to March 2nd: reject dates that moved. */
	if (tm.tm_mday != day || tm.tm_mon != mon - 1)
		return -EINVAL;
	*ret = t - offset + (sec == 60);
	return 0;
}

char *rfc3339_format(time_t t, char *buf, size_t size)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "@%lld", (long long)t);
	return buf;
}

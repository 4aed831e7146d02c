/* SPDX-License-Identifier: MIT */
/* Maintenance windows: see advert/window.h. */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "advert/window.h"

int window_day(const char *name)
{
	static const char *const days[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
	for (int i = 0; i < 7; i++)
		if (strcasecmp(name, days[i]) == 0)
			return i;
	return -1;
}

int window_parse_time(const char *s)
{
	if (strlen(s) != 5 || s[2] != ':' || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	return h < 24 && m < 60 ? h * 60 + m : -1;
}

bool window_fits(const struct window *w, size_t n, int runtime)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].days && w[i].duration >= runtime)
			return true;
	return false;
}

time_t window_next_start(const struct window *w, size_t n, int runtime, time_t t)
{
	struct tm base;
	if (!localtime_r(&t, &base))
		return 0;
	time_t best = 0;
	/* From as many days back as a window can last (one that opened then may still be
	 * open) to a week and a day ahead: every window recurs within that. */
	for (int day = -(WINDOW_DURATION_MAX / 86400) - 1; day <= 8; day++) {
		for (size_t i = 0; i < n; i++) {
			struct tm tm = base;
			tm.tm_mday += day;
			tm.tm_hour = w[i].start / 60;
			tm.tm_min = w[i].start % 60;
			tm.tm_sec = 0;
			tm.tm_isdst = -1;
			time_t open = mktime(&tm);
			if (open == (time_t)-1 || !(w[i].days & (1u << tm.tm_wday)))
				continue;
			time_t last =
				open + w[i].duration - runtime; /* the latest start with room */
			time_t at = open > t ? open : t;
			if (last >= at && (!best || at < best))
				best = at;
		}
	}
	return best;
}

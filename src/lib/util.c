/* SPDX-License-Identifier: MIT */
/* Hashing, the clock and the why of a failure, once. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "advert/util.h"

uint64_t util_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * UINT64_C(0x100000001b3);
	return h;
}

uint64_t util_fnv1a_lower(uint64_t h, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * UINT64_C(0x100000001b3);
	}
	return h;
}

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
	return (x > y) - (x < y);
}

size_t util_unique_gids(gid_t *v, size_t n)
{
	if (n < 2)
		return n;
	qsort(v, n, sizeof(*v), cmp_gid);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (v[i] != v[k - 1])
			v[k++] = v[i];
	return k;
}

double util_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int why_vset(struct why *w, int r, const char *fmt, va_list ap)
{
	vsnprintf(w->text, sizeof(w->text), fmt, ap);
	return r;
}

int why_set(struct why *w, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	why_vset(w, r, fmt, ap);
	va_end(ap);
	return r;
}

int why_prefix(struct why *w, int r, const char *fmt, ...)
{
	char old[UTIL_WHY_MAX];
	memcpy(old, w->text, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w->text, sizeof(w->text), fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof(w->text) ? sizeof(w->text) - 1 : (size_t)n;
	if (old[0] && len + 2 < sizeof(w->text)) {
		memcpy(w->text + len, ": ", 2);
		len += 2;
		size_t k = strnlen(old, sizeof(w->text) - 1 - len);
		memcpy(w->text + len, old, k);
		w->text[len + k] = '\0';
	}
	return r;
}

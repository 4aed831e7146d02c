/* SPDX-License-Identifier: MIT */
/* RFC 3339 parsing: valid forms, offsets, and every malformed shape we reject. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "advert/rfc3339.h"
#include "testutil.h"

/* rfc3339_parse on a heap copy of exactly strlen(s) + 1 bytes, so that under
 * AddressSanitizer a read past the NUL is an error, not a look at a neighbour. */
static int parse_exact(const char *s, size_t len, time_t *t)
{
	char *copy = malloc(len + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	memcpy(copy, s, len);
	copy[len] = '\0';
	int r = rfc3339_parse(copy, t);
	free(copy);
	return r;
}

static void test_valid(void)
{
	static const struct {
		const char *s;
		time_t want;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-11-22T10:00:00Z", 1795341600 },
		{ "2026-11-22t10:00:00z", 1795341600 },
		{ "2026-11-22T11:00:00+01:00", 1795341600 },
		{ "2026-11-22T05:30:00-04:30", 1795341600 },
		{ "2026-11-22T10:00:00.123456Z", 1795341600 },
		{ "2028-02-29T00:00:00Z", 1835395200 },
		{ "2026-12-31T23:59:59Z", 1798761599 },
		{ "1970-01-01T01:00:00+01:00", 0 },
		{ "9999-12-31T23:59:59Z", 253402300799 },
		{ "9999-12-31T23:59:59.999Z", 253402300799 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = -1;
		CU_ASSERT_EQUAL(parse_exact(cases[i].s, strlen(cases[i].s), &t), 0);
		CU_ASSERT_EQUAL(t, cases[i].want);
	}
}

static void test_invalid(void)
{
	static const char *const bad[] = {
		"",
		"2026-11-22",
		"2026-11-22 10:00:00Z",
		"2026-11-22T10:00:00",
		"2026-11-22T10:00Z",
		"2026-13-01T00:00:00Z",
		"2026-02-30T00:00:00Z",
		"2027-02-29T00:00:00Z",
		"2026-11-22T24:00:00Z",
		"2026-11-22T10:60:00Z",
		"2026-11-22T10:00:00+0100",
		"2026-11-22T10:00:00+01:00x",
		"2026-11-22T10:00:00.Z",
		"1969-12-31T23:59:59Z",
		"tomorrow",
		/* Second 60 (no leap seconds), at any minute: never rolled into the next. */
		"2026-11-22T10:00:60Z",
		"2026-12-31T23:59:60Z",
		"2026-11-22T10:00:60+01:00",
		"2026-11-22T10:00:99Z",
		/* Cut right after the offset sign, or one digit into it. */
		"2026-11-22T10:00:00+",
		"2026-11-22T10:00:00+0",
		"2026-11-22T10:00:00-",
		"2026-11-22T10:00:00-0",
		"2026-11-22T10:00:00.5+0",
		/* Offsets out of range, or malformed. */
		"2026-11-22T10:00:00+24:00",
		"2026-11-22T10:00:00+01:60",
		"2026-11-22T10:00:00+1:00",
		"2026-11-22T10:00:00+01:0",
		"2026-11-22T10:00:00+01:00:00",
		/* Before 1970 or after 9999 once the offset is applied: rfc3339_format would write
		 * them in a form that does not read back. */
		"1970-01-01T00:00:00+00:01",
		"9999-12-31T23:59:59-00:01",
		/* Digits where the shape wants them, and nothing else. */
		"2026-1-22T10:00:00Z",
		"2026-11-22T10:0a:00Z",
		"+026-11-22T10:00:00Z",
		"2026-11-22T 1:00:00Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t = 42;
		CU_ASSERT_EQUAL(parse_exact(bad[i], strlen(bad[i]), &t), -EINVAL);
		CU_ASSERT_EQUAL(t, 42);
	}
}

/* Every proper prefix of a valid time is rejected without reading past its NUL: each is
 * parsed from a heap copy of exactly its own size. */
static void test_truncated(void)
{
	static const char *const good[] = {
		"2026-11-22T11:00:00+01:00",
		"2026-11-22T05:30:00-04:30",
		"2026-11-22T10:00:00.123456+00:00",
		"2026-11-22T10:00:00.123456Z",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t len = strlen(good[i]);
		time_t t = 42;
		CU_ASSERT_EQUAL(parse_exact(good[i], len, &t), 0);
		CU_ASSERT_EQUAL(t, 1795341600);
		for (size_t n = 0; n < len; n++) {
			t = 42;
			CU_ASSERT_EQUAL(parse_exact(good[i], n, &t), -EINVAL);
			CU_ASSERT_EQUAL(t, 42);
		}
	}
}

static void test_format_roundtrip(void)
{
	char buf[RFC3339_BUFSIZE];
	CU_ASSERT_STRING_EQUAL(rfc3339_format(1795341600, buf, sizeof(buf)),
			       "2026-11-22T10:00:00Z");
	/* Both ends of the range read back too. */
	static const time_t times[] = { 0, 1795341600, 253402300799 };
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		time_t t = -1;
		CU_ASSERT_EQUAL(rfc3339_parse(rfc3339_format(times[i], buf, sizeof(buf)), &t), 0);
		CU_ASSERT_EQUAL(t, times[i]);
	}
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "valid forms and offsets", test_valid },
		{ "malformed and impossible dates", test_invalid },
		{ "every truncation rejected, nothing read past it", test_truncated },
		{ "format round trip", test_format_roundtrip },
		{ 0 },
	};
	return tu_run("rfc3339", tests);
}

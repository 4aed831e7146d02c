/* RFC 3339 parsing: valid forms, offsets, and every malformed shape we reject. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "advert/rfc3339.h"
#include "testutil.h"

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
		{ "2026-12-31T23:59:60Z", 1798761600 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = -1;
		CU_ASSERT_EQUAL(rfc3339_parse(cases[i].s, &t), 0);
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
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t = 42;
		CU_ASSERT_EQUAL(rfc3339_parse(bad[i], &t), -EINVAL);
		CU_ASSERT_EQUAL(t, 42);
	}
}

static void test_format_roundtrip(void)
{
	char buf[RFC3339_BUFSIZE];
	CU_ASSERT_STRING_EQUAL(rfc3339_format(1795341600, buf, sizeof(buf)),
			       "2026-11-22T10:00:00Z");
	time_t t;
	CU_ASSERT_EQUAL(rfc3339_parse(buf, &t), 0);
	CU_ASSERT_EQUAL(t, 1795341600);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "valid forms and offsets", test_valid },
		{ "malformed and impossible dates", test_invalid },
		{ "format round trip", test_format_roundtrip },
		{ 0 },
	};
	return tu_run("rfc3339", tests);
}

/* SPDX-License-Identifier: MIT */
/* Well-formed UTF-8: every boundary of Table 3-7, overlong forms, surrogates, truncation. */
#include "config.h"

#include <string.h>

#include "advert/utf8.h"
#include "testutil.h"

static void test_char_len(void)
{
	static const struct {
		const char *s;
		size_t len; /* 0: not well-formed */
	} rows[] = {
		{ "a", 1 },
		{ "\x7f", 1 },
		{ "\xc2\x80", 2 },         /* U+0080 */
		{ "\xdf\xbf", 2 },         /* U+07FF */
		{ "\xe0\xa0\x80", 3 },     /* U+0800 */
		{ "\xed\x9f\xbf", 3 },     /* U+D7FF */
		{ "\xee\x80\x80", 3 },     /* U+E000 */
		{ "\xef\xbf\xbf", 3 },     /* U+FFFF */
		{ "\xe2\x80\xa8", 3 },     /* U+2028: well-formed (escaping is the writer's job) */
		{ "\xf0\x90\x80\x80", 4 }, /* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4 }, /* U+10FFFF */
		{ "\x80", 0 },             /* a lone continuation byte */
		{ "\xc0\xaf", 0 },         /* overlong '/' */
		{ "\xc1\xbf", 0 },
		{ "\xe0\x80\xaf", 0 }, /* overlong */
		{ "\xe0\x9f\xbf", 0 },
		{ "\xed\xa0\x80", 0 }, /* U+D800, a surrogate */
		{ "\xed\xbf\xbf", 0 },
		{ "\xf0\x80\x80\xaf", 0 }, /* overlong */
		{ "\xf4\x90\x80\x80", 0 }, /* above U+10FFFF */
		{ "\xf5\x80\x80\x80", 0 },
		{ "\xff", 0 },
		{ "\xc3", 0 }, /* cut short */
		{ "\xe2\x82", 0 },
		{ "\xf0\x9f\x98", 0 },
		{ "\xc3\x28", 0 }, /* a bad continuation */
		{ "\xe2\x28\xa1", 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = strlen(rows[i].s);
		CU_ASSERT_EQUAL(utf8_char_len(rows[i].s, n), rows[i].len);
		CU_ASSERT_EQUAL(utf8_invalid_at(rows[i].s, n), rows[i].len ? n : 0);
		/* Never reads past n: a well-formed character cut short is not one. */
		if (n > 1)
			CU_ASSERT_EQUAL(utf8_char_len(rows[i].s, n - 1),
					rows[i].s[0] & 0x80 ? 0 : 1);
	}
	CU_ASSERT_EQUAL(utf8_char_len("", 0), 0);
}

static void test_invalid_at(void)
{
	const char s[] = "caf\xc3\xa9 \xe2\x82\xac ok \xff tail";
	CU_ASSERT_EQUAL(utf8_invalid_at(s, strlen(s)), strlen("caf\xc3\xa9 \xe2\x82\xac ok "));
	CU_ASSERT_EQUAL(utf8_invalid_at(s, 9), 9); /* up to the euro sign, whole */
	CU_ASSERT_EQUAL(utf8_invalid_at(s, 8), 6); /* the euro sign cut short */
	CU_ASSERT_EQUAL(utf8_invalid_at("", 0), 0);
	/* An embedded NUL is a character like any other here. */
	CU_ASSERT_EQUAL(utf8_invalid_at("a\0b", 3), 3);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "one character: every boundary", test_char_len },
		{ "the first bad byte", test_invalid_at },
		{ 0 },
	};
	return tu_run("utf8", tests);
}

/* SPDX-License-Identifier: MIT */
/* Status lines read back: every value status_format writes, hostile ones included, reads
 * back as it was, behind either syslog format; anything else is not ours. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "advert/status.h"
#include "advert/statusparse.h"
#include "testutil.h"

static void round_trip(const char *prefix, const char *reason)
{
	struct status_field f[] = { { "advert", "LAB00001" },
				    { "run", "r00000042" },
				    { "account", "swinstall" },
				    { "reason", reason } };
	char msg[4096], line[8192];
	status_format(msg, sizeof(msg), STATUS_PROGRAM_FAILED, f, 4);
	snprintf(line, sizeof(line), "%s%s", prefix, msg);
	struct status_parsed p;
	CU_ASSERT_FATAL(status_parse_line(line, strlen(line), &p));
	CU_ASSERT_STRING_EQUAL(p.host, "ws7.example.test");
	CU_ASSERT_EQUAL(p.id, 10006);
	CU_ASSERT_STRING_EQUAL(status_parsed_get(&p, "advert"), "LAB00001");
	CU_ASSERT_STRING_EQUAL(status_parsed_get(&p, "run"), "r00000042");
	const char *got = status_parsed_get(&p, "reason");
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, reason);
}

static void test_round_trips(void)
{
	static const char *const prefixes[] = {
		"Dec  1 10:00:00 ws7.example.test advertd[123]: ",
		"2026-12-01T10:00:00.123456+00:00 ws7.example.test advertd[123]: ",
		"2026-12-01T10:00:00Z ws7.example.test advertd: ",
	};
	static const char *const reasons[] = {
		"exit code 2",
		"a=b \"quoted\" back\\slash 'single'",
		"line one\nline two\ttab",
		"caf\xc3\xa9 \xe2\x82\xac",
		"11010 file-rejected advert=FAKE host=evil", /* a program's output posing as us */
	};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		for (size_t k = 0; k < sizeof(reasons) / sizeof(reasons[0]); k++)
			round_trip(prefixes[i], reasons[k]);
}

static void test_not_ours(void)
{
	static const char *const lines[] = {
		"",
		"Dec  1 10:00:00 ws1 sshd[99]: Accepted publickey for root",
		"Dec  1 10:00:00 ws1 advertd[1]: 999 short-id advert=X",
		"Dec  1 10:00:00 ws1 advertd[1]: 10008 program-completed advert=\"unterminated",
		"Dec  1 10:00:00 ws1 advertd[1]: 10008 program-completed advert=\"bad\\q\"",
		"Dec  1 10:00:00 ws1 advertd[1]: 10008 program-completed noequals",
		": 10008 program-completed advert=X",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct status_parsed p;
		CU_ASSERT_FALSE(status_parse_line(lines[i], strlen(lines[i]), &p));
	}
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "what status_format writes reads back", test_round_trips },
		{ "lines that are not ours", test_not_ours },
		{ NULL, NULL },
	};
	return tu_run("statusparse", tests);
}

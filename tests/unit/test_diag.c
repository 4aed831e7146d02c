/* SPDX-License-Identifier: MIT */
/* Diagnostics list: ordering, counting, moving and printing. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "testutil.h"

static void test_add_sort_print(void)
{
	struct diag_list l = { 0 };
	CU_ASSERT_EQUAL(diag_error(&l, "b.conf", 3, "third %d", 3), 0);
	CU_ASSERT_EQUAL(diag_warning(&l, "a.conf", 9, "second"), 0);
	CU_ASSERT_EQUAL(diag_error(&l, "a.conf", 2, "first"), 0);
	CU_ASSERT_EQUAL(diag_error(&l, NULL, 0, "global"), 0);
	CU_ASSERT_EQUAL(diag_count(&l, DIAG_ERROR), 3);
	CU_ASSERT_EQUAL(diag_count(&l, DIAG_WARNING), 1);
	diag_sort(&l);
	CU_ASSERT_STRING_EQUAL(l.items[0].msg, "global");
	CU_ASSERT_STRING_EQUAL(l.items[1].msg, "first");
	CU_ASSERT_STRING_EQUAL(l.items[2].msg, "second");
	CU_ASSERT_STRING_EQUAL(l.items[3].msg, "third 3");

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	diag_print(&l, f);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "error: global\n"
				    "a.conf:2: error: first\n"
				    "a.conf:9: warning: second\n"
				    "b.conf:3: error: third 3\n");
	free(buf);
	diag_clear(&l);
	CU_ASSERT_EQUAL(l.n, 0);
}

static void test_move(void)
{
	struct diag_list a = { 0 }, b = { 0 };
	diag_error(&a, "x", 1, "one");
	diag_error(&b, "y", 2, "two");
	diag_error(&b, "y", 3, "three");
	CU_ASSERT_EQUAL(diag_move(&a, &b), 0);
	CU_ASSERT_EQUAL(a.n, 3);
	CU_ASSERT_EQUAL(b.n, 0);
	CU_ASSERT_STRING_EQUAL(a.items[2].msg, "three");
	diag_clear(&a);
	diag_clear(&b);
}

/* What a file said, quoted in a diagnostic, cannot forge a line or reach a terminal raw:
 * rerun = "x\nadvertd: 10008 program-completed advert=FAKE" used to add a line to the
 * journal of advertd -f. Letters of any script stay. */
static void test_printable(void)
{
	struct diag_list l = { 0 };
	diag_error(&l, "/etc/a\x1b[2Jd.conf", 3, "\"rerun\" is \"%s\"",
		   "x\nadvertd: 10008 program-completed advert=FAKE\r\t\x1b[31m\xc2\x85\xc3 Über");
	CU_ASSERT_STRING_EQUAL(l.items[0].msg,
			       "\"rerun\" is \"x\\nadvertd: 10008 program-completed advert=FAKE"
			       "\\r\\t\\x1b[31m\\xc2\\x85\\xc3 Über\"");
	CU_ASSERT_STRING_EQUAL(l.items[0].file, "/etc/a\\x1b[2Jd.conf");
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	diag_print(&l, out);
	fclose(out);
	CU_ASSERT_PTR_NOT_NULL(strchr(buf, '\n'));
	CU_ASSERT_EQUAL(strchr(buf, '\n') - buf, (ptrdiff_t)len - 1); /* one line */
	free(buf);
	diag_clear(&l);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "add, sort, print", test_add_sort_print },
		{ "move", test_move },
		{ "what a file said is printable", test_printable },
		{ 0 },
	};
	return tu_run("diag", tests);
}

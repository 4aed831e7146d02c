/* SPDX-License-Identifier: MIT */
/* Log helpers: the -errno convention, priorities, and the text on stderr. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advert/log.h"
#include "testutil.h"

/* Runs fn with stderr redirected to a buffer; returns what it wrote (caller frees). */
static char *capture(void (*fn)(void))
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	long len = ftell(tmp);
	char *buf = calloc(1, (size_t)len + 1);
	rewind(tmp);
	if (fread(buf, 1, (size_t)len, tmp) != (size_t)len)
		buf[0] = '\0';
	fclose(tmp);
	return buf;
}

static int ret_value;

static void emit_errno(void)
{
	log_setup("advert-test", LOG_TARGET_STDERR, LOG_USER);
	log_set_max_priority(LOG_INFO);
	errno = 0;
	ret_value = log_error_errno(-ENOENT, "cannot open \"%s\"", "/x");
}

static void test_error_errno(void)
{
	char *out = capture(emit_errno);
	CU_ASSERT_EQUAL(ret_value, -ENOENT);
	CU_ASSERT_STRING_EQUAL(out, "advert-test: error: cannot open \"/x\": No such file or "
				    "directory\n");
	free(out);
}

static void emit_positive_errno(void)
{
	ret_value = log_warning_errno(EACCES, "denied");
}

static void test_positive_errno_is_normalised(void)
{
	char *out = capture(emit_positive_errno);
	CU_ASSERT_EQUAL(ret_value, -EACCES);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "warning: denied: Permission denied"));
	free(out);
}

static void emit_filtered(void)
{
	log_set_max_priority(LOG_WARNING);
	log_info("hidden");
	log_debug("hidden too");
	log_warning("shown");
	errno = 1234;
	ret_value = log_debug_errno(0, "still hidden");
	ret_value = ret_value == 0 && errno == 1234;
	log_set_max_priority(LOG_INFO);
}

static void test_priority_filter_keeps_errno(void)
{
	char *out = capture(emit_filtered);
	CU_ASSERT_STRING_EQUAL(out, "advert-test: warning: shown\n");
	CU_ASSERT_EQUAL(ret_value, 1);
	free(out);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "error with errno returns -errno", test_error_errno },
		{ "positive errno normalised", test_positive_errno_is_normalised },
		{ "priority filter, errno preserved", test_priority_filter_keeps_errno },
		{ 0 },
	};
	return tu_run("log", tests);
}

/* SPDX-License-Identifier: MIT */
/* Shared unit-test helpers. */
#include "config.h"

#define _XOPEN_SOURCE 700
#include <CUnit/Basic.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

char *tu_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;
	if (asprintf(&path, "%s/advert-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") < 0)
		abort();
	if (!mkdtemp(path) || chmod(path, 0755) < 0)
		abort();
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? 0 : 0;
}

void tu_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_write(const char *dir, const char *name, mode_t mode, const char *content)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
	if (chmod(path, mode) < 0)
		abort();
	return path;
}

const struct diag *tu_find_diag(const struct diag_list *l, const char *needle)
{
	for (size_t i = 0; i < l->n; i++)
		if (strstr(l->items[i].msg, needle))
			return &l->items[i];
	return NULL;
}

void tu_dump_diags(const struct diag_list *l)
{
	diag_print(l, stderr);
}

int tu_run_as_root(const char *suite, const struct tu_test *tests)
{
	if (geteuid() != 0) {
		/* 77: automake's "skipped". These tests make root-owned files (the trust
		 * rule) or drop privileges; CI runs them as root. */
		printf("%s: skipped, these tests need root\n", suite);
		return 77;
	}
	return tu_run(suite, tests);
}

int tu_run(const char *suite, const struct tu_test *tests)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	CU_pSuite s = CU_add_suite(suite, NULL, NULL);
	for (const struct tu_test *t = tests; s && t->name; t++)
		CU_add_test(s, t->name, t->fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}

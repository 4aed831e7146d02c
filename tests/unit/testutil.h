/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests: scratch directories and files, diagnostics lookup,
 * and a CUnit main. */
#ifndef ADVERT_TESTUTIL_H
#define ADVERT_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <sys/types.h>

#include "advert/diag.h"

/* A fresh root-owned 0755 directory under $TMPDIR (or /tmp); malloc'd path. */
char *tu_mkdtemp(void);

/* Removes a directory tree. */
void tu_rmtree(const char *path);

/* Writes content to dir/name with mode; returns the malloc'd full path. */
char *tu_write(const char *dir, const char *name, mode_t mode, const char *content);

/* The first diagnostic whose message contains needle, or NULL. */
const struct diag *tu_find_diag(const struct diag_list *l, const char *needle);

/* Prints the list (for a failing test's context). */
void tu_dump_diags(const struct diag_list *l);

/* Registers one suite from a NULL-terminated table and runs it; returns the exit
 * status for main. */
struct tu_test {
	const char *name;
	void (*fn)(void);
};
int tu_run(const char *suite, const struct tu_test *tests);

/* The same for tests that need root: without it, exit 77 (automake's "skipped"). */
int tu_run_as_root(const char *suite, const struct tu_test *tests);

#endif

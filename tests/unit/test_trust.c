/* SPDX-License-Identifier: MIT */
/* Trust checks: ownership and modes of files, their directories and symlinks. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/trust.h"
#include "testutil.h"

static char *dir;

/* Runs trust_check and returns its result; the reason must contain needle when given. */
static int check(const char *path, enum trust_kind kind, const char *needle)
{
	char *why = NULL;
	int r = trust_check(path, kind, &why);
	if (needle) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		if (!strstr(why, needle))
			fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", why, needle);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, needle));
	}
	free(why);
	return r;
}

static void test_good_file(void)
{
	char *f = tu_write(dir, "good.conf", 0644, "x = 1;\n");
	CU_ASSERT_EQUAL(check(f, TRUST_FILE, NULL), 0);
	CU_ASSERT_EQUAL(check(dir, TRUST_DIRECTORY, NULL), 0);
	free(f);
}

static void test_writable_file(void)
{
	char *f = tu_write(dir, "gw.conf", 0664, "x = 1;\n");
	CU_ASSERT_EQUAL(check(f, TRUST_FILE, "writable by group or others (mode 0664)"), -EPERM);
	chmod(f, 0646);
	CU_ASSERT_EQUAL(check(f, TRUST_FILE, "writable by group or others"), -EPERM);
	free(f);
}

static void test_foreign_owner(void)
{
	char *f = tu_write(dir, "nobody.conf", 0644, "x = 1;\n");
	CU_ASSERT_EQUAL_FATAL(chown(f, 65534, 65534), 0);
	CU_ASSERT_EQUAL(check(f, TRUST_FILE, "is owned by uid 65534, not root"), -EPERM);
	free(f);
}

static void test_untrusted_directory(void)
{
	char *sub = NULL;
	CU_ASSERT_FATAL(asprintf(&sub, "%s/open", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0777), 0);
	chmod(sub, 0777);
	char *f = tu_write(sub, "a.conf", 0644, "x = 1;\n");
	CU_ASSERT_EQUAL(check(f, TRUST_FILE, "directory"), -EPERM);
	CU_ASSERT_EQUAL(check(sub, TRUST_DIRECTORY, "writable by group or others"), -EPERM);
	/* Sticky and root-owned, like /tmp: acceptable as an ancestor, not as the leaf. */
	chmod(sub, 01777);
	CU_ASSERT_EQUAL(check(f, TRUST_FILE, NULL), 0);
	CU_ASSERT_EQUAL(check(sub, TRUST_DIRECTORY, "writable by group or others"), -EPERM);
	/* Owned by someone else, even with a sane mode. */
	chmod(sub, 0755);
	CU_ASSERT_EQUAL_FATAL(chown(sub, 65534, 0), 0);
	CU_ASSERT_EQUAL(check(f, TRUST_FILE, "owned by uid 65534"), -EPERM);
	free(f);
	free(sub);
}

static void test_symlinks(void)
{
	char *good = tu_write(dir, "target.conf", 0644, "x = 1;\n");
	char *bad = tu_write(dir, "target-bad.conf", 0666, "x = 1;\n");
	char *l1 = NULL, *l2 = NULL, *opendir_ = NULL, *l3 = NULL;
	CU_ASSERT_FATAL(asprintf(&l1, "%s/link-good.conf", dir) > 0);
	CU_ASSERT_FATAL(asprintf(&l2, "%s/link-bad.conf", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(symlink(good, l1), 0);
	CU_ASSERT_EQUAL_FATAL(symlink(bad, l2), 0);
	CU_ASSERT_EQUAL(check(l1, TRUST_FILE, NULL), 0);
	CU_ASSERT_EQUAL(check(l2, TRUST_FILE, "target-bad.conf"), -EPERM);

	/* A link to a good file, kept in a directory others can write: they could repoint
	 * it, so it is refused. */
	CU_ASSERT_FATAL(asprintf(&opendir_, "%s/drop", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(opendir_, 0755), 0);
	CU_ASSERT_FATAL(asprintf(&l3, "%s/link.conf", opendir_) > 0);
	CU_ASSERT_EQUAL_FATAL(symlink(good, l3), 0);
	CU_ASSERT_EQUAL(check(l3, TRUST_FILE, NULL), 0);
	chmod(opendir_, 0775);
	CU_ASSERT_EQUAL(check(l3, TRUST_FILE, "drop"), -EPERM);
	free(good);
	free(bad);
	free(l1);
	free(l2);
	free(l3);
	free(opendir_);
}

static void test_wrong_kind_and_missing(void)
{
	CU_ASSERT_EQUAL(check(dir, TRUST_FILE, "is not a regular file"), -EPERM);
	char *f = tu_write(dir, "plain.conf", 0644, "");
	CU_ASSERT_EQUAL(check(f, TRUST_DIRECTORY, "is not a directory"), -ENOTDIR);
	free(f);
	CU_ASSERT_EQUAL(check("/nonexistent/advertd.conf", TRUST_FILE, "/nonexistent"), -ENOENT);
}

static void test_entry_from_lstat(void)
{
	char *f = tu_write(dir, "entry.conf", 0644, "x = 1;\n");
	struct stat st;
	char *why = NULL;
	CU_ASSERT_EQUAL_FATAL(lstat(f, &st), 0);
	CU_ASSERT_EQUAL(trust_check_entry(f, &st, &why), 0);
	chmod(f, 0664);
	lstat(f, &st);
	CU_ASSERT_EQUAL(trust_check_entry(f, &st, &why), -EPERM);
	CU_ASSERT(why && strstr(why, "mode 0664"));
	free(why);
	chmod(f, 0644);
	CU_ASSERT_EQUAL_FATAL(chown(f, 65534, 0), 0);
	lstat(f, &st);
	CU_ASSERT_EQUAL(trust_check_entry(f, &st, &why), -EPERM);
	CU_ASSERT(why && strstr(why, "uid 65534"));
	free(why);
	char *l = NULL;
	CU_ASSERT_FATAL(asprintf(&l, "%s/entry-link.conf", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(symlink(f, l), 0);
	lstat(l, &st);
	CU_ASSERT_EQUAL(trust_check_entry(l, &st, &why), -EAGAIN); /* the full walk decides */
	free(f);
	free(l);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr,
			"test_trust: skipped, it needs root (it creates files owned by others)\n");
		return 77; /* automake's "skipped": CI runs it as root */
	}
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "root-owned 0644 file is trusted", test_good_file },
		{ "group/other-writable file refused", test_writable_file },
		{ "file owned by another user refused", test_foreign_owner },
		{ "untrusted directory refused, sticky ancestor accepted",
		  test_untrusted_directory },
		{ "symlinks: target and link directory both checked", test_symlinks },
		{ "wrong kind and missing path", test_wrong_kind_and_missing },
		{ "an entry of a checked directory, from its lstat", test_entry_from_lstat },
		{ 0 },
	};
	int r = tu_run_as_root("trust", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

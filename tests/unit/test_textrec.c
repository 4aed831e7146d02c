/* SPDX-License-Identifier: MIT */
/* Durable text records: both escape styles over every byte and what each refuses, strict
 * numbers at their bounds, the checksum against a known answer, and atomic replacement —
 * content, mode, no temp left, and the old file intact when it fails. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/textrec.h"
#include "testutil.h"

static const enum textrec_style styles[] = { TEXTREC_TOKEN, TEXTREC_LINE };

static int unescape_str(enum textrec_style style, const char *s, char *dst, size_t size)
{
	return textrec_unescape(style, s, strlen(s), dst, size);
}

/* Escapes value (all of it) into a NUL-terminated string. */
static int escape_str(enum textrec_style style, const char *value, char *buf, size_t size)
{
	size_t len = 0;
	int r = textrec_escape(style, value, SIZE_MAX, buf, size - 1, &len);
	buf[r == 0 ? len : 0] = '\0';
	return r;
}

static void test_escape_forms(void)
{
	static const struct {
		enum textrec_style style;
		const char *in, *want;
	} cases[] = {
		{ TEXTREC_TOKEN, "abc~!", "abc~!" },
		{ TEXTREC_TOKEN, "a b", "a\\x20b" },
		{ TEXTREC_TOKEN, "\\", "\\x5c" },
		{ TEXTREC_TOKEN, "\n\t\x7f", "\\x0a\\x09\\x7f" },
		{ TEXTREC_TOKEN, "caf\xc3\xa9", "caf\\xc3\\xa9" },
		{ TEXTREC_TOKEN, "", "" },
		{ TEXTREC_LINE, "a b~", "a b~" },
		{ TEXTREC_LINE, "\\", "\\\\" },
		{ TEXTREC_LINE, "locked\nout", "locked\\nout" },
		{ TEXTREC_LINE, "\t\r\x7f\x1f", "\\x09\\x0d\\x7f\\x1f" },
		{ TEXTREC_LINE, "caf\xc3\xa9", "caf\xc3\xa9" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		CU_ASSERT_EQUAL(escape_str(cases[i].style, cases[i].in, buf, sizeof(buf)), 0);
		CU_ASSERT_STRING_EQUAL(buf, cases[i].want);
	}
}

static void test_escape_bounds(void)
{
	/* max cuts the value; the escape appends after what is there. */
	char buf[16] = "k=";
	size_t len = 2;
	CU_ASSERT_EQUAL(textrec_escape(TEXTREC_TOKEN, "a bcdef", 3, buf, sizeof(buf), &len), 0);
	CU_ASSERT_EQUAL(len, 2 + 1 + 4 + 1);
	CU_ASSERT_EQUAL(memcmp(buf, "k=a\\x20b", len), 0);

	/* Exactly full fits; one byte more is refused whole, *len unchanged. */
	char small[8];
	len = 0;
	CU_ASSERT_EQUAL(textrec_escape(TEXTREC_TOKEN, "ab ", SIZE_MAX, small, 6, &len), 0);
	CU_ASSERT_EQUAL(len, 6);
	len = 0;
	CU_ASSERT_EQUAL(textrec_escape(TEXTREC_TOKEN, "ab ", SIZE_MAX, small, 5, &len), -EOVERFLOW);
	CU_ASSERT_EQUAL(len, 0);
	len = 3;
	CU_ASSERT_EQUAL(textrec_escape(TEXTREC_LINE, "\n", SIZE_MAX, small, 4, &len), -EOVERFLOW);
	CU_ASSERT_EQUAL(len, 3);
	len = 9;
	CU_ASSERT_EQUAL(textrec_escape(TEXTREC_LINE, "x", SIZE_MAX, small, 8, &len), -EOVERFLOW);
	CU_ASSERT_EQUAL(len, 9);
}

static void test_round_trip_every_byte(void)
{
	/* Every byte alone, then all of them in one value, through both styles. */
	char all[256];
	for (int c = 1; c < 256; c++)
		all[c - 1] = (char)c;
	all[255] = '\0';

	for (size_t s = 0; s < sizeof(styles) / sizeof(styles[0]); s++) {
		for (int c = 1; c < 256; c++) {
			char in[2] = { (char)c, '\0' }, esc[8], out[2];
			CU_ASSERT_EQUAL_FATAL(escape_str(styles[s], in, esc, sizeof(esc)), 0);
			CU_ASSERT_EQUAL(unescape_str(styles[s], esc, out, sizeof(out)), 0);
			CU_ASSERT_EQUAL((unsigned char)out[0], c);
			CU_ASSERT_EQUAL(out[1], '\0');
			/* An escaped value is one token, or one line. */
			CU_ASSERT_PTR_NULL(strchr(esc, '\n'));
			if (styles[s] == TEXTREC_TOKEN)
				CU_ASSERT_PTR_NULL(strchr(esc, ' '));
		}
		char esc[4 * 255 + 1], out[256];
		CU_ASSERT_EQUAL_FATAL(escape_str(styles[s], all, esc, sizeof(esc)), 0);
		CU_ASSERT_EQUAL(unescape_str(styles[s], esc, out, sizeof(out)), 0);
		CU_ASSERT_STRING_EQUAL(out, all);
		/* One byte short of room for the NUL. */
		CU_ASSERT_EQUAL(unescape_str(styles[s], esc, out, sizeof(out) - 1), -EOVERFLOW);
	}
}

static void test_unescape_rejects(void)
{
	static const struct {
		enum textrec_style style;
		const char *in;
	} bad[] = {
		{ TEXTREC_TOKEN, "a b" },   { TEXTREC_TOKEN, "a\nb" },
		{ TEXTREC_TOKEN, "a\x7f" }, { TEXTREC_TOKEN, "caf\xc3\xa9" },
		{ TEXTREC_TOKEN, "\\\\" },  { TEXTREC_TOKEN, "\\n" },
		{ TEXTREC_TOKEN, "\\" },    { TEXTREC_TOKEN, "\\x" },
		{ TEXTREC_TOKEN, "\\x2" },  { TEXTREC_TOKEN, "\\x00" },
		{ TEXTREC_TOKEN, "\\x4G" }, { TEXTREC_TOKEN, "\\x4A" },
		{ TEXTREC_TOKEN, "\\X41" }, { TEXTREC_LINE, "a\nb" },
		{ TEXTREC_LINE, "a\tb" },   { TEXTREC_LINE, "a\x7f" },
		{ TEXTREC_LINE, "\\" },     { TEXTREC_LINE, "a\\t" },
		{ TEXTREC_LINE, "\\x0" },   { TEXTREC_LINE, "\\x00b" },
		{ TEXTREC_LINE, "\\xg0" },  { TEXTREC_LINE, "\\xA0" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[16] = "untouched";
		CU_ASSERT_EQUAL(unescape_str(bad[i].style, bad[i].in, out, sizeof(out)), -EBADMSG);
	}

	/* What each accepts beyond its own output: lenient only where it always was. */
	char out[16];
	CU_ASSERT_EQUAL(unescape_str(TEXTREC_TOKEN, "\\x61\\x5c", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "a\\");
	CU_ASSERT_EQUAL(unescape_str(TEXTREC_LINE, "a b\\x0a\xc3\xa9", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "a b\n\xc3\xa9");

	/* n bounds the input: a NUL inside it, or the tail past it, is not read as more. */
	CU_ASSERT_EQUAL(textrec_unescape(TEXTREC_LINE, "ab\\x41", 3, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(textrec_unescape(TEXTREC_TOKEN, "ab\0c", 4, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(textrec_unescape(TEXTREC_TOKEN, "abcd", 2, out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "ab");
	CU_ASSERT_EQUAL(textrec_unescape(TEXTREC_TOKEN, "", 0, out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(textrec_unescape(TEXTREC_TOKEN, "", 0, out, 0), -EOVERFLOW);
}

static void test_parse_int(void)
{
	static const struct {
		const char *s;
		bool sign_ok;
		intmax_t min, max;
		int want_r;
		intmax_t want;
	} cases[] = {
		{ "0", false, 0, 1, 0, 0 },
		{ "1", false, 0, 1, 0, 1 },
		{ "2", false, 0, 1, -EINVAL, 0 },
		{ "007", false, 0, 10, 0, 7 },
		{ "-1", true, -1, 5, 0, -1 },
		{ "-2", true, -1, 5, -EINVAL, 0 },
		{ "-1", false, -1, 5, -EINVAL, 0 },
		{ "-0", true, 0, 5, 0, 0 },
		{ "-0", false, 0, 5, -EINVAL, 0 },
		{ "9223372036854775807", true, INTMAX_MIN, INTMAX_MAX, 0, INTMAX_MAX },
		{ "-9223372036854775808", true, INTMAX_MIN, INTMAX_MAX, 0, INTMAX_MIN },
		{ "-9223372036854775808", true, -INTMAX_MAX, INTMAX_MAX, -EINVAL, 0 },
		{ "9223372036854775808", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "9999999999999999999", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "00000000000000000001", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "4294967295", false, 0, UINT_MAX, 0, UINT_MAX },
		{ "4294967296", false, 0, UINT_MAX, -EINVAL, 0 },
		{ "", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "-", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "+1", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ " 1", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "1 ", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "1x", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "--1", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
		{ "0x10", true, INTMAX_MIN, INTMAX_MAX, -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		intmax_t v = 42;
		int r = textrec_parse_int(cases[i].s, cases[i].sign_ok, cases[i].min, cases[i].max,
					  &v);
		CU_ASSERT_EQUAL(r, cases[i].want_r);
		CU_ASSERT_EQUAL(v, r == 0 ? cases[i].want : 42);
		if (r != cases[i].want_r)
			fprintf(stderr, "case %zu: \"%s\" gave %d\n", i, cases[i].s, r);
	}
}

static void test_checksum(void)
{
	/* FIPS 180-2, appendix B.1. */
	static const char abc[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	char hex[65];
	memset(hex, 'X', sizeof(hex));
	textrec_sha256_hex("abc", 3, hex, 64);
	CU_ASSERT_STRING_EQUAL(hex, abc);
	textrec_sha256_hex("abc", 3, hex, 16);
	CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea");
	textrec_sha256_hex("", 0, hex, 64);
	CU_ASSERT_STRING_EQUAL(hex,
			       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	const unsigned char bytes[] = { 0x00, 0x7f, 0xa5, 0xff };
	textrec_hex(bytes, sizeof(bytes), hex, 8);
	CU_ASSERT_STRING_EQUAL(hex, "007fa5ff");
	textrec_hex(bytes, sizeof(bytes), hex, 3);
	CU_ASSERT_STRING_EQUAL(hex, "007");
	textrec_hex(bytes, 2, hex, 6);
	CU_ASSERT_STRING_EQUAL(hex, "007f--");
}

/* --- atomic replacement --------------------------------------------------------------- */

static char *dir;
static int dfd = -1;

/* The file's content (malloc'd, NUL-terminated) and mode, or NULL when it cannot be read. */
static char *slurp(const char *name, mode_t *ret_mode)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	struct stat sb;
	char *data = calloc(1, 4096);
	ssize_t n = data && fstat(fd, &sb) == 0 ? read(fd, data, 4095) : -1;
	close(fd);
	if (n < 0) {
		free(data);
		return NULL;
	}
	if (ret_mode)
		*ret_mode = sb.st_mode & 07777;
	return data;
}

static bool exists(const char *name)
{
	struct stat sb;
	return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

static void check_content(const char *name, const char *want, mode_t want_mode)
{
	mode_t mode = 0;
	char *got = slurp(name, &mode);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, want);
	CU_ASSERT_EQUAL(mode, want_mode);
	free(got);
}

static void setup_dir(void)
{
	umask(022);
	dir = tu_mkdtemp();
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(dfd >= 0);
}

static void teardown_dir(void)
{
	close(dfd);
	dfd = -1;
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static void test_atomic_replace(void)
{
	setup_dir();
	/* Created, then replaced: the new content and the mode asked for, no temp left. */
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, "state", "one\n", 4, 0600), 0);
	check_content("state", "one\n", 0600);
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, "state", "two, longer\n", 12, 0640), 0);
	check_content("state", "two, longer\n", 0640);
	CU_ASSERT_FALSE(exists("state.tmp"));

	/* A stale temp from a crash is truncated and used (keeping the mode it has). */
	free(tu_write(dir, "state.tmp", 0600, "stale stale stale stale\n"));
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, "state", "three\n", 6, 0600), 0);
	check_content("state", "three\n", 0600);
	CU_ASSERT_FALSE(exists("state.tmp"));

	/* Empty is a content too. */
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, "empty", "", 0, 0600), 0);
	check_content("empty", "", 0600);
	teardown_dir();
}

static void test_atomic_replace_failures(void)
{
	setup_dir();
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, "state", "old\n", 4, 0600), 0);

	/* A link planted at the temp name is not followed: its target stays as it was. */
	char *victim = tu_write(dir, "victim", 0644, "victim\n");
	CU_ASSERT_EQUAL(symlinkat(victim, dfd, "state.tmp"), 0);
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, "state", "new\n", 4, 0600), -ELOOP);
	check_content("state", "old\n", 0600);
	check_content("victim", "victim\n", 0644);
	CU_ASSERT_EQUAL(unlinkat(dfd, "state.tmp", 0), 0);
	free(victim);

	/* The rename fails (a directory holds the name): the temp goes, the directory stays. */
	CU_ASSERT_EQUAL(mkdirat(dfd, "dir", 0700), 0);
	CU_ASSERT_EQUAL(mkdirat(dfd, "dir/keep", 0700), 0);
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, "dir", "new\n", 4, 0600), -EISDIR);
	CU_ASSERT_FALSE(exists("dir.tmp"));
	CU_ASSERT(exists("dir/keep"));

	/* A name with no room for the suffix. */
	char longname[NAME_MAX + 1];
	memset(longname, 'n', NAME_MAX - 2);
	longname[NAME_MAX - 2] = '\0';
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, longname, "x", 1, 0600), -ENAMETOOLONG);
	CU_ASSERT_EQUAL(textrec_replace_open(dfd, longname, O_WRONLY, 0600), -ENAMETOOLONG);
	CU_ASSERT_EQUAL(textrec_replace_commit(dfd, longname, 0), -ENAMETOOLONG);
	CU_ASSERT_EQUAL(textrec_replace_commit(dfd, longname, -EIO), -EIO);

	check_content("state", "old\n", 0600);
	teardown_dir();
}

static void test_replace_in_steps(void)
{
	/* The history's way: written through its own descriptor, which stays the file's. */
	setup_dir();
	CU_ASSERT_EQUAL(textrec_atomic_replace(dfd, "log", "old\n", 4, 0600), 0);

	/* The caller's writing failed: the temp is removed, the old file untouched. */
	int fd = textrec_replace_open(dfd, "log", O_RDWR | O_APPEND, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(textrec_write_all(fd, "partial", 7), 0);
	CU_ASSERT_EQUAL(textrec_replace_commit(dfd, "log", -ENOSPC), -ENOSPC);
	close(fd);
	CU_ASSERT_FALSE(exists("log.tmp"));
	check_content("log", "old\n", 0600);

	fd = textrec_replace_open(dfd, "log", O_RDWR | O_APPEND, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(textrec_write_all(fd, "new\n", 4), 0);
	CU_ASSERT_EQUAL(fsync(fd), 0);
	CU_ASSERT_EQUAL(textrec_replace_commit(dfd, "log", 0), 0);
	CU_ASSERT_FALSE(exists("log.tmp"));
	CU_ASSERT_EQUAL(textrec_write_all(fd, "more\n", 5), 0);
	char buf[16] = { 0 };
	CU_ASSERT_EQUAL(pread(fd, buf, sizeof(buf) - 1, 0), 9);
	CU_ASSERT_STRING_EQUAL(buf, "new\nmore\n");
	close(fd);
	check_content("log", "new\nmore\n", 0600);
	teardown_dir();
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "escape: the forms of each style", test_escape_forms },
		{ "escape: max and the buffer's bound", test_escape_bounds },
		{ "escape round trip of every byte", test_round_trip_every_byte },
		{ "unescape: what each style refuses", test_unescape_rejects },
		{ "strict integers at their bounds", test_parse_int },
		{ "SHA-256 hex known answers", test_checksum },
		{ "atomic replace: content, mode, no temp", test_atomic_replace },
		{ "atomic replace: failures keep the old file", test_atomic_replace_failures },
		{ "replace in steps, descriptor kept", test_replace_in_steps },
		{ 0 },
	};
	return tu_run("textrec", tests);
}

/* SPDX-License-Identifier: MIT */
/* Status messages: the line format and its quoting, the severity table, and the syslog
 * sink against real unix datagram sockets (absent, full, replaced). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "advert/status.h"
#include "testutil.h"

static char *dir;

static char *sock_path(const char *name);

/* 2024-03-05 07:08:09 UTC: a single-digit day, to see the space padding. */
#define T0 ((time_t)1709622489)

static char *format(enum status_id id, const struct status_field *f, size_t n)
{
	size_t len = status_format(NULL, 0, id, f, n);
	char *buf = malloc(len + 1);
	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT_EQUAL(status_format(buf, len + 1, id, f, n), len);
	CU_ASSERT_EQUAL(strlen(buf), len);
	return buf;
}

#define ASSERT_FORMAT(expected, id, ...)                                                           \
	do {                                                                                       \
		const struct status_field f_[] = { __VA_ARGS__ };                                  \
		char *got_ = format((id), f_, sizeof(f_) / sizeof(f_[0]));                         \
		CU_ASSERT_STRING_EQUAL(got_, (expected));                                          \
		if (strcmp(got_, (expected)) != 0)                                                 \
			fprintf(stderr, "\n  got      %s\n  expected %s\n", got_, (expected));     \
		free(got_);                                                                        \
	} while (0)

static void test_format_plain(void)
{
	ASSERT_FORMAT("10008 program-completed advert=LAB00001 package=LAB00002 "
		      "program=Install run=r17 account=swinstall dc=dc1.example.test exit=0 "
		      "duration=1.250",
		      STATUS_PROGRAM_SUCCEEDED, { "advert", "LAB00001" }, { "package", "LAB00002" },
		      { "program", "Install" }, { "run", "r17" }, { "account", "swinstall" },
		      { "dc", "dc1.example.test" }, { "exit", "0" }, { "duration", "1.250" });
	char *got = format(STATUS_DAEMON_STARTED, NULL, 0);
	CU_ASSERT_STRING_EQUAL(got, "11020 daemon-started");
	free(got);
}

static void test_format_quoting(void)
{
	/* Inside the quotes '=' is \x3d, '"' \x22 and '\\' \x5c (they were raw, \" and \\
	 * before): no word inside a value has an '=', and shlex leaves every escape as
	 * written. Spaces stay. */
	ASSERT_FORMAT("10006 program-failed program=\"Install Office\"", STATUS_PROGRAM_FAILED,
		      { "program", "Install Office" });
	ASSERT_FORMAT("10006 program-failed cmd=\"setup.sh --mode\\x3dquiet\"",
		      STATUS_PROGRAM_FAILED, { "cmd", "setup.sh --mode=quiet" });
	ASSERT_FORMAT("10006 program-failed cmd=\"say \\x22hi\\x22\"", STATUS_PROGRAM_FAILED,
		      { "cmd", "say \"hi\"" });
	ASSERT_FORMAT("10006 program-failed path=\"C:\\x5ctemp\"", STATUS_PROGRAM_FAILED,
		      { "path", "C:\\temp" });
	ASSERT_FORMAT("10006 program-failed error=\"line1\\nline2\\r\\tend\"",
		      STATUS_PROGRAM_FAILED, { "error", "line1\nline2\r\tend" });
	ASSERT_FORMAT("10006 program-failed error=\"a\\x01b\\x1bc\\x7f\"", STATUS_PROGRAM_FAILED,
		      { "error", "a\001b\033c\177" });
	/* A lone quote, a lone '=' and a value that is only a backslash. */
	ASSERT_FORMAT("10006 program-failed a=\"\\x22\" b=\"\\x3d\" c=\"\\x5c\"",
		      STATUS_PROGRAM_FAILED, { "a", "\"" }, { "b", "=" }, { "c", "\\" });
	/* A single quote is quoted too (it was left bare, and shlex found no closing one). */
	ASSERT_FORMAT("10006 program-failed output=\"it\\x27s\" q=\"\\x27\"", STATUS_PROGRAM_FAILED,
		      { "output", "it's" }, { "q", "'" });
	/* UTF-8 is text, not control characters: bare, or raw inside the quotes. */
	ASSERT_FORMAT("10005 program-started program=Überprüfung", STATUS_PROGRAM_STARTED,
		      { "program", "Überprüfung" });
	ASSERT_FORMAT("10005 program-started program=\"Überprüfung läuft\"", STATUS_PROGRAM_STARTED,
		      { "program", "Überprüfung läuft" });
	/* Unquoted characters that are harmless. */
	ASSERT_FORMAT("10005 program-started p=/opt/x-1.2_3,4:5@h+6", STATUS_PROGRAM_STARTED,
		      { "p", "/opt/x-1.2_3,4:5@h+6" });
	/* Anything else is quoted, though it stays raw inside. */
	ASSERT_FORMAT(
		"10005 program-started a=\"$(id)\" b=\"#x\" c=\"a;b|c&d\" d=\"~%*?[]{}<>!^`\"",
		STATUS_PROGRAM_STARTED, { "a", "$(id)" }, { "b", "#x" }, { "c", "a;b|c&d" },
		{ "d", "~%*?[]{}<>!^`" });
}

/* Bytes >= 0x80: valid UTF-8 stays, everything else is \xhh (they reached syslog raw). */
static void test_format_non_ascii(void)
{
	/* Invalid: a stray continuation byte, a lead byte cut short (mid-value and at the
	 * end), overlong forms, a surrogate, beyond U+10FFFF, 0xff. */
	ASSERT_FORMAT("10006 program-failed a=\"\\x80\" b=\"\\xc3(\" c=\"x\\xc3\" d=\"\\xc0\\xaf\"",
		      STATUS_PROGRAM_FAILED, { "a", "\x80" }, { "b", "\xc3(" }, { "c", "x\xc3" },
		      { "d", "\xc0\xaf" });
	ASSERT_FORMAT("10006 program-failed e=\"\\xe0\\x80\\xaf\" f=\"\\xed\\xa0\\x80\" "
		      "g=\"\\xf4\\x90\\x80\\x80\" h=\"\\xff\\xfe\" i=\"\\xe2\\x82\"",
		      STATUS_PROGRAM_FAILED, { "e", "\xe0\x80\xaf" }, { "f", "\xed\xa0\x80" },
		      { "g", "\xf4\x90\x80\x80" }, { "h", "\xff\xfe" }, { "i", "\xe2\x82" });
	/* Valid but not what they look like: NEL and CSI (C1), NBSP, LS, PS, RLO, ZWSP, BOM,
	 * a tag character. */
	ASSERT_FORMAT("10006 program-failed nel=\"a\\xc2\\x85b\" csi=\"\\xc2\\x9b2J\" "
		      "nbsp=\"a\\xc2\\xa0b\"",
		      STATUS_PROGRAM_FAILED,
		      { "nel", "a\xc2\x85"
			       "b" },
		      { "csi", "\xc2\x9b"
			       "2J" },
		      { "nbsp", "a\xc2\xa0"
				"b" });
	ASSERT_FORMAT("10006 program-failed ls=\"\\xe2\\x80\\xa8\" ps=\"\\xe2\\x80\\xa9\" "
		      "rlo=\"\\xe2\\x80\\xaeabc\" zw=\"\\xe2\\x80\\x8b\" bom=\"\\xef\\xbb\\xbf\" "
		      "tag=\"\\xf3\\xa0\\x80\\x81\"",
		      STATUS_PROGRAM_FAILED, { "ls", "\xe2\x80\xa8" }, { "ps", "\xe2\x80\xa9" },
		      { "rlo", "\xe2\x80\xae"
			       "abc" },
		      { "zw", "\xe2\x80\x8b" }, { "bom", "\xef\xbb\xbf" },
		      { "tag", "\xf3\xa0\x80\x81" });
	/* Valid characters of every length stay: 2, 3 and 4 bytes, U+FFFD included. */
	ASSERT_FORMAT("10005 program-started a=é€𝄞\xef\xbf\xbd", STATUS_PROGRAM_STARTED,
		      { "a", "é€𝄞\xef\xbf\xbd" });
}

/* What may never reach a log or a terminal raw, as the bytes of one character. */
static bool unsafe(const char *c)
{
	return status_char_unsafe(c, strlen(c) ? strlen(c) : 1);
}

static void test_char_unsafe(void)
{
	CU_ASSERT(unsafe("")); /* NUL */
	CU_ASSERT(unsafe("\x1b"));
	CU_ASSERT(unsafe("\x7f"));
	CU_ASSERT(unsafe("\xc2\x85")); /* NEL */
	CU_ASSERT(unsafe("\xc2\x9f"));
	CU_ASSERT(unsafe("\xc2\xa0")); /* NBSP */
	CU_ASSERT(unsafe("\xe2\x80\xa8"));
	CU_ASSERT(unsafe("\xe2\x80\xa9"));
	CU_ASSERT(unsafe("\xe2\x80\xae"));     /* RLO */
	CU_ASSERT(unsafe("\xe2\x81\xa6"));     /* LRI */
	CU_ASSERT(unsafe("\xef\xbb\xbf"));     /* BOM */
	CU_ASSERT(unsafe("\xf3\xa0\x81\xbf")); /* U+E007F */
	CU_ASSERT(!unsafe(" "));
	CU_ASSERT(!unsafe("~"));
	CU_ASSERT(!unsafe("é"));
	CU_ASSERT(!unsafe("€"));
	CU_ASSERT(!unsafe("\xef\xbf\xbd")); /* U+FFFD */
	CU_ASSERT(!unsafe("𝄞"));
	CU_ASSERT(!unsafe("\xf3\xa0\x82\x80")); /* U+E0080, past the tags */
	CU_ASSERT_EQUAL(status_char_code("\xf4\x8f\xbf\xbf", 4), 0x10ffff);
	CU_ASSERT_EQUAL(status_char_code("\xe2\x80\xa8", 3), 0x2028);
	CU_ASSERT_EQUAL(status_char_code("\xc3\xa9", 2), 0xe9);
	CU_ASSERT_EQUAL(status_char_code("A", 1), 'A');
}

static void test_format_empty_and_missing(void)
{
	ASSERT_FORMAT("10003 prepare-failed reason=\"\" run=r1", STATUS_PREPARE_FAILED,
		      { "reason", "" }, { "run", "r1" });
	ASSERT_FORMAT("10003 prepare-failed run=r1", STATUS_PREPARE_FAILED, { "account", NULL },
		      { "run", "r1" }, { "dc", NULL });
	/* Keys outside [a-z_] are neutralised, keyless fields left out. */
	ASSERT_FORMAT("10003 prepare-failed _ad_key=1 a_b_c=2 x___=3", STATUS_PREPARE_FAILED,
		      { "Bad-key", "1" }, { "a b=c", "2" }, { NULL, "lost" }, { "", "lost" },
		      { "x\n\"9", "3" });
}

static void test_format_unknown_id(void)
{
	CU_ASSERT_PTR_NULL(status_event_name((enum status_id)12345));
	ASSERT_FORMAT("12345 unknown a=b", (enum status_id)12345, { "a", "b" });
}

static void test_format_never_multiline(void)
{
	char value[256];
	for (int i = 1; i < 256; i++)
		value[i - 1] = (char)i;
	value[255] = '\0';
	const struct status_field f[] = { { "all", value } };
	char *got = format(STATUS_FILE_REJECTED, f, 1);
	for (const unsigned char *p = (const unsigned char *)got; *p; p++)
		CU_ASSERT(*p >= 0x20 && *p != 0x7f);
	CU_ASSERT_PTR_NULL(strchr(got, '\n'));
	free(got);
}

/* --- hostile values against the README's collectors ----------------------------------- */

/* What a program can print, aimed at every reader of the line. */
static const char *const hostile[] = {
	"fake advert=LAB00001",
	"it's",
	"'",
	"\xff\xfe not UTF-8 \xc3( \xe2\x82",
	"cut at the end \xc3",
	"nel\xc2\x85"
	"advert=LAB00001",
	"ls\xe2\x80\xa8"
	"advert=LAB00001\xe2\x80\xa9",
	"\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J\x9b",
	"done\nJan  1 00:00:00 ws1 advertd[1]: 10006 program-failed advert=LAB00001",
	"\r10006 program-failed advert=LAB00001",
	"\" advert=LAB00001 \"",
	"back\\\" advert=LAB00001 \\",
	"\\x20 advert=LAB00001",
	"tab\tadvert=LAB00001",
	"\xc2\xa0"
	"advert=LAB00001\xe2\x80\xae\xef\xbb\xbf",
	"Überprüfung läuft",
	"",
	"$(id) `id` #c",
	"a=b=c",
};
#define N_HOSTILE (sizeof(hostile) / sizeof(hostile[0]))

/* Valid UTF-8 (shortest forms, no surrogates, at most U+10FFFF), checked without the
 * code under test. */
static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int len = *p < 0x80                  ? 1
			  : *p >= 0xc2 && *p <= 0xdf ? 2
			  : *p >= 0xe0 && *p <= 0xef ? 3
			  : *p >= 0xf0 && *p <= 0xf4 ? 4
						     : 0;
		if (len == 0)
			return false;
		unsigned long cp = len == 1 ? *p : *p & (0x7f >> len);
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		static const unsigned long min[] = { 0, 0, 0x80, 0x800, 0x10000 };
		if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}

static int hexdigit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A value's text as written (without its quotes) back to the original bytes; false when
 * it is not in the documented form: bare values only of safe bytes, quoted ones with no
 * raw '=', quote or backslash other than an escape (a space only inside quotes). */
static bool decode_value(const char *v, size_t n, bool quoted, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c == ' ' && !quoted) || c == '=' || c == '"' || c == '\'' || c < 0x20 ||
		    c == 0x7f)
			return false;
		if (c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		if (!quoted || i + 1 >= n)
			return false;
		char e = v[++i];
		if (e == 'n' || e == 'r' || e == 't') {
			out[o++] = e == 'n' ? '\n' : e == 'r' ? '\r' : '\t';
		} else if (e == 'x' && i + 2 < n && hexdigit(v[i + 1]) >= 0 &&
			   hexdigit(v[i + 2]) >= 0) {
			out[o++] = (char)(hexdigit(v[i + 1]) * 16 + hexdigit(v[i + 2]));
			i += 2;
		} else {
			return false;
		}
	}
	out[o] = '\0';
	return true;
}

/* A faithful copy of Python's shlex.split(s) (posix, whitespace_split, no comments):
 * fills tok (each malloc'd) and returns how many, or -1 where shlex raises ValueError
 * ("No closing quotation", "No escaped character"). */
static int shlex_split(const char *s, char **tok, int max)
{
	int n = 0;
	char *cur = malloc(strlen(s) + 1);
	size_t len = 0;
	bool in_tok = false;
	char quote = 0;
	CU_ASSERT_FATAL(cur != NULL);
	for (const char *p = s;; p++) {
		char c = *p;
		if (quote) {
			if (!c)
				goto fail;
			if (c == quote) {
				quote = 0;
			} else if (quote == '"' && c == '\\') {
				if (!p[1])
					goto fail;
				/* Only \" and \\ are escapes between double quotes. */
				if (p[1] != '"' && p[1] != '\\')
					cur[len++] = '\\';
				cur[len++] = *++p;
			} else {
				cur[len++] = c;
			}
			continue;
		}
		if (!c || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (in_tok) {
				if (n == max)
					goto fail;
				cur[len] = '\0';
				tok[n++] = strndup(cur, len);
				len = 0;
				in_tok = false;
			}
			if (!c)
				break;
			continue;
		}
		in_tok = true;
		if (c == '"' || c == '\'') {
			quote = c;
		} else if (c == '\\') {
			if (!p[1])
				goto fail;
			cur[len++] = *++p;
		} else {
			cur[len++] = c;
		}
	}
	free(cur);
	return n;
fail:
	free(cur);
	while (n > 0)
		free(tok[--n]);
	return -1;
}

/* One line: what every reader must see in it. */
static void check_hostile_line(const char *line, const struct status_field *f, size_t nf)
{
	CU_ASSERT_PTR_NULL(strpbrk(line, "\n\r"));
	for (const unsigned char *p = (const unsigned char *)line; *p; p++)
		CU_ASSERT(*p >= 0x20 && *p != 0x7f);
	CU_ASSERT(utf8_valid(line));

	/* Split on raw spaces (what awk does): the id, the event, and then the words with an
	 * '=' are exactly the fields' beginnings, one per field, in order. */
	char *copy = strdup(line), *save = NULL;
	CU_ASSERT_FATAL(copy != NULL);
	char *t = strtok_r(copy, " ", &save);
	CU_ASSERT_STRING_EQUAL(t, "10006");
	t = strtok_r(NULL, " ", &save);
	CU_ASSERT_STRING_EQUAL(t, "program-failed");
	size_t fi = 0;
	while ((t = strtok_r(NULL, " ", &save))) {
		if (!strchr(t, '='))
			continue;
		CU_ASSERT_FATAL(fi < nf);
		size_t klen = strlen(f[fi].key);
		CU_ASSERT(strncmp(t, f[fi].key, klen) == 0 && t[klen] == '=');
		fi++;
	}
	CU_ASSERT_EQUAL(fi, nf);
	char *tok[64];
	int nt = shlex_split(line, tok, 64);
	CU_ASSERT_EQUAL_FATAL(nt, (int)nf + 2);
	for (size_t i = 0; i < nf; i++) {
		size_t klen = strlen(f[i].key);
		CU_ASSERT_FATAL(strncmp(tok[i + 2], f[i].key, klen) == 0 &&
				tok[i + 2][klen] == '=');
		/* The value as written: the line's text between key= and the next field. */
		const char *v = tok[i + 2] + klen + 1;
		size_t vlen = strlen(v);
		/* shlex removed the quotes; whether there were any shows in the line. */
		char *needle = NULL;
		if (asprintf(&needle, " %s=\"", f[i].key) < 0)
			abort();
		bool quoted = strstr(line, needle) != NULL;
		free(needle);
		if (!quoted) {
			CU_ASSERT(vlen > 0); /* empty is "" */
			for (size_t k = 0; k < vlen; k++)
				CU_ASSERT((unsigned char)v[k] >= 0x80 || strchr("._,:/@+-", v[k]) ||
					  (v[k] >= 'a' && v[k] <= 'z') ||
					  (v[k] >= 'A' && v[k] <= 'Z') ||
					  (v[k] >= '0' && v[k] <= '9'));
		}
		char *decoded = malloc(vlen + 1);
		CU_ASSERT_FATAL(decoded != NULL);
		CU_ASSERT(decode_value(v, vlen, quoted, decoded));
		CU_ASSERT_STRING_EQUAL(decoded, f[i].value);
		free(decoded);
	}
	CU_ASSERT_STRING_EQUAL(tok[0], "10006");
	for (int i = 0; i < nt; i++)
		free(tok[i]);
	free(copy);
}

static void test_format_hostile(void)
{
	for (size_t i = 0; i < N_HOSTILE; i++) {
		/* The hostile value first, in the middle and last: it must not reach the
		 * fields around it. */
		const struct status_field f[] = { { "output", hostile[i] },
						  { "advert", "REAL0001" },
						  { "reason", hostile[i] },
						  { "exit", "1" },
						  { "program", hostile[i] } };
		char *line = format(STATUS_PROGRAM_FAILED, f, 5);
		check_hostile_line(line, f, 5);
		free(line);
	}
}

/* The README's own recipes (its "Status messages" section), run on rsyslog-style lines
 * carrying the hostile values: the grep one finds each failure once, the awk one counts
 * only the real advertisement, the Python shlex one gives every field as written. The
 * harness runs the snippet as the README has it, only print() is caught. */
static const char readme_harness[] =
	"import codecs, io, re, subprocess, sys\n"
	"readme, log = sys.argv[1], sys.argv[2]\n"
	"text = open(readme, encoding='utf-8').read()\n"
	"sec = text[text.index('## Status messages'):]\n"
	"sec = sec[:sec.index('\\n## ', 1)]\n"
	"cmds = [l.strip() for l in sec.splitlines() if l.startswith('    ')]\n"
	"grep = next(c for c in cmds if c.startswith('grep -E') and '(10003|10006|11001)' in c)\n"
	"awk = next(c for c in cmds if c.startswith('awk '))\n"
	"m = re.search(r\"^    (grep -E [^\\n]*?) \\| python3 -c '(.*?)'$\", sec, re.S | re.M)\n"
	"code = m.group(2).replace('\\n    ', '\\n')  # the Markdown indent is not Python's\n"
	"def sh(c):\n"
	"    return subprocess.run(['sh', '-c', c.replace('/var/log/syslog', log)],\n"
	"                          stdout=subprocess.PIPE, check=True).stdout.decode('utf-8')\n"
	"print('grep', len(sh(grep).splitlines()))\n"
	"for l in sorted(sh(awk).splitlines()):\n"
	"    print('awk', l)\n"
	"out = []\n"
	"sys.stdin = io.StringIO(sh(m.group(1)))\n"
	"exec(code, {'print': lambda *a: out.append(a)})\n"
	"for i, (id, event, d) in enumerate(out):\n"
	"    print('line', i, id, event, len(d))\n"
	"    for k, v in d.items():\n"
	"        print('field', i, k, v.encode('utf-8').hex())\n"
	"        print('decoded', i, k, codecs.escape_decode(v)[0].hex())\n";

static void hex_of(const char *s, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", (unsigned char)s[i]);
	out[2 * n] = '\0';
}

static void test_readme_collectors(void)
{
	const char *srcdir = getenv("top_srcdir");
	char *readme = NULL, *log = sock_path("syslog"), *py = sock_path("harness.py");
	if (asprintf(&readme, "%s/README.md", srcdir && srcdir[0] ? srcdir : ".") < 0)
		abort();
	FILE *h = fopen(py, "w");
	CU_ASSERT_FATAL(h != NULL);
	fputs(readme_harness, h);
	fclose(h);

	/* One failure per hostile value (in output and reason), plus a line the grep and
	 * awk recipes must pass over. */
	FILE *out = fopen(log, "w");
	CU_ASSERT_FATAL(out != NULL);
	char **lines = calloc(N_HOSTILE, sizeof(*lines));
	CU_ASSERT_FATAL(lines != NULL);
	for (size_t i = 0; i < N_HOSTILE; i++) {
		const struct status_field f[] = { { "advert", "REAL0001" },
						  { "output", hostile[i] },
						  { "reason", hostile[i] } };
		lines[i] = format(STATUS_PROGRAM_FAILED, f, 3);
		fprintf(out, "2026-11-22T03:27:39.660613+00:00 ws1 advertd[3034]: %s\n", lines[i]);
	}
	char *started = format(STATUS_PROGRAM_STARTED,
			       (const struct status_field[]){ { "advert", "REAL0002" },
							      { "program", hostile[0] } },
			       2);
	fprintf(out, "2026-11-22T03:27:40.000000+00:00 ws1 advertd[3034]: %s\n", started);
	fclose(out);

	char *cmd = NULL;
	if (asprintf(&cmd, "python3 '%s' '%s' '%s'", py, readme, log) < 0)
		abort();
	FILE *p = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	char got[65536];
	size_t n = fread(got, 1, sizeof(got) - 1, p);
	got[n] = '\0';
	int status = pclose(p);
	CU_ASSERT_EQUAL(status, 0);
	if (status != 0)
		fprintf(stderr, "\n  %s: exit status %d (python3 missing, or a recipe broke)\n%s\n",
			cmd, status, got);

	/* The expected answer, from the lines as written. */
	size_t cap = 65536, len = 0;
	char *want = malloc(cap);
	CU_ASSERT_FATAL(want != NULL);
	len += (size_t)snprintf(want + len, cap - len, "grep %zu\nawk %zu REAL0001\n", N_HOSTILE,
				N_HOSTILE);
	for (size_t i = 0; i < N_HOSTILE + 1; i++) {
		const char *line = i < N_HOSTILE ? lines[i] : started;
		char *tok[16];
		int nt = shlex_split(line, tok, 16);
		CU_ASSERT_FATAL(nt >= 2);
		len += (size_t)snprintf(want + len, cap - len, "line %zu %s %s %d\n", i, tok[0],
					tok[1], nt - 2);
		for (int k = 2; k < nt; k++) {
			char *eq = strchr(tok[k], '=');
			CU_ASSERT_FATAL(eq != NULL);
			char hex[2048];
			hex_of(eq + 1, strlen(eq + 1), hex);
			len += (size_t)snprintf(want + len, cap - len, "field %zu %.*s %s\n", i,
						(int)(eq - tok[k]), tok[k], hex);
			/* The README's way back to the original bytes. */
			const char *orig = k == 2 ? (i < N_HOSTILE ? "REAL0001" : "REAL0002")
					   : i < N_HOSTILE ? hostile[i]
							   : hostile[0];
			hex_of(orig, strlen(orig), hex);
			len += (size_t)snprintf(want + len, cap - len, "decoded %zu %.*s %s\n", i,
						(int)(eq - tok[k]), tok[k], hex);
		}
		for (int k = 0; k < nt; k++)
			free(tok[k]);
		CU_ASSERT_FATAL(len < cap);
	}
	CU_ASSERT_STRING_EQUAL(got, want);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "\n--- got\n%s--- expected\n%s", got, want);

	for (size_t i = 0; i < N_HOSTILE; i++)
		free(lines[i]);
	free(lines);
	free(started);
	free(want);
	free(cmd);
	free(readme);
	free(py);
	free(log);
}

static void test_format_truncation(void)
{
	const struct status_field f[] = { { "program", "Install \"x\"\n" }, { "exit", "1" } };
	char *full = format(STATUS_PROGRAM_FAILED, f, 2);
	size_t len = strlen(full);

	CU_ASSERT_EQUAL(status_format(NULL, 0, STATUS_PROGRAM_FAILED, f, 2), len);
	for (size_t size = 1; size <= len + 2; size++) {
		char buf[128];
		memset(buf, 'Z', sizeof(buf));
		CU_ASSERT_EQUAL(status_format(buf, size, STATUS_PROGRAM_FAILED, f, 2), len);
		size_t kept = size - 1 < len ? size - 1 : len;
		CU_ASSERT_EQUAL(buf[kept], '\0');
		CU_ASSERT(strncmp(buf, full, kept) == 0);
		CU_ASSERT_EQUAL(buf[size], 'Z'); /* nothing written past size */
	}
	free(full);
}

static void test_severity_table(void)
{
	static const struct {
		enum status_id id;
		const char *name;
		int severity;
	} t[] = {
		{ STATUS_ADVERT_RECEIVED, "advertisement-received", LOG_INFO },
		{ STATUS_PREPARE_FAILED, "prepare-failed", LOG_ERR },
		{ STATUS_PROGRAM_STARTED, "program-started", LOG_INFO },
		{ STATUS_PROGRAM_FAILED, "program-failed", LOG_ERR },
		{ STATUS_PROGRAM_SUCCEEDED, "program-completed", LOG_NOTICE },
		{ STATUS_PLATFORM_REJECTED, "platform-not-supported", LOG_NOTICE },
		{ STATUS_SUCCESS_REBOOT, "program-completed-restart-pending", LOG_NOTICE },
		{ STATUS_MAX_RUNTIME_EXCEEDED, "max-runtime-exceeded", LOG_WARNING },
		{ STATUS_EXPIRED, "expired", LOG_INFO },
		{ STATUS_WAITING_DEPENDENCY, "waiting-for-dependency", LOG_INFO },
		{ STATUS_DEPENDENCY_FAILED, "dependency-failed", LOG_WARNING },
		{ STATUS_REQUIREMENTS_NOT_MET, "requirements-not-met", LOG_WARNING },
		{ STATUS_WILL_NOT_RERUN, "will-not-rerun", LOG_INFO },
		{ STATUS_INTERRUPTED, "interrupted", LOG_WARNING },
		{ STATUS_GUARD_HOLDING, "guard-holding", LOG_WARNING },
		{ STATUS_DC_FAILOVER, "dc-failover", LOG_WARNING },
		{ STATUS_FILE_REJECTED, "file-rejected", LOG_ERR },
		{ STATUS_ADVERT_WITHDRAWN, "advertisement-withdrawn", LOG_NOTICE },
		{ STATUS_HISTORY_FAILED, "history-failed", LOG_ERR },
		{ STATUS_HISTORY_DAMAGED, "history-damaged", LOG_WARNING },
		{ STATUS_DAEMON_STARTED, "daemon-started", LOG_NOTICE },
		{ STATUS_DAEMON_STOPPING, "daemon-stopping", LOG_NOTICE },
		{ STATUS_MESSAGES_DROPPED, "messages-dropped", LOG_WARNING },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *name = status_event_name(t[i].id);
		CU_ASSERT_PTR_NOT_NULL_FATAL(name);
		CU_ASSERT_STRING_EQUAL(name, t[i].name);
		CU_ASSERT_EQUAL(status_severity(t[i].id), t[i].severity);
	}
	CU_ASSERT_EQUAL(status_severity((enum status_id)12345), LOG_WARNING);
}

/* --- the sink against real sockets ---------------------------------------------------- */

static char *sock_path(const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

/* A bound datagram socket standing in for syslog's /dev/log. */
static int receiver(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

static void receiver_close(int fd, const char *path)
{
	close(fd);
	unlink(path);
}

/* The next datagram, or NULL when none is waiting. Unix datagrams are in the receiver's
 * queue when send() returns: nothing to wait for. */
static char *recv_msg(int fd)
{
	char buf[8192];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

static char *expect_line(int pri, const char *stamp, const char *ident, const char *text)
{
	char *s = NULL;
	if (asprintf(&s, "<%d>%s %s[%ld]: %s", pri, stamp, ident, (long)getpid(), text) < 0)
		abort();
	return s;
}

#define ASSERT_RECV(fd, pri, stamp, ident, text)                                                   \
	do {                                                                                       \
		char *got_ = recv_msg(fd);                                                         \
		char *exp_ = expect_line((pri), (stamp), (ident), (text));                         \
		CU_ASSERT_PTR_NOT_NULL(got_);                                                      \
		if (got_) {                                                                        \
			CU_ASSERT_STRING_EQUAL(got_, exp_);                                        \
			if (strcmp(got_, exp_) != 0)                                               \
				fprintf(stderr, "\n  got      %s\n  expected %s\n", got_, exp_);   \
		}                                                                                  \
		free(got_);                                                                        \
		free(exp_);                                                                        \
	} while (0)

static void emit_seq(struct status_sink *s, time_t now, int seq)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", seq);
	const struct status_field f[] = { { "seq", v } };
	status_emit(s, now, STATUS_PROGRAM_STARTED, f, 1);
}

static char *seq_text(int seq)
{
	char *s = NULL;
	if (asprintf(&s, "10005 program-started seq=%d", seq) < 0)
		abort();
	return s;
}

#define ASSERT_RECV_SEQ(fd, fac, seq)                                                              \
	do {                                                                                       \
		char *t_ = seq_text(seq);                                                          \
		ASSERT_RECV((fd), (fac) | LOG_INFO, "Mar  5 07:08:09", "advert-test", t_);         \
		free(t_);                                                                          \
	} while (0)

static void test_open_errors(void)
{
	struct status_sink *s = (struct status_sink *)&s; /* must stay untouched */
	char long_path[200];
	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';

	CU_ASSERT_EQUAL(status_open(long_path, LOG_DAEMON, "a", 4, &s), -ENAMETOOLONG);
	CU_ASSERT_EQUAL(status_open("/x", LOG_DAEMON | LOG_ERR, "a", 4, &s), -EINVAL);
	CU_ASSERT_EQUAL(status_open("/x", LOG_DAEMON, "", 4, &s), -EINVAL);
	CU_ASSERT_EQUAL(status_open("", LOG_DAEMON, "a", 4, &s), -EINVAL);
	CU_ASSERT_PTR_EQUAL(s, (struct status_sink *)&s);
	status_close(NULL);
}

static void test_sink_sends(void)
{
	char *path = sock_path("log-sends");
	int fd = receiver(path);
	struct status_sink *s = NULL;
	CU_ASSERT_FATAL(status_open(path, LOG_LOCAL3, "advert-test", 8, &s) == 0);

	const struct status_field f[] = { { "advert", "LAB00001" }, { "exit", "0" } };
	status_emit(s, T0, STATUS_PROGRAM_SUCCEEDED, f, 2);
	status_emit(s, T0 + 3, STATUS_PROGRAM_FAILED, f, 2);
	CU_ASSERT_EQUAL(status_queued(s), 0);
	/* LOG_LOCAL3 is 19 << 3 = 152: notice 157, err 155. */
	ASSERT_RECV(fd, 157, "Mar  5 07:08:09", "advert-test",
		    "10008 program-completed advert=LAB00001 exit=0");
	ASSERT_RECV(fd, 155, "Mar  5 07:08:12", "advert-test",
		    "10006 program-failed advert=LAB00001 exit=0");
	CU_ASSERT_PTR_NULL(recv_msg(fd));
	CU_ASSERT_EQUAL(status_flush(s, T0), 0);
	status_close(s);

	/* An ident that would end the syslog tag early is neutralised. */
	CU_ASSERT_FATAL(status_open(path, LOG_DAEMON, "adv test:x", 8, &s) == 0);
	status_emit(s, (time_t)1732406398, STATUS_DAEMON_STOPPING, NULL, 0);
	ASSERT_RECV(fd, LOG_DAEMON | LOG_NOTICE, "Nov 23 23:59:58", "adv_test_x",
		    "11021 daemon-stopping");
	status_close(s);
	/* So is one that is not valid UTF-8 or holds an unsafe character (NEL, 2 bytes). */
	CU_ASSERT_FATAL(status_open(path, LOG_DAEMON,
				    "adv\xff\xc2\x85"
				    "é",
				    8, &s) == 0);
	status_emit(s, (time_t)1732406398, STATUS_DAEMON_STOPPING, NULL, 0);
	ASSERT_RECV(fd, LOG_DAEMON | LOG_NOTICE, "Nov 23 23:59:58", "adv___é",
		    "11021 daemon-stopping");
	status_close(s);

	receiver_close(fd, path);
	free(path);
}

static void test_sink_queues_until_socket_appears(void)
{
	char *path = sock_path("log-later");
	struct status_sink *s = NULL;
	CU_ASSERT_FATAL(status_open(path, LOG_DAEMON, "advert-test", 8, &s) == 0);

	for (int i = 1; i <= 3; i++)
		emit_seq(s, T0, i);
	CU_ASSERT_EQUAL(status_queued(s), 3);
	CU_ASSERT_EQUAL(status_flush(s, T0), 3);

	int fd = receiver(path);
	CU_ASSERT_EQUAL(status_flush(s, T0), 0);
	CU_ASSERT_EQUAL(status_queued(s), 0);
	for (int i = 1; i <= 3; i++)
		ASSERT_RECV_SEQ(fd, LOG_DAEMON, i);
	CU_ASSERT_PTR_NULL(recv_msg(fd));

	/* Socket gone again: queued; back: the next emit sends the queue first. */
	receiver_close(fd, path);
	emit_seq(s, T0, 4);
	CU_ASSERT_EQUAL(status_queued(s), 1);
	fd = receiver(path);
	emit_seq(s, T0, 5);
	CU_ASSERT_EQUAL(status_queued(s), 0);
	ASSERT_RECV_SEQ(fd, LOG_DAEMON, 4);
	ASSERT_RECV_SEQ(fd, LOG_DAEMON, 5);
	CU_ASSERT_PTR_NULL(recv_msg(fd));

	status_close(s);
	receiver_close(fd, path);
	free(path);
}

static void test_sink_overflow_drops_oldest(void)
{
	char *path = sock_path("log-overflow");
	struct status_sink *s = NULL;
	CU_ASSERT_FATAL(status_open(path, LOG_DAEMON, "advert-test", 3, &s) == 0);

	for (int i = 1; i <= 5; i++)
		emit_seq(s, T0, i);
	CU_ASSERT_EQUAL(status_queued(s), 3);
	CU_ASSERT_EQUAL(status_flush(s, T0), 4); /* the three and the drop notice */

	int fd = receiver(path);
	CU_ASSERT_EQUAL(status_flush(s, T0 + 60), 0);
	ASSERT_RECV(fd, LOG_DAEMON | LOG_WARNING, "Mar  5 07:09:09", "advert-test",
		    "11022 messages-dropped count=2");
	for (int i = 3; i <= 5; i++)
		ASSERT_RECV_SEQ(fd, LOG_DAEMON, i);
	CU_ASSERT_PTR_NULL(recv_msg(fd));

	/* The count starts again from zero. */
	receiver_close(fd, path);
	for (int i = 6; i <= 9; i++)
		emit_seq(s, T0, i);
	fd = receiver(path);
	CU_ASSERT_EQUAL(status_flush(s, T0 + 60), 0);
	ASSERT_RECV(fd, LOG_DAEMON | LOG_WARNING, "Mar  5 07:09:09", "advert-test",
		    "11022 messages-dropped count=1");
	for (int i = 7; i <= 9; i++)
		ASSERT_RECV_SEQ(fd, LOG_DAEMON, i);
	CU_ASSERT_PTR_NULL(recv_msg(fd));

	status_close(s);
	receiver_close(fd, path);
	free(path);
}

static void test_sink_without_queue(void)
{
	char *path = sock_path("log-noqueue");
	struct status_sink *s = NULL;
	CU_ASSERT_FATAL(status_open(path, LOG_DAEMON, "advert-test", 0, &s) == 0);
	emit_seq(s, T0, 1);
	emit_seq(s, T0, 2);
	CU_ASSERT_EQUAL(status_queued(s), 0);
	CU_ASSERT_EQUAL(status_flush(s, T0), 1); /* the notice */
	int fd = receiver(path);
	emit_seq(s, T0, 3);
	ASSERT_RECV(fd, LOG_DAEMON | LOG_WARNING, "Mar  5 07:08:09", "advert-test",
		    "11022 messages-dropped count=2");
	ASSERT_RECV_SEQ(fd, LOG_DAEMON, 3);
	CU_ASSERT_EQUAL(status_flush(s, T0), 0);
	status_close(s);
	receiver_close(fd, path);
	free(path);
}

/* rsyslogd restarting: the old socket closes, a new one (new inode) takes the path. */
static void test_sink_reconnects_to_new_socket(void)
{
	char *path = sock_path("log-restart");
	int old = receiver(path);
	struct status_sink *s = NULL;
	CU_ASSERT_FATAL(status_open(path, LOG_DAEMON, "advert-test", 8, &s) == 0);
	emit_seq(s, T0, 1);
	ASSERT_RECV_SEQ(old, LOG_DAEMON, 1);

	receiver_close(old, path);
	int fd = receiver(path);
	emit_seq(s, T0, 2);
	CU_ASSERT_EQUAL(status_queued(s), 0);
	ASSERT_RECV_SEQ(fd, LOG_DAEMON, 2);

	status_close(s);
	receiver_close(fd, path);
	free(path);
}

/* Fills the receiver until a send would block; returns how many were sent. */
static int fill(struct status_sink *s, int first)
{
	int seq = first;
	while (status_queued(s) == 0 && seq < first + 100000)
		emit_seq(s, T0, seq++);
	return seq - first;
}

/* A syslog daemon that stops reading must not stall the caller: messages queue. */
static void test_sink_full_receiver(void)
{
	char *path = sock_path("log-full");
	int fd = receiver(path);
	struct status_sink *s = NULL;
	CU_ASSERT_FATAL(status_open(path, LOG_DAEMON, "advert-test", 16, &s) == 0);

	int n = fill(s, 1);
	CU_ASSERT_FATAL(status_queued(s) == 1);
	emit_seq(s, T0, n + 1);
	CU_ASSERT_EQUAL(status_queued(s), 2);
	CU_ASSERT_EQUAL(status_flush(s, T0), 2);

	/* What was sent before the queue started, in order. */
	int got = 0;
	char *m;
	while ((m = recv_msg(fd))) {
		char *t = seq_text(++got);
		CU_ASSERT_PTR_NOT_NULL(strstr(m, t));
		free(t);
		free(m);
	}
	CU_ASSERT_EQUAL(got, n - 1);
	CU_ASSERT_EQUAL(status_flush(s, T0), 0);
	ASSERT_RECV_SEQ(fd, LOG_DAEMON, n);
	ASSERT_RECV_SEQ(fd, LOG_DAEMON, n + 1);
	CU_ASSERT_PTR_NULL(recv_msg(fd));

	status_close(s);
	receiver_close(fd, path);
	free(path);
}

/* A hung syslog daemon (full, still open) replaced by a new one at the same path: the
 * sink notices the new inode and moves over instead of waiting on the old socket. */
static void test_sink_full_and_replaced(void)
{
	char *path = sock_path("log-hung");
	char *next = sock_path("log-hung.new");
	int old = receiver(path);
	struct status_sink *s = NULL;
	CU_ASSERT_FATAL(status_open(path, LOG_DAEMON, "advert-test", 16, &s) == 0);

	int n = fill(s, 1);
	CU_ASSERT_FATAL(status_queued(s) == 1);
	int fd = receiver(next);
	CU_ASSERT_FATAL(rename(next, path) == 0);
	CU_ASSERT_EQUAL(status_flush(s, T0), 0);
	ASSERT_RECV_SEQ(fd, LOG_DAEMON, n);
	CU_ASSERT_PTR_NULL(recv_msg(fd));

	status_close(s);
	close(old);
	receiver_close(fd, path);
	free(next);
	free(path);
}

int main(void)
{
	/* The timestamps are local time, as syslog(3) writes them: pin the zone. */
	setenv("TZ", "UTC", 1);
	tzset();
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "format: plain fields", test_format_plain },
		{ "format: quoting and escapes", test_format_quoting },
		{ "format: bytes from 0x80: valid UTF-8 or \\xhh", test_format_non_ascii },
		{ "unsafe characters", test_char_unsafe },
		{ "format: hostile values, one parsable line", test_format_hostile },
		{ "format: the README's grep, awk and shlex recipes", test_readme_collectors },
		{ "format: empty, NULL and bad keys", test_format_empty_and_missing },
		{ "format: unknown id", test_format_unknown_id },
		{ "format: one line whatever the value", test_format_never_multiline },
		{ "format: truncation like snprintf", test_format_truncation },
		{ "event names and severities", test_severity_table },
		{ "open: bad arguments", test_open_errors },
		{ "sink: PRI, timestamp, ident and text", test_sink_sends },
		{ "sink: queue until the socket appears", test_sink_queues_until_socket_appears },
		{ "sink: overflow drops the oldest, notice first",
		  test_sink_overflow_drops_oldest },
		{ "sink: queue_max 0 still counts drops", test_sink_without_queue },
		{ "sink: reconnects to a re-created socket", test_sink_reconnects_to_new_socket },
		{ "sink: a full receiver does not block", test_sink_full_receiver },
		{ "sink: a full socket replaced by a new one", test_sink_full_and_replaced },
		{ 0 },
	};
	int r = tu_run("status", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

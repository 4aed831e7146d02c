/* SPDX-License-Identifier: MIT */
/* Run history: round trips, the record format, reconciling interrupted runs exactly
 * once, torn and damaged records, compaction (and a crash in the middle of one), failing
 * writes (file size limit, a full and a read-only file system), and 10,000 ids. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "advert/history.h"
#include "testutil.h"

#define T0 ((time_t)1795341600)

static char *dir; /* a fresh state directory per test */

static void fresh_dir(void)
{
	if (dir) {
		tu_rmtree(dir);
		free(dir);
	}
	dir = tu_mkdtemp();
	chmod(dir, 0700);
}

static char *log_path(const char *d)
{
	char *p = NULL;
	if (asprintf(&p, "%s/history.log", d) < 0)
		abort();
	return p;
}

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *data = calloc(1, (size_t)n + 1);
	*ret_len = fread(data, 1, (size_t)n, f);
	fclose(f);
	return data;
}

static void spit(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A record line as the history seals it: "v1 <first 64 bits of SHA-256 of body> body\n". */
static size_t seal(char *out, size_t size, const char *body)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	CU_ASSERT_FATAL(EVP_Digest(body, strlen(body), md, &mdlen, EVP_sha256(), NULL));
	size_t n = (size_t)snprintf(out, size, "v1 ");
	for (unsigned i = 0; i < 8; i++)
		n += (size_t)snprintf(out + n, size - n, "%02x", md[i]);
	n += (size_t)snprintf(out + n, size - n, " %s\n", body);
	return n;
}

static struct history *open_ok(void)
{
	struct history *h = NULL;
	int r = history_open(dir, &h);
	if (r < 0)
		fprintf(stderr, "history_open: %s\n", strerror(-r));
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	return h;
}

/* One whole run; returns its id in run. */
static void one_run(struct history *h, const char *id, time_t t, enum run_result res,
		    char run[HISTORY_RUN_ID_MAX])
{
	char tmp[HISTORY_RUN_ID_MAX];
	run = run ? run : tmp;
	CU_ASSERT_EQUAL_FATAL(history_begin(h, id, "swinstall", NULL, t, run), 0);
	CU_ASSERT_EQUAL_FATAL(history_end(h, run, res, res == RUN_FAILED ? 1 : 0, 0, 1500,
					  "dc1.example.test", "done", t + 2),
			      0);
}

struct collected {
	struct history_run runs[64];
	size_t n;
};

static void collect(void *data, const struct history_run *run)
{
	struct collected *c = data;
	if (c->n < 64)
		c->runs[c->n] = *run;
	c->n++;
}

static bool summary_is(const struct schedule_history *s, bool started, bool succeeded,
		       enum run_result last, time_t start, bool running)
{
	bool ok = s->ever_started == started && s->ever_succeeded == succeeded &&
		  s->last_result == last && s->last_start == start && s->running == running;
	if (!ok)
		fprintf(stderr,
			"\nsummary: started %d succeeded %d last %s start %jd running %d; want %d "
			"%d %s %jd %d\n",
			s->ever_started, s->ever_succeeded, run_result_name(s->last_result),
			(intmax_t)s->last_start, s->running, started, succeeded,
			run_result_name(last), (intmax_t)start, running);
	return ok;
}

static void test_round_trip(void)
{
	fresh_dir();
	struct history *h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.records, 0);
	CU_ASSERT_EQUAL(st.skipped, 0);
	CU_ASSERT_FALSE(st.torn_tail);
	CU_ASSERT_EQUAL(st.write_error, 0);

	const struct schedule_history *s = history_summary(h, "LAB00001");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT(summary_is(s, false, false, RUN_NONE, 0, false));

	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "LAB00001", "swinstall", NULL, T0, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00000001");
	CU_ASSERT(summary_is(history_summary(h, "LAB00001"), true, false, RUN_NONE, T0, true));
	/* Never overlap itself. */
	char run2[HISTORY_RUN_ID_MAX] = "unchanged";
	CU_ASSERT_EQUAL(history_begin(h, "LAB00001", "swinstall", NULL, T0 + 1, run2), -EBUSY);
	CU_ASSERT_STRING_EQUAL(run2, "unchanged");
	CU_ASSERT_EQUAL(history_end(h, run, RUN_SUCCEEDED, 0, 0, 61000, "dc1.example.test",
				    "exit status 0", T0 + 61),
			0);
	s = history_summary(h, "LAB00001");
	CU_ASSERT(summary_is(s, true, true, RUN_SUCCEEDED, T0, false));
	CU_ASSERT_EQUAL(s->last_end, T0 + 61);
	/* Ended once: no more. */
	CU_ASSERT_EQUAL(history_end(h, run, RUN_FAILED, 1, 0, 0, NULL, NULL, T0 + 62), -ENOENT);

	CU_ASSERT_EQUAL(history_begin(h, "LAB00002", "pwinstall", NULL, T0 + 100, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00000002");
	CU_ASSERT_EQUAL(history_end(h, run, RUN_FAILED, 0, 9, 5, NULL, NULL, T0 + 101), 0);
	CU_ASSERT_EQUAL(history_begin(h, "LAB00001", "swinstall", NULL, T0 + 200, run), 0);
	CU_ASSERT_EQUAL(history_end(h, run, RUN_SUCCEEDED_REBOOT, 3010, 0, 7, NULL, NULL, T0 + 201),
			0);
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.records, 6);
	history_close(h);

	/* As a restarted daemon sees it. */
	h = open_ok();
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.records, 6);
	CU_ASSERT_EQUAL(st.skipped, 0);
	CU_ASSERT_EQUAL(st.adverts, 2);
	CU_ASSERT(summary_is(history_summary(h, "LAB00001"), true, true, RUN_SUCCEEDED_REBOOT,
			     T0 + 200, false));
	CU_ASSERT(summary_is(history_summary(h, "LAB00002"), true, false, RUN_FAILED, T0 + 100,
			     false));
	CU_ASSERT(summary_is(history_summary(h, "LAB00003"), false, false, RUN_NONE, 0, false));

	struct collected c = { 0 };
	CU_ASSERT_EQUAL(history_list(h, NULL, 10, collect, &c), 0);
	CU_ASSERT_EQUAL_FATAL(c.n, 3);
	CU_ASSERT_STRING_EQUAL(c.runs[0].run_id, "r00000003");
	CU_ASSERT_STRING_EQUAL(c.runs[1].run_id, "r00000002");
	CU_ASSERT_STRING_EQUAL(c.runs[2].run_id, "r00000001");
	const struct history_run *r1 = &c.runs[2];
	CU_ASSERT_STRING_EQUAL(r1->advert_id, "LAB00001");
	CU_ASSERT_STRING_EQUAL(r1->account, "swinstall");
	CU_ASSERT_EQUAL(r1->start, T0);
	CU_ASSERT(r1->ended);
	CU_ASSERT_EQUAL(r1->end, T0 + 61);
	CU_ASSERT_EQUAL(r1->result, RUN_SUCCEEDED);
	CU_ASSERT_EQUAL(r1->duration_ms, 61000);
	CU_ASSERT_STRING_EQUAL(r1->dc, "dc1.example.test");
	CU_ASSERT_STRING_EQUAL(r1->reason, "exit status 0");
	CU_ASSERT(r1->boot_id[0]);
	CU_ASSERT_EQUAL(c.runs[1].signal, 9);
	CU_ASSERT_EQUAL(c.runs[0].exit_code, 3010);

	c.n = 0;
	CU_ASSERT_EQUAL(history_list(h, "LAB00001", 10, collect, &c), 0);
	CU_ASSERT_EQUAL(c.n, 2);
	c.n = 0;
	CU_ASSERT_EQUAL(history_list(h, NULL, 1, collect, &c), 0);
	CU_ASSERT_EQUAL(c.n, 1);
	CU_ASSERT_STRING_EQUAL(c.runs[0].run_id, "r00000003");
	c.n = 0;
	CU_ASSERT_EQUAL(history_list(h, NULL, 0, collect, &c), 0);
	CU_ASSERT_EQUAL(c.n, 0);
	c.n = 0;
	CU_ASSERT_EQUAL(history_list(h, "NOPE", 10, collect, &c), 0);
	CU_ASSERT_EQUAL(c.n, 0);

	/* Summaries stay where they are while the table grows, and follow the runs. */
	const struct schedule_history *kept = history_summary(h, "LAB00002");
	for (int i = 0; i < 70; i++) {
		char id[16];
		snprintf(id, sizeof(id), "GROW%02d", i);
		CU_ASSERT_EQUAL(history_begin(h, id, "swinstall", NULL, T0 + 250, run), 0);
	}
	CU_ASSERT_PTR_EQUAL(history_summary(h, "LAB00002"), kept);
	CU_ASSERT_FALSE(kept->running);

	/* The sequence goes on after a reopen. */
	CU_ASSERT_EQUAL(history_begin(h, "LAB00002", "pwinstall", NULL, T0 + 300, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00000074");
	CU_ASSERT(kept->running);
	CU_ASSERT_EQUAL(kept->last_start, T0 + 300);
	history_close(h);
	history_close(NULL);
}

static void test_format(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char run[HISTORY_RUN_ID_MAX];
	/* Values that try to forge fields and lines, with escapes and non-ASCII text. */
	const char *evil = "sw install\nv1 0000000000000000 end run=r00000001\\x41 caf\xc3\xa9";
	CU_ASSERT_EQUAL(history_begin(h, "LAB.0_1-x", evil, NULL, T0, run), 0);
	char longreason[400];
	memset(longreason, 'y', sizeof(longreason) - 1);
	longreason[sizeof(longreason) - 1] = '\0';
	CU_ASSERT_EQUAL(history_end(h, run, RUN_FAILED, -1, 0, 12, "dc 1", longreason, T0 + 1), 0);
	history_close(h);

	char *p = log_path(dir);
	size_t len;
	char *data = slurp(p, &len);
	/* Exactly two lines, each "v1 <16 hex> kind …". */
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += data[i] == '\n';
	CU_ASSERT_EQUAL(lines, 2);
	CU_ASSERT_EQUAL(strncmp(data, "v1 ", 3), 0);
	CU_ASSERT_EQUAL(strspn(data + 3, "0123456789abcdef"), 16);
	CU_ASSERT_PTR_NOT_NULL(strstr(data, " start run=r00000001 advert=LAB.0_1-x time=1795341600 "
					    "boot="));
	CU_ASSERT_PTR_NOT_NULL(strstr(data, " account=sw\\x20install\\x0av1\\x20"));
	CU_ASSERT_PTR_NOT_NULL(strstr(data, "r00000001\\x5cx41\\x20caf\\xc3\\xa9"));
	/* The end names the boot the run ran in (where the machine has one), then the rest. */
	const char *end = strstr(data, " end run=r00000001 advert=LAB.0_1-x ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(end);
	CU_ASSERT_PTR_NOT_NULL(strstr(end, "start=1795341600 time=1795341601 result=failed "
					   "exit=-1 signal=0 ms=12 dc=dc\\x201 account="));
	free(data);
	free(p);

	h = open_ok();
	struct collected c = { 0 };
	CU_ASSERT_EQUAL(history_list(h, NULL, 5, collect, &c), 0);
	CU_ASSERT_EQUAL_FATAL(c.n, 1);
	CU_ASSERT_STRING_EQUAL(c.runs[0].account, evil);
	CU_ASSERT_STRING_EQUAL(c.runs[0].dc, "dc 1");
	CU_ASSERT_EQUAL(strlen(c.runs[0].reason), HISTORY_REASON_MAX - 1);
	history_close(h);
}

static void test_bad_arguments(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "", "a", NULL, T0, run), -EINVAL);
	CU_ASSERT_EQUAL(history_begin(h, "../etc", "a", NULL, T0, run), -EINVAL);
	CU_ASSERT_EQUAL(history_begin(h, "has space", "a", NULL, T0, run), -EINVAL);
	char longid[100];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	CU_ASSERT_EQUAL(history_begin(h, longid, "a", NULL, T0, run), -EINVAL);
	CU_ASSERT_EQUAL(history_end(h, "r00000001", RUN_FAILED, 1, 0, 0, NULL, NULL, T0), -ENOENT);
	CU_ASSERT_EQUAL(history_end(h, "bogus", RUN_FAILED, 1, 0, 0, NULL, NULL, T0), -ENOENT);
	CU_ASSERT_EQUAL(history_begin(h, "OK1", NULL, NULL, T0, run), 0);
	CU_ASSERT_EQUAL(history_end(h, run, RUN_NONE, 0, 0, 0, NULL, NULL, T0), -EINVAL);
	CU_ASSERT_EQUAL(history_end(h, run, (enum run_result)42, 0, 0, 0, NULL, NULL, T0), -EINVAL);
	CU_ASSERT(history_summary(h, "OK1")->running);

	/* One process at a time: a second open is refused, not interleaved. */
	struct history *h2 = NULL;
	CU_ASSERT_EQUAL(history_open(dir, &h2), -EBUSY);
	CU_ASSERT_PTR_NULL(h2);
	history_close(h);

	/* A missing state directory, and a log someone else could have written. */
	char *missing = NULL;
	if (asprintf(&missing, "%s/nope", dir) < 0)
		abort();
	CU_ASSERT_EQUAL(history_open(missing, &h2), -ENOENT);
	free(missing);
	char *p = log_path(dir);
	chmod(p, 0666);
	CU_ASSERT_EQUAL(history_open(dir, &h2), -EPERM);
	chmod(p, 0600);
	unlink(p);
	CU_ASSERT_EQUAL(symlink("/etc/passwd", p), 0);
	CU_ASSERT(history_open(dir, &h2) < 0);
	unlink(p);
	free(p);
}

struct reconciled {
	struct collected c;
};

static void test_reconcile(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char ra[HISTORY_RUN_ID_MAX], rb[HISTORY_RUN_ID_MAX];
	one_run(h, "A", T0, RUN_SUCCEEDED, NULL);
	CU_ASSERT_EQUAL(history_begin(h, "A", "swinstall", NULL, T0 + 100, ra), 0);
	CU_ASSERT_EQUAL(history_begin(h, "B", "pwinstall", NULL, T0 + 101, rb), 0);
	/* The daemon dies here: no ends. */
	history_close(h);

	h = open_ok();
	CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_SUCCEEDED, T0 + 100, true));
	CU_ASSERT(summary_is(history_summary(h, "B"), true, false, RUN_NONE, T0 + 101, true));
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "A", "swinstall", NULL, T0 + 200, run), -EBUSY);

	struct collected c = { 0 };
	CU_ASSERT_EQUAL(history_reconcile(h, T0 + 500, collect, &c), 0);
	CU_ASSERT_EQUAL_FATAL(c.n, 2);
	CU_ASSERT_STRING_EQUAL(c.runs[0].run_id, ra);
	CU_ASSERT_STRING_EQUAL(c.runs[0].advert_id, "A");
	CU_ASSERT_STRING_EQUAL(c.runs[0].account, "swinstall");
	CU_ASSERT_EQUAL(c.runs[0].start, T0 + 100);
	CU_ASSERT_EQUAL(c.runs[0].end, T0 + 500);
	CU_ASSERT_EQUAL(c.runs[0].result, RUN_INTERRUPTED);
	CU_ASSERT_EQUAL(c.runs[0].duration_ms, -1);
	CU_ASSERT_FALSE(c.runs[0].other_boot); /* same boot: advertd itself stopped */
	CU_ASSERT_PTR_NOT_NULL(strstr(c.runs[0].reason, "advertd stopped"));
	CU_ASSERT_STRING_EQUAL(c.runs[1].run_id, rb);
	CU_ASSERT(
		summary_is(history_summary(h, "A"), true, true, RUN_INTERRUPTED, T0 + 100, false));
	CU_ASSERT(
		summary_is(history_summary(h, "B"), true, false, RUN_INTERRUPTED, T0 + 101, false));
	/* Again in the same process: nothing left. */
	c.n = 0;
	CU_ASSERT_EQUAL(history_reconcile(h, T0 + 501, collect, &c), 0);
	CU_ASSERT_EQUAL(c.n, 0);
	history_close(h);

	/* And across reopens: reported exactly once. */
	for (int i = 0; i < 2; i++) {
		h = open_ok();
		CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_INTERRUPTED, T0 + 100,
				     false));
		c.n = 0;
		CU_ASSERT_EQUAL(history_reconcile(h, T0 + 600, collect, &c), 0);
		CU_ASSERT_EQUAL(c.n, 0);
		struct history_stats st;
		history_get_stats(h, &st);
		CU_ASSERT_EQUAL(st.records, 6);
		history_close(h);
	}

	/* A start from another boot says the system restarted. */
	char line[512], body[256];
	snprintf(body, sizeof(body),
		 "start run=r00000009 advert=C time=%jd boot=00000000-1111-2222-3333-444444444444 "
		 "account=localinst",
		 (intmax_t)(T0 + 700));
	size_t n = seal(line, sizeof(line), body);
	char *p = log_path(dir);
	int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, line, n), (ssize_t)n);
	close(fd);
	free(p);
	h = open_ok();
	CU_ASSERT(history_summary(h, "C")->running);
	c.n = 0;
	CU_ASSERT_EQUAL(history_reconcile(h, T0 + 800, NULL, NULL), 0); /* cb is optional */
	CU_ASSERT_FALSE(history_summary(h, "C")->running);
	CU_ASSERT_EQUAL(history_list(h, "C", 5, collect, &c), 0);
	CU_ASSERT_EQUAL_FATAL(c.n, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(c.runs[0].reason, "system restarted"));
	CU_ASSERT_STRING_EQUAL(c.runs[0].boot_id, "00000000-1111-2222-3333-444444444444");
	/* The sequence continues past the highest id seen. */
	CU_ASSERT_EQUAL(history_begin(h, "C", "x", NULL, T0 + 900, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00000010");
	history_close(h);
}

/* Cuts the log at every byte of its last record: open always works, the earlier records
 * are intact, and the torn bytes are gone after the next append. */
static void test_torn_tail(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char rb[HISTORY_RUN_ID_MAX];
	one_run(h, "A", T0, RUN_SUCCEEDED, NULL);
	CU_ASSERT_EQUAL(history_begin(h, "B", "swinstall", NULL, T0 + 10, rb), 0);
	char *p = log_path(dir);
	off_t before_end = file_size(p);
	CU_ASSERT_EQUAL(history_end(h, rb, RUN_FAILED, 2, 0, 10, "dc", "exit status 2", T0 + 20),
			0);
	history_close(h);

	size_t len;
	char *full = slurp(p, &len);
	CU_ASSERT_FATAL(len > (size_t)before_end);
	size_t cuts = 0;
	for (size_t cut = (size_t)before_end; cut <= len; cut++) {
		spit(p, full, cut);
		h = open_ok();
		struct history_stats st;
		history_get_stats(h, &st);
		bool whole = cut == len, none = cut == (size_t)before_end;
		CU_ASSERT_EQUAL(st.torn_tail, !whole && !none);
		CU_ASSERT_EQUAL(st.skipped, 0);
		CU_ASSERT_EQUAL(st.records, whole ? 4 : 3);
		CU_ASSERT(
			summary_is(history_summary(h, "A"), true, true, RUN_SUCCEEDED, T0, false));
		if (whole) {
			CU_ASSERT(summary_is(history_summary(h, "B"), true, false, RUN_FAILED,
					     T0 + 10, false));
		} else {
			CU_ASSERT(summary_is(history_summary(h, "B"), true, false, RUN_NONE,
					     T0 + 10, true));
		}
		/* Opening alone changes nothing on disk. */
		CU_ASSERT_EQUAL(file_size(p), (off_t)cut);
		/* The next append cuts the torn bytes away first. */
		char run[HISTORY_RUN_ID_MAX];
		CU_ASSERT_EQUAL(history_begin(h, "Z", "swinstall", NULL, T0 + 30, run), 0);
		off_t grown = file_size(p);
		history_close(h);

		h = open_ok();
		history_get_stats(h, &st);
		CU_ASSERT_FALSE(st.torn_tail);
		CU_ASSERT_EQUAL(st.skipped, 0);
		CU_ASSERT_EQUAL(st.records, whole ? 5 : 4);
		CU_ASSERT_EQUAL((off_t)st.size, grown);
		CU_ASSERT(history_summary(h, "Z")->running);
		history_close(h);
		cuts++;
	}
	CU_ASSERT(cuts > 100);

	/* A last record that is complete but garbled (a crash that left zeros) is torn too. */
	char *zeroed = malloc(len);
	memcpy(zeroed, full, len);
	memset(zeroed + before_end, 0, len - (size_t)before_end - 1);
	spit(p, zeroed, len);
	h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT(st.torn_tail);
	CU_ASSERT_EQUAL(st.skipped, 0);
	CU_ASSERT_EQUAL(st.records, 3);
	history_close(h);
	/* Garbage with no newline at all, longer than any record. */
	char *junk = malloc(len + 20000);
	memcpy(junk, full, len);
	memset(junk + len, 'q', 20000);
	spit(p, junk, len + 20000);
	h = open_ok();
	history_get_stats(h, &st);
	CU_ASSERT(st.torn_tail);
	CU_ASSERT_EQUAL(st.records, 4);
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "Z", "swinstall", NULL, T0 + 30, run), 0);
	history_close(h);
	h = open_ok();
	history_get_stats(h, &st);
	CU_ASSERT_FALSE(st.torn_tail);
	CU_ASSERT_EQUAL(st.records, 5);
	history_close(h);
	free(junk);
	free(zeroed);
	free(full);
	free(p);
}

/* A flipped byte in a record in the middle: that record is skipped and counted, all the
 * others stand. Every byte position, one at a time. */
static void test_flipped_byte(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char *p = log_path(dir);
	one_run(h, "A", T0, RUN_SUCCEEDED, NULL);
	off_t mid_start = file_size(p);
	char rb[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "B", "swinstall", NULL, T0 + 10, rb), 0);
	off_t mid_end = file_size(p);
	CU_ASSERT_EQUAL(history_end(h, rb, RUN_SUCCEEDED, 0, 0, 10, NULL, NULL, T0 + 20), 0);
	one_run(h, "C", T0 + 30, RUN_FAILED, NULL);
	history_close(h);

	size_t len;
	char *full = slurp(p, &len);
	char *copy = malloc(len);
	for (off_t i = mid_start; i < mid_end; i++) {
		memcpy(copy, full, len);
		copy[i] ^= 0x20;
		spit(p, copy, len);
		h = open_ok();
		struct history_stats st;
		history_get_stats(h, &st);
		bool newline = i == mid_end - 1;
		CU_ASSERT_EQUAL(st.skipped, 1);
		/* A newline flipped glues the record to the next: both are lost. */
		CU_ASSERT_EQUAL(st.records, newline ? 4 : 5);
		CU_ASSERT_FALSE(st.torn_tail);
		CU_ASSERT(
			summary_is(history_summary(h, "A"), true, true, RUN_SUCCEEDED, T0, false));
		CU_ASSERT(summary_is(history_summary(h, "C"), true, false, RUN_FAILED, T0 + 30,
				     false));
		if (!newline) { /* B's end stands alone and says it all */
			CU_ASSERT(summary_is(history_summary(h, "B"), true, true, RUN_SUCCEEDED,
					     T0 + 10, false));
		}
		history_close(h);
	}
	free(copy);
	free(full);
	free(p);
}

/* Records with a good checksum but content that is not ours are skipped too; unknown
 * extra fields are accepted, for a later version's sake. */
static void test_sealed_but_wrong(void)
{
	static const struct {
		const char *body;
		bool valid;
	} cases[] = {
		{ "start run=r00000001 advert=A time=5 boot= account=x", true },
		{ "start run=r00000001 advert=A time=5 boot= account=x later=field", true },
		{ "start run=r00000001 advert=A time=5 boot= account=x\\x20y", true },
		{ "start run=r00000001 advert=A time=5 boot=", false },
		{ "start run=r00000001 advert=A time=5 boot= account=x account=y", false },
		{ "start run=r0 advert=A time=5 boot= account=x", false },
		{ "start run=x1 advert=A time=5 boot= account=x", false },
		{ "start run=r00000001 advert=../A time=5 boot= account=x", false },
		{ "start run=r00000001 advert=A time=5x boot= account=x", false },
		{ "start run=r00000001 advert=A time=99999999999999999999 boot= account=x", false },
		{ "start run=r00000001 advert=A time=5 boot=NOT-HEX account=x", false },
		{ "start run=r00000001 advert=A time=5 boot= account=x\\x00", false },
		{ "start run=r00000001 advert=A time=5 boot= account=x\\x2", false },
		{ "start run=r00000001 advert=A time=5 boot= account=x\\q20", false },
		{ "start run=r00000001 advert=A time=5 boot= account=x  ", false },
		{ "start run=r00000001 advert=A time=5 boot= =x account=x", false },
		{ "stop run=r00000001 advert=A time=5 boot= account=x", false },
		{ "end run=r00000001 advert=A start=5 time=6 result=none exit=0 signal=0 ms=1 dc= "
		  "account= reason=",
		  false },
		{ "end run=r00000001 advert=A start=5 time=6 result=great exit=0 signal=0 ms=1 dc= "
		  "account= reason=",
		  false },
		{ "end run=r00000001 advert=A start=5 time=6 result=failed exit=0 signal=0 "
		  "ms=-2 dc= account= reason=",
		  false },
		{ "end run=r00000001 advert=A start=5 time=6 result=failed exit=0 signal=0 "
		  "ms=1 dc= account= reason=",
		  true },
		{ "summary advert=A started=1 succeeded=0 result=none start=0 end=0 seq=0", true },
		{ "summary advert=A started=2 succeeded=0 result=none start=0 end=0 seq=0", false },
		{ "seq next=12", true },
		{ "seq next=-1", false },
		/* A known key of another kind is damage, not data (it used to overwrite). */
		{ "start run=r00000001 advert=A time=5 boot= account=x seq=7", false },
		{ "seq next=12 advert=A", false },
		/* Sequences stay below 2^63 - 1: what compaction writes back reads back. */
		{ "seq next=9223372036854775806", false },
		{ "seq next=9223372036854775805", true },
		{ "start run=r9223372036854775806 advert=A time=5 boot= account=x", false },
		{ "damage", true },
		{ "damage advert=A", false },
		{ "clear advert=A", true },
		{ "clear", false },
		{ "clearall", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh_dir();
		char *p = log_path(dir);
		char data[2048];
		size_t n = seal(data, sizeof(data), "seq next=1");
		n += seal(data + n, sizeof(data) - n, cases[i].body);
		n += seal(data + n, sizeof(data) - n, "seq next=2");
		spit(p, data, n);
		struct history *h = open_ok();
		struct history_stats st;
		history_get_stats(h, &st);
		if (st.skipped != (cases[i].valid ? 0u : 1u))
			fprintf(stderr, "\ncase %zu (%s): skipped %zu\n", i, cases[i].body,
				st.skipped);
		CU_ASSERT_EQUAL(st.skipped, cases[i].valid ? 0 : 1);
		CU_ASSERT_EQUAL(st.records, cases[i].valid ? 3 : 2);
		history_close(h);
		free(p);
	}
	/* The wrong version, and no checksum at all. */
	fresh_dir();
	char *p = log_path(dir);
	char data[1024];
	size_t n = seal(data, sizeof(data), "seq next=1");
	data[1] = '2';
	n += (size_t)snprintf(data + n, sizeof(data) - n, "start run=r1 advert=A\n");
	n += seal(data + n, sizeof(data) - n, "seq next=1");
	spit(p, data, n);
	struct history *h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.skipped, 2);
	CU_ASSERT_EQUAL(st.records, 1);
	history_close(h);
	free(p);
}

/* The boot a run ran in outlives reopening and compaction; an end from before boots were
 * kept still reads, as unknown. */
static void test_last_boot(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char boot[HISTORY_BOOT_ID_MAX];
	snprintf(boot, sizeof(boot), "%s", history_boot_id(h)); /* it outlives h */
	one_run(h, "RBT", T0, RUN_SUCCEEDED_REBOOT, NULL);
	CU_ASSERT_STRING_EQUAL(history_last_boot(h, "RBT"), boot);
	CU_ASSERT_STRING_EQUAL(history_last_boot(h, "NONE"), "");
	history_close(h);
	h = open_ok();
	CU_ASSERT_STRING_EQUAL(history_last_boot(h, "RBT"), boot);
	CU_ASSERT_EQUAL(history_compact(h), 0);
	history_close(h);
	h = open_ok();
	CU_ASSERT_STRING_EQUAL(history_last_boot(h, "RBT"), boot);
	CU_ASSERT_EQUAL(history_summary(h, "RBT")->last_result, RUN_SUCCEEDED_REBOOT);
	history_close(h);

	/* Written by a version without the boot in end and summary records. */
	fresh_dir();
	char data[1024];
	size_t n = seal(data, sizeof(data), "seq next=3");
	n += seal(data + n, sizeof(data) - n,
		  "summary advert=OLD started=1 succeeded=1 result=succeeded-reboot "
		  "start=1795341600 end=1795341601 seq=1");
	n += seal(data + n, sizeof(data) - n,
		  "end run=r00000002 advert=OLD2 start=1795341600 time=1795341601 "
		  "result=succeeded-reboot exit=3 signal=0 ms=1 dc=dc1 account=sw reason=x");
	char *p = log_path(dir);
	spit(p, data, n);
	free(p);
	h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.skipped, 0);
	CU_ASSERT_EQUAL(history_summary(h, "OLD")->last_result, RUN_SUCCEEDED_REBOOT);
	CU_ASSERT_EQUAL(history_summary(h, "OLD2")->last_result, RUN_SUCCEEDED_REBOOT);
	CU_ASSERT_STRING_EQUAL(history_last_boot(h, "OLD"), "");
	CU_ASSERT_STRING_EQUAL(history_last_boot(h, "OLD2"), "");
	history_close(h);
}

/* A running run names the DC its identity came from, and so does its end when it is
 * interrupted and reconciled (no one else said). */
/* The latest run, from memory, agrees with the log: running, then ended, and a run that
 * did not start leaves the one before it the latest. */
static void test_latest(void)
{
	fresh_dir();
	struct history *h = open_ok();
	struct history_run l;
	CU_ASSERT_FALSE(history_latest(h, "A", &l));
	char run[HISTORY_RUN_ID_MAX], run2[HISTORY_RUN_ID_MAX];
	one_run(h, "A", T0, RUN_SUCCEEDED_REBOOT, run);
	CU_ASSERT_FATAL(history_latest(h, "A", &l));
	CU_ASSERT_STRING_EQUAL(l.run_id, run);
	CU_ASSERT(l.ended && l.result == RUN_SUCCEEDED_REBOOT && l.start == T0);
	CU_ASSERT_EQUAL_FATAL(history_begin(h, "A", "swinstall", NULL, T0 + 10, run2), 0);
	CU_ASSERT_FATAL(history_latest(h, "A", &l));
	CU_ASSERT_STRING_EQUAL(l.run_id, run2);
	CU_ASSERT_FALSE(l.ended);
	CU_ASSERT_EQUAL(history_end(h, run2, RUN_NOT_STARTED, -1, 0, 0, NULL, "no", T0 + 11), 0);
	CU_ASSERT_FATAL(history_latest(h, "A", &l));
	CU_ASSERT_STRING_EQUAL(l.run_id, run);
	history_close(h);
	h = open_ok();
	CU_ASSERT_FATAL(history_latest(h, "A", &l));
	CU_ASSERT_STRING_EQUAL(l.run_id, run);
	history_close(h);
}

static void test_dc_of_running_and_interrupted(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL_FATAL(history_begin(h, "A", "swinstall", "dc2.example.test", T0, run), 0);
	struct collected c = { 0 };
	history_list(h, "A", 5, collect, &c);
	CU_ASSERT_EQUAL_FATAL(c.n, 1);
	CU_ASSERT_FALSE(c.runs[0].ended);
	CU_ASSERT_STRING_EQUAL(c.runs[0].dc, "dc2.example.test");
	history_close(h);
	h = open_ok();
	CU_ASSERT_EQUAL(history_reconcile(h, T0 + 100, NULL, NULL), 0);
	c = (struct collected){ 0 };
	history_list(h, "A", 5, collect, &c);
	CU_ASSERT_EQUAL_FATAL(c.n, 1);
	CU_ASSERT(c.runs[0].ended && c.runs[0].result == RUN_INTERRUPTED);
	CU_ASSERT_STRING_EQUAL(c.runs[0].dc, "dc2.example.test");
	history_close(h);
}

static void test_compaction(void)
{
	fresh_dir();
	struct history *h = open_ok();
	one_run(h, "A", T0, RUN_SUCCEEDED, NULL);
	for (int i = 1; i <= 30; i++)
		one_run(h, "A", T0 + i * 100, RUN_FAILED, NULL);
	one_run(h, "B", T0 + 5000, RUN_SUCCEEDED_REBOOT, NULL);
	char rc[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "C", "swinstall", NULL, T0 + 6000, rc),
			0); /* still open */
	CU_ASSERT_STRING_EQUAL(rc, "r00000033");
	char *p = log_path(dir);
	off_t before = file_size(p);

	CU_ASSERT_EQUAL(history_compact(h), 0);
	off_t after = file_size(p);
	CU_ASSERT(after < before);
	struct history_stats st;
	history_get_stats(h, &st);
	/* seq + 2 summaries (C has none before its open run) + 20 runs of A + B's run + C's
	 * open start */
	CU_ASSERT_EQUAL(st.records, 1 + 2 + 40 + 2 + 1);
	CU_ASSERT_EQUAL((off_t)st.size, after);
	/* Still usable in place: the open run ends, a new one begins with the next id. */
	CU_ASSERT_EQUAL(history_end(h, rc, RUN_SUCCEEDED, 0, 0, 1, NULL, NULL, T0 + 6001), 0);
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "D", "swinstall", NULL, T0 + 7000, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00000034");
	history_close(h);

	for (int round = 0; round < 2; round++) {
		h = open_ok();
		history_get_stats(h, &st);
		CU_ASSERT_EQUAL(st.skipped, 0);
		/* A's one success, 31 runs ago, is remembered forever. */
		CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_FAILED, T0 + 3000,
				     false));
		CU_ASSERT(summary_is(history_summary(h, "B"), true, true, RUN_SUCCEEDED_REBOOT,
				     T0 + 5000, false));
		CU_ASSERT(summary_is(history_summary(h, "C"), true, true, RUN_SUCCEEDED, T0 + 6000,
				     false));
		CU_ASSERT(summary_is(history_summary(h, "D"), true, false, RUN_NONE, T0 + 7000,
				     true));
		struct collected c = { 0 };
		CU_ASSERT_EQUAL(history_list(h, "A", 100, collect, &c), 0);
		CU_ASSERT_EQUAL(c.n, HISTORY_KEEP_RUNS);
		CU_ASSERT_STRING_EQUAL(c.runs[0].run_id, "r00000031");
		CU_ASSERT_STRING_EQUAL(c.runs[HISTORY_KEEP_RUNS - 1].run_id, "r00000012");
		/* Compacting a compacted log loses nothing more. */
		CU_ASSERT_EQUAL(history_compact(h), 0);
		CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_FAILED, T0 + 3000,
				     false));
		history_close(h);
	}

	/* D is still open: reconcile finds it after compactions, and the ids go on. */
	h = open_ok();
	struct collected c = { 0 };
	CU_ASSERT_EQUAL(history_reconcile(h, T0 + 8000, collect, &c), 0);
	CU_ASSERT_EQUAL_FATAL(c.n, 1);
	CU_ASSERT_STRING_EQUAL(c.runs[0].run_id, "r00000034");
	CU_ASSERT_EQUAL(history_begin(h, "A", "swinstall", NULL, T0 + 9000, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00000035");
	history_close(h);

	/* Only a summary left: every run of E compacted away still says it ran. */
	fresh_dir();
	free(p);
	p = log_path(dir);
	char data[1024];
	size_t n = seal(data, sizeof(data), "seq next=77");
	n += seal(data + n, sizeof(data) - n,
		  "summary advert=E started=1 succeeded=1 result=interrupted start=42 end=43 "
		  "seq=70");
	spit(p, data, n);
	h = open_ok();
	CU_ASSERT(summary_is(history_summary(h, "E"), true, true, RUN_INTERRUPTED, 42, false));
	CU_ASSERT_EQUAL(history_begin(h, "E", "swinstall", NULL, T0, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00000077");
	history_close(h);
	free(p);
}

/* A log grown large is compacted on open, by itself. */
static void test_auto_compaction(void)
{
	fresh_dir();
	char *p = log_path(dir);
	/* Written directly: 2000 runs would be 4000 fdatasyncs. */
	FILE *f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (int i = 1; i <= 2000; i++) {
		char body[512], line[600];
		snprintf(body, sizeof(body), "start run=r%08d advert=BIG time=%d boot= account=x",
			 i, 1000 + i);
		size_t sealed = seal(line, sizeof(line), body);
		fwrite(line, 1, sealed, f);
		snprintf(body, sizeof(body),
			 "end run=r%08d advert=BIG start=%d time=%d result=%s exit=0 signal=0 ms=1 "
			 "dc= account=x reason=",
			 i, 1000 + i, 1001 + i, i == 1 ? "succeeded" : "failed");
		sealed = seal(line, sizeof(line), body);
		fwrite(line, 1, sealed, f);
	}
	fclose(f);
	chmod(p, 0600);
	off_t before = file_size(p);
	struct history *h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT(file_size(p) < before / 10);
	CU_ASSERT_EQUAL(st.records, 1 + 1 + 2 * HISTORY_KEEP_RUNS);
	CU_ASSERT(summary_is(history_summary(h, "BIG"), true, true, RUN_FAILED, 3000, false));
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "BIG", "x", NULL, T0, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00002001");
	history_close(h);
	free(p);
}

/* A crash in the middle of compaction leaves a partial temporary file: harmless. */
static void test_crash_mid_compaction(void)
{
	fresh_dir();
	struct history *h = open_ok();
	for (int i = 0; i < 5; i++)
		one_run(h, "A", T0 + i, i == 0 ? RUN_SUCCEEDED : RUN_FAILED, NULL);
	history_close(h);

	char *p = log_path(dir);
	size_t len;
	char *full = slurp(p, &len);
	char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", p) < 0)
		abort();
	/* Cut at every tenth byte: the old log is always what opens. */
	for (size_t cut = 0; cut < len; cut += 10) {
		spit(tmp, "v1 0123456789abcdef summary advert=A started=0", 30);
		spit(tmp, full, cut);
		h = open_ok();
		CU_ASSERT(
			summary_is(history_summary(h, "A"), true, true, RUN_FAILED, T0 + 4, false));
		CU_ASSERT_EQUAL(access(tmp, F_OK), -1); /* cleared away */
		history_close(h);
	}
	/* A complete temporary file that never got renamed: still the old log. */
	spit(tmp, "seq next=1\n", 11);
	h = open_ok();
	CU_ASSERT_EQUAL(history_compact(h), 0);
	CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_FAILED, T0 + 4, false));
	history_close(h);
	h = open_ok();
	CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_FAILED, T0 + 4, false));
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "A", "x", NULL, T0 + 10, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00000006");
	history_close(h);
	free(tmp);
	free(full);
	free(p);
}

/* A write that fails part-way (RLIMIT_FSIZE: works anywhere, no privileges): begin says
 * so, nothing is recorded as started, and the log is cut back. */
static void test_write_fails(void)
{
	fresh_dir();
	struct history *h = open_ok();
	one_run(h, "A", T0, RUN_SUCCEEDED, NULL);
	char *p = log_path(dir);
	off_t size = file_size(p);

	struct rlimit old;
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit tiny = { (rlim_t)size + 20, old.rlim_max };
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &tiny), 0);

	char run[HISTORY_RUN_ID_MAX] = "unchanged";
	CU_ASSERT_EQUAL(history_begin(h, "B", "swinstall", NULL, T0 + 10, run), -EFBIG);
	CU_ASSERT_STRING_EQUAL(run, "unchanged");
	CU_ASSERT(summary_is(history_summary(h, "B"), false, false, RUN_NONE, 0, false));
	CU_ASSERT_EQUAL(file_size(p), size); /* the 20 bytes written were cut away */

	/* An end that cannot be written leaves the run open, and can be retried. */
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &old), 0);
	char ra[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "A", "swinstall", NULL, T0 + 20, ra), 0);
	tiny.rlim_cur = (rlim_t)file_size(p) + 5;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &tiny), 0);
	CU_ASSERT_EQUAL(history_end(h, ra, RUN_FAILED, 1, 0, 1, NULL, NULL, T0 + 30), -EFBIG);
	CU_ASSERT(history_summary(h, "A")->running);
	CU_ASSERT_EQUAL(history_compact(h), -EFBIG); /* and compaction fails cleanly */
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	CU_ASSERT_EQUAL(history_end(h, ra, RUN_FAILED, 1, 0, 1, NULL, NULL, T0 + 31), 0);
	CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_FAILED, T0 + 20, false));
	CU_ASSERT_EQUAL(history_begin(h, "B", "swinstall", NULL, T0 + 40, run), 0);
	history_close(h);

	h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.skipped, 0);
	CU_ASSERT_FALSE(st.torn_tail);
	CU_ASSERT_EQUAL(st.records, 5);
	CU_ASSERT(history_summary(h, "B")->running);
	CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_FAILED, T0 + 20, false));
	history_close(h);
	free(p);
}

/* A tiny tmpfs for a real ENOSPC and a real EROFS; needs CAP_SYS_ADMIN. Returns the mount
 * point, or NULL (and says so) when mounting is not possible here. */
static char *mount_tmpfs(const char *opts)
{
	char *m = NULL;
	if (asprintf(&m, "%s/mnt", dir) < 0)
		abort();
	mkdir(m, 0700);
	if (mount("tmpfs", m, "tmpfs", 0, opts) < 0) {
		fprintf(stderr,
			"\n  (cannot mount tmpfs: %s; ENOSPC/EROFS cases skipped, the "
			"RLIMIT_FSIZE case covers failing writes)\n",
			strerror(errno));
		rmdir(m);
		free(m);
		return NULL;
	}
	chmod(m, 0700);
	return m;
}

static void test_disk_full(void)
{
	fresh_dir();
	char *m = mount_tmpfs("size=64k,mode=0700");
	if (!m)
		return;
	char *saved = dir;
	dir = m;
	struct history *h = open_ok();
	one_run(h, "A", T0, RUN_SUCCEEDED, NULL);

	/* Fill the file system to the last byte. */
	char *filler = NULL;
	if (asprintf(&filler, "%s/filler", m) < 0)
		abort();
	int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	char block[4096];
	memset(block, 'f', sizeof(block));
	while (write(fd, block, sizeof(block)) > 0)
		;
	while (write(fd, block, 1) > 0)
		;
	/* The log's last page may still have room: use it up with starts and ends. */
	int r = 0;
	for (int i = 0; i < 100 && r == 0; i++) {
		char run[HISTORY_RUN_ID_MAX];
		r = history_begin(h, "FILL", "x", NULL, T0 + i, run);
		if (r == 0)
			r = history_end(h, run, RUN_SUCCEEDED, 0, 0, 0, NULL, NULL, T0 + i);
	}
	CU_ASSERT_EQUAL(r, -ENOSPC);

	char *p = log_path(m);
	off_t size = file_size(p);
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "B", "swinstall", NULL, T0 + 500, run), -ENOSPC);
	CU_ASSERT_FALSE(history_summary(h, "B")->ever_started);
	CU_ASSERT_EQUAL(file_size(p), size);

	/* Space again: it works, and what failed left no trace. */
	close(fd);
	unlink(filler);
	if (history_summary(h, "FILL")->running) {
		struct collected c = { 0 };
		CU_ASSERT_EQUAL(history_reconcile(h, T0 + 600, collect, &c), 0);
	}
	CU_ASSERT_EQUAL(history_begin(h, "B", "swinstall", NULL, T0 + 700, run), 0);
	history_close(h);
	h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.skipped, 0);
	CU_ASSERT_FALSE(st.torn_tail);
	CU_ASSERT(history_summary(h, "B")->running);
	CU_ASSERT(summary_is(history_summary(h, "A"), true, true, RUN_SUCCEEDED, T0, false));
	history_close(h);

	dir = saved;
	umount2(m, MNT_DETACH);
	free(p);
	free(filler);
	free(m);
}

static void test_read_only(void)
{
	fresh_dir();
	char *m = mount_tmpfs("size=1m,mode=0700");
	if (!m)
		return;
	char *saved = dir;
	dir = m;
	struct history *h = open_ok();
	one_run(h, "A", T0, RUN_FAILED, NULL);
	char rb[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "B", "swinstall", NULL, T0 + 5, rb), 0);
	history_close(h);
	CU_ASSERT_EQUAL_FATAL(mount("tmpfs", m, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL), 0);

	/* It opens, read-only: the summaries are there to explain, nothing can start. */
	h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.write_error, -EROFS);
	CU_ASSERT(summary_is(history_summary(h, "A"), true, false, RUN_FAILED, T0, false));
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "C", "swinstall", NULL, T0 + 10, run), -EROFS);
	CU_ASSERT_FALSE(history_summary(h, "C")->ever_started);
	struct collected c = { 0 };
	CU_ASSERT_EQUAL(history_reconcile(h, T0 + 20, collect, &c), -EROFS);
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT(history_summary(h, "B")->running);
	CU_ASSERT_EQUAL(history_compact(h), -EROFS);
	c.n = 0;
	CU_ASSERT_EQUAL(history_list(h, NULL, 10, collect, &c), 0);
	CU_ASSERT_EQUAL(c.n, 2);
	history_close(h);

	/* An empty read-only state directory: no log, nothing to read, nothing to write. */
	dir = saved;
	umount2(m, MNT_DETACH);
	CU_ASSERT_EQUAL_FATAL(mount("tmpfs", m, "tmpfs", MS_RDONLY, "size=64k,mode=0700"), 0);
	dir = m;
	h = open_ok();
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.write_error, -EROFS);
	CU_ASSERT_EQUAL(history_begin(h, "C", "swinstall", NULL, T0 + 10, run), -EROFS);
	c.n = 0;
	CU_ASSERT_EQUAL(history_list(h, NULL, 10, collect, &c), 0);
	CU_ASSERT_EQUAL(c.n, 0);
	history_close(h);

	dir = saved;
	umount2(m, MNT_DETACH);
	free(m);
}

/* 10,000 advertisements: opened quickly, every summary right, unknown ids empty. */
static void test_many_adverts(void)
{
	fresh_dir();
	char *p = log_path(dir);
	FILE *f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (int i = 1; i <= 10000; i++) {
		char body[512], line[600];
		snprintf(body, sizeof(body),
			 "start run=r%08d advert=LAB%05d time=%d boot= account=x", i, i, 1000 + i);
		size_t sealed = seal(line, sizeof(line), body);
		fwrite(line, 1, sealed, f);
		if (i % 7 == 0)
			continue; /* left running */
		snprintf(body, sizeof(body),
			 "end run=r%08d advert=LAB%05d start=%d time=%d result=%s exit=0 signal=0 "
			 "ms=1 dc= account=x reason=",
			 i, i, 1000 + i, 1001 + i, i % 3 ? "succeeded" : "failed");
		sealed = seal(line, sizeof(line), body);
		fwrite(line, 1, sealed, f);
	}
	fclose(f);
	chmod(p, 0600);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct history *h = open_ok();
	for (int round = 0; round < 10; round++) {
		for (int i = 1; i <= 10000; i++) {
			char id[16];
			snprintf(id, sizeof(id), "LAB%05d", i);
			const struct schedule_history *s = history_summary(h, id);
			bool running = i % 7 == 0;
			bool ok = s->ever_started && s->last_start == 1000 + i &&
				  s->running == running &&
				  s->last_result == (running ? RUN_NONE
						     : i % 3 ? RUN_SUCCEEDED
							     : RUN_FAILED);
			if (!ok)
				CU_FAIL("summary");
		}
	}
	CU_ASSERT_FALSE(history_summary(h, "LAB10001")->ever_started);
	CU_ASSERT_FALSE(history_summary(h, "lab00001")->ever_started);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "\n  (open + 100,000 lookups over 10,000 ids: %.3f s)\n", secs);
	CU_ASSERT(secs < 5.0);
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.adverts, 10000);
	CU_ASSERT_EQUAL(st.skipped, 0);

	/* Reconcile reports all the open ones, oldest first, and ids continue. */
	struct collected c = { 0 };
	CU_ASSERT_EQUAL(history_reconcile(h, T0, collect, &c), 0);
	CU_ASSERT_EQUAL(c.n, 10000 / 7);
	CU_ASSERT_STRING_EQUAL(c.runs[0].run_id, "r00000007");
	CU_ASSERT_STRING_EQUAL(c.runs[1].run_id, "r00000014");
	char run[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "LAB00007", "x", NULL, T0, run), 0);
	CU_ASSERT_STRING_EQUAL(run, "r00010001");
	history_close(h);
	free(p);
}

/* A run that ends "not started" leaves the summary as it was: a "never" program whose
 * program was never exec'd still counts as never started, after a reopen too. */
static void test_not_started_restores_summary(void)
{
	char *tmp = tu_mkdtemp();
	struct history *h = NULL;
	char run[HISTORY_RUN_ID_MAX], run2[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL_FATAL(history_open(tmp, &h), 0);
	CU_ASSERT_EQUAL_FATAL(history_begin(h, "NS1", "acct", NULL, 1000, run), 0);
	CU_ASSERT(history_summary(h, "NS1")->ever_started);
	CU_ASSERT_EQUAL(
		history_end(h, run, RUN_NOT_STARTED, -1, 0, 0, NULL, "no such program", 1001), 0);
	const struct schedule_history *s = history_summary(h, "NS1");
	CU_ASSERT_FALSE(s->ever_started);
	CU_ASSERT_FALSE(s->running);
	CU_ASSERT_EQUAL(s->last_start, 0);
	/* A real run afterwards, then another not-started one: the real one stands. */
	CU_ASSERT_EQUAL_FATAL(history_begin(h, "NS1", "acct", NULL, 2000, run2), 0);
	CU_ASSERT_EQUAL(history_end(h, run2, RUN_FAILED, 3, 0, 10, NULL, "exit 3", 2001), 0);
	CU_ASSERT_EQUAL_FATAL(history_begin(h, "NS1", "acct", NULL, 3000, run), 0);
	CU_ASSERT_EQUAL(history_end(h, run, RUN_NOT_STARTED, -1, 0, 0, NULL, "gone", 3001), 0);
	s = history_summary(h, "NS1");
	CU_ASSERT(s->ever_started);
	CU_ASSERT_EQUAL(s->last_result, RUN_FAILED);
	CU_ASSERT_EQUAL(s->last_start, 2000);
	history_close(h);
	CU_ASSERT_EQUAL_FATAL(history_open(tmp, &h), 0);
	s = history_summary(h, "NS1");
	CU_ASSERT(s->ever_started);
	CU_ASSERT_EQUAL(s->last_result, RUN_FAILED);
	CU_ASSERT_EQUAL(s->last_start, 2000);
	CU_ASSERT_FALSE(s->running);
	history_close(h);
	tu_rmtree(tmp);
	free(tmp);
}

/* One flipped checksum bit in a "never" program's start and end records: the records are
 * damage, not torn; the run id is never handed out again; every summary says damaged, so
 * the scheduler holds "never" programs that look as if they never ran; an admin's clear
 * (durable, surviving compaction) lifts it, for one advertisement or all. */
static void test_damage_holds_never(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char *p = log_path(dir);
	for (int i = 0; i < 5; i++)
		one_run(h, "OTHER", T0 + i, RUN_SUCCEEDED, NULL);
	off_t before = file_size(p);
	one_run(h, "ONCE", T0 + 10, RUN_SUCCEEDED, NULL); /* r00000006 */
	history_close(h);

	size_t len;
	char *data = slurp(p, &len);
	/* The checksum digit of both records of r00000006 (start, then end). */
	char *second = (char *)memchr(data + before, '\n', len - (size_t)before) + 1;
	data[before + 3] ^= 0x01;
	second[3] ^= 0x01;
	spit(p, data, len);
	free(data);

	h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.skipped, 2);
	CU_ASSERT_FALSE(st.torn_tail); /* complete lines: damage */
	CU_ASSERT_TRUE(st.damaged);
	const struct schedule_history *once = history_summary(h, "ONCE");
	CU_ASSERT_FALSE(once->ever_started); /* its records are gone … */
	CU_ASSERT_TRUE(once->damaged);       /* … so it is held */
	CU_ASSERT_TRUE(history_summary(h, "NEW")->damaged);
	/* Its run id is never reused. */
	char rid[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "OTHER", "x", NULL, T0 + 20, rid), 0);
	CU_ASSERT_STRING_EQUAL(rid, "r00000007");
	CU_ASSERT_EQUAL(history_end(h, rid, RUN_SUCCEEDED, 0, 0, 1, NULL, NULL, T0 + 21), 0);

	/* The scheduler's side: a never program held, an "always" one not. */
	struct advert a = { .id = (char *)"ONCE", .enabled = true, .rerun = ADV_RERUN_NEVER };
	struct schedule_decision d = schedule_decide(&a, once, NULL, 0, T0 + 100);
	CU_ASSERT_EQUAL(d.verdict, SCHED_HISTORY_DAMAGED);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.reason, "clear-damage"));
	a.rerun = ADV_RERUN_ALWAYS;
	CU_ASSERT_EQUAL(schedule_decide(&a, once, NULL, 0, T0 + 100).verdict, SCHED_DUE);

	/* Cleared for ONCE: not held; the rest still are, across a restart. */
	CU_ASSERT_EQUAL(history_clear_damage(h, "ONCE"), 0);
	CU_ASSERT_FALSE(history_summary(h, "ONCE")->damaged);
	CU_ASSERT_TRUE(history_summary(h, "NEW")->damaged);
	history_close(h);
	h = open_ok();
	CU_ASSERT_FALSE(history_summary(h, "ONCE")->damaged);
	CU_ASSERT_TRUE(history_summary(h, "NEW")->damaged);
	/* Compaction drops the damaged lines but keeps the hold and the clear. */
	CU_ASSERT_EQUAL(history_compact(h), 0);
	history_close(h);
	h = open_ok();
	history_get_stats(h, &st);
	CU_ASSERT_EQUAL(st.skipped, 0);
	CU_ASSERT_TRUE(st.damaged);
	CU_ASSERT_FALSE(history_summary(h, "ONCE")->damaged);
	CU_ASSERT_TRUE(history_summary(h, "NEW")->damaged);
	CU_ASSERT_EQUAL(history_begin(h, "OTHER", "x", NULL, T0 + 30, rid), 0);
	CU_ASSERT_STRING_EQUAL(rid, "r00000008");
	CU_ASSERT_EQUAL(history_end(h, rid, RUN_SUCCEEDED, 0, 0, 1, NULL, NULL, T0 + 31), 0);
	/* All cleared. */
	CU_ASSERT_EQUAL(history_clear_damage(h, NULL), 0);
	CU_ASSERT_FALSE(history_summary(h, "NEW")->damaged);
	history_close(h);
	h = open_ok();
	history_get_stats(h, &st);
	CU_ASSERT_FALSE(st.damaged);
	CU_ASSERT_FALSE(history_summary(h, "NEW")->damaged);
	CU_ASSERT_EQUAL(history_clear_damage(h, "../x"), -EINVAL);
	history_close(h);
	free(p);
}

/* Compaction after reconcile, with a run id that a damaged start of another
 * advertisement also names, between two starts of its own: the rewritten log must give
 * the run to the advertisement loading gave it to (found by fuzz_history). */
static void test_shared_run_id_compaction(void)
{
	fresh_dir();
	char *p = log_path(dir);
	char data[2048];
	size_t n = seal(data, sizeof(data), "start run=r41 advert=LAB00001 time=79 boot= account=");
	n += seal(data + n, sizeof(data) - n, "start run=r41 advert=0 time=53 boot= account=r");
	n += seal(data + n, sizeof(data) - n,
		  "start run=r41 advert=LAB00001 time=0 boot= account=");
	spit(p, data, n);
	struct history *h = open_ok();
	CU_ASSERT_FALSE(history_summary(h, "0")->ever_started);
	CU_ASSERT_EQUAL(history_reconcile(h, T0, NULL, NULL), 0);
	CU_ASSERT_EQUAL(history_compact(h), 0);
	history_close(h);
	h = open_ok();
	CU_ASSERT_FALSE(history_summary(h, "0")->ever_started);
	CU_ASSERT_FALSE(history_summary(h, "0")->running);
	CU_ASSERT_TRUE(history_summary(h, "LAB00001")->ever_started);
	CU_ASSERT_FALSE(history_summary(h, "LAB00001")->running);
	history_close(h);
	free(p);
}

/* One run id in two advertisements' start records: damage, and neither is stuck. */
static void test_shared_run_id(void)
{
	fresh_dir();
	char *p = log_path(dir);
	char data[2048];
	size_t n = seal(data, sizeof(data), "start run=r00000005 advert=A time=5 boot= account=x");
	n += seal(data + n, sizeof(data) - n,
		  "start run=r00000005 advert=B time=6 boot= account=x");
	spit(p, data, n);
	struct history *h = open_ok();
	struct history_stats st;
	history_get_stats(h, &st);
	CU_ASSERT_TRUE(st.damaged);
	CU_ASSERT_FALSE(history_summary(h, "B")->running);
	/* Compaction keeps the run with the advertisement loading gave it to: B's start,
	 * damage, does not take r00000005 over in the rewritten log. */
	CU_ASSERT_EQUAL(history_compact(h), 0);
	history_close(h);
	h = open_ok();
	CU_ASSERT_FALSE(history_summary(h, "B")->running);
	CU_ASSERT_FALSE(history_summary(h, "B")->ever_started);
	CU_ASSERT_TRUE(history_summary(h, "A")->running);
	CU_ASSERT_EQUAL(history_reconcile(h, T0, NULL, NULL), 0);
	char rid[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL(history_begin(h, "B", "x", NULL, T0, rid), 0);
	CU_ASSERT_STRING_EQUAL(rid, "r00000006");
	CU_ASSERT_EQUAL(history_begin(h, "A", "x", NULL, T0, rid), 0); /* reconciled, not stuck */
	CU_ASSERT_STRING_EQUAL(rid, "r00000007");
	history_close(h);
	free(p);
}

/* Compaction while a run is open, then the run ends "not started" (found by review):
 * after a restart the program must still count as never started. */
static void test_compaction_with_open_run(void)
{
	fresh_dir();
	struct history *h = open_ok();
	char rid[HISTORY_RUN_ID_MAX];
	CU_ASSERT_EQUAL_FATAL(history_begin(h, "ONCE", "x", NULL, T0, rid), 0);
	CU_ASSERT_EQUAL(history_compact(h), 0);
	CU_ASSERT_EQUAL(history_end(h, rid, RUN_NOT_STARTED, 0, 0, -1, NULL, "no", T0 + 1), 0);
	CU_ASSERT_FALSE(history_summary(h, "ONCE")->ever_started);
	history_close(h);
	h = open_ok();
	CU_ASSERT_FALSE(history_summary(h, "ONCE")->ever_started);
	CU_ASSERT_FALSE(history_summary(h, "ONCE")->running);
	history_close(h);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "a run that never started does not count", test_not_started_restores_summary },
		{ "round trip and reopen", test_round_trip },
		{ "record format and escaping", test_format },
		{ "bad arguments, second opener, foreign log", test_bad_arguments },
		{ "reconcile: interrupted exactly once", test_reconcile },
		{ "torn last record at every byte", test_torn_tail },
		{ "flipped byte in the middle", test_flipped_byte },
		{ "damage holds never programs until cleared", test_damage_holds_never },
		{ "one run id in two advertisements", test_shared_run_id },
		{ "... and compaction after reconcile", test_shared_run_id_compaction },
		{ "compaction with a run open that ends not started",
		  test_compaction_with_open_run },
		{ "sealed but not ours", test_sealed_but_wrong },
		{ "compaction keeps what matters", test_compaction },
		{ "the latest run, from memory", test_latest },
		{ "the DC of a running and an interrupted run",
		  test_dc_of_running_and_interrupted },
		{ "the boot a run ran in", test_last_boot },
		{ "compaction on open", test_auto_compaction },
		{ "crash mid-compaction", test_crash_mid_compaction },
		{ "failing writes (RLIMIT_FSIZE)", test_write_fails },
		{ "disk full (tmpfs)", test_disk_full },
		{ "read-only file system (tmpfs)", test_read_only },
		{ "10,000 advertisements", test_many_adverts },
		{ 0 },
	};
	int r = tu_run("history", tests);
	if (dir) {
		tu_rmtree(dir);
		free(dir);
	}
	return r;
}

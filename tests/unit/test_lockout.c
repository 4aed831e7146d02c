/* SPDX-License-Identifier: MIT */
/* The lockout guard: every verdict rule at its boundaries, attempt counting, and the
 * state file — round trip, corruption, locking across processes. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "advert/lockout.h"
#include "testutil.h"

#define FP_A     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define T0       ((time_t)1700000000)
#define BACKOFF  900
#define NO_UNTIL ((time_t)-42)

static void test_outcome_names(void)
{
	CU_ASSERT_STRING_EQUAL(lockout_outcome_name(LOCKOUT_NONE), "none");
	CU_ASSERT_STRING_EQUAL(lockout_outcome_name(LOCKOUT_OK), "ok");
	CU_ASSERT_STRING_EQUAL(lockout_outcome_name(LOCKOUT_REJECTED), "rejected");
	CU_ASSERT_STRING_EQUAL(lockout_outcome_name(LOCKOUT_REVOKED), "revoked");
	CU_ASSERT_STRING_EQUAL(lockout_outcome_name(LOCKOUT_UNUSABLE), "unusable");
	CU_ASSERT_STRING_EQUAL(lockout_outcome_name(LOCKOUT_INFLIGHT), "in-flight");
	CU_ASSERT_STRING_EQUAL(lockout_outcome_name(LOCKOUT_DAMAGED), "damaged");
	CU_ASSERT_STRING_EQUAL(lockout_outcome_name((enum lockout_outcome)99), "?");
}

static void test_decide_table(void)
{
	static const struct {
		enum lockout_outcome outcome;
		const char *fp; /* presented now; recorded is always FP_A at T0 */
		time_t now;
		int backoff;
		enum lockout_verdict want;
		time_t want_until; /* NO_UNTIL: must stay untouched */
	} rows[] = {
		/* Nothing recorded, or it worked: go. */
		{ LOCKOUT_NONE, FP_A, T0, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_NONE, FP_B, T0 - 5000, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_OK, FP_A, T0, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_OK, FP_B, T0 + 1, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_OK, FP_A, T0 - 5000, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },

		/* Rejected: never again with that secret, however long; a new one goes. */
		{ LOCKOUT_REJECTED, FP_A, T0, BACKOFF, LOCKOUT_HOLD_REJECTED, NO_UNTIL },
		{ LOCKOUT_REJECTED, FP_A, T0 + BACKOFF, BACKOFF, LOCKOUT_HOLD_REJECTED, NO_UNTIL },
		{ LOCKOUT_REJECTED, FP_A, T0 + 10 * 365 * 86400, BACKOFF, LOCKOUT_HOLD_REJECTED,
		  NO_UNTIL },
		{ LOCKOUT_REJECTED, FP_A, T0 - 5000, BACKOFF, LOCKOUT_HOLD_REJECTED, NO_UNTIL },
		{ LOCKOUT_REJECTED, FP_A, T0, 0, LOCKOUT_HOLD_REJECTED, NO_UNTIL },
		{ LOCKOUT_REJECTED, FP_A "ff", T0, BACKOFF, LOCKOUT_HOLD_REJECTED, NO_UNTIL },
		{ LOCKOUT_REJECTED, FP_B, T0, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_REJECTED, "", T0, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },

		/* Revoked: the backoff, whatever the secret. */
		{ LOCKOUT_REVOKED, FP_A, T0, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_REVOKED, FP_A, T0 + BACKOFF - 1, BACKOFF, LOCKOUT_HOLD_BACKOFF,
		  T0 + BACKOFF },
		{ LOCKOUT_REVOKED, FP_A, T0 + BACKOFF, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_REVOKED, FP_A, T0 + BACKOFF + 1, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_REVOKED, FP_B, T0 + 1, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_REVOKED, FP_B, T0 + BACKOFF - 1, BACKOFF, LOCKOUT_HOLD_BACKOFF,
		  T0 + BACKOFF },
		{ LOCKOUT_REVOKED, FP_B, T0 + BACKOFF, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		/* The clock went back: still held, and the end does not move. */
		{ LOCKOUT_REVOKED, FP_A, T0 - 1, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_REVOKED, FP_A, T0 - 86400, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_REVOKED, FP_B, T0 - 86400, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_REVOKED, FP_A, T0, 0, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_REVOKED, FP_A, T0, -5, LOCKOUT_ALLOW, NO_UNTIL },

		/* Unusable: the backoff, unless the secret changed. */
		{ LOCKOUT_UNUSABLE, FP_A, T0, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_UNUSABLE, FP_A, T0 + BACKOFF - 1, BACKOFF, LOCKOUT_HOLD_BACKOFF,
		  T0 + BACKOFF },
		{ LOCKOUT_UNUSABLE, FP_A, T0 + BACKOFF, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_UNUSABLE, FP_A, T0 - 86400, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_UNUSABLE, FP_B, T0, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_UNUSABLE, FP_B, T0 - 86400, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },

		/* Sent with no answer recorded: held for the backoff (the KDC may have counted
		 * it), after which one more try; a new secret is a new question. */
		{ LOCKOUT_INFLIGHT, FP_A, T0, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_INFLIGHT, FP_A, T0 + BACKOFF - 1, BACKOFF, LOCKOUT_HOLD_BACKOFF,
		  T0 + BACKOFF },
		{ LOCKOUT_INFLIGHT, FP_A, T0 - 86400, BACKOFF, LOCKOUT_HOLD_BACKOFF, T0 + BACKOFF },
		{ LOCKOUT_INFLIGHT, FP_A, T0 + BACKOFF, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },
		{ LOCKOUT_INFLIGHT, FP_B, T0, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },

		/* Found damaged: the secret held then never goes, however long; a new one does. */
		{ LOCKOUT_DAMAGED, FP_A, T0, BACKOFF, LOCKOUT_HOLD_REJECTED, NO_UNTIL },
		{ LOCKOUT_DAMAGED, FP_A, T0 + 10 * 365 * 86400, BACKOFF, LOCKOUT_HOLD_REJECTED,
		  NO_UNTIL },
		{ LOCKOUT_DAMAGED, FP_A, T0, 0, LOCKOUT_HOLD_REJECTED, NO_UNTIL },
		{ LOCKOUT_DAMAGED, FP_B, T0, BACKOFF, LOCKOUT_ALLOW, NO_UNTIL },

		/* Not a state we know: hold. */
		{ (enum lockout_outcome)77, FP_B, T0 + 86400, BACKOFF, LOCKOUT_HOLD_REJECTED,
		  NO_UNTIL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct lockout_state st = { .outcome = rows[i].outcome,
					    .since = T0,
					    .attempts = 1 };
		strcpy(st.fingerprint, FP_A);
		time_t until = NO_UNTIL;
		enum lockout_verdict v =
			lockout_decide(&st, rows[i].fp, rows[i].now, rows[i].backoff, &until);
		if (v != rows[i].want || until != rows[i].want_until)
			fprintf(stderr, "row %zu: verdict %d until %jd, want %d until %jd\n", i, v,
				(intmax_t)until, rows[i].want, (intmax_t)rows[i].want_until);
		CU_ASSERT_EQUAL(v, rows[i].want);
		CU_ASSERT_EQUAL(until, rows[i].want_until);
		/* ret_until is optional. */
		CU_ASSERT_EQUAL(lockout_decide(&st, rows[i].fp, rows[i].now, rows[i].backoff, NULL),
				rows[i].want);
	}
}

static void test_decide_extremes(void)
{
	/* since + backoff would overflow: saturate, hold, and no undefined behaviour. */
	struct lockout_state st = { .outcome = LOCKOUT_REVOKED };
	strcpy(st.fingerprint, FP_A);
	st.since = (time_t)INT64_MAX - 10;
	time_t until = 0;
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_A, T0, BACKOFF, &until), LOCKOUT_HOLD_BACKOFF);
	CU_ASSERT_EQUAL(until, (time_t)INT64_MAX);
	st.since = (time_t)INT64_MIN;
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_A, T0, BACKOFF, &until), LOCKOUT_ALLOW);
}

static void test_record(void)
{
	struct lockout_state st = { 0 };
	lockout_record(&st, FP_A, LOCKOUT_UNUSABLE, T0, "dc1.example.test", "expired");
	CU_ASSERT_EQUAL(st.outcome, LOCKOUT_UNUSABLE);
	CU_ASSERT_STRING_EQUAL(st.fingerprint, FP_A);
	CU_ASSERT_EQUAL(st.since, T0);
	CU_ASSERT_STRING_EQUAL(st.dc, "dc1.example.test");
	CU_ASSERT_STRING_EQUAL(st.message, "expired");
	CU_ASSERT_EQUAL(st.attempts, 1);

	static const struct {
		const char *fp;
		unsigned want;
	} seq[] = { { FP_A, 2 }, { FP_A, 3 }, { FP_B, 1 }, { FP_B, 2 }, { FP_A, 1 }, { FP_A, 2 } };
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		lockout_record(&st, seq[i].fp, LOCKOUT_OK, T0 + (time_t)i, NULL, NULL);
		CU_ASSERT_EQUAL(st.attempts, seq[i].want);
		CU_ASSERT_STRING_EQUAL(st.fingerprint, seq[i].fp);
		CU_ASSERT_EQUAL(st.since, T0 + (time_t)i);
		CU_ASSERT_STRING_EQUAL(st.dc, "");
		CU_ASSERT_STRING_EQUAL(st.message, "");
	}

	/* Recorded, then decided: the rejected secret is held, a new one is not. */
	lockout_record(&st, FP_A, LOCKOUT_REJECTED, T0, "dc2", "Preauthentication failed");
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_A, T0 + 1, BACKOFF, NULL), LOCKOUT_HOLD_REJECTED);
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_B, T0 + 1, BACKOFF, NULL), LOCKOUT_ALLOW);

	/* Over-long strings are cut and terminated; a too-long fingerprint still matches. */
	char big[1000];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(&st, 0x55, sizeof(st));
	st.fingerprint[LOCKOUT_FP_LEN] = '\0';
	lockout_record(&st, FP_B "cc", LOCKOUT_REJECTED, T0, big, big);
	CU_ASSERT_EQUAL(strlen(st.dc), sizeof(st.dc) - 1);
	CU_ASSERT_EQUAL(strlen(st.message), sizeof(st.message) - 1);
	CU_ASSERT_STRING_EQUAL(st.fingerprint, FP_B);
	CU_ASSERT_EQUAL(st.attempts, 1);
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_B "cc", T0, BACKOFF, NULL), LOCKOUT_HOLD_REJECTED);

	/* The state's own fields may be passed back in. */
	lockout_record(&st, st.fingerprint, LOCKOUT_OK, T0, st.dc, st.message);
	CU_ASSERT_EQUAL(st.attempts, 2);
	CU_ASSERT_EQUAL(strlen(st.dc), sizeof(st.dc) - 1);
}

/* --- the file ------------------------------------------------------------------------ */

static char *dir;

static char *state_path(const char *account, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/lockout/%s/%s", dir, account, name) < 0)
		abort();
	return p;
}

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	char *data = calloc(1, 65536);
	*ret_len = fread(data, 1, 65535, f);
	fclose(f);
	return data;
}

/* Reads bytes as a state file through a regular-file fd. */
static int read_bytes(const char *data, size_t len, struct lockout_state *st)
{
	char *p = NULL;
	if (asprintf(&p, "%s/raw", dir) < 0)
		abort();
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(write(fd, data, len), (ssize_t)len);
	int r = lockout_read(fd, st);
	close(fd);
	free(p);
	return r;
}

/* body + its checksum line, as lockout_write would seal it. */
static int read_sealed(const char *body, struct lockout_state *st)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	CU_ASSERT_FATAL(EVP_Digest(body, strlen(body), md, &mdlen, EVP_sha256(), NULL));
	char data[8192];
	size_t n = (size_t)snprintf(data, sizeof(data), "%schecksum=", body);
	for (unsigned i = 0; i < mdlen; i++)
		n += (size_t)snprintf(data + n, sizeof(data) - n, "%02x", md[i]);
	n += (size_t)snprintf(data + n, sizeof(data) - n, "\n");
	return read_bytes(data, n, st);
}

static bool state_equal(const struct lockout_state *a, const struct lockout_state *b)
{
	return a->outcome == b->outcome && strcmp(a->fingerprint, b->fingerprint) == 0 &&
	       a->since == b->since && strcmp(a->dc, b->dc) == 0 &&
	       strcmp(a->message, b->message) == 0 && a->attempts == b->attempts;
}

static void test_round_trip(void)
{
	int fd = lockout_lock(dir, "swinstall");
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	struct lockout_state st;
	memset(&st, 0x55, sizeof(st));
	CU_ASSERT_EQUAL(lockout_read(fd, &st), 0);
	CU_ASSERT_EQUAL(st.outcome, LOCKOUT_NONE);
	CU_ASSERT_EQUAL(st.attempts, 0);
	CU_ASSERT_STRING_EQUAL(st.fingerprint, "");

	/* A KDC message that tries to forge lines, with escapes and non-ASCII text. */
	lockout_record(
		&st, FP_A, LOCKOUT_REJECTED, T0, "dc1.example.test",
		"Preauthentication failed\noutcome=ok\r\n\tback\\slash \x01\x7f caf\xc3\xa9");
	lockout_record(
		&st, FP_A, LOCKOUT_REJECTED, -T0, "dc1.example.test",
		"Preauthentication failed\noutcome=ok\r\n\tback\\slash \x01\x7f caf\xc3\xa9");
	CU_ASSERT_EQUAL(lockout_write(dir, "swinstall", &st), 0);

	struct lockout_state got;
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL(lockout_read(fd, &got), 0);
	CU_ASSERT(state_equal(&st, &got));
	CU_ASSERT_EQUAL(got.attempts, 2);
	CU_ASSERT_EQUAL(got.since, -T0);
	close(fd);

	/* Across a reopen, as a restarted daemon sees it. */
	fd = lockout_lock(dir, "swinstall");
	CU_ASSERT_FATAL(fd >= 0);
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL(lockout_read(fd, &got), 0);
	CU_ASSERT(state_equal(&st, &got));

	/* Full-length fields survive too. */
	memset(st.dc, 'd', sizeof(st.dc) - 1);
	memset(st.message, '\n', sizeof(st.message) - 1);
	st.attempts = 4294967295u;
	st.outcome = LOCKOUT_UNUSABLE;
	CU_ASSERT_EQUAL(lockout_write(dir, "swinstall", &st), 0);
	CU_ASSERT_EQUAL(lockout_read(fd, &got), 0);
	CU_ASSERT(state_equal(&st, &got));
	close(fd);

	/* Private, and no temp file left behind. */
	struct stat sb;
	char *p = state_path("swinstall", "state");
	CU_ASSERT_EQUAL(stat(p, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	free(p);
	p = state_path("swinstall", "state.tmp");
	CU_ASSERT_EQUAL(stat(p, &sb), -1);
	free(p);
	p = state_path("swinstall", "");
	CU_ASSERT_EQUAL(stat(p, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0700);
	free(p);
}

static void test_format(void)
{
	/* The format admins may look at: versioned, one key per line, sealed. */
	struct lockout_state st = { 0 };
	lockout_record(&st, FP_B, LOCKOUT_REVOKED, T0, "dc9", "locked\nout");
	CU_ASSERT_EQUAL(lockout_write(dir, "fmt", &st), 0);
	char *p = state_path("fmt", "state");
	size_t len;
	char *data = slurp(p, &len);
	const char *want = "advertd-lockout 1\n"
			   "outcome=revoked\n"
			   "fingerprint=" FP_B "\n"
			   "since=1700000000\n"
			   "dc=dc9\n"
			   "message=locked\\nout\n"
			   "attempts=1\n"
			   "checksum=";
	CU_ASSERT_NSTRING_EQUAL(data, want, strlen(want));
	CU_ASSERT_EQUAL(len, strlen(want) + 64 + 1);
	free(data);
	free(p);
}

static void test_empty(void)
{
	/* An empty file is a truncation (or a crash before the first byte was durable),
	 * never "nothing was tried": damaged, so the caller sends nothing. */
	struct lockout_state st;
	CU_ASSERT_EQUAL(read_bytes("", 0, &st), -EBADMSG);

	int fd = lockout_lock(dir, "empty");
	CU_ASSERT_FATAL(fd >= 0);
	free(tu_write(dir, "lockout/empty/state", 0600, ""));
	CU_ASSERT_EQUAL(lockout_read(fd, &st), -EBADMSG);
	close(fd);

	/* No file at all is "never tried". */
	fd = lockout_lock(dir, "absent");
	CU_ASSERT_FATAL(fd >= 0);
	memset(&st, 0x55, sizeof(st));
	CU_ASSERT_EQUAL(lockout_read(fd, &st), 0);
	CU_ASSERT_EQUAL(st.outcome, LOCKOUT_NONE);
	CU_ASSERT_EQUAL(st.attempts, 0);
	close(fd);
}

static void test_corrupt(void)
{
	struct lockout_state st = { 0 }, got;
	lockout_record(&st, FP_A, LOCKOUT_REJECTED, T0, "dc1", "bad password");
	CU_ASSERT_EQUAL(lockout_write(dir, "corrupt", &st), 0);
	char *p = state_path("corrupt", "state");
	size_t len;
	char *data = slurp(p, &len);
	free(p);
	CU_ASSERT_EQUAL_FATAL(read_bytes(data, len, &got), 0);
	CU_ASSERT(state_equal(&st, &got));

	/* Any single flipped bit, anywhere. */
	unsigned bad = 0;
	for (size_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			data[i] ^= (char)(1u << bit);
			memset(&got, 0x55, sizeof(got));
			if (read_bytes(data, len, &got) == -EBADMSG)
				bad++;
			else
				fprintf(stderr, "flip at %zu bit %u accepted\n", i, bit);
			data[i] ^= (char)(1u << bit);
		}
	}
	CU_ASSERT_EQUAL(bad, len * 8);

	/* Torn at every length, including just the final newline missing. */
	bad = 0;
	for (size_t n = 1; n < len; n++)
		if (read_bytes(data, n, &got) == -EBADMSG)
			bad++;
	CU_ASSERT_EQUAL(bad, len - 1);
	CU_ASSERT_EQUAL(read_bytes(data, len - 1, &got), -EBADMSG);

	/* Trailing bytes after the checksum. */
	data[len] = 'x';
	CU_ASSERT_EQUAL(read_bytes(data, len + 1, &got), -EBADMSG);
	free(data);

	/* Too big to be ours. */
	char *huge = malloc(20000);
	memset(huge, 'a', 20000);
	CU_ASSERT_EQUAL(read_bytes(huge, 20000, &got), -EBADMSG);
	free(huge);
}

static void test_well_sealed_but_wrong(void)
{
	/* A correct checksum does not make a bad file good. */
#define GOOD_FIELDS "outcome=ok\nfingerprint=" FP_A "\nsince=1\ndc=x\nmessage=m\nattempts=1\n"
	struct lockout_state st;
	CU_ASSERT_EQUAL(read_sealed("advertd-lockout 1\n" GOOD_FIELDS, &st), 0);
	CU_ASSERT_EQUAL(st.outcome, LOCKOUT_OK);
	CU_ASSERT_EQUAL(st.since, 1);

	static const char *const bad[] = {
		"advertd-lockout 2\n" GOOD_FIELDS,
		"advertd-lockout 1 \n" GOOD_FIELDS,
		GOOD_FIELDS,
		"advertd-lockout 1\n" GOOD_FIELDS "outcome=ok\n",
		"advertd-lockout 1\n" GOOD_FIELDS "extra=1\n",
		"advertd-lockout 1\n" GOOD_FIELDS "\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A "\nsince=1\ndc=x\nmessage=m\n",
		"advertd-lockout 1\noutcome=fine\nfingerprint=" FP_A
		"\nsince=1\ndc=x\nmessage=m\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"a\nsince=1\ndc=x\nmessage=m\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1x\ndc=x\nmessage=m\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=\ndc=x\nmessage=m\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=99999999999999999999\ndc=x\nmessage=m\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1\ndc=x\nmessage=m\nattempts=-1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1\ndc=x\nmessage=m\nattempts=4294967296\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1\ndc=x\nmessage=a\\qb\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1\ndc=x\nmessage=a\\x0\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1\ndc=x\nmessage=a\\x00b\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1\ndc=x\nmessage=a\\\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1\ndc=x\nmessage=a\tb\nattempts=1\n",
		"advertd-lockout 1\noutcome=ok\nfingerprint=" FP_A
		"\nsince=1\ndc\nmessage=m\nattempts=1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = read_sealed(bad[i], &st);
		if (r != -EBADMSG)
			fprintf(stderr, "bad[%zu] gave %d\n", i, r);
		CU_ASSERT_EQUAL(r, -EBADMSG);
	}
#undef GOOD_FIELDS
}

static void test_bad_accounts(void)
{
	static const char *const bad[] = { "", ".", "..", ".hidden", "a/b", "../x", "/abs" };
	struct lockout_state st = { 0 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(lockout_lock(dir, bad[i]), -EINVAL);
		CU_ASSERT_EQUAL(lockout_write(dir, bad[i], &st), -EINVAL);
	}
	/* Fine: dots and dashes inside. */
	int fd = lockout_lock(dir, "sw-install.v2_x");
	CU_ASSERT(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* A state_dir that does not exist is an error, not created behind the admin's back. */
	CU_ASSERT_EQUAL(lockout_lock("/nonexistent/advertd-test", "sw"), -ENOENT);
}

static void test_foreign_dir(void)
{
	/* A group-writable account directory could hold a forged state: refused. */
	int fd = lockout_lock(dir, "foreign");
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	char *p = state_path("foreign", "");
	CU_ASSERT_EQUAL(chmod(p, 0770), 0);
	CU_ASSERT_EQUAL(lockout_lock(dir, "foreign"), -EPERM);
	free(p);
}

/* Whether another open file description could take the lock right now. */
static bool lock_is_free(const char *account)
{
	char *p = state_path(account, "");
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(p);
	CU_ASSERT_FATAL(fd >= 0);
	bool free_ = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_;
}

static void test_two_processes(void)
{
	int fd = lockout_lock(dir, "shared");
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(!lock_is_free("shared"));

	int ready[2], got[2];
	CU_ASSERT_FATAL(pipe2(ready, O_CLOEXEC) == 0 && pipe2(got, O_CLOEXEC) == 0);
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(got[0]);
		close(fd);
		if (write(ready[1], "r", 1) != 1)
			_exit(10);
		int cfd = lockout_lock(dir, "shared");
		if (cfd < 0)
			_exit(11);
		/* The first locker's write must be visible to the second. */
		struct lockout_state st;
		if (lockout_read(cfd, &st) < 0 || st.outcome != LOCKOUT_REJECTED ||
		    st.attempts != 1)
			_exit(12);
		if (write(got[1], "L", 1) != 1)
			_exit(13);
		_exit(0);
	}
	close(ready[1]);
	close(got[1]);

	char c;
	CU_ASSERT_EQUAL(read(ready[0], &c, 1), 1);
	/* The child is about to lock or blocked in it: it must not get through. */
	struct pollfd pfd = { .fd = got[0], .events = POLLIN };
	CU_ASSERT_EQUAL(poll(&pfd, 1, 200), 0);

	/* Replacing the state file by rename keeps the lock. */
	struct lockout_state st = { 0 };
	lockout_record(&st, FP_A, LOCKOUT_REJECTED, T0, "dc1", "no");
	CU_ASSERT_EQUAL(lockout_write(dir, "shared", &st), 0);
	CU_ASSERT(!lock_is_free("shared"));
	CU_ASSERT_EQUAL(poll(&pfd, 1, 100), 0);

	close(fd);
	CU_ASSERT_EQUAL(read(got[0], &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'L');
	int status = 0;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	close(ready[0]);
	close(got[0]);
	CU_ASSERT(lock_is_free("shared"));
}

/* A secret rejected once stays refused even after another secret came and went: a
 * restored backup or a reverted change brings back a keytab the KDC already refused.
 * The set survives a write and a read, and forgets the oldest beyond its size. */
static void test_rejected_secrets_are_remembered(void)
{
	struct lockout_state st = { 0 };
	lockout_record(&st, FP_A, LOCKOUT_REJECTED, T0, "dc1", "Preauthentication failed");
	lockout_record(&st, FP_B, LOCKOUT_OK, T0 + 10, "dc1", "Success");
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_B, T0 + 11, BACKOFF, NULL), LOCKOUT_ALLOW);
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_A, T0 + 11, BACKOFF, NULL), LOCKOUT_HOLD_REJECTED);

	CU_ASSERT_EQUAL_FATAL(lockout_write(dir, "remember", &st), 0);
	int fd = lockout_lock(dir, "remember");
	CU_ASSERT_FATAL(fd >= 0);
	struct lockout_state back;
	CU_ASSERT_EQUAL_FATAL(lockout_read(fd, &back), 0);
	close(fd);
	CU_ASSERT_EQUAL(back.n_rejected, 1);
	CU_ASSERT_EQUAL(lockout_decide(&back, FP_A, T0 + 12, BACKOFF, NULL), LOCKOUT_HOLD_REJECTED);
	CU_ASSERT_EQUAL(lockout_decide(&back, FP_B, T0 + 12, BACKOFF, NULL), LOCKOUT_ALLOW);

	/* More rejected secrets than remembered: the oldest (A) is forgotten first. */
	char fp[LOCKOUT_FP_LEN + 1];
	for (int i = 0; i < LOCKOUT_REJECTED_MAX; i++) {
		memset(fp, 'c' + i, LOCKOUT_FP_LEN);
		fp[LOCKOUT_FP_LEN] = '\0';
		lockout_record(&back, fp, LOCKOUT_REJECTED, T0 + 20 + i, "dc1", "rejected");
	}
	CU_ASSERT_EQUAL(back.n_rejected, LOCKOUT_REJECTED_MAX);
	lockout_record(&back, FP_B, LOCKOUT_OK, T0 + 40, "dc1", "Success");
	CU_ASSERT_EQUAL(lockout_decide(&back, FP_A, T0 + 41, BACKOFF, NULL), LOCKOUT_ALLOW);
	memset(fp, 'c', LOCKOUT_FP_LEN);
	CU_ASSERT_EQUAL(lockout_decide(&back, fp, T0 + 41, BACKOFF, NULL), LOCKOUT_HOLD_REJECTED);
}

/* Write ahead: begin counts the attempt, its answer does not count again; a secret that
 * changes between them starts over; pwdLastSet under which it was accepted stays with
 * that secret only. */
static void test_begin_then_answer(void)
{
	struct lockout_state st = { 0 };
	lockout_begin(&st, FP_A, T0, "dc1");
	CU_ASSERT_EQUAL(st.outcome, LOCKOUT_INFLIGHT);
	CU_ASSERT_EQUAL(st.attempts, 1);
	CU_ASSERT_STRING_EQUAL(st.dc, "dc1");
	lockout_record(&st, FP_A, LOCKOUT_OK, T0 + 1, "dc1", "Success");
	CU_ASSERT_EQUAL(st.outcome, LOCKOUT_OK);
	CU_ASSERT_EQUAL(st.attempts, 1);
	st.accepted_under = 133000000000000000LL;

	lockout_begin(&st, FP_A, T0 + 2, "dc2");
	CU_ASSERT_EQUAL(st.attempts, 2);
	CU_ASSERT_EQUAL(st.accepted_under, 133000000000000000LL);
	/* No answer: the next run is held. */
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_A, T0 + 3, BACKOFF, NULL), LOCKOUT_HOLD_BACKOFF);

	lockout_begin(&st, FP_B, T0 + 4, "dc1");
	CU_ASSERT_EQUAL(st.attempts, 1);
	CU_ASSERT_EQUAL(st.accepted_under, 0);
	lockout_record(&st, FP_B, LOCKOUT_REJECTED, T0 + 5, "dc1", "Preauthentication failed");
	CU_ASSERT_EQUAL(st.attempts, 1);
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_B, T0 + 6 + BACKOFF, BACKOFF, NULL),
			LOCKOUT_HOLD_REJECTED);
}

static void test_accepted_under_roundtrip(void)
{
	struct lockout_state st = { 0 }, got;
	lockout_record(&st, FP_A, LOCKOUT_OK, T0, "dc1", "Success");
	st.accepted_under = 134000000000000001LL;
	CU_ASSERT_EQUAL_FATAL(lockout_write(dir, "under", &st), 0);
	int fd = lockout_lock(dir, "under");
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(lockout_read(fd, &got), 0);
	CU_ASSERT_EQUAL(got.accepted_under, 134000000000000001LL);
	CU_ASSERT(state_equal(&st, &got));
	close(fd);
}

/* A damaged file is kept for the admin under another name, and replaced by a state that
 * holds the current secret; if the replacement cannot be written, the damaged file is
 * still in place (so the next run holds too). */
static void test_quarantine(void)
{
	int fd = lockout_lock(dir, "broken");
	CU_ASSERT_FATAL(fd >= 0);
	free(tu_write(dir, "lockout/broken/state", 0600, "advertd-lockout 1\noutcome=ok\n"));
	struct lockout_state st;
	CU_ASSERT_EQUAL(lockout_read(fd, &st), -EBADMSG);
	CU_ASSERT_EQUAL(lockout_quarantine(dir, "broken", FP_A, T0, "Bad message"), 0);
	CU_ASSERT_EQUAL_FATAL(lockout_read(fd, &st), 0);
	CU_ASSERT_EQUAL(st.outcome, LOCKOUT_DAMAGED);
	CU_ASSERT_EQUAL(st.attempts, 0);
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_A, T0 + 86400 * 365, BACKOFF, NULL),
			LOCKOUT_HOLD_REJECTED);
	CU_ASSERT_EQUAL(lockout_decide(&st, FP_B, T0, BACKOFF, NULL), LOCKOUT_ALLOW);
	char *kept = state_path("broken", "state.damaged");
	size_t len;
	char *data = slurp(kept, &len);
	CU_ASSERT_EQUAL(len, strlen("advertd-lockout 1\noutcome=ok\n"));
	free(data);
	free(kept);
	close(fd);
	char *path = lockout_state_path(dir, "broken");
	char *want = NULL;
	CU_ASSERT_FATAL(asprintf(&want, "%s/lockout/broken/state", dir) > 0);
	CU_ASSERT_STRING_EQUAL(path, want);
	free(path);
	free(want);
}

/* A fresh install: state_dir itself does not exist yet. */
static void test_creates_state_dir(void)
{
	char *sd = NULL;
	CU_ASSERT_FATAL(asprintf(&sd, "%s/fresh-state", dir) > 0);
	int fd = lockout_lock(sd, "swinstall");
	CU_ASSERT_FATAL(fd >= 0);
	struct stat sb;
	CU_ASSERT_EQUAL(stat(sd, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0700);
	close(fd);
	free(sd);
}

/* Look before you knock: each fact that must stop a knock, at its boundary. */
static void test_check_facts(void)
{
	const long long set = lockout_filetime(T0);
	const struct lockout_facts base = {
		.found = true,
		.complete = true,
		.kvno = 3,
		.pwd_last_set = set,
		.threshold = 3,
	};
	struct lockout_state accepted = { .outcome = LOCKOUT_OK, .accepted_under = set };
	strcpy(accepted.fingerprint, FP_A);
	static const struct lockout_state none = { 0 };
	struct lockout_facts f;

	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 3, &base, 1), LOCKOUT_CHECK_OK);
	f = base, f.found = false;
	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 3, &f, 1), LOCKOUT_CHECK_NOT_FOUND);
	f = base, f.disabled = true;
	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 3, &f, 1), LOCKOUT_CHECK_DISABLED);
	/* What the directory did not show is not "all clear". */
	f = base, f.complete = false;
	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 3, &f, 1), LOCKOUT_CHECK_INCOMPLETE);
	f = base, f.locked = true;
	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 3, &f, 1), LOCKOUT_CHECK_LOCKED);

	/* A keytab at another kvno than the directory's: stale (or a lagging DC). */
	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 2, &base, 1), LOCKOUT_CHECK_STALE_KEYTAB);
	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 4, &base, 1), LOCKOUT_CHECK_STALE_KEYTAB);
	f = base, f.kvno = -1; /* not exposed: nothing to compare */
	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 2, &f, 1), LOCKOUT_CHECK_OK);

	/* A password accepted under this pwdLastSet is fine; a later change makes it stale;
	 * another password (a new file) is a new question; unknown acceptance says nothing. */
	CU_ASSERT_EQUAL(lockout_check_facts(&accepted, FP_A, -1, &base, 1), LOCKOUT_CHECK_OK);
	f = base, f.pwd_last_set = set + 1;
	CU_ASSERT_EQUAL(lockout_check_facts(&accepted, FP_A, -1, &f, 1),
			LOCKOUT_CHECK_STALE_PASSWORD);
	CU_ASSERT_EQUAL(lockout_check_facts(&accepted, FP_B, -1, &f, 1), LOCKOUT_CHECK_OK);
	CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, -1, &f, 1), LOCKOUT_CHECK_OK);
	/* A keytab is judged by its kvno, not by pwdLastSet. */
	CU_ASSERT_EQUAL(lockout_check_facts(&accepted, FP_A, 3, &f, 1), LOCKOUT_CHECK_OK);

	/* The fleet stops short of the threshold: with 3 and a reserve of 1, a DC that
	 * counted 2 gets nothing more. */
	static const struct {
		int count, threshold, reserve;
		enum lockout_check want;
	} rows[] = {
		{ 0, 3, 1, LOCKOUT_CHECK_OK },
		{ 1, 3, 1, LOCKOUT_CHECK_OK },
		{ 2, 3, 1, LOCKOUT_CHECK_NEAR_THRESHOLD },
		{ 3, 3, 1, LOCKOUT_CHECK_NEAR_THRESHOLD },
		{ 2, 3, 0, LOCKOUT_CHECK_OK },
		{ 3, 3, 0, LOCKOUT_CHECK_NEAR_THRESHOLD },
		{ 0, 1, 1, LOCKOUT_CHECK_OK }, /* one attempt on a clean DC, never more */
		{ 1, 1, 1, LOCKOUT_CHECK_NEAR_THRESHOLD },
		{ 0, 2, 5, LOCKOUT_CHECK_OK },
		{ 1, 2, 5, LOCKOUT_CHECK_NEAR_THRESHOLD },
		{ 50, 0, 1, LOCKOUT_CHECK_OK }, /* no lockout policy */
		{ 4, 10, -3, LOCKOUT_CHECK_OK },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		f = base, f.bad_pwd_count = rows[i].count, f.threshold = rows[i].threshold;
		CU_ASSERT_EQUAL(lockout_check_facts(&none, FP_A, 3, &f, rows[i].reserve),
				rows[i].want);
	}
}

static void test_inflight_uncounted(void)
{
	struct lockout_state st = { 0 };
	lockout_begin(&st, FP_A, T0, "dc1");
	struct lockout_facts f = { .found = true,
				   .has_bad_pwd_time = true,
				   .bad_pwd_time = lockout_filetime(T0 - 600) };
	CU_ASSERT_TRUE(lockout_inflight_uncounted(&st, "dc1", &f));
	CU_ASSERT_FALSE(lockout_inflight_uncounted(&st, "dc2", &f)); /* counters are per DC */
	/* Within the clock skew of our send, it may be ours (the DC's clock may be behind). */
	f.bad_pwd_time = lockout_filetime(T0 - LOCKOUT_CLOCK_SKEW + 1);
	CU_ASSERT_FALSE(lockout_inflight_uncounted(&st, "dc1", &f));
	f.bad_pwd_time = lockout_filetime(T0 - LOCKOUT_CLOCK_SKEW - 1);
	CU_ASSERT_TRUE(lockout_inflight_uncounted(&st, "dc1", &f));
	f.bad_pwd_time = lockout_filetime(T0 + 1);
	CU_ASSERT_FALSE(lockout_inflight_uncounted(&st, "dc1", &f));
	/* No badPasswordTime to read: assume it was counted. */
	f.has_bad_pwd_time = false, f.bad_pwd_time = 0;
	CU_ASSERT_FALSE(lockout_inflight_uncounted(&st, "dc1", &f));
	f.has_bad_pwd_time = true, f.found = false;
	CU_ASSERT_FALSE(lockout_inflight_uncounted(&st, "dc1", &f));
	lockout_record(&st, FP_A, LOCKOUT_OK, T0, "dc1", "ok");
	f.found = true;
	CU_ASSERT_FALSE(lockout_inflight_uncounted(&st, "dc1", &f)); /* not in flight */
	CU_ASSERT_EQUAL(lockout_filetime(0), 116444736000000000LL);
	/* No overflow for any time a damaged file may hold. */
	CU_ASSERT_EQUAL(lockout_filetime((time_t)INT64_MAX), LLONG_MAX);
	CU_ASSERT_EQUAL(lockout_filetime((time_t)INT64_MIN), 0);
}

/* A full disk after the in-flight record: the answer still goes over the existing file
 * (no room for a temp), so a rejection is never lost to ENOSPC. */
static void test_full_disk_overwrites_in_place(void)
{
	char *m = NULL;
	CU_ASSERT_FATAL(asprintf(&m, "%s/fullmnt", dir) > 0);
	mkdir(m, 0700);
	if (mount("tmpfs", m, "tmpfs", 0, "size=64k,mode=0700") < 0) {
		fprintf(stderr, "\n  (cannot mount tmpfs: %s; skipped)\n", strerror(errno));
		rmdir(m);
		free(m);
		return;
	}
	struct lockout_state st = { 0 };
	lockout_begin(&st, FP_A, T0, "dc1");
	CU_ASSERT_EQUAL_FATAL(lockout_write(m, "acct", &st), 0);
	/* Fill the disk. */
	char *fill = NULL;
	CU_ASSERT_FATAL(asprintf(&fill, "%s/filler", m) > 0);
	int fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char block[4096];
	memset(block, 'x', sizeof(block));
	while (write(fd, block, sizeof(block)) > 0)
		;
	close(fd);
	lockout_record(&st, FP_A, LOCKOUT_REJECTED, T0 + 1, "dc1", "Preauthentication failed");
	CU_ASSERT_EQUAL(lockout_write(m, "acct", &st), 0);
	int lfd = lockout_lock(m, "acct");
	CU_ASSERT_FATAL(lfd >= 0);
	struct lockout_state back;
	CU_ASSERT_EQUAL_FATAL(lockout_read(lfd, &back), 0);
	CU_ASSERT_EQUAL(back.outcome, LOCKOUT_REJECTED);
	CU_ASSERT_EQUAL(lockout_decide(&back, FP_A, T0 + 86400, BACKOFF, NULL),
			LOCKOUT_HOLD_REJECTED);
	close(lfd);
	umount2(m, MNT_DETACH);
	rmdir(m);
	free(fill);
	free(m);
}

int main(void)
{
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "outcome names", test_outcome_names },
		{ "decide: every rule and boundary", test_decide_table },
		{ "decide: extreme times", test_decide_extremes },
		{ "record: fields and attempts", test_record },
		{ "rejected secrets are remembered, not just the last",
		  test_rejected_secrets_are_remembered },
		{ "file: round trip", test_round_trip },
		{ "file: format", test_format },
		{ "file: empty", test_empty },
		{ "write ahead: begin, then the answer", test_begin_then_answer },
		{ "file: accepted_under round trip", test_accepted_under_roundtrip },
		{ "file: a damaged one is quarantined", test_quarantine },
		{ "a fresh install creates state_dir", test_creates_state_dir },
		{ "a full disk: the answer overwrites in place",
		  test_full_disk_overwrites_in_place },
		{ "look before you knock: the directory's facts", test_check_facts },
		{ "an in-flight attempt the DC did not count", test_inflight_uncounted },
		{ "file: flipped bits and torn files", test_corrupt },
		{ "file: sealed but invalid", test_well_sealed_but_wrong },
		{ "bad account names", test_bad_accounts },
		{ "foreign account directory", test_foreign_dir },
		{ "lock: second process waits", test_two_processes },
		{ 0 },
	};
	int r = tu_run("lockout", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

/* SPDX-License-Identifier: MIT */
/* The lockout guard: the verdict from the stored state, and that state kept durably in
 * state_dir/lockout/<account>/state under a lock that survives the file's replacement. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/lockout.h"
#include "advert/textrec.h"
#include "advert/util.h"

#define LOCKOUT_SUBDIR   "lockout"
#define LOCKOUT_STATE    "state"
#define LOCKOUT_MAGIC    "advertd-lockout 1\n"
#define LOCKOUT_CHECKSUM "checksum="
#define LOCKOUT_HEX_LEN  (2 * 32) /* SHA-256 */
/* Every field at its longest, escaped at 4 bytes per byte, fits with room to spare;
 * anything bigger is not ours. */
#define LOCKOUT_MAX_FILE 8192

static const char *const outcome_names[] = {
	[LOCKOUT_NONE] = "none",         [LOCKOUT_OK] = "ok",
	[LOCKOUT_REJECTED] = "rejected", [LOCKOUT_REVOKED] = "revoked",
	[LOCKOUT_UNUSABLE] = "unusable", [LOCKOUT_INFLIGHT] = "in-flight",
	[LOCKOUT_DAMAGED] = "damaged",
};
#define N_OUTCOMES (sizeof(outcome_names) / sizeof(outcome_names[0]))

const char *lockout_outcome_name(enum lockout_outcome o)
{
	return (unsigned)o < N_OUTCOMES ? outcome_names[o] : "?";
}

/* lockout_record keeps at most LOCKOUT_FP_LEN characters, so an over-long fp whose prefix
 * matches is the same secret as far as we can tell: erring that way holds, never sends. */
static bool fp_same(const char *recorded, const char *fp)
{
	return strncmp(recorded, fp, LOCKOUT_FP_LEN) == 0;
}

static bool was_rejected(const struct lockout_state *st, const char *fp)
{
	for (unsigned i = 0; i < st->n_rejected && i < LOCKOUT_REJECTED_MAX; i++)
		if (fp_same(st->rejected[i], fp))
			return true;
	return false;
}

enum lockout_verdict lockout_decide(const struct lockout_state *st, const char *fp, time_t now,
				    int backoff, time_t *ret_until)
{
	if (was_rejected(st, fp))
		return LOCKOUT_HOLD_REJECTED;
	switch (st->outcome) {
	case LOCKOUT_NONE:
	case LOCKOUT_OK:
		return LOCKOUT_ALLOW;
	case LOCKOUT_REJECTED:
		return fp_same(st->fingerprint, fp) ? LOCKOUT_HOLD_REJECTED : LOCKOUT_ALLOW;
	case LOCKOUT_DAMAGED:
		return fp_same(st->fingerprint, fp) ? LOCKOUT_HOLD_REJECTED : LOCKOUT_ALLOW;
	case LOCKOUT_UNUSABLE:
	case LOCKOUT_INFLIGHT:
		/* Sent without an answer: the KDC may have counted it. One more try only after
		 * the backoff; a new secret is a new question. */
		if (!fp_same(st->fingerprint, fp))
			return LOCKOUT_ALLOW;
		break;
	case LOCKOUT_REVOKED:
		/* A locked or disabled account stays so whatever secret we hold now. */
		break;
	default:
		/* Not a state we wrote: holding is the only answer that cannot lock anyone. */
		return LOCKOUT_HOLD_REJECTED;
	}

	if (backoff <= 0)
		return LOCKOUT_ALLOW;
	time_t until =
		st->since > UTIL_TIME_T_MAX - backoff ? UTIL_TIME_T_MAX : st->since + backoff;
	/* A clock stepped back (now < since) counts as no time elapsed: the hold neither ends
	 * early nor moves, it still ends at since + backoff. */
	if (now >= st->since && now >= until)
		return LOCKOUT_ALLOW;
	if (ret_until)
		*ret_until = until;
	return LOCKOUT_HOLD_BACKOFF;
}

long long lockout_filetime(time_t t)
{
	/* Held inside what a FILETIME can say, for any time a damaged file may hold. */
	const long long max = LLONG_MAX / 10000000LL - 11644473600LL;
	if (t > max)
		return LLONG_MAX;
	if (t < -11644473600LL)
		return 0;
	return ((long long)t + 11644473600LL) * 10000000LL;
}

enum lockout_check lockout_check_facts(const struct lockout_state *st, const char *fp,
				       int keytab_kvno, const struct lockout_facts *f, int reserve)
{
	if (!f->found)
		return LOCKOUT_CHECK_NOT_FOUND;
	if (!f->complete)
		return LOCKOUT_CHECK_INCOMPLETE;
	if (f->disabled)
		return LOCKOUT_CHECK_DISABLED;
	if (f->locked)
		return LOCKOUT_CHECK_LOCKED;
	if (keytab_kvno >= 0 && f->kvno >= 0 && keytab_kvno != f->kvno)
		return LOCKOUT_CHECK_STALE_KEYTAB;
	if (keytab_kvno < 0 && st->accepted_under && fp_same(st->fingerprint, fp) &&
	    f->pwd_last_set > st->accepted_under)
		return LOCKOUT_CHECK_STALE_PASSWORD;
	if (f->threshold > 0) {
		int limit = f->threshold - (reserve > 0 ? reserve : 0);
		if (limit < 1)
			limit = 1;
		if (f->bad_pwd_count >= limit)
			return LOCKOUT_CHECK_NEAR_THRESHOLD;
	}
	return LOCKOUT_CHECK_OK;
}

bool lockout_inflight_uncounted(const struct lockout_state *st, const char *dc,
				const struct lockout_facts *f)
{
	time_t before = st->since > LOCKOUT_CLOCK_SKEW ? st->since - LOCKOUT_CLOCK_SKEW : 0;
	return st->outcome == LOCKOUT_INFLIGHT && strcmp(st->dc, dc) == 0 && f->found &&
	       f->has_bad_pwd_time && f->bad_pwd_time < lockout_filetime(before);
}

/* Copies at most size-1 bytes and always terminates; src may overlap dst. */
static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memmove(dst, src, n);
	dst[n] = '\0';
}

static void count_attempt(struct lockout_state *st, const char *fp)
{
	if (fp_same(st->fingerprint, fp)) {
		st->attempts = st->attempts < UINT_MAX ? st->attempts + 1 : UINT_MAX;
	} else {
		st->attempts = 1;
		st->accepted_under = 0; /* that was another secret's */
	}
	copy_trunc(st->fingerprint, sizeof(st->fingerprint), fp);
}

void lockout_begin(struct lockout_state *st, const char *fp, time_t now, const char *dc)
{
	count_attempt(st, fp);
	st->outcome = LOCKOUT_INFLIGHT;
	st->since = now;
	copy_trunc(st->dc, sizeof(st->dc), dc ? dc : "");
	copy_trunc(st->message, sizeof(st->message), "sent, no answer recorded");
}

void lockout_record(struct lockout_state *st, const char *fp, enum lockout_outcome outcome,
		    time_t now, const char *dc, const char *message)
{
	if (st->outcome == LOCKOUT_INFLIGHT && fp_same(st->fingerprint, fp))
		copy_trunc(st->fingerprint, sizeof(st->fingerprint), fp); /* its answer */
	else
		count_attempt(st, fp);
	if (st->n_rejected > LOCKOUT_REJECTED_MAX)
		st->n_rejected = LOCKOUT_REJECTED_MAX;
	if (outcome == LOCKOUT_REJECTED && !was_rejected(st, fp)) {
		if (st->n_rejected == LOCKOUT_REJECTED_MAX) {
			memmove(st->rejected[0], st->rejected[1],
				(LOCKOUT_REJECTED_MAX - 1) * sizeof(st->rejected[0]));
			st->n_rejected--;
		}
		copy_trunc(st->rejected[st->n_rejected++], sizeof(st->rejected[0]), fp);
	}
	st->outcome = outcome;
	st->since = now;
	copy_trunc(st->dc, sizeof(st->dc), dc ? dc : "");
	copy_trunc(st->message, sizeof(st->message), message ? message : "");
}

/* --- the file ------------------------------------------------------------------------ */

static bool account_valid(const char *account)
{
	return account[0] && account[0] != '.' && !strchr(account, '/');
}

/* Opens state_dir/lockout/<account>/, creating both levels 0700. The directory is what
 * gets locked: it is never renamed, unlike the state file inside it. */
static int open_account_dir(const char *state_dir, const char *account)
{
	if (!account_valid(account))
		return -EINVAL;

	/* A fresh install has no state_dir yet: it is ours to create, as root's alone. */
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	char *path = NULL;
	if (asprintf(&path, "%s/" LOCKOUT_SUBDIR, state_dir) < 0)
		return -ENOMEM;
	int r = 0;
	if (mkdir(path, 0700) == 0) {
		/* As below: a new directory entry is only durable once its parent is synced. */
		int sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0 || fsync(sfd) < 0)
			r = -errno;
		if (sfd >= 0)
			close(sfd);
	} else if (errno != EEXIST) {
		r = -errno;
	}
	int lfd = r < 0 ? -1 : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (r == 0 && lfd < 0)
		r = -errno;
	free(path);
	if (r < 0)
		return r;

	if (mkdirat(lfd, account, 0700) == 0) {
		/* The new entry must survive a crash, or a recorded rejection could vanish
		 * with it. */
		if (fsync(lfd) < 0)
			r = -errno;
	} else if (errno != EEXIST) {
		r = -errno;
	}
	int afd =
		r < 0 ? -1 : openat(lfd, account, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (r == 0 && afd < 0)
		r = -errno;
	close(lfd);
	if (r < 0)
		return r;

	/* Someone else's directory could hand us a forged state: refuse it. */
	struct stat st;
	if (fstat(afd, &st) < 0) {
		r = -errno;
	} else if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		r = -EPERM;
	}
	if (r < 0) {
		close(afd);
		return r;
	}
	return afd;
}

int lockout_lock(const char *state_dir, const char *account)
{
	int fd = open_account_dir(state_dir, account);
	if (fd < 0)
		return fd;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = -errno;
			close(fd);
			return r;
		}
	}
	return fd;
}

struct buf {
	char data[LOCKOUT_MAX_FILE];
	size_t len;
	bool overflow;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->overflow || n > sizeof(b->data) - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Writes key=value\n with backslash escapes, so a KDC message cannot forge a line. */
static void buf_field(struct buf *b, const char *key, const char *value, size_t max)
{
	buf_str(b, key);
	buf_add(b, "=", 1);
	if (!b->overflow &&
	    textrec_escape(TEXTREC_LINE, value, max, b->data, sizeof(b->data), &b->len) < 0)
		b->overflow = true;
	buf_add(b, "\n", 1);
}

static int serialize(const struct lockout_state *st, struct buf *b)
{
	char num[32];
	buf_str(b, LOCKOUT_MAGIC);
	buf_field(b, "outcome", lockout_outcome_name(st->outcome), SIZE_MAX);
	buf_field(b, "fingerprint", st->fingerprint, LOCKOUT_FP_LEN);
	snprintf(num, sizeof(num), "%jd", (intmax_t)st->since);
	buf_field(b, "since", num, SIZE_MAX);
	buf_field(b, "dc", st->dc, sizeof(st->dc) - 1);
	buf_field(b, "message", st->message, sizeof(st->message) - 1);
	snprintf(num, sizeof(num), "%u", st->attempts);
	buf_field(b, "attempts", num, SIZE_MAX);
	/* One line per remembered rejected secret; none while there is none (so files from
	 * before this existed read the same). */
	for (unsigned i = 0; i < st->n_rejected && i < LOCKOUT_REJECTED_MAX; i++)
		buf_field(b, "rejected", st->rejected[i], LOCKOUT_FP_LEN);
	if (st->accepted_under) { /* optional, as above */
		snprintf(num, sizeof(num), "%lld", st->accepted_under);
		buf_field(b, "accepted_under", num, SIZE_MAX);
	}

	char hex[LOCKOUT_HEX_LEN + 1];
	textrec_sha256_hex(b->data, b->len, hex, LOCKOUT_HEX_LEN);
	buf_str(b, LOCKOUT_CHECKSUM);
	buf_str(b, hex);
	buf_add(b, "\n", 1);
	return b->overflow ? -EOVERFLOW : 0;
}

enum {
	F_OUTCOME = 1 << 0,
	F_FINGERPRINT = 1 << 1,
	F_SINCE = 1 << 2,
	F_DC = 1 << 3,
	F_MESSAGE = 1 << 4,
	F_ATTEMPTS = 1 << 5,
	F_ALL = (1 << 6) - 1,
};

/* One key=value line (without its newline) into st; false when it is not exactly one of
 * ours, once. */
static bool parse_line(const char *line, size_t n, struct lockout_state *st, unsigned *seen)
{
	const char *eq = memchr(line, '=', n);
	if (!eq)
		return false;
	size_t klen = (size_t)(eq - line);
	const char *v = eq + 1;
	size_t vlen = n - klen - 1;
	char tmp[32];
	intmax_t num;

#define KEY(k) (klen == strlen(k) && memcmp(line, k, klen) == 0)
	unsigned bit;
	if (KEY("outcome")) {
		bit = F_OUTCOME;
		size_t o;
		for (o = 0; o < N_OUTCOMES; o++)
			if (vlen == strlen(outcome_names[o]) &&
			    memcmp(v, outcome_names[o], vlen) == 0)
				break;
		if (o == N_OUTCOMES)
			return false;
		st->outcome = (enum lockout_outcome)o;
	} else if (KEY("fingerprint")) {
		bit = F_FINGERPRINT;
		if (textrec_unescape(TEXTREC_LINE, v, vlen, st->fingerprint,
				     sizeof(st->fingerprint)) < 0)
			return false;
	} else if (KEY("since")) {
		bit = F_SINCE;
		if (textrec_unescape(TEXTREC_LINE, v, vlen, tmp, sizeof(tmp)) < 0 ||
		    textrec_parse_int(tmp, true, -(intmax_t)UTIL_TIME_T_MAX,
				      (intmax_t)UTIL_TIME_T_MAX, &num) < 0)
			return false;
		st->since = (time_t)num;
	} else if (KEY("dc")) {
		bit = F_DC;
		if (textrec_unescape(TEXTREC_LINE, v, vlen, st->dc, sizeof(st->dc)) < 0)
			return false;
	} else if (KEY("message")) {
		bit = F_MESSAGE;
		if (textrec_unescape(TEXTREC_LINE, v, vlen, st->message, sizeof(st->message)) < 0)
			return false;
	} else if (KEY("rejected")) {
		/* Repeatable and optional: not part of the exactly-once set. */
		if (st->n_rejected == LOCKOUT_REJECTED_MAX ||
		    textrec_unescape(TEXTREC_LINE, v, vlen, st->rejected[st->n_rejected],
				     sizeof(st->rejected[0])) < 0 ||
		    !st->rejected[st->n_rejected][0])
			return false;
		st->n_rejected++;
		return true;
	} else if (KEY("accepted_under")) {
		if (st->accepted_under ||
		    textrec_unescape(TEXTREC_LINE, v, vlen, tmp, sizeof(tmp)) < 0 ||
		    textrec_parse_int(tmp, false, 1, INT64_MAX, &num) < 0)
			return false;
		st->accepted_under = (long long)num;
		return true;
	} else if (KEY("attempts")) {
		bit = F_ATTEMPTS;
		if (textrec_unescape(TEXTREC_LINE, v, vlen, tmp, sizeof(tmp)) < 0 ||
		    textrec_parse_int(tmp, false, 0, UINT_MAX, &num) < 0)
			return false;
		st->attempts = (unsigned)num;
	} else {
		return false;
	}
#undef KEY
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

static int parse(const char *data, size_t len, struct lockout_state *ret)
{
	struct lockout_state st = { 0 };

	/* Empty (a truncation, or a crash before the first byte was durable), torn (no final newline), the wrong file, or a version we do not know: the caller
	 * holds the account rather than guess. */
	size_t mlen = strlen(LOCKOUT_MAGIC);
	if (len < mlen || memcmp(data, LOCKOUT_MAGIC, mlen) != 0 || data[len - 1] != '\n' ||
	    memchr(data, '\0', len))
		return -EBADMSG;

	size_t clen = strlen(LOCKOUT_CHECKSUM) + LOCKOUT_HEX_LEN + 1;
	if (len < mlen + clen)
		return -EBADMSG;
	size_t body = len - clen;
	const char *cs = data + body;
	if (data[body - 1] != '\n' || memcmp(cs, LOCKOUT_CHECKSUM, strlen(LOCKOUT_CHECKSUM)) != 0)
		return -EBADMSG;
	char hex[LOCKOUT_HEX_LEN + 1];
	textrec_sha256_hex(data, body, hex, LOCKOUT_HEX_LEN);
	if (memcmp(cs + strlen(LOCKOUT_CHECKSUM), hex, LOCKOUT_HEX_LEN) != 0)
		return -EBADMSG;

	unsigned seen = 0;
	for (size_t pos = mlen; pos < body;) {
		const char *nl = memchr(data + pos, '\n', body - pos);
		if (!nl) /* cannot happen: data[body - 1] is a newline */
			return -EBADMSG;
		size_t n = (size_t)(nl - (data + pos));
		if (!parse_line(data + pos, n, &st, &seen))
			return -EBADMSG;
		pos += n + 1;
	}
	if (seen != F_ALL)
		return -EBADMSG;
	*ret = st;
	return 0;
}

static int read_all(int fd, char *data, size_t size, size_t *ret_len)
{
	size_t len = 0;
	for (;;) {
		if (len == size)
			return -EBADMSG; /* larger than any file we write */
		ssize_t k = pread(fd, data + len, size - len, (off_t)len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	*ret_len = len;
	return 0;
}

int lockout_read(int fd, struct lockout_state *ret)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -errno;

	int sfd = fd;
	if (S_ISDIR(sb.st_mode)) {
		sfd = openat(fd, LOCKOUT_STATE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (sfd < 0) {
			if (errno != ENOENT)
				return -errno;
			/* Never written: nothing was ever tried. */
			*ret = (struct lockout_state){ 0 };
			return 0;
		}
	}

	char *data = malloc(LOCKOUT_MAX_FILE + 1);
	size_t len = 0;
	int r = data ? read_all(sfd, data, LOCKOUT_MAX_FILE + 1, &len) : -ENOMEM;
	if (r == 0)
		r = parse(data, len, ret);
	free(data);
	if (sfd != fd)
		close(sfd);
	return r;
}

char *lockout_state_path(const char *state_dir, const char *account)
{
	char *path = NULL;
	if (asprintf(&path, "%s/" LOCKOUT_SUBDIR "/%s/" LOCKOUT_STATE, state_dir, account) < 0)
		return NULL;
	return path;
}

int lockout_quarantine(const char *state_dir, const char *account, const char *fp, time_t now,
		       const char *why)
{
	int dfd = open_account_dir(state_dir, account);
	if (dfd < 0)
		return dfd;
	/* A second name for the damaged file, for the admin; the state itself is replaced
	 * atomically below, so if that fails the damaged file is still there to hold. */
	if (unlinkat(dfd, LOCKOUT_STATE ".damaged", 0) < 0 && errno != ENOENT) {
		int r = -errno;
		close(dfd);
		return r;
	}
	(void)linkat(dfd, LOCKOUT_STATE, dfd, LOCKOUT_STATE ".damaged", 0);
	close(dfd);
	struct lockout_state st = { 0 };
	lockout_record(&st, fp, LOCKOUT_DAMAGED, now, "", why);
	st.attempts = 0; /* nothing was sent */
	return lockout_write(state_dir, account, &st);
}

/* When a replacement cannot be made (a full disk: no room for the temp file), the record
 * still goes over the existing file, whose blocks are already there: a rejection that
 * cannot be recorded would let the secret go again after the backoff. A torn overwrite
 * fails the checksum and reads as damaged, which holds too. */
static int overwrite_in_place(int dfd, const char *data, size_t len)
{
	int fd = openat(dfd, LOCKOUT_STATE, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int r = textrec_write_all(fd, data, len); /* a fresh descriptor: from offset 0 */
	if (r == 0 && (ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0))
		r = -errno;
	close(fd);
	return r;
}

int lockout_write(const char *state_dir, const char *account, const struct lockout_state *st)
{
	struct buf *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	int r = serialize(st, b);
	if (r < 0) {
		free(b);
		return r;
	}

	int dfd = open_account_dir(state_dir, account);
	if (dfd < 0) {
		free(b);
		return dfd;
	}
	/* The fixed temp name is safe because writers hold the account's lock. The final
	 * directory sync matters: without it the rename may not survive a crash, and an older
	 * state — one that would allow a rejected secret again — could come back. */
	r = textrec_atomic_replace(dfd, LOCKOUT_STATE, b->data, b->len, 0600);
	/* Only a full disk falls back: a failed sync after the rename is not hidden. */
	if ((r == -ENOSPC || r == -EDQUOT) && overwrite_in_place(dfd, b->data, b->len) == 0)
		r = 0; /* else the first error is the one that says why */
	close(dfd);
	free(b);
	return r;
}

/* SPDX-License-Identifier: MIT */
/* The run history's records: one line each, sealed with a checksum, and the reader
 * that tells a valid record from damage and a torn tail. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/history.h"
#include "advert/textrec.h"
#include "advert/util.h"
#include "history-internal.h"

/* --- records ------------------------------------------------------------------------- */

static const char *const kind_names[] = {
	[REC_START] = "start",        [REC_END] = "end",
	[REC_SUMMARY] = "summary",    [REC_SEQ] = "seq",
	[REC_DAMAGE] = "damage",      [REC_CLEAR] = "clear",
	[REC_CLEAR_ALL] = "clearall",
};

static void line_add(struct line *l, const char *s, size_t n)
{
	if (l->overflow || n > LINE_MAX_LEN - l->len) {
		l->overflow = true;
		return;
	}
	memcpy(l->data + l->len, s, n);
	l->len += n;
}

/* " key=value", the value cut at max bytes and escaped. */
static void line_field(struct line *l, const char *key, const char *value, size_t max)
{
	line_add(l, " ", 1);
	line_add(l, key, strlen(key));
	line_add(l, "=", 1);
	if (!l->overflow &&
	    textrec_escape(TEXTREC_TOKEN, value, max, l->data, LINE_MAX_LEN, &l->len) < 0)
		l->overflow = true;
}

static void line_num(struct line *l, const char *key, intmax_t v)
{
	char num[32];
	snprintf(num, sizeof(num), "%jd", v);
	line_field(l, key, num, SIZE_MAX);
}

static void line_run_id(struct line *l, uint64_t seq)
{
	char id[HISTORY_RUN_ID_MAX];
	hist_run_id_of(seq, id);
	line_field(l, "run", id, SIZE_MAX);
}

/* Starts a record: the prefix is filled in by line_seal once the body is known. */
static void line_begin(struct line *l, enum rec_kind kind)
{
	l->len = 0;
	l->overflow = false;
	memset(l->data, ' ', PREFIX_LEN);
	l->len = PREFIX_LEN;
	line_add(l, kind_names[kind], strlen(kind_names[kind]));
}

static int line_seal(struct line *l)
{
	line_add(l, "\n", 1);
	if (l->overflow)
		return -EOVERFLOW;
	char hex[SUM_HEX + 1];
	textrec_sha256_hex(l->data + PREFIX_LEN, l->len - PREFIX_LEN - 1, hex, SUM_HEX);
	memcpy(l->data, LOG_VERSION " ", sizeof(LOG_VERSION));
	memcpy(l->data + sizeof(LOG_VERSION), hex, SUM_HEX);
	l->data[PREFIX_LEN - 1] = ' ';
	return 0;
}

int histrec_format(const struct rec *r, struct line *l)
{
	line_begin(l, r->kind);
	switch (r->kind) {
	case REC_START:
		line_run_id(l, r->seq);
		line_field(l, "advert", r->advert_id, SIZE_MAX);
		line_num(l, "time", r->time);
		line_field(l, "boot", r->boot_id, SIZE_MAX);
		line_field(l, "account", r->account, HISTORY_ACCOUNT_MAX - 1);
		if (r->dc[0])
			line_field(l, "dc", r->dc, HISTORY_DC_MAX - 1);
		break;
	case REC_END:
		line_run_id(l, r->seq);
		line_field(l, "advert", r->advert_id, SIZE_MAX);
		if (r->boot_id[0])
			line_field(l, "boot", r->boot_id, SIZE_MAX);
		line_num(l, "start", r->start);
		line_num(l, "time", r->time);
		line_field(l, "result", run_result_name(r->result), SIZE_MAX);
		line_num(l, "exit", r->exit_code);
		line_num(l, "signal", r->signal);
		line_num(l, "ms", r->duration_ms);
		line_field(l, "dc", r->dc, HISTORY_DC_MAX - 1);
		line_field(l, "account", r->account, HISTORY_ACCOUNT_MAX - 1);
		line_field(l, "reason", r->reason, HISTORY_REASON_MAX - 1);
		break;
	case REC_SUMMARY:
		line_field(l, "advert", r->advert_id, SIZE_MAX);
		line_num(l, "started", r->started);
		line_num(l, "succeeded", r->succeeded);
		line_field(l, "result", run_result_name(r->result), SIZE_MAX);
		line_num(l, "start", r->start);
		line_num(l, "end", r->time);
		line_num(l, "seq", (intmax_t)r->seq);
		if (r->boot_id[0])
			line_field(l, "boot", r->boot_id, SIZE_MAX);
		break;
	case REC_SEQ:
		line_num(l, "next", (intmax_t)r->seq);
		break;
	case REC_CLEAR:
		line_field(l, "advert", r->advert_id, SIZE_MAX);
		break;
	case REC_DAMAGE:
	case REC_CLEAR_ALL:
		break;
	}
	return line_seal(l);
}

bool histrec_parse_run_id(const char *s, uint64_t *ret)
{
	if (s[0] != 'r' || !s[1] || strlen(s) >= HISTORY_RUN_ID_MAX)
		return false;
	uint64_t v = 0;
	for (const char *p = s + 1; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v == 0 || v >= HISTORY_SEQ_MAX)
		return false;
	*ret = v;
	return true;
}

static bool parse_result(const char *s, enum run_result *ret)
{
	for (int r = RUN_SUCCEEDED; r <= RUN_NOT_STARTED; r++) {
		if (strcmp(s, run_result_name((enum run_result)r)) == 0) {
			*ret = (enum run_result)r;
			return true;
		}
	}
	if (strcmp(s, run_result_name(RUN_NONE)) == 0) {
		*ret = RUN_NONE;
		return true;
	}
	return false;
}

bool histrec_boot_id_valid(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || *s == '-'))
			return false;
	return true;
}

enum {
	K_RUN = 1 << 0,
	K_ADVERT = 1 << 1,
	K_TIME = 1 << 2,
	K_BOOT = 1 << 3,
	K_ACCOUNT = 1 << 4,
	K_START = 1 << 5,
	K_RESULT = 1 << 6,
	K_EXIT = 1 << 7,
	K_SIGNAL = 1 << 8,
	K_MS = 1 << 9,
	K_DC = 1 << 10,
	K_REASON = 1 << 11,
	K_STARTED = 1 << 12,
	K_SUCCEEDED = 1 << 13,
	K_END = 1 << 14,
	K_SEQ = 1 << 15,
	K_NEXT = 1 << 16,
};

static const unsigned required[] = {
	[REC_START] = K_RUN | K_ADVERT | K_TIME | K_BOOT | K_ACCOUNT,
	[REC_END] = K_RUN | K_ADVERT | K_START | K_TIME | K_RESULT | K_EXIT | K_SIGNAL | K_MS |
		    K_DC | K_ACCOUNT | K_REASON,
	[REC_SUMMARY] = K_ADVERT | K_STARTED | K_SUCCEEDED | K_RESULT | K_START | K_END | K_SEQ,
	[REC_SEQ] = K_NEXT,
	[REC_DAMAGE] = 0,
	[REC_CLEAR] = K_ADVERT,
	[REC_CLEAR_ALL] = 0,
};

/* Keys a kind may have or not: the boot a run ran in came after the first records. */
static const unsigned optional[ARRAY_SIZE(required)] = {
	[REC_START] = K_DC,
	[REC_END] = K_BOOT,
	[REC_SUMMARY] = K_BOOT,
};

/* One key=value of a record; unknown keys are ignored, so a later version may add
 * fields, but each known key once and exactly the ones its kind has. */
static bool parse_field(struct rec *r, const char *key, size_t klen, const char *v, size_t vlen,
			unsigned *seen)
{
	char val[LINE_MAX_LEN + 1];
	intmax_t n;
	unsigned bit = 0;
	if (textrec_unescape(TEXTREC_TOKEN, v, vlen, val, sizeof(val)) < 0)
		return false;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
	if (KEY("run")) {
		bit = K_RUN;
		if (!histrec_parse_run_id(val, &r->seq))
			return false;
	} else if (KEY("advert")) {
		bit = K_ADVERT;
		if (strlen(val) > ADV_ID_MAX || !advert_id_valid(val))
			return false;
		strcpy(r->advert_id, val);
	} else if (KEY("time") || KEY("start") || KEY("end")) {
		bit = KEY("start") ? K_START : KEY("end") ? K_END : K_TIME;
		if (textrec_parse_int(val, true, UTIL_TIME_T_MIN, UTIL_TIME_T_MAX, &n) < 0)
			return false;
		if (bit == K_START)
			r->start = (time_t)n;
		else
			r->time = (time_t)n;
	} else if (KEY("boot")) {
		bit = K_BOOT;
		if (strlen(val) >= sizeof(r->boot_id) || !histrec_boot_id_valid(val))
			return false;
		strcpy(r->boot_id, val);
	} else if (KEY("account") || KEY("dc") || KEY("reason")) {
		char *dst = KEY("account") ? r->account : KEY("dc") ? r->dc : r->reason;
		size_t size = KEY("account") ? sizeof(r->account)
			      : KEY("dc")    ? sizeof(r->dc)
					     : sizeof(r->reason);
		bit = KEY("account") ? K_ACCOUNT : KEY("dc") ? K_DC : K_REASON;
		if (strlen(val) >= size)
			return false;
		strcpy(dst, val);
	} else if (KEY("result")) {
		bit = K_RESULT;
		if (!parse_result(val, &r->result))
			return false;
	} else if (KEY("exit") || KEY("signal")) {
		bit = KEY("exit") ? K_EXIT : K_SIGNAL;
		if (textrec_parse_int(val, true, INT_MIN, INT_MAX, &n) < 0)
			return false;
		*(bit == K_EXIT ? &r->exit_code : &r->signal) = (int)n;
	} else if (KEY("ms")) {
		bit = K_MS;
		if (textrec_parse_int(val, true, -1, LONG_MAX, &n) < 0)
			return false;
		r->duration_ms = (long)n;
	} else if (KEY("started") || KEY("succeeded")) {
		bit = KEY("started") ? K_STARTED : K_SUCCEEDED;
		if (textrec_parse_int(val, true, 0, 1, &n) < 0)
			return false;
		*(bit == K_STARTED ? &r->started : &r->succeeded) = n != 0;
	} else if (KEY("seq") || KEY("next")) {
		bit = KEY("seq") ? K_SEQ : K_NEXT;
		/* Below 2^63 - 1: every sequence fits the signed form written back. */
		if (textrec_parse_int(val, true, 0, HISTORY_SEQ_MAX - 1, &n) < 0)
			return false;
		r->seq = (uint64_t)n;
	} else {
		return true;
	}
#undef KEY
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

/* One line without its newline into r; false when it is not a whole, valid record. */
bool histrec_parse(const char *s, size_t n, struct rec *r)
{
	if (n < PREFIX_LEN + 1 || memcmp(s, LOG_VERSION " ", sizeof(LOG_VERSION)) != 0 ||
	    s[PREFIX_LEN - 1] != ' ' || memchr(s, '\0', n))
		return false;
	char hex[SUM_HEX + 1];
	textrec_sha256_hex(s + PREFIX_LEN, n - PREFIX_LEN, hex, SUM_HEX);
	if (memcmp(s + sizeof(LOG_VERSION), hex, SUM_HEX) != 0)
		return false;

	*r = (struct rec){ 0 };
	const char *p = s + PREFIX_LEN, *end = s + n;
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	size_t klen = (size_t)((sp ? sp : end) - p);
	int kind = -1;
	for (int k = 0; k < (int)(sizeof(kind_names) / sizeof(kind_names[0])); k++)
		if (klen == strlen(kind_names[k]) && memcmp(p, kind_names[k], klen) == 0)
			kind = k;
	if (kind < 0)
		return false;
	r->kind = (enum rec_kind)kind;

	unsigned seen = 0;
	for (p = sp; p && p < end;) {
		p++; /* the space */
		sp = memchr(p, ' ', (size_t)(end - p));
		const char *fend = sp ? sp : end;
		const char *eq = memchr(p, '=', (size_t)(fend - p));
		if (!eq || eq == p)
			return false;
		if (!parse_field(r, p, (size_t)(eq - p), eq + 1, (size_t)(fend - eq - 1), &seen))
			return false;
		p = sp;
	}
	/* Exactly the keys of its kind: a known key of another kind is damage, not data. */
	if ((seen & ~optional[r->kind]) != required[r->kind])
		return false;
	/* An end always has a result. */
	return r->kind != REC_END || r->result != RUN_NONE;
}

/* --- reading the log line by line ------------------------------------------------------ */

struct reader {
	int fd;
	uint64_t limit; /* read no further */
	char *buf;
	size_t len, pos;
	uint64_t base; /* file offset of buf[0] */
	bool eof;
};

/* The next line: 1 with *ret_line/len (no newline), its offset, and whether it ended with
 * a newline; too long lines come back with *ret_line NULL. 0 at the end; -errno. */
static int reader_next(struct reader *r, const char **ret_line, size_t *ret_len, uint64_t *ret_off,
		       bool *ret_complete)
{
	bool skipping = false;
	uint64_t skip_off = 0;
	for (;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (nl) {
			size_t n = (size_t)(nl - (r->buf + r->pos));
			*ret_off = skipping ? skip_off : r->base + r->pos;
			*ret_line = skipping || n > LINE_MAX_LEN ? NULL : r->buf + r->pos;
			*ret_len = n;
			*ret_complete = true;
			r->pos += n + 1;
			return 1;
		}
		if (!skipping && r->len - r->pos > LINE_MAX_LEN) {
			/* Not one of ours: skip to the next newline. */
			skipping = true;
			skip_off = r->base + r->pos;
		}
		if (r->eof) {
			if (!skipping && r->pos == r->len)
				return 0;
			*ret_off = skipping ? skip_off : r->base + r->pos;
			*ret_line = skipping ? NULL : r->buf + r->pos;
			*ret_len = r->len - r->pos;
			*ret_complete = false;
			r->pos = r->len;
			return 1;
		}
		if (skipping) {
			r->base += r->len;
			r->len = r->pos = 0;
		} else {
			memmove(r->buf, r->buf + r->pos, r->len - r->pos);
			r->base += r->pos;
			r->len -= r->pos;
			r->pos = 0;
		}
		uint64_t at = r->base + r->len;
		size_t want = READ_CHUNK - r->len;
		if (at >= r->limit)
			want = 0;
		else if (r->limit - at < want)
			want = (size_t)(r->limit - at);
		ssize_t k = 0;
		if (want > 0) {
			k = pread(r->fd, r->buf + r->len, want, (off_t)at);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
		}
		if (k == 0)
			r->eof = true;
		r->len += (size_t)k;
	}
}

int histrec_scan(int fd, uint64_t limit,
		 int (*fn)(void *data, const struct rec *r, uint64_t off, size_t len),
		 void (*bad)(void *data, const char *line, size_t len), void *data,
		 struct scan *ret)
{
	struct scan sc = { 0 };
	struct reader rd = { .fd = fd, .limit = limit };
	struct rec *rec = malloc(sizeof(*rec));
	rd.buf = malloc(READ_CHUNK);
	/* A complete invalid line is damage unless it is the last and holds NUL bytes: what
	 * a crash leaves when the sector with the newline reached the disk and one before it
	 * did not. So its verdict waits for the next line. */
	char *pending = malloc(LINE_MAX_LEN + 1);
	size_t pending_len = 0;
	uint64_t pending_end = 0;
	bool have_pending = false;
	int r = rec && rd.buf && pending ? 0 : -ENOMEM;
	while (r == 0) {
		const char *line = NULL;
		size_t len = 0;
		uint64_t off = 0;
		bool complete = false;
		int k = reader_next(&rd, &line, &len, &off, &complete);
		if (k <= 0) {
			r = k;
			break;
		}
		if (have_pending) {
			/* Damage stays in the log (never cut as if torn): it is evidence. */
			sc.damaged++;
			sc.end = pending_end;
			if (bad)
				bad(data, pending, pending_len);
			have_pending = false;
		}
		sc.last_off = off;
		if (line && complete && histrec_parse(line, len, rec)) {
			sc.valid++;
			sc.last_invalid = false;
			sc.end = off + len + 1;
			if (fn)
				r = fn(data, rec, off, len + 1);
		} else {
			sc.invalid++;
			sc.last_invalid = true;
			if (complete) {
				have_pending = true;
				pending_end = off + len + 1;
				pending_len = line ? len : 0;
				if (line)
					memcpy(pending, line, len);
				sc.last_nul = !line || memchr(line, '\0', len) != NULL;
				if (!sc.last_nul)
					sc.last_invalid = false;
			}
		}
	}
	if (r == 0 && have_pending && !sc.last_nul) {
		sc.damaged++;
		sc.end = pending_end;
		if (bad)
			bad(data, pending, pending_len);
	}
	free(pending);
	free(rec);
	free(rd.buf);
	if (r == 0 && ret)
		*ret = sc;
	return r;
}

/* Run history: one append-only log of checksummed text records, made durable before a
 * program starts and after it ends, read back into per-advertisement summaries, and
 * compacted by an atomic rewrite that keeps what "never rerun" depends on forever. */
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

/* One record per line:
 *   v1 <sum> <kind> key=value …\n
 * sum: the first 64 bits of SHA-256 over everything after "v1 <sum> " up to the newline,
 * in hex. Values escape every byte outside 0x21..0x7e, and the backslash, as \xHH, so a
 * value can hold neither a space nor a newline. Kinds:
 *   start   run advert time boot account
 *   end     run advert start time result exit signal ms dc account reason
 *   summary advert started succeeded result start end seq
 *   seq     next
 *   damage                 (compaction: the log it replaced had damaged records)
 *   clear   advert         (an admin cleared the damage hold of advert)
 *   clearall               (… of every advertisement)
 * A record is complete only with its newline: a torn write never counts; a complete
 * line that is not a valid record is damage. */
#define LOG_NAME     "history.log"
#define TMP_NAME     LOG_NAME TEXTREC_TMP_SUFFIX
#define LOG_VERSION  "v1"
#define SUM_HEX      16
#define LINE_MAX_LEN 4096 /* every field at its longest, escaped, fits */
#define READ_CHUNK   65536
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
/* Compaction at open: when at most a quarter of the log would survive it, or the log is
 * past 1 MiB and at most half would; never for a few records. */
#define COMPACT_SIZE        (UINT64_C(1) << 20)
#define COMPACT_MIN_RECORDS 64

#define TIME_T_MAX      ((time_t)((UINTMAX_C(1) << (sizeof(time_t) * CHAR_BIT - 1)) - 1))
#define HISTORY_SEQ_MAX (INT64_MAX - 1)
#define TIME_T_MIN      (-TIME_T_MAX - 1)

/* --- records ------------------------------------------------------------------------- */

enum rec_kind { REC_START, REC_END, REC_SUMMARY, REC_SEQ, REC_DAMAGE, REC_CLEAR, REC_CLEAR_ALL };

struct rec {
	enum rec_kind kind;
	uint64_t seq; /* the run's (start, end), the latest run's (summary), next (seq) */
	char advert_id[ADV_ID_MAX + 1];
	time_t start;
	time_t time; /* start: when it started; end: when it ended; summary: last end */
	char boot_id[HISTORY_BOOT_ID_MAX];
	char account[HISTORY_ACCOUNT_MAX];
	enum run_result result;
	int exit_code;
	int signal;
	long duration_ms;
	char dc[HISTORY_DC_MAX];
	char reason[HISTORY_REASON_MAX];
	bool started, succeeded; /* summary */
};

static const char *const kind_names[] = {
	[REC_START] = "start",        [REC_END] = "end",
	[REC_SUMMARY] = "summary",    [REC_SEQ] = "seq",
	[REC_DAMAGE] = "damage",      [REC_CLEAR] = "clear",
	[REC_CLEAR_ALL] = "clearall",
};

struct line {
	char data[LINE_MAX_LEN + 1];
	size_t len;
	bool overflow;
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
	snprintf(id, sizeof(id), "r%08" PRIu64, seq);
	line_field(l, "run", id, SIZE_MAX);
}

#define PREFIX_LEN (sizeof(LOG_VERSION) - 1 + 1 + SUM_HEX + 1)

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

static int format_rec(const struct rec *r, struct line *l)
{
	line_begin(l, r->kind);
	switch (r->kind) {
	case REC_START:
		line_run_id(l, r->seq);
		line_field(l, "advert", r->advert_id, SIZE_MAX);
		line_num(l, "time", r->time);
		line_field(l, "boot", r->boot_id, SIZE_MAX);
		line_field(l, "account", r->account, HISTORY_ACCOUNT_MAX - 1);
		break;
	case REC_END:
		line_run_id(l, r->seq);
		line_field(l, "advert", r->advert_id, SIZE_MAX);
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

static bool parse_run_id(const char *s, uint64_t *ret)
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

static bool boot_id_valid(const char *s)
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
		if (!parse_run_id(val, &r->seq))
			return false;
	} else if (KEY("advert")) {
		bit = K_ADVERT;
		if (strlen(val) > ADV_ID_MAX || !advert_id_valid(val))
			return false;
		strcpy(r->advert_id, val);
	} else if (KEY("time") || KEY("start") || KEY("end")) {
		bit = KEY("start") ? K_START : KEY("end") ? K_END : K_TIME;
		if (textrec_parse_int(val, true, TIME_T_MIN, TIME_T_MAX, &n) < 0)
			return false;
		if (bit == K_START)
			r->start = (time_t)n;
		else
			r->time = (time_t)n;
	} else if (KEY("boot")) {
		bit = K_BOOT;
		if (strlen(val) >= sizeof(r->boot_id) || !boot_id_valid(val))
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
static bool parse_rec(const char *s, size_t n, struct rec *r)
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
	if (seen != required[r->kind])
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

/* Calls fn for each valid record up to limit; fn returns 0 or -errno (which stops the
 * scan). Counts what it skipped, and reports where the last line begins when that line
 * is not a valid record, so the caller can cut a torn tail. */
struct scan {
	size_t valid, invalid;
	size_t damaged;    /* complete lines that are not valid records */
	bool last_invalid; /* the last line is torn: no newline, or NUL bytes in it */
	bool last_nul;     /* the last invalid complete line held a NUL */
	uint64_t last_off; /* start of the last line */
	uint64_t end;      /* just after the last valid record */
};

static int scan_log(int fd, uint64_t limit,
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
		if (line && complete && parse_rec(line, len, rec)) {
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

/* --- the in-memory summary -------------------------------------------------------------- */

struct entry {
	char id[ADV_ID_MAX + 1];
	size_t index; /* in history.entries */
	struct schedule_history sum;
	uint64_t last_seq; /* the run the summary's last_* describe */
	size_t runs;       /* start records seen, for the compaction trigger */
	unsigned open;     /* runs started and not ended */
	unsigned cleared;  /* the damage epoch an admin cleared it at */
};

struct open_run {
	uint64_t seq;
	size_t entry;
	time_t start;
	/* The summary as it was before this start: a run that ends "not started" puts it
	 * back, so a program that never ran does not count as having run. */
	struct schedule_history before;
	uint64_t before_seq;
	char boot_id[HISTORY_BOOT_ID_MAX];
	char account[HISTORY_ACCOUNT_MAX];
};

struct history {
	int dfd; /* the state directory */
	int fd;  /* the log; -1 when there is none and it cannot be created */
	int write_error;
	char boot_id[HISTORY_BOOT_ID_MAX];
	uint64_t next_seq;
	uint64_t end;    /* the log's valid length: appends go here */
	bool tail_dirty; /* bytes past end (torn, or a failed append) to cut first */

	/* Each entry allocated on its own, so the summaries handed out never move. */
	struct entry **entries;
	size_t n_entries, cap_entries;
	uint32_t *slots; /* open addressing over entries: index + 1, 0 empty */
	size_t n_slots;  /* a power of two */

	struct open_run *opens;
	size_t n_opens, cap_opens;

	/* Damage: each damaged record (or a compacted log that had some) starts a new epoch;
	 * an advertisement cleared at the current epoch, or all of them, is not held. */
	unsigned damage_epoch, cleared_all;
	struct schedule_history empty; /* an unknown advertisement's summary */

	struct history_stats stats;
};

static uint64_t id_hash(const char *id)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		h ^= *p;
		h *= UINT64_C(0x100000001b3);
	}
	return h ^ (h >> 29);
}

static struct entry *lookup(const struct history *h, const char *id)
{
	if (!h->n_slots)
		return NULL;
	size_t mask = h->n_slots - 1;
	for (size_t i = (size_t)id_hash(id) & mask;; i = (i + 1) & mask) {
		uint32_t s = h->slots[i];
		if (!s)
			return NULL;
		if (strcmp(h->entries[s - 1]->id, id) == 0)
			return h->entries[s - 1];
	}
}

static int rehash(struct history *h, size_t n_slots)
{
	uint32_t *slots = calloc(n_slots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t e = 0; e < h->n_entries; e++) {
		size_t i = (size_t)id_hash(h->entries[e]->id) & (n_slots - 1);
		while (slots[i])
			i = (i + 1) & (n_slots - 1);
		slots[i] = (uint32_t)(e + 1);
	}
	free(h->slots);
	h->slots = slots;
	h->n_slots = n_slots;
	return 0;
}

/* The entry for id, created empty when new; NULL only when out of memory. */
static struct entry *get_entry(struct history *h, const char *id)
{
	struct entry *e = lookup(h, id);
	if (e)
		return e;
	if (h->n_entries >= UINT32_MAX - 1)
		return NULL;
	if (h->n_entries == h->cap_entries) {
		size_t cap = h->cap_entries ? 2 * h->cap_entries : 64;
		struct entry **n = realloc(h->entries, cap * sizeof(*n));
		if (!n)
			return NULL;
		h->entries = n;
		h->cap_entries = cap;
	}
	/* At most 70% full, so probes stay short. */
	if ((h->n_entries + 1) * 10 > h->n_slots * 7 &&
	    rehash(h, h->n_slots ? 2 * h->n_slots : 128) < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->index = h->n_entries;
	h->entries[h->n_entries] = e;
	snprintf(e->id, sizeof(e->id), "%s", id);
	size_t mask = h->n_slots - 1;
	size_t i = (size_t)id_hash(id) & mask;
	while (h->slots[i])
		i = (i + 1) & mask;
	h->slots[i] = (uint32_t)(++h->n_entries);
	return e;
}

static int reserve_open(struct history *h)
{
	if (h->n_opens < h->cap_opens)
		return 0;
	size_t cap = h->cap_opens ? 2 * h->cap_opens : 8;
	struct open_run *n = realloc(h->opens, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	h->opens = n;
	h->cap_opens = cap;
	return 0;
}

static struct open_run *find_open(struct history *h, uint64_t seq)
{
	for (size_t i = 0; i < h->n_opens; i++)
		if (h->opens[i].seq == seq)
			return &h->opens[i];
	return NULL;
}

static void drop_open(struct history *h, struct open_run *o)
{
	struct entry *e = h->entries[o->entry];
	e->open--;
	e->sum.running = e->open > 0;
	size_t i = (size_t)(o - h->opens);
	memmove(o, o + 1, (h->n_opens - i - 1) * sizeof(*o));
	h->n_opens--;
}

static void seen_seq(struct history *h, uint64_t seq)
{
	if (seq >= h->next_seq)
		h->next_seq = seq + 1;
}

/* Applies one valid record to the summaries. Needs reserve_open to have succeeded for a
 * start record. */
static void apply(struct history *h, struct entry *e, const struct rec *r)
{
	switch (r->kind) {
	case REC_START: {
		struct open_run *o = find_open(h, r->seq);
		if (o && o->entry != e->index) {
			/* One run id for two advertisements: not a history we wrote. */
			h->damage_epoch++;
			h->stats.skipped++;
			seen_seq(h, r->seq);
			break;
		}
		if (!o) {
			o = &h->opens[h->n_opens++];
			*o = (struct open_run){ .seq = r->seq,
						.entry = e->index,
						.start = r->time,
						.before = e->sum,
						.before_seq = e->last_seq };
			snprintf(o->boot_id, sizeof(o->boot_id), "%s", r->boot_id);
			snprintf(o->account, sizeof(o->account), "%s", r->account);
			e->open++;
		}
		e->runs++;
		e->sum.ever_started = true;
		e->sum.running = true;
		if (r->seq >= e->last_seq) {
			e->last_seq = r->seq;
			e->sum.last_start = r->time;
		}
		seen_seq(h, r->seq);
		break;
	}
	case REC_END: {
		struct open_run *o = find_open(h, r->seq);
		if (r->result == RUN_NOT_STARTED) {
			if (o && o->entry == e->index) {
				e->sum = o->before;
				e->last_seq = o->before_seq;
				drop_open(h, o);
			}
			seen_seq(h, r->seq);
			break;
		}
		if (o && o->entry == e->index)
			drop_open(h, o);
		e->sum.ever_started = true;
		if (r->result == RUN_SUCCEEDED || r->result == RUN_SUCCEEDED_REBOOT)
			e->sum.ever_succeeded = true;
		/* An end older than the latest start must not overwrite what that run says. */
		if (r->seq >= e->last_seq) {
			e->last_seq = r->seq;
			if (r->start)
				e->sum.last_start = r->start;
			e->sum.last_end = r->time;
			e->sum.last_result = r->result;
		}
		seen_seq(h, r->seq);
		break;
	}
	case REC_SUMMARY:
		e->sum.ever_started |= r->started;
		e->sum.ever_succeeded |= r->succeeded;
		if (r->seq >= e->last_seq && !e->open) {
			e->last_seq = r->seq;
			e->sum.last_result = r->result;
			e->sum.last_start = r->start;
			e->sum.last_end = r->time;
		}
		if (r->seq)
			seen_seq(h, r->seq);
		break;
	case REC_SEQ:
		if (r->seq > h->next_seq)
			h->next_seq = r->seq;
		break;
	case REC_DAMAGE:
		h->damage_epoch++;
		break;
	case REC_CLEAR:
		e->cleared = h->damage_epoch;
		break;
	case REC_CLEAR_ALL:
		h->cleared_all = h->damage_epoch;
		break;
	}
}

static bool held(const struct history *h, const struct entry *e)
{
	return h->damage_epoch > h->cleared_all && (!e || h->damage_epoch > e->cleared);
}

/* Brings every summary's damaged flag up to date. */
static void refresh_damage(struct history *h)
{
	for (size_t i = 0; i < h->n_entries; i++)
		h->entries[i]->sum.damaged = held(h, h->entries[i]);
	h->empty.damaged = held(h, NULL);
}

/* A complete line that is not a valid record: damage. Its run id, if one can still be
 * read, joins the high-water mark, so that id is never handed out again. */
static void damaged_line(void *data, const char *line, size_t len)
{
	struct history *h = data;
	h->damage_epoch++;
	for (size_t i = 0; line && i + 5 < len; i++) {
		if ((i == 0 || line[i - 1] == ' ') && memcmp(line + i, "run=r", 5) == 0) {
			uint64_t v = 0;
			size_t k = i + 5;
			while (k < len && line[k] >= '0' && line[k] <= '9' &&
			       v < HISTORY_SEQ_MAX / 10)
				v = v * 10 + (uint64_t)(line[k++] - '0');
			if (v > 0 && v < HISTORY_SEQ_MAX)
				seen_seq(h, v);
		}
	}
}

static int load_record(void *data, const struct rec *r, uint64_t off, size_t len)
{
	struct history *h = data;
	if (r->kind == REC_SEQ || r->kind == REC_DAMAGE || r->kind == REC_CLEAR_ALL) {
		apply(h, NULL, r);
		return 0;
	}
	struct entry *e = get_entry(h, r->advert_id);
	if (!e || reserve_open(h) < 0)
		return -ENOMEM;
	apply(h, e, r);
	return 0;
}

/* --- writing ------------------------------------------------------------------------- */

/* Appends sealed records and makes them durable. On failure the log is cut back to its
 * valid length (or will be before the next append), so a half-written record can never
 * glue itself to the next one. */
static int append(struct history *h, const char *data, size_t len, size_t records)
{
	if (h->write_error)
		return h->write_error;
	if (h->tail_dirty) {
		if (ftruncate(h->fd, (off_t)h->end) < 0)
			return -errno;
		h->tail_dirty = false;
	}
	int r = textrec_write_all(h->fd, data, len);
	if (r == 0 && fdatasync(h->fd) < 0)
		r = -errno;
	if (r < 0) {
		/* After a failed fdatasync the record may still reach the disk; if it does,
		 * the next start reconciles it as interrupted: at most once, never twice. */
		if (ftruncate(h->fd, (off_t)h->end) < 0)
			h->tail_dirty = true;
		return r;
	}
	h->end += len;
	h->stats.records += records;
	return 0;
}

static void run_id_of(uint64_t seq, char id[HISTORY_RUN_ID_MAX])
{
	snprintf(id, HISTORY_RUN_ID_MAX, "r%08" PRIu64, seq);
}

int history_begin(struct history *h, const char *advert_id, const char *account, time_t now,
		  char ret_run_id[HISTORY_RUN_ID_MAX])
{
	if (strlen(advert_id) > ADV_ID_MAX || !advert_id_valid(advert_id))
		return -EINVAL;
	if (h->write_error)
		return h->write_error;
	struct entry *e = lookup(h, advert_id);
	if (e && e->sum.running)
		return -EBUSY;
	if (h->next_seq >= HISTORY_SEQ_MAX)
		return -EOVERFLOW; /* never wrap around to an id already used */
	/* Memory first: once the record is durable nothing may fail. */
	e = get_entry(h, advert_id);
	if (!e || reserve_open(h) < 0)
		return -ENOMEM;
	e->sum.damaged = held(h, e);

	struct rec *rec = calloc(1, sizeof(*rec));
	struct line *l = malloc(sizeof(*l));
	int r = rec && l ? 0 : -ENOMEM;
	if (r == 0) {
		/* Taken even if the append fails: a record that reached the disk anyway must
		 * not share its id with the next run. */
		rec->kind = REC_START;
		rec->seq = h->next_seq++;
		snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", advert_id);
		rec->time = now;
		snprintf(rec->boot_id, sizeof(rec->boot_id), "%s", h->boot_id);
		snprintf(rec->account, sizeof(rec->account), "%s", account ? account : "");
		r = format_rec(rec, l);
	}
	if (r == 0)
		r = append(h, l->data, l->len, 1);
	if (r == 0) {
		apply(h, e, rec);
		run_id_of(rec->seq, ret_run_id);
	}
	free(rec);
	free(l);
	return r;
}

/* The end record of an open run. */
static void end_rec(const struct history *h, const struct open_run *o, enum run_result result,
		    int exit_code, int signal, long duration_ms, const char *dc, const char *reason,
		    time_t now, struct rec *rec)
{
	*rec = (struct rec){ .kind = REC_END,
			     .seq = o->seq,
			     .start = o->start,
			     .time = now,
			     .result = result,
			     .exit_code = exit_code,
			     .signal = signal,
			     .duration_ms = duration_ms < -1 ? -1 : duration_ms };
	snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", h->entries[o->entry]->id);
	snprintf(rec->dc, sizeof(rec->dc), "%s", dc ? dc : "");
	snprintf(rec->account, sizeof(rec->account), "%s", o->account);
	snprintf(rec->reason, sizeof(rec->reason), "%s", reason ? reason : "");
}

int history_end(struct history *h, const char *run_id, enum run_result result, int exit_code,
		int signal, long duration_ms, const char *dc, const char *reason, time_t now)
{
	if (result == RUN_NONE || (unsigned)result > RUN_NOT_STARTED)
		return -EINVAL;
	uint64_t seq;
	if (!parse_run_id(run_id, &seq))
		return -ENOENT;
	struct open_run *o = find_open(h, seq);
	if (!o)
		return -ENOENT;
	struct entry *e = h->entries[o->entry];
	struct rec *rec = malloc(sizeof(*rec));
	struct line *l = malloc(sizeof(*l));
	int r = rec && l ? 0 : -ENOMEM;
	if (r == 0) {
		end_rec(h, o, result, exit_code, signal, duration_ms, dc, reason, now, rec);
		r = format_rec(rec, l);
	}
	if (r == 0)
		r = append(h, l->data, l->len, 1);
	if (r == 0)
		apply(h, e, rec);
	free(rec);
	free(l);
	return r;
}

static int cmp_open(const void *a, const void *b)
{
	const struct open_run *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *interrupted_why(const struct history *h, const struct open_run *o,
				   bool *ret_other_boot)
{
	bool known = o->boot_id[0] && h->boot_id[0];
	*ret_other_boot = known && strcmp(o->boot_id, h->boot_id) != 0;
	if (!known)
		return "interrupted: its end was never recorded";
	return *ret_other_boot ? "interrupted: the system restarted during the run"
			       : "interrupted: advertd stopped during the run";
}

int history_reconcile(struct history *h, time_t now,
		      void (*cb)(void *data, const struct history_run *run), void *data)
{
	if (h->n_opens == 0)
		return 0;
	if (h->write_error)
		return h->write_error;
	qsort(h->opens, h->n_opens, sizeof(*h->opens), cmp_open);

	/* All the ends in one write and one fdatasync: after a crash with many runs open,
	 * start-up should not wait for one disk flush each. */
	struct rec *rec = malloc(sizeof(*rec));
	struct line *l = malloc(sizeof(*l));
	struct history_run *run = malloc(sizeof(*run));
	char *batch = NULL;
	size_t len = 0, cap = 0;
	int r = rec && l && run ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < h->n_opens; i++) {
		bool other_boot;
		const char *why = interrupted_why(h, &h->opens[i], &other_boot);
		end_rec(h, &h->opens[i], RUN_INTERRUPTED, 0, 0, -1, NULL, why, now, rec);
		r = format_rec(rec, l);
		if (r == 0 && len + l->len > cap) {
			size_t ncap = cap ? 2 * cap : 8192;
			while (ncap < len + l->len)
				ncap *= 2;
			char *n = realloc(batch, ncap);
			if (n) {
				batch = n;
				cap = ncap;
			} else {
				r = -ENOMEM;
			}
		}
		if (r == 0) {
			memcpy(batch + len, l->data, l->len);
			len += l->len;
		}
	}
	/* A copy to walk: the callback may begin new runs. */
	size_t n = h->n_opens;
	struct open_run *done = r == 0 ? malloc(n * sizeof(*done)) : NULL;
	if (r == 0 && !done)
		r = -ENOMEM;
	if (r == 0) {
		memcpy(done, h->opens, n * sizeof(*done));
		r = append(h, batch, len, n);
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct open_run o = done[i];
		bool other_boot;
		const char *why = interrupted_why(h, &o, &other_boot);
		end_rec(h, &o, RUN_INTERRUPTED, 0, 0, -1, NULL, why, now, rec);
		apply(h, h->entries[o.entry], rec); /* drops it from the open runs */
		*run = (struct history_run){ .start = o.start,
					     .ended = true,
					     .end = now,
					     .result = RUN_INTERRUPTED,
					     .duration_ms = -1,
					     .other_boot = other_boot };
		run_id_of(o.seq, run->run_id);
		snprintf(run->advert_id, sizeof(run->advert_id), "%s", h->entries[o.entry]->id);
		snprintf(run->account, sizeof(run->account), "%s", o.account);
		snprintf(run->boot_id, sizeof(run->boot_id), "%s", o.boot_id);
		snprintf(run->reason, sizeof(run->reason), "%s", why);
		if (cb)
			cb(data, run);
	}
	free(done);
	free(batch);
	free(run);
	free(l);
	free(rec);
	return r;
}

int history_clear_damage(struct history *h, const char *advert_id)
{
	if (advert_id && (strlen(advert_id) > ADV_ID_MAX || !advert_id_valid(advert_id)))
		return -EINVAL;
	if (!held(h, advert_id ? lookup(h, advert_id) : NULL) && advert_id)
		return 0;
	struct entry *e = advert_id ? get_entry(h, advert_id) : NULL;
	if (advert_id && !e)
		return -ENOMEM;
	struct rec rec = { .kind = advert_id ? REC_CLEAR : REC_CLEAR_ALL };
	if (advert_id)
		snprintf(rec.advert_id, sizeof(rec.advert_id), "%s", advert_id);
	struct line *l = malloc(sizeof(*l));
	int r = l ? format_rec(&rec, l) : -ENOMEM;
	if (r == 0)
		r = append(h, l->data, l->len, 1);
	free(l);
	if (r < 0)
		return r;
	if (e)
		e->cleared = h->damage_epoch;
	else
		h->cleared_all = h->damage_epoch;
	refresh_damage(h);
	h->stats.damaged = h->damage_epoch > h->cleared_all;
	return 0;
}

const struct schedule_history *history_summary(const struct history *h, const char *advert_id)
{
	const struct entry *e = lookup(h, advert_id);
	return e ? &e->sum : &h->empty;
}

/* --- listing ----------------------------------------------------------------------------- */

struct list_ctx {
	const char *advert_id;
	size_t max;
	struct history_run *runs; /* ascending by run sequence, at most max */
	uint64_t *seqs;
	size_t n, cap;
};

static int list_record(void *data, const struct rec *r, uint64_t off, size_t len)
{
	struct list_ctx *c = data;
	if (r->kind != REC_START && r->kind != REC_END)
		return 0;
	if (c->advert_id && strcmp(c->advert_id, r->advert_id) != 0)
		return 0;

	/* Find the run, or where it would go. */
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->seqs[mid] < r->seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	struct history_run *run;
	if (lo < c->n && c->seqs[lo] == r->seq) {
		run = &c->runs[lo];
	} else {
		if (c->n == c->max) {
			if (lo == 0)
				return 0; /* older than every run kept */
			/* Drop the oldest to make room. */
			memmove(c->runs, c->runs + 1, (lo - 1) * sizeof(*c->runs));
			memmove(c->seqs, c->seqs + 1, (lo - 1) * sizeof(*c->seqs));
			lo--;
		} else {
			if (c->n == c->cap) {
				size_t cap = c->cap ? 2 * c->cap : 16;
				if (cap > c->max)
					cap = c->max;
				struct history_run *nr = realloc(c->runs, cap * sizeof(*nr));
				if (!nr)
					return -ENOMEM;
				c->runs = nr;
				uint64_t *ns = realloc(c->seqs, cap * sizeof(*ns));
				if (!ns)
					return -ENOMEM;
				c->seqs = ns;
				c->cap = cap;
			}
			memmove(c->runs + lo + 1, c->runs + lo, (c->n - lo) * sizeof(*c->runs));
			memmove(c->seqs + lo + 1, c->seqs + lo, (c->n - lo) * sizeof(*c->seqs));
			c->n++;
		}
		run = &c->runs[lo];
		c->seqs[lo] = r->seq;
		*run = (struct history_run){ .duration_ms = -1 };
		run_id_of(r->seq, run->run_id);
		snprintf(run->advert_id, sizeof(run->advert_id), "%s", r->advert_id);
	}
	snprintf(run->account, sizeof(run->account), "%s", r->account);
	if (r->kind == REC_START) {
		run->start = r->time;
		snprintf(run->boot_id, sizeof(run->boot_id), "%s", r->boot_id);
	} else {
		if (r->start)
			run->start = r->start;
		run->ended = true;
		run->end = r->time;
		run->result = r->result;
		run->exit_code = r->exit_code;
		run->signal = r->signal;
		run->duration_ms = r->duration_ms;
		snprintf(run->dc, sizeof(run->dc), "%s", r->dc);
		snprintf(run->reason, sizeof(run->reason), "%s", r->reason);
	}
	return 0;
}

int history_list(const struct history *h, const char *advert_id, size_t max,
		 void (*cb)(void *data, const struct history_run *run), void *data)
{
	if (max == 0 || h->fd < 0)
		return 0;
	struct list_ctx c = { .advert_id = advert_id, .max = max };
	int r = scan_log(h->fd, h->end, list_record, NULL, &c, NULL);
	if (r == 0)
		for (size_t i = c.n; i-- > 0;)
			cb(data, &c.runs[i]);
	free(c.runs);
	free(c.seqs);
	return r;
}

/* --- compaction ---------------------------------------------------------------------------- */

struct keep {
	uint64_t seq;
	uint64_t off[2]; /* start and end records; UINT64_MAX: none */
	uint32_t len[2];
};

struct span {
	uint64_t off;
	uint32_t len;
};

struct compact_ctx {
	struct history *h;
	struct keep **rings; /* per entry, HISTORY_KEEP_RUNS slots ascending by seq, or NULL */
	size_t *n_ring;
	/* Which advertisement each run id belongs to: the first record that names it, as
	 * loading decided (a later start of another advertisement with that id was damage
	 * and must not take the run over in the rewritten log). Open addressing; slot:
	 * seq, and entry index + 1 (0: empty). */
	struct owner {
		uint64_t seq;
		size_t entry;
	} * owners;
	size_t cap_owners, n_owners;
};

/* The owner of seq (entry index + 1), recording ei as it when there is none yet; 0 when
 * out of memory. */
static size_t run_owner(struct compact_ctx *c, uint64_t seq, size_t ei)
{
	if (2 * (c->n_owners + 1) > c->cap_owners) {
		size_t cap = c->cap_owners ? 2 * c->cap_owners : 1024;
		struct owner *o = calloc(cap, sizeof(*o));
		if (!o)
			return 0;
		for (size_t i = 0; i < c->cap_owners; i++) {
			if (!c->owners[i].entry)
				continue;
			size_t k = (size_t)util_fnv1a(UTIL_FNV_OFFSET, &c->owners[i].seq, 8) &
				   (cap - 1);
			while (o[k].entry)
				k = (k + 1) & (cap - 1);
			o[k] = c->owners[i];
		}
		free(c->owners);
		c->owners = o, c->cap_owners = cap;
	}
	size_t k = (size_t)util_fnv1a(UTIL_FNV_OFFSET, &seq, 8) & (c->cap_owners - 1);
	for (; c->owners[k].entry; k = (k + 1) & (c->cap_owners - 1))
		if (c->owners[k].seq == seq)
			return c->owners[k].entry;
	c->owners[k] = (struct owner){ .seq = seq, .entry = ei + 1 };
	c->n_owners++;
	return ei + 1;
}

static int compact_record(void *data, const struct rec *r, uint64_t off, size_t len)
{
	struct compact_ctx *c = data;
	if (r->kind != REC_START && r->kind != REC_END)
		return 0;
	/* Open runs are written from memory: they must survive whatever the log holds. */
	if (find_open(c->h, r->seq))
		return 0;
	struct entry *e = lookup(c->h, r->advert_id);
	if (!e)
		return 0;
	size_t ei = e->index;
	size_t owner = run_owner(c, r->seq, ei);
	if (owner == 0)
		return -ENOMEM;
	if (owner != ei + 1)
		return 0; /* another advertisement's run id: damage, dropped */
	if (!c->rings[ei]) {
		c->rings[ei] = calloc(HISTORY_KEEP_RUNS, sizeof(struct keep));
		if (!c->rings[ei])
			return -ENOMEM;
	}
	struct keep *ring = c->rings[ei];
	size_t *n = &c->n_ring[ei];
	int which = r->kind == REC_END;
	size_t i;
	for (i = 0; i < *n && ring[i].seq != r->seq; i++)
		;
	if (i == *n) {
		/* A new run: keep the newest HISTORY_KEEP_RUNS by sequence. */
		size_t pos = *n;
		while (pos > 0 && ring[pos - 1].seq > r->seq)
			pos--;
		if (*n == HISTORY_KEEP_RUNS) {
			if (pos == 0)
				return 0;
			memmove(ring, ring + 1, (pos - 1) * sizeof(*ring));
			pos--;
		} else {
			memmove(ring + pos + 1, ring + pos, (*n - pos) * sizeof(*ring));
			(*n)++;
		}
		ring[pos] = (struct keep){ .seq = r->seq, .off = { UINT64_MAX, UINT64_MAX } };
		i = pos;
	}
	/* The first start of a run is the one loading applied; its last end is the one that
	 * stands. */
	if (which == 0 && ring[i].off[0] != UINT64_MAX)
		return 0;
	ring[i].off[which] = off;
	ring[i].len[which] = (uint32_t)len;
	return 0;
}

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

struct out {
	int fd;
	char buf[READ_CHUNK];
	size_t len;
	uint64_t total;
	size_t records;
};

static int out_add(struct out *o, const char *data, size_t len)
{
	o->total += len;
	if (len > sizeof(o->buf) - o->len) {
		int r = textrec_write_all(o->fd, o->buf, o->len);
		o->len = 0;
		if (r < 0)
			return r;
	}
	if (len > sizeof(o->buf))
		return textrec_write_all(o->fd, data, len);
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

static int out_rec(struct out *o, const struct rec *r, struct line *l)
{
	int k = format_rec(r, l);
	if (k == 0)
		k = out_add(o, l->data, l->len);
	o->records++;
	return k;
}

static int pread_all(int fd, char *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t k = pread(fd, buf, len, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO; /* the log shrank under us */
		buf += k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* Writes the compacted log to fd. */
static int write_compacted(struct history *h, int fd, struct compact_ctx *c, uint64_t *ret_size,
			   size_t *ret_records)
{
	struct out *o = calloc(1, sizeof(*o));
	struct line *l = malloc(sizeof(*l));
	struct rec *rec = calloc(1, sizeof(*rec));
	struct span *spans = NULL;
	size_t n_spans = 0, cap = 0;
	int r = o && l && rec ? 0 : -ENOMEM;
	if (r < 0)
		goto out;
	o->fd = fd;

	/* The sequence first, so run ids never repeat even if every run is dropped. */
	*rec = (struct rec){ .kind = REC_SEQ, .seq = h->next_seq };
	r = out_rec(o, rec, l);
	/* Damage outlives the damaged records it drops, and so do the admin's clears. */
	if (r == 0 && h->damage_epoch > h->cleared_all) {
		*rec = (struct rec){ .kind = REC_DAMAGE };
		r = out_rec(o, rec, l);
		for (size_t i = 0; r == 0 && i < h->n_entries; i++) {
			if (h->entries[i]->cleared != h->damage_epoch)
				continue;
			*rec = (struct rec){ .kind = REC_CLEAR };
			snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", h->entries[i]->id);
			r = out_rec(o, rec, l);
		}
	}

	/* What must outlive every run record: one summary per advertisement. */
	for (size_t i = 0; r == 0 && i < h->n_entries; i++) {
		const struct entry *e = h->entries[i];
		if (!e->sum.ever_started && !e->sum.last_start && !e->last_seq)
			continue; /* a begin that failed left it empty */
		*rec = (struct rec){ .kind = REC_SUMMARY,
				     .seq = e->last_seq,
				     .start = e->sum.last_start,
				     .time = e->sum.last_end,
				     .result = e->sum.last_result,
				     .started = e->sum.ever_started,
				     .succeeded = e->sum.ever_succeeded };
		snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", e->id);
		r = out_rec(o, rec, l);
	}

	/* The kept runs, in their original order, copied byte for byte. */
	for (size_t i = 0; r == 0 && i < h->n_entries; i++) {
		for (size_t k = 0; c->rings[i] && k < c->n_ring[i]; k++) {
			for (int w = 0; w < 2; w++) {
				if (c->rings[i][k].off[w] == UINT64_MAX)
					continue;
				if (n_spans == cap) {
					cap = cap ? 2 * cap : 256;
					struct span *ns = realloc(spans, cap * sizeof(*ns));
					if (!ns) {
						r = -ENOMEM;
						goto out;
					}
					spans = ns;
				}
				spans[n_spans++] = (struct span){ c->rings[i][k].off[w],
								  c->rings[i][k].len[w] };
			}
		}
	}
	if (n_spans)
		qsort(spans, n_spans, sizeof(*spans), cmp_span);
	for (size_t i = 0; r == 0 && i < n_spans; i++) {
		if (spans[i].len > sizeof(l->data)) {
			r = -EIO;
			break;
		}
		r = pread_all(h->fd, l->data, spans[i].len, spans[i].off);
		if (r == 0)
			r = out_add(o, l->data, spans[i].len);
		o->records++;
	}

	/* Runs still open, last, from memory. */
	for (size_t i = 0; r == 0 && i < h->n_opens; i++) {
		const struct open_run *op = &h->opens[i];
		*rec = (struct rec){ .kind = REC_START, .seq = op->seq, .time = op->start };
		snprintf(rec->advert_id, sizeof(rec->advert_id), "%s", h->entries[op->entry]->id);
		snprintf(rec->boot_id, sizeof(rec->boot_id), "%s", op->boot_id);
		snprintf(rec->account, sizeof(rec->account), "%s", op->account);
		r = out_rec(o, rec, l);
	}
	if (r == 0 && o->len)
		r = textrec_write_all(fd, o->buf, o->len);
	if (r == 0) {
		*ret_size = o->total;
		*ret_records = o->records;
	}
out:
	free(spans);
	free(rec);
	free(l);
	free(o);
	return r;
}

int history_compact(struct history *h)
{
	if (h->write_error)
		return h->write_error;
	if (h->fd < 0)
		return 0;

	struct compact_ctx c = { .h = h };
	c.rings = calloc(h->n_entries + 1, sizeof(*c.rings));
	c.n_ring = calloc(h->n_entries + 1, sizeof(*c.n_ring));
	int r = c.rings && c.n_ring ? 0 : -ENOMEM;
	if (r == 0)
		r = scan_log(h->fd, h->end, compact_record, NULL, &c, NULL);

	int tfd = -1;
	uint64_t size = 0;
	size_t records = 0;
	if (r == 0) {
		/* The fixed name is safe: the log's lock is held, and a stale one from a crash
		 * mid-compaction is simply overwritten. */
		tfd = textrec_replace_open(h->dfd, LOG_NAME, O_RDWR | O_APPEND, 0600);
		if (tfd < 0)
			r = tfd;
	}
	if (r == 0)
		r = write_compacted(h, tfd, &c, &size, &records);
	/* Complete on disk before it may replace the old log. */
	if (r == 0 && fsync(tfd) < 0)
		r = -errno;
	/* Locked before its name appears, so no other process can slip in between. */
	if (r == 0 && flock(tfd, LOCK_EX | LOCK_NB) < 0)
		r = -errno;
	if (tfd >= 0)
		r = textrec_replace_commit(h->dfd, LOG_NAME, r);
	if (r < 0) {
		if (tfd >= 0)
			close(tfd);
	} else {
		close(h->fd);
		h->fd = tfd;
		h->end = size;
		h->tail_dirty = false;
		h->stats.records = records;
		h->stats.torn_tail = false;
		/* Without this the rename may be lost in a crash; the old log, still complete,
		 * would come back, which is safe, but the caller should know. */
		if (fsync(h->dfd) < 0)
			r = -errno;
	}
	for (size_t i = 0; c.rings && i < h->n_entries; i++)
		free(c.rings[i]);
	free(c.rings);
	free(c.n_ring);
	free(c.owners);
	return r;
}

/* --- opening ------------------------------------------------------------------------------- */

static void read_boot_id(char id[HISTORY_BOOT_ID_MAX])
{
	id[0] = '\0';
	int fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[HISTORY_BOOT_ID_MAX];
	ssize_t k = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (k <= 0)
		return;
	buf[k] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (boot_id_valid(buf))
		memcpy(id, buf, strlen(buf) + 1);
}

static bool write_refused(int err)
{
	return err == EROFS || err == EACCES || err == EPERM;
}

/* Opens the log for appending, creating it (and making its name durable) when missing;
 * when it cannot be written, read-only with *ret_write_error set, or -1 when it does not
 * exist either. */
static int open_log(int dfd, int *ret_fd, int *ret_write_error)
{
	int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
	int fd = openat(dfd, LOG_NAME, flags);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(dfd, LOG_NAME, flags | O_CREAT | O_EXCL, 0600);
		/* A start record in a file whose name is lost in a crash is no record. */
		if (fd >= 0 && fsync(dfd) < 0) {
			int r = -errno;
			close(fd);
			unlinkat(dfd, LOG_NAME, 0);
			return r;
		}
	}
	if (fd >= 0) {
		*ret_fd = fd;
		*ret_write_error = 0;
		return 0;
	}
	int err = errno;
	if (!write_refused(err))
		return -err;
	fd = openat(dfd, LOG_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return -errno;
	*ret_fd = fd;
	*ret_write_error = -err;
	return 0;
}

static bool worth_compacting(const struct history *h)
{
	size_t kept = 1;
	for (size_t i = 0; i < h->n_entries; i++) {
		size_t runs = h->entries[i]->runs;
		kept += 1 + 2 * (runs < HISTORY_KEEP_RUNS ? runs : HISTORY_KEEP_RUNS);
	}
	size_t n = h->stats.records + h->stats.skipped;
	if (n < COMPACT_MIN_RECORDS)
		return false;
	return n > 4 * kept || (h->end > COMPACT_SIZE && n > 2 * kept);
}

int history_open(const char *state_dir, struct history **ret)
{
	struct history *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = -1;
	h->next_seq = 1;
	int r = 0;
	h->dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->dfd < 0)
		r = -errno;
	if (r == 0)
		r = open_log(h->dfd, &h->fd, &h->write_error);

	struct stat st = { 0 };
	if (r == 0 && h->fd >= 0) {
		if (flock(h->fd, LOCK_EX | LOCK_NB) < 0)
			r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		else if (fstat(h->fd, &st) < 0)
			r = -errno;
		/* Someone else's file could forge "never ran" and rerun a program. */
		else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
			r = -EPERM;
	}
	read_boot_id(h->boot_id);

	struct scan sc = { 0 };
	if (r == 0 && h->fd >= 0)
		r = scan_log(h->fd, UINT64_MAX, load_record, damaged_line, h, &sc);
	if (r < 0) {
		history_close(h);
		return r;
	}
	h->end = sc.end;
	h->stats.records = sc.valid;
	h->stats.skipped += sc.invalid;
	if (sc.last_invalid) {
		/* A last line without its newline, or with NUL bytes where a sector was lost,
		 * is what a crash mid-append leaves: torn, not damaged. */
		h->stats.skipped--;
		h->stats.torn_tail = true;
		h->end = sc.last_off;
	}
	h->stats.damaged = h->damage_epoch > h->cleared_all;
	refresh_damage(h);
	/* Anything past the last valid record goes before the next append, not now: a
	 * read-only look must not change the file. */
	h->tail_dirty = h->fd >= 0 && (uint64_t)st.st_size > h->end;

	if (!h->write_error && h->fd >= 0) {
		unlinkat(h->dfd, TMP_NAME, 0); /* a crash mid-compaction: harmless, and useless */
		if (worth_compacting(h))
			(void)history_compact(h); /* the old log stays usable when this fails */
	}
	*ret = h;
	return 0;
}

void history_close(struct history *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	if (h->dfd >= 0)
		close(h->dfd);
	for (size_t i = 0; i < h->n_entries; i++)
		free(h->entries[i]);
	free(h->entries);
	free(h->slots);
	free(h->opens);
	free(h);
}

void history_get_stats(const struct history *h, struct history_stats *ret)
{
	*ret = h->stats;
	ret->size = h->end;
	ret->adverts = h->n_entries;
	ret->write_error = h->write_error;
}

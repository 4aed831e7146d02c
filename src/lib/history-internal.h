/* SPDX-License-Identifier: MIT */
/* The run history's pieces, shared by its four files: the record codec (histrec.c),
 * the in-memory index (histindex.c), the API (history.c), compaction (histcompact.c). Not
 * part of the library's interface. */
#ifndef ADVERT_HISTORY_INTERNAL_H
#define ADVERT_HISTORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "advert/history.h"
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

#define HISTORY_SEQ_MAX (INT64_MAX - 1)
#define PREFIX_LEN      (sizeof(LOG_VERSION) - 1 + 1 + SUM_HEX + 1)

/* --- records (histrec.c) ---------------------------------------------------------------- */

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

struct line {
	char data[LINE_MAX_LEN + 1];
	size_t len;
	bool overflow;
};

/* Seals r into l (its checksum prefix and newline). Returns 0 or -EOVERFLOW. */
int histrec_format(const struct rec *r, struct line *l);
/* One line without its newline into r; false when it is not a whole, valid record. */
bool histrec_parse(const char *s, size_t n, struct rec *r);
/* "r<digits>" to its sequence (1 .. HISTORY_SEQ_MAX - 1). */
bool histrec_parse_run_id(const char *s, uint64_t *ret);
/* A boot id as /proc writes it: lower-case hex and dashes. */
bool histrec_boot_id_valid(const char *s);

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

int histrec_scan(int fd, uint64_t limit,
		 int (*fn)(void *data, const struct rec *r, uint64_t off, size_t len),
		 void (*bad)(void *data, const char *line, size_t len), void *data,
		 struct scan *ret);

/* --- the index (histindex.c) ---------------------------------------------------------------- */

struct entry {
	char id[ADV_ID_MAX + 1];
	size_t index; /* in history.entries */
	struct schedule_history sum;
	uint64_t last_seq;                   /* the run the summary's last_* describe */
	size_t runs;                         /* start records seen, for the compaction trigger */
	unsigned open;                       /* runs started and not ended */
	unsigned cleared;                    /* the damage epoch an admin cleared it at */
	char last_boot[HISTORY_BOOT_ID_MAX]; /* the boot the latest ended run ran in */
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
	char dc[HISTORY_DC_MAX]; /* the DC its identity came from, when the start said */
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

struct entry *hist_lookup(const struct history *h, const char *id);
/* id's entry, made when new; NULL when out of memory. */
struct entry *hist_get_entry(struct history *h, const char *id);
/* Room for one more open run; 0 or -ENOMEM. */
int hist_reserve_open(struct history *h);
struct open_run *hist_find_open(struct history *h, uint64_t seq);
/* The next sequence number stays above seq. */
void hist_seen_seq(struct history *h, uint64_t seq);
/* Applies one valid record to the summaries (e: its advertisement's entry, NULL for
 * records of no advertisement). Needs hist_reserve_open first for a start record. */
void hist_apply(struct history *h, struct entry *e, const struct rec *r);
/* Recomputes whether any damage holds advertisements, after a record or a clear. */
void hist_refresh_damage(struct history *h);
/* Whether damage not cleared holds e (NULL: an advertisement not known yet). */
bool hist_held(const struct history *h, const struct entry *e);
void hist_run_id_of(uint64_t seq, char id[HISTORY_RUN_ID_MAX]);
/* Appends sealed records and makes them durable (see history.c). */
int hist_append(struct history *h, const char *data, size_t len, size_t records);

/* --- compaction (histcompact.c) ------------------------------------------------------------ */

/* Whether compacting at open would shrink the log enough to be worth it. */
bool hist_worth_compacting(const struct history *h);

#endif

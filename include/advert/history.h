/* SPDX-License-Identifier: MIT */
/* Run history: durable, crash-safe records of every run, written before the program
 * starts and after it ends, in one append-only log (state_dir/history.log), and the
 * per-advertisement summary the scheduler decides from. */
#ifndef ADVERT_HISTORY_H
#define ADVERT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "advert/advert.h"
#include "advert/schedule.h"

#define HISTORY_RUN_ID_MAX  24  /* "r" + decimal, NUL included */
#define HISTORY_BOOT_ID_MAX 40  /* a UUID from /proc/sys/kernel/random/boot_id */
#define HISTORY_ACCOUNT_MAX 128 /* longer values are stored truncated */
#define HISTORY_DC_MAX      256
#define HISTORY_REASON_MAX  160
/* Runs kept per advertisement by compaction; the summary (ever started, ever succeeded,
 * latest result) is kept forever. */
#define HISTORY_KEEP_RUNS 20

struct history;

/* One run, as history_list and history_reconcile report it. */
struct history_run {
	char run_id[HISTORY_RUN_ID_MAX];
	char advert_id[ADV_ID_MAX + 1];
	char account[HISTORY_ACCOUNT_MAX];
	char boot_id[HISTORY_BOOT_ID_MAX]; /* of the boot it started in; "" if unknown */
	time_t start;                      /* 0: unknown */
	bool ended;                        /* false: still running, or not reconciled yet */
	time_t end;
	enum run_result result; /* RUN_NONE until ended */
	int exit_code;          /* when it exited */
	int signal;             /* when a signal ended it; 0 otherwise */
	long duration_ms;       /* -1: unknown (interrupted runs) */
	char dc[HISTORY_DC_MAX];
	char reason[HISTORY_REASON_MAX];
	bool other_boot; /* it started before the current boot (set for reconciled runs) */
};

/* What opening found in the log, for the daemon to report. */
struct history_stats {
	size_t records;  /* valid records read */
	size_t skipped;  /* damaged records (complete lines that are not valid), skipped */
	bool damaged;    /* some damage is not cleared: "never" advertisements are held */
	bool torn_tail;  /* the last record was incomplete: dropped at the next append */
	uint64_t size;   /* bytes in the log */
	size_t adverts;  /* advertisements with any history */
	int write_error; /* 0, or -errno: why the log cannot be written (opened read-only) */
};

/* Opens (creating if needed) state_dir/history.log, validates every record and builds
 * the summaries; compacts the log first when it has grown large. Damage never makes it
 * fail: a torn last record (no newline) is dropped; any other line that is not a valid
 * record is damage: skipped and counted, its run id (when still legible) never handed
 * out again, and every summary says damaged (a "never" advertisement's start may have
 * been lost with it) until history_clear_damage.
 * When the log cannot be written (read-only file system, permissions) it still opens,
 * read-only, and history_begin returns the error. Returns 0 and *ret (free with
 * history_close), or -errno (-EBUSY: another process has the log open). */
int history_open(const char *state_dir, struct history **ret)
	__attribute__((nonnull, warn_unused_result));

/* The same for a look that must change nothing (advertd --dry-run): no lock, so a
 * running daemon does not stop it; no compaction, nothing created; every write fails
 * with -EROFS. A record being appended meanwhile may be missed, never half-read. */
int history_open_readonly(const char *state_dir, struct history **ret)
	__attribute__((nonnull, warn_unused_result));

void history_close(struct history *h);

/* The run advert_id's summary describes (its latest that started), from memory, no I/O:
 * ret's run_id, advert_id, start, ended and result. False when it has none. */
bool history_latest(const struct history *h, const char *advert_id, struct history_run *ret)
	__attribute__((nonnull));

/* The boot (/proc/sys/kernel/random/boot_id) this process runs in, and the one the
 * latest ended run of advert_id ran in; "" when unknown (a history from before it was
 * kept). A run that ended "restart pending" is restarted once the two differ. */
const char *history_boot_id(const struct history *h);
const char *history_last_boot(const struct history *h, const char *advert_id);

/* Records that a run of advert_id starts now (as account, its identity from dc, which
 * may be NULL), durably (fdatasync) before returning 0 and
 * the new run id. Any other return (-ENOSPC, -EROFS, -EIO, …) means nothing is recorded
 * as started and the program must not run. -EBUSY: that advertisement has a run without
 * an end (history_reconcile first); -EINVAL: not a valid advertisement id. */
int history_begin(struct history *h, const char *advert_id, const char *account, const char *dc,
		  time_t now, char ret_run_id[HISTORY_RUN_ID_MAX])
	__attribute__((nonnull(1, 2, 6), warn_unused_result));

/* An admin has looked at the damage: advert_id (NULL: every advertisement) is no longer
 * held for it. Durable (appends a record); damage found later holds again. Returns 0 or
 * -errno. */
int history_clear_damage(struct history *h, const char *advert_id) __attribute__((nonnull(1)));

/* Records the end of run_id durably. result is not RUN_NONE; dc and reason may be NULL.
 * On failure nothing changes (the run is still running) and the call may be repeated.
 * -ENOENT: no such run is open. */
int history_end(struct history *h, const char *run_id, enum run_result result, int exit_code,
		int signal, long duration_ms, const char *dc, const char *reason, time_t now)
	__attribute__((nonnull(1, 2)));

/* What the history knows about advert_id; an empty summary for an unknown id, never
 * NULL. The pointer is the history's, valid until history_close, and what it points to
 * follows the runs recorded (an unknown id's stays empty: look it up again). */
const struct schedule_history *history_summary(const struct history *h, const char *advert_id)
	__attribute__((nonnull, returns_nonnull));

/* Ends every run that has a start but no end as RUN_INTERRUPTED, durably, at start-up,
 * and calls cb (may be NULL) for each after its end is written, oldest first. A run
 * reconciled once is never reported again. Returns 0, or the first -errno (the runs
 * not yet ended stay so). */
int history_reconcile(struct history *h, time_t now,
		      void (*cb)(void *data, const struct history_run *run), void *data)
	__attribute__((nonnull(1)));

/* Calls cb for the newest max runs (of advert_id, or of all when NULL), newest first,
 * from the log on disk; returns 0 or -errno. Runs beyond what compaction keeps are
 * gone; their summary is not. */
int history_list(const struct history *h, const char *advert_id, size_t max,
		 void (*cb)(void *data, const struct history_run *run), void *data)
	__attribute__((nonnull(1, 4)));

/* Rewrites the log keeping the last HISTORY_KEEP_RUNS runs per advertisement, open
 * runs, a summary per advertisement and the run id sequence, then atomically replaces
 * it: a crash at any point leaves the old or the new log, each complete, and so does a
 * failure (-errno), whichever log is then in use. */
int history_compact(struct history *h) __attribute__((nonnull));

/* What opening found, and the log's current size. */
void history_get_stats(const struct history *h, struct history_stats *ret) __attribute__((nonnull));

#endif

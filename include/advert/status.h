/* SPDX-License-Identifier: MIT */
/* Status messages for admins and collectors: one syslog line per event, a stable
 * numeric ID first (SMS 2.0's program-execution IDs where one fits, our own 11xxx range
 * for the rest), an event name, then key=value fields. Sent to a syslog socket without
 * ever blocking the daemon: while the socket is gone, messages wait in a bounded queue. */
#ifndef ADVERT_STATUS_H
#define ADVERT_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum status_id {
	/* SMS 2.0 Advertised Programs Manager IDs, same meaning. */
	STATUS_ADVERT_RECEIVED = 10002, /* a new or changed advertisement was accepted */
	STATUS_PREPARE_FAILED = 10003,  /* error while preparing to run: identity, path… */
	STATUS_PROGRAM_STARTED = 10005,
	STATUS_PROGRAM_FAILED = 10006, /* exit code not a success code, or a signal */
	STATUS_PROGRAM_SUCCEEDED = 10008,
	STATUS_PLATFORM_REJECTED = 10018, /* platform not supported */
	STATUS_SUCCESS_REBOOT = 10022,    /* success, restart pending */
	/* advertd's own. */
	STATUS_MAX_RUNTIME_EXCEEDED = 11001,
	STATUS_EXPIRED = 11002,
	STATUS_WAITING_DEPENDENCY = 11003,
	STATUS_DEPENDENCY_FAILED = 11004,
	STATUS_REQUIREMENTS_NOT_MET = 11005, /* e.g. not enough free space */
	STATUS_WILL_NOT_RERUN = 11006,
	STATUS_INTERRUPTED = 11007,      /* a run whose end was never recorded */
	STATUS_GUARD_HOLDING = 11008,    /* the lockout guard refused to send a secret */
	STATUS_DC_FAILOVER = 11009,      /* a DC did not answer; the run moved on */
	STATUS_FILE_REJECTED = 11010,    /* an advertisement file is invalid or insecure */
	STATUS_ADVERT_WITHDRAWN = 11011, /* removed, disabled or its file rejected */
	STATUS_HISTORY_FAILED = 11012,   /* a run could not be recorded: nothing runs */
	STATUS_HISTORY_DAMAGED = 11013,  /* damaged history records: 'never' programs held */
	STATUS_DAEMON_STARTED = 11020,
	STATUS_DAEMON_STOPPING = 11021,
	STATUS_MESSAGES_DROPPED = 11022,  /* the queue overflowed while syslog was away */
	STATUS_CONFIG_RELOADED = 11023,   /* advertd.conf read again: taken, or refused */
	STATUS_RESTART_REQUESTED = 11030, /* after_run = "restart": the restart was asked for */
	STATUS_WAITING_LOGON = 11031,     /* due, but program.when is not met yet */
	STATUS_PUBLISHED_UPDATED = 11040, /* the directory's advertisements changed here */
	STATUS_PUBLISHED_OFFLINE = 11041, /* the poll failed: the cached set keeps running */
	STATUS_PUBLISHED_DAMAGED = 11042, /* the cached set is damaged: ignored */
};

struct status_field {
	const char *key;   /* [a-z_]+ */
	const char *value; /* any text; quoted on output when needed */
};

/* The event name of an id ("program-completed"), or NULL for an unknown id. */
const char *status_event_name(enum status_id id);

/* The syslog severity of an id (LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR). */
int status_severity(enum status_id id);

/* Formats "ID event key=value …" into buf. A value made only of [A-Za-z0-9._,:/@+-] and
 * non-ASCII characters that are not status_char_unsafe() is written as it is; any other
 * is double-quoted, and inside the quotes \n \r \t and \xhh stand for those controls,
 * for the space, '"', '\'', '\\', DEL, the unsafe characters (each byte) and every byte
 * that is not part of valid UTF-8: the line is valid UTF-8, has no raw space inside a
 * value, and shlex keeps every escape as written. An empty value is "". Fields with a
 * NULL value are left out. Pure. Returns the length it needed (as snprintf does; a
 * truncated buffer may end inside a character). */
size_t status_format(char *buf, size_t size, enum status_id id, const struct status_field *fields,
		     size_t n);

/* Whether the well-formed character of len bytes at s (as utf8_char_len() measures it)
 * must never reach a log line or a terminal as itself: C0 and C1 controls, DEL, and the
 * invisible characters that fake a space or a line break or turn the text around
 * (U+00A0, U+00AD, U+2028, U+2029, U+202E, U+FEFF…; the list is in status.c). */
bool status_char_unsafe(const char *s, size_t len) __attribute__((nonnull));

/* The code point of the well-formed character of len bytes at s. */
uint32_t status_char_code(const char *s, size_t len) __attribute__((nonnull));

struct status_sink;

/* A sink sending to the unix datagram socket at path (e.g. /dev/log) as facility and
 * ident, queueing at most queue_max messages while the socket is unavailable. The
 * socket need not exist yet. Returns 0 or -errno. */
int status_open(const char *path, int facility, const char *ident, size_t queue_max,
		struct status_sink **ret);

/* Sends one message now, or queues it; never blocks, never fails loudly (a dropped
 * message is counted and reported once syslog is back). now stamps the message. */
void status_emit(struct status_sink *s, time_t now, enum status_id id,
		 const struct status_field *fields, size_t n);

/* Tries to send what is queued; returns how many are still waiting. Call it when a
 * retry timer fires. */
size_t status_flush(struct status_sink *s, time_t now);

/* The socket to poll for POLLOUT while messages wait and the socket is connected (the
 * syslog daemon is just slow): flush as soon as it has room. -1 otherwise (retry on a
 * timer: the socket may be gone). */
int status_pollfd(const struct status_sink *s);

/* Messages waiting in the queue. */
size_t status_queued(const struct status_sink *s);

/* Where a sink's messages go. */
enum status_target {
	STATUS_TARGET_SOCKET,  /* the syslog socket only */
	STATUS_TARGET_JOURNAL, /* journald's native protocol, the socket when it fails */
};

/* Sends s's messages to target from now on. */
void status_set_target(struct status_sink *s, enum status_target target);

void status_close(struct status_sink *s);

/* --- journal.c: the journal's own fields ----------------------------------------------- */

#define STATUS_JOURNAL_SOCKET "/run/systemd/journal/socket"
/* Every status ID's MESSAGE_ID is this prefix and the ID in six decimal digits. */
#define STATUS_MESSAGE_ID_PREFIX "8e15d28feb994fe5862058eac0"

/* The MESSAGE_ID of id: 32 lower-case hex digits and a NUL. */
void status_message_id(enum status_id id, char out[33]);

/* Whether journald listens here. */
bool status_journal_present(void);

/* One entry: MESSAGE = line (what status_format wrote), MESSAGE_ID, PRIORITY,
 * SYSLOG_FACILITY, SYSLOG_IDENTIFIER = ident, ADVERT_STATUS, ADVERT_EVENT, and each
 * field as ADVERT_<KEY> (advert as ADVERT_ID) with its value as it is. Returns 0, or
 * -errno (-ENOSYS without libsystemd). */
int status_journal_send(const char *ident, int facility, enum status_id id, const char *line,
			const struct status_field *fields, size_t n);

#endif

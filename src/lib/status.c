/* SPDX-License-Identifier: MIT */
/* Status messages: the ID/event/field line and its escaping (with the list of unsafe
 * characters the control socket and advertctl share), its severity, and a syslog
 * datagram sink that queues (bounded, oldest dropped first) while the syslog socket is
 * unavailable. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "advert/status.h"
#include "advert/utf8.h"

/* One row per id: its stable event name and its severity. The severities follow one rule:
 *   LOG_ERR      something failed and nothing (more) ran: prepare-failed, program-failed,
 *                file-rejected, history-failed
 *   LOG_WARNING  it went wrong or is stuck and an admin may have to act:
 *                max-runtime-exceeded, dependency-failed, requirements-not-met,
 *                interrupted, guard-holding, dc-failover, messages-dropped
 *   LOG_NOTICE   outcomes and lifecycle an admin wants in the normal log:
 *                program-completed(-restart-pending), platform-not-supported,
 *                advertisement-withdrawn, daemon-started, daemon-stopping
 *   LOG_INFO     routine progress: advertisement-received, program-started, expired,
 *                waiting-for-dependency, will-not-rerun
 * Names and ids never change meaning: collectors match on them. */
static const struct status_event {
	enum status_id id;
	const char *name;
	int severity;
} status_events[] = {
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
	{ STATUS_CONFIG_RELOADED, "configuration-reloaded", LOG_NOTICE },
	{ STATUS_RESTART_REQUESTED, "restart-requested", LOG_NOTICE },
	{ STATUS_WAITING_LOGON, "waiting-for-logon-condition", LOG_INFO },
	{ STATUS_PUBLISHED_UPDATED, "published-advertisements-updated", LOG_INFO },
	{ STATUS_PUBLISHED_OFFLINE, "directory-poll-failed", LOG_WARNING },
	{ STATUS_PUBLISHED_DAMAGED, "published-cache-damaged", LOG_WARNING },
};

/* An id missing from the table is a caller bug: say so in the line, and at a severity
 * that gets it seen. */
#define STATUS_UNKNOWN_NAME     "unknown"
#define STATUS_UNKNOWN_SEVERITY LOG_WARNING

static const struct status_event *status_lookup(enum status_id id)
{
	for (size_t i = 0; i < sizeof(status_events) / sizeof(status_events[0]); i++)
		if (status_events[i].id == id)
			return &status_events[i];
	return NULL;
}

const char *status_event_name(enum status_id id)
{
	const struct status_event *e = status_lookup(id);
	return e ? e->name : NULL;
}

int status_severity(enum status_id id)
{
	const struct status_event *e = status_lookup(id);
	return e ? e->severity : STATUS_UNKNOWN_SEVERITY;
}

/* --- formatting ---------------------------------------------------------------------- */

/* snprintf semantics over several pieces: writes what fits, counts everything. */
struct status_out {
	char *buf;
	size_t size;
	size_t len;
};

static void out_char(struct status_out *o, char c)
{
	if (o->size > 0 && o->len < o->size - 1)
		o->buf[o->len] = c;
	o->len++;
}

static void out_str(struct status_out *o, const char *str)
{
	for (; *str; str++)
		out_char(o, *str);
}

uint32_t status_char_code(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	if (len <= 1)
		return p[0];
	uint32_t cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

/* Characters that are not what they look like. Controls (C0, DEL, C1: NEL U+0085 is a
 * line break to some parsers, CSI U+009B an escape sequence to some terminals), line and
 * paragraph separators, spaces other than U+0020 (a value would seem to end there),
 * invisible ones (zero-width, soft hyphen, fillers, tags) and the bidirectional controls
 * that reorder what a reader sees. */
static const struct {
	uint32_t first, last;
} status_unsafe_ranges[] = {
	{ 0x0000, 0x001f }, { 0x007f, 0x00a0 }, { 0x00ad, 0x00ad }, { 0x061c, 0x061c },
	{ 0x115f, 0x1160 }, { 0x1680, 0x1680 }, { 0x180e, 0x180e }, { 0x2000, 0x200f },
	{ 0x2028, 0x202f }, { 0x205f, 0x206f }, { 0x3000, 0x3000 }, { 0x3164, 0x3164 },
	{ 0xfeff, 0xfeff }, { 0xffa0, 0xffa0 }, { 0xfff9, 0xfffb }, { 0xe0000, 0xe007f },
};

bool status_char_unsafe(const char *s, size_t len)
{
	uint32_t cp = status_char_code(s, len);
	for (size_t i = 0; i < sizeof(status_unsafe_ranges) / sizeof(status_unsafe_ranges[0]); i++)
		if (cp >= status_unsafe_ranges[i].first && cp <= status_unsafe_ranges[i].last)
			return true;
	return false;
}

/* ASCII a value may hold bare: enough for ids, numbers, host names, paths and
 * addresses, and nothing a shell-like or awk-like reader would take as syntax. */
static bool is_bare(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("._,:/@+-", c));
}

/* The length of the character at p (of n bytes) and whether it may be written as it is
 * inside quotes; a byte that starts no valid sequence is one character, never raw. */
static size_t value_char(const char *p, size_t n, bool *ret_raw)
{
	size_t len = utf8_char_len(p, n);
	if (len == 0) {
		*ret_raw = false;
		return 1;
	}
	/* '=', both quotes and the backslash are escaped too: inside the quotes, then, no
	 * word has an '=' (awk, splitting on spaces, finds a key=value word only where a
	 * field begins, whatever a program printed), the only backslashes start escapes that
	 * shlex leaves alone, and a quote is always a value's own. Spaces stay, for the
	 * admin reading the line. */
	*ret_raw = !status_char_unsafe(p, len) && !(len == 1 && strchr("=\"'\\", *p));
	return len;
}

static bool value_needs_quotes(const char *v)
{
	if (v[0] == '\0')
		return true; /* key="" reads unambiguously as "empty", key= does not */
	for (size_t n = strlen(v), i = 0; i < n;) {
		bool raw;
		size_t len = value_char(v + i, n - i, &raw);
		if (!raw || (len == 1 && !is_bare((unsigned char)v[i])))
			return true;
		i += len;
	}
	return false;
}

static void out_value(struct status_out *o, const char *v)
{
	static const char hex[] = "0123456789abcdef";

	if (!value_needs_quotes(v)) {
		out_str(o, v);
		return;
	}
	out_char(o, '"');
	for (size_t n = strlen(v), i = 0; i < n;) {
		bool raw;
		size_t len = value_char(v + i, n - i, &raw);
		for (size_t k = 0; k < len; k++, i++) {
			unsigned char c = (unsigned char)v[i];
			if (raw)
				out_char(o, (char)c);
			else if (c == '\n')
				out_str(o, "\\n");
			else if (c == '\r')
				out_str(o, "\\r");
			else if (c == '\t')
				out_str(o, "\\t");
			else {
				out_str(o, "\\x");
				out_char(o, hex[c >> 4]);
				out_char(o, hex[c & 0xf]);
			}
		}
	}
	out_char(o, '"');
}

/* Keys come from our own code, but a bad one must not break the line for every parser
 * downstream: anything outside [a-z_] becomes '_' (the field stays visible). */
static void out_key(struct status_out *o, const char *k)
{
	for (; *k; k++)
		out_char(o, (*k >= 'a' && *k <= 'z') || *k == '_' ? *k : '_');
}

size_t status_format(char *buf, size_t size, enum status_id id, const struct status_field *fields,
		     size_t n)
{
	struct status_out o = { .buf = buf, .size = size };
	char num[16];
	const char *name = status_event_name(id);

	snprintf(num, sizeof(num), "%d", (int)id);
	out_str(&o, num);
	out_char(&o, ' ');
	out_str(&o, name ? name : STATUS_UNKNOWN_NAME);
	for (size_t i = 0; fields && i < n; i++) {
		/* A field without a key has nothing to be found by: leave it out. */
		if (!fields[i].value || !fields[i].key || !fields[i].key[0])
			continue;
		out_char(&o, ' ');
		out_key(&o, fields[i].key);
		out_char(&o, '=');
		out_value(&o, fields[i].value);
	}
	if (size > 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}

/* --- the sink ------------------------------------------------------------------------ */

struct status_msg {
	char *text; /* the whole datagram, "<PRI>timestamp ident[pid]: line" */
	size_t len;
};

struct status_sink {
	char *path;
	char *ident;
	int facility;
	int fd;    /* -1: not connected */
	dev_t dev; /* the socket file we connected to, to notice a replaced one */
	ino_t ino;
	struct status_msg *queue; /* ring of queue_max, oldest at head */
	size_t queue_max;
	size_t head;
	size_t n;
	size_t dropped; /* lost since the last messages-dropped notice went out */
	enum status_target target;
};

/* The tag ends at the first space for every syslog parser, and ':' '[' ']' delimit it:
 * those would make the ident and the message run together. Like the values, it stays
 * valid UTF-8 without controls: each unsafe character or stray byte becomes '_' too. */
static char *status_clean_ident(const char *ident)
{
	char *s = strdup(ident);
	if (!s)
		return NULL;
	for (size_t n = strlen(s), i = 0; i < n;) {
		size_t len = utf8_char_len(s + i, n - i);
		if (len == 0) {
			len = 1;
			s[i] = '_';
		} else if (status_char_unsafe(s + i, len) || (len == 1 && strchr(" :[]", s[i])))
			memset(s + i, '_', len);
		i += len;
	}
	return s;
}

int status_open(const char *path, int facility, const char *ident, size_t queue_max,
		struct status_sink **ret)
{
	if (!path || !path[0] || !ident || !ident[0] || !ret)
		return -EINVAL;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	if ((facility & ~LOG_FACMASK) != 0)
		return -EINVAL;

	struct status_sink *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->facility = facility;
	s->queue_max = queue_max;
	s->path = strdup(path);
	s->ident = status_clean_ident(ident);
	if (queue_max > 0)
		s->queue = calloc(queue_max, sizeof(*s->queue));
	if (!s->path || !s->ident || (queue_max > 0 && !s->queue)) {
		status_close(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

static void sink_disconnect(struct status_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int sink_connect(struct status_sink *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);

	/* Non-blocking: a syslog daemon that stops reading must never stall ours. */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	struct stat st;
	if (stat(s->path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	} else {
		s->dev = 0;
		s->ino = 0;
	}
	s->fd = fd;
	return 0;
}

/* Whether the path now names a different socket than the one we are connected to. */
static bool sink_replaced(const struct status_sink *s)
{
	struct stat st;
	if (stat(s->path, &st) < 0)
		return true;
	return st.st_dev != s->dev || st.st_ino != s->ino;
}

/* Sends one datagram. On error, reconnects once and retries: the socket may have been
 * re-created by a restarted syslog daemon (our old peer is gone: ECONNREFUSED, then
 * ENOTCONN), or may not have existed before. A full receiver (EAGAIN) is only worth a
 * reconnect when the path now names another socket. Returns 0 or -errno. */
static int sink_send(struct status_sink *s, const struct status_msg *m)
{
	int r = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (s->fd < 0) {
			r = sink_connect(s);
			if (r < 0)
				return r;
		}
		if (send(s->fd, m->text, m->len, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return 0;
		r = -errno;
		if (r == -EMSGSIZE)
			return r; /* this message can never go: no point reconnecting */
		if ((r == -EAGAIN || r == -ENOBUFS) && !sink_replaced(s))
			return r;
		sink_disconnect(s);
	}
	return r;
}

static const char *const status_months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* The datagram syslog(3) would send: "<PRI>Mmm dd hh:mm:ss ident[pid]: line", local
 * time, day space-padded, no trailing newline. rsyslog's imuxsock parses exactly this
 * (PRI, an RFC 3164 timestamp, the tag up to the first space). Month names are fixed
 * English, not the locale's, as the parsers expect. Returns 0 or -ENOMEM. */
static int status_build(const struct status_sink *s, time_t now, enum status_id id,
			const struct status_field *fields, size_t n, struct status_msg *ret)
{
	struct tm tm;
	if (!localtime_r(&now, &tm))
		tm = (struct tm){ .tm_mday = 1 };

	char head[64];
	int h = snprintf(head, sizeof(head), "<%d>%s %2d %02d:%02d:%02d ",
			 s->facility | status_severity(id), status_months[tm.tm_mon % 12],
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (h < 0 || (size_t)h >= sizeof(head))
		return -EINVAL;
	char tag[32];
	int t = snprintf(tag, sizeof(tag), "[%ld]: ", (long)getpid());
	if (t < 0 || (size_t)t >= sizeof(tag))
		return -EINVAL;

	size_t ident_len = strlen(s->ident);
	size_t body = status_format(NULL, 0, id, fields, n);
	size_t len = (size_t)h + ident_len + (size_t)t + body;
	char *text = malloc(len + 1);
	if (!text)
		return -ENOMEM;
	char *p = text;
	memcpy(p, head, (size_t)h);
	p += h;
	memcpy(p, s->ident, ident_len);
	p += ident_len;
	memcpy(p, tag, (size_t)t);
	p += t;
	status_format(p, body + 1, id, fields, n);

	*ret = (struct status_msg){ .text = text, .len = len };
	return 0;
}

static void sink_push(struct status_sink *s, struct status_msg m)
{
	if (s->queue_max == 0) {
		free(m.text);
		s->dropped++;
		return;
	}
	if (s->n == s->queue_max) {
		/* The oldest goes: the newest say more about the present state. */
		free(s->queue[s->head].text);
		s->head = (s->head + 1) % s->queue_max;
		s->n--;
		s->dropped++;
	}
	s->queue[(s->head + s->n) % s->queue_max] = m;
	s->n++;
}

static void sink_pop(struct status_sink *s)
{
	free(s->queue[s->head].text);
	s->queue[s->head] = (struct status_msg){ 0 };
	s->head = (s->head + 1) % s->queue_max;
	s->n--;
}

/* The drop notice is built when it can be sent, so that its count covers every loss up
 * to that moment; it goes out before the queue, whose messages came after the losses. */
static int sink_send_dropped(struct status_sink *s, time_t now)
{
	char count[24];
	snprintf(count, sizeof(count), "%zu", s->dropped);
	const struct status_field f[] = { { "count", count } };
	struct status_msg m;
	int r = status_build(s, now, STATUS_MESSAGES_DROPPED, f, 1, &m);
	if (r < 0)
		return r;
	r = sink_send(s, &m);
	free(m.text);
	if (r == 0)
		s->dropped = 0;
	return r;
}

/* What is still waiting includes a pending drop notice, so that a caller retrying until
 * this reaches 0 also gets the notice out. */
int status_pollfd(const struct status_sink *s)
{
	return (s->n > 0 || s->dropped > 0) ? s->fd : -1;
}

size_t status_flush(struct status_sink *s, time_t now)
{
	if (s->dropped > 0 && sink_send_dropped(s, now) < 0)
		return s->n + 1;
	while (s->n > 0) {
		int r = sink_send(s, &s->queue[s->head]);
		if (r == -EMSGSIZE) {
			/* Would block the queue forever: count it as lost. */
			sink_pop(s);
			s->dropped++;
			continue;
		}
		if (r < 0)
			break;
		sink_pop(s);
	}
	return s->n + (s->dropped > 0);
}

void status_set_target(struct status_sink *s, enum status_target target)
{
	s->target = target;
}

/* To journald, with nothing waiting ahead of it: 0 when it took the message. */
static int emit_journal(struct status_sink *s, enum status_id id, const struct status_field *f,
			size_t n)
{
	if (s->target != STATUS_TARGET_JOURNAL || s->n > 0 || s->dropped > 0)
		return -EAGAIN;
	size_t len = status_format(NULL, 0, id, f, n);
	char *line = malloc(len + 1);
	if (!line)
		return -ENOMEM;
	status_format(line, len + 1, id, f, n);
	int r = status_journal_send(s->ident, s->facility, id, line, f, n);
	free(line);
	return r;
}

void status_emit(struct status_sink *s, time_t now, enum status_id id,
		 const struct status_field *fields, size_t n)
{
	if (emit_journal(s, id, fields, n) == 0)
		return;
	struct status_msg m;
	if (status_build(s, now, id, fields, n, &m) < 0) {
		s->dropped++;
		return;
	}
	/* Older messages go first; if they cannot, this one waits behind them. */
	if (s->n > 0 || s->dropped > 0) {
		if (status_flush(s, now) > 0) {
			sink_push(s, m);
			return;
		}
	}
	int r = sink_send(s, &m);
	if (r == 0) {
		free(m.text);
	} else if (r == -EMSGSIZE) {
		free(m.text);
		s->dropped++;
	} else {
		sink_push(s, m);
	}
}

size_t status_queued(const struct status_sink *s)
{
	return s->n;
}

void status_close(struct status_sink *s)
{
	if (!s)
		return;
	sink_disconnect(s);
	while (s->n > 0)
		sink_pop(s);
	free(s->queue);
	free(s->path);
	free(s->ident);
	free(s);
}

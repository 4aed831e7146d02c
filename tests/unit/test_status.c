/* Status messages: the line format and its quoting, the severity table, and the syslog
 * sink against real unix datagram sockets (absent, full, replaced). */
#include "config.h"

#include <errno.h>
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

#define ASSERT_FORMAT(expected, id, ...)                                                   \
	do {                                                                               \
		const struct status_field f_[] = { __VA_ARGS__ };                          \
		char *got_ = format((id), f_, sizeof(f_) / sizeof(f_[0]));                 \
		CU_ASSERT_STRING_EQUAL(got_, (expected));                                  \
		if (strcmp(got_, (expected)) != 0)                                         \
			fprintf(stderr, "\n  got      %s\n  expected %s\n", got_, (expected)); \
		free(got_);                                                                \
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
	ASSERT_FORMAT("10006 program-failed program=\"Install Office\"", STATUS_PROGRAM_FAILED,
		      { "program", "Install Office" });
	ASSERT_FORMAT("10006 program-failed cmd=\"setup.sh --mode=quiet\"", STATUS_PROGRAM_FAILED,
		      { "cmd", "setup.sh --mode=quiet" });
	ASSERT_FORMAT("10006 program-failed cmd=\"say \\\"hi\\\"\"", STATUS_PROGRAM_FAILED,
		      { "cmd", "say \"hi\"" });
	ASSERT_FORMAT("10006 program-failed path=\"C:\\\\temp\"", STATUS_PROGRAM_FAILED,
		      { "path", "C:\\temp" });
	ASSERT_FORMAT("10006 program-failed error=\"line1\\nline2\\r\\tend\"",
		      STATUS_PROGRAM_FAILED, { "error", "line1\nline2\r\tend" });
	ASSERT_FORMAT("10006 program-failed error=\"a\\x01b\\x1bc\\x7f\"", STATUS_PROGRAM_FAILED,
		      { "error", "a\001b\033c\177" });
	/* A lone quote, a lone '=' and a value that is only a backslash. */
	ASSERT_FORMAT("10006 program-failed a=\"\\\"\" b=\"=\" c=\"\\\\\"", STATUS_PROGRAM_FAILED,
		      { "a", "\"" }, { "b", "=" }, { "c", "\\" });
	/* UTF-8 is text, not control characters. */
	ASSERT_FORMAT("10005 program-started program=Überprüfung", STATUS_PROGRAM_STARTED,
		      { "program", "Überprüfung" });
	/* Unquoted characters that are harmless. */
	ASSERT_FORMAT("10005 program-started p=/opt/x-1.2_3,4:5@h", STATUS_PROGRAM_STARTED,
		      { "p", "/opt/x-1.2_3,4:5@h" });
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

#define ASSERT_RECV(fd, pri, stamp, ident, text)                                           \
	do {                                                                               \
		char *got_ = recv_msg(fd);                                                 \
		char *exp_ = expect_line((pri), (stamp), (ident), (text));                 \
		CU_ASSERT_PTR_NOT_NULL(got_);                                              \
		if (got_) {                                                                \
			CU_ASSERT_STRING_EQUAL(got_, exp_);                                \
			if (strcmp(got_, exp_) != 0)                                       \
				fprintf(stderr, "\n  got      %s\n  expected %s\n", got_, \
					exp_);                                             \
		}                                                                          \
		free(got_);                                                                \
		free(exp_);                                                                \
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

#define ASSERT_RECV_SEQ(fd, fac, seq)                                                      \
	do {                                                                               \
		char *t_ = seq_text(seq);                                                  \
		ASSERT_RECV((fd), (fac) | LOG_INFO, "Mar  5 07:08:09", "advert-test", t_); \
		free(t_);                                                                  \
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
		{ "format: empty, NULL and bad keys", test_format_empty_and_missing },
		{ "format: unknown id", test_format_unknown_id },
		{ "format: one line whatever the value", test_format_never_multiline },
		{ "format: truncation like snprintf", test_format_truncation },
		{ "event names and severities", test_severity_table },
		{ "open: bad arguments", test_open_errors },
		{ "sink: PRI, timestamp, ident and text", test_sink_sends },
		{ "sink: queue until the socket appears", test_sink_queues_until_socket_appears },
		{ "sink: overflow drops the oldest, notice first", test_sink_overflow_drops_oldest },
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

/* SPDX-License-Identifier: MIT */
/* kdcproxy: a fault-injecting proxy for the integration tests. Relays TCP 88 and 389 to a
 * DC; with -w the KDC gets each AS-REQ that carries the secret, but the client never hears. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KDC_PORT    88
#define LDAP_PORT   389
#define MAX_CONNS   64
#define MAX_PENDING 16            /* requests on one connection still awaiting replies */
#define MAX_FRAME   (1024 * 1024) /* a longer length prefix: the stream is relayed unparsed */
#define HIGH_WATER  (256 * 1024)  /* stop reading a side while this much waits to be written */
#define CHUNK       16384

#define TAG_SEQUENCE           0x30
#define TAG_INTEGER            0x02
#define TAG_AS_REQ             0x6a         /* [APPLICATION 10] */
#define TAG_TGS_REQ            0x6c         /* [APPLICATION 12] */
#define CTX(n)                 (0xa0 | (n)) /* [n], constructed */
#define PA_ENC_TIMESTAMP       2
#define PA_ENCRYPTED_CHALLENGE 138

static const char usage[] =
	"usage: kdcproxy [-w] [-l LOGFILE] [-p PIDFILE] LISTEN_ADDR UPSTREAM_ADDR\n"
	"  Relays TCP ports 88 and 389 of LISTEN_ADDR to the same ports of UPSTREAM_ADDR\n"
	"  (numeric IPv4) until SIGTERM or SIGINT.\n"
	"  -w          withhold the KDC's reply to every AS-REQ with PA-ENC-TIMESTAMP or\n"
	"              PA-ENCRYPTED-CHALLENGE; that client connection stays open and silent\n"
	"  -l LOGFILE  append the event log here instead of stderr\n"
	"  -p PIDFILE  write the pid here once both ports listen (removed at exit)\n";

struct buf {
	unsigned char *p;
	size_t len, cap;
};

struct conn {
	unsigned id;
	int port;
	int cfd, ufd;               /* client, upstream; -1 once closed */
	bool connecting;            /* ufd's connect() has not completed yet */
	bool c_eof, u_eof;          /* that side has sent its last byte */
	bool c_shut, u_shut;        /* we have sent our last byte to that side */
	bool raw;                   /* a plain byte relay: LDAP, or a KDC stream we cannot frame */
	bool silenced;              /* a reply was withheld: we never close this client */
	struct buf cin, uin;        /* Kerberos: the partial frame from each side */
	struct buf c2u, u2c;        /* bytes waiting to be written to the other side */
	bool withhold[MAX_PENDING]; /* per request awaiting its reply, oldest at vhead */
	unsigned vhead, vcount;
};

static bool opt_withhold;
static FILE *log_file;
static struct sockaddr_in upstream;
static struct conn *conns[MAX_CONNS];
static unsigned last_id;
static volatile sig_atomic_t stop;

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(log_file, "%s\n", line);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- buffers ---- */

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return;
	size_t cap = b->cap ? b->cap : CHUNK;
	while (cap - b->len < more)
		cap *= 2;
	unsigned char *p = realloc(b->p, cap);
	if (!p) {
		fprintf(stderr, "kdcproxy: out of memory\n");
		exit(1);
	}
	b->p = p;
	b->cap = cap;
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_drop(struct buf *b, size_t n)
{
	if (n < b->len)
		memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* Moves all of from to the end of to. */
static void buf_move(struct buf *to, struct buf *from)
{
	buf_add(to, from->p, from->len);
	from->len = 0;
}

/* ---- DER (RFC 4120 §5.4.1) ---- */

struct der {
	const unsigned char *p;
	size_t n;
};

/* Takes the next TLV off d: its tag and its contents. Single-byte tags and definite
 * lengths (short form, or long form with 1-4 octets); false unless d starts with a
 * complete one. */
static bool der_next(struct der *d, unsigned char *ret_tag, struct der *ret_val)
{
	if (d->n < 2 || (d->p[0] & 0x1f) == 0x1f)
		return false;
	size_t len = d->p[1], hdr = 2;
	if (len & 0x80) {
		size_t k = len & 0x7f;
		if (k == 0 || k > 4 || k > d->n - 2)
			return false;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | d->p[2 + i];
		hdr += k;
	}
	if (len > d->n - hdr)
		return false;
	*ret_tag = d->p[0];
	ret_val->p = d->p + hdr;
	ret_val->n = len;
	d->p += hdr + len;
	d->n -= hdr + len;
	return true;
}

/* d holds exactly one INTEGER that fits in 32 bits. */
static bool der_int32(struct der d, int32_t *ret)
{
	unsigned char tag;
	struct der v;
	if (!der_next(&d, &tag, &v) || tag != TAG_INTEGER || d.n != 0 || v.n == 0 || v.n > 4)
		return false;
	uint32_t x = (v.p[0] & 0x80) ? UINT32_MAX : 0;
	for (size_t i = 0; i < v.n; i++)
		x = x << 8 | v.p[i];
	*ret = (int32_t)x;
	return true;
}

/* Whether msg is an AS-REQ whose padata [3] holds PA-ENC-TIMESTAMP or
 * PA-ENCRYPTED-CHALLENGE: proof made with the client's key, which the KDC checks and,
 * when it is wrong, counts. Anything that does not parse carries no secret. */
static bool as_req_has_secret(const unsigned char *msg, size_t len)
{
	struct der d = { msg, len }, app, req, field, list, pa, type;
	unsigned char tag;
	if (!der_next(&d, &tag, &app) || tag != TAG_AS_REQ || !der_next(&app, &tag, &req) ||
	    tag != TAG_SEQUENCE)
		return false;
	/* KDC-REQ's fields come in tag order: padata, if present, precedes req-body [4]. */
	while (der_next(&req, &tag, &field) && tag != CTX(4)) {
		if (tag != CTX(3))
			continue;
		if (!der_next(&field, &tag, &list) || tag != TAG_SEQUENCE)
			return false;
		while (der_next(&list, &tag, &pa)) {
			int32_t t;
			if (tag != TAG_SEQUENCE || !der_next(&pa, &tag, &type) || tag != CTX(1) ||
			    !der_int32(type, &t))
				return false;
			if (t == PA_ENC_TIMESTAMP || t == PA_ENCRYPTED_CHALLENGE)
				return true;
		}
		return false;
	}
	return false;
}

/* ---- connections ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* From here on the connection is relayed as bytes, nothing withheld. */
static void go_raw(struct conn *c)
{
	say("passthrough %u", c->id);
	c->raw = true;
	c->vcount = 0;
	buf_move(&c->c2u, &c->cin);
	buf_move(&c->u2c, &c->uin);
}

/* The upstream side is gone (an error, or a KDC that closed): what was on its way there
 * is dropped, and the requests awaiting replies will get none. */
static void upstream_lost(struct conn *c, const char *what, int err)
{
	if (what)
		say("error %u upstream %s: %s", c->id, what, strerror(err));
	if (c->ufd >= 0)
		close(c->ufd);
	c->ufd = -1;
	c->connecting = false;
	c->u_eof = true;
	c->c2u.len = c->uin.len = 0;
	c->vcount = 0;
}

static void client_lost(struct conn *c, const char *what, int err)
{
	if (what)
		say("error %u client %s: %s", c->id, what, strerror(err));
	if (c->cfd >= 0)
		close(c->cfd);
	c->cfd = -1;
	c->c_eof = true;
	c->u2c.len = c->cin.len = 0;
}

static void upstream_connect(struct conn *c)
{
	struct sockaddr_in a = upstream;
	a.sin_port = htons((uint16_t)c->port);
	c->u_eof = c->u_shut = false;
	c->ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->ufd < 0)
		upstream_lost(c, "socket", errno);
	else if (connect(c->ufd, (struct sockaddr *)&a, sizeof(a)) == 0)
		c->connecting = false;
	else if (errno == EINPROGRESS)
		c->connecting = true;
	else
		upstream_lost(c, "connect", errno);
}

/* Complete client frames go upstream, each with its verdict queued for its reply. */
static void parse_requests(struct conn *c)
{
	while (!c->raw && c->vcount < MAX_PENDING && c->cin.len >= 4) {
		uint32_t n = be32(c->cin.p);
		if (n > MAX_FRAME) {
			go_raw(c);
			return;
		}
		if (c->cin.len < 4 + (size_t)n)
			return;
		const unsigned char *m = c->cin.p + 4;
		bool secret = as_req_has_secret(m, n);
		const char *kind = "other";
		if (n && m[0] == TAG_AS_REQ)
			kind = "as-req";
		else if (n && m[0] == TAG_TGS_REQ)
			kind = "tgs-req";
		say("req %u %s secret=%s len=%u", c->id, kind, secret ? "yes" : "no", n);
		c->withhold[(c->vhead + c->vcount++) % MAX_PENDING] = opt_withhold && secret;
		buf_add(&c->c2u, c->cin.p, 4 + (size_t)n);
		buf_drop(&c->cin, 4 + (size_t)n);
	}
}

/* Complete upstream frames go to the client or nowhere, as their request's verdict says.
 * A reply nothing asked for is passed on. */
static void parse_replies(struct conn *c)
{
	while (!c->raw && c->uin.len >= 4) {
		uint32_t n = be32(c->uin.p);
		if (n > MAX_FRAME) {
			go_raw(c);
			return;
		}
		if (c->uin.len < 4 + (size_t)n)
			return;
		bool drop = false;
		if (c->vcount) {
			drop = c->withhold[c->vhead];
			c->vhead = (c->vhead + 1) % MAX_PENDING;
			c->vcount--;
		}
		say("reply %u %s len=%u", c->id, drop ? "withheld" : "forwarded", n);
		if (drop)
			c->silenced = true;
		else if (c->cfd >= 0)
			buf_add(&c->u2c, c->uin.p, 4 + (size_t)n);
		buf_drop(&c->uin, 4 + (size_t)n);
	}
}

/* Reads what fd has into b: 1 for data (or nothing yet), 0 at EOF, -1 on error. */
static int fill(int fd, struct buf *b)
{
	buf_reserve(b, CHUNK);
	ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
	if (n > 0) {
		b->len += (size_t)n;
		return 1;
	}
	if (n == 0)
		return 0;
	return errno == EAGAIN || errno == EINTR ? 1 : -1;
}

/* Writes what b holds to fd, as much as fd takes: 0, or -1 on error. */
static int flush(int fd, struct buf *b)
{
	ssize_t n = send(fd, b->p, b->len, MSG_NOSIGNAL);
	if (n >= 0) {
		buf_drop(b, (size_t)n);
		return 0;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	return err;
}

static bool want_client(const struct conn *c)
{
	if (c->cfd < 0 || c->c_eof)
		return false;
	if (c->raw)
		return c->c2u.len < HIGH_WATER;
	return c->cin.len < 4 + (size_t)MAX_FRAME && c->vcount < MAX_PENDING &&
	       c->c2u.len < HIGH_WATER;
}

static bool want_upstream(const struct conn *c)
{
	if (c->ufd < 0 || c->connecting || c->u_eof)
		return false;
	if (c->raw)
		return c->u2c.len < HIGH_WATER;
	return c->uin.len < 4 + (size_t)MAX_FRAME && c->u2c.len < HIGH_WATER;
}

static void on_client(struct conn *c, short rev)
{
	if ((rev & POLLOUT) && flush(c->cfd, &c->u2c) < 0) {
		client_lost(c, "write", errno);
		return;
	}
	if (!(rev & (POLLIN | POLLHUP | POLLERR)))
		return;
	if (c->c_eof) {
		/* Nothing more to read: a hangup or an error now means the client is gone. */
		client_lost(c, (rev & POLLERR) ? "socket" : NULL, sock_error(c->cfd));
		return;
	}
	int r = fill(c->cfd, c->raw ? &c->c2u : &c->cin);
	if (r < 0) {
		client_lost(c, "read", errno);
		return;
	}
	if (r == 0)
		c->c_eof = true;
	if (c->raw && c->ufd < 0)
		c->c2u.len = 0;
}

static void on_upstream(struct conn *c, short rev)
{
	if (c->connecting) {
		if (!(rev & (POLLOUT | POLLHUP | POLLERR)))
			return;
		int err = sock_error(c->ufd);
		if (err)
			upstream_lost(c, "connect", err);
		else
			c->connecting = false;
		return;
	}
	if ((rev & POLLOUT) && flush(c->ufd, &c->c2u) < 0) {
		upstream_lost(c, "write", errno);
		return;
	}
	if (!(rev & (POLLIN | POLLHUP | POLLERR)))
		return;
	if (c->u_eof) {
		upstream_lost(c, (rev & POLLERR) ? "socket" : NULL, sock_error(c->ufd));
		return;
	}
	int r = fill(c->ufd, c->raw ? &c->u2c : &c->uin);
	if (r < 0) {
		upstream_lost(c, "read", errno);
		return;
	}
	if (!c->raw)
		parse_replies(c); /* which may give up framing and turn c raw */
	if (c->raw) {
		c->u_eof = r == 0;
		if (c->cfd < 0)
			c->u2c.len = 0;
	} else if (r == 0) {
		/* A KDC that closes is done with this connection; a cut-off reply is passed
		 * on unless it would have been withheld. */
		if (c->uin.len && c->cfd >= 0 && !(c->vcount && c->withhold[c->vhead]))
			buf_move(&c->u2c, &c->uin);
		upstream_lost(c, NULL, 0);
	}
}

/* After c's events: frames, reconnects, half-closes. False when c is finished. */
static bool conn_update(struct conn *c)
{
	if (!c->raw) {
		parse_requests(c);
		/* A partial frame the client will never complete goes on as it is. */
		if (c->c_eof && c->cin.len)
			buf_move(&c->c2u, &c->cin);
		/* A KDC closes after its reply; a request that comes after that gets a new
		 * connection (a silenced client may still be talking). */
		if (c->ufd < 0 && c->c2u.len && c->cfd >= 0)
			upstream_connect(c);
	}
	if (c->raw && c->c_eof && !c->c2u.len && c->ufd >= 0 && !c->connecting && !c->u_shut) {
		shutdown(c->ufd, SHUT_WR);
		c->u_shut = true;
	}
	if (c->u_eof && !c->u2c.len && c->cfd >= 0 && !c->c_shut && !c->silenced) {
		shutdown(c->cfd, SHUT_WR);
		c->c_shut = true;
	}

	/* A byte relay whose upstream failed ends, as a direct connection would. */
	if (c->raw && c->ufd < 0 && !c->silenced)
		return false;
	bool client_done = c->cfd < 0 || (c->c_eof && !c->u2c.len);
	bool upstream_done;
	if (c->raw)
		upstream_done = c->ufd < 0 || (c->u_eof && !c->c2u.len);
	else
		upstream_done =
			c->ufd < 0 || (c->c_eof && !c->connecting && !c->vcount && !c->c2u.len);
	return !(client_done && upstream_done);
}

static void conn_free(struct conn *c)
{
	say("close %u", c->id);
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->ufd >= 0)
		close(c->ufd);
	free(c->cin.p);
	free(c->uin.p);
	free(c->c2u.p);
	free(c->u2c.p);
	free(c);
}

static void on_accept(int lfd, int port)
{
	size_t i = 0;
	while (i < MAX_CONNS && conns[i])
		i++;
	if (i == MAX_CONNS)
		return; /* it waits in the backlog until a connection ends */
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			say("error accept port %d: %s", port, strerror(errno));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->id = ++last_id;
	c->port = port;
	c->cfd = fd;
	c->ufd = -1;
	c->raw = port != KDC_PORT;
	say("conn %u port %d", c->id, port);
	upstream_connect(c);
	if (c->ufd < 0)
		conn_free(c);
	else
		conns[i] = c;
}

static int listen_on(struct in_addr addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr = addr };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		char s[INET_ADDRSTRLEN];
		fprintf(stderr, "kdcproxy: listen on %s:%d: %s\n",
			inet_ntop(AF_INET, &addr, s, sizeof(s)), port, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Written whole under a temporary name, so whoever sees the file sees the pid. */
static void write_pidfile(const char *path)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = n > 0 && (size_t)n < sizeof(tmp) ? fopen(tmp, "we") : NULL;
	bool ok = f && fprintf(f, "%d\n", (int)getpid()) > 0;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		fprintf(stderr, "kdcproxy: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void run(const int lfd[2], const int port[2], const sigset_t *mask)
{
	struct pollfd pfd[2 + 2 * MAX_CONNS];
	while (!stop) {
		size_t n = 0;
		for (size_t i = 0; i < MAX_CONNS; i++)
			n += conns[i] != NULL;
		for (int k = 0; k < 2; k++)
			pfd[k] = (struct pollfd){ .fd = n < MAX_CONNS ? lfd[k] : -1,
						  .events = POLLIN };
		for (size_t i = 0; i < MAX_CONNS; i++) {
			struct conn *c = conns[i];
			struct pollfd *p = &pfd[2 + 2 * i];
			p[0] = p[1] = (struct pollfd){ .fd = -1 };
			if (!c)
				continue;
			p[0].fd = c->cfd;
			p[0].events =
				(short)((want_client(c) ? POLLIN : 0) | (c->u2c.len ? POLLOUT : 0));
			p[1].fd = c->ufd;
			if (c->connecting)
				p[1].events = POLLOUT;
			else
				p[1].events = (short)((want_upstream(c) ? POLLIN : 0) |
						      (c->c2u.len ? POLLOUT : 0));
		}
		if (ppoll(pfd, 2 + 2 * MAX_CONNS, NULL, mask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kdcproxy: poll: %s\n", strerror(errno));
			exit(1);
		}
		for (size_t i = 0; i < MAX_CONNS; i++) {
			struct conn *c = conns[i];
			struct pollfd *p = &pfd[2 + 2 * i];
			if (!c || !(p[0].revents | p[1].revents))
				continue;
			if (p[0].revents)
				on_client(c, p[0].revents);
			if (p[1].revents && c->ufd == p[1].fd)
				on_upstream(c, p[1].revents);
			if (!conn_update(c)) {
				conn_free(c);
				conns[i] = NULL;
			}
		}
		for (int k = 0; k < 2; k++)
			if (pfd[k].revents & POLLIN)
				on_accept(lfd[k], port[k]);
	}
}

int main(int argc, char **argv)
{
	const char *log_path = NULL, *pid_path = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "wl:p:h")) != -1) {
		switch (opt) {
		case 'w':
			opt_withhold = true;
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'p':
			pid_path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	struct in_addr listen_addr;
	if (argc - optind != 2 || inet_pton(AF_INET, argv[optind], &listen_addr) != 1 ||
	    inet_pton(AF_INET, argv[optind + 1], &upstream.sin_addr) != 1) {
		fputs(usage, stderr);
		return 2;
	}
	upstream.sin_family = AF_INET;

	log_file = log_path ? fopen(log_path, "ae") : stderr;
	if (!log_file) {
		fprintf(stderr, "kdcproxy: %s: %s\n", log_path, strerror(errno));
		return 1;
	}
	setvbuf(log_file, NULL, _IOLBF, 0);

	/* TERM and INT are only taken inside ppoll(), so none slips in before it waits. */
	sigset_t block, mask;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &mask);
	sigdelset(&mask, SIGTERM);
	sigdelset(&mask, SIGINT);
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	const int port[2] = { KDC_PORT, LDAP_PORT };
	const int lfd[2] = { listen_on(listen_addr, port[0]), listen_on(listen_addr, port[1]) };
	if (pid_path)
		write_pidfile(pid_path);

	run(lfd, port, &mask);

	for (size_t i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			conn_free(conns[i]);
	close(lfd[0]);
	close(lfd[1]);
	if (pid_path)
		unlink(pid_path);
	if (log_file != stderr)
		fclose(log_file);
	return 0;
}

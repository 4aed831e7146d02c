/* SPDX-License-Identifier: MIT */
/* The one road to the pinned KDC: a TCP connection per request to the DC's address,
 * every read and write bounded by the attempt's deadline. Never UDP, never another DC. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "advert/kdcmsg.h"
#include "advert/util.h"
#include "creds-internal.h"

/* Waits for events on fd until the context's deadline. Returns 0, -ETIMEDOUT or -errno. */
static int wait_fd(const struct creds_ctx *c, int fd, short events)
{
	for (;;) {
		int ms = -1;
		if (c->deadline_ms > 0) {
			double left = c->deadline_ms - util_now_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			ms = (int)left + 1;
		}
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n == 0)
			continue; /* the deadline check above ends it */
		if (errno != EINTR)
			return -errno;
	}
}

static int send_all(const struct creds_ctx *c, int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		int r = wait_fd(c, fd, POLLOUT);
		if (r < 0)
			return r;
	}
	return 0;
}

static int recv_all(const struct creds_ctx *c, int fd, unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = recv(fd, p, n, 0);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int r = wait_fd(c, fd, POLLIN);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A TCP connection to the pinned DC, made before the deadline. Returns the fd (the caller
 * closes it) or -errno. */
int creds_kdc_connect(struct creds_ctx *c)
{
	int fd = socket(c->kdc_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (connect(fd, (const struct sockaddr *)&c->kdc_addr, c->kdc_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			r = -errno;
		} else if ((r = wait_fd(c, fd, POLLOUT)) == 0) {
			int soerr = 0;
			socklen_t len = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
				r = -errno;
			else if (soerr)
				r = -soerr;
		}
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* One request and its reply on the connected fd (RFC 4120 §7.2.2), before the deadline;
 * closes fd. *reply is malloc'd. Returns 0 or -errno (-ETIMEDOUT for the deadline). */
int creds_kdc_roundtrip(struct creds_ctx *c, int fd, const krb5_data *req, krb5_data *reply)
{
	c->kdc_requests++;
	uint32_t be = htonl(req->length);
	int r = send_all(c, fd, (const unsigned char *)&be, sizeof(be));
	if (r == 0)
		r = send_all(c, fd, (const unsigned char *)req->data, req->length);
	if (r == 0)
		r = recv_all(c, fd, (unsigned char *)&be, sizeof(be));
	uint32_t len = ntohl(be);
	if (r == 0 && (len == 0 || len > KDC_REPLY_MAX))
		r = -EBADMSG;
	char *data = NULL;
	if (r == 0 && !(data = malloc(len)))
		r = -ENOMEM;
	if (r == 0)
		r = recv_all(c, fd, (unsigned char *)data, len);
	close(fd);
	if (r < 0) {
		free(data);
		return r;
	}
	reply->magic = KV5M_DATA;
	reply->data = data;
	reply->length = len;
	return 0;
}

/* One request to the pinned KDC and its reply (caller frees reply->data), over one TCP
 * connection, within the context's deadline. Returns 0, -ETIMEDOUT, -EHOSTUNREACH or
 * -errno. */
static int creds_kdc_exchange(struct creds_ctx *c, const krb5_data *req, krb5_data *reply)
{
	int fd = creds_kdc_connect(c);
	return fd < 0 ? fd : creds_kdc_roundtrip(c, fd, req, reply);
}

/* Every request the library itself sends through this context (service tickets)
 * travels by creds_kdc_exchange too: the same DC, the same deadline, never UDP. A request
 * carrying the secret never goes this way; creds_acquire alone sends that. */
krb5_error_code KRB5_CALLCONV creds_kdc_send(krb5_context ctx, void *data, const krb5_data *realm,
					     const krb5_data *message, krb5_data **new_message_out,
					     krb5_data **reply_out)
{
	struct creds_ctx *c = data;
	if (kdcmsg_carries_secret(message->data, message->length))
		return KRB5_PLUGIN_OP_NOTSUPP;
	krb5_data reply;
	int r = creds_kdc_exchange(c, message, &reply);
	if (r < 0)
		return KRB5_KDC_UNREACH;
	krb5_data *out = malloc(sizeof(*out));
	if (!out) {
		free(reply.data);
		return ENOMEM;
	}
	*out = reply;
	*reply_out = out;
	return 0;
}

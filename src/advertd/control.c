/* SPDX-License-Identifier: MIT */
/* The control socket's transport and permissions; the commands are in commands.c. A
 * malformed, oversized or half-sent request gets an error or is dropped: it never
 * disturbs the daemon, and no client can hold it up (non-blocking I/O, a bounded number
 * of clients and of clients per uid, an idle timeout). Every string in a reply is valid
 * UTF-8. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "advert/log.h"
#include "advert/utf8.h"
#include "advert/util.h"
#include "control.h"

#define CLIENT_IDLE_MS 5000
#define MAX_ARGS       16
#define ERROR_TEXT_MAX 511 /* bytes of an error reply's text */

struct client {
	int fd;
	uid_t uid;
	enum control_perm perm;
	char in[CONTROL_REQUEST_MAX + 1];
	size_t in_len;
	char *out; /* the reply, once there is one */
	size_t out_len, out_off;
	long deadline;
};

struct control {
	int fd;
	char *path;
	gid_t admin_gid;
	bool has_admin_gid;
	struct client clients[CONTROL_CLIENTS_MAX];
	size_t n_clients;
};

/* How many of the len bytes at s fit in max without splitting a character; a byte that
 * is not part of valid UTF-8 counts as a character of its own. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	size_t i = 0;
	while (i < len) {
		size_t k = utf8_char_len(s + i, len - i);
		if (k == 0)
			k = 1;
		if (k > max - i)
			break;
		i += k;
	}
	return i;
}

static struct json_object *json_string_len(const char *s, size_t len)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	char *buf = malloc(3 * len + 1);                  /* every byte replaced, at worst */
	if (!buf)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_char_len(s + i, len - i);
		if (k == 0) {
			memcpy(buf + o, replacement, 3);
			o += 3;
			i++;
		} else {
			memcpy(buf + o, s + i, k);
			o += k;
			i += k;
		}
	}
	struct json_object *j = json_object_new_string_len(buf, (int)o);
	free(buf);
	return j;
}

struct json_object *control_json_string(const char *s)
{
	return s ? json_string_len(s, strlen(s)) : NULL;
}

struct json_object *control_json_bytes(const char *s, size_t len)
{
	return json_string_len(s, len);
}

const char *control_excerpt(const char *s, char buf[static CONTROL_EXCERPT_SIZE])
{
	size_t len = strlen(s), n = utf8_cut(s, len, CONTROL_EXCERPT_MAX);
	memcpy(buf, s, n);
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

struct json_object *control_error(enum control_code code, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int k = vasprintf(&text, fmt, ap);
	va_end(ap);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "code", json_object_new_int(code));
	json_object_object_add(
		o, "error",
		k < 0 ? json_object_new_string("out of memory")
		      : json_string_len(text, utf8_cut(text, (size_t)k, ERROR_TEXT_MAX)));
	free(text);
	return o;
}

/* The admin group's gid, when it is set and exists. */
static bool admin_gid_of(const char *admin_group, gid_t *ret)
{
	if (!admin_group || !*admin_group)
		return false;
	struct group *g = getgrnam(admin_group);
	if (!g) {
		log_warning("admin_group \"%s\" does not exist: only root may use advertctl",
			    admin_group);
		return false;
	}
	*ret = g->gr_gid;
	return true;
}

int control_set_admin_group(struct control *c, const char *admin_group)
{
	gid_t gid = 0;
	bool has = admin_gid_of(admin_group, &gid);
	/* The socket's group is the gate for everyone who is not root: it changes first. */
	if (chown(c->path, 0, has ? gid : 0) < 0)
		return -errno;
	c->admin_gid = gid;
	c->has_admin_gid = has;
	return 0;
}

int control_open(const char *path, const char *admin_group, struct control **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	struct control *c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return -ENOMEM;
	}
	c->has_admin_gid = admin_gid_of(admin_group, &c->admin_gid);
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			log_warning_errno(-errno, "cannot create %s", dir);
	}
	free(dir);

	int r = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = -errno;
		goto fail;
	}
	unlink(path); /* stale: the caller holds the single-instance lock */
	/* Created 0660 from the start, not chmod'ed after: no window with a wider mode. */
	mode_t old = umask(0117);
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	umask(old);
	if (r == 0 && c->has_admin_gid && chown(path, 0, c->admin_gid) < 0)
		r = -errno;
	if (r == 0 && listen(c->fd, CONTROL_CLIENTS_MAX) < 0)
		r = -errno;
	if (r == 0) {
		*ret = c;
		return 0;
	}
fail:
	control_close(c);
	return r;
}

size_t control_pollfds(const struct control *c, struct pollfd *fds, size_t max)
{
	size_t n = 0;
	if (n < max)
		fds[n++] = (struct pollfd){ c->fd, POLLIN, 0 };
	for (size_t i = 0; i < c->n_clients && n < max; i++)
		fds[n++] = (struct pollfd){ c->clients[i].fd, c->clients[i].out ? POLLOUT : POLLIN,
					    0 };
	return n;
}

/* What the peer may do, from the kernel's word on who it is; *ret_uid is its uid
 * ((uid_t)-1 when the kernel would not say). */
static enum control_perm peer_perm(const struct control *c, int fd, uid_t *ret_uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	*ret_uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return CONTROL_PERM_NONE;
	*ret_uid = cred.uid;
	if (cred.uid == 0)
		return CONTROL_PERM_ADMIN;
	if (!c->has_admin_gid)
		return CONTROL_PERM_NONE;
	if (cred.gid == c->admin_gid)
		return CONTROL_PERM_READ;
	gid_t groups[256];
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (groups[i] == c->admin_gid)
				return CONTROL_PERM_READ;
	return CONTROL_PERM_NONE;
}

static void drop_client(struct control *c, size_t i)
{
	close(c->clients[i].fd);
	free(c->clients[i].out);
	c->clients[i] = c->clients[--c->n_clients];
}

static void set_reply(struct client *cl, struct json_object *reply)
{
	const char *text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);
	cl->out = malloc(len + 2);
	if (cl->out) {
		memcpy(cl->out, text, len);
		cl->out[len] = '\n';
		cl->out_len = len + 1;
		cl->out_off = 0;
	}
	json_object_put(reply);
}

/* Which commands need what; anything not listed is unknown. */
static const struct {
	const char *name;
	enum control_perm needs;
} commands[] = {
	{ "list", CONTROL_PERM_READ },          { "status", CONTROL_PERM_READ },
	{ "explain", CONTROL_PERM_READ },       { "history", CONTROL_PERM_READ },
	{ "identity", CONTROL_PERM_READ },      { "ping", CONTROL_PERM_READ },
	{ "run", CONTROL_PERM_ADMIN },          { "reload", CONTROL_PERM_ADMIN },
	{ "clear-damage", CONTROL_PERM_ADMIN }, { "problems", CONTROL_PERM_READ },
	{ "stop", CONTROL_PERM_ADMIN },         { "log", CONTROL_PERM_READ },
};

static struct json_object *handle_request(struct client *cl, char *line, control_fn fn, void *data)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (argc == MAX_ARGS)
			return control_error(CONTROL_USAGE, "too many arguments");
		for (const char *p = t; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
				return control_error(CONTROL_USAGE,
						     "control characters in the request");
		argv[argc++] = t;
	}
	argv[argc] = NULL;
	if (argc == 0)
		return control_error(CONTROL_USAGE, "empty request");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, argv[0]) != 0)
			continue;
		if (cl->perm < commands[i].needs)
			return control_error(CONTROL_DENIED, "permission denied: \"%s\" is for %s",
					     argv[0],
					     commands[i].needs == CONTROL_PERM_ADMIN
						     ? "root"
						     : "root and the admin group");
		return fn(data, cl->perm, argv, argc);
	}
	char ex[CONTROL_EXCERPT_SIZE];
	return control_error(CONTROL_USAGE, "unknown command \"%s\"", control_excerpt(argv[0], ex));
}

static void read_client(struct control *c, struct client *cl, control_fn fn, void *data)
{
	ssize_t k = read(cl->fd, cl->in + cl->in_len, CONTROL_REQUEST_MAX - cl->in_len);
	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (k <= 0) { /* closed before a whole line: nothing to answer */
		cl->deadline = 0;
		return;
	}
	cl->in_len += (size_t)k;
	cl->in[cl->in_len] = '\0';
	char *nl = memchr(cl->in, '\n', cl->in_len);
	if (!nl && cl->in_len < CONTROL_REQUEST_MAX)
		return;
	if (!nl) {
		set_reply(cl, control_error(CONTROL_USAGE, "request longer than %d bytes",
					    CONTROL_REQUEST_MAX));
		return;
	}
	*nl = '\0';
	if (memchr(cl->in, '\0', (size_t)(nl - cl->in))) {
		set_reply(cl, control_error(CONTROL_USAGE, "NUL byte in the request"));
		return;
	}
	struct json_object *reply = handle_request(cl, cl->in, fn, data);
	set_reply(cl, reply ? reply : control_error(CONTROL_FAILED, "out of memory"));
	(void)c;
}

/* Answers a connection that will not be served, and closes it. The reply is short and
 * the socket fresh, so it fits in the buffer at once: this never blocks, and a peer that
 * has gone already costs nothing (no SIGPIPE). The client reads it before it sees the
 * connection end, even when its request arrived unread. */
static void refuse(int fd, const char *why)
{
	struct json_object *o = control_error(CONTROL_BUSY, "%s", why);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	char line[256];
	int len = snprintf(line, sizeof(line), "%s\n", text);
	if (len > 0 && (size_t)len < sizeof(line) &&
	    send(fd, line, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug_errno(-errno, "cannot tell a control client it is refused");
	json_object_put(o);
	close(fd);
}

void control_dispatch(struct control *c, const struct pollfd *fds, size_t n, control_fn fn,
		      void *data)
{
	long now = (long)util_now_ms();
	/* Clients first, by fd: the array may be reordered by drops. */
	for (size_t j = 1; j < n; j++) {
		if (!fds[j].revents)
			continue;
		for (size_t i = 0; i < c->n_clients; i++) {
			struct client *cl = &c->clients[i];
			if (cl->fd != fds[j].fd)
				continue;
			if (cl->out && (fds[j].revents & (POLLOUT | POLLERR | POLLHUP))) {
				ssize_t k = write(cl->fd, cl->out + cl->out_off,
						  cl->out_len - cl->out_off);
				if (k > 0)
					cl->out_off += (size_t)k;
				if (k < 0 && errno != EAGAIN && errno != EINTR)
					cl->deadline = 0;
				if (cl->out_off == cl->out_len)
					cl->deadline = 0; /* answered: done */
			} else if (!cl->out) {
				read_client(c, cl, fn, data);
			}
			break;
		}
	}
	for (size_t i = 0; i < c->n_clients;) {
		if (c->clients[i].deadline <= now)
			drop_client(c, i);
		else
			i++;
	}
	if (n > 0 && fds[0].revents & POLLIN) {
		for (;;) {
			int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0)
				break;
			uid_t uid;
			enum control_perm perm = peer_perm(c, fd, &uid);
			/* The last slots are root's: readers holding every connection open must
			 * not keep root from run or reload. And no one uid but root may hold more
			 * than its share: one admin-group member must not lock the others out. */
			size_t others = 0, same = 0;
			for (size_t i = 0; i < c->n_clients; i++) {
				others += c->clients[i].perm != CONTROL_PERM_ADMIN;
				same += c->clients[i].uid == uid;
			}
			if (c->n_clients == CONTROL_CLIENTS_MAX ||
			    (perm != CONTROL_PERM_ADMIN &&
			     others >= CONTROL_CLIENTS_MAX - CONTROL_ROOT_SLOTS)) {
				refuse(fd, "advertd is busy (too many connections)");
				continue;
			}
			if (uid != 0 && same >= CONTROL_UID_SLOTS) {
				refuse(fd, "advertd is busy (too many connections from this user)");
				continue;
			}
			c->clients[c->n_clients++] = (struct client){
				.fd = fd, .uid = uid, .perm = perm, .deadline = now + CLIENT_IDLE_MS
			};
		}
	}
}

void control_close(struct control *c)
{
	if (!c)
		return;
	while (c->n_clients)
		drop_client(c, 0);
	if (c->fd >= 0) {
		close(c->fd);
		unlink(c->path);
	}
	free(c->path);
	free(c);
}

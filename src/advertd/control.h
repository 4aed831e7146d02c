/* SPDX-License-Identifier: MIT */
/* The control socket: a Unix stream socket (never TCP), one request line per connection
 * ("COMMAND ARG…\n"), one JSON reply. The peer's credentials decide what it may do:
 * root everything, the admin group the read commands, anyone else nothing. */
#ifndef ADVERTD_CONTROL_H
#define ADVERTD_CONTROL_H

#include <poll.h>
#include <stddef.h>
#include <time.h>

#include "advert/ctlproto.h"

struct json_object;

enum control_perm {
	CONTROL_PERM_NONE,
	CONTROL_PERM_READ,  /* members of admin_group */
	CONTROL_PERM_ADMIN, /* root */
};

#define CONTROL_CLIENTS_MAX 64
#define CONTROL_ROOT_SLOTS  8  /* of CONTROL_CLIENTS_MAX, kept for root */
#define CONTROL_UID_SLOTS   16 /* the most any one uid but root may hold at once */

/* Handles one parsed request; returns the reply (the caller frees it). perm is what the
 * peer may do; the table of which command needs what lives in control.c. */
typedef struct json_object *(*control_fn)(void *data, enum control_perm perm, char **argv,
					  int argc);

struct control;

/* Creates the socket at path (its directory made 0755 if missing; a stale socket
 * replaced — the caller holds the single-instance lock), mode 0660, group admin_group
 * when it names a group. Returns 0 or -errno. */
int control_open(const char *path, const char *admin_group, struct control **ret);
/* A reloaded admin_group: the socket's group and who may read change now. */
int control_set_admin_group(struct control *c, const char *admin_group);

/* The descriptors to poll: the listening socket and every client. Returns how many were
 * written to fds (at most max). */
size_t control_pollfds(const struct control *c, struct pollfd *fds, size_t max);

/* Accepts, reads, answers and closes as fds say; drops clients idle for too long. */
void control_dispatch(struct control *c, const struct pollfd *fds, size_t n, control_fn fn,
		      void *data);

/* A reply {"ok": false, "code": code, "error": text}; the text is cut to at most 511
 * bytes at a character boundary and made valid UTF-8 like control_json_string(). */
struct json_object *control_error(enum control_code code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A new JSON string holding s as valid UTF-8, whatever s holds: each byte that is not
 * part of a valid sequence becomes U+FFFD (json-c would pass it on raw, and a JSON
 * parser refuse the reply). NULL for NULL; the caller owns the reference. */
struct json_object *control_json_string(const char *s);
/* The same for len bytes that may hold anything (a program's output, NULs included). */
struct json_object *control_json_bytes(const char *s, size_t len);

/* An excerpt of s for a message: at most CONTROL_EXCERPT_MAX bytes, cut at a character
 * boundary and then ending in "...", written to buf. Returns buf. */
#define CONTROL_EXCERPT_MAX  64
#define CONTROL_EXCERPT_SIZE (CONTROL_EXCERPT_MAX + 4)
const char *control_excerpt(const char *s, char buf[static CONTROL_EXCERPT_SIZE])
	__attribute__((nonnull));

void control_close(struct control *c);

#endif

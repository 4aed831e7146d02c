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

/* Handles one parsed request; returns the reply (the caller frees it). perm is what the
 * peer may do; the table of which command needs what lives in control.c. */
typedef struct json_object *(*control_fn)(void *data, enum control_perm perm, char **argv,
					  int argc);

struct control;

/* Creates the socket at path (its directory made 0755 if missing; a stale socket
 * replaced — the caller holds the single-instance lock), mode 0660, group admin_group
 * when it names a group. Returns 0 or -errno. */
int control_open(const char *path, const char *admin_group, struct control **ret);

/* The descriptors to poll: the listening socket and every client. Returns how many were
 * written to fds (at most max). */
size_t control_pollfds(const struct control *c, struct pollfd *fds, size_t max);

/* Accepts, reads, answers and closes as fds say; drops clients idle for too long. */
void control_dispatch(struct control *c, const struct pollfd *fds, size_t n, control_fn fn,
		      void *data);

/* A reply {"ok": false, "code": code, "error": text}. */
struct json_object *control_error(enum control_code code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void control_close(struct control *c);

#endif

/* SPDX-License-Identifier: MIT */
/* Polling the directory for published advertisements, as the client token account on
 * one pinned DC: a connection kept between polls (one bind per PUBPOLL_RECONNECT, not
 * per poll), one search of change markers per configured base when nothing changed, the
 * texts only when a marker did, this host's groups now and then, and the verified set
 * written to state_dir/published when it changed. Runs in the daemon's poller process,
 * never in the daemon: a hung DC stalls nothing but the next poll. */
#ifndef ADVERT_PUBPOLL_H
#define ADVERT_PUBPOLL_H

#include <stdbool.h>
#include <time.h>

#include "advert/config.h"
#include "advert/published.h"
#include "advert/util.h"

/* A kept connection is bound again after this long (seconds), or when it fails. */
#define PUBPOLL_RECONNECT (8 * 3600)
/* The host's groups are read again every this many polls (and whenever an entry or the
 * connection changed): membership changes rarely, and each read costs a few searches. */
#define PUBPOLL_GROUPS_EVERY 24

struct directory_conn;

struct pubpoll {
	const struct config *cfg;
	struct directory_conn *conn;
	char *conn_dc;      /* the DC conn is bound to */
	char *conn_host_dn; /* this host's entry, as conn's bind found it */
	bool conn_no_entry; /* the bind maps this host to no entry */
	time_t connected_at;
	unsigned polls_since_groups;
	struct published_set set; /* the last verified set (from the file at first) */
	bool have_set;
};

/* What one poll did and cost. */
struct pubpoll_report {
	bool ok;      /* a DC answered all of it */
	bool changed; /* the set is different (and was saved) */
	bool saved;
	struct why why; /* when not ok: why */
	char dc[256];
	unsigned connections, binds, searches, kdc_requests;
	unsigned long long bytes_sent, bytes_received;
	size_t entries;
	double ms;
};

/* Starts from state_dir/published when it is there and sound; why says if it was
 * damaged (-EBADMSG: ignored, a poll writes it anew). Returns 0 or -EBADMSG/-ENOMEM. */
int pubpoll_init(struct pubpoll *p, const struct config *cfg, struct why *why)
	__attribute__((nonnull));

/* One poll at now. Returns 0, or -errno with rep->why (no DC answered, the guard held,
 * the directory refused): the file is left as it was. */
int pubpoll_run(struct pubpoll *p, time_t now, struct pubpoll_report *rep) __attribute__((nonnull));

/* The next poll after now: this host's fixed offset within every poll_interval (the
 * same on every restart, spread across a fleet). */
time_t pubpoll_next(const struct config *cfg, time_t now) __attribute__((nonnull));

/* This host's name as the directory knows it: the client token principal's host part,
 * else the host name (with directory.domain when it has no dot). Caller frees. */
char *pubpoll_host_name(const struct config *cfg) __attribute__((nonnull));

/* Whether cfg reads anything from the directory for itself (an ldap:/// path). */
bool pubpoll_wanted(const struct config *cfg) __attribute__((nonnull));

void pubpoll_close(struct pubpoll *p);

#endif

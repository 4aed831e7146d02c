/* SPDX-License-Identifier: MIT */
/* What directory.c shares with its two halves, dirgroups.c (the group walks) and
 * dirfacts.c (the lockout facts): the connection and one paged, deadline-bound search. */
#ifndef ADVERT_DIRECTORY_INTERNAL_H
#define ADVERT_DIRECTORY_INTERNAL_H

#include <ldap.h>
#include <stdbool.h>
#include <time.h>

#include "advert/directory.h"
#include "advert/util.h"

struct directory_conn {
	LDAP *ld;
	int fd;
	struct timespec deadline; /* CLOCK_MONOTONIC: every LDAP step ends by then */
	struct directory_stats stats;
};

/* Time left until d->deadline in *tv (also the socket's timeouts); false when none is. */
bool dir_time_left(struct directory_conn *d, struct timeval *tv);

typedef int (*dir_entry_fn)(LDAP *ld, LDAPMessage *e, void *data);

/* One search, paged when not base-scoped; fn sees every entry. Referrals are ignored. */
int dir_search(struct directory_conn *d, const char *base, int scope, const char *filter,
	       char **attrs, dir_entry_fn fn, void *data, struct why *why);
/* The first value of attr as a string, or NULL (caller frees). */
char *dir_first_value(LDAP *ld, LDAPMessage *e, const char *attr);
/* Every value of attr as strings, NULL-terminated (maybe empty), or NULL on ENOMEM;
 * caller frees each and the vector. */
char **dir_values(LDAP *ld, LDAPMessage *e, const char *attr);
/* A uid or gid in decimal, below (uid_t)-1. */
bool dir_parse_id(const char *s, unsigned long *ret);
/* An assertion value escaped for a filter (RFC 4515), or NULL (caller frees). */
char *dir_escape_value(const char *v, size_t len);

#endif

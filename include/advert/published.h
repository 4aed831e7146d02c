/* SPDX-License-Identifier: MIT */
/* Advertisements published in the directory, as the host last verified them: the
 * entries under each configured ldap:/// base, the DC they came from and when, and what
 * the directory says this host is (its entry and every group it is in, nested), for
 * targets. Kept in state_dir/published, checksummed and replaced atomically, so that
 * the set keeps running when no DC answers. The model, its file format and the target
 * check; knows nothing of LDAP. */
#ifndef ADVERT_PUBLISHED_H
#define ADVERT_PUBLISHED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "advert/advert.h"
#include "advert/util.h"

#define PUBLISHED_FILE "published"
/* The most entries, and the largest text of one, that a set holds: beyond them the
 * directory's answer is refused as a whole rather than cut. */
#define PUBLISHED_MAX_ENTRIES 10000
#define PUBLISHED_MAX_TEXT    (256 * 1024)

struct published_entry {
	char *base;   /* the configured URL it was found under */
	char *dn;     /* the entry */
	char *marker; /* entryCSN or uSNChanged: changes with every write of the entry */
	char *text;   /* the advertisement file's text */
};

struct published_set {
	time_t verified; /* when a DC last confirmed it (0: never) */
	char *dc;        /* which DC */
	char *host;      /* this host's name as the directory knows it (FQDN) */
	char *host_dn;   /* this host's entry, NULL when it has none */
	bool groups_known;
	char **groups; /* group DNs this host is in, nested; NULL-terminated */
	size_t n_groups;
	struct published_entry *items; /* in (base, DN) order */
	size_t n;
};

/* The file's bytes for set. Returns 0 with *ret (caller frees) and *ret_len, or -ENOMEM. */
int published_format(const struct published_set *set, char **ret, size_t *ret_len)
	__attribute__((nonnull, warn_unused_result));

/* Parses what published_format wrote. Returns 0 with *ret filled (caller clears), or
 * -EBADMSG (damaged: checksum, shape or limits; why says where) or -ENOMEM. */
int published_parse(const char *buf, size_t len, struct published_set *ret, struct why *why)
	__attribute__((nonnull, warn_unused_result));

/* Reads state_dir/published (root's, 0600). -ENOENT when there is none. */
int published_load(const char *state_dir, struct published_set *ret, struct why *why)
	__attribute__((nonnull, warn_unused_result));
/* Replaces state_dir/published atomically. Returns 0 or -errno. */
int published_save(const char *state_dir, const struct published_set *set)
	__attribute__((nonnull, warn_unused_result));

/* A digest over every entry's base, DN and marker: equal when nothing was written. */
uint64_t published_fingerprint(const struct published_set *set) __attribute__((nonnull));

void published_clear(struct published_set *set);

/* Whether a is for this host (set may be NULL: nothing known of it): 1 with why saying
 * which target matched (or that it has none), 0 with why saying why not. A host name
 * target (one with a '.' and no '=') matches the host's name, a DN (one with '=') one
 * of its groups, any other word the host's first label or a group's name (the value of
 * its first RDN); case does not matter. Groups are only what the directory said: when
 * it has not, a group target matches nothing. */
int published_targeted(const struct advert *a, const struct published_set *set, struct why *why)
	__attribute__((nonnull(1, 3)));

/* The host name from a client token principal: "host/NAME@REALM" gives NAME, an AD
 * computer account "WS1$@REALM" gives "ws1.<domain>"; else NULL (caller frees). */
char *published_host_of(const char *principal, const char *domain);

#endif

/* SPDX-License-Identifier: MIT */
/* Domain controller location: the candidates for a run, in the order to try them —
 * from directory.servers, or from DNS SRV records (RFC 2782 order, site first) — and
 * the affinity that keeps consecutive runs on the DC that last worked. Knows nothing
 * of credentials. */
#ifndef ADVERT_DCLOC_H
#define ADVERT_DCLOC_H

#include <stddef.h>
#include <stdint.h>

#include "advert/config.h"

struct dc {
	char *host;         /* DNS name: ldap/<host> and the KDC name */
	char *address;      /* numeric IP to connect to (v4 or v6) */
	unsigned kdc_port;  /* 88 unless SRV said otherwise */
	unsigned ldap_port; /* 389 unless SRV said otherwise */
};

struct dc_list {
	struct dc *items;
	size_t n;
};

struct srv_record {
	char *target;
	unsigned priority, weight, port;
};

/* Parses a DNS answer (as returned by res_nquery) into SRV records. Returns 0 or
 * -EBADMSG / -ENOMEM; *ret is malloc'd, free with dcloc_srv_free. */
int dcloc_parse_srv(const unsigned char *answer, int len, struct srv_record **ret, size_t *ret_n);

/* Orders records per RFC 2782: ascending priority; within one priority, a weighted
 * random order drawn from seed (the same seed gives the same order, so one host is
 * stable while a fleet spreads). Records with target "." are dropped. */
void dcloc_order_srv(struct srv_record *recs, size_t *n, uint64_t seed);

void dcloc_srv_free(struct srv_record *recs, size_t n);

/* The candidates for this host: directory.servers in order when configured (host names
 * without address are resolved), else DNS SRV _ldap._tcp.<site>._sites.dc._msdcs.<domain>,
 * then _ldap._tcp.dc._msdcs.<domain>, then _kerberos._tcp.<realm>, deduplicated.
 * seed orders equal-priority records. Returns 0 (ret->n may be 0) or -errno. */
int dcloc_candidates(const struct config *cfg, uint64_t seed, struct dc_list *ret);

/* FNV-1a of the host name: orders equal-priority SRV records the same way on every
 * restart of this host, differently across a fleet. */
uint64_t dcloc_host_seed(void);

/* One DC named by the admin (advertctl --server): host resolved here, the default ports.
 * Returns 0 with *ret (free its host and address), -ENOENT or -ENOMEM. */
int dcloc_server(const char *host, struct dc *ret) __attribute__((nonnull));

/* Moves the DC named host (if present) to the front. */
void dcloc_prefer(struct dc_list *l, const char *host);

/* The candidates for a run (dcloc_candidates with this host's seed), the DC that last
 * worked first; *ret_affinity is that DC's name, or NULL (caller frees). Returns 0 or
 * -errno, as dcloc_candidates. */
int dcloc_for_run(const struct config *cfg, struct dc_list *ret, char **ret_affinity)
	__attribute__((nonnull));

/* host worked: remembered for the next run unless it is affinity already. */
void dcloc_worked(const char *state_dir, const char *affinity, const char *host)
	__attribute__((nonnull(1, 3)));

/* The DC that last worked, from state_dir/dc-affinity; -ENOENT when none. */
int dcloc_affinity_load(const char *state_dir, char **ret_host);
/* Records the DC that just worked (atomically). */
int dcloc_affinity_save(const char *state_dir, const char *host);

void dcloc_list_free(struct dc_list *l);

#endif

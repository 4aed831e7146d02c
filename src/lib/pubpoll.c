/* SPDX-License-Identifier: MIT */
/* One poll of the directory's published advertisements, as the host, on one DC. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advert/dcloc.h"
#include "advert/directory.h"
#include "advert/identity.h"
#include "advert/pubpoll.h"
#include "advert/util.h"

/* The file is written again after this long even when nothing changed, so that its
 * "verified" says roughly when a DC last confirmed it. */
#define REVERIFY_SAVE 3600

bool pubpoll_wanted(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_advertisements; i++)
		if (config_is_url(cfg->advertisements[i]))
			return cfg->directory.realm != NULL;
	return false;
}

char *pubpoll_host_name(const struct config *cfg)
{
	char *h = published_host_of(cfg->client_token.principal, cfg->directory.domain);
	if (h)
		return h;
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	if (!strchr(host, '.') && cfg->directory.domain) {
		if (asprintf(&h, "%s.%s", host, cfg->directory.domain) < 0)
			return NULL;
		return h;
	}
	return strdup(host);
}

time_t pubpoll_next(const struct config *cfg, time_t now)
{
	time_t every = cfg->poll_interval > 0 ? cfg->poll_interval : 300;
	char *host = pubpoll_host_name(cfg);
	time_t offset =
		host ? (time_t)(util_fnv1a_lower(UTIL_FNV_OFFSET, host) % (uint64_t)every) : 0;
	free(host);
	time_t next = now - (now % every) + offset;
	while (next <= now)
		next += every;
	return next;
}

int pubpoll_init(struct pubpoll *p, const struct config *cfg, struct why *why)
{
	*p = (struct pubpoll){ .cfg = cfg, .polls_since_groups = PUBPOLL_GROUPS_EVERY };
	int r = published_load(cfg->state_dir, &p->set, why);
	p->have_set = r == 0;
	return r == -ENOENT ? 0 : r;
}

void pubpoll_close(struct pubpoll *p)
{
	directory_close(p->conn);
	free(p->conn_dc);
	free(p->conn_host_dn);
	published_clear(&p->set);
	*p = (struct pubpoll){ 0 };
}

static void drop_conn(struct pubpoll *p)
{
	directory_close(p->conn);
	p->conn = NULL;
	free(p->conn_dc);
	p->conn_dc = NULL;
	free(p->conn_host_dn);
	p->conn_host_dn = NULL;
	p->conn_no_entry = false;
}

/* A bound connection to the first candidate that answers, the last DC that worked first.
 * Returns 0, -EHOSTUNREACH (none answered) or a final error. */
static int connect_any(struct pubpoll *p, time_t now, struct pubpoll_report *rep)
{
	const struct config *cfg = p->cfg;
	struct dc_list dcs = { 0 };
	char *affinity = NULL;
	int r = dcloc_for_run(cfg, &dcs, &affinity);
	if (r == 0 && dcs.n == 0)
		r = why_set(&rep->why, -EHOSTUNREACH, "no domain controller found");
	char tried[512] = "";
	for (size_t i = 0; r == 0 && i < dcs.n; i++) {
		struct identity_report irep = { 0 };
		double deadline = util_now_ms() + cfg->directory.timeout * 1000.0;
		struct directory_conn *d = NULL;
		r = identity_host_directory(cfg, &dcs.items[i], now, deadline, &d, &irep);
		rep->kdc_requests += irep.kdc_requests_precheck;
		rep->connections += irep.ldap_connections;
		rep->binds += irep.ldap_binds;
		if (r == -EHOSTUNREACH) {
			size_t len = strlen(tried);
			snprintf(tried + len, sizeof(tried) - len, "%s%s (no answer)",
				 len ? ", " : "", dcs.items[i].host);
			r = i + 1 < dcs.n ? 0
					  : why_set(&rep->why, -EHOSTUNREACH,
						    "no domain controller answered (%s)", tried);
			continue;
		}
		if (r < 0) {
			why_set(&rep->why, r, "%s: %s", dcs.items[i].host,
				irep.why.text[0] ? irep.why.text : strerror(-r));
			break;
		}
		if (!(p->conn_dc = strdup(dcs.items[i].host))) {
			directory_close(d);
			r = -ENOMEM;
			break;
		}
		p->conn = d;
		p->connected_at = now;
		p->polls_since_groups = PUBPOLL_GROUPS_EVERY; /* a new DC: read them again */
		dcloc_worked(cfg->state_dir, affinity, dcs.items[i].host);
		break;
	}
	free(affinity);
	dcloc_list_free(&dcs);
	return r;
}

/* Every configured base's entries into set, with their texts or only their markers. */
static int read_entries(struct pubpoll *p, bool with_text, struct published_set *set,
			struct why *why)
{
	const struct config *cfg = p->cfg;
	int r = 0;
	for (size_t i = 0; r == 0 && i < cfg->n_advertisements; i++) {
		const char *url = cfg->advertisements[i];
		char *base = NULL, bad[160];
		if (!config_is_url(url))
			continue;
		r = config_url_base(url, &base, bad, sizeof(bad));
		if (r == 0)
			r = directory_published(p->conn, cfg->directory.schema, url, base,
						with_text, set, why);
		free(base);
	}
	return r;
}

static bool same_groups(const struct published_set *a, const struct published_set *b)
{
	if (a->groups_known != b->groups_known || a->n_groups != b->n_groups)
		return false;
	for (size_t i = 0; i < a->n_groups; i++)
		if (strcmp(a->groups[i], b->groups[i]) != 0)
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* This host's entry and its groups into set (sorted, so that a change shows). */
static int read_groups(struct pubpoll *p, struct published_set *set, struct why *why)
{
	const struct config *cfg = p->cfg;
	/* The entry is looked up once a connection: it is who the bind said we are. */
	int r = 0;
	if (!p->conn_host_dn && !p->conn_no_entry) {
		r = directory_host_entry(p->conn, cfg->directory.schema, cfg->directory.base,
					 set->host, &p->conn_host_dn, why);
		p->conn_no_entry = r == -ENOENT;
		if (r == -ENOENT)
			r = 0;
	}
	if (r < 0)
		return r;
	if (p->conn_no_entry) { /* no entry: no groups, and the directory said so */
		set->groups_known = true;
		return 0;
	}
	if (!(set->host_dn = strdup(p->conn_host_dn)))
		return -ENOMEM;
	r = directory_host_groups(p->conn, cfg->directory.schema, cfg->directory.base, set->host_dn,
				  &set->groups, &set->n_groups, why);
	if (r == 0 && set->n_groups > PUBLISHED_MAX_ENTRIES) /* more than the cache keeps */
		r = why_set(why, -E2BIG, "%s is in more than %d groups", set->host_dn,
			    PUBLISHED_MAX_ENTRIES);
	if (r == 0 && set->n_groups > 1)
		qsort(set->groups, set->n_groups, sizeof(char *), cmp_str);
	set->groups_known = r == 0;
	return r;
}

static int copy_groups(const struct published_set *from, struct published_set *to)
{
	to->groups_known = from->groups_known;
	to->host_dn = from->host_dn ? strdup(from->host_dn) : NULL;
	to->groups = calloc(from->n_groups + 1, sizeof(char *));
	if (!to->groups || (from->host_dn && !to->host_dn))
		return -ENOMEM;
	for (size_t i = 0; i < from->n_groups; i++, to->n_groups++)
		if (!(to->groups[i] = strdup(from->groups[i])))
			return -ENOMEM;
	return 0;
}

/* Whether two sets hold the same entries with the same texts. */
static bool same_entries(const struct published_set *a, const struct published_set *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->items[i].dn, b->items[i].dn) != 0 ||
		    strcmp(a->items[i].base, b->items[i].base) != 0 ||
		    strcmp(a->items[i].text ? a->items[i].text : "",
			   b->items[i].text ? b->items[i].text : "") != 0)
			return false;
	return true;
}

/* The poll proper on the kept connection. */
static int poll_on(struct pubpoll *p, time_t now, struct pubpoll_report *rep)
{
	struct published_set fresh = { .verified = now };
	struct why *why = &rep->why;
	directory_set_timeout(p->conn, p->cfg->directory.timeout);
	int r = read_entries(p, false, &fresh, why);
	bool markers_moved =
		r == 0 && (!p->have_set || fresh.n != p->set.n ||
			   published_fingerprint(&fresh) != published_fingerprint(&p->set));
	if (markers_moved) { /* something was written: the texts, all at once */
		published_clear(&fresh);
		fresh.verified = now;
		r = read_entries(p, true, &fresh, why);
	} else if (r == 0) { /* nothing was: the texts are the ones kept */
		for (size_t i = 0; i < fresh.n; i++)
			if (!(fresh.items[i].text = strdup(p->set.items[i].text)))
				r = -ENOMEM;
	}
	if (r == 0 &&
	    (!(fresh.dc = strdup(p->conn_dc)) || !(fresh.host = pubpoll_host_name(p->cfg))))
		r = -ENOMEM;
	bool groups = markers_moved || !p->have_set || !p->set.groups_known ||
		      ++p->polls_since_groups >= PUBPOLL_GROUPS_EVERY;
	if (r == 0 && groups) {
		r = read_groups(p, &fresh, why);
		p->polls_since_groups = 0;
	} else if (r == 0) {
		r = copy_groups(&p->set, &fresh);
	}
	if (r < 0) {
		published_clear(&fresh);
		return r;
	}
	rep->changed = !p->have_set || !same_entries(&fresh, &p->set) ||
		       !same_groups(&fresh, &p->set) ||
		       strcmp(fresh.host, p->set.host ? p->set.host : "") != 0;
	if (rep->changed || !p->set.dc || strcmp(fresh.dc, p->set.dc) != 0 ||
	    now - p->set.verified >= REVERIFY_SAVE) {
		r = published_save(p->cfg->state_dir, &fresh);
		if (r < 0) {
			published_clear(&fresh);
			return why_set(why, r, "cannot write %s/%s: %s", p->cfg->state_dir,
				       PUBLISHED_FILE, strerror(-r));
		}
		rep->saved = true;
	}
	rep->entries = fresh.n;
	published_clear(&p->set);
	p->set = fresh;
	p->have_set = true;
	return 0;
}

int pubpoll_run(struct pubpoll *p, time_t now, struct pubpoll_report *rep)
{
	*rep = (struct pubpoll_report){ 0 };
	double t0 = util_now_ms();
	if (p->conn && now - p->connected_at >= PUBPOLL_RECONNECT)
		drop_conn(p);
	int r = 0;
	/* A kept connection may have died quietly (the DC restarted): one new one. */
	for (int attempt = 0; attempt < 2; attempt++) {
		bool kept = p->conn != NULL;
		if (!p->conn && (r = connect_any(p, now, rep)) < 0)
			break;
		unsigned long long s0, r0, s1, r1;
		directory_bytes(p->conn, &s0, &r0);
		const struct directory_stats before = *directory_stats(p->conn);
		r = poll_on(p, now, rep);
		directory_bytes(p->conn, &s1, &r1);
		rep->searches += directory_stats(p->conn)->searches - before.searches;
		/* A new connection's own bytes (its bind) count too. */
		rep->bytes_sent += kept ? s1 - s0 : s1;
		rep->bytes_received += kept ? r1 - r0 : r1;
		if (r == 0) {
			snprintf(rep->dc, sizeof(rep->dc), "%s", p->conn_dc);
			break;
		}
		drop_conn(p);
		if (!kept || (r != -EHOSTUNREACH && r != -EIO))
			break;
	}
	rep->ok = r == 0;
	rep->ms = util_now_ms() - t0;
	return r;
}

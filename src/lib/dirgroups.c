/* SPDX-License-Identifier: MIT */
/* Group enumeration on the pinned DC, per schema: nested memberOf walks, memberUid,
 * and AD's tokenGroups; bounded, de-duplicated, sorted by gid. */
#include "config.h"

#include <errno.h>
#include <ldap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "advert/cfgread.h"
#include "advert/directory.h"
#include "advert/textrec.h"
#include "advert/util.h"
#include "directory-internal.h"

#define FILTER_BATCH 64 /* DNs or SIDs per OR-filter */

/* A set of DNs, compared case-insensitively: open addressing on a folded FNV-1a, so a
 * walk over thousands of groups stays linear. v keeps insertion order. */
struct dn_set {
	char **v;
	size_t n;
	size_t *slots; /* index + 1 into v; 0 is empty */
	size_t cap;
};

static size_t dn_slot(const struct dn_set *s, const char *dn, bool *found)
{
	size_t i = (size_t)util_fnv1a_lower(UTIL_FNV_OFFSET, dn) & (s->cap - 1);
	for (; s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (strcasecmp(s->v[s->slots[i] - 1], dn) == 0) {
			*found = true;
			return i;
		}
	*found = false;
	return i;
}

static bool dn_set_has(const struct dn_set *s, const char *dn)
{
	bool found = false;
	if (s->cap)
		dn_slot(s, dn, &found);
	return found;
}

static int dn_set_add(struct dn_set *s, const char *dn)
{
	if (2 * (s->n + 1) > s->cap) { /* grow and rehash at half full */
		size_t cap = s->cap ? s->cap * 2 : 64;
		size_t *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		free(s->slots);
		s->slots = slots, s->cap = cap;
		for (size_t k = 0; k < s->n; k++) {
			bool dup;
			s->slots[dn_slot(s, s->v[k], &dup)] = k + 1;
		}
	}
	bool found;
	size_t i = dn_slot(s, dn, &found);
	if (found)
		return 0;
	char **v = reallocarray(s->v, s->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	if (!(v[s->n] = strdup(dn)))
		return -ENOMEM;
	s->slots[i] = ++s->n;
	return 0;
}

static void dn_set_clear(struct dn_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->slots);
	*s = (struct dn_set){ 0 };
}

/* Groups collected across searches. */
struct group_walk {
	struct directory_groups *out;
	struct dn_set found;   /* groups whose entry we have (cycle safety) */
	struct dn_set queried; /* DNs already asked for as (member=…) */
	struct dn_set next;    /* found, not yet queried: the next level */
	unsigned entries;      /* entries seen in this walk */
	bool any_group;        /* a host's walk: every group counts, gidNumber or not */
};

static int add_group(struct directory_groups *g, LDAP *ld, LDAPMessage *e);

/* A group entry of a walk: for an account its gid, for a host (any_group) its DN. */
static int take_group(struct group_walk *w, LDAP *ld, LDAPMessage *e)
{
	if (!w->any_group)
		return add_group(w->out, ld, e);
	if (w->found.n >= DIRECTORY_MAX_GROUPS)
		return -E2BIG;
	char *dn = ldap_get_dn(ld, e);
	int r = dn ? dn_set_add(&w->found, dn) : -ENOMEM;
	ldap_memfree(dn);
	return r;
}

static int add_group(struct directory_groups *g, LDAP *ld, LDAPMessage *e)
{
	char *gid = dir_first_value(ld, e, "gidNumber");
	unsigned long v;
	bool ok = dir_parse_id(gid, &v);
	free(gid);
	if (!ok) {
		g->skipped++;
		return 0;
	}
	if (g->n >= DIRECTORY_MAX_GROUPS)
		return -E2BIG;
	/* Duplicate gids (two DNs, one gidNumber) are dropped once the walk is done. */
	struct directory_group *items = reallocarray(g->items, g->n + 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	g->items = items;
	char *name = dir_first_value(ld, e, "cn");
	if (!name)
		name = dir_first_value(ld, e, "sAMAccountName");
	items[g->n++] =
		(struct directory_group){ .name = name ? name : strdup("?"), .gid = (gid_t)v };
	return 0;
}

static int walk_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct group_walk *w = data;
	w->entries++;
	char *dn = ldap_get_dn(ld, e);
	if (!dn)
		return -ENOMEM;
	int r = 0;
	if (!dn_set_has(&w->found, dn)) {
		/* A host's walk keeps every group it finds: bounded as an account's is. */
		r = w->any_group && w->found.n >= DIRECTORY_MAX_GROUPS ? -E2BIG
								       : dn_set_add(&w->found, dn);
		if (r == 0 && !w->any_group)
			r = add_group(w->out, ld, e);
		if (r == 0 && !dn_set_has(&w->queried, dn) && !dn_set_has(&w->next, dn))
			r = dn_set_add(&w->next, dn);
	}
	ldap_memfree(dn);
	return r;
}

/* "(|(attr=v1)(attr=v2)…)" for values[from, to), each value escaped. */
static char *or_filter(const char *attr, char *const *values, size_t from, size_t to, bool escape)
{
	size_t len = 4;
	for (size_t i = from; i < to; i++)
		len += strlen(attr) + strlen(values[i]) * (escape ? 3 : 1) + 3;
	char *f = malloc(len), *o = f;
	if (!f)
		return NULL;
	o += sprintf(o, "(|");
	for (size_t i = from; i < to; i++) {
		char *v = escape ? dir_escape_value(values[i], strlen(values[i])) : values[i];
		if (!v) {
			free(f);
			return NULL;
		}
		o += sprintf(o, "(%s=%s)", attr, v);
		if (escape)
			free(v);
	}
	sprintf(o, ")");
	return f;
}

/* Every entry under base whose attr equals any of values, in searches of at most
 * FILTER_BATCH alternatives each. */
static int search_any(struct directory_conn *d, const char *base, const char *attr,
		      char *const *values, size_t n, bool escape, char **attrs, dir_entry_fn fn,
		      void *data, struct why *why)
{
	int r = 0;
	for (size_t from = 0; r == 0 && from < n; from += FILTER_BATCH) {
		size_t to = from + FILTER_BATCH < n ? from + FILTER_BATCH : n;
		char *filter = or_filter(attr, values, from, to, escape);
		r = filter ? dir_search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, fn, data, why)
			   : -ENOMEM;
		free(filter);
	}
	return r;
}

static void strv_clear(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* rfc2307bis: breadth-first over `member`, one batched search per nesting level. Every
 * group in the closure contains the account or another group of the closure, so one
 * search for (member=account)(member=each memberOf value) returns the whole closure at
 * once when memberOf is transitive (dynlist), and shortens the walk when it is direct. */
static int walk_nested(struct directory_conn *d, const char *base,
		       const struct directory_account *acct, struct group_walk *wp, struct why *why)
{
	static char *attrs[] = { "cn", "gidNumber", NULL };
	struct group_walk w = *wp;
	int r = dn_set_add(&w.next, acct->dn);
	for (char **m = acct->member_of; r == 0 && m && *m; m++)
		if (!dn_set_has(&w.next, *m))
			r = dn_set_add(&w.next, *m);
	unsigned depth = 0;
	while (r == 0 && w.next.n > 0) {
		if (++depth > DIRECTORY_MAX_DEPTH) {
			r = why_set(why, -ELOOP, "groups nested deeper than %d levels under %s",
				    DIRECTORY_MAX_DEPTH, base);
			break;
		}
		struct dn_set level = w.next;
		w.next = (struct dn_set){ 0 };
		for (size_t i = 0; r == 0 && i < level.n; i++)
			r = dn_set_add(&w.queried, level.v[i]);
		if (r == 0)
			r = search_any(d, base, "member", level.v, level.n, true, attrs, walk_entry,
				       &w, why);
		dn_set_clear(&level);
	}
	dn_set_clear(&w.queried);
	dn_set_clear(&w.next);
	*wp = w;
	return r;
}

static int groups_nested(struct directory_conn *d, const char *base,
			 const struct directory_account *acct, struct directory_groups *out,
			 struct why *why)
{
	struct group_walk w = { .out = out };
	int r = walk_nested(d, base, acct, &w, why);
	dn_set_clear(&w.found);
	return r;
}

static int group_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct group_walk *w = data;
	w->entries++;
	return take_group(w, ld, e);
}

static int groups_memberuid(struct directory_conn *d, const char *base,
			    const struct directory_account *acct, struct directory_groups *out,
			    struct why *why)
{
	static char *attrs[] = { "cn", "gidNumber", NULL };
	char *en = dir_escape_value(acct->name, strlen(acct->name)), *filter = NULL;
	struct group_walk w = { .out = out };
	int r = -ENOMEM;
	if (en && asprintf(&filter, "(&(objectClass=posixGroup)(memberUid=%s))", en) >= 0)
		r = dir_search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, group_entry, &w, why);
	free(en);
	free(filter);
	return r;
}

struct sids {
	char **escaped;
	size_t n;
};

static int token_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct sids *s = data;
	struct berval **v = ldap_get_values_len(ld, e, "tokenGroups");
	size_t n = (size_t)ldap_count_values_len(v);
	int r = 0;
	s->escaped = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; s->escaped && i < n; i++) {
		char *o = s->escaped[i] = malloc(v[i]->bv_len * 3 + 1);
		if (!o) {
			r = -ENOMEM;
			break;
		}
		for (size_t j = 0; j < v[i]->bv_len; j++)
			o += sprintf(o, "\\%02x", (unsigned char)v[i]->bv_val[j]);
		s->n++;
	}
	ldap_value_free_len(v);
	return s->escaped ? r : -ENOMEM;
}

/* ad: tokenGroups (every nested group, computed by the DC) with one base search, then
 * their gidNumbers in batched objectSid searches. */
static int walk_token(struct directory_conn *d, const char *base,
		      const struct directory_account *acct, struct group_walk *w, struct why *why)
{
	static char *token_attrs[] = { "tokenGroups", NULL };
	static char *attrs[] = { "cn", "sAMAccountName", "gidNumber", NULL };
	struct sids s = { 0 };
	int r = dir_search(d, acct->dn, LDAP_SCOPE_BASE, "(objectClass=*)", token_attrs,
			   token_entry, &s, why);
	if (r == 0)
		r = search_any(d, base, "objectSid", s.escaped, s.n, false, attrs, group_entry, w,
			       why);
	/* SIDs that resolve to nothing here (well-known, foreign) have no gidNumber either. */
	if (r == 0 && s.n > w->entries && w->out)
		w->out->skipped += (unsigned)(s.n - w->entries);
	strv_clear(s.escaped, s.n);
	return r;
}

static int groups_token(struct directory_conn *d, const char *base,
			const struct directory_account *acct, struct directory_groups *out,
			struct why *why)
{
	struct group_walk w = { .out = out };
	return walk_token(d, base, acct, &w, why);
}

static int host_member_of(LDAP *ld, LDAPMessage *e, void *data)
{
	struct directory_account *a = data;
	a->member_of = dir_values(ld, e, "memberOf");
	return a->member_of ? 0 : -ENOMEM;
}

int directory_host_groups(struct directory_conn *d, enum config_schema schema, const char *base,
			  const char *host_dn, char ***ret, size_t *ret_n, struct why *why)
{
	why->text[0] = '\0';
	struct directory_account a = { .dn = (char *)host_dn };
	struct group_walk w = { .any_group = true };
	int r;
	if (schema == CONFIG_SCHEMA_AD) {
		r = walk_token(d, base, &a, &w, why);
	} else {
		/* memberOf, where the server has it, seeds the walk as for an account. */
		static char *attrs[] = { "memberOf", NULL };
		r = dir_search(d, host_dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs,
			       host_member_of, &a, why);
		if (r == 0)
			r = walk_nested(d, base, &a, &w, why);
		strv_free(a.member_of);
	}
	if (r == -E2BIG)
		r = why_set(why, r, "more than %d groups for %s", DIRECTORY_MAX_GROUPS, host_dn);
	if (r < 0) {
		dn_set_clear(&w.found);
		return r;
	}
	char **v = reallocarray(w.found.v, w.found.n + 1, sizeof(*v));
	if (!v) {
		dn_set_clear(&w.found);
		return -ENOMEM;
	}
	v[w.found.n] = NULL;
	*ret = v;
	*ret_n = w.found.n;
	free(w.found.slots);
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	const struct directory_group *x = a, *y = b;
	return (x->gid > y->gid) - (x->gid < y->gid);
}

/* One entry per gid (the first name found for it), in gid order. */
static void dedupe_gids(struct directory_groups *g)
{
	if (g->n < 2)
		return;
	qsort(g->items, g->n, sizeof(*g->items), cmp_group);
	size_t k = 1;
	for (size_t i = 1; i < g->n; i++) {
		if (g->items[i].gid == g->items[k - 1].gid)
			free(g->items[i].name);
		else
			g->items[k++] = g->items[i];
	}
	g->n = k;
}

int directory_find_groups(struct directory_conn *d, enum config_schema schema, const char *base,
			  const struct directory_account *acct, struct directory_groups *ret,
			  struct why *why)
{
	why->text[0] = '\0';
	struct directory_groups g = { 0 };
	int r;
	switch (schema) {
	case CONFIG_SCHEMA_AD:
		r = groups_token(d, base, acct, &g, why);
		break;
	case CONFIG_SCHEMA_RFC2307BIS:
		r = groups_nested(d, base, acct, &g, why);
		break;
	default:
		r = groups_memberuid(d, base, acct, &g, why);
		break;
	}
	if (r == -E2BIG)
		r = why_set(why, r, "more than %d groups for %s", DIRECTORY_MAX_GROUPS, acct->dn);
	if (r < 0) {
		directory_groups_clear(&g);
		return r;
	}
	dedupe_gids(&g);
	*ret = g;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Published advertisements in the directory: reading them (with their change markers,
 * so that a poll with nothing new costs one small search), this host's own entry, and
 * writing them for advertctl publish. */
#include "config.h"

#include <errno.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advert/advert.h"
#include "advert/directory.h"
#include "advert/published.h"
#include "advert/util.h"
#include "directory-internal.h"

static int ldap_errno(int rc)
{
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_TIMEOUT:
	case LDAP_CONNECT_ERROR:
		return -EHOSTUNREACH;
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
		return -EACCES;
	case LDAP_NO_SUCH_OBJECT:
		return -ENOENT;
	default:
		return -EIO;
	}
}

static int whoami(struct directory_conn *d, char **ret_dn, struct why *why)
{
	struct berval *id = NULL;
	struct timeval tv;
	int rc = LDAP_TIMEOUT, msgid;
	d->stats.searches++;
	if (dir_time_left(d, &tv) &&
	    (rc = ldap_whoami(d->ld, NULL, NULL, &msgid)) == LDAP_SUCCESS) {
		LDAPMessage *res = NULL;
		int n = ldap_result(d->ld, msgid, LDAP_MSG_ALL, &tv, &res);
		rc = n <= 0 ? LDAP_TIMEOUT : ldap_parse_whoami(d->ld, res, &id);
		ldap_msgfree(res);
	}
	if (rc != LDAP_SUCCESS)
		return why_set(why, ldap_errno(rc), "who am I: %s", ldap_err2string(rc));
	int r = 0;
	if (!id || id->bv_len <= 3 || strncmp(id->bv_val, "dn:", 3) != 0)
		r = why_set(why, -ENOENT, "the directory maps this host to no entry (%.*s)",
			    id ? (int)id->bv_len : 0, id ? id->bv_val : "");
	else if (!(*ret_dn = strndup(id->bv_val + 3, id->bv_len - 3)))
		r = -ENOMEM;
	ber_bvfree(id);
	return r;
}

struct one_dn {
	char *dn;
	unsigned n;
};

static int dn_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct one_dn *o = data;
	if (o->n++ > 0)
		return 0;
	char *dn = ldap_get_dn(ld, e);
	o->dn = dn ? strdup(dn) : NULL;
	ldap_memfree(dn);
	return o->dn ? 0 : -ENOMEM;
}

int directory_host_entry(struct directory_conn *d, enum config_schema schema, const char *base,
			 const char *host, char **ret_dn, struct why *why)
{
	why->text[0] = '\0';
	*ret_dn = NULL;
	if (schema != CONFIG_SCHEMA_AD)
		return whoami(d, ret_dn, why);
	/* By its host/ SPN, or by its account name (NAME$, NAME the first label). */
	size_t first = strcspn(host, ".");
	char *eh = dir_escape_value(host, strlen(host)), *es = dir_escape_value(host, first),
	     *filter = NULL;
	if (!eh || !es ||
	    asprintf(
		    &filter,
		    "(&(objectClass=computer)(|(servicePrincipalName=host/%s)(sAMAccountName=%s$)))",
		    eh, es) < 0)
		filter = NULL;
	free(eh);
	free(es);
	if (!filter)
		return -ENOMEM;
	static char *attrs[] = { (char *)"1.1", NULL };
	struct one_dn o = { 0 };
	int r = dir_search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, dn_entry, &o, why);
	free(filter);
	if (r == 0 && o.n != 1)
		r = why_set(why, -ENOENT, "%u computer accounts hold host/%s", o.n, host);
	if (r < 0) {
		free(o.dn);
		return r;
	}
	*ret_dn = o.dn;
	return 0;
}

/* --- reading the entries ------------------------------------------------------------ */

struct entries {
	struct published_set *set;
	const char *url, *marker_attr;
	bool with_text;
	char *unmarked; /* an entry whose change marker is not readable */
};

static int published_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct entries *x = data;
	if (x->set->n >= PUBLISHED_MAX_ENTRIES)
		return -E2BIG;
	struct published_entry pe = { 0 };
	char *dn = ldap_get_dn(ld, e);
	pe.dn = dn ? strdup(dn) : NULL;
	ldap_memfree(dn);
	pe.base = strdup(x->url);
	pe.marker = dir_first_value(ld, e, x->marker_attr);
	if (!pe.marker)
		pe.marker = dir_first_value(ld, e, "modifyTimestamp");
	if (pe.dn && !pe.marker) { /* nothing to poll it by: the answer is unusable */
		free(pe.base);
		x->unmarked = pe.dn;
		return -EPROTO;
	}
	if (x->with_text) {
		struct berval **v = ldap_get_values_len(ld, e, DIRECTORY_AD_TEXT);
		/* A text too large, or holding a NUL, is kept as a text the parser refuses:
		 * the entry is named as broken, never silently cut. */
		if (v && v[0] && v[0]->bv_len <= PUBLISHED_MAX_TEXT &&
		    !memchr(v[0]->bv_val, '\0', v[0]->bv_len))
			pe.text = strndup(v[0]->bv_val, v[0]->bv_len);
		else
			pe.text = strdup(
				v && v[0] ? "# advertd: " DIRECTORY_AD_TEXT
					    " is too large or holds a NUL byte\n!"
					  : "# advertd: the entry has no " DIRECTORY_AD_TEXT "\n!");
		ldap_value_free_len(v);
	}
	struct published_entry *items =
		pe.dn && pe.base && pe.marker && (pe.text || !x->with_text)
			? reallocarray(x->set->items, x->set->n + 1, sizeof(*items))
			: NULL;
	if (!items) {
		free(pe.dn), free(pe.base), free(pe.marker), free(pe.text);
		return -ENOMEM;
	}
	x->set->items = items;
	items[x->set->n++] = pe;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct published_entry *x = a, *y = b;
	int c = strcmp(x->base, y->base);
	return c ? c : strcmp(x->dn, y->dn);
}

int directory_published(struct directory_conn *d, enum config_schema schema, const char *url,
			const char *base_dn, bool with_text, struct published_set *set,
			struct why *why)
{
	why->text[0] = '\0';
	const char *marker = schema == CONFIG_SCHEMA_AD ? "uSNChanged" : "entryCSN";
	char *attrs[] = { (char *)marker, (char *)"modifyTimestamp",
			  with_text ? (char *)DIRECTORY_AD_TEXT : NULL, NULL };
	struct entries x = {
		.set = set, .url = url, .marker_attr = marker, .with_text = with_text
	};
	size_t first = set->n;
	int r = dir_search(d, base_dn, LDAP_SCOPE_SUBTREE, "(objectClass=" DIRECTORY_AD_CLASS ")",
			   attrs, published_entry, &x, why);
	if (r == -E2BIG)
		return why_set(why, r, "more than %d advertisement entries under %s",
			       PUBLISHED_MAX_ENTRIES, base_dn);
	if (r == -EPROTO) {
		why_set(why, r, "%s shows this host neither %s nor modifyTimestamp", x.unmarked,
			marker);
		free(x.unmarked);
		return r;
	}
	if (r == 0 && set->n - first > 1)
		qsort(set->items + first, set->n - first, sizeof(*set->items), cmp_entry);
	return r;
}

/* --- writing ------------------------------------------------------------------------ */

static char *entry_dn(const char *base_dn, const char *name)
{
	/* Names are advertisement-id shaped ([A-Za-z0-9._-]): nothing to escape. */
	char *dn = NULL;
	if (!advert_id_valid(name) || asprintf(&dn, "cn=%s,%s", name, base_dn) < 0)
		return NULL;
	return dn;
}

static int write_result(struct directory_conn *d, int rc, const char *what, const char *dn,
			struct why *why)
{
	if (rc == LDAP_SUCCESS)
		return 0;
	char *diag = NULL;
	ldap_get_option(d->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	int r = why_set(why, ldap_errno(rc), "%s %s: %s%s%s", what, dn, ldap_err2string(rc),
			diag && *diag ? ": " : "", diag ? diag : "");
	ldap_memfree(diag);
	return r;
}

int directory_publish(struct directory_conn *d, const char *base_dn, const char *name,
		      const char *text, bool *created, struct why *why)
{
	why->text[0] = '\0';
	char *dn = entry_dn(base_dn, name);
	if (!dn)
		return why_set(why, -EINVAL, "\"%s\": an entry name is 1 to 64 of [A-Za-z0-9._-]",
			       name);
	char *oc_v[] = { (char *)"top", (char *)DIRECTORY_AD_CLASS, NULL },
	     *cn_v[] = { (char *)name, NULL }, *text_v[] = { (char *)text, NULL };
	LDAPMod oc = { LDAP_MOD_ADD, (char *)"objectClass", { oc_v } },
		cn = { LDAP_MOD_ADD, (char *)"cn", { cn_v } },
		tx = { LDAP_MOD_ADD, (char *)DIRECTORY_AD_TEXT, { text_v } };
	LDAPMod *add[] = { &oc, &cn, &tx, NULL };
	struct timeval tv;
	int rc = dir_time_left(d, &tv) ? ldap_add_ext_s(d->ld, dn, add, NULL, NULL) : LDAP_TIMEOUT;
	*created = rc == LDAP_SUCCESS;
	bool replacing = rc == LDAP_ALREADY_EXISTS;
	if (replacing) {
		LDAPMod rep = { LDAP_MOD_REPLACE, (char *)DIRECTORY_AD_TEXT, { text_v } };
		LDAPMod *mods[] = { &rep, NULL };
		rc = dir_time_left(d, &tv) ? ldap_modify_ext_s(d->ld, dn, mods, NULL, NULL)
					   : LDAP_TIMEOUT;
	}
	int r = write_result(d, rc, replacing ? "replacing" : "adding", dn, why);
	free(dn);
	return r;
}

int directory_unpublish(struct directory_conn *d, const char *base_dn, const char *name,
			struct why *why)
{
	why->text[0] = '\0';
	char *dn = entry_dn(base_dn, name);
	if (!dn)
		return why_set(why, -EINVAL, "\"%s\": an entry name is 1 to 64 of [A-Za-z0-9._-]",
			       name);
	struct timeval tv;
	int rc = dir_time_left(d, &tv) ? ldap_delete_ext_s(d->ld, dn, NULL, NULL) : LDAP_TIMEOUT;
	int r = write_result(d, rc, "deleting", dn, why);
	free(dn);
	return r;
}

/* SPDX-License-Identifier: MIT */
/* LDAP on the pinned DC: our own TCP connection, a GSSAPI bind with the installation
 * account's ccache, and account and nested-group lookups per schema. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gssapi/gssapi_krb5.h>
#include <limits.h>
#include <ldap.h>
#include <netdb.h>
#include <poll.h>
#include <sasl/sasl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "advert/directory.h"
#include "advert/textrec.h"
#include "advert/util.h"

/* Exported and documented by OpenLDAP 2.5, but not declared in its ldap.h. */
int ldap_init_fd(ber_socket_t fd, int proto, const char *url, LDAP **ldp);
#ifndef LDAP_PROTO_TCP
#define LDAP_PROTO_TCP 1
#endif

#define PAGE_SIZE    500
#define FILTER_BATCH 64 /* DNs or SIDs per OR-filter */

struct directory_conn {
	LDAP *ld;
	int fd;
	struct timespec deadline; /* CLOCK_MONOTONIC: every LDAP step ends by then */
	struct directory_stats stats;
};

static int fail(char **ret_err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **ret_err, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(*ret_err);
	if (vasprintf(ret_err, fmt, ap) < 0)
		*ret_err = NULL;
	va_end(ap);
	return r;
}

/* Time left until d->deadline in *tv, also applied as SO_RCVTIMEO/SO_SNDTIMEO so that no
 * blocking read or write inside libldap (the SASL layer reads whole packets) outlives it;
 * false when none is left. Never yields {0, 0}, which ldap_search_ext_s rejects. */
static bool time_left(struct directory_conn *d, struct timeval *tv)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long us = (d->deadline.tv_sec - now.tv_sec) * 1000000LL +
		       (d->deadline.tv_nsec - now.tv_nsec) / 1000;
	if (us <= 0)
		return false;
	*tv = (struct timeval){ .tv_sec = us / 1000000, .tv_usec = us % 1000000 };
	setsockopt(d->fd, SOL_SOCKET, SO_RCVTIMEO, tv, sizeof(*tv));
	setsockopt(d->fd, SOL_SOCKET, SO_SNDTIMEO, tv, sizeof(*tv));
	return true;
}

/* A non-blocking connect bounded by timeout, then back to blocking for libldap. */
static int connect_to(const char *address, unsigned port, int timeout, char **ret_err)
{
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM },
			*ai = NULL;
	int g = getaddrinfo(address, portstr, &hints, &ai);
	if (g != 0)
		return fail(ret_err, -EINVAL, "address \"%s\": %s", address, gai_strerror(g));

	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r = 0;
	if (fd < 0) {
		r = -errno;
	} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			r = -errno;
		} else {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int n = poll(&p, 1, timeout * 1000);
			int soerr = 0;
			socklen_t len = sizeof(soerr);
			if (n == 0)
				r = -ETIMEDOUT;
			else if (n < 0)
				r = -errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
				r = -errno;
			else if (soerr)
				r = -soerr;
		}
	}
	freeaddrinfo(ai);
	if (r == 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		r = -errno;
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return fail(ret_err, r, "LDAP %s:%u: %s", address, port, strerror(-r));
	}
	return fd;
}

/* Cyrus SASL asks before loading each plugin file: GSSAPI's only. */
static int verify_plugin(void *context, const char *file, sasl_verify_type_t type)
{
	if (type != SASL_VRFY_PLUGIN)
		return SASL_OK;
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	return strncmp(base, "libgssapiv2.so", strlen("libgssapiv2.so")) == 0 ? SASL_OK
									      : SASL_CONTINUE;
}

void directory_init(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	static const sasl_callback_t callbacks[] = {
		{ SASL_CB_VERIFYFILE, (int (*)(void))(void (*)(void))verify_plugin, NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	/* libldap's own sasl_client_init later only adds a reference to this one. */
	sasl_client_init(callbacks);
}

int directory_connect(const struct dc *dc, int timeout, struct directory_conn **ret, char **ret_err)
{
	*ret_err = NULL;
	directory_init();
	/* One budget for the connect and all that follows. */
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	int fd = connect_to(dc->address, dc->ldap_port, timeout, ret_err);
	if (fd < 0)
		return fd;

	/* The URL names the DC so that GSSAPI asks for ldap/<host>; we connected. */
	char *url = NULL;
	LDAP *ld = NULL;
	if (asprintf(&url, "ldap://%s:%u", dc->host, dc->ldap_port) < 0) {
		close(fd);
		return -ENOMEM;
	}
	int rc = ldap_init_fd(fd, LDAP_PROTO_TCP, url, &ld);
	free(url);
	if (rc != LDAP_SUCCESS) {
		close(fd);
		return fail(ret_err, -EIO, "LDAP on %s: %s", dc->host, ldap_err2string(rc));
	}

	int v3 = LDAP_VERSION3;
	struct timeval tv = { .tv_sec = timeout };
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    /* A referral would silently move the lookup to another DC. */
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS) {
		ldap_unbind_ext_s(ld, NULL, NULL);
		return fail(ret_err, -EIO, "LDAP on %s: cannot set options", dc->host);
	}

	struct directory_conn *d = calloc(1, sizeof(*d));
	if (!d) {
		ldap_unbind_ext_s(ld, NULL, NULL);
		return -ENOMEM;
	}
	d->ld = ld;
	d->fd = fd;
	d->deadline = deadline;
	d->stats.connections = 1;
	*ret = d;
	return 0;
}

struct interact {
	gss_cred_id_t cred;
	bool creds_set;
};

/* Cyrus SASL asks for the authorisation id before GSSAPI starts: the moment the SASL
 * context exists, so the moment our credential can be handed to it. */
static int interact_cb(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	struct interact *ia = defaults;
	if (ldap_set_option(ld, LDAP_OPT_X_SASL_GSS_CREDS, ia->cred) == LDAP_OPT_SUCCESS)
		ia->creds_set = true;
	for (sasl_interact_t *p = in; p && p->id != SASL_CB_LIST_END; p++) {
		p->result = ""; /* no authorisation id: act as ourselves */
		p->len = 0;
	}
	return LDAP_SUCCESS;
}

int directory_bind_gssapi(struct directory_conn *d, krb5_context k, krb5_ccache ccache,
			  char **ret_err)
{
	*ret_err = NULL;
	OM_uint32 minor;
	struct interact ia = { .cred = GSS_C_NO_CREDENTIAL };
	if (gss_krb5_import_cred(&minor, ccache, NULL, NULL, &ia.cred) != GSS_S_COMPLETE)
		return fail(ret_err, -EACCES, "cannot use the account's ccache for GSSAPI");

	d->stats.binds++;
	/* ldap_sasl_interactive_bind_s, but each round trip waits only for what is left. */
	LDAPMessage *res = NULL;
	const char *rmech = NULL;
	int rc, msgid;
	for (;;) {
		rc = ldap_sasl_interactive_bind(d->ld, NULL, "GSSAPI", NULL, NULL, LDAP_SASL_QUIET,
						interact_cb, &ia, res, &rmech, &msgid);
		ldap_msgfree(res);
		res = NULL;
		struct timeval tv;
		if (rc != LDAP_SASL_BIND_IN_PROGRESS)
			break;
		if (!time_left(d, &tv)) {
			rc = LDAP_TIMEOUT;
			break;
		}
		int n = ldap_result(d->ld, msgid, LDAP_MSG_ALL, &tv, &res);
		if (n <= 0 || !res) {
			rc = LDAP_TIMEOUT;
			if (n < 0)
				ldap_get_option(d->ld, LDAP_OPT_RESULT_CODE, &rc);
			break;
		}
	}
	gss_release_cred(&minor, &ia.cred);
	if (rc != LDAP_SUCCESS) {
		char *diag = NULL;
		ldap_get_option(d->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
		int r = fail(ret_err,
			     rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ? -EHOSTUNREACH : -EACCES,
			     "GSSAPI bind: %s%s%s", ldap_err2string(rc), diag && *diag ? ": " : "",
			     diag ? diag : "");
		ldap_memfree(diag);
		return r;
	}
	if (!ia.creds_set) /* then SASL used some default credential: not acceptable */
		return fail(ret_err, -EACCES, "GSSAPI bind did not use the account's credentials");
	return 0;
}

typedef int (*entry_fn)(LDAP *ld, LDAPMessage *e, void *data);

/* One search, paged when not base-scoped; fn sees every entry. Referrals are ignored. */
static int search(struct directory_conn *d, const char *base, int scope, const char *filter,
		  char **attrs, entry_fn fn, void *data, char **ret_err)
{
	struct berval *cookie = NULL;
	int r = 0;
	do {
		LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
		if (scope != LDAP_SCOPE_BASE &&
		    ldap_create_page_control(d->ld, PAGE_SIZE, cookie, 0, &page) == LDAP_SUCCESS)
			ctrls[0] = page;
		ber_bvfree(cookie);
		cookie = NULL;

		LDAPMessage *res = NULL;
		struct timeval tv;
		d->stats.searches++;
		int rc = time_left(d, &tv)
				 ? ldap_search_ext_s(d->ld, base, scope, filter, attrs, 0,
						     page ? ctrls : NULL, NULL, &tv, 0, &res)
				 : LDAP_TIMEOUT;
		if (page)
			ldap_control_free(page);
		if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
			ldap_msgfree(res);
			return fail(ret_err,
				    rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ? -EHOSTUNREACH
										 : -EIO,
				    "search under %s: %s (filter %.200s)", base,
				    ldap_err2string(rc), filter);
		}
		for (LDAPMessage *e = ldap_first_entry(d->ld, res); e && r == 0;
		     e = ldap_next_entry(d->ld, e))
			r = fn(d->ld, e, data);

		LDAPControl **rctrls = NULL;
		if (res &&
		    ldap_parse_result(d->ld, res, NULL, NULL, NULL, NULL, &rctrls, 0) ==
			    LDAP_SUCCESS &&
		    rctrls) {
			LDAPControl *pr =
				ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL);
			ber_int_t count;
			struct berval c = { 0 };
			if (pr && ldap_parse_pageresponse_control(d->ld, pr, &count, &c) ==
					  LDAP_SUCCESS) {
				if (c.bv_len > 0)
					cookie = ber_bvdup(&c);
				ber_memfree(c.bv_val);
			}
			ldap_controls_free(rctrls);
		}
		ldap_msgfree(res);
	} while (r == 0 && cookie);
	ber_bvfree(cookie);
	return r;
}

/* The first value of attr as a string, or NULL (caller frees). */
static char *first_value(LDAP *ld, LDAPMessage *e, const char *attr)
{
	struct berval **v = ldap_get_values_len(ld, e, attr);
	char *s = v && v[0] ? strndup(v[0]->bv_val, v[0]->bv_len) : NULL;
	ldap_value_free_len(v);
	return s;
}

static bool parse_id(const char *s, unsigned long *ret)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v >= (unsigned long)(uid_t)-1 || s[0] == '-')
		return false;
	*ret = v;
	return true;
}

/* Escapes an assertion value for a filter (RFC 4515): every byte as \xx is always safe. */
static char *escape_value(const char *v, size_t len)
{
	char *out = malloc(len * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' ||
			     ch == '@' || ch == '=' || ch == ',' || ch == ' ';
		o += plain ? sprintf(o, "%c", ch) : sprintf(o, "\\%02x", ch);
	}
	*o = '\0';
	return out;
}

struct account_search {
	struct directory_account *acct;
	const char *home_attr;
	unsigned found;
	bool bad_ids;
};

static int account_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct account_search *s = data;
	if (++s->found > 1)
		return 0;
	struct directory_account *a = s->acct;
	char *dn = ldap_get_dn(ld, e);
	a->dn = dn ? strdup(dn) : NULL;
	ldap_memfree(dn);
	char *uid = first_value(ld, e, "uidNumber"), *gid = first_value(ld, e, "gidNumber");
	unsigned long u, g;
	if (parse_id(uid, &u) && parse_id(gid, &g)) {
		a->uid = (uid_t)u;
		a->gid = (gid_t)g;
	} else {
		s->bad_ids = true;
	}
	free(uid);
	free(gid);
	a->home = first_value(ld, e, s->home_attr);
	a->shell = first_value(ld, e, "loginShell");
	struct berval **mo = ldap_get_values_len(ld, e, "memberOf");
	size_t n = (size_t)ldap_count_values_len(mo);
	a->member_of = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; a->member_of && i < n; i++)
		if (!(a->member_of[i] = strndup(mo[i]->bv_val, mo[i]->bv_len)))
			break;
	ldap_value_free_len(mo);
	return a->dn && a->member_of ? 0 : -ENOMEM;
}

int directory_find_account(struct directory_conn *d, enum config_schema schema, const char *base,
			   const char *name, const char *principal, struct directory_account *ret,
			   char **ret_err)
{
	*ret_err = NULL;
	char *en = escape_value(name, strlen(name)),
	     *ep = escape_value(principal, strlen(principal));
	char *filter = NULL;
	int r = -ENOMEM;
	if (!en || !ep)
		goto out;
	if (schema == CONFIG_SCHEMA_AD
		    ? asprintf(&filter,
			       "(&(objectClass=user)(|(sAMAccountName=%s)(userPrincipalName=%s)))",
			       en, ep) < 0
		    : asprintf(&filter, "(&(objectClass=posixAccount)(uid=%s))", en) < 0) {
		filter = NULL;
		goto out;
	}
	struct directory_account a = { 0 };
	struct account_search s = {
		.acct = &a,
		.home_attr = schema == CONFIG_SCHEMA_AD ? "unixHomeDirectory" : "homeDirectory",
	};
	/* memberOf, where the server has it, seeds the group walk (rfc2307bis). */
	char *attrs[] = { "uidNumber",
			  "gidNumber",
			  (char *)s.home_attr,
			  "loginShell",
			  schema == CONFIG_SCHEMA_RFC2307BIS ? "memberOf" : NULL,
			  NULL };
	r = search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, account_entry, &s, ret_err);
	if (r == 0 && s.found == 0)
		r = fail(ret_err, -ENOENT, "account \"%s\" not found under \"%s\"", name, base);
	else if (r == 0 && s.found > 1)
		r = fail(ret_err, -ENOTUNIQ, "%u entries match account \"%s\"", s.found, name);
	else if (r == 0 && s.bad_ids)
		r = fail(ret_err, -EPROTO, "account \"%s\" (%s) has no valid uidNumber/gidNumber",
			 name, a.dn);
	if (r == 0 && !(a.name = strdup(name)))
		r = -ENOMEM;
	if (r == 0)
		*ret = a;
	else
		directory_account_clear(&a);
out:
	free(en);
	free(ep);
	free(filter);
	return r;
}

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
};

static int add_group(struct directory_groups *g, LDAP *ld, LDAPMessage *e)
{
	char *gid = first_value(ld, e, "gidNumber");
	unsigned long v;
	bool ok = parse_id(gid, &v);
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
	char *name = first_value(ld, e, "cn");
	if (!name)
		name = first_value(ld, e, "sAMAccountName");
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
		r = dn_set_add(&w->found, dn);
		if (r == 0)
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
		char *v = escape ? escape_value(values[i], strlen(values[i])) : values[i];
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
		      char *const *values, size_t n, bool escape, char **attrs, entry_fn fn,
		      void *data, char **ret_err)
{
	int r = 0;
	for (size_t from = 0; r == 0 && from < n; from += FILTER_BATCH) {
		size_t to = from + FILTER_BATCH < n ? from + FILTER_BATCH : n;
		char *filter = or_filter(attr, values, from, to, escape);
		r = filter ? search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, fn, data, ret_err)
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
static int groups_nested(struct directory_conn *d, const char *base,
			 const struct directory_account *acct, struct directory_groups *out,
			 char **ret_err)
{
	static char *attrs[] = { "cn", "gidNumber", NULL };
	struct group_walk w = { .out = out };
	int r = dn_set_add(&w.next, acct->dn);
	for (char **m = acct->member_of; r == 0 && m && *m; m++)
		if (!dn_set_has(&w.next, *m))
			r = dn_set_add(&w.next, *m);
	unsigned depth = 0;
	while (r == 0 && w.next.n > 0) {
		if (++depth > DIRECTORY_MAX_DEPTH) {
			r = fail(ret_err, -ELOOP, "groups nested deeper than %d levels under %s",
				 DIRECTORY_MAX_DEPTH, base);
			break;
		}
		struct dn_set level = w.next;
		w.next = (struct dn_set){ 0 };
		for (size_t i = 0; r == 0 && i < level.n; i++)
			r = dn_set_add(&w.queried, level.v[i]);
		if (r == 0)
			r = search_any(d, base, "member", level.v, level.n, true, attrs, walk_entry,
				       &w, ret_err);
		dn_set_clear(&level);
	}
	dn_set_clear(&w.found);
	dn_set_clear(&w.queried);
	dn_set_clear(&w.next);
	return r;
}

static int group_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct group_walk *w = data;
	w->entries++;
	return add_group(w->out, ld, e);
}

static int groups_memberuid(struct directory_conn *d, const char *base,
			    const struct directory_account *acct, struct directory_groups *out,
			    char **ret_err)
{
	static char *attrs[] = { "cn", "gidNumber", NULL };
	char *en = escape_value(acct->name, strlen(acct->name)), *filter = NULL;
	struct group_walk w = { .out = out };
	int r = -ENOMEM;
	if (en && asprintf(&filter, "(&(objectClass=posixGroup)(memberUid=%s))", en) >= 0)
		r = search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, group_entry, &w, ret_err);
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
static int groups_token(struct directory_conn *d, const char *base,
			const struct directory_account *acct, struct directory_groups *out,
			char **ret_err)
{
	static char *token_attrs[] = { "tokenGroups", NULL };
	static char *attrs[] = { "cn", "sAMAccountName", "gidNumber", NULL };
	struct sids s = { 0 };
	int r = search(d, acct->dn, LDAP_SCOPE_BASE, "(objectClass=*)", token_attrs, token_entry,
		       &s, ret_err);
	struct group_walk w = { .out = out };
	if (r == 0)
		r = search_any(d, base, "objectSid", s.escaped, s.n, false, attrs, group_entry, &w,
			       ret_err);
	/* SIDs that resolve to nothing here (well-known, foreign) have no gidNumber either. */
	if (r == 0 && s.n > w.entries)
		out->skipped += (unsigned)(s.n - w.entries);
	strv_clear(s.escaped, s.n);
	return r;
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
			  char **ret_err)
{
	*ret_err = NULL;
	struct directory_groups g = { 0 };
	int r;
	switch (schema) {
	case CONFIG_SCHEMA_AD:
		r = groups_token(d, base, acct, &g, ret_err);
		break;
	case CONFIG_SCHEMA_RFC2307BIS:
		r = groups_nested(d, base, acct, &g, ret_err);
		break;
	default:
		r = groups_memberuid(d, base, acct, &g, ret_err);
		break;
	}
	if (r == -E2BIG)
		r = fail(ret_err, r, "more than %d groups for %s", DIRECTORY_MAX_GROUPS, acct->dn);
	if (r < 0) {
		directory_groups_clear(&g);
		return r;
	}
	dedupe_gids(&g);
	*ret = g;
	return 0;
}

const struct directory_stats *directory_stats(const struct directory_conn *d)
{
	return &d->stats;
}

void directory_close(struct directory_conn *d)
{
	if (!d)
		return;
	if (d->ld)
		ldap_unbind_ext_s(d->ld, NULL, NULL);
	free(d);
}

void directory_account_clear(struct directory_account *a)
{
	for (char **p = a->member_of; p && *p; p++)
		free(*p);
	free(a->member_of);
	free(a->dn);
	free(a->name);
	free(a->home);
	free(a->shell);
	*a = (struct directory_account){ 0 };
}

void directory_groups_clear(struct directory_groups *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->items[i].name);
	free(g->items);
	*g = (struct directory_groups){ 0 };
}

/* The first value of attr as an integer in [min, max]; dflt when absent. A value there
 * but not such a number sets *bad: a fact the workstation could not read. */
static intmax_t int_value(LDAP *ld, LDAPMessage *e, const char *attr, intmax_t min, intmax_t max,
			  intmax_t dflt, bool *bad)
{
	char *s = first_value(ld, e, attr);
	intmax_t v = dflt;
	if (s && textrec_parse_int(s, min < 0, min, max, &v) < 0)
		*bad = true;
	free(s);
	return v;
}

#define UF_ACCOUNTDISABLE 0x2
#define UF_LOCKOUT        0x10

static bool has_value(LDAP *ld, LDAPMessage *e, const char *attr)
{
	char *s = first_value(ld, e, attr);
	bool has = s != NULL;
	free(s);
	return has;
}

static int facts_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct lockout_facts *f = data;
	if (f->found) /* two entries for one name: trust neither */
		return -EEXIST;
	f->found = true;
	bool bad = false;
	f->kvno = (int)int_value(ld, e, "msDS-KeyVersionNumber", 0, INT_MAX, -1, &bad);
	f->pwd_last_set = int_value(ld, e, "pwdLastSet", INTMAX_MIN, INTMAX_MAX, 0, &bad);
	f->has_bad_pwd_time = has_value(ld, e, "badPasswordTime");
	f->bad_pwd_time = int_value(ld, e, "badPasswordTime", INTMAX_MIN, INTMAX_MAX, 0, &bad);
	f->bad_pwd_count = (int)int_value(ld, e, "badPwdCount", 0, INT_MAX, 0, &bad);
	intmax_t uac = int_value(ld, e, "userAccountControl", INT32_MIN, UINT32_MAX, 0, &bad);
	intmax_t computed = int_value(ld, e, "msDS-User-Account-Control-Computed", INT32_MIN,
				      UINT32_MAX, 0, &bad);
	f->disabled = (uac & UF_ACCOUNTDISABLE) != 0;
	/* lockoutTime stays set after the lockout duration until the next logon; the
	 * computed flag is the DC's own answer. Without it, lockoutTime is all there is. */
	bool has_computed = has_value(ld, e, "msDS-User-Account-Control-Computed");
	intmax_t lockout_time = int_value(ld, e, "lockoutTime", INTMAX_MIN, INTMAX_MAX, 0, &bad);
	f->locked = has_computed ? (computed & UF_LOCKOUT) != 0 : lockout_time != 0;
	/* What the workstation could not read, hidden or garbled, must not read as
	 * "all clear". */
	f->complete =
		has_value(ld, e, "userAccountControl") && has_value(ld, e, "badPwdCount") && !bad;
	return 0;
}

static int threshold_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct lockout_facts *f = data;
	bool bad = false;
	f->threshold = (int)int_value(ld, e, "lockoutThreshold", 0, INT_MAX, 0, &bad);
	f->complete = has_value(ld, e, "lockoutThreshold") && !bad;
	return 0;
}

int directory_lockout_facts(struct directory_conn *d, const char *base, const char *name,
			    const char *principal, struct lockout_facts *ret, char **ret_err)
{
	*ret_err = NULL;
	struct lockout_facts f = { .kvno = -1 };
	char *en = escape_value(name, strlen(name)),
	     *ep = escape_value(principal, strlen(principal));
	char *filter = NULL;
	int r = -ENOMEM;
	if (en && ep &&
	    asprintf(&filter, "(&(objectClass=user)(|(sAMAccountName=%s)(userPrincipalName=%s)))",
		     en, ep) >= 0) {
		char *attrs[] = { "msDS-KeyVersionNumber",
				  "pwdLastSet",
				  "badPwdCount",
				  "badPasswordTime",
				  "lockoutTime",
				  "userAccountControl",
				  "msDS-User-Account-Control-Computed",
				  NULL };
		r = search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, facts_entry, &f, ret_err);
		if (r == -EEXIST)
			r = fail(ret_err, -EIO, "more than one entry for %s under %s", name, base);
	} else {
		filter = NULL;
	}
	if (r == 0) {
		char *attrs[] = { "lockoutThreshold", NULL };
		bool entry_complete = f.complete;
		f.complete = false; /* until the domain object shows its threshold */
		r = search(d, base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, threshold_entry, &f,
			   ret_err);
		f.complete = f.complete && entry_complete;
	}
	free(filter);
	free(en);
	free(ep);
	if (r == 0)
		*ret = f;
	return r;
}

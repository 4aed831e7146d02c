/* SPDX-License-Identifier: MIT */
/* LDAP on the pinned DC: our own TCP connection, a GSSAPI bind with the installation
 * account's ccache, and account and nested-group lookups per schema. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gssapi/gssapi_krb5.h>
#include <limits.h>
#include <ldap.h>
#include <linux/tcp.h>
#include <netdb.h>
#include <poll.h>
#include <sasl/sasl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "advert/cfgread.h"
#include "advert/directory.h"
#include "advert/textrec.h"
#include "advert/util.h"
#include "directory-internal.h"

/* Exported and documented by OpenLDAP 2.5, but not declared in its ldap.h. */
int ldap_init_fd(ber_socket_t fd, int proto, const char *url, LDAP **ldp);
#ifndef LDAP_PROTO_TCP
#define LDAP_PROTO_TCP 1
#endif

#define PAGE_SIZE 500

/* Time left until d->deadline in *tv, also applied as SO_RCVTIMEO/SO_SNDTIMEO so that no
 * blocking read or write inside libldap (the SASL layer reads whole packets) outlives it;
 * false when none is left. Never yields {0, 0}, which ldap_search_ext_s rejects. */
bool dir_time_left(struct directory_conn *d, struct timeval *tv)
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
static int connect_to(const char *address, unsigned port, int timeout, struct why *why)
{
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM },
			*ai = NULL;
	int g = getaddrinfo(address, portstr, &hints, &ai);
	if (g != 0)
		return why_set(why, -EINVAL, "address \"%s\": %s", address, gai_strerror(g));

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
		return why_set(why, r, "LDAP %s:%u: %s", address, port, strerror(-r));
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

int directory_connect(const struct dc *dc, int timeout, struct directory_conn **ret,
		      struct why *why)
{
	why->text[0] = '\0';
	directory_init();
	/* One budget for the connect and all that follows. */
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	int fd = connect_to(dc->address, dc->ldap_port, timeout, why);
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
		return why_set(why, -EIO, "LDAP on %s: %s", dc->host, ldap_err2string(rc));
	}

	int v3 = LDAP_VERSION3;
	struct timeval tv = { .tv_sec = timeout };
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    /* A referral would silently move the lookup to another DC. */
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    /* Integrity at least: no answer a man in the middle could have rewritten. */
	    ldap_set_option(ld, LDAP_OPT_X_SASL_SECPROPS, "minssf=1,noanonymous,noplain") !=
		    LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS) {
		ldap_unbind_ext_s(ld, NULL, NULL);
		return why_set(why, -EIO, "LDAP on %s: cannot set options", dc->host);
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
			  struct why *why)
{
	why->text[0] = '\0';
	OM_uint32 minor;
	struct interact ia = { .cred = GSS_C_NO_CREDENTIAL };
	if (gss_krb5_import_cred(&minor, ccache, NULL, NULL, &ia.cred) != GSS_S_COMPLETE)
		return why_set(why, -EACCES, "cannot use the account's ccache for GSSAPI");

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
		if (!dir_time_left(d, &tv)) {
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
		int r = why_set(
			why, rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ? -EHOSTUNREACH : -EACCES,
			"GSSAPI bind: %s%s%s", ldap_err2string(rc), diag && *diag ? ": " : "",
			diag ? diag : "");
		ldap_memfree(diag);
		return r;
	}
	if (!ia.creds_set) /* then SASL used some default credential: not acceptable */
		return why_set(why, -EACCES, "GSSAPI bind did not use the account's credentials");
	ber_len_t ssf = 0;
	if (ldap_get_option(d->ld, LDAP_OPT_X_SASL_SSF, &ssf) != LDAP_OPT_SUCCESS || ssf == 0)
		return why_set(why, -EACCES, "GSSAPI bind without integrity protection (SSF 0)");
	return 0;
}

void directory_set_timeout(struct directory_conn *d, int timeout)
{
	clock_gettime(CLOCK_MONOTONIC, &d->deadline);
	d->deadline.tv_sec += timeout;
}

void directory_bytes(const struct directory_conn *d, unsigned long long *sent,
		     unsigned long long *received)
{
	struct tcp_info ti = { 0 };
	socklen_t len = sizeof(ti);
	*sent = *received = 0;
	if (getsockopt(d->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_received) +
			    sizeof(ti.tcpi_bytes_received)) {
		*sent = ti.tcpi_bytes_acked;
		*received = ti.tcpi_bytes_received;
	}
}

/* One search, paged when not base-scoped; fn sees every entry. Referrals are ignored. */
int dir_search(struct directory_conn *d, const char *base, int scope, const char *filter,
	       char **attrs, dir_entry_fn fn, void *data, struct why *why)
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
		int rc = dir_time_left(d, &tv)
				 ? ldap_search_ext_s(d->ld, base, scope, filter, attrs, 0,
						     page ? ctrls : NULL, NULL, &tv, 0, &res)
				 : LDAP_TIMEOUT;
		if (page)
			ldap_control_free(page);
		if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
			ldap_msgfree(res);
			return why_set(why,
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
char *dir_first_value(LDAP *ld, LDAPMessage *e, const char *attr)
{
	struct berval **v = ldap_get_values_len(ld, e, attr);
	char *s = v && v[0] ? strndup(v[0]->bv_val, v[0]->bv_len) : NULL;
	ldap_value_free_len(v);
	return s;
}

char **dir_values(LDAP *ld, LDAPMessage *e, const char *attr)
{
	struct berval **v = ldap_get_values_len(ld, e, attr);
	size_t n = (size_t)ldap_count_values_len(v);
	char **out = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; out && i < n; i++) {
		if (!(out[i] = strndup(v[i]->bv_val, v[i]->bv_len))) {
			strv_free(out);
			out = NULL;
		}
	}
	ldap_value_free_len(v);
	return out;
}

bool dir_parse_id(const char *s, unsigned long *ret)
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
char *dir_escape_value(const char *v, size_t len)
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
	char *uid = dir_first_value(ld, e, "uidNumber"), *gid = dir_first_value(ld, e, "gidNumber");
	unsigned long u, g;
	if (dir_parse_id(uid, &u) && dir_parse_id(gid, &g)) {
		a->uid = (uid_t)u;
		a->gid = (gid_t)g;
	} else {
		s->bad_ids = true;
	}
	free(uid);
	free(gid);
	a->home = dir_first_value(ld, e, s->home_attr);
	a->shell = dir_first_value(ld, e, "loginShell");
	a->member_of = dir_values(ld, e, "memberOf");
	return a->dn && a->member_of ? 0 : -ENOMEM;
}

int directory_find_account(struct directory_conn *d, enum config_schema schema, const char *base,
			   const char *name, const char *principal, struct directory_account *ret,
			   struct why *why)
{
	why->text[0] = '\0';
	char *en = dir_escape_value(name, strlen(name)),
	     *ep = dir_escape_value(principal, strlen(principal));
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
	r = dir_search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, account_entry, &s, why);
	if (r == 0 && s.found == 0)
		r = why_set(why, -ENOENT, "account \"%s\" not found under \"%s\"", name, base);
	else if (r == 0 && s.found > 1)
		r = why_set(why, -ENOTUNIQ, "%u entries match account \"%s\"", s.found, name);
	else if (r == 0 && s.bad_ids)
		r = why_set(why, -EPROTO, "account \"%s\" (%s) has no valid uidNumber/gidNumber",
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

/* SPDX-License-Identifier: MIT */
/* bench/identity-bench: times the identity path in one process, as the daemon's run
 * children do it (identity_acquire + identity_free), or the floor: the same Kerberos and
 * LDAP work as bare library calls with none of advertd's machinery (no guard, no write
 * ahead, no deadline). Prints one line of
 * numbers for bench/identity to tabulate. */
#include "config.h"

#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <ldap.h>
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "advert/identity.h"
#include "advert/util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *mode, double *t, int n, unsigned kdc, unsigned conns, unsigned binds,
		   unsigned searches, int failures)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("%s median=%.2f p90=%.2f kdc=%u conn=%u binds=%u searches=%u failures=%d\n", mode,
	       t[n / 2], t[n * 9 / 10], kdc, conns, binds, searches, failures);
}

static int bench_advertd(const char *conf, const char *account, int n)
{
	struct diag_list diags = { 0 };
	struct config *cfg = NULL;
	if (config_load(conf, &cfg, &diags) < 0 || diag_count(&diags, DIAG_ERROR)) {
		diag_print(&diags, stderr);
		return 1;
	}
	double *t = calloc((size_t)n, sizeof(*t));
	struct identity_report rep = { 0 };
	int failures = 0;
	for (int i = 0; i < n; i++) {
		double t0 = util_now_ms();
		struct identity *id = NULL;
		if (identity_acquire(cfg, account, time(NULL), &id, &rep) < 0) {
			failures++;
			fprintf(stderr, "run %d: %s\n", i, rep.why.text);
		}
		identity_free(id);
		t[i] = util_now_ms() - t0;
	}
	report("advertd", t, n, rep.kdc_requests, rep.ldap_connections, rep.ldap_binds,
	       rep.ldap_searches, failures);
	free(t);
	config_free(cfg);
	diag_clear(&diags);
	return failures != 0;
}

static int interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	ldap_set_option(ld, LDAP_OPT_X_SASL_GSS_CREDS, defaults);
	for (sasl_interact_t *p = in; p->id != SASL_CB_LIST_END; p++)
		p->result = "", p->len = 0;
	return LDAP_SUCCESS;
}

/* One login and its reads as bare library calls: AS, TGS for ldap/<host>, GSSAPI bind,
 * then searches searches for filter (the first subtree, the rest base-scoped on base).
 * Returns 0 when all of it worked. */
static int floor_login(krb5_context k, const char *keytab, const char *principal, const char *uri,
		       const char *host, const char *base, const char *filter, int searches)
{
	krb5_principal p, s;
	krb5_keytab kt;
	krb5_ccache cc;
	krb5_creds creds, in, *out = NULL;
	krb5_get_init_creds_opt *opt;
	memset(&in, 0, sizeof(in));
	krb5_parse_name(k, principal, &p);
	krb5_kt_resolve(k, keytab, &kt);
	krb5_cc_new_unique(k, "MEMORY", NULL, &cc);
	krb5_get_init_creds_opt_alloc(k, &opt);
	krb5_get_init_creds_opt_set_out_ccache(k, opt, cc);
	int bad = krb5_get_init_creds_keytab(k, &creds, p, kt, 0, NULL, opt) != 0;
	if (!bad) {
		krb5_free_cred_contents(k, &creds);
		krb5_build_principal(k, &s, (unsigned)strlen(p->realm.data), p->realm.data, "ldap",
				     host, NULL);
		in.client = p;
		in.server = s;
		bad = krb5_get_credentials(k, 0, cc, &in, &out) != 0;
		krb5_free_creds(k, out);
		krb5_free_principal(k, s);
	}
	OM_uint32 minor;
	gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
	LDAP *ld = NULL;
	if (!bad)
		bad = gss_krb5_import_cred(&minor, cc, NULL, NULL, &cred) != GSS_S_COMPLETE;
	if (!bad)
		bad = ldap_initialize(&ld, uri) != LDAP_SUCCESS;
	if (!bad) {
		int v3 = 3;
		ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
		ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
		ldap_set_option(ld, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON);
		bad = ldap_sasl_interactive_bind_s(ld, NULL, "GSSAPI", NULL, NULL, LDAP_SASL_QUIET,
						   interact, cred) != 0;
	}
	for (int i = 0; !bad && i < searches; i++) {
		LDAPMessage *res = NULL;
		char *attrs[] = { "uidNumber", "badPwdCount", "lockoutThreshold", NULL };
		int rc = ldap_search_ext_s(ld, base, i ? LDAP_SCOPE_BASE : LDAP_SCOPE_SUBTREE,
					   i ? "(objectClass=*)" : filter, attrs, 0, NULL, NULL,
					   NULL, 0, &res);
		bad = rc != LDAP_SUCCESS && rc != LDAP_REFERRAL;
		ldap_msgfree(res);
	}
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
	gss_release_cred(&minor, &cred);
	krb5_get_init_creds_opt_free(k, opt);
	krb5_cc_destroy(k, cc);
	krb5_kt_close(k, kt);
	krb5_free_principal(k, p);
	return bad;
}

/* The least any tool could do for this answer, with the ambient krb5.conf (pointing at
 * one DC) and a resolvable ldap URI: the account's login and one search; with a host
 * keytab and principal too, first the same reads the check before knocking makes (the
 * host's login, the account's entry, the domain's threshold). */
static int bench_floor(char **argv, int n)
{
	const char *keytab = argv[0], *principal = argv[1], *uri = argv[2], *host = argv[3],
		   *base = argv[4], *filter = argv[5], *host_keytab = argv[6],
		   *host_principal = argv[7];
	double *t = calloc((size_t)n, sizeof(*t));
	int failures = 0;
	krb5_context k;
	krb5_init_context(&k);
	for (int i = 0; i < n; i++) {
		double t0 = util_now_ms();
		int bad = host_keytab ? floor_login(k, host_keytab, host_principal, uri, host, base,
						    filter, 2)
				      : 0;
		if (!bad)
			bad = floor_login(k, keytab, principal, uri, host, base, filter, 1);
		failures += bad;
		t[i] = util_now_ms() - t0;
	}
	if (host_keytab)
		report("floor", t, n, 6, 2, 2, 3, failures);
	else
		report("floor", t, n, 3, 1, 1, 1, failures);
	krb5_free_context(k);
	free(t);
	return failures != 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "advertd") == 0)
		return bench_advertd(argv[2], argv[3], atoi(argv[4]));
	if ((argc == 9 || argc == 11) && strcmp(argv[1], "floor") == 0) {
		char *args[8] = { argv[2], argv[3], argv[4], argv[5], argv[6], argv[7] };
		if (argc == 11)
			args[6] = argv[9], args[7] = argv[10];
		return bench_floor(args, atoi(argv[8]));
	}
	fprintf(stderr, "usage: identity-bench advertd CONF ACCOUNT RUNS\n"
			"       identity-bench floor KEYTAB PRINCIPAL URI HOST BASE FILTER RUNS "
			"[HOST-KEYTAB HOST-PRINCIPAL]\n");
	return 2;
}

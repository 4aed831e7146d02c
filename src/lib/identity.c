/* SPDX-License-Identifier: MIT */
/* Impersonate first, then look up, all on one DC. Failover only when a DC does not
 * answer, and then the whole acquisition starts again on the next DC. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <gssapi/gssapi.h>
#include <ldap.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advert/dcloc.h"
#include "advert/identity.h"
#include "advert/lockout.h"
#include "advert/util.h"
#include "identity-internal.h"

/* Whole seconds left until deadline_ms, at least 1 (libldap counts in seconds). */
int identity_remaining_s(double deadline_ms)
{
	double left = (deadline_ms - util_now_ms()) / 1000.0;
	return left < 1 ? 1 : (int)(left + 0.999);
}

int identity_stop(struct identity_report *rep, enum identity_stage stage, int r, const char *fmt,
		  ...)
{
	rep->stage = stage;
	va_list ap;
	va_start(ap, fmt);
	why_vset(&rep->why, 0, fmt, ap);
	va_end(ap);
	return r;
}

void identity_note_dc(struct identity_report *rep, const char *host, const char *what)
{
	size_t len = strlen(rep->dcs_tried);
	snprintf(rep->dcs_tried + len, sizeof(rep->dcs_tried) - len, "%s%s%s%s%s", len ? ", " : "",
		 host, what ? " (" : "", what ? what : "", what ? ")" : "");
}

void identity_use_ccache(const struct config *cfg, struct creds_ctx *c, krb5_ccache cc)
{
	/* GSSAPI's own profile must not look the DC's name up again. */
	creds_gssapi_defaults(cfg->state_dir);
	/* Any default-credential path inside GSSAPI now finds this same account. */
	char *full = NULL;
	if (krb5_cc_get_full_name(creds_krb5(c), cc, &full) == 0) {
		setenv("KRB5CCNAME", full, 1);
		krb5_free_string(creds_krb5(c), full);
	}
}

void identity_free(struct identity *id)
{
	if (!id)
		return;
	if (id->ccache)
		krb5_cc_destroy(creds_krb5(id->creds), id->ccache);
	creds_close(id->creds);
	free(id->account);
	free(id->principal);
	free(id->dc);
	free(id->dc_address);
	free(id->groups);
	directory_groups_clear(&id->named);
	free(id->home);
	free(id->shell);
	free(id);
}

const char *identity_stage_name(enum identity_stage s)
{
	static const char *const names[] = {
		[IDENTITY_STAGE_CONFIG] = "config",
		[IDENTITY_STAGE_SECRET] = "secret",
		[IDENTITY_STAGE_GUARD] = "guard",
		[IDENTITY_STAGE_LOCATE] = "locate",
		[IDENTITY_STAGE_IMPERSONATE] = "impersonate",
		[IDENTITY_STAGE_LOOKUP] = "lookup",
		[IDENTITY_STAGE_DONE] = "done",
	};
	return names[s];
}

static int add_gid(struct identity *id, gid_t g)
{
	gid_t *v = reallocarray(id->groups, id->n_groups + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[id->n_groups++] = g;
	id->groups = v;
	return 0;
}

/* The groups for setgroups(): each once, in order (add_gid only appends). */
static void unique_gids(struct identity *id)
{
	id->n_groups = util_unique_gids(id->groups, id->n_groups);
}

/* Whether the directory may hand out id (a gid when group) named name (NULL: any name):
 * inside [directory.min_id, directory.max_id], and not an id NSS knows on this host under
 * another name (gidNumber 42 must not become the local shadow group). *why says why
 * not. */
static bool id_allowed(const struct config *cfg, bool group, unsigned long id, const char *name,
		       char *why, size_t size)
{
	const char *what = group ? "gidNumber" : "uidNumber";
	if (id < (unsigned long)cfg->directory.min_id ||
	    id > (unsigned long)cfg->directory.max_id) {
		snprintf(why, size, "%s %lu is outside directory.min_id %d .. max_id %d", what, id,
			 cfg->directory.min_id, cfg->directory.max_id);
		return false;
	}
	char buf[4096];
	const char *local = NULL;
	if (group) {
		struct group gr, *g = NULL;
		if (getgrgid_r((gid_t)id, &gr, buf, sizeof(buf), &g) == 0 && g)
			local = g->gr_name;
	} else {
		struct passwd pw, *p = NULL;
		if (getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &p) == 0 && p)
			local = p->pw_name;
	}
	if (local && (!name || strcmp(local, name) != 0)) {
		snprintf(why, size, "%s %lu is the local %s \"%s\" on this host", what, id,
			 group ? "group" : "user", local);
		return false;
	}
	return true;
}

/* A local account: NSS only, no directory, no credentials. */
static int acquire_local(const struct config_account *acct, struct identity *id,
			 struct identity_report *rep)
{
	char buf[4096];
	struct passwd pw, *p = NULL;
	int e = getpwnam_r(acct->local_user, &pw, buf, sizeof(buf), &p);
	if (!p)
		return identity_stop(rep, IDENTITY_STAGE_LOOKUP, -ENOENT, "local user \"%s\": %s",
				     acct->local_user, e ? strerror(e) : "no such user");
	if (p->pw_uid == 0)
		return identity_stop(
			rep, IDENTITY_STAGE_LOOKUP, -EPERM,
			"local user \"%s\" is uid 0: an installation account must not be root",
			acct->local_user);
	id->uid = p->pw_uid;
	id->gid = p->pw_gid;
	if (!(id->home = strdup(p->pw_dir)) || !(id->shell = strdup(p->pw_shell)))
		return -ENOMEM;
	int n = 64;
	gid_t *groups = NULL;
	for (;;) {
		gid_t *g = reallocarray(groups, (size_t)n, sizeof(*g));
		if (!g) {
			free(groups);
			return -ENOMEM;
		}
		groups = g;
		int want = n;
		if (getgrouplist(acct->local_user, p->pw_gid, groups, &want) >= 0) {
			n = want;
			break;
		}
		n = want > n ? want : n * 2;
	}
	int r = 0;
	for (int i = 0; r == 0 && i < n; i++)
		r = add_gid(id, groups[i]);
	free(groups);
	rep->stage = IDENTITY_STAGE_DONE;
	return r;
}

void identity_prewarm(const struct config *cfg)
{
	directory_init();
	creds_prewarm();
	creds_gssapi_defaults(cfg->state_dir);
	OM_uint32 minor;
	gss_OID_set mechs = GSS_C_NO_OID_SET;
	if (gss_indicate_mechs(&minor, &mechs) == GSS_S_COMPLETE)
		gss_release_oid_set(&minor, &mechs);
	/* Asking libldap for SASL's mechanisms initialises libldap and loads SASL's
	 * plugins. */
	char *list = NULL;
	if (ldap_get_option(NULL, LDAP_OPT_X_SASL_MECHLIST, &list) == LDAP_OPT_SUCCESS && list)
		ldap_memfree(list);
}

/* The account the directory returned becomes the run's ids, within directory.min_id and
 * max_id; a group outside them is left out and counted. Consumes a. */
static int take_ids(const struct config *cfg, const char *principal, struct directory_account *a,
		    struct identity *id, struct identity_report *rep)
{
	/* The directory knows the account by the principal's name part. */
	char *name = strndupa(principal, strcspn(principal, "@"));
	char why[256];
	const char *primary = NULL; /* the primary group's name, when the walk found it */
	for (size_t i = 0; !primary && i < id->named.n; i++)
		if (id->named.items[i].gid == a->gid)
			primary = id->named.items[i].name;
	if (!id_allowed(cfg, false, a->uid, name, why, sizeof(why)) ||
	    !id_allowed(cfg, true, a->gid, primary, why, sizeof(why))) {
		directory_account_clear(a);
		return identity_stop(rep, IDENTITY_STAGE_LOOKUP, -EPERM, "%s in the directory: %s",
				     principal, why);
	}
	id->uid = a->uid;
	id->gid = a->gid;
	id->home = a->home;
	id->shell = a->shell;
	a->home = a->shell = NULL;
	directory_account_clear(a);
	int r = add_gid(id, id->gid);
	for (size_t i = 0; r == 0 && i < id->named.n; i++) {
		/* A group the directory may not hand out is left out and counted, like one
		 * without a gidNumber: it must never grant a local system group's rights. */
		if (!id_allowed(cfg, true, id->named.items[i].gid, id->named.items[i].name, why,
				sizeof(why))) {
			id->named.skipped++;
			id->named.items[i].gid = (gid_t)-1;
			continue;
		}
		r = add_gid(id, id->named.items[i].gid);
	}
	return r;
}

/* As the installation account, on dc: GSSAPI over the ticket just acquired, the account
 * and its groups, per schema. Returns 0, -EHOSTUNREACH (dc stopped answering) or a final
 * error in rep. */
static int look_up(const struct config *cfg, const struct config_account *acct, const struct dc *dc,
		   struct identity *id, struct identity_report *rep)
{
	identity_use_ccache(cfg, id->creds, id->ccache);

	struct directory_conn *d = NULL;
	struct why err = { "" };
	struct directory_account a = { 0 };
	/* The directory knows the account by the principal's name part. */
	char *name = strndupa(acct->principal, strcspn(acct->principal, "@"));
	int r = directory_connect(dc, identity_remaining_s(creds_deadline(id->creds)), &d, &err);
	if (r == 0)
		r = directory_bind_gssapi(d, creds_krb5(id->creds), id->ccache, &err);
	if (r == 0)
		r = directory_find_account(d, cfg->directory.schema, cfg->directory.base, name,
					   acct->principal, &a, &err);
	if (r == 0)
		r = directory_find_groups(d, cfg->directory.schema, cfg->directory.base, &a,
					  &id->named, &err);
	if (d) {
		const struct directory_stats *st = directory_stats(d);
		rep->ldap_connections += st->connections;
		rep->ldap_binds += st->binds;
		rep->ldap_searches += st->searches;
	}
	directory_close(d);
	if (r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -ECONNREFUSED) {
		directory_account_clear(&a);
		return -EHOSTUNREACH;
	}
	if (r < 0) {
		identity_stop(rep, IDENTITY_STAGE_LOOKUP, r, "%s",
			      err.text[0] ? err.text : strerror(-r));
		directory_account_clear(&a);
		return r;
	}
	return take_ids(cfg, acct->principal, &a, id, rep);
}

/* One attempt on one DC. Returns 0, -EHOSTUNREACH (nothing carrying the secret was
 * sent: try the next DC) or a final error. damaged is the guard state's read error when
 * it could not be trusted (0 otherwise). */
static int acquire_on(const struct config *cfg, const struct config_account *acct, bool lookup,
		      const struct dc *dc, time_t now, double deadline_ms, int damaged,
		      struct lockout_state *guard, struct identity *id, struct identity_report *rep)
{
	double t0 = util_now_ms();
	char fp[LOCKOUT_FP_LEN + 1];
	struct creds_result cres;
	int r = creds_open(cfg->directory.realm, dc, &id->creds);
	if (r < 0)
		return identity_stop(rep, IDENTITY_STAGE_IMPERSONATE, r,
				     "cannot set up Kerberos: %s", strerror(-r));
	double attempt = t0 + cfg->directory.timeout * 1000.0;
	creds_set_deadline(id->creds, attempt < deadline_ms ? attempt : deadline_ms);

	struct lockout_facts facts = { .kvno = -1 };
	r = identity_may_knock(cfg, acct, lookup, dc, now, damaged, guard, id->creds, fp, &facts,
			       rep);
	if (r < 0)
		return r;

	r = identity_login(cfg, acct, id->creds, dc, now, fp, guard, facts.pwd_last_set,
			   &id->ccache, rep);
	rep->kdc_requests = rep->kdc_requests_earlier + rep->kdc_requests_precheck +
			    creds_kdc_requests(id->creds);
	if (r < 0)
		return r;

	if (!lookup) { /* the client token account: a TGT is all a system run needs */
		rep->ms_impersonate = util_now_ms() - t0;
		if (!(id->dc = strdup(dc->host)) || !(id->dc_address = strdup(dc->address)))
			return -ENOMEM;
		return add_gid(id, 0);
	}
	r = creds_service_ticket(id->creds, id->ccache, "ldap", dc->host, &cres);
	rep->kdc_requests = rep->kdc_requests_earlier + rep->kdc_requests_precheck +
			    creds_kdc_requests(id->creds);
	if (cres.status == CREDS_UNREACHABLE)
		return -EHOSTUNREACH;
	if (r < 0)
		return identity_stop(rep, IDENTITY_STAGE_LOOKUP, r, "ldap/%s: %s", dc->host,
				     cres.why.text);
	double t1 = util_now_ms();
	rep->ms_impersonate = t1 - t0;

	r = look_up(cfg, acct, dc, id, rep);
	rep->ms_lookup = util_now_ms() - t1;
	if (r == 0 && (!(id->dc = strdup(dc->host)) || !(id->dc_address = strdup(dc->address))))
		r = -ENOMEM;
	return r;
}

/* Drops what one DC attempt left behind, so the next DC starts clean. */
static void reset_attempt(struct identity *id)
{
	if (id->ccache)
		krb5_cc_destroy(creds_krb5(id->creds), id->ccache);
	id->ccache = NULL;
	creds_close(id->creds);
	id->creds = NULL;
	directory_groups_clear(&id->named);
	free(id->groups);
	id->groups = NULL;
	id->n_groups = 0;
}

/* Under acct's guard lock: the DC candidates in order, one attempt each until one
 * answers. The guard's lock is held across every request for this account, so that two
 * runs never both send a secret the other has just seen rejected. */
static int acquire_guarded(const struct config *cfg, const struct config_account *acct, bool lookup,
			   time_t now, double t0, struct identity *id, struct identity_report *rep)
{
	int guard_fd = lockout_lock(cfg->state_dir, acct->name);
	if (guard_fd < 0) {
		return identity_stop(rep, IDENTITY_STAGE_GUARD, guard_fd,
				     "cannot open the lockout guard's state in %s: %s",
				     cfg->state_dir, strerror(-guard_fd));
	}
	struct lockout_state guard = { 0 };
	int damaged = lockout_read(guard_fd, &guard);
	if (damaged < 0 && damaged != -EBADMSG) {
		close(guard_fd);
		return identity_stop(
			rep, IDENTITY_STAGE_GUARD, damaged,
			"the lockout guard's state for \"%s\" is unreadable (%s): sending nothing",
			acct->name, strerror(-damaged));
	}

	struct dc_list dcs = { 0 };
	char *affinity = NULL;
	int r = dcloc_for_run(cfg, &dcs, &affinity);
	rep->ms_locate = util_now_ms() - t0;
	if (r == 0 && dcs.n == 0)
		r = identity_stop(rep, IDENTITY_STAGE_LOCATE, -EHOSTUNREACH,
				  "no domain controller found");

	/* Every DC gets at most directory.timeout, and the whole acquisition no more than
	 * all of them together. */
	double deadline = t0 + cfg->directory.timeout * 1000.0 * (double)(dcs.n ? dcs.n : 1);
	for (size_t i = 0; r == 0 && i < dcs.n; i++) {
		r = acquire_on(cfg, acct, lookup, &dcs.items[i], now, deadline, damaged, &guard, id,
			       rep);
		if (r == -EHOSTUNREACH) {
			identity_note_dc(rep, dcs.items[i].host, "no answer");
			rep->dcs_unreachable++;
			if (id->creds)
				rep->kdc_requests_earlier += creds_kdc_requests(id->creds);
			rep->kdc_requests = rep->kdc_requests_earlier + rep->kdc_requests_precheck;
			reset_attempt(id);
			r = i + 1 < dcs.n ? 0
					  : identity_stop(rep, IDENTITY_STAGE_LOCATE, -EHOSTUNREACH,
							  "no domain controller answered (%s)",
							  rep->dcs_tried);
			continue;
		}
		identity_note_dc(rep, dcs.items[i].host,
				 r == -ETIMEDOUT ? "no answer to the secret" : NULL);
		if (r == 0) {
			dcloc_worked(cfg->state_dir, affinity, dcs.items[i].host);
			rep->stage = IDENTITY_STAGE_DONE;
		}
		break;
	}
	rep->guard = guard;
	free(affinity);
	dcloc_list_free(&dcs);
	close(guard_fd);
	return r;
}

int identity_acquire(const struct config *cfg, const char *account, time_t now,
		     struct identity **ret, struct identity_report *rep)
{
	*rep = (struct identity_report){ .stage = IDENTITY_STAGE_CONFIG };
	double t0 = util_now_ms();
	/* "system" is root with the client token account's ticket: the host's own
	 * principal from its keytab, through the same pin and guard, and no lookup. */
	bool lookup = strcmp(account, "system") != 0;
	char host[256] = "", *host_principal = NULL;
	struct config_account system_acct = {
		.name = (char *)"system",
		.kind = ACCOUNT_KEYTAB,
		.principal = cfg->client_token.principal,
		.keytab = cfg->client_token.keytab,
	};
	const struct config_account *acct =
		lookup ? config_find_account(cfg, account) : &system_acct;
	if (!acct)
		return identity_stop(rep, IDENTITY_STAGE_CONFIG, -ENOENT,
				     "no account \"%s\" in advertd.conf", account);
	if (!lookup && !cfg->directory.realm) { /* no domain: root, no ticket */
		struct identity *sys = calloc(1, sizeof(*sys));
		if (!sys || !(sys->account = strdup("system")) || add_gid(sys, 0) < 0) {
			identity_free(sys);
			return -ENOMEM;
		}
		rep->stage = IDENTITY_STAGE_DONE;
		*ret = sys;
		return 0;
	}
	if (!lookup && !system_acct.principal) {
		gethostname(host, sizeof(host) - 1);
		if (asprintf(&host_principal, "host/%s@%s", host, cfg->directory.realm) < 0)
			return -ENOMEM;
		system_acct.principal = host_principal;
	}

	struct identity *id = calloc(1, sizeof(*id));
	if (!id || !(id->account = strdup(acct->name))) {
		free(id);
		return -ENOMEM;
	}
	int r;
	if (acct->kind == ACCOUNT_LOCAL) {
		r = acquire_local(acct, id, rep);
		goto done;
	}
	if (!(id->principal = strdup(acct->principal))) {
		r = -ENOMEM;
		goto done;
	}
	if (!cfg->directory.realm) {
		r = identity_stop(rep, IDENTITY_STAGE_CONFIG, -EINVAL,
				  "no directory.realm configured");
		goto done;
	}

	r = acquire_guarded(cfg, acct, lookup, now, t0, id, rep);
done:
	free(host_principal);
	rep->ms_total = util_now_ms() - t0;
	if (r < 0) {
		identity_free(id);
		return r;
	}
	unique_gids(id);
	*ret = id;
	return 0;
}

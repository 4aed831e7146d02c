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

/* Whole seconds left until deadline_ms, at least 1 (libldap counts in seconds). */
static int remaining_s(double deadline_ms)
{
	double left = (deadline_ms - util_now_ms()) / 1000.0;
	return left < 1 ? 1 : (int)(left + 0.999);
}

static int stop(struct identity_report *rep, enum identity_stage stage, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int stop(struct identity_report *rep, enum identity_stage stage, int r, const char *fmt, ...)
{
	rep->stage = stage;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
	va_end(ap);
	return r;
}

static void note_dc(struct identity_report *rep, const char *host, const char *what)
{
	size_t len = strlen(rep->dcs_tried);
	snprintf(rep->dcs_tried + len, sizeof(rep->dcs_tried) - len, "%s%s%s%s%s", len ? ", " : "",
		 host, what ? " (" : "", what ? what : "", what ? ")" : "");
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
		return stop(rep, IDENTITY_STAGE_LOOKUP, -ENOENT, "local user \"%s\": %s",
			    acct->local_user, e ? strerror(e) : "no such user");
	if (p->pw_uid == 0)
		return stop(rep, IDENTITY_STAGE_LOOKUP, -EPERM,
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

/* FNV-1a of the host name: orders equal-priority SRV records the same way on every
 * restart of this host, differently across a fleet. */
static uint64_t host_seed(void)
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = host; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

/* What the guard needs to record an attempt before it is sent. */
struct knock {
	const struct config *cfg;
	const struct config_account *acct;
	struct lockout_state *guard; /* updated once the record is durable */
	const char *fp, *dc;
	time_t now;
};

/* Write ahead: the attempt is on disk before the secret leaves, or it does not leave. */
static int before_secret(void *data)
{
	struct knock *k = data;
	struct lockout_state next = *k->guard;
	lockout_begin(&next, k->fp, k->now, k->dc);
	int r = lockout_write(k->cfg->state_dir, k->acct->name, &next);
	if (r < 0)
		return r;
	*k->guard = next;
	return 0;
}

static int hold(struct identity_report *rep, const struct lockout_state *guard)
{
	if (rep->verdict == LOCKOUT_HOLD_REJECTED && guard->outcome == LOCKOUT_DAMAGED)
		return stop(rep, IDENTITY_STAGE_GUARD, -EPERM,
			    "the lockout guard's state was found damaged (%s): this secret is "
			    "not sent until the keytab or password file changes",
			    guard->message);
	if (rep->verdict == LOCKOUT_HOLD_REJECTED)
		return stop(rep, IDENTITY_STAGE_GUARD, -EPERM,
			    "the KDC on %s rejected this secret (%s): it will not be sent again "
			    "until the keytab or password file changes",
			    guard->dc, guard->message);
	if (guard->outcome == LOCKOUT_INFLIGHT)
		return stop(rep, IDENTITY_STAGE_GUARD, -EPERM,
			    "this secret was sent to %s and no answer was recorded, so a failed "
			    "logon may have been counted: it is not sent again until the backoff "
			    "ends or the keytab or password file changes",
			    guard->dc);
	return stop(rep, IDENTITY_STAGE_GUARD, -EPERM,
		    "the account was %s on %s (%s): leaving it alone until the backoff ends",
		    guard->outcome == LOCKOUT_REVOKED ? "locked out or disabled" : "unusable",
		    guard->dc, guard->message);
}

/* The guarded AS exchange with a secret the guard allowed: write ahead, request on dc
 * alone, record the answer (with the pwdLastSet it was accepted under, when known).
 * *ret_ccache gets the TGT. Returns 0, -EHOSTUNREACH (nothing carrying the secret was
 * sent) or a final error in rep. */
static int login(const struct config *cfg, const struct config_account *acct, struct creds_ctx *c,
		 const struct dc *dc, time_t now, const char *fp, struct lockout_state *guard,
		 long long accepted_under, krb5_ccache *ret_ccache, struct identity_report *rep)
{
	struct creds_result cres;
	krb5_context k = creds_krb5(c);
	if (krb5_cc_new_unique(k, "MEMORY", NULL, ret_ccache) != 0) {
		*ret_ccache = NULL;
		return -ENOMEM;
	}
	struct lockout_state before = *guard;
	struct knock knock = {
		.cfg = cfg,
		.acct = acct,
		.guard = guard,
		.fp = fp,
		.dc = dc->host,
		.now = now,
	};
	int r = creds_acquire(c, acct, *ret_ccache, before_secret, &knock, &cres);
	rep->creds_status = cres.status;
	if (cres.status == CREDS_UNREACHABLE)
		return -EHOSTUNREACH;
	if (cres.status == CREDS_NOT_RECORDED)
		return stop(rep, IDENTITY_STAGE_GUARD, r, "%s", cres.message);
	if (cres.status == CREDS_NO_REPLY)
		return stop(rep, IDENTITY_STAGE_LOCATE, -ETIMEDOUT,
			    "%s got the secret and gave no answer: it may have counted a failed "
			    "logon, so the secret goes to no other DC (the lockout guard holds "
			    "it for the backoff, or until the keytab or password file changes)",
			    dc->host);

	/* The answer replaces the in-flight record, before anything else happens. */
	enum lockout_outcome outcome = creds_lockout_outcome(cres.status);
	if (outcome != LOCKOUT_NONE || guard->outcome == LOCKOUT_INFLIGHT) {
		if (outcome != LOCKOUT_NONE)
			lockout_record(guard, fp, outcome, now, dc->host, cres.message);
		else if (cres.status == CREDS_CLOCK_SKEW)
			*guard = before; /* answered: not a failed logon, nothing to keep */
		/* Any other answer (garbled, an error we do not know) leaves it in flight: the
		 * KDC got the secret, and may have counted it. */
		if (outcome == LOCKOUT_OK && accepted_under)
			guard->accepted_under = accepted_under;
		int w = lockout_write(cfg->state_dir, acct->name, guard);
		if (w < 0 && outcome != LOCKOUT_OK)
			return stop(rep, IDENTITY_STAGE_IMPERSONATE, w,
				    "%s; and the lockout guard cannot record it: %s", cres.message,
				    strerror(-w));
	}
	if (r < 0)
		return stop(rep, IDENTITY_STAGE_IMPERSONATE, r, "%s: %s",
			    creds_status_name(cres.status), cres.message);
	return 0;
}

static const char *check_reason(enum lockout_check chk, int kvno, const struct lockout_facts *f,
				int reserve)
{
	static __thread char buf[256];
	switch (chk) {
	case LOCKOUT_CHECK_NOT_FOUND:
		return "the account is not in the directory";
	case LOCKOUT_CHECK_DISABLED:
		return "the account is disabled";
	case LOCKOUT_CHECK_LOCKED:
		return "the account is locked out";
	case LOCKOUT_CHECK_STALE_KEYTAB:
		snprintf(buf, sizeof(buf),
			 "the keytab holds key version %d, the directory has %d (a stale keytab, "
			 "or a DC that has not replicated the change yet)",
			 kvno, f->kvno);
		return buf;
	case LOCKOUT_CHECK_STALE_PASSWORD:
		return "the password was changed in the directory (pwdLastSet) after this "
		       "password file was last accepted: it is stale";
	case LOCKOUT_CHECK_INCOMPLETE:
		return "the directory does not show this workstation the account's "
		       "userAccountControl, badPwdCount or the domain's lockoutThreshold "
		       "(directory.base must be the domain, and the computer account must be able to "
		       "read them)";
	case LOCKOUT_CHECK_NEAR_THRESHOLD:
		snprintf(buf, sizeof(buf),
			 "badPwdCount is %d of lockoutThreshold %d, and lockout.reserve keeps the "
			 "last %d for a human",
			 f->bad_pwd_count, f->threshold, reserve);
		return buf;
	default:
		return "?";
	}
}

/* The client token account (the host's own principal and keytab) for realm. */
static struct config_account client_token(const struct config *cfg, char *buf, size_t size)
{
	const char *principal = cfg->client_token.principal;
	if (!principal) {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		snprintf(buf, size, "host/%s@%s", host, cfg->directory.realm);
		principal = buf;
	}
	return (struct config_account){
		.name = (char *)"system",
		.kind = ACCOUNT_KEYTAB,
		.principal = (char *)principal,
		.keytab = cfg->client_token.keytab,
	};
}

/* Look before you knock: what the directory on dc says of acct, read as the client
 * token account with its own keytab (through its own guard), never with acct's secret.
 * Returns 0 with *ret, -EHOSTUNREACH (dc did not answer; nothing of acct was sent), or
 * a final error in rep: without the facts, nothing is presented. */
static int look_before_knocking(const struct config *cfg, const struct config_account *acct,
				const struct dc *dc, time_t now, double deadline_ms,
				struct lockout_facts *ret, struct identity_report *rep)
{
	char buf[512];
	struct config_account host = client_token(cfg, buf, sizeof(buf));
	struct creds_ctx *c = NULL;
	krb5_ccache cc = NULL, kept = NULL;
	struct directory_conn *d = NULL;
	char *err = NULL;
	char fp[LOCKOUT_FP_LEN + 1];
	struct creds_result cres;
	struct lockout_state guard = { 0 };
	rep->looked = true;
	/* The lock always (one login at a time, one writer of the kept cache); the guard's
	 * state only when the host's secret is needed. */
	int gfd = lockout_lock(cfg->state_dir, host.name);
	int r = gfd < 0 ? gfd : 0;
	if (r < 0) {
		r = stop(rep, IDENTITY_STAGE_GUARD, r,
			 "the client token account's lockout state is unusable (%s)", strerror(-r));
		goto out;
	}
	if ((r = creds_open(cfg->directory.realm, dc, &c)) < 0)
		goto out;
	creds_set_deadline(c, deadline_ms);
	krb5_context k = creds_krb5(c);
	/* The workstation's own tickets are kept between runs in a root-only cache (the
	 * host's keytab is no less exposed), so that in steady state the check costs the
	 * KDC nothing: a TGT is requested only when it nears its end, the ldap/<dc> ticket
	 * once per DC. */
	char *path = NULL;
	if (asprintf(&path, "FILE:%s/client-token.ccache", cfg->state_dir) < 0 ||
	    krb5_cc_resolve(k, path, &kept) != 0)
		kept = NULL;
	free(path);
	if (kept && creds_cache_has(c, kept, host.principal, "krbtgt", NULL, now, 300)) {
		cc = kept;
		kept = NULL;
	} else {
		if ((r = creds_fingerprint(c, &host, fp, &cres)) < 0) {
			r = stop(rep, IDENTITY_STAGE_GUARD, r, "%s", cres.message);
			goto out;
		}
		int damaged = lockout_read(gfd, &guard);
		if (damaged == -EBADMSG) {
			/* As for any account: the host's secret held now is not sent until the
			 * host keytab changes; a new one is a new question. */
			int q = lockout_quarantine(cfg->state_dir, host.name, fp, now,
						   strerror(-damaged));
			r = stop(rep, IDENTITY_STAGE_GUARD, -EBADMSG,
				 "the client token account's lockout state was damaged: the host "
				 "keytab is not sent until it changes%s%s",
				 q < 0 ? " (and it cannot be replaced: " : "",
				 q < 0 ? strerror(-q) : "");
			goto out;
		}
		if (damaged < 0) {
			r = stop(rep, IDENTITY_STAGE_GUARD, damaged,
				 "the client token account's lockout state is unusable (%s)",
				 strerror(-damaged));
			goto out;
		}
		rep->verdict =
			lockout_decide(&guard, fp, now, cfg->lockout.backoff, &rep->hold_until);
		if (rep->verdict != LOCKOUT_ALLOW) {
			r = hold(rep, &guard);
			goto out;
		}
		r = login(cfg, &host, c, dc, now, fp, &guard, 0, &cc, rep);
		rep->verdict = LOCKOUT_ALLOW;
		if (r == 0 && kept && creds_cache_copy(c, cc, kept) == 0) {
			krb5_cc_destroy(k, cc);
			cc = kept;
			kept = NULL;
		}
	}
	if (r == 0 && !creds_cache_has(c, cc, host.principal, "ldap", dc->host, now, 60) &&
	    (r = creds_service_ticket(c, cc, "ldap", dc->host, &cres)) < 0 &&
	    cres.status != CREDS_UNREACHABLE)
		stop(rep, IDENTITY_STAGE_GUARD, r, "ldap/%s: %s", dc->host, cres.message);
	if (r == 0) {
		creds_gssapi_defaults(cfg->state_dir);
		char *full = NULL;
		if (krb5_cc_get_full_name(creds_krb5(c), cc, &full) == 0) {
			setenv("KRB5CCNAME", full, 1);
			krb5_free_string(creds_krb5(c), full);
		}
		char *name = strndupa(acct->principal, strcspn(acct->principal, "@"));
		r = directory_connect(dc, remaining_s(deadline_ms), &d, &err);
		if (r == 0)
			r = directory_bind_gssapi(d, creds_krb5(c), cc, &err);
		if (r == 0)
			r = directory_lockout_facts(d, cfg->directory.base, name, acct->principal,
						    ret, &err);
		if (r < 0 && r != -EHOSTUNREACH && r != -ETIMEDOUT && r != -ECONNREFUSED)
			stop(rep, IDENTITY_STAGE_GUARD, r, "%s", err ? err : strerror(-r));
	}
	if (d) {
		const struct directory_stats *st = directory_stats(d);
		rep->ldap_connections += st->connections;
		rep->ldap_binds += st->binds;
		rep->ldap_searches += st->searches;
	}
	if (r == -ETIMEDOUT || r == -ECONNREFUSED)
		r = -EHOSTUNREACH;
	if (r < 0 && r != -EHOSTUNREACH) {
		/* Say whose step it was: the daemon's own, not the installation account's. */
		char *msg = NULL;
		if (asprintf(&msg,
			     "cannot check %s in the directory before presenting its "
			     "secret, so nothing was sent: %s",
			     acct->name, rep->message) >= 0) {
			snprintf(rep->message, sizeof(rep->message), "%s", msg);
			free(msg);
		}
		if (rep->stage != IDENTITY_STAGE_LOCATE)
			rep->stage = IDENTITY_STAGE_GUARD;
	}
out:
	if (c) {
		rep->kdc_requests_precheck += creds_kdc_requests(c);
		/* The kept cache is closed, not destroyed; a private one is destroyed. */
		char type[16] = "";
		if (cc)
			snprintf(type, sizeof(type), "%s", krb5_cc_get_type(creds_krb5(c), cc));
		if (cc && strcmp(type, "FILE") == 0)
			krb5_cc_close(creds_krb5(c), cc);
		else if (cc)
			krb5_cc_destroy(creds_krb5(c), cc);
		if (kept)
			krb5_cc_close(creds_krb5(c), kept);
	}
	directory_close(d);
	free(err);
	creds_close(c);
	if (gfd >= 0)
		close(gfd);
	return r;
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
		return stop(rep, IDENTITY_STAGE_IMPERSONATE, r, "cannot set up Kerberos: %s",
			    strerror(-r));
	double attempt = t0 + cfg->directory.timeout * 1000.0;
	creds_set_deadline(id->creds, attempt < deadline_ms ? attempt : deadline_ms);

	r = creds_fingerprint(id->creds, acct, fp, &cres);
	if (r < 0) {
		rep->creds_status = cres.status;
		return stop(rep, IDENTITY_STAGE_SECRET, -ENOKEY, "%s", cres.message);
	}
	if (damaged) {
		/* Whatever the damaged file said is lost: the secret held now is never sent,
		 * a new one is a new question. */
		char *path = lockout_state_path(cfg->state_dir, acct->name);
		int q = lockout_quarantine(cfg->state_dir, acct->name, fp, now, strerror(-damaged));
		stop(rep, IDENTITY_STAGE_GUARD, -EBADMSG,
		     "the lockout guard's state %s is damaged (%s): sending nothing until the "
		     "keytab or password file changes%s%s",
		     path ? path : acct->name, strerror(-damaged),
		     q < 0 ? "; it cannot be replaced either: "
			   : " (the damaged file is kept as "
			     "state.damaged)",
		     q < 0 ? strerror(-q) : "");
		free(path);
		return -EBADMSG;
	}
	rep->verdict = lockout_decide(guard, fp, now, cfg->lockout.backoff, &rep->hold_until);
	/* On AD the directory can tell more than this host remembers: look before
	 * knocking, as the client token account, on this same DC. */
	bool look = lookup && cfg->directory.schema == CONFIG_SCHEMA_AD;
	bool unanswered =
		rep->verdict == LOCKOUT_HOLD_BACKOFF && guard->outcome == LOCKOUT_INFLIGHT;
	if (rep->verdict != LOCKOUT_ALLOW && !(look && unanswered))
		return hold(rep, guard);
	struct lockout_facts facts = { .kvno = -1 };
	if (look) {
		r = look_before_knocking(cfg, acct, dc, now, creds_deadline(id->creds), &facts,
					 rep);
		if (r < 0)
			return r;
		if (unanswered && !lockout_inflight_uncounted(guard, dc->host, &facts))
			return hold(rep, guard);
		enum lockout_check chk = lockout_check_facts(
			guard, fp, creds_keytab_kvno(id->creds), &facts, cfg->lockout.reserve);
		if (chk != LOCKOUT_CHECK_OK)
			return stop(rep, IDENTITY_STAGE_GUARD, -EPERM,
				    "%s says not to present the secret: %s", dc->host,
				    check_reason(chk, creds_keytab_kvno(id->creds), &facts,
						 cfg->lockout.reserve));
	}

	krb5_context k = creds_krb5(id->creds);
	r = login(cfg, acct, id->creds, dc, now, fp, guard, facts.pwd_last_set, &id->ccache, rep);
	rep->kdc_requests = rep->kdc_requests_precheck + creds_kdc_requests(id->creds);
	if (r < 0)
		return r;

	if (!lookup) { /* the client token account: a TGT is all a system run needs */
		rep->ms_impersonate = util_now_ms() - t0;
		if (!(id->dc = strdup(dc->host)) || !(id->dc_address = strdup(dc->address)))
			return -ENOMEM;
		return add_gid(id, 0);
	}
	r = creds_service_ticket(id->creds, id->ccache, "ldap", dc->host, &cres);
	rep->kdc_requests = rep->kdc_requests_precheck + creds_kdc_requests(id->creds);
	if (cres.status == CREDS_UNREACHABLE)
		return -EHOSTUNREACH;
	if (r < 0)
		return stop(rep, IDENTITY_STAGE_LOOKUP, r, "ldap/%s: %s", dc->host, cres.message);
	double t1 = util_now_ms();
	rep->ms_impersonate = t1 - t0;

	/* GSSAPI's own profile must not look the DC's name up again. */
	creds_gssapi_defaults(cfg->state_dir);
	/* Any default-credential path inside GSSAPI now finds this same account. */
	char *full = NULL;
	if (krb5_cc_get_full_name(k, id->ccache, &full) == 0) {
		setenv("KRB5CCNAME", full, 1);
		krb5_free_string(k, full);
	}

	struct directory_conn *d = NULL;
	char *err = NULL;
	struct directory_account a = { 0 };
	/* The directory knows the account by the principal's name part. */
	char *name = strndupa(acct->principal, strcspn(acct->principal, "@"));
	r = directory_connect(dc, remaining_s(creds_deadline(id->creds)), &d, &err);
	if (r == 0)
		r = directory_bind_gssapi(d, k, id->ccache, &err);
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
	rep->ms_lookup = util_now_ms() - t1;
	if (r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -ECONNREFUSED) {
		free(err);
		directory_account_clear(&a);
		return -EHOSTUNREACH;
	}
	if (r < 0) {
		stop(rep, IDENTITY_STAGE_LOOKUP, r, "%s", err ? err : strerror(-r));
		free(err);
		directory_account_clear(&a);
		return r;
	}
	free(err);

	char why[256];
	const char *primary = NULL; /* the primary group's name, when the walk found it */
	for (size_t i = 0; !primary && i < id->named.n; i++)
		if (id->named.items[i].gid == a.gid)
			primary = id->named.items[i].name;
	if (!id_allowed(cfg, false, a.uid, name, why, sizeof(why)) ||
	    !id_allowed(cfg, true, a.gid, primary, why, sizeof(why))) {
		directory_account_clear(&a);
		return stop(rep, IDENTITY_STAGE_LOOKUP, -EPERM, "%s in the directory: %s",
			    acct->principal, why);
	}
	id->uid = a.uid;
	id->gid = a.gid;
	id->home = a.home;
	id->shell = a.shell;
	a.home = a.shell = NULL;
	directory_account_clear(&a);
	r = add_gid(id, id->gid);
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
		return stop(rep, IDENTITY_STAGE_CONFIG, -ENOENT,
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
		r = stop(rep, IDENTITY_STAGE_CONFIG, -EINVAL, "no directory.realm configured");
		goto done;
	}

	/* The guard's lock is held across every request for this account, so that two
	 * runs never both send a secret the other has just seen rejected. */
	int guard_fd = lockout_lock(cfg->state_dir, acct->name);
	if (guard_fd < 0) {
		r = stop(rep, IDENTITY_STAGE_GUARD, guard_fd,
			 "cannot open the lockout guard's state in %s: %s", cfg->state_dir,
			 strerror(-guard_fd));
		goto done;
	}
	struct lockout_state guard = { 0 };
	int damaged = lockout_read(guard_fd, &guard);
	if (damaged < 0 && damaged != -EBADMSG) {
		r = stop(rep, IDENTITY_STAGE_GUARD, damaged,
			 "the lockout guard's state for \"%s\" is unreadable (%s): sending nothing",
			 acct->name, strerror(-damaged));
		close(guard_fd);
		goto done;
	}

	struct dc_list dcs = { 0 };
	r = dcloc_candidates(cfg, host_seed(), &dcs);
	char *affinity = NULL;
	if (r == 0 && dcloc_affinity_load(cfg->state_dir, &affinity) == 0)
		dcloc_prefer(&dcs, affinity);
	rep->ms_locate = util_now_ms() - t0;
	if (r == 0 && dcs.n == 0)
		r = stop(rep, IDENTITY_STAGE_LOCATE, -EHOSTUNREACH, "no domain controller found");

	/* Every DC gets at most directory.timeout, and the whole acquisition no more than
	 * all of them together. */
	double deadline = t0 + cfg->directory.timeout * 1000.0 * (double)(dcs.n ? dcs.n : 1);
	for (size_t i = 0; r == 0 && i < dcs.n; i++) {
		r = acquire_on(cfg, acct, lookup, &dcs.items[i], now, deadline, damaged, &guard, id,
			       rep);
		if (r == -EHOSTUNREACH) {
			note_dc(rep, dcs.items[i].host, "no answer");
			rep->dcs_unreachable++;
			reset_attempt(id);
			r = i + 1 < dcs.n
				    ? 0
				    : stop(rep, IDENTITY_STAGE_LOCATE, -EHOSTUNREACH,
					   "no domain controller answered (%s)", rep->dcs_tried);
			continue;
		}
		note_dc(rep, dcs.items[i].host, r == -ETIMEDOUT ? "no answer to the secret" : NULL);
		if (r == 0) {
			if (!affinity || strcmp(affinity, dcs.items[i].host) != 0)
				dcloc_affinity_save(cfg->state_dir, dcs.items[i].host);
			rep->stage = IDENTITY_STAGE_DONE;
		}
		break;
	}
	rep->guard = guard;
	free(affinity);
	dcloc_list_free(&dcs);
	close(guard_fd);
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

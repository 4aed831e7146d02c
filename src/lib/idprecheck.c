/* SPDX-License-Identifier: MIT */
/* Look before you knock (AD): the account's lockout facts, read on the pinned DC as the
 * client token account with the host's own keytab, before any secret of the account. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advert/creds.h"
#include "advert/directory.h"
#include "advert/identity.h"
#include "advert/lockout.h"
#include "advert/util.h"
#include "identity-internal.h"

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

/* The client token account's TGT in *cc: the kept one while it has 300 s left, else a
 * new one through the host's own guard (gfd is its lock), kept in *kept when it can be.
 * Returns 0, -EHOSTUNREACH or a final error in rep. */
static int client_token_tgt(const struct config *cfg, const struct config_account *host,
			    struct creds_ctx *c, const struct dc *dc, time_t now, int gfd,
			    krb5_ccache *kept, krb5_ccache *cc, struct identity_report *rep)
{
	char fp[LOCKOUT_FP_LEN + 1];
	struct creds_result cres;
	struct lockout_state guard = { 0 };
	if (*kept && creds_cache_has(c, *kept, host->principal, "krbtgt", NULL, now, 300)) {
		*cc = *kept;
		*kept = NULL;
		return 0;
	}
	int r = creds_fingerprint(c, host, fp, &cres);
	if (r < 0)
		return identity_stop(rep, IDENTITY_STAGE_GUARD, r, "%s", cres.why.text);
	int damaged = lockout_read(gfd, &guard);
	if (damaged == -EBADMSG) {
		/* As for any account: the host's secret held now is not sent until the host
		 * keytab changes; a new one is a new question. */
		int q = lockout_quarantine(cfg->state_dir, host->name, fp, now, strerror(-damaged));
		return identity_stop(rep, IDENTITY_STAGE_GUARD, -EBADMSG,
				     "the client token account's lockout state was damaged: the "
				     "host keytab is not sent until it changes%s%s%s",
				     q < 0 ? " (and it cannot be replaced: " : "",
				     q < 0 ? strerror(-q) : "", q < 0 ? ")" : "");
	}
	if (damaged < 0)
		return identity_stop(rep, IDENTITY_STAGE_GUARD, damaged,
				     "the client token account's lockout state is unusable (%s)",
				     strerror(-damaged));
	rep->verdict = lockout_decide(&guard, fp, now, cfg->lockout.backoff, &rep->hold_until);
	if (rep->verdict != LOCKOUT_ALLOW)
		return identity_hold(rep, &guard);
	r = identity_login(cfg, host, c, dc, now, fp, &guard, 0, cc, rep);
	rep->verdict = LOCKOUT_ALLOW;
	if (r == 0 && *kept && creds_cache_copy(c, *cc, *kept) == 0) {
		krb5_cc_destroy(creds_krb5(c), *cc);
		*cc = *kept;
		*kept = NULL;
	}
	return r;
}

int identity_host_directory(const struct config *cfg, const struct dc *dc, time_t now,
			    double deadline_ms, struct directory_conn **ret,
			    struct identity_report *rep)
{
	*ret = NULL;
	char buf[512];
	struct config_account host = client_token(cfg, buf, sizeof(buf));
	struct creds_ctx *c = NULL;
	krb5_ccache cc = NULL, kept = NULL;
	struct directory_conn *d = NULL;
	struct why err = { "" };
	struct creds_result cres;
	/* The lock always (one login at a time, one writer of the kept cache); the guard's
	 * state only when the host's secret is needed. */
	int gfd = lockout_lock(cfg->state_dir, host.name);
	int r = gfd < 0 ? gfd : 0;
	if (r < 0) {
		r = identity_stop(rep, IDENTITY_STAGE_GUARD, r,
				  "the client token account's lockout state is unusable (%s)",
				  strerror(-r));
		goto out;
	}
	if ((r = creds_open(cfg->directory.realm, dc, &c)) < 0)
		goto out;
	creds_set_deadline(c, deadline_ms);
	krb5_context k = creds_krb5(c);
	/* The workstation's own tickets are kept between uses in a root-only cache (the
	 * host's keytab is no less exposed), so that in steady state a look costs the KDC
	 * nothing: a TGT is requested only when it nears its end, the ldap/<dc> ticket
	 * once per DC. */
	char *path = NULL;
	if (asprintf(&path, "FILE:%s/client-token.ccache", cfg->state_dir) < 0 ||
	    krb5_cc_resolve(k, path, &kept) != 0)
		kept = NULL;
	free(path);
	r = client_token_tgt(cfg, &host, c, dc, now, gfd, &kept, &cc, rep);
	if (r == 0 && !creds_cache_has(c, cc, host.principal, "ldap", dc->host, now, 60) &&
	    (r = creds_service_ticket(c, cc, "ldap", dc->host, &cres)) < 0 &&
	    cres.status != CREDS_UNREACHABLE)
		identity_stop(rep, IDENTITY_STAGE_GUARD, r, "ldap/%s: %s", dc->host, cres.why.text);
	if (r == 0) {
		identity_use_ccache(cfg, c, cc);
		r = directory_connect(dc, identity_remaining_s(deadline_ms), &d, &err);
		if (r == 0)
			r = directory_bind_gssapi(d, creds_krb5(c), cc, &err);
		if (d) {
			const struct directory_stats *st = directory_stats(d);
			rep->ldap_connections += st->connections;
			rep->ldap_binds += st->binds;
		}
		if (r < 0 && r != -EHOSTUNREACH && r != -ETIMEDOUT && r != -ECONNREFUSED)
			identity_stop(rep, IDENTITY_STAGE_GUARD, r, "%s",
				      err.text[0] ? err.text : strerror(-r));
	}
	if (r == -ETIMEDOUT || r == -ECONNREFUSED)
		r = -EHOSTUNREACH;
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
	creds_close(c);
	if (gfd >= 0)
		close(gfd);
	if (r < 0) {
		directory_close(d);
		return r;
	}
	*ret = d;
	return 0;
}

/* Look before you knock: what the directory on dc says of acct, read as the client
 * token account with its own keytab (through its own guard), never with acct's secret.
 * Returns 0 with *ret, -EHOSTUNREACH (dc did not answer; nothing of acct was sent), or
 * a final error in rep: without the facts, nothing is presented. */
int identity_look_before_knocking(const struct config *cfg, const struct config_account *acct,
				  const struct dc *dc, time_t now, double deadline_ms,
				  struct lockout_facts *ret, struct identity_report *rep)
{
	struct directory_conn *d = NULL;
	struct why err = { "" };
	rep->looked = true;
	int r = identity_host_directory(cfg, dc, now, deadline_ms, &d, rep);
	if (r == 0) {
		char *name = strndupa(acct->principal, strcspn(acct->principal, "@"));
		r = directory_lockout_facts(d, cfg->directory.base, name, acct->principal, ret,
					    &err);
		rep->ldap_searches += directory_stats(d)->searches;
		if (r < 0 && r != -EHOSTUNREACH)
			identity_stop(rep, IDENTITY_STAGE_GUARD, r, "%s",
				      err.text[0] ? err.text : strerror(-r));
	}
	directory_close(d);
	if (r < 0 && r != -EHOSTUNREACH) {
		/* Say whose step it was: the daemon's own, not the installation account's. */
		why_prefix(&rep->why, 0,
			   "cannot check %s in the directory before presenting its secret, so "
			   "nothing was sent",
			   acct->name);
		if (rep->stage != IDENTITY_STAGE_LOCATE)
			rep->stage = IDENTITY_STAGE_GUARD;
	}
	return r;
}

int identity_may_knock(const struct config *cfg, const struct config_account *acct, bool lookup,
		       const struct dc *dc, time_t now, int damaged, struct lockout_state *guard,
		       struct creds_ctx *c, char fp[LOCKOUT_FP_LEN + 1],
		       struct lockout_facts *facts, struct identity_report *rep)
{
	struct creds_result cres;
	int r = creds_fingerprint(c, acct, fp, &cres);
	if (r < 0) {
		rep->creds_status = cres.status;
		return identity_stop(rep, IDENTITY_STAGE_SECRET, -ENOKEY, "%s", cres.why.text);
	}
	if (damaged) {
		/* Whatever the damaged file said is lost: the secret held now is never sent,
		 * a new one is a new question. */
		char *path = lockout_state_path(cfg->state_dir, acct->name);
		int q = lockout_quarantine(cfg->state_dir, acct->name, fp, now, strerror(-damaged));
		identity_stop(
			rep, IDENTITY_STAGE_GUARD, -EBADMSG,
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
		return identity_hold(rep, guard);
	if (look) {
		r = identity_look_before_knocking(cfg, acct, dc, now, creds_deadline(c), facts,
						  rep);
		if (r < 0)
			return r;
		if (unanswered && !lockout_inflight_uncounted(guard, dc->host, facts))
			return identity_hold(rep, guard);
		enum lockout_check chk = lockout_check_facts(guard, fp, creds_keytab_kvno(c), facts,
							     cfg->lockout.reserve);
		if (chk != LOCKOUT_CHECK_OK)
			return identity_stop(rep, IDENTITY_STAGE_GUARD, -EPERM,
					     "%s says not to present the secret: %s", dc->host,
					     check_reason(chk, creds_keytab_kvno(c), facts,
							  cfg->lockout.reserve));
	}

	return 0;
}

/* SPDX-License-Identifier: MIT */
/* The guarded knock: the installation account's secret goes to the pinned DC only after
 * the guard has durably recorded that it is going, and the answer is recorded at once. */
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

int identity_hold(struct identity_report *rep, const struct lockout_state *guard)
{
	if (rep->verdict == LOCKOUT_HOLD_REJECTED && guard->outcome == LOCKOUT_DAMAGED)
		return identity_stop(
			rep, IDENTITY_STAGE_GUARD, -EPERM,
			"the lockout guard's state was found damaged (%s): this secret is "
			"not sent until the keytab or password file changes",
			guard->message);
	if (rep->verdict == LOCKOUT_HOLD_REJECTED)
		return identity_stop(
			rep, IDENTITY_STAGE_GUARD, -EPERM,
			"the KDC on %s rejected this secret (%s): it will not be sent again "
			"until the keytab or password file changes",
			guard->dc, guard->message);
	if (guard->outcome == LOCKOUT_INFLIGHT)
		return identity_stop(
			rep, IDENTITY_STAGE_GUARD, -EPERM,
			"this secret was sent to %s and no answer was recorded, so a failed "
			"logon may have been counted: it is not sent again until the backoff "
			"ends or the keytab or password file changes",
			guard->dc);
	return identity_stop(
		rep, IDENTITY_STAGE_GUARD, -EPERM,
		"the account was %s on %s (%s): leaving it alone until the backoff ends",
		guard->outcome == LOCKOUT_REVOKED ? "locked out or disabled" : "unusable",
		guard->dc, guard->message);
}

/* The guarded AS exchange with a secret the guard allowed: write ahead, request on dc
 * alone, record the answer (with the pwdLastSet it was accepted under, when known).
 * *ret_ccache gets the TGT. Returns 0, -EHOSTUNREACH (nothing carrying the secret was
 * sent) or a final error in rep. */
int identity_login(const struct config *cfg, const struct config_account *acct, struct creds_ctx *c,
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
		return identity_stop(rep, IDENTITY_STAGE_GUARD, r, "%s", cres.why.text);
	if (cres.status == CREDS_NO_REPLY)
		return identity_stop(
			rep, IDENTITY_STAGE_LOCATE, -ETIMEDOUT,
			"%s got the secret and gave no answer: it may have counted a failed "
			"logon, so the secret goes to no other DC (the lockout guard holds "
			"it for the backoff, or until the keytab or password file changes)",
			dc->host);

	/* The answer replaces the in-flight record, before anything else happens. */
	enum lockout_outcome outcome = creds_lockout_outcome(cres.status);
	if (outcome != LOCKOUT_NONE || guard->outcome == LOCKOUT_INFLIGHT) {
		if (outcome != LOCKOUT_NONE)
			lockout_record(guard, fp, outcome, now, dc->host, cres.why.text);
		else if (cres.status == CREDS_CLOCK_SKEW)
			*guard = before; /* answered: not a failed logon, nothing to keep */
		/* Any other answer (garbled, an error we do not know) leaves it in flight: the
		 * KDC got the secret, and may have counted it. */
		if (outcome == LOCKOUT_OK && accepted_under)
			guard->accepted_under = accepted_under;
		int w = lockout_write(cfg->state_dir, acct->name, guard);
		if (w < 0 && outcome != LOCKOUT_OK)
			return identity_stop(rep, IDENTITY_STAGE_IMPERSONATE, w,
					     "%s; and the lockout guard cannot record it: %s",
					     cres.why.text, strerror(-w));
	}
	if (r < 0)
		return identity_stop(rep, IDENTITY_STAGE_IMPERSONATE, r, "%s: %s",
				     creds_status_name(cres.status), cres.why.text);
	return 0;
}

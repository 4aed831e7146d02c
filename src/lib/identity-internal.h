/* SPDX-License-Identifier: MIT */
/* What identity.c shares with idknock.c (the guarded login) and idprecheck.c (look
 * before you knock). */
#ifndef ADVERT_IDENTITY_INTERNAL_H
#define ADVERT_IDENTITY_INTERNAL_H

#include <krb5.h>
#include <stdbool.h>
#include <time.h>

#include "advert/creds.h"
#include "advert/dcloc.h"
#include "advert/identity.h"
#include "advert/lockout.h"

/* Whole seconds left until deadline_ms, at least 1 (libldap counts in seconds). */
int identity_remaining_s(double deadline_ms);
/* Ends an acquisition at stage with the formatted reason in rep; returns r. */
int identity_stop(struct identity_report *rep, enum identity_stage stage, int r, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));
/* Appends "host (what)" to rep's list of DCs tried. */
void identity_note_dc(struct identity_report *rep, const char *host, const char *what);
/* GSSAPI (the LDAP bind) uses cc and this process's pinned profile, nothing else. */
void identity_use_ccache(const struct config *cfg, struct creds_ctx *c, krb5_ccache cc);
/* The reason the guard holds the secret (rep->verdict, guard), as a final error. */
int identity_hold(struct identity_report *rep, const struct lockout_state *guard);
/* The guarded AS exchange with a secret the guard allowed: write ahead, request on dc
 * alone, record the answer (with the pwdLastSet it was accepted under, when known).
 * *ret_ccache gets the TGT. Returns 0, -EHOSTUNREACH (nothing carrying the secret was
 * sent) or a final error in rep. */
int identity_login(const struct config *cfg, const struct config_account *acct, struct creds_ctx *c,
		   const struct dc *dc, time_t now, const char *fp, struct lockout_state *guard,
		   long long accepted_under, krb5_ccache *ret_ccache, struct identity_report *rep);
/* Look before you knock: what the directory on dc says of acct, read as the client
 * token account with its own keytab (through its own guard), never with acct's secret.
 * Returns 0 with *ret, -EHOSTUNREACH (dc did not answer; nothing of acct was sent), or
 * a final error in rep: without the facts, nothing is presented. */
int identity_look_before_knocking(const struct config *cfg, const struct config_account *acct,
				  const struct dc *dc, time_t now, double deadline_ms,
				  struct lockout_facts *ret, struct identity_report *rep);
/* May acct's secret go to dc now? Fingerprints it (fp), quarantines a damaged guard
 * state, asks the guard and, on AD, the directory (facts, read as the client token
 * account). Returns 0 to knock, -EHOSTUNREACH (dc did not answer) or a final error in
 * rep. */
int identity_may_knock(const struct config *cfg, const struct config_account *acct, bool lookup,
		       const struct dc *dc, time_t now, int damaged, struct lockout_state *guard,
		       struct creds_ctx *c, char fp[LOCKOUT_FP_LEN + 1],
		       struct lockout_facts *facts, struct identity_report *rep);

#endif

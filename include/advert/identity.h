/* SPDX-License-Identifier: MIT */
/* Impersonate, look up, all on one DC: the installation account's credentials through
 * the lockout guard, then its uid, gid and every group from the same DC's directory.
 * The result holds the account's credentials until identity_free() — the revert. Runs
 * in a per-run child process, never in the daemon itself. */
#ifndef ADVERT_IDENTITY_H
#define ADVERT_IDENTITY_H

#include <krb5/krb5.h>
#include <stdbool.h>
#include <sys/types.h>

#include "advert/config.h"
#include "advert/creds.h"
#include "advert/directory.h"

struct identity {
	char *account;   /* the name in advertd.conf */
	char *principal; /* NULL for a local account */
	char *dc;        /* the DC everything came from; NULL for a local account */
	char *dc_address;
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* every gid for setgroups(), the primary one included */
	size_t n_groups;
	struct directory_groups named; /* the directory's groups with their names */
	char *home;
	char *shell;
	/* The account's credentials: a MEMORY: ccache in a context pinned to dc. */
	struct creds_ctx *creds;
	krb5_ccache ccache;
};

/* Where an acquisition stopped, for status messages and exit codes. */
enum identity_stage {
	IDENTITY_STAGE_CONFIG,      /* no such account, or its configuration */
	IDENTITY_STAGE_SECRET,      /* secret missing/unreadable: nothing was sent */
	IDENTITY_STAGE_GUARD,       /* the lockout guard held: nothing was sent */
	IDENTITY_STAGE_LOCATE,      /* no DC answered */
	IDENTITY_STAGE_IMPERSONATE, /* the KDC said no */
	IDENTITY_STAGE_LOOKUP,      /* the directory did not give a usable answer */
	IDENTITY_STAGE_DONE,
};

struct identity_report {
	enum identity_stage stage;
	enum creds_status creds_status;
	enum lockout_verdict verdict;
	time_t hold_until;   /* for LOCKOUT_HOLD_BACKOFF */
	struct why why;      /* where it stopped, and why */
	char dcs_tried[512]; /* "dc1 (no answer), dc2" */
	unsigned dcs_unreachable;
	/* What this acquisition cost, over every DC it tried (a request a DC got before it
	 * stopped answering counts too). */
	unsigned kdc_requests, ldap_connections, ldap_binds, ldap_searches;
	unsigned kdc_requests_earlier;  /* of those, to the DCs tried before the last */
	bool looked;                    /* the directory was checked before knocking (AD) */
	unsigned kdc_requests_precheck; /* of those, the client token account's (AD) */
	double ms_locate, ms_impersonate, ms_lookup, ms_total;
	struct lockout_state guard; /* the guard's state after the attempt */
};

/* Acquires the identity of the account named account; "system" is root holding the
 * client token account's ticket (none when no realm is configured). now is the wall
 * clock for the guard. Returns 0 with *ret set, or a negative errno with rep saying where and why. */
int identity_acquire(const struct config *cfg, const char *account, time_t now,
		     struct identity **ret, struct identity_report *rep)
	__attribute__((nonnull, warn_unused_result));

/* Initialises, once, what every run would otherwise initialise again in its fresh
 * process: the krb5 profile, GSSAPI's mechanism list, Cyrus SASL's plugins, libldap.
 * The daemon calls it at start-up; its run processes inherit the result. No request is
 * sent and no credential is touched. */
void identity_prewarm(const struct config *cfg) __attribute__((nonnull));

/* The daemon's own connection to dc's directory, as the client token account (the
 * host's principal and keytab): its TGT kept in state_dir between uses and renewed
 * through its own guard only when it nears its end, ldap/<dc> from dc alone, a GSSAPI
 * bind with integrity protection. Never an installation account's secret. Returns 0
 * with *ret (the caller closes it), -EHOSTUNREACH (dc did not answer), or a final error
 * in rep. */
int identity_host_directory(const struct config *cfg, const struct dc *dc, time_t now,
			    double deadline_ms, struct directory_conn **ret,
			    struct identity_report *rep)
	__attribute__((nonnull, warn_unused_result));

/* The revert: destroys the credentials and frees everything. Accepts NULL. */
void identity_free(struct identity *id);

const char *identity_stage_name(enum identity_stage s);

#endif

/* SPDX-License-Identifier: MIT */
/* Credentials of an installation account, obtained from exactly one DC: a krb5 context
 * pinned in-process to that DC (kdc, primary_kdc, master_kdc, admin_server; no DNS), the
 * AS exchange from a keytab or password file into a caller-named MEMORY: ccache, the
 * ldap/<dc> service ticket, and the classification of what the KDC said. Knows nothing
 * of LDAP. */
#ifndef ADVERT_CREDS_H
#define ADVERT_CREDS_H

#include <krb5/krb5.h>
#include <stdbool.h>
#include <time.h>

#include "advert/config.h"
#include "advert/dcloc.h"
#include "advert/lockout.h"
#include "advert/util.h"

/* What came of a request, in the terms an admin and the lockout guard need. */
enum creds_status {
	CREDS_OK,
	CREDS_NO_SECRET,        /* secret missing, unreadable or insecure: nothing was sent */
	CREDS_REJECTED,         /* wrong password or stale keytab */
	CREDS_REVOKED,          /* account locked out or disabled */
	CREDS_PASSWORD_EXPIRED, /* KRB5KDC_ERR_KEY_EXP */
	CREDS_ACCOUNT_EXPIRED,  /* KRB5KDC_ERR_NAME_EXP */
	CREDS_UNKNOWN_PRINCIPAL,
	CREDS_CLOCK_SKEW,
	CREDS_UNREACHABLE,  /* the DC did not answer before the secret went: try the next one */
	CREDS_NO_REPLY,     /* the secret went and no answer came: it may have been counted,
			    * so it goes to no other DC */
	CREDS_NOT_RECORDED, /* the guard could not record the attempt first: nothing was sent */
	CREDS_ERROR,        /* anything else */
};

/* Called just before a request carrying the secret leaves the process; a negative
 * return stops it (CREDS_NOT_RECORDED), nothing is sent. */
typedef int (*creds_before_secret_fn)(void *data);

struct creds_result {
	enum creds_status status;
	krb5_error_code code; /* 0 when the status needs none */
	struct why why;       /* krb5's own text, or ours */
};

/* A krb5 context pinned to one DC. */
struct creds_ctx;

/* Creates a context for realm whose every KDC lookup answers dc. advertd carries the
 * requests itself, one TCP connection each to dc's address and kdc_port, never UDP,
 * never another address, and each bounded by the context's deadline.
 * Settings other than the pin come from the normal profile (KRB5_CONFIG or
 * /etc/krb5.conf, if any). Returns 0 or -errno. */
int creds_open(const char *realm, const struct dc *dc, struct creds_ctx **ret)
	__attribute__((nonnull, warn_unused_result));
void creds_close(struct creds_ctx *c);
krb5_context creds_krb5(const struct creds_ctx *c) __attribute__((nonnull));

/* Sets the absolute deadline (CLOCK_MONOTONIC, in ms) every later KDC exchange must
 * finish by; 0 means none. */
void creds_set_deadline(struct creds_ctx *c, double deadline_ms) __attribute__((nonnull));
double creds_deadline(const struct creds_ctx *c) __attribute__((nonnull));

/* Requests sent to the KDC through this context so far. */
unsigned creds_kdc_requests(const struct creds_ctx *c) __attribute__((nonnull));

/* Whether the secret file at path (what: "keytab", "password file") is fit to use: there,
 * root's alone (trust), and readable by no one else. Returns 0, or -errno with why set. */
int creds_secret_check(const char *path, const char *what, struct why *why)
	__attribute__((nonnull));

/* The fingerprint (hex SHA-256) of the account's secret as it is now: its keytab's keys
 * for its principal, or its password file's content. Checks the file is root-owned and
 * not readable by group or others first. Returns 0, or -errno with res->status =
 * CREDS_NO_SECRET and a why naming the file. Sends nothing. */
int creds_fingerprint(struct creds_ctx *c, const struct config_account *acct,
		      char fp[LOCKOUT_FP_LEN + 1], struct creds_result *res)
	__attribute__((nonnull, warn_unused_result));

/* The AS exchange for acct's principal with its own secret, into ccache (initialised to
 * that principal). The secret is sent at most once per context: before the one request
 * that carries it, before(data) is called (NULL: none), and a second such request is
 * refused. Returns 0 when res->status is CREDS_OK, else -EACCES (the KDC said no: see
 * res), -EHOSTUNREACH (no answer before the secret went), -ETIMEDOUT (CREDS_NO_REPLY),
 * -ENOLCK (CREDS_NOT_RECORDED) or another -errno. */
int creds_acquire(struct creds_ctx *c, const struct config_account *acct, krb5_ccache ccache,
		  creds_before_secret_fn before, void *data, struct creds_result *res)
	__attribute__((nonnull(1, 2, 3, 6), warn_unused_result));

/* The highest key version of the account's keys in the keytab as last fingerprinted,
 * or -1 (a password, or nothing read yet). */
int creds_keytab_kvno(const struct creds_ctx *c) __attribute__((nonnull));

/* Gets service/<host>@realm with the TGT in ccache and stores it there. */
int creds_service_ticket(struct creds_ctx *c, krb5_ccache ccache, const char *service,
			 const char *host, struct creds_result *res)
	__attribute__((nonnull, warn_unused_result));

/* Whether ccache holds, for principal, a ticket for service/host@realm (service
 * "krbtgt" and host NULL: the TGT) still valid min_left seconds after now. */
bool creds_cache_has(struct creds_ctx *c, krb5_ccache ccache, const char *principal,
		     const char *service, const char *host, time_t now, int min_left)
	__attribute__((nonnull(1, 2, 3, 4)));

/* Replaces the content of to with every ticket in from (to is initialised to from's
 * principal). Returns 0 or -EIO. */
int creds_cache_copy(struct creds_ctx *c, krb5_ccache from, krb5_ccache to)
	__attribute__((nonnull));

/* GSSAPI (used by the LDAP bind) makes its own krb5 context from the default profile,
 * which may canonicalise the DC's host name through DNS: a second lookup behind our
 * back, slow without DNS and able to change the target. Puts a profile that turns this
 * off (dir/gssapi-krb5.conf, written once) first in this process's KRB5_CONFIG, ahead
 * of the normal one. Idempotent; returns 0 or -errno (the bind then still works where
 * DNS answers). */
int creds_gssapi_defaults(const char *dir) __attribute__((nonnull));

/* Reads the normal krb5 profile once for this process (and its children). */
void creds_prewarm(void);

/* The guard's view of a status. */
enum lockout_outcome creds_lockout_outcome(enum creds_status s);

const char *creds_status_name(enum creds_status s);

#endif

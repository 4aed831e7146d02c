/* SPDX-License-Identifier: MIT */
/* Installation-account credentials from one pinned DC. The pin is a profile vtable that
 * answers the KDC lookups itself and defers everything else to the normal profile, so
 * no temporary krb5.conf can vanish under the context and MIT's "retry with the primary
 * KDC" lands on the same DC. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <openssl/evp.h>
#include <profile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "advert/creds.h"
#include "advert/kdcmsg.h"
#include "advert/textrec.h"
#include "advert/trust.h"
#include "advert/util.h"
#include "creds-internal.h"

static char **one_value(const char *v)
{
	char **vals = calloc(2, sizeof(*vals));
	if (vals && !(vals[0] = strdup(v))) {
		free(vals);
		return NULL;
	}
	return vals;
}

static long pin_get_values(void *cbdata, const char *const *names, char ***ret_values)
{
	const struct pin *p = cbdata;
	const char *v = NULL;
	size_t depth = 0;
	while (names[depth])
		depth++;

	/* Every realm's KDC is the pinned DC: a referral to another realm must not escape
	 * the pin either. */
	if (depth == 3 && strcmp(names[0], "realms") == 0 &&
	    (strcmp(names[2], "kdc") == 0 || strcmp(names[2], "primary_kdc") == 0 ||
	     strcmp(names[2], "master_kdc") == 0 || strcmp(names[2], "admin_server") == 0 ||
	     strcmp(names[2], "kpasswd_server") == 0))
		v = p->kdc;
	else if (depth == 2 && strcmp(names[0], "libdefaults") == 0) {
		static const char *const off[] = { "dns_lookup_kdc", "dns_lookup_realm",
						   "dns_uri_lookup", "dns_canonicalize_hostname",
						   "rdns",           NULL };
		for (const char *const *o = off; *o && !v; o++)
			if (strcmp(names[1], *o) == 0)
				v = "false";
		if (strcmp(names[1], "default_realm") == 0)
			v = p->realm;
		else if (strcmp(names[1], "udp_preference_limit") == 0)
			v = "1"; /* TCP: one request is one request, no UDP resends */
	}
	if (v) {
		*ret_values = one_value(v);
		return *ret_values ? 0 : ENOMEM;
	}
	if (!p->base)
		return PROF_NO_RELATION;
	return profile_get_values(p->base, names, ret_values);
}

static void pin_free_values(void *cbdata, char **values)
{
	profile_free_list(values);
}

void creds_set_deadline(struct creds_ctx *c, double deadline_ms)
{
	c->deadline_ms = deadline_ms;
}

double creds_deadline(const struct creds_ctx *c)
{
	return c->deadline_ms;
}

int creds_keytab_kvno(const struct creds_ctx *c)
{
	return c->keytab_kvno;
}

/* The normal profile, read once per process. */
static profile_t base_profile(void)
{
	static profile_t base;
	static bool tried;
	if (!tried) {
		tried = true;
		krb5_context k;
		if (krb5_init_context(&k) == 0) {
			if (krb5_get_profile(k, &base) != 0)
				base = NULL;
			krb5_free_context(k);
		}
	}
	return base;
}

void creds_prewarm(void)
{
	base_profile();
}

int creds_open(const char *realm, const struct dc *dc, struct creds_ctx **ret)
{
	/* sssd's locator plugin is asked before the profile and could move the pin. */
	setenv("SSSD_KRB5_LOCATOR_DISABLE", "1", 1);

	struct creds_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->keytab_kvno = -1;
	char port[8];
	snprintf(port, sizeof(port), "%u", dc->kdc_port);
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM },
			*ai = NULL;
	if (getaddrinfo(dc->address, port, &hints, &ai) != 0 ||
	    ai->ai_addrlen > sizeof(c->kdc_addr)) {
		if (ai)
			freeaddrinfo(ai);
		free(c);
		return -EINVAL;
	}
	memcpy(&c->kdc_addr, ai->ai_addr, ai->ai_addrlen);
	c->kdc_addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	c->pin.base = base_profile();
	bool v6 = strchr(dc->address, ':') != NULL;
	if (!(c->pin.realm = strdup(realm)) ||
	    asprintf(&c->pin.kdc, v6 ? "[%s]:%u" : "%s:%u", dc->address, dc->kdc_port) < 0) {
		c->pin.kdc = NULL;
		creds_close(c);
		return -ENOMEM;
	}

	struct profile_vtable vt = {
		.minor_ver = 1,
		.get_values = pin_get_values,
		.free_values = pin_free_values,
	};
	profile_t prof;
	if (profile_init_vtable(&vt, &c->pin, &prof) != 0) {
		creds_close(c);
		return -ENOMEM;
	}
	krb5_error_code k = krb5_init_context_profile(prof, 0, &c->ctx);
	profile_release(prof);
	if (k) {
		c->ctx = NULL;
		creds_close(c);
		return -EINVAL;
	}
	krb5_set_kdc_send_hook(c->ctx, creds_kdc_send, c);
	*ret = c;
	return 0;
}

void creds_close(struct creds_ctx *c)
{
	if (!c)
		return;
	if (c->keytab)
		krb5_kt_close(c->ctx, c->keytab);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	if (c->ctx)
		krb5_free_context(c->ctx);
	free(c->pin.realm);
	free(c->pin.kdc);
	free(c);
}

krb5_context creds_krb5(const struct creds_ctx *c)
{
	return c->ctx;
}

unsigned creds_kdc_requests(const struct creds_ctx *c)
{
	return c->kdc_requests;
}

int creds_res(struct creds_result *res, enum creds_status status, krb5_error_code code, int ret,
	      const char *fmt, ...)
{
	res->status = status;
	res->code = code;
	va_list ap;
	va_start(ap, fmt);
	why_vset(&res->why, 0, fmt, ap);
	va_end(ap);
	return ret;
}

static enum creds_status classify(krb5_error_code code)
{
	switch (code) {
	case 0:
		return CREDS_OK;
	case KRB5KDC_ERR_PREAUTH_FAILED:
	case KRB5KRB_AP_ERR_BAD_INTEGRITY:
		return CREDS_REJECTED;
	case KRB5KDC_ERR_CLIENT_REVOKED:
		return CREDS_REVOKED;
	case KRB5KDC_ERR_KEY_EXP:
		return CREDS_PASSWORD_EXPIRED;
	case KRB5KDC_ERR_NAME_EXP:
		return CREDS_ACCOUNT_EXPIRED;
	case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
		return CREDS_UNKNOWN_PRINCIPAL;
	case KRB5KRB_AP_ERR_SKEW:
		return CREDS_CLOCK_SKEW;
	case KRB5_KDC_UNREACH:
	case KRB5_REALM_CANT_RESOLVE:
	case KRB5_REALM_UNKNOWN:
		return CREDS_UNREACHABLE;
	default:
		return CREDS_ERROR;
	}
}

static int krb5_result(struct creds_ctx *c, krb5_error_code code, struct creds_result *res)
{
	enum creds_status s = classify(code);
	const char *msg = krb5_get_error_message(c->ctx, code);
	creds_res(res, s, code, 0, "%s", msg);
	krb5_free_error_message(c->ctx, msg);
	return s == CREDS_OK ? 0 : s == CREDS_UNREACHABLE ? -EHOSTUNREACH : -EACCES;
}

/* Runs the AS exchange of icc over kdc_exchange, the secret at most once, and says
 * what came of it. */
static int as_exchange(struct creds_ctx *c, krb5_init_creds_context icc,
		       creds_before_secret_fn before, void *data, struct creds_result *res)
{
	krb5_context k = c->ctx;
	krb5_data in = { .magic = KV5M_DATA }, out = { .magic = KV5M_DATA },
		  realm = { .magic = KV5M_DATA };
	bool sent = false;
	int32_t answer = -1; /* the KDC's error to the request that carried the secret */
	int r = 0;
	for (;;) {
		unsigned flags = 0;
		krb5_error_code kc = krb5_init_creds_step(k, icc, &in, &out, &realm, &flags);
		free(in.data);
		in = (krb5_data){ .magic = KV5M_DATA };
		krb5_free_data_contents(k, &realm);
		if (kc || !(flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE)) {
			krb5_free_data_contents(k, &out);
			r = krb5_result(c, kc, res);
			/* A local failure to go on after the KDC rejected the secret is the
			 * rejection, as far as anyone must know. */
			if (kc && sent && answer > 0 && res->status == CREDS_ERROR) {
				kc = (krb5_error_code)(ERROR_TABLE_BASE_krb5 + answer);
				r = krb5_result(c, kc, res);
			}
			/* Once the secret went, "unreachable" is not true any more: the DC got
			 * it, and it must go to no other. */
			if (sent && res->status == CREDS_UNREACHABLE) {
				res->status = CREDS_ERROR; /* what krb5 said stays the why */
				res->code = kc;
				r = -EIO;
			}
			return r;
		}
		bool secret = kdcmsg_carries_secret(out.data, out.length);
		if (secret && sent) {
			krb5_free_data_contents(k, &out);
			if (answer > 0)
				return krb5_result(
					c, (krb5_error_code)(ERROR_TABLE_BASE_krb5 + answer), res);
			return creds_res(
				res, CREDS_ERROR, 0, -EPERM,
				"the exchange wanted to send the secret a second time: refused");
		}
		/* Connected first: a DC that refuses or never accepts gets nothing, and no
		 * record says it might have. Then the record, then the bytes. */
		int fd = creds_kdc_connect(c);
		if (fd < 0) {
			krb5_free_data_contents(k, &out);
			const char *what = fd == -ETIMEDOUT ? "no answer in time" : strerror(-fd);
			return creds_res(res, sent ? CREDS_NO_REPLY : CREDS_UNREACHABLE,
					 sent ? 0 : KRB5_KDC_UNREACH,
					 sent ? -ETIMEDOUT : -EHOSTUNREACH,
					 "the KDC did not answer (%s)", what);
		}
		if (secret && before && (r = before(data)) < 0) {
			close(fd);
			krb5_free_data_contents(k, &out);
			return creds_res(
				res, CREDS_NOT_RECORDED, 0, -ENOLCK,
				"the lockout guard could not record the attempt first (%s): "
				"nothing was sent",
				strerror(-r));
		}
		sent = sent || secret;
		r = creds_kdc_roundtrip(c, fd, &out, &in);
		krb5_free_data_contents(k, &out);
		if (r < 0) {
			const char *what = r == -ETIMEDOUT ? "no answer in time" : strerror(-r);
			if (sent) /* this request or an earlier one carried it */
				return creds_res(res, CREDS_NO_REPLY, 0, -ETIMEDOUT,
						 "the KDC got the secret and gave no answer (%s)",
						 what);
			return creds_res(res, CREDS_UNREACHABLE, KRB5_KDC_UNREACH, -EHOSTUNREACH,
					 "the KDC did not answer (%s)", what);
		}
		/* Only protocol error codes (RFC 4120 §7.5.9: below 128) are taken as what the
		 * KDC said: anything else would map onto a local krb5 code. */
		if (secret) {
			answer = kdcmsg_error_code(in.data, in.length);
			if (answer >= 128)
				answer = -1;
		}
	}
}

int creds_acquire(struct creds_ctx *c, const struct config_account *acct, krb5_ccache ccache,
		  creds_before_secret_fn before, void *data, struct creds_result *res)
{
	if (!c->keytab && !c->password) {
		char fp[LOCKOUT_FP_LEN + 1];
		int r = creds_fingerprint(c, acct, fp, res);
		if (r < 0)
			return r;
	}
	*res = (struct creds_result){ .status = CREDS_OK };
	krb5_context k = c->ctx;
	krb5_principal princ = NULL;
	krb5_init_creds_context icc = NULL;
	krb5_creds creds;
	memset(&creds, 0, sizeof(creds));

	/* The step interface, not krb5_get_init_creds_*: those retry a failed exchange
	 * "with the primary KDC" on their own, which would present the secret twice. */
	krb5_error_code kc = krb5_parse_name(k, acct->principal, &princ);
	if (!kc)
		kc = krb5_init_creds_init(k, princ, NULL, NULL, 0, NULL, &icc);
	if (!kc)
		kc = c->keytab ? krb5_init_creds_set_keytab(k, icc, c->keytab)
			       : krb5_init_creds_set_password(k, icc, c->password);
	int r;
	if (kc) {
		r = krb5_result(c, kc, res);
	} else if ((r = as_exchange(c, icc, before, data, res)) == 0) {
		/* The ccache is initialised to the principal and gets the TGT. */
		kc = krb5_init_creds_get_creds(k, icc, &creds);
		if (!kc)
			kc = krb5_cc_initialize(k, ccache, princ);
		if (!kc)
			kc = krb5_cc_store_cred(k, ccache, &creds);
		if (kc) {
			const char *msg = krb5_get_error_message(k, kc);
			r = creds_res(res, CREDS_ERROR, kc, -EIO, "cannot keep the TGT: %s", msg);
			krb5_free_error_message(k, msg);
		}
		krb5_free_cred_contents(k, &creds);
	}
	if (icc)
		krb5_init_creds_free(k, icc);
	if (princ)
		krb5_free_principal(k, princ);
	return r;
}

int creds_service_ticket(struct creds_ctx *c, krb5_ccache ccache, const char *service,
			 const char *host, struct creds_result *res)
{
	*res = (struct creds_result){ .status = CREDS_OK };
	krb5_context k = c->ctx;
	krb5_creds in, *out = NULL;
	memset(&in, 0, sizeof(in));
	krb5_error_code kc = krb5_cc_get_principal(k, ccache, &in.client);
	if (!kc)
		kc = krb5_build_principal(k, &in.server, (unsigned)strlen(c->pin.realm),
					  c->pin.realm, service, host, NULL);
	if (!kc)
		kc = krb5_get_credentials(k, 0, ccache, &in, &out);
	int r = krb5_result(c, kc, res);
	if (out)
		krb5_free_creds(k, out);
	krb5_free_cred_contents(k, &in);
	return r;
}

bool creds_cache_has(struct creds_ctx *c, krb5_ccache ccache, const char *principal,
		     const char *service, const char *host, time_t now, int min_left)
{
	krb5_context k = c->ctx;
	krb5_creds match, got;
	memset(&match, 0, sizeof(match));
	memset(&got, 0, sizeof(got));
	krb5_principal cc_princ = NULL;
	bool ok = false;
	const char *realm = c->pin.realm;
	if (krb5_cc_get_principal(k, ccache, &cc_princ) == 0 &&
	    krb5_parse_name(k, principal, &match.client) == 0 &&
	    krb5_principal_compare(k, cc_princ, match.client) &&
	    krb5_build_principal(k, &match.server, (unsigned)strlen(realm), realm, service,
				 host ? host : realm, NULL) == 0 &&
	    krb5_cc_retrieve_cred(k, ccache, 0, &match, &got) == 0) {
		ok = (time_t)got.times.endtime > now + min_left;
		krb5_free_cred_contents(k, &got);
	}
	krb5_free_principal(k, cc_princ);
	krb5_free_cred_contents(k, &match);
	return ok;
}

int creds_cache_copy(struct creds_ctx *c, krb5_ccache from, krb5_ccache to)
{
	krb5_context k = c->ctx;
	krb5_principal princ = NULL;
	krb5_error_code kc = krb5_cc_get_principal(k, from, &princ);
	if (!kc)
		kc = krb5_cc_initialize(k, to, princ);
	if (!kc)
		kc = krb5_cc_copy_creds(k, from, to);
	krb5_free_principal(k, princ);
	return kc ? -EIO : 0;
}

int creds_gssapi_defaults(const char *dir)
{
	static bool done;
	if (done)
		return 0;
	static const char text[] =
		"# Written by advertd: GSSAPI must not canonicalise the DC's name.\n"
		"[libdefaults]\n"
		"\tdns_canonicalize_hostname = false\n"
		"\trdns = false\n"
		"\tdns_lookup_realm = false\n";
	char *path = NULL, *tmp = NULL, *list = NULL;
	if (asprintf(&path, "%s/gssapi-krb5.conf", dir) < 0)
		return -ENOMEM;
	int r = 0;
	char buf[sizeof(text)];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(text) - 1 || memcmp(buf, text, sizeof(text) - 1) != 0) {
		/* Replaced whole, never edited in place: a reader sees old or new. */
		if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
			free(path);
			return -ENOMEM;
		}
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1 ||
		    fchmod(fd, 0644) < 0 || rename(tmp, path) < 0)
			r = -errno;
		if (fd >= 0)
			close(fd);
		if (r < 0)
			unlink(tmp);
		free(tmp);
	}
	if (r == 0) {
		const char *prev = getenv("KRB5_CONFIG");
		if (asprintf(&list, "%s:%s", path, prev && *prev ? prev : "/etc/krb5.conf") < 0)
			r = -ENOMEM;
		else if (setenv("KRB5_CONFIG", list, 1) < 0)
			r = -errno;
		free(list);
	}
	free(path);
	done = r == 0;
	return r;
}

enum lockout_outcome creds_lockout_outcome(enum creds_status s)
{
	switch (s) {
	case CREDS_OK:
		return LOCKOUT_OK;
	case CREDS_REJECTED:
		return LOCKOUT_REJECTED;
	case CREDS_REVOKED:
		return LOCKOUT_REVOKED;
	case CREDS_PASSWORD_EXPIRED:
	case CREDS_ACCOUNT_EXPIRED:
	case CREDS_UNKNOWN_PRINCIPAL:
		return LOCKOUT_UNUSABLE;
	default:
		return LOCKOUT_NONE; /* nothing the guard must remember */
	}
}

const char *creds_status_name(enum creds_status s)
{
	static const char *const names[] = {
		[CREDS_OK] = "ok",
		[CREDS_NO_SECRET] = "no-secret",
		[CREDS_REJECTED] = "secret-rejected",
		[CREDS_REVOKED] = "account-locked-or-disabled",
		[CREDS_PASSWORD_EXPIRED] = "password-expired",
		[CREDS_ACCOUNT_EXPIRED] = "account-expired",
		[CREDS_UNKNOWN_PRINCIPAL] = "unknown-principal",
		[CREDS_CLOCK_SKEW] = "clock-skew",
		[CREDS_UNREACHABLE] = "dc-unreachable",
		[CREDS_NO_REPLY] = "no-reply-to-secret",
		[CREDS_NOT_RECORDED] = "guard-cannot-record",
		[CREDS_ERROR] = "error",
	};
	return names[s];
}

/* SPDX-License-Identifier: MIT */
/* What creds.c shares with kdcsend.c (the one road to the pinned KDC) and secret.c
 * (reading and fingerprinting the installation account's secret). */
#ifndef ADVERT_CREDS_INTERNAL_H
#define ADVERT_CREDS_INTERNAL_H

#include <krb5.h>
#include <profile.h>
#include <sys/socket.h>

#include "advert/creds.h"

#define KDC_REPLY_MAX (1u << 20) /* an AD ticket with a large PAC stays well below */

struct pin {
	profile_t base; /* the normal profile, for everything but the pin */
	char *realm;
	char *kdc; /* "address:port" or "[v6]:port" */
};

struct creds_ctx {
	krb5_context ctx;
	struct pin pin;
	struct sockaddr_storage kdc_addr; /* the pinned DC, the only place requests go */
	socklen_t kdc_addrlen;
	double deadline_ms; /* CLOCK_MONOTONIC; 0: none */
	unsigned kdc_requests;
	int keytab_kvno; /* highest kvno fingerprinted, -1 for none */
	/* The secret exactly as fingerprinted, so the request uses what the guard judged. */
	krb5_keytab keytab; /* MEMORY: copy of the account's keys */
	char *password;     /* wiped on close */
};

/* Fills res (status, code, and its why from fmt); returns ret. */
int creds_res(struct creds_result *res, enum creds_status status, krb5_error_code code, int ret,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A TCP connection to the pinned DC, made before the deadline. Returns the fd (the caller
 * closes it) or -errno. */
int creds_kdc_connect(struct creds_ctx *c);
/* One request and its reply on the connected fd (RFC 4120 §7.2.2), before the deadline;
 * closes fd. *reply is malloc'd. Returns 0 or -errno (-ETIMEDOUT for the deadline). */
int creds_kdc_roundtrip(struct creds_ctx *c, int fd, const krb5_data *req, krb5_data *reply);
/* The send hook: every request the library sends itself goes by creds_kdc_exchange. */
krb5_error_code KRB5_CALLCONV creds_kdc_send(krb5_context ctx, void *data, const krb5_data *realm,
					     const krb5_data *message, krb5_data **new_message_out,
					     krb5_data **reply_out);

#endif

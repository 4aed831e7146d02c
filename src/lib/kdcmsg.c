/* SPDX-License-Identifier: MIT */
/* A minimal DER reader for the two questions the lockout guard asks of Kerberos
 * messages (RFC 4120 §5.4.1, §5.9.1). Single-byte tags, definite lengths only. */
#include "config.h"

#include <string.h>

#include "advert/kdcmsg.h"

#define TAG_SEQUENCE  0x30
#define TAG_INTEGER   0x02
#define TAG_AS_REQ    0x6a         /* [APPLICATION 10] */
#define TAG_KRB_ERROR 0x7e         /* [APPLICATION 30] */
#define CTX(n)        (0xa0 | (n)) /* [n], constructed */

struct der {
	const unsigned char *p;
	size_t n;
};

/* Takes the next TLV off d: its tag and its contents. False when d does not start with
 * a complete one. */
static bool next(struct der *d, unsigned char *ret_tag, struct der *ret_val)
{
	if (d->n < 2)
		return false;
	unsigned char tag = d->p[0];
	if ((tag & 0x1f) == 0x1f) /* multi-byte tags are not used by these messages */
		return false;
	size_t len = d->p[1], hdr = 2;
	if (len & 0x80) {
		size_t k = len & 0x7f;
		if (k == 0 || k > sizeof(size_t) || k > d->n - 2)
			return false;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = (len << 8) | d->p[2 + i];
		hdr += k;
	}
	if (len > d->n - hdr)
		return false;
	*ret_tag = tag;
	ret_val->p = d->p + hdr;
	ret_val->n = len;
	d->p += hdr + len;
	d->n -= hdr + len;
	return true;
}

/* The contents of the element tagged want inside d, skipping others; false if absent. */
static bool find(struct der d, unsigned char want, struct der *ret)
{
	unsigned char tag;
	struct der v;
	while (next(&d, &tag, &v))
		if (tag == want) {
			*ret = v;
			return true;
		}
	return false;
}

/* A DER INTEGER that fits in 32 bits. */
static bool integer(struct der d, int32_t *ret)
{
	unsigned char tag;
	struct der v;
	if (!next(&d, &tag, &v) || tag != TAG_INTEGER || v.n == 0 || v.n > 4)
		return false;
	int64_t x = (v.p[0] & 0x80) ? -1 : 0;
	for (size_t i = 0; i < v.n; i++)
		x = (int64_t)((uint64_t)x << 8) | v.p[i];
	*ret = (int32_t)x;
	return true;
}

/* The application-tagged SEQUENCE body of msg, if msg is one TLV tagged app. */
static bool body(const void *msg, size_t len, unsigned char app, struct der *ret)
{
	struct der d = { msg, len }, outer, seq;
	unsigned char tag;
	if (!msg || !next(&d, &tag, &outer) || tag != app || d.n != 0)
		return false;
	if (!next(&outer, &tag, &seq) || tag != TAG_SEQUENCE)
		return false;
	*ret = seq;
	return true;
}

static bool harmless(int32_t type)
{
	switch (type) {
	case 128: /* PA-PAC-REQUEST */
	case 133: /* PA-FX-COOKIE */
	case 149: /* PA-REQ-ENC-PA-REP */
	case 150: /* PA-AS-FRESHNESS */
	case 167: /* PA-PAC-OPTIONS */
		return true;
	default:
		return false;
	}
}

/* One PA-DATA: exactly { [1] INTEGER, [2] OCTET STRING }, and its type harmless. */
static bool harmless_padata(struct der pa)
{
	unsigned char tag;
	struct der typ, val, inner;
	int32_t type;
	if (!next(&pa, &tag, &typ) || tag != CTX(1) || !integer(typ, &type) ||
	    !next(&pa, &tag, &val) || tag != CTX(2) || pa.n != 0 || !next(&val, &tag, &inner) ||
	    tag != 0x04 || val.n != 0)
		return false;
	return harmless(type);
}

bool kdcmsg_carries_secret(const void *msg, size_t len)
{
	if (!msg || len == 0 || ((const unsigned char *)msg)[0] != TAG_AS_REQ)
		return false;
	/* KDC-REQ is exactly [1] pvno, [2] msg-type, optional [3] padata, [4] req-body, in
	 * that order: any other shape is malformed, and malformed carries the secret. */
	struct der req, v;
	unsigned char tag;
	if (!body(msg, len, TAG_AS_REQ, &req) || !next(&req, &tag, &v) || tag != CTX(1) ||
	    !next(&req, &tag, &v) || tag != CTX(2) || !next(&req, &tag, &v))
		return true;
	if (tag == CTX(4))
		return req.n != 0; /* no pre-authentication at all */
	struct der padata = v, list, body4;
	if (tag != CTX(3) || !next(&req, &tag, &body4) || tag != CTX(4) || req.n != 0 ||
	    !next(&padata, &tag, &list) || tag != TAG_SEQUENCE || padata.n != 0)
		return true;
	while (list.n) {
		struct der pa;
		if (!next(&list, &tag, &pa) || tag != TAG_SEQUENCE || !harmless_padata(pa))
			return true;
	}
	return false;
}

int32_t kdcmsg_error_code(const void *msg, size_t len)
{
	struct der err, code;
	int32_t v;
	if (!body(msg, len, TAG_KRB_ERROR, &err) || !find(err, CTX(6), &code) ||
	    !integer(code, &v) || v < 0)
		return -1;
	return v;
}

/* SPDX-License-Identifier: MIT */
/* What the lockout guard reads in Kerberos messages: which AS-REQs carry the secret, the
 * error code of a KRB-ERROR, and that no truncation or flipped byte reads past the
 * buffer or turns a secret-bearing request into a harmless one. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advert/kdcmsg.h"
#include "testutil.h"

struct msg {
	unsigned char b[2048];
	size_t n;
};

/* Appends tag + DER length + the n bytes at v. */
static void tlv(struct msg *m, unsigned char tag, const void *v, size_t n)
{
	m->b[m->n++] = tag;
	if (n < 0x80) {
		m->b[m->n++] = (unsigned char)n;
	} else if (n < 0x100) {
		m->b[m->n++] = 0x81;
		m->b[m->n++] = (unsigned char)n;
	} else {
		m->b[m->n++] = 0x82;
		m->b[m->n++] = (unsigned char)(n >> 8);
		m->b[m->n++] = (unsigned char)n;
	}
	memcpy(m->b + m->n, v, n);
	m->n += n;
}

static void integer(struct msg *m, unsigned char ctx, int32_t v)
{
	unsigned char be[5];
	size_t n = 0;
	/* minimal two's complement */
	int64_t x = v;
	unsigned char tmp[8];
	for (int i = 7; i >= 0; i--, x >>= 8)
		tmp[i] = (unsigned char)(x & 0xff);
	size_t start = 0;
	while (start < 7 && ((tmp[start] == 0x00 && !(tmp[start + 1] & 0x80)) ||
			     (tmp[start] == 0xff && (tmp[start + 1] & 0x80))))
		start++;
	for (size_t i = start; i < 8; i++)
		be[n++] = tmp[i];
	struct msg in = { 0 };
	tlv(&in, 0x02, be, n);
	tlv(m, ctx, in.b, in.n);
}

/* An AS-REQ (app 0x6a) or TGS-REQ (0x6c) with the given PA-DATA types; n_pa < 0 for no
 * padata field at all. pad_value bytes of padata-value each. */
static struct msg kdc_req(unsigned char app, const int32_t *types, int n_pa, size_t pad_value)
{
	struct msg seq = { 0 }, out = { 0 };
	integer(&seq, 0xa1, 5);
	integer(&seq, 0xa2, app == 0x6a ? 10 : 12);
	if (n_pa >= 0) {
		struct msg list = { 0 };
		for (int i = 0; i < n_pa; i++) {
			struct msg pa = { 0 }, val = { 0 }, wrapped = { 0 };
			integer(&pa, 0xa1, types[i]);
			unsigned char junk[300];
			memset(junk, 0x5a, sizeof(junk));
			tlv(&val, 0x04, junk, pad_value);
			tlv(&pa, 0xa2, val.b, val.n);
			tlv(&wrapped, 0x30, pa.b, pa.n);
			memcpy(list.b + list.n, wrapped.b, wrapped.n);
			list.n += wrapped.n;
		}
		struct msg sl = { 0 };
		tlv(&sl, 0x30, list.b, list.n);
		tlv(&seq, 0xa3, sl.b, sl.n);
	}
	struct msg body = { 0 }, inner = { 0 };
	tlv(&body, 0x30, "", 0);
	tlv(&seq, 0xa4, body.b, body.n);
	tlv(&inner, 0x30, seq.b, seq.n);
	tlv(&out, app, inner.b, inner.n);
	return out;
}

static struct msg krb_error(int32_t code)
{
	struct msg seq = { 0 }, inner = { 0 }, out = { 0 };
	integer(&seq, 0xa0, 5);
	integer(&seq, 0xa1, 30);
	integer(&seq, 0xa6, code);
	tlv(&inner, 0x30, seq.b, seq.n);
	tlv(&out, 0x7e, inner.b, inner.n);
	return out;
}

static void test_secret_table(void)
{
	static const struct {
		int32_t types[4];
		int n;
		size_t value;
		bool want;
	} rows[] = {
		{ { 0 }, -1, 0, false },            /* no padata */
		{ { 0 }, 0, 0, false },             /* empty padata */
		{ { 150, 149 }, 2, 8, false },      /* MIT's first AS-REQ */
		{ { 128, 133, 167 }, 3, 4, false }, /* PAC request, cookie, PAC options */
		{ { 150, 149, 2 }, 3, 40, true },   /* PA-ENC-TIMESTAMP */
		{ { 133, 2 }, 2, 200, true },       /* long-form lengths */
		{ { 138 }, 1, 16, true },           /* PA-ENCRYPTED-CHALLENGE (FAST) */
		{ { 136 }, 1, 250, true },          /* PA-FX-FAST: may hide the challenge */
		{ { 16 }, 1, 16, true },            /* PKINIT */
		{ { 999999 }, 1, 1, true },         /* unknown: assume it proves the key */
		{ { -5 }, 1, 1, true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct msg m = kdc_req(0x6a, rows[i].types, rows[i].n, rows[i].value);
		CU_ASSERT_EQUAL(kdcmsg_carries_secret(m.b, m.n), rows[i].want);
		/* A TGS-REQ proves a ticket, never the secret. */
		struct msg t = kdc_req(0x6c, rows[i].types, rows[i].n, rows[i].value);
		CU_ASSERT_FALSE(kdcmsg_carries_secret(t.b, t.n));
	}
	CU_ASSERT_FALSE(kdcmsg_carries_secret(NULL, 0));
	CU_ASSERT_FALSE(kdcmsg_carries_secret("", 0));
}

static void test_truncated_and_trailing(void)
{
	static const int32_t secret[] = { 150, 2 }, harmless[] = { 150, 149 };
	struct msg s = kdc_req(0x6a, secret, 2, 200), h = kdc_req(0x6a, harmless, 2, 8);
	/* Any cut of an AS-REQ is malformed, so it is recorded as carrying the secret. */
	for (size_t n = 1; n < s.n; n++)
		CU_ASSERT_TRUE(kdcmsg_carries_secret(s.b, n));
	for (size_t n = 1; n < h.n; n++)
		CU_ASSERT_TRUE(kdcmsg_carries_secret(h.b, n));
	/* Bytes after the message: not one well-formed message either. */
	h.b[h.n] = 0;
	CU_ASSERT_TRUE(kdcmsg_carries_secret(h.b, h.n + 1));
	CU_ASSERT_FALSE(kdcmsg_carries_secret(h.b, h.n));
}

/* Flipping any bit of a secret-bearing request never makes it look harmless unless the
 * flip changed what it is (no longer an AS-REQ), and never reads out of bounds (the
 * sanitizer build runs this too). */
static void test_bit_flips(void)
{
	static const int32_t secret[] = { 150, 149, 2 };
	struct msg s = kdc_req(0x6a, secret, 3, 40);
	for (size_t i = 0; i < s.n; i++)
		for (int bit = 0; bit < 8; bit++) {
			unsigned char *copy = malloc(s.n); /* exact size: ASan sees overreads */
			memcpy(copy, s.b, s.n);
			copy[i] ^= (unsigned char)(1u << bit);
			bool got = kdcmsg_carries_secret(copy, s.n);
			if (copy[0] == 0x6a && !got) {
				/* Only a flip inside a padata-type value may turn 2 into a
				 * harmless type; none of 2's single-bit neighbours is one. */
				CU_FAIL("a flipped byte turned the secret harmless");
			}
			(void)kdcmsg_error_code(copy, s.n);
			free(copy);
		}
}

static void test_error_code(void)
{
	static const int32_t codes[] = { 0, 6, 18, 24, 25, 68, 127, 128, 300, 70000 };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct msg e = krb_error(codes[i]);
		CU_ASSERT_EQUAL(kdcmsg_error_code(e.b, e.n), codes[i]);
		for (size_t n = 0; n < e.n; n++)
			CU_ASSERT_EQUAL(kdcmsg_error_code(e.b, n), -1);
	}
	struct msg neg = krb_error(-3);
	CU_ASSERT_EQUAL(kdcmsg_error_code(neg.b, neg.n), -1);
	static const int32_t pa[] = { 2 };
	struct msg req = kdc_req(0x6a, pa, 1, 4);
	CU_ASSERT_EQUAL(kdcmsg_error_code(req.b, req.n), -1);
	CU_ASSERT_EQUAL(kdcmsg_error_code(NULL, 0), -1);
	/* An over-long length field must not be believed. */
	static const unsigned char huge[] = { 0x7e, 0x88, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0x30, 0x00 };
	CU_ASSERT_EQUAL(kdcmsg_error_code(huge, sizeof(huge)), -1);
	CU_ASSERT_TRUE(kdcmsg_carries_secret("\x6a\x84\xff\xff\xff\xff\x30", 7));
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "which AS-REQs carry the secret", test_secret_table },
		{ "truncated and trailing bytes", test_truncated_and_trailing },
		{ "every single bit flipped", test_bit_flips },
		{ "KRB-ERROR codes", test_error_code },
		{ 0 },
	};
	return tu_run("kdcmsg", tests);
}

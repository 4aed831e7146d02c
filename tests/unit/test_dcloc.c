/* SPDX-License-Identifier: MIT */
/* DC location: SRV answers built by hand (with and without compression, cut short,
 * garbage), RFC 2782 ordering, configured candidates, preference and affinity. No
 * test needs a DNS server. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/dcloc.h"
#include "testutil.h"

static char *dir;

/* --- DNS messages by hand -------------------------------------------------------------- */

struct msg {
	unsigned char b[4096];
	size_t len;
	/* Where each suffix of the question name starts, for compression pointers. */
	const char *suffix[32];
	size_t suffix_off[32];
	size_t n_suffix;
};

struct rr {
	const char *target;
	unsigned priority, weight, port;
	unsigned type; /* 0: SRV */
};

static void put8(struct msg *m, unsigned v)
{
	CU_ASSERT_FATAL(m->len < sizeof(m->b));
	m->b[m->len++] = (unsigned char)v;
}

static void put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void put32(struct msg *m, unsigned long v)
{
	put16(m, (unsigned)(v >> 16));
	put16(m, (unsigned)(v & 0xffff));
}

/* Writes name as labels; with compress, ends in a pointer at the longest suffix the
 * question already holds. Remembers suffixes when record is set (the question). */
static void put_name(struct msg *m, const char *name, bool compress, bool record)
{
	if (strcmp(name, ".") == 0)
		name = "";
	const char *p = name;
	while (*p) {
		if (compress) {
			for (size_t i = 0; i < m->n_suffix; i++) {
				if (strcasecmp(m->suffix[i], p) == 0) {
					put16(m, 0xc000 | (unsigned)m->suffix_off[i]);
					return;
				}
			}
		}
		if (record && m->n_suffix < 32) {
			m->suffix[m->n_suffix] = p;
			m->suffix_off[m->n_suffix++] = m->len;
		}
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		put8(m, (unsigned)n);
		for (size_t i = 0; i < n; i++)
			put8(m, (unsigned char)p[i]);
		p += n + (dot ? 1 : 0);
	}
	put8(m, 0);
}

/* A response to an SRV query for qname with the given answers. */
static void build(struct msg *m, const char *qname, const struct rr *rrs, size_t n, bool compress,
		  unsigned rcode)
{
	memset(m, 0, sizeof(*m));
	put16(m, 0x1234);
	put16(m, 0x8180 | rcode);
	put16(m, 1);
	put16(m, (unsigned)n);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname, false, true);
	put16(m, 33);
	put16(m, 1);
	for (size_t i = 0; i < n; i++) {
		put_name(m, qname, compress, false);
		unsigned type = rrs[i].type ? rrs[i].type : 33;
		put16(m, type);
		put16(m, 1);
		put32(m, 600);
		size_t rdlen_at = m->len;
		put16(m, 0);
		if (type == 33) {
			put16(m, rrs[i].priority);
			put16(m, rrs[i].weight);
			put16(m, rrs[i].port);
			put_name(m, rrs[i].target, compress, false);
		} else {
			put32(m, 0xc0000201); /* an A record: 192.0.2.1 */
		}
		size_t rdlen = m->len - rdlen_at - 2;
		m->b[rdlen_at] = (unsigned char)(rdlen >> 8);
		m->b[rdlen_at + 1] = (unsigned char)(rdlen & 0xff);
	}
}

#define QNAME "_ldap._tcp.dc._msdcs.example.test"

static const struct rr two[] = {
	{ "dc1.example.test", 0, 100, 389, 0 },
	{ "dc2.example.test", 10, 5, 3268, 0 },
};

static void check_two(const struct msg *m)
{
	struct srv_record *recs = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dcloc_parse_srv(m->b, (int)m->len, &recs, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(recs[0].target, "dc1.example.test");
	CU_ASSERT_EQUAL(recs[0].priority, 0);
	CU_ASSERT_EQUAL(recs[0].weight, 100);
	CU_ASSERT_EQUAL(recs[0].port, 389);
	CU_ASSERT_STRING_EQUAL(recs[1].target, "dc2.example.test");
	CU_ASSERT_EQUAL(recs[1].priority, 10);
	CU_ASSERT_EQUAL(recs[1].weight, 5);
	CU_ASSERT_EQUAL(recs[1].port, 3268);
	dcloc_srv_free(recs, n);
}

static void test_parse_plain(void)
{
	struct msg m;
	build(&m, QNAME, two, 2, false, 0);
	check_two(&m);
}

static void test_parse_compressed(void)
{
	struct msg m, plain;
	build(&m, QNAME, two, 2, true, 0);
	build(&plain, QNAME, two, 2, false, 0);
	CU_ASSERT(m.len < plain.len); /* the pointers were really used */
	check_two(&m);
}

static void test_parse_mixed(void)
{
	/* Non-SRV answers are skipped; the root target is kept as "." for order to drop. */
	static const struct rr rrs[] = {
		{ NULL, 0, 0, 0, 1 },
		{ "dc1.example.test", 1, 2, 88, 0 },
		{ ".", 0, 0, 0, 0 },
		{ NULL, 0, 0, 0, 1 },
	};
	struct msg m;
	build(&m, QNAME, rrs, 4, true, 0);
	struct srv_record *recs = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dcloc_parse_srv(m.b, (int)m.len, &recs, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(recs[0].target, "dc1.example.test");
	CU_ASSERT_EQUAL(recs[0].port, 88);
	CU_ASSERT_STRING_EQUAL(recs[1].target, ".");
	dcloc_srv_free(recs, n);

	/* NXDOMAIN: no answers, no error. */
	build(&m, QNAME, NULL, 0, false, 3);
	recs = NULL;
	n = 99;
	CU_ASSERT_EQUAL(dcloc_parse_srv(m.b, (int)m.len, &recs, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	dcloc_srv_free(recs, n);
}

static void test_parse_truncated(void)
{
	struct msg m;
	build(&m, QNAME, two, 2, true, 0);
	unsigned bad = 0;
	for (size_t len = 0; len < m.len; len++) {
		struct srv_record *recs = NULL;
		size_t n = 0;
		int r = dcloc_parse_srv(m.b, (int)len, &recs, &n);
		if (r == -EBADMSG)
			bad++;
		else
			dcloc_srv_free(recs, n);
	}
	CU_ASSERT_EQUAL(bad, m.len);
	struct srv_record *recs = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dcloc_parse_srv(NULL, 10, &recs, &n), -EBADMSG);
	CU_ASSERT_EQUAL(dcloc_parse_srv(m.b, -1, &recs, &n), -EBADMSG);
}

static void test_parse_malformed(void)
{
	struct msg m;
	struct srv_record *recs = NULL;
	size_t n = 0;
	static const struct rr one[] = { { "dc1.example.test", 0, 1, 389, 0 } };

	/* More answers announced than present. */
	build(&m, QNAME, one, 1, false, 0);
	m.b[7] = 2;
	CU_ASSERT_EQUAL(dcloc_parse_srv(m.b, (int)m.len, &recs, &n), -EBADMSG);

	/* SRV rdata too short to hold priority, weight, port and a name. */
	build(&m, QNAME, one, 1, false, 0);
	size_t rdlen_at = m.len - (6 + strlen("dc1.example.test") + 2) - 2;
	CU_ASSERT_EQUAL_FATAL(m.b[rdlen_at + 1], 6 + strlen("dc1.example.test") + 2);
	m.b[rdlen_at + 1] = 5;
	m.len = rdlen_at + 2 + 5;
	CU_ASSERT_EQUAL(dcloc_parse_srv(m.b, (int)m.len, &recs, &n), -EBADMSG);

	/* rdata longer than the name in it. */
	build(&m, QNAME, one, 1, false, 0);
	m.b[rdlen_at + 1]++;
	m.b[m.len++] = 0;
	CU_ASSERT_EQUAL(dcloc_parse_srv(m.b, (int)m.len, &recs, &n), -EBADMSG);

	/* A target that points at itself. */
	build(&m, QNAME, one, 1, false, 0);
	size_t name_at = rdlen_at + 2 + 6;
	m.b[name_at] = 0xc0;
	m.b[name_at + 1] = (unsigned char)name_at;
	CU_ASSERT_EQUAL(dcloc_parse_srv(m.b, (int)m.len, &recs, &n), -EBADMSG);

	/* A pointer past the end. */
	build(&m, QNAME, one, 1, false, 0);
	m.b[name_at] = 0xcf;
	m.b[name_at + 1] = 0xff;
	CU_ASSERT_EQUAL(dcloc_parse_srv(m.b, (int)m.len, &recs, &n), -EBADMSG);

	/* Bytes after the last record. */
	build(&m, QNAME, one, 1, false, 0);
	m.b[m.len++] = 0;
	CU_ASSERT_EQUAL(dcloc_parse_srv(m.b, (int)m.len, &recs, &n), -EBADMSG);
}

static uint64_t test_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_parse_garbage(void)
{
	/* Random bytes and randomly damaged answers: an error or records, never a crash
	 * (the sanitizer build is what makes this test bite). */
	struct msg good;
	build(&good, QNAME, two, 2, true, 0);
	uint64_t s = 0x0123456789abcdefULL;
	unsigned parsed = 0, rejected = 0;
	for (int i = 0; i < 4000; i++) {
		unsigned char buf[512];
		size_t len;
		if (i % 2) {
			len = test_rand(&s) % sizeof(buf);
			for (size_t j = 0; j < len; j++)
				buf[j] = (unsigned char)test_rand(&s);
		} else {
			len = good.len;
			memcpy(buf, good.b, len);
			for (int k = 0; k < 3; k++)
				buf[test_rand(&s) % len] = (unsigned char)test_rand(&s);
		}
		struct srv_record *recs = NULL;
		size_t n = 0;
		int r = dcloc_parse_srv(buf, (int)len, &recs, &n);
		CU_ASSERT(r == 0 || r == -EBADMSG);
		if (r == 0) {
			parsed++;
			for (size_t j = 0; j < n; j++)
				CU_ASSERT_PTR_NOT_NULL(recs[j].target);
			dcloc_srv_free(recs, n);
		} else {
			rejected++;
		}
	}
	CU_ASSERT(parsed > 0);
	CU_ASSERT(rejected > 0);
}

/* --- ordering ------------------------------------------------------------------------ */

struct spec {
	const char *target;
	unsigned priority, weight;
};

static struct srv_record *make(const struct spec *sp, size_t n)
{
	struct srv_record *r = calloc(n ? n : 1, sizeof(*r));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	for (size_t i = 0; i < n; i++) {
		r[i].target = strdup(sp[i].target);
		r[i].priority = sp[i].priority;
		r[i].weight = sp[i].weight;
		r[i].port = 389;
	}
	return r;
}

/* The targets in order, joined, for comparing orders. */
static void order_string(const struct spec *sp, size_t n, uint64_t seed, char *out, size_t size)
{
	struct srv_record *r = make(sp, n);
	dcloc_order_srv(r, &n, seed);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strncat(out, r[i].target, size - strlen(out) - 1);
		strncat(out, " ", size - strlen(out) - 1);
	}
	dcloc_srv_free(r, n);
}

static void test_order_priorities(void)
{
	static const struct spec sp[] = {
		{ "p10a", 10, 5 }, { "p0a", 0, 0 },  { "p5a", 5, 60 }, { "p0b", 0, 100 },
		{ "p10b", 10, 0 }, { "p5b", 5, 40 }, { ".", 0, 100 },  { "p65535", 65535, 1 },
	};
	for (uint64_t seed = 0; seed < 200; seed++) {
		size_t n = sizeof(sp) / sizeof(sp[0]);
		struct srv_record *r = make(sp, n);
		dcloc_order_srv(r, &n, seed);
		CU_ASSERT_EQUAL(n, 7);
		for (size_t i = 1; i < n; i++)
			CU_ASSERT(r[i - 1].priority <= r[i].priority);
		for (size_t i = 0; i < n; i++)
			CU_ASSERT_STRING_NOT_EQUAL(r[i].target, ".");
		CU_ASSERT_STRING_EQUAL(r[n - 1].target, "p65535");
		/* Every record still there exactly once. */
		unsigned mask = 0;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < sizeof(sp) / sizeof(sp[0]); j++)
				if (strcmp(r[i].target, sp[j].target) == 0)
					mask |= 1u << j;
		CU_ASSERT_EQUAL(mask, 0xffu & ~(1u << 6));
		dcloc_srv_free(r, n);
	}
}

static const struct spec equal4[] = {
	{ "a", 0, 10 },
	{ "b", 0, 10 },
	{ "c", 0, 10 },
	{ "d", 0, 10 },
};

static void test_order_seed(void)
{
	char one[256], again[256], other[256];
	unsigned differ = 0;
	for (uint64_t seed = 1; seed <= 50; seed++) {
		order_string(equal4, 4, seed, one, sizeof(one));
		order_string(equal4, 4, seed, again, sizeof(again));
		CU_ASSERT_STRING_EQUAL(one, again);
		order_string(equal4, 4, seed + 1000, other, sizeof(other));
		if (strcmp(one, other) != 0)
			differ++;
	}
	/* 24 orders equally likely: nearly all pairs of seeds differ. */
	CU_ASSERT(differ >= 30);

	/* Every record comes first for some seed: the fleet spreads. */
	unsigned first[4] = { 0 };
	for (uint64_t seed = 0; seed < 400; seed++) {
		order_string(equal4, 4, seed, one, sizeof(one));
		first[one[0] - 'a']++;
	}
	for (int i = 0; i < 4; i++)
		CU_ASSERT(first[i] > 60 && first[i] < 140);
}

static void test_order_weights(void)
{
	/* A weight-0 record among heavy ones is nearly always last, but not always. */
	static const struct spec zero[] = { { "z", 0, 0 }, { "h1", 0, 100 }, { "h2", 0, 100 } };
	unsigned last = 0;
	char s[256];
	for (uint64_t seed = 0; seed < 1000; seed++) {
		order_string(zero, 3, seed, s, sizeof(s));
		if (s[strlen(s) - 2] == 'z')
			last++;
	}
	CU_ASSERT(last >= 950);
	CU_ASSERT(last < 1000);

	/* Weights 90:10 — the heavy one first about 90% of the time. */
	static const struct spec w[] = { { "l", 0, 10 }, { "h", 0, 90 } };
	unsigned heavy = 0;
	for (uint64_t seed = 0; seed < 1000; seed++) {
		order_string(w, 2, seed, s, sizeof(s));
		if (s[0] == 'h')
			heavy++;
	}
	CU_ASSERT(heavy > 850 && heavy < 950);
}

static void test_order_edges(void)
{
	size_t n = 0;
	struct srv_record *r = make(NULL, 0);
	dcloc_order_srv(r, &n, 1);
	CU_ASSERT_EQUAL(n, 0);
	dcloc_srv_free(r, n);

	static const struct spec dots[] = { { ".", 0, 0 }, { ".", 1, 5 } };
	n = 2;
	r = make(dots, n);
	dcloc_order_srv(r, &n, 1);
	CU_ASSERT_EQUAL(n, 0);
	dcloc_srv_free(r, n);

	static const struct spec one[] = { { "only", 3, 0 } };
	n = 1;
	r = make(one, n);
	dcloc_order_srv(r, &n, 7);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_STRING_EQUAL(r[0].target, "only");
	dcloc_srv_free(r, n);

	/* All weights zero: still a permutation, and seed-dependent. */
	static const struct spec zeros[] = { { "a", 0, 0 }, { "b", 0, 0 }, { "c", 0, 0 } };
	char s[64];
	unsigned a_first = 0;
	for (uint64_t seed = 0; seed < 300; seed++) {
		order_string(zeros, 3, seed, s, sizeof(s));
		CU_ASSERT_EQUAL(strlen(s), 6);
		if (s[0] == 'a')
			a_first++;
	}
	CU_ASSERT(a_first > 50 && a_first < 150);

	dcloc_srv_free(NULL, 0);
}

/* --- candidates ---------------------------------------------------------------------- */

static void test_candidates_configured(void)
{
	struct config *cfg = config_new_default();
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	static const struct {
		const char *host, *address;
	} servers[] = {
		{ "dc1.example.test", "192.0.2.1" },
		{ "dc2.example.test", "2001:db8::2" },
		{ "localhost", NULL },
		{ "bogus.example.test", "not-an-address" },
		/* Unresolvable without asking any server: a label over 63 bytes. */
		{ "x123456789012345678901234567890123456789012345678901234567890123.invalid",
		  NULL },
		{ "dc3.example.test", "127.0.1.3" },
	};
	size_t n = sizeof(servers) / sizeof(servers[0]);
	cfg->directory.servers = calloc(n, sizeof(*cfg->directory.servers));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg->directory.servers);
	cfg->directory.n_servers = n;
	for (size_t i = 0; i < n; i++) {
		cfg->directory.servers[i].host = strdup(servers[i].host);
		cfg->directory.servers[i].address =
			servers[i].address ? strdup(servers[i].address) : NULL;
	}

	struct dc_list l = { 0 };
	CU_ASSERT_EQUAL_FATAL(dcloc_candidates(cfg, 42, &l), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 4);
	CU_ASSERT_STRING_EQUAL(l.items[0].host, "dc1.example.test");
	CU_ASSERT_STRING_EQUAL(l.items[0].address, "192.0.2.1");
	CU_ASSERT_STRING_EQUAL(l.items[1].host, "dc2.example.test");
	CU_ASSERT_STRING_EQUAL(l.items[1].address, "2001:db8::2");
	CU_ASSERT_STRING_EQUAL(l.items[2].host, "localhost");
	unsigned char a[16];
	CU_ASSERT(inet_pton(AF_INET, l.items[2].address, a) == 1 ||
		  inet_pton(AF_INET6, l.items[2].address, a) == 1);
	CU_ASSERT_STRING_EQUAL(l.items[3].host, "dc3.example.test");
	for (size_t i = 0; i < l.n; i++) {
		CU_ASSERT_EQUAL(l.items[i].kdc_port, 88);
		CU_ASSERT_EQUAL(l.items[i].ldap_port, 389);
	}
	dcloc_list_free(&l);
	CU_ASSERT_EQUAL(l.n, 0);
	dcloc_list_free(&l);
	dcloc_list_free(NULL);
	config_free(cfg);
}

static void test_candidates_errors(void)
{
	struct config *cfg = config_new_default();
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	struct dc_list l = { .n = 77 };
	CU_ASSERT_EQUAL(dcloc_candidates(cfg, 1, &l), -EINVAL);
	cfg->directory.domain = strdup("");
	CU_ASSERT_EQUAL(dcloc_candidates(cfg, 1, &l), -EINVAL);
	CU_ASSERT_EQUAL(l.n, 77); /* untouched on error */
	CU_ASSERT_EQUAL(dcloc_candidates(NULL, 1, &l), -EINVAL);
	config_free(cfg);
}

static void test_candidates_dns_nxdomain(void)
{
	/* The only SRV-path test: names under .invalid never exist (RFC 6761), so with any
	 * resolver — or none — discovery finds nothing, and that is not an error. */
	struct config *cfg = config_new_default();
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	cfg->directory.domain = strdup("advertd-test.invalid");
	free(cfg->directory.site);
	cfg->directory.site = strdup("Lab");
	cfg->directory.timeout = 1;
	struct dc_list l = { .n = 77 };
	CU_ASSERT_EQUAL(dcloc_candidates(cfg, 1, &l), 0);
	CU_ASSERT_EQUAL(l.n, 0);
	dcloc_list_free(&l);
	config_free(cfg);
}

static struct dc_list list_of(const char *const *hosts, size_t n)
{
	struct dc_list l = { calloc(n, sizeof(struct dc)), n };
	CU_ASSERT_PTR_NOT_NULL_FATAL(l.items);
	for (size_t i = 0; i < n; i++) {
		l.items[i].host = strdup(hosts[i]);
		l.items[i].address = strdup("192.0.2.9");
	}
	return l;
}

static void test_prefer(void)
{
	static const char *const hosts[] = { "a", "b", "c", "d" };
	static const struct {
		const char *prefer, *want;
	} rows[] = {
		{ "c", "cabd" }, { "a", "abcd" }, { "d", "dabc" },
		{ "B", "bacd" }, { "x", "abcd" }, { "", "abcd" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dc_list l = list_of(hosts, 4);
		dcloc_prefer(&l, rows[i].prefer);
		char got[5] = { 0 };
		for (size_t j = 0; j < 4; j++)
			got[j] = l.items[j].host[0];
		CU_ASSERT_STRING_EQUAL(got, rows[i].want);
		dcloc_list_free(&l);
	}
	struct dc_list empty = { 0 };
	dcloc_prefer(&empty, "a");
	dcloc_prefer(NULL, "a");
}

/* --- affinity ------------------------------------------------------------------------ */

static void test_affinity(void)
{
	char *host = NULL;
	CU_ASSERT_EQUAL(dcloc_affinity_load(dir, &host), -ENOENT);
	CU_ASSERT_PTR_NULL(host);

	CU_ASSERT_EQUAL(dcloc_affinity_save(dir, "dc1.example.test"), 0);
	CU_ASSERT_EQUAL(dcloc_affinity_load(dir, &host), 0);
	CU_ASSERT_STRING_EQUAL(host, "dc1.example.test");
	free(host);

	CU_ASSERT_EQUAL(dcloc_affinity_save(dir, "dc2.example.test"), 0);
	CU_ASSERT_EQUAL(dcloc_affinity_load(dir, &host), 0);
	CU_ASSERT_STRING_EQUAL(host, "dc2.example.test");
	free(host);

	/* One line, and nothing else in the directory (no temp files left). */
	char *path = NULL;
	CU_ASSERT(asprintf(&path, "%s/dc-affinity", dir) > 0);
	FILE *f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	char buf[64] = { 0 };
	CU_ASSERT_EQUAL(fread(buf, 1, sizeof(buf) - 1, f), strlen("dc2.example.test\n"));
	CU_ASSERT_STRING_EQUAL(buf, "dc2.example.test\n");
	fclose(f);
	free(path);
	char *cmd = NULL;
	CU_ASSERT(asprintf(&cmd, "test \"$(ls -A %s)\" = dc-affinity", dir) > 0);
	CU_ASSERT_EQUAL(system(cmd), 0);
	free(cmd);

	/* A hand-written file without the newline is fine. */
	free(tu_write(dir, "dc-affinity", 0644, "dc3.example.test"));
	CU_ASSERT_EQUAL(dcloc_affinity_load(dir, &host), 0);
	CU_ASSERT_STRING_EQUAL(host, "dc3.example.test");
	free(host);

	static const char *const bad[] = {
		"",        "\n",     "dc1 dc2\n",  "dc1\tx\n", "dc1\n\n",
		"dc1\r\n", " dc1\n", "dc1\ndc2\n", "dc\x01\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		free(tu_write(dir, "dc-affinity", 0644, bad[i]));
		host = NULL;
		CU_ASSERT_EQUAL(dcloc_affinity_load(dir, &host), -EBADMSG);
		CU_ASSERT_PTR_NULL(host);
	}
	char big[400];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	free(tu_write(dir, "dc-affinity", 0644, big));
	CU_ASSERT_EQUAL(dcloc_affinity_load(dir, &host), -EBADMSG);

	CU_ASSERT_EQUAL(dcloc_affinity_save(dir, ""), -EINVAL);
	CU_ASSERT_EQUAL(dcloc_affinity_save(dir, "a b"), -EINVAL);
	CU_ASSERT_EQUAL(dcloc_affinity_save(dir, "a\n"), -EINVAL);
	CU_ASSERT_EQUAL(dcloc_affinity_save(dir, big), -EINVAL);
	CU_ASSERT_EQUAL(dcloc_affinity_save("/nonexistent/advertd-test", "dc1"), -ENOENT);
}

int main(void)
{
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "parse: plain", test_parse_plain },
		{ "parse: compressed", test_parse_compressed },
		{ "parse: other types, root target, NXDOMAIN", test_parse_mixed },
		{ "parse: every truncation", test_parse_truncated },
		{ "parse: malformed", test_parse_malformed },
		{ "parse: garbage", test_parse_garbage },
		{ "order: priorities, dot dropped", test_order_priorities },
		{ "order: seeds", test_order_seed },
		{ "order: weights", test_order_weights },
		{ "order: edge cases", test_order_edges },
		{ "candidates: configured servers", test_candidates_configured },
		{ "candidates: errors", test_candidates_errors },
		{ "candidates: DNS under .invalid", test_candidates_dns_nxdomain },
		{ "prefer", test_prefer },
		{ "affinity", test_affinity },
		{ 0 },
	};
	int r = tu_run("dcloc", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

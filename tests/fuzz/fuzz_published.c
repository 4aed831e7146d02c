/* SPDX-License-Identifier: MIT */
/* Fuzz target: published_parse on the input as it is and sealed (the input with the
 * "sha256" line published_format appends, which random bytes never match: without it
 * the records would go unfuzzed). A set it accepts must come back from published_format
 * and a second parse unchanged, entry by entry, and every advertisement text in it must
 * parse without harm: the cache is what runs when no DC answers. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advert/advert.h"
#include "advert/diag.h"
#include "advert/published.h"
#include "advert/textrec.h"
#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_str(const char *what, const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
		fuzz_fail("%s \"%s\" came back as \"%s\"", what, a ? a : "(none)",
			  b ? b : "(none)");
}

static void one(const char *buf, size_t len)
{
	struct published_set s, t;
	struct why why;
	if (published_parse(buf, len, &s, &why) != 0)
		return;
	char *out = NULL;
	size_t n = 0;
	if (published_format(&s, &out, &n) != 0)
		fuzz_fail("a set that parsed cannot be formatted");
	if (published_parse(out, n, &t, &why) != 0)
		fuzz_fail("what published_format wrote does not parse: %s", why.text);
	if (s.n != t.n || s.n_groups != t.n_groups || s.verified != t.verified ||
	    s.groups_known != t.groups_known)
		fuzz_fail("the set's shape changed on the way round");
	same_str("dc", s.dc, t.dc);
	same_str("host", s.host, t.host);
	same_str("host-dn", s.host_dn, t.host_dn);
	for (size_t i = 0; i < s.n_groups; i++)
		same_str("group", s.groups[i], t.groups[i]);
	for (size_t i = 0; i < s.n; i++) {
		same_str("base", s.items[i].base, t.items[i].base);
		same_str("dn", s.items[i].dn, t.items[i].dn);
		same_str("marker", s.items[i].marker, t.items[i].marker);
		same_str("text", s.items[i].text, t.items[i].text);
		struct advert **ads = NULL;
		size_t n_ads = 0;
		struct diag_list diags = { 0 };
		advert_parse_text(s.items[i].dn, s.items[i].text, &ads, &n_ads, &diags);
		for (size_t k = 0; k < n_ads; k++) {
			struct why tw;
			published_targeted(ads[k], &s, &tw);
			advert_free(ads[k]);
		}
		free(ads);
		diag_clear(&diags);
	}
	if (published_fingerprint(&s) != published_fingerprint(&t))
		fuzz_fail("the fingerprint changed on the way round");
	free(out);
	published_clear(&s);
	published_clear(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	one((const char *)data, size);
	/* Sealed: the header, the input, and the checksum over both. */
	static const char header[] = "advertd-published 1\n";
	size_t len = strlen(header) + size;
	char *buf = malloc(len + 80);
	if (!buf)
		return 0;
	memcpy(buf, header, strlen(header));
	memcpy(buf + strlen(header), data, size);
	char hex[65];
	textrec_sha256_hex(buf, len, hex, 64);
	len += (size_t)sprintf(buf + len, "sha256 %s\n", hex);
	one(buf, len);
	free(buf);
	return 0;
}

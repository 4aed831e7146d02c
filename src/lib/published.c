/* SPDX-License-Identifier: MIT */
/* The published set's model, its file and the target check.
 *
 * The file is a header line, then records "KEY LENGTH\n" + LENGTH bytes + "\n" (values
 * may hold anything but NUL: DNs and texts are not escaped), then "sha256 HEX\n" over
 * everything before it. An entry is the four records base, dn, marker, text in a row. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/published.h"
#include "advert/textrec.h"
#include "advert/util.h"

#define HEADER    "advertd-published 1\n"
#define SUM_KEY   "sha256 "
#define SUM_LEN   64
#define MAX_BYTES (64 * 1024 * 1024)

static void put(FILE *m, const char *key, const char *value)
{
	if (value)
		fprintf(m, "%s %zu\n%s\n", key, strlen(value), value);
}

int published_format(const struct published_set *set, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return -ENOMEM;
	fputs(HEADER, m);
	fprintf(m, "verified %lld\n", (long long)set->verified);
	put(m, "dc", set->dc);
	put(m, "host", set->host);
	put(m, "host-dn", set->host_dn);
	fprintf(m, "groups-known %d\n", set->groups_known ? 1 : 0);
	for (size_t i = 0; i < set->n_groups; i++)
		put(m, "group", set->groups[i]);
	for (size_t i = 0; i < set->n; i++) {
		const struct published_entry *e = &set->items[i];
		put(m, "base", e->base);
		put(m, "dn", e->dn);
		put(m, "marker", e->marker);
		put(m, "text", e->text);
	}
	if (fclose(m) != 0) {
		free(buf);
		return -ENOMEM;
	}
	char hex[SUM_LEN + 1];
	textrec_sha256_hex(buf, len, hex, SUM_LEN);
	char *all = realloc(buf, len + strlen(SUM_KEY) + SUM_LEN + 2);
	if (!all) {
		free(buf);
		return -ENOMEM;
	}
	len += (size_t)sprintf(all + len, SUM_KEY "%s\n", hex);
	*ret = all;
	*ret_len = len;
	return 0;
}

/* --- parsing -------------------------------------------------------------------- */

struct cursor {
	const char *p, *end;
	struct why *why;
};

static bool sized_key(const char *k)
{
	return strcmp(k, "verified") != 0 && strcmp(k, "groups-known") != 0;
}

/* One "KEY N\n<N bytes>\n", or for a number's key "KEY N\n" (value NULL, number in *num). */
static int next(struct cursor *c, char *key, size_t keysz, char **value, intmax_t *num)
{
	const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	const char *sp = nl ? memchr(c->p, ' ', (size_t)(nl - c->p)) : NULL;
	*value = NULL;
	if (!sp || (size_t)(sp - c->p) >= keysz)
		return why_set(c->why, -EBADMSG, "a record without its key and length");
	memcpy(key, c->p, (size_t)(sp - c->p));
	key[sp - c->p] = '\0';
	char digits[24];
	size_t dl = (size_t)(nl - sp - 1);
	if (dl == 0 || dl >= sizeof(digits))
		return why_set(c->why, -EBADMSG, "record \"%s\": bad number", key);
	memcpy(digits, sp + 1, dl);
	digits[dl] = '\0';
	if (textrec_parse_int(digits, true, INT64_MIN / 2, INT64_MAX / 2, num) < 0)
		return why_set(c->why, -EBADMSG, "record \"%s\": bad number", key);
	c->p = nl + 1;
	if (!sized_key(key))
		return 0;
	if (*num < 0 || *num > PUBLISHED_MAX_TEXT * 4 || *num + 1 > c->end - c->p ||
	    c->p[*num] != '\n' || memchr(c->p, '\0', (size_t)*num))
		return why_set(c->why, -EBADMSG, "record \"%s\": bad length", key);
	if (!(*value = strndup(c->p, (size_t)*num)))
		return -ENOMEM;
	c->p += *num + 1;
	return 0;
}

/* Room for n elements of sz in *v (realloc: glibc grows in place mostly). */
static int grow(void *v, size_t n, size_t sz)
{
	void *p = reallocarray(*(void **)v, n, sz);
	if (!p)
		return -ENOMEM;
	*(void **)v = p;
	return 0;
}

static int take(struct published_set *s, const char *key, char *value, intmax_t num,
		struct published_entry *e, int *field, struct why *why)
{
	static const char *const order[] = { "base", "dn", "marker", "text" };
	if (*field > 0 || strcmp(key, "base") == 0) {
		if (strcmp(key, order[*field]) != 0) {
			free(value);
			return why_set(why, -EBADMSG, "entry: \"%s\" where \"%s\" belongs", key,
				       order[*field]);
		}
		char **slot[] = { &e->base, &e->dn, &e->marker, &e->text };
		*slot[*field] = value;
		if (++*field < 4)
			return 0;
		*field = 0;
		if (s->n >= PUBLISHED_MAX_ENTRIES ||
		    grow(&s->items, s->n + 1, sizeof(*s->items)) < 0)
			return s->n >= PUBLISHED_MAX_ENTRIES
				       ? why_set(why, -EBADMSG, "more than %d entries",
						 PUBLISHED_MAX_ENTRIES)
				       : -ENOMEM;
		s->items[s->n++] = *e;
		*e = (struct published_entry){ 0 };
		return 0;
	}
	char **one = strcmp(key, "dc") == 0        ? &s->dc
		     : strcmp(key, "host") == 0    ? &s->host
		     : strcmp(key, "host-dn") == 0 ? &s->host_dn
						   : NULL;
	if (one) {
		if (*one) {
			free(value);
			return why_set(why, -EBADMSG, "\"%s\" twice", key);
		}
		*one = value;
	} else if (strcmp(key, "group") == 0) {
		if (s->n_groups >= PUBLISHED_MAX_ENTRIES ||
		    grow(&s->groups, s->n_groups + 2, sizeof(*s->groups)) < 0) {
			free(value);
			return s->n_groups >= PUBLISHED_MAX_ENTRIES
				       ? why_set(why, -EBADMSG, "too many groups")
				       : -ENOMEM;
		}
		s->groups[s->n_groups++] = value;
		s->groups[s->n_groups] = NULL;
	} else if (strcmp(key, "verified") == 0 && num >= 0) {
		s->verified = (time_t)num;
	} else if (strcmp(key, "groups-known") == 0 && (num == 0 || num == 1)) {
		s->groups_known = num == 1;
	} else {
		free(value);
		return why_set(why, -EBADMSG, "unknown record \"%s\"", key);
	}
	return 0;
}

int published_parse(const char *buf, size_t len, struct published_set *ret, struct why *why)
{
	*ret = (struct published_set){ 0 };
	why->text[0] = '\0';
	size_t tail = strlen(SUM_KEY) + SUM_LEN + 1;
	if (len > MAX_BYTES || len < strlen(HEADER) + tail ||
	    memcmp(buf, HEADER, strlen(HEADER)) != 0)
		return why_set(why, -EBADMSG, "not a published set");
	const char *sum = buf + len - tail;
	char hex[SUM_LEN + 1];
	textrec_sha256_hex(buf, (size_t)(sum - buf), hex, SUM_LEN);
	if (memcmp(sum, SUM_KEY, strlen(SUM_KEY)) != 0 || buf[len - 1] != '\n' ||
	    memcmp(sum + strlen(SUM_KEY), hex, SUM_LEN) != 0)
		return why_set(why, -EBADMSG, "its checksum does not match");

	struct cursor c = { buf + strlen(HEADER), sum, why };
	struct published_entry e = { 0 };
	int field = 0, r = 0;
	while (r == 0 && c.p < c.end) {
		char key[16];
		char *value = NULL;
		intmax_t num = 0;
		r = next(&c, key, sizeof(key), &value, &num);
		if (r == 0)
			r = take(ret, key, value, num, &e, &field, why);
	}
	if (r == 0 && field != 0)
		r = why_set(why, -EBADMSG, "a cut entry");
	free(e.base), free(e.dn), free(e.marker), free(e.text);
	if (r < 0)
		published_clear(ret);
	return r;
}

/* --- the file ------------------------------------------------------------------- */

int published_load(const char *state_dir, struct published_set *ret, struct why *why)
{
	*ret = (struct published_set){ 0 };
	why->text[0] = '\0';
	int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = dfd < 0 ? -1 : openat(dfd, PUBLISHED_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int r = fd < 0 ? -errno : 0;
	if (dfd >= 0)
		close(dfd);
	if (r < 0)
		return r == -ENOENT ? r : why_set(why, r, "%s", strerror(-r));
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077))
		r = why_set(why, -EPERM, "not root's alone (mode %04o, uid %u)",
			    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
	else if (st.st_size > MAX_BYTES)
		r = why_set(why, -EBADMSG, "too large");
	else if (!(buf = malloc((size_t)st.st_size + 1)))
		r = -ENOMEM;
	size_t got = 0;
	while (r == 0 && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : why_set(why, -EBADMSG, "cut short");
		else
			got += (size_t)n;
	}
	close(fd);
	if (r == 0)
		r = published_parse(buf, got, ret, why);
	free(buf);
	return r;
}

int published_save(const char *state_dir, const struct published_set *set)
{
	char *buf = NULL;
	size_t len = 0;
	int r = published_format(set, &buf, &len);
	if (r < 0)
		return r;
	int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dfd < 0 ? -errno : textrec_atomic_replace(dfd, PUBLISHED_FILE, buf, len, 0600);
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return r;
}

uint64_t published_fingerprint(const struct published_set *set)
{
	uint64_t h = UTIL_FNV_OFFSET;
	for (size_t i = 0; i < set->n; i++) {
		const struct published_entry *e = &set->items[i];
		const char *v[] = { e->base, e->dn, e->marker };
		for (size_t k = 0; k < 3; k++)
			h = util_fnv1a(h, v[k] ? v[k] : "", strlen(v[k] ? v[k] : "") + 1);
	}
	return h;
}

void published_clear(struct published_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->items[i].base);
		free(set->items[i].dn);
		free(set->items[i].marker);
		free(set->items[i].text);
	}
	free(set->items);
	for (size_t i = 0; i < set->n_groups; i++)
		free(set->groups[i]);
	free(set->groups);
	free(set->dc);
	free(set->host);
	free(set->host_dn);
	*set = (struct published_set){ 0 };
}

/* --- targets -------------------------------------------------------------------- */

/* Compares DNs as the directory writes them, case and blanks after ',' aside. */
static bool dn_equal(const char *a, const char *b)
{
	for (;;) {
		while (*a == ' ')
			a++;
		while (*b == ' ')
			b++;
		if (!*a || !*b)
			return !*a && !*b;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		a++, b++;
	}
}

/* The value of dn's first RDN ("lab" of "cn=lab,ou=groups,…"). */
static bool first_rdn_is(const char *dn, const char *name)
{
	const char *eq = strchr(dn, '=');
	if (!eq)
		return false;
	size_t n = strcspn(eq + 1, ",+");
	return strlen(name) == n && strncasecmp(eq + 1, name, n) == 0;
}

int published_targeted(const struct advert *a, const struct published_set *set, struct why *why)
{
	why->text[0] = '\0';
	if (!a->targets) {
		why_set(why, 1, "it has no targets: every host that reads it");
		return 1;
	}
	const char *host = set ? set->host : NULL;
	size_t first = host ? strcspn(host, ".") : 0;
	bool groups = set && set->groups_known;
	for (char **t = a->targets; *t; t++) {
		bool dn = strchr(*t, '=') != NULL, fqdn = !dn && strchr(*t, '.') != NULL;
		bool names_host = host && (fqdn ? strcasecmp(*t, host) == 0
						: !dn && strlen(*t) == first &&
							   strncasecmp(*t, host, first) == 0);
		if (names_host) {
			why_set(why, 1, "targets names this host (%s)", *t);
			return 1;
		}
		for (size_t i = 0; !fqdn && groups && i < set->n_groups; i++) {
			if (dn ? dn_equal(*t, set->groups[i]) : first_rdn_is(set->groups[i], *t)) {
				why_set(why, 1, "this host is in %s", set->groups[i]);
				return 1;
			}
		}
	}
	if (!groups)
		why_set(why, 0,
			"no target names this host (%s), and its groups are not known: "
			"the directory has not been read yet",
			host ? host : "name unknown");
	else
		why_set(why, 0, "no target names this host (%s) or one of its %zu groups",
			host ? host : "name unknown", set->n_groups);
	return 0;
}

char *published_host_of(const char *principal, const char *domain)
{
	if (!principal)
		return NULL;
	size_t n = strcspn(principal, "@");
	if (strncmp(principal, "host/", 5) == 0)
		return n > 5 ? strndup(principal + 5, n - 5) : NULL;
	/* An AD computer account, NAME$: the host is name.<domain>. */
	if (n < 2 || principal[n - 1] != '$' || !domain || memchr(principal, '/', n))
		return NULL;
	char *h = NULL;
	if (asprintf(&h, "%.*s.%s", (int)(n - 1), principal, domain) < 0)
		return NULL;
	for (char *p = h; *p && p < h + n - 1; p++)
		*p = (char)tolower((unsigned char)*p);
	return h;
}

/* SPDX-License-Identifier: MIT */
/* Domain controller location: configured servers or DNS SRV in RFC 2782 order, resolved
 * to addresses, and the affinity file that keeps a host on the DC that last worked. */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/dcloc.h"
#include "advert/util.h"

#define KDC_PORT      88
#define LDAP_PORT     389
#define AFFINITY_FILE "dc-affinity"
#define HOST_MAX      255

void dcloc_srv_free(struct srv_record *recs, size_t n)
{
	if (!recs)
		return;
	for (size_t i = 0; i < n; i++)
		free(recs[i].target);
	free(recs);
}

int dcloc_parse_srv(const unsigned char *answer, int len, struct srv_record **ret, size_t *ret_n)
{
	ns_msg msg;
	if (!answer || len <= 0 || ns_initparse(answer, len, &msg) < 0)
		return -EBADMSG;

	size_t count = ns_msg_count(msg, ns_s_an), n = 0;
	struct srv_record *recs = count ? calloc(count, sizeof(*recs)) : NULL;
	if (count && !recs)
		return -ENOMEM;

	int r = 0;
	for (size_t i = 0; i < count; i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, (int)i, &rr) < 0) {
			r = -EBADMSG;
			break;
		}
		/* A CNAME chain or DNSSEC records may ride along; only SRV answers count. */
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in)
			continue;
		const unsigned char *rd = ns_rr_rdata(rr);
		int rdlen = ns_rr_rdlen(rr);
		char name[NS_MAXDNAME];
		/* priority, weight, port, then a name that fills the rest exactly. */
		int k = rdlen > 6 ? dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 6, name,
					      sizeof(name))
				  : -1;
		if (k < 0 || k != rdlen - 6) {
			r = -EBADMSG;
			break;
		}
		recs[n].priority = ns_get16(rd);
		recs[n].weight = ns_get16(rd + 2);
		recs[n].port = ns_get16(rd + 4);
		/* The root name is the RFC's "service not available"; spell it the RFC's way. */
		recs[n].target = strdup(name[0] ? name : ".");
		if (!recs[n].target) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r < 0) {
		dcloc_srv_free(recs, n);
		return r;
	}
	*ret = recs;
	*ret_n = n;
	return 0;
}

/* splitmix64: tiny, well mixed, and the same on every platform, so a host's seed gives
 * it the same DC order everywhere. */
static uint64_t prng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Moves recs[from] to recs[to] (to <= from), shifting the ones between up by one. */
static void move_back(struct srv_record *recs, size_t to, size_t from)
{
	struct srv_record t = recs[from];
	memmove(recs + to + 1, recs + to, (from - to) * sizeof(*recs));
	recs[to] = t;
}

void dcloc_order_srv(struct srv_record *recs, size_t *n, uint64_t seed)
{
	size_t m = 0;
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(recs[i].target, ".") == 0)
			free(recs[i].target);
		else
			recs[m++] = recs[i];
	}
	*n = m;

	/* Insertion sort: stable (qsort is not, and the order must not depend on libc),
	 * and SRV sets are small. Zero weights go first within a priority, as the RFC's
	 * selection wants them before the running sum. */
	for (size_t i = 1; i < m; i++) {
		size_t j = i;
		while (j > 0 && (recs[j - 1].priority > recs[i].priority ||
				 (recs[j - 1].priority == recs[i].priority &&
				  recs[j - 1].weight > 0 && recs[i].weight == 0)))
			j--;
		move_back(recs, j, i);
	}

	uint64_t state = seed;
	for (size_t start = 0; start < m;) {
		size_t end = start;
		while (end < m && recs[end].priority == recs[start].priority)
			end++;
		for (size_t pos = start; pos + 1 < end; pos++) {
			uint64_t total = 0;
			for (size_t j = pos; j < end; j++)
				total += recs[j].weight;
			uint64_t x = prng_next(&state);
			size_t j = pos;
			if (total == 0) {
				/* The RFC's walk would keep the listed order, sending the
				 * whole fleet to the first DC: spread evenly instead. */
				j += (size_t)(x % (end - pos));
			} else {
				/* Uniform in [0, total]; the modulo bias is below 2^-40. */
				uint64_t pick = x % (total + 1), sum = 0;
				for (; j < end; j++) {
					sum += recs[j].weight;
					if (sum >= pick)
						break;
				}
			}
			move_back(recs, pos, j < end ? j : end - 1);
		}
		start = end;
	}
}

void dcloc_list_free(struct dc_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].host);
		free(l->items[i].address);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static bool is_numeric_address(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The first address of host, numeric, malloc'd: 0, -ENOENT when it does not resolve, or
 * -ENOMEM. */
static int resolve(const char *host, char **ret)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	int e = getaddrinfo(host, NULL, &hints, &ai);
	if (e == EAI_MEMORY)
		return -ENOMEM;
	if (e != 0 || !ai)
		return -ENOENT;
	char buf[NI_MAXHOST];
	e = getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof(buf), NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(ai);
	if (e == EAI_MEMORY)
		return -ENOMEM;
	if (e != 0)
		return -ENOENT;
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

/* Appends a copy of host with its address (or the resolved one): 0, -ENOENT when it has
 * no usable address (skipped), -ENOMEM. */
static int list_add(struct dc_list *l, const char *host, const char *address, unsigned kdc_port,
		    unsigned ldap_port)
{
	struct dc d = { .kdc_port = kdc_port, .ldap_port = ldap_port };
	int r;
	if (address) {
		if (!is_numeric_address(address))
			return -ENOENT;
		d.address = strdup(address);
		r = d.address ? 0 : -ENOMEM;
	} else {
		r = resolve(host, &d.address);
	}
	if (r < 0)
		return r;
	d.host = strdup(host);
	struct dc *items = d.host ? realloc(l->items, (l->n + 1) * sizeof(*items)) : NULL;
	if (!items) {
		free(d.host);
		free(d.address);
		return -ENOMEM;
	}
	items[l->n++] = d;
	l->items = items;
	return 0;
}

static bool seen_has(char **seen, size_t n, const char *host)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(seen[i], host) == 0)
			return true;
	return false;
}

struct srv_query {
	char *name;
	bool kerberos; /* the record's port is the KDC's, not LDAP's */
};

/* One SRV name into l, skipping hosts already seen. A name that does not exist or does
 * not answer adds nothing; only -ENOMEM is an error. */
static int add_srv(res_state rs, const struct srv_query *q, uint64_t seed, unsigned char *buf,
		   int bufsize, struct dc_list *l, char ***seen, size_t *n_seen)
{
	int len = res_nquery(rs, q->name, ns_c_in, ns_t_srv, buf, bufsize);
	if (len <= 0)
		return 0;
	if (len > bufsize) /* cut short: nothing trustworthy to parse */
		return 0;

	struct srv_record *recs = NULL;
	size_t n = 0;
	int r = dcloc_parse_srv(buf, len, &recs, &n);
	if (r == -EBADMSG)
		return 0;
	if (r < 0)
		return r;
	dcloc_order_srv(recs, &n, seed);

	for (size_t i = 0; i < n && r == 0; i++) {
		const struct srv_record *s = &recs[i];
		/* Tried once per host: the first occurrence wins, and a name that did not
		 * resolve will not resolve on its second mention either. */
		if (seen_has(*seen, *n_seen, s->target))
			continue;
		char **ns = realloc(*seen, (*n_seen + 1) * sizeof(**seen));
		if (!ns) {
			r = -ENOMEM;
			break;
		}
		*seen = ns;
		if (!(ns[*n_seen] = strdup(s->target))) {
			r = -ENOMEM;
			break;
		}
		(*n_seen)++;
		r = list_add(l, s->target, NULL, q->kerberos ? s->port : KDC_PORT,
			     q->kerberos ? LDAP_PORT : s->port);
		if (r == -ENOENT)
			r = 0;
	}
	dcloc_srv_free(recs, n);
	return r;
}

static int add_query(struct srv_query *q, size_t *nq, bool kerberos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int add_query(struct srv_query *q, size_t *nq, bool kerberos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vasprintf(&q[*nq].name, fmt, ap);
	va_end(ap);
	if (k < 0) {
		q[*nq].name = NULL; /* vasprintf leaves it undefined on failure */
		return -ENOMEM;
	}
	q[(*nq)++].kerberos = kerberos;
	return 0;
}

static int candidates_dns(const struct config *cfg, uint64_t seed, struct dc_list *l)
{
	const char *domain = cfg->directory.domain;
	const char *realm =
		cfg->directory.realm && cfg->directory.realm[0] ? cfg->directory.realm : domain;
	const char *site = cfg->directory.site;
	struct srv_query q[3] = { { 0 } };
	size_t nq = 0;
	int r = 0;
	if (site && site[0])
		r = add_query(q, &nq, false, "_ldap._tcp.%s._sites.dc._msdcs.%s", site, domain);
	if (r == 0)
		r = add_query(q, &nq, false, "_ldap._tcp.dc._msdcs.%s", domain);
	if (r == 0)
		r = add_query(q, &nq, true, "_kerberos._tcp.%s", realm);

	struct __res_state rs;
	memset(&rs, 0, sizeof(rs));
	bool rs_open = false;
	if (r == 0) {
		if (res_ninit(&rs) < 0) {
			/* No resolver configuration: no DNS candidates, not an error. */
			nq = 0;
		} else {
			rs_open = true;
			/* Discovery must not outlast the run's own network timeout. */
			rs.retrans = cfg->directory.timeout > 0 ? cfg->directory.timeout : 1;
			rs.retry = 1;
		}
	}

	unsigned char *buf = r == 0 ? malloc(NS_MAXMSG) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	char **seen = NULL;
	size_t n_seen = 0;
	for (size_t i = 0; i < nq && r == 0; i++)
		r = add_srv(&rs, &q[i], seed, buf, NS_MAXMSG, l, &seen, &n_seen);

	for (size_t i = 0; i < n_seen; i++)
		free(seen[i]);
	free(seen);
	free(buf);
	if (rs_open)
		res_nclose(&rs);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		free(q[i].name);
	return r;
}

int dcloc_candidates(const struct config *cfg, uint64_t seed, struct dc_list *ret)
{
	if (!cfg || !ret)
		return -EINVAL;
	struct dc_list l = { 0 };
	int r = 0;
	if (cfg->directory.n_servers > 0) {
		for (size_t i = 0; i < cfg->directory.n_servers && r == 0; i++) {
			const struct config_server *s = &cfg->directory.servers[i];
			if (!s->host || !s->host[0])
				continue;
			/* One server that does not resolve must not cost the others. */
			r = list_add(&l, s->host, s->address, KDC_PORT, LDAP_PORT);
			if (r == -ENOENT)
				r = 0;
		}
	} else if (cfg->directory.domain && cfg->directory.domain[0]) {
		r = candidates_dns(cfg, seed, &l);
	} else {
		r = -EINVAL;
	}
	if (r < 0) {
		dcloc_list_free(&l);
		return r;
	}
	*ret = l;
	return 0;
}

void dcloc_prefer(struct dc_list *l, const char *host)
{
	if (!l || !host)
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (strcasecmp(l->items[i].host, host) == 0) {
			struct dc d = l->items[i];
			memmove(l->items + 1, l->items, i * sizeof(*l->items));
			l->items[0] = d;
			return;
		}
	}
}

/* A DNS name as we store it: no whitespace or control characters, nothing empty or
 * longer than DNS allows. */
static bool host_valid(const char *s, size_t n)
{
	if (n == 0 || n > HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

int dcloc_affinity_load(const char *state_dir, char **ret_host)
{
	char *path = NULL;
	if (asprintf(&path, "%s/" AFFINITY_FILE, state_dir) < 0)
		return -ENOMEM;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return -errno;

	char buf[HOST_MAX + 3];
	size_t len = 0;
	int r = 0;
	for (;;) {
		ssize_t k = read(fd, buf + len, sizeof(buf) - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r = -errno;
		if (k <= 0)
			break;
		len += (size_t)k;
		if (len == sizeof(buf))
			break;
	}
	close(fd);
	if (r < 0)
		return r;
	/* One line; the newline is optional so that a hand-written file works. */
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (!host_valid(buf, len))
		return -EBADMSG;
	char *h = strndup(buf, len);
	if (!h)
		return -ENOMEM;
	*ret_host = h;
	return 0;
}

int dcloc_affinity_save(const char *state_dir, const char *host)
{
	size_t n = strlen(host);
	if (!host_valid(host, n))
		return -EINVAL;

	char *path = NULL, *tmp = NULL;
	if (asprintf(&path, "%s/" AFFINITY_FILE, state_dir) < 0)
		return -ENOMEM;
	/* Runs for different accounts may save at once: each writes its own temp file. */
	if (asprintf(&tmp, "%s/." AFFINITY_FILE ".XXXXXX", state_dir) < 0) {
		free(path);
		return -ENOMEM;
	}
	int r = 0;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
	} else {
		char line[HOST_MAX + 2];
		int len = snprintf(line, sizeof(line), "%s\n", host);
		ssize_t k;
		do
			k = write(fd, line, (size_t)len);
		while (k < 0 && errno == EINTR);
		if (k < 0)
			r = -errno;
		else if (k != len)
			r = -EIO;
		if (r == 0 && fchmod(fd, 0644) < 0)
			r = -errno;
		if (r == 0 && fsync(fd) < 0)
			r = -errno;
		if (close(fd) < 0 && r == 0)
			r = -errno;
		if (r == 0 && rename(tmp, path) < 0)
			r = -errno;
		if (r < 0)
			unlink(tmp);
	}
	if (r == 0) {
		int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0)
			r = -errno;
		if (dfd >= 0)
			close(dfd);
	}
	free(tmp);
	free(path);
	return r;
}

uint64_t dcloc_host_seed(void)
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	return util_fnv1a(UTIL_FNV_OFFSET, host, strlen(host));
}

int dcloc_server(const char *host, struct dc *ret)
{
	*ret = (struct dc){ .kdc_port = 88, .ldap_port = 389 };
	int r = is_numeric_address(host) ? ((ret->address = strdup(host)) ? 0 : -ENOMEM)
					 : resolve(host, &ret->address);
	if (r == 0 && !(ret->host = strdup(host)))
		r = -ENOMEM;
	if (r < 0) {
		free(ret->address);
		*ret = (struct dc){ 0 };
	}
	return r;
}

int dcloc_for_run(const struct config *cfg, struct dc_list *ret, char **ret_affinity)
{
	*ret_affinity = NULL;
	int r = dcloc_candidates(cfg, dcloc_host_seed(), ret);
	if (r == 0 && dcloc_affinity_load(cfg->state_dir, ret_affinity) == 0)
		dcloc_prefer(ret, *ret_affinity);
	return r;
}

void dcloc_worked(const char *state_dir, const char *affinity, const char *host)
{
	if (!affinity || strcmp(affinity, host) != 0)
		dcloc_affinity_save(state_dir, host);
}

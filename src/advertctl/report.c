/* SPDX-License-Identifier: MIT */
/* advertctl report: the fleet's status, from the syslog lines a central collector keeps
 * (forwarded from every workstation), like SMS's advertisement status summary: per
 * advertisement, the hosts by their latest state. Streaming, one line at a time, memory
 * bounded by the (advertisement, host) pairs seen; any byte may arrive. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "advert/advert.h"
#include "advert/log.h"
#include "advert/statusparse.h"
#include "advert/util.h"
#include "advertctl.h"

#define REPORT_PAIRS_MAX (1u << 20) /* beyond, lines are counted, not kept */
#define REPORT_SHOWN     10         /* hosts listed per state in the text report */

enum host_state {
	ST_SUCCEEDED,
	ST_FAILED,
	ST_NOT_STARTED,
	ST_RUNNING,
	ST_WAITING,
	ST_RESTART,
	ST_HOLDING,
	ST_WITHDRAWN,
	ST_COUNT,
};

static const char *const state_names[ST_COUNT] = {
	"succeeded", "failed",          "not-started",   "running",
	"waiting",   "restart-pending", "guard-holding", "withdrawn",
};

/* What a status message says of the host's state for its advertisement; -1: nothing. */
static int state_of(int id)
{
	switch (id) {
	case 10005:
		return ST_RUNNING;
	case 10008:
		return ST_SUCCEEDED;
	case 10022:
		return ST_RESTART;
	case 10006:
	case 11001:
	case 11007:
		return ST_FAILED;
	case 10003:
	case 10018:
	case 11005:
		return ST_NOT_STARTED;
	case 11008:
		return ST_HOLDING;
	case 11003:
	case 11004:
	case 11031:
		return ST_WAITING;
	case 11011:
		return ST_WITHDRAWN;
	default:
		return -1;
	}
}

struct pair {
	char *advert, *host, *reason;
	int state;
};

struct report {
	struct pair *v;
	size_t n, cap; /* cap: a power of two; open addressing */
	unsigned long long lines, ignored, dropped;
	const char *only_host, *only_advert;
};

static uint64_t pair_hash(const char *advert, const char *host)
{
	uint64_t h = util_fnv1a(UTIL_FNV_OFFSET, advert, strlen(advert) + 1);
	return util_fnv1a(h, host, strlen(host));
}

static int grow(struct report *r)
{
	size_t cap = r->cap ? 2 * r->cap : 1024;
	struct pair *v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->cap; i++) {
		if (!r->v[i].advert)
			continue;
		size_t k = pair_hash(r->v[i].advert, r->v[i].host) & (cap - 1);
		while (v[k].advert)
			k = (k + 1) & (cap - 1);
		v[k] = r->v[i];
	}
	free(r->v);
	r->v = v;
	r->cap = cap;
	return 0;
}

static struct pair *pair_of(struct report *r, const char *advert, const char *host)
{
	if ((r->n + 1) * 2 > r->cap && (r->n >= REPORT_PAIRS_MAX || grow(r) < 0))
		return NULL;
	size_t k = pair_hash(advert, host) & (r->cap - 1);
	while (r->v[k].advert) {
		if (strcmp(r->v[k].advert, advert) == 0 && strcmp(r->v[k].host, host) == 0)
			return &r->v[k];
		k = (k + 1) & (r->cap - 1);
	}
	if (!(r->v[k].advert = strdup(advert)) || !(r->v[k].host = strdup(host))) {
		free(r->v[k].advert);
		r->v[k].advert = NULL;
		return NULL;
	}
	r->n++;
	return &r->v[k];
}

static void take_line(struct report *r, const char *line, size_t len, struct status_parsed *p)
{
	r->lines++;
	int st = status_parse_line(line, len, p) ? state_of(p->id) : -1;
	const char *advert = st >= 0 ? status_parsed_get(p, "advert") : NULL;
	if (!advert || !advert_id_valid(advert)) {
		r->ignored++;
		return;
	}
	if ((r->only_host && strcmp(r->only_host, p->host) != 0) ||
	    (r->only_advert && strcmp(r->only_advert, advert) != 0))
		return;
	struct pair *e = pair_of(r, advert, p->host);
	if (!e) {
		r->dropped++;
		return;
	}
	e->state = st;
	free(e->reason);
	const char *why = status_parsed_get(p, "reason");
	e->reason = why && *why ? strdup(why) : NULL;
}

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = *(const struct pair *const *)a, *y = *(const struct pair *const *)b;
	int c = strcmp(x->advert, y->advert);
	if (c == 0)
		c = x->state - y->state;
	return c ? c : strcmp(x->host, y->host);
}

static void print_text(const struct report *r, struct pair **sorted)
{
	for (size_t i = 0; i < r->n;) {
		size_t j = i;
		unsigned count[ST_COUNT] = { 0 };
		while (j < r->n && strcmp(sorted[j]->advert, sorted[i]->advert) == 0)
			count[sorted[j++]->state]++;
		tty_put(sorted[i]->advert, 0, false);
		printf(": %zu host(s)", j - i);
		for (int s = 0; s < ST_COUNT; s++)
			if (count[s])
				printf(", %u %s", count[s], state_names[s]);
		putchar('\n');
		for (size_t k = i; k < j;) {
			int s = sorted[k]->state;
			size_t shown = 0, n = 0;
			for (; k < j && sorted[k]->state == s; k++, n++) {
				if (s == ST_SUCCEEDED || s == ST_RUNNING || shown >= REPORT_SHOWN)
					continue;
				printf("  %-14s ", state_names[s]);
				tty_put(sorted[k]->host, 0, false);
				if (sorted[k]->reason) {
					printf(": ");
					tty_put(sorted[k]->reason, 0, false);
				}
				putchar('\n');
				shown++;
			}
			if (n > shown && shown)
				printf("  %-14s … and %zu more\n", state_names[s], n - shown);
		}
		i = j;
	}
	printf("%llu line(s), %llu not advertd's or without an advertisement%s\n", r->lines,
	       r->ignored, r->dropped ? "" : "");
	if (r->dropped)
		printf("%llu line(s) beyond %u (advertisement, host) pairs were left out\n",
		       r->dropped, REPORT_PAIRS_MAX);
}

static void print_json(const struct report *r, struct pair **sorted)
{
	struct json_object *o = json_object_new_object(), *ads = json_object_new_array();
	for (size_t i = 0; i < r->n;) {
		struct json_object *a = json_object_new_object(), *hosts = json_object_new_array();
		struct json_object *counts = json_object_new_object();
		unsigned count[ST_COUNT] = { 0 };
		size_t j = i;
		for (; j < r->n && strcmp(sorted[j]->advert, sorted[i]->advert) == 0; j++) {
			struct json_object *h = json_object_new_object();
			json_object_object_add(h, "host", json_object_new_string(sorted[j]->host));
			json_object_object_add(
				h, "state", json_object_new_string(state_names[sorted[j]->state]));
			if (sorted[j]->reason)
				json_object_object_add(h, "reason",
						       json_object_new_string(sorted[j]->reason));
			json_object_array_add(hosts, h);
			count[sorted[j]->state]++;
		}
		for (int s = 0; s < ST_COUNT; s++)
			json_object_object_add(counts, state_names[s],
					       json_object_new_int(count[s]));
		json_object_object_add(a, "advert", json_object_new_string(sorted[i]->advert));
		json_object_object_add(a, "counts", counts);
		json_object_object_add(a, "hosts", hosts);
		json_object_array_add(ads, a);
		i = j;
	}
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "advertisements", ads);
	json_object_object_add(o, "lines", json_object_new_int64((int64_t)r->lines));
	json_object_object_add(o, "ignored", json_object_new_int64((int64_t)r->ignored));
	json_object_object_add(o, "dropped", json_object_new_int64((int64_t)r->dropped));
	struct json_object *clean = json_clean(o);
	json_put(json_object_to_json_string_ext(clean, JSON_C_TO_STRING_PRETTY));
	json_object_put(clean);
	json_object_put(o);
}

int report_main(bool json, int argc, char **argv)
{
	struct report r = { 0 };
	char **files = calloc((size_t)argc + 1, sizeof(*files));
	size_t n_files = 0;
	if (!files)
		return EXIT_PROBLEMS;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			r.only_host = argv[++i];
		else if (strcmp(argv[i], "--advert") == 0 && i + 1 < argc)
			r.only_advert = argv[++i];
		else
			files[n_files++] = argv[i];
	}
	struct status_parsed *p = malloc(sizeof(*p));
	char *line = NULL;
	size_t cap = 0;
	int rc = p ? EXIT_SUCCESS : EXIT_PROBLEMS;
	for (size_t i = 0; p && i < (n_files ? n_files : 1); i++) {
		FILE *f = n_files ? fopen(files[i], "re") : stdin;
		if (!f) {
			log_error_errno(-errno, "%s", files[i]);
			rc = EXIT_PROBLEMS;
			continue;
		}
		for (ssize_t len; (len = getline(&line, &cap, f)) > 0;) {
			if (line[len - 1] == '\n')
				len--;
			take_line(&r, line, (size_t)len, p);
		}
		if (f != stdin)
			fclose(f);
	}
	struct pair **sorted = calloc(r.n + 1, sizeof(*sorted));
	size_t k = 0;
	for (size_t i = 0; sorted && i < r.cap; i++)
		if (r.v[i].advert)
			sorted[k++] = &r.v[i];
	if (sorted) {
		qsort(sorted, k, sizeof(*sorted), cmp_pair);
		if (json)
			print_json(&r, sorted);
		else
			print_text(&r, sorted);
	}
	for (size_t i = 0; i < r.cap; i++) {
		free(r.v[i].advert);
		free(r.v[i].host);
		free(r.v[i].reason);
	}
	free(r.v);
	free(sorted);
	free(line);
	free(p);
	free(files);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* bench/poll-bench CONFIG IDLE [CHANGE-COMMAND]: what a poll of the published
 * advertisements costs, in one process as the poller does it: the first poll (connect,
 * bind, everything read), IDLE polls with nothing new on the kept connection, one poll
 * that reads the host's groups again (every PUBPOLL_GROUPS_EVERY-th), and, after
 * CHANGE-COMMAND has written one entry, the poll that picks it up. One line per kind:
 * "KIND median=MS kdc=N conn=N binds=N searches=N sent=B received=B saved=0|1". */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "advert/config.h"
#include "advert/diag.h"
#include "advert/identity.h"
#include "advert/pubpoll.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void line(const char *kind, const struct pubpoll_report *r, double median)
{
	printf("%s median=%.3f kdc=%u conn=%u binds=%u searches=%u sent=%llu received=%llu "
	       "saved=%d ok=%d\n",
	       kind, median, r->kdc_requests, r->connections, r->binds, r->searches, r->bytes_sent,
	       r->bytes_received, r->saved, r->ok);
}

static int poll_once(struct pubpoll *p, const char *kind)
{
	struct pubpoll_report rep;
	int r = pubpoll_run(p, time(NULL), &rep);
	if (r < 0)
		fprintf(stderr, "%s poll: %s\n", kind, rep.why.text);
	line(kind, &rep, rep.ms);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: poll-bench CONFIG IDLE [CHANGE-COMMAND]\n");
		return 2;
	}
	struct config *cfg = NULL;
	struct diag_list diags = { 0 };
	if (config_load(argv[1], &cfg, &diags) < 0 || diag_count(&diags, DIAG_ERROR)) {
		diag_print(&diags, stderr);
		return 1;
	}
	identity_prewarm(cfg);
	struct pubpoll p;
	struct why why;
	if (pubpoll_init(&p, cfg, &why) < 0)
		fprintf(stderr, "cache: %s\n", why.text);
	if (poll_once(&p, "first") < 0)
		return 1;

	int idle = atoi(argv[2]);
	double *ms = calloc((size_t)(idle > 0 ? idle : 1), sizeof(*ms));
	struct pubpoll_report last = { 0 };
	for (int i = 0; i < idle; i++) {
		/* Every poll an idle one: the host's groups are the next test's. */
		p.polls_since_groups = 0;
		if (pubpoll_run(&p, time(NULL), &last) < 0) {
			fprintf(stderr, "idle poll: %s\n", last.why.text);
			return 1;
		}
		ms[i] = last.ms;
	}
	qsort(ms, (size_t)idle, sizeof(*ms), cmp_double);
	line("idle", &last, idle ? ms[idle / 2] : 0);

	p.polls_since_groups = PUBPOLL_GROUPS_EVERY;
	if (poll_once(&p, "groups") < 0)
		return 1;
	if (argc > 3) {
		if (system(argv[3]) != 0) {
			fprintf(stderr, "the change command failed\n");
			return 1;
		}
		p.polls_since_groups = 0;
		if (poll_once(&p, "change") < 0)
			return 1;
	}
	free(ms);
	pubpoll_close(&p);
	config_free(cfg);
	diag_clear(&diags);
	return 0;
}

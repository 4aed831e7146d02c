/* SPDX-License-Identifier: MIT */
/* What was said, across restarts: a status message is sent once per change of state, not
 * again at every start of advertd or every --once. state_dir/reported keeps
 *   v ID VERDICT    the verdict last reported for ID (will-not-rerun, expired, …)
 *   p DIGEST        a problem of the advertisement files already reported (11010)
 * and is rewritten whenever something new was said. A lost or damaged file costs one
 * round of repeated messages, nothing else. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advert/log.h"
#include "advert/textrec.h"
#include "daemon-internal.h"

#define REPORTED_FILE "reported"

static bool verdict_of(const char *name, enum schedule_verdict *ret)
{
	for (int v = 0; v <= SCHED_WAIT_LOGON; v++)
		if (strcmp(schedule_verdict_name((enum schedule_verdict)v), name) == 0) {
			*ret = (enum schedule_verdict)v;
			return true;
		}
	return false;
}

void daemon_reported_load(struct daemon *d)
{
	FILE *f = daemon_state_open(d, REPORTED_FILE);
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	uint64_t *seen = NULL;
	size_t n = 0, room = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char id[ADV_ID_MAX + 2], verdict[32];
		uint64_t h;
		enum schedule_verdict v;
		if (sscanf(line, "v %65s %31s", id, verdict) == 2 && advert_id_valid(id) &&
		    verdict_of(verdict, &v)) {
			struct advert_state *st = daemon_state_of(d, id);
			if (st) {
				st->plan.has_shown = true;
				st->plan.shown = v;
			}
		} else if (sscanf(line, "p %16" SCNx64, &h) == 1) {
			if (n == room) {
				uint64_t *g = reallocarray(seen, room ? 2 * room : 64, sizeof(*g));
				if (!g)
					break;
				seen = g;
				room = room ? 2 * room : 64;
			}
			seen[n++] = h;
		}
	}
	free(line);
	fclose(f);
	free(d->reported_problems);
	d->reported_problems = seen;
	d->n_reported = n;
}

void daemon_reported_save(struct daemon *d)
{
	if (!d->reported_dirty)
		return;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return;
	for (size_t i = 0; i < d->n_states; i++)
		if (d->states[i].plan.has_shown && d->states[i].seen)
			fprintf(m, "v %s %s\n", d->states[i].id,
				schedule_verdict_name(d->states[i].plan.shown));
	for (size_t i = 0; i < d->n_reported; i++)
		fprintf(m, "p %016" PRIx64 "\n", d->reported_problems[i]);
	if (fclose(m) != 0) {
		free(buf);
		return;
	}
	if (daemon_state_write(d, REPORTED_FILE, buf, len) == 0)
		d->reported_dirty = false;
	else
		log_debug("cannot record what was reported in %s", d->cfg->state_dir);
	free(buf);
}

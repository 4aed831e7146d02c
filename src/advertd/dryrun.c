/* SPDX-License-Identifier: MIT */
/* advertd --dry-run: what a run now would do, decided exactly as the daemon decides, but
 * touching nothing: no DC, no history written (it is read without its lock), no status
 * message, no program. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "advert/check.h"
#include "advert/dcloc.h"
#include "advert/log.h"
#include "advert/rfc3339.h"
#include "daemon-internal.h"
#include "daemon.h"

/* "swinstall with admin rights", "system (root, the client token account's ticket)". */
static void as_whom(const struct advert *a, char *buf, size_t size)
{
	if (strcmp(a->program.run_as, "system") == 0)
		snprintf(buf, size, "system (root, the client token account's ticket)");
	else if (a->program.rights == ADV_RIGHTS_ADMIN)
		snprintf(buf, size, "%s with admin rights (root, %s's tickets only)",
			 a->program.run_as, a->program.run_as);
	else
		snprintf(buf, size, "%s", a->program.run_as);
}

static void print_one(struct daemon *d, const struct advert *a, time_t now, const char *dc,
		      unsigned *due, unsigned *waiting)
{
	struct schedule_decision dec = daemon_decide(d, a, now);
	char who[256], when[RFC3339_BUFSIZE];
	as_whom(a, who, sizeof(who));
	char machine[128];
	if (dec.verdict == SCHED_DUE && !advert_platform_ok(a, machine, sizeof(machine))) {
		printf("would not   %-12s due, but platform %s is not in its requirements\n", a->id,
		       machine);
		return;
	}
	if (dec.verdict == SCHED_DUE) {
		(*due)++;
		printf("would run   %-12s %s / %s as %s, on %s\n              %s\n", a->id,
		       a->package.name, a->program.name, who, dc, dec.reason);
		return;
	}
	if (dec.verdict == SCHED_WAIT && dec.when) {
		(*waiting)++;
		printf("waits until %s  %-12s as %s\n              %s\n",
		       rfc3339_format(dec.when, when, sizeof(when)), a->id, who, dec.reason);
		return;
	}
	printf("would not   %-12s %s\n", a->id, dec.reason);
}

int dryrun_main(const char *config_path)
{
	struct check_result res;
	int r = check_run(config_path, NULL, 0, &res);
	if (r < 0)
		return log_error_errno(r, "checking %s", config_path), 1;
	diag_print(&res.diags, stderr);
	size_t errors = diag_count(&res.diags, DIAG_ERROR);
	if (!res.config || !res.catalog) {
		check_result_clear(&res);
		return 1;
	}
	struct daemon d = { .cfg = res.config, .cat = res.catalog, .sfd = -1, .ifd = -1 };
	gethostname(d.host, sizeof(d.host) - 1);
	r = history_open_readonly(d.cfg->state_dir, &d.hist);
	if (r < 0) {
		log_error_errno(r, "cannot read the run history in %s", d.cfg->state_dir);
		check_result_clear(&res);
		return 1;
	}
	daemon_load_received(&d);

	/* The DC a run would try first, without asking DNS or any DC. */
	char *affinity = NULL;
	dcloc_affinity_load(d.cfg->state_dir, &affinity);
	char dc[300];
	snprintf(dc, sizeof(dc), "%s",
		 affinity                     ? affinity
		 : d.cfg->directory.n_servers ? d.cfg->directory.servers[0].host
		 : d.cfg->directory.realm     ? "a DC from DNS SRV"
					      : "no DC (local accounts only)");
	free(affinity);

	time_t now = time(NULL);
	unsigned due = 0, waiting = 0;
	printf("advertd --dry-run: what a run now would do (nothing is run, recorded or "
	       "sent)\n");
	for (size_t i = 0; i < d.cat->n; i++)
		print_one(&d, d.cat->items[i], now, dc, &due, &waiting);
	printf("%u would run now (at most %d at a time), %u wait, %zu advertisement(s); "
	       "%zu error(s)\n",
	       due, d.cfg->max_concurrent, waiting, d.cat->n, errors);

	history_close(d.hist);
	for (size_t i = 0; i < d.n_states; i++)
		daemon_state_clear(&d.states[i]);
	free(d.states);
	free(d.state_slots);
	check_result_clear(&res);
	return errors ? 1 : 0;
}

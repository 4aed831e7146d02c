/* SPDX-License-Identifier: MIT */
/* advertd --test-identity: the whole identity path once, in a child process, printed
 * for an admin — through the lockout guard like any run. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/identity.h"
#include "advert/log.h"
#include "advert/rfc3339.h"
#include "advert/util.h"
#include "testid.h"

static int exit_code(enum identity_stage s)
{
	switch (s) {
	case IDENTITY_STAGE_DONE:
		return TESTID_OK;
	case IDENTITY_STAGE_CONFIG:
		return TESTID_CONFIG;
	case IDENTITY_STAGE_SECRET:
		return TESTID_SECRET;
	case IDENTITY_STAGE_GUARD:
		return TESTID_GUARD;
	case IDENTITY_STAGE_LOCATE:
		return TESTID_NO_DC;
	case IDENTITY_STAGE_IMPERSONATE:
		return TESTID_REFUSED;
	default:
		return TESTID_LOOKUP;
	}
}

static void print_guard(const struct lockout_state *g)
{
	if (g->outcome == LOCKOUT_NONE)
		return;
	char when[RFC3339_BUFSIZE];
	printf("guard      %s since %s on %s", lockout_outcome_name(g->outcome),
	       rfc3339_format(g->since, when, sizeof(when)), g->dc[0] ? g->dc : "?");
	if (g->outcome != LOCKOUT_OK)
		printf(": %s", g->message);
	printf("\n");
}

/* The child: acquire, print, revert. */
static int run_child(const struct config *cfg, const char *account)
{
	struct identity *id = NULL;
	struct identity_report rep;
	int r = identity_acquire(cfg, account, time(NULL), &id, &rep);
	const struct config_account *acct = config_find_account(cfg, account);
	printf("account    %s", account);
	if (acct && acct->principal)
		printf(" (%s)", acct->principal);
	printf("\n");
	if (rep.dcs_tried[0])
		printf("dcs        %s\n", rep.dcs_tried);
	if (r < 0) {
		printf("failed     %s: %s\n", identity_stage_name(rep.stage), rep.why.text);
		if (rep.stage == IDENTITY_STAGE_GUARD && rep.verdict == LOCKOUT_HOLD_BACKOFF) {
			char until[RFC3339_BUFSIZE];
			printf("held until %s\n",
			       rfc3339_format(rep.hold_until, until, sizeof(until)));
		}
		print_guard(&rep.guard);
		if (rep.kdc_requests)
			printf("requests   %u KDC\n", rep.kdc_requests);
		return exit_code(rep.stage);
	}
	if (id->dc)
		printf("dc         %s (%s)\n", id->dc, id->dc_address);
	printf("uid        %u\ngid        %u\n", (unsigned)id->uid, (unsigned)id->gid);
	printf("home       %s\n", id->home ? id->home : "-");
	printf("groups    ");
	for (size_t i = 0; i < id->n_groups; i++) {
		const char *name = NULL;
		for (size_t j = 0; j < id->named.n; j++)
			if (id->named.items[j].gid == id->groups[i])
				name = id->named.items[j].name;
		printf(name ? " %u(%s)" : " %u", (unsigned)id->groups[i], name);
	}
	printf("\n");
	if (id->named.skipped)
		printf("skipped    %u group(s) without a gidNumber\n", id->named.skipped);
	if (id->dc) {
		printf("requests   %u KDC, %u LDAP connection(s), %u bind(s), %u search(es)",
		       rep.kdc_requests, rep.ldap_connections, rep.ldap_binds, rep.ldap_searches);
		if (rep.looked)
			printf(" (of which the check before knocking, as the client token "
			       "account: %u KDC, 1 connection, 1 bind, 2 searches)",
			       rep.kdc_requests_precheck);
		printf("\n");
		print_guard(&rep.guard);
	}
	double t = util_now_ms();
	identity_free(id);
	printf("timing     locate %.1f ms, impersonate %.1f ms, lookup %.1f ms, revert %.1f ms, "
	       "total %.1f ms\n",
	       rep.ms_locate, rep.ms_impersonate, rep.ms_lookup, util_now_ms() - t,
	       rep.ms_total + util_now_ms() - t);
	return TESTID_OK;
}

int testid_main(const struct config *cfg, const char *account)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return log_error_errno(-errno, "fork"), TESTID_OTHER;
	if (pid == 0) {
		int code = run_child(cfg, account);
		fflush(stdout);
		_exit(code);
	}

	/* The acquisition bounds itself (directory.timeout per DC); this is the backstop
	 * for a child stuck anywhere else. Waiting on a pidfd costs no polling. */
	unsigned n = cfg->directory.n_servers ? (unsigned)cfg->directory.n_servers : 3;
	int deadline = cfg->directory.timeout * (int)n + 5;
	int pfd = pidfd_open(pid, 0);
	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		int k;
		while ((k = poll(&p, 1, deadline * 1000)) < 0 && errno == EINTR)
			;
		close(pfd);
		if (k == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			log_error("identity check timed out after %d s", deadline);
			return TESTID_OTHER;
		}
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return log_error_errno(-errno, "waitpid"), TESTID_OTHER;
	if (WIFSIGNALED(status)) {
		log_error("identity check died of signal %d", WTERMSIG(status));
		return TESTID_OTHER;
	}
	return WEXITSTATUS(status);
}

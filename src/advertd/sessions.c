/* SPDX-License-Identifier: MIT */
/* User sessions: see sessions.h. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utmpx.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>
#endif

#include "sessions.h"

#ifdef HAVE_SYSTEMD
/* logind runs: the machine booted with systemd and logind keeps its session files. */
static bool have_logind(void)
{
	return sd_booted() > 0 && access("/run/systemd/sessions", F_OK) == 0;
}

static int read_logind(struct sessions *ret)
{
	char **ids = NULL;
	int n = sd_get_sessions(&ids);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		char *cls = NULL, *state = NULL;
		if (sd_session_get_class(ids[i], &cls) >= 0 && strcmp(cls, "user") == 0 &&
		    sd_session_get_state(ids[i], &state) >= 0 &&
		    (strcmp(state, "active") == 0 || strcmp(state, "online") == 0))
			ret->users++;
		free(cls);
		free(state);
		free(ids[i]);
	}
	free(ids);
	ret->source = "logind";
	return 0;
}
#endif

/* utmp: a login whose process is gone (a crash, a container's stale file) is no one. */
static int read_utmp(struct sessions *ret)
{
	ret->source = "utmp";
	errno = 0;
	setutxent();
	for (struct utmpx *u; (u = getutxent());) {
		if (u->ut_type != USER_PROCESS || !u->ut_user[0])
			continue;
		if (u->ut_pid > 0 && kill(u->ut_pid, 0) < 0 && errno == ESRCH)
			continue;
		ret->users++;
	}
	endutxent();
	return 0;
}

int sessions_read(struct sessions *ret)
{
	*ret = (struct sessions){ 0 };
#ifdef HAVE_SYSTEMD
	if (have_logind())
		return read_logind(ret);
#endif
	return read_utmp(ret);
}

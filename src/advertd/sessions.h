/* SPDX-License-Identifier: MIT */
/* Who is logged on, for program.when: systemd-logind's sessions (sd-login) where logind
 * runs, utmp otherwise (containers, minimal installs). */
#ifndef ADVERTD_SESSIONS_H
#define ADVERTD_SESSIONS_H

#include <stdbool.h>

struct sessions {
	unsigned users;     /* user sessions: logind class "user" that are online or active,
			     * or utmp USER_PROCESS entries whose process is alive */
	const char *source; /* "logind" or "utmp" */
};

/* Counts the user sessions now. Returns 0, or -errno when they cannot be read. */
int sessions_read(struct sessions *ret);

#endif

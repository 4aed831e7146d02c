/* SPDX-License-Identifier: MIT */
/* Writes real utmp records for the tests of program.when:
 *   utmp FILE login USER LINE PID   a USER_PROCESS entry on LINE for process PID
 *   utmp FILE logout LINE           that entry becomes DEAD_PROCESS
 * through the C library's own pututxline, as login(1) and sshd do. */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <utmpx.h>

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[2], "login") == 0 && argc != 6)) {
		fprintf(stderr, "usage: utmp FILE login USER LINE PID | utmp FILE logout LINE\n");
		return 2;
	}
	/* The C library opens an existing file only. */
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	close(fd);
	if (utmpxname(argv[1]) < 0) {
		perror(argv[1]);
		return 1;
	}
	bool login = strcmp(argv[2], "login") == 0;
	struct utmpx u = { .ut_type = login ? USER_PROCESS : DEAD_PROCESS };
	const char *line = login ? argv[4] : argv[3];
	snprintf(u.ut_line, sizeof(u.ut_line), "%s", line);
	/* ut_id is 4 bytes, not a string: the line's last four, as login(1) takes them. */
	size_t len = strlen(line), k = len > sizeof(u.ut_id) ? len - sizeof(u.ut_id) : 0;
	memcpy(u.ut_id, line + k, len - k);
	if (login) {
		snprintf(u.ut_user, sizeof(u.ut_user), "%s", argv[3]);
		u.ut_pid = atoi(argv[5]);
	}
	struct timeval tv;
	gettimeofday(&tv, NULL);
	u.ut_tv.tv_sec = (int32_t)tv.tv_sec;
	setutxent();
	if (!pututxline(&u)) {
		perror("pututxline");
		return 1;
	}
	endutxent();
	return 0;
}

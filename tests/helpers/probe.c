/* SPDX-License-Identifier: MIT */
/* probe: a program for tests to run as an advertisement. It reports, from inside the
 * run, what the run really got — ids, groups, open fds, environment, umask, session —
 * and does what it is told: try to regain root, exit with a code, ignore SIGTERM and
 * leave a double-forked setsid'd grandchild behind, write a lot of output, or sleep. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static void report(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	printf("uids=%u,%u,%u\ngids=%u,%u,%u\n", r, e, s, rg, eg, sg);
	gid_t g[256];
	int n = getgroups(256, g);
	printf("groups=");
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", g[i]);
	printf("\nfds=");
	DIR *d = opendir("/proc/self/fd");
	int self = dirfd(d), first = 1;
	for (struct dirent *de; (de = readdir(d));)
		if (de->d_name[0] != '.' && atoi(de->d_name) != self)
			printf("%s%s", first ? "" : ",", de->d_name), first = 0;
	closedir(d);
	mode_t m = umask(0);
	printf("\numask=%03o\nsid_is_pid=%d\n", m, getsid(0) == getpid());
	for (char **p = environ; *p; p++)
		printf("env:%s\n", *p);
	char cwd[4096];
	printf("cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "report") == 0) {
			report();
		} else if (strcmp(a, "regain-root") == 0) {
			int u = setuid(0), eu = seteuid(0), gr = setgid(0);
			printf("regain-root=%s\n",
			       u == 0 || eu == 0 || gr == 0 ? "succeeded" : "failed");
			fflush(stdout);
		} else if (strncmp(a, "exit=", 5) == 0) {
			return atoi(a + 5);
		} else if (strcmp(a, "ignore-term") == 0) {
			signal(SIGTERM, SIG_IGN);
		} else if (strncmp(a, "grandchild=", 11) == 0) {
			/* Double fork + setsid: escapes the process group, not the subreaper. */
			if (fork() == 0) {
				setsid();
				if (fork() == 0) {
					signal(SIGTERM, SIG_IGN);
					FILE *f = fopen(a + 11, "w");
					if (f) {
						fprintf(f, "%d\n", getpid());
						fclose(f);
					}
					for (;;)
						pause();
				}
				_exit(0);
			}
		} else if (strncmp(a, "output=", 7) == 0) {
			long n = atol(a + 7);
			for (long k = 0; k < n; k++)
				putchar(k % 64 == 63 ? '\n' : 'x');
			fflush(stdout);
		} else if (strncmp(a, "say=", 4) == 0) {
			puts(a + 4);
			fflush(stdout);
		} else if (strncmp(a, "sleep=", 6) == 0) {
			sleep((unsigned)atoi(a + 6));
		} else if (strncmp(a, "append=", 7) == 0) {
			/* One line per execution, for counting runs across crashes. */
			int fd = open(a + 7, O_WRONLY | O_CREAT | O_APPEND, 0666);
			if (fd >= 0) {
				char line[64];
				int len = snprintf(line, sizeof(line), "%d\n", getpid());
				if (write(fd, line, (size_t)len) < 0)
					perror("append");
				close(fd);
			}
		} else if (strncmp(a, "kill=", 5) == 0) {
			raise(atoi(a + 5));
		}
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* A run's process tree: every descendant of the run's process (a child subreaper), found
 * through /proc, signalled only while pinned as ours, and reaped. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/runner.h"
#include "runner-internal.h"

/* The parent of pid, from /proc/<pid>/stat; -1 when it is gone or a zombie. */
static pid_t proc_ppid(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	/* "pid (comm) state ppid …": comm may hold spaces and parentheses. */
	char *rp = strrchr(buf, ')');
	char state;
	int ppid;
	if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || state == 'Z')
		return -1;
	return (pid_t)ppid;
}

/* Every live descendant of root with its parent, from one scan of /proc (root itself
 * excluded). */
static size_t descendants(pid_t root, pid_t (*out)[2], size_t max)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	size_t cap = 4096, n = 0, found = 0;
	pid_t(*pairs)[2] = malloc(cap * sizeof(*pairs));
	if (!pairs) {
		closedir(d);
		return 0;
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(de->d_name), ppid = proc_ppid(pid);
		if (ppid < 0)
			continue;
		if (n == cap) {
			pid_t(*np)[2] = realloc(pairs, 2 * cap * sizeof(*pairs));
			if (!np)
				break;
			pairs = np;
			cap *= 2;
		}
		pairs[n][0] = pid;
		pairs[n][1] = ppid;
		n++;
	}
	closedir(d);
	/* Breadth-first from root over the parent links. */
	for (size_t i = 0; i < n; i++)
		if (pairs[i][1] == root && found < max)
			out[found][0] = pairs[i][0], out[found++][1] = root;
	for (size_t k = 0; k < found; k++)
		for (size_t i = 0; i < n; i++)
			if (pairs[i][1] == out[k][0] && found < max)
				out[found][0] = pairs[i][0], out[found++][1] = out[k][0];
	free(pairs);
	return found;
}

int runner_signal(pid_t pid, pid_t parent, int sig, bool group)
{
	/* A PID read from /proc may have been reaped and reused since: pin the process with
	 * a pidfd first, then make sure the pinned one is still parent's child. */
	int fd = pidfd_open(pid, 0);
	if (fd < 0)
		return -errno;
	int r = proc_ppid(pid) == parent ? 0 : -ESRCH;
	/* While the leader lives, its group id cannot be reused either. */
	if (r == 0 && group && kill(-pid, sig) < 0 && errno != ESRCH)
		r = -errno;
	if (r == 0 && pidfd_send_signal(fd, sig, NULL, 0) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Signals every process of the run (and the program's group while the program is not
 * reaped); returns how many were found. */
unsigned runner_signal_all(pid_t main_pid, bool main_done, int sig)
{
	static pid_t found[1024][2];
	size_t n = descendants(getpid(), found, sizeof(found) / sizeof(found[0]));
	if (main_pid > 0 && !main_done)
		runner_signal(main_pid, getpid(), sig, true);
	for (size_t i = 0; i < n; i++)
		runner_signal(found[i][0], found[i][1], sig, false);
	return (unsigned)n;
}

void runner_reap(pid_t main_pid, bool *main_done, int *main_status)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0)
			return;
		if (p == main_pid) {
			*main_done = true;
			*main_status = st;
		}
	}
}

/* Whether this process has any child left, exited or not. As a subreaper it inherits
 * every orphan of the run, so "no child" means "nothing of the run is left" — known
 * without scanning /proc. */
bool runner_has_children(void)
{
	siginfo_t si = { 0 };
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* Sleeps ms, then reaps whatever of the run has exited (re-parented ones too). */
void runner_pause_and_reap(long ms)
{
	struct timespec ts = { 0, ms * 1000 * 1000 };
	nanosleep(&ts, NULL);
	bool done;
	int st;
	runner_reap(-1, &done, &st);
}

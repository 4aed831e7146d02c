/* SPDX-License-Identifier: MIT */
/* bench/runner-bench: the cost from "identity ready" to the program's first instruction.
 * The program is this binary itself in "stamp" mode: it prints CLOCK_MONOTONIC as soon
 * as main() runs. Modes: advertd (runner_run: fork, drop with proof, scrubbed exec,
 * capture), setpriv and runuser (fork+exec of the util-linux tool doing the same drop). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/runner.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Reads the stamp the program wrote into path. */
static double read_stamp(const char *path)
{
	FILE *f = fopen(path, "r");
	double v = 0;
	if (f) {
		if (fscanf(f, "%lf", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "stamp") == 0) {
		printf("%.1f\n", now_us());
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: runner-bench advertd|setpriv|runuser SELF DIR RUNS\n");
		return 2;
	}
	const char *mode = argv[1], *self = argv[2], *dir = argv[3];
	int n = atoi(argv[4]);
	double *t = calloc((size_t)n, sizeof(*t));
	char log[4096];
	static const gid_t groups[] = { 65534 };
	static const int ok[] = { 0 };
	char *env[] = { "PATH=/usr/bin:/bin", "HOME=/", NULL };
	char *sargv[] = { (char *)self, "stamp", NULL };
	for (int i = 0; i < n; i++) {
		/* A fresh log each run: the runner refuses to overwrite one (O_EXCL). */
		snprintf(log, sizeof(log), "%s/stamp.%d.log", dir, i);
		double t0 = now_us(), stamp = 0;
		if (strcmp(mode, "advertd") == 0) {
			struct runner_spec s = {
				.argv = sargv,
				.working_dir = dir,
				.env = env,
				.uid = 65534,
				.gid = 65534,
				.groups = groups,
				.n_groups = 1,
				.max_runtime = 10,
				.kill_grace = 1,
				.log_path = log,
				.max_log_bytes = 4096,
				.success_codes = ok,
				.n_success_codes = 1,
			};
			struct runner_result r;
			int e = runner_run(&s, NULL, NULL, &r);
			if (e < 0 || r.outcome != RUNNER_SUCCEEDED) {
				fprintf(stderr, "runner-bench: run %d: %s\n", i,
					e < 0 ? strerror(-e) : r.reason);
				return 1;
			}
			stamp = read_stamp(log);
		} else {
			pid_t pid = fork();
			if (pid == 0) {
				int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				dup2(fd, 1);
				if (strcmp(mode, "setpriv") == 0)
					execl("/usr/bin/setpriv", "setpriv", "--reuid=65534",
					      "--regid=65534", "--groups=65534", self, "stamp",
					      (char *)NULL);
				else
					execl("/usr/sbin/runuser", "runuser", "-u", "nobody", "--",
					      self, "stamp", (char *)NULL);
				_exit(127);
			}
			int st;
			waitpid(pid, &st, 0);
			stamp = read_stamp(log);
		}
		unlink(log);
		t[i] = stamp - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%s median=%.0f p90=%.0f\n", mode, t[n / 2], t[n * 9 / 10]);
	free(t);
	return 0;
}

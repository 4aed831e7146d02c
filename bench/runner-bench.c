/* SPDX-License-Identifier: MIT */
/* bench/runner-bench: the cost from "identity ready" to the program's first instruction.
 * The program is this binary itself in "stamp" mode: it prints CLOCK_MONOTONIC and its CPU
 * as soon as main() runs. Modes, interleaved one sample each per round: advertd
 * (runner_run: fork, drop with proof, scrubbed exec, capture), setpriv and runuser
 * (fork+exec of the util-linux tool doing the same drop), and two that only explain:
 * steps (the runner's child path, replayed here with a stamp after each phase),
 * steps-loop (the same, closing fds one by one up to RLIMIT_NOFILE) and steps-nosid (the
 * same without setsid). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/runner.h"

#define UID_NOBODY 65534
#define MAX_MODES  8

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

/* Reads the stamp (time and CPU) the program wrote into path, then removes the file. */
static double read_stamp(const char *path, int *ret_cpu)
{
	FILE *f = fopen(path, "r");
	double v = 0;
	int cpu = -1;
	if (f) {
		if (fscanf(f, "%lf %d", &v, &cpu) != 2)
			v = 0;
		fclose(f);
	}
	unlink(path);
	*ret_cpu = cpu;
	return v;
}

/* The steps the runner's child takes, with a stamp after each (phase[] in shared memory,
 * so the parent reads them once the child has exec'd). */
enum phase {
	PH_SETUP,   /* parent: stat, resolve, log, /dev/null, pipes */
	PH_FORK,    /* fork until the child's first line */
	PH_SIGNALS, /* default dispositions, empty mask, setsid, umask */
	PH_FDS,     /* stdio onto the pipe and /dev/null, every other fd closed */
	PH_DROP,    /* setgroups, setresgid, setresuid and the proof */
	PH_CHDIR,
	PH_EXEC, /* execve until the program's main() */
	N_PHASES,
};
static const char *const phase_name[N_PHASES] = {
	"parent setup", "fork -> child runs", "signals, setsid", "stdio, close fds", "drop + proof",
	"chdir",        "execve -> main()",
};

enum {
	STEPS_CLOSE_LOOP = 1,   /* steps-loop: close(2) each fd up to RLIMIT_NOFILE */
	STEPS_SAME_SESSION = 2, /* steps-nosid: no setsid() */
};

static void __attribute__((noreturn))
steps_child(volatile double *ph, char *const *argv, char *const *env, const char *dir, int out,
	    int devnull, unsigned how)
{
	ph[PH_FORK] = now_us();
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	/* setsid() also puts the child in a new scheduler autogroup (when the harness runs in
	 * the root CPU cgroup): under load it then waits for the CPU here, not in the work. */
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 ||
	    (!(how & STEPS_SAME_SESSION) && setsid() < 0))
		_exit(120);
	umask(022);
	ph[PH_SIGNALS] = now_us();
	if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(121);
	if (how & STEPS_CLOSE_LOOP) {
		struct rlimit rl;
		int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
				  ? (int)rl.rlim_cur
				  : 1024;
		for (int fd = 3; fd < max; fd++)
			close(fd);
	} else if (close_range(3, ~0U, 0) < 0) {
		_exit(122);
	}
	ph[PH_FDS] = now_us();
	static const gid_t groups[] = { UID_NOBODY };
	if (setgroups(1, groups) < 0 || setresgid(UID_NOBODY, UID_NOBODY, UID_NOBODY) < 0 ||
	    setresuid(UID_NOBODY, UID_NOBODY, UID_NOBODY) < 0)
		_exit(123);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	static gid_t have[NGROUPS_MAX];
	if (getresuid(&ru, &eu, &su) < 0 || ru != UID_NOBODY || eu != UID_NOBODY ||
	    su != UID_NOBODY || getresgid(&rg, &eg, &sg) < 0 || rg != UID_NOBODY ||
	    eg != UID_NOBODY || sg != UID_NOBODY || getgroups(NGROUPS_MAX, have) != 1 ||
	    have[0] != UID_NOBODY || setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		_exit(124);
	ph[PH_DROP] = now_us();
	if (chdir(dir) < 0)
		_exit(125);
	ph[PH_CHDIR] = now_us();
	execve(argv[0], argv, env);
	_exit(127);
}

/* One sample of steps: the parent side mirrors runner_run up to the fork, then copies
 * the output to the log as the runner does. Returns the program's stamp, 0 on failure. */
static double steps_once(volatile double *ph, char *const *argv, char *const *env, const char *dir,
			 const char *log, unsigned how, int *ret_cpu)
{
	struct stat st;
	if (stat(dir, &st) < 0 || stat(argv[0], &st) < 0)
		return 0;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int log_fd = open(log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC), outp[2], errp[2];
	if (log_fd < 0 || devnull < 0 || pipe2(outp, O_CLOEXEC) < 0)
		return 0;
	if (pipe2(errp, O_CLOEXEC) < 0)
		return 0;
	ph[PH_SETUP] = now_us();
	pid_t pid = fork();
	if (pid == 0)
		steps_child(ph, argv, env, dir, outp[1], devnull, how);
	close(outp[1]), close(errp[1]), close(devnull);
	char buf[256];
	for (ssize_t k; (k = read(outp[0], buf, sizeof(buf))) > 0;)
		if (write(log_fd, buf, (size_t)k) != k)
			break;
	close(outp[0]), close(errp[0]), close(log_fd);
	int wst;
	if (pid < 0 || waitpid(pid, &wst, 0) != pid || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		return 0;
	return read_stamp(log, ret_cpu);
}

struct mode {
	const char *name;
	double *t;     /* identity ready -> main(), per measured round */
	double *whole; /* advertd: the whole runner_run, its fsync included */
	double *ph[N_PHASES];
	double first; /* the very first sample, warm-up included */
	int migrated; /* measured samples whose program ran on another CPU */
};

static double *samples(int n)
{
	double *t = calloc((size_t)n, sizeof(*t));
	if (!t) {
		perror("runner-bench");
		exit(2);
	}
	return t;
}

/* min, median, p90 of t[0..n) (sorted in place). */
static void stats(double *t, int n, double *ret_min, double *ret_med, double *ret_p90)
{
	qsort(t, (size_t)n, sizeof(*t), cmp);
	int k = (n * 9 + 9) / 10 - 1;
	*ret_min = t[0];
	*ret_med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	*ret_p90 = t[k < 0 ? 0 : k];
}

static void usage(void)
{
	fprintf(stderr, "usage: runner-bench [-w WARMUP] [-b BALLAST_MB] SELF DIR ROUNDS MODE...\n"
			"       modes: advertd setpriv runuser steps steps-loop steps-nosid\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "stamp") == 0) {
		printf("%.1f %d\n", now_us(), sched_getcpu());
		return 0;
	}
	int warmup = 0, ballast_mb = 0, opt;
	while ((opt = getopt(argc, argv, "w:b:")) != -1) {
		if (opt == 'w')
			warmup = atoi(optarg);
		else if (opt == 'b')
			ballast_mb = atoi(optarg);
		else
			usage();
	}
	if (argc - optind < 4)
		usage();
	const char *self = argv[optind], *dir = argv[optind + 1];
	int rounds = atoi(argv[optind + 2]), n_modes = argc - optind - 3;
	if (rounds < 1 || warmup < 0 || n_modes > MAX_MODES)
		usage();
	struct mode modes[MAX_MODES] = { 0 };
	for (int m = 0; m < n_modes; m++) {
		const char *name = argv[optind + 3 + m];
		if (strcmp(name, "advertd") && strcmp(name, "setpriv") && strcmp(name, "runuser") &&
		    strcmp(name, "steps") && strcmp(name, "steps-loop") &&
		    strcmp(name, "steps-nosid"))
			usage();
		modes[m].name = name;
		modes[m].t = samples(rounds);
		modes[m].whole = samples(rounds);
		for (int p = 0; p < N_PHASES; p++)
			modes[m].ph[p] = samples(rounds);
	}
	/* A parent as big as a daemon that has loaded krb5 and LDAP, or bigger: fork copies
	 * its page tables. */
	if (ballast_mb > 0) {
		char *b = malloc((size_t)ballast_mb << 20);
		if (!b)
			return 2;
		memset(b, 1, (size_t)ballast_mb << 20);
	}
	volatile double *ph =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ph == MAP_FAILED)
		return 2;

	static const gid_t groups[] = { UID_NOBODY };
	static const int ok[] = { 0 };
	char *env[] = { "PATH=/usr/bin:/bin", "HOME=/", NULL };
	char *sargv[] = { (char *)self, "stamp", NULL };
	char log[4096];
	int seq = 0;
	for (int round = 0; round < warmup + rounds; round++) {
		int i = round - warmup; /* < 0: a warm-up round, not kept */
		/* Each round starts with the next mode, so none always follows the same one. */
		for (int j = 0; j < n_modes; j++) {
			struct mode *md = &modes[(round + j) % n_modes];
			/* A fresh log each run: the runner refuses to overwrite one (O_EXCL). */
			snprintf(log, sizeof(log), "%s/stamp.%d.log", dir, seq++);
			int cpu0 = sched_getcpu(), cpu = -1;
			double t0 = now_us(), stamp = 0, end;
			if (strcmp(md->name, "advertd") == 0) {
				struct runner_spec s = {
					.argv = sargv,
					.working_dir = dir,
					.env = env,
					.uid = UID_NOBODY,
					.gid = UID_NOBODY,
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
				end = now_us();
				if (e < 0 || r.outcome != RUNNER_SUCCEEDED) {
					fprintf(stderr, "runner-bench: run %d: %s\n", seq,
						e < 0 ? strerror(-e) : r.why.text);
					return 1;
				}
				stamp = read_stamp(log, &cpu);
			} else if (strncmp(md->name, "steps", 5) == 0) {
				unsigned how =
					strcmp(md->name, "steps-loop") == 0    ? STEPS_CLOSE_LOOP
					: strcmp(md->name, "steps-nosid") == 0 ? STEPS_SAME_SESSION
									       : 0;
				stamp = steps_once(ph, sargv, env, dir, log, how, &cpu);
				end = now_us();
			} else {
				pid_t pid = fork();
				if (pid == 0) {
					/* A new session, as the runner's child makes: the same
					 * autogroup treatment for all (see steps-nosid). */
					setsid();
					int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
					dup2(fd, 1);
					if (strcmp(md->name, "setpriv") == 0)
						execl("/usr/bin/setpriv", "setpriv",
						      "--reuid=65534", "--regid=65534",
						      "--groups=65534", self, "stamp",
						      (char *)NULL);
					else
						execl("/usr/sbin/runuser", "runuser", "-u",
						      "nobody", "--", self, "stamp", (char *)NULL);
					_exit(127);
				}
				int st;
				waitpid(pid, &st, 0);
				end = now_us();
				stamp = read_stamp(log, &cpu);
			}
			if (stamp == 0) {
				fprintf(stderr, "runner-bench: %s: no stamp\n", md->name);
				return 1;
			}
			if (round == 0)
				md->first = stamp - t0;
			if (i < 0)
				continue;
			md->t[i] = stamp - t0;
			md->whole[i] = end - t0;
			md->migrated += cpu != cpu0;
			if (strncmp(md->name, "steps", 5) == 0) {
				double prev = t0;
				for (int p = 0; p < PH_EXEC; p++)
					md->ph[p][i] = ph[p] - prev, prev = ph[p];
				md->ph[PH_EXEC][i] = stamp - prev;
			}
		}
	}

	/* One line per mode, and per phase of the steps modes: all in microseconds. */
	for (int m = 0; m < n_modes; m++) {
		struct mode *md = &modes[m];
		double lo, mid, hi, wlo, wmid, whi;
		stats(md->t, rounds, &lo, &mid, &hi);
		stats(md->whole, rounds, &wlo, &wmid, &whi);
		printf("mode %s min=%.0f median=%.0f p90=%.0f first=%.0f migrated=%d "
		       "whole_median=%.0f whole_p90=%.0f\n",
		       md->name, lo, mid, hi, md->first, md->migrated, wmid, whi);
		if (strncmp(md->name, "steps", 5) != 0)
			continue;
		for (int p = 0; p < N_PHASES; p++) {
			stats(md->ph[p], rounds, &lo, &mid, &hi);
			printf("phase %s %d min=%.1f median=%.1f p90=%.1f %s\n", md->name, p, lo,
			       mid, hi, phase_name[p]);
		}
	}
	return 0;
}

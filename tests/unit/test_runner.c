/* SPDX-License-Identifier: MIT */
/* The runner, as root, with the probe program: the privilege drop proven from inside
 * the child, a scrubbed environment and descriptors, output bounds, exit-code mapping,
 * missing paths, and the maximum run time against a program that ignores SIGTERM and
 * leaves a double-forked setsid'd grandchild behind. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/runner.h"
#include "testutil.h"

static char *dir, *probe, *log_path;
static const gid_t groups[] = { 65534, 100, 4242 };
static const int success[] = { 0 }, reboot[] = { 3 };
static char *env[] = { "PATH=/usr/bin:/bin", "HOME=/", "ADVERT_ID=T1", NULL };

static struct runner_spec spec(char **argv)
{
	return (struct runner_spec){
		.argv = argv,
		.working_dir = dir,
		.env = env,
		.uid = 65534,
		.gid = 65534,
		.groups = groups,
		.n_groups = 3,
		.max_runtime = 30,
		.kill_grace = 1,
		.log_path = log_path,
		.max_log_bytes = 1 << 20,
		.success_codes = success,
		.n_success_codes = 1,
		.reboot_codes = reboot,
		.n_reboot_codes = 1,
	};
}

/* Every run writes a log of its own: the runner never overwrites one. */
static int run_fresh(const struct runner_spec *s, struct runner_result *r)
{
	unlink(s->log_path);
	return runner_run(s, NULL, NULL, r);
}

static char *read_log(void)
{
	FILE *f = fopen(log_path, "r");
	if (!f)
		return strdup("");
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strdup(buf);
}

static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += len)
		if ((p == text || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

static void test_drop_proven_from_inside(void)
{
	char *argv[] = { "./probe", "report", "regain-root", NULL };
	struct runner_spec s = spec(argv);
	struct runner_result r;
	CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
	CU_ASSERT_EQUAL(r.outcome, RUNNER_SUCCEEDED);
	CU_ASSERT_EQUAL(r.exit_code, 0);
	char *out = read_log();
	CU_ASSERT(has_line(out, "uids=65534,65534,65534"));
	CU_ASSERT(has_line(out, "gids=65534,65534,65534"));
	CU_ASSERT(has_line(out, "groups=100,4242,65534") || has_line(out, "groups=65534,100,4242"));
	CU_ASSERT(has_line(out, "regain-root=failed"));
	CU_ASSERT(has_line(out, "fds=0,1,2") || has_line(out, "fds=1,2,0") ||
		  has_line(out, "fds=0,2,1"));
	CU_ASSERT(has_line(out, "umask=022"));
	CU_ASSERT(has_line(out, "sid_is_pid=1"));
	/* Exactly the environment given: nothing of ours (the canary) leaks. */
	CU_ASSERT(has_line(out, "env:ADVERT_ID=T1"));
	CU_ASSERT(has_line(out, "env:PATH=/usr/bin:/bin"));
	CU_ASSERT_PTR_NULL(strstr(out, "RUNNER_CANARY"));
	char want_cwd[4200];
	snprintf(want_cwd, sizeof(want_cwd), "cwd=%s", dir);
	CU_ASSERT(has_line(out, want_cwd));
	struct stat st;
	CU_ASSERT(stat(log_path, &st) == 0 && (st.st_mode & 0777) == 0640);
	free(out);
}

static void test_root_run_stays_root(void)
{
	char *argv[] = { "./probe", "report", NULL };
	struct runner_spec s = spec(argv);
	s.as_root = true;
	struct runner_result r;
	CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
	char *out = read_log();
	CU_ASSERT(has_line(out, "uids=0,0,0"));
	free(out);
}

static void test_uid0_refused(void)
{
	char *argv[] = { "./probe", NULL };
	struct runner_spec s = spec(argv);
	s.uid = 0;
	struct runner_result r;
	CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
	CU_ASSERT_EQUAL(r.outcome, RUNNER_NOT_STARTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.why.text, "uid 0"));
}

static void test_exit_codes_and_signals(void)
{
	static const struct {
		const char *arg;
		enum runner_outcome outcome;
		int exit_code, sig;
	} cases[] = {
		{ "exit=0", RUNNER_SUCCEEDED, 0, 0 },
		{ "exit=3", RUNNER_SUCCEEDED_REBOOT, 3, 0 },
		{ "exit=1", RUNNER_FAILED, 1, 0 },
		{ "kill=10", RUNNER_FAILED, -1, SIGUSR1 }, /* not SIGSEGV: ASan catches that */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { "./probe", (char *)cases[i].arg, NULL };
		struct runner_spec s = spec(argv);
		struct runner_result r;
		CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
		CU_ASSERT_EQUAL(r.outcome, cases[i].outcome);
		CU_ASSERT_EQUAL(r.exit_code, cases[i].exit_code);
		CU_ASSERT_EQUAL(r.signal, cases[i].sig);
	}
}

static void test_output_bound(void)
{
	char *argv[] = { "./probe", "output=100000", "say=LAST-LINE", NULL };
	struct runner_spec s = spec(argv);
	s.max_log_bytes = 4096;
	struct runner_result r;
	CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
	CU_ASSERT_EQUAL(r.output_bytes, 100000 + 10);
	CU_ASSERT_EQUAL(r.output_dropped, 100000 + 10 - 4096);
	struct stat st;
	CU_ASSERT(stat(log_path, &st) == 0 && st.st_size > 4096 && st.st_size < 4096 + 200);
	char *out = read_log();
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "output truncated at 4096 bytes"));
	free(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.tail, "LAST-LINE"));
}

static void test_missing_paths(void)
{
	char *argv[] = { "./no-such-setup", NULL };
	struct runner_spec s = spec(argv);
	struct runner_result r;
	CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
	CU_ASSERT_EQUAL(r.outcome, RUNNER_NOT_STARTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.why.text, "no-such-setup"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.why.text, "is missing"));

	char *argv2[] = { "./probe", NULL };
	s = spec(argv2);
	s.working_dir = "/nonexistent/dp/editor";
	CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
	CU_ASSERT_EQUAL(r.outcome, RUNNER_NOT_STARTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.why.text, "/nonexistent/dp/editor"));
}

static void test_resolve(void)
{
	char *p = NULL;
	CU_ASSERT_EQUAL(runner_resolve("probe", dir, "/usr/bin:/bin", &p), 0);
	CU_ASSERT(p && strstr(p, dir) && strstr(p, "/probe"));
	free(p);
	CU_ASSERT_EQUAL(runner_resolve("true", dir, "/nonexistent:/usr/bin:/bin", &p), 0);
	CU_ASSERT(p && strcmp(p, "/usr/bin/true") == 0);
	free(p);
	CU_ASSERT_EQUAL(runner_resolve("./probe", dir, "", &p), 0);
	/* Named as the admin would: the package's path, no "/./" in it. */
	char want[4096];
	snprintf(want, sizeof(want), "%s/probe", dir);
	CU_ASSERT(p && strcmp(p, want) == 0);
	free(p);
	CU_ASSERT_EQUAL(runner_resolve(".//./nosuch", dir, "", &p), -ENOENT);
	snprintf(want, sizeof(want), "%s/nosuch", dir);
	CU_ASSERT(p && strcmp(p, want) == 0);
	free(p);
	CU_ASSERT_EQUAL(runner_resolve("nosuch", dir, "/usr/bin", &p), -ENOENT);
	free(p);
	char *plain = tu_write(dir, "plain.txt", 0644, "x");
	CU_ASSERT_EQUAL(runner_resolve(plain, dir, "", &p), -EACCES);
	free(p);
	free(plain);
}

static bool alive(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[2] != 'Z';
}

static void test_max_runtime_kills_everything(void)
{
	char pidfile[4200], arg[4300];
	snprintf(pidfile, sizeof(pidfile), "%s/grandchild.pid", dir);
	snprintf(arg, sizeof(arg), "grandchild=%s", pidfile);
	unlink(pidfile);
	char *argv[] = { "./probe", "ignore-term", arg, "sleep=60", NULL };
	struct runner_spec s = spec(argv);
	s.max_runtime = 1;
	s.kill_grace = 1;
	struct runner_result r;
	CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
	CU_ASSERT_EQUAL(r.outcome, RUNNER_TIMED_OUT);
	CU_ASSERT_EQUAL(r.signal, SIGKILL);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.why.text, "maximum run time"));
	CU_ASSERT(r.duration_ms >= 2000 && r.duration_ms < 10000);
	FILE *f = fopen(pidfile, "r");
	int gpid = 0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fscanf(f, "%d", &gpid), 1);
	fclose(f);
	CU_ASSERT(gpid > 0 && !alive(gpid));
}

static void test_straggler_after_success(void)
{
	char pidfile[4200], arg[4300];
	snprintf(pidfile, sizeof(pidfile), "%s/straggler.pid", dir);
	snprintf(arg, sizeof(arg), "grandchild=%s", pidfile);
	char *argv[] = { "./probe", arg, "sleep=1", NULL };
	struct runner_spec s = spec(argv);
	struct runner_result r;
	CU_ASSERT_EQUAL_FATAL(run_fresh(&s, &r), 0);
	CU_ASSERT_EQUAL(r.outcome, RUNNER_SUCCEEDED);
	CU_ASSERT(r.stragglers >= 1);
	FILE *f = fopen(pidfile, "r");
	int gpid = 0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fscanf(f, "%d", &gpid), 1);
	fclose(f);
	CU_ASSERT(gpid > 0 && !alive(gpid));
}

/* A log that exists already (a run id used twice) is never truncated: the run fails. */
static void test_log_never_overwritten(void)
{
	char *argv[] = { probe, "say=second", NULL };
	struct runner_spec s = spec(argv);
	FILE *f = fopen(log_path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("the first run's output\n", f);
	fclose(f);
	struct runner_result r;
	CU_ASSERT_EQUAL_FATAL(runner_run(&s, NULL, NULL, &r), 0);
	CU_ASSERT_NOT_EQUAL(r.outcome, RUNNER_SUCCEEDED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.why.text, "exists already"));
	char *out = read_log();
	CU_ASSERT_STRING_EQUAL(out, "the first run's output\n");
	free(out);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_runner: skipped, it needs root (it drops privileges)\n");
		return 77; /* automake's "skipped": CI runs it as root */
	}
	setenv("RUNNER_CANARY", "must-not-leak", 1);
	dir = tu_mkdtemp();
	chmod(dir, 0777); /* the probe, running as nobody, writes its pid files here */
	const char *b = getenv("top_builddir");
	char *src = NULL;
	if (asprintf(&src, "%s/tests/helpers/probe", b && *b ? b : ".") < 0)
		return 1;
	if (asprintf(&probe, "%s/probe", dir) < 0 || asprintf(&log_path, "%s/run.log", dir) < 0)
		return 1;
	char *cmd = NULL;
	if (asprintf(&cmd, "cp '%s' '%s' && chmod 755 '%s'", src, probe, probe) < 0 ||
	    system(cmd) != 0) {
		fprintf(stderr, "cannot copy %s\n", src);
		return 1;
	}
	static const struct tu_test tests[] = {
		{ "privilege drop proven from inside the child", test_drop_proven_from_inside },
		{ "a root run stays root", test_root_run_stays_root },
		{ "uid 0 refused for an account", test_uid0_refused },
		{ "exit codes and signals", test_exit_codes_and_signals },
		{ "output bound: truncated and noted", test_output_bound },
		{ "missing program and working directory", test_missing_paths },
		{ "resolution: working dir first, then PATH", test_resolve },
		{ "max run time: TERM-ignoring program and setsid grandchild die",
		  test_max_runtime_kills_everything },
		{ "stragglers of a finished run are stopped", test_straggler_after_success },
		{ "an existing log is never overwritten", test_log_never_overwritten },
		{ 0 },
	};
	int r = tu_run_as_root("runner", tests);
	tu_rmtree(dir);
	free(dir), free(probe), free(log_path), free(src), free(cmd);
	return r;
}

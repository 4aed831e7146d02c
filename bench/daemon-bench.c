/* SPDX-License-Identifier: MIT */
/* bench/daemon-bench: the measurements bench/daemon needs from inside one process.
 *   load CONF FILE   the catalog as the daemon loads it (config_load, then the accounts'
 *                    names, then catalog_reload): cold, a full load again (what a daemon
 *                    that re-parses everything does per event), an unchanged reload, a
 *                    reload after FILE changed, and an update for FILE alone after it
 *                    changed again (what advertd does for an inotify event). Times, files
 *                    parsed, peak RSS.
 *   latency ADS TMP LOG SOCK TAG N
 *                    N times: a new advertisement file renamed into ADS (written in TMP,
 *                    same file system) until "advertisement-received advert=ID" is in LOG;
 *                    then the syslog floor: a datagram sent straight to SOCK, and a
 *                    `logger --socket SOCK` run, each until its line is in LOG.
 * Prints key=value lines for bench/daemon to tabulate. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "advert/config.h"
#include "advert/util.h"

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* --- load ------------------------------------------------------------------------- */

struct loaded {
	struct catalog *cat;
	struct catalog_reload_stats st;
	size_t errors;
	double ms;
};

/* With changed (one name), catalog_update as for an inotify event; else catalog_reload. */
static int load_as_daemon(const struct config *cfg, const struct catalog *old, const char *changed,
			  struct loaded *l)
{
	struct diag_list diags = { 0 };
	const char **names = calloc(cfg->n_accounts + 1, sizeof(*names));
	for (size_t i = 0; names && i < cfg->n_accounts; i++)
		names[i] = cfg->accounts[i].name;
	struct catalog_context acc = { names, cfg->n_accounts };
	double t0 = util_now_ms();
	const char *const *paths = (const char *const *)cfg->advertisements;
	int r = changed ? catalog_update(old, paths, cfg->n_advertisements, &acc, &changed, 1,
					 &l->cat, &diags, &l->st)
			: catalog_reload(old, paths, cfg->n_advertisements, &acc, &l->cat, &diags,
					 &l->st);
	l->ms = util_now_ms() - t0;
	l->errors = diag_count(&diags, DIAG_ERROR);
	if (l->errors)
		diag_print(&diags, stderr);
	diag_clear(&diags);
	free(names);
	return r;
}

static void print_load(const char *what, const struct loaded *l)
{
	printf("%s_ms=%.1f %s_ads=%zu %s_seen=%zu %s_parsed=%zu %s_reused=%zu %s_errors=%zu\n",
	       what, l->ms, what, l->cat->n, what, l->st.files_seen, what, l->st.files_parsed, what,
	       l->st.files_reused, what, l->errors);
}

static int append_comment(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, "# changed\n", 10) != 10 || close(fd) < 0) {
		perror(path);
		return -1;
	}
	return 0;
}

static int bench_load(const char *conf, const char *change)
{
	struct diag_list diags = { 0 };
	struct config *cfg = NULL;
	if (config_load(conf, &cfg, &diags) < 0 || diag_count(&diags, DIAG_ERROR)) {
		diag_print(&diags, stderr);
		return 1;
	}
	diag_clear(&diags);
	printf("rss_base_kb=%ld\n", maxrss_kb());

	struct loaded cold, full, same;
	if (load_as_daemon(cfg, NULL, NULL, &cold) < 0)
		return 1;
	print_load("cold", &cold);
	printf("rss_cold_kb=%ld\n", maxrss_kb());

	/* What a daemon that parses everything on every event does: a second catalog
	 * built from nothing while the first is still held. */
	if (load_as_daemon(cfg, NULL, NULL, &full) < 0)
		return 1;
	print_load("full", &full);
	catalog_free(full.cat);

	if (load_as_daemon(cfg, cold.cat, NULL, &same) < 0)
		return 1;
	print_load("same", &same);
	catalog_free(cold.cat);

	/* One file changes: a comment appended, as an edit in place would. */
	struct loaded changed, updated;
	if (append_comment(change) < 0 || load_as_daemon(cfg, same.cat, NULL, &changed) < 0)
		return 1;
	print_load("changed", &changed);
	catalog_free(same.cat);
	/* Again, and only that name is looked at. */
	if (append_comment(change) < 0 || load_as_daemon(cfg, changed.cat, change, &updated) < 0)
		return 1;
	print_load("updated", &updated);
	printf("updated_full=%d\n", updated.st.full);
	catalog_free(changed.cat);
	catalog_free(updated.cat);
	printf("rss_peak_kb=%ld\n", maxrss_kb());
	config_free(cfg);
	return 0;
}

/* --- latency ---------------------------------------------------------------------- */

/* Waits until a line containing needle is appended to the log after offset *off; returns
 * the time it was seen (ms, CLOCK_MONOTONIC), or -1 after 10 s. */
static double wait_line(int ifd, int logfd, off_t *off, const char *needle)
{
	static char buf[1 << 20];
	static size_t have;
	double deadline = util_now_ms() + 10000;
	for (;;) {
		ssize_t k = pread(logfd, buf + have, sizeof(buf) - 1 - have, *off);
		if (k > 0) {
			*off += k;
			have += (size_t)k;
			buf[have] = '\0';
			char *hit = strstr(buf, needle);
			double t = util_now_ms();
			char *nl = strrchr(buf, '\n');
			if (hit) {
				/* Keep what follows the matching line for the next wait. */
				char *end = strchr(hit, '\n');
				size_t rest = end ? have - (size_t)(end + 1 - buf) : 0;
				memmove(buf, end ? end + 1 : buf + have, rest);
				have = rest;
				return t;
			}
			if (nl) { /* complete lines without it: drop them */
				size_t rest = have - (size_t)(nl + 1 - buf);
				memmove(buf, nl + 1, rest);
				have = rest;
			}
			continue;
		}
		double left = deadline - util_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = { ifd, POLLIN, 0 };
		if (poll(&p, 1, (int)left + 1) > 0) {
			char ev[4096];
			while (read(ifd, ev, sizeof(ev)) > 0)
				;
		}
	}
}

static void summary(const char *what, double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("%s_median=%.3f %s_p90=%.3f %s_min=%.3f\n", what, t[n / 2], what, t[n * 9 / 10],
	       what, t[0]);
}

static int bench_latency(const char *ads, const char *tmp, const char *log, const char *sock,
			 const char *tag, int n)
{
	int logfd = open(log, O_RDONLY | O_CLOEXEC);
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (logfd < 0 || ifd < 0 || inotify_add_watch(ifd, log, IN_MODIFY) < 0) {
		perror(log);
		return 1;
	}
	off_t off = lseek(logfd, 0, SEEK_END);
	double *daemon_ms = calloc((size_t)n, sizeof(double)),
	       *dgram_ms = calloc((size_t)n, sizeof(double)),
	       *logger_ms = calloc((size_t)n, sizeof(double));
	int failures = 0;

	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);

	for (int i = 0; i < n; i++) {
		char id[64], path[4096], tpath[4096], needle[128];
		snprintf(id, sizeof(id), "%s%03d", tag, i);
		snprintf(path, sizeof(path), "%s/%s.conf", ads, id);
		snprintf(tpath, sizeof(tpath), "%s/%s.tmp", tmp, id);
		snprintf(needle, sizeof(needle), "advertisement-received advert=%s ", id);
		FILE *f = fopen(tpath, "w");
		if (!f)
			return perror(tpath), 1;
		/* Disabled: received and reported, never run. */
		fprintf(f,
			"advertisements = ( { id = \"%s\"; enabled = false;\n"
			"  package = { id = \"P%s\"; name = \"Bench\"; source = \"/usr/bin\"; };\n"
			"  program = { name = \"true\"; command = [ \"/bin/true\" ]; run_as = \"system\"; };\n"
			"} );\n",
			id, id);
		fclose(f);
		chmod(tpath, 0644);
		double t0 = util_now_ms();
		if (rename(tpath, path) < 0)
			return perror(path), 1;
		double t1 = wait_line(ifd, logfd, &off, needle);
		if (t1 < 0)
			failures++;
		daemon_ms[i] = t1 < 0 ? 10000 : t1 - t0;

		/* The floor: the same kind of datagram the daemon sends, straight to rsyslog. */
		char msg[256], mark[128];
		snprintf(mark, sizeof(mark), "bench-dgram-%s ", id);
		int len = snprintf(msg, sizeof(msg), "<29>bench[%d]: %s", (int)getpid(), mark);
		t0 = util_now_ms();
		if (sendto(s, msg, (size_t)len, 0, (struct sockaddr *)&sa, sizeof(sa)) != len)
			return perror("sendto"), 1;
		t1 = wait_line(ifd, logfd, &off, mark);
		failures += t1 < 0;
		dgram_ms[i] = t1 < 0 ? 10000 : t1 - t0;

		/* And as a shell would: a logger process. */
		snprintf(mark, sizeof(mark), "bench-logger-%s", id);
		t0 = util_now_ms();
		pid_t pid = fork();
		if (pid == 0) {
			execlp("logger", "logger", "--socket", sock, "-t", "bench", mark,
			       (char *)NULL);
			_exit(127);
		}
		t1 = wait_line(ifd, logfd, &off, mark);
		waitpid(pid, NULL, 0);
		failures += t1 < 0;
		logger_ms[i] = t1 < 0 ? 10000 : t1 - t0;
	}
	summary("daemon", daemon_ms, n);
	summary("dgram", dgram_ms, n);
	summary("logger", logger_ms, n);
	printf("failures=%d\n", failures);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "load") == 0)
		return bench_load(argv[2], argv[3]);
	if (argc == 8 && strcmp(argv[1], "latency") == 0)
		return bench_latency(argv[2], argv[3], argv[4], argv[5], argv[6], atoi(argv[7]));
	fprintf(stderr, "usage: daemon-bench load CONF FILE\n"
			"       daemon-bench latency ADS TMP LOG SOCK TAG N\n");
	return 2;
}

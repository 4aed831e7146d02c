/* SPDX-License-Identifier: MIT */
/* Following a run (run --wait) and printing its captured output (log), by asking the
 * daemon again and again: whether a new run started, then its log from where the last
 * answer ended. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "advert/log.h"
#include "advert/rfc3339.h"
#include "advert/status.h"
#include "advert/utf8.h"
#include "advertctl.h"

/* One request to the daemon; NULL (with the error said) when it cannot be asked. */
static struct json_object *ask_daemon(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static struct json_object *ask_daemon(const char *path, const char *fmt, ...)
{
	char request[CONTROL_REQUEST_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(request, sizeof(request), fmt, ap);
	va_end(ap);
	struct json_object *reply = NULL;
	int r = ask(path, request, &reply);
	if (r < 0) {
		log_error_errno(r, "lost advertd while following the run");
		return NULL;
	}
	return reply;
}

/* A refusal said, as advertctl's exit status (3 when there was no answer); puts r. */
static int refused(struct json_object *r)
{
	if (r)
		log_error_text("%s", or_dash(s(r, "error")));
	struct json_object *c = NULL;
	int code = r && json_object_object_get_ex(r, "code", &c) ? json_object_get_int(c)
								 : EXIT_UNREACHABLE;
	json_object_put(r);
	return code;
}

static bool reply_ok(struct json_object *reply)
{
	struct json_object *v = NULL;
	return reply && json_object_object_get_ex(reply, "ok", &v) && json_object_get_boolean(v);
}

/* The output of run, from *offset, printed; whether the run has ended, and its result. */
/* 1: the run has ended; 0: not yet (or no output yet); -1: advertd went away. */
static int follow_output(const char *path, const char *id, const char *run, long long *offset,
			 char *result, size_t size)
{
	for (;;) {
		struct json_object *r = ask_daemon(path, "log %s %s %lld\n", id, run, *offset);
		if (!r)
			return -1;
		if (!reply_ok(r)) {
			json_object_put(r);
			return 0; /* no output (yet): asked again */
		}
		struct json_object *out = NULL, *v = NULL;
		if (json_object_object_get_ex(r, "output", &out))
			put_output(json_object_get_string(out),
				   (size_t)json_object_get_string_len(out));
		fflush(stdout);
		long long next = json_object_object_get_ex(r, "next", &v) ? json_object_get_int64(v)
									  : *offset;
		long long total =
			json_object_object_get_ex(r, "size", &v) ? json_object_get_int64(v) : next;
		bool ended =
			json_object_object_get_ex(r, "ended", &v) && json_object_get_boolean(v);
		snprintf(result, size, "%s", or_dash(s(r, "result")));
		json_object_put(r);
		bool more = next > *offset && next < total;
		*offset = next;
		if (!more)
			return ended ? 1 : 0;
	}
}

/* run ID --wait: queues the run, then follows it: started, its output as it comes, its
 * result. Exits 0 when it succeeded, 1 otherwise. Ctrl-C stops following, not the run. */
int run_and_wait(const char *config_path, const char *id)
{
	char *path = socket_path(config_path);
	if (!path)
		return EXIT_PROBLEMS;
	struct json_object *r = ask_daemon(path, "log %s\n", id);
	char before[32] = "";
	if (reply_ok(r))
		snprintf(before, sizeof(before), "%s", or_dash(s(r, "run")));
	json_object_put(r);
	r = ask_daemon(path, "run %s\n", id);
	if (!reply_ok(r)) {
		free(path);
		return refused(r);
	}
	json_object_put(r);
	time_t queued = time(NULL);
	printf("%s queued; following it (Ctrl-C stops following, not the run)\n", id);
	char run[32] = "", result[32] = "-";
	long long offset = 0;
	int rc = EXIT_PROBLEMS;
	for (;;) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (!run[0]) {
			/* A new latest run (it may have ended already), or why none started. */
			struct json_object *lr = ask_daemon(path, "log %s\n", id);
			if (!lr) {
				rc = EXIT_UNREACHABLE;
				break;
			}
			if (reply_ok(lr) && strcmp(or_dash(s(lr, "run")), before) != 0) {
				snprintf(run, sizeof(run), "%s", or_dash(s(lr, "run")));
				printf("started %s\n", run);
			}
			json_object_put(lr);
			struct json_object *st =
				run[0] ? NULL : ask_daemon(path, "status %s\n", id);
			if (!run[0] && !st) {
				rc = EXIT_UNREACHABLE;
				break;
			}
			struct json_object *a = NULL, *p = NULL;
			if (st)
				json_object_object_get_ex(st, "advertisement", &a);
			/* A problem since it was queued ends the wait, whatever the verdict
			 * says now (a "never" program that cannot start says will-not-rerun). */
			time_t at = 0;
			if (a && json_object_object_get_ex(a, "last_problem", &p) && p &&
			    rfc3339_parse(or_dash(s(p, "at")), &at) == 0 && at >= queued) {
				printf("could not start (");
				tty_put(or_dash(s(p, "status")), 0, false);
				printf("): ");
				tty_put(or_dash(s(p, "reason")), 0, false);
				putchar('\n');
				json_object_put(st);
				break;
			}
			json_object_put(st);
			if (!run[0])
				continue;
		}
		int f = follow_output(path, id, run, &offset, result, sizeof(result));
		if (f < 0) {
			rc = EXIT_UNREACHABLE;
			break;
		}
		if (f > 0) {
			printf("%s ended: %s\n", run, result);
			rc = strncmp(result, "succeeded", 9) == 0 ? EXIT_SUCCESS : EXIT_PROBLEMS;
			break;
		}
	}
	free(path);
	return rc;
}

/* log ID [RUN]: a run's captured output, all of it. */
int print_log(const char *config_path, int argc, char **argv)
{
	char *path = socket_path(config_path);
	if (!path)
		return EXIT_PROBLEMS;
	struct json_object *r = ask_daemon(path, "log %s%s%s\n", argv[1], argc > 2 ? " " : "",
					   argc > 2 ? argv[2] : "");
	if (!reply_ok(r)) {
		free(path);
		return refused(r);
	}
	char run[32], result[32];
	snprintf(run, sizeof(run), "%s", or_dash(s(r, "run")));
	json_object_put(r);
	long long offset = 0;
	follow_output(path, argv[1], run, &offset, result, sizeof(result));
	free(path);
	return EXIT_SUCCESS;
}

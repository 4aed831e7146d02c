/* SPDX-License-Identifier: MIT */
/* advertctl: the administrator's command line for advertd. Read commands and run/reload
 * go to the daemon over its control socket; check-config works without one. What it
 * prints comes from files, programs and KDCs: for people, every control character and
 * stray byte is escaped; with --json, the output is valid UTF-8 JSON. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "advert/check.h"
#include "advert/ctlproto.h"
#include "advert/log.h"
#include "advert/rfc3339.h"
#include "advert/status.h"
#include "advert/utf8.h"
#include "advertctl.h"

/* Exit statuses, documented in advertctl(8): the daemon's reply codes. */
/* --help, in the order an admin reaches for the commands, within 80 columns. */
static void usage(FILE *out)
{
	fprintf(out,
		"Usage: advertctl [-c FILE] [--json] COMMAND [ARGS...]\n"
		"  -c, --config FILE   advertd's configuration, default\n"
		"                      %s\n"
		"      --json          print the answer as JSON\n"
		"  -h, --help          this text\n"
		"  -V, --version       the version\n"
		"\n"
		"Commands:\n"
		"  list                  every advertisement: state, next due, last result\n"
		"  status ID             one advertisement in detail\n"
		"  explain ID|--all      why it is or is not due, and what a run would use\n"
		"  history [ID] [-n N]   the latest runs\n"
		"  log ID [RUN]          a run's captured output (the latest run's)\n"
		"  problems              the rejected advertisement files and advertisements\n"
		"  identity ACCOUNT      the lockout guard's state for an account\n"
		"  run ID [--wait|-w]    run it now (root); --wait follows it to its result\n"
		"  stop ID               end a running program now (root)\n"
		"  reload                reread advertd.conf and the advertisements (root)\n"
		"  clear-damage ID|--all after checking a damaged run history, stop holding\n"
		"                        \"never\" programs for it (root)\n"
		"  check-config [FILE...] validate advertd.conf and every advertisement; with\n"
		"                        FILEs, those against the installed configuration\n"
		"  publish FILE...       check and write advertisement files to the directory\n"
		"                        with your own ticket (--server DC, --base URL)\n"
		"  unpublish NAME...     delete published files (NAME: the file's, no .conf)\n"
		"  published             list the published files and their advertisements\n"
		"  report [FILE...] [--host H] [--advert ID]\n"
		"                        the fleet's status from collected syslog lines\n"
		"\n"
		"Exit status: 0 ok, 1 problems or failure, 2 usage, 3 advertd not reachable\n"
		"or busy, 4 permission denied, 5 no such advertisement or account, 6 refused.\n",
		ADV_DEFAULT_CONFIG);
}

/* check-config --json: {"ok", "errors", "warnings", "problems": [{file, line, level,
 * message}]}, valid UTF-8 whatever the files hold. */
static void check_json(const struct check_result *res, size_t errors, size_t warnings)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	json_object_object_add(o, "ok", json_object_new_boolean(errors == 0));
	json_object_object_add(o, "errors", json_object_new_int64((int64_t)errors));
	json_object_object_add(o, "warnings", json_object_new_int64((int64_t)warnings));
	for (size_t i = 0; i < res->diags.n; i++) {
		const struct diag *g = &res->diags.items[i];
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "file", g->file ? json_object_new_string(g->file) : NULL);
		json_object_object_add(p, "line", g->line ? json_object_new_int(g->line) : NULL);
		json_object_object_add(
			p, "level",
			json_object_new_string(g->level == DIAG_ERROR ? "error" : "warning"));
		json_object_object_add(p, "message", json_object_new_string(g->msg));
		json_object_array_add(arr, p);
	}
	json_object_object_add(o, "problems", arr);
	struct json_object *clean = json_clean(o);
	json_put(json_object_to_json_string_ext(clean, JSON_C_TO_STRING_PRETTY));
	json_object_put(clean);
	json_object_put(o);
}

static int cmd_check_config(const char *config_path, bool json, int argc, char **argv)
{
	struct check_result res;
	int r = check_run(config_path, (const char *const *)argv, (size_t)argc, &res);
	if (r < 0) {
		log_error_errno(r, "checking configuration");
		return EXIT_PROBLEMS;
	}
	size_t errors = diag_count(&res.diags, DIAG_ERROR);
	size_t warnings = diag_count(&res.diags, DIAG_WARNING);
	if (json) {
		check_json(&res, errors, warnings);
		check_result_clear(&res);
		return errors ? EXIT_PROBLEMS : EXIT_SUCCESS;
	}
	diag_print(&res.diags, stderr);
	check_print_summary(&res, stdout);
	printf("%s: %zu error(s), %zu warning(s)\n", errors ? "problems found" : "ok", errors,
	       warnings);
	check_result_clear(&res);
	return errors ? EXIT_PROBLEMS : EXIT_SUCCESS;
}

/* The control socket named by the configuration; the default when it cannot be read. */
char *socket_path(const char *config_path)
{
	struct diag_list diags = { 0 };
	struct config *cfg = NULL;
	char *path = NULL;
	if (config_load(config_path, &cfg, &diags) == 0 && cfg)
		path = strdup(cfg->control_socket);
	config_free(cfg);
	diag_clear(&diags);
	return path ? path : strdup(ADV_DEFAULT_CONTROL_SOCKET);
}

/* Sends one request line and reads the whole reply. -ENODATA: the daemon closed the
 * connection without a word. */
int ask(const char *path, const char *request, struct json_object **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	/* A daemon too busy to serve us answers at once and closes: the request may find
	 * no reader (EPIPE, without the signal), and the answer is still there to read. */
	size_t len = strlen(request);
	ssize_t w = send(fd, request, len, MSG_NOSIGNAL);
	int werr = w == (ssize_t)len ? 0 : w < 0 ? -errno : -EIO;
	if (werr == 0)
		shutdown(fd, SHUT_WR);
	size_t cap = 65536, n = 0;
	int rerr = 0;
	char *buf = malloc(cap);
	for (ssize_t k; buf;) {
		k = read(fd, buf + n, cap - n - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			rerr = -errno; /* ECONNRESET after the answer, when our request went unread */
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n + 1 == cap) {
			char *b = realloc(buf, cap *= 2);
			if (!b)
				break;
			buf = b;
		}
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	if (n == 0) {
		free(buf);
		return werr ? werr : rerr ? rerr : -ENODATA;
	}
	buf[n] = '\0';
	*ret = json_tokener_parse(buf);
	free(buf);
	return *ret ? 0 : -EPROTO;
}

/* --- text for a terminal --------------------------------------------------------------- */

const char *s(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

const char *or_dash(const char *v)
{
	return v && *v ? v : "-";
}

static void print_list(struct json_object *reply)
{
	struct json_object *arr;
	if (!json_object_object_get_ex(reply, "advertisements", &arr))
		return;
	size_t n = json_object_array_length(arr);
	printf("%-12s %-22s %-12s %-17s %-21s %s\n", "ID", "PROGRAM", "RUN AS", "STATE", "NEXT DUE",
	       "LAST RESULT");
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(arr, i);
		char *program = NULL;
		if (asprintf(&program, "%s/%s", or_dash(s(a, "package")),
			     or_dash(s(a, "program"))) < 0)
			program = NULL;
		tty_put(or_dash(s(a, "id")), 12, false);
		putchar(' ');
		tty_put(program ? program : "-", 22, true);
		putchar(' ');
		tty_put(or_dash(s(a, "run_as")), 12, false);
		putchar(' ');
		tty_put(or_dash(s(a, "state")), 17, false);
		putchar(' ');
		tty_put(or_dash(s(a, "next_due")), 21, false);
		putchar(' ');
		tty_put(or_dash(s(a, "last_result")), 0, false);
		putchar('\n');
		free(program);
	}
}

/* Prints an object as "key: value" lines, nested objects indented. */
static void print_object(struct json_object *o, int indent)
{
	json_object_object_foreach(o, key, v)
	{
		if (strcmp(key, "ok") == 0 && indent == 0)
			continue;
		printf("%*s", indent, "");
		if (!v) {
			tty_put(key, 16, false);
			printf(" -\n");
		} else if (json_object_is_type(v, json_type_object)) {
			tty_put(key, 0, false);
			printf(":\n");
			print_object(v, indent + 2);
		} else if (json_object_is_type(v, json_type_array) &&
			   json_object_array_length(v) > 0 &&
			   json_object_is_type(json_object_array_get_idx(v, 0), json_type_object)) {
			tty_put(key, 0, false);
			printf(":\n");
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				if (i > 0)
					putchar('\n');
				print_object(json_object_array_get_idx(v, i), indent + 2);
			}
		} else if (json_object_is_type(v, json_type_array) &&
			   (json_object_array_length(v) == 0 ||
			    !json_object_is_type(json_object_array_get_idx(v, 0),
						 json_type_object))) {
			tty_put(key, 16, false);
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				putchar(' ');
				tty_put(or_dash(json_object_get_string(
						json_object_array_get_idx(v, i))),
					0, false);
			}
			printf("%s\n", json_object_array_length(v) ? "" : " -");
		} else {
			tty_put(key, 16, false);
			putchar(' ');
			tty_put(json_object_get_string(v), 0, false);
			putchar('\n');
		}
	}
}

/* As --check prints them: "FILE:LINE: error: MESSAGE". */
static void print_problems(struct json_object *reply)
{
	struct json_object *arr;
	if (!json_object_object_get_ex(reply, "problems", &arr))
		return;
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(arr, i);
		tty_put(or_dash(s(p, "file")), 0, false);
		if (s(p, "line")) {
			putchar(':');
			tty_put(s(p, "line"), 0, false);
		}
		printf(": %s: ", or_dash(s(p, "level")));
		tty_put(or_dash(s(p, "message")), 0, false);
		putchar('\n');
	}
	printf("%zu problem(s) in the advertisement files\n", n);
}

static void print_history(struct json_object *reply)
{
	struct json_object *arr;
	if (!json_object_object_get_ex(reply, "runs", &arr))
		return;
	printf("%-10s %-12s %-21s %-21s %-16s %-7s %s\n", "RUN", "ID", "START", "END", "RESULT",
	       "EXIT", "DC");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *r = json_object_array_get_idx(arr, i);
		const char *exit_code = s(r, "exit"), *signal = s(r, "signal");
		/* As syslog names it: SIGTERM, not a number. */
		char sig[16] = "";
		const char *abbrev = signal ? sigabbrev_np(atoi(signal)) : NULL;
		if (signal)
			snprintf(sig, sizeof(sig), "SIG%s", abbrev ? abbrev : signal);
		tty_put(or_dash(s(r, "run")), 10, false);
		putchar(' ');
		tty_put(or_dash(s(r, "advert")), 12, false);
		putchar(' ');
		tty_put(or_dash(s(r, "start")), 21, false);
		putchar(' ');
		tty_put(or_dash(s(r, "end")), 21, false);
		putchar(' ');
		tty_put(or_dash(s(r, "result")), 16, false);
		putchar(' ');
		tty_put(sig[0] ? sig : or_dash(exit_code), 7, false);
		putchar(' ');
		tty_put(or_dash(s(r, "dc")), 0, false);
		putchar('\n');
		if (s(r, "reason") && strcmp(or_dash(s(r, "result")), "succeeded") != 0) {
			printf("           ");
			tty_put(s(r, "reason"), 0, false);
			putchar('\n');
		}
	}
}

static int cmd_daemon(const char *config_path, bool json, int argc, char **argv)
{
	char request[CONTROL_REQUEST_MAX];
	size_t len = 0;
	for (int i = 0; i < argc; i++) {
		if (strchr(argv[i], ' ') || strchr(argv[i], '\n')) {
			log_error_text("argument \"%s\" has a space or newline", argv[i]);
			return EXIT_USAGE;
		}
		int k = snprintf(request + len, sizeof(request) - len, "%s%s", i ? " " : "",
				 argv[i]);
		if (k < 0 || (size_t)k >= sizeof(request) - len) {
			log_error("request too long");
			return EXIT_USAGE;
		}
		len += (size_t)k;
	}
	snprintf(request + len, sizeof(request) - len, "\n");

	char *path = socket_path(config_path);
	struct json_object *reply = NULL;
	int r = ask(path, request, &reply);
	if (r < 0) {
		char *p = tty_str(path);
		if (r == -ENODATA)
			log_error(
				"advertd at %s closed the connection without an answer (busy? try "
				"again)",
				p ? p : "?");
		else
			log_error_errno(r, "cannot reach advertd at %s%s", p ? p : "?",
					r == -ENOENT || r == -ECONNREFUSED ? " (is it running?)"
									   : "");
		free(p);
		free(path);
		int code = r == -EACCES ? EXIT_DENIED : EXIT_UNREACHABLE;
		if (json) { /* a script reading JSON gets JSON, failure or not */
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "ok", json_object_new_boolean(0));
			json_object_object_add(o, "code", json_object_new_int(code));
			json_object_object_add(
				o, "error",
				json_object_new_string(code == EXIT_DENIED
							       ? "permission denied"
							       : "advertd is not reachable"));
			json_put(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
			json_object_put(o);
		}
		return code;
	}
	free(path);

	struct json_object *okv = NULL, *codev = NULL;
	bool ok = json_object_object_get_ex(reply, "ok", &okv) && json_object_get_boolean(okv);
	int code = json_object_object_get_ex(reply, "code", &codev) ? json_object_get_int(codev)
								    : EXIT_PROBLEMS;
	if (json) {
		struct json_object *clean = json_clean(reply);
		json_put(json_object_to_json_string_ext(clean, JSON_C_TO_STRING_PRETTY));
		json_object_put(clean);
	} else if (!ok) {
		log_error_text("%s", or_dash(s(reply, "error")));
	} else if (strcmp(argv[0], "list") == 0) {
		print_list(reply);
	} else if (strcmp(argv[0], "history") == 0) {
		print_history(reply);
	} else if (strcmp(argv[0], "problems") == 0) {
		print_problems(reply);
	} else if (strcmp(argv[0], "stop") == 0) {
		printf("stopping ");
		tty_put(or_dash(s(reply, "stopping")), 0, false);
		printf(" (run ");
		tty_put(or_dash(s(reply, "run")), 0, false);
		printf("): SIGTERM to every process of the run now, SIGKILL after ");
		tty_put(or_dash(s(reply, "kill_grace")), 0, false);
		printf(" s; recorded as interrupted\n");
	} else if (strcmp(argv[0], "run") == 0) {
		tty_put(or_dash(s(reply, "queued")), 0, false);
		printf(" queued to run now\n");
		struct json_object *p = NULL;
		if (json_object_object_get_ex(reply, "last_problem", &p) && p) {
			printf("note: its last attempt, at ");
			tty_put(or_dash(s(p, "at")), 0, false);
			printf(", could not start (");
			tty_put(or_dash(s(p, "status")), 0, false);
			printf(" ");
			tty_put(or_dash(s(p, "name")), 0, false);
			printf("): ");
			tty_put(or_dash(s(p, "reason")), 0, false);
			printf("\n      advertctl status shows whether this one does\n");
		}
	} else if (strcmp(argv[0], "reload") == 0) {
		printf("reloaded ");
		tty_put(or_dash(s(reply, "reloaded")), 0, false);
		if (s(reply, "note")) {
			printf(" (");
			tty_put(s(reply, "note"), 0, false);
			printf(")");
		}
		printf("; the advertisements are read again\n");
	} else if (strcmp(argv[0], "clear-damage") == 0) {
		printf("damage cleared for ");
		tty_put(or_dash(s(reply, "cleared")), 0, false);
		printf("\n");
	} else {
		print_object(reply, 0);
	}
	json_object_put(reply);
	return ok ? EXIT_SUCCESS : code > 0 && code <= EXIT_REFUSED ? code : EXIT_PROBLEMS;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config_path = ADV_DEFAULT_CONFIG;
	bool json = false;

	log_setup("advertctl", LOG_TARGET_STDERR, LOG_USER);
	/* A daemon that closes on us must give an error message, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	for (int c; (c = getopt_long(argc, argv, "+c:hV", options, NULL)) != -1;) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("advertctl %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* The global options after the command too (advertctl list --json -c FILE), as
	 * getopt users expect; what is left are the command and its own arguments. */
	int rest = 0;
	char **args = argv + optind;
	for (int i = optind; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
		    i + 1 < argc)
			config_path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config_path = argv[i] + 9;
		else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = true;
		else
			args[rest++] = argv[i];
	}
	if (rest == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = args[0];
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(config_path, json, rest - 1, args + 1);
	if (strcmp(cmd, "report") == 0)
		return report_main(json, rest, args);
	if (strcmp(cmd, "publish") == 0 || strcmp(cmd, "unpublish") == 0 ||
	    strcmp(cmd, "published") == 0)
		return publish_main(config_path, json, rest, args);
	if (strcmp(cmd, "run") == 0 && rest == 3 &&
	    (strcmp(args[2], "--wait") == 0 || strcmp(args[2], "-w") == 0) && !json)
		return run_and_wait(config_path, args[1]);
	if (strcmp(cmd, "log") == 0 && !json) {
		if (rest < 2 || rest > 3) {
			usage(stderr);
			return EXIT_USAGE;
		}
		return print_log(config_path, rest, args);
	}
	static const char *const daemon_cmds[] = { "list",   "status",       "explain",
						   "run",    "history",      "identity",
						   "reload", "clear-damage", "problems",
						   "stop",   "log",          NULL };
	for (const char *const *d = daemon_cmds; *d; d++)
		if (strcmp(cmd, *d) == 0)
			return cmd_daemon(config_path, json, rest, args);
	log_error_text("unknown command \"%s\"", cmd);
	usage(stderr);
	return EXIT_USAGE;
}

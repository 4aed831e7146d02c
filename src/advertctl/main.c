/* advertctl: the administrator's command line for advertd. Read commands and run/reload
 * go to the daemon over its control socket; check-config works without one. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "advert/check.h"
#include "advert/ctlproto.h"
#include "advert/log.h"

/* Exit statuses, documented in advertctl(8): the daemon's reply codes. */
enum {
	EXIT_PROBLEMS = CONTROL_FAILED,
	EXIT_USAGE = CONTROL_USAGE,
	EXIT_UNREACHABLE = CONTROL_UNREACHABLE,
	EXIT_DENIED = CONTROL_DENIED,
	EXIT_REFUSED = CONTROL_REFUSED,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: advertctl [-c FILE] [--json] COMMAND [ARGS…]\n"
		"  -c, --config FILE   advertd configuration (default %s)\n"
		"      --json          print the daemon's answer as JSON\n"
		"\n"
		"Commands:\n"
		"  list                  every advertisement: state, next due, last result\n"
		"  status ID             one advertisement in detail\n"
		"  explain ID            why it is or is not due, and what a run would use\n"
		"  run ID                run it now (root)\n"
		"  history [ID] [-n N]   the latest runs\n"
		"  identity ACCOUNT      the lockout guard's state for an account\n"
		"  reload                reread advertd.conf and the advertisements (root)\n"
		"  check-config [FILE…]  validate advertd.conf and every advertisement; with\n"
		"                        FILEs, validate those against the installed configuration\n"
		"\n"
		"Exit status: 0 ok, 1 problems or failure, 2 usage, 3 advertd not reachable,\n"
		"4 permission denied, 5 no such advertisement or account, 6 refused.\n",
		ADV_DEFAULT_CONFIG);
}

static int cmd_check_config(const char *config_path, int argc, char **argv)
{
	struct check_result res;
	int r = check_run(config_path, (const char *const *)argv, (size_t)argc, &res);
	if (r < 0) {
		log_error_errno(r, "checking configuration");
		return EXIT_PROBLEMS;
	}
	diag_print(&res.diags, stderr);
	size_t errors = diag_count(&res.diags, DIAG_ERROR);
	size_t warnings = diag_count(&res.diags, DIAG_WARNING);
	check_print_summary(&res, stdout);
	printf("%s: %zu error(s), %zu warning(s)\n", errors ? "problems found" : "ok", errors,
	       warnings);
	check_result_clear(&res);
	return errors ? EXIT_PROBLEMS : EXIT_SUCCESS;
}

/* The control socket named by the configuration; the default when it cannot be read. */
static char *socket_path(const char *config_path)
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

/* Sends one request line and reads the whole reply. */
static int ask(const char *path, const char *request, struct json_object **ret)
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
	size_t len = strlen(request);
	if (write(fd, request, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	shutdown(fd, SHUT_WR);
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	for (ssize_t k; buf && (k = read(fd, buf + n, cap - n - 1)) > 0;) {
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
	buf[n] = '\0';
	*ret = json_tokener_parse(buf);
	free(buf);
	return *ret ? 0 : -EPROTO;
}

static const char *s(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

static const char *or_dash(const char *v)
{
	return v && *v ? v : "-";
}

static void print_list(struct json_object *reply)
{
	struct json_object *arr;
	if (!json_object_object_get_ex(reply, "advertisements", &arr))
		return;
	size_t n = json_object_array_length(arr);
	printf("%-12s %-22s %-12s %-17s %-21s %s\n", "ID", "PROGRAM", "RUN AS", "STATE",
	       "NEXT DUE", "LAST RESULT");
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(arr, i);
		char program[64];
		snprintf(program, sizeof(program), "%s/%s", or_dash(s(a, "package")),
			 or_dash(s(a, "program")));
		printf("%-12s %-22.22s %-12s %-17s %-21s %s\n", or_dash(s(a, "id")), program,
		       or_dash(s(a, "run_as")), or_dash(s(a, "state")), or_dash(s(a, "next_due")),
		       or_dash(s(a, "last_result")));
	}
}

/* Prints an object as "key: value" lines, nested objects indented. */
static void print_object(struct json_object *o, int indent)
{
	json_object_object_foreach(o, key, v)
	{
		if (strcmp(key, "ok") == 0 && indent == 0)
			continue;
		if (!v) {
			printf("%*s%-16s -\n", indent, "", key);
		} else if (json_object_is_type(v, json_type_object)) {
			printf("%*s%s:\n", indent, "", key);
			print_object(v, indent + 2);
		} else if (json_object_is_type(v, json_type_array) &&
			   (json_object_array_length(v) == 0 ||
			    !json_object_is_type(json_object_array_get_idx(v, 0), json_type_object))) {
			printf("%*s%-16s", indent, "", key);
			for (size_t i = 0; i < json_object_array_length(v); i++)
				printf(" %s", json_object_get_string(json_object_array_get_idx(v, i)));
			printf("%s\n", json_object_array_length(v) ? "" : " -");
		} else {
			printf("%*s%-16s %s\n", indent, "", key, json_object_get_string(v));
		}
	}
}

static void print_history(struct json_object *reply)
{
	struct json_object *arr;
	if (!json_object_object_get_ex(reply, "runs", &arr))
		return;
	printf("%-10s %-12s %-21s %-21s %-14s %-6s %s\n", "RUN", "ID", "START", "END", "RESULT",
	       "EXIT", "DC");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *r = json_object_array_get_idx(arr, i);
		const char *exit_code = s(r, "exit"), *signal = s(r, "signal");
		char sig[16] = "";
		if (signal)
			snprintf(sig, sizeof(sig), "sig%s", signal);
		printf("%-10s %-12s %-21s %-21s %-14s %-6s %s\n", or_dash(s(r, "run")),
		       or_dash(s(r, "advert")),
		       or_dash(s(r, "start")), or_dash(s(r, "end")), or_dash(s(r, "result")),
		       sig[0] ? sig : or_dash(exit_code), or_dash(s(r, "dc")));
		if (s(r, "reason") && strcmp(or_dash(s(r, "result")), "succeeded") != 0)
			printf("           %s\n", s(r, "reason"));
	}
}

static int cmd_daemon(const char *config_path, bool json, int argc, char **argv)
{
	char request[CONTROL_REQUEST_MAX];
	size_t len = 0;
	for (int i = 0; i < argc; i++) {
		if (strchr(argv[i], ' ') || strchr(argv[i], '\n')) {
			log_error("argument \"%s\" has a space or newline", argv[i]);
			return EXIT_USAGE;
		}
		int k = snprintf(request + len, sizeof(request) - len, "%s%s", i ? " " : "", argv[i]);
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
		log_error_errno(r, "cannot reach advertd at %s%s", path,
				r == -ENOENT || r == -ECONNREFUSED ? " (is it running?)" : "");
		free(path);
		return r == -EACCES ? EXIT_DENIED : EXIT_UNREACHABLE;
	}
	free(path);

	struct json_object *okv = NULL, *codev = NULL;
	bool ok = json_object_object_get_ex(reply, "ok", &okv) && json_object_get_boolean(okv);
	int code = json_object_object_get_ex(reply, "code", &codev) ? json_object_get_int(codev)
								      : EXIT_PROBLEMS;
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	} else if (!ok) {
		log_error("%s", or_dash(s(reply, "error")));
	} else if (strcmp(argv[0], "list") == 0) {
		print_list(reply);
	} else if (strcmp(argv[0], "history") == 0) {
		print_history(reply);
	} else if (strcmp(argv[0], "run") == 0) {
		printf("%s queued to run now\n", s(reply, "queued"));
	} else if (strcmp(argv[0], "reload") == 0) {
		printf("reloading\n");
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
	const char *cmd = argv[optind];
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(config_path, argc - optind - 1, argv + optind + 1);
	static const char *const daemon_cmds[] = { "list",    "status",	  "explain", "run",
						   "history", "identity", "reload",  NULL };
	for (const char *const *d = daemon_cmds; *d; d++)
		if (strcmp(cmd, *d) == 0)
			return cmd_daemon(config_path, json, argc - optind, argv + optind);
	log_error("unknown command \"%s\"", cmd);
	usage(stderr);
	return EXIT_USAGE;
}

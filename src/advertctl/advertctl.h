/* SPDX-License-Identifier: MIT */
/* What advertctl's files share: the daemon's socket, terminal-safe output, following a
 * run. */
#ifndef ADVERTCTL_H
#define ADVERTCTL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "advert/ctlproto.h"

enum {
	EXIT_PROBLEMS = CONTROL_FAILED,
	EXIT_USAGE = CONTROL_USAGE,
	EXIT_UNREACHABLE = CONTROL_UNREACHABLE,
	EXIT_DENIED = CONTROL_DENIED,
	EXIT_REFUSED = CONTROL_REFUSED,
};

/* --- main.c: the daemon's socket ---------------------------------------------------- */

/* control_socket of config_path (malloc'd), or NULL after saying why. */
char *socket_path(const char *config_path);
/* One request line, one JSON reply (*ret, the caller puts it). Returns 0 or -errno. */
int ask(const char *path, const char *request, struct json_object **ret);
/* The string value of key in o, or NULL. */
const char *s(struct json_object *o, const char *key);
/* v, or "-" when it is NULL or empty. */
const char *or_dash(const char *v);

/* --- tty.c: what reaches a terminal or a JSON parser --------------------------------- */

/* Prints s escaped for a terminal, padded to width columns; with cut, no wider. */
void tty_put(const char *s, size_t width, bool cut);
/* s escaped for a terminal (malloc'd), or NULL. */
char *tty_str(const char *s);
/* A copy of v whose strings are valid UTF-8 (the caller puts it). */
struct json_object *json_clean(struct json_object *v);
/* Prints JSON text and a newline. */
void json_put(const char *text);
/* A program's output: its bytes into a pipe, line by line escaped to a terminal. */
void put_output(const char *s, size_t len);

/* log_error() with one string argument, one that came from outside. */
#define log_error_text(fmt, text)                                                                  \
	do {                                                                                       \
		char *t_ = tty_str(text);                                                          \
		log_error(fmt, t_ ? t_ : "?");                                                     \
		free(t_);                                                                          \
	} while (0)

/* --- follow.c: run --wait and log ---------------------------------------------------- */

/* run ID --wait: queue the run, follow it, exit by its result. */
int run_and_wait(const char *config_path, const char *id);
/* log ID [RUN]: a run's captured output. */
int print_log(const char *config_path, int argc, char **argv);

/* --- report.c: the fleet's status from collected syslog lines ------------------------- */

/* report [FILE…] [--host H] [--advert ID]: per advertisement, the hosts by their
 * latest state (argv[0] is "report"). */
int report_main(bool json, int argc, char **argv);

/* --- publish.c: advertisement files in the directory ---------------------------------- */

/* publish FILE…, unpublish NAME…, published (argv[0] is the command), with the caller's
 * own Kerberos ticket. */
int publish_main(const char *config_path, bool json, int argc, char **argv);

#endif

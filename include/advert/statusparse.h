/* SPDX-License-Identifier: MIT */
/* Reading status lines back, as a central collector stores them: the syslog prefix
 * (rsyslog's traditional or high-precision format: time, host, tag), then the line
 * status_format wrote: "ID name key=value key=\"quoted value\" …". For advertctl report;
 * any byte may arrive, and a line that is not one of ours is said to be so, never
 * guessed at. */
#ifndef ADVERT_STATUSPARSE_H
#define ADVERT_STATUSPARSE_H

#include <stdbool.h>
#include <stddef.h>

#define STATUSPARSE_HOST_MAX   256
#define STATUSPARSE_FIELDS_MAX 24
#define STATUSPARSE_VALUE_MAX  1024

struct status_parsed_field {
	char key[32];
	char value[STATUSPARSE_VALUE_MAX]; /* unescaped; a NUL in it ends it */
};

struct status_parsed {
	char host[STATUSPARSE_HOST_MAX];
	int id; /* 10002 … 11031 */
	size_t n;
	struct status_parsed_field fields[STATUSPARSE_FIELDS_MAX];
};

/* Parses one line (without its newline). Returns true with *ret filled, false when it
 * is not a status line of advertd's. */
bool status_parse_line(const char *line, size_t len, struct status_parsed *ret)
	__attribute__((nonnull));

/* The value of key, or NULL. */
const char *status_parsed_get(const struct status_parsed *p, const char *key)
	__attribute__((nonnull));

#endif

/* SPDX-License-Identifier: MIT */
/* The advertisement model: what to run (package, program), as whom, when, and how often;
 * and the parser for one advertisement file. Knows nothing of Kerberos or LDAP. */
#ifndef ADVERT_ADVERT_H
#define ADVERT_ADVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "advert/diag.h"
#include "advert/window.h"

enum advert_rerun {
	ADV_RERUN_NEVER,
	ADV_RERUN_ALWAYS,
	ADV_RERUN_IF_FAILED,
	ADV_RERUN_IF_SUCCEEDED
};

/* What the program runs with. SMS's "run with administrative rights" + "use the software
 * installation account": the account's uid, gid and groups, or root for the run holding
 * only the account's Kerberos credentials. */
enum advert_rights {
	ADV_RIGHTS_ACCOUNT,
	ADV_RIGHTS_ADMIN,
};

/* Whether a user must be logged on (SMS: "program can run"). */
enum advert_when {
	ADV_WHEN_ANY,     /* whether or not a user is logged on */
	ADV_WHEN_NO_USER, /* only when no user is logged on */
	ADV_WHEN_USER,    /* only when a user is logged on */
};

/* What follows a successful run (SMS: "after running"). */
enum advert_after_run {
	ADV_AFTER_NOTHING,
	ADV_AFTER_RESTART, /* advertd asks for a restart once nothing of it runs */
};

#define ADV_ID_MAX            64
#define ADV_MAX_RUNTIME_LIMIT (7 * 86400)

struct advert_package {
	char *id;
	char *name;
	char *version; /* may be NULL */
	char *source;  /* absolute path of the package's files */
};

struct advert_program {
	char *name;
	char **command;            /* argv, NULL-terminated, at least one element */
	char *working_dir;         /* NULL: the package source */
	char *run_as;              /* an account name, or "system" */
	enum advert_rights rights; /* ADMIN: never with run_as = "system" */
	int max_runtime;           /* seconds */
	int *success_codes;
	size_t n_success_codes;
	int *reboot_codes;
	size_t n_reboot_codes;
	char **environment; /* "KEY=VALUE", NULL-terminated, possibly empty */
	char **platforms;   /* uname -m values, NULL-terminated; empty: any */
	long long min_free_mb;
	char *depends_on; /* advertisement id, or NULL */
	/* With depends_on: wait until a restart the dependency's latest run asked for (a
	 * reboot code, "restart pending") has happened. Default true. */
	bool wait_for_restart;
	enum advert_after_run after_run;
	enum advert_when when;
};

struct advert_schedule {
	bool has_start;
	time_t start;
	bool has_expires;
	time_t expires;
	int recur;              /* seconds between occurrences; 0: once */
	struct window *windows; /* maintenance windows; none: any time */
	size_t n_windows;
};

struct advert {
	char *id;
	struct advert_package package;
	struct advert_program program;
	struct advert_schedule schedule;
	enum advert_rerun rerun;
	bool enabled;
	/* Which hosts it is for: host names, group DNs or group names, NULL-terminated;
	 * NULL: every host that reads it. */
	char **targets;
	char *file; /* where it was defined: a path, or an entry's ldap:/// URL */
	int line;
};

/* Parses every advertisement in the file at path (not checked for trust here). Valid
 * ones are appended to *items (a growing array of pointers; *n its length); each
 * invalid one is reported in diags and skipped, so one bad advertisement never hides
 * the others. Returns 0, or a negative errno if the file could not be read at all
 * (also reported in diags). */
int advert_parse_file(const char *path, struct advert ***items, size_t *n, struct diag_list *diags)
	__attribute__((nonnull));

/* The same for an advertisement file's text from elsewhere (a directory entry), with
 * name as the file in diagnostics. */
int advert_parse_text(const char *name, const char *text, struct advert ***items, size_t *n,
		      struct diag_list *diags) __attribute__((nonnull));

void advert_free(struct advert *a);

const char *advert_rerun_name(enum advert_rerun r);
const char *advert_rights_name(enum advert_rights r);
const char *advert_after_run_name(enum advert_after_run r);
const char *advert_when_name(enum advert_when w);

/* True for 1..64 of [A-Za-z0-9._-], not starting with '.' or '-' (ids become file
 * names). */
bool advert_id_valid(const char *id);

/* A digest of everything that defines a (not where it is written): equal for the same
 * advertisement in a touched, reformatted or moved file, different when any setting
 * differs. */
uint64_t advert_digest(const struct advert *a) __attribute__((nonnull));

/* Whether a's requirements.platforms admit this machine (uname -m); the machine's name
 * in machine (at least 65 bytes). No list admits every machine. */
bool advert_platform_ok(const struct advert *a, char *machine, size_t size)
	__attribute__((nonnull));

/* Whether code is in the list. */
bool advert_code_in(const int *codes, size_t n, int code);

#endif

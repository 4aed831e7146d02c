/* SPDX-License-Identifier: MIT */
/* The daemon configuration (advertd.conf): its model, defaults and validation. */
#ifndef ADVERT_CONFIG_H
#define ADVERT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "advert/diag.h"

#ifndef ADVERT_SYSCONFDIR
#define ADVERT_SYSCONFDIR "/etc"
#endif
#define ADV_DEFAULT_CONFIG ADVERT_SYSCONFDIR "/advertd/advertd.conf"
#ifndef ADVERT_LOCALSTATEDIR
#define ADVERT_LOCALSTATEDIR "/var"
#endif
#ifndef ADVERT_RUNSTATEDIR
#define ADVERT_RUNSTATEDIR "/run"
#endif
#define ADV_DEFAULT_STATE_DIR      ADVERT_LOCALSTATEDIR "/lib/advertd"
#define ADV_DEFAULT_LOG_DIR        ADVERT_LOCALSTATEDIR "/log/advertd"
#define ADV_DEFAULT_CONTROL_SOCKET ADVERT_RUNSTATEDIR "/advertd/control.sock"

enum config_schema { CONFIG_SCHEMA_AD, CONFIG_SCHEMA_RFC2307BIS, CONFIG_SCHEMA_RFC2307 };

enum account_kind { ACCOUNT_KEYTAB, ACCOUNT_PASSWORD, ACCOUNT_LOCAL };

/* Where status messages go: journald when it runs and the socket is /dev/log (auto),
 * the socket alone, or journald always (the socket when it does not answer). */
enum config_syslog_target { CONFIG_SYSLOG_AUTO, CONFIG_SYSLOG_SOCKET, CONFIG_SYSLOG_JOURNAL };

struct config_server {
	char *host;    /* DNS name: the KDC realm entry and the ldap/<host> service */
	char *address; /* IP literal to connect to; NULL: resolve host */
};

/* A software installation account. */
struct config_account {
	char *name;
	enum account_kind kind;
	char *principal;     /* keytab and password accounts */
	char *keytab;        /* ACCOUNT_KEYTAB */
	char *password_file; /* ACCOUNT_PASSWORD */
	char *local_user;    /* ACCOUNT_LOCAL: NSS only */
	int line;
};

struct config {
	char *file;

	char **advertisements; /* directories (*.conf), files, or ldap:///BASE URLs */
	size_t n_advertisements;
	int poll_interval;
	int splay;
	int max_concurrent;
	int kill_grace;
	long long max_log_bytes;
	int max_logs_per_advert; /* run logs kept per advertisement, the newest */
	char *state_dir;
	char *log_dir;
	char *control_socket;
	char *admin_group; /* may use advertctl's read commands; "" = root only */

	struct {
		int facility; /* LOG_DAEMON etc. */
		char *ident;
		char *socket;
		enum config_syslog_target target;
	} syslog;

	struct {
		char *principal; /* NULL: host/<fqdn>@<realm> */
		char *keytab;
	} client_token;

	struct {
		char *realm;
		char *domain;
		char *site;
		struct config_server *servers; /* none: DNS SRV discovery */
		size_t n_servers;
		char *base;
		enum config_schema schema;
		int timeout;
		/* The ids the directory may hand out: nothing outside [min_id, max_id] (system
		 * ids below 1000 by default), nothing NSS names differently on this host. */
		int min_id, max_id;
	} directory;

	struct config_account *accounts;
	size_t n_accounts;

	struct {
		int backoff;
		/* On AD: failed attempts left below lockoutThreshold that the fleet never
		 * spends (kept for a human). */
		int reserve;
	} lockout;

	/* What after_run = "restart" and reboot codes lead to. */
	struct {
		char **command;      /* argv run as root to ask for the restart */
		char *required_file; /* Debian's flag file: written either way */
	} restart;
};

/* Reads and validates path. Problems go to diags (file:line). Returns 0 with *ret set to
 * a config holding every valid value (defaults in place of invalid ones) — check diags
 * for errors before trusting it; or a negative errno when nothing usable could be read
 * (missing, untrusted, syntax error), also reported in diags. Free with config_free. */
int config_load(const char *path, struct config **ret, struct diag_list *diags)
	__attribute__((nonnull, warn_unused_result));

/* A config with every default and no accounts. NULL on ENOMEM. */
struct config *config_new_default(void);

void config_free(struct config *cfg);

/* Whether status messages go to journald, given whether it runs here. */
bool config_syslog_journal(const struct config *cfg, bool journal_present) __attribute__((nonnull));

/* Whether an advertisements entry is an LDAP URL rather than a path. */
bool config_is_url(const char *path) __attribute__((nonnull));

/* The base DN of an advertisements entry "ldap:///BASE" (RFC 4516, no host: the pinned
 * DC; no attributes, filter or extensions; scope sub). Returns 0 with *ret_dn (caller
 * frees), or -EINVAL with why saying what is wrong, or -ENOMEM. */
int config_url_base(const char *url, char **ret_dn, char *why, size_t size)
	__attribute__((nonnull));

/* The account called name, or NULL. */
const struct config_account *config_find_account(const struct config *cfg, const char *name);

const char *config_schema_name(enum config_schema s);
const char *config_facility_name(int facility);

#endif

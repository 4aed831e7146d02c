/* SPDX-License-Identifier: MIT */
/* advertd.conf: defaults, parsing and validation. The key names are a contract with
 * admins' files: add freely, rename never. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <ldap.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <syslog.h>

#include "advert/cfgread.h"
#include "advert/config.h"
#include "advert/trust.h"
#include "advert/util.h"

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{ "auth", LOG_AUTH },     { "authpriv", LOG_AUTHPRIV }, { "cron", LOG_CRON },
	{ "daemon", LOG_DAEMON }, { "local0", LOG_LOCAL0 },     { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },     { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },     { "local7", LOG_LOCAL7 },
	{ "user", LOG_USER },
};

static const char *const schema_names[] = { "ad", "rfc2307bis", "rfc2307", NULL };

const char *config_schema_name(enum config_schema s)
{
	return schema_names[s];
}

const char *config_facility_name(int facility)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (facilities[i].value == facility)
			return facilities[i].name;
	return "?";
}

struct config *config_new_default(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->advertisements = calloc(2, sizeof(char *));
	if (cfg->advertisements)
		cfg->advertisements[0] = strdup(ADVERT_SYSCONFDIR "/advertd/advertisements.d");
	cfg->n_advertisements = 1;
	cfg->poll_interval = 300;
	cfg->splay = 60;
	cfg->max_concurrent = 2;
	cfg->kill_grace = 30;
	cfg->max_log_bytes = 1024 * 1024;
	cfg->max_logs_per_advert = 10;
	cfg->state_dir = strdup(ADV_DEFAULT_STATE_DIR);
	cfg->log_dir = strdup(ADV_DEFAULT_LOG_DIR);
	cfg->control_socket = strdup(ADV_DEFAULT_CONTROL_SOCKET);
	cfg->admin_group = strdup("");
	cfg->syslog.facility = LOG_DAEMON;
	cfg->syslog.ident = strdup("advertd");
	cfg->syslog.socket = strdup("/dev/log");
	cfg->client_token.keytab = strdup("/etc/krb5.keytab");
	cfg->directory.site = strdup("");
	cfg->directory.schema = CONFIG_SCHEMA_RFC2307BIS;
	cfg->directory.timeout = 5;
	cfg->directory.min_id = 1000;
	cfg->directory.max_id = INT32_MAX;
	cfg->lockout.backoff = 1800;
	cfg->lockout.reserve = 1;
	/* Through logind, with a delay and a wall message: users get two minutes' warning. */
	static const char *const restart[] = {
		"/usr/sbin/shutdown", "-r", "+2",
		"advertd: software was installed that needs a restart; the computer restarts in "
		"2 minutes",
		NULL
	};
	cfg->restart.command = calloc(ARRAY_SIZE(restart), sizeof(char *));
	for (size_t i = 0; cfg->restart.command && restart[i]; i++)
		if (!(cfg->restart.command[i] = strdup(restart[i]))) {
			strv_free(cfg->restart.command);
			cfg->restart.command = NULL;
		}
	cfg->restart.required_file = strdup("/run/reboot-required");
	if (!cfg->restart.command || !cfg->restart.required_file || !cfg->advertisements ||
	    !cfg->advertisements[0] || !cfg->state_dir || !cfg->log_dir || !cfg->control_socket ||
	    !cfg->admin_group || !cfg->syslog.ident || !cfg->syslog.socket ||
	    !cfg->client_token.keytab || !cfg->directory.site) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void account_clear(struct config_account *a)
{
	free(a->name);
	free(a->principal);
	free(a->keytab);
	free(a->password_file);
	free(a->local_user);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->file);
	strv_free(cfg->advertisements);
	free(cfg->state_dir);
	free(cfg->log_dir);
	free(cfg->control_socket);
	free(cfg->admin_group);
	free(cfg->syslog.ident);
	free(cfg->syslog.socket);
	free(cfg->client_token.principal);
	free(cfg->client_token.keytab);
	free(cfg->directory.realm);
	free(cfg->directory.domain);
	free(cfg->directory.site);
	for (size_t i = 0; i < cfg->directory.n_servers; i++) {
		free(cfg->directory.servers[i].host);
		free(cfg->directory.servers[i].address);
	}
	free(cfg->directory.servers);
	free(cfg->directory.base);
	for (size_t i = 0; i < cfg->n_accounts; i++)
		account_clear(&cfg->accounts[i]);
	free(cfg->accounts);
	strv_free(cfg->restart.command);
	free(cfg->restart.required_file);
	free(cfg);
}

const struct config_account *config_find_account(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_accounts; i++)
		if (strcmp(cfg->accounts[i].name, name) == 0)
			return &cfg->accounts[i];
	return NULL;
}

/* Reads an int key into an int field, keeping the default when absent or invalid. */
static void read_int(struct cfgread *c, const config_setting_t *g, const char *prefix,
		     const char *key, long long min, long long max, int *field)
{
	long long v;
	if (cfgread_int(c, g, prefix, key, false, min, max, &v) == CFG_OK)
		*field = (int)v;
}

/* Reads an absolute path; a relative one is an error. */
static void read_path(struct cfgread *c, const config_setting_t *g, const char *prefix,
		      const char *key, bool required, char **field)
{
	char *v = NULL;
	if (cfgread_string(c, g, prefix, key, required, &v) != CFG_OK)
		return;
	if (v[0] != '/') {
		cfgread_error(c, config_setting_get_member(g, key),
			      "\"%s%s%s\" is \"%s\", expected an absolute path", prefix,
			      prefix[0] ? "." : "", key, v);
		free(v);
		return;
	}
	free(*field);
	*field = v;
}

/* A Unix socket's path must fit sockaddr_un, or the daemon would only find out at start. */
static void socket_path_fits(struct cfgread *c, const config_setting_t *g, const char *prefix,
			     const char *key, const char *path)
{
	if (path && strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		cfgread_error(c, config_setting_get_member(g, key),
			      "\"%s%s%s\" is %zu bytes long: a Unix socket's path must be shorter "
			      "than %zu bytes",
			      prefix, prefix[0] ? "." : "", key, strlen(path),
			      sizeof(((struct sockaddr_un *)0)->sun_path));
}

static void read_syslog(struct cfgread *c, const config_setting_t *root, struct config *cfg)
{
	static const char *const keys[] = { "facility", "ident", "socket", "target", NULL };
	config_setting_t *g;
	if (cfgread_group(c, root, "", "syslog", false, false, &g) != CFG_OK)
		return;
	cfgread_unknown_keys(c, g, "syslog", keys);
	char *target = NULL;
	if (cfgread_string(c, g, "syslog", "target", false, &target) == CFG_OK) {
		static const char *const names[] = { "auto", "socket", "journal" };
		size_t i = 0;
		while (i < 3 && strcmp(names[i], target) != 0)
			i++;
		if (i < 3)
			cfg->syslog.target = (enum config_syslog_target)i;
		else
			cfgread_error(
				c, config_setting_get_member(g, "target"),
				"\"syslog.target\" is \"%s\", expected auto, socket or journal",
				target);
		free(target);
	}
	char *fac = NULL;
	if (cfgread_string(c, g, "syslog", "facility", false, &fac) == CFG_OK) {
		size_t i, n = sizeof(facilities) / sizeof(facilities[0]);
		for (i = 0; i < n && strcmp(facilities[i].name, fac) != 0; i++)
			;
		if (i < n)
			cfg->syslog.facility = facilities[i].value;
		else
			cfgread_error(
				c, config_setting_get_member(g, "facility"),
				"\"syslog.facility\" is \"%s\", expected one of daemon, user, "
				"auth, authpriv, cron, local0 … local7",
				fac);
		free(fac);
	}
	if (cfgread_string(c, g, "syslog", "ident", false, &cfg->syslog.ident) == CFG_OK &&
	    cfg->syslog.ident[0] == '\0')
		cfgread_error(c, config_setting_get_member(g, "ident"),
			      "\"syslog.ident\" must not be empty");
	read_path(c, g, "syslog", "socket", false, &cfg->syslog.socket);
	socket_path_fits(c, g, "syslog", "socket", cfg->syslog.socket);
}

static void read_client_token(struct cfgread *c, const config_setting_t *root, struct config *cfg)
{
	static const char *const keys[] = { "principal", "keytab", NULL };
	config_setting_t *g;
	if (cfgread_group(c, root, "", "client_token", false, false, &g) != CFG_OK)
		return;
	cfgread_unknown_keys(c, g, "client_token", keys);
	if (cfgread_string(c, g, "client_token", "principal", false,
			   &cfg->client_token.principal) == CFG_OK &&
	    !strchr(cfg->client_token.principal, '@'))
		cfgread_error(c, config_setting_get_member(g, "principal"),
			      "\"client_token.principal\" is \"%s\", expected a principal with "
			      "its realm, such as \"host/ws1.example.test@EXAMPLE.TEST\"",
			      cfg->client_token.principal);
	read_path(c, g, "client_token", "keytab", false, &cfg->client_token.keytab);
}

static void read_servers(struct cfgread *c, const config_setting_t *dir, struct config *cfg)
{
	static const char *const keys[] = { "host", "address", NULL };
	config_setting_t *list;
	if (cfgread_group(c, dir, "directory", "servers", false, true, &list) != CFG_OK)
		return;
	size_t n = (size_t)config_setting_length(list);
	if (n == 0) {
		cfgread_error(c, list,
			      "\"directory.servers\" is empty: list servers, or remove the key "
			      "to discover them by DNS SRV");
		return;
	}
	cfg->directory.servers = calloc(n, sizeof(*cfg->directory.servers));
	if (!cfg->directory.servers) {
		cfgread_error(c, list, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			cfgread_error(c, e,
				      "\"directory.servers\" element %zu must be a group "
				      "{ host = \"…\"; address = \"…\"; }",
				      i);
			continue;
		}
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "directory.servers[%zu]", i);
		cfgread_unknown_keys(c, e, prefix, keys);
		struct config_server srv = { 0 };
		cfgread_string(c, e, prefix, "host", true, &srv.host);
		cfgread_string(c, e, prefix, "address", false, &srv.address);
		if (srv.host && (srv.host[0] == '\0' || strpbrk(srv.host, " /@:"))) {
			cfgread_error(c, config_setting_get_member(e, "host"),
				      "\"%s.host\" is \"%s\", expected a DNS host name", prefix,
				      srv.host);
			free(srv.host);
			srv.host = NULL;
		}
		if (!srv.host) {
			free(srv.address);
			continue;
		}
		cfg->directory.servers[cfg->directory.n_servers++] = srv;
	}
}

static void read_directory(struct cfgread *c, const config_setting_t *root, struct config *cfg)
{
	static const char *const keys[] = { "realm",  "domain",  "site",   "servers", "base",
					    "schema", "timeout", "min_id", "max_id",  NULL };
	config_setting_t *g;
	if (cfgread_group(c, root, "", "directory", false, false, &g) != CFG_OK)
		return;
	cfgread_unknown_keys(c, g, "directory", keys);
	cfgread_string(c, g, "directory", "realm", false, &cfg->directory.realm);
	cfgread_string(c, g, "directory", "domain", false, &cfg->directory.domain);
	cfgread_string(c, g, "directory", "site", false, &cfg->directory.site);
	cfgread_string(c, g, "directory", "base", false, &cfg->directory.base);
	read_int(c, g, "directory", "timeout", 1, 300, &cfg->directory.timeout);
	read_int(c, g, "directory", "min_id", 1, INT32_MAX, &cfg->directory.min_id);
	read_int(c, g, "directory", "max_id", 1, INT32_MAX, &cfg->directory.max_id);
	if (cfg->directory.min_id > cfg->directory.max_id)
		cfgread_error(c, g, "directory.min_id (%d) is above directory.max_id (%d)",
			      cfg->directory.min_id, cfg->directory.max_id);
	read_servers(c, g, cfg);

	char *schema = NULL;
	if (cfgread_string(c, g, "directory", "schema", false, &schema) == CFG_OK) {
		size_t i;
		for (i = 0; schema_names[i] && strcmp(schema_names[i], schema) != 0; i++)
			;
		if (schema_names[i])
			cfg->directory.schema = (enum config_schema)i;
		else
			cfgread_error(c, config_setting_get_member(g, "schema"),
				      "\"directory.schema\" is \"%s\", expected \"ad\", "
				      "\"rfc2307bis\" or \"rfc2307\"",
				      schema);
		free(schema);
	}
	if (cfg->directory.realm && cfg->directory.realm[0] == '\0')
		cfgread_error(c, config_setting_get_member(g, "realm"),
			      "\"directory.realm\" must not be empty");
}

/* "EXAMPLE.TEST" → "example.test" → "dc=example,dc=test" */
static void derive_directory(struct config *cfg)
{
	if (!cfg->directory.realm)
		return;
	if (!cfg->directory.domain && (cfg->directory.domain = strdup(cfg->directory.realm)))
		for (char *p = cfg->directory.domain; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	if (!cfg->directory.base && cfg->directory.domain) {
		size_t len = strlen(cfg->directory.domain);
		char *b = malloc(len * 4 + 4);
		if (!b)
			return;
		char *o = stpcpy(b, "dc=");
		for (const char *p = cfg->directory.domain; *p; p++)
			o = *p == '.' ? stpcpy(o, ",dc=") : (*o++ = *p, o);
		*o = '\0';
		cfg->directory.base = b;
	}
}

/* An account name names a directory under state_dir/lockout: never "." or "..", nor
 * anything starting with '.' or '-'. */
static bool valid_name(const char *s)
{
	if (!s[0] || strlen(s) > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

static void read_account(struct cfgread *c, config_setting_t *e, size_t i, struct config *cfg)
{
	static const char *const keys[] = { "name",          "principal",  "keytab",
					    "password_file", "local_user", NULL };
	char prefix[48];
	snprintf(prefix, sizeof(prefix), "accounts[%zu]", i);
	if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
		cfgread_error(c, e, "\"accounts\" element %zu must be a group { name = …; }", i);
		return;
	}
	size_t errors = c->errors;
	cfgread_unknown_keys(c, e, prefix, keys);
	struct config_account a = { .line = config_setting_source_line(e) };
	cfgread_string(c, e, prefix, "name", true, &a.name);
	cfgread_string(c, e, prefix, "principal", false, &a.principal);
	read_path(c, e, prefix, "keytab", false, &a.keytab);
	read_path(c, e, prefix, "password_file", false, &a.password_file);
	cfgread_string(c, e, prefix, "local_user", false, &a.local_user);

	if (a.name && !valid_name(a.name))
		cfgread_error(c, config_setting_get_member(e, "name"),
			      "\"%s.name\" is \"%s\", expected 1 to 64 letters, digits, '.', '_' "
			      "or '-', not starting with '.' or '-'",
			      prefix, a.name);
	else if (a.name && strcmp(a.name, "system") == 0)
		cfgread_error(c, config_setting_get_member(e, "name"),
			      "\"%s.name\" must not be \"system\": that name means the client "
			      "token account",
			      prefix);
	else if (a.name && config_find_account(cfg, a.name))
		cfgread_error(c, config_setting_get_member(e, "name"),
			      "account \"%s\" is defined twice (first at line %d)", a.name,
			      config_find_account(cfg, a.name)->line);

	/* The lockout guard keeps one state per account: two accounts sharing a principal
	 * would each present its secret, and each be locked out apart. */
	for (size_t k = 0; a.principal && k < cfg->n_accounts; k++)
		if (cfg->accounts[k].principal &&
		    strcmp(cfg->accounts[k].principal, a.principal) == 0)
			cfgread_error(
				c, config_setting_get_member(e, "principal"),
				"principal \"%s\" is already used by account \"%s\" (line %d)",
				a.principal, cfg->accounts[k].name, cfg->accounts[k].line);

	int kinds = !!a.keytab + !!a.password_file + !!a.local_user;
	if (kinds != 1)
		cfgread_error(c, e,
			      "account \"%s\" needs exactly one of keytab, password_file or "
			      "local_user (has %d)",
			      a.name ? a.name : "?", kinds);
	else if (a.local_user && a.principal)
		cfgread_error(c, config_setting_get_member(e, "principal"),
			      "account \"%s\" is local (local_user) and takes no principal",
			      a.name ? a.name : "?");
	else if (!a.local_user && !a.principal)
		cfgread_error(c, e, "account \"%s\" needs a principal for its %s",
			      a.name ? a.name : "?", a.keytab ? "keytab" : "password file");
	else if (a.principal && !strchr(a.principal, '@'))
		cfgread_error(c, config_setting_get_member(e, "principal"),
			      "\"%s.principal\" is \"%s\", expected a principal with its realm, "
			      "such as \"swinstall@EXAMPLE.TEST\"",
			      prefix, a.principal);
	if (a.local_user && a.local_user[0] == '\0')
		cfgread_error(c, config_setting_get_member(e, "local_user"),
			      "\"%s.local_user\" must not be empty", prefix);
	a.kind = a.keytab ? ACCOUNT_KEYTAB : a.password_file ? ACCOUNT_PASSWORD : ACCOUNT_LOCAL;

	if (c->errors != errors || !a.name) {
		account_clear(&a);
		return;
	}
	cfg->accounts[cfg->n_accounts++] = a;
}

static void read_accounts(struct cfgread *c, const config_setting_t *root, struct config *cfg)
{
	config_setting_t *list;
	if (cfgread_group(c, root, "", "accounts", false, true, &list) != CFG_OK)
		return;
	size_t n = (size_t)config_setting_length(list);
	cfg->accounts = calloc(n ? n : 1, sizeof(*cfg->accounts));
	if (!cfg->accounts) {
		cfgread_error(c, list, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		read_account(c, config_setting_get_elem(list, (unsigned)i), i, cfg);
}

static void read_lockout(struct cfgread *c, const config_setting_t *root, struct config *cfg)
{
	static const char *const keys[] = { "backoff", "reserve", NULL };
	config_setting_t *g;
	if (cfgread_group(c, root, "", "lockout", false, false, &g) != CFG_OK)
		return;
	cfgread_unknown_keys(c, g, "lockout", keys);
	read_int(c, g, "lockout", "backoff", 60, 30 * 86400, &cfg->lockout.backoff);
	read_int(c, g, "lockout", "reserve", 0, 1000, &cfg->lockout.reserve);
}

static void read_restart(struct cfgread *c, const config_setting_t *root, struct config *cfg)
{
	static const char *const keys[] = { "command", "required_file", NULL };
	config_setting_t *g;
	if (cfgread_group(c, root, "", "restart", false, false, &g) != CFG_OK)
		return;
	cfgread_unknown_keys(c, g, "restart", keys);
	char **v = NULL;
	size_t n = 0;
	if (cfgread_strv(c, g, "restart", "command", false, false, &v, &n) == CFG_OK) {
		if (n == 0 || v[0][0] != '/') {
			cfgread_error(c, config_setting_get_member(g, "command"),
				      "\"restart.command\" must start with an absolute path");
			strv_free(v);
		} else {
			strv_free(cfg->restart.command);
			cfg->restart.command = v;
		}
	}
	read_path(c, g, "restart", "required_file", false, &cfg->restart.required_file);
}

bool config_syslog_journal(const struct config *cfg, bool journal_present)
{
	return cfg->syslog.target == CONFIG_SYSLOG_JOURNAL ||
	       (cfg->syslog.target == CONFIG_SYSLOG_AUTO && journal_present &&
		strcmp(cfg->syslog.socket, "/dev/log") == 0);
}

bool config_is_url(const char *path)
{
	return strncasecmp(path, "ldap:", 5) == 0;
}

int config_url_base(const char *url, char **ret_dn, char *why, size_t size)
{
	*ret_dn = NULL;
	if (!config_is_url(url))
		return -EINVAL;
	LDAPURLDesc *u = NULL;
	if (ldap_url_parse(url, &u) != LDAP_URL_SUCCESS || !u) {
		snprintf(why, size, "not an LDAP URL (RFC 4516)");
		return -EINVAL;
	}
	int r = -EINVAL;
	if (strcasecmp(u->lud_scheme, "ldap") != 0)
		snprintf(why, size, "only ldap:/// (the pinned DC, with SASL integrity)");
	else if (u->lud_host && u->lud_host[0])
		snprintf(why, size, "no host: it is the DC that each run pins");
	else if (!u->lud_dn || !u->lud_dn[0])
		snprintf(why, size, "it names no base DN");
	else if (strchr(url, '?') || u->lud_attrs || u->lud_filter || u->lud_exts)
		snprintf(why, size, "only a base DN: no attributes, scope, filter or extensions");
	else {
		LDAPDN parsed = NULL;
		if (ldap_str2dn(u->lud_dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
			snprintf(why, size, "\"%s\" is not a DN", u->lud_dn);
		else if (!(*ret_dn = strdup(u->lud_dn)))
			r = -ENOMEM;
		else
			r = 0;
		ldap_dnfree(parsed);
	}
	ldap_free_urldesc(u);
	return r;
}

static void read_advertisement_paths(struct cfgread *c, const config_setting_t *root,
				     struct config *cfg)
{
	char **v = NULL;
	size_t n = 0;
	if (cfgread_strv(c, root, "", "advertisements", false, false, &v, &n) != CFG_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		char *dn = NULL, why[160] = "";
		int r = config_url_base(v[i], &dn, why, sizeof(why));
		free(dn);
		if (v[i][0] != '/' && r != 0) {
			cfgread_error(c, config_setting_get_member(root, "advertisements"),
				      "\"advertisements\" element %zu is \"%s\", expected an "
				      "absolute path or an ldap:/// URL%s%s",
				      i, v[i], why[0] ? ": " : "", why);
			strv_free(v);
			return;
		}
	}
	strv_free(cfg->advertisements);
	cfg->advertisements = v;
	cfg->n_advertisements = n;
}

static void validate_whole(struct cfgread *c, const config_setting_t *root, struct config *cfg)
{
	bool needs_directory = false;
	for (size_t i = 0; i < cfg->n_accounts; i++)
		needs_directory |= cfg->accounts[i].kind != ACCOUNT_LOCAL;
	if (needs_directory && !cfg->directory.realm)
		cfgread_error(c, root,
			      "accounts with a principal need \"directory.realm\" (and servers, or "
			      "a domain to discover them by DNS SRV)");
	for (size_t i = 0; !cfg->directory.realm && i < cfg->n_advertisements; i++)
		if (config_is_url(cfg->advertisements[i]))
			cfgread_error(c, config_setting_get_member(root, "advertisements"),
				      "\"%s\" is read from the directory: it needs "
				      "\"directory.realm\" and the host's keytab",
				      cfg->advertisements[i]);
	if (cfg->directory.realm) {
		for (size_t i = 0; i < cfg->n_accounts; i++) {
			const char *p = cfg->accounts[i].principal;
			const char *at = p ? strrchr(p, '@') : NULL;
			if (at && strcmp(at + 1, cfg->directory.realm) != 0)
				cfgread_warning(c, root,
						"account \"%s\": principal \"%s\" is not in realm "
						"\"%s\"; its KDC will still be the pinned DC",
						cfg->accounts[i].name, p, cfg->directory.realm);
		}
	}
}

int config_load(const char *path, struct config **ret, struct diag_list *diags)
{
	struct cfgread c = { .diags = diags, .file = path };
	char *why = NULL;
	int r = trust_check(path, TRUST_FILE, &why);
	if (r < 0) {
		diag_error(diags, path, 0, "refusing configuration: %s", why ? why : strerror(-r));
		free(why);
		return r;
	}

	config_t lc;
	config_init(&lc);
	r = cfgread_load(&c, &lc, path);
	if (r < 0) {
		config_destroy(&lc);
		return r;
	}

	struct config *cfg = config_new_default();
	if (!cfg || !(cfg->file = strdup(path))) {
		config_free(cfg);
		config_destroy(&lc);
		return -ENOMEM;
	}

	static const char *const keys[] = {
		"advertisements",      "poll_interval", "splay",
		"max_concurrent",      "kill_grace",    "max_log_bytes",
		"max_logs_per_advert", "state_dir",     "log_dir",
		"control_socket",      "syslog",        "client_token",
		"directory",           "accounts",      "lockout",
		"admin_group",         "restart",       NULL,
	};
	config_setting_t *root = config_root_setting(&lc);
	cfgread_unknown_keys(&c, root, "", keys);

	read_advertisement_paths(&c, root, cfg);
	read_int(&c, root, "", "poll_interval", 5, 86400, &cfg->poll_interval);
	read_int(&c, root, "", "splay", 0, 86400, &cfg->splay);
	read_int(&c, root, "", "max_concurrent", 1, 256, &cfg->max_concurrent);
	read_int(&c, root, "", "kill_grace", 1, 3600, &cfg->kill_grace);
	cfgread_int(&c, root, "", "max_log_bytes", false, 4096, 1LL << 32, &cfg->max_log_bytes);
	read_int(&c, root, "", "max_logs_per_advert", 1, 100000, &cfg->max_logs_per_advert);
	read_path(&c, root, "", "state_dir", false, &cfg->state_dir);
	read_path(&c, root, "", "log_dir", false, &cfg->log_dir);
	read_path(&c, root, "", "control_socket", false, &cfg->control_socket);
	socket_path_fits(&c, root, "", "control_socket", cfg->control_socket);
	cfgread_string(&c, root, "", "admin_group", false, &cfg->admin_group);
	read_syslog(&c, root, cfg);
	read_client_token(&c, root, cfg);
	read_directory(&c, root, cfg);
	read_accounts(&c, root, cfg);
	/* An admin-rights run hides state_dir from its program, so its log cannot live there. */
	size_t sl = strlen(cfg->state_dir);
	if (strncmp(cfg->log_dir, cfg->state_dir, sl) == 0 &&
	    (cfg->log_dir[sl] == '/' || cfg->log_dir[sl] == '\0'))
		cfgread_error(&c, config_setting_get_member(root, "log_dir"),
			      "\"log_dir\" (%s) is inside \"state_dir\" (%s): keep them apart (the "
			      "state is hidden from admin-rights programs, their logs are not)",
			      cfg->log_dir, cfg->state_dir);
	read_lockout(&c, root, cfg);
	read_restart(&c, root, cfg);
	derive_directory(cfg);
	validate_whole(&c, root, cfg);

	config_destroy(&lc);
	*ret = cfg;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* advertd.conf: every key of the documented shape, defaults, and the errors. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "advert/config.h"
#include "advert/pubpoll.h"
#include "testutil.h"

static char *dir;

static struct config *load(const char *content, struct diag_list *diags, int *ret_r)
{
	char *f = tu_write(dir, "advertd.conf", 0644, content);
	struct config *cfg = NULL;
	int r = config_load(f, &cfg, diags);
	if (ret_r)
		*ret_r = r;
	free(f);
	return cfg;
}

/* The configuration shape from the design notes, verbatim in its keys. */
static const char full[] =
	"advertisements = [ \"/etc/advertd/advertisements.d\", \"/srv/dp/ads\" ];\n"
	"poll_interval  = 120;\n"
	"splay          = 30;\n"
	"max_concurrent = 4;\n"
	"kill_grace     = 10;\n"
	"max_log_bytes  = 65536;\n"
	"state_dir      = \"/var/lib/x\";\n"
	"log_dir        = \"/var/log/x\";\n"
	"control_socket = \"/run/x/control.sock\";\n"
	"syslog = { facility = \"local3\"; ident = \"adv\"; socket = \"/tmp/s.sock\"; };\n"
	"client_token = {\n"
	"  principal = \"host/ws1.example.test@EXAMPLE.TEST\";\n"
	"  keytab    = \"/etc/krb5.keytab\";\n"
	"};\n"
	"directory = {\n"
	"  realm   = \"EXAMPLE.TEST\";\n"
	"  domain  = \"example.test\";\n"
	"  site    = \"Lab\";\n"
	"  servers = ( { host = \"dc1.example.test\"; address = \"127.0.1.1\"; },\n"
	"              { host = \"dc2.example.test\"; } );\n"
	"  base    = \"dc=example,dc=test\";\n"
	"  schema  = \"ad\";\n"
	"  timeout = 7;\n"
	"};\n"
	"accounts = (\n"
	"  { name = \"swinstall\"; principal = \"swinstall@EXAMPLE.TEST\";\n"
	"    keytab = \"/etc/advertd/swinstall.keytab\"; },\n"
	"  { name = \"pwinstall\"; principal = \"pwinstall@EXAMPLE.TEST\";\n"
	"    password_file = \"/etc/advertd/pwinstall.secret\"; },\n"
	"  { name = \"localinst\"; local_user = \"installer\"; }\n"
	");\n"
	"lockout = { backoff = 900; };\n";

static void test_full(void)
{
	struct diag_list diags = { 0 };
	int r;
	struct config *cfg = load(full, &diags, &r);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(diags.n, 0);
	tu_dump_diags(&diags);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->n_advertisements, 2);
	CU_ASSERT_STRING_EQUAL(cfg->advertisements[1], "/srv/dp/ads");
	CU_ASSERT_EQUAL(cfg->poll_interval, 120);
	CU_ASSERT_EQUAL(cfg->splay, 30);
	CU_ASSERT_EQUAL(cfg->max_concurrent, 4);
	CU_ASSERT_EQUAL(cfg->kill_grace, 10);
	CU_ASSERT_EQUAL(cfg->max_log_bytes, 65536);
	CU_ASSERT_STRING_EQUAL(cfg->state_dir, "/var/lib/x");
	CU_ASSERT_STRING_EQUAL(cfg->log_dir, "/var/log/x");
	CU_ASSERT_STRING_EQUAL(cfg->control_socket, "/run/x/control.sock");
	CU_ASSERT_EQUAL(cfg->syslog.facility, LOG_LOCAL3);
	CU_ASSERT_STRING_EQUAL(cfg->syslog.ident, "adv");
	CU_ASSERT_STRING_EQUAL(cfg->syslog.socket, "/tmp/s.sock");
	CU_ASSERT_STRING_EQUAL(cfg->client_token.principal, "host/ws1.example.test@EXAMPLE.TEST");
	CU_ASSERT_STRING_EQUAL(cfg->client_token.keytab, "/etc/krb5.keytab");
	CU_ASSERT_STRING_EQUAL(cfg->directory.realm, "EXAMPLE.TEST");
	CU_ASSERT_STRING_EQUAL(cfg->directory.domain, "example.test");
	CU_ASSERT_STRING_EQUAL(cfg->directory.site, "Lab");
	CU_ASSERT_EQUAL_FATAL(cfg->directory.n_servers, 2);
	CU_ASSERT_STRING_EQUAL(cfg->directory.servers[0].host, "dc1.example.test");
	CU_ASSERT_STRING_EQUAL(cfg->directory.servers[0].address, "127.0.1.1");
	CU_ASSERT_STRING_EQUAL(cfg->directory.servers[1].host, "dc2.example.test");
	CU_ASSERT_PTR_NULL(cfg->directory.servers[1].address);
	CU_ASSERT_STRING_EQUAL(cfg->directory.base, "dc=example,dc=test");
	CU_ASSERT_EQUAL(cfg->directory.schema, CONFIG_SCHEMA_AD);
	CU_ASSERT_EQUAL(cfg->directory.timeout, 7);
	CU_ASSERT_EQUAL_FATAL(cfg->n_accounts, 3);
	const struct config_account *a = config_find_account(cfg, "swinstall");
	CU_ASSERT(a && a->kind == ACCOUNT_KEYTAB &&
		  strcmp(a->keytab, "/etc/advertd/swinstall.keytab") == 0 &&
		  strcmp(a->principal, "swinstall@EXAMPLE.TEST") == 0);
	a = config_find_account(cfg, "pwinstall");
	CU_ASSERT(a && a->kind == ACCOUNT_PASSWORD &&
		  strcmp(a->password_file, "/etc/advertd/pwinstall.secret") == 0);
	a = config_find_account(cfg, "localinst");
	CU_ASSERT(a && a->kind == ACCOUNT_LOCAL && strcmp(a->local_user, "installer") == 0 &&
		  !a->principal);
	CU_ASSERT_PTR_NULL(config_find_account(cfg, "nobody"));
	CU_ASSERT_EQUAL(cfg->lockout.backoff, 900);
	config_free(cfg);
	diag_clear(&diags);
}

static void test_defaults(void)
{
	struct diag_list diags = { 0 };
	struct config *cfg = load("# nothing set\n", &diags, NULL);
	CU_ASSERT_EQUAL(diags.n, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->n_advertisements, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(cfg->advertisements[0], "/advertd/advertisements.d"));
	CU_ASSERT_EQUAL(cfg->poll_interval, 300);
	CU_ASSERT_EQUAL(cfg->splay, 60);
	CU_ASSERT_EQUAL(cfg->max_concurrent, 2);
	CU_ASSERT_EQUAL(cfg->kill_grace, 30);
	CU_ASSERT_EQUAL(cfg->max_log_bytes, 1048576);
	CU_ASSERT_STRING_EQUAL(cfg->state_dir, ADV_DEFAULT_STATE_DIR);
	CU_ASSERT_STRING_EQUAL(cfg->log_dir, ADV_DEFAULT_LOG_DIR);
	CU_ASSERT_STRING_EQUAL(cfg->control_socket, ADV_DEFAULT_CONTROL_SOCKET);
	CU_ASSERT_STRING_EQUAL(cfg->admin_group, "");
	CU_ASSERT_EQUAL(cfg->syslog.facility, LOG_DAEMON);
	CU_ASSERT_STRING_EQUAL(cfg->syslog.ident, "advertd");
	CU_ASSERT_STRING_EQUAL(cfg->syslog.socket, "/dev/log");
	CU_ASSERT_PTR_NULL(cfg->client_token.principal);
	CU_ASSERT_STRING_EQUAL(cfg->client_token.keytab, "/etc/krb5.keytab");
	CU_ASSERT_PTR_NULL(cfg->directory.realm);
	CU_ASSERT_EQUAL(cfg->directory.schema, CONFIG_SCHEMA_RFC2307BIS);
	CU_ASSERT_EQUAL(cfg->directory.timeout, 5);
	CU_ASSERT_EQUAL(cfg->n_accounts, 0);
	CU_ASSERT_EQUAL(cfg->lockout.backoff, 1800);
	CU_ASSERT_STRING_EQUAL(cfg->restart.command[0], "/usr/sbin/shutdown");
	CU_ASSERT_STRING_EQUAL(cfg->restart.command[1], "-r");
	CU_ASSERT_STRING_EQUAL(cfg->restart.command[2], "+2");
	CU_ASSERT_PTR_NOT_NULL(cfg->restart.command[3]);
	CU_ASSERT_PTR_NULL(cfg->restart.command[4]);
	CU_ASSERT_STRING_EQUAL(cfg->restart.required_file, "/run/reboot-required");
	config_free(cfg);
	diag_clear(&diags);
}

static void test_derived_directory(void)
{
	struct diag_list diags = { 0 };
	struct config *cfg = load("directory = { realm = \"AD.EXAMPLE.TEST\"; };\n", &diags, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->directory.domain, "ad.example.test");
	CU_ASSERT_STRING_EQUAL(cfg->directory.base, "dc=ad,dc=example,dc=test");
	CU_ASSERT_EQUAL(cfg->directory.n_servers, 0);
	config_free(cfg);
	diag_clear(&diags);
}

static const struct {
	const char *content;
	int line;
	const char *msg;
} bad[] = {
	{ "poll_intervall = 60;\n", 1,
	  "unknown key \"poll_intervall\" (did you mean \"poll_interval\"?)" },
	{ "poll_interval = 0;\n", 1, "\"poll_interval\" is 0, expected 5 to 86400" },
	{ "splay = \"60\";\n", 1, "\"splay\" must be an integer, not a string" },
	{ "max_concurrent = 0;\n", 1, "\"max_concurrent\" is 0, expected 1 to 256" },
	{ "state_dir = \"var/lib\";\n", 1,
	  "\"state_dir\" is \"var/lib\", expected an absolute path" },
	{ "advertisements = \"/etc/x\";\n", 1, "\"advertisements\" must be an array of strings" },
	{ "advertisements = [ \"ads\" ];\n", 1, "expected an absolute path" },
	{ "advertisements = [ ];\n", 1, "\"advertisements\" must not be empty" },
	{ "\nsyslog = { facility = \"kernel\"; };\n", 2, "\"syslog.facility\" is \"kernel\"" },
	{ "syslog = { ident = \"\"; };\n", 1, "\"syslog.ident\" must not be empty" },
	{ "syslog = { sockett = \"/dev/log\"; };\n", 1,
	  "unknown key \"syslog.sockett\" (did you mean \"socket\"?)" },
	{ "client_token = { principal = \"host/ws1\"; };\n", 1,
	  "expected a principal with its realm" },
	{ "directory = {\n realm = \"R\";\n schema = \"nis\";\n};\n", 3,
	  "\"directory.schema\" is \"nis\"" },
	{ "directory = { realm = \"R\"; servers = ( ); };\n", 1, "\"directory.servers\" is empty" },
	{ "directory = { realm = \"R\";\n servers = ( { address = \"127.0.0.1\"; } ); };\n", 2,
	  "missing required key \"directory.servers[0].host\"" },
	{ "directory = { realm = \"R\"; servers = ( { host = \"a b\"; } ); };\n", 1,
	  "expected a DNS host name" },
	{ "directory = { realm = \"R\"; timeout = 0; };\n", 1, "\"directory.timeout\" is 0" },
	{ "directory = { realm = \"R\"; };\naccounts = (\n { name = \"a\"; principal = \"a@R\"; "
	  "keytab = \"/k\"; password_file = \"/p\"; } );\n",
	  3, "needs exactly one of keytab, password_file or local_user (has 2)" },
	{ "directory = { realm = \"R\"; };\naccounts = (\n { name = \"a\"; keytab = \"/k\"; } );\n",
	  3, "account \"a\" needs a principal for its keytab" },
	{ "accounts = (\n { name = \"a\"; principal = \"a@R\"; local_user = \"a\"; } );\n", 2,
	  "is local (local_user) and takes no principal" },
	{ "accounts = (\n { name = \"system\"; local_user = \"x\"; } );\n", 2,
	  "must not be \"system\"" },
	{ "accounts = (\n { name = \"a\"; local_user = \"x\"; },\n { name = \"a\"; local_user = \"y\"; } );\n",
	  3, "account \"a\" is defined twice (first at line 2)" },
	{ "accounts = (\n { name = \"a\"; local_user = \"x\"; keytabb = \"/k\"; } );\n", 2,
	  "unknown key \"accounts[0].keytabb\" (did you mean \"keytab\"?)" },
	{ "accounts = (\n { name = \"a b\"; local_user = \"x\"; } );\n", 2,
	  "\"accounts[0].name\" is \"a b\"" },
	{ "accounts = (\n { name = \"a\"; principal = \"a@R\"; keytab = \"/k\"; } );\n", 0,
	  "accounts with a principal need \"directory.realm\"" },
	{ "lockout = { backoff = 5; };\n", 1, "\"lockout.backoff\" is 5, expected 60 to 2592000" },
	{ "directory = { realm = \"R\"; };\naccounts = (\n { name = \"a\"; principal = \"a@R\"; keytab = \"/k\"; },\n"
	  " { name = \"b\"; principal = \"a@R\";\n   password_file = \"/p\"; } );\n",
	  4, "principal \"a@R\" is already used by account \"a\" (line 3)" },
	{ "accounts = { name = \"a\"; };\n", 1, "\"accounts\" must be a list" },
	/* An account name is a directory under state_dir/lockout. */
	{ "accounts = (\n { name = \".\"; local_user = \"x\"; } );\n", 2,
	  "\"accounts[0].name\" is \".\"" },
	{ "accounts = (\n { name = \"..\"; local_user = \"x\"; } );\n", 2,
	  "\"accounts[0].name\" is \"..\"" },
	{ "accounts = (\n { name = \"-x\"; local_user = \"x\"; } );\n", 2,
	  "\"accounts[0].name\" is \"-x\"" },
	/* Unix socket paths must fit sockaddr_un (found at --check, not at start). */
	{ "control_socket = \"/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\";\n",
	  1, "\"control_socket\" is 108 bytes long" },
	{ "syslog = {\n socket = \"/dev/lllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll\"; };\n",
	  2, "\"syslog.socket\" is 110 bytes long" },
	/* Text is UTF-8, or it is an error that says where, not what. */
	{ "admin_group = \"adm\xc3\";\n", 1, "\"admin_group\" is not valid UTF-8 (byte 4, 0xc3)" },
	{ "advertisements = [ \"/etc/\xff\" ];\n", 1,
	  "\"advertisements\" is not valid UTF-8 (byte 6, 0xff)" },
	/* directory ids */
	{ "directory = { min_id = 5000; max_id = 4000; };\n", 1,
	  "directory.min_id (5000) is above directory.max_id (4000)" },
	{ "directory = { min_id = 0; };\n", 1,
	  "\"directory.min_id\" is 0, expected 1 to 2147483647" },
	{ "state_dir = \"/var/lib/advertd\";\nlog_dir = \"/var/lib/advertd/logs\";\n", 2,
	  "\"log_dir\" (/var/lib/advertd/logs) is inside \"state_dir\"" },
	/* restart */
	{ "restart = { command = [ \"shutdown\", \"-r\" ]; };\n", 1,
	  "\"restart.command\" must start with an absolute path" },
	{ "restart = {\n required_file = \"run/reboot\"; };\n", 2,
	  "\"restart.required_file\" is \"run/reboot\", expected an absolute path" },
};

static void test_bad_values(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct diag_list diags = { 0 };
		int r;
		struct config *cfg = load(bad[i].content, &diags, &r);
		const struct diag *d = tu_find_diag(&diags, bad[i].msg);
		bool ok = r == 0 && cfg && d && d->level == DIAG_ERROR && d->line == bad[i].line &&
			  strstr(d->file, "advertd.conf");
		if (!ok) {
			fprintf(stderr, "\ncase %zu: want line %d \"%s\", got:\n", i, bad[i].line,
				bad[i].msg);
			tu_dump_diags(&diags);
		}
		CU_ASSERT(ok);
		config_free(cfg);
		diag_clear(&diags);
	}
}

static void test_unusable_files(void)
{
	struct diag_list diags = { 0 };
	int r;
	struct config *cfg = load("poll_interval = 60\nsplay = ;\n", &diags, &r);
	CU_ASSERT_EQUAL(r, -EINVAL);
	CU_ASSERT_PTR_NULL(cfg);
	const struct diag *d = tu_find_diag(&diags, "syntax error");
	CU_ASSERT(d && d->line == 2);
	diag_clear(&diags);

	char *f = tu_write(dir, "loose.conf", 0666, "");
	CU_ASSERT_EQUAL(config_load(f, &cfg, &diags), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "refusing configuration"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "writable by group or others"));
	free(f);
	diag_clear(&diags);

	CU_ASSERT(config_load("/nonexistent/advertd.conf", &cfg, &diags) < 0);
	CU_ASSERT_EQUAL(diags.n, 1);
	diag_clear(&diags);
}

/* @include is refused outright, in every position, whatever the included file is: the
 * whole-setting form, a value, inside an array, a FIFO (which must not hang us), a
 * directory (which must not make libconfig exit). Nothing of the included file is read. */
static void test_include_refused(void)
{
	char *inc = tu_write(dir, "inc.cfg", 0644, "splay = 5;\n");
	char *fifo = NULL, *sub = NULL;
	CU_ASSERT_FATAL(asprintf(&fifo, "%s/inc.fifo", dir) > 0 &&
			asprintf(&sub, "%s/inc.d", dir) > 0);
	unlink(fifo);
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0644), 0);
	mkdir(sub, 0755);
	/* Each form: the text before the path, the text after it. */
	const char *const forms[][2] = {
		{ "@include \"", "\"\n" },
		{ "poll_interval = 60;\nsplay =\n@include \"", "\"\n;\n" },
		{ "advertisements = [\n  @include \"", "\"\n];\n" },
		{ "  \t@include \"", "\"\n" },
	};
	const char *const targets[] = { inc, fifo, sub };
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
			char *content = NULL;
			CU_ASSERT_FATAL(asprintf(&content, "%s%s%s", forms[i][0], targets[t],
						 forms[i][1]) > 0);
			struct diag_list diags = { 0 };
			int r;
			struct config *cfg = load(content, &diags, &r);
			CU_ASSERT_EQUAL(r, -EPERM);
			CU_ASSERT_PTR_NULL(cfg);
			const struct diag *d = tu_find_diag(&diags, "@include is not supported");
			CU_ASSERT_PTR_NOT_NULL(d);
			/* The line of the directive. */
			CU_ASSERT(d && d->line == (i == 1 ? 3 : i == 2 ? 2 : 1));
			diag_clear(&diags);
			free(content);
		}
	/* A configuration that is itself a FIFO or a directory is refused, not waited on. */
	struct diag_list diags = { 0 };
	struct config *cfg = NULL;
	CU_ASSERT(config_load(fifo, &cfg, &diags) < 0);
	CU_ASSERT_PTR_NULL(cfg);
	diag_clear(&diags);
	CU_ASSERT(config_load(sub, &cfg, &diags) < 0);
	diag_clear(&diags);
	unlink(fifo);
	rmdir(sub);
	free(inc), free(fifo), free(sub);
}

/* advertisements entries as URLs: only ldap:///BASE; and the poll's per-host offset. */
static void test_urls_and_poll_slots(void)
{
	static const char *const good[] = { "ldap:///ou=advertisements,dc=example,dc=test",
					    "LDAP:///OU=Ads,DC=ad,DC=test",
					    "ldap:///cn=a%5C%2Cb,dc=test" };
	static const char *const wrong[] = { "ldap://dc1.example.test/ou=a,dc=test",
					     "ldaps:///ou=a,dc=test",
					     "ldap:///",
					     "ldap:///ou=a,dc=test?advertdText",
					     "ldap:///ou=a,dc=test??one",
					     "ldap:///ou=a,dc=test?\?\?(cn=x)",
					     "ldap:///not a dn",
					     "http:///ou=a" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *dn = NULL, why[160] = "";
		CU_ASSERT_EQUAL(config_url_base(good[i], &dn, why, sizeof(why)), 0);
		CU_ASSERT_PTR_NOT_NULL(dn);
		free(dn);
	}
	char *dn = NULL, why[160] = "";
	CU_ASSERT_EQUAL(config_url_base(good[2], &dn, why, sizeof(why)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dn);
	CU_ASSERT_STRING_EQUAL_FATAL(dn, "cn=a\\,b,dc=test");
	free(dn);
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		why[0] = '\0';
		CU_ASSERT_NOT_EQUAL(config_url_base(wrong[i], &dn, why, sizeof(why)), 0);
		CU_ASSERT_PTR_NULL(dn);
		if (config_is_url(wrong[i]))
			CU_ASSERT(why[0] != '\0');
	}

	/* Polls fall at one fixed offset within every interval, strictly in the future. */
	struct config *cfg = config_new_default();
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	cfg->poll_interval = 300;
	free(cfg->client_token.principal);
	cfg->client_token.principal = strdup("host/ws1.example.test@EXAMPLE.TEST");
	time_t t0 = 1764590000, n1 = pubpoll_next(cfg, t0), n2 = pubpoll_next(cfg, n1);
	CU_ASSERT(n1 > t0 && n1 <= t0 + 300);
	CU_ASSERT_EQUAL(n2, n1 + 300);
	CU_ASSERT_EQUAL(pubpoll_next(cfg, n1 - 1), n1);
	CU_ASSERT_EQUAL(n1 % 300, n2 % 300);
	/* Another host, another offset (these two differ). */
	free(cfg->client_token.principal);
	cfg->client_token.principal = strdup("host/ws2.example.test@EXAMPLE.TEST");
	CU_ASSERT_NOT_EQUAL(pubpoll_next(cfg, t0) % 300, n1 % 300);
	/* Where status messages go: journald only where it runs and the socket is
	 * /dev/log, unless asked. */
	CU_ASSERT_TRUE(config_syslog_journal(cfg, true));
	CU_ASSERT_FALSE(config_syslog_journal(cfg, false));
	free(cfg->syslog.socket);
	cfg->syslog.socket = strdup("/srv/log.sock");
	CU_ASSERT_FALSE(config_syslog_journal(cfg, true));
	cfg->syslog.target = CONFIG_SYSLOG_JOURNAL;
	CU_ASSERT_TRUE(config_syslog_journal(cfg, false));
	cfg->syslog.target = CONFIG_SYSLOG_SOCKET;
	free(cfg->syslog.socket);
	cfg->syslog.socket = strdup("/dev/log");
	CU_ASSERT_FALSE(config_syslog_journal(cfg, true));
	config_free(cfg);
}

int main(void)
{
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "every key of the documented shape", test_full },
		{ "defaults", test_defaults },
		{ "domain and base derived from the realm", test_derived_directory },
		{ "bad values: line and message", test_bad_values },
		{ "syntax error, insecure and missing files", test_unusable_files },
		{ "@include is refused in every form", test_include_refused },
		{ "ldap:/// entries, and the poll's per-host slots", test_urls_and_poll_slots },
		{ 0 },
	};
	int r = tu_run_as_root("config", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

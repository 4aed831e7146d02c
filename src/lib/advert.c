/* SPDX-License-Identifier: MIT */
/* Parsing and validating one advertisement file. */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "advert/advert.h"
#include "advert/util.h"
#include "advert/cfgread.h"

static const char *const rerun_names[] = { "never", "always", "if-failed", "if-succeeded", NULL };

static const char *const rights_names[] = { "account", "admin", NULL };

const char *advert_rights_name(enum advert_rights r)
{
	return (unsigned)r < 2 ? rights_names[r] : "?";
}

static const char *const after_run_names[] = { "nothing", "restart", NULL };

const char *advert_after_run_name(enum advert_after_run r)
{
	return (unsigned)r < 2 ? after_run_names[r] : "?";
}

static const char *const when_names[] = { "any", "no-user", "user", NULL };

const char *advert_when_name(enum advert_when w)
{
	return (unsigned)w < 3 ? when_names[w] : "?";
}

const char *advert_rerun_name(enum advert_rerun r)
{
	return rerun_names[r];
}

bool advert_id_valid(const char *id)
{
	size_t len = strlen(id);
	if (len == 0 || len > ADV_ID_MAX || id[0] == '.' || id[0] == '-')
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

static uint64_t mix_str(uint64_t h, const char *v)
{
	/* The NUL keeps ("ab", "c") apart from ("a", "bc"); a missing value hashes apart
	 * from an empty one. */
	return v ? util_fnv1a(h, v, strlen(v) + 1) : util_fnv1a(h, "\xff", 1);
}

static uint64_t mix_num(uint64_t h, long long v)
{
	return util_fnv1a(h, &v, sizeof(v));
}

static uint64_t mix_strv(uint64_t h, char *const *v)
{
	for (; v && *v; v++)
		h = mix_str(h, *v);
	return util_fnv1a(h, "\xfe", 1);
}

uint64_t advert_digest(const struct advert *a)
{
	const struct advert_program *p = &a->program;
	const struct advert_schedule *sc = &a->schedule;
	uint64_t h = UTIL_FNV_OFFSET;
	h = mix_str(h, a->id);
	h = mix_str(h, a->package.id), h = mix_str(h, a->package.name);
	h = mix_str(h, a->package.version), h = mix_str(h, a->package.source);
	h = mix_str(h, p->name), h = mix_strv(h, p->command), h = mix_str(h, p->working_dir);
	h = mix_str(h, p->run_as), h = mix_num(h, p->rights), h = mix_num(h, p->max_runtime);
	for (size_t i = 0; i < p->n_success_codes; i++)
		h = mix_num(h, p->success_codes[i]);
	h = mix_num(h, -1);
	for (size_t i = 0; i < p->n_reboot_codes; i++)
		h = mix_num(h, p->reboot_codes[i]);
	h = mix_num(h, -1);
	h = mix_strv(h, p->environment), h = mix_strv(h, p->platforms);
	h = mix_num(h, p->min_free_mb), h = mix_str(h, p->depends_on);
	h = mix_num(h, p->wait_for_restart), h = mix_num(h, p->after_run), h = mix_num(h, p->when);
	h = mix_num(h, sc->has_start ? (long long)sc->start : -1);
	h = mix_num(h, sc->has_expires ? (long long)sc->expires : -1);
	h = mix_num(h, sc->recur);
	for (size_t i = 0; i < sc->n_windows; i++) {
		h = mix_num(h, sc->windows[i].days), h = mix_num(h, sc->windows[i].start);
		h = mix_num(h, sc->windows[i].duration);
	}
	h = mix_num(h, a->rerun);
	h = a->targets ? mix_strv(h, a->targets) : h;
	return mix_num(h, a->enabled);
}

bool advert_platform_ok(const struct advert *a, char *machine, size_t size)
{
	struct utsname u;
	snprintf(machine, size, "%s", uname(&u) == 0 ? u.machine : "?");
	if (!a->program.platforms || !a->program.platforms[0])
		return true;
	for (char **p = a->program.platforms; *p; p++)
		if (strcmp(*p, machine) == 0)
			return true;
	return false;
}

bool advert_code_in(const int *codes, size_t n, int code)
{
	for (size_t i = 0; i < n; i++)
		if (codes[i] == code)
			return true;
	return false;
}

void advert_free(struct advert *a)
{
	if (!a)
		return;
	free(a->id);
	free(a->package.id);
	free(a->package.name);
	free(a->package.version);
	free(a->package.source);
	free(a->program.name);
	strv_free(a->program.command);
	free(a->program.working_dir);
	free(a->program.run_as);
	free(a->program.success_codes);
	free(a->program.reboot_codes);
	free(a->schedule.windows);
	strv_free(a->program.environment);
	strv_free(a->program.platforms);
	strv_free(a->targets);
	free(a->program.depends_on);
	free(a->file);
	free(a);
}

/* Reads an id-like string key and checks its shape. */
static void read_id(struct cfgread *c, const config_setting_t *g, const char *prefix,
		    const char *key, bool required, char **field)
{
	if (cfgread_string(c, g, prefix, key, required, field) != CFG_OK || !*field)
		return;
	if (!advert_id_valid(*field))
		cfgread_error(c, config_setting_get_member(g, key),
			      "\"%s%s%s\" is \"%s\", expected 1 to %d letters, digits, '.', '_' or "
			      "'-' (not starting with '.' or '-')",
			      prefix, prefix[0] ? "." : "", key, *field, ADV_ID_MAX);
}

static void read_abs_path(struct cfgread *c, const config_setting_t *g, const char *prefix,
			  const char *key, bool required, bool empty_ok, char **field)
{
	if (cfgread_string(c, g, prefix, key, required, field) != CFG_OK || !*field)
		return;
	if (empty_ok && (*field)[0] == '\0') {
		free(*field);
		*field = NULL;
	} else if ((*field)[0] != '/') {
		cfgread_error(c, config_setting_get_member(g, key),
			      "\"%s.%s\" is \"%s\", expected an absolute path", prefix, key,
			      *field);
	}
}

static void read_package(struct cfgread *c, const config_setting_t *ad, struct advert *a)
{
	static const char *const keys[] = { "id", "name", "version", "source", NULL };
	config_setting_t *g;
	if (cfgread_group(c, ad, "", "package", true, false, &g) != CFG_OK)
		return;
	cfgread_unknown_keys(c, g, "package", keys);
	read_id(c, g, "package", "id", true, &a->package.id);
	if (cfgread_string(c, g, "package", "name", true, &a->package.name) == CFG_OK &&
	    a->package.name[0] == '\0')
		cfgread_error(c, config_setting_get_member(g, "name"),
			      "\"package.name\" must not be empty");
	cfgread_string(c, g, "package", "version", false, &a->package.version);
	read_abs_path(c, g, "package", "source", true, false, &a->package.source);
}

static bool env_name_valid(const char *k)
{
	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
		return false;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static void read_environment(struct cfgread *c, const config_setting_t *prog, struct advert *a)
{
	config_setting_t *g = NULL;
	enum cfgread_result r = cfgread_group(c, prog, "program", "environment", false, false, &g);
	size_t n = r == CFG_OK ? (size_t)config_setting_length(g) : 0;
	char **env = calloc(n + 1, sizeof(*env));
	if (!env) {
		cfgread_error(c, prog, "out of memory");
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(e);
		if (!env_name_valid(name)) {
			cfgread_error(c, e, "\"program.environment.%s\": not a valid variable name",
				      name);
			continue;
		}
		if (strncmp(name, "ADVERT_", 7) == 0 || strcmp(name, "KRB5CCNAME") == 0) {
			cfgread_error(
				c, e,
				"\"program.environment.%s\": %s is set by advertd for each run "
				"and cannot be overridden",
				name, name);
			continue;
		}
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfgread_error(c, e, "\"program.environment.%s\" must be a string", name);
			continue;
		}
		if (asprintf(&env[k], "%s=%s", name, config_setting_get_string(e)) < 0) {
			env[k] = NULL;
			cfgread_error(c, e, "out of memory");
			break;
		}
		k++;
	}
	a->program.environment = env;
}

static void read_requirements(struct cfgread *c, const config_setting_t *prog, struct advert *a)
{
	static const char *const keys[] = { "platforms", "min_free_mb", NULL };
	config_setting_t *g;
	if (cfgread_group(c, prog, "program", "requirements", false, false, &g) == CFG_OK) {
		cfgread_unknown_keys(c, g, "program.requirements", keys);
		cfgread_strv(c, g, "program.requirements", "platforms", false, true,
			     &a->program.platforms, NULL);
		cfgread_int(c, g, "program.requirements", "min_free_mb", false, 0, 1LL << 40,
			    &a->program.min_free_mb);
	}
	if (!a->program.platforms)
		a->program.platforms = calloc(1, sizeof(char *));
}

static void read_codes(struct cfgread *c, const config_setting_t *prog, const char *key,
		       int **codes, size_t *n)
{
	if (cfgread_intv(c, prog, "program", key, false, 0, 65535, codes, n) != CFG_OK)
		return;
	for (size_t i = 0; i < *n; i++)
		if ((*codes)[i] > 255)
			cfgread_warning(
				c, config_setting_get_member(prog, key),
				"\"program.%s\" lists %d, which no program can exit with on "
				"Linux (exit codes are 0 to 255): it will never match",
				key, (*codes)[i]);
}

/* program.rights: "account" (default) or "admin"; admin is the installation account's
 * network identity with root's local rights, so it needs an account, not "system". */
static void read_rights(struct cfgread *c, const config_setting_t *g, struct advert *a)
{
	char *rights = NULL;
	a->program.rights = ADV_RIGHTS_ACCOUNT;
	if (cfgread_string(c, g, "program", "rights", false, &rights) != CFG_OK)
		return;
	const config_setting_t *at = config_setting_get_member(g, "rights");
	if (strcmp(rights, "admin") == 0)
		a->program.rights = ADV_RIGHTS_ADMIN;
	else if (strcmp(rights, "account") != 0)
		cfgread_error(c, at,
			      "\"program.rights\" is \"%s\", expected \"account\" or \"admin\"",
			      rights);
	if (a->program.rights == ADV_RIGHTS_ADMIN && a->program.run_as &&
	    strcmp(a->program.run_as, "system") == 0)
		cfgread_error(
			c, at,
			"\"program.rights\" = \"admin\" with run_as = \"system\": a system run "
			"is root already; admin rights are for an installation account");
	free(rights);
}

static void read_program(struct cfgread *c, const config_setting_t *ad, struct advert *a)
{
	static const char *const keys[] = {
		"name",          "command",      "working_dir",      "run_as",       "max_runtime",
		"success_codes", "reboot_codes", "environment",      "requirements", "depends_on",
		"rights",        "after_run",    "wait_for_restart", "when",         NULL
	};
	config_setting_t *g;
	if (cfgread_group(c, ad, "", "program", true, false, &g) != CFG_OK)
		return;
	cfgread_unknown_keys(c, g, "program", keys);
	if (cfgread_string(c, g, "program", "name", true, &a->program.name) == CFG_OK &&
	    a->program.name[0] == '\0')
		cfgread_error(c, config_setting_get_member(g, "name"),
			      "\"program.name\" must not be empty");
	cfgread_strv(c, g, "program", "command", true, false, &a->program.command, NULL);
	read_abs_path(c, g, "program", "working_dir", false, true, &a->program.working_dir);
	if (cfgread_string(c, g, "program", "run_as", true, &a->program.run_as) == CFG_OK &&
	    a->program.run_as[0] == '\0')
		cfgread_error(c, config_setting_get_member(g, "run_as"),
			      "\"program.run_as\" must not be empty: name an account or "
			      "\"system\"");
	read_rights(c, g, a);

	long long v = 3600;
	cfgread_int(c, g, "program", "max_runtime", false, 1, ADV_MAX_RUNTIME_LIMIT, &v);
	a->program.max_runtime = (int)v;

	read_codes(c, g, "success_codes", &a->program.success_codes, &a->program.n_success_codes);
	read_codes(c, g, "reboot_codes", &a->program.reboot_codes, &a->program.n_reboot_codes);
	if (config_setting_get_member(g, "success_codes") && a->program.n_success_codes == 0)
		cfgread_error(c, config_setting_get_member(g, "success_codes"),
			      "\"program.success_codes\" is empty: every run would count as "
			      "failed (leave it out for [ 0 ])");
	if (!config_setting_get_member(g, "success_codes")) {
		a->program.success_codes = calloc(1, sizeof(int));
		a->program.n_success_codes = a->program.success_codes ? 1 : 0;
	}
	for (size_t i = 0; i < a->program.n_reboot_codes; i++)
		if (advert_code_in(a->program.success_codes, a->program.n_success_codes,
				   a->program.reboot_codes[i]))
			cfgread_error(c, config_setting_get_member(g, "reboot_codes"),
				      "exit code %d is in both \"program.success_codes\" and "
				      "\"program.reboot_codes\"",
				      a->program.reboot_codes[i]);

	read_environment(c, g, a);
	read_requirements(c, g, a);
	read_id(c, g, "program", "depends_on", false, &a->program.depends_on);
	a->program.wait_for_restart = true;
	cfgread_bool(c, g, "program", "wait_for_restart", false, &a->program.wait_for_restart);
	char *when = NULL;
	if (cfgread_string(c, g, "program", "when", false, &when) == CFG_OK) {
		size_t k;
		for (k = 0; when_names[k] && strcmp(when_names[k], when) != 0; k++)
			;
		if (when_names[k])
			a->program.when = (enum advert_when)k;
		else
			cfgread_error(
				c, config_setting_get_member(g, "when"),
				"\"program.when\" is \"%s\", expected \"any\", \"no-user\" or "
				"\"user\"",
				when);
		free(when);
	}
	char *after = NULL;
	if (cfgread_string(c, g, "program", "after_run", false, &after) == CFG_OK) {
		if (strcmp(after, "restart") == 0)
			a->program.after_run = ADV_AFTER_RESTART;
		else if (strcmp(after, "nothing") != 0)
			cfgread_error(c, config_setting_get_member(g, "after_run"),
				      "\"program.after_run\" is \"%s\", expected \"nothing\" or "
				      "\"restart\"",
				      after);
		free(after);
	}
	if (a->program.depends_on && a->id && strcmp(a->program.depends_on, a->id) == 0)
		cfgread_error(c, config_setting_get_member(g, "depends_on"),
			      "\"program.depends_on\" names the advertisement itself");
}

/* schedule.windows: ( { days = [ "mon", … ]; start = "HH:MM"; duration = seconds; }, … ) */
static void read_windows(struct cfgread *c, const config_setting_t *sched, struct advert *a)
{
	static const char *const keys[] = { "days", "start", "duration", NULL };
	config_setting_t *list;
	if (cfgread_group(c, sched, "schedule", "windows", false, true, &list) != CFG_OK)
		return;
	int n = config_setting_length(list);
	if (n == 0 || n > WINDOW_MAX) {
		cfgread_error(c, list, "\"schedule.windows\" has %d windows, expected 1 to %d", n,
			      WINDOW_MAX);
		return;
	}
	a->schedule.windows = calloc((size_t)n, sizeof(*a->schedule.windows));
	if (!a->schedule.windows) { /* never accepted without its windows */
		cfgread_error(c, list, "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		char prefix[40];
		snprintf(prefix, sizeof(prefix), "schedule.windows[%d]", i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			cfgread_error(c, g, "\"%s\" must be a group { days = …; start = …; }",
				      prefix);
			continue;
		}
		cfgread_unknown_keys(c, g, prefix, keys);
		struct window *w = &a->schedule.windows[a->schedule.n_windows++];
		char **days = NULL;
		if (cfgread_strv(c, g, prefix, "days", true, false, &days, NULL) == CFG_OK)
			for (char **d = days; *d; d++) {
				int k = window_day(*d);
				if (k < 0)
					cfgread_error(
						c, config_setting_get_member(g, "days"),
						"\"%s.days\" lists \"%s\", expected sun, mon, tue, "
						"wed, thu, fri or sat",
						prefix, *d);
				else
					w->days |= 1u << k;
			}
		strv_free(days);
		char *start = NULL;
		if (cfgread_string(c, g, prefix, "start", true, &start) == CFG_OK &&
		    (w->start = window_parse_time(start)) < 0)
			cfgread_error(c, config_setting_get_member(g, "start"),
				      "\"%s.start\" is \"%s\", expected local time as HH:MM",
				      prefix, start);
		free(start);
		long long duration = 3600;
		cfgread_int(c, g, prefix, "duration", true, 60, WINDOW_DURATION_MAX, &duration);
		w->duration = (int)duration;
	}
}

static void read_schedule(struct cfgread *c, const config_setting_t *ad, struct advert *a)
{
	static const char *const keys[] = { "start", "expires", "recur", "windows", NULL };
	config_setting_t *g;
	if (cfgread_group(c, ad, "", "schedule", false, false, &g) != CFG_OK)
		return;
	cfgread_unknown_keys(c, g, "schedule", keys);
	a->schedule.has_start =
		cfgread_time(c, g, "schedule", "start", false, &a->schedule.start) == CFG_OK;
	a->schedule.has_expires =
		cfgread_time(c, g, "schedule", "expires", false, &a->schedule.expires) == CFG_OK;
	long long recur = 0;
	if (cfgread_int(c, g, "schedule", "recur", false, 0, 366LL * 86400, &recur) == CFG_OK &&
	    recur > 0 && recur < 60)
		cfgread_error(
			c, config_setting_get_member(g, "recur"),
			"\"schedule.recur\" is %lld, expected 0 (once) or at least 60 seconds",
			recur);
	a->schedule.recur = (int)recur;
	read_windows(c, g, a);
	if (a->schedule.has_start && a->schedule.has_expires &&
	    a->schedule.expires <= a->schedule.start)
		cfgread_error(c, config_setting_get_member(g, "expires"),
			      "\"schedule.expires\" is not after \"schedule.start\"");
}

static void read_rerun(struct cfgread *c, const config_setting_t *ad, struct advert *a)
{
	char *rerun = NULL;
	a->rerun = ADV_RERUN_NEVER;
	if (cfgread_string(c, ad, "", "rerun", false, &rerun) != CFG_OK)
		return;
	size_t i;
	for (i = 0; rerun_names[i] && strcmp(rerun_names[i], rerun) != 0; i++)
		;
	if (rerun_names[i])
		a->rerun = (enum advert_rerun)i;
	else
		cfgread_error(
			c, config_setting_get_member(ad, "rerun"),
			"\"rerun\" is \"%s\", expected \"never\", \"always\", \"if-failed\" or "
			"\"if-succeeded\"",
			rerun);
	free(rerun);
}

/* One advertisement group: returns it, or NULL when it had errors (reported). */
/* targets: host names (a dot, no '='), group DNs (an '=') or group names; an empty list
 * targets no host at all, which is surely a mistake. */
static void read_targets(struct cfgread *c, const config_setting_t *ad, struct advert *a)
{
	char **v = NULL;
	size_t n = 0;
	if (cfgread_strv(c, ad, "", "targets", false, false, &v, &n) != CFG_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		if (strlen(v[i]) > 1024 || strpbrk(v[i], "\n\r")) {
			cfgread_error(c, config_setting_get_member(ad, "targets"),
				      "targets[%zu]: not a host name, group DN or group name", i);
			strv_free(v);
			return;
		}
	}
	a->targets = v;
}

static struct advert *parse_one(struct cfgread *c, config_setting_t *ad, size_t index)
{
	static const char *const keys[] = { "id",    "package", "program", "schedule",
					    "rerun", "enabled", "targets", NULL };
	if (config_setting_type(ad) != CONFIG_TYPE_GROUP) {
		cfgread_error(c, ad, "\"advertisements\" element %zu must be a group { id = …; }",
			      index);
		return NULL;
	}
	struct advert *a = calloc(1, sizeof(*a));
	if (!a || !(a->file = strdup(c->file))) {
		free(a);
		cfgread_error(c, ad, "out of memory");
		return NULL;
	}
	a->line = config_setting_source_line(ad);
	a->enabled = true;

	size_t errors = c->errors, first = c->diags->n;
	cfgread_unknown_keys(c, ad, "", keys);
	read_id(c, ad, "", "id", true, &a->id);
	read_package(c, ad, a);
	read_program(c, ad, a);
	read_schedule(c, ad, a);
	size_t before_rerun = c->errors;
	read_rerun(c, ad, a);
	cfgread_bool(c, ad, "", "enabled", false, &a->enabled);
	read_targets(c, ad, a);

	/* Only about a rerun policy that was read: an invalid one is its own error. */
	if (a->schedule.recur > 0 && a->rerun == ADV_RERUN_NEVER && c->errors == before_rerun)
		cfgread_warning(c, config_setting_get_member(ad, "schedule"),
				"advertisement \"%s\" recurs but its rerun policy is \"never\": it "
				"will run once at most",
				a->id ? a->id : "?");

	/* SCCM's best-known trap: a program too long for every window never runs. */
	if (c->errors == errors && a->schedule.n_windows &&
	    !window_fits(a->schedule.windows, a->schedule.n_windows, a->program.max_runtime))
		cfgread_error(c, config_setting_get_member(ad, "schedule"),
			      "advertisement \"%s\": program.max_runtime (%d s) fits in no "
			      "maintenance window of schedule.windows: it would never start",
			      a->id ? a->id : "?", a->program.max_runtime);

	if (c->errors != errors) {
		diag_tag_advert(c->diags, first, a->id);
		advert_free(a);
		return NULL;
	}
	return a;
}

static int append(struct advert ***items, size_t *n, struct advert *a)
{
	struct advert **v = reallocarray(*items, *n + 1, sizeof(**items));
	if (!v)
		return -ENOMEM;
	v[(*n)++] = a;
	*items = v;
	return 0;
}

/* Every advertisement of a file libconfig has read (r: how the read went); destroys lc. */
static int parse(struct cfgread *c, config_t *lc, int r, struct advert ***items, size_t *n)
{
	static const char *const keys[] = { "advertisements", NULL };
	config_setting_t *root = r < 0 ? NULL : config_root_setting(lc), *list = NULL;
	if (root) {
		cfgread_unknown_keys(c, root, "", keys);
		if (cfgread_group(c, root, "", "advertisements", true, true, &list) != CFG_OK)
			list = NULL;
	}
	int len = list ? config_setting_length(list) : 0;
	if (list && len == 0)
		cfgread_warning(c, list, "the file defines no advertisement");
	for (int i = 0; i < len; i++) {
		struct advert *a =
			parse_one(c, config_setting_get_elem(list, (unsigned)i), (size_t)i);
		if (a && append(items, n, a) < 0) {
			advert_free(a);
			r = -ENOMEM;
			break;
		}
	}
	config_destroy(lc);
	return r;
}

int advert_parse_file(const char *path, struct advert ***items, size_t *n, struct diag_list *diags)
{
	struct cfgread c = { .diags = diags, .file = path };
	config_t lc;
	config_init(&lc);
	return parse(&c, &lc, cfgread_load(&c, &lc, path), items, n);
}

int advert_parse_text(const char *name, const char *text, struct advert ***items, size_t *n,
		      struct diag_list *diags)
{
	struct cfgread c = { .diags = diags, .file = name };
	config_t lc;
	config_init(&lc);
	return parse(&c, &lc, cfgread_load_text(&c, &lc, name, text), items, n);
}

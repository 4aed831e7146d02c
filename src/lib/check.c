/* SPDX-License-Identifier: MIT */
/* advertd --check and advertctl check-config: one code path for both. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advert/check.h"
#include "advert/published.h"
#include "advert/creds.h"
#include "advert/runner.h"
#include "advert/rfc3339.h"

/* Whether file is one of the paths, or inside one of them. */
static bool under_any(const char *file, const char *const *paths, size_t n)
{
	for (size_t j = 0; file && j < n; j++) {
		size_t len = strlen(paths[j]);
		if (strncmp(file, paths[j], len) == 0 && (file[len] == '\0' || file[len] == '/'))
			return true;
	}
	return false;
}

/* Keeps only diagnostics about advertd.conf and the extra paths. */
static void keep_relevant(struct diag_list *l, const char *config_path, const char *const *extra,
			  size_t n_extra)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *f = l->items[i].file;
		if (!f || strcmp(f, config_path) == 0 || under_any(f, extra, n_extra)) {
			l->items[k++] = l->items[i];
		} else {
			free(l->items[i].file);
			free(l->items[i].msg);
			free(l->items[i].advert);
		}
	}
	l->n = k;
}

/* What --test-identity would refuse, found before any run: every account's keytab or
 * password file must be there, root's alone and readable by no one else. The host's
 * keytab is needed by system runs and the AD check, but may come with the domain join:
 * a warning. Unreadable to a non-root checker: said, not guessed. */
static void check_secrets(const struct config *cfg, struct diag_list *diags)
{
	for (size_t i = 0; i < cfg->n_accounts; i++) {
		const struct config_account *a = &cfg->accounts[i];
		const char *path = a->keytab ? a->keytab : a->password_file;
		if (a->kind == ACCOUNT_LOCAL || !path)
			continue;
		struct why why = { "" };
		int r = creds_secret_check(path, a->keytab ? "keytab" : "password file", &why);
		if (r == -EACCES && geteuid() != 0)
			diag_add(diags, DIAG_WARNING, cfg->file, a->line,
				 "account \"%s\": cannot check its secret without root (%s)",
				 a->name, why.text);
		else if (r < 0)
			diag_add(diags, DIAG_ERROR, cfg->file, a->line, "account \"%s\": %s",
				 a->name, why.text);
	}
	if (cfg->directory.realm && cfg->client_token.keytab && geteuid() == 0) {
		struct why why = { "" };
		if (creds_secret_check(cfg->client_token.keytab, "client_token.keytab", &why) < 0)
			diag_add(diags, DIAG_WARNING, cfg->file, 0,
				 "%s: system runs and the check before knocking (AD) need it",
				 why.text);
	}
}

/* A program that is not there (yet) is worth a warning: it may come with the package. */
static void check_programs(const struct catalog *cat, struct diag_list *diags)
{
	for (size_t i = 0; i < cat->n; i++) {
		const struct advert *a = cat->items[i];
		const char *wd =
			a->program.working_dir ? a->program.working_dir : a->package.source;
		char *resolved = NULL;
		int r = runner_resolve(a->program.command[0], wd,
				       runner_env_path(a->program.environment), &resolved);
		if (r < 0 && r != -ENOMEM)
			diag_add(diags, DIAG_WARNING, a->file, a->line,
				 "advertisement \"%s\": program \"%s\" %s (yet)", a->id,
				 resolved ? resolved : a->program.command[0],
				 r == -EACCES ? "is not executable" : "is not there");
		free(resolved);
	}
}

int check_run(const char *config_path, const char *const *extra, size_t n_extra,
	      struct check_result *ret)
{
	*ret = (struct check_result){ .extra = extra, .n_extra = n_extra };
	int r = config_load(config_path, &ret->config, &ret->diags);
	if (r == -ENOMEM)
		return r;

	/* Without a readable advertd.conf the advertisements are still worth checking;
	 * their run_as then cannot be verified against accounts and will be reported. */
	const struct config *cfg = ret->config;
	size_t n_paths = (cfg ? cfg->n_advertisements : 0) + n_extra;
	const char **paths = calloc(n_paths + 1, sizeof(*paths));
	const char **names = calloc((cfg ? cfg->n_accounts : 0) + 1, sizeof(*names));
	if (!paths || !names) {
		free(paths);
		free(names);
		return -ENOMEM;
	}
	size_t n = 0;
	for (size_t i = 0; cfg && i < cfg->n_advertisements; i++)
		paths[n++] = cfg->advertisements[i];
	for (size_t i = 0; i < n_extra; i++)
		paths[n++] = extra[i];
	/* The directory's advertisements as this host last verified them (root may read
	 * the cache; anyone else checks without them), and the host's name and groups for
	 * targets. Nothing asks a DC. */
	struct why why;
	/* Not when checking files on request: one about to be published again would meet
	 * its own earlier version there. */
	if (cfg && n_extra == 0 &&
	    (!(ret->published = calloc(1, sizeof(*ret->published))) ||
	     published_load(cfg->state_dir, ret->published, &why) < 0)) {
		free(ret->published);
		ret->published = NULL;
	}
	struct catalog_context acc = { names, cfg ? cfg->n_accounts : 0, ret->published };
	for (size_t i = 0; i < acc.n; i++)
		names[i] = cfg->accounts[i].name;

	r = catalog_load(paths, n, &acc, &ret->catalog, &ret->diags);
	free(paths);
	free(names);
	if (r < 0)
		return r;
	if (cfg)
		check_secrets(cfg, &ret->diags);
	if (ret->catalog)
		check_programs(ret->catalog, &ret->diags);
	if (n_extra > 0)
		keep_relevant(&ret->diags, config_path, extra, n_extra);
	diag_sort(&ret->diags);
	return 0;
}

void check_print_summary(const struct check_result *res, FILE *out)
{
	const struct config *cfg = res->config;
	if (cfg && res->n_extra == 0) {
		fprintf(out, "configuration %s\n", cfg->file);
		if (cfg->directory.realm)
			fprintf(out, "  realm %s, schema %s, %zu server(s)%s\n",
				cfg->directory.realm, config_schema_name(cfg->directory.schema),
				cfg->directory.n_servers,
				cfg->directory.n_servers ? "" : " (DNS SRV discovery)");
		for (size_t i = 0; i < cfg->n_accounts; i++) {
			const struct config_account *a = &cfg->accounts[i];
			fprintf(out, "  account %-12s %s %s\n", a->name,
				a->kind == ACCOUNT_KEYTAB     ? "keytab"
				: a->kind == ACCOUNT_PASSWORD ? "password file"
							      : "local user",
				a->kind == ACCOUNT_LOCAL ? a->local_user : a->principal);
		}
	}
	if (!res->catalog)
		return;
	if (res->n_extra == 0)
		fprintf(out, "%zu advertisement(s) in %zu file(s)\n", res->catalog->n,
			res->catalog->n_files);
	for (size_t i = 0; i < res->catalog->n; i++) {
		const struct advert *a = res->catalog->items[i];
		if (res->n_extra > 0 && !under_any(a->file, res->extra, res->n_extra))
			continue;
		char when[RFC3339_BUFSIZE] = "as soon as possible";
		if (a->schedule.has_start)
			rfc3339_format(a->schedule.start, when, sizeof(when));
		fprintf(out, "  %-10s %s / %s as %s%s, %s, rerun %s%s%s\n", a->id, a->package.name,
			a->program.name, a->program.run_as,
			a->program.rights == ADV_RIGHTS_ADMIN ? " with admin rights" : "", when,
			advert_rerun_name(a->rerun), a->schedule.recur ? ", recurring" : "",
			a->enabled ? "" : " (disabled)");
	}
}

void check_result_clear(struct check_result *res)
{
	config_free(res->config);
	catalog_free(res->catalog);
	if (res->published)
		published_clear(res->published);
	free(res->published);
	diag_clear(&res->diags);
	*res = (struct check_result){ 0 };
}

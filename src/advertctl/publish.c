/* SPDX-License-Identifier: MIT */
/* publish, unpublish, published: advertisement files in the directory, written with the
 * caller's own Kerberos ticket (KRB5CCNAME) on one DC. The directory's ACLs decide who
 * may; advertd never holds a publisher's credentials. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <krb5/krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/advert.h"
#include "advert/check.h"
#include "advert/config.h"
#include "advert/dcloc.h"
#include "advert/directory.h"
#include "advert/log.h"
#include "advert/published.h"
#include "advertctl.h"

struct target {
	struct config *cfg;
	char *url, *base;
	struct directory_conn *conn;
	char dc[256];
	krb5_context k;
	krb5_ccache cc;
	char *principal;
};

static int bind_on(struct target *t, const struct dc *dc, struct why *why)
{
	int r = directory_connect(dc, t->cfg->directory.timeout, &t->conn, why);
	if (r == 0)
		r = directory_bind_gssapi(t->conn, t->k, t->cc, why);
	if (r == 0) {
		snprintf(t->dc, sizeof(t->dc), "%s", dc->host);
		return 0;
	}
	directory_close(t->conn);
	t->conn = NULL;
	return r;
}

static int open_target(const char *config_path, const char *server, const char *url,
		       struct target *t)
{
	struct diag_list diags = { 0 };
	int r = config_load(config_path, &t->cfg, &diags);
	if (r < 0 || diag_count(&diags, DIAG_ERROR)) {
		diag_print(&diags, stderr);
		diag_clear(&diags);
		return -EINVAL;
	}
	diag_clear(&diags);
	for (size_t i = 0; !url && i < t->cfg->n_advertisements; i++)
		if (config_is_url(t->cfg->advertisements[i]))
			url = t->cfg->advertisements[i];
	if (!url) {
		log_error("%s names no ldap:/// advertisements path (or give --base URL)",
			  config_path);
		return -EINVAL;
	}
	char bad[160] = "";
	if (!(t->url = strdup(url)) || config_url_base(url, &t->base, bad, sizeof(bad)) < 0) {
		log_error_text("not an advertisements URL: %s", bad[0] ? bad : url);
		return -EINVAL;
	}
	/* The caller's own ticket, from their KRB5CCNAME: never the host's, never root's
	 * by accident of a default. */
	krb5_principal me = NULL;
	char *name = NULL;
	if (krb5_init_context(&t->k) != 0 || krb5_cc_default(t->k, &t->cc) != 0 ||
	    krb5_cc_get_principal(t->k, t->cc, &me) != 0 ||
	    krb5_unparse_name(t->k, me, &name) != 0) {
		if (me)
			krb5_free_principal(t->k, me);
		log_error("no Kerberos ticket to write with: kinit as a publisher first "
			  "(KRB5CCNAME)");
		return -ENOKEY;
	}
	krb5_free_principal(t->k, me);
	t->principal = strdup(name);
	krb5_free_unparsed_name(t->k, name);

	struct why why = { "" };
	if (server) {
		struct dc dc = { 0 };
		/* --server: the DC to write to, resolved here (the publisher's machine). */
		r = dcloc_server(server, &dc);
		if (r == -ENOENT)
			why_set(&why, r, "%s does not resolve", server);
		if (r == 0)
			r = bind_on(t, &dc, &why);
		free(dc.host);
		free(dc.address);
	} else {
		struct dc_list dcs = { 0 };
		r = dcloc_candidates(t->cfg, dcloc_host_seed(), &dcs);
		if (r == 0)
			r = -EHOSTUNREACH;
		for (size_t i = 0; r == -EHOSTUNREACH && i < dcs.n; i++)
			r = bind_on(t, &dcs.items[i], &why);
		dcloc_list_free(&dcs);
	}
	if (r < 0) {
		log_error_text("cannot bind to the directory: %s",
			       why.text[0] ? why.text : strerror(-r));
		return r;
	}
	return 0;
}

static void close_target(struct target *t)
{
	directory_close(t->conn);
	if (t->cc)
		krb5_cc_close(t->k, t->cc);
	if (t->k)
		krb5_free_context(t->k);
	config_free(t->cfg);
	free(t->url);
	free(t->base);
	free(t->principal);
}

/* The file's bytes: a regular file, not too large, no NUL. */
static char *read_text(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char *buf = NULL;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > PUBLISHED_MAX_TEXT || !(buf = calloc(1, (size_t)st.st_size + 1)) ||
	    read(fd, buf, (size_t)st.st_size) != st.st_size ||
	    memchr(buf, '\0', (size_t)st.st_size)) {
		log_error_text("cannot publish %s: not a regular file of at most 256 KiB of text",
			       path);
		free(buf);
		buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	return buf;
}

/* "lab.conf" -> "lab": the entry's name is the file's. */
static char *entry_name(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b);
	if (n > 5 && strcmp(b + n - 5, ".conf") == 0)
		n -= 5;
	char *name = strndup(b, n);
	if (name && !advert_id_valid(name)) {
		log_error_text("cannot publish %s: its name (without .conf) must be 1 to 64 of "
			       "[A-Za-z0-9._-]",
			       path);
		free(name);
		return NULL;
	}
	return name;
}

/* Every file checked as check-config would, before any DC is asked. */
static int check_files(const char *config_path, int n, char **files)
{
	struct check_result res;
	if (check_run(config_path, (const char *const *)files, (size_t)n, &res) < 0)
		return EXIT_PROBLEMS;
	size_t errors = diag_count(&res.diags, DIAG_ERROR);
	diag_print(&res.diags, stderr);
	check_result_clear(&res);
	if (errors) {
		log_error("%zu error(s): nothing was published", errors);
		return EXIT_PROBLEMS;
	}
	return EXIT_SUCCESS;
}

static int do_publish(struct target *t, int n, char **files)
{
	int rc = EXIT_SUCCESS;
	for (int i = 0; i < n; i++) {
		char *text = read_text(files[i]), *name = entry_name(files[i]);
		struct why why = { "" };
		bool created = false;
		if (!text || !name) {
			rc = EXIT_PROBLEMS;
		} else if (directory_publish(t->conn, t->base, name, text, &created, &why) < 0) {
			log_error_text("%s", why.text);
			rc = EXIT_PROBLEMS;
		} else {
			printf("%s %s as cn=%s,%s on %s (as %s)\n", files[i],
			       created ? "published" : "replaced", name, t->base, t->dc,
			       t->principal);
		}
		free(text);
		free(name);
	}
	return rc;
}

static int do_unpublish(struct target *t, int n, char **names)
{
	int rc = EXIT_SUCCESS;
	for (int i = 0; i < n; i++) {
		struct why why = { "" };
		int r = directory_unpublish(t->conn, t->base, names[i], &why);
		if (r < 0) {
			log_error_text("%s", why.text);
			rc = r == -ENOENT ? CONTROL_NOT_FOUND : EXIT_PROBLEMS;
		} else {
			printf("unpublished cn=%s,%s on %s\n", names[i], t->base, t->dc);
		}
	}
	return rc;
}

static int do_list(struct target *t, bool json)
{
	struct published_set set = { 0 };
	struct why why = { "" };
	if (directory_published(t->conn, t->cfg->directory.schema, t->url, t->base, true, &set,
				&why) < 0) {
		log_error_text("%s", why.text);
		return EXIT_PROBLEMS;
	}
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < set.n; i++) {
		const struct published_entry *e = &set.items[i];
		struct advert **ads = NULL;
		size_t n_ads = 0;
		struct diag_list diags = { 0 };
		advert_parse_text(e->dn, e->text, &ads, &n_ads, &diags);
		size_t errors = diag_count(&diags, DIAG_ERROR);
		struct json_object *o = json_object_new_object(), *ids = json_object_new_array();
		json_object_object_add(o, "dn", json_object_new_string(e->dn));
		json_object_object_add(o, "marker", json_object_new_string(e->marker));
		json_object_object_add(o, "errors", json_object_new_int((int)errors));
		if (!json) {
			tty_put(e->dn, 0, false);
			printf("%s", errors ? "  (broken:" : "");
		}
		for (size_t k = 0; k < n_ads; k++) {
			json_object_array_add(ids, json_object_new_string(ads[k]->id));
			if (!json) {
				printf(" ");
				tty_put(ads[k]->id, 0, false);
			}
			advert_free(ads[k]);
		}
		if (!json)
			printf("%s\n", errors ? " see advertctl check-config)" : "");
		json_object_object_add(o, "advertisements", ids);
		json_object_array_add(arr, o);
		free(ads);
		diag_clear(&diags);
	}
	if (json) {
		struct json_object *clean = json_clean(arr);
		json_put(json_object_to_json_string_ext(clean, JSON_C_TO_STRING_PLAIN));
		json_object_put(clean);
	}
	json_object_put(arr);
	published_clear(&set);
	return EXIT_SUCCESS;
}

int publish_main(const char *config_path, bool json, int argc, char **argv)
{
	const char *cmd = argv[0], *server = NULL, *url = NULL;
	int n = 0;
	char **rest = argv + 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strcmp(argv[i], "--base") == 0 && i + 1 < argc)
			url = argv[++i];
		else
			rest[n++] = argv[i];
	}
	bool list = strcmp(cmd, "published") == 0;
	if (list ? n != 0 : n == 0) {
		log_error("usage: advertctl %s [--server DC] [--base URL]%s", cmd,
			  list                          ? ""
			  : strcmp(cmd, "publish") == 0 ? " FILE..."
							: " NAME...");
		return EXIT_USAGE;
	}
	struct target t = { 0 };
	int rc;
	if (strcmp(cmd, "publish") == 0 && (rc = check_files(config_path, n, rest)) != 0)
		return rc;
	if (open_target(config_path, server, url, &t) < 0)
		rc = EXIT_PROBLEMS;
	else if (list)
		rc = do_list(&t, json);
	else if (strcmp(cmd, "publish") == 0)
		rc = do_publish(&t, n, rest);
	else
		rc = do_unpublish(&t, n, rest);
	close_target(&t);
	return rc;
}

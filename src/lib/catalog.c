/* The catalog of all advertisements and the checks that span files. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "advert/catalog.h"
#include "advert/cfgread.h"
#include "advert/trust.h"

void catalog_free(struct catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->n; i++)
		advert_free(cat->items[i]);
	free(cat->items);
	strv_free(cat->files);
	free(cat);
}

static int add_file(struct catalog *cat, const char *real)
{
	for (size_t i = 0; i < cat->n_files; i++)
		if (strcmp(cat->files[i], real) == 0)
			return 0;
	char **v = reallocarray(cat->files, cat->n_files + 2, sizeof(*v));
	if (!v)
		return -ENOMEM;
	cat->files = v;
	if (!(v[cat->n_files] = strdup(real)))
		return -ENOMEM;
	v[++cat->n_files] = NULL;
	return 1;
}

static int load_file(struct catalog *cat, const char *path, struct diag_list *diags)
{
	char *why = NULL;
	int r = trust_check(path, TRUST_FILE, &why);
	if (r < 0) {
		diag_error(diags, path, 0, "refusing advertisement file: %s",
			   why ? why : strerror(-r));
		free(why);
		return r == -ENOMEM ? r : 0;
	}
	char *real = realpath(path, NULL);
	if (!real)
		return 0;
	r = add_file(cat, real);
	free(real);
	if (r <= 0) /* already read through another path, or ENOMEM */
		return r;
	r = advert_parse_file(path, &cat->items, &cat->n, diags);
	return r == -ENOMEM ? r : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_conf_name(const char *name)
{
	size_t len = strlen(name);
	return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".conf") == 0;
}

static int load_directory(struct catalog *cat, const char *dir, struct diag_list *diags)
{
	char *why = NULL;
	int r = trust_check(dir, TRUST_DIRECTORY, &why);
	if (r < 0) {
		diag_error(diags, dir, 0, "refusing advertisement directory: %s",
			   why ? why : strerror(-r));
		free(why);
		return r == -ENOMEM ? r : 0;
	}
	DIR *d = opendir(dir);
	if (!d) {
		diag_error(diags, dir, 0, "cannot read the directory: %s", strerror(errno));
		return 0;
	}
	char **names = NULL;
	size_t n = 0;
	r = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (!is_conf_name(de->d_name))
			continue;
		char **v = reallocarray(names, n + 1, sizeof(*v));
		if (!v || !(v[n] = strdup(de->d_name))) {
			names = v ? v : names;
			r = -ENOMEM;
			break;
		}
		names = v;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char *path = NULL;
		if (r == 0 && asprintf(&path, "%s/%s", dir, names[i]) < 0)
			r = -ENOMEM;
		if (r == 0)
			r = load_file(cat, path, diags);
		free(path);
		free(names[i]);
	}
	free(names);
	return r;
}

/* Id → position, for lookups in checks that span the whole catalog. */
struct id_index {
	const char *id;
	size_t pos;
};

static int cmp_index(const void *a, const void *b)
{
	const struct id_index *x = a, *y = b;
	int r = strcmp(x->id, y->id);
	return r ? r : (x->pos > y->pos) - (x->pos < y->pos);
}

static const struct id_index *index_find(const struct id_index *idx, size_t n, const char *id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* first entry with this id */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(idx[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(idx[lo].id, id) == 0 ? &idx[lo] : NULL;
}

static bool account_exists(const struct catalog_accounts *acc, const char *name)
{
	if (strcmp(name, "system") == 0)
		return true;
	for (size_t i = 0; acc && i < acc->n; i++)
		if (strcmp(acc->names[i], name) == 0)
			return true;
	return false;
}

/* A dependency is live when it names a kept advertisement. Returns the position of the
 * dependency, or SIZE_MAX. */
static size_t dependency(const struct catalog *cat, const struct id_index *idx,
			 const bool *keep, size_t i)
{
	const char *dep = cat->items[i]->program.depends_on;
	const struct id_index *e = dep ? index_find(idx, cat->n, dep) : NULL;
	return e && keep[e->pos] ? e->pos : SIZE_MAX;
}

static void check_run_as(const struct catalog *cat, const struct catalog_accounts *acc,
			 bool *keep, struct diag_list *diags)
{
	for (size_t i = 0; i < cat->n; i++) {
		const struct advert *a = cat->items[i];
		if (!keep[i] || account_exists(acc, a->program.run_as))
			continue;
		keep[i] = false;
		const char **names = calloc((acc ? acc->n : 0) + 2, sizeof(*names));
		const char *hint = NULL;
		if (names) {
			names[0] = "system";
			for (size_t k = 0; acc && k < acc->n; k++)
				names[k + 1] = acc->names[k];
			hint = cfgread_suggest(a->program.run_as, names);
			free(names);
		}
		if (hint)
			diag_error(diags, a->file, a->line,
				   "advertisement \"%s\": run_as \"%s\" names no account in "
				   "advertd.conf (did you mean \"%s\"?)",
				   a->id, a->program.run_as, hint);
		else
			diag_error(diags, a->file, a->line,
				   "advertisement \"%s\": run_as \"%s\" names no account in "
				   "advertd.conf and is not \"system\"",
				   a->id, a->program.run_as);
	}
}

/* Leaves out advertisements in a depends_on cycle, then (repeatedly) those whose
 * dependency is missing or was left out. */
static void check_dependencies(const struct catalog *cat, const struct id_index *idx,
			       bool *keep, struct diag_list *diags)
{
	/* Each advertisement has at most one dependency, so a cycle is found by walking the
	 * chain: within n steps it either ends or comes back to where it started. */
	bool *in_cycle = calloc(cat->n ? cat->n : 1, sizeof(*in_cycle));
	for (size_t i = 0; in_cycle && i < cat->n; i++) {
		if (!keep[i])
			continue;
		size_t p = dependency(cat, idx, keep, i);
		for (size_t steps = 0; p != SIZE_MAX && p != i && steps < cat->n; steps++)
			p = dependency(cat, idx, keep, p);
		in_cycle[i] = p == i;
	}
	for (size_t i = 0; in_cycle && i < cat->n; i++) {
		if (!in_cycle[i])
			continue;
		const struct advert *a = cat->items[i];
		diag_error(diags, a->file, a->line,
			   "advertisement \"%s\": depends_on \"%s\" forms a cycle", a->id,
			   a->program.depends_on);
	}
	for (size_t i = 0; in_cycle && i < cat->n; i++)
		if (in_cycle[i])
			keep[i] = false;
	free(in_cycle);

	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < cat->n; i++) {
			const struct advert *a = cat->items[i];
			if (!keep[i] || !a->program.depends_on ||
			    dependency(cat, idx, keep, i) != SIZE_MAX)
				continue;
			keep[i] = false;
			changed = true;
			bool exists = index_find(idx, cat->n, a->program.depends_on) != NULL;
			diag_error(diags, a->file, a->line,
				   exists ? "advertisement \"%s\": depends_on \"%s\" names an "
					    "advertisement that was rejected"
					  : "advertisement \"%s\": depends_on \"%s\" names no "
					    "advertisement",
				   a->id, a->program.depends_on);
		}
	}
}

static int validate(struct catalog *cat, const struct catalog_accounts *acc,
		    struct diag_list *diags)
{
	if (cat->n == 0)
		return 0;
	bool *keep = malloc(cat->n * sizeof(*keep));
	struct id_index *idx = malloc(cat->n * sizeof(*idx));
	if (!keep || !idx) {
		free(keep);
		free(idx);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cat->n; i++) {
		keep[i] = true;
		idx[i] = (struct id_index){ cat->items[i]->id, i };
	}
	qsort(idx, cat->n, sizeof(*idx), cmp_index);

	/* Duplicate ids: the first definition (file order) wins; idx is sorted by id, then
	 * by position, so the first of each run of equal ids is the winner. */
	for (size_t k = 1, first = 0; k < cat->n; k++) {
		if (strcmp(idx[k].id, idx[first].id) != 0) {
			first = k;
			continue;
		}
		const struct advert *a = cat->items[idx[k].pos], *f = cat->items[idx[first].pos];
		keep[idx[k].pos] = false;
		diag_error(diags, a->file, a->line,
			   "advertisement id \"%s\" is already defined at %s:%d", a->id, f->file,
			   f->line);
	}
	check_run_as(cat, acc, keep, diags);
	check_dependencies(cat, idx, keep, diags);

	size_t n = 0;
	for (size_t i = 0; i < cat->n; i++) {
		if (keep[i])
			cat->items[n++] = cat->items[i];
		else
			advert_free(cat->items[i]);
	}
	cat->n = n;
	free(keep);
	free(idx);
	return 0;
}

int catalog_load(const char *const *paths, size_t n_paths,
		 const struct catalog_accounts *accounts, struct catalog **ret,
		 struct diag_list *diags)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	if (!cat || !(cat->files = calloc(1, sizeof(char *)))) {
		free(cat);
		return -ENOMEM;
	}
	int r = 0;
	for (size_t i = 0; r == 0 && i < n_paths; i++) {
		struct stat st;
		if (stat(paths[i], &st) < 0)
			diag_warning(diags, paths[i], 0, "advertisement path is missing: %s",
				     strerror(errno));
		else if (S_ISDIR(st.st_mode))
			r = load_directory(cat, paths[i], diags);
		else
			r = load_file(cat, paths[i], diags);
	}
	if (r == 0)
		r = validate(cat, accounts, diags);
	if (r < 0) {
		catalog_free(cat);
		return r;
	}
	*ret = cat;
	return 0;
}

const struct advert *catalog_find(const struct catalog *cat, const char *id)
{
	for (size_t i = 0; i < cat->n; i++)
		if (strcmp(cat->items[i]->id, id) == 0)
			return cat->items[i];
	return NULL;
}

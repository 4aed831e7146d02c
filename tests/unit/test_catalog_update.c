/* SPDX-License-Identifier: MIT */
/* Updating the catalog for the names inotify reports: after an add, a change, a removal,
 * a rename or a chmod, the update gives exactly what a full load of the same directory
 * gives (advertisements, files, problems and their order), and it reads everything when
 * it cannot be sure. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "testutil.h"

static char *dir;

static const char *const account_names[] = { "swinstall" };
static const struct catalog_context accounts = { account_names, 1 };

/* A file of one advertisement; run_as and depends_on may be NULL. */
static char *ad_file(const char *id, const char *run_as, const char *depends_on)
{
	char *s = NULL, dep[128] = "";
	if (depends_on)
		snprintf(dep, sizeof(dep), " depends_on = \"%s\";", depends_on);
	if (asprintf(&s,
		     "advertisements = (\n"
		     "  { id = \"%s\";\n"
		     "    package = { id = \"P%s\"; name = \"N\"; source = \"/srv/p\"; };\n"
		     "    program = { name = \"I\"; command = [ \"x\" ]; run_as = \"%s\";%s };\n"
		     "  }\n);\n",
		     id, id, run_as ? run_as : "system", dep) < 0)
		abort();
	return s;
}

static void put(const char *d, const char *name, const char *id, const char *run_as,
		const char *depends_on)
{
	char *text = ad_file(id, run_as, depends_on);
	free(tu_write(d, name, 0644, text));
	free(text);
}

static char *path_of(const char *d, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", d, name) < 0)
		abort();
	return p;
}

/* Whether two results are the same: the advertisements (by definition: id, file, line,
 * dependency), the files read, and the problems, in order. */
static bool same_result(const struct catalog *a, const struct diag_list *da,
			const struct catalog *b, const struct diag_list *db)
{
	if (a->n != b->n || a->n_files != b->n_files || da->n != db->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct advert *x = a->items[i], *y = b->items[i];
		const char *dx = x->program.depends_on, *dy = y->program.depends_on;
		if (strcmp(x->id, y->id) != 0 || strcmp(x->file, y->file) != 0 ||
		    x->line != y->line || (dx && dy ? strcmp(dx, dy) != 0 : dx != dy))
			return false;
		if (catalog_find(a, x->id) != x || catalog_find(b, y->id) != y)
			return false;
	}
	for (size_t i = 0; i < a->n_files; i++)
		if (strcmp(a->files[i], b->files[i]) != 0)
			return false;
	for (size_t i = 0; i < da->n; i++) {
		const struct diag *x = &da->items[i], *y = &db->items[i];
		if (x->level != y->level || x->line != y->line || strcmp(x->msg, y->msg) != 0 ||
		    strcmp(x->file ? x->file : "", y->file ? y->file : "") != 0)
			return false;
	}
	return true;
}

/* The state of one test: the configured paths and the current catalog. */
struct scene {
	const char *paths[2];
	size_t n_paths;
	struct catalog *cat;
	struct catalog_reload_stats stats;
};

/* Updates sc->cat for the given names (NULL-terminated), and checks the result against a
 * full load from nothing. Returns whether the update read everything. */
static bool update(struct scene *sc, const char *const *names)
{
	const char *changed[16];
	size_t n = 0;
	for (; names[n]; n++)
		changed[n] = names[n];
	struct diag_list du = { 0 }, df = { 0 };
	struct catalog *up = NULL, *full = NULL;
	CU_ASSERT_EQUAL_FATAL(catalog_update(sc->cat, sc->paths, sc->n_paths, &accounts, changed, n,
					     &up, &du, &sc->stats),
			      0);
	CU_ASSERT_EQUAL_FATAL(catalog_load(sc->paths, sc->n_paths, &accounts, &full, &df), 0);
	bool same = same_result(up, &du, full, &df);
	CU_ASSERT(same);
	if (!same) {
		fprintf(stderr, "\nupdate:\n");
		tu_dump_diags(&du);
		fprintf(stderr, "full load:\n");
		tu_dump_diags(&df);
	}
	catalog_free(full);
	catalog_free(sc->cat);
	sc->cat = up;
	diag_clear(&du);
	diag_clear(&df);
	return sc->stats.full;
}

#define NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void start(struct scene *sc, const char *d)
{
	*sc = (struct scene){ .paths = { d }, .n_paths = 1 };
	struct diag_list diags = { 0 };
	CU_ASSERT_EQUAL_FATAL(catalog_load(sc->paths, 1, &accounts, &sc->cat, &diags), 0);
	diag_clear(&diags);
}

/* A directory with cross-file relations: a dependency, a duplicate id, an unknown
 * account, a broken file. */
static char *fixture(void)
{
	static int seq;
	char *d = NULL;
	if (asprintf(&d, "%s/d%d", dir, seq++) < 0 || mkdir(d, 0755) < 0)
		abort();
	put(d, "10-a.conf", "A", "swinstall", NULL);
	put(d, "20-b.conf", "B", NULL, "A");
	put(d, "30-c.conf", "C", "ghost", NULL);
	put(d, "40-dup.conf", "A", NULL, NULL);
	free(tu_write(d, "50-broken.conf", 0644, "advertisements = ( { id = ; } );\n"));
	return d;
}

static void test_add_modify_delete(void)
{
	char *d = fixture();
	struct scene sc;
	start(&sc, d);
	char *pn = path_of(d, "25-new.conf"), *pb = path_of(d, "20-b.conf");
	char *pa = path_of(d, "10-a.conf"), *pd = path_of(d, "40-dup.conf");

	/* Added: read alone, and the checks see it (it depends on B). */
	put(d, "25-new.conf", "N", NULL, "B");
	CU_ASSERT_FALSE(update(&sc, NAMES(pn)));
	CU_ASSERT_EQUAL(sc.stats.files_parsed, 1);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(sc.cat, "N"));

	/* Changed: B now names a missing dependency; N goes with it. */
	put(d, "20-b.conf", "B", NULL, "MISSING");
	CU_ASSERT_FALSE(update(&sc, NAMES(pb)));
	CU_ASSERT_PTR_NULL(catalog_find(sc.cat, "N"));

	/* Removed: the duplicate of A in 40-dup.conf is now the one definition. */
	CU_ASSERT_EQUAL_FATAL(unlink(pa), 0);
	CU_ASSERT_FALSE(update(&sc, NAMES(pa)));
	CU_ASSERT_EQUAL(sc.stats.files_parsed, 0);
	CU_ASSERT_STRING_EQUAL(catalog_find(sc.cat, "A")->file, pd);

	/* Several at once, one named twice, plus names that are not the catalog's. */
	put(d, "10-a.conf", "A", "swinstall", NULL);
	put(d, "20-b.conf", "B", NULL, "A");
	free(tu_write(d, "notes.txt", 0644, "x"));
	char *pt = path_of(d, "notes.txt");
	CU_ASSERT_FALSE(update(&sc, NAMES(pb, pa, pt, "/elsewhere/x.conf", pb)));
	CU_ASSERT_EQUAL(sc.stats.files_parsed, 2);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(sc.cat, "N"));

	catalog_free(sc.cat);
	free(pn), free(pb), free(pa), free(pd), free(pt), free(d);
}

static void test_rename(void)
{
	char *d = fixture();
	struct scene sc;
	start(&sc, d);
	char *pc = path_of(d, "30-c.conf"), *pe = path_of(d, "05-c.conf");
	char *tmp = path_of(d, "x.tmp"), *px = path_of(d, "60-x.conf");

	/* Renamed within the directory: now read first. */
	CU_ASSERT_EQUAL_FATAL(rename(pc, pe), 0);
	CU_ASSERT_FALSE(update(&sc, NAMES(pc, pe)));
	CU_ASSERT_STRING_EQUAL(sc.cat->files[0], pe);

	/* Written under another name, then renamed into place (as bench/daemon does). */
	put(d, "x.tmp", "X", NULL, "B");
	CU_ASSERT_EQUAL_FATAL(rename(tmp, px), 0);
	CU_ASSERT_FALSE(update(&sc, NAMES(tmp, px)));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(sc.cat, "X"));

	/* Replaced by rename with other content. */
	put(d, "x.tmp", "Y", NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(rename(tmp, px), 0);
	CU_ASSERT_FALSE(update(&sc, NAMES(px)));
	CU_ASSERT_PTR_NULL(catalog_find(sc.cat, "X"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(sc.cat, "Y"));

	/* Renamed away (out of the directory). */
	char *out = path_of(dir, "away.conf");
	CU_ASSERT_EQUAL_FATAL(rename(px, out), 0);
	CU_ASSERT_FALSE(update(&sc, NAMES(px)));
	CU_ASSERT_PTR_NULL(catalog_find(sc.cat, "Y"));

	catalog_free(sc.cat);
	unlink(out);
	free(pc), free(pe), free(tmp), free(px), free(out), free(d);
}

/* A file that turns insecure is refused, and looked at again at every update until it
 * is secure again (a refusal can have causes outside the file). */
static void test_trust(void)
{
	char *d = fixture();
	struct scene sc;
	start(&sc, d);
	char *pa = path_of(d, "10-a.conf"), *pn = path_of(d, "25-new.conf");
	CU_ASSERT_EQUAL_FATAL(chmod(pa, 0666), 0);
	CU_ASSERT_FALSE(update(&sc, NAMES(pa)));
	CU_ASSERT_STRING_NOT_EQUAL(catalog_find(sc.cat, "A")->file, pa);
	CU_ASSERT_EQUAL_FATAL(chmod(pa, 0644), 0);
	put(d, "25-new.conf", "N", NULL, NULL);
	CU_ASSERT_FALSE(update(&sc, NAMES(pn))); /* only N named: A retried all the same */
	CU_ASSERT_STRING_EQUAL(catalog_find(sc.cat, "A")->file, pa);
	catalog_free(sc.cat);
	free(pa), free(pn), free(d);
}

/* What the update cannot be sure of, it reads in full. */
static void test_falls_back(void)
{
	char *d = fixture();
	struct scene sc;
	start(&sc, d);
	/* The directory itself (its mode, say). */
	CU_ASSERT_TRUE(update(&sc, NAMES(d)));
	/* A symlink: the file it names may be read through another entry. */
	char *pl = path_of(d, "70-link.conf"), *pa = path_of(d, "10-a.conf");
	CU_ASSERT_EQUAL_FATAL(symlink(pa, pl), 0);
	CU_ASSERT_TRUE(update(&sc, NAMES(pl)));
	CU_ASSERT_TRUE(sc.cat->duplicates);
	/* A catalog that read a file twice: every later change too. */
	char *pn = path_of(d, "25-new.conf");
	put(d, "25-new.conf", "N", NULL, NULL);
	CU_ASSERT_TRUE(update(&sc, NAMES(pn)));
	CU_ASSERT_EQUAL_FATAL(unlink(pl), 0);
	CU_ASSERT_TRUE(update(&sc, NAMES(pl)));
	CU_ASSERT_FALSE(sc.cat->duplicates);
	CU_ASSERT_FALSE(update(&sc, NAMES(pn)));

	/* Other paths than the old catalog's, and a configured file. */
	char *e = path_of(dir, "extra.conf");
	put(dir, "extra.conf", "E", NULL, "A");
	sc.paths[1] = e;
	sc.n_paths = 2;
	CU_ASSERT_TRUE(update(&sc, NAMES(pn)));
	CU_ASSERT_FALSE(update(&sc, NAMES(pn)));
	CU_ASSERT_TRUE(update(&sc, NAMES(e)));
	/* No old catalog. */
	catalog_free(sc.cat);
	sc.cat = NULL;
	CU_ASSERT_TRUE(update(&sc, NAMES(pn)));
	catalog_free(sc.cat);
	unlink(e);
	free(pl), free(pa), free(pn), free(e), free(d);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_catalog_update: skipped, it needs root (trust checks)\n");
		return 77;
	}
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "update: add, modify, delete", test_add_modify_delete },
		{ "update: rename", test_rename },
		{ "update: insecure files are looked at again", test_trust },
		{ "update: falls back to reading everything", test_falls_back },
		{ 0 },
	};
	int r = tu_run_as_root("catalog_update", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

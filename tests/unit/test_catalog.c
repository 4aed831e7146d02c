/* The catalog: many files, insecure and broken ones left out with a reason, checks that
 * span files (duplicate ids, accounts, dependencies and their cycles). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "advert/check.h"
#include "testutil.h"

static char *dir;

static const char *const account_names[] = { "swinstall", "pwinstall" };
static const struct catalog_accounts accounts = { account_names, 2 };

/* One advertisement as file text; run_as and depends_on may be NULL. */
static char *ad(const char *id, const char *run_as, const char *depends_on)
{
	char *s = NULL;
	char dep[128] = "";
	if (depends_on)
		snprintf(dep, sizeof(dep), " depends_on = \"%s\";", depends_on);
	if (asprintf(&s,
		     "  { id = \"%s\";\n"
		     "    package = { id = \"P%s\"; name = \"N\"; source = \"/srv/p\"; };\n"
		     "    program = { name = \"I\"; command = [ \"x\" ]; run_as = \"%s\";%s };\n"
		     "  }",
		     id, id, run_as ? run_as : "system", dep) < 0)
		abort();
	return s;
}

/* A fresh directory holding the given files (name, content) pairs; NULL-terminated. */
static char *make_dir(const char *const *files)
{
	char *d = NULL;
	static int seq;
	if (asprintf(&d, "%s/cat%d", dir, seq++) < 0 || mkdir(d, 0755) < 0)
		abort();
	for (const char *const *f = files; f[0]; f += 2)
		free(tu_write(d, f[0], 0644, f[1]));
	return d;
}

static char *file_of(const char *a, const char *b)
{
	char *s = NULL;
	if (asprintf(&s, "advertisements = (\n%s%s%s\n);\n", a, b ? ",\n" : "", b ? b : "") < 0)
		abort();
	return s;
}

static struct catalog *load(const char *path, struct diag_list *diags)
{
	struct catalog *cat = NULL;
	const char *paths[] = { path };
	CU_ASSERT_EQUAL(catalog_load(paths, 1, &accounts, &cat, diags), 0);
	return cat;
}

static void test_bad_files_do_not_hide_good_ones(void)
{
	char *a1 = ad("A1", "swinstall", NULL), *a2 = ad("A2", "pwinstall", "A1");
	char *b1 = ad("B1", NULL, NULL), *c1 = ad("C1", NULL, NULL);
	char *good = file_of(a1, a2), *insecure = file_of(b1, NULL), *other = file_of(c1, NULL);
	const char *const files[] = {
		"10-good.conf",	    good,
		"20-broken.conf",   "advertisements = ( { id = ; } );\n",
		"30-insecure.conf", insecure,
		"40-other.conf",    other,
		"README",	    "not a config file",
		".hidden.conf",	    "garbage",
		"50-notconf.txt",   "garbage",
		NULL,
	};
	char *d = make_dir(files);
	char *insecure_path = NULL;
	if (asprintf(&insecure_path, "%s/30-insecure.conf", d) < 0)
		abort();
	chmod(insecure_path, 0666);

	struct diag_list diags = { 0 };
	struct catalog *cat = load(d, &diags);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cat);
	CU_ASSERT_EQUAL(cat->n, 3);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "A1"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "A2"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "C1"));
	CU_ASSERT_PTR_NULL(catalog_find(cat, "B1"));
	CU_ASSERT_EQUAL(diag_count(&diags, DIAG_ERROR), 2);
	const struct diag *e = tu_find_diag(&diags, "syntax error");
	CU_ASSERT(e && strstr(e->file, "20-broken.conf") && e->line == 1);
	e = tu_find_diag(&diags, "refusing advertisement file");
	CU_ASSERT(e && strstr(e->file, "30-insecure.conf") && strstr(e->msg, "mode 0666"));
	/* Files come in name order: A1 before C1. */
	CU_ASSERT_STRING_EQUAL(cat->items[0]->id, "A1");
	CU_ASSERT_STRING_EQUAL(cat->items[2]->id, "C1");
	catalog_free(cat);
	diag_clear(&diags);
	free(a1), free(a2), free(b1), free(c1), free(good), free(insecure), free(other);
	free(insecure_path);
	free(d);
}

static void test_duplicate_ids_first_wins(void)
{
	char *x1 = ad("X", "swinstall", NULL), *x2 = ad("X", "pwinstall", NULL);
	char *f1 = file_of(x1, NULL), *f2 = file_of(x2, NULL);
	const char *const files[] = { "a.conf", f1, "b.conf", f2, NULL };
	char *d = make_dir(files);
	struct diag_list diags = { 0 };
	struct catalog *cat = load(d, &diags);
	CU_ASSERT_EQUAL_FATAL(cat->n, 1);
	CU_ASSERT_STRING_EQUAL(cat->items[0]->program.run_as, "swinstall");
	const struct diag *e = tu_find_diag(&diags, "advertisement id \"X\" is already defined at");
	CU_ASSERT(e && strstr(e->file, "b.conf") && e->line == 2 && strstr(e->msg, "a.conf:2"));
	catalog_free(cat);
	diag_clear(&diags);
	free(x1), free(x2), free(f1), free(f2), free(d);
}

static void test_run_as_must_exist(void)
{
	char *a = ad("A", "swinstal", NULL), *b = ad("B", "nobody-at-all", NULL);
	char *f = file_of(a, b);
	const char *const files[] = { "a.conf", f, NULL };
	char *d = make_dir(files);
	struct diag_list diags = { 0 };
	struct catalog *cat = load(d, &diags);
	CU_ASSERT_EQUAL(cat->n, 0);
	const struct diag *e = tu_find_diag(&diags, "run_as \"swinstal\" names no account");
	CU_ASSERT(e && e->line == 2 && strstr(e->msg, "did you mean \"swinstall\"?"));
	e = tu_find_diag(&diags, "run_as \"nobody-at-all\" names no account in advertd.conf and "
				 "is not \"system\"");
	CU_ASSERT(e && e->line == 6);
	catalog_free(cat);
	diag_clear(&diags);
	free(a), free(b), free(f), free(d);
}

static void test_dependencies(void)
{
	/* A → B → C → A is a cycle; D depends on A (rejected with it); E on a missing id;
	 * F on E (rejected because E was); G on H, which is fine. */
	char *s[8] = { ad("A", NULL, "B"), ad("B", NULL, "C"), ad("C", NULL, "A"),
		       ad("D", NULL, "A"), ad("E", NULL, "NOPE"), ad("F", NULL, "E"),
		       ad("G", NULL, "H"), ad("H", NULL, NULL) };
	char *f1 = file_of(s[0], s[1]), *f2 = file_of(s[2], s[3]), *f3 = file_of(s[4], s[5]),
	     *f4 = file_of(s[6], s[7]);
	const char *const files[] = { "1.conf", f1, "2.conf", f2, "3.conf", f3, "4.conf", f4, NULL };
	char *d = make_dir(files);
	struct diag_list diags = { 0 };
	struct catalog *cat = load(d, &diags);
	CU_ASSERT_EQUAL(cat->n, 2);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "G"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "H"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"A\": depends_on \"B\" forms a cycle"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"B\": depends_on \"C\" forms a cycle"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"C\": depends_on \"A\" forms a cycle"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"D\": depends_on \"A\" names an "
						    "advertisement that was rejected"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"E\": depends_on \"NOPE\" names no "
						    "advertisement"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"F\": depends_on \"E\" names an "
						    "advertisement that was rejected"));
	CU_ASSERT_EQUAL(diag_count(&diags, DIAG_ERROR), 6);
	catalog_free(cat);
	diag_clear(&diags);
	for (int i = 0; i < 8; i++)
		free(s[i]);
	free(f1), free(f2), free(f3), free(f4), free(d);
}

static void test_paths_files_and_repeats(void)
{
	char *a = ad("A", NULL, NULL);
	char *f = file_of(a, NULL);
	const char *const files[] = { "a.conf", f, NULL };
	char *d = make_dir(files);
	char *file = NULL, *link = NULL;
	if (asprintf(&file, "%s/a.conf", d) < 0 || asprintf(&link, "%s/link-to-a", dir) < 0)
		abort();
	CU_ASSERT_EQUAL_FATAL(symlink(file, link), 0);
	/* The directory, the file itself and a symlink to it: read once. */
	const char *paths[] = { d, file, link, "/nonexistent/ads" };
	struct diag_list diags = { 0 };
	struct catalog *cat = NULL;
	CU_ASSERT_EQUAL(catalog_load(paths, 4, &accounts, &cat, &diags), 0);
	CU_ASSERT_EQUAL(cat->n, 1);
	CU_ASSERT_EQUAL(cat->n_files, 1);
	CU_ASSERT_EQUAL(diag_count(&diags, DIAG_ERROR), 0);
	const struct diag *w = tu_find_diag(&diags, "advertisement path is missing");
	CU_ASSERT(w && w->level == DIAG_WARNING);
	catalog_free(cat);
	diag_clear(&diags);

	/* An untrusted directory is refused as a whole. */
	chmod(d, 0777);
	cat = load(d, &diags);
	CU_ASSERT_EQUAL(cat->n, 0);
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "refusing advertisement directory"));
	chmod(d, 0755);
	catalog_free(cat);
	diag_clear(&diags);
	free(a), free(f), free(d), free(file), free(link);
}

static void test_check_with_extra_files(void)
{
	char *cd = NULL;
	if (asprintf(&cd, "%s/installed", dir) < 0 || mkdir(cd, 0755) < 0)
		abort();
	char *base = ad("BASE", NULL, NULL), *broken = ad("OLD", "ghost", NULL);
	char *f1 = file_of(base, broken);
	free(tu_write(cd, "base.conf", 0644, f1));
	char *conf_text = NULL;
	if (asprintf(&conf_text,
		     "advertisements = [ \"%s\" ];\n"
		     "accounts = ( { name = \"loc\"; local_user = \"nobody\"; } );\n",
		     cd) < 0)
		abort();
	char *conf = tu_write(dir, "check.conf", 0644, conf_text);

	/* The new file may depend on an installed advertisement; the installed file's own
	 * problem (OLD) is not what was asked about. */
	char *n1 = ad("NEW", "loc", "BASE"), *n2 = ad("NEW2", "swinstall", NULL);
	char *f2 = file_of(n1, n2);
	char *newfile = tu_write(dir, "new.conf", 0644, f2);
	const char *extra[] = { newfile };
	struct check_result res;
	CU_ASSERT_EQUAL_FATAL(check_run(conf, extra, 1, &res), 0);
	CU_ASSERT_EQUAL(diag_count(&res.diags, DIAG_ERROR), 1);
	const struct diag *e = tu_find_diag(&res.diags, "run_as \"swinstall\" names no account");
	CU_ASSERT(e && strcmp(e->file, newfile) == 0 && e->line == 6);
	CU_ASSERT_PTR_NULL(tu_find_diag(&res.diags, "ghost"));
	check_result_clear(&res);

	/* Without extra files, everything is checked, the installed file's problem too. */
	CU_ASSERT_EQUAL_FATAL(check_run(conf, NULL, 0, &res), 0);
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&res.diags, "run_as \"ghost\""));
	CU_ASSERT_EQUAL(res.catalog->n, 1);
	check_result_clear(&res);

	free(cd), free(base), free(broken), free(f1), free(conf_text), free(conf);
	free(n1), free(n2), free(f2), free(newfile);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_catalog needs root (trust checks want root-owned files)\n");
		return 1;
	}
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "bad files do not hide good ones", test_bad_files_do_not_hide_good_ones },
		{ "duplicate ids: first definition wins", test_duplicate_ids_first_wins },
		{ "run_as must name an account", test_run_as_must_exist },
		{ "dependencies: missing, rejected, cycles", test_dependencies },
		{ "paths: directories, files, repeats, missing", test_paths_files_and_repeats },
		{ "check-config with extra files", test_check_with_extra_files },
		{ 0 },
	};
	int r = tu_run("catalog", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

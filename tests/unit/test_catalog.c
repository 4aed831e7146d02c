/* SPDX-License-Identifier: MIT */
/* The catalog: many files, insecure and broken ones left out with a reason, checks that
 * span files (duplicate ids, accounts, dependencies and their cycles). */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "advert/catalog.h"
#include "advert/check.h"
#include "advert/published.h"
#include "testutil.h"

static char *dir;

static const char *const account_names[] = { "swinstall", "pwinstall" };
static const struct catalog_context accounts = { account_names, 2 };

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
		"10-good.conf",
		good,
		"20-broken.conf",
		"advertisements = ( { id = ; } );\n",
		"30-insecure.conf",
		insecure,
		"40-other.conf",
		other,
		"README",
		"not a config file",
		".hidden.conf",
		"garbage",
		"50-notconf.txt",
		"garbage",
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
	char *s[8] = { ad("A", NULL, "B"), ad("B", NULL, "C"),    ad("C", NULL, "A"),
		       ad("D", NULL, "A"), ad("E", NULL, "NOPE"), ad("F", NULL, "E"),
		       ad("G", NULL, "H"), ad("H", NULL, NULL) };
	char *f1 = file_of(s[0], s[1]), *f2 = file_of(s[2], s[3]), *f3 = file_of(s[4], s[5]),
	     *f4 = file_of(s[6], s[7]);
	const char *const files[] = {
		"1.conf", f1, "2.conf", f2, "3.conf", f3, "4.conf", f4, NULL
	};
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

/* A dependency on an advertisement its own file rejected (a parse error) says where it
 * was rejected, and the rejection names its advertisement. */
static void test_dependency_on_parse_rejected(void)
{
	char *good = ad("AFTER", NULL, "BROKEN");
	char *bad_file = NULL;
	if (asprintf(&bad_file,
		     "advertisements = (\n  { id = \"BROKEN\";\n"
		     "    package = { id = \"PB\"; name = \"N\"; source = \"/srv/p\"; };\n"
		     "    program = { name = \"I\"; run_as = \"system\"; }; }\n);\n") < 0)
		abort();
	char *f1 = file_of(good, NULL);
	const char *const files[] = { "1.conf", f1, "2.conf", bad_file, NULL };
	char *d = make_dir(files);
	struct diag_list diags = { 0 };
	struct catalog *cat = load(d, &diags);
	CU_ASSERT_EQUAL(cat->n, 0);
	const struct diag *g = tu_find_diag(&diags, "\"AFTER\": depends_on \"BROKEN\" names an "
						    "advertisement that was rejected (");
	CU_ASSERT_PTR_NOT_NULL(g);
	CU_ASSERT(g && strstr(g->msg, "2.conf:4)")); /* its first error: the program group */
	const struct diag *why = diag_find_advert(&diags, "BROKEN");
	CU_ASSERT(why && strstr(why->msg, "program.command"));
	CU_ASSERT(g && g->advert && strcmp(g->advert, "AFTER") == 0);
	catalog_free(cat);
	diag_clear(&diags);
	free(good), free(bad_file), free(f1), free(d);
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

/* --- incremental reloads --------------------------------------------------------- */

/* Waits until the coarse clock (what file times come from) has moved on: every file
 * written before the call then counts as settled, and a reload may reuse it. At most a
 * clock tick. */
/* Lets what was just written become "settled" for the catalog (older than a reload by
 * its safety margin of 20 ms). */
static void settle(void)
{
	struct timespec ms = { 0, 40 * 1000 * 1000 };
	nanosleep(&ms, NULL);
}

static struct catalog *reload(const struct catalog *old, const char *path, struct diag_list *diags,
			      struct catalog_reload_stats *stats)
{
	struct catalog *cat = NULL;
	const char *paths[] = { path };
	diag_clear(diags);
	CU_ASSERT_EQUAL(catalog_reload(old, paths, 1, &accounts, &cat, diags, stats), 0);
	return cat;
}

#define CU_ASSERT_STATS(s, seen, parsed, reused, refused)                                          \
	do {                                                                                       \
		CU_ASSERT_EQUAL((s).files_seen, seen);                                             \
		CU_ASSERT_EQUAL((s).files_parsed, parsed);                                         \
		CU_ASSERT_EQUAL((s).files_reused, reused);                                         \
		CU_ASSERT_EQUAL((s).files_refused, refused);                                       \
	} while (0)

/* Replaces dir/name by rename, as a careful admin (or a sync tool) does. */
static void rename_over(const char *d, const char *name, const char *content)
{
	char *tmp = tu_write(d, "new.tmp", 0644, content), *dst = NULL;
	if (asprintf(&dst, "%s/%s", d, name) < 0 || rename(tmp, dst) < 0)
		abort();
	free(tmp), free(dst);
}

static void test_reload_reads_only_changed_files(void)
{
	char *a = ad("A", "swinstall", NULL), *b = ad("B", NULL, "A"), *c = ad("C", NULL, NULL);
	char *fa = file_of(a, NULL), *fb = file_of(b, NULL), *fc = file_of(c, NULL);
	const char *const files[] = {
		"a.conf",
		fa,
		"b.conf",
		fb,
		"c.conf",
		fc,
		/* Valid syntax, one bad advertisement: its parse and problem are reused. */
		"d.conf",
		"advertisements = ( { id = \"D\";\n  programme = 1; } );\n",
		NULL,
	};
	char *d = make_dir(files);
	char *pa = NULL, *pb = NULL, *pc = NULL;
	if (asprintf(&pa, "%s/a.conf", d) < 0 || asprintf(&pb, "%s/b.conf", d) < 0 ||
	    asprintf(&pc, "%s/c.conf", d) < 0)
		abort();
	settle();

	struct diag_list diags = { 0 };
	struct catalog_reload_stats s;
	struct catalog *c1 = reload(NULL, d, &diags, &s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_STATS(s, 4, 4, 0, 0);
	CU_ASSERT_EQUAL(c1->n, 3);

	/* Unchanged: nothing is read, the very same advertisements are reused, and the
	 * broken one is reported again. */
	struct catalog *c2 = reload(c1, d, &diags, &s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
	CU_ASSERT_STATS(s, 4, 0, 4, 0);
	CU_ASSERT_EQUAL(c2->n, 3);
	CU_ASSERT_EQUAL(c2->n_files, 4);
	CU_ASSERT_PTR_EQUAL(catalog_find(c2, "A"), catalog_find(c1, "A"));
	const struct diag *e = tu_find_diag(&diags, "unknown key");
	CU_ASSERT(e && strstr(e->file, "d.conf") && e->line == 2);
	CU_ASSERT_EQUAL(diag_count(&diags, DIAG_ERROR), 3); /* and package, program missing */
	/* The new catalog stands on its own once the old one is gone. */
	catalog_free(c1);
	CU_ASSERT_STRING_EQUAL(catalog_find(c2, "B")->program.depends_on, "A");

	/* Touched: read again. */
	CU_ASSERT_EQUAL_FATAL(utimensat(AT_FDCWD, pc, NULL, 0), 0);
	settle();
	struct catalog *c3 = reload(c2, d, &diags, &s);
	CU_ASSERT_STATS(s, 4, 1, 3, 0);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(c3, "C"));
	CU_ASSERT_PTR_NOT_EQUAL(catalog_find(c3, "C"), catalog_find(c2, "C"));
	CU_ASSERT_PTR_EQUAL(catalog_find(c3, "A"), catalog_find(c2, "A"));
	catalog_free(c2);

	/* Made writable by others, content unchanged: refused all the same, and what
	 * depended on it goes with it. */
	CU_ASSERT_EQUAL_FATAL(chmod(pa, 0666), 0);
	settle();
	struct catalog *c4 = reload(c3, d, &diags, &s);
	CU_ASSERT_STATS(s, 4, 0, 3, 1);
	CU_ASSERT_PTR_NULL(catalog_find(c4, "A"));
	CU_ASSERT_PTR_NULL(catalog_find(c4, "B"));
	e = tu_find_diag(&diags, "refusing advertisement file");
	CU_ASSERT(e && strcmp(e->file, pa) == 0 && strstr(e->msg, "mode 0666"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"B\": depends_on \"A\" names no "
						    "advertisement"));
	/* Secure again: back (chmod changed its ctime, so it is read again). */
	CU_ASSERT_EQUAL_FATAL(chmod(pa, 0644), 0);
	settle();
	struct catalog *c5 = reload(c4, d, &diags, &s);
	CU_ASSERT_STATS(s, 4, 1, 3, 0);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(c5, "A"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(c5, "B"));
	catalog_free(c3);
	catalog_free(c4);

	/* Deleted: gone. */
	CU_ASSERT_EQUAL_FATAL(unlink(pc), 0);
	struct catalog *c6 = reload(c5, d, &diags, &s);
	CU_ASSERT_STATS(s, 3, 0, 3, 0);
	CU_ASSERT_PTR_NULL(catalog_find(c6, "C"));
	CU_ASSERT_EQUAL(c6->n, 2);
	CU_ASSERT_EQUAL(c6->n_files, 3);
	catalog_free(c5);

	/* Replaced by rename with new content of the very same size: read again. */
	char *a2 = ad("Z", "swinstall", NULL), *fa2 = file_of(a2, NULL);
	CU_ASSERT_EQUAL(strlen(fa2), strlen(fa));
	rename_over(d, "a.conf", fa2);
	settle();
	struct catalog *c7 = reload(c6, d, &diags, &s);
	CU_ASSERT_STATS(s, 3, 1, 2, 0);
	CU_ASSERT_PTR_NULL(catalog_find(c7, "A"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(c7, "Z"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"B\": depends_on \"A\" names no "
						    "advertisement"));
	catalog_free(c6);

	/* New file: read; and the validation spans old and new files. */
	char *y = ad("Y", NULL, "Z"), *fy = file_of(y, NULL);
	free(tu_write(d, "y.conf", 0644, fy));
	settle();
	struct catalog *c8 = reload(c7, d, &diags, &s);
	CU_ASSERT_STATS(s, 4, 1, 3, 0);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(c8, "Y"));
	catalog_free(c7);

	/* The directory turned insecure: everything refused at once. */
	CU_ASSERT_EQUAL_FATAL(chmod(d, 0777), 0);
	struct catalog *c9 = reload(c8, d, &diags, &s);
	CU_ASSERT_STATS(s, 0, 0, 0, 0);
	CU_ASSERT_EQUAL(c9->n, 0);
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "refusing advertisement directory"));
	CU_ASSERT_EQUAL_FATAL(chmod(d, 0755), 0);
	catalog_free(c8);
	catalog_free(c9);

	diag_clear(&diags);
	free(a), free(b), free(c), free(fa), free(fb), free(fc), free(a2), free(fa2);
	free(y), free(fy), free(pa), free(pb), free(pc), free(d);
}

/* A file that fails to parse is not parsed again until it changes (its problems are
 * reported again all the same); a file with @include is refused, and its
 * advertisements are not in the catalog: the included file is never read. */
static void test_reload_rereads_unparsable_and_including_files(void)
{
	char *inc_dir = NULL;
	if (asprintf(&inc_dir, "%s/inc", dir) < 0 || mkdir(inc_dir, 0755) < 0)
		abort();
	char *x = ad("X", NULL, NULL), *fx = file_of(x, NULL);
	char *inc = tu_write(inc_dir, "x.inc", 0644, fx);
	char *main_text = NULL;
	if (asprintf(&main_text, "@include \"%s\"\n", inc) < 0)
		abort();
	char *y = ad("Y", NULL, NULL), *fy = file_of(y, NULL);
	const char *const files[] = {
		"broken.conf", "advertisements = ( { id = ; } );\n",
		"main.conf",   main_text,
		"y.conf",      fy,
		NULL,
	};
	char *d = make_dir(files);
	settle();
	struct diag_list diags = { 0 };
	struct catalog_reload_stats s;
	struct catalog *c1 = reload(NULL, d, &diags, &s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_PTR_NULL(catalog_find(c1, "X"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(c1, "Y"));
	const struct diag *e = tu_find_diag(&diags, "@include is not supported");
	CU_ASSERT(e && strstr(e->file, "main.conf") && e->line == 1);
	e = tu_find_diag(&diags, "syntax error");
	CU_ASSERT(e && strstr(e->file, "broken.conf") && e->line == 1);
	diag_clear(&diags);

	/* Nothing changed: nothing is parsed again, and the problems are still reported. */
	struct catalog *c2 = reload(c1, d, &diags, &s);
	CU_ASSERT_STATS(s, 3, 0, 3, 0);
	CU_ASSERT_PTR_NULL(catalog_find(c2, "X"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "@include is not supported"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "syntax error"));
	diag_clear(&diags);
	/* Fixed: read again. */
	char *bpath = NULL;
	if (asprintf(&bpath, "%s/broken.conf", d) < 0)
		abort();
	free(tu_write(d, "broken.conf", 0644, fx));
	settle();
	struct catalog *c3 = reload(c2, d, &diags, &s);
	CU_ASSERT_STATS(s, 3, 1, 2, 0);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(c3, "X"));
	catalog_free(c1), catalog_free(c2), catalog_free(c3);
	diag_clear(&diags);
	free(bpath);
	free(x), free(fx), free(inc), free(main_text), free(y), free(fy), free(d), free(inc_dir);
}

/* Long dependency chains: one pass each, however deep (the checks are O(n log n)). */
static void test_long_dependency_chains(void)
{
	enum { N = 3000 };
	size_t cap = (size_t)N * 3 * 240 + 4096, len = 0;
	char *text = malloc(cap), *cd = NULL;
	if (!text || asprintf(&cd, "%s/chains", dir) < 0 || mkdir(cd, 0755) < 0)
		abort();
	len += (size_t)snprintf(text + len, cap - len, "advertisements = (\n");
	for (int i = 0; i < N; i++) {
		/* G0 <- G1 <- ... fine; M0 (missing) <- M1 <- ...; the R chain leads into the
		 * cycle R0 -> R1 -> R2 -> R0 but is not part of it. */
		char id[3][16], dep[3][16];
		snprintf(id[0], 16, "G%d", i), snprintf(dep[0], 16, "G%d", i - 1);
		snprintf(id[1], 16, "M%d", i), snprintf(dep[1], 16, i ? "M%d" : "NOPE", i - 1);
		snprintf(id[2], 16, "R%d", i),
			snprintf(dep[2], 16, "R%d", i < 3 ? (i + 2) % 3 : i - 1);
		for (int k = 0; k < 3; k++) {
			char *one = ad(id[k], NULL, k == 0 && i == 0 ? NULL : dep[k]);
			len += (size_t)snprintf(text + len, cap - len, "%s%s\n", one,
						i == N - 1 && k == 2 ? "" : ",");
			free(one);
		}
	}
	snprintf(text + len, cap - len, ");\n");
	free(tu_write(cd, "chains.conf", 0644, text));
	struct diag_list diags = { 0 };
	struct catalog *cat = load(cd, &diags);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cat);
	CU_ASSERT_EQUAL(cat->n, N);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "G2999"));
	CU_ASSERT_PTR_NULL(catalog_find(cat, "M0"));
	CU_ASSERT_PTR_NULL(catalog_find(cat, "R2999"));
	CU_ASSERT_EQUAL(diag_count(&diags, DIAG_ERROR), 2 * N);
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"R0\": depends_on \"R2\" forms a cycle"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"R2\": depends_on \"R1\" forms a cycle"));
	CU_ASSERT_PTR_NULL(tu_find_diag(&diags, "\"R3\": depends_on \"R2\" forms a cycle"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"R3\": depends_on \"R2\" names an "
						    "advertisement that was rejected"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"M0\": depends_on \"NOPE\" names no"));
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "\"M2999\": depends_on \"M2998\" names an "
						    "advertisement that was rejected"));
	catalog_free(cat);
	diag_clear(&diags);
	free(text), free(cd);
}

/* An ldap:/// path gives the published set's entries, each named by its DN; a broken
 * entry is named with its line and hides nothing; targets leave out what is for other
 * hosts before the checks across files, so one id may have a variant per group. */
static void test_published_and_targets(void)
{
	const char *url = "ldap:///ou=advertisements,dc=example,dc=test";
	char *p1 = ad("P1", NULL, NULL), *p2 = ad("P2", NULL, "P1");
	char *mine = NULL, *other = NULL, *local = NULL;
	if (asprintf(
		    &mine,
		    "advertisements = ( { id = \"V\"; targets = [ \"lab\" ];\n"
		    "  package = { id = \"PV\"; name = \"N\"; source = \"/srv/p\"; };\n"
		    "  program = { name = \"mine\"; command = [ \"x\" ]; run_as = \"system\"; }; } );\n") <
		    0 ||
	    asprintf(
		    &other,
		    "advertisements = ( { id = \"V\"; targets = [ \"ws2.example.test\" ];\n"
		    "  package = { id = \"PV\"; name = \"N\"; source = \"/srv/p\"; };\n"
		    "  program = { name = \"other\"; command = [ \"x\" ]; run_as = \"system\"; }; } );\n") <
		    0 ||
	    asprintf(
		    &local,
		    "advertisements = ( { id = \"L\"; targets = [ \"cn=lab,ou=g,dc=test\" ];\n"
		    "  package = { id = \"PL\"; name = \"N\"; source = \"/srv/p\"; };\n"
		    "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\"; }; } );\n") <
		    0)
		abort();
	char *good = file_of(p1, p2);
	char *groups[] = { (char *)"cn=lab,ou=g,dc=test", NULL };
	struct published_entry items[] = {
		{ (char *)url, (char *)"cn=a,ou=advertisements,dc=example,dc=test", (char *)"1",
		  good },
		{ (char *)url, (char *)"cn=b,ou=advertisements,dc=example,dc=test", (char *)"2",
		  (char *)"advertisements = (\n  { id = \"B\" \n);\n" },
		{ (char *)url, (char *)"cn=c,ou=advertisements,dc=example,dc=test", (char *)"3",
		  other },
		{ (char *)url, (char *)"cn=d,ou=advertisements,dc=example,dc=test", (char *)"4",
		  mine },
		{ (char *)"ldap:///ou=elsewhere,dc=test", (char *)"cn=e,ou=elsewhere,dc=test",
		  (char *)"5", (char *)"garbage" },
	};
	struct published_set pub = { .host = (char *)"ws1.example.test",
				     .groups_known = true,
				     .groups = groups,
				     .n_groups = 1,
				     .items = items,
				     .n = 5 };
	const char *files[] = { "local.conf", local, NULL };
	char *d = make_dir(files);
	const char *paths[] = { url, d };
	struct catalog_context ctx = { account_names, 2, &pub };
	struct catalog *cat = NULL;
	struct diag_list diags = { 0 };
	CU_ASSERT_EQUAL_FATAL(catalog_load(paths, 2, &ctx, &cat, &diags), 0);
	CU_ASSERT_EQUAL(cat->n, 4);
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "P1"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "P2"));
	CU_ASSERT_PTR_NOT_NULL(catalog_find(cat, "L"));
	const struct advert *v = catalog_find(cat, "V");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v->program.name, "mine");
	CU_ASSERT_STRING_EQUAL(v->file, "ldap:///cn=d,ou=advertisements,dc=example,dc=test");
	CU_ASSERT_EQUAL(cat->n_untargeted, 1);
	CU_ASSERT_PTR_NOT_NULL(catalog_find_untargeted(cat, "V"));
	CU_ASSERT_EQUAL(diag_count(&diags, DIAG_ERROR), 1);
	const struct diag *g = tu_find_diag(&diags, "syntax error");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_STRING_EQUAL(g->file, "ldap:///cn=b,ou=advertisements,dc=example,dc=test");
	CU_ASSERT_EQUAL(g->line, 3);
	catalog_free(cat);
	diag_clear(&diags);

	/* Without the directory's word on groups, a group target is no target. */
	pub.groups_known = false;
	CU_ASSERT_EQUAL_FATAL(catalog_load(paths, 2, &ctx, &cat, &diags), 0);
	CU_ASSERT_PTR_NULL(catalog_find(cat, "L"));
	CU_ASSERT_PTR_NULL(catalog_find(cat, "V"));
	CU_ASSERT_EQUAL(cat->n_untargeted, 3);
	catalog_free(cat);
	diag_clear(&diags);
	free(d);
	free(good), free(p1), free(p2), free(mine), free(other), free(local);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr,
			"test_catalog: skipped, it needs root (trust checks want root-owned files)\n");
		return 77; /* automake's "skipped": CI runs it as root */
	}
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "a dependency on a parse-rejected advertisement",
		  test_dependency_on_parse_rejected },
		{ "bad files do not hide good ones", test_bad_files_do_not_hide_good_ones },
		{ "duplicate ids: first definition wins", test_duplicate_ids_first_wins },
		{ "run_as must name an account", test_run_as_must_exist },
		{ "dependencies: missing, rejected, cycles", test_dependencies },
		{ "paths: directories, files, repeats, missing", test_paths_files_and_repeats },
		{ "check-config with extra files", test_check_with_extra_files },
		{ "reload: only changed files are read", test_reload_reads_only_changed_files },
		{ "reload: unparsable and including files are read every time",
		  test_reload_rereads_unparsable_and_including_files },
		{ "dependencies: long chains", test_long_dependency_chains },
		{ "published entries and targets", test_published_and_targets },
		{ 0 },
	};
	int r = tu_run_as_root("catalog", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

/* SPDX-License-Identifier: MIT */
/* Advertisement files: every field of a full advertisement, defaults, and a table of
 * malformed inputs, each with the line and message an admin must see. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "advert/advert.h"
#include "advert/cfgread.h"
#include "testutil.h"

static char *dir;

struct parsed {
	struct advert **items;
	size_t n;
	struct diag_list diags;
	int r;
};

static void parse(const char *content, struct parsed *p)
{
	*p = (struct parsed){ 0 };
	char *f = tu_write(dir, "ad.conf", 0644, content);
	p->r = advert_parse_file(f, &p->items, &p->n, &p->diags);
	free(f);
}

static void parsed_clear(struct parsed *p)
{
	for (size_t i = 0; i < p->n; i++)
		advert_free(p->items[i]);
	free(p->items);
	diag_clear(&p->diags);
}

static void test_full(void)
{
	struct parsed p;
	parse("advertisements = (\n"
	      "  {\n"
	      "    id      = \"LAB00001\";\n"
	      "    package = { id = \"LAB00002\"; name = \"Editor\"; version = \"2.1\";\n"
	      "                source = \"/srv/dp/editor-2.1\"; };\n"
	      "    program = {\n"
	      "      name          = \"Install\";\n"
	      "      command       = [ \"./install.sh\", \"--quiet\" ];\n"
	      "      working_dir   = \"/srv/dp\";\n"
	      "      run_as        = \"swinstall\";\n"
	      "      max_runtime   = 1800;\n"
	      "      success_codes = [ 0, 2 ];\n"
	      "      reboot_codes  = [ 194 ];\n"
	      "      environment   = { LANG = \"C.UTF-8\"; DEBUG = \"1\"; };\n"
	      "      requirements  = { platforms = [ \"x86_64\", \"aarch64\" ]; min_free_mb = 100; };\n"
	      "      depends_on    = \"LAB00003\";\n"
	      "    };\n"
	      "    schedule = { start = \"2026-11-22T10:00:00Z\"; expires = "
	      "\"2027-01-01T00:00:00Z\";\n"
	      "                 recur = 86400; };\n"
	      "    rerun    = \"if-failed\";\n"
	      "    enabled  = false;\n"
	      "  }\n"
	      ");\n",
	      &p);
	CU_ASSERT_EQUAL(p.r, 0);
	CU_ASSERT_EQUAL(p.diags.n, 0);
	CU_ASSERT_EQUAL_FATAL(p.n, 1);
	const struct advert *a = p.items[0];
	CU_ASSERT_STRING_EQUAL(a->id, "LAB00001");
	CU_ASSERT_EQUAL(a->line, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(a->file, "ad.conf"));
	CU_ASSERT_STRING_EQUAL(a->package.id, "LAB00002");
	CU_ASSERT_STRING_EQUAL(a->package.name, "Editor");
	CU_ASSERT_STRING_EQUAL(a->package.version, "2.1");
	CU_ASSERT_STRING_EQUAL(a->package.source, "/srv/dp/editor-2.1");
	CU_ASSERT_STRING_EQUAL(a->program.name, "Install");
	CU_ASSERT_STRING_EQUAL(a->program.command[0], "./install.sh");
	CU_ASSERT_STRING_EQUAL(a->program.command[1], "--quiet");
	CU_ASSERT_PTR_NULL(a->program.command[2]);
	CU_ASSERT_STRING_EQUAL(a->program.working_dir, "/srv/dp");
	CU_ASSERT_STRING_EQUAL(a->program.run_as, "swinstall");
	CU_ASSERT_EQUAL(a->program.max_runtime, 1800);
	CU_ASSERT_EQUAL(a->program.n_success_codes, 2);
	CU_ASSERT_EQUAL(a->program.success_codes[1], 2);
	CU_ASSERT_EQUAL(a->program.n_reboot_codes, 1);
	CU_ASSERT_EQUAL(a->program.reboot_codes[0], 194);
	CU_ASSERT_STRING_EQUAL(a->program.environment[0], "LANG=C.UTF-8");
	CU_ASSERT_STRING_EQUAL(a->program.environment[1], "DEBUG=1");
	CU_ASSERT_PTR_NULL(a->program.environment[2]);
	CU_ASSERT_STRING_EQUAL(a->program.platforms[1], "aarch64");
	CU_ASSERT_EQUAL(a->program.min_free_mb, 100);
	CU_ASSERT_STRING_EQUAL(a->program.depends_on, "LAB00003");
	CU_ASSERT(a->schedule.has_start);
	CU_ASSERT_EQUAL(a->schedule.start, 1795341600);
	CU_ASSERT(a->schedule.has_expires);
	CU_ASSERT_EQUAL(a->schedule.expires, 1798761600);
	CU_ASSERT_EQUAL(a->schedule.recur, 86400);
	CU_ASSERT_EQUAL(a->rerun, ADV_RERUN_IF_FAILED);
	CU_ASSERT_FALSE(a->enabled);
	parsed_clear(&p);
}

static void test_defaults(void)
{
	struct parsed p;
	parse("advertisements = ( { id = \"A\";\n"
	      "  package = { id = \"P\"; name = \"N\"; source = \"/srv/p\"; };\n"
	      "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	      "              working_dir = \"\"; }; } );\n",
	      &p);
	CU_ASSERT_EQUAL(p.diags.n, 0);
	CU_ASSERT_EQUAL_FATAL(p.n, 1);
	const struct advert *a = p.items[0];
	CU_ASSERT_PTR_NULL(a->package.version);
	CU_ASSERT_PTR_NULL(a->program.working_dir); /* "" means the package source */
	CU_ASSERT_EQUAL(a->program.max_runtime, 3600);
	CU_ASSERT_EQUAL(a->program.n_success_codes, 1);
	CU_ASSERT_EQUAL(a->program.success_codes[0], 0);
	CU_ASSERT_EQUAL(a->program.n_reboot_codes, 0);
	CU_ASSERT_PTR_NULL(a->program.environment[0]);
	CU_ASSERT_PTR_NULL(a->program.platforms[0]);
	CU_ASSERT_EQUAL(a->program.min_free_mb, 0);
	CU_ASSERT_PTR_NULL(a->program.depends_on);
	CU_ASSERT_FALSE(a->schedule.has_start);
	CU_ASSERT_FALSE(a->schedule.has_expires);
	CU_ASSERT_EQUAL(a->schedule.recur, 0);
	CU_ASSERT_EQUAL(a->rerun, ADV_RERUN_NEVER);
	CU_ASSERT_EQUAL(a->program.rights, ADV_RIGHTS_ACCOUNT);
	CU_ASSERT_EQUAL(a->program.after_run, ADV_AFTER_NOTHING);
	CU_ASSERT_EQUAL(a->program.when, ADV_WHEN_ANY);
	CU_ASSERT(a->program.wait_for_restart);
	CU_ASSERT(a->enabled);
	parsed_clear(&p);
}

static void test_warnings_do_not_reject(void)
{
	struct parsed p;
	parse("advertisements = ( { id = \"A\";\n"
	      "  package = { id = \"P\"; name = \"N\"; source = \"/srv/p\"; };\n"
	      "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	      "              reboot_codes = [ 3010 ]; };\n"
	      "  schedule = { recur = 3600; }; } );\n",
	      &p);
	CU_ASSERT_EQUAL(p.n, 1);
	CU_ASSERT_EQUAL(diag_count(&p.diags, DIAG_ERROR), 0);
	CU_ASSERT_EQUAL(diag_count(&p.diags, DIAG_WARNING), 2);
	const struct diag *d = tu_find_diag(&p.diags, "3010");
	CU_ASSERT(d && d->line == 4 && strstr(d->msg, "exit codes are 0 to 255"));
	d = tu_find_diag(&p.diags, "will run once at most");
	CU_ASSERT(d && d->line == 5);
	parsed_clear(&p);
}

/* The malformed-input table. The bad advertisement comes first, a good one after it;
 * MARK ends the line the error must point at. */
#define MARK " #<"
#define PKG  "  package = { id = \"P\"; name = \"N\"; source = \"/srv/p\"; };\n"
#define PROG "  program = { name = \"I\"; command = [ \"/bin/true\" ]; run_as = \"system\"; };\n"
#define GOOD "  { id = \"GOOD\";\n" PKG PROG "  }\n"

static const struct {
	const char *first; /* the bad advertisement's body, or a whole file when whole */
	const char *msg;   /* must appear in the error */
	bool whole;        /* the file as is, no good advertisement after it */
	int line;          /* when not marked: a missing key is reported at its group */
} malformed[] = {
	/* syntax and file shape */
	{ "advertisements = ( { id = ; } );" MARK "\n", "syntax error", true },
	{ "advertisements = (\n  { id = \"A\"; },," MARK "\n);\n", "syntax error", true },
	{ "programs = ();" MARK "\n", "unknown key \"programs\"", true },
	{ "", "missing required key \"advertisements\"", true }, /* no line: the file */
	{ "advertisements = { a = 1; };" MARK "\n", "must be a list", true },
	{ "advertisements = ( 1" MARK "\n);\n", "element 0 must be a group", true },
	/* ids */
	{ "  package = { id = \"P\"; name = \"N\"; source = \"/srv/p\"; };\n" PROG,
	  "missing required key \"id\"", false, 2 },
	{ "  id = \"../etc\";" MARK "\n" PKG PROG, "\"id\" is \"../etc\", expected", false },
	{ "  id = \""
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	  "\";" MARK "\n" PKG PROG,
	  "expected 1 to 64", false },
	{ "  id = 7;" MARK "\n" PKG PROG, "\"id\" must be a string, not an integer", false },
	{ "  id = \"A\"; rerunn = \"never\";" MARK "\n" PKG PROG,
	  "unknown key \"rerunn\" (did you mean \"rerun\"?)", false },
	/* package */
	{ "  id = \"A\";\n" PROG, "missing required key \"package\"", false, 2 },
	{ "  id = \"A\";\n  package = \"P\";" MARK "\n" PROG, "\"package\" must be a group",
	  false },
	{ "  id = \"A\";\n  package = { id = \"P\"; name = \"N\"; source = \"srv/p\"; };" MARK
	  "\n" PROG,
	  "\"package.source\" is \"srv/p\", expected an absolute path", false },
	{ "  id = \"A\";\n  package = { id = \"P\"; name = \"\"; source = \"/p\"; };" MARK
	  "\n" PROG,
	  "\"package.name\" must not be empty", false },
	{ "  id = \"A\";\n  package = { id = \"P\"; name = \"N\"; source = \"/p\"; vers = \"1\"; };" MARK
	  "\n" PROG,
	  "unknown key \"package.vers\"", false },
	{ "  id = \"A\";\n  package = { id = \"P\"; name = \"N\"; };" MARK "\n" PROG,
	  "missing required key \"package.source\"", false },
	/* program */
	{ "  id = \"A\";\n" PKG "  program = { name = \"I\"; run_as = \"system\"; };" MARK "\n",
	  "missing required key \"program.command\"", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; comand = [ \"x\" ]; run_as = \"system\"; };" MARK "\n",
	  "unknown key \"program.comand\" (did you mean \"command\"?)", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ ]; run_as = \"system\"; };" MARK "\n",
	  "\"program.command\" must not be empty", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = \"/bin/true\"; run_as = \"x\"; };" MARK "\n",
	  "\"program.command\" must be an array of strings, not a string", false },
	{ "  id = \"A\";\n" PKG "  program = { name = \"I\"; command = ( \"x\", 1 );" MARK
	  "\n run_as = \"system\"; };\n",
	  "\"program.command\" element 1 must be a string", false },
	{ "  id = \"A\";\n" PKG "  program = { name = \"I\"; command = [ \"\" ];" MARK
	  "\n run_as = \"system\"; };\n",
	  "\"program.command\" element 0 must not be empty", false },
	{ "  id = \"A\";\n" PKG "  program = { name = \"I\"; command = [ \"x\" ]; };" MARK "\n",
	  "missing required key \"program.run_as\"", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"\"; };" MARK "\n",
	  "\"program.run_as\" must not be empty", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"sw\";\n"
	  "              rights = \"root\"; };" MARK "\n",
	  "\"program.rights\" is \"root\", expected \"account\" or \"admin\"", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "              rights = \"admin\"; };" MARK "\n",
	  "admin rights are for an installation account", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"sw\";\n"
	  "              after_run = \"reboot\"; };" MARK "\n",
	  "\"program.after_run\" is \"reboot\", expected \"nothing\" or \"restart\"", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"sw\";\n"
	  "              when = \"nobody\"; };" MARK "\n",
	  "\"program.when\" is \"nobody\", expected \"any\", \"no-user\" or \"user\"", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"sw\"; max_runtime = 7200; };\n"
	  "  schedule = { windows = ( { days = [ \"sat\" ]; start = \"22:00\"; duration = 3600; } ); };" MARK
	  "\n",
	  "program.max_runtime (7200 s) fits in no maintenance window", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"sw\"; };\n"
	  "  schedule = { windows = ( { days = [ \"saturday\" ]; start = \"22:00\"; duration = 3600; } ); };" MARK
	  "\n",
	  "lists \"saturday\", expected sun, mon, tue, wed, thu, fri or sat", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"sw\"; };\n"
	  "  schedule = { windows = ( { days = [ \"sat\" ]; start = \"10pm\"; duration = 3600; } ); };" MARK
	  "\n",
	  "\"schedule.windows[0].start\" is \"10pm\", expected local time as HH:MM", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    max_runtime = 0; };" MARK "\n",
	  "\"program.max_runtime\" is 0, expected 1 to 604800", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    max_runtime = \"1h\"; };" MARK "\n",
	  "\"program.max_runtime\" must be an integer, not a string", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    max_runtime = 99999999; };" MARK "\n",
	  "expected 1 to 604800", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    success_codes = 0; };" MARK "\n",
	  "\"program.success_codes\" must be an array of integers", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    success_codes = [ -1 ]; };" MARK "\n",
	  "\"program.success_codes\" element 0 is -1, expected 0 to 65535", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    success_codes = [ 0, 3 ]; reboot_codes = [ 3 ]; };" MARK "\n",
	  "exit code 3 is in both", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    working_dir = \"tmp\"; };" MARK "\n",
	  "\"program.working_dir\" is \"tmp\", expected an absolute path", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    environment = [ \"A=1\" ]; };" MARK "\n",
	  "\"program.environment\" must be a group", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    environment = { ADVERT_ID = \"x\"; }; };" MARK "\n",
	  "ADVERT_ID is set by advertd for each run", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    environment = { KRB5CCNAME = \"FILE:/tmp/x\"; }; };" MARK "\n",
	  "KRB5CCNAME is set by advertd", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    environment = { DEBUG = 1; }; };" MARK "\n",
	  "\"program.environment.DEBUG\" must be a string", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    environment = { A-B = \"1\"; }; };" MARK "\n",
	  "not a valid variable name", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    requirements = { platforms = \"x86_64\"; }; };" MARK "\n",
	  "\"program.requirements.platforms\" must be an array of strings", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    requirements = { min_free_mb = -5; }; };" MARK "\n",
	  "\"program.requirements.min_free_mb\" is -5", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    requirements = { platform = [ \"x86_64\" ]; }; };" MARK "\n",
	  "unknown key \"program.requirements.platform\" (did you mean \"platforms\"?)", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"system\";\n"
	  "    depends_on = \"A\"; };" MARK "\n",
	  "names the advertisement itself", false },
	/* schedule, rerun, enabled */
	{ "  id = \"A\";\n" PKG PROG "  schedule = { start = \"2026-11-22 10:00\"; };" MARK "\n",
	  "\"schedule.start\" is \"2026-11-22 10:00\", expected an RFC 3339 time", false },
	{ "  id = \"A\";\n" PKG PROG "  schedule = { start = \"2026-11-22T10:00:00Z\";\n"
	  "    expires = \"2026-11-01T00:00:00Z\"; };" MARK "\n",
	  "\"schedule.expires\" is not after \"schedule.start\"", false },
	{ "  id = \"A\";\n" PKG PROG "  schedule = { recur = 30; };" MARK "\n",
	  "\"schedule.recur\" is 30, expected 0 (once) or at least 60 seconds", false },
	{ "  id = \"A\";\n" PKG PROG "  schedule = { recurr = 3600; };" MARK "\n",
	  "unknown key \"schedule.recurr\" (did you mean \"recur\"?)", false },
	{ "  id = \"A\";\n" PKG PROG "  rerun = \"sometimes\";" MARK "\n",
	  "\"rerun\" is \"sometimes\", expected \"never\"", false },
	{ "  id = \"A\";\n" PKG PROG "  enabled = \"yes\";" MARK "\n",
	  "\"enabled\" must be true or false, not a string", false },
	/* An empty success list would make every run a failure. */
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"/bin/true\" ]; run_as = \"system\";\n"
	  "    success_codes = [ ]; };" MARK "\n",
	  "\"program.success_codes\" is empty", false },
	/* Names that are not UTF-8 would reach syslog and JSON raw. */
	{ "  id = \"A\";\n  package = { id = \"P\"; name = \"N\\xc3\"; source = \"/srv/p\"; };" MARK
	  "\n" PROG,
	  "\"package.name\" is not valid UTF-8 (byte 2, 0xc3)", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"\xed\xa0\x80\"; command = [ \"/bin/true\" ]; run_as = \"system\"; };" MARK
	  "\n",
	  "\"program.name\" is not valid UTF-8 (byte 1, 0xed)", false },
	{ "  id = \"A\";\n" PKG
	  "  program = { name = \"I\"; command = [ \"/bin/\xc0\xaf\" ]; run_as = \"system\"; };" MARK
	  "\n",
	  "\"program.command\" is not valid UTF-8 (byte 6, 0xc0)", false },
};

static int marked_line(const char *content)
{
	const char *m = strstr(content, MARK);
	if (!m)
		return 0;
	int line = 1;
	for (const char *p = content; m && p < m; p++)
		line += *p == '\n';
	return line;
}

/* An invalid rerun is one error, not also a "recurs but never" warning. */
static void test_invalid_rerun_alone(void)
{
	struct parsed p;
	parse("advertisements = ( { id = \"A\";\n"
	      "  package = { id = \"P\"; name = \"N\"; source = \"/srv/p\"; };\n"
	      "  program = { name = \"I\"; command = [ \"x\" ]; run_as = \"sw\"; };\n"
	      "  schedule = { recur = 3600; }; rerun = \"sometimes\"; } );\n",
	      &p);
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&p.diags, "\"rerun\" is \"sometimes\""));
	CU_ASSERT_PTR_NULL(tu_find_diag(&p.diags, "recurs but"));
	parsed_clear(&p);
}

/* The digest follows the definition, not the file: reformatted and moved, the same;
 * one setting changed, different. */
static void test_digest(void)
{
	const char *base =
		"advertisements = ( { id = \"A\";\n"
		"  package = { id = \"P\"; name = \"N\"; source = \"/srv/p\"; };\n"
		"  program = { name = \"I\"; command = [ \"x\", \"y\" ]; run_as = \"sw\"; };"
		" } );\n";
	const char *moved = "# a comment first\n\nadvertisements = (\n  {\n    id = \"A\";\n"
			    "    program = { run_as = \"sw\"; command = [ \"x\", \"y\" ];\n"
			    "                name = \"I\"; };\n"
			    "    package = { source = \"/srv/p\"; name = \"N\"; id = \"P\"; };\n"
			    "  }\n);\n";
	const char *changed =
		"advertisements = ( { id = \"A\";\n"
		"  package = { id = \"P\"; name = \"N\"; source = \"/srv/p\"; };\n"
		"  program = { name = \"I\"; command = [ \"xy\" ]; run_as = \"sw\"; };"
		" } );\n";
	struct parsed p1, p2, p3;
	parse(base, &p1);
	parse(moved, &p2);
	parse(changed, &p3);
	CU_ASSERT_EQUAL_FATAL(p1.n + p2.n + p3.n, 3);
	CU_ASSERT_EQUAL(advert_digest(p1.items[0]), advert_digest(p2.items[0]));
	CU_ASSERT_NOT_EQUAL(advert_digest(p1.items[0]), advert_digest(p3.items[0]));
	parsed_clear(&p1);
	parsed_clear(&p2);
	parsed_clear(&p3);
}

static void test_malformed_table(void)
{
	size_t n = sizeof(malformed) / sizeof(malformed[0]);
	CU_ASSERT(n >= 30);
	for (size_t i = 0; i < n; i++) {
		char *content = NULL;
		if (malformed[i].whole)
			content = strdup(malformed[i].first);
		else if (asprintf(&content, "advertisements = (\n  {\n%s  },\n%s);\n",
				  malformed[i].first, GOOD) < 0)
			content = NULL;
		CU_ASSERT_PTR_NOT_NULL_FATAL(content);

		struct parsed p;
		parse(content, &p);
		const struct diag *d = tu_find_diag(&p.diags, malformed[i].msg);
		int want_line = malformed[i].line ? malformed[i].line : marked_line(content);
		bool ok = d && d->level == DIAG_ERROR && d->line == want_line && d->file &&
			  strstr(d->file, "ad.conf");
		/* The good advertisement after the bad one always survives. */
		if (!malformed[i].whole)
			ok = ok && p.n == 1 && strcmp(p.items[0]->id, "GOOD") == 0;
		else
			ok = ok && p.n == 0;
		if (!ok) {
			fprintf(stderr,
				"\ncase %zu: want line %d \"%s\"; got %zu advertisement(s):\n", i,
				want_line, malformed[i].msg, p.n);
			tu_dump_diags(&p.diags);
		}
		CU_ASSERT(ok);
		parsed_clear(&p);
		free(content);
	}
}

static void test_unreadable_file(void)
{
	struct advert **items = NULL;
	size_t n = 0;
	struct diag_list diags = { 0 };
	CU_ASSERT(advert_parse_file("/nonexistent/x.conf", &items, &n, &diags) < 0);
	CU_ASSERT_PTR_NOT_NULL(tu_find_diag(&diags, "cannot read the file"));
	CU_ASSERT_EQUAL(n, 0);
	diag_clear(&diags);
}

/* The reported attack: a user's 0666 file included as the value of run_as or inside
 * command ran as root with argv of that user's choosing. Both forms are refused before
 * libconfig reads a byte of the included file, and no advertisement of the file stays. */
static void test_include_in_a_value(void)
{
	char *evil = tu_write(dir, "evil.inc", 0666, "\"system\"");
	char *argv = tu_write(dir, "argv.inc", 0666, "\"/bin/sh\", \"-c\", \"id\"");
	char *text = NULL;
	CU_ASSERT_FATAL(asprintf(&text,
				 "advertisements = ( { id = \"A1\";\n"
				 "  package = { name = \"P\"; source = \"/srv\"; };\n"
				 "  program = { name = \"I\"; command = [\n@include \"%s\"\n];\n"
				 "    run_as =\n@include \"%s\"\n; }; } );\n",
				 argv, evil) > 0);
	struct parsed p;
	parse(text, &p);
	CU_ASSERT(p.r < 0);
	CU_ASSERT_EQUAL(p.n, 0);
	const struct diag *d = tu_find_diag(&p.diags, "@include is not supported");
	CU_ASSERT(d && d->line == 4);
	parsed_clear(&p);
	free(text), free(evil), free(argv);
}

static void test_id_rules(void)
{
	CU_ASSERT(advert_id_valid("LAB00001"));
	CU_ASSERT(advert_id_valid("a.b_c-d"));
	CU_ASSERT_FALSE(advert_id_valid(""));
	CU_ASSERT_FALSE(advert_id_valid(".hidden"));
	CU_ASSERT_FALSE(advert_id_valid("-x"));
	CU_ASSERT_FALSE(advert_id_valid("a/b"));
	CU_ASSERT_FALSE(advert_id_valid("a b"));
}

int main(void)
{
	dir = tu_mkdtemp();
	static const struct tu_test tests[] = {
		{ "an invalid rerun alone", test_invalid_rerun_alone },
		{ "the digest follows the definition", test_digest },
		{ "every field of a full advertisement", test_full },
		{ "defaults", test_defaults },
		{ "warnings keep the advertisement", test_warnings_do_not_reject },
		{ "malformed inputs: file, line, message; others survive", test_malformed_table },
		{ "unreadable file", test_unreadable_file },
		{ "id rules", test_id_rules },
		{ "@include in a value or an array is refused", test_include_in_a_value },
		{ 0 },
	};
	int r = tu_run_as_root("advert", tests);
	tu_rmtree(dir);
	free(dir);
	return r;
}

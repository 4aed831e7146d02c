/* SPDX-License-Identifier: MIT */
/* advertd: the service that runs advertised programs under a software installation
 * account. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

#include "advert/check.h"
#include "advert/log.h"
#include "daemon.h"
#include "testid.h"

enum { OPT_ONCE = 256, OPT_DRY_RUN, OPT_CHECK, OPT_TEST_IDENTITY };

/* Whatever the parent left us: fds 0-2 open (else the first file we open becomes stderr,
 * and a warning lands in the run history), every signal at its default and none blocked
 * (an inherited SIGCHLD "ignore" makes children vanish unreaped: waitid then spins). */
static void sanitize_process(void)
{
	int fd;
	while ((fd = open("/dev/null", O_RDWR | O_NOCTTY)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: advertd [-f] [-c FILE] [--once [--dry-run]] [--check]\n"
		"               [--test-identity ACCOUNT]\n"
		"  -f, --foreground         stay in the foreground, log to stderr\n"
		"  -c, --config FILE        the configuration, default\n"
		"                           %s\n"
		"      --once               run what is due now, wait for it, exit\n"
		"      --dry-run            say what --once would run, as whom, and why not the\n"
		"                           others; touches no DC, history or program\n"
		"      --check              validate the configuration and advertisements, exit\n"
		"      --test-identity ACCT impersonate ACCT, look it up, print it, revert\n"
		"  -h, --help               this text\n"
		"  -V, --version            print the version\n"
		"\n"
		"Exit status: 0 ok, 1 an error (configuration, start, a run that failed with\n"
		"--once), 2 usage; --test-identity: see advertd(8).\n",
		ADV_DEFAULT_CONFIG);
}

/* Prints every problem and a summary; the exit status says whether any was an error. */
static int run_check(const char *config_path)
{
	struct check_result res;
	int r = check_run(config_path, NULL, 0, &res);
	if (r < 0)
		return log_error_errno(r, "checking %s", config_path), EXIT_FAILURE;
	diag_print(&res.diags, stderr);
	check_print_summary(&res, stdout);
	size_t errors = diag_count(&res.diags, DIAG_ERROR);
	size_t warnings = diag_count(&res.diags, DIAG_WARNING);
	printf("%zu error(s), %zu warning(s)\n", errors, warnings);
	check_result_clear(&res);
	return errors ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The classic detach: our own session, no terminal, / as cwd, stdio on /dev/null,
 * and our messages to syslog. */
static int run_test_identity(const char *config_path, const char *account)
{
	if (geteuid() != 0) {
		log_error("--test-identity must run as root: it reads the installation account's "
			  "secret and the lockout guard's state");
		return TESTID_OTHER;
	}
	struct diag_list diags = { 0 };
	struct config *cfg = NULL;
	int r = config_load(config_path, &cfg, &diags);
	diag_print(&diags, stderr);
	size_t errors = diag_count(&diags, DIAG_ERROR);
	diag_clear(&diags);
	if (r < 0 || errors) {
		config_free(cfg);
		return TESTID_CONFIG;
	}
	r = testid_main(cfg, account);
	config_free(cfg);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "test-identity", required_argument, NULL, OPT_TEST_IDENTITY },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config_path = ADV_DEFAULT_CONFIG;
	const char *test_identity = NULL;
	bool check = false, once = false, foreground = false, dry_run = false;

	sanitize_process();
	log_setup("advertd", LOG_TARGET_STDERR, LOG_DAEMON);
	for (int c; (c = getopt_long(argc, argv, "fc:hV", options, NULL)) != -1;) {
		switch (c) {
		case 'f':
			foreground = true;
			break;
		case OPT_ONCE:
			once = true;
			break;
		case OPT_DRY_RUN:
			dry_run = true;
			break;
		case OPT_TEST_IDENTITY:
			test_identity = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("advertd %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		return 2;
	}

	if (check)
		return run_check(config_path);
	if (dry_run)
		return dryrun_main(config_path);
	if (test_identity)
		return run_test_identity(config_path, test_identity);

	/* Detached only once everything that can fail has been checked, with the error on
	 * stderr: a broken configuration or a second advertd is an exit status, not silence. */
	struct daemon_options opt = { .config_path = config_path,
				      .once = once,
				      .foreground = foreground || once,
				      .detach = !once && !foreground };
	return daemon_main(&opt);
}

/* advertctl: the administrator's command line for advertd. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advert/check.h"
#include "advert/log.h"

/* Exit statuses, documented in advertctl(8). */
enum { EXIT_PROBLEMS = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: advertctl [-c FILE] COMMAND [ARGS…]\n"
		"  -c, --config FILE   advertd configuration (default %s)\n"
		"\n"
		"Commands:\n"
		"  check-config [FILE…]  validate advertd.conf and every advertisement; with\n"
		"                        FILEs, validate those advertisement files (or\n"
		"                        directories) against the installed configuration\n"
		"\n"
		"Exit status: 0 no problem, 1 problems found, 2 usage error.\n",
		ADV_DEFAULT_CONFIG);
}

static int cmd_check_config(const char *config_path, int argc, char **argv)
{
	struct check_result res;
	int r = check_run(config_path, (const char *const *)argv, (size_t)argc, &res);
	if (r < 0) {
		log_error_errno(r, "checking configuration");
		return EXIT_PROBLEMS;
	}
	diag_print(&res.diags, stderr);
	size_t errors = diag_count(&res.diags, DIAG_ERROR);
	size_t warnings = diag_count(&res.diags, DIAG_WARNING);
	check_print_summary(&res, stdout);
	printf("%s: %zu error(s), %zu warning(s)\n", errors ? "problems found" : "ok", errors,
	       warnings);
	check_result_clear(&res);
	return errors ? EXIT_PROBLEMS : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config_path = ADV_DEFAULT_CONFIG;

	log_setup("advertctl", LOG_TARGET_STDERR, LOG_USER);
	for (int c; (c = getopt_long(argc, argv, "+c:hV", options, NULL)) != -1;) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("advertctl %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(config_path, argc - optind - 1, argv + optind + 1);

	log_error("unknown command \"%s\"", cmd);
	usage(stderr);
	return EXIT_USAGE;
}

/* SPDX-License-Identifier: MIT */
/* Fuzz target: advertd.conf through config_load (the trust check, libconfig, then every
 * check of cfgread and config). No crash, no leak; a config it returns is complete. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "advert/config.h"
#include "advert/diag.h"
#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The trust check wants root's files; as anyone else every input is refused and
	 * the parser is never reached. */
	if (geteuid() != 0)
		fprintf(stderr, "fuzz_config: not root: config_load refuses every file, so "
				"only the trust check is fuzzed\n");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[4200];
	fuzz_write(fuzz_path(path, sizeof(path), "advertd.conf"), data, size, 0644);

	struct config *cfg = NULL;
	struct diag_list diags = { 0 };
	int r = config_load(path, &cfg, &diags);
	if (r == 0) {
		if (!cfg || !cfg->file || !cfg->state_dir || !cfg->log_dir ||
		    !cfg->control_socket || !cfg->advertisements)
			fuzz_fail("config_load returned 0 with an incomplete config");
		for (size_t i = 0; i < cfg->n_accounts; i++)
			if (!cfg->accounts[i].name ||
			    config_find_account(cfg, cfg->accounts[i].name) == NULL)
				fuzz_fail("account %zu cannot be found by its name", i);
		config_schema_name(cfg->directory.schema);
		config_facility_name(cfg->syslog.facility);
	} else if (cfg) {
		fuzz_fail("config_load returned %d and a config", r);
	}
	config_free(cfg);
	diag_clear(&diags);
	return 0;
}

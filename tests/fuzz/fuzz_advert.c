/* SPDX-License-Identifier: MIT */
/* Fuzz target: one advertisement file, through advert_parse_file (libconfig, then every
 * check of cfgread and advert). No crash, no leak, and what it accepts holds what
 * advert.h promises: valid ids, a command, NULL-terminated vectors, sane limits. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "advert/advert.h"
#include "advert/diag.h"
#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct advert *a)
{
	if (!a->id || !advert_id_valid(a->id))
		fuzz_fail("accepted an advertisement with id \"%s\"", a->id ? a->id : "(null)");
	if (!a->package.id || !advert_id_valid(a->package.id) || !a->package.name ||
	    !a->package.name[0] || !a->package.source || a->package.source[0] != '/')
		fuzz_fail("%s: accepted an incomplete package", a->id);
	if (!a->program.name || !a->program.name[0] || !a->program.run_as || !a->program.run_as[0])
		fuzz_fail("%s: accepted a program without a name or run_as", a->id);
	if (!a->program.command || !a->program.command[0])
		fuzz_fail("%s: accepted a program without a command", a->id);
	if (!a->program.environment || !a->program.platforms)
		fuzz_fail("%s: environment or platforms is NULL", a->id);
	if (a->program.max_runtime < 1 || a->program.max_runtime > ADV_MAX_RUNTIME_LIMIT)
		fuzz_fail("%s: max_runtime %d", a->id, a->program.max_runtime);
	if (a->program.n_success_codes && !a->program.success_codes)
		fuzz_fail("%s: success codes counted but absent", a->id);
	if (a->program.depends_on && !advert_id_valid(a->program.depends_on))
		fuzz_fail("%s: depends_on \"%s\"", a->id, a->program.depends_on);
	if (a->schedule.recur < 0 || (a->schedule.recur > 0 && a->schedule.recur < 60))
		fuzz_fail("%s: recur %d", a->id, a->schedule.recur);
	if (a->schedule.has_start && a->schedule.has_expires &&
	    a->schedule.expires <= a->schedule.start)
		fuzz_fail("%s: expires before it starts", a->id);
	if (!advert_rerun_name(a->rerun))
		fuzz_fail("%s: rerun %d", a->id, (int)a->rerun);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[4200];
	fuzz_write(fuzz_path(path, sizeof(path), "ad.conf"), data, size, 0644);

	struct advert **items = NULL;
	size_t n = 0;
	struct diag_list diags = { 0 };
	int r = advert_parse_file(path, &items, &n, &diags);
	if (r < 0 && n > 0)
		fuzz_fail("returned %d with %zu advertisements", r, n);
	for (size_t i = 0; i < n; i++)
		check(items[i]);
	for (size_t i = 0; i < diags.n; i++)
		if (!diags.items[i].msg)
			fuzz_fail("a diagnostic without a message");

	for (size_t i = 0; i < n; i++)
		advert_free(items[i]);
	free(items);
	diag_clear(&diags);
	return 0;
}

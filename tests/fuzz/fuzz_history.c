/* SPDX-License-Identifier: MIT */
/* Fuzz target: history_open on a state directory whose history.log holds the input: as it
 * is when it starts like a record ("v1 "), else with each line sealed the way the history
 * seals its records (random bytes never match a checksum, and the record parser would go
 * unfuzzed). Then what the daemon does with a log: list, reconcile, compact, reopen. No
 * crash, no leak, opening never fails, reconciling leaves no run open, and compaction
 * keeps every summary (the damage hold included). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/history.h"
#include "advert/textrec.h"
#include "fuzzutil.h"

/* Past every time in the seeds, so reconciled runs end after they started. */
#define NOW     ((time_t)2000000000)
#define MAX_IDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ids {
	char id[MAX_IDS][ADV_ID_MAX + 1];
	size_t n;
};

static void add_id(struct ids *ids, const char *id, size_t len)
{
	if (len == 0 || len > ADV_ID_MAX || ids->n == MAX_IDS)
		return;
	for (size_t i = 0; i < ids->n; i++)
		if (strlen(ids->id[i]) == len && memcmp(ids->id[i], id, len) == 0)
			return;
	memcpy(ids->id[ids->n], id, len);
	ids->id[ids->n++][len] = '\0';
}

static void listed(void *data, const struct history_run *run)
{
	if (run->run_id[0] != 'r')
		fuzz_fail("run id \"%s\"", run->run_id);
	add_id(data, run->advert_id, strlen(run->advert_id));
}

/* Every "advert=" value in the input: summaries have no run to be listed by. */
static void scan_ids(const uint8_t *data, size_t size, struct ids *ids)
{
	static const char key[] = " advert=";
	for (size_t i = 0; i + sizeof(key) - 1 <= size; i++) {
		if (memcmp(data + i, key, sizeof(key) - 1) != 0)
			continue;
		size_t s = i + sizeof(key) - 1, e = s;
		while (e < size && data[e] != ' ' && data[e] != '\n')
			e++;
		add_id(ids, (const char *)data + s, e - s);
	}
}

/* The log to open: the input, or each of its lines as "v1 <sum> line\n" (a last line
 * without its newline stays without it: a torn record). malloc'd. */
static char *make_log(const uint8_t *data, size_t size, size_t *ret_len)
{
	bool raw = size >= 3 && memcmp(data, "v1 ", 3) == 0;
	/* Each line grows by "v1 " + 16 hex digits + " ". */
	size_t cap = raw ? size : size + (size + 1) * 20;
	char *log = malloc(cap + 1);
	if (!log)
		abort();
	if (raw) {
		memcpy(log, data, size);
		*ret_len = size;
		return log;
	}
	size_t len = 0;
	for (size_t pos = 0; pos < size;) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t n = nl ? (size_t)(nl - (data + pos)) : size - pos;
		memcpy(log + len, "v1 ", 3);
		textrec_sha256_hex(data + pos, n, log + len + 3, 16);
		log[len + 19] = ' ';
		memcpy(log + len + 20, data + pos, n);
		len += 20 + n;
		if (nl)
			log[len++] = '\n';
		pos += n + (nl ? 1 : 0);
	}
	*ret_len = len;
	return log;
}

static struct history *open_ok(const char *dir, const char *when)
{
	struct history *h = NULL;
	int r = history_open(dir, &h);
	if (r != 0)
		fuzz_fail("history_open %s: %s", when, strerror(-r));
	return h;
}

static bool same_summary(const struct schedule_history *a, const struct schedule_history *b)
{
	return a->ever_started == b->ever_started && a->ever_succeeded == b->ever_succeeded &&
	       a->last_result == b->last_result && a->last_start == b->last_start &&
	       a->last_end == b->last_end && a->running == b->running && a->damaged == b->damaged;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_dir();
	char path[4200];
	size_t len;
	char *log = make_log(data, size, &len);
	fuzz_write(fuzz_path(path, sizeof(path), "history.log"), log, len, 0600);
	free(log);

	struct history *h = open_ok(dir, "on the input");
	/* Not the input's length: opening may compact the log, which can even grow it. */
	struct history_stats st;
	struct stat sb;
	history_get_stats(h, &st);
	if (stat(path, &sb) < 0)
		fuzz_fail("history.log is gone after history_open");
	if (st.size > (uint64_t)sb.st_size)
		fuzz_fail("a %lld-byte log holds %llu valid bytes", (long long)sb.st_size,
			  (unsigned long long)st.size);

	static struct ids ids;
	ids.n = 0;
	scan_ids(data, size, &ids);
	int r = history_list(h, NULL, 1000, listed, &ids);
	if (r != 0)
		fuzz_fail("history_list: %s", strerror(-r));

	r = history_reconcile(h, NOW, NULL, NULL);
	if (r != 0)
		fuzz_fail("history_reconcile: %s", strerror(-r));
	static struct schedule_history before[MAX_IDS];
	for (size_t i = 0; i < ids.n; i++) {
		before[i] = *history_summary(h, ids.id[i]);
		if (before[i].running)
			fuzz_fail("\"%s\" is still running after history_reconcile", ids.id[i]);
	}

	r = history_compact(h);
	if (r != 0)
		fuzz_fail("history_compact: %s", strerror(-r));
	history_close(h);

	h = open_ok(dir, "after compaction");
	for (size_t i = 0; i < ids.n; i++) {
		const struct schedule_history *after = history_summary(h, ids.id[i]);
		if (!same_summary(&before[i], after))
			fuzz_fail("compaction changed the summary of \"%s\": started %d/%d "
				  "succeeded %d/%d result %d/%d start %lld/%lld end %lld/%lld "
				  "running %d/%d damaged %d/%d",
				  ids.id[i], before[i].ever_started, after->ever_started,
				  before[i].ever_succeeded, after->ever_succeeded,
				  (int)before[i].last_result, (int)after->last_result,
				  (long long)before[i].last_start, (long long)after->last_start,
				  (long long)before[i].last_end, (long long)after->last_end,
				  before[i].running, after->running, before[i].damaged,
				  after->damaged);
	}
	history_close(h);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Fuzz target: lockout_read on a state file holding the input, as it is and sealed (with
 * the checksum line lockout_write appends, which random bytes never match: without it the
 * fields would go unfuzzed). A state it accepts must survive lockout_write and a second
 * lockout_read unchanged, field by field: a rewrite must never forget a secret the guard
 * was holding back. */
#include "config.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "advert/lockout.h"
#include "advert/textrec.h"
#include "fuzzutil.h"

#define ACCOUNT "fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct lockout_state *a, const struct lockout_state *b)
{
	if (a->outcome != b->outcome)
		fuzz_fail("outcome %d came back as %d", (int)a->outcome, (int)b->outcome);
	if (strcmp(a->fingerprint, b->fingerprint) != 0)
		fuzz_fail("fingerprint \"%s\" came back as \"%s\"", a->fingerprint, b->fingerprint);
	if (a->since != b->since)
		fuzz_fail("since %lld came back as %lld", (long long)a->since, (long long)b->since);
	if (strcmp(a->dc, b->dc) != 0)
		fuzz_fail("dc \"%s\" came back as \"%s\"", a->dc, b->dc);
	if (strcmp(a->message, b->message) != 0)
		fuzz_fail("message \"%s\" came back as \"%s\"", a->message, b->message);
	if (a->attempts != b->attempts)
		fuzz_fail("attempts %u came back as %u", a->attempts, b->attempts);
	if (a->n_rejected != b->n_rejected)
		fuzz_fail("%u rejected secrets came back as %u", a->n_rejected, b->n_rejected);
	for (unsigned i = 0; i < a->n_rejected && i < LOCKOUT_REJECTED_MAX; i++)
		if (strcmp(a->rejected[i], b->rejected[i]) != 0)
			fuzz_fail("rejected[%u] \"%s\" came back as \"%s\"", i, a->rejected[i],
				  b->rejected[i]);
	if (a->accepted_under != b->accepted_under)
		fuzz_fail("accepted_under %lld came back as %lld", a->accepted_under,
			  b->accepted_under);
}

static void one(int fd, const void *data, size_t size)
{
	fuzz_fill(fd, data, size);
	struct lockout_state st;
	if (lockout_read(fd, &st) != 0)
		return;
	if (st.n_rejected > LOCKOUT_REJECTED_MAX)
		fuzz_fail("%u rejected secrets read, at most %d kept", st.n_rejected,
			  LOCKOUT_REJECTED_MAX);
	if (strlen(lockout_outcome_name(st.outcome)) == 0 ||
	    strcmp(lockout_outcome_name(st.outcome), "?") == 0)
		fuzz_fail("outcome %d has no name", (int)st.outcome);
	/* The verdict is pure: any fingerprint, any clock. */
	time_t until;
	lockout_decide(&st, st.fingerprint, st.since, 1800, &until);
	lockout_decide(&st, "0", 0, 0, &until);

	int r = lockout_write(fuzz_dir(), ACCOUNT, &st);
	if (r != 0)
		fuzz_fail("a state read back fine cannot be written: %s", strerror(-r));
	int dfd = lockout_lock(fuzz_dir(), ACCOUNT);
	if (dfd < 0)
		fuzz_fail("lockout_lock: %s", strerror(-dfd));
	struct lockout_state again;
	r = lockout_read(dfd, &again);
	close(dfd);
	if (r != 0)
		fuzz_fail("the state lockout_write wrote does not read back: %s", strerror(-r));
	same(&st, &again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One input file for the whole run, refilled each time. */
	static int fd = -1;
	if (fd < 0) {
		char path[4200];
		fd = open(fuzz_path(path, sizeof(path), "input"),
			  O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			abort();
	}
	one(fd, data, size);

	static const char key[] = "checksum=";
	char *sealed = malloc(size + sizeof(key) + 64 + 1);
	if (!sealed)
		abort();
	memcpy(sealed, data, size);
	memcpy(sealed + size, key, sizeof(key) - 1);
	textrec_sha256_hex(data, size, sealed + size + sizeof(key) - 1, 64);
	sealed[size + sizeof(key) - 1 + 64] = '\n';
	one(fd, sealed, size + sizeof(key) + 64);
	free(sealed);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Fuzz target: rfc3339_parse reads nothing past the string's NUL, and every time it
 * accepts formats back (rfc3339_format) into a string that parses to the same time. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advert/rfc3339.h"
#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	time_t t;
	if (rfc3339_parse(s, &t) == 0) {
		char buf[RFC3339_BUFSIZE];
		rfc3339_format(t, buf, sizeof(buf));
		time_t again;
		if (strlen(buf) != 20 || buf[19] != 'Z')
			fuzz_fail("\"%s\" is %lld, formatted as \"%s\"", s, (long long)t, buf);
		if (rfc3339_parse(buf, &again) != 0)
			fuzz_fail("\"%s\" is %lld, formatted as \"%s\", which does not parse", s,
				  (long long)t, buf);
		if (again != t)
			fuzz_fail("\"%s\" is %lld, formatted as \"%s\", which parses to %lld", s,
				  (long long)t, buf, (long long)again);
	}
	free(s);
	return 0;
}

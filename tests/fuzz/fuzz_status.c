/* SPDX-License-Identifier: MIT */
/* Fuzz target: status_format on values from the input (its first byte picks the id, the
 * rest is split on NUL, the one byte no value can hold, into the values of a few fields;
 * fields left without one are NULL, and left out). Oracle: the line is ONE line (no \n or
 * \r, no NUL inside), valid UTF-8 without a raw control character, and a shorter buffer
 * gets a NUL-terminated prefix of it with the same length returned, as snprintf does. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advert/status.h"
#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The character at s (n > 0 bytes left) if it is well-formed UTF-8 (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF): its length, and *ret_cp. 0 otherwise. Our
 * own decoder, not status.c's: the oracle must not share the code it checks. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *ret_cp)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t min, cp;
	if (c < 0x80) {
		*ret_cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2, min = 0x80, cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, min = 0x800, cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, min = 0x10000, cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum status_id ids[] = {
		STATUS_PROGRAM_STARTED, STATUS_PROGRAM_FAILED, STATUS_FILE_REJECTED,
		STATUS_GUARD_HOLDING,   (enum status_id)99999, /* unknown: still one line */
	};
	static const char *const keys[] = {
		"advert", "program", "account", "reason", "dc", "path"
	};
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	if (size == 0)
		return 0;
	enum status_id id = ids[data[0] % (sizeof(ids) / sizeof(ids[0]))];

	/* The values, NUL-separated, in one NUL-terminated copy: k NULs make k + 1 values. */
	char *text = fuzz_strndup(data + 1, size - 1);
	struct status_field fields[N];
	size_t pos = 0;
	for (size_t i = 0; i < N; i++) {
		fields[i].key = keys[i];
		fields[i].value = pos <= size - 1 ? text + pos : NULL;
		if (fields[i].value)
			pos += strlen(text + pos) + 1;
	}

	size_t len = status_format(NULL, 0, id, fields, N);
	char *line = malloc(len + 1);
	if (!line)
		abort();
	size_t again = status_format(line, len + 1, id, fields, N);
	if (again != len || strlen(line) != len)
		fuzz_fail("needs %zu bytes, then %zu, and writes %zu", len, again, strlen(line));
	const char *cut = strpbrk(line, "\r\n");
	if (cut)
		fuzz_fail("a %s at offset %zu of: %s", *cut == '\n' ? "\\n" : "\\r",
			  (size_t)(cut - line), line);
	/* Valid UTF-8, and no control character (C0, DEL, C1) left as itself. */
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_next((const unsigned char *)line + i, len - i, &cp);
		if (k == 0)
			fuzz_fail("not UTF-8 at offset %zu (byte 0x%02x) of: %s", i,
				  (unsigned char)line[i], line);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			fuzz_fail("control character U+%04X at offset %zu of: %s", (unsigned)cp, i,
				  line);
		i += k;
	}

	/* Truncated as snprintf truncates: a prefix, NUL-terminated, the full length returned. */
	size_t small = len / 2 + 1;
	char *part = malloc(small);
	if (!part)
		abort();
	if (status_format(part, small, id, fields, N) != len || strlen(part) != small - 1 ||
	    memcmp(part, line, small - 1) != 0)
		fuzz_fail("truncated to %zu bytes it is not a prefix of: %s", small, line);

	free(part);
	free(line);
	free(text);
	return 0;
}

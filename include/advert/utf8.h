/* SPDX-License-Identifier: MIT */
/* UTF-8 as advertd accepts it from files and the directory and writes it to syslog and
 * JSON: well-formed (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF). Pure. */
#ifndef ADVERT_UTF8_H
#define ADVERT_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the well-formed character at s (at most n bytes available), or
 * 0 when s does not start with one (a NUL counts as a one-byte character). */
size_t utf8_char_len(const char *s, size_t n) __attribute__((nonnull));

/* The offset of the first byte of s (n bytes) that is not part of a well-formed
 * character, or n when all of it is well-formed. */
size_t utf8_invalid_at(const char *s, size_t n) __attribute__((nonnull));

#endif

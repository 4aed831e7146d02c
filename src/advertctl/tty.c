/* SPDX-License-Identifier: MIT */
/* What advertctl prints: escaped for a terminal, valid UTF-8 for a JSON parser, a
 * program's output as it was. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "advert/log.h"
#include "advert/rfc3339.h"
#include "advert/status.h"
#include "advert/utf8.h"
#include "advertctl.h"

/* The next character of the n bytes at p as a terminal should get it: itself when it is
 * valid UTF-8 and safe, else \n \r \t or \xhh for each of its bytes (a stray byte is a
 * character of its own). Writes the text to out (up to 16 bytes and a NUL) and its width
 * in columns to *ret_cols; returns how many bytes of p it took. */
static size_t tty_char(const char *p, size_t n, char out[static 17], size_t *ret_cols)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = utf8_char_len(p, n);
	if (len > 0 && !status_char_unsafe(p, len)) {
		memcpy(out, p, len);
		out[len] = '\0';
		*ret_cols = 1;
		return len;
	}
	if (len == 0)
		len = 1;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		out[o++] = '\\';
		if (c == '\n' || c == '\r' || c == '\t') {
			out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else {
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
	*ret_cols = o;
	return len;
}

/* Prints s escaped for a terminal, padded to width columns; with cut, no wider than
 * that either (never inside a character or an escape). Counts a character as one column:
 * wide scripts may still misalign, but nothing is hidden or moved. */
void tty_put(const char *s, size_t width, bool cut)
{
	size_t cols = 0;
	for (size_t n = strlen(s), i = 0; i < n;) {
		char piece[17];
		size_t w, k = tty_char(s + i, n - i, piece, &w);
		if (cut && cols + w > width)
			break;
		fputs(piece, stdout);
		cols += w;
		i += k;
	}
	for (; cols < width; cols++)
		putchar(' ');
}

/* s escaped for a terminal, in a buffer of the caller's to free; NULL only without
 * memory. */
char *tty_str(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * n + 1), *o = out; /* \xhh for every byte, at worst */
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		char piece[17];
		size_t w;
		i += tty_char(s + i, n - i, piece, &w);
		o = stpcpy(o, piece);
	}
	*o = '\0';
	return out;
}

/* --- JSON that is valid UTF-8 ------------------------------------------------------------ */

/* A JSON string of the len bytes at s with each stray byte as U+FFFD. */
static struct json_object *json_clean_string(const char *s, size_t len)
{
	char *buf = malloc(3 * len + 1), *o = buf;
	if (!buf)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_char_len(s + i, len - i);
		if (k == 0) {
			o = stpcpy(o, "\xef\xbf\xbd");
			i++;
		} else {
			memcpy(o, s + i, k);
			o += k;
			i += k;
		}
	}
	struct json_object *j = json_object_new_string_len(buf, (int)(o - buf));
	free(buf);
	return j;
}

/* A copy of the reply whose every string and key is valid UTF-8: json-c reads and writes
 * whatever bytes it is given, and a daemon (an older one) may have sent any. */
struct json_object *json_clean(struct json_object *v)
{
	struct json_object *c;
	switch (json_object_get_type(v)) {
	case json_type_string:
		return json_clean_string(json_object_get_string(v),
					 (size_t)json_object_get_string_len(v));
	case json_type_array:
		c = json_object_new_array();
		for (size_t i = 0; c && i < json_object_array_length(v); i++)
			json_object_array_add(c, json_clean(json_object_array_get_idx(v, i)));
		return c;
	case json_type_object:
		c = json_object_new_object();
		json_object_object_foreach(v, key, val)
		{
			struct json_object *k = json_clean_string(key, strlen(key));
			if (c && k)
				json_object_object_add(c, json_object_get_string(k),
						       json_clean(val));
			json_object_put(k);
		}
		return c;
	default:
		return json_object_get(v);
	}
}

/* Prints JSON text with the characters that are valid but not safe on a terminal (C1
 * controls, U+2028 and the like: json-c leaves them raw) as \u escapes. They can only be
 * inside strings, where the escape means the same. */
void json_put(const char *text)
{
	for (size_t n = strlen(text), i = 0; i < n;) {
		size_t k = utf8_char_len(text + i, n - i);
		if (k > 1 && status_char_unsafe(text + i, k)) {
			uint32_t cp = status_char_code(text + i, k);
			if (cp > 0xffff)
				printf("\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10),
				       0xdc00 + ((cp - 0x10000) & 0x3ff));
			else
				printf("\\u%04x", cp);
		} else {
			fwrite(text + i, 1, k ? k : 1, stdout);
		}
		i += k ? k : 1;
	}
	putchar('\n');
}

/* A program's output as it was captured: the bytes themselves into a pipe or a file, and
 * to a terminal line by line with anything that could drive it escaped. */
void put_output(const char *s, size_t len)
{
	if (!isatty(STDOUT_FILENO)) {
		fwrite(s, 1, len, stdout);
		return;
	}
	/* Between newlines and NULs, each piece escaped; a NUL shows as \x00, so nothing
	 * after it hides. */
	for (size_t i = 0; i < len;) {
		size_t k = 0;
		while (i + k < len && s[i + k] != '\n' && s[i + k] != '\0')
			k++;
		char *piece = strndup(s + i, k);
		if (piece)
			tty_put(piece, 0, false);
		free(piece);
		if (i + k < len)
			fputs(s[i + k] == '\n' ? "\n" : "\\x00", stdout);
		i += k + 1;
	}
}

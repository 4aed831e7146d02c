/* SPDX-License-Identifier: MIT */
/* Diagnostics list: file:line problems collected while reading configuration. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "advert/diag.h"
#include "advert/utf8.h"

/* A diagnostic quotes what files and servers said, and goes to a terminal, a journal
 * (advertd -f) and status lines: every control byte and every byte that is not
 * well-formed UTF-8 becomes \n, \r, \t or \xhh, so a value holding "\n10008 …" cannot
 * forge a line, nor an ESC sequence reach a terminal. Returns a new string or NULL. */
static char *printable(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_char_len(s + i, n - i);
		unsigned char c = (unsigned char)s[i];
		if (k > 1 && !(c == 0xc2 && (unsigned char)s[i + 1] < 0xa0)) { /* not C1 */
			memcpy(o, s + i, k);
			o += k, i += k;
		} else if (k == 1 && c >= 0x20 && c != 0x7f) {
			*o++ = (char)c, i++;
		} else {
			o += c == '\n'   ? sprintf(o, "\\n")
			     : c == '\r' ? sprintf(o, "\\r")
			     : c == '\t' ? sprintf(o, "\\t")
					 : sprintf(o, "\\x%02x", c);
			i++;
		}
	}
	*o = '\0';
	return out;
}

int diag_add(struct diag_list *l, enum diag_level level, const char *file, int line,
	     const char *fmt, ...)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct diag *items = reallocarray(l->items, cap, sizeof(*items));
		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}

	struct diag d = { .level = level, .line = line };
	char *raw = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&raw, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	d.msg = printable(raw);
	free(raw);
	if (!d.msg)
		return -ENOMEM;
	if (file && !(d.file = printable(file))) {
		free(d.msg);
		return -ENOMEM;
	}
	l->items[l->n++] = d;
	return 0;
}

int diag_tag_advert(struct diag_list *l, size_t from, const char *advert)
{
	for (size_t i = from; advert && i < l->n; i++)
		if (!l->items[i].advert && !(l->items[i].advert = strdup(advert)))
			return -ENOMEM;
	return 0;
}

const struct diag *diag_find_advert(const struct diag_list *l, const char *advert)
{
	for (size_t i = 0; advert && i < l->n; i++)
		if (l->items[i].level == DIAG_ERROR && l->items[i].advert &&
		    strcmp(l->items[i].advert, advert) == 0)
			return &l->items[i];
	return NULL;
}

size_t diag_count(const struct diag_list *l, enum diag_level level)
{
	size_t c = 0;
	for (size_t i = 0; i < l->n; i++)
		c += l->items[i].level == level;
	return c;
}

int diag_move(struct diag_list *dst, struct diag_list *src)
{
	if (src->n == 0)
		return 0;
	struct diag *items = reallocarray(dst->items, dst->n + src->n, sizeof(*items));
	if (!items)
		return -ENOMEM;
	memcpy(items + dst->n, src->items, src->n * sizeof(*items));
	dst->items = items;
	dst->n += src->n;
	dst->cap = dst->n;
	free(src->items);
	*src = (struct diag_list){ 0 };
	return 0;
}

static int diag_cmp(const struct diag *a, const struct diag *b)
{
	int r = strcmp(a->file ? a->file : "", b->file ? b->file : "");
	if (r)
		return r;
	return (a->line > b->line) - (a->line < b->line);
}

void diag_sort(struct diag_list *l)
{
	/* Insertion sort: stable, and lists are short. */
	for (size_t i = 1; i < l->n; i++) {
		struct diag d = l->items[i];
		size_t j = i;
		while (j > 0 && diag_cmp(&l->items[j - 1], &d) > 0) {
			l->items[j] = l->items[j - 1];
			j--;
		}
		l->items[j] = d;
	}
}

void diag_print(const struct diag_list *l, FILE *out)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct diag *d = &l->items[i];
		const char *lvl = d->level == DIAG_ERROR ? "error" : "warning";
		if (d->file && d->line > 0)
			fprintf(out, "%s:%d: %s: %s\n", d->file, d->line, lvl, d->msg);
		else if (d->file)
			fprintf(out, "%s: %s: %s\n", d->file, lvl, d->msg);
		else
			fprintf(out, "%s: %s\n", lvl, d->msg);
	}
}

void diag_clear(struct diag_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].file);
		free(l->items[i].msg);
		free(l->items[i].advert);
	}
	free(l->items);
	*l = (struct diag_list){ 0 };
}

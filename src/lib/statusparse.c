/* SPDX-License-Identifier: MIT */
/* Status lines read back: see advert/statusparse.h. */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "advert/statusparse.h"

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One value from *p: bare up to a space, or quoted with \n \r \t \xhh. */
static bool read_value(const char **p, const char *end, char *out, size_t size)
{
	const char *s = *p;
	size_t o = 0;
	if (s < end && *s == '"') {
		for (s++; s < end && *s != '"'; s++) {
			char c = *s;
			if (c == '\\') {
				if (++s >= end)
					return false;
				if (*s == 'n' || *s == 'r' || *s == 't')
					c = *s == 'n' ? '\n' : *s == 'r' ? '\r' : '\t';
				else if (*s == 'x' && end - s >= 3 && hexval(s[1]) >= 0 &&
					 hexval(s[2]) >= 0)
					c = (char)(hexval(s[1]) * 16 + hexval(s[2])), s += 2;
				else
					return false;
			}
			if (o + 1 < size)
				out[o++] = c;
		}
		if (s >= end)
			return false; /* no closing quote */
		s++;
	} else {
		for (; s < end && *s != ' '; s++)
			if (o + 1 < size)
				out[o++] = *s;
	}
	out[o] = '\0';
	*p = s;
	return s >= end || *s == ' ';
}

/* Where our message starts: after "HOST TAG: " or "HOST TAG[PID]: ", with the host the
 * word before the tag. The time before it is one word (RFC 3339) or three ("Dec  1
 * 10:00:00"). */
static const char *message_of(const char *line, const char *end, char *host, size_t size)
{
	for (const char *c = line; c + 2 < end; c++) {
		if (c[0] != ':' || c[1] != ' ' || !isdigit((unsigned char)c[2]))
			continue;
		/* back over the tag to the space before it, then over the host */
		const char *t = c;
		while (t > line && t[-1] != ' ')
			t--;
		if (t == line)
			return NULL;
		const char *h_end = t - 1, *h = h_end;
		while (h > line && h[-1] != ' ')
			h--;
		size_t n = (size_t)(h_end - h);
		if (n == 0 || n >= size)
			return NULL;
		memcpy(host, h, n);
		host[n] = '\0';
		return c + 2;
	}
	return NULL;
}

bool status_parse_line(const char *line, size_t len, struct status_parsed *ret)
{
	const char *end = line + len;
	ret->n = 0;
	const char *p = message_of(line, end, ret->host, sizeof(ret->host));
	if (!p || end - p < 6)
		return false;
	int id = 0;
	for (int k = 0; k < 5; k++, p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		id = id * 10 + (*p - '0');
	}
	if (*p != ' ' || id < 10000 || id > 11999)
		return false;
	ret->id = id;
	p++;
	while (p < end && *p != ' ') /* the name */
		p++;
	while (p < end) {
		p++; /* the space */
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		if (!eq || (sp && sp < eq))
			return false;
		size_t klen = (size_t)(eq - p);
		if (klen == 0 || ret->n >= STATUSPARSE_FIELDS_MAX)
			return false;
		struct status_parsed_field *f = &ret->fields[ret->n];
		if (klen >= sizeof(f->key))
			return false;
		memcpy(f->key, p, klen);
		f->key[klen] = '\0';
		p = eq + 1;
		if (!read_value(&p, end, f->value, sizeof(f->value)))
			return false;
		ret->n++;
	}
	return true;
}

const char *status_parsed_get(const struct status_parsed *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->fields[i].key, key) == 0)
			return p->fields[i].value;
	return NULL;
}

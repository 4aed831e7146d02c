/* SPDX-License-Identifier: MIT */
/* Typed reads from libconfig with file:line diagnostics and key suggestions. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/cfgread.h"
#include "advert/rfc3339.h"
#include "advert/trust.h"
#include "advert/utf8.h"

static int setting_line(const config_setting_t *s)
{
	for (; s; s = config_setting_parent(s)) {
		int line = (int)config_setting_source_line(s);
		if (line > 0)
			return line;
	}
	return 0;
}

static const char *setting_file(struct cfgread *c, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;
	return f ? f : c->file;
}

static void vreport(struct cfgread *c, enum diag_level level, const config_setting_t *s,
		    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static void vreport(struct cfgread *c, enum diag_level level, const config_setting_t *s,
		    const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	diag_add(c->diags, level, setting_file(c, s), setting_line(s), "%s",
		 msg ? msg : "(out of memory)");
	free(msg);
	if (level == DIAG_ERROR)
		c->errors++;
}

void cfgread_error(struct cfgread *c, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, DIAG_ERROR, s, fmt, ap);
	va_end(ap);
}

void cfgread_warning(struct cfgread *c, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, DIAG_WARNING, s, fmt, ap);
	va_end(ap);
}

/* Optimal string alignment distance, capped: names are short. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 64;
	size_t d[64][64];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

const char *cfgread_suggest(const char *name, const char *const *allowed)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (; *allowed; allowed++) {
		size_t d = edit_distance(name, *allowed);
		if (d < best_d) {
			best = *allowed;
			best_d = d;
		}
	}
	return best;
}

static const char *dot(const char *prefix)
{
	return prefix[0] ? "." : "";
}

size_t cfgread_unknown_keys(struct cfgread *c, const config_setting_t *group, const char *prefix,
			    const char *const *allowed)
{
	size_t unknown = 0;
	int n = config_setting_length(group);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		if (!name)
			continue;
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, name) == 0;
		if (known)
			continue;
		unknown++;
		const char *hint = cfgread_suggest(name, allowed);
		if (hint)
			cfgread_error(c, s, "unknown key \"%s%s%s\" (did you mean \"%s\"?)", prefix,
				      dot(prefix), name, hint);
		else
			cfgread_error(c, s, "unknown key \"%s%s%s\"", prefix, dot(prefix), name);
	}
	return unknown;
}

static const char *type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { … }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating-point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ … ]";
	case CONFIG_TYPE_LIST:
		return "a list ( … )";
	default:
		return "nothing";
	}
}

/* Finds key; reports a missing required key. Returns CFG_OK with *ret set, or the
 * result to return. */
static enum cfgread_result lookup(struct cfgread *c, const config_setting_t *group,
				  const char *prefix, const char *key, bool required,
				  config_setting_t **ret)
{
	config_setting_t *s = config_setting_get_member(group, key);
	if (!s) {
		if (required)
			cfgread_error(c, group, "missing required key \"%s%s%s\"", prefix,
				      dot(prefix), key);
		return required ? CFG_INVALID : CFG_ABSENT;
	}
	*ret = s;
	return CFG_OK;
}

static enum cfgread_result wrong_type(struct cfgread *c, const config_setting_t *s,
				      const char *prefix, const char *key, const char *want)
{
	cfgread_error(c, s, "\"%s%s%s\" must be %s, not %s", prefix, dot(prefix), key, want,
		      type_name(config_setting_type(s)));
	return CFG_INVALID;
}

/* Every string advertd reads is text it may show an admin, log or put in JSON: it must be
 * well-formed UTF-8, and say where it is not (without echoing the bytes). */
static bool well_formed(struct cfgread *c, const config_setting_t *s, const char *prefix,
			const char *key, const char *v)
{
	size_t n = strlen(v), at = utf8_invalid_at(v, n);
	if (at == n)
		return true;
	cfgread_error(c, s, "\"%s%s%s\" is not valid UTF-8 (byte %zu, 0x%02x)", prefix, dot(prefix),
		      key, at + 1, (unsigned char)v[at]);
	return false;
}

enum cfgread_result cfgread_string(struct cfgread *c, const config_setting_t *group,
				   const char *prefix, const char *key, bool required, char **ret)
{
	config_setting_t *s;
	enum cfgread_result r = lookup(c, group, prefix, key, required, &s);
	if (r != CFG_OK)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return wrong_type(c, s, prefix, key, "a string");
	if (!well_formed(c, s, prefix, key, config_setting_get_string(s)))
		return CFG_INVALID;
	char *v = strdup(config_setting_get_string(s));
	if (!v) {
		cfgread_error(c, s, "out of memory");
		return CFG_INVALID;
	}
	free(*ret);
	*ret = v;
	return CFG_OK;
}

enum cfgread_result cfgread_int(struct cfgread *c, const config_setting_t *group,
				const char *prefix, const char *key, bool required, long long min,
				long long max, long long *ret)
{
	config_setting_t *s;
	enum cfgread_result r = lookup(c, group, prefix, key, required, &s);
	if (r != CFG_OK)
		return r;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		return wrong_type(c, s, prefix, key, "an integer");
	long long v = config_setting_get_int64(s);
	if (v < min || v > max) {
		cfgread_error(c, s, "\"%s%s%s\" is %lld, expected %lld to %lld", prefix,
			      dot(prefix), key, v, min, max);
		return CFG_INVALID;
	}
	*ret = v;
	return CFG_OK;
}

enum cfgread_result cfgread_bool(struct cfgread *c, const config_setting_t *group,
				 const char *prefix, const char *key, bool required, bool *ret)
{
	config_setting_t *s;
	enum cfgread_result r = lookup(c, group, prefix, key, required, &s);
	if (r != CFG_OK)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return wrong_type(c, s, prefix, key, "true or false");
	*ret = config_setting_get_bool(s);
	return CFG_OK;
}

enum cfgread_result cfgread_time(struct cfgread *c, const config_setting_t *group,
				 const char *prefix, const char *key, bool required, time_t *ret)
{
	config_setting_t *s;
	enum cfgread_result r = lookup(c, group, prefix, key, required, &s);
	if (r != CFG_OK)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return wrong_type(c, s, prefix, key, "an RFC 3339 time string");
	const char *v = config_setting_get_string(s);
	time_t t;
	if (rfc3339_parse(v, &t) < 0) {
		cfgread_error(c, s,
			      "\"%s%s%s\" is \"%s\", expected an RFC 3339 time such as "
			      "\"2026-11-22T10:00:00Z\"",
			      prefix, dot(prefix), key, v);
		return CFG_INVALID;
	}
	*ret = t;
	return CFG_OK;
}

static bool is_sequence(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

enum cfgread_result cfgread_strv(struct cfgread *c, const config_setting_t *group,
				 const char *prefix, const char *key, bool required,
				 bool allow_empty, char ***ret, size_t *ret_n)
{
	config_setting_t *s;
	enum cfgread_result r = lookup(c, group, prefix, key, required, &s);
	if (r != CFG_OK)
		return r;
	if (!is_sequence(s))
		return wrong_type(c, s, prefix, key, "an array of strings");
	size_t n = (size_t)config_setting_length(s);
	if (n == 0 && !allow_empty) {
		cfgread_error(c, s, "\"%s%s%s\" must not be empty", prefix, dot(prefix), key);
		return CFG_INVALID;
	}
	char **v = calloc(n + 1, sizeof(*v));
	if (!v) {
		cfgread_error(c, s, "out of memory");
		return CFG_INVALID;
	}
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *str = config_setting_get_string(e);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfgread_error(c, e, "\"%s%s%s\" element %zu must be a string, not %s",
				      prefix, dot(prefix), key, i,
				      type_name(config_setting_type(e)));
			goto fail;
		}
		if (str[0] == '\0') {
			cfgread_error(c, e, "\"%s%s%s\" element %zu must not be empty", prefix,
				      dot(prefix), key, i);
			goto fail;
		}
		if (!well_formed(c, e, prefix, key, str))
			goto fail;
		if (!(v[i] = strdup(str))) {
			cfgread_error(c, e, "out of memory");
			goto fail;
		}
	}
	strv_free(*ret);
	*ret = v;
	if (ret_n)
		*ret_n = n;
	return CFG_OK;
fail:
	strv_free(v);
	return CFG_INVALID;
}

enum cfgread_result cfgread_intv(struct cfgread *c, const config_setting_t *group,
				 const char *prefix, const char *key, bool required, long long min,
				 long long max, int **ret, size_t *ret_n)
{
	config_setting_t *s;
	enum cfgread_result r = lookup(c, group, prefix, key, required, &s);
	if (r != CFG_OK)
		return r;
	if (!is_sequence(s))
		return wrong_type(c, s, prefix, key, "an array of integers");
	size_t n = (size_t)config_setting_length(s);
	int *v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		cfgread_error(c, s, "out of memory");
		return CFG_INVALID;
	}
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int t = config_setting_type(e);
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
			cfgread_error(c, e, "\"%s%s%s\" element %zu must be an integer, not %s",
				      prefix, dot(prefix), key, i, type_name(t));
			free(v);
			return CFG_INVALID;
		}
		long long x = config_setting_get_int64(e);
		if (x < min || x > max) {
			cfgread_error(c, e, "\"%s%s%s\" element %zu is %lld, expected %lld to %lld",
				      prefix, dot(prefix), key, i, x, min, max);
			free(v);
			return CFG_INVALID;
		}
		v[i] = (int)x;
	}
	free(*ret);
	*ret = v;
	*ret_n = n;
	return CFG_OK;
}

enum cfgread_result cfgread_group(struct cfgread *c, const config_setting_t *group,
				  const char *prefix, const char *key, bool required,
				  bool want_list, config_setting_t **ret)
{
	config_setting_t *s;
	enum cfgread_result r = lookup(c, group, prefix, key, required, &s);
	if (r != CFG_OK)
		return r;
	int t = config_setting_type(s);
	if (want_list && t != CONFIG_TYPE_LIST)
		return wrong_type(c, s, prefix, key, "a list ( { … }, … )");
	if (!want_list && t != CONFIG_TYPE_GROUP)
		return wrong_type(c, s, prefix, key, "a group { … }");
	*ret = s;
	return CFG_OK;
}

/* Reads all of fd (a regular file of at most CFGREAD_MAX bytes) into a NUL-terminated
 * buffer. Returns 0 or -errno (-EFBIG, -EINVAL for a NUL byte inside). */
#define CFGREAD_MAX (16 * 1024 * 1024)
static int slurp(int fd, char **ret)
{
	size_t len = 0, size = 8192;
	char *buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 == size) {
			if (size > CFGREAD_MAX) {
				free(buf);
				return -EFBIG;
			}
			char *b = realloc(buf, size * 2);
			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b, size *= 2;
		}
		ssize_t k = read(fd, buf + len, size - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		free(buf);
		return -EINVAL;
	}
	*ret = buf;
	return 0;
}

static int load_error(struct cfgread *c, const char *path, int line, int r, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int load_error(struct cfgread *c, const char *path, int line, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	diag_error(c->diags, path, line, "%s", msg ? msg : "(out of memory)");
	free(msg);
	c->errors++;
	return r;
}

int cfgread_load(struct cfgread *c, config_t *cfg, const char *path)
{
	/* advertd reads the bytes itself, from the descriptor it checked, and hands libconfig
	 * text: libconfig never opens a path (O_NONBLOCK: a FIFO cannot hang the open, and
	 * is refused below). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return load_error(c, path, 0, -EIO, "cannot read the file: %s", strerror(errno));
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && !S_ISREG(st.st_mode))
		r = load_error(c, path, 0, -EPERM, "refusing \"%s\": not a regular file", path);
	else if (r == 0 && (st.st_uid != 0 || (st.st_mode & 022)))
		r = load_error(c, path, 0, -EPERM,
			       "refusing \"%s\": owned by uid %u with mode %04o (it must be "
			       "root's and not writable by group or others)",
			       path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	char *text = NULL;
	if (r == 0 && (r = slurp(fd, &text)) < 0)
		r = load_error(c, path, 0, r == -EINVAL ? -EINVAL : -EIO,
			       "cannot read the file: %s",
			       r == -EINVAL ? "it holds a NUL byte" : strerror(-r));
	close(fd);
	if (r < 0)
		return r == -EPERM || r == -EINVAL ? r : -EIO;
	r = cfgread_load_text(c, cfg, path, text);
	free(text);
	return r;
}

int cfgread_load_text(struct cfgread *c, config_t *cfg, const char *name, const char *text)
{
	/* libconfig 1.5 opens an @include'd file by path itself, after which no check of
	 * ours could help (it would read a FIFO, a device, a file swapped in since): the
	 * directive is refused wherever it appears. */
	const char *inc = strstr(text, "@include");
	if (inc) {
		int line = 1;
		for (const char *p = text; p < inc; p++)
			line += *p == '\n';
		return load_error(c, name, line, -EPERM,
				  "@include is not supported: advertd reads only files it has "
				  "checked itself (split advertisements across files of an "
				  "advertisements directory instead)");
	}
	if (config_read_string(cfg, text) == CONFIG_TRUE)
		return 0;
	return load_error(c, name, config_error_line(cfg), -EINVAL, "syntax error: %s",
			  config_error_text(cfg));
}

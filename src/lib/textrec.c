/* SPDX-License-Identifier: MIT */
/* Durable text records: the escaping, numbers, checksums and atomic replacement that the
 * run history and the lockout state both build their files from. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "advert/textrec.h"

static const char hex_digits[] = "0123456789abcdef";

/* Whether c is stored as itself; the backslash never is. */
static bool raw_ok(enum textrec_style style, unsigned char c)
{
	if (style == TEXTREC_TOKEN)
		return c > 0x20 && c < 0x7f;
	return c >= 0x20 && c != 0x7f;
}

int textrec_escape(enum textrec_style style, const char *value, size_t max, char *buf, size_t size,
		   size_t *len)
{
	size_t o = *len;
	for (size_t i = 0; i < max && value[i]; i++) {
		unsigned char c = (unsigned char)value[i];
		char esc[4];
		size_t n;
		if (c != '\\' && raw_ok(style, c)) {
			esc[0] = (char)c;
			n = 1;
		} else if (style == TEXTREC_LINE && (c == '\\' || c == '\n')) {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : '\\';
			n = 2;
		} else {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex_digits[c >> 4];
			esc[3] = hex_digits[c & 0xf];
			n = 4;
		}
		if (o > size || n > size - o)
			return -EOVERFLOW;
		memcpy(buf + o, esc, n);
		o += n;
	}
	*len = o;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int textrec_unescape(enum textrec_style style, const char *s, size_t n, char *dst, size_t size)
{
	if (size == 0)
		return -EOVERFLOW;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\') {
			if (i + 1 >= n)
				return -EBADMSG;
			char e = s[i + 1];
			if (e == 'x') {
				int hi = i + 3 < n ? hexval(s[i + 2]) : -1;
				int lo = i + 3 < n ? hexval(s[i + 3]) : -1;
				if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
					return -EBADMSG;
				c = (unsigned char)(hi * 16 + lo);
				i += 3;
			} else if (style == TEXTREC_LINE && (e == '\\' || e == 'n')) {
				c = e == 'n' ? '\n' : '\\';
				i += 1;
			} else {
				return -EBADMSG;
			}
		} else if (!raw_ok(style, c)) {
			return -EBADMSG;
		}
		if (o + 1 >= size)
			return -EOVERFLOW;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

int textrec_parse_int(const char *s, bool sign_ok, intmax_t min, intmax_t max, intmax_t *ret)
{
	bool neg = sign_ok && *s == '-';
	const char *p = s + neg;
	if (!*p || strlen(p) > 19)
		return -EINVAL;
	uintmax_t v = 0; /* 19 digits cannot overflow 64 bits */
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uintmax_t)(*p - '0');
	}
	if (v > (uintmax_t)INTMAX_MAX + neg)
		return -EINVAL;
	intmax_t x = neg ? (intmax_t)(0 - v) : (intmax_t)v;
	if (x < min || x > max)
		return -EINVAL;
	*ret = x;
	return 0;
}

void textrec_hex(const void *data, size_t len, char *hex, size_t n)
{
	const unsigned char *b = data;
	for (size_t i = 0; i < n; i++)
		hex[i] = i / 2 < len ? hex_digits[(b[i / 2] >> (i % 2 ? 0 : 4)) & 0xf] : '-';
	hex[n] = '\0';
}

void textrec_sha256_hex(const void *data, size_t len, char *hex, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || 2 * (size_t)mdlen < n) {
		memset(hex, '-', n);
		hex[n] = '\0';
	} else {
		textrec_hex(md, mdlen, hex, n);
	}
}

int textrec_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

static int tmp_name(const char *name, char tmp[NAME_MAX + 1])
{
	int k = snprintf(tmp, NAME_MAX + 1, "%s" TEXTREC_TMP_SUFFIX, name);
	return k < 0 || k > NAME_MAX ? -ENAMETOOLONG : 0;
}

int textrec_replace_open(int dfd, const char *name, int flags, mode_t mode)
{
	char tmp[NAME_MAX + 1];
	int r = tmp_name(name, tmp);
	if (r < 0)
		return r;
	int fd = openat(dfd, tmp, flags | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	return fd < 0 ? -errno : fd;
}

int textrec_replace_commit(int dfd, const char *name, int r)
{
	char tmp[NAME_MAX + 1];
	int k = tmp_name(name, tmp);
	if (k < 0)
		return r < 0 ? r : k; /* textrec_replace_open made no temp either */
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dfd, tmp, 0);
	return r;
}

int textrec_atomic_replace(int dfd, const char *name, const void *data, size_t len, mode_t mode)
{
	int fd = textrec_replace_open(dfd, name, O_WRONLY, mode);
	if (fd < 0)
		return fd;
	int r = textrec_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	r = textrec_replace_commit(dfd, name, r);
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	return r;
}

/* SPDX-License-Identifier: MIT */
/* Durable text records, the pieces the run history and the lockout state share: value
 * escaping, strict numbers, SHA-256 checksums in hex, and atomic file replacement. */
#ifndef ADVERT_TEXTREC_H
#define ADVERT_TEXTREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How a value is escaped; both forms use lower-case \xHH and never store a NUL. */
enum textrec_style {
	/* One space-free token (history): every byte outside 0x21..0x7e, and the backslash,
	 * as \xHH; only \xHH is read back, and only 0x21..0x7e raw. */
	TEXTREC_TOKEN,
	/* The rest of a line (lockout): \\ and \n, \xHH for the other control bytes and
	 * DEL; spaces and bytes from 0x80 stay as they are, and read back as they are. */
	TEXTREC_LINE,
};

/* Appends the first max bytes of value (fewer at its NUL), escaped in style, to buf at
 * *len, never writing at or past buf[size]. Returns 0 and advances *len, or -EOVERFLOW
 * leaving *len as it was. Adds no NUL. */
int textrec_escape(enum textrec_style style, const char *value, size_t max, char *buf, size_t size,
		   size_t *len) __attribute__((nonnull));

/* Undoes textrec_escape: the n bytes at s into dst, NUL-terminated. Returns 0, -EBADMSG
 * when s is not an escaped value of style (or would hold a NUL), or -EOVERFLOW when it
 * does not fit in size bytes with the NUL. */
int textrec_unescape(enum textrec_style style, const char *s, size_t n, char *dst, size_t size)
	__attribute__((nonnull, warn_unused_result));

/* Parses s as a strict decimal: digits only, at most 19, after a '-' only when sign_ok;
 * within [min, max]. Returns 0 and *ret, or -EINVAL. */
int textrec_parse_int(const char *s, bool sign_ok, intmax_t min, intmax_t max, intmax_t *ret)
	__attribute__((nonnull, warn_unused_result));

/* Writes the first n lower-case hex digits of the len bytes at data, and a NUL, into hex
 * (n + 1 bytes); digits past the data are '-'. */
void textrec_hex(const void *data, size_t len, char *hex, size_t n) __attribute__((nonnull));

/* The first n (at most 64) hex digits of the SHA-256 of data, and a NUL, into hex. If
 * libcrypto fails, n '-' instead: a checksum nobody matches, so the record reads as
 * damaged rather than wrongly trusted. */
void textrec_sha256_hex(const void *data, size_t len, char *hex, size_t n) __attribute__((nonnull));

/* Writes all len bytes to fd, retrying on EINTR. Returns 0 or -errno. */
int textrec_write_all(int fd, const void *data, size_t len) __attribute__((nonnull));

/* A replacement of dfd/<name> is written to dfd/<name> TEXTREC_TMP_SUFFIX first. The
 * fixed name is only safe while the caller holds a lock that keeps other writers out. */
#define TEXTREC_TMP_SUFFIX ".tmp"

/* Opens the temp file for a replacement of dfd/<name>: created with mode, or a stale one
 * truncated (it keeps its own mode); never through a link. flags: O_WRONLY or O_RDWR,
 * optionally O_APPEND. Returns the descriptor (the caller closes it) or -errno. */
int textrec_replace_open(int dfd, const char *name, int flags, mode_t mode)
	__attribute__((nonnull, warn_unused_result));

/* Ends a replacement opened with textrec_replace_open, whose temp the caller has written
 * and fsync'd: with r == 0 renames it over dfd/<name>; when r < 0 (the caller's writing
 * failed) or the rename fails, removes it, and dfd/<name> stays as it was. The caller
 * fsyncs dfd when the new name must survive a crash. Returns 0 or -errno (r if r < 0). */
int textrec_replace_commit(int dfd, const char *name, int r) __attribute__((nonnull));

/* The whole replacement of a small file: writes data to the temp (mode), fsyncs and
 * closes it, renames it over dfd/<name> and fsyncs dfd. Returns 0, or -errno: if the
 * rename did not happen dfd/<name> is untouched and no temp is left; a failure of the
 * final directory sync is returned too, with the new content already in place. */
int textrec_atomic_replace(int dfd, const char *name, const void *data, size_t len, mode_t mode)
	__attribute__((nonnull, warn_unused_result));

#endif

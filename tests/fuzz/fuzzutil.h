/* SPDX-License-Identifier: MIT */
/* What the fuzz targets share: a private scratch directory that passes the trust check,
 * files written from fuzz input, and a loud abort when an oracle fails. */
#ifndef ADVERT_FUZZUTIL_H
#define ADVERT_FUZZUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir_path[4096];

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void fuzz_dir_remove(void)
{
	if (fuzz_dir_path[0])
		nftw(fuzz_dir_path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A directory of our own under $TMPDIR (or /tmp), made once and removed at exit. Mode
 * 0755 and owned by us (root when the trust rules are to pass): configuration is only read
 * from files that no one but root can change, nor any directory above them. */
static inline const char *fuzz_dir(void)
{
	if (fuzz_dir_path[0])
		return fuzz_dir_path;
	const char *tmp = getenv("TMPDIR");
	snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "%s/advertd-fuzz-XXXXXX",
		 tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(fuzz_dir_path) || chmod(fuzz_dir_path, 0755) < 0) {
		perror("fuzz: cannot make a scratch directory");
		abort();
	}
	atexit(fuzz_dir_remove);
	return fuzz_dir_path;
}

/* fuzz_dir()/name, written into buf. */
static inline const char *fuzz_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", fuzz_dir(), name);
	return buf;
}

/* Writes all of data to fd from offset 0 and cuts the file there. */
static inline void fuzz_fill(int fd, const void *data, size_t size)
{
	const char *p = data;
	size_t done = 0;
	if (ftruncate(fd, 0) < 0)
		abort();
	while (done < size) {
		ssize_t k = pwrite(fd, p + done, size - done, (off_t)done);
		if (k <= 0)
			abort();
		done += (size_t)k;
	}
}

/* Replaces the file at path with data, mode as given (umask aside). */
static inline void fuzz_write(const char *path, const void *data, size_t size, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0 || fchmod(fd, mode) < 0) {
		perror(path);
		abort();
	}
	fuzz_fill(fd, data, size);
	close(fd);
}

/* A NUL-terminated copy of the input, malloc'd to exactly its size plus the NUL, so that
 * AddressSanitizer sees any read past it. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* An oracle failed: say which, then abort so libFuzzer keeps the input. */
static inline void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz oracle failed: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

#endif

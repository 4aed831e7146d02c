/* SPDX-License-Identifier: MIT */
/* Trust checks for configuration paths, as cron and sudo do them: only root may be able
 * to change what advertd reads, or any local user could run programs as root. */
#ifndef ADVERT_TRUST_H
#define ADVERT_TRUST_H

#include <sys/stat.h>
#include <sys/types.h>

enum trust_kind { TRUST_FILE, TRUST_DIRECTORY };

/* Checks that path is a regular file (or directory, per kind) owned by root and not
 * writable by group or others, and that every directory above it, up to /, is owned by
 * root and not writable by group or others (a root-owned sticky directory such as /tmp
 * is accepted: nobody else can rename what root put there). A symlink is followed, and
 * its target must pass the same test. Returns 0; or a negative errno with *ret_reason
 * set to a malloc'd sentence that names the offending path (caller frees). */
int trust_check(const char *path, enum trust_kind kind, char **ret_reason)
	__attribute__((nonnull, warn_unused_result));

/* The same test for one entry of a directory that already passed trust_check, from the
 * lstat the caller took: a regular file owned by root, not writable by group or others.
 * A symlink is not decided here (-EAGAIN: use trust_check). Returns 0 or -EPERM with
 * *ret_reason set as trust_check does. */
int trust_check_entry(const char *path, const struct stat *st, char **ret_reason)
	__attribute__((nonnull, warn_unused_result));

#endif

/* SPDX-License-Identifier: MIT */
/* Hiding paths from a process that runs as root: a private mount namespace in which
 * each path is covered (a file by /dev/null, a directory by an empty read-only tmpfs).
 * An admin-rights run uses it so that its program, root for the run, reaches no
 * credentials but the installation account's: not the host's keytab, not advertd's
 * state, not any other account's secret. It keeps honest programs and their tools
 * (kinit -k, GSSAPI's default keytab) away from them; a program given root that sets
 * out to undo the masks can, as root can do anything. */
#ifndef ADVERT_MASK_H
#define ADVERT_MASK_H

#include <stddef.h>

/* Moves this process into a new mount namespace (propagation private, so nothing
 * leaks back) and covers each of the n paths that exists; missing ones are skipped.
 * Returns 0, or -errno with *why naming the step (caller frees). Root only. */
int mask_paths(const char *const *paths, size_t n, char **why);

#endif

/* SPDX-License-Identifier: MIT */
/* Private mount namespace and covered paths: see advert/mask.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "advert/mask.h"

static int failed(char **why, const char *step, const char *path)
{
	int e = errno;
	if (asprintf(why, "%s%s%s: %s", step, path ? " " : "", path ? path : "", strerror(e)) < 0)
		*why = NULL;
	return -e;
}

int mask_paths(const char *const *paths, size_t n, char **why)
{
	*why = NULL;
	if (unshare(CLONE_NEWNS) < 0)
		return failed(why, "unshare(CLONE_NEWNS)", NULL);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return failed(why, "making / private", NULL);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (!paths[i] || lstat(paths[i], &st) < 0) {
			if (paths[i] && errno != ENOENT)
				return failed(why, "lstat", paths[i]);
			continue;
		}
		/* A symlink is covered where it points: that is what a program would open. */
		if (S_ISLNK(st.st_mode) && stat(paths[i], &st) < 0)
			continue;
		int r = S_ISDIR(st.st_mode) ? mount("advertd-mask", paths[i], "tmpfs",
						    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
						    "mode=000,size=4k")
					    : mount("/dev/null", paths[i], NULL, MS_BIND, NULL);
		if (r < 0)
			return failed(why, "covering", paths[i]);
		/* A bind mount takes its flags only on a remount. */
		if (!S_ISDIR(st.st_mode) &&
		    mount(NULL, paths[i], NULL,
			  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
			return failed(why, "making read-only", paths[i]);
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* mask_paths: inside the new namespace the paths read as nothing; outside, nothing
 * changed. Needs root (unshare, mount). */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "advert/mask.h"
#include "testutil.h"

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d)
		closedir(d);
	return n;
}

static off_t size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_masks_in_child_only(void)
{
	char *dir = tu_mkdtemp();
	char *secret = tu_write(dir, "keytab", 0600, "host secret");
	char *state = NULL;
	CU_ASSERT_FATAL(asprintf(&state, "%s/state", dir) > 0);
	CU_ASSERT_FATAL(mkdir(state, 0700) == 0);
	free(tu_write(state, "guard", 0600, "in-flight"));
	char *missing = NULL;
	CU_ASSERT_FATAL(asprintf(&missing, "%s/not-there", dir) > 0);

	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		const char *paths[] = { secret, state, missing };
		char *why = NULL;
		if (mask_paths(paths, 3, &why) < 0)
			_exit(10);
		if (size_of(secret) != 0)
			_exit(11); /* the file reads as /dev/null */
		if (entries(state) != 0)
			_exit(12); /* the directory is empty */
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/x", state);
		if (access(missing, F_OK) == 0 || mkdir(sub, 0700) == 0)
			_exit(13); /* the missing path stayed missing; the tmpfs is read-only */
		_exit(0);
	}
	int status = 0;
	CU_ASSERT(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	/* The parent's view is untouched. */
	CU_ASSERT_EQUAL(size_of(secret), (off_t)strlen("host secret"));
	CU_ASSERT_EQUAL(entries(state), 1);
	tu_rmtree(dir);
	free(dir);
	free(secret);
	free(state);
	free(missing);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "masks only in the child's namespace", test_masks_in_child_only },
		{ NULL, NULL },
	};
	return tu_run_as_root("mask", tests);
}

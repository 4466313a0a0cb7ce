// SPDX-License-Identifier: GPL-2.0-or-later
/* devsimenv.c - see devsimenv.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devsimenv.h"

int devsim_env_read(const char *path, struct devsim_env *ret)
{
	char line[PATH_MAX + 64];
	FILE *f = fopen(path, "re");

	memset(ret, 0, sizeof(*ret));
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *v = strchr(line, '=');

		if (v == NULL)
			continue;
		*v++ = '\0';
		v[strcspn(v, "\n")] = '\0';
		if (!strcmp(line, "UMOCKDEV_DIR"))
			snprintf(ret->umockdev_dir, sizeof(ret->umockdev_dir), "%s", v);
		else if (!strcmp(line, "LD_PRELOAD"))
			snprintf(ret->preload, sizeof(ret->preload), "%s", v);
		else if (!strcmp(line, "DEVSIM_DIR"))
			snprintf(ret->devsim_dir, sizeof(ret->devsim_dir), "%s", v);
		else if (!strcmp(line, "DEVSIM_CONTROL"))
			snprintf(ret->control, sizeof(ret->control), "%s", v);
	}
	fclose(f);
	return ret->umockdev_dir[0] && ret->preload[0] && ret->devsim_dir[0] && ret->control[0] ?
	       0 : -EPROTO;
}

int devsim_build_dir(char *buf, size_t len, unsigned int depth)
{
	const char *env = getenv("TWITCH_BUILD");
	char exe[PATH_MAX];
	ssize_t n;
	char *p;

	if (env != NULL && *env != '\0') {
		snprintf(buf, len, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -errno;
	exe[n] = '\0';
	while (depth--) {
		p = strrchr(exe, '/');
		if (p == NULL)
			return -ENOENT;
		*p = '\0';
	}
	snprintf(buf, len, "%s", exe);
	return 0;
}

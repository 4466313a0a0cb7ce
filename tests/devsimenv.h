/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * devsimenv.h - what tests and benchmarks need to run programs against a
 * twitch-devsim testbed: the environment its --env-file publishes, and
 * where the built binaries are.
 */
#ifndef TWITCH_TESTS_DEVSIMENV_H
#define TWITCH_TESTS_DEVSIMENV_H

#include <limits.h>
#include <stddef.h>

struct devsim_env {
	char umockdev_dir[PATH_MAX];	/* UMOCKDEV_DIR for the programs under test */
	char preload[PATH_MAX];		/* LD_PRELOAD (umockdev's) */
	char devsim_dir[PATH_MAX];	/* DEVSIM_DIR: events.log and the like */
	char control[PATH_MAX];		/* DEVSIM_CONTROL: the control socket */
};

/* Read @path (KEY=VALUE lines). Return 0, -errno, or -EPROTO if a key is missing. */
int devsim_env_read(const char *path, struct devsim_env *ret);

/*
 * devsim_build_dir() - $TWITCH_BUILD, else the directory @depth levels
 * above this executable (2 for BUILD/tests/NAME, 3 for
 * BUILD/tests/bench/NAME). Return 0 or -errno.
 */
int devsim_build_dir(char *buf, size_t len, unsigned int depth);

#endif

// SPDX-License-Identifier: MIT
/*
 * sysfs.c - IIO devices read straight from /sys/bus/iio/devices.
 *
 * Small, careful file helpers: every read is bounded and stripped the way
 * the kernel's sysfs_streq() would see it, every number goes through
 * strtol with end-pointer checks, every fd is O_CLOEXEC. Used for the local
 * buffer controls of all profiles and for discovery when libiio 0.24 cannot
 * create a local context (libiio issue #948).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysfs.h"

static int sysfs_path(char *buf, size_t len, const char *dir, const char *file)
{
	int n = snprintf(buf, len, "%s/%s", dir, file);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int sysfs_read(const char *dir, const char *file, char *buf, size_t len)
{
	char path[SYSFS_PATH_MAX];
	ssize_t n;
	int fd, err;

	if (len == 0)
		return -EINVAL;
	err = sysfs_path(path, sizeof(path), dir, file);
	if (err < 0)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		n = read(fd, buf, len - 1);
	} while (n < 0 && errno == EINTR);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err < 0)
		return err;
	if ((size_t)n == len - 1)
		return -EOVERFLOW;	/* cut: "28.6..." must not read as "0.00028" */
	buf[n] = '\0';
	n = (ssize_t)strlen(buf);	/* a NUL written by a libiio client */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return (int)n;
}

int sysfs_write(const char *dir, const char *file, const char *value)
{
	char path[SYSFS_PATH_MAX];
	size_t len = strlen(value);
	ssize_t n;
	int fd, err;

	err = sysfs_path(path, sizeof(path), dir, file);
	if (err < 0)
		return err;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* sysfs takes one write() per value; a short one is an error */
	do {
		n = write(fd, value, len);
	} while (n < 0 && errno == EINTR);
	err = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	if (close(fd) < 0 && err == 0 && errno != EINTR)
		err = -errno;		/* sysfs may report the store's error here */
	return err;
}

bool sysfs_exists(const char *dir, const char *file)
{
	char path[SYSFS_PATH_MAX];

	return sysfs_path(path, sizeof(path), dir, file) == 0 &&
	       access(path, F_OK) == 0;
}

const char *sysfs_id(const char *dir)
{
	const char *slash = strrchr(dir, '/');

	return slash != NULL ? slash + 1 : dir;
}

static int sysfs_id_num(const char *name)
{
	char *end;
	long v;

	if (strncmp(name, "iio:device", 10) != 0)
		return -1;
	errno = 0;
	v = strtol(name + 10, &end, 10);
	if (errno != 0 || end == name + 10 || *end != '\0' || v < 0 || v > 1 << 20)
		return -1;
	return (int)v;
}

int sysfs_find_device(const char *key, sysfs_accept_fn *accept, void *userdata,
		      char *ret_dir, size_t dir_len)
{
	char dir[SYSFS_PATH_MAX], name[128], label[128];
	int best = -1, num;
	struct dirent *de;
	DIR *dp;

	dp = opendir(SYSFS_IIO_DEVICES);
	if (dp == NULL)
		return errno == ENOENT ? -ENODEV : -errno;
	/* readdir order is arbitrary: take the lowest matching number */
	while ((de = readdir(dp)) != NULL) {
		num = sysfs_id_num(de->d_name);
		if (num < 0 || (best >= 0 && num > best))
			continue;
		if (sysfs_path(dir, sizeof(dir), SYSFS_IIO_DEVICES, de->d_name) < 0)
			continue;
		if (sysfs_read(dir, "name", name, sizeof(name)) < 0)
			name[0] = '\0';
		if (sysfs_read(dir, "label", label, sizeof(label)) < 0)
			label[0] = '\0';
		if (key != NULL ? strcmp(key, de->d_name) == 0 ||
				  strcmp(key, name) == 0 ||
				  (label[0] != '\0' && strcmp(key, label) == 0)
				: accept == NULL || accept(name, userdata))
			best = num;
	}
	closedir(dp);
	if (best < 0)
		return -ENODEV;
	if ((size_t)snprintf(ret_dir, dir_len, "%s/iio:device%d", SYSFS_IIO_DEVICES,
			     best) >= dir_len)
		return -ENAMETOOLONG;
	return 0;
}

static int sysfs_elem_cmp(const void *a, const void *b)
{
	const struct sysfs_elem *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

static int sysfs_parse_index(const char *s, int32_t *ret)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EBADMSG;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > INT32_MAX)
		return -EBADMSG;
	*ret = (int32_t)v;
	return 0;
}

int sysfs_scan_elements(const char *dir, struct sysfs_elem *ret, size_t max,
			char *ret_bad, size_t bad_len)
{
	char sdir[SYSFS_PATH_MAX], file[SYSFS_PREFIX_MAX + 8], buf[64];
	struct dirent *de;
	size_t n = 0;
	int err = 0;
	DIR *dp;

	err = sysfs_path(sdir, sizeof(sdir), dir, "scan_elements");
	if (err < 0)
		return err;
	dp = opendir(sdir);
	if (dp == NULL)
		return errno == ENOENT ? 0 : -errno;	/* no buffer: no elements */
	while ((de = readdir(dp)) != NULL) {
		size_t len = strlen(de->d_name);
		struct sysfs_elem *e;

		if (len <= 5 || strcmp(de->d_name + len - 5, "_type") != 0)
			continue;
		if (len - 5 >= SYSFS_PREFIX_MAX) {
			err = -ENAMETOOLONG;
			break;
		}
		if (n == max) {
			err = -E2BIG;
			break;
		}
		e = &ret[n];
		memset(e, 0, sizeof(*e));
		memcpy(e->prefix, de->d_name, len - 5);
		snprintf(ret_bad, bad_len, "scan_elements/%s", de->d_name);
		err = sysfs_read(sdir, de->d_name, buf, sizeof(buf));
		if (err >= 0)
			err = scan_type_parse(buf, &e->type) < 0 ? -EBADMSG : 0;
		if (err < 0)
			break;
		snprintf(file, sizeof(file), "%s_index", e->prefix);
		snprintf(ret_bad, bad_len, "scan_elements/%s", file);
		err = sysfs_read(sdir, file, buf, sizeof(buf));
		if (err >= 0)
			err = sysfs_parse_index(buf, &e->index);
		if (err < 0)
			break;
		snprintf(file, sizeof(file), "%s_en", e->prefix);
		snprintf(ret_bad, bad_len, "scan_elements/%s", file);
		err = sysfs_read(sdir, file, buf, sizeof(buf));
		if (err < 0)
			break;
		e->enabled = buf[0] == '1';
		n++;
	}
	closedir(dp);
	if (err < 0)
		return err;
	if (ret_bad != NULL && bad_len > 0)
		ret_bad[0] = '\0';
	qsort(ret, n, sizeof(*ret), sysfs_elem_cmp);
	return (int)n;
}

int sysfs_open_node(const char *id)
{
	char path[SYSFS_PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "/dev/%s", id) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

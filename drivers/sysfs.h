/* SPDX-License-Identifier: MIT */
/*
 * sysfs.h - IIO devices read straight from /sys/bus/iio/devices.
 *
 * The local data path of every profile (scan_elements/<x>_en, buffer/length,
 * buffer/watermark, buffer/enable, the /dev node), and the whole of device
 * discovery when libiio 0.24 cannot build a local context: it refuses the
 * machine (EINVAL, libiio issue #948) as soon as one device has two buffered
 * channels that differ only by extend_name, as the mainline AD5933's
 * in_voltage_real_* and in_voltage_imag_* do.
 * Paths go through libc (fopen/open/opendir), so umockdev redirects them.
 */
#ifndef TWITCH_DRIVERS_SYSFS_H
#define TWITCH_DRIVERS_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scan.h"

#define SYSFS_IIO_DEVICES	"/sys/bus/iio/devices"
#define SYSFS_PATH_MAX		512
#define SYSFS_PREFIX_MAX	48

/* A scan element as sysfs shows it. */
struct sysfs_elem {
	char prefix[SYSFS_PREFIX_MAX];	/* "in_voltage0", "in_voltage_real" */
	int32_t index;
	struct scan_type type;
	bool enabled;
};

/*
 * sysfs_find_device() - the device whose id ("iio:device3"), name or label
 * is @key, in id order; with @key NULL, the first whose name @accept
 * accepts. Triggers (no /dev node) are skipped.
 * Return: 0 and the directory in @ret_dir, or -ENODEV, -errno.
 */
typedef bool sysfs_accept_fn(const char *name, void *userdata);
int sysfs_find_device(const char *key, sysfs_accept_fn *accept, void *userdata,
		      char *ret_dir, size_t dir_len);

/* Read @dir/@file, trailing newline/NULs cut. Return: length, or -errno. */
int sysfs_read(const char *dir, const char *file, char *buf, size_t len);

/* Write @value (no NUL, as echo does) to @dir/@file. Return: 0 or -errno. */
int sysfs_write(const char *dir, const char *file, const char *value);

/* true if @dir/@file exists */
bool sysfs_exists(const char *dir, const char *file);

/*
 * sysfs_scan_elements() - every scan_elements/<prefix>_{index,type,en}.
 * Return: the number found (<= @max, sorted by index), or -errno
 * (-EBADMSG with the file name in @ret_bad when a file is unparsable).
 */
int sysfs_scan_elements(const char *dir, struct sysfs_elem *ret, size_t max,
			char *ret_bad, size_t bad_len);

/* basename of @dir: "iio:device3" */
const char *sysfs_id(const char *dir);

/*
 * sysfs_open_node() - open /dev/<id> read-only, non-blocking, close-on-exec,
 * with libc open() (so umockdev's preload sees it; io_uring's openat would
 * not). Return: fd, or -errno (-EBUSY: someone else has the buffer).
 */
int sysfs_open_node(const char *id);

#endif

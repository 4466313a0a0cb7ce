/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * calstore.h - keep a bioimpedance calibration across restarts of twitchd.
 *
 * A cart is calibrated once against a known resistor; a daemon restart
 * (an update, a crash, a reboot) must not silently leave it uncalibrated
 * or make the nurse do it again. One small text file per device in
 * twitchd's state directory, written atomically (temporary file, fsync,
 * rename), read strictly: a damaged or foreign file is ignored with one
 * message naming the file and line, never half-used.
 */
#ifndef TWITCHD_CALSTORE_H
#define TWITCHD_CALSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "bioz.h"

struct calstore_info {
	double resistor_ohm;
	uint64_t t_real_ns;		/* when it was made, CLOCK_REALTIME */
};

/* Write @cal (n points) for device @dev into @dir. Return 0 or -errno, @err says what. */
int calstore_save(const char *dir, const char *dev, const struct bioz_cal_point *cal, size_t n,
		  const struct calstore_info *info, char *err, size_t err_size);
/*
 * calstore_load() - read device @dev's calibration from @dir into @cal
 * (room for @max points). Return: the number of points, -ENOENT if there is
 * none, -EINVAL for a damaged file (@err: file, line, what), -errno.
 */
int calstore_load(const char *dir, const char *dev, struct bioz_cal_point *cal, size_t max,
		  struct calstore_info *ret_info, char *err, size_t err_size);

#endif

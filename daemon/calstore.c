// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * calstore.c - a bioimpedance calibration on disk (see calstore.h).
 *
 * Format, one item per line:
 *   twitchd-calibration 1
 *   device NAME
 *   resistor_ohm R
 *   time_real_ns T
 *   points N
 *   FREQ_HZ GAIN SYS_PHASE_RAD      (N lines, frequencies rising, %.17g)
 *   end
 * The "end" line makes a file cut short by a crash detectable even if the
 * rename was not preceded by a complete write (it always is: fsync first).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calstore.h"

#define MAGIC	"twitchd-calibration 1"

static int path_of(const char *dir, const char *dev, const char *suffix, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/calibration-%s%s", dir, dev, suffix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int calstore_save(const char *dir, const char *dev, const struct bioz_cal_point *cal, size_t n,
		  const struct calstore_info *info, char *err, size_t err_size)
{
	char tmp[512], path[512];
	FILE *f;
	size_t i;
	int fd, e = 0;

	if (path_of(dir, dev, ".tmp", tmp, sizeof(tmp)) < 0 ||
	    path_of(dir, dev, "", path, sizeof(path)) < 0) {
		snprintf(err, err_size, "state directory %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		e = errno;
		snprintf(err, err_size, "%s: %s", tmp, strerror(e));
		return -e;
	}
	f = fdopen(fd, "w");
	if (!f) {
		e = errno;
		close(fd);
		unlink(tmp);
		snprintf(err, err_size, "%s: %s", tmp, strerror(e));
		return -e;
	}
	fprintf(f, MAGIC "\ndevice %s\nresistor_ohm %.17g\ntime_real_ns %" PRIu64 "\npoints %zu\n",
		dev, info->resistor_ohm, info->t_real_ns, n);
	for (i = 0; i < n; i++)
		fprintf(f, "%.17g %.17g %.17g\n", cal[i].freq_hz, cal[i].gain, cal[i].sys_phase_rad);
	fprintf(f, "end\n");
	if (fflush(f) != 0 || ferror(f) || fsync(fd) < 0)
		e = errno ? errno : EIO;
	if (fclose(f) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, err_size, "%s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

static int bad(char *err, size_t err_size, const char *path, unsigned int line, const char *what)
{
	snprintf(err, err_size, "%s:%u: %s", path, line, what);
	return -EINVAL;
}

int calstore_load(const char *dir, const char *dev, struct bioz_cal_point *cal, size_t max,
		  struct calstore_info *ret_info, char *err, size_t err_size)
{
	struct calstore_info info = { 0 };
	char path[512], line[256], name[64];
	unsigned int ln = 0;
	size_t n = 0, i;
	FILE *f;
	int fd, rc = -EINVAL;

	if (path_of(dir, dev, "", path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
#define NEXT() (ln++, fgets(line, sizeof(line), f) != NULL && strchr(line, '\n'))
	if (!NEXT() || strcmp(line, MAGIC "\n")) {
		rc = bad(err, err_size, path, ln, "not a twitchd calibration (first line)");
		goto out;
	}
	if (!NEXT() || sscanf(line, "device %63s", name) != 1 || strcmp(name, dev)) {
		rc = bad(err, err_size, path, ln, "not this device's");
		goto out;
	}
	if (!NEXT() || sscanf(line, "resistor_ohm %lf", &info.resistor_ohm) != 1 ||
	    !(info.resistor_ohm >= 1 && info.resistor_ohm <= 1e6)) {
		rc = bad(err, err_size, path, ln, "resistor_ohm missing or out of 1..1e6");
		goto out;
	}
	if (!NEXT() || sscanf(line, "time_real_ns %" SCNu64, &info.t_real_ns) != 1) {
		rc = bad(err, err_size, path, ln, "time_real_ns missing");
		goto out;
	}
	if (!NEXT() || sscanf(line, "points %zu", &n) != 1 || n < 2 || n > max) {
		rc = bad(err, err_size, path, ln, "points missing or out of range");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct bioz_cal_point p;
		char extra;

		if (!NEXT() || sscanf(line, "%lf %lf %lf %c", &p.freq_hz, &p.gain,
				      &p.sys_phase_rad, &extra) != 3 ||
		    !isfinite(p.freq_hz) || !(p.freq_hz > 0) || !isfinite(p.gain) ||
		    !(p.gain > 0) || !isfinite(p.sys_phase_rad) ||
		    (i > 0 && !(p.freq_hz > cal[i - 1].freq_hz))) {
			rc = bad(err, err_size, path, ln, "not a point (FREQ GAIN PHASE, rising)");
			goto out;
		}
		cal[i] = p;
	}
	if (!NEXT() || strcmp(line, "end\n")) {
		rc = bad(err, err_size, path, ln, "cut short (no end line)");
		goto out;
	}
#undef NEXT
	*ret_info = info;
	rc = (int)n;
out:
	fclose(f);
	return rc;
}

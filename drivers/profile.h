/* SPDX-License-Identifier: MIT */
/*
 * profile.h - the one interface between twitchd and its IIO front ends.
 *
 * profile_open() finds a device (libiio context; for local devices that
 * libiio 0.24 cannot parse, sysfs read directly), applies a profile for its
 * kernel driver (ti-ads1298, ti-ads131e08, ad5933, generic) and reads every
 * scale, offset and scan type from the device. device_start() enables the
 * buffer and hands back one fd for the daemon's io_uring loop:
 *   - local devices: /dev/iio:deviceN itself, opened with libc open()
 *     (O_RDONLY|O_NONBLOCK|O_CLOEXEC, so umockdev sees it); read it after
 *     POLLIN, feed what read() returned to device_decode(). read() == 0 or
 *     -ENODEV means the device is gone.
 *   - remote devices (ip:HOST[:PORT], libiio network backend): an eventfd
 *     (EFD_CLOEXEC|EFD_NONBLOCK) that a refill thread signals per block; read
 *     the eventfd, then device_take_block()/device_release_block().
 * The daemon must ignore SIGPIPE before opening a remote device: libiio
 * 0.24 sends without MSG_NOSIGNAL and a dropped connection kills the
 * process otherwise. libiio itself prints to stderr; nothing here logs.
 *
 * Nothing here is thread-safe: one thread (the loop) owns a struct device.
 * device_decode() allocates nothing and makes no syscall.
 */
#ifndef TWITCH_DRIVERS_PROFILE_H
#define TWITCH_DRIVERS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scan.h"

#define DEVICE_MAX_CHANNELS	64	/* enabled data channels of one device */
#define DEVICE_ID_MAX		32
#define DEVICE_NAME_MAX		64

enum device_role {
	DEVICE_ROLE_EMG,	/* biopotential voltage, decoded to uV */
	DEVICE_ROLE_BIOZ_REAL,	/* AD5933 DFT real word, raw counts */
	DEVICE_ROLE_BIOZ_IMAG,	/* AD5933 DFT imaginary word, raw counts */
	DEVICE_ROLE_OTHER,	/* generic: (raw + offset) * scale * unit factor */
};

enum device_transport {
	DEVICE_TRANSPORT_CHARDEV,	/* fd is the char device: read() it */
	DEVICE_TRANSPORT_BLOCKS,	/* fd is an eventfd: device_take_block() */
};

/* Generic profile: what a channel is, from the config file. */
struct device_channel_config {
	const char *id;			/* libiio channel id: "voltage3" */
	enum device_role role;
	const char *unit;		/* output unit name, e.g. "uV" */
	double unit_per_iio;		/* output unit per IIO unit (mV -> uV: 1000) */
	const char *label;		/* NULL: the device's label or the id */
};

/* AD5933 sweep settings; 0 (or NULL) leaves the device's value. */
struct device_sweep_config {
	uint32_t start_hz;		/* <= 100000 */
	uint32_t increment_hz;
	uint32_t n_increments;		/* points per sweep = n_increments + 1, <= 511 */
	uint32_t settling_cycles;	/* <= 2047 */
	uint32_t excitation_mv;		/* one of out_altvoltage0_scale_available */
	uint32_t pga_gain;		/* 1 or 5 (in_voltage0_scale "1" / "0.2") */
};

struct device_config {
	const char *uri;		/* "local:" (NULL = local:) or "ip:HOST[:PORT]";
					 * copied before libiio sees it */
	const char *device;		/* id ("iio:device0"), name or label; NULL:
					 * the first device the profile matches */
	const char *profile;		/* "ti-ads1298", "ti-ads131e08", "ad5933",
					 * "generic"; NULL or "auto": by driver name */
	uint32_t rate_hz;		/* wanted sampling rate, 0 = leave it */
	const char *const *channels;	/* channel ids to enable; NULL = all data */
	size_t n_channels;
	uint32_t block_scans;		/* scans per wakeup (watermark / refill);
					 * 0 = about 50 ms worth */
	uint32_t buffer_scans;		/* kernel buffer/length; 0 = 4 blocks */
	bool no_timestamp;		/* don't enable in_timestamp even if present */
	const struct device_channel_config *chan_cfg;	/* generic profile */
	size_t n_chan_cfg;
	struct device_sweep_config sweep;	/* ad5933 */
	unsigned int timeout_ms;	/* remote: libiio timeout, 0 = 5000 */
};

/*
 * Where and why profile_open()/device_start() failed, enough for one clear
 * message (profile_strerror(): "where: what: msg").
 */
struct profile_error {
	char where[256];		/* "local: iio:device1 (ads1298)" */
	char what[96];			/* attribute or step: "in_voltage0_scale" */
	char msg[224];
};

/* One enabled data channel, in scan order (= the columns of decoded values). */
struct device_channel {
	char id[DEVICE_ID_MAX];		/* "voltage0", "voltage_real" */
	char label[DEVICE_NAME_MAX];	/* <prefix>_label if the driver has one, else id */
	int32_t index;			/* scan_elements index */
	enum device_role role;
	char unit[16];			/* "uV", "count", ... */
	double scale;			/* _scale as read from the device (IIO units) */
	double offset;			/* _offset as read, 0 if none */
	double gain;			/* out = (raw + offset) * gain */
	struct scan_type type;		/* as read from scan_elements/<x>_type */
};

struct device_info {
	char id[DEVICE_ID_MAX];		/* "iio:device0" */
	char name[DEVICE_NAME_MAX];	/* driver name: "ads1298" */
	char profile[DEVICE_ID_MAX];	/* "ti-ads1298" */
	char uri[128];
	enum device_transport transport;
	bool via_sysfs;			/* libiio could not parse this machine (#948) */
	double rate_hz;			/* read back after writing; 0 for ad5933 */
	uint32_t block_scans;
	uint32_t buffer_scans;
	size_t n_channels;		/* values per decoded scan */
	const struct device_channel *channels;
	bool has_timestamp;		/* decoded into out_ts */
	char timestamp_clock[16];	/* "monotonic" once we set it, else as read */
	const struct scan_layout *layout;	/* the kernel's scan layout */
	uint32_t sweep_points;		/* ad5933: scans per start; 0 = continuous */
	/*
	 * ad5933, read back at open (0 for other profiles): the analog
	 * settings a gain-factor calibration holds for, since they scale the
	 * DFT words (range 2-10x, PGA 5x). excitation_mv: the output range in
	 * mV p-p (out_altvoltage0_raw, older kernels out_voltage0_scale; one
	 * of ..._scale_available, 1980 970 383 198 at 3.3 V). pga_gain: 1 or 5
	 * (in_voltage0_scale "1" or "0.2").
	 */
	uint32_t excitation_mv;
	uint32_t pga_gain;
};

struct device;

/*
 * profile_open() - find, match and configure a device; no streaming yet.
 * Blocks on sysfs or network I/O. On failure fills @err (may be NULL).
 * Return: 0 and *ret (caller owns; device_free()), or -errno: -ENODEV (no
 * such device), -ENOTSUP (profile does not fit the device), -ERANGE (rate
 * or sweep value the device cannot do), -EBADMSG (the device shows
 * something unparsable), -EINVAL (bad config), or an I/O error.
 */
int profile_open(const struct device_config *cfg, struct device **ret,
		 struct profile_error *err);

/*
 * device_start() - enable the channels and the buffer.
 * Return: 0 and the fd to wait on in *ret_fd (owned by @dev, valid until
 * device_stop()), or -errno. For the AD5933 each start is one sweep.
 */
int device_start(struct device *dev, int *ret_fd, struct profile_error *err);

/* device_stop() - disable the buffer, close the fd. Safe to call twice. */
int device_stop(struct device *dev);

/* device_free() - stop if needed and free; NULL-safe; returns NULL. */
struct device *device_free(struct device *dev);

const struct device_info *device_get_info(const struct device *dev);

/* Scans device_decode() can return for @n_bytes (size `out` with it). */
size_t device_max_scans(const struct device *dev, size_t n_bytes);

/*
 * device_decode() - bytes as read (any split) to values.
 * @out: scans x info->n_channels, scan-major, in each channel's unit.
 * @out_ts: scans timestamps (ns, info->timestamp_clock), or NULL.
 * A partial scan at the end is kept for the next call.
 * Return: scans decoded, or -ENOBUFS if @cap_scans < device_max_scans().
 */
int device_decode(struct device *dev, const void *bytes, size_t n_bytes,
		  double *out, int64_t *out_ts, size_t cap_scans);

/*
 * Remote devices (DEVICE_TRANSPORT_BLOCKS). After the eventfd fires:
 * device_take_block() gives the oldest filled block (0), -EAGAIN if none,
 * or the refill's -errno once the stream broke (-EPIPE, -ECONNRESET,
 * -ETIMEDOUT...: device_stop(), then reopen). Release each block taken.
 * @ret_lost: blocks the refill thread had to drop (we were slow) just before
 * this one; with the stream's error, those dropped since the last block.
 */
int device_take_block(struct device *dev, const void **ret_data,
		      size_t *ret_len, uint64_t *ret_lost);
void device_release_block(struct device *dev);

/*
 * device_attr_read() - read any attribute by its sysfs file name relative to
 * the device ("sampling_frequency", "in_voltage0_scale", "buffer/length"),
 * through libiio or sysfs, trailing newline removed.
 * Return: length, or -errno.
 */
int device_attr_read(struct device *dev, const char *file, char *buf, size_t len);

/* AD5933 ------------------------------------------------------------ */

/*
 * ad5933_frequencies() - excitation frequency of each point of a sweep, from
 * the start and increment the device reads back (the chip's own DDS
 * rounding is below 1 Hz and not modelled). Return: points, or -errno.
 */
int ad5933_frequencies(const struct device *dev, double *ret_hz, size_t max);

/*
 * ad5933_read_temperature() - in_temp_raw * in_temp_scale, in degC. Only
 * while the buffer is off (the driver answers -EBUSY otherwise).
 */
int ad5933_read_temperature(struct device *dev, double *ret_c);

/*
 * Gain-factor calibration per the AD5933 data sheet, one factor per point:
 * sweep a known resistor, then for the same settings
 *   M = sqrt(re^2 + im^2), GF = (1 / R_cal) / M_cal,
 *   |Z| = 1 / (GF * M), phase(Z) = atan2(im, re) - phase_sys,
 * where phase_sys = atan2(im_cal, re_cal) (a resistor has phase 0).
 */
struct ad5933_cal {
	size_t n_points;
	double gain_factor[512];	/* 1 / (ohm * count) */
	double phase_sys_rad[512];
};

/* -EOVERFLOW if a word is railed (+32767 or -32768: saturated), -EINVAL on NaN/0 */
int ad5933_calibrate(const double *re, const double *im, size_t n,
		     double r_cal_ohm, struct ad5933_cal *ret);
/*
 * resistance and reactance (series model) of each point; -EINVAL on NaN/0,
 * -EOVERFLOW if a word is railed (its point would be wrong, not missing)
 */
int ad5933_impedance(const struct ad5933_cal *cal, const double *re,
		     const double *im, size_t n, double *ret_r_ohm,
		     double *ret_x_ohm);

/* profile_strerror() - "where: what: msg"; returns snprintf's length. */
int profile_strerror(const struct profile_error *err, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * Profile implementations only (drivers/profile.c, ads1298.c, ...), which
 * define PROFILE_INTERNAL first. The daemon sees none of this.
 */
#ifdef PROFILE_INTERNAL

#include <pthread.h>
#include <stdatomic.h>

#include "sysfs.h"

struct iio_context;
struct iio_device;
struct iio_buffer;

/* A scan element the device has, and what we make of it. */
struct profile_elem {
	char id[DEVICE_ID_MAX];		/* "voltage0", "timestamp", "voltage_real" */
	char prefix[SYSFS_PREFIX_MAX];	/* sysfs: "in_voltage0" */
	int32_t index;
	struct scan_type type;
	bool is_timestamp;
	bool want;			/* enable on start */
	struct device_channel ch;	/* role, unit, gain for data elements */
	double unit_per_iio;		/* output unit per IIO unit */
};

struct profile_ops {
	const char *name;
	/* is @name (the driver's indio_dev->name) this profile's? */
	bool (*match)(const char *name);
	/* apply rate / sweep settings; read them back into dev->info */
	int (*configure)(struct device *dev, const struct device_config *cfg,
			 struct profile_error *err);
	/* role, unit and unit factor of a data element */
	void (*classify)(struct device *dev, const struct device_config *cfg,
			 struct profile_elem *e);
};

extern const struct profile_ops profile_ads1298;
extern const struct profile_ops profile_ads131e08;
extern const struct profile_ops profile_ad5933;
extern const struct profile_ops profile_generic;

#define REMOTE_SLOTS 4

struct device {
	const struct profile_ops *ops;
	struct device_info info;
	char uri[128];			/* our copy; libiio gets another */
	char dir[SYSFS_PATH_MAX];	/* local: /sys/bus/iio/devices/<id> */
	struct iio_context *ctx;	/* NULL when via_sysfs */
	struct iio_device *idev;
	size_t n_elems;
	struct profile_elem elem[SCAN_MAX_ELEMENTS];
	struct device_channel ch[DEVICE_MAX_CHANNELS];
	struct scan_layout layout;
	struct scan_decoder dec;
	int fd;				/* chardev or eventfd, -1 when stopped */
	bool started;
	/* remote: a refill thread hands blocks over through a slot ring */
	struct iio_buffer *buf;
	pthread_t thread;
	bool thread_running;
	size_t block_bytes;
	uint8_t *slots;
	size_t slot_len[REMOTE_SLOTS];
	/* blocks the thread dropped (the ring was full) just before this one:
	 * the loss has its place in the stream, before the slot's block */
	uint64_t slot_lost[REMOTE_SLOTS];
	atomic_size_t head, tail;	/* free-running; head written by the thread */
	atomic_int stream_err;
	atomic_uint_fast64_t end_dropped;	/* dropped since the last block, when
						 * the stream broke */
	/* ad5933 */
	uint32_t sweep_start_hz, sweep_inc_hz;
};

/* profile.c helpers for the profiles */
int profile_fail(struct profile_error *err, const struct device *dev, int code,
		 const char *what, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int profile_attr_write(struct device *dev, const char *file, const char *value);
bool profile_attr_exists(struct device *dev, const char *file);
/* read and parse; -EBADMSG if not a number */
int profile_attr_double(struct device *dev, const char *file, double *ret);
int profile_attr_long(struct device *dev, const char *file, long *ret);
/* strtod in the C locale, whole string; -EBADMSG otherwise */
int profile_strtod(const char *s, double *ret);

#endif /* PROFILE_INTERNAL */

#endif

/* SPDX-License-Identifier: MIT */
/*
 * devsim.h - internals of twitch-devsim, the device simulator.
 *
 * twitch-devsim builds a umockdev testbed that holds the sysfs tree and the
 * /dev/iio:deviceN node of real IIO front ends and plays the kernel driver:
 * it watches the attribute files (inotify), applies the driver's rules to
 * what is written, and streams scans into the node's pty at the configured
 * rate once buffer/enable is 1, with a kfifo of buffer/length scans in
 * front. One thread, one epoll loop (main.c); the devices and their probe
 * in model.c; what their attribute files show and do in attr.c; the data
 * path in stream.c; value sources in source.c; faults in control.c.
 */
#ifndef TWITCH_DEVSIM_H
#define TWITCH_DEVSIM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "scan.h"
#include "source.h"

#define DEVSIM_MAX_DEVICES	16
#define DEVSIM_MAX_CHANNELS	64	/* data channels of one device */
#define DEVSIM_MAX_ELEMENTS	(DEVSIM_MAX_CHANNELS + 1)	/* + timestamp */
#define DEVSIM_NAME_MAX		32
#define DEVSIM_GEN_SCANS	1024	/* scans generated per inner step */

enum devsim_kind {
	DEVSIM_ADS1298,
	DEVSIM_ADS131E08,
	DEVSIM_AD5933,
	DEVSIM_GENERIC,
};

/* One scan element of a simulated device (a scan_elements/ triple). */
struct devsim_elem {
	char prefix[DEVSIM_NAME_MAX];	/* "in_voltage0", "in_voltage_real", "in_timestamp" */
	int index;
	struct scan_type type;
	bool is_timestamp;
	bool enabled;			/* last value of <prefix>_en */
};

/* AD5933 state: registers as the driver keeps them. */
struct devsim_ad5933 {
	uint32_t mclk_hz;
	uint32_t vdd_mv;
	uint32_t start_code;		/* 24-bit frequency register codes */
	uint32_t inc_code;
	uint32_t n_increments;		/* frequency_points: points = n + 1 */
	uint32_t settling_cycles;
	uint32_t range;			/* 0..3, index into range_mv */
	uint32_t range_mv[4];
	bool pga_x1;			/* in_voltage0_scale "1" (else "0.2" = x5) */
	int32_t temp_raw;		/* 14-bit two's complement, 1/32 degC */
	/* the load in front of it: a resistor, or the subject's body (0) */
	double load_r_ohm;
	double k_counts_ohm;		/* |code| * |Z| at 1980 mVpp, PGA x1 */
	double phase_sys_rad;		/* system phase added to every point */
	uint32_t init_ms, point_ms;	/* driver timing: 100 ms, 10 ms poll */
	uint32_t next_point;		/* in the running sweep */
};

struct devsim_dev {
	enum devsim_kind kind;
	int num;			/* N of iio:deviceN */
	char id[DEVSIM_NAME_MAX];	/* "iio:deviceN" */
	char name[DEVSIM_NAME_MAX];	/* the driver's indio_dev->name */
	char parent[128];		/* sysfs parent path, below /devices */
	char syspath[256];		/* "/sys/devices/.../iio:deviceN" */
	char dir[768];			/* the same inside the testbed */
	char devnode[64];		/* "/dev/iio:deviceN" */
	char trig_syspath[256];		/* own trigger (ads131e08), or "" */
	int trig_num;
	int pty;			/* master side; owned by the testbed */
	int slave;			/* our own slave fd: flushes the reader's side */
	int wd_dev, wd_buf, wd_scan;	/* inotify watches */
	bool vanished;
	uint64_t return_at_ns;		/* auto-return after vanish, 0 = never */

	/* model parameters (from the command line) */
	unsigned int n_channels;
	char type_str[SCAN_TYPE_STRLEN];	/* generic: element type */
	double scale_mv;		/* generic: mV per count as printed */
	bool has_timestamp;		/* generic */
	int64_t ts_offset_ns;		/* generic: timestamps of a board whose
					 * clocks read this much more */
	char rates_avail[128];		/* generic: sampling_frequency_available */
	uint32_t vref_mv;
	uint32_t pga_gain;
	bool chip_r;			/* ads129xR */
	uint32_t spec_rate_hz;		/* rate= : written once after the first probe */
	double clock_ppm;		/* clock_ppm= : the device's clock error */
	struct source_params sp;	/* seed and subject settings */
	char source_spec[256];
	size_t n_garbage;		/* fault: attributes held at a bad value */
	char garbage[8][64];

	/* attribute state */
	uint32_t rate_hz;		/* samples per second actually produced */
	uint32_t ads1298_cfg1;		/* HR bit + DR */
	uint32_t length;		/* buffer/length */
	uint32_t watermark;
	bool enabled;
	struct devsim_ad5933 ad;

	/* elements */
	size_t n_elems;
	struct devsim_elem elem[DEVSIM_MAX_ELEMENTS];

	/* running stream (valid while enabled) */
	struct scan_layout layout;
	int layout_pos[DEVSIM_MAX_ELEMENTS];	/* elem -> layout position or -1 */
	unsigned int session;		/* enables so far */
	uint64_t t_enable_ns;		/* CLOCK_MONOTONIC at enable */
	clockid_t ts_clock;		/* current_timestamp_clock */
	int64_t ts_enable_ns;		/* that clock at enable */
	uint64_t n_produced;		/* scans the device made this session */
	uint64_t n_pushed, n_dropped, n_skipped, n_written_bytes;
	uint64_t skip_pending;		/* fault: scans to make vanish */
	uint64_t stall_until_ns;	/* fault: no delivery until then */
	bool stall_drop;		/* stall also loses the scans */
	bool dirty_bits;		/* fault: junk in unused bits */
	bool frozen;			/* enable written, batch pending: no delivery */
	bool draining;			/* a watermark was reached: deliver all */
	bool pollout;			/* the loop watches the master for room */
	uint8_t *fifo;			/* the kfifo, in bytes */
	size_t fifo_cap, fifo_head, fifo_used;
	int log_fd;			/* --log-bytes of this session, or -1 */
	int truth_fd;			/* ground truth of this session, or -1 */
	struct devsim_source *src;
	double *gen_uv;			/* DEVSIM_GEN_SCANS x n_channels */
	uint8_t *scan_buf;		/* DEVSIM_GEN_SCANS x scan_bytes */
};

#define DEVSIM_REL_MAX		96
#define DEVSIM_MAX_TOUCHED	256

/* an attribute file written since the last batch */
struct devsim_touch {
	struct devsim_dev *d;
	char rel[DEVSIM_REL_MAX];
};

struct devsim {
	void *testbed;			/* UMockdevTestbed */
	char root[256];			/* the testbed, /tmp/umockdev.XXXXXX */
	char ctl_dir[300];		/* root/devsim */
	int epfd, inotify_fd, timer_fd, settle_fd, signal_fd, listen_fd, events_fd;
	size_t n_touched;
	struct devsim_touch touched[DEVSIM_MAX_TOUCHED];
	uint64_t tick_ns;
	bool log_bytes;
	int next_num, next_trig;
	size_t n_devs;
	struct devsim_dev *dev[DEVSIM_MAX_DEVICES];
	int clients[8];
};

/* model.c */
int model_parse_spec(const char *spec, uint64_t seed, struct devsim_dev **ret,
		     char *err, size_t errlen);
int model_add_to_testbed(struct devsim *ds, struct devsim_dev *d, bool first);
double model_lsb_uv(const struct devsim_dev *d);
int model_raw_bits(const struct devsim_dev *d);
int model_parse_u32(const char *s, uint32_t max, uint32_t *ret);
int model_parse_double(const char *s, double *ret);
uint32_t ads1298_rate_of_cfg(uint32_t cfg1);
uint32_t ads1298_cfg_of_rate(int val);
uint32_t ad5933_code_of_hz(const struct devsim_ad5933 *a, uint32_t f);
uint32_t ad5933_hz_of_code(const struct devsim_ad5933 *a, uint32_t code);

/* attr.c */
int attr_written(struct devsim *ds, struct devsim_dev *d, const char *rel);
void attr_refresh(struct devsim *ds, struct devsim_dev *d);
int attr_write(struct devsim_dev *d, const char *rel, const char *value);
void attr_sync_all(struct devsim_dev *d);
int attr_garbage(struct devsim_dev *d, const char *rel, const char *value);
int attr_fmt_log2(char *buf, size_t len, int val, int val2);
int attr_parse_bool(const char *s, bool *ret);
int attr_rate_written(struct devsim_dev *d, const char *v);

/* stream.c */
int stream_enable(struct devsim *ds, struct devsim_dev *d);
void stream_disable(struct devsim *ds, struct devsim_dev *d, const char *why);
void stream_freeze(struct devsim_dev *d);
void stream_writable(struct devsim *ds, struct devsim_dev *d);
void stream_tick(struct devsim *ds, struct devsim_dev *d, uint64_t now_ns);
void ad5933_point(const struct devsim_dev *d, uint32_t k, double *ret_f_hz,
		  int16_t *ret_re, int16_t *ret_im);

/* control.c */
int control_command(struct devsim *ds, char *line, char *reply, size_t len);
int devsim_vanish(struct devsim *ds, struct devsim_dev *d);
int devsim_return(struct devsim *ds, struct devsim_dev *d);

/* main.c */
uint64_t devsim_now_ns(void);
void devsim_event(struct devsim *ds, const struct devsim_dev *d,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int devsim_watch(struct devsim *ds, struct devsim_dev *d);
void devsim_want_pollout(struct devsim *ds, struct devsim_dev *d, bool on);
struct devsim_dev *devsim_find(struct devsim *ds, const char *key);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * twitchd.h - the daemon's state, shared by loop.c, acquire.c and main.c.
 *
 * One thread owns all of it. Every object that has I/O in flight embeds an
 * op_tag; the CQE's user_data points at the tag and one switch in loop.c
 * routes it (the pattern of liburing's examples and dbus-broker).
 */
#ifndef TWITCHD_H
#define TWITCHD_H

#include <linux/time_types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <liburing.h>

#include "biozlive.h"
#include "config.h"
#include "pipeline.h"
#include "control-proto.h"
#include "control.h"
#include "profile.h"
#include "publish.h"

#define TWITCHD_MAX_CLIENTS	64	/* bounds what clients can make us hold */
#define TWITCHD_MAX_CLIENTS_PER_UID 16	/* so that one user cannot take them all */
#define TWITCHD_ROOT_CLIENTS	4	/* of them kept for root, to look at it */
#define TWITCHD_MAX_MARKS	20u	/* markers per second and user: the events
					 * ring is shared with twitches and alerts */
#define TWITCHD_TICK_NS		100000000u	/* heartbeat, retries, sweeps, watchdog */
/* devices without a timestamp channel: their clock is measured over windows
 * of 10 s (2 s until there are TWITCHD_CLOCK_WINDOWS of them), and trusted
 * within +-5% of the nominal rate */
#define TWITCHD_CLOCK_WINDOWS	5
#define TWITCHD_CLOCK_WIN_NS	10000000000u
#define TWITCHD_CLOCK_WIN0_NS	2000000000u
#define TWITCHD_CLOCK_MAX_ERR	0.05
/* Once the clock is measured, reads later than it by this much (the more
 * of 4 blocks and 40 ms) are a loss too small for the shortfall check. */
#define TWITCHD_LOSS_LAG_BLOCKS	4
#define TWITCHD_LOSS_LAG_MIN_NS	40e6

enum op {
	OP_SIGNAL,
	OP_TICK,
	OP_ACCEPT,
	OP_CLIENT,
	OP_DEV_POLL,
	OP_DEV_READ,
	OP_CANCEL,
};

struct op_tag {
	enum op op;
};

struct client {
	struct op_tag tag;
	int fd;				/* -1: free slot */
	bool in_flight;			/* a recv is queued */
	struct ucred cred;
	bool reply_lost;		/* a reply could not be queued */
	char buf[TWITCH_CTL_MAX_CMD + 1];
};

/* Commands and markers per second of one uid, over all its connections:
 * reconnecting does not start a new budget. */
struct uid_budget {
	bool used;
	uid_t uid;
	uint64_t window_start_ns;
	uint32_t n_cmds, n_marks;
	bool warned;			/* the flood was logged in this window */
};

enum dev_state {
	DEV_CLOSED,			/* waiting for the next open attempt */
	DEV_RUNNING,			/* streaming (EMG) */
	DEV_IDLE,			/* open, between sweeps (AD5933) */
	DEV_SWEEPING,			/* one sweep running */
};

struct acq_dev {
	struct op_tag poll_tag;
	struct op_tag read_tag;
	struct twitchd *d;
	struct config_device cfg;
	struct device *dev;		/* NULL while closed */
	const struct device_info *info;
	enum dev_state state;
	int fd;				/* from device_start(), owned by dev */
	unsigned int in_flight;		/* SQEs queued for this device */
	bool stop_requested;		/* stop once in_flight drains */
	bool reopen;			/* the stop is a reload: reopen at once */
	uint64_t last_data_ns;		/* the last read that brought samples */
	bool patient_dirty;		/* acq_save_patient() is due */
	struct config_device *running_cfg; /* the settings a reload replaced,
					 * while the new ones have not opened */
	struct opener *opener;		/* a remote device being opened off the loop */
	uint16_t index;			/* device number in records */
	struct ring *ring;		/* "samples-NAME", created on first open */
	uint32_t ring_channels;		/* what the ring's slots were sized for */
	uint32_t ring_scans;
	uint32_t index_epoch;		/* bumps every time the device comes back */
	uint64_t sample_index;		/* next scan's index in this epoch */
	/* gap detection */
	bool have_prev_ts;
	int64_t prev_ts;
	double ts_period_ns;		/* the timestamps' period, as they show it */
	int64_t ts_off_ns;		/* remote: our clock minus the board's */
	uint64_t anchor_ns, anchor_index;	/* no timestamp: scan times */
	/* no timestamp: the elapsed-time check counts from a drained read,
	 * over windows of TWITCHD_CLOCK_WIN_NS, against the device's clock
	 * as measured over the last TWITCHD_CLOCK_WINDOWS windows (the median
	 * of their scans per nominal scan, each a least-squares slope over
	 * the window's drained reads; a window whose reads stray from their
	 * line by more than a block held a loss, and is not used); min_lag:
	 * the least time from a scan's model time to the read that brought
	 * it, over the window's last quarter (the model's phase, slewed out
	 * over the next window) */
	uint64_t loss_anchor_ns, loss_anchor_index;
	bool loss_anchored;
	double clock_ratio, clock_logged;
	double time_ratio;		/* clock_ratio, slewed to the reads' phase */
	double win_ratio[TWITCHD_CLOCK_WINDOWS];
	uint32_t n_win, win_pos;
	int64_t min_lag_ns;
	double fit_sx, fit_sy, fit_sxx, fit_sxy, fit_syy; /* this window's */
	uint32_t fit_n;				/* drained reads: s, scans */
	/* retry and sweeps, CLOCK_MONOTONIC */
	uint64_t next_attempt_ns;
	uint64_t backoff_ms;
	uint64_t next_sweep_ns;
	uint64_t sweep_started_ns;
	uint32_t sweep_scans;		/* scans of the running sweep so far */
	uint64_t sweep_no;
	bool lost_reported;
	/* buffers, sized at open; no allocation per block */
	uint8_t *rbuf;
	size_t rbuf_size;
	size_t rfill;			/* bytes read into rbuf, short of a block */
	uint64_t stream_off;		/* bytes read since the stream started */
	size_t block_bytes;		/* the watermark, in bytes */
	double *vals;
	int64_t *ts;
	size_t cap_scans;
	float *fin;			/* decoded scans as float, uV */
	struct twitch_rec_samples *rec;
	/* twitch detection (EMG devices) */
	bool has_pipeline;
	struct pipeline pl;
	uint64_t seg_t0_ns;		/* CLOCK_MONOTONIC of the segment's first scan */
	uint64_t seg_index0;		/* its sample index */
	int64_t real_minus_mono;
	uint64_t n_twitches;
	uint64_t next_rates_ns;
	/* bioimpedance (AD5933): calibration, fit, estimates; kept across reopening */
	struct bioz_live *bz;
	double sweep_freq_hz[BIOZLIVE_MAX_POINTS];
	size_t n_sweep_freq;
	uint64_t n_estimates;
	size_t rec_cap_scans;		/* scans per record */
	uint64_t n_scans_total;
	uint64_t n_lost_total;
};

struct twitchd {
	struct config cfg;
	bool verbose;			/* -v: debug logging, whatever the file says */
	bool socket_from_args;		/* -s: the file's socket is not used */
	struct io_uring ring;
	unsigned int in_flight;		/* every SQE queued and not yet completed */
	struct publisher pub;
	struct ring *events;
	int sfd;
	struct signalfd_siginfo siginfo;
	struct op_tag sig_tag;
	bool sig_armed;
	int lfd;
	bool lfd_inherited;		/* from systemd socket activation */
	struct op_tag accept_tag;
	bool accept_armed;
	struct op_tag tick_tag;
	struct op_tag cancel_tag;
	struct __kernel_timespec tick_ts;
	bool tick_armed;
	uint64_t next_tick_ns;
	struct client clients[TWITCHD_MAX_CLIENTS];
	struct uid_budget budgets[TWITCHD_MAX_CLIENTS];
	struct control_policy sock_pol;	/* the socket's group, looked up at start */
	struct acq_dev devs[CONFIG_MAX_DEVICES];
	size_t n_devs;
	uint64_t watchdog_period_ns;	/* half of WATCHDOG_USEC, 0 if off */
	uint64_t next_watchdog_ns;
	uint64_t start_mono_ns;
	bool ready_sent;
	bool stopping;
	bool reload;
};

/* loop.c */
struct io_uring_sqe *loop_sqe(struct twitchd *d);
void loop_publish_status(struct twitchd *d, uint32_t state, uint16_t device,
			 const struct acq_dev *a, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void loop_publish_loss(struct twitchd *d, const struct acq_dev *a, uint32_t reason,
		       uint32_t exact, uint64_t count, uint64_t first_index);
uint64_t loop_now_ns(void);

/* acquire.c */
void acq_init(struct acq_dev *a, struct twitchd *d, const struct config_device *cfg,
	      uint16_t index);
/* First attempt at startup. Return 0, or -errno for errors that are the
 * configuration's fault (bad profile, unsupported rate): the daemon exits. */
int acq_first_open(struct acq_dev *a);
void acq_on_tick(struct acq_dev *a, uint64_t now);
void acq_on_cqe(struct acq_dev *a, enum op op, int res);
/* SIGHUP: new settings for this device; reopen it if they differ. */
void acq_reconfigure(struct acq_dev *a, const struct config_device *cfg);
/* Shut down: read what is left without blocking, publish it, stop. */
void acq_drain_and_stop(struct acq_dev *a);
void acq_free(struct acq_dev *a);
/* The first bioimpedance device that is open, or NULL. */
struct acq_dev *acq_find_bioz(struct twitchd *d);
/* Keep @a's subject and baseline in the state directory (after a change). */
void acq_save_patient(struct acq_dev *a);
/* acq_save_patient() at the next tick (at most ten a second, and at exit):
 * a flood of commands must not fsync in the loop at every one */
void acq_save_patient_soon(struct acq_dev *a);
/* acq_calibrate_soon() - a calibration was just requested: only a sweep
 * that begins from now on calibrates, and the next one begins at once. */
void acq_calibrate_soon(struct acq_dev *a);
/* One line for status / STATUS=. */
int acq_describe(const struct acq_dev *a, char *buf, size_t len);

#endif

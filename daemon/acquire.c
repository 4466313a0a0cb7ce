// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * acquire.c - one configured device: open it, read it through io_uring,
 * decode, count gaps, publish sample blocks, and survive its loss.
 *
 * The read path per block: a POLL_ADD(POLLIN) linked to a READ on the fd
 * that drivers/ handed us (the IIO char device is O_NONBLOCK and has no
 * FMODE_NOWAIT, so a bare READ would just say -EAGAIN), then one decode
 * and a few ring_publish() calls. Buffers are sized when the device opens;
 * nothing is allocated per block. Gaps are counted exactly from the
 * timestamp channel where the device has one, and otherwise from a
 * shortfall of scans against elapsed CLOCK_MONOTONIC time, which is exact
 * to within one block. A device that goes away is retried with backoff and
 * comes back with a new sample-index epoch; the daemon never exits for it.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calstore.h"
#include "log.h"
#include "records.h"
#include "twitchd.h"

/* How old a stored file's time stamp is, for the log. A cart without a
 * clock battery may start before NTP has set the time: then a file made
 * later can look as if it came from the future, and says so (an unsigned
 * difference read as 18446744073 s ago). */
static void age_text(uint64_t then_ns, char *buf, size_t len)
{
	uint64_t now = record_clock_ns(CLOCK_REALTIME);

	if (then_ns <= now)
		snprintf(buf, len, "%" PRIu64 " s ago", (now - then_ns) / 1000000000u);
	else
		snprintf(buf, len, "dated %" PRIu64 " s ahead of this clock: is the time set?",
			 (then_ns - now) / 1000000000u);
}

/* Where calibrations are kept: the config, systemd's StateDirectory=, or the FHS place. */
static const char *state_dir(const struct twitchd *d)
{
	const char *env = getenv("STATE_DIRECTORY");

	if (d->cfg.state_dir[0])
		return d->cfg.state_dir;
	/* systemd may list several, separated by ':': ours is the first */
	if (env && env[0] == '/' && !strchr(env, ':'))
		return env;
	return "/var/lib/twitchd";
}

/* A calibration made before this start of twitchd, if one is kept. */
static void load_calibration(struct acq_dev *a)
{
	struct calstore_info info;
	char err[600], age[96];
	int n;

	n = calstore_load(state_dir(a->d), a->cfg.name, a->bz->cal, BIOZLIVE_MAX_POINTS, &info,
			  err, sizeof(err));
	if (n == -ENOENT)
		return;
	if (n < 0) {
		log_msg(LOG_WARNING, "%s: stored calibration not used: %s", a->cfg.name,
			n == -EINVAL ? err : strerror(-n));
		return;
	}
	a->bz->n_cal = (size_t)n;
	a->bz->cal_from_file = true;
	a->bz->cal_excitation_mv = info.excitation_mv;
	a->bz->cal_pga_gain = info.pga_gain;
	if (info.excitation_mv != a->info->excitation_mv || info.pga_gain != a->info->pga_gain)
		return;		/* the open's bioz_live_set_analog() drops it, and says why */
	age_text(info.t_real_ns, age, sizeof(age));
	log_device(LOG_NOTICE, a->cfg.name, -1, "calibration against %g ohm%s from %s "
		   "(%zu frequencies, made %s)", info.resistor_ohm,
		   info.rp_ohm > 0 ? " + (R || C)" : "", state_dir(a->d), a->bz->n_cal, age);
}

/* Keep the calibration just made, so a restart does not lose it. */
static void save_calibration(struct acq_dev *a, double ohm, double rp_ohm, double c_f)
{
	struct calstore_info info = { .resistor_ohm = ohm, .rp_ohm = rp_ohm, .c_f = c_f,
				      .t_real_ns = record_clock_ns(CLOCK_REALTIME),
				      .excitation_mv = a->bz->cal_excitation_mv,
				      .pga_gain = a->bz->cal_pga_gain };
	char err[600];
	int rc;

	rc = calstore_save(state_dir(a->d), a->cfg.name, a->bz->cal, a->bz->n_cal, &info, err,
			   sizeof(err));
	if (rc < 0)
		log_msg(LOG_WARNING, "%s: calibration kept in memory only: %s", a->cfg.name, err);
}

/*
 * Restore the patient's subject data and resistance-index baseline, unless
 * the config says every start is a new patient. Loud: a cart moved to
 * another patient must be given the new patient's data.
 */
static void load_patient(struct acq_dev *a)
{
	struct calstore_patient p;
	char err[600], age[96];
	int rc;

	if (a->d->cfg.forget_patient)
		return;
	rc = calstore_load_patient(state_dir(a->d), a->cfg.name, &p, err, sizeof(err));
	if (rc == -ENOENT)
		return;
	if (rc < 0) {
		log_msg(LOG_WARNING, "%s: stored subject and baseline not used: %s", a->cfg.name,
			rc == -EINVAL ? err : strerror(-rc));
		return;
	}
	if (p.baseline_refused)
		log_device(LOG_WARNING, a->cfg.name, -1, "stored resistance-index baseline not "
			   "used: %s; a new one is taken from the next %u trusted sweeps, so a "
			   "shift already under way is not seen (twitchctl baseline)", err,
			   a->bz->ri.cfg.baseline_n);
	if (p.has_subject) {
		a->bz->subject = p.subject;
		a->bz->has_subject = true;
		a->bz->subject_t_real_ns = p.subject_t_real_ns;
	}
	if (p.has_baseline && bioz_ri_set_baseline(&a->bz->ri, &p.baseline) == 0)
		a->bz->baseline_t_real_ns = p.baseline_t_real_ns;
	if (!p.has_subject && !p.has_baseline)
		return;
	age_text(p.has_subject ? p.subject_t_real_ns : p.baseline_t_real_ns, age, sizeof(age));
	log_device(LOG_NOTICE, a->cfg.name, -1, "restored from %s: %s%s%s (set %s); for a "
		   "new patient: twitchctl subject ... and twitchctl baseline",
		   state_dir(a->d), p.has_subject ? "subject data" : "",
		   p.has_subject && p.has_baseline ? " and " : "",
		   p.has_baseline ? "resistance-index baseline" : "", age);
}

void acq_save_patient_soon(struct acq_dev *a)
{
	a->patient_dirty = true;
}

void acq_calibrate_soon(struct acq_dev *a)
{
	uint64_t now = loop_now_ns();

	if (!a->bz)
		return;
	a->bz->cal_pending_since_ns = now;
	/* not the sweep interval (10 s) away: after the running one, if any */
	if (a->next_sweep_ns > now)
		a->next_sweep_ns = now;
}

void acq_save_patient(struct acq_dev *a)
{
	struct calstore_patient p = {
		.has_subject = a->bz->has_subject,
		.subject = a->bz->subject,
		.subject_t_real_ns = a->bz->subject_t_real_ns,
		.baseline_t_real_ns = a->bz->baseline_t_real_ns,
	};
	char err[600];

	a->patient_dirty = false;
	p.has_baseline = bioz_ri_get_baseline(&a->bz->ri, &p.baseline);
	if (calstore_save_patient(state_dir(a->d), a->cfg.name, &p, err, sizeof(err)) < 0)
		log_msg(LOG_WARNING, "%s: subject and baseline kept in memory only: %s",
			a->cfg.name, err);
}

/*
 * What a bioimpedance device's config says beyond the device itself: the
 * alert thresholds (again at every reload) and subject data. At start the
 * config's subject applies unless a restored one is there (the later
 * word); on a reload, only when the config's subject was changed, which is
 * someone's deliberate act.
 */
static void bioz_settings(struct acq_dev *a, const struct config_device *cfg, bool at_start)
{
	struct bioz_live *b = a->bz;
	bool changed;

	if (b == NULL)
		return;
	bioz_live_set_thresholds(b, cfg->alert_phase_drop_deg, cfg->alert_ecw_tbw_rise,
				 cfg->alert_ri_k, cfg->alert_twitch_rise_ratio,
				 cfg->alert_twitch_rise_min);
	if (!cfg->has_subject)
		return;
	changed = !a->cfg.has_subject ||
		  memcmp(&cfg->subject, &a->cfg.subject, sizeof(cfg->subject)) != 0;
	if (at_start ? b->has_subject : !changed)
		return;
	b->subject = cfg->subject;
	b->has_subject = true;
	b->subject_t_real_ns = record_clock_ns(CLOCK_REALTIME);
	acq_save_patient(a);
	log_device(LOG_NOTICE, cfg->name, -1, "subject data from the config");
}

/* the public names of the alert bits are the math's own */
_Static_assert(TWITCH_BIOZ_ALERT_PHA_DROP == BIOZ_ALERT_PHA_DROP &&
	       TWITCH_BIOZ_ALERT_ECW_TBW_RISE == BIOZ_ALERT_ECW_TBW_RISE &&
	       TWITCH_BIOZ_ALERT_RE_INDEX == BIOZ_ALERT_RE_INDEX_CHANGE &&
	       TWITCH_BIOZ_ALERT_CO_OCCURRENCE == BIOZ_ALERT_CO_OCCURRENCE,
	       "alert bits of twitch.h and bioz.h differ");
_Static_assert(TWITCH_MODEL_RI_TEMP_COMP == BIOZ_MODEL_RI_TEMP2 &&
	       TWITCH_MODEL_RI_NOT_COMP == BIOZ_MODEL_RI_UNCOMP,
	       "resistance-index model ids of twitch.h and bioz.h differ");

#define BACKOFF_MIN_MS	500u
#define BACKOFF_MAX_MS	30000u
#define SWEEP_TIMEOUT_NS 5000000000u	/* a sweep that takes longer has failed */
#define MAX_RECORD_BYTES 65528u		/* the record size field is 16 bits */
#define MAX_RING_BYTES	(64u << 20)
#define RATES_PERIOD_NS	10000000000u	/* rates records, per channel */

static uint32_t next_pow2(uint64_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

/* *@dst = *@src, the channel names pointing into @dst's own buffer */
static void cfg_copy(struct config_device *dst, const struct config_device *src)
{
	size_t i;

	*dst = *src;
	for (i = 0; i < src->n_channels; i++)
		dst->channels[i] = dst->channels_buf + (src->channels[i] - src->channels_buf);
}

void acq_init(struct acq_dev *a, struct twitchd *d, const struct config_device *cfg,
	      uint16_t index)
{
	memset(a, 0, sizeof(*a));
	a->poll_tag.op = OP_DEV_POLL;
	a->read_tag.op = OP_DEV_READ;
	a->d = d;
	cfg_copy(&a->cfg, cfg);
	a->index = index;
	a->fd = -1;
	a->state = DEV_CLOSED;
	a->backoff_ms = BACKOFF_MIN_MS;
}

static bool is_sweeper(const struct acq_dev *a)
{
	return a->info && a->info->sweep_points > 0;
}

static uint32_t unit_of(const struct acq_dev *a)
{
	const char *u = a->info->n_channels ? a->info->channels[0].unit : "";

	if (!strcmp(u, "uV"))
		return TWITCH_UNIT_UV;
	if (!strcmp(u, "ohm"))
		return TWITCH_UNIT_OHM;
	return TWITCH_UNIT_RAW;
}

static void free_buffers(struct acq_dev *a)
{
	free(a->rbuf);
	free(a->vals);
	free(a->ts);
	free(a->fin);
	free(a->rec);
	a->rbuf = NULL;
	a->vals = NULL;
	a->ts = NULL;
	a->fin = NULL;
	a->rec = NULL;
	if (a->has_pipeline)
		pipeline_deinit(&a->pl);
	a->has_pipeline = false;
}

static void on_epoch(const struct detect_epoch *ep, void *userdata);

/*
 * EMG devices get the filter chain and the detector, sized for a read, as
 * configured (mains, leg_channels, filter.*, detect.*). A value that does not
 * fit the device as opened (a leg channel it lacks, a cut-off above its
 * Nyquist) is the configuration's fault: -EINVAL, said in the log.
 */
/* Could any chain run on the open device (>= 100 Hz, <= 64 channels)? */
static bool chain_possible(const struct device_info *in)
{
	return in->rate_hz >= 100.0 && in->n_channels <= CONFIG_MAX_CHANNELS;
}

/* a->cfg's chain for the open device: 0, or -EINVAL and why in @msg */
static int chain_for_device(const struct acq_dev *a, struct dsp_config *dsp,
			    struct detect_config *dcfg, char *msg, size_t len)
{
	const struct device_info *in = a->info;

	return config_chain_for(&a->cfg, in->channels, in->n_channels, in->rate_hz, dsp, dcfg,
				msg, len);
}

static int setup_pipeline(struct acq_dev *a)
{
	const struct device_info *in = a->info;
	struct detect_config dcfg;
	struct dsp_config dsp;
	char msg[160];
	bool fits;
	int err;

	if (is_sweeper(a) || unit_of(a) != TWITCH_UNIT_UV || in->rate_hz <= 0)
		return 0;
	fits = chain_possible(in);
	err = fits ? chain_for_device(a, &dsp, &dcfg, msg, sizeof(msg)) : 0;
	if (a->cfg.no_detect) {
		log_device(LOG_INFO, a->cfg.name, -1, "samples only, no twitch detection "
			   "(detect = no)");
		/* the chain's keys are kept for detect = yes: say now what
		 * would not fit this device, not only when it is turned on */
		if (err < 0)
			log_device(LOG_WARNING, a->cfg.name, -1, "%s (unused while detect = no)",
				   msg);
		return 0;
	}
	if (!fits) {
		log_device(LOG_NOTICE, a->cfg.name, -1, "no twitch detection at %.0f Hz and "
			   "%zu channels (it needs >= 100 Hz, <= %d channels)", in->rate_hz,
			   in->n_channels, CONFIG_MAX_CHANNELS);
		return 0;
	}
	if (err < 0) {
		log_device(LOG_ERR, a->cfg.name, -1, "%s", msg);
		return err;
	}
	err = pipeline_init(&a->pl, &dsp, &dcfg, in->n_channels, in->rate_hz, a->cap_scans);
	if (err < 0)
		return err;
	detect_set_epoch_sink(a->pl.det, on_epoch, a);
	a->has_pipeline = true;
	a->next_rates_ns = 0;	/* a new detector's first rates: a period from now */
	return 0;
}

/* The chain on a device already streaming (a reopen, a reload): a setting
 * that does not fit turns detection off, not the samples. */
static int start_detection(struct acq_dev *a)
{
	int err = setup_pipeline(a);

	if (err < 0)
		log_device(LOG_ERR, a->cfg.name, -1, "twitch detection off until the "
			   "configuration is fixed and reloaded");
	return err;
}

/* Size the read, decode and record buffers for the device as opened. */
static int size_buffers(struct acq_dev *a)
{
	const struct device_info *in = a->info;
	size_t scan_bytes = in->layout->scan_bytes, scans, n_ch = in->n_channels;

	scans = in->sweep_points ? in->sweep_points : (size_t)in->block_scans * 4;
	if (scans == 0 || scan_bytes == 0 || n_ch == 0)
		return -EINVAL;
	free_buffers(a);
	a->rbuf_size = scans * scan_bytes;
	a->rfill = 0;
	a->block_bytes = in->sweep_points ? 0 : (size_t)in->block_scans * scan_bytes;
	a->cap_scans = device_max_scans(a->dev, a->rbuf_size);
	a->rec_cap_scans = (MAX_RECORD_BYTES - sizeof(struct twitch_rec_samples)) /
			   (sizeof(float) * n_ch);
	/*
	 * A record holds at most two blocks: a read returns a block (the
	 * watermark) and what came while it woke us, so one record per read
	 * without a crumb record of the excess. Bigger slots would sit mostly
	 * empty and the ring would hold fewer seconds than samples_seconds
	 * promises; ensure_ring() counts one record per block.
	 */
	if (!in->sweep_points && in->block_scans && a->rec_cap_scans > 2 * (size_t)in->block_scans)
		a->rec_cap_scans = 2 * (size_t)in->block_scans;
	if (a->rec_cap_scans > scans)
		a->rec_cap_scans = scans;
	if (in->sweep_points && a->rec_cap_scans < in->sweep_points)
		return -E2BIG;	/* a sweep is published as one record */
	a->rbuf = malloc(a->rbuf_size);
	a->vals = calloc(a->cap_scans * n_ch, sizeof(double));
	a->ts = calloc(a->cap_scans, sizeof(int64_t));
	a->fin = calloc(a->cap_scans * n_ch, sizeof(float));
	a->rec = calloc(1, record_samples_size((unsigned int)n_ch,
					       (unsigned int)a->rec_cap_scans));
	if (!a->rbuf || !a->vals || !a->ts || !a->fin || !a->rec) {
		free_buffers(a);
		return -ENOMEM;
	}
	return 0;
}

/* The device's samples ring: made on first open, kept across reopenings. */
static int ensure_ring(struct acq_dev *a)
{
	const struct device_info *in = a->info;
	uint32_t slot, n_slots;
	uint64_t per_s, want;
	char name[24];
	int err;

	slot = (uint32_t)((8 + record_samples_size((unsigned int)in->n_channels,
						   (unsigned int)a->rec_cap_scans) + 63) / 64 * 64);
	if (a->ring) {
		if (in->n_channels > a->ring_channels || a->rec_cap_scans > a->ring_scans ||
		    slot > a->ring->slot_size)
			return -EXFULL;	/* needs a restart: clients hold the old size */
		return 0;
	}
	if (in->sweep_points)
		per_s = 1;
	else	/* a read per block (drivers/ makes it >= 1 scan), in records of rec_cap */
		per_s = (uint64_t)ceil(in->rate_hz / (double)in->block_scans) *
			((in->block_scans + a->rec_cap_scans - 1) / a->rec_cap_scans) + 1;
	want = per_s * a->d->cfg.samples_seconds;
	n_slots = next_pow2(want < 64 ? 64 : want);
	/* the cap is on the samples a ring holds: counting the records'
	 * headers too halved the slots where a record is just over 2^k bytes */
	while ((uint64_t)n_slots * a->rec_cap_scans * in->n_channels * sizeof(float) >
	       MAX_RING_BYTES && n_slots > 64)
		n_slots /= 2;
	if (n_slots < want)
		log_device(LOG_NOTICE, a->cfg.name, -1,
			   "samples ring capped at %u MiB: it holds about %.1f s, not %u s "
			   "(a larger block_scans fills its slots better)",
			   MAX_RING_BYTES >> 20, (double)n_slots / (double)per_s,
			   a->d->cfg.samples_seconds);
	snprintf(name, sizeof(name), "samples-%s", a->cfg.name);
	err = publisher_add_ring(&a->d->pub, name, TWITCH_SHM_STREAM_SAMPLES, a->index, slot,
				 n_slots, &a->ring);
	if (err < 0)
		return err;
	a->ring_channels = (uint32_t)in->n_channels;
	a->ring_scans = (uint32_t)a->rec_cap_scans;
	return 0;
}

static void arm(struct acq_dev *a)
{
	struct io_uring_sqe *sqe;

	sqe = loop_sqe(a->d);
	io_uring_prep_poll_add(sqe, a->fd, POLLIN);
	io_uring_sqe_set_data(sqe, &a->poll_tag);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = loop_sqe(a->d);
	io_uring_prep_read(sqe, a->fd, a->rbuf + a->rfill, (unsigned int)(a->rbuf_size - a->rfill),
			   (uint64_t)-1);
	io_uring_sqe_set_data(sqe, &a->read_tag);
	a->in_flight += 2;
	a->d->in_flight += 2;
}

static void cancel_in_flight(struct acq_dev *a)
{
	struct io_uring_sqe *sqe;

	sqe = loop_sqe(a->d);
	io_uring_prep_cancel(sqe, &a->poll_tag, 0);
	io_uring_sqe_set_data(sqe, &a->d->cancel_tag);
	sqe = loop_sqe(a->d);
	io_uring_prep_cancel(sqe, &a->read_tag, 0);
	io_uring_sqe_set_data(sqe, &a->d->cancel_tag);
	a->d->in_flight += 2;
}

static int start_stream(struct acq_dev *a)
{
	struct profile_error perr;
	char msg[600];
	int err;

	err = device_start(a->dev, &a->fd, &perr);
	if (err < 0) {
		profile_strerror(&perr, msg, sizeof(msg));
		log_device(LOG_ERR, a->cfg.name, -1, "cannot start: %s", msg);
		return err;
	}
	a->have_prev_ts = false;
	a->rfill = 0;
	a->stream_off = 0;
	a->last_data_ns = loop_now_ns();
	/* the device makes its first scan once enabled, not when we began */
	a->anchor_ns = loop_now_ns();
	a->anchor_index = a->sample_index;
	a->loss_anchored = false;
	a->clock_ratio = a->clock_logged = a->time_ratio = 1.0;
	a->n_win = a->win_pos = 0;
	a->min_lag_ns = INT64_MAX;
	arm(a);
	return 0;
}

/*
 * A remote device's profile_open() runs on a thread of its own: libiio's
 * network backend blocks for 5 s and more on an iiod that accepted the
 * connection but does not answer, and on the loop that stalled every
 * other device (losses), the control socket and the watchdog (systemd
 * killed twitchd). The loop looks at each tick whether it is done.
 */
enum { OPENER_RUNNING, OPENER_DONE, OPENER_ABANDONED };

struct opener {
	pthread_t thread;
	atomic_int state;
	struct config_device cfg;	/* what it opens (dc points into it) */
	struct device_config dc;
	struct device *dev;
	int err;
	struct profile_error perr;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;
	int expect = OPENER_RUNNING;

	o->err = profile_open(&o->dc, &o->dev, &o->perr);
	if (!atomic_compare_exchange_strong(&o->state, &expect, OPENER_DONE)) {
		/* twitchd stopped meanwhile and let go of us */
		device_free(o->dev);
		free(o);
	}
	return NULL;
}

static bool is_remote(const struct acq_dev *a)
{
	return strncmp(a->cfg.uri, "ip:", 3) == 0;
}

/* Start opening @a off the loop. Return 0, or -errno (then open it here). */
static int opener_start(struct acq_dev *a)
{
	struct opener *o = calloc(1, sizeof(*o));
	sigset_t all, old;
	int err;

	if (!o)
		return -ENOMEM;
	cfg_copy(&o->cfg, &a->cfg);
	config_device_to_driver(&o->cfg, &o->dc);
	atomic_init(&o->state, OPENER_RUNNING);
	/* signals stay with the loop's signalfd */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&o->thread, NULL, opener_main, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		free(o);
		return err;
	}
	a->opener = o;
	return 0;
}

/* Let go of a running opener (twitchd stops): it frees itself when done. */
static void opener_drop(struct acq_dev *a)
{
	struct opener *o = a->opener;
	int expect = OPENER_RUNNING;
	pthread_t t;

	if (!o)
		return;
	a->opener = NULL;
	t = o->thread;	/* once abandoned, o is the thread's to free */
	if (atomic_compare_exchange_strong(&o->state, &expect, OPENER_ABANDONED)) {
		pthread_detach(t);
		return;
	}
	pthread_join(o->thread, NULL);
	device_free(o->dev);
	free(o);
}

static int open_device_from(struct acq_dev *a, bool first, int err, struct device *dev,
			    const struct profile_error *perr);

/* Try to open (or reopen) the device, here. */
static int open_device(struct acq_dev *a, bool first)
{
	struct device_config dc;
	struct profile_error perr;
	struct device *dev = NULL;
	int err;

	config_device_to_driver(&a->cfg, &dc);
	err = profile_open(&dc, &dev, &perr);
	return open_device_from(a, first, err, dev, &perr);
}

/* The opener's result, if it is done: 1 and its error in *ret_err, else 0. */
static int opener_take(struct acq_dev *a, int *ret_err)
{
	struct opener *o = a->opener;

	if (atomic_load(&o->state) != OPENER_DONE)
		return 0;
	pthread_join(o->thread, NULL);
	a->opener = NULL;
	if (!config_device_equal(&o->cfg, &a->cfg)) {
		/* a reload changed the settings meanwhile: open those */
		device_free(o->dev);
		free(o);
		a->next_attempt_ns = 0;
		return 0;
	}
	*ret_err = open_device_from(a, false, o->err, o->dev, &o->perr);
	free(o);
	return 1;
}

/* The rest of open_device() once profile_open() gave @err and @dev. */
static int open_device_from(struct acq_dev *a, bool first, int err, struct device *dev,
			    const struct profile_error *perr)
{
	char msg[600];
	uint64_t now = loop_now_ns();

	a->dev = err < 0 ? NULL : dev;
	if (err < 0) {
		profile_strerror(perr, msg, sizeof(msg));
		if (first || !a->lost_reported)
			log_device(first && err != -ENODEV ? LOG_ERR : LOG_WARNING, a->cfg.name, -1,
				   "%s", msg);
		a->lost_reported = true;
		return err;
	}
	a->info = device_get_info(a->dev);
	err = size_buffers(a);
	if (err == 0)
		err = ensure_ring(a);
	if (err < 0) {
		log_errno(LOG_ERR, err, "%s: cannot set up buffers and ring%s", a->cfg.name,
			  err == -EXFULL ? " (the device grew: restart twitchd)" : "");
		a->dev = device_free(a->dev);
		a->info = NULL;
		return err;
	}
	if (first) {
		err = setup_pipeline(a);
		if (err < 0) {
			a->dev = device_free(a->dev);	/* the configuration's fault: exit 2 */
			a->info = NULL;
			return err;
		}
	} else {
		start_detection(a);	/* the samples matter more than the detector */
	}
	if (!first)
		a->index_epoch++;
	a->sample_index = 0;
	a->lost_reported = false;
	a->backoff_ms = BACKOFF_MIN_MS;
	if (is_sweeper(a)) {
		if (a->bz == NULL) {
			a->bz = calloc(1, sizeof(*a->bz));
			err = a->bz ? bioz_live_init(a->bz) : -ENOMEM;
			if (err < 0) {
				free(a->bz);
				a->bz = NULL;
				log_errno(LOG_ERR, err, "%s: bioimpedance estimates off", a->cfg.name);
			} else {
				load_calibration(a);
				load_patient(a);
				bioz_settings(a, &a->cfg, true);
			}
		}
		/* at start and after every reopen (a reload, a board swap) */
		if (a->bz && bioz_live_set_analog(a->bz, a->info->excitation_mv,
						  a->info->pga_gain) > 0)
			log_device(LOG_WARNING, a->cfg.name, -1, "stored calibration was made at "
				   "%u mV / PGA x%u; the device now runs at %u mV / PGA x%u: "
				   "recalibrate (twitchctl calibrate OHM)", a->bz->cal_excitation_mv,
				   a->bz->cal_pga_gain, a->info->excitation_mv, a->info->pga_gain);
		a->state = DEV_IDLE;
		a->next_sweep_ns = now;
	} else {
		err = start_stream(a);
		if (err < 0) {
			a->dev = device_free(a->dev);
			a->info = NULL;
			return err;
		}
		a->state = DEV_RUNNING;
	}
	if (is_sweeper(a))
		log_device(LOG_INFO, a->cfg.name, -1, "%s %s (%s%s), sweeps of %u points every "
			   "%u s, epoch %u", a->info->profile, a->info->id, a->info->uri,
			   a->info->via_sysfs ? ", via sysfs" : "", a->info->sweep_points,
			   a->cfg.sweep_interval_ms / 1000, a->index_epoch);
	else
		log_device(LOG_INFO, a->cfg.name, -1, "%s %s (%s%s), %zu channels%s, %.0f Hz, "
			   "blocks of %u scans, epoch %u", a->info->profile, a->info->id,
			   a->info->uri, a->info->via_sysfs ? ", via sysfs" : "",
			   a->info->n_channels, a->info->has_timestamp ? " + timestamp" : "",
			   a->info->rate_hz, a->info->block_scans, a->index_epoch);
	loop_publish_status(a->d, TWITCH_STATUS_DEVICE_UP, a->index, a, "%s up", a->cfg.name);
	return 0;
}

/* The device is absent, unplugged or held by another program: wait for it.
 * Any other failure to open is the settings' fault. */
static bool is_absence(int err)
{
	return err == -ENODEV || err == -ENOENT || err == -EIO || err == -ETIMEDOUT ||
	       err == -ECONNREFUSED || err == -EHOSTUNREACH || err == -EBUSY;
}

int acq_first_open(struct acq_dev *a)
{
	int err = open_device(a, true);

	if (err == 0)
		return 0;
	if (is_absence(err)) {
		a->next_attempt_ns = loop_now_ns() + (uint64_t)a->backoff_ms * 1000000u;
		loop_publish_status(a->d, TWITCH_STATUS_DEVICE_LOST, a->index, a,
				    "%s %s; retrying", a->cfg.name,
				    err == -EBUSY ? "is in use by another program" : "not found");
		return 0;
	}
	return err;
}

/* The next open attempt after the current backoff, which then doubles. */
static void schedule_retry(struct acq_dev *a, uint64_t now)
{
	a->next_attempt_ns = now + (uint64_t)a->backoff_ms * 1000000u;
	a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
}

/* After the last CQE of a device that failed: free it and schedule a retry. */
static void on_event(const struct detect_event *ev, void *userdata);

/* Close the detector's open events: the stream ends here. */
static void finish_events(struct acq_dev *a)
{
	if (a->has_pipeline && a->info)
		detect_finish(a->pl.det, on_event, a);
}

static void finish_loss(struct acq_dev *a)
{
	finish_events(a);
	if (a->reopen) {
		/* a reload, not a loss: reopen at the next tick with the new settings */
		a->reopen = false;
		a->dev = device_free(a->dev);
		a->info = NULL;
		a->fd = -1;
		a->state = DEV_CLOSED;
		a->stop_requested = false;
		a->next_attempt_ns = 0;
		return;
	}
	log_device(LOG_WARNING, a->cfg.name, -1, "device lost after %llu scans; retrying in "
		   "%llu ms", (unsigned long long)a->sample_index,
		   (unsigned long long)a->backoff_ms);
	loop_publish_status(a->d, TWITCH_STATUS_DEVICE_LOST, a->index, a, "%s lost",
			    a->cfg.name);
	a->dev = device_free(a->dev);
	a->info = NULL;
	a->fd = -1;
	a->state = DEV_CLOSED;
	a->stop_requested = false;
	schedule_retry(a, loop_now_ns());
}

static void on_stream_data(struct acq_dev *a, const void *bytes, size_t n_bytes, bool drained);

/* Publish what a block read had so far (stop, device lost). */
static void flush_partial(struct acq_dev *a)
{
	size_t n = a->rfill;

	a->rfill = 0;
	if (n && a->state == DEV_RUNNING)
		on_stream_data(a, a->rbuf, n, false);
}

static void device_gone(struct acq_dev *a, int why)
{
	if (a->stop_requested)
		return;
	flush_partial(a);	/* acquired before the loss: keep it */
	if (a->stop_requested)
		return;		/* it was bad data, and is reported */
	log_errno(LOG_WARNING, why, "%s: read failed", a->cfg.name);
	a->stop_requested = true;
	if (a->in_flight)
		cancel_in_flight(a);
	else
		finish_loss(a);
}

/* A detector event becomes a twitch record in the events ring. */
/*
 * Stamp @h with the time of sample @index of the current segment (it may lie
 * before the segment: events start earlier than they are decided).
 */
static void stamp_index(const struct acq_dev *a, struct twitch_record_hdr *h, uint64_t index)
{
	double period_ns = 1e9 / a->info->rate_hz;
	int64_t dt = (int64_t)((double)((int64_t)index - (int64_t)a->seg_index0) * period_ns);

	h->t_mono_ns = (uint64_t)((int64_t)a->seg_t0_ns + dt);
	h->t_real_ns = (uint64_t)((int64_t)h->t_mono_ns + a->real_minus_mono);
}

static void on_event(const struct detect_event *ev, void *userdata)
{
	struct acq_dev *a = userdata;
	struct twitch_rec_twitch e;

	record_init(&e, ev->type == DETECT_EVENT_UPDATE ? TWITCH_REC_TWITCH_UPDATE :
			TWITCH_REC_TWITCH, sizeof(e), a->index, ev->onset_index);
	stamp_index(a, &e.hdr, ev->onset_index);
	/* an update has a type of its own: clients that count twitches skip it */
	if (ev->type == DETECT_EVENT_ONSET)
		e.hdr.flags = TWITCH_EVF_ONSET;
	else if (ev->type == DETECT_EVENT_REJECT)
		e.hdr.flags = TWITCH_EVF_REJECT;
	else if (ev->type == DETECT_EVENT_FINAL)
		a->n_twitches++;
	e.channel_mask = ev->channel_mask;
	e.channel = ev->channel;
	e.twitch_class = ev->event_class;	/* detect.h keeps twitch.h's numbers */
	e.duration_samples = ev->duration_samples;
	e.index_epoch = a->index_epoch;
	e.duration_ms = ev->duration_ms;
	e.peak_uv = ev->peak_uv;
	e.energy = ev->energy_uv2;
	e.snr = ev->snr;
	e.noise_floor_uv = ev->noise_floor_uv;
	e.rate_hz = (float)a->info->rate_hz;
	ring_publish(a->d->events, &e.hdr);
}

/* Per-epoch sleep-lab metrics from the detector become epoch records. */
static void on_epoch(const struct detect_epoch *ep, void *userdata)
{
	struct acq_dev *a = userdata;
	struct twitch_rec_epoch r;

	record_init(&r, TWITCH_REC_EPOCH, sizeof(r), a->index, ep->start_index);
	stamp_index(a, &r.hdr, ep->start_index);
	r.channel = ep->channel;
	r.epoch_samples = ep->epoch_samples;
	r.n_mini = ep->n_mini;
	r.phasic_mini_mask = ep->phasic_mini_mask;
	r.n_twitches = ep->n_twitches;
	r.n_fm_potentials = ep->n_fm_potentials;
	r.n_lm = ep->n_lm;
	r.flags = ep->flags;	/* detect.h keeps twitch.h's bit values */
	r.fmi_per_min = ep->fmi_per_min;
	r.fmi_window_per_min = ep->fmi_window_per_min;
	r.background_uv = ep->background_uv;
	r.index_epoch = a->index_epoch;
	ring_publish(a->d->events, &r.hdr);
}

/* Every RATES_PERIOD_NS: one rates record per channel. */
static void publish_rates(struct acq_dev *a, uint64_t now)
{
	struct twitch_rec_rates r;
	struct detect_rates dr;
	uint32_t ch;

	for (ch = 0; ch < a->info->n_channels; ch++) {
		if (detect_get_rates(a->pl.det, ch, &dr) < 0)
			continue;
		record_init(&r, TWITCH_REC_RATES, sizeof(r), a->index, a->sample_index);
		r.hdr.t_mono_ns = now;
		r.channel = ch;
		r.index_epoch = a->index_epoch;
		r.per_min_1 = dr.per_min_1;
		r.per_min_5 = dr.per_min_5;
		r.per_min_15 = dr.per_min_15;
		r.covered_s = dr.covered_s;
		r.noise_floor_uv = (float)detect_noise_floor_uv(a->pl.det, ch);
		ring_publish(a->d->events, &r.hdr);
	}
}

/* Scan @index's time at the device's clock as measured (rate_hz > 0, and
 * @index at or after the anchor). */
static uint64_t model_time(const struct acq_dev *a, uint64_t index)
{
	return a->anchor_ns + (uint64_t)((double)(index - a->anchor_index) * 1e9 /
					 (a->info->rate_hz * a->time_ratio));
}

/* CLOCK_MONOTONIC of scan @k of the decoded block (index a->sample_index). */
static uint64_t scan_time(const struct acq_dev *a, size_t k, uint64_t now_mono)
{
	const struct device_info *in = a->info;

	if (in->has_timestamp && !strcmp(in->timestamp_clock, "monotonic"))
		return in->transport == DEVICE_TRANSPORT_CHARDEV ? (uint64_t)a->ts[k]
			: (uint64_t)(a->ts[k] + a->ts_off_ns);	/* the board's clock */
	if (in->rate_hz > 0)	/* the device's clock, as measured, since the anchor */
		return model_time(a, a->sample_index);
	return now_mono;
}

/*
 * Publish scans [first, first + count) of the decoded block: run them
 * through the detector (EMG), then as sample records of at most
 * rec_cap_scans scans. The scans are contiguous: gaps split segments.
 */
static void publish_scans(struct acq_dev *a, size_t first, size_t count, uint64_t now_mono,
			  int64_t real_minus_mono)
{
	const struct device_info *in = a->info;
	size_t n_ch = in->n_channels, k, j, n;
	double period_ns = in->rate_hz > 0 ? 1e9 / in->rate_hz : 0;
	struct twitch_rec_samples *r = a->rec;
	const double *v = a->vals + first * n_ch;
	int res;

	for (j = 0; j < count * n_ch; j++)
		a->fin[j] = (float)v[j];
	a->seg_t0_ns = scan_time(a, first, now_mono);
	a->seg_index0 = a->sample_index;
	a->real_minus_mono = real_minus_mono;
	if (a->has_pipeline) {
		res = pipeline_run(&a->pl, a->fin, count, a->sample_index, on_event, a);
		if (res < 0)
			log_errno(LOG_ERR, res, "%s: detector", a->cfg.name);
	}
	for (k = 0; k < count; k += n) {
		size_t size, n_vals;
		uint64_t t;

		n = count - k;
		if (n > a->rec_cap_scans)
			n = a->rec_cap_scans;
		n_vals = n * n_ch;
		size = record_samples_size((unsigned int)n_ch, (unsigned int)n);
		t = period_ns > 0 ? a->seg_t0_ns + (uint64_t)((double)k * period_ns)
				  : scan_time(a, first + k, now_mono);
		memset(&r->hdr, 0, sizeof(*r));
		r->hdr.type = TWITCH_REC_SAMPLES;
		r->hdr.size = (uint16_t)size;
		r->hdr.device = a->index;
		r->hdr.sample_index = a->sample_index;
		r->hdr.t_mono_ns = t;
		r->hdr.t_real_ns = (uint64_t)((int64_t)t + real_minus_mono);
		r->index_epoch = a->index_epoch;
		r->n_channels = (uint16_t)n_ch;
		r->n_scans = (uint16_t)n;
		r->rate_hz = (float)in->rate_hz;
		r->unit = unit_of(a);
		memcpy(r->data, a->fin + k * n_ch, n_vals * sizeof(float));
		if (n_vals % 2)
			r->data[n_vals] = 0.0f;	/* the 8-byte padding */
		ring_publish(a->ring, &r->hdr);
		a->sample_index += n;
		a->n_scans_total += n;
	}
}

/* Count a gap: publish a loss record and move the sample index past it. */
static void gap(struct acq_dev *a, uint64_t lost, bool exact)
{
	loop_publish_loss(a->d, a, TWITCH_LOSS_DEVICE_OVERRUN, exact, lost, a->sample_index);
	log_device(LOG_WARNING, a->cfg.name, -1, "%s%llu scans lost at index %llu",
		   exact ? "" : "about ", (unsigned long long)lost,
		   (unsigned long long)a->sample_index);
	a->sample_index += lost;
	a->n_lost_total += lost;
}

/* The median of the measured windows' clock ratios. */
static double clock_median(const struct acq_dev *a)
{
	double v[TWITCHD_CLOCK_WINDOWS], t;
	uint32_t i, j, n = a->n_win;

	for (i = 0; i < n; i++) {
		t = a->win_ratio[i];
		for (j = i; j > 0 && v[j - 1] > t; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A window's length: short until the clock's measure is full. */
static uint64_t clock_win_ns(const struct acq_dev *a)
{
	return a->n_win < TWITCHD_CLOCK_WINDOWS ? TWITCHD_CLOCK_WIN0_NS : TWITCHD_CLOCK_WIN_NS;
}

static void clock_window_start(struct acq_dev *a, uint64_t now)
{
	a->loss_anchor_ns = now;
	a->loss_anchor_index = a->sample_index;
	a->min_lag_ns = INT64_MAX;
	a->fit_sx = a->fit_sy = a->fit_sxx = a->fit_sxy = a->fit_syy = 0.0;
	a->fit_n = 0;
}

/* Scan times and the shortfall check start again from now. */
static void clock_restart(struct acq_dev *a, uint64_t now)
{
	a->anchor_ns = now;
	a->anchor_index = a->sample_index;
	a->time_ratio = a->clock_ratio;
	clock_window_start(a, now);
}

/* The window's scans per nominal scan: the least-squares slope of scans
 * read against time over its drained reads. 0 if there are too few, or if
 * they stray from their line by more than a block (RMS): a loss under the
 * slack was in it, a step. */
static double clock_fit_ratio(const struct acq_dev *a)
{
	const double n = a->fit_n, block = a->info->block_scans;
	double sxx, sxy, syy, slope;

	if (a->fit_n < 10)
		return 0.0;
	sxx = a->fit_sxx - a->fit_sx * a->fit_sx / n;
	sxy = a->fit_sxy - a->fit_sx * a->fit_sy / n;
	syy = a->fit_syy - a->fit_sy * a->fit_sy / n;
	if (!(sxx > 0.0))
		return 0.0;
	slope = sxy / sxx;
	if ((syy - slope * sxy) / n > block * block)
		return 0.0;
	return slope / a->info->rate_hz;
}

/*
 * A window of the shortfall check is over, without loss: if its reads lie
 * on a line (clock_fit_ratio()), its scans per nominal scan join the
 * clock's measure. The scan
 * times go on from where they are, at the new rate, slewed so that the
 * window's phase error (its least lag, over its last quarter: the read
 * that brings a scan cannot come before the scan was made, nor, at its
 * earliest, much after) is gone by the end of the next window: they
 * never step back.
 */
static void clock_window_end(struct acq_dev *a, uint64_t now)
{
	double ratio = clock_fit_ratio(a);
	uint64_t t = model_time(a, a->sample_index);
	int64_t lag = a->min_lag_ns;
	double step_ns = fmax(TWITCHD_LOSS_LAG_BLOCKS * a->info->block_scans * 1e9 /
			      a->info->rate_hz, TWITCHD_LOSS_LAG_MIN_NS);

	/*
	 * A loss under the shortfall check's slack (100 ms) still shows: the
	 * reads then come that much later than the measured clock says the
	 * scans were made, for good, where they came at about its time (the
	 * phase is slewed out window after window). Once the clock is
	 * measured, a least lag over the window's last quarter of more than
	 * a few blocks is such a loss, not a phase error to slew away: 300
	 * scans lost at 4 kHz were hidden so, and every later index 75 ms
	 * early. Its place in the window is not known: it is put here.
	 */
	if (a->n_win >= TWITCHD_CLOCK_WINDOWS && lag != INT64_MAX && (double)lag > step_ns) {
		gap(a, (uint64_t)llround((double)lag * a->info->rate_hz * a->clock_ratio / 1e9),
		    false);
		clock_restart(a, now);
		return;
	}

	if (fabs(ratio - 1.0) <= TWITCHD_CLOCK_MAX_ERR) {
		a->win_ratio[a->win_pos] = ratio;
		a->win_pos = (a->win_pos + 1) % TWITCHD_CLOCK_WINDOWS;
		if (a->n_win < TWITCHD_CLOCK_WINDOWS)
			a->n_win++;
		a->clock_ratio = clock_median(a);
	}
	a->anchor_ns = t;
	a->anchor_index = a->sample_index;
	clock_window_start(a, now);
	/* a phase error e, taken out over the next window of length W:
	 * scans come 1 + e/W times as far apart (e < W/2: never back) */
	a->time_ratio = a->clock_ratio;
	if (lag != INT64_MAX) {
		double e = (double)lag / (double)clock_win_ns(a);

		if (e > 0.5)
			e = 0.5;
		if (e < -0.5)
			e = -0.5;
		a->time_ratio = a->clock_ratio / (1.0 + e);
	}
	if (fabs(a->clock_ratio - a->clock_logged) >= 0.001) {
		log_device(LOG_NOTICE, a->cfg.name, -1,
			   "the device's clock runs %.0f ppm %s than its rate says: followed",
			   fabs(a->clock_ratio - 1.0) * 1e6,
			   a->clock_ratio < 1.0 ? "slower" : "faster");
		a->clock_logged = a->clock_ratio;
	}
}

/*
 * A read found the kernel buffer empty (devices without a timestamp
 * channel): what was made since the window began and not read was lost.
 * "Made" counts at the device's clock as measured, not at the nominal
 * rate: an oscillator off by 0.5% (an ADS1298's own is specified to a few
 * percent) would otherwise pass for a loss every 20 s at 4 kHz.
 */
static void judge_shortfall(struct acq_dev *a, uint64_t now)
{
	const struct device_info *in = a->info;
	double period_ns = 1e9 / in->rate_hz, expected, have, x;
	uint64_t slack;

	/*
	 * Count from a drained read, not from the enable: a device makes its
	 * first scan some time after it (the ADS1298 settles, the simulator
	 * hears of it by inotify), and that would count as lost. At two
	 * drained reads the kernel holds next to nothing, so what was made
	 * between them and not read is what was lost. The first drained read
	 * is judged from the enable (the scan times' anchor), so that a loss
	 * before it is still seen, if less exactly.
	 */
	/* 2 blocks and at least 100 ms: a late wake-up of the loop is no loss */
	slack = 2 * (uint64_t)in->block_scans;
	if (slack < (uint64_t)(in->rate_hz / 10.0))
		slack = (uint64_t)(in->rate_hz / 10.0);
	if (!a->loss_anchored) {
		a->loss_anchored = true;
		expected = (double)(now - a->anchor_ns) / period_ns;
		have = (double)(a->sample_index - a->anchor_index);
		/* (a start-up shortfall within the slack is not reported) */
		if (expected <= have + (double)slack && have <= expected + (double)slack) {
			clock_window_start(a, now);
			return;
		}
	} else {
		expected = (double)(now - a->loss_anchor_ns) / period_ns * a->clock_ratio;
		have = (double)(a->sample_index - a->loss_anchor_index);
	}
	/* until the clock is measured, its error up to 5% may add to the slack */
	if (a->n_win == 0)
		slack += (uint64_t)(TWITCHD_CLOCK_MAX_ERR * expected);
	if (expected > have + (double)slack) {
		gap(a, (uint64_t)llround(expected - have), false);
		clock_restart(a, now);
		return;
	}
	if (have > expected + (double)slack) {
		/* the device's clock jumped ahead of ours: follow it */
		clock_restart(a, now);
		return;
	}
	x = (double)(now - a->loss_anchor_ns) * 1e-9;
	/* the last scan read: its model time against now, late in the window */
	if (a->sample_index > a->anchor_index && now - a->loss_anchor_ns >= clock_win_ns(a) / 4 * 3) {
		int64_t lag = (int64_t)(now - model_time(a, a->sample_index - 1));

		if (lag < a->min_lag_ns)
			a->min_lag_ns = lag;
	}
	a->fit_sx += x;
	a->fit_sy += have;
	a->fit_sxx += x * x;
	a->fit_sxy += x * have;
	a->fit_syy += have * have;
	a->fit_n++;
	if (now - a->loss_anchor_ns >= clock_win_ns(a))
		clock_window_end(a, now);
}

/*
 * @bytes as read (any split; drivers/ keeps partial scans). @drained: the
 * read found the kernel buffer empty, so a shortfall against elapsed time
 * is real (devices without a timestamp channel).
 */
static void on_stream_data(struct acq_dev *a, const void *bytes, size_t n_bytes, bool drained)
{
	const struct device_info *in = a->info;
	uint64_t now = loop_now_ns();
	int64_t real_minus_mono = (int64_t)record_clock_ns(CLOCK_REALTIME) - (int64_t)now;
	double period_ns = 1e9 / in->rate_hz;
	size_t i, seg = 0;
	int n;

	a->last_data_ns = now;	/* for stalled() */
	n = device_decode(a->dev, bytes, n_bytes, a->vals, in->has_timestamp ? a->ts : NULL,
			  a->cap_scans);
	if (n < 0) {
		device_gone(a, n);
		return;
	}
	if (in->has_timestamp) {
		if (!a->have_prev_ts || !(a->ts_period_ns > 0.0))
			a->ts_period_ns = period_ns;
		if (in->transport != DEVICE_TRANSPORT_CHARDEV && n > 0) {
			/*
			 * A remote board's clock is not ours: its timestamps are
			 * mapped onto ours by the least delay seen from a scan's
			 * stamp to its arrival, which rises back slowly so that
			 * the two clocks may drift apart. (They were taken as
			 * ours: a board up a day longer put every record a day
			 * in the future.)
			 */
			int64_t off = (int64_t)now - a->ts[n - 1];

			if (!a->have_prev_ts)
				a->ts_off_ns = off;
			else if (off < a->ts_off_ns)
				/* down by at most half a period a block: a block
				 * that came faster must not stamp its first scan
				 * before the last one's */
				a->ts_off_ns -= (int64_t)fmin((double)(a->ts_off_ns - off),
							      0.5 * a->ts_period_ns);
			else
				a->ts_off_ns += (off - a->ts_off_ns) / 4096;
		}
		for (i = 0; i < (size_t)n; i++) {
			if (a->have_prev_ts) {
				double step = (double)(a->ts[i] - a->prev_ts);
				double k = step / a->ts_period_ns;

				/* a step of 1.5 periods or more: scans are missing,
				 * counted in the periods the timestamps show (a clock
				 * 2% slow made 1000 lost scans 980, "exact") */
				if (k >= 1.5) {
					publish_scans(a, seg, i - seg, now, real_minus_mono);
					gap(a, (uint64_t)llround(k) - 1,
					    fabs(k - round(k)) < 0.25);
					seg = i;
				} else if (k > 0.5) {
					a->ts_period_ns += (step - a->ts_period_ns) / 1024.0;
				}
			}
			a->prev_ts = a->ts[i];
			a->have_prev_ts = true;
		}
		publish_scans(a, seg, (size_t)n - seg, now, real_minus_mono);
		return;
	}
	publish_scans(a, 0, (size_t)n, now, real_minus_mono);
	if (drained && in->rate_hz > 0)
		judge_shortfall(a, now);
}

static void publish_estimate(struct acq_dev *a, const struct bioz_estimate *e, uint64_t now,
			     int64_t real_minus_mono)
{
	struct twitch_rec_bioz z;

	record_init(&z, TWITCH_REC_BIOZ, sizeof(z), a->index, a->sweep_no);
	z.hdr.t_mono_ns = now;
	z.hdr.t_real_ns = (uint64_t)((int64_t)now + real_minus_mono);
	if (!(e->fit_flags & BIOZ_FIT_UNTRUSTED_MASK))
		z.flags |= TWITCH_BIOZF_TRUSTED;
	if (!(e->est_flags & BIOZ_EST_NO_SUBJECT))
		z.flags |= TWITCH_BIOZF_SUBJECT;
	if (!(e->est_flags & BIOZ_EST_RI_ABSENT))
		z.flags |= TWITCH_BIOZF_BASELINE;
	if (e->biva_class != BIOZ_BIVA_ABSENT)
		z.flags |= TWITCH_BIOZF_BIVA;
	if (e->est_flags & BIOZ_EST_OUTSIDE_VALIDITY)
		z.flags |= TWITCH_BIOZF_OUTSIDE_VALIDITY;
	if (e->est_flags & BIOZ_EST_ICW_EXTRAPOLATED)
		z.flags |= TWITCH_BIOZF_ICW_EXTRAPOLATED;
	z.n_points = e->n_points;
	z.n_used = e->n_used;
	z.biva_class = e->biva_class;
	z.model_fit = (uint16_t)e->model_cole;
	z.model_ecw = (uint16_t)e->model_ecw;
	z.model_tbw_sf = (uint16_t)e->model_tbw_sf;
	z.model_biva = (uint16_t)e->model_biva;
	z.model_ri = (uint16_t)e->model_ri;
	z.alerts = e->alerts;
	z.r0_ohm = e->r0_ohm;
	z.rinf_ohm = e->rinf_ohm;
	z.alpha = e->alpha;
	z.fc_hz = e->fc_hz;
	z.r50_ohm = e->r50_ohm;
	z.xc50_ohm = e->xc50_ohm;
	z.phase_deg_50k = e->phase_deg_50k;
	z.ecw_l = e->ecw_l;
	z.icw_l = e->icw_l;
	z.tbw_l = e->tbw_l;
	z.tbw_sf_l = e->tbw_sf_l;
	z.ecw_tbw = e->ecw_tbw;
	z.biva_r_h = e->biva_r_h;
	z.biva_xc_h = e->biva_xc_h;
	z.ri_index = e->re_index;
	z.ri_uncert = e->re_index_u;
	z.temp_c = e->temp_c;
	z.rms_residual_ohm = e->rms_ohm;
	ring_publish(a->d->events, &z.hdr);
	a->n_estimates++;
}

/* The EMG channel whose twitch rate rose most, at this sweep (co-occurrence). */
struct twitch_trend {
	bool rising;
	uint16_t dev;
	uint32_t channel;
	double per_min, prior;	/* last 5 min, the 10 min before; per minute */
};

/*
 * One alert record per change: raised when a sweep sets the bit, cleared
 * when a later sweep (with the inputs to judge it) no longer does.
 */
static void publish_alerts(struct acq_dev *a, const struct bioz_estimate *e,
			   const struct twitch_trend *tr, uint64_t now, int64_t real_minus_mono)
{
	const struct bioz_live *b = a->bz;
	const struct bioz_alert_config *c = &b->alerts;
	uint32_t changed = (e->alerts ^ b->alerts_on), bit;
	struct twitch_rec_alert r;
	bool raised;

	for (bit = 1; bit <= BIOZ_ALERT_CO_OCCURRENCE; bit <<= 1) {
		if (!(changed & bit))
			continue;
		raised = e->alerts & bit;
		record_init(&r, TWITCH_REC_ALERT, sizeof(r), a->index, a->sweep_no);
		r.hdr.t_mono_ns = now;
		r.hdr.t_real_ns = (uint64_t)((int64_t)now + real_minus_mono);
		r.alert = bit;
		r.state = raised ? TWITCH_ALERT_RAISED : TWITCH_ALERT_CLEARED;
		r.value = r.baseline = r.threshold = r.uncertainty = NAN;
		switch (bit) {
		case BIOZ_ALERT_PHA_DROP:
			r.value = e->phase_deg_50k;
			r.baseline = b->ri.base_pha_deg;
			r.threshold = b->ri.base_pha_deg - c->pha_drop_deg;
			snprintf(r.text, sizeof(r.text), "phase angle at 50 kHz %s %.1f deg below "
				 "baseline", raised ? "fell" : "no longer", c->pha_drop_deg);
			break;
		case BIOZ_ALERT_ECW_TBW_RISE:
			r.value = e->ecw_tbw;
			r.baseline = b->ri.base_ecw_tbw;
			r.threshold = b->ri.base_ecw_tbw + c->ecw_tbw_rise;
			snprintf(r.text, sizeof(r.text), "ECW/TBW (Hanai + Matthie) %s %.3f above "
				 "baseline", raised ? "rose" : "no longer", c->ecw_tbw_rise);
			break;
		case BIOZ_ALERT_RE_INDEX_CHANGE:
			r.value = e->re_index;
			r.baseline = 0.0;
			r.threshold = c->ri_k * e->re_index_u;
			r.uncertainty = e->re_index_u;
			snprintf(r.text, sizeof(r.text), "extracellular-resistance index %s beyond "
				 "%.0fx its uncertainty (not a concentration)",
				 raised ? "moved" : "back within", c->ri_k);
			break;
		default:
			if (tr->rising) {
				r.value = tr->per_min;
				r.baseline = tr->prior;
				r.threshold = fmax(c->twitch_rise_ratio * tr->prior,
						   tr->prior + c->twitch_rise_min_per_min);
			}
			if (raised)
				snprintf(r.text, sizeof(r.text), "twitch rate up on device %u ch %u "
					 "with a hydration shift (co-occurrence, no causal "
					 "claim)", tr->dev, tr->channel);
			else
				snprintf(r.text, sizeof(r.text), "twitch rate rise with a hydration "
					 "shift no longer (co-occurrence)");
			break;
		}
		ring_publish(a->d->events, &r.hdr);
	}
	a->bz->alerts_on = e->alerts;
}

/*
 * For the co-occurrence alert: the EMG channel whose twitch rate rose the
 * most (bioz_twitch_rate_rising()) over every device with a detector.
 */
static void twitch_trend(const struct acq_dev *a, struct twitch_trend *ret)
{
	const struct twitchd *d = a->d;
	struct detect_rates dr;
	double prior, best = -1.0;
	size_t i;
	uint32_t ch;

	*ret = (struct twitch_trend){ .per_min = NAN, .prior = NAN };
	for (i = 0; i < d->n_devs; i++) {
		const struct acq_dev *e = &d->devs[i];

		if (!e->has_pipeline || !e->info)
			continue;
		for (ch = 0; ch < e->info->n_channels; ch++) {
			if (detect_get_rates(e->pl.det, ch, &dr) < 0 ||
			    !bioz_twitch_rate_rising(&a->bz->alerts, dr.per_min_5, dr.per_min_15,
						     dr.covered_s, &prior) ||
			    dr.per_min_5 - prior <= best)
				continue;
			best = dr.per_min_5 - prior;
			*ret = (struct twitch_trend){ .rising = true, .dev = e->index, .channel = ch,
						      .per_min = dr.per_min_5, .prior = prior };
		}
	}
}

/* Calibrate, or fit and estimate, from the sweep just published. */
static void estimate_sweep(struct acq_dev *a, uint64_t now, int64_t real_minus_mono)
{
	const struct device_info *in = a->info;
	struct twitch_trend tr;
	struct bioz_estimate e;
	double cal_ohm, cal_rp, cal_c;
	bool early;
	int res;

	if (a->bz == NULL || a->n_sweep_freq != in->sweep_points)
		return;
	cal_ohm = a->bz->cal_pending_ohm;
	cal_rp = a->bz->cal_pending_rp_ohm;
	cal_c = a->bz->cal_pending_c_f;
	/*
	 * A sweep that began before the request measured whatever was on the
	 * leads then (the patient, open leads), not the resistor: it is an
	 * ordinary sweep, and the next one calibrates.
	 */
	early = cal_ohm > 0 && a->sweep_started_ns < a->bz->cal_pending_since_ns;
	if (early)
		a->bz->cal_pending_ohm = 0;
	twitch_trend(a, &tr);
	res = bioz_live_sweep(a->bz, (uint32_t)a->sweep_no, a->sweep_freq_hz, a->vals,
			      in->sweep_points, (double)now / 1e9, tr.rising, &e);
	if (early)
		a->bz->cal_pending_ohm = cal_ohm;	/* still pending */
	if (res == 1) {
		log_device(LOG_NOTICE, a->cfg.name, -1, "calibrated over %zu frequencies",
			   a->bz->n_cal);
		save_calibration(a, cal_ohm, cal_rp, cal_c);
		/* the index compares sweeps with a baseline measured through the
		 * old calibration: a new one (a resistor 1% off) would read as a
		 * change of the patient, and raise an alert */
		bioz_ri_rebaseline(&a->bz->ri, a->bz->ri.cfg.baseline_n);
		a->bz->baseline_t_real_ns = 0;
		acq_save_patient(a);
		log_device(LOG_NOTICE, a->cfg.name, -1, "resistance-index baseline restarted: "
			   "the next %u trusted sweeps, through the new calibration",
			   a->bz->ri.cfg.baseline_n);
		loop_publish_status(a->d, TWITCH_STATUS_DEVICE_UP, a->index, a,
				    "%s calibrated over %zu frequencies", a->cfg.name,
				    a->bz->n_cal);
	} else if (res == -EOVERFLOW && cal_ohm > 0) {
		log_device(LOG_WARNING, a->cfg.name, -1, "the calibration sweep saturated the "
			   "ADC: use a larger resistor or a lower excitation/PGA (excitation_mv, "
			   "pga_gain); not calibrated");
	} else if (res == -ESTALE) {
		log_device(LOG_WARNING, a->cfg.name, -1, "the stored calibration does not fit "
			   "this sweep's frequencies: dropped; calibrate again (twitchctl "
			   "calibrate OHM)");
	} else if (res == -ENODATA) {
		if (a->sweep_no == 0)
			log_device(LOG_NOTICE, a->cfg.name, -1, "not calibrated: sweeps are "
				   "published as raw counts, without estimates (twitchctl "
				   "calibrate OHM)");
	} else if (res < 0) {
		log_errno(LOG_WARNING, res, "%s: sweep %llu: no estimate", a->cfg.name,
			  (unsigned long long)a->sweep_no);
	} else {
		publish_estimate(a, &e, now, real_minus_mono);
		publish_alerts(a, &e, &tr, now, real_minus_mono);
		if (a->bz->ri.n_base && !a->bz->baseline_t_real_ns) {
			/* a baseline was just finished: keep it */
			a->bz->baseline_t_real_ns = (uint64_t)((int64_t)now + real_minus_mono);
			acq_save_patient(a);
		}
	}
}

struct acq_dev *acq_find_bioz(struct twitchd *d)
{
	size_t i;

	for (i = 0; i < d->n_devs; i++)
		if (d->devs[i].bz)
			return &d->devs[i];
	return NULL;
}

static void finish_sweep(struct acq_dev *a)
{
	device_stop(a->dev);
	a->fd = -1;
	a->state = DEV_IDLE;
	a->sweep_no++;
}

static void on_sweep_data(struct acq_dev *a, size_t n_bytes)
{
	const struct device_info *in = a->info;
	uint64_t now = loop_now_ns();
	int64_t real_minus_mono = (int64_t)record_clock_ns(CLOCK_REALTIME) - (int64_t)now;
	double *vals = a->vals + (size_t)a->sweep_scans * in->n_channels;
	size_t room = a->cap_scans - a->sweep_scans;
	int n;

	/* a sweep accumulates in vals until it has every point */
	n = device_decode(a->dev, a->rbuf, n_bytes, vals, NULL, room);
	if (n < 0) {
		device_gone(a, n);
		return;
	}
	a->sweep_scans += (uint32_t)n;
	if (a->sweep_scans < in->sweep_points)
		return;
	a->sample_index = a->sweep_no;	/* a sweep's index is its number */
	publish_scans(a, 0, in->sweep_points, now, real_minus_mono);
	a->sample_index = a->sweep_no;
	estimate_sweep(a, now, real_minus_mono);
	finish_sweep(a);
}

/*
 * A local stream read @n bytes into rbuf. The kernel wakes us at the
 * watermark and a read returns at least a block; where a read returns less
 * (a device node that hands data over in pieces, as the simulator's pty
 * does in 4 KiB), read on until the block is whole, as libiio's refill
 * does, so that the chain and the records work a block at a time. Whole:
 * a block's worth, or the stream is at a block's end (after a read that
 * ran past one).
 */
static void on_stream_read(struct acq_dev *a, size_t n)
{
	size_t asked = a->rbuf_size - a->rfill, whole;
	bool pieces = a->rfill > 0;

	a->rfill += n;
	a->stream_off += n;
	if (a->block_bytes && a->rfill < a->block_bytes && a->stream_off % a->block_bytes != 0)
		return;		/* the caller reads on into the rest */
	whole = a->rfill;
	a->rfill = 0;		/* first: a decoding error ends in device_gone() */
	/* a block handed over in pieces: a short last piece does not show the
	 * buffer empty (the simulator's pty after a stall, with more queued) */
	on_stream_data(a, a->rbuf, whole, n < asked && !pieces);
}

/*
 * A remote device: the eventfd said blocks are ready; take them all. The
 * refill thread counts the blocks it had to drop (we were slow): exact.
 */
static void take_blocks(struct acq_dev *a)
{
	const void *blk;
	uint64_t lost = 0;
	size_t len;
	int r;

	while ((r = device_take_block(a->dev, &blk, &len, &lost)) == 0) {
		/* blocks the refill thread dropped just before this one; with
		 * a timestamp channel the timestamps count them, exactly (both
		 * counted them twice, the first at the wrong index) */
		if (lost && !a->info->has_timestamp)
			gap(a, lost * a->info->block_scans, true);
		on_stream_data(a, blk, len, false);
		device_release_block(a->dev);
		lost = 0;
		if (a->stop_requested)
			return;
	}
	if (r != -EAGAIN) {
		/* blocks dropped just before the stream broke: no block
		 * follows them, and no timestamp counts them */
		if (lost)
			gap(a, lost * a->info->block_scans, true);
		device_gone(a, r);	/* the stream broke: reconnect */
	}
}

void acq_on_cqe(struct acq_dev *a, enum op op, int res)
{
	a->in_flight--;
	if (a->stop_requested) {
		if (a->in_flight == 0)
			finish_loss(a);
		return;
	}
	if (op == OP_DEV_POLL) {
		if (res < 0 && res != -ECANCELED)
			device_gone(a, res);
		return;
	}
	if (res > 0) {
		if (a->state == DEV_SWEEPING)
			on_sweep_data(a, (size_t)res);
		else if (a->info->transport == DEVICE_TRANSPORT_BLOCKS)
			take_blocks(a);
		else
			on_stream_read(a, (size_t)res);
	} else if (res == 0 || (res != -EAGAIN && res != -EINTR && res != -ECANCELED)) {
		device_gone(a, res == 0 ? -ENODEV : res);
		return;
	}
	if (a->stop_requested || a->in_flight || a->d->stopping)
		return;		/* on shutdown the loop drains the device itself */
	if (a->state == DEV_RUNNING || a->state == DEV_SWEEPING)
		arm(a);
}

static void start_sweep(struct acq_dev *a, uint64_t now)
{
	double temp_c;
	int res;

	if (ad5933_read_temperature(a->dev, &temp_c) == 0)
		log_device(LOG_DEBUG, a->cfg.name, -1, "sweep %llu, %.1f degC",
			   (unsigned long long)a->sweep_no, temp_c);
	res = ad5933_frequencies(a->dev, a->sweep_freq_hz, BIOZLIVE_MAX_POINTS);
	a->n_sweep_freq = res > 0 ? (size_t)res : 0;
	a->sweep_scans = 0;
	a->sweep_started_ns = now;
	if (start_stream(a) < 0) {
		a->stop_requested = true;
		finish_loss(a);
		return;
	}
	a->state = DEV_SWEEPING;
}

/* A local streaming device that has sent nothing for 2 s, or 10 blocks if
 * longer. (A remote one's refill thread times out by itself.) */
static bool stalled(const struct acq_dev *a, uint64_t now)
{
	double limit_s;

	if (a->stop_requested || !a->info || a->info->rate_hz <= 0 ||
	    a->info->transport != DEVICE_TRANSPORT_CHARDEV)
		return false;
	limit_s = fmax(2.0, 10.0 * a->info->block_scans / a->info->rate_hz);
	return now > a->last_data_ns && (double)(now - a->last_data_ns) > limit_s * 1e9;
}

void acq_on_tick(struct acq_dev *a, uint64_t now)
{
	if (a->patient_dirty && a->bz)
		acq_save_patient(a);
	switch (a->state) {
	case DEV_CLOSED: {
		int err;

		if (a->stop_requested || a->d->stopping)
			return;
		if (a->opener) {
			if (!opener_take(a, &err))
				return;
		} else {
			if (now < a->next_attempt_ns)
				return;
			if (is_remote(a) && opener_start(a) == 0)
				return;
			err = open_device(a, false);
		}
		if (err < 0 && a->running_cfg && !is_absence(err)) {
			/* a reload's settings the device or the ring cannot take:
			 * the monitor goes on with the ones it ran */
			log_device(LOG_ERR, a->cfg.name, -1, "the reloaded settings do not "
				   "run (%s): back to the running settings until the file "
				   "is fixed and reloaded%s", strerror(-err),
				   err == -EXFULL ? ", or twitchd restarted" : "");
			bioz_settings(a, a->running_cfg, false);
			cfg_copy(&a->cfg, a->running_cfg);
			free(a->running_cfg);
			a->running_cfg = NULL;
			if (is_remote(a)) {
				a->next_attempt_ns = 0;	/* the opener, at the next tick */
				return;
			}
			err = open_device(a, false);
		}
		if (err == 0) {
			free(a->running_cfg);	/* the new settings run */
			a->running_cfg = NULL;
		} else {
			/* from now: an attempt can take seconds */
			schedule_retry(a, loop_now_ns());
		}
		return;
	}
	case DEV_IDLE:
		if (now < a->next_sweep_ns)
			return;
		/* periodic deadlines: prev + period, skipping whole missed periods */
		a->next_sweep_ns += a->cfg.sweep_interval_ms * 1000000ull;
		if (a->next_sweep_ns <= now)
			a->next_sweep_ns = now + a->cfg.sweep_interval_ms * 1000000ull;
		start_sweep(a, now);
		return;
	case DEV_SWEEPING:
		if (!a->stop_requested && now - a->sweep_started_ns > SWEEP_TIMEOUT_NS)
			device_gone(a, -ETIMEDOUT);
		return;
	case DEV_RUNNING:
		if (stalled(a, now)) {
			/* an unregistered IIO device's poll says nothing (the
			 * kernel's iio_buffer_poll() returns 0 once its info is
			 * gone), nor does a front end whose clock stopped: the
			 * read would never come. Reopen: it fails with ENODEV
			 * while the device is away, and retries. */
			log_device(LOG_WARNING, a->cfg.name, -1, "no samples for %.1f s: "
				   "reopening", (double)(now - a->last_data_ns) / 1e9);
			device_gone(a, -ETIMEDOUT);
			return;
		}
		if (a->has_pipeline && now >= a->next_rates_ns) {
			if (a->next_rates_ns)
				publish_rates(a, now);
			a->next_rates_ns = now + RATES_PERIOD_NS;
		}
		return;
	}
}

/* Would the chain of a->cfg run on the open device? Else why not, in @msg. */
static bool chain_fits(const struct acq_dev *a, char *msg, size_t len)
{
	struct detect_config dcfg;
	struct dsp_config dsp;

	if (a->info == NULL || a->cfg.no_detect || !chain_possible(a->info))
		return true;	/* no chain runs: setup_pipeline() says so */
	return chain_for_device(a, &dsp, &dcfg, msg, len) == 0;
}

void acq_reconfigure(struct acq_dev *a, const struct config_device *cfg)
{
	bool same = config_device_equal(&a->cfg, cfg);
	bool chain_same = config_chain_equal(&a->cfg, cfg);
	struct config_device *old = NULL;
	char msg[160];

	if (same && !chain_same && a->state == DEV_RUNNING && !a->stop_requested)
		old = malloc(sizeof(*old));	/* the running chain, if the new one fails */
	if (old)
		*old = a->cfg;
	if (!same && a->state != DEV_CLOSED && a->running_cfg == NULL) {
		/* the settings it runs, if the new ones do not open */
		a->running_cfg = malloc(sizeof(*a->running_cfg));
		if (a->running_cfg)
			cfg_copy(a->running_cfg, &a->cfg);
	}
	bioz_settings(a, cfg, false);
	cfg_copy(&a->cfg, cfg);	/* thresholds and subject too, even when nothing reopens */
	if (old && !chain_fits(a, msg, sizeof(msg))) {
		/* a typo in a reload must not turn a running monitor's detection off */
		log_device(LOG_ERR, a->cfg.name, -1, "%s; keeping the running filter and "
			   "detector settings", msg);
		config_chain_copy(&a->cfg, old);
		free(old);
		return;
	}
	free(old);
	if (same && !chain_same && a->state == DEV_RUNNING && !a->stop_requested) {
		/* the stream goes on: open events end here, the new chain learns
		 * its noise floors */
		if (a->has_pipeline) {
			finish_events(a);
			pipeline_deinit(&a->pl);
			a->has_pipeline = false;
		}
		if (start_detection(a) == 0 && a->has_pipeline)
			log_device(LOG_INFO, a->cfg.name, -1, "new filter and detector settings");
	}
	if (same && !chain_same && a->state == DEV_CLOSED)
		a->next_attempt_ns = 0;	/* it may have failed on the old chain */
	if (same)
		return;
	log_device(LOG_INFO, a->cfg.name, -1, "new settings: reopening");
	flush_partial(a);	/* what the last block read holds was acquired */
	if (a->state == DEV_CLOSED) {
		a->next_attempt_ns = 0;
		return;
	}
	a->reopen = true;
	a->stop_requested = true;
	if (a->in_flight)
		cancel_in_flight(a);
	else
		finish_loss(a);
}

void acq_drain_and_stop(struct acq_dev *a)
{
	ssize_t n;

	if (a->state == DEV_RUNNING && a->fd >= 0 && !a->stop_requested) {
		/* whatever the kernel still holds is acquired data: publish it */
		if (a->info->transport == DEVICE_TRANSPORT_BLOCKS)
			take_blocks(a);
		else
			while ((n = read(a->fd, a->rbuf + a->rfill, a->rbuf_size - a->rfill)) > 0) {
				a->rfill += (size_t)n;
				if (a->rfill == a->rbuf_size)
					flush_partial(a);
			}
		flush_partial(a);
		/* stop the device at once: what it makes from now on is never read */
		device_stop(a->dev);
		finish_events(a);
	}
	a->dev = device_free(a->dev);
	a->info = NULL;
	a->fd = -1;
	a->state = DEV_CLOSED;
}

void acq_free(struct acq_dev *a)
{
	opener_drop(a);
	if (a->patient_dirty && a->bz)
		acq_save_patient(a);	/* a command just before the stop */
	free(a->running_cfg);
	a->running_cfg = NULL;
	a->dev = device_free(a->dev);
	free_buffers(a);
	if (a->bz) {
		bioz_live_deinit(a->bz);
		free(a->bz);
		a->bz = NULL;
	}
}

int acq_describe(const struct acq_dev *a, char *buf, size_t len)
{
	static const char *const st[] = { "closed", "running", "idle", "sweeping" };
	const struct bioz_live *b = a->bz;
	char extra[640] = "";	/* the detector, or the patient context */
	char rate[48];

	if (!b && a->info && unit_of(a) == TWITCH_UNIT_UV) {
		/* the detector as it runs: a clinician checks the legs and mains here */
		char mains[32];

		if (a->cfg.filt.mains == DSP_MAINS_AUTO && a->has_pipeline && a->pl.mains_hz)
			snprintf(mains, sizeof(mains), "%u Hz (found)", a->pl.mains_hz);
		else if (a->cfg.filt.mains == DSP_MAINS_AUTO)
			snprintf(mains, sizeof(mains), "auto (none found yet)");
		else
			snprintf(mains, sizeof(mains), "%s", a->cfg.filt.mains == DSP_MAINS_OFF ?
				 "off" : a->cfg.filt.mains == DSP_MAINS_50HZ ? "50 Hz" : "60 Hz");
		if (a->has_pipeline)
			snprintf(extra, sizeof(extra), ", mains %s, leg channels %.512s", mains,
				 a->cfg.legs[0] ? a->cfg.legs : "none (no limb movements)");
		else
			snprintf(extra, sizeof(extra), ", no twitch detection (%s)",
				 a->cfg.no_detect ? "detect = no" : "see the log");
	}
	if (b) {
		double t = bioz_live_temp(b, (double)loop_now_ns() / 1e9);
		char temp[32] = "no tissue temperature";

		if (isfinite(t))
			snprintf(temp, sizeof(temp), "tissue %.1f degC", t);
		snprintf(extra, sizeof(extra), ", %s, %s, %s",
			 b->has_subject ? "subject data set" : "no subject data",
			 b->ri.n_base ? "baseline set" : "baseline being taken", temp);
	}
	if (a->info == NULL)
		return snprintf(buf, len, "%s: %s, %llu scans, %llu lost", a->cfg.name,
				a->stop_requested ? "stopping" : "absent",
				(unsigned long long)a->n_scans_total,
				(unsigned long long)a->n_lost_total);
	if (is_sweeper(a))	/* a sweep has no sampling rate: say what it is */
		snprintf(rate, sizeof(rate), "sweeps of %u points", a->info->sweep_points);
	else
		snprintf(rate, sizeof(rate), "@ %.0f Hz", a->info->rate_hz);
	return snprintf(buf, len, "%s: %s %s %zu ch %s, %s, epoch %u, %llu scans, "
			"%llu lost, %llu %s%s", a->cfg.name, a->info->profile, a->info->id,
			a->info->n_channels, rate, st[a->state], a->index_epoch,
			(unsigned long long)a->n_scans_total, (unsigned long long)a->n_lost_total,
			(unsigned long long)(a->bz ? a->n_estimates : a->n_twitches),
			a->bz ? (a->bz->n_cal ? "estimates" : "estimates (not calibrated)") :
			"twitches", extra);
}

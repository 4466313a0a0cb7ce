/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * biozlive.h - live bioimpedance: calibration on command, and per sweep the
 * Cole fit, the estimates and the resistance index, published as records.
 */
#ifndef TWITCHD_BIOZLIVE_H
#define TWITCHD_BIOZLIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bioz.h"

#define BIOZLIVE_MAX_POINTS 512
#define BIOZLIVE_TEMP_MAX_AGE_S 1800.0	/* a tissue temperature given is used this long */

struct bioz_live {
	struct bioz_fit_ws *ws;
	struct bioz_config cfg;
	struct bioz_ri ri;
	struct bioz_alert_config alerts;
	struct bioz_alert_state alert_state; /* sweeps in a row for each change */
	uint32_t alerts_on;		/* raised and not yet cleared: published once */
	struct bioz_subject subject;
	bool has_subject;
	uint64_t subject_t_real_ns;	/* when it was set (kept across restarts) */
	uint64_t baseline_t_real_ns;	/* when the baseline was finished, 0 = not kept yet */
	double tissue_temp_c;		/* given by command, NaN = none */
	double tissue_temp_t_s;		/* when (CLOCK_MONOTONIC s) */
	double tissue_temp_max_age_s;	/* used for sweeps this long after */
	double cal_pending_ohm;		/* > 0: the next sweep calibrates against this
					 * resistor, in series with ... */
	double cal_pending_rp_ohm;	/* ... R || C when > 0 (an R-C phantom) */
	double cal_pending_c_f;
	uint64_t cal_pending_since_ns;	/* requested then (CLOCK_MONOTONIC): only
					 * a sweep begun after it calibrates */
	size_t n_cal;			/* calibration points, 0 = not calibrated */
	bool cal_from_file;		/* loaded at start, not yet proven on a sweep */
	/*
	 * The AD5933's output range (mV p-p) and PGA gain (1 or 5) scale its
	 * DFT words, so a gain factor holds only at the settings it was made
	 * at: dev_* is what the device runs at now (bioz_live_set_analog() at
	 * every open), cal_* what the calibration was made at (set with it, or
	 * from its file). A calibration is never applied while they differ.
	 */
	uint32_t dev_excitation_mv, dev_pga_gain;
	uint32_t cal_excitation_mv, cal_pga_gain;
	struct bioz_cal_point cal[BIOZLIVE_MAX_POINTS];
	double r_ohm[BIOZLIVE_MAX_POINTS];
	double x_ohm[BIOZLIVE_MAX_POINTS];
	double f_kept[BIOZLIVE_MAX_POINTS];	/* frequencies of the points not railed */
	double re[BIOZLIVE_MAX_POINTS];
	double im[BIOZLIVE_MAX_POINTS];
};

int bioz_live_init(struct bioz_live *b);
/* Alert thresholds (bioz_alert_config); NaN keeps bioz.c's placeholder. */
void bioz_live_set_thresholds(struct bioz_live *b, double pha_drop_deg, double ecw_tbw_rise,
			      double ri_k, double twitch_rise_ratio,
			      double twitch_rise_min_per_min);
void bioz_live_deinit(struct bioz_live *b);
/*
 * bioz_live_temp() - the tissue temperature for a sweep at @t_s (CLOCK_MONOTONIC
 * s): the one given by command if it is at most tissue_temp_max_age_s old,
 * else NaN (the resistance index is then not temperature-compensated, and
 * says so). The AD5933's own sensor is its die, not the tissue: never used.
 */
double bioz_live_temp(const struct bioz_live *b, double t_s);

/*
 * bioz_live_set_analog() - the output range (mV p-p) and PGA gain (1 or 5)
 * the device runs at, as read back when it opened (struct device_info),
 * before its first sweep. A calibration made at other settings is dropped
 * (not calibrated: no estimates); cal_excitation_mv and cal_pga_gain keep
 * the settings it was made at, for the caller's message.
 * Return: 0, or 1 when a calibration was dropped (the caller logs it).
 */
int bioz_live_set_analog(struct bioz_live *b, uint32_t excitation_mv, uint32_t pga_gain);

/*
 * bioz_live_sweep() - one finished sweep: @freq_hz, and @iq holding the
 * raw real/imaginary DFT words interleaved (n x 2). If a calibration was
 * requested, compute it at the device's present analog settings (return 1;
 * -EOVERFLOW, and not calibrated, if a word of the sweep is railed:
 * bioz_raw_railed()); if calibrated, fill *ret and return 0; otherwise
 * return -ENODATA (no estimate can be made: not calibrated, or calibrated
 * at other analog settings) or the fit's -errno. Railed points of a
 * measured sweep are left out of the fit: *ret then has
 * BIOZ_EST_RAILED_DROPPED, n_points the whole sweep and n_used only the
 * points fitted (too few left: the fit's BIOZ_FIT_TOO_FEW_POINTS or
 * BIOZ_FIT_NOT_RUN, untrusted). @t_s: CLOCK_MONOTONIC seconds.
 * @twitch_rising: an EMG channel's twitch rate is rising now
 * (bioz_twitch_rate_rising()), for the co-occurrence alert. No allocation.
 */
int bioz_live_sweep(struct bioz_live *b, uint32_t sweep, const double *freq_hz,
		    const double *iq, size_t n, double t_s, bool twitch_rising,
		    struct bioz_estimate *ret);

#endif

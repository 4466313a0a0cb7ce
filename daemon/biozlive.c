// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * biozlive.c - the live half of bioimpedance.
 *
 * The AD5933 gives uncalibrated DFT words. Per its data sheet a sweep over
 * a known resistor gives a gain factor and a system phase per frequency;
 * `twitchctl calibrate OHM` asks for that sweep, with the resistor in
 * place of the electrodes. Every later sweep is calibrated, fitted to the
 * Cole model, and turned into the estimates bioz.c computes; the
 * extracellular-resistance index is kept against the patient's own
 * baseline (the first trusted sweeps, or `twitchctl baseline`). Without a
 * calibration no estimate is made: raw counts support none. The AD5933's
 * die temperature is not tissue temperature, so the index stays
 * uncompensated (and says so) unless a tissue temperature is given.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "biozlive.h"

int bioz_live_init(struct bioz_live *b)
{
	struct bioz_ri_config ric;

	memset(b, 0, sizeof(*b));
	bioz_config_default(&b->cfg);
	bioz_ri_config_default(&ric);
	bioz_ri_init(&b->ri, &ric);
	bioz_alert_config_default(&b->alerts);
	b->tissue_temp_c = NAN;
	b->tissue_temp_max_age_s = BIOZLIVE_TEMP_MAX_AGE_S;
	return bioz_fit_ws_new(BIOZLIVE_MAX_POINTS, &b->ws);
}

void bioz_live_set_thresholds(struct bioz_live *b, double pha_drop_deg, double ecw_tbw_rise,
			      double ri_k, double twitch_rise_ratio,
			      double twitch_rise_min_per_min)
{
	bioz_alert_config_default(&b->alerts);	/* a key removed: its default again */
	if (isfinite(pha_drop_deg))
		b->alerts.pha_drop_deg = pha_drop_deg;
	if (isfinite(ecw_tbw_rise))
		b->alerts.ecw_tbw_rise = ecw_tbw_rise;
	if (isfinite(ri_k))
		b->alerts.ri_k = ri_k;
	if (isfinite(twitch_rise_ratio))
		b->alerts.twitch_rise_ratio = twitch_rise_ratio;
	if (isfinite(twitch_rise_min_per_min))
		b->alerts.twitch_rise_min_per_min = twitch_rise_min_per_min;
}

double bioz_live_temp(const struct bioz_live *b, double t_s)
{
	if (!isfinite(b->tissue_temp_c) || t_s - b->tissue_temp_t_s > b->tissue_temp_max_age_s ||
	    t_s < b->tissue_temp_t_s)
		return NAN;
	return b->tissue_temp_c;
}

void bioz_live_deinit(struct bioz_live *b)
{
	b->ws = bioz_fit_ws_free(b->ws);
}

int bioz_live_set_analog(struct bioz_live *b, uint32_t excitation_mv, uint32_t pga_gain)
{
	b->dev_excitation_mv = excitation_mv;
	b->dev_pga_gain = pga_gain;
	if (b->n_cal == 0 ||
	    (b->cal_excitation_mv == excitation_mv && b->cal_pga_gain == pga_gain))
		return 0;
	b->n_cal = 0;
	b->cal_from_file = false;
	return 1;
}

int bioz_live_sweep(struct bioz_live *b, uint32_t sweep, const double *freq_hz,
		    const double *iq, size_t n, double t_s, bool twitch_rising,
		    struct bioz_estimate *ret)
{
	struct bioz_estimate e;
	size_t i, n_kept;
	int err, n_railed;

	if (n == 0 || n > BIOZLIVE_MAX_POINTS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		b->re[i] = iq[2 * i];
		b->im[i] = iq[2 * i + 1];
	}
	if (b->cal_pending_ohm > 0) {
		if (b->cal_pending_rp_ohm > 0) {
			/* RS + (RP || C): a Cole body with alpha 1, R0 = RS + RP,
			 * Rinf = RS, fc = 1 / (2 pi RP C) */
			double rs = b->cal_pending_ohm, rp = b->cal_pending_rp_ohm;
			double fc = 1.0 / (2.0 * M_PI * rp * b->cal_pending_c_f);

			for (i = 0; i < n; i++)
				bioz_cole_z(freq_hz[i], rs + rp, rs, fc, 1.0, 0.0, &b->r_ohm[i],
					    &b->x_ohm[i]);
			err = bioz_cal_compute(freq_hz, b->re, b->im, b->r_ohm, b->x_ohm, n,
					       b->cal);
		} else {
			err = bioz_cal_from_resistor(freq_hz, b->re, b->im, n, b->cal_pending_ohm,
						     b->cal);
		}
		b->cal_pending_ohm = b->cal_pending_rp_ohm = b->cal_pending_c_f = 0;
		if (err < 0) {
			b->n_cal = 0;
			return err;
		}
		b->n_cal = n;
		b->cal_from_file = false;
		b->cal_excitation_mv = b->dev_excitation_mv;
		b->cal_pga_gain = b->dev_pga_gain;
		return 1;
	}
	if (b->n_cal == 0)
		return -ENODATA;
	if (b->cal_excitation_mv != b->dev_excitation_mv || b->cal_pga_gain != b->dev_pga_gain) {
		/* bioz_live_set_analog() drops it first; never scale by 2-10x wrong */
		b->n_cal = 0;
		b->cal_from_file = false;
		return -ENODATA;
	}
	n_railed = bioz_cal_apply(b->cal, b->n_cal, freq_hz, b->re, b->im, n, b->r_ohm,
				  b->x_ohm);
	if (n_railed < 0 && b->cal_from_file) {
		/* a stored calibration for another sweep: drop it, do not guess */
		b->n_cal = 0;
		b->cal_from_file = false;
		return -ESTALE;
	}
	if (n_railed < 0)
		return n_railed;
	b->cal_from_file = false;
	/* railed points (NaN) are left out; what is left is fitted as a sweep */
	for (i = n_kept = 0; i < n; i++) {
		if (isnan(b->r_ohm[i]))
			continue;
		b->f_kept[n_kept] = freq_hz[i];
		b->r_ohm[n_kept] = b->r_ohm[i];
		b->x_ohm[n_kept] = b->x_ohm[i];
		n_kept++;
	}
	err = bioz_estimate_sweep(b->ws, &b->cfg, b->has_subject ? &b->subject : NULL, sweep,
				  b->f_kept, b->r_ohm, b->x_ohm, n_kept, &e);
	if (err < 0)
		return err;
	if (n_railed > 0) {
		e.n_points = (uint32_t)n;
		e.est_flags |= BIOZ_EST_RAILED_DROPPED;
	}
	err = bioz_ri_update(&b->ri, t_s, bioz_live_temp(b, t_s), &e);
	if (err < 0)
		return err;
	e.alerts = bioz_alerts_step(&b->alerts, &b->alert_state, &e,
				    b->ri.n_base ? b->ri.base_pha_deg : NAN,
				    b->ri.n_base ? b->ri.base_ecw_tbw : NAN, twitch_rising);
	*ret = e;
	return 0;
}

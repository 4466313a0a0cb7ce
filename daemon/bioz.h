/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bioz.h - bioimpedance estimation: AD5933-style calibration, Cole fit,
 * phase angle, BIVA, body water (Hanai/De Lorenzo, Matthie 2005, SF-BIA),
 * a temperature-compensated extracellular-resistance index with trends,
 * and alert decisions. Pure functions over arrays (libc math only); the
 * only I/O is bioz_json_write(). Equations, constants and their provenance
 * tags ([V], [R], [C]) come from ../shared/reference/bioimpedance.md.
 */
#ifndef TWITCHD_BIOZ_H
#define TWITCHD_BIOZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Hard bound on a sweep (AD5933: at most 512 points); bounds the workspace. */
#define BIOZ_MAX_POINTS_LIMIT 4096u

/* ------------------------------------------------------------ calibration */

/*
 * One calibration frequency (AD5933 data sheet, "gain factor" and "system
 * phase"): gain = (1/|Zcal|) / M_cal with M = sqrt(re^2 + im^2) of the raw
 * DFT words, sys_phase = atan2(im, re)_cal - arg(Zcal). A raw pair is then
 * |Z| = 1/(gain * M), arg Z = atan2(im, re) - sys_phase (data-sheet sign:
 * a capacitor comes out near -90 degrees).
 */
struct bioz_cal_point {
	double freq_hz;
	double gain;		/* 1/(ohm * code) */
	double sys_phase_rad;
};

/*
 * The AD5933's DFT words are 16-bit two's complement. A word at either limit
 * is railed: the receive ADC or the DFT saturated, and the point's magnitude
 * and phase are clipped, wrong while looking plausible. A value beyond the
 * limits cannot come from the chip and counts as railed too.
 */
#define BIOZ_RAW_MAX 32767.0
#define BIOZ_RAW_MIN (-32768.0)

/* Whether either word of a point is railed (NaN is not: it is invalid). */
bool bioz_raw_railed(double raw_re, double raw_im);

/*
 * bioz_cal_compute() - calibration from a sweep over a known impedance.
 * @known_r_ohm, @known_x_ohm: the known network per frequency (@known_x_ohm
 * may be NULL for a pure resistor). An R-C phantom's values can come from
 * bioz_cole_z() with alpha = 1.
 * Return: 0 and @n points in ret_cal[], -EOVERFLOW if any raw word is railed
 * (bioz_raw_railed(): a gain factor from a clipped point would be wrong at
 * every later sweep), or -EINVAL (NULL, n == 0, frequency not
 * finite/positive/strictly increasing, zero or non-finite raw magnitude,
 * |Zknown| not finite/positive); ret_cal untouched on failure.
 */
int bioz_cal_compute(const double *freq_hz, const double *raw_re, const double *raw_im,
		     const double *known_r_ohm, const double *known_x_ohm, size_t n,
		     struct bioz_cal_point *ret_cal);

/* Convenience: bioz_cal_compute() with a resistor @rcal_ohm at every point. */
int bioz_cal_from_resistor(const double *freq_hz, const double *raw_re, const double *raw_im,
			   size_t n, double rcal_ohm, struct bioz_cal_point *ret_cal);

/*
 * bioz_cal_apply() - raw DFT words to calibrated R and X (signed reactance,
 * negative for tissue). Gain and system phase are interpolated linearly in
 * frequency between calibration points (exact at a calibration frequency).
 * A railed point (bioz_raw_railed()) is not converted: it gets NaN in both
 * outputs, and the caller drops it (a NaN reaching the fit is refused there).
 * Return: the number of railed points (0 for a clean sweep) with
 * ret_r_ohm[n], ret_x_ohm[n]; -ERANGE if a frequency lies outside the
 * calibrated band; -EINVAL for bad arguments or a zero or non-finite raw
 * magnitude. Outputs are written only on success.
 */
int bioz_cal_apply(const struct bioz_cal_point *cal, size_t n_cal, const double *freq_hz,
		   const double *raw_re, const double *raw_im, size_t n,
		   double *ret_r_ohm, double *ret_x_ohm);

/* ------------------------------------------------------------ Cole model */

/*
 * bioz_cole_z() - Z = Rinf + (R0 - Rinf)/(1 + (j f/fc)^alpha) * exp(-j w Td).
 * Writes the resistance to *ret_r_ohm and the signed reactance to *ret_x_ohm.
 */
void bioz_cole_z(double freq_hz, double r0_ohm, double rinf_ohm, double fc_hz, double alpha,
		 double td_s, double *ret_r_ohm, double *ret_x_ohm);

/*
 * bioz_cole_circuit() - Fricke/Cole circuit from the Cole parameters:
 * Re = R0, Ri = R0*Rinf/(R0 - Rinf), Cm = tau/(Re + Ri), tau = 1/(2 pi fc).
 * Return: 0, or -EDOM unless R0 > Rinf > 0 and fc > 0.
 */
int bioz_cole_circuit(double r0_ohm, double rinf_ohm, double fc_hz, double *ret_re_ohm,
		      double *ret_ri_ohm, double *ret_cm_f);

/*
 * bioz_circle_fit() - Kasa algebraic circle fit of the locus in the (R, -X)
 * plane; R0, Rinf = xc +- sqrt(r^2 - yc^2), alpha = 1 - 2 asin(-yc/r)/pi.
 * Return: 0, -EINVAL (n < 3), or -EDOM for a degenerate locus (collinear
 * points, a circle that does not cross the real axis).
 */
int bioz_circle_fit(const double *r_ohm, const double *x_ohm, size_t n, double *ret_r0_ohm,
		    double *ret_rinf_ohm, double *ret_alpha);

/* Fit quality flags (struct bioz_fit.flags). */
#define BIOZ_FIT_NOT_RUN		(1u << 0)	/* fewer than 3 points: no fit */
#define BIOZ_FIT_TOO_FEW_POINTS		(1u << 1)	/* n_used < opts.min_points */
#define BIOZ_FIT_NOT_CONVERGED		(1u << 2)
#define BIOZ_FIT_ALPHA_RANGE		(1u << 3)	/* alpha outside (0, 1] */
#define BIOZ_FIT_R0_LE_RINF		(1u << 4)	/* or Rinf <= 0 */
#define BIOZ_FIT_SINGULAR		(1u << 5)	/* J'J not invertible: SE = inf */
#define BIOZ_FIT_SE_LARGE		(1u << 6)
#define BIOZ_FIT_RESIDUAL_HIGH		(1u << 7)
#define BIOZ_FIT_TOO_MANY_OUTLIERS	(1u << 8)
#define BIOZ_FIT_OUTLIERS_DROPPED	(1u << 9)	/* info */
#define BIOZ_FIT_HOOK			(1u << 10)	/* info: top frequency dropped */
#define BIOZ_FIT_FC_OUT_OF_BAND		(1u << 11)	/* warning: fc outside used band */
#define BIOZ_FIT_UNTRUSTED_MASK \
	(BIOZ_FIT_NOT_RUN | BIOZ_FIT_TOO_FEW_POINTS | BIOZ_FIT_NOT_CONVERGED | \
	 BIOZ_FIT_ALPHA_RANGE | BIOZ_FIT_R0_LE_RINF | BIOZ_FIT_SINGULAR | BIOZ_FIT_SE_LARGE | \
	 BIOZ_FIT_RESIDUAL_HIGH | BIOZ_FIT_TOO_MANY_OUTLIERS)

struct bioz_fit_opts {
	uint32_t use_td;		/* 1: also fit the time delay Td */
	uint32_t max_iter;		/* LM iterations per (re)fit */
	uint32_t min_points;		/* below: BIOZ_FIT_TOO_FEW_POINTS */
	double outlier_k;		/* drop a point whose residual > k*max(sigma, floor) */
	double outlier_floor_rel;	/* sigma floor, fraction of |Z| */
	double max_drop_frac;		/* more outliers than this: untrusted */
	double max_rms_rel;		/* weighted RMS residual limit, fraction of |Z| */
	double max_se_rel_r;		/* SE(R0)/R0 and SE(Rinf)/Rinf limit */
	double max_se_alpha;
	double max_se_ln_fc;		/* SE of ln(fc), i.e. relative SE of fc */
};

struct bioz_fit {
	double r0_ohm, rinf_ohm, fc_hz, alpha, td_s;	/* NaN when not fitted */
	double se_r0_ohm, se_rinf_ohm, se_fc_hz, se_alpha, se_td_s;
	double rms_rel;			/* weighted (1/|Z|) RMS residual */
	double rms_ohm;			/* unweighted RMS of Re and Im residuals */
	double fmin_hz, fmax_hz;	/* band of the points used */
	uint32_t n_points, n_used, n_iter, flags;
};

struct bioz_fit_ws;

/*
 * bioz_fit_ws_new() - the fit workspace for sweeps of up to @max_points
 * (<= BIOZ_MAX_POINTS_LIMIT); all fit-time memory is allocated here.
 * Return: 0 and the workspace (caller owns it) in *ret, -EINVAL, -ENOMEM.
 */
int bioz_fit_ws_new(size_t max_points, struct bioz_fit_ws **ret);
/* NULL-safe; returns NULL. */
struct bioz_fit_ws *bioz_fit_ws_free(struct bioz_fit_ws *ws);

void bioz_fit_opts_default(struct bioz_fit_opts *o);

/*
 * bioz_cole_fit() - weighted (1/|Z|) Levenberg-Marquardt fit of the Cole
 * model on the real and imaginary parts, multi-start (bioz_circle_fit()
 * seed and a generic one). Outlier frequencies (a high-frequency hook, bad
 * points) are found by a Cauchy-weighted IRLS pass and then one at a time,
 * each beyond opts.outlier_k sigma (sigma from the median deviation), and
 * dropped; parameters and SEs (s^2 (J'J)^-1) come from the plain weighted
 * fit of the points kept. Frequencies strictly increasing, all values
 * finite. Does not allocate. An untrustworthy fit is still a success: see
 * ret->flags and BIOZ_FIT_UNTRUSTED_MASK; the dropped points are those
 * with a zero in the workspace's used[] (bioz.c).
 * Return: 0 and *ret; -EINVAL for bad arguments; -E2BIG if n exceeds the
 * workspace.
 */
int bioz_cole_fit(struct bioz_fit_ws *ws, const struct bioz_fit_opts *o, const double *freq_hz,
		  const double *r_ohm, const double *x_ohm, size_t n, struct bioz_fit *ret);

/* ------------------------------------------------------------ subject, equations */

#define BIOZ_SEX_UNKNOWN 0u
#define BIOZ_SEX_MALE 1u
#define BIOZ_SEX_FEMALE 2u

/* Subject data; NaN (or BIOZ_SEX_UNKNOWN) = not given. */
struct bioz_subject {
	double height_cm;
	double weight_kg;
	double age_y;
	uint32_t sex;
};

/* Phase angle in degrees, atan2(Xc, R) with Xc = -X > 0 for tissue. */
double bioz_phase_deg(double r_ohm, double xc_ohm);

/* k_ECW = (1/100)(K_B^2 rho_ECW^2 / D_b)^(1/3) for @sex; NaN if unknown. */
double bioz_k_ecw(uint32_t sex);
/* ECW (L) = k_ECW (H^2 sqrt(W) / Re)^(2/3), De Lorenzo 1997. NaN if invalid. */
double bioz_ecw_hanai(uint32_t sex, double height_cm, double weight_kg, double re_ohm);
/* ICW (L), exact two-phase Hanai solution (Matthie 2005). NaN if invalid. */
double bioz_icw_matthie(uint32_t sex, double ecw_l, double r0_ohm, double rinf_ohm);

/* Single-frequency TBW equations (bioimpedance.md section 2). */
#define BIOZ_SF_SUN2003 0u		/* default */
#define BIOZ_SF_KUSHNER_SCHOELLER1986 1u
#define BIOZ_SF_KUSHNER_SCHOELLER1986_COMBINED 2u
#define BIOZ_SF_KUSHNER1992 3u
#define BIOZ_SF_LUKASKI_BOLONCHUK1988 4u
#define BIOZ_SF_COUNT 5u

/*
 * bioz_tbw_sf() - TBW (L) from R at 50 kHz by equation @eq.
 * Return: the value, or NaN when an input the equation needs is missing.
 */
double bioz_tbw_sf(uint32_t eq, const struct bioz_subject *s, double r50_ohm);

/* BIVA reference population (means, SDs, correlation of R/H and Xc/H, ohm/m). */
struct bioz_biva_ref {
	const char *name;
	double mu_r_h, sd_r_h, mu_xc_h, sd_xc_h, r;
};

/* Built-in references: Piccoli 1995 Italian adults, by sex (values [R]). */
const struct bioz_biva_ref *bioz_biva_ref_default(uint32_t sex);

#define BIOZ_BIVA_ABSENT 0u
#define BIOZ_BIVA_IN50 50u
#define BIOZ_BIVA_IN75 75u
#define BIOZ_BIVA_IN95 95u
#define BIOZ_BIVA_OUT95 100u

/* Large-n tolerance-ellipse threshold on D^2 for coverage @p: -2 ln(1 - p). */
double bioz_biva_d2_threshold(double p);

/*
 * bioz_biva() - the BIVA point (R/H, Xc/H in ohm/m) and its class: the
 * smallest of the 50/75/95 % tolerance ellipses holding it (large-n, chi^2
 * with 2 dof), BIOZ_BIVA_OUT95 beyond. *ret_major_z is the projection of
 * (zx, zy) on the major axis (positive: longer vector than the mean).
 * Return: 0, or -EINVAL for missing inputs (outputs untouched).
 */
int bioz_biva(const struct bioz_biva_ref *ref, double r_ohm, double xc_ohm, double height_cm,
	      double *ret_r_h, double *ret_xc_h, double *ret_d2, double *ret_major_z,
	      uint32_t *ret_class);

/* ------------------------------------------------------------ per-sweep estimate */

/* Where R and Xc at 50 kHz come from. */
#define BIOZ_R50_AUTO 0u	/* the Cole model if the fit is trusted, else the sweep */
#define BIOZ_R50_MODEL 1u
#define BIOZ_R50_SWEEP 2u

/* Estimate flags (struct bioz_estimate.est_flags). */
#define BIOZ_EST_NO_SUBJECT		(1u << 0)	/* body-water fields absent */
#define BIOZ_EST_NO_50K			(1u << 1)	/* R50/Xc50 absent */
#define BIOZ_EST_R50_FROM_MODEL		(1u << 2)
#define BIOZ_EST_R50_FROM_SWEEP		(1u << 3)
#define BIOZ_EST_BIS_UNTRUSTED		(1u << 4)	/* ECW/ICW absent: fit untrusted */
#define BIOZ_EST_ICW_EXTRAPOLATED	(1u << 5)	/* fc outside the band */
#define BIOZ_EST_SF_MISSING_INPUT	(1u << 6)	/* e.g. the equation needs age */
#define BIOZ_EST_OUTSIDE_VALIDITY	(1u << 7)	/* BMI outside 16..34 (ESPEN [R]),
							 * or under BIOZ_ADULT_AGE_Y */
#define BIOZ_ADULT_AGE_Y		18.0
#define BIOZ_EST_RI_ABSENT		(1u << 8)	/* no baseline yet, or untrusted */
#define BIOZ_EST_RI_NOT_TEMP_COMP	(1u << 9)	/* no temperature: uncompensated */
#define BIOZ_EST_RI_BASELINE_FEW	(1u << 10)	/* baseline of < 3 sweeps */
#define BIOZ_EST_RAILED_DROPPED		(1u << 11)	/* railed points left out: n_used
							 * counts only the others */

/* Model identifiers (struct bioz_estimate.model_*), names via bioz_model_name(). */
#define BIOZ_MODEL_NONE 0u
#define BIOZ_MODEL_COLE_LM 1u
#define BIOZ_MODEL_COLE_LM_TD 2u
#define BIOZ_MODEL_R50_COLE 3u
#define BIOZ_MODEL_R50_SWEEP 4u
#define BIOZ_MODEL_ECW_HANAI_M 5u
#define BIOZ_MODEL_ECW_HANAI_F 6u
#define BIOZ_MODEL_ICW_MATTHIE_M 7u
#define BIOZ_MODEL_ICW_MATTHIE_F 8u
#define BIOZ_MODEL_SF_FIRST 9u		/* + BIOZ_SF_* */
#define BIOZ_MODEL_BIVA_PICCOLI_M (BIOZ_MODEL_SF_FIRST + BIOZ_SF_COUNT)
#define BIOZ_MODEL_BIVA_PICCOLI_F (BIOZ_MODEL_BIVA_PICCOLI_M + 1)
#define BIOZ_MODEL_RI_TEMP2 (BIOZ_MODEL_BIVA_PICCOLI_F + 1)
#define BIOZ_MODEL_RI_UNCOMP (BIOZ_MODEL_RI_TEMP2 + 1)
#define BIOZ_MODEL_COUNT (BIOZ_MODEL_RI_UNCOMP + 1)

/* The constant name of a model, or NULL for BIOZ_MODEL_NONE / unknown. */
const char *bioz_model_name(uint32_t id);

/* Alerts (struct bioz_estimate.alerts). */
#define BIOZ_ALERT_PHA_DROP		(1u << 0)
#define BIOZ_ALERT_ECW_TBW_RISE		(1u << 1)
#define BIOZ_ALERT_RE_INDEX_CHANGE	(1u << 2)
#define BIOZ_ALERT_CO_OCCURRENCE	(1u << 3)	/* twitch rate up with a shift */

/*
 * One sweep's outputs: fixed-width fields only. NaN means absent (and a
 * flag says why); bioz_json_format() prints it as null.
 */
struct bioz_estimate {
	uint32_t sweep;
	uint32_t n_points, n_used, n_iter;
	uint32_t fit_flags, est_flags, alerts;
	uint32_t biva_class;		/* BIOZ_BIVA_* */
	uint32_t model_cole, model_r50, model_ecw, model_icw, model_tbw_sf, model_biva;
	uint32_t model_ri;
	uint32_t ri_n_baseline;
	double r0_ohm, rinf_ohm, alpha, fc_hz, tau_s, td_s;
	double se_r0_ohm, se_rinf_ohm, se_alpha, se_fc_hz, se_td_s;
	double rms_rel, rms_ohm;
	double r50_ohm, xc50_ohm, phase_deg_50k;
	double biva_r_h, biva_xc_h, biva_d2, biva_major_z;
	double ecw_l, icw_l, tbw_l, tbw_sf_l, ecw_tbw;
	double temp_c;			/* as given to bioz_ri_update(), NaN if none */
	double re_index;		/* (Re_comp / Re_baseline) - 1 */
	double re_index_u;		/* its standard uncertainty */
	double re_trend_15min_per_h, re_trend_1h_per_h;	/* index change per hour */
};

struct bioz_config {
	struct bioz_fit_opts fit;
	uint32_t sf_equation;		/* BIOZ_SF_* */
	uint32_t r50_source;		/* BIOZ_R50_* */
};

void bioz_config_default(struct bioz_config *c);

/*
 * bioz_estimate_sweep() - fit one calibrated sweep and derive every
 * estimate. @s may be NULL (or incomplete): then only measurement-level
 * outputs (R, Xc, phase angle, Cole parameters) are produced and the body
 * water fields are NaN with BIOZ_EST_NO_SUBJECT. The index fields are left
 * absent: bioz_ri_update() fills them.
 * Return: 0 and *ret, or the -errno of bioz_cole_fit() (ret untouched).
 */
int bioz_estimate_sweep(struct bioz_fit_ws *ws, const struct bioz_config *c,
			const struct bioz_subject *s, uint32_t sweep, const double *freq_hz,
			const double *r_ohm, const double *x_ohm, size_t n,
			struct bioz_estimate *ret);

/* ------------------------------------------------------------ resistance index */

#define BIOZ_RI_BASELINE_MAX 64u	/* sweeps kept while collecting a baseline */
#define BIOZ_RI_BINS 60u		/* 1-minute bins: one hour of trend */

struct bioz_ri_config {
	double temp_coef_per_c;		/* fractional resistance change per degC */
	double temp_u_c;		/* standard uncertainty of a temperature reading */
	double temp_coef_u_per_c;	/* ... and of temp_coef_per_c */
	uint32_t baseline_n;		/* trusted sweeps that make the baseline */
};

struct bioz_ri_bin {
	int64_t minute;			/* floor(t_s / 60); INT64_MIN = empty */
	double n, sum_t_s, sum_x;
};

/* Embedded state; bioz_ri_init() before use, no deinit needed. */
struct bioz_ri {
	struct bioz_ri_config cfg;
	uint32_t want_n;		/* baseline size being collected (0: done) */
	uint32_t n_collected;
	double col_r_ohm[BIOZ_RI_BASELINE_MAX];
	double col_se_ohm[BIOZ_RI_BASELINE_MAX];
	double col_temp_c[BIOZ_RI_BASELINE_MAX];
	double col_pha_deg[BIOZ_RI_BASELINE_MAX];
	double col_ecw_tbw[BIOZ_RI_BASELINE_MAX];
	/* the baseline, valid when n_base > 0 */
	uint32_t n_base;
	uint32_t base_has_temp;
	double base_r_ohm;		/* mean Re, compensated to base_temp_c */
	double base_u_ohm;		/* standard error of that mean */
	double base_phys_var;		/* between-sweep variance beyond fit SEs, ohm^2 */
	double base_temp_c;
	double base_pha_deg, base_ecw_tbw;	/* for the alerts; NaN if none */
	double last_t_s;
	struct bioz_ri_bin bins[BIOZ_RI_BINS];
};

void bioz_ri_config_default(struct bioz_ri_config *c);
/* Start empty; the first c->baseline_n trusted sweeps become the baseline. */
void bioz_ri_init(struct bioz_ri *ri, const struct bioz_ri_config *c);
/* On command: drop the baseline and trends; collect the next @n_sweeps. */
void bioz_ri_rebaseline(struct bioz_ri *ri, uint32_t n_sweeps);

/* A finished baseline, as kept across restarts (fields of struct bioz_ri). */
struct bioz_ri_baseline {
	uint32_t n;			/* sweeps it was made of */
	uint32_t has_temp;
	double r_ohm, u_ohm, phys_var, temp_c;
	double pha_deg, ecw_tbw;	/* NaN if none */
};

/* bioz_ri_get_baseline() - copy the baseline out; false while there is none. */
bool bioz_ri_get_baseline(const struct bioz_ri *ri, struct bioz_ri_baseline *ret);
/* Whether @b is one bioz_ri_update() could have made (sizes, signs, ranges). */
bool bioz_ri_baseline_ok(const struct bioz_ri_baseline *b);
/*
 * bioz_ri_set_baseline() - take @b as the baseline (a restart restoring
 * it); trends start empty. Return 0, or -EINVAL (nothing changed) if @b is
 * not one bioz_ri_update() could have made.
 */
int bioz_ri_set_baseline(struct bioz_ri *ri, const struct bioz_ri_baseline *b);

/*
 * bioz_ri_update() - feed one estimate taken at @t_s (monotonic seconds)
 * with tissue temperature @temp_c (NaN if unknown; not the AD5933 die
 * temperature). Fills e->temp_c, re_index, re_index_u, the trends,
 * model_ri, ri_n_baseline and the RI est_flags.
 * Return: 0, or -EINVAL if @t_s is not finite or goes backwards.
 */
int bioz_ri_update(struct bioz_ri *ri, double t_s, double temp_c, struct bioz_estimate *e);

/* ------------------------------------------------------------ alerts */

struct bioz_alert_config {
	double pha_drop_deg;		/* phase angle below baseline by this much */
	double ecw_tbw_rise;		/* ECW/TBW above baseline by this much */
	double ecw_tbw_max;		/* absolute limit; NaN: off (vendor-specific) */
	double ri_k;			/* |index| > k * u ... */
	double ri_min_abs;		/* ... and |index| >= this */
	/* twitch rate rising (for the co-occurrence): last 5 min against the
	 * 10 min before, by this ratio and by at least this many per minute */
	double twitch_rise_ratio;
	double twitch_rise_min_per_min;
	uint32_t persist;		/* sweeps in a row to raise or clear one */
};

void bioz_alert_config_default(struct bioz_alert_config *c);

#define BIOZ_N_ALERTS	4

/* Which alerts are raised, and how many sweeps in a row said otherwise. */
struct bioz_alert_state {
	uint32_t on;
	uint32_t streak[BIOZ_N_ALERTS];
};

/*
 * bioz_alerts_eval() - the alert bits for @e against baselines @base_pha_deg
 * and @base_ecw_tbw (NaN: that alert is off). @twitch_rate_rising comes from
 * the caller; BIOZ_ALERT_CO_OCCURRENCE is set only when it is non-zero at
 * the same time as a hydration alert, and claims nothing about cause.
 */
uint32_t bioz_alerts_eval(const struct bioz_alert_config *c, const struct bioz_estimate *e,
			  double base_pha_deg, double base_ecw_tbw, uint32_t twitch_rate_rising);

/*
 * bioz_alerts_step() - the alerts raised once sweep @e is judged. One sweep
 * raises or clears nothing: an alert changes after c->persist sweeps in a row
 * that can judge it say so (a sweep whose fit is untrusted, or without the
 * value or the baseline, says nothing either way), and a raised one clears
 * only when its value is back within half its threshold (hysteresis): a
 * stationary patient's sweep-to-sweep scatter must not raise and clear
 * alerts. The co-occurrence is judged the same way on the others' state.
 * Return: st->on.
 */
uint32_t bioz_alerts_step(const struct bioz_alert_config *c, struct bioz_alert_state *st,
			  const struct bioz_estimate *e, double base_pha_deg,
			  double base_ecw_tbw, uint32_t twitch_rate_rising);

/*
 * bioz_twitch_rate_rising() - whether one EMG channel's twitch rate rose:
 * its rate over the last 5 min (@per_min_5) against the 10 min before,
 * derived from the 15-min rate as (15 x per_min_15 - 5 x per_min_5) / 10.
 * Judged only once @covered_s spans the 15 min (false before); rising when
 * the recent rate is at least c->twitch_rise_ratio times the earlier one and
 * at least c->twitch_rise_min_per_min above it. *@ret_prior (may be NULL)
 * gets the earlier rate, NaN when not judged. A trend of counts, no more.
 */
bool bioz_twitch_rate_rising(const struct bioz_alert_config *c, double per_min_5,
			     double per_min_15, double covered_s, double *ret_prior);

/* ------------------------------------------------------------ JSON */

/*
 * bioz_json_format() - one JSON object (no newline) for @e into @buf.
 * Numbers are "%.6g"; absent values are null, never NaN. The daemon runs in
 * the C locale; should LC_NUMERIC ever differ, the locale's decimal point
 * is rewritten to '.', so the output does not depend on the locale.
 * Return: the length (excluding the NUL), or -ENOSPC if @size is too small.
 */
int bioz_json_format(const struct bioz_estimate *e, char *buf, size_t size);
/* The same plus '\n' to @f. Return: 0, -ENOSPC, or -EIO. */
int bioz_json_write(FILE *f, const struct bioz_estimate *e);

#endif

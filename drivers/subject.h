/* SPDX-License-Identifier: MIT */
/*
 * subject.h - a synthetic subject, deterministic from a seed: multichannel
 * surface EMG with injected, ground-truthed twitches, and a Cole-model body
 * for bioimpedance sweeps. Used by the device simulator and by tests.
 */
#ifndef TWITCH_SUBJECT_H
#define TWITCH_SUBJECT_H

#include <stddef.h>
#include <stdint.h>

#define SUBJECT_MAX_CHANNELS	64	/* a channel mask is one uint64_t */
#define SUBJECT_MAX_UNITS	64	/* motor units, i.e. distinct MUP shapes */
#define SUBJECT_MIN_RATE_HZ	200.0
#define SUBJECT_MAX_RATE_HZ	200000.0
#define SUBJECT_EVENT_GAP_MS	250.0	/* quiet time after each event */

/* Event classes, named as the detector's classes (subject_class_name()). */
enum subject_class {
	SUBJECT_FASCICULATION = 0,	/* "fasciculation": one MUP, maybe on neighbours */
	SUBJECT_DOUBLET,		/* "doublet": the same MUP twice, 30-35 ms apart */
	SUBJECT_MYOCLONUS,		/* "myoclonus": 2-5 MUPs within 20-150 ms */
	SUBJECT_PHASIC_BURST,		/* "phasic_burst": 0.1-5 s, rms 5-10 x background */
	SUBJECT_LIMB_MOVEMENT,		/* "limb_movement": 0.5-10 s, rms > 8 uV above rest */
	SUBJECT_N_CLASSES
};

/*
 * struct subject_truth - one injected event, as generated.
 * @channel: the channel with the largest injected amplitude.
 * @channel_mask: bit c set if anything was injected on channel c.
 * @onset_index: scan index (from 0, the first scan ever generated) of the
 *	event's first injected sample; MUP shapes start at ~1% of their peak,
 *	bursts with a raised-cosine ramp of up to 50 ms.
 * @n_scans: injected span in scans; @duration_ms is the same in ms.
 * @peak_uv: max |injected signal| over the mask, background excluded.
 * @ramp_scans: bursts (phasic, LM): length of the raised-cosine rise
 *	0.5 - 0.5 cos(pi j / ramp_scans) of their envelope from onset_index,
 *	and of its fall; 0 for potentials.
 */
struct subject_truth {
	enum subject_class cls;
	unsigned int channel;
	uint64_t channel_mask;
	uint64_t onset_index;
	uint64_t n_scans;
	double t_s;
	double duration_ms;
	double peak_uv;
	double ramp_scans;
};

/* Called once per event when generation reaches its onset scan. */
typedef void subject_truth_fn(const struct subject_truth *t, void *userdata);

/* A real potential to use as a MUP shape (e.g. cut from emgdb). Borrowed. */
struct subject_template {
	const double *shape;	/* any scale; detrended, tapered, peak-normalised */
	size_t n;		/* 2..40 ms worth of samples */
	double rate_hz;		/* resampled to the subject's rate */
};

/*
 * struct subject_config - start from subject_config_default(). Event rates
 * are per minute over all channels, of a Poisson process that pauses during
 * each event and for SUBJECT_EVENT_GAP_MS after it (so events never overlap
 * and the realised rates are a little lower).
 */
struct subject_config {
	uint64_t seed;
	unsigned int n_channels;	/* 1..SUBJECT_MAX_CHANNELS */
	double rate_hz;			/* EMG scans per second */

	/* background: Gaussian noise band-passed (2nd-order Butterworth each side) */
	double background_rms_uv;	/* 0..1000; 0 = none (exact tests) */
	double background_lo_hz;	/* high-pass corner */
	double background_hi_hz;	/* low-pass corner, clipped to 0.45 x rate */
	double mains_hz;		/* 50 or 60; 0 = none */
	double mains_uv;		/* peak amplitude, the same on every channel */
	double mains_h3_frac;		/* 3rd harmonic, relative to the fundamental */

	/* events */
	double mup_rate_per_min;	/* fasciculations and doublets */
	double doublet_frac;		/* share of those that are doublets */
	double spread_frac;		/* share of fasciculations also on neighbours */
	double myoclonus_rate_per_min;
	double burst_rate_per_min;
	double lm_rate_per_min;
	uint64_t lm_channel_mask;	/* LMs only on these (the legs); 0: any channel */
	double mup_min_uv, mup_max_uv;	/* MUP peak amplitudes (log-uniform) */
	double mup_min_ms, mup_max_ms;	/* synthetic MUP durations */
	unsigned int n_units;		/* motor units: shape, home channel, amplitude */
	const struct subject_template *templates; /* NULL: synthetic shapes */
	size_t n_templates;		/* <= SUBJECT_MAX_UNITS; copied by subject_new() */

	/* bioimpedance: Cole model, optional linear drift, Gaussian noise */
	double r0_ohm, rinf_ohm, fc_hz, alpha;
	double r0_drift_ohm_per_h, rinf_drift_ohm_per_h;
	double bioz_noise_ohm;		/* sd added to R and to X */
};

struct subject;

/*
 * subject_config_default() - 8 channels at 4 kHz; background 4 uV rms
 * (20-450 Hz), 50 Hz hum of 5 uV with a 10% 3rd harmonic; 20 MUP events/min
 * (15% doublets, 30% spread), 3 myoclonus, 2 phasic bursts and 1 limb
 * movement per minute; MUPs 50-500 uV, 5-15 ms, 12 motor units; body of the
 * reference's subject M (bioimpedance.md section 11.2): R0 600 ohm,
 * Rinf 375 ohm, fc 50 kHz, alpha 0.7, no drift, no noise; seed 1.
 */
struct subject_config subject_config_default(void);

/**
 * subject_new() - make a subject from @cfg (read, not kept; templates copied).
 * Allocates everything subject_emg_fill() will need.
 * Return: 0 and the subject in *ret (the caller owns it), -EINVAL for a bad
 * configuration, -ENOMEM.
 */
int subject_new(const struct subject_config *cfg, struct subject **ret);

/* subject_free() - NULL-safe; returns NULL. */
struct subject *subject_free(struct subject *s);

/**
 * subject_emg_fill() - generate the next @n_scans scans into @out_uv,
 * interleaved (out_uv[scan * n_channels + channel]), continuing from the
 * previous call: the output does not depend on how the calls split it.
 * @cb (may be NULL) is called for each event whose onset falls in these
 * scans, before this function returns. No allocation, lock or syscall.
 */
void subject_emg_fill(struct subject *s, double *out_uv, size_t n_scans,
		      subject_truth_fn *cb, void *userdata);

unsigned int subject_n_channels(const struct subject *s);
double subject_rate_hz(const struct subject *s);
uint64_t subject_scan_index(const struct subject *s);	/* next scan's index */

/* "fasciculation", "doublet", "myoclonus", "phasic_burst", "limb_movement" */
const char *subject_class_name(enum subject_class cls);

/**
 * subject_truth_json() - format @t as one JSON line, '\n' included:
 * {"type":"truth","class":"doublet","channel":2,"channel_mask":4,
 *  "onset_index":12345,"t":3.086250,"duration_ms":41.500,"peak_uv":312.250}
 * Numbers are printed with printf, so LC_NUMERIC must be "C" (the default).
 * Return: the length written (without the NUL), -ENOSPC if @len is too small.
 */
int subject_truth_json(const struct subject_truth *t, char *buf, size_t len);

/**
 * subject_bioz_sweep() - the body's impedance at @n frequencies at time @t_s
 * (seconds from the start, for the drift): Z = R + jX with X = Im Z, negative
 * for a capacitive body. Noise, if configured, comes from the subject's own
 * bioimpedance random stream (independent of the EMG).
 * Return: 0, -EINVAL (bad argument or frequency), -EDOM (drift has made
 * Rinf >= R0 or Rinf <= 0). Outputs are written only on success.
 */
int subject_bioz_sweep(struct subject *s, const double *freq_hz, size_t n, double t_s,
		       double *ret_r_ohm, double *ret_x_ohm);

/*
 * subject_cole() - Cole impedance model (bioimpedance.md section 3.1):
 * Z(f) = Rinf + (R0 - Rinf) / (1 + (j 2 pi f tau)^alpha), tau = 1 / (2 pi fc).
 */
void subject_cole(double r0_ohm, double rinf_ohm, double fc_hz, double alpha,
		  double f_hz, double *ret_r_ohm, double *ret_x_ohm);

/**
 * subject_ad5933_codes() - the AD5933's DFT real/imag words for impedance
 * Z = R + jX, as the simulator should emit them. AD5933 datasheet:
 * magnitude M = sqrt(re^2 + im^2) = 1 / (gain_factor * |Z|), and the phase
 * the DFT reports is the impedance's plus the system phase, so
 * re = M cos(arg Z + system_phase), im = M sin(arg Z + system_phase),
 * rounded to the nearest integer. The inverse is subject_ad5933_impedance():
 * |Z| = 1 / (gain_factor * M), arg Z = atan2(im, re) - system_phase.
 * @gain_factor: 1 / (ohm * code), from a calibration resistor.
 * Return: 0; 1 if a code was clipped to the int16 range (written clipped,
 * as the chip would saturate); -EINVAL (gain factor <= 0, non-finite),
 * -EDOM (|Z| == 0).
 */
int subject_ad5933_codes(double r_ohm, double x_ohm, double gain_factor,
			 double system_phase_rad, int16_t *ret_real, int16_t *ret_imag);
int subject_ad5933_impedance(int16_t re, int16_t im, double gain_factor,
			     double system_phase_rad, double *ret_r_ohm, double *ret_x_ohm);

/**
 * subject_find_potentials() - find isolated potentials to use as templates:
 * peaks of |x| >= @threshold_uv that are the largest within +-@half_width_ms
 * and have nothing above @threshold_uv / 2 elsewhere within +-@isolation_ms.
 * Writes up to @max peak indices to @ret_idx (in order).
 * Return: the number found (may exceed @max; only @max are written).
 */
size_t subject_find_potentials(const double *x_uv, size_t n, double rate_hz,
			       double threshold_uv, double half_width_ms,
			       double isolation_ms, size_t *ret_idx, size_t max);

#endif /* TWITCH_SUBJECT_H */

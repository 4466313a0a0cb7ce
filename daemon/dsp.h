/* dsp.h - per-channel EMG conditioning: filters, mains detection, noise floor.
 *
 * Pure functions over blocks of float samples in microvolts; libc math only,
 * no allocation, lock or syscall after init; a processing call takes about
 * 24 KiB of stack (its tiles). All state lives in caller storage
 * (init/reset, no deinit needed). Filters are biquad cascades in double
 * precision with coefficients designed at init.
 */
#ifndef TWITCHD_DSP_H
#define TWITCHD_DSP_H

#include <stddef.h>
#include <stdint.h>

/* Hard bounds, with their reasons:
 * - 32 sections: 2 high-pass + 2 low-pass (order <= 8 each: 8 sections)
 *   plus both notch families while auto-detecting mains (<= 24 harmonics).
 * - 256 noise windows: 256 x 50 ms = 12.8 s of history; a sorted-array
 *   median costs O(n) per window, which stays negligible at this size.
 * - 256 step blocks: the step detector keeps (2 x 60 + 10) / 5 = 26
 *   blocks of 5 ms; room for windows of 600 ms.
 */
#define DSP_MAX_SECTIONS	32
#define DSP_MAX_ORDER		8
#define DSP_NOISE_MAX_WINDOWS	256
#define DSP_STEP_MAX_BLOCKS	256
#define DSP_STEP_BLOCK_MS	5	/* step detector's time step */
#define DSP_MAINS_N_BINS	7
#define DSP_MAINS_HISTORY	8

/* Mains handling, struct dsp_config.mains */
#define DSP_MAINS_OFF		0	/* no notch */
#define DSP_MAINS_50HZ		1
#define DSP_MAINS_60HZ		2
#define DSP_MAINS_AUTO		3	/* both families till decided */

/* Per-sample flags written by dsp_chain_process_flags(). */
#define DSP_FLAG_NONFINITE	0x01	/* NaN/Inf in: 0 out, reset */
#define DSP_FLAG_SATURATED	0x02	/* |in| >= saturation_uv: same */
#define DSP_FLAG_RESTART	0x04	/* first sample after a reset */
#define DSP_FLAG_STEP		0x08	/* a pop's step ended in the
					 * last step_window + gap ms */
#define DSP_FLAG_INVALID	(DSP_FLAG_NONFINITE | DSP_FLAG_SATURATED)

/* Admission of a sample into a noise floor estimate. */
#define DSP_NOISE_QUIET		0	/* may be used for the floor */
#define DSP_NOISE_ACTIVE	1	/* in an event: window refused */
#define DSP_NOISE_INVALID	2	/* bad data: voids its window */

struct dsp_noise_config {
	double window_ms;	/* statistic window; default 50 ms */
	uint32_t n_windows;	/* windows in the median; 200 (10 s) */
	uint32_t min_windows;	/* windows before the floor is valid; 10 */
	double gate_ratio;	/* window mean > gate_ratio * floor is not
				 * admitted (0 = no gate); default 3 */
	double max_reject_s;	/* after about this long of (nearly)
				 * continuous rejection, take the next
				 * n_windows/2 + 1 windows unconditionally, so
				 * that a real change of level (electrode,
				 * posture) is followed; 30 s */
};

struct dsp_config {
	double hp_cutoff_hz;	/* 20 Hz: De Luca et al., J Biomech 2010;
				 * SENIAM 10-20 Hz */
	uint32_t hp_order;	/* 4 (1..8) */
	double lp_cutoff_hz;	/* 450 Hz, at most 0.45 * rate: SENIAM,
				 * ISEK ~500 Hz for surface EMG */
	uint32_t lp_order;	/* 4 (1..8) */
	uint32_t mains;		/* DSP_MAINS_*; default DSP_MAINS_AUTO */
	double notch_bw_hz;	/* -3 dB width of every notch; 2 Hz (Q 25 at
				 * 50 Hz). The same width at each harmonic,
				 * not the same Q: a constant-Q comb up to
				 * 450 Hz removes ~15% of a spike's spectrum
				 * and rings it back one mains period later
				 * (an echo of 41% of the peak at 1 kHz, a
				 * fake doublet); 2 Hz leaves 13%, close to
				 * the 8% of the high/low-pass alone. */
	double notch_max_hz;	/* highest harmonic notched; 0 = up to the
				 * low-pass cut-off */
	double saturation_uv;	/* |x| >= this is clipped; 0 = off. Set
				 * from the device's full scale. */
	double step_window_ms;	/* pop detector: mean windows, 60 ms */
	double step_gap_ms;	/* pop detector: skipped transition, 10 ms */
	double step_ratio;	/* step / filtered peak to flag a pop; 0.6 */
	double step_min_uv;	/* smallest step flagged; 50 uV */
	struct dsp_noise_config noise;	/* floor of |output| */
};

struct dsp_biquad {	/* transposed direct form II, a0 = 1 */
	double b0, b1, b2, a1, a2;
	double s1, s2;
};

/* Robust noise floor: median over a ring of window means of a non-negative
 * statistic (|x| or a TKEO envelope). Windows overlapping an event are not
 * admitted, nor are windows above gate_ratio x floor, so sparse twitches do
 * not raise it; max_reject_s bounds how long a real level change is refused.
 */
struct dsp_noise_floor {
	uint32_t win_len;	/* samples per window */
	uint32_t n_cap;		/* windows kept */
	uint32_t min_windows;
	uint32_t n_filled;
	uint32_t ring_pos;
	uint32_t acc_n;
	uint32_t acc_state;	/* worst DSP_NOISE_* seen in this window */
	uint32_t reject_run;	/* rejected windows, less 10 per admitted */
	uint32_t reject_max;
	uint32_t relearn;	/* windows still to take unconditionally */
	uint32_t n_admitted;	/* total, saturating */
	double gate_ratio;
	double acc;
	double floor;		/* current median, 0 until valid */
	double ring[DSP_NOISE_MAX_WINDOWS];
	double sorted[DSP_NOISE_MAX_WINDOWS];
};

/* Mains frequency detector: Goertzel powers at 45, 50, 55, 60, 65, 150 and
 * 180 Hz over 1-s blocks, kept for the last DSP_MAINS_HISTORY blocks. */
struct dsp_mains_detector {
	uint32_t block_len;
	uint32_t pos;
	uint32_t n_blocks;	/* blocks in hist, <= DSP_MAINS_HISTORY */
	uint32_t hist_pos;
	uint32_t n_bins;	/* bins below Nyquist */
	uint32_t spoiled;	/* the running block saw invalid input: dropped */
	double coef[DSP_MAINS_N_BINS];
	double s1[DSP_MAINS_N_BINS];
	double s2[DSP_MAINS_N_BINS];
	double hist[DSP_MAINS_HISTORY][DSP_MAINS_N_BINS];
};

/* Step (electrode pop) detector on the raw input, in DSP_STEP_BLOCK_MS
 * blocks. */
struct dsp_step_detector {
	uint32_t block_len;	/* samples per block */
	uint32_t n_win;		/* blocks per mean window */
	uint32_t n_gap;		/* blocks skipped between the windows */
	uint32_t n_blocks;	/* filled, up to 2 * n_win + n_gap */
	uint32_t pos;
	uint32_t acc_n;
	uint32_t hold;		/* samples left to flag */
	uint32_t hold_len;
	double ratio;
	double min_uv;
	double inv_len;		/* 1 / block_len if exact, else 0 */
	double reject_scale;	/* n_win (1 - 2^-48): see end_block */
	double acc;		/* raw sum in the current block */
	double acc_peak;	/* max |filtered| in the current block */
	double pre_sum;		/* sums of the two mean windows */
	double post_sum;
	double peak_max;	/* max of peak[], and its age in blocks */
	uint32_t peak_age;
	uint32_t since_sum;	/* pushes since the sums were rebuilt */
	double mean[DSP_STEP_MAX_BLOCKS];
	double peak[DSP_STEP_MAX_BLOCKS];
};

struct dsp_block_stats {
	uint32_t n_samples;
	uint32_t n_nonfinite;	/* NaN/Inf input samples (output 0) */
	uint32_t n_saturated;	/* saturated input samples (output 0) */
	uint32_t n_restarts;	/* filter restarts after invalid input */
	uint32_t n_steps;	/* samples flagged DSP_FLAG_STEP */
	uint32_t mains_hz;	/* notch in use: 0, 50, 60; 110 = both */
	double rms_uv;		/* RMS of the valid output samples */
	double peak_uv;		/* max |output| */
	double noise_floor_uv;	/* median windowed mean |output|, 0 if
				 * not yet known */
};

struct dsp_chain {
	double rate_hz;
	double lp_cutoff_hz;	/* after clamping */
	double saturation_uv;
	uint32_t mode;		/* DSP_MAINS_* as configured */
	uint32_t mains_hz;	/* 0, 50, 60, or 110 while auto-detecting */
	uint32_t n_sec;
	uint32_t n_hp;		/* sections [0, n_hp) are the high-pass */
	uint32_t n_active;
	uint32_t need_init;	/* next valid sample seeds the state */
	uint8_t family[DSP_MAX_SECTIONS];	/* 0, 50 or 60 */
	uint8_t active[DSP_MAX_SECTIONS];	/* section order in use */
	struct dsp_biquad sec[DSP_MAX_SECTIONS];
	struct dsp_mains_detector mains_det;
	struct dsp_step_detector step;
	struct dsp_noise_floor noise;
};

/* dsp_config_default() - literature defaults (see struct dsp_config). */
void dsp_config_default(struct dsp_config *cfg);

/* dsp_config_check() - validate @cfg for @rate_hz.
 * Return: 0, or -EINVAL with the name of the first bad field in
 * *ret_field (untouched on success; @ret_field may be NULL). */
int dsp_config_check(const struct dsp_config *cfg, double rate_hz,
		     const char **ret_field);

/* dsp_chain_init() - design the filters for @rate_hz and reset all state.
 * @c: caller storage, fully written on success. @cfg is copied from.
 * Return: 0 or -EINVAL (bad config or rate; @c is then undefined). */
int dsp_chain_init(struct dsp_chain *c, const struct dsp_config *cfg,
		   double rate_hz);

/* dsp_chain_reset() - forget all signal history (not the mains decision). */
void dsp_chain_reset(struct dsp_chain *c);

/* dsp_chain_process() - filter @n samples of one channel.
 * @in/@out: element i is at [i * stride]; in == out is allowed. @stride >= 1
 * lets one call walk one channel of interleaved scans.
 * @flags: NULL or per-sample DSP_FLAG_* output, same indexing.
 * NaN/Inf or saturated input writes 0, is flagged and counted, and makes
 * the filters restart at the next valid sample from that sample's steady
 * state (so a DC offset does not ring). Never blocks or allocates.
 * @ret_stats: NULL or written with this block's statistics.
 */
void dsp_chain_process_flags(struct dsp_chain *c, const float *in, float *out,
			     uint8_t *flags, size_t n, size_t stride,
			     struct dsp_block_stats *ret_stats);
void dsp_chain_process(struct dsp_chain *c, const float *in, float *out,
		       size_t n, size_t stride,
		       struct dsp_block_stats *ret_stats);

/* dsp_chains_process_flags() - dsp_chain_process_flags() on each of @n_ch
 * chains, channel j reading in[i * n_ch + j] and writing out[] and flags[]
 * (NULL: none) there (in == out is allowed), with @ret_stats NULL or an
 * array of @n_ch. The results are those of one call per channel, to the
 * bit; channels of the same design (the same config and rate) are
 * filtered together, faster.
 */
void dsp_chains_process_flags(struct dsp_chain *chains, size_t n_ch,
			      const float *in, float *out, uint8_t *flags,
			      size_t n, struct dsp_block_stats *ret_stats);

/*
 * dsp_chain_band_delay() - group delay of the chain's high- and low-pass
 * sections at @f_hz, in samples: how late the band-pass passes a transient
 * whose energy lies around @f_hz. The notches are left out: each delays only
 * a band a few Hz wide around its harmonic, where a transient has little of
 * its energy.
 */
double dsp_chain_band_delay(const struct dsp_chain *c, double f_hz);

/* dsp_chain_set_mains() - force the notch family: 0 (none), 50 or 60.
 * Used by the caller to apply one decision to all channels.
 * Return: 0, or -EINVAL if that family was not designed at init (only
 * DSP_MAINS_AUTO designs both). */
int dsp_chain_set_mains(struct dsp_chain *c, unsigned int mains_hz);

/* dsp_chain_response() - complex gain of the active cascade at @f_hz, as
 * magnitude (linear) in *ret_mag. For diagnostics and tests. */
void dsp_chain_response(const struct dsp_chain *c, double f_hz,
			double *ret_mag);

/* Biquad design (bilinear transform, prewarped). Exposed for tests. */
void dsp_biquad_butter(struct dsp_biquad *sec, unsigned int order,
		       unsigned int index, int highpass, double fc_hz,
		       double rate_hz);
void dsp_biquad_notch(struct dsp_biquad *sec, double f0_hz, double q,
		      double rate_hz);

/* Mains detector: feed high-passed samples, then ask for a decision. */
void dsp_mains_init(struct dsp_mains_detector *m, double rate_hz);
void dsp_mains_push(struct dsp_mains_detector *m, double x);
/* dsp_mains_decide() - decide from the block history.
 * Return: 50 or 60 when that family stands >= 10 dB over the neighbouring
 * bins and >= 6 dB over the other family in >= 3 s of history, else 0. */
unsigned int dsp_mains_decide(const struct dsp_mains_detector *m);

/* Noise floor. dsp_noise_config_check(): -EINVAL with the bad field
 * ("noise.window_ms", ...) in *@ret_field, or 0. */
int dsp_noise_config_check(const struct dsp_noise_config *nc, double rate_hz,
			   const char **ret_field);
int dsp_noise_init(struct dsp_noise_floor *nf,
		   const struct dsp_noise_config *cfg, double rate_hz);
void dsp_noise_reset(struct dsp_noise_floor *nf);
void dsp_noise_window_end(struct dsp_noise_floor *nf);
/* dsp_noise_mad() - median absolute deviation of the window means. */
double dsp_noise_mad(const struct dsp_noise_floor *nf);

/* dsp_noise_push() - add one value of the statistic (>= 0) with its
 * DSP_NOISE_* admission state. O(1) except once per window. */
static inline void dsp_noise_push(struct dsp_noise_floor *nf, double v,
				  unsigned int state)
{
	nf->acc += v;
	if (state > nf->acc_state)
		nf->acc_state = state;
	if (++nf->acc_n >= nf->win_len)
		dsp_noise_window_end(nf);
}

/*
 * dsp_noise_push_held() - dsp_noise_push() for a loop that keeps the open
 * window's @acc, @acc_n and @acc_state in its own variables (registers)
 * and stores them back into @nf when it is done: the same arithmetic.
 */
static inline void dsp_noise_push_held(struct dsp_noise_floor *nf, double *acc,
				       uint32_t *acc_n, uint32_t *acc_state, double v,
				       unsigned int state)
{
	*acc += v;
	if (state > *acc_state)
		*acc_state = state;
	if (++*acc_n < nf->win_len)
		return;
	nf->acc = *acc;
	nf->acc_n = *acc_n;
	nf->acc_state = *acc_state;
	dsp_noise_window_end(nf);
	*acc = nf->acc;
	*acc_n = nf->acc_n;
	*acc_state = nf->acc_state;
}

/* dsp_noise_floor() - current floor (median window mean), 0 until valid. */
static inline double dsp_noise_floor(const struct dsp_noise_floor *nf)
{
	return nf->floor;
}

#endif /* TWITCHD_DSP_H */

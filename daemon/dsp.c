/* dsp.c - per-channel EMG conditioning for twitchd.
 *
 * High-pass, mains notches (50 or 60 Hz and harmonics, or both until the
 * mains frequency is detected) and low-pass, as biquad cascades in double
 * precision; a raw-domain step detector that flags electrode pops; and a
 * robust noise floor (median of windowed means, admitted only from quiet
 * windows). Invalid input never reaches the filter state: it is replaced
 * by 0, flagged, counted, and the filters restart from the steady state of
 * the next valid sample. Nothing here allocates or logs.
 *
 * dsp_chain_sample() is the reference, one sample at a time. Plain
 * stretches go faster the same way to the bit: several channels in the
 * lanes of vectors ("channels" below), or one channel's sections side by
 * side ("one channel"); anything else falls back to the reference.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dsp.h"

/* Goertzel bins of the mains detector: neighbours, fundamentals, and the
 * third harmonics (the strongest in practice, from rectifier loads). */
static const double dsp_mains_bin_hz[DSP_MAINS_N_BINS] = {
	45.0, 50.0, 55.0, 60.0, 65.0, 150.0, 180.0
};

enum { BIN_45, BIN_50, BIN_55, BIN_60, BIN_65, BIN_150, BIN_180 };

/* rejected windows one admitted window cancels (see window_end) */
#define DSP_NOISE_FORGIVE	10

void dsp_config_default(struct dsp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hp_cutoff_hz = 20.0;
	cfg->hp_order = 4;
	cfg->lp_cutoff_hz = 450.0;
	cfg->lp_order = 4;
	cfg->mains = DSP_MAINS_AUTO;
	cfg->notch_bw_hz = 2.0;
	cfg->notch_max_hz = 0.0;
	cfg->saturation_uv = 0.0;
	/* An electrode pop is a step that decays over >= 50 ms; a 60-ms mean
	 * on each side separates it from motor-unit potentials (net area ~0,
	 * step/peak <= 0.3 for potentials up to ~35 ms in our simulations of
	 * the emgdb shapes, >= 0.8 for pops with tau >= 50 ms). */
	cfg->step_window_ms = 60.0;
	cfg->step_gap_ms = 10.0;
	cfg->step_ratio = 0.6;
	cfg->step_min_uv = 50.0;
	cfg->noise.window_ms = 50.0;
	cfg->noise.n_windows = 200;
	cfg->noise.min_windows = 10;
	cfg->noise.gate_ratio = 3.0;
	cfg->noise.max_reject_s = 30.0;
}

static int dsp_noise_check(const struct dsp_noise_config *nc, double rate_hz,
			   const char **ret_field)
{
	const char *bad = NULL;
	double win;

	win = nc->window_ms * rate_hz / 1000.0;
	if (!(nc->window_ms > 0.0) || !(win >= 1.0) || win > 1e7)
		bad = "noise.window_ms";
	else if (nc->n_windows < 1 || nc->n_windows > DSP_NOISE_MAX_WINDOWS)
		bad = "noise.n_windows";
	else if (nc->min_windows < 1 || nc->min_windows > nc->n_windows)
		bad = "noise.min_windows";
	else if (!(nc->gate_ratio == 0.0 ||
		   (nc->gate_ratio > 1.0 && nc->gate_ratio < 1e6)))
		bad = "noise.gate_ratio";
	else if (!(nc->max_reject_s >= 0.0 && nc->max_reject_s <= 1e6))
		bad = "noise.max_reject_s";
	if (!bad)
		return 0;
	if (ret_field)
		*ret_field = bad;
	return -EINVAL;
}

static double dsp_lp_effective(const struct dsp_config *cfg, double rate_hz)
{
	return fmin(cfg->lp_cutoff_hz, 0.45 * rate_hz);
}

int dsp_config_check(const struct dsp_config *cfg, double rate_hz,
		     const char **ret_field)
{
	const char *bad = NULL;
	double lp, block_ms, blocks;

	if (!cfg || !isfinite(rate_hz) || rate_hz < 100.0 || rate_hz > 1e6) {
		if (ret_field)
			*ret_field = "rate_hz";
		return -EINVAL;
	}
	lp = dsp_lp_effective(cfg, rate_hz);
	block_ms = fmax(1.0, round(rate_hz / 1000.0)) * 1000.0 / rate_hz;
	blocks = (2.0 * cfg->step_window_ms + cfg->step_gap_ms) / block_ms;
	if (cfg->lp_order < 1 || cfg->lp_order > DSP_MAX_ORDER)
		bad = "lp_order";
	else if (!(cfg->lp_cutoff_hz > 0.0) || !isfinite(cfg->lp_cutoff_hz))
		bad = "lp_cutoff_hz";
	else if (cfg->hp_order < 1 || cfg->hp_order > DSP_MAX_ORDER)
		bad = "hp_order";
	else if (!(cfg->hp_cutoff_hz > 0.0) || !(cfg->hp_cutoff_hz < lp))
		bad = "hp_cutoff_hz";
	else if (cfg->mains > DSP_MAINS_AUTO)
		bad = "mains";
	else if (cfg->mains == DSP_MAINS_AUTO && 65.0 >= 0.49 * rate_hz)
		bad = "mains";
	else if (!(cfg->notch_bw_hz >= 0.05 && cfg->notch_bw_hz <= 20.0))
		bad = "notch_bw_hz";
	else if (!(cfg->notch_max_hz >= 0.0) || !isfinite(cfg->notch_max_hz))
		bad = "notch_max_hz";
	else if (!(cfg->saturation_uv >= 0.0) || !isfinite(cfg->saturation_uv))
		bad = "saturation_uv";
	else if (!(cfg->step_window_ms >= block_ms) ||
		 !(blocks <= DSP_STEP_MAX_BLOCKS))
		bad = "step_window_ms";
	else if (!(cfg->step_gap_ms >= 0.0) || !isfinite(cfg->step_gap_ms))
		bad = "step_gap_ms";
	else if (!(cfg->step_ratio > 0.0) || !isfinite(cfg->step_ratio))
		bad = "step_ratio";
	else if (!(cfg->step_min_uv >= 0.0) || !isfinite(cfg->step_min_uv))
		bad = "step_min_uv";
	if (bad) {
		if (ret_field)
			*ret_field = bad;
		return -EINVAL;
	}
	return dsp_noise_check(&cfg->noise, rate_hz, ret_field);
}

/* ------------------------------------------------------------ design */

/* Section @index of an order-@order Butterworth filter by the bilinear
 * transform with prewarping (the design of scipy.signal.butter). For odd
 * orders the last section is first order. */
void dsp_biquad_butter(struct dsp_biquad *sec, unsigned int order,
		       unsigned int index, int highpass, double fc_hz,
		       double rate_hz)
{
	double k = tan(M_PI * fc_hz / rate_hz);
	double q, norm;

	memset(sec, 0, sizeof(*sec));
	if (order % 2 == 1 && index == order / 2) {
		norm = 1.0 / (1.0 + k);
		sec->b0 = highpass ? norm : k * norm;
		sec->b1 = highpass ? -sec->b0 : sec->b0;
		sec->a1 = (k - 1.0) * norm;
		return;
	}
	/* analog pole pair at angle (2i+1)pi/(2N) from the imaginary axis */
	q = 1.0 / (2.0 * sin((2.0 * index + 1.0) * M_PI / (2.0 * order)));
	norm = 1.0 / (1.0 + k / q + k * k);
	sec->b0 = highpass ? norm : k * k * norm;
	sec->b1 = highpass ? -2.0 * sec->b0 : 2.0 * sec->b0;
	sec->b2 = sec->b0;
	sec->a1 = 2.0 * (k * k - 1.0) * norm;
	sec->a2 = (1.0 - k / q + k * k) * norm;
}

/* Second-order notch with zeros on the unit circle at @f0_hz and a -3 dB
 * bandwidth of f0/Q (Orfanidis, Introduction to Signal Processing, 11.3;
 * the design of scipy.signal.iirnotch). */
void dsp_biquad_notch(struct dsp_biquad *sec, double f0_hz, double q,
		      double rate_hz)
{
	double w0 = 2.0 * M_PI * f0_hz / rate_hz;
	double beta = tan(w0 / q / 2.0);
	double gain = 1.0 / (1.0 + beta);

	memset(sec, 0, sizeof(*sec));
	sec->b0 = gain;
	sec->b1 = -2.0 * gain * cos(w0);
	sec->b2 = gain;
	sec->a1 = -2.0 * gain * cos(w0);
	sec->a2 = 2.0 * gain - 1.0;
}

static int dsp_add_section(struct dsp_chain *c, unsigned int family)
{
	if (c->n_sec >= DSP_MAX_SECTIONS)
		return -EINVAL;
	c->family[c->n_sec] = (uint8_t)family;
	return (int)c->n_sec++;
}

static int dsp_add_notches(struct dsp_chain *c, unsigned int f0,
			   double max_hz, double bw_hz)
{
	unsigned int k;
	int i;

	for (k = 1; k * f0 <= max_hz && k * f0 < 0.49 * c->rate_hz; k++) {
		i = dsp_add_section(c, f0);
		if (i < 0)
			return i;
		dsp_biquad_notch(&c->sec[i], k * f0, k * f0 / bw_hz,
				 c->rate_hz);
	}
	return 0;
}

/* Rebuild the list of sections in use for mains family @hz (110 = both). */
static void dsp_select(struct dsp_chain *c, unsigned int hz)
{
	uint32_t i;

	c->n_active = 0;
	for (i = 0; i < c->n_sec; i++) {
		unsigned int f = c->family[i];

		if (f == 0 || (hz == 110 && c->mode == DSP_MAINS_AUTO) ||
		    f == hz)
			c->active[c->n_active++] = (uint8_t)i;
	}
	c->mains_hz = hz;
}

/* ------------------------------------------------------------ noise */

int dsp_noise_init(struct dsp_noise_floor *nf,
		   const struct dsp_noise_config *cfg, double rate_hz)
{
	double reject;
	int err;

	if (!nf || !cfg || !isfinite(rate_hz) || !(rate_hz > 0.0))
		return -EINVAL;
	err = dsp_noise_check(cfg, rate_hz, NULL);
	if (err < 0)
		return err;
	memset(nf, 0, sizeof(*nf));
	nf->win_len = (uint32_t)lround(cfg->window_ms * rate_hz / 1000.0);
	nf->n_cap = cfg->n_windows;
	nf->min_windows = cfg->min_windows;
	nf->gate_ratio = cfg->gate_ratio;
	reject = ceil(cfg->max_reject_s * 1000.0 / cfg->window_ms);
	nf->reject_max = reject >= 1.0 && reject < 4e9 ? (uint32_t)reject
						      : UINT32_MAX;
	return 0;
}

void dsp_noise_reset(struct dsp_noise_floor *nf)
{
	nf->n_filled = 0;
	nf->ring_pos = 0;
	nf->acc = 0.0;
	nf->acc_n = 0;
	nf->acc_state = DSP_NOISE_QUIET;
	nf->reject_run = 0;
	nf->relearn = 0;
	nf->floor = 0.0;
}

/* first index in sorted[0, n) with sorted[i] >= v. Without a branch on
 * the data (a conditional move): the comparisons of a search in noise
 * are coin tosses that a branch predictor loses half the time. */
static uint32_t dsp_lower_bound(const double *sorted, uint32_t n, double v)
{
	const double *base = sorted;

	if (n == 0)
		return 0;
	while (n > 1) {
		uint32_t half = n / 2;

		base = base[half] < v ? base + half : base;
		n -= half;
	}
	return (uint32_t)(base - sorted) + (*base < v);
}

static void dsp_noise_insert(struct dsp_noise_floor *nf, double v)
{
	uint32_t n = nf->n_filled, i, j;

	j = dsp_lower_bound(nf->sorted, n, v);
	if (n == nf->n_cap) {
		/* the value leaving the ring is an exact copy of one in
		 * sorted[]: drop it and insert v in one move, of only what
		 * lies between the two places (the same array as a removal
		 * at i, then an insertion by lower bound in what is left) */
		i = dsp_lower_bound(nf->sorted, n, nf->ring[nf->ring_pos]);
		if (i >= n)
			i = n - 1;	/* cannot happen; stay in bounds */
		if (j <= i) {
			memmove(&nf->sorted[j + 1], &nf->sorted[j],
				(i - j) * sizeof(nf->sorted[0]));
		} else {
			j--;
			memmove(&nf->sorted[i], &nf->sorted[i + 1],
				(j - i) * sizeof(nf->sorted[0]));
		}
	} else {
		memmove(&nf->sorted[j + 1], &nf->sorted[j],
			(n - j) * sizeof(nf->sorted[0]));
		n++;
	}
	nf->sorted[j] = v;
	nf->ring[nf->ring_pos] = v;
	nf->ring_pos = nf->ring_pos + 1 == nf->n_cap ? 0 : nf->ring_pos + 1;
	nf->n_filled = n;
	if (nf->n_admitted < UINT32_MAX)
		nf->n_admitted++;
	if (n < nf->min_windows)
		nf->floor = 0.0;
	else if (n % 2)
		nf->floor = nf->sorted[n / 2];
	else
		nf->floor = 0.5 * (nf->sorted[n / 2 - 1] + nf->sorted[n / 2]);
}

void dsp_noise_window_end(struct dsp_noise_floor *nf)
{
	double mean = nf->acc / (double)(nf->acc_n ? nf->acc_n : 1);
	unsigned int state = nf->acc_state;
	int admit;

	nf->acc = 0.0;
	nf->acc_n = 0;
	nf->acc_state = DSP_NOISE_QUIET;
	if (state >= DSP_NOISE_INVALID || !isfinite(mean) || mean < 0.0)
		return;
	if (nf->relearn) {
		/* a change of level was accepted: take every window until
		 * the median is made of new ones */
		dsp_noise_insert(nf, mean);
		if (--nf->relearn == 0)
			nf->reject_run = 0;
		return;
	}
	admit = state == DSP_NOISE_QUIET;
	if (admit && nf->floor > 0.0 && nf->gate_ratio > 0.0 &&
	    mean > nf->gate_ratio * nf->floor)
		admit = 0;
	if (admit) {
		/* one quiet window forgives a little, not a whole refused
		 * stretch: the low tail of a higher level gets through */
		nf->reject_run = nf->reject_run > DSP_NOISE_FORGIVE ?
				 nf->reject_run - DSP_NOISE_FORGIVE : 0;
		dsp_noise_insert(nf, mean);
		return;
	}
	if (nf->reject_run < UINT32_MAX)
		nf->reject_run++;
	if (nf->reject_run < nf->reject_max)
		return;
	/* refused for about max_reject_s: this is the new level */
	nf->relearn = nf->n_cap / 2 + 1;
	dsp_noise_insert(nf, mean);
	nf->relearn--;
}

double dsp_noise_mad(const struct dsp_noise_floor *nf)
{
	const double *s = nf->sorted;
	uint32_t n = nf->n_filled, want, k;
	double med, d = 0.0, prev = 0.0;
	int64_t i, j;

	if (n < nf->min_windows || n == 0)
		return 0.0;
	med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
	/* deviations grow outwards from the median on both sides: merge */
	j = dsp_lower_bound(s, n, med);
	i = j - 1;
	want = n / 2;
	for (k = 0; k <= want; k++) {
		double dl = i >= 0 ? med - s[i] : INFINITY;
		double dr = j < (int64_t)n ? s[j] - med : INFINITY;

		prev = d;
		if (dl <= dr) {
			d = dl;
			i--;
		} else {
			d = dr;
			j++;
		}
	}
	return n % 2 ? d : 0.5 * (prev + d);
}

/* ------------------------------------------------------------ mains */

void dsp_mains_init(struct dsp_mains_detector *m, double rate_hz)
{
	uint32_t i;

	memset(m, 0, sizeof(*m));
	m->block_len = (uint32_t)lround(rate_hz);
	if (m->block_len < 1)
		m->block_len = 1;
	for (i = 0; i < DSP_MAINS_N_BINS; i++) {
		if (dsp_mains_bin_hz[i] >= 0.49 * rate_hz)
			break;
		m->coef[i] = 2.0 * cos(2.0 * M_PI * dsp_mains_bin_hz[i] /
				       rate_hz);
	}
	m->n_bins = i;
}

void dsp_mains_push(struct dsp_mains_detector *m, double x)
{
	uint32_t i;

	for (i = 0; i < m->n_bins; i++) {
		double s0 = x + m->coef[i] * m->s1[i] - m->s2[i];

		m->s2[i] = m->s1[i];
		m->s1[i] = s0;
	}
	if (++m->pos < m->block_len)
		return;
	for (i = 0; i < m->n_bins; i++) {
		m->hist[m->hist_pos][i] = m->s1[i] * m->s1[i] +
					  m->s2[i] * m->s2[i] -
					  m->coef[i] * m->s1[i] * m->s2[i];
		m->s1[i] = 0.0;
		m->s2[i] = 0.0;
	}
	m->hist_pos = (m->hist_pos + 1) % DSP_MAINS_HISTORY;
	if (m->n_blocks < DSP_MAINS_HISTORY)
		m->n_blocks++;
	m->pos = 0;
}

static void dsp_mains_abort_block(struct dsp_mains_detector *m)
{
	memset(m->s1, 0, sizeof(m->s1));
	memset(m->s2, 0, sizeof(m->s2));
	m->pos = 0;
}

unsigned int dsp_mains_decide(const struct dsp_mains_detector *m)
{
	double p[DSP_MAINS_N_BINS] = { 0 };
	double bg, r50, r60;
	uint32_t b, i;
	int h3;

	if (m->n_blocks < 3 || m->n_bins <= BIN_65)
		return 0;
	for (b = 0; b < m->n_blocks; b++)
		for (i = 0; i < m->n_bins; i++)
			p[i] += m->hist[b][i];
	bg = (p[BIN_45] + p[BIN_55] + p[BIN_65]) / 3.0;
	if (!(bg > 0.0))
		bg = DBL_MIN;
	h3 = m->n_bins > BIN_180;
	r50 = (p[BIN_50] + (h3 ? p[BIN_150] : 0.0)) / ((h3 ? 2 : 1) * bg);
	r60 = (p[BIN_60] + (h3 ? p[BIN_180] : 0.0)) / ((h3 ? 2 : 1) * bg);
	/* 10 dB over the neighbours, 6 dB over the other family */
	if (r50 >= 10.0 && r50 >= 4.0 * r60)
		return 50;
	if (r60 >= 10.0 && r60 >= 4.0 * r50)
		return 60;
	return 0;
}

/* ------------------------------------------------------------ step */

static void dsp_step_init(struct dsp_step_detector *s,
			  const struct dsp_config *cfg, double rate_hz)
{
	double block_ms;

	memset(s, 0, sizeof(*s));
	s->block_len = (uint32_t)fmax(1.0, round(rate_hz / 1000.0));
	block_ms = s->block_len * 1000.0 / rate_hz;
	s->n_win = (uint32_t)fmax(1.0, round(cfg->step_window_ms / block_ms));
	s->n_gap = (uint32_t)round(cfg->step_gap_ms / block_ms);
	s->ratio = cfg->step_ratio;
	s->min_uv = cfg->step_min_uv;
	s->hold_len = s->block_len;
	if ((s->block_len & (s->block_len - 1)) == 0)
		s->inv_len = 1.0 / s->block_len;
	s->reject_scale = s->n_win * (1.0 - 0x1p-48);
}

static void dsp_step_reset(struct dsp_step_detector *s)
{
	s->n_blocks = 0;
	s->pos = 0;
	s->acc = 0.0;
	s->acc_peak = 0.0;
	s->acc_n = 0;
	s->hold = 0;
}

/* index of the block @age (< size) blocks older than the newest */
static uint32_t dsp_step_at(const struct dsp_step_detector *s, uint32_t age)
{
	uint32_t size = 2 * s->n_win + s->n_gap;
	uint32_t back = age + 1;

	return s->pos >= back ? s->pos - back : s->pos + size - back;
}

/* Rebuild the window sums and the peak maximum from the blocks, when the
 * ring fills and then every ring length (no drift from running sums).
 * Only called on a full ring. Each sum newest first, as they always were;
 * the two side by side, stepping back through the ring without a
 * division. */
static void dsp_step_rebuild(struct dsp_step_detector *s)
{
	uint32_t size = 2 * s->n_win + s->n_gap;
	uint32_t age, i = dsp_step_at(s, 0);
	uint32_t j = dsp_step_at(s, s->n_win + s->n_gap);
	double post = 0.0, pre = 0.0, peak = 0.0;
	uint32_t peak_age = 0;

	for (age = 0; age < s->n_win; age++) {
		post += s->mean[i];
		pre += s->mean[j];
		i = i ? i - 1 : size - 1;
		j = j ? j - 1 : size - 1;
	}
	/* the newest of equal maxima */
	for (age = 0, i = dsp_step_at(s, 0); age < size; age++) {
		if (s->peak[i] > peak) {
			peak = s->peak[i];
			peak_age = age;
		}
		i = i ? i - 1 : size - 1;
	}
	s->post_sum = post;
	s->pre_sum = pre;
	s->peak_max = peak;
	s->peak_age = peak_age;
	s->since_sum = 0;
}

/* Push one block: O(1) except for an occasional rebuild. */
static void dsp_step_block(struct dsp_step_detector *s, double mean,
			   double peak)
{
	uint32_t size = 2 * s->n_win + s->n_gap;
	double oldest = s->mean[s->pos];
	int full = s->n_blocks == size;

	s->mean[s->pos] = mean;
	s->peak[s->pos] = peak;
	if (++s->pos == size)
		s->pos = 0;
	if (!full) {
		if (++s->n_blocks == size)
			dsp_step_rebuild(s);
		return;
	}
	/* every block aged by one: one enters each window, one leaves */
	s->post_sum += mean - s->mean[dsp_step_at(s, s->n_win)];
	s->pre_sum += s->mean[dsp_step_at(s, s->n_win + s->n_gap)] - oldest;
	s->since_sum++;
	if (peak >= s->peak_max) {
		s->peak_max = peak;
		s->peak_age = 0;
	} else {
		s->peak_age++;	/* == size: the maximum just left */
	}
	if (s->peak_age >= size || s->since_sum >= size)
		dsp_step_rebuild(s);
}

/* The end of a block of samples: its mean and peak join the ring, and a
 * step between the two mean windows starts a hold of the flag. */
static void dsp_step_end_block(struct dsp_step_detector *s)
{
	double d, lim;

	/* acc_n == block_len; a power of two divides exactly by its
	 * reciprocal (both are the one rounding of the same quotient) */
	dsp_step_block(s, s->inv_len > 0.0 ? s->acc * s->inv_len
					    : s->acc / s->acc_n, s->acc_peak);
	s->acc = 0.0;
	s->acc_peak = 0.0;
	s->acc_n = 0;
	if (s->n_blocks != 2 * s->n_win + s->n_gap)
		return;
	/* shift = d / n_win >= both thresholds. Most blocks fall short by
	 * far: d < lim, lim below T n_win (1 - 2^-51) even after its own
	 * rounding, means d / n_win rounds below T; then no division. */
	d = fabs(s->post_sum - s->pre_sum);
	lim = s->ratio * s->peak_max;
	lim = (lim > s->min_uv ? lim : s->min_uv) * s->reject_scale;
	if (d < lim && lim >= DBL_MIN)
		return;
	d /= s->n_win;
	if (d >= s->min_uv && d >= s->ratio * s->peak_max)
		s->hold = s->hold_len;
}

/* Push one valid sample: @x raw input, @y filtered output. Return 1 if
 * this sample is to be flagged DSP_FLAG_STEP. */
static inline int dsp_step_push(struct dsp_step_detector *s, double x,
				double y)
{
	s->acc += x;
	if (fabs(y) > s->acc_peak)
		s->acc_peak = fabs(y);
	if (++s->acc_n >= s->block_len)
		dsp_step_end_block(s);
	if (s->hold) {
		s->hold--;
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ chain */

int dsp_chain_init(struct dsp_chain *c, const struct dsp_config *cfg,
		   double rate_hz)
{
	double lp, notch_max;
	unsigned int k, hz;
	int err, i;

	if (!c)
		return -EINVAL;
	err = dsp_config_check(cfg, rate_hz, NULL);
	if (err < 0)
		return err;
	memset(c, 0, sizeof(*c));
	c->rate_hz = rate_hz;
	c->mode = cfg->mains;
	c->saturation_uv = cfg->saturation_uv;
	lp = dsp_lp_effective(cfg, rate_hz);
	c->lp_cutoff_hz = lp;

	for (k = 0; k < (cfg->hp_order + 1) / 2; k++) {
		i = dsp_add_section(c, 0);
		if (i < 0)
			return i;
		dsp_biquad_butter(&c->sec[i], cfg->hp_order, k, 1,
				  cfg->hp_cutoff_hz, rate_hz);
	}
	c->n_hp = c->n_sec;
	notch_max = cfg->notch_max_hz > 0.0 ? cfg->notch_max_hz : lp;
	if (cfg->mains == DSP_MAINS_50HZ || cfg->mains == DSP_MAINS_AUTO) {
		err = dsp_add_notches(c, 50, notch_max, cfg->notch_bw_hz);
		if (err < 0)
			return err;
	}
	if (cfg->mains == DSP_MAINS_60HZ || cfg->mains == DSP_MAINS_AUTO) {
		err = dsp_add_notches(c, 60, notch_max, cfg->notch_bw_hz);
		if (err < 0)
			return err;
	}
	for (k = 0; k < (cfg->lp_order + 1) / 2; k++) {
		i = dsp_add_section(c, 0);
		if (i < 0)
			return i;
		dsp_biquad_butter(&c->sec[i], cfg->lp_order, k, 0, lp,
				  rate_hz);
	}
	switch (cfg->mains) {
	case DSP_MAINS_50HZ:
		hz = 50;
		break;
	case DSP_MAINS_60HZ:
		hz = 60;
		break;
	case DSP_MAINS_AUTO:
		hz = 110;
		break;
	default:
		hz = 0;
		break;
	}
	dsp_select(c, hz);
	dsp_mains_init(&c->mains_det, rate_hz);
	dsp_step_init(&c->step, cfg, rate_hz);
	err = dsp_noise_init(&c->noise, &cfg->noise, rate_hz);
	if (err < 0)
		return err;
	dsp_chain_reset(c);
	return 0;
}

void dsp_chain_reset(struct dsp_chain *c)
{
	uint32_t i;

	for (i = 0; i < c->n_sec; i++) {
		c->sec[i].s1 = 0.0;
		c->sec[i].s2 = 0.0;
	}
	c->need_init = 1;
	dsp_mains_abort_block(&c->mains_det);
	dsp_step_reset(&c->step);
	dsp_noise_reset(&c->noise);
}

int dsp_chain_set_mains(struct dsp_chain *c, unsigned int mains_hz)
{
	unsigned int old = c->mains_hz;

	if (mains_hz != 0 && mains_hz != 50 && mains_hz != 60)
		return -EINVAL;
	if (mains_hz != 0 && c->mode != DSP_MAINS_AUTO &&
	    mains_hz != (c->mode == DSP_MAINS_50HZ ? 50u : 60u))
		return -EINVAL;
	dsp_select(c, mains_hz);
	/* sections switched on have stale state: restart from steady state */
	if (mains_hz != 0 && old != mains_hz && old != 110)
		c->need_init = 1;
	return 0;
}

/* Set every active section to its steady state for a constant input @x,
 * so that restarting on a signal with a DC offset does not ring. */
static void dsp_chain_settle(struct dsp_chain *c, double x)
{
	uint32_t k;

	for (k = 0; k < c->n_active; k++) {
		struct dsp_biquad *s = &c->sec[c->active[k]];
		double den = 1.0 + s->a1 + s->a2;
		double g = den != 0.0 ? (s->b0 + s->b1 + s->b2) / den : 0.0;
		double y = g * x;

		s->s2 = s->b2 * x - s->a2 * y;
		s->s1 = s->b1 * x - s->a1 * y + s->s2;
		x = y;
	}
}

static inline double dsp_biquad_run(struct dsp_biquad *s, double x)
{
	double y = s->b0 * x + s->s1;

	s->s1 = s->b1 * x - s->a1 * y + s->s2;
	s->s2 = s->b2 * x - s->a2 * y;
	return y;
}

/* Decaying state reaches subnormal numbers on long zero input; they are
 * slow on most CPUs and carry no information. */
static void dsp_chain_flush_subnormal(struct dsp_chain *c)
{
	uint32_t i;

	for (i = 0; i < c->n_sec; i++) {
		if (fabs(c->sec[i].s1) < 1e-200)
			c->sec[i].s1 = 0.0;
		if (fabs(c->sec[i].s2) < 1e-200)
			c->sec[i].s2 = 0.0;
	}
}

/* The statistics of one call, while it runs. */
struct dsp_run {
	struct dsp_block_stats st;
	double sum_sq;
	uint32_t n_valid;
};

/* Filter one sample @x of @c into *@out and *@flag (NULL: no flag). */
static inline void dsp_chain_sample(struct dsp_chain *c, double x, float *out,
				    uint8_t *flag, struct dsp_run *r)
{
	double y;
	uint8_t f = 0;
	uint32_t k;

	if (!isfinite(x)) {
		f = DSP_FLAG_NONFINITE;
		r->st.n_nonfinite++;
	} else if (c->saturation_uv > 0.0 && fabs(x) >= c->saturation_uv) {
		f = DSP_FLAG_SATURATED;
		r->st.n_saturated++;
	}
	if (f) {
		*out = 0.0f;
		if (flag)
			*flag = f;
		if (!c->need_init) {
			c->need_init = 1;
			dsp_mains_abort_block(&c->mains_det);
			dsp_step_reset(&c->step);
		}
		dsp_noise_push(&c->noise, 0.0, DSP_NOISE_INVALID);
		return;
	}
	if (c->need_init) {
		dsp_chain_settle(c, x);
		c->need_init = 0;
		f |= DSP_FLAG_RESTART;
		r->st.n_restarts++;
	}
	y = x;
	for (k = 0; k < c->n_hp; k++)
		y = dsp_biquad_run(&c->sec[c->active[k]], y);
	if (c->mains_hz == 110) {
		dsp_mains_push(&c->mains_det, y);
		if (c->mains_det.pos == 0) {
			unsigned int hz = dsp_mains_decide(&c->mains_det);

			if (hz)
				dsp_select(c, hz);
		}
	}
	for (; k < c->n_active; k++)
		y = dsp_biquad_run(&c->sec[c->active[k]], y);
	if (!isfinite(y)) {
		/* only reachable with absurd finite input; never let it
		 * stay in the state */
		*out = 0.0f;
		if (flag)
			*flag = DSP_FLAG_NONFINITE;
		r->st.n_nonfinite++;
		c->need_init = 1;
		dsp_noise_push(&c->noise, 0.0, DSP_NOISE_INVALID);
		return;
	}
	if (dsp_step_push(&c->step, x, y)) {
		f |= DSP_FLAG_STEP;
		r->st.n_steps++;
	}
	*out = (float)y;
	if (flag)
		*flag = f;
	r->sum_sq += y * y;
	r->n_valid++;
	if (fabs(y) > r->st.peak_uv)
		r->st.peak_uv = fabs(y);
	dsp_noise_push(&c->noise, fabs(y), DSP_NOISE_QUIET);
}

/* @n samples of one channel, one at a time (the reference behaviour). */
static void dsp_chain_run(struct dsp_chain *c, const float *in, float *out,
			  uint8_t *flags, size_t n, size_t stride,
			  struct dsp_run *r)
{
	size_t i;

	for (i = 0; i < n; i++)
		dsp_chain_sample(c, in[i * stride], &out[i * stride],
				 flags ? &flags[i * stride] : NULL, r);
}

static void dsp_one_run(struct dsp_chain *c, const float *in, float *out,
			uint8_t *flags, size_t n, size_t stride,
			struct dsp_run *r);

/* The end of a call: flush the state and report. */
static void dsp_chain_end(struct dsp_chain *c, const struct dsp_run *r,
			  size_t n, struct dsp_block_stats *ret_stats)
{
	struct dsp_block_stats st = r->st;

	dsp_chain_flush_subnormal(c);
	if (!ret_stats)
		return;
	st.n_samples = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
	st.mains_hz = c->mains_hz;
	st.rms_uv = r->n_valid ? sqrt(r->sum_sq / r->n_valid) : 0.0;
	st.noise_floor_uv = dsp_noise_floor(&c->noise);
	*ret_stats = st;
}

void dsp_chain_process_flags(struct dsp_chain *c, const float *in, float *out,
			     uint8_t *flags, size_t n, size_t stride,
			     struct dsp_block_stats *ret_stats)
{
	struct dsp_run r = { { 0 }, 0.0, 0 };

	if (stride == 0)
		stride = 1;
	dsp_one_run(c, in, out, flags, n, stride, &r);
	dsp_chain_end(c, &r, n, ret_stats);
}

void dsp_chain_process(struct dsp_chain *c, const float *in, float *out,
		       size_t n, size_t stride,
		       struct dsp_block_stats *ret_stats)
{
	dsp_chain_process_flags(c, in, out, NULL, n, stride, ret_stats);
}

void dsp_chain_response(const struct dsp_chain *c, double f_hz,
			double *ret_mag)
{
	double w = 2.0 * M_PI * f_hz / c->rate_hz;
	double c1 = cos(w), s1 = sin(w), c2 = cos(2.0 * w), s2 = sin(2.0 * w);
	double mag = 1.0;
	uint32_t k;

	for (k = 0; k < c->n_active; k++) {
		const struct dsp_biquad *s = &c->sec[c->active[k]];
		double nr = s->b0 + s->b1 * c1 + s->b2 * c2;
		double ni = -(s->b1 * s1 + s->b2 * s2);
		double dr = 1.0 + s->a1 * c1 + s->a2 * c2;
		double di = -(s->a1 * s1 + s->a2 * s2);

		mag *= sqrt((nr * nr + ni * ni) / (dr * dr + di * di));
	}
	*ret_mag = mag;
}

/* ------------------------------------------------------------ channels */

/*
 * Several channels at once. One channel's cascade is a chain of dependent
 * operations (each section waits for the one before, each sample for the
 * last), so the processor idles on latency. Channels of the same design
 * are independent: up to DSP_LANES of them are filtered together, one
 * section at a time over a tile of DSP_TILE scans held in L1, the channels
 * in the lanes of vectors. Every channel still sees exactly the operations
 * of dsp_chain_sample(), in the same order, so the results are the same to
 * the bit. Anything that is not plain filtering (invalid input, a restart,
 * the end of a mains detector block, a non-finite output, channels with
 * different sections) goes through dsp_chain_sample() itself.
 *
 * The vectors hold two doubles, what every target has (SSE2, NEON): GCC
 * splits wider generic vectors itself, but then spills the filter state
 * and compares lane by lane. Four of them per scan also give four
 * independent chains, enough to cover an add-multiply-add latency.
 */
#define DSP_LANES	8
#define DSP_V2		(DSP_LANES / 2)
#define DSP_TILE	128	/* 8 KiB of doubles */
#define DSP_MIN_LANES	5	/* fewer: one channel at a time is faster */

typedef double dsp_v2 __attribute__((vector_size(2 * sizeof(double))));
typedef float dsp_v2f __attribute__((vector_size(2 * sizeof(float))));
typedef int64_t dsp_m2 __attribute__((vector_size(2 * sizeof(int64_t))));

struct dsp_scan {	/* lanes 2j and 2j + 1 in v[j] */
	dsp_v2 v[DSP_V2];
};

#define DSP_LANE(scan, l)	((scan).v[(l) / 2][(l) % 2])

/* Tiles are plain doubles, scan after scan, DSP_LANES to a scan; vectors
 * go in and out by memcpy (a plain load or store). */
static inline dsp_v2 dsp_get2(const double *p)
{
	dsp_v2 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void dsp_put2(double *p, dsp_v2 v)
{
	memcpy(p, &v, sizeof(v));
}

/* Fold "every lane of the scan at @x is below @lim in magnitude" (so
 * neither NaN nor Inf) into @ok. */
static inline void dsp_scan_below(const double *x, const struct dsp_scan *lim,
				  dsp_m2 *ok)
{
	const dsp_m2 abs_bits = { INT64_MAX, INT64_MAX };
	uint32_t j;

	for (j = 0; j < DSP_V2; j++)
		ok[j] &= (dsp_v2)((dsp_m2)dsp_get2(&x[2 * j]) & abs_bits) <
			 lim->v[j];
}

static int dsp_all(const dsp_m2 *ok)
{
	uint32_t j;

	for (j = 0; j < DSP_V2; j++)
		if (!ok[j][0] || !ok[j][1])
			return 0;
	return 1;
}

/* Same coefficients, sections, mains bins and limits on every lane? */
static int dsp_same_design(const struct dsp_chain *c, size_t n_lanes)
{
	const struct dsp_chain *a = &c[0];
	size_t l;
	uint32_t k;

	for (l = 1; l < n_lanes; l++) {
		const struct dsp_chain *b = &c[l];

		if (b->n_sec != a->n_sec || b->n_hp != a->n_hp ||
		    b->mains_det.n_bins != a->mains_det.n_bins ||
		    memcmp(b->family, a->family, a->n_sec) != 0)
			return 0;
		for (k = 0; k < a->n_sec; k++)
			if (b->sec[k].b0 != a->sec[k].b0 ||
			    b->sec[k].b1 != a->sec[k].b1 ||
			    b->sec[k].b2 != a->sec[k].b2 ||
			    b->sec[k].a1 != a->sec[k].a1 ||
			    b->sec[k].a2 != a->sec[k].a2)
				return 0;
		for (k = 0; k < a->mains_det.n_bins; k++)
			if (b->mains_det.coef[k] != a->mains_det.coef[k])
				return 0;
	}
	return 1;
}

/* Same sections in use on every lane (the mains decision can differ)? */
static int dsp_same_active(const struct dsp_chain *c, size_t n_lanes)
{
	size_t l;

	for (l = 1; l < n_lanes; l++)
		if (c[l].mains_hz != c[0].mains_hz ||
		    c[l].n_active != c[0].n_active ||
		    memcmp(c[l].active, c[0].active, c[0].n_active) != 0)
			return 0;
	return 1;
}

/* Load up to @n scans into @buf, stopping at the first one that needs
 * dsp_chain_sample(): invalid input on a lane, a lane to restart, or the
 * sample that completes a lane's mains detector block. Unused lanes hold
 * zeros. Return: the scans loaded, all plain. */
static size_t dsp_tile_load(const struct dsp_chain *c, size_t n_lanes,
			    const float *in, size_t stride, size_t n,
			    double *buf)
{
	struct dsp_scan lim;
	size_t l, t;

	if (n > DSP_TILE)
		n = DSP_TILE;
	memset(&lim, 0, sizeof(lim));
	for (l = 0; l < n_lanes; l++) {
		const struct dsp_chain *ch = &c[l];

		if (ch->need_init)
			return 0;
		if (ch->mains_hz == 110 &&
		    ch->mains_det.block_len - 1 - ch->mains_det.pos < n)
			n = ch->mains_det.block_len - 1 - ch->mains_det.pos;
		/* !(|x| < lim) is dsp_chain_sample()'s invalid test */
		DSP_LANE(lim, l) = ch->saturation_uv > 0.0 ? ch->saturation_uv
							   : INFINITY;
	}
	if (n_lanes == DSP_LANES) {
		/* the tile's validity in one mask, and only when a sample
		 * failed, again to find the first */
		dsp_m2 ok[DSP_V2];
		uint32_t j;

		memset(ok, 0xff, sizeof(ok));
		for (t = 0; t < n; t++) {
			for (j = 0; j < DSP_V2; j++) {
				dsp_v2f xf;

				memcpy(&xf, &in[t * stride + 2 * j],
				       sizeof(xf));
				dsp_put2(&buf[t * DSP_LANES + 2 * j],
					 __builtin_convertvector(xf, dsp_v2));
			}
			dsp_scan_below(&buf[t * DSP_LANES], &lim, ok);
		}
		if (dsp_all(ok))
			return n;
	}
	for (t = 0; t < n; t++) {
		int bad = 0;

		for (l = n_lanes; l < DSP_LANES; l++)
			buf[t * DSP_LANES + l] = 0.0;
		for (l = 0; l < n_lanes; l++) {
			double x = in[t * stride + l];

			buf[t * DSP_LANES + l] = x;
			bad |= !(fabs(x) < DSP_LANE(lim, l));
		}
		if (bad)
			break;
	}
	return t;
}

/* One section over @n scans, in place; @s1/@s2 its state. */
static void dsp_tile_biquad(const struct dsp_biquad *q, double *buf,
			    size_t n, struct dsp_scan *s1p,
			    struct dsp_scan *s2p)
{
	const dsp_v2 b0 = { q->b0, q->b0 }, b1 = { q->b1, q->b1 };
	const dsp_v2 b2 = { q->b2, q->b2 }, a1 = { q->a1, q->a1 };
	const dsp_v2 a2 = { q->a2, q->a2 };
	struct dsp_scan s1 = *s1p, s2 = *s2p;
	uint32_t j;
	size_t t;

	/* dsp_biquad_run(), term for term. Unrolled, or GCC -O2 keeps the
	 * loop over j and the state in memory. */
	for (t = 0; t < n; t++) {
#pragma GCC unroll 4
		for (j = 0; j < DSP_V2; j++) {
			dsp_v2 x = dsp_get2(&buf[t * DSP_LANES + 2 * j]);
			dsp_v2 y = b0 * x + s1.v[j];

			s1.v[j] = b1 * x - a1 * y + s2.v[j];
			s2.v[j] = b2 * x - a2 * y;
			dsp_put2(&buf[t * DSP_LANES + 2 * j], y);
		}
	}
	*s1p = s1;
	*s2p = s2;
}

#if defined(__x86_64__) && defined(__GNUC__)
/*
 * Where the processor has AVX2 (checked at run time: the build stays
 * x86-64 baseline), four lanes to a vector and two sections per pass,
 * the second one scan behind the first, fed by its previous output: the
 * same operations as dsp_tile_biquad(), in half the time or less. Only
 * AVX2, not FMA: a fused multiply-add would round differently, and GCC
 * contracts only where the target has one.
 */
#define DSP_AVX2	1

typedef double dsp_v4 __attribute__((vector_size(4 * sizeof(double))));

/* test-dsp turns it off to test the SSE2 path on an AVX2 machine */
static int dsp_avx2_off;

/* Sections @q then @r over @n >= 1 scans, in place; @st: their s1 and s2,
 * lane by lane, in that order. */
__attribute__((target("avx2")))
static void dsp_tile_biquad2_avx2(const struct dsp_biquad *q,
				  const struct dsp_biquad *r, double *buf,
				  size_t n, double (*st)[DSP_LANES])
{
	const dsp_v4 b0 = { q->b0, q->b0, q->b0, q->b0 };
	const dsp_v4 b1 = { q->b1, q->b1, q->b1, q->b1 };
	const dsp_v4 b2 = { q->b2, q->b2, q->b2, q->b2 };
	const dsp_v4 a1 = { q->a1, q->a1, q->a1, q->a1 };
	const dsp_v4 a2 = { q->a2, q->a2, q->a2, q->a2 };
	const dsp_v4 c0 = { r->b0, r->b0, r->b0, r->b0 };
	const dsp_v4 c1 = { r->b1, r->b1, r->b1, r->b1 };
	const dsp_v4 c2 = { r->b2, r->b2, r->b2, r->b2 };
	const dsp_v4 d1 = { r->a1, r->a1, r->a1, r->a1 };
	const dsp_v4 d2 = { r->a2, r->a2, r->a2, r->a2 };
	dsp_v4 s1[2], s2[2], u1[2], u2[2], mid[2];
	uint32_t j;
	size_t t;

	memcpy(s1, st[0], sizeof(s1));
	memcpy(s2, st[1], sizeof(s2));
	memcpy(u1, st[2], sizeof(u1));
	memcpy(u2, st[3], sizeof(u2));
	/* step t: q on scan t, r on scan t - 1 (q's output of step t - 1) */
	for (t = 0; t <= n; t++) {
#pragma GCC unroll 2
		for (j = 0; j < 2; j++) {
			dsp_v4 x, y;

			if (t > 0) {
				x = mid[j];
				y = c0 * x + u1[j];
				u1[j] = c1 * x - d1 * y + u2[j];
				u2[j] = c2 * x - d2 * y;
				memcpy(&buf[(t - 1) * DSP_LANES + 4 * j], &y,
				       sizeof(y));
			}
			if (t < n) {
				memcpy(&x, &buf[t * DSP_LANES + 4 * j],
				       sizeof(x));
				y = b0 * x + s1[j];
				s1[j] = b1 * x - a1 * y + s2[j];
				s2[j] = b2 * x - a2 * y;
				mid[j] = y;
			}
		}
	}
	memcpy(st[0], s1, sizeof(s1));
	memcpy(st[1], s2, sizeof(s2));
	memcpy(st[2], u1, sizeof(u1));
	memcpy(st[3], u2, sizeof(u2));
}
#endif

/* Sections [@from, @to) of the active list, on every lane; their state
 * before goes to @save. */
static void dsp_tile_sections(struct dsp_chain *c, size_t n_lanes,
			      uint32_t from, uint32_t to,
			      double *buf, size_t n,
			      struct dsp_scan (*save)[2])
{
	uint32_t k;
	size_t l;

#ifdef DSP_AVX2
	if (!dsp_avx2_off && __builtin_cpu_supports("avx2")) {
		for (k = from; k + 1 < to; k += 2) {
			const struct dsp_biquad *q = &c[0].sec[c[0].active[k]];
			const struct dsp_biquad *r =
				&c[0].sec[c[0].active[k + 1]];
			double st[4][DSP_LANES] = { { 0 } };
			uint32_t i;

			for (l = 0; l < n_lanes; l++) {
				for (i = 0; i < 2; i++) {
					struct dsp_biquad *p =
						&c[l].sec[c[0].active[k + i]];

					st[2 * i][l] = p->s1;
					st[2 * i + 1][l] = p->s2;
				}
			}
			for (l = 0; l < DSP_LANES; l++) {
				DSP_LANE(save[k][0], l) = st[0][l];
				DSP_LANE(save[k][1], l) = st[1][l];
				DSP_LANE(save[k + 1][0], l) = st[2][l];
				DSP_LANE(save[k + 1][1], l) = st[3][l];
			}
			dsp_tile_biquad2_avx2(q, r, buf, n, st);
			for (l = 0; l < n_lanes; l++) {
				for (i = 0; i < 2; i++) {
					struct dsp_biquad *p =
						&c[l].sec[c[0].active[k + i]];

					p->s1 = st[2 * i][l];
					p->s2 = st[2 * i + 1][l];
				}
			}
		}
		from = k;	/* an odd one left, if any */
	}
#endif
	for (k = from; k < to; k++) {
		uint32_t a = c[0].active[k];
		struct dsp_scan s1, s2;

		memset(&s1, 0, sizeof(s1));
		memset(&s2, 0, sizeof(s2));
		for (l = 0; l < n_lanes; l++) {
			DSP_LANE(s1, l) = c[l].sec[a].s1;
			DSP_LANE(s2, l) = c[l].sec[a].s2;
		}
		save[k][0] = s1;
		save[k][1] = s2;
		dsp_tile_biquad(&c[0].sec[a], buf, n, &s1, &s2);
		for (l = 0; l < n_lanes; l++) {
			c[l].sec[a].s1 = DSP_LANE(s1, l);
			c[l].sec[a].s2 = DSP_LANE(s2, l);
		}
	}
}

/* The mains detectors of every lane over @n high-passed scans, none of
 * which completes a block (dsp_tile_load() stops before). */
static void dsp_tile_mains(struct dsp_chain *c, size_t n_lanes,
			   const double *buf, size_t n)
{
	uint32_t b, j, n_bins = c[0].mains_det.n_bins;
	size_t l, t;

	/* dsp_mains_push(), term for term; a bin at a time keeps its
	 * state in registers */
	for (b = 0; b < n_bins; b++) {
		const dsp_v2 cb = { c[0].mains_det.coef[b],
				    c[0].mains_det.coef[b] };
		struct dsp_scan u1, u2;

		memset(&u1, 0, sizeof(u1));
		memset(&u2, 0, sizeof(u2));
		for (l = 0; l < n_lanes; l++) {
			DSP_LANE(u1, l) = c[l].mains_det.s1[b];
			DSP_LANE(u2, l) = c[l].mains_det.s2[b];
		}
		for (t = 0; t < n; t++) {
#pragma GCC unroll 4
			for (j = 0; j < DSP_V2; j++) {
				dsp_v2 x = dsp_get2(&buf[t * DSP_LANES +
							     2 * j]);
				dsp_v2 s0 = x + cb * u1.v[j] - u2.v[j];

				u2.v[j] = u1.v[j];
				u1.v[j] = s0;
			}
		}
		for (l = 0; l < n_lanes; l++) {
			c[l].mains_det.s1[b] = DSP_LANE(u1, l);
			c[l].mains_det.s2[b] = DSP_LANE(u2, l);
		}
	}
	for (l = 0; l < n_lanes; l++)
		c[l].mains_det.pos += (uint32_t)n;
}

/* What dsp_chain_sample() does after the filters, for one lane: the
 * step detector, the output, the statistics and the noise floor (a quiet
 * push changes only acc and acc_n), with the per-sample fields in locals
 * between the block and window ends. */
static void dsp_tile_finish(struct dsp_chain *c, const double *yv,
			    size_t ystride, const float *in, float *out,
			    uint8_t *flags, size_t stride, size_t n,
			    struct dsp_run *r)
{
	struct dsp_step_detector *s = &c->step;
	struct dsp_noise_floor *nf = &c->noise;
	double s_acc = s->acc, s_peak = s->acc_peak, n_acc = nf->acc;
	double sum_sq = r->sum_sq, peak = r->st.peak_uv;
	uint32_t s_n = s->acc_n, hold = s->hold, n_n = nf->acc_n;
	uint32_t n_steps = 0;
	size_t t;

	for (t = 0; t < n; t++) {
		double x = in[t * stride], y = yv[t * ystride];
		double ay = fabs(y);
		uint8_t f = 0;

		s_acc += x;
		if (ay > s_peak)
			s_peak = ay;
		if (++s_n >= s->block_len) {
			s->acc = s_acc;
			s->acc_peak = s_peak;
			s->acc_n = s_n;
			s->hold = hold;
			dsp_step_end_block(s);
			s_acc = s_peak = 0.0;
			s_n = 0;
			hold = s->hold;
		}
		if (hold) {
			hold--;
			f = DSP_FLAG_STEP;
			n_steps++;
		}
		out[t * stride] = (float)y;
		if (flags)
			flags[t * stride] = f;
		sum_sq += y * y;
		if (ay > peak)
			peak = ay;
		n_acc += ay;
		if (++n_n >= nf->win_len) {
			nf->acc = n_acc;
			nf->acc_n = n_n;
			dsp_noise_window_end(nf);
			n_acc = nf->acc;
			n_n = nf->acc_n;
		}
	}
	s->acc = s_acc;
	s->acc_peak = s_peak;
	s->acc_n = s_n;
	s->hold = hold;
	nf->acc = n_acc;
	nf->acc_n = n_n;
	r->sum_sq = sum_sq;
	r->st.peak_uv = peak;
	r->st.n_steps += n_steps;
	r->n_valid += (uint32_t)n;
}

/* Are all @n scans finite (unused lanes hold zeros)? */
static int dsp_tile_finite(const double *buf, size_t n)
{
	struct dsp_scan lim;
	dsp_m2 ok[DSP_V2];
	uint32_t j;
	size_t t;

	for (j = 0; j < DSP_V2; j++)
		lim.v[j][0] = lim.v[j][1] = INFINITY;
	memset(ok, 0xff, sizeof(ok));
	for (t = 0; t < n; t++)
		dsp_scan_below(&buf[t * DSP_LANES], &lim, ok);
	return dsp_all(ok);
}

/* @n plain scans (dsp_tile_load()) of every lane through the filters. */
static void dsp_tile_run(struct dsp_chain *c, size_t n_lanes, const float *in,
			 float *out, uint8_t *flags, size_t stride, size_t n,
			 double *buf, struct dsp_run *run)
{
	struct dsp_scan save[DSP_MAX_SECTIONS][2];
	double m1[DSP_LANES][DSP_MAINS_N_BINS], m2[DSP_LANES][DSP_MAINS_N_BINS];
	uint32_t n_hp = c[0].n_hp, k;
	int undecided = c[0].mains_hz == 110;
	size_t l;

	dsp_tile_sections(c, n_lanes, 0, n_hp, buf, n, save);
	if (undecided) {
		for (l = 0; l < n_lanes; l++) {
			memcpy(m1[l], c[l].mains_det.s1, sizeof(m1[l]));
			memcpy(m2[l], c[l].mains_det.s2, sizeof(m2[l]));
		}
		dsp_tile_mains(c, n_lanes, buf, n);
	}
	dsp_tile_sections(c, n_lanes, n_hp, c[0].n_active, buf, n, save);
	if (!dsp_tile_finite(buf, n)) {
		/* dsp_chain_sample() restarts after a non-finite output:
		 * undo the tile and let it do the lot */
		for (k = 0; k < c[0].n_active; k++) {
			for (l = 0; l < n_lanes; l++) {
				struct dsp_biquad *q =
					&c[l].sec[c[0].active[k]];

				q->s1 = DSP_LANE(save[k][0], l);
				q->s2 = DSP_LANE(save[k][1], l);
			}
		}
		for (l = 0; l < n_lanes; l++) {
			if (undecided) {
				memcpy(c[l].mains_det.s1, m1[l], sizeof(m1[l]));
				memcpy(c[l].mains_det.s2, m2[l], sizeof(m2[l]));
				c[l].mains_det.pos -= (uint32_t)n;
			}
			dsp_chain_run(&c[l], in + l, out + l,
				      flags ? flags + l : NULL, n, stride,
				      &run[l]);
		}
		return;
	}
	for (l = 0; l < n_lanes; l++)
		dsp_tile_finish(&c[l], buf + l, DSP_LANES, in + l, out + l,
				flags ? flags + l : NULL, stride, n, &run[l]);
}

/* ------------------------------------------------------------ one channel */

/*
 * One channel alone has no neighbour to share vectors with; its sections
 * do. Lane k of the vectors runs section k of the cascade one sample
 * behind lane k - 1, whose previous output is its input (a systolic
 * array), so the sections of consecutive samples run side by side, each
 * lane still on exactly its section's operations. The array fills for
 * n_active - 1 steps at the start of a stretch and drains as long at its
 * end; the lanes without a sample then keep their state.
 */
#define DSP_ONE_TILE	(DSP_TILE * DSP_LANES)	/* the same 8 KiB */
#define DSP_ONE_V2	(DSP_MAX_SECTIONS / 2)

struct dsp_array {
	uint32_t n_v2;
	dsp_v2 b0[DSP_ONE_V2], b1[DSP_ONE_V2], b2[DSP_ONE_V2];
	dsp_v2 a1[DSP_ONE_V2], a2[DSP_ONE_V2];
	dsp_v2 s1[DSP_ONE_V2], s2[DSP_ONE_V2];
	dsp_v2 x[DSP_ONE_V2], y[DSP_ONE_V2];
};

/* One step of every lane; with @all, every lane has a sample, else only
 * lanes k with 0 <= @t - k < @n do. */
static inline void dsp_array_step(struct dsp_array *a, uint32_t n_sec,
				  size_t t, size_t n, int all)
{
	uint32_t j, h;

	for (j = 0; j < a->n_v2; j++) {
		dsp_v2 x = a->x[j];
		dsp_v2 y = a->b0[j] * x + a->s1[j];
		dsp_v2 s1 = a->b1[j] * x - a->a1[j] * y + a->s2[j];
		dsp_v2 s2 = a->b2[j] * x - a->a2[j] * y;

		a->y[j] = y;
		if (all) {
			a->s1[j] = s1;
			a->s2[j] = s2;
			continue;
		}
		for (h = 0; h < 2; h++) {
			size_t k = 2 * j + h;

			if (k < n_sec && k <= t && t - k < n) {
				a->s1[j][h] = s1[h];
				a->s2[j][h] = s2[h];
			}
		}
	}
}

/* The next inputs: lane 0 takes @x, lane k the output of lane k - 1. */
static inline void dsp_array_shift(struct dsp_array *a, double x)
{
	uint32_t j;

	a->x[0] = (dsp_v2){ x, a->y[0][0] };
	for (j = 1; j < a->n_v2; j++)
		a->x[j] = (dsp_v2){ a->y[j - 1][1], a->y[j][0] };
}

/* The active sections of @c over @y[0, @n), in place; the high-pass
 * output to @tap (NULL: not wanted). */
static void dsp_one_filter(struct dsp_chain *c, double *y, size_t n,
			   double *tap)
{
	struct dsp_array a;
	uint32_t k, n_sec = c->n_active, last = n_sec - 1;
	uint32_t hp = c->n_hp ? c->n_hp - 1 : 0;
	size_t t;

	memset(&a, 0, sizeof(a));
	a.n_v2 = (n_sec + 1) / 2;
	for (k = 0; k < n_sec; k++) {
		const struct dsp_biquad *q = &c->sec[c->active[k]];

		a.b0[k / 2][k % 2] = q->b0;
		a.b1[k / 2][k % 2] = q->b1;
		a.b2[k / 2][k % 2] = q->b2;
		a.a1[k / 2][k % 2] = q->a1;
		a.a2[k / 2][k % 2] = q->a2;
		a.s1[k / 2][k % 2] = q->s1;
		a.s2[k / 2][k % 2] = q->s2;
	}
	a.x[0][0] = y[0];
	/* fill, run, drain; the output of step t is sample t - last */
	for (t = 0; t < last && t < n; t++) {
		dsp_array_step(&a, n_sec, t, n, 0);
		if (tap && t >= hp)
			tap[t - hp] = a.y[hp / 2][hp % 2];
		dsp_array_shift(&a, t + 1 < n ? y[t + 1] : 0.0);
	}
	for (; t < n; t++) {
		dsp_array_step(&a, n_sec, t, n, 1);
		y[t - last] = a.y[last / 2][last % 2];
		if (tap)
			tap[t - hp] = a.y[hp / 2][hp % 2];
		dsp_array_shift(&a, t + 1 < n ? y[t + 1] : 0.0);
	}
	for (; t < n + last; t++) {
		dsp_array_step(&a, n_sec, t, n, 0);
		if (t >= last)
			y[t - last] = a.y[last / 2][last % 2];
		if (tap && t >= hp && t - hp < n)
			tap[t - hp] = a.y[hp / 2][hp % 2];
		dsp_array_shift(&a, 0.0);
	}
	for (k = 0; k < n_sec; k++) {
		struct dsp_biquad *q = &c->sec[c->active[k]];

		q->s1 = a.s1[k / 2][k % 2];
		q->s2 = a.s2[k / 2][k % 2];
	}
}

#ifdef DSP_AVX2
/* dsp_one_filter() with four lanes to a vector, where AVX2 is: the same
 * array, the same operations lane by lane. */
#define DSP_ONE_V4	(DSP_MAX_SECTIONS / 4)

typedef int64_t dsp_i4 __attribute__((vector_size(4 * sizeof(int64_t))));

struct dsp_array4 {
	uint32_t n_v4;
	dsp_v4 b0[DSP_ONE_V4], b1[DSP_ONE_V4], b2[DSP_ONE_V4];
	dsp_v4 a1[DSP_ONE_V4], a2[DSP_ONE_V4];
	dsp_v4 s1[DSP_ONE_V4], s2[DSP_ONE_V4];
	dsp_v4 x[DSP_ONE_V4], y[DSP_ONE_V4];
};

__attribute__((target("avx2")))
static inline void dsp_array4_step(struct dsp_array4 *a, uint32_t n_sec,
				   size_t t, size_t n, int all)
{
	uint32_t j, h;

	for (j = 0; j < a->n_v4; j++) {
		dsp_v4 x = a->x[j];
		dsp_v4 y = a->b0[j] * x + a->s1[j];
		dsp_v4 s1 = a->b1[j] * x - a->a1[j] * y + a->s2[j];
		dsp_v4 s2 = a->b2[j] * x - a->a2[j] * y;

		a->y[j] = y;
		if (all) {
			a->s1[j] = s1;
			a->s2[j] = s2;
			continue;
		}
		for (h = 0; h < 4; h++) {
			size_t k = 4 * j + h;

			if (k < n_sec && k <= t && t - k < n) {
				a->s1[j][h] = s1[h];
				a->s2[j][h] = s2[h];
			}
		}
	}
}

__attribute__((target("avx2")))
static inline void dsp_array4_shift(struct dsp_array4 *a, double x)
{
	const dsp_i4 next = { 3, 4, 5, 6 };
	uint32_t j;

	a->x[0] = (dsp_v4){ x, a->y[0][0], a->y[0][1], a->y[0][2] };
	for (j = 1; j < a->n_v4; j++)
		a->x[j] = __builtin_shuffle(a->y[j - 1], a->y[j], next);
}

__attribute__((target("avx2")))
static void dsp_one_filter_avx2(struct dsp_chain *c, double *y, size_t n,
				double *tap)
{
	struct dsp_array4 a;
	uint32_t k, n_sec = c->n_active, last = n_sec - 1;
	uint32_t hp = c->n_hp ? c->n_hp - 1 : 0;
	size_t t;

	memset(&a, 0, sizeof(a));
	a.n_v4 = (n_sec + 3) / 4;
	for (k = 0; k < n_sec; k++) {
		const struct dsp_biquad *q = &c->sec[c->active[k]];

		a.b0[k / 4][k % 4] = q->b0;
		a.b1[k / 4][k % 4] = q->b1;
		a.b2[k / 4][k % 4] = q->b2;
		a.a1[k / 4][k % 4] = q->a1;
		a.a2[k / 4][k % 4] = q->a2;
		a.s1[k / 4][k % 4] = q->s1;
		a.s2[k / 4][k % 4] = q->s2;
	}
	a.x[0][0] = y[0];
	for (t = 0; t < last && t < n; t++) {
		dsp_array4_step(&a, n_sec, t, n, 0);
		if (tap && t >= hp)
			tap[t - hp] = a.y[hp / 4][hp % 4];
		dsp_array4_shift(&a, t + 1 < n ? y[t + 1] : 0.0);
	}
	for (; t < n; t++) {
		dsp_array4_step(&a, n_sec, t, n, 1);
		y[t - last] = a.y[last / 4][last % 4];
		if (tap)
			tap[t - hp] = a.y[hp / 4][hp % 4];
		dsp_array4_shift(&a, t + 1 < n ? y[t + 1] : 0.0);
	}
	for (; t < n + last; t++) {
		dsp_array4_step(&a, n_sec, t, n, 0);
		if (t >= last)
			y[t - last] = a.y[last / 4][last % 4];
		if (tap && t >= hp && t - hp < n)
			tap[t - hp] = a.y[hp / 4][hp % 4];
		dsp_array4_shift(&a, 0.0);
	}
	for (k = 0; k < n_sec; k++) {
		struct dsp_biquad *q = &c->sec[c->active[k]];

		q->s1 = a.s1[k / 4][k % 4];
		q->s2 = a.s2[k / 4][k % 4];
	}
}
#endif

/* Load up to @n plain samples of one channel (see dsp_tile_load()). */
static size_t dsp_one_load(const struct dsp_chain *c, const float *in,
			   size_t stride, size_t n, double *buf)
{
	double lim = c->saturation_uv > 0.0 ? c->saturation_uv : INFINITY;
	size_t t;

	if (c->need_init)
		return 0;
	if (n > DSP_ONE_TILE)
		n = DSP_ONE_TILE;
	if (c->mains_hz == 110 &&
	    c->mains_det.block_len - 1 - c->mains_det.pos < n)
		n = c->mains_det.block_len - 1 - c->mains_det.pos;
	for (t = 0; t < n; t++) {
		double x = in[t * stride];

		if (!(fabs(x) < lim))
			break;
		buf[t] = x;
	}
	return t;
}

/* dsp_chain_run(), faster on long plain stretches. */
static void dsp_one_run(struct dsp_chain *c, const float *in, float *out,
			uint8_t *flags, size_t n, size_t stride,
			struct dsp_run *r)
{
	double buf[DSP_ONE_TILE] __attribute__((aligned(64)));
	double tap[DSP_ONE_TILE] __attribute__((aligned(64)));
	double save[DSP_MAX_SECTIONS][2], m1[DSP_MAINS_N_BINS];
	double m2[DSP_MAINS_N_BINS];
	size_t i = 0, m, t;
	uint32_t k;

	while (i < n) {
		const float *tin = in + i * stride;
		float *tout = out + i * stride;
		uint8_t *tfl = flags ? flags + i * stride : NULL;
		int undecided = c->mains_hz == 110;

		m = dsp_one_load(c, tin, stride, n - i, buf);
		if (m < 4 * (size_t)c->n_active) {
			/* too short to fill the array: one at a time */
			m = m ? m : 1;
			dsp_chain_run(c, tin, tout, tfl, m, stride, r);
			i += m;
			continue;
		}
		for (k = 0; k < c->n_active; k++) {
			save[k][0] = c->sec[c->active[k]].s1;
			save[k][1] = c->sec[c->active[k]].s2;
		}
#ifdef DSP_AVX2
		if (!dsp_avx2_off && __builtin_cpu_supports("avx2"))
			dsp_one_filter_avx2(c, buf, m, undecided ? tap : NULL);
		else
#endif
			dsp_one_filter(c, buf, m, undecided ? tap : NULL);
		if (undecided) {
			memcpy(m1, c->mains_det.s1, sizeof(m1));
			memcpy(m2, c->mains_det.s2, sizeof(m2));
			for (t = 0; t < m; t++)
				dsp_mains_push(&c->mains_det, tap[t]);
		}
		for (t = 0; t < m; t++)
			if (!isfinite(buf[t]))
				break;
		if (t < m) {
			/* undo, and let dsp_chain_sample() restart */
			for (k = 0; k < c->n_active; k++) {
				c->sec[c->active[k]].s1 = save[k][0];
				c->sec[c->active[k]].s2 = save[k][1];
			}
			if (undecided) {
				memcpy(c->mains_det.s1, m1, sizeof(m1));
				memcpy(c->mains_det.s2, m2, sizeof(m2));
				c->mains_det.pos -= (uint32_t)m;
			}
			dsp_chain_run(c, tin, tout, tfl, m, stride, r);
		} else {
			dsp_tile_finish(c, buf, 1, tin, tout, tfl, stride, m,
					r);
		}
		i += m;
	}
}

/* @n scans of @n_lanes <= DSP_LANES channels of one design. */
static void dsp_lanes_run(struct dsp_chain *c, size_t n_lanes,
			  const float *in, float *out, uint8_t *flags,
			  size_t stride, size_t n, struct dsp_run *run)
{
	double buf[DSP_TILE * DSP_LANES] __attribute__((aligned(64)));
	size_t i = 0, l, m;

	while (i < n) {
		const float *tin = in + i * stride;
		float *tout = out + i * stride;
		uint8_t *tfl = flags ? flags + i * stride : NULL;

		if (!dsp_same_active(c, n_lanes)) {
			/* one lane decided its mains: till the caller
			 * applies it to all, one lane at a time */
			m = n - i < DSP_TILE ? n - i : DSP_TILE;
			for (l = 0; l < n_lanes; l++)
				dsp_chain_run(&c[l], tin + l, tout + l,
					      tfl ? tfl + l : NULL, m, stride,
					      &run[l]);
			i += m;
			continue;
		}
		m = dsp_tile_load(c, n_lanes, tin, stride, n - i, buf);
		if (m) {
			dsp_tile_run(c, n_lanes, tin, tout, tfl, stride, m,
				     buf, run);
			i += m;
			continue;
		}
		for (l = 0; l < n_lanes; l++)
			dsp_chain_sample(&c[l], tin[l], &tout[l],
					 tfl ? &tfl[l] : NULL, &run[l]);
		i++;
	}
}

void dsp_chains_process_flags(struct dsp_chain *c, size_t n_ch,
			      const float *in, float *out, uint8_t *flags,
			      size_t n, struct dsp_block_stats *ret_stats)
{
	struct dsp_run run[DSP_LANES];
	size_t g, l, n_lanes;

	for (g = 0; g < n_ch; g += n_lanes) {
		n_lanes = n_ch - g < DSP_LANES ? n_ch - g : DSP_LANES;
		memset(run, 0, sizeof(run));
		if (n_lanes >= DSP_MIN_LANES && dsp_same_design(c + g, n_lanes))
			dsp_lanes_run(c + g, n_lanes, in + g, out + g,
				      flags ? flags + g : NULL, n_ch, n, run);
		else
			for (l = 0; l < n_lanes; l++)
				dsp_one_run(&c[g + l], in + g + l,
					    out + g + l,
					    flags ? flags + g + l : NULL, n,
					    n_ch, &run[l]);
		for (l = 0; l < n_lanes; l++)
			dsp_chain_end(&c[g + l], &run[l], n,
				      ret_stats ? &ret_stats[g + l] : NULL);
	}
}

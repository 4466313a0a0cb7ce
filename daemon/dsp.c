/* dsp.c - per-channel EMG conditioning for twitchd.
 *
 * High-pass, mains notches (50 or 60 Hz and harmonics, or both until the
 * mains frequency is detected) and low-pass, as biquad cascades in double
 * precision; a raw-domain step detector that flags electrode pops; and a
 * robust noise floor (median of windowed means of quiet windows). Invalid
 * input never reaches the filter state: 0 out, flagged, counted, and the
 * filters restart from the steady state of the next valid sample. Nothing
 * here allocates or logs. dsp_chain_sample() (dsp-chain.h) is the
 * reference; dsp-lanes.c runs plain stretches faster, the same to the bit.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dsp-chain.h"
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

int dsp_noise_config_check(const struct dsp_noise_config *nc, double rate_hz,
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

/* Samples per step-detector block: DSP_STEP_BLOCK_MS, at least one. A pop
 * is judged on 60-ms means; finer blocks only cost time (at 1 ms the block
 * ends took a sixth of the chain at 1 kHz). */
static uint32_t dsp_step_block_len(double rate_hz)
{
	return (uint32_t)fmax(1.0, round(rate_hz * DSP_STEP_BLOCK_MS / 1000.0));
}

/* The step detector's mean window and gap in blocks, rounded as
 * dsp_step_init() takes them (doubles: the check sees them before any
 * conversion). The check and the init share this, so what passes the
 * check is what fills the ring: checking the unrounded sum let a ring of
 * 257 blocks pass for 256. Return: a block's length in ms. */
static double dsp_step_blocks(const struct dsp_config *cfg, double rate_hz,
			      double *ret_win, double *ret_gap)
{
	double block_ms = dsp_step_block_len(rate_hz) * 1000.0 / rate_hz;

	*ret_win = fmax(1.0, round(cfg->step_window_ms / block_ms));
	*ret_gap = round(cfg->step_gap_ms / block_ms);
	return block_ms;
}

/* Harmonics of @f0 notched: up to @max_hz and below 0.49 x the rate. */
static unsigned int dsp_n_notches(unsigned int f0, double max_hz, double rate_hz)
{
	unsigned int k;

	for (k = 1; k * f0 <= max_hz && k * f0 < 0.49 * rate_hz; k++)
		;
	return k - 1;
}

/* Sections dsp_chain_init() makes for @cfg: they must fit DSP_MAX_SECTIONS. */
static unsigned int dsp_n_sections(const struct dsp_config *cfg, double rate_hz, double lp)
{
	double notch_max = cfg->notch_max_hz > 0.0 ? cfg->notch_max_hz : lp;
	unsigned int n = (cfg->hp_order + 1) / 2 + (cfg->lp_order + 1) / 2;

	if (cfg->mains == DSP_MAINS_50HZ || cfg->mains == DSP_MAINS_AUTO)
		n += dsp_n_notches(50, notch_max, rate_hz);
	if (cfg->mains == DSP_MAINS_60HZ || cfg->mains == DSP_MAINS_AUTO)
		n += dsp_n_notches(60, notch_max, rate_hz);
	return n;
}

int dsp_config_check(const struct dsp_config *cfg, double rate_hz,
		     const char **ret_field)
{
	const char *bad = NULL;
	double lp, block_ms, n_win, n_gap;

	if (!cfg || !isfinite(rate_hz) || rate_hz < 100.0 || rate_hz > 1e6) {
		if (ret_field)
			*ret_field = "rate_hz";
		return -EINVAL;
	}
	lp = dsp_lp_effective(cfg, rate_hz);
	block_ms = dsp_step_blocks(cfg, rate_hz, &n_win, &n_gap);
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
	else if (dsp_n_sections(cfg, rate_hz, lp) > DSP_MAX_SECTIONS)
		/* notches up to notch_max_hz, or (0) the low-pass cutoff */
		bad = cfg->notch_max_hz > 0.0 ? "notch_max_hz" : "lp_cutoff_hz";
	else if (!(cfg->saturation_uv >= 0.0) || !isfinite(cfg->saturation_uv))
		bad = "saturation_uv";
	else if (!(cfg->step_window_ms >= block_ms) ||
		 !(2.0 * n_win <= DSP_STEP_MAX_BLOCKS))
		bad = "step_window_ms";
	else if (!(cfg->step_gap_ms >= 0.0) ||
		 !(2.0 * n_win + n_gap <= DSP_STEP_MAX_BLOCKS))
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
	return dsp_noise_config_check(&cfg->noise, rate_hz, ret_field);
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
	unsigned int k, n = dsp_n_notches(f0, max_hz, c->rate_hz);
	int i;

	for (k = 1; k <= n; k++) {
		i = dsp_add_section(c, f0);
		if (i < 0)
			return i;
		dsp_biquad_notch(&c->sec[i], k * f0, k * f0 / bw_hz,
				 c->rate_hz);
	}
	return 0;
}

/* Rebuild the list of sections in use for mains family @hz (110 = both). */
void dsp_select(struct dsp_chain *c, unsigned int hz)
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
	err = dsp_noise_config_check(cfg, rate_hz, NULL);
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
	if (m->spoiled) {
		dsp_mains_abort_block(m);
		m->spoiled = 0;
		m->pos = 0;
		return;
	}
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

/*
 * The block keeps its place on the stream's 1-s grid: every chain of a
 * pipeline ends its blocks on the same sample, where the pipeline shares
 * a decision, whatever the size of the blocks it is given. (Restarting
 * the block at the next valid sample put one chain off the grid, and what
 * the others decided then depended on the caller's block size.)
 */
void dsp_mains_abort_block(struct dsp_mains_detector *m)
{
	memset(m->s1, 0, sizeof(m->s1));
	memset(m->s2, 0, sizeof(m->s2));
	m->spoiled = m->pos > 0;
}

void dsp_mains_skip(struct dsp_mains_detector *m)
{
	m->spoiled = 1;
	if (++m->pos < m->block_len)
		return;
	dsp_mains_abort_block(m);
	m->spoiled = 0;
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
	double n_win, n_gap;

	memset(s, 0, sizeof(*s));
	s->block_len = dsp_step_block_len(rate_hz);
	dsp_step_blocks(cfg, rate_hz, &n_win, &n_gap);	/* checked: fit */
	s->n_win = (uint32_t)n_win;
	s->n_gap = (uint32_t)n_gap;
	s->ratio = cfg->step_ratio;
	s->min_uv = cfg->step_min_uv;
	s->hold_len = s->block_len;
	if ((s->block_len & (s->block_len - 1)) == 0)
		s->inv_len = 1.0 / s->block_len;
	s->reject_scale = s->n_win * (1.0 - 0x1p-48);
}

void dsp_step_reset(struct dsp_step_detector *s)
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
void dsp_step_end_block(struct dsp_step_detector *s)
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

/* -d(phase)/d(omega) of p0 + p1 z^-1 + p2 z^-2 at z = e^(j w): Re(sum k p_k
 * z^-k / sum p_k z^-k), in samples. */
static double dsp_poly_delay(double p0, double p1, double p2, double w)
{
	double nr = p0 + p1 * cos(w) + p2 * cos(2 * w);
	double ni = -p1 * sin(w) - p2 * sin(2 * w);
	double dr = p1 * cos(w) + 2 * p2 * cos(2 * w);
	double di = -p1 * sin(w) - 2 * p2 * sin(2 * w);

	return (dr * nr + di * ni) / (nr * nr + ni * ni);
}

double dsp_chain_band_delay(const struct dsp_chain *c, double f_hz)
{
	double w = 2.0 * M_PI * f_hz / c->rate_hz, sum = 0.0;
	uint32_t i;

	for (i = 0; i < c->n_sec; i++) {
		const struct dsp_biquad *s = &c->sec[i];

		if (c->family[i] != 0)
			continue;	/* a notch */
		sum += dsp_poly_delay(s->b0, s->b1, s->b2, w) -
		       dsp_poly_delay(1.0, s->a1, s->a2, w);
	}
	return sum;
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
void dsp_chain_settle(struct dsp_chain *c, double x)
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

/* @n samples of one channel, one at a time (the reference behaviour). */
void dsp_chain_run(struct dsp_chain *c, const float *in, float *out,
		   uint8_t *flags, size_t n, size_t stride, struct dsp_run *r)
{
	size_t i;

	for (i = 0; i < n; i++)
		dsp_chain_sample(c, in[i * stride], &out[i * stride],
				 flags ? &flags[i * stride] : NULL, r);
}

/* The end of a call: flush the state and report. */
void dsp_chain_end(struct dsp_chain *c, const struct dsp_run *r, size_t n,
		   struct dsp_block_stats *ret_stats)
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

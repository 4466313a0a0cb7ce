// SPDX-License-Identifier: MIT
/*
 * subject.c - the synthetic subject: surface EMG with injected, ground-truthed
 * twitches, and a Cole-model body for bioimpedance.
 *
 * Everything follows from the seed through three xoshiro256** streams
 * (background, events, bioimpedance), consumed scan by scan, so the output
 * does not depend on how subject_emg_fill() calls split it. Events never
 * overlap: each is planned when the previous one ends (Poisson onset, paused
 * during events), rendered once ahead on a copy of its state to learn its
 * exact peak, then reported through the callback at its onset and mixed in
 * sample by sample. All memory is allocated in subject_new(). Determinism
 * holds for one build and libm (exp, log, sin and cos shape the values).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subject.h"

#define SUBJECT_MAX_COMP	8	/* components (potentials, bursts) of one event */
#define SUBJECT_TEMPLATE_MAX_MS	40.0
#define SUBJECT_TEMPLATE_MIN_MS	2.0
#define SUBJECT_TAPER_FRAC	0.1	/* Tukey taper on each end of a MUP shape */
#define SUBJECT_RAMP_MAX_MS	50.0	/* burst envelope rise and fall */

struct subject_rng {
	uint64_t s[4];
	double spare;
	bool has_spare;
};

struct subject_biquad {
	double b0, b1, b2, a1, a2;
};

struct subject_bq_state {
	double z1, z2;
};

enum subject_comp_kind { COMP_MUP, COMP_NOISE };

/* One piece of an event on one channel, from @start for @len scans. */
struct subject_comp {
	enum subject_comp_kind kind;
	unsigned int ch;
	unsigned int unit;		/* COMP_MUP: whose shape */
	uint64_t start, len;		/* scans from the event's onset */
	double gain_uv;			/* MUP peak, or burst rms over its span */
	double ramp;			/* COMP_NOISE: ramp length in scans */
	struct subject_rng rng;		/* COMP_NOISE: carrier noise */
	struct subject_bq_state st[2];
};

struct subject_event {
	struct subject_truth truth;
	unsigned int n_comp;
	struct subject_comp comp[SUBJECT_MAX_COMP];
};

struct subject_unit {
	size_t off, len;		/* shape in subject.shapes */
	unsigned int home;
	double amp_uv;
};

struct subject {
	struct subject_config cfg;
	unsigned int n_ch;
	double rate_hz;
	uint64_t index;			/* next scan */

	/* background */
	struct subject_rng bg_rng;
	struct subject_biquad bq[2];	/* high-pass, low-pass */
	double noise_norm;		/* input sd giving unit-rms output */
	struct subject_bq_state *bg_st;	/* [n_ch][2] */
	double mains_phase, mains_step;

	/* events */
	struct subject_rng ev_rng;
	double *shapes;
	struct subject_unit unit[SUBJECT_MAX_UNITS];
	unsigned int n_units;
	double class_rate[SUBJECT_N_CLASSES];	/* per scan */
	double total_rate;
	struct subject_event ev;	/* the next or current event */
	uint64_t ev_k;			/* scans of it rendered */
	bool ev_active, ev_planned;

	/* bioimpedance */
	struct subject_rng bioz_rng;
};

/* ---- random numbers ----------------------------------------------------- */

static uint64_t subject_splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void subject_rng_seed(struct subject_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * UINT64_C(0xd1b54a32d192ed03));
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = subject_splitmix(&x);
	r->has_spare = false;
}

static inline uint64_t subject_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna) */
static uint64_t subject_rng_next(struct subject_rng *r)
{
	uint64_t *s = r->s, res = subject_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = subject_rotl(s[3], 45);
	return res;
}

/* uniform in [0, 1) */
static double subject_uniform(struct subject_rng *r)
{
	return (double)(subject_rng_next(r) >> 11) * 0x1.0p-53;
}

static double subject_uniform_in(struct subject_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * subject_uniform(r);
}

static double subject_log_uniform(struct subject_rng *r, double lo, double hi)
{
	return lo * exp(log(hi / lo) * subject_uniform(r));
}

/* standard normal, Marsaglia's polar method */
static double subject_gauss(struct subject_rng *r)
{
	double u, v, q;

	if (r->has_spare) {
		r->has_spare = false;
		return r->spare;
	}
	do {
		u = 2.0 * subject_uniform(r) - 1.0;
		v = 2.0 * subject_uniform(r) - 1.0;
		q = u * u + v * v;
	} while (q >= 1.0 || q == 0.0);
	q = sqrt(-2.0 * log(q) / q);
	r->spare = v * q;
	r->has_spare = true;
	return u * q;
}

/* ---- filters ------------------------------------------------------------ */

/* 2nd-order Butterworth by the bilinear transform (RBJ cookbook, Q = 1/sqrt 2). */
static struct subject_biquad subject_butter2(double fc_hz, double rate_hz, bool highpass)
{
	double w = 2.0 * M_PI * fc_hz / rate_hz, cw = cos(w);
	double alpha = sin(w) / (2.0 * M_SQRT1_2), a0 = 1.0 + alpha;
	double k = highpass ? (1.0 + cw) / 2.0 : (1.0 - cw) / 2.0;
	struct subject_biquad q;

	q.b0 = k / a0;
	q.b1 = (highpass ? -2.0 * k : 2.0 * k) / a0;
	q.b2 = k / a0;
	q.a1 = -2.0 * cw / a0;
	q.a2 = (1.0 - alpha) / a0;
	return q;
}

static inline double subject_bq_step(const struct subject_biquad *q,
				     struct subject_bq_state *st, double x)
{
	double y = q->b0 * x + st->z1;

	st->z1 = q->b1 * x - q->a1 * y + st->z2;
	st->z2 = q->b2 * x - q->a2 * y;
	return y;
}

/* Unit-variance white noise through the cascade: output rms, from sum h[n]^2. */
static double subject_cascade_rms(const struct subject_biquad bq[2], double rate_hz,
				  double lo_hz)
{
	struct subject_bq_state st[2] = { { 0, 0 }, { 0, 0 } };
	/* the high-pass rings for a few 1/lo: 40 time constants are plenty */
	size_t n = (size_t)(40.0 * rate_hz / lo_hz) + 1000, i;
	double e = 0, x = 1.0;

	for (i = 0; i < n; i++, x = 0.0) {
		double y = subject_bq_step(&bq[1], &st[1], subject_bq_step(&bq[0], &st[0], x));

		e += y * y;
	}
	return sqrt(e);
}

/* ---- shapes ------------------------------------------------------------- */

/* Tukey taper, remove the end-to-end line, normalise to peak |x| = 1. */
static int subject_condition_shape(double *x, size_t n, bool detrend)
{
	size_t i, nt = (size_t)ceil(SUBJECT_TAPER_FRAC * (double)n);
	double a, b, peak = 0;

	if (detrend) {
		a = x[0];
		b = x[n - 1];
		for (i = 0; i < n; i++)
			x[i] -= a + (b - a) * (double)i / (double)(n - 1);
	}
	for (i = 0; i < nt && nt > 0; i++) {
		double w = 0.5 - 0.5 * cos(M_PI * (double)i / (double)nt);

		x[i] *= w;
		x[n - 1 - i] *= w;
	}
	for (i = 0; i < n; i++)
		peak = fmax(peak, fabs(x[i]));
	if (!(peak > 0) || !isfinite(peak))
		return -EINVAL;
	for (i = 0; i < n; i++)
		x[i] /= peak;
	return 0;
}

/*
 * A synthetic MUP of @n samples: a mix of the first (biphasic) and second
 * (triphasic) Hermite-Gaussian functions, spanning +-3.5 sigma, so it starts
 * and ends near 1% of its peak.
 */
static void subject_synth_shape(struct subject_rng *r, double *x, size_t n)
{
	double th = subject_uniform_in(r, 0.0, M_PI);
	double sign = subject_uniform(r) < 0.5 ? -1.0 : 1.0;
	double half = (double)(n - 1) / 2.0, sigma = half / 3.5;
	size_t i;

	for (i = 0; i < n; i++) {
		double u = ((double)i - half) / sigma, g = exp(-u * u / 2.0);
		double h1 = -u * g / exp(-0.5), h2 = (1.0 - u * u) * g;

		x[i] = sign * (cos(th) * h1 + sin(th) * h2);
	}
	subject_condition_shape(x, n, false);
}

/* Resample a caller's template to @rate_hz: box average down, linear up. */
static void subject_resample(const struct subject_template *t, double rate_hz,
			     double *out, size_t n_out)
{
	double step = t->rate_hz / rate_hz;	/* input samples per output sample */
	size_t j;

	for (j = 0; j < n_out; j++) {
		double pos = (double)j * step;

		if (step > 1.0) {
			double lo = pos - step / 2, hi = pos + step / 2, sum = 0;
			size_t cnt = 0, i;

			for (i = lo < 0 ? 0 : (size_t)ceil(lo); i < t->n && (double)i < hi; i++) {
				sum += t->shape[i];
				cnt++;
			}
			out[j] = cnt ? sum / (double)cnt : 0.0;
		} else {
			size_t i = (size_t)pos;
			double f = pos - (double)i;

			out[j] = i + 1 < t->n ? t->shape[i] * (1 - f) + t->shape[i + 1] * f
					      : t->shape[t->n - 1];
		}
	}
}

/* ---- configuration ------------------------------------------------------ */

struct subject_config subject_config_default(void)
{
	struct subject_config c = {
		.seed = 1,
		.n_channels = 8,
		.rate_hz = 4000.0,
		.background_rms_uv = 4.0,
		.background_lo_hz = 20.0,
		.background_hi_hz = 450.0,
		.mains_hz = 50.0,
		.mains_uv = 5.0,
		.mains_h3_frac = 0.1,
		.mup_rate_per_min = 20.0,
		.doublet_frac = 0.15,
		.spread_frac = 0.3,
		.myoclonus_rate_per_min = 3.0,
		.burst_rate_per_min = 2.0,
		.lm_rate_per_min = 1.0,
		.mup_min_uv = 50.0,
		.mup_max_uv = 500.0,
		.mup_min_ms = 5.0,
		.mup_max_ms = 15.0,
		.n_units = 12,
		.r0_ohm = 600.0,
		.rinf_ohm = 375.0,
		.fc_hz = 50000.0,
		.alpha = 0.7,
	};

	return c;
}

static bool subject_in(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

static bool subject_config_ok(const struct subject_config *c)
{
	size_t i;

	if (c->n_channels < 1 || c->n_channels > SUBJECT_MAX_CHANNELS ||
	    !subject_in(c->rate_hz, SUBJECT_MIN_RATE_HZ, SUBJECT_MAX_RATE_HZ) ||
	    !subject_in(c->background_rms_uv, 0, 1000) ||
	    !subject_in(c->background_lo_hz, 1.0, 0.4 * c->rate_hz) ||
	    !subject_in(c->background_hi_hz, c->background_lo_hz * 1.5, 1e9) ||
	    !(c->mains_hz == 0 || subject_in(c->mains_hz, 1, c->rate_hz / 6.0)) ||
	    !subject_in(c->mains_uv, 0, 1e5) || !subject_in(c->mains_h3_frac, 0, 1) ||
	    !subject_in(c->mup_rate_per_min, 0, 6000) ||
	    !subject_in(c->doublet_frac, 0, 1) || !subject_in(c->spread_frac, 0, 1) ||
	    !subject_in(c->myoclonus_rate_per_min, 0, 6000) ||
	    !subject_in(c->burst_rate_per_min, 0, 600) ||
	    !subject_in(c->lm_rate_per_min, 0, 600) ||
	    (c->n_channels < 64 && (c->lm_channel_mask >> c->n_channels) != 0) ||
	    !subject_in(c->mup_min_uv, 1e-3, 1e5) ||
	    !subject_in(c->mup_max_uv, c->mup_min_uv, 1e5) ||
	    !subject_in(c->mup_min_ms, SUBJECT_TEMPLATE_MIN_MS, SUBJECT_TEMPLATE_MAX_MS) ||
	    !subject_in(c->mup_max_ms, c->mup_min_ms, SUBJECT_TEMPLATE_MAX_MS) ||
	    c->n_units < 1 || c->n_units > SUBJECT_MAX_UNITS ||
	    c->n_templates > SUBJECT_MAX_UNITS ||
	    (c->n_templates > 0 && c->templates == NULL) ||
	    !subject_in(c->rinf_ohm, 1e-3, 1e7) ||
	    !subject_in(c->r0_ohm, c->rinf_ohm * (1 + 1e-9), 1e7) ||
	    !subject_in(c->fc_hz, 1, 1e9) || !subject_in(c->alpha, 0.01, 1) ||
	    !isfinite(c->r0_drift_ohm_per_h) || !isfinite(c->rinf_drift_ohm_per_h) ||
	    !subject_in(c->bioz_noise_ohm, 0, 1e6))
		return false;
	for (i = 0; i < c->n_templates; i++) {
		const struct subject_template *t = &c->templates[i];
		double ms;

		if (t->shape == NULL || t->n < 2 ||
		    !subject_in(t->rate_hz, 100, SUBJECT_MAX_RATE_HZ))
			return false;
		ms = (double)t->n / t->rate_hz * 1000.0;
		if (ms < SUBJECT_TEMPLATE_MIN_MS || ms > SUBJECT_TEMPLATE_MAX_MS)
			return false;
	}
	return true;
}

/* Motor units: shapes (synthetic or resampled templates), homes, amplitudes. */
static int subject_make_units(struct subject *s, const struct subject_template *tpl)
{
	const struct subject_config *c = &s->cfg;
	size_t max_len = (size_t)ceil(SUBJECT_TEMPLATE_MAX_MS * s->rate_hz / 1000.0) + 2;
	size_t off = 0;
	unsigned int u;
	int err;

	s->n_units = c->n_units;
	s->shapes = calloc((size_t)s->n_units * max_len, sizeof(double));
	if (s->shapes == NULL)
		return -ENOMEM;
	for (u = 0; u < s->n_units; u++) {
		struct subject_unit *un = &s->unit[u];
		size_t len;

		if (c->n_templates > 0) {
			const struct subject_template *t = &tpl[u % c->n_templates];

			len = (size_t)lround((double)t->n * s->rate_hz / t->rate_hz);
			len = len < 3 ? 3 : len > max_len ? max_len : len;
			subject_resample(t, s->rate_hz, s->shapes + off, len);
			err = subject_condition_shape(s->shapes + off, len, true);
			if (err < 0)
				return err;	/* a flat template */
		} else {
			double ms = subject_uniform_in(&s->ev_rng, c->mup_min_ms, c->mup_max_ms);

			len = (size_t)lround(ms * s->rate_hz / 1000.0);
			len = len < 3 ? 3 : len > max_len ? max_len : len;
			subject_synth_shape(&s->ev_rng, s->shapes + off, len);
		}
		un->off = off;
		un->len = len;
		un->home = (unsigned int)(subject_rng_next(&s->ev_rng) % s->n_ch);
		un->amp_uv = subject_log_uniform(&s->ev_rng, c->mup_min_uv, c->mup_max_uv);
		off += len;
	}
	return 0;
}

/* ---- events ------------------------------------------------------------- */

static uint64_t subject_scans(const struct subject *s, double ms)
{
	double v = ms * s->rate_hz / 1000.0;

	return v < 1.0 ? 1 : (uint64_t)llround(v);
}

static struct subject_comp *subject_add_mup(struct subject *s, struct subject_event *e,
					    unsigned int unit, unsigned int ch,
					    uint64_t start, double gain_uv)
{
	struct subject_comp *k;

	if (e->n_comp >= SUBJECT_MAX_COMP)
		return NULL;
	k = &e->comp[e->n_comp++];
	memset(k, 0, sizeof(*k));
	k->kind = COMP_MUP;
	k->ch = ch;
	k->unit = unit;
	k->start = start;
	k->len = s->unit[unit].len;
	k->gain_uv = gain_uv;
	return k;
}

static void subject_add_noise(struct subject *s, struct subject_event *e, unsigned int ch,
			      uint64_t len, double rms_uv)
{
	struct subject_comp *k = &e->comp[e->n_comp++];
	double ramp = fmin(0.1 * (double)len, SUBJECT_RAMP_MAX_MS * s->rate_hz / 1000.0);

	memset(k, 0, sizeof(*k));
	k->kind = COMP_NOISE;
	k->ch = ch;
	k->len = len;
	k->gain_uv = rms_uv;
	k->ramp = ramp < 1.0 ? 1.0 : ramp;
	if (k->ramp > e->truth.ramp_scans)
		e->truth.ramp_scans = k->ramp;
	subject_rng_seed(&k->rng, subject_rng_next(&s->ev_rng), 7);
}

/* Value of component @k at scan @i of the event; advances a burst's state. */
static double subject_comp_value(const struct subject *s, struct subject_comp *k,
				 uint64_t i)
{
	uint64_t j;
	double env, x;

	if (i < k->start || i - k->start >= k->len)
		return 0.0;
	j = i - k->start;
	if (k->kind == COMP_MUP)
		return k->gain_uv * s->shapes[s->unit[k->unit].off + j];
	x = subject_gauss(&k->rng) * s->noise_norm;
	x = subject_bq_step(&s->bq[1], &k->st[1], subject_bq_step(&s->bq[0], &k->st[0], x));
	if ((double)j < k->ramp)
		env = 0.5 - 0.5 * cos(M_PI * (double)j / k->ramp);
	else if ((double)(k->len - 1 - j) < k->ramp)
		env = 0.5 - 0.5 * cos(M_PI * (double)(k->len - 1 - j) / k->ramp);
	else
		env = 1.0;
	return k->gain_uv * env * x;
}

/*
 * Scale each burst so that its rms over its span, envelope included, is
 * exactly the rms it was given: short bursts of noise vary by 10% or more.
 */
static void subject_normalise_bursts(const struct subject *s, struct subject_event *e)
{
	struct subject_event tmp = *e;
	unsigned int c;
	uint64_t i;

	for (c = 0; c < tmp.n_comp; c++) {
		struct subject_comp *k = &tmp.comp[c];
		double ss = 0;

		if (k->kind != COMP_NOISE)
			continue;
		k->gain_uv = 1.0;
		for (i = k->start; i < k->start + k->len; i++) {
			double v = subject_comp_value(s, k, i);

			ss += v * v;
		}
		if (ss > 0)
			e->comp[c].gain_uv /= sqrt(ss / (double)k->len);
	}
}

/*
 * Render the event once on a copy to learn its span, peak and peak channel:
 * it is deterministic, so the live rendering will be identical.
 */
static void subject_measure(const struct subject *s, struct subject_event *e)
{
	struct subject_event tmp;
	double acc[SUBJECT_MAX_CHANNELS], peak = 0;
	unsigned int peak_ch = e->comp[0].ch, c;
	uint64_t n = 0, i, mask = 0;

	subject_normalise_bursts(s, e);
	tmp = *e;
	for (c = 0; c < tmp.n_comp; c++) {
		uint64_t end = tmp.comp[c].start + tmp.comp[c].len;

		n = end > n ? end : n;
		mask |= UINT64_C(1) << tmp.comp[c].ch;
	}
	for (i = 0; i < n; i++) {
		for (c = 0; c < tmp.n_comp; c++)
			acc[tmp.comp[c].ch] = 0.0;
		for (c = 0; c < tmp.n_comp; c++)
			acc[tmp.comp[c].ch] += subject_comp_value(s, &tmp.comp[c], i);
		for (c = 0; c < tmp.n_comp; c++) {
			if (fabs(acc[tmp.comp[c].ch]) > peak) {
				peak = fabs(acc[tmp.comp[c].ch]);
				peak_ch = tmp.comp[c].ch;
			}
		}
	}
	e->truth.n_scans = n;
	e->truth.duration_ms = (double)n / s->rate_hz * 1000.0;
	e->truth.peak_uv = peak;
	e->truth.channel = peak_ch;
	e->truth.channel_mask = mask;
}

static double subject_clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* A random channel of @mask (not 0) other than @not; @not if there is none. */
static unsigned int subject_pick_bit(struct subject_rng *r, uint64_t mask, unsigned int not)
{
	unsigned int bits[64], n = 0, b;

	for (b = 0; b < 64; b++)
		if ((mask >> b & 1) && b != not)
			bits[n++] = b;
	return n ? bits[subject_rng_next(r) % n] : not;
}

/* Fill @e with a new event of class @cls (components only). */
static void subject_make_event(struct subject *s, struct subject_event *e,
			       enum subject_class cls)
{
	const struct subject_config *c = &s->cfg;
	struct subject_rng *r = &s->ev_rng;
	unsigned int u = (unsigned int)(subject_rng_next(r) % s->n_units);
	unsigned int ch = s->unit[u].home, k, n;
	double amp = subject_clamp(s->unit[u].amp_uv * subject_uniform_in(r, 0.9, 1.1),
				   c->mup_min_uv, c->mup_max_uv);
	double base = fmax(c->background_rms_uv, 2.0);
	uint64_t len;

	memset(e, 0, sizeof(*e));
	e->truth.cls = cls;
	switch (cls) {
	case SUBJECT_FASCICULATION:
		subject_add_mup(s, e, u, ch, 0, amp);
		if (s->n_ch > 1 && subject_uniform(r) < c->spread_frac) {
			/* volume conduction: the neighbours see it smaller and later */
			int step;

			for (step = -2; step <= 2; step++) {
				int nb = (int)ch + step;
				double g = subject_uniform_in(r, 0.3, 0.7);
				double delay_ms = subject_uniform_in(r, 0.5, 3.0) * abs(step);

				if (step == 0 || nb < 0 || nb >= (int)s->n_ch)
					continue;
				if (abs(step) == 2 && subject_uniform(r) < 0.5)
					continue;
				subject_add_mup(s, e, u, (unsigned int)nb,
						subject_scans(s, delay_ms),
						amp * (abs(step) == 2 ? g * g : g));
			}
		}
		break;
	case SUBJECT_DOUBLET:
		subject_add_mup(s, e, u, ch, 0, amp);
		subject_add_mup(s, e, u, ch,
				subject_scans(s, subject_uniform_in(r, 30.0, 35.0)),
				amp * subject_uniform_in(r, 0.8, 1.0));
		break;
	case SUBJECT_MYOCLONUS:
		/* 2-5 potentials of random units within 20-150 ms on one channel */
		len = subject_scans(s, subject_uniform_in(r, 20.0, 150.0));
		n = 2 + (unsigned int)(subject_rng_next(r) % 4);
		for (k = 0; k < n; k++) {
			unsigned int uk = (unsigned int)(subject_rng_next(r) % s->n_units);
			uint64_t room = len > s->unit[uk].len ? len - s->unit[uk].len : 0;
			uint64_t start = k == 0 ? 0 : (uint64_t)(subject_uniform(r) * (double)room);

			subject_add_mup(s, e, uk, ch, start,
					subject_log_uniform(r, c->mup_min_uv, c->mup_max_uv));
		}
		break;
	case SUBJECT_PHASIC_BURST:
		len = subject_scans(s, 1000.0 * subject_log_uniform(r, 0.1, 5.0));
		subject_add_noise(s, e, ch, len, base * subject_uniform_in(r, 5.0, 10.0));
		break;
	case SUBJECT_LIMB_MOVEMENT:
	default:
		if (c->lm_channel_mask)
			ch = subject_pick_bit(r, c->lm_channel_mask, UINT32_MAX);
		/* rms such that sqrt(bg^2 + inj^2) - bg >= 8 uV, with margin */
		len = subject_scans(s, 1000.0 * subject_uniform_in(r, 0.5, 10.0));
		subject_add_noise(s, e, ch, len, subject_uniform_in(r, 1.5, 4.0) *
				  sqrt((base + 8.0) * (base + 8.0) - base * base));
		if (s->n_ch > 1 && subject_uniform(r) < 0.5) {	/* both legs */
			unsigned int other = (ch ^ 1u) < s->n_ch ? ch ^ 1u : ch - 1;

			if (c->lm_channel_mask)
				other = subject_pick_bit(r, c->lm_channel_mask, ch);
			if (other != ch)
				subject_add_noise(s, e, other, len, e->comp[0].gain_uv *
						  subject_uniform_in(r, 0.5, 1.0));
		}
		break;
	}
	subject_measure(s, e);
}

/* Plan the next event, its onset at least the gap after scan @after. */
static void subject_plan(struct subject *s, uint64_t after)
{
	double x, wait;
	int cls;

	s->ev_planned = false;
	if (s->total_rate <= 0)
		return;
	wait = -log(1.0 - subject_uniform(&s->ev_rng)) / s->total_rate;
	x = subject_uniform(&s->ev_rng) * s->total_rate;
	for (cls = 0; cls < SUBJECT_N_CLASSES - 1; cls++) {
		if (x < s->class_rate[cls])
			break;
		x -= s->class_rate[cls];
	}
	while (s->class_rate[cls] == 0 && cls > 0)	/* rounding at the top end */
		cls--;
	subject_make_event(s, &s->ev, (enum subject_class)cls);
	s->ev.truth.onset_index = after + subject_scans(s, SUBJECT_EVENT_GAP_MS) +
				  (uint64_t)llround(fmin(wait, 1e15));
	s->ev.truth.t_s = (double)s->ev.truth.onset_index / s->rate_hz;
	s->ev_planned = true;
	s->ev_active = false;
	s->ev_k = 0;
}

/* ---- construction ------------------------------------------------------- */

int subject_new(const struct subject_config *cfg, struct subject **ret)
{
	const double per_min = 1.0 / 60.0;
	struct subject *s;
	double hi, m;
	unsigned int c;
	size_t i, warm;
	int err;

	if (cfg == NULL || ret == NULL || !subject_config_ok(cfg))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	s->cfg.templates = NULL;	/* borrowed: copied into shapes below */
	s->n_ch = cfg->n_channels;
	s->rate_hz = cfg->rate_hz;
	subject_rng_seed(&s->bg_rng, cfg->seed, 1);
	subject_rng_seed(&s->ev_rng, cfg->seed, 2);
	subject_rng_seed(&s->bioz_rng, cfg->seed, 3);

	hi = fmin(cfg->background_hi_hz, 0.45 * cfg->rate_hz);
	if (hi <= cfg->background_lo_hz * 1.5) {
		err = -EINVAL;
		goto fail;
	}
	s->bq[0] = subject_butter2(cfg->background_lo_hz, cfg->rate_hz, true);
	s->bq[1] = subject_butter2(hi, cfg->rate_hz, false);
	s->noise_norm = 1.0 / subject_cascade_rms(s->bq, cfg->rate_hz, cfg->background_lo_hz);
	s->bg_st = calloc((size_t)s->n_ch * 2, sizeof(*s->bg_st));
	if (s->bg_st == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	/* start the background in its steady state: run off the filter transient */
	warm = (size_t)(fmin(10.0 / cfg->background_lo_hz, 0.5) * cfg->rate_hz);
	for (i = 0; cfg->background_rms_uv > 0 && i < warm; i++)
		for (c = 0; c < s->n_ch; c++)
			subject_bq_step(&s->bq[1], &s->bg_st[2 * c + 1],
					subject_bq_step(&s->bq[0], &s->bg_st[2 * c],
							subject_gauss(&s->bg_rng)));
	s->mains_step = 2.0 * M_PI * cfg->mains_hz / cfg->rate_hz;

	err = subject_make_units(s, cfg->templates);
	if (err < 0)
		goto fail;
	m = per_min / cfg->rate_hz;	/* per minute -> per scan */
	s->class_rate[SUBJECT_FASCICULATION] = cfg->mup_rate_per_min * (1 - cfg->doublet_frac) * m;
	s->class_rate[SUBJECT_DOUBLET] = cfg->mup_rate_per_min * cfg->doublet_frac * m;
	s->class_rate[SUBJECT_MYOCLONUS] = cfg->myoclonus_rate_per_min * m;
	s->class_rate[SUBJECT_PHASIC_BURST] = cfg->burst_rate_per_min * m;
	s->class_rate[SUBJECT_LIMB_MOVEMENT] = cfg->lm_rate_per_min * m;
	for (c = 0; c < SUBJECT_N_CLASSES; c++)
		s->total_rate += s->class_rate[c];
	subject_plan(s, 0);
	*ret = s;
	return 0;
fail:
	subject_free(s);
	return err;
}

struct subject *subject_free(struct subject *s)
{
	if (s == NULL)
		return NULL;
	free(s->bg_st);
	free(s->shapes);
	free(s);
	return NULL;
}

unsigned int subject_n_channels(const struct subject *s)
{
	return s ? s->n_ch : 0;
}

double subject_rate_hz(const struct subject *s)
{
	return s ? s->rate_hz : NAN;
}

uint64_t subject_scan_index(const struct subject *s)
{
	return s ? s->index : 0;
}

/* ---- generation --------------------------------------------------------- */

void subject_emg_fill(struct subject *s, double *out_uv, size_t n_scans,
		      subject_truth_fn *cb, void *userdata)
{
	const double bg = s->cfg.background_rms_uv * s->noise_norm;
	const double mains = s->cfg.mains_uv, h3 = s->cfg.mains_h3_frac * mains;
	const unsigned int n_ch = s->n_ch;
	size_t i;

	for (i = 0; i < n_scans; i++, s->index++) {
		double *o = out_uv + i * n_ch, hum = 0.0;
		unsigned int c;

		if (mains > 0) {
			hum = mains * sin(s->mains_phase) + h3 * sin(3.0 * s->mains_phase);
			s->mains_phase += s->mains_step;
			if (s->mains_phase >= 2.0 * M_PI)
				s->mains_phase -= 2.0 * M_PI;
		}
		for (c = 0; c < n_ch; c++) {
			struct subject_bq_state *st = &s->bg_st[2 * c];
			double x = 0.0;

			if (bg > 0) {
				x = bg * subject_gauss(&s->bg_rng);
				x = subject_bq_step(&s->bq[0], &st[0], x);
				x = subject_bq_step(&s->bq[1], &st[1], x);
			}
			o[c] = x + hum;
		}
		if (!s->ev_planned)
			continue;
		if (!s->ev_active) {
			if (s->index != s->ev.truth.onset_index)
				continue;
			s->ev_active = true;
			if (cb != NULL)
				cb(&s->ev.truth, userdata);
		}
		for (c = 0; c < s->ev.n_comp; c++)
			o[s->ev.comp[c].ch] += subject_comp_value(s, &s->ev.comp[c], s->ev_k);
		if (++s->ev_k >= s->ev.truth.n_scans)
			subject_plan(s, s->index + 1);
	}
}

const char *subject_class_name(enum subject_class cls)
{
	static const char *const names[SUBJECT_N_CLASSES] = {
		[SUBJECT_FASCICULATION] = "fasciculation",
		[SUBJECT_DOUBLET] = "doublet",
		[SUBJECT_MYOCLONUS] = "myoclonus",
		[SUBJECT_PHASIC_BURST] = "phasic_burst",
		[SUBJECT_LIMB_MOVEMENT] = "limb_movement",
	};

	return (unsigned int)cls < SUBJECT_N_CLASSES ? names[cls] : "unknown";
}

int subject_truth_json(const struct subject_truth *t, char *buf, size_t len)
{
	int n;

	if (t == NULL || buf == NULL)
		return -EINVAL;
	n = snprintf(buf, len,
		     "{\"type\":\"truth\",\"class\":\"%s\",\"channel\":%u,"
		     "\"channel_mask\":%llu,\"onset_index\":%llu,\"t\":%.6f,"
		     "\"duration_ms\":%.3f,\"peak_uv\":%.3f}\n",
		     subject_class_name(t->cls), t->channel,
		     (unsigned long long)t->channel_mask,
		     (unsigned long long)t->onset_index, t->t_s, t->duration_ms, t->peak_uv);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* ---- bioimpedance ------------------------------------------------------- */

void subject_cole(double r0_ohm, double rinf_ohm, double fc_hz, double alpha,
		  double f_hz, double *ret_r_ohm, double *ret_x_ohm)
{
	/* (j w tau)^alpha = (f / fc)^alpha * (cos(alpha pi/2) + j sin(alpha pi/2)) */
	double m = pow(f_hz / fc_hz, alpha);
	double a = 1.0 + m * cos(alpha * M_PI / 2.0), b = m * sin(alpha * M_PI / 2.0);
	double d = (r0_ohm - rinf_ohm) / (a * a + b * b);

	*ret_r_ohm = rinf_ohm + d * a;
	*ret_x_ohm = -d * b;
}

int subject_bioz_sweep(struct subject *s, const double *freq_hz, size_t n, double t_s,
		       double *ret_r_ohm, double *ret_x_ohm)
{
	const struct subject_config *c;
	double h, r0, rinf;
	size_t i;

	if (s == NULL || (n > 0 && (freq_hz == NULL || ret_r_ohm == NULL ||
				    ret_x_ohm == NULL)) || !isfinite(t_s))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!subject_in(freq_hz[i], 1e-3, 1e12))
			return -EINVAL;
	c = &s->cfg;
	h = t_s / 3600.0;
	r0 = c->r0_ohm + c->r0_drift_ohm_per_h * h;
	rinf = c->rinf_ohm + c->rinf_drift_ohm_per_h * h;
	if (!(rinf > 0 && r0 > rinf))
		return -EDOM;
	for (i = 0; i < n; i++) {
		subject_cole(r0, rinf, c->fc_hz, c->alpha, freq_hz[i], &ret_r_ohm[i],
			     &ret_x_ohm[i]);
		if (c->bioz_noise_ohm > 0) {
			ret_r_ohm[i] += c->bioz_noise_ohm * subject_gauss(&s->bioz_rng);
			ret_x_ohm[i] += c->bioz_noise_ohm * subject_gauss(&s->bioz_rng);
		}
	}
	return 0;
}

static int16_t subject_clip16(double v, bool *clipped)
{
	if (v > INT16_MAX || v < INT16_MIN)
		*clipped = true;
	return (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
}

int subject_ad5933_codes(double r_ohm, double x_ohm, double gain_factor,
			 double system_phase_rad, int16_t *ret_real, int16_t *ret_imag)
{
	double z = hypot(r_ohm, x_ohm), m, th;
	bool clipped = false;
	int16_t re, im;

	if (!isfinite(r_ohm) || !isfinite(x_ohm) || !(gain_factor > 0) ||
	    !isfinite(gain_factor) || !isfinite(system_phase_rad) ||
	    ret_real == NULL || ret_imag == NULL)
		return -EINVAL;
	if (z == 0)
		return -EDOM;
	m = 1.0 / (gain_factor * z);
	th = atan2(x_ohm, r_ohm) + system_phase_rad;
	re = subject_clip16(round(m * cos(th)), &clipped);
	im = subject_clip16(round(m * sin(th)), &clipped);
	*ret_real = re;
	*ret_imag = im;
	return clipped ? 1 : 0;
}

int subject_ad5933_impedance(int16_t re, int16_t im, double gain_factor,
			     double system_phase_rad, double *ret_r_ohm, double *ret_x_ohm)
{
	double m = hypot((double)re, (double)im), z, th;

	if (!(gain_factor > 0) || !isfinite(gain_factor) || !isfinite(system_phase_rad) ||
	    ret_r_ohm == NULL || ret_x_ohm == NULL)
		return -EINVAL;
	if (m == 0)
		return -EDOM;
	z = 1.0 / (gain_factor * m);
	th = atan2((double)im, (double)re) - system_phase_rad;
	*ret_r_ohm = z * cos(th);
	*ret_x_ohm = z * sin(th);
	return 0;
}

/* ---- templates from real data ------------------------------------------- */

size_t subject_find_potentials(const double *x_uv, size_t n, double rate_hz,
			       double threshold_uv, double half_width_ms,
			       double isolation_ms, size_t *ret_idx, size_t max)
{
	size_t hw, iso, i, j, found = 0;

	if (x_uv == NULL || !(rate_hz > 0) || !(threshold_uv > 0) ||
	    !(half_width_ms > 0) || isolation_ms < half_width_ms)
		return 0;
	hw = (size_t)ceil(half_width_ms * rate_hz / 1000.0);
	iso = (size_t)ceil(isolation_ms * rate_hz / 1000.0);
	for (i = iso; i + iso < n; i++) {
		double p = fabs(x_uv[i]);
		bool ok = p >= threshold_uv && isfinite(p);

		for (j = i - hw; ok && j <= i + hw; j++)	/* the largest of its own */
			if (fabs(x_uv[j]) > p || (j < i && fabs(x_uv[j]) == p))
				ok = false;
		for (j = i - iso; ok && j <= i + iso; j++)	/* alone around it */
			if ((j < i - hw || j > i + hw) && !(fabs(x_uv[j]) <= threshold_uv / 2))
				ok = false;
		if (!ok)
			continue;
		if (found < max && ret_idx != NULL)
			ret_idx[found] = i;
		found++;
		i += hw;
	}
	return found;
}

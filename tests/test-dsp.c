/* test-dsp.c - unit tests for daemon/dsp.c and dsp-lanes.c: filter design
 * and measured responses against frozen scipy values, stability,
 * invalid-input handling, stride, the fast paths against the per-sample
 * reference, mains detection, the step (pop) flag and the robust noise
 * floor. Includes both .c files to reach their statics. All inputs are
 * synthetic and seeded; nothing here depends on timing.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsp.c"
#include "dsp-lanes.c"

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state;

static double rng_uniform(void)	/* xorshift64*, (0, 1) */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((rng_state * UINT64_C(2685821657736338717)) >> 11) *
	       (1.0 / 9007199254740992.0) + 1e-300;
}

static double rng_gauss(void)
{
	return sqrt(-2.0 * log(rng_uniform())) *
	       cos(2.0 * M_PI * rng_uniform());
}

static float *xalloc(size_t n)
{
	float *p = calloc(n, sizeof(*p));

	assert_non_null(p);
	return p;
}

static void chain_for(struct dsp_chain *c, double rate, unsigned int mains)
{
	struct dsp_config cfg;

	dsp_config_default(&cfg);
	cfg.mains = mains;
	assert_int_equal(dsp_chain_init(c, &cfg, rate), 0);
}

/* Gain in dB at @f_hz measured by driving a sine through the chain: settle,
 * then a least-squares fit over a whole number of cycles. */
static double measured_gain_db(struct dsp_chain *c, double f_hz,
			       double settle_s)
{
	double rate = c->rate_hz, a = 0.0, b = 0.0;
	size_t n_settle = (size_t)(settle_s * rate), n_meas, i;
	double cycles = floor(1.0 * f_hz) > 1.0 ? floor(1.0 * f_hz) : 1.0;
	float *x, *y;

	n_meas = (size_t)llround(cycles * rate / f_hz);
	x = xalloc(n_settle + n_meas);
	y = xalloc(n_settle + n_meas);
	for (i = 0; i < n_settle + n_meas; i++)
		x[i] = (float)(100.0 * sin(2.0 * M_PI * f_hz * i / rate));
	dsp_chain_process(c, x, y, n_settle + n_meas, 1, NULL);
	for (i = n_settle; i < n_settle + n_meas; i++) {
		double ph = 2.0 * M_PI * f_hz * i / rate;

		a += y[i] * sin(ph);
		b += y[i] * cos(ph);
	}
	a *= 2.0 / n_meas;
	b *= 2.0 / n_meas;
	free(x);
	free(y);
	return 20.0 * log10(sqrt(a * a + b * b) / 100.0 + 1e-30);
}

/* ------------------------------------------------------------ design */

/* Frozen from scipy 1.10.1 (Debian python3-scipy):
 *   s = [butter(4, 20, 'highpass', fs=fs, output='sos')]
 *   for k*m <= min(450, 0.45 fs): s += [tf2sos(*iirnotch(k*m, k*m/2.0, fs=fs))]
 *   s += [butter(4, min(450, 0.45 fs), 'lowpass', fs=fs, output='sos')]
 *   20*log10(abs(sosfreqz(vstack(s), worN=f, fs=fs)[1]))
 * i.e. dsp_config_default() with mains fixed. */
struct resp_case {
	double rate;
	unsigned int mains_hz;
	int n;
	double f[13];
	double db[13];
};

static const struct resp_case resp_cases[] = {
	{ 1000, 50, 13,
	  { 5, 10, 20, 45, 49, 50, 51, 75, 100, 125, 150, 300, 440 },
	  { -48.207849, -24.133861, -3.012007, -0.160733, -2.972029,
	    -267.814761, -3.055266, -0.015736, -268.451876, -0.016620,
	    -300.000000, -269.451853, -0.937260 } },
	{ 1000, 60, 7, { 5, 50, 60, 100, 120, 200, 440 },
	  { -48.207808, -0.039131, -262.681519, -0.013910, -274.722666,
	    -0.015889, -0.892835 } },
	{ 4000, 50, 7, { 5, 20, 50, 75, 450, 1000, 1800 },
	  { -48.167621, -3.011975, -240.897208, -0.015694, -256.452928,
	    -34.647084, -98.668475 } },
	{ 500, 60, 8, { 5, 20, 60, 100, 120, 150, 225, 240 },
	  { -48.337031, -3.011107, -278.579170, -0.014433, -294.154790,
	    -0.010832, -3.011053, -32.079639 } },
	{ 1000, 0, 4, { 5, 20, 100, 450 },
	  { -48.207770, -3.010300, -0.000009, -3.010300 } },
};

static unsigned int mains_mode(unsigned int hz)
{
	return hz == 50 ? DSP_MAINS_50HZ : hz == 60 ? DSP_MAINS_60HZ
						    : DSP_MAINS_OFF;
}

static void test_design_matches_scipy(void **state)
{
	size_t k;
	int i;

	(void)state;
	for (k = 0; k < sizeof(resp_cases) / sizeof(resp_cases[0]); k++) {
		const struct resp_case *rc = &resp_cases[k];
		struct dsp_chain c;

		chain_for(&c, rc->rate, mains_mode(rc->mains_hz));
		for (i = 0; i < rc->n; i++) {
			double mag, db;

			dsp_chain_response(&c, rc->f[i], &mag);
			db = 20.0 * log10(mag + 1e-300);
			if (rc->db[i] < -150.0)	/* a notch centre */
				assert_true(db < -150.0);
			else
				assert_true(fabs(db - rc->db[i]) < 1e-4);
		}
	}
}

/* The acceptance figures of the brief, measured on the running filter. */
static void test_measured_response(void **state)
{
	struct dsp_chain c;
	double g;

	(void)state;
	/* 50-Hz mains at 1 kHz: the notch, its harmonic, pass band between */
	chain_for(&c, 1000, DSP_MAINS_50HZ);
	g = measured_gain_db(&c, 50.0, 3.0);
	assert_true(g < -40.0);
	chain_for(&c, 1000, DSP_MAINS_50HZ);
	g = measured_gain_db(&c, 150.0, 3.0);
	assert_true(g < -40.0);
	chain_for(&c, 1000, DSP_MAINS_50HZ);
	g = measured_gain_db(&c, 75.0, 3.0);
	assert_true(fabs(g - -0.015736) < 0.01);
	assert_true(fabs(g) < 0.1);
	/* 60-Hz mains: 100 Hz lies in the pass band */
	chain_for(&c, 1000, DSP_MAINS_60HZ);
	g = measured_gain_db(&c, 100.0, 3.0);
	assert_true(fabs(g - -0.013910) < 0.01);
	assert_true(fabs(g) < 0.1);
	chain_for(&c, 1000, DSP_MAINS_60HZ);
	g = measured_gain_db(&c, 60.0, 3.0);
	assert_true(g < -40.0);
	/* high-pass: 4th order at 20 Hz is -48.2 dB at 5 Hz, -3 dB at fc */
	chain_for(&c, 1000, DSP_MAINS_OFF);
	g = measured_gain_db(&c, 5.0, 4.0);
	assert_true(fabs(g - -48.207770) < 0.1);
	chain_for(&c, 1000, DSP_MAINS_OFF);
	g = measured_gain_db(&c, 20.0, 3.0);
	assert_true(fabs(g - -3.010300) < 0.01);
	/* low-pass at 4 kHz: 450 Hz is notched (9th harmonic); 1 kHz is
	 * -34.6 dB */
	chain_for(&c, 4000, DSP_MAINS_50HZ);
	g = measured_gain_db(&c, 1000.0, 1.0);
	assert_true(fabs(g - -34.647084) < 0.05);
	/* at 500 Hz sampling the low-pass moves to 0.45 fs = 225 Hz */
	chain_for(&c, 500, DSP_MAINS_60HZ);
	assert_true(fabs(c.lp_cutoff_hz - 225.0) < 1e-9);
	g = measured_gain_db(&c, 225.0, 3.0);
	assert_true(fabs(g - -3.011053) < 0.02);
}

/* Poles inside the unit circle (Jury: |a2| < 1, |a1| < 1 + a2) for every
 * rate and order we accept, and bounded output on loud noise. */
static void test_stability(void **state)
{
	static const double rates[] = { 100, 200, 250, 500, 1000, 2000, 2048,
					4000, 8000, 16000, 32000 };
	struct dsp_config cfg;
	struct dsp_chain c;
	unsigned int order, mode;
	size_t r, i;
	float *x, *y;

	(void)state;
	for (r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		for (order = 1; order <= DSP_MAX_ORDER; order++) {
			for (mode = 0; mode <= DSP_MAINS_AUTO; mode++) {
				dsp_config_default(&cfg);
				cfg.hp_order = order;
				cfg.lp_order = order;
				cfg.mains = mode;
				if (dsp_config_check(&cfg, rates[r], NULL)) {
					/* only AUTO below 133 Hz is refused */
					assert_int_equal(mode, DSP_MAINS_AUTO);
					assert_true(rates[r] < 133.0);
					continue;
				}
				assert_int_equal(dsp_chain_init(&c, &cfg,
								rates[r]), 0);
				for (i = 0; i < c.n_sec; i++) {
					const struct dsp_biquad *s = &c.sec[i];

					assert_true(fabs(s->a2) < 1.0);
					assert_true(fabs(s->a1) < 1.0 + s->a2);
				}
			}
		}
	}
	/* loud white noise through the default chain stays finite */
	rng_state = 1;
	x = xalloc(20000);
	y = xalloc(20000);
	for (i = 0; i < 20000; i++)
		x[i] = (float)(1e4 * rng_gauss());
	chain_for(&c, 4000, DSP_MAINS_AUTO);
	dsp_chain_process(&c, x, y, 20000, 1, NULL);
	for (i = 0; i < 20000; i++) {
		assert_true(isfinite(y[i]));
		assert_true(fabs(y[i]) < 1e5);
	}
	free(x);
	free(y);
}

/* ------------------------------------------------------------ invalid */

/* NaN, Inf and saturated samples: output 0, flagged and counted; the chain
 * restarts from the next valid sample exactly as a fresh chain would. */
static void test_invalid_input_resets(void **state)
{
	const size_t n = 3000, bad = 1000;
	const float bad_values[3] = { NAN, INFINITY, 5000.0f };
	struct dsp_block_stats st;
	struct dsp_config cfg;
	struct dsp_chain c, fresh;
	uint8_t *fl = calloc(n, 1);
	float *x = xalloc(n), *y = xalloc(n), *yf = xalloc(n);
	size_t i, k;

	(void)state;
	assert_non_null(fl);
	rng_state = 7;
	for (i = 0; i < n; i++)
		x[i] = (float)(200.0 +
			       30.0 * sin(2.0 * M_PI * 80.0 * i / 1000) +
			       3.0 * rng_gauss());
	dsp_config_default(&cfg);
	cfg.mains = DSP_MAINS_50HZ;
	cfg.saturation_uv = 3000.0;
	for (k = 0; k < 3; k++) {
		float keep = x[bad];

		x[bad] = bad_values[k];
		assert_int_equal(dsp_chain_init(&c, &cfg, 1000), 0);
		dsp_chain_process_flags(&c, x, y, fl, n, 1, &st);
		assert_int_equal(st.n_samples, n);
		assert_int_equal(st.n_nonfinite, k < 2 ? 1 : 0);
		assert_int_equal(st.n_saturated, k == 2 ? 1 : 0);
		/* one restart at sample 0 (seeding) and one after the bad
		 * sample */
		assert_int_equal(st.n_restarts, 2);
		assert_true(y[bad] == 0.0f);
		assert_int_equal(fl[bad] & DSP_FLAG_INVALID,
				 k < 2 ? DSP_FLAG_NONFINITE
				       : DSP_FLAG_SATURATED);
		assert_true(fl[bad + 1] & DSP_FLAG_RESTART);
		for (i = 0; i < n; i++)
			assert_true(isfinite(y[i]));
		/* a fresh chain started on x[bad + 1 ..] gives the same
		 * output, sample for sample */
		assert_int_equal(dsp_chain_init(&fresh, &cfg, 1000), 0);
		dsp_chain_process(&fresh, x + bad + 1, yf, n - bad - 1, 1,
				  NULL);
		for (i = bad + 1; i < n; i++)
			assert_true(y[i] == yf[i - bad - 1]);
		x[bad] = keep;
	}
	free(fl);
	free(x);
	free(y);
	free(yf);
}

/* A large electrode offset at start-up must not ring through the high-pass:
 * the state starts at the steady state of the first sample. */
static void test_dc_offset_start(void **state)
{
	struct dsp_chain c;
	float *x = xalloc(1000), *y = xalloc(1000);
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++)
		x[i] = (float)(5000.0 + 10.0 * sin(2.0 * M_PI * 100.0 * i /
						   1000));
	chain_for(&c, 1000, DSP_MAINS_50HZ);
	dsp_chain_process(&c, x, y, 1000, 1, NULL);
	for (i = 0; i < 1000; i++)
		assert_true(fabs(y[i]) < 15.0);	/* sine is 10 uV */
	free(x);
	free(y);
}

/* One channel of interleaved scans: same output as contiguous data, the
 * other channels untouched; in place works too. */
static void test_stride(void **state)
{
	const size_t n = 2000, nch = 3;
	struct dsp_chain a, b;
	float *inter = xalloc(n * nch), *out = xalloc(n * nch);
	float *contig = xalloc(n), *ref = xalloc(n);
	size_t i;

	(void)state;
	rng_state = 3;
	for (i = 0; i < n * nch; i++) {
		inter[i] = (float)(20.0 * rng_gauss());
		out[i] = -12345.0f;
	}
	for (i = 0; i < n; i++)
		contig[i] = inter[i * nch + 1];
	chain_for(&a, 2000, DSP_MAINS_AUTO);
	chain_for(&b, 2000, DSP_MAINS_AUTO);
	dsp_chain_process(&a, contig, ref, n, 1, NULL);
	/* two blocks of uneven size, to cross a block boundary */
	dsp_chain_process(&b, inter + 1, out + 1, 777, nch, NULL);
	dsp_chain_process(&b, inter + 1 + 777 * nch, out + 1 + 777 * nch,
			  n - 777, nch, NULL);
	for (i = 0; i < n; i++) {
		assert_true(out[i * nch + 1] == ref[i]);
		assert_true(out[i * nch] == -12345.0f);
		assert_true(out[i * nch + 2] == -12345.0f);
	}
	/* in place */
	chain_for(&b, 2000, DSP_MAINS_AUTO);
	dsp_chain_process(&b, inter + 1, inter + 1, n, nch, NULL);
	for (i = 0; i < n; i++)
		assert_true(inter[i * nch + 1] == ref[i]);
	free(inter);
	free(out);
	free(contig);
	free(ref);
}

/* ------------------------------------------------------------ channels */

/* Random scans with what resets a chain: NaN, Inf, saturated samples,
 * runs of clipping on one channel, a pop on another, and 50 Hz hum (so
 * that AUTO decides in the middle of a block). */
static float *channels_input(size_t n, size_t nch, double rate)
{
	float *x = xalloc(n * nch);
	size_t i, c;

	for (i = 0; i < n; i++) {
		for (c = 0; c < nch; c++) {
			double v = 10.0 * rng_gauss() + 100.0 * (double)c +
				   30.0 * sin(2.0 * M_PI * 50.0 * i / rate + c);
			double u = rng_uniform();

			if (u < 2e-4)
				v = NAN;
			else if (u < 3e-4)
				v = u < 2.5e-4 ? INFINITY : -INFINITY;
			else if (u < 6e-4)
				v = 2600.0;		/* saturated */
			else if (u < 8e-4)
				v += 600.0;		/* a spike */
			if (c == 1 && i % 3000 >= 1500 && i % 3000 < 1700)
				v = i % 7 ? 4000.0 : NAN;	/* clipping */
			if (c == 2 && i >= 2000)
				v += 800.0 * exp(-(double)(i - 2000) / 200.0);
			x[i * nch + c] = (float)v;
		}
	}
	return x;
}

static int close_rel(double a, double b)
{
	return a == b || fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b));
}

/* A plain per-sample reference of the filtering alone, for one channel of
 * a chain whose sections do not change (a fixed mains): transposed direct
 * form II, restart from the steady state after an invalid sample. */
static void reference_filter(const struct dsp_chain *proto, const float *in,
			     float *out, size_t n, size_t stride)
{
	struct dsp_biquad sec[DSP_MAX_SECTIONS];
	int restart = 1;
	size_t i;
	uint32_t k;

	for (k = 0; k < proto->n_active; k++)
		sec[k] = proto->sec[proto->active[k]];
	for (i = 0; i < n; i++) {
		double x = in[i * stride];

		if (!isfinite(x) || (proto->saturation_uv > 0.0 &&
				     fabs(x) >= proto->saturation_uv)) {
			out[i * stride] = 0.0f;
			restart = 1;
			continue;
		}
		for (k = 0; k < proto->n_active; k++) {
			struct dsp_biquad *q = &sec[k];
			double y;

			if (restart) {
				double g = (q->b0 + q->b1 + q->b2) /
					   (1.0 + q->a1 + q->a2);

				y = g * x;
				q->s2 = q->b2 * x - q->a2 * y;
				q->s1 = q->b1 * x - q->a1 * y + q->s2;
			}
			y = q->b0 * x + q->s1;
			q->s1 = q->b1 * x - q->a1 * y + q->s2;
			q->s2 = q->b2 * x - q->a2 * y;
			x = y;
		}
		restart = 0;
		out[i * stride] = (float)x;
	}
}

/* What dsp_chain_process_flags() was: one sample at a time. */
static void per_sample(struct dsp_chain *c, const float *in, float *out,
		       uint8_t *flags, size_t n, size_t stride,
		       struct dsp_block_stats *ret_stats)
{
	struct dsp_run r = { { 0 }, 0.0, 0 };

	dsp_chain_run(c, in, out, flags, n, stride, &r);
	dsp_chain_end(c, &r, n, ret_stats);
}

static void assert_same_chain(const struct dsp_chain *a,
			      const struct dsp_chain *b,
			      const struct dsp_block_stats *sa,
			      const struct dsp_block_stats *sb)
{
	uint32_t q;

	assert_int_equal(sa->n_samples, sb->n_samples);
	assert_int_equal(sa->n_nonfinite, sb->n_nonfinite);
	assert_int_equal(sa->n_saturated, sb->n_saturated);
	assert_int_equal(sa->n_restarts, sb->n_restarts);
	assert_int_equal(sa->n_steps, sb->n_steps);
	assert_int_equal(sa->mains_hz, sb->mains_hz);
	assert_true(close_rel(sa->rms_uv, sb->rms_uv));
	assert_true(close_rel(sa->peak_uv, sb->peak_uv));
	assert_true(close_rel(sa->noise_floor_uv, sb->noise_floor_uv));
	for (q = 0; q < a->n_sec; q++) {
		assert_true(close_rel(a->sec[q].s1, b->sec[q].s1));
		assert_true(close_rel(a->sec[q].s2, b->sec[q].s2));
	}
	for (q = 0; q < a->mains_det.n_bins; q++)
		assert_true(close_rel(a->mains_det.s1[q], b->mains_det.s1[q]));
	assert_int_equal(a->mains_det.pos, b->mains_det.pos);
	assert_int_equal(a->step.n_blocks, b->step.n_blocks);
	assert_true(close_rel(a->step.post_sum, b->step.post_sum));
	assert_true(close_rel(a->noise.floor, b->noise.floor));
}

/* dsp_chains_process_flags() (channels together in vectors) and
 * dsp_chain_process_flags() (one channel's sections side by side) give
 * what one sample at a time gives: output, flags, statistics and the
 * chains' state after every block, through resets, the mains decision
 * (applied to all channels after the block, as pipeline.c does), uneven
 * blocks, a full vector, a channel of another design that sends its
 * group one by one, a partial vector; in place too. And the filtering is
 * that of a plain reference. */
static void channels_match(void)
{
	static const size_t blocks[] = { 4096, 1, 129, 3, 1000, 2500, 127 };
	const size_t n = 40000, nch = 21;
	const double rate = 2000;
	struct dsp_chain *a = calloc(nch, sizeof(*a));
	struct dsp_chain *b = calloc(nch, sizeof(*b));
	struct dsp_chain *d = calloc(nch, sizeof(*d));
	struct dsp_block_stats sa[21], sb[21], sd[21];
	struct dsp_config cfg, other;
	float *x, *ya = xalloc(n * nch), *yb = xalloc(n * nch);
	float *yd = xalloc(n * nch), *yr = xalloc(n * nch);
	uint8_t *fa = calloc(n * nch, 1), *fb = calloc(n * nch, 1);
	uint8_t *fd = calloc(n * nch, 1);
	unsigned int decided = 0;
	size_t i, c, k, start, m;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(d);
	assert_non_null(fa);
	assert_non_null(fb);
	assert_non_null(fd);
	rng_state = 99;
	x = channels_input(n, nch, rate);
	dsp_config_default(&cfg);
	cfg.saturation_uv = 2500.0;
	other = cfg;
	other.lp_cutoff_hz = 400.0;
	for (c = 0; c < nch; c++) {
		/* channels 0-7 a full vector, 8-15 one by one (channel 9
		 * differs), 16-20 a partial vector */
		const struct dsp_config *cc = c == 9 ? &other : &cfg;

		assert_int_equal(dsp_chain_init(&a[c], cc, rate), 0);
		assert_int_equal(dsp_chain_init(&b[c], cc, rate), 0);
		assert_int_equal(dsp_chain_init(&d[c], cc, rate), 0);
	}
	for (start = 0, k = 0; start < n; start += m, k++) {
		size_t o = start * nch;

		m = blocks[k % 7] < n - start ? blocks[k % 7] : n - start;
		dsp_chains_process_flags(a, nch, x + o, ya + o, fa + o, m, sa);
		for (c = 0; c < nch; c++) {
			per_sample(&b[c], x + o + c, yb + o + c, fb + o + c, m,
				   nch, &sb[c]);
			dsp_chain_process_flags(&d[c], x + o + c, yd + o + c,
						fd + o + c, m, nch, &sd[c]);
		}
		for (c = 0; c < nch; c++) {
			assert_same_chain(&a[c], &b[c], &sa[c], &sb[c]);
			assert_same_chain(&d[c], &b[c], &sd[c], &sb[c]);
		}
		for (c = 0; c < nch && !decided; c++) {
			unsigned int hz = a[c].mains_hz;

			if (hz != 50 && hz != 60)
				continue;
			for (i = 0; i < nch; i++) {
				assert_int_equal(dsp_chain_set_mains(&a[i], hz),
						 0);
				assert_int_equal(dsp_chain_set_mains(&b[i], hz),
						 0);
				assert_int_equal(dsp_chain_set_mains(&d[i], hz),
						 0);
			}
			decided = hz;
		}
	}
	assert_int_equal(decided, 50);
	for (i = 0; i < n * nch; i++) {
		assert_true(close_rel(ya[i], yb[i]));
		assert_true(close_rel(yd[i], yb[i]));
		assert_int_equal(fa[i], fb[i]);
		assert_int_equal(fd[i], fb[i]);
	}

	/* in place, 50 Hz fixed, against the plain reference */
	cfg.mains = DSP_MAINS_50HZ;
	for (c = 0; c < 8; c++) {
		assert_int_equal(dsp_chain_init(&a[c], &cfg, rate), 0);
		assert_int_equal(dsp_chain_init(&d[c], &cfg, rate), 0);
	}
	for (c = 0; c < 8; c++)
		reference_filter(&a[0], x + c, yr + c, n, 8);
	memcpy(ya, x, n * 8 * sizeof(*x));
	memcpy(yd, x, n * 8 * sizeof(*x));
	for (start = 0, k = 0; start < n; start += m, k++) {
		m = blocks[k % 7] < n - start ? blocks[k % 7] : n - start;
		dsp_chains_process_flags(a, 8, ya + start * 8, ya + start * 8,
					 NULL, m, NULL);
		for (c = 0; c < 8; c++)
			dsp_chain_process(&d[c], yd + start * 8 + c,
					  yd + start * 8 + c, m, 8, NULL);
	}
	for (i = 0; i < n * 8; i++) {
		assert_true(close_rel(ya[i], yr[i]));
		assert_true(close_rel(yd[i], yr[i]));
	}
	free(x);
	free(ya);
	free(yb);
	free(yd);
	free(yr);
	free(fa);
	free(fb);
	free(fd);
	free(a);
	free(b);
	free(d);
}

static void test_channels_match(void **state)
{
	(void)state;
	channels_match();
#ifdef DSP_AVX2
	/* and the SSE2 path, which this machine may not take by itself */
	dsp_avx2_off = 1;
	channels_match();
	dsp_avx2_off = 0;
#endif
}

/* Eight channels whose step blocks and noise windows stay in step (no
 * invalid input till the end), so dsp_chains_process_flags() finishes
 * them all in vectors: pops on several channels at different times (step
 * holds on some lanes, not others, across block and call boundaries)
 * give, to the bit, what one sample at a time gives. A saturated sample
 * on one channel then puts the lanes out of step, and the lanes one by
 * one must still agree. */
static void channels_in_step(double rate, int with_flags)
{
	static const size_t blocks[] = { 4096, 1, 129, 3, 1000, 2500, 127 };
	const size_t nch = 8, n = (size_t)(6.0 * rate);
	struct dsp_chain a[8], b[8];
	struct dsp_block_stats sa[8], sb[8];
	struct dsp_config cfg;
	float *x = xalloc(n * nch), *ya = xalloc(n * nch);
	float *yb = xalloc(n * nch);
	uint8_t *fa = calloc(n * nch, 1), *fb = calloc(n * nch, 1);
	uint32_t steps = 0;
	size_t i, c, k, start, m;

	assert_non_null(fa);
	assert_non_null(fb);
	rng_state = 17;
	for (i = 0; i < n; i++) {
		for (c = 0; c < nch; c++) {
			double t = i / rate, t0 = 1.5 + 0.37 * (double)c;
			double v = 5.0 * rng_gauss() + 20.0 * (double)c;

			if (c % 3 != 1 && t >= t0)	/* a pop */
				v += 400.0 * exp(-(t - t0) / 0.3);
			x[i * nch + c] = (float)v;
		}
	}
	x[(n - n / 8) * nch + 5] = 1e6f;	/* saturated */
	dsp_config_default(&cfg);
	cfg.saturation_uv = 2500.0;
	for (c = 0; c < nch; c++) {
		assert_int_equal(dsp_chain_init(&a[c], &cfg, rate), 0);
		assert_int_equal(dsp_chain_init(&b[c], &cfg, rate), 0);
	}
	for (start = 0, k = 0; start < n; start += m, k++) {
		size_t o = start * nch;

		m = blocks[k % 7] < n - start ? blocks[k % 7] : n - start;
		dsp_chains_process_flags(a, nch, x + o, ya + o,
					 with_flags ? fa + o : NULL, m, sa);
		for (c = 0; c < nch; c++)
			per_sample(&b[c], x + o + c, yb + o + c, fb + o + c, m,
				   nch, &sb[c]);
		for (c = 0; c < nch; c++) {
			assert_same_chain(&a[c], &b[c], &sa[c], &sb[c]);
			assert_true(sa[c].peak_uv == sb[c].peak_uv);
			assert_true(sa[c].rms_uv == sb[c].rms_uv);
			assert_true(a[c].noise.acc == b[c].noise.acc);
			assert_true(a[c].step.acc == b[c].step.acc);
			assert_true(a[c].step.post_sum == b[c].step.post_sum);
			assert_int_equal(a[c].step.hold, b[c].step.hold);
			steps += sa[c].n_steps;
		}
	}
	for (i = 0; i < n * nch; i++) {
		assert_true(ya[i] == yb[i]);
		if (with_flags)
			assert_int_equal(fa[i], fb[i]);
	}
	assert_true(steps > 0);
	free(x);
	free(ya);
	free(yb);
	free(fa);
	free(fb);
}

static void test_channels_in_step(void **state)
{
	static const double rates[] = { 1000, 2000, 4000 };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		dsp_lanes_finished = 0;
		channels_in_step(rates[i], 1);
		/* the lanes were in step: the vector finish did run */
		assert_true(dsp_lanes_finished > 0);
		channels_in_step(rates[i], 0);
#ifdef DSP_AVX2
		dsp_avx2_off = 1;
		channels_in_step(rates[i], 1);
		dsp_avx2_off = 0;
#endif
	}
}

/* A non-finite output (only absurd state or input can make one) undoes
 * the vector tile (or one channel's stretch), and the per-sample path
 * restarts that channel. */
static void channels_nonfinite_output(void)
{
	const size_t n = 600, nch = 8;
	struct dsp_chain a[8], b[8];
	float *x, *ya = xalloc(n * nch), *yb = xalloc(n * nch);
	uint8_t fa[600 * 8], fb[600 * 8];
	size_t i, c;

	rng_state = 5;
	x = xalloc(n * nch);
	for (i = 0; i < n * nch; i++)
		x[i] = (float)(20.0 * rng_gauss());
	for (c = 0; c < nch; c++) {
		chain_for(&a[c], 1000, DSP_MAINS_AUTO);
		chain_for(&b[c], 1000, DSP_MAINS_AUTO);
	}
	/* seed, then poison channel 3's high-pass state */
	dsp_chains_process_flags(a, nch, x, ya, fa, 10, NULL);
	for (c = 0; c < nch; c++)
		per_sample(&b[c], x + c, yb + c, fb + c, 10, nch, NULL);
	a[3].sec[0].s1 = b[3].sec[0].s1 = INFINITY;
	dsp_chains_process_flags(a, nch, x + 10 * nch, ya + 10 * nch,
				 fa + 10 * nch, n - 10, NULL);
	for (c = 0; c < nch; c++)
		per_sample(&b[c], x + 10 * nch + c, yb + 10 * nch + c,
			   fb + 10 * nch + c, n - 10, nch, NULL);
	assert_true(fb[10 * nch + 3] & DSP_FLAG_NONFINITE);
	for (i = 0; i < n * nch; i++) {
		assert_true(ya[i] == yb[i]);
		assert_int_equal(fa[i], fb[i]);
	}
	/* the same through one channel's sections side by side */
	chain_for(&a[0], 1000, DSP_MAINS_AUTO);
	chain_for(&b[0], 1000, DSP_MAINS_AUTO);
	dsp_chain_process_flags(&a[0], x, ya, fa, 10, 1, NULL);
	per_sample(&b[0], x, yb, fb, 10, 1, NULL);
	a[0].sec[0].s1 = b[0].sec[0].s1 = INFINITY;
	dsp_chain_process_flags(&a[0], x + 10, ya + 10, fa + 10, n - 10, 1,
				NULL);
	per_sample(&b[0], x + 10, yb + 10, fb + 10, n - 10, 1, NULL);
	assert_true(fb[10] & DSP_FLAG_NONFINITE);
	for (i = 0; i < n; i++) {
		assert_true(ya[i] == yb[i]);
		assert_int_equal(fa[i], fb[i]);
	}
	free(x);
	free(ya);
	free(yb);
}

static void test_channels_nonfinite_output(void **state)
{
	(void)state;
	channels_nonfinite_output();
#ifdef DSP_AVX2
	dsp_avx2_off = 1;
	channels_nonfinite_output();
	dsp_avx2_off = 0;
#endif
}

/* ------------------------------------------------------------ mains */

static unsigned int mains_decision(double hz, double amp_uv, double seconds)
{
	struct dsp_mains_detector m;
	size_t i, n = (size_t)(seconds * 1000);

	dsp_mains_init(&m, 1000);
	rng_state = 11;
	for (i = 0; i < n; i++) {
		double t = i / 1000.0;
		double x = 5.0 * rng_gauss();

		if (hz > 0)
			x += amp_uv * sin(2 * M_PI * hz * t) +
			     0.25 * amp_uv * sin(2 * M_PI * 3 * hz * t + 1.0);
		dsp_mains_push(&m, x);
	}
	return dsp_mains_decide(&m);
}

static void test_mains_detection(void **state)
{
	struct dsp_block_stats st;
	struct dsp_chain c;
	float *x, *y;
	double mag;
	size_t i;

	(void)state;
	assert_int_equal(mains_decision(50, 20, 4), 50);
	assert_int_equal(mains_decision(60, 20, 4), 60);
	assert_int_equal(mains_decision(0, 0, 8), 0);
	/* 3 s of history are required */
	assert_int_equal(mains_decision(60, 20, 2.5), 0);
	/* 0.5 uV hum in 5 uV noise: ~4 dB over the neighbours, undecided */
	assert_int_equal(mains_decision(50, 0.5, 8), 0);

	/* in the chain: both families until decided, then the right one */
	x = xalloc(6000);
	y = xalloc(6000);
	rng_state = 5;
	for (i = 0; i < 6000; i++)
		x[i] = (float)(5.0 * rng_gauss() +
			       30.0 * sin(2 * M_PI * 60.0 * i / 1000));
	chain_for(&c, 1000, DSP_MAINS_AUTO);
	dsp_chain_process(&c, x, y, 1000, 1, &st);
	assert_int_equal(st.mains_hz, 110);
	dsp_chain_process(&c, x + 1000, y + 1000, 5000, 1, &st);
	assert_int_equal(st.mains_hz, 60);
	dsp_chain_response(&c, 60.0, &mag);
	assert_true(20 * log10(mag + 1e-300) < -100.0);
	dsp_chain_response(&c, 50.0, &mag);	/* 50 Hz now passes */
	assert_true(fabs(20 * log10(mag)) < 0.1);
	/* the caller can impose its own decision; fixed modes are fixed */
	assert_int_equal(dsp_chain_set_mains(&c, 50), 0);
	dsp_chain_response(&c, 50.0, &mag);
	assert_true(20 * log10(mag + 1e-300) < -100.0);
	chain_for(&c, 1000, DSP_MAINS_60HZ);
	assert_int_equal(dsp_chain_set_mains(&c, 50), -EINVAL);
	assert_int_equal(dsp_chain_set_mains(&c, 55), -EINVAL);
	free(x);
	free(y);
}

/* ------------------------------------------------------------ pops */

/* A step with a slow decay (electrode pop) raises DSP_FLAG_STEP 30-80 ms
 * after it; a motor-unit-like biphasic potential of the same size does
 * not. */
static void test_step_flag(void **state)
{
	const size_t n = 4000;
	struct dsp_block_stats st;
	struct dsp_chain c;
	uint8_t *fl = calloc(n, 1);
	float *x = xalloc(n), *y = xalloc(n);
	size_t i, first = 0;

	(void)state;
	assert_non_null(fl);
	rng_state = 9;
	for (i = 0; i < n; i++) {
		double t = i / 1000.0;

		x[i] = (float)(2.0 * rng_gauss());
		if (i >= 2000)	/* pop: +500 uV, tau 300 ms */
			x[i] += (float)(500.0 * exp(-(t - 2.0) / 0.3));
		/* potential at 1 s: derivative of a Gaussian, sigma 2 ms,
		 * 500 uV peak */
		x[i] += (float)(500.0 * -(t - 1.0) / 0.002 *
				exp(0.5 - 0.5 * pow((t - 1.0) / 0.002, 2)));
	}
	chain_for(&c, 1000, DSP_MAINS_50HZ);
	dsp_chain_process_flags(&c, x, y, fl, n, 1, &st);
	for (i = 0; i < n; i++) {
		if (!(fl[i] & DSP_FLAG_STEP))
			continue;
		if (!first)
			first = i;
		assert_true(i >= 2000);	/* never around the potential */
	}
	assert_true(first >= 2030 && first <= 2080);
	assert_true(st.n_steps > 0);
	free(fl);
	free(x);
	free(y);
}

/* The step detector's running sums and running maximum give exactly the
 * flags of a brute-force recomputation over all blocks. */
static void test_step_running_sums(void **state)
{
	const size_t n = 60000;
	struct dsp_config cfg;
	struct dsp_step_detector sd;
	double *bmean = calloc(n, sizeof(double));
	double *bpeak = calloc(n, sizeof(double));
	size_t i, nb = 0, flags = 0;
	double acc = 0.0, accp = 0.0;
	uint32_t hold = 0, acc_n = 0;

	(void)state;
	assert_non_null(bmean);
	assert_non_null(bpeak);
	dsp_config_default(&cfg);
	dsp_step_init(&sd, &cfg, 2000);	/* 10-sample blocks */
	dsp_step_reset(&sd);
	rng_state = 13;
	for (i = 0; i < n; i++) {
		double x = 3.0 * rng_gauss(), y, want;
		size_t size = 2 * sd.n_win + sd.n_gap, k;

		if (i % 7000 > 3000)	/* pops of both signs, decaying */
			x += (i / 7000 % 2 ? 400.0 : -250.0) *
			     exp(-(double)(i % 7000 - 3000) / 500.0);
		y = 40.0 * rng_gauss();	/* stands in for the output */
		if (i % 5000 == 17)
			y = 3000.0;	/* occasional large peaks */
		acc += x;
		accp = fmax(accp, fabs(y));
		if (++acc_n == sd.block_len) {
			bmean[nb] = acc / acc_n;
			bpeak[nb] = accp;
			nb++;
			acc = accp = 0.0;
			acc_n = 0;
			if (nb >= size) {
				double pre = 0, post = 0, pk = 0, shift;

				for (k = 0; k < size; k++) {
					double m = bmean[nb - size + k];

					if (k < sd.n_win)
						pre += m;
					else if (k >= sd.n_win + sd.n_gap)
						post += m;
					pk = fmax(pk, bpeak[nb - size + k]);
				}
				shift = fabs(post - pre) / sd.n_win;
				if (shift >= sd.min_uv &&
				    shift >= sd.ratio * pk)
					hold = sd.hold_len;
			}
		}
		want = hold ? 1 : 0;
		if (hold)
			hold--;
		assert_int_equal(dsp_step_push(&sd, x, y), (int)want);
		flags += (size_t)want;
	}
	assert_true(flags > 100);	/* the comparison saw both outcomes */
	assert_true(flags < n / 2);
	free(bmean);
	free(bpeak);
}

/* ------------------------------------------------------------ noise */

static void noise_feed(struct dsp_noise_floor *nf, double sigma, double secs,
		       int spikes)
{
	size_t i, n = (size_t)(secs * 1000);

	for (i = 0; i < n; i++) {
		double v = fabs(sigma * rng_gauss());

		if (spikes && i % 1000 < 5)	/* 5 ms, once a second */
			v = 50.0 * sigma;
		dsp_noise_push(nf, v, DSP_NOISE_QUIET);
	}
}

/* Mean |x| of Gaussian noise is sigma * sqrt(2 / pi). */
#define MAV(sigma) ((sigma) * 0.7978845608028654)

static void test_noise_floor_tracks(void **state)
{
	struct dsp_noise_config nc = {
		.window_ms = 50, .n_windows = 200, .min_windows = 10,
		.gate_ratio = 3.0, .max_reject_s = 30.0,
	};
	struct dsp_noise_floor nf;

	(void)state;
	rng_state = 21;
	assert_int_equal(dsp_noise_init(&nf, &nc, 1000), 0);
	assert_true(dsp_noise_floor(&nf) == 0.0);	/* not valid yet */
	noise_feed(&nf, 1.0, 20, 0);
	assert_true(fabs(dsp_noise_floor(&nf) / MAV(1.0) - 1) < 0.05);
	/* sparse large spikes (a plain mean would rise ~30%) */
	noise_feed(&nf, 1.0, 20, 1);
	assert_true(fabs(dsp_noise_floor(&nf) / MAV(1.0) - 1) < 0.05);
	/* a step up inside the gate: the median of 200 windows (10 s)
	 * moves after 5 s and is within 5% once 80% of the windows are new
	 * (their 37th percentile; window means spread ~10%) */
	noise_feed(&nf, 2.5, 4, 0);
	assert_true(dsp_noise_floor(&nf) < 1.5 * MAV(1.0));
	noise_feed(&nf, 2.5, 4, 0);
	assert_true(fabs(dsp_noise_floor(&nf) / MAV(2.5) - 1) < 0.05);
	/* a 4x step is refused for max_reject_s ... */
	noise_feed(&nf, 10.0, 28, 0);
	assert_true(fabs(dsp_noise_floor(&nf) / MAV(2.5) - 1) < 0.05);
	/* ... then taken as the new level */
	noise_feed(&nf, 10.0, 10, 0);
	assert_true(fabs(dsp_noise_floor(&nf) / MAV(10.0) - 1) < 0.05);
	/* a step down is always followed */
	noise_feed(&nf, 1.0, 8, 0);
	assert_true(fabs(dsp_noise_floor(&nf) / MAV(1.0) - 1) < 0.05);
}

/* Median and MAD by hand; ACTIVE and INVALID windows. */
static void test_noise_median_mad(void **state)
{
	struct dsp_noise_config nc = {
		.window_ms = 1, .n_windows = 9, .min_windows = 1,
		.gate_ratio = 0.0, .max_reject_s = 0.0,
	};
	struct dsp_noise_floor nf;
	int v;

	(void)state;
	assert_int_equal(dsp_noise_init(&nf, &nc, 1000), 0);
	assert_int_equal(nf.win_len, 1);
	for (v = 1; v <= 9; v++)
		dsp_noise_push(&nf, v, DSP_NOISE_QUIET);
	assert_true(dsp_noise_floor(&nf) == 5.0);
	assert_true(dsp_noise_mad(&nf) == 2.0);	/* |v-5| = 4..0..4 */
	dsp_noise_push(&nf, 100.0, DSP_NOISE_QUIET);	/* drops the 1 */
	assert_true(dsp_noise_floor(&nf) == 6.0);
	assert_true(dsp_noise_mad(&nf) == 2.0);	/* 0,1,1,2,2,3,3,4,94 */
	/* event and bad-data windows never enter (max_reject 0: never) */
	dsp_noise_push(&nf, 1000.0, DSP_NOISE_ACTIVE);
	dsp_noise_push(&nf, 1000.0, DSP_NOISE_INVALID);
	assert_true(dsp_noise_floor(&nf) == 6.0);
	/* even number of windows: mean of the middle two */
	nc.n_windows = 4;
	assert_int_equal(dsp_noise_init(&nf, &nc, 1000), 0);
	for (v = 1; v <= 4; v++)
		dsp_noise_push(&nf, v, DSP_NOISE_QUIET);
	assert_true(dsp_noise_floor(&nf) == 2.5);
	assert_true(dsp_noise_mad(&nf) == 1.0);	/* 1.5 .5 .5 1.5 */
}

/* ------------------------------------------------------------ config */

static void test_config_check(void **state)
{
	struct dsp_config cfg;
	const char *field = NULL;
	struct dsp_chain c;

	(void)state;
	dsp_config_default(&cfg);
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), 0);
	assert_null(field);
	assert_int_equal(dsp_config_check(&cfg, 50, &field), -EINVAL);
	assert_string_equal(field, "rate_hz");
	assert_int_equal(dsp_config_check(&cfg, NAN, &field), -EINVAL);
	assert_string_equal(field, "rate_hz");
	cfg.hp_cutoff_hz = 500;
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), -EINVAL);
	assert_string_equal(field, "hp_cutoff_hz");
	dsp_config_default(&cfg);
	cfg.lp_order = 9;
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), -EINVAL);
	assert_string_equal(field, "lp_order");
	dsp_config_default(&cfg);
	cfg.notch_bw_hz = 0;
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), -EINVAL);
	assert_string_equal(field, "notch_bw_hz");
	/*
	 * What passes the check builds: a chain holds DSP_MAX_SECTIONS. With
	 * mains = auto at 4 kHz, notches to 800 Hz (16 + 13) and the four
	 * filter sections make 33; to 750 Hz, 31. The check said yes and the
	 * chain then failed with a bare EINVAL, naming nothing.
	 */
	dsp_config_default(&cfg);
	cfg.lp_cutoff_hz = 800;
	assert_int_equal(dsp_config_check(&cfg, 4000, &field), -EINVAL);
	assert_string_equal(field, "lp_cutoff_hz");
	cfg.lp_cutoff_hz = 750;
	assert_int_equal(dsp_config_check(&cfg, 4000, &field), 0);
	assert_int_equal(dsp_chain_init(&c, &cfg, 4000), 0);
	dsp_config_default(&cfg);
	cfg.notch_max_hz = 1000;
	assert_int_equal(dsp_config_check(&cfg, 4000, &field), -EINVAL);
	assert_string_equal(field, "notch_max_hz");
	cfg.mains = DSP_MAINS_50HZ;	/* one family: 20 notches fit */
	assert_int_equal(dsp_config_check(&cfg, 4000, &field), 0);
	assert_int_equal(dsp_chain_init(&c, &cfg, 4000), 0);
	dsp_config_default(&cfg);
	cfg.noise.n_windows = DSP_NOISE_MAX_WINDOWS + 1;
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), -EINVAL);
	assert_string_equal(field, "noise.n_windows");
	dsp_config_default(&cfg);
	cfg.saturation_uv = -1;
	assert_int_equal(dsp_chain_init(&c, &cfg, 1000), -EINVAL);

	/* the pop detector's ring, in 5-ms blocks: what passes is what fits.
	 * 637.5 + 2.5 ms rounds to 128 + 1 blocks, a ring of 257 > 256,
	 * though the unrounded 2 x 637.5 + 2.5 ms is only 255.5 blocks */
	dsp_config_default(&cfg);
	cfg.step_window_ms = 637.5;
	cfg.step_gap_ms = 2.5;
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), -EINVAL);
	assert_string_equal(field, "step_gap_ms");
	cfg.step_window_ms = 1e300;
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), -EINVAL);
	assert_string_equal(field, "step_window_ms");
	cfg.step_window_ms = 4.0;	/* under one block */
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), -EINVAL);
	assert_string_equal(field, "step_window_ms");
	cfg.step_window_ms = 60.0;
	cfg.step_gap_ms = NAN;
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), -EINVAL);
	assert_string_equal(field, "step_gap_ms");
	/* the largest ring: 2 x 128 blocks, no gap; run it round twice */
	cfg.step_window_ms = 640.0;
	cfg.step_gap_ms = 0.0;
	assert_int_equal(dsp_config_check(&cfg, 1000, &field), 0);
	assert_int_equal(dsp_chain_init(&c, &cfg, 1000), 0);
	assert_int_equal(c.step.n_win, 128);
	assert_int_equal(c.step.n_gap, 0);
	{
		static float x[3000], y[3000];
		size_t i;

		for (i = 0; i < 3000; i++)
			x[i] = (float)(i < 1500 ? 0.0 : 300.0);	/* a step */
		dsp_chain_process(&c, x, y, 3000, 1, NULL);
	}
	assert_true(c.step.n_blocks == 256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_matches_scipy),
		cmocka_unit_test(test_measured_response),
		cmocka_unit_test(test_stability),
		cmocka_unit_test(test_invalid_input_resets),
		cmocka_unit_test(test_dc_offset_start),
		cmocka_unit_test(test_stride),
		cmocka_unit_test(test_channels_match),
		cmocka_unit_test(test_channels_in_step),
		cmocka_unit_test(test_channels_nonfinite_output),
		cmocka_unit_test(test_mains_detection),
		cmocka_unit_test(test_step_flag),
		cmocka_unit_test(test_step_running_sums),
		cmocka_unit_test(test_noise_floor_tracks),
		cmocka_unit_test(test_noise_median_mad),
		cmocka_unit_test(test_config_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

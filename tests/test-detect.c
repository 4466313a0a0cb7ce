/* test-detect.c - unit tests for daemon/detect.c, run through dsp.c.
 *
 * Ground truth is built, not annotated: real motor-unit potentials from
 * PhysioNet emgdb (tests/data/emgdb-neuropathy-mups.txt) injected at known
 * indexes into the real BioSPPy surface-EMG baseline or seeded Gaussian
 * noise; bursts, limb movements, pops, clipping, mains and common-mode
 * artefacts are synthetic with stated sizes. Includes detect.c to reach
 * the PLM rules directly, and detect-tiles.c for its AVX2 switch. Data
 * files are found through $TWITCH_TEST_DATA, tests/data or ../tests/data.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "detect.c"
#include "detect-tiles.c"

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
	float *p = calloc(n ? n : 1, sizeof(*p));

	assert_non_null(p);
	return p;
}

static void add_noise(float *x, size_t n, size_t stride, double sigma)
{
	size_t i;

	for (i = 0; i < n; i++)
		x[i * stride] += (float)(sigma * rng_gauss());
}

static FILE *open_data(const char *name)
{
	const char *dirs[] = { getenv("TWITCH_TEST_DATA"), "tests/data",
			       "../tests/data", "data" };
	char path[512];
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		FILE *f;

		if (!dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		f = fopen(path, "re");
		if (f)
			return f;
	}
	fail_msg("test data %s not found (set TWITCH_TEST_DATA)", name);
	return NULL;
}

/* BioSPPy text: '#' headers, one ADC value a line; to uV assuming a
 * BITalino EMG front end (see tests/data/README-detect.md). */
static float *load_biosppy(size_t *ret_n)
{
	FILE *f = open_data("biosppy-emg.txt");
	size_t n = 0, cap = 100000, i;
	float *x = xalloc(cap);
	char line[128];
	double mean = 0.0;

	while (fgets(line, sizeof(line), f)) {
		char *end;
		double v;

		if (line[0] == '#')
			continue;
		errno = 0;
		v = strtod(line, &end);
		assert_int_equal(errno, 0);
		assert_true(end != line);
		assert_true(n < cap);
		x[n++] = (float)v;
		mean += v;
	}
	fclose(f);
	assert_int_equal(n, 100000);
	mean /= n;
	for (i = 0; i < n; i++)
		x[i] = (float)((x[i] - mean) * 0.7985);
	*ret_n = n;
	return x;
}

#define N_MUP 4
#define MUP_LEN 80		/* 20 ms at 4 kHz */
static double mup4k[N_MUP][MUP_LEN];	/* unit peak, 4 kHz */
static double mup1k[N_MUP][MUP_LEN / 4];	/* unit peak, 1 kHz */

static void load_mups(void)
{
	FILE *f = open_data("emgdb-neuropathy-mups.txt");
	char line[2048];
	int k = 0, i;

	while (fgets(line, sizeof(line), f) && k < N_MUP) {
		double a, b, peak = 0.0, peak1 = 0.0;
		char *p = line, *end;

		if (line[0] == '#')
			continue;
		strtod(p, &end);	/* start index in the record */
		p = end;
		for (i = 0; i < MUP_LEN; i++) {
			mup4k[k][i] = strtod(p, &end);
			assert_true(end != p);
			p = end;
		}
		/* remove the line through the ends, scale to unit peak */
		a = mup4k[k][0];
		b = mup4k[k][MUP_LEN - 1];
		for (i = 0; i < MUP_LEN; i++) {
			mup4k[k][i] -= a + (b - a) * i / (MUP_LEN - 1);
			peak = fmax(peak, fabs(mup4k[k][i]));
		}
		for (i = 0; i < MUP_LEN; i++)
			mup4k[k][i] /= peak;
		/* 1 kHz: mean of each 4 samples (crude anti-alias) */
		for (i = 0; i < MUP_LEN / 4; i++) {
			mup1k[k][i] = (mup4k[k][4 * i] + mup4k[k][4 * i + 1] +
				       mup4k[k][4 * i + 2] +
				       mup4k[k][4 * i + 3]) / 4.0;
			peak1 = fmax(peak1, fabs(mup1k[k][i]));
		}
		for (i = 0; i < MUP_LEN / 4; i++)
			mup1k[k][i] /= peak1;
		k++;
	}
	fclose(f);
	assert_int_equal(k, N_MUP);
}

/* Add potential @k at @amp_uv from index @at; return the ground-truth onset:
 * the first sample at >= 10% of its peak. */
static size_t inject(float *x, size_t stride, size_t at, int k, double amp_uv,
		     int rate_4k)
{
	const double *t = rate_4k ? mup4k[k] : mup1k[k];
	int len = rate_4k ? MUP_LEN : MUP_LEN / 4, i, on = -1;

	for (i = 0; i < len; i++) {
		if (on < 0 && fabs(t[i]) >= 0.1)
			on = i;
		x[(at + i) * stride] += (float)(amp_uv * t[i]);
	}
	return at + (size_t)on;
}

/* events seen by a sink */
struct evlog {
	size_t n, cap;
	struct detect_event *ev;
	uint64_t *seen_at;	/* stream index when delivered */
	uint64_t now;
};

static void evlog_sink(const struct detect_event *ev, void *userdata)
{
	struct evlog *l = userdata;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->ev = realloc(l->ev, l->cap * sizeof(*l->ev));
		l->seen_at = realloc(l->seen_at, l->cap * sizeof(uint64_t));
		assert_non_null(l->ev);
		assert_non_null(l->seen_at);
	}
	l->seen_at[l->n] = l->now;
	l->ev[l->n++] = *ev;
}

static void evlog_free(struct evlog *l)
{
	free(l->ev);
	free(l->seen_at);
	memset(l, 0, sizeof(*l));
}

static size_t evlog_count(const struct evlog *l, uint32_t type, uint32_t cls)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		if (l->ev[i].type == type &&
		    (cls == UINT32_MAX || l->ev[i].event_class == cls))
			n++;
	return n;
}

/* The one final event of @l; the test fails unless there is exactly one. */
static const struct detect_event *evlog_the_final(const struct evlog *l)
{
	size_t i;

	assert_int_equal(evlog_count(l, DETECT_EVENT_FINAL, UINT32_MAX), 1);
	for (i = 0; i < l->n; i++)
		if (l->ev[i].type == DETECT_EVENT_FINAL)
			return &l->ev[i];
	fail();
	return NULL;
}

/* Every channel of @x (interleaved) through a default DSP chain with @mains:
 * the filtered scans into *@ret_y and their flags into *@ret_fl, to free. */
static void filter_all(const float *x, size_t n_scans, size_t nch, double rate,
		       unsigned int mains, double saturation_uv, float **ret_y,
		       uint8_t **ret_fl)
{
	struct dsp_config dc;
	struct dsp_chain chain;
	float *y = xalloc(n_scans * nch);
	uint8_t *fl = calloc(n_scans * nch, 1);
	size_t c;

	assert_non_null(fl);
	dsp_config_default(&dc);
	dc.mains = mains;
	dc.saturation_uv = saturation_uv;
	for (c = 0; c < nch; c++) {
		assert_int_equal(dsp_chain_init(&chain, &dc, rate), 0);
		dsp_chain_process_flags(&chain, x + c, y + c, fl + c, n_scans,
					nch, NULL);
	}
	*ret_y = y;
	*ret_fl = fl;
}

/* The detector with @cfg over filtered @y and @fl, in blocks of @block scans. */
static struct detector *detect_all(const struct detect_config *cfg, const float *y,
				   const uint8_t *fl, size_t n_scans, size_t nch,
				   double rate, size_t block, struct evlog *log)
{
	struct detector *d = NULL;
	size_t i;

	assert_int_equal(detect_new(cfg, nch, rate, &d), 0);
	for (i = 0; i < n_scans; i += block) {
		size_t m = n_scans - i < block ? n_scans - i : block;

		log->now = i + m - 1;
		assert_true(detect_process_flagged(d, y + i * nch,
						   fl + i * nch, m, i,
						   evlog_sink, log) >= 0);
	}
	assert_true(detect_finish(d, evlog_sink, log) >= 0);
	return d;
}

/* Run every channel of @x (interleaved) through a default DSP chain with
 * @mains, then the detector with @cfg, in blocks of @block scans. */
static struct detector *run(const struct detect_config *cfg, float *x,
			    size_t n_scans, size_t nch, double rate,
			    unsigned int mains, double saturation_uv,
			    size_t block, struct evlog *log)
{
	struct detector *d;
	uint8_t *fl;
	float *y;

	filter_all(x, n_scans, nch, rate, mains, saturation_uv, &y, &fl);
	d = detect_all(cfg, y, fl, n_scans, nch, rate, block, log);
	free(y);
	free(fl);
	return d;
}

/* Score FINAL twitch events against @truth: hits within @tol samples,
 * false events inside [from, to). Returns hits; *ret_fa, *ret_max_err. */
static size_t score(const struct evlog *l, const size_t *truth, size_t n_truth,
		    size_t tol, size_t from, size_t to, size_t *ret_fa,
		    double *ret_max_err, size_t *ret_fasc)
{
	size_t i, j, hits = 0, fa = 0, fasc = 0;
	double max_err = 0.0;

	for (j = 0; j < n_truth; j++) {
		for (i = 0; i < l->n; i++) {
			const struct detect_event *e = &l->ev[i];
			double err = (double)e->onset_index - (double)truth[j];

			if (e->type != DETECT_EVENT_FINAL || fabs(err) > tol)
				continue;
			hits++;
			fasc += e->event_class == DETECT_CLASS_FASCICULATION;
			max_err = fmax(max_err, fabs(err));
			break;
		}
	}
	for (i = 0; i < l->n; i++) {
		const struct detect_event *e = &l->ev[i];
		int matched = 0;

		if (e->type != DETECT_EVENT_FINAL || e->onset_index < from ||
		    e->onset_index >= to)
			continue;
		for (j = 0; j < n_truth; j++)
			if (fabs((double)e->onset_index - (double)truth[j]) <=
			    tol)
				matched = 1;
		fa += !matched;
	}
	*ret_fa = fa;
	*ret_max_err = max_err;
	if (ret_fasc)
		*ret_fasc = fasc;
	return hits;
}

/* ------------------------------------------------------------ config */

static void test_config(void **state)
{
	struct detect_config cfg;
	struct detector *d = (struct detector *)&cfg;	/* must stay */
	const char *field = NULL;

	(void)state;
	detect_config_default(&cfg);
	assert_int_equal(detect_config_check(&cfg, 8, 4000, &field), 0);
	assert_null(field);
	assert_int_equal(detect_config_check(&cfg, 0, 4000, &field), -EINVAL);
	assert_string_equal(field, "n_channels");
	assert_int_equal(detect_config_check(&cfg, 65, 4000, &field), -EINVAL);
	assert_int_equal(detect_config_check(&cfg, 1, 20, &field), -EINVAL);
	assert_string_equal(field, "rate_hz");
	cfg.threshold_on = 2.0;	/* below threshold_off */
	assert_int_equal(detect_config_check(&cfg, 1, 1000, &field), -EINVAL);
	assert_string_equal(field, "threshold_on");
	detect_config_default(&cfg);
	cfg.refractory_ms = 30.0;	/* would merge 30-ms doublets */
	assert_int_equal(detect_config_check(&cfg, 1, 1000, &field), -EINVAL);
	assert_string_equal(field, "refractory_ms");
	detect_config_default(&cfg);
	cfg.lm_channel_mask = 0x4;	/* channel 2 of 2 */
	assert_int_equal(detect_config_check(&cfg, 2, 1000, &field), -EINVAL);
	assert_string_equal(field, "lm_channel_mask");
	detect_config_default(&cfg);
	cfg.mini_epoch_s = 7.0;	/* 30 s is not a whole number of them */
	assert_int_equal(detect_config_check(&cfg, 1, 1000, &field), -EINVAL);
	assert_string_equal(field, "epoch_s");
	detect_config_default(&cfg);
	cfg.noise.n_windows = 0;
	assert_int_equal(detect_config_check(&cfg, 1, 1000, &field), -EINVAL);
	/* the field itself, as the config names the key (it said "noise") */
	assert_string_equal(field, "noise.n_windows");
	assert_int_equal(detect_new(&cfg, 1, 1000, &d), -EINVAL);
	assert_ptr_equal(d, (struct detector *)&cfg);	/* untouched */
	assert_null(detect_free(NULL));
	assert_string_equal(detect_class_name(DETECT_CLASS_DOUBLET),
			    "doublet");
	assert_string_equal(detect_class_name(99), "unknown");
}

/* ------------------------------------------------------------ accuracy */

/* Real potentials in the real surface baseline, 1 kHz. The injections go
 * into 0-10 s and 60-80 s, the stretches of emg.txt without motor-unit
 * activity of their own. */
static void test_real_potentials_1k(void **state)
{
	static const double amps[2] = { 20.0, 12.0 };
	struct detect_config cfg;
	size_t n, i, a, truth[64], n_truth, hits, fa, fa2, fasc;
	double max_err, err2;

	(void)state;
	load_mups();
	detect_config_default(&cfg);
	for (a = 0; a < 2; a++) {
		struct evlog log = { 0 };
		struct detector *d;
		float *x = load_biosppy(&n);

		n_truth = 0;
		for (i = 1000; i < 80000; i += 500) {
			if (i >= 10000 && i < 60000)
				continue;
			truth[n_truth] = inject(x, 1, i, n_truth % N_MUP,
						amps[a], 0);
			n_truth++;
		}
		assert_int_equal(n_truth, 58);
		d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 1000, &log);
		hits = score(&log, truth, n_truth, 5, 0, 10000, &fa, &max_err,
			     &fasc);
		/* false events in the second stretch too */
		score(&log, truth, n_truth, 5, 60000, 80000, &fa2, &err2,
		      NULL);
		fa += fa2;
		print_message("emgdb potentials in BioSPPy baseline, 1 kHz, "
			      "%.0f uV (noise %.2f uV RMS): %zu/%zu found, "
			      "%zu fasciculation, %zu false in 30 s, max "
			      "onset error %.0f ms\n", amps[a],
			      detect_noise_floor_uv(d, 0), hits,
			      n_truth, fasc, fa, max_err);
		if (a == 0) {
			/* ~8-10x the noise RMS after filtering */
			assert_true(hits >= 57);
			assert_true(fasc >= 56);
			assert_true(max_err <= 5.0);
		} else {
			/* ~5x: near the threshold, most are still found */
			assert_true(hits >= 45);
		}
		assert_true(fa <= 2);
		detect_free(d);
		evlog_free(&log);
		free(x);
	}
}

/* The same potentials at their own 4 kHz, in white noise. */
static void test_real_potentials_4k(void **state)
{
	const size_t n = 60 * 4000;
	struct detect_config cfg;
	struct evlog log = { 0 };
	size_t i, truth[128], n_truth = 0, hits, fa, fasc, hits2, fa2;
	struct detector *d;
	double max_err, err2;
	float *x = xalloc(n);

	(void)state;
	load_mups();
	rng_state = 4;
	add_noise(x, n, 1, 5.0);	/* 2.2 uV RMS after 20-450 Hz */
	for (i = 8000; i + MUP_LEN < n; i += 2800) {
		truth[n_truth] = inject(x, 1, i, n_truth % N_MUP, 80.0, 1);
		n_truth++;
	}
	detect_config_default(&cfg);
	d = run(&cfg, x, n, 1, 4000, DSP_MAINS_AUTO, 0, 4096, &log);
	hits = score(&log, truth, n_truth, 20, 0, n, &fa, &max_err, &fasc);
	/* onset errors within 2 ms (8 samples) */
	hits2 = score(&log, truth, n_truth, 8, 0, 0, &fa2, &err2, NULL);
	print_message("emgdb potentials in white noise, 4 kHz, 80 uV: "
		      "%zu/%zu found, %zu fasciculation, %zu false, %zu "
		      "within 2 ms, max onset error %.2f ms\n", hits, n_truth,
		      fasc, fa, hits2, max_err / 4.0);
	assert_int_equal(hits, n_truth);
	assert_int_equal(fasc, n_truth);
	assert_int_equal(fa, 0);
	assert_true(hits2 * 100 >= n_truth * 95);	/* p95 <= 2 ms */
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* in-place radix-2 FFT of n = 2^k complex values (re, im) */
static void fft(double *re, double *im, size_t n, int inverse)
{
	size_t i, j, len;

	for (i = 1, j = 0; i < n; i++) {
		size_t bit = n >> 1;

		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			double t = re[i];

			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (len = 2; len <= n; len <<= 1) {
		double ang = 2 * M_PI / len * (inverse ? 1 : -1);

		for (i = 0; i < n; i += len) {
			for (j = 0; j < len / 2; j++) {
				double c = cos(ang * j), s = sin(ang * j);
				double ur = re[i + j], ui = im[i + j];
				double vr = re[i + j + len / 2] * c -
					    im[i + j + len / 2] * s;
				double vi = re[i + j + len / 2] * s +
					    im[i + j + len / 2] * c;

				re[i + j] = ur + vr;
				im[i + j] = ui + vi;
				re[i + j + len / 2] = ur - vr;
				im[i + j + len / 2] = ui - vi;
			}
		}
	}
}

/* Pure noise with the real baseline's spectrum (phase randomised, the
 * 200-Hz line included): the false-alarm rate without motor units. */
static void test_false_alarms_noise(void **state)
{
	const size_t m = 65536;
	struct detect_config cfg;
	size_t n, i, total = 0;
	double *re = calloc(m, sizeof(double)), *im = calloc(m, sizeof(double));
	float *x = load_biosppy(&n), *s = xalloc(2 * m), *w;
	int seed;

	(void)state;
	assert_non_null(re);
	assert_non_null(im);
	detect_config_default(&cfg);
	for (seed = 0; seed < 2; seed++) {
		struct evlog log = { 0 };
		struct detector *d;

		for (i = 0; i < m; i++) {
			re[i] = x[seed * (n - m) + i];
			im[i] = 0.0;
		}
		fft(re, im, m, 0);
		rng_state = 100 + seed;
		for (i = 1; i < m / 2; i++) {
			double mag = hypot(re[i], im[i]);
			double ph = 2 * M_PI * rng_uniform();

			re[i] = mag * cos(ph);
			im[i] = mag * sin(ph);
			re[m - i] = re[i];
			im[m - i] = -im[i];
		}
		fft(re, im, m, 1);
		for (i = 0; i < m; i++)
			s[seed * m + i] = (float)(re[i] / m);
		d = run(&cfg, s + seed * m, m, 1, 1000, DSP_MAINS_AUTO, 0,
			1000, &log);
		total += evlog_count(&log, DETECT_EVENT_FINAL, UINT32_MAX);
		detect_free(d);
		evlog_free(&log);
	}
	print_message("phase-randomised BioSPPy noise, 131 s at 1 kHz: %zu "
		      "events\n", total);
	assert_true(total <= 1);

	/* 5 minutes of white noise at 1 kHz, 1 minute at 4 kHz */
	{
		struct evlog log = { 0 };
		struct detector *d;
		size_t e1, e4;

		w = xalloc(300000);
		rng_state = 77;
		add_noise(w, 300000, 1, 1.5);
		d = run(&cfg, w, 300000, 1, 1000, DSP_MAINS_AUTO, 0, 4096,
			&log);
		e1 = evlog_count(&log, DETECT_EVENT_FINAL, UINT32_MAX) +
		     evlog_count(&log, DETECT_EVENT_REJECT, UINT32_MAX);
		detect_free(d);
		evlog_free(&log);
		memset(w, 0, 240000 * sizeof(*w));
		add_noise(w, 240000, 1, 5.0);
		d = run(&cfg, w, 240000, 1, 4000, DSP_MAINS_AUTO, 0, 4096,
			&log);
		e4 = evlog_count(&log, DETECT_EVENT_FINAL, UINT32_MAX) +
		     evlog_count(&log, DETECT_EVENT_REJECT, UINT32_MAX);
		print_message("white noise: %zu events in 5 min at 1 kHz, %zu "
			      "in 1 min at 4 kHz\n", e1, e4);
		assert_true(e1 <= 1);
		assert_int_equal(e4, 0);
		detect_free(d);
		evlog_free(&log);
		free(w);
	}
	free(re);
	free(im);
	free(s);
	free(x);
}

/* The real baseline as it is: it has low-level motor-unit activity in
 * 30-40 s and 50-60 s (kurtosis 1.5-2.3 there, ~0.2 elsewhere). */
static void test_real_baseline(void **state)
{
	struct detect_config cfg;
	struct evlog log = { 0 };
	size_t n, i, total = 0, first10 = 0, active = 0;
	struct detector *d;
	float *x = load_biosppy(&n);

	(void)state;
	detect_config_default(&cfg);
	d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 1000, &log);
	for (i = 0; i < log.n; i++) {
		uint64_t on = log.ev[i].onset_index;

		if (log.ev[i].type != DETECT_EVENT_FINAL)
			continue;
		total++;
		first10 += on < 10000;
		active += (on >= 30000 && on < 40000) ||
			  (on >= 50000 && on < 60000);
	}
	print_message("BioSPPy emg.txt as is: %zu events, %zu in 0-10 s, %zu "
		      "in 30-40 s and 50-60 s\n", total, first10, active);
	assert_int_equal(first10, 0);
	assert_true(total >= 40 && total <= 120);
	assert_true(active * 10 >= total * 6);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* The quiet stretches of the same record, as bench-detect finds them (0.5-s
 * windows of low RMS and kurtosis, runs of >= 2 s): they still hold a few
 * short 3.5-5 sigma spikes. The target is <= 0.5 false events per
 * minute on a quiet baseline. */
static void test_real_quiet_baseline(void **state)
{
	static const double quiet_s[][2] = {
		{ 1.0, 11.5 }, { 12.5, 17.0 }, { 17.5, 21.5 }, { 22.0, 32.5 },
		{ 33.0, 35.5 }, { 41.0, 46.0 }, { 47.5, 50.0 }, { 58.0, 66.5 },
		{ 67.0, 70.5 }, { 71.0, 82.0 }, { 85.0, 91.0 }, { 91.5, 95.5 },
		{ 96.0, 99.0 },
	};
	const size_t n_q = sizeof(quiet_s) / sizeof(quiet_s[0]);
	struct detect_config cfg;
	struct evlog log = { 0 };
	size_t n, i, k, fa = 0;
	double total_s = 0.0;
	struct detector *d;
	float *x = load_biosppy(&n);

	(void)state;
	detect_config_default(&cfg);
	d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 1000, &log);
	for (k = 0; k < n_q; k++)
		total_s += quiet_s[k][1] - quiet_s[k][0];
	for (i = 0; i < log.n; i++) {
		double on = log.ev[i].onset_index / 1000.0;

		if (log.ev[i].type != DETECT_EVENT_FINAL)
			continue;
		for (k = 0; k < n_q; k++)
			if (on >= quiet_s[k][0] && on < quiet_s[k][1])
				fa++;
	}
	print_message("BioSPPy emg.txt, %.1f s of quiet stretches: %zu "
		      "events\n", total_s, fa);
	assert_true(fa * 60.0 / total_s <= 0.5);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* The same potential on a neighbouring channel, 0.3x and 3 ms later
 * (bench-detect's neighbours: 0.3-0.7x, 0.5-3 ms): its small first phase
 * is lost in the noise, so it can be found on a later phase, more than
 * merge_ms after the main channel's onset but while the main channel's
 * potential still runs. One event on both channels, not two (before: two
 * for MUP 1). */
static void test_neighbour_copy_merged(void **state)
{
	const size_t rate = 1000, n = 6 * rate;
	size_t k, i;

	(void)state;
	load_mups();
	for (k = 0; k < N_MUP; k++) {
		struct detect_config cfg;
		struct evlog log = { 0 };
		struct detector *d;
		float *x = xalloc(2 * n);
		size_t n_final = 0;
		uint64_t mask = 0;

		rng_state = 90 + k;
		add_noise(x, n, 2, 1.5);
		add_noise(x + 1, n, 2, 1.5);
		inject(x, 2, 4 * rate, (int)k, 40.0, 0);
		inject(x + 1, 2, 4 * rate + 3, (int)k, 12.0, 0);
		detect_config_default(&cfg);
		d = run(&cfg, x, n, 2, rate, DSP_MAINS_AUTO, 0, 512, &log);
		for (i = 0; i < log.n; i++) {
			if (log.ev[i].type != DETECT_EVENT_FINAL)
				continue;
			n_final++;
			mask = log.ev[i].channel_mask;
		}
		print_message("MUP %zu, 0.3x copy 3 ms later on channel 1: %zu "
			      "events, mask %#llx\n", k, n_final,
			      (unsigned long long)mask);
		assert_int_equal(n_final, 1);
		assert_int_equal(mask, 3);
		detect_free(d);
		evlog_free(&log);
		free(x);
	}
}

/* ------------------------------------------------------------ classes */

/*
 * The update records of final @f in @l: each says something new, with a peak
 * no smaller than the last one's (its primary channel does not flip back to
 * a smaller copy); the last one says what the final says; with @revised, an
 * earlier one said "fasciculation" (its first potential, before the second
 * joined it).
 */
static void check_updates(const struct evlog *l, size_t f, int revised)
{
	const struct detect_event *fin = &l->ev[f], *last = NULL;
	int n_fasc = 0;
	size_t i;

	for (i = 0; i < f; i++) {
		const struct detect_event *e = &l->ev[i];

		if (e->type != DETECT_EVENT_UPDATE || e->id != fin->id)
			continue;
		if (last) {
			assert_true(e->peak_uv >= last->peak_uv);
			assert_false(e->onset_index == last->onset_index &&
				     e->duration_samples == last->duration_samples &&
				     e->event_class == last->event_class &&
				     e->channel == last->channel &&
				     e->n_potentials == last->n_potentials);
		}
		last = e;
		n_fasc += e->event_class == DETECT_CLASS_FASCICULATION;
	}
	assert_non_null(last);
	assert_int_equal(last->channel, fin->channel);
	assert_int_equal(last->event_class, fin->event_class);
	assert_true(last->onset_index == fin->onset_index);
	assert_int_equal(last->duration_samples, fin->duration_samples);
	assert_int_equal(last->n_potentials, fin->n_potentials);
	if (revised)
		assert_true(n_fasc >= 1);
	for (i = f + 1; i < l->n; i++)	/* nothing of it after its final */
		assert_false(l->ev[i].id == fin->id);
}

/* FP doublets 30-35 ms apart (Kleine 2012) are one event of two
 * potentials; 200 ms apart they are two fasciculations. */
static void test_doublet(void **state)
{
	static const struct { int rate_4k; size_t isi_ms; } cases[] = {
		{ 0, 30 }, { 0, 35 }, { 1, 30 }, { 0, 200 },
	};
	size_t k;

	(void)state;
	load_mups();
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		double rate = cases[k].rate_4k ? 4000 : 1000;
		size_t n = (size_t)(6 * rate), isi = cases[k].isi_ms;
		size_t spm = (size_t)(rate / 1000), t0, t1;
		struct detect_config cfg;
		struct evlog log = { 0 };
		struct detector *d;
		float *x = xalloc(n);

		rng_state = 40 + k;
		add_noise(x, n, 1, cases[k].rate_4k ? 5.0 : 1.5);
		t0 = inject(x, 1, 4 * (size_t)rate, 0,
			    cases[k].rate_4k ? 100.0 : 30.0, cases[k].rate_4k);
		t1 = inject(x, 1, 4 * (size_t)rate + isi * spm, 0,
			    cases[k].rate_4k ? 100.0 : 30.0, cases[k].rate_4k);
		detect_config_default(&cfg);
		d = run(&cfg, x, n, 1, rate, DSP_MAINS_AUTO, 0, 512, &log);
		if (isi < 100) {
			assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
						     UINT32_MAX), 1);
			assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
						     DETECT_CLASS_DOUBLET), 1);
		} else {
			assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
					DETECT_CLASS_FASCICULATION), 2);
			assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
						     UINT32_MAX), 2);
		}
		for (size_t i = 0; i < log.n; i++) {
			const struct detect_event *e = &log.ev[i];

			if (e->type != DETECT_EVENT_FINAL)
				continue;
			if (isi < 100) {
				assert_int_equal(e->n_potentials, 2);
				assert_true(labs((long)e->onset_index -
						 (long)t0) <= (long)(3 * spm));
			} else {
				assert_int_equal(e->n_potentials, 1);
			}
			check_updates(&log, i, isi < 100);
		}
		(void)t1;
		detect_free(d);
		evlog_free(&log);
		free(x);
	}
}

/* A 2-s burst at 10x the background: one phasic burst meeting the RSWA
 * amplitude rule; an 8-s one is tonic. Not an LM channel. */
static void test_phasic_and_tonic(void **state)
{
	static const double len_s[2] = { 2.0, 8.0 };
	size_t k;

	(void)state;
	for (k = 0; k < 2; k++) {
		const size_t n = 16000, on = 5000;
		size_t len = (size_t)(len_s[k] * 1000);
		struct detect_config cfg;
		struct evlog log = { 0 };
		struct detector *d;
		float *x = xalloc(n);
		const struct detect_event *e;

		rng_state = 50 + k;
		add_noise(x, n, 1, 1.5);
		add_noise(x + on, len, 1, 15.0);
		detect_config_default(&cfg);
		d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 1000, &log);
		e = evlog_the_final(&log);
		print_message("%.0f-s burst: class %s, onset %+ld ms, "
			      "duration %.0f ms\n", len_s[k],
			      detect_class_name(e->event_class),
			      (long)e->onset_index - (long)on, e->duration_ms);
		assert_int_equal(e->event_class, k == 0 ? DETECT_CLASS_PHASIC
							: DETECT_CLASS_TONIC);
		assert_true(labs((long)e->onset_index - (long)on) <= 20);
		assert_true(fabs(e->duration_ms - len_s[k] * 1000) <= 60);
		if (k == 0)
			assert_true(e->flags & DETECT_EVF_PHASIC_4X);
		detect_free(d);
		evlog_free(&log);
		free(x);
	}
}

/* A burst that rises slowly (raised-cosine ramp of 80 ms to 10x the
 * background) is dated from where its variance rose, near the ramp's 10%
 * point, not from where its first potential stood out of the noise. */
static void test_burst_ramp_onset(void **state)
{
	const size_t n = 8000, on = 3000, len = 1000, ramp = 80;
	const size_t on10 = on + 16;	/* 0.5 - 0.5 cos(pi j / ramp) = 0.1 */
	unsigned int seed;
	long sum_err = 0;

	(void)state;
	for (seed = 0; seed < 4; seed++) {
		struct detect_config cfg;
		struct evlog log = { 0 };
		const struct detect_event *e;
		struct detector *d;
		float *x = xalloc(n);
		size_t i;

		rng_state = 70 + seed;
		add_noise(x, n, 1, 1.5);
		for (i = 0; i < len; i++) {
			double env = 1.0;

			if (i < ramp)
				env = 0.5 - 0.5 * cos(M_PI * (double)i / ramp);
			x[on + i] += (float)(15.0 * env * rng_gauss());
		}
		detect_config_default(&cfg);
		d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 1000, &log);
		e = evlog_the_final(&log);
		print_message("ramped burst %u: class %s, onset %+ld ms from "
			      "the 10%% point\n", seed,
			      detect_class_name(e->event_class),
			      (long)e->onset_index - (long)on10);
		assert_int_equal(e->event_class, DETECT_CLASS_PHASIC);
		/* within bench-detect's matching tolerance, 8 ms on average */
		assert_true(labs((long)e->onset_index - (long)on10) <= 15);
		sum_err += labs((long)e->onset_index - (long)on10);
		detect_free(d);
		evlog_free(&log);
		free(x);
	}
	assert_true(sum_err <= 4 * 8);
}

/* AASM limb movement on a leg channel: onset at 8 uV above resting, end
 * where >= 0.5 s within 2 uV of resting begins. A 0.4-s pause does not
 * end it, a 0.6-s pause does; longer than 10 s is not an LM. */
static void test_limb_movement(void **state)
{
	/* bursts (start s, length s) */
	static const struct {
		double b[2][2];
		int n_lm;
		double dur_s[2];
		uint32_t cls;
	} cases[] = {
		{ { { 10.0, 3.0 }, { 0, 0 } }, 1, { 3.0, 0 },
		  DETECT_CLASS_LIMB_MOVEMENT },
		{ { { 10.0, 1.5 }, { 11.9, 1.5 } }, 1, { 3.4, 0 },
		  DETECT_CLASS_LIMB_MOVEMENT },
		{ { { 10.0, 1.5 }, { 12.1, 1.5 } }, 2, { 1.5, 1.5 },
		  DETECT_CLASS_LIMB_MOVEMENT },
		{ { { 10.0, 12.0 }, { 0, 0 } }, 1, { 12.0, 0 },
		  DETECT_CLASS_TONIC },
	};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const size_t n = 30000;
		struct detect_config cfg;
		struct evlog log = { 0 };
		struct detector *d;
		float *x = xalloc(n);
		size_t i, j = 0, b;

		rng_state = 60 + k;
		add_noise(x, n, 1, 2.0);	/* resting ~1.6 uV mean |x| */
		for (b = 0; b < 2; b++)	/* mean |x| ~ resting + 15 uV */
			add_noise(x + (size_t)(cases[k].b[b][0] * 1000),
				  (size_t)(cases[k].b[b][1] * 1000), 1, 20.0);
		detect_config_default(&cfg);
		cfg.lm_channel_mask = 1;
		d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 1000, &log);
		assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
					     UINT32_MAX), cases[k].n_lm);
		for (i = 0; i < log.n; i++) {
			const struct detect_event *e = &log.ev[i];

			if (e->type != DETECT_EVENT_FINAL)
				continue;
			print_message("LM case %zu: %s onset %.3f s, %.0f ms\n",
				      k, detect_class_name(e->event_class),
				      e->onset_index / 1000.0, e->duration_ms);
			assert_int_equal(e->event_class, cases[k].cls);
			assert_true(fabs(e->onset_index / 1000.0 -
					 cases[k].b[j][0]) <= 0.05);
			assert_true(fabs(e->duration_ms / 1000.0 -
					 cases[k].dur_s[j]) <= 0.08);
			j++;
		}
		detect_free(d);
		evlog_free(&log);
		free(x);
	}
}

/* ------------------------------------------------------------ artefacts */

/* An electrode pop (500-uV step, 300-ms decay) is rejected and counted; a
 * biphasic potential of the same size is a fasciculation. */
static void test_pop_rejected(void **state)
{
	const size_t n = 8000;
	struct detect_counters cnt;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	float *x = xalloc(n);
	size_t i;

	(void)state;
	rng_state = 70;
	add_noise(x, n, 1, 2.0);
	for (i = 5000; i < n; i++)
		x[i] += (float)(500.0 * exp(-(double)(i - 5000) / 300.0));
	for (i = 2950; i < 3050; i++) {
		double t = (i - 3000.0) / 2.0;	/* sigma 2 ms */

		x[i] += (float)(500.0 * -t * exp(0.5 - 0.5 * t * t));
	}
	detect_config_default(&cfg);
	d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 1000, &log);
	detect_get_counters(d, &cnt);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_REJECT,
				     DETECT_CLASS_ART_POP), 1);
	assert_int_equal(cnt.n_by_class[DETECT_CLASS_ART_POP], 1);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
				     DETECT_CLASS_FASCICULATION), 1);
	for (i = 0; i < log.n; i++)
		if (log.ev[i].type == DETECT_EVENT_FINAL)
			assert_true(log.ev[i].onset_index < 3100);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* Saturated input (flagged by the DSP) and NaN make the event a clipping
 * artefact; both are counted as invalid samples. */
static void test_clipping_rejected(void **state)
{
	const size_t n = 8000;
	struct detect_counters cnt;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	float *x = xalloc(n);
	size_t i;

	(void)state;
	rng_state = 80;
	add_noise(x, n, 1, 2.0);
	for (i = 2950; i < 3050; i++) {	/* 2000 uV: clips at 1000 uV */
		double t = (i - 3000.0) / 2.0;

		x[i] += (float)(2000.0 * -t * exp(0.5 - 0.5 * t * t));
	}
	detect_config_default(&cfg);
	d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 1000.0, 1000, &log);
	detect_get_counters(d, &cnt);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_REJECT,
				     DETECT_CLASS_ART_CLIPPING), 1);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL, UINT32_MAX), 0);
	assert_true(cnt.n_invalid_samples >= 2);
	detect_free(d);
	evlog_free(&log);

	/* NaN straight into the detector, inside a burst */
	{
		float *y = xalloc(n);

		rng_state = 81;
		add_noise(y, n, 1, 1.5);
		add_noise(y + 4000, 500, 1, 20.0);
		y[4200] = NAN;
		assert_int_equal(detect_new(&cfg, 1, 1000, &d), 0);
		assert_true(detect_process(d, y, n, 0, evlog_sink, &log) >= 0);
		assert_true(detect_finish(d, evlog_sink, &log) >= 0);
		detect_get_counters(d, &cnt);
		assert_int_equal(cnt.n_invalid_samples, 1);
		assert_int_equal(evlog_count(&log, DETECT_EVENT_REJECT,
					     DETECT_CLASS_ART_CLIPPING), 1);
		detect_free(d);
		evlog_free(&log);
		free(y);
	}
	free(x);
}

/* A burst locked to the mains period is an artefact; a noise burst of the
 * same length and size is not. (The DSP notch is off here, as when mains
 * detection has not decided yet or the hum is off-frequency.) */
static void test_mains_burst_rejected(void **state)
{
	const size_t n = 8000;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	float *x = xalloc(n);
	size_t i;

	(void)state;
	rng_state = 90;
	add_noise(x, n, 1, 1.5);
	for (i = 3000; i < 3300; i++)
		x[i] += (float)(40.0 * sin(2 * M_PI * 50.0 * i / 1000) +
				10.0 * sin(2 * M_PI * 150.0 * i / 1000));
	add_noise(x + 5500, 300, 1, 20.0);
	detect_config_default(&cfg);
	d = run(&cfg, x, n, 1, 1000, DSP_MAINS_OFF, 0, 1000, &log);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_REJECT,
				     DETECT_CLASS_ART_MAINS), 1);
	assert_true(evlog_the_final(&log)->onset_index >= 5480);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* Four channels: the same potential at the same size everywhere is
 * common-mode; decaying across the array it is one merged event; two
 * channels 2 ms apart merge, 20 ms apart they do not. The updates of a
 * merged event keep its largest channel (check_updates). */
static void test_common_mode_and_merge(void **state)
{
	const size_t n = 12000, nch = 4;
	static const double gains[4] = { 1.0, 0.7, 0.5, 0.4 };	/* 2.5x */
	struct detect_counters cnt;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	float *x = xalloc(n * nch);
	size_t i, c, seen = 0;

	(void)state;
	load_mups();
	rng_state = 100;
	add_noise(x, n * nch, 1, 5.0);
	for (c = 0; c < nch; c++) {
		inject(x + c, nch, 2000, 1, 150.0, 1);	/* common mode */
		inject(x + c, nch, 4000, 1, 150.0 * gains[c], 1);
	}
	inject(x + 0, nch, 6000, 2, 150.0, 1);	/* ch0 + ch2, 2 ms */
	inject(x + 2, nch, 6008, 2, 100.0, 1);
	inject(x + 1, nch, 8000, 3, 150.0, 1);	/* ch1, ch3 20 ms later */
	inject(x + 3, nch, 8080, 3, 150.0, 1);
	detect_config_default(&cfg);
	d = run(&cfg, x, n, nch, 4000, DSP_MAINS_AUTO, 0, 777, &log);
	detect_get_counters(d, &cnt);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_REJECT,
				     DETECT_CLASS_ART_COMMON_MODE), 1);
	assert_int_equal(cnt.n_by_class[DETECT_CLASS_ART_COMMON_MODE], 1);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL, UINT32_MAX), 4);
	for (i = 0; i < log.n; i++) {
		const struct detect_event *e = &log.ev[i];

		if (e->type != DETECT_EVENT_FINAL)
			continue;
		check_updates(&log, i, 0);
		if (e->onset_index < 5000) {
			assert_int_equal(e->channel_mask, 0xf);
			assert_int_equal(e->channel, 0);
			assert_true(e->flags & DETECT_EVF_MERGED);
			seen |= 1;
		} else if (e->onset_index < 7000) {
			assert_int_equal(e->channel_mask, 0x5);
			assert_int_equal(e->channel, 0);
			seen |= 2;
		} else if (e->onset_index < 8040) {
			assert_int_equal(e->channel_mask, 0x2);
			seen |= 4;
		} else {
			assert_int_equal(e->channel_mask, 0x8);
			seen |= 8;
		}
	}
	assert_int_equal(seen, 0xf);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* A common-mode artefact whose copy on one channel rises slowly: while
 * that copy is still rising its partial peak must not make the event look
 * like a twitch, for an update record that the reject then takes back. */
static void test_common_mode_slow_copy_no_update(void **state)
{
	const size_t n = 12000, nch = 4, at = 4000;
	struct evlog log = { 0 };
	struct detect_config cfg;
	struct detector *d;
	float *x = xalloc(n * nch);
	size_t c, i, j, n_rej = 0;

	(void)state;
	load_mups();
	rng_state = 101;
	add_noise(x, n * nch, 1, 1.0);
	for (c = 0; c < nch; c++)
		if (c != 1)
			inject(x + c, nch, at, 1, 150.0 - 5.0 * (double)c, 1);
	/* channel 1: 150 Hz, its amplitude ramping to 50 uV over 30 ms (the
	 * others' filtered peaks are about 50 uV) */
	for (i = 0; i < 120; i++)
		x[(at + i) * nch + 1] += (float)(50.0 * (double)i / 120.0 *
						 sin(2.0 * M_PI * 150.0 *
						     (double)i / 4000.0));
	detect_config_default(&cfg);
	d = run(&cfg, x, n, nch, 4000, DSP_MAINS_AUTO, 0, 777, &log);
	for (i = 0; i < log.n; i++) {
		const struct detect_event *e = &log.ev[i];

		if (e->type != DETECT_EVENT_REJECT ||
		    e->event_class != DETECT_CLASS_ART_COMMON_MODE)
			continue;
		n_rej++;
		for (j = 0; j < log.n; j++)
			assert_false(log.ev[j].type == DETECT_EVENT_UPDATE &&
				     log.ev[j].id == e->id);
	}
	assert_true(n_rej >= 1);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL, UINT32_MAX), 0);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* ---------------------------------------- the live records' contract */

/* @n scans at 1 kHz of 1.5-uV noise with emgdb potential 0 at 30 uV at
 * scan 3000 (its 10% onset in @ret_truth), through the default DSP chain:
 * the detector's input, to free. */
static float *one_potential_filtered(size_t n, size_t *ret_truth)
{
	struct dsp_config dc;
	struct dsp_chain c;
	float *x = xalloc(n), *y = xalloc(n);

	load_mups();
	rng_state = 150;
	add_noise(x, n, 1, 1.5);
	*ret_truth = inject(x, 1, 3000, 0, 30.0, 0);
	dsp_config_default(&dc);
	assert_int_equal(dsp_chain_init(&c, &dc, 1000), 0);
	dsp_chain_process(&c, x, y, n, 1, NULL);
	free(x);
	return y;
}

/* Every FINAL of @l has an UPDATE before it that says what it says. */
static void assert_finals_announced(const struct evlog *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->ev[i].type == DETECT_EVENT_FINAL)
			check_updates(l, i, 0);
}

/* A twitch on all three channels of a 3-channel device (100, 35 and 30 uV:
 * 3x apart, not common mode, and its FINAL says so) gets an update that
 * says what the final says. (Once, an update saw only the channels already
 * between potentials; one channel alone looked "common mode" (min == max),
 * and the update was dropped for good.) */
static void test_cm_partial_view(void **state)
{
	const size_t rate = 1000, n = 6 * rate, nch = 3;
	int k;

	(void)state;
	load_mups();
	for (k = 0; k < 2; k++) {
		struct detect_config cfg;
		struct evlog log = { 0 };
		float *x = xalloc(n * nch);

		rng_state = 300 + k;
		add_noise(x, n * nch, 1, 1.5);
		inject(x + 0, nch, 4000, k, 100.0, 0);
		inject(x + 1, nch, 4000, k, 35.0, 0);
		inject(x + 2, nch, 4001, k, 30.0, 0);
		detect_config_default(&cfg);
		detect_free(run(&cfg, x, n, nch, rate, DSP_MAINS_AUTO, 0, 64, &log));
		assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
					     DETECT_CLASS_FASCICULATION), 1);
		assert_finals_announced(&log);
		evlog_free(&log);
		free(x);
	}
}

/* One NaN on channel 0 30 ms before a potential (inside
 * invalid_guard_ms): channel 0's episode is flagged invalid from its onset,
 * so the event is a clipping artefact, and channel 1's copy, ending first,
 * must not send an UPDATE "fasciculation" (it once did). */
static void test_update_despite_invalid_channel(void **state)
{
	const size_t rate = 1000, n = 6 * rate, nch = 2;
	int k;

	(void)state;
	load_mups();
	for (k = 0; k < N_MUP; k++) {
		struct detect_config cfg;
		struct evlog log = { 0 };
		float *x = xalloc(n * nch), *y;
		uint8_t *fl;
		struct detector *d;

		rng_state = 400 + k;
		add_noise(x, n * nch, 1, 1.5);
		inject(x + 0, nch, 4000, k, 40.0, 0);
		inject(x + 1, nch, 3999, k, 25.0, 0);
		filter_all(x, n, nch, rate, DSP_MAINS_AUTO, 0, &y, &fl);
		y[3970 * nch + 0] = NAN;	/* after the filters: the detector sees it */
		detect_config_default(&cfg);
		d = detect_all(&cfg, y, fl, n, nch, rate, 1, &log);
		assert_int_equal(evlog_count(&log, DETECT_EVENT_REJECT,
					     DETECT_CLASS_ART_CLIPPING), 1);
		assert_int_equal(evlog_count(&log, DETECT_EVENT_UPDATE, UINT32_MAX), 0);
		detect_free(d);
		evlog_free(&log);
		free(x);
		free(y);
		free(fl);
	}
}

/* Three 130-Hz bursts of 60 uV (30 ms, 55 ms apart: a multiplet whose
 * potentials cover < 50% of it), then an echo at 15 uV (0.25x: below
 * potential_min_ratio, neither counted nor lengthening): the last UPDATE
 * says what the FINAL says (once, the echo still changed the class to
 * "phasic" with no update after it). */
static void test_echo_changes_class_silently(void **state)
{
	const size_t n = 5000, t0 = 3000;
	static const size_t at[4] = { 0, 85, 170, 250 };
	static const size_t len[4] = { 30, 30, 30, 50 };
	static const double amp[4] = { 60.0, 60.0, 60.0, 15.0 };
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	float *x = xalloc(n);
	size_t b, i;

	(void)state;
	rng_state = 600;
	add_noise(x, n, 1, 1.5);
	for (b = 0; b < 4; b++)
		for (i = 0; i < len[b]; i++)
			x[t0 + at[b] + i] += (float)(amp[b] *
				sin(2.0 * M_PI * 130.0 * (double)i / 1000.0));
	detect_config_default(&cfg);
	assert_int_equal(detect_new(&cfg, 1, 1000, &d), 0);
	for (i = 0; i < n; i++) {
		log.now = i;
		assert_true(detect_process(d, x + i, 1, i, evlog_sink, &log) >= 0);
	}
	assert_true(detect_finish(d, evlog_sink, &log) >= 0);
	assert_finals_announced(&log);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* The stream ends right after a potential's UPDATE, in its quiet tail
 * (update_after_ms 2 < refractory_ms 4): detect_finish() ends the potential
 * where it went quiet, as the UPDATE said (once, at the last sample). */
static void test_finish_in_quiet_tail(void **state)
{
	const size_t n = 5000;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	size_t i, truth;
	float *y = one_potential_filtered(n, &truth);

	(void)state;
	detect_config_default(&cfg);
	assert_int_equal(detect_new(&cfg, 1, 1000, &d), 0);
	for (i = 0; i < n; i++) {
		log.now = i;
		assert_true(detect_process(d, y + i, 1, i, evlog_sink, &log) >= 0);
		if (log.n && log.ev[log.n - 1].type == DETECT_EVENT_UPDATE)
			break;	/* the recording stops here */
	}
	assert_true(detect_finish(d, evlog_sink, &log) >= 0);
	assert_finals_announced(&log);
	detect_free(d);
	evlog_free(&log);
	free(y);
}

/* A 150-uV potential on a leg channel and its 0.3x copy on a channel
 * that is not: the leg channel's LM track fires on the one potential and is
 * far too short for an LM (< lm_min_ms), so the final is a fasciculation of
 * at most 30 ms, as on a plain channel (once, the LM's end stretched it into
 * myoclonus of 60-100 ms). */
static void test_leg_channel_twitch(void **state)
{
	const size_t rate = 1000, n = 6 * rate, nch = 2;
	int k;

	(void)state;
	load_mups();
	for (k = 0; k < N_MUP; k++) {
		struct detect_config cfg;
		struct evlog log = { 0 };
		float *x = xalloc(n * nch);
		const struct detect_event *f;

		rng_state = 700 + k;
		add_noise(x, n * nch, 1, 2.0);
		inject(x + 0, nch, 4000, k, 150.0, 0);
		inject(x + 1, nch, 4001, k, 45.0, 0);
		detect_config_default(&cfg);
		cfg.lm_channel_mask = 1;
		detect_free(run(&cfg, x, n, nch, rate, DSP_MAINS_AUTO, 0, 1, &log));
		f = evlog_the_final(&log);
		assert_int_equal(f->event_class, DETECT_CLASS_FASCICULATION);
		assert_true(f->duration_samples <= 30);
		evlog_free(&log);
		free(x);
	}
}

/* ------------------------------------------------------------ PLM */

static struct detector *plm_detector(int wasm)
{
	struct detect_config cfg;
	struct detector *d;

	detect_config_default(&cfg);
	cfg.lm_channel_mask = 3;
	if (wasm) {
		cfg.plm_min_imi_s = 10.0;
		cfg.plm_short_imi_breaks = 1;
	}
	assert_int_equal(detect_new(&cfg, 2, 1000, &d), 0);
	return d;
}

/* LM onsets in seconds (mask: leg); returns the series count */
static uint64_t plm_run(int wasm, const double *onset_s, const int *leg,
			size_t n, struct detect_sleep_stats *ret)
{
	struct detector *d = plm_detector(wasm);
	size_t i;

	for (i = 0; i < n; i++)
		detect_plm_add(d, (uint64_t)llround(onset_s[i] * 1000),
			       leg ? (uint64_t)leg[i] : 1);
	detect_get_sleep_stats(d, ret);
	detect_free(d);
	return ret->n_plm_series;
}

static void test_plm_rules(void **state)
{
	struct detect_sleep_stats s;
	static const double every20[] = { 0, 20, 40, 60 };
	static const double every100[] = { 0, 100, 200, 300 };
	static const double imi5[] = { 0, 5.0, 10.0, 15.0 };
	static const double imi4_9[] = { 0, 4.9, 9.8, 14.7 };
	static const double imi90[] = { 0, 90.0, 180.0, 270.0 };
	static const double imi90_1[] = { 0, 90.1, 180.2, 270.3 };
	static const double short_in[] = { 0, 20, 24.9, 40, 60 };
	static const double bilat[] = { 0, 4.9, 20, 24.9, 40, 60 };
	static const int bilat_leg[] = { 1, 2, 1, 2, 1, 1 };
	static const double bilat5[] = { 0, 5.0, 20, 40 };
	static const int bilat5_leg[] = { 1, 2, 1, 1 };
	static const double five[] = { 0, 20, 40, 60, 80 };

	(void)state;
	assert_int_equal(plm_run(0, every20, NULL, 4, &s), 1);
	assert_int_equal(s.n_plm, 4);
	assert_int_equal(s.n_lm, 4);
	assert_int_equal(plm_run(0, five, NULL, 5, &s), 1);
	assert_int_equal(s.n_plm, 5);
	assert_int_equal(plm_run(0, every100, NULL, 4, &s), 0);
	assert_int_equal(s.n_plm, 0);
	/* interval bounds are inclusive: 5.0 and 90.0 s count */
	assert_int_equal(plm_run(0, imi5, NULL, 4, &s), 1);
	assert_int_equal(plm_run(0, imi90, NULL, 4, &s), 1);
	assert_int_equal(plm_run(0, imi90_1, NULL, 4, &s), 0);
	assert_int_equal(plm_run(0, imi4_9, NULL, 4, &s), 0);
	/* AASM: an LM 4.9 s after the last is not part of the series and
	 * does not end it */
	assert_int_equal(plm_run(0, short_in, NULL, 5, &s), 1);
	assert_int_equal(s.n_lm, 5);
	assert_int_equal(s.n_plm, 4);
	/* WASM 2016: 10-90 s, and a shorter interval ends the series */
	assert_int_equal(plm_run(1, short_in, NULL, 5, &s), 0);
	assert_int_equal(plm_run(1, every20, NULL, 4, &s), 1);
	assert_int_equal(plm_run(1, imi5, NULL, 4, &s), 0);
	/* bilateral LMs < 5 s apart count once */
	assert_int_equal(plm_run(0, bilat, bilat_leg, 6, &s), 1);
	assert_int_equal(s.n_lm, 4);
	assert_int_equal(plm_run(0, bilat5, bilat5_leg, 4, &s), 1);
	assert_int_equal(s.n_lm, 4);	/* 5.0 s: two LMs */
}

/* LMs made of EMG bursts through the whole chain: 4 LMs 20 s apart are a
 * series, 100 s apart they are not. */
static void test_plm_end_to_end(void **state)
{
	static const double gap_s[2] = { 20.0, 100.0 };
	size_t k;

	(void)state;
	for (k = 0; k < 2; k++) {
		size_t n = (size_t)((10 + 3 * gap_s[k] + 10) * 1000), i;
		struct detect_sleep_stats s;
		struct detect_config cfg;
		struct evlog log = { 0 };
		struct detector *d;
		float *x = xalloc(n);

		rng_state = 110 + k;
		add_noise(x, n, 1, 2.0);
		for (i = 0; i < 4; i++)
			add_noise(x + (size_t)((10 + i * gap_s[k]) * 1000),
				  1500, 1, 20.0);
		detect_config_default(&cfg);
		cfg.lm_channel_mask = 1;
		d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 4096, &log);
		detect_get_sleep_stats(d, &s);
		assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
				DETECT_CLASS_LIMB_MOVEMENT), 4);
		assert_int_equal(s.n_lm, 4);
		assert_int_equal(s.n_plm_series, k == 0 ? 1 : 0);
		assert_int_equal(s.n_plm, k == 0 ? 4 : 0);
		detect_free(d);
		evlog_free(&log);
		free(x);
	}
}

/* ------------------------------------------------------------ rates */

static void test_rates(void **state)
{
	const size_t n = 360000;	/* 6 min */
	struct detect_config cfg;
	struct detect_rates r;
	struct detector *d;
	float *x = xalloc(n), *y = xalloc(n);
	struct dsp_config dc;
	struct dsp_chain c;
	size_t i;

	(void)state;
	load_mups();
	rng_state = 120;
	add_noise(x, n, 1, 1.5);
	for (i = 0; i < 30; i++)	/* 30 in the first minute */
		inject(x, 1, 1000 + i * 2000, (int)(i % N_MUP), 30.0, 0);
	dsp_config_default(&dc);
	assert_int_equal(dsp_chain_init(&c, &dc, 1000), 0);
	dsp_chain_process(&c, x, y, n, 1, NULL);
	detect_config_default(&cfg);
	assert_int_equal(detect_new(&cfg, 1, 1000, &d), 0);
	assert_int_equal(detect_get_rates(d, 1, &r), -EINVAL);
	/* at 60.5 s: 30 in the last minute */
	assert_true(detect_process(d, y, 60500, 0, NULL, NULL) >= 0);
	assert_int_equal(detect_get_rates(d, 0, &r), 0);
	print_message("rates at 60.5 s: %.2f %.2f %.2f /min\n", r.per_min_1,
		      r.per_min_5, r.per_min_15);
	assert_true(fabs(r.per_min_1 - 30.0) <= 1.0);
	assert_true(fabs(r.per_min_5 - 30.0 * 60 / 60.5) <= 0.5);
	assert_true(fabs(r.per_min_15 - r.per_min_5) < 1e-3);
	/* at 3 min: none in the last minute, 30 over 3 minutes */
	assert_true(detect_process(d, y + 60500, 119500, 60500, NULL,
				   NULL) >= 0);
	assert_int_equal(detect_get_rates(d, 0, &r), 0);
	assert_true(r.per_min_1 == 0.0f);
	assert_true(fabs(r.per_min_5 - 10.0) <= 0.2);
	assert_true(fabs(r.per_min_15 - 10.0) <= 0.2);
	/* at 6 min: out of the 5-min window, 30 over 6 min in the 15 */
	assert_true(detect_process(d, y + 180000, n - 180000, 180000, NULL,
				   NULL) >= 0);
	assert_int_equal(detect_get_rates(d, 0, &r), 0);
	assert_true(r.per_min_5 == 0.0f);
	assert_true(fabs(r.per_min_15 - 5.0) <= 0.1);
	assert_true(fabs(r.covered_s - 360.0) < 0.1);
	detect_free(d);
	free(x);
	free(y);
}

/* ------------------------------------------------------------ epochs */

struct eplog {
	size_t n;
	struct detect_epoch ep[64];
};

static void eplog_sink(const struct detect_epoch *ep, void *userdata)
{
	struct eplog *l = userdata;

	if (l->n < 64)
		l->ep[l->n++] = *ep;
}

/* One channel @x (@n samples at @rate) through a default filter chain,
 * then the detector with @cfg to its end: events into @log, epochs into @el. */
static struct detector *run_epochs(const struct detect_config *cfg, const float *x, size_t n,
				   double rate, struct evlog *log, struct eplog *el)
{
	struct dsp_config dc;
	struct dsp_chain c;
	struct detector *d;
	float *y = xalloc(n);

	dsp_config_default(&dc);
	assert_int_equal(dsp_chain_init(&c, &dc, rate), 0);
	dsp_chain_process(&c, x, y, n, 1, NULL);
	assert_int_equal(detect_new(cfg, 1, rate, &d), 0);
	detect_set_epoch_sink(d, eplog_sink, el);
	assert_true(detect_process(d, y, n, 0, evlog_sink, log) >= 0);
	assert_true(detect_finish(d, evlog_sink, log) >= 0);
	free(y);
	return d;
}

/*
 * Potentials that count apart are those >= potential_min_ratio x the
 * largest, past the DETECT_MAX_POT whose peaks are kept too: 20 of 40
 * here, the other 20 being ringing at a fifth of the size. (Every one
 * past the 32nd counted: 24.) A late phase that reopens a potential does
 * not count it twice.
 */
static void test_potentials_past_the_kept(void **state)
{
	struct detect_config cfg;
	struct detector *d;
	struct detect_chan *ch;
	struct detect_result r;
	uint32_t k;

	(void)state;
	detect_config_default(&cfg);
	assert_true(cfg.potential_min_ratio > 0.2 && cfg.potential_min_ratio <= 0.5);
	assert_int_equal(detect_new(&cfg, 1, 4000, &d), 0);
	ch = &d->ch[0];
	memset(&r, 0, sizeof(r));
	for (k = 0; k < 40; k++) {
		r.cur_pot = k;
		r.n_pot = k + 1;
		if (k < DETECT_MAX_POT)
			r.pot_peak[k] = 0.0f;
		ch->pot_peak = k % 2 ? 2.0 : 10.0;
		ch->pot_onset = 100 * (uint64_t)k;
		detect_potential_apply(d, ch, &r, ch->pot_onset + 10);
		if (k == 36)	/* a late phase of it: reopened, applied again */
			detect_potential_apply(d, ch, &r, ch->pot_onset + 20);
	}
	assert_int_equal(detect_n_potentials(d, &r), 20);
	detect_free(d);
}

/*
 * A train of potentials 50 ms apart (one motor unit firing at 20 Hz) is a
 * burst, not fragmentary myoclonus: 3 s of it is phasic, 7 s tonic, and
 * neither counts as a twitch or in the FM index (a train of any length was
 * one "multiplet", all its potentials fragmentary myoclonus). A short
 * sparse group (four potentials 50 ms apart, 170 ms) is still a multiplet. (The count of
 * potentials in a long train is only bounded below: the high-pass filter
 * rings between them, and some ringing is counted.)
 */
static void test_long_train_is_a_burst(void **state)
{
	const size_t rate = 4000, n = 40 * rate;
	static const size_t n_pot[2] = { 60, 140 };
	static const uint32_t cls[2] = { DETECT_CLASS_PHASIC, DETECT_CLASS_TONIC };
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct eplog el = { 0 };
	struct detector *d;
	float *x = xalloc(n);
	size_t i, k, j, found[2] = { 0 }, triplet = 0;
	uint32_t fm = 0, tw = 0;

	(void)state;
	load_mups();
	rng_state = 132;
	add_noise(x, n, 1, 3.0);
	for (j = 0; j < 2; j++)
		for (k = 0; k < n_pot[j]; k++)
			inject(x, 1, (2 + 12 * j) * rate + k * rate / 20, 0, 60.0, 1);
	for (k = 0; k < 4; k++)
		inject(x, 1, 30 * rate + k * rate / 20, 0, 60.0, 1);
	detect_config_default(&cfg);
	d = run_epochs(&cfg, x, n, rate, &log, &el);
	for (i = 0; i < log.n; i++) {
		const struct detect_event *e = &log.ev[i];

		if (e->type != DETECT_EVENT_FINAL)
			continue;
		for (j = 0; j < 2; j++) {
			size_t from = (2 + 12 * j) * rate, to = from + n_pot[j] * rate / 20;

			if (e->onset_index + rate / 10 < from || e->onset_index >= to)
				continue;
			print_message("train of %zu: class %u, %.2f s, %u potentials\n",
				      n_pot[j], e->event_class,
				      (double)e->duration_samples / rate, e->n_potentials);
			assert_int_equal(e->event_class, cls[j]);
			assert_true(e->n_potentials >= n_pot[j] - 2);
			found[j]++;
		}
		if (e->onset_index + rate / 10 >= 30 * rate &&
		    e->onset_index < 31 * rate) {
			print_message("four 50 ms apart: class %u, %.0f ms, %u potentials\n",
				      e->event_class, 1000.0 * (double)e->duration_samples / rate,
				      e->n_potentials);
			assert_true(e->duration_samples > rate * 150 / 1000);
			assert_int_equal(e->event_class, DETECT_CLASS_MULTIPLET);
			assert_true(e->n_potentials >= 4);
			triplet++;
		}
	}
	assert_int_equal(found[0], 1);
	assert_int_equal(found[1], 1);
	assert_int_equal(triplet, 1);
	/* epoch 0 (0-30 s) holds both trains: no twitch, no FM potential */
	assert_true(el.n >= 1);
	fm = el.ep[0].n_fm_potentials;
	tw = el.ep[0].n_twitches;
	assert_int_equal(tw, 0);
	assert_int_equal(fm, 0);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/*
 * Short epochs: 3 s of them are held open about 12 s, so 6 are in flight
 * at once; every twitch must still be counted in its epoch. (A ring of 4
 * epochs per channel reused an open epoch's slot: 40 of 236 counted.) An
 * epoch too short for the ring is refused, naming epoch_s.
 */
static void test_short_epochs_count_everything(void **state)
{
	const size_t rate = 1000, n = 60 * rate;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct eplog el = { 0 };
	struct detector *d;
	const char *field = NULL;
	float *x = xalloc(n);
	size_t i, finals, counted = 0;

	(void)state;
	load_mups();
	rng_state = 133;
	add_noise(x, n, 1, 2.0);
	for (i = 1000; i + 100 < n; i += 700)
		inject(x, 1, i, (int)(i % N_MUP), 60.0, 0);
	detect_config_default(&cfg);
	cfg.epoch_s = 3.0;
	cfg.efm_window_min = 1.0;
	assert_int_equal(detect_config_check(&cfg, 1, rate, &field), 0);
	d = run_epochs(&cfg, x, n, rate, &log, &el);
	finals = evlog_count(&log, DETECT_EVENT_FINAL, DETECT_CLASS_FASCICULATION) +
		 evlog_count(&log, DETECT_EVENT_FINAL, DETECT_CLASS_DOUBLET) +
		 evlog_count(&log, DETECT_EVENT_FINAL, DETECT_CLASS_MULTIPLET) +
		 evlog_count(&log, DETECT_EVENT_FINAL, DETECT_CLASS_MYOCLONUS);
	for (i = 0; i < el.n; i++)
		counted += el.ep[i].n_twitches;
	print_message("3-s epochs: %zu epochs, %zu twitches counted of %zu\n", el.n, counted,
		      finals);
	assert_true(finals > 70);
	assert_int_equal(el.n, 20);
	assert_int_equal(counted, finals);
	detect_free(d);
	/* half-second epochs would need 26 open at once */
	cfg.epoch_s = 0.5;
	cfg.mini_epoch_s = 0.5;
	cfg.efm_window_min = 0.1;
	assert_int_equal(detect_config_check(&cfg, 1, rate, &field), -EINVAL);
	assert_string_equal(field, "epoch_s");
	evlog_free(&log);
	free(x);
}

/*
 * At a fractional rate an epoch is not a whole number of mini-epochs
 * (30 s at 1000.1 Hz: 30003 samples, ten of 3000 or 3001): each epoch's
 * ten tile it exactly. A burst from 29.5 to 30.6 s marks the last of
 * epoch 0 and the first of epoch 1. (Mini-epochs of 3000 samples counted
 * from the start gave epoch 0 an eleventh, bit 10, and epoch 1 nothing.)
 */
static void test_epochs_fractional_rate(void **state)
{
	const double rate = 1000.1;
	const size_t n = 70000;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct eplog el = { 0 };
	struct detector *d;
	float *x = xalloc(n);

	(void)state;
	rng_state = 131;
	add_noise(x, n, 1, 1.5);
	add_noise(x + 29503, 1100, 1, 15.0);
	detect_config_default(&cfg);
	d = run_epochs(&cfg, x, n, rate, &log, &el);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL, DETECT_CLASS_PHASIC), 1);
	assert_true(el.n >= 2);
	assert_int_equal(el.ep[1].start_index, 30003);
	assert_int_equal(el.ep[0].phasic_mini_mask, 1u << 9);
	assert_int_equal(el.ep[0].n_phasic_mini, 1);
	assert_int_equal(el.ep[1].phasic_mini_mask, 1u << 0);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* RSWA phasic: 0.4-s bursts at 10x background in mini-epochs 0,2,4,6,8 of
 * epoch 1 (5 of 10: positive) and 1,3,5,7 of epoch 2 (4: negative). */
static void test_epochs_rswa(void **state)
{
	const size_t n = 100000;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct eplog el = { 0 };
	struct detector *d;
	float *x = xalloc(n);
	size_t i;

	(void)state;
	rng_state = 130;
	add_noise(x, n, 1, 1.5);
	for (i = 0; i < 10; i += 2)
		add_noise(x + 30000 + i * 3000 + 1300, 400, 1, 15.0);
	for (i = 1; i < 8; i += 2)
		add_noise(x + 60000 + i * 3000 + 1300, 400, 1, 15.0);
	detect_config_default(&cfg);
	d = run_epochs(&cfg, x, n, 1000, &log, &el);
	assert_int_equal(el.n, 4);	/* 0-30, 30-60, 60-90, 90-100 s */
	assert_int_equal(el.ep[0].phasic_mini_mask, 0);
	assert_int_equal(el.ep[1].start_index, 30000);
	assert_int_equal(el.ep[1].n_mini, 10);
	assert_int_equal(el.ep[1].phasic_mini_mask, 0x155);
	assert_int_equal(el.ep[1].n_phasic_mini, 5);
	assert_true(el.ep[1].flags & DETECT_EPF_RSWA_PHASIC);
	assert_int_equal(el.ep[2].phasic_mini_mask, 0xaa);
	assert_false(el.ep[2].flags & DETECT_EPF_RSWA_PHASIC);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
				     DETECT_CLASS_PHASIC), 9);
	detect_free(d);
	evlog_free(&log);
	free(x);
}

/* EFM: >= 5 potentials a minute over 20 minutes; 6/min sets the flag once
 * 20 minutes are covered, 4/min never does. */
static void test_efm(void **state)
{
	static const double per_min[2] = { 6.0, 4.0 };
	const size_t n = 22 * 60000;
	size_t k;

	(void)state;
	load_mups();
	for (k = 0; k < 2; k++) {
		struct detect_config cfg;
		struct eplog el = { 0 };
		struct dsp_config dc;
		struct dsp_chain c;
		struct detector *d;
		float *x = xalloc(n), *y = xalloc(n);
		size_t i, step = (size_t)(60000 / per_min[k]);

		rng_state = 140 + k;
		add_noise(x, n, 1, 1.5);
		for (i = 2000; i + 100 < n; i += step)
			inject(x, 1, i, (int)((i / step) % N_MUP), 30.0, 0);
		dsp_config_default(&dc);
		assert_int_equal(dsp_chain_init(&c, &dc, 1000), 0);
		dsp_chain_process(&c, x, y, n, 1, NULL);
		detect_config_default(&cfg);
		assert_int_equal(detect_new(&cfg, 1, 1000, &d), 0);
		detect_set_epoch_sink(d, eplog_sink, &el);
		assert_true(detect_process(d, y, n, 0, NULL, NULL) >= 0);
		assert_true(detect_finish(d, NULL, NULL) >= 0);
		assert_int_equal(el.n, 44);
		for (i = 0; i < el.n; i++) {
			int want = k == 0 && i >= 39;

			assert_true(fabs(el.ep[i].fmi_per_min - per_min[k]) <=
				    2.0 + 1e-6);
			assert_int_equal(!!(el.ep[i].flags & DETECT_EPF_EFM),
					 want);
			if (i >= 39)
				assert_true(fabs(el.ep[i].fmi_window_per_min -
						 per_min[k]) <= 0.2);
		}
		detect_free(d);
		free(x);
		free(y);
	}
}

/* ------------------------------------------------------------ streaming */

/* Fed one scan at a time: the onset record comes within 10 ms of the
 * potential's onset; an update record, within 10 ms of its end, says what
 * the final record says 60 ms later (after group_gap_ms, for a second
 * potential); all three with the same id. */
static void test_onset_notification(void **state)
{
	const size_t n = 5000;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	size_t i, truth, last, sooner;
	struct evlog late = { 0 };
	float *y = one_potential_filtered(n, &truth);

	(void)state;
	detect_config_default(&cfg);
	assert_int_equal(detect_new(&cfg, 1, 1000, &d), 0);
	for (i = 0; i < n; i++) {
		log.now = i;
		assert_true(detect_process(d, y + i, 1, i, evlog_sink,
					   &log) >= 0);
	}
	assert_int_equal(log.n, 3);
	assert_int_equal(log.ev[0].type, DETECT_EVENT_ONSET);
	assert_int_equal(log.ev[0].event_class, DETECT_CLASS_NONE);
	assert_int_equal(log.ev[1].type, DETECT_EVENT_UPDATE);
	assert_int_equal(log.ev[2].type, DETECT_EVENT_FINAL);
	assert_true(log.ev[0].id == log.ev[1].id && log.ev[1].id == log.ev[2].id);
	assert_int_equal(log.ev[1].event_class, log.ev[2].event_class);
	assert_int_equal(log.ev[1].event_class, DETECT_CLASS_FASCICULATION);
	assert_true(log.ev[1].onset_index == log.ev[2].onset_index);
	assert_int_equal(log.ev[1].duration_samples, log.ev[2].duration_samples);
	assert_true(log.ev[1].peak_uv == log.ev[2].peak_uv);
	last = log.ev[2].onset_index + log.ev[2].duration_samples - 1;
	print_message("onset record %ld ms after the onset; update %ld ms, final %ld ms "
		      "after the last sample\n", (long)log.seen_at[0] - (long)truth,
		      (long)(log.seen_at[1] - last), (long)(log.seen_at[2] - last));
	assert_true(log.seen_at[0] <= truth + 10);
	assert_true(log.seen_at[1] > last && log.seen_at[1] <= last + 10);
	assert_true(log.seen_at[2] >= last + 60);
	detect_free(d);

	/* with update_after_ms = refractory_ms the update waits for the
	 * potential's end: the same record, update_after_ms sooner by default */
	sooner = (size_t)(cfg.refractory_ms - cfg.update_after_ms);	/* 1 kHz */
	cfg.update_after_ms = cfg.refractory_ms;
	assert_int_equal(detect_new(&cfg, 1, 1000, &d), 0);
	for (i = 0; i < n; i++) {
		late.now = i;
		assert_true(detect_process(d, y + i, 1, i, evlog_sink, &late) >= 0);
	}
	assert_int_equal(late.n, 3);
	assert_int_equal(late.ev[1].type, DETECT_EVENT_UPDATE);
	assert_true(late.ev[1].onset_index == log.ev[1].onset_index);
	assert_int_equal(late.ev[1].duration_samples, log.ev[1].duration_samples);
	print_message("update at the potential's end: %ld ms after the last sample\n",
		      (long)(late.seen_at[1] - last));
	assert_true(sooner > 0 && late.seen_at[1] == log.seen_at[1] + sooner);
	detect_free(d);
	evlog_free(&late);
	evlog_free(&log);
	free(y);
}

/* Results do not depend on how the stream is cut into blocks. */
static void test_block_size_independence(void **state)
{
	static const size_t blocks[3] = { 1, 7, 4096 };
	struct evlog logs[3] = { { 0 } };
	struct detect_config cfg;
	size_t n, b, i;

	(void)state;
	load_mups();
	detect_config_default(&cfg);
	for (b = 0; b < 3; b++) {
		float *x = load_biosppy(&n);
		struct detector *d;

		n = 40000;
		for (i = 1000; i < n - 100; i += 700)
			inject(x, 1, i, (int)(i % N_MUP), 25.0, 0);
		d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, blocks[b],
			&logs[b]);
		detect_free(d);
		free(x);
	}
	assert_true(logs[0].n > 100);
	for (b = 1; b < 3; b++) {
		assert_int_equal(logs[b].n, logs[0].n);
		for (i = 0; i < logs[0].n; i++)
			assert_memory_equal(&logs[b].ev[i], &logs[0].ev[i],
					    sizeof(logs[0].ev[i]));
	}
	for (b = 0; b < 3; b++)
		evlog_free(&logs[b]);
}

/* Everything the detector puts out, as a list of words: the fast path
 * (detect_tile) must give the reference (detect_scan) to the bit. */
struct outlog {
	size_t n, cap;
	uint64_t *w;
};

static void outlog_put(struct outlog *l, uint64_t w)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->w = realloc(l->w, l->cap * sizeof(*l->w));
		assert_non_null(l->w);
	}
	l->w[l->n++] = w;
}

static void outlog_float(struct outlog *l, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	outlog_put(l, u);
}

static void outlog_event(const struct detect_event *ev, void *userdata)
{
	struct outlog *l = userdata;

	outlog_put(l, ev->id);
	outlog_put(l, ev->onset_index);
	outlog_put(l, ev->channel_mask);
	outlog_put(l, ev->type);
	outlog_put(l, ev->event_class);
	outlog_put(l, ev->channel);
	outlog_put(l, ev->n_potentials);
	outlog_put(l, ev->duration_samples);
	outlog_put(l, ev->flags);
	outlog_float(l, ev->duration_ms);
	outlog_float(l, ev->peak_uv);
	outlog_float(l, ev->energy_uv2);
	outlog_float(l, ev->snr);
	outlog_float(l, ev->noise_floor_uv);
	outlog_float(l, ev->mean_abs_uv);
}

static void outlog_epoch(const struct detect_epoch *ep, void *userdata)
{
	struct outlog *l = userdata;

	outlog_put(l, ep->start_index);
	outlog_put(l, ep->channel);
	outlog_put(l, ep->epoch_samples);
	outlog_put(l, ep->n_mini);
	outlog_put(l, ep->phasic_mini_mask);
	outlog_put(l, ep->n_phasic_mini);
	outlog_put(l, ep->n_twitches);
	outlog_put(l, ep->n_fm_potentials);
	outlog_put(l, ep->n_lm);
	outlog_put(l, ep->n_artefacts);
	outlog_put(l, ep->flags);
	outlog_float(l, ep->fmi_per_min);
	outlog_float(l, ep->fmi_window_per_min);
	outlog_float(l, ep->background_uv);
}

static void outlog_double(struct outlog *l, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	outlog_put(l, u);
}

static void outlog_state(struct outlog *l, const struct detector *d)
{
	struct detect_counters cnt;
	struct detect_sleep_stats sl;
	struct detect_rates r;
	uint64_t fl;
	uint32_t c, k;

	detect_get_counters(d, &cnt);
	for (k = 0; k < DETECT_N_CLASSES; k++)
		outlog_put(l, cnt.n_by_class[k]);
	outlog_put(l, cnt.n_onsets);
	outlog_put(l, cnt.n_invalid_samples);
	outlog_put(l, cnt.n_gaps);
	outlog_put(l, cnt.n_artefacts);
	detect_get_sleep_stats(d, &sl);
	outlog_put(l, sl.n_lm);
	outlog_put(l, sl.n_plm);
	outlog_put(l, sl.n_plm_series);
	outlog_put(l, sl.run_length);
	for (c = 0; c < d->n_channels; c++) {
		double floor_uv = detect_noise_floor_uv(d, c);

		assert_int_equal(detect_get_rates(d, c, &r), 0);
		outlog_float(l, r.per_min_1);
		outlog_float(l, r.per_min_5);
		outlog_float(l, r.per_min_15);
		outlog_float(l, r.covered_s);
		memcpy(&fl, &floor_uv, sizeof(fl));
		outlog_put(l, fl);
	}
	/* and what is inside, which outputs show only now and then */
	for (c = 0; c < d->n_channels; c++) {
		const struct detect_chan *ch = &d->ch[c];

		outlog_double(l, ch->nf_e.floor);
		outlog_double(l, ch->nf_e.acc);
		outlog_double(l, ch->nf_a.acc);
		outlog_put(l, ch->nf_e.acc_n);
		outlog_put(l, ch->nf_a.acc_n);
		outlog_put(l, ch->nf_e.acc_state);
		outlog_put(l, ch->nf_a.acc_state);
		outlog_double(l, ch->psi_sum);
		outlog_double(l, ch->psi_fresh);
		outlog_double(l, ch->a_sum);
		outlog_double(l, ch->a_fresh);
		outlog_put(l, ch->hist_pos);
		outlog_put(l, ch->hist_n);
		outlog_put(l, ch->a_pos);
		outlog_put(l, ch->a_n);
		outlog_put(l, ch->tk_n);
		outlog_put(l, ch->lm_low);
		outlog_put(l, ch->fs);
	}
}

/* Noise of changing level with spikes, injected potentials, bursts (some
 * at the mains frequency), common-mode spikes, and bad data of every
 * kind: NaN, Inf, saturation and step flags, digital silence, huge
 * values. */
static void make_messy(float *x, uint8_t *fl, size_t n, size_t nch,
		       double rate)
{
	size_t i, c, b;

	for (c = 0; c < nch; c++) {
		double level = 1.0 + 4.0 * rng_uniform();

		for (i = 0; i < n; i++) {
			double v = level * rng_gauss();

			if (rng_uniform() < 2e-5)
				level = 0.5 + 8.0 * rng_uniform();
			if (rng_uniform() < 3e-4)
				v += (rng_uniform() < 0.5 ? -1 : 1) * level *
				     (3.0 + 40.0 * rng_uniform());
			x[i * nch + c] = (float)v;
			fl[i * nch + c] = 0;
		}
	}
	if (rate == 1000.0 || rate == 4000.0)
		for (i = (size_t)rate; i + 200 < n; i += (size_t)(rate / 3))
			inject(x + (i / 7) % nch, nch, i, (int)(i % N_MUP),
			       10.0 + 40.0 * rng_uniform(),
			       (int)(rate == 4000.0));
	for (i = 0; i < n; i++)
		if (rng_uniform() < 2e-4)
			for (c = 0; c < nch; c++)
				x[i * nch + c] += 80.0f;
	for (b = 0; b < n / (size_t)rate / 2; b++) {
		size_t at = (size_t)(rng_uniform() * n), len;
		double amp = 3.0 + 15.0 * rng_uniform();
		int hum = rng_uniform() < 0.3;

		len = (size_t)(rate * (0.02 + 6.0 * rng_uniform() *
				       rng_uniform()));
		c = (size_t)(rng_uniform() * nch);
		for (i = at; i < at + len && i < n; i++) {
			x[i * nch + c] *= (float)amp;
			if (hum)
				x[i * nch + c] += (float)(20.0 *
					sin(2.0 * M_PI * 50.0 * i / rate));
		}
	}
	for (b = 0; b < 30; b++) {
		size_t at = (size_t)(rng_uniform() * n);
		size_t len = 1 + (size_t)(rng_uniform() * rate * 0.2);
		int kind = (int)(rng_uniform() * 6);

		c = (size_t)(rng_uniform() * nch);
		for (i = at; i < at + len && i < n; i++) {
			float *p = &x[i * nch + c];

			switch (kind) {
			case 0: *p = NAN; break;
			case 1: *p = i % 2 ? INFINITY : -INFINITY; break;
			case 2: fl[i * nch + c] |= DSP_FLAG_SATURATED; break;
			case 3: fl[i * nch + c] |= i == at ? DSP_FLAG_STEP : 0;
				break;
			case 4: *p = 0.0f; break;
			default: *p *= 1e6f; break;
			}
		}
	}
}

/* Detector outputs over @x/@fl in blocks of random size (< @max_block),
 * with a gap of @gap scans at @gap_at (0: none), every so often the
 * state too. */
static void run_outlog(const struct detect_config *cfg, const float *x,
		       const uint8_t *fl, size_t n, size_t nch, double rate,
		       size_t max_block, size_t gap_at, size_t gap,
		       uint64_t seed, struct outlog *l)
{
	struct detector *d;
	size_t i, m;

	assert_int_equal(detect_new(cfg, nch, rate, &d), 0);
	detect_set_epoch_sink(d, outlog_epoch, l);
	rng_state = seed;
	for (i = 0; i < n; i += m) {
		uint64_t index = i >= gap_at && gap ? i + gap : i;

		m = 1 + (size_t)(rng_uniform() * (max_block - 1));
		if (m > n - i)
			m = n - i;
		if (gap && i < gap_at && i + m > gap_at)
			m = gap_at - i;
		assert_true(detect_process_flagged(d, x + i * nch,
						   fl ? fl + i * nch : NULL,
						   m, index, outlog_event,
						   l) >= 0);
		if (rng_uniform() < 0.05)
			outlog_state(l, d);
	}
	assert_true(detect_finish(d, outlog_event, l) >= 0);
	outlog_state(l, d);
	detect_free(d);
}

static void test_fast_path_equals_reference(void **state)
{
	static const struct {
		double rate;
		size_t nch, n, max_block;
		uint64_t lm_mask;
		int flags;
	} runs[] = {
		{ 1000, 1, 300000, 5000, 0, 1 },
		{ 4000, 1, 200000, 300, 1, 1 },
		{ 2000, 3, 120000, 9000, 0x5, 1 },
		{ 1000, 8, 90000, 4096, 0x81, 1 },
		{ 4000, 8, 60000, 700, 0, 0 },
		{ 500, 64, 8000, 200, UINT64_MAX, 1 },
		{ 4000, 4, 120000, 3000, 0, 1 },
	};
	size_t r;

	(void)state;
	load_mups();
	for (r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		struct outlog ref = { 0 }, fast = { 0 };
		size_t n = runs[r].n, nch = runs[r].nch, i;
		float *x = xalloc(n * nch);
		int k;
		uint8_t *fl = calloc(n * nch, 1);
		struct detect_config cfg;

		assert_non_null(fl);
		rng_state = 1000 + r;
		make_messy(x, fl, n, nch, runs[r].rate);
		detect_config_default(&cfg);
		cfg.lm_channel_mask = nch < 64 ? runs[r].lm_mask &
					((UINT64_C(1) << nch) - 1) :
					runs[r].lm_mask;
		if (r == 2) {
			cfg.tkeo_smooth_ms = 7.0;
			cfg.mains_hz = 50;
		}
		if (r == 4) {
			cfg.refractory_ms = 0.0;
			cfg.threshold_on = 6.0;
			cfg.amp_threshold = 3.0;
			cfg.noise.gate_ratio = 0.0;
			cfg.noise.min_windows = 1;
		}
		if (r == 3 || r == 4) {
			/* floors that move often, epochs published often:
			 * where a tile must end */
			cfg.noise.window_ms = 3.0;
			cfg.noise.n_windows = 20;
			cfg.epoch_s = 3.0;
			cfg.mini_epoch_s = 0.3;
			cfg.efm_window_min = 0.5;
		}
		detect_fast_off = 1;
		run_outlog(&cfg, x, runs[r].flags ? fl : NULL, n, nch,
			   runs[r].rate, runs[r].max_block, n / 2, 333, r,
			   &ref);
		detect_fast_off = 0;
		assert_true(ref.n > 1000);
		for (k = 0; k < 2; k++) {
#ifdef DETECT_AVX2
			detect_avx2_off = k;	/* where the CPU has it */
#endif
			fast.n = 0;
			run_outlog(&cfg, x, runs[r].flags ? fl : NULL, n, nch,
				   runs[r].rate, runs[r].max_block, n / 2, 333,
				   r, &fast);
			assert_int_equal(fast.n, ref.n);
			for (i = 0; i < ref.n; i++)
				if (fast.w[i] != ref.w[i])
					fail_msg("run %zu/%d: word %zu of %zu "
						 "differs", r, k, i, ref.n);
		}
#ifdef DETECT_AVX2
		detect_avx2_off = 0;
#endif
		free(ref.w);
		free(fast.w);
		free(x);
		free(fl);
	}
}

/* A jump in the sample index is a gap: counted, and the event it cuts is
 * not reported as a twitch; going backwards is refused. */
static void test_gap(void **state)
{
	const size_t n = 6000;
	struct detect_counters cnt;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	float *y = xalloc(n);

	(void)state;
	rng_state = 160;
	add_noise(y, n, 1, 1.5);
	add_noise(y + 4800, 1000, 1, 20.0);	/* burst across the cut */
	detect_config_default(&cfg);
	assert_int_equal(detect_new(&cfg, 1, 1000, &d), 0);
	assert_true(detect_process(d, y, 5000, 0, evlog_sink, &log) >= 0);
	assert_int_equal(detect_process(d, y, 10, 100, evlog_sink, &log),
			 -EINVAL);
	assert_true(detect_process(d, y + 5000, 1000, 9000, evlog_sink,
				   &log) >= 0);
	assert_true(detect_finish(d, evlog_sink, &log) >= 0);
	detect_get_counters(d, &cnt);
	assert_int_equal(cnt.n_gaps, 1);
	/* the part before the cut, and the part after it, which starts
	 * inside the restart guard */
	assert_int_equal(evlog_count(&log, DETECT_EVENT_REJECT,
				     DETECT_CLASS_ART_CLIPPING), 2);
	assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL, UINT32_MAX), 0);
	detect_free(d);
	evlog_free(&log);
	free(y);
}

/* A potential 1000x the noise: one fasciculation, not followed by events
 * made of the filters' ringing. */
static void test_large_potential_single_event(void **state)
{
	const size_t n = 8000;
	struct detect_config cfg;
	struct evlog log = { 0 };
	struct detector *d;
	float *x = xalloc(n);
	size_t k;

	(void)state;
	load_mups();
	for (k = 0; k < N_MUP; k++) {
		rng_state = 170 + k;
		memset(x, 0, n * sizeof(*x));
		add_noise(x, n, 1, 1.5);
		inject(x, 1, 4000, (int)k, 2000.0, 0);
		detect_config_default(&cfg);
		d = run(&cfg, x, n, 1, 1000, DSP_MAINS_AUTO, 0, 1000, &log);
		assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
					     UINT32_MAX), 1);
		assert_int_equal(evlog_count(&log, DETECT_EVENT_FINAL,
				DETECT_CLASS_FASCICULATION), 1);
		assert_int_equal(evlog_count(&log, DETECT_EVENT_REJECT,
					     UINT32_MAX), 0);
		detect_free(d);
		evlog_free(&log);
	}
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_real_potentials_1k),
		cmocka_unit_test(test_real_potentials_4k),
		cmocka_unit_test(test_false_alarms_noise),
		cmocka_unit_test(test_real_baseline),
		cmocka_unit_test(test_real_quiet_baseline),
		cmocka_unit_test(test_neighbour_copy_merged),
		cmocka_unit_test(test_doublet),
		cmocka_unit_test(test_phasic_and_tonic),
		cmocka_unit_test(test_burst_ramp_onset),
		cmocka_unit_test(test_limb_movement),
		cmocka_unit_test(test_pop_rejected),
		cmocka_unit_test(test_clipping_rejected),
		cmocka_unit_test(test_mains_burst_rejected),
		cmocka_unit_test(test_common_mode_and_merge),
		cmocka_unit_test(test_common_mode_slow_copy_no_update),
		cmocka_unit_test(test_cm_partial_view),
		cmocka_unit_test(test_update_despite_invalid_channel),
		cmocka_unit_test(test_echo_changes_class_silently),
		cmocka_unit_test(test_finish_in_quiet_tail),
		cmocka_unit_test(test_leg_channel_twitch),
		cmocka_unit_test(test_plm_rules),
		cmocka_unit_test(test_plm_end_to_end),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_epochs_rswa),
		cmocka_unit_test(test_epochs_fractional_rate),
		cmocka_unit_test(test_short_epochs_count_everything),
		cmocka_unit_test(test_long_train_is_a_burst),
		cmocka_unit_test(test_potentials_past_the_kept),
		cmocka_unit_test(test_efm),
		cmocka_unit_test(test_onset_notification),
		cmocka_unit_test(test_block_size_independence),
		cmocka_unit_test(test_fast_path_equals_reference),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_large_potential_single_event),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

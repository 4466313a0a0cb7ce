// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-detect.c - twitchd's detection chain (dsp.c + detect.c through
 * pipeline.c, as `twitchd --analyze` runs it) against ground truth built
 * from real data, and against the reference detector a user would write
 * with SciPy (tests/bench/bench-detect-ref.py), in one run. The last line
 * is RESULT name=value ...
 *
 * Method (the program prints a summary of it too).
 *
 * Data ($TWITCH_SHARED/data, default ../shared/data; see its README.md):
 * - Templates: isolated motor-unit potentials cut from PhysioNet emgdb
 *   emg_neuropathy (4 kHz): peaks >= 1500 uV, the largest within +-6 ms,
 *   nothing above 750 uV elsewhere within +-40 ms (subject_find_potentials),
 *   12.25 ms around the peak; potentials with a saturated sample are left
 *   out. At most BENCH_MAX_TEMPLATES, one motor unit each.
 * - Baselines: quiet stretches of the real records. Each record is filtered
 *   by twitchd's own default DSP chain and cut into 0.5-s windows; a window
 *   is quiet if its RMS is <= 1.5 x the record's 10th-percentile window RMS
 *   and its excess kurtosis is <= 1 (Gaussian-like), and no sample exceeds
 *   5.5 x the RMS of the windows passing the first two tests (no
 *   motor-unit spike: Gaussian noise exceeds 5.5 sigma once in ~50000).
 *   Runs of >= 4 quiet windows (2 s) are kept, raw (unfiltered, mean
 *   removed), scaled so that the record's quiet
 *   windows have BENCH_SIGMA_UV RMS after the band-pass (BioSPPy's two
 *   records differ 3.5x in level; one level keeps the SNR of a potential
 *   the same on every channel), resampled (windowed sinc) to the case's rate
 *   and joined into one circular pool per rate by 200-ms power-complementary
 *   cross-fades (a plain join of stretches with different drift levels is
 *   a step that the detector rightly reports). The emgdb records are
 *   needle EMG with motor units firing throughout (kurtosis >= 1.4 in every
 *   window): they yield no quiet window, which the program prints, so the
 *   pools are BioSPPy's surface EMG only. Each channel of a case reads the
 *   pool from its own offset (spaced pool/n_channels apart, plus a seeded
 *   jitter), wrapping around, so a feature of the pool recurs in a case.
 *   The quiet stretches still hold a few short (1-3 ms) biphasic spikes of
 *   3.5-5 sigma (e.g. near emg.txt 16.35 s): small motor-unit potentials or
 *   glitches, no one can tell; they are left in, as a real baseline has
 *   them, and BENCH_DETECT_DEBUG=1 shows which false alarms they cause.
 * - Events: drivers/subject.c with the templates, no background and no hum
 *   of its own, scaled and added to the baseline. Classes: fasciculations
 *   (30% also on 1-2 neighbours, 0.3-0.7x, 0.5-3 ms later), doublets (the
 *   same potential twice 30-35 ms apart), myoclonus (2-5 potentials within
 *   20-150 ms), phasic bursts (0.1-5 s of band-limited noise at 5-10x the
 *   baseline RMS, whatever the case's SNR). No limb movements (they need a
 *   leg channel mask). Rates per minute: 32 fasciculations, 8 doublets,
 *   6 myoclonus, 3 bursts (subject.c pauses its Poisson clock during each
 *   event and for 250 ms after it, so the realised rates are lower).
 * - SNR of a case: 20 log10(A_rms / sigma), A_rms the RMS of the injected
 *   potential over its duration (first to last sample at >= 10% of its
 *   peak), sigma the baseline's RMS after twitchd's band-pass and notch. All
 *   potentials of a case share one peak amplitude, set from the templates'
 *   mean crest factor (peak / A_rms, measured at the case's rate), so single
 *   potentials scatter around the nominal SNR by their own crest factor.
 *   This is the SNR at the input: the program also prints how much of the
 *   potentials' peak is left after twitchd's 20-450 Hz chain at each rate
 *   (these are needle potentials with content above 450 Hz, so less at 2
 *   and 4 kHz than at 1 kHz; the baseline has none up there).
 * - Artefacts (every injected case, placed >= 300 ms from any event and
 *   from each other): 50 Hz hum (60 Hz at 2 kHz) at 5 sigma with a 10% third
 *   harmonic, all along; electrode pops (step of 200-2000 uV, decaying with
 *   tau 50-200 ms) 1/min; mains bursts (0.2-0.6 s of mains at 10-30 sigma on
 *   one channel) 1/min; clipping (a 80-200 ms swing of 1.2-3x full scale,
 *   clipped at +-BENCH_FULL_SCALE_UV and handed over as saturated samples,
 *   as --analyze does) 1/min; on 8 channels, common mode (a 1.5-ms biphasic
 *   spike of 10-30 sigma on all channels within +-10%) 2/min.
 * - Untouched baselines: the same pools, no injection, no hum, no artefact:
 *   every FINAL event there is a false alarm.
 *
 * Matching (identical for both detectors):
 * - Truth onset: the first sample of the injected signal on the event's
 *   largest channel at >= 10% of its peak (the usual departure from
 *   baseline). Bursts: where their envelope's ramp (up to 50 ms) reaches
 *   10%. Not their first sample at 10% of the peak: a burst is noise, its
 *   peak some 3.5x its RMS, so that sample is one lucky swing early in the
 *   ramp, below the baseline's noise, 10-20 ms before anyone can see it.
 * - Only FINAL events count (twitchd's REJECT records are its artefact
 *   decisions; onset records are provisional). Any FINAL class may match.
 * - A pair (truth, event) is a candidate if the onsets are within +-15 ms
 *   and the event's channel mask shares a channel with the truth's. Pairs
 *   are taken greedily by increasing |onset error|; each truth and each
 *   event is used at most once. So an injected doublet, myoclonus or burst
 *   is found by one event whatever its class (twitchd: a doublet or
 *   multiplet event); a second event inside it is a false positive.
 * - Unmatched events are false positives, attributed for the tables to a
 *   truth ("split": onset inside its span +-15 ms), an artefact (its span
 *   +-15 ms, +100 ms after clipping: the filters' restart guard) or
 *   nothing ("noise").
 * - Scoring window: [1 s, end - 0.5 s) (the noise floors need 0.5 s; the
 *   last event may be cut). Truths and unmatched events outside it are
 *   ignored, after matching over the whole case.
 * - Sensitivity = TP / truths; precision = TP / (TP + FP), all unmatched
 *   FINAL events of the injected cases; F1 = 2PR / (P + R), pooled over the
 *   cases of a bin (f1_snr6up: SNR >= 6 dB; f1_all: every SNR). Per class,
 *   precision counts only the splits of that class (noise and artefact
 *   events have no class). Onset error: event - truth onset over the
 *   matched pairs; onset_p95_ms is the 95th percentile of |error|.
 * - fp_per_min: FINAL events per channel-minute on the untouched baselines
 *   (each channel is a minute of baseline of its own).
 *
 * Speed: twitchd's chain runs each case from memory (float interleaved
 * scans, 4096-scan blocks as --analyze does) BENCH_REPEAT times; the
 * thread's CPU clock over pipeline_run() and detect_finish() only (set-up,
 * data preparation and scoring excluded), best of the repeats, summed over
 * the cases. Samples = scans x channels. The reference gets each case as a
 * float32 file in a mkdtemp() directory (removed at the end; kept with
 * BENCH_DETECT_KEEP=1) and times its own filtering and detection with
 * time.perf_counter(), file loading excluded, best of its repeats, one
 * thread (OMP/OPENBLAS/MKL_NUM_THREADS=1). speed_vs_ref is the ratio of the
 * two samples/s figures over the same cases.
 *
 * The per-case table also gives twitchd's filtering alone (pipeline_filter():
 * filters, mains detector and its shared decision, step detector, noise
 * floor; no detector), to show where the time goes. Class agreement (per-class table, twitchd only): the matched
 * event's class is fasciculation for a fasciculation, doublet or multiplet
 * for a doublet, doublet, multiplet or myoclonus for a myoclonus, phasic,
 * tonic, multiplet or myoclonus for a burst.
 *
 * Each case's signal (float32, interleaved scans, uV, clipped samples at
 * +-full scale) and its truth (caseNN.truth: class, 10% onset, span and
 * channel mask of each event; kind, span and mask of each artefact) are
 * written to the temporary directory, with manifest.txt listing the cases.
 *
 * Options: --case N runs one case of the table only (ids as printed);
 * BENCH_DETECT_PYTHON (default /usr/bin/python3) and BENCH_DETECT_REF (the
 * script) override the reference's interpreter and path;
 * BENCH_DETECT_DEBUG=1 prints the pool's stretches and joins, each
 * channel's pool offset and every false positive of both detectors;
 * BENCH_DETECT_SEED_OFFSET=K (default 0: the table's seeds) adds K to
 * every case's seed, so that a change tuned on the fixed cases can be
 * checked on other draws of the same design (other event times, pool
 * offsets and artefacts; the same templates, pools and SNRs).
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detect.h"
#include "dsp.h"
#include "pipeline.h"
#include "recording.h"
#include "subject.h"
#include "testrng.h"

#define BENCH_TOL_MS		15.0
#define BENCH_SIGMA_UV		3.0	/* baseline RMS after the band-pass */
#define BENCH_FULL_SCALE_UV	3000.0
#define BENCH_BLOCK_SCANS	4096u	/* as daemon/analyze.c */
#define BENCH_REPEAT		3
#define BENCH_MAX_TEMPLATES	8
#define BENCH_TPL_HALF		24	/* 6 ms at 4 kHz: 49 samples */
#define BENCH_SKIP_S		1.0	/* scoring window */
#define BENCH_TAIL_S		0.5
#define BENCH_MAX_EVENTS	65536

#define ART_HUM		0x01
#define ART_POP		0x02
#define ART_MAINS	0x04
#define ART_CLIP	0x08
#define ART_CM		0x10
#define ART_ALL		0x1f
#define N_ART_KINDS	4	/* pop, mains burst, clipping, common mode */

#define N_CLS		4	/* subject classes 0-3 */

/* One case: the injected ones have an SNR, the untouched baselines NAN. */
struct bench_case {
	double rate_hz;
	unsigned int n_ch;
	double snr_db;
	unsigned int art;	/* ART_* */
	double mains_hz;	/* of the hum (and of the reference's notch) */
	uint64_t seed;
	double dur_s;
};

#define INJ(rate, nch, snr, mains, seed) \
	{ rate, nch, snr, ART_ALL, mains, seed, 60.0 }
#define BASE(rate, nch, seed, dur) \
	{ rate, nch, NAN, 0, 50.0, seed, dur }

static const struct bench_case cases[] = {
	INJ(1000, 1, 0, 50, 101), INJ(1000, 1, 3, 50, 102),
	INJ(1000, 1, 6, 50, 103), INJ(1000, 1, 10, 50, 104),
	INJ(1000, 1, 15, 50, 105), INJ(1000, 1, 20, 50, 106),
	INJ(1000, 8, 0, 50, 111), INJ(1000, 8, 3, 50, 112),
	INJ(1000, 8, 6, 50, 113), INJ(1000, 8, 10, 50, 114),
	INJ(1000, 8, 15, 50, 115), INJ(1000, 8, 20, 50, 116),
	INJ(2000, 1, 0, 60, 201), INJ(2000, 1, 3, 60, 202),
	INJ(2000, 1, 6, 60, 203), INJ(2000, 1, 10, 60, 204),
	INJ(2000, 1, 15, 60, 205), INJ(2000, 1, 20, 60, 206),
	INJ(2000, 8, 0, 60, 211), INJ(2000, 8, 3, 60, 212),
	INJ(2000, 8, 6, 60, 213), INJ(2000, 8, 10, 60, 214),
	INJ(2000, 8, 15, 60, 215), INJ(2000, 8, 20, 60, 216),
	INJ(4000, 1, 0, 50, 401), INJ(4000, 1, 3, 50, 402),
	INJ(4000, 1, 6, 50, 403), INJ(4000, 1, 10, 50, 404),
	INJ(4000, 1, 15, 50, 405), INJ(4000, 1, 20, 50, 406),
	INJ(4000, 8, 0, 50, 411), INJ(4000, 8, 3, 50, 412),
	INJ(4000, 8, 6, 50, 413), INJ(4000, 8, 10, 50, 414),
	INJ(4000, 8, 15, 50, 415), INJ(4000, 8, 20, 50, 416),
	BASE(1000, 1, 901, 120.0), BASE(1000, 8, 902, 60.0),
	BASE(2000, 1, 903, 120.0), BASE(2000, 8, 904, 60.0),
	BASE(4000, 1, 905, 120.0), BASE(4000, 8, 906, 60.0),
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static const double snr_bins[] = { 0, 3, 6, 10, 15, 20 };
#define N_SNR (sizeof(snr_bins) / sizeof(snr_bins[0]))
static const double rates[] = { 1000, 2000, 4000 };
#define N_RATES 3

/* ------------------------------------------------------------ helpers */

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench-detect: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		die("out of memory");
	return p;
}

static double rng_unif(struct testrng *r, double lo, double hi)
{
	return lo + (hi - lo) * ((double)(testrng_next(r) >> 11) / 9007199254740992.0);
}

static double rng_logu(struct testrng *r, double lo, double hi)
{
	return exp(rng_unif(r, log(lo), log(hi)));
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct dvec {
	double *v;
	size_t n, cap;
};

static void dvec_push(struct dvec *d, double x)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 256;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* @q-quantile of |values| (nearest rank), NAN if empty. */
static double abs_quantile(const struct dvec *d, double q)
{
	double *t, r;
	size_t i, k;

	if (d->n == 0)
		return NAN;
	t = xcalloc(d->n, sizeof(*t));
	for (i = 0; i < d->n; i++)
		t[i] = fabs(d->v[i]);
	qsort(t, d->n, sizeof(*t), cmp_double);
	k = (size_t)ceil(q * (double)d->n);
	k = k ? k - 1 : 0;
	r = t[k < d->n ? k : d->n - 1];
	free(t);
	return r;
}

static const char *shared_dir(void)
{
	static const char *const cand[] = { "../shared", "../../shared" };
	static char dir[PATH_MAX];
	const char *env = getenv("TWITCH_SHARED");
	char probe[PATH_MAX + 32];
	size_t i;

	if (env && env[0]) {
		snprintf(dir, sizeof(dir), "%s", env);
		return dir;
	}
	for (i = 0; i < 2; i++) {
		snprintf(probe, sizeof(probe), "%s/data/README.md", cand[i]);
		if (access(probe, R_OK) == 0) {
			snprintf(dir, sizeof(dir), "%s", cand[i]);
			return dir;
		}
	}
	die("shared data not found: set TWITCH_SHARED");
}

static double *load_record(const char *rel, double *ret_rate, size_t *ret_n,
			   uint8_t **ret_flags)
{
	char path[PATH_MAX + 64], msg[1024];
	struct recording_error err;
	struct recording *rec = NULL;
	double *x;
	uint64_t n;
	int r;

	snprintf(path, sizeof(path), "%s/data/%s", shared_dir(), rel);
	r = recording_open(path, NULL, &rec, &err);
	if (r < 0) {
		recording_strerror(&err, msg, sizeof(msg));
		die("%s: %s", path, msg);
	}
	n = recording_n_samples(rec, 0);
	x = xcalloc(n, sizeof(*x));
	if (recording_read(rec, 0, 0, n, x) != (int)n)
		die("%s: short read", path);
	if (ret_flags) {
		*ret_flags = xcalloc(n, 1);
		if (recording_read_flags(rec, 0, 0, n, *ret_flags) != (int)n)
			die("%s: short flag read", path);
	}
	*ret_rate = recording_rate_hz(rec, 0);
	*ret_n = n;
	recording_free(rec);
	return x;
}

/* Filter one channel with twitchd's default chain (for measurements). */
static void dsp_filter(const double *x, size_t n, size_t stride, double rate,
		       float *y)
{
	struct dsp_config dc;
	struct dsp_chain *c = xcalloc(1, sizeof(*c));
	float *in = xcalloc(n, sizeof(*in));
	size_t i;

	for (i = 0; i < n; i++)
		in[i] = (float)x[i * stride];
	dsp_config_default(&dc);
	if (dsp_chain_init(c, &dc, rate) < 0)
		die("dsp_chain_init at %.0f Hz", rate);
	dsp_chain_process(c, in, y, n, 1, NULL);
	free(in);
	free(c);
}

/* Windowed-sinc resampling (Hann window, 8 zero crossings of the lower
 * rate's kernel each side, cut-off 0.45 x the lower rate). */
static void resample(const double *in, size_t n_in, double r_in, double *out,
		     size_t n_out, double r_out)
{
	double step = r_in / r_out;	/* input samples per output sample */
	double scale = step > 1.0 ? step : 1.0;
	double fc = 0.45 / scale;	/* cycles per input sample */
	long half = (long)ceil(8.0 * scale);
	size_t j;

	for (j = 0; j < n_out; j++) {
		double t = (double)j * step, sum = 0.0, wsum = 0.0;
		long k0 = (long)floor(t), k;

		for (k = k0 - half + 1; k <= k0 + half; k++) {
			double u = t - (double)k, w, s;

			if (k < 0 || k >= (long)n_in || fabs(u) >= (double)half)
				continue;
			s = u == 0.0 ? 2.0 * fc :
				sin(2.0 * M_PI * fc * u) / (M_PI * u);
			w = s * (0.5 + 0.5 * cos(M_PI * u / (double)half));
			sum += w * in[k];
			wsum += w;
		}
		out[j] = wsum != 0.0 ? sum / wsum : 0.0;
	}
}

/* ------------------------------------------------------------ baselines */

static const char *const baseline_records[] = {
	"biosppy/emg.txt", "biosppy/emg_1.txt",
	"emgdb/emg_healthy.hea", "emgdb/emg_myopathy.hea",
	"emgdb/emg_neuropathy.hea",
};
#define N_BASELINE_RECORDS \
	(sizeof(baseline_records) / sizeof(baseline_records[0]))

struct pool {
	double *x;
	size_t n;
};

static struct pool pools[N_RATES];

#define BENCH_XFADE_S	0.2

/* Append @m samples to @p, cross-fading over BENCH_XFADE_S with weights
 * whose squares sum to 1: the noise power stays level, and the two
 * stretches' different drift levels meet in a < 5 Hz transition that the
 * detector's 20-Hz high-pass removes (a plain cut would be a step). */
static void pool_append(struct pool *p, const double *x, size_t m, double rate)
{
	size_t L = (size_t)(BENCH_XFADE_S * rate), i;

	p->x = xrealloc(p->x, (p->n + m) * sizeof(*p->x));
	if (p->n < L || m < L) {
		memcpy(p->x + p->n, x, m * sizeof(*x));
		p->n += m;
		return;
	}
	for (i = 0; i < L; i++) {
		double th = M_PI / 2 * ((double)i + 0.5) / (double)L;

		p->x[p->n - L + i] = p->x[p->n - L + i] * cos(th) +
				     x[i] * sin(th);
	}
	if (getenv("BENCH_DETECT_DEBUG"))
		fprintf(stderr, "pool %.0f Hz: join at %.3f s\n", rate,
			(double)(p->n - L / 2) / rate);
	memcpy(p->x + p->n, x + L, (m - L) * sizeof(*x));
	p->n += m - L;
}

/* Make the pool circular: its end cross-fades into its start. */
static void pool_close(struct pool *p, double rate)
{
	size_t L = (size_t)(BENCH_XFADE_S * rate), i;

	if (p->n < 2 * L)
		return;
	for (i = 0; i < L; i++) {
		double th = M_PI / 2 * ((double)i + 0.5) / (double)L;

		p->x[i] = p->x[i] * sin(th) + p->x[p->n - L + i] * cos(th);
	}
	p->n -= L;
}

/* Quiet stretches of one record, prepared (mean out, faded, scaled), at
 * its own rate; appended to every rate's pool. */
static void pool_add_record(const char *rel)
{
	size_t n, win, nw, w, i, run = 0, used = 0;
	double rate, *x, *rms, *sorted, p10, ss = 0.0, gain, sq;
	size_t n_ss = 0, k;
	bool *quiet;
	float *y;

	x = load_record(rel, &rate, &n, NULL);
	y = xcalloc(n, sizeof(*y));
	dsp_filter(x, n, 1, rate, y);
	win = (size_t)(0.5 * rate);
	nw = n / win;
	rms = xcalloc(nw, sizeof(*rms));
	sorted = xcalloc(nw, sizeof(*sorted));
	quiet = xcalloc(nw, sizeof(*quiet));
	for (w = 0; w < nw; w++) {
		double m2 = 0.0;

		for (i = w * win; i < (w + 1) * win; i++)
			m2 += (double)y[i] * y[i];
		rms[w] = sqrt(m2 / (double)win);
		sorted[w] = rms[w];
	}
	qsort(sorted, nw, sizeof(*sorted), cmp_double);
	p10 = sorted[nw / 10];
	for (w = 2; w < nw; w++) {	/* the first second: filter start */
		double m2 = 0.0, m4 = 0.0, mean = 0.0;

		for (i = w * win; i < (w + 1) * win; i++)
			mean += y[i];
		mean /= (double)win;
		for (i = w * win; i < (w + 1) * win; i++) {
			double d = y[i] - mean;

			m2 += d * d;
			m4 += d * d * d * d;
		}
		m2 /= (double)win;
		m4 /= (double)win;
		quiet[w] = rms[w] <= 1.5 * p10 && m4 / (m2 * m2) - 3.0 <= 1.0;
		if (quiet[w]) {
			ss += rms[w] * rms[w];
			n_ss++;
		}
	}
	/* and no spike: nothing above 5.5 x the quiet RMS (Gaussian noise
	 * exceeds it once in ~50000 samples) */
	sq = n_ss ? sqrt(ss / (double)n_ss) : 0.0;
	ss = 0.0;
	n_ss = 0;
	for (w = 2; w < nw; w++) {
		for (i = w * win; quiet[w] && i < (w + 1) * win; i++)
			if (fabs(y[i]) > 5.5 * sq)
				quiet[w] = false;
		if (quiet[w]) {
			ss += rms[w] * rms[w];
			n_ss++;
		}
	}
	gain = n_ss ? BENCH_SIGMA_UV / sqrt(ss / (double)n_ss) : 0.0;
	/* runs of >= 4 quiet windows */
	for (w = 0; w <= nw; w++) {
		if (w < nw && quiet[w]) {
			run++;
			continue;
		}
		if (run >= 4) {
			size_t a = (w - run) * win, len = run * win;
			double mean = 0.0, *seg = xcalloc(len, sizeof(*seg));

			for (i = 0; i < len; i++)
				mean += x[a + i];
			mean /= (double)len;
			for (i = 0; i < len; i++)
				seg[i] = (x[a + i] - mean) * gain;
			if (getenv("BENCH_DETECT_DEBUG"))
				fprintf(stderr, "stretch %s %.1f-%.1f s at pool "
					"%.3f s\n", rel, (double)a / rate,
					(double)(a + len) / rate,
					(double)pools[0].n / rates[0]);
			for (k = 0; k < N_RATES; k++) {
				size_t m = (size_t)llround((double)len *
							   rates[k] / rate);
				double *r = xcalloc(m, sizeof(*r));

				resample(seg, len, rate, r, m, rates[k]);
				pool_append(&pools[k], r, m, rates[k]);
				free(r);
			}
			used += len;
			free(seg);
		}
		run = 0;
	}
	printf("  baseline %-26s %6.1f s at %5.0f Hz: %5.1f s quiet "
	       "(p10 window RMS %.2f uV, gain %.3f)\n", rel,
	       (double)n / rate, rate, (double)used / rate, p10, gain);
	free(quiet);
	free(sorted);
	free(rms);
	free(y);
	free(x);
}

/* ------------------------------------------------------------ templates */

static struct subject_template tpl[BENCH_MAX_TEMPLATES];
static size_t n_tpl;
static double *tpl_raw;
static double crest[N_RATES];	/* mean peak / A_rms per rate */
static double kept[N_RATES];	/* mean filtered / injected peak */

static void load_templates(void)
{
	size_t n, idx[64], found, i, j;
	uint8_t *fl;
	double rate;

	tpl_raw = load_record("emgdb/emg_neuropathy.hea", &rate, &n, &fl);
	found = subject_find_potentials(tpl_raw, n, rate, 1500.0, 6.0, 40.0,
					idx, 64);
	if (found > 64)
		found = 64;
	for (i = 0; i < found && n_tpl < BENCH_MAX_TEMPLATES; i++) {
		bool sat = false;

		if (idx[i] < BENCH_TPL_HALF || idx[i] + BENCH_TPL_HALF >= n)
			continue;
		for (j = idx[i] - BENCH_TPL_HALF; j <= idx[i] + BENCH_TPL_HALF; j++)
			sat |= fl[j] & RECORDING_SAMPLE_SATURATED;
		if (sat)
			continue;
		tpl[n_tpl].shape = tpl_raw + idx[i] - BENCH_TPL_HALF;
		tpl[n_tpl].n = 2 * BENCH_TPL_HALF + 1;
		tpl[n_tpl].rate_hz = rate;
		n_tpl++;
	}
	free(fl);
	printf("  templates: %zu isolated potentials in emgdb/emg_neuropathy "
	       "(%zu found, saturated ones left out), %.2f ms each\n",
	       n_tpl, found, (2.0 * BENCH_TPL_HALF + 1) / rate * 1000.0);
	if (n_tpl == 0)
		die("no template");
}

struct truth_log {
	struct subject_truth *t;
	size_t n, cap;
};

static void truth_cb(const struct subject_truth *t, void *userdata)
{
	struct truth_log *l = userdata;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 128;
		l->t = xrealloc(l->t, l->cap * sizeof(*l->t));
	}
	l->t[l->n++] = *t;
}

/* Subject config for the events: no background or hum of its own. */
static struct subject_config event_config(double rate, unsigned int n_ch,
					  uint64_t seed)
{
	struct subject_config c = subject_config_default();

	c.seed = seed;
	c.n_channels = n_ch;
	c.rate_hz = rate;
	c.background_rms_uv = 0;
	c.mains_hz = 0;
	c.mains_uv = 0;
	c.mup_rate_per_min = 40;
	c.doublet_frac = 0.2;
	c.spread_frac = 0.3;
	c.myoclonus_rate_per_min = 6;
	c.burst_rate_per_min = 3;
	c.lm_rate_per_min = 0;
	c.mup_min_uv = c.mup_max_uv = 100.0;
	c.templates = tpl;
	c.n_templates = n_tpl;
	c.n_units = (unsigned int)n_tpl;
	return c;
}

/* First and last sample of @x[0..n) at >= 10% of its peak, and the RMS
 * between them. */
static double span_rms(const double *x, size_t n, size_t stride,
		       size_t *ret_first, double *ret_peak)
{
	size_t i, first = SIZE_MAX, last = 0;
	double peak = 0.0, ss = 0.0;

	for (i = 0; i < n; i++)
		peak = fmax(peak, fabs(x[i * stride]));
	for (i = 0; i < n; i++) {
		if (fabs(x[i * stride]) >= 0.1 * peak) {
			if (first == SIZE_MAX)
				first = i;
			last = i;
		}
	}
	if (first == SIZE_MAX)
		first = last = 0;
	for (i = first; i <= last; i++)
		ss += x[i * stride] * x[i * stride];
	if (ret_first)
		*ret_first = first;
	if (ret_peak)
		*ret_peak = peak;
	return sqrt(ss / (double)(last - first + 1));
}

/* The templates' mean crest factor as subject.c injects them at @rate,
 * and in *ret_kept the share of their peak left after twitchd's filters. */
static double measure_crest(double rate, double *ret_kept)
{
	struct subject_config c = event_config(rate, 1, 7);
	struct truth_log log = { 0 };
	struct subject *s;
	size_t n = (size_t)(30 * rate), i, k = 0;
	double *x = xcalloc(n, sizeof(*x)), sum = 0.0, ksum = 0.0;
	float *y = xcalloc(n, sizeof(*y));

	c.mup_rate_per_min = 600;
	c.doublet_frac = 0;
	c.spread_frac = 0;
	c.myoclonus_rate_per_min = 0;
	c.burst_rate_per_min = 0;
	if (subject_new(&c, &s) < 0)
		die("subject_new (crest)");
	subject_emg_fill(s, x, n, truth_cb, &log);
	dsp_filter(x, n, 1, rate, y);
	for (i = 0; i < log.n; i++) {
		const struct subject_truth *t = &log.t[i];
		uint64_t j, end = t->onset_index + t->n_scans +
				  (uint64_t)(0.005 * rate);
		double peak, r, fpeak = 0.0;

		if (end > n || t->onset_index < (uint64_t)rate)
			continue;
		r = span_rms(x + t->onset_index, t->n_scans, 1, NULL, &peak);
		for (j = t->onset_index; j < end; j++)
			fpeak = fmax(fpeak, fabs(y[j]));
		sum += peak / r;
		ksum += fpeak / peak;
		k++;
	}
	subject_free(s);
	free(log.t);
	free(x);
	free(y);
	*ret_kept = k ? ksum / (double)k : NAN;
	return k ? sum / (double)k : 3.0;
}

/* ------------------------------------------------------------ cases */

struct truth {
	uint64_t on;		/* 10% onset */
	uint64_t start, end;	/* injected span */
	uint64_t mask;
	int cls;
};

struct art {
	int kind;		/* 0 pop, 1 mains, 2 clip, 3 common mode */
	uint64_t start, end;	/* span for attribution */
	uint64_t mask;
};

struct ev {
	uint64_t on;
	uint64_t mask;
	uint32_t cls;		/* UINT32_MAX: reference (no class) */
};

struct case_data {
	size_t n_scans;
	double sigma;
	double amp_uv;		/* potentials' peak */
	struct truth *truth;
	size_t n_truth;
	struct art *art;
	size_t n_art;
	struct ev *ev[2];	/* twitchd, reference */
	size_t n_ev[2];
	bool ref_done;
	double cpu_s;		/* twitchd, best of BENCH_REPEAT */
	double dsp_s;		/* its DSP chains alone */
	double floor_uv;	/* twitchd's noise RMS estimate at the end */
	uint64_t n_reject[DETECT_N_CLASSES];
};

static struct case_data cdata[N_CASES];

static const char *const art_names[N_ART_KINDS] = {
	"pop", "mains burst", "clipping", "common mode",
};

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* Place an artefact of @len scans (+ @guard both sides) clear of the
 * truths and the artefacts so far; UINT64_MAX if no room found. */
static uint64_t place(struct testrng *r, const struct case_data *cd, size_t n,
		      double rate, uint64_t len)
{
	uint64_t guard = (uint64_t)(0.3 * rate);
	int tries;

	for (tries = 0; tries < 400; tries++) {
		uint64_t lo = (uint64_t)(2.0 * rate);
		uint64_t hi = n - (uint64_t)(2.0 * rate) - len;
		uint64_t t = lo + testrng_next(r) % (hi - lo);
		bool ok = true;
		size_t i;

		for (i = 0; ok && i < cd->n_truth; i++)
			ok = !overlaps(t - guard, t + len + guard,
				       cd->truth[i].start, cd->truth[i].end);
		for (i = 0; ok && i < cd->n_art; i++)
			ok = !overlaps(t - guard, t + len + guard,
				       cd->art[i].start, cd->art[i].end);
		if (ok)
			return t;
	}
	return UINT64_MAX;
}

static void add_art(struct case_data *cd, int kind, uint64_t start,
		    uint64_t end, uint64_t mask)
{
	cd->art = xrealloc(cd->art, (cd->n_art + 1) * sizeof(*cd->art));
	cd->art[cd->n_art].kind = kind;
	cd->art[cd->n_art].start = start;
	cd->art[cd->n_art].end = end;
	cd->art[cd->n_art].mask = mask;
	cd->n_art++;
}

static void add_artefacts(const struct bench_case *bc, struct case_data *cd,
			  double *x, struct testrng *r)
{
	const size_t n = cd->n_scans, nch = bc->n_ch;
	const double rate = bc->rate_hz, sg = cd->sigma;
	double minutes = (double)n / rate / 60.0;
	int k, m, count;
	size_t i, c;

	for (k = 0; k < N_ART_KINDS; k++) {
		if (k == 3 && nch < 3)
			continue;
		count = (int)llround(minutes * (k == 3 ? 2 : 1));
		for (m = 0; m < count; m++) {
			unsigned int ch = (unsigned int)(testrng_next(r) % nch);
			double amp, tau, len_s;
			uint64_t t, len;

			switch (k) {
			case 0:	/* pop */
				amp = rng_logu(r, 200, 2000) *
				      (testrng_next(r) & 1 ? 1 : -1);
				tau = rng_unif(r, 0.05, 0.2);
				len = (uint64_t)(4 * tau * rate);
				t = place(r, cd, n, rate, len);
				if (t == UINT64_MAX)
					break;
				for (i = t; i < n; i++)
					x[i * nch + ch] += amp *
						exp(-(double)(i - t) / (tau * rate));
				add_art(cd, k, t, t + len, UINT64_C(1) << ch);
				break;
			case 1:	/* mains burst */
				amp = rng_unif(r, 10, 30) * sg;
				len_s = rng_unif(r, 0.2, 0.6);
				len = (uint64_t)(len_s * rate);
				t = place(r, cd, n, rate, len);
				if (t == UINT64_MAX)
					break;
				for (i = 0; i < len; i++) {
					double ph = 2 * M_PI * bc->mains_hz *
						    (double)i / rate;

					x[(t + i) * nch + ch] += amp *
						(sin(ph) + 0.1 * sin(3 * ph));
				}
				add_art(cd, k, t, t + len, UINT64_C(1) << ch);
				break;
			case 2:	/* clipping swing */
				amp = rng_unif(r, 1.2, 3.0) * BENCH_FULL_SCALE_UV *
				      (testrng_next(r) & 1 ? 1 : -1);
				len = (uint64_t)(rng_unif(r, 0.08, 0.2) * rate);
				t = place(r, cd, n, rate, len);
				if (t == UINT64_MAX)
					break;
				for (i = 0; i < len; i++)
					x[(t + i) * nch + ch] += amp *
						sin(M_PI * (double)i / (double)len);
				add_art(cd, k, t, t + len + (uint64_t)(0.1 * rate),
					UINT64_C(1) << ch);
				break;
			default:	/* common mode */
				amp = rng_unif(r, 10, 30) * sg;
				len = (uint64_t)(0.012 * rate);
				t = place(r, cd, n, rate, len);
				if (t == UINT64_MAX)
					break;
				for (c = 0; c < nch; c++) {
					double g = amp * rng_unif(r, 0.9, 1.1);

					for (i = 0; i < len; i++) {
						double u = ((double)i - len / 2.0) /
							   (0.0015 * rate);

						x[(t + i) * nch + c] += g * -u *
							exp(0.5 - 0.5 * u * u);
					}
				}
				add_art(cd, k, t, t + len,
					nch >= 64 ? UINT64_MAX :
					(UINT64_C(1) << nch) - 1);
				break;
			}
		}
	}
}

/* Event sink for twitchd's pipeline. */
struct evsink {
	struct ev *ev;
	size_t n;
	double floor_uv;	/* detector's noise RMS, mean over channels */
	uint64_t n_reject[DETECT_N_CLASSES];
};

static void ev_sink(const struct detect_event *e, void *userdata)
{
	struct evsink *s = userdata;

	if (e->type == DETECT_EVENT_REJECT && e->event_class < DETECT_N_CLASSES)
		s->n_reject[e->event_class]++;
	if (e->type != DETECT_EVENT_FINAL || s->n >= BENCH_MAX_EVENTS)
		return;
	s->ev[s->n].on = e->onset_index;
	s->ev[s->n].mask = e->channel_mask;
	s->ev[s->n].cls = e->event_class;
	s->n++;
}

/* twitchd's default chain for a case, as --analyze sets it up. */
static void bench_pipeline_init(struct pipeline *pl, unsigned int nch, double rate)
{
	struct dsp_config dsp;
	struct detect_config dcfg;

	dsp_config_default(&dsp);
	dsp.saturation_uv = FLT_MAX;
	detect_config_default(&dcfg);
	if (pipeline_init(pl, &dsp, &dcfg, nch, rate, BENCH_BLOCK_SCANS) < 0)
		die("pipeline_init");
}

/* twitchd's chain as --analyze runs it; returns the CPU seconds. */
static double run_twitchd(const float *in, size_t n, unsigned int nch,
			  double rate, struct evsink *sink)
{
	struct pipeline pl;
	double t0, t1;
	size_t start;

	bench_pipeline_init(&pl, nch, rate);
	sink->n = 0;
	memset(sink->n_reject, 0, sizeof(sink->n_reject));
	t0 = cpu_now();
	for (start = 0; start < n; start += BENCH_BLOCK_SCANS) {
		size_t m = n - start < BENCH_BLOCK_SCANS ? n - start :
			   BENCH_BLOCK_SCANS;

		if (pipeline_run(&pl, in + start * nch, m, start, ev_sink,
				 sink) < 0)
			die("pipeline_run");
	}
	if (detect_finish(pl.det, ev_sink, sink) < 0)
		die("detect_finish");
	t1 = cpu_now();
	sink->floor_uv = 0.0;
	for (start = 0; start < nch; start++)
		sink->floor_uv += detect_noise_floor_uv(pl.det,
					(uint32_t)start) / nch;
	pipeline_deinit(&pl);
	return t1 - t0;
}

/* The filtering half of the chain alone (pipeline_filter(): the DSP chains
 * and the shared mains decision, no detector): the share of the chain's
 * time spent filtering. */
static double run_dsp_only(const float *in, size_t n, unsigned int nch,
			   double rate)
{
	struct pipeline pl;
	double t0, t1;
	size_t start;

	bench_pipeline_init(&pl, nch, rate);
	t0 = cpu_now();
	for (start = 0; start < n; start += BENCH_BLOCK_SCANS) {
		size_t m = n - start < BENCH_BLOCK_SCANS ? n - start :
			   BENCH_BLOCK_SCANS;

		if (pipeline_filter(&pl, in + start * nch, m, start) < 0)
			die("pipeline_filter");
	}
	t1 = cpu_now();
	pipeline_deinit(&pl);
	return t1 - t0;
}

static char tmpdir[PATH_MAX];

/* BENCH_DETECT_SEED_OFFSET: added to every case's seed */
static uint64_t seed_offset;

static void case_path(char *buf, size_t len, size_t id, const char *ext)
{
	snprintf(buf, len, "%s/case%02zu.%s", tmpdir, id, ext);
}

static void write_case(size_t id, const struct bench_case *bc,
		       const struct case_data *cd, const double *x)
{
	size_t total = cd->n_scans * bc->n_ch, i;
	float *f = xcalloc(total, sizeof(*f));
	char path[PATH_MAX + 32];
	FILE *fp;

	for (i = 0; i < total; i++)
		f[i] = (float)x[i];
	case_path(path, sizeof(path), id, "f32");
	fp = fopen(path, "we");
	if (!fp || fwrite(f, sizeof(*f), total, fp) != total || fclose(fp))
		die("%s: %s", path, strerror(errno));
	free(f);
	case_path(path, sizeof(path), id, "truth");
	fp = fopen(path, "we");
	if (!fp)
		die("%s: %s", path, strerror(errno));
	fprintf(fp, "# case %zu: rate %.0f Hz, %u ch, SNR %.1f dB, sigma %.3f "
		"uV, peak %.3f uV, seed %" PRIu64 "\n# truth class onset10 "
		"start end mask | art kind start end mask\n", id, bc->rate_hz,
		bc->n_ch, bc->snr_db, cd->sigma, cd->amp_uv,
		bc->seed + seed_offset);
	for (i = 0; i < cd->n_truth; i++)
		fprintf(fp, "truth %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %#"
			PRIx64 "\n", subject_class_name(cd->truth[i].cls),
			cd->truth[i].on, cd->truth[i].start, cd->truth[i].end,
			cd->truth[i].mask);
	for (i = 0; i < cd->n_art; i++)
		fprintf(fp, "art %s %" PRIu64 " %" PRIu64 " %#" PRIx64 "\n",
			art_names[cd->art[i].kind], cd->art[i].start,
			cd->art[i].end, cd->art[i].mask);
	if (fclose(fp))
		die("%s: %s", path, strerror(errno));
}

static int rate_index(double rate)
{
	int k;

	for (k = 0; k < N_RATES; k++)
		if (rates[k] == rate)
			return k;
	die("rate %.0f not in the table", rate);
}

static void build_and_run(size_t id, FILE *manifest)
{
	const struct bench_case *bc = &cases[id];
	struct case_data *cd = &cdata[id];
	const struct pool *p = &pools[rate_index(bc->rate_hz)];
	const unsigned int nch = bc->n_ch;
	const size_t n = (size_t)(bc->dur_s * bc->rate_hz);
	const uint64_t seed = bc->seed + seed_offset;
	struct testrng r = { seed * UINT64_C(0x2545f4914f6cdd1d) };
	double *x = xcalloc(n * nch, sizeof(*x)), ss = 0.0;
	float *in, *y = xcalloc(n, sizeof(*y));
	struct evsink sink = { 0 };
	size_t i, c, skip = (size_t)(BENCH_SKIP_S * bc->rate_hz);
	uint64_t base_off = testrng_next(&r) % p->n;
	int rep;

	cd->n_scans = n;
	/* baseline: one pool offset per channel */
	for (c = 0; c < nch; c++) {
		uint64_t off = (base_off + c * (p->n / nch) +
				testrng_next(&r) % (p->n / (4 * nch) + 1)) % p->n;

		for (i = 0; i < n; i++)
			x[i * nch + c] = p->x[(off + i) % p->n];
		if (getenv("BENCH_DETECT_DEBUG"))
			fprintf(stderr, "case %zu ch %zu: pool offset %.3f s "
				"of %.3f\n", id, c, (double)off / bc->rate_hz,
				(double)p->n / bc->rate_hz);
	}
	for (c = 0; c < nch; c++) {
		dsp_filter(x + c, n, nch, bc->rate_hz, y);
		for (i = skip; i < n; i++)
			ss += (double)y[i] * y[i];
	}
	cd->sigma = sqrt(ss / (double)((n - skip) * nch));

	if (!isnan(bc->snr_db)) {
		struct subject_config sc = event_config(bc->rate_hz, nch, seed);
		double g = cd->sigma / 2.0;	/* subject bursts: 2 uV x 5-10 */
		double a_rms = cd->sigma * pow(10.0, bc->snr_db / 20.0);
		struct truth_log log = { 0 };
		double *s = xcalloc(n * nch, sizeof(*s));
		struct subject *sub;

		cd->amp_uv = a_rms * crest[rate_index(bc->rate_hz)];
		sc.mup_min_uv = sc.mup_max_uv = cd->amp_uv / g;
		if (bc->art & ART_HUM) {
			sc.mains_hz = bc->mains_hz;
			sc.mains_uv = 5.0 * cd->sigma / g;
			sc.mains_h3_frac = 0.1;
		}
		if (subject_new(&sc, &sub) < 0)
			die("subject_new (case %zu)", id);
		subject_emg_fill(sub, s, n, truth_cb, &log);
		subject_free(sub);
		cd->truth = xcalloc(log.n, sizeof(*cd->truth));
		for (i = 0; i < log.n; i++) {
			const struct subject_truth *t = &log.t[i];
			struct truth *u = &cd->truth[cd->n_truth];
			size_t len = t->onset_index + t->n_scans > n ?
				     n - t->onset_index : t->n_scans, first;

			if (t->cls >= N_CLS)
				continue;
			if (t->ramp_scans > 0.0)	/* its envelope at 10% */
				first = (size_t)ceil(t->ramp_scans *
						     acos(0.8) / M_PI);
			else
				span_rms(s + t->onset_index * nch + t->channel,
					 len, nch, &first, NULL);
			u->on = t->onset_index + first;
			u->start = t->onset_index;
			u->end = t->onset_index + t->n_scans;
			u->mask = t->channel_mask;
			u->cls = (int)t->cls;
			cd->n_truth++;
		}
		for (i = 0; i < n * nch; i++)
			x[i] += g * s[i];
		free(s);
		free(log.t);
		add_artefacts(bc, cd, x, &r);
		for (i = 0; i < n * nch; i++)
			x[i] = fmax(-BENCH_FULL_SCALE_UV,
				    fmin(BENCH_FULL_SCALE_UV, x[i]));
	}
	write_case(id, bc, cd, x);
	fprintf(manifest, "case %zu %.0f %u %zu %.0f %s/case%02zu.f32\n", id,
		bc->rate_hz, nch, n, bc->mains_hz, tmpdir, id);

	/* as --analyze hands saturated samples to the chain */
	in = xcalloc(n * nch, sizeof(*in));
	for (i = 0; i < n * nch; i++)
		in[i] = fabs(x[i]) >= BENCH_FULL_SCALE_UV ?
			(float)copysign(FLT_MAX, x[i]) : (float)x[i];
	free(x);
	free(y);
	sink.ev = xcalloc(BENCH_MAX_EVENTS, sizeof(*sink.ev));
	cd->cpu_s = INFINITY;
	for (rep = 0; rep < BENCH_REPEAT; rep++) {
		double t = run_twitchd(in, n, nch, bc->rate_hz, &sink);

		cd->cpu_s = fmin(cd->cpu_s, t);
		t = run_dsp_only(in, n, nch, bc->rate_hz);
		cd->dsp_s = rep ? fmin(cd->dsp_s, t) : t;
	}
	cd->ev[0] = xcalloc(sink.n, sizeof(struct ev));
	memcpy(cd->ev[0], sink.ev, sink.n * sizeof(struct ev));
	cd->n_ev[0] = sink.n;
	memcpy(cd->n_reject, sink.n_reject, sizeof(cd->n_reject));
	cd->floor_uv = sink.floor_uv;
	free(sink.ev);
	free(in);
}

/* ------------------------------------------------------------ reference */

static double ref_time_s;
static uint64_t ref_samples;
static char ref_info[512];

static bool run_reference(const char *argv0)
{
	const char *py = getenv("BENCH_DETECT_PYTHON");
	const char *script = getenv("BENCH_DETECT_REF");
	char path[PATH_MAX], cmd[3 * PATH_MAX], line[512];
	FILE *fp;
	size_t id;

	if (!py || !py[0])
		py = "/usr/bin/python3";
	if (!script || !script[0]) {
		script = "tests/bench/bench-detect-ref.py";
		if (access(script, R_OK) != 0) {
			/* build/tests/bench/bench-detect -> repo root */
			const char *slash = strrchr(argv0, '/');
			int len = slash ? (int)(slash - argv0) : 1;

			snprintf(path, sizeof(path),
				 "%.*s/../../../tests/bench/bench-detect-ref.py",
				 len, slash ? argv0 : ".");
			script = path;
		}
	}
	if (access(script, R_OK) != 0) {
		fprintf(stderr, "bench-detect: reference script not found\n");
		return false;
	}
	setenv("OMP_NUM_THREADS", "1", 1);
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	setenv("MKL_NUM_THREADS", "1", 1);
	snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s/manifest.txt'", py, script,
		 tmpdir);
	fflush(stdout);
	fp = popen(cmd, "r");
	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long on, mask, smp;
		double sec;

		if (sscanf(line, "EV %zu %llu %llx", &id, &on, &mask) == 3) {
			struct case_data *cd;

			if (id >= N_CASES)
				continue;
			cd = &cdata[id];
			cd->ev[1] = xrealloc(cd->ev[1], (cd->n_ev[1] + 1) *
					     sizeof(struct ev));
			cd->ev[1][cd->n_ev[1]].on = on;
			cd->ev[1][cd->n_ev[1]].mask = mask;
			cd->ev[1][cd->n_ev[1]].cls = UINT32_MAX;
			cd->n_ev[1]++;
		} else if (sscanf(line, "TIME %zu %lf %llu", &id, &sec,
				  &smp) == 3) {
			if (id < N_CASES)
				cdata[id].ref_done = true;
			ref_time_s += sec;
			ref_samples += smp;
		} else if (strncmp(line, "INFO ", 5) == 0) {
			snprintf(ref_info, sizeof(ref_info), "%s", line + 5);
			ref_info[strcspn(ref_info, "\n")] = '\0';
		} else {
			fputs(line, stderr);
		}
	}
	return pclose(fp) == 0;
}

/* ------------------------------------------------------------ scoring */

struct bin {
	size_t n_truth, tp, fp, near;	/* near: missed, an event within 100 ms */
	size_t split, cls_ok;
	struct dvec err;	/* ms */
};

struct tally {
	struct bin snr[N_SNR];
	struct bin cls[N_CLS];
	struct bin rate_ch[N_RATES][2];
	size_t fp_split, fp_art, fp_noise;
	size_t art_n[N_ART_KINDS], art_hit[N_ART_KINDS];
	double base_ch_min;
	size_t base_fp;
	double base_ch_min_rc[N_RATES][2];
	size_t base_fp_rc[N_RATES][2];
};

static struct tally tallies[2];

struct pair {
	double err;
	size_t t, e;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	double u = fabs(x->err), v = fabs(y->err);

	if (u != v)
		return u < v ? -1 : 1;
	return x->t != y->t ? (x->t < y->t ? -1 : 1) :
	       (x->e < y->e ? -1 : x->e > y->e);
}

static bool class_ok(int cls, uint32_t ev_cls)
{
	switch (cls) {
	case SUBJECT_FASCICULATION:
		return ev_cls == DETECT_CLASS_FASCICULATION;
	case SUBJECT_DOUBLET:
		return ev_cls == DETECT_CLASS_DOUBLET ||
		       ev_cls == DETECT_CLASS_MULTIPLET;
	case SUBJECT_MYOCLONUS:
		return ev_cls == DETECT_CLASS_DOUBLET ||
		       ev_cls == DETECT_CLASS_MULTIPLET ||
		       ev_cls == DETECT_CLASS_MYOCLONUS;
	default:
		return ev_cls == DETECT_CLASS_PHASIC ||
		       ev_cls == DETECT_CLASS_TONIC ||
		       ev_cls == DETECT_CLASS_MULTIPLET ||
		       ev_cls == DETECT_CLASS_MYOCLONUS;
	}
}

static void bin_add_tp(struct bin *b, double err_ms, bool ok)
{
	b->tp++;
	b->cls_ok += ok;
	dvec_push(&b->err, err_ms);
}

static void score_case(size_t id, int det)
{
	const struct bench_case *bc = &cases[id];
	const struct case_data *cd = &cdata[id];
	struct tally *ta = &tallies[det];
	const struct ev *ev = cd->ev[det];
	const size_t n_ev = cd->n_ev[det];
	const double rate = bc->rate_hz;
	const double tol = BENCH_TOL_MS * rate / 1000.0;
	const uint64_t w0 = (uint64_t)(BENCH_SKIP_S * rate);
	const uint64_t w1 = cd->n_scans - (uint64_t)(BENCH_TAIL_S * rate);
	int rk = rate_index(rate), ck = bc->n_ch > 1;
	size_t *t_match, *e_match, n_pairs = 0, cap = 64, i, j, sb = 0;
	struct pair *pairs;

	if (isnan(bc->snr_db)) {
		double ch_min = (double)(w1 - w0) / rate / 60.0 * bc->n_ch;

		ta->base_ch_min += ch_min;
		ta->base_ch_min_rc[rk][ck] += ch_min;
		for (j = 0; j < n_ev; j++) {
			if (ev[j].on < w0 || ev[j].on >= w1)
				continue;
			ta->base_fp++;
			ta->base_fp_rc[rk][ck]++;
			if (getenv("BENCH_DETECT_DEBUG"))
				fprintf(stderr, "fa %s case %zu at %.3f s mask "
					"%#" PRIx64 " class %s\n",
					det ? "ref" : "twitchd", id,
					(double)ev[j].on / rate, ev[j].mask,
					ev[j].cls == UINT32_MAX ? "-" :
					detect_class_name(ev[j].cls));
		}
		return;
	}
	while (snr_bins[sb] != bc->snr_db)
		sb++;
	pairs = xcalloc(cap, sizeof(*pairs));
	for (i = 0; i < cd->n_truth; i++) {
		for (j = 0; j < n_ev; j++) {
			double err = (double)ev[j].on - (double)cd->truth[i].on;

			if (fabs(err) > tol || !(ev[j].mask & cd->truth[i].mask))
				continue;
			if (n_pairs == cap) {
				cap *= 2;
				pairs = xrealloc(pairs, cap * sizeof(*pairs));
			}
			pairs[n_pairs].err = err;
			pairs[n_pairs].t = i;
			pairs[n_pairs].e = j;
			n_pairs++;
		}
	}
	qsort(pairs, n_pairs, sizeof(*pairs), cmp_pair);
	t_match = xcalloc(cd->n_truth, sizeof(*t_match));
	e_match = xcalloc(n_ev, sizeof(*e_match));
	for (i = 0; i < cd->n_truth; i++)
		t_match[i] = SIZE_MAX;
	for (j = 0; j < n_ev; j++)
		e_match[j] = SIZE_MAX;
	for (i = 0; i < n_pairs; i++) {
		if (t_match[pairs[i].t] != SIZE_MAX ||
		    e_match[pairs[i].e] != SIZE_MAX)
			continue;
		t_match[pairs[i].t] = pairs[i].e;
		e_match[pairs[i].e] = pairs[i].t;
	}
	for (i = 0; i < cd->n_truth; i++) {
		const struct truth *t = &cd->truth[i];
		struct bin *bs = &ta->snr[sb], *bk = &ta->cls[t->cls];
		struct bin *br = &ta->rate_ch[rk][ck];

		if (t->on < w0 || t->on >= w1)
			continue;
		bs->n_truth++;
		bk->n_truth++;
		br->n_truth++;
		if (t_match[i] == SIZE_MAX && getenv("BENCH_DETECT_DEBUG")) {
			double best = INFINITY;

			for (j = 0; j < n_ev; j++)
				if ((ev[j].mask & t->mask) &&
				    fabs((double)ev[j].on - (double)t->on) <
				    fabs(best))
					best = (double)ev[j].on - (double)t->on;
			fprintf(stderr, "miss %s case %zu %s at %.3f s (%.0f ms), "
				"nearest event %+.1f ms\n",
				det ? "ref" : "twitchd", id,
				subject_class_name(t->cls), (double)t->on / rate,
				(double)(t->end - t->start) * 1000.0 / rate,
				best * 1000.0 / rate);
		}
		if (t_match[i] == SIZE_MAX) {
			for (j = 0; j < n_ev; j++) {
				if (fabs((double)ev[j].on - (double)t->on) <=
				    0.1 * rate && (ev[j].mask & t->mask)) {
					bs->near++;
					break;
				}
			}
		} else {
			const struct ev *e = &ev[t_match[i]];
			double err_ms = ((double)e->on - (double)t->on) *
					1000.0 / rate;
			bool ok = e->cls != UINT32_MAX && class_ok(t->cls, e->cls);

			bin_add_tp(bs, err_ms, ok);
			bin_add_tp(bk, err_ms, ok);
			bin_add_tp(br, err_ms, ok);
		}
	}
	for (j = 0; j < n_ev; j++) {
		const struct ev *e = &ev[j];
		bool done = false;

		if (e_match[j] != SIZE_MAX || e->on < w0 || e->on >= w1)
			continue;
		ta->snr[sb].fp++;
		ta->rate_ch[rk][ck].fp++;
		for (i = 0; !done && i < cd->n_truth; i++) {
			const struct truth *t = &cd->truth[i];

			if ((double)e->on + tol >= (double)t->start &&
			    (double)e->on <= (double)t->end + tol &&
			    (e->mask & t->mask)) {
				ta->cls[t->cls].split++;
				ta->cls[t->cls].fp++;
				ta->fp_split++;
				done = true;
			}
		}
		for (i = 0; !done && i < cd->n_art; i++) {
			const struct art *a = &cd->art[i];

			if ((double)e->on + tol >= (double)a->start &&
			    (double)e->on <= (double)a->end + tol &&
			    (e->mask & a->mask)) {
				ta->fp_art++;
				done = true;
			}
		}
		if (!done)
			ta->fp_noise++;
		if (getenv("BENCH_DETECT_DEBUG"))
			fprintf(stderr, "fp %s case %zu at %.3f s mask %#" PRIx64
				" class %s (%s)\n", det ? "ref" : "twitchd", id,
				(double)e->on / rate, e->mask,
				e->cls == UINT32_MAX ? "-" :
				detect_class_name(e->cls),
				done ? "split/artefact" : "noise");
	}
	/* artefacts followed by at least one FINAL event */
	for (i = 0; i < cd->n_art; i++) {
		const struct art *a = &cd->art[i];
		bool hit = false;

		for (j = 0; !hit && j < n_ev; j++)
			hit = e_match[j] == SIZE_MAX &&
			      (double)ev[j].on + tol >= (double)a->start &&
			      (double)ev[j].on <= (double)a->end + tol &&
			      (ev[j].mask & a->mask);
		ta->art_n[a->kind]++;
		ta->art_hit[a->kind] += hit;
	}
	free(pairs);
	free(t_match);
	free(e_match);
}

static double mean_of(const struct dvec *d)
{
	double sum = 0.0;
	size_t i;

	for (i = 0; i < d->n; i++)
		sum += d->v[i];
	return d->n ? sum / (double)d->n : NAN;
}

static double div0(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

static void prf(const struct bin *b, double *se, double *pr, double *f1)
{
	*se = div0((double)b->tp, (double)b->n_truth);
	*pr = div0((double)b->tp, (double)(b->tp + b->fp));
	*f1 = div0(2.0 * *se * *pr, *se + *pr);
}

static void bin_merge(struct bin *to, const struct bin *from)
{
	size_t i;

	to->n_truth += from->n_truth;
	to->tp += from->tp;
	to->fp += from->fp;
	to->near += from->near;
	to->split += from->split;
	to->cls_ok += from->cls_ok;
	for (i = 0; i < from->err.n; i++)
		dvec_push(&to->err, from->err.v[i]);
}

static void print_bin_row(const char *label, const struct bin *b0,
			  const struct bin *b1, bool have_ref, bool cls)
{
	double se, pr, f1, se1, pr1, f11;

	prf(b0, &se, &pr, &f1);
	prf(b1, &se1, &pr1, &f11);
	printf("  %-14s %5zu | %5.3f %5.3f %5.3f %+6.2f %6.2f %6.2f", label,
	       b0->n_truth, se, pr, f1, mean_of(&b0->err),
	       abs_quantile(&b0->err, 0.5), abs_quantile(&b0->err, 0.95));
	if (cls)
		printf(" %5.3f", div0((double)b0->cls_ok, (double)b0->tp));
	if (have_ref)
		printf(" | %5.3f %5.3f %5.3f %6.2f", se1, pr1, f11,
		       abs_quantile(&b1->err, 0.95));
	printf("\n");
}

/* ------------------------------------------------------------ main */

static bool keep_tmpdir;

static void remove_tmpdir(void)
{
	char path[PATH_MAX + 32];
	size_t id;

	if (!tmpdir[0])
		return;
	if (keep_tmpdir) {
		fprintf(stderr, "bench-detect: cases kept in %s\n", tmpdir);
		return;
	}
	for (id = 0; id < N_CASES; id++) {
		case_path(path, sizeof(path), id, "f32");
		unlink(path);
		case_path(path, sizeof(path), id, "truth");
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/manifest.txt", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

int main(int argc, char **argv)
{
	const char *td = getenv("TMPDIR"), *keep = getenv("BENCH_DETECT_KEEP");
	const char *so = getenv("BENCH_DETECT_SEED_OFFSET");
	long only = -1;
	bool have_ref, ref_all = true;
	double cpu_total = 0.0, cpu_ref_cases = 0.0, dsp_total = 0.0;
	uint64_t samples = 0, samples_ref_cases = 0;
	struct bin all[2] = { { 0 } }, up6[2] = { { 0 } };
	char path[PATH_MAX + 32];
	FILE *manifest;
	size_t id, k, d;
	int c;

	for (c = 1; c < argc; c++) {
		if (strcmp(argv[c], "--case") == 0 && c + 1 < argc)
			only = strtol(argv[++c], NULL, 10);
		else
			die("usage: bench-detect [--case N]");
	}
	if (only >= (long)N_CASES)
		die("no case %ld (0-%zu)", only, N_CASES - 1);
	if (so && so[0]) {
		char *end;

		errno = 0;
		seed_offset = strtoull(so, &end, 10);
		if (errno || *end || so[0] == '-')
			die("BENCH_DETECT_SEED_OFFSET: not a number: %s", so);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/bench-detect-XXXXXX",
		 td && td[0] ? td : "/tmp");
	if (!mkdtemp(tmpdir))
		die("mkdtemp %s: %s", tmpdir, strerror(errno));
	keep_tmpdir = keep && strcmp(keep, "1") == 0;
	atexit(remove_tmpdir);

	printf("bench-detect: twitchd's chain (dsp + detect, as --analyze) vs "
	       "a SciPy reference on real potentials in real baselines\n");
	printf("data: %s/data (emgdb: PhysioNet, ODC-By 1.0, Goldberger et al. "
	       "2000; biosppy: BSD-3-Clause)\n", shared_dir());
	load_templates();
	for (k = 0; k < N_BASELINE_RECORDS; k++)
		pool_add_record(baseline_records[k]);
	for (k = 0; k < N_RATES; k++) {
		pool_close(&pools[k], rates[k]);
		if (pools[k].n < (size_t)(10 * rates[k]))
			die("baseline pool too short at %.0f Hz", rates[k]);
		crest[k] = measure_crest(rates[k], &kept[k]);
		printf("  pool at %4.0f Hz: %.1f s; templates: crest factor "
		       "(peak / RMS over >=10%% span) %.2f, peak left after "
		       "twitchd's filters %.0f%%\n", rates[k],
		       (double)pools[k].n / rates[k], crest[k],
		       100.0 * kept[k]);
	}
	if (seed_offset)
		printf("seeds: every case's seed + %" PRIu64
		       " (BENCH_DETECT_SEED_OFFSET)\n", seed_offset);
	printf("matching: FINAL events, onset within +-%.0f ms of the 10%% "
	       "onset, sharing a channel, one-to-one by smallest error; "
	       "scored in [%.1f s, end - %.1f s)\n", BENCH_TOL_MS,
	       BENCH_SKIP_S, BENCH_TAIL_S);

	snprintf(path, sizeof(path), "%s/manifest.txt", tmpdir);
	manifest = fopen(path, "we");
	if (!manifest)
		die("%s: %s", path, strerror(errno));
	printf("\n  id  rate ch   SNR  sigma   peak truths arts | twitchd "
	       "floor events rejects  cpu ms (dsp)\n");
	for (id = 0; id < N_CASES; id++) {
		const struct case_data *cd = &cdata[id];
		uint64_t rej = 0;

		if (only >= 0 && (size_t)only != id)
			continue;
		build_and_run(id, manifest);
		for (k = 0; k < DETECT_N_CLASSES; k++)
			rej += cd->n_reject[k];
		printf("  %2zu %5.0f %2u %5.1f %6.2f %6.1f %6zu %4zu | %13.2f "
		       "%6zu %7" PRIu64 " %7.2f (%5.2f)\n", id,
		       cases[id].rate_hz, cases[id].n_ch, cases[id].snr_db,
		       cd->sigma, cd->amp_uv, cd->n_truth, cd->n_art,
		       cd->floor_uv, cd->n_ev[0], rej,
		       cd->cpu_s * 1000.0, cd->dsp_s * 1000.0);
		cpu_total += cd->cpu_s;
		dsp_total += cd->dsp_s;
		samples += (uint64_t)cd->n_scans * cases[id].n_ch;
	}
	if (fclose(manifest))
		die("%s: %s", path, strerror(errno));

	printf("\nreference: ");
	have_ref = run_reference(argv[0]);
	printf("%s\n", have_ref ? ref_info : "FAILED (see stderr); ref "
	       "values are nan");
	for (id = 0; id < N_CASES; id++) {
		if (only >= 0 && (size_t)only != id)
			continue;
		score_case(id, 0);
		if (have_ref && cdata[id].ref_done) {
			score_case(id, 1);
			cpu_ref_cases += cdata[id].cpu_s;
			samples_ref_cases += (uint64_t)cdata[id].n_scans *
					     cases[id].n_ch;
		} else {
			ref_all = false;
		}
	}
	have_ref = have_ref && ref_all;

	for (d = 0; d < 2; d++) {
		for (k = 0; k < N_SNR; k++) {
			bin_merge(&all[d], &tallies[d].snr[k]);
			if (snr_bins[k] >= 6)
				bin_merge(&up6[d], &tallies[d].snr[k]);
		}
	}

	printf("\nper SNR              | twitchd: Se    Prec  F1    onset "
	       "ms: mean, |err| p50 p95 | reference: Se Prec F1 p95\n");
	for (k = 0; k < N_SNR; k++) {
		char label[32];

		snprintf(label, sizeof(label), "%4.0f dB", snr_bins[k]);
		if (tallies[0].snr[k].n_truth)
			print_bin_row(label, &tallies[0].snr[k],
				      &tallies[1].snr[k], have_ref, false);
	}
	print_bin_row(">= 6 dB", &up6[0], &up6[1], have_ref, false);
	print_bin_row("all", &all[0], &all[1], have_ref, false);

	printf("\nper class (Prec: splits only) | twitchd: Se Prec F1 mean p50 p95 "
	       "class-agree | reference: Se Prec F1 p95\n");
	for (k = 0; k < N_CLS; k++)
		print_bin_row(subject_class_name((enum subject_class)k),
			      &tallies[0].cls[k], &tallies[1].cls[k], have_ref,
			      true);

	printf("\nper rate and channels | twitchd: Se Prec F1 mean p50 p95 | "
	       "reference: Se Prec F1 p95\n");
	for (k = 0; k < N_RATES; k++) {
		for (d = 0; d < 2; d++) {
			char label[32];

			snprintf(label, sizeof(label), "%4.0f Hz %s", rates[k],
				 d ? "8 ch" : "1 ch");
			if (tallies[0].rate_ch[k][d].n_truth)
				print_bin_row(label, &tallies[0].rate_ch[k][d],
					      &tallies[1].rate_ch[k][d],
					      have_ref, false);
		}
	}

	printf("\nmissed truths with an event within 100 ms (onset off by "
	       "> 15 ms): twitchd %zu of %zu misses, reference %zu of %zu\n",
	       all[0].near, all[0].n_truth - all[0].tp, all[1].near,
	       all[1].n_truth - all[1].tp);
	printf("false positives in injected cases: twitchd %zu (split %zu, "
	       "artefact %zu, noise %zu)", all[0].fp, tallies[0].fp_split,
	       tallies[0].fp_art, tallies[0].fp_noise);
	if (have_ref)
		printf("; reference %zu (split %zu, artefact %zu, noise %zu)",
		       all[1].fp, tallies[1].fp_split, tallies[1].fp_art,
		       tallies[1].fp_noise);
	printf("\nartefacts with a FINAL event on them (twitchd | reference):\n");
	for (k = 0; k < N_ART_KINDS; k++)
		printf("  %-12s %3zu/%-3zu | %3zu/%-3zu\n", art_names[k],
		       tallies[0].art_hit[k], tallies[0].art_n[k],
		       tallies[1].art_hit[k], tallies[1].art_n[k]);
	printf("untouched baselines, FINAL events per channel-minute "
	       "(twitchd | reference):\n");
	for (k = 0; k < N_RATES; k++)
		for (d = 0; d < 2; d++)
			if (tallies[0].base_ch_min_rc[k][d] > 0)
				printf("  %4.0f Hz %s %5.1f ch-min: %5.2f | "
				       "%5.2f\n", rates[k], d ? "8 ch" : "1 ch",
				       tallies[0].base_ch_min_rc[k][d],
				       (double)tallies[0].base_fp_rc[k][d] /
				       tallies[0].base_ch_min_rc[k][d],
				       (double)tallies[1].base_fp_rc[k][d] /
				       tallies[0].base_ch_min_rc[k][d]);

	{
		double se, pr, f1, se_r, pr_r, f1_r, f6, f6_r, xs, xp;
		double msps = (double)samples / cpu_total / 1e6;
		double ref_msps = have_ref ? (double)ref_samples / ref_time_s /
				  1e6 : NAN;
		double own_ref = (double)samples_ref_cases / cpu_ref_cases / 1e6;
		double fpm = div0((double)tallies[0].base_fp,
				  tallies[0].base_ch_min);
		double fpm_r = have_ref ? div0((double)tallies[1].base_fp,
				  tallies[1].base_ch_min) : NAN;
		size_t art_hit = 0, art_n = 0;

		prf(&all[0], &se, &pr, &f1);
		prf(&up6[0], &xs, &xp, &f6);
		prf(&all[1], &se_r, &pr_r, &f1_r);
		prf(&up6[1], &xs, &xp, &f6_r);
		if (!have_ref)
			f1_r = f6_r = se_r = pr_r = NAN;
		for (k = 0; k < N_ART_KINDS; k++) {
			art_hit += tallies[0].art_hit[k];
			art_n += tallies[0].art_n[k];
		}
		printf("\nspeed: twitchd %.1f M samples/s per core (%" PRIu64
		       " samples, %.3f s CPU, best of %d; the DSP chains alone "
		       "take %.3f s, %.0f%%); reference %.2f M samples/s (%"
		       PRIu64 " samples, %.3f s)\n", msps, samples, cpu_total,
		       BENCH_REPEAT, dsp_total, 100.0 * dsp_total / cpu_total,
		       ref_msps, ref_samples, ref_time_s);
		printf("targets: F1 >= 0.95 at >= 6 dB: %s; F1 >= 0.85 all: %s; "
		       "<= 0.5 FA/min: %s; onset p95 <= 5 ms: %s; >= 100 M "
		       "samples/s: %s; >= 50x reference: %s\n",
		       f6 >= 0.95 ? "met" : "NOT met",
		       f1 >= 0.85 ? "met" : "NOT met",
		       fpm <= 0.5 ? "met" : "NOT met",
		       abs_quantile(&all[0].err, 0.95) <= 5.0 ? "met" : "NOT met",
		       msps >= 100 ? "met" : "NOT met",
		       have_ref && own_ref / ref_msps >= 50 ? "met" :
		       have_ref ? "NOT met" : "unknown");
		printf("RESULT f1_snr6up=%.4f f1_all=%.4f fp_per_min=%.3f "
		       "onset_p95_ms=%.2f ref_f1_snr6up=%.4f speed_vs_ref=%.1f "
		       "msamples_per_s=%.1f sens_all=%.4f prec_all=%.4f "
		       "onset_p50_ms=%.2f art_fp_frac=%.3f ref_f1_all=%.4f "
		       "ref_fp_per_min=%.3f ref_onset_p95_ms=%.2f "
		       "ref_msamples_per_s=%.2f\n", f6, f1, fpm,
		       abs_quantile(&all[0].err, 0.95), f6_r,
		       have_ref ? own_ref / ref_msps : NAN, msps, se, pr,
		       abs_quantile(&all[0].err, 0.5),
		       div0((double)art_hit, (double)art_n), f1_r, fpm_r,
		       have_ref ? abs_quantile(&all[1].err, 0.95) : NAN,
		       ref_msps);
	}
	for (id = 0; id < N_CASES; id++) {
		free(cdata[id].truth);
		free(cdata[id].art);
		free(cdata[id].ev[0]);
		free(cdata[id].ev[1]);
	}
	for (d = 0; d < 2; d++) {
		free(all[d].err.v);
		free(up6[d].err.v);
		for (k = 0; k < N_SNR; k++)
			free(tallies[d].snr[k].err.v);
		for (k = 0; k < N_CLS; k++)
			free(tallies[d].cls[k].err.v);
		for (k = 0; k < N_RATES; k++) {
			free(tallies[d].rate_ch[k][0].err.v);
			free(tallies[d].rate_ch[k][1].err.v);
		}
	}
	for (k = 0; k < N_RATES; k++)
		free(pools[k].x);
	free(tpl_raw);
	return 0;
}

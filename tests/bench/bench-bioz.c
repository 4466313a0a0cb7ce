// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-bioz.c - twitchd's Cole fit (daemon/bioz.c bioz_cole_fit(), default
 * options) over a grid of noisy synthetic bodies and, in the same run on the
 * same spectra, the fit a competent user would write instead: SciPy's
 * least_squares with a robust loss (tests/bench/bench-bioz-ref.py, run by
 * Debian's /usr/bin/python3 with python3-scipy). Measured: fits per second,
 * the p50/p99 time of one fit, and the errors of R0, Rinf, alpha and fc
 * against the true parameters, p50/p95, both computed here the same way.
 * The last line is RESULT name=value ...
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bioz.h"
#include "bioz-live.h"
#include "testrng.h"

/*
 * Method (the program prints a summary of it too).
 *
 * Bodies: Cole parameters over the whole-body ranges of the NHANES
 * 1999-2000 BIX codebook, n = 4136 fitted (../shared/reference/
 * bioimpedance.md section 3.1): Re 303.2-1087.4 ohm, Ri 217.8-3098.7 ohm,
 * alpha 0.3-0.953, fc 2-456 kHz, Cm 0.24-64.94 nF. The grid is Re at 4
 * points evenly over its range, Ri at 4 log-spaced, alpha at 5 evenly, fc
 * at 6 log-spaced, both ends included; R0 = Re, Rinf = Re Ri/(Re + Ri). A
 * combination whose Cm = 1/(2 pi fc (Re + Ri)) falls outside the NHANES Cm
 * range is left out (no such person was seen), which leaves 410 bodies.
 * Each body gets BENCH_BIOZ_REPS (default 20) noise draws:
 * 8200 fits; the whole run takes about 25 s on the 2-core CI VM (SciPy ~23 s).
 *
 * Spectra: 50 log-spaced frequencies 5 kHz - 1 MHz, the Xitron Hydra 4200 /
 * NHANES sweep (section 3.2) that test-bioz and bioz_vectors.py use too
 * (the AD5933 stops at 100 kHz and cannot do BIS, section 8.1). Noise as in
 * test-bioz: Z *= (1 + 0.01 g1) exp(j 0.5 deg g2), g Gaussian (splitmix64 +
 * Box-Muller), one fixed seed per spectrum (its index + 1): reruns match.
 *
 * twitchd: one untimed warm-up fit, then each fit timed alone with
 * CLOCK_MONOTONIC (p50/p99), and the whole loop with CLOCK_THREAD_CPUTIME_ID
 * and CLOCK_MONOTONIC: fits/s = fits / the thread's CPU seconds (and / wall
 * seconds). Compiled -O2 like the rest of the build; one thread. The
 * time percentiles are also printed over the fits twitchd trusts and over
 * the typical bodies (alpha and fc not at the ends of their ranges): a fit
 * that does not converge runs to max_iter and sets the overall p99.
 *
 * SciPy: the same spectra (%.17g) go to a CSV in a mkdtemp directory; the
 * script parses all of it first, fits once untimed, then times each fit
 * (x0 from the data + least_squares) with time.perf_counter and the loop
 * with time.process_time; Python start-up and parsing are not counted.
 * OPENBLAS/OMP/MKL threads are set to 1 so both sides use one thread.
 * speed_vs_ref = our CPU fits/s over SciPy's CPU fits/s.
 *
 * Errors, both fitters alike: |R0 fit/true - 1| and |Rinf fit/true - 1|
 * in %, |alpha fit - true|, |fc fit/true - 1| in %; a fit without a
 * finite value counts as an infinite error. Fits twitchd flags untrusted
 * (BIOZ_FIT_UNTRUSTED_MASK) are counted and included in the RESULT's
 * statistics; the statistics over the fits twitchd trusts (both fitters on
 * that same subset) are printed beside them.
 *
 * Live (tests/bench/bioz-live.c, method there): the real twitchd fitting
 * the sweeps of twitch-devsim's simulated AD5933 (50 points, 5-100 kHz, one
 * a second, BENCH_BIOZ_LIVE_SWEEPS of them, default 30; 0 skips it), timed
 * from the simulator making each sweep's last point to its estimate record
 * being readable in the events ring (target: under 50 ms). Beside it, for
 * scale, SciPy's p99 for one fit: what the same step costs with the fit a
 * user would otherwise write, before any acquisition or publishing.
 *
 * BENCH_BIOZ_MAX_FITS=N fits only the first N spectra (a smoke run);
 * BENCH_BIOZ_REF overrides the script's path (default: next to this
 * source, tests/bench/bench-bioz-ref.py from the top of the tree);
 * BENCH_BIOZ_DUMP=FILE writes every sweep's truth and both fits as CSV.
 */

#define NF		50
#define F_LO_HZ		5e3
#define F_HI_HZ		1e6
#define NOISE_MAG	0.01			/* relative SD of |Z| */
#define NOISE_PHASE_DEG	0.5			/* SD of arg Z */
#define DEFAULT_REPS	20u
#ifndef PYTHON
#define PYTHON		"/usr/bin/python3"	/* Debian's, with python3-scipy */
#endif

/* NHANES 1999-2000 BIX ranges (bioimpedance.md section 3.1) */
#define RE_MIN		303.2
#define RE_MAX		1087.4
#define RI_MIN		217.8
#define RI_MAX		3098.7
#define ALPHA_MIN	0.3
#define ALPHA_MAX	0.953
#define FC_MIN_HZ	2e3
#define FC_MAX_HZ	456e3
#define CM_MIN_F	0.24e-9
#define CM_MAX_F	64.94e-9
#define N_RE		4
#define N_RI		4
#define N_ALPHA		5
#define N_FC		6

enum { P_R0, P_RINF, P_ALPHA, P_FC, NPAR };
#define N_FLAGS		12
static const char *const flag_name[N_FLAGS] = {
	"NOT_RUN", "TOO_FEW_POINTS", "NOT_CONVERGED", "ALPHA_RANGE", "R0_LE_RINF", "SINGULAR",
	"SE_LARGE", "RESIDUAL_HIGH", "TOO_MANY_OUTLIERS", "OUTLIERS_DROPPED", "HOOK",
	"FC_OUT_OF_BAND",
};
static const char *const par_name[NPAR] = { "R0 err %", "Rinf err %", "alpha err", "fc err %" };

struct body {
	double r0, rinf, fc, alpha;
	bool typical;		/* alpha, fc off the extremes of their ranges */
};

struct est {
	double p[NPAR];		/* R0, Rinf, alpha, fc */
	double us;		/* time of this fit */
	uint32_t flags;		/* ours: bioz_fit.flags */
	int status;		/* SciPy: least_squares status, -9 exception */
	bool have;
};

struct totals {
	double cpu_s, wall_s;
	size_t n;
};

static char tmp_dir[4096];
static char csv_path[4200];

static void cleanup(void)
{
	if (csv_path[0])
		unlink(csv_path);
	if (tmp_dir[0])
		rmdir(tmp_dir);
}

static struct testrng rng;		/* as test-bioz */

static double ts_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double lin(double lo, double hi, int i, int n)
{
	return lo + (hi - lo) * i / (n - 1);
}

static double logsp(double lo, double hi, int i, int n)
{
	return lo * pow(hi / lo, i / (double)(n - 1));
}

static size_t make_bodies(struct body *b)
{
	size_t n = 0;
	int a, c, d, e;

	for (a = 0; a < N_RE; a++)
	for (c = 0; c < N_RI; c++)
	for (d = 0; d < N_ALPHA; d++)
	for (e = 0; e < N_FC; e++) {
		double re = lin(RE_MIN, RE_MAX, a, N_RE), ri = logsp(RI_MIN, RI_MAX, c, N_RI);
		double fc = logsp(FC_MIN_HZ, FC_MAX_HZ, e, N_FC);
		double cm = 1.0 / (2.0 * M_PI * fc * (re + ri));

		if (cm < CM_MIN_F || cm > CM_MAX_F)
			continue;
		if (b) {
			b[n].r0 = re;
			b[n].rinf = re * ri / (re + ri);
			b[n].alpha = lin(ALPHA_MIN, ALPHA_MAX, d, N_ALPHA);
			b[n].fc = fc;
			b[n].typical = d > 0 && d < N_ALPHA - 1 && e > 0 && e < N_FC - 1;
		}
		n++;
	}
	return n;
}

/* spectrum of body @b with noise seeded by @seed */
static void spectrum(const double *f, const struct body *b, uint64_t seed, double *r, double *x)
{
	int i;

	rng.s = seed;
	for (i = 0; i < NF; i++) {
		double zr, zx, g1, g2, m, ph;

		bioz_cole_z(f[i], b->r0, b->rinf, b->fc, b->alpha, 0, &zr, &zx);
		g1 = testrng_gauss(&rng);
		g2 = testrng_gauss(&rng);
		m = hypot(zr, zx) * (1.0 + NOISE_MAG * g1);
		ph = atan2(zx, zr) + NOISE_PHASE_DEG * M_PI / 180.0 * g2;
		r[i] = m * cos(ph);
		x[i] = m * sin(ph);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of v[i] over i with mask[i] (mask NULL: all) */
static double pctl(const double *v, const bool *mask, size_t n, double p, double *tmp)
{
	size_t i, m = 0, k;

	for (i = 0; i < n; i++)
		if (!mask || mask[i])
			tmp[m++] = v[i];
	if (!m)
		return NAN;
	qsort(tmp, m, sizeof(*tmp), cmp_double);
	k = (size_t)ceil(p / 100.0 * (double)m);
	return tmp[k ? k - 1 : 0];
}

static void errors_of(const struct body *b, const struct est *e, double *err)
{
	double t[NPAR] = { b->r0, b->rinf, b->alpha, b->fc };
	int k;

	for (k = 0; k < NPAR; k++) {
		double v = e->have ? e->p[k] : NAN;

		if (!isfinite(v))
			err[k] = INFINITY;
		else if (k == P_ALPHA)
			err[k] = fabs(v - t[k]);
		else
			err[k] = fabs(v / t[k] - 1.0) * 100.0;
	}
}

static char py_path[] = PYTHON;

static char *ref_script(void)
{
	static char buf[4096];
	const char *env = getenv("BENCH_BIOZ_REF"), *slash;

	if (env && *env) {
		snprintf(buf, sizeof(buf), "%s", env);
		return buf;
	}
	slash = strrchr(__FILE__, '/');
	snprintf(buf, sizeof(buf), "%.*s/bench-bioz-ref.py",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	return buf;
}

/* fork + exec @argv with stdout to a pipe (ret_fd) or /dev/null (ret_fd NULL) */
static pid_t spawn(char *const argv[], int *ret_fd)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (ret_fd && pipe(p) < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (ret_fd) {
			dup2(p[1], 1);
			close(p[0]);
			close(p[1]);
		} else if (!freopen("/dev/null", "w", stdout) ||
			   !freopen("/dev/null", "w", stderr)) {
			_exit(127);
		}
		setenv("OPENBLAS_NUM_THREADS", "1", 1);
		setenv("OMP_NUM_THREADS", "1", 1);
		setenv("MKL_NUM_THREADS", "1", 1);
		setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
		execv(argv[0], argv);
		fprintf(stderr, "bench-bioz: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (ret_fd) {
		close(p[1]);
		*ret_fd = p[0];
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int check_scipy(const char *script)
{
	static char opt_c[] = "-c", code[] = "import numpy, scipy.optimize";
	char *argv[] = { py_path, opt_c, code, NULL };
	pid_t pid;

	if (access(PYTHON, X_OK) < 0 || (pid = spawn(argv, NULL)) < 0 || wait_exit(pid) != 0) {
		fprintf(stderr, "bench-bioz: the reference needs SciPy: " PYTHON " cannot import "
			"numpy and scipy.optimize (apt-get install python3-scipy)\n");
		return -1;
	}
	if (access(script, R_OK) < 0) {
		fprintf(stderr, "bench-bioz: %s: %s (run from the top of the tree, or set "
			"BENCH_BIOZ_REF)\n", script, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_csv(const double *f, double (*r)[NF], double (*x)[NF], size_t n)
{
	const char *td = getenv("TMPDIR");
	FILE *fp;
	size_t i;
	int k;

	snprintf(tmp_dir, sizeof(tmp_dir), "%s/bench-bioz-XXXXXX", td && *td ? td : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		fprintf(stderr, "bench-bioz: mkdtemp %s: %s\n", tmp_dir, strerror(errno));
		tmp_dir[0] = 0;
		return -1;
	}
	snprintf(csv_path, sizeof(csv_path), "%s/spectra.csv", tmp_dir);
	fp = fopen(csv_path, "w");
	if (!fp) {
		fprintf(stderr, "bench-bioz: %s: %s\n", csv_path, strerror(errno));
		csv_path[0] = 0;
		return -1;
	}
	fprintf(fp, "freq_hz");
	for (k = 0; k < NF; k++)
		fprintf(fp, ",%.17g", f[k]);
	fputc('\n', fp);
	for (i = 0; i < n; i++) {
		fprintf(fp, "%zu", i);
		for (k = 0; k < NF; k++)
			fprintf(fp, ",%.17g", r[i][k]);
		for (k = 0; k < NF; k++)
			fprintf(fp, ",%.17g", x[i][k]);
		fputc('\n', fp);
	}
	if (fclose(fp) != 0) {
		fprintf(stderr, "bench-bioz: writing %s failed\n", csv_path);
		return -1;
	}
	return 0;
}

static int run_ref(char *script, struct est *ref, size_t n, struct totals *t)
{
	char *argv[] = { py_path, script, csv_path, NULL };
	char *line = NULL;
	size_t cap = 0, got = 0;
	bool total = false;
	FILE *fp;
	pid_t pid;
	int fd, rc;

	pid = spawn(argv, &fd);
	if (pid < 0) {
		fprintf(stderr, "bench-bioz: cannot start %s: %s\n", PYTHON, strerror(errno));
		return -1;
	}
	fp = fdopen(fd, "r");
	if (!fp) {
		close(fd);
		wait_exit(pid);
		return -1;
	}
	while (getline(&line, &cap, fp) > 0) {
		struct est e = { .have = true };
		size_t id, nt;
		int nfev;

		if (sscanf(line, "FIT %zu %lf %lf %lf %lf %lf %d %d", &id, &e.p[P_R0],
			   &e.p[P_RINF], &e.p[P_FC], &e.p[P_ALPHA], &e.us, &e.status,
			   &nfev) == 8 && id < n) {
			if (!ref[id].have)
				got++;
			ref[id] = e;
		} else if (sscanf(line, "TOTAL %zu %lf %lf", &nt, &t->cpu_s, &t->wall_s) == 3) {
			t->n = nt;
			total = true;
		}
	}
	free(line);
	fclose(fp);
	rc = wait_exit(pid);
	if (rc != 0 || !total || got != n) {
		fprintf(stderr, "bench-bioz: the SciPy reference failed (exit %d, %zu of %zu fits%s)\n",
			rc, got, n, rc == 3 ? "; install python3-scipy" : "");
		return -1;
	}
	return 0;
}

struct stats {
	double p50[NPAR], p95[NPAR];
	double t_p50, t_p99, fits_cpu, fits_wall;
};

static void err_stats(const struct body *bodies, const struct est *e, size_t n,
		      const bool *mask, struct stats *s, double (*err)[NPAR], double *tmp,
		      double *col)
{
	size_t i;
	int k;

	for (i = 0; i < n; i++)
		errors_of(&bodies[i], &e[i], err[i]);
	for (k = 0; k < NPAR; k++) {
		for (i = 0; i < n; i++)
			col[i] = err[i][k];
		s->p50[k] = pctl(col, mask, n, 50, tmp);
		s->p95[k] = pctl(col, mask, n, 95, tmp);
	}
}

static void time_stats(const struct est *e, size_t n, const bool *mask, const struct totals *t,
		       struct stats *s, double *tmp, double *col)
{
	size_t i;

	for (i = 0; i < n; i++)
		col[i] = e[i].us;
	s->t_p50 = pctl(col, mask, n, 50, tmp);
	s->t_p99 = pctl(col, mask, n, 99, tmp);
	s->fits_cpu = t->cpu_s > 0 ? (double)t->n / t->cpu_s : 0;
	s->fits_wall = t->wall_s > 0 ? (double)t->n / t->wall_s : 0;
}

/* BENCH_BIOZ_DUMP=FILE: one line per sweep, for a closer look */
static void dump(const char *path, const struct body *b, const struct est *o,
		 const struct est *e, size_t n)
{
	FILE *fp = fopen(path, "w");
	size_t i;

	if (!fp) {
		fprintf(stderr, "bench-bioz: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(fp, "i,r0,rinf,alpha,fc,o_r0,o_rinf,o_alpha,o_fc,o_us,o_flags,"
		"s_r0,s_rinf,s_alpha,s_fc,s_us,s_status\n");
	for (i = 0; i < n; i++)
		fprintf(fp, "%zu,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.3f,%" PRIu32
			",%.9g,%.9g,%.9g,%.9g,%.3f,%d\n", i, b[i].r0, b[i].rinf, b[i].alpha,
			b[i].fc, o[i].p[P_R0], o[i].p[P_RINF], o[i].p[P_ALPHA], o[i].p[P_FC],
			o[i].us, o[i].flags, e[i].p[P_R0], e[i].p[P_RINF], e[i].p[P_ALPHA],
			e[i].p[P_FC], e[i].us, e[i].status);
	fclose(fp);
}

static void print_errs(const char *title, const struct stats *a, const struct stats *b)
{
	int k;

	if (title)
		printf("%s\n", title);
	for (k = 0; k < NPAR; k++)
		printf("  %-12s p50/p95   twitchd %8.3f %8.3f   scipy %8.3f %8.3f\n", par_name[k],
		       a->p50[k], a->p95[k], b->p50[k], b->p95[k]);
}

int main(void)
{
	char *script = ref_script();
	struct bioz_live_lat live = { 0 };
	unsigned int live_n;
	const char *env;
	struct bioz_fit_ws *ws = NULL;
	struct body *base, *bodies;
	struct est *ours, *ref;
	struct totals ot = { 0 }, rt = { 0 };
	struct stats os = { 0 }, rs = { 0 }, ost = { 0 }, rst = { 0 }, osy = { 0 }, rsy = { 0 };
	struct bioz_fit_opts o;
	double f[NF], (*r)[NF], (*x)[NF], (*err)[NPAR], *tmp, *col;
	double cpu0, wall0, worst_us = 0;
	size_t n_flag[N_FLAGS] = { 0 };
	size_t n_base, n, i, reps = DEFAULT_REPS, n_untrusted = 0, n_ref_bad = 0, n_typ = 0;
	bool *trusted, *typical, *nc;
	int k;

	env = getenv("BENCH_BIOZ_REPS");
	if (env && *env)
		reps = strtoul(env, NULL, 10);
	if (!reps)
		reps = 1;
	if (check_scipy(script) < 0)
		return 1;
	atexit(cleanup);

	n_base = make_bodies(NULL);
	base = calloc(n_base, sizeof(*base));
	if (!base)
		return 1;
	make_bodies(base);
	n = n_base * reps;
	env = getenv("BENCH_BIOZ_MAX_FITS");
	if (env && *env && strtoul(env, NULL, 10) > 0 && strtoul(env, NULL, 10) < n)
		n = strtoul(env, NULL, 10);

	bodies = calloc(n, sizeof(*bodies));
	ours = calloc(n, sizeof(*ours));
	ref = calloc(n, sizeof(*ref));
	r = calloc(n, sizeof(*r));
	x = calloc(n, sizeof(*x));
	err = calloc(n, sizeof(*err));
	tmp = calloc(n, sizeof(*tmp));
	col = calloc(n, sizeof(*col));
	trusted = calloc(n, sizeof(*trusted));
	typical = calloc(n, sizeof(*typical));
	nc = calloc(n, sizeof(*nc));
	if (!nc || !bodies || !ours || !ref || !r || !x || !err || !tmp || !col || !trusted || !typical ||
	    bioz_fit_ws_new(NF, &ws) < 0) {
		fprintf(stderr, "bench-bioz: out of memory\n");
		return 1;
	}

	for (k = 0; k < NF; k++)
		f[k] = F_LO_HZ * pow(F_HI_HZ / F_LO_HZ, k / (double)(NF - 1));
	/* draw-major: sweep i is body i % n_base, seeded i + 1 */
	for (i = 0; i < n; i++) {
		bodies[i] = base[i % n_base];
		spectrum(f, &bodies[i], i + 1, r[i], x[i]);
	}

	printf("bench-bioz: Cole fit of %zu noisy synthetic sweeps (%zu bodies x %zu draws%s)\n",
	       n, n_base, reps, n < n_base * reps ? ", cut by BENCH_BIOZ_MAX_FITS" : "");
	printf("  bodies: NHANES 1999-2000 BIX ranges (bioimpedance.md 3.1): Re %.1f-%.1f, "
	       "Ri %.1f-%.1f ohm, alpha %.2f-%.3f, fc %.0f-%.0f kHz, Cm inside %.2f-%.2f nF\n",
	       RE_MIN, RE_MAX, RI_MIN, RI_MAX, ALPHA_MIN, ALPHA_MAX, FC_MIN_HZ / 1e3,
	       FC_MAX_HZ / 1e3, CM_MIN_F * 1e9, CM_MAX_F * 1e9);
	printf("  sweep: %d log-spaced points %.0f kHz - %.0f kHz (Hydra 4200/NHANES), noise "
	       "%.0f %% |Z| and %.1f deg (Gaussian SD), seed = sweep index + 1\n", NF,
	       F_LO_HZ / 1e3, F_HI_HZ / 1e3, NOISE_MAG * 100, NOISE_PHASE_DEG);
	printf("  twitchd: bioz_cole_fit(), default options, -O2, one thread; each fit timed "
	       "(CLOCK_MONOTONIC), loop CPU by CLOCK_THREAD_CPUTIME_ID\n");
	printf("  scipy: least_squares(trf, soft_l1, f_scale 0.02, x_scale jac, bounds, x0 from "
	       "the data) on Re/Im residuals / |Z|, " PYTHON ", BLAS 1 thread; each fit "
	       "perf_counter, loop process_time; start-up and CSV parsing not counted\n");
	printf("  errors: R0, Rinf, fc relative %%, alpha absolute, vs the true body; "
	       "untrusted fits included\n");
	fflush(stdout);

	/* the reference's input, written first so that a bad $TMPDIR fails fast */
	if (write_csv(f, r, x, n) < 0)
		return 1;

	/* ---- twitchd */
	bioz_fit_opts_default(&o);
	{
		struct bioz_fit fit;

		if (bioz_cole_fit(ws, &o, f, r[0], x[0], NF, &fit) < 0) {	/* warm-up */
			fprintf(stderr, "bench-bioz: bioz_cole_fit failed\n");
			return 1;
		}
	}
	cpu0 = ts_s(CLOCK_THREAD_CPUTIME_ID);
	wall0 = ts_s(CLOCK_MONOTONIC);
	for (i = 0; i < n; i++) {
		struct timespec t0, t1;
		struct bioz_fit fit;
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = bioz_cole_fit(ws, &o, f, r[i], x[i], NF, &fit);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (rc < 0) {
			fprintf(stderr, "bench-bioz: bioz_cole_fit sweep %zu: %s\n", i, strerror(-rc));
			return 1;
		}
		ours[i] = (struct est){ .p = { fit.r0_ohm, fit.rinf_ohm, fit.alpha, fit.fc_hz },
					.us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 +
					      (double)(t1.tv_nsec - t0.tv_nsec) * 1e-3,
					.flags = fit.flags, .have = true };
	}
	ot.cpu_s = ts_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	ot.wall_s = ts_s(CLOCK_MONOTONIC) - wall0;
	ot.n = n;

	/* ---- SciPy on the same spectra */
	if (run_ref(script, ref, n, &rt) < 0)
		return 1;
	cleanup();
	csv_path[0] = tmp_dir[0] = 0;

	/* ---- statistics */
	for (i = 0; i < n; i++) {
		trusted[i] = !(ours[i].flags & BIOZ_FIT_UNTRUSTED_MASK);
		typical[i] = bodies[i].typical;
		nc[i] = ours[i].flags & BIOZ_FIT_NOT_CONVERGED;
		n_untrusted += !trusted[i];
		for (k = 0; k < N_FLAGS; k++)
			n_flag[k] += !!(ours[i].flags & (1u << k));
		n_typ += typical[i];
		n_ref_bad += ref[i].status <= 0;
		if (ours[i].us > worst_us)
			worst_us = ours[i].us;
	}
	env = getenv("BENCH_BIOZ_DUMP");
	if (env && *env)
		dump(env, bodies, ours, ref, n);
	err_stats(bodies, ours, n, NULL, &os, err, tmp, col);
	err_stats(bodies, ref, n, NULL, &rs, err, tmp, col);
	err_stats(bodies, ours, n, trusted, &ost, err, tmp, col);
	err_stats(bodies, ref, n, trusted, &rst, err, tmp, col);
	err_stats(bodies, ours, n, typical, &osy, err, tmp, col);
	err_stats(bodies, ref, n, typical, &rsy, err, tmp, col);
	time_stats(ours, n, NULL, &ot, &os, tmp, col);
	time_stats(ref, n, NULL, &rt, &rs, tmp, col);
	time_stats(ours, n, trusted, &ot, &ost, tmp, col);
	time_stats(ref, n, trusted, &rt, &rst, tmp, col);
	time_stats(ours, n, typical, &ot, &osy, tmp, col);
	time_stats(ref, n, typical, &rt, &rsy, tmp, col);
	for (i = 0; i < n; i++)
		col[i] = (ours[i].flags & BIOZ_FIT_NOT_CONVERGED) ? ours[i].us : NAN;

	printf("time of one fit, us   p50/p99/max  twitchd %.1f %.1f %.1f   scipy %.0f %.0f\n",
	       os.t_p50, os.t_p99, worst_us, rs.t_p50, rs.t_p99);
	printf("  trusted fits %10.1f %.1f            scipy %.0f %.0f\n", ost.t_p50, ost.t_p99,
	       rst.t_p50, rst.t_p99);
	printf("  typical bodies %8.1f %.1f            scipy %.0f %.0f\n", osy.t_p50, osy.t_p99,
	       rsy.t_p50, rsy.t_p99);
	printf("  twitchd NOT_CONVERGED fits: %zu, median %.1f us\n", n_flag[2],
	       pctl(col, nc, n, 50, tmp));
	printf("fits/s (thread CPU)                twitchd %.0f   scipy %.1f   ratio %.1f\n",
	       os.fits_cpu, rs.fits_cpu, os.fits_cpu / rs.fits_cpu);
	printf("fits/s (wall)                      twitchd %.0f   scipy %.1f\n", os.fits_wall,
	       rs.fits_wall);
	printf("CPU of one sweep a second          twitchd %.4f %% of a core (mean), %.4f %% at "
	       "p99\n", 100.0 / os.fits_cpu, os.t_p99 * 1e-4);
	printf("twitchd untrusted fits: %zu of %zu (included below); scipy not converged: %zu\n",
	       n_untrusted, n, n_ref_bad);
	printf("twitchd flags:");
	for (k = 0; k < N_FLAGS; k++)
		if (n_flag[k])
			printf(" %s %zu", flag_name[k], n_flag[k]);
	printf("\n");
	print_errs("errors, all fits:", &os, &rs);
	printf("errors, the %zu fits twitchd trusts (both fitters on that subset):\n",
	       n - n_untrusted);
	print_errs(NULL, &ost, &rst);
	printf("errors, the %zu typical bodies (alpha and fc off the ends of their ranges):\n",
	       n_typ);
	print_errs(NULL, &osy, &rsy);
	printf("targets: p95 errors <= scipy's:");
	for (k = 0; k < NPAR; k++)
		printf(" %s %s;", par_name[k], os.p95[k] <= rs.p95[k] ? "met" : "NOT met");
	printf(" fit p99 < 1000 us: %s\n", os.t_p99 < 1000.0 ? "met" : "NOT met");

	env = getenv("BENCH_BIOZ_LIVE_SWEEPS");
	live_n = env ? (unsigned int)strtoul(env, NULL, 10) : 30;
	if (live_n == 0) {
		printf("live: skipped (BENCH_BIOZ_LIVE_SWEEPS=0)\n");
	} else if (bioz_live_latency(live_n, NF, &live) < 0) {
		printf("live: not run: %s\n", live.why);
		live.p50_ms = live.p99_ms = live.max_ms = live.in_p99_ms = NAN;
	} else {
		printf("live: %zu sweeps of %u points through twitch-devsim and twitchd, sweep's "
		       "last point -> estimate readable: p50 %.2f ms p99 %.2f ms max %.2f ms "
		       "(inside twitchd after the read: p50 %.3f p99 %.3f ms); %zu sweeps "
		       "without an estimate; scipy's fit alone p99 %.2f ms\n", live.n,
		       live.n_points, live.p50_ms, live.p99_ms, live.max_ms, live.in_p50_ms,
		       live.in_p99_ms, live.n_missing, rs.t_p99 / 1000.0);
		printf("target: estimate within 50 ms of the sweep: %s\n",
		       live.p99_ms < 50.0 && live.n_missing == 0 ? "met" : "NOT met");
	}
	if (live_n == 0)
		live.p50_ms = live.p99_ms = live.max_ms = live.in_p99_ms = NAN;

	printf("RESULT fits_per_s=%.0f fit_p99_us=%.1f r0_err_pct_p95=%.3f alpha_err_p95=%.4f "
	       "ref_r0_err_pct_p95=%.3f ref_alpha_err_p95=%.4f speed_vs_ref=%.1f "
	       "fit_p50_us=%.1f fits_per_s_wall=%.0f rinf_err_pct_p95=%.3f fc_err_pct_p95=%.3f "
	       "ref_rinf_err_pct_p95=%.3f ref_fc_err_pct_p95=%.3f ref_fits_per_s=%.1f "
	       "ref_fit_p99_us=%.0f n_fits=%zu n_untrusted=%zu ref_not_converged=%zu "
	       "trusted_r0_err_pct_p95=%.3f trusted_alpha_err_p95=%.4f "
	       "ref_trusted_r0_err_pct_p95=%.3f ref_trusted_alpha_err_p95=%.4f "
	       "trusted_fit_p99_us=%.1f typical_fit_p99_us=%.1f live_sweep_p50_ms=%.2f "
	       "live_sweep_p99_ms=%.2f live_sweep_max_ms=%.2f live_in_daemon_p99_ms=%.3f "
	       "live_sweeps=%zu live_missing=%zu\n",
	       os.fits_cpu, os.t_p99, os.p95[P_R0], os.p95[P_ALPHA], rs.p95[P_R0],
	       rs.p95[P_ALPHA], os.fits_cpu / rs.fits_cpu, os.t_p50, os.fits_wall,
	       os.p95[P_RINF], os.p95[P_FC], rs.p95[P_RINF], rs.p95[P_FC], rs.fits_cpu,
	       rs.t_p99, n, n_untrusted, n_ref_bad, ost.p95[P_R0], ost.p95[P_ALPHA],
	       rst.p95[P_R0], rst.p95[P_ALPHA], ost.t_p99, osy.t_p99, live.p50_ms,
	       live.p99_ms, live.max_ms, live.in_p99_ms, live.n, live.n_missing);

	bioz_fit_ws_free(ws);
	free(base);
	free(bodies);
	free(ours);
	free(ref);
	free(r);
	free(x);
	free(err);
	free(tmp);
	free(col);
	free(trusted);
	free(typical);
	free(nc);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-bioz.c - calibration, Cole fit, equations, BIVA, resistance index,
 * alerts and JSON of daemon/bioz.c (included, to reach its statics), and
 * the calibration bookkeeping of daemon/biozlive.c (analog settings,
 * railed words).
 *
 * Expected values come from outside the code under test: the frozen output
 * of ../shared/reference/bioz_vectors.py (bioz_vectors_output.txt, section
 * 11 of bioimpedance.md; printed to 3-5 decimals, hence the tolerances), or
 * values worked by hand / with /usr/bin/python3 (standard library only) from
 * the equations in bioimpedance.md, each quoted with how it was obtained.
 * Noise comes from a fixed-seed splitmix64 generator, so runs are repeatable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "../daemon/bioz.c"
#include "../daemon/biozlive.c"
#include "testrng.h"

/* cmocka 1.1 compares floats only in single precision */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __FILE__, __LINE__)
static void assert_near_at(double a, double b, double eps, const char *file, int line)
{
	if (!(fabs(a - b) <= eps))
		fail_msg("%s:%d: %.17g != %.17g (eps %g)", file, line, a, b, eps);
}

#define assert_rel(a, b, rel) assert_near((a), (b), fabs((double)(b)) * (rel))

/* ------------------------------------------------------------ helpers */

static struct testrng rng;

#define NF 50
/* 50 log-spaced points 5 kHz - 1 MHz, as freqs_log() in bioz_vectors.py */
static void freqs_log(double *f)
{
	int i;

	for (i = 0; i < NF; i++)
		f[i] = 5e3 * pow(1e6 / 5e3, i / (double)(NF - 1));
}

static void spectrum(const double *f, int n, double r0, double rinf, double fc, double alpha,
		     double td_s, double *r, double *x)
{
	int i;

	for (i = 0; i < n; i++)
		bioz_cole_z(f[i], r0, rinf, fc, alpha, td_s, &r[i], &x[i]);
}

/* 1 % magnitude and 0.5 degree phase, Gaussian (standard deviations) */
static void add_noise(double *r, double *x, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		double complex z = r[i] + I * x[i];

		z *= (1.0 + 0.01 * testrng_gauss(&rng)) * cexp(I * (0.5 * M_PI / 180.0) * testrng_gauss(&rng));
		r[i] = creal(z);
		x[i] = cimag(z);
	}
}

static int setup_ws(void **state)
{
	struct bioz_fit_ws *ws;

	if (bioz_fit_ws_new(64, &ws) < 0)
		return -1;
	*state = ws;
	return 0;
}

static int teardown_ws(void **state)
{
	bioz_fit_ws_free(*state);
	return 0;
}

/* ------------------------------------------------------------ section 11 vectors */

/* bioz_vectors_output.txt "Cole synthetic spectrum" (printed to 3 decimals) */
static void test_cole_vectors(void **state)
{
	double r, x, re, ri, cm;

	(void)state;
	/* M: Re 600, Ri 1000 -> R0 600, Rinf 375, fc 50 kHz, alpha 0.70 */
	bioz_cole_z(5e3, 600, 375, 50e3, 0.70, 0, &r, &x);
	assert_near(r, 575.971, 6e-4);
	assert_near(x, -32.761, 6e-4);
	bioz_cole_z(50e3, 600, 375, 50e3, 0.70, 0, &r, &x);
	assert_near(r, 487.500, 6e-4);
	assert_near(x, -68.940, 6e-4);
	assert_near(bioz_phase_deg(r, -x), 8.049, 6e-4);
	bioz_cole_z(1e6, 600, 375, 50e3, 0.70, 0, &r, &x);
	assert_near(r, 389.149, 6e-4);
	assert_near(x, -21.856, 6e-4);
	assert_int_equal(bioz_cole_circuit(600, 375, 50e3, &re, &ri, &cm), 0);
	assert_near(ri, 1000.0, 1e-9);
	assert_near(cm * 1e9, 1.9894, 6e-5);			/* Cm nF */
	assert_near(1e9 / (2 * M_PI * 50e3), 3183.099, 6e-4);	/* tau ns, the formula used */

	/* F: Re 720, Ri 1300 -> Rinf 463.366, fc 60 kHz, alpha 0.68 */
	bioz_cole_z(5e3, 720, 720.0 * 1300 / 2020, 60e3, 0.68, 0, &r, &x);
	assert_near(r, 693.957, 6e-4);
	assert_near(x, -34.250, 6e-4);
	bioz_cole_z(50e3, 720, 720.0 * 1300 / 2020, 60e3, 0.68, 0, &r, &x);
	assert_near(r, 602.391, 6e-4);
	assert_near(x, -75.494, 6e-4);
	assert_near(bioz_phase_deg(r, -x), 7.143, 6e-4);
	bioz_cole_z(1e6, 720, 720.0 * 1300 / 2020, 60e3, 0.68, 0, &r, &x);
	assert_near(r, 483.850, 6e-4);
	assert_near(x, -28.520, 6e-4);
	assert_int_equal(bioz_cole_circuit(720, 720.0 * 1300 / 2020, 60e3, &re, &ri, &cm), 0);
	assert_near(ri, 1300.0, 1e-9);
	assert_near(cm * 1e9, 1.3132, 6e-5);
	assert_int_equal(bioz_cole_circuit(375, 600, 50e3, &re, &ri, &cm), -EDOM);
}

/* "circle fit -> R0=600.0000 Rinf=375.0000 alpha=0.70000" (and F) */
static void test_circle_fit_vectors(void **state)
{
	double f[NF], r[NF], x[NF], r0, rinf, alpha;

	(void)state;
	freqs_log(f);
	spectrum(f, NF, 600, 375, 50e3, 0.70, 0, r, x);
	assert_int_equal(bioz_circle_fit(r, x, NF, &r0, &rinf, &alpha), 0);
	assert_near(r0, 600.0000, 6e-5);
	assert_near(rinf, 375.0000, 6e-5);
	assert_near(alpha, 0.70000, 6e-6);
	spectrum(f, NF, 720, 720.0 * 1300 / 2020, 60e3, 0.68, 0, r, x);
	assert_int_equal(bioz_circle_fit(r, x, NF, &r0, &rinf, &alpha), 0);
	assert_near(r0, 720.0000, 6e-5);
	assert_near(rinf, 463.3663, 6e-5);
	assert_near(alpha, 0.68000, 6e-6);
	/* collinear points: no circle */
	for (int i = 0; i < NF; i++)
		x[i] = 0.0;
	assert_int_equal(bioz_circle_fit(r, x, NF, &r0, &rinf, &alpha), -EDOM);
	assert_int_equal(bioz_circle_fit(r, x, 2, &r0, &rinf, &alpha), -EINVAL);
}

/* "SF-BIA vectors (50 kHz)" */
static void test_sf_vectors(void **state)
{
	struct bioz_subject m = { 175.0, 75.0, 40.0, BIOZ_SEX_MALE };
	struct bioz_subject f = { 162.0, 60.0, 35.0, BIOZ_SEX_FEMALE };
	struct bioz_subject no_age = { 175.0, 75.0, NAN, BIOZ_SEX_MALE };
	struct bioz_subject no_sex = { 175.0, 75.0, 40.0, BIOZ_SEX_UNKNOWN };

	(void)state;
	assert_near(bioz_phase_deg(500, 60), 6.843, 6e-4);
	assert_near(bioz_phase_deg(600, 65), 6.183, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_KUSHNER_SCHOELLER1986, &m, 500), 43.379, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_KUSHNER_SCHOELLER1986_COMBINED, &m, 500), 42.950, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_KUSHNER1992, &m, 500), 41.052, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_LUKASKI_BOLONCHUK1988, &m, 500), 37.941, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_SUN2003, &m, 500), 41.904, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_KUSHNER_SCHOELLER1986, &f, 600), 31.324, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_KUSHNER_SCHOELLER1986_COMBINED, &f, 600), 31.780, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_KUSHNER1992, &f, 600), 29.747, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_LUKASKI_BOLONCHUK1988, &f, 600), 26.740, 6e-4);
	assert_near(bioz_tbw_sf(BIOZ_SF_SUN2003, &f, 600), 30.210, 6e-4);
	/* missing inputs give NaN, never a number */
	assert_true(isnan(bioz_tbw_sf(BIOZ_SF_LUKASKI_BOLONCHUK1988, &no_age, 500)));
	assert_true(isnan(bioz_tbw_sf(BIOZ_SF_SUN2003, &no_sex, 500)));
	assert_true(isnan(bioz_tbw_sf(BIOZ_SF_SUN2003, NULL, 500)));
	assert_true(isnan(bioz_tbw_sf(BIOZ_SF_SUN2003, &m, 0)));
	assert_true(isnan(bioz_tbw_sf(99, &m, 500)));
}

/* "k_ECW ... ECW ... ICW ... TBW ... ECW/TBW ... ICW/ECW" */
static void test_hanai_vectors(void **state)
{
	double ecw, icw, k, r;

	(void)state;
	assert_near(bioz_k_ecw(BIOZ_SEX_MALE), 0.30682, 6e-6);
	assert_near(bioz_k_ecw(BIOZ_SEX_FEMALE), 0.29920, 6e-6);
	assert_true(isnan(bioz_k_ecw(BIOZ_SEX_UNKNOWN)));

	ecw = bioz_ecw_hanai(BIOZ_SEX_MALE, 175, 75, 600);
	icw = bioz_icw_matthie(BIOZ_SEX_MALE, ecw, 600, 375);
	assert_near(ecw, 17.804, 6e-4);
	assert_near(icw, 27.658, 6e-4);
	assert_near(ecw + icw, 45.463, 6e-4);
	assert_near(ecw / (ecw + icw), 0.3916, 6e-5);
	assert_near(icw / ecw, 1.5535, 6e-5);

	ecw = bioz_ecw_hanai(BIOZ_SEX_FEMALE, 162, 60, 720);
	icw = bioz_icw_matthie(BIOZ_SEX_FEMALE, ecw, 720, 720.0 * 1300 / 2020);
	assert_near(ecw, 12.877, 6e-4);
	assert_near(icw, 18.728, 6e-4);
	assert_near(ecw + icw, 31.605, 6e-4);
	assert_near(ecw / (ecw + icw), 0.4074, 6e-5);
	assert_near(icw / ecw, 1.4544, 6e-5);

	/*
	 * Section 3.4 sanity check: r = 1.541, rho 40.5/273.9 gives ICW/ECW
	 * = 1.42; the equivalent form (1 + ICW/ECW)^(3/2) = k r - (k-1) r^(1/3)
	 * gives 1.4202475 (python3: (k*r - (k-1)*r**(1/3))**(2/3) - 1).
	 */
	r = 1.541;
	k = 273.9 / 40.5;
	icw = bioz_icw_matthie(BIOZ_SEX_MALE, 10.0, r * 100.0, 100.0);
	assert_near(icw / 10.0, 1.4202475215531347, 1e-12);
	assert_near(pow(1.0 + icw / 10.0, 1.5), k * r - (k - 1.0) * cbrt(r), 1e-12);
	/* invalid inputs */
	assert_true(isnan(bioz_icw_matthie(BIOZ_SEX_MALE, 10.0, 375, 600)));
	assert_true(isnan(bioz_ecw_hanai(BIOZ_SEX_MALE, 175, 75, 0)));
	assert_true(isnan(bioz_ecw_hanai(BIOZ_SEX_UNKNOWN, 175, 75, 600)));
}

/* "Sensitivity: ECF resistivity change": apparent ECW ~ Re^(-2/3) */
static void test_sensitivity_vectors(void **state)
{
	static const double dna[] = { -10, -5, 5, 10 };
	static const double want_pct[] = { -4.50, -2.31, 2.45, 5.06 };
	double base = bioz_ecw_hanai(BIOZ_SEX_MALE, 175, 75, 600);
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		double drho = -dna[i] * 0.1 / 14.0;
		double e = bioz_ecw_hanai(BIOZ_SEX_MALE, 175, 75, 600 * (1.0 + drho));

		assert_near((e / base - 1.0) * 100.0, want_pct[i], 6e-3);
	}
}

/* "BIVA tolerance-ellipse radii" and the BIVA point of section 11.1 */
static void test_biva(void **state)
{
	const struct bioz_biva_ref *m = bioz_biva_ref_default(BIOZ_SEX_MALE);
	const struct bioz_biva_ref *f = bioz_biva_ref_default(BIOZ_SEX_FEMALE);
	double rh, xh, d2, mz;
	uint32_t cls;

	(void)state;
	assert_near(bioz_biva_d2_threshold(0.50), 1.3863, 6e-5);
	assert_near(bioz_biva_d2_threshold(0.75), 2.7726, 6e-5);
	assert_near(bioz_biva_d2_threshold(0.95), 5.9915, 6e-5);
	assert_null(bioz_biva_ref_default(BIOZ_SEX_UNKNOWN));

	/* vectors: R/H 285.714, Xc/H 34.286; D^2 by python3 from section 5's formula */
	assert_int_equal(bioz_biva(m, 500, 60, 175, &rh, &xh, &d2, &mz, &cls), 0);
	assert_near(rh, 285.714, 6e-4);
	assert_near(xh, 34.286, 6e-4);
	assert_near(d2, 0.910640577565748, 1e-9);
	assert_near(mz, 0.13141336343480106, 1e-9);
	assert_int_equal(cls, BIOZ_BIVA_IN50);
	assert_int_equal(bioz_biva(f, 600, 65, 162, &rh, &xh, &d2, &mz, &cls), 0);
	assert_near(rh, 370.370, 6e-4);
	assert_near(xh, 40.123, 6e-4);
	assert_near(d2, 0.9651663104926818, 1e-9);
	assert_int_equal(cls, BIOZ_BIVA_IN50);
	/* one point per class (D^2 1.8997, 4.4360, 10.1463 by python3) */
	assert_int_equal(bioz_biva(m, 620, 60, 175, &rh, &xh, &d2, &mz, &cls), 0);
	assert_near(d2, 1.8997317368615332, 1e-9);
	assert_int_equal(cls, BIOZ_BIVA_IN75);
	assert_int_equal(bioz_biva(m, 600, 45, 175, &rh, &xh, &d2, &mz, &cls), 0);
	assert_near(d2, 4.435979762771284, 1e-9);
	assert_int_equal(cls, BIOZ_BIVA_IN95);
	assert_int_equal(bioz_biva(m, 760, 75, 175, &rh, &xh, &d2, &mz, &cls), 0);
	assert_near(d2, 10.146268737303036, 1e-9);
	assert_near(mz, 3.4050558689280757, 1e-9);	/* long vector: positive */
	assert_int_equal(cls, BIOZ_BIVA_OUT95);
	cls = 1234;
	assert_int_equal(bioz_biva(m, NAN, 60, 175, &rh, &xh, &d2, &mz, &cls), -EINVAL);
	assert_int_equal(bioz_biva(NULL, 500, 60, 175, &rh, &xh, &d2, &mz, &cls), -EINVAL);
	assert_int_equal(cls, 1234);
}

/* ------------------------------------------------------------ Cole fit */

struct grid_stats {
	int n, n_trusted;
	double max_err[4];		/* R0 rel, Rinf rel, alpha abs, ln fc */
	double max_z;			/* max |error| / SE over all four */
};

static void grid_account(struct grid_stats *g, const struct bioz_fit *fit, double r0,
			 double rinf, double alpha, double fc)
{
	double err[4] = { fabs(fit->r0_ohm / r0 - 1), fabs(fit->rinf_ohm / rinf - 1),
			  fabs(fit->alpha - alpha), fabs(log(fit->fc_hz / fc)) };
	double se[4] = { fit->se_r0_ohm / r0, fit->se_rinf_ohm / rinf, fit->se_alpha,
			 fit->se_fc_hz / fit->fc_hz };
	int k;

	g->n++;
	if (fit->flags & BIOZ_FIT_UNTRUSTED_MASK)
		return;
	g->n_trusted++;
	for (k = 0; k < 4; k++) {
		g->max_err[k] = fmax(g->max_err[k], err[k]);
		g->max_z = fmax(g->max_z, err[k] / se[k]);
	}
}

/*
 * Noiseless spectra over a grid spanning the NHANES ranges (section 3.1:
 * alpha 0.3-0.953, fc 2-456 kHz; R0/Rinf = 1 + Re/Ri from Re 303-1087 and
 * Ri 218-3099): every parameter to 1e-6 relative, fit trusted.
 */
static void test_fit_exact_grid(void **state)
{
	static const double r0s[] = { 350, 600, 1000 }, ratios[] = { 0.45, 0.65, 0.85 };
	static const double alphas[] = { 0.55, 0.7, 0.85, 0.95 };
	static const double fcs[] = { 5e3, 20e3, 50e3, 150e3, 450e3 };
	struct bioz_fit_ws *ws = *state;
	struct bioz_fit_opts o;
	struct bioz_fit fit;
	double f[NF], r[NF], x[NF];
	unsigned a, b, c, d;

	freqs_log(f);
	bioz_fit_opts_default(&o);
	for (a = 0; a < 3; a++)
	for (b = 0; b < 3; b++)
	for (c = 0; c < 4; c++)
	for (d = 0; d < 5; d++) {
		double r0 = r0s[a], rinf = r0 * ratios[b];

		spectrum(f, NF, r0, rinf, fcs[d], alphas[c], 0, r, x);
		assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
		assert_int_equal(fit.flags & ~BIOZ_FIT_FC_OUT_OF_BAND, 0);
		assert_int_equal(fit.n_used, NF);
		assert_rel(fit.r0_ohm, r0, 1e-6);
		assert_rel(fit.rinf_ohm, rinf, 1e-6);
		assert_rel(fit.alpha, alphas[c], 1e-6);
		assert_rel(fit.fc_hz, fcs[d], 1e-6);
		assert_true(fit.rms_rel < 1e-9);
	}
	/* the same with the time-delay term: Td = 30 ns and -20 ns recovered */
	o.use_td = 1;
	spectrum(f, NF, 600, 375, 50e3, 0.7, 30e-9, r, x);
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_int_equal(fit.flags, 0);
	assert_rel(fit.r0_ohm, 600, 1e-6);
	assert_rel(fit.rinf_ohm, 375, 1e-6);
	assert_rel(fit.alpha, 0.7, 1e-6);
	assert_rel(fit.fc_hz, 50e3, 1e-6);
	assert_rel(fit.td_s, 30e-9, 1e-6);
	spectrum(f, NF, 1000, 450, 150e3, 0.85, -20e-9, r, x);
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_int_equal(fit.flags, 0);
	assert_rel(fit.fc_hz, 150e3, 1e-6);
	assert_rel(fit.td_s, -20e-9, 1e-6);
}

/*
 * 1 % magnitude and 0.5 degree phase noise (Gaussian SDs), seed 1, three
 * spectra per grid point. Core grid (typical adults; fc well inside the
 * band, dispersion R0/Rinf >= 1.5): every fit trusted, errors within
 * R0 4 %, Rinf 5 %, alpha 0.09, fc 25 % (|ln| 0.25), and within 5 SE.
 * Full grid (edges: fc at 5 and 450 kHz, R0/Rinf = 1.18, alpha 0.95): a
 * fit may be flagged untrusted, but a trusted one must be within 5 SE.
 */
static void test_fit_noise_grid(void **state)
{
	static const double r0s[] = { 350, 600, 1000 }, ratios[] = { 0.45, 0.65, 0.85 };
	static const double alphas[] = { 0.55, 0.7, 0.85, 0.95 };
	static const double fcs[] = { 5e3, 20e3, 50e3, 150e3, 450e3 };
	struct bioz_fit_ws *ws = *state;
	struct grid_stats core = { 0 }, edge = { 0 };
	struct bioz_fit_opts o;
	struct bioz_fit fit;
	double f[NF], r[NF], x[NF];
	unsigned a, b, c, d, rep;

	rng.s = 1;
	freqs_log(f);
	bioz_fit_opts_default(&o);
	for (a = 0; a < 3; a++)
	for (b = 0; b < 3; b++)
	for (c = 0; c < 4; c++)
	for (d = 0; d < 5; d++)
	for (rep = 0; rep < 3; rep++) {
		double r0 = r0s[a], rinf = r0 * ratios[b];
		bool is_core = b < 2 && c < 3 && d >= 1 && d <= 3;

		spectrum(f, NF, r0, rinf, fcs[d], alphas[c], 0, r, x);
		add_noise(r, x, NF);
		assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
		grid_account(is_core ? &core : &edge, &fit, r0, rinf, alphas[c], fcs[d]);
	}
	print_message("noise grid core: %d/%d trusted, max err R0 %.4f Rinf %.4f alpha %.4f "
		      "ln(fc) %.4f, max |err|/SE %.2f\n", core.n_trusted, core.n,
		      core.max_err[0], core.max_err[1], core.max_err[2], core.max_err[3],
		      core.max_z);
	print_message("noise grid edge: %d/%d trusted, max err R0 %.4f Rinf %.4f alpha %.4f "
		      "ln(fc) %.4f, max |err|/SE %.2f\n", edge.n_trusted, edge.n,
		      edge.max_err[0], edge.max_err[1], edge.max_err[2], edge.max_err[3],
		      edge.max_z);
	assert_int_equal(core.n, 162);
	assert_int_equal(core.n_trusted, core.n);
	assert_true(core.max_err[0] <= 0.04);
	assert_true(core.max_err[1] <= 0.05);
	assert_true(core.max_err[2] <= 0.09);
	assert_true(core.max_err[3] <= 0.25);
	assert_true(core.max_z <= 5.0);
	assert_true(edge.max_z <= 5.0);
	assert_true(edge.n_trusted >= edge.n / 2);	/* the edges are not all refused */
}

/* A hook above 500 kHz (reactance pushed up): the hook points are dropped. */
static void test_fit_hook_dropped(void **state)
{
	struct bioz_fit_ws *ws = *state;
	struct bioz_fit_opts o;
	struct bioz_fit fit;
	double f[NF], r[NF], x[NF];
	int i, n_hook = 0;

	freqs_log(f);
	bioz_fit_opts_default(&o);
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);
	for (i = 0; i < NF; i++) {
		if (f[i] > 5e5) {
			x[i] += 0.3 * 600 * (f[i] / 5e5 - 1.0);
			n_hook++;
		}
	}
	assert_int_equal(n_hook, 7);		/* points 43..49 */
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_int_equal(fit.flags, BIOZ_FIT_OUTLIERS_DROPPED | BIOZ_FIT_HOOK);
	assert_int_equal(fit.n_used, NF - 7);
	for (i = 0; i < NF; i++)
		assert_int_equal(ws->used[i], f[i] > 5e5 ? 0 : 1);
	assert_near(fit.fmax_hz, f[42], 0);
	assert_rel(fit.r0_ohm, 600, 1e-6);
	assert_rel(fit.rinf_ohm, 375, 1e-6);
	assert_rel(fit.alpha, 0.7, 1e-6);
	assert_rel(fit.fc_hz, 50e3, 1e-6);

	/* with noise: still trusted, within the core-grid tolerances */
	rng.s = 2;
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);
	add_noise(r, x, NF);
	for (i = 0; i < NF; i++)
		if (f[i] > 5e5)
			x[i] += 0.3 * 600 * (f[i] / 5e5 - 1.0);
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_int_equal(fit.flags & BIOZ_FIT_UNTRUSTED_MASK, 0);
	assert_true(fit.flags & BIOZ_FIT_HOOK);
	assert_true(fit.n_used >= NF - 8 && fit.n_used <= NF - 5);
	assert_rel(fit.r0_ohm, 600, 0.04);
	assert_rel(fit.rinf_ohm, 375, 0.05);
	assert_near(fit.alpha, 0.7, 0.09);
}

/* Three outliers mid-band: exactly those dropped, parameters exact. */
static void test_fit_outliers_dropped(void **state)
{
	struct bioz_fit_ws *ws = *state;
	struct bioz_fit_opts o;
	struct bioz_fit fit;
	double f[NF], r[NF], x[NF];
	int i;

	freqs_log(f);
	bioz_fit_opts_default(&o);
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);
	r[10] *= 1.10;
	x[25] *= 0.8;
	r[33] *= 0.93;
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_int_equal(fit.flags, BIOZ_FIT_OUTLIERS_DROPPED);
	assert_int_equal(fit.n_used, NF - 3);
	for (i = 0; i < NF; i++)
		assert_int_equal(ws->used[i], i == 10 || i == 25 || i == 33 ? 0 : 1);
	assert_rel(fit.r0_ohm, 600, 1e-6);
	assert_rel(fit.rinf_ohm, 375, 1e-6);
	assert_rel(fit.alpha, 0.7, 1e-6);
	assert_rel(fit.fc_hz, 50e3, 1e-6);

	/*
	 * 12 gross outliers (R +30 % at points 1, 4, ..., 34): a least-squares
	 * start would hide them; the robust stage finds all 12 (= 25 %).
	 */
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);
	for (i = 0; i < 12; i++)
		r[1 + 3 * i] *= 1.3;
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_int_equal(fit.flags, BIOZ_FIT_OUTLIERS_DROPPED);
	assert_int_equal(fit.n_used, NF - 12);
	assert_rel(fit.r0_ohm, 600, 1e-6);
	assert_rel(fit.alpha, 0.7, 1e-6);

	/* 13 is more than max_drop_frac (25 % of 50) allows: untrusted */
	r[1 + 3 * 12] *= 1.3;
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_TOO_MANY_OUTLIERS);
	assert_true(fit.flags & BIOZ_FIT_UNTRUSTED_MASK);
}

/* Fits that must not be trusted. */
static void test_fit_untrusted(void **state)
{
	struct bioz_fit_ws *ws = *state;
	struct bioz_fit_opts o;
	struct bioz_fit fit;
	double f[NF], r[NF], x[NF];
	double f3[3] = { 5e3, 50e3, 500e3 }, r3[3], x3[3];
	int i;

	freqs_log(f);
	bioz_fit_opts_default(&o);

	/* 3 exact points: the curve passes through them, but 3 < min_points */
	spectrum(f3, 3, 600, 375, 50e3, 0.7, 0, r3, x3);
	assert_int_equal(bioz_cole_fit(ws, &o, f3, r3, x3, 3, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_TOO_FEW_POINTS);
	assert_true(fit.flags & BIOZ_FIT_UNTRUSTED_MASK);

	/* 2 points: no fit at all, parameters absent */
	assert_int_equal(bioz_cole_fit(ws, &o, f3, r3, x3, 2, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_NOT_RUN);
	assert_true(isnan(fit.r0_ohm) && isnan(fit.alpha) && isnan(fit.se_r0_ohm));

	/* pure resistor, exact and noisy: no dispersion to fit */
	for (i = 0; i < NF; i++) {
		r[i] = 500.0;
		x[i] = 0.0;
	}
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_UNTRUSTED_MASK);
	assert_true(fit.flags & BIOZ_FIT_SINGULAR);	/* no dispersion: J'J singular */
	assert_true(fit.flags & BIOZ_FIT_R0_LE_RINF);
	assert_true(isinf(fit.se_alpha));
	rng.s = 3;
	add_noise(r, x, NF);
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_UNTRUSTED_MASK);

	/* a 30 ns lead delay that the model without Td cannot absorb */
	spectrum(f, NF, 600, 375, 50e3, 0.7, 30e-9, r, x);
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_UNTRUSTED_MASK);

	/* an arc with R0 < Rinf (X > 0) is not tissue: fitted exactly, and flagged */
	spectrum(f, NF, 375, 600, 50e3, 0.7, 0, r, x);
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_R0_LE_RINF);
	assert_false(fit.flags & BIOZ_FIT_SINGULAR);

	/* 5 % / 2.5 degree noise: residual RMS ~4.7 % of |Z| > 3 % */
	rng.s = 4;
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);
	for (i = 0; i < NF; i++) {
		double complex z = r[i] + I * x[i];

		z *= (1.0 + 0.05 * testrng_gauss(&rng)) * cexp(I * (2.5 * M_PI / 180.0) * testrng_gauss(&rng));
		r[i] = creal(z);
		x[i] = cimag(z);
	}
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_RESIDUAL_HIGH);
	assert_true(fit.rms_rel > 0.03 && fit.rms_rel < 0.07);

	/* alpha > 1 is not a tissue spectrum: flagged, not clipped */
	spectrum(f, NF, 600, 375, 50e3, 1.15, 0, r, x);
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
	assert_true(fit.flags & BIOZ_FIT_ALPHA_RANGE);
	assert_rel(fit.alpha, 1.15, 1e-6);
}

/*
 * Bodies the sweep cannot resolve (bench-bioz's slowest): a small, flat
 * dispersion (alpha 0.3) or fc below the band, 1 % noise. The fit runs into
 * a flat valley that ends on a face of the search box (fc or alpha); it
 * must converge there within 200 iterations in all (less than one LM run's
 * default cap; these took 800 when the box clipped the step instead of
 * holding the parameter) and be flagged untrusted.
 */
static void test_fit_unresolvable_converges(void **state)
{
	static const double bodies[][4] = {	/* R0, Rinf, fc, alpha */
		{ 303.2, 245.09, 2e3, 0.3 },
		{ 564.6, 477.58, 153.9e3, 0.3 },
		{ 303.2, 276.18, 2e3, 0.953 },
		{ 1087.4, 804.93, 52e3, 0.3 },
		{ 303.2, 245.09, 52e3, 0.3 },
	};
	struct bioz_fit_ws *ws = *state;
	struct bioz_fit_opts o;
	struct bioz_fit fit;
	double f[NF], r[NF], x[NF];
	uint32_t max_iter = 0;
	unsigned b, seed;

	freqs_log(f);
	bioz_fit_opts_default(&o);
	for (b = 0; b < ARRAY_SIZE(bodies); b++) {
		for (seed = 1; seed <= 8; seed++) {
			rng.s = 1000 * b + seed;
			spectrum(f, NF, bodies[b][0], bodies[b][1], bodies[b][2], bodies[b][3], 0,
				 r, x);
			add_noise(r, x, NF);
			assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), 0);
			assert_false(fit.flags & BIOZ_FIT_NOT_CONVERGED);
			assert_true(fit.flags & BIOZ_FIT_UNTRUSTED_MASK);
			assert_true(fit.n_iter <= 200);
			if (fit.n_iter > max_iter)
				max_iter = fit.n_iter;
		}
	}
	print_message("unresolvable bodies: at most %u iterations\n", max_iter);
}

static void test_fit_bad_args(void **state)
{
	struct bioz_fit_ws *ws = *state, *ws2;
	struct bioz_fit_opts o;
	struct bioz_fit fit = { .n_points = 777 };
	double f[NF], r[NF], x[NF], big[65] = { 0 };

	freqs_log(f);
	bioz_fit_opts_default(&o);
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);
	r[7] = NAN;
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), -EINVAL);
	r[7] = 500;
	x[8] = INFINITY;
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), -EINVAL);
	x[8] = -50;
	f[9] = f[8];
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), -EINVAL);
	freqs_log(f);
	f[0] = 0.0;
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), -EINVAL);
	assert_int_equal(bioz_cole_fit(ws, &o, big, big, big, 65, &fit), -E2BIG);
	o.outlier_k = NAN;				/* options from a bad config */
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), -EINVAL);
	bioz_fit_opts_default(&o);
	o.max_drop_frac = 1.0;
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, NF, &fit), -EINVAL);
	bioz_fit_opts_default(&o);
	assert_int_equal(fit.n_points, 777);		/* untouched */
	assert_int_equal(bioz_fit_ws_new(0, &ws2), -EINVAL);
	assert_int_equal(bioz_fit_ws_new(BIOZ_MAX_POINTS_LIMIT + 1, &ws2), -EINVAL);
	assert_null(bioz_fit_ws_free(NULL));
}

/* ------------------------------------------------------------ calibration */

/*
 * Synthesise AD5933 DFT words for impedance Z with gain factor GF(f) and
 * system phase ps(f) (data sheet: |Z| = 1/(GF M), arg Z = atan2 - ps):
 * M = 1/(GF |Z|), atan2(im, re) = arg Z + ps. GF and ps vary linearly in f,
 * so interpolation between coarser calibration points is exact.
 */
static double cal_gf(double f)
{
	return 1e-7 * (1.0 + 0.1 * f / 1e5);
}

static double cal_ps(double f)
{
	return 0.3 + 2e-6 * f;			/* rad; 0.5 rad at 100 kHz */
}

static void raw_for(double f, double zr, double zx, double *re, double *im)
{
	double m = 1.0 / (cal_gf(f) * hypot(zr, zx));
	double th = atan2(zx, zr) + cal_ps(f);

	*re = m * cos(th);
	*im = m * sin(th);
}

static void test_calibration_round_trip(void **state)
{
	struct bioz_fit_ws *ws = *state;
	struct bioz_cal_point cal[20];
	struct bioz_fit_opts o;
	struct bioz_fit fit;
	double fc[10], cre[10], cim[10], f[20], re[20], im[20], zr[20], zx[20], r[20], x[20];
	double kr[10], kx[10];
	int i;

	/* calibration on a 1 kohm resistor every 10 kHz, 10..100 kHz */
	for (i = 0; i < 10; i++) {
		fc[i] = 10e3 * (i + 1);
		raw_for(fc[i], 1000.0, 0.0, &cre[i], &cim[i]);
	}
	assert_int_equal(bioz_cal_from_resistor(fc, cre, cim, 10, 1000.0, cal), 0);
	for (i = 0; i < 10; i++) {
		assert_rel(cal[i].gain, cal_gf(fc[i]), 1e-12);
		assert_near(cal[i].sys_phase_rad, cal_ps(fc[i]), 1e-12);
	}
	/* a Cole body measured every 5 kHz, 10..100 kHz (AD5933 band) */
	for (i = 0; i < 19; i++) {
		f[i] = 10e3 + 5e3 * i;
		bioz_cole_z(f[i], 600, 375, 50e3, 0.7, 0, &zr[i], &zx[i]);
		raw_for(f[i], zr[i], zx[i], &re[i], &im[i]);
	}
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), 0);
	for (i = 0; i < 19; i++) {
		assert_rel(r[i], zr[i], 1e-9);
		assert_rel(x[i], zx[i], 1e-9);
	}
	bioz_fit_opts_default(&o);
	assert_int_equal(bioz_cole_fit(ws, &o, f, r, x, 19, &fit), 0);
	assert_int_equal(fit.flags & BIOZ_FIT_UNTRUSTED_MASK, 0);
	assert_rel(fit.r0_ohm, 600, 1e-6);
	assert_rel(fit.rinf_ohm, 375, 1e-6);
	assert_rel(fit.alpha, 0.7, 1e-6);
	assert_rel(fit.fc_hz, 50e3, 1e-6);

	/* int16 DFT words (rounded): within 0.05 % of |Z| */
	for (i = 0; i < 19; i++) {
		re[i] = nearbyint(re[i]);
		im[i] = nearbyint(im[i]);
		assert_true(fabs(re[i]) < 32768 && fabs(im[i]) < 32768);
	}
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), 0);
	for (i = 0; i < 19; i++)
		assert_near(hypot(r[i] - zr[i], x[i] - zx[i]), 0, 5e-4 * hypot(zr[i], zx[i]));

	/* a capacitor comes out near -90 degrees (data-sheet sign convention) */
	{
		double cap_x = -1.0 / (2 * M_PI * 50e3 * 10e-9), rr, xx;

		raw_for(50e3, 0.0, cap_x, &re[0], &im[0]);
		assert_int_equal(bioz_cal_apply(cal, 10, &f[8], re, im, 1, &rr, &xx), 0);
		assert_near(atan2(xx, rr) * 180 / M_PI, -90.0, 1e-9);
		assert_rel(xx, cap_x, 1e-9);
	}

	/* calibration on an R-C phantom (R 200 + (R 800 || C 4 nF)) */
	for (i = 0; i < 10; i++) {
		bioz_cole_z(fc[i], 1000, 200, 1.0 / (2 * M_PI * 800 * 4e-9), 1.0, 0, &kr[i],
			    &kx[i]);
		raw_for(fc[i], kr[i], kx[i], &cre[i], &cim[i]);
	}
	assert_int_equal(bioz_cal_compute(fc, cre, cim, kr, kx, 10, cal), 0);
	for (i = 0; i < 10; i++) {
		assert_rel(cal[i].gain, cal_gf(fc[i]), 1e-12);
		assert_near(cal[i].sys_phase_rad, cal_ps(fc[i]), 1e-12);
	}
	for (i = 0; i < 19; i++)
		raw_for(f[i], zr[i], zx[i], &re[i], &im[i]);
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), 0);
	for (i = 0; i < 19; i++)
		assert_rel(x[i], zx[i], 1e-9);

	/* errors: outside the calibrated band, zero magnitude, bad calibration */
	r[0] = 12345;
	f[0] = 5e3;
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), -ERANGE);
	assert_near(r[0], 12345, 0);			/* untouched */
	/* the register's 1 Hz rounding: 0.1% past an end is the end's factors */
	f[0] = fc[0] * (1.0 - 2e-3);
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), -ERANGE);
	f[0] = fc[0] * (1.0 - 5e-4);
	raw_for(f[0], zr[0], zx[0], &re[0], &im[0]);
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), 0);
	assert_rel(r[0], zr[0], 1e-3);
	f[0] = 10e3;
	re[3] = im[3] = 0;
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), -EINVAL);
	cre[4] = cim[4] = 0;
	assert_int_equal(bioz_cal_from_resistor(fc, cre, cim, 10, 1000.0, cal), -EINVAL);
	assert_int_equal(bioz_cal_from_resistor(fc, cre, cim, 10, -5.0, cal), -EINVAL);
}

/*
 * A railed DFT word (+32767 or -32768, the 16-bit limits: the ADC or the
 * DFT saturated) is a clipped point that still looks plausible. A
 * calibration over one is refused (its gain factor would be wrong at every
 * later sweep); a measured sweep gets NaN there and the count of them.
 */
static void test_calibration_railed(void **state)
{
	static const double rail[] = { BIOZ_RAW_MAX, BIOZ_RAW_MIN, 40000.0, -1e6 };
	struct bioz_cal_point cal[10], before[10];
	double fc[10], cre[10], cim[10], kr[10], kx[10];
	double f[19], re[19], im[19], zr[19], zx[19], r[19], x[19], save;
	size_t k;
	int i;

	(void)state;
	assert_true(BIOZ_RAW_MAX == 32767.0 && BIOZ_RAW_MIN == -32768.0);
	for (i = 0; i < 10; i++) {
		fc[i] = 10e3 * (i + 1);
		raw_for(fc[i], 1000.0, 0.0, &cre[i], &cim[i]);
		bioz_cole_z(fc[i], 1000, 200, 1.0 / (2 * M_PI * 800 * 4e-9), 1.0, 0, &kr[i],
			    &kx[i]);
	}
	assert_int_equal(bioz_cal_from_resistor(fc, cre, cim, 10, 1000.0, cal), 0);
	memcpy(before, cal, sizeof(cal));
	for (k = 0; k < sizeof(rail) / sizeof(rail[0]); k++) {
		save = cre[4];
		cre[4] = rail[k];
		assert_int_equal(bioz_cal_from_resistor(fc, cre, cim, 10, 1000.0, cal),
				 -EOVERFLOW);
		assert_int_equal(bioz_cal_compute(fc, cre, cim, kr, kx, 10, cal), -EOVERFLOW);
		cre[4] = save;
		save = cim[9];
		cim[9] = rail[k];
		assert_int_equal(bioz_cal_from_resistor(fc, cre, cim, 10, 1000.0, cal),
				 -EOVERFLOW);
		cim[9] = save;
	}
	assert_memory_equal(cal, before, sizeof(cal));	/* untouched */
	/* one step inside the limits is a good word */
	cre[0] = 32766.0;
	cim[0] = -32767.0;
	assert_false(bioz_raw_railed(cre[0], cim[0]));
	assert_int_equal(bioz_cal_from_resistor(fc, cre, cim, 10, 1000.0, cal), 0);
	memcpy(cal, before, sizeof(cal));

	/* a measured Cole body with its two top points railed */
	for (i = 0; i < 19; i++) {
		f[i] = 10e3 + 5e3 * i;
		bioz_cole_z(f[i], 600, 375, 50e3, 0.7, 0, &zr[i], &zx[i]);
		raw_for(f[i], zr[i], zx[i], &re[i], &im[i]);
	}
	re[17] = BIOZ_RAW_MAX;
	im[18] = BIOZ_RAW_MIN;
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), 2);
	for (i = 0; i < 17; i++) {
		assert_rel(r[i], zr[i], 1e-9);
		assert_rel(x[i], zx[i], 1e-9);
	}
	assert_true(isnan(r[17]) && isnan(x[17]) && isnan(r[18]) && isnan(x[18]));
	/* what is not a word is still an error, railed points or not */
	re[3] = im[3] = 0;
	assert_int_equal(bioz_cal_apply(cal, 10, f, re, im, 19, r, x), -EINVAL);
}

/* ------------------------------------------------------------ live calibration */

#define NL 96			/* the daemon's sweep: 5 to 100 kHz by 1 kHz */

static struct bioz_live live;

static int setup_live(void **state)
{
	(void)state;
	return bioz_live_init(&live) < 0 ? -1 : 0;
}

static int teardown_live(void **state)
{
	(void)state;
	bioz_live_deinit(&live);
	return 0;
}

/* DFT words (interleaved) of a Cole body, or of a resistor when r0 == rinf */
static void live_words(const double *f, double r0, double rinf, double *iq)
{
	double zr, zx;
	int i;

	for (i = 0; i < NL; i++) {
		bioz_cole_z(f[i], r0, rinf, 50e3, 0.7, 0, &zr, &zx);
		raw_for(f[i], zr, zx, &iq[2 * i], &iq[2 * i + 1]);
	}
}

/*
 * A gain factor holds only at the output range and PGA gain it was made
 * at (they scale the DFT words 2-10x and 5x): bioz_live records them with
 * the calibration and never applies it at other settings, whether it came
 * from the file at start or was made in this run before a reload.
 */
static void test_live_analog_settings(void **state)
{
	struct bioz_live *b = &live;
	struct bioz_estimate e;
	double f[NL], iq[2 * NL];
	int i;

	(void)state;
	for (i = 0; i < NL; i++)
		f[i] = 5e3 + 1e3 * i;
	assert_int_equal(bioz_live_set_analog(b, 1980, 5), 0);	/* nothing to drop */
	live_words(f, 1000, 1000, iq);
	b->cal_pending_ohm = 1000;
	assert_int_equal(bioz_live_sweep(b, 0, f, iq, NL, 0.0, false, &e), 1);
	assert_int_equal(b->n_cal, NL);
	assert_int_equal(b->cal_excitation_mv, 1980);
	assert_int_equal(b->cal_pga_gain, 5);
	live_words(f, 600, 375, iq);
	assert_int_equal(bioz_live_sweep(b, 1, f, iq, NL, 10.0, false, &e), 0);
	assert_int_equal(e.fit_flags & BIOZ_FIT_UNTRUSTED_MASK, 0);
	assert_rel(e.r0_ohm, 600, 1e-6);
	/* a reopen at the same settings keeps it */
	assert_int_equal(bioz_live_set_analog(b, 1980, 5), 0);
	assert_int_equal(b->n_cal, NL);

	/* a reload to another range: dropped, said once, no estimate */
	assert_int_equal(bioz_live_set_analog(b, 970, 5), 1);
	assert_int_equal(b->n_cal, 0);
	assert_true(b->cal_excitation_mv == 1980 && b->cal_pga_gain == 5);	/* for the message */
	assert_int_equal(bioz_live_set_analog(b, 970, 5), 0);
	assert_int_equal(bioz_live_sweep(b, 2, f, iq, NL, 20.0, false, &e), -ENODATA);

	/* calibrated again at 970 mV: its own settings */
	live_words(f, 1000, 1000, iq);
	b->cal_pending_ohm = 1000;
	assert_int_equal(bioz_live_sweep(b, 3, f, iq, NL, 30.0, false, &e), 1);
	assert_true(b->cal_excitation_mv == 970 && b->cal_pga_gain == 5);
	/* the PGA alone changed */
	assert_int_equal(bioz_live_set_analog(b, 970, 1), 1);
	assert_int_equal(b->n_cal, 0);

	/* a stored one, as load_calibration() sets it: used at its settings only */
	b->n_cal = NL;
	b->cal_from_file = true;
	b->cal_excitation_mv = 383;
	b->cal_pga_gain = 1;
	assert_int_equal(bioz_live_set_analog(b, 1980, 1), 1);
	assert_int_equal(b->n_cal, 0);
	b->n_cal = NL;
	b->cal_from_file = true;
	assert_int_equal(bioz_live_set_analog(b, 383, 1), 0);
	live_words(f, 600, 375, iq);
	assert_int_equal(bioz_live_sweep(b, 4, f, iq, NL, 40.0, false, &e), 0);
	assert_false(b->cal_from_file);

	/* never applied while the settings differ, even if nobody dropped it */
	b->cal_pga_gain = 5;
	assert_int_equal(bioz_live_sweep(b, 5, f, iq, NL, 50.0, false, &e), -ENODATA);
	assert_int_equal(b->n_cal, 0);
}

/*
 * Railed words through the live path: a calibration sweep with one is
 * refused (-EOVERFLOW, not calibrated); a measured sweep leaves them out
 * and says so, and a sweep left with too few points is untrusted as any
 * sweep of too few points is.
 */
static void test_live_railed(void **state)
{
	struct bioz_live *b = &live;
	struct bioz_estimate e;
	double f[NL], iq[2 * NL];
	char buf[2048];
	int i;

	(void)state;
	for (i = 0; i < NL; i++)
		f[i] = 5e3 + 1e3 * i;
	assert_int_equal(bioz_live_set_analog(b, 1980, 5), 0);
	live_words(f, 1000, 1000, iq);
	iq[2 * 40 + 1] = BIOZ_RAW_MIN;
	b->cal_pending_ohm = 1000;
	assert_int_equal(bioz_live_sweep(b, 0, f, iq, NL, 0.0, false, &e), -EOVERFLOW);
	assert_int_equal(b->n_cal, 0);
	assert_true(b->cal_pending_ohm == 0);		/* asked once, answered */
	live_words(f, 1000, 1000, iq);
	b->cal_pending_ohm = 1000;
	assert_int_equal(bioz_live_sweep(b, 1, f, iq, NL, 1.0, false, &e), 1);

	/* the top 10 frequencies railed: fitted on 5-90 kHz, flagged */
	live_words(f, 600, 375, iq);
	for (i = NL - 10; i < NL; i++)
		iq[2 * i] = BIOZ_RAW_MAX;
	assert_int_equal(bioz_live_sweep(b, 2, f, iq, NL, 10.0, false, &e), 0);
	assert_true(e.est_flags & BIOZ_EST_RAILED_DROPPED);
	assert_int_equal(e.n_points, NL);
	assert_true(e.n_used <= NL - 10);
	assert_int_equal(e.fit_flags & BIOZ_FIT_UNTRUSTED_MASK, 0);
	assert_rel(e.r0_ohm, 600, 1e-6);
	assert_rel(e.rinf_ohm, 375, 1e-6);
	assert_true(bioz_json_format(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"railed_points_dropped\""));

	/* a clean sweep again: no flag */
	live_words(f, 600, 375, iq);
	assert_int_equal(bioz_live_sweep(b, 3, f, iq, NL, 20.0, false, &e), 0);
	assert_false(e.est_flags & BIOZ_EST_RAILED_DROPPED);
	assert_int_equal(e.n_used, NL);

	/* 6 points left: below min_points (8), untrusted */
	for (i = 6; i < NL; i++)
		iq[2 * i + (i & 1)] = (i & 1) ? BIOZ_RAW_MIN : BIOZ_RAW_MAX;
	assert_int_equal(bioz_live_sweep(b, 4, f, iq, NL, 30.0, false, &e), 0);
	assert_true(e.est_flags & BIOZ_EST_RAILED_DROPPED);
	assert_int_equal(e.n_points, NL);
	assert_true(e.fit_flags & BIOZ_FIT_TOO_FEW_POINTS);
	assert_true(e.fit_flags & BIOZ_FIT_UNTRUSTED_MASK);
	assert_true(e.est_flags & BIOZ_EST_RI_ABSENT);	/* no index from it */

	/* 2 left: no fit at all; none left: the same, nothing invented */
	for (i = 2; i < 6; i++)
		iq[2 * i] = BIOZ_RAW_MAX;
	assert_int_equal(bioz_live_sweep(b, 5, f, iq, NL, 40.0, false, &e), 0);
	assert_true(e.fit_flags & BIOZ_FIT_NOT_RUN);
	assert_true(isnan(e.r0_ohm) && isnan(e.r50_ohm));
	for (i = 0; i < 2; i++)
		iq[2 * i] = BIOZ_RAW_MAX;
	assert_int_equal(bioz_live_sweep(b, 6, f, iq, NL, 50.0, false, &e), 0);
	assert_true(e.fit_flags & BIOZ_FIT_NOT_RUN);
	assert_int_equal(e.n_used, 0);
	assert_int_equal(e.n_points, NL);
	assert_true(isnan(e.r0_ohm) && isnan(e.r50_ohm) && isnan(e.phase_deg_50k));
}

/* ------------------------------------------------------------ per-sweep estimate */

static void test_estimate_with_subject(void **state)
{
	struct bioz_fit_ws *ws = *state;
	struct bioz_subject m = { 175.0, 75.0, 40.0, BIOZ_SEX_MALE };
	struct bioz_config c;
	struct bioz_estimate e;
	double f[NF], r[NF], x[NF];

	freqs_log(f);
	bioz_config_default(&c);
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 7, f, r, x, NF, &e), 0);
	assert_int_equal(e.sweep, 7);
	assert_int_equal(e.fit_flags, 0);
	assert_int_equal(e.est_flags, BIOZ_EST_R50_FROM_MODEL | BIOZ_EST_RI_ABSENT);
	/* section 11.2: Z(50k) = 487.500 - 68.940j, PhA 8.049, volumes as the vectors */
	assert_near(e.r50_ohm, 487.500, 6e-4);
	assert_near(e.xc50_ohm, 68.940, 6e-4);
	assert_near(e.phase_deg_50k, 8.049, 6e-4);
	assert_near(e.ecw_l, 17.804, 6e-4);
	assert_near(e.icw_l, 27.658, 6e-4);
	assert_near(e.tbw_l, 45.463, 6e-4);
	assert_near(e.ecw_tbw, 0.3916, 6e-5);
	assert_near(e.tau_s * 1e9, 3183.099, 6e-4);
	/* Sun 2003 men at R50 = 487.5: python3 1.203 + 0.449*175^2/487.5 + 0.176*75 */
	assert_near(e.tbw_sf_l, 42.60941025641026, 1e-6);
	/* BIVA at (487.5, 68.94) / 1.75 m vs Piccoli men: D^2 4.19962 by python3 */
	assert_near(e.biva_r_h, 278.57142857142856, 1e-6);
	assert_near(e.biva_d2, 4.199621171754908, 1e-5);
	assert_int_equal(e.biva_class, BIOZ_BIVA_IN95);
	assert_int_equal(e.model_cole, BIOZ_MODEL_COLE_LM);
	assert_int_equal(e.model_r50, BIOZ_MODEL_R50_COLE);
	assert_int_equal(e.model_ecw, BIOZ_MODEL_ECW_HANAI_M);
	assert_int_equal(e.model_icw, BIOZ_MODEL_ICW_MATTHIE_M);
	assert_int_equal(e.model_tbw_sf, BIOZ_MODEL_SF_FIRST + BIOZ_SF_SUN2003);
	assert_int_equal(e.model_biva, BIOZ_MODEL_BIVA_PICCOLI_M);

	/* the sweep instead of the model: 50 kHz falls between two points */
	c.r50_source = BIOZ_R50_SWEEP;
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 7, f, r, x, NF, &e), 0);
	assert_int_equal(e.model_r50, BIOZ_MODEL_R50_SWEEP);
	assert_near(e.r50_ohm, 487.5, 0.5);		/* log-linear interpolation error */
	assert_true(e.r50_ohm != 487.5);

	/* Lukaski & Bolonchuk needs age: absent and flagged without it */
	c.sf_equation = BIOZ_SF_LUKASKI_BOLONCHUK1988;
	m.age_y = NAN;
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 7, f, r, x, NF, &e), 0);
	assert_true(isnan(e.tbw_sf_l));
	assert_true(e.est_flags & BIOZ_EST_SF_MISSING_INPUT);
	assert_true(isfinite(e.ecw_l));

	/* BMI 40 is outside the equations' validity: flagged, still computed */
	c.sf_equation = BIOZ_SF_SUN2003;
	m.weight_kg = 122.5;
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 7, f, r, x, NF, &e), 0);
	assert_true(e.est_flags & BIOZ_EST_OUTSIDE_VALIDITY);
	assert_true(isfinite(e.tbw_sf_l));
	/* so is a child of BMI 22: the equations and BIVA ellipses are adults' */
	m.weight_kg = 67.4;
	m.age_y = 17.0;
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 7, f, r, x, NF, &e), 0);
	assert_true(e.est_flags & BIOZ_EST_OUTSIDE_VALIDITY);
	m.age_y = 18.0;
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 7, f, r, x, NF, &e), 0);
	assert_false(e.est_flags & BIOZ_EST_OUTSIDE_VALIDITY);

	c.sf_equation = 99;
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 7, f, r, x, NF, &e), -EINVAL);

	/*
	 * A trusted fit on 60 kHz - 1 MHz (points 23..49 of the log grid start
	 * at 60.3 kHz): R at 50 kHz is not extrapolated from the model.
	 */
	bioz_config_default(&c);
	assert_true(f[23] > 50e3);
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 8, f + 23, r + 23, x + 23, NF - 23,
					     &e), 0);
	assert_int_equal(e.fit_flags & BIOZ_FIT_UNTRUSTED_MASK, 0);
	assert_rel(e.r0_ohm, 600, 1e-6);
	assert_true(e.est_flags & BIOZ_EST_NO_50K);
	assert_true(isnan(e.r50_ohm) && isnan(e.phase_deg_50k) && isnan(e.tbw_sf_l));
	assert_int_equal(e.model_r50, BIOZ_MODEL_NONE);
	assert_true(isfinite(e.ecw_l));			/* BIS needs no 50 kHz point */
}

static void test_estimate_without_subject(void **state)
{
	struct bioz_fit_ws *ws = *state;
	struct bioz_subject no_sex = { 175.0, 75.0, 40.0, BIOZ_SEX_UNKNOWN };
	struct bioz_config c;
	struct bioz_estimate e;
	double f[NF], r[NF], x[NF];
	int pass;

	freqs_log(f);
	bioz_config_default(&c);
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);
	for (pass = 0; pass < 2; pass++) {
		assert_int_equal(bioz_estimate_sweep(ws, &c, pass ? &no_sex : NULL, 1, f, r, x,
						     NF, &e), 0);
		/* measurement level: present */
		assert_near(e.r0_ohm, 600, 1e-6);
		assert_near(e.r50_ohm, 487.5, 1e-6);
		assert_near(e.phase_deg_50k, 8.049, 6e-4);
		/* body water, BIVA: absent and flagged, never invented */
		assert_true(e.est_flags & BIOZ_EST_NO_SUBJECT);
		assert_true(isnan(e.ecw_l) && isnan(e.icw_l) && isnan(e.tbw_l));
		assert_true(isnan(e.tbw_sf_l) && isnan(e.ecw_tbw) && isnan(e.biva_r_h));
		assert_int_equal(e.biva_class, BIOZ_BIVA_ABSENT);
		assert_int_equal(e.model_ecw, BIOZ_MODEL_NONE);
	}

	/* an untrusted fit: Cole parameters reported, body water withheld */
	{
		struct bioz_subject m = { 175.0, 75.0, 40.0, BIOZ_SEX_MALE };

		assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 2, f, r, x, 5, &e), 0);
		assert_true(e.fit_flags & BIOZ_FIT_TOO_FEW_POINTS);
		assert_true(e.est_flags & BIOZ_EST_BIS_UNTRUSTED);
		assert_true(isnan(e.ecw_l) && isnan(e.tbw_l));
		assert_true(e.est_flags & BIOZ_EST_NO_50K);	/* band 5-9 kHz */
	}
}

/* ------------------------------------------------------------ resistance index */

static struct bioz_estimate est_r0(double r0, double se)
{
	struct bioz_estimate e;

	memset(&e, 0, sizeof(e));
	estimate_absent(&e);
	e.r0_ohm = r0;
	e.se_r0_ohm = se;
	e.phase_deg_50k = 7.0;
	e.ecw_tbw = 0.40;
	return e;
}

/*
 * Baseline Re 600, 603, 597, 601.5, 598.5 ohm, SE 1.5 each: mean 600,
 * scatter var 5.625, physiological var 5.625 - 2.25 = 3.375, SE of mean
 * sqrt(5.625/5) = 1.0607. By python3 (refvals in the commit notes):
 * 606 ohm -> index 0.0100, u 0.0043374 (no alert at k 3, min 2 %);
 * 630 ohm -> index 0.0500, u 0.0043670 (alert).
 */
static void test_ri_baseline_and_alert(void **state)
{
	static const double base[] = { 600, 603, 597, 601.5, 598.5 };
	struct bioz_ri_config rc;
	struct bioz_alert_config ac;
	struct bioz_ri ri;
	struct bioz_estimate e;
	int i;

	(void)state;
	bioz_ri_config_default(&rc);
	bioz_alert_config_default(&ac);
	assert_int_equal(rc.baseline_n, 5);
	bioz_ri_init(&ri, &rc);
	for (i = 0; i < 5; i++) {
		e = est_r0(base[i], 1.5);
		assert_int_equal(bioz_ri_update(&ri, 10.0 * i, NAN, &e), 0);
		assert_int_equal(e.ri_n_baseline, i < 4 ? 0 : 5);
	}
	assert_near(ri.base_r_ohm, 600.0, 1e-9);
	assert_near(ri.base_phys_var, 3.375, 1e-9);
	assert_near(ri.base_u_ohm, sqrt(5.625 / 5), 1e-12);
	assert_near(ri.base_pha_deg, 7.0, 1e-12);

	e = est_r0(606.0, 1.5);
	assert_int_equal(bioz_ri_update(&ri, 60.0, NAN, &e), 0);
	assert_near(e.re_index, 0.01, 1e-12);
	assert_near(e.re_index_u, 0.0043373739174758725, 1e-12);
	assert_true(e.est_flags & BIOZ_EST_RI_NOT_TEMP_COMP);
	assert_false(e.est_flags & BIOZ_EST_RI_ABSENT);
	assert_int_equal(e.model_ri, BIOZ_MODEL_RI_UNCOMP);
	assert_int_equal(bioz_alerts_eval(&ac, &e, ri.base_pha_deg, ri.base_ecw_tbw, 0), 0);

	e = est_r0(630.0, 1.5);
	assert_int_equal(bioz_ri_update(&ri, 70.0, NAN, &e), 0);
	assert_near(e.re_index, 0.05, 1e-12);
	assert_near(e.re_index_u, 0.004366956892390856, 1e-12);
	assert_int_equal(bioz_alerts_eval(&ac, &e, ri.base_pha_deg, ri.base_ecw_tbw, 0),
			 BIOZ_ALERT_RE_INDEX_CHANGE);

	/* an untrusted sweep gives no index */
	e = est_r0(630.0, 1.5);
	e.fit_flags = BIOZ_FIT_SE_LARGE;
	assert_int_equal(bioz_ri_update(&ri, 80.0, NAN, &e), 0);
	assert_true(isnan(e.re_index));
	assert_true(e.est_flags & BIOZ_EST_RI_ABSENT);
	/* time going backwards is refused */
	assert_int_equal(bioz_ri_update(&ri, 79.0, NAN, &e), -EINVAL);
	assert_int_equal(bioz_ri_update(&ri, NAN, NAN, &e), -EINVAL);

	/* on command: a new baseline from the next 2 sweeps */
	bioz_ri_rebaseline(&ri, 2);
	e = est_r0(630.0, 1.5);
	assert_int_equal(bioz_ri_update(&ri, 90.0, NAN, &e), 0);
	assert_true(isnan(e.re_index));
	e = est_r0(630.0, 1.5);
	assert_int_equal(bioz_ri_update(&ri, 100.0, NAN, &e), 0);
	assert_near(e.re_index, 0.0, 1e-12);
	assert_true(e.est_flags & BIOZ_EST_RI_BASELINE_FEW);
}

/*
 * Temperature: baseline at 34.0 degC; a sweep at 35.0 degC whose Re fell
 * 2 % (the 2 %/degC conductivity rise of section 6.3) is compensated to
 * 600 * 0.98 * 1.02 / 600 - 1 = -0.0004 (by hand); uncompensated it reads
 * -0.02. With temp_u_c 0.5 the uncertainty grows by R a u_T.
 */
static void test_ri_temperature(void **state)
{
	struct bioz_ri_config rc;
	struct bioz_ri ri;
	struct bioz_estimate e;
	double u_plain;
	int i;

	(void)state;
	bioz_ri_config_default(&rc);
	rc.baseline_n = 3;
	bioz_ri_init(&ri, &rc);
	for (i = 0; i < 3; i++) {
		e = est_r0(600.0, 1.0);
		assert_int_equal(bioz_ri_update(&ri, i, 34.0, &e), 0);
	}
	assert_true(ri.base_has_temp);
	assert_near(ri.base_temp_c, 34.0, 1e-12);
	e = est_r0(600.0 * 0.98, 1.0);
	assert_int_equal(bioz_ri_update(&ri, 10, 35.0, &e), 0);
	assert_near(e.re_index, -0.0004, 1e-12);
	assert_int_equal(e.model_ri, BIOZ_MODEL_RI_TEMP2);
	assert_false(e.est_flags & BIOZ_EST_RI_NOT_TEMP_COMP);
	u_plain = e.re_index_u;
	/* the coefficient's own uncertainty (1 %/degC by default) at 1 degC from
	 * the baseline adds (588 * 1 * 0.01)^2 ohm^2: the index cannot claim
	 * better than about 1 % there (it claimed 0.2 %) */
	assert_true(u_plain >= 5.88 / 600.0);
	e = est_r0(600.0 * 0.98, 1.0);
	assert_int_equal(bioz_ri_update(&ri, 11, NAN, &e), 0);
	assert_near(e.re_index, -0.02, 1e-12);
	assert_true(e.est_flags & BIOZ_EST_RI_NOT_TEMP_COMP);

	rc.temp_u_c = 0.5;
	bioz_ri_init(&ri, &rc);
	for (i = 0; i < 3; i++) {
		e = est_r0(600.0, 1.0);
		assert_int_equal(bioz_ri_update(&ri, i, 34.0, &e), 0);
	}
	e = est_r0(600.0 * 0.98, 1.0);
	assert_int_equal(bioz_ri_update(&ri, 10, 35.0, &e), 0);
	assert_true(e.re_index_u > u_plain);
	/* the current sweep alone adds (588 * 0.02 * 0.5)^2 = 5.8806^2 ohm^2 */
	assert_true(e.re_index_u >= 5.8806 / 600.0);
}

/*
 * Trends: the index rises 0.012 per hour, one sweep every 10 s, for 3 h
 * (the 60-bin ring wraps twice). A linear index gives exact bin means, so
 * both slopes are 0.012/h; in the first minutes there is no trend.
 */
static void test_ri_trends(void **state)
{
	struct bioz_ri_config rc;
	struct bioz_ri ri;
	struct bioz_estimate e;
	int k;

	(void)state;
	bioz_ri_config_default(&rc);
	rc.baseline_n = 1;
	bioz_ri_init(&ri, &rc);
	e = est_r0(500.0, 0.5);
	assert_int_equal(bioz_ri_update(&ri, 0.0, NAN, &e), 0);
	for (k = 1; k <= 1080; k++) {
		double t = 10.0 * k;

		e = est_r0(500.0 * (1.0 + 0.012 * t / 3600.0), 0.5);
		assert_int_equal(bioz_ri_update(&ri, t, NAN, &e), 0);
		assert_near(e.re_index, 0.012 * t / 3600.0, 1e-12);
		if (k < 18) {				/* < 3 min: too short */
			assert_true(isnan(e.re_trend_15min_per_h));
			assert_true(isnan(e.re_trend_1h_per_h));
		}
		if (k >= 60) {				/* >= 10 min */
			assert_near(e.re_trend_15min_per_h, 0.012, 1e-9);
		}
		if (k >= 240) {				/* >= 40 min */
			assert_near(e.re_trend_1h_per_h, 0.012, 1e-9);
		}
	}
	/* a step 5 min ago weighs more in the 15-min trend than in the 1-h one */
	for (k = 1081; k <= 1110; k++) {
		e = est_r0(500.0 * 1.05, 0.5);
		assert_int_equal(bioz_ri_update(&ri, 10.0 * k, NAN, &e), 0);
	}
	assert_true(e.re_trend_15min_per_h > e.re_trend_1h_per_h);
	assert_true(e.re_trend_1h_per_h > 0.012);
}

/* ------------------------------------------------------------ alerts */

/*
 * One sweep raises or clears nothing: three sweeps in a row that can judge
 * it do; an untrusted sweep says nothing (it used to clear a raised alert);
 * a raised alert clears only within half its threshold (hysteresis).
 */
static void test_alerts_persist(void **state)
{
	struct bioz_alert_config ac;
	struct bioz_alert_state st = { 0 };
	struct bioz_estimate e = est_r0(600, 1), bad;
	int i;

	(void)state;
	bioz_alert_config_default(&ac);
	assert_int_equal(ac.persist, 3);
	e.re_index_u = 0.001;
	/* a lone sweep beyond the threshold, then one within: nothing */
	e.re_index = 0.03;
	assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0), 0);
	e.re_index = 0.0;
	assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0), 0);
	/* three in a row raise it */
	e.re_index = 0.03;
	assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0), 0);
	assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0), 0);
	assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0),
			 BIOZ_ALERT_RE_INDEX_CHANGE);
	/* untrusted sweeps have no index: they neither clear it nor count */
	bad = est_r0(600, 1);
	bad.fit_flags = BIOZ_FIT_UNTRUSTED_MASK & -BIOZ_FIT_UNTRUSTED_MASK;
	for (i = 0; i < 5; i++)
		assert_int_equal(bioz_alerts_step(&ac, &st, &bad, NAN, NAN, 0),
				 BIOZ_ALERT_RE_INDEX_CHANGE);
	/* 0.015: under the 0.02 floor that raises, over the 0.01 that clears */
	e.re_index = 0.015;
	for (i = 0; i < 5; i++)
		assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0),
				 BIOZ_ALERT_RE_INDEX_CHANGE);
	/* back within half: cleared on the third */
	e.re_index = 0.005;
	assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0),
			 BIOZ_ALERT_RE_INDEX_CHANGE);
	assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0),
			 BIOZ_ALERT_RE_INDEX_CHANGE);
	assert_int_equal(bioz_alerts_step(&ac, &st, &e, NAN, NAN, 0), 0);
	/* the phase angle of an untrusted fit (taken from the raw sweep) is
	 * not judged: a 2-degree drop on three untrusted sweeps raises nothing */
	bad.phase_deg_50k = 6.0;
	for (i = 0; i < 3; i++)
		assert_int_equal(bioz_alerts_step(&ac, &st, &bad, 8.0, NAN, 0), 0);
}

static void test_alerts(void **state)
{
	struct bioz_alert_config ac;
	struct bioz_estimate e = est_r0(600, 1);

	(void)state;
	bioz_alert_config_default(&ac);
	/* nothing: no baseline values, no index */
	assert_int_equal(bioz_alerts_eval(&ac, &e, NAN, NAN, 1), 0);
	/* phase angle 7.0 vs baseline 7.9: a 0.9 degree drop < 1.0 */
	assert_int_equal(bioz_alerts_eval(&ac, &e, 7.9, NAN, 0), 0);
	assert_int_equal(bioz_alerts_eval(&ac, &e, 8.0, NAN, 0), BIOZ_ALERT_PHA_DROP);
	/* ECW/TBW 0.40 vs 0.395 (+0.005) and vs 0.39 (+0.01) */
	assert_int_equal(bioz_alerts_eval(&ac, &e, NAN, 0.395, 0), 0);
	assert_int_equal(bioz_alerts_eval(&ac, &e, NAN, 0.39, 0), BIOZ_ALERT_ECW_TBW_RISE);
	ac.ecw_tbw_max = 0.40;
	assert_int_equal(bioz_alerts_eval(&ac, &e, NAN, NAN, 0), BIOZ_ALERT_ECW_TBW_RISE);
	ac.ecw_tbw_max = NAN;
	/* index beyond k u but under the 2 % floor: no alert; above both: alert */
	e.re_index = 0.015;
	e.re_index_u = 0.001;
	assert_int_equal(bioz_alerts_eval(&ac, &e, NAN, NAN, 0), 0);
	e.re_index = -0.03;
	assert_int_equal(bioz_alerts_eval(&ac, &e, NAN, NAN, 0), BIOZ_ALERT_RE_INDEX_CHANGE);
	e.re_index_u = 0.011;				/* 0.03 < 3 u: within uncertainty */
	assert_int_equal(bioz_alerts_eval(&ac, &e, NAN, NAN, 0), 0);
	/* co-occurrence only with both a rising twitch rate and a hydration alert */
	assert_int_equal(bioz_alerts_eval(&ac, &e, NAN, NAN, 1), 0);
	assert_int_equal(bioz_alerts_eval(&ac, &e, 8.0, NAN, 1),
			 BIOZ_ALERT_PHA_DROP | BIOZ_ALERT_CO_OCCURRENCE);
	assert_int_equal(bioz_alerts_eval(&ac, &e, 8.0, NAN, 0), BIOZ_ALERT_PHA_DROP);
}

/*
 * The rising twitch rate behind the co-occurrence: the last 5 min against
 * the 10 min before, worked from the 5- and 15-min rates by hand.
 */
static void test_twitch_trend(void **state)
{
	struct bioz_alert_config ac;
	double prior;

	(void)state;
	bioz_alert_config_default(&ac);
	/* 15 min not yet covered: not judged */
	assert_false(bioz_twitch_rate_rising(&ac, 6.0, 3.0, 899.0, &prior));
	assert_true(isnan(prior));
	/* 30 in the last 5 min, 45 in 15: 15 in the 10 before, 1.5/min -> 6/min */
	assert_true(bioz_twitch_rate_rising(&ac, 6.0, 3.0, 900.0, &prior));
	assert_true(fabs(prior - 1.5) <= 1e-12);
	assert_true(bioz_twitch_rate_rising(&ac, 6.0, 3.0, 3600.0, NULL));
	/* doubled (1.5 -> 3) but only 1.5/min more: under the 2/min minimum */
	assert_false(bioz_twitch_rate_rising(&ac, 3.0, 2.0, 900.0, &prior));
	assert_true(fabs(prior - 1.5) <= 1e-12);
	/* a steady rate is no trend */
	assert_false(bioz_twitch_rate_rising(&ac, 10.0, 10.0, 900.0, &prior));
	assert_true(fabs(prior - 10.0) <= 1e-12);
	/* a falling rate is no trend */
	assert_false(bioz_twitch_rate_rising(&ac, 1.0, 5.0, 900.0, &prior));
	assert_true(fabs(prior - 7.0) <= 1e-12);
	/* from none at all (float rounding below 0 is 0): 2/min is the minimum */
	assert_true(bioz_twitch_rate_rising(&ac, 2.0, 0.6666, 900.0, &prior));
	assert_true(fabs(prior - 0.0) <= 0.0);
	assert_false(bioz_twitch_rate_rising(&ac, 1.9, 0.6333, 900.0, &prior));
	/* the ratio is configurable: 6 vs 1.5 is 4x, not 5x */
	ac.twitch_rise_ratio = 5.0;
	assert_false(bioz_twitch_rate_rising(&ac, 6.0, 3.0, 900.0, &prior));
	ac.twitch_rise_ratio = 4.0;
	assert_true(bioz_twitch_rate_rising(&ac, 6.0, 3.0, 900.0, &prior));
	/* bad input is never a trend */
	assert_false(bioz_twitch_rate_rising(&ac, NAN, 3.0, 900.0, &prior));
	assert_true(isnan(prior));
	assert_false(bioz_twitch_rate_rising(&ac, 6.0, -1.0, 900.0, &prior));
	assert_false(bioz_twitch_rate_rising(&ac, 6.0, 3.0, NAN, &prior));
}

/* ------------------------------------------------------------ JSON */

static void test_json(void **state)
{
	struct bioz_fit_ws *ws = *state;
	struct bioz_subject m = { 175.0, 75.0, 40.0, BIOZ_SEX_MALE };
	struct bioz_config c;
	struct bioz_estimate e;
	double f[NF], r[NF], x[NF];
	char buf[4096], small[64], num[32];
	int n;

	freqs_log(f);
	bioz_config_default(&c);
	spectrum(f, NF, 600, 375, 50e3, 0.7, 0, r, x);

	assert_int_equal(bioz_estimate_sweep(ws, &c, NULL, 3, f, r, x, NF, &e), 0);
	n = bioz_json_format(&e, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n == strlen(buf));
	assert_true(strncmp(buf, "{\"type\":\"bioz\",\"sweep\":3,", 25) == 0);
	assert_non_null(strstr(buf, "\"r0_ohm\":600,"));
	assert_non_null(strstr(buf, "\"rinf_ohm\":375,"));
	assert_non_null(strstr(buf, "\"alpha\":0.7,"));
	assert_non_null(strstr(buf, "\"fc_hz\":50000,"));
	assert_non_null(strstr(buf, "\"tau_s\":3.1831e-06,"));
	assert_non_null(strstr(buf, "\"r50_ohm\":487.5,"));
	assert_non_null(strstr(buf, "\"ecw_l\":null,"));
	assert_non_null(strstr(buf, "\"tbw_sf_l\":null,"));
	assert_non_null(strstr(buf, "\"class\":null"));
	assert_non_null(strstr(buf, "\"trusted\":true"));
	assert_non_null(strstr(buf, "\"flags\":[\"no_subject\",\"r50_from_model\","
				    "\"re_index_absent\"]"));
	assert_non_null(strstr(buf, "\"ecw\":null"));
	assert_null(strstr(buf, ":nan"));		/* never a non-finite value */
	assert_null(strstr(buf, ":-nan"));
	assert_null(strstr(buf, ":inf"));
	assert_null(strstr(buf, ":-inf"));
	assert_int_equal(buf[n - 1], '}');

	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 4, f, r, x, NF, &e), 0);
	e.alerts = BIOZ_ALERT_PHA_DROP | BIOZ_ALERT_CO_OCCURRENCE;
	n = bioz_json_format(&e, buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\"ecw_l\":17.8042,"));
	assert_non_null(strstr(buf, "\"class\":\"in95\""));
	assert_non_null(strstr(buf, "\"alerts\":[\"phase_angle_drop\","
				    "\"twitch_rate_rising_with_hydration_shift\"]"));
	assert_non_null(strstr(buf, "\"ecw\":\"ECW Hanai, De Lorenzo 1997"));
	assert_non_null(strstr(buf, "\"tbw_sf\":\"TBW Sun 2003"));

	/* 3 points: untrusted */
	assert_int_equal(bioz_estimate_sweep(ws, &c, &m, 5, f, r, x, 3, &e), 0);
	assert_true(bioz_json_format(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"trusted\":false"));
	assert_non_null(strstr(buf, "\"too_few_points\""));

	assert_int_equal(bioz_json_format(&e, small, sizeof(small)), -ENOSPC);

	/* the locale's decimal point is rewritten (tested directly: no de_DE here) */
	strcpy(num, "487,5");
	json_fix_decimal(num, ",");
	assert_string_equal(num, "487.5");
	strcpy(num, "1e-06");
	json_fix_decimal(num, ",");
	assert_string_equal(num, "1e-06");
	strcpy(num, "3\xd9\xab" "25");			/* U+066B, a 2-byte decimal point */
	json_fix_decimal(num, "\xd9\xab");
	assert_string_equal(num, "3.25");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cole_vectors),
		cmocka_unit_test(test_circle_fit_vectors),
		cmocka_unit_test(test_sf_vectors),
		cmocka_unit_test(test_hanai_vectors),
		cmocka_unit_test(test_sensitivity_vectors),
		cmocka_unit_test(test_biva),
		cmocka_unit_test_setup_teardown(test_fit_exact_grid, setup_ws, teardown_ws),
		cmocka_unit_test_setup_teardown(test_fit_noise_grid, setup_ws, teardown_ws),
		cmocka_unit_test_setup_teardown(test_fit_hook_dropped, setup_ws, teardown_ws),
		cmocka_unit_test_setup_teardown(test_fit_outliers_dropped, setup_ws, teardown_ws),
		cmocka_unit_test_setup_teardown(test_fit_untrusted, setup_ws, teardown_ws),
		cmocka_unit_test_setup_teardown(test_fit_unresolvable_converges, setup_ws,
						teardown_ws),
		cmocka_unit_test_setup_teardown(test_fit_bad_args, setup_ws, teardown_ws),
		cmocka_unit_test_setup_teardown(test_calibration_round_trip, setup_ws,
						teardown_ws),
		cmocka_unit_test(test_calibration_railed),
		cmocka_unit_test_setup_teardown(test_live_analog_settings, setup_live,
						teardown_live),
		cmocka_unit_test_setup_teardown(test_live_railed, setup_live, teardown_live),
		cmocka_unit_test_setup_teardown(test_estimate_with_subject, setup_ws, teardown_ws),
		cmocka_unit_test_setup_teardown(test_estimate_without_subject, setup_ws,
						teardown_ws),
		cmocka_unit_test(test_ri_baseline_and_alert),
		cmocka_unit_test(test_ri_temperature),
		cmocka_unit_test(test_ri_trends),
		cmocka_unit_test(test_alerts),
		cmocka_unit_test(test_alerts_persist),
		cmocka_unit_test(test_twitch_trend),
		cmocka_unit_test_setup_teardown(test_json, setup_ws, teardown_ws),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

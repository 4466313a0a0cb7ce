// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bioz.c - bioimpedance sweeps to hydration estimates, as pure math.
 *
 * Calibrated sweep -> Cole fit (weighted Levenberg-Marquardt on Re/Im, Kasa
 * circle-fit seed, outlier and high-frequency-hook dropping) -> R/Xc at
 * 50 kHz, phase angle, BIVA, ECW/ICW (Hanai), SF-BIA TBW -> an extracellular
 * resistance index against the patient's own baseline -> alert decisions.
 * Nothing here logs, blocks or allocates after bioz_fit_ws_new(). Every
 * equation and constant cites ../shared/reference/bioimpedance.md (section
 * numbers below) with its provenance tag: [V] verified, [R] recalled and
 * NOT verified against the original paper (see that document's section 10).
 */
#include <assert.h>
#include <complex.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bioz.h"
#include "records.h"
#include "twitch.h"

/* ---------------------------------------------------------------- constants */

/* Hanai / De Lorenzo 1997 (J Appl Physiol 82:1542-1558), section 3.3, all [R]. */
#define BIOZ_KB 4.3			/* body shape factor */
#define BIOZ_DB_KG_L 1.05		/* body density */
#define BIOZ_RHO_ECW_M 40.5		/* ohm cm */
#define BIOZ_RHO_ECW_F 39.0
#define BIOZ_RHO_ICW_M 273.9		/* section 3.4, fitted to the Matthie form */
#define BIOZ_RHO_ICW_F 264.9

/* ESPEN 2004 part II [R]: avoid BIA equations outside BMI 16..34 kg/m^2. */
#define BIOZ_BMI_MIN 16.0
#define BIOZ_BMI_MAX 34.0

/* Plausibility bounds for subject data reaching the equations. */
#define BIOZ_HEIGHT_MIN_CM 30.0
#define BIOZ_HEIGHT_MAX_CM 250.0
#define BIOZ_WEIGHT_MIN_KG 1.0
#define BIOZ_WEIGHT_MAX_KG 400.0

#define BIOZ_F50_HZ 50000.0
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* LM parameters: R0, Rinf, ln(fc), alpha, Td in ns (ns keeps Td near 1). */
#define NP_MAX 5
#define P_R0 0
#define P_RINF 1
#define P_LNFC 2
#define P_ALPHA 3
#define P_TD 4
/* Search box: alpha beyond 1 stays reachable so that it can be flagged. */
#define LM_ALPHA_MIN 0.05
#define LM_ALPHA_MAX 1.3
#define LM_FC_SPAN 10.0		/* fc within [fmin/10, fmax*10] */
#define LM_TD_MAX_NS 1000.0
/*
 * LM stops when a step lowers chi^2 = cost/s^2 by less than this. A
 * Gauss-Newton step that gains 1e-4 in chi^2 moves the parameters by about
 * 0.01 of their standard error, and the next would gain far less; on a flat
 * valley of an unidentifiable fit (fc far outside the band, alpha -> 0)
 * steps of this size only crawl along the valley, within the fit's own
 * uncertainty, for hundreds of iterations. (TMinuit's MIGRAD stops by
 * default at an estimated distance to the minimum of 0.001 * 0.1 * UP, i.e.
 * 1e-4 in chi^2; Minuit2 at 2e-4.)
 */
#define LM_DCHI2_TOL 1e-4
/* alpha is "in (0, 1]" within rounding of an exact alpha = 1 spectrum. */
#define ALPHA_ONE_TOL 1e-6
/* Median of a Rayleigh variable is sigma * sqrt(2 ln 2). */
#define RAYLEIGH_MEDIAN 1.1774100225154747

struct bioz_fit_ws {
	size_t max_points;
	uint8_t *used;			/* [max_points] */
	double *w;			/* [max_points] 1/|Z| */
	double *lnf;			/* [max_points] ln f */
	double *rw;			/* [max_points] sqrt of the IRLS weight, else 1 */
	double *dev;			/* [max_points] |Zfit - Z|/|Z| */
	double *scratch;		/* [max_points] */
	double *res;			/* [2 max_points] */
	double *res_try;		/* [2 max_points] */
	double *jac;			/* [2 max_points][NP_MAX] */
	double *jac_try;		/* [2 max_points][NP_MAX], swapped with jac */
};

/* ---------------------------------------------------------------- calibration */

static double wrap_pi(double a)
{
	a = remainder(a, 2.0 * M_PI);
	return a <= -M_PI ? a + 2.0 * M_PI : a;
}

bool bioz_raw_railed(double raw_re, double raw_im)
{
	return raw_re >= BIOZ_RAW_MAX || raw_re <= BIOZ_RAW_MIN || raw_im >= BIOZ_RAW_MAX ||
	       raw_im <= BIOZ_RAW_MIN;
}

/* @known_r_ohm NULL: a resistor @rcal_ohm at every frequency. */
static int cal_compute(const double *freq_hz, const double *raw_re, const double *raw_im,
		       const double *known_r_ohm, double rcal_ohm, const double *known_x_ohm,
		       size_t n, struct bioz_cal_point *ret_cal)
{
	size_t i;

	if (!freq_hz || !raw_re || !raw_im || !ret_cal || n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		double m = hypot(raw_re[i], raw_im[i]);
		double zr = known_r_ohm ? known_r_ohm[i] : rcal_ohm;
		double zk = hypot(zr, known_x_ohm ? known_x_ohm[i] : 0.0);

		if (!isfinite(freq_hz[i]) || freq_hz[i] <= 0.0)
			return -EINVAL;
		if (i > 0 && !(freq_hz[i] > freq_hz[i - 1]))
			return -EINVAL;
		if (!isfinite(m) || m <= 0.0 || !isfinite(zk) || zk <= 0.0)
			return -EINVAL;
		if (bioz_raw_railed(raw_re[i], raw_im[i]))
			return -EOVERFLOW;
	}
	for (i = 0; i < n; i++) {
		double zr = known_r_ohm ? known_r_ohm[i] : rcal_ohm;
		double zx = known_x_ohm ? known_x_ohm[i] : 0.0;

		ret_cal[i].freq_hz = freq_hz[i];
		/* GF = (1/|Zcal|)/M_cal; system phase = atan2(Im, Re)_cal - arg Zcal */
		ret_cal[i].gain = (1.0 / hypot(zr, zx)) / hypot(raw_re[i], raw_im[i]);
		ret_cal[i].sys_phase_rad = wrap_pi(atan2(raw_im[i], raw_re[i]) - atan2(zx, zr));
	}
	return 0;
}

int bioz_cal_compute(const double *freq_hz, const double *raw_re, const double *raw_im,
		     const double *known_r_ohm, const double *known_x_ohm, size_t n,
		     struct bioz_cal_point *ret_cal)
{
	if (!known_r_ohm)
		return -EINVAL;
	return cal_compute(freq_hz, raw_re, raw_im, known_r_ohm, NAN, known_x_ohm, n, ret_cal);
}

int bioz_cal_from_resistor(const double *freq_hz, const double *raw_re, const double *raw_im,
			   size_t n, double rcal_ohm, struct bioz_cal_point *ret_cal)
{
	if (!isfinite(rcal_ohm) || rcal_ohm <= 0.0)
		return -EINVAL;
	return cal_compute(freq_hz, raw_re, raw_im, NULL, rcal_ohm, NULL, n, ret_cal);
}

/*
 * Gain and system phase at @f; -ERANGE outside the calibrated band. The
 * band's ends stretch by 0.1%: the AD5933 driver reads its start frequency
 * back from the register, up to 1 Hz low, so the same configured sweep may
 * start 1 Hz apart in a calibration and in a later sweep (0.02% at 5 kHz).
 * The factors drift slowly with frequency; an end point's serve there.
 */
static int cal_at(const struct bioz_cal_point *cal, size_t n_cal, double f, double *ret_gain,
		  double *ret_phase)
{
	const double tol = 1e-3;
	size_t lo = 0, hi = n_cal - 1;
	double t;

	if (f < cal[0].freq_hz * (1.0 - tol) || f > cal[n_cal - 1].freq_hz * (1.0 + tol))
		return -ERANGE;
	if (n_cal == 1 || f <= cal[0].freq_hz) {
		*ret_gain = cal[0].gain;
		*ret_phase = cal[0].sys_phase_rad;
		return 0;
	}
	if (f >= cal[hi].freq_hz) {
		*ret_gain = cal[hi].gain;
		*ret_phase = cal[hi].sys_phase_rad;
		return 0;
	}
	while (hi - lo > 1) {			/* cal[lo].f <= f < cal[hi].f */
		size_t mid = lo + (hi - lo) / 2;

		if (cal[mid].freq_hz <= f)
			lo = mid;
		else
			hi = mid;
	}
	t = (f - cal[lo].freq_hz) / (cal[hi].freq_hz - cal[lo].freq_hz);
	*ret_gain = cal[lo].gain + t * (cal[hi].gain - cal[lo].gain);
	*ret_phase = cal[lo].sys_phase_rad +
		     t * wrap_pi(cal[hi].sys_phase_rad - cal[lo].sys_phase_rad);
	return 0;
}

int bioz_cal_apply(const struct bioz_cal_point *cal, size_t n_cal, const double *freq_hz,
		   const double *raw_re, const double *raw_im, size_t n,
		   double *ret_r_ohm, double *ret_x_ohm)
{
	double g, ph;
	size_t i, n_railed = 0;
	int err;

	if (!cal || n_cal == 0 || !freq_hz || !raw_re || !raw_im || !ret_r_ohm || !ret_x_ohm ||
	    n > INT_MAX)
		return -EINVAL;
	for (i = 0; i < n_cal; i++) {
		if (!isfinite(cal[i].freq_hz) || cal[i].freq_hz <= 0.0 ||
		    !isfinite(cal[i].gain) || cal[i].gain <= 0.0 ||
		    !isfinite(cal[i].sys_phase_rad))
			return -EINVAL;
		if (i > 0 && !(cal[i].freq_hz > cal[i - 1].freq_hz))
			return -EINVAL;
	}
	/* Validate everything first: outputs are written only on success. */
	for (i = 0; i < n; i++) {
		double m = hypot(raw_re[i], raw_im[i]);

		if (!isfinite(freq_hz[i]) || !isfinite(m) || m <= 0.0)
			return -EINVAL;
		err = cal_at(cal, n_cal, freq_hz[i], &g, &ph);
		if (err < 0)
			return err;
	}
	for (i = 0; i < n; i++) {
		double mag, th;

		if (bioz_raw_railed(raw_re[i], raw_im[i])) {
			ret_r_ohm[i] = ret_x_ohm[i] = NAN;
			n_railed++;
			continue;
		}
		(void)cal_at(cal, n_cal, freq_hz[i], &g, &ph);
		mag = 1.0 / (g * hypot(raw_re[i], raw_im[i]));
		th = wrap_pi(atan2(raw_im[i], raw_re[i]) - ph);
		ret_r_ohm[i] = mag * cos(th);
		ret_x_ohm[i] = mag * sin(th);
	}
	return (int)n_railed;
}

/* ---------------------------------------------------------------- Cole model */

/* What cole_at() needs of p = (R0, Rinf, ln fc, alpha[, Td_ns]), once per p. */
struct cole_pre {
	double rinf, dr, lnfc, alpha, ca, sa, td_ns;
	int np;
};

static void cole_prep(const double *p, int np, struct cole_pre *c)
{
	c->rinf = p[P_RINF];
	c->dr = p[P_R0] - p[P_RINF];
	c->lnfc = p[P_LNFC];
	c->alpha = p[P_ALPHA];
	c->ca = cos(p[P_ALPHA] * M_PI_2);
	c->sa = sin(p[P_ALPHA] * M_PI_2);
	c->td_ns = np > P_TD ? p[P_TD] : 0.0;
	c->np = np;
}

/*
 * Z and its derivatives at f (ln f given).
 * u = (j f/fc)^alpha = exp(alpha (ln f - ln fc)) (cos(alpha pi/2) + j sin(alpha pi/2)):
 * the angle is the same at every frequency, so a point costs one real exp()
 * (no complex exp or division). D = 1 + u, q = ln(f/fc) + j pi/2:
 * dZ/dR0 = 1/D, dZ/dRinf = 1 - 1/D, dZ/dln fc = dR alpha u / D^2,
 * dZ/dalpha = -dR u q / D^2; the delay multiplies all by
 * E = exp(-j w Td) and adds dZ/dTd = -j w Z.
 */
static double complex cole_at(const struct cole_pre *c, double f, double lnf, double complex *dz)
{
	double lr = lnf - c->lnfc;
	double mu = exp(c->alpha * lr);
	double dre = 1.0 + mu * c->ca, dim = mu * c->sa;
	double id2 = 1.0 / (dre * dre + dim * dim);
	double complex inv = CMPLX(dre * id2, -dim * id2);
	double complex z = c->rinf + c->dr * inv;
	double complex e = 1.0;

	if (c->np > P_TD) {
		double wt = 2.0 * M_PI * f * c->td_ns * 1e-9;

		e = CMPLX(cos(wt), -sin(wt));
		z *= e;
	}
	if (dz) {
		double complex t = c->dr * CMPLX(mu * c->ca, mu * c->sa) * (inv * inv) * e;

		dz[P_R0] = inv * e;
		dz[P_RINF] = (1.0 - inv) * e;
		dz[P_LNFC] = c->alpha * t;
		dz[P_ALPHA] = -t * CMPLX(lr, M_PI_2);
		if (c->np > P_TD)
			dz[P_TD] = -I * 2.0 * M_PI * f * 1e-9 * z;
	}
	return z;
}

void bioz_cole_z(double freq_hz, double r0_ohm, double rinf_ohm, double fc_hz, double alpha,
		 double td_s, double *ret_r_ohm, double *ret_x_ohm)
{
	double p[NP_MAX] = { r0_ohm, rinf_ohm, log(fc_hz), alpha, td_s * 1e9 };
	struct cole_pre c;
	double complex z;

	cole_prep(p, td_s != 0.0 ? NP_MAX : NP_MAX - 1, &c);
	z = cole_at(&c, freq_hz, log(freq_hz), NULL);

	*ret_r_ohm = creal(z);
	*ret_x_ohm = cimag(z);
}

int bioz_cole_circuit(double r0_ohm, double rinf_ohm, double fc_hz, double *ret_re_ohm,
		      double *ret_ri_ohm, double *ret_cm_f)
{
	double ri, tau;

	if (!(rinf_ohm > 0.0 && r0_ohm > rinf_ohm && fc_hz > 0.0) || !isfinite(r0_ohm) ||
	    !isfinite(fc_hz))
		return -EDOM;
	ri = r0_ohm * rinf_ohm / (r0_ohm - rinf_ohm);
	tau = 1.0 / (2.0 * M_PI * fc_hz);
	*ret_re_ohm = r0_ohm;
	*ret_ri_ohm = ri;
	*ret_cm_f = tau / (r0_ohm + ri);
	return 0;
}

/* ---------------------------------------------------------------- small linear algebra */

/* Solve the 3x3 system a x = b by Gaussian elimination with partial pivoting. */
static int solve3(double a[3][3], double b[3], double x[3])
{
	double scale = 0.0;
	int c, r, k;

	for (r = 0; r < 3; r++)
		for (c = 0; c < 3; c++)
			scale = fmax(scale, fabs(a[r][c]));
	if (!(scale > 0.0) || !isfinite(scale))
		return -EDOM;
	for (c = 0; c < 3; c++) {
		int piv = c;

		for (r = c + 1; r < 3; r++)
			if (fabs(a[r][c]) > fabs(a[piv][c]))
				piv = r;
		if (fabs(a[piv][c]) <= 1e-12 * scale)
			return -EDOM;
		if (piv != c) {
			for (k = 0; k < 3; k++) {
				double t = a[c][k];

				a[c][k] = a[piv][k];
				a[piv][k] = t;
			}
			double t = b[c];

			b[c] = b[piv];
			b[piv] = t;
		}
		for (r = c + 1; r < 3; r++) {
			double m = a[r][c] / a[c][c];

			for (k = c; k < 3; k++)
				a[r][k] -= m * a[c][k];
			b[r] -= m * b[c];
		}
	}
	for (r = 2; r >= 0; r--) {
		double s = b[r];

		for (k = r + 1; k < 3; k++)
			s -= a[r][k] * x[k];
		x[r] = s / a[r][r];
	}
	return 0;
}

/* In-place Cholesky of the n x n matrix a (row-major, stride NP_MAX). */
static int chol(double *a, int n)
{
	int i, j, k;

	for (j = 0; j < n; j++) {
		double d = a[j * NP_MAX + j];

		for (k = 0; k < j; k++)
			d -= a[j * NP_MAX + k] * a[j * NP_MAX + k];
		if (!(d > 0.0) || !isfinite(d))
			return -EDOM;
		d = sqrt(d);
		a[j * NP_MAX + j] = d;
		for (i = j + 1; i < n; i++) {
			double s = a[i * NP_MAX + j];

			for (k = 0; k < j; k++)
				s -= a[i * NP_MAX + k] * a[j * NP_MAX + k];
			a[i * NP_MAX + j] = s / d;
		}
	}
	return 0;
}

/* Solve L L' x = b with the factor from chol(). */
static void chol_solve(const double *l, int n, const double *b, double *x)
{
	int i, k;

	for (i = 0; i < n; i++) {
		double s = b[i];

		for (k = 0; k < i; k++)
			s -= l[i * NP_MAX + k] * x[k];
		x[i] = s / l[i * NP_MAX + i];
	}
	for (i = n - 1; i >= 0; i--) {
		double s = x[i];

		for (k = i + 1; k < n; k++)
			s -= l[k * NP_MAX + i] * x[k];
		x[i] = s / l[i * NP_MAX + i];
	}
}

/* Quickselect (Lomuto): the k-th smallest of a[0..n), reordering a. */
static double select_kth(double *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, i, store = lo;
		double pivot = a[mid], t;

		a[mid] = a[hi];
		a[hi] = pivot;
		for (i = lo; i < hi; i++) {
			if (a[i] < pivot) {
				t = a[i];
				a[i] = a[store];
				a[store++] = t;
			}
		}
		a[hi] = a[store];
		a[store] = pivot;
		if (k == store)
			break;
		if (k < store)
			hi = store - 1;
		else
			lo = store + 1;
	}
	return a[k];
}

/* ---------------------------------------------------------------- circle fit */

static int circle_fit_masked(const double *r, const double *x, const uint8_t *used, size_t n,
			     double *ret_r0, double *ret_rinf, double *ret_alpha)
{
	double a[3][3] = { { 0 } }, b[3] = { 0 }, sol[3];
	double mx = 0.0, my = 0.0, xc, yc, rad2, half2, rad;
	size_t i, m = 0;
	int err;

	for (i = 0; i < n; i++) {
		if (used && !used[i])
			continue;
		mx += r[i];
		my += -x[i];
		m++;
	}
	if (m < 3)
		return -EINVAL;
	mx /= (double)m;
	my /= (double)m;
	/* x^2 + y^2 + D x + E y + F = 0 on centred data, by linear least squares */
	for (i = 0; i < n; i++) {
		double u, v, s;

		if (used && !used[i])
			continue;
		u = r[i] - mx;
		v = -x[i] - my;
		s = u * u + v * v;
		a[0][0] += u * u;
		a[0][1] += u * v;
		a[0][2] += u;
		a[1][1] += v * v;
		a[1][2] += v;
		b[0] -= u * s;
		b[1] -= v * s;
		b[2] -= s;
	}
	a[1][0] = a[0][1];
	a[2][0] = a[0][2];
	a[2][1] = a[1][2];
	a[2][2] = (double)m;
	err = solve3(a, b, sol);
	if (err < 0)
		return err;
	xc = -sol[0] / 2.0;
	yc = -sol[1] / 2.0;
	rad2 = xc * xc + yc * yc - sol[2];
	xc += mx;
	yc += my;
	half2 = rad2 - yc * yc;
	if (!(rad2 > 0.0) || !(half2 > 0.0) || !isfinite(rad2))
		return -EDOM;
	rad = sqrt(rad2);
	*ret_r0 = xc + sqrt(half2);
	*ret_rinf = xc - sqrt(half2);
	/* depression angle theta = asin(-yc/r); alpha = 1 - 2 theta/pi (section 3.2) */
	*ret_alpha = 1.0 - 2.0 * asin(-yc / rad) / M_PI;
	return 0;
}

int bioz_circle_fit(const double *r_ohm, const double *x_ohm, size_t n, double *ret_r0_ohm,
		    double *ret_rinf_ohm, double *ret_alpha)
{
	if (!r_ohm || !x_ohm || !ret_r0_ohm || !ret_rinf_ohm || !ret_alpha || n < 3)
		return -EINVAL;
	return circle_fit_masked(r_ohm, x_ohm, NULL, n, ret_r0_ohm, ret_rinf_ohm, ret_alpha);
}

/* ---------------------------------------------------------------- Levenberg-Marquardt */

struct lm_problem {
	const double *f, *lnf, *r, *x;
	size_t n;
	int np;
	double lo[NP_MAX], hi[NP_MAX];	/* search box; +-inf for R0, Rinf */
};

/* Weighted residuals (and Jacobian) over the used points; returns sum of squares. */
static double lm_eval(const struct bioz_fit_ws *ws, const struct lm_problem *pb, const double *p,
		      double *res, double *jac)
{
	double complex dz[NP_MAX];
	struct cole_pre c;
	double cost = 0.0;
	size_t i, k = 0;
	int j;

	cole_prep(p, pb->np, &c);
	for (i = 0; i < pb->n; i++) {
		double complex z;
		double w = ws->w[i] * ws->rw[i];

		if (!ws->used[i])
			continue;
		z = cole_at(&c, pb->f[i], pb->lnf[i], jac ? dz : NULL);
		res[k] = w * (creal(z) - pb->r[i]);
		res[k + 1] = w * (cimag(z) - pb->x[i]);
		if (jac) {
			for (j = 0; j < pb->np; j++) {
				jac[k * NP_MAX + j] = w * creal(dz[j]);
				jac[(k + 1) * NP_MAX + j] = w * cimag(dz[j]);
			}
		}
		cost += res[k] * res[k] + res[k + 1] * res[k + 1];
		k += 2;
	}
	return isfinite(cost) ? cost : INFINITY;
}

static void lm_clamp(const struct lm_problem *pb, double *p)
{
	int j;

	for (j = 0; j < pb->np; j++)
		p[j] = fmin(fmax(p[j], pb->lo[j]), pb->hi[j]);
}

/*
 * A parameter on a face of the box whose gradient points out of the box is
 * held there for this iteration (its row and column of the damped normal
 * matrix become the identity, its step 0). Clipping the full step instead
 * leaves the other parameters a step computed for a move the box refuses:
 * on a flat valley that runs into a face (fc below the band at alpha 0.3)
 * the fit then crawls at a tiny decrease per iteration up to max_iter.
 */
static void lm_hold(const struct lm_problem *pb, const double *p, const double *g,
		    bool *held)
{
	int j;

	for (j = 0; j < pb->np; j++)
		held[j] = (p[j] <= pb->lo[j] && g[j] > 0.0) || (p[j] >= pb->hi[j] && g[j] < 0.0);
}

static void swap_ptr(double **a, double **b)
{
	double *t = *a;

	*a = *b;
	*b = t;
}

/* J'J and J'r over m rows. */
static void lm_normal(const double *jac, const double *res, size_t m, int np, double *a,
		      double *g)
{
	size_t k;
	int i, j;

	for (i = 0; i < np; i++) {
		g[i] = 0.0;
		for (j = 0; j < np; j++)
			a[i * NP_MAX + j] = 0.0;
	}
	for (k = 0; k < m; k++) {
		const double *row = jac + k * NP_MAX;

		for (i = 0; i < np; i++) {
			g[i] += row[i] * res[k];
			for (j = 0; j <= i; j++)
				a[i * NP_MAX + j] += row[i] * row[j];
		}
	}
	for (i = 0; i < np; i++)
		for (j = i + 1; j < np; j++)
			a[i * NP_MAX + j] = a[j * NP_MAX + i];
}

/*
 * Minimise from p (updated in place). Returns true when converged: a
 * negligible step or decrease, an exact fit, or no step that lowers the
 * cost even at the largest damping (a minimum to rounding precision).
 * "Negligible decrease" is on the scale of the noise: below LM_DCHI2_TOL
 * times the residual variance s^2 = cost/(m - np).
 */
static bool lm_run(struct bioz_fit_ws *ws, const struct lm_problem *pb, double *p,
		   uint32_t max_iter, double *ret_cost, uint32_t *ret_iter)
{
	double a[NP_MAX * NP_MAX], l[NP_MAX * NP_MAX], g[NP_MAX], d[NP_MAX], pt[NP_MAX];
	double lambda = 1e-3, cost, ct = 0.0;
	size_t m = 0, dof, i;
	uint32_t it;
	bool converged = false, held[NP_MAX];
	int j, k;

	for (i = 0; i < pb->n; i++)
		m += ws->used[i] ? 2 : 0;
	dof = m > (size_t)pb->np ? m - (size_t)pb->np : 1;
	lm_clamp(pb, p);
	cost = lm_eval(ws, pb, p, ws->res, ws->jac);
	for (it = 0; it < max_iter && isfinite(cost) && !converged; it++) {
		bool accepted = false;

		if (cost <= 1e-28 * (double)m) {
			converged = true;
			break;
		}
		lm_normal(ws->jac, ws->res, m, pb->np, a, g);
		lm_hold(pb, p, g, held);
		while (!accepted) {
			double dmax = 0.0;

			for (j = 0; j < pb->np; j++)
				dmax = fmax(dmax, a[j * NP_MAX + j]);
			memcpy(l, a, sizeof(l));
			for (j = 0; j < pb->np; j++)
				l[j * NP_MAX + j] += lambda * fmax(a[j * NP_MAX + j], 1e-12 * dmax);
			for (j = 0; j < pb->np; j++) {
				if (!held[j])
					continue;
				for (k = 0; k < pb->np; k++)
					l[j * NP_MAX + k] = l[k * NP_MAX + j] = 0.0;
				l[j * NP_MAX + j] = 1.0;
			}
			if (chol(l, pb->np) == 0) {
				for (j = 0; j < pb->np; j++)
					g[j] = -g[j];
				chol_solve(l, pb->np, g, d);
				for (j = 0; j < pb->np; j++) {
					g[j] = -g[j];
					pt[j] = held[j] ? p[j] : p[j] + d[j];
				}
				lm_clamp(pb, pt);
				/* with J: accepted steps outnumber refused ones */
				ct = lm_eval(ws, pb, pt, ws->res_try, ws->jac_try);
				if (ct < cost)
					accepted = true;
			}
			if (!accepted) {
				lambda *= 10.0;
				if (lambda > 1e16) {
					converged = true;
					break;
				}
			}
		}
		if (!accepted)
			break;
		converged = true;
		for (k = 0; k < pb->np; k++)
			if (fabs(pt[k] - p[k]) > 1e-10 * (fabs(p[k]) + 1e-3))
				converged = false;
		if (cost - ct <= LM_DCHI2_TOL * ct / (double)dof)
			converged = true;
		memcpy(p, pt, sizeof(pt));
		cost = ct;
		swap_ptr(&ws->res, &ws->res_try);
		swap_ptr(&ws->jac, &ws->jac_try);
		lambda = fmax(lambda / 10.0, 1e-15);
	}
	*ret_cost = cost;
	*ret_iter = it;
	return converged && isfinite(cost);
}

/* ---------------------------------------------------------------- fit driver */

void bioz_fit_opts_default(struct bioz_fit_opts *o)
{
	*o = (struct bioz_fit_opts){
		.use_td = 0,
		.max_iter = 200,
		.min_points = 8,
		.outlier_k = 5.0,
		.outlier_floor_rel = 0.001,
		.max_drop_frac = 0.25,
		.max_rms_rel = 0.03,
		.max_se_rel_r = 0.03,
		.max_se_alpha = 0.05,
		.max_se_ln_fc = 0.25,
	};
}

int bioz_fit_ws_new(size_t max_points, struct bioz_fit_ws **ret)
{
	struct bioz_fit_ws *ws;
	size_t n = max_points;

	if (!ret || n == 0 || n > BIOZ_MAX_POINTS_LIMIT)
		return -EINVAL;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->max_points = n;
	ws->used = calloc(n, 1);
	/* one block for the doubles; n <= 4096 so the sizes cannot overflow */
	ws->w = calloc(n * (5 + 4 + 4 * NP_MAX), sizeof(double));
	if (!ws->used || !ws->w) {
		free(ws->used);
		free(ws->w);
		free(ws);
		return -ENOMEM;
	}
	ws->lnf = ws->w + n;
	ws->rw = ws->lnf + n;
	ws->dev = ws->rw + n;
	ws->scratch = ws->dev + n;
	ws->res = ws->scratch + n;
	ws->res_try = ws->res + 2 * n;
	ws->jac = ws->res_try + 2 * n;
	ws->jac_try = ws->jac + 2 * n * NP_MAX;
	*ret = ws;
	return 0;
}

struct bioz_fit_ws *bioz_fit_ws_free(struct bioz_fit_ws *ws)
{
	if (ws) {
		free(ws->used);
		free(ws->w);
		free(ws);
	}
	return NULL;
}

/* First/last used index and count. */
static size_t used_span(const struct bioz_fit_ws *ws, size_t n, size_t *ret_first,
			size_t *ret_last)
{
	size_t i, m = 0, first = 0, last = 0;

	for (i = 0; i < n; i++) {
		if (!ws->used[i])
			continue;
		if (m == 0)
			first = i;
		last = i;
		m++;
	}
	*ret_first = first;
	*ret_last = last;
	return m;
}

/*
 * Seed from the circle fit: R0, Rinf and alpha from the circle; fc from the
 * line ln|u| = alpha (ln f - ln fc), u = (R0 - Z)/(Z - Rinf), fitted over
 * the points well inside the arc.
 */
static int seed_circle(const struct bioz_fit_ws *ws, const struct lm_problem *pb, double *p)
{
	double r0, rinf, alpha, sx = 0, sy = 0, sxx = 0, sxy = 0, cnt = 0, dr, slope;
	size_t i;
	int err;

	err = circle_fit_masked(pb->r, pb->x, ws->used, pb->n, &r0, &rinf, &alpha);
	if (err < 0)
		return err;
	dr = r0 - rinf;
	if (!(dr > 0.0) || !(rinf > 0.0))
		return -EDOM;
	for (i = 0; i < pb->n; i++) {
		double complex z = pb->r[i] + I * pb->x[i], u;
		double lu, lf;

		if (!ws->used[i] || cabs(z - rinf) < 1e-3 * dr || cabs(r0 - z) < 1e-3 * dr)
			continue;
		u = (r0 - z) / (z - rinf);
		lu = log(cabs(u));
		lf = log(pb->f[i]);
		if (!isfinite(lu))
			continue;
		sx += lf;
		sy += lu;
		sxx += lf * lf;
		sxy += lf * lu;
		cnt += 1.0;
	}
	if (cnt < 2.0 || !(cnt * sxx - sx * sx > 0.0))
		return -EDOM;
	slope = (cnt * sxy - sx * sy) / (cnt * sxx - sx * sx);
	if (!(slope > 0.05))
		return -EDOM;
	p[P_R0] = r0;
	p[P_RINF] = rinf;
	/* intercept = -slope ln fc */
	p[P_LNFC] = -((sy - slope * sx) / cnt) / slope;
	p[P_ALPHA] = fmin(fmax(alpha, 0.3), 1.0);
	if (pb->np > P_TD)
		p[P_TD] = 0.0;
	return 0;
}

/* Generic seed, as in bioz_vectors.py: 1.05 R(fmin), 0.95 R(fmax), mid-band fc. */
static void seed_generic(const struct bioz_fit_ws *ws, const struct lm_problem *pb, double *p)
{
	size_t first, last;

	(void)used_span(ws, pb->n, &first, &last);
	p[P_R0] = 1.05 * pb->r[first];
	p[P_RINF] = 0.95 * pb->r[last];
	p[P_LNFC] = 0.5 * (log(pb->f[first]) + log(pb->f[last]));
	p[P_ALPHA] = 0.8;
	if (pb->np > P_TD)
		p[P_TD] = 0.0;
}

/* Fit from every seed (and @p itself when @have_p); keep the lowest cost. */
static bool fit_best(struct bioz_fit_ws *ws, const struct lm_problem *pb, uint32_t max_iter,
		     double *p, bool have_p, double *ret_cost, uint32_t *ret_iter)
{
	double seeds[3][NP_MAX], best_cost = INFINITY;
	int n_seeds = 0, s;
	uint32_t iters = 0;
	bool best_conv = false, any = false;

	if (have_p)
		memcpy(seeds[n_seeds++], p, sizeof(seeds[0]));
	if (seed_circle(ws, pb, seeds[n_seeds]) == 0)
		n_seeds++;
	seed_generic(ws, pb, seeds[n_seeds++]);
	for (s = 0; s < n_seeds; s++) {
		double cost;
		uint32_t it;
		bool conv = lm_run(ws, pb, seeds[s], max_iter, &cost, &it);

		iters += it;
		/* a converged fit wins over a lower but unconverged one */
		if (!any || (conv && !best_conv) ||
		    (conv == best_conv && cost < best_cost)) {
			memcpy(p, seeds[s], sizeof(seeds[0]));
			best_cost = cost;
			best_conv = conv;
			any = true;
		}
	}
	*ret_cost = best_cost;
	*ret_iter = iters;
	return best_conv;
}

/* Relative deviation |Zfit - Z|/|Z| of every point (used or not). */
static void fit_deviations(struct bioz_fit_ws *ws, const struct lm_problem *pb, const double *p)
{
	struct cole_pre c;
	size_t i;

	cole_prep(p, pb->np, &c);
	for (i = 0; i < pb->n; i++) {
		double complex z = cole_at(&c, pb->f[i], pb->lnf[i], NULL);

		ws->dev[i] = cabs(z - (pb->r[i] + I * pb->x[i])) * ws->w[i];
	}
}

/*
 * Standard errors from cov = s^2 (J'J)^-1, s^2 = cost/(m - np), inverted
 * after scaling J'J to unit diagonal. Returns -EDOM if singular.
 */
static int fit_se(struct bioz_fit_ws *ws, const struct lm_problem *pb, const double *p,
		  double cost, size_t m, double *se)
{
	double a[NP_MAX * NP_MAX], sc[NP_MAX], e[NP_MAX], col[NP_MAX], s2;
	int i, j, np = pb->np;

	(void)lm_eval(ws, pb, p, ws->res, ws->jac);
	lm_normal(ws->jac, ws->res, m, np, a, e);
	for (i = 0; i < np; i++) {
		if (!(a[i * NP_MAX + i] > 0.0) || !isfinite(a[i * NP_MAX + i]))
			return -EDOM;
		sc[i] = 1.0 / sqrt(a[i * NP_MAX + i]);
	}
	for (i = 0; i < np; i++)
		for (j = 0; j < np; j++)
			a[i * NP_MAX + j] *= sc[i] * sc[j];
	if (chol(a, np) < 0)
		return -EDOM;
	for (i = 0; i < np; i++)		/* condition guard: tiny pivot = singular */
		if (a[i * NP_MAX + i] < 1e-7)
			return -EDOM;
	s2 = m > (size_t)np ? cost / (double)(m - (size_t)np) : INFINITY;
	for (i = 0; i < np; i++) {
		for (j = 0; j < np; j++)
			e[j] = i == j ? 1.0 : 0.0;
		chol_solve(a, np, e, col);
		se[i] = sqrt(s2 * col[i]) * sc[i];
	}
	return 0;
}

/* sigma of the relative deviations of the used points, from their median */
static double dev_sigma(struct bioz_fit_ws *ws, size_t n, double floor_rel)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (ws->used[i])
			ws->scratch[k++] = ws->dev[i];
	if (k == 0)
		return floor_rel;
	return fmax(select_kth(ws->scratch, k, k / 2) / RAYLEIGH_MEDIAN, floor_rel);
}

/*
 * Outlier identification that a least-squares start cannot hide: a few
 * rounds of iteratively reweighted LM with Cauchy weights 1/(1 + (d/c
 * sigma)^2), c = 2.385 (95 % efficiency), then every point beyond k sigma
 * of that robust fit is dropped at once. The weights only find outliers;
 * the parameters reported come from the plain fit on the points kept.
 * Returns the number dropped (possibly more than allowed: the caller flags).
 */
static size_t robust_drop(struct bioz_fit_ws *ws, const struct lm_problem *pb,
			  const struct bioz_fit_opts *o, const double *p_ls, uint32_t *iters)
{
	const double c = 2.385;
	double p[NP_MAX], prev[NP_MAX], cost, sigma, thr, step;
	size_t i, n_drop = 0;
	uint32_t it;
	int round, j;

	memcpy(p, p_ls, sizeof(p));
	for (round = 0; round < 8; round++) {
		double min_w = 1.0;

		fit_deviations(ws, pb, p);
		sigma = dev_sigma(ws, pb->n, o->outlier_floor_rel);
		for (i = 0; i < pb->n; i++) {
			double t = ws->dev[i] / (c * sigma);
			double wgt = 1.0 / (1.0 + t * t);

			ws->rw[i] = sqrt(wgt);
			if (ws->used[i])
				min_w = fmin(min_w, wgt);
		}
		if (round == 0 && min_w > 0.5)
			break;			/* nothing beyond 2.4 sigma: no suspects */
		memcpy(prev, p, sizeof(p));
		(void)lm_run(ws, pb, p, o->max_iter < 50 ? o->max_iter : 50, &cost, &it);
		*iters += it;
		for (j = 0, step = 0.0; j < pb->np; j++)
			step = fmax(step, fabs(p[j] - prev[j]) / (fabs(prev[j]) + 1e-3));
		if (step < 1e-4)
			break;			/* weights settled: enough to find outliers */
	}
	for (i = 0; i < pb->n; i++)
		ws->rw[i] = 1.0;
	fit_deviations(ws, pb, p);
	sigma = dev_sigma(ws, pb->n, o->outlier_floor_rel);
	thr = o->outlier_k * sigma;
	for (i = 0; i < pb->n; i++) {
		if (ws->used[i] && ws->dev[i] > thr) {
			ws->used[i] = 0;
			n_drop++;
		}
	}
	return n_drop;
}

/* Limits from a config file: NaN or a non-positive limit is refused. */
static bool opts_valid(const struct bioz_fit_opts *o)
{
	return o->use_td <= 1 && o->max_iter >= 1 && o->outlier_k > 0.0 &&
	       o->outlier_floor_rel >= 0.0 && o->max_drop_frac >= 0.0 &&
	       o->max_drop_frac < 1.0 && o->max_rms_rel > 0.0 && o->max_se_rel_r > 0.0 &&
	       o->max_se_alpha > 0.0 && o->max_se_ln_fc > 0.0 && isfinite(o->outlier_k) &&
	       isfinite(o->outlier_floor_rel);
}

static void fit_absent(struct bioz_fit *f)
{
	f->r0_ohm = f->rinf_ohm = f->fc_hz = f->alpha = f->td_s = NAN;
	f->se_r0_ohm = f->se_rinf_ohm = f->se_fc_hz = f->se_alpha = f->se_td_s = NAN;
	f->rms_rel = f->rms_ohm = NAN;
}

int bioz_cole_fit(struct bioz_fit_ws *ws, const struct bioz_fit_opts *o, const double *freq_hz,
		  const double *r_ohm, const double *x_ohm, size_t n, struct bioz_fit *ret)
{
	struct lm_problem pb = { .f = freq_hz, .lnf = ws->lnf, .r = r_ohm, .x = x_ohm, .n = n };
	struct bioz_fit fit = { .n_points = (uint32_t)n };
	double p[NP_MAX] = { 0 }, se[NP_MAX], cost, ss = 0.0;
	struct cole_pre c;
	size_t i, first, last, m, n_drop = 0, max_drop;
	uint32_t it, iters = 0;
	bool conv;

	if (!ws || !o || !ret || (n > 0 && (!freq_hz || !r_ohm || !x_ohm)))
		return -EINVAL;
	if (!opts_valid(o))
		return -EINVAL;
	if (n > ws->max_points)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		double mag = hypot(r_ohm[i], x_ohm[i]);

		if (!isfinite(freq_hz[i]) || freq_hz[i] <= 0.0 || !isfinite(mag) || mag <= 0.0)
			return -EINVAL;
		if (i > 0 && !(freq_hz[i] > freq_hz[i - 1]))
			return -EINVAL;
		ws->used[i] = 1;
		ws->w[i] = 1.0 / mag;
		ws->lnf[i] = log(freq_hz[i]);
		ws->rw[i] = 1.0;
	}
	fit_absent(&fit);
	fit.n_used = (uint32_t)n;
	if (n < 3) {
		fit.flags = BIOZ_FIT_NOT_RUN | BIOZ_FIT_TOO_FEW_POINTS;
		if (n > 0) {
			fit.fmin_hz = freq_hz[0];
			fit.fmax_hz = freq_hz[n - 1];
		}
		*ret = fit;
		return 0;
	}
	pb.np = o->use_td ? NP_MAX : NP_MAX - 1;
	pb.lo[P_R0] = pb.lo[P_RINF] = -INFINITY;
	pb.hi[P_R0] = pb.hi[P_RINF] = INFINITY;
	pb.lo[P_LNFC] = log(freq_hz[0] / LM_FC_SPAN);
	pb.hi[P_LNFC] = log(freq_hz[n - 1] * LM_FC_SPAN);
	pb.lo[P_ALPHA] = LM_ALPHA_MIN;
	pb.hi[P_ALPHA] = LM_ALPHA_MAX;
	pb.lo[P_TD] = -LM_TD_MAX_NS;
	pb.hi[P_TD] = LM_TD_MAX_NS;
	max_drop = (size_t)floor(o->max_drop_frac * (double)n);

	conv = fit_best(ws, &pb, o->max_iter, p, false, &cost, &it);
	iters += it;
	n_drop = robust_drop(ws, &pb, o, p, &iters);
	if (n_drop > max_drop)
		fit.flags |= BIOZ_FIT_TOO_MANY_OUTLIERS;
	if (n_drop > 0) {
		conv = fit_best(ws, &pb, o->max_iter, p, true, &cost, &it);
		iters += it;
	}
	/* Then drop the worst point while it is k sigma out (sigma from the median). */
	while (!(fit.flags & BIOZ_FIT_TOO_MANY_OUTLIERS)) {
		double sigma, worst = -1.0;
		size_t k = 0, iw = 0;

		fit_deviations(ws, &pb, p);
		for (i = 0; i < n; i++) {
			if (!ws->used[i])
				continue;
			k++;
			if (ws->dev[i] > worst) {
				worst = ws->dev[i];
				iw = i;
			}
		}
		if (k <= 3)
			break;
		sigma = dev_sigma(ws, n, o->outlier_floor_rel);
		if (!(worst > o->outlier_k * sigma))
			break;
		if (n_drop + 1 > max_drop) {
			fit.flags |= BIOZ_FIT_TOO_MANY_OUTLIERS;
			break;
		}
		ws->used[iw] = 0;
		n_drop++;
		conv = fit_best(ws, &pb, o->max_iter, p, true, &cost, &it);
		iters += it;
	}
	m = used_span(ws, n, &first, &last);
	if (n_drop > 0)
		fit.flags |= BIOZ_FIT_OUTLIERS_DROPPED;
	if (!ws->used[n - 1])
		fit.flags |= BIOZ_FIT_HOOK;
	if (!conv)
		fit.flags |= BIOZ_FIT_NOT_CONVERGED;
	if (m < o->min_points)
		fit.flags |= BIOZ_FIT_TOO_FEW_POINTS;

	fit.n_used = (uint32_t)m;
	fit.n_iter = iters;
	fit.fmin_hz = freq_hz[first];
	fit.fmax_hz = freq_hz[last];
	fit.r0_ohm = p[P_R0];
	fit.rinf_ohm = p[P_RINF];
	fit.fc_hz = exp(p[P_LNFC]);
	fit.alpha = p[P_ALPHA];
	fit.td_s = pb.np > P_TD ? p[P_TD] * 1e-9 : NAN;
	fit.rms_rel = sqrt(cost / (2.0 * (double)m));
	cole_prep(p, pb.np, &c);
	for (i = 0; i < n; i++) {
		double complex z;

		if (!ws->used[i])
			continue;
		z = cole_at(&c, freq_hz[i], ws->lnf[i], NULL) - (r_ohm[i] + I * x_ohm[i]);
		ss += creal(z) * creal(z) + cimag(z) * cimag(z);
	}
	fit.rms_ohm = sqrt(ss / (2.0 * (double)m));

	if (fit_se(ws, &pb, p, cost, 2 * m, se) == 0) {
		fit.se_r0_ohm = se[P_R0];
		fit.se_rinf_ohm = se[P_RINF];
		fit.se_fc_hz = se[P_LNFC] * fit.fc_hz;
		fit.se_alpha = se[P_ALPHA];
		fit.se_td_s = pb.np > P_TD ? se[P_TD] * 1e-9 : NAN;
		if (se[P_R0] > o->max_se_rel_r * fabs(fit.r0_ohm) ||
		    se[P_RINF] > o->max_se_rel_r * fabs(fit.rinf_ohm) ||
		    se[P_ALPHA] > o->max_se_alpha || se[P_LNFC] > o->max_se_ln_fc)
			fit.flags |= BIOZ_FIT_SE_LARGE;
	} else {
		fit.flags |= BIOZ_FIT_SINGULAR;
		fit.se_r0_ohm = fit.se_rinf_ohm = fit.se_fc_hz = fit.se_alpha = INFINITY;
		fit.se_td_s = pb.np > P_TD ? INFINITY : NAN;
	}
	if (!(fit.alpha > 0.0 && fit.alpha <= 1.0 + ALPHA_ONE_TOL))
		fit.flags |= BIOZ_FIT_ALPHA_RANGE;
	if (!(fit.r0_ohm > fit.rinf_ohm) || !(fit.rinf_ohm > 0.0))
		fit.flags |= BIOZ_FIT_R0_LE_RINF;
	if (!(fit.rms_rel <= o->max_rms_rel))
		fit.flags |= BIOZ_FIT_RESIDUAL_HIGH;
	if (fit.fc_hz < fit.fmin_hz || fit.fc_hz > fit.fmax_hz)
		fit.flags |= BIOZ_FIT_FC_OUT_OF_BAND;
	*ret = fit;
	return 0;
}

/* ---------------------------------------------------------------- equations */

double bioz_phase_deg(double r_ohm, double xc_ohm)
{
	/* PhA = atan(Xc/R) 180/pi (section 4); atan2 keeps the quadrant */
	return atan2(xc_ohm, r_ohm) * 180.0 / M_PI;
}

static bool rho_for(uint32_t sex, double *ret_rho_ecw, double *ret_rho_icw)
{
	switch (sex) {
	case BIOZ_SEX_MALE:
		*ret_rho_ecw = BIOZ_RHO_ECW_M;
		*ret_rho_icw = BIOZ_RHO_ICW_M;
		return true;
	case BIOZ_SEX_FEMALE:
		*ret_rho_ecw = BIOZ_RHO_ECW_F;
		*ret_rho_icw = BIOZ_RHO_ICW_F;
		return true;
	}
	return false;
}

double bioz_k_ecw(uint32_t sex)
{
	double re, ri;

	if (!rho_for(sex, &re, &ri))
		return NAN;
	/*
	 * Computed from the formula (0.30682 M, 0.29920 F [C]); De Lorenzo
	 * p. 1544 reportedly prints 0.306/0.316 [2nd] - unverified, so the
	 * formula's value is used (section 3.3).
	 */
	return 0.01 * cbrt(BIOZ_KB * BIOZ_KB * re * re / BIOZ_DB_KG_L);
}

double bioz_ecw_hanai(uint32_t sex, double height_cm, double weight_kg, double re_ohm)
{
	double k = bioz_k_ecw(sex);

	if (!isfinite(k) || !(height_cm > 0.0) || !(weight_kg > 0.0) || !(re_ohm > 0.0) ||
	    !isfinite(height_cm) || !isfinite(weight_kg) || !isfinite(re_ohm))
		return NAN;
	return k * pow(height_cm * height_cm * sqrt(weight_kg) / re_ohm, 2.0 / 3.0);
}

double bioz_icw_matthie(uint32_t sex, double ecw_l, double r0_ohm, double rinf_ohm)
{
	double re, ri, r, rho_tbw;

	if (!rho_for(sex, &re, &ri) || !(ecw_l > 0.0) || !isfinite(ecw_l) ||
	    !(rinf_ohm > 0.0) || !(r0_ohm > rinf_ohm) || !isfinite(r0_ohm))
		return NAN;
	/* section 3.4: r = R0/Rinf; rho_TBW = rho_I - (rho_I - rho_E) r^(-2/3) */
	r = r0_ohm / rinf_ohm;
	rho_tbw = ri - (ri - re) * pow(r, -2.0 / 3.0);
	return ecw_l * (pow(rho_tbw * r / re, 2.0 / 3.0) - 1.0);
}

static bool subject_valid(const struct bioz_subject *s)
{
	return s && (s->sex == BIOZ_SEX_MALE || s->sex == BIOZ_SEX_FEMALE) &&
	       s->height_cm >= BIOZ_HEIGHT_MIN_CM && s->height_cm <= BIOZ_HEIGHT_MAX_CM &&
	       s->weight_kg >= BIOZ_WEIGHT_MIN_KG && s->weight_kg <= BIOZ_WEIGHT_MAX_KG;
}

/*
 * Section 2 (RI = H^2/R, H cm, W kg, A years, S = 1 male). Tags: Sun 2003
 * coefficients [R] (fit statistics [V], PubMed 12540391); Kushner &
 * Schoeller 1986 [R]; Kushner 1992 and Lukaski & Bolonchuk 1988 [V formula].
 */
double bioz_tbw_sf(uint32_t eq, const struct bioz_subject *s, double r50_ohm)
{
	double ri, w;
	bool male;

	if (!subject_valid(s) || !(r50_ohm > 0.0) || !isfinite(r50_ohm))
		return NAN;
	ri = s->height_cm * s->height_cm / r50_ohm;
	w = s->weight_kg;
	male = s->sex == BIOZ_SEX_MALE;
	switch (eq) {
	case BIOZ_SF_SUN2003:
		return male ? 1.203 + 0.449 * ri + 0.176 * w : 3.747 + 0.450 * ri + 0.113 * w;
	case BIOZ_SF_KUSHNER_SCHOELLER1986:
		return male ? 0.396 * ri + 0.143 * w + 8.399 : 0.382 * ri + 0.105 * w + 8.315;
	case BIOZ_SF_KUSHNER_SCHOELLER1986_COMBINED:
		return 0.5561 * ri + 0.0955 * w + 1.726;
	case BIOZ_SF_KUSHNER1992:
		return 0.59 * ri + 0.065 * w + 0.04;
	case BIOZ_SF_LUKASKI_BOLONCHUK1988:
		if (!isfinite(s->age_y) || s->age_y < 0.0)
			return NAN;
		return 0.377 * ri + 0.14 * w - 0.08 * s->age_y + 2.9 * (male ? 1.0 : 0.0) + 4.65;
	}
	return NAN;
}

/* ---------------------------------------------------------------- BIVA */

/*
 * Piccoli et al., Am J Clin Nutr 1995;61:269-270, Italian adults (section 5),
 * all [R]. The women's R/H SD is given only as "~49-50": 50 is used.
 */
static const struct bioz_biva_ref biva_piccoli_m = {
	.name = "Piccoli 1995 men", .mu_r_h = 298.6, .sd_r_h = 43.2,
	.mu_xc_h = 30.8, .sd_xc_h = 7.2, .r = 0.66,
};
static const struct bioz_biva_ref biva_piccoli_f = {
	.name = "Piccoli 1995 women", .mu_r_h = 371.9, .sd_r_h = 50.0,
	.mu_xc_h = 34.4, .sd_xc_h = 7.7, .r = 0.63,
};

const struct bioz_biva_ref *bioz_biva_ref_default(uint32_t sex)
{
	if (sex == BIOZ_SEX_MALE)
		return &biva_piccoli_m;
	if (sex == BIOZ_SEX_FEMALE)
		return &biva_piccoli_f;
	return NULL;
}

double bioz_biva_d2_threshold(double p)
{
	return -2.0 * log1p(-p);	/* chi^2 quantile, 2 dof (section 5, 11.4) */
}

int bioz_biva(const struct bioz_biva_ref *ref, double r_ohm, double xc_ohm, double height_cm,
	      double *ret_r_h, double *ret_xc_h, double *ret_d2, double *ret_major_z,
	      uint32_t *ret_class)
{
	double h_m, x, y, zx, zy, d2;
	uint32_t cls;

	if (!ref || !(height_cm > 0.0) || !isfinite(r_ohm) || !isfinite(xc_ohm) ||
	    !isfinite(height_cm) || !(ref->sd_r_h > 0.0) || !(ref->sd_xc_h > 0.0) ||
	    !(fabs(ref->r) < 1.0))
		return -EINVAL;
	h_m = height_cm / 100.0;
	x = r_ohm / h_m;
	y = xc_ohm / h_m;
	zx = (x - ref->mu_r_h) / ref->sd_r_h;
	zy = (y - ref->mu_xc_h) / ref->sd_xc_h;
	/* D^2 = (zx^2 - 2 r zx zy + zy^2)/(1 - r^2) */
	d2 = (zx * zx - 2.0 * ref->r * zx * zy + zy * zy) / (1.0 - ref->r * ref->r);
	if (d2 <= bioz_biva_d2_threshold(0.50))
		cls = BIOZ_BIVA_IN50;
	else if (d2 <= bioz_biva_d2_threshold(0.75))
		cls = BIOZ_BIVA_IN75;
	else if (d2 <= bioz_biva_d2_threshold(0.95))
		cls = BIOZ_BIVA_IN95;
	else
		cls = BIOZ_BIVA_OUT95;
	*ret_r_h = x;
	*ret_xc_h = y;
	*ret_d2 = d2;
	/* in z space the major axis is (1, 1)/sqrt 2 for r > 0, (1, -1)/sqrt 2 for r < 0 */
	*ret_major_z = (zx + (ref->r >= 0.0 ? zy : -zy)) / M_SQRT2;
	*ret_class = cls;
	return 0;
}

/* ---------------------------------------------------------------- models */

/* The names are in libtwitch (clients print them too); the ids are its ABI. */
static_assert(BIOZ_MODEL_COUNT == RECORD_MODEL_COUNT, "model ids out of step with libtwitch");

const char *bioz_model_name(uint32_t id)
{
	return id > 0 && id < BIOZ_MODEL_COUNT ? twitch_model_name(id) : NULL;
}

/* ---------------------------------------------------------------- per-sweep estimate */

void bioz_config_default(struct bioz_config *c)
{
	bioz_fit_opts_default(&c->fit);
	c->sf_equation = BIOZ_SF_SUN2003;
	c->r50_source = BIOZ_R50_AUTO;
}

/* R and X at 50 kHz by log-linear interpolation over the points the fit kept. */
static int sweep_at_50k(const struct bioz_fit_ws *ws, const double *f, const double *r,
			const double *x, size_t n, double *ret_r, double *ret_x)
{
	size_t i, lo = SIZE_MAX, hi = SIZE_MAX;
	double t;

	for (i = 0; i < n; i++) {
		if (!ws->used[i])
			continue;
		if (f[i] <= BIOZ_F50_HZ)
			lo = i;
		if (f[i] >= BIOZ_F50_HZ && hi == SIZE_MAX)
			hi = i;
	}
	if (lo == SIZE_MAX || hi == SIZE_MAX)
		return -ERANGE;
	if (lo == hi) {
		*ret_r = r[lo];
		*ret_x = x[lo];
		return 0;
	}
	t = log(BIOZ_F50_HZ / f[lo]) / log(f[hi] / f[lo]);
	*ret_r = r[lo] + t * (r[hi] - r[lo]);
	*ret_x = x[lo] + t * (x[hi] - x[lo]);
	return 0;
}

static void estimate_absent(struct bioz_estimate *e)
{
	e->r0_ohm = e->rinf_ohm = e->alpha = e->fc_hz = e->tau_s = e->td_s = NAN;
	e->se_r0_ohm = e->se_rinf_ohm = e->se_alpha = e->se_fc_hz = e->se_td_s = NAN;
	e->rms_rel = e->rms_ohm = NAN;
	e->r50_ohm = e->xc50_ohm = e->phase_deg_50k = NAN;
	e->biva_r_h = e->biva_xc_h = e->biva_d2 = e->biva_major_z = NAN;
	e->ecw_l = e->icw_l = e->tbw_l = e->tbw_sf_l = e->ecw_tbw = NAN;
	e->temp_c = e->re_index = e->re_index_u = NAN;
	e->re_trend_15min_per_h = e->re_trend_1h_per_h = NAN;
}

int bioz_estimate_sweep(struct bioz_fit_ws *ws, const struct bioz_config *c,
			const struct bioz_subject *s, uint32_t sweep, const double *freq_hz,
			const double *r_ohm, const double *x_ohm, size_t n,
			struct bioz_estimate *ret)
{
	struct bioz_estimate e = { .sweep = sweep };
	struct bioz_fit fit;
	bool trusted, in_band, have_subject;
	double r50 = NAN, x50 = NAN;
	int err;

	if (!c || c->sf_equation >= BIOZ_SF_COUNT || c->r50_source > BIOZ_R50_SWEEP)
		return -EINVAL;
	err = bioz_cole_fit(ws, &c->fit, freq_hz, r_ohm, x_ohm, n, &fit);
	if (err < 0)
		return err;
	estimate_absent(&e);
	e.n_points = fit.n_points;
	e.n_used = fit.n_used;
	e.n_iter = fit.n_iter;
	e.fit_flags = fit.flags;
	e.est_flags = BIOZ_EST_RI_ABSENT;
	trusted = !(fit.flags & BIOZ_FIT_UNTRUSTED_MASK);

	/* Cole parameters are measurement-level: reported even when untrusted. */
	if (!(fit.flags & BIOZ_FIT_NOT_RUN)) {
		e.model_cole = c->fit.use_td ? BIOZ_MODEL_COLE_LM_TD : BIOZ_MODEL_COLE_LM;
		e.r0_ohm = fit.r0_ohm;
		e.rinf_ohm = fit.rinf_ohm;
		e.alpha = fit.alpha;
		e.fc_hz = fit.fc_hz;
		e.tau_s = 1.0 / (2.0 * M_PI * fit.fc_hz);
		e.td_s = fit.td_s;
		e.se_r0_ohm = fit.se_r0_ohm;
		e.se_rinf_ohm = fit.se_rinf_ohm;
		e.se_alpha = fit.se_alpha;
		e.se_fc_hz = fit.se_fc_hz;
		e.se_td_s = fit.se_td_s;
		e.rms_rel = fit.rms_rel;
		e.rms_ohm = fit.rms_ohm;
	}

	/* 50 kHz: never extrapolated beyond the measured band. */
	in_band = n > 0 && freq_hz[0] <= BIOZ_F50_HZ && freq_hz[n - 1] >= BIOZ_F50_HZ;
	if (in_band && trusted && c->r50_source != BIOZ_R50_SWEEP) {
		bioz_cole_z(BIOZ_F50_HZ, fit.r0_ohm, fit.rinf_ohm, fit.fc_hz, fit.alpha, 0.0,
			    &r50, &x50);
		e.model_r50 = BIOZ_MODEL_R50_COLE;
		e.est_flags |= BIOZ_EST_R50_FROM_MODEL;
	} else if (in_band && c->r50_source != BIOZ_R50_MODEL &&
		   sweep_at_50k(ws, freq_hz, r_ohm, x_ohm, n, &r50, &x50) == 0) {
		e.model_r50 = BIOZ_MODEL_R50_SWEEP;
		e.est_flags |= BIOZ_EST_R50_FROM_SWEEP;
	}
	if (e.model_r50 != BIOZ_MODEL_NONE) {
		e.r50_ohm = r50;
		e.xc50_ohm = -x50;
		e.phase_deg_50k = bioz_phase_deg(r50, -x50);
	} else {
		e.est_flags |= BIOZ_EST_NO_50K;
	}

	/* Body water and BIVA need the subject: never invented without one. */
	have_subject = subject_valid(s);
	if (!have_subject) {
		e.est_flags |= BIOZ_EST_NO_SUBJECT;
		*ret = e;
		return 0;
	}
	{
		double bmi = s->weight_kg / (s->height_cm * s->height_cm / 1e4);

		/* the Hanai constants, Sun 2003's adults and the Piccoli BIVA
		 * ellipses are adults' */
		if (bmi < BIOZ_BMI_MIN || bmi > BIOZ_BMI_MAX ||
		    (isfinite(s->age_y) && s->age_y < BIOZ_ADULT_AGE_Y))
			e.est_flags |= BIOZ_EST_OUTSIDE_VALIDITY;
	}
	if (isfinite(e.r50_ohm)) {
		bool male = s->sex == BIOZ_SEX_MALE;

		if (bioz_biva(bioz_biva_ref_default(s->sex), e.r50_ohm, e.xc50_ohm, s->height_cm,
			      &e.biva_r_h, &e.biva_xc_h, &e.biva_d2, &e.biva_major_z,
			      &e.biva_class) == 0)
			e.model_biva = male ? BIOZ_MODEL_BIVA_PICCOLI_M : BIOZ_MODEL_BIVA_PICCOLI_F;
		e.tbw_sf_l = bioz_tbw_sf(c->sf_equation, s, e.r50_ohm);
		if (isfinite(e.tbw_sf_l))
			e.model_tbw_sf = BIOZ_MODEL_SF_FIRST + c->sf_equation;
		else
			e.est_flags |= BIOZ_EST_SF_MISSING_INPUT;
	}
	if (trusted) {
		bool male = s->sex == BIOZ_SEX_MALE;

		e.ecw_l = bioz_ecw_hanai(s->sex, s->height_cm, s->weight_kg, fit.r0_ohm);
		e.icw_l = bioz_icw_matthie(s->sex, e.ecw_l, fit.r0_ohm, fit.rinf_ohm);
		if (isfinite(e.ecw_l) && isfinite(e.icw_l)) {
			e.model_ecw = male ? BIOZ_MODEL_ECW_HANAI_M : BIOZ_MODEL_ECW_HANAI_F;
			e.model_icw = male ? BIOZ_MODEL_ICW_MATTHIE_M : BIOZ_MODEL_ICW_MATTHIE_F;
			e.tbw_l = e.ecw_l + e.icw_l;
			e.ecw_tbw = e.ecw_l / e.tbw_l;
			if (fit.flags & BIOZ_FIT_FC_OUT_OF_BAND)
				e.est_flags |= BIOZ_EST_ICW_EXTRAPOLATED;
		} else {
			e.ecw_l = e.icw_l = NAN;
			e.est_flags |= BIOZ_EST_BIS_UNTRUSTED;
		}
	} else {
		e.est_flags |= BIOZ_EST_BIS_UNTRUSTED;
	}
	*ret = e;
	return 0;
}

/* ---------------------------------------------------------------- resistance index */

void bioz_ri_config_default(struct bioz_ri_config *c)
{
	/*
	 * Electrolyte conductivity rises about 2 %/degC (roughly 1-3 %/degC,
	 * not constant): Rosemount "Analytic Expert" 2010, aqion.de, LTH FAQ,
	 * bioimpedance.md section 6.3 [V]. Resistance falls accordingly.
	 */
	c->temp_coef_per_c = 0.02;
	c->temp_u_c = 0.0;
	/* 1-3 %/degC: the 2 is known to about +-1 */
	c->temp_coef_u_per_c = 0.01;
	c->baseline_n = 5;
}

static void ri_clear_bins(struct bioz_ri *ri)
{
	uint32_t i;

	for (i = 0; i < BIOZ_RI_BINS; i++)
		ri->bins[i] = (struct bioz_ri_bin){ .minute = INT64_MIN };
}

void bioz_ri_rebaseline(struct bioz_ri *ri, uint32_t n_sweeps)
{
	if (n_sweeps == 0)
		n_sweeps = 1;
	if (n_sweeps > BIOZ_RI_BASELINE_MAX)
		n_sweeps = BIOZ_RI_BASELINE_MAX;
	ri->want_n = n_sweeps;
	ri->n_collected = 0;
	ri->n_base = 0;
	ri->base_has_temp = 0;
	ri->base_r_ohm = ri->base_u_ohm = ri->base_phys_var = ri->base_temp_c = NAN;
	ri->base_pha_deg = ri->base_ecw_tbw = NAN;
	ri_clear_bins(ri);
}

bool bioz_ri_get_baseline(const struct bioz_ri *ri, struct bioz_ri_baseline *ret)
{
	if (ri->n_base == 0)
		return false;
	*ret = (struct bioz_ri_baseline){
		.n = ri->n_base, .has_temp = ri->base_has_temp, .r_ohm = ri->base_r_ohm,
		.u_ohm = ri->base_u_ohm, .phys_var = ri->base_phys_var,
		.temp_c = ri->base_temp_c, .pha_deg = ri->base_pha_deg,
		.ecw_tbw = ri->base_ecw_tbw,
	};
	return true;
}

bool bioz_ri_baseline_ok(const struct bioz_ri_baseline *b)
{
	return b->n > 0 && b->n <= BIOZ_RI_BASELINE_MAX && b->has_temp <= 1 &&
	       isfinite(b->r_ohm) && b->r_ohm > 0.0 && isfinite(b->u_ohm) && b->u_ohm >= 0.0 &&
	       isfinite(b->phys_var) && b->phys_var >= 0.0 &&
	       (b->has_temp ? isfinite(b->temp_c) : isnan(b->temp_c)) &&
	       (isnan(b->pha_deg) || fabs(b->pha_deg) <= 90.0) &&
	       (isnan(b->ecw_tbw) || (b->ecw_tbw > 0.0 && b->ecw_tbw < 1.0));
}

int bioz_ri_set_baseline(struct bioz_ri *ri, const struct bioz_ri_baseline *b)
{
	if (!bioz_ri_baseline_ok(b))
		return -EINVAL;
	bioz_ri_rebaseline(ri, 1);
	ri->want_n = 0;
	ri->n_base = b->n;
	ri->base_has_temp = b->has_temp;
	ri->base_r_ohm = b->r_ohm;
	ri->base_u_ohm = b->u_ohm;
	ri->base_phys_var = b->phys_var;
	ri->base_temp_c = b->temp_c;
	ri->base_pha_deg = b->pha_deg;
	ri->base_ecw_tbw = b->ecw_tbw;
	return 0;
}

void bioz_ri_init(struct bioz_ri *ri, const struct bioz_ri_config *c)
{
	memset(ri, 0, sizeof(*ri));
	ri->cfg = *c;
	ri->last_t_s = -INFINITY;
	bioz_ri_rebaseline(ri, c->baseline_n);
}

/* Mean of the finite values, NaN if none. */
static double mean_finite(const double *v, uint32_t n)
{
	double s = 0.0;
	uint32_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (isfinite(v[i])) {
			s += v[i];
			k++;
		}
	}
	return k ? s / k : NAN;
}

static void ri_finish_baseline(struct bioz_ri *ri)
{
	const double a = ri->cfg.temp_coef_per_c, ut = ri->cfg.temp_u_c;
	const double ua = ri->cfg.temp_coef_u_per_c;
	double mean = 0.0, var = 0.0, se2 = 0.0, tb = NAN;
	uint32_t i, n = ri->n_collected;
	bool has_temp = true;

	for (i = 0; i < n; i++)
		has_temp = has_temp && isfinite(ri->col_temp_c[i]);
	if (has_temp)
		tb = mean_finite(ri->col_temp_c, n);
	/* each Re compensated to the baseline's mean temperature */
	for (i = 0; i < n; i++) {
		double k = has_temp ? 1.0 + a * (ri->col_temp_c[i] - tb) : 1.0;
		double rc = ri->col_r_ohm[i] * k;
		double d = rc - mean;

		mean += d / (i + 1);		/* Welford */
		var += d * (rc - mean);
		se2 += k * k * ri->col_se_ohm[i] * ri->col_se_ohm[i];
		if (has_temp) {
			double dt = ri->col_temp_c[i] - tb;

			se2 += (ri->col_r_ohm[i] * a * ut) * (ri->col_r_ohm[i] * a * ut);
			se2 += (ri->col_r_ohm[i] * dt * ua) * (ri->col_r_ohm[i] * dt * ua);
		}
	}
	var = n > 1 ? var / (n - 1) : 0.0;
	se2 /= n;
	ri->n_base = n;
	ri->base_has_temp = has_temp;
	ri->base_temp_c = tb;
	ri->base_r_ohm = mean;
	/* the mean's standard error: scatter, but never less than the fit SEs imply */
	ri->base_u_ohm = sqrt(fmax(var, se2) / n);
	ri->base_phys_var = fmax(0.0, var - se2);
	ri->base_pha_deg = mean_finite(ri->col_pha_deg, n);
	ri->base_ecw_tbw = mean_finite(ri->col_ecw_tbw, n);
	ri->want_n = 0;
}

/* Weighted least-squares slope of bin means over the last @minutes, per hour. */
static double ri_trend(const struct bioz_ri *ri, int64_t now_min, int64_t minutes)
{
	double sw = 0, st = 0, sx = 0, stt = 0, stx = 0, tmin = INFINITY, tmax = -INFINITY;
	double den;
	uint32_t i, nb = 0;

	for (i = 0; i < BIOZ_RI_BINS; i++) {
		const struct bioz_ri_bin *b = &ri->bins[i];
		double t, x;

		if (b->minute == INT64_MIN || b->minute <= now_min - minutes ||
		    b->minute > now_min || !(b->n > 0))
			continue;
		t = b->sum_t_s / b->n;
		x = b->sum_x / b->n;
		sw += b->n;
		st += b->n * t;
		sx += b->n * x;
		stt += b->n * t * t;
		stx += b->n * t * x;
		tmin = fmin(tmin, t);
		tmax = fmax(tmax, t);
		nb++;
	}
	/* at least 3 bins spread over a third of the window */
	if (nb < 3 || tmax - tmin < (double)minutes * 60.0 / 3.0)
		return NAN;
	st /= sw;
	sx /= sw;
	den = stt / sw - st * st;
	if (!(den > 0.0))
		return NAN;
	return (stx / sw - st * sx) / den * 3600.0;
}

int bioz_ri_update(struct bioz_ri *ri, double t_s, double temp_c, struct bioz_estimate *e)
{
	const double a = ri->cfg.temp_coef_per_c, ut = ri->cfg.temp_u_c;
	const double ua = ri->cfg.temp_coef_u_per_c;
	bool usable, comp;
	double k, rc, u2, ub, x, ux, tmin_d;
	int64_t minute;
	struct bioz_ri_bin *b;

	if (!isfinite(t_s) || t_s < ri->last_t_s)
		return -EINVAL;
	ri->last_t_s = t_s;
	e->temp_c = isfinite(temp_c) ? temp_c : NAN;
	e->re_index = e->re_index_u = NAN;
	e->re_trend_15min_per_h = e->re_trend_1h_per_h = NAN;
	e->est_flags |= BIOZ_EST_RI_ABSENT;
	e->est_flags &= ~(BIOZ_EST_RI_NOT_TEMP_COMP | BIOZ_EST_RI_BASELINE_FEW);
	e->model_ri = BIOZ_MODEL_NONE;
	usable = !(e->fit_flags & BIOZ_FIT_UNTRUSTED_MASK) && isfinite(e->r0_ohm) &&
		 isfinite(e->se_r0_ohm);

	if (ri->want_n > 0 && usable) {
		uint32_t i = ri->n_collected++;

		ri->col_r_ohm[i] = e->r0_ohm;
		ri->col_se_ohm[i] = e->se_r0_ohm;
		ri->col_temp_c[i] = e->temp_c;
		ri->col_pha_deg[i] = e->phase_deg_50k;
		ri->col_ecw_tbw[i] = e->ecw_tbw;
		if (ri->n_collected >= ri->want_n)
			ri_finish_baseline(ri);
	}
	e->ri_n_baseline = ri->n_base;
	if (ri->n_base == 0 || !usable)
		return 0;

	comp = ri->base_has_temp && isfinite(e->temp_c);
	k = comp ? 1.0 + a * (e->temp_c - ri->base_temp_c) : 1.0;
	rc = e->r0_ohm * k;
	u2 = k * k * e->se_r0_ohm * e->se_r0_ohm + ri->base_phys_var;
	if (comp) {
		/* the temperature's uncertainty, and the coefficient's: at 3 degC
		 * from the baseline, 1 %/degC is a 3 % error of the index */
		double dt = e->temp_c - ri->base_temp_c;

		u2 += (e->r0_ohm * a * ut) * (e->r0_ohm * a * ut);
		u2 += (e->r0_ohm * dt * ua) * (e->r0_ohm * dt * ua);
	}
	ub = ri->base_u_ohm / ri->base_r_ohm;
	x = rc / ri->base_r_ohm - 1.0;
	ux = (rc / ri->base_r_ohm) * sqrt(u2 / (rc * rc) + ub * ub);
	e->re_index = x;
	e->re_index_u = ux;
	e->est_flags &= ~BIOZ_EST_RI_ABSENT;
	e->model_ri = comp ? BIOZ_MODEL_RI_TEMP2 : BIOZ_MODEL_RI_UNCOMP;
	if (!comp)
		e->est_flags |= BIOZ_EST_RI_NOT_TEMP_COMP;
	if (ri->n_base < 3)
		e->est_flags |= BIOZ_EST_RI_BASELINE_FEW;

	/* 1-minute bins in a fixed ring of one hour */
	tmin_d = floor(t_s / 60.0);
	if (!(fabs(tmin_d) < 9e15))
		return 0;
	minute = (int64_t)tmin_d;
	b = &ri->bins[((minute % (int64_t)BIOZ_RI_BINS) + BIOZ_RI_BINS) % BIOZ_RI_BINS];
	if (b->minute != minute)
		*b = (struct bioz_ri_bin){ .minute = minute };
	b->n += 1.0;
	b->sum_t_s += t_s;
	b->sum_x += x;
	e->re_trend_15min_per_h = ri_trend(ri, minute, 15);
	e->re_trend_1h_per_h = ri_trend(ri, minute, 60);
	return 0;
}

/* ---------------------------------------------------------------- alerts */

void bioz_alert_config_default(struct bioz_alert_config *c)
{
	/*
	 * Placeholders, not validated cut-offs: bioimpedance.md gives none
	 * for within-subject change. Set them per site.
	 */
	c->pha_drop_deg = 1.0;
	c->ecw_tbw_rise = 0.01;
	c->ecw_tbw_max = NAN;		/* vendor thresholds do not carry over (6.1) */
	c->ri_k = 3.0;
	c->ri_min_abs = 0.02;
	c->twitch_rise_ratio = 2.0;
	c->twitch_rise_min_per_min = 2.0;
	/* ECW/TBW scatters by 0.006-0.012 (SD) from sweep to sweep at 0.5-1%
	 * and 0.3-0.5 deg of noise: one sweep in ten crosses a 0.01 rise on a
	 * stationary subject; three in a row, about one in a thousand */
	c->persist = 3;
}

uint32_t bioz_alerts_eval(const struct bioz_alert_config *c, const struct bioz_estimate *e,
			  double base_pha_deg, double base_ecw_tbw, uint32_t twitch_rate_rising)
{
	uint32_t a = 0;

	if (isfinite(e->phase_deg_50k) && isfinite(base_pha_deg) &&
	    base_pha_deg - e->phase_deg_50k >= c->pha_drop_deg)
		a |= BIOZ_ALERT_PHA_DROP;
	if (isfinite(e->ecw_tbw) &&
	    ((isfinite(base_ecw_tbw) && e->ecw_tbw - base_ecw_tbw >= c->ecw_tbw_rise) ||
	     (isfinite(c->ecw_tbw_max) && e->ecw_tbw >= c->ecw_tbw_max)))
		a |= BIOZ_ALERT_ECW_TBW_RISE;
	if (isfinite(e->re_index) && isfinite(e->re_index_u) &&
	    fabs(e->re_index) > c->ri_k * e->re_index_u && fabs(e->re_index) >= c->ri_min_abs)
		a |= BIOZ_ALERT_RE_INDEX_CHANGE;
	if (twitch_rate_rising && a)
		a |= BIOZ_ALERT_CO_OCCURRENCE;
	return a;
}

uint32_t bioz_alerts_step(const struct bioz_alert_config *c, struct bioz_alert_state *st,
			  const struct bioz_estimate *e, double base_pha_deg,
			  double base_ecw_tbw, uint32_t twitch_rate_rising)
{
	struct bioz_alert_config half = *c;
	uint32_t raise, still, judged = 0, bit, want, need = c->persist ? c->persist : 1;
	bool trusted = !(e->fit_flags & BIOZ_FIT_UNTRUSTED_MASK);
	unsigned int i;

	half.pha_drop_deg *= 0.5;
	half.ecw_tbw_rise *= 0.5;
	half.ri_k *= 0.5;
	half.ri_min_abs *= 0.5;
	raise = bioz_alerts_eval(c, e, base_pha_deg, base_ecw_tbw, 0);
	still = bioz_alerts_eval(&half, e, base_pha_deg, base_ecw_tbw, 0);
	if (trusted && isfinite(e->phase_deg_50k) && isfinite(base_pha_deg))
		judged |= BIOZ_ALERT_PHA_DROP;
	if (isfinite(e->ecw_tbw) && (isfinite(base_ecw_tbw) || isfinite(c->ecw_tbw_max)))
		judged |= BIOZ_ALERT_ECW_TBW_RISE;
	if (isfinite(e->re_index) && isfinite(e->re_index_u))
		judged |= BIOZ_ALERT_RE_INDEX_CHANGE;
	judged |= BIOZ_ALERT_CO_OCCURRENCE;
	for (i = 0, bit = 1; i < BIOZ_N_ALERTS; i++, bit <<= 1) {
		if (!(judged & bit))
			continue;	/* no word either way: the streak waits */
		if (bit == BIOZ_ALERT_CO_OCCURRENCE)
			want = twitch_rate_rising && (st->on & (bit - 1)) ? bit : 0;
		else
			want = (st->on & bit ? still : raise) & bit;
		if (want == (st->on & bit)) {
			st->streak[i] = 0;
		} else if (++st->streak[i] >= need) {
			st->on ^= bit;
			st->streak[i] = 0;
		}
	}
	return st->on;
}

bool bioz_twitch_rate_rising(const struct bioz_alert_config *c, double per_min_5,
			     double per_min_15, double covered_s, double *ret_prior)
{
	double prior;

	if (ret_prior)
		*ret_prior = NAN;
	/* the rates' windows are whole seconds: 15 min covered is 900 s */
	if (!(covered_s >= 900.0 - 0.5) || !isfinite(per_min_5) || !isfinite(per_min_15) ||
	    per_min_5 < 0.0 || per_min_15 < 0.0)
		return false;
	prior = (15.0 * per_min_15 - 5.0 * per_min_5) / 10.0;
	if (prior < 0.0)
		prior = 0.0;	/* rounding of the float rates */
	if (ret_prior)
		*ret_prior = prior;
	return per_min_5 >= c->twitch_rise_ratio * prior &&
	       per_min_5 - prior >= c->twitch_rise_min_per_min;
}

/* ---------------------------------------------------------------- JSON */

struct jbuf {
	char *p;
	size_t size, len;
	bool full;
};

static void jb_put(struct jbuf *j, const char *s)
{
	size_t n = strlen(s);

	if (j->full || n >= j->size - j->len) {
		j->full = true;
		return;
	}
	memcpy(j->p + j->len, s, n + 1);
	j->len += n;
}

/* Rewrite the locale's decimal point @dp in @num to '.'. */
static void json_fix_decimal(char *num, const char *dp)
{
	size_t dl = strlen(dp);
	char *q;

	if (dl == 0 || strcmp(dp, ".") == 0)
		return;
	q = strstr(num, dp);
	if (!q)
		return;
	*q = '.';
	memmove(q + 1, q + dl, strlen(q + dl) + 1);
}

static void jb_num(struct jbuf *j, const char *key, double v)
{
	char tmp[64];

	jb_put(j, key);
	if (!isfinite(v)) {
		jb_put(j, "null");
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.6g", v);
	json_fix_decimal(tmp, localeconv()->decimal_point);
	jb_put(j, tmp);
}

static void jb_uint(struct jbuf *j, const char *key, uint32_t v)
{
	char tmp[16];

	jb_put(j, key);
	snprintf(tmp, sizeof(tmp), "%" PRIu32, v);
	jb_put(j, tmp);
}

static void jb_str(struct jbuf *j, const char *key, const char *s)
{
	char esc[8];

	jb_put(j, key);
	if (!s) {
		jb_put(j, "null");
		return;
	}
	jb_put(j, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			esc[2] = '\0';
		} else if (ch < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
		} else {
			esc[0] = (char)ch;
			esc[1] = '\0';
		}
		jb_put(j, esc);
	}
	jb_put(j, "\"");
}

/* Append the names of the bits set in @v to a list; *first tracks commas. */
static void jb_flag_names(struct jbuf *j, bool *first, uint32_t v, const char *const *names,
			  size_t n_names)
{
	size_t i;

	for (i = 0; i < n_names; i++) {
		if (!(v & (1u << i)) || !names[i])
			continue;
		jb_str(j, *first ? "" : ",", names[i]);
		*first = false;
	}
}

static const char *const fit_flag_names[] = {
	"fit_not_run", "too_few_points", "not_converged", "alpha_out_of_range",
	"r0_le_rinf", "singular", "se_large", "residual_high", "too_many_outliers",
	"outliers_dropped", "hook", "fc_out_of_band",
};
static const char *const est_flag_names[] = {
	"no_subject", "no_50k", "r50_from_model", "r50_from_sweep", "bis_untrusted",
	"icw_extrapolated", "sf_missing_input", "outside_validity", "re_index_absent",
	"re_index_not_temp_compensated", "re_index_baseline_few", "railed_points_dropped",
};
static const char *const alert_names[] = {
	"phase_angle_drop", "ecw_tbw_rise", "re_index_change",
	"twitch_rate_rising_with_hydration_shift",
};

static const char *biva_class_name(uint32_t c)
{
	switch (c) {
	case BIOZ_BIVA_IN50: return "in50";
	case BIOZ_BIVA_IN75: return "in75";
	case BIOZ_BIVA_IN95: return "in95";
	case BIOZ_BIVA_OUT95: return "out95";
	}
	return NULL;
}

int bioz_json_format(const struct bioz_estimate *e, char *buf, size_t size)
{
	struct jbuf j = { .p = buf, .size = size };
	bool first;

	if (!e || !buf || size == 0)
		return -EINVAL;
	buf[0] = '\0';
	jb_put(&j, "{\"type\":\"bioz\"");
	jb_uint(&j, ",\"sweep\":", e->sweep);
	jb_uint(&j, ",\"n_points\":", e->n_points);
	jb_uint(&j, ",\"n_used\":", e->n_used);
	jb_num(&j, ",\"r0_ohm\":", e->r0_ohm);
	jb_num(&j, ",\"rinf_ohm\":", e->rinf_ohm);
	jb_num(&j, ",\"alpha\":", e->alpha);
	jb_num(&j, ",\"fc_hz\":", e->fc_hz);
	jb_num(&j, ",\"tau_s\":", e->tau_s);
	jb_num(&j, ",\"td_s\":", e->td_s);
	jb_num(&j, ",\"r50_ohm\":", e->r50_ohm);
	jb_num(&j, ",\"xc50_ohm\":", e->xc50_ohm);
	jb_num(&j, ",\"phase_deg_50k\":", e->phase_deg_50k);
	jb_num(&j, ",\"ecw_l\":", e->ecw_l);
	jb_num(&j, ",\"icw_l\":", e->icw_l);
	jb_num(&j, ",\"tbw_l\":", e->tbw_l);
	jb_num(&j, ",\"tbw_sf_l\":", e->tbw_sf_l);
	jb_num(&j, ",\"ecw_tbw\":", e->ecw_tbw);
	jb_num(&j, ",\"biva\":{\"r_h\":", e->biva_r_h);
	jb_num(&j, ",\"xc_h\":", e->biva_xc_h);
	jb_num(&j, ",\"d2\":", e->biva_d2);
	jb_num(&j, ",\"major_z\":", e->biva_major_z);
	jb_str(&j, ",\"class\":", biva_class_name(e->biva_class));
	jb_num(&j, "},\"se\":{\"r0_ohm\":", e->se_r0_ohm);
	jb_num(&j, ",\"rinf_ohm\":", e->se_rinf_ohm);
	jb_num(&j, ",\"alpha\":", e->se_alpha);
	jb_num(&j, ",\"fc_hz\":", e->se_fc_hz);
	jb_num(&j, ",\"td_s\":", e->se_td_s);
	jb_num(&j, "},\"re_index\":{\"value\":", e->re_index);
	jb_num(&j, ",\"u\":", e->re_index_u);
	jb_num(&j, ",\"trend_15min_per_h\":", e->re_trend_15min_per_h);
	jb_num(&j, ",\"trend_1h_per_h\":", e->re_trend_1h_per_h);
	jb_num(&j, ",\"temp_c\":", e->temp_c);
	jb_uint(&j, ",\"n_baseline\":", e->ri_n_baseline);
	jb_put(&j, "},\"alerts\":[");
	first = true;
	jb_flag_names(&j, &first, e->alerts, alert_names, ARRAY_SIZE(alert_names));
	jb_num(&j, "],\"quality\":{\"rms_rel\":", e->rms_rel);
	jb_num(&j, ",\"rms_ohm\":", e->rms_ohm);
	jb_uint(&j, ",\"n_iter\":", e->n_iter);
	jb_uint(&j, ",\"fit_flags\":", e->fit_flags);
	jb_uint(&j, ",\"est_flags\":", e->est_flags);
	jb_put(&j, ",\"flags\":[");
	first = true;
	jb_flag_names(&j, &first, e->fit_flags, fit_flag_names, ARRAY_SIZE(fit_flag_names));
	jb_flag_names(&j, &first, e->est_flags, est_flag_names, ARRAY_SIZE(est_flag_names));
	jb_put(&j, "]");
	jb_put(&j, !(e->fit_flags & BIOZ_FIT_UNTRUSTED_MASK) ? ",\"trusted\":true" :
							     ",\"trusted\":false");
	jb_str(&j, "},\"models\":{\"cole\":", bioz_model_name(e->model_cole));
	jb_str(&j, ",\"r50\":", bioz_model_name(e->model_r50));
	jb_str(&j, ",\"ecw\":", bioz_model_name(e->model_ecw));
	jb_str(&j, ",\"icw\":", bioz_model_name(e->model_icw));
	jb_str(&j, ",\"tbw_sf\":", bioz_model_name(e->model_tbw_sf));
	jb_str(&j, ",\"biva\":", bioz_model_name(e->model_biva));
	jb_str(&j, ",\"re_index\":", bioz_model_name(e->model_ri));
	jb_put(&j, "}}");
	if (j.full)
		return -ENOSPC;
	return (int)j.len;
}

int bioz_json_write(FILE *f, const struct bioz_estimate *e)
{
	char buf[4096];
	int n = bioz_json_format(e, buf, sizeof(buf));

	if (n < 0)
		return n;
	if (fwrite(buf, 1, (size_t)n, f) != (size_t)n || fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}

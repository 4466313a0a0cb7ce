/* dsp-lanes.c - the fast paths of twitchd's per-channel DSP (dsp.c).
 *
 * One channel's cascade, one sample at a time (dsp_chain_sample()), waits
 * on latency. Here plain stretches run in the lanes of vectors instead:
 * several channels of one design together, or one channel's sections side
 * by side, with AVX2 where the processor has it (chosen at run time; the
 * build stays x86-64 baseline; never FMA, which rounds otherwise). Each
 * lane does exactly the reference's operations in its order, so the output
 * is the same to the bit; anything else goes through dsp_chain_sample().
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "dsp-chain.h"
#include "dsp.h"

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

/* Two floats at @p, as doubles (exact). GCC 12 converts a generic pair
 * one float at a time, through memory; SSE2 has the instruction. @p is
 * only float-aligned: loaded through the unaligned vector type. */
static inline dsp_v2 dsp_get2f(const float *p)
{
#ifdef __SSE2__
	return (dsp_v2)_mm_cvtps_pd(_mm_castsi128_ps(
		_mm_loadl_epi64((const __m128i_u *)(const void *)p)));
#else
	dsp_v2f xf;

	memcpy(&xf, p, sizeof(xf));
	return __builtin_convertvector(xf, dsp_v2);
#endif
}

/* Fold "every lane of the scan at @x is below @lim in magnitude" (so
 * neither NaN nor Inf) into @ok. */
static inline void dsp_scan_below(const double *x, const struct dsp_scan *lim,
				  dsp_m2 *ok)
{
	const dsp_m2 abs_bits = { INT64_MAX, INT64_MAX };
	uint32_t j;

	/* unrolled, or the mask goes through memory every scan */
#pragma GCC unroll 4
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
#pragma GCC unroll 4
			for (j = 0; j < DSP_V2; j++)
				dsp_put2(&buf[t * DSP_LANES + 2 * j],
					 dsp_get2f(&in[t * stride + 2 * j]));
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

/* tiles finished by dsp_tile_finish_lanes(): test-dsp checks that its
 * cases take that path, which gives the same bits as the fallback */
static unsigned long dsp_lanes_finished;

/* a > b ? a : b, lane by lane (dsp_tile_finish()'s "if (ay > peak)") */
static inline dsp_v2 dsp_max2(dsp_v2 a, dsp_v2 b)
{
	dsp_m2 gt = a > b;

	return (dsp_v2)(((dsp_m2)a & gt) | ((dsp_m2)b & ~gt));
}

/*
 * dsp_tile_finish() for all DSP_LANES lanes at once: the sums, peaks and
 * outputs in the lanes of vectors, the same operations in the same order
 * on each lane. The lanes must be at the same place in their step blocks
 * and noise windows (they are, unless one had invalid input): the ends
 * then fall on the same scan for all, where each lane's own end runs as
 * in dsp_tile_finish(). The step holds differ from lane to lane, but
 * only count down inside a stretch between ends, so they are done lane
 * by lane, once a stretch. Return: 0 if the lanes are not in step
 * (nothing done), else 1.
 */
static int dsp_tile_finish_lanes(struct dsp_chain *c, const double *buf,
				 const float *in, float *out, uint8_t *flags,
				 size_t stride, size_t n, struct dsp_run *r)
{
	const dsp_m2 abs_bits = { INT64_MAX, INT64_MAX };
	uint32_t s_len = c[0].step.block_len, s_n = c[0].step.acc_n;
	uint32_t n_len = c[0].noise.win_len, n_n = c[0].noise.acc_n;
	struct dsp_scan s_acc, s_peak, n_acc, sum_sq, peak;
	uint32_t hold[DSP_LANES], j;
	size_t l, t, u, m;

	if (s_n >= s_len || n_n >= n_len)
		return 0;
	for (l = 1; l < DSP_LANES; l++)
		if (c[l].step.block_len != s_len || c[l].step.acc_n != s_n ||
		    c[l].noise.win_len != n_len || c[l].noise.acc_n != n_n)
			return 0;
	for (l = 0; l < DSP_LANES; l++) {
		DSP_LANE(s_acc, l) = c[l].step.acc;
		DSP_LANE(s_peak, l) = c[l].step.acc_peak;
		DSP_LANE(n_acc, l) = c[l].noise.acc;
		DSP_LANE(sum_sq, l) = r[l].sum_sq;
		DSP_LANE(peak, l) = r[l].st.peak_uv;
		hold[l] = c[l].step.hold;
	}
	for (t = 0; t < n; t += m) {
		int s_end, n_end;

		/* up to the next block or window end, that one included */
		m = n - t;
		if (s_len - s_n < m)
			m = s_len - s_n;
		if (n_len - n_n < m)
			m = n_len - n_n;
		for (u = t; u < t + m; u++) {
#pragma GCC unroll 4
			for (j = 0; j < DSP_V2; j++) {
				dsp_v2 y = dsp_get2(&buf[u * DSP_LANES + 2 * j]);
				dsp_v2 ay = (dsp_v2)((dsp_m2)y & abs_bits);
				dsp_v2f yf = __builtin_convertvector(y, dsp_v2f);

				s_acc.v[j] += dsp_get2f(&in[u * stride + 2 * j]);
				s_peak.v[j] = dsp_max2(ay, s_peak.v[j]);
				memcpy(&out[u * stride + 2 * j], &yf, sizeof(yf));
				sum_sq.v[j] += y * y;
				peak.v[j] = dsp_max2(ay, peak.v[j]);
				n_acc.v[j] += ay;
			}
			if (flags)
				memset(&flags[u * stride], 0, DSP_LANES);
		}
		s_n += (uint32_t)m;
		n_n += (uint32_t)m;
		s_end = s_n == s_len;
		n_end = n_n == n_len;
		/* the holds before the block end, if any, then at it */
		for (l = 0; l < DSP_LANES; l++) {
			uint32_t k = hold[l] < m - s_end ? hold[l]
							 : (uint32_t)(m - s_end);

			if (!k)
				continue;
			if (flags)
				for (u = t; u < t + k; u++)
					flags[u * stride + l] = DSP_FLAG_STEP;
			hold[l] -= k;
			r[l].st.n_steps += k;
		}
		if (s_end) {
			for (l = 0; l < DSP_LANES; l++) {
				struct dsp_step_detector *s = &c[l].step;

				s->acc = DSP_LANE(s_acc, l);
				s->acc_peak = DSP_LANE(s_peak, l);
				s->acc_n = s_n;
				s->hold = hold[l];
				dsp_step_end_block(s);
				hold[l] = s->hold;
				if (hold[l]) {
					hold[l]--;
					if (flags)
						flags[(t + m - 1) * stride + l] =
							DSP_FLAG_STEP;
					r[l].st.n_steps++;
				}
			}
			memset(&s_acc, 0, sizeof(s_acc));
			memset(&s_peak, 0, sizeof(s_peak));
			s_n = 0;
		}
		if (n_end) {
			for (l = 0; l < DSP_LANES; l++) {
				struct dsp_noise_floor *nf = &c[l].noise;

				nf->acc = DSP_LANE(n_acc, l);
				nf->acc_n = n_n;
				dsp_noise_window_end(nf);
				DSP_LANE(n_acc, l) = nf->acc;
			}
			n_n = 0;	/* as the window's end leaves it */
		}
	}
	for (l = 0; l < DSP_LANES; l++) {
		c[l].step.acc = DSP_LANE(s_acc, l);
		c[l].step.acc_peak = DSP_LANE(s_peak, l);
		c[l].step.acc_n = s_n;
		c[l].step.hold = hold[l];
		c[l].noise.acc = DSP_LANE(n_acc, l);
		c[l].noise.acc_n = n_n;
		r[l].sum_sq = DSP_LANE(sum_sq, l);
		r[l].st.peak_uv = DSP_LANE(peak, l);
		r[l].n_valid += (uint32_t)n;
	}
	dsp_lanes_finished++;
	return 1;
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
	if (n_lanes == DSP_LANES &&
	    dsp_tile_finish_lanes(c, buf, in, out, flags, stride, n, run))
		return;
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
void dsp_one_run(struct dsp_chain *c, const float *in, float *out,
		 uint8_t *flags, size_t n, size_t stride, struct dsp_run *r)
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

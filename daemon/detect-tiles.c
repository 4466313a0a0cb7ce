/* detect-tiles.c - detect.c's per-sample path in tiles of scans, faster.
 *
 * detect_tile() does the work of detect_scan() for up to DETECT_TILE scans
 * in three passes, with the same results to the bit; an AVX2 variant
 * (chosen at run time, no FMA) takes four channels at once. The decisions
 * on busy channels, slots, PLM and epochs are detect.c's own functions.
 * Memory: the detector's tile buffers, allocated in detect_new().
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "detect-priv.h"

/*
 * The work of detect_scan(), reordered, with the same results to the bit.
 * Nearly always a channel is idle (no candidate, no episode, no limb
 * movement): then an aligned sample only feeds the histories and floors
 * and is compared with two thresholds, and no other channel, slot or
 * epoch sees any of it. A tile of scans runs in three passes:
 *  1. input time, channel after channel: TKEO, moving mean, delay line
 *     into tile_x/e/st (this never depends on anything else);
 *  2. each idle channel alone, up to its first sample that is not plain
 *     quiet (a threshold or the LM onset rule crossed, invalid data, a
 *     DSP step): detect_aligned() with the decision reduced to the
 *     comparisons that keep it idle;
 *  3. scan by scan as detect_scan(): each channel from where pass 2
 *     stopped, then slots, PLM and epochs; a channel idle again goes on
 *     alone through pass 2.
 * The one thing read across channels of an idle one is its |x| floor when
 * an epoch is published, so a tile ends with the scan that publishes.
 * Where AVX2 is, passes 1 and 2 take four channels at once as far as they
 * can (detect_tile_four()). test-detect sets detect_fast_off (detect.c)
 * to compare all this with detect_scan(), and detect_avx2_off.
 */

/* Two doubles, what every target has in a vector (SSE2, NEON): the
 * envelope's divisions two at a time (IEEE division per lane: the same
 * quotients). */
typedef double detect_v2 __attribute__((vector_size(2 * sizeof(double))));

/* Pass 1 for channel @c, items @i0 to @m of the tile of scans from @n0;
 * @in and @fl point to the channel's sample in scan n0 (stride
 * n_channels). detect_input() with the channel's state in registers, and
 * the divisions in a second loop. */
static void detect_tile_input(struct detector *d, uint32_t c,
			      const float *in, const uint8_t *fl, uint32_t i0,
			      uint32_t m, uint64_t n0)
{
	struct detect_chan *ch = &d->ch[c];
	const size_t stride = d->n_channels;
	const uint32_t psi_len = d->psi_len, dl_len = d->dl_len;
	float *tx = d->tile_x + (size_t)c * DETECT_TILE;
	double *te = d->tile_e + (size_t)c * DETECT_TILE;
	uint8_t *ts = d->tile_st + (size_t)c * DETECT_TILE;
	double x1 = ch->x1, x2 = ch->x2, psi_sum = ch->psi_sum;
	double psi_fresh = ch->psi_fresh, *psi = ch->psi;
	const double len = psi_len;
	const detect_v2 len2 = { len, len };
	uint32_t tk_n = ch->tk_n, psi_pos = ch->psi_pos, dl_pos = ch->dl_pos;
	float *dl_x = ch->dl_x;
	uint8_t *dl_state = ch->dl_state;
	uint64_t n_invalid = 0;
	uint32_t i, k;

	for (i = i0; i < m; i++) {
		double v = in[i * stride], p = 0.0;
		uint8_t f = fl ? fl[i * stride] : 0;
		uint32_t old = dl_pos + 1 == dl_len ? 0 : dl_pos + 1;
		int inv = !isfinite(v) || (f & DSP_FLAG_INVALID);

		/* as detect_input() */
		if (inv) {
			n_invalid++;
			v = 0.0;
			tk_n = 0;
			for (k = 0; k < psi_len; k++)
				psi[k] = 0.0;
			psi_sum = 0.0;
			psi_fresh = 0.0;
		} else {
			if (tk_n >= 2)
				p = fabs(x1 * x1 - v * x2);
			x2 = x1;
			x1 = v;
			if (tk_n < UINT32_MAX)
				tk_n++;
		}
		detect_movsum_push(psi, psi_len, &psi_pos, &psi_sum, &psi_fresh, p);
		te[i] = psi_sum;
		dl_x[dl_pos] = (float)v;
		dl_state[dl_pos] = inv ? AL_INVALID : AL_VALID;
		dl_pos = old;
		tx[i] = dl_x[old];
		ts[i] = (n0 + i < d->delay ? AL_NONE : dl_state[old]) |
			(f & DSP_FLAG_STEP ? AL_STEP : 0);
	}
	ch->x1 = x1;
	ch->x2 = x2;
	ch->psi_sum = psi_sum;
	ch->psi_fresh = psi_fresh;
	ch->tk_n = tk_n;
	ch->psi_pos = psi_pos;
	ch->dl_pos = dl_pos;
	d->counters.n_invalid_samples += n_invalid;
	for (i = i0; i + 2 <= m; i += 2) {
		detect_v2 q;

		memcpy(&q, &te[i], sizeof(q));
		q /= len2;
		memcpy(&te[i], &q, sizeof(q));
	}
	for (; i < m; i++)
		te[i] /= len;
}

static int detect_idle(const struct detect_chan *ch)
{
	return ch->fs == FAST_IDLE && !ch->ep_active && ch->lm_state == LM_IDLE;
}

#if defined(__x86_64__) && defined(__GNUC__)
/*
 * Where the processor has AVX2 (checked at run time, as in dsp.c: the
 * build stays x86-64 baseline), pass 1 of four channels at once, one in
 * each lane of a vector: the same operations as detect_input(), lane by
 * lane, so the same results (AVX2 only, no FMA: GCC contracts only where
 * the target has one). Only while every sample of the four is valid and
 * unflagged; from the first one that is not, detect_tile_input() goes on
 * channel by channel.
 */
#define DETECT_AVX2		1
#define DETECT_V4_RING		64	/* longest psi and delay rings */

typedef double detect_v4 __attribute__((vector_size(4 * sizeof(double))));
typedef float detect_v4f __attribute__((vector_size(4 * sizeof(float))));
typedef int64_t detect_i4 __attribute__((vector_size(4 * sizeof(int64_t))));
typedef int32_t detect_i4f __attribute__((vector_size(4 * sizeof(int32_t))));

/* test-detect turns it off to test the other path on an AVX2 machine */
static int detect_avx2_off;

/* Can channels @c to c + 3 take detect_tile_input4_avx2()? */
static int detect_tile_input4_ok(const struct detector *d, uint32_t c)
{
	uint32_t l, k;

	if (detect_avx2_off || c + 4 > d->n_channels ||
	    d->psi_len > DETECT_V4_RING || d->dl_len > DETECT_V4_RING ||
	    !__builtin_cpu_supports("avx2"))
		return 0;
	for (l = 0; l < 4; l++) {
		const struct detect_chan *ch = &d->ch[c + l];

		if (ch->tk_n < 2 || ch->psi_pos != d->ch[c].psi_pos ||
		    ch->dl_pos != d->ch[c].dl_pos)
			return 0;
		for (k = 0; k < d->dl_len; k++)
			if (ch->dl_state[k] != AL_VALID)
				return 0;
	}
	return 1;
}

/* Pass 1 of channels @c to c + 3 (see above) from the tile's first item.
 * Return: the items done, up to the first scan with an invalid or flagged
 * sample among them. */
__attribute__((target("avx2")))
static uint32_t detect_tile_input4_avx2(struct detector *d, uint32_t c,
					const float *in, const uint8_t *fl,
					uint32_t m, detect_v4 *e4,
					detect_v4f *x4)
{
	const size_t stride = d->n_channels;
	const uint32_t psi_len = d->psi_len, dl_len = d->dl_len;
	const detect_i4 abs_mask = {
		INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX
	};
	const detect_v4 inf = { INFINITY, INFINITY, INFINITY, INFINITY };
	const detect_v4 len = { psi_len, psi_len, psi_len, psi_len };
	detect_v4 x1, x2, sum, fresh, ring[DETECT_V4_RING];
	detect_v4f dl[DETECT_V4_RING];
	float *tx0 = d->tile_x + (size_t)c * DETECT_TILE;
	double *te0 = d->tile_e + (size_t)c * DETECT_TILE;
	uint32_t pos = d->ch[c].psi_pos, dl_pos = d->ch[c].dl_pos, i, k, l;

	for (l = 0; l < 4; l++) {
		struct detect_chan *ch = &d->ch[c + l];

		x1[l] = ch->x1;
		x2[l] = ch->x2;
		sum[l] = ch->psi_sum;
		fresh[l] = ch->psi_fresh;
		for (k = 0; k < psi_len; k++)
			ring[k][l] = ch->psi[k];
		for (k = 0; k < dl_len; k++)
			dl[k][l] = ch->dl_x[k];
	}
	for (i = 0; i < m; i++) {
		uint32_t old = dl_pos + 1 == dl_len ? 0 : dl_pos + 1, f4 = 0;
		detect_v4f vf;
		detect_v4 v, p;

		memcpy(&vf, &in[i * stride], sizeof(vf));
		if (fl)
			memcpy(&f4, &fl[i * stride], sizeof(f4));
		v = __builtin_convertvector(vf, detect_v4);
		/* NaN and Inf fail both comparisons */
		if (f4 || __builtin_ia32_movmskpd256((detect_v4)((v < inf) &
							       (v > -inf)))
			  != 0xf)
			break;
		p = (detect_v4)((detect_i4)(x1 * x1 - v * x2) & abs_mask);
		x2 = x1;
		x1 = v;
		sum += p - ring[pos];
		ring[pos] = p;
		fresh += p;
		if (++pos == psi_len) {
			pos = 0;
			sum = fresh;
			fresh = (detect_v4){ 0.0, 0.0, 0.0, 0.0 };
		}
		dl[dl_pos] = vf;
		dl_pos = old;
		e4[i] = sum / len;
		x4[i] = dl[old];
		te0[i] = e4[i][0];
		te0[DETECT_TILE + i] = e4[i][1];
		te0[2 * DETECT_TILE + i] = e4[i][2];
		te0[3 * DETECT_TILE + i] = e4[i][3];
		tx0[i] = x4[i][0];
		tx0[DETECT_TILE + i] = x4[i][1];
		tx0[2 * DETECT_TILE + i] = x4[i][2];
		tx0[3 * DETECT_TILE + i] = x4[i][3];
	}
	for (l = 0; l < 4; l++) {
		struct detect_chan *ch = &d->ch[c + l];
		uint8_t *ts = d->tile_st + (size_t)(c + l) * DETECT_TILE;

		ch->x1 = x1[l];
		ch->x2 = x2[l];
		ch->psi_sum = sum[l];
		ch->psi_fresh = fresh[l];
		ch->psi_pos = pos;
		ch->dl_pos = dl_pos;
		ch->tk_n = UINT32_MAX - ch->tk_n > i ? ch->tk_n + i
						     : UINT32_MAX;
		for (k = 0; k < psi_len; k++)
			ch->psi[k] = ring[k][l];
		for (k = 0; k < dl_len; k++)
			ch->dl_x[k] = dl[k][l];
		memset(ts, AL_VALID, i);
	}
	return i;
}

/* Can idle channels @c to c + 3 take detect_tile_quiet4_avx2()? */
static int detect_tile_quiet4_ok(const struct detector *d, uint32_t c)
{
	const struct detect_chan *c0 = &d->ch[c];
	uint32_t l;

	for (l = 0; l < 4; l++) {
		const struct detect_chan *ch = &d->ch[c + l];

		if (!detect_idle(ch) || ch->is_lm ||
		    ch->hist_pos != c0->hist_pos || ch->a_pos != c0->a_pos ||
		    ch->nf_e.acc_n != c0->nf_e.acc_n ||
		    ch->nf_a.acc_n != c0->nf_a.acc_n ||
		    ch->nf_e.win_len != c0->nf_e.win_len ||
		    ch->nf_a.win_len != c0->nf_a.win_len)
			return 0;
	}
	return 1;
}

/* Pass 2 of idle channels @c to c + 3 at once over items @j to @end, which
 * pass 1 put in @e4 and @x4: the short loop of detect_tile_quiet(), lane
 * by lane the same operations. Stops before an item that ends a noise
 * window or would leave one of them idle, or where one of them is in its
 * invalid guard. Return: the first item not done. */
__attribute__((target("avx2")))
static uint32_t detect_tile_quiet4_avx2(struct detector *d, uint32_t c,
					const detect_v4 *e4,
					const detect_v4f *x4, uint32_t j,
					uint32_t end, uint64_t n0)
{
	const struct detect_chan *c0 = &d->ch[c];
	const uint32_t hist_len = d->hist_len, a_len = d->a_len;
	const uint32_t j0 = j;
	const int32_t abs_mask = INT32_MAX;
	detect_v4 t_off, a_on, a_sum, a_fresh, acc_e, acc_a;
	uint32_t hist_pos = c0->hist_pos, a_pos = c0->a_pos, l, k;
	float *h0 = c0[0].hist, *h1 = c0[1].hist, *h2 = c0[2].hist;
	float *h3 = c0[3].hist, *r0 = c0[0].a_ring, *r1 = c0[1].a_ring;
	float *r2 = c0[2].a_ring, *r3 = c0[3].a_ring;

	if (end - j > c0->nf_e.win_len - c0->nf_e.acc_n - 1)
		end = j + (c0->nf_e.win_len - c0->nf_e.acc_n - 1);
	if (end - j > c0->nf_a.win_len - c0->nf_a.acc_n - 1)
		end = j + (c0->nf_a.win_len - c0->nf_a.acc_n - 1);
	for (l = 0; l < 4; l++) {
		const struct detect_chan *ch = &d->ch[c + l];
		double floor_e = dsp_noise_floor(&ch->nf_e);
		double rest = dsp_noise_floor(&ch->nf_a);

		if (ch->had_invalid && n0 + j - d->delay <= ch->invalid_until)
			return j;
		/* as in detect_tile_quiet() */
		t_off[l] = d->cfg.threshold_off * floor_e;
		a_on[l] = d->cfg.amp_threshold * (rest * DETECT_MAV_TO_RMS);
		if (!(floor_e > 1e-12) || !(rest > 1e-9))
			t_off[l] = a_on[l] = INFINITY;
		a_sum[l] = ch->a_sum;
		a_fresh[l] = ch->a_fresh;
		acc_e[l] = ch->nf_e.acc;
		acc_a[l] = ch->nf_a.acc;
	}
	for (; j < end; j++) {
		detect_v4f axf = (detect_v4f)((detect_i4f)x4[j] & abs_mask);
		detect_v4f old = { r0[a_pos], r1[a_pos], r2[a_pos], r3[a_pos] };
		detect_v4 ax = __builtin_convertvector(axf, detect_v4);

		if (__builtin_ia32_movmskpd256((detect_v4)((e4[j] >= t_off) |
							  (ax >= a_on))))
			break;
		h0[hist_pos] = x4[j][0];
		h1[hist_pos] = x4[j][1];
		h2[hist_pos] = x4[j][2];
		h3[hist_pos] = x4[j][3];
		r0[a_pos] = axf[0];
		r1[a_pos] = axf[1];
		r2[a_pos] = axf[2];
		r3[a_pos] = axf[3];
		if (++hist_pos == hist_len)
			hist_pos = 0;
		a_sum += __builtin_convertvector(axf - old, detect_v4);
		a_fresh += ax;
		if (++a_pos == a_len) {
			a_pos = 0;
			a_sum = a_fresh;
			a_fresh = (detect_v4){ 0.0, 0.0, 0.0, 0.0 };
		}
		acc_e += e4[j];
		acc_a += ax;
	}
	k = j - j0;
	for (l = 0; l < 4 && k; l++) {
		struct detect_chan *ch = &d->ch[c + l];

		ch->hist_pos = hist_pos;
		ch->hist_n = hist_len - ch->hist_n > k ? ch->hist_n + k
						       : hist_len;
		ch->a_pos = a_pos;
		ch->a_n = a_len - ch->a_n > k ? ch->a_n + k : a_len;
		ch->a_sum = a_sum[l];
		ch->a_fresh = a_fresh[l];
		ch->nf_e.acc = acc_e[l];
		ch->nf_e.acc_n += k;
		ch->nf_a.acc = acc_a[l];
		ch->nf_a.acc_n += k;
	}
	return j;
}
#endif

/* Pass 2 for idle channel @c from item @i. The same as
 * detect_aligned_update() and what detect_aligned_decide() does while
 * the channel stays idle, with the channel's running sums and positions,
 * and dsp_noise_push()'s, in registers. Between the ends of noise
 * windows the floors, and so the thresholds, stay: there a sample that
 * would leave idle is found before it changes anything (pass 3 then does
 * all of it), and the others take a short loop. Return: the first item
 * left to pass 3; *ret_updated is 1 if detect_aligned_update() has seen
 * it. */
static uint32_t detect_tile_quiet(struct detector *d, uint32_t c, uint32_t i,
				  uint32_t m, uint64_t n0, int *ret_updated)
{
	struct detect_chan *ch = &d->ch[c];
	struct dsp_noise_floor *nfe = &ch->nf_e, *nfa = &ch->nf_a;
	const float *tx = d->tile_x + (size_t)c * DETECT_TILE;
	const double *te = d->tile_e + (size_t)c * DETECT_TILE;
	const uint8_t *ts = d->tile_st + (size_t)c * DETECT_TILE;
	const uint32_t hist_len = d->hist_len, a_len = d->a_len;
	float *hist = ch->hist, *a_ring = ch->a_ring;
	uint32_t hist_pos = ch->hist_pos, hist_n = ch->hist_n;
	uint32_t a_pos = ch->a_pos, a_n = ch->a_n;
	double a_sum = ch->a_sum, a_fresh = ch->a_fresh;
	double acc_e = nfe->acc, acc_a = nfa->acc;
	uint32_t n_e = nfe->acc_n, n_a = nfa->acc_n;
	uint32_t st_e = nfe->acc_state, st_a = nfa->acc_state;
	double floor_e = -1.0, rest = -1.0, t_off = 0.0, a_on = 0.0;
	int updated = 0;

	while (i < m) {
		uint64_t t = n0 + i - d->delay;
		unsigned int state = ch->had_invalid && t <= ch->invalid_until ?
				     DSP_NOISE_INVALID : DSP_NOISE_QUIET;
		uint32_t end = m, j, k;
		double e;
		float x, ax;

		if (dsp_noise_floor(nfe) != floor_e ||
		    dsp_noise_floor(nfa) != rest) {
			/* as in detect_aligned_decide(); t_on > t_off, so
			 * e >= t_on implies e >= t_off */
			floor_e = dsp_noise_floor(nfe);
			rest = dsp_noise_floor(nfa);
			t_off = d->cfg.threshold_off * floor_e;
			a_on = d->cfg.amp_threshold *
			       (rest * DETECT_MAV_TO_RMS);
			if (!(floor_e > 1e-12) || !(rest > 1e-9))
				t_off = a_on = INFINITY;	/* warming up */
		}
		/* the short loop: no window ends, the state stays, no LM */
		if (end - i > nfe->win_len - n_e - 1)
			end = i + (nfe->win_len - n_e - 1);
		if (end - i > nfa->win_len - n_a - 1)
			end = i + (nfa->win_len - n_a - 1);
		if (state != DSP_NOISE_QUIET &&
		    end - i > ch->invalid_until - t + 1)
			end = i + (uint32_t)(ch->invalid_until - t + 1);
		if (ch->is_lm)
			end = i;
		for (j = i; j < end; j++) {
			e = te[j];
			x = tx[j];
			ax = fabsf(x);
			if (ts[j] != AL_VALID || e >= t_off || ax >= a_on)
				break;
			hist[hist_pos] = x;
			if (++hist_pos == hist_len)
				hist_pos = 0;
			detect_movsum_push_f(a_ring, a_len, &a_pos, &a_sum, &a_fresh, ax);
			acc_e += e;
			acc_a += ax;
		}
		k = j - i;
		if (k) {
			hist_n = hist_len - hist_n > k ? hist_n + k : hist_len;
			a_n = a_len - a_n > k ? a_n + k : a_len;
			n_e += k;
			n_a += k;
			if (state > st_e)
				st_e = state;
			if (state > st_a)
				st_a = state;
		}
		i = j;
		if (i == m)
			break;
		if (ts[i] == AL_NONE) {
			i++;
			continue;
		}
		if (i < end || ts[i] != AL_VALID)
			break;	/* not idle: pass 3 does all of it */
		/* one sample the long way: a window ends, or the state
		 * changes, or an LM channel */
		t = n0 + i - d->delay;
		state = ch->had_invalid && t <= ch->invalid_until ?
			DSP_NOISE_INVALID : DSP_NOISE_QUIET;
		e = te[i];
		x = tx[i];
		ax = fabsf(x);
		hist[hist_pos] = x;
		if (++hist_pos == hist_len)
			hist_pos = 0;
		if (hist_n < hist_len)
			hist_n++;
		if (a_n < a_len)
			a_n++;
		detect_movsum_push_f(a_ring, a_len, &a_pos, &a_sum, &a_fresh, ax);
		dsp_noise_push_held(nfe, &acc_e, &n_e, &st_e, e, state);
		dsp_noise_push_held(nfa, &acc_a, &n_a, &st_a, ax, state);
		/* detect_aligned_decide() while idle, on the new floors */
		floor_e = dsp_noise_floor(nfe);
		rest = dsp_noise_floor(nfa);
		if (!(floor_e > 1e-12) || !(rest > 1e-9)) {
			floor_e = -1.0;	/* thresholds again next time */
			i++;
			continue;
		}
		t_off = d->cfg.threshold_off * floor_e;
		a_on = d->cfg.amp_threshold * (rest * DETECT_MAV_TO_RMS);
		if (e >= t_off || ax >= a_on) {
			updated = 1;
			break;
		}
		if (ch->is_lm && a_n >= a_len) {
			double a = a_sum / a_len;

			if (a <= rest + d->cfg.lm_end_uv)
				ch->lm_low = t;
			if (!(a < rest + d->cfg.lm_onset_uv)) {
				updated = 1;
				break;
			}
		}
		i++;
	}
	ch->hist_pos = hist_pos;
	ch->hist_n = hist_n;
	ch->a_pos = a_pos;
	ch->a_n = a_n;
	ch->a_sum = a_sum;
	ch->a_fresh = a_fresh;
	nfe->acc = acc_e;
	nfe->acc_n = n_e;
	nfe->acc_state = st_e;
	nfa->acc = acc_a;
	nfa->acc_n = n_a;
	nfa->acc_state = st_a;
	*ret_updated = updated;
	return i;
}

#ifdef DETECT_AVX2
/* Passes 1 and 2 of channels @c to c + 3 of a tile of @m scans from @n0,
 * four at a time as far as they can: next[] and *updated as in
 * detect_tile(). Return: 0 if they cannot. */
static int detect_tile_four(struct detector *d, uint32_t c, const float *in,
			    const uint8_t *fl, uint32_t m, uint64_t n0,
			    uint32_t *next, uint64_t *updated)
{
	detect_v4 e4[DETECT_TILE];
	detect_v4f x4[DETECT_TILE];
	uint32_t k, j, l, stop = 0;
	int upd[4] = { 0, 0, 0, 0 }, vec;

	if (!detect_tile_input4_ok(d, c))
		return 0;
	k = detect_tile_input4_avx2(d, c, in, fl, m, e4, x4);
	for (l = 0; l < 4; l++) {
		uint8_t *ts = d->tile_st + (size_t)(c + l) * DETECT_TILE;

		for (j = 0; j < k && n0 + j < d->delay; j++)
			ts[j] = AL_NONE;
		detect_tile_input(d, c + l, in + l, fl ? fl + l : NULL, k, m,
				  n0);
		next[l] = 0;
	}
	j = 0;
	while (n0 + j < d->delay && j < k)
		j++;		/* AL_NONE in every lane */
	vec = detect_tile_quiet4_ok(d, c);
	while (vec && j < k) {
		j = detect_tile_quiet4_avx2(d, c, e4, x4, j, k, n0);
		if (j == k)
			break;
		/* this item the long way, lane by lane */
		for (l = 0; l < 4; l++)
			if (detect_tile_quiet(d, c + l, j, j + 1, n0,
					      &upd[l]) == j)
				stop |= 1u << l;
		if (stop)
			break;
		j++;
	}
	for (l = 0; l < 4; l++) {
		if (vec && (stop >> l & 1)) {
			next[l] = j;	/* not idle at item j */
		} else {
			next[l] = !vec ? 0 : stop ? j + 1 : j;
			upd[l] = 0;
			if (detect_idle(&d->ch[c + l]))
				next[l] = detect_tile_quiet(d, c + l, next[l],
							    m, n0, &upd[l]);
		}
		if (upd[l])
			*updated |= UINT64_C(1) << (c + l);
	}
	return 1;
}
#endif

/* Pass 3 for item @i of channel @c (scan n0 + i), as detect_scan(); bit c
 * of *updated says whether pass 2 has done its first half. If that leaves
 * the channel idle, pass 2 goes on from the next item. Return: the next
 * item of the channel for pass 3. */
static uint32_t detect_tile_item(struct detector *d, uint32_t c, uint32_t i,
				 uint32_t m, uint64_t n0, uint64_t *updated)
{
	size_t k = (size_t)c * DETECT_TILE + i;
	uint64_t n = n0 + i, bit = UINT64_C(1) << c;
	uint8_t st = d->tile_st[k];
	uint32_t next = i + 1;
	int upd = 0;

	if (st & AL_STEP) {
		d->ch[c].last_step = n;
		detect_slot_mark_step(d, c, n);
	}
	switch (st & ~AL_STEP) {
	case AL_INVALID:
		detect_invalid(d, c, n - d->delay);
		break;
	case AL_VALID:
		if (*updated & bit)
			detect_aligned_decide(d, c, n - d->delay, d->tile_x[k],
					      d->tile_e[k]);
		else
			detect_aligned(d, c, n - d->delay, d->tile_x[k],
				       d->tile_e[k]);
		break;
	default:
		break;
	}
	/* idle again: on alone, ahead of the others */
	if (detect_idle(&d->ch[c]))
		next = detect_tile_quiet(d, c, i + 1, m, n0, &upd);
	*updated = upd ? *updated | bit : *updated & ~bit;
	return next;
}

/* A tile of @m scans from @n0 (see above). */
void detect_tile(struct detector *d, const float *in, const uint8_t *fl,
		 uint32_t m, uint64_t n0)
{
	const uint32_t nch = d->n_channels;
	uint32_t next[DETECT_MAX_CHANNELS], first = m, c, i;
	uint64_t updated = 0;

	for (c = 0; c < nch; c++) {
		int upd = 0;

#ifdef DETECT_AVX2
		if (c % 4 == 0 && c + 4 <= nch &&
		    detect_tile_four(d, c, in + c, fl ? fl + c : NULL, m, n0,
				     &next[c], &updated)) {
			for (i = 0; i < 4; i++)
				if (next[c + i] < first)
					first = next[c + i];
			c += 3;
			continue;
		}
#endif
		detect_tile_input(d, c, in + c, fl ? fl + c : NULL, 0, m, n0);
		next[c] = 0;
		if (detect_idle(&d->ch[c]))
			next[c] = detect_tile_quiet(d, c, 0, m, n0, &upd);
		if (upd)
			updated |= UINT64_C(1) << c;
		if (next[c] < first)
			first = next[c];
	}
	for (i = 0; i < m; i++) {
		uint64_t n;

		/* no channel runs before scan first: if no slot or LM waits
		 * either, only the clock moves until then (no epoch is due
		 * before the tile's last scan) */
		if (i < first && !d->n_open_slots && !d->plm_n)
			i = (first < m ? first : m) - 1;
		n = n0 + i;
		if (i >= first) {
			first = m;
			for (c = 0; c < nch; c++) {
				if (i >= next[c])
					next[c] = detect_tile_item(d, c, i, m,
								   n0,
								   &updated);
				if (next[c] < first)
					first = next[c];
			}
		}
		detect_scan_done(d, n);
	}
}

/* Scans in the next tile from @n0, at most @m: it ends with the scan that
 * publishes an epoch (the t_now of detect_epoch_tick()). */
uint32_t detect_tile_len(const struct detector *d, uint64_t n0, uint32_t m)
{
	uint64_t due = (d->epoch_next + 1) * d->epoch_len + d->epoch_hold;

	if (d->t_now >= due || due + d->delay <= n0)
		return 1;
	if (due + d->delay - n0 < m)
		return (uint32_t)(due + d->delay - n0) + 1;
	return m;
}

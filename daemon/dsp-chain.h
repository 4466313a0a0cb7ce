/* dsp-chain.h - what dsp.c and dsp-lanes.c share; private to the two.
 *
 * The per-sample path is inline because both run it inside their loops.
 * What it and the fast paths call less often than once a sample (on a
 * restart, a mains decision, the end of a step block, once a stretch
 * or a call) is out of line: in dsp.c, but dsp_one_run() in dsp-lanes.c.
 * None of these allocate, block or log; pointers are borrowed.
 */
#ifndef TWITCHD_DSP_CHAIN_H
#define TWITCHD_DSP_CHAIN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "dsp.h"

/* The statistics of one call, while it runs. */
struct dsp_run {
	struct dsp_block_stats st;
	double sum_sq;
	uint32_t n_valid;
};

/* dsp_select() - use the sections of mains family @hz (0, 50, 60; 110 =
 * both, in DSP_MAINS_AUTO only); sets c->mains_hz. */
void dsp_select(struct dsp_chain *c, unsigned int hz);

/* dsp_chain_settle() - every active section to its steady state for the
 * constant input @x (uV). */
void dsp_chain_settle(struct dsp_chain *c, double x);

/* dsp_mains_abort_block() - drop the detector's unfinished 1-s block
 * (its samples so far; it still ends where it would have). */
void dsp_mains_abort_block(struct dsp_mains_detector *m);
/* dsp_mains_skip() - an invalid sample: its place in the block, no value;
 * the block is dropped when it ends. */
void dsp_mains_skip(struct dsp_mains_detector *m);

/* dsp_step_reset() - forget the step detector's blocks and hold. */
void dsp_step_reset(struct dsp_step_detector *s);

/* dsp_step_end_block() - a full block (acc_n == block_len) into the ring;
 * may start a hold of DSP_FLAG_STEP. */
void dsp_step_end_block(struct dsp_step_detector *s);

/* dsp_chain_run() - @n samples of one channel through dsp_chain_sample(),
 * element i at [i * @stride]; statistics added to @r. */
void dsp_chain_run(struct dsp_chain *c, const float *in, float *out,
		   uint8_t *flags, size_t n, size_t stride, struct dsp_run *r);

/* dsp_one_run() - dsp_chain_run(), faster on long plain stretches
 * (dsp-lanes.c); its stack holds two 8 KiB tiles. */
void dsp_one_run(struct dsp_chain *c, const float *in, float *out,
		 uint8_t *flags, size_t n, size_t stride, struct dsp_run *r);

/* dsp_chain_end() - the end of a call of @n samples: flush subnormal
 * state, and *@ret_stats (NULL: none) from @r. */
void dsp_chain_end(struct dsp_chain *c, const struct dsp_run *r, size_t n,
		   struct dsp_block_stats *ret_stats);

/* One sample through one section (transposed direct form II). */
static inline double dsp_biquad_run(struct dsp_biquad *s, double x)
{
	double y = s->b0 * x + s->s1;

	s->s1 = s->b1 * x - s->a1 * y + s->s2;
	s->s2 = s->b2 * x - s->a2 * y;
	return y;
}

/* Push one valid sample: @x raw input, @y filtered output. Return 1 if
 * this sample is to be flagged DSP_FLAG_STEP. */
static inline int dsp_step_push(struct dsp_step_detector *s, double x,
				double y)
{
	s->acc += x;
	if (fabs(y) > s->acc_peak)
		s->acc_peak = fabs(y);
	if (++s->acc_n >= s->block_len)
		dsp_step_end_block(s);
	if (s->hold) {
		s->hold--;
		return 1;
	}
	return 0;
}

/* Filter one sample @x of @c into *@out and *@flag (NULL: no flag): the
 * reference that every faster path equals to the bit. */
static inline void dsp_chain_sample(struct dsp_chain *c, double x, float *out,
				    uint8_t *flag, struct dsp_run *r)
{
	double y;
	uint8_t f = 0;
	uint32_t k;

	if (!isfinite(x)) {
		f = DSP_FLAG_NONFINITE;
		r->st.n_nonfinite++;
	} else if (c->saturation_uv > 0.0 && fabs(x) >= c->saturation_uv) {
		f = DSP_FLAG_SATURATED;
		r->st.n_saturated++;
	}
	if (f) {
		*out = 0.0f;
		if (flag)
			*flag = f;
		if (!c->need_init) {
			c->need_init = 1;
			dsp_mains_abort_block(&c->mains_det);
			dsp_step_reset(&c->step);
		}
		if (c->mains_hz == 110)
			dsp_mains_skip(&c->mains_det);
		dsp_noise_push(&c->noise, 0.0, DSP_NOISE_INVALID);
		return;
	}
	if (c->need_init) {
		dsp_chain_settle(c, x);
		c->need_init = 0;
		f |= DSP_FLAG_RESTART;
		r->st.n_restarts++;
	}
	y = x;
	for (k = 0; k < c->n_hp; k++)
		y = dsp_biquad_run(&c->sec[c->active[k]], y);
	if (c->mains_hz == 110) {
		dsp_mains_push(&c->mains_det, y);
		if (c->mains_det.pos == 0) {
			unsigned int hz = dsp_mains_decide(&c->mains_det);

			if (hz)
				dsp_select(c, hz);
		}
	}
	for (; k < c->n_active; k++)
		y = dsp_biquad_run(&c->sec[c->active[k]], y);
	if (!isfinite(y)) {
		/* only reachable with absurd finite input; never let it
		 * stay in the state */
		*out = 0.0f;
		if (flag)
			*flag = DSP_FLAG_NONFINITE;
		r->st.n_nonfinite++;
		c->need_init = 1;
		dsp_noise_push(&c->noise, 0.0, DSP_NOISE_INVALID);
		return;
	}
	if (dsp_step_push(&c->step, x, y)) {
		f |= DSP_FLAG_STEP;
		r->st.n_steps++;
	}
	*out = (float)y;
	if (flag)
		*flag = f;
	r->sum_sq += y * y;
	r->n_valid++;
	if (fabs(y) > r->st.peak_uv)
		r->st.peak_uv = fabs(y);
	dsp_noise_push(&c->noise, fabs(y), DSP_NOISE_QUIET);
}

#endif /* TWITCHD_DSP_CHAIN_H */

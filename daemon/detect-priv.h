/* detect-priv.h - what detect.c and detect-tiles.c share: the detector's
 * state and the per-sample steps the tile path calls. Private to the
 * daemon (not installed); the public API is detect.h.
 */
#ifndef DETECT_PRIV_H
#define DETECT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "dsp.h"

#define DETECT_RATE_BINS	900	/* 1-s bins: 15 min */
#define DETECT_EPOCH_RING	16	/* epochs in flight per channel: the
					 * epoch_hold / epoch_len + 2 of them */
#define DETECT_PLM_QUEUE	64	/* LMs awaiting onset order */
#define DETECT_MAX_LAGS		2	/* periods of 50 and 60 Hz */
#define DETECT_LADDER		16	/* onset levels: t_off x 4^k */
#define DETECT_MAX_POT		32	/* peaks kept per event; more:
					 * a burst anyway */
#define DETECT_MAX_UPDATES	32	/* update records per event */
#define DETECT_NO_INDEX		UINT64_MAX
#define DETECT_CP_MS		100.0	/* change-point search: the shortest
					 * burst (AASM phasic, 0.1 s) */
#define DETECT_CP_RISE		3.0	/* ... for a rise of the variance to
					 * this x the floor's: the smallest
					 * rise worth dating. 2 let the floor's
					 * own swings date a ramp 28 ms early
					 * (test-detect); 4 dates late */
#define DETECT_TILE		128	/* scans in a tile (see detect_tile) */

/* Gaussian noise: RMS = mean |x| * sqrt(pi / 2) */
#define DETECT_MAV_TO_RMS	1.2533141373155003

enum { FAST_IDLE, FAST_PRE, FAST_CAND, FAST_POT };
enum { LM_IDLE, LM_ACTIVE };
enum { AL_VALID, AL_INVALID, AL_NONE };	/* delay-line entries */
#define AL_STEP			0x04	/* tile item: DSP step at input */

/* What one channel saw of one event. */
struct detect_result {
	uint64_t onset;
	uint64_t last_offset;	/* end of the last potential (exclusive) */
	uint64_t pot_samples;	/* summed potential durations */
	uint64_t lm_onset, lm_end;
	uint32_t channel;
	uint32_t n_pot;
	uint32_t flags;
	uint32_t lm_valid;	/* the LM track ran and ended */
	uint32_t cur_pot;	/* index of the running potential */
	uint32_t n_late;	/* potentials past DETECT_MAX_POT that counted */
	uint32_t late_last;	/* 1 + index of the last of them (0: none) */
	uint64_t last_pot_samples;	/* duration of the last potential */
	uint64_t cp_onset;	/* variance change point before the first
				 * potential was confirmed (bursts) */
	double max_pot_peak;
	double peak;
	double energy;
	double abs_sum;		/* sum |x| over [onset, last_offset) */
	double noise_rms;
	double rest_mav;
	double mains_ratio;
	float pot_peak[DETECT_MAX_POT];
};

struct detect_slot {
	uint64_t id;
	uint64_t first_onset;
	uint64_t mask;
	uint64_t open_mask;
	uint32_t used;
	uint32_t has_best;
	uint32_t flags;
	uint32_t n_updates;	/* DETECT_EVENT_UPDATE records sent */
	double min_peak, max_peak;
	struct detect_result best;
	/* the updates': the largest result seen, and the last one sent */
	struct detect_result upd_best;
	uint32_t has_upd_best;
	struct detect_event upd_last;
};

struct detect_epoch_acc {
	uint64_t k;		/* epoch number */
	uint32_t used;
	uint32_t mini_mask;
	uint32_t n_twitches, n_fm, n_lm, n_art;
};

struct detect_chan {
	/* input-time history */
	uint32_t tk_n;
	double x1, x2;
	double *psi;		/* ring of |TKEO|, psi_len */
	double psi_sum;
	double psi_fresh;	/* sum of psi[0, psi_pos) in order: what
				 * psi_sum is recomputed to on wrapping */
	uint32_t psi_pos;
	float *dl_x;		/* delay line, dl_len */
	uint8_t *dl_state;
	uint32_t dl_pos;
	uint64_t last_step;	/* input index of the last DSP step flag */
	/* aligned-time state */
	float *a_ring;		/* |x| for the LM envelope, a_len */
	double a_sum;
	double a_fresh;		/* as psi_fresh, of a_ring[0, a_pos) */
	uint32_t a_pos, a_n;
	uint64_t invalid_until;
	uint32_t had_invalid;
	struct dsp_noise_floor nf_e;	/* TKEO envelope floor (uV^2) */
	struct dsp_noise_floor nf_a;	/* mean |x| floor (uV) */
	/* fast track */
	uint32_t fs;
	uint32_t below;
	uint64_t pre_onset, off_idx, pot_onset;
	double pot_peak;
	double pot_peak_e;	/* max envelope in the running potential */
	double shadow_peak;	/* last event's peak and end, for the */
	uint64_t shadow_from;	/* expected ringing after it */
	uint64_t ladder[DETECT_LADDER];	/* first index e >= t_off 4^k */
	uint32_t n_ladder;
	double ladder_base;	/* t_off when the candidate began */
	uint32_t first_pot_open;	/* refining the episode's onset */
	uint32_t update_sent;	/* for the running potential's quiet */
	/* episode */
	uint32_t ep_active;
	uint32_t slot;
	uint32_t is_lm;
	struct detect_result ep;
	double abs_run, energy_run;	/* running sums since onset */
	uint64_t g_n;		/* samples in the periodicity sums */
	double sxx;
	double sxy[DETECT_MAX_LAGS], syy[DETECT_MAX_LAGS];
	float *hist;		/* aligned samples: mains lags, change point */
	uint32_t hist_pos, hist_n;
	/* LM track */
	uint32_t lm_state;
	uint32_t lm_quiet;
	uint64_t lm_low, lm_onset, lm_quiet_start;
	/* epochs, rates */
	struct detect_epoch_acc epochs[DETECT_EPOCH_RING];
	uint32_t efm_counts[DETECT_EFM_MAX_EPOCHS];
	uint32_t efm_pos, efm_n;
	uint32_t *rate_bins;
	uint64_t rate_sec;	/* second of the newest bin */
};

struct detector {
	struct detect_config cfg;
	double rate_hz;
	uint32_t n_channels;
	/* derived, in samples */
	uint32_t psi_len, dl_len, a_len, delay;
	uint32_t in_delay;	/* the filters' delay: onsets are reported
				 * this much earlier (detect_set_input_delay) */
	uint32_t refr, min_pot, fragment, group_gap, merge, wait, guard;
	uint32_t update_after;	/* quiet samples before an update record */
	double shadow_tau;	/* samples */
	uint32_t fasc_max, myo_max, phasic_min, phasic_max;
	uint32_t lm_quiet_len, lm_min, lm_max;
	uint64_t max_event, plm_hold;
	uint64_t plm_min_imi, plm_max_imi, plm_bilateral;
	uint64_t epoch_len, epoch_hold;
	uint32_t n_mini, efm_epochs;
	uint32_t n_lags, hist_len, cp_len;
	double lag[DETECT_MAX_LAGS];	/* mains periods in samples */
	/* channels and events */
	struct detect_chan *ch;
	struct detect_slot *slots;
	uint32_t n_slots, n_open_slots;
	uint64_t next_id;
	/* time */
	uint32_t started;
	uint64_t next_index;	/* expected first_sample_index */
	uint64_t t_now;		/* aligned time of the last scan */
	uint64_t t_start;
	uint64_t epoch_next;	/* next epoch number to emit */
	uint64_t epoch_first;
	/* PLM */
	struct { uint64_t onset, mask; } plm_q[DETECT_PLM_QUEUE];
	uint32_t plm_n;
	uint32_t plm_have_last, plm_have_counted;
	uint64_t plm_last_onset, plm_last_mask, plm_last_counted;
	struct detect_sleep_stats sleep;
	struct detect_counters counters;
	/* a tile of aligned samples, channel after channel (detect_tile) */
	float *tile_x;
	double *tile_e;
	uint8_t *tile_st;	/* AL_* | AL_STEP */
	/* callbacks of the current call */
	detect_event_fn *sink;
	void *sink_data;
	detect_epoch_fn *epoch_sink;
	void *epoch_data;
	int n_finals;
};

/* detect.c */
void detect_epoch_publish(struct detector *d, uint64_t k);
void detect_plm_flush(struct detector *d, int all);
void detect_finalize(struct detector *d, struct detect_slot *s);
void detect_slot_mark_step(struct detector *d, uint32_t c,
			   uint64_t step_index);
void detect_invalid(struct detector *d, uint32_t c, uint64_t t);
void detect_aligned_update(const struct detector *d,
			   struct detect_chan *ch, uint64_t t, double x, double e);
void detect_aligned_decide(struct detector *d, uint32_t c, uint64_t t,
			   double x, double e);

/* detect-tiles.c */
void detect_tile(struct detector *d, const float *in, const uint8_t *fl,
		 uint32_t m, uint64_t n0);
uint32_t detect_tile_len(const struct detector *d, uint64_t n0, uint32_t m);

/*
 * A moving sum over a ring of @len values: @v replaces the oldest. @fresh
 * adds up the ring from slot 0 in order, and becomes the sum when the ring
 * wraps, so that rounding does not drift. The callers keep the running
 * values in their own variables (registers) or in the channel: the same
 * arithmetic either way. |TKEO| is kept in doubles, |x| in floats (the
 * difference then taken in float, as it always was).
 */
static inline void detect_movsum_push(double *ring, uint32_t len, uint32_t *pos,
				      double *sum, double *fresh, double v)
{
	*sum += v - ring[*pos];
	ring[*pos] = v;
	*fresh += v;
	if (++*pos == len) {
		*pos = 0;
		*sum = *fresh;
		*fresh = 0.0;
	}
}

static inline void detect_movsum_push_f(float *ring, uint32_t len, uint32_t *pos,
					double *sum, double *fresh, float v)
{
	*sum += v - ring[*pos];
	ring[*pos] = v;
	*fresh += v;
	if (++*pos == len) {
		*pos = 0;
		*sum = *fresh;
		*fresh = 0.0;
	}
}

/* Once a scan, or a sample, on both paths: inline, as they were. */
static inline void detect_epoch_tick(struct detector *d)
{
	while ((d->epoch_next + 1) * d->epoch_len + d->epoch_hold <= d->t_now) {
		detect_epoch_publish(d, d->epoch_next);
		d->epoch_next++;
	}
}

static inline void detect_slots_tick(struct detector *d, int all)
{
	uint32_t i;

	if (!d->n_open_slots)
		return;
	for (i = 0; i < d->n_slots; i++) {
		struct detect_slot *s = &d->slots[i];

		if (s->used && !s->open_mask &&
		    (all || s->first_onset + d->wait <= d->t_now))
			detect_finalize(d, s);
	}
}

/* After scan @n on both paths: the clock, due slots, PLM and epochs. */
static inline void detect_scan_done(struct detector *d, uint64_t n)
{
	if (n >= d->delay)
		d->t_now = n - d->delay;
	detect_slots_tick(d, 0);
	if (d->plm_n)
		detect_plm_flush(d, 0);
	detect_epoch_tick(d);
}

static inline void detect_aligned(struct detector *d, uint32_t c,
				  uint64_t t, double x, double e)
{
	detect_aligned_update(d, &d->ch[c], t, x, e);
	detect_aligned_decide(d, c, t, x, e);
}

#endif

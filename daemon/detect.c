/* detect.c - real-time twitch detection over filtered EMG.
 *
 * Per channel: a smoothed Teager-Kaiser energy envelope with two thresholds
 * on a robust noise floor finds potentials; potentials close together form
 * one episode (doublet, multiplet, burst); on leg channels the AASM
 * amplitude rule finds limb movements. Episodes on several channels within
 * merge_ms are one event with a channel mask. Events are classified, or
 * rejected as artefacts (clipping, electrode pop, mains, common mode) when
 * they end; rates, PLM series and per-epoch sleep metrics are kept too.
 * All processing is scan by scan, so results do not depend on block size
 * (detect_scan() is the reference; detect_tile(), in detect-tiles.c, does
 * the same work reordered, to the bit, faster). Memory is allocated in
 * detect_new() only. The state is in detect-priv.h.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect-priv.h"

static const char *const detect_class_names[DETECT_N_CLASSES] = {
	[DETECT_CLASS_NONE] = "none",
	[DETECT_CLASS_FASCICULATION] = "fasciculation",
	[DETECT_CLASS_DOUBLET] = "doublet",
	[DETECT_CLASS_MULTIPLET] = "multiplet",
	[DETECT_CLASS_MYOCLONUS] = "myoclonus",
	[DETECT_CLASS_PHASIC] = "phasic",
	[DETECT_CLASS_LIMB_MOVEMENT] = "limb_movement",
	[DETECT_CLASS_TONIC] = "tonic",
	[DETECT_CLASS_ART_MAINS] = "artefact_mains",
	[DETECT_CLASS_ART_POP] = "artefact_pop",
	[DETECT_CLASS_ART_CLIPPING] = "artefact_clipping",
	[DETECT_CLASS_ART_COMMON_MODE] = "artefact_common_mode",
};

const char *detect_class_name(uint32_t event_class)
{
	if (event_class >= DETECT_N_CLASSES || !detect_class_names[event_class])
		return "unknown";
	return detect_class_names[event_class];
}

void detect_config_default(struct detect_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	/* TKEO: Li, Zhou & Aruin, Ann Biomed Eng 2007; thresholds relative
	 * to a noise-adaptive floor as SPiQE (Bashford et al. 2019) requires.
	 * Checked on noise with the spectrum of BioSPPy emg.txt (phase
	 * randomised, 131 s at 1 kHz) and on white noise (5 min at 1 kHz,
	 * 1 min at 4 kHz): no false event; emgdb potentials injected at a
	 * filtered peak of ~6x the noise RMS are all found
	 * (tests/test-detect.c). The thresholds and the smoothing are set
	 * on the real, not phase-randomised, baselines of bench-detect:
	 * their short spikes are the false alarms (detect.h). */
	cfg->tkeo_smooth_ms = 1.5;
	cfg->threshold_on = 18.0;
	cfg->threshold_off = 4.0;
	cfg->amp_threshold = 6.0;
	cfg->refractory_ms = 4.0;	/* < 25 ms: Kleine et al. 2012 */
	cfg->update_after_ms = 2.0;
	cfg->min_potential_ms = 1.5;
	cfg->min_peak_snr = 3.5;
	cfg->fragment_ms = 10.0;
	cfg->potential_min_ratio = 0.3;
	cfg->offset_rel = 0.01;
	cfg->shadow_ratio = 0.25;
	cfg->shadow_tau_ms = 160.0;
	cfg->group_gap_ms = 60.0;	/* Kleine 2012: FP pairs 10-110 ms */
	cfg->fasc_max_ms = 30.0;	/* FP 2.8-37 ms, JNNP 2017 table 3 */
	cfg->myoclonus_max_ms = 150.0;	/* AASM EFM: <= 150 ms */
	cfg->burst_min_duty = 0.5;
	cfg->phasic_min_ms = 100.0;	/* AASM RSWA: 0.1-5 s bursts ... */
	cfg->phasic_max_ms = 5000.0;
	cfg->phasic_ratio = 4.0;	/* ... >= 4x background */
	cfg->lm_channel_mask = 0;
	cfg->lm_envelope_ms = 50.0;
	cfg->lm_onset_uv = 8.0;		/* AASM v2.5 (Berry 2018) */
	cfg->lm_end_uv = 2.0;
	cfg->lm_end_quiet_ms = 500.0;
	cfg->lm_min_ms = 500.0;
	cfg->lm_max_ms = 10000.0;
	cfg->plm_min_imi_s = 5.0;	/* AASM; WASM (Ferri 2016): 10 s */
	cfg->plm_max_imi_s = 90.0;
	cfg->plm_bilateral_s = 5.0;
	cfg->plm_min_count = 4;
	cfg->plm_short_imi_breaks = 0;
	cfg->epoch_s = 30.0;		/* AASM epochs, RSWA mini-epochs */
	cfg->mini_epoch_s = 3.0;
	cfg->rswa_min_fraction = 0.5;
	cfg->efm_min_per_min = 5.0;	/* AASM optional EFM rule */
	cfg->efm_window_min = 20.0;
	cfg->merge_ms = 5.0;		/* Jahanmiri-Nezhad et al. 2014 */
	cfg->cm_min_channels = 3;
	cfg->cm_max_ratio = 2.0;
	cfg->mains_hz = 0;
	cfg->mains_ratio = 0.6;
	cfg->pop_window_ms = 80.0;
	cfg->invalid_guard_ms = 100.0;
	cfg->max_event_s = 60.0;
	cfg->noise.window_ms = 50.0;
	cfg->noise.n_windows = 200;
	cfg->noise.min_windows = 10;
	cfg->noise.gate_ratio = 3.0;
	cfg->noise.max_reject_s = 30.0;
}

static uint32_t detect_ms(double ms, double rate_hz)
{
	double v = round(ms * rate_hz / 1000.0);

	return v < 0.0 ? 0 : v > 4e9 ? 4000000000u : (uint32_t)v;
}

/* How long a final waits for the pop check: pop_window_ms, and at least
 * a merge, a potential and the refractory time. */
static uint32_t detect_wait_len(const struct detect_config *c, double r)
{
	uint32_t refr = detect_ms(c->refractory_ms, r), wait = detect_ms(c->pop_window_ms, r);
	uint32_t least = detect_ms(c->merge_ms, r) + detect_ms(c->min_potential_ms, r) +
			 (refr ? refr : 1);

	return wait > least ? wait : least;
}

/* The envelope averages lm_envelope_ms: the signal has been quiet for
 * lm_end_quiet_ms once the envelope has been for that less its length. */
static uint32_t detect_lm_quiet_len(const struct detect_config *c, double r)
{
	uint32_t a_len = detect_ms(c->lm_envelope_ms, r), quiet = detect_ms(c->lm_end_quiet_ms, r);

	return quiet > a_len ? quiet - a_len : 1;
}

/*
 * How long after its end an epoch is held open, in samples: every event
 * that can still change it (an LM or a burst that began in it) is final
 * by then.
 */
static uint64_t detect_epoch_hold(const struct detect_config *c, double r)
{
	uint64_t lm_max = detect_ms(c->lm_max_ms, r), phasic_max = detect_ms(c->phasic_max_ms, r);

	return (lm_max > phasic_max ? lm_max : phasic_max) + detect_lm_quiet_len(c, r) +
	       detect_ms(c->lm_envelope_ms, r) + detect_ms(c->group_gap_ms, r) +
	       detect_wait_len(c, r) + (uint64_t)llround(r);
}

int detect_config_check(const struct detect_config *c, size_t n_channels,
			double rate_hz, const char **ret_field)
{
	const char *bad = NULL;
	double ratio;

	if (!c || !isfinite(rate_hz) || rate_hz < 100.0 || rate_hz > 1e6) {
		bad = "rate_hz";
		goto fail;
	}
	ratio = c->epoch_s / c->mini_epoch_s;
	if (n_channels < 1 || n_channels > DETECT_MAX_CHANNELS)
		bad = "n_channels";
	else if (!(c->tkeo_smooth_ms > 0.0) ||
		 detect_ms(c->tkeo_smooth_ms, rate_hz) > 4096)
		bad = "tkeo_smooth_ms";
	else if (!(c->threshold_off > 0.0) || !isfinite(c->threshold_off))
		bad = "threshold_off";
	else if (!(c->threshold_on > c->threshold_off) ||
		 !isfinite(c->threshold_on))
		bad = "threshold_on";
	else if (!(c->amp_threshold > 0.0) || !isfinite(c->amp_threshold))
		bad = "amp_threshold";
	else if (!(c->refractory_ms >= 0.0 && c->refractory_ms <= 25.0))
		bad = "refractory_ms";
	else if (!(c->update_after_ms >= 0.0 && c->update_after_ms <= 25.0))
		bad = "update_after_ms";
	else if (!(c->min_potential_ms >= 0.0 && c->min_potential_ms < 1e3))
		bad = "min_potential_ms";
	else if (!(c->min_peak_snr >= 0.0) || !isfinite(c->min_peak_snr))
		bad = "min_peak_snr";
	else if (!(c->fragment_ms >= 0.0 && c->fragment_ms <= 1e3))
		bad = "fragment_ms";
	else if (!(c->potential_min_ratio >= 0.0 &&
		   c->potential_min_ratio <= 1.0))
		bad = "potential_min_ratio";
	else if (!(c->offset_rel >= 0.0 && c->offset_rel < 1.0))
		bad = "offset_rel";
	else if (!(c->shadow_ratio >= 0.0 && c->shadow_ratio <= 1.0))
		bad = "shadow_ratio";
	else if (!(c->shadow_tau_ms > 0.0 && c->shadow_tau_ms <= 1e4))
		bad = "shadow_tau_ms";
	else if (!(c->group_gap_ms >= c->refractory_ms &&
		   c->group_gap_ms <= 1e4))
		bad = "group_gap_ms";
	else if (!(c->fasc_max_ms > 0.0))
		bad = "fasc_max_ms";
	else if (!(c->myoclonus_max_ms >= c->fasc_max_ms))
		bad = "myoclonus_max_ms";
	else if (!(c->burst_min_duty >= 0.0 && c->burst_min_duty <= 1.0))
		bad = "burst_min_duty";
	else if (!(c->phasic_min_ms >= 0.0))
		bad = "phasic_min_ms";
	else if (!(c->phasic_max_ms >= c->phasic_min_ms &&
		   c->phasic_max_ms >= c->myoclonus_max_ms &&
		   c->phasic_max_ms <= 1e6))
		bad = "phasic_max_ms";
	else if (!(c->phasic_ratio > 0.0) || !isfinite(c->phasic_ratio))
		bad = "phasic_ratio";
	else if (n_channels < 64 && (c->lm_channel_mask >> n_channels))
		bad = "lm_channel_mask";
	else if (!(c->lm_envelope_ms > 0.0 && c->lm_envelope_ms <= 1000.0) ||
		 detect_ms(c->lm_envelope_ms, rate_hz) < 1)
		bad = "lm_envelope_ms";
	else if (!(c->lm_end_uv >= 0.0) || !isfinite(c->lm_end_uv))
		bad = "lm_end_uv";
	else if (!(c->lm_onset_uv > c->lm_end_uv) || !isfinite(c->lm_onset_uv))
		bad = "lm_onset_uv";
	else if (!(c->lm_end_quiet_ms > 0.0 && c->lm_end_quiet_ms <= 1e5))
		bad = "lm_end_quiet_ms";
	else if (!(c->lm_min_ms >= 0.0))
		bad = "lm_min_ms";
	else if (!(c->lm_max_ms >= c->lm_min_ms && c->lm_max_ms <= 1e6))
		bad = "lm_max_ms";
	else if (!(c->plm_min_imi_s > 0.0))
		bad = "plm_min_imi_s";
	else if (!(c->plm_max_imi_s >= c->plm_min_imi_s &&
		   c->plm_max_imi_s <= 1e5))
		bad = "plm_max_imi_s";
	else if (!(c->plm_bilateral_s >= 0.0 && c->plm_bilateral_s <= 1e5))
		bad = "plm_bilateral_s";
	else if (c->plm_min_count < 2 || c->plm_min_count > 1000)
		bad = "plm_min_count";
	else if (c->plm_short_imi_breaks > 1)
		bad = "plm_short_imi_breaks";
	else if (!(c->mini_epoch_s > 0.0) || !isfinite(c->mini_epoch_s))
		bad = "mini_epoch_s";
	else if (!(c->epoch_s >= c->mini_epoch_s && c->epoch_s <= 86400.0) ||
		 fabs(ratio - round(ratio)) > 1e-9 || round(ratio) > 32)
		bad = "epoch_s";
	else if (!(c->rswa_min_fraction > 0.0 && c->rswa_min_fraction <= 1.0))
		bad = "rswa_min_fraction";
	else if (!(c->efm_min_per_min >= 0.0) || !isfinite(c->efm_min_per_min))
		bad = "efm_min_per_min";
	else if (!(c->efm_window_min > 0.0) ||
		 c->efm_window_min * 60.0 / c->epoch_s > DETECT_EFM_MAX_EPOCHS)
		bad = "efm_window_min";
	else if (!(c->merge_ms >= 0.0 && c->merge_ms <= c->group_gap_ms))
		bad = "merge_ms";
	else if (c->cm_min_channels < 2)
		bad = "cm_min_channels";
	else if (!(c->cm_max_ratio >= 1.0) || !isfinite(c->cm_max_ratio))
		bad = "cm_max_ratio";
	else if (c->mains_hz != 0 && c->mains_hz != 50 && c->mains_hz != 60)
		bad = "mains_hz";
	else if (!(c->mains_ratio > 0.0 && c->mains_ratio <= 1.0))
		bad = "mains_ratio";
	else if (!(c->pop_window_ms >= 0.0 && c->pop_window_ms <= 1e4))
		bad = "pop_window_ms";
	else if (!(c->invalid_guard_ms >= 0.0 && c->invalid_guard_ms <= 1e5))
		bad = "invalid_guard_ms";
	else if (!(c->max_event_s * 1000.0 > c->lm_max_ms &&
		   c->max_event_s * 1000.0 > c->phasic_max_ms &&
		   c->max_event_s <= 3600.0))
		bad = "max_event_s";
	else if (ceil((double)detect_epoch_hold(c, rate_hz) /
		      (double)llround(c->epoch_s * rate_hz)) + 2 > DETECT_EPOCH_RING)
		/* epochs held open at once: more than the ring holds lost the
		 * counts of one (3-s epochs kept 40 of 236 twitches) */
		bad = "epoch_s";
	else	/* sets bad to "noise.FIELD" if one is */
		(void)dsp_noise_config_check(&c->noise, rate_hz, &bad);
	if (!bad)
		return 0;
fail:
	if (ret_field)
		*ret_field = bad;
	return -EINVAL;
}

static void detect_chan_reset_history(struct detector *d,
				      struct detect_chan *ch)
{
	uint32_t i;

	ch->tk_n = 0;
	ch->x1 = ch->x2 = 0.0;
	for (i = 0; i < d->psi_len; i++)
		ch->psi[i] = 0.0;
	ch->psi_sum = 0.0;
	ch->psi_fresh = 0.0;
	ch->psi_pos = 0;
	for (i = 0; i < d->dl_len; i++) {
		ch->dl_x[i] = 0.0f;
		ch->dl_state[i] = AL_NONE;
	}
	ch->dl_pos = 0;
}

static void detect_chan_reset_envelope(struct detector *d,
				       struct detect_chan *ch)
{
	uint32_t i;

	for (i = 0; i < d->a_len; i++)
		ch->a_ring[i] = 0.0f;
	ch->a_sum = 0.0;
	ch->a_fresh = 0.0;
	ch->a_pos = 0;
	ch->a_n = 0;
}

struct detector *detect_free(struct detector *d)
{
	uint32_t i;

	if (!d)
		return NULL;
	if (d->ch) {
		for (i = 0; i < d->n_channels; i++) {
			free(d->ch[i].psi);
			free(d->ch[i].dl_x);
			free(d->ch[i].dl_state);
			free(d->ch[i].a_ring);
			free(d->ch[i].rate_bins);
			free(d->ch[i].hist);
		}
		free(d->ch);
	}
	free(d->slots);
	free(d->tile_x);
	free(d->tile_e);
	free(d->tile_st);
	free(d);
	return NULL;
}

static void detect_derive(struct detector *d)
{
	const struct detect_config *c = &d->cfg;
	double r = d->rate_hz;

	/* at least one sample: 1.5 ms is less than one at 200 Hz */
	d->psi_len = detect_ms(c->tkeo_smooth_ms, r);
	if (d->psi_len < 1)
		d->psi_len = 1;
	/* |TKEO| of sample n-1 is known at n; the mean of psi_len of them is
	 * centred (psi_len - 1) / 2 samples further back */
	d->delay = 1 + (d->psi_len - 1) / 2;
	d->dl_len = d->delay + 1;
	d->a_len = detect_ms(c->lm_envelope_ms, r);
	d->refr = detect_ms(c->refractory_ms, r);
	if (d->refr < 1)
		d->refr = 1;
	d->update_after = detect_ms(c->update_after_ms, r);
	if (d->update_after < 1)
		d->update_after = 1;
	d->min_pot = detect_ms(c->min_potential_ms, r);
	d->fragment = detect_ms(c->fragment_ms, r);
	d->shadow_tau = c->shadow_tau_ms * r / 1000.0;
	d->group_gap = detect_ms(c->group_gap_ms, r);
	d->merge = detect_ms(c->merge_ms, r);
	d->wait = detect_wait_len(c, r);
	d->guard = detect_ms(c->invalid_guard_ms, r);
	d->fasc_max = detect_ms(c->fasc_max_ms, r);
	d->myo_max = detect_ms(c->myoclonus_max_ms, r);
	d->phasic_min = detect_ms(c->phasic_min_ms, r);
	d->phasic_max = detect_ms(c->phasic_max_ms, r);
	d->lm_quiet_len = detect_lm_quiet_len(c, r);
	d->lm_min = detect_ms(c->lm_min_ms, r);
	d->lm_max = detect_ms(c->lm_max_ms, r);
	d->max_event = (uint64_t)llround(c->max_event_s * r);
	/* an LM is final at most lm_max + quiet + envelope + gap after its
	 * onset; order LMs after that */
	d->plm_hold = d->lm_max + d->lm_quiet_len + d->a_len + d->group_gap +
		      d->wait + (uint64_t)llround(r);
	d->plm_min_imi = (uint64_t)llround(c->plm_min_imi_s * r);
	d->plm_max_imi = (uint64_t)llround(c->plm_max_imi_s * r);
	d->plm_bilateral = (uint64_t)llround(c->plm_bilateral_s * r);
	d->epoch_len = (uint64_t)llround(c->epoch_s * r);
	d->n_mini = (uint32_t)lround(c->epoch_s / c->mini_epoch_s);
	d->efm_epochs = (uint32_t)lround(c->efm_window_min * 60.0 /
					 c->epoch_s);
	if (d->efm_epochs < 1)
		d->efm_epochs = 1;
	/* every event that can still change an epoch is final by then */
	d->epoch_hold = detect_epoch_hold(c, r);
	d->n_lags = 0;
	if (c->mains_hz == 0 || c->mains_hz == 50)
		d->lag[d->n_lags++] = r / 50.0;
	if (c->mains_hz == 0 || c->mains_hz == 60)
		d->lag[d->n_lags++] = r / 60.0;
	d->hist_len = (uint32_t)ceil(r / 50.0) + 2;
	d->cp_len = detect_ms(DETECT_CP_MS, r);
	if (d->hist_len < d->cp_len + 1)
		d->hist_len = d->cp_len + 1;
}

int detect_new(const struct detect_config *cfg, size_t n_channels,
	       double rate_hz, struct detector **ret)
{
	struct dsp_noise_config nce;
	struct detector *d;
	uint32_t i;
	int err;

	if (!ret)
		return -EINVAL;
	err = detect_config_check(cfg, n_channels, rate_hz, NULL);
	if (err < 0)
		return err;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->rate_hz = rate_hz;
	d->n_channels = (uint32_t)n_channels;
	detect_derive(d);
	d->n_slots = 2 * d->n_channels + 8;
	d->slots = calloc(d->n_slots, sizeof(*d->slots));
	d->ch = calloc(d->n_channels, sizeof(*d->ch));
	d->tile_x = calloc((size_t)d->n_channels * DETECT_TILE,
			   sizeof(*d->tile_x));
	d->tile_e = calloc((size_t)d->n_channels * DETECT_TILE,
			   sizeof(*d->tile_e));
	d->tile_st = calloc((size_t)d->n_channels * DETECT_TILE,
			    sizeof(*d->tile_st));
	if (!d->slots || !d->ch || !d->tile_x || !d->tile_e || !d->tile_st)
		goto fail_nomem;
	/* the energy floor is in uV^2: square the amplitude gate */
	nce = cfg->noise;
	nce.gate_ratio = cfg->noise.gate_ratio * cfg->noise.gate_ratio;
	for (i = 0; i < d->n_channels; i++) {
		struct detect_chan *ch = &d->ch[i];

		ch->psi = calloc(d->psi_len, sizeof(*ch->psi));
		ch->dl_x = calloc(d->dl_len, sizeof(*ch->dl_x));
		ch->dl_state = calloc(d->dl_len, sizeof(*ch->dl_state));
		ch->a_ring = calloc(d->a_len, sizeof(*ch->a_ring));
		ch->rate_bins = calloc(DETECT_RATE_BINS,
				       sizeof(*ch->rate_bins));
		ch->hist = calloc(d->hist_len, sizeof(*ch->hist));
		if (!ch->psi || !ch->dl_x || !ch->dl_state || !ch->a_ring ||
		    !ch->rate_bins || !ch->hist)
			goto fail_nomem;
		if (dsp_noise_init(&ch->nf_e, &nce, rate_hz) < 0 ||
		    dsp_noise_init(&ch->nf_a, &cfg->noise, rate_hz) < 0) {
			detect_free(d);
			return -EINVAL;
		}
		ch->is_lm = (uint32_t)((cfg->lm_channel_mask >> i) & 1);
		ch->last_step = DETECT_NO_INDEX;
		detect_chan_reset_history(d, ch);
		detect_chan_reset_envelope(d, ch);
	}
	*ret = d;
	return 0;
fail_nomem:
	detect_free(d);
	return -ENOMEM;
}

void detect_set_input_delay(struct detector *d, double samples)
{
	d->in_delay = samples > 0.0 && samples < 1e6 ? (uint32_t)lround(samples) : 0;
}

/* An onset as reported: at the input's time (see detect_set_input_delay()). */
static uint64_t detect_report_onset(const struct detector *d, uint64_t onset)
{
	return onset > d->in_delay ? onset - d->in_delay : 0;
}

void detect_set_epoch_sink(struct detector *d, detect_epoch_fn *fn,
			   void *userdata)
{
	d->epoch_sink = fn;
	d->epoch_data = userdata;
}

/* ------------------------------------------------------------ outputs */

static void detect_emit(struct detector *d, const struct detect_event *ev)
{
	if (d->sink)
		d->sink(ev, d->sink_data);
}

static double detect_noise_rms(const struct detect_chan *ch)
{
	return dsp_noise_floor(&ch->nf_a) * DETECT_MAV_TO_RMS;
}

double detect_noise_floor_uv(const struct detector *d, uint32_t channel)
{
	if (!d || channel >= d->n_channels)
		return 0.0;
	return detect_noise_rms(&d->ch[channel]);
}

static void detect_rate_advance(struct detect_chan *ch, uint64_t sec)
{
	uint64_t s;

	if (sec <= ch->rate_sec)
		return;
	if (sec - ch->rate_sec >= DETECT_RATE_BINS) {
		memset(ch->rate_bins, 0,
		       DETECT_RATE_BINS * sizeof(*ch->rate_bins));
	} else {
		for (s = ch->rate_sec + 1; s <= sec; s++)
			ch->rate_bins[s % DETECT_RATE_BINS] = 0;
	}
	ch->rate_sec = sec;
}

static uint64_t detect_sec(const struct detector *d, uint64_t index)
{
	return (uint64_t)floor((double)index / d->rate_hz);
}

static void detect_rate_add(struct detector *d, struct detect_chan *ch,
			    uint64_t onset)
{
	uint64_t sec = detect_sec(d, onset);

	detect_rate_advance(ch, detect_sec(d, d->t_now));
	detect_rate_advance(ch, sec);
	if (sec + DETECT_RATE_BINS <= ch->rate_sec)
		return;		/* older than the longest window */
	ch->rate_bins[sec % DETECT_RATE_BINS]++;
}

int detect_get_rates(const struct detector *d, uint32_t channel,
		     struct detect_rates *ret)
{
	static const uint32_t win_s[3] = { 60, 300, 900 };
	const struct detect_chan *ch;
	uint64_t now_sec, s, count[3] = { 0 };
	double covered, per[3];
	uint32_t w;

	if (!d || !ret || channel >= d->n_channels)
		return -EINVAL;
	ch = &d->ch[channel];
	now_sec = detect_sec(d, d->t_now);
	covered = d->started ? (double)(d->t_now - d->t_start + 1) /
			       d->rate_hz : 0.0;
	for (s = 0; s < DETECT_RATE_BINS && s <= now_sec; s++) {
		uint64_t sec = now_sec - s;

		if (sec > ch->rate_sec ||
		    sec + DETECT_RATE_BINS <= ch->rate_sec)
			continue;	/* not written yet, or stale */
		for (w = 0; w < 3; w++)
			if (s < win_s[w])
				count[w] += ch->rate_bins[sec %
							  DETECT_RATE_BINS];
	}
	for (w = 0; w < 3; w++) {
		double span = covered < win_s[w] ? covered : win_s[w];

		per[w] = span >= 1.0 ? (double)count[w] * 60.0 / span : 0.0;
	}
	ret->per_min_1 = (float)per[0];
	ret->per_min_5 = (float)per[1];
	ret->per_min_15 = (float)per[2];
	ret->covered_s = (float)covered;
	return 0;
}

void detect_get_counters(const struct detector *d,
			 struct detect_counters *ret)
{
	*ret = d->counters;
}

void detect_get_sleep_stats(const struct detector *d,
			    struct detect_sleep_stats *ret)
{
	*ret = d->sleep;
}

/* ------------------------------------------------------------ epochs */

static struct detect_epoch_acc *detect_epoch_get(struct detector *d,
						 struct detect_chan *ch,
						 uint64_t k)
{
	struct detect_epoch_acc *e = &ch->epochs[k % DETECT_EPOCH_RING];

	if (k < d->epoch_next)
		return NULL;	/* already published */
	if (!e->used || e->k != k) {
		memset(e, 0, sizeof(*e));
		e->k = k;
		e->used = 1;
	}
	return e;
}

static void detect_epoch_mark_phasic(struct detector *d,
				     struct detect_chan *ch, uint64_t onset,
				     uint64_t end)
{
	uint64_t len = d->epoch_len, k;

	if (len < d->n_mini || end <= onset)
		return;
	/*
	 * Mini-epoch j of epoch k: [kL + floor(jL/n), kL + floor((j+1)L/n)),
	 * so the n of them tile each epoch exactly, also where L (samples per
	 * epoch, at a fractional rate) is not a multiple of n. (A fixed
	 * length L/n counted from the stream's start drifted across epochs:
	 * at 1000.1 Hz an epoch got an eleventh mini-epoch, its neighbour
	 * lost one.)
	 */
	for (k = onset / len; k * len < end; k++) {
		struct detect_epoch_acc *e = detect_epoch_get(d, ch, k);
		uint64_t a = onset > k * len ? onset - k * len : 0;
		uint64_t b = end - k * len < len ? end - k * len : len;
		uint32_t j;

		if (!e)
			continue;
		for (j = 0; j < d->n_mini; j++) {
			uint64_t lo = j * len / d->n_mini, hi = (j + 1) * len / d->n_mini;

			if (lo < b && hi > a)
				e->mini_mask |= 1u << j;
		}
	}
}

void detect_epoch_publish(struct detector *d, uint64_t k)
{
	uint32_t i, j;

	for (i = 0; i < d->n_channels; i++) {
		struct detect_chan *ch = &d->ch[i];
		struct detect_epoch_acc *e = &ch->epochs[k % DETECT_EPOCH_RING];
		struct detect_epoch ep = { 0 };
		uint32_t need, sum = 0, n;

		if (!e->used || e->k != k) {
			memset(e, 0, sizeof(*e));
			e->k = k;
		}
		ep.start_index = k * d->epoch_len;
		ep.channel = i;
		ep.epoch_samples = (uint32_t)d->epoch_len;
		ep.n_mini = d->n_mini;
		ep.phasic_mini_mask = e->mini_mask;
		ep.n_phasic_mini = (uint32_t)__builtin_popcount(e->mini_mask);
		ep.n_twitches = e->n_twitches;
		ep.n_fm_potentials = e->n_fm;
		ep.n_lm = e->n_lm;
		ep.n_artefacts = e->n_art;
		ep.fmi_per_min = (float)(e->n_fm * 60.0 / d->cfg.epoch_s);
		ep.background_uv = (float)dsp_noise_floor(&ch->nf_a);
		need = (uint32_t)ceil(d->cfg.rswa_min_fraction * d->n_mini -
				      1e-9);
		if (ep.n_phasic_mini >= need)
			ep.flags |= DETECT_EPF_RSWA_PHASIC;
		if (k == d->epoch_first && d->t_start > k * d->epoch_len)
			ep.flags |= DETECT_EPF_PARTIAL;
		/* rolling FM index over the last efm_epochs epochs */
		ch->efm_counts[ch->efm_pos] = e->n_fm;
		ch->efm_pos = (ch->efm_pos + 1) % d->efm_epochs;
		if (ch->efm_n < d->efm_epochs)
			ch->efm_n++;
		n = ch->efm_n;
		for (j = 0; j < n; j++)
			sum += ch->efm_counts[j];
		if (n == d->efm_epochs) {
			ep.fmi_window_per_min = (float)(sum * 60.0 /
						(n * d->cfg.epoch_s));
			if (ep.fmi_window_per_min >= d->cfg.efm_min_per_min)
				ep.flags |= DETECT_EPF_EFM;
		}
		e->used = 0;
		if (d->epoch_sink)
			d->epoch_sink(&ep, d->epoch_data);
	}
}

/* ------------------------------------------------------------ PLM */

/* One LM, in onset order. AASM: LMs on two legs < 5 s apart (onsets)
 * count once; a series is >= 4 LMs with onset-to-onset 5-90 s. An LM
 * with a shorter interval is not part of a series; under AASM it does
 * not end the series either (the interval to the next LM is taken from
 * the last counted one), under WASM it does (plm_short_imi_breaks). */
static void detect_plm_add(struct detector *d, uint64_t onset, uint64_t mask)
{
	struct detect_sleep_stats *s = &d->sleep;
	uint64_t imi;

	if (d->plm_have_last && !(mask & d->plm_last_mask) &&
	    onset - d->plm_last_onset < d->plm_bilateral) {
		d->plm_last_mask |= mask;
		return;
	}
	d->plm_have_last = 1;
	d->plm_last_onset = onset;
	d->plm_last_mask = mask;
	s->n_lm++;
	if (!d->plm_have_counted) {
		d->plm_have_counted = 1;
		d->plm_last_counted = onset;
		s->run_length = 1;
		return;
	}
	imi = onset - d->plm_last_counted;
	if (imi < d->plm_min_imi && !d->cfg.plm_short_imi_breaks)
		return;
	d->plm_last_counted = onset;
	if (imi < d->plm_min_imi || imi > d->plm_max_imi) {
		s->run_length = 1;
		return;
	}
	s->run_length++;
	if (s->run_length == d->cfg.plm_min_count) {
		s->n_plm_series++;
		s->n_plm += d->cfg.plm_min_count;
	} else if (s->run_length > d->cfg.plm_min_count) {
		s->n_plm++;
	}
}

void detect_plm_flush(struct detector *d, int all)
{
	uint32_t k = 0;

	while (k < d->plm_n &&
	       (all || d->plm_q[k].onset + d->plm_hold <= d->t_now)) {
		detect_plm_add(d, d->plm_q[k].onset, d->plm_q[k].mask);
		k++;
	}
	if (k) {
		memmove(&d->plm_q[0], &d->plm_q[k],
			(d->plm_n - k) * sizeof(d->plm_q[0]));
		d->plm_n -= k;
	}
}

static void detect_plm_queue(struct detector *d, uint64_t onset,
			     uint64_t mask)
{
	uint32_t i;

	if (d->plm_n == DETECT_PLM_QUEUE) {
		/* cannot happen with sane settings; process the oldest
		 * early rather than lose it */
		detect_plm_add(d, d->plm_q[0].onset, d->plm_q[0].mask);
		memmove(&d->plm_q[0], &d->plm_q[1],
			(d->plm_n - 1) * sizeof(d->plm_q[0]));
		d->plm_n--;
		d->sleep.n_lm_dropped++;
	}
	i = d->plm_n;
	while (i > 0 && d->plm_q[i - 1].onset > onset) {
		d->plm_q[i] = d->plm_q[i - 1];
		i--;
	}
	d->plm_q[i].onset = onset;
	d->plm_q[i].mask = mask;
	d->plm_n++;
}

/* ------------------------------------------------------------ classes */

/* Potentials that count apart: those >= potential_min_ratio x the largest.
 * Beyond DETECT_MAX_POT, whose peaks are not kept, those that were >= the
 * ratio x the largest so far when they ended (n_late). Counting every one
 * of them, ringing and echoes too, made 40 potentials 72. */
static uint32_t detect_n_potentials(const struct detector *d,
				    const struct detect_result *r)
{
	uint32_t n = r->n_pot < DETECT_MAX_POT ? r->n_pot : DETECT_MAX_POT;
	uint32_t i, count = 0;
	float max = 0.0f;

	for (i = 0; i < n; i++)
		if (r->pot_peak[i] > max)
			max = r->pot_peak[i];
	for (i = 0; i < n; i++)
		if (r->pot_peak[i] >= d->cfg.potential_min_ratio * max)
			count++;

	return count + r->n_late;
}

static uint32_t detect_classify(const struct detector *d,
				const struct detect_result *r,
				uint64_t *ret_onset, uint64_t *ret_dur,
				uint32_t *ret_flags)
{
	uint64_t span = r->last_offset > r->onset ? r->last_offset - r->onset
						  : 1;
	uint32_t cls, flags = 0, n_pot = detect_n_potentials(d, r);
	double duty;

	*ret_onset = r->onset;
	if (r->lm_valid) {
		uint64_t lm_dur = r->lm_end - r->lm_onset;

		if (lm_dur >= d->lm_min && lm_dur <= d->lm_max) {
			*ret_onset = r->lm_onset;
			*ret_dur = lm_dur;
			*ret_flags = 0;
			return DETECT_CLASS_LIMB_MOVEMENT;
		}
		if (lm_dur > d->lm_max) {
			*ret_onset = r->lm_onset < r->onset ? r->lm_onset
							    : r->onset;
			*ret_dur = (r->last_offset > r->lm_end ?
				    r->last_offset : r->lm_end) - *ret_onset;
			*ret_flags = 0;
			return DETECT_CLASS_TONIC;
		}
	}
	duty = (double)r->pot_samples / (double)span;
	if (n_pot <= 1) {
		if (span <= d->fasc_max)
			cls = DETECT_CLASS_FASCICULATION;
		else if (span <= d->myo_max)
			cls = DETECT_CLASS_MYOCLONUS;
		else if (span <= d->phasic_max)
			cls = DETECT_CLASS_PHASIC;
		else
			cls = DETECT_CLASS_TONIC;
	} else if (span <= d->myo_max ||
		   (span <= 2 * d->myo_max && duty < d->cfg.burst_min_duty)) {
		/* a group of potentials; sparse ones a little longer too
		 * (a triplet 80 ms apart). A longer train is a burst, not
		 * fragmentary myoclonus: without the bound, 6 s of a 20-Hz
		 * discharge was one "multiplet" of 230 potentials, all of
		 * them in the FM index. */
		cls = n_pot == 2 ? DETECT_CLASS_DOUBLET
				 : DETECT_CLASS_MULTIPLET;
	} else if (span <= d->phasic_max) {
		cls = DETECT_CLASS_PHASIC;
	} else {
		cls = DETECT_CLASS_TONIC;
	}
	/* AASM RSWA phasic burst: 0.1-5 s, >= 4x background */
	if (span >= d->phasic_min && span <= d->phasic_max &&
	    r->abs_sum / (double)span >= d->cfg.phasic_ratio * r->rest_mav)
		flags |= DETECT_EVF_PHASIC_4X;
	/* a burst rises gradually out of the noise: its onset is where the
	 * variance rose (the first potential was found only once it stood
	 * out of the noise); a twitch keeps its first potential's onset */
	if ((cls == DETECT_CLASS_PHASIC || cls == DETECT_CLASS_TONIC) &&
	    r->cp_onset < r->onset) {
		*ret_onset = r->cp_onset;
		span = r->last_offset - r->cp_onset;
	}
	*ret_dur = span;
	*ret_flags = flags;
	return cls;
}

static uint32_t detect_artefact(const struct detector *d,
				const struct detect_slot *s)
{
	const struct detect_result *r = &s->best;

	if (s->flags & DETECT_EVF_INVALID)
		return DETECT_CLASS_ART_CLIPPING;
	if (s->flags & DETECT_EVF_STEP)
		return DETECT_CLASS_ART_POP;
	if (r->mains_ratio >= d->cfg.mains_ratio)
		return DETECT_CLASS_ART_MAINS;
	if (d->n_channels >= d->cfg.cm_min_channels &&
	    (uint32_t)__builtin_popcountll(s->mask) == d->n_channels &&
	    s->max_peak <= d->cfg.cm_max_ratio * s->min_peak)
		return DETECT_CLASS_ART_COMMON_MODE;
	return DETECT_CLASS_NONE;
}

/*
 * Slot @s's event as it stands, in @ev (type left 0): its class, or in
 * @ret_art the artefact class that rejects it (else 0). @ret_onset and
 * @ret_dur are the reported onset and duration in samples.
 */
static uint32_t detect_describe(const struct detector *d,
				const struct detect_slot *s,
				struct detect_event *ev, uint32_t *ret_art,
				uint64_t *ret_onset, uint64_t *ret_dur)
{
	const struct detect_result *r = &s->best;
	struct detect_event e = { 0 };
	uint64_t onset, dur;
	uint32_t cls, art, flags;

	cls = detect_classify(d, r, &onset, &dur, &flags);
	onset = detect_report_onset(d, onset);
	art = detect_artefact(d, s);
	if (dur < 1)
		dur = 1;
	e.id = s->id;
	e.onset_index = onset;
	e.channel_mask = s->mask;
	e.channel = r->channel;
	e.event_class = art ? art : cls;
	e.n_potentials = detect_n_potentials(d, r);
	e.duration_samples = dur > UINT32_MAX ? UINT32_MAX : (uint32_t)dur;
	e.duration_ms = (float)(dur * 1000.0 / d->rate_hz);
	e.flags = flags | s->flags | r->flags;
	if (__builtin_popcountll(s->mask) > 1)
		e.flags |= DETECT_EVF_MERGED;
	e.peak_uv = (float)r->peak;
	e.energy_uv2 = (float)r->energy;
	e.noise_floor_uv = (float)r->noise_rms;
	e.snr = r->noise_rms > 0.0 ? (float)(r->peak / r->noise_rms) : 0.0f;
	e.mean_abs_uv = (float)(r->abs_sum /
				(double)(r->last_offset > r->onset ?
					 r->last_offset - r->onset : 1));
	if (art == DETECT_CLASS_ART_MAINS)
		e.flags |= DETECT_EVF_MAINS;
	*ev = e;
	*ret_art = art;
	*ret_onset = onset;
	*ret_dur = dur;
	return cls;
}

void detect_finalize(struct detector *d, struct detect_slot *s)
{
	struct detect_event ev;
	uint64_t onset, dur, bits;
	uint32_t cls, art, i;

	cls = detect_describe(d, s, &ev, &art, &onset, &dur);
	if (art) {
		ev.type = DETECT_EVENT_REJECT;
		d->counters.n_artefacts++;
	} else {
		ev.type = DETECT_EVENT_FINAL;
		d->n_finals++;
	}
	d->counters.n_by_class[ev.event_class]++;
	for (bits = s->mask, i = 0; bits; bits >>= 1, i++) {
		struct detect_chan *ch = &d->ch[i];
		struct detect_epoch_acc *e;

		if (!(bits & 1))
			continue;
		e = detect_epoch_get(d, ch, onset / d->epoch_len);
		if (art) {
			if (e)
				e->n_art++;
			continue;
		}
		if (cls >= DETECT_CLASS_FASCICULATION &&
		    cls <= DETECT_CLASS_MYOCLONUS) {
			detect_rate_add(d, ch, onset);
			if (e) {
				e->n_twitches++;
				e->n_fm += ev.n_potentials ?
					   ev.n_potentials : 1;
			}
		}
		if (cls == DETECT_CLASS_LIMB_MOVEMENT && e)
			e->n_lm++;
		if (ev.flags & DETECT_EVF_PHASIC_4X)
			detect_epoch_mark_phasic(d, ch, onset, onset + dur);
	}
	if (!art && cls == DETECT_CLASS_LIMB_MOVEMENT)
		detect_plm_queue(d, onset, s->mask & d->cfg.lm_channel_mask);
	s->used = 0;
	d->n_open_slots--;
	detect_emit(d, &ev);
}

/* ------------------------------------------------------------ episodes */

static void detect_acc_reset(struct detector *d, struct detect_chan *ch)
{
	uint32_t i;

	ch->abs_run = 0.0;
	ch->energy_run = 0.0;
	ch->g_n = 0;
	ch->sxx = 0.0;
	for (i = 0; i < d->n_lags; i++)
		ch->sxy[i] = ch->syy[i] = 0.0;
	ch->ep.peak = 0.0;
}

/* the aligned sample @lag samples before the newest one in hist[] (linear
 * interpolation: the mains period is rarely a whole number of samples) */
static double detect_hist_at(const struct detector *d,
			     const struct detect_chan *ch, double lag)
{
	uint32_t k = (uint32_t)lag, n = d->hist_len;
	double frac = lag - k;
	uint32_t i0 = (ch->hist_pos + n - 1 - k) % n;
	uint32_t i1 = (ch->hist_pos + n - 2 - k) % n;

	return (1.0 - frac) * ch->hist[i0] + frac * ch->hist[i1];
}

static void detect_acc_add(struct detector *d, struct detect_chan *ch,
			   double x, double e)
{
	uint32_t i;

	ch->abs_run += fabs(x);
	ch->energy_run += e;
	ch->sxx += x * x;
	ch->g_n++;
	for (i = 0; i < d->n_lags; i++) {
		double y = detect_hist_at(d, ch, d->lag[i]);

		ch->sxy[i] += x * y;
		ch->syy[i] += y * y;
	}
	if (fabs(x) > ch->ep.peak)
		ch->ep.peak = fabs(x);
}

/* Periodicity at the mains period: the correlation of the event with
 * itself one period earlier. ~1 for anything locked to the mains (a hum
 * burst with any harmonics, the notches' ringing), ~0 for motor units.
 * Events shorter than three periods are not judged (0). */
static double detect_mains_ratio(const struct detector *d,
				 const struct detect_chan *ch)
{
	double best = 0.0;
	uint32_t i;

	for (i = 0; i < d->n_lags; i++) {
		double den = sqrt(ch->sxx * ch->syy[i]), r;

		if ((double)ch->g_n < 3.0 * d->lag[i] || !(den > 0.0))
			continue;
		r = ch->sxy[i] / den;
		if (r > best)
			best = r;
	}
	return best;
}

void detect_slot_mark_step(struct detector *d, uint32_t c,
			   uint64_t step_index)
{
	uint64_t bit = UINT64_C(1) << c;
	uint32_t i;

	for (i = 0; i < d->n_slots; i++) {
		struct detect_slot *s = &d->slots[i];

		if (s->used && (s->mask & bit) &&
		    step_index >= s->first_onset &&
		    step_index - s->first_onset <= d->wait)
			s->flags |= DETECT_EVF_STEP;
	}
}

/*
 * Maximum-likelihood time of a rise of the variance from the noise floor
 * sigma0^2 (known) to DETECT_CP_RISE x sigma0^2, over the samples up to @t:
 * the k that maximises the log-likelihood ratio of the two variances summed
 * over [k, t], sum of (1 - 1/r) x^2 / sigma0^2 - ln r (Page's CUSUM run
 * backwards; Basseville & Nikiforov 1993, 2.2). A burst ramps up over tens
 * of ms: an alternative of unknown level (the GLR, Staude et al. 2001)
 * takes the level of the burst's bulk, far above its first rise, and dated
 * onsets 15-30 ms late; the smallest rise worth dating dates the first.
 * Searched back no further than @lo and cp_len samples.
 */
static uint64_t detect_change_point(const struct detector *d,
				    const struct detect_chan *ch, uint64_t t,
				    uint64_t lo)
{
	const double r = DETECT_CP_RISE, b = log(r);
	double s0 = detect_noise_rms(ch), a, sum = 0.0, best = 0.0;
	uint32_t m, n = d->hist_len, max_m = d->cp_len;
	uint64_t k_best = t;

	if (!(s0 > 0.0) || lo > t)
		return t;
	a = (1.0 - 1.0 / r) / (s0 * s0);
	if (max_m > ch->hist_n)
		max_m = ch->hist_n;
	if (t - lo + 1 < max_m)
		max_m = (uint32_t)(t - lo + 1);
	for (m = 1; m <= max_m; m++) {
		double x = ch->hist[(ch->hist_pos + n - m) % n];

		sum += a * x * x - b;
		if (sum > best) {
			best = sum;
			k_best = t + 1 - m;
		}
	}
	return k_best;
}

/* Is the first potential of @s still running on one of its channels? */
static int detect_slot_in_potential(const struct detector *d,
				    const struct detect_slot *s)
{
	uint64_t bits = s->open_mask;
	uint32_t i;

	for (i = 0; bits; bits >>= 1, i++) {
		const struct detect_chan *ch = &d->ch[i];

		if ((bits & 1) && ch->ep_active && ch->slot == (uint32_t)
		    (s - d->slots) && ch->fs == FAST_POT && ch->ep.n_pot == 1)
			return 1;
	}
	return 0;
}

static void detect_episode_begin(struct detector *d, uint32_t c,
				 uint64_t onset, uint64_t now)
{
	struct detect_chan *ch = &d->ch[c];
	struct detect_slot *s = NULL, *free_slot = NULL;
	uint64_t best_dist = UINT64_MAX, bit = UINT64_C(1) << c;
	double peak = ch->ep.peak;	/* accumulated since the pre-onset */
	struct detect_event ev = { 0 };
	uint32_t i;

	ch->ep_active = 1;
	memset(&ch->ep, 0, sizeof(ch->ep));
	ch->ep.onset = onset;
	ch->ep.last_offset = onset;
	ch->ep.cp_onset = DETECT_NO_INDEX;
	ch->ep.channel = c;
	ch->ep.peak = peak;
	if (ch->had_invalid && onset <= ch->invalid_until)
		ch->ep.flags |= DETECT_EVF_INVALID;
	/* join an event seen on another channel within merge_ms, or one
	 * whose first potential is still in progress within fragment_ms of
	 * its onset (a smaller copy on a neighbour is found late, on its
	 * larger phase) */
	for (i = 0; i < d->n_slots; i++) {
		struct detect_slot *t = &d->slots[i];
		uint64_t dist;

		if (!t->used) {
			if (!free_slot)
				free_slot = t;
			continue;
		}
		if (t->mask & bit)
			continue;
		dist = onset > t->first_onset ? onset - t->first_onset
					      : t->first_onset - onset;
		if (dist > d->merge && onset > t->first_onset &&
		    dist <= d->fragment && detect_slot_in_potential(d, t))
			dist = d->merge;
		if (dist <= d->merge && dist < best_dist) {
			best_dist = dist;
			s = t;
		}
	}
	if (!s) {
		if (!free_slot) {
			/* bounded by construction (2 slots per channel);
			 * if ever full, finish the oldest closed one */
			detect_slots_tick(d, 1);
			for (i = 0; i < d->n_slots && !free_slot; i++)
				if (!d->slots[i].used)
					free_slot = &d->slots[i];
			if (!free_slot) {
				ch->ep_active = 0;
				return;
			}
		}
		s = free_slot;
		memset(s, 0, sizeof(*s));
		s->used = 1;
		s->id = ++d->next_id;
		s->first_onset = onset;
		s->min_peak = INFINITY;
		d->n_open_slots++;
		ev.type = DETECT_EVENT_ONSET;
		ev.id = s->id;
		ev.onset_index = detect_report_onset(d, onset);
		ev.channel_mask = bit;
		ev.channel = c;
		ev.event_class = DETECT_CLASS_NONE;
		ev.peak_uv = (float)ch->pot_peak;
		ev.noise_floor_uv = (float)detect_noise_rms(ch);
		ev.snr = ev.noise_floor_uv > 0.0f ?
			 (float)ch->pot_peak / ev.noise_floor_uv : 0.0f;
		d->counters.n_onsets++;
		detect_emit(d, &ev);
	}
	s->mask |= bit;
	s->open_mask |= bit;
	ch->slot = (uint32_t)(s - d->slots);
	if (ch->last_step != DETECT_NO_INDEX && ch->last_step >= onset &&
	    ch->last_step - onset <= d->wait && now >= ch->last_step)
		s->flags |= DETECT_EVF_STEP;
}

/* What channel @ch's episode result @r needs from the channel at its end. */
static void detect_result_close(const struct detector *d,
				const struct detect_chan *ch,
				struct detect_result *r)
{
	r->rest_mav = dsp_noise_floor(&ch->nf_a);
	r->noise_rms = detect_noise_rms(ch);
	r->mains_ratio = detect_mains_ratio(d, ch);
}

/* @r is slot @s's primary channel if it is the largest so far. */
static void detect_slot_offer_best(struct detect_slot *s,
				   const struct detect_result *r)
{
	if (!s->has_best || r->peak > s->best.peak) {
		s->best = *r;
		s->has_best = 1;
	}
}

/* One channel's episode result @r joins the event of slot @s. */
static void detect_slot_merge(struct detect_slot *s,
			      const struct detect_result *r)
{
	s->flags |= r->flags & (DETECT_EVF_INVALID | DETECT_EVF_TRUNCATED);
	if (r->peak < s->min_peak)
		s->min_peak = r->peak;
	if (r->peak > s->max_peak)
		s->max_peak = r->peak;
	detect_slot_offer_best(s, r);
}

static void detect_episode_end(struct detector *d, uint32_t c)
{
	struct detect_chan *ch = &d->ch[c];
	struct detect_slot *s = &d->slots[ch->slot];
	struct detect_result *r = &ch->ep;
	uint64_t bit = UINT64_C(1) << c;

	detect_result_close(d, ch, r);
	ch->ep_active = 0;
	ch->shadow_peak = r->peak;
	ch->shadow_from = r->last_offset;
	if (!s->used || !(s->open_mask & bit))
		return;
	s->open_mask &= ~bit;
	detect_slot_merge(s, r);
}

/*
 * A potential of channel @c's episode has been quiet for update_after_ms
 * (or ended), the episode now @now: tell displays the event as it now
 * stands (DETECT_EVENT_UPDATE). The final record waits group_gap
 * for more potentials of the same event and the pop window for a step;
 * this one comes update_after_ms after the potential's end (if the
 * potential goes on after all, another follows at its end). None while
 * the event already looks like an artefact (its reject follows; the
 * potential's end tries again) or an LM is tracked on the channel (it ends
 * only after 0.5 s at rest), none that
 * would repeat the last, and none after DETECT_MAX_UPDATES: a burst's many
 * potentials would flood the ring, and its final says the rest.
 */
static void detect_update(struct detector *d, uint32_t c,
			  const struct detect_result *now)
{
	struct detect_chan *ch = &d->ch[c];
	struct detect_slot *s = &d->slots[ch->slot], v;
	struct detect_result r;
	struct detect_event ev;
	uint64_t onset, dur, bits;
	uint32_t art, i;

	ch->update_sent = 1;
	if (!ch->ep_active || !s->used ||
	    !(s->open_mask & (UINT64_C(1) << c)) ||
	    s->n_updates >= DETECT_MAX_UPDATES)
		return;
	r = *now;
	detect_result_close(d, ch, &r);
	/* the event so far: the channels it ended on, the largest of the
	 * earlier updates' (another channel's; this one's is superseded),
	 * and this one, so that its primary channel does not flip back. That
	 * earlier update's peak only picks the primary channel: it is an old
	 * snapshot, lower than its channel's peak now, and the common-mode
	 * test below must not see it */
	v = *s;
	if (s->has_upd_best && s->upd_best.channel != c)
		detect_slot_offer_best(&v, &s->upd_best);
	detect_slot_merge(&v, &r);
	/* the common-mode test compares every channel's peak: those of the
	 * channels still open between potentials too, else an event still
	 * open on its smaller copies looks common-mode and its update is
	 * held back. Not those in a potential or an LM: their peak is still
	 * rising, and a partial one would make a common-mode artefact look
	 * like a twitch, for an update its reject then takes back */
	for (bits = s->open_mask & ~(UINT64_C(1) << c), i = 0; bits;
	     bits >>= 1, i++) {
		const struct detect_chan *o = &d->ch[i];

		if (!(bits & 1))
			continue;
		/* bad data on an open channel already makes it clipping */
		v.flags |= o->ep.flags & DETECT_EVF_INVALID;
		/* a peak still rising is a lower bound of that channel's:
		 * it can only raise the maximum */
		if (o->ep.peak > v.max_peak)
			v.max_peak = o->ep.peak;
		if (o->fs != FAST_IDLE || o->lm_state != LM_IDLE)
			continue;
		if (o->ep.peak < v.min_peak)
			v.min_peak = o->ep.peak;
	}
	s->upd_best = v.best;
	s->has_upd_best = 1;
	/* an LM channel sends none while tracked, but it is the primary
	 * channel of the others' */
	if (ch->lm_state != LM_IDLE)
		return;
	detect_describe(d, &v, &ev, &art, &onset, &dur);
	if (art) {
		/* held back: the potential's end tries again */
		ch->update_sent = 0;
		return;
	}
	/* nothing new to say: a smaller copy on another channel ended */
	if (s->n_updates && ev.onset_index == s->upd_last.onset_index &&
	    ev.channel == s->upd_last.channel &&
	    ev.duration_samples == s->upd_last.duration_samples &&
	    ev.event_class == s->upd_last.event_class &&
	    ev.n_potentials == s->upd_last.n_potentials)
		return;
	s->upd_last = ev;
	s->n_updates++;
	ev.type = DETECT_EVENT_UPDATE;
	d->counters.n_updates++;
	detect_emit(d, &ev);
}

/* The episode's onset, as reported when final: where the first potential
 * crossed offset_rel x its peak energy (10% amplitude), like its offset,
 * so that onsets do not move earlier as the amplitude grows. */
static void detect_refine_onset(const struct detector *d,
				const struct detect_chan *ch,
				struct detect_result *r)
{
	double level = d->cfg.offset_rel * ch->pot_peak_e;
	uint32_t k = 0;

	if (ch->n_ladder == 0)
		return;
	while (k + 1 < ch->n_ladder &&
	       ch->ladder_base * (double)(UINT64_C(1) << (2 * (k + 1))) <=
	       level)
		k++;
	if (ch->ladder[k] > r->onset && ch->ladder[k] < r->last_offset)
		r->onset = ch->ladder[k];
}

/* What ending @ch's running potential at @offset does to @r: its episode's
 * result (ch->ep), or a copy of it for an update record. 1: the potential
 * counted (it was not an echo, so the onset is refined), else 0. */
static int detect_potential_apply(const struct detector *d,
				  const struct detect_chan *ch,
				  struct detect_result *r, uint64_t offset)
{
	if (r->cur_pot < DETECT_MAX_POT &&
	    ch->pot_peak > r->pot_peak[r->cur_pot])
		r->pot_peak[r->cur_pot] = (float)ch->pot_peak;
	if (offset <= ch->pot_onset)
		offset = ch->pot_onset + 1;
	r->last_pot_samples = offset - ch->pot_onset;
	r->pot_samples += offset - ch->pot_onset;
	if (ch->pot_peak > r->max_pot_peak)
		r->max_pot_peak = ch->pot_peak;
	/* small ones (ringing, echoes) do not make the event longer */
	if (ch->pot_peak < d->cfg.potential_min_ratio * r->max_pot_peak)
		return 0;
	if (r->cur_pot >= DETECT_MAX_POT && r->late_last != r->cur_pot + 1) {
		r->n_late++;	/* once, also when a late phase reopens it */
		r->late_last = r->cur_pot + 1;
	}
	if (offset > r->last_offset) {
		r->last_offset = offset;
		r->abs_sum = ch->abs_run;
		r->energy = ch->energy_run;
	}
	if (ch->first_pot_open)
		detect_refine_onset(d, ch, r);
	return 1;
}

/* The running potential of @ch ended at @offset. */
static void detect_potential_end(struct detector *d, struct detect_chan *ch,
				 uint64_t offset)
{
	if (detect_potential_apply(d, ch, &ch->ep, offset))
		ch->first_pot_open = 0;
}

/* ------------------------------------------------------------ per sample */

static void detect_fast_abort(struct detector *d, struct detect_chan *ch)
{
	ch->fs = FAST_IDLE;
	if (!ch->ep_active)
		detect_acc_reset(d, ch);
}

void detect_invalid(struct detector *d, uint32_t c, uint64_t t)
{
	struct detect_chan *ch = &d->ch[c];

	if (ch->fs == FAST_POT)
		detect_potential_end(d, ch, t);
	if (ch->fs != FAST_IDLE)
		detect_fast_abort(d, ch);
	if (ch->ep_active)
		ch->ep.flags |= DETECT_EVF_INVALID;
	if (ch->lm_state == LM_ACTIVE) {
		ch->lm_state = LM_IDLE;
		ch->lm_quiet = 0;
	}
	detect_chan_reset_envelope(d, ch);
	ch->hist_n = 0;
	ch->lm_low = t;
	ch->had_invalid = 1;
	ch->invalid_until = t + d->guard;
	dsp_noise_push(&ch->nf_e, 0.0, DSP_NOISE_INVALID);
	dsp_noise_push(&ch->nf_a, 0.0, DSP_NOISE_INVALID);
}

static void detect_lm_track(struct detector *d, uint32_t c, uint64_t t,
			    double rest)
{
	struct detect_chan *ch = &d->ch[c];
	double a;

	if (ch->a_n < d->a_len)
		return;
	a = ch->a_sum / d->a_len;
	if (ch->lm_state == LM_IDLE) {
		if (a <= rest + d->cfg.lm_end_uv)
			ch->lm_low = t;
		if (a < rest + d->cfg.lm_onset_uv)
			return;
		ch->lm_state = LM_ACTIVE;
		ch->lm_quiet = 0;
		/* onset: where the envelope left the resting band */
		ch->lm_onset = ch->lm_low + 1 <= t ? ch->lm_low + 1 : t;
		if (!ch->ep_active) {
			if (ch->fs == FAST_IDLE)
				detect_acc_reset(d, ch);
			detect_episode_begin(d, c, ch->lm_onset, t);
		} else if (ch->lm_onset < ch->ep.onset) {
			ch->ep.onset = ch->lm_onset;
		}
		ch->ep.flags |= DETECT_EVF_LM_TRACK;
		return;
	}
	if (a > rest + d->cfg.lm_end_uv) {
		ch->lm_quiet = 0;
		return;
	}
	if (!ch->lm_quiet) {
		ch->lm_quiet = 1;
		ch->lm_quiet_start = t;
	}
	if (t + 1 - ch->lm_quiet_start < d->lm_quiet_len)
		return;
	/* AASM: the LM ends where the >= 0.5 s quiet period starts. The
	 * causal envelope lags the signal by about its length. */
	ch->lm_state = LM_IDLE;
	ch->lm_low = t;
	if (ch->ep_active) {
		uint64_t end = ch->lm_quiet_start > ch->lm_onset + d->a_len ?
			       ch->lm_quiet_start - d->a_len :
			       ch->lm_onset + 1;

		ch->ep.lm_valid = 1;
		ch->ep.lm_onset = ch->lm_onset;
		ch->ep.lm_end = end;
		/* too short for an LM: the potentials say how long it was */
		if (end > ch->ep.last_offset &&
		    end - ch->lm_onset >= d->lm_min) {
			ch->ep.last_offset = end;
			ch->ep.abs_sum = ch->abs_run;
			ch->ep.energy = ch->energy_run;
		}
	}
}

/* The first half of an aligned sample: the histories and the noise floors
 * take it. Touches this channel only. */
void detect_aligned_update(const struct detector *d,
			   struct detect_chan *ch, uint64_t t, double x, double e)
{
	float ax = (float)fabs(x);
	unsigned int state;

	ch->hist[ch->hist_pos] = (float)x;
	if (++ch->hist_pos == d->hist_len)
		ch->hist_pos = 0;
	if (ch->hist_n < d->hist_len)
		ch->hist_n++;

	if (ch->a_n < d->a_len)
		ch->a_n++;
	detect_movsum_push_f(ch->a_ring, d->a_len, &ch->a_pos, &ch->a_sum, &ch->a_fresh, ax);

	if (ch->had_invalid && t <= ch->invalid_until)
		state = DSP_NOISE_INVALID;
	else if (ch->ep_active || ch->fs >= FAST_CAND ||
		 ch->lm_state != LM_IDLE)
		state = DSP_NOISE_ACTIVE;	/* not PRE: that would bias
						 * the floor low */
	else
		state = DSP_NOISE_QUIET;
	dsp_noise_push(&ch->nf_e, e, state);
	dsp_noise_push(&ch->nf_a, fabs(x), state);
}

/* The second half: the energy track, LM track and episode decisions on
 * the floors that include the sample. */
void detect_aligned_decide(struct detector *d, uint32_t c, uint64_t t,
			   double x, double e)
{
	struct detect_chan *ch = &d->ch[c];
	double floor_e, rest, t_on, t_off, t_end, a_on, noise_rms, need;
	float ax = (float)fabs(x);
	int hi;

	floor_e = dsp_noise_floor(&ch->nf_e);
	rest = dsp_noise_floor(&ch->nf_a);
	if (!(floor_e > 1e-12) || !(rest > 1e-9))
		return;		/* warming up, or digital silence */
	t_on = d->cfg.threshold_on * floor_e;
	t_off = d->cfg.threshold_off * floor_e;
	noise_rms = rest * DETECT_MAV_TO_RMS;
	a_on = d->cfg.amp_threshold * noise_rms;

	hi = e >= t_on || ax >= a_on;
	if (ch->fs == FAST_IDLE && (e >= t_off || hi)) {
		ch->fs = FAST_PRE;
		ch->pre_onset = t;
		ch->pot_peak = 0.0;
		ch->pot_peak_e = 0.0;
		ch->n_ladder = 0;
		ch->ladder_base = t_off;
		if (!ch->ep_active)
			detect_acc_reset(d, ch);
	}
	if (ch->fs != FAST_IDLE || ch->ep_active)
		detect_acc_add(d, ch, x, e);
	if (ch->fs != FAST_IDLE && fabs(x) > ch->pot_peak)
		ch->pot_peak = fabs(x);
	if (ch->fs != FAST_IDLE && e > ch->pot_peak_e)
		ch->pot_peak_e = e;
	while (ch->fs != FAST_IDLE && ch->n_ladder < DETECT_LADDER &&
	       e >= ch->ladder_base * (double)(UINT64_C(1) <<
					       (2 * ch->n_ladder)))
		ch->ladder[ch->n_ladder++] = t;
	t_end = fmax(t_off, d->cfg.offset_rel * ch->pot_peak_e);

	switch (ch->fs) {
	case FAST_PRE:
		if (e < t_off && !hi) {
			detect_fast_abort(d, ch);
		} else if (hi) {
			ch->fs = FAST_CAND;
			ch->below = 0;
		}
		break;
	case FAST_CAND:
	case FAST_POT:
		if (e < t_end && (!hi || ch->fs == FAST_POT)) {
			if (ch->below++ == 0)
				ch->off_idx = t;
			if (ch->below >= d->refr) {
				if (ch->fs == FAST_POT) {
					ch->fs = FAST_IDLE;
					detect_potential_end(d, ch, ch->off_idx);
					if (!ch->update_sent)
						detect_update(d, c, &ch->ep);
				} else {
					detect_fast_abort(d, ch);
				}
			} else if (ch->below == d->update_after &&
				   ch->fs == FAST_POT && !ch->update_sent) {
				struct detect_result r = ch->ep;

				detect_potential_apply(d, ch, &r, ch->off_idx);
				detect_update(d, c, &r);
			}
		} else {
			ch->below = 0;
			ch->update_sent = 0;
		}
		break;
	default:
		break;
	}
	/* a candidate is a potential's first few ms: one that is not
	 * confirmed by then slides on (ringing, a noisy stretch), so that
	 * neither its onset nor its peak date from long ago */
	if ((ch->fs == FAST_PRE || ch->fs == FAST_CAND) &&
	    t - ch->pre_onset > d->fragment) {
		uint32_t k;

		ch->pre_onset = t - d->fragment;
		ch->pot_peak = fabs(x);
		ch->pot_peak_e = e;
		for (k = 0; k < ch->n_ladder; k++)
			if (ch->ladder[k] < ch->pre_onset)
				ch->ladder[k] = ch->pre_onset;
	}
	/* confirm a candidate: long enough and tall enough (and above the
	 * ringing of the last event) */
	need = d->cfg.min_peak_snr * noise_rms;
	if (ch->fs == FAST_CAND && !ch->ep_active && ch->shadow_peak > 0.0 &&
	    t >= ch->shadow_from)
		need += d->cfg.shadow_ratio * ch->shadow_peak *
			exp(-(double)(t - ch->shadow_from) / d->shadow_tau);
	if (ch->fs == FAST_CAND && t + 1 - ch->pre_onset >= d->min_pot &&
	    ch->pot_peak >= need) {
		ch->fs = FAST_POT;
		ch->update_sent = 0;
		if (ch->ep_active && ch->ep.n_pot &&
		    ch->pre_onset < ch->pot_onset + d->fragment) {
			/* a late phase of the last potential: reopen it */
			ch->ep.pot_samples -= ch->ep.last_pot_samples;
		} else {
			ch->pot_onset = ch->pre_onset;
			if (!ch->ep_active) {
				uint64_t lo = ch->shadow_from;

				if (ch->had_invalid && ch->invalid_until + 1 > lo)
					lo = ch->invalid_until + 1;
				detect_episode_begin(d, c, ch->pre_onset, t);
				ch->first_pot_open = ch->ep_active;
				ch->ep.cp_onset = detect_change_point(d, ch, t,
								     lo);
			}
			if (ch->ep_active) {
				ch->ep.cur_pot = ch->ep.n_pot++;
				if (ch->ep.cur_pot < DETECT_MAX_POT)
					ch->ep.pot_peak[ch->ep.cur_pot] = 0.0f;
			}
		}
	}

	if (ch->is_lm)
		detect_lm_track(d, c, t, rest);

	if (!ch->ep_active)
		return;
	if (t - ch->ep.onset >= d->max_event) {
		/* cut: tonic or a stuck floor; restart detection */
		ch->ep.flags |= DETECT_EVF_TRUNCATED;
		if (ch->fs == FAST_POT)
			detect_potential_end(d, ch, t);
		if (ch->lm_state == LM_ACTIVE) {
			ch->ep.lm_valid = 1;
			ch->ep.lm_onset = ch->lm_onset;
			ch->ep.lm_end = t;
			ch->lm_state = LM_IDLE;
			ch->lm_low = t;
		}
		if (ch->ep.last_offset < t)
			ch->ep.last_offset = t;
		ch->fs = FAST_IDLE;
		detect_episode_end(d, c);
		detect_acc_reset(d, ch);
		return;
	}
	if (ch->fs == FAST_IDLE && ch->lm_state == LM_IDLE &&
	    t >= ch->ep.last_offset + d->group_gap)
		detect_episode_end(d, c);
}

static void detect_gap(struct detector *d, uint64_t new_index)
{
	uint32_t c;

	d->counters.n_gaps++;
	for (c = 0; c < d->n_channels; c++) {
		struct detect_chan *ch = &d->ch[c];

		if (ch->fs == FAST_POT)
			detect_potential_end(d, ch, d->t_now);
		ch->fs = FAST_IDLE;
		ch->lm_state = LM_IDLE;
		if (ch->ep_active) {
			ch->ep.flags |= DETECT_EVF_INVALID;
			detect_episode_end(d, c);
		}
		detect_acc_reset(d, ch);
		detect_chan_reset_history(d, ch);
		detect_chan_reset_envelope(d, ch);
		ch->hist_n = 0;
		ch->had_invalid = 1;
		ch->invalid_until = new_index + d->guard;
		ch->lm_low = new_index;
	}
}

/* Input time: the sample of scan @n (0 if invalid) goes into the TKEO, its
 * moving mean and the delay line. Return: the envelope centred on the
 * sample delay scans ago, which is put in *ret_x and its AL_* state in
 * *ret_state. */
static inline double detect_input(const struct detector *d,
				  struct detect_chan *ch, double v, int inv,
				  float *ret_x, uint8_t *ret_state)
{
	double psi = 0.0;
	uint32_t slot, old;

	/* TKEO of sample n-1 */
	if (inv) {
		uint32_t i;

		ch->tk_n = 0;
		for (i = 0; i < d->psi_len; i++)
			ch->psi[i] = 0.0;
		ch->psi_sum = 0.0;
		ch->psi_fresh = 0.0;	/* psi[0, psi_pos) are 0 now */
	} else {
		if (ch->tk_n >= 2)
			psi = fabs(ch->x1 * ch->x1 - v * ch->x2);
		ch->x2 = ch->x1;
		ch->x1 = v;
		if (ch->tk_n < UINT32_MAX)
			ch->tk_n++;
	}
	detect_movsum_push(ch->psi, d->psi_len, &ch->psi_pos, &ch->psi_sum, &ch->psi_fresh, psi);
	/* delay line: the sample the envelope is centred on, delay scans
	 * ago */
	slot = ch->dl_pos;
	old = slot + 1 == d->dl_len ? 0 : slot + 1;
	ch->dl_x[slot] = (float)v;
	ch->dl_state[slot] = inv ? AL_INVALID : AL_VALID;
	ch->dl_pos = old;
	*ret_x = ch->dl_x[old];
	*ret_state = ch->dl_state[old];
	return ch->psi_sum / d->psi_len;
}

/* The reference: one scan, channel after channel, everything in order. */
static void detect_scan(struct detector *d, const float *scan,
			const uint8_t *fl, uint64_t n)
{
	uint32_t c;

	for (c = 0; c < d->n_channels; c++) {
		struct detect_chan *ch = &d->ch[c];
		double v = scan[c], e;
		uint8_t f = fl ? fl[c] : 0, state;
		float x;
		int inv;

		inv = !isfinite(v) || (f & DSP_FLAG_INVALID);
		if (inv) {
			d->counters.n_invalid_samples++;
			v = 0.0;
		}
		if (f & DSP_FLAG_STEP) {
			ch->last_step = n;
			detect_slot_mark_step(d, c, n);
		}
		e = detect_input(d, ch, v, inv, &x, &state);
		if (n < d->delay)
			continue;
		switch (state) {
		case AL_INVALID:
			detect_invalid(d, c, n - d->delay);
			break;
		case AL_VALID:
			detect_aligned(d, c, n - d->delay, x, e);
			break;
		default:
			break;
		}
	}
}

/* test-detect sets it to run the reference, detect_scan(), alone */
static int detect_fast_off;

int detect_process_flagged(struct detector *d, const float *filtered_uv,
			   const uint8_t *flags, size_t n_scans,
			   uint64_t first_sample_index, detect_event_fn *sink,
			   void *userdata)
{
	size_t i;
	uint32_t m;

	if (!d || (!filtered_uv && n_scans))
		return -EINVAL;
	if (d->started && first_sample_index < d->next_index)
		return -EINVAL;
	d->sink = sink;
	d->sink_data = userdata;
	d->n_finals = 0;
	if (!d->started) {
		d->started = 1;
		d->t_start = first_sample_index;
		d->t_now = first_sample_index;
		d->epoch_next = first_sample_index / d->epoch_len;
		d->epoch_first = d->epoch_next;
	} else if (first_sample_index > d->next_index && n_scans) {
		detect_gap(d, first_sample_index);
	}
	for (i = 0; i < n_scans && detect_fast_off; i++) {
		uint64_t n = first_sample_index + i;

		detect_scan(d, filtered_uv + i * d->n_channels,
			    flags ? flags + i * d->n_channels : NULL, n);
		detect_scan_done(d, n);
	}
	for (; i < n_scans; i += m) {
		size_t off = i * d->n_channels;

		m = n_scans - i < DETECT_TILE ? (uint32_t)(n_scans - i)
					      : DETECT_TILE;
		m = detect_tile_len(d, first_sample_index + i, m);
		detect_tile(d, filtered_uv + off, flags ? flags + off : NULL, m,
			    first_sample_index + i);
	}
	if (n_scans)
		d->next_index = first_sample_index + n_scans;
	d->sink = NULL;
	d->sink_data = NULL;
	return d->n_finals;
}

int detect_process(struct detector *d, const float *filtered_uv,
		   size_t n_scans, uint64_t first_sample_index,
		   detect_event_fn *sink, void *userdata)
{
	return detect_process_flagged(d, filtered_uv, NULL, n_scans,
				      first_sample_index, sink, userdata);
}

int detect_finish(struct detector *d, detect_event_fn *sink, void *userdata)
{
	uint64_t last_epoch;
	uint32_t c;

	if (!d)
		return -EINVAL;
	d->sink = sink;
	d->sink_data = userdata;
	d->n_finals = 0;
	for (c = 0; c < d->n_channels; c++) {
		struct detect_chan *ch = &d->ch[c];

		if (ch->fs == FAST_POT)
			detect_potential_end(d, ch, ch->below ? ch->off_idx :
					     d->t_now + 1);
		ch->fs = FAST_IDLE;
		if (ch->lm_state == LM_ACTIVE && ch->ep_active) {
			/* the recording ended inside the movement */
			ch->ep.lm_valid = 1;
			ch->ep.lm_onset = ch->lm_onset;
			ch->ep.lm_end = d->t_now + 1;
			ch->ep.flags |= DETECT_EVF_TRUNCATED;
			if (ch->ep.last_offset < d->t_now + 1)
				ch->ep.last_offset = d->t_now + 1;
		}
		ch->lm_state = LM_IDLE;
		if (ch->ep_active)
			detect_episode_end(d, c);
		detect_acc_reset(d, ch);
	}
	detect_slots_tick(d, 1);
	detect_plm_flush(d, 1);
	if (d->started) {
		last_epoch = d->t_now / d->epoch_len;
		while (d->epoch_next <= last_epoch) {
			detect_epoch_publish(d, d->epoch_next);
			d->epoch_next++;
		}
	}
	d->sink = NULL;
	d->sink_data = NULL;
	return d->n_finals;
}

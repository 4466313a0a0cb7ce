/* detect.h - real-time twitch detector over filtered EMG blocks.
 *
 * Input: interleaved scans of filtered samples in microvolts (dsp.h output)
 * and optionally the DSP's per-sample flags. Output: event records through
 * a callback (an onset record as soon as an event starts, an update record
 * as each of its first potentials ends, then one final or reject record,
 * all with the event's id), per-epoch sleep-lab metrics through a second
 * callback, and rates and counters on request. Events carry sample indexes; the
 * caller converts them to time. No allocation, lock or syscall after
 * detect_new(); a processing call takes about 10 KiB of stack (its tiles).
 */
#ifndef TWITCHD_DETECT_H
#define TWITCHD_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "dsp.h"

#define DETECT_MAX_CHANNELS	64	/* channel_mask is a uint64_t */
#define DETECT_EFM_MAX_EPOCHS	256	/* FM window: 256 x 30 s */

/* Event classes; 1..7 have the values of TWITCH_CLASS_* in ipc/twitch.h. */
#define DETECT_CLASS_NONE		0	/* onset records */
#define DETECT_CLASS_FASCICULATION	1	/* one potential <= 30 ms */
#define DETECT_CLASS_DOUBLET		2	/* two potentials */
#define DETECT_CLASS_MULTIPLET		3	/* >= 3 potentials */
#define DETECT_CLASS_MYOCLONUS		4	/* one, 30-150 ms */
#define DETECT_CLASS_PHASIC		5	/* burst 0.15-5 s */
#define DETECT_CLASS_LIMB_MOVEMENT	6	/* AASM LM (leg channels) */
#define DETECT_CLASS_TONIC		7	/* longer activity */
#define DETECT_CLASS_ART_MAINS		16	/* artefacts, rejects */
#define DETECT_CLASS_ART_POP		17
#define DETECT_CLASS_ART_CLIPPING	18	/* bad or lost data */
#define DETECT_CLASS_ART_COMMON_MODE	19
#define DETECT_N_CLASSES		20

/* struct detect_event.type */
#define DETECT_EVENT_ONSET	1	/* provisional: class NONE */
#define DETECT_EVENT_FINAL	2	/* a twitch, burst or movement */
#define DETECT_EVENT_REJECT	3	/* the onset was an artefact */
#define DETECT_EVENT_UPDATE	4	/* provisional: the event as it stands
					 * when a potential of it ends */

/* struct detect_event.flags */
#define DETECT_EVF_PHASIC_4X	0x0001	/* 0.1-5 s, >= 4x rest */
#define DETECT_EVF_MERGED	0x0002	/* on several channels */
#define DETECT_EVF_TRUNCATED	0x0004	/* cut at max_event_s */
#define DETECT_EVF_INVALID	0x0008	/* overlaps bad/lost data */
#define DETECT_EVF_STEP		0x0010	/* DSP step at onset */
#define DETECT_EVF_MAINS	0x0020	/* periodic at the mains period */
#define DETECT_EVF_LM_TRACK	0x0040	/* AASM LM rule fired */

struct detect_event {
	uint64_t id;		/* same in onset and final record */
	uint64_t onset_index;	/* first sample of the event */
	uint64_t channel_mask;	/* every channel it was seen on */
	uint32_t type;		/* DETECT_EVENT_* */
	uint32_t event_class;	/* DETECT_CLASS_* */
	uint32_t channel;	/* primary channel: largest peak */
	uint32_t n_potentials;	/* potentials on the primary channel */
	uint32_t duration_samples;
	uint32_t flags;		/* DETECT_EVF_* */
	float duration_ms;
	float peak_uv;		/* max |x| on the primary channel */
	float energy_uv2;	/* sum of |TKEO| over the event (uV^2) */
	float snr;		/* peak_uv / noise RMS (linear) */
	float noise_floor_uv;	/* noise RMS estimate on that channel */
	float mean_abs_uv;	/* mean |x| over the event */
};

/* Per channel and epoch sleep-lab metrics. No sleep staging: a scoring
 * program combines these with its stages. */
#define DETECT_EPF_RSWA_PHASIC	0x0001	/* >= 50% mini-epochs */
#define DETECT_EPF_EFM		0x0002	/* >= 5/min over 20 min */
#define DETECT_EPF_PARTIAL	0x0004	/* stream started inside it */

struct detect_epoch {
	uint64_t start_index;	/* first sample of the epoch */
	uint32_t channel;
	uint32_t epoch_samples;
	uint32_t n_mini;	/* mini-epochs in the epoch */
	uint32_t phasic_mini_mask;	/* bit i: mini-epoch i has a burst */
	uint32_t n_phasic_mini;
	uint32_t n_twitches;	/* classes 1-4, by onset */
	uint32_t n_fm_potentials;	/* potentials in classes 1-4 */
	uint32_t n_lm;
	uint32_t n_artefacts;
	uint32_t flags;		/* DETECT_EPF_* */
	float fmi_per_min;	/* FM index in this epoch */
	float fmi_window_per_min;	/* over the last efm_window_min */
	float background_uv;	/* resting mean |x| at the epoch's end */
};

struct detect_rates {
	float per_min_1;	/* exact sliding windows over onsets, in */
	float per_min_5;	/* twitches per minute; before a window is */
	float per_min_15;	/* full, divided by the time covered */
	float covered_s;
};

struct detect_sleep_stats {
	uint64_t n_lm;		/* after the bilateral merge */
	uint64_t n_plm;		/* LMs that belong to a PLM series */
	uint64_t n_plm_series;
	uint32_t run_length;	/* LMs in the current candidate series */
	uint32_t n_lm_dropped;	/* LM queue overflow (should stay 0) */
};

struct detect_counters {
	uint64_t n_by_class[DETECT_N_CLASSES];	/* finals and rejects */
	uint64_t n_onsets;
	uint64_t n_updates;	/* DETECT_EVENT_UPDATE records */
	uint64_t n_invalid_samples;
	uint64_t n_gaps;	/* discontinuities in the sample index */
	uint64_t n_artefacts;
};

struct detect_config {
	/* Energy (TKEO) track: Li, Zhou & Aruin 2007; Solnik et al. 2010.
	 * Onset/offset by two thresholds on the noise floor, as the
	 * detection/extraction thresholds of Jahanmiri-Nezhad et al. 2014. */
	double tkeo_smooth_ms;	/* moving mean of |TKEO|; 1.5 ms, rounded
				 * to whole samples, at least one (2 at
				 * 1 kHz, 3 at 2 kHz, 6 at 4 kHz). A needle
				 * potential's main phase is 1-3 ms: a longer
				 * mean dilutes it in the noise. At 0.5 false
				 * events a minute on bench-detect's real
				 * baselines, |TKEO| over 1.5 ms reaches 0.67
				 * of the 10 dB potentials, over 3 ms 0.51
				 * (each statistic at its own threshold) */
	double threshold_on;	/* x energy floor to start. 18: 17 gives
				 * the same F1 with 0.34 false events per
				 * channel-minute on the real quiet BioSPPy
				 * baselines (bench-detect's untouched cases;
				 * their sporadic 3.5-5 sigma spikes), 16 gives
				 * 0.99; 18 gives 0.00-0.03 over four seed
				 * sets. Gaussian noise alone gives none. */
	double threshold_off;	/* x energy floor to end; 4 */
	double amp_threshold;	/* |x| >= this x noise RMS also starts a
				 * potential: at 1 kHz a needle-like spike is
				 * 1-2 samples, which energy smoothing
				 * dilutes. 6 (Gaussian tail: 2e-9 per
				 * sample): at 5.5 this path gave every false
				 * event left on bench-detect's baselines */
	double refractory_ms;	/* below threshold_off this long ends a
				 * potential; FP doublets are 30-35 ms apart
				 * (Kleine 2012): must stay < 25 ms. 4 ms */
	double update_after_ms;	/* this long below threshold_off sends a
				 * potential's update record, provisional
				 * (refractory_ms ends the potential); 2 */
	double min_potential_ms;	/* shorter potentials dropped; 1.5 */
	double min_peak_snr;	/* peak / noise RMS needed; 3.5 */
	double fragment_ms;	/* a potential starting this soon after the
				 * previous one's onset is part of it (late
				 * phases; Kleine 2012 pairs start at 10 ms);
				 * 10 */
	double potential_min_ratio;	/* potentials smaller than this x the
				 * event's largest are not counted apart: FP
				 * doublets repeat the same unit (Kleine
				 * 2012), notch and filter echoes are small;
				 * 0.3 */
	double offset_rel;	/* a potential also ends below this x its
				 * own peak energy (0.01 = 10% amplitude), so
				 * the filters' ringing after a large one is
				 * not its duration; 0.01 */
	double shadow_ratio;	/* after an event the mains notches ring:
				 * ~10% of its peak, decaying with time
				 * constant 1/(pi notch_bw) (measured on the
				 * emgdb shapes). A new event on that channel
				 * must exceed shadow_ratio x peak x
				 * exp(-dt / shadow_tau_ms) on top of
				 * min_peak_snr. 1-sample spikes at 1 kHz
				 * ring at up to 13%; 0.25 */
	double shadow_tau_ms;	/* 160 = 1 / (pi x notch_bw 2 Hz) */
	double group_gap_ms;	/* potentials this close (offset to onset)
				 * form one event: doublets, multiplets,
				 * bursts. Kleine 2012 pairs 10-110 ms; 60 */
	/* Classes (upper bounds, ms) */
	double fasc_max_ms;	/* 30: needle FPs 2.8-37 ms (JNNP 2017) */
	double myoclonus_max_ms;	/* 150: AASM fragmentary myoclonus */
	double burst_min_duty;	/* a multi-potential event over
				 * myoclonus_max_ms (up to twice that) is a
				 * burst if its potentials cover this
				 * fraction; longer ones always; 0.5 */
	double phasic_min_ms;	/* 100 } AASM RSWA phasic burst */
	double phasic_max_ms;	/* 5000 } 0.1-5 s */
	double phasic_ratio;	/* 4: >= 4x background (AASM RSWA) */
	/* AASM limb movement (Berry et al. 2018, manual v2.5) */
	uint64_t lm_channel_mask;	/* leg (tibialis) channels; 0 */
	double lm_envelope_ms;	/* moving mean of |x|; 50 */
	double lm_onset_uv;	/* 8 uV above resting */
	double lm_end_uv;	/* 2 uV above resting ... */
	double lm_end_quiet_ms;	/* ... for >= 500 ms ends it */
	double lm_min_ms;	/* 500 */
	double lm_max_ms;	/* 10000 */
	/* PLM series (AASM; WASM: min_imi 10 s, short IMI breaks) */
	double plm_min_imi_s;	/* 5 */
	double plm_max_imi_s;	/* 90 */
	double plm_bilateral_s;	/* two legs < 5 s apart: once */
	uint32_t plm_min_count;	/* 4 */
	uint32_t plm_short_imi_breaks;	/* 0 (AASM), 1 (WASM 2016) */
	/* Epochs: RSWA 3-s mini-epochs in 30-s epochs; EFM >= 5/min over
	 * >= 20 min (AASM optional rule) */
	double epoch_s;		/* 30 */
	double mini_epoch_s;	/* 3 */
	double rswa_min_fraction;	/* 0.5 */
	double efm_min_per_min;	/* 5 */
	double efm_window_min;	/* 20 */
	/* Multichannel */
	double merge_ms;	/* same potential on several channels: 5 ms;
				 * also joined: an onset within fragment_ms
				 * while the event's first potential still
				 * runs (a small copy found late) */
	uint32_t cm_min_channels;	/* common mode needs >= 3 channels */
	double cm_max_ratio;	/* ... all of them, peaks within 2x */
	/* Artefacts */
	uint32_t mains_hz;	/* 0: check 50 and 60 Hz; or 50 or 60 */
	double mains_ratio;	/* correlation with itself one mains period
				 * earlier (events >= 3 periods) that makes
				 * an event a mains artefact; 0.6 */
	double pop_window_ms;	/* DSP step flag within this after the
				 * onset means a pop; >= dsp step_window_ms +
				 * step_gap_ms; 80 */
	double invalid_guard_ms;	/* after invalid data the filters ring:
				 * events starting within are clipping; 100 */
	double max_event_s;	/* longer events are cut (tonic); 60 */
	/* Noise floors (TKEO envelope and |x|) */
	struct dsp_noise_config noise;
};

struct detector;

typedef void detect_event_fn(const struct detect_event *ev, void *userdata);
typedef void detect_epoch_fn(const struct detect_epoch *ep, void *userdata);

/* detect_config_default() - literature defaults (see struct detect_config). */
void detect_config_default(struct detect_config *cfg);

/* detect_config_check() - validate @cfg for @n_channels at @rate_hz.
 * Return: 0 or -EINVAL with the first bad field's name in *ret_field. */
int detect_config_check(const struct detect_config *cfg, size_t n_channels,
			double rate_hz, const char **ret_field);

/* detect_new() - allocate a detector (all memory it will ever use).
 * Return: 0 and the detector in *ret (caller owns it: detect_free()),
 * -EINVAL (bad arguments) or -ENOMEM; *ret untouched on failure. */
int detect_new(const struct detect_config *cfg, size_t n_channels,
	       double rate_hz, struct detector **ret);

/* detect_free() - NULL-safe; returns NULL. */
struct detector *detect_free(struct detector *d);

/*
 * detect_set_input_delay() - the filters before the detector delay its input
 * by @samples (their group delay in the pass-band, dsp_chain_band_delay()):
 * every onset is reported that much earlier, at the time of the signal as it
 * came in. Call before the first block; default 0.
 */
void detect_set_input_delay(struct detector *d, double samples);

/* detect_set_epoch_sink() - where per-epoch metrics go (NULL: nowhere). */
void detect_set_epoch_sink(struct detector *d, detect_epoch_fn *fn,
			   void *userdata);

/* detect_process_flagged() - run @n_scans interleaved scans.
 * @filtered_uv: n_scans * n_channels samples, scan by scan; NaN/Inf are
 * treated as invalid data. @flags: NULL or DSP_FLAG_* in the same layout.
 * @first_sample_index: index of the first scan; it must not go backwards,
 * and a jump forward is a gap (counted; open events are marked invalid).
 * @sink: called for every event record, from inside this call.
 * Return: number of FINAL records emitted, or -EINVAL. */
int detect_process_flagged(struct detector *d, const float *filtered_uv,
			   const uint8_t *flags, size_t n_scans,
			   uint64_t first_sample_index, detect_event_fn *sink,
			   void *userdata);
int detect_process(struct detector *d, const float *filtered_uv,
		   size_t n_scans, uint64_t first_sample_index,
		   detect_event_fn *sink, void *userdata);

/* detect_finish() - the stream ended: close every open event (cut at the
 * last sample), order the pending LMs, publish the remaining epochs (the
 * last one is partial). Call detect_process*() no more afterwards.
 * Return: number of FINAL records emitted, or -EINVAL. */
int detect_finish(struct detector *d, detect_event_fn *sink, void *userdata);

/* detect_get_rates() - twitch rates of @channel at the current index.
 * Return: 0, or -EINVAL for a bad channel. */
int detect_get_rates(const struct detector *d, uint32_t channel,
		     struct detect_rates *ret);
void detect_get_counters(const struct detector *d,
			 struct detect_counters *ret);
void detect_get_sleep_stats(const struct detector *d,
			    struct detect_sleep_stats *ret);
/* detect_noise_floor_uv() - noise RMS estimate of @channel (0 if unknown). */
double detect_noise_floor_uv(const struct detector *d, uint32_t channel);

/* detect_class_name() - short lower-case name, "unknown" if out of range. */
const char *detect_class_name(uint32_t event_class);

#endif /* TWITCHD_DETECT_H */

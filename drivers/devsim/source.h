/* SPDX-License-Identifier: MIT */
/*
 * source.h - where twitch-devsim's values come from.
 *
 * An EMG source yields consecutive scans of microvolts (one value per
 * channel) from the start of a buffer session; it is deterministic for a
 * spec, seed, channel count and rate, so the simulator's byte log and its
 * ground-truth file can be trusted by tests. A body source answers the
 * AD5933's sweeps. Both sit behind this small interface so that the values'
 * origin (drivers/subject.c, drivers/recording.c, a test sine) is a spec.
 */
#ifndef TWITCH_DEVSIM_SOURCE_H
#define TWITCH_DEVSIM_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct devsim_source;

/* What a spec may tune (devsim --device keys); NAN keeps the subject's default. */
struct source_params {
	uint64_t seed;
	double bg_uv;			/* subject background rms */
	double mains_uv;		/* subject hum amplitude */
	double mup_per_min;		/* subject fasciculation rate */
	double lm_per_min;		/* subject limb-movement rate */
	uint64_t leg_mask;		/* channels the limb movements go on; 0: any */
	double r0_ohm, rinf_ohm, fc_hz, alpha;	/* subject body */
};

/*
 * source_new() - make an EMG source.
 * @spec: "subject" (default: drivers/subject.c, with ground truth),
 *        "sine" (per channel a sine, seeded noise, a spike every 2 s), or
 *        "recording:PATH" (WFDB/EDF/BioSPPy text via drivers/recording.c,
 *        channels taken in turn, linearly resampled, looped).
 * Return: 0 and *ret, or -errno with a message in @err.
 */
int source_new(const char *spec, const struct source_params *p,
	       unsigned int n_channels, double rate_hz,
	       struct devsim_source **ret, char *err, size_t errlen);

/*
 * source_restart() - back to scan 0 at @rate_hz (a buffer enable).
 * @truth_fd: ground truth of this session as JSON lines, or -1.
 * Return: 0 or -errno (a subject cannot run at that rate, say).
 */
int source_restart(struct devsim_source *s, double rate_hz, int truth_fd);

/* source_fill() - the next @n_scans scans, scan-major, in uV. */
void source_fill(struct devsim_source *s, double *out_uv, size_t n_scans);

/* does it write ground truth (the subject does) */
bool source_has_truth(const struct devsim_source *s);

struct devsim_source *source_free(struct devsim_source *s);

/*
 * source_body_z() - the AD5933's load at @f_hz: a resistor (@r_load_ohm >
 * 0) or the subject's Cole body (@p), as R + jX with X < 0 when capacitive.
 */
int source_body_z(const struct source_params *p, double r_load_ohm,
		  double f_hz, double *ret_r_ohm, double *ret_x_ohm);

#endif

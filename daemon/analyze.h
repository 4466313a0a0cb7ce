/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * analyze.h - `twitchd --analyze FILE`: the live pipeline run offline on a
 * recording (WFDB, EDF/EDF+/BDF, BioSPPy text: DSP chain, then the twitch
 * detector) or on a bioimpedance sweep CSV (Cole fit and estimates), one
 * JSON object per line.
 */
#ifndef TWITCHD_ANALYZE_H
#define TWITCHD_ANALYZE_H

#include <stdio.h>

#include "detect.h"
#include "dsp.h"

/* Filter and detector settings from a configuration (twitchd.conf's device
 * section), in place of the defaults. */
struct analyze_chain {
	const struct dsp_config *filt;
	const struct detect_config *det;	/* lm_channel_mask unused */
	const char *legs;		/* "label,label": leg channels; "" = by label */
};

/* Exit codes of analyze_run() (and of twitchd: DESIGN.md "Interfaces"). */
#define ANALYZE_EXIT_OK		0
#define ANALYZE_EXIT_FAILURE	1	/* runtime: out of memory, write error */
#define ANALYZE_EXIT_USAGE	2	/* bad usage or bad input */

/**
 * analyze_run() - analyse @path and print the results to @out.
 * @path: a recording (WFDB .hea/.dat or record name, EDF/EDF+/BDF, BioSPPy
 *	text) or a sweep CSV (`sweep,freq_hz,r_ohm,x_ohm` header). The kind
 *	is chosen by extension (.csv), then by content.
 * @subject: NULL or "height_cm=..,weight_kg=..,sex=m|f[,age=..]"; body
 *	water needs it (sweep CSV). It is validated whatever the file.
 * @out: one JSON object per line: for a recording, "twitch" events (final
 *	ones only), "epoch" sleep-lab metrics, then one "summary"; for a
 *	sweep CSV, one "bioz" object per sweep, then one "summary". Numbers
 *	are written in the C locale whatever the caller's; absent ones are
 *	null. The summary's last field, "samples_per_s" (samples of all
 *	analysed channels through the filters and the detector per second,
 *	file already loaded), is the only one that varies from run to run.
 * @chain: NULL for the defaults (legs: channels labelled tib... or leg...),
 *	or the settings of a configuration's device; a leg channel it names
 *	that the recording lacks is bad input.
 * @err: one message on failure, "twitchd --analyze: FILE:LINE: FIELD: what".
 *
 * Blocks on file I/O; reads the whole recording into memory (capped at
 * 1 GiB by the reader). Does not change the process's locale or signals.
 *
 * Return: ANALYZE_EXIT_OK, ANALYZE_EXIT_USAGE (bad input or arguments) or
 * ANALYZE_EXIT_FAILURE (out of memory, I/O or write error).
 */
int analyze_run(const char *path, const char *subject, const struct analyze_chain *chain,
		FILE *out, FILE *err);

#endif /* TWITCHD_ANALYZE_H */

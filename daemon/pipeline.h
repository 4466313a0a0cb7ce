/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pipeline.h - the EMG chain of one group of channels at one rate: a DSP
 * chain per channel, one mains decision shared by all, and the detector.
 * The same code runs live (acquire.c) and on recordings (analyze.c).
 */
#ifndef TWITCHD_PIPELINE_H
#define TWITCHD_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "dsp.h"

struct pipeline {
	size_t n_channels;
	size_t cap_scans;		/* largest block pipeline_run() takes */
	double rate_hz;
	unsigned int mains_hz;		/* applied to every channel; 0 = not yet */
	int started;
	uint64_t index0;		/* first sample index of the stream */
	struct dsp_chain *chain;	/* one per channel */
	struct detector *det;
	float *filt;			/* cap_scans x n_channels, interleaved */
	uint8_t *flags;			/* DSP_FLAG_* per filtered sample */
};

/*
 * pipeline_init() - allocate everything the pipeline will ever use.
 * @dsp/@dcfg: filter and detector settings (copied).
 * Return: 0, -EINVAL (bad settings for this rate) or -ENOMEM; on failure
 * everything is released again.
 */
int pipeline_init(struct pipeline *p, const struct dsp_config *dsp,
		  const struct detect_config *dcfg, size_t n_channels, double rate_hz,
		  size_t cap_scans);
/* NULL-safe; twice is fine. */
void pipeline_deinit(struct pipeline *p);

/*
 * pipeline_filter() - the filtering half of pipeline_run(): p->filt and
 * p->flags for @n_scans scans, the mains decision shared. Return 0 or -errno.
 */
int pipeline_filter(struct pipeline *p, const float *in_uv, size_t n_scans,
		    uint64_t first_index);

/*
 * pipeline_run() - filter @n_scans interleaved scans of @in_uv and detect.
 * @first_index: sample index of the first scan (a jump forward is a gap).
 * No allocation, no syscall. Return: final events emitted, or -errno.
 */
int pipeline_run(struct pipeline *p, const float *in_uv, size_t n_scans,
		 uint64_t first_index, detect_event_fn *sink, void *userdata);

#endif

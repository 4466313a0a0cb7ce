// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pipeline.c - DSP chain per channel, a shared mains decision, the detector.
 *
 * The mains family (50 or 60 Hz) is decided by whichever channel hears it
 * first, and then forced on every channel of the group: a cart sits on one
 * mains, and channels that disagree would ring differently.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

int pipeline_init(struct pipeline *p, const struct dsp_config *dsp,
		  const struct detect_config *dcfg, size_t n_channels, double rate_hz,
		  size_t cap_scans)
{
	size_t c;
	int err;

	memset(p, 0, sizeof(*p));
	if (n_channels == 0 || cap_scans == 0)
		return -EINVAL;
	p->n_channels = n_channels;
	p->cap_scans = cap_scans;
	p->rate_hz = rate_hz;
	p->chain = calloc(n_channels, sizeof(*p->chain));
	p->filt = calloc(n_channels * cap_scans, sizeof(*p->filt));
	p->flags = calloc(n_channels * cap_scans, 1);
	if (!p->chain || !p->filt || !p->flags) {
		err = -ENOMEM;
		goto fail;
	}
	for (c = 0; c < n_channels; c++) {
		err = dsp_chain_init(&p->chain[c], dsp, rate_hz);
		if (err < 0)
			goto fail;
	}
	err = detect_new(dcfg, n_channels, rate_hz, &p->det);
	if (err < 0)
		goto fail;
	return 0;
fail:
	pipeline_deinit(p);
	return err;
}

void pipeline_deinit(struct pipeline *p)
{
	free(p->chain);
	free(p->filt);
	free(p->flags);
	p->det = detect_free(p->det);
	p->chain = NULL;
	p->filt = NULL;
	p->flags = NULL;
}

int pipeline_run(struct pipeline *p, const float *in_uv, size_t n_scans,
		 uint64_t first_index, detect_event_fn *sink, void *userdata)
{
	const size_t n = p->n_channels;
	size_t c, i;
	int r;

	if (n_scans > p->cap_scans)
		return -ENOBUFS;
	dsp_chains_process_flags(p->chain, n, in_uv, p->filt, p->flags, n_scans, NULL);
	if (p->mains_hz == 0) {
		for (c = 0; c < n; c++) {
			unsigned int hz = p->chain[c].mains_hz;

			if (hz != 50 && hz != 60)
				continue;
			for (i = 0; i < n; i++) {
				r = dsp_chain_set_mains(&p->chain[i], hz);
				if (r < 0)
					return r;
			}
			p->mains_hz = hz;
			break;
		}
	}
	return detect_process_flagged(p->det, p->filt, p->flags, n_scans, first_index, sink,
				      userdata);
}

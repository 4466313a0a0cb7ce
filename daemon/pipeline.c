// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pipeline.c - DSP chain per channel, a shared mains decision, the detector.
 *
 * The mains family (50 or 60 Hz) is decided by whichever channel hears it
 * first, and then forced on every channel of the group: a cart sits on one
 * mains, and channels that disagree would ring differently. Until then the
 * calls are cut at whole mains-detector blocks of the stream (1 s), and a
 * decision reaches the other channels there: at the same sample however
 * the stream arrives in blocks, so live runs and --analyze agree.
 */
#include <errno.h>
#include <math.h>
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
	/* onsets at the input's time: the band-pass's delay at its centre */
	detect_set_input_delay(p->det, dsp_chain_band_delay(&p->chain[0],
			       sqrt(dsp->hp_cutoff_hz * p->chain[0].lp_cutoff_hz)));
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

/* A channel that decided the mains family: every channel takes it. */
static int share_mains(struct pipeline *p)
{
	size_t c, i;
	int r;

	for (c = 0; c < p->n_channels; c++) {
		unsigned int hz = p->chain[c].mains_hz;

		if (hz != 50 && hz != 60)
			continue;
		for (i = 0; i < p->n_channels; i++) {
			r = dsp_chain_set_mains(&p->chain[i], hz);
			if (r < 0)
				return r;
		}
		p->mains_hz = hz;
		break;
	}
	return 0;
}

int pipeline_filter(struct pipeline *p, const float *in_uv, size_t n_scans,
		    uint64_t first_index)
{
	const size_t n = p->n_channels;
	const uint64_t block = p->chain[0].mains_det.block_len;
	size_t done = 0, m;
	int r;

	if (n_scans > p->cap_scans)
		return -ENOBUFS;
	if (!p->started && n_scans) {
		p->started = 1;
		p->index0 = first_index;
	}
	while (done < n_scans) {
		m = n_scans - done;
		if (p->mains_hz == 0 && block > 0) {
			uint64_t pos = (first_index + done - p->index0) % block;

			if (m > block - pos)
				m = (size_t)(block - pos);
		}
		dsp_chains_process_flags(p->chain, n, in_uv + done * n, p->filt + done * n,
					 p->flags + done * n, m, NULL);
		done += m;
		if (p->mains_hz == 0) {
			r = share_mains(p);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int pipeline_run(struct pipeline *p, const float *in_uv, size_t n_scans,
		 uint64_t first_index, detect_event_fn *sink, void *userdata)
{
	int r = pipeline_filter(p, in_uv, n_scans, first_index);

	if (r < 0)
		return r;
	return detect_process_flagged(p->det, p->filt, p->flags, n_scans, first_index, sink,
				      userdata);
}

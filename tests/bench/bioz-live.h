/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bioz-live.h - bench-bioz's live part: twitchd fitting the sweeps of a
 * simulated AD5933 (twitch-devsim under umockdev), timed from the sweep's
 * last point to its estimate record being readable in the events ring.
 */
#ifndef TWITCH_BENCH_BIOZ_LIVE_H
#define TWITCH_BENCH_BIOZ_LIVE_H

#include <stddef.h>

struct bioz_live_lat {
	size_t n;			/* sweeps timed */
	size_t n_missing;		/* sweeps done without an estimate record */
	unsigned int n_points;		/* frequencies per sweep */
	double p50_ms, p99_ms, max_ms;	/* last point made -> estimate readable */
	double in_p50_ms, in_p99_ms;	/* of which: twitchd's read -> readable */
	char why[256];			/* when it could not run: what is missing */
};

/*
 * bioz_live_latency() - run @n_sweeps sweeps of @n_points (one a second)
 * and time them. Return 0, or -errno with ret->why saying why (e.g. the
 * binaries are not built, umockdev missing).
 */
int bioz_live_latency(unsigned int n_sweeps, unsigned int n_points, struct bioz_live_lat *ret);

#endif

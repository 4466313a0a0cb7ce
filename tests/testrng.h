/* SPDX-License-Identifier: MIT */
/*
 * testrng.h - the seeded generator of the tests and benchmarks: splitmix64
 * and Box-Muller, so a test and the benchmark of the same module draw the
 * same noise from the same seed.
 */
#ifndef TWITCH_TESTRNG_H
#define TWITCH_TESTRNG_H

#include <math.h>
#include <stdint.h>

struct testrng {
	uint64_t s;		/* the seed; any value */
};

static inline uint64_t testrng_next(struct testrng *r)	/* splitmix64 */
{
	uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Standard normal, by Box-Muller from two uniforms in (0, 1). */
static inline double testrng_gauss(struct testrng *r)
{
	double u = ((double)(testrng_next(r) >> 11) + 0.5) / 9007199254740992.0;
	double v = ((double)(testrng_next(r) >> 11) + 0.5) / 9007199254740992.0;

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

#endif

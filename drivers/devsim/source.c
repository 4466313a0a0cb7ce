// SPDX-License-Identifier: MIT
/*
 * source.c - value sources for twitch-devsim.
 *
 * "subject": the synthetic subject of drivers/subject.c, recreated from the
 * seed at every buffer enable so that each session starts at scan 0, its
 * injected events written as ground truth. "recording": a real file through
 * drivers/recording.c, linearly resampled to the device rate and looped.
 * "sine": a tiny stand-in whose scan n is a pure function of (seed, channel,
 * n). The AD5933's body is the subject's Cole model (subject_cole()).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recording.h"
#include "source.h"
#include "subject.h"

enum source_kind { SOURCE_SINE, SOURCE_SUBJECT, SOURCE_RECORDING };

struct devsim_source {
	enum source_kind kind;
	struct source_params p;
	unsigned int n_channels;
	double rate_hz;
	uint64_t pos;			/* next scan */
	struct subject *subj;
	int truth_fd;
	/* recording: one array per source channel, in uV */
	double **rec;
	size_t n_rec;			/* channels in the file */
	uint64_t rec_len;		/* samples of the shortest one */
	double rec_rate_hz;
};

/* ------------------------------------------------------------ sine */

static uint64_t source_mix(uint64_t x)	/* splitmix64 */
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static double source_sine_value(const struct devsim_source *s, unsigned int c,
				uint64_t n)
{
	double t = (double)n / s->rate_hz;
	double amp = 40.0 + 10.0 * (c % 4), f = 8.0 + 3.0 * c;
	uint64_t h = source_mix(s->p.seed ^ source_mix(((uint64_t)c << 48) ^ n));
	double v = amp * sin(2.0 * M_PI * f * t) +
		   ((double)(h >> 11) / 9007199254740992.0 - 0.5) * 10.0;
	double tj = t - 1.0;
	long j = lround(tj / 2.0);

	/* spike j at 1 + 2j s on channel j mod n: a Gaussian's derivative */
	if (j >= 0 && (unsigned long)j % s->n_channels == c) {
		double u = (tj - 2.0 * (double)j) / 0.002;

		if (fabs(u) < 6.0)
			v += -400.0 * u * exp(0.5 - 0.5 * u * u);
	}
	return v;
}

/* ------------------------------------------------------------ subject */

static struct subject_config source_subject_cfg(const struct devsim_source *s)
{
	struct subject_config c = subject_config_default();

	c.seed = s->p.seed;
	c.n_channels = s->n_channels;
	c.rate_hz = s->rate_hz;
	if (!isnan(s->p.bg_uv))		/* 0 is a value: no background */
		c.background_rms_uv = s->p.bg_uv;
	if (!isnan(s->p.mains_uv))
		c.mains_uv = s->p.mains_uv;
	if (!isnan(s->p.mup_per_min))
		c.mup_rate_per_min = s->p.mup_per_min;
	if (!isnan(s->p.lm_per_min))
		c.lm_rate_per_min = s->p.lm_per_min;
	c.lm_channel_mask = s->p.leg_mask;
	return c;
}

static void source_truth(const struct subject_truth *t, void *userdata)
{
	struct devsim_source *s = userdata;
	char line[256];
	int n = subject_truth_json(t, line, sizeof(line));

	if (n > 0 && s->truth_fd >= 0 && write(s->truth_fd, line, (size_t)n) < 0)
		s->truth_fd = -1;	/* a full disk ends the truth file, not us */
}

/* ------------------------------------------------------------ recording */

static int source_recording_load(struct devsim_source *s, const char *path,
				 char *err, size_t errlen)
{
	struct recording_error rerr;
	struct recording *rec = NULL;
	size_t c;
	int r;

	r = recording_open(path, NULL, &rec, &rerr);
	if (r < 0) {
		recording_strerror(&rerr, err, errlen);
		return r;
	}
	s->n_rec = recording_n_channels(rec);
	s->rec = s->n_rec > 0 ? calloc(s->n_rec, sizeof(*s->rec)) : NULL;
	if (s->rec == NULL) {
		snprintf(err, errlen, "%s: no channels", path);
		r = s->n_rec > 0 ? -ENOMEM : -EINVAL;
		goto out;
	}
	s->rec_rate_hz = recording_rate_hz(rec, 0);
	s->rec_len = UINT64_MAX;
	for (c = 0; c < s->n_rec; c++) {
		uint64_t n = recording_n_samples(rec, c);
		uint64_t k;

		if (recording_rate_hz(rec, c) != s->rec_rate_hz ||
		    !recording_is_voltage(rec, c) || n < 2 || n > (UINT64_C(1) << 28)) {
			snprintf(err, errlen, "%s: channel %zu is not a voltage at the "
				 "first channel's rate", path, c);
			r = -EINVAL;
			goto out;
		}
		s->rec[c] = malloc(n * sizeof(double));
		if (s->rec[c] == NULL) {
			r = -ENOMEM;
			goto out;
		}
		for (k = 0; k < n;) {
			int got = recording_read(rec, c, k, n - k > 65536 ? 65536 : n - k,
						 s->rec[c] + k);

			if (got <= 0) {
				snprintf(err, errlen, "%s: read failed", path);
				r = got < 0 ? got : -EIO;
				goto out;
			}
			k += (uint64_t)got;
		}
		for (k = 0; k < n; k++)		/* "no sample" codes read as NaN */
			if (!isfinite(s->rec[c][k]))
				s->rec[c][k] = 0.0;
		if (n < s->rec_len)
			s->rec_len = n;
	}
	r = 0;
out:
	recording_free(rec);
	return r;
}

static double source_recording_value(const struct devsim_source *s,
				     unsigned int c, uint64_t n)
{
	/* source position of device scan n, wrapped; linear interpolation */
	double x = fmod((double)n * s->rec_rate_hz / s->rate_hz, (double)s->rec_len);
	uint64_t i = (uint64_t)x;
	const double *v = s->rec[c % s->n_rec];
	double fr = x - (double)i;

	return v[i] + fr * (v[(i + 1) % s->rec_len] - v[i]);
}

/* ------------------------------------------------------------ interface */

int source_new(const char *spec, const struct source_params *p,
	       unsigned int n_channels, double rate_hz,
	       struct devsim_source **ret, char *err, size_t errlen)
{
	struct devsim_source *s;
	int r = 0;

	if (n_channels == 0 || !(rate_hz > 0)) {
		snprintf(err, errlen, "a source needs channels and a rate");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->p = *p;
	s->n_channels = n_channels;
	s->rate_hz = rate_hz;
	s->truth_fd = -1;
	if (spec == NULL || spec[0] == '\0' || strcmp(spec, "subject") == 0) {
		s->kind = SOURCE_SUBJECT;
	} else if (strcmp(spec, "sine") == 0) {
		s->kind = SOURCE_SINE;
	} else if (strncmp(spec, "recording:", 10) == 0) {
		s->kind = SOURCE_RECORDING;
		r = source_recording_load(s, spec + 10, err, errlen);
	} else {
		snprintf(err, errlen, "unknown source \"%s\" (have: subject, sine, "
			 "recording:PATH)", spec);
		r = -EINVAL;
	}
	if (r < 0) {
		source_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int source_restart(struct devsim_source *s, double rate_hz, int truth_fd)
{
	struct subject_config c;

	s->pos = 0;
	s->truth_fd = truth_fd;
	if (rate_hz > 0)
		s->rate_hz = rate_hz;
	if (s->kind != SOURCE_SUBJECT)
		return 0;
	/* a fresh subject per session: scan 0 is the same every time */
	s->subj = subject_free(s->subj);
	c = source_subject_cfg(s);
	return subject_new(&c, &s->subj);
}

void source_fill(struct devsim_source *s, double *out_uv, size_t n_scans)
{
	size_t i;
	unsigned int c;

	if (s->kind == SOURCE_SUBJECT && s->subj != NULL) {
		subject_emg_fill(s->subj, out_uv, n_scans, source_truth, s);
		s->pos += n_scans;
		return;
	}
	for (i = 0; i < n_scans; i++, s->pos++)
		for (c = 0; c < s->n_channels; c++)
			out_uv[i * s->n_channels + c] = s->kind == SOURCE_RECORDING ?
				source_recording_value(s, c, s->pos) :
				source_sine_value(s, c, s->pos);
}

bool source_has_truth(const struct devsim_source *s)
{
	return s->kind == SOURCE_SUBJECT;
}

struct devsim_source *source_free(struct devsim_source *s)
{
	size_t c;

	if (s == NULL)
		return NULL;
	subject_free(s->subj);
	for (c = 0; s->rec != NULL && c < s->n_rec; c++)
		free(s->rec[c]);
	free(s->rec);
	free(s);
	return NULL;
}

int source_body_z(const struct source_params *p, double r_load_ohm,
		  double f_hz, double *ret_r_ohm, double *ret_x_ohm)
{
	struct subject_config d = subject_config_default();

	if (r_load_ohm > 0) {
		*ret_r_ohm = r_load_ohm;
		*ret_x_ohm = 0.0;
		return 0;
	}
	subject_cole(isnan(p->r0_ohm) ? d.r0_ohm : p->r0_ohm,
		     isnan(p->rinf_ohm) ? d.rinf_ohm : p->rinf_ohm,
		     isnan(p->fc_hz) ? d.fc_hz : p->fc_hz,
		     isnan(p->alpha) ? d.alpha : p->alpha, f_hz, ret_r_ohm, ret_x_ohm);
	return 0;
}

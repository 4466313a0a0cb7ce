// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * twitch-top - a full-screen live view of twitchd, like top(1).
 *
 * Per EMG channel a waveform strip (the samples-<device> rings hold raw uV;
 * a display band-pass like the detector's takes the baseline out), its noise floor and
 * twitch rates, the last twitch events, a hydration panel from the bioz
 * estimates and a status line with losses and device state. Links only
 * libtwitch and ncursesw. The rings are polled (timeout 0, see drain()) once
 * a frame, so the screen never waits for the daemon. Meaning is always
 * written in text, never in colour alone.
 * Exit codes as twitchctl: 0, 1 runtime failure, 2 bad arguments,
 * 3 twitchd not running, 4 permission denied.
 */
#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <twitch.h>

#include "top-events.h"

#define EXIT_USAGE	2

#define MAX_STREAMS	8
#define MAX_EMG		4	/* EMG devices shown */
#define MAX_ROWS	64	/* channel rows, all EMG devices together */
#define HIST_MAX_S	20.0	/* longest time scale, s */
#define HIST_MAX_VALUES	(4u << 20)	/* history floats per device: 16 MiB at most */
/* display band-pass: the detector's band (dsp.h: SENIAM 20 Hz, 450 Hz) */
#define HP_CUTOFF_HZ	20.0
#define LP_CUTOFF_HZ	450.0	/* at most 0.45 x the rate */
#define FRAME_NS	25000000L	/* poll period, 25 ms */
#define REDRAW_NS	100000000u	/* redraw at most every 100 ms */
#define LIVENESS_NS	200000000u	/* see drain() */
#define READ_BUDGET	4096	/* records per stream per frame */
#define MIN_COLS	60
#define MIN_LINES	16

static const double scales_s[] = { 0.5, 1, 2, 5, 10, 20 };
#define N_SCALES (sizeof(scales_s) / sizeof(scales_s[0]))

enum cal_state { CAL_UNKNOWN, CAL_NO, CAL_YES };

/* What the waveforms are drawn from: the live history or a frozen copy. */
struct view {
	const float *hist;
	size_t cap;
	unsigned int n_ch;
	uint64_t n_written;
};

/* One EMG device: its channels' display history and numbers. */
struct biquad {
	double b0, b1, b2, a1, a2;	/* normalised: a0 = 1 */
};

struct emg {
	unsigned int device;
	char name[24];
	unsigned int n_ch;
	double rate_hz;
	uint32_t index_epoch;
	uint64_t next_index;		/* sample index expected next */
	bool have_index;
	float *hist;			/* n_ch * cap, per channel; NaN = no data */
	size_t cap;			/* scans per channel */
	uint64_t n_written;		/* scans written in total */
	float *frozen_buf;		/* copy of hist while paused, or NULL */
	struct view frozen;		/* over frozen_buf */
	struct biquad hp, lp;		/* 2nd-order Butterworth sections */
	double z[MAX_ROWS][4];		/* per channel: hp z1 z2, lp z1 z2 */
	double x0[MAX_ROWS];		/* first sample: the offset taken out first */
	bool hp_init[MAX_ROWS];
	float noise_uv[MAX_ROWS];	/* NaN: not known */
	float rate[MAX_ROWS][3];	/* per min, 1/5/15 min; NaN: not known */
};

struct stream {
	struct twitch_reader *r;
	char name[24];
	unsigned int device;
	int emg;			/* index in emgs, -1 if not (yet) EMG */
	uint64_t last_check_ns;		/* see drain() */
	bool classified;
};

struct top {
	struct twitch_client *c;
	struct stream streams[MAX_STREAMS];
	int n_streams;
	struct twitch_reader *events;
	uint64_t events_check_ns;
	struct emg emgs[MAX_EMG];
	int n_emg;
	/* device state by device index, from status records */
	char dev_state[MAX_STREAMS][24];
	char dev_name[MAX_STREAMS][24];
	bool dev_known[MAX_STREAMS];
	/* losses */
	uint64_t dev_lost_scans;
	bool dev_lost_approx;
	uint64_t view_lost_records;	/* lapped + restart, as reported */
	/* hydration alerts raised and not cleared, by TWITCH_BIOZ_ALERT_* bit;
	 * unconfirmed: raised before a restart of twitchd, not judged since */
	uint32_t alerts_on, alerts_unconfirmed;
	/* daemon */
	bool gone;
	bool stalled;
	uint64_t gone_real_ns, restarted_real_ns;
	char last_status[128];
	uint64_t last_status_real_ns;
	/* events */
	struct top_events evlist;	/* the "last events" list */
	/* hydration */
	bool bioz_device;
	enum cal_state cal;
	bool have_bioz;
	struct twitch_rec_bioz bioz;
	bool have_prev_ri;
	double prev_ri, prev_ri_u;
	uint64_t bioz_mono_ns;
	/* view */
	bool paused, help;
	unsigned int sel;
	unsigned int scale;
	int n_proto;			/* malformed records skipped */
};

static volatile sig_atomic_t quit_signal;

static void on_signal(int sig)
{
	quit_signal = sig;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fmt_clock(uint64_t real_ns, char buf[16])
{
	time_t secs = (time_t)(real_ns / 1000000000u);
	struct tm tm;

	localtime_r(&secs, &tm);
	strftime(buf, 16, "%H:%M:%S", &tm);
}

/* ---------------------------------------------------------------- model */

static unsigned int top_n_rows(const struct top *t)
{
	unsigned int n = 0;
	int i;

	for (i = 0; i < t->n_emg; i++)
		n += t->emgs[i].n_ch;
	return n < MAX_ROWS ? n : MAX_ROWS;
}

/* Row @row of the flattened channel list: its device and channel. */
static struct emg *top_row(struct top *t, unsigned int row, unsigned int *ret_ch)
{
	int i;

	for (i = 0; i < t->n_emg; i++) {
		if (row < t->emgs[i].n_ch) {
			*ret_ch = row;
			return &t->emgs[i];
		}
		row -= t->emgs[i].n_ch;
	}
	return NULL;
}

static void row_label(const struct top *t, const struct emg *e, unsigned int ch, char buf[24])
{
	if (t->n_emg > 1)
		snprintf(buf, 24, "%u.%u", (unsigned int)(e - t->emgs), ch);
	else
		snprintf(buf, 24, "ch%u", ch);
}

static struct emg *emg_by_device(struct top *t, unsigned int device)
{
	int i;

	for (i = 0; i < t->n_emg; i++)
		if (t->emgs[i].device == device)
			return &t->emgs[i];
	return NULL;
}

static void emg_forget_numbers(struct emg *e)
{
	unsigned int ch;

	for (ch = 0; ch < MAX_ROWS; ch++) {
		e->noise_uv[ch] = NAN;
		e->rate[ch][0] = e->rate[ch][1] = e->rate[ch][2] = NAN;
	}
}

/* (Re)size the history for @n_ch channels at @rate_hz; all of it "no data". */
/* A 2nd-order Butterworth low- or high-pass by the bilinear transform (RBJ). */
static struct biquad butterworth(double f0_hz, double rate_hz, bool high)
{
	double w0 = 2.0 * M_PI * f0_hz / rate_hz, c = cos(w0), al = sin(w0) / M_SQRT2;
	double a0 = 1.0 + al, g = high ? (1.0 + c) / 2.0 : (1.0 - c) / 2.0;

	return (struct biquad){ .b0 = g / a0, .b1 = (high ? -2.0 : 2.0) * g / a0, .b2 = g / a0,
				.a1 = -2.0 * c / a0, .a2 = (1.0 - al) / a0 };
}

/* Transposed direct form II: one sample through @q with state z[0], z[1]. */
static inline double biquad_step(const struct biquad *q, double *z, double x)
{
	double y = q->b0 * x + z[0];

	z[0] = q->b1 * x - q->a1 * y + z[1];
	z[1] = q->b2 * x - q->a2 * y;
	return y;
}

static int emg_setup(struct emg *e, unsigned int n_ch, double rate_hz)
{
	size_t cap = (size_t)(rate_hz * HIST_MAX_S) + 1, i;
	float *h;

	if (n_ch == 0 || n_ch > MAX_ROWS || !(rate_hz > 0) || rate_hz > 1e6)
		return -EINVAL;
	if (cap * n_ch > HIST_MAX_VALUES)
		cap = HIST_MAX_VALUES / n_ch;
	h = malloc(cap * n_ch * sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	for (i = 0; i < cap * n_ch; i++)
		h[i] = NAN;
	free(e->hist);
	e->hist = h;
	e->cap = cap;
	e->n_ch = n_ch;
	e->rate_hz = rate_hz;
	e->n_written = 0;
	e->have_index = false;
	e->hp = butterworth(fmin(HP_CUTOFF_HZ, 0.2 * rate_hz), rate_hz, true);
	e->lp = butterworth(fmin(LP_CUTOFF_HZ, 0.45 * rate_hz), rate_hz, false);
	memset(e->hp_init, 0, sizeof(e->hp_init));
	return 0;
}

static void emg_push_gap(struct emg *e, uint64_t n)
{
	unsigned int ch;
	uint64_t k;

	if (n > e->cap)
		n = e->cap;
	for (k = 0; k < n; k++, e->n_written++)
		for (ch = 0; ch < e->n_ch; ch++)
			e->hist[(size_t)ch * e->cap + e->n_written % e->cap] = NAN;
	memset(e->hp_init, 0, sizeof(e->hp_init));
}

/* One sample block: band-passed for display, into the history. */
static void emg_on_samples(struct emg *e, const struct twitch_rec_samples *s)
{
	unsigned int ch, k;
	size_t pos;

	if (s->n_channels != e->n_ch || s->rate_hz != (float)e->rate_hz) {
		if (emg_setup(e, s->n_channels, s->rate_hz) < 0)
			return;
	}
	if (e->have_index && s->index_epoch == e->index_epoch &&
	    s->hdr.sample_index > e->next_index)
		emg_push_gap(e, s->hdr.sample_index - e->next_index);
	else if (e->have_index && s->index_epoch != e->index_epoch)
		memset(e->hp_init, 0, sizeof(e->hp_init));
	e->index_epoch = s->index_epoch;
	e->next_index = s->hdr.sample_index + s->n_scans;
	e->have_index = true;
	for (k = 0; k < s->n_scans; k++, e->n_written++) {
		pos = e->n_written % e->cap;
		for (ch = 0; ch < e->n_ch; ch++) {
			double x = s->data[(size_t)k * s->n_channels + ch];

			if (!isfinite(x)) {	/* a gap on screen; state untouched */
				e->hist[(size_t)ch * e->cap + pos] = NAN;
				continue;
			}
			if (!e->hp_init[ch]) {
				/* start from the offset: no step for the high-pass to ring on */
				e->x0[ch] = x;
				memset(e->z[ch], 0, sizeof(e->z[ch]));
				e->hp_init[ch] = true;
			}
			x = biquad_step(&e->hp, &e->z[ch][0], x - e->x0[ch]);
			x = biquad_step(&e->lp, &e->z[ch][2], x);
			e->hist[(size_t)ch * e->cap + pos] = (float)x;
		}
	}
}

static struct view emg_view(const struct emg *e)
{
	struct view v = { e->hist, e->cap, e->n_ch, e->n_written };

	return e->frozen_buf ? e->frozen : v;
}

static void emg_unfreeze(struct emg *e)
{
	free(e->frozen_buf);
	e->frozen_buf = NULL;
	memset(&e->frozen, 0, sizeof(e->frozen));
}

/* Pause: copy the history, so the live one keeps filling behind it. */
static int emg_freeze(struct emg *e)
{
	float *h;

	emg_unfreeze(e);
	if (e->hist == NULL)
		return 0;
	h = malloc(e->cap * e->n_ch * sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	memcpy(h, e->hist, e->cap * e->n_ch * sizeof(*h));
	e->frozen_buf = h;
	e->frozen.hist = h;
	e->frozen.cap = e->cap;
	e->frozen.n_ch = e->n_ch;
	e->frozen.n_written = e->n_written;
	return 0;
}

/*
 * Twitches are listed as soon as they end: an update record (provisional,
 * ~ after its time), then its event's final in its place (top-events.h).
 */
static void on_twitch(struct top *t, const struct twitch_rec_twitch *w)
{
	struct emg *e = emg_by_device(t, w->hdr.device);
	char label[24], text[96];

	if (w->hdr.flags & (TWITCH_EVF_ONSET | TWITCH_EVF_REJECT)) {
		top_events_twitch(&t->evlist, w, NULL);
		return;
	}
	if (e && w->channel < e->n_ch)
		row_label(t, e, w->channel, label);
	else
		snprintf(label, sizeof(label), "d%u:%u", w->hdr.device, w->channel);
	if (e && w->channel < MAX_ROWS && isfinite(w->noise_floor_uv))
		e->noise_uv[w->channel] = w->noise_floor_uv;
	snprintf(text, sizeof(text), "%-4s %-13s %5.1fms %4.0fuV%s", label,
		 twitch_class_name(w->twitch_class), w->duration_ms, w->peak_uv,
		 w->channel_mask & (w->channel_mask - 1) ? " +" : "");
	top_events_twitch(&t->evlist, w, text);
}

static void on_rates(struct top *t, const struct twitch_rec_rates *r)
{
	struct emg *e = emg_by_device(t, r->hdr.device);

	if (e == NULL || r->channel >= MAX_ROWS)
		return;
	e->rate[r->channel][0] = r->per_min_1;
	e->rate[r->channel][1] = r->per_min_5;
	e->rate[r->channel][2] = r->per_min_15;
	if (isfinite(r->noise_floor_uv))
		e->noise_uv[r->channel] = r->noise_floor_uv;
}

static void query_calibration(struct top *t);

static void top_daemon_new(struct top *t)
{
	int i;

	/* a new twitchd restores its calibration from its state directory,
	 * but not its rates or the last estimate: ask it, as at start */
	t->cal = CAL_UNKNOWN;
	query_calibration(t);
	t->have_bioz = false;
	t->have_prev_ri = false;
	for (i = 0; i < t->n_emg; i++)
		emg_forget_numbers(&t->emgs[i]);
}

static void on_status(struct top *t, const struct twitch_rec_status *s)
{
	unsigned int d = s->hdr.device;

	switch (s->state) {
	case TWITCH_STATUS_DAEMON_GONE:
		if (!t->gone)
			t->gone_real_ns = s->hdr.t_real_ns;
		t->gone = true;
		top_events_orphan(&t->evlist);	/* no final will come */
		/* nobody says what the devices do now */
		for (d = 0; d < MAX_STREAMS; d++)
			if (t->dev_known[d])
				snprintf(t->dev_state[d], sizeof(t->dev_state[d]), "?");
		return;
	case TWITCH_STATUS_DAEMON_RESTARTED:
		top_events_orphan(&t->evlist);
		t->gone = false;
		t->stalled = false;
		t->restarted_real_ns = s->hdr.t_real_ns;
		top_daemon_new(t);
		/* a new twitchd judges its alerts anew (3 sweeps): until it
		 * does, the old ones stay on screen, marked */
		t->alerts_unconfirmed = t->alerts_on;
		return;
	case TWITCH_STATUS_PRODUCER_STALLED:
		t->stalled = true;
		return;
	case TWITCH_STATUS_HEARTBEAT:
		t->stalled = false;
		return;
	case TWITCH_STATUS_DAEMON_START:
		t->stalled = false;
		break;
	default:
		break;
	}
	if (d < MAX_STREAMS && (s->state == TWITCH_STATUS_DEVICE_UP ||
				s->state == TWITCH_STATUS_DEVICE_LOST)) {
		t->dev_known[d] = true;
		snprintf(t->dev_state[d], sizeof(t->dev_state[d]), "%s",
			 s->state == TWITCH_STATUS_DEVICE_UP ? "up" : "LOST");
		snprintf(t->dev_name[d], sizeof(t->dev_name[d]), "%s", s->dev_name);
		if (s->n_channels && s->rate_hz == 0) {	/* a sweeper: bioimpedance */
			t->bioz_device = true;
			if (t->cal == CAL_UNKNOWN &&
			    s->state == TWITCH_STATUS_DEVICE_UP)
				query_calibration(t);
		}
		if (strstr(s->text, " calibrated over "))
			t->cal = CAL_YES;
	}
	if (s->state != TWITCH_STATUS_HEARTBEAT) {
		snprintf(t->last_status, sizeof(t->last_status), "%s%s%s: %s",
			 twitch_status_name(s->state), s->dev_name[0] ? " " : "", s->dev_name,
			 s->text);
		t->last_status_real_ns = s->hdr.t_real_ns;
	}
}

static void on_bioz(struct top *t, const struct twitch_rec_bioz *z)
{
	if (t->have_bioz && (t->bioz.flags & TWITCH_BIOZF_BASELINE)) {
		t->have_prev_ri = true;
		t->prev_ri = t->bioz.ri_index;
		t->prev_ri_u = t->bioz.ri_uncert;
	}
	t->bioz = *z;
	t->have_bioz = true;
	t->bioz_mono_ns = z->hdr.t_mono_ns;
	t->bioz_device = true;
	t->cal = CAL_YES;
}

static void on_loss(struct top *t, const struct twitch_rec_loss *l)
{
	if (l->reason == TWITCH_LOSS_READER_LAPPED || l->reason == TWITCH_LOSS_RESTART) {
		t->view_lost_records += l->count;
		top_events_orphan(&t->evlist);	/* finals may be among them */
	} else {
		t->dev_lost_scans += l->count;
		if (!l->exact)
			t->dev_lost_approx = true;
	}
}

static void on_event_record(struct top *t, const void *rec)
{
	const struct twitch_record_hdr *h = rec;
	char text[96];

	switch (h->type) {
	case TWITCH_REC_TWITCH:
	case TWITCH_REC_TWITCH_UPDATE:
		on_twitch(t, rec);
		break;
	case TWITCH_REC_RATES:
		on_rates(t, rec);
		break;
	case TWITCH_REC_STATUS:
		on_status(t, rec);
		break;
	case TWITCH_REC_BIOZ:
		on_bioz(t, rec);
		break;
	case TWITCH_REC_LOSS:
		on_loss(t, rec);
		break;
	case TWITCH_REC_MARKER:
		snprintf(text, sizeof(text), "marker: %.80s",
			 ((const struct twitch_rec_marker *)rec)->text);
		top_events_add(&t->evlist, h->t_real_ns, text);
		break;
	case TWITCH_REC_ALERT: {
		const struct twitch_rec_alert *al = rec;
		bool raised = al->state == TWITCH_ALERT_RAISED;

		if (raised)
			t->alerts_on |= al->alert;
		else
			t->alerts_on &= ~al->alert;
		t->alerts_unconfirmed &= ~al->alert;
		snprintf(text, sizeof(text), "ALERT %s: %.60s", raised ? "raised" : "cleared",
			 twitch_alert_name(al->alert));
		top_events_add(&t->evlist, h->t_real_ns, text);
		break;
	}
	default:
		break;
	}
}

/* The first record of a samples stream says whether it is EMG (uV, a rate). */
static void classify(struct top *t, struct stream *st, const struct twitch_rec_samples *s)
{
	struct emg *e;

	st->classified = true;
	if (s->unit != TWITCH_UNIT_UV || !(s->rate_hz > 0) || t->n_emg == MAX_EMG)
		return;
	e = &t->emgs[t->n_emg];
	memset(e, 0, sizeof(*e));
	e->device = st->device;
	snprintf(e->name, sizeof(e->name), "%s", st->name + strlen("samples-"));
	emg_forget_numbers(e);
	if (emg_setup(e, s->n_channels, s->rate_hz) < 0)
		return;
	st->emg = t->n_emg++;
}

static void on_samples_record(struct top *t, struct stream *st, const void *rec)
{
	const struct twitch_record_hdr *h = rec;

	/* the daemon's coming and going is taken from the events reader only */
	if (h->type == TWITCH_REC_LOSS) {
		on_loss(t, rec);
		return;
	}
	if (h->type != TWITCH_REC_SAMPLES)
		return;
	if (!st->classified)
		classify(t, st, rec);
	if (st->emg >= 0)
		emg_on_samples(&t->emgs[st->emg], rec);
}

/*
 * Drain a reader without waiting. libtwitch looks for a vanished or
 * restarted daemon (and a stalled producer) only on the waiting path of
 * twitch_reader_next(), not when it is asked with timeout 0; so once the
 * ring is drained, every LIVENESS_NS one call waits for at most 1 ms.
 * Return 0, or -errno on a fatal error.
 */
static int drain(struct top *t, struct twitch_reader *r, struct stream *st,
		 uint64_t *last_check_ns)
{
	static union { struct twitch_record_hdr h; char b[1 << 16]; } u;
	uint64_t now;
	int n, i, timeout_ms = 0;

	for (i = 0; i < READ_BUDGET; i++) {
		n = twitch_reader_next(r, &u, sizeof(u), timeout_ms);
		if (n == -EPROTO) {
			t->n_proto++;
			continue;
		}
		if (n < 0)
			return n;
		if (n == 0) {
			if (timeout_ms)
				return 0;
			now = now_ns(CLOCK_MONOTONIC);
			if (now - *last_check_ns < LIVENESS_NS)
				return 0;
			*last_check_ns = now;
			timeout_ms = 1;
			continue;
		}
		if (!(u.h.flags & TWITCH_RECF_LOCAL))
			t->stalled = false;	/* libtwitch reports a stall, not its end */
		if (st)
			on_samples_record(t, st, &u);
		else
			on_event_record(t, &u);
	}
	return 0;
}

/* ---------------------------------------------------------------- setup */

static int connect_or_explain(const char *path, struct twitch_client **ret)
{
	char msg[256];
	int err = twitch_client_connect(path, ret), rc;

	if (err == 0)
		return 0;
	rc = twitch_connect_strerror(err, path, msg, sizeof(msg));
	fprintf(stderr, "twitch-top: %s\n", msg);
	return rc;
}

/*
 * Whether the bioimpedance device is calibrated is not in any record until
 * it happens: ask twitchd ("calibration", one plain answer). No device
 * opened (ENODEV) or an older twitchd that does not know the question
 * leaves the state as it is. Blocks for at most about 2 s: at start, after
 * a restart, and when a bioimpedance device comes up still unknown.
 */
static void query_calibration(struct top *t)
{
	char reply[256];

	if (twitch_client_command(t->c, "calibration", reply, sizeof(reply)) != 0)
		return;
	t->bioz_device = true;
	if (strstr(reply, ": not calibrated"))
		t->cal = CAL_NO;
	else if (strstr(reply, ": calibrated"))
		t->cal = CAL_YES;
}

static int open_streams(struct top *t)
{
	struct twitch_stream_info si;
	struct stream *st;
	int i, n, err;

	err = twitch_reader_new(t->c, "events", TWITCH_FROM_OLDEST, &t->events);
	if (err < 0)
		return err;
	n = twitch_client_n_streams(t->c);
	for (i = 0; i < n && t->n_streams < MAX_STREAMS; i++) {
		if (twitch_client_stream_info(t->c, (unsigned int)i, &si) < 0 || si.type != 2)
			continue;
		if (strncmp(si.name, "samples-", 8))
			continue;
		st = &t->streams[t->n_streams];
		memset(st, 0, sizeof(*st));
		snprintf(st->name, sizeof(st->name), "%s", si.name);
		st->device = si.device;
		st->emg = -1;
		/* the backlog fills the strips at once */
		err = twitch_reader_new(t->c, si.name, TWITCH_FROM_OLDEST, &st->r);
		if (err < 0)
			return err;
		t->n_streams++;
	}
	return 0;
}

static void top_free(struct top *t)
{
	int i;

	for (i = 0; i < t->n_streams; i++)
		twitch_reader_free(t->streams[i].r);
	twitch_reader_free(t->events);
	for (i = 0; i < t->n_emg; i++) {
		free(t->emgs[i].hist);
		emg_unfreeze(&t->emgs[i]);
	}
	twitch_client_free(t->c);
}

/* ---------------------------------------------------------------- drawing */

/* 1-2-5 steps, at least 10 uV */
static double nice_scale(double peak)
{
	double m = 10;

	for (;;) {
		if (peak <= m)
			return m;
		if (peak <= 2 * m)
			return 2 * m;
		if (peak <= 5 * m)
			return 5 * m;
		m *= 10;
	}
}

/*
 * Min and max of column @col of @width over the last @window scans of
 * channel @ch. Return false if the column holds no data (a gap).
 */
static bool column_range(const struct view *e, unsigned int ch, size_t window, int col,
			 int width, float *ret_lo, float *ret_hi)
{
	uint64_t end = e->n_written, start, a, b, k;
	const float *h = e->hist + (size_t)ch * e->cap;
	float lo = INFINITY, hi = -INFINITY;

	if (window > e->cap)
		window = e->cap;
	start = end > window ? end - window : 0;
	if (end == 0 || ch >= e->n_ch)
		return false;
	/* the right edge is the newest scan; columns before the data are empty */
	a = end - window + (uint64_t)col * window / (uint64_t)width;
	b = end - window + ((uint64_t)col + 1) * window / (uint64_t)width;
	if (end < window) {
		uint64_t off = window - end;	/* scans of padding on the left */
		uint64_t ca = (uint64_t)col * window / (uint64_t)width;
		uint64_t cb = ((uint64_t)col + 1) * window / (uint64_t)width;

		if (cb <= off)
			return false;
		a = ca < off ? 0 : ca - off;
		b = cb - off;
	}
	if (b <= a)
		b = a + 1;
	for (k = a; k < b && k < end; k++) {
		float v;

		if (k < start)
			continue;
		v = h[k % e->cap];
		if (isnan(v))
			continue;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (lo > hi)
		return false;
	*ret_lo = lo;
	*ret_hi = hi;
	return true;
}

static double window_peak(const struct view *e, unsigned int ch, size_t window)
{
	const float *h = e->hist + (size_t)ch * e->cap;
	uint64_t k, end = e->n_written;
	double peak = 0;

	if (ch >= e->n_ch)
		return 0;
	if (window > e->cap)
		window = e->cap;
	for (k = end > window ? end - window : 0; k < end; k++) {
		float v = h[k % e->cap];

		if (!isnan(v) && fabsf(v) > peak)
			peak = fabsf(v);
	}
	return peak;
}

static void draw_strip(const struct view *e, unsigned int ch, size_t window, int y, int x,
		       int width, double scale)
{
	static const char glyphs[] = " .:-=+*#";	/* peak |uV| in eighths of the scale */
	float lo, hi;
	int col, lvl;

	for (col = 0; col < width; col++) {
		char g;

		if (!column_range(e, ch, window, col, width, &lo, &hi)) {
			g = e->n_written ? 'x' : ' ';
			if (e->n_written < window &&
			    (uint64_t)(col + 1) * window / (uint64_t)width <= window - e->n_written)
				g = ' ';	/* before the first sample: not a loss */
		} else {
			double p = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);

			lvl = (int)(p / scale * 8.0);
			g = glyphs[lvl < 0 ? 0 : lvl > 7 ? 7 : lvl];
		}
		mvaddch(y, x + col, (chtype)g);
	}
}

static void draw_trace(const struct view *e, unsigned int ch, size_t window, int y0, int x0,
		       int width, int height, double scale)
{
	int col, row, top_r, bot_r, mid = height / 2;
	float lo, hi;

	for (col = 0; col < width; col++) {
		bool have = column_range(e, ch, window, col, width, &lo, &hi);

		for (row = 0; row < height; row++)	/* zero line on odd heights */
			mvaddch(y0 + row, x0 + col,
				(chtype)(row == mid && (height & 1) ? '-' : ' '));
		if (!have) {
			if (e->n_written >= window ||
			    (uint64_t)(col + 1) * window / (uint64_t)width > window - e->n_written)
				if (e->n_written)
					mvaddch(y0 + mid, x0 + col, 'x');
			continue;
		}
		/* row 0 is +scale, row height-1 is -scale */
		top_r = (int)floor((scale - hi) / (2 * scale) * height);
		bot_r = (int)floor((scale - lo) / (2 * scale) * height);
		if (top_r < 0) {
			mvaddch(y0, x0 + col, '^');
			top_r = 1;
		}
		if (bot_r >= height) {
			mvaddch(y0 + height - 1, x0 + col, 'v');
			bot_r = height - 2;
		}
		for (row = top_r; row <= bot_r; row++)
			mvaddch(y0 + row, x0 + col, '|');
	}
}

static void fmt_num(char *buf, size_t len, int width, float v)
{
	if (isfinite(v))
		snprintf(buf, len, "%*.1f", width, v);
	else
		snprintf(buf, len, "%*s", width, "-");
}

static void draw_header(struct top *t)
{
	uint32_t bit;
	char buf[512], when[16];
	size_t off = 0;
	int i;

	fmt_clock(now_ns(CLOCK_REALTIME), when);
	off += (size_t)snprintf(buf + off, sizeof(buf) - off, "twitch-top %s", when);
	/* first, where a narrow screen cannot cut it off */
	for (bit = 1; bit && off < sizeof(buf); bit <<= 1)
		if (t->alerts_on & bit)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "  ALERT %s%s",
						twitch_alert_name(bit),
						t->alerts_unconfirmed & bit ? "?" : "");
	if (t->gone) {
		fmt_clock(t->gone_real_ns, when);
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "  DAEMON GONE since %s",
					when);
	} else if (t->stalled) {
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "  DAEMON STALLED");
	}
	for (i = 0; i < MAX_STREAMS && off < sizeof(buf); i++) {
		if (!t->dev_known[i])
			continue;
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "  %s %s", t->dev_name[i],
					t->dev_state[i]);
	}
	for (i = 0; i < t->n_emg && off < sizeof(buf); i++)	/* no status seen for it */
		if (t->emgs[i].device >= MAX_STREAMS || !t->dev_known[t->emgs[i].device])
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "  %s data",
						t->emgs[i].name);
	if (off < sizeof(buf))
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "  lost: %s%llu scans, "
					"view %llu rec", t->dev_lost_approx ? "~" : "",
					(unsigned long long)t->dev_lost_scans,
					(unsigned long long)t->view_lost_records);
	attron(A_REVERSE);
	mvhline(0, 0, ' ', COLS);
	mvaddnstr(0, 0, buf, COLS);
	attroff(A_REVERSE);
	if (t->paused) {	/* keep the pause mark visible on narrow screens */
		attron(A_REVERSE | A_BOLD);
		mvaddstr(0, COLS - 8, "[PAUSED]");
		attroff(A_REVERSE | A_BOLD);
	}
}

/* Why @e's samples on screen are not live (its device lost, twitchd gone or
 * stalled), or NULL: said over them, so a frozen trace never looks live. */
static const char *stale_why(const struct top *t, const struct emg *e)
{
	if (t->gone)
		return "NO DATA: twitchd gone";
	if (t->stalled)
		return "NO DATA: twitchd stalled";
	if (e->device < MAX_STREAMS && t->dev_known[e->device] &&
	    !strcmp(t->dev_state[e->device], "LOST"))
		return "NO DATA: device lost";
	return NULL;
}

/* @why, in reverse video, in the middle of the @w columns from @x on row @y. */
static void draw_stale(int y, int x, int w, const char *why)
{
	int n = (int)strlen(why) + 2, at = x + (w > n ? (w - n) / 2 : 0);

	attron(A_REVERSE | A_BOLD);
	mvprintw(y, at, " %.*s ", w > 2 ? w - 2 : 0, why);
	attroff(A_REVERSE | A_BOLD);
}

static void draw_channels(struct top *t, int y, int rows)
{
	unsigned int n = top_n_rows(t), r, ch;
	int strip_w = COLS - 32, first = 0;
	double peak = 0, scale, secs = scales_s[t->scale];
	char label[24], a[16], b[16], c[16], d[16];
	const char *why;
	struct emg *e;
	struct view v;

	snprintf(label, sizeof(label), "last %g s", secs);
	mvaddstr(y, 0, "chan ");
	addnstr(label, strip_w);
	addnstr(", peak |uV| per column (x = lost)", strip_w - (int)strlen(label));
	mvaddstr(y, COLS - 26, " noise   1min  5min 15min");
	if (n == 0) {
		mvaddstr(y + 1, 0, "no EMG samples yet");
		return;
	}
	if (t->sel >= n)
		t->sel = 0;
	if ((int)t->sel >= rows)
		first = (int)t->sel - rows + 1;
	for (r = 0; r < n; r++) {
		e = top_row(t, r, &ch);
		v = emg_view(e);
		peak = fmax(peak, window_peak(&v, ch, (size_t)(secs * e->rate_hz)));
	}
	scale = nice_scale(peak);
	for (r = (unsigned int)first; r < n && (int)(r - (unsigned int)first) < rows; r++) {
		int yy = y + 1 + (int)r - first;

		e = top_row(t, r, &ch);
		row_label(t, e, ch, label);
		if (r == t->sel)
			attron(A_BOLD);
		mvprintw(yy, 0, "%-4s%c", label, r == t->sel ? '>' : ' ');
		attroff(A_BOLD);
		v = emg_view(e);
		draw_strip(&v, ch, (size_t)(secs * e->rate_hz), yy, 5, strip_w, scale);
		if ((why = stale_why(t, e)))
			draw_stale(yy, 5, strip_w, why);
		fmt_num(a, sizeof(a), 6, e->noise_uv[ch]);
		fmt_num(b, sizeof(b), 5, e->rate[ch][0]);
		fmt_num(c, sizeof(c), 5, e->rate[ch][1]);
		fmt_num(d, sizeof(d), 5, e->rate[ch][2]);
		mvprintw(yy, COLS - 26, "%s  %s %s %s", a, b, c, d);
	}
}

static void draw_selected(struct top *t, int y, int rows)
{
	double secs = scales_s[t->scale], scale;
	const char *why;
	unsigned int ch;
	struct emg *e;
	char label[24];
	struct view v;
	size_t win;

	if (top_n_rows(t) == 0)
		return;
	e = top_row(t, t->sel, &ch);
	v = emg_view(e);
	win = (size_t)(secs * e->rate_hz);
	scale = nice_scale(window_peak(&v, ch, win));
	row_label(t, e, ch, label);
	attron(A_BOLD);
	mvprintw(y, 0, "%s %s: +-%g uV, %g s across, display band-pass %g-%g Hz%s", label,
		 e->name, scale, secs, fmin(HP_CUTOFF_HZ, 0.2 * e->rate_hz),
		 fmin(LP_CUTOFF_HZ, 0.45 * e->rate_hz), t->paused ? "  [PAUSED]" : "");
	attroff(A_BOLD);
	draw_trace(&v, ch, win, y + 1, 0, COLS, rows, scale);
	if ((why = stale_why(t, e)))
		draw_stale(y + 1 + rows / 2, 0, COLS, why);
}

static void draw_events(struct top *t, int y, int x, int w, int rows)
{
	const struct top_event_line *l;
	char when[16], line[160];
	int r;

	attron(A_BOLD);
	mvaddnstr(y, x, "last events", w);
	attroff(A_BOLD);
	if (top_events_nth(&t->evlist, 0) == NULL)
		mvaddnstr(y + 1, x, "no twitch yet", w);
	for (r = 0; r < rows && (l = top_events_nth(&t->evlist, (unsigned int)r)) != NULL; r++) {
		fmt_clock(l->t_real_ns, when);
		snprintf(line, sizeof(line), "%s%c%s", when,
			 l->provisional ? '~' : l->orphan ? '?' : ' ', l->text);
		mvaddnstr(y + 1 + r, x, line, w);
	}
}

static void panel_line(int y, int x, int w, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void panel_line(int y, int x, int w, const char *fmt, ...)
{
	char buf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	mvaddnstr(y, x, buf, w);
}

static void draw_hydration(struct top *t, int y, int x, int w, int rows)
{
	const struct twitch_rec_bioz *z = &t->bioz;
	int r = 1;

	attron(A_BOLD);
	mvaddnstr(y, x, "hydration (bioimpedance)", w);
	attroff(A_BOLD);
	if (!t->have_bioz) {
		if (!t->bioz_device)
			panel_line(y + 1, x, w, "no bioimpedance device seen");
		else if (t->cal == CAL_NO)
			panel_line(y + 1, x, w, "not calibrated: no estimate");
		else if (t->cal == CAL_YES)
			panel_line(y + 1, x, w, "calibrated, waiting for a sweep");
		else
			panel_line(y + 1, x, w, "no estimate yet");
		if (t->cal == CAL_NO && rows > 1)
			panel_line(y + 2, x, w, "(twitchctl calibrate OHM)");
		return;
	}
	if (isfinite(z->phase_deg_50k))
		panel_line(y + r++, x, w, "phase angle %.2f deg @50kHz", z->phase_deg_50k);
	else
		panel_line(y + r++, x, w, "phase angle: none");
	if (r <= rows) {
		if (!(z->flags & TWITCH_BIOZF_SUBJECT))
			panel_line(y + r++, x, w, "ECW/TBW: no subject");
		else if (isfinite(z->ecw_tbw) && isfinite(z->tbw_l))
			/* whole litres: the equations' individual error is 2-4 L */
			panel_line(y + r++, x, w, "ECW/TBW %.3f  TBW %.0f+-3 L%s", z->ecw_tbw,
				   z->tbw_l, z->flags & TWITCH_BIOZF_OUTSIDE_VALIDITY ?
				   " (outside population)" : "");
		else
			panel_line(y + r++, x, w, "ECW/TBW: none from this sweep");
	}
	if (r <= rows) {
		if ((z->flags & TWITCH_BIOZF_BASELINE) && isfinite(z->ri_index) &&
		    isfinite(z->ri_uncert)) {
			const char *trend = "trend: first";

			if (t->have_prev_ri) {
				double d = z->ri_index - t->prev_ri;
				double u = hypot(z->ri_uncert, t->prev_ri_u);

				/* beyond 2 sigma: at 1 sigma, a third of a
				 * steady patient's sweeps read as a trend */
				trend = !isfinite(d + u) ? "trend: ?" : d > 2.0 * u ? "rising" :
					d < -2.0 * u ? "falling" : "steady";
			}
			panel_line(y + r++, x, w, "res.index %+.3f+-%.3f %s%s", z->ri_index,
				   z->ri_uncert, trend,
				   z->model_ri == TWITCH_MODEL_RI_TEMP_COMP ? "" : " (not temp-comp.)");
		} else {
			panel_line(y + r++, x, w, "res.index: %s",
				   z->flags & TWITCH_BIOZF_BASELINE ? "none from this sweep" :
				   "no baseline yet");
		}
	}
	if (r <= rows)
		panel_line(y + r++, x, w, "sweep %llu, %llus ago, %s",
			   (unsigned long long)z->hdr.sample_index,
			   (unsigned long long)((now_ns(CLOCK_MONOTONIC) - t->bioz_mono_ns) /
						1000000000u),
			   z->flags & TWITCH_BIOZF_TRUSTED ? "fit trusted" : "FIT NOT TRUSTED");
	if (r <= rows && z->alerts)
		panel_line(y + r++, x, w, "ALERT raised (twitchctl tail)");
	if (r <= rows)
		panel_line(y + r++, x, w, "model %s", twitch_model_name(z->model_fit));
}

static const char *const help_text[] = {
	"twitch-top: keys",
	"",
	"  q          quit",
	"  space, p   pause / resume the waveforms (numbers keep updating)",
	"  0-9        pick a channel for the large trace",
	"  c          next channel",
	"  + / -      longer / shorter time scale (0.5 .. 20 s)",
	"  ?          this help (any key closes it)",
	"",
	"Strips: peak |uV| per column, ' .:-=+*#' in eighths of the scale;",
	"x = lost or missing samples; + after an event: several channels;",
	"~ after the time: provisional, its final replaces it once the event",
	"ends; ? : provisional, and records were missed, so no final will.",
	"Waveforms are band-passed for display only (20-450 Hz, as the detector).",
	"Noise: uV rms. Rates: twitches/min over the last 1, 5, 15 min.",
	"A monitoring aid, not a diagnostic device.",
};

static void draw_help(void)
{
	int n = (int)(sizeof(help_text) / sizeof(help_text[0])), i;
	int w = 72 < COLS - 2 ? 72 : COLS - 2, y0 = (LINES - n - 2) / 2, x0 = (COLS - w) / 2;

	if (y0 < 0)
		y0 = 0;
	for (i = 0; i < n + 2 && y0 + i < LINES; i++) {
		mvhline(y0 + i, x0, ' ', w);
		if (i > 0 && i <= n)
			mvaddnstr(y0 + i, x0 + 2, help_text[i - 1], w - 3);
	}
	mvaddch(y0, x0, '+');
	mvhline(y0, x0 + 1, '-', w - 2);
	mvaddch(y0, x0 + w - 1, '+');
	if (y0 + n + 1 < LINES) {
		mvaddch(y0 + n + 1, x0, '+');
		mvhline(y0 + n + 1, x0 + 1, '-', w - 2);
		mvaddch(y0 + n + 1, x0 + w - 1, '+');
	}
}

static void draw(struct top *t)
{
	int n_rows = (int)top_n_rows(t), rest, trace_h, panel_h, ch_rows, y;
	int ev_w;
	char when[16];

	erase();
	if (COLS < MIN_COLS || LINES < MIN_LINES) {
		mvprintw(0, 0, "twitch-top: the terminal is too small (%dx%d); it needs at "
			 "least %dx%d. q quits.", COLS, LINES, MIN_COLS, MIN_LINES);
		refresh();
		return;
	}
	/* header, channel title, trace title, panel title, message, keys: 6 rows */
	rest = LINES - 6;
	ch_rows = n_rows ? n_rows : 1;
	if (ch_rows > rest - 6)
		ch_rows = rest - 6;
	rest -= ch_rows;
	trace_h = rest / 2;
	panel_h = rest - trace_h;
	draw_header(t);
	y = 1;
	draw_channels(t, y, ch_rows);
	y += 1 + ch_rows;
	draw_selected(t, y, trace_h);
	y += 1 + trace_h;
	ev_w = COLS - 36;	/* the hydration panel takes 36 columns */
	draw_events(t, y, 0, ev_w - 1, panel_h);
	draw_hydration(t, y, ev_w, COLS - ev_w, panel_h);
	if (t->gone) {
		fmt_clock(t->gone_real_ns, when);
		mvprintw(LINES - 2, 0, "daemon gone at %s: waiting for it to come back", when);
	} else if (t->restarted_real_ns &&
		   now_ns(CLOCK_REALTIME) - t->restarted_real_ns < 30000000000u) {
		fmt_clock(t->restarted_real_ns, when);
		mvprintw(LINES - 2, 0, "daemon restarted at %s (rates start over)", when);
	} else if (t->last_status[0]) {
		char line[192];

		fmt_clock(t->last_status_real_ns, when);
		snprintf(line, sizeof(line), "%s %s", when, t->last_status);
		mvaddnstr(LINES - 2, 0, line, COLS);
	}
	attron(A_REVERSE);
	mvhline(LINES - 1, 0, ' ', COLS);
	mvaddnstr(LINES - 1, 0, "q quit  p pause  0-9/c channel  +/- time scale  ? help",
		  COLS);
	attroff(A_REVERSE);
	if (t->help)
		draw_help();
	refresh();
}

/* ---------------------------------------------------------------- main loop */

/* Freeze or thaw the waveforms; the rings are read on either way. */
static void top_pause(struct top *t, bool pause)
{
	int i;

	for (i = 0; i < t->n_emg; i++) {
		if (!pause) {
			emg_unfreeze(&t->emgs[i]);
		} else if (emg_freeze(&t->emgs[i]) < 0) {
			top_pause(t, false);	/* out of memory: stay live */
			return;
		}
	}
	t->paused = pause;
}

static bool on_key(struct top *t, int k)
{
	unsigned int n = top_n_rows(t);

	if (t->help && k != KEY_RESIZE) {
		t->help = false;
		return k != 'q' && k != 'Q';
	}
	switch (k) {
	case 'q':
	case 'Q':
		return false;
	case ' ':
	case 'p':
	case 'P':
		top_pause(t, !t->paused);
		break;
	case 'c':
		if (n)
			t->sel = (t->sel + 1) % n;
		break;
	case '+':
	case '=':
		if (t->scale + 1 < N_SCALES)
			t->scale++;
		break;
	case '-':
	case '_':
		if (t->scale > 0)
			t->scale--;
		break;
	case '?':
	case 'h':
		t->help = true;
		break;
	default:
		if (k >= '0' && k <= '9' && (unsigned int)(k - '0') < n)
			t->sel = (unsigned int)(k - '0');
		break;
	}
	return true;
}

static int run(struct top *t)
{
	struct timespec frame = { 0, FRAME_NS };
	uint64_t last_draw = 0, now;
	bool dirty = true;
	int i, k, err;

	for (;;) {
		if (quit_signal)
			return 0;
		err = drain(t, t->events, NULL, &t->events_check_ns);
		for (i = 0; !err && i < t->n_streams; i++)
			err = drain(t, t->streams[i].r, &t->streams[i],
				    &t->streams[i].last_check_ns);
		if (err < 0)
			return err;
		while ((k = getch()) != ERR) {
			if (!on_key(t, k))
				return 0;
			dirty = true;
		}
		now = now_ns(CLOCK_MONOTONIC);
		if (dirty || now - last_draw >= REDRAW_NS) {
			draw(t);
			last_draw = now;
			dirty = false;
		}
		nanosleep(&frame, NULL);
	}
}

static const char usage_text[] =
	"Usage: twitch-top [-s SOCKET]\n"
	"A full-screen live view of twitchd: EMG waveforms, noise, twitch rates,\n"
	"last events, hydration estimates, losses and device state (a monitoring\n"
	"aid, not a diagnostic device).\n\n"
	"Options:\n"
	"  -s, --socket PATH   control socket (default $TWITCH_SOCKET or "
	TWITCH_SOCKET_DEFAULT ")\n"
	"  -h, --help          this help\n\n"
	"Keys: q quit, space/p pause, 0-9 pick a channel, c next channel,\n"
	"+/- time scale, ? help.\n\n"
	"Exit codes: 0 success, 1 runtime failure, 2 bad arguments, 3 twitchd not\n"
	"running, 4 permission denied (join the twitchd group).\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct top t;
	const char *sock_path = NULL;
	struct sigaction sa;
	struct termios tio;
	int c, rc, err;

	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock_path = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_SUCCESS;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "twitch-top: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	rc = connect_or_explain(sock_path, &t.c);
	if (rc)
		return rc;
	t.scale = 3;	/* 5 s */
	query_calibration(&t);
	err = open_streams(&t);
	if (err < 0) {
		fprintf(stderr, "twitch-top: cannot read twitchd's streams: %s\n",
			strerror(-err));
		top_free(&t);
		return EXIT_FAILURE;
	}
	/* numbers stay in the C locale; the terminal's character set is honoured */
	setlocale(LC_CTYPE, "");
	if (initscr() == NULL) {
		fprintf(stderr, "twitch-top: cannot initialise the terminal (TERM?)\n");
		top_free(&t);
		return EXIT_FAILURE;
	}
	cbreak();
	noecho();
	/* Ctrl-S would stop our output with no sign on screen, the clock
	 * frozen: no flow control (endwin() puts the terminal back) */
	if (tcgetattr(STDIN_FILENO, &tio) == 0) {
		tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF);
		tcsetattr(STDIN_FILENO, TCSANOW, &tio);
	}
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	curs_set(0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);	/* Ctrl-\: the terminal restored too */
	err = run(&t);
	endwin();
	top_free(&t);
	if (err < 0) {
		fprintf(stderr, "twitch-top: reading twitchd's records: %s\n", strerror(-err));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

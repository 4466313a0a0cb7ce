// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * twitch-record - record twitchd's EMG sample streams to BDF+ (24-bit) or
 * EDF+ (16-bit) through EDFlib, with twitch events, bioimpedance estimates,
 * markers, status changes and gaps as annotations.
 *
 * EDFlib keeps annotations in memory until edfclose_file(), so every
 * annotation also goes to a sidecar journal (FILE.journal, append-only
 * text, fsync'd every second); `twitch-record --recover FILE` rewrites a
 * file left unclosed by a crash into a valid one with the journal's
 * annotations. EDFlib 1.23 reports neither a failed flush nor a failed
 * close, so each closed file is checked against its header here; a file
 * that did not get written whole is cut to its complete records and its
 * journal left open for --recover. Links only libtwitch and EDFlib. Exit
 * codes: 0 success, 1 runtime failure, 2 bad arguments, 3 twitchd not
 * running, 4 permission denied.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <edflib.h>
#include <twitch.h>

#include "utf8.h"

#define EXIT_USAGE	2

#define MAX_STREAMS	8
#define BUF_S		3	/* seconds of samples held per stream before a record is forced */
#define PROBE_MS	3000	/* wait for the first record of each samples stream */
#define ANNOT_SIGNALS	16	/* EDFlib stores one annotation per annotation signal per record */
#define ANNOT_TEXT_MAX	40	/* EDFlib's limit per annotation (the journal keeps more) */
#define LABEL_MAX	16	/* EDF's signal label field */
#define JOURNAL_MAGIC	"twitch-record journal 1"
#define MAX_GAP_S	(24 * 3600)	/* a longer index jump re-anchors on the clock */
#define MAX_PENDING	256	/* annotations held for the next file of a rotation */

static const char usage_text[] =
	"Usage: twitch-record [OPTIONS] -o FILE|DIR\n"
	"       twitch-record --recover FILE\n"
	"Record twitchd's EMG sample streams (in uV) to BDF+ (24-bit, default) or\n"
	"EDF+ (16-bit), with twitch events, bioimpedance estimates, markers, status\n"
	"changes and gaps as annotations, also kept in FILE.journal (synced every s).\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE|DIR  the file; a directory gets twitch-%Y%m%d-%H%M%S.bdf\n"
	"                         (.edf); strftime(3) %-patterns are expanded\n"
	"      --stream NAME      record this samples stream (repeatable; default:\n"
	"                         every samples stream whose unit is uV)\n"
	"      --edf              EDF+ (16 bits) instead of BDF+ (24 bits)\n"
	"      --range UV         physical range +-UV, at most 7 characters (default\n"
	"                         838860 BDF+, 3276.8 EDF+: a resolution of 0.1 uV)\n"
	"  -d, --duration S       stop after S seconds of recording\n"
	"      --rotate-size MB   a new file before this one passes MB megabytes\n"
	"      --rotate-time S    a new file every S seconds; either way the next file\n"
	"                         starts at the next record, without a gap; it is named\n"
	"                         by -o at its start time, or with -N before the .ext\n"
	"      --recover FILE     rewrite FILE, left unclosed by a crash, into a valid\n"
	"                         file: its complete data records and the annotations\n"
	"                         of FILE.journal\n"
	"  -s, --socket PATH      control socket (default $TWITCH_SOCKET or\n"
	"                         " TWITCH_SOCKET_DEFAULT ")\n"
	"  -h, --help             this help\n\n"
	"Exit codes: 0 success, 1 runtime failure, 2 bad arguments, 3 twitchd not\n"
	"running, 4 permission denied (join the twitchd group).\n";

struct rec_stream {
	char name[24];
	char dev[24];
	struct twitch_reader *r;
	uint16_t device;
	unsigned int n_ch;
	unsigned int rate;		/* Hz = samples per 1-s data record */
	bool reanchor;			/* next record: place it by its clock */
	bool changed;			/* the layout changed: noted once, not recorded */
	uint32_t epoch;			/* index epoch the anchor belongs to */
	int64_t zero_index;		/* sample index at file position 0 */
	uint64_t pos;			/* scans placed, from the file's start */
	double *buf;			/* [BUF_S][n_ch][rate] */
	/* the latest record's first scan: where it went and when it was made */
	bool timed;
	int64_t last_pos;
	uint64_t last_t_mono_ns;
	uint64_t overlap_scans, overlap_at;	/* dropped since overlap_at, not noted yet */
	uint64_t gap_scans, dropped_scans, clipped;
};

/* One output file and its journal. */
struct edf_out {
	int edf;			/* EDFlib handle, -1 when closed */
	int jfd;			/* journal, -1 when closed */
	bool jdirty;
	bool failed;			/* a write or sync failed: not closed properly */
	int err;			/* its errno, 0 if unknown */
	uint64_t base;			/* the recording's record index of its first record */
	uint64_t n_annots;
	uint64_t close_at_ns;		/* a rotated-out file closes late: events trail */
	char path[4096];
	char jpath[4200];
};

struct recorder {
	struct edf_out cur, prev;	/* prev: the file before a rotation, still open */
	const char *pattern;		/* -o */
	uint64_t rotate_records;	/* 0 = one file */
	bool bdf;
	double range_uv;
	int dig_max, dig_min;
	uint64_t t0_mono_ns;		/* the recording's first sample */
	uint64_t t0_real_ns;
	uint64_t n_records;		/* data records written, over every file */
	uint64_t max_records;		/* --duration; 0 = none */
	struct rec_stream st[MAX_STREAMS];
	int n_st;
	int *digi;			/* one record of one signal, digital */
	/* annotations for a file not open yet (events ahead of the samples) */
	struct pending_annot {
		int64_t onset_ns, dur_ns;
		char text[160];
	} pending[MAX_PENDING];
	int n_pending;
};

union rec_buf {
	struct twitch_record_hdr h;
	char b[1 << 16];
};

static const char *sock_path;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Copy a string, cut to fit (snprintf("%s") without the truncation warning). */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---------------------------------------------------------------- annotations */


/*
 * Make annotation text fit for EDF+ and the journal, in place: control
 * characters become spaces (one line, no TAL separators), and each byte
 * that is not part of well-formed UTF-8 becomes '?' (EDF+ text is UTF-8;
 * MNE refuses a whole file over one bad byte). Twitchd sends UTF-8 only,
 * but a journal may have been edited by hand.
 */
static void clean_text(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		k = twitch_utf8_len(p + i, n - i, NULL);
		if (k == 0)
			p[i++] = '?';
		else if (k == 1 && (p[i] < 32 || p[i] == 127))
			p[i++] = ' ';
		else
			i += k;
	}
}

/*
 * Copy the UTF-8 text @src to @dst, at most @max bytes of it (@dst holds
 * @max + 1), cut before a character that does not fit whole.
 */
static void utf8_cut(char *dst, const char *src, size_t max)
{
	size_t n = strnlen(src, max);

	/* src[n] is the first byte left out: a continuation byte there
	 * means the character before it would be cut */
	while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
		n--;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/*
 * Put an annotation at @onset_ns after the recording's start into the file
 * that holds that time: the one before a rotation while it is still open,
 * or, for a file not open yet, a queue that rotate() empties. It goes to
 * the file's journal first (a crash keeps it), then to EDFlib.
 */
static void annot_put(struct recorder *rc, int64_t onset_ns, int64_t dur_ns, const char *text)
{
	char line[400], edftext[ANNOT_TEXT_MAX + 1];
	long long onset, dur = dur_ns < 0 ? -1 : dur_ns / 100000;
	struct edf_out *o = &rc->cur;
	int n;

	if (rc->max_records && onset_ns >= (int64_t)(rc->max_records * 1000000000u))
		return;		/* after the end of the recording (--duration) */
	if (rc->rotate_records &&
	    onset_ns >= (int64_t)((o->base + rc->rotate_records) * 1000000000u)) {
		if (rc->n_pending == MAX_PENDING) {
			fprintf(stderr, "twitch-record: too many annotations ahead of the "
				"samples, dropped: %s\n", text);
			return;
		}
		rc->pending[rc->n_pending].onset_ns = onset_ns;
		rc->pending[rc->n_pending].dur_ns = dur_ns;
		utf8_cut(rc->pending[rc->n_pending++].text, text, sizeof(rc->pending[0].text) - 1);
		return;
	}
	if (onset_ns < (int64_t)(o->base * 1000000000u)) {
		o = &rc->prev;
		if (o->edf < 0 || onset_ns < (int64_t)(o->base * 1000000000u))
			return;		/* before the recording (or its open files) */
	}
	onset = (onset_ns - (int64_t)(o->base * 1000000000u)) / 100000;
	n = snprintf(line, sizeof(line), "A %lld %lld %s\n", onset, dur, text);
	if (n > 0 && write_all(o->jfd, line, (size_t)n < sizeof(line) ? (size_t)n :
			       sizeof(line) - 1) < 0)
		fprintf(stderr, "twitch-record: %s: %s, ignoring\n", o->jpath, strerror(errno));
	o->jdirty = true;
	utf8_cut(edftext, text, ANNOT_TEXT_MAX);
	if (edfwrite_annotation_utf8(o->edf, onset, dur, edftext) < 0)
		fprintf(stderr, "twitch-record: annotation not stored in the file: %s\n", text);
	o->n_annots++;
}

/* Add an annotation (see annot_put()); @dur_ns < 0 = no duration. @fmt's
 * result is cleaned (see clean_text()) and cut at a character boundary. */
static void annot_add(struct recorder *rc, int64_t onset_ns, int64_t dur_ns, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void annot_add(struct recorder *rc, int64_t onset_ns, int64_t dur_ns, const char *fmt, ...)
{
	char raw[512], text[256];
	va_list ap;

	if (onset_ns < 0)
		return;		/* before the recording started */
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);	/* a marker is at most 159 bytes */
	va_end(ap);
	clean_text(raw);
	utf8_cut(text, raw, sizeof(text) - 1);
	annot_put(rc, onset_ns, dur_ns, text);
}

/* ---------------------------------------------------------------- signals */

static struct rec_stream *stream_of_device(struct recorder *rc, uint16_t device)
{
	int i;

	for (i = 0; i < rc->n_st; i++)
		if (rc->st[i].device == device)
			return &rc->st[i];
	return NULL;
}

static int rotate(struct recorder *rc);

/*
 * Write data record rc->n_records from every stream's buffer. The values
 * are rounded to the nearest digital step here (EDFlib's own conversion
 * truncates, an error of up to one step). A failure marks the file
 * failed (out_close() then keeps its complete records) and returns -EIO.
 */
static int write_record(struct recorder *rc)
{
	double bit = 2.0 * rc->range_uv / ((double)rc->dig_max - rc->dig_min);
	const double *x;
	unsigned int ch, i;
	int k;

	for (k = 0; k < rc->n_st; k++) {
		struct rec_stream *s = &rc->st[k];
		size_t slot = (size_t)(rc->n_records % BUF_S);

		for (ch = 0; ch < s->n_ch; ch++) {
			x = s->buf + (slot * s->n_ch + ch) * s->rate;
			for (i = 0; i < s->rate; i++) {
				long d = rc->dig_min + lround((x[i] + rc->range_uv) / bit);

				rc->digi[i] = (int)(d > rc->dig_max ? rc->dig_max : d);
			}
			errno = 0;
			if (edfwrite_digital_samples(rc->cur.edf, rc->digi) < 0) {
				rc->cur.failed = true;
				rc->cur.err = errno;
				return -EIO;
			}
		}
	}
	rc->n_records++;
	return 0;
}

/* Write the next data record, then start the next file when it is time. */
static int next_record(struct recorder *rc)
{
	int err = write_record(rc);

	if (err < 0)
		return err;
	if (rc->rotate_records && rc->n_records - rc->cur.base >= rc->rotate_records &&
	    !(rc->max_records && rc->n_records >= rc->max_records))
		return rotate(rc);
	return 0;
}

/* Put one scan (or zeros when @v is NULL) at stream position s->pos. */
static void put_scan(struct recorder *rc, struct rec_stream *s, const float *v)
{
	size_t slot = (size_t)((s->pos / s->rate) % BUF_S), i = (size_t)(s->pos % s->rate);
	unsigned int ch;
	double x;

	for (ch = 0; ch < s->n_ch; ch++) {
		x = v ? (double)v[ch] : 0.0;
		if (!isfinite(x)) {
			x = 0.0;
			s->clipped++;
		} else if (x > rc->range_uv || x < -rc->range_uv) {
			x = x > 0 ? rc->range_uv : -rc->range_uv;
			s->clipped++;
		}
		s->buf[(slot * s->n_ch + ch) * s->rate + i] = x;
	}
	s->pos++;
}

static void fill_gap(struct recorder *rc, struct rec_stream *s, uint64_t to)
{
	uint64_t from = s->pos;

	if (to <= from)
		return;
	annot_add(rc, (int64_t)((double)from * 1e9 / s->rate), -1, "gap %" PRIu64 " samples %s",
		  to - from, s->dev);
	s->gap_scans += to - from;
	while (s->pos < to)
		put_scan(rc, s, NULL);
}

/* Write every data record that all streams have completed. */
static int flush_records(struct recorder *rc)
{
	int i, err;

	for (;;) {
		if (rc->max_records && rc->n_records >= rc->max_records)
			return 0;
		for (i = 0; i < rc->n_st; i++)
			if (rc->st[i].pos < (rc->n_records + 1) * rc->st[i].rate)
				return 0;
		err = next_record(rc);
		if (err < 0)
			return err;
	}
}

/*
 * Make room for position @q of @s: a stream that lags by BUF_S seconds
 * (its device is gone) gets zeros and a gap note for the oldest record.
 */
static int make_room(struct recorder *rc, struct rec_stream *s, uint64_t q)
{
	int i, err;

	while (q >= (rc->n_records + BUF_S) * s->rate) {
		for (i = 0; i < rc->n_st; i++)
			fill_gap(rc, &rc->st[i], (rc->n_records + 1) * rc->st[i].rate);
		err = next_record(rc);
		if (err < 0)
			return err;
	}
	return 0;
}

/*
 * Before the current file is closed at the end: a file needs one data
 * record at least (EDFlib, closing a file without any, writes its
 * annotations as records of the wrong size and miscounts them), so when
 * the recording stops within a file's first second, that second is
 * written with what arrived of it and zeros for the rest, annotated as
 * gaps. Nothing is written to a file that failed.
 */
static int finish_first_record(struct recorder *rc)
{
	int i;

	if (rc->cur.edf < 0 || rc->cur.failed || rc->n_records > rc->cur.base)
		return 0;
	for (i = 0; i < rc->n_st; i++)
		fill_gap(rc, &rc->st[i], (rc->n_records + 1) * rc->st[i].rate);
	return write_record(rc);
}

/*
 * Note the scans dropped since s->overlap_at because they overlapped what
 * was placed already: after a re-anchor on the clock (a new index epoch of
 * a device whose clock runs fast, say) a whole run of records can fall
 * behind; one annotation says how many, when the run ends.
 */
static void note_overlap(struct recorder *rc, struct rec_stream *s)
{
	if (!s->overlap_scans)
		return;
	annot_add(rc, (int64_t)((double)s->overlap_at * 1e9 / s->rate), -1,
		  "dropped %" PRIu64 " samples %s (overlap)", s->overlap_scans, s->dev);
	s->dropped_scans += s->overlap_scans;
	s->overlap_scans = 0;
}

static int64_t pos_of_time(const struct recorder *rc, const struct rec_stream *s, uint64_t t)
{
	return llround(((double)(int64_t)(t - rc->t0_mono_ns)) * s->rate / 1e9);
}

/*
 * The file time of CLOCK_MONOTONIC time @t_mono_ns, on the time line of
 * @device's stream (else the first stream's): the samples are placed by
 * their index, which drifts from the host clock by the device clock's
 * error, so the time is taken from the latest samples record (its first
 * scan's position and time), not from the recording's start.
 */
static int64_t onset_of_time(struct recorder *rc, uint16_t device, uint64_t t_mono_ns)
{
	const struct rec_stream *s = stream_of_device(rc, device);

	if (!s || !s->timed)
		s = &rc->st[0];
	if (!s->timed)
		return (int64_t)(t_mono_ns - rc->t0_mono_ns);
	return (int64_t)((double)s->last_pos * 1e9 / s->rate) +
	       (int64_t)(t_mono_ns - s->last_t_mono_ns);
}

static int on_samples(struct recorder *rc, struct rec_stream *s,
		      const struct twitch_rec_samples *r)
{
	int64_t p, q;
	unsigned int j;
	int err;

	if (r->n_channels != s->n_ch || r->unit != TWITCH_UNIT_UV ||
	    fabsf(r->rate_hz - (float)s->rate) > 1e-3f * (float)s->rate) {
		if (!s->changed)
			annot_add(rc, onset_of_time(rc, s->device, now_mono_ns()), -1,
				  "%s changed layout, not recorded", s->dev);
		s->changed = true;	/* its signals get zeros and gap notes */
		return -EPROTO;
	}
	if (s->changed) {
		s->changed = false;
		s->reanchor = true;
	}
	if (s->reanchor || r->index_epoch != s->epoch) {
		if (!s->reanchor)
			annot_add(rc, onset_of_time(rc, s->device, r->hdr.t_mono_ns), -1,
				  "%s index epoch %u", s->dev, r->index_epoch);
		s->zero_index = (int64_t)r->hdr.sample_index - pos_of_time(rc, s, r->hdr.t_mono_ns);
		s->epoch = r->index_epoch;
		s->reanchor = false;
	}
	p = (int64_t)r->hdr.sample_index - s->zero_index;
	if (p - (int64_t)s->pos > (int64_t)s->rate * MAX_GAP_S) {
		/* a wild jump: trust the clock instead */
		s->zero_index = (int64_t)r->hdr.sample_index - pos_of_time(rc, s, r->hdr.t_mono_ns);
		p = (int64_t)r->hdr.sample_index - s->zero_index;
	}
	s->timed = true;
	s->last_pos = p;
	s->last_t_mono_ns = r->hdr.t_mono_ns;
	if (p > (int64_t)s->pos &&
	    !(rc->max_records && s->pos >= rc->max_records * s->rate)) {
		uint64_t to = (uint64_t)p;

		if (rc->max_records && to > rc->max_records * s->rate)
			to = rc->max_records * s->rate;
		annot_add(rc, (int64_t)((double)s->pos * 1e9 / s->rate), -1,
			  "gap %" PRIu64 " samples %s", to - s->pos, s->dev);
		s->gap_scans += to - s->pos;
		while (s->pos < to) {
			err = make_room(rc, s, s->pos);
			if (err < 0)
				return err;
			put_scan(rc, s, NULL);
		}
	}
	for (j = 0; j < r->n_scans; j++) {
		q = p + j;
		if (q < (int64_t)s->pos) {
			if (!s->overlap_scans)	/* overlaps what is placed already */
				s->overlap_at = s->pos;
			s->overlap_scans++;
			continue;
		}
		note_overlap(rc, s);	/* the run of overlapping scans ended */
		if (rc->max_records && (uint64_t)q >= rc->max_records * s->rate)
			break;
		err = make_room(rc, s, (uint64_t)q);
		if (err < 0)
			return err;
		put_scan(rc, s, r->data + (size_t)j * s->n_ch);
	}
	return flush_records(rc);
}

/* ---------------------------------------------------------------- events */

static int64_t onset_of(struct recorder *rc, const struct twitch_record_hdr *h, uint32_t epoch)
{
	struct rec_stream *s = stream_of_device(rc, h->device);

	if (s && !s->reanchor && s->epoch == epoch && h->sample_index != TWITCH_INDEX_NONE)
		return (int64_t)(((double)((int64_t)h->sample_index - s->zero_index)) * 1e9 /
				 s->rate);
	return onset_of_time(rc, h->device, h->t_mono_ns);
}

static void on_event(struct recorder *rc, const void *rec)
{
	const struct twitch_record_hdr *h = rec;
	int64_t t = onset_of_time(rc, h->device, h->t_mono_ns);

	switch (h->type) {
	case TWITCH_REC_TWITCH: {
		const struct twitch_rec_twitch *e = rec;

		if (h->flags & (TWITCH_EVF_ONSET | TWITCH_EVF_REJECT))
			break;	/* only final events */
		annot_add(rc, onset_of(rc, h, e->index_epoch), (int64_t)(e->duration_ms * 1e6),
			  "twitch %s ch%u %.0fuV", twitch_class_name(e->twitch_class), e->channel,
			  e->peak_uv);
		break;
	}
	case TWITCH_REC_BIOZ: {
		const struct twitch_rec_bioz *z = rec;

		if (z->flags & TWITCH_BIOZF_SUBJECT)
			annot_add(rc, t, -1, "bioz PA %.2f ECW/TBW %.3f%s", z->phase_deg_50k,
				  z->ecw_tbw, z->flags & TWITCH_BIOZF_TRUSTED ? "" : " ?");
		else
			annot_add(rc, t, -1, "bioz PA %.2f R0 %.0f%s", z->phase_deg_50k, z->r0_ohm,
				  z->flags & TWITCH_BIOZF_TRUSTED ? "" : " ?");
		break;
	}
	case TWITCH_REC_MARKER:
		annot_add(rc, t, -1, "%s", ((const struct twitch_rec_marker *)rec)->text);
		break;
	case TWITCH_REC_STATUS: {
		const struct twitch_rec_status *s = rec;

		if (s->state == TWITCH_STATUS_HEARTBEAT)
			break;
		if (h->flags & TWITCH_RECF_LOCAL)	/* no daemon clock: ours */
			t = onset_of_time(rc, h->device, now_mono_ns());
		annot_add(rc, t, -1, "status %s%s%s", twitch_status_name(s->state),
			  s->dev_name[0] ? " " : "", s->dev_name);
		break;
	}
	case TWITCH_REC_LOSS: {
		const struct twitch_rec_loss *l = rec;

		if (l->reason == TWITCH_LOSS_READER_LAPPED || l->reason == TWITCH_LOSS_RESTART) {
			t = onset_of_time(rc, h->device, now_mono_ns());
			annot_add(rc, t, -1, "lost %" PRIu64 " event records", l->count);
		} else if (!stream_of_device(rc, h->device)) {
			/* recorded devices show their losses as gaps */
			annot_add(rc, t, -1, "loss %s%" PRIu64 " scans device %u",
				  l->exact ? "" : "~", l->count, h->device);
		}
		break;
	}
	default:
		break;
	}
}

/* ---------------------------------------------------------------- EDF files */

/* A fixed-width ASCII header field as a string without trailing blanks. */
static void field(const char *p, size_t n, char *out)
{
	memcpy(out, p, n);
	out[n] = 0;
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = 0;
}

static int field_num(const char *p, size_t n, double *ret)
{
	char buf[96], *end;
	double v;

	field(p, n, buf);
	errno = 0;
	v = strtod(buf, &end);
	if (errno || end == buf || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Where a file's data records are, from its own header. */
struct edf_layout {
	size_t hdr_bytes;		/* 256 bytes and 256 per signal */
	size_t rec_bytes;		/* one data record, annotation signals included */
	long long n_rec;		/* the header's count; -1 while EDFlib writes */
	size_t size;			/* of the file */
};

static int edf_layout_read(int fd, struct edf_layout *ret)
{
	char hdr[256], spr[(EDFLIB_MAXSIGNALS + 64) * 8];
	size_t bps, rec = 0;
	struct stat sb;
	double v, n_rec;
	int ns, k;

	if (fstat(fd, &sb) < 0)
		return -errno;
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return -EBADMSG;
	if ((unsigned char)hdr[0] == 0xff && !memcmp(hdr + 1, "BIOSEMI", 7))
		bps = 3;
	else if (!memcmp(hdr, "0       ", 8))
		bps = 2;
	else
		return -EBADMSG;
	if (field_num(hdr + 252, 4, &v) < 0 || v < 1 || v > EDFLIB_MAXSIGNALS + 64 ||
	    field_num(hdr + 236, 8, &n_rec) < 0)
		return -EBADMSG;
	ns = (int)v;
	if (pread(fd, spr, (size_t)ns * 8, 256 + (off_t)ns * 216) != (ssize_t)ns * 8)
		return -EBADMSG;
	for (k = 0; k < ns; k++) {
		if (field_num(spr + k * 8, 8, &v) < 0 || v < 1 || v > 1e7)
			return -EBADMSG;
		rec += (size_t)v * bps;
	}
	ret->hdr_bytes = 256 + (size_t)ns * 256;
	ret->rec_bytes = rec;
	ret->n_rec = (long long)n_rec;
	ret->size = (size_t)sb.st_size;
	return 0;
}

/*
 * Check that @path holds exactly @n_rec data records and a header that
 * counts them, then sync it: EDFlib 1.23 reports neither a failed flush
 * nor a failed close. Return: 0, -EBADMSG if the file is not whole, or
 * -errno.
 */
static int edf_check(const char *path, long long n_rec)
{
	struct edf_layout l;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = edf_layout_read(fd, &l);
	if (err == 0 && (l.n_rec != n_rec ||
			 l.size != l.hdr_bytes + (size_t)n_rec * l.rec_bytes))
		err = -EBADMSG;
	if (err == 0 && fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * Cut @path, whose writing failed, to its complete data records, at most
 * @max_rec (those EDFlib took: past them, a close without any record
 * appends annotation-only blocks), and make its header count them, so
 * that it reads as a valid file (without the annotations EDFlib had not
 * written yet: the journal has them).
 * Return: the records kept, or -errno (-EBADMSG: no whole header).
 */
static long long edf_cut_to_records(const char *path, long long max_rec)
{
	struct edf_layout l;
	char num[24];
	long long n = 0;
	int fd, err;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = edf_layout_read(fd, &l);
	if (err == 0 && l.size < l.hdr_bytes)
		err = -EBADMSG;
	if (err < 0)
		goto out;
	n = (long long)((l.size - l.hdr_bytes) / l.rec_bytes);
	if (n > max_rec)
		n = max_rec;
	if (n > 99999999)
		n = 99999999;		/* the field's 8 digits: three years */
	snprintf(num, sizeof(num), "%-8lld", n);
	errno = 0;
	if (ftruncate(fd, (off_t)(l.hdr_bytes + (size_t)n * l.rec_bytes)) < 0 ||
	    pwrite(fd, num, 8, 236) != 8 || fsync(fd) < 0)
		err = errno ? -errno : -EIO;
out:
	close(fd);
	return err < 0 ? err : n;
}

static const char *edf_strerror(int err)
{
	return err == EBADMSG ? "EDFlib left it incomplete" : err ? strerror(err) :
	       "EDFlib error";
}

/* ---------------------------------------------------------------- setup */

static int connect_or_explain(struct twitch_client **c)
{
	char msg[256];
	int err = twitch_client_connect(sock_path, c), rc;

	if (err == 0)
		return 0;
	rc = twitch_connect_strerror(err, sock_path, msg, sizeof(msg));
	fprintf(stderr, "twitch-record: %s\n", msg);
	return rc;
}

/* The output path: strftime patterns expanded; a directory gets a name. */
static int make_path(const char *arg, bool bdf, time_t when, char *out, size_t size)
{
	char pat[4096];
	struct stat sb;
	struct tm tm;

	localtime_r(&when, &tm);
	if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode))
		snprintf(pat, sizeof(pat), "%s/twitch-%%Y%%m%%d-%%H%%M%%S.%s", arg,
			 bdf ? "bdf" : "edf");
	else
		snprintf(pat, sizeof(pat), "%s", arg);
	/* the user's pattern is the point here */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (strftime(out, size, pat, &tm) == 0)
		return -ENAMETOOLONG;
#pragma GCC diagnostic pop
	return 0;
}

/*
 * The label of channel @ch of device @dev: "EMG dev chN" in EDF's 16
 * characters, the device name shortened to leave room for the channel
 * number; variant @k > 0 ends the shortened name in "~k", to tell apart
 * devices whose shortened names are the same. A channel below 65536
 * leaves room for "~640" (EDFlib's signal limit bounds @k).
 * Return: 0, or -ERANGE if it does not fit.
 */
static int make_label(char label[LABEL_MAX + 1], const char *dev, unsigned int ch,
		      unsigned int k)
{
	char num[16], tag[16] = "";
	size_t fixed, n;

	snprintf(num, sizeof(num), " ch%u", ch);
	if (k > 0)
		snprintf(tag, sizeof(tag), "~%u", k);
	fixed = 4 + strlen(tag) + strlen(num);		/* 4: "EMG " */
	if (fixed > LABEL_MAX)
		return -ERANGE;
	n = strnlen(dev, LABEL_MAX - fixed);
	memcpy(label, "EMG ", 4);
	memcpy(label + 4, dev, n);
	memcpy(label + 4 + n, tag, strlen(tag));
	memcpy(label + 4 + n + strlen(tag), num, strlen(num) + 1);
	return 0;
}

/*
 * Labels for every signal into @labels, unique within the file: each
 * stream takes the first variant (see make_label()) whose labels no
 * earlier stream has. Return: 0, or -EINVAL if none fits (cannot happen
 * within EDFlib's signal limit).
 */
static int make_labels(const struct recorder *rc, char (*labels)[LABEL_MAX + 1])
{
	unsigned int ch, k;
	int i, n = 0, j;

	for (i = 0; i < rc->n_st; i++) {
		const struct rec_stream *s = &rc->st[i];
		bool clash = true;

		for (k = 0; clash && k <= EDFLIB_MAXSIGNALS; k++) {
			clash = false;
			for (ch = 0; ch < s->n_ch && !clash; ch++) {
				if (make_label(labels[n + (int)ch], s->dev, ch, k) < 0)
					return -EINVAL;
				for (j = 0; j < n + (int)ch && !clash; j++)
					clash = !strcmp(labels[j], labels[n + (int)ch]);
			}
		}
		if (clash)
			return -EINVAL;
		n += (int)s->n_ch;
	}
	return 0;
}

static int open_edf(struct recorder *rc, struct edf_out *o)
{
	uint64_t real_ns = rc->t0_real_ns + o->base * 1000000000u;
	time_t secs = (time_t)(real_ns / 1000000000u);
	char (*labels)[LABEL_MAX + 1];
	char transducer[81];
	struct tm tm;
	int i, sig = 0, n_sig = 0, h, err = 0;
	unsigned int ch;

	for (i = 0; i < rc->n_st; i++)
		n_sig += (int)rc->st[i].n_ch;
	h = edfopen_file_writeonly(o->path, rc->bdf ? EDFLIB_FILETYPE_BDFPLUS :
				   EDFLIB_FILETYPE_EDFPLUS, n_sig);
	if (h < 0) {
		fprintf(stderr, "twitch-record: %s: EDFlib cannot create it (error %d)\n",
			o->path, h);
		return -EIO;
	}
	o->edf = h;
	/* after EDFlib checked n_sig against its limit, which bounds this */
	labels = calloc((size_t)n_sig, sizeof(*labels));
	if (!labels) {
		fprintf(stderr, "twitch-record: out of memory\n");
		return -ENOMEM;
	}
	if (make_labels(rc, labels) < 0) {
		fprintf(stderr, "twitch-record: no unique signal labels for these devices\n");
		err = -EINVAL;
		goto out;
	}
	localtime_r(&secs, &tm);
	edf_set_startdatetime(h, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			      tm.tm_min, tm.tm_sec);
	edf_set_subsecond_starttime(h, (int)(real_ns % 1000000000u / 100u));
	edf_set_equipment(h, "twitchd twitch-record");
	edf_set_number_of_annotation_signals(h, ANNOT_SIGNALS);
	for (i = 0; i < rc->n_st; i++) {
		struct rec_stream *s = &rc->st[i];

		for (ch = 0; ch < s->n_ch; ch++, sig++) {
			/* the label is short; the full device name is here */
			snprintf(transducer, sizeof(transducer), "twitchd device %s ch%u",
				 s->dev, ch);
			if (edf_set_samplefrequency(h, sig, (int)s->rate) ||
			    edf_set_physical_maximum(h, sig, rc->range_uv) ||
			    edf_set_physical_minimum(h, sig, -rc->range_uv) ||
			    edf_set_digital_maximum(h, sig, rc->dig_max) ||
			    edf_set_digital_minimum(h, sig, rc->dig_min) ||
			    edf_set_label(h, sig, labels[sig]) ||
			    edf_set_physical_dimension(h, sig, "uV") ||
			    edf_set_prefilter(h, sig, "none (raw)") ||
			    edf_set_transducer(h, sig, transducer)) {
				fprintf(stderr, "twitch-record: %s: EDFlib refused signal %d "
					"parameters\n", o->path, sig);
				err = -EINVAL;
				goto out;
			}
		}
	}
out:
	free(labels);
	return err;
}

static int open_journal(struct recorder *rc, struct edf_out *o)
{
	char head[512];
	int n;

	snprintf(o->jpath, sizeof(o->jpath), "%s.journal", o->path);
	o->jfd = open(o->jpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (o->jfd < 0) {
		fprintf(stderr, "twitch-record: %s: %s\n", o->jpath, strerror(errno));
		return -errno;
	}
	n = snprintf(head, sizeof(head), JOURNAL_MAGIC "\nstart_real_ns %" PRIu64 "\n"
		     "# A onset_100us duration_100us text (EDF+ keeps %d bytes of text)\n",
		     rc->t0_real_ns + o->base * 1000000000u, ANNOT_TEXT_MAX);
	if (write_all(o->jfd, head, (size_t)n) < 0 || fsync(o->jfd) < 0) {
		fprintf(stderr, "twitch-record: %s: %s\n", o->jpath, strerror(errno));
		return -EIO;
	}
	return 0;
}

/*
 * Open the file whose first record is the recording's record @base: its
 * name is the -o pattern at its start time, with "-N" before the extension
 * if that name exists already (only when rotating: one file is never
 * written over).
 */
static int out_open(struct recorder *rc, struct edf_out *o, uint64_t base)
{
	uint64_t real_ns = rc->t0_real_ns + base * 1000000000u;
	char name[4096], *dot, *slash;
	struct stat sb;
	int k, err;

	memset(o, 0, sizeof(*o));
	o->edf = -1;
	o->jfd = -1;
	o->base = base;
	err = make_path(rc->pattern, rc->bdf, (time_t)(real_ns / 1000000000u), name,
			sizeof(name));
	if (err < 0) {
		fprintf(stderr, "twitch-record: -o: path too long\n");
		return err;
	}
	copy_str(o->path, sizeof(o->path), name);
	for (k = 1; stat(o->path, &sb) == 0 || errno != ENOENT; k++) {
		if (k > 999 || !rc->rotate_records) {
			fprintf(stderr, "twitch-record: %s: %s\n", o->path,
				errno == ENOENT ? "exists; not overwriting it" : strerror(errno));
			return -EEXIST;
		}
		dot = strrchr(name, '.');
		slash = strrchr(name, '/');
		if (!dot || (slash && dot < slash))
			dot = name + strlen(name);
		snprintf(o->path, sizeof(o->path), "%.*s-%d%s", (int)(dot - name), name, k, dot);
	}
	err = open_journal(rc, o);
	if (err == 0)
		err = open_edf(rc, o);
	if (err == 0)
		fprintf(stderr, "twitch-record: recording to %s\n", o->path);
	return err;
}

/*
 * After a failed write or sync: keep the complete data records of @o's
 * file, at most the @n_rec written (see edf_cut_to_records()), leave its journal open-ended for
 * --recover, with a comment saying why, and say so in one message.
 */
static void out_salvage(struct edf_out *o, uint64_t n_rec)
{
	const char *why = edf_strerror(o->err);
	long long kept = edf_cut_to_records(o->path, (long long)n_rec);
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "# writing failed: %s\n", why);
	if (write_all(o->jfd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) == 0)
		fsync(o->jfd);	/* a comment for people; the open end is what counts */
	if (kept > 0)
		fprintf(stderr, "twitch-record: %s: writing failed (%s); it keeps its %lld "
			"complete data records (%lld s); `twitch-record --recover %s` adds the "
			"annotations from %s\n", o->path, why, kept, kept, o->path, o->jpath);
	else if (kept == 0 || kept == -EBADMSG)
		fprintf(stderr, "twitch-record: %s: writing failed (%s) before its first "
			"complete data record; %s has the annotations\n", o->path, why, o->jpath);
	else
		fprintf(stderr, "twitch-record: %s: writing failed (%s), and cutting it to its "
			"complete data records failed too (%s); try `twitch-record --recover %s`\n",
			o->path, why, strerror((int)-kept), o->path);
}

/*
 * Close a file. A file EDFlib wrote whole (checked: see edf_check()) is
 * synced and its journal marked closed; one whose writing failed is
 * salvaged (see out_salvage()). Return: 0, or -EIO if anything failed.
 */
static int out_close(struct recorder *rc, struct edf_out *o)
{
	uint64_t n_rec = (o == &rc->cur ? rc->n_records : rc->cur.base) - o->base;
	int err = 0;

	if (o->edf < 0) {
		if (o->jfd >= 0)
			close(o->jfd);
		o->jfd = -1;
		return 0;
	}
	if (!o->failed && o->n_annots > n_rec * ANNOT_SIGNALS)
		fprintf(stderr, "twitch-record: %s: %" PRIu64 " annotations for %" PRIu64
			" records: EDFlib keeps only %" PRIu64 "; %s has them all\n", o->path,
			o->n_annots, n_rec, n_rec * ANNOT_SIGNALS, o->jpath);
	if (edfclose_file(o->edf) < 0 && !o->failed) {
		o->failed = true;
		o->err = 0;
	}
	o->edf = -1;
	if (!o->failed) {
		err = edf_check(o->path, (long long)n_rec);
		if (err < 0) {
			o->failed = true;
			o->err = -err;
		}
	}
	if (o->failed) {
		out_salvage(o, n_rec);
		err = -EIO;
	} else if (write_all(o->jfd, "closed\n", 7) < 0 || fsync(o->jfd) < 0) {
		fprintf(stderr, "twitch-record: %s: %s\n", o->jpath, strerror(errno));
		err = -EIO;
	} else {
		fprintf(stderr, "twitch-record: %s: %" PRIu64 " s, %" PRIu64 " annotations\n",
			o->path, n_rec, o->n_annots);
	}
	close(o->jfd);
	o->jfd = -1;
	return err;
}

/* The next file starts at the next record; the last one stays open 2 s. */
static int rotate(struct recorder *rc)
{
	int err = out_close(rc, &rc->prev);

	if (err < 0)
		return err;
	rc->prev = rc->cur;
	rc->prev.close_at_ns = now_mono_ns() + 2000000000u;
	err = out_open(rc, &rc->cur, rc->n_records);
	if (err < 0)
		return -EIO;
	{
		struct pending_annot p[MAX_PENDING];
		int i, n = rc->n_pending;

		memcpy(p, rc->pending, (size_t)n * sizeof(p[0]));
		rc->n_pending = 0;
		for (i = 0; i < n; i++)	/* those still ahead are queued again */
			annot_put(rc, p[i].onset_ns, p[i].dur_ns, p[i].text);
	}
	return 0;
}

/*
 * fsync the journal and the data written so far (any fd of the file will
 * do). Return: 0, or -EIO when the data could not be synced (the file is
 * marked failed: what the kernel could not write back is lost).
 */
static int sync_out(struct edf_out *o)
{
	int fd;

	if (o->edf < 0)
		return 0;
	if (o->jdirty && fsync(o->jfd) < 0)
		fprintf(stderr, "twitch-record: %s: fsync: %s, ignoring\n", o->jpath,
			strerror(errno));
	o->jdirty = false;
	fd = open(o->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fdatasync(fd) < 0) {
		o->failed = true;
		o->err = errno;
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/*
 * Wait for the first record of each candidate stream: it tells the unit,
 * rate and channel count. Keeps the streams that carry uV at a whole rate.
 */
static int probe_streams(struct recorder *rc, struct twitch_client *c, char (*names)[24],
			 int n_names, bool named, union rec_buf *first)
{
	uint64_t deadline = now_mono_ns() + (uint64_t)PROBE_MS * 1000000u;
	struct twitch_reader *r[MAX_STREAMS] = { NULL };
	bool done[MAX_STREAMS] = { false };
	int i, n, left = n_names, rv = 0;

	for (i = 0; i < n_names; i++) {
		n = twitch_reader_new(c, names[i], TWITCH_FROM_NEWEST, &r[i]);
		if (n < 0) {
			fprintf(stderr, "twitch-record: stream '%s': %s\n", names[i],
				n == -ENOENT ? "no such stream (see twitchctl status)" :
				strerror(-n));
			rv = n == -ENOENT ? -EINVAL : n;
			goto out;
		}
	}
	while (left > 0 && now_mono_ns() < deadline && !stop_signal) {
		for (i = 0; i < n_names; i++) {
			const struct twitch_rec_samples *sr = (const void *)&first[rc->n_st];
			struct rec_stream *s = &rc->st[rc->n_st];
			float rate;

			if (done[i])
				continue;
			n = twitch_reader_next(r[i], &first[rc->n_st], sizeof(first[0]), 0);
			if (n <= 0 || first[rc->n_st].h.type != TWITCH_REC_SAMPLES)
				continue;
			done[i] = true;
			left--;
			rate = sr->rate_hz;
			if (sr->unit != TWITCH_UNIT_UV || !(rate >= 1.0f) ||
			    fabsf(rate - roundf(rate)) > 1e-3f || sr->n_channels == 0) {
				fprintf(stderr, "twitch-record: stream '%s': %s, %s\n", names[i],
					sr->unit != TWITCH_UNIT_UV ? "not in uV" :
					"not a whole number of samples per second",
					named ? "cannot record it" : "skipped");
				if (named) {
					rv = -EINVAL;
					goto out;
				}
				continue;
			}
			copy_str(s->name, sizeof(s->name), names[i]);
			copy_str(s->dev, sizeof(s->dev),
				 !strncmp(names[i], "samples-", 8) ? names[i] + 8 : names[i]);
			s->r = r[i];
			r[i] = NULL;
			s->device = sr->hdr.device;
			s->n_ch = sr->n_channels;
			s->rate = (unsigned int)lroundf(rate);
			s->reanchor = true;
			s->buf = calloc((size_t)BUF_S * s->n_ch * s->rate, sizeof(double));
			if (!s->buf) {
				rv = -ENOMEM;
				goto out;
			}
			if (rc->n_st == 0) {
				rc->t0_mono_ns = sr->hdr.t_mono_ns;
				rc->t0_real_ns = sr->hdr.t_real_ns;
			}
			rc->n_st++;
		}
		if (left > 0) {
			struct timespec ts = { 0, 2000000 };

			nanosleep(&ts, NULL);
		}
	}
	for (i = 0; named && i < n_names; i++)
		if (!done[i]) {
			fprintf(stderr, "twitch-record: stream '%s': no records in %d ms\n",
				names[i], PROBE_MS);
			rv = -ETIMEDOUT;
		}
	if (rv == 0 && rc->n_st == 0) {
		fprintf(stderr, "twitch-record: no samples stream in uV to record\n");
		rv = -ENOENT;
	}
out:
	for (i = 0; i < n_names; i++)
		twitch_reader_free(r[i]);
	return rv;
}

/* ---------------------------------------------------------------- record */

struct rec_opts {
	const char *out;
	char streams[MAX_STREAMS][24];
	int n_streams;
	bool edf;
	double range_uv;
	double duration_s;
	double rotate_mb;
	double rotate_s;
};

static union rec_buf rbuf, first[MAX_STREAMS];

static int record_main(const struct rec_opts *o)
{
	struct recorder rc = { .cur = { .edf = -1, .jfd = -1 }, .prev = { .edf = -1, .jfd = -1 } };
	struct twitch_client *c = NULL;
	struct twitch_reader *ev = NULL;
	struct twitch_stream_info si;
	char names[MAX_STREAMS][24];
	int i, n, n_names = 0, rv, err;
	uint64_t last_sync;

	rc.bdf = !o->edf;
	rc.dig_max = rc.bdf ? 8388607 : 32767;
	rc.dig_min = -rc.dig_max - 1;
	rc.range_uv = o->range_uv > 0 ? o->range_uv : rc.bdf ? 838860.0 : 3276.8;
	if (o->duration_s > 0)
		rc.max_records = (uint64_t)ceil(o->duration_s);

	rv = connect_or_explain(&c);
	if (rv)
		return rv;
	if (o->n_streams) {
		memcpy(names, o->streams, sizeof(names));
		n_names = o->n_streams;
	} else {
		n = twitch_client_n_streams(c);
		for (i = 0; i < n && n_names < MAX_STREAMS; i++)
			if (twitch_client_stream_info(c, (unsigned int)i, &si) == 0 &&
			    si.type == 2)
				snprintf(names[n_names++], sizeof(names[0]), "%s", si.name);
	}
	/* events first: nothing published after the first sample is missed */
	err = twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &ev);
	if (err < 0) {
		fprintf(stderr, "twitch-record: stream 'events': %s\n", strerror(-err));
		rv = EXIT_FAILURE;
		goto out;
	}
	err = probe_streams(&rc, c, names, n_names, o->n_streams > 0, first);
	if (err < 0) {
		rv = err == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
		goto out;
	}
	rc.pattern = o->out;
	if (o->rotate_s > 0)
		rc.rotate_records = (uint64_t)ceil(o->rotate_s);
	if (o->rotate_mb > 0) {
		/* bytes per record: samples, annotation signals */
		double rec_bytes = ANNOT_SIGNALS * 114.0, r;

		for (i = 0; i < rc.n_st; i++)
			rec_bytes += (double)rc.st[i].n_ch * rc.st[i].rate * (rc.bdf ? 3 : 2);
		r = floor(o->rotate_mb * 1e6 / rec_bytes);
		r = r < 1 ? 1 : r;
		if (!rc.rotate_records || r < (double)rc.rotate_records)
			rc.rotate_records = (uint64_t)r;
	}
	if (out_open(&rc, &rc.cur, 0) < 0) {
		rv = EXIT_FAILURE;
		goto out;
	}
	{
		unsigned int max_rate = 0;

		for (i = 0; i < rc.n_st; i++)
			max_rate = rc.st[i].rate > max_rate ? rc.st[i].rate : max_rate;
		rc.digi = calloc(max_rate, sizeof(int));
		if (!rc.digi) {
			fprintf(stderr, "twitch-record: out of memory\n");
			rv = EXIT_FAILURE;
			goto out;
		}
	}
	fprintf(stderr, "twitch-record: streams:");
	for (i = 0; i < rc.n_st; i++)
		fprintf(stderr, " %s (%u ch @ %u Hz)", rc.st[i].name, rc.st[i].n_ch, rc.st[i].rate);
	if (rc.rotate_records)
		fprintf(stderr, "; a new file every %" PRIu64 " s", rc.rotate_records);
	fprintf(stderr, "\n");
	for (i = 0; i < rc.n_st; i++) {
		err = on_samples(&rc, &rc.st[i], (const void *)&first[i]);
		if (err < 0 && err != -EPROTO)
			goto io_error;
	}
	last_sync = now_mono_ns();
	rv = EXIT_SUCCESS;
	while (!stop_signal && !(rc.max_records && rc.n_records >= rc.max_records)) {
		/*
		 * A nonzero timeout on the first call of each reader: only a
		 * waiting call notices a restarted daemon and reconnects.
		 */
		for (n = twitch_reader_next(ev, &rbuf, sizeof(rbuf), 1); n > 0;
		     n = twitch_reader_next(ev, &rbuf, sizeof(rbuf), 0))
			on_event(&rc, &rbuf);
		for (i = 0; i < rc.n_st; i++) {
			struct rec_stream *s = &rc.st[i];
			int k;

			/* bounded per turn so the events keep their turn */
			for (k = 0; k < 64; k++) {
				n = twitch_reader_next(s->r, &rbuf, sizeof(rbuf),
						       k > 0 ? 0 : rc.n_st == 1 ? 20 : 1);
				if (n <= 0)
					break;
				if (rbuf.h.type == TWITCH_REC_SAMPLES) {
					err = on_samples(&rc, s, (const void *)&rbuf);
					if (err < 0 && err != -EPROTO)
						goto io_error;
				} else if (rbuf.h.type == TWITCH_REC_STATUS &&
					   ((const struct twitch_rec_status *)&rbuf)->state ==
					   TWITCH_STATUS_DAEMON_RESTARTED) {
					s->reanchor = true;	/* indexes start again */
				}
			}
			if (n < 0 && n != -EPROTO) {
				fprintf(stderr, "twitch-record: %s: %s\n", s->name, strerror(-n));
				rv = EXIT_FAILURE;
				goto close;
			}
		}
		if (now_mono_ns() - last_sync >= 1000000000u) {
			if (sync_out(&rc.cur) < 0 || sync_out(&rc.prev) < 0)
				goto io_error;
			last_sync = now_mono_ns();
		}
		if (rc.prev.edf >= 0 && now_mono_ns() >= rc.prev.close_at_ns &&
		    out_close(&rc, &rc.prev) < 0) {
			rv = EXIT_FAILURE;
			goto close;
		}
	}
	/* events already published for the recorded time */
	while (twitch_reader_next(ev, &rbuf, sizeof(rbuf), 0) > 0)
		on_event(&rc, &rbuf);
	goto close;
io_error:
	rv = EXIT_FAILURE;	/* out_close() or out_open() says what failed */
close:
	for (i = 0; i < rc.n_st; i++)
		note_overlap(&rc, &rc.st[i]);
	if (finish_first_record(&rc) < 0)
		rv = EXIT_FAILURE;
	if (out_close(&rc, &rc.prev) < 0)
		rv = EXIT_FAILURE;
	if (out_close(&rc, &rc.cur) < 0)
		rv = EXIT_FAILURE;
	fprintf(stderr, "twitch-record: %" PRIu64 " s recorded", rc.n_records);
	for (i = 0; i < rc.n_st; i++) {
		fprintf(stderr, "; %s: %" PRIu64 " gap samples, %" PRIu64 " clipped",
			rc.st[i].dev, rc.st[i].gap_scans, rc.st[i].clipped);
		if (rc.st[i].dropped_scans)
			fprintf(stderr, ", %" PRIu64 " dropped (overlap)", rc.st[i].dropped_scans);
	}
	fprintf(stderr, "\n");
out:
	out_close(&rc, &rc.cur);	/* journal only, if the file never opened */
	for (i = 0; i < rc.n_st; i++) {
		twitch_reader_free(rc.st[i].r);
		free(rc.st[i].buf);
	}
	free(rc.digi);
	twitch_reader_free(ev);
	twitch_client_free(c);
	return rv;
}

/* ---------------------------------------------------------------- recover */

struct edf_sig {
	char label[17], physdim[9], prefilter[81], transducer[81];
	double phys_min, phys_max;
	long dig_min, dig_max;
	long spr;			/* samples per record */
	bool annot;
	size_t offset;			/* bytes into a record */
};

struct journal_annot {
	long long onset, dur;
	char *text;
};

static int cmp_annot(const void *a, const void *b)
{
	const struct journal_annot *x = a, *y = b;

	return (x->onset > y->onset) - (x->onset < y->onset);
}

static int read_journal(const char *jpath, struct journal_annot **ret, size_t *ret_n,
			bool *ret_closed, uint64_t *ret_start_ns)
{
	struct journal_annot *a = NULL, *na;
	size_t n = 0, cap = 0, len = 0;
	char *line = NULL, *p, *end;
	bool closed = false, magic = false;
	uint64_t start = 0;
	unsigned long lineno = 0;
	ssize_t got;
	FILE *f;

	f = fopen(jpath, "re");
	if (!f) {
		fprintf(stderr, "twitch-record: %s: %s\n", jpath, strerror(errno));
		return -errno;
	}
	while ((got = getline(&line, &len, f)) > 0) {
		lineno++;
		if (line[got - 1] != '\n')
			break;	/* a torn last line: the crash came mid-write */
		line[got - 1] = 0;
		if (lineno == 1) {
			magic = !strcmp(line, JOURNAL_MAGIC);
			if (!magic)
				break;
			continue;
		}
		if (!strcmp(line, "closed")) {
			closed = true;
		} else if (!strncmp(line, "start_real_ns ", 14)) {
			errno = 0;
			start = strtoull(line + 14, &end, 10);
			if (errno || *end)
				goto bad;
		} else if (line[0] == 'A' && line[1] == ' ') {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				na = realloc(a, cap * sizeof(*a));
				if (!na)
					goto nomem;
				a = na;
			}
			errno = 0;
			a[n].onset = strtoll(line + 2, &p, 10);
			if (errno || *p != ' ')
				goto bad;
			a[n].dur = strtoll(p + 1, &end, 10);
			if (errno || *end != ' ')
				goto bad;
			a[n].text = strdup(end + 1);
			if (!a[n].text)
				goto nomem;
			n++;
		} else if (line[0] != '#') {
			goto bad;
		}
	}
	free(line);
	fclose(f);
	if (!magic) {
		fprintf(stderr, "twitch-record: %s: not a twitch-record journal\n", jpath);
		goto fail;
	}
	*ret = a;
	*ret_n = n;
	*ret_closed = closed;
	*ret_start_ns = start;
	return 0;
bad:
	fprintf(stderr, "twitch-record: %s:%lu: malformed line\n", jpath, lineno);
	free(line);
	fclose(f);
	goto fail;
nomem:
	free(line);
	fclose(f);
	fprintf(stderr, "twitch-record: out of memory\n");
fail:
	while (n > 0)
		free(a[--n].text);
	free(a);
	return -EINVAL;
}

/*
 * Rewrite @path, an EDF+/BDF+ file EDFlib left unclosed, into a valid file:
 * the complete data records, the signal headers and the journal's
 * annotations, written again through EDFlib to PATH.tmp and renamed over
 * @path once it is closed and synced.
 */
static int recover_main(const char *path)
{
	struct journal_annot *an = NULL;
	struct edf_sig *sig = NULL;
	char jpath[4200], tpath[4200], hdr[256], *shdr = NULL, *rec = NULL;
	size_t n_an = 0, i, hdr_bytes, rec_bytes = 0, bps;
	int *digi = NULL, h = -1, ns, n_data = 0, k, rv = EXIT_FAILURE;
	long long n_rec, r;
	uint64_t start_ns = 0;
	bool closed = false, bdf;
	struct stat sb;
	double v;
	FILE *f = NULL;

	snprintf(jpath, sizeof(jpath), "%s.journal", path);
	snprintf(tpath, sizeof(tpath), "%s.tmp", path);
	if (read_journal(jpath, &an, &n_an, &closed, &start_ns) < 0)
		return EXIT_FAILURE;
	if (closed) {
		printf("%s: closed properly (the journal says so): nothing to recover\n", path);
		rv = EXIT_SUCCESS;
		goto out;
	}
	f = fopen(path, "rbe");
	if (!f || fstat(fileno(f), &sb) < 0 || fread(hdr, 256, 1, f) != 1) {
		fprintf(stderr, "twitch-record: %s: %s\n", path,
			errno ? strerror(errno) : "shorter than an EDF header");
		goto out;
	}
	bdf = (unsigned char)hdr[0] == 0xff && !memcmp(hdr + 1, "BIOSEMI", 7);
	if (!bdf && memcmp(hdr, "0       ", 8)) {
		fprintf(stderr, "twitch-record: %s: not an EDF or BDF file\n", path);
		goto out;
	}
	bps = bdf ? 3 : 2;
	if (field_num(hdr + 252, 4, &v) < 0 || v < 1 || v > EDFLIB_MAXSIGNALS + 64) {
		fprintf(stderr, "twitch-record: %s: header field 'number of signals' is bad\n",
			path);
		goto out;
	}
	ns = (int)v;
	hdr_bytes = 256 + (size_t)ns * 256;
	shdr = malloc(hdr_bytes);
	sig = calloc((size_t)ns, sizeof(*sig));
	if (!shdr || !sig || fread(shdr, (size_t)ns * 256, 1, f) != 1) {
		fprintf(stderr, "twitch-record: %s: signal headers cut short\n", path);
		goto out;
	}
#define SF(off, w, k) (shdr + (size_t)ns * (off) + (size_t)(k) * (w))
	for (k = 0; k < ns; k++) {
		struct edf_sig *s = &sig[k];
		double d;

		field(SF(0, 16, k), 16, s->label);
		field(SF(16, 80, k), 80, s->transducer);
		field(SF(96, 8, k), 8, s->physdim);
		field(SF(136, 80, k), 80, s->prefilter);
		if (field_num(SF(104, 8, k), 8, &s->phys_min) < 0 ||
		    field_num(SF(112, 8, k), 8, &s->phys_max) < 0 ||
		    field_num(SF(120, 8, k), 8, &d) < 0 || (s->dig_min = (long)d, 0) ||
		    field_num(SF(128, 8, k), 8, &d) < 0 || (s->dig_max = (long)d, 0) ||
		    field_num(SF(216, 8, k), 8, &d) < 0 || d < 1 || d > 1e7) {
			fprintf(stderr, "twitch-record: %s: signal %d: bad header field\n",
				path, k);
			goto out;
		}
		s->spr = (long)d;
		s->annot = !strcmp(s->label, "EDF Annotations") ||
			   !strcmp(s->label, "BDF Annotations");
		s->offset = rec_bytes;
		rec_bytes += (size_t)s->spr * bps;
		n_data += !s->annot;
	}
#undef SF
	if ((size_t)sb.st_size < hdr_bytes || n_data == 0) {
		fprintf(stderr, "twitch-record: %s: no data signals\n", path);
		goto out;
	}
	n_rec = (long long)(((size_t)sb.st_size - hdr_bytes) / rec_bytes);
	if (n_rec == 0) {
		/* EDFlib cannot write a valid file without a data record */
		fprintf(stderr, "twitch-record: %s: not one complete data record (under 1 s "
			"recorded): nothing to recover; %s has the annotations\n", path, jpath);
		goto out;
	}
	rec = malloc(rec_bytes);
	digi = malloc(rec_bytes * sizeof(int));	/* more than the largest signal needs */
	if (!rec || !digi) {
		fprintf(stderr, "twitch-record: out of memory\n");
		goto out;
	}
	unlink(tpath);
	h = edfopen_file_writeonly(tpath, bdf ? EDFLIB_FILETYPE_BDFPLUS :
				   EDFLIB_FILETYPE_EDFPLUS, n_data);
	if (h < 0) {
		fprintf(stderr, "twitch-record: %s: EDFlib cannot create it (error %d)\n",
			tpath, h);
		goto out;
	}
	if (start_ns) {
		time_t secs = (time_t)(start_ns / 1000000000u);
		struct tm tm;

		localtime_r(&secs, &tm);
		edf_set_startdatetime(h, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
				      tm.tm_hour, tm.tm_min, tm.tm_sec);
		edf_set_subsecond_starttime(h, (int)(start_ns % 1000000000u / 100u));
	}
	edf_set_equipment(h, "twitchd twitch-record (recovered)");
	{
		/* room for every journal annotation (EDFlib drops what does not fit) */
		long long need = n_rec > 0 ? ((long long)n_an + n_rec - 1) / n_rec : 1;
		long long have = ns - n_data;

		if (need > have)
			have = need;
		edf_set_number_of_annotation_signals(h, (int)(have < 1 ? 1 : have > 64 ? 64 :
								have));
	}
	for (k = 0, i = 0; k < ns; k++) {
		const struct edf_sig *s = &sig[k];
		int j = (int)i;

		if (s->annot)
			continue;
		i++;
		if (edf_set_samplefrequency(h, j, (int)s->spr) ||
		    edf_set_physical_maximum(h, j, s->phys_max) ||
		    edf_set_physical_minimum(h, j, s->phys_min) ||
		    edf_set_digital_maximum(h, j, (int)s->dig_max) ||
		    edf_set_digital_minimum(h, j, (int)s->dig_min) ||
		    edf_set_label(h, j, s->label) ||
		    edf_set_physical_dimension(h, j, s->physdim) ||
		    edf_set_prefilter(h, j, s->prefilter) ||
		    edf_set_transducer(h, j, s->transducer)) {
			fprintf(stderr, "twitch-record: %s: signal %d: EDFlib refused its "
				"parameters\n", path, k);
			goto out;
		}
	}
	if (fseeko(f, (off_t)hdr_bytes, SEEK_SET) < 0)
		goto io;
	for (r = 0; r < n_rec; r++) {
		if (fread(rec, rec_bytes, 1, f) != 1)
			goto io;
		for (k = 0; k < ns; k++) {
			const struct edf_sig *s = &sig[k];
			const unsigned char *p = (const unsigned char *)rec + s->offset;
			long j;

			if (s->annot)
				continue;
			for (j = 0; j < s->spr; j++, p += bps) {
				uint32_t u = p[0] | (uint32_t)p[1] << 8 |
					     (bdf ? (uint32_t)p[2] << 16 : 0);

				if (bdf)
					digi[j] = (int)(u & 0x800000 ? u | 0xff000000u : u);
				else
					digi[j] = (int16_t)u;
			}
			if (edfwrite_digital_samples(h, digi) < 0)
				goto io;
		}
	}
	qsort(an, n_an, sizeof(*an), cmp_annot);
	for (i = 0; i < n_an; i++) {
		char t[ANNOT_TEXT_MAX + 1];

		clean_text(an[i].text);		/* the journal is text a person may edit */
		utf8_cut(t, an[i].text, ANNOT_TEXT_MAX);
		edfwrite_annotation_utf8(h, an[i].onset, an[i].dur, t);
	}
	k = edfclose_file(h);
	h = -1;
	errno = 0;
	if (k < 0)
		goto io;
	k = edf_check(tpath, n_rec);	/* whole, and synced */
	if (k < 0) {
		errno = -k;
		goto io;
	}
	if (rename(tpath, path) < 0)
		goto io;
	{
		int jfd = open(jpath, O_WRONLY | O_APPEND | O_CLOEXEC);

		if (jfd >= 0) {
			if (write_all(jfd, "# recovered\nclosed\n", 19) == 0)
				fsync(jfd);
			close(jfd);
		}
	}
	printf("%s: recovered %lld data records (%lld s) and %zu annotations\n", path, n_rec,
	       n_rec, n_an);
	rv = EXIT_SUCCESS;
	goto out;
io:
	fprintf(stderr, "twitch-record: %s: recovery failed while copying (%s); the original "
		"is untouched\n", path, edf_strerror(errno));
	unlink(tpath);
out:
	if (h >= 0) {
		edfclose_file(h);
		unlink(tpath);
	}
	if (f)
		fclose(f);
	free(shdr);
	free(sig);
	free(rec);
	free(digi);
	for (i = 0; i < n_an; i++)
		free(an[i].text);
	free(an);
	return rv;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "stream", required_argument, NULL, 'S' },
		{ "edf", no_argument, NULL, 'E' },
		{ "range", required_argument, NULL, 'R' },
		{ "duration", required_argument, NULL, 'd' },
		{ "recover", required_argument, NULL, 'V' },
		{ "rotate-size", required_argument, NULL, 'Z' },
		{ "rotate-time", required_argument, NULL, 'T' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rec_opts o = { .out = NULL };
	const char *recover = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "o:d:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.out = optarg;
			break;
		case 'S':
			if (o.n_streams == MAX_STREAMS || strlen(optarg) >= sizeof(o.streams[0])) {
				fprintf(stderr, "twitch-record: --stream: at most %d names of at "
					"most 23 bytes\n", MAX_STREAMS);
				return EXIT_USAGE;
			}
			snprintf(o.streams[o.n_streams++], sizeof(o.streams[0]), "%s", optarg);
			break;
		case 'E':
			o.edf = true;
			break;
		case 'R':
		case 'Z':
		case 'T':
		case 'd': {
			double v;

			errno = 0;
			v = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(v > 0) || v > 1e9) {
				fprintf(stderr, "twitch-record: %s: '%s' is not a positive number\n",
					c == 'R' ? "--range" : c == 'Z' ? "--rotate-size" :
					c == 'T' ? "--rotate-time" : "--duration", optarg);
				return EXIT_USAGE;
			}
			/* EDF header fields hold 8 characters, the minus sign included */
			if (c == 'R' && (strlen(optarg) > 7 || strspn(optarg, "0123456789.") !=
					 strlen(optarg))) {
				fprintf(stderr, "twitch-record: --range: '%s': give at most 7 digits "
					"and a point, e.g. 3276.8\n", optarg);
				return EXIT_USAGE;
			}
			if (c == 'R')
				o.range_uv = v;
			else if (c == 'Z')
				o.rotate_mb = v;
			else if (c == 'T')
				o.rotate_s = v;
			else
				o.duration_s = v;
			break;
		}
		case 'V':
			recover = optarg;
			break;
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
		fprintf(stderr, "twitch-record: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (recover) {
		if (o.out || o.n_streams || o.duration_s > 0 || o.rotate_mb > 0 || o.rotate_s > 0) {
			fprintf(stderr, "twitch-record: --recover takes no other options\n");
			return EXIT_USAGE;
		}
		return recover_main(recover);
	}
	if (!o.out) {
		fprintf(stderr, "twitch-record: -o FILE|DIR is required (see --help)\n");
		return EXIT_USAGE;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit (ulimit -f) is a full disk: EFBIG, handled as such */
	signal(SIGXFSZ, SIG_IGN);
	return record_main(&o);
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * twitchctl - talk to twitchd: status, tail (like journalctl -f), mark, ping.
 *
 * Links only libtwitch. Exit codes (also in --help):
 *   0 success, 1 runtime failure, 2 bad arguments, 3 twitchd not running,
 *   4 permission denied (not in the twitchd group), 5 twitchd refused the
 *   command.
 */
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <twitch.h>

#include "utf8.h"

#define EXIT_USAGE	2
#define EXIT_REFUSED	5
#define MAX_STREAMS	8

static const char usage_text[] =
	"Usage: twitchctl [-s SOCKET] COMMAND [ARGS]\n"
	"Talk to twitchd, the EMG twitch and bioimpedance monitor (a monitoring aid,\n"
	"not a diagnostic device).\n\n"
	"Commands:\n"
	"  status [--json]        the daemon, its devices, losses, per-channel twitch\n"
	"                         rates and noise floors, the last estimate, the streams\n"
	"  tail [-n N] [-f] [--json] [--type T,..] [--channel C,..] [--stream S]...\n"
	"                         show records (default: the last 10 events); -f follows\n"
	"                         like journalctl -f, through losses and restarts\n"
	"  mark TEXT...           put a marker record (e.g. \"lights off\") in the events\n"
	"  calibrate OHM          the next bioimpedance sweep calibrates against a known\n"
	"                         resistor put in place of the electrodes\n"
	"  calibrate rc RS RP C   ... or an R-C phantom RS + (RP || C), ohm, ohm, nF\n"
	"  calibration            whether the bioimpedance device is calibrated\n"
	"  subject height_cm=H,weight_kg=W,sex=m|f,age=A\n"
	"                         subject data, needed for body-water estimates\n"
	"  subject none           forget them (a new patient, data not yet known)\n"
	"  temperature C|none     tissue temperature (degC) for the resistance index's\n"
	"                         temperature compensation, used for 30 min\n"
	"  baseline               start a new baseline of the resistance index\n"
	"  ping                   check that twitchd answers\n\n"
	"Options:\n"
	"  -s, --socket PATH      control socket (default $TWITCH_SOCKET or "
	TWITCH_SOCKET_DEFAULT ")\n"
	"  -h, --help             this help\n\n"
	"Exit codes: 0 success, 1 runtime failure, 2 bad arguments, 3 twitchd not\n"
	"running, 4 permission denied (join the twitchd group), 5 twitchd refused.\n";

static const char *sock_path;

static int connect_or_explain(struct twitch_client **c)
{
	char msg[256];
	int err = twitch_client_connect(sock_path, c), rc;

	if (err == 0)
		return 0;
	rc = twitch_connect_strerror(err, sock_path, msg, sizeof(msg));
	fprintf(stderr, "twitchctl: %s\n", msg);
	return rc;
}

static int cmd_simple(const char *cmd)
{
	struct twitch_client *c;
	char reply[512];
	int err, rc;

	rc = connect_or_explain(&c);
	if (rc)
		return rc;
	err = twitch_client_command(c, cmd, reply, sizeof(reply));
	twitch_client_free(c);
	if (err == -EINVAL) {	/* libtwitch refused to send it */
		fprintf(stderr, "twitchctl: a command is one line of at most 480 bytes\n");
		return EXIT_USAGE;
	}
	if (err < 0) {
		fprintf(stderr, "twitchctl: %s\n", strerror(-err));
		return EXIT_FAILURE;
	}
	if (err > 0) {
		fprintf(stderr, "twitchctl: twitchd refused: %s\n", reply);
		return EXIT_REFUSED;
	}
	printf("%s\n", reply);
	return EXIT_SUCCESS;
}

/*
 * The newest rates record of each device's channel, if it is current, and the
 * newest estimate, from the ring. A channel's rates come every 10 s while its
 * detector runs: older than STALE_RATES_NS, they belong to a detector that
 * stopped (the device went away, detect = no, a reload dropped the channel).
 */
#define MAX_RATES	256
#define STALE_RATES_NS	25000000000ull
struct latest {
	struct twitch_rec_rates rates[MAX_RATES];
	size_t n_rates;
	struct twitch_rec_bioz bioz;
	bool have_bioz;
	uint64_t losses;		/* device scans lost, as the ring still shows */
};

static void drop_stale_rates(struct latest *l)
{
	struct timespec ts;
	uint64_t now;
	size_t i, k = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (i = 0; i < l->n_rates; i++)
		if (l->rates[i].hdr.t_mono_ns + STALE_RATES_NS >= now)
			l->rates[k++] = l->rates[i];
	l->n_rates = k;
}

static void scan_events(struct twitch_client *c, struct latest *l)
{
	static union { struct twitch_record_hdr h; char b[4096]; } u;
	struct twitch_reader *r;
	int n;

	memset(l, 0, sizeof(*l));
	if (twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &r) < 0)
		return;
	while ((n = twitch_reader_next(r, &u, sizeof(u), 0)) > 0) {
		if (u.h.type == TWITCH_REC_RATES) {
			const struct twitch_rec_rates *x = (const void *)&u;
			size_t i;

			for (i = 0; i < l->n_rates; i++)
				if (l->rates[i].hdr.device == x->hdr.device &&
				    l->rates[i].channel == x->channel)
					break;
			if (i < MAX_RATES) {
				l->rates[i] = *x;
				if (i == l->n_rates)
					l->n_rates++;
			}
		} else if (u.h.type == TWITCH_REC_BIOZ) {
			memcpy(&l->bioz, &u, sizeof(l->bioz));
			l->have_bioz = true;
		} else if (u.h.type == TWITCH_REC_LOSS && !(u.h.flags & TWITCH_RECF_LOCAL)) {
			l->losses += ((const struct twitch_rec_loss *)(const void *)&u)->count;
		}
	}
	twitch_reader_free(r);
	drop_stale_rates(l);
}

/* How full a stream's ring is and how far back in time it reaches. */
struct fill {
	struct twitch_reader_stats st;
	double span_s;		/* oldest to newest record; NAN if fewer than 2 */
	bool ok;
};

/* The time of @r's next daemon record (0 if none): local loss notices are skipped. */
static uint64_t next_record_time(struct twitch_reader *r)
{
	static union { struct twitch_record_hdr h; char b[1 << 16]; } u;
	int n;

	while ((n = twitch_reader_next(r, &u, sizeof(u), 0)) > 0 &&
	       (u.h.flags & TWITCH_RECF_LOCAL))
		;
	return n > 0 ? u.h.t_mono_ns : 0;
}

static uint64_t newest_time(struct twitch_client *c, const char *name)
{
	struct twitch_reader *r;
	uint64_t t;

	if (twitch_reader_new(c, name, 1, &r) < 0)
		return 0;
	t = next_record_time(r);
	twitch_reader_free(r);
	return t;
}

static struct fill stream_fill(struct twitch_client *c, const char *name)
{
	struct fill f = { .span_s = NAN };
	struct twitch_reader *r;
	uint64_t t_old, t_new;

	/* a reader at the oldest record: the stats before it reads, then that record */
	if (twitch_reader_new(c, name, TWITCH_FROM_OLDEST, &r) < 0)
		return f;
	f.ok = twitch_reader_stats(r, &f.st) == 0;
	t_old = f.ok && f.st.published - f.st.oldest >= 2 ? next_record_time(r) : 0;
	twitch_reader_free(r);
	t_new = t_old ? newest_time(c, name) : 0;
	if (t_old && t_new >= t_old)
		f.span_s = (double)(t_new - t_old) / 1e9;
	return f;
}

/*
 * Device @i's status line ("status I"), whole: the summary answer holds as
 * many whole lines as fit, and says how many more there are. Return: 0,
 * ENODEV past the last device, or another error. A twitchd older than
 * "status I" ignores the argument and answers its summary ("up Ns; ..."),
 * as it still runs after an upgrade until restarted: EOPNOTSUPP, and the
 * summary is all there is.
 */
#define MAX_DEVICE_LINES	64	/* asked for one by one, up to ENODEV */

static int device_line(struct twitch_client *c, int i, char *buf, size_t len)
{
	char cmd[32];
	int err;

	snprintf(cmd, sizeof(cmd), "status %d", i);
	err = twitch_client_command(c, cmd, buf, len);
	if (err == 0 && !strncmp(buf, "up ", 3))
		return EOPNOTSUPP;
	return err;
}


/* @s as a JSON string: quotes, backslashes and control characters escaped,
 * a byte that is not UTF-8 as U+FFFD. */
static void print_json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	putchar('"');
	while (*p) {
		n = twitch_utf8_len(p, SIZE_MAX, NULL);	/* 0: a line cut mid-character */
		if (n == 0) {
			fputs("\\ufffd", stdout);
			p++;
		} else if (*p == '"' || *p == '\\') {
			printf("\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p++);
		} else {
			fwrite(p, 1, n, stdout);
			p += n;
		}
	}
	putchar('"');
}

static void print_status_json(const char *epoch, const char *reply, struct twitch_client *c,
			      const struct latest *l)
{
	struct twitch_stream_info si;
	char json[4096], line[512];
	int i, n;

	printf("{\"running\":true,\"epoch\":\"%s\",\"daemon\":", epoch);
	print_json_string(reply);
	printf(",\"devices\":[");
	for (i = 0; i < MAX_DEVICE_LINES && device_line(c, i, line, sizeof(line)) == 0;
	     i++) {
		if (i)
			putchar(',');
		print_json_string(line);
	}
	printf("],\"streams\":[");
	n = twitch_client_n_streams(c);
	for (i = 0; i < n; i++) {
		struct fill f;

		if (twitch_client_stream_info(c, (unsigned int)i, &si) < 0)
			continue;
		f = stream_fill(c, si.name);
		printf("%s{\"name\":", i ? "," : "");
		print_json_string(si.name);
		printf(",\"slots\":%u,\"slot_size\":%u", si.n_slots, si.slot_size);
		if (f.ok)
			printf(",\"published\":%llu,\"held\":%llu",
			       (unsigned long long)f.st.published,
			       (unsigned long long)(f.st.published - f.st.oldest));
		if (f.ok && isfinite(f.span_s))
			printf(",\"span_s\":%.3f", f.span_s);
		printf("}");
	}
	printf("],\"device_scans_lost\":%llu,\"rates\":[", (unsigned long long)l->losses);
	for (i = 0, n = 0; i < (int)l->n_rates; i++)
		if (twitch_record_json(&l->rates[i], sizeof(l->rates[i]), 0, json,
				       sizeof(json)) > 0)
			printf("%s%s", n++ ? "," : "", json);
	printf("],\"last_estimate\":");
	if (l->have_bioz && twitch_record_json(&l->bioz, sizeof(l->bioz), 0, json,
					       sizeof(json)) > 0)
		printf("%s}\n", json);
	else
		printf("null}\n");
}

static int cmd_status(bool json)
{
	struct twitch_stream_info si;
	struct twitch_client *c;
	static struct latest l;
	static char names[MAX_DEVICE_LINES][32];	/* by index, from their lines */
	char reply[512], line[512], epoch[33], *p, *save = NULL;
	int i, n, err, rc;

	rc = connect_or_explain(&c);
	if (rc)
		return rc;
	twitch_client_epoch(c, epoch);
	err = twitch_client_command(c, "status", reply, sizeof(reply));
	if (err != 0) {
		fprintf(stderr, "twitchctl: status: %s\n", err < 0 ? strerror(-err) : reply);
		twitch_client_free(c);
		return err < 0 ? EXIT_FAILURE : EXIT_REFUSED;
	}
	scan_events(c, &l);
	if (json) {
		print_status_json(epoch, reply, c, &l);
		twitch_client_free(c);
		return EXIT_SUCCESS;
	}
	printf("twitchd: running, epoch %s\n", epoch);
	/* the uptime from the summary, then each device's whole line */
	printf("  %s\n", strtok_r(reply, ";", &save));
	for (i = 0; i < MAX_DEVICE_LINES &&
		    (err = device_line(c, i, line, sizeof(line))) == 0; i++) {
		printf("  %s\n", line);
		snprintf(names[i], sizeof(names[i]), "%.*s", (int)strcspn(line, ":"), line);
	}
	if (i == 0 && err != ENODEV)	/* an older twitchd: its summary's lines */
		while ((p = strtok_r(NULL, ";", &save)))
			printf("  %s\n", p + (*p == ' '));
	printf("device scans lost (as far back as the events ring reaches): %llu\n",
	       (unsigned long long)l.losses);
	for (i = 0; i < (int)l.n_rates; i++) {
		const struct twitch_rec_rates *x = &l.rates[i];
		unsigned int dev = x->hdr.device;

		if (i == 0)
			printf("channels (twitches/min over 1, 5, 15 min; noise floor):\n");
		printf("  %s ch%-2u %6.1f %6.1f %6.1f   %.1f uV\n",
		       dev < MAX_DEVICE_LINES && names[dev][0] ? names[dev] : "?", x->channel,
		       x->per_min_1, x->per_min_5, x->per_min_15, x->noise_floor_uv);
	}
	if (l.have_bioz) {
		const struct twitch_rec_bioz *z = &l.bioz;

		printf("last estimate: sweep %llu, phase angle %.2f deg at 50 kHz, R0 %.1f ohm%s",
		       (unsigned long long)z->hdr.sample_index, z->phase_deg_50k, z->r0_ohm,
		       z->flags & TWITCH_BIOZF_TRUSTED ? "" : " (fit not trusted)");
		if ((z->flags & TWITCH_BIOZF_SUBJECT) && isfinite(z->ecw_tbw))
			printf(", ECW/TBW %.3f%s", z->ecw_tbw,
			       z->flags & TWITCH_BIOZF_OUTSIDE_VALIDITY ?
			       " (subject outside the equations' population)" : "");
		printf("\n");
	}
	n = twitch_client_n_streams(c);
	printf("streams:\n");
	for (i = 0; i < n; i++) {
		if (twitch_client_stream_info(c, (unsigned int)i, &si) < 0)
			continue;
		struct fill f = stream_fill(c, si.name);

		printf("  %-12s %7u slots x %5u B", si.name, si.n_slots, si.slot_size);
		if (f.ok) {
			uint64_t held = f.st.published - f.st.oldest;

			/* a ring keeps 7/8 of its slots safe to read */
			printf(": %llu published, %llu held (%.0f%% full)",
			       (unsigned long long)f.st.published, (unsigned long long)held,
			       100.0 * (double)held / (double)(f.st.n_slots - f.st.n_slots / 8));
			if (isfinite(f.span_s))
				printf(", %.1f s back", f.span_s);
		}
		printf("\n");
	}
	twitch_client_free(c);
	return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------- tail */

struct tail_opts {
	uint64_t n;
	bool follow;
	bool json;
	uint32_t types;			/* bit per record type, 0 = all but samples */
	uint64_t channels;		/* bit per channel, 0 = all */
	const char *streams[MAX_STREAMS];
	int n_streams;
};

static int parse_types(const char *s, uint32_t *ret)
{
	char buf[256], *tok, *save = NULL;
	unsigned int t;

	snprintf(buf, sizeof(buf), "%s", s);
	*ret = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (t = 1; t <= TWITCH_REC_TYPE_MAX; t++)
			if (!strcmp(tok, twitch_record_type_name(t)))
				break;
		if (t > TWITCH_REC_TYPE_MAX)
			return -EINVAL;
		*ret |= 1u << t;
	}
	return 0;
}

static int parse_channels(const char *s, uint64_t *ret)
{
	const char *p = s;
	unsigned long v;
	char *end;

	*ret = 0;
	while (*p) {
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || end == p || v > 63 || (*end && *end != ','))
			return -EINVAL;
		*ret |= UINT64_C(1) << v;
		p = *end ? end + 1 : end;
	}
	return *ret ? 0 : -EINVAL;
}

static bool wanted(const struct tail_opts *o, const void *rec)
{
	const struct twitch_record_hdr *h = rec;

	/* by default everything but test records and the periodic rates */
	if (o->types ? !(o->types & (1u << h->type)) :
		       h->type == TWITCH_REC_TEST || h->type == TWITCH_REC_RATES)
		return false;
	if (o->channels && (h->type == TWITCH_REC_TWITCH || h->type == TWITCH_REC_TWITCH_UPDATE))
		return ((const struct twitch_rec_twitch *)rec)->channel_mask & o->channels;
	return true;
}

static void print_human(const char *stream, const void *rec)
{
	const struct twitch_record_hdr *h = rec;
	char when[32];
	struct tm tm;
	time_t secs = (time_t)(h->t_real_ns / 1000000000u);

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("%s.%03u ", when, (unsigned int)(h->t_real_ns / 1000000u % 1000u));
	switch (h->type) {
	case TWITCH_REC_TWITCH:
	case TWITCH_REC_TWITCH_UPDATE: {
		const struct twitch_rec_twitch *e = rec;
		bool update = h->type == TWITCH_REC_TWITCH_UPDATE;

		if (h->flags & TWITCH_EVF_REJECT) {
			printf("retract ch%u: %s\n", e->channel,
			       twitch_class_name(e->twitch_class));
			break;
		}
		if (h->flags & TWITCH_EVF_ONSET) {
			printf("onset  ch%u %.0f uV (classed when it ends)\n", e->channel,
			       e->peak_uv);
			break;
		}
		printf("%s ch%u %s %.1f ms %.0f uV snr %.1f%s%s\n", update ? "ended " : "twitch",
		       e->channel, twitch_class_name(e->twitch_class), e->duration_ms, e->peak_uv,
		       e->snr, e->channel_mask & (e->channel_mask - 1) ? " (several channels)" : "",
		       update ? " (provisional)" : "");
		break;
	}
	case TWITCH_REC_SAMPLES: {
		const struct twitch_rec_samples *s = rec;
		float lo = s->data[0], hi = s->data[0];
		unsigned int i, n = (unsigned int)s->n_channels * s->n_scans;

		for (i = 1; i < n; i++) {
			lo = s->data[i] < lo ? s->data[i] : lo;
			hi = s->data[i] > hi ? s->data[i] : hi;
		}
		printf("samples %s #%" PRIu64 " %u scans x %u ch, %.6g..%.6g %s\n", stream,
		       h->sample_index, s->n_scans, s->n_channels, lo, hi,
		       s->unit == TWITCH_UNIT_UV ? "uV" : s->unit == TWITCH_UNIT_OHM ? "ohm" :
		       "counts");
		break;
	}
	case TWITCH_REC_STATUS: {
		const struct twitch_rec_status *s = rec;

		printf("status %s%s%s: %s\n", twitch_status_name(s->state),
		       s->dev_name[0] ? " " : "", s->dev_name, s->text);
		break;
	}
	case TWITCH_REC_LOSS: {
		const struct twitch_rec_loss *l = rec;

		if (l->reason == TWITCH_LOSS_READER_LAPPED || l->reason == TWITCH_LOSS_RESTART)
			printf("-- %" PRIu64 " records lost (%s) --\n", l->count,
			       twitch_loss_name(l->reason));
		else
			printf("loss device %u: %s%" PRIu64 " scans (%s) at index %" PRIu64 "\n",
			       h->device, l->exact ? "" : "about ", l->count,
			       twitch_loss_name(l->reason), h->sample_index);
		break;
	}
	case TWITCH_REC_RATES: {
		const struct twitch_rec_rates *r = rec;

		printf("rates ch%u: %.1f %.1f %.1f twitches/min (1, 5, 15 min), noise %.1f uV\n",
		       r->channel, r->per_min_1, r->per_min_5, r->per_min_15, r->noise_floor_uv);
		break;
	}
	case TWITCH_REC_EPOCH: {
		const struct twitch_rec_epoch *e = rec;

		printf("epoch ch%u #%" PRIu64 ": %u twitches, FM index %.1f/min, %u/%u phasic "
		       "mini-epochs, %u LM%s%s\n", e->channel, h->sample_index, e->n_twitches,
		       e->fmi_per_min, __builtin_popcount(e->phasic_mini_mask), e->n_mini, e->n_lm,
		       e->flags & TWITCH_EPF_EFM ? ", EFM" : "",
		       e->flags & TWITCH_EPF_PARTIAL ? " (partial)" : "");
		break;
	}
	case TWITCH_REC_MARKER:
		printf("marker: %s\n", ((const struct twitch_rec_marker *)rec)->text);
		break;
	case TWITCH_REC_ALERT: {
		const struct twitch_rec_alert *a = rec;

		printf("ALERT %s %s (sweep %" PRIu64 "): %s", twitch_alert_name(a->alert),
		       a->state == TWITCH_ALERT_RAISED ? "raised" : "cleared", h->sample_index,
		       a->text);
		if (isfinite(a->value))
			printf("; now %.4g, baseline %.4g, limit %.4g", a->value, a->baseline,
			       a->threshold);
		printf("\n");
		break;
	}
	case TWITCH_REC_BIOZ: {
		const struct twitch_rec_bioz *z = rec;

		printf("bioz sweep %" PRIu64 ": phase angle %.2f deg at 50 kHz, R0 %.1f ohm, "
		       "Rinf %.1f ohm", h->sample_index, z->phase_deg_50k, z->r0_ohm, z->rinf_ohm);
		/* whole litres: the equations' individual error is 2-4 L */
		if ((z->flags & TWITCH_BIOZF_SUBJECT) && isfinite(z->ecw_l) && isfinite(z->icw_l))
			printf(", ECW %.0f L, ICW %.0f L (+-2-4 L), ECW/TBW %.3f%s%s", z->ecw_l,
			       z->icw_l, z->ecw_tbw,
			       z->flags & TWITCH_BIOZF_OUTSIDE_VALIDITY ?
			       " (subject outside the equations' population)" : "",
			       z->flags & TWITCH_BIOZF_ICW_EXTRAPOLATED ?
			       " (ICW extrapolated: fc outside the band)" : "");
		if (z->flags & TWITCH_BIOZF_BASELINE)
			printf(", resistance index %+.3f +- %.3f (%s)", z->ri_index, z->ri_uncert,
			       z->model_ri == TWITCH_MODEL_RI_TEMP_COMP ? "temperature-compensated" :
			       "not temperature-compensated");
		printf("%s\n", z->flags & TWITCH_BIOZF_TRUSTED ? "" : " (fit not trusted)");
		break;
	}
	default:
		printf("%s record\n", twitch_record_type_name(h->type));
	}
}

static int cmd_tail(struct tail_opts *o)
{
	static union { struct twitch_record_hdr h; char b[1 << 16]; } u;
	struct twitch_reader *r[MAX_STREAMS] = { NULL };
	struct twitch_client *c;
	char json[4096];
	int i, n, rc, idle;

	rc = connect_or_explain(&c);
	if (rc)
		return rc;
	if (o->n_streams == 0)
		o->streams[o->n_streams++] = "events";
	for (i = 0; i < o->n_streams; i++) {
		n = twitch_reader_new(c, o->streams[i], o->n, &r[i]);
		if (n < 0) {
			fprintf(stderr, "twitchctl: stream '%s': %s\n", o->streams[i],
				n == -ENOENT ? "no such stream (see twitchctl status)" :
				strerror(-n));
			rc = n == -ENOENT ? EXIT_USAGE : EXIT_FAILURE;
			goto out;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (idle = 0;;) {
		for (i = 0; i < o->n_streams; i++) {
			/* one stream: block in libtwitch; several: poll them in turn */
			n = twitch_reader_next(r[i], &u, sizeof(u),
					       o->n_streams == 1 && o->follow ? -1 : 0);
			if (n < 0) {
				fprintf(stderr, "twitchctl: %s: %s\n", o->streams[i],
					strerror(-n));
				if (n != -EPROTO) {
					rc = EXIT_FAILURE;
					goto out;
				}
				continue;
			}
			if (n == 0)
				continue;
			idle = -1;
			if (!wanted(o, &u))
				continue;
			if (o->json) {
				if (twitch_record_json(&u, (size_t)n, 0, json, sizeof(json)) > 0)
					printf("%s\n", json);
			} else {
				print_human(o->streams[i], &u);
			}
		}
		if (idle++ < 0)
			continue;
		if (!o->follow)
			break;
		{
			struct timespec ts = { 0, 2000000 };

			nanosleep(&ts, NULL);
		}
	}
	rc = EXIT_SUCCESS;
out:
	for (i = 0; i < o->n_streams; i++)
		twitch_reader_free(r[i]);
	twitch_client_free(c);
	return rc;
}

static int tail_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lines", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "type", required_argument, NULL, 't' },
		{ "channel", required_argument, NULL, 'C' },
		{ "stream", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct tail_opts o = { .n = 10 };
	unsigned long long v;
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:f", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!strcmp(optarg, "all")) {
				o.n = TWITCH_FROM_OLDEST;
				break;
			}
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || optarg[0] == '-') {
				fprintf(stderr, "twitchctl tail: -n: '%s' is not a count\n",
					optarg);
				return EXIT_USAGE;
			}
			o.n = v;
			break;
		case 'f':
			o.follow = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 't':
			if (parse_types(optarg, &o.types) < 0) {
				fprintf(stderr, "twitchctl tail: --type: '%s': use twitch, samples, "
					"bioz, status, loss, marker, rates, epoch, alert\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'C':
			if (parse_channels(optarg, &o.channels) < 0) {
				fprintf(stderr, "twitchctl tail: --channel: '%s' is not a list of "
					"channel numbers 0..63\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'S':
			if (o.n_streams == MAX_STREAMS) {
				fprintf(stderr, "twitchctl tail: at most %d streams\n", MAX_STREAMS);
				return EXIT_USAGE;
			}
			o.streams[o.n_streams++] = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "twitchctl tail: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	return cmd_tail(&o);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char cmd[512];
	size_t off;
	int c, i;

	while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
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
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	argv += optind;
	argc -= optind;
	if (!strcmp(argv[0], "status") && argc == 1)
		return cmd_status(false);
	if (!strcmp(argv[0], "status") && argc == 2 && !strcmp(argv[1], "--json"))
		return cmd_status(true);
	if (!strcmp(argv[0], "ping") && argc == 1)
		return cmd_simple("ping");
	if (!strcmp(argv[0], "baseline") && argc == 1)
		return cmd_simple("baseline");
	if (!strcmp(argv[0], "calibration") && argc == 1)
		return cmd_simple("calibration");
	if (!strcmp(argv[0], "calibrate") && argc == 5 && !strcmp(argv[1], "rc")) {
		snprintf(cmd, sizeof(cmd), "calibrate rc %s %s %s", argv[2], argv[3], argv[4]);
		return cmd_simple(cmd);
	}
	if ((!strcmp(argv[0], "calibrate") || !strcmp(argv[0], "subject") ||
	     !strcmp(argv[0], "temperature")) && argc == 2) {
		snprintf(cmd, sizeof(cmd), "%s %s", argv[0], argv[1]);
		return cmd_simple(cmd);
	}
	if (!strcmp(argv[0], "tail"))
		return tail_main(argc, argv);
	if (!strcmp(argv[0], "mark") && argc >= 2) {
		off = (size_t)snprintf(cmd, sizeof(cmd), "mark");
		for (i = 1; i < argc && off < sizeof(cmd); i++)
			off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, " %s", argv[i]);
		if (off >= TWITCH_MARKER_MAX + 5) {
			fprintf(stderr, "twitchctl mark: text longer than %d bytes\n",
				TWITCH_MARKER_MAX - 1);
			return EXIT_USAGE;
		}
		return cmd_simple(cmd);
	}
	fprintf(stderr, "twitchctl: unknown command or wrong arguments: '%s' (see --help)\n",
		argv[0]);
	return EXIT_USAGE;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * analyze.c - `twitchd --analyze FILE`: the live pipeline, run on a file.
 *
 * A recording goes through the same per-channel DSP chain and the same
 * detector as live samples, in blocks, with all memory taken before the
 * first block; its final events, per-epoch metrics and a summary are
 * printed as JSON lines. A sweep CSV goes through the bioz estimates, one
 * JSON line per sweep. Bad input gives one message naming file, line and
 * field, and exit code 2; runtime failures give exit code 1.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analyze.h"
#include "bioz.h"
#include "config.h"	/* the leg_channels list */
#include "detect.h"
#include "dsp.h"
#include "pipeline.h"
#include "recording.h"
#include "sweepcsv.h"
#include "twitch.h"
#include "utf8.h"

/* Scans per block. The detector's results do not depend on it; the one
 * thing that does is when a mains decision reaches the other channels of a
 * group (at the end of the block it was made in), so it is fixed. 4096
 * scans keep one channel's input and output in L1/L2. */
#define ANALYZE_BLOCK_SCANS	4096u

/* Below this rate a channel cannot hold twitches (potentials last 2-30 ms
 * and the chain needs 20-90 Hz at least); typically an envelope. */
#define ANALYZE_MIN_RATE_HZ	200.0

#define ANALYZE_SNIFF_BYTES	4096
#define ANALYZE_NOTE_MAX	200
#define ANALYZE_MAX_NOTES	8

/* One detector run: channels of one rate, at most DETECT_MAX_CHANNELS. */
struct analyze_group {
	double rate_hz;
	size_t n_ch;
	size_t ch[DETECT_MAX_CHANNELS];		/* recording channel of each */
	bool has_sat[DETECT_MAX_CHANNELS];	/* reader flags saturated samples */
	uint64_t n_epochs[DETECT_MAX_CHANNELS];	/* epochs published */
	uint64_t n_scans;
	struct pipeline pl;			/* filters, mains decision, detector */
	struct detect_config dcfg;
};

struct analyze_chan {
	int group;				/* -1: not analysed */
	uint32_t index;				/* in its group */
	bool leg;				/* AASM limb-movement rule on */
	uint64_t n_events;			/* as primary channel */
	uint64_t n_artefacts;
	char note[ANALYZE_NOTE_MAX];
};

struct analyze {
	FILE *out, *err;
	const char *path;
	const struct analyze_chain *chain;	/* NULL: the defaults */
	struct recording *rec;
	size_t n_rec_ch;
	struct analyze_chan *chan;
	struct analyze_group *grp;
	size_t n_grp;
	struct analyze_group *cur;		/* group being run, for the sinks */
	float *in;
	uint8_t *rflags;
	double *dbuf;
	uint64_t n_by_class[DETECT_N_CLASSES];
	uint64_t n_events, n_artefacts, n_samples;
	char notes[ANALYZE_MAX_NOTES][ANALYZE_NOTE_MAX];
	size_t n_notes;
};

/* ------------------------------------------------------------ messages */

static void analyze_msg(struct analyze *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void analyze_msg(struct analyze *a, const char *fmt, ...)
{
	va_list ap;

	fputs("twitchd --analyze: ", a->err);
	va_start(ap, fmt);
	vfprintf(a->err, fmt, ap);
	va_end(ap);
	fputc('\n', a->err);
}

static void analyze_note(struct analyze *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void analyze_note(struct analyze *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n_notes >= ANALYZE_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(a->notes[a->n_notes++], ANALYZE_NOTE_MAX, fmt, ap);
	va_end(ap);
}

/* Errors that mean the input or the arguments are bad (exit 2); anything
 * else (out of memory, I/O) is a runtime failure (exit 1). */
static int analyze_exit_code(int err)
{
	switch (-err) {
	case ENOENT: case EACCES: case EISDIR: case ENOTDIR: case ELOOP:
	case ENAMETOOLONG: case EINVAL: case EBADMSG: case EFBIG:
	case ENOTSUP: case EMEDIUMTYPE: case ERANGE: case E2BIG: case EDOM:
		return ANALYZE_EXIT_USAGE;
	default:
		return ANALYZE_EXIT_FAILURE;
	}
}

/* ------------------------------------------------------------ JSON */


/* A JSON string. Labels and paths come from the file and the user: valid
 * UTF-8 passes, any other byte is escaped as the Latin-1 code point. */
static void analyze_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = twitch_utf8_len(p, SIZE_MAX, NULL);

		if (n > 1) {
			fwrite(p, 1, n, f);
			p += n;
			continue;
		}
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
		p++;
	}
	fputc('"', f);
}

/* @key is a literal such as ",\"peak_uv\":"; absent (non-finite) is null. */
static void analyze_num(FILE *f, const char *key, double v)
{
	fputs(key, f);
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void analyze_u64(FILE *f, const char *key, uint64_t v)
{
	fputs(key, f);
	fprintf(f, "%llu", (unsigned long long)v);
}

static void analyze_bool(FILE *f, const char *key, bool v)
{
	fputs(key, f);
	fputs(v ? "true" : "false", f);
}

/* ------------------------------------------------------------ detector sinks */

static const char *const analyze_evf_names[] = {
	"phasic_4x", "merged", "truncated", "invalid", "step", "mains", "lm_track",
};

static void analyze_print_event(struct analyze *a, const struct analyze_group *g,
				const struct detect_event *ev)
{
	FILE *f = a->out;
	uint64_t mask = 0;
	bool mask_ok = true, first = true;
	size_t i;

	for (i = 0; i < g->n_ch; i++) {
		if (!(ev->channel_mask & (UINT64_C(1) << i)))
			continue;
		if (g->ch[i] < 64)
			mask |= UINT64_C(1) << g->ch[i];
		else
			mask_ok = false;
	}
	fprintf(f, "{\"type\":\"twitch\",\"t\":%.6f",
		recording_start_s(a->rec) + (double)ev->onset_index / g->rate_hz);
	/* sample_index is the live records' name (twitch_record_json) */
	analyze_u64(f, ",\"sample_index\":", ev->onset_index);
	analyze_u64(f, ",\"onset_index\":", ev->onset_index);
	analyze_u64(f, ",\"channel\":", g->ch[ev->channel]);
	if (mask_ok)
		analyze_u64(f, ",\"channel_mask\":", mask);
	else
		fputs(",\"channel_mask\":null", f);
	fputs(",\"class\":", f);
	analyze_str(f, twitch_class_name(ev->event_class));
	fputs(",\"onset\":false", f);
	analyze_num(f, ",\"duration_ms\":", ev->duration_ms);
	analyze_num(f, ",\"peak_uv\":", ev->peak_uv);
	analyze_num(f, ",\"energy\":", ev->energy_uv2);
	analyze_num(f, ",\"snr\":", ev->snr);
	analyze_num(f, ",\"noise_floor_uv\":", ev->noise_floor_uv);
	analyze_num(f, ",\"mean_abs_uv\":", ev->mean_abs_uv);
	analyze_u64(f, ",\"n_potentials\":", ev->n_potentials);
	analyze_num(f, ",\"rate_hz\":", g->rate_hz);
	fputs(",\"flags\":[", f);
	for (i = 0; i < sizeof(analyze_evf_names) / sizeof(analyze_evf_names[0]); i++) {
		if (!(ev->flags & (1u << i)))
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ",", analyze_evf_names[i]);
		first = false;
	}
	fputs("]}\n", f);
}

static void analyze_event_sink(const struct detect_event *ev, void *userdata)
{
	struct analyze *a = userdata;
	const struct analyze_group *g = a->cur;
	struct analyze_chan *ch;

	if ((ev->type != DETECT_EVENT_FINAL && ev->type != DETECT_EVENT_REJECT) ||
	    ev->channel >= g->n_ch)
		return;
	ch = &a->chan[g->ch[ev->channel]];
	if (ev->event_class < DETECT_N_CLASSES)
		a->n_by_class[ev->event_class]++;
	if (ev->type == DETECT_EVENT_REJECT) {
		a->n_artefacts++;
		ch->n_artefacts++;
		return;
	}
	a->n_events++;
	ch->n_events++;
	analyze_print_event(a, g, ev);
}

static void analyze_epoch_sink(const struct detect_epoch *ep, void *userdata)
{
	struct analyze *a = userdata;
	struct analyze_group *g = a->cur;
	FILE *f = a->out;
	double efm_epochs;
	bool window_full, partial;

	if (ep->channel >= g->n_ch)
		return;
	g->n_epochs[ep->channel]++;
	/* the rolling FM index needs efm_window_min of epochs behind it */
	efm_epochs = ceil(g->dcfg.efm_window_min * 60.0 / g->dcfg.epoch_s - 1e-9);
	window_full = (double)g->n_epochs[ep->channel] >= efm_epochs;
	partial = (ep->flags & DETECT_EPF_PARTIAL) ||
		  ep->start_index + ep->epoch_samples > g->n_scans;
	fprintf(f, "{\"type\":\"epoch\",\"t\":%.6f",
		recording_start_s(a->rec) + (double)ep->start_index / g->rate_hz);
	analyze_u64(f, ",\"start_index\":", ep->start_index);
	analyze_u64(f, ",\"channel\":", g->ch[ep->channel]);
	analyze_num(f, ",\"epoch_s\":", ep->epoch_samples / g->rate_hz);
	analyze_bool(f, ",\"partial\":", partial);
	analyze_u64(f, ",\"n_mini\":", ep->n_mini);
	analyze_u64(f, ",\"phasic_mini_mask\":", ep->phasic_mini_mask);
	analyze_u64(f, ",\"n_phasic_mini\":", ep->n_phasic_mini);
	analyze_bool(f, ",\"rswa_phasic\":", ep->flags & DETECT_EPF_RSWA_PHASIC);
	analyze_u64(f, ",\"n_twitches\":", ep->n_twitches);
	analyze_u64(f, ",\"n_fm_potentials\":", ep->n_fm_potentials);
	analyze_u64(f, ",\"n_lm\":", ep->n_lm);
	analyze_u64(f, ",\"n_artefacts\":", ep->n_artefacts);
	analyze_num(f, ",\"fmi_per_min\":", ep->fmi_per_min);
	analyze_num(f, ",\"fmi_window_per_min\":",
		    window_full ? (double)ep->fmi_window_per_min : NAN);
	analyze_bool(f, ",\"efm\":", ep->flags & DETECT_EPF_EFM);
	analyze_num(f, ",\"background_uv\":", ep->background_uv);
	fputs("}\n", f);
}

/* ------------------------------------------------------------ recordings */

static bool analyze_label_has(const char *label, const char *word)
{
	size_t n = strlen(word);

	for (; *label; label++)
		if (strncasecmp(label, word, n) == 0)
			return true;
	return false;
}

/*
 * Is @label an EMG channel's, as polysomnography names them ("EMG Chin",
 * "Chin1-Chin2", "LAT", "Tib L", "Leg/L", "Submental")?
 */
static bool analyze_label_is_emg(const char *label)
{
	static const char *const words[] = { "emg", "chin", "mental", "tib", "leg", "masset",
					     "musc" };
	static const char *const tokens[] = { "lat", "rat" };	/* AASM leg names */
	const char *p;
	size_t k, n;

	for (k = 0; k < sizeof(words) / sizeof(words[0]); k++)
		if (analyze_label_has(label, words[k]))
			return true;
	/* as words only: "Respiration" is no right anterior tibialis */
	for (k = 0; k < sizeof(tokens) / sizeof(tokens[0]); k++) {
		n = strlen(tokens[k]);
		for (p = label; *p; p++)
			if ((p == label || !isalnum((unsigned char)p[-1])) &&
			    strncasecmp(p, tokens[k], n) == 0 && !isalpha((unsigned char)p[n]))
				return true;
	}
	return false;
}

/* The filter and detector settings: the configuration's, or the defaults. */
static void analyze_chain_configs(const struct analyze *a, struct dsp_config *dsp,
				  struct detect_config *det)
{
	if (a->chain) {
		*dsp = *a->chain->filt;
		*det = *a->chain->det;
		det->lm_channel_mask = 0;
	} else {
		dsp_config_default(dsp);
		detect_config_default(det);
	}
}

/* Is @label one of the names of @list (the config's leg_channels)? */
static bool analyze_in_list(const char *list, const char *label)
{
	const char *p;
	size_t n;

	while ((p = config_list_next(&list, &n)))
		if (config_name_is(p, n, label))
			return true;
	return false;
}

/* Every leg channel the configuration names must be in the recording. */
static int analyze_check_legs(struct analyze *a)
{
	const char *list, *p;
	size_t i, n;

	if (a->chain == NULL || a->chain->legs[0] == '\0')
		return 0;
	for (list = a->chain->legs; (p = config_list_next(&list, &n));) {
		for (i = 0; i < a->n_rec_ch; i++)
			if (config_name_is(p, n, recording_label(a->rec, i)))
				break;
		if (i == a->n_rec_ch) {
			analyze_msg(a, "%s: leg_channels: '%.*s' is not a channel label of the "
				    "recording", a->path, (int)n, p);
			return -EINVAL;
		}
	}
	return 0;
}

/* Decide which channels are analysed and group them by rate. */
static int analyze_plan(struct analyze *a)
{
	struct dsp_config dsp;
	struct detect_config det;
	size_t i, k, n_ok = 0, n_rates = 0;
	bool split = false, named_emg = false;

	analyze_chain_configs(a, &dsp, &det);
	/*
	 * A polysomnogram holds EEG, EOG and ECG in uV beside the EMG: where
	 * some voltage channels are named as EMG, only those are analysed. The
	 * others bring their own potentials (ECG's QRS, eye movements, EEG's
	 * arousals) as twitches or artefacts, and share the EMG's detector (its
	 * cross-channel merge and common-mode test). Unnamed files (emgdb,
	 * BioSPPy's "column N") are analysed whole, as before.
	 */
	for (i = 0; i < a->n_rec_ch; i++)
		if (recording_is_voltage(a->rec, i) &&
		    (analyze_label_is_emg(recording_label(a->rec, i)) ||
		     (a->chain && a->chain->legs[0] &&
		      analyze_in_list(a->chain->legs, recording_label(a->rec, i)))))
			named_emg = true;
	a->chan = calloc(a->n_rec_ch ? a->n_rec_ch : 1, sizeof(*a->chan));
	a->grp = calloc(a->n_rec_ch ? a->n_rec_ch : 1, sizeof(*a->grp));
	if (a->chan == NULL || a->grp == NULL)
		return -ENOMEM;
	for (i = 0; i < a->n_rec_ch; i++) {
		struct analyze_chan *c = &a->chan[i];
		double rate = recording_rate_hz(a->rec, i);
		const char *label = recording_label(a->rec, i);
		const char *bad = NULL;
		struct analyze_group *g = NULL;
		bool full = false;

		c->group = -1;
		if (!recording_is_voltage(a->rec, i)) {
			if (recording_unit(a->rec, i)[0] == '\0')
				snprintf(c->note, sizeof(c->note), "no unit, so not a voltage: "
					 "not analysed");
			else
				snprintf(c->note, sizeof(c->note), "unit '%s' is not a voltage: "
					 "not analysed", recording_unit(a->rec, i));
			continue;
		}
		if (recording_n_samples(a->rec, i) == 0) {
			snprintf(c->note, sizeof(c->note), "no samples");
			continue;
		}
		if (!(rate >= ANALYZE_MIN_RATE_HZ)) {
			if (analyze_label_has(label, "emg"))
				snprintf(c->note, sizeof(c->note), "EMG sampled at %g Hz is an "
					 "envelope, not raw EMG: it cannot be analysed for "
					 "twitches (needs >= %g Hz)", rate, ANALYZE_MIN_RATE_HZ);
			else
				snprintf(c->note, sizeof(c->note), "sampled at %g Hz: too slow "
					 "for twitch detection (needs >= %g Hz)", rate,
					 ANALYZE_MIN_RATE_HZ);
			continue;
		}
		if (dsp_config_check(&dsp, rate, &bad) < 0 ||
		    detect_config_check(&det, 1, rate, &bad) < 0) {
			snprintf(c->note, sizeof(c->note), "the filter chain or the detector "
				 "cannot run at %g Hz (%s): not analysed", rate, bad ? bad : "?");
			continue;
		}
		if (named_emg && !analyze_label_is_emg(label) &&
		    !(a->chain && a->chain->legs[0] && analyze_in_list(a->chain->legs, label))) {
			snprintf(c->note, sizeof(c->note), "not named as EMG, while others are "
				 "(EEG, EOG or ECG): not analysed");
			continue;
		}
		for (k = 0; k < a->n_grp; k++) {
			if (a->grp[k].rate_hz != rate)
				continue;
			if (a->grp[k].n_ch < DETECT_MAX_CHANNELS) {
				g = &a->grp[k];
				break;
			}
			full = true;	/* a group of this rate is full */
		}
		if (g == NULL) {
			n_rates += !full;
			split |= full;
			g = &a->grp[a->n_grp++];
			g->rate_hz = rate;
			g->n_scans = UINT64_MAX;
		}
		c->group = (int)(g - a->grp);
		c->index = (uint32_t)g->n_ch;
		/* leg channels (AASM LM rule): as configured, else by label */
		if (a->chain && a->chain->legs[0])
			c->leg = analyze_in_list(a->chain->legs, label);
		else
			c->leg = analyze_label_has(label, "tib") ||
				 analyze_label_has(label, "leg");
		g->ch[g->n_ch] = i;
		g->has_sat[g->n_ch] = recording_n_saturated(a->rec, i) > 0;
		g->n_ch++;
		if (recording_n_samples(a->rec, i) < g->n_scans)
			g->n_scans = recording_n_samples(a->rec, i);
		n_ok++;
	}
	for (i = 0; i < a->n_rec_ch; i++) {
		struct analyze_chan *c = &a->chan[i];
		uint64_t n = recording_n_samples(a->rec, i);

		if (c->group >= 0 && n > a->grp[c->group].n_scans)
			snprintf(c->note, sizeof(c->note), "the last %llu samples are not "
				 "analysed (longer than the other channels of its rate)",
				 (unsigned long long)(n - a->grp[c->group].n_scans));
	}
	if (split)
		analyze_note(a, "channels of one rate are analysed in groups of %d: events "
			     "are not merged across groups", DETECT_MAX_CHANNELS);
	if (n_rates > 1)
		analyze_note(a, "channels of different rates are analysed one rate after "
			     "the other: events are in that order");
	if (n_ok == 0)
		analyze_note(a, "no channel can be analysed for twitches: no event is reported");
	return 0;
}

/* Every allocation of the run happens here, before the first block. */
static int analyze_setup(struct analyze *a)
{
	struct detect_config det;
	struct dsp_config dsp;
	size_t k, c, max_ch = 1;
	int err;

	analyze_chain_configs(a, &dsp, &det);
	/* The reader knows which samples sit at the ADC's full scale; they are
	 * handed to the chain at the float full scale, and the chain's
	 * threshold there flags exactly those as saturated. */
	dsp.saturation_uv = FLT_MAX;
	for (k = 0; k < a->n_grp; k++) {
		struct analyze_group *g = &a->grp[k];

		if (g->n_ch > max_ch)
			max_ch = g->n_ch;
		g->dcfg = det;
		for (c = 0; c < g->n_ch; c++)
			if (a->chan[g->ch[c]].leg)
				g->dcfg.lm_channel_mask |= UINT64_C(1) << c;
		err = pipeline_init(&g->pl, &dsp, &g->dcfg, g->n_ch, g->rate_hz,
				    ANALYZE_BLOCK_SCANS);
		if (err < 0)
			return err;
		detect_set_epoch_sink(g->pl.det, analyze_epoch_sink, a);
	}
	a->in = malloc(max_ch * ANALYZE_BLOCK_SCANS * sizeof(*a->in));
	a->rflags = malloc(ANALYZE_BLOCK_SCANS + 2);	/* and a neighbour each side */
	a->dbuf = malloc(ANALYZE_BLOCK_SCANS * sizeof(*a->dbuf));
	if (!a->in || !a->rflags || !a->dbuf)
		return -ENOMEM;
	return 0;
}

/*
 * Is sample @i clipped? Flagged at the file's full scale, and so is a
 * neighbour (@f[-1] and @f[m] exist). A lone sample at a digital limit is
 * the file's own extreme: exporters that scale to the data (wfdb-python's
 * adc gain, an "auto" physical range) put the largest peak there, and
 * taking it for clipping threw the largest twitches away as artefacts.
 */
static bool clipped(const uint8_t *f, size_t i)
{
	const uint8_t s = RECORDING_SAMPLE_SATURATED;

	return (f[i] & s) && ((f[(ptrdiff_t)i - 1] & s) || (f[i + 1] & s));
}

/* One block of @m scans from @start: read, filter, detect. */
static int analyze_block(struct analyze *a, struct analyze_group *g, uint64_t start,
			 size_t m)
{
	const size_t n = g->n_ch;
	size_t c, i;
	int r;

	for (c = 0; c < n; c++) {
		float *in = a->in + c;

		r = recording_read(a->rec, g->ch[c], start, m, a->dbuf);
		if (r < 0 || (size_t)r != m)
			return r < 0 ? r : -EIO;
		if (g->has_sat[c]) {
			/* one sample before and after, where there are */
			r = recording_read_flags(a->rec, g->ch[c], start > 0 ? start - 1 : 0,
						 m + 1 + (start > 0), a->rflags);
			if (r < 0 || (size_t)r < m + (start > 0))
				return r < 0 ? r : -EIO;
			if (start == 0) {	/* no sample before the first */
				memmove(a->rflags + 1, a->rflags, (size_t)r);
				a->rflags[0] = 0;
				r++;
			}
			if ((size_t)r < m + 2)
				a->rflags[m + 1] = 0;	/* none after the last */
		}
		for (i = 0; i < m; i++) {
			double v = a->dbuf[i];

			if (g->has_sat[c] && clipped(a->rflags + 1, i))
				v = copysign(FLT_MAX, v);
			else if (fabs(v) > FLT_MAX)	/* beyond float: full scale */
				v = copysign(FLT_MAX, v);
			in[i * n] = (float)v;
		}
	}
	r = pipeline_run(&g->pl, a->in, m, start, analyze_event_sink, a);
	return r < 0 ? r : 0;
}

static int analyze_group_run(struct analyze *a, struct analyze_group *g)
{
	uint64_t start;
	int r;

	a->cur = g;
	for (start = 0; start < g->n_scans; start += ANALYZE_BLOCK_SCANS) {
		uint64_t left = g->n_scans - start;
		size_t m = left < ANALYZE_BLOCK_SCANS ? (size_t)left : ANALYZE_BLOCK_SCANS;

		r = analyze_block(a, g, start, m);
		if (r < 0)
			return r;
		if (ferror(a->out))
			return -EIO;
	}
	r = detect_finish(g->pl.det, analyze_event_sink, a);
	if (r < 0)
		return r;
	a->n_samples += g->n_scans * g->n_ch;
	return 0;
}

static void analyze_print_channel(struct analyze *a, size_t i)
{
	const struct analyze_chan *c = &a->chan[i];
	FILE *f = a->out;

	analyze_u64(f, "{\"channel\":", i);
	fputs(",\"label\":", f);
	analyze_str(f, recording_label(a->rec, i));
	fputs(",\"unit\":", f);
	analyze_str(f, recording_unit(a->rec, i));
	analyze_num(f, ",\"rate_hz\":", recording_rate_hz(a->rec, i));
	analyze_u64(f, ",\"n_samples\":", recording_n_samples(a->rec, i));
	analyze_bool(f, ",\"analysed\":", c->group >= 0);
	if (c->group >= 0) {
		const struct analyze_group *g = &a->grp[c->group];
		struct detect_rates rates;
		unsigned int hz = g->pl.chain[c->index].mains_hz;

		if (detect_get_rates(g->pl.det, c->index, &rates) < 0)
			memset(&rates, 0, sizeof(rates));
		analyze_u64(f, ",\"n_events\":", c->n_events);
		analyze_u64(f, ",\"n_artefacts\":", c->n_artefacts);
		analyze_u64(f, ",\"n_saturated\":", recording_n_saturated(a->rec, i));
		analyze_num(f, ",\"noise_floor_uv\":", detect_noise_floor_uv(g->pl.det, c->index));
		analyze_num(f, ",\"per_min_1\":", rates.per_min_1);
		analyze_num(f, ",\"per_min_5\":", rates.per_min_5);
		analyze_num(f, ",\"per_min_15\":", rates.per_min_15);
		analyze_num(f, ",\"mains_hz\":", hz == 50 || hz == 60 ? (double)hz : NAN);
		analyze_bool(f, ",\"leg\":", c->leg);
	}
	fputs(",\"note\":", f);
	if (c->note[0])
		analyze_str(f, c->note);
	else
		fputs("null", f);
	fputc('}', f);
}

static void analyze_print_summary(struct analyze *a, double elapsed_s)
{
	static const uint32_t art[] = {
		DETECT_CLASS_ART_MAINS, DETECT_CLASS_ART_POP, DETECT_CLASS_ART_CLIPPING,
		DETECT_CLASS_ART_COMMON_MODE,
	};
	struct detect_sleep_stats sleep = { 0 };
	uint64_t n_invalid = 0;
	double duration_s = 0.0, rate = NAN;
	FILE *f = a->out;
	size_t i, n_analysed = 0;
	uint32_t k;

	for (i = 0; i < a->n_rec_ch; i++) {
		double r = recording_rate_hz(a->rec, i);

		if (r > 0.0 && recording_n_samples(a->rec, i) / r > duration_s)
			duration_s = recording_n_samples(a->rec, i) / r;
		n_analysed += a->chan[i].group >= 0;
	}
	for (i = 0; i < a->n_grp; i++) {
		struct detect_counters cnt;
		struct detect_sleep_stats s;

		detect_get_counters(a->grp[i].pl.det, &cnt);
		detect_get_sleep_stats(a->grp[i].pl.det, &s);
		n_invalid += cnt.n_invalid_samples;
		sleep.n_lm += s.n_lm;
		sleep.n_plm += s.n_plm;
		sleep.n_plm_series += s.n_plm_series;
		if (i == 0)
			rate = a->grp[i].rate_hz;
		else if (a->grp[i].rate_hz != rate)
			rate = NAN;	/* several rates: see the channels */
	}
	fputs("{\"type\":\"summary\",\"file\":", f);
	analyze_str(f, a->path);
	fputs(",\"format\":", f);
	analyze_str(f, recording_format_name(a->rec));
	analyze_u64(f, ",\"n_channels\":", a->n_rec_ch);
	analyze_u64(f, ",\"n_analysed\":", n_analysed);
	analyze_num(f, ",\"rate_hz\":", rate);
	analyze_num(f, ",\"duration_s\":", duration_s);
	analyze_u64(f, ",\"samples\":", a->n_samples);
	analyze_u64(f, ",\"n_events\":", a->n_events);
	fputs(",\"events\":{", f);
	for (k = 1; k <= TWITCH_CLASS_MAX; k++) {
		fputs(k > 1 ? "," : "", f);
		analyze_str(f, twitch_class_name(k));
		fprintf(f, ":%llu", (unsigned long long)a->n_by_class[k]);
	}
	fputc('}', f);
	analyze_u64(f, ",\"n_artefacts\":", a->n_artefacts);
	fputs(",\"artefacts\":{", f);
	for (k = 0; k < sizeof(art) / sizeof(art[0]); k++) {
		/* "artefact_mains" -> "mains" */
		const char *name = detect_class_name(art[k]);
		const char *us = strchr(name, '_');

		fputs(k ? "," : "", f);
		analyze_str(f, us ? us + 1 : name);
		fprintf(f, ":%llu", (unsigned long long)a->n_by_class[art[k]]);
	}
	fputc('}', f);
	analyze_u64(f, ",\"n_invalid_samples\":", n_invalid);
	analyze_u64(f, ",\"n_annotations\":", recording_n_annotations(a->rec));
	analyze_u64(f, ",\"sleep\":{\"n_lm\":", sleep.n_lm);
	analyze_u64(f, ",\"n_plm\":", sleep.n_plm);
	analyze_u64(f, ",\"n_plm_series\":", sleep.n_plm_series);
	fputs("},\"channels\":[", f);
	for (i = 0; i < a->n_rec_ch; i++) {
		fputs(i ? "," : "", f);
		analyze_print_channel(a, i);
	}
	fputs("],\"notes\":[", f);
	for (i = 0; i < a->n_notes; i++) {
		fputs(i ? "," : "", f);
		analyze_str(f, a->notes[i]);
	}
	/* last on purpose: the only field that changes between runs */
	analyze_num(f, "],\"samples_per_s\":",
		    elapsed_s > 0.0 && a->n_samples > 0 ?
		    (double)a->n_samples / elapsed_s : NAN);
	fputs("}\n", f);
}

static double analyze_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int analyze_recording(struct analyze *a)
{
	struct recording_error rerr;
	char msg[1024];
	double t0;
	size_t k;
	int err;

	memset(&rerr, 0, sizeof(rerr));
	err = recording_open(a->path, NULL, &a->rec, &rerr);
	if (err < 0) {
		if (rerr.msg[0]) {
			recording_strerror(&rerr, msg, sizeof(msg));
			analyze_msg(a, "%s", msg);
		} else {
			analyze_msg(a, "%s: %s", a->path, strerror(-err));
		}
		return analyze_exit_code(err);
	}
	a->n_rec_ch = recording_n_channels(a->rec);
	if (analyze_check_legs(a) < 0)
		return ANALYZE_EXIT_USAGE;
	err = analyze_plan(a);
	if (err == 0)
		err = analyze_setup(a);
	if (err < 0) {
		analyze_msg(a, "%s: setting up the analysis: %s", a->path, strerror(-err));
		return ANALYZE_EXIT_FAILURE;
	}
	t0 = analyze_now_s();
	for (k = 0; k < a->n_grp; k++) {
		err = analyze_group_run(a, &a->grp[k]);
		if (err < 0)
			break;
	}
	if (err == -EIO && ferror(a->out)) {
		analyze_msg(a, "writing the results: %s", strerror(errno ? errno : EIO));
		return ANALYZE_EXIT_FAILURE;
	}
	if (err < 0) {
		analyze_msg(a, "%s: analysis failed: %s", a->path, strerror(-err));
		return ANALYZE_EXIT_FAILURE;
	}
	analyze_print_summary(a, analyze_now_s() - t0);
	return ANALYZE_EXIT_OK;
}

static void analyze_free(struct analyze *a)
{
	size_t k;

	for (k = 0; a->grp && k < a->n_grp; k++)
		pipeline_deinit(&a->grp[k].pl);
	free(a->grp);
	free(a->chan);
	free(a->in);
	free(a->rflags);
	free(a->dbuf);
	recording_free(a->rec);
}

/* ------------------------------------------------------------ sweep CSV */

static int analyze_sweep_error(struct analyze *a, int err, const struct sweepcsv_err *e)
{
	char msg[512];

	if (e->kind != SWEEPCSV_E_NONE) {
		sweepcsv_strerror(e, msg, sizeof(msg));	/* E_IO: with strerror */
		analyze_msg(a, "%s", msg);
	} else {
		analyze_msg(a, "%s: %s", a->path, strerror(-err));
	}
	return analyze_exit_code(err);
}

static int analyze_sweeps(struct analyze *a, const struct bioz_subject *subject)
{
	struct bioz_alert_config acfg;
	struct bioz_alert_state astate = { 0 };
	struct bioz_ri_config rcfg;
	struct bioz_config cfg;
	struct sweepcsv_err e;
	struct sweepcsv_sweep sw;
	struct bioz_fit_ws *ws = NULL;
	struct sweepcsv *csv = NULL;
	struct bioz_ri ri;
	struct stat st;
	uint64_t n_sweeps = 0, n_trusted = 0, n_ri = 0;
	int r, rc = ANALYZE_EXIT_OK;
	size_t i;

	/* a directory would open and then fail to read: say what it is */
	if (stat(a->path, &st) == 0 && !S_ISREG(st.st_mode)) {
		analyze_msg(a, "%s: not a regular file", a->path);
		return ANALYZE_EXIT_USAGE;
	}
	memset(&e, 0, sizeof(e));
	r = sweepcsv_open(a->path, BIOZ_MAX_POINTS_LIMIT, &csv, &e);
	if (r < 0)
		return analyze_sweep_error(a, r, &e);
	r = bioz_fit_ws_new(BIOZ_MAX_POINTS_LIMIT, &ws);
	if (r < 0) {
		analyze_msg(a, "%s: fit workspace: %s", a->path, strerror(-r));
		rc = ANALYZE_EXIT_FAILURE;
		goto out;
	}
	bioz_config_default(&cfg);
	bioz_ri_config_default(&rcfg);
	bioz_ri_init(&ri, &rcfg);
	bioz_alert_config_default(&acfg);
	while ((r = sweepcsv_next(csv, &sw, &e)) == 1) {
		struct bioz_estimate est;

		r = bioz_estimate_sweep(ws, &cfg, subject, sw.sweep, sw.freq_hz, sw.r_ohm,
					sw.x_ohm, sw.n, &est);
		if (r < 0) {
			analyze_msg(a, "%s:%llu: sweep %u: cannot be fitted: %s", a->path,
				    (unsigned long long)sw.first_line, sw.sweep, strerror(-r));
			rc = analyze_exit_code(r);
			goto out;
		}
		/* The resistance index needs times (t_s); without them it stays
		 * absent, and so do the alerts that need its baseline. */
		if (isfinite(sw.t_s)) {
			if (bioz_ri_update(&ri, sw.t_s, sw.temp_c, &est) < 0) {
				analyze_msg(a, "%s:%llu: field 't_s': sweep %u goes back in time "
					    "(%g s)", a->path, (unsigned long long)sw.first_line,
					    sw.sweep, sw.t_s);
				rc = ANALYZE_EXIT_USAGE;
				goto out;
			}
			if (ri.n_base > 0)
				est.alerts = bioz_alerts_step(&acfg, &astate, &est,
							      ri.base_pha_deg,
							      ri.base_ecw_tbw, 0);
			n_ri++;
		} else {
			est.temp_c = sw.temp_c;
		}
		n_sweeps++;
		n_trusted += !(est.fit_flags & BIOZ_FIT_UNTRUSTED_MASK);
		r = bioz_json_write(a->out, &est);
		if (r < 0 && r != -EIO) {
			analyze_msg(a, "%s: sweep %u: formatting: %s", a->path, sw.sweep,
				    strerror(-r));
			rc = ANALYZE_EXIT_FAILURE;
			goto out;
		}
		if (ferror(a->out)) {
			r = 0;
			break;	/* analyze_run() reports it */
		}
	}
	if (r < 0) {
		rc = analyze_sweep_error(a, r, &e);
		goto out;
	}
	if (subject == NULL)
		analyze_note(a, "no --subject: body water, BIVA and single-frequency TBW "
			     "are null");
	if (n_sweeps > 0 && n_ri == 0)
		analyze_note(a, "no t_s column: no resistance index or alerts");
	fputs("{\"type\":\"summary\",\"file\":", a->out);
	analyze_str(a->out, a->path);
	fputs(",\"format\":\"sweep CSV\"", a->out);
	analyze_u64(a->out, ",\"n_sweeps\":", n_sweeps);
	analyze_u64(a->out, ",\"n_trusted\":", n_trusted);
	analyze_bool(a->out, ",\"subject\":", subject != NULL);
	fputs(",\"notes\":[", a->out);
	for (i = 0; i < a->n_notes; i++) {
		fputs(i ? "," : "", a->out);
		analyze_str(a->out, a->notes[i]);
	}
	fputs("]}\n", a->out);
out:
	bioz_fit_ws_free(ws);
	sweepcsv_free(csv);
	return rc;
}

/* A sweep CSV: by extension, else a header line naming the columns. */
static bool analyze_is_sweep_csv(const char *path)
{
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
	char buf[ANALYZE_SNIFF_BYTES + 1], *line, *save = NULL, *tok;
	bool freq = false, r = false, x = false;
	ssize_t n;
	int fd;

	if (dot && (!slash || dot > slash) && strcasecmp(dot, ".csv") == 0)
		return true;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;	/* the recording reader says why */
	n = read(fd, buf, ANALYZE_SNIFF_BYTES);
	close(fd);
	if (n <= 0 || memchr(buf, '\0', (size_t)n))
		return false;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t\r");
		if (*line != '\0' && *line != '#')
			break;
	}
	if (line == NULL)
		return false;
	for (tok = strtok_r(line, ",\r", &save); tok; tok = strtok_r(NULL, ",\r", &save)) {
		size_t len;

		tok += strspn(tok, " \t");
		len = strcspn(tok, " \t");
		freq |= len == 7 && strncmp(tok, "freq_hz", len) == 0;
		r |= len == 5 && strncmp(tok, "r_ohm", len) == 0;
		x |= len == 5 && strncmp(tok, "x_ohm", len) == 0;
	}
	return freq && r && x;
}

/* ------------------------------------------------------------ entry */

int analyze_run(const char *path, const char *subject, const struct analyze_chain *chain,
		FILE *out, FILE *err)
{
	struct analyze a = { .out = out, .err = err, .path = path, .chain = chain };
	struct bioz_subject subj;
	struct sweepcsv_err e;
	locale_t c_loc, old;
	int rc;

	if (err == NULL)
		return ANALYZE_EXIT_USAGE;
	if (path == NULL || path[0] == '\0' || out == NULL) {
		analyze_msg(&a, "no file to analyse");
		return ANALYZE_EXIT_USAGE;
	}
	/* numbers in and out in the C locale, whatever the caller set */
	c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (c_loc == (locale_t)0) {
		analyze_msg(&a, "cannot make the C locale: %s", strerror(errno));
		return ANALYZE_EXIT_FAILURE;
	}
	old = uselocale(c_loc);
	if (subject != NULL) {
		memset(&e, 0, sizeof(e));
		if (sweepcsv_subject_parse("--subject", subject, &subj, &e) < 0) {
			rc = analyze_sweep_error(&a, -EINVAL, &e);
			goto out;
		}
	}
	if (analyze_is_sweep_csv(path)) {
		rc = analyze_sweeps(&a, subject ? &subj : NULL);
	} else {
		if (subject != NULL)
			analyze_note(&a, "--subject is not used for EMG recordings");
		rc = analyze_recording(&a);
	}
	if (fflush(out) != 0 || ferror(out)) {
		if (rc == ANALYZE_EXIT_OK) {
			analyze_msg(&a, "writing the results: %s", strerror(errno ? errno : EIO));
			rc = ANALYZE_EXIT_FAILURE;
		}
	}
out:
	analyze_free(&a);
	uselocale(old);
	freelocale(c_loc);
	return rc;
}

#ifdef ANALYZE_STANDALONE
/* A driver for tests and for tests/replay/update.sh before twitchd has
 * --analyze: `analyze FILE [--subject S]`. */
int main(int argc, char **argv)
{
	const char *subject = NULL;

	if (argc == 4 && strcmp(argv[2], "--subject") == 0) {
		subject = argv[3];
	} else if (argc != 2) {
		fprintf(stderr, "usage: %s FILE [--subject height_cm=..,weight_kg=..,"
			"sex=m|f,age=..]\n", argv[0]);
		return ANALYZE_EXIT_USAGE;
	}
	return analyze_run(argv[1], subject, NULL, stdout, stderr);
}
#endif

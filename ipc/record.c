// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * record.c - record validation, names and the JSON form of every record.
 *
 * The JSON form is shared by `twitchctl tail --json`, twitch-mqtt and
 * `twitchd --analyze`, so one function writes it. Numbers are formatted in
 * the C locale whatever the caller's locale is (a client may have called
 * setlocale for ncurses), and absent values are null, never NaN.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "records.h"
#include "twitch.h"

/* Exact sizes of the fixed-size records, indexed by type. */
static const uint16_t record_size[TWITCH_REC_TYPE_MAX + 1] = {
	[TWITCH_REC_TWITCH] = sizeof(struct twitch_rec_twitch),
	[TWITCH_REC_TWITCH_UPDATE] = sizeof(struct twitch_rec_twitch),
	[TWITCH_REC_SAMPLES] = 0,	/* variable, checked below */
	[TWITCH_REC_BIOZ] = sizeof(struct twitch_rec_bioz),
	[TWITCH_REC_STATUS] = sizeof(struct twitch_rec_status),
	[TWITCH_REC_LOSS] = sizeof(struct twitch_rec_loss),
	[TWITCH_REC_MARKER] = sizeof(struct twitch_rec_marker),
	[TWITCH_REC_TEST] = sizeof(struct twitch_rec_test),
	[TWITCH_REC_RATES] = sizeof(struct twitch_rec_rates),
	[TWITCH_REC_EPOCH] = sizeof(struct twitch_rec_epoch),
	[TWITCH_REC_ALERT] = sizeof(struct twitch_rec_alert),
};

static bool has_nul(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

TWITCH_API int twitch_record_check(const void *rec, size_t size)
{
	const struct twitch_record_hdr *h = rec;
	const struct twitch_rec_samples *sb = rec;
	uint64_t need;

	if (rec == NULL || size < sizeof(*h) || h->size != size || size % 8)
		return -EPROTO;
	if (h->type == 0 || h->type > TWITCH_REC_TYPE_MAX)
		return -EPROTO;
	if (h->type != TWITCH_REC_SAMPLES)
		return size == record_size[h->type] ? record_check_strings(rec) : -EPROTO;
	if (size < sizeof(*sb))
		return -EPROTO;
	need = sizeof(*sb) + (uint64_t)sb->n_channels * sb->n_scans * sizeof(float);
	if ((need + 7) / 8 * 8 != size || sb->n_channels == 0)
		return -EPROTO;
	return 0;
}

int record_check_strings(const void *rec)
{
	const struct twitch_record_hdr *h = rec;
	const struct twitch_rec_marker *m = rec;
	const struct twitch_rec_status *st = rec;
	const struct twitch_rec_alert *al = rec;

	switch (h->type) {
	case TWITCH_REC_ALERT:
		if (!has_nul(al->text, sizeof(al->text)) ||
		    (al->state != TWITCH_ALERT_RAISED && al->state != TWITCH_ALERT_CLEARED))
			return -EPROTO;
		return 0;
	case TWITCH_REC_MARKER:
		if (m->len >= sizeof(m->text) || !has_nul(m->text, sizeof(m->text)) ||
		    strlen(m->text) != m->len)
			return -EPROTO;
		return 0;
	case TWITCH_REC_STATUS:
		if (!has_nul(st->profile, sizeof(st->profile)) ||
		    !has_nul(st->dev_name, sizeof(st->dev_name)) ||
		    !has_nul(st->text, sizeof(st->text)))
			return -EPROTO;
		return 0;
	default:
		return 0;
	}
}

TWITCH_API const char *twitch_record_type_name(unsigned int type)
{
	static const char *const names[] = {
		[TWITCH_REC_TWITCH] = "twitch",	[TWITCH_REC_SAMPLES] = "samples",
		[TWITCH_REC_BIOZ] = "bioz",	[TWITCH_REC_STATUS] = "status",
		[TWITCH_REC_LOSS] = "loss",	[TWITCH_REC_MARKER] = "marker",
		[TWITCH_REC_TEST] = "test",	[TWITCH_REC_RATES] = "rates",
		[TWITCH_REC_EPOCH] = "epoch",	[TWITCH_REC_ALERT] = "alert",
		[TWITCH_REC_TWITCH_UPDATE] = "twitch_update",
	};

	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "unknown";
}

TWITCH_API const char *twitch_class_name(unsigned int c)
{
	static const char *const names[] = {
		[TWITCH_CLASS_FASCICULATION] = "fasciculation",
		[TWITCH_CLASS_DOUBLET] = "doublet",
		[TWITCH_CLASS_MULTIPLET] = "multiplet",
		[TWITCH_CLASS_MYOCLONUS] = "myoclonus",
		[TWITCH_CLASS_PHASIC] = "phasic",
		[TWITCH_CLASS_LIMB_MOVEMENT] = "limb_movement",
		[TWITCH_CLASS_TONIC] = "tonic",
		[TWITCH_CLASS_ART_MAINS] = "artefact_mains",
		[TWITCH_CLASS_ART_POP] = "artefact_pop",
		[TWITCH_CLASS_ART_CLIPPING] = "artefact_clipping",
		[TWITCH_CLASS_ART_COMMON_MODE] = "artefact_common_mode",
	};

	return c < sizeof(names) / sizeof(names[0]) && names[c] ? names[c] : "unknown";
}

TWITCH_API const char *twitch_status_name(unsigned int s)
{
	switch (s) {
	case TWITCH_STATUS_DAEMON_START: return "daemon_start";
	case TWITCH_STATUS_DAEMON_STOP: return "daemon_stop";
	case TWITCH_STATUS_DEVICE_UP: return "device_up";
	case TWITCH_STATUS_DEVICE_LOST: return "device_lost";
	case TWITCH_STATUS_CONFIG_RELOADED: return "config_reloaded";
	case TWITCH_STATUS_HEARTBEAT: return "heartbeat";
	case TWITCH_STATUS_DAEMON_GONE: return "daemon_gone";
	case TWITCH_STATUS_DAEMON_RESTARTED: return "daemon_restarted";
	case TWITCH_STATUS_PRODUCER_STALLED: return "producer_stalled";
	default: return "unknown";
	}
}

TWITCH_API const char *twitch_alert_name(unsigned int a)
{
	switch (a) {
	case TWITCH_BIOZ_ALERT_PHA_DROP: return "phase_angle_drop";
	case TWITCH_BIOZ_ALERT_ECW_TBW_RISE: return "ecw_tbw_rise";
	case TWITCH_BIOZ_ALERT_RE_INDEX: return "re_index_change";
	case TWITCH_BIOZ_ALERT_CO_OCCURRENCE: return "twitch_rate_with_shift";
	default: return "unknown";
	}
}

TWITCH_API const char *twitch_loss_name(unsigned int r)
{
	switch (r) {
	case TWITCH_LOSS_DEVICE_OVERRUN: return "device_overrun";
	case TWITCH_LOSS_GAP: return "gap";
	case TWITCH_LOSS_READER_LAPPED: return "reader_lapped";
	case TWITCH_LOSS_RESTART: return "restart";
	default: return "unknown";
	}
}

/*
 * The model behind each bioimpedance estimate, with its source and limits.
 * Frozen ids (daemon/bioz.h BIOZ_MODEL_* use the same numbers).
 */
static const char *const model_names[RECORD_MODEL_COUNT] = {
	[1] = "Cole 1940 impedance model; weighted (1/|Z|) Levenberg-Marquardt "
			       "on Re/Im, Kasa circle-fit seed, outlier dropping",
	[2] = "Cole 1940 impedance model with time delay exp(-jwTd); "
				  "weighted (1/|Z|) Levenberg-Marquardt on Re/Im, Kasa "
				  "circle-fit seed, outlier dropping",
	[3] = "R, Xc at 50 kHz from the fitted Cole model (no Td)",
	[4] = "R, Xc at 50 kHz interpolated linearly in log f from the sweep",
	[5] = "ECW Hanai, De Lorenzo 1997 J Appl Physiol 82:1542; KB 4.3, "
				   "Db 1.05 kg/L, rhoECW 40.5 ohm cm (men) [R]",
	[6] = "ECW Hanai, De Lorenzo 1997 J Appl Physiol 82:1542; KB 4.3, "
				   "Db 1.05 kg/L, rhoECW 39.0 ohm cm (women) [R]",
	[7] = "ICW exact two-phase Hanai, Matthie 2005 J Appl Physiol "
				     "99:780; rhoICW 273.9, rhoECW 40.5 ohm cm (men) [R]",
	[8] = "ICW exact two-phase Hanai, Matthie 2005 J Appl Physiol "
				     "99:780; rhoICW 264.9, rhoECW 39.0 ohm cm (women) [R]",
	[9] =
		"TBW Sun 2003 NHANES III (PMID 12540391), ages 12-94; coefficients [R]",
	[10] =
		"TBW Kushner & Schoeller 1986 Am J Clin Nutr 44:417, sex-specific [R]",
	[11] =
		"TBW Kushner & Schoeller 1986 Am J Clin Nutr 44:417, combined [R]",
	[12] =
		"TBW Kushner 1992 Am J Clin Nutr 56:835, neonates to adults [V formula]",
	[13] =
		"TBW Lukaski & Bolonchuk 1988 Aviat Space Environ Med 59:1163, middle-aged "
		"adults [V formula]",
	[14] = "BIVA Piccoli 1995 Am J Clin Nutr 61:269, Italian adult men: "
				      "R/H 298.6+-43.2, Xc/H 30.8+-7.2 ohm/m, r 0.66 [R]; "
				      "large-n chi2 ellipses",
	[15] = "BIVA Piccoli 1995 Am J Clin Nutr 61:269, Italian adult "
				      "women: R/H 371.9+-50 (~49-50), Xc/H 34.4+-7.7 ohm/m, "
				      "r 0.63 [R]; large-n chi2 ellipses",
	[16] = "Re (Cole R0) index vs own baseline, linear temperature "
				"compensation to the baseline temperature (default 2 %/degC: "
				"Rosemount 2010, aqion, LTH [V]); not a concentration",
	[17] = "Re (Cole R0) index vs own baseline, NOT temperature "
				 "compensated; not a concentration",
};

TWITCH_API const char *twitch_model_name(unsigned int model)
{
	if (model == 0)
		return "none";
	return model < RECORD_MODEL_COUNT && model_names[model] ? model_names[model] : "unknown";
}

/* A bounded appender: once full it stays full and reports -ENOSPC. */
struct jbuf {
	char *p;
	size_t size, len;
	bool full;
};

static void jprintf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jprintf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->size - b->len) {
		b->full = true;
		return;
	}
	b->len += (size_t)n;
}

static void jnum(struct jbuf *b, const char *key, double v)
{
	if (isfinite(v))
		jprintf(b, ",\"%s\":%.6g", key, v);
	else
		jprintf(b, ",\"%s\":null", key);
}

/* ":" and a quoted, escaped string */
static void jstr_value(struct jbuf *b, const char *s)
{
	const unsigned char *c;

	jprintf(b, ":\"");
	for (c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			jprintf(b, "\\%c", *c);
		else if (*c < 0x20)
			jprintf(b, "\\u%04x", *c);
		else
			jprintf(b, "%c", *c);
	}
	jprintf(b, "\"");
}

static void jstr(struct jbuf *b, const char *key, const char *s)
{
	jprintf(b, ",\"%s\"", key);
	jstr_value(b, s);
}

static void json_body(struct jbuf *b, const void *rec)
{
	const struct twitch_record_hdr *h = rec;

	switch (h->type) {
	case TWITCH_REC_TWITCH:
	case TWITCH_REC_TWITCH_UPDATE: {
		const struct twitch_rec_twitch *e = rec;

		jprintf(b, ",\"channel\":%u,\"channel_mask\":%llu", e->channel,
			(unsigned long long)e->channel_mask);
		jstr(b, "class", twitch_class_name(e->twitch_class));
		jprintf(b, ",\"onset\":%s", h->flags & TWITCH_EVF_ONSET ? "true" : "false");
		if (h->flags & TWITCH_EVF_REJECT)
			jprintf(b, ",\"rejected\":true");
		jnum(b, "duration_ms", e->duration_ms);
		jnum(b, "peak_uv", e->peak_uv);
		jnum(b, "energy", e->energy);
		jnum(b, "snr", e->snr);
		jnum(b, "noise_floor_uv", e->noise_floor_uv);
		jprintf(b, ",\"index_epoch\":%u", e->index_epoch);
		break;
	}
	case TWITCH_REC_SAMPLES: {
		const struct twitch_rec_samples *s = rec;

		jprintf(b, ",\"n_channels\":%u,\"n_scans\":%u,\"index_epoch\":%u",
			s->n_channels, s->n_scans, s->index_epoch);
		jnum(b, "rate_hz", s->rate_hz);
		jstr(b, "unit", s->unit == TWITCH_UNIT_UV ? "uV" :
				s->unit == TWITCH_UNIT_OHM ? "ohm" : "raw");
		break;
	}
	case TWITCH_REC_BIOZ: {
		const struct twitch_rec_bioz *z = rec;

		jnum(b, "r0_ohm", z->r0_ohm);
		jnum(b, "rinf_ohm", z->rinf_ohm);
		jnum(b, "alpha", z->alpha);
		jnum(b, "fc_hz", z->fc_hz);
		jnum(b, "r50_ohm", z->r50_ohm);
		jnum(b, "xc50_ohm", z->xc50_ohm);
		jnum(b, "phase_deg_50k", z->phase_deg_50k);
		jnum(b, "ecw_l", z->ecw_l);
		jnum(b, "icw_l", z->icw_l);
		jnum(b, "tbw_l", z->tbw_l);
		jnum(b, "tbw_sf_l", z->tbw_sf_l);
		jnum(b, "ecw_tbw", z->ecw_tbw);
		jnum(b, "ri_index", z->ri_index);
		jnum(b, "ri_uncert", z->ri_uncert);
		jnum(b, "temp_c", z->temp_c);
		jnum(b, "biva_r_h", z->flags & TWITCH_BIOZF_BIVA ? z->biva_r_h : NAN);
		jnum(b, "biva_xc_h", z->flags & TWITCH_BIOZF_BIVA ? z->biva_xc_h : NAN);
		if (z->flags & TWITCH_BIOZF_BIVA)
			jprintf(b, ",\"biva_class\":%u", z->biva_class);
		jprintf(b, ",\"n_points\":%u,\"n_used\":%u,\"alerts\":%u", z->n_points, z->n_used,
			z->alerts);
		jnum(b, "rms_residual_ohm", z->rms_residual_ohm);
		jprintf(b, ",\"trusted\":%s", z->flags & TWITCH_BIOZF_TRUSTED ? "true" : "false");
		jprintf(b, ",\"outside_validity\":%s,\"icw_extrapolated\":%s",
			z->flags & TWITCH_BIOZF_OUTSIDE_VALIDITY ? "true" : "false",
			z->flags & TWITCH_BIOZF_ICW_EXTRAPOLATED ? "true" : "false");
		jprintf(b, ",\"models\":{\"fit\"");
		jstr_value(b, twitch_model_name(z->model_fit));
		jprintf(b, ",\"ecw\"");
		jstr_value(b, twitch_model_name(z->model_ecw));
		jprintf(b, ",\"tbw_sf\"");
		jstr_value(b, twitch_model_name(z->model_tbw_sf));
		jprintf(b, ",\"biva\"");
		jstr_value(b, twitch_model_name(z->model_biva));
		if (z->flags & TWITCH_BIOZF_BASELINE) {
			jprintf(b, ",\"ri\"");
			jstr_value(b, twitch_model_name(z->model_ri));
		}
		jprintf(b, "}");
		break;
	}
	case TWITCH_REC_STATUS: {
		const struct twitch_rec_status *s = rec;

		jstr(b, "state", twitch_status_name(s->state));
		jstr(b, "profile", s->profile);
		jstr(b, "dev_name", s->dev_name);
		jprintf(b, ",\"n_channels\":%u,\"index_epoch\":%u", s->n_channels,
			s->index_epoch);
		jnum(b, "rate_hz", s->rate_hz);
		jstr(b, "text", s->text);
		break;
	}
	case TWITCH_REC_LOSS: {
		const struct twitch_rec_loss *l = rec;

		jstr(b, "reason", twitch_loss_name(l->reason));
		jprintf(b, ",\"count\":%llu,\"exact\":%s", (unsigned long long)l->count,
			l->exact ? "true" : "false");
		break;
	}
	case TWITCH_REC_MARKER: {
		const struct twitch_rec_marker *m = rec;

		jstr(b, "text", m->text);
		jprintf(b, ",\"client_pid\":%u,\"client_uid\":%u", m->client_pid, m->client_uid);
		break;
	}
	case TWITCH_REC_RATES: {
		const struct twitch_rec_rates *r = rec;

		jprintf(b, ",\"channel\":%u,\"index_epoch\":%u", r->channel, r->index_epoch);
		jnum(b, "per_min_1", r->per_min_1);
		jnum(b, "per_min_5", r->per_min_5);
		jnum(b, "per_min_15", r->per_min_15);
		jnum(b, "covered_s", r->covered_s);
		jnum(b, "noise_floor_uv", r->noise_floor_uv);
		break;
	}
	case TWITCH_REC_EPOCH: {
		const struct twitch_rec_epoch *e = rec;

		jprintf(b, ",\"channel\":%u,\"epoch_samples\":%u,\"n_mini\":%u,"
			"\"phasic_mini_mask\":%u,\"n_twitches\":%u,\"n_fm_potentials\":%u,"
			"\"n_lm\":%u,\"rswa_phasic\":%s,\"efm\":%s,\"partial\":%s",
			e->channel, e->epoch_samples, e->n_mini, e->phasic_mini_mask,
			e->n_twitches, e->n_fm_potentials, e->n_lm,
			e->flags & TWITCH_EPF_RSWA_PHASIC ? "true" : "false",
			e->flags & TWITCH_EPF_EFM ? "true" : "false",
			e->flags & TWITCH_EPF_PARTIAL ? "true" : "false");
		jnum(b, "fmi_per_min", e->fmi_per_min);
		jnum(b, "fmi_window_per_min", e->fmi_window_per_min);
		jnum(b, "background_uv", e->background_uv);
		break;
	}
	case TWITCH_REC_ALERT: {
		const struct twitch_rec_alert *a = rec;

		jstr(b, "alert", twitch_alert_name(a->alert));
		jstr(b, "state", a->state == TWITCH_ALERT_RAISED ? "raised" : "cleared");
		jnum(b, "value", a->value);
		jnum(b, "baseline", a->baseline);
		jnum(b, "threshold", a->threshold);
		jnum(b, "uncertainty", a->uncertainty);
		jstr(b, "text", a->text);
		break;
	}
	case TWITCH_REC_TEST: {
		const struct twitch_rec_test *t = rec;

		jprintf(b, ",\"intended_ns\":%llu", (unsigned long long)t->intended_ns);
		break;
	}
	}
}

TWITCH_API int twitch_record_json(const void *rec, size_t size, uint64_t t0_mono_ns,
				  char *buf, size_t buf_size)
{
	const struct twitch_record_hdr *h = rec;
	struct jbuf b = { .p = buf, .size = buf_size };
	locale_t c_loc, old;
	double t;

	if (buf == NULL || buf_size == 0)
		return -EINVAL;
	if (twitch_record_check(rec, size) < 0)
		return -EPROTO;
	c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (c_loc == (locale_t)0)
		return -ENOMEM;
	old = uselocale(c_loc);

	t = h->t_mono_ns >= t0_mono_ns ? (double)(h->t_mono_ns - t0_mono_ns) / 1e9
				       : -(double)(t0_mono_ns - h->t_mono_ns) / 1e9;
	jprintf(&b, "{\"type\":\"%s\",\"seq\":%llu,\"t\":%.6f,\"t_mono_ns\":%llu,"
		"\"t_real_ns\":%llu", twitch_record_type_name(h->type),
		(unsigned long long)h->seqno, t, (unsigned long long)h->t_mono_ns,
		(unsigned long long)h->t_real_ns);
	if (h->device != TWITCH_DEVICE_NONE)
		jprintf(&b, ",\"device\":%u", h->device);
	if (h->sample_index != TWITCH_INDEX_NONE)
		jprintf(&b, ",\"sample_index\":%llu", (unsigned long long)h->sample_index);
	if (h->flags & TWITCH_RECF_LOCAL)
		jprintf(&b, ",\"local\":true");
	json_body(&b, rec);
	jprintf(&b, "}");

	uselocale(old);
	freelocale(c_loc);
	return b.full ? -ENOSPC : (int)b.len;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * config.c - parse twitchd.conf with inih, strictly.
 *
 * Every key is known and every value is range-checked: a typo in a
 * monitor's configuration must stop the daemon with one message naming
 * the file, line and key (exit 2), not be ignored. The file is opened
 * close-on-exec by us (inih's own ini_parse() would not), and its lines go
 * through inifile.c first (long lines, indented lines, keys given twice).
 */
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "config.h"
#include "inifile.h"
#include "records.h"
#include "sweepcsv.h"

/* filter.* and detect.* keys: fields of struct dsp_config / detect_config */
struct chain_key {
	const char *key;
	size_t off;			/* in struct config_device */
	bool is_u32;			/* else double */
};

/* the type comes from the field itself: a field of another type does not build */
#define CHAIN_U32(m)	_Generic(((struct config_device *)0)->m, uint32_t: true, double: false)
#define FK(f)	{ "filter." #f, offsetof(struct config_device, filt.f), CHAIN_U32(filt.f) }
#define DK(f)	{ "detect." #f, offsetof(struct config_device, det.f), CHAIN_U32(det.f) }
static const struct chain_key chain_keys[] = {
	FK(hp_cutoff_hz), FK(hp_order), FK(lp_cutoff_hz),
	FK(lp_order), FK(notch_bw_hz), FK(notch_max_hz),
	FK(step_window_ms), FK(step_gap_ms), FK(step_ratio),
	FK(step_min_uv), FK(noise.window_ms), FK(noise.n_windows),
	FK(noise.min_windows), FK(noise.gate_ratio),
	FK(noise.max_reject_s),
	DK(tkeo_smooth_ms), DK(threshold_on), DK(threshold_off),
	DK(amp_threshold), DK(refractory_ms), DK(update_after_ms),
	DK(min_potential_ms),
	DK(min_peak_snr), DK(fragment_ms), DK(potential_min_ratio),
	DK(offset_rel), DK(shadow_ratio), DK(shadow_tau_ms),
	DK(group_gap_ms), DK(fasc_max_ms), DK(myoclonus_max_ms),
	DK(burst_min_duty), DK(phasic_min_ms), DK(phasic_max_ms),
	DK(phasic_ratio), DK(lm_envelope_ms), DK(lm_onset_uv),
	DK(lm_end_uv), DK(lm_end_quiet_ms), DK(lm_min_ms),
	DK(lm_max_ms), DK(plm_min_imi_s), DK(plm_max_imi_s),
	DK(plm_bilateral_s), DK(plm_min_count), DK(plm_short_imi_breaks),
	DK(epoch_s), DK(mini_epoch_s), DK(rswa_min_fraction),
	DK(efm_min_per_min), DK(efm_window_min), DK(merge_ms),
	DK(cm_min_channels), DK(cm_max_ratio), DK(mains_ratio),
	DK(pop_window_ms), DK(invalid_guard_ms), DK(max_event_s),
	DK(noise.window_ms), DK(noise.n_windows), DK(noise.min_windows),
	DK(noise.gate_ratio), DK(noise.max_reject_s),
};
#undef FK
#undef DK
#undef CHAIN_U32
#define N_CHAIN_KEYS	(sizeof(chain_keys) / sizeof(chain_keys[0]))

struct parse_ctx {
	struct config *c;
	struct config_error *err;
	bool failed;
	int line;			/* of the key being parsed */
	int fail_line;			/* of the first error */
	bool chain_set[CONFIG_MAX_DEVICES];	/* a chain key was given */
	int bioz_line[CONFIG_MAX_DEVICES];	/* the first AD5933 key's line */
	char bioz_key[CONFIG_MAX_DEVICES][32];
};

static int fail(struct parse_ctx *p, const char *section, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct parse_ctx *p, const char *section, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return 0;	/* keep the first error */
	p->failed = true;
	p->fail_line = p->line;
	/* "section.key"; a section's own error (key "") names just the section */
	snprintf(p->err->key, sizeof(p->err->key), "%s%s%s", section,
		 *section && *key ? "." : "", key);
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return 0;	/* inih: error at this line */
}

static int parse_u32(const char *v, unsigned long min, unsigned long max, int base,
		     uint32_t *ret)
{
	unsigned long x;
	char *end;

	if (*v == '-' || *v == '+' || *v == '\0')
		return -EINVAL;
	errno = 0;
	x = strtoul(v, &end, base);
	if (errno || *end != '\0' || x < min || x > max)
		return -ERANGE;
	*ret = (uint32_t)x;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*ret = true;
		return 0;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

int config_parse_number(const char *v, double min, double max, double *ret)
{
	char *end;
	double x;

	/* decimal only: strtod() would also take hex, "inf" and "nan" */
	if (v[strspn(v, "0123456789.eE+-")] != '\0')
		return -ERANGE;
	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || *end != '\0' || !(x >= min && x <= max))
		return -ERANGE;
	*ret = x;
	return 0;
}

static int copy_str(char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return -ENAMETOOLONG;
	strcpy(dst, v);
	return 0;
}

static int split_channels(struct config_device *d, const char *v)
{
	char *s, *save = NULL, *tok;

	if (copy_str(d->channels_buf, sizeof(d->channels_buf), v) < 0)
		return -ENAMETOOLONG;
	d->n_channels = 0;
	for (s = d->channels_buf; (tok = strtok_r(s, ", \t", &save)); s = NULL) {
		if (d->n_channels == CONFIG_MAX_CHANNELS)
			return -E2BIG;
		d->channels[d->n_channels++] = tok;
	}
	return d->n_channels ? 0 : -EINVAL;
}

static int daemon_key(struct parse_ctx *p, const char *k, const char *v)
{
	struct config *c = p->c;
	uint32_t u;

	if (!strcmp(k, "socket")) {
		if (v[0] != '/' || copy_str(c->socket_path, sizeof(c->socket_path), v) < 0)
			return fail(p, "daemon", k, "'%s' is not an absolute path under %zu bytes",
				    v, sizeof(c->socket_path));
	} else if (!strcmp(k, "socket_mode")) {
		if (parse_u32(v, 0, 0777, 8, &u) < 0)
			return fail(p, "daemon", k, "'%s' is not an octal mode like 0660", v);
		c->socket_mode = (mode_t)u;
	} else if (!strcmp(k, "state_dir")) {
		if (v[0] != '/' || copy_str(c->state_dir, sizeof(c->state_dir), v) < 0)
			return fail(p, "daemon", k, "'%s' is not an absolute path under %zu bytes",
				    v, sizeof(c->state_dir));
	} else if (!strcmp(k, "keep_patient")) {
		bool b;

		if (parse_bool(v, &b) < 0)
			return fail(p, "daemon", k, "'%s' is not yes or no", v);
		c->forget_patient = !b;
	} else if (!strcmp(k, "socket_group")) {
		if (copy_str(c->socket_group, sizeof(c->socket_group), v) < 0)
			return fail(p, "daemon", k, "group name too long");
	} else if (!strcmp(k, "events_slots")) {
		if (parse_u32(v, 64, 1u << 20, 10, &u) < 0 || (u & (u - 1)))
			return fail(p, "daemon", k, "'%s' is not a power of two in 64..1048576", v);
		c->events_slots = u;
	} else if (!strcmp(k, "samples_seconds")) {
		if (parse_u32(v, 1, 600, 10, &u) < 0)
			return fail(p, "daemon", k, "'%s' is not a number of seconds in 1..600", v);
		c->samples_seconds = u;
	} else if (!strcmp(k, "log_level")) {
		static const char *const lv[] = { "emerg", "alert", "crit", "err", "warning",
						  "notice", "info", "debug" };
		int i;

		for (i = 0; i <= LOG_DEBUG; i++)
			if (!strcmp(v, lv[i]))
				break;
		if (i > LOG_DEBUG || i < LOG_ERR)
			return fail(p, "daemon", k, "'%s' is not one of err, warning, notice, "
				    "info, debug", v);
		c->log_level = i;
	} else {
		return fail(p, "daemon", k, "unknown key");
	}
	return 1;
}

static struct config_device *device_section(struct parse_ctx *p, const char *section)
{
	struct config *c = p->c;
	const char *name = section + strlen("device ");
	size_t i;

	for (i = 0; i < c->n_devices; i++)
		if (!strcmp(c->dev[i].name, name))
			return &c->dev[i];
	return NULL;
}

/* Bytes of a chain key's field. */
static size_t chain_key_size(const struct chain_key *ck)
{
	return ck->is_u32 ? sizeof(uint32_t) : sizeof(double);
}

/* The key of the first bad value of @filt and @det for @n channels at @rate
 * ("filter.x", "detect.x", "mains"), or NULL. */
static const char *chain_bad_key(const struct dsp_config *filt, const struct detect_config *det,
				 size_t n, double rate, char *key, size_t len)
{
	const char *bad = NULL;

	/* the keys that set them: a few fields come from other keys */
	if (dsp_config_check(filt, rate, &bad) < 0)
		snprintf(key, len, "%s%s", strcmp(bad, "mains") && strcmp(bad, "rate_hz") ?
			 "filter." : "", bad);
	else if (detect_config_check(det, n, rate, &bad) < 0)
		snprintf(key, len, "%s", !strcmp(bad, "mains_hz") ? "mains" :
			 !strcmp(bad, "lm_channel_mask") ? "leg_channels" : "");
	else
		return NULL;
	if (key[0] == '\0')
		snprintf(key, len, "detect.%s", bad);
	return key;
}

/*
 * The chain of @d once the whole file is read (a check per line would make
 * a pair of values depend on their order). At the configured rate; without
 * one, only what is bad at 1, 4 and 16 kHz alike: the check at open, with
 * the device's real rate, finds the rest.
 */
static const char *chain_problem(const struct config_device *d, char *key, size_t len)
{
	static const double rates[] = { 1000.0, 4000.0, 16000.0 };
	size_t i, n = d->n_channels ? d->n_channels : 8;

	if (d->rate_hz > 0)
		return chain_bad_key(&d->filt, &d->det, n, (double)d->rate_hz, key, len);
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (!chain_bad_key(&d->filt, &d->det, n, rates[i], key, len))
			return NULL;
	return key;
}

/* The line of "@key =" in [device @name] of @path, or 0: for the message of a
 * value found bad only once the whole file was read. */
static int chain_key_line(const char *path, const char *name, const char *key)
{
	char *line = NULL, section[64] = "";
	int n = 0, found = 0;
	size_t cap = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return 0;
	while (!found && getline(&line, &cap, f) >= 0) {	/* lines of any length */
		char *s = line, *e;
		size_t k = strlen(key);

		n++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '[') {
			e = strchr(s, ']');
			if (e)
				snprintf(section, sizeof(section), "%.*s", (int)(e - s - 1), s + 1);
			continue;
		}
		if (strncmp(section, "device ", 7) || strcmp(section + 7, name) ||
		    strncmp(s, key, k))
			continue;
		s += k;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '=' || *s == ':')
			found = n;
	}
	free(line);
	fclose(f);
	return found;
}

/* detect, mains, leg_channels, filter.* and detect.*: the EMG chain's keys */
static int chain_key(struct parse_ctx *p, struct config_device *d, const char *section,
		     const char *k, const char *v)
{
	size_t i;

	p->chain_set[d - p->c->dev] = true;

	if (!strcmp(k, "detect")) {
		bool b;

		if (parse_bool(v, &b) < 0)
			return fail(p, section, k, "'%s' is not yes or no", v);
		d->no_detect = !b;
		return 1;
	}
	if (!strcmp(k, "mains")) {
		if (!strcmp(v, "auto")) {
			d->filt.mains = DSP_MAINS_AUTO;
			d->det.mains_hz = 0;
		} else if (!strcmp(v, "50") || !strcmp(v, "60")) {
			d->filt.mains = v[0] == '5' ? DSP_MAINS_50HZ : DSP_MAINS_60HZ;
			d->det.mains_hz = v[0] == '5' ? 50 : 60;
		} else if (!strcmp(v, "off")) {
			d->filt.mains = DSP_MAINS_OFF;
			d->det.mains_hz = 0;
		} else {
			return fail(p, section, k, "'%s' is not auto, 50, 60 or off", v);
		}
		return 1;
	}
	if (!strcmp(k, "leg_channels")) {
		char buf[sizeof(d->legs)], *save = NULL, *tok, *s;
		size_t n = 0;

		if (copy_str(buf, sizeof(buf), v) < 0)
			return fail(p, section, k, "too long");
		d->legs[0] = '\0';
		for (s = buf; (tok = strtok_r(s, ",", &save)); s = NULL) {
			char *end = tok + strlen(tok);

			/* ids, or labels, which may hold spaces: trimmed */
			while (*tok == ' ' || *tok == '\t')
				tok++;
			while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
				*--end = '\0';
			if (*tok == '\0')
				return fail(p, section, k, "an empty channel name");
			if (++n > CONFIG_MAX_CHANNELS)
				return fail(p, section, k, "more than %d channels",
					    CONFIG_MAX_CHANNELS);
			if (n > 1)
				strcat(d->legs, ",");
			strcat(d->legs, tok);
		}
		return 1;
	}
	for (i = 0; i < N_CHAIN_KEYS; i++) {
		const struct chain_key *ck = &chain_keys[i];
		void *field = (char *)d + ck->off;

		if (strcmp(k, ck->key))
			continue;
		if (ck->is_u32 ? parse_u32(v, 0, 1000000, 10, field) < 0 :
				 config_parse_number(v, 0.0, 1e9, field) < 0)
			return fail(p, section, k, "'%s' is not %s", v,
				    ck->is_u32 ? "a whole number 0..1000000" :
						 "a number 0..1e9");
		return 1;
	}
	return fail(p, section, k, "unknown key");
}

static int device_key(struct parse_ctx *p, struct config_device *d, const char *section,
		      const char *k, const char *v)
{
	/* the AD5933's keys: an EMG device given one is a mistake, said once
	 * the whole section (its profile) is read */
	static const char *const bioz_keys[] = {
		"sweep_start_hz", "sweep_increment_hz", "sweep_points", "settling_cycles",
		"excitation_mv", "pga_gain", "sweep_interval_s", "alert_phase_drop_deg",
		"alert_ecw_tbw_rise", "alert_ri_k", "subject", "alert_twitch_rise_ratio",
		"alert_twitch_rise_min",
	};
	struct device_sweep_config *sw = &d->sweep;
	size_t i, di = (size_t)(d - p->c->dev);
	uint32_t u;

	for (i = 0; i < sizeof(bioz_keys) / sizeof(bioz_keys[0]) && !p->bioz_line[di]; i++)
		if (!strcmp(k, bioz_keys[i])) {
			p->bioz_line[di] = p->line;
			snprintf(p->bioz_key[di], sizeof(p->bioz_key[di]), "%s", k);
		}

	if (!strcmp(k, "uri")) {
		if ((strcmp(v, "local:") && strncmp(v, "ip:", 3)) ||
		    copy_str(d->uri, sizeof(d->uri), v) < 0)
			return fail(p, section, k, "'%s' is neither local: nor ip:HOST[:PORT]", v);
	} else if (!strcmp(k, "device")) {
		if (copy_str(d->device, sizeof(d->device), v) < 0)
			return fail(p, section, k, "too long");
	} else if (!strcmp(k, "profile")) {
		if (strcmp(v, "auto") && strcmp(v, "ti-ads1298") && strcmp(v, "ti-ads131e08") &&
		    strcmp(v, "ad5933") && strcmp(v, "generic"))
			return fail(p, section, k, "'%s' is not one of auto, ti-ads1298, "
				    "ti-ads131e08, ad5933, generic", v);
		strcpy(d->profile, v);
	} else if (!strcmp(k, "rate_hz")) {
		if (parse_u32(v, 1, 1000000, 10, &u) < 0)
			return fail(p, section, k, "'%s' is not a rate in 1..1000000 Hz", v);
		d->rate_hz = u;
	} else if (!strcmp(k, "channels")) {
		if (split_channels(d, v) < 0)
			return fail(p, section, k, "need 1..%d channel ids, comma-separated",
				    CONFIG_MAX_CHANNELS);
	} else if (!strcmp(k, "block_scans")) {
		if (parse_u32(v, 1, 65536, 10, &u) < 0)
			return fail(p, section, k, "'%s' is not in 1..65536", v);
		d->block_scans = u;
	} else if (!strcmp(k, "buffer_scans")) {
		if (parse_u32(v, 2, 1u << 22, 10, &u) < 0)
			return fail(p, section, k, "'%s' is not in 2..4194304", v);
		d->buffer_scans = u;
	} else if (!strcmp(k, "timestamp")) {
		bool b;

		if (parse_bool(v, &b) < 0)
			return fail(p, section, k, "'%s' is not yes or no", v);
		d->no_timestamp = !b;
	} else if (!strcmp(k, "sweep_start_hz")) {
		if (parse_u32(v, 1, 100000, 10, &sw->start_hz) < 0)
			return fail(p, section, k, "'%s' is not in 1..100000 Hz", v);
	} else if (!strcmp(k, "sweep_increment_hz")) {
		if (parse_u32(v, 1, 100000, 10, &sw->increment_hz) < 0)
			return fail(p, section, k, "'%s' is not in 1..100000 Hz", v);
	} else if (!strcmp(k, "sweep_points")) {
		if (parse_u32(v, 2, 512, 10, &u) < 0)
			return fail(p, section, k, "'%s' is not in 2..512", v);
		sw->n_increments = u - 1;
	} else if (!strcmp(k, "settling_cycles")) {
		if (parse_u32(v, 0, 2047, 10, &sw->settling_cycles) < 0)
			return fail(p, section, k, "'%s' is not in 0..2047", v);
	} else if (!strcmp(k, "excitation_mv")) {
		if (parse_u32(v, 1, 5000, 10, &sw->excitation_mv) < 0)
			return fail(p, section, k, "'%s' is not in 1..5000 mV", v);
	} else if (!strcmp(k, "pga_gain")) {
		if (parse_u32(v, 1, 5, 10, &u) < 0 || (u != 1 && u != 5))
			return fail(p, section, k, "'%s' is not 1 or 5", v);
		sw->pga_gain = u;
	} else if (!strcmp(k, "sweep_interval_s")) {
		if (parse_u32(v, 1, 86400, 10, &u) < 0)
			return fail(p, section, k, "'%s' is not in 1..86400 s", v);
		d->sweep_interval_ms = u * 1000;
	} else if (!strcmp(k, "alert_phase_drop_deg")) {
		if (config_parse_number(v, 0.1, 20.0, &d->alert_phase_drop_deg) < 0)
			return fail(p, section, k, "'%s' is not 0.1..20 degrees", v);
	} else if (!strcmp(k, "alert_ecw_tbw_rise")) {
		if (config_parse_number(v, 0.001, 0.2, &d->alert_ecw_tbw_rise) < 0)
			return fail(p, section, k, "'%s' is not 0.001..0.2", v);
	} else if (!strcmp(k, "alert_ri_k")) {
		if (config_parse_number(v, 1.0, 10.0, &d->alert_ri_k) < 0)
			return fail(p, section, k, "'%s' is not 1..10 (times the uncertainty)", v);
	} else if (!strcmp(k, "subject")) {
		struct sweepcsv_err serr;
		char msg[256];

		if (sweepcsv_subject_parse("", v, &d->subject, &serr) < 0) {
			sweepcsv_strerror(&serr, msg, sizeof(msg));	/* fail() says where */
			return fail(p, section, k, "%s", msg);
		}
		d->has_subject = true;
	} else if (!strcmp(k, "alert_twitch_rise_ratio")) {
		if (config_parse_number(v, 1.1, 100.0, &d->alert_twitch_rise_ratio) < 0)
			return fail(p, section, k, "'%s' is not 1.1..100 (times the earlier rate)",
				    v);
	} else if (!strcmp(k, "alert_twitch_rise_min")) {
		if (config_parse_number(v, 0.1, 1000.0, &d->alert_twitch_rise_min) < 0)
			return fail(p, section, k, "'%s' is not 0.1..1000 twitches per minute", v);
	} else {
		return chain_key(p, d, section, k, v);
	}
	return 1;
}

static void device_defaults(struct config_device *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	strcpy(d->uri, "local:");
	strcpy(d->profile, "auto");
	d->sweep_interval_ms = 10000;
	d->alert_phase_drop_deg = NAN;
	d->alert_ecw_tbw_rise = NAN;
	d->alert_ri_k = NAN;
	d->alert_twitch_rise_ratio = NAN;
	d->alert_twitch_rise_min = NAN;
	dsp_config_default(&d->filt);
	detect_config_default(&d->det);
}

static int handler(void *user, const char *section, const char *key, const char *value,
		   int line)
{
	struct parse_ctx *p = user;
	struct config_device *d;
	const char *name;
	size_t i;

	p->line = line;
	if (p->failed)
		return 1;	/* one message is enough */
	if (!strcmp(section, "daemon"))
		return daemon_key(p, key, value);
	if (*section == '\0')		/* not "unknown section []" */
		return fail(p, "", key, "a key before any section; expected [daemon] or "
			    "[device NAME] first");
	if (strncmp(section, "device ", 7))
		return fail(p, section, "", "unknown section [%s]; expected [daemon] or "
			    "[device NAME]", section);
	d = device_section(p, section);
	if (d == NULL) {
		name = section + 7;
		if (*name == '\0' || strlen(name) >= sizeof(d->name))
			return fail(p, section, "", "device name must be 1..%zu characters",
				    sizeof(d->name) - 1);
		for (i = 0; name[i]; i++)
			if (!record_device_name_char(name[i]))
				return fail(p, section, "", "device name may hold only a-z, 0-9, "
					    "'-' and '_'");
		if (p->c->n_devices == CONFIG_MAX_DEVICES)
			return fail(p, section, "", "at most %d devices", CONFIG_MAX_DEVICES);
		d = &p->c->dev[p->c->n_devices++];
		device_defaults(d, name);
	}
	return device_key(p, d, section, key, value);
}

static void daemon_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->socket_path, "/run/twitchd/control.sock");
	c->socket_mode = 0660;
	strcpy(c->socket_group, "twitchd");
	c->events_slots = 16384;
	c->samples_seconds = 30;
	c->log_level = LOG_INFO;
}

void config_default(struct config *c)
{
	struct config_device *d;

	daemon_defaults(c);
	strcpy(c->path, "built-in");
	c->n_devices = 2;
	d = &c->dev[0];
	device_defaults(d, "emg");
	strcpy(d->profile, "ti-ads1298");
	d->rate_hz = 4000;
	d = &c->dev[1];
	device_defaults(d, "bioz");
	strcpy(d->profile, "ad5933");
	d->sweep.start_hz = 5000;
	d->sweep.increment_hz = 1000;
	d->sweep.n_increments = 95;		/* 96 points, 5 to 100 kHz */
	d->sweep.settling_cycles = 15;
}

int config_load(const char *path, struct config *ret, struct config_error *err)
{
	struct parse_ctx p = { .c = ret, .err = err };
	struct inifile_error ierr;
	struct stat st;
	FILE *f;
	size_t i;
	int line;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	daemon_defaults(ret);
	/* SIGHUP reads ret->path again: never a shortened one */
	if (copy_str(ret->path, sizeof(ret->path), path) < 0) {
		snprintf(err->msg, sizeof(err->msg), "path longer than %zu bytes",
			 sizeof(ret->path) - 1);
		return -ENAMETOOLONG;
	}
	f = inifile_open(path, &st, &line);
	if (f == NULL) {
		snprintf(err->msg, sizeof(err->msg), "cannot open: %s",
			 line == -EINVAL ? "not a regular file" : strerror(-line));
		return line;
	}
	line = inifile_parse(f, handler, &p, &ierr);
	fclose(f);
	if (line < 0) {
		snprintf(err->msg, sizeof(err->msg), "cannot read the file: %s", strerror(-line));
		return line;
	}
	if (line > 0) {
		/* the first error in the file: inifile's, the handler's, or a
		 * line inih could not read */
		err->line = line;
		if (ierr.line == line) {
			snprintf(err->key, sizeof(err->key), "%.30s%s%.30s", ierr.section,
				 ierr.section[0] && ierr.key[0] ? "." : "", ierr.key);
			snprintf(err->msg, sizeof(err->msg), "%s", ierr.msg);
		} else if (!p.failed || p.fail_line != line) {
			err->key[0] = '\0';
			snprintf(err->msg, sizeof(err->msg), "not an INI line "
				 "(expected [section], key = value or a ; comment)");
		}
		return -EINVAL;
	}
	if (ret->n_devices == 0) {
		snprintf(err->msg, sizeof(err->msg), "no [device NAME] section: nothing to read");
		return -EINVAL;
	}
	for (i = 0; i < ret->n_devices; i++) {
		const struct config_device *d = &ret->dev[i];
		char key[64];

		if (p.bioz_line[i] && strcmp(d->profile, "ad5933") && strcmp(d->profile, "auto")) {
			err->line = p.bioz_line[i];
			snprintf(err->key, sizeof(err->key), "device %s.%s", d->name,
				 p.bioz_key[i]);
			snprintf(err->msg, sizeof(err->msg), "a key of ad5933 devices, not of "
				 "a %s one", d->profile);
			return -EINVAL;
		}

		/* a rate alone is checked too, where the profile is known */
		if (!p.chain_set[i] && !(d->rate_hz && strcmp(d->profile, "auto")))
			continue;
		if (!p.chain_set[i] && !config_has_chain(d))
			continue;	/* an ad5933's rate_hz, which it ignores */
		if (!config_has_chain(d)) {
			snprintf(err->msg, sizeof(err->msg), "device %s: detect, mains, "
				 "leg_channels, filter.* and detect.* are for EMG devices, "
				 "not ad5933", d->name);
			return -EINVAL;
		}
		if (d->no_detect)
			continue;	/* no chain runs: its settings do not matter */
		if (chain_problem(d, key, sizeof(key))) {
			err->line = chain_key_line(path, d->name, key);
			if (!strcmp(key, "rate_hz")) {
				snprintf(err->key, sizeof(err->key), "device %s.rate_hz", d->name);
				snprintf(err->msg, sizeof(err->msg), "twitch detection needs "
					 "100 Hz to 1 MHz; for a slower device set detect = no");
			} else if (err->line > 0) {
				snprintf(err->key, sizeof(err->key), "device %s.%.32s", d->name,
					 key);
				snprintf(err->msg, sizeof(err->msg), "out of range, or "
					 "inconsistent with the other filter./detect. values "
					 "(see twitchd.conf(5))");
			} else {
				snprintf(err->msg, sizeof(err->msg), "device %s: %s: out of "
					 "range, or inconsistent with the other filter./detect. "
					 "values (see twitchd.conf(5))", d->name, key);
			}
			return -EINVAL;
		}
	}
	return 0;
}

int config_strerror(const struct config_error *err, char *buf, size_t len)
{
	if (err->line > 0 && err->key[0])
		return snprintf(buf, len, "%s:%d: %s: %s", err->file, err->line, err->key, err->msg);
	if (err->line > 0)
		return snprintf(buf, len, "%s:%d: %s", err->file, err->line, err->msg);
	if (err->key[0])
		return snprintf(buf, len, "%s: %s: %s", err->file, err->key, err->msg);
	return snprintf(buf, len, "%s: %s", err->file, err->msg);
}

void config_device_to_driver(const struct config_device *d, struct device_config *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->uri = d->uri;
	ret->device = d->device[0] ? d->device : NULL;
	ret->profile = d->profile;
	ret->rate_hz = d->rate_hz;
	ret->channels = d->n_channels ? d->channels : NULL;
	ret->n_channels = d->n_channels;
	ret->block_scans = d->block_scans;
	ret->buffer_scans = d->buffer_scans;
	ret->no_timestamp = d->no_timestamp;
	ret->sweep = d->sweep;
}

const char *config_channels_text(const struct config_device *d, char *buf, size_t len)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < d->n_channels && used < len; i++) {
		n = snprintf(buf + used, len - used, "%s%s", i ? "," : "", d->channels[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

bool config_device_equal(const struct config_device *a, const struct config_device *b)
{
	/* field by field: the channel pointers differ even when the text does not */
	return !strcmp(a->name, b->name) && !strcmp(a->uri, b->uri) &&
	       !strcmp(a->device, b->device) && !strcmp(a->profile, b->profile) &&
	       a->rate_hz == b->rate_hz && a->n_channels == b->n_channels &&
	       !memcmp(a->channels_buf, b->channels_buf, sizeof(a->channels_buf)) &&
	       a->block_scans == b->block_scans && a->buffer_scans == b->buffer_scans &&
	       a->no_timestamp == b->no_timestamp &&
	       !memcmp(&a->sweep, &b->sweep, sizeof(a->sweep)) &&
	       a->sweep_interval_ms == b->sweep_interval_ms;
}

bool config_has_chain(const struct config_device *d)
{
	return strcmp(d->profile, "ad5933") != 0;
}

void config_chain_copy(struct config_device *dst, const struct config_device *src)
{
	dst->no_detect = src->no_detect;
	dst->filt = src->filt;
	dst->det = src->det;
	memcpy(dst->legs, src->legs, sizeof(dst->legs));
}

bool config_chain_equal(const struct config_device *a, const struct config_device *b)
{
	size_t i;

	/* by the keys, not memcmp(): the structures have padding */
	if (a->no_detect != b->no_detect || a->filt.mains != b->filt.mains ||
	    a->det.mains_hz != b->det.mains_hz || strcmp(a->legs, b->legs))
		return false;
	for (i = 0; i < N_CHAIN_KEYS; i++)
		if (memcmp((const char *)a + chain_keys[i].off, (const char *)b + chain_keys[i].off,
			   chain_key_size(&chain_keys[i])))
			return false;
	return true;
}

int config_chain_for(const struct config_device *d, const struct device_channel *ch,
		     size_t n_channels, double rate_hz, struct dsp_config *filt,
		     struct detect_config *det, char *msg, size_t len)
{
	const char *list = d->legs, *p;
	char key[64];
	size_t c, n;

	*filt = d->filt;
	*det = d->det;
	det->lm_channel_mask = 0;
	while ((p = config_list_next(&list, &n))) {
		for (c = 0; c < n_channels; c++)
			if (config_name_is(p, n, ch[c].id) || config_name_is(p, n, ch[c].label))
				break;
		if (c == n_channels || c >= 64) {
			snprintf(msg, len, "leg_channels: '%.*s' is not a channel of this device",
				 (int)n, p);
			return -EINVAL;
		}
		det->lm_channel_mask |= UINT64_C(1) << c;
	}
	if (chain_bad_key(filt, det, n_channels, rate_hz, key, sizeof(key))) {
		snprintf(msg, len, "%s: out of range for %zu channels at %.0f Hz", key,
			 n_channels, rate_hz);
		return -EINVAL;
	}
	return 0;
}

int config_chain_describe(const struct config_device *d, char *buf, size_t len)
{
	static const char *const mains[] = { "off", "50", "60", "auto" };
	struct config_device def;
	size_t i, n;

	device_defaults(&def, d->name);
	n = (size_t)snprintf(buf, len, "mains %s, leg channels %s",
			     d->filt.mains <= DSP_MAINS_AUTO ? mains[d->filt.mains] : "?",
			     d->legs[0] ? d->legs : "none");
	for (i = 0; i < N_CHAIN_KEYS && n < len; i++) {
		const struct chain_key *ck = &chain_keys[i];
		const void *v = (const char *)d + ck->off, *v0 = (const char *)&def + ck->off;

		if (!memcmp(v, v0, chain_key_size(ck)))
			continue;
		if (ck->is_u32)
			n += (size_t)snprintf(buf + n, len - n, ", %s = %u", ck->key,
					      *(const uint32_t *)v);
		else
			n += (size_t)snprintf(buf + n, len - n, ", %s = %g", ck->key,
					      *(const double *)v);
	}
	return (int)n;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.h - twitchd's configuration: an INI file (inih) or the built-in
 * default (a simulated-cart layout: ADS1298 EMG + AD5933 bioimpedance).
 */
#ifndef TWITCHD_CONFIG_H
#define TWITCHD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bioz.h"
#include "detect.h"
#include "dsp.h"
#include "profile.h"

#define CONFIG_MAX_DEVICES	8
#define CONFIG_MAX_CHANNELS	64
#define CONFIG_DEFAULT_PATH	"/etc/twitchd/twitchd.conf"

struct config_device {
	char name[16];				/* [device NAME]; also the ring "samples-NAME" */
	char uri[128];
	char device[64];			/* id, name or label; "" = first that matches */
	char profile[32];			/* "auto", "ti-ads1298", ... */
	uint32_t rate_hz;
	char channels_buf[1024];
	const char *channels[CONFIG_MAX_CHANNELS];
	size_t n_channels;
	uint32_t block_scans;
	uint32_t buffer_scans;
	bool no_timestamp;
	bool no_detect;			/* detect = no: samples only, no EMG chain */
	struct device_sweep_config sweep;	/* ad5933 */
	uint32_t sweep_interval_ms;		/* ad5933: one sweep this often */
	/* ad5933: alert thresholds against the baseline; NaN = bioz.c's default */
	double alert_phase_drop_deg;
	double alert_ecw_tbw_rise;
	double alert_ri_k;
	double alert_twitch_rise_ratio;
	double alert_twitch_rise_min;		/* per minute */
	bool has_subject;			/* ad5933: subject data from the config */
	struct bioz_subject subject;
	/* EMG: the filter chain and the detector (mains, filter.*, detect.*) */
	struct dsp_config filt;
	struct detect_config det;		/* lm_channel_mask: from legs at open */
	char legs[1024];			/* leg_channels: ids or labels, "" = none */
};

struct config {
	char path[256];				/* "built-in" for the default */
	char socket_path[108];
	mode_t socket_mode;
	char socket_group[32];			/* "" = leave the group as created */
	bool forget_patient;			/* do not restore subject and baseline */
	char state_dir[256];			/* calibrations; "" = $STATE_DIRECTORY or
						 * /var/lib/twitchd */
	uint32_t events_slots;
	uint32_t samples_seconds;		/* samples rings hold about this long */
	int log_level;				/* LOG_ERR .. LOG_DEBUG */
	size_t n_devices;
	struct config_device dev[CONFIG_MAX_DEVICES];
};

struct config_error {
	char file[256];
	int line;				/* 0: not tied to a line */
	char key[64];				/* "section.key", or "" */
	char msg[200];
};

/* The built-in default: what `make demo` runs. */
void config_default(struct config *c);

/*
 * config_load() - parse @path into *ret (defaults first, then the file).
 * Return: 0, -ENOENT/-EACCES/... if the file cannot be read, -EINVAL on a
 * bad value or unknown key; @err says file, line and key.
 */
int config_load(const char *path, struct config *ret, struct config_error *err);

/* config_parse_number() - @v as a number in [@min, @max] (a sign, a decimal
 * point and an exponent are fine; nothing may follow). The config's values
 * and the control socket's arguments alike. Return: 0 or -ERANGE. */
int config_parse_number(const char *v, double min, double max, double *ret);

/* "file:line: key: message" for one clear error line. */
int config_strerror(const struct config_error *err, char *buf, size_t len);

/* The channels as configured, comma-separated, in @buf (cut to fit). */
const char *config_channels_text(const struct config_device *d, char *buf, size_t len);

/* Same settings (compares the channel text, not its pointers). */
bool config_device_equal(const struct config_device *a, const struct config_device *b);

/* Does @d's section take the EMG chain's keys (mains, leg_channels, filter.*,
 * detect.*)? Every profile but the AD5933's, which sweeps. */
bool config_has_chain(const struct config_device *d);

/* Does @d run the EMG chain: a section that takes it, without detect = no? */
static inline bool config_detects(const struct config_device *d)
{
	return config_has_chain(d) && !d->no_detect;
}

/*
 * The next name of a comma-separated list as the config keeps it (trimmed:
 * "voltage6,Tib L"), its length in *@n, or NULL past the last; *@list moves
 * on. config_name_is(): is that name @s?
 */
static inline const char *config_list_next(const char **list, size_t *n)
{
	const char *p = *list, *e;

	if (p == NULL || *p == '\0')
		return NULL;
	for (e = p; *e && *e != ','; e++)
		;
	*n = (size_t)(e - p);
	*list = *e ? e + 1 : NULL;
	return p;
}

static inline bool config_name_is(const char *name, size_t n, const char *s)
{
	size_t k;

	for (k = 0; k < n && s[k] == name[k]; k++)
		;
	return k == n && s[k] == '\0';
}

/* The filter and detector settings of @src (detect, mains, leg_channels,
 * filter.*, detect.*) into @dst. */
void config_chain_copy(struct config_device *dst, const struct config_device *src);

/* Same filter and detector settings (a reload rebuilds only the chain). */
bool config_chain_equal(const struct config_device *a, const struct config_device *b);

/* "mains auto, leg channels none, detect.x = y, ...": the values not at
 * their defaults, for --check-config. Return: as snprintf(). */
int config_chain_describe(const struct config_device *d, char *buf, size_t len);

/*
 * config_chain_for() - the filter and detector configurations of @d for a
 * device opened with @n_channels channels @ch (in scan order) at @rate_hz:
 * leg_channels resolved (by id or label) to the detector's channel mask,
 * every value checked. Return: 0, or -EINVAL with "key: message" in @msg.
 */
int config_chain_for(const struct config_device *d, const struct device_channel *ch,
		     size_t n_channels, double rate_hz, struct dsp_config *filt,
		     struct detect_config *det, char *msg, size_t len);

/* The drivers/ view of one configured device (borrows from @d). */
void config_device_to_driver(const struct config_device *d, struct device_config *ret);

#endif

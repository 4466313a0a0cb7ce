// SPDX-License-Identifier: MIT
/*
 * ads131e08.c - profile for TI ADS131E04/06/08, mainline ti-ads131e08.
 *
 * Quirks of that driver: the rate lives in in_voltage_sampling_frequency
 * and sampling_frequency_available is in kSPS ("1 2 4 8 16 32 64", against
 * the IIO ABI's Hz); scans are be:s24/32>>8; above 16 kSPS the chip gives
 * 16 bits, sign-extended into the same slot, and in_voltageN_scale changes
 * with the rate, so scales are read after the rate is set. The buffer runs
 * on the driver's own trigger "<name>-dev<N>", which must stay current.
 */
#define PROFILE_INTERNAL
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iio.h>

#include "profile.h"

static bool ads131e08_match(const char *name)
{
	return strcmp(name, "ads131e04") == 0 || strcmp(name, "ads131e06") == 0 ||
	       strcmp(name, "ads131e08") == 0;
}

/* is @ksps in the driver's list? */
static int ads131e08_rate_ok(struct device *dev, unsigned long ksps)
{
	char list[128], *tok, *save = NULL, *end;
	int r = device_attr_read(dev, "sampling_frequency_available", list,
				 sizeof(list));

	if (r < 0)
		return r;
	for (tok = strtok_r(list, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		unsigned long v = strtoul(tok, &end, 10);

		if (*end == '\0' && v == ksps)
			return 0;
	}
	return -ERANGE;
}

static int ads131e08_trigger(struct device *dev, struct profile_error *err)
{
	char want[DEVICE_NAME_MAX + 16], cur[DEVICE_NAME_MAX + 16];
	const char *num = strncmp(dev->info.id, "iio:device", 10) == 0 ?
			  dev->info.id + 10 : "0";
	int r;

	snprintf(want, sizeof(want), "%s-dev%s", dev->info.name, num);
	if (dev->ctx != NULL) {
		const struct iio_device *trig = NULL;

		/* its own trigger: with another (hrtimer, sysfs) the driver polls
		 * one conversion per trigger, at that trigger's rate, not the
		 * sampling_frequency every time is derived from */
		if (iio_device_get_trigger(dev->idev, &trig) == 0 && trig != NULL &&
		    iio_device_get_name(trig) != NULL && !strcmp(iio_device_get_name(trig), want))
			return 0;
		trig = iio_context_find_device(dev->ctx, want);
		r = trig != NULL ? iio_device_set_trigger(dev->idev, trig) : -ENODEV;
	} else {
		r = sysfs_read(dev->dir, "trigger/current_trigger", cur, sizeof(cur));
		if (r > 0 && !strcmp(cur, want))
			return 0;
		r = sysfs_write(dev->dir, "trigger/current_trigger", want);
	}
	if (r < 0)
		return profile_fail(err, dev, r, "trigger/current_trigger",
				    "cannot attach the driver's trigger %s: %s", want,
				    strerror(-r));
	return 0;
}

static int ads131e08_configure(struct device *dev, const struct device_config *cfg,
			       struct profile_error *err)
{
	unsigned long ksps;
	char v[16];
	long got;
	int r;

	if (cfg->rate_hz != 0) {
		ksps = cfg->rate_hz / 1000;
		r = cfg->rate_hz % 1000 != 0 ? -ERANGE : ads131e08_rate_ok(dev, ksps);
		if (r < 0)
			return profile_fail(err, dev, r, "sampling_frequency_available",
					    "%u Hz is not one of the driver's rates "
					    "(listed in kSPS)", cfg->rate_hz);
		snprintf(v, sizeof(v), "%lu", ksps);
		r = profile_attr_write(dev, "in_voltage_sampling_frequency", v);
		if (r < 0)
			return profile_fail(err, dev, r, "in_voltage_sampling_frequency",
					    "cannot set %lu kSPS: %s", ksps, strerror(-r));
	}
	r = profile_attr_long(dev, "in_voltage_sampling_frequency", &got);
	if (r < 0 || got <= 0)
		return profile_fail(err, dev, r < 0 ? r : -EBADMSG,
				    "in_voltage_sampling_frequency", "unreadable rate");
	dev->info.rate_hz = (double)got * 1000.0;	/* kSPS */
	return ads131e08_trigger(dev, err);
}

static void ads131e08_classify(struct device *dev, const struct device_config *cfg,
			       struct profile_elem *e)
{
	(void)dev;
	(void)cfg;
	e->ch.role = DEVICE_ROLE_EMG;
	snprintf(e->ch.unit, sizeof(e->ch.unit), "uV");
	e->unit_per_iio = 1000.0;
}

const struct profile_ops profile_ads131e08 = {
	.name = "ti-ads131e08",
	.match = ads131e08_match,
	.configure = ads131e08_configure,
	.classify = ads131e08_classify,
};

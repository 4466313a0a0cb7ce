// SPDX-License-Identifier: MIT
/*
 * ads1298.c - profile for TI ADS1294/6/8(R), mainline ti-ads1298 (6.9+).
 *
 * The driver names the device ads129<n>[r] from the chip's ID register,
 * shows in_voltageN_raw/_scale (mV per count: Vref / PGA gain / 2^23, read
 * back, never assumed), a shared sampling_frequency quantised to
 * 2.048 MHz >> (6 or 7) >> DR (250..32000 Hz, no _available list), and
 * buffers le:s24/32>>0 scans without a timestamp channel or trigger.
 */
#define PROFILE_INTERNAL
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "profile.h"

static bool ads1298_match(const char *name)
{
	return (strncmp(name, "ads1294", 7) == 0 || strncmp(name, "ads1296", 7) == 0 ||
		strncmp(name, "ads1298", 7) == 0) &&
	       (name[7] == '\0' || (name[7] == 'r' && name[8] == '\0'));
}

static int ads1298_configure(struct device *dev, const struct device_config *cfg,
			     struct profile_error *err)
{
	char v[16];
	long rate;
	int r;

	if (cfg->rate_hz != 0) {
		/* 2.048 MHz clock: HR mode 500..32000, LP mode adds 250 */
		if (cfg->rate_hz < 250 || cfg->rate_hz > 32000)
			return profile_fail(err, dev, -ERANGE, "sampling_frequency",
					    "%u Hz is outside 250..32000 Hz",
					    cfg->rate_hz);
		snprintf(v, sizeof(v), "%u", cfg->rate_hz);
		r = profile_attr_write(dev, "sampling_frequency", v);
		if (r < 0)
			return profile_fail(err, dev, r, "sampling_frequency",
					    "cannot set %u Hz: %s", cfg->rate_hz,
					    strerror(-r));
	}
	/* the driver rounds to a power-of-two divider: what we get is read back */
	r = profile_attr_long(dev, "sampling_frequency", &rate);
	if (r < 0 || rate <= 0)
		return profile_fail(err, dev, r < 0 ? r : -EBADMSG,
				    "sampling_frequency", "unreadable rate");
	dev->info.rate_hz = (double)rate;
	return 0;
}

static void ads1298_classify(struct device *dev, const struct device_config *cfg,
			     struct profile_elem *e)
{
	(void)dev;
	(void)cfg;
	e->ch.role = DEVICE_ROLE_EMG;
	snprintf(e->ch.unit, sizeof(e->ch.unit), "uV");
	e->unit_per_iio = 1000.0;	/* IIO voltage scale is in mV */
}

const struct profile_ops profile_ads1298 = {
	.name = "ti-ads1298",
	.match = ads1298_match,
	.configure = ads1298_configure,
	.classify = ads1298_classify,
};

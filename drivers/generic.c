// SPDX-License-Identifier: MIT
/*
 * generic.c - profile for any other buffered IIO ADC.
 *
 * Roles, units and labels come from the config (struct
 * device_channel_config); without one, voltage channels are EMG in uV (the
 * IIO voltage scale is mV) and anything else is reported in IIO units. The
 * rate is written to sampling_frequency (or in_voltage_sampling_frequency)
 * and checked against sampling_frequency_available when the driver has it.
 */
#define PROFILE_INTERNAL
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

static bool generic_match(const char *name)
{
	(void)name;
	return true;
}

static const char *generic_rate_attr(struct device *dev)
{
	if (profile_attr_exists(dev, "sampling_frequency"))
		return "sampling_frequency";
	if (profile_attr_exists(dev, "in_voltage_sampling_frequency"))
		return "in_voltage_sampling_frequency";
	return NULL;
}

/*
 * Is @hz offered? The list is the one beside the rate attribute @attr, in
 * either of the kernel's forms: values ("1000 2000 4000") or a range
 * ("[min step max]", IIO_AVAIL_RANGE).
 */
static int generic_rate_listed(struct device *dev, const char *attr, uint32_t hz)
{
	char name[80], list[256], *tok, *save = NULL;
	double lo, step, hi;
	int r;

	snprintf(name, sizeof(name), "%s_available", attr);
	r = device_attr_read(dev, name, list, sizeof(list));
	if (r < 0)
		return r == -ENOENT ? 0 : r;	/* no list: the driver decides */
	if (list[0] == '[') {
		if (sscanf(list, "[%lf %lf %lf]", &lo, &step, &hi) != 3 || !(step > 0))
			return -EBADMSG;
		if (hz < lo - 1e-6 || hz > hi + 1e-6 ||
		    fabs(remainder(hz - lo, step)) > 1e-6 * step)
			return -ERANGE;
		return 0;
	}
	for (tok = strtok_r(list, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		double v;

		if (profile_strtod(tok, &v) == 0 && fabs(v - hz) < 1e-6)
			return 0;
	}
	return -ERANGE;
}

static int generic_configure(struct device *dev, const struct device_config *cfg,
			     struct profile_error *err)
{
	const char *attr = generic_rate_attr(dev);
	char v[16];
	double rate;
	int r;

	if (attr == NULL) {
		if (cfg->rate_hz != 0)
			return profile_fail(err, dev, -ENOTSUP, "sampling_frequency",
					    "the device has no rate attribute");
		return 0;
	}
	if (cfg->rate_hz != 0) {
		r = generic_rate_listed(dev, attr, cfg->rate_hz);
		if (r < 0)
			return profile_fail(err, dev, r, attr, "%u Hz is not offered (%s_available)",
					    cfg->rate_hz, attr);
		snprintf(v, sizeof(v), "%u", cfg->rate_hz);
		r = profile_attr_write(dev, attr, v);
		if (r < 0)
			return profile_fail(err, dev, r, attr, "cannot set %u Hz: %s",
					    cfg->rate_hz, strerror(-r));
	}
	r = profile_attr_double(dev, attr, &rate);
	if (r < 0 || !(rate > 0))
		return profile_fail(err, dev, r < 0 ? r : -EBADMSG, attr,
				    "unreadable rate");
	dev->info.rate_hz = rate;
	return 0;
}

static void generic_classify(struct device *dev, const struct device_config *cfg,
			     struct profile_elem *e)
{
	size_t i;

	(void)dev;
	for (i = 0; i < cfg->n_chan_cfg; i++) {
		const struct device_channel_config *c = &cfg->chan_cfg[i];

		if (c->id == NULL || strcmp(c->id, e->id) != 0)
			continue;
		e->ch.role = c->role;
		snprintf(e->ch.unit, sizeof(e->ch.unit), "%s",
			 c->unit != NULL ? c->unit : "");
		e->unit_per_iio = c->unit_per_iio != 0 ? c->unit_per_iio : 1.0;
		if (c->label != NULL)
			snprintf(e->ch.label, sizeof(e->ch.label), "%s", c->label);
		return;
	}
	if (strncmp(e->id, "voltage", 7) == 0) {
		e->ch.role = DEVICE_ROLE_EMG;
		snprintf(e->ch.unit, sizeof(e->ch.unit), "uV");
		e->unit_per_iio = 1000.0;
	} else {
		e->ch.role = DEVICE_ROLE_OTHER;
		snprintf(e->ch.unit, sizeof(e->ch.unit), "iio");
		e->unit_per_iio = 1.0;
	}
}

const struct profile_ops profile_generic = {
	.name = "generic",
	.match = generic_match,
	.configure = generic_configure,
	.classify = generic_classify,
};

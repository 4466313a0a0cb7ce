// SPDX-License-Identifier: MIT
/*
 * ad5933.c - profile for the ADI AD5933/AD5934 impedance converter
 * (drivers/staging/iio/impedance-analyzer/ad5933.c).
 *
 * Buffer-only in_voltage_real and in_voltage_imag (le:s16/16>>0, indexes 0
 * and 1): always both, the driver reads the wrong register for one alone.
 * Each buffer enable runs one sweep of frequency_points + 1 points set by
 * out_altvoltage0_{frequency_start,frequency_increment,frequency_points,
 * settling_cycles,raw} (older kernels: out_voltage0_freq_*), in_voltage0_scale
 * is the PGA ("1" or "0.2" = x5). Raw words need a gain factor from a known
 * resistor (data sheet), which ad5933_calibrate() computes; it holds only
 * for the output range (out_altvoltage0_raw, in mV p-p) and PGA gain it was
 * made at, both read back into device_info at every open. libiio 0.24 can
 * not parse this device at all (issue #948), so it is opened through sysfs.
 */
#define PROFILE_INTERNAL
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

#define AD5933_MAX_FREQ_HZ	100000u
#define AD5933_MAX_INCREMENTS	511u
#define AD5933_MAX_SETTLING	2047u

/* current attribute names and the pre-2019 ones */
static const char *const ad5933_names[][2] = {
	{ "out_altvoltage0_frequency_start", "out_voltage0_freq_start" },
	{ "out_altvoltage0_frequency_increment", "out_voltage0_freq_increment" },
	{ "out_altvoltage0_frequency_points", "out_voltage0_freq_points" },
	{ "out_altvoltage0_settling_cycles", "out_voltage0_settling_cycles" },
	{ "out_altvoltage0_raw", "out_voltage0_scale" },
	{ "out_altvoltage0_scale_available", "out_voltage0_scale_available" },
};

enum { A_START, A_INC, A_POINTS, A_SETTLING, A_RANGE, A_RANGE_AVAIL };

static const char *ad5933_attr(struct device *dev, int which)
{
	return profile_attr_exists(dev, ad5933_names[which][0]) ?
	       ad5933_names[which][0] : ad5933_names[which][1];
}

static bool ad5933_match(const char *name)
{
	return strcmp(name, "ad5933") == 0 || strcmp(name, "ad5934") == 0;
}

static int ad5933_set(struct device *dev, int which, uint32_t value,
		      struct profile_error *err)
{
	const char *attr = ad5933_attr(dev, which);
	char v[16];
	int r;

	snprintf(v, sizeof(v), "%u", value);
	r = profile_attr_write(dev, attr, v);
	if (r < 0)
		return profile_fail(err, dev, r, attr, "cannot write %u: %s", value,
				    strerror(-r));
	return 0;
}

static int ad5933_excitation_ok(struct device *dev, uint32_t mv)
{
	char list[64], *tok, *save = NULL, *end;
	int r = device_attr_read(dev, ad5933_attr(dev, A_RANGE_AVAIL), list,
				 sizeof(list));

	if (r < 0)
		return r;
	for (tok = strtok_r(list, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save))
		if (strtoul(tok, &end, 10) == mv && *end == '\0')
			return 0;
	return -ERANGE;
}

/*
 * The output range and PGA gain the device runs at, as it reads them back
 * (whatever the config asked, or left): a gain factor holds only for them.
 * Unreadable or foreign values fail the open rather than leave a
 * calibration that cannot be tied to its settings.
 */
static int ad5933_read_analog(struct device *dev, struct profile_error *err)
{
	const char *attr = ad5933_attr(dev, A_RANGE);
	char pga[16];
	long mv;
	int r;

	r = profile_attr_long(dev, attr, &mv);
	if (r < 0 || mv < 1 || mv > 5000)	/* range_avail: 1980 * vdd / 3.3 V */
		return profile_fail(err, dev, r < 0 ? r : -EBADMSG, attr,
				    "unreadable excitation range");
	r = device_attr_read(dev, "in_voltage0_scale", pga, sizeof(pga));
	if (r < 0 || (strcmp(pga, "1") != 0 && strcmp(pga, "0.2") != 0))
		return profile_fail(err, dev, r < 0 ? r : -EBADMSG, "in_voltage0_scale",
				    "unreadable PGA gain (not \"1\" or \"0.2\")");
	dev->info.excitation_mv = (uint32_t)mv;
	dev->info.pga_gain = strcmp(pga, "1") == 0 ? 1 : 5;
	return 0;
}

static int ad5933_configure(struct device *dev, const struct device_config *cfg,
			    struct profile_error *err)
{
	const struct device_sweep_config *s = &cfg->sweep;
	long start, inc, points;
	size_t i, n_data = 0;
	int r;

	/* both words or nothing: ad5933_work() misreads a lone channel */
	for (i = 0; i < dev->n_elems; i++)
		if (!dev->elem[i].is_timestamp && dev->elem[i].want)
			n_data++;
	if (n_data == 1)
		return profile_fail(err, dev, -EINVAL, "channels", "enable both "
				    "voltage_real and voltage_imag (the driver reads "
				    "the wrong register for one alone)");
	for (i = 0; i < dev->n_elems; i++)
		dev->elem[i].want = !dev->elem[i].is_timestamp;

	if (s->start_hz > AD5933_MAX_FREQ_HZ || s->increment_hz > AD5933_MAX_FREQ_HZ ||
	    s->n_increments > AD5933_MAX_INCREMENTS ||
	    s->settling_cycles > AD5933_MAX_SETTLING ||
	    (s->pga_gain != 0 && s->pga_gain != 1 && s->pga_gain != 5))
		return profile_fail(err, dev, -ERANGE, "sweep", "start/increment <= "
				    "100000 Hz, increments <= 511, settling <= 2047, "
				    "pga 1 or 5");
	if (s->start_hz != 0 && (r = ad5933_set(dev, A_START, s->start_hz, err)) < 0)
		return r;
	if (s->increment_hz != 0 &&
	    (r = ad5933_set(dev, A_INC, s->increment_hz, err)) < 0)
		return r;
	if (s->n_increments != 0 &&
	    (r = ad5933_set(dev, A_POINTS, s->n_increments, err)) < 0)
		return r;
	if (s->settling_cycles != 0 &&
	    (r = ad5933_set(dev, A_SETTLING, s->settling_cycles, err)) < 0)
		return r;
	if (s->excitation_mv != 0) {
		r = ad5933_excitation_ok(dev, s->excitation_mv);
		if (r < 0)
			return profile_fail(err, dev, r, ad5933_attr(dev, A_RANGE_AVAIL),
					    "%u mV p-p is not offered", s->excitation_mv);
		r = ad5933_set(dev, A_RANGE, s->excitation_mv, err);
		if (r < 0)
			return r;
	}
	if (s->pga_gain != 0) {
		r = profile_attr_write(dev, "in_voltage0_scale",
				       s->pga_gain == 1 ? "1" : "0.2");
		if (r < 0)
			return profile_fail(err, dev, r, "in_voltage0_scale", "%s",
					    strerror(-r));
	}

	/* what the driver kept: start may read back 1 Hz low (register rounding) */
	r = profile_attr_long(dev, ad5933_attr(dev, A_START), &start);
	if (r == 0)
		r = profile_attr_long(dev, ad5933_attr(dev, A_INC), &inc);
	if (r == 0)
		r = profile_attr_long(dev, ad5933_attr(dev, A_POINTS), &points);
	if (r < 0 || start < 0 || inc < 0 || points < 0 ||
	    points > (long)AD5933_MAX_INCREMENTS)
		return profile_fail(err, dev, r < 0 ? r : -EBADMSG, "sweep",
				    "unreadable sweep settings");
	dev->sweep_start_hz = (uint32_t)start;
	dev->sweep_inc_hz = (uint32_t)inc;
	dev->info.sweep_points = (uint32_t)points + 1;
	r = ad5933_read_analog(dev, err);
	if (r < 0)
		return r;
	dev->info.rate_hz = 0;
	/* hand each point over as it comes; keep a whole sweep in the kfifo */
	dev->info.block_scans = cfg->block_scans != 0 ? cfg->block_scans : 1;
	/* a watermark above the sweep is never reached: every sweep would
	 * time out */
	if (dev->info.block_scans > dev->info.sweep_points)
		dev->info.block_scans = dev->info.sweep_points;
	if (cfg->buffer_scans == 0)
		dev->info.buffer_scans = dev->info.sweep_points;
	return 0;
}

static void ad5933_classify(struct device *dev, const struct device_config *cfg,
			    struct profile_elem *e)
{
	(void)dev;
	(void)cfg;
	e->ch.role = strstr(e->id, "imag") != NULL ? DEVICE_ROLE_BIOZ_IMAG :
		     DEVICE_ROLE_BIOZ_REAL;
	snprintf(e->ch.unit, sizeof(e->ch.unit), "count");
	e->unit_per_iio = 1.0;
}

const struct profile_ops profile_ad5933 = {
	.name = "ad5933",
	.match = ad5933_match,
	.configure = ad5933_configure,
	.classify = ad5933_classify,
};

int ad5933_frequencies(const struct device *dev, double *ret_hz, size_t max)
{
	size_t k;

	if (dev == NULL || dev->ops != &profile_ad5933)
		return -EINVAL;
	if (max < dev->info.sweep_points)
		return -ENOBUFS;
	for (k = 0; k < dev->info.sweep_points; k++)
		ret_hz[k] = (double)dev->sweep_start_hz + (double)k * dev->sweep_inc_hz;
	return (int)dev->info.sweep_points;
}

int ad5933_read_temperature(struct device *dev, double *ret_c)
{
	double scale;
	long raw;
	int r;

	if (dev == NULL || dev->ops != &profile_ad5933 || ret_c == NULL)
		return -EINVAL;
	r = profile_attr_long(dev, "in_temp_raw", &raw);
	if (r < 0)
		return r;
	r = profile_attr_double(dev, "in_temp_scale", &scale);	/* m degC */
	if (r < 0)
		return r;
	*ret_c = (double)raw * scale / 1000.0;
	return 0;
}

/* a 16-bit two's complement word at its limit: the ADC or the DFT saturated */
static bool ad5933_railed(double re, double im)
{
	return re >= 32767.0 || re <= -32768.0 || im >= 32767.0 || im <= -32768.0;
}

int ad5933_calibrate(const double *re, const double *im, size_t n,
		     double r_cal_ohm, struct ad5933_cal *ret)
{
	size_t k;

	if (re == NULL || im == NULL || ret == NULL || n == 0 ||
	    n > sizeof(ret->gain_factor) / sizeof(ret->gain_factor[0]) ||
	    !(r_cal_ohm > 0) || !isfinite(r_cal_ohm))
		return -EINVAL;
	for (k = 0; k < n; k++) {
		double m = hypot(re[k], im[k]);

		if (!(m > 0) || !isfinite(m))
			return -EINVAL;	/* a dead point */
		if (ad5933_railed(re[k], im[k]))
			return -EOVERFLOW;
	}
	for (k = 0; k < n; k++) {
		ret->gain_factor[k] = (1.0 / r_cal_ohm) / hypot(re[k], im[k]);
		ret->phase_sys_rad[k] = atan2(im[k], re[k]);
	}
	ret->n_points = n;
	return 0;
}

int ad5933_impedance(const struct ad5933_cal *cal, const double *re,
		     const double *im, size_t n, double *ret_r_ohm,
		     double *ret_x_ohm)
{
	size_t k;

	if (cal == NULL || re == NULL || im == NULL || ret_r_ohm == NULL ||
	    ret_x_ohm == NULL || n != cal->n_points)
		return -EINVAL;
	for (k = 0; k < n; k++) {
		double m = hypot(re[k], im[k]);

		if (!(m > 0) || !isfinite(m))
			return -EINVAL;
		if (ad5933_railed(re[k], im[k]))
			return -EOVERFLOW;
	}
	for (k = 0; k < n; k++) {
		double z = 1.0 / (cal->gain_factor[k] * hypot(re[k], im[k]));
		double ph = atan2(im[k], re[k]) - cal->phase_sys_rad[k];

		ret_r_ohm[k] = z * cos(ph);
		ret_x_ohm[k] = z * sin(ph);
	}
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * model.c - the simulated devices: what they are and how they probe.
 *
 * Each model mirrors one mainline driver exactly (name, channels, attribute
 * files and their modes, defaults after probe, scan types): ti-ads1298,
 * ti-ads131e08 (with its own trigger), the staging ad5933, plus a
 * configurable generic ADC. This file parses --device specs, holds the
 * drivers' arithmetic (rate dividers, frequency registers, scales) and
 * builds the umockdev record; attr.c handles what is written afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <umockdev.h>

#include "devsim.h"
#include "source.h"

#define ADS1298_CLK_HZ		2048000u
#define ADS1298_CFG1_HR		0x80u
#define ADS1298_LOWEST_DR	0x06u
#define AD5933_INT_MCLK_HZ	16776000u
#define IIO_MAJOR		241	/* dynamic on real systems; any value */

static const uint8_t ads1298_pga[] = { 6, 1, 2, 3, 4, 8, 12 };

/* ------------------------------------------------------------ numbers */

int model_parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

int model_parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* ------------------------------------------------------------ spec */

static void model_defaults(struct devsim_dev *d)
{
	d->log_fd = -1;
	d->truth_fd = -1;
	d->sp.bg_uv = d->sp.mains_uv = d->sp.mup_per_min = d->sp.lm_per_min = NAN;
	d->sp.r0_ohm = d->sp.rinf_ohm = d->sp.fc_hz = d->sp.alpha = NAN;
	d->pty = -1;
	d->slave = -1;
	d->wd_dev = d->wd_buf = d->wd_scan = -1;
	d->trig_num = -1;
	switch (d->kind) {
	case DEVSIM_ADS1298:
		d->n_channels = 8;
		d->vref_mv = 2400;
		d->pga_gain = 6;		/* CHnSET reset value: PGA field 0 */
		break;
	case DEVSIM_ADS131E08:
		d->n_channels = 8;
		d->vref_mv = 2400;
		d->pga_gain = 1;
		snprintf(d->name, sizeof(d->name), "ads131e08");
		break;
	case DEVSIM_AD5933:
		d->n_channels = 2;
		snprintf(d->name, sizeof(d->name), "ad5933");
		d->ad.mclk_hz = AD5933_INT_MCLK_HZ;
		d->ad.vdd_mv = 3300;
		d->ad.k_counts_ohm = 2e6;
		d->ad.phase_sys_rad = 0.35;
		d->ad.temp_raw = 25 * 32;
		d->ad.init_ms = 100;
		d->ad.point_ms = 10;
		break;
	case DEVSIM_GENERIC:
		d->n_channels = 8;
		snprintf(d->name, sizeof(d->name), "devsim-adc");
		snprintf(d->type_str, sizeof(d->type_str), "le:s24/32>>0");
		d->scale_mv = 0.000286102;
		d->spec_rate_hz = 1000;
		break;
	}
}

static int model_set_key(struct devsim_dev *d, const char *key, const char *val,
			 char *err, size_t errlen)
{
	uint32_t u;
	double x;
	int r = 0;

	if (strcmp(key, "seed") == 0) {
		unsigned long long s;
		char *end;

		errno = 0;
		s = strtoull(val, &end, 0);
		if (errno != 0 || *end != '\0' || end == val)
			goto bad;
		d->sp.seed = s;
	} else if ((strcmp(key, "bg_uv") == 0 || strcmp(key, "mains_uv") == 0 ||
		    strcmp(key, "mup_per_min") == 0) && d->kind != DEVSIM_AD5933) {
		if (model_parse_double(val, &x) < 0 || x < 0 || x > 1e4)
			goto bad;
		if (key[0] == 'b')
			d->sp.bg_uv = x;
		else if (key[1] == 'a')
			d->sp.mains_uv = x;
		else
			d->sp.mup_per_min = x;
	} else if (strcmp(key, "clock_ppm") == 0 && d->kind != DEVSIM_AD5933) {
		/* an oscillator off by this much: scans come this much faster
		 * (> 0) or slower than the rate says; +-5% at most */
		if (model_parse_double(val, &x) < 0 || x < -50000 || x > 50000)
			goto bad;
		d->clock_ppm = x;
	} else if (strcmp(key, "lm_per_min") == 0 && d->kind != DEVSIM_AD5933) {
		if (model_parse_double(val, &x) < 0 || x < 0 || x > 600)
			goto bad;
		d->sp.lm_per_min = x;
	} else if (strcmp(key, "leg_mask") == 0 && d->kind != DEVSIM_AD5933) {
		unsigned long long m;
		char *end;

		errno = 0;
		m = strtoull(val, &end, 0);
		if (errno != 0 || *end != '\0' || end == val || m == 0)
			goto bad;
		d->sp.leg_mask = m;
	} else if (strcmp(key, "source") == 0) {
		snprintf(d->source_spec, sizeof(d->source_spec), "%s", val);
	} else if (strcmp(key, "channels") == 0 && d->kind != DEVSIM_AD5933) {
		if (model_parse_u32(val, DEVSIM_MAX_CHANNELS, &u) < 0 || u == 0)
			goto bad;
		if (d->kind == DEVSIM_ADS1298 && u != 4 && u != 6 && u != 8)
			goto bad;
		if (d->kind == DEVSIM_ADS131E08 && u > 8)
			goto bad;
		d->n_channels = u;
	} else if (strcmp(key, "vref") == 0 && (d->kind == DEVSIM_ADS1298 ||
						d->kind == DEVSIM_ADS131E08)) {
		if (model_parse_u32(val, 10000, &u) < 0 || u == 0)
			goto bad;
		d->vref_mv = u;
	} else if (strcmp(key, "gain") == 0 && d->kind == DEVSIM_ADS1298) {
		if (model_parse_u32(val, 12, &u) < 0 ||
		    memchr(ads1298_pga, (int)u, sizeof(ads1298_pga)) == NULL)
			goto bad;
		d->pga_gain = u;
	} else if (strcmp(key, "gain") == 0 && d->kind == DEVSIM_ADS131E08) {
		if (model_parse_u32(val, 12, &u) < 0 ||
		    (u != 1 && u != 2 && u != 4 && u != 8 && u != 12))
			goto bad;
		d->pga_gain = u;
	} else if (strcmp(key, "r") == 0 && d->kind == DEVSIM_ADS1298) {
		bool b;

		if (attr_parse_bool(val, &b) < 0)
			goto bad;
		d->chip_r = b;
	} else if (strcmp(key, "chip") == 0 && d->kind == DEVSIM_ADS131E08) {
		if (strcmp(val, "ads131e04") != 0 && strcmp(val, "ads131e06") != 0 &&
		    strcmp(val, "ads131e08") != 0)
			goto bad;
		snprintf(d->name, sizeof(d->name), "%s", val);
	} else if (strcmp(key, "chip") == 0 && d->kind == DEVSIM_AD5933) {
		if (strcmp(val, "ad5933") != 0 && strcmp(val, "ad5934") != 0)
			goto bad;
		snprintf(d->name, sizeof(d->name), "%s", val);
	} else if (strcmp(key, "rate") == 0) {
		if (model_parse_u32(val, 1000000, &u) < 0 || u == 0)
			goto bad;
		d->spec_rate_hz = u;	/* Hz for every model; see model_add_to_testbed() */
	} else if (strcmp(key, "name") == 0 && d->kind == DEVSIM_GENERIC) {
		if (strlen(val) == 0 || strlen(val) >= sizeof(d->name))
			goto bad;
		snprintf(d->name, sizeof(d->name), "%s", val);
	} else if (strcmp(key, "type") == 0 && d->kind == DEVSIM_GENERIC) {
		struct scan_type t;

		if (scan_type_parse(val, &t) < 0 || t.repeat != 1)
			goto bad;
		scan_type_format(&t, d->type_str, sizeof(d->type_str));
		d->type_str[strcspn(d->type_str, "\n")] = '\0';
	} else if (strcmp(key, "scale") == 0 && d->kind == DEVSIM_GENERIC) {
		if (model_parse_double(val, &x) < 0 || !(x > 0))
			goto bad;
		d->scale_mv = x;
	} else if (strcmp(key, "rates") == 0 && d->kind == DEVSIM_GENERIC) {
		/* "500/1000/2000" -> "500 1000 2000" */
		size_t i;

		snprintf(d->rates_avail, sizeof(d->rates_avail), "%s", val);
		for (i = 0; d->rates_avail[i] != '\0'; i++)
			if (d->rates_avail[i] == '/')
				d->rates_avail[i] = ' ';
	} else if (strcmp(key, "timestamp") == 0 && d->kind == DEVSIM_GENERIC) {
		if (attr_parse_bool(val, &d->has_timestamp) < 0)
			goto bad;
	} else if (strcmp(key, "ts_offset_s") == 0 && d->kind == DEVSIM_GENERIC) {
		if (model_parse_double(val, &x) < 0 || !(fabs(x) <= 1e7))
			goto bad;
		d->ts_offset_ns = (int64_t)(x * 1e9);
	} else if (d->kind == DEVSIM_AD5933) {
		struct devsim_ad5933 *a = &d->ad;

		if (strcmp(key, "load") == 0) {
			if (strcmp(val, "cole") == 0 || strcmp(val, "body") == 0)
				a->load_r_ohm = 0;
			else if (strcmp(val, "resistor") == 0)
				a->load_r_ohm = a->load_r_ohm > 0 ? a->load_r_ohm : 1000.0;
			else
				goto bad;
			return 0;
		}
		if (model_parse_double(val, &x) < 0)
			goto bad;
		if (strcmp(key, "r") == 0 && x > 0)
			a->load_r_ohm = x;
		else if (strcmp(key, "r0") == 0 && x > 0)
			d->sp.r0_ohm = x;
		else if (strcmp(key, "rinf") == 0 && x > 0)
			d->sp.rinf_ohm = x;
		else if (strcmp(key, "fc") == 0 && x > 0)
			d->sp.fc_hz = x;
		else if (strcmp(key, "alpha") == 0 && x > 0 && x <= 1)
			d->sp.alpha = x;
		else if (strcmp(key, "k") == 0 && x > 0)
			a->k_counts_ohm = x;
		else if (strcmp(key, "phase") == 0)
			a->phase_sys_rad = x;
		else if (strcmp(key, "temp") == 0 && x > -150 && x < 150)
			a->temp_raw = (int32_t)lround(x * 32.0);
		else if (strcmp(key, "vdd") == 0 && x >= 2700 && x <= 5500)
			a->vdd_mv = (uint32_t)x;
		else if (strcmp(key, "mclk") == 0 && x >= 1e6 && x <= 2e7)
			a->mclk_hz = (uint32_t)x;
		else if (strcmp(key, "init_ms") == 0 && x >= 0 && x < 1e5)
			a->init_ms = (uint32_t)x;
		else if (strcmp(key, "point_ms") == 0 && x >= 1 && x < 1e5)
			a->point_ms = (uint32_t)x;
		else
			goto bad;
	} else {
		snprintf(err, errlen, "unknown key \"%s\"", key);
		return -EINVAL;
	}
	return r;
bad:
	snprintf(err, errlen, "bad value \"%s\" for %s", val, key);
	return -EINVAL;
}

int model_parse_spec(const char *spec, uint64_t seed, struct devsim_dev **ret,
		     char *err, size_t errlen)
{
	struct devsim_dev *d;
	char *copy, *kv, *save = NULL;
	const char *colon = strchr(spec, ':');
	size_t klen = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	int r = 0;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	if (klen == 7 && strncmp(spec, "ads1298", 7) == 0)
		d->kind = DEVSIM_ADS1298;
	else if (klen == 9 && strncmp(spec, "ads131e08", 9) == 0)
		d->kind = DEVSIM_ADS131E08;
	else if (klen == 6 && strncmp(spec, "ad5933", 6) == 0)
		d->kind = DEVSIM_AD5933;
	else if (klen == 7 && strncmp(spec, "generic", 7) == 0)
		d->kind = DEVSIM_GENERIC;
	else {
		snprintf(err, errlen, "unknown device \"%.*s\" (have: ads1298, "
			 "ads131e08, ad5933, generic)", (int)klen, spec);
		free(d);
		return -EINVAL;
	}
	model_defaults(d);
	d->sp.seed = seed;
	if (colon != NULL) {
		copy = strdup(colon + 1);
		if (copy == NULL) {
			free(d);
			return -ENOMEM;
		}
		for (kv = strtok_r(copy, ",", &save); kv != NULL;
		     kv = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(kv, '=');

			if (eq == NULL) {
				snprintf(err, errlen, "\"%s\" is not key=value", kv);
				r = -EINVAL;
				break;
			}
			*eq = '\0';
			r = model_set_key(d, kv, eq + 1, err, errlen);
			if (r < 0)
				break;
		}
		free(copy);
	}
	if (r == 0 && d->kind == DEVSIM_ADS1298)
		snprintf(d->name, sizeof(d->name), "ads129%u%s", d->n_channels,
			 d->chip_r ? "r" : "");
	if (r == 0 && d->kind == DEVSIM_ADS131E08 &&
	    d->n_channels > (unsigned int)(d->name[8] - '0')) {
		snprintf(err, errlen, "%s has only %c channels", d->name, d->name[8]);
		r = -EINVAL;
	}
	if (r < 0) {
		free(d);
		return r;
	}
	*ret = d;
	return 0;
}

/* ------------------------------------------------------------ ads1298 */

uint32_t ads1298_rate_of_cfg(uint32_t cfg1)
{
	uint32_t rate = ADS1298_CLK_HZ;

	rate >>= (cfg1 & ADS1298_CFG1_HR) ? 6 : 7;
	return rate >> (cfg1 & 7u);
}

/* ads1298_set_samp_freq(): the value is quantised to a power-of-two divider */
uint32_t ads1298_cfg_of_rate(int val)
{
	uint32_t factor = (ADS1298_CLK_HZ >> 6) / (uint32_t)val;
	uint32_t dr = 0;

	if (factor >= (1u << 7))
		return ADS1298_LOWEST_DR;
	if (factor == 0)
		return ADS1298_CFG1_HR;
	while ((factor >> (dr + 1)) != 0)
		dr++;		/* ilog2 */
	return ADS1298_CFG1_HR | dr;
}

/* ------------------------------------------------------------ ad5933 */

uint32_t ad5933_code_of_hz(const struct devsim_ad5933 *a, uint32_t f)
{
	return (uint32_t)(((uint64_t)f << 27) / (a->mclk_hz / 4));
}

uint32_t ad5933_hz_of_code(const struct devsim_ad5933 *a, uint32_t code)
{
	return (uint32_t)(((uint64_t)(code & 0xffffff) * (a->mclk_hz / 4)) >> 27);
}

/* ------------------------------------------------------------ scale/lsb */

int model_raw_bits(const struct devsim_dev *d)
{
	switch (d->kind) {
	case DEVSIM_ADS1298:
		return 24;
	case DEVSIM_ADS131E08:
		return d->rate_hz >= 32000 ? 16 : 24;	/* 2 data bytes above 16 kSPS */
	case DEVSIM_AD5933:
		return 16;
	case DEVSIM_GENERIC:
	default: {
		struct scan_type t;

		if (scan_type_parse(d->type_str, &t) < 0)
			return 24;
		return t.realbits;
	}
	}
}

/* The true size of one count in uV (the printed scale is truncated). */
double model_lsb_uv(const struct devsim_dev *d)
{
	switch (d->kind) {
	case DEVSIM_ADS1298:
		/* the driver divides in integers: (vref / gain) mV / 2^23 */
		return (double)(d->vref_mv / d->pga_gain) * 1000.0 /
		       8388608.0;
	case DEVSIM_ADS131E08:
		return (double)(d->vref_mv / d->pga_gain) * 1000.0 /
		       ldexp(1.0, model_raw_bits(d) - 1);
	case DEVSIM_GENERIC:
		return d->scale_mv * 1000.0;
	case DEVSIM_AD5933:
	default:
		return 1.0;
	}
}

/* The state right after probe (first add, and again after a vanish). */
static void model_reset_state(struct devsim_dev *d)
{
	static const uint32_t norm_3v3[4] = { 1980, 198, 383, 970 };
	unsigned int i;

	d->enabled = false;
	d->length = 2;			/* iio_kfifo_allocate() */
	d->watermark = 1;		/* iio_buffer_init() */
	switch (d->kind) {
	case DEVSIM_ADS1298:
		d->ads1298_cfg1 = ADS1298_LOWEST_DR;	/* CONFIG1 reset: 250 Hz */
		d->rate_hz = ads1298_rate_of_cfg(d->ads1298_cfg1);
		break;
	case DEVSIM_ADS131E08:
		d->rate_hz = 1000;			/* probe: 1 kSPS */
		break;
	case DEVSIM_AD5933: {
		struct devsim_ad5933 *a = &d->ad;

		for (i = 0; i < 4; i++)
			a->range_mv[i] = norm_3v3[i] * a->vdd_mv / 3300;
		a->start_code = ad5933_code_of_hz(a, 10000);	/* ad5933_setup() */
		a->inc_code = ad5933_code_of_hz(a, 200);
		a->settling_cycles = 10;
		a->n_increments = 100;
		a->range = 0;
		a->pga_x1 = false;
		d->rate_hz = 0;
		break;
	}
	case DEVSIM_GENERIC:
		if (d->rate_hz == 0)
			d->rate_hz = d->spec_rate_hz;
		break;
	}
	for (i = 0; i < d->n_elems; i++)
		d->elem[i].enabled = false;
}

/* ------------------------------------------------------------ record */

static void model_elements(struct devsim_dev *d)
{
	const char *type = NULL;
	unsigned int c;

	d->n_elems = 0;
	switch (d->kind) {
	case DEVSIM_ADS1298:
		type = "le:s24/32>>0";	/* IIO_CPU on a little-endian host */
		break;
	case DEVSIM_ADS131E08:
		type = "be:s24/32>>8";
		break;
	case DEVSIM_GENERIC:
		type = d->type_str;
		break;
	case DEVSIM_AD5933:
		/* two channels that differ only by extend_name: libiio #948 */
		snprintf(d->elem[0].prefix, DEVSIM_NAME_MAX, "in_voltage_real");
		snprintf(d->elem[1].prefix, DEVSIM_NAME_MAX, "in_voltage_imag");
		for (c = 0; c < 2; c++) {
			d->elem[c].index = (int)c;
			scan_type_parse("le:s16/16>>0", &d->elem[c].type);
		}
		d->n_elems = 2;
		return;
	}
	for (c = 0; c < d->n_channels; c++) {
		snprintf(d->elem[c].prefix, DEVSIM_NAME_MAX, "in_voltage%u", c);
		d->elem[c].index = (int)c;
		scan_type_parse(type, &d->elem[c].type);
	}
	d->n_elems = d->n_channels;
	if (d->kind == DEVSIM_GENERIC && d->has_timestamp) {
		struct devsim_elem *e = &d->elem[d->n_elems++];

		snprintf(e->prefix, DEVSIM_NAME_MAX, "in_timestamp");
		e->index = (int)d->n_channels;
		e->is_timestamp = true;
		scan_type_parse("le:s64/64>>0", &e->type);
	}
}

/* Attributes created read-only by the driver (mode 0444). */
static const char *const model_ro_attrs[] = {
	"name", "dev", "oversampling_ratio", "sampling_frequency_available",
	"in_temp_raw", "in_temp_scale", "in_voltage0_scale_available",
	"out_altvoltage0_scale_available", "buffer/data_available",
	"buffer/direction", "current_timestamp_clock",
};

static char *model_record(struct devsim_dev *d)
{
	char *rec = NULL, buf[64];
	size_t len = 0;
	unsigned int c;
	size_t i;
	FILE *f = open_memstream(&rec, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "P: %s\nN: %s\n", d->syspath + 4, d->id);
	fprintf(f, "E: DEVNAME=/dev/%s\nE: DEVTYPE=iio_device\n", d->id);
	fprintf(f, "E: MAJOR=%d\nE: MINOR=%d\nE: SUBSYSTEM=iio\n", IIO_MAJOR, d->num);
	fprintf(f, "A: dev=%d:%d\\n\nA: name=%s\\n\n", IIO_MAJOR, d->num, d->name);

	switch (d->kind) {
	case DEVSIM_ADS1298:
		for (c = 0; c < d->n_channels; c++) {
			fprintf(f, "A: in_voltage%u_raw=0\\n\n", c);
			fprintf(f, "A: in_voltage%u_scale=0\\n\n", c);
		}
		fprintf(f, "A: sampling_frequency=0\\n\nA: oversampling_ratio=0\\n\n");
		break;
	case DEVSIM_ADS131E08:
		for (c = 0; c < d->n_channels; c++) {
			fprintf(f, "A: in_voltage%u_raw=0\\n\n", c);
			fprintf(f, "A: in_voltage%u_scale=0\\n\n", c);
		}
		fprintf(f, "A: in_voltage_sampling_frequency=0\\n\n");
		fprintf(f, "A: sampling_frequency_available=1 2 4 8 16 32 64\\n\n");
		fprintf(f, "A: trigger/current_trigger=%s-dev%d\\n\n", d->name, d->num);
		break;
	case DEVSIM_AD5933:
		fprintf(f, "A: in_temp_raw=0\\n\n");
		attr_fmt_log2(buf, sizeof(buf), 1000, 5);	/* "31.250000000" */
		buf[strcspn(buf, "\n")] = '\0';
		fprintf(f, "A: in_temp_scale=%s\\n\n", buf);
		fprintf(f, "A: out_altvoltage0_frequency_start=0\\n\n");
		fprintf(f, "A: out_altvoltage0_frequency_increment=0\\n\n");
		fprintf(f, "A: out_altvoltage0_frequency_points=0\\n\n");
		fprintf(f, "A: out_altvoltage0_settling_cycles=0\\n\n");
		fprintf(f, "A: out_altvoltage0_raw=0\\n\n");
		fprintf(f, "A: out_altvoltage0_scale_available=%u %u %u %u\\n\n",
			d->ad.range_mv[0], d->ad.range_mv[3], d->ad.range_mv[2],
			d->ad.range_mv[1]);
		fprintf(f, "A: in_voltage0_scale=0\\n\n");
		fprintf(f, "A: in_voltage0_scale_available=1 0.2\\n\n");
		break;
	case DEVSIM_GENERIC:
		for (c = 0; c < d->n_channels; c++) {
			fprintf(f, "A: in_voltage%u_raw=0\\n\n", c);
			fprintf(f, "A: in_voltage%u_scale=%.9f\\n\n", c, d->scale_mv);
		}
		fprintf(f, "A: sampling_frequency=0\\n\n");
		if (d->rates_avail[0] != '\0')
			fprintf(f, "A: sampling_frequency_available=%s\\n\n",
				d->rates_avail);
		if (d->has_timestamp)
			fprintf(f, "A: current_timestamp_clock=realtime\\n\n");
		break;
	}
	fprintf(f, "A: buffer/enable=0\\n\nA: buffer/length=2\\n\n");
	fprintf(f, "A: buffer/watermark=1\\n\nA: buffer/data_available=0\\n\n");
	fprintf(f, "A: buffer/direction=in\\n\n");
	for (i = 0; i < d->n_elems; i++) {
		const struct devsim_elem *e = &d->elem[i];

		scan_type_format(&e->type, buf, sizeof(buf));
		buf[strcspn(buf, "\n")] = '\0';
		fprintf(f, "A: scan_elements/%s_en=0\\n\n", e->prefix);
		fprintf(f, "A: scan_elements/%s_index=%d\\n\n", e->prefix, e->index);
		fprintf(f, "A: scan_elements/%s_type=%s\\n\n", e->prefix, buf);
	}
	fprintf(f, "\n");
	if (d->trig_num >= 0) {
		/* the driver's own trigger, a sibling of the device */
		fprintf(f, "P: %s\nE: DEVTYPE=iio_trigger\nE: SUBSYSTEM=iio\n",
			d->trig_syspath + 4);
		fprintf(f, "A: name=%s-dev%d\\n\n\n", d->name, d->num);
	}
	if (fclose(f) != 0) {
		free(rec);
		return NULL;
	}
	return rec;
}

int model_add_to_testbed(struct devsim *ds, struct devsim_dev *d, bool first)
{
	UMockdevTestbed *tb = ds->testbed;
	GError *gerr = NULL;
	char *rec, path[PATH_MAX];
	size_t i;
	int err;

	snprintf(d->id, sizeof(d->id), "iio:device%d", d->num);
	snprintf(d->devnode, sizeof(d->devnode), "/dev/%s", d->id);
	snprintf(d->syspath, sizeof(d->syspath), "/sys/devices/%s/%s", d->parent,
		 d->id);
	snprintf(d->dir, sizeof(d->dir), "%s%s", ds->root, d->syspath);
	if (d->kind == DEVSIM_ADS131E08) {
		if (d->trig_num < 0)
			d->trig_num = ds->next_trig++;
		snprintf(d->trig_syspath, sizeof(d->trig_syspath),
			 "/sys/devices/%s/trigger%d", d->parent, d->trig_num);
	}
	model_elements(d);
	model_reset_state(d);
	rec = model_record(d);
	if (rec == NULL)
		return -ENOMEM;
	if (!umockdev_testbed_add_from_string(tb, rec, &gerr)) {
		fprintf(stderr, "twitch-devsim: umockdev rejected the record of %s: %s\n",
			d->id, gerr != NULL ? gerr->message : "?");
		g_clear_error(&gerr);
		free(rec);
		return -EINVAL;
	}
	free(rec);
	d->pty = umockdev_testbed_get_dev_fd(tb, d->devnode);
	if (d->pty < 0)
		return -ENODEV;
	/*
	 * Non-blocking so that a reader that stopped reading cannot stall us,
	 * close-on-exec so that no child keeps the pty alive after a vanish.
	 */
	if (fcntl(d->pty, F_SETFL, fcntl(d->pty, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(d->pty, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	/* our own end of the slave: tcflush() of the reader's input on enable */
	snprintf(path, sizeof(path), "%s%s", ds->root, d->devnode);
	d->slave = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (d->slave < 0)
		return -errno;
	for (i = 0; i < sizeof(model_ro_attrs) / sizeof(model_ro_attrs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->dir, model_ro_attrs[i]);
		chmod(path, 0444);
	}
	for (i = 0; i < d->n_channels && d->kind != DEVSIM_AD5933; i++) {
		snprintf(path, sizeof(path), "%s/in_voltage%zu_scale", d->dir, i);
		chmod(path, 0444);
		snprintf(path, sizeof(path), "%s/in_voltage%zu_raw", d->dir, i);
		chmod(path, 0444);
	}
	if (first && d->spec_rate_hz != 0 && d->kind != DEVSIM_AD5933) {
		/* rate= behaves like a write to the rate attribute after probe */
		char v[16];

		snprintf(v, sizeof(v), "%u", d->kind == DEVSIM_ADS131E08 ?
			 d->spec_rate_hz / 1000 : d->spec_rate_hz);
		if (attr_rate_written(d, v) < 0) {
			fprintf(stderr, "twitch-devsim: %s cannot run at %u Hz\n",
				d->name, d->spec_rate_hz);
			return -EINVAL;
		}
	}
	attr_sync_all(d);
	err = devsim_watch(ds, d);
	if (err < 0)
		return err;
	d->vanished = false;
	return 0;
}

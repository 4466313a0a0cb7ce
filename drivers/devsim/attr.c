// SPDX-License-Identifier: MIT
/*
 * attr.c - the simulated devices' attribute files and their drivers' rules.
 *
 * What each file shows (attr_value()), and what a write to it does: judged
 * the way the driver's store function would judge it, accepted values are
 * rewritten to what the driver reads back and rejected ones put back (the
 * writer was already told "success": a plain file cannot return -EINVAL,
 * the one fidelity gap of this layer). Writes reach us through inotify,
 * shortly after they happen; see main.c for how they are batched.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devsim.h"

#define AD5933_MAX_FREQ_HZ	100000u

static const uint32_t ads131e08_rates_ksps[] = { 1, 2, 4, 8, 16, 32, 64 };

/* The kernel's IIO_VAL_FRACTIONAL_LOG2 output for val > 0: "%d.%09u". */
int attr_fmt_log2(char *buf, size_t len, int val, int val2)
{
	int64_t tmp2 = ((int64_t)val * 1000000000LL) >> val2;

	return snprintf(buf, len, "%d.%09u\n", (int)(tmp2 / 1000000000LL),
			(unsigned int)(tmp2 % 1000000000LL));
}

/* iio_str_to_fixpoint() for writes through write_raw: integer part only */
static int attr_parse_fixpoint_int(const char *s, int *ret)
{
	long v;
	char *end;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || v > INT32_MAX || v < INT32_MIN)
		return -EINVAL;
	if (*end == '.') {
		end++;
		while (*end >= '0' && *end <= '9')
			end++;
	}
	if (*end != '\0')
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

/* kstrtobool() */
int attr_parse_bool(const char *s, bool *ret)
{
	switch (s[0]) {
	case 'y': case 'Y': case '1':
		*ret = true;
		return 0;
	case 'n': case 'N': case '0':
		*ret = false;
		return 0;
	case 'o': case 'O':
		if (s[1] == 'n' || s[1] == 'N') {
			*ret = true;
			return 0;
		}
		if (s[1] == 'f' || s[1] == 'F') {
			*ret = false;
			return 0;
		}
		break;
	}
	return -EINVAL;
}

/* Replace an attribute file atomically (readers see old or new). */
int attr_write(struct devsim_dev *d, const char *rel, const char *value)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32], cur[512];
	const char *slash = strrchr(rel, '/');
	size_t len = strlen(value);
	struct stat st;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->dir, rel) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, cur, sizeof(cur));
		close(fd);
		if (n == (ssize_t)len && memcmp(cur, value, len) == 0)
			return 0;	/* already so: no event loop with ourselves */
	}
	if (slash == NULL)
		snprintf(tmp, sizeof(tmp), "%s/.devsim-tmp", d->dir);
	else
		snprintf(tmp, sizeof(tmp), "%s/%.*s/.devsim-tmp", d->dir,
			 (int)(slash - rel), rel);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	if (n != (ssize_t)len) {
		int err = n < 0 ? -errno : -EIO;

		close(fd);
		unlink(tmp);
		return err;
	}
	if (stat(path, &st) == 0)
		fchmod(fd, st.st_mode & 07777);
	close(fd);
	if (rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/* The value as the kernel would see it: NULs and trailing space cut. */
static int attr_read_value(const struct devsim_dev *d, const char *rel,
			    char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", d->dir, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	n = (ssize_t)strlen(buf);		/* libiio writes "1\0" */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return (int)n;
}

static bool attr_is_garbage(const struct devsim_dev *d, const char *rel)
{
	size_t i;

	for (i = 0; i < d->n_garbage; i++)
		if (strcmp(d->garbage[i], rel) == 0)
			return true;
	return false;
}

/*
 * attr_value() - what the driver shows in @rel now.
 * Return: 0 and the text in @buf, or -ENOENT if @rel is not one of ours.
 */
static int attr_value(const struct devsim_dev *d, const char *rel, char *buf,
		       size_t len)
{
	const struct devsim_ad5933 *a = &d->ad;
	const char *p;
	size_t i;

	if (strcmp(rel, "name") == 0)
		return snprintf(buf, len, "%s\n", d->name), 0;
	if (strcmp(rel, "buffer/enable") == 0)
		return snprintf(buf, len, "%d\n", d->enabled), 0;
	if (strcmp(rel, "buffer/length") == 0)
		return snprintf(buf, len, "%u\n", d->length), 0;
	if (strcmp(rel, "buffer/watermark") == 0)
		return snprintf(buf, len, "%u\n", d->watermark), 0;
	if (strcmp(rel, "buffer/data_available") == 0)
		return snprintf(buf, len, "0\n"), 0;
	if (strcmp(rel, "buffer/direction") == 0)
		return snprintf(buf, len, "in\n"), 0;
	if (strncmp(rel, "scan_elements/", 14) == 0) {
		for (i = 0; i < d->n_elems; i++) {
			const struct devsim_elem *e = &d->elem[i];
			size_t pl = strlen(e->prefix);

			p = rel + 14;
			if (strncmp(p, e->prefix, pl) != 0 || p[pl] != '_')
				continue;	/* in_voltage1 is not in_voltage10 */
			p += pl;
			if (strcmp(p, "_en") == 0)
				return snprintf(buf, len, "%d\n", e->enabled), 0;
			if (strcmp(p, "_index") == 0)
				return snprintf(buf, len, "%d\n", e->index), 0;
			if (strcmp(p, "_type") == 0)
				return scan_type_format(&e->type, buf, len) < 0 ?
				       -ENOBUFS : 0;
		}
		return -ENOENT;
	}
	if (strncmp(rel, "in_voltage", 10) == 0 && d->kind != DEVSIM_AD5933 &&
	    rel[10] >= '0' && rel[10] <= '9') {
		char *end;
		unsigned long ch = strtoul(rel + 10, &end, 10);

		if (*end != '_' || ch >= d->n_channels)
			return -ENOENT;
		p = end;
		if (strcmp(p, "_raw") == 0)
			return snprintf(buf, len, "0\n"), 0;
		if (strcmp(p, "_scale") != 0)
			return -ENOENT;
		if (d->kind == DEVSIM_GENERIC)
			return snprintf(buf, len, "%.9f\n", d->scale_mv), 0;
		return attr_fmt_log2(buf, len, (int)(d->vref_mv / d->pga_gain),
				      model_raw_bits(d) - 1), 0;
	}

	switch (d->kind) {
	case DEVSIM_ADS1298:
		if (strcmp(rel, "sampling_frequency") == 0)
			return snprintf(buf, len, "%u\n", d->rate_hz), 0;
		if (strcmp(rel, "oversampling_ratio") == 0)
			return snprintf(buf, len, "%u\n",
					16u << (d->ads1298_cfg1 & 7u)), 0;
		break;
	case DEVSIM_ADS131E08:
		if (strcmp(rel, "in_voltage_sampling_frequency") == 0)
			return snprintf(buf, len, "%u\n", d->rate_hz / 1000), 0;
		if (strcmp(rel, "sampling_frequency_available") == 0)
			return snprintf(buf, len, "1 2 4 8 16 32 64\n"), 0;
		if (strcmp(rel, "trigger/current_trigger") == 0)
			return snprintf(buf, len, "%s-dev%d\n", d->name, d->num), 0;
		break;
	case DEVSIM_AD5933:
		if (strcmp(rel, "out_altvoltage0_frequency_start") == 0)
			return snprintf(buf, len, "%u\n",
					ad5933_hz_of_code(a, a->start_code)), 0;
		if (strcmp(rel, "out_altvoltage0_frequency_increment") == 0)
			return snprintf(buf, len, "%u\n",
					ad5933_hz_of_code(a, a->inc_code)), 0;
		if (strcmp(rel, "out_altvoltage0_frequency_points") == 0)
			return snprintf(buf, len, "%u\n", a->n_increments), 0;
		if (strcmp(rel, "out_altvoltage0_settling_cycles") == 0)
			return snprintf(buf, len, "%u\n", a->settling_cycles), 0;
		if (strcmp(rel, "out_altvoltage0_raw") == 0)
			return snprintf(buf, len, "%u\n", a->range_mv[a->range]), 0;
		if (strcmp(rel, "out_altvoltage0_scale_available") == 0)
			return snprintf(buf, len, "%u %u %u %u\n", a->range_mv[0],
					a->range_mv[3], a->range_mv[2],
					a->range_mv[1]), 0;
		if (strcmp(rel, "in_voltage0_scale") == 0)
			return snprintf(buf, len, "%s\n", a->pga_x1 ? "1" : "0.2"), 0;
		if (strcmp(rel, "in_voltage0_scale_available") == 0)
			return snprintf(buf, len, "1 0.2\n"), 0;
		if (strcmp(rel, "in_temp_raw") == 0)
			return snprintf(buf, len, "%d\n", a->temp_raw), 0;
		if (strcmp(rel, "in_temp_scale") == 0)
			return attr_fmt_log2(buf, len, 1000, 5), 0;	/* 31.25 */
		break;
	case DEVSIM_GENERIC:
		if (strcmp(rel, "sampling_frequency") == 0)
			return snprintf(buf, len, "%u\n", d->rate_hz), 0;
		if (strcmp(rel, "sampling_frequency_available") == 0 &&
		    d->rates_avail[0] != '\0')
			return snprintf(buf, len, "%s\n", d->rates_avail), 0;
		if (strcmp(rel, "current_timestamp_clock") == 0)
			return -ENOENT;		/* writable, kept as written */
		break;
	}
	return -ENOENT;
}

/* files a client writes to drive the buffer */
static bool attr_is_control(const char *rel)
{
	return strncmp(rel, "buffer/", 7) == 0 || strncmp(rel, "scan_elements/", 14) == 0;
}

/* does @v (stripped) already say what the driver shows for @rel? */
static bool attr_shows(const struct devsim_dev *d, const char *rel, const char *v)
{
	char buf[256];
	size_t n;

	if (attr_value(d, rel, buf, sizeof(buf)) < 0)
		return true;
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return strcmp(buf, v) == 0;
}

/*
 * attr_sync() - make @rel show what the driver would show. Only that file:
 * rewriting others could wipe a write whose event we have not read yet.
 * Files held by the garbage fault are left alone.
 */
static void attr_sync(struct devsim_dev *d, const char *rel)
{
	char buf[256];

	if (attr_is_garbage(d, rel))
		return;
	if (attr_value(d, rel, buf, sizeof(buf)) == 0)
		attr_write(d, rel, buf);
}

/* Every attribute, at probe or after the garbage fault ends. */
void attr_sync_all(struct devsim_dev *d)
{
	static const char *const names[] = {
		"name", "buffer/enable", "buffer/length", "buffer/watermark",
		"buffer/data_available", "buffer/direction", "sampling_frequency",
		"oversampling_ratio", "in_voltage_sampling_frequency",
		"sampling_frequency_available", "trigger/current_trigger",
		"out_altvoltage0_frequency_start",
		"out_altvoltage0_frequency_increment",
		"out_altvoltage0_frequency_points", "out_altvoltage0_settling_cycles",
		"out_altvoltage0_raw", "out_altvoltage0_scale_available",
		"in_voltage0_scale", "in_voltage0_scale_available", "in_temp_raw",
		"in_temp_scale",
	};
	char rel[96];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		attr_sync(d, names[i]);
	for (i = 0; i < d->n_elems; i++) {
		snprintf(rel, sizeof(rel), "scan_elements/%s_en", d->elem[i].prefix);
		attr_sync(d, rel);
		snprintf(rel, sizeof(rel), "scan_elements/%s_index", d->elem[i].prefix);
		attr_sync(d, rel);
		snprintf(rel, sizeof(rel), "scan_elements/%s_type", d->elem[i].prefix);
		attr_sync(d, rel);
	}
	for (i = 0; i < d->n_channels && d->kind != DEVSIM_AD5933; i++) {
		snprintf(rel, sizeof(rel), "in_voltage%zu_scale", i);
		attr_sync(d, rel);
	}
}

/* fault: hold @rel at @value until cleared (@value NULL: clear, resync) */
int attr_garbage(struct devsim_dev *d, const char *rel, const char *value)
{
	char path[PATH_MAX];
	size_t i;

	if (strstr(rel, "..") != NULL || rel[0] == '/')
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", d->dir, rel);
	if (access(path, F_OK) < 0)
		return -ENOENT;
	for (i = 0; i < d->n_garbage; i++)
		if (strcmp(d->garbage[i], rel) == 0)
			break;
	if (value == NULL) {
		if (i == d->n_garbage)
			return -ENOENT;
		memmove(d->garbage[i], d->garbage[i + 1],
			(d->n_garbage - i - 1) * sizeof(d->garbage[0]));
		d->n_garbage--;
		attr_sync_all(d);
		return 0;
	}
	if (i == d->n_garbage) {
		if (d->n_garbage == sizeof(d->garbage) / sizeof(d->garbage[0]) ||
		    strlen(rel) >= sizeof(d->garbage[0]))
			return -ENOSPC;
		snprintf(d->garbage[d->n_garbage++], sizeof(d->garbage[0]), "%s", rel);
	}
	return attr_write(d, rel, value);
}

/* ------------------------------------------------------------ writes */

/*
 * attr_refresh() - at buffer enable, take the rate and buffer settings from
 * the files as they are now: the writer may have set them just before the
 * enable, faster than their inotify events reached us.
 */
void attr_refresh(struct devsim *ds, struct devsim_dev *d)
{
	static const char *const rels[] = {
		"sampling_frequency", "in_voltage_sampling_frequency",
		"buffer/length", "buffer/watermark",
	};
	size_t i;

	for (i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
		char v[64];

		if (attr_value(d, rels[i], v, sizeof(v)) == 0 &&
		    attr_read_value(d, rels[i], v, sizeof(v)) >= 0)
			attr_written(ds, d, rels[i]);
	}
}

int attr_rate_written(struct devsim_dev *d, const char *v)
{
	int val;
	uint32_t k, i;

	if (attr_parse_fixpoint_int(v, &val) < 0)
		return -EINVAL;
	switch (d->kind) {
	case DEVSIM_ADS1298:
		if (val <= 0)
			return -EINVAL;
		d->ads1298_cfg1 = ads1298_cfg_of_rate(val);
		d->rate_hz = ads1298_rate_of_cfg(d->ads1298_cfg1);
		return 0;
	case DEVSIM_ADS131E08:
		if (d->enabled)
			return -EBUSY;		/* iio_device_claim_direct_mode() */
		for (i = 0; i < sizeof(ads131e08_rates_ksps) / sizeof(uint32_t); i++)
			if (ads131e08_rates_ksps[i] == (uint32_t)val)
				break;
		if (val <= 0 || i == sizeof(ads131e08_rates_ksps) / sizeof(uint32_t))
			return -EINVAL;	/* kSPS, not Hz: "4000" is refused */
		k = (uint32_t)val;
		d->rate_hz = k * 1000;
		return 0;
	case DEVSIM_GENERIC:
		if (val <= 0)
			return -EINVAL;
		if (d->rates_avail[0] != '\0') {
			char list[sizeof(d->rates_avail)], *tok, *save = NULL;
			bool found = false;

			memcpy(list, d->rates_avail, sizeof(list));
			for (tok = strtok_r(list, " ", &save); tok != NULL;
			     tok = strtok_r(NULL, " ", &save))
				if (strtol(tok, NULL, 10) == val)
					found = true;
			if (!found)
				return -EINVAL;
		}
		d->rate_hz = (uint32_t)val;
		return 0;
	case DEVSIM_AD5933:
	default:
		return -EINVAL;
	}
}

static int attr_ad5933_written(struct devsim_dev *d, const char *file,
				const char *v)
{
	struct devsim_ad5933 *a = &d->ad;
	uint32_t u, i;

	if (d->enabled)
		return -EBUSY;		/* every store claims direct mode */
	if (strcmp(file, "in_voltage0_scale") == 0) {
		if (strcmp(v, "1") == 0)
			a->pga_x1 = true;
		else if (strcmp(v, "0.2") == 0)
			a->pga_x1 = false;
		else
			return -EINVAL;
		return 0;
	}
	if (strcmp(file, "out_altvoltage0_frequency_start") == 0 ||
	    strcmp(file, "out_altvoltage0_frequency_increment") == 0) {
		if (model_parse_u32(v, UINT32_MAX, &u) < 0 || u > AD5933_MAX_FREQ_HZ)
			return -EINVAL;
		if (strstr(file, "start") != NULL)
			a->start_code = ad5933_code_of_hz(a, u);
		else
			a->inc_code = ad5933_code_of_hz(a, u);
		return 0;
	}
	/* kstrtou16() */
	if (model_parse_u32(v, UINT16_MAX, &u) < 0)
		return -EINVAL;
	if (strcmp(file, "out_altvoltage0_frequency_points") == 0) {
		a->n_increments = u > 511 ? 511 : u;
		return 0;
	}
	if (strcmp(file, "out_altvoltage0_settling_cycles") == 0) {
		a->settling_cycles = u > 0x7ff ? 0x7ff : u;
		return 0;
	}
	if (strcmp(file, "out_altvoltage0_raw") == 0) {
		for (i = 0; i < 4; i++)
			if (u == a->range_mv[i]) {
				a->range = i;
				return 0;
			}
		return -EINVAL;
	}
	return -EACCES;
}

static int attr_buffer_written(struct devsim *ds, struct devsim_dev *d,
				const char *file, const char *v)
{
	uint32_t u;
	bool b;

	if (strcmp(file, "enable") == 0) {
		if (attr_parse_bool(v, &b) < 0)
			return -EINVAL;
		if (b == d->enabled)
			return 0;
		if (b)
			return stream_enable(ds, d);
		stream_disable(ds, d, "buffer/enable=0");
		return 0;
	}
	if (strcmp(file, "length") == 0) {
		if (model_parse_u32(v, UINT32_MAX, &u) < 0)
			return -EINVAL;
		if (u == d->length)
			return 0;
		if (d->enabled)
			return -EBUSY;
		d->length = u < 2 ? 2 : u;	/* iio_set_length_kfifo() */
		if (d->watermark > d->length)
			d->watermark = d->length;
		return 0;
	}
	if (strcmp(file, "watermark") == 0) {
		if (model_parse_u32(v, UINT32_MAX, &u) < 0 || u == 0)
			return -EINVAL;
		if (u == d->watermark)
			return 0;
		if (d->enabled)
			return -EBUSY;
		if (u > d->length)
			return -EINVAL;
		d->watermark = u;
		return 0;
	}
	return -EACCES;		/* data_available, direction */
}

static int attr_scan_written(struct devsim_dev *d, const char *file,
			      const char *v)
{
	size_t i, plen;
	bool b;

	for (i = 0; i < d->n_elems; i++) {
		plen = strlen(d->elem[i].prefix);
		if (strncmp(file, d->elem[i].prefix, plen) != 0 || file[plen] != '_')
			continue;
		if (strcmp(file + plen, "_en") != 0)
			return -EACCES;		/* _index and _type are 0444 */
		if (attr_parse_bool(v, &b) < 0)
			return -EINVAL;
		if (b == d->elem[i].enabled)
			return 0;
		if (d->enabled)
			return -EBUSY;
		d->elem[i].enabled = b;
		return 0;
	}
	return -ENOENT;
}

int attr_written(struct devsim *ds, struct devsim_dev *d, const char *rel)
{
	const char *file = strrchr(rel, '/') != NULL ? strrchr(rel, '/') + 1 : rel;
	char v[256], shown[256];
	uint32_t wm_before;
	int err, n;

	if (strncmp(file, ".devsim-tmp", 11) == 0)
		return 0;
	n = attr_read_value(d, rel, v, sizeof(v));
	if (n < 0)
		return 0;		/* vanished meanwhile */
	/*
	 * Empty: we looked between the writer's O_TRUNC and its write(). Its
	 * close brings another event; rewriting the file now would even put
	 * a new inode under the writer and lose its write.
	 */
	if (n == 0)
		return 0;
	wm_before = d->watermark;

	if (strncmp(rel, "buffer/", 7) == 0)
		err = attr_buffer_written(ds, d, file, v);
	else if (strncmp(rel, "scan_elements/", 14) == 0)
		err = attr_scan_written(d, file, v);
	else if (strcmp(file, "sampling_frequency") == 0 ||
		 strcmp(file, "in_voltage_sampling_frequency") == 0)
		err = attr_rate_written(d, v);
	else if (d->kind == DEVSIM_AD5933 && strcmp(file, "in_temp_raw") != 0 &&
		 (strncmp(file, "out_altvoltage0_", 16) == 0 ||
		  strcmp(file, "in_voltage0_scale") == 0))
		err = attr_ad5933_written(d, file, v);
	else if (strncmp(rel, "trigger/", 8) == 0 || strcmp(file, "uevent") == 0 ||
		 strcmp(file, "current_timestamp_clock") == 0)
		return 0;		/* kept as written */
	else
		err = -EACCES;		/* read-only or not an attribute */

	/*
	 * What does the driver show now, in this file and the ones it moves?
	 * The buffer controls are left as written when the value stands
	 * ("1\0" is 1): the writer may be writing them again right now, and
	 * a file replaced under an open writer loses that write.
	 */
	if (err != 0 || !attr_is_control(rel) || !attr_shows(d, rel, v))
		attr_sync(d, rel);
	if (d->watermark != wm_before)		/* length pulled it down */
		attr_sync(d, "buffer/watermark");
	if (err == 0 && strcmp(rel, "sampling_frequency") == 0)
		attr_sync(d, "oversampling_ratio");
	if (err == 0 && d->kind == DEVSIM_ADS131E08 &&
	    strcmp(rel, "in_voltage_sampling_frequency") == 0) {
		char sc[32];
		unsigned int c;

		for (c = 0; c < d->n_channels; c++) {	/* 16-bit data above 16 kSPS */
			snprintf(sc, sizeof(sc), "in_voltage%u_scale", c);
			attr_sync(d, sc);
		}
	}
	if (err < 0 && err != -EACCES) {
		n = attr_read_value(d, rel, shown, sizeof(shown));
		devsim_event(ds, d, "attr-rejected file=%s value=\"%s\" err=%d shown=\"%s\"",
			     rel, v, err, n >= 0 ? shown : "?");
	} else if (err == 0) {
		devsim_event(ds, d, "attr file=%s value=\"%s\"", rel, v);
	}
	return 0;
}


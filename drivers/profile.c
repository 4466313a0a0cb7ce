// SPDX-License-Identifier: MIT
/*
 * profile.c - open, configure, start and decode an IIO front end.
 *
 * Discovery goes through libiio (local: or ip:); on a machine whose sysfs
 * libiio 0.24 refuses (EINVAL, issue #948) local devices are read from sysfs
 * directly (sysfs.c). Every scale, offset, label and scan type comes from
 * the device. Local streaming never uses libiio's buffer: we enable the scan
 * elements and the buffer in sysfs and open the node ourselves, so one fd,
 * one layout (the kernel's, not libiio 0.24's) and one code path serve both
 * cases. Remote streaming uses libiio's network buffer on a refill thread.
 */
#define PROFILE_INTERNAL
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <iio.h>

#include "profile.h"

static const struct profile_ops *const profile_all[] = {
	&profile_ads1298, &profile_ads131e08, &profile_ad5933, &profile_generic,
};

/* ------------------------------------------------------------ errors */

/* bounded copy; returns -ENAMETOOLONG instead of truncating */
static int profile_copy(char *dst, size_t size, const char *prefix,
			const char *src)
{
	size_t pl = strlen(prefix), sl = strlen(src);

	if (pl + sl >= size)
		return -ENAMETOOLONG;
	memcpy(dst, prefix, pl);
	memcpy(dst + pl, src, sl + 1);
	return 0;
}

int profile_fail(struct profile_error *err, const struct device *dev, int code,
		 const char *what, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	if (dev != NULL)
		snprintf(err->where, sizeof(err->where), "%s %s (%s)", dev->uri,
			 dev->info.id[0] != '\0' ? dev->info.id : "?",
			 dev->info.name[0] != '\0' ? dev->info.name : "?");
	snprintf(err->what, sizeof(err->what), "%s", what != NULL ? what : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int profile_strerror(const struct profile_error *err, char *buf, size_t len)
{
	return snprintf(buf, len, "%s: %s%s%s", err->where, err->what,
			err->what[0] != '\0' ? ": " : "", err->msg);
}

/* ------------------------------------------------------------ attributes */

/* libiio: which device, buffer or channel attribute has this sysfs file name */
static int profile_iio_attr(struct device *dev, const char *file,
			    struct iio_channel **ret_chn, const char **ret_attr,
			    bool *ret_buffer)
{
	unsigned int i, j, nc = iio_device_get_channels_count(dev->idev);
	const char *a;

	*ret_buffer = false;
	*ret_chn = NULL;
	if (strncmp(file, "buffer/", 7) == 0) {
		a = iio_device_find_buffer_attr(dev->idev, file + 7);
		*ret_buffer = true;
		*ret_attr = a;
		return a != NULL ? 0 : -ENOENT;
	}
	a = iio_device_find_attr(dev->idev, file);
	if (a != NULL) {
		*ret_attr = a;
		return 0;
	}
	for (i = 0; i < nc; i++) {
		struct iio_channel *c = iio_device_get_channel(dev->idev, i);
		unsigned int na = iio_channel_get_attrs_count(c);

		for (j = 0; j < na; j++) {
			const char *fn;

			a = iio_channel_get_attr(c, j);
			fn = iio_channel_attr_get_filename(c, a);
			if (fn != NULL && strcmp(fn, file) == 0) {
				*ret_chn = c;
				*ret_attr = a;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int device_attr_read(struct device *dev, const char *file, char *buf, size_t len)
{
	struct iio_channel *chn;
	const char *attr;
	bool is_buf;
	ssize_t n;
	int err;

	if (dev == NULL || file == NULL || buf == NULL || len == 0)
		return -EINVAL;
	if (dev->ctx == NULL)
		return sysfs_read(dev->dir, file, buf, len);
	err = profile_iio_attr(dev, file, &chn, &attr, &is_buf);
	if (err < 0)
		return err;
	if (is_buf)
		n = iio_device_buffer_attr_read(dev->idev, attr, buf, len);
	else if (chn != NULL)
		n = iio_channel_attr_read(chn, attr, buf, len);
	else
		n = iio_device_attr_read(dev->idev, attr, buf, len);
	if (n < 0)
		return (int)n;
	if ((size_t)n >= len)
		return -EOVERFLOW;	/* libiio cut it to the buffer */
	buf[len - 1] = '\0';
	n = (ssize_t)strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return (int)n;
}

int profile_attr_write(struct device *dev, const char *file, const char *value)
{
	struct iio_channel *chn;
	const char *attr;
	bool is_buf;
	ssize_t n;
	int err;

	if (dev->ctx == NULL)
		return sysfs_write(dev->dir, file, value);
	err = profile_iio_attr(dev, file, &chn, &attr, &is_buf);
	if (err < 0)
		return err;
	if (is_buf)
		n = iio_device_buffer_attr_write(dev->idev, attr, value);
	else if (chn != NULL)
		n = iio_channel_attr_write(chn, attr, value);
	else
		n = iio_device_attr_write(dev->idev, attr, value);
	return n < 0 ? (int)n : 0;
}

bool profile_attr_exists(struct device *dev, const char *file)
{
	struct iio_channel *chn;
	const char *attr;
	bool is_buf;

	if (dev->ctx == NULL)
		return sysfs_exists(dev->dir, file);
	return profile_iio_attr(dev, file, &chn, &attr, &is_buf) == 0;
}

/* strtod in the C locale: a daemon under LC_NUMERIC=de_DE reads "0.2" too */
int profile_strtod(const char *s, double *ret)
{
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	char *end;
	double v;

	if (c == (locale_t)0)
		return -ENOMEM;
	errno = 0;
	v = strtod_l(s, &end, c);
	freelocale(c);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
		return -EBADMSG;	/* "inf" too: every sample would be inf */
	*ret = v;
	return 0;
}

int profile_attr_double(struct device *dev, const char *file, double *ret)
{
	char buf[128];
	int n = device_attr_read(dev, file, buf, sizeof(buf));

	if (n < 0)
		return n;
	return profile_strtod(buf, ret);
}

int profile_attr_long(struct device *dev, const char *file, long *ret)
{
	char buf[64], *end;
	long v;
	int n = device_attr_read(dev, file, buf, sizeof(buf));

	if (n < 0)
		return n;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || *end != '\0')
		return -EBADMSG;
	*ret = v;
	return 0;
}

/* ------------------------------------------------------------ discovery */

struct profile_pick {
	const struct profile_ops *ops;	/* NULL: auto */
};

static const struct profile_ops *profile_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(profile_all) / sizeof(profile_all[0]); i++)
		if (strcmp(profile_all[i]->name, name) == 0)
			return profile_all[i];
	return NULL;
}

static const struct profile_ops *profile_auto(const char *name)
{
	size_t i;

	for (i = 0; i + 1 < sizeof(profile_all) / sizeof(profile_all[0]); i++)
		if (profile_all[i]->match(name))
			return profile_all[i];
	return &profile_generic;
}

/* With no device named: the first the wanted profile (or any) matches. */
static bool profile_accept(const char *name, void *userdata)
{
	const struct profile_pick *p = userdata;

	if (p->ops == NULL)
		return profile_auto(name) != &profile_generic;
	return p->ops->match(name);
}

static int profile_find_iio(struct device *dev, const char *key,
			    struct profile_pick *pick)
{
	unsigned int i, n = iio_context_get_devices_count(dev->ctx);

	if (key != NULL) {
		dev->idev = iio_context_find_device(dev->ctx, key);
		return dev->idev != NULL ? 0 : -ENODEV;
	}
	for (i = 0; i < n; i++) {
		struct iio_device *d = iio_context_get_device(dev->ctx, i);
		const char *name = iio_device_get_name(d);

		if (name != NULL && !iio_device_is_trigger(d) &&
		    profile_accept(name, pick)) {
			dev->idev = d;
			return 0;
		}
	}
	return -ENODEV;
}

static void profile_type_from_iio(const struct iio_data_format *f,
				  struct scan_type *t)
{
	t->is_be = f->is_be;
	t->is_signed = f->is_signed;
	t->realbits = (uint8_t)f->bits;
	t->storagebits = (uint8_t)f->length;
	t->shift = (uint8_t)f->shift;
	t->repeat = (uint16_t)(f->repeat > 0 ? f->repeat : 1);
}

static int profile_elems_iio(struct device *dev)
{
	unsigned int i, n = iio_device_get_channels_count(dev->idev);

	dev->n_elems = 0;
	for (i = 0; i < n; i++) {
		struct iio_channel *c = iio_device_get_channel(dev->idev, i);
		struct profile_elem *e;

		if (!iio_channel_is_scan_element(c) || iio_channel_is_output(c))
			continue;
		if (dev->n_elems == SCAN_MAX_ELEMENTS)
			return -E2BIG;
		e = &dev->elem[dev->n_elems++];
		memset(e, 0, sizeof(*e));
		if (profile_copy(e->id, sizeof(e->id), "", iio_channel_get_id(c)) < 0 ||
		    profile_copy(e->prefix, sizeof(e->prefix), "in_", e->id) < 0)
			return -ENAMETOOLONG;
		e->index = (int32_t)iio_channel_get_index(c);
		profile_type_from_iio(iio_channel_get_data_format(c), &e->type);
		e->is_timestamp = strcmp(e->id, "timestamp") == 0;
	}
	return 0;
}

static int profile_elems_sysfs(struct device *dev, struct profile_error *err)
{
	struct sysfs_elem se[SCAN_MAX_ELEMENTS];
	char bad[96];
	int i, n;

	n = sysfs_scan_elements(dev->dir, se, SCAN_MAX_ELEMENTS, bad, sizeof(bad));
	if (n < 0)
		return profile_fail(err, dev, n, bad, "cannot read the scan element: %s",
				    strerror(-n));
	dev->n_elems = 0;
	for (i = 0; i < n; i++) {
		struct profile_elem *e = &dev->elem[dev->n_elems];

		if (strncmp(se[i].prefix, "in_", 3) != 0)
			continue;	/* an output buffer's element */
		memset(e, 0, sizeof(*e));
		if (profile_copy(e->prefix, sizeof(e->prefix), "", se[i].prefix) < 0 ||
		    profile_copy(e->id, sizeof(e->id), "", se[i].prefix + 3) < 0)
			return profile_fail(err, dev, -ENAMETOOLONG, se[i].prefix,
					    "channel name too long");
		e->index = se[i].index;
		e->type = se[i].type;
		e->is_timestamp = strcmp(e->id, "timestamp") == 0;
		dev->n_elems++;
	}
	return 0;
}

/* "<prefix>_<attr>", else shared by type: "in_voltage12_scale" -> "in_voltage_scale" */
static int profile_chan_attr(struct device *dev, const struct profile_elem *e,
			     const char *attr, char *ret_file, size_t len)
{
	char shared[SYSFS_PREFIX_MAX];
	size_t n;

	snprintf(ret_file, len, "%s_%s", e->prefix, attr);
	if (profile_attr_exists(dev, ret_file))
		return 0;
	snprintf(shared, sizeof(shared), "%s", e->prefix);
	n = strlen(shared);
	while (n > 0 && shared[n - 1] >= '0' && shared[n - 1] <= '9')
		shared[--n] = '\0';
	snprintf(ret_file, len, "%s_%s", shared, attr);
	if (n < strlen(e->prefix) && profile_attr_exists(dev, ret_file))
		return 0;
	return -ENOENT;
}

static int profile_channel_meta(struct device *dev, const struct device_config *cfg,
				struct profile_elem *e, struct profile_error *err)
{
	struct device_channel *ch = &e->ch;
	char file[96], label[DEVICE_NAME_MAX];
	int r;

	memset(ch, 0, sizeof(*ch));
	snprintf(ch->id, sizeof(ch->id), "%s", e->id);
	ch->index = e->index;
	ch->type = e->type;
	ch->scale = 1.0;
	e->unit_per_iio = 1.0;
	snprintf(ch->unit, sizeof(ch->unit), "count");
	dev->ops->classify(dev, cfg, e);

	if (profile_chan_attr(dev, e, "scale", file, sizeof(file)) == 0) {
		r = profile_attr_double(dev, file, &ch->scale);
		if (r < 0)
			return profile_fail(err, dev, r, file, "%s",
					    r == -EBADMSG ? "not a number" : strerror(-r));
		if (!(ch->scale > 0))
			return profile_fail(err, dev, -EBADMSG, file,
					    "scale %g is not positive", ch->scale);
	} else if (ch->role == DEVICE_ROLE_EMG || ch->role == DEVICE_ROLE_OTHER) {
		/* never assume a scale: a voltage without one is unusable */
		return profile_fail(err, dev, -EBADMSG, e->prefix,
				    "the device has no scale for this channel");
	}
	if (profile_chan_attr(dev, e, "offset", file, sizeof(file)) == 0) {
		r = profile_attr_double(dev, file, &ch->offset);
		if (r < 0)
			return profile_fail(err, dev, r, file, "%s",
					    r == -EBADMSG ? "not a number" : strerror(-r));
	}
	snprintf(file, sizeof(file), "%s_label", e->prefix);
	if (ch->label[0] == '\0' && device_attr_read(dev, file, label, sizeof(label)) > 0)
		snprintf(ch->label, sizeof(ch->label), "%s", label);
	if (ch->label[0] == '\0')
		snprintf(ch->label, sizeof(ch->label), "%s", e->id);
	ch->gain = ch->scale * e->unit_per_iio;
	return 0;
}

static int profile_select(struct device *dev, const struct device_config *cfg,
			  struct profile_error *err)
{
	size_t i, j;

	for (i = 0; i < dev->n_elems; i++)
		dev->elem[i].want = cfg->channels == NULL && !dev->elem[i].is_timestamp;
	for (j = 0; cfg->channels != NULL && j < cfg->n_channels; j++) {
		for (i = 0; i < dev->n_elems; i++)
			if (strcmp(dev->elem[i].id, cfg->channels[j]) == 0)
				break;
		if (i == dev->n_elems || dev->elem[i].is_timestamp)
			return profile_fail(err, dev, -ENODEV, cfg->channels[j],
					    "no such buffered input channel");
		dev->elem[i].want = true;
	}
	for (i = 0; i < dev->n_elems; i++)
		if (dev->elem[i].is_timestamp)
			dev->elem[i].want = !cfg->no_timestamp;
	return 0;
}

static int profile_build_layout(struct device *dev, const struct device_config *cfg,
				struct profile_error *err)
{
	struct scan_element in[SCAN_MAX_ELEMENTS];
	struct scan_conv conv[SCAN_MAX_ELEMENTS];
	size_t i, j, n = 0;
	int ts = -1, r;

	for (i = 0; i < dev->n_elems; i++) {
		if (!dev->elem[i].want)
			continue;
		in[n].index = dev->elem[i].index;
		in[n].type = dev->elem[i].type;
		n++;
	}
	if (n == 0)
		return profile_fail(err, dev, -EINVAL, "channels", "nothing to enable");
	r = scan_layout_compute(in, n, SCAN_RULE_KERNEL, &dev->layout);
	if (r < 0)
		return profile_fail(err, dev, r, "scan_elements", "%s", strerror(-r));

	dev->info.n_channels = 0;
	dev->info.has_timestamp = false;
	for (j = 0; j < dev->layout.n_elements; j++) {
		struct profile_elem *e = NULL;

		for (i = 0; i < dev->n_elems; i++)
			if (dev->elem[i].want && dev->elem[i].index == dev->layout.el[j].index)
				e = &dev->elem[i];
		if (e->is_timestamp) {
			ts = (int)j;
			dev->info.has_timestamp = true;
			conv[j].offset = 0;
			conv[j].gain = 1;
			continue;
		}
		if (e->type.repeat != 1)
			return profile_fail(err, dev, -ENOTSUP, e->prefix,
					    "repeated scan elements are not supported");
		if (dev->info.n_channels == DEVICE_MAX_CHANNELS)
			return profile_fail(err, dev, -E2BIG, e->prefix,
					    "more than %d channels", DEVICE_MAX_CHANNELS);
		r = profile_channel_meta(dev, cfg, e, err);
		if (r < 0)
			return r;
		dev->ch[dev->info.n_channels++] = e->ch;
		conv[j].offset = e->ch.offset;
		conv[j].gain = e->ch.gain;
	}
	r = scan_decoder_init(&dev->dec, &dev->layout, conv, ts);
	if (r < 0)
		return profile_fail(err, dev, r, "scan_elements", "%s", strerror(-r));
	dev->info.channels = dev->ch;
	dev->info.layout = &dev->layout;
	return 0;
}

/* Make the timestamps CLOCK_MONOTONIC (the default is realtime). */
static void profile_timestamp_clock(struct device *dev)
{
	char buf[16];

	if (!dev->info.has_timestamp ||
	    !profile_attr_exists(dev, "current_timestamp_clock"))
		return;
	if (profile_attr_write(dev, "current_timestamp_clock", "monotonic") == 0)
		snprintf(dev->info.timestamp_clock, sizeof(dev->info.timestamp_clock),
			 "monotonic");
	else if (device_attr_read(dev, "current_timestamp_clock", buf, sizeof(buf)) > 0)
		snprintf(dev->info.timestamp_clock, sizeof(dev->info.timestamp_clock),
			 "%s", buf);
}

/*
 * The kernel buffer: 4 blocks, and at least 200 ms of scans, so that small
 * blocks do not make the loop's scheduling latency a source of overflows.
 */
static uint32_t profile_default_buffer(double rate_hz, uint32_t block_scans)
{
	uint64_t scans = 4 * (uint64_t)block_scans;
	uint64_t floor_scans = (uint64_t)(rate_hz / 5.0);

	if (scans < floor_scans)
		scans = floor_scans;
	return scans > UINT32_MAX ? UINT32_MAX : (uint32_t)scans;
}

/*
 * Before the settings: a buffer left enabled by a twitchd that was killed
 * (buffer/enable outlives the process) makes the driver refuse them (EBUSY
 * from iio_device_claim_direct_mode(): the ADS131E08's rate, every AD5933
 * attribute). It is turned off, but only while we hold the device node,
 * which the kernel gives to one process at a time: another program's
 * stream (iiod, a second twitchd) is never stopped: we get its EBUSY.
 */
static int profile_claim_local(struct device *dev, struct profile_error *err)
{
	int r, fd = sysfs_open_node(dev->info.id);

	if (fd < 0)
		return profile_fail(err, dev, fd, "/dev/", "cannot open the device node "
				    "of %s: %s", dev->info.id, fd == -EBUSY ?
				    "another program holds it" : strerror(-fd));
	r = sysfs_write(dev->dir, "buffer/enable", "0");
	close(fd);
	if (r < 0 && r != -ENOENT)
		return profile_fail(err, dev, r, "buffer/enable", "%s", strerror(-r));
	return 0;
}

int profile_open(const struct device_config *cfg, struct device **ret,
		 struct profile_error *err)
{
	struct profile_pick pick = { NULL };
	struct device *dev;
	const char *uri;
	char *uri_copy;
	bool local;
	int r;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (cfg == NULL || ret == NULL)
		return -EINVAL;
	uri = cfg->uri != NULL ? cfg->uri : "local:";
	local = strcmp(uri, "local:") == 0;
	if (!local && strncmp(uri, "ip:", 3) != 0) {
		if (err != NULL)
			snprintf(err->where, sizeof(err->where), "%s", uri);
		return profile_fail(err, NULL, -EINVAL, "uri",
				    "only local: and ip:HOST[:PORT] are supported");
	}
	if (cfg->profile != NULL && strcmp(cfg->profile, "auto") != 0) {
		pick.ops = profile_by_name(cfg->profile);
		if (pick.ops == NULL) {
			if (err != NULL)
				snprintf(err->where, sizeof(err->where), "%s", uri);
			return profile_fail(err, NULL, -EINVAL, "profile",
					    "unknown profile \"%s\" (have: ti-ads1298, "
					    "ti-ads131e08, ad5933, generic)", cfg->profile);
		}
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL)
		return -ENOMEM;
	dev->fd = -1;
	snprintf(dev->uri, sizeof(dev->uri), "%s", uri);
	snprintf(dev->info.uri, sizeof(dev->info.uri), "%s", uri);
	if (err != NULL)
		snprintf(err->where, sizeof(err->where), "%s %s", uri,
			 cfg->device != NULL ? cfg->device : "(first matching device)");

	/* libiio 0.24 writes into the URI it is given (fixed in 0.25) */
	uri_copy = strdup(uri);
	if (uri_copy == NULL) {
		free(dev);
		return -ENOMEM;
	}
	errno = 0;
	dev->ctx = iio_create_context_from_uri(uri_copy);
	r = errno != 0 ? -errno : -EIO;
	free(uri_copy);
	if (dev->ctx == NULL && !(local && r == -EINVAL)) {
		profile_fail(err, NULL, r, "context", "libiio cannot open %s: %s",
			     uri, strerror(-r));
		free(dev);
		return r;
	}
	if (dev->ctx != NULL) {
		if (!local)
			iio_context_set_timeout(dev->ctx, cfg->timeout_ms != 0 ?
						cfg->timeout_ms : 5000);
		r = profile_find_iio(dev, cfg->device, &pick);
		if (r == 0) {
			const char *name = iio_device_get_name(dev->idev);

			snprintf(dev->info.id, sizeof(dev->info.id), "%s",
				 iio_device_get_id(dev->idev));
			snprintf(dev->info.name, sizeof(dev->info.name), "%s",
				 name != NULL ? name : "");
			snprintf(dev->dir, sizeof(dev->dir), "%s/%s",
				 SYSFS_IIO_DEVICES, dev->info.id);
			r = profile_elems_iio(dev);
		}
	} else {
		/* libiio issue #948: read sysfs ourselves */
		dev->info.via_sysfs = true;
		r = sysfs_find_device(cfg->device, profile_accept, &pick, dev->dir,
				      sizeof(dev->dir));
		if (r == 0) {
			snprintf(dev->info.id, sizeof(dev->info.id), "%s",
				 sysfs_id(dev->dir));
			if (sysfs_read(dev->dir, "name", dev->info.name,
				       sizeof(dev->info.name)) < 0)
				dev->info.name[0] = '\0';
			r = profile_elems_sysfs(dev, err);
		}
	}
	if (r == -ENODEV) {
		profile_fail(err, NULL, r, "device", "no such IIO device%s",
			     dev->info.via_sysfs ? " (searched sysfs: libiio cannot "
			     "parse this machine, issue #948)" : "");
		goto fail;
	}
	if (r < 0) {
		if (err != NULL && err->msg[0] == '\0')
			profile_fail(err, dev, r, "scan_elements", "%s", strerror(-r));
		goto fail;
	}

	dev->ops = pick.ops != NULL ? pick.ops : profile_auto(dev->info.name);
	if (dev->ops != &profile_generic && !dev->ops->match(dev->info.name)) {
		r = profile_fail(err, dev, -ENOTSUP, "profile",
				 "profile %s does not drive \"%s\"", dev->ops->name,
				 dev->info.name);
		goto fail;
	}
	snprintf(dev->info.profile, sizeof(dev->info.profile), "%s", dev->ops->name);
	if (dev->n_elems == 0) {
		r = profile_fail(err, dev, -ENOTSUP, "scan_elements",
				 "the device has no input buffer");
		goto fail;
	}
	dev->info.transport = local ? DEVICE_TRANSPORT_CHARDEV : DEVICE_TRANSPORT_BLOCKS;
	r = profile_select(dev, cfg, err);
	if (r < 0)
		goto fail;
	if (local) {
		r = profile_claim_local(dev, err);
		if (r < 0)
			goto fail;
	}
	r = dev->ops->configure(dev, cfg, err);	/* before scales: they may move */
	if (r < 0)
		goto fail;
	r = profile_build_layout(dev, cfg, err);
	if (r < 0)
		goto fail;
	snprintf(dev->info.timestamp_clock, sizeof(dev->info.timestamp_clock),
		 "realtime");
	profile_timestamp_clock(dev);

	if (dev->info.block_scans == 0)
		dev->info.block_scans = cfg->block_scans;
	/*
	 * 2 ms per wake-up: a twitch's records wait for its block, and the
	 * detector's own 2-6 ms come on top; with 5-ms blocks the p99 from a
	 * potential's last sample to its record was 10-12 ms, with 2-ms ones
	 * 7 ms (bench-acquire). 500 reads a second cost about 0.3% of a core
	 * more at 8 x 4 kHz. Over the network (iiod) each block is a request
	 * and its reply: 50 ms there, where the round trip adds its own delay.
	 */
	if (dev->info.block_scans == 0) {
		double per_block = dev->info.rate_hz / (local ? 500.0 : 20.0) + 0.5;

		dev->info.block_scans = per_block >= 1.0 ? (uint32_t)per_block : 1;
	}
	if (cfg->buffer_scans != 0)
		dev->info.buffer_scans = cfg->buffer_scans;
	else if (dev->info.buffer_scans == 0)	/* ad5933: a whole sweep */
		dev->info.buffer_scans = profile_default_buffer(dev->info.rate_hz,
								dev->info.block_scans);
	if (dev->info.buffer_scans < dev->info.block_scans)
		dev->info.buffer_scans = dev->info.block_scans;
	if (dev->info.buffer_scans < 2)
		dev->info.buffer_scans = 2;	/* the kfifo's minimum */
	*ret = dev;
	return 0;
fail:
	if (dev->ctx != NULL)
		iio_context_destroy(dev->ctx);
	free(dev);
	return r;
}

/* ------------------------------------------------------------ local */

static int profile_start_local(struct device *dev, struct profile_error *err)
{
	char file[SYSFS_PREFIX_MAX + 32], num[16];
	size_t i;
	int r, fd;

	/* the node first: the kernel's claim on the device, so that the
	 * writes below never stop another program's stream */
	fd = sysfs_open_node(dev->info.id);
	if (fd < 0)
		return profile_fail(err, dev, fd, "/dev/", "cannot open the device node "
				    "of %s: %s", dev->info.id, fd == -EBUSY ?
				    "another program holds it" : strerror(-fd));
	/* all changes need the buffer off; ours or a stale one */
	r = sysfs_write(dev->dir, "buffer/enable", "0");
	if (r < 0) {
		close(fd);
		return profile_fail(err, dev, r, "buffer/enable", "%s", strerror(-r));
	}
	for (i = 0; i < dev->n_elems; i++) {
		snprintf(file, sizeof(file), "scan_elements/%s_en", dev->elem[i].prefix);
		r = sysfs_write(dev->dir, file, dev->elem[i].want ? "1" : "0");
		if (r < 0)
			goto fail_at;
	}
	/* length first: the kernel refuses a watermark above it */
	snprintf(file, sizeof(file), "buffer/length");
	snprintf(num, sizeof(num), "%u", dev->info.buffer_scans);
	r = sysfs_write(dev->dir, file, num);
	if (r < 0)
		goto fail_at;
	snprintf(file, sizeof(file), "buffer/watermark");
	snprintf(num, sizeof(num), "%u", dev->info.block_scans);
	r = sysfs_write(dev->dir, file, num);
	if (r < 0 && r != -ENOENT)	/* watermark is Linux >= 4.2 */
		goto fail_at;
	snprintf(file, sizeof(file), "buffer/enable");
	r = sysfs_write(dev->dir, file, "1");
	if (r < 0)
		goto fail_at;
	dev->fd = fd;
	return 0;
fail_at:
	close(fd);
	return profile_fail(err, dev, r, file, "%s", strerror(-r));
}

/* ------------------------------------------------------------ remote */

static void *profile_refill_thread(void *arg)
{
	struct device *dev = arg;
	uint64_t dropped = 0;	/* since the last block handed over */

	for (;;) {
		ssize_t n = iio_buffer_refill(dev->buf);
		size_t head, tail;
		uint64_t one = 1;

		if (n < 0) {
			/* what was dropped since the last block: told with the error */
			atomic_store(&dev->end_dropped, dropped);
			atomic_store(&dev->stream_err, (int)n);
			if (write(dev->fd, &one, sizeof(one)) < 0)
				break;	/* the loop will see stream_err anyway */
			break;
		}
		head = atomic_load_explicit(&dev->head, memory_order_relaxed);
		tail = atomic_load_explicit(&dev->tail, memory_order_acquire);
		if (head - tail == REMOTE_SLOTS) {
			dropped++;	/* the loop is behind */
			continue;
		}
		if ((size_t)n > dev->block_bytes)
			n = (ssize_t)dev->block_bytes;
		memcpy(dev->slots + (head % REMOTE_SLOTS) * dev->block_bytes,
		       iio_buffer_start(dev->buf), (size_t)n);
		dev->slot_len[head % REMOTE_SLOTS] = (size_t)n;
		dev->slot_lost[head % REMOTE_SLOTS] = dropped;
		dropped = 0;
		atomic_store_explicit(&dev->head, head + 1, memory_order_release);
		if (write(dev->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	}
	return NULL;
}

static int profile_start_remote(struct device *dev, struct profile_error *err)
{
	unsigned int i, n = iio_device_get_channels_count(dev->idev);
	sigset_t all, old;
	ssize_t ss;
	size_t k;
	int r;

	for (i = 0; i < n; i++) {
		struct iio_channel *c = iio_device_get_channel(dev->idev, i);

		iio_channel_disable(c);
		for (k = 0; k < dev->n_elems; k++)
			if (dev->elem[k].want && iio_channel_is_scan_element(c) &&
			    !iio_channel_is_output(c) &&
			    strcmp(iio_channel_get_id(c), dev->elem[k].id) == 0)
				iio_channel_enable(c);
	}
	r = iio_device_set_kernel_buffers_count(dev->idev,
		dev->info.buffer_scans / dev->info.block_scans < 2 ? 2 :
		dev->info.buffer_scans / dev->info.block_scans);
	if (r < 0 && r != -ENOSYS)
		return profile_fail(err, dev, r, "buffers count", "%s", strerror(-r));
	ss = iio_device_get_sample_size(dev->idev);
	if (ss <= 0)
		return profile_fail(err, dev, ss < 0 ? (int)ss : -EINVAL, "sample size",
				    "libiio gives no sample size");
	errno = 0;
	dev->buf = iio_device_create_buffer(dev->idev, dev->info.block_scans, false);
	if (dev->buf == NULL) {
		r = errno != 0 ? -errno : -EIO;
		return profile_fail(err, dev, r, "buffer", "%s", strerror(-r));
	}
	/* the stream is the kernel's bytes; libiio's 0.24 size only sets the chunk */
	dev->block_bytes = (size_t)ss * dev->info.block_scans;
	dev->slots = malloc(REMOTE_SLOTS * dev->block_bytes);
	dev->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->slots == NULL || dev->fd < 0) {
		r = dev->slots == NULL ? -ENOMEM : -errno;
		goto fail;
	}
	atomic_store(&dev->head, 0);
	atomic_store(&dev->tail, 0);
	atomic_store(&dev->stream_err, 0);
	atomic_store(&dev->end_dropped, 0);

	/* the thread must not take the daemon's signals */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&dev->thread, NULL, profile_refill_thread, dev);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	dev->thread_running = true;
	return 0;
fail:
	if (dev->fd >= 0)
		close(dev->fd);
	dev->fd = -1;
	free(dev->slots);
	dev->slots = NULL;
	iio_buffer_destroy(dev->buf);
	dev->buf = NULL;
	return profile_fail(err, dev, r, "buffer", "%s", strerror(-r));
}

int device_take_block(struct device *dev, const void **ret_data,
		      size_t *ret_len, uint64_t *ret_lost)
{
	size_t head, tail;
	int e;

	if (dev == NULL || dev->slots == NULL)
		return -EINVAL;
	tail = atomic_load_explicit(&dev->tail, memory_order_relaxed);
	head = atomic_load_explicit(&dev->head, memory_order_acquire);
	if (head == tail) {
		e = atomic_load(&dev->stream_err);
		if (e < 0 && ret_lost != NULL)
			*ret_lost = atomic_exchange(&dev->end_dropped, 0);
		return e < 0 ? e : -EAGAIN;
	}
	*ret_data = dev->slots + (tail % REMOTE_SLOTS) * dev->block_bytes;
	*ret_len = dev->slot_len[tail % REMOTE_SLOTS];
	if (ret_lost != NULL)
		*ret_lost = dev->slot_lost[tail % REMOTE_SLOTS];
	return 0;
}

void device_release_block(struct device *dev)
{
	size_t tail = atomic_load_explicit(&dev->tail, memory_order_relaxed);

	if (tail != atomic_load_explicit(&dev->head, memory_order_acquire))
		atomic_store_explicit(&dev->tail, tail + 1, memory_order_release);
}

/* ------------------------------------------------------------ lifecycle */

int device_start(struct device *dev, int *ret_fd, struct profile_error *err)
{
	int r;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (dev == NULL || ret_fd == NULL)
		return -EINVAL;
	if (dev->started)
		return profile_fail(err, dev, -EALREADY, "start", "already started");
	scan_decoder_reset(&dev->dec);
	if (dev->info.transport == DEVICE_TRANSPORT_CHARDEV)
		r = profile_start_local(dev, err);
	else
		r = profile_start_remote(dev, err);
	if (r < 0)
		return r;
	dev->started = true;
	*ret_fd = dev->fd;
	return 0;
}

int device_stop(struct device *dev)
{
	int r = 0;

	if (dev == NULL || !dev->started)
		return 0;
	if (dev->info.transport == DEVICE_TRANSPORT_CHARDEV) {
		r = sysfs_write(dev->dir, "buffer/enable", "0");
		if (r == -ENOENT || r == -ENODEV)
			r = 0;		/* the device is gone: nothing to stop */
	} else {
		if (dev->thread_running) {
			/* unblocks a refill within a fraction of a ms (-EBADF) */
			iio_buffer_cancel(dev->buf);
			pthread_join(dev->thread, NULL);
			dev->thread_running = false;
		}
		iio_buffer_destroy(dev->buf);
		dev->buf = NULL;
		free(dev->slots);
		dev->slots = NULL;
	}
	if (dev->fd >= 0)
		close(dev->fd);
	dev->fd = -1;
	dev->started = false;
	return r;
}

struct device *device_free(struct device *dev)
{
	if (dev == NULL)
		return NULL;
	device_stop(dev);
	if (dev->ctx != NULL)
		iio_context_destroy(dev->ctx);
	free(dev);
	return NULL;
}

const struct device_info *device_get_info(const struct device *dev)
{
	return &dev->info;
}

size_t device_max_scans(const struct device *dev, size_t n_bytes)
{
	return scan_decoder_max_scans(&dev->dec, n_bytes);
}

int device_decode(struct device *dev, const void *bytes, size_t n_bytes,
		  double *out, int64_t *out_ts, size_t cap_scans)
{
	return scan_decode(&dev->dec, bytes, n_bytes, out, out_ts, cap_scans);
}

// SPDX-License-Identifier: MIT
/*
 * test-profile.c - the profiles against simulated devices (twitch-devsim).
 *
 * Run without arguments, it starts two testbeds and re-runs itself under
 * each: "emg" (ads1298, ads131e08 and a generic ADC with a timestamp, all
 * readable by libiio) and "948" (ads1298 beside a mainline-layout AD5933,
 * which libiio 0.24 refuses). Values read through profile_open/device_start
 * and plain read() are compared exactly with the bytes the simulator logged
 * (--log-bytes), decoded here by hand-written code independent of scan.c;
 * the AD5933's output range and PGA gain are read back at open.
 * TWITCH_DEVSIM names the simulator (default: next to this program or in
 * its parent directory); iiod (Debian package iiod) serves the remote test.
 */
#include <complex.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <iio.h>

#include "../drivers/profile.h"

#define MAX_SCANS 4096

static double vals[MAX_SCANS * 16];
static int64_t tss[MAX_SCANS];
static uint8_t rbuf[1 << 16];

/* ------------------------------------------------------------ helpers */

static void ctl(char *reply, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void ctl(char *reply, size_t len, const char *fmt, ...)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[256];
	va_list ap;
	ssize_t n;
	size_t off = 0;
	int fd;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", getenv("DEVSIM_CONTROL"));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, line, strlen(line), MSG_NOSIGNAL), (ssize_t)strlen(line));
	while (off < len - 1 && (n = recv(fd, reply + off, len - 1 - off, 0)) > 0) {
		off += (size_t)n;
		if (memchr(reply, '\n', off) != NULL)
			break;
	}
	close(fd);
	reply[off] = '\0';
	if (strncmp(reply, "OK", 2) != 0)
		fail_msg("control \"%s\" -> %s", line, reply);
}

static unsigned int session_of(const char *dev)
{
	char reply[512];
	const char *p;

	ctl(reply, sizeof(reply), "status %s", dev);
	p = strstr(reply, "session=");
	assert_non_null(p);
	return (unsigned int)strtoul(p + 8, NULL, 10);
}

/* the simulator's byte log of @id's session @s */
static size_t read_log(const char *id, unsigned int s, uint8_t *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s.s%u.bin", getenv("DEVSIM_DIR"), id, s);
	f = fopen(path, "rbe");
	if (f == NULL)
		fail_msg("no simulator log %s", path);
	n = fread(buf, 1, len, f);
	fclose(f);
	return n;
}

static struct device *open_ok(const struct device_config *cfg)
{
	struct profile_error err;
	struct device *dev = NULL;
	char msg[600];
	int r = profile_open(cfg, &dev, &err);

	if (r < 0) {
		profile_strerror(&err, msg, sizeof(msg));
		fail_msg("profile_open: %d: %s", r, msg);
	}
	return dev;
}

static int start_ok(struct device *dev)
{
	struct profile_error err;
	char msg[600];
	int fd = -1, r = device_start(dev, &fd, &err);

	if (r < 0) {
		profile_strerror(&err, msg, sizeof(msg));
		fail_msg("device_start: %d: %s", r, msg);
	}
	/*
	 * The simulator sees our sysfs writes a little after we made them
	 * (inotify); on a loaded machine a fast reader could otherwise read
	 * what the previous session left in the pty before the simulator has
	 * reset it. "sync" returns once our writes are handled.
	 */
	ctl(msg, sizeof(msg), "sync");
	return fd;
}

/* poll + read() + device_decode() until @want scans; what the daemon does */
static size_t read_scans(struct device *dev, int fd, size_t want)
{
	const struct device_info *in = device_get_info(dev);
	size_t got = 0;

	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int k;

		if (poll(&p, 1, 3000) != 1)
			fail_msg("no data after %zu of %zu scans", got, want);
		n = read(fd, rbuf, sizeof(rbuf));
		if (n <= 0)
			fail_msg("read: %zd (%s) after %zu scans", n, n < 0 ?
				 strerror(errno) : "EOF", got);
		assert_true(device_max_scans(dev, (size_t)n) + got <= MAX_SCANS);
		k = device_decode(dev, rbuf, (size_t)n, vals + got * in->n_channels,
				  tss + got, MAX_SCANS - got);
		assert_true(k >= 0);
		got += (size_t)k;
	}
	return got;
}

/* independent decoders of the three formats the drivers use */
static int64_t le_s24_32(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;

	return v & 0x800000u ? (int64_t)v - 0x1000000 : (int64_t)v;
}

static int64_t be_s24_32_sh8(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | (uint32_t)p[2];

	return v & 0x800000u ? (int64_t)v - 0x1000000 : (int64_t)v;
}

static int64_t le_s16(const uint8_t *p)
{
	return (int16_t)(uint16_t)(p[0] | p[1] << 8);
}

static int64_t le_s64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static double scale_text(const char *id, const char *file)
{
	char path[PATH_MAX], buf[64];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/iio/devices/%s/%s", id, file);
	f = fopen(path, "re");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	return strtod(buf, NULL);
}

/*
 * Compare @n decoded scans with the simulator's log: column c of scan k must
 * equal decode(log bytes) * (scale as the device prints it * 1000), exactly.
 */
static void compare_emg(struct device *dev, size_t n, int64_t (*dec)(const uint8_t *))
{
	const struct device_info *in = device_get_info(dev);
	static uint8_t log[1 << 20];
	size_t have = read_log(in->id, session_of(in->id), log, sizeof(log));
	size_t sb = in->layout->scan_bytes, k, c;

	if (have < n * sb)
		fail_msg("log of %s has %zu bytes, want %zu", in->id, have, n * sb);
	for (k = 0; k < n; k++) {
		for (c = 0; c < in->n_channels; c++) {
			char file[64];
			double gain, want;
			int64_t raw = dec(log + k * sb + in->layout->el[c].offset);

			snprintf(file, sizeof(file), "in_%s_scale", in->channels[c].id);
			gain = scale_text(in->id, file) * 1000.0;
			want = (double)raw * gain;
			if (vals[k * in->n_channels + c] != want)
				fail_msg("scan %zu ch %zu: %.17g != %.17g (raw %lld)", k, c,
					 vals[k * in->n_channels + c], want, (long long)raw);
		}
	}
}

/* ------------------------------------------------------------ bed "emg" */

static void test_ads1298_values(void **state)
{
	struct device_config cfg = { .device = "ads1298", .rate_hz = 4000 };
	struct device *dev;
	const struct device_info *in;
	int fd;

	(void)state;
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_string_equal(in->profile, "ti-ads1298");
	assert_string_equal(in->name, "ads1298");
	assert_false(in->via_sysfs);
	assert_int_equal(in->transport, DEVICE_TRANSPORT_CHARDEV);
	assert_true(in->rate_hz == 4000.0);
	assert_int_equal(in->n_channels, 8);
	assert_int_equal(in->layout->scan_bytes, 32);
	assert_false(in->has_timestamp);
	/* (2400 mV / PGA 6) / 2^23, as the kernel prints it: 0.000047683 mV */
	assert_true(fabs(in->channels[3].gain - 0.047683) < 1e-12);
	assert_string_equal(in->channels[3].unit, "uV");
	fd = start_ok(dev);
	read_scans(dev, fd, 1000);
	compare_emg(dev, 1000, le_s24_32);
	device_free(dev);
}

static void test_ads1298_subset_and_rounding(void **state)
{
	static const char *const chans[] = { "voltage6", "voltage1" };
	struct device_config cfg = {
		.device = "iio:device0", .rate_hz = 3000, .channels = chans,
		.n_channels = 2, .block_scans = 64,
	};
	struct device *dev;
	const struct device_info *in;
	int fd;

	(void)state;
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_int_equal(in->n_channels, 2);
	assert_string_equal(in->channels[0].id, "voltage1");	/* scan order */
	assert_int_equal(in->layout->scan_bytes, 8);
	assert_int_equal(in->block_scans, 64);
	fd = start_ok(dev);
	read_scans(dev, fd, 300);
	compare_emg(dev, 300, le_s24_32);
	device_free(dev);
	/* the driver rounds 3000 Hz to a power-of-two divider: 4000 Hz */
	assert_true(scale_text("iio:device0", "sampling_frequency") == 4000.0);
}

static void test_ads131e08_ksps(void **state)
{
	struct device_config cfg = { .device = "ads131e08", .rate_hz = 8000 };
	struct profile_error err;
	char reply[256];
	struct device *dev;
	const struct device_info *in;
	int fd;

	(void)state;
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_string_equal(in->profile, "ti-ads131e08");
	assert_true(in->rate_hz == 8000.0);	/* written as "8" (kSPS) */
	assert_true(in->channels[0].type.is_be);
	assert_int_equal(in->channels[0].type.shift, 8);
	/* 2400 mV / 2^23 printed with 9 decimals: 0.000286102 */
	assert_true(fabs(in->channels[0].gain - 0.286102) < 1e-12);
	fd = start_ok(dev);
	read_scans(dev, fd, 800);
	compare_emg(dev, 800, be_s24_32_sh8);
	device_free(dev);

	/* 3 kSPS is not offered; the error names where the list is */
	cfg.rate_hz = 3000;
	assert_int_equal(profile_open(&cfg, &dev, &err), -ERANGE);
	assert_string_equal(err.what, "sampling_frequency_available");
	/*
	 * At 32 kSPS the chip gives 16 bits and the scale changes. The
	 * simulator applies writes ~2 ms late ("sync" waits for that), so the
	 * new scale is checked on a second open.
	 */
	cfg.rate_hz = 32000;
	device_free(open_ok(&cfg));
	ctl(reply, sizeof(reply), "sync");
	cfg.rate_hz = 0;
	dev = open_ok(&cfg);
	assert_true(device_get_info(dev)->rate_hz == 32000.0);
	/* 2400 / 2^15 = 0.073242187 mV (kernel's 9-decimal truncation) */
	assert_true(fabs(device_get_info(dev)->channels[0].gain - 73.242187) < 1e-9);
	device_free(dev);
	cfg.rate_hz = 1000;
	device_free(open_ok(&cfg));
}

/*
 * Read until the timestamps jump (plus one more chunk, to see that nothing
 * else jumps) or 20000 scans: whatever backlog the kfifo holds comes first.
 * Return: the number of jumps; the last one's size in *gap.
 */
static int find_gaps(struct device *dev, int fd, int64_t step, int64_t *last,
		     int64_t *gap)
{
	size_t total = 0, k, extra = 0;
	int gaps = 0;

	while (total < 20000 && (gaps == 0 || extra++ < 1)) {
		size_t got = read_scans(dev, fd, 250);

		for (k = 0; k < got; k++) {
			if (tss[k] - *last != step) {
				gaps++;
				*gap = tss[k] - *last;
			}
			*last = tss[k];
		}
		total += got;
	}
	return gaps;
}

static void test_generic_timestamp_and_overflow(void **state)
{
	struct device_config cfg = { .device = "emg16", .rate_hz = 2000, .buffer_scans = 2000 };
	struct device *dev;
	const struct device_info *in;
	struct timespec now;
	unsigned long long skipped;
	int64_t step = 500000;		/* 1e9 / 2000 Hz */
	int64_t last, gap;
	size_t k, got;
	uint8_t log[64];
	char reply[512];
	int fd;

	(void)state;
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_string_equal(in->profile, "generic");
	assert_true(in->has_timestamp);
	assert_string_equal(in->timestamp_clock, "monotonic");
	assert_int_equal(in->n_channels, 4);
	/* 4 x s24/32 @0..12, s64 timestamp @16: 24 bytes */
	assert_int_equal(in->layout->scan_bytes, 24);
	fd = start_ok(dev);
	got = read_scans(dev, fd, 200);
	compare_emg(dev, got, le_s24_32);
	for (k = 1; k < got; k++)
		assert_true(tss[k] - tss[k - 1] == step);
	clock_gettime(CLOCK_MONOTONIC, &now);
	assert_true(llabs((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - tss[199]) <
		    2000000000);
	read_log(in->id, session_of(in->id), log, sizeof(log));
	assert_true(tss[0] == le_s64(log + 16));

	/* the device loses 50 scans: the timestamps show exactly that gap */
	last = tss[got - 1];
	ctl(reply, sizeof(reply), "overflow emg16 50");
	assert_int_equal(find_gaps(dev, fd, step, &last, &gap), 1);
	assert_true(gap == 51 * step);

	/*
	 * A stall that loses what the device would have made: the gap is
	 * exactly the number of scans the simulator says it skipped.
	 */
	ctl(reply, sizeof(reply), "stall emg16 100 drop");
	assert_int_equal(find_gaps(dev, fd, step, &last, &gap), 1);
	ctl(reply, sizeof(reply), "status emg16");
	skipped = strtoull(strstr(reply, "skipped=") + 8, NULL, 10) - 50;
	assert_true(skipped > 0);
	assert_true(gap == (int64_t)(skipped + 1) * step);
	device_free(dev);
}

/*
 * A reader that stops for 1 s: the kfifo (buffer/length rounded up to a
 * power of two) and the pty fill up, new scans are dropped and counted. The
 * timestamps then miss exactly as many scans as the simulator dropped.
 */
static void test_kfifo_overflow_counted(void **state)
{
	struct device_config cfg = {
		.device = "emg16", .rate_hz = 2000, .block_scans = 64,
		.buffer_scans = 256,
	};
	struct device *dev;
	unsigned long long dropped;
	int64_t step = 500000, missing = 0, last = 0;
	char reply[512];
	size_t got, k, total = 0;
	int fd;

	(void)state;
	dev = open_ok(&cfg);
	fd = start_ok(dev);
	usleep(1000000);
	while (total < 1500) {	/* the backlog, then live scans */
		got = read_scans(dev, fd, 1000);
		for (k = 0; k < got; k++) {
			if (total + k > 0)
				missing += (tss[k] - last) / step - 1;
			last = tss[k];
		}
		total += got;
	}
	ctl(reply, sizeof(reply), "status emg16");
	dropped = strtoull(strstr(reply, "dropped=") + 8, NULL, 10);
	assert_true(dropped > 0);
	assert_true(missing == (int64_t)dropped);
	device_free(dev);
}

static void test_garbage_scale(void **state)
{
	struct device_config cfg = { .device = "ads1298" };
	struct profile_error err;
	struct device *dev;
	char reply[512];
	int r;

	(void)state;
	ctl(reply, sizeof(reply), "garbage ads1298 in_voltage3_scale 0,000047683");
	assert_int_equal(profile_open(&cfg, &dev, &err), -EBADMSG);
	assert_string_equal(err.what, "in_voltage3_scale");
	ctl(reply, sizeof(reply), "garbage ads1298 in_voltage3_scale -1");
	assert_int_equal(profile_open(&cfg, &dev, &err), -EBADMSG);
	/* inf passed the "> 0" check: every sample became inf */
	ctl(reply, sizeof(reply), "garbage ads1298 in_voltage3_scale inf");
	assert_int_equal(profile_open(&cfg, &dev, &err), -EBADMSG);
	assert_string_equal(err.what, "in_voltage3_scale");
	/* 28.6 written out past the read buffer was cut and read as 0.000286 */
	ctl(reply, sizeof(reply), "garbage ads1298 in_voltage3_scale "
	    "0.00000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "286103e5");
	r = profile_open(&cfg, &dev, &err);	/* libiio says EFBIG, sysfs.c EOVERFLOW */
	assert_true(r == -EFBIG || r == -EOVERFLOW);
	assert_string_equal(err.what, "in_voltage3_scale");
	ctl(reply, sizeof(reply), "garbage-clear ads1298 in_voltage3_scale");
	device_free(open_ok(&cfg));
}

static void test_bad_config(void **state)
{
	static const char *const nochan[] = { "voltage9" };
	struct device_config cfg = { .device = "ads1298" };
	struct profile_error err;
	struct device *dev;

	(void)state;
	cfg.profile = "ads9999";
	assert_int_equal(profile_open(&cfg, &dev, &err), -EINVAL);
	assert_string_equal(err.what, "profile");
	cfg.profile = "ad5933";
	assert_int_equal(profile_open(&cfg, &dev, &err), -ENOTSUP);
	cfg.profile = NULL;
	cfg.device = "nosuchdevice";
	assert_int_equal(profile_open(&cfg, &dev, &err), -ENODEV);
	cfg.device = "ads1298";
	cfg.channels = nochan;
	cfg.n_channels = 1;
	assert_int_equal(profile_open(&cfg, &dev, &err), -ENODEV);
	assert_string_equal(err.what, "voltage9");
	cfg.channels = NULL;
	cfg.rate_hz = 64000;
	assert_int_equal(profile_open(&cfg, &dev, &err), -ERANGE);
	cfg.rate_hz = 0;
	cfg.uri = "usb:";
	assert_int_equal(profile_open(&cfg, &dev, &err), -EINVAL);
}

static void test_vanish_and_return(void **state)
{
	struct device_config cfg = { .device = "ads1298", .rate_hz = 2000 };
	struct device *dev;
	char reply[512], id[32];
	const char *p;
	int fd;

	(void)state;
	dev = open_ok(&cfg);
	fd = start_ok(dev);
	read_scans(dev, fd, 200);
	snprintf(id, sizeof(id), "%s", device_get_info(dev)->id);
	ctl(reply, sizeof(reply), "vanish ads1298");
	for (;;) {		/* drain what was delivered, then the hangup */
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&pf, 1, 3000), 1);
		n = read(fd, rbuf, sizeof(rbuf));
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
	}
	device_free(dev);	/* stopping a vanished device is not an error */
	assert_int_equal(access("/sys/bus/iio/devices/iio:device0/name", F_OK), -1);

	ctl(reply, sizeof(reply), "return ads1298");
	p = strstr(reply, "id=");
	assert_non_null(p);
	assert_string_not_equal(p + 3, id);	/* a new iio:deviceN */
	dev = open_ok(&cfg);
	assert_string_equal(device_get_info(dev)->name, "ads1298");
	fd = start_ok(dev);
	read_scans(dev, fd, 300);
	compare_emg(dev, 300, le_s24_32);
	device_free(dev);
}


/* the real iiod serving the simulated ads1298; we read it over 127.0.0.1 */
static void test_remote_iiod(void **state)
{
	struct device_config cfg = { .device = "ads1298", .rate_hz = 2000, .block_scans = 100 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	const struct device_info *in;
	struct device *dev;
	char uri[64], port[16];
	size_t got = 0;
	pid_t iiod;
	int s, i, fd;

	(void)state;
	/* a free port: bind to 0, read it back, give it to iiod */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	close(s);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	iiod = fork();
	if (iiod == 0) {
		int null_fd = open("/dev/null", O_WRONLY);

		dup2(null_fd, STDOUT_FILENO);	/* it retries avahi, noisily */
		dup2(null_fd, STDERR_FILENO);
		execlp("iiod", "iiod", "-p", port, (char *)NULL);
		_exit(127);
	}
	assert_true(iiod > 0);
	for (i = 0; i < 100; i++) {	/* wait until it listens */
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(s);
			break;
		}
		close(s);
		usleep(20000);
	}
	snprintf(uri, sizeof(uri), "ip:127.0.0.1:%s", port);
	cfg.uri = uri;
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_int_equal(in->transport, DEVICE_TRANSPORT_BLOCKS);
	assert_true(in->rate_hz == 2000.0);
	fd = start_ok(dev);
	while (got < 600) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		const void *blk;
		uint64_t ev, lost;
		size_t len;
		int r, k;

		assert_int_equal(poll(&p, 1, 5000), 1);
		assert_int_equal(read(fd, &ev, sizeof(ev)), (ssize_t)sizeof(ev));
		while ((r = device_take_block(dev, &blk, &len, &lost)) == 0) {
			k = device_decode(dev, blk, len, vals + got * in->n_channels,
					  NULL, MAX_SCANS - got);
			assert_true(k >= 0);
			assert_true(lost == 0);
			got += (size_t)k;
			device_release_block(dev);
		}
		assert_int_equal(r, -EAGAIN);
	}
	compare_emg(dev, got, le_s24_32);
	device_free(dev);	/* cancel, join, destroy */
	kill(iiod, SIGKILL);	/* SIGTERM waits out avahi's retry sleeps */
	waitpid(iiod, NULL, 0);
}

/* ------------------------------------------------------------ bed "948" */

static void test_libiio_refuses(void **state)
{
	struct iio_context *ctx;

	(void)state;
	errno = 0;
	ctx = iio_create_local_context();
	if (ctx != NULL) {
		iio_context_destroy(ctx);
		fail_msg("libiio parsed the mainline AD5933: issue #948 not reproduced");
	}
	assert_int_equal(errno, EINVAL);
}

static void test_ads1298_via_sysfs(void **state)
{
	struct device_config cfg = { .device = "ads1298", .rate_hz = 4000 };
	struct device *dev;
	int fd;

	(void)state;
	dev = open_ok(&cfg);
	assert_true(device_get_info(dev)->via_sysfs);
	assert_true(device_get_info(dev)->rate_hz == 4000.0);
	fd = start_ok(dev);
	read_scans(dev, fd, 1000);
	compare_emg(dev, 1000, le_s24_32);
	device_free(dev);
}

static void sweep(struct device *dev, double *re, double *im)
{
	const struct device_info *in = device_get_info(dev);
	static uint8_t log[4096];
	size_t k, n;
	int fd = start_ok(dev);

	n = read_scans(dev, fd, in->sweep_points);
	assert_int_equal(n, in->sweep_points);
	assert_int_equal(read_log(in->id, session_of(in->id), log, sizeof(log)),
			 4 * n);
	for (k = 0; k < n; k++) {
		re[k] = vals[2 * k];
		im[k] = vals[2 * k + 1];
		assert_true(re[k] == (double)le_s16(log + 4 * k));
		assert_true(im[k] == (double)le_s16(log + 4 * k + 2));
	}
	device_stop(dev);
}

static void test_ad5933_sweep_calibration(void **state)
{
	struct device_config cfg = {
		.device = "ad5933",
		.sweep = { .start_hz = 20000, .increment_hz = 2000, .n_increments = 10,
			   .settling_cycles = 15, .pga_gain = 1 },
	};
	struct device *dev;
	const struct device_info *in;
	struct ad5933_cal cal;
	double f[16], re[16], im[16], r[16], x[16], temp;
	char reply[256];
	size_t k;

	(void)state;
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_true(in->via_sysfs);
	assert_string_equal(in->profile, "ad5933");
	assert_int_equal(in->n_channels, 2);
	assert_int_equal(in->channels[0].role, DEVICE_ROLE_BIOZ_REAL);
	assert_int_equal(in->channels[1].role, DEVICE_ROLE_BIOZ_IMAG);
	assert_int_equal(in->sweep_points, 11);
	assert_int_equal(in->buffer_scans, 11);	/* a whole sweep fits */
	/* read back: the range left at the probe's 1980 mV, the PGA set */
	assert_int_equal(in->excitation_mv, 1980);
	assert_int_equal(in->pga_gain, 1);
	/*
	 * The register holds f * 2^27 / (16.776 MHz / 4), truncated, and reads
	 * back truncated: 20000 -> 640046 -> 19999 Hz, 2000 -> 64004 -> 1999 Hz.
	 * The simulator rewrites the files ~2 ms after a write ("sync" waits for
	 * it): read them back through a second open that writes nothing.
	 */
	device_free(dev);
	ctl(reply, sizeof(reply), "sync");
	memset(&cfg.sweep, 0, sizeof(cfg.sweep));
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_int_equal(in->sweep_points, 11);
	assert_int_equal(ad5933_frequencies(dev, f, 16), 11);
	for (k = 0; k < 11; k++)
		assert_true(f[k] == 19999.0 + 1999.0 * (double)k);
	assert_int_equal(ad5933_read_temperature(dev, &temp), 0);
	assert_true(temp == 25.0);	/* 800 * 31.25 m degC */

	/* calibrate on 1 kOhm, then measure the simulated body */
	ctl(reply, sizeof(reply), "load ad5933 resistor 1000");
	sweep(dev, re, im);
	assert_int_equal(ad5933_calibrate(re, im, 11, 1000.0, &cal), 0);
	ctl(reply, sizeof(reply), "load ad5933 cole");
	sweep(dev, re, im);
	assert_int_equal(ad5933_impedance(&cal, re, im, 11, r, x), 0);
	for (k = 0; k < 11; k++) {
		/* the simulator's body: Cole with R0 550, Rinf 350, fc 50 kHz, a 0.75 */
		double complex jw = cpow(I * f[k] / 50000.0, 0.75);
		double complex z = 350.0 + 200.0 / (1.0 + jw);

		if (fabs(r[k] - creal(z)) > 1.0 || fabs(x[k] - cimag(z)) > 1.0)
			fail_msg("point %zu (%.0f Hz): %.2f%+.2fj, want %.2f%+.2fj", k,
				 f[k], r[k], x[k], creal(z), cimag(z));
	}
	assert_true(x[5] < -10.0);	/* capacitive, the sign matters */
	device_free(dev);
}

/* Magnitude of each point of a sweep over a resistor. */
static void sweep_mag(struct device *dev, double *ret_m)
{
	double re[16], im[16];
	size_t k;

	sweep(dev, re, im);
	for (k = 0; k < device_get_info(dev)->sweep_points; k++)
		ret_m[k] = hypot(re[k], im[k]);
}

/*
 * The output range and PGA gain are read back at every open, set or left
 * by the config: a gain factor is tied to them, because they scale the
 * words as the chip's do (half the range, about half the counts; PGA x5,
 * 5x). A load that rails the ADC gives words at the 16-bit limits, which
 * the calibration refuses; a value the device shows that is not a PGA
 * setting fails the open.
 */
static void test_ad5933_analog_settings(void **state)
{
	struct device_config cfg = {
		.device = "ad5933",
		.sweep = { .start_hz = 20000, .increment_hz = 2000, .n_increments = 10,
			   .excitation_mv = 970, .pga_gain = 1 },
	};
	struct profile_error err;
	struct device *dev;
	const struct device_info *in;
	struct ad5933_cal cal;
	double m970[16], m1980[16], m1980x5[16], re[16], im[16];
	char reply[256];
	size_t k, n_railed = 0;

	(void)state;
	ctl(reply, sizeof(reply), "load ad5933 resistor 1000");
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_int_equal(in->excitation_mv, 970);
	assert_int_equal(in->pga_gain, 1);
	sweep_mag(dev, m970);
	device_free(dev);
	/* blocks longer than the sweep's 11 points: a watermark never reached,
	 * every sweep timed out; they are cut to the sweep */
	cfg.block_scans = 64;
	dev = open_ok(&cfg);
	assert_int_equal(device_get_info(dev)->block_scans, 11);
	device_free(dev);
	cfg.block_scans = 0;
	/* left alone, the device keeps (and we read) what was set */
	ctl(reply, sizeof(reply), "sync");
	memset(&cfg.sweep, 0, sizeof(cfg.sweep));
	dev = open_ok(&cfg);
	in = device_get_info(dev);
	assert_int_equal(in->excitation_mv, 970);
	assert_int_equal(in->pga_gain, 1);
	device_free(dev);

	cfg.sweep.excitation_mv = 1980;
	cfg.sweep.pga_gain = 1;
	dev = open_ok(&cfg);
	assert_int_equal(device_get_info(dev)->excitation_mv, 1980);
	sweep_mag(dev, m1980);
	device_free(dev);
	cfg.sweep.pga_gain = 5;
	dev = open_ok(&cfg);
	assert_int_equal(device_get_info(dev)->pga_gain, 5);
	sweep_mag(dev, m1980x5);
	device_free(dev);
	for (k = 0; k < 11; k++) {
		/* about 2000 counts at 1980 mV x1: rounding within 1e-3 */
		assert_true(fabs(m1980[k] / m970[k] - 1980.0 / 970.0) < 5e-3);
		assert_true(fabs(m1980x5[k] / m1980[k] - 5.0) < 5e-3);
	}

	/* 50 ohm at 1980 mV x5: 200000 counts, railed at every point */
	ctl(reply, sizeof(reply), "load ad5933 resistor 50");
	dev = open_ok(&cfg);
	sweep(dev, re, im);
	device_free(dev);
	for (k = 0; k < 11; k++)
		n_railed += re[k] == 32767.0 || re[k] == -32768.0 || im[k] == 32767.0 ||
			    im[k] == -32768.0;
	assert_int_equal(n_railed, 11);
	assert_int_equal(ad5933_calibrate(re, im, 11, 50.0, &cal), -EOVERFLOW);
	re[0] = 1000.0;	/* one good point is not enough */
	im[0] = 1000.0;
	assert_int_equal(ad5933_calibrate(re, im, 11, 50.0, &cal), -EOVERFLOW);
	ctl(reply, sizeof(reply), "load ad5933 resistor 1000");
	dev = open_ok(&cfg);
	sweep(dev, re, im);
	assert_int_equal(ad5933_calibrate(re, im, 11, 1000.0, &cal), 0);
	assert_int_equal(ad5933_impedance(&cal, re, im, 11, m970, m1980), 0);
	re[3] = -32768.0;		/* a measured point railed: not converted */
	assert_int_equal(ad5933_impedance(&cal, re, im, 11, m970, m1980), -EOVERFLOW);
	device_free(dev);

	/*
	 * Something that is not a PGA setting or a range: the open fails,
	 * naming it (no writes this time: read what the device shows).
	 */
	memset(&cfg.sweep, 0, sizeof(cfg.sweep));
	ctl(reply, sizeof(reply), "garbage ad5933 in_voltage0_scale 0.5");
	assert_int_equal(profile_open(&cfg, &dev, &err), -EBADMSG);
	assert_string_equal(err.what, "in_voltage0_scale");
	ctl(reply, sizeof(reply), "garbage-clear ad5933 in_voltage0_scale");
	ctl(reply, sizeof(reply), "garbage ad5933 out_altvoltage0_raw x");
	assert_int_equal(profile_open(&cfg, &dev, &err), -EBADMSG);
	assert_string_equal(err.what, "out_altvoltage0_raw");
	ctl(reply, sizeof(reply), "garbage-clear ad5933 out_altvoltage0_raw");
	ctl(reply, sizeof(reply), "sync");
	dev = open_ok(&cfg);
	assert_int_equal(device_get_info(dev)->excitation_mv, 1980);
	device_free(dev);
}

static void test_ad5933_one_channel_refused(void **state)
{
	static const char *const one[] = { "voltage_real" };
	struct device_config cfg = { .device = "ad5933", .channels = one, .n_channels = 1 };
	struct profile_error err;
	struct device *dev;

	(void)state;
	assert_int_equal(profile_open(&cfg, &dev, &err), -EINVAL);
	assert_string_equal(err.what, "channels");
}

/* ------------------------------------------------------------ main */

static int run_bed(const char *self, const char *bed)
{
	char sim[PATH_MAX], arg[64];
	const char *env = getenv("TWITCH_DEVSIM");
	pid_t pid;
	int st;

	if (env != NULL) {
		snprintf(sim, sizeof(sim), "%s", env);
	} else {
		/* next to us, or one up (build/tests/ -> build/) */
		const char *slash = strrchr(self, '/');
		int dir = slash != NULL ? (int)(slash - self + 1) : 0;

		snprintf(sim, sizeof(sim), "%.*stwitch-devsim", dir, self);
		if (access(sim, X_OK) != 0)
			snprintf(sim, sizeof(sim), "%.*s../twitch-devsim", dir, self);
	}
	snprintf(arg, sizeof(arg), "--bed=%s", bed);
	pid = fork();
	if (pid == 0) {
		if (strcmp(bed, "emg") == 0)
			execl(sim, sim, "--log-bytes", "-d", "ads1298:rate=1000",
			      "-d", "ads131e08", "-d",
			      "generic:name=emg16,channels=4,timestamp=1,rates=500/1000/2000",
			      "--", self, arg, (char *)NULL);
		else
			execl(sim, sim, "--log-bytes", "-d", "ads1298", "-d",
			      "ad5933:r0=550,rinf=350,fc=50000,alpha=0.75,init_ms=20,point_ms=2",
			      "--", self, arg, (char *)NULL);
		fprintf(stderr, "test-profile: cannot run %s: %s\n", sim, strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest emg[] = {
		cmocka_unit_test(test_ads1298_values),
		cmocka_unit_test(test_ads1298_subset_and_rounding),
		cmocka_unit_test(test_ads131e08_ksps),
		cmocka_unit_test(test_generic_timestamp_and_overflow),
		cmocka_unit_test(test_kfifo_overflow_counted),
		cmocka_unit_test(test_garbage_scale),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_vanish_and_return),
		cmocka_unit_test(test_remote_iiod),
	};
	const struct CMUnitTest bed948[] = {
		cmocka_unit_test(test_libiio_refuses),
		cmocka_unit_test(test_ads1298_via_sysfs),
		cmocka_unit_test(test_ad5933_sweep_calibration),
		cmocka_unit_test(test_ad5933_analog_settings),
		cmocka_unit_test(test_ad5933_one_channel_refused),
	};

	signal(SIGPIPE, SIG_IGN);	/* libiio 0.24 sends without MSG_NOSIGNAL */
	if (argc > 1 && strcmp(argv[1], "--bed=emg") == 0)
		return cmocka_run_group_tests_name("profile: emg testbed", emg, NULL, NULL);
	if (argc > 1 && strcmp(argv[1], "--bed=948") == 0)
		return cmocka_run_group_tests_name("profile: ads1298 + ad5933 (libiio #948)",
						   bed948, NULL, NULL);
	return run_bed(argv[0], "emg") | run_bed(argv[0], "948");
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-config.c - libFuzzer entry point for daemon/config.c: config_load()
 * on arbitrary file contents, then, on what parses, what the daemon does
 * with it: config_chain_describe() (--check-config), config_strerror(),
 * config_device_to_driver(), config_device_equal()/config_chain_equal(),
 * and config_chain_for() for each device as acquire.c calls it (channels
 * "voltage0".. labelled "ch0".., at the configured rate or 4 kHz). A chain
 * that passes config_chain_for() is built (pipeline_init(), as acquire.c
 * does) and run over a short synthetic signal: a configuration the checks
 * accept must not crash, hang or blow up the filters and the detector.
 *
 * The input is the file's bytes, written to a file in a private mkdtemp()
 * directory under $TMPDIR (config_load() takes a path, and reads the file
 * twice for an error found after the whole file was parsed).
 *
 *   gcc -g -O2 -D_GNU_SOURCE -Iipc -Idaemon -Idrivers -c daemon/dsp-lanes.c
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iipc -Idaemon \
 *	-Idrivers tests/fuzz/fuzz-config.c daemon/dsp.c dsp-lanes.o \
 *	daemon/detect.c daemon/detect-tiles.c daemon/pipeline.c daemon/sweepcsv.c \
 *	daemon/inifile.c -linih -lm -o fuzz-config
 *   (clang cannot build dsp-lanes.c's __builtin_shuffle, a GCC builtin: that
 *   file is compiled by gcc, without instrumentation.)
 *   gcc -DFUZZ_STANDALONE -D_GNU_SOURCE -Iipc -Idaemon -Idrivers tests/fuzz/fuzz-config.c \
 *	daemon/dsp.c daemon/dsp-lanes.c daemon/detect.c daemon/detect-tiles.c \
 *	daemon/pipeline.c daemon/sweepcsv.c daemon/inifile.c -linih -lm -o fuzz-config && \
 *	./fuzz-config CORPUS-FILES...
 */
#include <fcntl.h>
#include <unistd.h>

#include "../../daemon/config.c"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what the last input did, for the standalone replayer's report */
static char fuzz_result[1100];
static char fuzz_path[4096];

static void fuzz_on_event(const struct detect_event *ev, void *userdata)
{
	(void)ev;
	(*(unsigned long *)userdata)++;
}

/* A short synthetic signal through the chain the configuration asks for. */
static void fuzz_run_chain(const struct dsp_config *filt, const struct detect_config *det,
			   size_t n_ch, double rate)
{
	enum { BLOCK = 256, BLOCKS = 4 };
	static float in[BLOCK * CONFIG_MAX_CHANNELS];
	struct pipeline pl;
	unsigned long events = 0;
	uint32_t rng = 12345;
	size_t b, i;

	if (pipeline_init(&pl, filt, det, n_ch, rate, BLOCK) < 0)
		return;
	for (b = 0; b < BLOCKS; b++) {
		for (i = 0; i < BLOCK * n_ch; i++) {
			rng = rng * 1664525u + 1013904223u;
			/* noise of ~10 uV, a 300-uV burst now and then, one NaN */
			in[i] = (float)((rng >> 8) % 2000) / 100.0f - 10.0f;
			if ((i / n_ch) % 97 < 5)
				in[i] *= 30.0f;
			if (b == 2 && i == 7)
				in[i] = NAN;
		}
		if (pipeline_run(&pl, in, BLOCK, (uint64_t)b * BLOCK, fuzz_on_event, &events) < 0)
			abort();	/* valid arguments: must not fail */
	}
	if (detect_finish(pl.det, fuzz_on_event, &events) < 0)
		abort();
	pipeline_deinit(&pl);
}

static void fuzz_use(const struct config *c)
{
	static struct device_channel ch[CONFIG_MAX_CHANNELS];
	struct detect_config det;
	struct dsp_config filt;
	struct device_config drv;
	char buf[2048], msg[256];
	size_t i, k, n_ch;
	double rate;

	for (i = 0; i < CONFIG_MAX_CHANNELS; i++) {
		snprintf(ch[i].id, sizeof(ch[i].id), "voltage%zu", i);
		snprintf(ch[i].label, sizeof(ch[i].label), "ch%zu", i);
	}
	if (c->n_devices < 1 || c->n_devices > CONFIG_MAX_DEVICES)
		abort();
	for (i = 0; i < c->n_devices; i++) {
		const struct config_device *d = &c->dev[i];

		if (strlen(d->name) < 1 || d->n_channels > CONFIG_MAX_CHANNELS)
			abort();
		for (k = 0; k < d->n_channels; k++)
			if (d->channels[k] < d->channels_buf ||
			    d->channels[k] >= d->channels_buf + sizeof(d->channels_buf))
				abort();
		if (!config_device_equal(d, d) || !config_chain_equal(d, d))
			abort();
		config_device_to_driver(d, &drv);
		for (k = 0; k < sizeof(buf); k += 97)
			if (config_chain_describe(d, buf, k) < 0)
				abort();
		if (config_chain_describe(d, buf, sizeof(buf)) < 0 || strlen(buf) >= sizeof(buf))
			abort();
		if (!strcmp(d->profile, "ad5933"))
			continue;
		n_ch = d->n_channels ? d->n_channels : 8;
		rate = d->rate_hz ? (double)d->rate_hz : 4000.0;
		if (rate < 100.0)
			continue;	/* acquire.c: no detection below 100 Hz */
		if (config_chain_for(d, ch, n_ch, rate, &filt, &det, msg, sizeof(msg)) < 0)
			continue;
		fuzz_run_chain(&filt, &det, n_ch, rate);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c;
	struct config_error err;
	char msg[1024];
	int fd, r;

	if (fuzz_path[0] == '\0') {
		const char *t = getenv("TMPDIR");
		char dir[4000];

		snprintf(dir, sizeof(dir), "%s/fuzz-config.XXXXXX", t && *t ? t : "/tmp");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(fuzz_path, sizeof(fuzz_path), "%s/twitchd.conf", dir);
	}
	fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0)
		abort();
	r = config_load(fuzz_path, &c, &err);
	config_strerror(&err, msg, sizeof(msg));
	if (r == 0) {
		fuzz_use(&c);
		snprintf(fuzz_result, sizeof(fuzz_result), "ok: %zu devices", c.n_devices);
	} else {
		if (err.msg[0] == '\0')
			abort();	/* an error always says what */
		snprintf(fuzz_result, sizeof(fuzz_result), "rejected: %s", msg);
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fuzz_cleanup(void)
{
	if (fuzz_path[0]) {
		unlink(fuzz_path);
		*strrchr(fuzz_path, '/') = '\0';
		rmdir(fuzz_path);
	}
}

#define FUZZ_CLEANUP()	fuzz_cleanup()
#define FUZZ_NAME	"fuzz-config"
#include "fuzz-standalone.h"
#endif

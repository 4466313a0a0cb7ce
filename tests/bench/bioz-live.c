// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bioz-live.c - the live sweep-to-estimate latency for bench-bioz.
 *
 * Method: twitch-devsim plays an AD5933 under umockdev, first with its 1
 * kohm calibration resistor, then with its Cole body (R0 600, Rinf 375 ohm,
 * fc 50 kHz, alpha 0.7). twitchd (the real binary, state_dir in a temporary
 * directory) sweeps it once a second, calibrates on `calibrate 1000`, then
 * fits every sweep. The simulator stamps each sweep's last point with
 * CLOCK_MONOTONIC in its events.log ("sweep-done", written as the point
 * enters its kfifo, before the pty write that hands it to twitchd). This
 * process polls the events ring (twitch_reader_next with no wait, 100 us
 * sleeps when idle) and stamps each estimate record when it is readable.
 * Latency = readable - sweep-done, so it holds the device path (kfifo, pty,
 * io_uring read), the decode, the fit and the publish. The record's own
 * t_mono_ns is twitchd's clock at the read that completed the sweep:
 * readable - t_mono_ns is the part inside twitchd after the read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "twitch.h"
#include "bioz-live.h"
#include "devsimenv.h"

#define NS_PER_MS 1000000ull

struct live_sim {
	pid_t pid;
	char envfile[PATH_MAX];
	struct devsim_env env;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned int us)
{
	struct timespec ts = { us / 1000000u, (long)(us % 1000000u) * 1000L };

	nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v. */
static double pct(const double *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (n == 0)
		return 0.0;
	return v[k == 0 ? 0 : (k > n ? n - 1 : k - 1)];
}

static pid_t spawn(const char *const argv[], const char *out, const struct live_sim *s)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (s) {
			setenv("UMOCKDEV_DIR", s->env.umockdev_dir, 1);
			setenv("LD_PRELOAD", s->env.preload, 1);
		}
		execv(argv[0], (char *const *)(uintptr_t)argv);	/* it writes nothing */
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static int sim_env(struct live_sim *s)
{
	int i;

	for (i = 0; i < 200 && access(s->envfile, F_OK) != 0; i++)
		sleep_us(50000);
	return devsim_env_read(s->envfile, &s->env);
}

/* Wait up to @ms for a record of @type (and, for status, holding @text). */
static int wait_rec(struct twitch_reader *r, void *buf, size_t size, uint16_t type,
		    const char *text, unsigned int ms)
{
	uint64_t end = mono_ns() + ms * NS_PER_MS;
	const struct twitch_record_hdr *h = buf;
	int n;

	while (mono_ns() < end) {
		n = twitch_reader_next(r, buf, size, 100);
		if (n < 0 && n != -EPROTO)
			return n;
		if (n <= 0 || h->type != type)
			continue;
		if (text == NULL || strstr(((const struct twitch_rec_status *)buf)->text, text))
			return 0;
	}
	return -ETIMEDOUT;
}

/* The sweep-done stamps of the simulator's log, in order; return how many. */
static size_t read_done(const char *path, uint64_t *done, size_t max)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long long t;

		if (strstr(line, " sweep-done ") && sscanf(line, "%llu", &t) == 1)
			done[n++] = t;
	}
	fclose(f);
	return n;
}

int bioz_live_latency(unsigned int n_sweeps, unsigned int n_points, struct bioz_live_lat *ret)
{
	static uint64_t buf[65536 / 8];
	char bin[PATH_MAX], work[] = "/tmp/twitch-bzlive-XXXXXX", path[PATH_MAX + 64];
	char devsim[PATH_MAX + 32], twitchd[PATH_MAX + 32], conf[PATH_MAX + 32];
	char sock[PATH_MAX + 32], cmd[3 * PATH_MAX], reply[256];
	const struct twitch_record_hdr *h = (const void *)buf;
	struct live_sim s = { .pid = -1 };
	struct twitch_client *c = NULL;
	struct twitch_reader *r = NULL;
	uint64_t *t_mono = NULL, *t_seen = NULL, *done = NULL, end;
	double *lat = NULL, *in = NULL;
	size_t n_est = 0, n_done, i, j, j0, max_done = (size_t)n_sweeps + 64;
	pid_t td = -1;
	FILE *f;
	int err, k, skip = 2;

	memset(ret, 0, sizeof(*ret));
	ret->n_points = n_points;
	if (n_sweeps == 0 || n_points < 2 || n_points > 511) {
		snprintf(ret->why, sizeof(ret->why), "bad sweep count or points");
		return -EINVAL;
	}
	if (devsim_build_dir(bin, sizeof(bin), 3) < 0) {
		snprintf(ret->why, sizeof(ret->why), "cannot find the build directory");
		return -ENOENT;
	}
	snprintf(devsim, sizeof(devsim), "%s/twitch-devsim", bin);
	snprintf(twitchd, sizeof(twitchd), "%s/twitchd", bin);
	if (access(devsim, X_OK) || access(twitchd, X_OK)) {
		snprintf(ret->why, sizeof(ret->why), "%.110s or %.110s not built (make all)", devsim,
			 twitchd);
		return -ENOENT;
	}
	if (!mkdtemp(work)) {
		snprintf(ret->why, sizeof(ret->why), "mkdtemp: %s", strerror(errno));
		return -errno;
	}
	t_mono = calloc(n_sweeps, sizeof(*t_mono));
	t_seen = calloc(n_sweeps, sizeof(*t_seen));
	done = calloc(max_done, sizeof(*done));
	lat = calloc(n_sweeps, sizeof(*lat));
	in = calloc(n_sweeps, sizeof(*in));
	if (!t_mono || !t_seen || !done || !lat || !in) {
		err = -ENOMEM;
		snprintf(ret->why, sizeof(ret->why), "out of memory");
		goto out;
	}

	snprintf(s.envfile, sizeof(s.envfile), "%.200s/devsim.env", work);
	snprintf(path, sizeof(path), "%.200s/devsim.out", work);
	{
		const char *const argv[] = { devsim, "--serve", "-e", s.envfile, "-d",
				 "ad5933:load=resistor,r=1000", NULL };

		s.pid = spawn(argv, path, NULL);
	}
	err = s.pid < 0 ? -errno : sim_env(&s);
	if (err < 0) {
		snprintf(ret->why, sizeof(ret->why), "twitch-devsim did not start (%.200s)", path);
		goto out;
	}
	snprintf(conf, sizeof(conf), "%.200s/twitchd.conf", work);
	snprintf(sock, sizeof(sock), "%.200s/control.sock", work);
	f = fopen(conf, "we");
	if (f == NULL) {
		err = -errno;
		goto out;
	}
	/* frequencies from 5 kHz in steps that keep the sweep under 100 kHz */
	fprintf(f, "[daemon]\nstate_dir = %s\n[device bioz]\nprofile = ad5933\n"
		"sweep_start_hz = 5000\nsweep_increment_hz = %u\nsweep_points = %u\n"
		"sweep_interval_s = 1\n", work, 95000u / (n_points - 1), n_points);
	fclose(f);
	snprintf(path, sizeof(path), "%.200s/twitchd.log", work);
	{
		const char *const argv[] = { twitchd, "-c", conf, "-s", sock, NULL };

		td = spawn(argv, path, &s);
	}
	for (k = 0; k < 100 && twitch_client_connect(sock, &c) < 0; k++)
		sleep_us(50000);
	if (c == NULL || twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &r) < 0) {
		err = -ECONNREFUSED;
		snprintf(ret->why, sizeof(ret->why), "twitchd did not come up (%.200s)", path);
		goto out;
	}
	err = twitch_client_command(c, "calibrate 1000", reply, sizeof(reply));
	if (err == 0)
		err = wait_rec(r, buf, sizeof(buf), TWITCH_REC_STATUS, "calibrated", 10000);
	if (err != 0) {
		err = err > 0 ? -err : err;
		snprintf(ret->why, sizeof(ret->why), "calibration failed (%.200s)", path);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "%.200s --ctl %s load iio:device0 body >/dev/null", devsim,
		 s.env.control);
	if (system(cmd) != 0) {
		err = -EIO;
		snprintf(ret->why, sizeof(ret->why), "twitch-devsim --ctl load failed");
		goto out;
	}
	/* the sweep under way may still have seen the resistor */
	end = mono_ns() + ((uint64_t)n_sweeps * 2 + 20) * 1000 * NS_PER_MS;
	while (n_est < n_sweeps && mono_ns() < end) {
		k = twitch_reader_next(r, buf, sizeof(buf), 0);
		if (k == 0) {
			sleep_us(100);
			continue;
		}
		if (k < 0 || h->type != TWITCH_REC_BIOZ)
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
		t_seen[n_est] = mono_ns();
		t_mono[n_est++] = h->t_mono_ns;
	}
	if (n_est < n_sweeps) {
		err = -ETIMEDOUT;
		snprintf(ret->why, sizeof(ret->why), "only %zu of %u estimates came", n_est,
			 n_sweeps);
		goto out;
	}
	twitch_reader_free(r);
	r = NULL;
	stop(td);
	td = -1;
	snprintf(path, sizeof(path), "%s/events.log", s.env.devsim_dir);
	n_done = read_done(path, done, max_done);
	stop(s.pid);
	s.pid = -1;

	/* each estimate against the last sweep-done before twitchd read it */
	for (i = 0, j = 0, j0 = 0; i < n_est; i++) {
		while (j + 1 < n_done && done[j + 1] <= t_mono[i])
			j++;
		if (n_done == 0 || done[j] > t_mono[i] || t_mono[i] - done[j] > 1000 * NS_PER_MS ||
		    t_seen[i] < done[j]) {
			err = -EPROTO;
			snprintf(ret->why, sizeof(ret->why), "estimate %zu has no sweep-done "
				 "in %.200s before it", i, path);
			goto out;
		}
		if (i == 0)
			j0 = j;
		lat[ret->n] = (double)(t_seen[i] - done[j]) / 1e6;
		in[ret->n++] = (double)(t_seen[i] - t_mono[i]) / 1e6;
	}
	/* sweeps that ended from the first timed one to the last, without an estimate */
	for (j = j0; j < n_done && done[j] <= t_mono[n_est - 1]; j++)
		ret->n_missing++;
	ret->n_missing = ret->n_missing > n_est ? ret->n_missing - n_est : 0;
	qsort(lat, ret->n, sizeof(*lat), cmp_double);
	qsort(in, ret->n, sizeof(*in), cmp_double);
	ret->p50_ms = pct(lat, ret->n, 50);
	ret->p99_ms = pct(lat, ret->n, 99);
	ret->max_ms = pct(lat, ret->n, 100);
	ret->in_p50_ms = pct(in, ret->n, 50);
	ret->in_p99_ms = pct(in, ret->n, 99);
	err = 0;
out:
	twitch_reader_free(r);
	twitch_client_free(c);
	stop(td);
	stop(s.pid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%.200s'", work);
	if (system(cmd) != 0)
		fprintf(stderr, "bench-bioz: cannot remove %.200s\n", work);
	free(t_mono);
	free(t_seen);
	free(done);
	free(lat);
	free(in);
	return err;
}

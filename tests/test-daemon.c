// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-daemon.c - the real twitchd on simulated devices (twitch-devsim on a
 * umockdev testbed), read back through the real libtwitch:
 *   - every published scan equals the simulator's bytes after scaling, with
 *     no loss and continuous sample indexes, over TWITCH_TEST_SECONDS (30);
 *   - SIGTERM stops within 1 s and publishes what the kernel still held;
 *   - an overflow (the simulator drops N scans) gives a loss record of N,
 *     exact with a timestamp channel, within one block without;
 *   - a vanished device gives status records, and acquisition resumes with a
 *     new sample-index epoch when it returns;
 *   - SIGHUP reloads the configuration (a new rate) and keeps the rings;
 *   - bad configuration and bad options: one clear message, exit code 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "twitch.h"
#include "devsimenv.h"

struct sim {
	pid_t pid;
	char envfile[64];
	struct devsim_env env;
};

struct daemon {
	pid_t pid;
	char dir[64];
	char sock[108];
	char conf[128];
	char log[128];
};

static const char *build_dir(void)
{
	const char *b = getenv("TWITCH_BUILD");

	return b && *b ? b : "build";
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Children a failed assertion would leave running (cmocka jumps out of the
 * test): the simulator, twitchd and iiod register here, and each test's
 * teardown kills what is left, so one failure does not hold a device node,
 * a port or a CPU through the tests after it.
 */
static pid_t kids[8];

static void kid_add(pid_t pid)
{
	size_t i;

	for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] == 0) {
			kids[i] = pid;
			return;
		}
}

static void kid_done(pid_t pid)
{
	size_t i;

	for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

static int reap_kids(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	return 0;
}

static void sim_start3(struct sim *s, const char *spec1, const char *spec2,
		       const char *spec3)
{
	char sim_path[256];
	int i;

	memset(s, 0, sizeof(*s));
	snprintf(sim_path, sizeof(sim_path), "%s/twitch-devsim", build_dir());
	snprintf(s->envfile, sizeof(s->envfile), "/tmp/twitch-devsim-env.%d", getpid());
	unlink(s->envfile);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid > 0)
		kid_add(s->pid);
	if (s->pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(null, STDOUT_FILENO);
		if (spec3)
			execl(sim_path, sim_path, "--serve", "-l", "-e", s->envfile, "-d", spec1,
			      "-d", spec2, "-d", spec3, (char *)NULL);
		else if (spec2)
			execl(sim_path, sim_path, "--serve", "-l", "-e", s->envfile, "-d", spec1,
			      "-d", spec2, (char *)NULL);
		else
			execl(sim_path, sim_path, "--serve", "-l", "-e", s->envfile, "-d", spec1,
			      (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && access(s->envfile, F_OK) != 0; i++)
		msleep(50);
	assert_int_equal(devsim_env_read(s->envfile, &s->env), 0);
}

static void sim_start(struct sim *s, const char *spec1, const char *spec2)
{
	sim_start3(s, spec1, spec2, NULL);
}

static void sim_stop(struct sim *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	kid_done(s->pid);
	unlink(s->envfile);
}

/* One control command to the simulator; its reply must be OK. */
static void sim_ctl(struct sim *s, const char *cmd)
{
	char line[PATH_MAX + 512];
	int rc;

	snprintf(line, sizeof(line), "%s/twitch-devsim --ctl %s %s >/dev/null", build_dir(),
		 s->env.control, cmd);
	rc = system(line);
	assert_int_equal(rc, 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Does file @path hold @needle? */
static bool file_contains(const char *path, const char *needle)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Run @cmd with sh; its stdout (and what it sends to 2>&1) in @out.
 * Return: its exit code, -1 if it did not exit. */
static int run_capture(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n;
	int st;

	assert_non_null(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Start twitchd under the testbed with @conf; wait until it answers. */
static void daemon_start(struct daemon *d, const struct sim *s, const char *conf)
{
	struct twitch_client *c = NULL;
	char path[256];
	int i;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/twitch-daemon-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->sock, sizeof(d->sock), "%s/control.sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/twitchd.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/twitchd.log", d->dir);
	write_file(d->conf, conf);
	snprintf(path, sizeof(path), "%s/twitchd", build_dir());
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid > 0)
		kid_add(d->pid);
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		dup2(fd, STDERR_FILENO);
		setenv("UMOCKDEV_DIR", s->env.umockdev_dir, 1);
		setenv("LD_PRELOAD", s->env.preload, 1);
		execl(path, path, "-c", d->conf, "-s", d->sock, "-v", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		if (twitch_client_connect(d->sock, &c) == 0) {
			twitch_client_free(c);
			return;
		}
		msleep(50);
	}
	fail_msg("twitchd did not come up (see %s)", d->log);
}

/* SIGTERM; return the exit status and the time it took. */
static int daemon_stop(struct daemon *d, uint64_t *ret_ns)
{
	uint64_t t0 = now_ns();
	int st;

	kill(d->pid, SIGTERM);
	assert_int_equal(waitpid(d->pid, &st, 0), d->pid);
	kid_done(d->pid);
	if (ret_ns)
		*ret_ns = now_ns() - t0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void daemon_cleanup(struct daemon *d)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
	if (system(cmd) != 0)
		print_message("cannot remove %s\n", d->dir);
}

/* twitchd on the simulator with @conf, expected to give up: its exit code
 * (-1 if it still ran after 10 s) and its log in @log. */
static int daemon_run_fail(const struct sim *s, const char *conf, char *log, size_t len)
{
	struct daemon d;
	uint64_t t_end;
	int st = 0;
	pid_t r = 0;
	FILE *f;
	size_t n;

	memset(&d, 0, sizeof(d));
	snprintf(d.dir, sizeof(d.dir), "/tmp/twitch-daemon-XXXXXX");
	assert_non_null(mkdtemp(d.dir));
	snprintf(d.conf, sizeof(d.conf), "%s/twitchd.conf", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/twitchd.log", d.dir);
	write_file(d.conf, conf);
	d.pid = fork();
	assert_true(d.pid >= 0);
	if (d.pid == 0) {
		int fd = open(d.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		char path[256];

		dup2(fd, STDERR_FILENO);
		setenv("UMOCKDEV_DIR", s->env.umockdev_dir, 1);
		setenv("LD_PRELOAD", s->env.preload, 1);
		snprintf(path, sizeof(path), "%s/twitchd", build_dir());
		snprintf(d.sock, sizeof(d.sock), "%s/control.sock", d.dir);
		execl(path, path, "-c", d.conf, "-s", d.sock, (char *)NULL);
		_exit(127);
	}
	kid_add(d.pid);
	t_end = now_ns() + 10000000000ull;
	while (now_ns() < t_end && (r = waitpid(d.pid, &st, WNOHANG)) == 0)
		msleep(20);
	if (r == 0) {
		kill(d.pid, SIGKILL);
		waitpid(d.pid, NULL, 0);
	}
	kid_done(d.pid);
	log[0] = '\0';
	f = fopen(d.log, "re");
	if (f) {
		n = fread(log, 1, len - 1, f);
		log[n] = '\0';
		fclose(f);
	}
	daemon_cleanup(&d);
	return r == d.pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void dump_log(const struct daemon *d)
{
	char line[512];
	FILE *f = fopen(d->log, "re");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
		print_message("twitchd| %s", line);
	fclose(f);
}

union rec {
	struct twitch_record_hdr h;
	struct twitch_rec_samples s;
	struct twitch_rec_status st;
	struct twitch_rec_loss l;
	struct twitch_rec_twitch t;
	struct twitch_rec_bioz z;
	struct twitch_rec_alert al;
	char b[1 << 16];
};

#define MAX_EVENTS 4096
#define MATCH_SCANS 20		/* onset within 5 ms at 4 kHz */

static uint64_t json_u64(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : UINT64_MAX;
}

/*
 * The live events against the simulator's ground truth: each injected
 * potential (onset, channels) should come out as a final event starting
 * within 5 ms on one of its channels, and few events should match nothing.
 */
static void check_truth(const struct sim *s, const uint64_t *ev_index, const uint64_t *ev_mask,
			size_t n_events)
{
	static uint64_t t_index[MAX_EVENTS], t_mask[MAX_EVENTS];
	static bool used[MAX_EVENTS];
	size_t n_truth = 0, found = 0, i, j, unmatched = 0;
	char pattern[PATH_MAX + 64], line[1024];
	glob_t g;
	FILE *f;

	snprintf(pattern, sizeof(pattern), "%s/*.s1.truth.jsonl", s->env.devsim_dir);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	f = fopen(g.gl_pathv[0], "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && n_truth < MAX_EVENTS) {
		t_index[n_truth] = json_u64(line, "\"onset_index\":");
		t_mask[n_truth++] = json_u64(line, "\"channel_mask\":");
	}
	fclose(f);
	globfree(&g);
	memset(used, 0, sizeof(used));
	for (i = 0; i < n_truth; i++) {
		for (j = 0; j < n_events; j++) {
			uint64_t d = ev_index[j] > t_index[i] ? ev_index[j] - t_index[i] :
								 t_index[i] - ev_index[j];

			if (!used[j] && d <= MATCH_SCANS && (ev_mask[j] & t_mask[i])) {
				used[j] = true;
				found++;
				break;
			}
		}
	}
	for (j = 0; j < n_events; j++)
		unmatched += !used[j];
	print_message("ground truth: %zu injected, %zu found live (%.0f%%); %zu live events "
		      "match nothing (the background's own or split multichannel events)\n",
		      n_truth, found, n_truth ? 100.0 * (double)found / (double)n_truth : 0,
		      unmatched);
	assert_true(n_truth >= 10 || getenv("TWITCH_TEST_SECONDS"));	/* short debug runs */
	assert_true(found * 10 >= n_truth * 9);		/* recall >= 90% */
	assert_true(unmatched * 5 <= n_events);		/* >= 80% of events are real */
}

static const char emg_conf[] =
	"[daemon]\n"
	"log_level = debug\n"
	"[device emg]\n"
	"profile = ti-ads1298\n"
	"rate_hz = 4000\n";

/* Did one of the @n update records before final @f say what it says? */
static bool said_before(const struct twitch_rec_twitch *upd, size_t n,
			const struct twitch_rec_twitch *f)
{
	while (n-- > 0)
		if (upd[n].hdr.sample_index == f->hdr.sample_index &&
		    upd[n].duration_samples == f->duration_samples &&
		    upd[n].channel == f->channel && upd[n].twitch_class == f->twitch_class)
			return true;
	return false;
}

/* The scale the driver shows, mV per count; we publish uV. */
static double channel_gain(const struct sim *s, unsigned int ch)
{
	char path[PATH_MAX + 128], buf[64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sys/bus/iio/devices/iio:device0/in_voltage%u_scale",
		 s->env.umockdev_dir, ch);
	f = fopen(path, "re");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	return strtod(buf, NULL) * 1000.0;
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_samples_exact_without_loss(void **state)
{
	const char *secs_env = getenv("TWITCH_TEST_SECONDS");
	unsigned int secs = secs_env ? (unsigned int)atoi(secs_env) : 30;
	size_t n_max = (size_t)(secs + 5) * 4000 * 8, n_vals = 0, i;
	float *got = malloc(n_max * sizeof(float));
	struct twitch_client *c;
	struct twitch_reader *rs, *re;
	static union rec u;
	uint64_t next_index = 0, t_end, stop_ns;
	double gain[8];
	char pattern[PATH_MAX + 64];
	glob_t g;
	FILE *bin;
	long n_scans_bin;
	static uint64_t ev_index[MAX_EVENTS], ev_mask[MAX_EVENTS];
	static struct twitch_rec_twitch updates[MAX_EVENTS];
	size_t n_events = 0, n_updates = 0, n_said_first = 0;
	int n, losses = 0, rates = 0;
	struct sim s;
	struct daemon d;

	(void)state;
	assert_non_null(got);
	/* a subject that twitches often: the ground truth has events to match */
	sim_start(&s, "ads1298:rate=4000,mup_per_min=120", NULL);
	daemon_start(&d, &s, emg_conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "samples-emg", TWITCH_FROM_OLDEST, &rs), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &re), 0);

	t_end = now_ns() + (uint64_t)secs * 1000000000u;
	for (;;) {
		bool stopping = now_ns() >= t_end;

		if (stopping && d.pid) {
			assert_int_equal(daemon_stop(&d, &stop_ns), 0);
			d.pid = 0;
			print_message("SIGTERM to exit: %.1f ms\n", stop_ns / 1e6);
			assert_true(stop_ns < 1000000000u);
		}
		n = twitch_reader_next(rs, &u, sizeof(u), 200);
		if (n == 0 && d.pid == 0)
			break;	/* drained the ring of the stopped daemon */
		assert_true(n >= 0);
		if (n == 0)
			continue;
		if (u.h.type == TWITCH_REC_STATUS)
			break;	/* libtwitch: the daemon is gone, and we have everything */
		assert_int_equal(u.h.type, TWITCH_REC_SAMPLES);
		assert_int_equal(u.s.n_channels, 8);
		assert_int_equal(u.s.unit, TWITCH_UNIT_UV);
		assert_int_equal(u.s.index_epoch, 0);
		assert_int_equal(u.h.sample_index, next_index);	/* no gap */
		next_index += u.s.n_scans;
		assert_true(n_vals + (size_t)u.s.n_scans * 8 <= n_max);
		memcpy(got + n_vals, u.s.data, (size_t)u.s.n_scans * 8 * sizeof(float));
		n_vals += (size_t)u.s.n_scans * 8;
	}
	while ((n = twitch_reader_next(re, &u, sizeof(u), 0)) > 0) {
		if (u.h.type == TWITCH_REC_LOSS && !(u.h.flags & TWITCH_RECF_LOCAL))
			losses++;
		if (u.h.type == TWITCH_REC_RATES)
			rates++;
		if (u.h.type == TWITCH_REC_TWITCH_UPDATE && n_updates < MAX_EVENTS)
			updates[n_updates++] = u.t;
		if (u.h.type == TWITCH_REC_TWITCH && !(u.h.flags & TWITCH_EVF_ONSET) &&
		    !(u.h.flags & TWITCH_EVF_REJECT) && n_events < MAX_EVENTS) {
			ev_index[n_events] = u.h.sample_index;
			ev_mask[n_events++] = u.t.channel_mask;
			n_said_first += said_before(updates, n_updates, &u.t);
		}
	}
	assert_int_equal(losses, 0);
	/* update records said what the finals say, before them (test-detect
	 * checks the timing); a later potential, or a channel with a larger
	 * peak ending later, leaves a final unsaid */
	print_message("%zu update records; %zu of %zu finals said first by one\n", n_updates,
		      n_said_first, n_events);
	assert_true(n_said_first * 10 >= n_events * 9);
	/* rates every 10 s for each of the 8 channels */
	print_message("%d rates records\n", rates);
	assert_true(rates >= 8 * (int)(secs / 10) - 8 && rates <= 8 * (int)(secs / 10 + 1));
	check_truth(&s, ev_index, ev_mask, n_events);
	assert_int_equal(twitch_reader_lost(rs), 0);

	/* the simulator's own record of what it put in the kfifo */
	snprintf(pattern, sizeof(pattern), "%s/*.s1.bin", s.env.devsim_dir);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	n_scans_bin = file_size(g.gl_pathv[0]) / 32;
	print_message("%zu scans published, %ld in the simulator's log (%u s at 4 kHz)\n",
		      n_vals / 8, n_scans_bin, secs);
	assert_true(n_vals / 8 >= (size_t)secs * 4000 * 9 / 10);
	/*
	 * SIGTERM publishes what the kernel held: everything but what the
	 * simulator pushed after twitchd's last read. The simulator learns of
	 * the disable through inotify a few ms late (its ticks are 2 ms), so
	 * allow 5 ms of scans (20 at 4 kHz) for that, no more.
	 */
	assert_true((long)(n_vals / 8) <= n_scans_bin);
	assert_true((long)(n_vals / 8) >= n_scans_bin - 20);
	for (i = 0; i < 8; i++)
		gain[i] = channel_gain(&s, (unsigned int)i);
	bin = fopen(g.gl_pathv[0], "re");
	assert_non_null(bin);
	for (i = 0; i < n_vals; i++) {
		uint8_t b[4];
		int32_t raw;
		float want;

		assert_int_equal(fread(b, 1, 4, bin), 4);
		/* le:s24/32>>0: sign-extend 24 bits */
		raw = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16);
		if (raw & 0x800000)
			raw -= 0x1000000;
		want = (float)((double)raw * gain[i % 8]);
		if (got[i] != want)
			fail_msg("scan %zu channel %zu: published %.9g, simulator %.9g (raw %d)",
				 i / 8, i % 8, got[i], want, raw);
	}
	fclose(bin);
	globfree(&g);
	twitch_reader_free(rs);
	twitch_reader_free(re);
	twitch_client_free(c);
	sim_stop(&s);
	daemon_cleanup(&d);
	free(got);
}

/* Read events until a record satisfies @pred or @ms pass. */
static bool wait_event(struct twitch_reader *r, union rec *u, int ms,
		       bool (*pred)(const union rec *u, const void *arg), const void *arg)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
	int n;

	while (now_ns() < end) {
		n = twitch_reader_next(r, u, sizeof(*u), 100);
		assert_true(n >= 0);
		if (n > 0 && pred(u, arg))
			return true;
	}
	return false;
}

static bool is_loss(const union rec *u, const void *arg)
{
	(void)arg;
	return u->h.type == TWITCH_REC_LOSS && u->l.reason == TWITCH_LOSS_DEVICE_OVERRUN;
}

static bool is_status(const union rec *u, const void *arg)
{
	return u->h.type == TWITCH_REC_STATUS && u->st.state == *(const uint32_t *)arg;
}

/* The simulator drops 1000 scans of @dev: @re must see a loss record of
 * them, @exact or within @block scans. */
static void drop_and_check(struct sim *s, const struct daemon *d, struct twitch_reader *re,
			   const char *dev, bool exact, uint32_t block)
{
	static union rec u;
	const uint64_t n_drop = 1000;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "overflow %s %llu", dev, (unsigned long long)n_drop);
	sim_ctl(s, cmd);
	if (!wait_event(re, &u, 3000, is_loss, NULL)) {
		dump_log(d);
		fail_msg("no loss record after the simulator dropped %llu scans",
			 (unsigned long long)n_drop);
	}
	print_message("%s: dropped %llu, loss record says %s%llu\n", dev,
		      (unsigned long long)n_drop, u.l.exact ? "" : "about ",
		      (unsigned long long)u.l.count);
	assert_int_equal(u.l.exact, exact ? 1 : 0);
	if (exact)
		assert_int_equal(u.l.count, n_drop);
	else
		assert_true(u.l.count + block >= n_drop && u.l.count <= n_drop + block);
}

static void overflow_case_after(const char *spec, const char *conf, const char *dev,
				bool exact, uint32_t block, unsigned int after_ms)
{
	struct twitch_client *c;
	struct twitch_reader *re;
	struct sim s;
	struct daemon d;

	sim_start(&s, spec, NULL);
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &re), 0);
	msleep(after_ms);
	drop_and_check(&s, &d, re, dev, exact, block);
	twitch_reader_free(re);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	sim_stop(&s);
	daemon_cleanup(&d);
}

static void overflow_case(const char *spec, const char *conf, const char *dev, bool exact,
			  uint32_t block)
{
	overflow_case_after(spec, conf, dev, exact, block, 500);
}

static void test_overflow_without_timestamp(void **state)
{
	(void)state;
	/* ADS1298 has no timestamp channel: shortfall against elapsed time,
	 * within one block (the default, 2 ms: 8 scans at 4 kHz) */
	overflow_case("ads1298:rate=4000", emg_conf, "iio:device0", false, 8);
}

/*
 * A loss under the shortfall check's slack (100 ms: 300 scans are 75 ms at
 * 4 kHz), once the device's clock is measured (10 s): the reads come 75 ms
 * later than the clock says, for good, and that is reported within about a
 * window (10 s), within a few ms. It went unreported, every later index
 * 300 scans early.
 */
static void test_small_overflow_without_timestamp(void **state)
{
	struct twitch_client *c;
	struct twitch_reader *re;
	static union rec u;
	struct sim s;
	struct daemon d;

	(void)state;
	sim_start(&s, "ads1298:rate=4000", NULL);
	daemon_start(&d, &s, emg_conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &re), 0);
	/* no loss while the clock is measured */
	assert_false(wait_event(re, &u, 12000, is_loss, NULL));
	sim_ctl(&s, "overflow iio:device0 300");
	if (!wait_event(re, &u, 25000, is_loss, NULL)) {
		dump_log(&d);
		fail_msg("no loss record after the simulator dropped 300 scans");
	}
	print_message("dropped 300, loss record says %s%llu\n", u.l.exact ? "" : "about ",
		      (unsigned long long)u.l.count);
	assert_int_equal(u.l.exact, 0);
	assert_true(u.l.count >= 300 - 24 && u.l.count <= 300 + 24);
	/* and only once */
	assert_false(wait_event(re, &u, 3000, is_loss, NULL));
	twitch_reader_free(re);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	sim_stop(&s);
	daemon_cleanup(&d);
}

static void test_overflow_with_timestamp(void **state)
{
	(void)state;
	overflow_case("generic:name=emg16,channels=4,timestamp=1,rate=2000",
		      "[device adc]\nprofile = generic\nrate_hz = 2000\n", "iio:device0", true, 0);
}

/*
 * Timestamps 2% slower than the nominal rate: a gap is counted in the
 * period the timestamps show, learnt over the first seconds, and is exact.
 * (Counted in nominal periods, 1000 lost scans were 980, "exact".)
 */
static void test_overflow_with_timestamp_off_clock(void **state)
{
	(void)state;
	overflow_case_after("generic:name=emg16,channels=4,timestamp=1,rate=2000,"
			    "clock_ppm=-20000", "[device adc]\nprofile = generic\n"
			    "rate_hz = 2000\n", "iio:device0", true, 0, 6000);
}

/* A client of @d reading its events and samples-emg rings from now on. */
static void emg_readers(const struct daemon *d, struct twitch_client **c,
			struct twitch_reader **re, struct twitch_reader **rs)
{
	assert_int_equal(twitch_client_connect(d->sock, c), 0);
	assert_int_equal(twitch_reader_new(*c, "events", TWITCH_FROM_NEWEST, re), 0);
	assert_int_equal(twitch_reader_new(*c, "samples-emg", TWITCH_FROM_NEWEST, rs), 0);
}

/* Close what emg_readers() opened, stop twitchd (cleanly) and the simulator. */
static void emg_readers_stop(struct twitch_client *c, struct twitch_reader *re,
			     struct twitch_reader *rs, struct daemon *d, struct sim *s)
{
	twitch_reader_free(re);
	twitch_reader_free(rs);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(d, NULL), 0);
	sim_stop(s);
	daemon_cleanup(d);
}

/*
 * An ADS1298 whose oscillator is off by @ppm (it has no timestamp
 * channel): no loss is reported, the sample index has no gap, and from
 * 4 s on (two measured windows) each samples record's last scan is timed
 * at most a few ms before we read it, never after; a loss is still counted
 * as exactly as on a true clock. At 2% and nominal
 * times, a slow clock passed for a loss every 5 s and a fast one put the
 * scans up to 100 ms in the future.
 */
static void clock_case(int ppm)
{
	struct twitch_client *c;
	struct twitch_reader *rs, *re;
	static union rec u;
	char spec[96];
	struct sim s;
	struct daemon d;
	uint64_t t0, t_end, next_index = UINT64_MAX, now;
	int64_t lag, lag_min = INT64_MAX, lag_max = INT64_MIN;
	int n, losses = 0, n_rec = 0;

	snprintf(spec, sizeof(spec), "ads1298:rate=4000,clock_ppm=%d", ppm);
	sim_start(&s, spec, NULL);
	daemon_start(&d, &s, emg_conf);
	emg_readers(&d, &c, &re, &rs);
	t0 = now_ns();
	t_end = t0 + 9000000000u;
	while ((now = now_ns()) < t_end) {
		n = twitch_reader_next(rs, &u, sizeof(u), 200);
		assert_true(n >= 0);
		if (n == 0)
			continue;
		assert_int_equal(u.h.type, TWITCH_REC_SAMPLES);
		if (next_index != UINT64_MAX)
			assert_true(u.h.sample_index == next_index);
		next_index = u.h.sample_index + u.s.n_scans;
		now = now_ns();	/* as read */
		if (now - t0 < 4000000000u)
			continue;
		lag = (int64_t)now - (int64_t)(u.h.t_mono_ns + (uint64_t)(u.s.n_scans - 1) * 250000u);
		if (lag < lag_min)
			lag_min = lag;
		if (lag > lag_max)
			lag_max = lag;
		n_rec++;
	}
	while ((n = twitch_reader_next(re, &u, sizeof(u), 0)) > 0)
		if (u.h.type == TWITCH_REC_LOSS && !(u.h.flags & TWITCH_RECF_LOCAL))
			losses++;
	print_message("clock %+d ppm: %d loss records; %d samples records from 4 s on, read "
		      "%.2f to %.2f ms after their last scan's time\n", ppm, losses, n_rec,
		      (double)lag_min / 1e6, (double)lag_max / 1e6);
	if (losses)
		dump_log(&d);
	assert_int_equal(losses, 0);
	assert_true(n_rec > 1000);
	/* not in the future (1 ms: the model's own jitter), in phase (the
	 * earliest read within 10 ms), and late by no more than a slow
	 * reader makes it (sanitizer builds are slow) */
	assert_true(lag_min > -1000000 && lag_min < 10000000);
	assert_true(lag_max < 100000000);
	/* and a real loss is still counted, within one block (8 scans) */
	drop_and_check(&s, &d, re, "iio:device0", false, 8);
	emg_readers_stop(c, re, rs, &d, &s);
}

static void test_clock_slow_without_timestamp(void **state)
{
	(void)state;
	clock_case(-20000);
}

static void test_clock_fast_without_timestamp(void **state)
{
	(void)state;
	clock_case(20000);
}

/* The next status record @state on @re within @ms, else fail with @what. */
static void wait_status(struct daemon *d, struct twitch_reader *re, union rec *u,
			uint32_t state, int ms, const char *what)
{
	if (!wait_event(re, u, ms, is_status, &state)) {
		dump_log(d);
		fail_msg("%s", what);
	}
}

/* Read @rs until a samples record of index epoch @epoch, within @ms each. */
static void wait_samples_epoch(struct twitch_reader *rs, union rec *u, uint32_t epoch, int ms)
{
	int n;

	do {
		n = twitch_reader_next(rs, u, sizeof(*u), ms);
		assert_true(n > 0);
	} while (u->h.type != TWITCH_REC_SAMPLES || u->s.index_epoch != epoch);
}

static void test_vanish_and_return(void **state)
{
	struct twitch_client *c;
	struct twitch_reader *re, *rs;
	static union rec u;
	struct sim s;
	struct daemon d;

	(void)state;
	sim_start(&s, "ads1298:rate=4000", NULL);
	daemon_start(&d, &s, emg_conf);
	emg_readers(&d, &c, &re, &rs);
	msleep(300);
	sim_ctl(&s, "vanish iio:device0");
	wait_status(&d, re, &u, TWITCH_STATUS_DEVICE_LOST, 3000,
		    "no device_lost status after the device vanished");
	assert_string_equal(u.st.dev_name, "emg");
	sim_ctl(&s, "return iio:device0");
	wait_status(&d, re, &u, TWITCH_STATUS_DEVICE_UP, 10000,
		    "no device_up status after the device returned");
	assert_int_equal(u.st.index_epoch, 1);
	/* samples flow again, in the new epoch, from index 0 */
	wait_samples_epoch(rs, &u, 1, 2000);
	assert_true(u.h.sample_index < 4000);
	emg_readers_stop(c, re, rs, &d, &s);
}

/*
 * A device that stops sending without hanging up (an unregistered IIO
 * device's poll only says "nothing yet"; a front end whose clock stopped):
 * a 1-s pause is waited out, 4 s without a sample is a lost device,
 * reopened, and the samples come back in a new epoch. Until this release
 * twitchd waited for that read for ever, the device "up".
 */
static void test_stall_reopens(void **state)
{
	struct twitch_client *c;
	struct twitch_reader *re, *rs;
	static union rec u;
	uint32_t lost = TWITCH_STATUS_DEVICE_LOST;
	struct sim s;
	struct daemon d;

	(void)state;
	sim_start(&s, "ads1298:rate=4000", NULL);
	daemon_start(&d, &s, emg_conf);
	emg_readers(&d, &c, &re, &rs);
	msleep(300);
	sim_ctl(&s, "stall iio:device0 1000");
	assert_false(wait_event(re, &u, 2500, is_status, &lost));
	sim_ctl(&s, "stall iio:device0 4000");
	wait_status(&d, re, &u, TWITCH_STATUS_DEVICE_LOST, 3500,
		    "no device_lost status 3.5 s into a 4-s stall");
	assert_true(file_contains(d.log, "emg: no samples for 2."));
	wait_status(&d, re, &u, TWITCH_STATUS_DEVICE_UP, 5000,
		    "the stalled device was not reopened");
	wait_samples_epoch(rs, &u, 1, 5000);
	emg_readers_stop(c, re, rs, &d, &s);
}

/*
 * What @rs holds, waiting up to @ms for the first record: one stream with
 * nothing skipped (the same epoch, consecutive sample indexes, from *@next
 * unless it is UINT64_MAX). Return: the scans read.
 */
static uint64_t samples_unbroken(struct twitch_reader *rs, uint32_t *epoch, uint64_t *next,
				 int ms)
{
	static union rec v;
	uint64_t got = 0;
	int n;

	while ((n = twitch_reader_next(rs, &v, sizeof(v), ms)) > 0) {
		ms = 0;
		if (v.h.type != TWITCH_REC_SAMPLES)
			continue;
		if (*next != UINT64_MAX) {
			assert_int_equal(v.s.index_epoch, *epoch);
			assert_int_equal(v.h.sample_index, *next);
		}
		*epoch = v.s.index_epoch;
		*next = v.h.sample_index + v.s.n_scans;
		got += v.s.n_scans;
	}
	assert_true(n >= 0);
	return got;
}

static void test_sighup_reload(void **state)
{
	struct twitch_client *c;
	struct twitch_reader *re, *rs;
	static union rec u;
	uint32_t reloaded = TWITCH_STATUS_CONFIG_RELOADED;
	struct sim s;
	struct daemon d;
	int n;

	(void)state;
	sim_start(&s, "ads1298:rate=4000", NULL);
	daemon_start(&d, &s, emg_conf);
	emg_readers(&d, &c, &re, &rs);
	write_file(d.conf, "[device emg]\nprofile = ti-ads1298\nrate_hz = 2000\n");
	kill(d.pid, SIGHUP);
	assert_true(wait_event(re, &u, 3000, is_status, &reloaded));
	/* the same ring, now at 2 kHz */
	do {
		n = twitch_reader_next(rs, &u, sizeof(u), 3000);
		assert_true(n > 0);
	} while (u.h.type != TWITCH_REC_SAMPLES || u.s.rate_hz != 2000.0f);
	/*
	 * New detector settings rebuild the chain of the running stream: the
	 * same epoch, no sample index skipped, and the leg channels resolved on
	 * the device. A leg channel it lacks is refused, said in the log, and
	 * the running chain kept.
	 */
	{
		uint64_t next = u.h.sample_index + u.s.n_scans, scans = 0, got;
		uint32_t epoch = u.s.index_epoch;

		write_file(d.conf, "[device emg]\nprofile = ti-ads1298\nrate_hz = 2000\n"
			   "leg_channels = voltage6, voltage7\ndetect.threshold_on = 20\n"
			   "mains = 50\n");
		kill(d.pid, SIGHUP);
		assert_true(wait_event(re, &u, 3000, is_status, &reloaded));
		while (scans < 4000) {	/* 2 s at 2 kHz after the reload */
			got = samples_unbroken(rs, &epoch, &next, 3000);
			assert_true(got > 0);
			scans += got;
		}
		assert_true(file_contains(d.log, "new filter and detector settings"));
		assert_false(file_contains(d.log, "voltage6"));
		write_file(d.conf, "[device emg]\nprofile = ti-ads1298\nrate_hz = 2000\n"
			   "leg_channels = voltage6, voltage9\n");
		kill(d.pid, SIGHUP);
		assert_true(wait_event(re, &u, 3000, is_status, &reloaded));
		msleep(200);
		/* a running device keeps the chain it runs (until this release a
		 * typo here turned its twitch detection off) */
		if (!file_contains(d.log, "leg_channels: 'voltage9' is not a channel of this "
				   "device; keeping the running filter and detector settings") ||
		    file_contains(d.log, "twitch detection off")) {
			dump_log(&d);
			fail_msg("a leg channel the device lacks: no error, or detection off");
		}
		/* ... and when the device reopens with it, the samples still flow */
		write_file(d.conf, "[device emg]\nprofile = ti-ads1298\nrate_hz = 4000\n"
			   "leg_channels = voltage6, voltage9\n");
		kill(d.pid, SIGHUP);
		assert_true(wait_event(re, &u, 3000, is_status, &reloaded));
		do {
			n = twitch_reader_next(rs, &u, sizeof(u), 3000);
			assert_true(n > 0);
		} while (u.h.type != TWITCH_REC_SAMPLES || u.s.rate_hz != 4000.0f);
	}
	/*
	 * Settings the device's ring cannot take (records of 64-scan blocks in
	 * slots made for 2 ms ones) cannot run without a restart: the device
	 * goes back to the settings it ran, and the samples go on (until this
	 * release it stayed closed, retrying, until a restart).
	 */
	{
		uint32_t epoch;
		uint64_t next, scans = 0, got;
		int tries;

		write_file(d.conf, "[device emg]\nprofile = ti-ads1298\nrate_hz = 4000\n"
			   "block_scans = 64\n");
		kill(d.pid, SIGHUP);
		assert_true(wait_event(re, &u, 3000, is_status, &reloaded));
		for (tries = 0; tries < 30 && !file_contains(d.log, "back to the running "
							       "settings"); tries++)
			msleep(100);
		if (tries == 30) {
			dump_log(&d);
			fail_msg("settings that outgrow the ring: not back to the running ones");
		}
		while ((n = twitch_reader_next(rs, &u, sizeof(u), 0)) > 0)
			;	/* what came before the reopen */
		do {
			n = twitch_reader_next(rs, &u, sizeof(u), 3000);
			assert_true(n > 0);
		} while (u.h.type != TWITCH_REC_SAMPLES);
		epoch = u.s.index_epoch;
		next = u.h.sample_index + u.s.n_scans;
		while (scans < 4000) {	/* 1 s at 4 kHz, unbroken */
			got = samples_unbroken(rs, &epoch, &next, 3000);
			assert_true(got > 0);
			scans += got;
		}
	}
	/* a broken file is refused and the running configuration kept */
	write_file(d.conf, "[device emg]\nrate_hz = fast\n");
	kill(d.pid, SIGHUP);
	msleep(300);
	assert_int_equal(kill(d.pid, 0), 0);
	emg_readers_stop(c, re, rs, &d, &s);
}

static bool is_twitch(const union rec *u, const void *arg)
{
	(void)arg;
	return u->h.type == TWITCH_REC_TWITCH;
}

/*
 * detect = no on a reload: the stream goes on without a reopen, its samples
 * still come unbroken and no twitch record does, though the subject twitches
 * ten times a second; detect = yes brings them back, again without a reopen.
 */
static void test_detect_off(void **state)
{
	static const char off_conf[] = "[daemon]\nlog_level = debug\n"
				       "[device emg]\nprofile = ti-ads1298\n"
				       "rate_hz = 4000\ndetect = no\n"
				       "leg_channels = voltage6, voltage9\n";
	struct twitch_client *c;
	struct twitch_reader *re, *rs;
	static union rec u;
	uint32_t reloaded = TWITCH_STATUS_CONFIG_RELOADED, epoch = 0;
	uint64_t next = UINT64_MAX, end, scans = 0;
	struct sim s;
	struct daemon d;
	int n;

	(void)state;
	sim_start(&s, "ads1298:rate=4000,mup_per_min=600", NULL);
	daemon_start(&d, &s, emg_conf);
	emg_readers(&d, &c, &re, &rs);
	assert_true(wait_event(re, &u, 5000, is_twitch, NULL));	/* it detects */
	write_file(d.conf, off_conf);
	kill(d.pid, SIGHUP);
	assert_true(wait_event(re, &u, 3000, is_status, &reloaded));
	msleep(100);
	assert_true(file_contains(d.log, "samples only, no twitch detection (detect = no)"));
	/* a chain key that would not fit is said at once, though unused */
	assert_true(file_contains(d.log, "'voltage9' is not a channel of this device (unused "
				       "while detect = no)"));
	{
		char cmd[PATH_MAX + 128], out[4096];

		snprintf(cmd, sizeof(cmd), "%s/twitchctl -s %s status", build_dir(), d.sock);
		assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
		if (!strstr(out, "running") || !strstr(out, "no twitch detection (detect = no)"))
			fail_msg("twitchctl status with detect = no: %s", out);
	}
	/* what was open at the reload was published before its status */
	while (twitch_reader_next(re, &u, sizeof(u), 0) > 0)
		;
	samples_unbroken(rs, &epoch, &next, 0);	/* from before the reload on */
	end = now_ns() + 2000000000u;
	while (now_ns() < end) {
		scans += samples_unbroken(rs, &epoch, &next, 100);
		while ((n = twitch_reader_next(re, &u, sizeof(u), 0)) > 0)
			if (u.h.type == TWITCH_REC_TWITCH)
				fail_msg("a twitch record with detect = no");
		assert_true(n >= 0);
	}
	assert_true(scans >= 4000);	/* 2 s at 4 kHz, less a block or two */
	write_file(d.conf, "[device emg]\nprofile = ti-ads1298\nrate_hz = 4000\n"
		   "detect = yes\n");
	kill(d.pid, SIGHUP);
	assert_true(wait_event(re, &u, 3000, is_status, &reloaded));
	assert_true(wait_event(re, &u, 5000, is_twitch, NULL));
	assert_true(samples_unbroken(rs, &epoch, &next, 0) > 0);	/* across it too */
	assert_false(file_contains(d.log, "new settings: reopening"));
	emg_readers_stop(c, re, rs, &d, &s);
}

/*
 * More devices than one status answer holds: the summary gives whole lines
 * only and says how many more there are; "status I" gives each one whole,
 * ENODEV past the last; twitchctl status prints every device whole.
 */
static void test_status_many_devices(void **state)
{
	static const char *const names[] = { "left_leg_emg", "right_leg_emg", "bioz" };
	static const char conf[] =
		"[device left_leg_emg]\nprofile = ti-ads1298\ndevice = iio:device0\n"
		"rate_hz = 1000\nleg_channels = voltage0, voltage1, voltage2, voltage3, "
		"voltage4, voltage5, voltage6, voltage7\n"
		"[device right_leg_emg]\nprofile = ti-ads1298\ndevice = iio:device1\n"
		"rate_hz = 1000\nleg_channels = voltage0, voltage1, voltage2, voltage3, "
		"voltage4, voltage5, voltage6, voltage7\n"
		"[device bioz]\nprofile = ad5933\ndevice = iio:device2\n";
	char reply[600], one[600], cmd[PATH_MAX + 64], out[4096], want[64], *p, *save;
	struct twitch_client *c;
	unsigned int k = 0, more = 0, from = 0;
	struct daemon d;
	struct sim s;

	(void)state;
	sim_start3(&s, "ads1298:rate=1000", "ads1298:rate=1000", "ad5933");
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_client_command(c, "status", reply, sizeof(reply)), 0);
	print_message("status: %s\n", reply);
	/* whole lines in device order, then how many more: never a cut one */
	for (p = strtok_r(reply, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
		p += *p == ' ';
		if (!strncmp(p, "up ", 3))
			continue;
		if (sscanf(p, "%u more device", &more) == 1) {
			assert_non_null(strstr(p, "(status "));
			assert_int_equal(sscanf(strstr(p, "(status "), "(status %u)", &from), 1);
			break;
		}
		assert_true(k < 3);
		snprintf(want, sizeof(want), "%s: ", names[k]);
		assert_true(!strncmp(p, want, strlen(want)));
		assert_non_null(strstr(p, k < 2 ? "leg channels voltage0,voltage1,voltage2,"
					  "voltage3,voltage4,voltage5,voltage6,voltage7" :
					  "tissue temperature"));
		k++;
	}
	assert_true(more > 0);		/* three do not fit in one answer */
	assert_int_equal(from, k);
	assert_int_equal(k + more, 3);
	for (k = 0; k < 3; k++) {
		snprintf(cmd, sizeof(cmd), "status %u", k);
		assert_int_equal(twitch_client_command(c, cmd, one, sizeof(one)), 0);
		snprintf(want, sizeof(want), "%s: ", names[k]);
		assert_true(!strncmp(one, want, strlen(want)));
	}
	assert_int_equal(twitch_client_command(c, "status 3", one, sizeof(one)), ENODEV);
	assert_int_equal(twitch_client_command(c, "status x", one, sizeof(one)), EINVAL);
	assert_int_equal(twitch_client_command(c, "status 0.5", one, sizeof(one)), EINVAL);
	twitch_client_free(c);
	/* twitchctl prints every device whole */
	snprintf(cmd, sizeof(cmd), "%s/twitchctl -s %s status", build_dir(), d.sock);
	assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
	print_message("%s", out);
	assert_non_null(strstr(out, "\n  left_leg_emg: ti-ads1298 iio:device0"));
	assert_non_null(strstr(out, "\n  right_leg_emg: ti-ads1298 iio:device1"));
	assert_non_null(strstr(out, "\n  bioz: ad5933 iio:device2 2 ch sweeps of "));
	assert_null(strstr(out, "more device"));
	/* and as JSON: valid, each device one string of "devices" */
	snprintf(cmd, sizeof(cmd), "%s/twitchctl -s %s status --json | /usr/bin/python3 -c "
		 "'import json, sys; d = json.load(sys.stdin); "
		 "print(\"|\".join(x.split(\":\")[0] for x in d[\"devices\"]))'",
		 build_dir(), d.sock);
	assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
	assert_string_equal(out, "left_leg_emg|right_leg_emg|bioz\n");
	assert_int_equal(daemon_stop(&d, NULL), 0);
	daemon_cleanup(&d);
	sim_stop(&s);
}

/*
 * Limb movements live: the simulated subject makes them only on channels 6
 * and 7, twitchd is told those are the legs, and every limb movement of the
 * ground truth comes back as a final LIMB_MOVEMENT record on a leg channel,
 * its onset within 100 ms (the AASM rule works on a 50-ms envelope); none
 * is reported on the other six channels.
 */
static void test_live_limb_movements(void **state)
{
	static const char conf[] = "[device emg]\nprofile = ti-ads1298\nrate_hz = 4000\n"
				   "leg_channels = voltage6, voltage7\n";
	static uint64_t lm_index[64], lm_mask[64];
	char pattern[PATH_MAX + 64], line[1024];
	struct twitch_client *c;
	struct twitch_reader *re;
	static union rec u;
	size_t n_lm = 0, n_truth = 0, found = 0, i, j;
	uint64_t t_end;
	struct sim s;
	struct daemon d;
	glob_t g;
	FILE *f;

	(void)state;
	sim_start(&s, "ads1298:rate=4000,mup_per_min=0,lm_per_min=20,leg_mask=0xc0", NULL);
	/* a leg channel the device lacks: the configuration's fault, exit 2 */
	assert_int_equal(daemon_run_fail(&s, "[device emg]\nprofile = ti-ads1298\n"
					 "leg_channels = voltage7, voltage9\n", line,
					 sizeof(line)), 2);
	assert_non_null(strstr(line, "leg_channels: 'voltage9' is not a channel"));
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &re), 0);
	/* the status says which channels are legs, for whoever checks the cart */
	assert_int_equal(twitch_client_command(c, "status", line, sizeof(line)), 0);
	print_message("status: %s\n", line);
	assert_non_null(strstr(line, ", mains "));
	assert_non_null(strstr(line, ", leg channels voltage6,voltage7"));
	t_end = now_ns() + 30000000000ull;
	while (now_ns() < t_end) {
		if (twitch_reader_next(re, &u, sizeof(u), 200) <= 0 ||
		    u.h.type != TWITCH_REC_TWITCH || (u.h.flags & TWITCH_EVF_ONSET) ||
		    (u.h.flags & TWITCH_EVF_REJECT))
			continue;
		if (u.t.twitch_class != TWITCH_CLASS_LIMB_MOVEMENT)
			continue;
		assert_int_equal(u.t.channel_mask & ~UINT64_C(0xc0), 0);
		if (n_lm < 64) {
			lm_index[n_lm] = u.h.sample_index;
			lm_mask[n_lm++] = u.t.channel_mask;
		}
	}
	assert_int_equal(daemon_stop(&d, NULL), 0);
	/* what stopping finished */
	while (twitch_reader_next(re, &u, sizeof(u), 0) > 0)
		if (u.h.type == TWITCH_REC_TWITCH && !(u.h.flags & TWITCH_EVF_ONSET) &&
		    !(u.h.flags & TWITCH_EVF_REJECT) &&
		    u.t.twitch_class == TWITCH_CLASS_LIMB_MOVEMENT && n_lm < 64) {
			assert_int_equal(u.t.channel_mask & ~UINT64_C(0xc0), 0);
			lm_index[n_lm] = u.h.sample_index;
			lm_mask[n_lm++] = u.t.channel_mask;
		}
	snprintf(pattern, sizeof(pattern), "%s/*.s1.truth.jsonl", s.env.devsim_dir);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	f = fopen(g.gl_pathv[0], "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		uint64_t on, mask;

		if (!strstr(line, "\"class\":\"limb_movement\""))
			continue;
		on = json_u64(line, "\"onset_index\":");
		mask = json_u64(line, "\"channel_mask\":");
		assert_int_equal(mask & ~UINT64_C(0xc0), 0);
		if (on < 4000)
			continue;	/* the noise floors are still being learnt */
		n_truth++;
		for (j = 0; j < n_lm; j++)
			if ((lm_mask[j] & mask) &&
			    (lm_index[j] > on ? lm_index[j] - on : on - lm_index[j]) <= 400)
				break;
		found += j < n_lm;
	}
	fclose(f);
	globfree(&g);
	print_message("limb movements: %zu in the ground truth, %zu found live; %zu reported\n",
		      n_truth, found, n_lm);
	for (i = 0; i < n_lm; i++)
		print_message("  live LM at scan %llu, mask %#llx\n",
			      (unsigned long long)lm_index[i], (unsigned long long)lm_mask[i]);
	assert_true(n_truth >= 2);
	assert_int_equal(found, n_truth);
	twitch_reader_free(re);
	twitch_client_free(c);
	sim_stop(&s);
	daemon_cleanup(&d);
}

static bool is_bioz(const union rec *u, const void *arg)
{
	(void)arg;
	return u->h.type == TWITCH_REC_BIOZ;
}

static bool is_alert(const union rec *u, const void *arg)
{
	return u->h.type == TWITCH_REC_ALERT && u->al.alert == TWITCH_BIOZ_ALERT_PHA_DROP &&
	       u->al.state == *(const uint32_t *)arg;
}

static void command_ok(struct twitch_client *c, const char *cmd)
{
	char reply[256];
	int err = twitch_client_command(c, cmd, reply, sizeof(reply));

	if (err != 0)
		fail_msg("'%s': %d %s", cmd, err, reply);
}

/*
 * The live bioimpedance path: calibrate against the simulator's 1 kohm
 * resistor, switch it to its Cole body (R0 600, Rinf 375 ohm, fc 50 kHz,
 * alpha 0.7: the reference's subject M), and the estimates must recover
 * that body; body water appears only once subject data are given.
 */
/*
 * "calibrate" while a sweep is under way on the patient: that sweep is not
 * the resistor's, and must not become the calibration (the resistor goes
 * on the leads when the command is given). The next sweep, begun at once
 * after it, calibrates; the patient measured after reads right. (The sweep
 * under way calibrated: the body, or half of it, taken for 1000 ohm.)
 */
static void test_bioz_calibration_waits_for_its_sweep(void **test_state)
{
	char state[] = "/tmp/twitch-state-XXXXXX", rm[64];
	static const char conf[] =
		"[device bioz]\nprofile = ad5933\nsweep_start_hz = 5000\n"
		"sweep_increment_hz = 1000\nsweep_points = 96\nsweep_interval_s = 3\n";
	uint32_t up = TWITCH_STATUS_DEVICE_UP;
	struct twitch_client *c;
	struct twitch_reader *re;
	static union rec u;
	struct sim s;
	struct daemon d;
	uint64_t t_cal;
	int i;

	(void)test_state;
	assert_non_null(mkdtemp(state));
	setenv("STATE_DIRECTORY", state, 1);
	sim_start(&s, "ad5933:load=body", NULL);
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &re), 0);
	msleep(850);	/* the first sweep, on the body, is most of the way through */
	command_ok(c, "calibrate 1000");
	t_cal = now_ns();
	sim_ctl(&s, "load iio:device0 resistor 1000");
	do
		assert_true(wait_event(re, &u, 5000, is_status, &up));
	while (strstr(u.st.text, "calibrated") == NULL);
	/* the next sweep, begun at once, not one the interval away */
	print_message("calibrated %.1f s after the request\n", (double)(now_ns() - t_cal) / 1e9);
	assert_true(now_ns() - t_cal < 2800000000u);
	sim_ctl(&s, "load iio:device0 body");
	/* the sweep under way may still see the resistor: take a later one */
	for (i = 0; i < 2; i++)
		assert_true(wait_event(re, &u, 8000, is_bioz, NULL));
	print_message("body after it: R0 %.2f Rinf %.2f\n", u.z.r0_ohm, u.z.rinf_ohm);
	assert_true(u.z.flags & TWITCH_BIOZF_TRUSTED);
	assert_true(fabs(u.z.r0_ohm - 600) < 6);	/* within 1% */
	assert_true(fabs(u.z.rinf_ohm - 375) < 3.75);
	twitch_reader_free(re);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	sim_stop(&s);
	daemon_cleanup(&d);
	unsetenv("STATE_DIRECTORY");
	snprintf(rm, sizeof(rm), "rm -rf %s", state);
	if (system(rm) != 0)
		print_message("cannot remove %s\n", state);
}

static void test_bioz_calibrate_and_estimate(void **test_state)
{
	char state[] = "/tmp/twitch-state-XXXXXX", path[128], ppath[128];
	static const char conf[] =
		"[device bioz]\nprofile = ad5933\nsweep_start_hz = 5000\n"
		"sweep_increment_hz = 1000\nsweep_points = 96\nsweep_interval_s = 1\n";
	static const char conf_subject[] =
		"[device bioz]\nprofile = ad5933\nsweep_start_hz = 5000\n"
		"sweep_increment_hz = 1000\nsweep_points = 96\nsweep_interval_s = 1\n"
		"subject = height_cm=175,weight_kg=70,sex=m,age=40\n";
	static const char conf_subject2[] =
		"[device bioz]\nprofile = ad5933\nsweep_start_hz = 5000\n"
		"sweep_increment_hz = 1000\nsweep_points = 96\nsweep_interval_s = 1\n"
		"subject = height_cm=160,weight_kg=55,sex=f,age=40\n";
	double ecw0;
	uint32_t up = TWITCH_STATUS_DEVICE_UP;
	uint32_t raised = TWITCH_ALERT_RAISED, cleared = TWITCH_ALERT_CLEARED;
	struct twitch_client *c;
	struct twitch_reader *re;
	static union rec u;
	struct sim s;
	struct daemon d;
	char reply[256];
	int i;

	(void)test_state;
	/* twitchd keeps calibrations in $STATE_DIRECTORY (children inherit it) */
	assert_non_null(mkdtemp(state));
	setenv("STATE_DIRECTORY", state, 1);
	sim_start(&s, "ad5933:load=resistor,r=1000", NULL);
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &re), 0);
	/* the first sweeps: no calibration, so no estimate at all */
	assert_false(wait_event(re, &u, 2500, is_bioz, NULL));
	assert_int_equal(twitch_client_command(c, "calibrate 0", reply, sizeof(reply)), EINVAL);
	assert_int_equal(twitch_client_command(c, "subject height_cm=abc", reply, sizeof(reply)),
			 EINVAL);
	/* the plain question twitch-top asks */
	assert_int_equal(twitch_client_command(c, "calibration", reply, sizeof(reply)), 0);
	assert_non_null(strstr(reply, "bioz: not calibrated"));
	command_ok(c, "calibrate 1000");
	do
		assert_true(wait_event(re, &u, 5000, is_status, &up));
	while (strstr(u.st.text, "calibrated") == NULL);
	assert_int_equal(twitch_client_command(c, "calibration", reply, sizeof(reply)), 0);
	assert_string_equal(reply, "bioz: calibrated over 96 frequencies");
	sim_ctl(&s, "load iio:device0 body");
	/* the sweep under way may still see the resistor: take a later one */
	for (i = 0; i < 3; i++)
		assert_true(wait_event(re, &u, 5000, is_bioz, NULL));
	print_message("body: R0 %.2f Rinf %.2f alpha %.4f fc %.0f Hz, phase %.2f deg\n",
		      u.z.r0_ohm, u.z.rinf_ohm, u.z.alpha, u.z.fc_hz, u.z.phase_deg_50k);
	assert_true(u.z.flags & TWITCH_BIOZF_TRUSTED);
	assert_false(u.z.flags & TWITCH_BIOZF_SUBJECT);
	assert_true(isnan(u.z.ecw_l));		/* no subject: no body water */
	assert_true(fabs(u.z.r0_ohm - 600) < 6);	/* within 1% */
	assert_true(fabs(u.z.rinf_ohm - 375) < 3.75);
	assert_true(fabs(u.z.alpha - 0.7) < 0.02);
	assert_true(fabs(u.z.fc_hz - 50000) < 2500);
	command_ok(c, "subject height_cm=175,weight_kg=70,sex=m,age=40");
	do
		assert_true(wait_event(re, &u, 5000, is_bioz, NULL));
	while (!(u.z.flags & TWITCH_BIOZF_SUBJECT));
	print_message("with subject: ECW %.2f L ICW %.2f L TBW %.2f L ECW/TBW %.3f\n",
		      u.z.ecw_l, u.z.icw_l, u.z.tbw_l, u.z.ecw_tbw);
	assert_true(u.z.ecw_l > 5 && u.z.ecw_l < 40);
	assert_true(u.z.ecw_tbw > 0.3 && u.z.ecw_tbw < 0.5);
	assert_string_not_equal(twitch_model_name(u.z.model_ecw), "unknown");

	/*
	 * A baseline, then a hydration shift (the body's dispersion narrows:
	 * phase angle about 8 -> 5 deg): one phase_angle_drop alert record,
	 * and one that clears it when the body is back.
	 */
	command_ok(c, "baseline");
	for (i = 0; i < 7; i++)
		assert_true(wait_event(re, &u, 5000, is_bioz, NULL));
	assert_true(u.z.flags & TWITCH_BIOZF_BASELINE);
	sim_ctl(&s, "load iio:device0 body 800 600 50000 0.7");
	assert_true(wait_event(re, &u, 8000, is_alert, &raised));
	print_message("alert: %s: %.2f deg, baseline %.2f, limit %.2f\n", u.al.text, u.al.value,
		      u.al.baseline, u.al.threshold);
	assert_int_equal(u.h.device, 0);
	assert_true(fabs(u.al.baseline - 8.05) < 0.2);
	assert_true(u.al.value < u.al.threshold);
	assert_true(fabs(u.al.threshold - (u.al.baseline - 1.0)) < 1e-9);	/* default 1 deg */
	/* raised once, not once a sweep */
	assert_false(wait_event(re, &u, 2500, is_alert, &raised));
	sim_ctl(&s, "load iio:device0 body 600 375 50000 0.7");
	assert_true(wait_event(re, &u, 8000, is_alert, &cleared));
	assert_true(u.al.value >= u.al.threshold);
	twitch_reader_free(re);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	daemon_cleanup(&d);

	/*
	 * A restart keeps the calibration (estimates without calibrating
	 * again), the subject data (body water from the first sweep) and the
	 * finished baseline (judged from the first sweep, not re-taken).
	 */
	snprintf(path, sizeof(path), "%s/calibration-bioz", state);
	snprintf(ppath, sizeof(ppath), "%s/patient-bioz", state);
	assert_int_equal(access(path, R_OK), 0);
	assert_true(file_contains(ppath, "subject height_cm=175,weight_kg=70,sex=m,age=40 "));
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	/* calibrated from the state directory before any sweep */
	assert_int_equal(twitch_client_command(c, "calibration", reply, sizeof(reply)), 0);
	assert_string_equal(reply, "bioz: calibrated over 96 frequencies");
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &re), 0);
	if (!wait_event(re, &u, 8000, is_bioz, NULL)) {
		dump_log(&d);
		fail_msg("no estimate within 8 s of the restart");
	}
	assert_true(u.z.flags & TWITCH_BIOZF_TRUSTED);
	assert_true(fabs(u.z.r0_ohm - 600) < 6);
	assert_true(u.z.flags & TWITCH_BIOZF_SUBJECT);
	assert_true(u.z.flags & TWITCH_BIOZF_BASELINE);
	assert_true(u.z.ecw_l > 5 && u.z.ecw_l < 40);
	assert_int_equal(u.z.model_ri, TWITCH_MODEL_RI_NOT_COMP);
	assert_true(isnan(u.z.temp_c));

	/*
	 * A tissue temperature: sweeps carry it at once, but the index is
	 * compensated only against a baseline that had one too.
	 */
	assert_int_equal(twitch_client_command(c, "temperature 99", reply, sizeof(reply)),
			 EINVAL);
	command_ok(c, "temperature 36.5");
	do
		assert_true(wait_event(re, &u, 5000, is_bioz, NULL));
	while (!(u.z.temp_c == 36.5));
	{
		char st[512];

		assert_int_equal(twitch_client_command(c, "status", st, sizeof(st)), 0);
		print_message("status: %s\n", st);
		assert_non_null(strstr(st, "subject data set, baseline set, tissue 36.5 degC"));
	}
	assert_int_equal(u.z.model_ri, TWITCH_MODEL_RI_NOT_COMP);
	command_ok(c, "baseline");
	for (i = 0; i < 12; i++) {
		assert_true(wait_event(re, &u, 5000, is_bioz, NULL));
		if (u.z.flags & TWITCH_BIOZF_BASELINE)
			break;
	}
	assert_true(u.z.flags & TWITCH_BIOZF_BASELINE);
	assert_int_equal(u.z.model_ri, TWITCH_MODEL_RI_TEMP_COMP);
	assert_true(fabs(u.z.ri_index) < 0.01);		/* the same body, the same 36.5 degC */
	command_ok(c, "temperature none");
	do
		assert_true(wait_event(re, &u, 5000, is_bioz, NULL));
	while (!isnan(u.z.temp_c));
	assert_int_equal(u.z.model_ri, TWITCH_MODEL_RI_NOT_COMP);

	/* a new patient: forget both, and a restart must not bring them back */
	command_ok(c, "subject none");
	command_ok(c, "baseline");
	twitch_reader_free(re);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	assert_true(file_contains(d.log, "calibration against 1000 ohm from"));
	assert_true(file_contains(d.log, "restored from"));
	assert_true(file_contains(ppath, "subject none\nbaseline none\nend\n"));
	daemon_cleanup(&d);

	/* a damaged one is named and not used: no estimate from a guess */
	write_file(path, "twitchd-calibration 1\ndevice bioz\nresistor_ohm 1000\n");
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &re), 0);
	assert_false(wait_event(re, &u, 3000, is_bioz, NULL));
	twitch_reader_free(re);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	assert_true(file_contains(d.log, "stored calibration not used"));
	assert_true(file_contains(d.log, "calibration-bioz:4:"));
	daemon_cleanup(&d);

	/*
	 * An R-C phantom, 200 ohm + (800 ohm || 4 nF), in place of the body:
	 * a Cole body with alpha 1 (fc 49.7 kHz) to the simulator. Calibrated
	 * on it, twitchd must again recover the Cole body. The subject data
	 * come from the config this time (the stored patient has none).
	 */
	sim_ctl(&s, "load iio:device0 body 1000 200 49735.9 1.0");
	daemon_start(&d, &s, conf_subject);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &re), 0);
	assert_int_equal(twitch_client_command(c, "calibrate rc 200 800", reply, sizeof(reply)),
			 EINVAL);
	command_ok(c, "calibrate rc 200 800 4");
	do
		assert_true(wait_event(re, &u, 5000, is_status, &up));
	while (strstr(u.st.text, "calibrated") == NULL);
	sim_ctl(&s, "load iio:device0 body 600 375 50000 0.7");
	for (i = 0; i < 3; i++)
		assert_true(wait_event(re, &u, 5000, is_bioz, NULL));
	print_message("body after an R-C calibration: R0 %.2f Rinf %.2f alpha %.4f fc %.0f Hz\n",
		      u.z.r0_ohm, u.z.rinf_ohm, u.z.alpha, u.z.fc_hz);
	assert_true(u.z.flags & TWITCH_BIOZF_TRUSTED);
	assert_true(fabs(u.z.r0_ohm - 600) < 6);
	assert_true(fabs(u.z.rinf_ohm - 375) < 3.75);
	assert_true(fabs(u.z.alpha - 0.7) < 0.02);
	assert_true(fabs(u.z.fc_hz - 50000) < 2500);
	assert_true(u.z.flags & TWITCH_BIOZF_SUBJECT);
	/* a reload that changes the config's subject applies it: less body water */
	ecw0 = u.z.ecw_l;
	write_file(d.conf, conf_subject2);
	kill(d.pid, SIGHUP);
	for (i = 0; i < 10; i++) {
		assert_true(wait_event(re, &u, 5000, is_bioz, NULL));
		if (u.z.ecw_l < ecw0 - 1.0)
			break;
	}
	print_message("ECW %.2f L after a reload with another subject (was %.2f L)\n", u.z.ecw_l,
		      ecw0);
	assert_true(i < 10);
	twitch_reader_free(re);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	assert_true(file_contains(path, "rc_network 200 800 "));
	assert_true(file_contains(d.log, "subject data from the config"));
	daemon_cleanup(&d);
	sim_stop(&s);
	unlink(path);
	unlink(ppath);
	rmdir(state);
	unsetenv("STATE_DIRECTORY");
}

/* iiod under the testbed on a free port of 127.0.0.1; returns its pid. */
static pid_t iiod_start(const struct sim *s, char *port, size_t port_size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	pid_t pid;
	int fd, i;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	snprintf(port, port_size, "%u", ntohs(sa.sin_port));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(null, STDOUT_FILENO);	/* it retries avahi, noisily */
		dup2(null, STDERR_FILENO);
		setenv("UMOCKDEV_DIR", s->env.umockdev_dir, 1);
		setenv("LD_PRELOAD", s->env.preload, 1);
		execlp("iiod", "iiod", "-p", port, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 250; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return pid;
		}
		close(fd);
		msleep(20);
	}
	fail_msg("iiod did not listen on port %s", port);
	return -1;
}

/* Stop iiod (stopped or not) and reap it. */
static void iiod_stop(pid_t iiod)
{
	kill(iiod, SIGKILL);	/* SIGTERM waits out avahi's retries */
	kill(iiod, SIGCONT);
	kid_done(iiod);
	waitpid(iiod, NULL, 0);
}

/*
 * A remote front end: the real iiod serves the simulated ADS1298 and
 * twitchd reads it over 127.0.0.1 through libiio's network backend (a
 * refill thread handing blocks to the loop). The samples must be the
 * simulator's, continuous and without loss.
 */
static void test_remote_through_iiod(void **state)
{
	struct twitch_client *c;
	struct twitch_reader *rs;
	static union rec u;
	char port[16], conf[256], pattern[PATH_MAX + 64];
	uint64_t next = 0, t_end;
	double gain = 0;
	size_t checked = 0;
	struct sim s;
	struct daemon d;
	glob_t g;
	FILE *bin;
	pid_t iiod;
	int n;

	(void)state;
	sim_start(&s, "ads1298:rate=4000", NULL);
	iiod = iiod_start(&s, port, sizeof(port));
	kid_add(iiod);
	snprintf(conf, sizeof(conf), "[device emg]\nuri = ip:127.0.0.1:%s\ndevice = ads1298\n"
		 "profile = ti-ads1298\nrate_hz = 4000\n", port);
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "samples-emg", TWITCH_FROM_OLDEST, &rs), 0);
	/*
	 * Each enable of the simulated buffer is a session with a log of its
	 * own (.sN.bin). Under load, iiod has been seen to enable it twice
	 * before the first block reached twitchd (a first session of 25
	 * scans): the scans come from the session open when the first
	 * record arrives, the newest then; a later one would be a break,
	 * and the comparison below would fail on it.
	 */
	snprintf(pattern, sizeof(pattern), "%s/*.s*.bin", s.env.devsim_dir);
	t_end = now_ns() + 3000000000u;
	bin = NULL;
	while (now_ns() < t_end) {
		n = twitch_reader_next(rs, &u, sizeof(u), 500);
		assert_true(n > 0);
		assert_int_equal(u.h.type, TWITCH_REC_SAMPLES);
		assert_int_equal(u.h.sample_index, next);
		assert_int_equal(u.s.n_channels, 8);
		next += u.s.n_scans;
		if (bin == NULL && glob(pattern, 0, NULL, &g) == 0) {
			unsigned int best = 0, sn;
			size_t k, pick = 0;

			for (k = 0; k < g.gl_pathc; k++) {
				const char *dot = strrchr(g.gl_pathv[k], '/');

				dot = dot ? strstr(dot, ".s") : NULL;
				if (dot && sscanf(dot, ".s%u.bin", &sn) == 1 && sn > best) {
					best = sn;
					pick = k;
				}
			}
			if (best > 1)
				print_message("the simulator's session %u (of %zu)\n", best,
					      g.gl_pathc);
			bin = fopen(g.gl_pathv[pick], "re");
			globfree(&g);
			gain = channel_gain(&s, 0);
		}
		/* channel 0 of every scan against the simulator's bytes */
		for (n = 0; bin && n < u.s.n_scans; n++) {
			uint8_t b[32];
			int32_t raw;

			assert_int_equal(fread(b, 1, 32, bin), 32);
			raw = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16);
			if (raw & 0x800000)
				raw -= 0x1000000;
			assert_true(u.s.data[(size_t)n * 8] == (float)((double)raw * gain));
			checked++;
		}
	}
	print_message("remote: %llu scans in 3 s through iiod, %zu checked against the "
		      "simulator\n", (unsigned long long)next, checked);
	assert_true(next >= 3 * 4000 * 8 / 10);
	assert_true(checked == next);
	assert_int_equal(twitch_reader_lost(rs), 0);
	if (bin)
		fclose(bin);
	twitch_reader_free(rs);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	iiod_stop(iiod);
	sim_stop(&s);
	daemon_cleanup(&d);
}

/*
 * A remote board's timestamps are of its own clock: one up a day longer
 * than this machine (ts_offset_s) must still give records stamped now,
 * on our CLOCK_MONOTONIC and CLOCK_REALTIME. (They were taken as ours:
 * every record a day in the future.)
 */
static void test_remote_board_clock(void **state)
{
	struct twitch_client *c;
	struct twitch_reader *rs;
	static union rec u;
	char port[16], conf[256];
	int64_t worst = 0, worst_real = 0, d_mono, d_real;
	uint64_t t_end, next = 0, last_t = 0;
	size_t n_rec = 0;
	struct timespec rt;
	struct sim s;
	struct daemon d;
	pid_t iiod;
	int n;

	(void)state;
	sim_start(&s, "generic:name=far16,channels=4,timestamp=1,rate=1000,ts_offset_s=86400",
		  NULL);
	iiod = iiod_start(&s, port, sizeof(port));
	kid_add(iiod);
	snprintf(conf, sizeof(conf), "[device far]\nuri = ip:127.0.0.1:%s\ndevice = far16\n"
		 "profile = generic\nrate_hz = 1000\ndetect = no\n", port);
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "samples-far", TWITCH_FROM_NEWEST, &rs), 0);
	t_end = now_ns() + 3000000000u;
	while (now_ns() < t_end) {
		n = twitch_reader_next(rs, &u, sizeof(u), 500);
		assert_true(n > 0);
		assert_int_equal(u.h.type, TWITCH_REC_SAMPLES);
		if (next)
			assert_int_equal(u.h.sample_index, next);
		next = u.h.sample_index + u.s.n_scans;
		/* never back: each record after the last one's last scan */
		assert_true(u.h.t_mono_ns > last_t);
		last_t = u.h.t_mono_ns + (uint64_t)(u.s.n_scans - 1) * 1000000u;
		clock_gettime(CLOCK_REALTIME, &rt);
		d_mono = (int64_t)now_ns() - (int64_t)u.h.t_mono_ns;
		d_real = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec - (int64_t)u.h.t_real_ns;
		worst = llabs(d_mono) > worst ? llabs(d_mono) : worst;
		worst_real = llabs(d_real) > worst_real ? llabs(d_real) : worst_real;
		n_rec++;
	}
	print_message("remote board a day ahead: %zu records, stamped within %.1f ms of now "
		      "(monotonic), %.1f ms (realtime)\n", n_rec, (double)worst / 1e6,
		      (double)worst_real / 1e6);
	assert_true(n_rec > 10);
	assert_true(worst < 1000000000);
	assert_true(worst_real < 1000000000);
	twitch_reader_free(rs);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	iiod_stop(iiod);
	sim_stop(&s);
	daemon_cleanup(&d);
}

/*
 * An iiod that accepts connections but does not answer (stopped) holds
 * each open attempt of its device for 5 s and more in libiio. That must
 * not stall the loop: the local front end beside it goes on without a gap,
 * the control socket answers, and SIGTERM still stops twitchd in about a
 * second. (Attempts ran on the loop: losses of seconds on the local
 * device, watchdog pings 12 s apart, an 11.6-s stop.)
 */
static void test_hung_iiod_stalls_nothing(void **state)
{
	struct twitch_client *c;
	struct twitch_reader *rs;
	static union rec u;
	char port[16], conf[512], reply[128];
	uint64_t next = 0, t_end, t0 = 0, worst_ping = 0, stop_ns = 0;
	unsigned int pings = 0;
	struct sim s;
	struct daemon d;
	pid_t iiod;
	int n;

	(void)state;
	sim_start(&s, "ads1298:rate=4000", "ads1298:rate=1000");
	iiod = iiod_start(&s, port, sizeof(port));
	kid_add(iiod);
	snprintf(conf, sizeof(conf),
		 "[device emg]\ndevice = iio:device0\nprofile = ti-ads1298\nrate_hz = 4000\n"
		 "[device far]\nuri = ip:127.0.0.1:%s\ndevice = iio:device1\n"
		 "profile = ti-ads1298\nrate_hz = 1000\ndetect = no\n", port);
	daemon_start(&d, &s, conf);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	assert_int_equal(twitch_reader_new(c, "samples-emg", TWITCH_FROM_NEWEST, &rs), 0);
	usleep(500000);
	kill(iiod, SIGSTOP);
	/* the remote device times out, then its reopening hangs, again and again */
	t_end = now_ns() + 14000000000u;
	while (now_ns() < t_end) {
		n = twitch_reader_next(rs, &u, sizeof(u), 1000);
		assert_true(n > 0);
		assert_int_equal(u.h.type, TWITCH_REC_SAMPLES);
		if (next)
			assert_int_equal(u.h.sample_index, next);
		next = u.h.sample_index + u.s.n_scans;
		if (now_ns() - t0 > 500000000u || !pings) {
			uint64_t t = now_ns();

			assert_int_equal(twitch_client_command(c, "ping", reply, sizeof(reply)), 0);
			t = now_ns() - t;
			worst_ping = t > worst_ping ? t : worst_ping;
			t0 = now_ns();
			pings++;
		}
	}
	print_message("local device continuous through 14 s of a hung iiod; %u pings, the "
		      "slowest %.0f ms\n", pings, (double)worst_ping / 1e6);
	assert_int_equal(twitch_reader_lost(rs), 0);
	assert_true(worst_ping < 500000000u);
	twitch_reader_free(rs);
	twitch_client_free(c);
	assert_int_equal(daemon_stop(&d, &stop_ns), 0);
	print_message("stopped in %.0f ms\n", (double)stop_ns / 1e6);
	assert_true(stop_ns < 1500000000u);
	iiod_stop(iiod);
	sim_stop(&s);
	daemon_cleanup(&d);
}

/* Run twitchd with @args (and config @conf if not NULL); return exit code and stderr. */
static int run_twitchd(const char *conf, const char *arg, char *err, size_t err_size)
{
	char dir[] = "/tmp/twitch-bad-XXXXXX", cpath[128], cmd[512];
	int rc;

	assert_non_null(mkdtemp(dir));
	snprintf(cpath, sizeof(cpath), "%s/bad.conf", dir);
	if (conf)
		write_file(cpath, conf);
	snprintf(cmd, sizeof(cmd), "%s/twitchd %s %s -s %s/c.sock 2>&1 </dev/null", build_dir(),
		 conf ? "-c" : "", conf ? cpath : arg, dir);
	rc = run_capture(cmd, err, err_size);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		print_message("cannot remove %s\n", dir);
	return rc;
}

/* A control connection of our own, the welcome's fds closed: -1 if refused. */
static int raw_connect(const char *path)
{
	union { char buf[CMSG_SPACE(sizeof(int) * 40)]; struct cmsghdr a; } cm;
	char w[4096];
	struct iovec iov = { .iov_base = w, .iov_len = sizeof(w) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cmsghdr *cmsg;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ssize_t n;

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		size_t k, nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (k = 0; k < nfd; k++) {
			int f;

			memcpy(&f, CMSG_DATA(cmsg) + k * sizeof(int), sizeof(f));
			close(f);
		}
	}
	if (n < 4 || !memcmp(w, "ERR ", 4)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send @len bytes of @cmd on @fd; the reply, NUL-terminated, in @reply. */
static void raw_cmd(int fd, const char *cmd, size_t len, char *reply, size_t size)
{
	ssize_t n;

	assert_int_equal(send(fd, cmd, len, MSG_NOSIGNAL), (ssize_t)len);
	n = recv(fd, reply, size - 1, 0);
	reply[n > 0 ? n : 0] = '\0';
}

/*
 * The control socket's limits: a command longer than its limit is refused,
 * not cut and run; a command that changes something takes no stray
 * arguments; markers and commands are counted per user, whatever number of
 * connections it opens; a user holds at most 16 connections, so it cannot
 * lock the others out (the tests run as root: the root reserve is not
 * exercised here).
 */
static void test_control_limits(void **state)
{
	struct twitch_client *c;
	char cmd[700], reply[600];
	int fds[20], i, k, ok = 0, busy = 0, cut = 0;
	struct sim s;
	struct daemon d;

	(void)state;
	sim_start(&s, "ads1298:rate=4000", NULL);
	daemon_start(&d, &s, emg_conf);
	fds[0] = raw_connect(d.sock);
	assert_true(fds[0] >= 0);
	/* 600 bytes: cut to 512, "calibrate rc ..." ran with its tail dropped */
	memset(cmd, 'A', sizeof(cmd));
	memcpy(cmd, "mark ", 5);
	raw_cmd(fds[0], cmd, 600, reply, sizeof(reply));
	assert_string_equal(reply, "ERR 90 a command is at most 512 bytes");
	raw_cmd(fds[0], "baseline now", 12, reply, sizeof(reply));
	assert_string_equal(reply, "ERR 22 baseline takes no arguments");
	/* 25 markers at once: 20 go into the events ring */
	for (i = 0; i < 25; i++) {
		raw_cmd(fds[0], "mark m", 6, reply, sizeof(reply));
		ok += !strncmp(reply, "OK ", 3);
		busy += !strcmp(reply, "ERR 16 at most 20 markers a second per user");
	}
	assert_int_equal(ok, 20);
	assert_int_equal(busy, 5);
	close(fds[0]);
	msleep(200);	/* the daemon has seen that close */
	/* 16 connections, then the 17th of the same user is refused */
	for (i = 0; i < 16; i++) {
		fds[i] = raw_connect(d.sock);
		if (fds[i] < 0)
			fail_msg("connection %d of 16 refused", i + 1);
	}
	assert_int_equal(twitch_client_connect(d.sock, &c), -EBUSY);
	for (i = 0; i < 16; i++)
		close(fds[i]);
	msleep(100);
	assert_int_equal(twitch_client_connect(d.sock, &c), 0);
	twitch_client_free(c);
	/* 300 commands over 6 connections in well under a second: reconnecting
	 * does not start a new budget */
	msleep(1100);
	for (k = 0; k < 6 && !cut; k++) {
		fds[0] = raw_connect(d.sock);
		if (fds[0] < 0)
			continue;
		for (i = 0; i < 50; i++) {
			raw_cmd(fds[0], "ping", 4, reply, sizeof(reply));
			if (!strncmp(reply, "ERR 16 over 200 commands a second", 33)) {
				cut = 1;
				break;
			}
			assert_string_equal(reply, "OK pong");
		}
		close(fds[0]);
	}
	assert_true(cut);
	assert_int_equal(daemon_stop(&d, NULL), 0);
	sim_stop(&s);
	daemon_cleanup(&d);
}

/* twitchd --check-config on @conf: its exit code, its output in @out. */
static int check_config(const char *conf, char *out, size_t out_size)
{
	char dir[] = "/tmp/twitch-cfg-XXXXXX", cpath[128], cmd[512];
	int rc;

	assert_non_null(mkdtemp(dir));
	snprintf(cpath, sizeof(cpath), "%s/c.conf", dir);
	write_file(cpath, conf);
	snprintf(cmd, sizeof(cmd), "%s/twitchd --check-config -c %s 2>&1 </dev/null",
		 build_dir(), cpath);
	rc = run_capture(cmd, out, out_size);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		print_message("cannot remove %s\n", dir);
	return rc;
}

/*
 * What Debian's libinih alone gets wrong (200-byte lines, multi-line values)
 * and the lines of errors: daemon/inifile.c.
 */
static void test_config_lines(void **state)
{
	char out[4096], text[2048], comment[256], chans[1024];
	int i, n = 0;

	(void)state;
	/* a long comment cannot set a key with its tail */
	memset(comment, ';', 198);
	comment[198] = '\0';
	snprintf(text, sizeof(text), "[device emg]\nprofile = ti-ads1298\nrate_hz = 4000\n"
		 "%s rate_hz = 5\n", comment);
	assert_int_equal(check_config(text, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "rate 4000 Hz"));
	/* a channel list longer than inih's line: all 64 ids */
	for (i = 0; i < 64; i++)
		n += snprintf(chans + n, sizeof(chans) - (size_t)n, "%svoltage%d", i ? ", " : "", i);
	snprintf(text, sizeof(text), "[device adc]\nprofile = generic\nchannels = %s ; all\n",
		 chans);
	assert_int_equal(check_config(text, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "channels (64): voltage0,voltage1,"));
	assert_non_null(strstr(out, ",voltage63\n"));
	/* indented keys are keys, not the continuation of the value before */
	assert_int_equal(check_config("[device emg]\n  profile = ti-ads1298\n\trate_hz = 2000\n",
				      out, sizeof(out)), 0);
	assert_non_null(strstr(out, "ti-ads1298 (first match) rate 2000 Hz"));
	assert_int_equal(check_config("[device emg]\nleg_channels = Tib L,\n    Tib R\n", out,
				      sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:3: not an INI line"));
	/* the first error, at its own line */
	assert_int_equal(check_config("[device a]\nthis is junk\nrate_hz = 0\n", out,
				      sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:2: not an INI line"));
	assert_int_equal(check_config("[device emg]\nrate_hz = 4000\n\nrate_hz = 2000\n", out,
				      sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:4: device emg.rate_hz: given twice (first on "
				    "line 2)"));
	memset(text, 'x', 300);
	memcpy(text, "[device ", 8);
	strcpy(text + 300, "]\n");
	assert_int_equal(check_config(text, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:1: a line of 301 bytes that is not key = value"));
	/* a value found bad once the file is read is found at its line, after a
	 * line longer than any buffer */
	n = snprintf(text, sizeof(text), "[device emg]\nprofile = generic\n");
	memset(text + n, ';', 1100);
	strcpy(text + n + 1100, "\ndetect.threshold_on = 3\n");
	assert_int_equal(check_config(text, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:4: device emg.detect.threshold_on: out of range"));
	/* numbers are decimal */
	assert_int_equal(check_config("[device emg]\ndetect.threshold_on = 0x12\n", out,
				      sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:2: device emg.detect.threshold_on: '0x12' is not"));
	/* keys that exist: detect.noise.*, and rate_hz below what detection needs */
	assert_int_equal(check_config("[device emg]\nprofile = ti-ads1298\n"
				      "detect.noise.n_windows = 100000\n", out, sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:3: device emg.detect.noise.n_windows: out of range"));
	assert_int_equal(check_config("[device adc]\nprofile = generic\nrate_hz = 50\n", out,
				      sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:3: device adc.rate_hz: twitch detection needs"));
	assert_int_equal(check_config("[device adc]\nprofile = generic\nrate_hz = 50\n"
				      "detect = no\n", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "EMG chain: none (detect = no"));
	/* an AD5933 key on an EMG device was taken and ignored */
	assert_int_equal(check_config("[device emg]\nprofile = ti-ads1298\nsweep_points = 10\n",
				      out, sizeof(out)), 2);
	assert_non_null(strstr(out, "c.conf:3: device emg.sweep_points: a key of ad5933 "
				    "devices, not of a ti-ads1298 one"));
	/* not a file */
	snprintf(text, sizeof(text), "%s/twitchd --check-config -c /tmp 2>&1", build_dir());
	assert_int_equal(run_capture(text, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "/tmp: cannot open: Is a directory"));
}

static void test_bad_config_and_usage(void **state)
{
	char err[2048];

	(void)state;
	assert_int_equal(run_twitchd("[device emg]\nprofile = ti-ads1298\nrate_hz = fast\n", NULL,
				     err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:3: device emg.rate_hz: 'fast' is not a rate"));
	assert_int_equal(run_twitchd("[device emg]\nprofile = frobnicator\n", NULL, err,
				     sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: device emg.profile:"));
	assert_int_equal(run_twitchd("[daemon]\nsoket = /x\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: daemon.soket: unknown key"));
	assert_int_equal(run_twitchd("[device bz]\nprofile = ad5933\nsubject = height_cm=500,"
				     "weight_kg=70,sex=m\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:3: device bz.subject: field 'height_cm'"));
	assert_int_equal(run_twitchd("[daemon]\nkeep_patient = maybe\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: daemon.keep_patient: 'maybe' is not yes or no"));
	assert_int_equal(run_twitchd("[device bz]\nprofile = ad5933\nalert_twitch_rise_ratio = 1\n",
				     NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:3: device bz.alert_twitch_rise_ratio: '1' is not"));
	assert_int_equal(run_twitchd("[device bz]\nprofile = ad5933\nalert_twitch_rise_min = -2\n",
				     NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:3: device bz.alert_twitch_rise_min: '-2' is not"));
	/* the filter and detector keys: named, range-checked, at their line */
	assert_int_equal(run_twitchd("[device emg]\nprofile = ti-ads1298\ndetect.threshold_on = 3\n",
				     NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:3: device emg.detect.threshold_on: out of range"));
	assert_int_equal(run_twitchd("[device emg]\nprofile = ti-ads1298\nfilter.hp_order = 12\n",
				     NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:3: device emg.filter.hp_order: out of range"));
	assert_int_equal(run_twitchd("[device emg]\ndetect.thresold_on = 20\n", NULL, err,
				     sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: device emg.detect.thresold_on: unknown key"));
	assert_int_equal(run_twitchd("[device emg]\nmains = 55\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: device emg.mains: '55' is not auto, 50, 60"));
	assert_int_equal(run_twitchd("[device emg]\ndetect.group_gap_ms = -5\n", NULL, err,
				     sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: device emg.detect.group_gap_ms: '-5' is not"));
	/* inconsistent only with a default: named, without a line of its own */
	assert_int_equal(run_twitchd("[device emg]\nprofile = ti-ads1298\n"
				     "detect.threshold_off = 30\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "device emg: detect.threshold_on: out of range, or "
				    "inconsistent"));
	assert_int_equal(run_twitchd("[device bz]\nprofile = ad5933\nmains = 50\n", NULL, err,
				     sizeof(err)), 2);
	assert_non_null(strstr(err, "are for EMG devices, not ad5933"));
	assert_int_equal(run_twitchd("[device emg]\ndetect = maybe\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: device emg.detect: 'maybe' is not yes or no"));
	assert_int_equal(run_twitchd("[device bz]\nprofile = ad5933\ndetect = no\n", NULL, err,
				     sizeof(err)), 2);
	assert_non_null(strstr(err, "are for EMG devices, not ad5933"));
	assert_int_equal(run_twitchd("[devices emg]\nrate_hz = 1\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: devices emg: unknown section [devices emg]"));
	assert_int_equal(run_twitchd("rate_hz = 1\n[device emg]\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:1: rate_hz: a key before any section"));
	assert_int_equal(run_twitchd("[device EMG]\nrate_hz = 1\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:2: device EMG: device name may hold only"));
	assert_int_equal(run_twitchd("[daemon]\nlog_level = debug\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "no [device NAME] section"));
	assert_int_equal(run_twitchd("this is not ini\n", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "bad.conf:1:"));
	assert_int_equal(run_twitchd(NULL, "--frobnicate", err, sizeof(err)), 2);
	assert_int_equal(run_twitchd(NULL, "-c /nonexistent/twitchd.conf", err, sizeof(err)), 2);
	assert_non_null(strstr(err, "/nonexistent/twitchd.conf: cannot open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_bad_config_and_usage, reap_kids),
		cmocka_unit_test_teardown(test_config_lines, reap_kids),
		cmocka_unit_test_teardown(test_control_limits, reap_kids),
		cmocka_unit_test_teardown(test_overflow_without_timestamp, reap_kids),
		cmocka_unit_test_teardown(test_small_overflow_without_timestamp, reap_kids),
		cmocka_unit_test_teardown(test_overflow_with_timestamp, reap_kids),
		cmocka_unit_test_teardown(test_overflow_with_timestamp_off_clock, reap_kids),
		cmocka_unit_test_teardown(test_clock_slow_without_timestamp, reap_kids),
		cmocka_unit_test_teardown(test_clock_fast_without_timestamp, reap_kids),
		cmocka_unit_test_teardown(test_vanish_and_return, reap_kids),
		cmocka_unit_test_teardown(test_stall_reopens, reap_kids),
		cmocka_unit_test_teardown(test_sighup_reload, reap_kids),
		cmocka_unit_test_teardown(test_detect_off, reap_kids),
		cmocka_unit_test_teardown(test_live_limb_movements, reap_kids),
		cmocka_unit_test_teardown(test_status_many_devices, reap_kids),
		cmocka_unit_test_teardown(test_bioz_calibrate_and_estimate, reap_kids),
		cmocka_unit_test_teardown(test_bioz_calibration_waits_for_its_sweep, reap_kids),
		cmocka_unit_test_teardown(test_remote_through_iiod, reap_kids),
		cmocka_unit_test_teardown(test_hung_iiod_stalls_nothing, reap_kids),
		cmocka_unit_test_teardown(test_remote_board_clock, reap_kids),
		cmocka_unit_test_teardown(test_samples_exact_without_loss, reap_kids),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("TWITCH_TEST_FILTER"))	/* e.g. "*bioz*" */
		cmocka_set_test_filter(getenv("TWITCH_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}

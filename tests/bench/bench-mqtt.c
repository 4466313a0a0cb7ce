// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-mqtt.c - twitch events bridged end to end: twitchd's ring -> bridge
 * -> mosquitto on 127.0.0.1 -> mosquitto_sub, for twitch-mqtt and, in the
 * same run, the pipeline a competent user would otherwise write:
 *
 *   twitchctl tail -f -n 0 --json | mosquitto_pub -l -q 1 -M 1000 -t ...
 *
 * (QoS 1 and the same in-flight window of 1000 as twitch-mqtt; no spool,
 * so it does less work per message than the bridge.)
 *
 * Each contender gets a fresh producer (twitchd's own ring writer, the
 * testpub stand-in) and two phases:
 *  latency:    20,000 events/s for BENCH_SECONDS (default 5), paced in
 *              batches of 100 every 5 ms; latency = when mosquitto_sub
 *              printed the message (its %U, CLOCK_REALTIME) minus the
 *              record's t_real_ns (stamped when the producer published it);
 *  throughput: 200,000 events published as fast as the producer can; rate =
 *              200,000 / (last arrival - first publish).
 * Loss: events whose ring seq never arrived at mosquitto_sub.
 * The last line is RESULT name=value ...
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <twitch.h>

#include "mqttenv.h"
#include "testpub.h"

#define RATE		20000u
#define BATCH		100u
#define BURST		200000u
#define MAX_EVENTS	(RATE * 60u + BURST)

struct arrivals {
	FILE *pipe;
	pid_t pid;
	pthread_t thread;
	pthread_mutex_t lock;
	uint8_t *seen;			/* by ring seq */
	uint64_t n, dups;
	double *lat_ms;			/* latency phase: per seq */
	uint64_t last_arrival_ns;	/* CLOCK_MONOTONIC, when read */
};

/* Run @cmd under sh in its own process group; its stdout on *ret_fd if not NULL. */
static pid_t spawn_sh(const char *cmd, int *ret_fd)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (ret_fd && pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (ret_fd)
			dup2(p[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (ret_fd) {
		close(p[1]);
		*ret_fd = p[0];
	}
	return pid;
}

static void stop_group(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* CPU seconds used so far by @pid and, with @children, its direct children. */
static double cpu_s(pid_t pid, bool children)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	double s = 0;
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
		s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	fclose(f);
	if (!children)
		return s;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return s;
	while (fscanf(f, "%d", &c) == 1)
		s += cpu_s((pid_t)c, false);
	fclose(f);
	return s;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *reader(void *arg)
{
	struct arrivals *a = arg;
	char line[8192];
	const char *p;
	uint64_t seq, sent;
	double at;

	while (fgets(line, sizeof(line), a->pipe)) {
		/* "%U %p": seconds.nanoseconds, then the JSON */
		at = strtod(line, NULL);
		p = strstr(line, "\"seq\":");
		if (!p)
			continue;
		seq = strtoull(p + 6, NULL, 10);
		p = strstr(line, "\"t_real_ns\":");
		sent = p ? strtoull(p + 12, NULL, 10) : 0;
		if (seq >= MAX_EVENTS)
			continue;
		pthread_mutex_lock(&a->lock);
		if (a->seen[seq]++) {
			a->dups++;
		} else {
			a->n++;
			a->lat_ms[seq] = at * 1e3 - (double)sent / 1e6;
			a->last_arrival_ns = mono_ns();
		}
		pthread_mutex_unlock(&a->lock);
	}
	return NULL;
}

static uint64_t arrived(struct arrivals *a, uint64_t *ret_last)
{
	uint64_t n;

	pthread_mutex_lock(&a->lock);
	n = a->n;
	if (ret_last)
		*ret_last = a->last_arrival_ns;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static bool wait_for(struct arrivals *a, uint64_t n, unsigned int timeout_ms)
{
	unsigned int t;

	for (t = 0; arrived(a, NULL) < n; t += 20) {
		if (t >= timeout_ms)
			return false;
		sleep_ms(20);
	}
	return true;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

struct result {
	double rps, p50_ms, p99_ms, max_ms, cpu_us_per_event;
	uint64_t lost, dups;
};

static void publish(struct twitch_client *c, unsigned int n)
{
	char cmd[64], reply[64];

	snprintf(cmd, sizeof(cmd), "pub events %u", n);
	if (twitch_client_command(c, cmd, reply, sizeof(reply)) != 0) {
		fprintf(stderr, "bench-mqtt: producer refused '%s'\n", cmd);
		exit(1);
	}
}

static void pace_until(uint64_t t_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(t_ns / 1000000000u),
			       .tv_nsec = (long)(t_ns % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int run(const char *kind, const struct broker *b, const char *dir, unsigned int seconds,
	       struct result *res)
{
	const char *build = getenv("TWITCH_BUILD") ? getenv("TWITCH_BUILD") : "build";
	struct testpub_opts o = { .sock_mode = 0600, .sock_gid = (gid_t)-1,
				  .events_slots = 1u << 19 };
	char sock[256], conf[256], cmd[2048], log[256];
	struct arrivals a = { 0 };
	struct twitch_client *c = NULL;
	pid_t pub, fwd = 0;
	FILE *f;
	double cpu0;
	int fd;
	uint64_t n_lat = (uint64_t)RATE * seconds, i, n, t0, t_last, lost;
	double *lat;
	bool bridge = !strcmp(kind, "mqtt");

	snprintf(sock, sizeof(sock), "%s/%s.sock", dir, kind);
	snprintf(log, sizeof(log), "%s/%s.log", dir, kind);
	o.sock_path = sock;
	pub = testpub_spawn(&o);
	if (pub < 0 || twitch_client_connect(sock, &c) < 0) {
		fprintf(stderr, "bench-mqtt: producer did not start\n");
		return -1;
	}
	a.seen = calloc(MAX_EVENTS, 1);
	a.lat_ms = calloc(MAX_EVENTS, sizeof(double));
	pthread_mutex_init(&a.lock, NULL);
	snprintf(cmd, sizeof(cmd), "exec mosquitto_sub -h 127.0.0.1 -p %d -q 1 -t "
		 "'bench/%s/+/events' -F '%%U %%p'", b->port, kind);
	a.pid = spawn_sh(cmd, &fd);
	a.pipe = fdopen(fd, "r");
	pthread_create(&a.thread, NULL, reader, &a);
	sleep_ms(500);
	if (bridge) {
		snprintf(conf, sizeof(conf), "%s/mqtt.conf", dir);
		f = fopen(conf, "w");
		fprintf(f, "[broker]\nhost = 127.0.0.1\nport = %d\nmax_inflight = 1000\n"
			"[topics]\nprefix = bench\nsite = mqtt\nnode = cart\n"
			"[spool]\ndir = %s/spool\n", b->port, dir);
		fclose(f);
		chmod(conf, 0600);
		fwd = bridge_start(conf, sock, log);
	} else {
		snprintf(cmd, sizeof(cmd),
			 "TWITCH_SOCKET=%s LD_LIBRARY_PATH=%s exec %s/twitchctl tail -f -n 0 --json "
			 "| exec mosquitto_pub -h 127.0.0.1 -p %d -q 1 -M 1000 -l "
			 "-t bench/pipe/cart/events", sock, build, build, b->port);
		fwd = spawn_sh(cmd, NULL);
	}
	sleep_ms(1000);
	/* the pipeline: sh exec'ed mosquitto_pub, twitchctl is its child */
	cpu0 = cpu_s(fwd, !bridge);

	/* latency at RATE */
	t0 = mono_ns();
	for (i = 0; i < n_lat / BATCH; i++) {
		pace_until(t0 + i * (1000000000u / (RATE / BATCH)));
		publish(c, BATCH);
	}
	wait_for(&a, n_lat, 30000);
	lat = malloc(n_lat * sizeof(*lat));
	for (i = n = 0; i < n_lat; i++)
		if (a.seen[i])
			lat[n++] = a.lat_ms[i];
	qsort(lat, n, sizeof(*lat), cmp_double);
	res->p50_ms = n ? lat[n / 2] : NAN;
	res->p99_ms = n ? lat[n * 99 / 100] : NAN;
	res->max_ms = n ? lat[n - 1] : NAN;
	free(lat);

	/* throughput: a burst */
	t0 = mono_ns();
	for (i = 0; i < BURST / 5000; i++)
		publish(c, 5000);
	wait_for(&a, n_lat + BURST, 120000);
	sleep_ms(500);		/* late duplicates */
	n = arrived(&a, &t_last);
	res->rps = t_last > t0 ? (double)(n - n_lat) * 1e9 / (double)(t_last - t0) : 0;
	for (i = lost = 0; i < n_lat + BURST; i++)
		lost += !a.seen[i];
	res->lost = lost;
	res->dups = a.dups;
	res->cpu_us_per_event = (cpu_s(fwd, !bridge) - cpu0) * 1e6 / (double)(n_lat + BURST);
	printf("%-5s %" PRIu64 " events: latency at %u/s p50 %.2f ms p99 %.2f ms max %.2f ms; "
	       "burst %.0f events/s; CPU %.2f us/event; lost %" PRIu64 ", duplicates %" PRIu64 "\n",
	       kind, n_lat + BURST, RATE, res->p50_ms, res->p99_ms, res->max_ms, res->rps,
	       res->cpu_us_per_event, lost, a.dups);

	if (bridge)
		bridge_stop(fwd);
	else
		stop_group(fwd);
	twitch_client_command(c, "close", NULL, 0);
	twitch_client_free(c);
	waitpid(pub, NULL, 0);
	stop_group(a.pid);
	pthread_join(a.thread, NULL);
	fclose(a.pipe);
	free(a.seen);
	free(a.lat_ms);
	return 0;
}

int main(void)
{
	const char *env = getenv("BENCH_SECONDS");
	unsigned int seconds = env && atoi(env) > 0 ? (unsigned int)atoi(env) : 5;
	struct broker b = { 0 };
	struct result m, p;
	char cmd[300];

	if (seconds > 60)
		seconds = 60;
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(b.dir, sizeof(b.dir), "%s/bench-mqtt.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(b.dir)) {
		perror("mkdtemp");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	printf("bench-mqtt: mosquitto on 127.0.0.1, QoS 1, window 1000; %u events/s for %u s, "
	       "then a burst of %u; consumer mosquitto_sub\n", RATE, seconds, BURST);
	if (broker_start(&b) < 0) {
		fprintf(stderr, "bench-mqtt: mosquitto did not start\n");
		return 1;
	}
	if (run("mqtt", &b, b.dir, seconds, &m) < 0 || run("pipe", &b, b.dir, seconds, &p) < 0) {
		broker_stop(&b);
		return 1;
	}
	broker_stop(&b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench-mqtt: could not remove %s\n", b.dir);
	printf("RESULT mqtt_rps=%.0f mqtt_p50_ms=%.2f mqtt_p99_ms=%.2f lost=%" PRIu64
	       " mqtt_dups=%" PRIu64 " mqtt_cpu_us_per_event=%.2f pipe_rps=%.0f pipe_p50_ms=%.2f "
	       "pipe_p99_ms=%.2f pipe_lost=%" PRIu64 " pipe_cpu_us_per_event=%.2f "
	       "vs_pipe_rps_ratio=%.2f vs_pipe_p99_ratio=%.2f vs_pipe_cpu_ratio=%.2f\n",
	       m.rps, m.p50_ms, m.p99_ms, m.lost, m.dups, m.cpu_us_per_event, p.rps, p.p50_ms,
	       p.p99_ms, p.lost, p.cpu_us_per_event, p.rps > 0 ? m.rps / p.rps : 0,
	       m.p99_ms > 0 ? p.p99_ms / m.p99_ms : 0,
	       m.cpu_us_per_event > 0 ? p.cpu_us_per_event / m.cpu_us_per_event : 0);
	return m.lost == 0 ? 0 : 1;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-acquire.c - twitchd acquiring from twitch-devsim, and the baseline a
 * competent engineer would otherwise run (iio_readdev on the same simulated
 * device and data), one after the other in one run: 8 channels x 4 kHz
 * (ti-ads1298) and 64 x 16 kHz (a generic ADC with a timestamp channel),
 * the latter twice: with twitch detection, as twitchd runs by default, and
 * with detect = no, acquisition alone, which is all iio_readdev does;
 * BENCH_SECONDS (default 30) each. Measured: CPU per second of signal (both),
 * samples/s read back through libtwitch, loss, peak RSS and the acquisition
 * latency p50/p99 (twitchd). The last line is RESULT name=value ...
 */
#include <ctype.h>
#include <dirent.h>
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "twitch.h"
#include "devsimenv.h"

/*
 * Method (the program prints a summary of it too).
 *
 * CPU: the measured process's CPU clock (clock_getcpuclockid(): all threads,
 * io_uring workers and exited threads included, in ns; /proc/PID/stat's
 * utime+stime ticks are printed beside it) at the start and end of a window
 * of BENCH_SECONDS that opens 2 s after data starts to flow, so start-up and
 * shutdown are left out on both sides; divided by the seconds of signal the
 * simulator wrote into the device node in the window (`status` written_bytes
 * / scan size / rate). The simulator's own CPU is not counted for either.
 *
 * Loss: loss records of the device in the events ring, breaks of
 * sample_index continuity and epoch changes in the samples ring, and scans
 * the simulated kfifo dropped. A lapped reader makes the run invalid.
 *
 * RSS: twitchd's VmHWM at the end of the window. It includes the rings,
 * whose pages twitchd reserves at start (fallocate + MAP_POPULATE).
 *
 * Latency, from the simulator writing a block to all of it being readable
 * in the samples ring. twitch-devsim writes a block into the node's pty in
 * the tick where its kfifo reaches the watermark, then more pieces as the
 * reader drains the pty (drivers/devsim/stream.c). Its write()s move the
 * wchar count of /proc/SIMPID/io; so do its lines in events.log and in the
 * subject's truth file, whose sizes we subtract; its control replies go by
 * send(), which does not count. That leaves its data count plus a constant,
 * found once from `status` written_bytes. This process polls that count and
 * a libtwitch reader of the samples ring on one CLOCK_MONOTONIC loop, every
 * BENCH_POLL_US (default 20) from 5 ms before a block is due until a
 * watermark of it has been read and nothing came for 2 ms, and sleeps in
 * between. A data write after half a
 * block period of quiet starts a block, and the count before it says which
 * scan the block starts with: a block's latency is the time the record
 * holding its last scan was read minus the time its first write was seen.
 * Each time is the middle of the interval between two looks (blocks whose
 * two intervals add up to more than 2 ms, when this process was not
 * scheduled in time, are counted; the p99 of each block's upper bound, end
 * of one interval to start of the other, is printed too). Where the device stamps scans with
 * CLOCK_MONOTONIC, stream.c's pacing formula (scan k is made at
 * t0 + (k + 1) / rate, t0 = the stamp of scan 0) checks the first writes:
 * each must be seen within about one 2 ms simulator tick after the scan that
 * filled the watermark was made, never before.
 *
 * Twitch records (8 x 4 kHz: the simulated subject makes about two
 * potentials a second, mup_per_min=120): each onset notice and final record
 * of the device seen in the window, timed from the samples record holding
 * the sample it is about (the onset; the event's last sample) being
 * readable to the twitch record being readable: twitchd's decision time.
 * The sample's wait in the device until its block is full (up to one block
 * period) comes on top and is printed beside it. A final record waits for a
 * doublet's second potential and the pop window; the update records before
 * it (TWITCH_REC_TWITCH_UPDATE) tell displays sooner. "Ended" times, for each
 * final, the first record that said what it says: the earliest update with
 * its last sample, primary channel and class, else the final itself.
 * The "made_" figures time the same records from when the sample was made:
 * plus its wait in the device until the last scan of its samples record
 * was made (wait_in_device()), which is what a patient's twitch waits.
 */

#define NS_PER_S		1000000000ull
#define WARMUP_NS		(2 * NS_PER_S)	/* data flowing before the window */
#define START_TIMEOUT_NS	(10 * NS_PER_S)
#define STOP_TIMEOUT_NS		(3 * NS_PER_S)
#define GUARD_NS		5000000ull	/* poll from this long before a block */
#define QUIET_NS		2000000ull	/* ... until this long after the last news */
#define DEFAULT_SECONDS		30u
#define DEFAULT_POLL_US		20u

/* One measured configuration. */
struct bench_config {
	const char *label;		/* "8x4k" */
	const char *spec;		/* twitch-devsim --device */
	const char *dev_name;		/* twitchd [device NAME] */
	const char *profile;		/* twitchd profile= */
	uint32_t rate_hz;
	uint32_t n_channels;
	bool no_detect;			/* detect = no: acquisition alone */
};

/* The third is the second with detect = no: what twitchd's acquisition
 * costs against iio_readdev's, which does no more than acquire. */
static const struct bench_config configs[] = {
	{ "8x4k", "ads1298:rate=4000,mup_per_min=120", "emg", "ti-ads1298", 4000, 8, false },
	{ "64x16k", "generic:channels=64,rate=16000,timestamp=1", "adc", "generic",
	  16000, 64, false },
	{ "64x16k-acq", "generic:channels=64,rate=16000,timestamp=1", "adc", "generic",
	  16000, 64, true },
};
#define N_CONFIGS (sizeof(configs) / sizeof(configs[0]))

/* A running twitch-devsim --serve and the environment it published. */
struct sim {
	pid_t pid;
	char dir[PATH_MAX];		/* our work directory */
	struct devsim_env env;		/* what it published */
};

/* What `status DEV` answers (the counters of the current buffer session). */
struct sim_status {
	bool enabled;
	uint64_t session, rate_hz, scan_bytes, length, watermark;
	uint64_t produced, pushed, dropped, skipped, written_bytes;
};

struct proc_mem {
	uint64_t hwm_kb, rss_kb, anon_kb, file_kb, shmem_kb;
	uint64_t ctxsw;			/* voluntary + involuntary, main thread */
};

/* What one twitchd run found. */
struct acq_result {
	bool ok;
	double cpu_pct;			/* of one core, per second of signal */
	double cpu_ticks_pct;		/* the same from /proc/PID/stat ticks */
	double cpu_total_s;		/* whole life, start-up and shutdown included */
	double signal_s;		/* in the window */
	double ctxsw_per_s;		/* twitchd's context switches */
	double samples_per_s;		/* scans/s read back, block end to block end */
	double records_per_s;
	double scans_per_record;
	uint64_t loss_records;		/* scans reported lost by twitchd */
	uint64_t index_breaks;		/* scans missing from sample_index continuity */
	uint64_t sim_dropped;		/* scans the simulated kfifo dropped */
	uint64_t reader_lapped;		/* records this reader lost: run invalid */
	uint32_t epoch_changes;
	struct proc_mem mem;
	uint64_t rings_kb;		/* every stream's slots, as advertised */
	uint64_t block_scans;		/* twitchd's watermark, as the simulator saw it */
	uint64_t scan_bytes;
	/* latency of the blocks that started in the window */
	size_t n_deliveries;		/* timed */
	size_t n_coarse;		/* timed worse than +-1 ms: we looked late */
	size_t n_unmeasured;		/* left out: no record holds its scans */
	size_t n_off_boundary;		/* a block start not on a scan boundary */
	double lat_p50_us, lat_p99_us, lat_min_us, lat_max_us;
	double first_p50_us, first_p99_us;	/* to the record of its first scan */
	double unc_p50_us;		/* +- of one block's figure */
	double lat_hi_p99_us;		/* p99 of each block's upper bound */
	/* the pacing formula's check, where scans are stamped CLOCK_MONOTONIC */
	size_t n_late, n_early;
	double late_min_us, late_p50_us, late_max_us;	/* first write after its due */
	double t_log_minus_t0_us;	/* events.log "enable" vs the scan-0 stamp */
	double poll_us;			/* achieved, while polling */
	double reader_cpu_pct;		/* this process, in the window */
	/* twitch records: from the sample they are about being readable */
	size_t n_finals, n_onsets, n_ev_unplaced, n_updates, n_ended_by_update;
	double final_p50_ms, final_p99_ms, onset_p50_ms, onset_p99_ms;
	double ended_p50_ms, ended_p99_ms;
	/* the same two, timed from when the sample was made: plus the wait
	 * for the rest of its record's scans (see wait_in_device()) */
	double made_onset_p99_ms, made_ended_p50_ms, made_ended_p99_ms;
};

struct readdev_result {
	bool ok;
	double cpu_pct;
	double cpu_ticks_pct;
	double signal_s;
	double ctxsw_per_s;
	double reads_per_s;		/* read() calls, from /proc/PID/io syscr */
	uint64_t sim_dropped;
	uint64_t hwm_kb;
};

static uint64_t poll_ns = DEFAULT_POLL_US * 1000u;
static volatile sig_atomic_t interrupted;

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(t_ns / NS_PER_S),
			       .tv_nsec = (long)(t_ns % NS_PER_S) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR &&
	       !interrupted)
		;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of @v (sorted here), in us */
static double pct_us(uint64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0.0;
	qsort(v, n, sizeof(*v), cmp_u64);
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return (double)v[i - 1] / 1e3;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (f == NULL)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	return err;
}

/* Is @name an executable in $PATH? */
static bool in_path(const char *name)
{
	const char *path = getenv("PATH");
	char file[PATH_MAX + 64];

	while (path != NULL && *path != '\0') {
		size_t n = strcspn(path, ":");

		if (n > 0 && n < PATH_MAX) {
			snprintf(file, sizeof(file), "%.*s/%s", (int)n, path, name);
			if (access(file, X_OK) == 0)
				return true;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/*
 * Start @argv (execvp) with stdout and stderr to the given files (NULL:
 * /dev/null), under the testbed of @tb if not NULL. The child gets SIGTERM
 * if we die, so nothing outlives an interrupted benchmark.
 */
static pid_t spawn(const char *const argv[], const struct sim *tb, const char *out_path,
		   const char *err_path)
{
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  0644);
	if (fd >= 0)
		dup2(fd, STDOUT_FILENO);
	fd = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  0644);
	if (fd >= 0)
		dup2(fd, STDERR_FILENO);
	unsetenv("JOURNAL_STREAM");	/* twitchd logs to its file, not the journal */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_FDS");
	if (tb != NULL) {
		setenv("LD_PRELOAD", tb->env.preload, 1);
		setenv("UMOCKDEV_DIR", tb->env.umockdev_dir, 1);
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	/* execvp() takes char *const[] for history's sake; it writes nothing */
	execvp(argv[0], (char *const *)(uintptr_t)argv);
	fprintf(stderr, "bench-acquire: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Wait up to @timeout_ns for @pid, then SIGKILL it. Return its wait status. */
static int reap(pid_t pid, uint64_t timeout_ns, struct rusage *ret_ru)
{
	uint64_t deadline = now_ns() + timeout_ns;
	struct rusage ru;
	int st = 0;
	pid_t r;

	memset(&ru, 0, sizeof(ru));
	for (;;) {
		r = wait4(pid, &st, WNOHANG, &ru);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
				;
			break;
		}
		usleep(10000);
	}
	if (ret_ru != NULL)
		*ret_ru = ru;
	return st;
}

/* ---------------------------------------------------------------- /proc */

/* The CPU time of process @pid (all its threads, exited ones too), in ns. */
static int proc_cpu_ns(pid_t pid, uint64_t *ret)
{
	struct timespec ts;
	clockid_t clk;
	int err;

	err = clock_getcpuclockid(pid, &clk);
	if (err != 0)
		return -err;
	if (clock_gettime(clk, &ts) < 0)
		return -errno;
	*ret = (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
	return 0;
}

/* utime + stime of @pid from /proc/PID/stat, in ns (clock-tick resolution). */
static int proc_stat_cpu_ns(pid_t pid, uint64_t *ret)
{
	char path[64], buf[1024], *p, *end;
	unsigned long long v[2];
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')');		/* comm may hold spaces and ')' */
	if (p == NULL)
		return -EPROTO;
	/* p + 1 is the space before field 3; utime is field 14 */
	for (i = 3; i <= 14 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -EPROTO;
	for (i = 0; i < 2; i++) {
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno != 0 || end == p)
			return -EPROTO;
		p = end;
	}
	*ret = (v[0] + v[1]) * (NS_PER_S / (uint64_t)sysconf(_SC_CLK_TCK));
	return 0;
}

static int proc_mem_read(pid_t pid, struct proc_mem *ret)
{
	static const char *const keys[] = { "VmHWM:", "VmRSS:", "RssAnon:", "RssFile:",
					    "RssShmem:", "voluntary_ctxt_switches:",
					    "nonvoluntary_ctxt_switches:" };
	struct proc_mem m = { 0 };
	uint64_t nv = 0;
	uint64_t *out[] = { &m.hwm_kb, &m.rss_kb, &m.anon_kb, &m.file_kb, &m.shmem_kb,
			    &m.ctxsw, &nv };
	char path[64], line[256];
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t k = strlen(keys[i]);

			if (strncmp(line, keys[i], k) == 0)
				*out[i] = strtoull(line + k, NULL, 10);
		}
	}
	fclose(f);
	m.ctxsw += nv;
	*ret = m;
	return 0;
}

/* A field ("wchar: ", "syscr: ") of an open /proc/PID/io. */
static int proc_io_read(int fd, const char *key, uint64_t *ret)
{
	char buf[512];
	const char *p;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	p = strstr(buf, key);
	if (p == NULL)
		return -EPROTO;
	*ret = strtoull(p + strlen(key), NULL, 10);
	return 0;
}

/* wchar: bytes the process passed to write() and the like, not send() */
static int proc_wchar(int fd, uint64_t *ret)
{
	return proc_io_read(fd, "wchar: ", ret);
}

static int proc_io_field(pid_t pid, const char *key, uint64_t *ret)
{
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = proc_io_read(fd, key, ret);
	close(fd);
	return err;
}

/* ---------------------------------------------------------------- simulator */

static int sim_start(struct sim *s, const char *devsim, const char *spec)
{
	char env[PATH_MAX + 16], log[PATH_MAX + 16];
	const char *const argv[] = { devsim, "--serve", "--env-file", env, "-d", spec, NULL };
	uint64_t deadline = now_ns() + START_TIMEOUT_NS;
	int st;

	snprintf(env, sizeof(env), "%s/devsim.env", s->dir);
	snprintf(log, sizeof(log), "%s/devsim.log", s->dir);
	s->pid = spawn(argv, NULL, NULL, log);
	if (s->pid < 0)
		return -errno;
	while (access(env, F_OK) != 0) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = -1;
			fprintf(stderr, "bench-acquire: twitch-devsim -d %s exited (see %s)\n",
				spec, log);
			return -ECHILD;
		}
		if (now_ns() > deadline || interrupted) {
			fprintf(stderr, "bench-acquire: twitch-devsim not ready in 10 s\n");
			return -ETIMEDOUT;
		}
		usleep(20000);
	}
	return devsim_env_read(env, &s->env);
}

static void sim_stop(struct sim *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	reap(s->pid, STOP_TIMEOUT_NS, NULL);
	s->pid = -1;
}

/* One control command, one reply line (see twitch-devsim --help). */
static int sim_command(const struct sim *s, const char *cmd, char *reply, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t off = 0, n = strlen(cmd);
	ssize_t r;
	int fd;

	if (strlen(s->env.control) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, s->env.control);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, cmd, n, MSG_NOSIGNAL) != (ssize_t)n) {
		int e = -errno;

		close(fd);
		return e;
	}
	while (off + 1 < len && (r = recv(fd, reply + off, len - 1 - off, 0)) > 0) {
		off += (size_t)r;
		if (memchr(reply, '\n', off) != NULL)
			break;
	}
	close(fd);
	reply[off] = '\0';
	return strncmp(reply, "OK", 2) == 0 ? 0 : -EPROTO;
}

static uint64_t status_field(const char *reply, const char *key)
{
	char pat[40];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(reply, pat);
	return p != NULL ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static int sim_status(const struct sim *s, struct sim_status *ret)
{
	char reply[1024];
	int err = sim_command(s, "status iio:device0\n", reply, sizeof(reply));

	if (err < 0)
		return err;
	ret->enabled = status_field(reply, "enabled") != 0;
	ret->session = status_field(reply, "session");
	ret->rate_hz = status_field(reply, "rate_hz");
	ret->scan_bytes = status_field(reply, "scan_bytes");
	ret->length = status_field(reply, "length");
	ret->watermark = status_field(reply, "watermark");
	ret->produced = status_field(reply, "produced");
	ret->pushed = status_field(reply, "pushed");
	ret->dropped = status_field(reply, "dropped");
	ret->skipped = status_field(reply, "skipped");
	ret->written_bytes = status_field(reply, "written_bytes");
	return 0;
}

/* CLOCK_MONOTONIC of the simulator's "enable session=N" event. */
static int sim_enable_logged(const struct sim *s, uint64_t session, uint64_t *ret)
{
	char path[PATH_MAX + 16], line[1024], pat[48];
	uint64_t t = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/events.log", s->env.devsim_dir);
	snprintf(pat, sizeof(pat), " enable session=%" PRIu64 " ", session);
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, pat) != NULL)
			t = strtoull(line, NULL, 10);
	fclose(f);
	if (t == 0)
		return -ENOENT;
	*ret = t;
	return 0;
}

/* Does the simulated device stamp its scans with CLOCK_MONOTONIC? */
static bool sim_ts_monotonic(const struct sim *s)
{
	char path[PATH_MAX + 96], buf[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/sys/bus/iio/devices/iio:device0/"
		 "current_timestamp_clock", s->env.umockdev_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strncmp(buf, "monotonic", 9) == 0 && !isalpha((unsigned char)buf[9]);
}

/* ---------------------------------------------------------------- twitchd run */

/*
 * The reading side, on one loop: the simulator's writes (its wchar), the
 * samples and events rings, continuity and loss. Every observation lies
 * between two looks, (previous look, this look]: it is kept as the
 * midpoint and half that interval. Latency is worked out afterwards, by
 * bytes: once wchar's offset from the simulator's data count is known, the
 * count before a block's first write says which scan the block starts with.
 */
struct seen_rec {
	uint64_t first_k;		/* first scan of the record */
	uint64_t t_ns;			/* midpoint of the look interval */
	uint32_t n;
	uint32_t half_ns;
};

/* A twitch record seen: the sample it is about (onset, or the event's last). */
struct seen_ev {
	uint64_t k;
	uint64_t t_ns;			/* midpoint of the look interval */
	uint16_t flags;			/* TWITCH_EVF_* */
	bool update;			/* a TWITCH_REC_TWITCH_UPDATE */
	bool in_window;			/* else kept only as an earlier update */
	uint32_t channel, twitch_class;
};

struct burst {
	uint64_t t_ns, half_ns;		/* the block's first write */
	uint64_t data_before;		/* the simulator's data count before it, raw */
};

struct tracker {
	const struct bench_config *cfg;
	struct acq_result *res;
	uint64_t rate_hz, watermark, block_ns, gap_ns, scan_bytes;
	int sim_io_fd;
	struct twitch_reader *rs, *re;
	void *sbuf, *ebuf;
	size_t ssize, esize;
	uint64_t look_ns, prev_look_ns;	/* this look and the one before */
	/* continuity */
	bool started;
	uint64_t next_index, first_index, first_mono_ns, first_seen_ns;
	uint32_t epoch;
	/*
	 * The simulator's writes: wchar less the sizes of the files it writes
	 * besides the node (events.log, the subject's truth file) is its data
	 * count plus a constant ("raw"), which wchar_offset() finds.
	 */
	int files_fd[2];
	uint64_t wchar, raw, last_write_ns, expect_ns, last_news_ns;
	bool have_offset;
	uint64_t offset;		/* raw - data bytes (wchar_offset()) */
	uint64_t want_k;		/* watch until the reader has scans up to here */
	/* t0 of the pacing formula, when the device stamps CLOCK_MONOTONIC */
	bool have_t0;
	uint64_t t0_ns;
	/* kept for the latency */
	bool keep;
	struct seen_rec *recs;
	struct burst *bursts;
	struct seen_ev *evs;
	size_t n_recs, cap_recs, n_bursts, cap_bursts, n_evs, cap_evs;
	/* the window */
	bool in_window;
	uint64_t win_records, win_scans, n_looks, looked_ns;
};

#define WCHAR_WAIT_NS	2000000ull	/* a write's count moves when it returns */
#define COARSE_NS	1000000ull	/* a block timed worse than +- this is counted */

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 4096;
	void *q;

	if (n < *cap)
		return p;
	q = realloc(p, c * size);
	if (q != NULL)
		*cap = c;
	return q;
}

/* When the simulator makes scan @k: t0 + ceil((k + 1) / rate) (stream_emg()). */
static uint64_t t_made(const struct tracker *t, uint64_t k)
{
	return t->t0_ns + ((k + 1) * NS_PER_S + t->rate_hz - 1) / t->rate_hz;
}

static uint64_t files_size(const struct tracker *t)
{
	uint64_t sum = 0;
	struct stat st;
	int i;

	for (i = 0; i < 2; i++)
		if (t->files_fd[i] >= 0 && fstat(t->files_fd[i], &st) == 0)
			sum += (uint64_t)st.st_size;
	return sum;
}

/* wchar and the raw data count, read so that no file write falls between. */
static int sim_counts(const struct tracker *t, uint64_t *ret_wchar, uint64_t *ret_raw)
{
	uint64_t a, w;
	int i;

	for (i = 0; i < 10; i++) {
		a = files_size(t);
		if (proc_wchar(t->sim_io_fd, &w) < 0)
			return -EIO;
		if (files_size(t) == a && w >= a) {
			*ret_wchar = w;
			*ret_raw = w - a;
			return 0;
		}
	}
	return -EAGAIN;
}

/*
 * Has the simulator written since the previous look? A write after a quiet
 * half block period is a block's first. With @wait (a record is readable,
 * so its write has happened) wait for the count, which moves only when
 * write() returns: possibly after our reader has read what it wrote.
 */
static void check_writes(struct tracker *t, bool wait)
{
	uint64_t w, raw, until = now_ns() + WCHAR_WAIT_NS;
	struct burst *b;

	for (;;) {
		if (proc_wchar(t->sim_io_fd, &w) == 0 && w != t->wchar &&
		    sim_counts(t, &w, &raw) == 0) {
			t->wchar = w;
			/*
			 * Data, not only a file line. (A file line caught
			 * between its size and its count would look like
			 * the count going back: ignored.)
			 */
			if (raw > t->raw)
				break;
		}
		if (!wait || now_ns() > until)
			return;
	}
	if (t->look_ns - t->last_write_ns > t->gap_ns) {
		/*
		 * The next block comes a block period after this one, which
		 * was written after the previous look: expect it from then,
		 * so that a block seen late does not make us late for the next.
		 */
		t->expect_ns = t->prev_look_ns + t->block_ns;
		b = t->keep ? grow(t->bursts, &t->cap_bursts, t->n_bursts, sizeof(*b)) : NULL;
		if (b != NULL) {
			t->bursts = b;
			b += t->n_bursts++;
			b->half_ns = (t->look_ns - t->prev_look_ns) / 2;
			b->t_ns = t->look_ns - b->half_ns;
			b->data_before = t->raw;
		}
		/* keep watching until at least a watermark of it has been read */
		if (t->have_offset && t->raw >= t->offset)
			t->want_k = (t->raw - t->offset) / t->scan_bytes + t->watermark;
	}
	t->raw = raw;
	t->last_write_ns = t->look_ns;
	t->last_news_ns = t->look_ns;
}

static void on_samples(struct tracker *t, const struct twitch_rec_samples *r)
{
	uint64_t first = r->hdr.sample_index, n = r->n_scans;
	struct seen_rec *s;

	if (r->n_channels != t->cfg->n_channels) {
		t->res->index_breaks += n;	/* not our data: count it as wrong */
		return;
	}
	if (!t->started) {
		t->started = true;
		t->epoch = r->index_epoch;
		t->first_seen_ns = t->look_ns;
		t->first_index = first;
		t->first_mono_ns = r->hdr.t_mono_ns;
		t->res->index_breaks += first;	/* scans before the first we saw */
	} else if (r->index_epoch != t->epoch) {
		t->res->epoch_changes++;	/* the device went away and came back */
		t->epoch = r->index_epoch;
	} else if (first != t->next_index) {
		t->res->index_breaks += first > t->next_index ? first - t->next_index :
								t->next_index - first;
	}
	t->next_index = first + n;
	if (t->look_ns - t->last_write_ns > t->gap_ns)
		check_writes(t, true);	/* its block's first write, not yet counted */
	t->last_news_ns = t->look_ns;
	if (t->in_window) {
		t->win_records++;
		t->win_scans += n;
	}
	s = t->keep ? grow(t->recs, &t->cap_recs, t->n_recs, sizeof(*s)) : NULL;
	if (s == NULL)
		return;
	t->recs = s;
	s += t->n_recs++;
	s->first_k = first;
	s->n = (uint32_t)n;
	s->half_ns = (uint32_t)((t->look_ns - t->prev_look_ns) / 2);
	s->t_ns = t->look_ns - s->half_ns;
}

static void on_other(struct tracker *t, const void *buf)
{
	const struct twitch_record_hdr *h = buf;
	const struct twitch_rec_loss *l = buf;

	if ((h->type == TWITCH_REC_TWITCH || h->type == TWITCH_REC_TWITCH_UPDATE) &&
	    !(h->flags & (TWITCH_RECF_LOCAL | TWITCH_EVF_REJECT)) &&
	    h->device == 0) {
		const struct twitch_rec_twitch *w = buf;
		struct seen_ev *e = grow(t->evs, &t->cap_evs, t->n_evs, sizeof(*e));

		if (e == NULL)
			return;
		t->evs = e;
		e += t->n_evs++;
		e->update = h->type == TWITCH_REC_TWITCH_UPDATE;
		e->flags = h->flags;
		e->in_window = t->in_window;
		e->channel = w->channel;
		e->twitch_class = w->twitch_class;
		e->k = h->sample_index + ((h->flags & TWITCH_EVF_ONSET) ||
					  w->duration_samples == 0 ? 0 : w->duration_samples - 1);
		e->t_ns = t->look_ns - (t->look_ns - t->prev_look_ns) / 2;
		return;
	}
	if (h->type != TWITCH_REC_LOSS)
		return;
	if (h->flags & TWITCH_RECF_LOCAL)
		t->res->reader_lapped += l->reason == TWITCH_LOSS_READER_LAPPED ? l->count : 0;
	else if (h->device == 0)
		t->res->loss_records += l->count;
}

/* One look at everything. Return 0 or -errno. */
static int look(struct tracker *t)
{
	int n;

	t->prev_look_ns = t->look_ns;
	t->look_ns = now_ns();
	check_writes(t, false);
	while ((n = twitch_reader_next(t->rs, t->sbuf, t->ssize, 0)) > 0) {
		const struct twitch_record_hdr *h = t->sbuf;

		if (h->type == TWITCH_REC_SAMPLES && !(h->flags & TWITCH_RECF_LOCAL))
			on_samples(t, t->sbuf);
		else
			on_other(t, t->sbuf);
	}
	if (n < 0 && n != -EPROTO)
		return n;
	while ((n = twitch_reader_next(t->re, t->ebuf, t->esize, 0)) > 0)
		on_other(t, t->ebuf);
	return n < 0 && n != -EPROTO ? n : 0;
}

/*
 * Look every poll period while a block is due or arriving, sleep between
 * blocks; until @until_ns, or the first samples record if @first.
 */
static int watch_until(struct tracker *t, uint64_t until_ns, bool first)
{
	uint64_t next;
	int err;

	for (;;) {
		err = look(t);
		if (err < 0)
			return err;
		if (t->in_window && t->look_ns - t->prev_look_ns <= 2 * poll_ns + 100000u) {
			t->n_looks++;
			t->looked_ns += t->look_ns - t->prev_look_ns;
		}
		if (interrupted)
			return -EINTR;
		if ((first && t->started) || t->look_ns >= until_ns)
			return 0;
		if (t->expect_ns != 0 && t->look_ns > t->expect_ns + t->block_ns)
			t->expect_ns += t->block_ns;	/* none came: expect the next */
		if (t->expect_ns == 0 || t->look_ns - t->last_news_ns < QUIET_NS ||
		    t->look_ns + GUARD_NS >= t->expect_ns || t->next_index < t->want_k)
			next = t->look_ns + poll_ns;
		else
			next = t->expect_ns - GUARD_NS;
		sleep_until(next < until_ns ? next : until_ns);
	}
}

/*
 * The raw count minus the simulator's data bytes (what it wrote elsewhere:
 * its environment file, its stdout): read around a `status`, when no write
 * falls between our two looks at wchar.
 */
static int wchar_offset(struct tracker *t, const struct sim *s, struct sim_status *ret_st,
			uint64_t *ret)
{
	uint64_t a, b, raw_a, raw_b;
	int i;

	for (i = 0; i < 50; i++) {
		if (sim_counts(t, &a, &raw_a) < 0 || sim_status(s, ret_st) < 0 ||
		    sim_counts(t, &b, &raw_b) < 0)
			return -EIO;
		if (a == b && raw_a >= ret_st->written_bytes) {
			*ret = raw_a - ret_st->written_bytes;
			return 0;
		}
		usleep(1000);
	}
	return -EAGAIN;
}

/* Open the simulator's events.log and the truth file of @session. */
static void open_sim_files(struct tracker *t, const struct sim *s, uint64_t session)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/events.log", s->env.devsim_dir);
	t->files_fd[0] = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/iio:device0.s%" PRIu64 ".truth.jsonl", s->env.devsim_dir,
		 session);
	t->files_fd[1] = open(path, O_RDONLY | O_CLOEXEC);
}

/* The record holding scan @k, or NULL. */
static const struct seen_rec *find_rec(const struct tracker *t, uint64_t k)
{
	size_t lo = 0, hi = t->n_recs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->recs[mid].first_k + t->recs[mid].n <= k)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->n_recs || t->recs[lo].first_k > k)
		return NULL;
	return &t->recs[lo];
}

/*
 * Each block whose first write came in [t1, t2): it holds scans
 * [start, next block's start); latency to the record of its last scan
 * (and of its first), resolution the two half intervals.
 */
static int block_latency(struct tracker *t, uint64_t offset, uint64_t t1, uint64_t t2)
{
	size_t cap = t->n_bursts, n = 0, n_late = 0, i;
	uint64_t *lat = calloc(cap + 1, sizeof(*lat)), *first = calloc(cap + 1, sizeof(*first));
	uint64_t *res_ns = calloc(cap + 1, sizeof(*res_ns)), *late = calloc(cap + 1, sizeof(*late));
	uint64_t *hi = calloc(cap + 1, sizeof(*hi));
	struct acq_result *r = t->res;
	uint64_t done0_k = 0, done0_ns = 0, done_k = 0, done_ns = 0;
	int err = 0;

	if (!lat || !first || !res_ns || !late || !hi) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < t->n_bursts; i++) {
		const struct burst *b = &t->bursts[i];
		const struct seen_rec *fr, *lr;
		uint64_t ks, ke, wb = b->data_before, wn = 0;
		size_t j;

		/*
		 * The next block starts a watermark later at least: writes that
		 * resume sooner (the reader stalled for half a block period)
		 * still belong to this one.
		 */
		for (j = i + 1; j < t->n_bursts; j++)
			if (t->bursts[j].data_before >= wb + t->watermark * t->scan_bytes)
				break;
		if (j == t->n_bursts)
			break;
		wn = t->bursts[j].data_before;
		i = j - 1;
		if (b->t_ns < t1 || b->t_ns >= t2 || wb < offset)
			continue;
		/* a block starts on a scan boundary: the kfifo was empty */
		ks = (wb - offset + t->scan_bytes - 1) / t->scan_bytes;
		if ((wb - offset) % t->scan_bytes != 0)
			r->n_off_boundary++;	/* a count we got wrong */
		ke = (wn - offset) / t->scan_bytes - 1;
		fr = find_rec(t, ks);
		lr = find_rec(t, ke);
		if (ke < ks || fr == NULL || lr == NULL || lr->t_ns > t2) {
			r->n_unmeasured++;
			continue;
		}
		if (b->half_ns + lr->half_ns > COARSE_NS)
			r->n_coarse++;	/* we were not scheduled in time to tell well */
		lat[n] = lr->t_ns > b->t_ns ? lr->t_ns - b->t_ns : 0;
		hi[n] = lr->t_ns + lr->half_ns - (b->t_ns - b->half_ns);
		first[n] = fr->t_ns > b->t_ns ? fr->t_ns - b->t_ns : 0;
		res_ns[n] = b->half_ns + lr->half_ns;
		if (done0_ns == 0) {
			done0_ns = lr->t_ns;
			done0_k = ke;
		}
		done_ns = lr->t_ns;
		done_k = ke;
		n++;
		if (t->have_t0) {
			/* the kfifo reached the watermark when this scan was made */
			uint64_t made = t_made(t, ks + t->watermark - 1);

			late[n_late++] = b->t_ns > made ? b->t_ns - made : 0;
			if (b->t_ns + b->half_ns < made)
				r->n_early++;	/* seen before it could exist: a bad clock */
		}
	}
	r->n_deliveries = n;
	if (n > 0) {
		r->lat_p50_us = pct_us(lat, n, 50);
		r->lat_p99_us = pct_us(lat, n, 99);
		r->lat_min_us = (double)lat[0] / 1e3;
		r->lat_max_us = (double)lat[n - 1] / 1e3;
		r->first_p50_us = pct_us(first, n, 50);
		r->first_p99_us = pct_us(first, n, 99);
		r->unc_p50_us = pct_us(res_ns, n, 50);
		r->lat_hi_p99_us = pct_us(hi, n, 99);
	}
	if (done_ns > done0_ns)
		r->samples_per_s = (double)(done_k - done0_k) * 1e9 / (double)(done_ns - done0_ns);
	r->n_late = n_late;
	if (n_late > 0) {
		r->late_p50_us = pct_us(late, n_late, 50);
		r->late_min_us = (double)late[0] / 1e3;
		r->late_max_us = (double)late[n_late - 1] / 1e3;
	}
out:
	free(lat);
	free(first);
	free(res_ns);
	free(late);
	free(hi);
	return err;
}

static int stream_max_record(const struct twitch_client *c, const char *name, size_t *ret,
			     uint64_t *ret_ring_bytes)
{
	struct twitch_stream_info si;
	int i, n = twitch_client_n_streams(c);

	*ret_ring_bytes = 0;
	for (i = 0; i < n; i++)
		if (twitch_client_stream_info(c, (unsigned int)i, &si) == 0)
			*ret_ring_bytes += (uint64_t)si.slot_size * si.n_slots;
	for (i = 0; i < n; i++) {
		if (twitch_client_stream_info(c, (unsigned int)i, &si) == 0 &&
		    !strcmp(si.name, name)) {
			*ret = si.max_record;
			return 0;
		}
	}
	return -ENOENT;
}

static int connect_retry(const char *sock, struct twitch_client **ret)
{
	uint64_t deadline = now_ns() + START_TIMEOUT_NS;
	int err;

	do {
		err = twitch_client_connect(sock, ret);
		if (err == 0)
			return 0;
		usleep(20000);
	} while (now_ns() < deadline && !interrupted);
	return err;
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Readers on the device's samples stream and on events, from the oldest. */
static int open_readers(struct tracker *t, struct twitch_client *c, const char *stream)
{
	uint64_t rings;
	int err;

	err = stream_max_record(c, stream, &t->ssize, &rings);
	if (err == 0)
		err = stream_max_record(c, "events", &t->esize, &rings);
	if (err == 0)
		err = twitch_reader_new(c, stream, TWITCH_FROM_OLDEST, &t->rs);
	if (err == 0)
		err = twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &t->re);
	if (err < 0)
		return err;
	t->res->rings_kb = rings / 1024;
	t->sbuf = calloc(1, t->ssize + 8);
	t->ebuf = calloc(1, t->esize + 8);
	return t->sbuf && t->ebuf ? 0 : -ENOMEM;
}

/* After the first block: the session's watermark, scan size and t0. */
static int learn_session(struct tracker *t, const struct sim *s, uint64_t old_session)
{
	struct sim_status st;
	uint64_t t_log = 0;
	int err;

	err = sim_status(s, &st);
	if (err < 0 || st.session <= old_session || st.watermark == 0 || st.scan_bytes == 0) {
		fprintf(stderr, "bench-acquire: the simulator shows no new session\n");
		return err < 0 ? err : -EPROTO;
	}
	t->watermark = st.watermark;
	t->block_ns = st.watermark * NS_PER_S / t->rate_hz;
	t->gap_ns = t->block_ns / 2;
	t->scan_bytes = st.scan_bytes;
	open_sim_files(t, s, st.session);
	if (sim_counts(t, &t->wchar, &t->raw) < 0)
		return -EIO;
	t->res->block_scans = st.watermark;
	t->res->scan_bytes = st.scan_bytes;
	t->res->t_log_minus_t0_us = 0.0 / 0.0;
	/* with a CLOCK_MONOTONIC timestamp channel, scan 0's stamp is t0 */
	if (sim_ts_monotonic(s) && t->first_index == 0 && t->first_mono_ns > 0) {
		t->have_t0 = true;
		t->t0_ns = t->first_mono_ns;
		if (sim_enable_logged(s, st.session, &t_log) == 0)
			t->res->t_log_minus_t0_us = ((double)t_log - (double)t->t0_ns) / 1e3;
	}
	return 0;
}

/*
 * The first record that reported final record @f's event as it ended: an
 * update record before it with the same last sample, primary channel and
 * class (no later potential joined, and it was classed right), else @f.
 * Updates come at most a group_gap plus a pop window before their final.
 */
static const struct seen_ev *first_ended(const struct tracker *t, size_t f)
{
	const struct seen_ev *fin = &t->evs[f], *best = fin;
	size_t i;

	for (i = f; i-- > 0;) {
		const struct seen_ev *e = &t->evs[i];

		if (fin->t_ns - e->t_ns > NS_PER_S)
			break;
		if (e->update && e->k == fin->k &&
		    e->channel == fin->channel && e->twitch_class == fin->twitch_class)
			best = e;
	}
	return best;
}

/*
 * How long scan @k of samples record @s waited in the device: until the
 * last scan of its read was made, (last - k) / rate. A read published as
 * several records (twitchd was late) shows them at the same look: the
 * last of those ends it. The simulator writes its scans as the last one
 * is made (at 8 x 4 kHz, on its 2-ms tick) and they are readable some
 * 0.1 ms later (the block latency above), as a kernel driver hands over a
 * block when its watermark scan comes.
 */
static uint64_t wait_in_device(const struct tracker *t, const struct seen_rec *s, uint64_t k)
{
	size_t j = (size_t)(s - t->recs);
	uint64_t last;

	while (j + 1 < t->n_recs && t->recs[j + 1].t_ns == s->t_ns &&
	       t->recs[j + 1].first_k == t->recs[j].first_k + t->recs[j].n)
		j++;
	last = t->recs[j].first_k + t->recs[j].n - 1;
	return last > k ? (last - k) * NS_PER_S / t->rate_hz : 0;
}

/*
 * Twitch records: from the samples record holding the sample a record is
 * about (an onset notice: the onset; a final record: the event's last
 * sample) being readable, to the twitch record being readable. This is
 * twitchd's own decision time; the device's block comes on top of it.
 * "Ended": to the first record that said what the final says (see
 * first_ended()); the made_ figures add wait_in_device().
 */
static void event_latency(struct tracker *t)
{
	struct acq_result *r = t->res;
	uint64_t *fin = calloc(t->n_evs + 1, sizeof(*fin)), *ons = calloc(t->n_evs + 1,
									   sizeof(*ons));
	uint64_t *end = calloc(t->n_evs + 1, sizeof(*end));
	uint64_t *m_end = calloc(t->n_evs + 1, sizeof(*m_end));
	uint64_t *m_ons = calloc(t->n_evs + 1, sizeof(*m_ons));
	size_t i;

	if (!fin || !ons || !end || !m_end || !m_ons)
		goto out;
	for (i = 0; i < t->n_evs; i++) {
		const struct seen_ev *e = &t->evs[i], *first;
		const struct seen_rec *s;

		if (!e->in_window)
			continue;
		if (e->update) {
			r->n_updates++;
			continue;
		}
		s = find_rec(t, e->k);
		if (s == NULL) {
			r->n_ev_unplaced++;
			continue;
		}
		if (e->flags & TWITCH_EVF_ONSET) {
			ons[r->n_onsets] = e->t_ns > s->t_ns ? e->t_ns - s->t_ns : 0;
			m_ons[r->n_onsets] = ons[r->n_onsets] + wait_in_device(t, s, e->k);
			r->n_onsets++;
			continue;
		}
		first = first_ended(t, i);
		r->n_ended_by_update += first != e;
		end[r->n_finals] = first->t_ns > s->t_ns ? first->t_ns - s->t_ns : 0;
		m_end[r->n_finals] = end[r->n_finals] + wait_in_device(t, s, e->k);
		fin[r->n_finals++] = e->t_ns > s->t_ns ? e->t_ns - s->t_ns : 0;
	}
	r->final_p50_ms = pct_us(fin, r->n_finals, 50) / 1000.0;
	r->final_p99_ms = pct_us(fin, r->n_finals, 99) / 1000.0;
	r->ended_p50_ms = pct_us(end, r->n_finals, 50) / 1000.0;
	r->ended_p99_ms = pct_us(end, r->n_finals, 99) / 1000.0;
	r->onset_p50_ms = pct_us(ons, r->n_onsets, 50) / 1000.0;
	r->onset_p99_ms = pct_us(ons, r->n_onsets, 99) / 1000.0;
	r->made_onset_p99_ms = pct_us(m_ons, r->n_onsets, 99) / 1000.0;
	r->made_ended_p50_ms = pct_us(m_end, r->n_finals, 50) / 1000.0;
	r->made_ended_p99_ms = pct_us(m_end, r->n_finals, 99) / 1000.0;
out:
	free(fin);
	free(ons);
	free(end);
	free(m_end);
	free(m_ons);
}

static void summarize(struct tracker *t, uint64_t t1, uint64_t t2)
{
	struct acq_result *r = t->res;
	double win_s = (double)(t2 - t1) / 1e9;

	r->records_per_s = (double)t->win_records / win_s;
	r->scans_per_record = t->win_records ? (double)t->win_scans / (double)t->win_records : 0;
	r->poll_us = t->n_looks ? (double)t->looked_ns / 1e3 / (double)t->n_looks : 0;
}

static int run_twitchd(const struct bench_config *cfg, const struct sim *s,
		       const char *twitchd, uint64_t secs, struct acq_result *res)
{
	char conf[PATH_MAX + 16], sock[PATH_MAX + 16], log[PATH_MAX + 16], text[512];
	char stream[40], io[64];
	const char *const argv[] = { twitchd, "-c", conf, "-s", sock, NULL };
	struct tracker t = { .cfg = cfg, .res = res, .rate_hz = cfg->rate_hz, .sim_io_fd = -1,
			     .files_fd = { -1, -1 } };
	struct twitch_client *c = NULL;
	struct sim_status s0, s1, s2;
	uint64_t cpu1, cpu2, tk1, tk2, t1, t2, off1, off2;
	struct proc_mem mem1;
	double self1, self2;
	struct rusage ru;
	pid_t pid;
	int err, st;

	snprintf(conf, sizeof(conf), "%s/twitchd.conf", s->dir);
	snprintf(sock, sizeof(sock), "%s/control.sock", s->dir);
	snprintf(log, sizeof(log), "%s/twitchd.log", s->dir);
	snprintf(stream, sizeof(stream), "samples-%s", cfg->dev_name);
	/* everything else is twitchd's default: block size, buffer, ring size */
	snprintf(text, sizeof(text), "[daemon]\nsocket_group =\n\n[device %s]\nprofile = %s\n"
		 "rate_hz = %u\n%s", cfg->dev_name, cfg->profile, cfg->rate_hz,
		 cfg->no_detect ? "detect = no\n" : "");
	err = write_file(conf, text);
	if (err < 0)
		return err;
	snprintf(io, sizeof(io), "/proc/%d/io", (int)s->pid);
	t.sim_io_fd = open(io, O_RDONLY | O_CLOEXEC);
	if (t.sim_io_fd < 0 || proc_wchar(t.sim_io_fd, &t.wchar) < 0) {
		fprintf(stderr, "bench-acquire: cannot read %s\n", io);
		if (t.sim_io_fd >= 0)
			close(t.sim_io_fd);
		return -EACCES;
	}
	if (sim_status(s, &s0) < 0)
		memset(&s0, 0, sizeof(s0));

	pid = spawn(argv, s, NULL, log);
	if (pid < 0) {
		close(t.sim_io_fd);
		return -errno;
	}
	err = connect_retry(sock, &c);
	if (err == 0)
		err = open_readers(&t, c, stream);
	if (err < 0) {
		fprintf(stderr, "bench-acquire: twitchd at %s, streams %s and events: %s "
			"(log: %s)\n", sock, stream, strerror(-err), log);
		goto out;
	}
	/* a block period of 1 s until the first block tells the real one */
	t.block_ns = NS_PER_S;
	t.gap_ns = NS_PER_S / 2;
	err = watch_until(&t, now_ns() + START_TIMEOUT_NS, true);
	if (err == 0 && !t.started) {
		fprintf(stderr, "bench-acquire: no samples from twitchd in 10 s (log: %s)\n", log);
		err = -ETIMEDOUT;
	}
	if (err == 0)
		err = learn_session(&t, s, s0.session);
	t.expect_ns = 0;	/* the beat is learnt again with the real block period */
	t.keep = true;
	if (err == 0 && wchar_offset(&t, s, &s1, &t.offset) == 0)
		t.have_offset = true;
	if (err == 0)
		err = watch_until(&t, t.first_seen_ns + WARMUP_NS, false);
	if (err < 0)
		goto out;

	err = wchar_offset(&t, s, &s1, &off1);
	t.offset = off1;
	t.have_offset = err == 0;
	t1 = now_ns();
	if (err < 0 || proc_cpu_ns(pid, &cpu1) < 0 || proc_stat_cpu_ns(pid, &tk1) < 0 ||
	    proc_mem_read(pid, &mem1) < 0) {
		fprintf(stderr, "bench-acquire: cannot read twitchd's or the simulator's "
			"counters\n");
		err = -ESRCH;
		goto out;
	}
	self1 = self_cpu_s();
	t.in_window = true;
	err = watch_until(&t, t1 + secs * NS_PER_S, false);
	if (err < 0)
		goto out;
	t2 = now_ns();
	if (proc_cpu_ns(pid, &cpu2) < 0 || proc_stat_cpu_ns(pid, &tk2) < 0 ||
	    proc_mem_read(pid, &res->mem) < 0 || wchar_offset(&t, s, &s2, &off2) < 0) {
		fprintf(stderr, "bench-acquire: cannot read twitchd's or the simulator's "
			"counters\n");
		err = -ESRCH;
		goto out;
	}
	self2 = self_cpu_s();
	t.in_window = false;
	if (off2 != off1)
		fprintf(stderr, "bench-acquire: %s: the simulator wrote %" PRIu64 " bytes we "
			"cannot place in the window; block boundaries after that are off\n",
			cfg->label, off2 - off1);
	err = block_latency(&t, off1, t1, t2);
	if (err < 0)
		goto out;

	res->signal_s = (double)(s2.written_bytes - s1.written_bytes) /
			(double)s2.scan_bytes / (double)cfg->rate_hz;
	res->cpu_pct = (double)(cpu2 - cpu1) / 1e9 / res->signal_s * 100.0;
	res->cpu_ticks_pct = (double)(tk2 - tk1) / 1e9 / res->signal_s * 100.0;
	res->sim_dropped = s2.dropped + s2.skipped;
	res->reader_cpu_pct = (self2 - self1) / ((double)(t2 - t1) / 1e9) * 100.0;
	res->ctxsw_per_s = (double)(res->mem.ctxsw - mem1.ctxsw) / ((double)(t2 - t1) / 1e9);
	res->reader_lapped += twitch_reader_lost(t.rs) + twitch_reader_lost(t.re);
	summarize(&t, t1, t2);
	event_latency(&t);
	res->ok = res->n_deliveries > 0 && res->signal_s > 0;

out:
	twitch_reader_free(t.rs);
	twitch_reader_free(t.re);
	twitch_client_free(c);
	free(t.sbuf);
	free(t.ebuf);
	free(t.recs);
	free(t.bursts);
	free(t.evs);
	close(t.sim_io_fd);
	if (t.files_fd[0] >= 0)
		close(t.files_fd[0]);
	if (t.files_fd[1] >= 0)
		close(t.files_fd[1]);
	kill(pid, SIGTERM);
	st = reap(pid, STOP_TIMEOUT_NS, &ru);
	res->cpu_total_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	if (err == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		fprintf(stderr, "bench-acquire: twitchd did not stop cleanly (status 0x%x, "
			"log %s)\n", (unsigned int)st, log);
		res->ok = false;
	}
	return err;
}

/* ---------------------------------------------------------------- iio_readdev run */

static int run_readdev(const struct bench_config *cfg, const struct sim *s, uint64_t block,
		       uint64_t secs, struct readdev_result *res)
{
	char log[PATH_MAX + 16], b[24], n[24];
	/* no channel list: every channel, so it writes whole blocks, no demux */
	const char *const argv[] = { "iio_readdev", "-u", "local:", "-b", b, "-s", n,
				     "iio:device0", NULL };
	struct sim_status s0, s1, s2;
	struct proc_mem mem1, mem2;
	uint64_t deadline, t1, t2, cpu1, cpu2, tk1, tk2, rd1 = 0, rd2 = 0;
	pid_t pid;
	int err = 0;

	snprintf(log, sizeof(log), "%s/iio_readdev.log", s->dir);
	snprintf(b, sizeof(b), "%" PRIu64, block);
	/* enough samples to outlast the window; it is stopped after the window */
	snprintf(n, sizeof(n), "%" PRIu64, (secs + 30) * cfg->rate_hz);
	if (sim_status(s, &s0) < 0)
		return -EPROTO;
	pid = spawn(argv, s, NULL, log);
	if (pid < 0)
		return -errno;
	deadline = now_ns() + START_TIMEOUT_NS;
	for (;;) {
		if (sim_status(s, &s1) == 0 && s1.session > s0.session && s1.enabled &&
		    s1.written_bytes > 0)
			break;
		if (now_ns() > deadline || interrupted || waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "bench-acquire: iio_readdev did not start streaming "
				"(log: %s)\n", log);
			err = -ETIMEDOUT;
			goto out;
		}
		usleep(20000);
	}
	sleep_until(now_ns() + WARMUP_NS);
	t1 = now_ns();
	if (proc_cpu_ns(pid, &cpu1) < 0 || proc_stat_cpu_ns(pid, &tk1) < 0 ||
	    sim_status(s, &s1) < 0 || proc_mem_read(pid, &mem1) < 0) {
		err = -ESRCH;
		goto out;
	}
	proc_io_field(pid, "syscr: ", &rd1);
	sleep_until(t1 + secs * NS_PER_S);
	if (interrupted) {
		err = -EINTR;
		goto out;
	}
	t2 = now_ns();
	if (proc_cpu_ns(pid, &cpu2) < 0 || proc_stat_cpu_ns(pid, &tk2) < 0 ||
	    sim_status(s, &s2) < 0 || proc_mem_read(pid, &mem2) < 0) {
		fprintf(stderr, "bench-acquire: iio_readdev ended early (log: %s)\n", log);
		err = -ESRCH;
		goto out;
	}
	proc_io_field(pid, "syscr: ", &rd2);
	res->hwm_kb = mem2.hwm_kb;
	res->ctxsw_per_s = (double)(mem2.ctxsw - mem1.ctxsw) / ((double)(t2 - t1) / 1e9);
	res->reads_per_s = (double)(rd2 - rd1) / ((double)(t2 - t1) / 1e9);
	res->signal_s = (double)(s2.written_bytes - s1.written_bytes) / (double)s2.scan_bytes /
			(double)cfg->rate_hz;
	res->cpu_pct = (double)(cpu2 - cpu1) / 1e9 / res->signal_s * 100.0;
	res->cpu_ticks_pct = (double)(tk2 - tk1) / 1e9 / res->signal_s * 100.0;
	res->sim_dropped = s2.dropped + s2.skipped;
	res->ok = res->signal_s > 0;
out:
	kill(pid, SIGINT);	/* iio_readdev's own clean stop */
	reap(pid, STOP_TIMEOUT_NS, NULL);
	return err;
}

/* ---------------------------------------------------------------- main */

static void remove_workdir(const char *dir)
{
	char path[PATH_MAX + 300];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* The build directory: $TWITCH_BUILD, else the one this program was built in. */
static void print_method(uint64_t secs)
{
	printf("bench-acquire: twitchd, then iio_readdev, on twitch-devsim; %" PRIu64 " s "
	       "windows, one thing at a time (2 cores)\n", secs);
	printf("method: CPU = the reader process's CPU clock (all threads) over the window,\n"
	       "  which opens 2 s after data flows (start-up and shutdown left out), per second\n"
	       "  of signal the simulator wrote in it; the simulator's own CPU is not counted.\n");
	printf("method: latency = this process polls, every %" PRIu64 " us around each block, "
	       "the\n"
	       "  simulator's wchar (/proc/PID/io: its pty writes) and a libtwitch reader of the\n"
	       "  samples ring: time the record holding a block's last scan was read minus time\n"
	       "  the simulator's first write of that block was seen; wchar, less what the\n"
	       "  simulator wrote besides data, says which scans a block holds.\n",
	       poll_ns / 1000);
	printf("method: twitch records = from the samples record of the sample a twitch record\n"
	       "  is about (onset, or the event's last) being read to the twitch record being\n"
	       "  read; the device's block wait comes on top.\n");
	printf("method: loss = device loss records in the events ring + sample_index breaks\n"
	       "  in the samples ring + scans the simulated kfifo dropped. iio_readdev gets\n"
	       "  -b <twitchd's block_scans> and every channel (no demux; blocks to /dev/null).\n");
}

static void print_acq(const struct bench_config *cfg, const struct acq_result *r)
{
	const char *l = cfg->label;

	printf("twitchd %-6s: cpu %.3f%% of a core (/proc ticks: %.3f%%) over %.1f s of "
	       "signal; %.2f s CPU in its whole life\n", l, r->cpu_pct, r->cpu_ticks_pct,
	       r->signal_s, r->cpu_total_s);
	printf("twitchd %-6s: %.1f scans/s sustained (nominal %u; %u ch), %.1f records/s of "
	       "%.1f scans; block_scans %" PRIu64 ", scan %" PRIu64 " B\n", l, r->samples_per_s,
	       cfg->rate_hz, cfg->n_channels, r->records_per_s, r->scans_per_record,
	       r->block_scans, r->scan_bytes);
	printf("twitchd %-6s: loss: %" PRIu64 " scans in loss records, %" PRIu64
	       " off sample_index, %" PRIu64 " dropped by the kfifo, %u epoch changes; reader "
	       "lapped %" PRIu64 "\n", l, r->loss_records, r->index_breaks, r->sim_dropped,
	       r->epoch_changes, r->reader_lapped);
	printf("twitchd %-6s: peak RSS %" PRIu64 " kB; now %" PRIu64 " kB = anon %" PRIu64
	       " + file %" PRIu64 " + shmem %" PRIu64 " (rings: %" PRIu64 " kB)\n", l,
	       r->mem.hwm_kb, r->mem.rss_kb, r->mem.anon_kb, r->mem.file_kb, r->mem.shmem_kb,
	       r->rings_kb);
	printf("twitchd %-6s: latency, block written -> all of it readable: p50 %.0f us, p99 "
	       "%.0f us (min %.0f, max %.0f) over %zu blocks, each +-%.0f us (p50), %zu worse "
	       "than +-1 ms; p99 of upper bounds %.0f us; %zu blocks not matched (%zu off a "
	       "scan boundary)\n", l, r->lat_p50_us, r->lat_p99_us, r->lat_min_us,
	       r->lat_max_us, r->n_deliveries, r->unc_p50_us, r->n_coarse, r->lat_hi_p99_us,
	       r->n_unmeasured, r->n_off_boundary);
	printf("twitchd %-6s: latency, block written -> its first record readable: p50 %.0f "
	       "us, p99 %.0f us\n", l, r->first_p50_us, r->first_p99_us);
	if (r->n_late > 0)
		printf("twitchd %-6s: check: a block's first write was seen %.0f..%.0f us (p50 "
		       "%.0f; within one 2 ms tick expected; %zu impossibly early) after the "
		       "pacing formula made its watermark scan; events.log's enable line is "
		       "%.0f us after t0\n", l, r->late_min_us, r->late_max_us, r->late_p50_us,
		       r->n_early, r->t_log_minus_t0_us);
	printf("twitchd %-6s: %.0f context switches/s; this process looked every %.1f us "
	       "while watching and used %.1f%% of a core\n", l, r->ctxsw_per_s, r->poll_us,
	       r->reader_cpu_pct);
	if (r->n_finals + r->n_onsets > 0)
		printf("twitchd %-6s: twitch records, from the samples record of the sample "
		       "they are about being readable: %zu onset notices p50 %.1f ms p99 %.1f ms; "
		       "%zu final records (from the event's last sample) p50 %.1f ms p99 %.1f ms; "
		       "%zu not placed; a sample also waits up to one block (%.1f ms) in the "
		       "device before it is read\n", l, r->n_onsets, r->onset_p50_ms,
		       r->onset_p99_ms, r->n_finals, r->final_p50_ms, r->final_p99_ms,
		       r->n_ev_unplaced, (double)r->block_scans * 1000.0 / cfg->rate_hz);
	if (r->n_finals == 0)
		return;
	printf("twitchd %-6s: the first record saying what the final says (an update, "
	       "else the final): p50 %.1f ms p99 %.1f ms from the event's last sample; "
	       "%zu of %zu finals were said first by an update (%zu updates)\n", l,
	       r->ended_p50_ms, r->ended_p99_ms, r->n_ended_by_update, r->n_finals,
	       r->n_updates);
	printf("twitchd %-6s: the same from when the sample was made (its wait in the "
	       "device for the rest of its read's scans added): that first record "
	       "p50 %.1f ms p99 %.1f ms; onset notices p99 %.1f ms\n", l,
	       r->made_ended_p50_ms, r->made_ended_p99_ms, r->made_onset_p99_ms);
}

static int run_config(const struct bench_config *cfg, const char *devsim, const char *twitchd,
		      uint64_t secs, struct acq_result *acq, struct readdev_result *rd)
{
	const char *tmp = getenv("TMPDIR");
	struct sim s = { .pid = -1 };
	int err;

	snprintf(s.dir, sizeof(s.dir), "%s/bench-acquire-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(s.dir) == NULL) {
		fprintf(stderr, "bench-acquire: mkdtemp %s: %s\n", s.dir, strerror(errno));
		return -errno;
	}
	printf("== %s: twitch-devsim -d %s\n", cfg->label, cfg->spec);
	err = sim_start(&s, devsim, cfg->spec);
	if (err == 0)
		err = run_twitchd(cfg, &s, twitchd, secs, acq);
	if (err == 0 && acq->ok)
		print_acq(cfg, acq);
	if (err == 0 && !interrupted)
		err = run_readdev(cfg, &s, acq->block_scans, secs, rd);
	if (err == 0 && rd->ok)
		printf("iio_readdev %-6s: cpu %.3f%% of a core (/proc ticks: %.3f%%) over %.1f s "
		       "of signal, -b %" PRIu64 "; kfifo dropped %" PRIu64 ", peak RSS %" PRIu64
		       " kB; %.0f read()s/s, %.0f context switches/s\n", cfg->label, rd->cpu_pct,
		       rd->cpu_ticks_pct, rd->signal_s, acq->block_scans, rd->sim_dropped,
		       rd->hwm_kb, rd->reads_per_s, rd->ctxsw_per_s);
	sim_stop(&s);
	if (interrupted) {
		remove_workdir(s.dir);
		return -EINTR;
	}
	if (err < 0 || !acq->ok || !rd->ok) {
		fprintf(stderr, "bench-acquire: %s failed (%s); its files are in %s\n",
			cfg->label, err < 0 ? strerror(-err) : "incomplete", s.dir);
		return err < 0 ? err : -EIO;
	}
	if (acq->reader_lapped) {
		fprintf(stderr, "bench-acquire: %s: the reader was lapped, continuity is "
			"unknown; files in %s\n", cfg->label, s.dir);
		return -EIO;
	}
	remove_workdir(s.dir);
	return 0;
}

int main(void)
{
	struct acq_result acq[N_CONFIGS];
	struct readdev_result rd[N_CONFIGS];
	char build[PATH_MAX], twitchd[PATH_MAX + 16], devsim[PATH_MAX + 16];
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t secs = DEFAULT_SECONDS, v, loss = 0, rss = 0;
	const char *env;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	env = getenv("BENCH_SECONDS");
	if (env != NULL && parse_u64(env, 1, 3600, &secs) < 0) {
		fprintf(stderr, "bench-acquire: BENCH_SECONDS='%s' is not 1..3600\n", env);
		return 2;
	}
	env = getenv("BENCH_POLL_US");
	if (env != NULL) {
		if (parse_u64(env, 5, 10000, &v) < 0) {
			fprintf(stderr, "bench-acquire: BENCH_POLL_US='%s' is not 5..10000\n", env);
			return 2;
		}
		poll_ns = v * 1000u;
	}
	if (devsim_build_dir(build, sizeof(build), 3) < 0) {
		fprintf(stderr, "bench-acquire: cannot find the build directory\n");
		return 1;
	}
	snprintf(twitchd, sizeof(twitchd), "%s/twitchd", build);
	env = getenv("TWITCH_DEVSIM");
	if (env != NULL && *env != '\0')
		snprintf(devsim, sizeof(devsim), "%s", env);
	else
		snprintf(devsim, sizeof(devsim), "%s/twitch-devsim", build);
	if (access(twitchd, X_OK) != 0 || access(devsim, X_OK) != 0) {
		fprintf(stderr, "bench-acquire: %s or %s is missing: run make first\n", twitchd,
			devsim);
		return 1;
	}
	if (!in_path("iio_readdev")) {
		fprintf(stderr, "bench-acquire: iio_readdev not found (Debian package "
			"libiio-utils): no baseline, skipped\n");
		return 77;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_TIMERSLACK, 1UL);	/* wake on time, not up to 50 us late */
	memset(acq, 0, sizeof(acq));
	memset(rd, 0, sizeof(rd));
	print_method(secs);

	for (i = 0; i < N_CONFIGS; i++) {
		if (interrupted || run_config(&configs[i], devsim, twitchd, secs, &acq[i],
					      &rd[i]) < 0) {
			fprintf(stderr, "bench-acquire: incomplete run, no RESULT\n");
			return 1;
		}
		loss += acq[i].loss_records + acq[i].index_breaks + acq[i].sim_dropped +
			acq[i].epoch_changes;
		if (acq[i].mem.hwm_kb > rss)
			rss = acq[i].mem.hwm_kb;
	}
	printf("ratio of twitchd's CPU to iio_readdev's: 8x4k %.2f, 64x16k %.2f, 64x16k with "
	       "detect = no %.2f\n", acq[0].cpu_pct / rd[0].cpu_pct,
	       acq[1].cpu_pct / rd[1].cpu_pct, acq[2].cpu_pct / rd[2].cpu_pct);
	printf("note: rss_kb below is the largest peak of the runs; lat_* are 64x16k's\n");
	printf("RESULT cpu_pct_8x4k=%.3f cpu_pct_64x16k=%.3f loss=%" PRIu64 " rss_kb=%" PRIu64
	       " lat_p50_us=%.0f lat_p99_us=%.0f readdev_cpu_pct_8x4k=%.3f "
	       "readdev_cpu_pct_64x16k=%.3f vs_readdev_cpu_ratio=%.2f "
	       "final_lat_p99_ms_8x4k=%.1f onset_lat_p99_ms_8x4k=%.1f n_finals_8x4k=%zu "
	       "ended_lat_p99_ms_8x4k=%.1f ended_by_update_pct_8x4k=%.1f "
	       "made_ended_lat_p99_ms_8x4k=%.1f made_onset_lat_p99_ms_8x4k=%.1f "
	       "cpu_pct_64x16k_acq=%.3f vs_readdev_cpu_ratio_acq=%.2f\n",
	       acq[0].cpu_pct, acq[1].cpu_pct, loss, rss, acq[1].lat_p50_us, acq[1].lat_p99_us,
	       rd[0].cpu_pct, rd[1].cpu_pct, acq[1].cpu_pct / rd[1].cpu_pct,
	       acq[0].final_p99_ms, acq[0].onset_p99_ms, acq[0].n_finals, acq[0].ended_p99_ms,
	       acq[0].n_finals ? 100.0 * (double)acq[0].n_ended_by_update /
				 (double)acq[0].n_finals : 0.0, acq[0].made_ended_p99_ms,
	       acq[0].made_onset_p99_ms, acq[2].cpu_pct,
	       acq[2].cpu_pct / rd[2].cpu_pct);
	return 0;
}

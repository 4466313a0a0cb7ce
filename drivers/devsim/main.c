// SPDX-License-Identifier: MIT
/*
 * main.c - twitch-devsim: command line, testbed, and the one event loop.
 *
 * Builds a umockdev testbed with the requested devices, then either runs a
 * command under it (like umockdev-run: UMOCKDEV_DIR and LD_PRELOAD set for
 * the child, our exit status is the child's) or, with --serve, publishes
 * the environment and keeps playing the kernel until SIGTERM. Everything
 * happens in one thread around epoll: inotify (attribute writes), a
 * timerfd (pacing), a signalfd and the control socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <umockdev.h>

#include "devsim.h"
#include "source.h"

#define DEVSIM_VERSION "0.1"

enum {
	TAG_SIGNAL = 1, TAG_INOTIFY, TAG_SETTLE, TAG_TIMER, TAG_LISTEN,
	TAG_CLIENT = 16,			/* + client slot */
	TAG_PTY = 64,			/* + device slot */
};

static const char devsim_usage[] =
"Usage: twitch-devsim [OPTIONS] [-- COMMAND [ARGS...]]\n"
"       twitch-devsim --ctl SOCKET|DIR COMMAND [ARGS...]\n"
"\n"
"Simulate IIO front ends on a umockdev testbed and play their kernel\n"
"drivers. With COMMAND: run it under the testbed (UMOCKDEV_DIR, LD_PRELOAD,\n"
"DEVSIM_CONTROL and DEVSIM_DIR set) and exit with its status. With --serve:\n"
"print the environment, write --env-file, run until SIGTERM or SIGINT.\n"
"\n"
"  -d, --device SPEC     add a device (repeatable; default: ads1298)\n"
"      ads1298[:channels=4|6|8,r=1,vref=MV,gain=G,rate=HZ]\n"
"      ads131e08[:chip=ads131e0N,channels=N,vref=MV,gain=G,rate=HZ]\n"
"      ad5933[:chip=ad5934,load=body|resistor,r=OHM,r0=,rinf=,fc=,alpha=,\n"
"              k=COUNTS*OHM,phase=RAD,temp=C,vdd=MV,init_ms=,point_ms=]\n"
"      generic[:name=N,channels=N,type=le:s24/32>>0,scale=MV,rate=HZ,\n"
"               rates=500/1000,timestamp=0|1,ts_offset_s=S]\n"
"      ts_offset_s: timestamps as a board's whose clocks read S s more\n"
"      EMG devices: source=subject|sine|recording:PATH, seed=N,\n"
"                   bg_uv=, mains_uv=, mup_per_min=, lm_per_min=,\n"
"                   leg_mask=0xc0 (limb movements only there) (subject settings)\n"
"      EMG devices: clock_ppm=N, the oscillator off by N ppm (+-50000): scans\n"
"                   come that much faster or slower than sampling_frequency\n"
"      The subject's events go to $DEVSIM_DIR/<id>.s<session>.truth.jsonl\n"
"  -s, --seed N          seed of every source (default 1)\n"
"  -t, --tick-ms N       pacing period (default 2)\n"
"  -l, --log-bytes       write every scan put in the kfifo to\n"
"                        $UMOCKDEV_DIR/devsim/<id>.s<session>.bin\n"
"  -e, --env-file PATH   write UMOCKDEV_DIR=... lines there when ready\n"
"  -S, --serve           no command: print the environment, then serve\n"
"  -c, --ctl PATH        client: send one control command, print the reply\n"
"  -h, --help, -V, --version\n"
"\n"
"Control socket $UMOCKDEV_DIR/devsim/control, one line per command, reply\n"
"\"OK ...\" or \"ERR <errno> <text>\":\n"
"  list                      devices as id=name\n"
"  sync                      reply once earlier attribute writes are handled\n"
"  status DEV                counters of the current buffer session\n"
"  overflow DEV N            the next N scans are lost (skipped)\n"
"  stall DEV MS [drop]       deliver nothing for MS ms (drop: lose them too)\n"
"  vanish DEV [MS]           remove the device (reader sees EOF/POLLHUP);\n"
"                            with MS it returns after MS ms\n"
"  return DEV                bring it back (as a new iio:deviceN, probe state)\n"
"  garbage DEV ATTR [VALUE]  hold ATTR (e.g. in_voltage0_scale) at VALUE\n"
"  garbage-clear DEV ATTR    back to what the driver shows\n"
"  dirty DEV 0|1             junk (0xa5) in the bits outside each value\n"
"  load DEV resistor OHM|body [R0 RINF FC ALPHA]\n"
"                               AD5933: what the electrodes see\n"
"Events (enable, faults, sweep points, rejected writes) are appended to\n"
"$UMOCKDEV_DIR/devsim/events.log.\n"
"\n"
"Attribute writes reach the simulator through inotify and are applied about\n"
"2 ms later (a write-back read at once shows the written text); send \"sync\"\n"
"to wait for them. A rejected write is put back, but the writer saw success.\n";

uint64_t devsim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void devsim_event(struct devsim *ds, const struct devsim_dev *d,
		  const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (ds->events_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%llu %s ",
		     (unsigned long long)devsim_now_ns(), d != NULL ? d->id : "-");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(ds->events_fd, buf, (size_t)n) < 0) {
		close(ds->events_fd);	/* a full disk ends the log, not the run */
		ds->events_fd = -1;
	}
}

struct devsim_dev *devsim_find(struct devsim *ds, const char *key)
{
	size_t i;

	for (i = 0; i < ds->n_devs; i++)
		if (strcmp(ds->dev[i]->id, key) == 0)
			return ds->dev[i];
	for (i = 0; i < ds->n_devs; i++)
		if (strcmp(ds->dev[i]->name, key) == 0)
			return ds->dev[i];
	return NULL;
}

void devsim_want_pollout(struct devsim *ds, struct devsim_dev *d, bool on)
{
	struct epoll_event ev = { .events = EPOLLOUT };
	size_t i;

	if (on == d->pollout)
		return;
	for (i = 0; i < ds->n_devs && ds->dev[i] != d; i++)
		;
	ev.data.u64 = TAG_PTY + i;
	if (epoll_ctl(ds->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, d->pty, &ev) == 0 ||
	    !on)
		d->pollout = on;
}

int devsim_watch(struct devsim *ds, struct devsim_dev *d)
{
	char path[PATH_MAX];

	d->wd_dev = inotify_add_watch(ds->inotify_fd, d->dir, IN_CLOSE_WRITE);
	snprintf(path, sizeof(path), "%s/buffer", d->dir);
	d->wd_buf = inotify_add_watch(ds->inotify_fd, path, IN_CLOSE_WRITE);
	snprintf(path, sizeof(path), "%s/scan_elements", d->dir);
	d->wd_scan = inotify_add_watch(ds->inotify_fd, path, IN_CLOSE_WRITE);
	if (d->wd_dev < 0 || d->wd_buf < 0 || d->wd_scan < 0)
		return -errno;
	return 0;
}

/*
 * Attribute writes. A file's content is read when we get to it, which can
 * be later than the write its event reports, so events are gathered until
 * the writer has been quiet for DEVSIM_SETTLE_NS (a writer sets enable=0,
 * the *_en files, length, watermark, enable=1 within a millisecond) and then
 * handled as one batch: each file once, buffer/enable last, and a device
 * whose enable was touched while streaming is stopped first (the writer
 * turned it off to reconfigure, or toggled it: a restart, as for an AD5933
 * sweep). The cost: a write takes effect about 2 ms after it.
 */
#define DEVSIM_SETTLE_NS	2000000u

static void devsim_gather(struct devsim *ds)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	size_t i, t;

	while ((n = read(ds->inotify_fd, buf, sizeof(buf))) > 0) {
		char *p;

		for (p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
			struct devsim_dev *d = NULL;
			char rel[DEVSIM_REL_MAX];

			p += sizeof(*ev) + ev->len;
			if (ev->len == 0 || strncmp(ev->name, ".devsim-tmp", 11) == 0)
				continue;
			for (i = 0; i < ds->n_devs && d == NULL; i++)
				if (!ds->dev[i]->vanished && (ev->wd == ds->dev[i]->wd_dev ||
							      ev->wd == ds->dev[i]->wd_buf ||
							      ev->wd == ds->dev[i]->wd_scan))
					d = ds->dev[i];
			if (d == NULL)
				continue;
			snprintf(rel, sizeof(rel), "%s%s",
				 ev->wd == d->wd_buf ? "buffer/" :
				 ev->wd == d->wd_scan ? "scan_elements/" : "", ev->name);
			if (d->enabled && strcmp(rel, "buffer/enable") == 0)
				stream_freeze(d);	/* nothing stale for a new reader */
			for (t = 0; t < ds->n_touched; t++)
				if (ds->touched[t].d == d && strcmp(ds->touched[t].rel, rel) == 0)
					break;
			if (t < ds->n_touched)
				continue;
			if (ds->n_touched == DEVSIM_MAX_TOUCHED) {
				attr_written(ds, d, rel);	/* no room: now */
				continue;
			}
			ds->touched[t].d = d;
			snprintf(ds->touched[t].rel, sizeof(ds->touched[t].rel), "%s", rel);
			ds->n_touched++;
		}
	}
}

static void devsim_handle_batch(struct devsim *ds)
{
	struct devsim_touch *touched = ds->touched;
	size_t t, n = ds->n_touched;

	ds->n_touched = 0;
	for (t = 0; t < n; t++)
		if (touched[t].d->vanished)
			touched[t].d = NULL;
	for (t = 0; t < n; t++)
		if (touched[t].d != NULL && strcmp(touched[t].rel, "buffer/enable") == 0 &&
		    touched[t].d->enabled)
			stream_disable(ds, touched[t].d, "buffer/enable written");
	for (t = 0; t < n; t++)
		if (touched[t].d != NULL && strcmp(touched[t].rel, "buffer/enable") != 0)
			attr_written(ds, touched[t].d, touched[t].rel);
	for (t = 0; t < n; t++)
		if (touched[t].d != NULL && strcmp(touched[t].rel, "buffer/enable") == 0)
			attr_written(ds, touched[t].d, touched[t].rel);
}

/* inotify fired: gather, and handle once the writer is quiet */
static void devsim_on_inotify(struct devsim *ds)
{
	struct itimerspec its = { .it_value = { 0, DEVSIM_SETTLE_NS } };

	devsim_gather(ds);
	if (ds->n_touched > 0)
		timerfd_settime(ds->settle_fd, 0, &its, NULL);
}

static void devsim_on_settle(struct devsim *ds)
{
	uint64_t expirations;

	if (read(ds->settle_fd, &expirations, sizeof(expirations)) < 0)
		return;
	devsim_gather(ds);
	devsim_handle_batch(ds);
}

/* a control command: every write made before it is handled first */
static void devsim_barrier(struct devsim *ds)
{
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };

	devsim_gather(ds);
	devsim_handle_batch(ds);
	timerfd_settime(ds->settle_fd, 0, &off, NULL);
}

static void devsim_on_tick(struct devsim *ds)
{
	uint64_t expirations, now = devsim_now_ns();
	size_t i;

	if (read(ds->timer_fd, &expirations, sizeof(expirations)) < 0)
		return;
	for (i = 0; i < ds->n_devs; i++) {
		struct devsim_dev *d = ds->dev[i];

		if (d->vanished && d->return_at_ns != 0 && now >= d->return_at_ns)
			devsim_return(ds, d);
		stream_tick(ds, d, now);
	}
}

static int devsim_add_client(struct devsim *ds)
{
	struct epoll_event ev = { .events = EPOLLIN };
	size_t i;
	int fd = accept4(ds->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return -errno;
	for (i = 0; i < sizeof(ds->clients) / sizeof(ds->clients[0]); i++) {
		if (ds->clients[i] < 0) {
			ds->clients[i] = fd;
			ev.data.u64 = TAG_CLIENT + i;
			epoll_ctl(ds->epfd, EPOLL_CTL_ADD, fd, &ev);
			return 0;
		}
	}
	close(fd);		/* more than 8 controllers: refuse */
	return -EMFILE;
}

static void devsim_on_client(struct devsim *ds, size_t i)
{
	char line[512], reply[1024];
	ssize_t n;
	size_t len;

	/* commands are short lines sent at once; a partial one is an error */
	n = recv(ds->clients[i], line, sizeof(line) - 1, 0);
	if (n <= 0) {
		epoll_ctl(ds->epfd, EPOLL_CTL_DEL, ds->clients[i], NULL);
		close(ds->clients[i]);
		ds->clients[i] = -1;
		return;
	}
	line[n] = '\0';
	/*
	 * Attribute writes made before the command was sent are handled
	 * first, so that any command is a barrier ("sync" is just that).
	 */
	devsim_barrier(ds);
	for (char *cmd = line, *next; *cmd != '\0'; cmd = next) {
		char *nl = strchr(cmd, '\n');

		next = nl != NULL ? nl + 1 : cmd + strlen(cmd);
		if (nl != NULL)
			*nl = '\0';
		if (*cmd == '\0')
			continue;
		control_command(ds, cmd, reply, sizeof(reply) - 1);
		len = strlen(reply);
		reply[len++] = '\n';
		if (send(ds->clients[i], reply, len, MSG_NOSIGNAL) < 0)
			break;
	}
}

static int devsim_listen(struct devsim *ds)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control",
			     ds->ctl_dir) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ds->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ds->listen_fd < 0)
		return -errno;
	if (bind(ds->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ds->listen_fd, 8) < 0)
		return -errno;
	return 0;
}

static const char *devsim_parent(enum devsim_kind kind, size_t k, char *buf,
				 size_t len)
{
	switch (kind) {
	case DEVSIM_ADS1298:
	case DEVSIM_ADS131E08:
		snprintf(buf, len, "platform/soc/spi0/spi0.%zu", k);
		break;
	case DEVSIM_AD5933:
		snprintf(buf, len, "platform/soc/i2c-1/1-%04zx", 0x0d + k);
		break;
	case DEVSIM_GENERIC:
		snprintf(buf, len, "platform/devsim-adc.%zu", k);
		break;
	}
	return buf;
}

static int devsim_write_env(struct devsim *ds, FILE *f)
{
	const char *pre = getenv("LD_PRELOAD");
	size_t i;

	fprintf(f, "UMOCKDEV_DIR=%s\n", ds->root);
	fprintf(f, "LD_PRELOAD=%s%slibumockdev-preload.so.0\n",
		pre != NULL ? pre : "", pre != NULL && *pre != '\0' ? ":" : "");
	fprintf(f, "DEVSIM_DIR=%s\n", ds->ctl_dir);
	fprintf(f, "DEVSIM_CONTROL=%s/control\n", ds->ctl_dir);
	fprintf(f, "DEVSIM_DEVICES=\"");
	for (i = 0; i < ds->n_devs; i++)
		fprintf(f, "%s%s=%s", i ? " " : "", ds->dev[i]->id, ds->dev[i]->name);
	fprintf(f, "\"\n");
	return ferror(f) ? -EIO : 0;
}

static int devsim_env_file(struct devsim *ds, const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;
	int err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (f == NULL)
		return -errno;
	err = devsim_write_env(ds, f);
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) < 0)
		err = -errno;
	return err;
}

static pid_t devsim_spawn(struct devsim *ds, char **argv, const sigset_t *old)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	{
		const char *pre = getenv("LD_PRELOAD");
		char env[PATH_MAX + 64];

		snprintf(env, sizeof(env), "%s%slibumockdev-preload.so.0",
			 pre != NULL ? pre : "", pre != NULL && *pre != '\0' ? ":" : "");
		setenv("LD_PRELOAD", env, 1);
		setenv("UMOCKDEV_DIR", ds->root, 1);
		setenv("DEVSIM_DIR", ds->ctl_dir, 1);
		snprintf(env, sizeof(env), "%s/control", ds->ctl_dir);
		setenv("DEVSIM_CONTROL", env, 1);
		sigprocmask(SIG_SETMASK, old, NULL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "twitch-devsim: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
}

static int devsim_ctl_client(const char *path, int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[512], reply[2048];
	size_t off = 0;
	ssize_t n;
	struct stat st;
	int fd, i;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/devsim/control", path);
	else
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (i = 0; i < argc; i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
					i ? " " : "", argv[i]);
	if (off + 1 >= sizeof(line)) {
		fprintf(stderr, "twitch-devsim: command too long\n");
		return 2;
	}
	line[off++] = '\n';
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "twitch-devsim: %s: %s\n", sa.sun_path, strerror(errno));
		return 1;
	}
	if (send(fd, line, off, MSG_NOSIGNAL) != (ssize_t)off) {
		fprintf(stderr, "twitch-devsim: send: %s\n", strerror(errno));
		return 1;
	}
	off = 0;
	while (off < sizeof(reply) - 1 && (n = recv(fd, reply + off,
						    sizeof(reply) - 1 - off, 0)) > 0) {
		off += (size_t)n;
		if (memchr(reply, '\n', off) != NULL)
			break;
	}
	close(fd);
	reply[off] = '\0';
	fputs(reply, stdout);
	return strncmp(reply, "OK", 2) == 0 ? 0 : 1;
}

struct devsim_opts {
	const char *specs[DEVSIM_MAX_DEVICES];
	size_t n_specs;
	uint64_t seed;
	uint64_t tick_ms;
	bool log_bytes, serve;
	const char *env_file;
	const char *ctl;
	char **cmd;
	int n_cmd;
};

static int devsim_parse_args(int argc, char **argv, struct devsim_opts *o)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "tick-ms", required_argument, NULL, 't' },
		{ "log-bytes", no_argument, NULL, 'l' },
		{ "env-file", required_argument, NULL, 'e' },
		{ "serve", no_argument, NULL, 'S' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	char *end;
	int c;

	o->seed = 1;
	o->tick_ms = 2;
	while ((c = getopt_long(argc, argv, "+d:s:t:le:Sc:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (o->n_specs == DEVSIM_MAX_DEVICES) {
				fprintf(stderr, "twitch-devsim: at most %d devices\n",
					DEVSIM_MAX_DEVICES);
				return 2;
			}
			o->specs[o->n_specs++] = optarg;
			break;
		case 's':
		case 't':
			errno = 0;
			v = strtoull(optarg, &end, 0);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    (c == 't' && (v == 0 || v > 1000))) {
				fprintf(stderr, "twitch-devsim: bad number for -%c: %s\n",
					c, optarg);
				return 2;
			}
			if (c == 's')
				o->seed = v;
			else
				o->tick_ms = v;
			break;
		case 'l':
			o->log_bytes = true;
			break;
		case 'e':
			o->env_file = optarg;
			break;
		case 'S':
			o->serve = true;
			break;
		case 'c':
			o->ctl = optarg;
			break;
		case 'h':
			fputs(devsim_usage, stdout);
			exit(EXIT_SUCCESS);
		case 'V':
			printf("twitch-devsim %s\n", DEVSIM_VERSION);
			exit(EXIT_SUCCESS);
		default:
			fputs(devsim_usage, stderr);
			return 2;
		}
	}
	o->cmd = argv + optind;
	o->n_cmd = argc - optind;
	if (o->ctl != NULL)
		return o->n_cmd > 0 ? 0 : 2;
	if (o->serve == (o->n_cmd > 0)) {
		fprintf(stderr, "twitch-devsim: give either --serve or -- COMMAND\n");
		return 2;
	}
	if (o->n_specs == 0)
		o->specs[o->n_specs++] = "ads1298";
	return 0;
}

static int devsim_setup(struct devsim *ds, const struct devsim_opts *o)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	size_t i, k[4] = { 0, 0, 0, 0 };
	char path[PATH_MAX + 16], err[256];
	gchar *root;
	sigset_t mask;
	int r;

	ds->testbed = umockdev_testbed_new();
	root = umockdev_testbed_get_root_dir(ds->testbed);
	r = snprintf(ds->root, sizeof(ds->root), "%s", root) >= (int)sizeof(ds->root) ?
	    -ENAMETOOLONG : 0;
	g_free(root);
	if (r < 0)
		return r;
	snprintf(ds->ctl_dir, sizeof(ds->ctl_dir), "%s/devsim", ds->root);
	if (mkdir(ds->ctl_dir, 0755) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/events.log", ds->ctl_dir);
	ds->events_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ds->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ds->inotify_fd < 0)
		return -errno;
	ds->log_bytes = o->log_bytes;
	ds->tick_ns = o->tick_ms * 1000000u;

	for (i = 0; i < o->n_specs; i++) {
		struct devsim_dev *d;
		char parent[128];

		r = model_parse_spec(o->specs[i], o->seed, &d, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "twitch-devsim: --device %s: %s\n", o->specs[i], err);
			return r;
		}
		ds->dev[ds->n_devs++] = d;
		d->num = ds->next_num++;
		snprintf(d->parent, sizeof(d->parent), "%s",
			 devsim_parent(d->kind, k[d->kind]++, parent, sizeof(parent)));
		r = model_add_to_testbed(ds, d, true);
		if (r < 0) {
			fprintf(stderr, "twitch-devsim: cannot add %s: %s\n", o->specs[i],
				strerror(-r));
			return r;
		}
	}

	r = devsim_listen(ds);
	if (r < 0)
		return r;
	ds->epfd = epoll_create1(EPOLL_CLOEXEC);
	ds->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ds->settle_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	ds->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (ds->epfd < 0 || ds->timer_fd < 0 || ds->settle_fd < 0 || ds->signal_fd < 0)
		return -errno;
	its.it_interval.tv_nsec = (long)ds->tick_ns % 1000000000;
	its.it_interval.tv_sec = (time_t)(ds->tick_ns / 1000000000u);
	its.it_value = its.it_interval;
	timerfd_settime(ds->timer_fd, 0, &its, NULL);
	ev.data.u64 = TAG_SIGNAL;
	epoll_ctl(ds->epfd, EPOLL_CTL_ADD, ds->signal_fd, &ev);
	ev.data.u64 = TAG_INOTIFY;
	epoll_ctl(ds->epfd, EPOLL_CTL_ADD, ds->inotify_fd, &ev);
	ev.data.u64 = TAG_TIMER;
	epoll_ctl(ds->epfd, EPOLL_CTL_ADD, ds->timer_fd, &ev);
	ev.data.u64 = TAG_SETTLE;
	epoll_ctl(ds->epfd, EPOLL_CTL_ADD, ds->settle_fd, &ev);
	ev.data.u64 = TAG_LISTEN;
	epoll_ctl(ds->epfd, EPOLL_CTL_ADD, ds->listen_fd, &ev);
	return 0;
}

/* Returns the exit status to use; *ret_reaped says if the child is gone. */
static int devsim_run(struct devsim *ds, pid_t child, bool *ret_reaped)
{
	for (;;) {
		struct epoll_event evs[16];
		int n, i;

		n = epoll_wait(ds->epfd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == TAG_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(ds->signal_fd, &si, sizeof(si)) == sizeof(si)) {
					int st;

					if (si.ssi_signo != SIGCHLD)
						return child > 0 ? 128 + (int)si.ssi_signo : 0;
					/* coalesced SIGCHLDs: reap in a loop */
					while (child > 0 && waitpid(child, &st, WNOHANG) == child) {
						*ret_reaped = true;
						if (WIFEXITED(st))
							return WEXITSTATUS(st);
						if (WIFSIGNALED(st))
							return 128 + WTERMSIG(st);
					}
				}
			} else if (tag == TAG_INOTIFY) {
				devsim_on_inotify(ds);
			} else if (tag == TAG_SETTLE) {
				devsim_on_settle(ds);
			} else if (tag == TAG_TIMER) {
				devsim_on_tick(ds);
			} else if (tag == TAG_LISTEN) {
				devsim_add_client(ds);
			} else if (tag >= TAG_PTY) {
				if (tag - TAG_PTY < ds->n_devs)
					stream_writable(ds, ds->dev[tag - TAG_PTY]);
			} else if (tag >= TAG_CLIENT) {
				devsim_on_client(ds, tag - TAG_CLIENT);
			}
		}
	}
}

static void devsim_teardown(struct devsim *ds)
{
	size_t i;

	for (i = 0; i < ds->n_devs; i++) {
		struct devsim_dev *d = ds->dev[i];

		stream_disable(ds, d, "exit");
		if (d->slave >= 0)
			close(d->slave);
		source_free(d->src);
		free(d->fifo);
		free(d->gen_uv);
		free(d->scan_buf);
		free(d);
	}
	for (i = 0; i < sizeof(ds->clients) / sizeof(ds->clients[0]); i++)
		if (ds->clients[i] >= 0)
			close(ds->clients[i]);
	if (ds->testbed != NULL)
		g_object_unref(ds->testbed);	/* removes the whole tree */
}

int main(int argc, char **argv)
{
	struct devsim_opts o = { .n_specs = 0 };
	struct devsim ds = {
		.epfd = -1, .inotify_fd = -1, .timer_fd = -1, .settle_fd = -1, .signal_fd = -1,
		.listen_fd = -1, .events_fd = -1,
	};
	sigset_t mask, old;
	pid_t child = -1;
	bool reaped = false;
	size_t i;
	int r, status;

	r = devsim_parse_args(argc, argv, &o);
	if (r != 0)
		return r;
	if (o.ctl != NULL)
		return devsim_ctl_client(o.ctl, o.n_cmd, o.cmd);
	for (i = 0; i < sizeof(ds.clients) / sizeof(ds.clients[0]); i++)
		ds.clients[i] = -1;

	/* before the testbed starts its worker thread: signals come to us */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);

	r = devsim_setup(&ds, &o);
	if (r < 0) {
		if (r != -EINVAL)
			fprintf(stderr, "twitch-devsim: setup failed: %s\n", strerror(-r));
		devsim_teardown(&ds);
		return r == -EINVAL ? 2 : 1;	/* -EINVAL: a bad --device */
	}
	if (o.env_file != NULL) {
		r = devsim_env_file(&ds, o.env_file);
		if (r < 0) {
			fprintf(stderr, "twitch-devsim: %s: %s\n", o.env_file, strerror(-r));
			devsim_teardown(&ds);
			return 1;
		}
	}
	if (o.serve) {
		devsim_write_env(&ds, stdout);
		printf("READY\n");
		fflush(stdout);
	} else {
		child = devsim_spawn(&ds, o.cmd, &old);
		if (child < 0) {
			fprintf(stderr, "twitch-devsim: fork: %s\n", strerror(errno));
			devsim_teardown(&ds);
			return 1;
		}
	}
	status = devsim_run(&ds, child, &reaped);
	if (child > 0 && !reaped) {
		/* we were told to stop: stop the child too, then report */
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	devsim_teardown(&ds);
	if (o.env_file != NULL)
		unlink(o.env_file);
	return status;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - twitchd: arguments, set-up, the loop, exit code.
 *
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or bad
 * configuration (one message naming file, line and key).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "analyze.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "records.h"
#include "twitchd.h"

#define TWITCHD_VERSION "0.1.0"
#define EXIT_USAGE 2

struct args {
	const char *analyze;
	const char *subject;
	const char *config;
	const char *device;		/* --device: which section --analyze uses */
	const char *socket;
	bool check_config;
	bool verbose;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: twitchd [OPTIONS]\n"
		"       twitchd --analyze FILE [--subject height_cm=H,weight_kg=W,sex=m|f,age=A]\n"
		"                              [-c FILE [--device NAME]]\n"
		"EMG twitch and bioimpedance monitor daemon (a monitoring aid, not a\n"
		"diagnostic device).\n\n"
		"  --analyze FILE      run the detection chain on a recording (WFDB .hea,\n"
		"                      EDF(+)/BDF(+), BioSPPy text) or the bioimpedance\n"
		"                      estimates on a sweep CSV, one JSON object per line on\n"
		"                      stdout\n"
		"  --subject SPEC      subject data for body-water estimates (with --analyze)\n"
		"  --device NAME       with --analyze -c: the device section whose filter and\n"
		"                      detector settings apply (default: the first EMG one\n"
		"                      with detection)\n"
		"  -c, --config FILE   configuration (default %s if it exists,\n"
		"                      else the built-in ADS1298 + AD5933 layout)\n"
		"  -s, --socket PATH   control socket (overrides [daemon] socket)\n"
		"      --check-config  parse the configuration, print it, and exit\n"
		"  -v, --verbose       debug messages\n"
		"  -h, --help          this help\n"
		"  -V, --version       version\n\n"
		"Signals: SIGTERM/SIGINT stop (publishing what was acquired), SIGHUP reloads\n"
		"the configuration. Exit codes: 0 stopped, 1 runtime failure, 2 bad usage\n"
		"or configuration.\n", CONFIG_DEFAULT_PATH);
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "analyze", required_argument, NULL, 'A' },
		{ "subject", required_argument, NULL, 'S' },
		{ "device", required_argument, NULL, 'D' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "c:s:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			a->analyze = optarg;
			break;
		case 'S':
			a->subject = optarg;
			break;
		case 'D':
			a->device = optarg;
			break;
		case 'c':
			a->config = optarg;
			break;
		case 's':
			a->socket = optarg;
			break;
		case 'C':
			a->check_config = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case 'V':
			printf("twitchd %s\n", TWITCHD_VERSION);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "twitchd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (a->device && (!a->analyze || !a->config)) {
		fprintf(stderr, "twitchd: --device goes with --analyze and -c\n");
		return -EINVAL;
	}
	if (a->subject && !a->analyze) {
		fprintf(stderr, "twitchd: --subject goes with --analyze (live, use twitchctl "
			"subject)\n");
		return -EINVAL;
	}
	return 0;
}

static int load_config(const struct args *a, struct config *c)
{
	struct config_error err;
	char msg[700];
	const char *path = a->config;
	int r;

	if (path == NULL && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = CONFIG_DEFAULT_PATH;
	if (path == NULL) {
		config_default(c);
	} else {
		r = config_load(path, c, &err);
		if (r < 0) {
			config_strerror(&err, msg, sizeof(msg));
			fprintf(stderr, "twitchd: %s\n", msg);
			return r;
		}
	}
	if (a->socket) {
		if (a->socket[0] != '/' || strlen(a->socket) >= sizeof(c->socket_path)) {
			fprintf(stderr, "twitchd: --socket: '%s' is not an absolute path under "
				"%zu bytes\n", a->socket, sizeof(c->socket_path));
			return -EINVAL;
		}
		strcpy(c->socket_path, a->socket);
	}
	if (a->verbose)
		c->log_level = LOG_DEBUG;
	return 0;
}

/* The control socket: inherited from systemd (twitchd.socket) or our own. */
static int open_socket(struct twitchd *d)
{
	struct group *g = NULL;
	int n, err;

	/* looked up once: not per connection, in the loop (NSS may be slow) */
	if (d->cfg.socket_group[0]) {
		g = getgrnam(d->cfg.socket_group);
		if (g == NULL)
			log_msg(LOG_WARNING, "group '%s' does not exist: only root and twitchd's "
				"own user can connect", d->cfg.socket_group);
	}
	d->sock_pol.has_gid = g != NULL;
	d->sock_pol.gid = g ? g->gr_gid : (gid_t)-1;
	n = sd_listen_fds(1);
	if (n > 1)
		return log_errno(LOG_ERR, EINVAL, "systemd passed %d sockets; expected one", n);
	if (n == 1) {
		if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, NULL, 0) <= 0)
			return log_errno(LOG_ERR, EINVAL, "the inherited socket is not a listening "
					 "AF_UNIX SOCK_SEQPACKET socket");
		d->lfd = SD_LISTEN_FDS_START;
		d->lfd_inherited = true;
		return 0;
	}
	err = control_listen(d->cfg.socket_path, d->cfg.socket_mode, g ? g->gr_gid : (gid_t)-1,
			     &d->lfd);
	if (err == -ENOENT)
		return log_errno(LOG_ERR, err, "control socket %s: its directory does not exist "
				 "(systemd's RuntimeDirectory= makes /run/twitchd; or use --socket)",
				 d->cfg.socket_path);
	if (err == -EADDRINUSE)
		return log_errno(LOG_ERR, err, "control socket %s: another twitchd is running",
				 d->cfg.socket_path);
	if (err < 0)
		return log_errno(LOG_ERR, err, "control socket %s", d->cfg.socket_path);
	return 0;
}

static int setup_uring(struct twitchd *d)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 1024 };
	int err;

	err = io_uring_queue_init_params(256, &d->ring, &p);
	if (err < 0)
		return log_errno(LOG_ERR, err, "io_uring_setup (refused by the "
				 "kernel.io_uring_disabled sysctl, a container's seccomp profile "
				 "or a systemd SystemCallFilter=?)");
	return 0;
}

/*
 * The [daemon] keys read only at start (the socket, the rings' sizes, the
 * state directory, keep_patient) keep their running values on SIGHUP, and
 * a change to them is logged as waiting for a restart, not applied in part.
 */
static void keep_restart_keys(const struct twitchd *d, struct config *c)
{
	const struct config *old = &d->cfg;
	char changed[160] = "";

#define KEEP(differ, name, field) do {						\
		if (differ) {							\
			snprintf(changed + strlen(changed),			\
				 sizeof(changed) - strlen(changed), "%s%s",	\
				 changed[0] ? ", " : "", name);			\
		}								\
		memcpy(&c->field, &old->field, sizeof(c->field));		\
	} while (0)
	/* --socket overrides the file: only the file's own changes count */
	KEEP(!d->socket_from_args && strcmp(c->socket_path, old->socket_path), "socket",
	     socket_path);
	KEEP(c->socket_mode != old->socket_mode, "socket_mode", socket_mode);
	KEEP(strcmp(c->socket_group, old->socket_group), "socket_group", socket_group);
	KEEP(strcmp(c->state_dir, old->state_dir), "state_dir", state_dir);
	KEEP(c->forget_patient != old->forget_patient, "keep_patient", forget_patient);
	KEEP(c->events_slots != old->events_slots, "events_slots", events_slots);
	KEEP(c->samples_seconds != old->samples_seconds, "samples_seconds", samples_seconds);
#undef KEEP
	if (changed[0])
		log_msg(LOG_WARNING, "SIGHUP: [daemon] %s changed: kept as they are until a "
			"restart", changed);
}

static int reload(struct twitchd *d)
{
	struct config_error err;
	struct config c;
	char msg[700];
	size_t i;

	if (!strcmp(d->cfg.path, "built-in")) {
		log_msg(LOG_INFO, "SIGHUP: running on the built-in configuration; nothing to "
			"reload");
		return 0;
	}
	if (config_load(d->cfg.path, &c, &err) < 0) {
		config_strerror(&err, msg, sizeof(msg));
		log_msg(LOG_ERR, "SIGHUP: %s; keeping the running configuration", msg);
		return -EINVAL;
	}
	keep_restart_keys(d, &c);
	if (d->verbose)
		c.log_level = LOG_DEBUG;	/* -v holds until a restart */
	log_set_max_level(c.log_level);
	for (i = 0; i < c.n_devices; i++) {
		size_t j;

		for (j = 0; j < d->n_devs; j++)
			if (!strcmp(d->devs[j].cfg.name, c.dev[i].name))
				break;
		if (j == d->n_devs) {
			log_msg(LOG_WARNING, "SIGHUP: new device '%s' needs a restart",
				c.dev[i].name);
			continue;
		}
		acq_reconfigure(&d->devs[j], &c.dev[i]);
	}
	for (i = 0; i < d->n_devs; i++) {
		size_t j;

		for (j = 0; j < c.n_devices; j++)
			if (!strcmp(d->devs[i].cfg.name, c.dev[j].name))
				break;
		if (j == c.n_devices)
			log_msg(LOG_WARNING, "SIGHUP: device '%s' is no longer in the file; it "
				"runs on until a restart", d->devs[i].cfg.name);
	}
	c.n_devices = d->cfg.n_devices;
	memcpy(c.dev, d->cfg.dev, sizeof(c.dev));
	d->cfg = c;
	loop_publish_status(d, TWITCH_STATUS_CONFIG_RELOADED, TWITCH_DEVICE_NONE, NULL,
			    "configuration reloaded from %s", c.path);
	log_msg(LOG_INFO, "SIGHUP: configuration reloaded from %s", c.path);
	return 0;
}

/* run()'s return when the configuration does not fit a device: exit 2 */
#define RUN_CONFIG_FAULT	1

static int run(struct twitchd *d)
{
	char status[256];
	uint64_t usec;
	sigset_t sigs;
	size_t i;
	int err;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	d->sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sfd < 0)
		return log_errno(LOG_ERR, errno, "signalfd");
	err = publisher_init(&d->pub);
	if (err == 0)
		err = publisher_add_ring(&d->pub, "events", TWITCH_SHM_STREAM_EVENTS, UINT32_MAX,
					 RECORD_EVENT_SLOT_SIZE, d->cfg.events_slots, &d->events);
	if (err < 0)
		return log_errno(LOG_ERR, err, "creating the rings");
	err = setup_uring(d);
	if (err < 0)
		return err;
	err = open_socket(d);
	if (err < 0)
		return err;
	d->start_mono_ns = loop_now_ns();
	loop_publish_status(d, TWITCH_STATUS_DAEMON_START, TWITCH_DEVICE_NONE, NULL,
			    "twitchd %s started (%s)", TWITCHD_VERSION, d->cfg.path);
	d->n_devs = d->cfg.n_devices;
	for (i = 0; i < d->n_devs; i++) {
		acq_init(&d->devs[i], d, &d->cfg.dev[i], (uint16_t)i);
		err = acq_first_open(&d->devs[i]);
		if (err == -EACCES || err == -EPERM) {
			log_msg(LOG_ERR, "%s: permission denied: twitchd's user needs the IIO "
				"devices (the udev rule gives them to user twitchd when they "
				"are added: for one plugged in before the rule was installed, "
				"udevadm trigger --action=add --subsystem-match=iio)",
				d->devs[i].cfg.name);
			return -EACCES;
		}
		if (err == -ENOMEM)
			return err;
		if (err < 0)	/* the profile said what; it is the config's fault */
			return RUN_CONFIG_FAULT;
	}
	loop_start(d);
	publisher_flush(&d->pub);
	if (sd_watchdog_enabled(0, &usec) > 0)
		d->watchdog_period_ns = usec * 1000u / 2;
	snprintf(status, sizeof(status), "STATUS=%zu device(s), control socket %s", d->n_devs,
		 d->lfd_inherited ? "from systemd" : d->cfg.socket_path);
	sd_notify(0, "READY=1");
	sd_notify(0, status);
	log_msg(LOG_INFO, "ready: %zu device(s), control socket %s", d->n_devs,
		d->lfd_inherited ? "from systemd (twitchd.socket)" : d->cfg.socket_path);
	return loop_run(d, reload);
}

/*
 * --analyze, with the filter and detector settings of a device section when
 * -c is given (only then: a recording's analysis must not depend on which
 * machine runs it).
 */
static int analyze_with_config(const struct args *a, struct config *c)
{
	const struct config_device *dev = NULL;
	struct analyze_chain chain;
	struct config_error err;
	char msg[700];
	size_t i;

	if (a->config == NULL)
		return analyze_run(a->analyze, a->subject, NULL, stdout, stderr);
	if (config_load(a->config, c, &err) < 0) {
		config_strerror(&err, msg, sizeof(msg));
		fprintf(stderr, "twitchd --analyze: %s\n", msg);
		return EXIT_USAGE;
	}
	for (i = 0; i < c->n_devices && dev == NULL; i++)
		if (a->device ? !strcmp(c->dev[i].name, a->device) : config_detects(&c->dev[i]))
			dev = &c->dev[i];
	if (dev == NULL || !config_detects(dev)) {
		const char *why;

		if (dev == NULL && a->device)
			why = "no such [device] section";
		else if (dev == NULL)
			why = "no EMG [device] section with detection";
		else if (!config_has_chain(dev))
			why = "--device names an ad5933 section: it has no filter or "
			      "detector settings";
		else
			why = "--device names a section with detect = no: it detects nothing";
		fprintf(stderr, "twitchd --analyze: %s: %s\n", a->config, why);
		return EXIT_USAGE;
	}
	chain.filt = &dev->filt;
	chain.det = &dev->det;
	chain.legs = dev->legs;
	return analyze_run(a->analyze, a->subject, &chain, stdout, stderr);
}

int main(int argc, char **argv)
{
	static struct twitchd d;	/* big: keep it off the stack */
	struct args a;
	sigset_t sigs;
	size_t i;
	int err;

	if (parse_args(argc, argv, &a) < 0)
		return EXIT_USAGE;
	if (a.analyze)	/* a command-line tool: default signal handling */
		return analyze_with_config(&a, &d.cfg);

	/* block first, before libiio or anything else starts a thread */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);	/* libiio 0.24 sends without MSG_NOSIGNAL */

	log_open("twitchd");
	if (load_config(&a, &d.cfg) < 0)
		return EXIT_USAGE;
	d.verbose = a.verbose;
	d.socket_from_args = a.socket != NULL;
	if (a.check_config) {
		printf("%s: %zu device(s), socket %s\n", d.cfg.path, d.cfg.n_devices,
		       d.cfg.socket_path);
		for (i = 0; i < d.cfg.n_devices; i++) {
			char chain[1024];

			printf("  [device %s] %s %s %s rate %u Hz\n", d.cfg.dev[i].name,
			       d.cfg.dev[i].uri, d.cfg.dev[i].profile,
			       d.cfg.dev[i].device[0] ? d.cfg.dev[i].device : "(first match)",
			       d.cfg.dev[i].rate_hz);
			if (d.cfg.dev[i].n_channels)
				printf("    channels (%zu): %s\n", d.cfg.dev[i].n_channels,
				       config_channels_text(&d.cfg.dev[i], chain, sizeof(chain)));
			if (config_detects(&d.cfg.dev[i])) {
				config_chain_describe(&d.cfg.dev[i], chain, sizeof(chain));
				printf("    EMG chain: %s\n", chain);
			} else if (config_has_chain(&d.cfg.dev[i])) {
				printf("    EMG chain: none (detect = no: samples only)\n");
			}
		}
		return EXIT_SUCCESS;
	}
	log_set_max_level(d.cfg.log_level);
	d.lfd = -1;
	d.sfd = -1;
	d.pub = (struct publisher)PUBLISHER_NULL;
	err = run(&d);

	for (i = 0; i < d.n_devs; i++)
		acq_free(&d.devs[i]);
	if (d.ring.ring_fd > 0)
		io_uring_queue_exit(&d.ring);
	if (d.lfd >= 0) {
		close(d.lfd);
		if (!d.lfd_inherited)
			unlink(d.cfg.socket_path);
	}
	publisher_deinit(&d.pub);
	if (d.sfd >= 0)
		close(d.sfd);
	if (err == RUN_CONFIG_FAULT)
		return EXIT_USAGE;	/* systemd does not restart into it */
	return err < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

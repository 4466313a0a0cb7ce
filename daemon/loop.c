// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * loop.c - twitchd's one thread and its one io_uring.
 *
 * Every wait is a completion: device reads (acquire.c), the signalfd, one
 * 100 ms tick (ring heartbeats, device retries, sweep schedule, systemd
 * watchdog), multishot accept on the control socket and one recv per
 * client. After each batch of completions the rings are flushed once,
 * which is when sleeping readers get their (at most one) wake-up.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "control.h"
#include "log.h"
#include "loop.h"
#include "records.h"
#include "sweepcsv.h"
#include "twitchd.h"

#define SHUTDOWN_GRACE_NS 700000000u	/* cancel and drain; SIGTERM must end < 1 s */

uint64_t loop_now_ns(void)
{
	return record_clock_ns(CLOCK_MONOTONIC);
}

/* An SQE; when the queue is full, submit what is there and take one. */
struct io_uring_sqe *loop_sqe(struct twitchd *d)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&d->ring)) == NULL)
		io_uring_submit(&d->ring);
	return sqe;
}

void loop_publish_status(struct twitchd *d, uint32_t state, uint16_t device,
			 const struct acq_dev *a, const char *fmt, ...)
{
	struct twitch_rec_status s;
	va_list ap;

	record_init(&s, TWITCH_REC_STATUS, sizeof(s), device, TWITCH_INDEX_NONE);
	s.state = state;
	if (a) {
		s.index_epoch = a->index_epoch;
		snprintf(s.dev_name, sizeof(s.dev_name), "%s", a->cfg.name);
		if (a->info) {
			s.n_channels = (uint32_t)a->info->n_channels;
			s.rate_hz = (float)a->info->rate_hz;
			snprintf(s.profile, sizeof(s.profile), "%.23s", a->info->profile);
		} else {
			snprintf(s.profile, sizeof(s.profile), "%.23s", a->cfg.profile);
		}
	}
	va_start(ap, fmt);
	vsnprintf(s.text, sizeof(s.text), fmt, ap);
	va_end(ap);
	ring_publish(d->events, &s.hdr);
}

void loop_publish_loss(struct twitchd *d, const struct acq_dev *a, uint32_t reason,
		       uint32_t exact, uint64_t count, uint64_t first_index)
{
	struct twitch_rec_loss l;

	record_init(&l, TWITCH_REC_LOSS, sizeof(l), a->index, first_index);
	l.reason = reason;
	l.exact = exact;
	l.count = count;
	ring_publish(d->events, &l.hdr);
}

static void notify_status(struct twitchd *d)
{
	char line[384], buf[1200];
	size_t i, off = 0;

	for (i = 0; i < d->n_devs && off < sizeof(buf); i++) {
		acq_describe(&d->devs[i], line, sizeof(line));
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "; " : "", line);
	}
	sd_notifyf(0, "STATUS=%s", buf);
}

/* ---------------------------------------------------------------- arming */

static void arm_signal(struct twitchd *d)
{
	struct io_uring_sqe *sqe = loop_sqe(d);

	io_uring_prep_read(sqe, d->sfd, &d->siginfo, sizeof(d->siginfo), 0);
	io_uring_sqe_set_data(sqe, &d->sig_tag);
	d->sig_armed = true;
	d->in_flight++;
}

static void arm_tick(struct twitchd *d)
{
	struct io_uring_sqe *sqe = loop_sqe(d);

	d->tick_ts.tv_sec = (long long)(d->next_tick_ns / 1000000000u);
	d->tick_ts.tv_nsec = (long long)(d->next_tick_ns % 1000000000u);
	io_uring_prep_timeout(sqe, &d->tick_ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data(sqe, &d->tick_tag);
	d->tick_armed = true;
	d->in_flight++;
}

static void arm_accept(struct twitchd *d)
{
	struct io_uring_sqe *sqe = loop_sqe(d);

	io_uring_prep_multishot_accept(sqe, d->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data(sqe, &d->accept_tag);
	d->accept_armed = true;
	d->in_flight++;
}

static void arm_client(struct twitchd *d, struct client *c)
{
	struct io_uring_sqe *sqe = loop_sqe(d);

	/* MSG_TRUNC: a longer command reports its length, and is refused,
	 * instead of being cut to the buffer and run */
	io_uring_prep_recv(sqe, c->fd, c->buf, TWITCH_CTL_MAX_CMD, MSG_TRUNC);
	io_uring_sqe_set_data(sqe, &c->tag);
	c->in_flight = true;
	d->in_flight++;
}

/* ---------------------------------------------------------------- control */

static void client_close(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Reply to @c. A reply that cannot be queued (a client that does not read
 * its replies) ends the connection once the command is done: a client must
 * never be left without the answer it waits for. */
static void client_reply(struct client *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void client_reply(struct client *c, int err, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = control_vreply(c->fd, err, fmt, ap);
	va_end(ap);
	if (r < 0)
		c->reply_lost = true;
}

/* The budget of @uid in the second that holds @now: a slot of its own, or
 * one whose second is over. */
static struct uid_budget *budget_of(struct twitchd *d, uid_t uid, uint64_t now)
{
	struct uid_budget *b, *spare = NULL;
	size_t i;

	for (i = 0; i < TWITCHD_MAX_CLIENTS; i++) {
		b = &d->budgets[i];
		if (b->used && b->uid == uid) {
			if (now - b->window_start_ns > 1000000000u) {
				b->window_start_ns = now;
				b->n_cmds = b->n_marks = 0;
				b->warned = false;
			}
			return b;
		}
		if (!spare && (!b->used || now - b->window_start_ns > 1000000000u))
			spare = b;
	}
	if (spare)	/* always: at most TWITCHD_MAX_CLIENTS uids are connected */
		*spare = (struct uid_budget){ .used = true, .uid = uid, .window_start_ns = now };
	return spare;
}

/*
 * status: "up Ns; DEVICE; DEVICE...", as many whole device lines as one
 * reply holds, then "; N more device(s) (status I)" if some did not fit: a
 * line is never cut (a cut one can read as something else, e.g.
 * "calibrated"). status I: device I's line alone, ENODEV past the last.
 */
static void cmd_status(struct twitchd *d, struct client *c, const char *args)
{
	char line[TWITCH_CTL_MAX_CMD - 8], buf[TWITCH_CTL_MAX_CMD - 8];
	size_t i, off;
	double v;

	if (args[0]) {
		if (config_parse_number(args, 0, 1e9, &v) < 0 || v != floor(v)) {
			client_reply(c, EINVAL, "status [DEVICE]: a device number from 0");
			return;
		}
		if (v >= (double)d->n_devs) {
			client_reply(c, ENODEV, "no device %.0f (%zu configured)", v,
				      d->n_devs);
			return;
		}
		acq_describe(&d->devs[(size_t)v], line, sizeof(line));
		client_reply(c, 0, "%s", line);
		return;
	}
	off = (size_t)snprintf(buf, sizeof(buf), "up %llus",
			       (unsigned long long)((loop_now_ns() - d->start_mono_ns) /
						    1000000000u));
	for (i = 0; i < d->n_devs; i++) {
		size_t len;

		acq_describe(&d->devs[i], line, sizeof(line));
		len = strlen(line);
		/* room for this line and, after it, the note on the rest */
		if (off + 2 + len + (i + 1 < d->n_devs ? 48 : 0) >= sizeof(buf))
			break;
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "; %s", line);
	}
	if (i < d->n_devs)
		snprintf(buf + off, sizeof(buf) - off, "; %zu more device%s (status %zu)",
			 d->n_devs - i, d->n_devs - i == 1 ? "" : "s", i);
	client_reply(c, 0, "%s", buf);
}

/* calibrate OHM | calibration | subject SPEC|none | baseline |
 * temperature C|none: the first bioimpedance device. */
static void cmd_bioz(struct twitchd *d, struct client *c, const struct control_cmd *cmd)
{
	struct acq_dev *a = acq_find_bioz(d);
	struct sweepcsv_err serr;
	struct bioz_subject subj;
	char msg[256];
	double ohm;

	if (a == NULL) {
		client_reply(c, ENODEV, "no bioimpedance device has been opened");
		return;
	}
	if (!strcmp(cmd->verb, "calibration")) {
		/* one plain answer: a client need not parse the status line */
		if (a->bz->n_cal)
			client_reply(c, 0, "%s: calibrated over %zu frequencies",
				      a->cfg.name, a->bz->n_cal);
		else
			client_reply(c, 0, "%s: not calibrated (twitchctl calibrate OHM)",
				      a->cfg.name);
	} else if (!strcmp(cmd->verb, "calibrate") && !strncmp(cmd->args, "rc ", 3)) {
		double rs, rp, c_nf;
		char num[3][32];
		int used = 0;

		/* three decimal numbers and nothing else (sscanf's %lf took hex) */
		if (sscanf(cmd->args + 3, "%31s %31s %31s %n", num[0], num[1], num[2], &used) != 3 ||
		    cmd->args[3 + used] != '\0' ||
		    config_parse_number(num[0], 1, 1e6, &rs) < 0 ||
		    config_parse_number(num[1], 1, 1e6, &rp) < 0 ||
		    config_parse_number(num[2], 0.001, 1e6, &c_nf) < 0) {
			client_reply(c, EINVAL, "calibrate rc RS RP C: a phantom RS + (RP || "
				      "C), RS and RP 1..1000000 ohm, C 0.001..1000000 nF");
			return;
		}
		a->bz->cal_pending_ohm = rs;
		a->bz->cal_pending_rp_ohm = rp;
		a->bz->cal_pending_c_f = c_nf * 1e-9;
		acq_calibrate_soon(a);
		client_reply(c, 0, "%s: the next sweep calibrates against %g ohm + (%g ohm "
			      "|| %g nF) (the phantom must be in place of the electrodes)",
			      a->cfg.name, rs, rp, c_nf);
		log_msg(LOG_NOTICE, "%s: calibration against %g ohm + (%g ohm || %g nF) "
			"requested by uid %u", a->cfg.name, rs, rp, c_nf, c->cred.uid);
	} else if (!strcmp(cmd->verb, "calibrate")) {
		if (config_parse_number(cmd->args, 1, 1e6, &ohm) < 0) {
			client_reply(c, EINVAL, "calibrate OHM: the known resistor, 1..1000000 "
				      "ohm; or calibrate rc RS RP C_NF");
			return;
		}
		a->bz->cal_pending_ohm = ohm;
		a->bz->cal_pending_rp_ohm = a->bz->cal_pending_c_f = 0;
		acq_calibrate_soon(a);
		client_reply(c, 0, "%s: the next sweep calibrates against %g ohm (the "
			      "resistor must be in place of the electrodes)", a->cfg.name, ohm);
		log_msg(LOG_NOTICE, "%s: calibration against %g ohm requested by uid %u",
			a->cfg.name, ohm, c->cred.uid);
	} else if (!strcmp(cmd->verb, "temperature")) {
		double tc;

		if (!strcmp(cmd->args, "none")) {
			a->bz->tissue_temp_c = NAN;
			client_reply(c, 0, "tissue temperature cleared: the resistance index "
				      "is not temperature-compensated");
			log_msg(LOG_NOTICE, "%s: tissue temperature cleared by uid %u",
				a->cfg.name, c->cred.uid);
			return;
		}
		if (config_parse_number(cmd->args, 25.0, 45.0, &tc) < 0) {
			client_reply(c, EINVAL, "temperature C: the tissue (skin or core) "
				      "temperature, 25..45 degC, or none");
			return;
		}
		a->bz->tissue_temp_c = tc;
		a->bz->tissue_temp_t_s = (double)loop_now_ns() / 1e9;
		client_reply(c, 0, "tissue temperature %.1f degC for sweeps in the next "
			      "%.0f min; the resistance index is compensated when its baseline "
			      "had one too (twitchctl baseline)", tc,
			      a->bz->tissue_temp_max_age_s / 60.0);
		log_msg(LOG_NOTICE, "%s: tissue temperature %.1f degC given by uid %u",
			a->cfg.name, tc, c->cred.uid);
	} else if (!strcmp(cmd->verb, "subject") && !strcmp(cmd->args, "none")) {
		a->bz->has_subject = false;
		a->bz->subject_t_real_ns = 0;
		acq_save_patient_soon(a);
		client_reply(c, 0, "subject cleared: measurement-level estimates only");
		log_msg(LOG_NOTICE, "%s: subject data cleared by uid %u", a->cfg.name,
			c->cred.uid);
	} else if (!strcmp(cmd->verb, "subject")) {
		if (sweepcsv_subject_parse("subject", cmd->args, &subj, &serr) < 0) {
			sweepcsv_strerror(&serr, msg, sizeof(msg));
			client_reply(c, EINVAL, "%s", msg);
			return;
		}
		a->bz->subject = subj;
		a->bz->has_subject = true;
		a->bz->subject_t_real_ns = record_clock_ns(CLOCK_REALTIME);
		acq_save_patient_soon(a);
		client_reply(c, 0, "subject set: body-water estimates from the next sweep");
		log_msg(LOG_NOTICE, "%s: subject data set by uid %u", a->cfg.name, c->cred.uid);
	} else {
		bioz_ri_rebaseline(&a->bz->ri, a->bz->ri.cfg.baseline_n);
		a->bz->baseline_t_real_ns = 0;
		acq_save_patient_soon(a);	/* a restart must not bring the old one back */
		client_reply(c, 0, "a new baseline of the resistance index from the next "
			      "%u trusted sweeps", a->bz->ri.cfg.baseline_n);
		log_msg(LOG_NOTICE, "%s: new baseline requested by uid %u", a->cfg.name,
			c->cred.uid);
	}
}

/* @b: the budget of @c's uid this second (NULL: none to be had) */
static void handle_command(struct twitchd *d, struct client *c, struct uid_budget *b,
			   size_t len)
{
	struct control_cmd cmd;
	int err;

	err = control_parse(c->buf, len, &cmd);
	if (err == -EMSGSIZE) {
		client_reply(c, EMSGSIZE, "a command is at most %u bytes", TWITCH_CTL_MAX_CMD);
		return;
	}
	if (err < 0) {
		client_reply(c, -err, "malformed command (one line of UTF-8 text: no control "
			     "characters but tabs)");
		return;
	}
	if ((!strcmp(cmd.verb, "ping") || !strcmp(cmd.verb, "baseline") ||
	     !strcmp(cmd.verb, "calibration")) && cmd.args[0]) {
		/* a command that changes something must not guess at the rest */
		client_reply(c, EINVAL, "%s takes no arguments", cmd.verb);
		return;
	}
	if (!strcmp(cmd.verb, "ping")) {
		client_reply(c, 0, "pong");
	} else if (!strcmp(cmd.verb, "mark")) {
		struct twitch_rec_marker m;
		size_t n = strlen(cmd.args);

		if (b && ++b->n_marks > TWITCHD_MAX_MARKS) {
			client_reply(c, EBUSY, "at most %u markers a second per user",
				     TWITCHD_MAX_MARKS);
			return;
		}
		if (n == 0 || n >= sizeof(m.text)) {
			client_reply(c, EINVAL, "a marker needs 1..%zu bytes of text",
				      sizeof(m.text) - 1);
			return;
		}
		record_init(&m, TWITCH_REC_MARKER, sizeof(m), TWITCH_DEVICE_NONE,
			    TWITCH_INDEX_NONE);
		memcpy(m.text, cmd.args, n);
		m.len = (uint32_t)n;
		m.client_pid = (uint32_t)c->cred.pid;
		m.client_uid = c->cred.uid;
		ring_publish(d->events, &m.hdr);
		client_reply(c, 0, "%llu", (unsigned long long)m.hdr.seqno);
		log_msg(LOG_INFO, "marker from uid %u: %s", c->cred.uid, m.text);
	} else if (!strcmp(cmd.verb, "status")) {
		cmd_status(d, c, cmd.args);
	} else if (!strcmp(cmd.verb, "calibrate") || !strcmp(cmd.verb, "calibration") ||
		   !strcmp(cmd.verb, "subject") ||
		   !strcmp(cmd.verb, "baseline") || !strcmp(cmd.verb, "temperature")) {
		cmd_bioz(d, c, &cmd);
	} else {
		client_reply(c, EOPNOTSUPP, "unknown command '%s' (try ping, mark, status, "
			      "calibrate, calibration, subject, baseline, temperature)", cmd.verb);
	}
}

static void on_client(struct twitchd *d, struct client *c, int res)
{
	struct uid_budget *b;
	uint64_t now;

	c->in_flight = false;
	d->in_flight--;
	if (c->fd < 0)
		return;
	if (res <= 0 || d->stopping) {
		client_close(c);	/* EOF, error or shutdown */
		return;
	}
	now = loop_now_ns();
	b = budget_of(d, c->cred.uid, now);
	if (b && ++b->n_cmds > TWITCH_CTL_MAX_CMD_RATE) {
		if (!b->warned)		/* once a second, however many reconnect */
			log_msg(LOG_WARNING, "uid %u sends over %u commands/s; disconnecting "
				"(pid %d)", c->cred.uid, TWITCH_CTL_MAX_CMD_RATE, c->cred.pid);
		b->warned = true;
		control_reply(c->fd, EBUSY, "over %u commands a second from uid %u",
			      TWITCH_CTL_MAX_CMD_RATE, c->cred.uid);
		client_close(c);
		return;
	}
	handle_command(d, c, b, (size_t)res);
	if (c->reply_lost) {
		log_msg(LOG_NOTICE, "client pid %d does not read its replies; disconnecting",
			c->cred.pid);
		client_close(c);
		return;
	}
	arm_client(d, c);
}

static void on_accept(struct twitchd *d, int res, unsigned int flags)
{
	struct client *c = NULL;
	size_t i, n_uid = 0, n_used = 0;
	int err;

	if (!(flags & IORING_CQE_F_MORE)) {
		d->accept_armed = false;
		d->in_flight--;
		if (!d->stopping)
			arm_accept(d);	/* a multishot ended: re-arm */
	}
	if (res < 0) {
		if (res != -ECANCELED)
			log_errno(LOG_WARNING, res, "accept on the control socket");
		return;
	}
	for (i = 0; i < TWITCHD_MAX_CLIENTS; i++)
		if (d->clients[i].fd < 0 && !d->clients[i].in_flight) {
			c = &d->clients[i];
			break;
		}
	if (c == NULL) {
		control_reply(res, EBUSY, "too many clients (%d)", TWITCHD_MAX_CLIENTS);
		close(res);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->tag.op = OP_CLIENT;
	c->fd = res;
	err = control_peer_check(c->fd, &d->sock_pol, &c->cred);
	if (err < 0) {
		client_reply(c, -err, "refused: uid %u is not root, twitchd's user or in "
			      "group '%s'", c->cred.uid, d->cfg.socket_group);
		log_msg(LOG_NOTICE, "refused control client pid %d uid %u: not in group %s",
			c->cred.pid, c->cred.uid, d->cfg.socket_group);
		client_close(c);
		return;
	}
	/* no user takes every connection: a cap per uid, and a few for root */
	for (i = 0; i < TWITCHD_MAX_CLIENTS; i++) {
		if (&d->clients[i] == c || d->clients[i].fd < 0)
			continue;
		n_used++;
		n_uid += d->clients[i].cred.uid == c->cred.uid;
	}
	if (n_uid >= TWITCHD_MAX_CLIENTS_PER_UID ||
	    (c->cred.uid != 0 && n_used >= TWITCHD_MAX_CLIENTS - TWITCHD_ROOT_CLIENTS)) {
		control_reply(c->fd, EBUSY, "too many clients (%zu of uid %u, %zu in all)",
			      n_uid, c->cred.uid, n_used);
		client_close(c);
		return;
	}
	publisher_flush(&d->pub);
	err = control_send_welcome(c->fd, &d->pub);
	if (err < 0) {
		log_errno(LOG_WARNING, err, "sending rings to pid %d", c->cred.pid);
		client_close(c);
		return;
	}
	arm_client(d, c);
}

/* ---------------------------------------------------------------- signals, tick */

static void on_signal(struct twitchd *d, int res)
{
	d->sig_armed = false;
	d->in_flight--;
	if (res != (int)sizeof(d->siginfo)) {
		if (res != -ECANCELED)
			log_errno(LOG_ERR, res < 0 ? res : -EIO, "reading the signalfd");
		if (!d->stopping)
			arm_signal(d);
		return;
	}
	switch (d->siginfo.ssi_signo) {
	case SIGTERM:
	case SIGINT:
		log_msg(LOG_INFO, "%s: stopping", strsignal((int)d->siginfo.ssi_signo));
		d->stopping = true;
		return;
	case SIGHUP:
		d->reload = true;
		break;
	}
	arm_signal(d);
}

static void on_tick(struct twitchd *d, int res)
{
	uint64_t now = loop_now_ns();
	size_t i;

	d->tick_armed = false;
	d->in_flight--;
	if (res == -ECANCELED)
		return;
	/* periodic: prev + period, so the tick does not drift */
	d->next_tick_ns += TWITCHD_TICK_NS;
	if (d->next_tick_ns <= now)
		d->next_tick_ns = now + TWITCHD_TICK_NS;
	publisher_heartbeat(&d->pub, now);
	for (i = 0; i < d->n_devs; i++)
		acq_on_tick(&d->devs[i], now);
	if (d->watchdog_period_ns && now >= d->next_watchdog_ns) {
		sd_notify(0, "WATCHDOG=1");
		d->next_watchdog_ns += d->watchdog_period_ns;
		if (d->next_watchdog_ns <= now)
			d->next_watchdog_ns = now + d->watchdog_period_ns;
		notify_status(d);
	}
	if (!d->stopping)
		arm_tick(d);
}

static void dispatch(struct twitchd *d, struct io_uring_cqe *cqe)
{
	struct op_tag *t = io_uring_cqe_get_data(cqe);

	switch (t->op) {
	case OP_SIGNAL:
		on_signal(d, cqe->res);
		break;
	case OP_TICK:
		on_tick(d, cqe->res == -ETIME ? 0 : cqe->res);
		break;
	case OP_ACCEPT:
		on_accept(d, cqe->res, cqe->flags);
		break;
	case OP_CLIENT:
		on_client(d, (struct client *)t, cqe->res);
		break;
	case OP_DEV_POLL:
		d->in_flight--;
		acq_on_cqe((struct acq_dev *)((char *)t - offsetof(struct acq_dev, poll_tag)),
			   t->op, cqe->res);
		break;
	case OP_DEV_READ:
		d->in_flight--;
		acq_on_cqe((struct acq_dev *)((char *)t - offsetof(struct acq_dev, read_tag)),
			   t->op, cqe->res);
		break;
	case OP_CANCEL:
		d->in_flight--;
		break;
	}
}

/* Wait for completions and handle them in one batch. Return 0 or -errno. */
static int loop_once(struct twitchd *d, uint64_t timeout_ns)
{
	struct __kernel_timespec ts = { .tv_sec = (long long)(timeout_ns / 1000000000u),
					.tv_nsec = (long long)(timeout_ns % 1000000000u) };
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	int err;

	err = io_uring_submit_and_wait_timeout(&d->ring, &cqe, 1, timeout_ns ? &ts : NULL, NULL);
	if (err < 0 && err != -EINTR && err != -ETIME)
		return err;
	io_uring_for_each_cqe(&d->ring, head, cqe) {
		dispatch(d, cqe);
		n++;
	}
	io_uring_cq_advance(&d->ring, n);
	/* one flush per batch: at most one FUTEX_WAKE per ring */
	publisher_flush(&d->pub);
	return 0;
}

static void cancel_everything(struct twitchd *d)
{
	struct io_uring_sqe *sqe = loop_sqe(d);

	io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data(sqe, &d->cancel_tag);
	d->in_flight++;
}

int loop_start(struct twitchd *d)
{
	size_t i;

	d->sig_tag.op = OP_SIGNAL;
	d->tick_tag.op = OP_TICK;
	d->accept_tag.op = OP_ACCEPT;
	d->cancel_tag.op = OP_CANCEL;
	for (i = 0; i < TWITCHD_MAX_CLIENTS; i++)
		d->clients[i].fd = -1;
	d->next_tick_ns = loop_now_ns() + TWITCHD_TICK_NS;
	d->next_watchdog_ns = loop_now_ns();
	arm_signal(d);
	arm_tick(d);
	arm_accept(d);
	return 0;
}

int loop_run(struct twitchd *d, int (*reload)(struct twitchd *d))
{
	uint64_t deadline;
	size_t i;
	int err;

	while (!d->stopping) {
		err = loop_once(d, 0);
		if (err < 0)
			return log_errno(LOG_ERR, err, "io_uring wait");
		if (d->reload) {
			d->reload = false;
			reload(d);
		}
	}
	/* stop: cancel everything, let the CQEs in, then drain the devices */
	sd_notify(0, "STOPPING=1");
	cancel_everything(d);
	deadline = loop_now_ns() + SHUTDOWN_GRACE_NS;
	while (d->in_flight > 0 && loop_now_ns() < deadline)
		if (loop_once(d, 50000000u) < 0)
			break;
	if (d->in_flight > 0) {
		log_msg(LOG_WARNING, "%u requests still in flight at exit", d->in_flight);
		for (i = 0; i < d->n_devs; i++)
			log_msg(LOG_DEBUG, "%s: %u in flight, state %d", d->devs[i].cfg.name,
				d->devs[i].in_flight, d->devs[i].state);
		log_msg(LOG_DEBUG, "signal %d tick %d accept %d", d->sig_armed, d->tick_armed,
			d->accept_armed);
	}
	for (i = 0; i < d->n_devs; i++)
		acq_drain_and_stop(&d->devs[i]);
	loop_publish_status(d, TWITCH_STATUS_DAEMON_STOP, TWITCH_DEVICE_NONE, NULL,
			    "twitchd stopping");
	publisher_flush(&d->pub);
	publisher_close(&d->pub);
	for (i = 0; i < TWITCHD_MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0)
			client_close(&d->clients[i]);
	return 0;
}

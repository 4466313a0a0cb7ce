// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * testpub.c - the stand-in producer (see testpub.h). Test code: it waits
 * with poll(2); twitchd itself waits only on io_uring.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "publish.h"
#include "records.h"
#include "testpub.h"

#define MAX_CLIENTS 64

struct testpub {
	struct publisher pub;
	struct ring *events;
	struct ring *test;
	bool stalled;
};

static void publish_n(struct testpub *t, const char *stream, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (strcmp(stream, "test") == 0) {
			struct twitch_rec_test r;

			record_init(&r, TWITCH_REC_TEST, sizeof(r), TWITCH_DEVICE_NONE,
				    TWITCH_INDEX_NONE);
			r.intended_ns = r.hdr.t_mono_ns;
			r.check = testpub_check(t->test->head);
			ring_publish(t->test, &r.hdr);
		} else {
			struct twitch_rec_twitch e;

			record_init(&e, TWITCH_REC_TWITCH, sizeof(e), 0, t->events->head * 100);
			e.channel = (uint32_t)(t->events->head % 8);
			e.channel_mask = UINT64_C(1) << e.channel;
			e.twitch_class = TWITCH_CLASS_FASCICULATION;
			e.duration_ms = 10.0f;
			e.peak_uv = 100.0f + (float)(t->events->head % 50);
			e.rate_hz = 4000.0f;
			ring_publish(t->events, &e.hdr);
		}
	}
	publisher_flush(&t->pub);
}

/* Return 1 to exit the loop. */
static int handle(struct testpub *t, int fd, struct ucred *cred)
{
	char buf[TWITCH_CTL_MAX_CMD + 1], stream[16];
	struct control_cmd cmd;
	unsigned long n;
	ssize_t len;

	len = recv(fd, buf, TWITCH_CTL_MAX_CMD, MSG_DONTWAIT);
	if (len <= 0)
		return len == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
	if (control_parse(buf, (size_t)len, &cmd) < 0) {
		control_reply(fd, EINVAL, "bad command");
		return 0;
	}
	if (strcmp(cmd.verb, "ping") == 0) {
		control_reply(fd, 0, "pong");
	} else if (strcmp(cmd.verb, "pub") == 0 &&
		   sscanf(cmd.args, "%15s %lu", stream, &n) == 2) {
		publish_n(t, stream, n);
		control_reply(fd, 0, "%llu", (unsigned long long)
			      (strcmp(stream, "test") ? t->events->head : t->test->head));
	} else if (strcmp(cmd.verb, "mark") == 0) {
		struct twitch_rec_marker m;

		record_init(&m, TWITCH_REC_MARKER, sizeof(m), TWITCH_DEVICE_NONE,
			    TWITCH_INDEX_NONE);
		snprintf(m.text, sizeof(m.text), "%s", cmd.args);
		m.len = (uint32_t)strlen(m.text);
		m.client_pid = (uint32_t)cred->pid;
		m.client_uid = cred->uid;
		ring_publish(t->events, &m.hdr);
		publisher_flush(&t->pub);
		control_reply(fd, 0, "%llu", (unsigned long long)m.hdr.seqno);
	} else if (strcmp(cmd.verb, "status") == 0 &&
		   sscanf(cmd.args, "%15s %lu", stream, &n) == 2) {
		/* status DEVICE STATE: a device's status record ("-": none) */
		struct twitch_rec_status st;

		record_init(&st, TWITCH_REC_STATUS, sizeof(st), TWITCH_DEVICE_NONE,
			    TWITCH_INDEX_NONE);
		st.state = (uint32_t)n;
		if (strcmp(stream, "-"))
			snprintf(st.dev_name, sizeof(st.dev_name), "%s", stream);
		snprintf(st.text, sizeof(st.text), "%s state %lu", stream, n);
		ring_publish(t->events, &st.hdr);
		publisher_flush(&t->pub);
		control_reply(fd, 0, "%llu", (unsigned long long)st.hdr.seqno);
	} else if (strcmp(cmd.verb, "drop") == 0) {
		/* as twitchd cuts off a client over its budget: reply, close */
		control_reply(fd, EBUSY, "dropped");
		return -1;
	} else if (strcmp(cmd.verb, "sleep") == 0 && sscanf(cmd.args, "%lu", &n) == 1) {
		struct timespec ts = { .tv_sec = (time_t)(n / 1000),
				       .tv_nsec = (long)(n % 1000) * 1000000L };

		nanosleep(&ts, NULL);	/* a daemon too busy to answer */
		control_reply(fd, 0, "slept");
	} else if (strcmp(cmd.verb, "abi") == 0 && sscanf(cmd.args, "%lu", &n) == 1) {
		/* a daemon of another ring ABI: its events ring says so */
		t->events->hdr->abi_major = (uint16_t)n;
		control_reply(fd, 0, "abi %lu", n);
	} else if (strcmp(cmd.verb, "ring") == 0 && sscanf(cmd.args, "%15s", stream) == 1) {
		/* a stream made after clients connected, as a device's samples */
		struct ring *extra;
		int err = publisher_add_ring(&t->pub, stream, TWITCH_SHM_STREAM_TEST, UINT32_MAX,
					     64, 1024, &extra);

		control_reply(fd, err < 0 ? -err : 0, "ring %s", stream);
	} else if (strcmp(cmd.verb, "stall") == 0) {
		t->stalled = true;
		control_reply(fd, 0, "stalled");
	} else if (strcmp(cmd.verb, "close") == 0) {
		control_reply(fd, 0, "closing");
		return 1;
	} else {
		control_reply(fd, EOPNOTSUPP, "unknown command '%s'", cmd.verb);
	}
	return 0;
}

int testpub_main(const struct testpub_opts *o)
{
	struct control_policy pol = { .gid = o->policy_gid, .has_gid = o->has_policy_gid };
	struct pollfd pfd[MAX_CLIENTS + 1];
	struct ucred creds[MAX_CLIENTS + 1];
	struct testpub t = { .pub = PUBLISHER_NULL };
	nfds_t n_fds = 1, i;
	int lfd, err, stop = 0;

	signal(SIGPIPE, SIG_IGN);
	err = publisher_init(&t.pub);
	if (err == 0)
		err = publisher_add_ring(&t.pub, "events", TWITCH_SHM_STREAM_EVENTS, UINT32_MAX,
					 RECORD_EVENT_SLOT_SIZE,
					 o->events_slots ? o->events_slots : 4096, &t.events);
	if (err == 0)
		err = publisher_add_ring(&t.pub, "test", TWITCH_SHM_STREAM_TEST, UINT32_MAX,
					 o->test_slot_size ? o->test_slot_size : 64,
					 o->test_slots ? o->test_slots : 65536, &t.test);
	if (err == 0)
		err = control_listen(o->sock_path, o->sock_mode, o->sock_gid, &lfd);
	if (err < 0) {
		fprintf(stderr, "testpub: setup: %s\n", strerror(-err));
		return 1;
	}
	pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	while (!stop) {
		if (poll(pfd, n_fds, TWITCH_SHM_HEARTBEAT_MS) < 0 && errno != EINTR)
			break;
		if (!t.stalled)
			publisher_heartbeat(&t.pub, record_clock_ns(CLOCK_MONOTONIC));
		for (i = 1; i < n_fds; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			err = handle(&t, pfd[i].fd, &creds[i]);
			if (err > 0) {
				stop = 1;
				break;
			}
			if (err < 0) {
				close(pfd[i].fd);
				pfd[i] = pfd[n_fds - 1];
				creds[i] = creds[n_fds - 1];
				n_fds--;
				i--;
			}
		}
		if (pfd[0].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (cfd < 0)
				continue;
			err = control_peer_check(cfd, &pol, &creds[n_fds]);
			if (err < 0) {
				control_reply(cfd, -err, "refused: not in the twitchd group");
				close(cfd);
			} else if (n_fds > MAX_CLIENTS || control_send_welcome(cfd, &t.pub) < 0) {
				close(cfd);
			} else {
				pfd[n_fds++] = (struct pollfd){ .fd = cfd, .events = POLLIN };
			}
		}
	}
	publisher_close(&t.pub);
	for (i = 1; i < n_fds; i++)
		close(pfd[i].fd);
	close(lfd);
	unlink(o->sock_path);
	publisher_deinit(&t.pub);
	return 0;
}

pid_t testpub_spawn(const struct testpub_opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t pid;
	int i;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", o->sock_path);
	unlink(o->sock_path);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* a test that fails an assertion must not leave its producer behind */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		_exit(testpub_main(o));
	}
	/* wait until it accepts: at most 5 s */
	for (i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10000000 };
		int fd;

		if (access(o->sock_path, F_OK) == 0) {
			fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
			if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				close(fd);
				return pid;
			}
			if (fd >= 0)
				close(fd);
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -ECHILD;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -ETIMEDOUT;
}

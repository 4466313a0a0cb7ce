// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libtwitch.c - connect to twitchd, map its rings read-only, read records.
 *
 * The client owns the control socket and the received memfds; each reader
 * maps its stream itself, so a reader can drain the old ring of a daemon
 * that went away while the client already talks to the new one. Readers
 * never write the rings: the only shared memory they write is their
 * sleepers count on the wake page, and only around a futex wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control-proto.h"
#include "records.h"
#include "ring.h"
#include "twitch.h"

#define IO_TIMEOUT_MS		2000	/* connect handshake and command replies */
#define RECONNECT_PERIOD_NS	200000000u	/* between reconnect attempts */
#define SPIN_PAUSES		64	/* a microsecond or so of pure spinning */
#define SPIN_YIELDS		128	/* then yield the CPU: readers may outnumber cores */
#define SLEEP_CAP_NS		100000000u	/* one FUTEX_WAIT never exceeds this */
#define STALE_PERIODS		10u	/* heartbeats missed before "stalled" */
#define LIVENESS_PERIOD_NS	100000000u	/* polling readers check the daemon */

struct twitch_client {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int sock;			/* -1 while disconnected */
	uint64_t generation;		/* bumps on every successful (re)connect */
	uint64_t last_try_ns;		/* last reconnect attempt, CLOCK_MONOTONIC */
	uint8_t epoch[16];
	uint32_t n_streams;
	struct twitch_ctl_stream info[TWITCH_CTL_MAX_STREAMS];
	int fd[TWITCH_CTL_MAX_STREAMS];
	int wake_fd;
	unsigned int n_readers;
	unsigned int late_replies;	/* of commands that timed out, still to come */
};

struct twitch_reader {
	struct twitch_client *c;
	char name[24];
	uint64_t generation;		/* client generation of the mapping below */
	void *map;
	size_t map_size;
	struct ring ring;
	struct twitch_wake_page *wake_page; /* own RW mapping, NULL if unavailable */
	struct twitch_wake_line *wake;	/* this ring's line in wake_page */
	uint64_t pos;
	uint64_t lost;
	bool gone;			/* daemon gone reported, waiting to reconnect */
	bool stalled;			/* stalled reported */
	int map_err;			/* the new daemon's ring could not be mapped */
	bool map_err_new;		/* ... and the caller was not told yet */
	uint64_t map_fail_ns;		/* when, CLOCK_MONOTONIC */
	uint64_t map_fail_gen;		/* with the welcome of this client generation */
	uint64_t last_check_ns;		/* last liveness check of a polling reader */
	unsigned int n_pending;		/* local records queued for delivery */
	/*
	 * Three: one reader_follow_restart() may queue "gone", "restarted" and
	 * the loss of what the new daemon overwrote before we came back, all
	 * at once (a reader that looks again only after the new ring wrapped).
	 */
	union {
		struct twitch_rec_loss loss;
		struct twitch_rec_status status;
	} pending[3];
};

static uint64_t now_ns(void)
{
	return record_clock_ns(CLOCK_MONOTONIC);
}

static void close_fds(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void client_drop(struct twitch_client *c)
{
	uint32_t i;

	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	c->late_replies = 0;	/* a new connection owes us nothing */
	for (i = 0; i < TWITCH_CTL_MAX_STREAMS; i++) {
		if (c->fd[i] >= 0)
			close(c->fd[i]);
		c->fd[i] = -1;
	}
	c->n_streams = 0;
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	c->wake_fd = -1;
}

/* Wait for @events on @fd, at most @timeout_ms. Return 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

/* Parse "ERR <errno> text": the daemon's refusal. Return -errno, or -EPROTO. */
static int parse_err(const char *msg, size_t len)
{
	char tmp[64], *end;
	unsigned long v;

	if (len < 5 || memcmp(msg, "ERR ", 4) != 0)
		return -EPROTO;
	len = len < sizeof(tmp) - 1 ? len : sizeof(tmp) - 1;
	memcpy(tmp, msg, len);
	tmp[len] = '\0';
	errno = 0;
	v = strtoul(tmp + 4, &end, 10);
	if (errno || end == tmp + 4 || v == 0 || v > 4095)
		return -EPROTO;
	return -(int)v;
}

static int receive_welcome(struct twitch_client *c)
{
	struct twitch_ctl_welcome w;
	union {
		char buf[CMSG_SPACE(sizeof(int) * (TWITCH_CTL_MAX_STREAMS + 1))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { .iov_base = &w, .iov_len = sizeof(w) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
	};
	int fds[TWITCH_CTL_MAX_STREAMS + 1];
	size_t n_fds = 0, i;
	struct cmsghdr *cmsg;
	ssize_t n;
	int err;

	err = wait_fd(c->sock, POLLIN, IO_TIMEOUT_MS);
	if (err < 0)
		return err;
	memset(&w, 0, sizeof(w));
	do {
		n = recvmsg(c->sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		size_t k;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			if (n_fds < TWITCH_CTL_MAX_STREAMS + 1)
				fds[n_fds++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0) {
		err = -ECONNRESET;
		goto fail;
	}
	if ((size_t)n < offsetof(struct twitch_ctl_welcome, stream) ||
	    w.magic != TWITCH_CTL_MAGIC) {
		err = parse_err((const char *)&w, (size_t)n);
		goto fail;
	}
	if (w.abi_major != TWITCH_CTL_ABI_MAJOR) {
		err = -EPROTONOSUPPORT;
		goto fail;
	}
	if ((mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || w.n_streams > TWITCH_CTL_MAX_STREAMS ||
	    (size_t)n < offsetof(struct twitch_ctl_welcome, stream) +
			w.n_streams * sizeof(w.stream[0]) ||
	    n_fds != w.n_streams + 1) {
		err = -EPROTO;
		goto fail;
	}
	for (i = 0; i < w.n_streams; i++) {
		struct twitch_ctl_stream *s = &w.stream[i];

		if (memchr(s->name, '\0', sizeof(s->name)) == NULL ||
		    s->wake_index >= TWITCH_WAKE_MAX_RINGS) {
			err = -EPROTO;
			goto fail;
		}
	}

	c->wake_fd = fds[w.n_streams];
	for (i = 0; i < w.n_streams; i++) {
		c->info[i] = w.stream[i];
		c->fd[i] = fds[i];
	}
	c->n_streams = w.n_streams;
	memcpy(c->epoch, w.epoch, sizeof(c->epoch));
	c->generation++;
	return 0;
fail:
	close_fds(fds, n_fds);
	return err;
}

static int client_connect(struct twitch_client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0)
		return -errno;
	memcpy(sa.sun_path, c->path, sizeof(sa.sun_path));
	if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto fail;
	}
	err = receive_welcome(c);
	if (err < 0)
		goto fail;
	return 0;
fail:
	client_drop(c);
	return err;
}

TWITCH_API int twitch_client_connect(const char *path, struct twitch_client **ret)
{
	struct twitch_client *c;
	unsigned int i;
	int err;

	if (ret == NULL)
		return -EINVAL;
	if (path == NULL)
		path = secure_getenv("TWITCH_SOCKET");
	if (path == NULL || *path == '\0')
		path = TWITCH_SOCKET_DEFAULT;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	if (strlen(path) >= sizeof(c->path)) {
		free(c);
		return -ENAMETOOLONG;
	}
	strcpy(c->path, path);
	c->sock = -1;
	c->wake_fd = -1;
	for (i = 0; i < TWITCH_CTL_MAX_STREAMS; i++)
		c->fd[i] = -1;
	err = client_connect(c);
	if (err < 0) {
		free(c);
		return err;
	}
	*ret = c;
	return 0;
}

TWITCH_API int twitch_connect_strerror(int err, const char *path, char *buf, size_t size)
{
	if (path == NULL)
		path = secure_getenv("TWITCH_SOCKET");
	if (path == NULL || *path == '\0')
		path = TWITCH_SOCKET_DEFAULT;
	if (err == -ENOENT || err == -ECONNREFUSED) {
		snprintf(buf, size, "twitchd is not running (no one listens on %s)", path);
		return TWITCH_EXIT_NODAEMON;
	}
	if (err == -EACCES || err == -EPERM) {
		snprintf(buf, size, "permission denied by twitchd: your user must be in the "
			 "twitchd group (then log in again)");
		return TWITCH_EXIT_PERM;
	}
	if (err == -EBUSY) {
		snprintf(buf, size, "twitchd serves too many clients now (at most 16 per user): "
			 "close some (twitchctl tail, twitch-top, ...) and try again");
		return 1;
	}
	snprintf(buf, size, "cannot talk to twitchd: %s", strerror(err < 0 ? -err : err));
	return 1;
}

TWITCH_API struct twitch_client *twitch_client_free(struct twitch_client *c)
{
	if (c == NULL)
		return NULL;
	client_drop(c);
	free(c);
	return NULL;
}

TWITCH_API int twitch_client_n_streams(const struct twitch_client *c)
{
	return c ? (int)c->n_streams : -EINVAL;
}

TWITCH_API int twitch_client_stream_info(const struct twitch_client *c, unsigned int i,
					 struct twitch_stream_info *ret)
{
	if (c == NULL || ret == NULL)
		return -EINVAL;
	if (i >= c->n_streams)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->name, c->info[i].name, sizeof(ret->name));
	ret->type = c->info[i].type;
	ret->device = c->info[i].device;
	ret->slot_size = c->info[i].slot_size;
	ret->n_slots = c->info[i].n_slots;
	ret->max_record = c->info[i].max_record;
	return 0;
}

TWITCH_API int twitch_client_epoch(const struct twitch_client *c, char buf[33])
{
	unsigned int i;

	if (c == NULL || buf == NULL)
		return -EINVAL;
	for (i = 0; i < 16; i++)
		snprintf(buf + 2 * i, 3, "%02x", c->epoch[i]);
	return 0;
}

TWITCH_API int twitch_client_command(struct twitch_client *c, const char *cmd,
				     char *reply, size_t reply_size)
{
	char buf[TWITCH_CTL_MAX_CMD + 1];
	size_t len;
	ssize_t n;
	int err;

	if (c == NULL || cmd == NULL)
		return -EINVAL;
	len = strlen(cmd);
	if (len == 0 || len > TWITCH_CTL_MAX_CMD - 32 || memchr(cmd, '\n', len))
		return -EINVAL;
	if (c->sock < 0)
		return -ENOTCONN;
	/* replies come in order, one per command: the late answers of
	 * commands that timed out are not the answer to this one */
	while (c->late_replies) {
		err = wait_fd(c->sock, POLLIN, IO_TIMEOUT_MS);
		if (err < 0)
			return err;
		do {
			n = recv(c->sock, buf, sizeof(buf) - 1, 0);
		} while (n < 0 && errno == EINTR);
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		c->late_replies--;
	}
	do {
		n = send(c->sock, cmd, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	err = wait_fd(c->sock, POLLIN, IO_TIMEOUT_MS);
	if (err < 0) {
		c->late_replies++;
		return err;
	}
	do {
		n = recv(c->sock, buf, sizeof(buf) - 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	buf[n] = '\0';
	if (n >= 2 && memcmp(buf, "OK", 2) == 0 && (n == 2 || buf[2] == ' ')) {
		if (reply && reply_size)
			snprintf(reply, reply_size, "%s", buf[2] == ' ' ? buf + 3 : buf + 2);
		return 0;
	}
	err = parse_err(buf, (size_t)n);
	if (err == -EPROTO)
		return -EPROTO;
	if (reply && reply_size) {
		const char *text = strchr(buf + 4, ' ');

		snprintf(reply, reply_size, "%s", text ? text + 1 : "");
	}
	return -err;
}

/* ---------------------------------------------------------------- readers */

static void reader_unmap(struct twitch_reader *r)
{
	if (r->map)
		munmap(r->map, r->map_size);
	if (r->wake_page)
		munmap(r->wake_page, TWITCH_WAKE_SIZE);
	r->map = NULL;
	r->wake_page = NULL;
	r->wake = NULL;
}

/*
 * Map the wake page read-write. Each reader has its own mapping so that a
 * reader still draining the ring of a daemon that went away keeps a valid
 * page while its client already talks to the new daemon. Without the page
 * readers still work, with capped sleeps.
 */
static void reader_map_wake(struct twitch_reader *r, uint32_t line)
{
	struct stat st;
	void *p;

	if (r->c->wake_fd < 0 || fstat(r->c->wake_fd, &st) < 0 ||
	    st.st_size < (off_t)TWITCH_WAKE_SIZE)
		return;
	p = mmap(NULL, TWITCH_WAKE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, r->c->wake_fd, 0);
	if (p == MAP_FAILED)
		return;
	r->wake_page = p;
	if (r->wake_page->magic != TWITCH_WAKE_MAGIC) {
		munmap(p, TWITCH_WAKE_SIZE);
		r->wake_page = NULL;
		return;
	}
	r->wake = &r->wake_page->line[line];
}

/* Map stream @r->name of the client's current generation. */
static int reader_map(struct twitch_reader *r)
{
	struct twitch_client *c = r->c;
	struct stat st;
	uint32_t i;
	void *p;
	int err;

	for (i = 0; i < c->n_streams; i++)
		if (strcmp(c->info[i].name, r->name) == 0)
			break;
	if (i == c->n_streams)
		return -ENOENT;
	if (fstat(c->fd[i], &st) < 0)
		return -errno;
	if (st.st_size < (off_t)TWITCH_SHM_HEADER_SIZE || (uint64_t)st.st_size > TWITCH_SHM_MAX_TOTAL)
		return -EPROTO;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, c->fd[i], 0);
	if (p == MAP_FAILED)
		return -errno;
	err = ring_attach(p, (size_t)st.st_size, &r->ring);
	if (err == -EAGAIN)
		err = -EPROTO;	/* twitchd formats a ring before handing it out */
	if (err == 0 && (r->ring.slot_size != c->info[i].slot_size ||
			 r->ring.n_slots != c->info[i].n_slots))
		err = -EPROTO;
	if (err < 0) {
		munmap(p, (size_t)st.st_size);
		return err;
	}
	r->map = p;
	r->map_size = (size_t)st.st_size;
	reader_map_wake(r, c->info[i].wake_index);
	r->generation = c->generation;
	return 0;
}

TWITCH_API int twitch_reader_new(struct twitch_client *c, const char *name, uint64_t backlog,
				 struct twitch_reader **ret)
{
	struct twitch_reader *r;
	uint64_t head, oldest;
	int err;

	if (c == NULL || name == NULL || ret == NULL)
		return -EINVAL;
	if (strlen(name) >= sizeof(r->name))
		return -ENOENT;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->c = c;
	strcpy(r->name, name);
	err = reader_map(r);
	if (err < 0) {
		free(r);
		return err;
	}
	head = ring_head(&r->ring);
	oldest = ring_oldest_safe(&r->ring, head);
	r->pos = backlog >= head - oldest ? oldest : head - backlog;
	c->n_readers++;
	*ret = r;
	return 0;
}

TWITCH_API struct twitch_reader *twitch_reader_free(struct twitch_reader *r)
{
	if (r == NULL)
		return NULL;
	reader_unmap(r);
	r->c->n_readers--;
	free(r);
	return NULL;
}

TWITCH_API uint64_t twitch_reader_lost(const struct twitch_reader *r)
{
	return r ? r->lost : 0;
}

static void local_hdr(struct twitch_record_hdr *h, uint16_t type, uint16_t size)
{
	record_init(h, type, size, TWITCH_DEVICE_NONE, TWITCH_INDEX_NONE);
	h->flags = TWITCH_RECF_LOCAL;
	h->seqno = UINT64_MAX;
}

/* Room for another local record? pending[] is sized for the most one call
 * can queue (see struct twitch_reader); a miscount must not write past it. */
static bool pending_full(const struct twitch_reader *r)
{
	return r->n_pending >= sizeof(r->pending) / sizeof(r->pending[0]);
}

static void queue_loss(struct twitch_reader *r, uint32_t reason, uint64_t count)
{
	struct twitch_rec_loss *l;

	if (pending_full(r))
		return;
	l = &r->pending[r->n_pending++].loss;

	local_hdr(&l->hdr, TWITCH_REC_LOSS, sizeof(*l));
	l->reason = reason;
	l->exact = 1;
	l->count = count;
}

static void queue_status(struct twitch_reader *r, uint32_t state, const char *text)
{
	struct twitch_rec_status *s;

	if (pending_full(r))
		return;
	s = &r->pending[r->n_pending++].status;

	local_hdr(&s->hdr, TWITCH_REC_STATUS, sizeof(*s));
	s->state = state;
	snprintf(s->text, sizeof(s->text), "%s", text);
	snprintf(s->dev_name, sizeof(s->dev_name), "%s", r->name);
}

static int deliver_pending(struct twitch_reader *r, void *buf, size_t buf_size)
{
	const struct twitch_record_hdr *h = (const void *)&r->pending[0];
	size_t size = h->size;

	if (size > buf_size)
		return -EMSGSIZE;
	memcpy(buf, &r->pending[0], size);
	r->n_pending--;
	if (r->n_pending)	/* every one still queued moves up, not just the next */
		memmove(&r->pending[0], &r->pending[1], r->n_pending * sizeof(r->pending[0]));
	return (int)size;
}

/* Non-blocking attempt. Return record size, 0 if nothing yet, or -errno. */
static int reader_try(struct twitch_reader *r, void *buf, size_t buf_size)
{
	size_t size;
	uint64_t head, next;
	int res;

	if (r->n_pending)
		return deliver_pending(r, buf, buf_size);
	if (r->map == NULL)
		return 0;
	res = ring_read(&r->ring, r->pos, buf, buf_size, &size);
	switch (res) {
	case 0:
		r->pos++;
		if (r->ring.hdr->stream_type != TWITCH_SHM_STREAM_TEST &&
		    twitch_record_check(buf, size) < 0)
			return -EPROTO;
		return (int)size;
	case RING_NOT_YET:
		return 0;
	case RING_LAPPED:
		head = ring_head(&r->ring);
		next = ring_oldest_safe(&r->ring, head);
		if (next <= r->pos)	/* head lags the slot we saw: skip just this one */
			next = r->pos + 1;
		r->lost += next - r->pos;
		queue_loss(r, TWITCH_LOSS_READER_LAPPED, next - r->pos);
		r->pos = next;
		return deliver_pending(r, buf, buf_size);
	case -EPROTO:
		r->pos++;	/* skip the malformed slot, do not spin on it */
		return -EPROTO;
	default:
		return res;
	}
}

/*
 * Has the client's connection ended? poll(), not a peeked recv(): a late
 * reply still queued (after a command timed out) would hide the end of
 * the stream behind it for ever.
 */
static bool client_hung_up(const struct twitch_client *c)
{
	struct pollfd p = { .fd = c->sock, .events = POLLRDHUP };

	if (c->sock < 0)
		return true;
	if (poll(&p, 1, 0) < 0)
		return errno != EINTR;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* Is the daemon behind this reader gone? Checks cost a syscall at most. */
static bool daemon_gone(struct twitch_reader *r)
{
	struct twitch_client *c = r->c;

	if (r->generation != c->generation)
		return true;
	if (atomic_load_explicit(&r->ring.hdr->state, memory_order_acquire) ==
	    TWITCH_SHM_STATE_CLOSED)
		return true;
	return client_hung_up(c);
}

TWITCH_API int twitch_reader_seek(struct twitch_reader *r, uint64_t seqno)
{
	uint64_t head, oldest;

	if (r == NULL)
		return -EINVAL;
	if (r->map == NULL || r->gone)
		return -ENOTCONN;
	if (pending_full(r))
		return -EBUSY;
	head = ring_head(&r->ring);
	oldest = ring_oldest_safe(&r->ring, head);
	if (seqno > head)
		seqno = head;
	if (seqno < oldest) {
		/* overwritten since: the same exact notice as a lapped read */
		r->lost += oldest - seqno;
		queue_loss(r, TWITCH_LOSS_READER_LAPPED, oldest - seqno);
		seqno = oldest;
	}
	r->pos = seqno;
	return 0;
}

TWITCH_API int twitch_reader_stats(const struct twitch_reader *r,
				   struct twitch_reader_stats *ret)
{
	uint64_t head, hb, now = now_ns();

	if (r == NULL || ret == NULL)
		return -EINVAL;
	if (r->map == NULL || r->gone)
		return -ENOTCONN;
	head = ring_head(&r->ring);
	hb = atomic_load_explicit(&r->ring.hdr->heartbeat_mono_ns, memory_order_acquire);
	*ret = (struct twitch_reader_stats){
		.published = head,
		.oldest = ring_oldest_safe(&r->ring, head),
		.position = r->pos,
		.n_slots = r->ring.n_slots,
		.lost = r->lost,
		.heartbeat_age_ns = now > hb ? now - hb : 0,
	};
	return 0;
}

static void check_stalled(struct twitch_reader *r)
{
	uint64_t hb = atomic_load_explicit(&r->ring.hdr->heartbeat_mono_ns, memory_order_acquire);
	uint64_t limit = (uint64_t)STALE_PERIODS * r->ring.hdr->heartbeat_ms * 1000000u;
	uint64_t now = now_ns();

	if (now > hb && now - hb > limit) {
		if (!r->stalled)
			queue_status(r, TWITCH_STATUS_PRODUCER_STALLED,
				     "twitchd's heartbeat stopped: producer stalled");
		r->stalled = true;
	} else {
		r->stalled = false;
	}
}

static void reader_gone(struct twitch_reader *r)
{
	if (!r->gone)
		queue_status(r, TWITCH_STATUS_DAEMON_GONE, "twitchd went away; waiting for it");
	r->gone = true;
}

/*
 * Does the client's (new) connection lead to the daemon whose ring this
 * reader maps? Then twitchd only dropped the connection (a client over its
 * command budget, or not reading its replies) and runs on: same epoch,
 * ring open, the stream still there with the same layout.
 */
static bool same_daemon(const struct twitch_reader *r)
{
	const struct twitch_client *c = r->c;
	uint32_t i;

	if (r->map == NULL || memcmp(r->ring.hdr->epoch, c->epoch, sizeof(c->epoch)) ||
	    atomic_load_explicit(&r->ring.hdr->state, memory_order_acquire) ==
		    TWITCH_SHM_STATE_CLOSED)
		return false;
	for (i = 0; i < c->n_streams; i++)
		if (strcmp(c->info[i].name, r->name) == 0)
			return c->info[i].slot_size == r->ring.slot_size &&
			       c->info[i].n_slots == r->ring.n_slots;
	return false;
}

/*
 * The connection ended or the ring closed: once the old ring is drained,
 * reconnect. The same daemon (it dropped the connection) is followed
 * without a word; a new one with "gone", "restarted" and the exact loss of
 * what it overwrote before we came back.
 */
static void reader_follow_restart(struct twitch_reader *r)
{
	struct twitch_client *c = r->c;
	uint64_t now = now_ns(), head, oldest;
	int err;

	/*
	 * Reconnect when this reader's connection ended, and to learn of a
	 * stream the last welcome did not list: a device's samples ring is
	 * made when the device first opens, which after a restart can be later.
	 */
	if (r->generation == c->generation || client_hung_up(c) ||
	    (r->map_err == -ENOENT && r->map_fail_gen == c->generation &&
	     now - r->map_fail_ns >= RECONNECT_PERIOD_NS)) {
		if (c->sock >= 0) {
			client_drop(c);
			/* ask at once: a dropped connection is not a restart */
			if (!r->gone)
				c->last_try_ns = 0;
		}
		if (now - c->last_try_ns < RECONNECT_PERIOD_NS) {
			reader_gone(r);
			return;
		}
		c->last_try_ns = now;
		if (client_connect(c) < 0) {
			reader_gone(r);
			return;
		}
	}
	if (same_daemon(r)) {
		r->generation = c->generation;
		if (r->gone)
			queue_status(r, TWITCH_STATUS_DAEMON_RESTARTED,
				     "reconnected to the same twitchd: nothing lost");
		r->gone = false;
		return;
	}
	reader_gone(r);
	if (r->map_err && now - r->map_fail_ns < RECONNECT_PERIOD_NS)
		return;
	/* the client has a newer generation: move this reader to it */
	reader_unmap(r);
	err = reader_map(r);
	if (err < 0) {
		/*
		 * A newer ring ABI or a malformed header: say so, and try
		 * again later. No such stream (yet): wait for it, "gone".
		 */
		r->map_err = err;
		r->map_err_new = err != -ENOENT;
		r->map_fail_ns = now;
		r->map_fail_gen = c->generation;
		return;
	}
	r->map_err = 0;
	r->gone = false;
	r->stalled = false;
	head = ring_head(&r->ring);
	oldest = ring_oldest_safe(&r->ring, head);
	queue_status(r, TWITCH_STATUS_DAEMON_RESTARTED, "reconnected to a restarted twitchd");
	if (oldest > 0) {
		r->lost += oldest;
		queue_loss(r, TWITCH_LOSS_RESTART, oldest);
	}
	r->pos = oldest;
}

/* A mapping error of reader_follow_restart() not yet returned, else 0. */
static int map_error(struct twitch_reader *r)
{
	if (!r->map_err_new || r->n_pending)
		return 0;
	r->map_err_new = false;
	return r->map_err;
}

/*
 * A polling reader (timeout 0) with nothing to read: at most every
 * LIVENESS_PERIOD_NS, check whether the daemon went away, came back or
 * stalled, as a waiting reader does, so polling clients follow restarts.
 */
static int reader_poll_liveness(struct twitch_reader *r, void *buf, size_t buf_size)
{
	uint64_t now = now_ns();
	int res;

	if (now - r->last_check_ns < LIVENESS_PERIOD_NS)
		return 0;
	r->last_check_ns = now;
	if (r->map == NULL || daemon_gone(r))
		reader_follow_restart(r);
	else
		check_stalled(r);
	res = reader_try(r, buf, buf_size);
	return res ? res : map_error(r);
}

static void futex_wait(const _Atomic uint32_t *word, uint32_t val, uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	/* shared futex on a read-only mapping: the kernel allows FUTEX_WAIT */
	syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

TWITCH_API int twitch_reader_next(struct twitch_reader *r, void *buf, size_t buf_size,
				  int timeout_ms)
{
	uint64_t deadline = 0, now, nap;
	uint32_t seen;
	int i, res;

	if (r == NULL || buf == NULL)
		return -EINVAL;
	if (r->map && buf_size < ring_max_record(&r->ring) && r->n_pending == 0)
		return -EMSGSIZE;

	for (i = 0; i < SPIN_PAUSES + SPIN_YIELDS; i++) {
		res = reader_try(r, buf, buf_size);
		if (res != 0)
			return res;
		if (timeout_ms == 0)
			return reader_poll_liveness(r, buf, buf_size);
		/* the clock only once there is a wait: a reader that is
		 * behind reads record after record without it */
		if (i == 0 && timeout_ms > 0)
			deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
		if (i < SPIN_PAUSES)
			cpu_relax();
		else
			sched_yield();
	}
	for (;;) {
		if (r->map == NULL || daemon_gone(r)) {
			reader_follow_restart(r);
		} else {
			check_stalled(r);
		}
		res = reader_try(r, buf, buf_size);
		if (res == 0)
			res = map_error(r);
		if (res != 0)
			return res;

		now = now_ns();
		if (timeout_ms >= 0 && now >= deadline)
			return 0;
		nap = timeout_ms < 0 ? SLEEP_CAP_NS : deadline - now;
		if (nap > SLEEP_CAP_NS)
			nap = SLEEP_CAP_NS;
		if (r->map == NULL || r->gone) {
			/* nothing to wait on: the daemon is away */
			struct timespec ts = { 0, (long)(nap < 50000000u ? nap : 50000000u) };

			nanosleep(&ts, NULL);
			continue;
		}
		/* announce the sleep, then re-check: pairs with ring_flush() */
		if (r->wake) {
			atomic_fetch_add_explicit(&r->wake->gen, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&r->wake->sleepers, 1, memory_order_seq_cst);
		}
		seen = atomic_load_explicit(&r->ring.hdr->futex, memory_order_acquire);
		res = reader_try(r, buf, buf_size);
		if (res == 0) {
			if (r->wake == NULL && nap > 10000000u)
				nap = 10000000u;	/* nobody will wake us */
			futex_wait(&r->ring.hdr->futex, seen, nap);
		}
		if (r->wake)
			atomic_fetch_sub_explicit(&r->wake->sleepers, 1, memory_order_relaxed);
		/* what woke us, before the checks at the top: they cost a
		 * syscall, and are for when there is nothing to read */
		if (res == 0)
			res = reader_try(r, buf, buf_size);
		if (res != 0)
			return res;
	}
}

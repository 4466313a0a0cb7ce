// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mqtt-feed.c - read twitchd's events ring in a thread and hand records to
 * twitch-mqtt's main thread in batches (see mqtt-feed.h).
 *
 * The thread never drops anything itself: when the main thread does not
 * take a batch (the spool disk stalled), it waits, and if the ring then
 * laps it, libtwitch reports the exact loss as a record that is forwarded
 * like any other.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <twitch.h>

#include "mqtt-feed.h"

#define BATCH_BYTES	(1u << 20)	/* per buffer */
#define BATCH_RECORDS	512		/* records read before a hand-over */
#define RECORD_MAX	(1u << 16)

struct feed {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t taken;
	atomic_bool stop;
	int efd;
	char socket[4096];
	bool has_socket;
	char resume_epoch[33];
	uint64_t resume_seq;
	/* fill: written by the thread under lock; drain: owned by the taker */
	char *fill, *drain;
	size_t fill_len;
	/* the thread's own batch, handed over in one locked copy */
	char *local;
	size_t local_len;
	union {
		struct twitch_record_hdr h;
		char b[RECORD_MAX];
	} rec;
};

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Move the thread's batch into the shared buffer; wait while it is full. */
static void hand_over(struct feed *f)
{
	uint64_t one = 1;
	bool was_empty;

	if (f->local_len == 0)
		return;
	pthread_mutex_lock(&f->lock);
	while (f->fill_len + f->local_len > BATCH_BYTES && !atomic_load(&f->stop))
		pthread_cond_wait(&f->taken, &f->lock);
	if (atomic_load(&f->stop)) {
		pthread_mutex_unlock(&f->lock);
		f->local_len = 0;
		return;
	}
	was_empty = f->fill_len == 0;
	if (was_empty) {
		/* the taker has everything before: hand the buffer over, no copy */
		char *t = f->fill;

		f->fill = f->local;
		f->local = t;
	} else {
		memcpy(f->fill + f->fill_len, f->local, f->local_len);
	}
	f->fill_len += f->local_len;
	pthread_mutex_unlock(&f->lock);
	f->local_len = 0;
	/* one wake per batch that the taker has not seen yet */
	if (was_empty && write(f->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fprintf(stderr, "twitch-mqtt: feed eventfd: %s\n", strerror(errno));
}

static void put(struct feed *f, uint32_t kind, const void *data, size_t len)
{
	struct feed_entry e = { .kind = kind, .len = (uint32_t)len };
	size_t need = sizeof(e) + pad8(len);

	if (f->local_len + need > BATCH_BYTES)
		hand_over(f);
	memcpy(f->local + f->local_len, &e, sizeof(e));
	memcpy(f->local + f->local_len + sizeof(e), data, len);
	memset(f->local + f->local_len + sizeof(e) + len, 0, pad8(len) - len);
	f->local_len += need;
}

static void note(struct feed *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct feed *f, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(f, FEED_NOTE, line, strlen(line));
	hand_over(f);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Connect, retrying every second while twitchd is not there; false: stopping. */
static bool feed_connect(struct feed *f, struct twitch_client **ret_c,
			 struct twitch_reader **ret_r)
{
	const char *path = f->has_socket ? f->socket : NULL;
	char why[256], epoch[33];
	int err, last = 0;

	while (!atomic_load(&f->stop)) {
		struct twitch_client *c = NULL;
		struct twitch_reader *r = NULL;

		err = twitch_client_connect(path, &c);
		if (err == 0) {
			err = twitch_reader_new(c, "events", TWITCH_FROM_OLDEST, &r);
			if (err == 0) {
				twitch_client_epoch(c, epoch);
				/*
				 * The same daemon as before a restart of the bridge:
				 * go on after what was forwarded; libtwitch reports
				 * what the ring overwrote meanwhile.
				 */
				if (f->resume_seq && !strcmp(epoch, f->resume_epoch))
					err = twitch_reader_seek(r, f->resume_seq);
			}
			if (err == 0) {
				f->resume_seq = 0;
				put(f, FEED_EPOCH, epoch, 32);
				note(f, "connected to twitchd (epoch %s)", epoch);
				*ret_c = c;
				*ret_r = r;
				return true;
			}
			twitch_reader_free(r);
			twitch_client_free(c);
		}
		if (err != last) {
			twitch_connect_strerror(err, path, why, sizeof(why));
			note(f, "%s; retrying every second", why);
			last = err;
		}
		sleep_ms(1000);
	}
	return false;
}

static void *feed_main(void *arg)
{
	struct feed *f = arg;
	struct twitch_client *c = NULL;
	struct twitch_reader *r = NULL;
	char epoch[33];
	int n, got;

	if (!feed_connect(f, &c, &r))
		return NULL;
	while (!atomic_load(&f->stop)) {
		/* wait for the first record, then take what is already there */
		for (got = 0; got < BATCH_RECORDS; got++) {
			n = twitch_reader_next(r, &f->rec, sizeof(f->rec), got ? 0 : 500);
			if (n == 0 || n == -EPROTO)
				break;
			if (n < 0) {
				note(f, "reading twitchd's events: %s", strerror(-n));
				sleep_ms(1000);
				break;
			}
			if (f->rec.h.type == TWITCH_REC_STATUS &&
			    (f->rec.h.flags & TWITCH_RECF_LOCAL)) {
				const struct twitch_rec_status *s = (const void *)&f->rec;

				if (s->state == TWITCH_STATUS_DAEMON_RESTARTED) {
					twitch_client_epoch(c, epoch);
					put(f, FEED_EPOCH, epoch, 32);
				}
			}
			put(f, FEED_RECORD, &f->rec, (size_t)n);
		}
		hand_over(f);
	}
	twitch_reader_free(r);
	twitch_client_free(c);
	return NULL;
}

int feed_start(const char *socket, const char *resume_epoch, uint64_t resume_seq,
	       struct feed **ret)
{
	struct feed *f;
	int err;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->efd = -1;
	if (socket && *socket) {
		if (strlen(socket) >= sizeof(f->socket)) {
			free(f);
			return -ENAMETOOLONG;
		}
		strcpy(f->socket, socket);
		f->has_socket = true;
	}
	snprintf(f->resume_epoch, sizeof(f->resume_epoch), "%s", resume_epoch ? resume_epoch : "");
	f->resume_seq = resume_seq;
	f->fill = malloc(BATCH_BYTES);
	f->drain = malloc(BATCH_BYTES);
	f->local = malloc(BATCH_BYTES);
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!f->fill || !f->drain || !f->local || f->efd < 0) {
		err = f->efd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->taken, NULL);
	err = -pthread_create(&f->thread, NULL, feed_main, f);
	if (err) {
		pthread_cond_destroy(&f->taken);
		pthread_mutex_destroy(&f->lock);
		goto fail;
	}
	*ret = f;
	return 0;
fail:
	if (f->efd >= 0)
		close(f->efd);
	free(f->fill);
	free(f->drain);
	free(f->local);
	free(f);
	return err;
}

int feed_fd(const struct feed *f)
{
	return f->efd;
}

const void *feed_take(struct feed *f, size_t *ret_len)
{
	uint64_t v;
	char *t;

	if (read(f->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return *ret_len = 0, NULL;
	pthread_mutex_lock(&f->lock);
	t = f->drain;
	f->drain = f->fill;
	f->fill = t;
	*ret_len = f->fill_len;
	f->fill_len = 0;
	pthread_cond_signal(&f->taken);
	pthread_mutex_unlock(&f->lock);
	return f->drain;
}

struct feed *feed_stop(struct feed *f)
{
	if (!f)
		return NULL;
	atomic_store(&f->stop, true);
	pthread_mutex_lock(&f->lock);
	pthread_cond_broadcast(&f->taken);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->taken);
	pthread_mutex_destroy(&f->lock);
	close(f->efd);
	free(f->fill);
	free(f->drain);
	free(f->local);
	free(f);
	return NULL;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt-feed.h - the thread that reads twitchd's events ring for
 * twitch-mqtt and hands records over in batches.
 *
 * libtwitch waits on the ring's futex, which poll() cannot watch, and
 * libmosquitto wants poll() on its socket; so one thread waits on the ring
 * and the main thread waits on the socket and on this feed's eventfd. The
 * hand-over is a pair of buffers swapped under a mutex once per batch,
 * never once per record.
 */
#ifndef TWITCH_MQTT_FEED_H
#define TWITCH_MQTT_FEED_H

#include <stddef.h>
#include <stdint.h>

/* Entry kinds in a batch. */
#define FEED_RECORD	1	/* a record from the ring (or a local one from libtwitch) */
#define FEED_EPOCH	2	/* 32 hex digits: the daemon epoch of the records that follow */
#define FEED_NOTE	3	/* one line for the log (connection state) */

struct feed_entry {
	uint32_t kind;
	uint32_t len;		/* bytes of data */
	/* data, padded to 8 bytes */
};

struct feed;

/*
 * feed_start() - connect to twitchd at @socket (NULL: default) in a new
 * thread and read the events stream from its oldest record, or, if the
 * daemon is still in epoch @resume_epoch, from record @resume_seq (the next
 * one after what was forwarded before the bridge restarted; records the ring
 * overwrote meanwhile come as a lapped loss). The thread keeps retrying
 * while twitchd is not running.
 * Return: 0 and the feed in *ret, -errno.
 */
int feed_start(const char *socket, const char *resume_epoch, uint64_t resume_seq,
	       struct feed **ret);
/* The eventfd that becomes readable when a batch is waiting. */
int feed_fd(const struct feed *f);
/*
 * feed_take() - take the waiting batch (clears the eventfd).
 * Return: a pointer to the entries and their total bytes in *ret_len (0: none);
 * valid until the next feed_take().
 */
const void *feed_take(struct feed *f, size_t *ret_len);
/* Stop the thread and release. NULL-safe; returns NULL. */
struct feed *feed_stop(struct feed *f);

#endif

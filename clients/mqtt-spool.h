/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt-spool.h - twitch-mqtt's bounded on-disk spool: every message the
 * bridge forwards is appended here first and leaves only when the broker
 * acknowledged it (QoS 1 PUBACK), so a broker outage or a bridge restart
 * loses nothing the spool could hold.
 *
 * Layout: one directory owned by the bridge. Segment files "NNNNNNNNNNNNNNNN.seg"
 * (16 hex digits: the id of their first message), each a sequence of
 * messages: a 40-byte little-endian header (magic, length, CRC-32C over
 * header-after-crc and payload, topic, flags, id, per-topic sequence number,
 * user value) and the payload, padded to 8 bytes. A state file "state"
 * (written to "state.tmp", fsync'ed and renamed) holds the ack floor, the
 * next id and the per-topic counters, so numbers never go backwards even
 * when every segment was acknowledged and deleted.
 *
 * Ids are global and count from 1 in the order of appends; each topic
 * (0..SPOOL_TOPICS-1) also numbers its own messages from 1 (tseq), which is
 * what subscribers use to see gaps and duplicates. When the spool would
 * exceed its size, its oldest segment is deleted, acknowledged or not; the
 * messages dropped unsent are counted (spool_take_dropped()).
 *
 * Recovery (spool_open): every segment is checked; a torn or corrupt tail
 * (bad magic, length, CRC, or ids out of order) is cut off at the last good
 * message and reported in @err (file and offset), never fatal. Everything
 * after the ack floor is sent again: the broker may see a message twice
 * (QoS 1's documented redelivery), never a different message under the
 * same (topic, tseq).
 *
 * Not thread-safe: one thread owns a spool. No allocation per message:
 * appends go to a write buffer that spool_flush() writes with one write()
 * per segment.
 */
#ifndef TWITCH_MQTT_SPOOL_H
#define TWITCH_MQTT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_TOPICS		8
#define SPOOL_MAX_PAYLOAD	4096	/* bytes */
/*
 * Sent but unacknowledged messages. libmosquitto numbers every publish
 * (packet id 1..65535, then again from 1), the bridge's own state messages
 * too, and the bridge finds a spooled message by the id of its PUBACK: with
 * 65535 spooled messages outstanding, one state message (the "online" of a
 * reconnect during a catch-up) made the newest share an id with the oldest,
 * which was then never acknowledged and held the spool's floor for good.
 * Half the id space leaves the other half for everything else.
 */
#define SPOOL_MAX_INFLIGHT	32768
#define SPOOL_F_RETAIN		0x01	/* publish with the MQTT retain flag */

struct spool;

struct spool_msg {
	uint64_t id;		/* global, from 1 */
	uint64_t tseq;		/* per topic, from 1 */
	uint64_t user;		/* the caller's value given to spool_append() */
	unsigned int topic;
	unsigned int flags;	/* SPOOL_F_* */
	uint32_t len;
	const char *payload;	/* valid until the next call on the spool */
};

struct spool_stats {
	uint64_t bytes;		/* on disk and buffered */
	uint64_t n_segments;
	uint64_t unsent;	/* appended, not yet handed out by spool_peek() */
	uint64_t unacked;	/* handed out, not yet acknowledged */
	uint64_t dropped;	/* dropped unacknowledged because the spool was full, total */
	uint64_t appended;	/* since open */
};

/*
 * spool_open() - open or create the spool in directory @dir (created 0700
 * if missing) holding at most @max_bytes (>= 64 KiB). Takes an exclusive
 * lock (a second bridge on the same spool gets -EBUSY).
 * @err: receives one line about anything recovery cut off ("" if nothing).
 * Return: 0 and the spool in *ret, -errno otherwise (with @err saying what
 * and where, e.g. "spool /var/lib/twitch-mqtt: Permission denied").
 */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **ret, char *err,
	       size_t err_size);
/* Flush, sync, record the state and release. NULL-safe; returns NULL. */
struct spool *spool_close(struct spool *s);

/* The id the next appended message will get. */
uint64_t spool_next_id(const struct spool *s);
/* The tseq the next message on @topic will get. */
uint64_t spool_next_tseq(const struct spool *s, unsigned int topic);
/* The id the next spool_append() will give its message (if it succeeds). */
uint64_t spool_next_id(const struct spool *s);
/*
 * spool_append() - add one message (buffered until spool_flush()).
 * Return: 0, -EINVAL for a bad topic, @flags over 0xff or a payload over
 * SPOOL_MAX_PAYLOAD, -errno from a flush the full write buffer or the
 * start of a new segment forced, or from the state write that must precede
 * deleting the oldest segment (the message is then not appended).
 */
int spool_append(struct spool *s, unsigned int topic, unsigned int flags, uint64_t user,
		 const void *payload, uint32_t len);
/* Write what spool_append() buffered. Return: 0 or -errno (nothing lost: retried). */
int spool_flush(struct spool *s);
/* spool_flush(), fdatasync() the open segment and write the state file. */
int spool_sync(struct spool *s);

/*
 * spool_peek() - the next message to send, in append order (only flushed
 * messages are handed out). Return: 1 and *ret, 0 if there is none or
 * SPOOL_MAX_INFLIGHT are unacknowledged, -errno on a read error.
 * The limit counts the ids from the oldest unacknowledged one to the next
 * to send (acknowledged ones in between included), so at most
 * SPOOL_MAX_INFLIGHT consecutive ids are outstanding.
 */
int spool_peek(struct spool *s, struct spool_msg *ret);
/* The message last returned by spool_peek() was sent: move on. */
void spool_advance(struct spool *s);
/* The connection dropped: hand out every unacknowledged message again. */
void spool_rewind(struct spool *s);
/*
 * spool_ack() - the broker acknowledged message @id (any order). Deletes
 * segments whose every message is acknowledged. Return: 0, -ENOENT for an
 * id that is not outstanding (already acked, dropped, or never sent).
 */
int spool_ack(struct spool *s, uint64_t id);

/* The user value of the last message appended (or recovered); 0 if none. */
uint64_t spool_last_user(const struct spool *s);
/*
 * A short string (<= SPOOL_TAG_MAX chars, e.g. the daemon epoch the user
 * values refer to) kept in the state file; a change is written at once.
 */
#define SPOOL_TAG_MAX 47
int spool_set_tag(struct spool *s, const char *tag);
const char *spool_tag(const struct spool *s);	/* "" if never set */
/*
 * Messages dropped unacknowledged since the last call (or the open), and
 * the first and last id dropped (written only if the count is not 0; may
 * be NULL). Acknowledged ids above the floor are not kept across a
 * close: after a reopen they are handed out again (QoS 1 redelivery).
 */
uint64_t spool_take_dropped(struct spool *s, uint64_t *ret_first, uint64_t *ret_last);
void spool_get_stats(const struct spool *s, struct spool_stats *ret);

#endif

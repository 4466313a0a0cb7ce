/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ring.h - the broadcast ring over a mapped region, both sides.
 *
 * Pure memory operations: no sockets, no allocation. The producer formats a
 * writable mapping and publishes records into it; readers attach to a
 * read-only mapping, validate it, and read positions with a seqlock copy.
 * Linked into twitchd and into libtwitch (hidden there).
 */
#ifndef TWITCH_RING_H
#define TWITCH_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring-layout.h"
#include "twitch.h"

/* Positive outcomes of ring_read() that the caller must handle. */
#define RING_NOT_YET	1	/* nothing published at that position yet */
#define RING_LAPPED	2	/* the position was overwritten before or while reading */

struct ring {
	struct twitch_shm_hdr *hdr;	/* writer: RW mapping; reader: RO (never written) */
	uint8_t *slots;
	size_t map_size;
	uint32_t slot_size;
	uint32_t n_slots;
	uint64_t mask;
	uint64_t head;			/* writer: next position, private copy */
	uint64_t flushed;		/* writer: head at the last ring_flush() */
	struct twitch_wake_line *wake;	/* sleepers count of this ring, may be NULL */
	uint64_t n_wakes;		/* writer: FUTEX_WAKE calls made */
	uint32_t stale;			/* writer: sleepers counted but not waiting */
	uint32_t stale_gen;		/* writer: wake-line gen when stale was measured */
	uint32_t stale_flushes;		/* writer: flushes while only stale sleepers */
	uint64_t last_wake_ns;		/* writer: CLOCK_MONOTONIC of the last wake */
};

/* While counted sleepers did not answer a wake, wake about this often (checked
 * every 16th flush, so at least 16 flushes apart). */
#define RING_STALE_WAKE_NS	10000000u

struct ring_params {
	uint32_t slot_size;		/* bytes, multiple of 64, >= 64 */
	uint32_t n_slots;		/* power of two, >= TWITCH_SHM_MIN_SLOTS */
	uint32_t stream_type;		/* TWITCH_SHM_STREAM_* */
	uint32_t device;		/* UINT32_MAX if none */
	const char *name;		/* up to 23 bytes */
	const uint8_t *epoch;		/* 16 bytes */
	const uint8_t *boot_id;		/* 16 bytes, may be NULL */
};

/*
 * ring_layout_size() - bytes needed for a ring of @slot_size x @n_slots.
 * Return: 0 and the size in *ret_size, or -EINVAL for sizes outside the ABI
 * limits (which also rules out overflow).
 */
int ring_layout_size(uint32_t slot_size, uint32_t n_slots, uint64_t *ret_size);

/*
 * ring_format() - producer: lay out a ring in @mem (writable, @size bytes,
 * zeroed, page-aligned) and mark it LIVE. Return: 0, or -EINVAL.
 */
int ring_format(void *mem, size_t size, const struct ring_params *p, struct ring *ret);

/*
 * ring_publish() - producer: copy record @rec (rec->size bytes, a multiple
 * of 8, at most slot_size - 8) into the next slot; sets rec->seqno to its
 * position. No syscall, no allocation, wait-free.
 */
void ring_publish(struct ring *r, struct twitch_record_hdr *rec);

/*
 * ring_flush() - producer: end of a batch. Bumps the futex word and wakes
 * sleeping readers with at most one FUTEX_WAKE, only if some reader
 * sleeps and something was published since the last flush. A reader that
 * was stopped (SIGSTOP) or killed while asleep leaves its count behind;
 * once a wake finds fewer waiters than counted, that surplus is treated as
 * stale and costs at most one wake per RING_STALE_WAKE_NS, until a reader
 * goes to sleep anew (the line's gen moves) or the count falls.
 */
void ring_flush(struct ring *r);

/* Producer: store the heartbeat (CLOCK_MONOTONIC ns). */
void ring_heartbeat(struct ring *r, uint64_t now_mono_ns);

/* Producer: mark the ring CLOSED (clean shutdown) and wake every reader. */
void ring_close(struct ring *r);

/*
 * ring_attach() - reader: validate a mapped header before trusting it.
 * @mem/@map_size: the read-only mapping (map_size from fstat).
 * Return: 0, -EPROTO for a bad magic, sizes or state, -EPROTONOSUPPORT for
 * another ABI major, -EAGAIN if the producer has not finished formatting.
 */
int ring_attach(const void *mem, size_t map_size, struct ring *ret);

/*
 * ring_read() - reader: copy the record at position @pos into @buf.
 * Return: 0 with its size in *ret_size, RING_NOT_YET, RING_LAPPED, or
 * -EPROTO if the slot holds a record whose length is impossible, or
 * -EMSGSIZE if @buf_size cannot hold it.
 */
int ring_read(const struct ring *r, uint64_t pos, void *buf, size_t buf_size,
	      size_t *ret_size);

/* Reader: the producer's head (positions published), acquire. */
uint64_t ring_head(const struct ring *r);

/* Reader: the oldest position still safe to start from, given @head. */
uint64_t ring_oldest_safe(const struct ring *r, uint64_t head);

/* Largest record a slot holds, bytes. */
static inline uint32_t ring_max_record(const struct ring *r)
{
	return r->slot_size - (uint32_t)sizeof(struct twitch_shm_slot);
}

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ring-layout.h - the shared-memory ABI of a twitchd broadcast ring.
 *
 * One producer (twitchd) writes fixed-size slots into a sealed memfd that
 * every reader maps PROT_READ. Each slot begins with a 64-bit sequence word
 * used as a seqlock: 2p+1 while position p is being written, 2p+2 once it
 * is complete. Readers keep their cursor privately and never write this
 * memory. Any change to this file is an ABI break: bump TWITCH_SHM_ABI_MAJOR
 * for incompatible changes, TWITCH_SHM_ABI_MINOR for additive ones.
 * Private to twitchd and libtwitch; not installed.
 */
#ifndef TWITCH_RING_LAYOUT_H
#define TWITCH_RING_LAYOUT_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TWITCH_SHM_MAGIC	UINT32_C(0x47525754)	/* "TWRG" little-endian */
#define TWITCH_SHM_ABI_MAJOR	1
#define TWITCH_SHM_ABI_MINOR	1

/* Header occupies one page so the slots start page-aligned. */
#define TWITCH_SHM_HEADER_SIZE	4096u
/* Slots are multiples of 64 bytes: one cache line carries seq + a small record. */
#define TWITCH_SHM_SLOT_ALIGN	64u
/* Bounds a reader enforces before trusting a header (hostile-input limits). */
#define TWITCH_SHM_MIN_SLOTS	8u
#define TWITCH_SHM_MAX_SLOTS	(1u << 24)
#define TWITCH_SHM_MAX_SLOT_SIZE (1u << 20)
#define TWITCH_SHM_MAX_TOTAL	(UINT64_C(1) << 32)	/* 4 GiB per ring */

/* Ring life cycle; written last with release, like Aeron's cnc_version. */
#define TWITCH_SHM_STATE_INIT	0u
#define TWITCH_SHM_STATE_LIVE	1u
#define TWITCH_SHM_STATE_CLOSED	2u

/* Stream kinds. */
#define TWITCH_SHM_STREAM_EVENTS  1u	/* every record but sample blocks */
#define TWITCH_SHM_STREAM_SAMPLES 2u	/* sample blocks of one device */
#define TWITCH_SHM_STREAM_TEST    3u	/* benchmarks and tests */

/* Producer heartbeat period; readers call the producer stale after 10 periods. */
#define TWITCH_SHM_HEARTBEAT_MS	100u

/*
 * The hot words each get their own 128-byte block: Intel prefetches cache
 * lines in pairs, so 64 bytes is not enough to stop false sharing between
 * the producer's head store and readers polling the futex word.
 */
struct twitch_shm_hdr {
	uint32_t magic;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t header_size;		/* offset of slot 0, bytes */
	uint32_t slot_size;		/* bytes, multiple of TWITCH_SHM_SLOT_ALIGN */
	uint32_t n_slots;		/* power of two */
	uint32_t stream_type;		/* TWITCH_SHM_STREAM_* */
	uint32_t clock_mono;		/* clock id of t_mono_ns: CLOCK_MONOTONIC */
	uint32_t clock_real;		/* clock id of t_real_ns: CLOCK_REALTIME */
	uint64_t total_size;		/* header_size + n_slots * slot_size */
	uint8_t epoch[16];		/* random per ring creation */
	uint8_t boot_id[16];		/* /proc/sys/kernel/random/boot_id */
	uint64_t producer_pid;
	uint64_t start_mono_ns;
	uint64_t start_real_ns;
	uint32_t heartbeat_ms;		/* TWITCH_SHM_HEARTBEAT_MS */
	uint32_t device;		/* device index of a samples stream, else UINT32_MAX */
	char name[24];			/* stream name, NUL-terminated */

	alignas(128) _Atomic uint32_t state;	/* TWITCH_SHM_STATE_* */
	alignas(128) _Atomic uint64_t head;	/* next position to publish */
	alignas(128) _Atomic uint32_t futex;	/* bumped once per batch; readers FUTEX_WAIT here */
	alignas(128) _Atomic uint64_t heartbeat_mono_ns;
};

struct twitch_shm_slot {
	_Atomic uint64_t seq;		/* 2p+1 writing p, 2p+2 complete */
	uint64_t data[];		/* the record, 8-byte words */
};

/*
 * The wake page: a small memfd shared read-write by all clients, because a
 * reader cannot write the ring. A reader counts itself in sleepers[] before
 * FUTEX_WAIT; the producer wakes only if the count of its ring is non-zero.
 * Protocol: gen++, sleepers++ (seq_cst), load the futex word, re-check the
 * ring, FUTEX_WAIT, sleepers--. A misbehaving client can only cost the
 * producer one syscall per batch, or delay others' wake-ups up to their
 * bounded wait (readers never sleep longer than 100 ms per FUTEX_WAIT).
 */
#define TWITCH_WAKE_MAGIC	UINT32_C(0x4b415754)	/* "TWAK" */
#define TWITCH_WAKE_MAX_RINGS	32u
#define TWITCH_WAKE_SIZE	4096u

struct twitch_wake_line {
	alignas(64) _Atomic uint32_t sleepers;	/* readers inside FUTEX_WAIT or about to be */
	_Atomic uint32_t gen;			/* bumped by a reader each time it goes to sleep */
};

struct twitch_wake_page {
	uint32_t magic;
	uint32_t n_rings;
	alignas(64) struct twitch_wake_line line[TWITCH_WAKE_MAX_RINGS];
};

static_assert(offsetof(struct twitch_shm_hdr, state) == 128, "shm ABI changed");
static_assert(offsetof(struct twitch_shm_hdr, head) == 256, "shm ABI changed");
static_assert(offsetof(struct twitch_shm_hdr, futex) == 384, "shm ABI changed");
static_assert(offsetof(struct twitch_shm_hdr, heartbeat_mono_ns) == 512, "shm ABI changed");
static_assert(sizeof(struct twitch_shm_hdr) == 640, "shm ABI changed");
static_assert(sizeof(struct twitch_shm_hdr) <= TWITCH_SHM_HEADER_SIZE, "header page");
static_assert(sizeof(struct twitch_wake_page) <= TWITCH_WAKE_SIZE, "wake page");
static_assert(sizeof(struct twitch_shm_slot) == 8, "slot header");
/* Shared between processes: a lock-based fallback would live in private memory. */
static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
	      "twitchd needs lock-free 32- and 64-bit atomics");

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * records.h - producer-side helpers for the record types of twitch.h.
 *
 * The record structs themselves are public ABI and live in twitch.h (the
 * one installed header); this file pins their layout with static_asserts
 * and gives the daemon one way to stamp a record. Private; not installed.
 */
#ifndef TWITCH_RECORDS_H
#define TWITCH_RECORDS_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "twitch.h"

static_assert(sizeof(struct twitch_record_hdr) == 40, "record ABI changed");
static_assert(sizeof(struct twitch_rec_twitch) == 88, "record ABI changed");
static_assert(sizeof(struct twitch_rec_samples) == 56, "record ABI changed");
static_assert(sizeof(struct twitch_rec_bioz) == 216, "record ABI changed");
static_assert(sizeof(struct twitch_rec_status) == 200, "record ABI changed");
static_assert(sizeof(struct twitch_rec_loss) == 56, "record ABI changed");
static_assert(sizeof(struct twitch_rec_marker) == 216, "record ABI changed");
static_assert(sizeof(struct twitch_rec_test) == 56, "record ABI changed");
static_assert(offsetof(struct twitch_rec_samples, data) == 56, "record ABI changed");
static_assert(sizeof(struct twitch_rec_rates) == 72, "record ABI changed");
static_assert(sizeof(struct twitch_rec_epoch) == 88, "record ABI changed");
static_assert(sizeof(struct twitch_rec_alert) == 176, "record ABI changed");

/* The events ring's slot: seq word + the largest fixed record, rounded to 64. */
#define RECORD_EVENT_SLOT_SIZE	256u
static_assert(sizeof(struct twitch_rec_bioz) + 8 <= RECORD_EVENT_SLOT_SIZE, "slot too small");
static_assert(sizeof(struct twitch_rec_marker) + 8 <= RECORD_EVENT_SLOT_SIZE, "slot too small");

/*
 * A character a device's name may hold: twitchd.conf's [device NAME], and
 * so the dev_name of its status records, which twitch-mqtt makes a topic
 * level of. One rule for both, so that no name twitchd takes is refused
 * there.
 */
static inline bool record_device_name_char(char c)
{
	return c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static inline uint64_t record_clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * record_init() - zero a record of @size bytes and fill its header; both
 * clocks are read now (CLOCK_MONOTONIC, and CLOCK_REALTIME for display).
 */
static inline void record_init(void *rec, uint16_t type, uint16_t size, uint16_t device,
			       uint64_t sample_index)
{
	struct twitch_record_hdr *h = rec;

	memset(rec, 0, size);
	h->type = type;
	h->size = size;
	h->device = device;
	h->sample_index = sample_index;
	h->t_mono_ns = record_clock_ns(CLOCK_MONOTONIC);
	h->t_real_ns = record_clock_ns(CLOCK_REALTIME);
}

/* Size of a samples record holding @n_channels x @n_scans floats, 8-aligned. */
static inline size_t record_samples_size(unsigned int n_channels, unsigned int n_scans)
{
	return (sizeof(struct twitch_rec_samples) +
		(size_t)n_channels * n_scans * sizeof(float) + 7) / 8 * 8;
}

/* Bioimpedance model ids that twitch_model_name() knows (1..COUNT-1). */
#define RECORD_MODEL_COUNT 18

/* String fields of marker and status records are NUL-terminated (record.c). */
int record_check_strings(const void *rec);

#endif

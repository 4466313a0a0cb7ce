/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * testpub.h - a stand-in producer for libtwitch tests and the ring benchmark.
 *
 * It uses twitchd's own publish.c and control.c (the real rings, seals and
 * control socket) in a child process driven by control commands, so tests
 * decide exactly what gets published and when:
 *   ping                      -> OK pong
 *   pub events|test N         -> publish N records in one batch, OK <head>
 *   mark TEXT                 -> a marker record, OK <seqno>
 *   status DEV STATE          -> a status record of device DEV ("-": of the
 *                                daemon) in TWITCH_STATUS_* STATE, OK <seqno>
 *   stall                     -> stop the heartbeat
 *   drop                      -> ERR 16 dropped, and this connection closed
 *                                (as twitchd cuts off a client over budget)
 *   sleep MS                  -> OK slept, after MS ms of not answering
 *   abi N                     -> OK: the events ring's header says ABI major N
 *   ring NAME                 -> OK: a new (test-type) stream NAME, published
 *                                to clients that connect from now on
 *   close                     -> mark the rings CLOSED and exit 0
 */
#ifndef TWITCH_TESTPUB_H
#define TWITCH_TESTPUB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct testpub_opts {
	const char *sock_path;
	mode_t sock_mode;		/* e.g. 0660 */
	gid_t sock_gid;			/* -1: leave as created */
	bool has_policy_gid;
	gid_t policy_gid;
	uint32_t events_slots;		/* 0: 4096 */
	uint32_t test_slot_size;	/* 0: 64 */
	uint32_t test_slots;		/* 0: 65536 */
};

/* Fork a producer; returns its pid once its socket accepts, or -errno. */
pid_t testpub_spawn(const struct testpub_opts *o);
/* Run the producer loop in this process until "close" or SIGTERM. */
int testpub_main(const struct testpub_opts *o);
/* Test records carry check = testpub_check(seqno). */
static inline uint64_t testpub_check(uint64_t seqno)
{
	return seqno * UINT64_C(0x9e3779b97f4a7c15) ^ UINT64_C(0xabcdef);
}

#endif

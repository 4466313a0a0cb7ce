/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * control-proto.h - the control socket protocol between twitchd and libtwitch.
 *
 * An AF_UNIX SOCK_SEQPACKET socket, so every message keeps its boundary.
 * On accept, after the SO_PEERCRED check, twitchd sends one welcome message
 * carrying the stream table, with the ring memfds and then the wake-page
 * memfd attached as SCM_RIGHTS. After that the client may send commands,
 * one text line per message ("mark lights off", "ping"); each gets one
 * reply, "OK <text>" or "ERR <errno> <text>". Private; not installed.
 */
#ifndef TWITCH_CONTROL_PROTO_H
#define TWITCH_CONTROL_PROTO_H

#include <assert.h>
#include <stdint.h>

#define TWITCH_CTL_MAGIC	UINT32_C(0x4c435754)	/* "TWCL" */
#define TWITCH_CTL_ABI_MAJOR	1
#define TWITCH_CTL_ABI_MINOR	0
#define TWITCH_CTL_MAX_STREAMS	16u			/* also bounds the fds passed */
#define TWITCH_CTL_MAX_CMD	512u			/* bytes of one command or reply */
/* A user (uid) that sends more than this many commands per second, over
 * all its connections, is cut off. */
#define TWITCH_CTL_MAX_CMD_RATE	200u

struct twitch_ctl_stream {
	char name[24];
	uint32_t type;
	uint32_t device;
	uint32_t slot_size;
	uint32_t n_slots;
	uint32_t max_record;
	uint32_t wake_index;		/* line of the wake page for this ring */
};

struct twitch_ctl_welcome {
	uint32_t magic;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t n_streams;		/* ring fds attached, then one wake fd */
	uint32_t flags;
	uint8_t epoch[16];
	struct twitch_ctl_stream stream[TWITCH_CTL_MAX_STREAMS];
};

static_assert(sizeof(struct twitch_ctl_stream) == 48, "control ABI changed");
static_assert(sizeof(struct twitch_ctl_welcome) == 32 + 48 * TWITCH_CTL_MAX_STREAMS,
	      "control ABI changed");

#endif

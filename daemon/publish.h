/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * publish.h - twitchd's side of the rings: sealed memfds and the wake page.
 */
#ifndef TWITCHD_PUBLISH_H
#define TWITCHD_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "control-proto.h"
#include "ring.h"

struct pub_ring {
	struct ring ring;
	int fd;				/* sealed memfd, handed to clients */
	void *map;			/* our writable mapping */
	size_t size;
	uint32_t type;
	uint32_t device;
	char name[24];
};

struct publisher {
	uint8_t epoch[16];		/* random per daemon start */
	uint8_t boot_id[16];
	unsigned int n_rings;
	struct pub_ring rings[TWITCH_CTL_MAX_STREAMS];
	int wake_fd;
	struct twitch_wake_page *wake;
};

#define PUBLISHER_NULL { .wake_fd = -1 }

/* Make the epoch and the wake page. Return 0 or -errno. */
int publisher_init(struct publisher *p);
/* Unmap and close everything; safe to call twice and after a failed init. */
void publisher_deinit(struct publisher *p);

/*
 * publisher_add_ring() - create a ring in a new sealed memfd.
 * Return: 0 and the ring (owned by @p) in *ret, -EINVAL for bad sizes,
 * -ENOSPC if TWITCH_CTL_MAX_STREAMS rings exist, or -errno.
 */
int publisher_add_ring(struct publisher *p, const char *name, uint32_t type, uint32_t device,
		       uint32_t slot_size, uint32_t n_slots, struct ring **ret);

/* End of a batch on every ring: at most one FUTEX_WAKE each. */
void publisher_flush(struct publisher *p);
void publisher_heartbeat(struct publisher *p, uint64_t now_mono_ns);
/* Mark every ring CLOSED: readers learn of a clean shutdown. */
void publisher_close(struct publisher *p);

/*
 * publisher_welcome() - the welcome message and the fds to pass with it
 * (ring memfds, then the wake page). Fills *ret and ret_fds[n_rings + 1].
 */
size_t publisher_welcome(const struct publisher *p, struct twitch_ctl_welcome *ret, int *ret_fds);

#endif

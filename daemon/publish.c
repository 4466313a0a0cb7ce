// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * publish.c - create the broadcast rings in sealed memfds.
 *
 * Each ring is a memfd sized once, its pages reserved (fallocate and
 * MAP_POPULATE) so a write can never SIGBUS later, mapped read-write by us
 * and then sealed: F_SEAL_SHRINK and F_SEAL_GROW so nobody can truncate it
 * under a mapping, F_SEAL_FUTURE_WRITE so no new writable mapping or
 * write() is possible, F_SEAL_SEAL to freeze the seals. Clients get the fd
 * over the control socket; nothing is named in /dev/shm, so nothing goes
 * stale after a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "publish.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U		/* Linux 6.3; older kernels say EINVAL */
#endif

static int memfd_new(const char *name, uint64_t size, int *ret_fd, void **ret_map)
{
	void *map;
	int fd, err;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		err = -errno;
		goto fail_close;
	}
	/* reserve the pages now; tmpfs may lack fallocate on old kernels */
	if (fallocate(fd, 0, 0, (off_t)size) < 0 && errno != EOPNOTSUPP) {
		err = -errno;
		goto fail_close;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto fail_close;
	}
	*ret_fd = fd;
	*ret_map = map;
	return 0;
fail_close:
	close(fd);
	return err;
}

static void read_boot_id(uint8_t out[16])
{
	char buf[64];
	unsigned int i, j = 0;
	FILE *f;

	memset(out, 0, 16);
	f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f == NULL)
		return;
	if (fgets(buf, sizeof(buf), f)) {
		for (i = 0; buf[i] && j < 32; i++) {
			char c = buf[i];
			int v = c >= '0' && c <= '9' ? c - '0' :
				c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

			if (v < 0)
				continue;
			out[j / 2] |= (uint8_t)(j % 2 ? v : v << 4);
			j++;
		}
	}
	fclose(f);
}

int publisher_init(struct publisher *p)
{
	unsigned int i;
	ssize_t n;
	void *map;
	int err;

	memset(p, 0, sizeof(*p));
	p->wake_fd = -1;
	for (i = 0; i < TWITCH_CTL_MAX_STREAMS; i++)
		p->rings[i].fd = -1;
	n = getrandom(p->epoch, sizeof(p->epoch), 0);
	if (n != (ssize_t)sizeof(p->epoch))
		return n < 0 ? -errno : -EIO;
	read_boot_id(p->boot_id);

	err = memfd_new("twitchd-wake", TWITCH_WAKE_SIZE, &p->wake_fd, &map);
	if (err < 0)
		return err;
	p->wake = map;
	p->wake->magic = TWITCH_WAKE_MAGIC;
	p->wake->n_rings = TWITCH_WAKE_MAX_RINGS;
	/* clients write their sleepers counts here: seal the size only */
	if (fcntl(p->wake_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = -errno;
		publisher_deinit(p);
		return err;
	}
	return 0;
}

void publisher_deinit(struct publisher *p)
{
	unsigned int i;

	for (i = 0; i < p->n_rings; i++) {
		struct pub_ring *pr = &p->rings[i];

		if (pr->map)
			munmap(pr->map, pr->size);
		if (pr->fd >= 0)
			close(pr->fd);
		pr->map = NULL;
		pr->fd = -1;
	}
	p->n_rings = 0;
	if (p->wake)
		munmap(p->wake, TWITCH_WAKE_SIZE);
	p->wake = NULL;
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	p->wake_fd = -1;
}

int publisher_add_ring(struct publisher *p, const char *name, uint32_t type, uint32_t device,
		       uint32_t slot_size, uint32_t n_slots, struct ring **ret)
{
	struct pub_ring *pr;
	struct ring_params rp = {
		.slot_size = slot_size, .n_slots = n_slots, .stream_type = type,
		.device = device, .name = name, .epoch = p->epoch, .boot_id = p->boot_id,
	};
	char memfd_name[48];
	uint64_t size;
	int err;

	if (p->n_rings >= TWITCH_CTL_MAX_STREAMS)
		return -ENOSPC;
	if (name == NULL || strlen(name) >= sizeof(pr->name) ||
	    ring_layout_size(slot_size, n_slots, &size) < 0)
		return -EINVAL;
	pr = &p->rings[p->n_rings];
	snprintf(memfd_name, sizeof(memfd_name), "twitchd-%s", name);
	err = memfd_new(memfd_name, size, &pr->fd, &pr->map);
	if (err < 0)
		return err;
	pr->size = (size_t)size;
	err = ring_format(pr->map, pr->size, &rp, &pr->ring);
	if (err < 0)
		goto fail;
	pr->ring.wake = &p->wake->line[p->n_rings];
	if (fcntl(pr->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE |
					F_SEAL_SEAL) < 0) {
		err = -errno;
		goto fail;
	}
	pr->type = type;
	pr->device = device;
	strcpy(pr->name, name);
	p->n_rings++;
	*ret = &pr->ring;
	return 0;
fail:
	munmap(pr->map, pr->size);
	close(pr->fd);
	pr->map = NULL;
	pr->fd = -1;
	return err;
}

void publisher_flush(struct publisher *p)
{
	unsigned int i;

	for (i = 0; i < p->n_rings; i++)
		ring_flush(&p->rings[i].ring);
}

void publisher_heartbeat(struct publisher *p, uint64_t now_mono_ns)
{
	unsigned int i;

	for (i = 0; i < p->n_rings; i++)
		ring_heartbeat(&p->rings[i].ring, now_mono_ns);
}

void publisher_close(struct publisher *p)
{
	unsigned int i;

	for (i = 0; i < p->n_rings; i++)
		ring_close(&p->rings[i].ring);
}

size_t publisher_welcome(const struct publisher *p, struct twitch_ctl_welcome *ret, int *ret_fds)
{
	unsigned int i;

	memset(ret, 0, sizeof(*ret));
	ret->magic = TWITCH_CTL_MAGIC;
	ret->abi_major = TWITCH_CTL_ABI_MAJOR;
	ret->abi_minor = TWITCH_CTL_ABI_MINOR;
	ret->n_streams = p->n_rings;
	memcpy(ret->epoch, p->epoch, sizeof(ret->epoch));
	for (i = 0; i < p->n_rings; i++) {
		const struct pub_ring *pr = &p->rings[i];
		struct twitch_ctl_stream *s = &ret->stream[i];

		memcpy(s->name, pr->name, sizeof(s->name));
		s->type = pr->type;
		s->device = pr->device;
		s->slot_size = pr->ring.slot_size;
		s->n_slots = pr->ring.n_slots;
		s->max_record = ring_max_record(&pr->ring);
		s->wake_index = i;
		ret_fds[i] = pr->fd;
	}
	ret_fds[p->n_rings] = p->wake_fd;
	return p->n_rings + 1;
}

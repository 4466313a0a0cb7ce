// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz-ring.c - libFuzzer entry point for a reader's view of a ring that
 * twitchd (or anyone who can hand out a memfd) filled with anything:
 * ring_attach() on the header, ring_read() of the positions a reader
 * would visit, twitch_record_check() and twitch_record_json() on what is
 * read (ipc/ring.c, ipc/record.c: what libtwitch does with a mapped ring).
 *
 * Input layout: byte 0 bit 0 set: the rest is the whole mapping, header
 * and all (zero-padded to at least one header page). Clear: a well-formed
 * header is built from bytes 1-11 (slot size 64..512, 8..64 slots, the
 * head, bit 0 of byte 11: seq words of the slots in [oldest, head) made
 * current, bit 1: the ring CLOSED) and the rest fills the slots, so the
 * records themselves get fuzzed. The mapping is malloc()ed to its exact
 * size and every read buffer too, so ASan sees any access past them.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iipc \
 *	tests/fuzz/fuzz-ring.c -o fuzz-ring
 *   gcc -DFUZZ_STANDALONE -D_GNU_SOURCE -Iipc tests/fuzz/fuzz-ring.c -o fuzz-ring && \
 *	./fuzz-ring CORPUS-FILES...
 */
#include <stdlib.h>

#include "../../ipc/ring.c"
#include "../../ipc/record.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what the last input did, for the standalone replayer's report */
static char fuzz_result[1100];

static int fuzz_read(const struct ring *r, uint64_t pos, int *n_ok)
{
	size_t max = ring_max_record(r), got = 0, j;
	uint8_t *buf = malloc(max);
	char *json;
	int res, k;

	if (buf == NULL)
		return 0;
	res = ring_read(r, pos, buf, max, &got);
	if (res == 0) {
		if (got < sizeof(struct twitch_record_hdr) || got > max || got % 8)
			abort();
		if (twitch_record_check(buf, got) == 0) {
			(*n_ok)++;
			/* the formatter at a few sizes: never past the buffer */
			for (k = 0; k < 4; k++) {
				size_t js = (size_t[]){ 1, 64, 300, 8192 }[k];

				json = malloc(js);
				if (json == NULL)
					break;
				res = twitch_record_json(buf, got, 0, json, js);
				if (res >= 0 && ((size_t)res >= js || strlen(json) != (size_t)res))
					abort();
				if (res >= 0)
					for (j = 0; j < (size_t)res; j++)
						if ((unsigned char)json[j] < 0x20)
							abort();	/* one line */
				free(json);
			}
			res = 0;
		}
	} else if (res != RING_NOT_YET && res != RING_LAPPED && res != -EPROTO) {
		abort();
	}
	/* a buffer one byte short of a record must be refused, not overrun */
	if (res == 0 && got > 8) {
		uint8_t *small = malloc(got - 1);

		if (small && ring_read(r, pos, small, got - 1, &j) != -EMSGSIZE)
			abort();
		free(small);
	}
	free(buf);
	return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct twitch_shm_hdr *h;
	struct ring r;
	uint64_t need, head = 0, oldest, pos;
	size_t map_size;
	uint8_t *mem;
	int n_ok = 0, res;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		map_size = size - 1 < TWITCH_SHM_HEADER_SIZE ? TWITCH_SHM_HEADER_SIZE : size - 1;
		mem = calloc(1, map_size);
		if (mem == NULL)
			return 0;
		memcpy(mem, data + 1, size - 1);
	} else {
		uint32_t slot_size, n_slots;

		if (size < 12)
			return 0;
		slot_size = 64u * (1u + (data[1] & 7u));
		n_slots = 8u << (data[2] & 3u);
		memcpy(&head, data + 3, 8);
		if (ring_layout_size(slot_size, n_slots, &need) < 0)
			abort();
		map_size = (size_t)need;
		mem = calloc(1, map_size);
		if (mem == NULL)
			return 0;
		h = (struct twitch_shm_hdr *)mem;
		h->magic = TWITCH_SHM_MAGIC;
		h->abi_major = TWITCH_SHM_ABI_MAJOR;
		h->header_size = TWITCH_SHM_HEADER_SIZE;
		h->slot_size = slot_size;
		h->n_slots = n_slots;
		h->stream_type = data[2] & 4 ? TWITCH_SHM_STREAM_SAMPLES : TWITCH_SHM_STREAM_EVENTS;
		h->total_size = need;
		strcpy(h->name, "fuzz");
		atomic_store(&h->state, data[11] & 2 ? TWITCH_SHM_STATE_CLOSED :
			     TWITCH_SHM_STATE_LIVE);
		atomic_store(&h->head, head);
		memcpy(mem + TWITCH_SHM_HEADER_SIZE, data + 12,
		       size - 12 < map_size - TWITCH_SHM_HEADER_SIZE ?
		       size - 12 : map_size - TWITCH_SHM_HEADER_SIZE);
		if (data[11] & 1) {
			struct ring w = { .slots = mem + TWITCH_SHM_HEADER_SIZE,
					  .slot_size = slot_size, .n_slots = n_slots,
					  .mask = n_slots - 1 };

			oldest = head > n_slots ? head - n_slots : 0;
			for (pos = oldest; pos < head; pos++)
				atomic_store(&((struct twitch_shm_slot *)(void *)(w.slots +
					(pos & w.mask) * slot_size))->seq, 2 * pos + 2);
		}
	}
	res = ring_attach(mem, map_size, &r);
	if (res == 0) {
		if (r.slot_size < 64 || r.n_slots < TWITCH_SHM_MIN_SLOTS ||
		    TWITCH_SHM_HEADER_SIZE + (uint64_t)r.slot_size * r.n_slots > map_size)
			abort();
		head = ring_head(&r);
		oldest = ring_oldest_safe(&r, head);
		if (oldest > head)
			abort();
		/* what a reader visits: the backlog (64 at most), the head, far off */
		for (pos = head - oldest > 64 ? head - 64 : oldest; pos < head; pos++)
			(void)fuzz_read(&r, pos, &n_ok);
		(void)fuzz_read(&r, head, &n_ok);
		(void)fuzz_read(&r, head + r.n_slots, &n_ok);
		(void)fuzz_read(&r, 0, &n_ok);
		(void)fuzz_read(&r, UINT64_MAX, &n_ok);
		snprintf(fuzz_result, sizeof(fuzz_result), "attached: %u x %u, head %llu, "
			 "%d good records", r.n_slots, r.slot_size, (unsigned long long)head, n_ok);
	} else {
		if (res != -EPROTO && res != -EPROTONOSUPPORT && res != -EAGAIN)
			abort();
		snprintf(fuzz_result, sizeof(fuzz_result), "refused: %s", strerror(-res));
	}
	free(mem);
	return 0;
}

#ifdef FUZZ_STANDALONE
#define FUZZ_NAME	"fuzz-ring"
#include "fuzz-standalone.h"
#endif

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ring.c - seqlock broadcast ring: producer publish, reader copy-then-validate.
 *
 * Memory ordering is Boehm's "Figure 6" seqlock (MSPC 2012): the producer
 * stores the odd mark, a release fence, the payload with relaxed atomic
 * stores and the even mark with release; a reader loads the mark with
 * acquire, the payload with relaxed loads, an acquire fence and the mark
 * again. The payload goes through relaxed atomics word by word so the race
 * a seqlock relies on is not undefined behaviour (and ThreadSanitizer
 * agrees); on x86-64 and ARM64 these are plain loads and stores.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "records.h"
#include "ring.h"

static inline struct twitch_shm_slot *slot_at(const struct ring *r, uint64_t pos)
{
	return (struct twitch_shm_slot *)(r->slots + (size_t)(pos & r->mask) * r->slot_size);
}

int ring_layout_size(uint32_t slot_size, uint32_t n_slots, uint64_t *ret_size)
{
	uint64_t size;

	if (slot_size < TWITCH_SHM_SLOT_ALIGN || slot_size % TWITCH_SHM_SLOT_ALIGN ||
	    slot_size > TWITCH_SHM_MAX_SLOT_SIZE)
		return -EINVAL;
	if (n_slots < TWITCH_SHM_MIN_SLOTS || n_slots > TWITCH_SHM_MAX_SLOTS ||
	    (n_slots & (n_slots - 1)))
		return -EINVAL;
	/* both factors are bounded above, so the product fits in 64 bits */
	size = TWITCH_SHM_HEADER_SIZE + (uint64_t)slot_size * n_slots;
	if (size > TWITCH_SHM_MAX_TOTAL)
		return -EINVAL;
	*ret_size = size;
	return 0;
}

int ring_format(void *mem, size_t size, const struct ring_params *p, struct ring *ret)
{
	struct twitch_shm_hdr *h = mem;
	struct timespec ts;
	uint64_t need;

	if (ring_layout_size(p->slot_size, p->n_slots, &need) < 0 || size < need)
		return -EINVAL;
	if (p->name == NULL || strlen(p->name) >= sizeof(h->name))
		return -EINVAL;

	h->magic = TWITCH_SHM_MAGIC;
	h->abi_major = TWITCH_SHM_ABI_MAJOR;
	h->abi_minor = TWITCH_SHM_ABI_MINOR;
	h->header_size = TWITCH_SHM_HEADER_SIZE;
	h->slot_size = p->slot_size;
	h->n_slots = p->n_slots;
	h->stream_type = p->stream_type;
	h->clock_mono = CLOCK_MONOTONIC;
	h->clock_real = CLOCK_REALTIME;
	h->total_size = need;
	memcpy(h->epoch, p->epoch, sizeof(h->epoch));
	if (p->boot_id)
		memcpy(h->boot_id, p->boot_id, sizeof(h->boot_id));
	h->producer_pid = (uint64_t)getpid();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	h->start_mono_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->start_real_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	h->heartbeat_ms = TWITCH_SHM_HEARTBEAT_MS;
	h->device = p->device;
	strncpy(h->name, p->name, sizeof(h->name) - 1);
	atomic_store_explicit(&h->head, 0, memory_order_relaxed);
	atomic_store_explicit(&h->futex, 0, memory_order_relaxed);
	atomic_store_explicit(&h->heartbeat_mono_ns, h->start_mono_ns, memory_order_relaxed);

	memset(ret, 0, sizeof(*ret));
	ret->hdr = h;
	ret->slots = (uint8_t *)mem + TWITCH_SHM_HEADER_SIZE;
	ret->map_size = size;
	ret->slot_size = p->slot_size;
	ret->n_slots = p->n_slots;
	ret->mask = p->n_slots - 1;
	/* slots are zero: seq 0 < 2p+2 for every p, i.e. "not yet" */

	/* state last, with release: a reader that sees LIVE sees the rest */
	atomic_store_explicit(&h->state, TWITCH_SHM_STATE_LIVE, memory_order_release);
	return 0;
}

void ring_publish(struct ring *r, struct twitch_record_hdr *rec)
{
	struct twitch_shm_slot *s = slot_at(r, r->head);
	const uint64_t *src = (const uint64_t *)rec;
	size_t n_words = ((size_t)rec->size + 7) / 8;
	uint64_t p = r->head;
	size_t i;

	rec->seqno = p;
	atomic_store_explicit(&s->seq, 2 * p + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (i = 0; i < n_words; i++)
		__atomic_store_n(&s->data[i], src[i], __ATOMIC_RELAXED);
	atomic_store_explicit(&s->seq, 2 * p + 2, memory_order_release);
	r->head = p + 1;
	atomic_store_explicit(&r->hdr->head, r->head, memory_order_release);
}

/* Return the number of waiters woken (0 on error: treated as none). */
static uint32_t futex_wake_all(_Atomic uint32_t *word)
{
	/* shared futex: readers in other processes wait on the same page */
	long n = syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);

	return n > 0 ? (uint32_t)n : 0;
}

void ring_flush(struct ring *r)
{
	uint32_t sleepers, woken, gen;
	uint64_t now;

	if (r->flushed == r->head)
		return;
	r->flushed = r->head;
	atomic_fetch_add_explicit(&r->hdr->futex, 1, memory_order_release);
	/*
	 * Dekker pairing with the reader: it increments sleepers, then loads
	 * the futex word; we bump the word, then load sleepers. The full fence
	 * makes sure one of us sees the other's store. A reader between its
	 * check and FUTEX_WAIT is safe either way: the word has changed, so
	 * its FUTEX_WAIT returns at once.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (r->wake == NULL) {
		futex_wake_all(&r->hdr->futex);
		r->n_wakes++;
		return;
	}
	sleepers = atomic_load_explicit(&r->wake->sleepers, memory_order_acquire);
	gen = atomic_load_explicit(&r->wake->gen, memory_order_relaxed);
	if (sleepers < r->stale)
		r->stale = sleepers;	/* a stale sleeper came back */
	if (sleepers == 0)
		return;
	if (sleepers <= r->stale && gen == r->stale_gen) {
		/* only stale sleepers: look at the clock on every 16th flush only,
		 * so a stopped reader costs the producer next to nothing */
		if (++r->stale_flushes % 16)
			return;
		now = record_clock_ns(CLOCK_MONOTONIC);
		if (now - r->last_wake_ns < RING_STALE_WAKE_NS)
			return;
	} else {
		now = record_clock_ns(CLOCK_MONOTONIC);
	}
	woken = futex_wake_all(&r->hdr->futex);
	r->n_wakes++;
	r->last_wake_ns = now;
	r->stale = woken < sleepers ? sleepers - woken : 0;
	r->stale_gen = gen;
}

void ring_heartbeat(struct ring *r, uint64_t now_mono_ns)
{
	atomic_store_explicit(&r->hdr->heartbeat_mono_ns, now_mono_ns, memory_order_release);
}

void ring_close(struct ring *r)
{
	atomic_store_explicit(&r->hdr->state, TWITCH_SHM_STATE_CLOSED, memory_order_release);
	atomic_fetch_add_explicit(&r->hdr->futex, 1, memory_order_release);
	futex_wake_all(&r->hdr->futex);
}

int ring_attach(const void *mem, size_t map_size, struct ring *ret)
{
	const struct twitch_shm_hdr *h = mem;
	uint64_t need;
	uint32_t state;

	if (map_size < TWITCH_SHM_HEADER_SIZE)
		return -EPROTO;
	state = atomic_load_explicit(&h->state, memory_order_acquire);
	if (state == TWITCH_SHM_STATE_INIT)
		return -EAGAIN;
	if (state != TWITCH_SHM_STATE_LIVE && state != TWITCH_SHM_STATE_CLOSED)
		return -EPROTO;
	if (h->magic != TWITCH_SHM_MAGIC)
		return -EPROTO;
	if (h->abi_major != TWITCH_SHM_ABI_MAJOR)
		return -EPROTONOSUPPORT;
	if (h->header_size != TWITCH_SHM_HEADER_SIZE)
		return -EPROTO;
	if (ring_layout_size(h->slot_size, h->n_slots, &need) < 0)
		return -EPROTO;
	if (h->total_size != need || need > map_size)
		return -EPROTO;
	if (memchr(h->name, '\0', sizeof(h->name)) == NULL)
		return -EPROTO;

	memset(ret, 0, sizeof(*ret));
	/* cast away const: the reader side never writes through hdr */
	ret->hdr = (struct twitch_shm_hdr *)(uintptr_t)h;
	ret->slots = (uint8_t *)(uintptr_t)mem + TWITCH_SHM_HEADER_SIZE;
	ret->map_size = map_size;
	ret->slot_size = h->slot_size;
	ret->n_slots = h->n_slots;
	ret->mask = h->n_slots - 1;
	return 0;
}

uint64_t ring_head(const struct ring *r)
{
	return atomic_load_explicit(&r->hdr->head, memory_order_acquire);
}

uint64_t ring_oldest_safe(const struct ring *r, uint64_t head)
{
	/* leave an eighth of the ring as margin for the producer's next writes */
	uint64_t keep = r->n_slots - r->n_slots / 8;

	return head > keep ? head - keep : 0;
}

int ring_read(const struct ring *r, uint64_t pos, void *buf, size_t buf_size,
	      size_t *ret_size)
{
	const struct twitch_shm_slot *s = slot_at(r, pos);
	uint64_t *dst = buf;
	uint64_t want = 2 * pos + 2, s0, s1, first;
	size_t size, n_words, i;
	uint16_t size16;

	s0 = atomic_load_explicit(&s->seq, memory_order_acquire);
	if (s0 < want)
		return RING_NOT_YET;
	if (s0 > want)
		return RING_LAPPED;

	/* the first word holds type, size, device and flags */
	first = __atomic_load_n(&s->data[0], __ATOMIC_RELAXED);
	memcpy(&size16, (const uint8_t *)&first + offsetof(struct twitch_record_hdr, size),
	       sizeof(size16));
	size = size16;
	if (size < sizeof(struct twitch_record_hdr) || size % 8 ||
	    size > ring_max_record(r)) {
		atomic_thread_fence(memory_order_acquire);
		s1 = atomic_load_explicit(&s->seq, memory_order_relaxed);
		return s1 == s0 ? -EPROTO : RING_LAPPED;
	}
	if (size > buf_size) {
		atomic_thread_fence(memory_order_acquire);
		s1 = atomic_load_explicit(&s->seq, memory_order_relaxed);
		return s1 == s0 ? -EMSGSIZE : RING_LAPPED;
	}
	n_words = size / 8;
	dst[0] = first;
	for (i = 1; i < n_words; i++)
		dst[i] = __atomic_load_n(&s->data[i], __ATOMIC_RELAXED);
	atomic_thread_fence(memory_order_acquire);
	s1 = atomic_load_explicit(&s->seq, memory_order_relaxed);
	if (s1 != s0)
		return RING_LAPPED;
	*ret_size = size;
	return 0;
}

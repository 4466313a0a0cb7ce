// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-ring.c - the broadcast ring itself: publish/read, wrap-around, exact
 * lapped counts, torn reads against a concurrent writer thread, hostile
 * headers and records, and the memfd seals that keep readers read-only.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "publish.h"
#include "records.h"
#include "ring.h"

struct fixture {
	void *mem;
	size_t size;
	struct ring w;		/* writer view */
	struct ring r;		/* reader view of the same memory */
};

static const uint8_t epoch[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static struct fixture *fixture_new(uint32_t slot_size, uint32_t n_slots)
{
	struct ring_params p = {
		.slot_size = slot_size, .n_slots = n_slots, .stream_type = TWITCH_SHM_STREAM_TEST,
		.device = UINT32_MAX, .name = "t", .epoch = epoch,
	};
	struct fixture *f = calloc(1, sizeof(*f));
	uint64_t size;

	assert_non_null(f);
	assert_int_equal(ring_layout_size(slot_size, n_slots, &size), 0);
	f->size = (size_t)size;
	f->mem = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->mem != MAP_FAILED);
	assert_int_equal(ring_format(f->mem, f->size, &p, &f->w), 0);
	assert_int_equal(ring_attach(f->mem, f->size, &f->r), 0);
	return f;
}

static void fixture_free(struct fixture *f)
{
	munmap(f->mem, f->size);
	free(f);
}

static void pub_test(struct ring *w)
{
	struct twitch_rec_test t;

	record_init(&t, TWITCH_REC_TEST, sizeof(t), TWITCH_DEVICE_NONE, TWITCH_INDEX_NONE);
	t.check = w->head * 3 + 1;
	ring_publish(w, &t.hdr);
}

static void test_publish_read(void **state)
{
	struct fixture *f = fixture_new(64, 8);
	struct twitch_rec_test t;
	size_t size = 0;

	(void)state;
	assert_int_equal(ring_read(&f->r, 0, &t, sizeof(t), &size), RING_NOT_YET);
	pub_test(&f->w);
	pub_test(&f->w);
	assert_int_equal(ring_head(&f->r), 2);
	assert_int_equal(ring_read(&f->r, 0, &t, sizeof(t), &size), 0);
	assert_int_equal(size, sizeof(t));
	assert_int_equal(t.hdr.seqno, 0);
	assert_int_equal(t.check, 1);
	assert_int_equal(twitch_record_check(&t, size), 0);
	assert_int_equal(ring_read(&f->r, 1, &t, sizeof(t), &size), 0);
	assert_int_equal(t.hdr.seqno, 1);
	assert_int_equal(t.check, 4);
	assert_int_equal(ring_read(&f->r, 2, &t, sizeof(t), &size), RING_NOT_YET);
	fixture_free(f);
}

static void test_wraparound(void **state)
{
	struct fixture *f = fixture_new(64, 8);
	struct twitch_rec_test t;
	uint64_t pos;
	size_t size;

	(void)state;
	/* read in step with the writer across five laps */
	for (pos = 0; pos < 40; pos++) {
		pub_test(&f->w);
		assert_int_equal(ring_read(&f->r, pos, &t, sizeof(t), &size), 0);
		assert_int_equal(t.hdr.seqno, pos);
		assert_int_equal(t.check, pos * 3 + 1);
	}
	/* old positions now report lapped, the next one not yet */
	assert_int_equal(ring_read(&f->r, 31, &t, sizeof(t), &size), RING_LAPPED);
	assert_int_equal(ring_read(&f->r, 32, &t, sizeof(t), &size), 0);
	assert_int_equal(ring_read(&f->r, 40, &t, sizeof(t), &size), RING_NOT_YET);
	fixture_free(f);
}

static void test_lapped_exact_count(void **state)
{
	struct fixture *f = fixture_new(64, 8);
	struct twitch_rec_test t;
	uint64_t pos = 0, lost = 0, got = 0, head, next;
	size_t size;
	int i, res;

	(void)state;
	for (i = 0; i < 20; i++)
		pub_test(&f->w);
	for (;;) {
		res = ring_read(&f->r, pos, &t, sizeof(t), &size);
		if (res == RING_NOT_YET)
			break;
		if (res == RING_LAPPED) {
			head = ring_head(&f->r);
			next = ring_oldest_safe(&f->r, head);
			assert_true(next > pos);
			lost += next - pos;
			pos = next;
			continue;
		}
		assert_int_equal(res, 0);
		assert_int_equal(t.hdr.seqno, pos);
		got++;
		pos++;
	}
	/* 8 slots, margin 1: positions 13..19 survive, 0..12 were lost */
	assert_int_equal(lost, 13);
	assert_int_equal(got, 7);
	assert_int_equal(lost + got, 20);
	fixture_free(f);
}

static void test_record_too_big_for_buffer(void **state)
{
	struct fixture *f = fixture_new(128, 8);
	struct twitch_rec_twitch e;
	struct twitch_record_hdr small;
	size_t size;

	(void)state;
	record_init(&e, TWITCH_REC_TWITCH, sizeof(e), 0, 7);
	ring_publish(&f->w, &e.hdr);
	assert_int_equal(ring_read(&f->r, 0, &small, sizeof(small), &size), -EMSGSIZE);
	assert_int_equal(ring_read(&f->r, 0, &e, sizeof(e), &size), 0);
	assert_int_equal(e.hdr.sample_index, 7);
	fixture_free(f);
}

static void test_bad_headers_rejected(void **state)
{
	struct fixture *f = fixture_new(64, 8);
	struct twitch_shm_hdr *h = f->mem;
	struct ring r;

	(void)state;
	assert_int_equal(ring_attach(f->mem, 100, &r), -EPROTO);	/* truncated */
	assert_int_equal(ring_attach(f->mem, f->size - 64, &r), -EPROTO); /* smaller than total */

	h->magic ^= 1;
	assert_int_equal(ring_attach(f->mem, f->size, &r), -EPROTO);
	h->magic ^= 1;

	h->abi_major = TWITCH_SHM_ABI_MAJOR + 1;
	assert_int_equal(ring_attach(f->mem, f->size, &r), -EPROTONOSUPPORT);
	h->abi_major = TWITCH_SHM_ABI_MAJOR;

	h->n_slots = 12;					/* not a power of two */
	assert_int_equal(ring_attach(f->mem, f->size, &r), -EPROTO);
	h->n_slots = 8;

	h->slot_size = 65;
	assert_int_equal(ring_attach(f->mem, f->size, &r), -EPROTO);
	h->slot_size = 64;

	h->total_size += 64;
	assert_int_equal(ring_attach(f->mem, f->size, &r), -EPROTO);
	h->total_size -= 64;

	memset(h->name, 'x', sizeof(h->name));			/* no NUL */
	assert_int_equal(ring_attach(f->mem, f->size, &r), -EPROTO);
	h->name[0] = '\0';

	atomic_store(&h->state, 7);
	assert_int_equal(ring_attach(f->mem, f->size, &r), -EPROTO);
	atomic_store(&h->state, TWITCH_SHM_STATE_INIT);
	assert_int_equal(ring_attach(f->mem, f->size, &r), -EAGAIN);
	atomic_store(&h->state, TWITCH_SHM_STATE_LIVE);

	assert_int_equal(ring_attach(f->mem, f->size, &r), 0);
	fixture_free(f);
}

static void test_corrupt_record_length(void **state)
{
	struct fixture *f = fixture_new(64, 8);
	struct twitch_shm_slot *s;
	uint8_t buf[64];
	uint16_t bad;
	size_t size;

	(void)state;
	pub_test(&f->w);
	s = (struct twitch_shm_slot *)f->w.slots;
	/* a record claiming more bytes than the slot has */
	bad = 4000;
	memcpy((uint8_t *)s->data + offsetof(struct twitch_record_hdr, size), &bad, 2);
	assert_int_equal(ring_read(&f->r, 0, buf, sizeof(buf), &size), -EPROTO);
	bad = 12;	/* not a multiple of 8, smaller than a header */
	memcpy((uint8_t *)s->data + offsetof(struct twitch_record_hdr, size), &bad, 2);
	assert_int_equal(ring_read(&f->r, 0, buf, sizeof(buf), &size), -EPROTO);
	fixture_free(f);
}

/* ---- torn reads: a writer thread laps a tiny ring while a reader copies */

/* bounds in counts, not time: the writer stops when the reader has enough */
#define TORN_MAX_NS 20000000000ull	/* the writer gives up after 20 s */
#define TORN_WANT_VALID 200000u

struct torn {
	struct fixture *f;
	_Atomic int done;
	_Atomic int stop;
};

/* A record whose every payload word is derived from its seqno. */
struct fat {
	struct twitch_record_hdr hdr;
	uint64_t w[9];
};

static void *torn_writer(void *arg)
{
	struct torn *t = arg;
	struct timespec ts;
	struct fat r;
	uint64_t i, t0;
	uint32_t k;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	/*
	 * Until the reader has validated enough, not a fixed count: on a loaded
	 * machine the reader may get little CPU while the writer runs, and a
	 * count the writer finishes first made this test depend on scheduling.
	 */
	for (i = 0; !atomic_load_explicit(&t->stop, memory_order_relaxed); i++) {
		if ((i & 0xffff) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			if ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - t0 >
			    TORN_MAX_NS)
				break;
		}
		memset(&r, 0, sizeof(r));
		r.hdr.type = TWITCH_REC_TEST;
		r.hdr.size = sizeof(r);
		for (k = 0; k < 9; k++)
			r.w[k] = (t->f->w.head + 1) * (k + 1);
		ring_publish(&t->f->w, &r.hdr);
	}
	atomic_store(&t->done, 1);
	return NULL;
}

static void test_torn_read_retry(void **state)
{
	struct torn t = { .f = fixture_new(128, 8) };
	uint64_t pos = 0, ok = 0, lapped = 0;
	pthread_t th;
	struct fat r;
	size_t size;
	int res, k;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, torn_writer, &t), 0);
	for (;;) {
		res = ring_read(&t.f->r, pos, &r, sizeof(r), &size);
		if (res == RING_NOT_YET) {
			if (atomic_load(&t.done) && pos >= ring_head(&t.f->r))
				break;
			continue;
		}
		if (res == RING_LAPPED) {
			lapped++;
			pos = ring_oldest_safe(&t.f->r, ring_head(&t.f->r));
			continue;
		}
		assert_int_equal(res, 0);
		assert_int_equal(size, sizeof(r));
		assert_int_equal(r.hdr.seqno, pos);
		/* a torn copy would mix words of two laps */
		for (k = 0; k < 9; k++)
			assert_int_equal(r.w[k], (pos + 1) * (uint64_t)(k + 1));
		ok++;
		pos++;
		if (ok == TORN_WANT_VALID)
			atomic_store(&t.stop, 1);
	}
	pthread_join(th, NULL);
	print_message("torn: %llu validated, %llu lapped resyncs\n",
		      (unsigned long long)ok, (unsigned long long)lapped);
	assert_true(ok >= 1000);
	fixture_free(t.f);
}

/* ---- the sealed memfd: a reader cannot write, map writable or truncate */

static void test_memfd_is_read_only_for_readers(void **state)
{
	struct publisher p = PUBLISHER_NULL;
	struct ring *w;
	struct stat st;
	char path[64];
	void *ro, *rw;
	int fd, fd2, seals;

	(void)state;
	assert_int_equal(publisher_init(&p), 0);
	assert_int_equal(publisher_add_ring(&p, "events", TWITCH_SHM_STREAM_EVENTS, UINT32_MAX,
					    256, 64, &w), 0);
	fd = p.rings[0].fd;
	seals = fcntl(fd, F_GET_SEALS);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_true(seals & F_SEAL_FUTURE_WRITE);
	assert_true(seals & F_SEAL_SEAL);
	assert_int_equal(fstat(fd, &st), 0);

	rw = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(rw == MAP_FAILED);
	assert_int_equal(errno, EPERM);

	ro = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(ro != MAP_FAILED);
	assert_int_equal(mprotect(ro, 4096, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);

	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, st.st_size * 2), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, 0), -1);	/* seals are frozen */

	/* reopening through /proc gives no way around the seals */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd2 = open(path, O_RDWR | O_CLOEXEC);
	if (fd2 >= 0) {
		rw = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
		assert_true(rw == MAP_FAILED);
		close(fd2);
	}

	/* the producer's own mapping still works and readers see it */
	pub_test(w);
	assert_int_equal(ring_head(w), 1);
	assert_int_equal(((const struct twitch_shm_hdr *)ro)->magic, TWITCH_SHM_MAGIC);
	munmap(ro, (size_t)st.st_size);
	publisher_deinit(&p);
	publisher_deinit(&p);	/* twice is safe */
}

/* A sleeper that was stopped or killed costs one wake per 10 ms, not per batch. */
static void test_stale_sleeper_is_not_woken_per_batch(void **state)
{
	struct fixture *f = fixture_new(64, 8);
	struct twitch_wake_line line = { 0 };
	struct timespec ts = { 0, 12000000 };
	int i;

	(void)state;
	f->w.wake = &line;
	pub_test(&f->w);
	ring_flush(&f->w);
	assert_int_equal(f->w.n_wakes, 0);		/* nobody sleeps: no syscall */

	atomic_store(&line.sleepers, 1);		/* counted, but in no FUTEX_WAIT */
	atomic_store(&line.gen, 1);
	pub_test(&f->w);
	ring_flush(&f->w);
	assert_int_equal(f->w.n_wakes, 1);		/* woke nobody: now known stale */
	pub_test(&f->w);
	ring_flush(&f->w);
	pub_test(&f->w);
	ring_flush(&f->w);
	assert_int_equal(f->w.n_wakes, 1);		/* skipped */
	ring_flush(&f->w);				/* nothing new: never a wake */
	assert_int_equal(f->w.n_wakes, 1);

	atomic_store(&line.gen, 2);			/* someone went to sleep anew */
	pub_test(&f->w);
	ring_flush(&f->w);
	assert_int_equal(f->w.n_wakes, 2);

	nanosleep(&ts, NULL);		/* the periodic wake still happens, exactly once */
	for (i = 0; i < 16; i++) {	/* within 16 flushes (the clock is read every 16th) */
		pub_test(&f->w);
		ring_flush(&f->w);
	}
	assert_int_equal(f->w.n_wakes, 3);

	atomic_store(&line.sleepers, 0);		/* the stale one came back */
	pub_test(&f->w);
	ring_flush(&f->w);
	atomic_store(&line.sleepers, 1);
	pub_test(&f->w);
	ring_flush(&f->w);
	assert_int_equal(f->w.n_wakes, 4);		/* a new sleeper is woken at once */
	fixture_free(f);
}

static void test_layout_limits(void **state)
{
	uint64_t size;

	(void)state;
	assert_int_equal(ring_layout_size(64, 8, &size), 0);
	assert_int_equal(size, 4096 + 512);
	assert_int_equal(ring_layout_size(32, 8, &size), -EINVAL);
	assert_int_equal(ring_layout_size(64, 4, &size), -EINVAL);
	assert_int_equal(ring_layout_size(64, 1000, &size), -EINVAL);
	assert_int_equal(ring_layout_size(TWITCH_SHM_MAX_SLOT_SIZE, TWITCH_SHM_MAX_SLOTS, &size),
			 -EINVAL);	/* 16 TiB: over the total limit, no overflow */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_read),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_lapped_exact_count),
		cmocka_unit_test(test_record_too_big_for_buffer),
		cmocka_unit_test(test_bad_headers_rejected),
		cmocka_unit_test(test_corrupt_record_length),
		cmocka_unit_test(test_torn_read_retry),
		cmocka_unit_test(test_memfd_is_read_only_for_readers),
		cmocka_unit_test(test_stale_sleeper_is_not_woken_per_batch),
		cmocka_unit_test(test_layout_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

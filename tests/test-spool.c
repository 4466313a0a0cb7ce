// SPDX-License-Identifier: MIT
/*
 * test-spool.c - twitch-mqtt's on-disk spool: order, payloads, per-topic
 * numbering, out-of-order acks, rewind, reopen, the size bound, recovery
 * of torn and corrupt files, the lock, the in-flight limit and a long run
 * with random ack order. Includes mqtt-spool.c to reach its statics. Each
 * test works in its own mkdtemp() directory and removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../clients/mqtt-spool.c"

struct fx {
	char tmp[256];		/* the mkdtemp() directory */
	char dir[300];		/* the spool: tmp/q, created by spool_open() */
	char err[512];
};

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "%s/test-spool-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/q", f->tmp);
	spool_max_inflight = SPOOL_MAX_INFLIGHT;
	*state = f;
	return 0;
}

static void rm_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rm_dir(f->dir);
	rm_dir(f->tmp);
	free(f);
	spool_max_inflight = SPOOL_MAX_INFLIGHT;
	return 0;
}

static struct spool *open_ok(struct fx *f, uint64_t max_bytes)
{
	struct spool *s = NULL;

	assert_int_equal(spool_open(f->dir, max_bytes, &s, f->err, sizeof(f->err)), 0);
	assert_non_null(s);
	return s;
}

/* A payload that says which message it is. */
static uint32_t fill(char *buf, uint64_t id, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (char)((id * 131 + i * 7) & 0xff);
	return len;
}

static void check_msg(const struct spool_msg *m, uint64_t id, uint32_t len)
{
	char want[SPOOL_MAX_PAYLOAD];

	assert_int_equal(m->id, id);
	assert_int_equal(m->len, len);
	fill(want, id, len);
	assert_memory_equal(m->payload, want, len);
}

static void append_n(struct spool *s, unsigned int topic, uint64_t first_id, int n, uint32_t len)
{
	char buf[SPOOL_MAX_PAYLOAD];

	for (int i = 0; i < n; i++) {
		fill(buf, first_id + (uint64_t)i, len);
		assert_int_equal(spool_append(s, topic, 0, 1000 + first_id + (uint64_t)i, buf, len), 0);
	}
}

static uint64_t send_one(struct spool *s)
{
	struct spool_msg m;

	assert_int_equal(spool_peek(s, &m), 1);
	spool_advance(s);
	return m.id;
}

static int count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strlen(de->d_name) == 20 && strstr(de->d_name, ".seg");
	closedir(d);
	return n;
}

static void test_in_order(void **state)
{
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);
	struct spool_stats st;
	struct spool_msg m;

	assert_string_equal(f->err, "");
	append_n(s, 0, 1, 10, 20);
	assert_int_equal(spool_peek(s, &m), 0);		/* not flushed yet */
	assert_int_equal(spool_flush(s), 0);
	for (uint64_t id = 1; id <= 10; id++) {
		assert_int_equal(spool_peek(s, &m), 1);
		assert_int_equal(spool_peek(s, &m), 1);	/* peek alone does not move */
		check_msg(&m, id, 20);
		assert_int_equal(m.tseq, id);
		assert_int_equal(m.user, 1000 + id);
		spool_advance(s);
	}
	assert_int_equal(spool_peek(s, &m), 0);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked, 10);
	assert_int_equal(st.unsent, 0);
	assert_int_equal(st.appended, 10);
	assert_int_equal(st.n_segments, 1);
	for (uint64_t id = 1; id <= 10; id++)
		assert_int_equal(spool_ack(s, id), 0);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked, 0);
	assert_int_equal(st.n_segments, 0);		/* all acked: deleted */
	assert_int_equal(st.bytes, 0);
	assert_int_equal(count_segments(f->dir), 0);
	assert_int_equal(spool_last_user(s), 1010);
	assert_null(spool_close(s));
	assert_null(spool_close(NULL));
}

static void test_payload_round_trip(void **state)
{
	static const uint32_t lens[] = { 0, 1, 7, 8, 9, 63, 1000, 4095, SPOOL_MAX_PAYLOAD };
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);
	char buf[SPOOL_MAX_PAYLOAD];
	struct spool_msg m;
	size_t n = sizeof(lens) / sizeof(lens[0]);

	for (size_t i = 0; i < n; i++) {
		fill(buf, i + 1, lens[i]);
		assert_int_equal(spool_append(s, (unsigned int)i % SPOOL_TOPICS,
					      i & 1 ? SPOOL_F_RETAIN : 0, ~(uint64_t)i,
					      lens[i] ? buf : NULL, lens[i]), 0);
	}
	assert_int_equal(spool_flush(s), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(spool_peek(s, &m), 1);
		check_msg(&m, i + 1, lens[i]);
		assert_int_equal(m.topic, i % SPOOL_TOPICS);
		assert_int_equal(m.flags, i & 1 ? SPOOL_F_RETAIN : 0);
		assert_true(m.user == ~(uint64_t)i);
		spool_advance(s);
	}
	spool_close(s);

	/* the same bytes come back from a fresh open (read from disk, CRC checked) */
	s = open_ok(f, 1 << 20);
	assert_string_equal(f->err, "");
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(spool_peek(s, &m), 1);
		check_msg(&m, i + 1, lens[i]);
		spool_advance(s);
	}
	spool_close(s);
}

static void test_tseq_per_topic(void **state)
{
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);
	static const unsigned int topics[] = { 0, 3, 0, 7, 3, 3, 0, 7 };
	static const uint64_t want[] = { 1, 1, 2, 1, 2, 3, 3, 2 };
	struct spool_msg m;

	for (unsigned int t = 0; t < SPOOL_TOPICS; t++)
		assert_int_equal(spool_next_tseq(s, t), 1);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(spool_next_tseq(s, topics[i]), want[i]);
		assert_int_equal(spool_append(s, topics[i], 0, 0, "x", 1), 0);
	}
	assert_int_equal(spool_next_tseq(s, 0), 4);
	assert_int_equal(spool_next_tseq(s, 3), 4);
	assert_int_equal(spool_next_tseq(s, 7), 3);
	assert_int_equal(spool_next_tseq(s, 1), 1);
	assert_int_equal(spool_flush(s), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(spool_peek(s, &m), 1);
		assert_int_equal(m.id, i + 1);
		assert_int_equal(m.topic, topics[i]);
		assert_int_equal(m.tseq, want[i]);
		spool_advance(s);
	}
	spool_close(s);
}

static void test_out_of_order_acks(void **state)
{
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);
	struct spool_stats st;

	append_n(s, 0, 1, 12, 10);
	assert_int_equal(spool_flush(s), 0);
	for (int i = 0; i < 10; i++)
		send_one(s);
	assert_int_equal(spool_ack(s, 11), -ENOENT);	/* never sent */
	assert_int_equal(spool_ack(s, 0), -ENOENT);
	assert_int_equal(spool_ack(s, 3), 0);
	assert_int_equal(spool_ack(s, 5), 0);
	assert_int_equal(spool_ack(s, 4), 0);
	assert_int_equal(spool_ack(s, 4), -ENOENT);	/* already acked */
	assert_int_equal(s->floor, 1);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked, 7);
	assert_int_equal(st.unsent, 2);
	assert_int_equal(spool_ack(s, 1), 0);
	assert_int_equal(s->floor, 2);
	assert_int_equal(spool_ack(s, 2), 0);
	assert_int_equal(s->floor, 6);			/* over 3, 4, 5 */
	assert_int_equal(spool_ack(s, 2), -ENOENT);	/* below the floor */
	assert_int_equal(spool_ack(s, 10), 0);
	assert_int_equal(spool_ack(s, 7), 0);
	assert_int_equal(s->floor, 6);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked, 3);		/* 6, 8, 9 */
	assert_int_equal(spool_ack(s, 6), 0);
	assert_int_equal(s->floor, 8);
	spool_close(s);
}

static void test_rewind(void **state)
{
	static const uint64_t again[] = { 1, 3, 5, 7, 8, 9, 10, 11, 12 };
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);
	struct spool_stats st;
	struct spool_msg m;

	append_n(s, 1, 1, 12, 16);
	assert_int_equal(spool_flush(s), 0);
	for (int i = 0; i < 10; i++)
		send_one(s);
	assert_int_equal(spool_ack(s, 2), 0);
	assert_int_equal(spool_ack(s, 4), 0);
	assert_int_equal(spool_ack(s, 6), 0);
	spool_rewind(s);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked, 0);
	assert_int_equal(st.unsent, 9);
	for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++) {
		assert_int_equal(spool_peek(s, &m), 1);
		check_msg(&m, again[i], 16);
		spool_advance(s);
	}
	assert_int_equal(spool_peek(s, &m), 0);
	for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++)
		assert_int_equal(spool_ack(s, again[i]), 0);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked + st.unsent, 0);
	assert_int_equal(st.n_segments, 0);
	spool_close(s);
}

/*
 * User values belong to the tag they were appended under: a new tag forgets
 * them, also across a reopen while older messages are still on disk (the
 * bridge must not resume a new daemon epoch at an old epoch's position).
 */
static void test_tag_resets_user(void **state)
{
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);

	assert_int_equal(spool_set_tag(s, "epoch-1"), 0);
	append_n(s, 0, 1, 3, 30);
	assert_int_equal(spool_last_user(s), 1003);
	assert_int_equal(spool_flush(s), 0);
	assert_int_equal(spool_set_tag(s, "epoch-1"), 0);	/* same tag: kept */
	assert_int_equal(spool_last_user(s), 1003);
	assert_int_equal(spool_set_tag(s, "epoch-2"), 0);
	assert_int_equal(spool_last_user(s), 0);
	spool_close(s);
	s = open_ok(f, 1 << 20);
	assert_string_equal(spool_tag(s), "epoch-2");
	assert_int_equal(spool_last_user(s), 0);
	append_n(s, 0, 4, 1, 30);
	assert_int_equal(spool_flush(s), 0);
	spool_close(s);
	s = open_ok(f, 1 << 20);
	assert_int_equal(spool_last_user(s), 1004);
	spool_close(s);
}

static void test_reopen(void **state)
{
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);
	struct spool_stats st;
	struct spool_msg m;

	assert_int_equal(spool_set_tag(s, "epoch-42"), 0);
	assert_int_equal(spool_set_tag(s, "x123456789x123456789x123456789x123456789x1234567"),
			 -EINVAL);
	append_n(s, 2, 1, 3, 30);
	append_n(s, 5, 4, 2, 30);
	assert_int_equal(spool_flush(s), 0);
	for (int i = 0; i < 3; i++)
		send_one(s);
	assert_int_equal(spool_ack(s, 1), 0);
	assert_int_equal(spool_ack(s, 3), 0);
	spool_close(s);

	s = open_ok(f, 1 << 20);
	assert_string_equal(f->err, "");
	assert_true(s->was_clean);
	assert_string_equal(spool_tag(s), "epoch-42");
	assert_int_equal(spool_last_user(s), 1005);
	assert_int_equal(spool_next_tseq(s, 2), 4);
	assert_int_equal(spool_next_tseq(s, 5), 3);
	spool_get_stats(s, &st);
	/* only the floor is kept: 3, acked above it, comes again (QoS 1) */
	assert_int_equal(st.unsent, 4);
	assert_int_equal(st.appended, 0);
	assert_int_equal(spool_peek(s, &m), 1);
	check_msg(&m, 2, 30);
	assert_int_equal(m.tseq, 2);
	spool_advance(s);
	assert_int_equal(spool_next_id(s), 6);		/* ids continue */
	append_n(s, 2, 6, 1, 30);
	assert_int_equal(spool_flush(s), 0);
	while (spool_peek(s, &m) == 1) {
		spool_advance(s);
		if (m.id == 6)
			assert_int_equal(m.tseq, 4);
	}
	for (uint64_t id = 2; id <= 6; id++)
		spool_ack(s, id);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked + st.unsent, 0);
	assert_int_equal(st.n_segments, 0);
	spool_close(s);
	assert_int_equal(count_segments(f->dir), 0);

	/* nothing left on disk but the state: numbers still go on */
	s = open_ok(f, 1 << 20);
	assert_int_equal(spool_next_tseq(s, 2), 5);
	assert_int_equal(spool_next_tseq(s, 5), 3);
	assert_int_equal(spool_last_user(s), 1006);
	assert_int_equal(spool_next_id(s), 7);
	assert_string_equal(spool_tag(s), "epoch-42");
	append_n(s, 5, 7, 1, 30);
	assert_int_equal(spool_flush(s), 0);
	assert_int_equal(spool_peek(s, &m), 1);
	check_msg(&m, 7, 30);
	assert_int_equal(m.tseq, 3);
	spool_close(s);
}

static void test_size_bound(void **state)
{
	struct fx *f = *state;
	const uint64_t max = 256 * 1024;	/* segments of 64 KiB */
	struct spool *s = open_ok(f, max);
	struct spool_stats st;
	uint64_t first = 0, last = 0, n;
	struct spool_msg m;
	char buf[1000];

	/*
	 * 8 sent, 1..4 acked: 5..8 are with the MQTT client, which still
	 * delivers them, so they are forgotten, not counted; lost is 9..X
	 */
	for (uint64_t id = 1; id <= 1000; id++) {
		fill(buf, id, sizeof(buf));
		assert_int_equal(spool_append(s, 0, 0, id, buf, sizeof(buf)), 0);
		spool_get_stats(s, &st);
		assert_true(st.bytes <= max);
		if (id == 10) {
			assert_int_equal(spool_flush(s), 0);
			for (int i = 0; i < 8; i++)
				send_one(s);
			for (uint64_t a = 1; a <= 4; a++)
				assert_int_equal(spool_ack(s, a), 0);
		}
	}
	assert_int_equal(spool_flush(s), 0);
	spool_get_stats(s, &st);
	assert_true(st.bytes <= max);
	assert_true(st.dropped > 0);
	assert_int_equal(st.dropped, 1000 - 8 - st.unsent - st.unacked);
	assert_int_equal(st.unacked, 0);		/* 5..8 were in a dropped segment */
	n = spool_take_dropped(s, &first, &last);
	assert_int_equal(n, st.dropped);
	assert_int_equal(first, 9);
	assert_int_equal(last, 1000 - st.unsent);
	assert_int_equal(spool_take_dropped(s, &first, &last), 0);
	assert_int_equal(spool_ack(s, 6), -ENOENT);	/* dropped */
	assert_int_equal(spool_peek(s, &m), 1);	/* the oldest survivor */
	check_msg(&m, last + 1, sizeof(buf));
	spool_close(s);

	/* the total survives a reopen, the per-call count does not repeat */
	s = open_ok(f, max);
	spool_get_stats(s, &st);
	assert_int_equal(st.dropped, n);
	assert_true(st.bytes <= max);
	assert_int_equal(spool_take_dropped(s, NULL, NULL), 0);
	spool_close(s);
}

static void corrupt_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void test_torn_and_corrupt(void **state)
{
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);	/* segments of 64 KiB */
	const uint64_t msz = MSG_HDR + 1000;	/* 1040, a multiple of 8 */
	uint64_t seg2, seg3, id, end;
	char p2[400], p3[400];
	struct spool_stats st;
	struct spool_msg m;
	struct stat sb;

	append_n(s, 4, 1, 150, 1000);		/* three segments */
	spool_close(s);
	s = open_ok(f, 1 << 20);
	assert_int_equal(s->n_segs, 3);
	seg2 = s->segs[1].first;
	seg3 = s->segs[2].first;
	end = s->segs[2].end;
	spool_close(s);

	snprintf(p2, sizeof(p2), "%s/%016llx.seg", f->dir, (unsigned long long)seg2);
	snprintf(p3, sizeof(p3), "%s/%016llx.seg", f->dir, (unsigned long long)seg3);
	/* segment 2: a byte of the payload of its 6th message */
	corrupt_byte(p2, (off_t)(5 * msz + MSG_HDR + 100));
	/* segment 3: torn in the middle of its last message */
	assert_int_equal(stat(p3, &sb), 0);
	assert_int_equal(truncate(p3, sb.st_size - 500), 0);

	s = open_ok(f, 1 << 20);
	assert_non_null(strstr(f->err, p2 + strlen(f->dir) + 1));
	assert_non_null(strstr(f->err, p3 + strlen(f->dir) + 1));
	assert_non_null(strstr(f->err, "offset 5200, cut"));
	assert_null(strchr(f->err, '\n'));
	assert_int_equal(stat(p2, &sb), 0);
	assert_int_equal(sb.st_size, 5 * msz);
	/* every message before the damage, in order, byte-exact */
	for (id = 1; id < end - 1; id++) {
		if (id == seg2 + 5)
			id = seg3;
		assert_int_equal(spool_peek(s, &m), 1);
		check_msg(&m, id, 1000);
		spool_advance(s);
	}
	assert_int_equal(spool_peek(s, &m), 0);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked, (seg2 + 5 - 1) + (end - 1 - seg3));
	/* ids are never reused: the next one follows the last ever flushed */
	append_n(s, 4, end, 1, 1000);
	assert_int_equal(spool_flush(s), 0);
	assert_int_equal(spool_peek(s, &m), 1);
	check_msg(&m, end, 1000);
	assert_int_equal(m.tseq, end);
	spool_advance(s);
	/* acking everything, holes and all, empties the spool */
	for (id = 1; id <= end; id++)
		spool_ack(s, id);
	spool_get_stats(s, &st);
	assert_int_equal(st.unacked + st.unsent, 0);
	assert_int_equal(st.n_segments, 0);
	spool_close(s);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void test_garbage_files(void **state)
{
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20);
	char junk[3000], path[400];
	struct spool_msg m;

	append_n(s, 0, 1, 5, 100);
	spool_close(s);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 37 + 11);
	write_file(f->dir, "00000000000000a0.seg", junk, sizeof(junk));
	write_file(f->dir, "notes.txt", junk, 10);
	write_file(f->dir, "0000000000000001.seg.bak", junk, 10);
	write_file(f->dir, "state", junk, 160);		/* corrupt state */

	s = open_ok(f, 1 << 20);
	assert_non_null(strstr(f->err, "00000000000000a0.seg: corrupt message at offset 0, cut 3000"));
	assert_non_null(strstr(f->err, "state"));
	snprintf(path, sizeof(path), "%s/notes.txt", f->dir);
	assert_int_equal(access(path, F_OK), 0);	/* not ours: left alone */
	snprintf(path, sizeof(path), "%s/00000000000000a0.seg", f->dir);
	assert_int_equal(access(path, F_OK), -1);
	for (uint64_t id = 1; id <= 5; id++) {
		assert_int_equal(spool_peek(s, &m), 1);
		check_msg(&m, id, 100);
		spool_advance(s);
	}
	assert_int_equal(spool_peek(s, &m), 0);
	/* rebuilt from the segment: numbers continue */
	assert_int_equal(spool_next_tseq(s, 0), 6);
	append_n(s, 0, 6, 1, 100);
	assert_int_equal(spool_flush(s), 0);
	assert_int_equal(spool_peek(s, &m), 1);
	check_msg(&m, 6, 100);
	spool_close(s);
}

static void test_busy_and_invalid(void **state)
{
	struct fx *f = *state;
	struct spool *s = open_ok(f, 1 << 20), *s2 = NULL;
	char big[SPOOL_MAX_PAYLOAD + 1];
	struct spool_stats st;

	assert_int_equal(spool_open(f->dir, 1 << 20, &s2, f->err, sizeof(f->err)), -EBUSY);
	assert_null(s2);
	assert_non_null(strstr(f->err, f->dir));
	memset(big, 'a', sizeof(big));
	assert_int_equal(spool_append(s, SPOOL_TOPICS, 0, 0, "x", 1), -EINVAL);
	assert_int_equal(spool_append(s, 0, 0, 0, big, SPOOL_MAX_PAYLOAD + 1), -EINVAL);
	assert_int_equal(spool_append(s, 0, 0x100, 0, "x", 1), -EINVAL);
	assert_int_equal(spool_append(s, 0, 0, 0, NULL, 1), -EINVAL);
	assert_int_equal(spool_append(s, 0, 0, 0, big, SPOOL_MAX_PAYLOAD), 0);
	spool_get_stats(s, &st);
	assert_int_equal(st.appended, 1);
	spool_close(s);

	/* released at close */
	s = open_ok(f, 1 << 20);
	spool_close(s);
	assert_int_equal(spool_open(f->dir, 1000, &s2, f->err, sizeof(f->err)), -EINVAL);
	assert_int_equal(spool_open("/proc/version/q", 1 << 20, &s2, f->err,
				    sizeof(f->err)), -ENOTDIR);
	assert_non_null(strstr(f->err, "spool /proc/version/q: "));
	assert_null(s2);
}

static void test_inflight_limit(void **state)
{
	struct fx *f = *state;
	struct spool *s;
	struct spool_msg m;

	spool_max_inflight = 8;
	s = open_ok(f, 1 << 20);
	append_n(s, 0, 1, 20, 8);
	assert_int_equal(spool_flush(s), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(send_one(s), i + 1);
	assert_int_equal(spool_peek(s, &m), 0);
	assert_int_equal(spool_ack(s, 3), 0);
	/* the limit is a span past the floor: 1 still holds it */
	assert_int_equal(spool_peek(s, &m), 0);
	assert_int_equal(spool_ack(s, 1), 0);
	assert_int_equal(send_one(s), 9);
	assert_int_equal(spool_peek(s, &m), 0);
	assert_int_equal(spool_ack(s, 2), 0);		/* floor 4 */
	assert_int_equal(send_one(s), 10);
	assert_int_equal(send_one(s), 11);
	assert_int_equal(spool_peek(s, &m), 0);
	/* a rewind hands out the same window again */
	spool_rewind(s);
	for (uint64_t id = 4; id <= 11; id++)
		assert_int_equal(send_one(s), id);
	assert_int_equal(spool_peek(s, &m), 0);
	spool_close(s);
}

/* xorshift64: reproducible randomness */
static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void test_long_run(void **state)
{
	enum { N = 200000, OUT_MAX = 4096 };
	struct fx *f = *state;
	struct spool *s = open_ok(f, 4 << 20);
	uint64_t *out = malloc(OUT_MAX * sizeof(*out));
	uint64_t *tseq_of = calloc(N + 1, sizeof(*tseq_of));
	unsigned char *acked = calloc(N + 1, 1);
	uint64_t next_tseq[SPOOL_TOPICS], appended = 0, n_acked = 0, last_sent = 0;
	size_t n_out = 0;
	struct spool_stats st;
	struct spool_msg m;
	char buf[64];
	int round = 0;

	assert_non_null(out);
	assert_non_null(tseq_of);
	assert_non_null(acked);
	for (int t = 0; t < SPOOL_TOPICS; t++)
		next_tseq[t] = 1;
	while (n_acked < N) {
		uint64_t batch = rnd() % 100;

		round++;
		for (uint64_t i = 0; i < batch && appended < N; i++) {
			unsigned int t = (unsigned int)(rnd() % SPOOL_TOPICS);
			uint32_t len = (uint32_t)(rnd() % sizeof(buf));

			appended++;
			tseq_of[appended] = next_tseq[t]++;
			fill(buf, appended, len);
			assert_int_equal(spool_append(s, t, 0, appended, buf, len), 0);
		}
		assert_int_equal(spool_flush(s), 0);
		while (n_out < OUT_MAX && spool_peek(s, &m) == 1) {
			assert_true(m.id > last_sent);		/* in order */
			assert_false(acked[m.id]);
			assert_int_equal(m.tseq, tseq_of[m.id]);
			assert_int_equal(m.user, m.id);
			check_msg(&m, m.id, m.len);
			last_sent = m.id;
			spool_advance(s);
			out[n_out++] = m.id;
			if (rnd() % 64 == 0)
				break;
		}
		/* ack a random part of what is outstanding, in random order */
		for (uint64_t k = rnd() % (n_out + 1); k > 0 && n_out; k--) {
			size_t j = (size_t)(rnd() % n_out);

			assert_int_equal(spool_ack(s, out[j]), 0);
			acked[out[j]] = 1;
			n_acked++;
			out[j] = out[--n_out];
		}
		if (round % 97 == 0) {		/* the connection drops */
			spool_rewind(s);
			n_out = 0;
			last_sent = 0;
		}
		if (round % 401 == 0) {		/* the bridge restarts */
			spool_close(s);
			s = open_ok(f, 4 << 20);
			assert_string_equal(f->err, "");
			/* acks above the floor are not kept: those come again */
			for (uint64_t id = s->floor; id <= appended; id++)
				if (acked[id]) {
					acked[id] = 0;
					n_acked--;
				}
			n_out = 0;
			last_sent = 0;
		}
		spool_get_stats(s, &st);
		assert_int_equal(st.unacked, n_out);
		assert_int_equal(st.unsent + st.unacked, appended - n_acked);
		assert_int_equal(st.dropped, 0);	/* sending keeps up */
		assert_true(st.bytes <= 4 << 20);
	}
	spool_get_stats(s, &st);
	assert_int_equal(st.n_segments, 0);
	assert_int_equal(spool_next_tseq(s, 0), next_tseq[0]);
	spool_close(s);
	free(out);
	free(tseq_of);
	free(acked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tseq_per_topic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_acks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_resets_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_and_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_run, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

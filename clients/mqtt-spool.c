/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt-spool.c - twitch-mqtt's bounded on-disk spool (see mqtt-spool.h).
 *
 * Message header, 40 bytes, little-endian, at an 8-byte aligned offset:
 *   0 u32 magic "TMQ1"	 4 u32 crc32c	 8 u32 len	12 u8 topic
 *  13 u8 flags		14 u16 reserved 0	16 u64 id	24 u64 tseq
 *  32 u64 user
 * then @len payload bytes, zero-padded to a multiple of 8. The CRC-32C
 * (Castagnoli) covers header bytes 8..39 and the payload.
 *
 * State file "state", STATE_SIZE bytes, little-endian:
 *   0 u32 magic "TMQS"	 4 u32 crc32c of bytes 8..	 8 u32 version
 *  12 u32 clean (1: written by spool_close)	16 u64 ack floor
 *  24 u64 next id	32 u64 dropped total	40 u64 next tseq[8]
 * 104 char tag[48] (NUL-padded)	152 u64 last user value  160 u64 first id under the tag
 * The counters it records are those of the last complete flush: a message
 * still in the write buffer was never handed out, so reusing its id and
 * tseq after a crash is harmless, and recording only what is on disk keeps
 * the id sequence free of holes in the common case.
 *
 * Ids in the spool are dense inside a segment; between segments there may
 * be holes (ids that were on disk once but recovery had to cut off): they
 * are never handed out, never acknowledged and never counted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqtt-spool.h"

#define MSG_MAGIC	0x31514d54u	/* "TMQ1" */
#define MSG_HDR		40u
#define MSG_MAX		(MSG_HDR + SPOOL_MAX_PAYLOAD)
#define STATE_MAGIC	0x53514d54u	/* "TMQS" */
#define STATE_VERSION	1u
#define STATE_SIZE	168u
#define STATE_TAG_OFF	104u
#define WBUF_SIZE	(256u * 1024)
#define RBUF_SIZE	(64u * 1024)
#define SPOOL_MIN_BYTES	(64u * 1024)
#define SEG_MIN		(64u * 1024)
#define SEG_MAX		(16u * 1024 * 1024)
#define SEG_NAME_SIZE	21	/* "%016llx.seg" and the NUL */

/*
 * Tests lower this to reach the limit with a few messages; read once per
 * spool_open() (it sizes the ack bitmap).
 */
static uint32_t spool_max_inflight = SPOOL_MAX_INFLIGHT;

struct seg {
	uint64_t first;		/* id of the first message, also the file name */
	uint64_t end;		/* id after the last message, buffered ones included */
	uint64_t size;		/* bytes, buffered ones included */
};

struct spool {
	int dfd;
	int lock_fd;
	int wfd;		/* the last segment, opened at its first flush */
	int rfd;		/* the segment spool_peek() reads */
	char *dir;

	uint64_t max_bytes;
	uint64_t seg_bytes;
	uint64_t bytes;
	struct seg *segs;	/* in id order; only the last one is appended to */
	size_t n_segs;
	size_t cap_segs;
	bool need_new_seg;	/* recovery left a hole after the last segment */

	uint64_t next_id;
	uint64_t tseq[SPOOL_TOPICS];
	uint64_t last_user;
	uint64_t tag_since;	/* first id appended under the current tag */
	/* the counters as of the last complete flush (what "state" records) */
	uint64_t flushed_end;
	uint64_t f_tseq[SPOOL_TOPICS];
	uint64_t f_last_user;

	/*
	 * Ack tracking: every id below @floor is acknowledged or dropped;
	 * @send is the next id to hand out; @sent_end is one past the highest
	 * id ever handed out (above @send after a rewind). Bits of @acked,
	 * indexed id % @win, mark acknowledged ids in [floor, sent_end).
	 */
	uint64_t floor;
	uint64_t send;
	uint64_t sent_end;
	uint64_t peeked;	/* id spool_peek() returned, 0 if none */
	uint64_t pending;	/* messages neither acknowledged nor dropped */
	uint64_t unacked;	/* of those, handed out since the last rewind */
	uint64_t *acked;
	uint32_t win;
	uint32_t max_inflight;

	uint64_t dropped_total;
	uint64_t appended;
	uint64_t drop_n;
	uint64_t drop_first;
	uint64_t drop_last;
	char tag[SPOOL_TAG_MAX + 1];

	unsigned char *wbuf;	/* messages of the last segment not yet written */
	size_t wb_head;		/* written up to here (a failed flush wrote part) */
	size_t wb_len;

	unsigned char *rbuf;	/* a window of the file spool_peek() reads */
	size_t rb_len;
	uint64_t rb_off;
	uint64_t r_seg;		/* first id of the segment @rfd is */
	uint64_t r_id;		/* id of the message at file offset @r_pos */
	uint64_t r_pos;
	bool was_clean;		/* the state file said the last close was clean */
};

struct hdr {
	uint32_t magic;
	uint32_t crc;
	uint32_t len;
	uint8_t topic;
	uint8_t flags;
	uint16_t reserved;
	uint64_t id;
	uint64_t tseq;
	uint64_t user;
};

struct state {
	uint64_t floor;
	uint64_t next_id;
	uint64_t dropped;
	uint64_t tseq[SPOOL_TOPICS];
	uint64_t last_user;
	uint64_t tag_since;		/* first id appended under the tag */
	bool clean;
	char tag[SPOOL_TAG_MAX + 1];
};

/* CRC-32C (Castagnoli, reflected 0x82f63b78), one table lookup per byte. */
static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

static uint32_t crc32c_update(uint32_t crc, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n--)
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t msg_size(uint32_t len)
{
	return MSG_HDR + (((uint64_t)len + 7) & ~(uint64_t)7);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void hdr_decode(const unsigned char *p, struct hdr *h)
{
	h->magic = get_le32(p);
	h->crc = get_le32(p + 4);
	h->len = get_le32(p + 8);
	h->topic = p[12];
	h->flags = p[13];
	h->reserved = (uint16_t)(p[14] | p[15] << 8);
	h->id = get_le64(p + 16);
	h->tseq = get_le64(p + 24);
	h->user = get_le64(p + 32);
}

/* Structure only; the CRC needs the payload. */
static bool hdr_sane(const struct hdr *h, uint64_t id)
{
	return h->magic == MSG_MAGIC && h->len <= SPOOL_MAX_PAYLOAD &&
	       h->topic < SPOOL_TOPICS && h->reserved == 0 && h->id == id;
}

static uint32_t msg_crc(const unsigned char *msg, uint32_t len)
{
	uint32_t crc = crc32c_update(~0u, msg + 8, MSG_HDR - 8);

	return ~crc32c_update(crc, msg + MSG_HDR, len);
}

static __attribute__((format(printf, 3, 4)))
void err_add(char *err, size_t size, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (!err || !size)
		return;
	/* one line: a second report is appended after "; " */
	used = strlen(err);
	if (used && used + 2 < size) {
		memcpy(err + used, "; ", 3);
		used += 2;
	}
	if (used + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(err + used, size - used, fmt, ap);
	va_end(ap);
}

static void seg_name(char name[SEG_NAME_SIZE], uint64_t first)
{
	snprintf(name, SEG_NAME_SIZE, "%016llx.seg", (unsigned long long)first);
}

static int close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
	return -1;
}

static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

/*
 * Make @need bytes at file offset @pos of @fd available in the read buffer,
 * reading a whole window at once so small messages cost no syscall each.
 * Return: 0, -ENODATA if the file ends first, -errno.
 */
static int rb_fill(struct spool *s, int fd, uint64_t pos, size_t need)
{
	ssize_t r;

	if (pos >= s->rb_off && pos + need <= s->rb_off + s->rb_len)
		return 0;
	s->rb_len = 0;
	r = pread_full(fd, s->rbuf, RBUF_SIZE, pos);
	if (r < 0)
		return (int)r;
	s->rb_off = pos;
	s->rb_len = (size_t)r;
	return s->rb_len >= need ? 0 : -ENODATA;
}

static const unsigned char *rb_at(const struct spool *s, uint64_t pos)
{
	return s->rbuf + (pos - s->rb_off);
}

static bool bit_get(const struct spool *s, uint64_t id)
{
	uint64_t i = id % s->win;

	return s->acked[i / 64] >> (i % 64) & 1;
}

static void bit_set(struct spool *s, uint64_t id)
{
	uint64_t i = id % s->win;

	s->acked[i / 64] |= (uint64_t)1 << (i % 64);
}

static void bit_clear(struct spool *s, uint64_t id)
{
	uint64_t i = id % s->win;

	s->acked[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* Index of the first segment that ends after @id (n_segs if none). */
static size_t seg_find(const struct spool *s, uint64_t id)
{
	size_t lo = 0, hi = s->n_segs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->segs[mid].end > id)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int seg_push(struct spool *s, uint64_t first)
{
	if (s->n_segs == s->cap_segs) {
		size_t cap = s->cap_segs ? 2 * s->cap_segs : 16;
		struct seg *n = realloc(s->segs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->segs = n;
		s->cap_segs = cap;
	}
	s->segs[s->n_segs++] = (struct seg){ .first = first, .end = first };
	return 0;
}

static int state_write(struct spool *s, uint64_t floor, uint64_t dropped, bool clean)
{
	unsigned char b[STATE_SIZE];
	int fd, ret;

	memset(b, 0, sizeof(b));
	put_le32(b, STATE_MAGIC);
	put_le32(b + 8, STATE_VERSION);
	put_le32(b + 12, clean);
	put_le64(b + 16, floor);
	put_le64(b + 24, s->flushed_end);
	put_le64(b + 32, dropped);
	for (int t = 0; t < SPOOL_TOPICS; t++)
		put_le64(b + 40 + 8 * t, s->f_tseq[t]);
	memcpy(b + STATE_TAG_OFF, s->tag, strlen(s->tag));
	put_le64(b + 152, s->f_last_user);
	put_le64(b + 160, s->tag_since);
	put_le32(b + 4, ~crc32c_update(~0u, b + 8, STATE_SIZE - 8));

	fd = openat(s->dfd, "state.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = write_full(fd, b, sizeof(b));
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (!ret && renameat(s->dfd, "state.tmp", s->dfd, "state") < 0)
		ret = -errno;
	/* the rename (and any new segment) is durable only with the directory */
	if (!ret && fsync(s->dfd) < 0)
		ret = -errno;
	return ret;
}

/* Return: 0, -ENOENT if there is none, -EBADMSG if corrupt, -errno. */
static int state_read(struct spool *s, struct state *st)
{
	unsigned char b[STATE_SIZE + 1];
	ssize_t n;
	int fd;

	fd = openat(s->dfd, "state", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread_full(fd, b, sizeof(b), 0);
	close(fd);
	if (n < 0)
		return (int)n;
	if (n != STATE_SIZE || get_le32(b) != STATE_MAGIC ||
	    get_le32(b + 4) != ~crc32c_update(~0u, b + 8, STATE_SIZE - 8) ||
	    get_le32(b + 8) != STATE_VERSION || b[STATE_TAG_OFF + SPOOL_TAG_MAX])
		return -EBADMSG;
	st->clean = get_le32(b + 12) == 1;
	st->floor = get_le64(b + 16);
	st->next_id = get_le64(b + 24);
	st->dropped = get_le64(b + 32);
	for (int t = 0; t < SPOOL_TOPICS; t++)
		st->tseq[t] = get_le64(b + 40 + 8 * t);
	memcpy(st->tag, b + STATE_TAG_OFF, sizeof(st->tag));
	st->last_user = get_le64(b + 152);
	st->tag_since = get_le64(b + 160);
	return 0;
}

static void reader_reset(struct spool *s)
{
	s->rfd = close_fd(s->rfd);
	s->rb_len = 0;
}

/*
 * Unlink the first @k segments (the state file was written before, so
 * the counters they carried survive them).
 */
static void segs_unlink(struct spool *s, size_t k)
{
	char name[SEG_NAME_SIZE];

	for (size_t i = 0; i < k; i++) {
		if (s->rfd >= 0 && s->r_seg == s->segs[i].first)
			reader_reset(s);
		seg_name(name, s->segs[i].first);
		unlinkat(s->dfd, name, 0);
		s->bytes -= s->segs[i].size;
	}
	if (!k)
		return;
	if (k == s->n_segs)
		s->wfd = close_fd(s->wfd);
	memmove(s->segs, s->segs + k, (s->n_segs - k) * sizeof(*s->segs));
	s->n_segs -= k;
}

/* Move the floor over acknowledged ids and over holes between segments. */
static void floor_advance(struct spool *s)
{
	for (;;) {
		size_t i;

		if (s->floor < s->sent_end && bit_get(s, s->floor)) {
			bit_clear(s, s->floor++);
			continue;
		}
		i = seg_find(s, s->floor);
		if (i < s->n_segs && s->segs[i].first > s->floor) {
			s->floor = s->segs[i].first;	/* a hole: no bits in it */
			continue;
		}
		break;
	}
	s->send = max_u64(s->send, s->floor);
	s->sent_end = max_u64(s->sent_end, s->floor);
}

/* Delete the segments whose every message is acknowledged. */
static int segs_trim(struct spool *s)
{
	size_t k = 0;
	int ret;

	while (k < s->n_segs && s->segs[k].end <= s->floor)
		k++;
	if (!k)
		return 0;
	ret = state_write(s, s->floor, s->dropped_total, false);
	if (ret)
		return ret;	/* kept: retried at the next trim */
	segs_unlink(s, k);
	return 0;
}

/*
 * Delete the oldest segments (never the last) until @need more bytes fit.
 * Messages in them that were never handed out are counted dropped; those
 * handed out and not yet acknowledged are with the MQTT client, which still
 * delivers them: forgotten here, not counted lost.
 */
static int make_room(struct spool *s, uint64_t need)
{
	uint64_t bytes = s->bytes, floor, dropped = 0, removed = 0;
	uint64_t first = 0, last = 0;
	size_t k = 0;
	int ret;

	while (bytes + need > s->max_bytes && k + 1 < s->n_segs)
		bytes -= s->segs[k++].size;
	if (bytes + need > s->max_bytes)
		return -E2BIG;	/* cannot happen: seg_bytes <= max_bytes */
	if (!k)
		return 0;
	for (size_t i = 0; i < k; i++) {
		const struct seg *g = &s->segs[i];
		uint64_t lo = max_u64(g->first, s->floor);

		for (uint64_t id = lo; id < g->end; id++) {
			uint64_t n = 1;

			if (id < s->sent_end && bit_get(s, id))
				continue;
			if (id >= s->sent_end)
				n = g->end - id;	/* the rest was never handed out */
			removed += n;
			if (id >= s->send) {
				if (!dropped)
					first = id;
				dropped += n;
				last = id + n - 1;
			}
			if (id >= s->sent_end)
				break;
		}
	}
	floor = max_u64(s->floor, s->segs[k].first);
	ret = state_write(s, floor, s->dropped_total + dropped, false);
	if (ret)
		return ret;

	for (uint64_t id = s->floor; id < min_u64(floor, s->sent_end); id++)
		bit_clear(s, id);
	s->floor = floor;
	s->pending -= removed;
	s->unacked -= removed - dropped;
	s->dropped_total += dropped;
	if (dropped) {
		if (!s->drop_n)
			s->drop_first = first;
		s->drop_last = last;
		s->drop_n += dropped;
	}
	s->peeked = 0;
	segs_unlink(s, k);
	floor_advance(s);
	return 0;
}

int spool_flush(struct spool *s)
{
	const struct seg *g;

	if (s->wb_head == s->wb_len)
		return 0;
	g = &s->segs[s->n_segs - 1];	/* only the last segment buffers */
	if (s->wfd < 0) {
		char name[SEG_NAME_SIZE];

		seg_name(name, g->first);
		s->wfd = openat(s->dfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (s->wfd < 0)
			return -errno;
	}
	while (s->wb_head < s->wb_len) {
		ssize_t r = write(s->wfd, s->wbuf + s->wb_head, s->wb_len - s->wb_head);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* what was written stays written: O_APPEND goes on from there */
			return -errno;
		}
		s->wb_head += (size_t)r;
	}
	s->wb_head = 0;
	s->wb_len = 0;
	s->flushed_end = s->next_id;
	memcpy(s->f_tseq, s->tseq, sizeof(s->f_tseq));
	s->f_last_user = s->last_user;
	return 0;
}

/* Close the last segment (flushed and on disk) and start one at next_id. */
static int seg_start(struct spool *s)
{
	int ret = spool_flush(s);

	if (ret)
		return ret;
	if (s->wfd >= 0) {
		/* spool_sync() syncs only the open segment: this one is left */
		if (fdatasync(s->wfd) < 0)
			return -errno;
		s->wfd = close_fd(s->wfd);
	}
	ret = seg_push(s, s->next_id);
	if (ret)
		return ret;
	s->need_new_seg = false;
	return 0;
}

int spool_append(struct spool *s, unsigned int topic, unsigned int flags, uint64_t user,
		 const void *payload, uint32_t len)
{
	unsigned char *p;
	struct seg *g;
	uint64_t need;
	int ret;

	if (topic >= SPOOL_TOPICS || flags > 0xff || len > SPOOL_MAX_PAYLOAD ||
	    (len && !payload))
		return -EINVAL;
	need = msg_size(len);
	g = s->n_segs ? &s->segs[s->n_segs - 1] : NULL;
	/* a segment never grows past seg_bytes unless recovered that way */
	if (!g || s->need_new_seg || (g->size && g->size + need > s->seg_bytes)) {
		ret = seg_start(s);
		if (ret)
			return ret;
	}
	if (s->bytes + need > s->max_bytes) {
		ret = make_room(s, need);
		if (ret)
			return ret;
	}
	if (WBUF_SIZE - s->wb_len < need) {
		ret = spool_flush(s);
		if (ret)
			return ret;
	}
	g = &s->segs[s->n_segs - 1];

	p = s->wbuf + s->wb_len;
	put_le32(p, MSG_MAGIC);
	put_le32(p + 8, len);
	p[12] = (unsigned char)topic;
	p[13] = (unsigned char)flags;
	p[14] = 0;
	p[15] = 0;
	put_le64(p + 16, s->next_id);
	put_le64(p + 24, s->tseq[topic]);
	put_le64(p + 32, user);
	if (len)
		memcpy(p + MSG_HDR, payload, len);
	memset(p + MSG_HDR + len, 0, need - MSG_HDR - len);
	put_le32(p + 4, msg_crc(p, len));

	s->wb_len += need;
	g->end++;
	g->size += need;
	s->bytes += need;
	s->next_id++;
	s->tseq[topic]++;
	s->last_user = user;
	s->pending++;
	s->appended++;
	return 0;
}

int spool_sync(struct spool *s)
{
	int ret = spool_flush(s);

	if (ret)
		return ret;
	if (s->wfd >= 0 && fdatasync(s->wfd) < 0)
		return -errno;
	ret = segs_trim(s);
	if (ret)
		return ret;
	return state_write(s, s->floor, s->dropped_total, false);
}

/* Read message @id of segment @i into the read buffer. */
static int read_msg(struct spool *s, size_t i, uint64_t id, struct spool_msg *ret)
{
	const struct seg *g = &s->segs[i];
	const unsigned char *p;
	struct hdr h;
	int r;

	if (s->rfd < 0 || s->r_seg != g->first) {
		char name[SEG_NAME_SIZE];

		reader_reset(s);
		seg_name(name, g->first);
		s->rfd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC);
		if (s->rfd < 0)
			return -errno;
		s->r_seg = g->first;
		s->r_id = g->first;
		s->r_pos = 0;
	}
	if (id < s->r_id) {	/* rewound: walk from the start of the segment */
		s->r_id = g->first;
		s->r_pos = 0;
	}
	for (;;) {
		r = rb_fill(s, s->rfd, s->r_pos, MSG_HDR);
		if (r)
			return r == -ENODATA ? -EIO : r;
		hdr_decode(rb_at(s, s->r_pos), &h);
		if (!hdr_sane(&h, s->r_id))
			return -EIO;
		if (s->r_id == id)
			break;
		s->r_pos += msg_size(h.len);
		s->r_id++;
	}
	r = rb_fill(s, s->rfd, s->r_pos, MSG_HDR + h.len);
	if (r)
		return r == -ENODATA ? -EIO : r;
	p = rb_at(s, s->r_pos);
	*ret = (struct spool_msg){
		.id = h.id,
		.tseq = h.tseq,
		.user = h.user,
		.topic = h.topic,
		.flags = h.flags,
		.len = h.len,
		.payload = (const char *)p + MSG_HDR,
	};
	return 1;
}

int spool_peek(struct spool *s, struct spool_msg *ret)
{
	size_t i;
	int r;

	floor_advance(s);
	for (;;) {
		if (s->send >= s->flushed_end)
			return 0;
		if (s->send < s->sent_end && bit_get(s, s->send)) {
			s->send++;	/* acknowledged before a rewind */
			continue;
		}
		i = seg_find(s, s->send);
		if (i == s->n_segs)
			return 0;
		if (s->segs[i].first > s->send) {
			s->send = s->segs[i].first;
			continue;
		}
		break;
	}
	if (s->send - s->floor >= s->max_inflight)
		return 0;
	r = read_msg(s, i, s->send, ret);
	if (r == 1)
		s->peeked = s->send;
	return r;
}

void spool_advance(struct spool *s)
{
	if (!s->peeked || s->peeked != s->send)
		return;
	s->peeked = 0;
	s->send++;
	s->sent_end = max_u64(s->sent_end, s->send);
	s->unacked++;
}

void spool_rewind(struct spool *s)
{
	s->send = s->floor;
	s->peeked = 0;
	s->unacked = 0;
}

int spool_ack(struct spool *s, uint64_t id)
{
	size_t i;

	if (id < s->floor || id >= s->sent_end || bit_get(s, id))
		return -ENOENT;
	i = seg_find(s, id);
	if (i == s->n_segs || s->segs[i].first > id)
		return -ENOENT;	/* a hole */
	bit_set(s, id);
	s->pending--;
	if (id < s->send)
		s->unacked--;
	if (id == s->floor) {
		floor_advance(s);
		/* a failed state write keeps the segments until the next trim */
		segs_trim(s);
	}
	return 0;
}

uint64_t spool_next_tseq(const struct spool *s, unsigned int topic)
{
	return topic < SPOOL_TOPICS ? s->tseq[topic] : 0;
}

uint64_t spool_next_id(const struct spool *s)
{
	return s->next_id;
}

uint64_t spool_last_user(const struct spool *s)
{
	return s->last_user;
}

int spool_set_tag(struct spool *s, const char *tag)
{
	if (!tag || strlen(tag) > SPOOL_TAG_MAX)
		return -EINVAL;
	if (!strcmp(tag, s->tag))
		return 0;
	/* kept even if the write fails: the next state write records it */
	strcpy(s->tag, tag);
	/* user values of older messages refer to the old tag: forget them */
	s->tag_since = s->next_id;
	s->last_user = 0;
	s->f_last_user = 0;
	return state_write(s, s->floor, s->dropped_total, false);
}

const char *spool_tag(const struct spool *s)
{
	return s->tag;
}

uint64_t spool_take_dropped(struct spool *s, uint64_t *ret_first, uint64_t *ret_last)
{
	uint64_t n = s->drop_n;

	if (n) {
		if (ret_first)
			*ret_first = s->drop_first;
		if (ret_last)
			*ret_last = s->drop_last;
	}
	s->drop_n = 0;
	return n;
}

void spool_get_stats(const struct spool *s, struct spool_stats *ret)
{
	*ret = (struct spool_stats){
		.bytes = s->bytes,
		.n_segments = s->n_segs,
		.unsent = s->pending - s->unacked,
		.unacked = s->unacked,
		.dropped = s->dropped_total,
		.appended = s->appended,
	};
}

/* What recovery saw in the segments. */
struct recov {
	uint64_t tseq[SPOOL_TOPICS];	/* last tseq seen + 1, 0 if none */
	uint64_t last_user;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The ids of the files named like segments, sorted. */
static int seg_list(struct spool *s, uint64_t **ret_ids, size_t *ret_n)
{
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;

		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		const char *nm = de->d_name;

		if (strlen(nm) != SEG_NAME_SIZE - 1 || strspn(nm, "0123456789abcdef") != 16 ||
		    strcmp(nm + 16, ".seg"))
			continue;	/* not ours: ignored */
		if (n == cap) {
			uint64_t *m;

			cap = cap ? 2 * cap : 64;
			m = realloc(ids, cap * sizeof(*m));
			if (!m) {
				free(ids);
				closedir(d);
				return -ENOMEM;
			}
			ids = m;
		}
		ids[n++] = strtoull(nm, NULL, 16);
	}
	closedir(d);
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_u64);
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

/*
 * Check every message of segment @first; cut a torn or corrupt tail, drop
 * the file if nothing is left, and add it to the spool otherwise.
 */
static int seg_recover(struct spool *s, uint64_t first, struct recov *rc, char *err,
		       size_t err_size)
{
	char name[SEG_NAME_SIZE];
	uint64_t pos = 0, id = first, size;
	struct stat st;
	int fd, r = 0;

	seg_name(name, first);
	fd = openat(s->dfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	size = (uint64_t)st.st_size;
	s->rb_len = 0;
	/* ids only go up: a segment starting inside the previous one is corrupt */
	if (first == 0 || (s->n_segs && first < s->segs[s->n_segs - 1].end))
		id = 0;
	while (id && pos < size) {
		const unsigned char *p;
		struct hdr h;

		r = rb_fill(s, fd, pos, MSG_HDR);
		if (r == -ENODATA)
			break;
		if (r)
			goto out;
		hdr_decode(rb_at(s, pos), &h);
		if (!hdr_sane(&h, id))
			break;
		r = rb_fill(s, fd, pos, msg_size(h.len));
		if (r == -ENODATA)
			break;
		if (r)
			goto out;
		p = rb_at(s, pos);
		if (msg_crc(p, h.len) != h.crc)
			break;
		rc->tseq[h.topic] = max_u64(rc->tseq[h.topic], h.tseq + 1);
		rc->last_user = h.user;
		pos += msg_size(h.len);
		id++;
	}
	r = 0;
	size = (uint64_t)st.st_size;
	if (pos < size) {
		err_add(err, err_size, "spool %s/%s: corrupt message at offset %llu, cut %llu bytes",
			s->dir, name, (unsigned long long)pos, (unsigned long long)(size - pos));
		if (pos && (ftruncate(fd, (off_t)pos) < 0 || fsync(fd) < 0)) {
			r = -errno;
			goto out;
		}
	}
	if (!pos) {
		/* nothing left (or a file that never got a message) */
		if (unlinkat(s->dfd, name, 0) < 0)
			r = -errno;
		goto out;
	}
	r = seg_push(s, first);
	if (r)
		goto out;
	s->segs[s->n_segs - 1].end = id;
	s->segs[s->n_segs - 1].size = pos;
	s->bytes += pos;
out:
	close(fd);
	s->rb_len = 0;
	return r;
}

static void spool_free(struct spool *s)
{
	close_fd(s->wfd);
	close_fd(s->rfd);
	close_fd(s->dfd);
	close_fd(s->lock_fd);	/* releases the lock */
	free(s->segs);
	free(s->acked);
	free(s->wbuf);
	free(s->rbuf);
	free(s->dir);
	free(s);
}

/* Counters from the state file and what recovery found, whichever is later. */
static void spool_settle(struct spool *s, const struct state *st, const struct recov *rc)
{
	const struct seg *last = s->n_segs ? &s->segs[s->n_segs - 1] : NULL;

	s->next_id = max_u64(max_u64(st->next_id, 1), last ? last->end : 1);
	for (int t = 0; t < SPOOL_TOPICS; t++)
		s->tseq[t] = max_u64(max_u64(st->tseq[t], 1), rc->tseq[t]);
	/*
	 * A message cut off in recovery is not on disk: the last surviving
	 * one tells the caller where to resume (duplicates, not losses).
	 */
	s->last_user = last && last->end > st->tag_since ? rc->last_user :
		       last ? 0 : st->last_user;
	s->tag_since = st->tag_since;
	s->floor = max_u64(st->floor, 1);
	if (last)
		s->floor = max_u64(s->floor, s->segs[0].first);
	s->floor = min_u64(s->floor, s->next_id);
	s->dropped_total = st->dropped;
	memcpy(s->tag, st->tag, sizeof(s->tag));
	s->was_clean = st->clean;

	s->flushed_end = s->next_id;
	memcpy(s->f_tseq, s->tseq, sizeof(s->f_tseq));
	s->f_last_user = s->last_user;
	/* appending to the last segment would put a hole inside it */
	s->need_new_seg = last && last->end != s->next_id;

	s->send = s->floor;
	s->sent_end = s->floor;
	floor_advance(s);
	for (size_t i = 0; i < s->n_segs; i++)
		if (s->segs[i].end > s->floor)
			s->pending += s->segs[i].end - max_u64(s->segs[i].first, s->floor);
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **ret, char *err,
	       size_t err_size)
{
	struct recov rc = { .last_user = 0 };
	uint64_t *ids = NULL;
	struct spool *s;
	struct state st;
	size_t n_ids = 0, k;
	int r;

	if (err && err_size)
		err[0] = '\0';
	if (!dir || !*dir || !ret || max_bytes < SPOOL_MIN_BYTES) {
		err_add(err, err_size, "spool %s: %s", dir ? dir : "(null)", strerror(EINVAL));
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err_add(err, err_size, "spool %s: %s", dir, strerror(ENOMEM));
		return -ENOMEM;
	}
	s->dfd = s->lock_fd = s->wfd = s->rfd = -1;
	s->max_inflight = spool_max_inflight ? spool_max_inflight : 1;
	/* one bit more than the span spool_peek() allows past the floor */
	s->win = s->max_inflight + 1;
	s->dir = strdup(dir);
	s->acked = calloc((s->win + 63) / 64, sizeof(*s->acked));
	s->wbuf = malloc(WBUF_SIZE);
	s->rbuf = malloc(RBUF_SIZE);
	if (!s->dir || !s->acked || !s->wbuf || !s->rbuf) {
		r = -ENOMEM;
		goto fail;
	}
	s->max_bytes = max_bytes;
	s->seg_bytes = min_u64(max_u64(max_bytes / 16, SEG_MIN), SEG_MAX);

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto fail;
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		r = -errno;
		goto fail;
	}
	s->lock_fd = openat(s->dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (r == -EBUSY)
			err_add(err, err_size, "spool %s: in use by another process", dir);
		goto fail;
	}

	memset(&st, 0, sizeof(st));
	r = state_read(s, &st);
	if (r == -EBADMSG) {
		err_add(err, err_size, "spool %s/state: corrupt, rebuilt from the segments", dir);
		memset(&st, 0, sizeof(st));
	} else if (r && r != -ENOENT) {
		err_add(err, err_size, "spool %s/state: %s", dir, strerror(-r));
		goto fail;
	}
	r = seg_list(s, &ids, &n_ids);
	if (r)
		goto fail;
	for (size_t i = 0; i < n_ids; i++) {
		r = seg_recover(s, ids[i], &rc, err, err_size);
		if (r) {
			char name[SEG_NAME_SIZE];

			seg_name(name, ids[i]);
			err_add(err, err_size, "spool %s/%s: %s", dir, name, strerror(-r));
			free(ids);
			goto fail;
		}
	}
	free(ids);
	spool_settle(s, &st, &rc);

	/* written before fully acknowledged segments go, and marks "not clean" */
	r = state_write(s, s->floor, s->dropped_total, false);
	if (r) {
		err_add(err, err_size, "spool %s/state: %s", dir, strerror(-r));
		goto fail;
	}
	for (k = 0; k < s->n_segs && s->segs[k].end <= s->floor; k++)
		;
	segs_unlink(s, k);
	*ret = s;
	return 0;

fail:
	if (!err || !err_size || !err[0])
		err_add(err, err_size, "spool %s: %s", dir, strerror(-r));
	spool_free(s);
	return r;
}

struct spool *spool_close(struct spool *s)
{
	bool clean;

	if (!s)
		return NULL;
	/* nothing can report a failure here: the next open recovers */
	clean = spool_flush(s) == 0;
	if (s->wfd >= 0 && fdatasync(s->wfd) < 0)
		clean = false;
	if (segs_trim(s))
		clean = false;
	state_write(s, s->floor, s->dropped_total, clean);
	spool_free(s);
	return NULL;
}

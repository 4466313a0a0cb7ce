// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-spool.c - libFuzzer entry point for twitch-mqtt's spool recovery
 * (clients/mqtt-spool.c: spool_open() on a spool directory left in any
 * state: a damaged state file, torn or corrupt segments, ids that overlap
 * or jump), then a short life of the recovered spool: hand out and
 * acknowledge what it holds, append, close, and open again (which must
 * then find nothing to cut), close.
 *
 * Input layout: byte 0: bit 0: repair the CRCs (of the state file and of
 * each message found walking a segment), so the fuzzer gets past them;
 * bit 1: a state file (the next 168 bytes); bit 2: repair the message
 * magic and make the ids dense from the segment's name; bits 3-4: the
 * number of segments - 1. Then per segment: its first id (8 bytes, LE),
 * its length (2 bytes, LE, capped at what is left) and its bytes. Files go
 * into a private mkdtemp() directory under $TMPDIR, emptied each run: use
 * a tmpfs (TMPDIR=/dev/shm), the spool fsyncs.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *	tests/fuzz/fuzz-spool.c -o fuzz-spool
 *   gcc -DFUZZ_STANDALONE -D_GNU_SOURCE tests/fuzz/fuzz-spool.c -o fuzz-spool && \
 *	./fuzz-spool CORPUS-FILES...
 */
#include "../../clients/mqtt-spool.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what the last input did, for the standalone replayer's report */
static char fuzz_result[1100];
static char fuzz_dir[4000];

static void fuzz_write(const char *name, const void *p, size_t n)
{
	char path[4100];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) < 0)
		abort();
}

static void fuzz_empty_dir(void)
{
	char path[4400];
	struct dirent *de;
	DIR *d = opendir(fuzz_dir);

	if (d == NULL)
		abort();
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", fuzz_dir, de->d_name);
			unlink(path);
		}
	closedir(d);
}

/* Make the messages of a segment pass the checks the fuzzer cannot pass. */
static void fuzz_repair(unsigned char *b, size_t n, uint64_t first, bool crc, bool ids)
{
	uint64_t pos = 0, id = first;

	while (pos + MSG_HDR <= n) {
		uint32_t len = get_le32(b + pos + 8) % (SPOOL_MAX_PAYLOAD + 1);

		if (pos + msg_size(len) > n)
			len = (uint32_t)(n - pos - MSG_HDR) & ~7u;
		put_le32(b + pos + 8, len);
		if (ids) {
			put_le32(b + pos, MSG_MAGIC);
			b[pos + 12] %= SPOOL_TOPICS;
			b[pos + 14] = b[pos + 15] = 0;
			put_le64(b + pos + 16, id++);
		}
		if (crc)
			put_le32(b + pos + 4, msg_crc(b + pos, len));
		pos += msg_size(len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[70000];
	struct spool_msg m;
	struct spool *s = NULL;
	char err[2048], name[SEG_NAME_SIZE];
	uint64_t next_id, first;
	size_t at = 1, n, k, n_segs;
	int r, i, handed = 0;
	uint8_t flags;

	if (size < 1)
		return 0;
	if (fuzz_dir[0] == '\0') {
		const char *t = getenv("TMPDIR");

		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz-spool.XXXXXX", t && *t ? t : "/tmp");
		if (mkdtemp(fuzz_dir) == NULL)
			abort();
	}
	fuzz_empty_dir();
	flags = data[0];
	if (flags & 2) {
		memset(buf, 0, STATE_SIZE);
		n = size - at < STATE_SIZE ? size - at : STATE_SIZE;
		memcpy(buf, data + at, n);
		at += n;
		if (flags & 1) {
			/* ids and tseqs near 2^64 wrap (a known gap: a CRC-valid
			 * state or a segment named near 2^64 makes appended
			 * messages be cut at the next open): kept below 2^62 */
			for (k = 16; k < 104; k += 8)
				if (k != 32)	/* not the dropped count */
					buf[k + 7] &= 0x3f;
			put_le32(buf + 4, ~crc32c_update(~0u, buf + 8, STATE_SIZE - 8));
		}
		fuzz_write("state", buf, STATE_SIZE);
	}
	n_segs = ((flags >> 3) & 3u) + 1;
	for (k = 0; k < n_segs && at + 10 <= size; k++) {
		first = get_le64(data + at) & (flags & 1 ? UINT64_MAX >> 2 : UINT64_MAX);
		n = (size_t)(data[at + 8] | data[at + 9] << 8);
		at += 10;
		if (n > size - at)
			n = size - at;
		memcpy(buf, data + at, n);
		at += n;
		fuzz_repair(buf, n, first, flags & 1, flags & 4);
		seg_name(name, first);
		fuzz_write(name, buf, n);
	}

	err[0] = '\0';
	r = spool_open(fuzz_dir, SPOOL_MIN_BYTES, &s, err, sizeof(err));
	if (r < 0) {
		if (err[0] == '\0')
			abort();	/* a failure always says what */
		snprintf(fuzz_result, sizeof(fuzz_result), "refused: %.1000s", err);
		return 0;
	}
	snprintf(fuzz_result, sizeof(fuzz_result), "opened%s%.900s", err[0] ? ": " : "", err);
	/* hand out, acknowledge every other one, append, close */
	for (i = 0; i < 200 && (r = spool_peek(s, &m)) == 1; i++) {
		if (m.len > SPOOL_MAX_PAYLOAD || m.topic >= SPOOL_TOPICS || m.id == 0 ||
		    (m.len && m.payload == NULL))
			abort();
		if (m.len)
			(void)(volatile char)m.payload[m.len - 1];	/* readable */
		spool_advance(s);
		handed++;
		if (i % 2 == 0 && spool_ack(s, m.id) < 0)
			abort();	/* just handed out: outstanding */
	}
	if (r < 0)
		abort();
	for (i = 0; i < 3; i++)
		if (spool_append(s, (unsigned int)i, 0, 100 + (uint64_t)i, "payload", 7) < 0)
			break;
	next_id = spool_next_id(s);
	s = spool_close(s);
	/* what we closed opens again without anything to cut */
	err[0] = '\0';
	r = spool_open(fuzz_dir, SPOOL_MIN_BYTES, &s, err, sizeof(err));
	if (r < 0 || err[0] != '\0' || spool_next_id(s) != next_id)
		abort();
	while (spool_peek(s, &m) == 1)
		spool_advance(s);
	s = spool_close(s);
	n = strlen(fuzz_result);
	snprintf(fuzz_result + n, sizeof(fuzz_result) - n, "; %d handed out, next id %llu",
		 handed, (unsigned long long)next_id);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fuzz_cleanup(void)
{
	if (fuzz_dir[0]) {
		fuzz_empty_dir();
		rmdir(fuzz_dir);
	}
}

#define FUZZ_CLEANUP()	fuzz_cleanup()
#define FUZZ_NAME	"fuzz-spool"
#include "fuzz-standalone.h"
#endif

// SPDX-License-Identifier: MIT
/*
 * fuzz-recording.c - libFuzzer entry point for the recording parsers
 * (drivers/recording.c: WFDB header + data, EDF/EDF+/BDF, BioSPPy text).
 *
 * Input layout: byte 0 picks the format (bits 0-1: auto, WFDB, EDF, text) and
 * the option flags (bits 2-3); the rest is the file. For WFDB the rest is
 * split at its first NUL: the header before it, the data file's bytes after
 * it (every data file the header names reads as those bytes). Whatever
 * parses is then read back in full, so the accessors are fuzzed too.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *	tests/fuzz/fuzz-recording.c -lm -o fuzz-recording
 *   gcc -DFUZZ_STANDALONE -D_GNU_SOURCE tests/fuzz/fuzz-recording.c -lm \
 *	-o fuzz-recording && ./fuzz-recording tests/data/recordings/fuzz/SEEDS...
 */
#include "../../drivers/recording.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what the last input did, for the standalone replayer's report */
static char fuzz_result[1100];

static void fuzz_read_back(const struct recording *rec)
{
	double v[256];
	uint8_t f[256];
	size_t ch, i;

	for (ch = 0; ch < recording_n_channels(rec); ch++) {
		uint64_t n = recording_n_samples(rec, ch), at;

		(void)recording_label(rec, ch);
		(void)recording_unit(rec, ch);
		(void)recording_rate_hz(rec, ch);
		(void)recording_n_saturated(rec, ch);
		for (at = 0; at < n; at += 256) {
			if (recording_read_physical(rec, ch, at, 256, v) <= 0 ||
			    recording_read_flags(rec, ch, at, 256, f) <= 0)
				abort();	/* in range: must succeed */
			(void)recording_read(rec, ch, at, 256, v);
		}
		if (recording_read_physical(rec, ch, n, 1, v) != 0 ||
		    recording_read_physical(rec, ch, n + 1, 1, v) != -EINVAL)
			abort();
	}
	for (i = 0; i < recording_n_annotations(rec); i++)
		if (strlen(recording_annotation(rec, i)->text) > REC_MAX_ANN_TEXT)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum recording_format fmts[] = {
		RECORDING_FORMAT_AUTO, RECORDING_FORMAT_WFDB,
		RECORDING_FORMAT_EDF, RECORDING_FORMAT_TEXT,
	};
	struct recording_opts opts = { .max_bytes = 4u << 20 };
	struct recording_error err;
	struct recording *rec = NULL;
	struct rec_ctx c;
	enum recording_format fmt;
	const uint8_t *body, *nul;
	uint8_t *buf;
	size_t len;
	char msg[1024];

	if (size < 1)
		return 0;
	fmt = fmts[data[0] & 3];
	opts.flags = (data[0] >> 2) & 3;
	body = data + 1;
	len = size - 1;
	if (rec_ctx_init(&c, &opts, &err) < 0)
		return 0;
	c.path = "fuzz";
	if (fmt == RECORDING_FORMAT_WFDB || fmt == RECORDING_FORMAT_AUTO) {
		nul = memchr(body, 0, len);
		c.use_mem_dat = true;
		c.mem_dat = nul ? nul + 1 : body + len;
		c.mem_dat_len = nul ? (size_t)(body + len - nul - 1) : 0;
		if (fmt == RECORDING_FORMAT_WFDB && nul != NULL)
			len = (size_t)(nul - body);
	}
	buf = malloc(len + 1);
	if (buf != NULL) {
		memcpy(buf, body, len);
		buf[len] = '\0';
		if (rec_parse(&c, fmt, buf, len, &rec) == 0) {
			const char *name = recording_format_name(rec);

			fuzz_read_back(rec);
			snprintf(fuzz_result, sizeof(fuzz_result),
				 "ok: %s, %zu channels, %zu annotations",
				 name ? name : "?", recording_n_channels(rec),
				 recording_n_annotations(rec));
		} else {
			recording_strerror(&err, msg, sizeof(msg));
			snprintf(fuzz_result, sizeof(fuzz_result), "rejected: %s", msg);
		}
		recording_free(rec);
		free(buf);
	}
	rec_ctx_fini(&c);
	return 0;
}

#ifdef FUZZ_STANDALONE
#define FUZZ_NAME	"fuzz-recording"
#include "fuzz-standalone.h"
#endif

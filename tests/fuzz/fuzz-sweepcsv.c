// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-sweepcsv.c - libFuzzer entry point for daemon/sweepcsv.c: the sweep
 * CSV reader (sweepcsv_open_stream() + sweepcsv_next() over fmemopen) and
 * the --subject parser (sweepcsv_subject_parse()).
 *
 * Input layout: byte 0 bit 0 picks the parser (0: CSV, 1: subject); for the
 * CSV, bits 1-7 pick max_points (1..128, so the too-many-points path is
 * reachable). The rest is the file, or the subject string (cut at its first
 * NUL, as a C string would be). Every sweep returned is checked against the
 * reader's promises (n in 1..max_points, frequencies finite, > 0 and
 * increasing), every error must be sticky and format into a printable line.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Idaemon \
 *	-Iipc tests/fuzz/fuzz-sweepcsv.c -lm -o fuzz-sweepcsv
 *   gcc -DFUZZ_STANDALONE -D_GNU_SOURCE -Idaemon -Iipc tests/fuzz/fuzz-sweepcsv.c \
 *	-lm -o fuzz-sweepcsv && ./fuzz-sweepcsv CORPUS-FILES...
 */
#include "../../daemon/sweepcsv.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what the last input did, for the standalone replayer's report */
static char fuzz_result[1100];

static void fuzz_check_msg(const struct sweepcsv_err *err, char *msg, size_t size)
{
	size_t i;

	sweepcsv_strerror(err, msg, size);
	for (i = 0; msg[i]; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f)
			abort();	/* the message goes to a terminal or the journal */
}

static void fuzz_csv(const uint8_t *data, size_t size, size_t max_points)
{
	struct sweepcsv_err err, err2;
	struct sweepcsv_sweep s;
	struct sweepcsv *r = NULL;
	char msg[1024];
	int ret, n_sweeps = 0;
	size_t i;
	FILE *f;

	/* fmemopen() of 0 bytes fails on older glibc: an empty file instead */
	f = size ? fmemopen((void *)(uintptr_t)data, size, "r") : fopen("/dev/null", "re");
	if (f == NULL)
		return;
	ret = sweepcsv_open_stream(f, "fuzz.csv", max_points, &r, &err);
	if (ret == 0) {
		while ((ret = sweepcsv_next(r, &s, &err)) == 1) {
			n_sweeps++;
			if (s.n < 1 || s.n > max_points || s.first_line < 1)
				abort();
			for (i = 0; i < s.n; i++) {
				if (!isfinite(s.freq_hz[i]) || !(s.freq_hz[i] > 0.0) ||
				    !isfinite(s.r_ohm[i]) || !isfinite(s.x_ohm[i]))
					abort();
				if (i > 0 && !(s.freq_hz[i] > s.freq_hz[i - 1]))
					abort();
			}
		}
		if (ret < 0) {
			/* errors are sticky: the same error again */
			if (sweepcsv_next(r, &s, &err2) != ret ||
			    memcmp(&err, &err2, sizeof(err)) != 0)
				abort();
		} else if (sweepcsv_next(r, &s, &err2) != 0) {
			abort();	/* the end stays the end */
		}
	} else if (r != NULL) {
		abort();
	}
	if (ret < 0) {
		if (err.kind == SWEEPCSV_E_NONE)
			abort();
		fuzz_check_msg(&err, msg, sizeof(msg));
		snprintf(fuzz_result, sizeof(fuzz_result), "rejected after %d sweeps: %s",
			 n_sweeps, msg);
	} else {
		snprintf(fuzz_result, sizeof(fuzz_result), "ok: %d sweeps", n_sweeps);
	}
	sweepcsv_free(r);
	fclose(f);
}

static void fuzz_subject(const uint8_t *data, size_t size)
{
	struct sweepcsv_err err;
	struct bioz_subject sub;
	char *s, msg[1024];

	s = malloc(size + 1);
	if (s == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (sweepcsv_subject_parse(size & 1 ? "--subject" : "", s, &sub, &err) == 0) {
		if (!(sub.height_cm >= 30.0 && sub.height_cm <= 250.0) ||
		    !(sub.weight_kg >= 1.0 && sub.weight_kg <= 400.0) ||
		    (sub.sex != BIOZ_SEX_MALE && sub.sex != BIOZ_SEX_FEMALE) ||
		    (!isnan(sub.age_y) && !(sub.age_y >= 0.0 && sub.age_y <= 120.0)))
			abort();
		snprintf(fuzz_result, sizeof(fuzz_result), "ok: %g cm %g kg", sub.height_cm,
			 sub.weight_kg);
	} else {
		if (err.kind == SWEEPCSV_E_NONE)
			abort();
		fuzz_check_msg(&err, msg, sizeof(msg));
		snprintf(fuzz_result, sizeof(fuzz_result), "rejected: %s", msg);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_subject(data + 1, size - 1);
	else
		fuzz_csv(data + 1, size - 1, (size_t)(data[0] >> 1) + 1);
	return 0;
}

#ifdef FUZZ_STANDALONE
#define FUZZ_NAME	"fuzz-sweepcsv"
#include "fuzz-standalone.h"
#endif

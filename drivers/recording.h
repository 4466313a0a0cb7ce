/* SPDX-License-Identifier: MIT */
/*
 * recording.h - read EMG recordings (WFDB, EDF/EDF+/BDF, BioSPPy text) into
 * memory, with every sample convertible to microvolts.
 *
 * Used by `twitchd --analyze`, by the device simulator (to replay a real
 * recording) and by tests. Pure C over libc; no logging, no global state.
 */
#ifndef TWITCH_RECORDING_H
#define TWITCH_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard bounds on what a file may make us believe or allocate. */
#define RECORDING_MAX_CHANNELS		1024	/* signals in one recording */
#define RECORDING_MAX_RATE_HZ		1e6	/* per signal; EMG needs < 64k */
#define RECORDING_MIN_RATE_HZ		1e-3	/* EDF: one sample per 1000 s */
#define RECORDING_MAX_HEADER_BYTES	(1u << 20)	/* WFDB .hea, text header */
#define RECORDING_MAX_ANNOTATIONS	(1u << 20)
#define RECORDING_DEFAULT_MAX_BYTES	(UINT64_C(1) << 30)
#define RECORDING_LABEL_MAX		96	/* bytes incl. NUL, truncated */
#define RECORDING_UNIT_MAX		24

enum recording_format {
	RECORDING_FORMAT_AUTO = 0,	/* by extension, then by content */
	RECORDING_FORMAT_WFDB,		/* .hea + .dat (16, 61, 80, 212, 24, 32) */
	RECORDING_FORMAT_EDF,		/* EDF, EDF+C, BDF, BDF+C */
	RECORDING_FORMAT_TEXT,		/* BioSPPy "Simple Text Format" */
};

/* recording_opts.flags */
#define RECORDING_OPT_VOLTAGE_ONLY	(1u << 0) /* fail unless every signal is uV/mV/V */
#define RECORDING_OPT_IGNORE_CHECKSUM	(1u << 1) /* WFDB: don't verify checksums */

/*
 * struct recording_opts - how to open a file. All-zero (or a NULL pointer)
 * means: detect the format, 1 GiB cap, text defaults below.
 * @max_bytes: cap on any one file's size and on the decoded samples'
 *	memory (0: RECORDING_DEFAULT_MAX_BYTES).
 * @text_rate_hz: text files whose header gives no rate (0: 1000 Hz).
 * @text_resolution_bits: text files whose header gives none (0: 12).
 * @text_uv_per_count, @text_offset_counts: text files carry raw ADC counts
 *	and no calibration. uV = (count - offset) * uv_per_count. When
 *	@text_uv_per_count is 0, the BITalino EMG sensor transfer function is
 *	assumed (BioSPPy is BITalino's toolkit; PLUX EMG datasheet):
 *	V = (count / 2^bits - 1/2) * 3.3 V / 1009, i.e. offset 2^(bits-1) and
 *	3.3e6 / (1009 * 2^bits) uV per count (0.7985 uV at 12 bits). That is
 *	an assumption about the device, not something the file says.
 */
struct recording_opts {
	enum recording_format format;
	uint32_t flags;
	uint64_t max_bytes;
	double text_rate_hz;
	unsigned int text_resolution_bits;
	double text_uv_per_count;
	double text_offset_counts;
};

/*
 * struct recording_error - where and why recording_open() failed, enough
 * for one clear message: "path:line: field: msg" (see recording_strerror()).
 * @path: the file at fault (the .dat when the data file is wrong).
 * @line: 1-based line in a text file or header; 0 if not applicable.
 * @field: header field or signal, e.g. "signal 2 gain"; may be empty.
 */
struct recording_error {
	char path[512];
	unsigned long line;
	char field[80];
	char msg[200];
};

/* struct recording_annotation - one EDF+ annotation (TAL entry). */
struct recording_annotation {
	double onset_s;		/* from the file's start time, as written */
	double duration_s;	/* < 0 when the TAL gives none */
	const char *text;	/* UTF-8, NUL-terminated, owned by the recording */
};

/* Per-sample flags from recording_read_flags(). */
#define RECORDING_SAMPLE_SATURATED	(1u << 0) /* at the ADC/format full scale */
#define RECORDING_SAMPLE_INVALID	(1u << 1) /* WFDB "no sample" code: NaN */

struct recording;

/**
 * recording_open() - read a whole recording into memory.
 * @path: a WFDB record (.hea, .dat, or the record name without extension),
 *	an EDF/BDF file, or a BioSPPy text file.
 * @opts: options, or NULL for defaults.
 * @ret: on success, the new recording; the caller owns it (recording_free()).
 * @ret_err: on failure, if not NULL, filled with file, line/field and reason.
 *
 * Blocks on file I/O. Opens every fd O_CLOEXEC and closes it before
 * returning. Nothing is allocated beyond opts->max_bytes of samples.
 *
 * Return: 0, or -errno: -ENOENT (missing file), -EBADMSG (malformed or
 * inconsistent content: bad numbers, truncated data, lying lengths,
 * checksum), -EFBIG (over a size cap), -ENOTSUP (valid but unsupported
 * feature: multi-segment WFDB, skew, EDF+D, ...), -EMEDIUMTYPE (a non-voltage
 * signal with RECORDING_OPT_VOLTAGE_ONLY), -EINVAL (bad arguments),
 * -ENOMEM, or an I/O error from open/read.
 */
int recording_open(const char *path, const struct recording_opts *opts,
		   struct recording **ret, struct recording_error *ret_err);

/* recording_free() - NULL-safe; returns NULL: rec = recording_free(rec); */
struct recording *recording_free(struct recording *rec);

/**
 * recording_strerror() - format @err as "path:line: field: msg".
 * Return: the length snprintf() would have written.
 */
int recording_strerror(const struct recording_error *err, char *buf, size_t len);

enum recording_format recording_format(const struct recording *rec);
/* "WFDB format 16", "EDF+C", "BDF", "BioSPPy text", ... */
const char *recording_format_name(const struct recording *rec);

/*
 * Accessors. Channels are numbered from 0 in the file's signal order,
 * EDF annotation signals excluded. An out-of-range @channel gives 0, NaN
 * or NULL.
 */
size_t recording_n_channels(const struct recording *rec);
double recording_rate_hz(const struct recording *rec, size_t channel);
uint64_t recording_n_samples(const struct recording *rec, size_t channel);
const char *recording_label(const struct recording *rec, size_t channel);
const char *recording_unit(const struct recording *rec, size_t channel);
/* true if the unit is a voltage (uV, mV, V, nV; any case; µ as UTF-8 or Latin-1) */
bool recording_is_voltage(const struct recording *rec, size_t channel);
/* samples flagged RECORDING_SAMPLE_SATURATED on @channel */
uint64_t recording_n_saturated(const struct recording *rec, size_t channel);
/* EDF+: when the first sample was taken, in s after the header's start time
 * (the first data record's time-keeping annotation); 0 for other formats. */
double recording_start_s(const struct recording *rec);

/**
 * recording_read() - copy samples [@start, @start + @n) of @channel, in uV.
 * Reads stop at the end of the channel; at most INT_MAX samples per call.
 * WFDB "invalid sample" codes read as NaN.
 *
 * Return: the number of samples written to @out_uv (0 at the end), or
 * -EINVAL (bad channel, @start past the end, NULL), -EMEDIUMTYPE (the
 * channel's unit is not a voltage: use recording_read_physical()).
 */
int recording_read(const struct recording *rec, size_t channel, uint64_t start,
		   size_t n, double *out_uv);

/* recording_read_physical() - as recording_read(), in the channel's own unit. */
int recording_read_physical(const struct recording *rec, size_t channel,
			    uint64_t start, size_t n, double *out);

/* recording_read_flags() - as recording_read(), RECORDING_SAMPLE_* per sample. */
int recording_read_flags(const struct recording *rec, size_t channel,
			 uint64_t start, size_t n, uint8_t *out_flags);

/* EDF+ annotations in file order (time-keeping TALs left out). */
size_t recording_n_annotations(const struct recording *rec);
const struct recording_annotation *recording_annotation(const struct recording *rec,
							size_t i);

#endif /* TWITCH_RECORDING_H */

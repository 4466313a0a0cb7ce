/* SPDX-License-Identifier: MIT */
/*
 * scan.h - IIO scan layout and decoding.
 *
 * The kernel packs the enabled scan elements of a device into one "scan" per
 * sample instant (drivers/iio/industrialio-buffer.c, iio_compute_scan_bytes).
 * This module parses the scan_elements type strings, computes that layout
 * itself (libiio 0.24 gets the final padding wrong) and turns blocks of raw
 * bytes into doubles: table-driven, no allocation, no syscall per sample.
 */
#ifndef TWITCH_DRIVERS_SCAN_H
#define TWITCH_DRIVERS_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Hard bounds, sized for the largest device we support (64 channels of
 * 32 bits plus a timestamp is 264 bytes); a device beyond them is refused
 * with -E2BIG instead of being half-decoded.
 */
#define SCAN_MAX_ELEMENTS	128	/* enabled scan elements per device */
#define SCAN_MAX_VALUES		256	/* decoded values per scan (repeat counts) */
#define SCAN_MAX_BYTES		2048	/* bytes per scan */
#define SCAN_TYPE_STRLEN	32	/* "be:s64/64X65535>>63\n" fits */

/* One scan_elements/<x>_type: "[be|le]:[s|u|S|U]bits/storagebits[Xrepeat]>>shift" */
struct scan_type {
	bool is_be;
	bool is_signed;
	uint8_t realbits;	/* 1..storagebits */
	uint8_t storagebits;	/* 8, 16, 32 or 64 */
	uint8_t shift;		/* realbits + shift <= storagebits */
	uint16_t repeat;	/* >= 1 */
};

/* One enabled element placed in a scan. */
struct scan_element {
	int32_t index;		/* scan_elements/<x>_index */
	uint32_t offset;	/* byte offset in the scan (scan_layout_compute) */
	struct scan_type type;
};

struct scan_layout {
	size_t n_elements;	/* sorted by index */
	size_t scan_bytes;
	struct scan_element el[SCAN_MAX_ELEMENTS];
};

enum scan_rule {
	SCAN_RULE_KERNEL,	/* align each element, pad the scan: what read() returns */
	SCAN_RULE_LIBIIO_0_24,	/* same without the final padding (libiio < 0.25) */
};

/* Conversion of one element to the output unit: out = (raw + offset) * gain. */
struct scan_conv {
	double offset;		/* the device's _offset, in raw counts */
	double gain;		/* the device's _scale times the unit factor */
};

/* One decoded value: which bytes of the scan, how to unpack them. */
struct scan_column {
	uint32_t offset;
	uint8_t bytes;
	uint8_t shift;
	bool is_be;
	bool is_signed;
	uint64_t mask;		/* realbits ones */
	uint64_t sign_bit;	/* 1 << (realbits - 1), or 0 if unsigned */
	double raw_offset;
	double gain;
};

/*
 * A decoder: the column table plus room for one partial scan, because reads
 * from the char device (and from a pty standing in for it) can end inside a
 * scan. Embedded in the caller's storage; no allocation.
 */
struct scan_decoder {
	size_t scan_bytes;
	size_t n_values;			/* columns per scan in `out` */
	bool has_timestamp;
	struct scan_column ts;			/* valid if has_timestamp */
	struct scan_column col[SCAN_MAX_VALUES];
	size_t n_carry;				/* bytes of a partial scan kept */
	uint8_t carry[SCAN_MAX_BYTES];
};

/*
 * scan_type_parse() - parse a scan_elements/<x>_type string.
 * Trailing whitespace, newline and NUL padding are accepted; anything else
 * after the shift is an error.
 * Return: 0 and *ret, or -EINVAL (malformed) / -ERANGE (bits out of range).
 */
int scan_type_parse(const char *s, struct scan_type *ret);

/*
 * scan_type_format() - write the type the way the kernel prints it
 * (lower-case sign, "\n"-terminated as in sysfs).
 * Return: the length written (without NUL), or -ENOBUFS.
 */
int scan_type_format(const struct scan_type *t, char *buf, size_t size);

/* Bytes one element occupies: storagebits / 8 * repeat. */
size_t scan_type_bytes(const struct scan_type *t);

/*
 * scan_layout_compute() - place enabled elements in a scan.
 * @in: the enabled elements in any order (offset ignored); duplicates of an
 *      index are an error.
 * Kernel rule: in index order, each element is aligned to its own size, then
 * the scan is padded to a multiple of the largest element size. Alignment is
 * the kernel's ALIGN(), a power-of-two mask: element sizes that are not
 * powers of two (repeat of 3, say) are placed exactly as the kernel would.
 * Return: 0 and *ret, or -EINVAL, -E2BIG.
 */
int scan_layout_compute(const struct scan_element *in, size_t n,
			enum scan_rule rule, struct scan_layout *ret);

/*
 * scan_decoder_init() - build the column table for @layout.
 * @conv:  one conversion per element of @layout (NULL: raw counts, gain 1).
 * @ts_element: the element (position in @layout) that is the timestamp,
 *         decoded as int64 into its own output; -1 for none.
 * Return: 0, or -EINVAL, -E2BIG (more than SCAN_MAX_VALUES values).
 */
int scan_decoder_init(struct scan_decoder *d, const struct scan_layout *layout,
		      const struct scan_conv *conv, int ts_element);

/* Forget a partial scan (after the stream restarted). */
void scan_decoder_reset(struct scan_decoder *d);

/* Most scans one call can produce from @n_bytes (room to give `out`). */
size_t scan_decoder_max_scans(const struct scan_decoder *d, size_t n_bytes);

/*
 * scan_decode() - decode a chunk of the byte stream.
 * @buf, @n_bytes: the bytes as read; may start or end inside a scan.
 * @out:   n_scans x n_values doubles, scan-major (may be NULL if n_values 0).
 * @out_ts: n_scans timestamps in ns, or NULL to drop them.
 * @cap_scans: room in @out/@out_ts, in scans; must be at least
 *         scan_decoder_max_scans(d, n_bytes) or nothing is decoded.
 * Does not allocate, lock or make syscalls.
 * Return: scans written (>= 0), or -ENOBUFS.
 */
int scan_decode(struct scan_decoder *d, const void *buf, size_t n_bytes,
		double *out, int64_t *out_ts, size_t cap_scans);

/* Unpack one column of one scan to its sign- or zero-extended raw value. */
int64_t scan_column_raw(const struct scan_column *c, const uint8_t *scan);

/*
 * scan_encode_raw() - the inverse, for the device simulator: store @raw
 * (already in range) into element @el of @scan, repeat item @rep, leaving the
 * bits outside [shift, shift + realbits) as they are.
 */
void scan_encode_raw(const struct scan_element *el, unsigned int rep,
		     int64_t raw, uint8_t *scan);

#endif

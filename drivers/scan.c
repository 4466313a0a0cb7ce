// SPDX-License-Identifier: MIT
/*
 * scan.c - IIO scan layout and decoding.
 *
 * Parses scan_elements/<x>_type, places enabled elements the way the kernel
 * does (iio_compute_scan_bytes: align each element to its size, pad the scan
 * to its largest element) and decodes byte streams into doubles through a
 * per-column table built once at start. The per-block path allocates
 * nothing and keeps at most one partial scan between calls.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

static int scan_parse_uint(const char *s, char **end, unsigned long max,
			   unsigned long *ret)
{
	unsigned long v;

	if (*s < '0' || *s > '9')	/* strtoul would accept "-1" and " 1" */
		return -EINVAL;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0 || *end == s)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int scan_type_parse(const char *s, struct scan_type *ret)
{
	struct scan_type t = { .repeat = 1 };
	unsigned long bits, storage, repeat = 1, shift;
	char *end;
	int err;

	if (s == NULL || ret == NULL)
		return -EINVAL;
	if (strncmp(s, "le:", 3) == 0)
		t.is_be = false;
	else if (strncmp(s, "be:", 3) == 0)
		t.is_be = true;
	else
		return -EINVAL;
	s += 3;
	switch (*s) {
	case 's': case 'S':
		t.is_signed = true;
		break;
	case 'u': case 'U':
		t.is_signed = false;
		break;
	default:
		return -EINVAL;
	}
	s++;
	err = scan_parse_uint(s, &end, 64, &bits);
	if (err < 0)
		return err;
	if (*end != '/')
		return -EINVAL;
	err = scan_parse_uint(end + 1, &end, 64, &storage);
	if (err < 0)
		return err;
	if (*end == 'X') {
		err = scan_parse_uint(end + 1, &end, UINT16_MAX, &repeat);
		if (err < 0)
			return err;
	}
	if (end[0] != '>' || end[1] != '>')
		return -EINVAL;
	err = scan_parse_uint(end + 2, &end, 63, &shift);
	if (err < 0)
		return err;
	/* sysfs gives "...\n"; readers into fixed buffers may leave NULs */
	while (*end == '\n' || *end == ' ' || *end == '\t' || *end == '\r')
		end++;
	if (*end != '\0')
		return -EINVAL;

	if (storage != 8 && storage != 16 && storage != 32 && storage != 64)
		return -ERANGE;
	if (bits == 0 || bits + shift > storage || repeat == 0)
		return -ERANGE;
	t.realbits = (uint8_t)bits;
	t.storagebits = (uint8_t)storage;
	t.shift = (uint8_t)shift;
	t.repeat = (uint16_t)repeat;
	*ret = t;
	return 0;
}

int scan_type_format(const struct scan_type *t, char *buf, size_t size)
{
	int n;

	if (t->repeat > 1)
		n = snprintf(buf, size, "%s:%c%u/%uX%u>>%u\n",
			     t->is_be ? "be" : "le", t->is_signed ? 's' : 'u',
			     t->realbits, t->storagebits, t->repeat, t->shift);
	else
		n = snprintf(buf, size, "%s:%c%u/%u>>%u\n",
			     t->is_be ? "be" : "le", t->is_signed ? 's' : 'u',
			     t->realbits, t->storagebits, t->shift);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

size_t scan_type_bytes(const struct scan_type *t)
{
	return (size_t)t->storagebits / 8 * t->repeat;
}

static int scan_element_cmp(const void *a, const void *b)
{
	const struct scan_element *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

/* The kernel's ALIGN(): a mask, exact for powers of two only (see scan.h). */
static size_t scan_kernel_align(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

int scan_layout_compute(const struct scan_element *in, size_t n,
			enum scan_rule rule, struct scan_layout *ret)
{
	struct scan_layout *l;
	size_t bytes = 0, largest = 0, i;
	int err = 0;

	if ((in == NULL && n > 0) || ret == NULL)
		return -EINVAL;
	if (n > SCAN_MAX_ELEMENTS)
		return -E2BIG;
	/* built in a copy so that *ret is written only on success */
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	if (n > 0)
		memcpy(l->el, in, n * sizeof(*in));
	l->n_elements = n;
	qsort(l->el, n, sizeof(l->el[0]), scan_element_cmp);

	for (i = 0; i < n; i++) {
		size_t len = scan_type_bytes(&l->el[i].type);

		if (l->el[i].index < 0 || len == 0 ||
		    (i > 0 && l->el[i].index == l->el[i - 1].index)) {
			err = -EINVAL;
			goto out;
		}
		if (rule == SCAN_RULE_KERNEL)
			bytes = scan_kernel_align(bytes, len);
		else if (bytes % len)
			bytes += len - bytes % len;
		l->el[i].offset = (uint32_t)bytes;
		bytes += len;
		if (len > largest)
			largest = len;
		if (bytes > SCAN_MAX_BYTES) {
			err = -E2BIG;
			goto out;
		}
	}
	if (rule == SCAN_RULE_KERNEL && largest > 0)
		bytes = scan_kernel_align(bytes, largest);
	if (bytes > SCAN_MAX_BYTES) {
		err = -E2BIG;
		goto out;
	}
	l->scan_bytes = bytes;
	memcpy(ret, l, sizeof(*l));
out:
	free(l);
	return err;
}

static void scan_column_init(struct scan_column *c, const struct scan_element *el,
			     unsigned int rep, const struct scan_conv *conv)
{
	const struct scan_type *t = &el->type;

	c->offset = el->offset + rep * (t->storagebits / 8u);
	c->bytes = t->storagebits / 8;
	c->shift = t->shift;
	c->is_be = t->is_be;
	c->is_signed = t->is_signed;
	c->mask = t->realbits == 64 ? UINT64_MAX :
		  (UINT64_C(1) << t->realbits) - 1;
	c->sign_bit = t->is_signed ? UINT64_C(1) << (t->realbits - 1) : 0;
	c->raw_offset = conv != NULL ? conv->offset : 0.0;
	c->gain = conv != NULL ? conv->gain : 1.0;
}

int scan_decoder_init(struct scan_decoder *d, const struct scan_layout *layout,
		      const struct scan_conv *conv, int ts_element)
{
	size_t i, n_values = 0;

	if (d == NULL || layout == NULL || layout->scan_bytes == 0 ||
	    layout->scan_bytes > SCAN_MAX_BYTES ||
	    ts_element >= (int)layout->n_elements)
		return -EINVAL;
	if (ts_element >= 0 &&
	    layout->el[ts_element].type.repeat != 1)
		return -EINVAL;
	for (i = 0; i < layout->n_elements; i++)
		if ((int)i != ts_element)
			n_values += layout->el[i].type.repeat;
	if (n_values > SCAN_MAX_VALUES)
		return -E2BIG;

	memset(d, 0, sizeof(*d));
	d->scan_bytes = layout->scan_bytes;
	for (i = 0; i < layout->n_elements; i++) {
		const struct scan_element *el = &layout->el[i];
		const struct scan_conv *cv = conv != NULL ? &conv[i] : NULL;
		unsigned int r;

		if ((int)i == ts_element) {
			scan_column_init(&d->ts, el, 0, NULL);
			d->has_timestamp = true;
			continue;
		}
		for (r = 0; r < el->type.repeat; r++)
			scan_column_init(&d->col[d->n_values++], el, r, cv);
	}
	return 0;
}

void scan_decoder_reset(struct scan_decoder *d)
{
	d->n_carry = 0;
}

size_t scan_decoder_max_scans(const struct scan_decoder *d, size_t n_bytes)
{
	return (d->n_carry + n_bytes) / d->scan_bytes;
}

static uint64_t scan_load(const uint8_t *p, unsigned int bytes, bool be)
{
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (bytes) {
	case 1:
		return p[0];
	case 2:
		memcpy(&v16, p, 2);
		return be ? be16toh(v16) : le16toh(v16);
	case 4:
		memcpy(&v32, p, 4);
		return be ? be32toh(v32) : le32toh(v32);
	default:
		memcpy(&v64, p, 8);
		return be ? be64toh(v64) : le64toh(v64);
	}
}

static void scan_store(uint8_t *p, unsigned int bytes, bool be, uint64_t v)
{
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (bytes) {
	case 1:
		p[0] = (uint8_t)v;
		break;
	case 2:
		v16 = be ? htobe16((uint16_t)v) : htole16((uint16_t)v);
		memcpy(p, &v16, 2);
		break;
	case 4:
		v32 = be ? htobe32((uint32_t)v) : htole32((uint32_t)v);
		memcpy(p, &v32, 4);
		break;
	default:
		v64 = be ? htobe64(v) : htole64(v);
		memcpy(p, &v64, 8);
		break;
	}
}

int64_t scan_column_raw(const struct scan_column *c, const uint8_t *scan)
{
	uint64_t v = scan_load(scan + c->offset, c->bytes, c->is_be);
	int64_t s;

	v = (v >> c->shift) & c->mask;
	v = (v ^ c->sign_bit) - c->sign_bit;	/* sign-extends; no-op if 0 */
	memcpy(&s, &v, sizeof(s));		/* two's complement reinterpretation */
	return s;
}

/* The column as a number: an unsigned one of 64 bits stays positive (as
 * an int64_t its top half read negative). */
static double scan_column_value(const struct scan_column *c, const uint8_t *scan)
{
	uint64_t v;

	if (c->is_signed)
		return (double)scan_column_raw(c, scan);
	v = (scan_load(scan + c->offset, c->bytes, c->is_be) >> c->shift) & c->mask;
	return (double)v;
}

static void scan_decode_one(const struct scan_decoder *d, const uint8_t *scan,
			    double *out, int64_t *out_ts)
{
	size_t i;

	for (i = 0; i < d->n_values; i++) {
		const struct scan_column *c = &d->col[i];

		out[i] = (scan_column_value(c, scan) + c->raw_offset) * c->gain;
	}
	if (out_ts != NULL && d->has_timestamp)
		*out_ts = scan_column_raw(&d->ts, scan);
}

int scan_decode(struct scan_decoder *d, const void *buf, size_t n_bytes,
		double *out, int64_t *out_ts, size_t cap_scans)
{
	const uint8_t *p = buf;
	size_t n = 0;

	if (scan_decoder_max_scans(d, n_bytes) > cap_scans)
		return -ENOBUFS;

	if (d->n_carry > 0) {
		size_t need = d->scan_bytes - d->n_carry;

		if (n_bytes < need) {
			memcpy(d->carry + d->n_carry, p, n_bytes);
			d->n_carry += n_bytes;
			return 0;
		}
		memcpy(d->carry + d->n_carry, p, need);
		scan_decode_one(d, d->carry, out, out_ts);
		n = 1;
		p += need;
		n_bytes -= need;
		d->n_carry = 0;
	}
	while (n_bytes >= d->scan_bytes) {
		scan_decode_one(d, p, out + n * d->n_values,
				out_ts != NULL ? out_ts + n : NULL);
		n++;
		p += d->scan_bytes;
		n_bytes -= d->scan_bytes;
	}
	if (n_bytes > 0) {
		memcpy(d->carry, p, n_bytes);
		d->n_carry = n_bytes;
	}
	return (int)n;
}

void scan_encode_raw(const struct scan_element *el, unsigned int rep,
		     int64_t raw, uint8_t *scan)
{
	const struct scan_type *t = &el->type;
	unsigned int bytes = t->storagebits / 8u;
	uint8_t *p = scan + el->offset + rep * bytes;
	uint64_t mask = t->realbits == 64 ? UINT64_MAX :
			(UINT64_C(1) << t->realbits) - 1;
	uint64_t v = scan_load(p, bytes, t->is_be);
	uint64_t u;

	memcpy(&u, &raw, sizeof(u));
	v &= ~(mask << t->shift);
	v |= (u & mask) << t->shift;
	scan_store(p, bytes, t->is_be, v);
}

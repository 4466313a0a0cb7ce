// SPDX-License-Identifier: MIT
/*
 * test-scan.c - scan type parsing, kernel scan layout and decoding.
 *
 * Every expected value below was worked out by hand from the bytes (two's
 * complement, byte order, shift and mask written out in the comments), not
 * by running the code under test. Includes scan.c to reach its statics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "../drivers/scan.c"

/* cmocka 1.1 compares floats only in single precision */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __FILE__, __LINE__)
static void assert_near_at(double a, double b, double eps, const char *file,
			   int line)
{
	if (!(fabs(a - b) <= eps))
		fail_msg("%s:%d: %.17g != %.17g (eps %g)", file, line, a, b, eps);
}

static struct scan_type type_of(const char *s)
{
	struct scan_type t;

	assert_int_equal(scan_type_parse(s, &t), 0);
	return t;
}

static void test_parse_kernel_strings(void **state)
{
	struct scan_type t;

	(void)state;
	t = type_of("le:s24/32>>0\n");		/* ti-ads1298 */
	assert_false(t.is_be);
	assert_true(t.is_signed);
	assert_int_equal(t.realbits, 24);
	assert_int_equal(t.storagebits, 32);
	assert_int_equal(t.shift, 0);
	assert_int_equal(t.repeat, 1);

	t = type_of("be:s24/32>>8");		/* ti-ads131e08 */
	assert_true(t.is_be);
	assert_int_equal(t.shift, 8);

	t = type_of("le:s16/16>>0\n");		/* ad5933 real/imag */
	assert_int_equal(t.storagebits, 16);

	t = type_of("le:s64/64>>0\n");		/* in_timestamp */
	assert_int_equal(t.realbits, 64);

	t = type_of("le:u12/16X3>>4\n");	/* repeat form */
	assert_false(t.is_signed);
	assert_int_equal(t.repeat, 3);
	assert_int_equal(t.shift, 4);
	assert_int_equal(scan_type_bytes(&t), 6);

	t = type_of("be:S32/32>>0");		/* libiio's "fully defined" case */
	assert_true(t.is_signed);

	/* a reader with a fixed buffer may hand us trailing NULs */
	t = type_of("le:u8/8>>0\n\0\0");
	assert_int_equal(t.storagebits, 8);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad_inval[] = {
		"", "xx:s24/32>>0", "le:x24/32>>0", "le:s24/32", "le:s24/32>0",
		"le:s24-32>>0", "le:s/32>>0", "le:s24/32>>0 junk", "le:s-1/32>>0",
		"le:s 24/32>>0", "LE:s24/32>>0", "le:s24/32X>>0",
	};
	static const char *const bad_range[] = {
		"le:s33/32>>0",		/* realbits > storage */
		"le:s24/24>>0",		/* storage not 8/16/32/64 */
		"le:s24/32>>9",		/* 24 + 9 > 32 */
		"le:s0/32>>0",
		"le:s16/16X0>>0",
		"le:s99999999999999999999/32>>0",
	};
	struct scan_type t = { .realbits = 77 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_inval) / sizeof(bad_inval[0]); i++)
		assert_int_equal(scan_type_parse(bad_inval[i], &t), -EINVAL);
	for (i = 0; i < sizeof(bad_range) / sizeof(bad_range[0]); i++)
		assert_int_equal(scan_type_parse(bad_range[i], &t), -ERANGE);
	assert_int_equal(t.realbits, 77);	/* ret_ untouched on failure */
	assert_int_equal(scan_type_parse(NULL, &t), -EINVAL);
}

static void test_format_round_trip(void **state)
{
	char buf[SCAN_TYPE_STRLEN];
	struct scan_type t = type_of("be:s24/32>>8\n");

	(void)state;
	assert_int_equal(scan_type_format(&t, buf, sizeof(buf)), 13);
	assert_string_equal(buf, "be:s24/32>>8\n");
	t = type_of("le:u12/16X3>>4");
	assert_int_equal(scan_type_format(&t, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "le:u12/16X3>>4\n");
	assert_int_equal(scan_type_format(&t, buf, 8), -ENOBUFS);
}

static struct scan_element elem(int index, const char *type)
{
	struct scan_element e = { .index = index, .type = type_of(type) };

	return e;
}

static void test_layout_ads1298(void **state)
{
	struct scan_element in[8];
	struct scan_layout l;
	int i;

	(void)state;
	for (i = 0; i < 8; i++)		/* given in reverse order on purpose */
		in[i] = elem(7 - i, "le:s24/32>>0");
	assert_int_equal(scan_layout_compute(in, 8, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(l.scan_bytes, 32);
	for (i = 0; i < 8; i++) {
		assert_int_equal(l.el[i].index, i);
		assert_int_equal(l.el[i].offset, 4 * i);
	}
}

static void test_layout_padding(void **state)
{
	struct scan_element in[4];
	struct scan_layout l;

	(void)state;
	/* s32 @0, s32 @4, u16 @8 = 10 bytes, padded to the s32: 12 */
	in[0] = elem(0, "le:s32/32>>0");
	in[1] = elem(1, "le:s32/32>>0");
	in[2] = elem(2, "le:u16/16>>0");
	assert_int_equal(scan_layout_compute(in, 3, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(l.el[2].offset, 8);
	assert_int_equal(l.scan_bytes, 12);
	/* libiio 0.24 forgets the tail padding: 10 */
	assert_int_equal(scan_layout_compute(in, 3, SCAN_RULE_LIBIIO_0_24, &l), 0);
	assert_int_equal(l.scan_bytes, 10);

	/* + timestamp: 10 -> align 8 -> ts @16, 24 bytes, both rules */
	in[3] = elem(3, "le:s64/64>>0");
	assert_int_equal(scan_layout_compute(in, 4, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(l.el[3].offset, 16);
	assert_int_equal(l.scan_bytes, 24);
	assert_int_equal(scan_layout_compute(in, 4, SCAN_RULE_LIBIIO_0_24, &l), 0);
	assert_int_equal(l.scan_bytes, 24);

	/* u8 @0, s64 aligned to @8: 16 */
	in[0] = elem(0, "le:u8/8>>0");
	in[1] = elem(5, "le:s64/64>>0");
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(l.el[1].offset, 8);
	assert_int_equal(l.scan_bytes, 16);

	/* u16 @0, u8 @2 = 3 bytes, padded to 4 by the kernel only */
	in[0] = elem(0, "le:u16/16>>0");
	in[1] = elem(1, "le:u8/8>>0");
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(l.el[1].offset, 2);
	assert_int_equal(l.scan_bytes, 4);
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_LIBIIO_0_24, &l), 0);
	assert_int_equal(l.scan_bytes, 3);

	/*
	 * u8 then a 6-byte repeat element: the kernel's ALIGN(1, 6) is
	 * (1 + 5) & ~5 = 0b110 & ~0b101 = 0b010 = 2, then 2 + 6 = 8 and
	 * ALIGN(8, 6) = 13 & ~5 = 0b1101 & ~0b0101 = 0b1000 = 8. libiio
	 * rounds to a true multiple: 6, then 12.
	 */
	in[0] = elem(0, "le:u8/8>>0");
	in[1] = elem(1, "le:u16/16X3>>0");
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(l.el[1].offset, 2);
	assert_int_equal(l.scan_bytes, 8);
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_LIBIIO_0_24, &l), 0);
	assert_int_equal(l.el[1].offset, 6);
	assert_int_equal(l.scan_bytes, 12);
}

static void test_layout_rejects(void **state)
{
	struct scan_element in[2];
	struct scan_layout l = { .scan_bytes = 99 };

	(void)state;
	in[0] = elem(1, "le:u8/8>>0");
	in[1] = elem(1, "le:u8/8>>0");
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_KERNEL, &l), -EINVAL);
	in[1] = elem(-1, "le:u8/8>>0");
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_KERNEL, &l), -EINVAL);
	assert_int_equal(scan_layout_compute(in, SCAN_MAX_ELEMENTS + 1,
					     SCAN_RULE_KERNEL, &l), -E2BIG);
	assert_int_equal(l.scan_bytes, 99);
	assert_int_equal(scan_layout_compute(NULL, 0, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(l.scan_bytes, 0);
}

/* one element at offset 0, decoded raw */
static int64_t raw1(const char *type, const uint8_t *bytes)
{
	struct scan_element e = elem(0, type);
	struct scan_layout l;
	struct scan_decoder d;

	assert_int_equal(scan_layout_compute(&e, 1, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(scan_decoder_init(&d, &l, NULL, -1), 0);
	return scan_column_raw(&d.col[0], bytes);
}

static void test_decode_le_s24_in_32(void **state)
{
	/* little endian, value in the low 24 bits; bit 23 is the sign */
	static const uint8_t max[] = { 0xff, 0xff, 0x7f, 0x00 };	/* 0x7fffff */
	static const uint8_t min[] = { 0x00, 0x00, 0x80, 0x00 };	/* 0x800000 */
	static const uint8_t m1[] = { 0xff, 0xff, 0xff, 0x00 };	/* 0xffffff */
	static const uint8_t one_junk[] = { 0x01, 0x00, 0x00, 0xa5 };	/* top byte not ours */
	static const uint8_t m2_junk[] = { 0xfe, 0xff, 0xff, 0xa5 };
	static const uint8_t ads[] = { 0x56, 0x34, 0x12, 0x00 };	/* 0x123456 */

	(void)state;
	assert_int_equal(raw1("le:s24/32>>0", max), 8388607);
	assert_int_equal(raw1("le:s24/32>>0", min), -8388608);
	assert_int_equal(raw1("le:s24/32>>0", m1), -1);
	assert_int_equal(raw1("le:s24/32>>0", one_junk), 1);
	assert_int_equal(raw1("le:s24/32>>0", m2_junk), -2);
	assert_int_equal(raw1("le:s24/32>>0", ads), 1193046);
}

static void test_decode_be_s24_shift8(void **state)
{
	/* big endian 32-bit word, value in bits 31..8, low byte is junk */
	static const uint8_t min[] = { 0x80, 0x00, 0x00, 0x5a };
	static const uint8_t one[] = { 0x00, 0x00, 0x01, 0xff };
	static const uint8_t m1[] = { 0xff, 0xff, 0xff, 0x00 };
	static const uint8_t v[] = { 0x12, 0x34, 0x56, 0x78 };	/* 0x123456 */
	static const uint8_t neg[] = { 0xed, 0xcb, 0xaa, 0x00 };	/* -0x123456 */

	(void)state;
	assert_int_equal(raw1("be:s24/32>>8", min), -8388608);
	assert_int_equal(raw1("be:s24/32>>8", one), 1);
	assert_int_equal(raw1("be:s24/32>>8", m1), -1);
	assert_int_equal(raw1("be:s24/32>>8", v), 1193046);
	assert_int_equal(raw1("be:s24/32>>8", neg), -1193046);
}

static void test_decode_16_and_64(void **state)
{
	static const uint8_t s16min[] = { 0x00, 0x80 };
	static const uint8_t s16max[] = { 0xff, 0x7f };
	static const uint8_t s16m300[] = { 0xd4, 0xfe };	/* 0xfed4 = -300 */
	/* 0xABCD little endian; >>4 = 0xABC, 12 bits = 2748 */
	static const uint8_t u12[] = { 0xcd, 0xab };
	/* be 0x8004 >> 2 = 0x2001; 14-bit sign set: 0x2001 - 0x4000 = -8191 */
	static const uint8_t s14[] = { 0x80, 0x04 };
	/* 1700000000123456789 = 0x17979CFE3D85CD15 (python3 hex()), little endian */
	static const uint8_t ts[] = { 0x15, 0xcd, 0x85, 0x3d, 0xfe, 0x9c, 0x97, 0x17 };
	static const uint8_t tsm5[] = { 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t u8v[] = { 0xfe };

	(void)state;
	assert_int_equal(raw1("le:s16/16>>0", s16min), -32768);
	assert_int_equal(raw1("le:s16/16>>0", s16max), 32767);
	assert_int_equal(raw1("le:s16/16>>0", s16m300), -300);
	assert_int_equal(raw1("le:u16/16>>0", s16min), 32768);
	assert_int_equal(raw1("le:u12/16>>4", u12), 2748);
	assert_int_equal(raw1("be:s14/16>>2", s14), -8191);
	assert_true(raw1("le:s64/64>>0", ts) == INT64_C(1700000000123456789));
	assert_true(raw1("le:s64/64>>0", tsm5) == -5);
	assert_int_equal(raw1("le:u8/8>>0", u8v), 254);
	assert_int_equal(raw1("le:s8/8>>0", u8v), -2);
}

static void test_decode_scaled_block(void **state)
{
	/*
	 * Two ads1298-like channels and a timestamp: le:s24/32 @0 and @4,
	 * ts @8, 16-byte scans. Gain is 0.000286102 mV/count * 1000 uV/mV.
	 */
	struct scan_element in[3];
	struct scan_conv conv[3] = {
		{ .offset = 0.0, .gain = 0.286102 }, { .offset = 10.0, .gain = 0.5 },
		{ .offset = 0.0, .gain = 1.0 },
	};
	struct scan_layout l;
	struct scan_decoder d;
	uint8_t buf[32] = {
		0xe8, 0x03, 0x00, 0x00,  0xfe, 0xff, 0xff, 0x00,	/* 1000, -2 */
		0x15, 0xcd, 0x85, 0x3d, 0xfe, 0x9c, 0x97, 0x17,
		0x18, 0xfc, 0xff, 0x00,  0x06, 0x00, 0x00, 0x00,	/* -1000, 6 */
		0x16, 0xcd, 0x85, 0x3d, 0xfe, 0x9c, 0x97, 0x17,
	};
	double out[4];
	int64_t ts[2];

	(void)state;
	in[0] = elem(0, "le:s24/32>>0");
	in[1] = elem(1, "le:s24/32>>0");
	in[2] = elem(2, "le:s64/64>>0");
	assert_int_equal(scan_layout_compute(in, 3, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(l.scan_bytes, 16);
	assert_int_equal(scan_decoder_init(&d, &l, conv, 2), 0);
	assert_int_equal(d.n_values, 2);
	assert_int_equal(scan_decoder_max_scans(&d, sizeof(buf)), 2);
	assert_int_equal(scan_decode(&d, buf, sizeof(buf), out, ts, 1), -ENOBUFS);
	assert_int_equal(scan_decode(&d, buf, sizeof(buf), out, ts, 2), 2);
	assert_near(out[0], 286.102, 1e-9);	/* 1000 * 0.286102 */
	assert_near(out[1], 4.0, 0.0);		/* (-2 + 10) * 0.5 */
	assert_near(out[2], -286.102, 1e-9);
	assert_near(out[3], 8.0, 0.0);		/* (6 + 10) * 0.5 */
	assert_true(ts[0] == INT64_C(1700000000123456789));
	assert_true(ts[1] == INT64_C(1700000000123456790));
}

/* An unsigned 64-bit channel at its top: 2^64 - 1, not -1 (an int64_t). */
static void test_decode_u64(void **state)
{
	struct scan_element in[1];
	struct scan_conv conv[1] = { { .offset = 0.0, .gain = 1.0 } };
	struct scan_layout l;
	struct scan_decoder d;
	uint8_t buf[8];
	double out[1];

	(void)state;
	memset(buf, 0xff, sizeof(buf));
	in[0] = elem(0, "le:u64/64>>0");
	assert_int_equal(scan_layout_compute(in, 1, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(scan_decoder_init(&d, &l, conv, -1), 0);	/* no timestamp */
	assert_int_equal(scan_decode(&d, buf, sizeof(buf), out, NULL, 1), 1);
	assert_true(out[0] == 18446744073709551615.0);
	in[0] = elem(0, "le:s64/64>>0");	/* the same bytes signed: -1 */
	assert_int_equal(scan_layout_compute(in, 1, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(scan_decoder_init(&d, &l, conv, -1), 0);	/* no timestamp */
	assert_int_equal(scan_decode(&d, buf, sizeof(buf), out, NULL, 1), 1);
	assert_true(out[0] == -1.0);
}

static void test_decode_partial_scans(void **state)
{
	/* be:s24/32>>8 pairs; the stream is cut at every possible place */
	struct scan_element in[2];
	struct scan_layout l;
	struct scan_decoder d;
	static const uint8_t buf[24] = {
		0x00, 0x00, 0x01, 0x11,  0xff, 0xff, 0xff, 0x22,	/* 1, -1 */
		0x00, 0x00, 0x02, 0x33,  0xff, 0xff, 0xfe, 0x44,	/* 2, -2 */
		0x7f, 0xff, 0xff, 0x55,  0x80, 0x00, 0x00, 0x66,	/* max, min */
	};
	static const double want[6] = { 1, -1, 2, -2, 8388607, -8388608 };
	double out[6];
	size_t cut, cut2;

	(void)state;
	in[0] = elem(0, "be:s24/32>>8");
	in[1] = elem(1, "be:s24/32>>8");
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(scan_decoder_init(&d, &l, NULL, -1), 0);
	for (cut = 0; cut <= sizeof(buf); cut++) {
		for (cut2 = cut; cut2 <= sizeof(buf); cut2++) {
			int n = 0, k;

			memset(out, 0, sizeof(out));
			scan_decoder_reset(&d);
			k = scan_decode(&d, buf, cut, out, NULL, 3);
			assert_true(k >= 0);
			n += k;
			k = scan_decode(&d, buf + cut, cut2 - cut, out + 2 * n,
					NULL, 3 - (size_t)n);
			assert_true(k >= 0);
			n += k;
			k = scan_decode(&d, buf + cut2, sizeof(buf) - cut2,
					out + 2 * n, NULL, 3 - (size_t)n);
			assert_true(k >= 0);
			n += k;
			assert_int_equal(n, 3);
			assert_int_equal(d.n_carry, 0);
			assert_memory_equal(out, want, sizeof(want));
		}
	}
	/* a partial scan stays until the rest arrives */
	scan_decoder_reset(&d);
	assert_int_equal(scan_decode(&d, buf, 5, out, NULL, 0), 0);
	assert_int_equal(d.n_carry, 5);
	assert_int_equal(scan_decoder_max_scans(&d, 3), 1);
	assert_int_equal(scan_decode(&d, buf + 5, 3, out, NULL, 0), -ENOBUFS);
}

static void test_repeat_columns(void **state)
{
	/* u8 @0, then 3 x le:u12/16>>4 at 2, 4, 6 (kernel placement) */
	struct scan_element in[2];
	struct scan_layout l;
	struct scan_decoder d;
	static const uint8_t buf[8] = {
		0x07, 0x00, 0x10, 0x00, 0xf0, 0xff, 0x34, 0x12,
	};
	double out[4];

	(void)state;
	in[0] = elem(0, "le:u8/8>>0");
	in[1] = elem(1, "le:u12/16X3>>4");
	assert_int_equal(scan_layout_compute(in, 2, SCAN_RULE_KERNEL, &l), 0);
	assert_int_equal(scan_decoder_init(&d, &l, NULL, -1), 0);
	assert_int_equal(d.n_values, 4);
	assert_int_equal(scan_decode(&d, buf, 8, out, NULL, 1), 1);
	assert_near(out[0], 7, 0);
	assert_near(out[1], 1, 0);	/* 0x0010 >> 4 */
	assert_near(out[2], 4095, 0);	/* 0xfff0 >> 4 */
	assert_near(out[3], 291, 0);	/* 0x1234 >> 4 = 0x123 */
}

static void test_encode_inverse(void **state)
{
	static const char *const types[] = {
		"le:s24/32>>0", "be:s24/32>>8", "le:s16/16>>0", "le:s64/64>>0",
		"le:u12/16>>4", "be:s14/16>>2",
	};
	static const int64_t vals[] = { 0, 1, -1, 100, -100, 2047 };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		for (j = 0; j < sizeof(vals) / sizeof(vals[0]); j++) {
			struct scan_element e = elem(0, types[i]);
			uint8_t b[8];
			int64_t want = vals[j];

			if (!e.type.is_signed && want < 0)
				continue;
			memset(b, 0xa5, sizeof(b));	/* bits we must not touch */
			scan_encode_raw(&e, 0, want, b);
			assert_true(raw1(types[i], b) == want);
		}
	}
	/* le:s24/32: -2 leaves the junk top byte alone */
	{
		struct scan_element e = elem(0, "le:s24/32>>0");
		uint8_t b[4] = { 0, 0, 0, 0xa5 };
		static const uint8_t want[4] = { 0xfe, 0xff, 0xff, 0xa5 };

		scan_encode_raw(&e, 0, -2, b);
		assert_memory_equal(b, want, 4);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_kernel_strings),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_layout_ads1298),
		cmocka_unit_test(test_layout_padding),
		cmocka_unit_test(test_layout_rejects),
		cmocka_unit_test(test_decode_le_s24_in_32),
		cmocka_unit_test(test_decode_be_s24_shift8),
		cmocka_unit_test(test_decode_16_and_64),
		cmocka_unit_test(test_decode_scaled_block),
		cmocka_unit_test(test_decode_u64),
		cmocka_unit_test(test_decode_partial_scans),
		cmocka_unit_test(test_repeat_columns),
		cmocka_unit_test(test_encode_inverse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

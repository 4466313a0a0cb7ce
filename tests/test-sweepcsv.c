// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-sweepcsv.c - the sweep CSV reader and the --subject parser of
 * daemon/sweepcsv.c (included, to reach its statics).
 *
 * The good file is tests/data/bioz/two-sweeps.csv (its README says how it
 * was made); the expected numbers below are its own decimal text, so they
 * must come back bit for bit. Every kind of bad input is fed from memory
 * (fmemopen) and must give its own error kind on the right physical line.
 * Run from the project root (make check does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../daemon/sweepcsv.c"

#define DATA_FILE "tests/data/bioz/two-sweeps.csv"
#define HDR "sweep,freq_hz,r_ohm,x_ohm\n"

/* ------------------------------------------------------------ helpers */

struct memcsv {
	FILE *f;
	struct sweepcsv *r;
	struct sweepcsv_err err;
	int open_ret;
};

static void mem_open(struct memcsv *m, const char *text, size_t len, size_t max_points)
{
	memset(m, 0, sizeof(*m));
	m->f = fmemopen((void *)(uintptr_t)text, len, "r");
	assert_non_null(m->f);
	m->open_ret = sweepcsv_open_stream(m->f, "mem.csv", max_points, &m->r, &m->err);
}

static void mem_close(struct memcsv *m)
{
	m->r = sweepcsv_free(m->r);
	fclose(m->f);
}

/*
 * Read sweeps until an error or the end; return the last return value and
 * count the sweeps read before it.
 */
static int read_all(struct memcsv *m, int *n_sweeps)
{
	struct sweepcsv_sweep s;
	int ret;

	*n_sweeps = 0;
	while ((ret = sweepcsv_next(m->r, &s, &m->err)) == 1)
		(*n_sweeps)++;
	return ret;
}

/* Expect text to fail (at open or while reading) with @kind on @line. */
static void expect_error(const char *text, size_t len, size_t max_points, int want_ret,
			 enum sweepcsv_kind kind, uint64_t line, const char *field)
{
	struct memcsv m;
	int ret, n;

	mem_open(&m, text, len, max_points);
	ret = m.open_ret;
	if (ret == 0)
		ret = read_all(&m, &n);
	if (ret != want_ret || m.err.kind != kind || m.err.line != line ||
	    strcmp(m.err.field, field) != 0)
		fail_msg("input %.40s...: got ret %d kind %d line %llu field '%s', want %d %d "
			 "%llu '%s'", text, ret, m.err.kind, (unsigned long long)m.err.line,
			 m.err.field, want_ret, kind, (unsigned long long)line, field);
	assert_string_equal(m.err.file, "mem.csv");
	mem_close(&m);
}

#define EXPECT_ERROR(text, ret, kind, line, field) \
	expect_error((text), sizeof(text) - 1, 64, (ret), (kind), (line), (field))

/* ------------------------------------------------------------ good input */

static void test_good_file(void **state)
{
	/* the file's own text, so equality is exact */
	static const double f[8] = { 5000.000, 10658.316, 22719.938, 48431.254, 103239.118,
				     220071.021, 469117.279, 1000000.000 };
	static const double r1[8] = { 575.971214, 557.496248, 528.063655, 489.226382,
				      449.924434, 419.535203, 400.227917, 389.148964 };
	static const double x1[8] = { -32.760914, -47.761890, -62.246807, -68.928286,
				      -63.219227, -49.087050, -33.923117, -21.855979 };
	static const double r2[8] = { 693.957164, 675.020530, 644.983637, 604.251148,
				      560.446720, 523.862936, 498.925923, 483.849768 };
	static const double x2[8] = { -34.249984, -49.858124, -65.841067, -75.346012,
				      -72.515873, -59.233603, -42.760296, -28.520084 };
	struct sweepcsv *r;
	struct sweepcsv_err err;
	struct sweepcsv_sweep s;
	int i;

	(void)state;
	assert_int_equal(sweepcsv_open(DATA_FILE, 16, &r, &err), 0);
	assert_int_equal(sweepcsv_next(r, &s, &err), 1);
	assert_int_equal(s.sweep, 1);
	assert_int_equal(s.n, 8);
	assert_int_equal(s.first_line, 5);
	assert_true(s.temp_c == 34.0);
	assert_true(isnan(s.t_s));
	for (i = 0; i < 8; i++) {
		assert_true(s.freq_hz[i] == f[i]);
		assert_true(s.r_ohm[i] == r1[i]);
		assert_true(s.x_ohm[i] == x1[i]);
	}
	assert_int_equal(sweepcsv_next(r, &s, &err), 1);
	assert_int_equal(s.sweep, 2);
	assert_int_equal(s.n, 8);
	assert_int_equal(s.first_line, 15);		/* after the blank line and comment */
	assert_true(s.temp_c == 34.5);
	for (i = 0; i < 8; i++) {
		assert_true(s.freq_hz[i] == f[i]);
		assert_true(s.r_ohm[i] == r2[i]);
		assert_true(s.x_ohm[i] == x2[i]);
	}
	assert_int_equal(sweepcsv_next(r, &s, &err), 0);
	assert_int_equal(sweepcsv_next(r, &s, &err), 0);	/* stays at the end */
	assert_null(sweepcsv_free(r));
	assert_null(sweepcsv_free(NULL));
}

/* Grouping by id change, CRLF, no final newline, optional columns, BOM. */
static void test_grouping_and_formats(void **state)
{
	static const char text[] =
		"\xef\xbb\xbf" "sweep,freq_hz,r_ohm,x_ohm,t_s,temp_c\r\n"
		"1,1000,500,-10,100.5,\r\n"
		"1,2000,490,-20,100.5,\r\n"
		"1,3000,480,-25,100.5,\r\n"
		"  # indented comment\r\n"
		"2, 1000 ,510,-11,110,36\r\n"
		"2,2000,500,-21,110,37\r\n"
		"7,50000,400,-40,120,36.5";		/* no final newline */
	struct sweepcsv_sweep s;
	struct memcsv m;

	(void)state;
	mem_open(&m, text, sizeof(text) - 1, 64);
	assert_int_equal(m.open_ret, 0);
	assert_int_equal(sweepcsv_next(m.r, &s, &m.err), 1);
	assert_int_equal(s.sweep, 1);
	assert_int_equal(s.n, 3);
	assert_true(s.t_s == 100.5);
	assert_true(isnan(s.temp_c));			/* empty optional column */
	assert_true(s.x_ohm[2] == -25.0);
	assert_int_equal(sweepcsv_next(m.r, &s, &m.err), 1);
	assert_int_equal(s.sweep, 2);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.first_line, 6);
	assert_true(s.freq_hz[0] == 1000.0);		/* spaces trimmed */
	assert_true(s.temp_c == 36.5);			/* mean of 36 and 37 */
	assert_int_equal(sweepcsv_next(m.r, &s, &m.err), 1);
	assert_int_equal(s.sweep, 7);
	assert_int_equal(s.n, 1);
	assert_true(s.r_ohm[0] == 400.0);
	assert_int_equal(sweepcsv_next(m.r, &s, &m.err), 0);
	mem_close(&m);

	/* exactly max_points is fine */
	{
		static const char three[] = HDR "1,1,2,3\n1,2,2,3\n1,3,2,3\n";

		mem_open(&m, three, sizeof(three) - 1, 3);
	}
	assert_int_equal(m.open_ret, 0);
	assert_int_equal(sweepcsv_next(m.r, &s, &m.err), 1);
	assert_int_equal(s.n, 3);
	mem_close(&m);
}

/* ------------------------------------------------------------ bad input */

static void test_header_errors(void **state)
{
	struct sweepcsv *r = NULL;
	struct sweepcsv_err err;

	(void)state;
	EXPECT_ERROR("sweep,freq_hz,r_ohm\n1,5000,500\n", -EINVAL,
		     SWEEPCSV_E_MISSING_COLUMN, 1, "x_ohm");
	EXPECT_ERROR("# c\n\nsweep,freq_hz,x_ohm,r_ohm,FREQ_HZ\n", -EINVAL,
		     SWEEPCSV_E_DUP_COLUMN, 3, "freq_hz");
	EXPECT_ERROR("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,"
		     "aa,bb,cc,dd,ee,ff,gg\n", -EINVAL, SWEEPCSV_E_TOO_MANY_COLUMNS, 1, "");
	/* empty: no bytes at all, or only comments and blank lines */
	assert_int_equal(sweepcsv_open("/dev/null", 16, &r, &err), -EINVAL);
	assert_int_equal(err.kind, SWEEPCSV_E_EMPTY);
	assert_string_equal(err.file, "/dev/null");
	assert_null(r);
	EXPECT_ERROR("# only\n\n   \n# comments\n", -EINVAL, SWEEPCSV_E_EMPTY, 4, "");
	/* a header and nothing else */
	EXPECT_ERROR("sweep,freq_hz,r_ohm,x_ohm\n# none\n", -EINVAL, SWEEPCSV_E_NO_ROWS, 2, "");
	/* a file that does not exist */
	assert_int_equal(sweepcsv_open("/nonexistent/x.csv", 16, &r, &err), -ENOENT);
	assert_int_equal(err.kind, SWEEPCSV_E_IO);
	assert_int_equal(sweepcsv_open(DATA_FILE, 0, &r, &err), -EINVAL);
	assert_int_equal(sweepcsv_open(DATA_FILE, BIOZ_MAX_POINTS_LIMIT + 1, &r, &err), -EINVAL);
}

static void test_row_errors(void **state)
{
	(void)state;
	EXPECT_ERROR(HDR "1,5000,abc,-30\n", -EINVAL, SWEEPCSV_E_NOT_NUMBER, 2, "r_ohm");
	EXPECT_ERROR(HDR "1,5000,500,\n", -EINVAL, SWEEPCSV_E_NOT_NUMBER, 2, "x_ohm");
	EXPECT_ERROR(HDR "1,5000,500,-30ohm\n", -EINVAL, SWEEPCSV_E_NOT_NUMBER, 2, "x_ohm");
	EXPECT_ERROR(HDR "1,0x1p12,500,-30\n", -EINVAL, SWEEPCSV_E_NOT_NUMBER, 2, "freq_hz");
	EXPECT_ERROR(HDR "1,5000,500,\"-30\"\n", -EINVAL, SWEEPCSV_E_NOT_NUMBER, 2, "x_ohm");
	EXPECT_ERROR(HDR "1,5000,inf,-30\n", -EINVAL, SWEEPCSV_E_NOT_FINITE, 2, "r_ohm");
	EXPECT_ERROR(HDR "1,5000,500,NaN\n", -EINVAL, SWEEPCSV_E_NOT_FINITE, 2, "x_ohm");
	EXPECT_ERROR(HDR "1,5000,1e999,-30\n", -EINVAL, SWEEPCSV_E_NOT_FINITE, 2, "r_ohm");
	EXPECT_ERROR(HDR "1,-5000,500,-30\n", -EINVAL, SWEEPCSV_E_BAD_FREQ, 2, "freq_hz");
	EXPECT_ERROR(HDR "1,0,500,-30\n", -EINVAL, SWEEPCSV_E_BAD_FREQ, 2, "freq_hz");
	/* a tissue temperature as the live command takes it: not a sentinel 0,
	 * not Fahrenheit (the index would be compensated by tens of percent) */
	EXPECT_ERROR("sweep,freq_hz,r_ohm,x_ohm,temp_c\n1,5000,500,-30,0\n", -EINVAL,
		     SWEEPCSV_E_BAD_TEMP, 2, "temp_c");
	EXPECT_ERROR("sweep,freq_hz,r_ohm,x_ohm,temp_c\n1,5000,500,-30,98.6\n", -EINVAL,
		     SWEEPCSV_E_BAD_TEMP, 2, "temp_c");
	EXPECT_ERROR(HDR "1,5000,500\n", -EINVAL, SWEEPCSV_E_FIELD_COUNT, 2, "");
	EXPECT_ERROR(HDR "1,5000,500,-30,7\n", -EINVAL, SWEEPCSV_E_FIELD_COUNT, 2, "");
	EXPECT_ERROR(HDR "-1,5000,500,-30\n", -EINVAL, SWEEPCSV_E_BAD_SWEEP_ID, 2, "sweep");
	EXPECT_ERROR(HDR "1.5,5000,500,-30\n", -EINVAL, SWEEPCSV_E_BAD_SWEEP_ID, 2, "sweep");
	EXPECT_ERROR(HDR "4294967296,5000,500,-30\n", -EINVAL, SWEEPCSV_E_BAD_SWEEP_ID, 2,
		     "sweep");
	/* non-increasing frequency: the line of the offending row */
	EXPECT_ERROR(HDR "1,5000,500,-30\n1,10000,490,-40\n\n# x\n1,10000,480,-45\n", -EINVAL,
		     SWEEPCSV_E_FREQ_ORDER, 6, "freq_hz");
	EXPECT_ERROR(HDR "1,5000,500,-30\n1,4000,490,-40\n", -EINVAL, SWEEPCSV_E_FREQ_ORDER, 3,
		     "freq_hz");
	/* a new sweep may restart the frequencies */
	{
		struct memcsv m;
		int n;
		static const char ok[] = HDR "1,5000,500,-30\n2,5000,490,-40\n";

		mem_open(&m, ok, sizeof(ok) - 1, 64);
		assert_int_equal(read_all(&m, &n), 0);
		assert_int_equal(n, 2);
		mem_close(&m);
	}
	/* the error comes after the good sweeps before it */
	{
		struct memcsv m;
		int n;
		static const char text[] = HDR "1,5000,500,-30\n2,5000,490,-40\n2,6000,x,-40\n";

		mem_open(&m, text, sizeof(text) - 1, 64);
		assert_int_equal(read_all(&m, &n), -EINVAL);
		assert_int_equal(n, 1);
		assert_int_equal(m.err.line, 4);
		mem_close(&m);
	}
}

static void test_limits(void **state)
{
	static char longline[SWEEPCSV_LINE_MAX + 64];
	static const char nul[] = HDR "1,5000,500,-30\n1,60\0" "00,490,-40\n";
	struct sweepcsv_sweep s;
	struct sweepcsv_err err2;
	struct memcsv m;
	size_t n;

	(void)state;
	/* max_points 4: the fifth row of a sweep is refused on its line */
	{
		static const char five[] = HDR "1,1,2,3\n1,2,2,3\n1,3,2,3\n1,4,2,3\n1,5,2,3\n";

		expect_error(five, sizeof(five) - 1, 4, -E2BIG, SWEEPCSV_E_TOO_MANY_POINTS, 6, "");
	}
	/* an overlong line (line 3) */
	n = (size_t)snprintf(longline, sizeof(longline), HDR "1,5000,500,-30\n1,6000,490,");
	memset(longline + n, '1', SWEEPCSV_LINE_MAX);
	memcpy(longline + n + SWEEPCSV_LINE_MAX, "\n", 2);
	expect_error(longline, strlen(longline), 64, -EINVAL, SWEEPCSV_E_LINE_TOO_LONG, 3, "");
	/* exactly SWEEPCSV_LINE_MAX bytes is still accepted as a line */
	memset(longline, ' ', SWEEPCSV_LINE_MAX);
	memcpy(longline + SWEEPCSV_LINE_MAX - 25, "sweep,freq_hz,r_ohm,x_ohm", 25);
	memcpy(longline + SWEEPCSV_LINE_MAX, "\n1,1,2,3\n", 10);
	mem_open(&m, longline, strlen(longline), 64);
	assert_int_equal(m.open_ret, 0);
	assert_int_equal(sweepcsv_next(m.r, &s, &m.err), 1);
	mem_close(&m);
	/* an embedded NUL byte (line 3) */
	expect_error(nul, sizeof(nul) - 1, 64, -EINVAL, SWEEPCSV_E_NUL_BYTE, 3, "");
	/* errors are sticky */
	mem_open(&m, nul, sizeof(nul) - 1, 64);
	assert_int_equal(m.open_ret, 0);
	assert_int_equal(sweepcsv_next(m.r, &s, &m.err), -EINVAL);
	assert_int_equal(sweepcsv_next(m.r, &s, &err2), -EINVAL);
	assert_int_equal(err2.kind, SWEEPCSV_E_NUL_BYTE);
	assert_int_equal(err2.line, 3);
	mem_close(&m);
}

static void test_strerror(void **state)
{
	struct sweepcsv_err err;
	char buf[256];
	struct memcsv m;
	int n;
	static const char text[] = HDR "# c\n1,5000,abc\x01\xff,-30\n";

	(void)state;
	mem_open(&m, text, sizeof(text) - 1, 64);
	assert_int_equal(read_all(&m, &n), -EINVAL);
	sweepcsv_strerror(&m.err, buf, sizeof(buf));
	/* control and non-ASCII bytes are shown as '?' */
	assert_string_equal(buf, "mem.csv:3: field 'r_ohm': not a number: 'abc?" "?'");
	mem_close(&m);

	memset(&err, 0, sizeof(err));
	strcpy(err.file, "x.csv");
	err.kind = SWEEPCSV_E_EMPTY;
	sweepcsv_strerror(&err, buf, sizeof(buf));
	assert_string_equal(buf, "x.csv: empty file: no header line");
}

/* ------------------------------------------------------------ subject */

static void expect_subject_error(const char *s, enum sweepcsv_kind kind, const char *field)
{
	struct bioz_subject sub = { .height_cm = 1234 };
	struct sweepcsv_err err;

	if (sweepcsv_subject_parse("--subject", s, &sub, &err) != -EINVAL || err.kind != kind ||
	    strcmp(err.field, field) != 0)
		fail_msg("subject '%s': got kind %d field '%s', want %d '%s'", s, err.kind,
			 err.field, kind, field);
	assert_string_equal(err.file, "--subject");
	assert_true(sub.height_cm == 1234);		/* untouched */
}

static void test_subject(void **state)
{
	struct bioz_subject s;
	struct sweepcsv_err err;
	char big[SWEEPCSV_SUBJECT_MAX + 2];

	(void)state;
	assert_int_equal(sweepcsv_subject_parse("--subject",
						"height_cm=170,weight_kg=70,sex=m,age=40", &s, &err),
			 0);
	assert_true(s.height_cm == 170.0 && s.weight_kg == 70.0 && s.age_y == 40.0);
	assert_int_equal(s.sex, BIOZ_SEX_MALE);
	assert_int_equal(sweepcsv_subject_parse("--subject",
						" sex = Female , weight_kg=58.5,height_cm=162.5",
						&s, &err), 0);
	assert_int_equal(s.sex, BIOZ_SEX_FEMALE);
	assert_true(s.height_cm == 162.5 && s.weight_kg == 58.5);
	assert_true(isnan(s.age_y));			/* age is optional */
	/* a caller that names the place itself (a config key): no file part */
	{
		char buf[256];

		assert_int_equal(sweepcsv_subject_parse("", "height_cm=500,weight_kg=70,sex=m", &s,
							&err), -EINVAL);
		sweepcsv_strerror(&err, buf, sizeof(buf));
		assert_string_equal(buf, "field 'height_cm': value out of range: '500'");
	}

	expect_subject_error("height_cm=170,weight_kg=70,sex=x", SWEEPCSV_E_SUBJECT_VALUE,
			     "sex");
	expect_subject_error("height_cm=170,weight_kg=seventy,sex=m", SWEEPCSV_E_SUBJECT_VALUE,
			     "weight_kg");
	expect_subject_error("height_cm=nan,weight_kg=70,sex=m", SWEEPCSV_E_SUBJECT_VALUE,
			     "height_cm");
	expect_subject_error("height_cm=300,weight_kg=70,sex=m", SWEEPCSV_E_SUBJECT_RANGE,
			     "height_cm");
	expect_subject_error("height_cm=170,weight_kg=0.5,sex=m", SWEEPCSV_E_SUBJECT_RANGE,
			     "weight_kg");
	expect_subject_error("height_cm=170,weight_kg=70,sex=m,age=-1",
			     SWEEPCSV_E_SUBJECT_RANGE, "age");
	expect_subject_error("height_cm=170,weight_kg=70,sex=m,age=121",
			     SWEEPCSV_E_SUBJECT_RANGE, "age");
	expect_subject_error("height_cm=170,weight_kg=70", SWEEPCSV_E_SUBJECT_MISSING, "sex");
	expect_subject_error("weight_kg=70,sex=m", SWEEPCSV_E_SUBJECT_MISSING, "height_cm");
	expect_subject_error("height_cm=170,height_cm=171,weight_kg=70,sex=m",
			     SWEEPCSV_E_SUBJECT_DUP, "height_cm");
	expect_subject_error("height=170,weight_kg=70,sex=m", SWEEPCSV_E_SUBJECT_KEY, "height");
	expect_subject_error("height_cm170,weight_kg=70,sex=m", SWEEPCSV_E_SUBJECT_KEY,
			     "height_cm170");
	expect_subject_error("", SWEEPCSV_E_SUBJECT_KEY, "");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_subject_error(big, SWEEPCSV_E_SUBJECT_TOO_LONG, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_grouping_and_formats),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_row_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_subject),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

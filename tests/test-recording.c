// SPDX-License-Identifier: MIT
/*
 * test-recording.c - recording readers on the real files in ../shared/data
 * (values frozen from tests/data/recordings/reference-values.py, which reads
 * the raw bytes with Python's struct module) and on small crafted files,
 * written to a temporary directory, for each format and each kind of bad
 * input. Includes recording.c to reach its static helpers.
 *
 * The shared data directory is $TWITCH_SHARED, else ../shared or ../../shared
 * from the working directory; a missing one fails the test, never skips it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../drivers/recording.c"

#define assert_near(a, b, tol)							\
	do {									\
		double a_ = (a), b_ = (b);					\
		if (!(fabs(a_ - b_) <= (tol)))					\
			fail_msg("%s = %.17g, expected %.17g (+-%g)", #a, a_, b_,	\
				 (double)(tol));				\
	} while (0)

static char tmpdir[256];
static struct recording sentinel_rec;
#define SENTINEL (&sentinel_rec)

/* ---- helpers ------------------------------------------------------------ */

static const char *shared_dir(void)
{
	static char dir[PATH_MAX];
	static const char *const cand[] = { "../shared", "../../shared" };
	const char *env = getenv("TWITCH_SHARED");
	char probe[PATH_MAX + 32];
	size_t i;

	if (env != NULL && env[0] != '\0') {
		snprintf(dir, sizeof(dir), "%s", env);
	} else {
		dir[0] = '\0';
		for (i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
			snprintf(probe, sizeof(probe), "%s/data/README.md", cand[i]);
			if (access(probe, R_OK) == 0) {
				snprintf(dir, sizeof(dir), "%s", cand[i]);
				break;
			}
		}
	}
	snprintf(probe, sizeof(probe), "%s/data/README.md", dir);
	if (dir[0] == '\0' || access(probe, R_OK) != 0)
		fail_msg("shared data not found: set TWITCH_SHARED (tried '%s', ../shared, "
			 "../../shared)", env ? env : "");
	return dir;
}

static const char *shared_file(const char *rel)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/data/%s", shared_dir(), rel);
	return path;
}

static const char *tmp_path(const char *name)
{
	static char path[2][512];
	static int k;

	k ^= 1;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmpdir, name);
	return path[k];
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(tmp_path(name), "wbe");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *name, const char *s)
{
	write_file(name, s, strlen(s));
}

static struct recording *open_ok(const char *path, const struct recording_opts *o)
{
	struct recording *rec = NULL;
	struct recording_error e;
	char msg[1024];
	int err;

	memset(&e, 0, sizeof(e));
	err = recording_open(path, o, &rec, &e);
	if (err != 0) {
		recording_strerror(&e, msg, sizeof(msg));
		fail_msg("recording_open(%s) = %d: %s", path, err, msg);
	}
	assert_non_null(rec);
	return rec;
}

/*
 * Open must fail with @want, leave *ret alone, and name the file (by suffix),
 * the line (if @line), a field containing @field and a message containing @msg.
 */
static void open_fails(const char *path, const struct recording_opts *o, int want,
		       const char *file_suffix, unsigned long line,
		       const char *field, const char *msg)
{
	struct recording *rec = SENTINEL;
	struct recording_error e;
	char text[1024];
	size_t n, m;
	int err;

	memset(&e, 0, sizeof(e));
	err = recording_open(path, o, &rec, &e);
	recording_strerror(&e, text, sizeof(text));
	if (err != want)
		fail_msg("recording_open(%s) = %d, expected %d (%s)", path, err, want, text);
	assert_ptr_equal(rec, SENTINEL);
	n = strlen(e.path);
	m = strlen(file_suffix);
	if (n < m || strcmp(e.path + n - m, file_suffix) != 0)
		fail_msg("error names '%s', expected ...%s (%s)", e.path, file_suffix, text);
	if (line != 0 && e.line != line)
		fail_msg("error at line %lu, expected %lu (%s)", e.line, line, text);
	if (field != NULL && strstr(e.field, field) == NULL)
		fail_msg("error field '%s' lacks '%s' (%s)", e.field, field, text);
	if (msg != NULL && strstr(e.msg, msg) == NULL)
		fail_msg("error message lacks '%s' (%s)", msg, text);
}

static double read1(const struct recording *rec, size_t ch, uint64_t i)
{
	double v = -12345.0;

	assert_int_equal(recording_read(rec, ch, i, 1, &v), 1);
	return v;
}

static double read1_phys(const struct recording *rec, size_t ch, uint64_t i)
{
	double v = -12345.0;

	assert_int_equal(recording_read_physical(rec, ch, i, 1, &v), 1);
	return v;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-recording.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- real files: emgdb (WFDB format 16) --------------------------------- */

struct emgdb_ref {
	const char *name, *unit;
	uint64_t n;
	int first, last, mid25000, min, max;
	long long sum, sumsq;
	uint64_t n_sat;
};

/* from reference-values.py: struct.unpack('<h') of the .dat bytes */
static const struct emgdb_ref emgdb[] = {
	{ "emg_healthy", "mV", 50860, -333, 83, -550, -5150, 11133,
	  101634, 33845859124LL, 0 },
	{ "emg_myopathy", "mv", 110337, -50, 1150, 333, -6700, 7750,
	  386836, 103880152588LL, 0 },
	{ "emg_neuropathy", "mV", 147858, 900, 283, 2067, -32767, 32753,
	  7356718, 2230737960376LL, 1 },
};

static void check_emgdb(const struct emgdb_ref *r, const char *path)
{
	struct recording *rec = open_ok(path, NULL);
	double *x, sum = 0, sumsq = 0, lo = INFINITY, hi = -INFINITY;
	uint64_t i;

	assert_int_equal(recording_format(rec), RECORDING_FORMAT_WFDB);
	assert_string_equal(recording_format_name(rec), "WFDB format 16");
	assert_int_equal(recording_n_channels(rec), 1);
	assert_near(recording_rate_hz(rec, 0), 4000.0, 0);
	assert_int_equal(recording_n_samples(rec, 0), r->n);
	assert_string_equal(recording_label(rec, 0), "EMG");
	assert_string_equal(recording_unit(rec, 0), r->unit);
	assert_true(recording_is_voltage(rec, 0));
	assert_int_equal(recording_n_saturated(rec, 0), r->n_sat);
	/* gain 10000/mV, baseline 0: uV = code / 10 */
	assert_near(read1(rec, 0, 0), r->first / 10.0, 1e-9);
	assert_near(read1(rec, 0, r->n - 1), r->last / 10.0, 1e-9);
	assert_near(read1(rec, 0, 25000), r->mid25000 / 10.0, 1e-9);
	x = malloc(r->n * sizeof(*x));
	assert_non_null(x);
	assert_int_equal(recording_read(rec, 0, 0, r->n + 100, x), (int)r->n);
	for (i = 0; i < r->n; i++) {
		double code = x[i] * 10.0;

		assert_near(code, round(code), 1e-6);
		sum += round(code);
		sumsq += round(code) * round(code);
		lo = fmin(lo, x[i]);
		hi = fmax(hi, x[i]);
	}
	assert_near(sum, (double)r->sum, 0);
	assert_near(sumsq, (double)r->sumsq, 0);
	assert_near(lo, r->min / 10.0, 1e-9);
	assert_near(hi, r->max / 10.0, 1e-9);
	free(x);
	recording_free(rec);
}

static void test_emgdb_values(void **state)
{
	char path[PATH_MAX + 64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(emgdb) / sizeof(emgdb[0]); i++) {
		snprintf(path, sizeof(path), "%s", shared_file("emgdb/"));
		strcat(path, emgdb[i].name);
		strcat(path, ".hea");
		check_emgdb(&emgdb[i], path);
	}
}

/* The .dat path and the bare record name both find the header. */
static void test_emgdb_record_names(void **state)
{
	char path[PATH_MAX + 64];

	(void)state;
	snprintf(path, sizeof(path), "%s", shared_file("emgdb/emg_healthy.dat"));
	check_emgdb(&emgdb[0], path);
	snprintf(path, sizeof(path), "%s", shared_file("emgdb/emg_healthy"));
	check_emgdb(&emgdb[0], path);
}

/* The neuropathy record's one sample at -32767 (int16 full scale) is flagged. */
static void test_emgdb_saturation(void **state)
{
	struct recording *rec;
	uint8_t *f;
	uint64_t i, n, flagged = 0;

	(void)state;
	rec = open_ok(shared_file("emgdb/emg_neuropathy.hea"), NULL);
	n = recording_n_samples(rec, 0);
	f = malloc(n);
	assert_non_null(f);
	assert_int_equal(recording_read_flags(rec, 0, 0, n, f), (int)n);
	for (i = 0; i < n; i++)
		flagged += f[i] != 0;
	assert_int_equal(flagged, 1);
	assert_int_equal(f[129415], RECORDING_SAMPLE_SATURATED);
	assert_near(read1(rec, 0, 129415), -3276.7, 1e-9);
	free(f);
	recording_free(rec);
}

/* ---- real files: BioSPPy text ------------------------------------------- */

static void test_biosppy_values(void **state)
{
	static const struct {
		const char *name;
		uint64_t n;
		double first_uv, last_uv, sum_counts, min, max;
	} ref[] = {	/* from reference-values.py */
		{ "biosppy/emg.txt", 100000, 5.589344338453915, 7.186299863726462,
		  205365815.0, 2037, 2071 },
		{ "biosppy/emg_1.txt", 63880, -11.17868867690783, -10.380210914271556,
		  130317525.0, 1412, 2443 },
	};
	const double k = 3.3e6 / (1009.0 * 4096.0);
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct recording *rec = open_ok(shared_file(ref[i].name), NULL);
		uint64_t n = ref[i].n, j;
		double *x = malloc(n * sizeof(*x)), sum = 0;

		assert_non_null(x);
		assert_int_equal(recording_format(rec), RECORDING_FORMAT_TEXT);
		assert_int_equal(recording_n_channels(rec), 1);
		assert_near(recording_rate_hz(rec, 0), 1000.0, 0);
		assert_int_equal(recording_n_samples(rec, 0), n);
		assert_string_equal(recording_label(rec, 0), "EMG");
		assert_string_equal(recording_unit(rec, 0), "uV");
		assert_int_equal(recording_n_saturated(rec, 0), 0);
		assert_near(read1(rec, 0, 0), ref[i].first_uv, 1e-9);
		assert_near(read1(rec, 0, n - 1), ref[i].last_uv, 1e-9);
		assert_int_equal(recording_read(rec, 0, 0, n, x), (int)n);
		for (j = 0; j < n; j++)
			sum += x[j];
		assert_near(sum, (ref[i].sum_counts - 2048.0 * (double)n) * k, 1e-6);
		/* raw counts back: min and max */
		assert_near(read1_phys(rec, 0, 0) / k + 2048, ref[i].first_uv / k + 2048, 1e-6);
		free(x);
		recording_free(rec);
	}
}

/* ---- real files: Sleep-EDF ---------------------------------------------- */

static void test_sleep_edf_psg(void **state)
{
	static const struct {
		const char *label, *unit;
		double rate_hz;
		uint64_t n;
		double first, last;
		long long code_sum;
		double pmin, pmax, dmin, dmax;
		bool voltage;
	} ref[] = {	/* from reference-values.py (EDF header + struct '<h') */
		{ "EEG Fpz-Cz", "uV", 100, 30000, 5.0168498168498274, -7.454945054945057,
		  46710, -192, 192, -2048, 2047, true },
		{ "EEG Pz-Oz", "uV", 100, 30000, -2.4673992673992586, 5.882051282051293,
		  27829, -197, 196, -2048, 2047, true },
		{ "EOG horizontal", "uV", 100, 30000, 16.50866910866921, -230.87496947496948,
		  31664, -1009, 1009, -2048, 2047, true },
		{ "Resp oro-nasal", "", 1, 300, -482.0, 363.0,
		  109827, -2048, 2047, -2048, 2047, false },
		{ "EMG submental", "uV", 1, 300, 3.5519999999999996, 3.3119999999999994,
		  514405, -5, 5, -2500, 2500, true },
		{ "Temp rectal", "DegC", 1, 300, 37.20645161290322, 37.19247311827957,
		  39030, 34, 40, -2849, 2731, false },
		{ "Event marker", "", 1, 300, 920.0, 884.0,
		  265812, -2047, 2048, -2047, 2048, false },
	};
	struct recording *rec;
	double x[30000], v;
	size_t i;
	uint64_t j;

	(void)state;
	rec = open_ok(shared_file("sleep-edf/short_psg.edf"), NULL);
	assert_int_equal(recording_format(rec), RECORDING_FORMAT_EDF);
	assert_string_equal(recording_format_name(rec), "EDF");
	assert_int_equal(recording_n_channels(rec), 7);
	assert_int_equal(recording_n_annotations(rec), 0);
	for (i = 0; i < 7; i++) {
		double sum = 0, k = (ref[i].pmax - ref[i].pmin) / (ref[i].dmax - ref[i].dmin);

		assert_string_equal(recording_label(rec, i), ref[i].label);
		assert_string_equal(recording_unit(rec, i), ref[i].unit);
		assert_near(recording_rate_hz(rec, i), ref[i].rate_hz, 0);
		assert_int_equal(recording_n_samples(rec, i), ref[i].n);
		assert_int_equal(recording_is_voltage(rec, i), ref[i].voltage);
		assert_int_equal(recording_n_saturated(rec, i), 0);
		assert_near(read1_phys(rec, i, 0), ref[i].first, 1e-9);
		assert_near(read1_phys(rec, i, ref[i].n - 1), ref[i].last, 1e-9);
		assert_int_equal(recording_read_physical(rec, i, 0, ref[i].n, x), (int)ref[i].n);
		for (j = 0; j < ref[i].n; j++)
			sum += x[j];
		/* sum of pmin + (d - dmin) * k over all codes d */
		assert_near(sum, (double)ref[i].n * ref[i].pmin +
			    ((double)ref[i].code_sum - (double)ref[i].n * ref[i].dmin) * k,
			    1e-6 * fabs(sum) + 1e-6);
		if (ref[i].voltage)
			assert_near(read1(rec, i, 0), ref[i].first, 1e-9);
		else
			assert_int_equal(recording_read(rec, i, 0, 1, &v), -EMEDIUMTYPE);
	}
	recording_free(rec);
}

static void test_sleep_edf_voltage_only(void **state)
{
	struct recording_opts o = { .flags = RECORDING_OPT_VOLTAGE_ONLY };

	(void)state;
	open_fails(shared_file("sleep-edf/short_psg.edf"), &o, -EMEDIUMTYPE,
		   "short_psg.edf", 0, "signal 3 (Resp oro-nasal) unit", "not a voltage");
}

static void test_sleep_edf_hypnogram(void **state)
{
	const struct recording_annotation *a;
	struct recording *rec;

	(void)state;
	rec = open_ok(shared_file("sleep-edf/SC4001EC-Hypnogram.edf"), NULL);
	assert_string_equal(recording_format_name(rec), "EDF+C");
	assert_int_equal(recording_n_channels(rec), 0);
	assert_int_equal(recording_n_annotations(rec), 154);
	a = recording_annotation(rec, 0);
	assert_non_null(a);
	assert_near(a->onset_s, 0.0, 0);
	assert_near(a->duration_s, 30630.0, 0);
	assert_string_equal(a->text, "Sleep stage W");
	a = recording_annotation(rec, 1);
	assert_near(a->onset_s, 30630.0, 0);
	assert_near(a->duration_s, 120.0, 0);
	assert_string_equal(a->text, "Sleep stage 1");
	a = recording_annotation(rec, 153);
	assert_near(a->onset_s, 79500.0, 0);
	assert_near(a->duration_s, 6900.0, 0);
	assert_string_equal(a->text, "Sleep stage ?");
	assert_null(recording_annotation(rec, 154));
	recording_free(rec);
}

/* ---- crafted WFDB ------------------------------------------------------- */

static void put16(uint8_t *p, int v)
{
	p[0] = (uint8_t)(v & 0xff);
	p[1] = (uint8_t)((v >> 8) & 0xff);
}

/* Three signals in one file, each with its own gain, baseline and unit. */
static void test_wfdb_multichannel_16(void **state)
{
	static const int codes[4][3] = {
		{ 0, 100, -32768 }, { 10, 200, 1 }, { -10, -100, 32767 }, { 32767, 0, 2 },
	};
	uint8_t dat[4 * 3 * 2];
	struct recording *rec;
	double x[8];
	uint8_t fl[4];
	int f, s;

	(void)state;
	for (f = 0; f < 4; f++)
		for (s = 0; s < 3; s++)
			put16(dat + (f * 3 + s) * 2, codes[f][s]);
	write_file("mc.dat", dat, sizeof(dat));
	write_text("mc.hea",
		   "# a comment before the record line\n"
		   "mc 3 2000 4\n"
		   "mc.dat 16 2(4)/uV 16 0 0 32767 0 left tibialis\n"
		   "mc.dat 16 1000/mV 16 0\n"
		   "mc.dat 16 0.5/V\n");
	rec = open_ok(tmp_path("mc.hea"), NULL);
	assert_int_equal(recording_n_channels(rec), 3);
	assert_near(recording_rate_hz(rec, 2), 2000.0, 0);
	assert_int_equal(recording_n_samples(rec, 1), 4);
	assert_string_equal(recording_label(rec, 0), "left tibialis");
	assert_string_equal(recording_label(rec, 1), "signal 1");
	/* ch0: (code - 4) / 2 uV */
	assert_int_equal(recording_read(rec, 0, 0, 8, x), 4);
	assert_near(x[0], -2.0, 1e-12);
	assert_near(x[1], 3.0, 1e-12);
	assert_near(x[2], -7.0, 1e-12);
	assert_near(x[3], (32767 - 4) / 2.0, 1e-9);
	/* ch1: code / 1000 mV = code uV */
	assert_int_equal(recording_read(rec, 1, 1, 8, x), 3);
	assert_near(x[0], 200.0, 1e-12);
	assert_near(x[1], -100.0, 1e-12);
	assert_near(x[2], 0.0, 1e-12);
	/* ch2: code / 0.5 V; -32768 is WFDB's "no sample" */
	assert_int_equal(recording_read(rec, 2, 0, 4, x), 4);
	assert_true(isnan(x[0]));
	assert_near(x[1], 2e6, 1e-6);
	assert_near(x[2], 32767 * 2e6, 1e-3);
	assert_int_equal(recording_read_flags(rec, 2, 0, 4, fl), 4);
	assert_int_equal(fl[0], RECORDING_SAMPLE_INVALID);
	assert_int_equal(fl[1], 0);
	assert_int_equal(fl[2], RECORDING_SAMPLE_SATURATED);
	assert_int_equal(fl[3], 0);
	assert_int_equal(recording_n_saturated(rec, 0), 1);
	assert_int_equal(recording_n_saturated(rec, 2), 1);
	/* reads at and past the end */
	assert_int_equal(recording_read(rec, 0, 4, 8, x), 0);
	assert_int_equal(recording_read(rec, 0, 5, 1, x), -EINVAL);
	assert_int_equal(recording_read(rec, 3, 0, 1, x), -EINVAL);
	assert_null(recording_label(rec, 3));
	assert_true(isnan(recording_rate_hz(rec, 3)));
	assert_int_equal(recording_n_samples(rec, 3), 0);
	recording_free(rec);
}


/*
 * Format 212 by hand: two 12-bit codes per three bytes, the first in byte 0
 * plus the low nibble of byte 1, the second in byte 2 plus the high nibble.
 * Frames (995, 1011) -> E3 33 F3, (-1, 2047) -> FF 7F FF, (-2048, 5) -> 00 08 05.
 * gain 200/mV, baseline 1024: uV = (code - 1024) * 5. An 11-bit ADC with zero
 * 1024 spans 0..2047, so -1 and 2047 are saturated; -2048 is "no sample".
 * Checksums: 995 - 1 - 2048 = -1054 and 1011 + 2047 + 5 = 3063.
 */
static void test_wfdb_212(void **state)
{
	static const uint8_t dat[] = { 0xe3, 0x33, 0xf3, 0xff, 0x7f, 0xff, 0x00, 0x08, 0x05 };
	/* one signal, codes 1, 564 (0x234), -3 (0xffd): 01 20 34 | fd 0f */
	static const uint8_t odd[] = { 0x01, 0x20, 0x34, 0xfd, 0x0f };
	struct recording *rec;
	double x[3];
	uint8_t fl[3];

	(void)state;
	write_file("f212.dat", dat, sizeof(dat));
	write_text("f212.hea", "f212 2 360 3\n"
		   "f212.dat 212 200 11 1024 995 -1054 0 MLII\n"
		   "f212.dat 212 200 11 1024 1011 3063 0 V5\n");
	rec = open_ok(tmp_path("f212.hea"), NULL);
	assert_string_equal(recording_format_name(rec), "WFDB format 212");
	assert_string_equal(recording_label(rec, 0), "MLII");
	assert_string_equal(recording_label(rec, 1), "V5");
	assert_int_equal(recording_read(rec, 0, 0, 3, x), 3);
	assert_near(x[0], -145.0, 1e-9);
	assert_near(x[1], -5125.0, 1e-9);
	assert_true(isnan(x[2]));
	assert_int_equal(recording_read_flags(rec, 0, 0, 3, fl), 3);
	assert_int_equal(fl[0], 0);
	assert_int_equal(fl[1], RECORDING_SAMPLE_SATURATED);
	assert_int_equal(fl[2], RECORDING_SAMPLE_INVALID);
	assert_int_equal(recording_read(rec, 1, 0, 3, x), 3);
	assert_near(x[0], -65.0, 1e-9);
	assert_near(x[1], 5115.0, 1e-9);
	assert_near(x[2], -5095.0, 1e-9);
	assert_int_equal(recording_n_saturated(rec, 1), 1);
	recording_free(rec);

	/* odd count, and nsamp left out: the length comes from the file size */
	write_file("odd.dat", odd, sizeof(odd));
	write_text("odd.hea", "odd 1 100\nodd.dat 212 100/uV 12 0 1 562\n");
	rec = open_ok(tmp_path("odd.hea"), NULL);
	assert_int_equal(recording_n_samples(rec, 0), 3);
	assert_near(recording_rate_hz(rec, 0), 100.0, 0);
	assert_near(read1(rec, 0, 0), 0.01, 1e-12);
	assert_near(read1(rec, 0, 1), 5.64, 1e-12);
	assert_near(read1(rec, 0, 2), -0.03, 1e-12);
	recording_free(rec);
}

/* Formats 61 (big-endian 16), 80 (offset binary 8), 24, 32, and a byte offset. */
static void test_wfdb_other_formats(void **state)
{
	static const struct {
		const char *fmt;
		uint8_t bytes[8];
		size_t len;
		double v0, v1;
	} cases[] = {
		{ "61", { 0x01, 0x02, 0xff, 0xfe }, 4, 258, -2 },
		{ "80", { 0x80, 0xff }, 2, 0, 127 },
		{ "24", { 0x56, 0x34, 0x12, 0xfe, 0xff, 0xff }, 6, 1193046, -2 },
		{ "32", { 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff }, 8, 305419896, -1 },
		{ "16+4", { 9, 9, 9, 9, 0x05, 0x00, 0x00, 0x80 }, 8, 5, NAN },
	};
	char hea[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct recording *rec;
		double x[2];

		write_file("fmt.dat", cases[i].bytes, cases[i].len);
		snprintf(hea, sizeof(hea), "fmt 1 10 2\nfmt.dat %s 1/uV\n", cases[i].fmt);
		write_text("fmt.hea", hea);
		rec = open_ok(tmp_path("fmt.hea"), NULL);
		assert_int_equal(recording_read(rec, 0, 0, 2, x), 2);
		assert_near(x[0], cases[i].v0, 0);
		if (isnan(cases[i].v1))
			assert_true(isnan(x[1]));
		else
			assert_near(x[1], cases[i].v1, 0);
		recording_free(rec);
	}
}

/* Signals spread over two data files, frames counted from the file sizes. */
static void test_wfdb_two_files(void **state)
{
	static const uint8_t a[] = { 1, 0, 2, 0, 3, 0, 4, 0 };	/* (1,2) (3,4) */
	static const uint8_t b[] = { 0x81, 0x7f };			/* 1, -1 */
	struct recording *rec;

	(void)state;
	write_file("a.dat", a, sizeof(a));
	write_file("b.dat", b, sizeof(b));
	write_text("two.hea", "two 3 50\na.dat 16 1/uV\na.dat 16 1/uV\nb.dat 80 1/uV\n");
	rec = open_ok(tmp_path("two.hea"), NULL);
	assert_int_equal(recording_n_samples(rec, 2), 2);
	assert_near(read1(rec, 0, 1), 3, 0);
	assert_near(read1(rec, 1, 1), 4, 0);
	assert_near(read1(rec, 2, 0), 1, 0);
	assert_near(read1(rec, 2, 1), -1, 0);
	recording_free(rec);
	write_file("b.dat", a, 3);
	open_fails(tmp_path("two.hea"), NULL, -EBADMSG, "b.dat", 0, NULL, "holds 3 frames");
}

static void test_wfdb_checksum(void **state)
{
	static const uint8_t d[] = { 1, 0, 2, 0 };
	struct recording_opts o = { .flags = RECORDING_OPT_IGNORE_CHECKSUM };
	struct recording *rec;

	(void)state;
	write_file("ck.dat", d, sizeof(d));
	write_text("ck.hea", "ck 1 10 2\nck.dat 16 1/uV 16 0 1 3\n");
	rec = open_ok(tmp_path("ck.hea"), NULL);
	recording_free(rec);
	write_text("ck.hea", "ck 1 10 2\nck.dat 16 1/uV 16 0 1 4\n");
	open_fails(tmp_path("ck.hea"), NULL, -EBADMSG, "ck.dat", 0,
		   "signal 0 checksum", "sum to 3, header (line 2) says 4");
	rec = open_ok(tmp_path("ck.hea"), &o);
	recording_free(rec);
}

struct bad_case {
	const char *hea;	/* written as bad.hea */
	size_t dat_len;		/* bytes of bad.dat (0: no file) */
	int err;
	const char *file;	/* suffix of the file the error names */
	unsigned long line;
	const char *field, *msg;
};

static void test_wfdb_bad_inputs(void **state)
{
	static const struct bad_case cases[] = {
		{ "bad 1 1000 10\nbad.dat 16\n", 18, -EBADMSG, "bad.dat", 0, NULL,
		  "truncated: the header says 10 samples" },
		{ "bad 1 1000 1000000000000000\nbad.dat 16\n", 20, -EBADMSG, "bad.dat", 0,
		  NULL, "truncated" },
		{ "bad 1 1000 18446744073709551615\nbad.dat 16\n", 20, -EFBIG, "bad.hea", 0,
		  "number of samples", "impossibly large" },
		{ "bad 2 1000 18446744073709551615\nbad.dat 16\nbad.dat 16\n", 20, -EFBIG,
		  "bad.hea", 0, "number of samples", "impossibly large" },
		{ "bad 1 1000\nbad.dat 16\n", 0, -ENOENT, "bad.dat", 0, NULL, "cannot open" },
		{ "bad 1 1000\nbad.dat 16 abc/mV\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 gain", "'abc' is not a number" },
		{ "bad 1 4e3x\nbad.dat 16\n", 4, -EBADMSG, "bad.hea", 1,
		  "sampling frequency", "not a number" },
		{ "bad 1 0\nbad.dat 16\n", 4, -EBADMSG, "bad.hea", 1,
		  "sampling frequency", "outside" },
		{ "bad 1 -5\nbad.dat 16\n", 4, -EBADMSG, "bad.hea", 1,
		  "sampling frequency", "outside" },
		{ "bad 1 1e9\nbad.dat 16\n", 4, -EBADMSG, "bad.hea", 1,
		  "sampling frequency", "outside" },
		{ "bad 1 nan\nbad.dat 16\n", 4, -EBADMSG, "bad.hea", 1,
		  "sampling frequency", "not a number" },
		{ "bad 1 inf\nbad.dat 16\n", 4, -EBADMSG, "bad.hea", 1,
		  "sampling frequency", "not a number" },
		{ "bad 100000 1000\nbad.dat 16\n", 4, -EFBIG, "bad.hea", 1,
		  "number of signals", "over the limit" },
		{ "bad two 1000\n", 4, -EBADMSG, "bad.hea", 1, "number of signals", NULL },
		{ "bad -1 1000\n", 4, -EBADMSG, "bad.hea", 1, "number of signals", NULL },
		{ "bad 3 1000\n\n# c\nbad.dat 16\n", 4, -EBADMSG, "bad.hea", 4,
		  "signal lines", "after 1 of 3" },
		{ "bad 1 1000\nbad.dat 16 200 16 1.5\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 adc zero", NULL },
		{ "bad 1 1000\nbad.dat 16 200 40\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 adc resolution", NULL },
		{ "bad 1 1000\nbad.dat 16 200 16 0 0 12a\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 checksum", NULL },
		{ "bad 1 1000\nbad.dat 310\n", 4, -ENOTSUP, "bad.hea", 2,
		  "signal 0 format", "not supported" },
		{ "bad 1 1000\nbad.dat 16x2\n", 4, -ENOTSUP, "bad.hea", 2,
		  "signal 0 format", "samples per frame" },
		{ "bad 1 1000\nbad.dat 16:3\n", 4, -ENOTSUP, "bad.hea", 2,
		  "signal 0 format", "skew" },
		{ "bad 1 1000\nbad.dat 16q\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 format", NULL },
		{ "bad 1 1000\nbad.dat sixteen\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 format", NULL },
		{ "bad/3 2 360\n", 4, -ENOTSUP, "bad.hea", 1, "record name", "multi-segment" },
		{ "bad 1 1000\n../bad.dat 16\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 file", "plain name" },
		{ "bad 1 1000\nbad.dat 16 200(12/mV\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 baseline", NULL },
		{ "bad 1 1000\nbad.dat 16 1e-20/mV\n", 4, -EBADMSG, "bad.hea", 2,
		  "signal 0 gain", "absurd" },
		{ "bad 1 1000\nbad.dat 16 200/averyveryverylongunitname\n", 4, -EBADMSG,
		  "bad.hea", 2, "signal 0 units", NULL },
		{ "bad 2 1000\nbad.dat 16\nbad.dat 16\n", 6, -EBADMSG, "bad.dat", 0, NULL,
		  "whole frames" },
		{ "bad 1 1000\nbad.dat 16\n", 5, -EBADMSG, "bad.dat", 0, NULL,
		  "whole number of samples" },
		{ "bad 2 1000\nbad.dat 16\nbad.dat 212\n", 6, -EBADMSG, "bad.hea", 3,
		  "signal 1 format", "share one format" },
		{ "bad 1 1000\nbad.dat 16+100\n", 4, -EBADMSG, "bad.dat", 0, NULL,
		  "past the end" },
		{ "# only a comment\n\n", 4, -EBADMSG, "bad.hea", 2, "record line",
		  "no record line" },
		{ "bad 1\n", 4, -EBADMSG, "bad.hea", 1, "signal lines", "after 0 of 1" },
	};
	static const uint8_t zeros[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];

		unlink(tmp_path("bad.dat"));
		if (c->dat_len > 0)
			write_file("bad.dat", zeros, c->dat_len);
		write_text("bad.hea", c->hea);
		open_fails(tmp_path("bad.hea"), NULL, c->err, c->file, c->line, c->field,
			   c->msg);
	}
	/* a NUL byte in a header */
	write_file("bad.hea", "bad 1 1000\nbad.dat\0 16\n", 23);
	open_fails(tmp_path("bad.hea"), NULL, -EBADMSG, "bad.hea", 0, NULL, "NUL");
}

/* Size caps: a file over the cap, and samples whose memory is over it. */
static void test_wfdb_size_caps(void **state)
{
	static const uint8_t zeros[200];
	struct recording_opts o = { .max_bytes = 64 };

	(void)state;
	write_file("big.dat", zeros, 200);
	write_text("big.hea", "big 1 1000\nbig.dat 16\n");
	open_fails(tmp_path("big.hea"), &o, -EFBIG, "big.dat", 0, NULL, "over the 64-byte");
	write_file("big.dat", zeros, 40);	/* 20 samples: 80 bytes as int32 */
	open_fails(tmp_path("big.hea"), &o, -EFBIG, "big.hea", 0, NULL, "memory limit");
	write_file("big.dat", zeros, 30);
	recording_free(open_ok(tmp_path("big.hea"), &o));
}

static void test_wfdb_non_voltage(void **state)
{
	static const uint8_t d[] = { 100, 0 };
	struct recording_opts o = { .flags = RECORDING_OPT_VOLTAGE_ONLY };
	struct recording *rec;
	double v;

	(void)state;
	write_file("nv.dat", d, sizeof(d));
	write_text("nv.hea", "nv 1 10\nnv.dat 16 10/degC 16 0 100 100 0 skin temperature\n");
	open_fails(tmp_path("nv.hea"), &o, -EMEDIUMTYPE, "nv.hea", 0,
		   "signal 0 (skin temperature) unit", "'degC' is not a voltage");
	rec = open_ok(tmp_path("nv.hea"), NULL);
	assert_false(recording_is_voltage(rec, 0));
	assert_string_equal(recording_unit(rec, 0), "degC");
	assert_int_equal(recording_read(rec, 0, 0, 1, &v), -EMEDIUMTYPE);
	assert_near(read1_phys(rec, 0, 0), 10.0, 1e-12);
	recording_free(rec);
}

/* ---- crafted EDF / BDF -------------------------------------------------- */

struct edf_spec {
	const char *label, *dim, *pmin, *pmax, *dmin, *dmax, *spr;
};

static void pad(uint8_t *dst, const char *src, size_t w)
{
	size_t n = strlen(src);

	memset(dst, ' ', w);
	memcpy(dst, src, n < w ? n : w);
}

/* Build an EDF header; returns its size. @hdr_bytes NULL: the right value. */
static size_t edf_header(uint8_t *b, const char *version, const char *reserved,
			 const char *n_rec, const char *dur, const char *ns_text,
			 size_t ns, const struct edf_spec *s, const char *hdr_bytes)
{
	static const size_t w[] = { 16, 80, 8, 8, 8, 8, 8, 80, 8, 32 };
	char num[16];
	size_t off = 256, i, k;

	pad(b, version, 8);
	pad(b + 8, "X X X X", 80);
	pad(b + 88, "Startdate 01-JAN-2024 X X X", 80);
	pad(b + 168, "01.01.24", 8);
	pad(b + 176, "00.00.00", 8);
	snprintf(num, sizeof(num), "%zu", 256 * (ns + 1));
	pad(b + 184, hdr_bytes ? hdr_bytes : num, 8);
	pad(b + 192, reserved, 44);
	pad(b + 236, n_rec, 8);
	pad(b + 244, dur, 8);
	snprintf(num, sizeof(num), "%zu", ns);
	pad(b + 252, ns_text ? ns_text : num, 4);
	for (k = 0; k < 10; k++) {
		for (i = 0; i < ns; i++) {
			const char *f[] = { s[i].label, "", s[i].dim, s[i].pmin, s[i].pmax,
					    s[i].dmin, s[i].dmax, "", s[i].spr, "" };

			pad(b + off + i * w[k], f[k], w[k]);
		}
		off += w[k] * ns;
	}
	return off;
}

/* a string literal and its size, NUL included: TALs hold NULs */
#define TAL(s) s, sizeof(s)

static const struct edf_spec edf_plus_sigs[] = {
	{ "EMG left", "uV", "-100", "100", "-1000", "1000", "4" },
	{ "EDF Annotations", "", "-1", "1", "-32768", "32767", "16" },
};

/* 2 records of 0.5 s: EMG codes, then 32 bytes of TALs each. */
static size_t edf_plus_file_tals(uint8_t *b, const char *reserved, const char *tal0,
				 size_t tal0_len, const char *tal1, size_t tal1_len)
{
	static const int emg[2][4] = { { 0, 10, -1000, 1000 }, { 5, -5, 1, -1 } };
	size_t off = edf_header(b, "0", reserved, "2", "0.5", NULL, 2, edf_plus_sigs, NULL);
	int r, j;

	for (r = 0; r < 2; r++) {
		for (j = 0; j < 4; j++, off += 2)
			put16(b + off, emg[r][j]);
		memset(b + off, 0, 32);
		if (r == 0)
			memcpy(b + off, tal0, tal0_len);
		else
			memcpy(b + off, tal1, tal1_len);
		off += 32;
	}
	return off;
}

/* The same with record 0 starting at 0, an annotation at 0.25 s. */
static size_t edf_plus_file(uint8_t *b, const char *reserved, const char *tal1,
			    size_t tal1_len)
{
	static const char tal0[] = "+0\x14\x14\0+0.25\x15" "0.1\x14twitch\x14";

	return edf_plus_file_tals(b, reserved, tal0, sizeof(tal0), tal1, tal1_len);
}

static void test_edf_plus_crafted(void **state)
{
	const struct recording_annotation *a;
	struct recording *rec;
	uint8_t b[2048];
	double x[8];
	size_t n;

	(void)state;
	n = edf_plus_file(b, "EDF+C", TAL("+0.5\x14\x14\0+0.75\x14" "a\x14" "b\x14"));
	write_file("plus.edf", b, n);
	rec = open_ok(tmp_path("plus.edf"), NULL);
	assert_string_equal(recording_format_name(rec), "EDF+C");
	assert_int_equal(recording_n_channels(rec), 1);
	assert_string_equal(recording_label(rec, 0), "EMG left");
	assert_near(recording_rate_hz(rec, 0), 8.0, 0);
	assert_int_equal(recording_n_samples(rec, 0), 8);
	/* uV = -100 + (d + 1000) * 200 / 2000 = d / 10 */
	assert_int_equal(recording_read(rec, 0, 0, 8, x), 8);
	assert_near(x[0], 0.0, 1e-12);
	assert_near(x[1], 1.0, 1e-12);
	assert_near(x[2], -100.0, 1e-12);
	assert_near(x[3], 100.0, 1e-12);
	assert_near(x[4], 0.5, 1e-12);
	assert_near(x[7], -0.1, 1e-12);
	assert_int_equal(recording_n_saturated(rec, 0), 2);
	assert_int_equal(recording_n_annotations(rec), 3);
	a = recording_annotation(rec, 0);
	assert_near(a->onset_s, 0.25, 0);
	assert_near(a->duration_s, 0.1, 0);
	assert_string_equal(a->text, "twitch");
	a = recording_annotation(rec, 1);
	assert_near(a->onset_s, 0.75, 0);
	assert_true(a->duration_s < 0);
	assert_string_equal(a->text, "a");
	assert_string_equal(recording_annotation(rec, 2)->text, "b");
	assert_near(recording_start_s(rec), 0.0, 0);
	recording_free(rec);

	/*
	 * Records starting 0.3 s after the header's start time: the samples'
	 * times follow (they were counted from 0, 0.3 s off the annotations);
	 * a record that does not follow on (0.9 s, not 0.8) is a gap in an
	 * "EDF+C" file, refused, not read as continuous time.
	 */
	n = edf_plus_file_tals(b, "EDF+C", TAL("+0.3\x14\x14"), TAL("+0.8\x14\x14"));
	write_file("late.edf", b, n);
	rec = open_ok(tmp_path("late.edf"), NULL);
	assert_near(recording_start_s(rec), 0.3, 1e-12);
	recording_free(rec);
	n = edf_plus_file_tals(b, "EDF+C", TAL("+0.3\x14\x14"), TAL("+0.9\x14\x14"));
	write_file("gap.edf", b, n);
	open_fails(tmp_path("gap.edf"), NULL, -ENOTSUP, "gap.edf", 0, "annotations",
		   "data record 1 starts at 0.9 s, not 0.8 s");

	/* "-1" records (still recording): counted from the size */
	n = edf_plus_file(b, "EDF+C", TAL("+0.5\x14\x14"));
	memcpy(b + 236, "-1      ", 8);
	write_file("minus1.edf", b, n);
	rec = open_ok(tmp_path("minus1.edf"), NULL);
	assert_int_equal(recording_n_samples(rec, 0), 8);
	recording_free(rec);
}

/* BDF: 24-bit little-endian two's complement codes. */
static void test_bdf(void **state)
{
	static const struct edf_spec s[] = {
		{ "EMG", "uV", "-8388608", "8388607", "-8388608", "8388607", "2" },
	};
	static const uint8_t d[] = { 0x56, 0x34, 0x12, 0xfe, 0xff, 0xff };
	uint8_t b[1024];
	struct recording *rec;
	size_t n;

	(void)state;
	n = edf_header(b, "\xff" "BIOSEMI", "24BIT", "1", "1", NULL, 1, s, NULL);
	memcpy(b + n, d, sizeof(d));
	write_file("x.bdf", b, n + sizeof(d));
	rec = open_ok(tmp_path("x.bdf"), NULL);
	assert_string_equal(recording_format_name(rec), "BDF");
	assert_near(read1(rec, 0, 0), 1193046.0, 1e-6);
	assert_near(read1(rec, 0, 1), -2.0, 1e-6);
	recording_free(rec);
}

static void test_edf_bad_inputs(void **state)
{
	struct {
		struct edf_spec s;
		const char *version, *reserved, *n_rec, *dur, *ns_text, *hdr_bytes;
		size_t cut;	/* bytes dropped from the end */
		int err;
		const char *field, *msg;
	} cases[] = {
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "1", "", "1", "1", NULL, NULL, 0,
		  -EBADMSG, "version", NULL },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "", "1", "1", NULL, "999", 0,
		  -EBADMSG, "header bytes", NULL },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "", "1", "1", "x", NULL, 0,
		  -EBADMSG, "number of signals", NULL },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "", "1", "1", "2000", NULL, 0,
		  -EFBIG, "number of signals", "over the limit" },
		{ { "E", "uV", "1", "1", "-10", "10", "4" }, "0", "", "1", "1", NULL, NULL, 0,
		  -EBADMSG, "signal 0 physical maximum", "equals" },
		{ { "E", "uV", "-1", "1e", "-10", "10", "4" }, "0", "", "1", "1", NULL, NULL, 0,
		  -EBADMSG, "signal 0 physical maximum", "not a number" },
		{ { "E", "uV", "-1", "1", "10", "10", "4" }, "0", "", "1", "1", NULL, NULL, 0,
		  -EBADMSG, "signal 0 digital maximum", "not above" },
		{ { "E", "uV", "-1", "1", "-40000", "10", "4" }, "0", "", "1", "1", NULL, NULL, 0,
		  -EBADMSG, "signal 0 digital minimum", NULL },
		{ { "E", "uV", "-1", "1", "-10", "10", "0" }, "0", "", "1", "1", NULL, NULL, 0,
		  -EBADMSG, "signal 0 samples per record", NULL },
		{ { "E", "uV", "-1", "1", "-10", "10", "9x" }, "0", "", "1", "1", NULL, NULL, 0,
		  -EBADMSG, "signal 0 samples per record", NULL },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "", "3", "1", NULL, NULL, 0,
		  -EBADMSG, "number of data records", "truncated" },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "", "1", "1", NULL, NULL, 1,
		  -EBADMSG, "number of data records", "truncated" },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "", "many", "1", NULL, NULL, 0,
		  -EBADMSG, "number of data records", NULL },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "", "1", "-1", NULL, NULL, 0,
		  -EBADMSG, "data record duration", NULL },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "", "1", "0", NULL, NULL, 0,
		  -EBADMSG, "data record duration", "ordinary signals" },
		{ { "E", "uV", "-1", "1", "-10", "10", "1" }, "0", "", "1", "999999", NULL, NULL, 0,
		  -EBADMSG, "signal 0 samples per record", "rate outside" },
		{ { "E", "uV", "-1", "1", "-10", "10", "99999999" }, "0", "", "1", "1", NULL,
		  NULL, 0, -EFBIG, "samples per record", "over the" },
		{ { "E", "uV", "-1", "1", "-10", "10", "4" }, "0", "EDF+D", "1", "1", NULL, NULL,
		  0, -ENOTSUP, "reserved", "discontinuous" },
	};
	uint8_t b[4096];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = edf_header(b, cases[i].version, cases[i].reserved, cases[i].n_rec,
			       cases[i].dur, cases[i].ns_text, 1, &cases[i].s,
			       cases[i].hdr_bytes);
		memset(b + n, 0, 8);	/* one record of 4 samples */
		write_file("bad.edf", b, n + 8 - cases[i].cut);
		open_fails(tmp_path("bad.edf"), NULL, cases[i].err, "bad.edf", 0,
			   cases[i].field, cases[i].msg);
	}
	/* shorter than a header */
	write_file("bad.edf", "0       ", 8);
	open_fails(tmp_path("bad.edf"), NULL, -EBADMSG, "bad.edf", 0, "header", "shorter");
	/* malformed TALs */
	n = edf_plus_file(b, "EDF+C", TAL("+x\x14\x14"));
	write_file("bad.edf", b, n);
	open_fails(tmp_path("bad.edf"), NULL, -EBADMSG, "bad.edf", 0,
		   "annotations in data record 1", "bad onset");
	n = edf_plus_file(b, "EDF+C", TAL("+1\x14no-terminator"));
	write_file("bad.edf", b, n);
	open_fails(tmp_path("bad.edf"), NULL, -EBADMSG, "bad.edf", 0,
		   "annotations in data record 1", "not terminated");
	n = edf_plus_file(b, "EDF+C", TAL(""));
	memset(b + n - 32, 'A', 32);	/* record 1: no NUL anywhere */
	write_file("bad.edf", b, n);
	open_fails(tmp_path("bad.edf"), NULL, -EBADMSG, "bad.edf", 0,
		   "annotations in data record 1", "not NUL-terminated");
}

/* ---- crafted text ------------------------------------------------------- */

static void test_text_headers(void **state)
{
	struct recording_opts o = { .text_rate_hz = 250, .text_resolution_bits = 16,
				    .text_uv_per_count = 0.5, .text_offset_counts = 100 };
	struct recording *rec;
	double k;

	(void)state;
	/* OpenSignals-style JSON: rate 500, resolution of the last column 10 bits */
	write_text("os.txt", "# OpenSignals Text File Format\n"
		   "# {\"00:07:80\": {\"sampling rate\": 500, \"resolution\": [4, 1, 10]}}\n"
		   "# EndOfHeader\n512\n0\n1023\n");
	rec = open_ok(tmp_path("os.txt"), NULL);
	k = 3.3e6 / (1009.0 * 1024.0);
	assert_near(recording_rate_hz(rec, 0), 500.0, 0);
	assert_int_equal(recording_n_samples(rec, 0), 3);
	assert_near(read1(rec, 0, 0), 0.0, 1e-12);
	assert_near(read1(rec, 0, 1), -512.0 * k, 1e-9);
	assert_near(read1(rec, 0, 2), 511.0 * k, 1e-9);
	assert_int_equal(recording_n_saturated(rec, 0), 2);
	recording_free(rec);

	/*
	 * As OpenSignals writes it: a sequence number, a digital input and two
	 * analog channels, each with its resolution (a BITalino's A6 has 6
	 * bits). The last resolution was applied to every column (A1 read as
	 * 6-bit: 16x too large), and nSeq and I1 were taken for EMG.
	 */
	write_text("os4.txt", "# OpenSignals Text File Format\n"
		   "# {\"00:07:80\": {\"sampling rate\": 1000, \"column\": [\"nSeq\", \"I1\", "
		   "\"A1\", \"A6\"], \"resolution\": [4, 1, 10, 6]}}\n"
		   "# EndOfHeader\n0\t1\t1023\t63\n1\t0\t512\t32\n");
	rec = open_ok(tmp_path("os4.txt"), NULL);
	assert_int_equal(recording_n_channels(rec), 4);
	assert_string_equal(recording_label(rec, 0), "nSeq");
	assert_false(recording_is_voltage(rec, 0));
	assert_false(recording_is_voltage(rec, 1));
	assert_string_equal(recording_label(rec, 2), "A1");
	assert_true(recording_is_voltage(rec, 2));
	assert_near(read1(rec, 2, 0), 511.0 * k, 1e-9);		/* 10 bits */
	assert_near(read1(rec, 2, 1), 0.0, 1e-12);
	assert_near(read1(rec, 3, 0), 31.0 * 3.3e6 / (1009.0 * 64.0), 1e-9);	/* 6 bits */
	assert_near(read1(rec, 3, 1), 0.0, 1e-12);
	recording_free(rec);

	/* no header: the caller's defaults and calibration */
	write_text("plain.txt", "300\n\n100.5\n");
	rec = open_ok(tmp_path("plain.txt"), &o);
	assert_near(recording_rate_hz(rec, 0), 250.0, 0);
	assert_int_equal(recording_n_samples(rec, 0), 2);
	assert_near(read1(rec, 0, 0), 100.0, 1e-12);
	assert_near(read1(rec, 0, 1), 0.25, 1e-12);
	recording_free(rec);

	/* a UTF-8 byte-order mark and CRLF line ends */
	write_text("bom.txt", "\xef\xbb\xbf# Sampling Rate (Hz):= 100\r\n2048\r\n2049\r\n");
	rec = open_ok(tmp_path("bom.txt"), NULL);
	assert_near(recording_rate_hz(rec, 0), 100.0, 0);
	assert_int_equal(recording_n_samples(rec, 0), 2);
	recording_free(rec);

	/* BioSPPy keys, two tab-separated columns with labels */
	write_text("two.txt", "# Simple Text Format\n# Sampling Rate (Hz):= 2000.00\n"
		   "# Resolution:= 12\n# Labels:= left\tright\n2048\t2049\n2047\t4095\n");
	rec = open_ok(tmp_path("two.txt"), NULL);
	k = 3.3e6 / (1009.0 * 4096.0);
	assert_int_equal(recording_n_channels(rec), 2);
	assert_string_equal(recording_label(rec, 0), "left");
	assert_string_equal(recording_label(rec, 1), "right");
	assert_near(recording_rate_hz(rec, 1), 2000.0, 0);
	assert_near(read1(rec, 1, 0), k, 1e-12);
	assert_near(read1(rec, 0, 1), -k, 1e-12);
	assert_int_equal(recording_n_saturated(rec, 1), 1);
	recording_free(rec);
}

static void test_text_bad_inputs(void **state)
{
	static const struct {
		const char *text;
		unsigned long line;
		const char *field, *msg;
	} cases[] = {
		{ "# h\n1\n2\n3x\n", 4, "column 0", "not a finite number" },
		{ "1\n2\nnan\n", 3, "column 0", "not a finite number" },
		{ "1\n2\n1e999\n", 3, "column 0", "not a finite number" },
		{ "1 2\n3\n", 2, "", "1 values, earlier lines have 2" },
		{ "# only a header\n", 0, "", "no samples" },
		{ "# Sampling Rate (Hz):= fast\n1\n", 1, "Sampling Rate", NULL },
		{ "# Sampling Rate (Hz):= 0\n1\n", 0, "sampling rate", "outside" },
		{ "# Resolution:= 40\n1\n", 0, "resolution", NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_text("bad.txt", cases[i].text);
		open_fails(tmp_path("bad.txt"), NULL, -EBADMSG, "bad.txt", cases[i].line,
			   cases[i].field, cases[i].msg);
	}
	write_file("bad.txt", "1\n\0\n", 4);
	open_fails(tmp_path("bad.txt"), NULL, -EBADMSG, "bad.txt", 0, NULL, "NUL");
}

/* ---- detection, arguments, statics -------------------------------------- */

static void test_detection(void **state)
{
	static const uint8_t d[] = { 7, 0 };
	struct recording_opts text = { .format = RECORDING_FORMAT_TEXT };
	struct recording *rec;
	uint8_t b[2048];
	size_t n;

	(void)state;
	write_text("noext", "# Sampling Rate (Hz):= 100\n1\n2\n");
	rec = open_ok(tmp_path("noext"), NULL);
	assert_int_equal(recording_format(rec), RECORDING_FORMAT_TEXT);
	recording_free(rec);

	n = edf_plus_file(b, "EDF+C", TAL("+0.5\x14\x14"));
	write_file("edf.bin", b, n);
	rec = open_ok(tmp_path("edf.bin"), NULL);
	assert_int_equal(recording_format(rec), RECORDING_FORMAT_EDF);
	recording_free(rec);

	/* a numeric record line is told from text by its signal line */
	write_file("100.dat", d, sizeof(d));
	write_text("hdr.xyz", "100 1 360 1\n100.dat 16 1/uV\n");
	rec = open_ok(tmp_path("hdr.xyz"), NULL);
	assert_int_equal(recording_format(rec), RECORDING_FORMAT_WFDB);
	assert_near(read1(rec, 0, 0), 7.0, 0);
	recording_free(rec);

	write_text("empty.hea", "empty 0\n# a record with no signals\n");
	rec = open_ok(tmp_path("empty.hea"), NULL);
	assert_string_equal(recording_format_name(rec), "WFDB");
	assert_int_equal(recording_n_channels(rec), 0);
	recording_free(rec);

	write_text("num.hea", "1\n2\n3\n");
	rec = open_ok(tmp_path("num.hea"), &text);
	assert_int_equal(recording_format(rec), RECORDING_FORMAT_TEXT);
	assert_int_equal(recording_n_samples(rec, 0), 3);
	recording_free(rec);

	write_text("junk.bin", "Hello, this is not a recording.\nAt all.\n");
	open_fails(tmp_path("junk.bin"), NULL, -EBADMSG, "junk.bin", 0, NULL,
		   "not a WFDB header");
	assert_int_equal(mkdir(tmp_path("dir.edf"), 0700), 0);
	open_fails(tmp_path("dir.edf"), NULL, -EINVAL, "dir.edf", 0, NULL,
		   "not a regular file");
	open_fails(tmp_path("missing.edf"), NULL, -ENOENT, "missing.edf", 0, NULL,
		   "No such file");
}

static void test_arguments(void **state)
{
	struct recording *rec = SENTINEL;

	(void)state;
	assert_null(recording_free(NULL));
	assert_int_equal(recording_open(NULL, NULL, &rec, NULL), -EINVAL);
	assert_int_equal(recording_open("", NULL, &rec, NULL), -EINVAL);
	assert_int_equal(recording_open("x.edf", NULL, NULL, NULL), -EINVAL);
	assert_int_equal(recording_open(tmp_path("missing.edf"), NULL, &rec, NULL), -ENOENT);
	assert_ptr_equal(rec, SENTINEL);
	assert_int_equal(recording_n_channels(NULL), 0);
	assert_null(recording_annotation(NULL, 0));
	assert_int_equal(recording_read(NULL, 0, 0, 1, NULL), -EINVAL);
}

static void test_units(void **state)
{
	(void)state;
	assert_near(rec_unit_to_uv("uV"), 1, 0);
	assert_near(rec_unit_to_uv("\xc2\xb5V"), 1, 0);
	assert_near(rec_unit_to_uv("\xce\xbcV"), 1, 0);
	assert_near(rec_unit_to_uv("\xb5V"), 1, 0);
	assert_near(rec_unit_to_uv("mV"), 1000, 0);
	assert_near(rec_unit_to_uv("mv"), 1000, 0);
	assert_near(rec_unit_to_uv("V"), 1e6, 0);
	assert_near(rec_unit_to_uv("nV"), 1e-3, 0);
	assert_near(rec_unit_to_uv("degC"), 0, 0);
	assert_near(rec_unit_to_uv(""), 0, 0);
	assert_near(rec_unit_to_uv("mmHg"), 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emgdb_values),
		cmocka_unit_test(test_emgdb_record_names),
		cmocka_unit_test(test_emgdb_saturation),
		cmocka_unit_test(test_biosppy_values),
		cmocka_unit_test(test_sleep_edf_psg),
		cmocka_unit_test(test_sleep_edf_voltage_only),
		cmocka_unit_test(test_sleep_edf_hypnogram),
		cmocka_unit_test(test_wfdb_multichannel_16),
		cmocka_unit_test(test_wfdb_212),
		cmocka_unit_test(test_wfdb_other_formats),
		cmocka_unit_test(test_wfdb_two_files),
		cmocka_unit_test(test_wfdb_checksum),
		cmocka_unit_test(test_wfdb_bad_inputs),
		cmocka_unit_test(test_wfdb_size_caps),
		cmocka_unit_test(test_wfdb_non_voltage),
		cmocka_unit_test(test_edf_plus_crafted),
		cmocka_unit_test(test_bdf),
		cmocka_unit_test(test_edf_bad_inputs),
		cmocka_unit_test(test_text_headers),
		cmocka_unit_test(test_text_bad_inputs),
		cmocka_unit_test(test_detection),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_units),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-analyze.c - `twitchd --analyze` (daemon/analyze.c), in-process: the
 * regression replays of tests/replay, every kind of bad input (exit 2 and
 * one message naming file, line and field), a write failure (exit 1),
 * numbers independent of the locale, one mains decision for all channels,
 * and emgdb potentials injected at known times and channels into a
 * two-channel WFDB record, found there.
 * Environment: TWITCH_SHARED (default ../shared), TWITCH_TEST_DATA (default
 * tests/data), TWITCH_REPLAY (default tests/replay); run from the root.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyze.c"

static char tmpdir[] = "/tmp/test-analyze-XXXXXX";

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && v[0] ? v : def;
}

static char *xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), returns_nonnull));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();	/* out of memory in a test: nothing to recover */
	return s;
}

static char *read_all(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	assert_false(ferror(f));
	fclose(f);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

/* ------------------------------------------------------------ running */

struct run {
	int rc;
	char *out, *err;
	size_t out_len, err_len;
};

static void run_chain(const char *path, const char *subject, const struct analyze_chain *chain,
		      struct run *r)
{
	FILE *o, *e;

	memset(r, 0, sizeof(*r));
	o = open_memstream(&r->out, &r->out_len);
	e = open_memstream(&r->err, &r->err_len);
	assert_non_null(o);
	assert_non_null(e);
	r->rc = analyze_run(path, subject, chain, o, e);
	assert_int_equal(fclose(o), 0);
	assert_int_equal(fclose(e), 0);
}

static void run(const char *path, const char *subject, struct run *r)
{
	run_chain(path, subject, NULL, r);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* Remove every ,"samples_per_s":VALUE as update.sh's sed does. */
static void strip_speed(char *s)
{
	static const char key[] = ",\"samples_per_s\":";
	char *p;

	while ((p = strstr(s, key)) != NULL) {
		size_t n = strlen(key) + strcspn(p + strlen(key), ",}");

		memmove(p, p + n, strlen(p + n) + 1);
		s = p;
	}
}

/* Fail with the first differing line. */
static void assert_same_text(const char *name, const char *want, const char *got)
{
	size_t line = 1;
	const char *w = want, *g = got;

	if (strcmp(want, got) == 0)
		return;
	while (*w && *w == *g) {
		if (*w == '\n') {
			line++;
			want = w + 1;
			got = g + 1;
		}
		w++;
		g++;
	}
	print_error("%s: line %zu differs\n  expected: %.*s\n  got:      %.*s\n", name, line,
		    (int)strcspn(want, "\n"), want, (int)strcspn(got, "\n"), got);
	fail();
}

/* ------------------------------------------------------------ replays */

struct replay_case {
	char name[64], input[512], subject[128];
};

static size_t load_cases(struct replay_case *c, size_t max)
{
	char *path = xasprintf("%s/cases", env_or("TWITCH_REPLAY", "tests/replay"));
	FILE *f = fopen(path, "re");
	char line[1024];
	size_t n = 0;

	if (f == NULL)
		fail_msg("%s: %s (run from the root or set TWITCH_REPLAY)", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *name = strtok_r(line, " \t\n", &save);
		char *input = name ? strtok_r(NULL, " \t\n", &save) : NULL;
		char *subject = input ? strtok_r(NULL, " \t\n", &save) : NULL;

		if (name == NULL || name[0] == '#')
			continue;
		assert_non_null(subject);
		assert_true(n < max);
		snprintf(c[n].name, sizeof(c[n].name), "%s", name);
		snprintf(c[n].input, sizeof(c[n].input), "%s", input);
		snprintf(c[n].subject, sizeof(c[n].subject), "%s", subject);
		n++;
	}
	fclose(f);
	free(path);
	return n;
}

/* Run one case as update.sh does: from the input's folder, by file name.
 * Return: 0, or -ENOENT if the input is not there (shared data missing). */
static int replay_one(const struct replay_case *c, bool quiet)
{
	const char *replay = env_or("TWITCH_REPLAY", "tests/replay");
	char *input, *slash, *expected_path, *want;
	struct run r;
	int cwd;

	if (strncmp(c->input, "$SHARED/", 8) == 0)
		input = xasprintf("%s/%s", env_or("TWITCH_SHARED", "../shared"), c->input + 8);
	else
		input = xasprintf("%s/%s", replay, c->input);
	if (access(input, R_OK) < 0) {
		free(input);
		return -ENOENT;
	}
	expected_path = xasprintf("%s/%s.expected.jsonl", replay, c->name);
	want = read_all(expected_path, NULL);
	if (want == NULL)
		fail_msg("%s: %s (make replay-update)", expected_path, strerror(errno));
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(cwd >= 0);
	slash = strrchr(input, '/');
	*slash = '\0';
	assert_int_equal(chdir(input), 0);
	run(slash + 1, strcmp(c->subject, "-") ? c->subject : NULL, &r);
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	if (r.rc != 0)
		fail_msg("%s: exit %d: %s", c->name, r.rc, r.err);
	assert_int_equal(r.err_len, 0);
	strip_speed(r.out);
	assert_same_text(c->name, want, r.out);
	if (!quiet)
		print_message("replay %s: %zu lines, same as expected\n", c->name,
			      count_char(r.out, '\n'));
	run_free(&r);
	free(want);
	free(expected_path);
	free(input);
	return 0;
}

static void test_replays(void **state)
{
	struct replay_case c[32];
	size_t n, i, done = 0;

	(void)state;
	n = load_cases(c, 32);
	assert_true(n >= 7);
	for (i = 0; i < n; i++) {
		if (replay_one(&c[i], false) == 0)
			done++;
		else
			print_message("replay %s: input %s missing\n", c[i].name, c[i].input);
	}
	if (done == 0)
		skip();	/* no shared data and no local input: nothing ran */
	/* the local inputs (emg2ch, sweeps.csv) need no shared data */
	assert_true(done >= 3);
}

/* Decimal commas in the caller's locale change nothing, in or out. */
static void test_locale(void **state)
{
	struct replay_case c[32];
	char dir[sizeof(tmpdir) + 16], cmd[sizeof(dir) + 96];
	const char *old_lc;
	char *saved;
	size_t n, i, done = 0;
	int rc;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/locale", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(cmd, sizeof(cmd), "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
		 dir);
	rc = system(cmd);
	setenv("LOCPATH", dir, 1);
	old_lc = setlocale(LC_ALL, NULL);
	saved = strdup(old_lc ? old_lc : "C");
	if (rc != 0 || setlocale(LC_ALL, "de_DE.UTF-8") == NULL) {
		unsetenv("LOCPATH");
		free(saved);
		print_message("no de_DE locale (localedef failed): skipped\n");
		skip();
	}
	{
		char buf[16];

		snprintf(buf, sizeof(buf), "%.1f", 1.5);
		assert_string_equal(buf, "1,5");	/* the locale does bite */
	}
	n = load_cases(c, 32);
	for (i = 0; i < n; i++) {
		/* one recording, one CSV with a subject: both use numbers */
		if (strcmp(c[i].name, "emg2ch") && strcmp(c[i].name, "sweeps_subject"))
			continue;
		assert_int_equal(replay_one(&c[i], true), 0);
		done++;
	}
	setlocale(LC_ALL, saved);
	unsetenv("LOCPATH");
	free(saved);
	assert_int_equal(done, 2);
}

/* ------------------------------------------------------------ WFDB writer */

static uint64_t rng_state = 1;

static double rng_uniform(void)	/* xorshift64*, (0, 1) */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((rng_state * UINT64_C(2685821657736338717)) >> 11) * (1.0 / 9007199254740992.0) +
	       1e-300;
}

static double rng_gauss(void)
{
	return sqrt(-2.0 * log(rng_uniform())) * cos(2.0 * M_PI * rng_uniform());
}

/* A format-16 WFDB record DIR/NAME.hea + .dat, 0.1 uV a count, from
 * interleaved microvolts @x_uv (n scans of n_ch). */
static void write_wfdb(const char *dir, const char *name, size_t n_ch, unsigned int rate_hz,
		       size_t n, const double *x_uv, const char *const *labels)
{
	int16_t *v = calloc(n * n_ch, sizeof(*v));
	char *path, hea[1024];
	size_t i, c, len;

	assert_non_null(v);
	for (i = 0; i < n * n_ch; i++) {
		double q = round(x_uv[i] * 10.0);

		v[i] = (int16_t)(q > 32000 ? 32000 : q < -32000 ? -32000 : q);
	}
	path = xasprintf("%s/%s.dat", dir, name);
	write_file(path, v, n * n_ch * sizeof(*v));	/* little-endian host */
	free(path);
	len = (size_t)snprintf(hea, sizeof(hea), "%s %zu %u %zu\n", name, n_ch, rate_hz, n);
	for (c = 0; c < n_ch; c++) {
		int sum = 0;

		for (i = 0; i < n; i++)
			sum += v[i * n_ch + c];
		sum &= 0xffff;
		len += (size_t)snprintf(hea + len, sizeof(hea) - len,
					"%s.dat 16 10000/mV 16 0 %d %d 0 %s\n", name, v[c],
					sum >= 0x8000 ? sum - 0x10000 : sum, labels[c]);
		assert_true(len < sizeof(hea));
	}
	path = xasprintf("%s/%s.hea", dir, name);
	write_file(path, hea, len);
	free(path);
	free(v);
}

/* ------------------------------------------------------------ bad input */

/* Exit 2 and exactly one message line holding every one of @needles. */
static void expect_bad(const char *path, const char *subject, const char *const *needles)
{
	struct run r;

	run(path, subject, &r);
	print_message("exit %d: %s", r.rc, r.err);
	assert_int_equal(r.rc, ANALYZE_EXIT_USAGE);
	assert_int_equal(count_char(r.err, '\n'), 1);
	assert_true(strncmp(r.err, "twitchd --analyze: ", 19) == 0);
	for (; *needles; needles++)
		if (strstr(r.err, *needles) == NULL)
			fail_msg("'%s' not in the message", *needles);
	run_free(&r);
}

static void test_bad_input(void **state)
{
	static const char *const labels[] = { "EMG a", "EMG b" };
	char *dir = xasprintf("%s/bad", tmpdir), *p, *q, *hea;
	double x[2 * 4000];
	size_t i;

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	for (i = 0; i < 2 * 4000; i++)
		x[i] = 10.0 * sin(i * 0.01);

	/* missing file, by .hea and by record name */
	p = xasprintf("%s/none.hea", dir);
	expect_bad(p, NULL, (const char *const[]){ p, "No such file", NULL });
	free(p);
	p = xasprintf("%s/none", dir);
	expect_bad(p, NULL, (const char *const[]){ p, NULL });
	free(p);

	/* truncated .dat: the message names the data file */
	write_wfdb(dir, "trunc", 2, 2000, 4000, x, labels);
	p = xasprintf("%s/trunc.dat", dir);
	assert_int_equal(truncate(p, 2 * 2 * 4000 - 3), 0);
	q = xasprintf("%s/trunc.hea", dir);
	expect_bad(q, NULL, (const char *const[]){ p, "truncated", NULL });
	free(q);
	free(p);

	/* a bad header field: file, line and field */
	write_wfdb(dir, "gain", 2, 2000, 4000, x, labels);
	p = xasprintf("%s/gain.hea", dir);
	hea = read_all(p, NULL);
	assert_non_null(hea);
	q = strstr(strchr(hea, '\n'), "10000/mV");	/* signal 0, line 2 */
	memcpy(q, "1x000", 5);
	write_file(p, hea, strlen(hea));
	expect_bad(p, NULL, (const char *const[]){ "gain.hea:2", "signal 0 gain", NULL });
	free(hea);
	free(p);

	/* unknown format */
	p = xasprintf("%s/mystery.bin", dir);
	write_file(p, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
	expect_bad(p, NULL, (const char *const[]){ p, "not a WFDB header", NULL });
	free(p);

	/* an empty EDF */
	p = xasprintf("%s/empty.edf", dir);
	write_str(p, "");
	expect_bad(p, NULL, (const char *const[]){ p, "header", NULL });
	free(p);

	/* a directory, also one named like a CSV */
	expect_bad(dir, NULL, (const char *const[]){ dir, "not a regular file", NULL });
	p = xasprintf("%s/folder.csv", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	expect_bad(p, NULL, (const char *const[]){ p, "not a regular file", NULL });
	free(p);

	/* sweep CSV: a bad number on line 3, a missing column, a sweep
	 * going back in time; the .txt one is found by its header */
	p = xasprintf("%s/bad.csv", dir);
	write_str(p, "sweep,freq_hz,r_ohm,x_ohm\n1,5000,500,-30\n1,6000,5oo,-31\n");
	expect_bad(p, NULL, (const char *const[]){ "bad.csv:3", "'r_ohm'", "5oo", NULL });
	free(p);
	p = xasprintf("%s/nox.csv", dir);
	write_str(p, "# a comment\nsweep,freq_hz,r_ohm\n1,5000,500\n");
	expect_bad(p, NULL, (const char *const[]){ "nox.csv:2", "'x_ohm'", NULL });
	free(p);
	p = xasprintf("%s/sweeps-by-header.txt", dir);
	write_str(p, "sweep,freq_hz,r_ohm,x_ohm,t_s\n1,5000,500,-30,60\n1,6000,490,-31,60\n"
		  "2,5000,500,-30,0\n2,6000,490,-31,0\n");
	expect_bad(p, NULL, (const char *const[]){ "sweeps-by-header.txt:4", "t_s", NULL });
	free(p);

	/* --subject: checked whatever the file is */
	p = xasprintf("%s/none.csv", dir);
	expect_bad(p, "height_cm=abc,weight_kg=70,sex=m",
		   (const char *const[]){ "--subject", "height_cm", "abc", NULL });
	expect_bad(p, "height_cm=170,weight_kg=70",
		   (const char *const[]){ "--subject", "sex", NULL });
	expect_bad(p, "height_cm=170,weight_kg=70,sex=m,shoe=42",
		   (const char *const[]){ "--subject", "shoe", NULL });
	expect_bad(p, "height_cm=900,weight_kg=70,sex=m",
		   (const char *const[]){ "--subject", "height_cm", NULL });
	free(p);
	p = xasprintf("%s/gain.dat", dir);
	expect_bad(p, "sex=x,height_cm=170,weight_kg=70",
		   (const char *const[]){ "--subject", "sex", NULL });
	free(p);
	free(dir);
}

/* A full disk is a runtime failure (1), reported once. */
static void test_write_failure(void **state)
{
	static const char *const labels[] = { "EMG" };
	char *dir = xasprintf("%s/full", tmpdir), *p;
	double x[8000];
	FILE *full = fopen("/dev/full", "we"), *e;
	char *err = NULL;
	size_t err_len = 0, i;
	int rc;

	(void)state;
	if (full == NULL)
		skip();
	assert_int_equal(mkdir(dir, 0700), 0);
	rng_state = 7;
	for (i = 0; i < 8000; i++)
		x[i] = 5.0 * rng_gauss();
	write_wfdb(dir, "quiet", 1, 4000, 8000, x, labels);
	p = xasprintf("%s/quiet.hea", dir);
	e = open_memstream(&err, &err_len);
	rc = analyze_run(p, NULL, NULL, full, e);
	fclose(e);
	fclose(full);
	assert_int_equal(rc, ANALYZE_EXIT_FAILURE);
	assert_int_equal(count_char(err, '\n'), 1);
	assert_non_null(strstr(err, "No space left"));
	free(err);
	free(p);
	free(dir);
}

/* ------------------------------------------------------------ JSON strings */

static void test_json_strings(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	/* quote, backslash, tab, valid UTF-8 (mu, 2 bytes; euro, 3 bytes),
	 * Latin-1 mu (invalid UTF-8), an overlong '/', a lone continuation */
	analyze_str(f, "a\"b\\c\td \xc2\xb5V \xe2\x82\xac \xb5V \xc0\xaf \x80");
	fclose(f);
	/* written by hand from the rules in analyze_str() */
	assert_string_equal(buf, "\"a\\\"b\\\\c\\u0009d \xc2\xb5V \xe2\x82\xac \\u00b5V "
			    "\\u00c0\\u00af \\u0080\"");
	free(buf);
}

/* ------------------------------------------------------------ detection */

#define N_MUP 4
#define MUP_LEN 80	/* 20 ms at 4 kHz */
static double mup[N_MUP][MUP_LEN];	/* unit peak */

static void load_mups(void)
{
	char *path = xasprintf("%s/emgdb-neuropathy-mups.txt",
			       env_or("TWITCH_TEST_DATA", "tests/data"));
	FILE *f = fopen(path, "re");
	char line[2048];
	int k = 0, i;

	if (f == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) && k < N_MUP) {
		double a, b, peak = 0.0;
		char *p = line, *end;

		if (line[0] == '#')
			continue;
		errno = 0;
		strtod(p, &end);	/* start index in the record */
		assert_true(end != p);
		p = end;
		for (i = 0; i < MUP_LEN; i++) {
			mup[k][i] = strtod(p, &end);
			assert_true(end != p);
			assert_int_equal(errno, 0);
			p = end;
		}
		/* remove the line through the ends, scale to unit peak */
		a = mup[k][0];
		b = mup[k][MUP_LEN - 1];
		for (i = 0; i < MUP_LEN; i++) {
			mup[k][i] -= a + (b - a) * i / (MUP_LEN - 1);
			peak = fmax(peak, fabs(mup[k][i]));
		}
		for (i = 0; i < MUP_LEN; i++)
			mup[k][i] /= peak;
		k++;
	}
	fclose(f);
	free(path);
	assert_int_equal(k, N_MUP);
}

/* Add potential @k at @amp_uv from scan @at on channel @c; return the
 * ground-truth onset: the first sample at >= 10% of its peak. */
static size_t inject(double *x, size_t n_ch, size_t c, size_t at, int k, double amp_uv)
{
	size_t i, on = SIZE_MAX;

	for (i = 0; i < MUP_LEN; i++) {
		if (on == SIZE_MAX && fabs(mup[k][i]) >= 0.1)
			on = i;
		x[(at + i) * n_ch + c] += amp_uv * mup[k][i];
	}
	return at + on;
}

struct twitch_line {
	double t;
	unsigned long long channel, mask;
	char cls[32];
};

static double json_num(const char *line, const char *key)
{
	const char *p = strstr(line, key);
	char *end;
	double v;

	assert_non_null(p);
	p += strlen(key);
	errno = 0;
	v = strtod(p, &end);
	assert_true(end != p);
	assert_int_equal(errno, 0);
	return v;
}

static size_t parse_twitches(char *out, struct twitch_line *tw, size_t max)
{
	char *save = NULL, *line;
	size_t n = 0;

	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *c;

		if (strncmp(line, "{\"type\":\"twitch\"", 16) != 0)
			continue;
		assert_true(n < max);
		tw[n].t = json_num(line, "\"t\":");
		tw[n].channel = (unsigned long long)json_num(line, "\"channel\":");
		tw[n].mask = (unsigned long long)json_num(line, "\"channel_mask\":");
		c = strstr(line, "\"class\":\"");
		assert_non_null(c);
		c += 9;
		snprintf(tw[n].cls, sizeof(tw[n].cls), "%.*s", (int)strcspn(c, "\""), c);
		n++;
	}
	return n;
}

static void test_injected_potentials(void **state)
{
	static const char *const labels[] = { "EMG left", "EMG right" };
	static const struct {
		double t_s;
		int k;
		double amp_uv[2];	/* 0: not on that channel */
	} inj[] = {
		{ 1.000, 0, { 150.0, 0.0 } },
		{ 2.500, 1, { 0.0, 200.0 } },
		{ 4.000, 2, { 250.0, 120.0 } },	/* both: one event, ch 0 */
		{ 6.000, 3, { 0.0, 100.0 } },
		{ 7.2345, 1, { 80.0, 0.0 } },
	};
	const size_t n_inj = sizeof(inj) / sizeof(inj[0]);
	const size_t rate = 4000, n = 10 * 4000, n_ch = 2;
	char *dir = xasprintf("%s/inject", tmpdir), *p;
	struct twitch_line tw[64];
	double *x = calloc(n * n_ch, sizeof(*x)), truth_t[8];
	unsigned long long truth_ch[8], truth_mask[8];
	size_t i, j, n_tw;
	struct run r;

	(void)state;
	assert_non_null(x);
	assert_int_equal(mkdir(dir, 0700), 0);
	load_mups();
	rng_state = 4242;
	for (i = 0; i < n * n_ch; i++)
		x[i] = 5.0 * rng_gauss();	/* ~2.2 uV RMS after 20-450 Hz */
	for (j = 0; j < n_inj; j++) {
		size_t at = (size_t)llround(inj[j].t_s * rate), on = SIZE_MAX, c;

		truth_mask[j] = 0;
		for (c = 0; c < n_ch; c++) {
			size_t o;

			if (inj[j].amp_uv[c] == 0.0)
				continue;
			o = inject(x, n_ch, c, at, inj[j].k, inj[j].amp_uv[c]);
			on = o < on ? o : on;
			truth_mask[j] |= 1ull << c;
		}
		truth_t[j] = (double)on / rate;
		truth_ch[j] = inj[j].amp_uv[0] >= inj[j].amp_uv[1] ? 0 : 1;
	}
	write_wfdb(dir, "inj", n_ch, (unsigned int)rate, n, x, labels);
	p = xasprintf("%s/inj.hea", dir);
	run(p, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.err_len, 0);
	assert_non_null(strstr(r.out, "\"n_analysed\":2,"));
	assert_non_null(strstr(r.out, "\"format\":\"WFDB format 16\""));
	n_tw = parse_twitches(r.out, tw, 64);
	for (i = 0; i < n_tw; i++)
		print_message("found t %.6f s, channel %llu, mask %llu, %s\n", tw[i].t,
			      tw[i].channel, tw[i].mask, tw[i].cls);
	assert_int_equal(n_tw, n_inj);	/* and nothing in the noise */
	for (j = 0; j < n_inj; j++) {
		size_t hits = 0;

		for (i = 0; i < n_tw; i++) {
			if (fabs(tw[i].t - truth_t[j]) > 0.002)	/* 2 ms */
				continue;
			hits++;
			assert_int_equal(tw[i].channel, truth_ch[j]);
			assert_int_equal(tw[i].mask, truth_mask[j]);
			assert_string_equal(tw[i].cls, "fasciculation");
		}
		if (hits != 1)
			fail_msg("potential at %.4f s (onset %.6f s): %zu events", inj[j].t_s,
				 truth_t[j], hits);
	}
	run_free(&r);
	free(p);
	free(x);
	free(dir);
}

/* A leg channel (by its label) gets the AASM limb-movement rule: five
 * 1.5-s bursts 20 s apart are limb movements and one PLM series; the
 * chin channel beside it gets none. 200 Hz, the lowest rate analysed. */
static void test_leg_channel_plm(void **state)
{
	static const char *const labels[] = { "Tib L", "Chin" };
	const size_t rate = 200, n = 120 * 200, n_ch = 2;
	char *dir = xasprintf("%s/leg", tmpdir), *p, *save = NULL, *line;
	double *x = calloc(n * n_ch, sizeof(*x));
	size_t i, j, n_lm = 0;
	struct run r;

	(void)state;
	assert_non_null(x);
	assert_int_equal(mkdir(dir, 0700), 0);
	rng_state = 5;
	for (i = 0; i < n * n_ch; i++)
		x[i] = 2.0 * rng_gauss();
	for (j = 0; j < 5; j++)
		for (i = 0; i < 300; i++)
			x[((10 + 20 * j) * rate + i) * n_ch] += 30.0 * rng_gauss();
	write_wfdb(dir, "leg", n_ch, (unsigned int)rate, n, x, labels);
	p = xasprintf("%s/leg.hea", dir);
	run(p, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "\"sleep\":{\"n_lm\":5,\"n_plm\":5,\"n_plm_series\":1}"));
	assert_non_null(strstr(r.out, "\"label\":\"Tib L\""));
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		double t;

		if (!strstr(line, "\"class\":\"limb_movement\""))
			continue;
		t = json_num(line, "\"t\":");
		assert_true(strstr(line, "\"channel\":0,") != NULL);
		/* onsets within 50 ms of each burst (the envelope is 50 ms) */
		assert_true(fabs(t - (10.0 + 20.0 * n_lm)) <= 0.05);
		n_lm++;
	}
	assert_int_equal(n_lm, 5);
	run_free(&r);

	/* a configuration's settings: its leg channels, not the labels' guess,
	 * and its PLM rule; a leg channel the recording lacks is bad input */
	{
		struct dsp_config filt;
		struct detect_config det;
		struct analyze_chain chain = { &filt, &det, "Chin" };

		dsp_config_default(&filt);
		detect_config_default(&det);
		run_chain(p, NULL, &chain, &r);
		assert_int_equal(r.rc, 0);
		assert_non_null(strstr(r.out, "\"sleep\":{\"n_lm\":0,"));
		run_free(&r);
		chain.legs = "Tib L";
		det.plm_min_count = 6;
		run_chain(p, NULL, &chain, &r);
		assert_int_equal(r.rc, 0);
		assert_non_null(strstr(r.out, "\"sleep\":{\"n_lm\":5,\"n_plm\":0,"
					      "\"n_plm_series\":0}"));
		run_free(&r);
		chain.legs = "Tib L,Tib R";
		run_chain(p, NULL, &chain, &r);
		assert_int_equal(r.rc, ANALYZE_EXIT_USAGE);
		assert_non_null(strstr(r.err, "leg_channels: 'Tib R' is not a channel label"));
		run_free(&r);
	}
	free(p);
	free(x);
	free(dir);
}

/* Hum on one channel: the mains decision it makes reaches the other. */
static void test_one_mains_decision(void **state)
{
	static const char *const labels[] = { "EMG hum", "EMG clean" };
	const size_t rate = 2000, n = 8 * 2000, n_ch = 2;
	char *dir = xasprintf("%s/mains", tmpdir), *p, *ch;
	double *x = calloc(n * n_ch, sizeof(*x));
	struct run r;
	size_t i;

	(void)state;
	assert_non_null(x);
	assert_int_equal(mkdir(dir, 0700), 0);
	rng_state = 99;
	for (i = 0; i < n; i++) {
		double t = (double)i / rate;

		x[2 * i] = 5.0 * rng_gauss() + 40.0 * sin(2 * M_PI * 60.0 * t) +
			   8.0 * sin(2 * M_PI * 180.0 * t);
		x[2 * i + 1] = 5.0 * rng_gauss();
	}
	write_wfdb(dir, "hum", n_ch, (unsigned int)rate, n, x, labels);
	p = xasprintf("%s/hum.hea", dir);
	run(p, NULL, &r);
	assert_int_equal(r.rc, 0);
	ch = strstr(r.out, "\"channels\":[");
	assert_non_null(ch);
	/* both channels report 60 Hz; without the shared decision the clean
	 * one would still run both notch families (mains_hz null) */
	assert_non_null(strstr(ch, "\"label\":\"EMG hum\""));
	{
		const char *a = strstr(ch, "\"mains_hz\":");
		const char *b = a ? strstr(a + 1, "\"mains_hz\":") : NULL;

		assert_non_null(a);
		assert_non_null(b);
		assert_true(strncmp(a, "\"mains_hz\":60,", 14) == 0);
		assert_true(strncmp(b, "\"mains_hz\":60,", 14) == 0);
	}
	run_free(&r);
	free(p);
	free(x);
	free(dir);
}

/* Events of one pipeline run, in order. */
struct ev_list {
	struct detect_event ev[256];
	size_t n;
};

static void ev_sink(const struct detect_event *ev, void *userdata)
{
	struct ev_list *l = userdata;

	assert_true(l->n < 256);
	l->ev[l->n++] = *ev;
}

/* The pipeline over @x in calls of the sizes in @sizes (cycled). */
static void run_chunked(const float *x, size_t n, size_t n_ch, double rate,
			const size_t *sizes, size_t n_sizes, float *filt, struct ev_list *l)
{
	struct dsp_config dsp;
	struct detect_config dcfg;
	struct pipeline p;
	size_t done = 0, k = 0;

	dsp_config_default(&dsp);
	detect_config_default(&dcfg);
	assert_int_equal(pipeline_init(&p, &dsp, &dcfg, n_ch, rate, 4096), 0);
	l->n = 0;
	while (done < n) {
		size_t m = sizes[k++ % n_sizes];

		if (m > n - done)
			m = n - done;
		assert_true(pipeline_run(&p, x + done * n_ch, m, 1000 + done, ev_sink, l) >= 0);
		memcpy(filt + done * n_ch, p.filt, m * n_ch * sizeof(*filt));
		done += m;
	}
	assert_true(detect_finish(p.det, ev_sink, l) >= 0);
	assert_int_equal(p.mains_hz, 60);
	pipeline_deinit(&p);
}

/*
 * The same stream in blocks of any size gives the same filtered samples
 * and the same events, to the bit: live reads (whatever the device hands
 * over) and --analyze (4096-scan blocks) agree. The hum on channel 0 is
 * decided after a few seconds, with potentials on both channels around it.
 */
static void chunking_case(size_t nan_from, size_t nan_n)
{
	static const size_t big[] = { 4096 }, odd[] = { 1, 7, 13, 200, 999, 64, 3 };
	const size_t rate = 2000, n = 8 * 2000, n_ch = 2;
	double *x = calloc(n * n_ch, sizeof(*x));
	float *xf = calloc(n * n_ch, sizeof(*xf));
	float *fa = calloc(n * n_ch, sizeof(*fa)), *fb = calloc(n * n_ch, sizeof(*fb));
	static struct ev_list a, b;
	size_t i, n_final = 0;

	assert_true(x && xf && fa && fb);
	load_mups();
	rng_state = 77;
	for (i = 0; i < n; i++) {
		double t = (double)i / rate;

		x[2 * i] = 5.0 * rng_gauss() + 40.0 * sin(2 * M_PI * 60.0 * t);
		x[2 * i + 1] = 5.0 * rng_gauss();
	}
	for (i = 0; i < 7; i++)
		inject(x, n_ch, i % 2, (size_t)((1.3 + 0.9 * (double)i) * rate), (int)(i % 4),
		       150.0);
	for (i = 0; i < n * n_ch; i++)
		xf[i] = (float)x[i];
	for (i = nan_from; i < nan_from + nan_n; i++)
		xf[2 * i] = NAN;	/* channel 0, the one with the hum */
	run_chunked(xf, n, n_ch, rate, big, 1, fa, &a);
	run_chunked(xf, n, n_ch, rate, odd, sizeof(odd) / sizeof(odd[0]), fb, &b);
	assert_memory_equal(fa, fb, n * n_ch * sizeof(*fa));
	assert_int_equal(a.n, b.n);
	for (i = 0; i < a.n; i++) {
		assert_memory_equal(&a.ev[i], &b.ev[i], sizeof(a.ev[i]));
		n_final += a.ev[i].type == DETECT_EVENT_FINAL;
	}
	print_message("%zu records, %zu finals, the same in 4096-scan and odd-sized calls\n",
		      a.n, n_final);
	assert_true(n_final >= 6);
	free(x);
	free(xf);
	free(fa);
	free(fb);
}

static void test_chunking_invariant(void **state)
{
	(void)state;
	chunking_case(0, 0);
}

/*
 * The same after invalid input on the channel with the hum, before the
 * mains decision: its 1-s detector blocks keep their place on the stream,
 * so the decision is shared on the same sample whatever the call sizes.
 * (The block restarted after the invalid run, ended off the grid, and the
 * other channel switched at once or only at the next call's end.)
 */
static void test_chunking_invariant_after_invalid(void **state)
{
	(void)state;
	chunking_case(600, 10);
}

/* The Sleep-EDF chin EMG is a 1 Hz envelope: refused, with a note. */
static void test_envelope_refused(void **state)
{
	char *p = xasprintf("%s/data/sleep-edf/short_psg.edf",
			    env_or("TWITCH_SHARED", "../shared"));
	struct run r;

	(void)state;
	if (access(p, R_OK) < 0) {
		free(p);
		skip();
	}
	run(p, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_char(r.out, '\n'), 1);	/* the summary only */
	assert_non_null(strstr(r.out, "\"n_analysed\":0,"));
	assert_non_null(strstr(r.out, "\"n_events\":0,"));
	assert_non_null(strstr(r.out, "\"label\":\"EMG submental\",\"unit\":\"uV\","
			       "\"rate_hz\":1,\"n_samples\":300,\"analysed\":false,"
			       "\"note\":\"EMG sampled at 1 Hz is an envelope, not raw EMG: "
			       "it cannot be analysed for twitches"));
	assert_non_null(strstr(r.out, "\"label\":\"Temp rectal\",\"unit\":\"DegC\""));
	assert_non_null(strstr(r.out, "\"samples_per_s\":null}"));
	run_free(&r);
	free(p);
}

/* ------------------------------------------------------------ main */

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
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Clipping is a run at the file's full scale: a lone sample there is the
 * file's own extreme (an exporter that scales to the data puts the largest
 * peak there), and taking it for clipping rejected the largest twitches.
 * emgdb's emg_neuropathy has one at 32.35 s; its replay now keeps the
 * event around it.
 */
static void test_clipped_needs_a_run(void **state)
{
	const uint8_t S = RECORDING_SAMPLE_SATURATED;
	/* f[0] and f[5]: the neighbours before and after samples 0..3 */
	const uint8_t f[6] = { 0, S, 0, S, S, 0 };

	(void)state;
	assert_false(clipped(f + 1, 0));	/* alone */
	assert_false(clipped(f + 1, 1));	/* not at full scale */
	assert_true(clipped(f + 1, 2));		/* a run of two */
	assert_true(clipped(f + 1, 3));
}

/*
 * Which channels of a polysomnogram are EMG by name: where some are, the
 * others (EEG, EOG, ECG in uV too) are not analysed. They used to be, as
 * EMG: an ECG's QRS complexes counted as pops, 88 in a minute.
 */
static void test_emg_names(void **state)
{
	static const char *const emg[] = {
		"EMG Chin", "Chin1-Chin2", "Submental", "Tib L", "LAT", "RAT", "Leg/L",
		"EMG", "Masseter R",
	};
	static const char *const not_emg[] = {
		"ECG", "EKG II", "EOG LOC-A2", "EEG C3-A2", "Respiration", "Plateau",
		"Thor", "SpO2", "column 1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(emg) / sizeof(emg[0]); i++)
		if (!analyze_label_is_emg(emg[i]))
			fail_msg("'%s' is EMG", emg[i]);
	for (i = 0; i < sizeof(not_emg) / sizeof(not_emg[0]); i++)
		if (analyze_label_is_emg(not_emg[i]))
			fail_msg("'%s' is not EMG", not_emg[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_strings),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_write_failure),
		cmocka_unit_test(test_injected_potentials),
		cmocka_unit_test(test_one_mains_decision),
		cmocka_unit_test(test_chunking_invariant),
		cmocka_unit_test(test_leg_channel_plm),
		cmocka_unit_test(test_chunking_invariant_after_invalid),
		cmocka_unit_test(test_envelope_refused),
		cmocka_unit_test(test_clipped_needs_a_run),
		cmocka_unit_test(test_emg_names),
		cmocka_unit_test(test_replays),
		cmocka_unit_test(test_locale),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

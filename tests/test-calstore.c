// SPDX-License-Identifier: MIT
/*
 * test-calstore.c - a calibration survives the round trip to disk bit for
 * bit, with the AD5933 settings it holds for; every kind of damaged or
 * foreign file, and one from before those settings were kept, is refused
 * with its file and line; a baseline of fewer than 3 sweeps is not
 * restored; and nothing outside the state directory is written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/calstore.c"

static char dir[] = "/tmp/twitch-calstore-XXXXXX";

static void make_cal(struct bioz_cal_point *cal, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cal[i].freq_hz = 5000.0 + 1000.0 * (double)i;
		cal[i].gain = 1.0 / (1000.0 * (12345.678 + (double)i / 3.0));
		cal[i].sys_phase_rad = -0.1 + 1e-3 * (double)i / 7.0;
	}
}

static void write_text(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_round_trip(void **state)
{
	struct bioz_cal_point cal[96], back[96];
	struct calstore_info info = { .resistor_ohm = 1000.0, .t_real_ns = 1795600000123456789u,
				      .excitation_mv = 970, .pga_gain = 1 };
	struct calstore_info got;
	char err[600] = "";
	size_t i;

	(void)state;
	make_cal(cal, 96);
	assert_int_equal(calstore_save(dir, "bioz", cal, 96, &info, err, sizeof(err)), 0);
	assert_int_equal(calstore_load(dir, "bioz", back, 96, &got, err, sizeof(err)), 96);
	for (i = 0; i < 96; i++) {	/* %.17g: every bit comes back */
		assert_memory_equal(&back[i].freq_hz, &cal[i].freq_hz, sizeof(double));
		assert_memory_equal(&back[i].gain, &cal[i].gain, sizeof(double));
		assert_memory_equal(&back[i].sys_phase_rad, &cal[i].sys_phase_rad, sizeof(double));
	}
	assert_true(got.resistor_ohm == 1000.0);
	assert_true(got.t_real_ns == info.t_real_ns);
	assert_int_equal(got.excitation_mv, 970);
	assert_int_equal(got.pga_gain, 1);
	/* no temporary file is left behind */
	{
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "%s/calibration-bioz.tmp", dir);
		assert_int_equal(access(tmp, F_OK), -1);
	}
	/* an R-C phantom's calibration keeps its network */
	info.rp_ohm = 800.0;
	info.c_f = 4.7e-9;
	assert_int_equal(calstore_save(dir, "bioz", cal, 96, &info, err, sizeof(err)), 0);
	assert_int_equal(calstore_load(dir, "bioz", back, 96, &got, err, sizeof(err)), 96);
	assert_true(got.resistor_ohm == 1000.0 && got.rp_ohm == 800.0 && got.c_f == 4.7e-9);
	/* another device's name: no file */
	assert_int_equal(calstore_load(dir, "other", back, 96, &got, err, sizeof(err)), -ENOENT);
	/* more points than the caller has room for */
	assert_int_equal(calstore_load(dir, "bioz", back, 50, &got, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "calibration-bioz:6:"));	/* the points line */
}

/* the lines before the analog settings, and those */
#define HEAD "twitchd-calibration 1\ndevice bioz\nresistor_ohm 1000\ntime_real_ns 1\n"
#define ANALOG "excitation_mv 1980 pga_gain 5\n"

static void test_damaged_files(void **state)
{
	static const struct {
		const char *text, *where;
	} cases[] = {
		{ "", ":1: not a twitchd" },
		{ "twitchd-calibration 2\n", ":1: not a twitchd" },
		{ "twitchd-calibration 1\ndevice emg\n", ":2: not this device" },
		{ "twitchd-calibration 1\ndevice bioz\nresistor_ohm 0\n", ":3: resistor_ohm" },
		{ "twitchd-calibration 1\ndevice bioz\nresistor_ohm 1000\n", ":4: time_real_ns" },
		{ "twitchd-calibration 1\ndevice bioz\nrc_network 200 800\n", ":3: resistor_ohm" },
		{ "twitchd-calibration 1\ndevice bioz\nrc_network 200 800 1\n", ":3: resistor_ohm" },
		/* RP 0 is no R-C phantom (it passed as a plain resistor, with any C) */
		{ "twitchd-calibration 1\ndevice bioz\nrc_network 200 0 1e-9\n", ":3: resistor_ohm" },
		{ "twitchd-calibration 1\ndevice bioz\nrc_network 200 0 nan\n", ":3: resistor_ohm" },
		{ "twitchd-calibration 1\ndevice bioz\nresistor_ohm 1000 ohm\n", ":3: resistor_ohm" },
		{ "twitchd-calibration 1\ndevice bioz\nrc_network 200 800 1e-9 x\n",
		  ":3: resistor_ohm" },
		{ HEAD ANALOG "points 1\n", ":6: points" },
		{ HEAD ANALOG "points 2e-08\n5000 1e-7 0\n6000 1e-7 0\nend\n", ":6: points" },
		{ "twitchd-calibration 1\ndevice bioz\nresistor_ohm 1000\ntime_real_ns 1 s\n",
		  ":4: time_real_ns" },
		{ HEAD ANALOG "points 2\n5000 1e-7 0\n", ":8: not a point" },
		{ HEAD ANALOG "points 2\n5000 1e-7 0\n4000 1e-7 0\nend\n", ":8: not a point" },
		{ HEAD ANALOG "points 2\n5000 1e-7 0\n6000 -1e-7 0\nend\n", ":8: not a point" },
		{ HEAD ANALOG "points 2\n5000 1e-7 0\n6000 nan 0\nend\n", ":8: not a point" },
		{ HEAD ANALOG "points 2\n5000 1e-7 0 9\n6000 1e-7 0\nend\n", ":7: not a point" },
		{ HEAD ANALOG "points 2\n5000 1e-7 0\n6000 1e-7 0\n", ":9: cut short" },
		{ HEAD ANALOG "points 2\n5000 1e-7 0\n6000 1e-7 0\nend", ":9: cut short" },
		/* the analog settings line: both values, in range, nothing after */
		{ HEAD, ":5: excitation_mv" },
		{ HEAD "excitation_mv 1980\n", ":5: excitation_mv" },
		{ HEAD "excitation_mv 0 pga_gain 5\n", ":5: excitation_mv" },
		{ HEAD "excitation_mv 5001 pga_gain 5\n", ":5: excitation_mv" },
		{ HEAD "excitation_mv -1980 pga_gain 5\n", ":5: excitation_mv" },
		{ HEAD "excitation_mv 1980.5 pga_gain 5\n", ":5: excitation_mv" },
		{ HEAD "excitation_mv 1980 pga_gain 2\n", ":5: excitation_mv" },
		{ HEAD "excitation_mv 1980 pga_gain 0.2\n", ":5: excitation_mv" },
		{ HEAD "excitation_mv 1980 pga_gain 5 x\n", ":5: excitation_mv" },
		{ HEAD "pga_gain 5 excitation_mv 1980\n", ":5: excitation_mv" },
	};
	struct bioz_cal_point back[8];
	struct calstore_info got;
	char err[600];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_text("calibration-bioz", cases[i].text);
		err[0] = '\0';
		if (calstore_load(dir, "bioz", back, 8, &got, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, cases[i].where) || !strstr(err, "calibration-bioz"))
			fail_msg("case %u: '%s' does not say '%s'", i, err, cases[i].where);
	}
	/* a good one after all that */
	write_text("calibration-bioz", "twitchd-calibration 1\ndevice bioz\nresistor_ohm 1000\n"
		   "time_real_ns 1\nexcitation_mv 383 pga_gain 1\npoints 2\n5000 1e-7 0\n"
		   "6000 1e-7 0\nend\n");
	assert_int_equal(calstore_load(dir, "bioz", back, 8, &got, err, sizeof(err)), 2);
	assert_true(got.excitation_mv == 383 && got.pga_gain == 1);
}

/*
 * A file written before the analog settings were kept (as twitchd wrote
 * them until now) holds a gain factor for an unknown output range and PGA
 * gain, 2-10x off if either changed since: refused, asking for a new
 * calibration, never trusted.
 */
static void test_old_file_refused(void **state)
{
	struct bioz_cal_point back[8];
	struct calstore_info got;
	char err[600] = "";

	(void)state;
	write_text("calibration-bioz", "twitchd-calibration 1\ndevice bioz\nresistor_ohm 1000\n"
		   "time_real_ns 1\npoints 2\n5000 1e-7 0\n6000 1e-7 0\nend\n");
	assert_int_equal(calstore_load(dir, "bioz", back, 8, &got, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "calibration-bioz:5: made by an older twitchd"));
	assert_non_null(strstr(err, "recalibrate (twitchctl calibrate OHM)"));
	/* an R-C phantom's too */
	write_text("calibration-bioz", "twitchd-calibration 1\ndevice bioz\n"
		   "rc_network 200 800 4e-09\ntime_real_ns 1\npoints 2\n5000 1e-7 0\n"
		   "6000 1e-7 0\nend\n");
	assert_int_equal(calstore_load(dir, "bioz", back, 8, &got, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "recalibrate"));
}

/* Nothing is saved that could not be tied to its settings. */
static void test_save_needs_settings(void **state)
{
	static const struct { uint32_t mv, pga; } bad[] = {
		{ 0, 5 }, { 1980, 0 }, { 1980, 2 }, { 5001, 1 },
	};
	struct bioz_cal_point cal[4];
	struct calstore_info info = { .resistor_ohm = 1000.0 }, got;
	char err[600], path[256];
	unsigned int i;

	(void)state;
	make_cal(cal, 4);
	snprintf(path, sizeof(path), "%s/calibration-nos", dir);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		info.excitation_mv = bad[i].mv;
		info.pga_gain = bad[i].pga;
		err[0] = '\0';
		assert_int_equal(calstore_save(dir, "nos", cal, 4, &info, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "not saved"));
		assert_int_equal(access(path, F_OK), -1);
	}
	info.excitation_mv = 198;
	info.pga_gain = 5;
	assert_int_equal(calstore_save(dir, "nos", cal, 4, &info, err, sizeof(err)), 0);
	assert_int_equal(calstore_load(dir, "nos", cal, 4, &got, err, sizeof(err)), 4);
	assert_true(got.excitation_mv == 198 && got.pga_gain == 5);
}

/* Subject data and baseline: every bit back, the empty forms too. */
static void test_patient_round_trip(void **state)
{
	struct calstore_patient p = {
		.has_subject = true,
		.subject = { .height_cm = 172.3, .weight_kg = 68.1, .age_y = 57.5,
			     .sex = BIOZ_SEX_FEMALE },
		.subject_t_real_ns = 1795600000123456789u,
		.has_baseline = true,
		.baseline = { .n = 5, .has_temp = 0, .r_ohm = 612.0 / 3.0, .u_ohm = 0.1 / 3.0,
			      .phys_var = 0.0123, .temp_c = NAN, .pha_deg = 7.9123456789,
			      .ecw_tbw = 0.3891 },
		.baseline_t_real_ns = 1795600100000000000u,
	}, got;
	char err[600] = "";

	(void)state;
	assert_int_equal(calstore_save_patient(dir, "bioz", &p, err, sizeof(err)), 0);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(calstore_load_patient(dir, "bioz", &got, err, sizeof(err)), 0);
	assert_true(got.has_subject && got.has_baseline);
	assert_memory_equal(&got.subject.height_cm, &p.subject.height_cm, sizeof(double));
	assert_memory_equal(&got.subject.weight_kg, &p.subject.weight_kg, sizeof(double));
	assert_memory_equal(&got.subject.age_y, &p.subject.age_y, sizeof(double));
	assert_int_equal(got.subject.sex, BIOZ_SEX_FEMALE);
	assert_true(got.subject_t_real_ns == p.subject_t_real_ns);
	assert_int_equal(got.baseline.n, 5);
	assert_int_equal(got.baseline.has_temp, 0);
	assert_memory_equal(&got.baseline.r_ohm, &p.baseline.r_ohm, sizeof(double));
	assert_memory_equal(&got.baseline.u_ohm, &p.baseline.u_ohm, sizeof(double));
	assert_memory_equal(&got.baseline.phys_var, &p.baseline.phys_var, sizeof(double));
	assert_true(isnan(got.baseline.temp_c));
	assert_memory_equal(&got.baseline.pha_deg, &p.baseline.pha_deg, sizeof(double));
	assert_memory_equal(&got.baseline.ecw_tbw, &p.baseline.ecw_tbw, sizeof(double));
	assert_true(got.baseline_t_real_ns == p.baseline_t_real_ns);
	/* a subject without an age, a baseline with a temperature */
	p.subject.age_y = NAN;
	p.subject.sex = BIOZ_SEX_MALE;
	p.baseline.has_temp = 1;
	p.baseline.temp_c = 33.25;
	assert_int_equal(calstore_save_patient(dir, "bioz", &p, err, sizeof(err)), 0);
	assert_int_equal(calstore_load_patient(dir, "bioz", &got, err, sizeof(err)), 0);
	assert_true(isnan(got.subject.age_y));
	assert_int_equal(got.subject.sex, BIOZ_SEX_MALE);
	assert_true(got.baseline.has_temp == 1 && got.baseline.temp_c == 33.25);
	/* neither: a new patient */
	p.has_subject = p.has_baseline = false;
	assert_int_equal(calstore_save_patient(dir, "bioz", &p, err, sizeof(err)), 0);
	assert_int_equal(calstore_load_patient(dir, "bioz", &got, err, sizeof(err)), 0);
	assert_false(got.has_subject);
	assert_false(got.has_baseline);
	assert_int_equal(calstore_load_patient(dir, "other", &got, err, sizeof(err)), -ENOENT);
}

static void test_patient_damaged(void **state)
{
	static const struct {
		const char *text, *where;
	} cases[] = {
		{ "", ":1: not a twitchd patient" },
		{ "twitchd-calibration 1\n", ":1: not a twitchd patient" },
		{ "twitchd-patient 1\ndevice emg\n", ":2: not this device" },
		{ "twitchd-patient 1\ndevice bioz\n", ":3: cut short" },
		{ "twitchd-patient 1\ndevice bioz\nsubject height_cm=500,weight_kg=70,sex=m 1\n",
		  ":3: not a subject" },
		{ "twitchd-patient 1\ndevice bioz\nsubject height_cm=170,weight_kg=70,sex=m\n",
		  ":3: not a subject" },
		{ "twitchd-patient 1\ndevice bioz\nsubject height_cm=170,weight_kg=70,sex=m 1 x\n",
		  ":3: not a subject" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\n", ":4: cut short" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\nbaseline 5 0 600 0.1 0 nan 8 "
		  "0.39\n", ":4: not a baseline" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\nbaseline 0 0 600 0.1 0 nan 8 "
		  "0.39 1\n", ":4: not a baseline" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\nbaseline 5 0 -600 0.1 0 nan 8 "
		  "0.39 1\n", ":4: not a baseline" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\nbaseline 5 1 600 0.1 0 nan 8 "
		  "0.39 1\n", ":4: not a baseline" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\nbaseline 5 0 600 0.1 0 nan 8 "
		  "1.39 1\n", ":4: not a baseline" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\nbaseline 5 0 600 inf 0 nan 8 "
		  "0.39 1\n", ":4: not a baseline" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\nbaseline none\n",
		  ":5: cut short" },
		{ "twitchd-patient 1\ndevice bioz\nsubject none\nbaseline none\nend",
		  ":5: cut short" },
	};
	struct calstore_patient got;
	char err[600];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_text("patient-bioz", cases[i].text);
		err[0] = '\0';
		if (calstore_load_patient(dir, "bioz", &got, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, cases[i].where) || !strstr(err, "patient-bioz"))
			fail_msg("case %u: '%s' does not say '%s'", i, err, cases[i].where);
	}
	write_text("patient-bioz", "twitchd-patient 1\ndevice bioz\n"
		   "subject height_cm=170,weight_kg=70,sex=m 1\n"
		   "baseline 5 0 600 0.1 0 nan 8 0.39 2\nend\n");
	assert_int_equal(calstore_load_patient(dir, "bioz", &got, err, sizeof(err)), 0);
	assert_true(got.has_subject && got.has_baseline);
	assert_true(got.subject.height_cm == 170 && isnan(got.subject.age_y));
	assert_true(got.baseline.r_ohm == 600 && got.baseline_t_real_ns == 2);
}

/*
 * A baseline of 1 or 2 sweeps has no spread to judge a change by: not
 * restored, said with the file and line; the subject beside it still is.
 * 3 sweeps are enough.
 */
static void test_patient_baseline_few(void **state)
{
	struct calstore_patient got;
	char err[600];
	uint32_t n;

	(void)state;
	for (n = 1; n <= 3; n++) {
		char text[256];

		snprintf(text, sizeof(text), "twitchd-patient 1\ndevice bioz\n"
			 "subject height_cm=170,weight_kg=70,sex=m 1\n"
			 "baseline %u 0 600 0 0 nan 8 0.39 2\nend\n", n);
		write_text("patient-bioz", text);
		err[0] = '\0';
		assert_int_equal(calstore_load_patient(dir, "bioz", &got, err, sizeof(err)), 0);
		assert_true(got.has_subject && got.subject.height_cm == 170);
		if (n < 3) {
			assert_false(got.has_baseline);
			assert_true(got.baseline_refused);
			assert_non_null(strstr(err, "patient-bioz:4: a baseline of"));
			assert_non_null(strstr(err, "fewer than 3"));
		} else {
			assert_true(got.has_baseline && got.baseline.n == 3);
			assert_false(got.baseline_refused);
		}
	}
}

static void test_unwritable_dir(void **state)
{
	struct bioz_cal_point cal[4];
	struct calstore_info info = { .resistor_ohm = 1000.0, .excitation_mv = 1980,
				      .pga_gain = 5 };
	char err[600] = "";

	(void)state;
	make_cal(cal, 4);
	assert_true(calstore_save("/nonexistent/twitchd", "bioz", cal, 4, &info, err,
				  sizeof(err)) == -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/twitchd/calibration-bioz.tmp"));
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[256];
	DIR *d = opendir(dir);
	struct dirent *e;

	(void)state;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%.200s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_patient_round_trip),
		cmocka_unit_test(test_patient_damaged),
		cmocka_unit_test(test_patient_baseline_few),
		cmocka_unit_test(test_damaged_files),
		cmocka_unit_test(test_old_file_refused),
		cmocka_unit_test(test_save_needs_settings),
		cmocka_unit_test(test_unwritable_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

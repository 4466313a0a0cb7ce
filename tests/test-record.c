// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-record.c - record validation and the JSON form of records.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "records.h"
#include "twitch.h"

static void test_check_sizes_and_types(void **state)
{
	struct twitch_rec_twitch e;
	struct twitch_rec_marker m;
	union { struct twitch_rec_samples s; char b[128]; } u;

	(void)state;
	record_init(&e, TWITCH_REC_TWITCH, sizeof(e), 0, 1);
	assert_int_equal(twitch_record_check(&e, sizeof(e)), 0);
	assert_int_equal(twitch_record_check(&e, sizeof(e) - 8), -EPROTO);	/* size lies */
	e.hdr.size = sizeof(e) + 8;
	assert_int_equal(twitch_record_check(&e, sizeof(e) + 8), -EPROTO);	/* wrong for type */
	e.hdr.size = sizeof(e);
	e.hdr.type = 0;
	assert_int_equal(twitch_record_check(&e, sizeof(e)), -EPROTO);
	e.hdr.type = TWITCH_REC_TYPE_MAX + 1;
	assert_int_equal(twitch_record_check(&e, sizeof(e)), -EPROTO);
	assert_int_equal(twitch_record_check(NULL, 64), -EPROTO);
	assert_int_equal(twitch_record_check(&e, 8), -EPROTO);

	record_init(&m, TWITCH_REC_MARKER, sizeof(m), TWITCH_DEVICE_NONE, TWITCH_INDEX_NONE);
	strcpy(m.text, "lights off");
	m.len = 10;
	assert_int_equal(twitch_record_check(&m, sizeof(m)), 0);
	m.len = 11;						/* length disagrees */
	assert_int_equal(twitch_record_check(&m, sizeof(m)), -EPROTO);
	memset(m.text, 'a', sizeof(m.text));			/* unterminated */
	m.len = sizeof(m.text);
	assert_int_equal(twitch_record_check(&m, sizeof(m)), -EPROTO);

	/* samples: size must match channels x scans */
	record_init(&u.s, TWITCH_REC_SAMPLES, (uint16_t)record_samples_size(2, 3), 0, 0);
	u.s.n_channels = 2;
	u.s.n_scans = 3;
	assert_int_equal(twitch_record_check(&u, record_samples_size(2, 3)), 0);
	u.s.n_scans = 4;
	assert_int_equal(twitch_record_check(&u, record_samples_size(2, 3)), -EPROTO);
	u.s.n_scans = 3;
	u.s.n_channels = 0;
	assert_int_equal(twitch_record_check(&u, record_samples_size(2, 3)), -EPROTO);
}

static void test_json_twitch_in_any_locale(void **state)
{
	struct twitch_rec_twitch e;
	char buf[512];
	int n;

	(void)state;
	record_init(&e, TWITCH_REC_TWITCH, sizeof(e), 0, 4000);
	e.hdr.seqno = 7;
	e.hdr.t_mono_ns = 3500000000u;
	e.channel = 3;
	e.channel_mask = 0x18;
	e.twitch_class = TWITCH_CLASS_DOUBLET;
	e.duration_ms = 12.5f;
	e.peak_uv = 250.25f;
	e.snr = NAN;
	/* a decimal-comma locale must not leak into JSON (if it is installed) */
	setlocale(LC_NUMERIC, "de_DE.UTF-8");
	n = twitch_record_json(&e, sizeof(e), 1000000000u, buf, sizeof(buf));
	setlocale(LC_NUMERIC, "C");
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_non_null(strstr(buf, "{\"type\":\"twitch\",\"seq\":7,\"t\":2.500000,"));
	assert_non_null(strstr(buf, "\"channel\":3,\"channel_mask\":24"));
	assert_non_null(strstr(buf, "\"class\":\"doublet\""));
	assert_non_null(strstr(buf, "\"duration_ms\":12.5,"));
	assert_non_null(strstr(buf, "\"peak_uv\":250.25,"));
	assert_non_null(strstr(buf, "\"snr\":null"));
	assert_non_null(strstr(buf, "\"sample_index\":4000"));
	assert_non_null(strstr(buf, "\"onset\":false"));
	assert_int_equal(buf[n - 1], '}');
	/* a provisional update has a type of its own, the same fields */
	e.hdr.type = TWITCH_REC_TWITCH_UPDATE;
	assert_int_equal(twitch_record_check(&e, sizeof(e)), 0);
	assert_true(twitch_record_json(&e, sizeof(e), 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "{\"type\":\"twitch_update\",\"seq\":7,"));
	assert_non_null(strstr(buf, "\"class\":\"doublet\""));
	e.hdr.type = TWITCH_REC_TWITCH;
	/* too small a buffer is an error, never a truncated object */
	assert_int_equal(twitch_record_json(&e, sizeof(e), 0, buf, 40), -ENOSPC);
	e.hdr.type = 99;
	assert_int_equal(twitch_record_json(&e, sizeof(e), 0, buf, sizeof(buf)), -EPROTO);
}

static void test_json_escapes_marker_text(void **state)
{
	struct twitch_rec_marker m;
	char buf[512];

	(void)state;
	record_init(&m, TWITCH_REC_MARKER, sizeof(m), TWITCH_DEVICE_NONE, TWITCH_INDEX_NONE);
	strcpy(m.text, "say \"hi\"\\\x01");
	m.len = (uint32_t)strlen(m.text);
	assert_true(twitch_record_json(&m, sizeof(m), 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"text\":\"say \\\"hi\\\"\\\\\\u0001\""));
	assert_null(strstr(buf, "sample_index"));	/* absent, not a sentinel */
}

static void test_alert_record(void **state)
{
	struct twitch_rec_alert a;
	char buf[1024];

	(void)state;
	record_init(&a, TWITCH_REC_ALERT, sizeof(a), 1, 42);
	a.alert = TWITCH_BIOZ_ALERT_PHA_DROP;
	a.state = TWITCH_ALERT_RAISED;
	a.value = 5.0;
	a.baseline = 8.05;
	a.threshold = 7.05;
	a.uncertainty = NAN;
	strcpy(a.text, "phase angle fell");
	assert_int_equal(twitch_record_check(&a, sizeof(a)), 0);
	assert_true(twitch_record_json(&a, sizeof(a), 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"type\":\"alert\""));
	assert_non_null(strstr(buf, "\"alert\":\"phase_angle_drop\",\"state\":\"raised\""));
	assert_non_null(strstr(buf, "\"baseline\":8.05"));
	assert_non_null(strstr(buf, "\"uncertainty\":null"));
	assert_non_null(strstr(buf, "\"sample_index\":42"));
	/* hostile: no NUL in the text, an unknown state, a short record */
	memset(a.text, 'x', sizeof(a.text));
	assert_int_equal(twitch_record_check(&a, sizeof(a)), -EPROTO);
	strcpy(a.text, "ok");
	a.state = 7;
	assert_int_equal(twitch_record_check(&a, sizeof(a)), -EPROTO);
	a.state = TWITCH_ALERT_CLEARED;
	assert_int_equal(twitch_record_check(&a, sizeof(a)), 0);
	a.hdr.size = sizeof(a) - 8;
	assert_int_equal(twitch_record_check(&a, sizeof(a) - 8), -EPROTO);
	assert_string_equal(twitch_alert_name(TWITCH_BIOZ_ALERT_RE_INDEX), "re_index_change");
	assert_string_equal(twitch_alert_name(0x100), "unknown");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(twitch_record_type_name(TWITCH_REC_BIOZ), "bioz");
	assert_string_equal(twitch_record_type_name(1000), "unknown");
	assert_string_equal(twitch_class_name(TWITCH_CLASS_LIMB_MOVEMENT), "limb_movement");
	assert_string_equal(twitch_class_name(0), "unknown");
	assert_string_equal(twitch_loss_name(TWITCH_LOSS_READER_LAPPED), "reader_lapped");
	assert_string_equal(twitch_status_name(TWITCH_STATUS_DEVICE_LOST), "device_lost");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_sizes_and_types),
		cmocka_unit_test(test_json_twitch_in_any_locale),
		cmocka_unit_test(test_json_escapes_marker_text),
		cmocka_unit_test(test_alert_record),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-top-events.c - twitch-top's "last events" list: an update is shown
 * at once and its final takes its place, a rejection hides it, records of
 * other devices, epochs, channels or times are not taken for it, and after
 * missed records no provisional line is matched any more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../clients/top-events.h"

/* A twitch record of device 0, epoch 0, channel @ch, samples [first, first + dur). */
static struct twitch_rec_twitch rec(uint16_t type, uint16_t flags, unsigned int ch,
				    uint64_t first, uint32_t dur)
{
	struct twitch_rec_twitch w;

	memset(&w, 0, sizeof(w));
	w.hdr.type = type;
	w.hdr.size = sizeof(w);
	w.hdr.flags = flags;
	w.hdr.sample_index = first;
	w.hdr.t_real_ns = first * 250000u;	/* 4 kHz */
	w.channel = ch;
	w.channel_mask = UINT64_C(1) << ch;
	w.duration_samples = dur;
	return w;
}

static unsigned int n_lines(const struct top_events *ev)
{
	unsigned int n = 0;

	while (top_events_nth(ev, n) != NULL)
		n++;
	return n;
}

/* onset: nothing; update: a provisional line; a larger update and the
 * final: the same line, then final. */
static void test_update_then_final(void **state)
{
	static struct top_events ev;
	struct twitch_rec_twitch w;
	const struct top_event_line *l;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	w = rec(TWITCH_REC_TWITCH, TWITCH_EVF_ONSET, 2, 1000, 0);
	top_events_twitch(&ev, &w, NULL);
	assert_null(top_events_nth(&ev, 0));
	w = rec(TWITCH_REC_TWITCH_UPDATE, 0, 2, 1004, 40);
	top_events_twitch(&ev, &w, "ch2 fasciculation");
	l = top_events_nth(&ev, 0);
	assert_non_null(l);
	assert_true(l->provisional);
	assert_string_equal(l->text, "ch2 fasciculation");
	/* a second potential joined: a doublet, on the same line */
	w = rec(TWITCH_REC_TWITCH_UPDATE, 0, 2, 1004, 180);
	top_events_twitch(&ev, &w, "ch2 doublet");
	assert_int_equal(n_lines(&ev), 1);
	w = rec(TWITCH_REC_TWITCH, 0, 2, 1004, 180);
	top_events_twitch(&ev, &w, "ch2 doublet final");
	assert_int_equal(n_lines(&ev), 1);
	l = top_events_nth(&ev, 0);
	assert_false(l->provisional);
	assert_false(l->orphan);
	assert_string_equal(l->text, "ch2 doublet final");
	/* a final is never replaced: the next event's update is a new line */
	w = rec(TWITCH_REC_TWITCH_UPDATE, 0, 2, 1100, 40);
	top_events_twitch(&ev, &w, "ch2 next");
	assert_int_equal(n_lines(&ev), 2);
	assert_string_equal(top_events_nth(&ev, 1)->text, "ch2 doublet final");
}

/* A rejection hides the update of its event only. */
static void test_reject_hides(void **state)
{
	static struct top_events ev;
	struct twitch_rec_twitch w;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	top_events_add(&ev, 1, "marker: lights off");
	w = rec(TWITCH_REC_TWITCH_UPDATE, 0, 1, 2000, 30);
	top_events_twitch(&ev, &w, "ch1 pop?");
	w = rec(TWITCH_REC_TWITCH_UPDATE, 0, 3, 2010, 30);
	top_events_twitch(&ev, &w, "ch3 other");
	w = rec(TWITCH_REC_TWITCH, TWITCH_EVF_REJECT, 1, 2000, 30);
	top_events_twitch(&ev, &w, NULL);
	assert_int_equal(n_lines(&ev), 2);
	assert_string_equal(top_events_nth(&ev, 0)->text, "ch3 other");
	assert_string_equal(top_events_nth(&ev, 1)->text, "marker: lights off");
	/* a rejection of nothing shown changes nothing */
	w = rec(TWITCH_REC_TWITCH, TWITCH_EVF_REJECT, 5, 9000, 30);
	top_events_twitch(&ev, &w, NULL);
	assert_int_equal(n_lines(&ev), 2);
}

/* Another device, epoch, channel set or time is another event. */
static void test_no_false_match(void **state)
{
	static struct top_events ev;
	struct twitch_rec_twitch w, u;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	u = rec(TWITCH_REC_TWITCH_UPDATE, 0, 0, 5000, 40);
	top_events_twitch(&ev, &u, "update");
	w = u;
	w.hdr.type = TWITCH_REC_TWITCH;
	w.hdr.device = 1;
	top_events_twitch(&ev, &w, "other device");
	w = u;
	w.hdr.type = TWITCH_REC_TWITCH;
	w.index_epoch = 1;
	top_events_twitch(&ev, &w, "other epoch");
	w = rec(TWITCH_REC_TWITCH, 0, 4, 5000, 40);
	top_events_twitch(&ev, &w, "other channel");
	w = rec(TWITCH_REC_TWITCH, 0, 0, 5040, 40);	/* starts where it ended */
	top_events_twitch(&ev, &w, "later");
	assert_int_equal(n_lines(&ev), 5);
	assert_true(top_events_nth(&ev, 4)->provisional);
	assert_string_equal(top_events_nth(&ev, 4)->text, "update");
	/* the final of several channels, its primary another: still the event */
	w = rec(TWITCH_REC_TWITCH, 0, 3, 4990, 60);
	w.channel_mask = 0x9;
	top_events_twitch(&ev, &w, "merged final");
	assert_int_equal(n_lines(&ev), 5);
	assert_string_equal(top_events_nth(&ev, 4)->text, "merged final");
	assert_false(top_events_nth(&ev, 4)->provisional);
}

/* After missed records a provisional line is an orphan: shown, never matched. */
static void test_orphan(void **state)
{
	static struct top_events ev;
	struct twitch_rec_twitch w;
	const struct top_event_line *l;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	w = rec(TWITCH_REC_TWITCH_UPDATE, 0, 0, 40000, 40);
	top_events_twitch(&ev, &w, "before the restart");
	top_events_orphan(&ev);
	l = top_events_nth(&ev, 0);
	assert_false(l->provisional);
	assert_true(l->orphan);
	/* a new daemon's indexes start again: its event is its own line */
	w = rec(TWITCH_REC_TWITCH, 0, 0, 40010, 40);
	top_events_twitch(&ev, &w, "new daemon");
	assert_int_equal(n_lines(&ev), 2);
	assert_string_equal(top_events_nth(&ev, 1)->text, "before the restart");
}

/* The list keeps the newest TOP_EVENTS lines; a provisional line is found
 * anywhere among them (a burst's final can come after many twitches). */
static void test_wrap(void **state)
{
	static struct top_events ev;
	struct twitch_rec_twitch w;
	char text[32];
	unsigned int i;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	w = rec(TWITCH_REC_TWITCH_UPDATE, 0, 7, 100, 4000);
	top_events_twitch(&ev, &w, "burst so far");
	for (i = 0; i < TOP_EVENTS - 2; i++) {
		w = rec(TWITCH_REC_TWITCH, 0, 0, 100 + 40 * i, 30);
		snprintf(text, sizeof(text), "twitch %u", i);
		top_events_twitch(&ev, &w, text);
	}
	w = rec(TWITCH_REC_TWITCH, 0, 7, 100, 5000);
	top_events_twitch(&ev, &w, "burst final");
	assert_int_equal(n_lines(&ev), TOP_EVENTS - 1);
	assert_string_equal(top_events_nth(&ev, TOP_EVENTS - 2)->text, "burst final");
	for (i = 0; i < 10; i++) {
		w = rec(TWITCH_REC_TWITCH, 0, 1, 9000 + 40 * i, 30);
		top_events_twitch(&ev, &w, "more");
	}
	assert_int_equal(n_lines(&ev), TOP_EVENTS);
	assert_string_equal(top_events_nth(&ev, 0)->text, "more");
	assert_null(top_events_nth(&ev, TOP_EVENTS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update_then_final),
		cmocka_unit_test(test_reject_hides),
		cmocka_unit_test(test_no_false_match),
		cmocka_unit_test(test_orphan),
		cmocka_unit_test(test_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

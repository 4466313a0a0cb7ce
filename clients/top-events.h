/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * top-events.h - twitch-top's "last events" list: the newest TOP_EVENTS
 * lines (twitches, markers), with a twitch shown as soon as it ends.
 *
 * twitchd sends an event's provisional update records
 * (TWITCH_REC_TWITCH_UPDATE) a few ms after each of its potentials ends and
 * its final record 60-80 ms after the event's end (or a rejection, if it
 * was an artefact). The list shows an update at once, as a provisional
 * line, and puts later updates and the final in its place; a rejection
 * hides it. Records carry no event id: a record belongs to the newest
 * provisional line of the same device and index epoch whose channels and
 * sample span overlap its own. When records may have been missed (twitchd
 * gone or restarted, the reader lapped), provisional lines can no longer
 * be matched: top_events_orphan() marks them unconfirmed.
 *
 * No allocation; one list per display, used from one thread.
 */
#ifndef TWITCH_TOP_EVENTS_H
#define TWITCH_TOP_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <twitch.h>

#define TOP_EVENTS	64	/* lines kept */

struct top_event_line {
	uint64_t t_real_ns;
	char text[96];
	bool provisional;	/* an update: its final will take its place */
	bool orphan;		/* was provisional; its final may never come */
	bool hidden;		/* withdrawn: its event was an artefact */
	/* a twitch's, for matching the later records of its event */
	uint16_t device;
	uint32_t index_epoch;
	uint64_t channel_mask, first, end;	/* sample span */
};

struct top_events {
	struct top_event_line line[TOP_EVENTS];
	unsigned int n;		/* lines ever added; newest at (n - 1) % TOP_EVENTS */
};

/* A line that is not a twitch (a marker). */
void top_events_add(struct top_events *ev, uint64_t t_real_ns, const char *text);

/*
 * A twitch record @w (TWITCH_REC_TWITCH or TWITCH_REC_TWITCH_UPDATE),
 * shown as @text. Onset notices are not listed; a rejection hides its
 * event's provisional lines (@text unused); an update or final takes the
 * place of its event's provisional line, or is added.
 */
void top_events_twitch(struct top_events *ev, const struct twitch_rec_twitch *w,
		       const char *text);

/* Records may have been missed: no provisional line can be matched now. */
void top_events_orphan(struct top_events *ev);

/* The @i-th newest line that is not hidden, from 0; NULL past the last. */
const struct top_event_line *top_events_nth(const struct top_events *ev, unsigned int i);

#endif

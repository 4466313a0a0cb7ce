/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * top-events.c - twitch-top's "last events" list (see top-events.h).
 */
#include "top-events.h"

#include <stdio.h>
#include <string.h>

/* Lines held, and where the @i-th newest of them is in line[]. */
static unsigned int n_held(const struct top_events *ev)
{
	return ev->n < TOP_EVENTS ? ev->n : TOP_EVENTS;
}

static unsigned int newest(const struct top_events *ev, unsigned int i)
{
	return (ev->n - 1 - i) % TOP_EVENTS;
}

static struct top_event_line *add_line(struct top_events *ev, uint64_t t_real_ns,
				       const char *text)
{
	struct top_event_line *l = &ev->line[ev->n % TOP_EVENTS];

	memset(l, 0, sizeof(*l));
	l->t_real_ns = t_real_ns;
	snprintf(l->text, sizeof(l->text), "%s", text);
	ev->n++;
	return l;
}

void top_events_add(struct top_events *ev, uint64_t t_real_ns, const char *text)
{
	add_line(ev, t_real_ns, text);
}

static uint64_t rec_end(const struct twitch_rec_twitch *w)
{
	return w->hdr.sample_index + (w->duration_samples ? w->duration_samples : 1);
}

/* The newest provisional line of the event @w is about, if any. */
static struct top_event_line *find_provisional(struct top_events *ev,
					       const struct twitch_rec_twitch *w)
{
	uint64_t first = w->hdr.sample_index, end = rec_end(w);
	unsigned int i;

	for (i = 0; i < n_held(ev); i++) {
		struct top_event_line *l = &ev->line[newest(ev, i)];

		if (l->provisional && !l->hidden && l->device == w->hdr.device &&
		    l->index_epoch == w->index_epoch && (l->channel_mask & w->channel_mask) &&
		    l->first < end && first < l->end)
			return l;
	}
	return NULL;
}

void top_events_twitch(struct top_events *ev, const struct twitch_rec_twitch *w,
		       const char *text)
{
	struct top_event_line *l;

	if (w->hdr.flags & TWITCH_EVF_ONSET)
		return;
	if (w->hdr.flags & TWITCH_EVF_REJECT) {
		while ((l = find_provisional(ev, w)) != NULL)
			l->hidden = true;
		return;
	}
	l = find_provisional(ev, w);
	if (l == NULL)
		l = add_line(ev, w->hdr.t_real_ns, text);
	else	/* the event as it now stands, where its update was */
		snprintf(l->text, sizeof(l->text), "%s", text);
	l->t_real_ns = w->hdr.t_real_ns;
	l->provisional = w->hdr.type == TWITCH_REC_TWITCH_UPDATE;
	l->device = w->hdr.device;
	l->index_epoch = w->index_epoch;
	l->channel_mask = w->channel_mask;
	l->first = w->hdr.sample_index;
	l->end = rec_end(w);
}

void top_events_orphan(struct top_events *ev)
{
	unsigned int i;

	for (i = 0; i < n_held(ev); i++) {
		struct top_event_line *l = &ev->line[newest(ev, i)];

		if (l->provisional) {
			l->provisional = false;
			l->orphan = true;
		}
	}
}

const struct top_event_line *top_events_nth(const struct top_events *ev, unsigned int i)
{
	unsigned int k;

	for (k = 0; k < n_held(ev); k++) {
		const struct top_event_line *l = &ev->line[newest(ev, k)];

		if (l->hidden)
			continue;
		if (i-- == 0)
			return l;
	}
	return NULL;
}

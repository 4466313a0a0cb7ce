/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h - twitchd's logging: the journal when stderr is journald's stream,
 * else timestamped lines on stderr. Only daemon/ logs.
 */
#ifndef TWITCHD_LOG_H
#define TWITCHD_LOG_H

#include <syslog.h>

/* Decide journal or terminal mode, once, before the first message. */
void log_open(const char *ident);
/* Messages above @prio (e.g. LOG_INFO) are dropped. */
void log_set_max_level(int prio);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append ": strerror(err)" (err > 0 or < 0); return -abs(err). */
int log_errno(int prio, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * A message about a device (and channel, or -1): in journal mode the
 * fields TWITCH_DEVICE= and TWITCH_CHANNEL= go along with it.
 */
void log_device(int prio, const char *device, int channel, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif

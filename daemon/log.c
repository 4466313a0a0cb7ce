// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * log.c - journal or terminal logging.
 *
 * Under systemd, stderr is connected to journald and $JOURNAL_STREAM holds
 * its "device:inode": then each line carries a "<N>" priority prefix that
 * journald understands, and device messages go through sd_journal_send()
 * with structured fields. On a terminal (or anything else) each line gets a
 * monotonic-free wall-clock timestamp and the level. stderr is unbuffered,
 * so nothing waits in a buffer when the daemon dies.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"

static bool journal_mode;
static int max_level = LOG_INFO;
static const char *ident_name = "twitchd";

static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (e == NULL)
		return false;
	errno = 0;
	dev = strtoull(e, &end, 10);
	if (errno || *end != ':')
		return false;
	ino = strtoull(end + 1, &end, 10);
	if (errno || *end != '\0')
		return false;
	return fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_open(const char *ident)
{
	if (ident)
		ident_name = ident;
	journal_mode = stderr_is_journal();
}

void log_set_max_level(int prio)
{
	max_level = prio;
}

static const char *level_name(int prio)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warning", "notice", "info", "debug" };

	return prio >= 0 && prio <= LOG_DEBUG ? names[prio] : "?";
}

static void vlog(int prio, const char *suffix, const char *fmt, va_list ap)
{
	char msg[1024];
	struct timespec ts;
	struct tm tm;

	if (prio > max_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (journal_mode) {
		fprintf(stderr, "<%d>%s%s\n", prio, msg, suffix ? suffix : "");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s %s: %s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, ident_name, level_name(prio), msg, suffix ? suffix : "");
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(prio, NULL, fmt, ap);
	va_end(ap);
}

int log_errno(int prio, int err, const char *fmt, ...)
{
	char suffix[128];
	va_list ap;

	err = err < 0 ? -err : err;
	snprintf(suffix, sizeof(suffix), ": %s", strerror(err));
	va_start(ap, fmt);
	vlog(prio, suffix, fmt, ap);
	va_end(ap);
	return -err;
}

void log_device(int prio, const char *device, int channel, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (prio > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (journal_mode) {
		if (channel >= 0)
			sd_journal_send("MESSAGE=%s: %s", device, msg, "PRIORITY=%d", prio,
					"TWITCH_DEVICE=%s", device, "TWITCH_CHANNEL=%d", channel,
					"SYSLOG_IDENTIFIER=%s", ident_name, NULL);
		else
			sd_journal_send("MESSAGE=%s: %s", device, msg, "PRIORITY=%d", prio,
					"TWITCH_DEVICE=%s", device,
					"SYSLOG_IDENTIFIER=%s", ident_name, NULL);
		return;
	}
	if (channel >= 0)
		log_msg(prio, "%s: channel %d: %s", device, channel, msg);
	else
		log_msg(prio, "%s: %s", device, msg);
}

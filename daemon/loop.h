/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loop.h - the event loop's entry points (see loop.c).
 */
#ifndef TWITCHD_LOOP_H
#define TWITCHD_LOOP_H

#include "twitchd.h"

/* Arm the signalfd read, the tick and the multishot accept. */
int loop_start(struct twitchd *d);
/*
 * Run until SIGTERM/SIGINT, then cancel, drain every device (publishing what
 * the kernel still held), mark the rings closed. @reload runs on SIGHUP.
 * Return: 0 on a clean stop, -errno if io_uring failed.
 */
int loop_run(struct twitchd *d, int (*reload)(struct twitchd *d));

#endif

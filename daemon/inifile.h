/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * inifile.h - inih for strict configuration files (twitchd.conf and
 * twitch-mqtt.conf).
 *
 * Debian's libinih (55) is built with a 200-byte line buffer and with
 * multi-line values on. Through it alone, a longer line is cut and its rest
 * read as a line of its own (a long comment can then set a key), and an
 * indented line replaces the value before it. Here, before inih sees a line:
 * - leading blanks are dropped, so an indented line is an ordinary line and
 *   a value never continues onto the next one;
 * - a "key = value" line of any length reaches the handler whole; a longer
 *   line of another kind (a section, a comment) is an error, or is skipped
 *   if a comment;
 * - a key given twice in one section is an error naming both lines;
 * - the handler is told the line of each key.
 */
#ifndef TWITCHD_INIFILE_H
#define TWITCHD_INIFILE_H

#include <stdio.h>
#include <sys/stat.h>

#define INIFILE_MAX_VALUE	2048	/* longer values are an error */

/* As inih's handler, plus the key's line. Return nonzero if the key is fine. */
typedef int (*inifile_handler)(void *user, const char *section, const char *key,
			       const char *value, int line);

struct inifile_error {
	int line;			/* 0: none */
	char section[64], key[64];	/* the key it is about, or "" */
	char msg[160];			/* what inifile itself found wrong there */
};

/*
 * inifile_open() - @path for reading, close-on-exec (inih's own ini_parse()
 * would not), if it is a regular file; its status in *@st.
 * Return: the file, or NULL with -errno in *@ret_err (-EISDIR, or -EINVAL
 * for another kind of file).
 */
FILE *inifile_open(const char *path, struct stat *st, int *ret_err);

/*
 * inifile_parse() - parse @f, calling @handler for every key.
 * Return: 0; the first line with an error (a line that is neither a
 * section, a key nor a comment; a key @handler refused; or one @err
 * describes: @err->line is then that line); -EIO if @f could not be read,
 * -ENOMEM.
 */
int inifile_parse(FILE *f, inifile_handler handler, void *user, struct inifile_error *err);

#endif

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * inifile.c - inih, with the lines cleaned up first (see inifile.h).
 *
 * inih reads through a line reader of ours (ini_parse_stream()). A
 * "key = value" line too long for inih's buffer reaches it as "key = " and
 * a marker, and the value is put back before the handler sees it: inih
 * calls the handler for a line before it asks for the next, so the value
 * kept aside is always that line's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <ini.h>

#include "inifile.h"

#define INIFILE_LONG	"\x1e"	/* the marker: a value no config holds */
#define INIFILE_BAD	"\x1e\n" /* a line inih refuses (no '='): an error there */

struct inifile_key {
	char *name;		/* "section\037key" */
	int line;
};

struct inifile_state {
	FILE *f;
	inifile_handler handler;
	void *user;
	struct inifile_error *err;
	char *buf;		/* getline()'s */
	size_t cap;
	int line;
	int long_line;		/* the line whose value is in long_value */
	char long_value[INIFILE_MAX_VALUE];
	struct inifile_key *keys;
	size_t n_keys, cap_keys;
	int io_err;
	bool nomem;
};

static void inifile_fail(struct inifile_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void inifile_fail(struct inifile_state *st, const char *fmt, ...)
{
	va_list ap;

	if (st->err->line)
		return;		/* the first is enough */
	st->err->line = st->line;
	va_start(ap, fmt);
	vsnprintf(st->err->msg, sizeof(st->err->msg), fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A line longer than inih's buffer: its key and value, or an error. */
static const char *inifile_long(struct inifile_state *st, char *s, size_t len,
				char *str, int num)
{
	char *e, *v, *end;

	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	if (s[0] == ';' || s[0] == '#')
		return ";\n";		/* a comment, however long */
	/* the key ends at the first '=' or ':', as inih has it */
	for (e = s; *e && *e != '=' && *e != ':'; e++)
		if (*e == ';' && e > s && is_blank(e[-1]))
			break;
	if (s[0] == '[' || (*e != '=' && *e != ':') || e - s > num - 8) {
		inifile_fail(st, "a line of %zu bytes that is not key = value (the limit "
			     "for other lines is %d)", len, num - 2);
		return INIFILE_BAD;
	}
	for (v = e + 1; is_blank(*v); v++)
		;
	/* an inline comment: ';' after a blank */
	for (end = v; *end; end++)
		if (*end == ';' && end > v && is_blank(end[-1]))
			break;
	while (end > v && is_blank(end[-1]))
		end--;
	if ((size_t)(end - v) >= sizeof(st->long_value)) {
		inifile_fail(st, "a value of %zu bytes (the limit is %zu)",
			     (size_t)(end - v), sizeof(st->long_value) - 1);
		return INIFILE_BAD;
	}
	memcpy(st->long_value, v, (size_t)(end - v));
	st->long_value[end - v] = '\0';
	st->long_line = st->line;
	snprintf(str, (size_t)num, "%.*s= " INIFILE_LONG "\n", (int)(e - s), s);
	return str;
}

/* inih's reader: one line, as fgets() would give it, cleaned up. */
static char *inifile_read(char *str, int num, void *stream)
{
	struct inifile_state *st = stream;
	const char *out;
	ssize_t n;
	size_t len;
	char *s;

	errno = 0;
	n = getline(&st->buf, &st->cap, st->f);
	if (n < 0) {
		if (ferror(st->f))
			st->io_err = errno ? errno : EIO;
		else if (errno == ENOMEM)
			st->nomem = true;
		return NULL;
	}
	st->line++;
	s = st->buf;
	if (st->line == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
		s += 3;		/* a UTF-8 byte order mark */
	while (is_blank(*s))
		s++;		/* never a continuation line */
	len = strlen(s);
	if (len + 1 <= (size_t)num)
		out = s;
	else
		out = inifile_long(st, s, len, str, num);
	if (out != str)
		snprintf(str, (size_t)num, "%s", out);
	return str;
}

static int inifile_key(void *user, const char *section, const char *key, const char *value)
{
	struct inifile_state *st = user;
	size_t i, len = strlen(section) + strlen(key) + 2;
	char *name;

	if (st->long_line == st->line && !strcmp(value, INIFILE_LONG))
		value = st->long_value;
	name = malloc(len);
	if (name == NULL) {
		st->nomem = true;
		return 0;
	}
	snprintf(name, len, "%s\037%s", section, key);
	for (i = 0; i < st->n_keys; i++) {
		if (!strcmp(st->keys[i].name, name)) {
			if (st->err->line == 0) {
				snprintf(st->err->section, sizeof(st->err->section), "%s",
					 section);
				snprintf(st->err->key, sizeof(st->err->key), "%s", key);
			}
			inifile_fail(st, "given twice (first on line %d)", st->keys[i].line);
			free(name);
			return 0;
		}
	}
	if (st->n_keys == st->cap_keys) {
		size_t cap = st->cap_keys ? 2 * st->cap_keys : 64;
		struct inifile_key *k = realloc(st->keys, cap * sizeof(*k));

		if (k == NULL) {
			free(name);
			st->nomem = true;
			return 0;
		}
		st->keys = k;
		st->cap_keys = cap;
	}
	st->keys[st->n_keys].name = name;
	st->keys[st->n_keys++].line = st->line;
	return st->handler(st->user, section, key, value, st->line);
}

FILE *inifile_open(const char *path, struct stat *st, int *ret_err)
{
	FILE *f;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, st) < 0) {
		*ret_err = -errno;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		*ret_err = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
		return NULL;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		*ret_err = -errno;
		close(fd);
	}
	return f;
}

int inifile_parse(FILE *f, inifile_handler handler, void *user, struct inifile_error *err)
{
	struct inifile_state *st;
	size_t i;
	int res;

	memset(err, 0, sizeof(*err));
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->f = f;
	st->handler = handler;
	st->user = user;
	st->err = err;
	res = ini_parse_stream(inifile_read, st, inifile_key, st);
	if (st->io_err)
		res = -EIO;
	else if (st->nomem || res < 0)
		res = -ENOMEM;
	for (i = 0; i < st->n_keys; i++)
		free(st->keys[i].name);
	free(st->keys);
	free(st->buf);
	free(st);
	return res;
}

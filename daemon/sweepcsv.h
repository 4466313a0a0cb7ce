/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sweepcsv.h - read bioimpedance sweeps from CSV (for twitchd --analyze)
 * and parse a subject string. Hostile input is expected: every failure
 * returns -errno and fills a struct sweepcsv_err naming the file, line and
 * field, from which sweepcsv_strerror() makes one message. Memory is
 * bounded: one line buffer and max_points per array, allocated at open.
 */
#ifndef TWITCHD_SWEEPCSV_H
#define TWITCHD_SWEEPCSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bioz.h"

#define SWEEPCSV_LINE_MAX 1024u		/* bytes per line, excluding the newline */
#define SWEEPCSV_COLS_MAX 32u		/* columns in the header */
#define SWEEPCSV_SUBJECT_MAX 256u	/* bytes in a subject string */

enum sweepcsv_kind {
	SWEEPCSV_E_NONE = 0,
	SWEEPCSV_E_IO,			/* open or read failed (see ret value) */
	SWEEPCSV_E_EMPTY,		/* no header line: empty, or only comments */
	SWEEPCSV_E_NO_ROWS,		/* a header but no data */
	SWEEPCSV_E_MISSING_COLUMN,
	SWEEPCSV_E_DUP_COLUMN,
	SWEEPCSV_E_TOO_MANY_COLUMNS,
	SWEEPCSV_E_FIELD_COUNT,		/* a row with more or fewer fields than the header */
	SWEEPCSV_E_NOT_NUMBER,
	SWEEPCSV_E_NOT_FINITE,		/* inf, nan, or out of double range */
	SWEEPCSV_E_BAD_FREQ,		/* frequency <= 0 */
	SWEEPCSV_E_FREQ_ORDER,		/* frequency not increasing within a sweep */
	SWEEPCSV_E_TOO_MANY_POINTS,	/* a sweep longer than max_points */
	SWEEPCSV_E_LINE_TOO_LONG,
	SWEEPCSV_E_NUL_BYTE,
	SWEEPCSV_E_BAD_SWEEP_ID,	/* not an integer in 0..UINT32_MAX */
	SWEEPCSV_E_SUBJECT_KEY,		/* unknown key or no '=' */
	SWEEPCSV_E_SUBJECT_DUP,
	SWEEPCSV_E_SUBJECT_VALUE,	/* not a number / not m or f */
	SWEEPCSV_E_SUBJECT_RANGE,
	SWEEPCSV_E_SUBJECT_MISSING,	/* height_cm, weight_kg and sex are required */
	SWEEPCSV_E_SUBJECT_TOO_LONG,
	SWEEPCSV_E_BAD_TEMP,		/* temp_c outside 25..45 degC */
};

struct sweepcsv_err {
	enum sweepcsv_kind kind;
	uint64_t line;			/* 1-based; 0 when not about one line */
	char file[128];			/* the name given at open (truncated) */
	char field[32];			/* column or key, "" if none */
	char detail[64];		/* the offending text (truncated, sanitised) */
};

/* One sweep; the arrays belong to the reader and live until the next call. */
struct sweepcsv_sweep {
	uint32_t sweep;
	size_t n;
	const double *freq_hz, *r_ohm, *x_ohm;	/* x: signed reactance */
	double temp_c;			/* mean of an optional temp_c column, else NaN */
	double t_s;			/* first row's optional t_s column, else NaN */
	uint64_t first_line;
};

struct sweepcsv;

/*
 * sweepcsv_open() - open @path (O_CLOEXEC) and read its header. Columns
 * sweep, freq_hz, r_ohm and x_ohm are required, in any order; temp_c and
 * t_s are optional; other columns are ignored. Blank lines and lines whose
 * first non-blank character is '#' are skipped. Numbers use '.' (the
 * daemon runs in the C locale). @max_points: 1..BIOZ_MAX_POINTS_LIMIT.
 * Return: 0 and the reader (caller owns it) in *ret; -EINVAL for bad
 * arguments or content, -ENOMEM, or -errno of fopen/read; *err filled.
 */
int sweepcsv_open(const char *path, size_t max_points, struct sweepcsv **ret,
		  struct sweepcsv_err *err);

/* The same over an open stream @f (not closed by the reader); @name for messages. */
int sweepcsv_open_stream(FILE *f, const char *name, size_t max_points, struct sweepcsv **ret,
			 struct sweepcsv_err *err);

/* NULL-safe; closes the file if sweepcsv_open() opened it; returns NULL. */
struct sweepcsv *sweepcsv_free(struct sweepcsv *r);

/*
 * sweepcsv_next() - the next sweep: consecutive rows with the same sweep id
 * (a change of id starts a new sweep). Frequencies must increase within a
 * sweep. After an error every later call returns the same error.
 * Return: 1 and *ret, 0 at the end, or -errno with *err filled. At least
 * one data row is required: a header-only file gives SWEEPCSV_E_NO_ROWS.
 */
int sweepcsv_next(struct sweepcsv *r, struct sweepcsv_sweep *ret, struct sweepcsv_err *err);

/*
 * sweepcsv_strerror() - one line "FILE:LINE: field 'F': what: 'text'" into
 * @buf (without "FILE:LINE: " when the error names no file). Return: the
 * length snprintf reports.
 */
int sweepcsv_strerror(const struct sweepcsv_err *err, char *buf, size_t size);

/*
 * sweepcsv_subject_parse() - "height_cm=170,weight_kg=70,sex=m,age=40":
 * keys in any order, each once; height_cm 30..250, weight_kg 1..400,
 * sex m|f|male|female (any case), age 0..120 (optional: NaN if absent).
 * @src: where @s came from, the "file" of an error (e.g. "--subject");
 * "" when the caller names the place itself.
 * Return: 0 and *ret, or -EINVAL with *err filled.
 */
int sweepcsv_subject_parse(const char *src, const char *s, struct bioz_subject *ret,
			   struct sweepcsv_err *err);

#endif

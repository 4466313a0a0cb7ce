// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sweepcsv.c - bioimpedance sweeps from CSV, and the --subject string.
 *
 * The file is untrusted: lines are read byte by byte into one fixed buffer
 * (so an overlong line or an embedded NUL is caught, never truncated
 * silently), fields are checked for count, number syntax, finiteness and
 * range, and a sweep is capped at max_points. Memory is allocated once at
 * open. Numbers go through strtod/strtoull with end-pointer and errno
 * checks; strtod follows LC_NUMERIC, and the daemon runs in the C locale.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweepcsv.h"

#define COL_SWEEP 0
#define COL_FREQ 1
#define COL_R 2
#define COL_X 3
#define COL_TEMP 4
#define COL_T 5
#define N_ROLES 6
#define N_REQUIRED 4

static const char *const role_names[N_ROLES] = {
	"sweep", "freq_hz", "r_ohm", "x_ohm", "temp_c", "t_s",
};

struct row {
	uint32_t sweep;
	double v[N_ROLES];		/* by role; NaN for absent optional values */
	uint64_t line;
};

struct sweepcsv {
	FILE *f;
	bool own_f;
	char name[128];
	size_t max_points;
	uint64_t line;			/* lines read so far */
	char buf[SWEEPCSV_LINE_MAX + 1];
	int n_cols;
	int col_role[SWEEPCSV_COLS_MAX];	/* role of each column, -1 = ignored */
	bool has_role[N_ROLES];
	bool at_eof;
	bool any_row;
	bool have_pending;
	struct row pending;
	int failed;			/* sticky -errno after an error */
	struct sweepcsv_err failed_err;
	double *freq_hz, *r_ohm, *x_ohm;
};

/* ---------------------------------------------------------------- errors */

static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t i;

	/* printable ASCII only: the text goes into a terminal or the journal */
	for (i = 0; src && src[i] && i + 1 < size; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static int set_err(struct sweepcsv_err *err, const char *file, enum sweepcsv_kind kind,
		   uint64_t line, const char *field, const char *detail, int ret)
{
	if (err) {
		memset(err, 0, sizeof(*err));
		err->kind = kind;
		err->line = line;
		copy_trunc(err->file, sizeof(err->file), file);
		copy_trunc(err->field, sizeof(err->field), field);
		copy_trunc(err->detail, sizeof(err->detail), detail);
	}
	return ret;
}

/* Record the error in the reader (errors are sticky) and in *err. */
static int reader_fail(struct sweepcsv *r, struct sweepcsv_err *err, enum sweepcsv_kind kind,
		       uint64_t line, const char *field, const char *detail, int ret)
{
	set_err(&r->failed_err, r->name, kind, line, field, detail, ret);
	r->failed = ret;
	if (err)
		*err = r->failed_err;
	return ret;
}

static const char *kind_text(enum sweepcsv_kind k)
{
	switch (k) {
	case SWEEPCSV_E_NONE: return "no error";
	case SWEEPCSV_E_IO: return "cannot open or read";
	case SWEEPCSV_E_EMPTY: return "empty file: no header line";
	case SWEEPCSV_E_NO_ROWS: return "no data rows after the header";
	case SWEEPCSV_E_MISSING_COLUMN: return "required column missing from the header";
	case SWEEPCSV_E_DUP_COLUMN: return "column named twice in the header";
	case SWEEPCSV_E_TOO_MANY_COLUMNS: return "too many columns";
	case SWEEPCSV_E_FIELD_COUNT: return "number of fields differs from the header";
	case SWEEPCSV_E_NOT_NUMBER: return "not a number";
	case SWEEPCSV_E_NOT_FINITE: return "not a finite number";
	case SWEEPCSV_E_BAD_FREQ: return "frequency must be > 0";
	case SWEEPCSV_E_FREQ_ORDER: return "frequency not increasing within the sweep";
	case SWEEPCSV_E_TOO_MANY_POINTS: return "too many points in one sweep";
	case SWEEPCSV_E_LINE_TOO_LONG: return "line too long";
	case SWEEPCSV_E_NUL_BYTE: return "NUL byte in line";
	case SWEEPCSV_E_BAD_SWEEP_ID: return "sweep id must be an integer 0..4294967295";
	case SWEEPCSV_E_SUBJECT_KEY: return "unknown key (want height_cm, weight_kg, sex, age)";
	case SWEEPCSV_E_SUBJECT_DUP: return "key given twice";
	case SWEEPCSV_E_SUBJECT_VALUE: return "bad value";
	case SWEEPCSV_E_SUBJECT_RANGE: return "value out of range";
	case SWEEPCSV_E_SUBJECT_MISSING: return "required key missing";
	case SWEEPCSV_E_SUBJECT_TOO_LONG: return "subject string too long";
	case SWEEPCSV_E_BAD_TEMP: return "not a tissue temperature: 25..45 degC";
	}
	return "unknown error";
}

int sweepcsv_strerror(const struct sweepcsv_err *err, char *buf, size_t size)
{
	char where[160], field[48] = "", detail[80] = "";

	if (err->line > 0)
		snprintf(where, sizeof(where), "%s:%llu", err->file,
			 (unsigned long long)err->line);
	else
		snprintf(where, sizeof(where), "%s", err->file);
	if (err->field[0])
		snprintf(field, sizeof(field), " field '%s':", err->field);
	if (err->detail[0])
		snprintf(detail, sizeof(detail), ": '%s'", err->detail);
	if (where[0] == '\0')		/* the caller names the place */
		return snprintf(buf, size, "%s%s%s%s", field[0] ? field + 1 : "",
				field[0] ? " " : "", kind_text(err->kind), detail);
	return snprintf(buf, size, "%s:%s %s%s", where, field, kind_text(err->kind), detail);
}

/* ---------------------------------------------------------------- lines */

/*
 * Read one line into r->buf without its newline (and a trailing CR).
 * Return: 1, 0 at end of file, or a negative error (reader failed).
 */
static int read_line(struct sweepcsv *r, struct sweepcsv_err *err)
{
	size_t len = 0;
	bool nul = false, too_long = false;
	int c;

	for (;;) {
		c = getc(r->f);
		if (c == EOF || c == '\n')
			break;
		if (c == '\0')
			nul = true;
		if (len < SWEEPCSV_LINE_MAX)
			r->buf[len++] = (char)c;
		else
			too_long = true;
	}
	if (c == EOF && ferror(r->f))
		return reader_fail(r, err, SWEEPCSV_E_IO, r->line + 1, "", "", -EIO);
	if (c == EOF && len == 0 && !nul)
		return 0;
	r->line++;
	if (nul)
		return reader_fail(r, err, SWEEPCSV_E_NUL_BYTE, r->line, "", "", -EINVAL);
	if (too_long)
		return reader_fail(r, err, SWEEPCSV_E_LINE_TOO_LONG, r->line, "", "", -EINVAL);
	if (len > 0 && r->buf[len - 1] == '\r')
		len--;
	r->buf[len] = '\0';
	return 1;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	return s;
}

/* Blank or comment: nothing to parse. */
static bool skip_line(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0' || *s == '#';
}

/* Split @s at commas in place; return the field count or -1 if > max. */
static int split(char *s, char **fields, int max)
{
	int n = 0;

	for (;;) {
		char *c = strchr(s, ',');

		if (n == max)
			return -1;
		if (c)
			*c = '\0';		/* cut first, then trim this field only */
		fields[n++] = trim(s);
		if (!c)
			return n;
		s = c + 1;
	}
}

/* ---------------------------------------------------------------- numbers */

/* 0, or the error kind. Hex floats are refused; inf/nan are "not finite". */
static enum sweepcsv_kind parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	if (*s == '\0' || strpbrk(s, "xX"))
		return SWEEPCSV_E_NOT_NUMBER;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0')
		return SWEEPCSV_E_NOT_NUMBER;
	if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
		return SWEEPCSV_E_NOT_FINITE;
	*ret = v;				/* an underflow to 0 or subnormal is kept */
	return SWEEPCSV_E_NONE;
}

static bool parse_u32(const char *s, uint32_t *ret)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* ---------------------------------------------------------------- header and rows */

static int read_header(struct sweepcsv *r, struct sweepcsv_err *err)
{
	char *fields[SWEEPCSV_COLS_MAX];
	int i, k, n, ret;
	char *s;

	do {
		ret = read_line(r, err);
		if (ret < 0)
			return ret;
		if (ret == 0)
			return reader_fail(r, err, SWEEPCSV_E_EMPTY, r->line, "", "", -EINVAL);
		s = r->buf;
		if (r->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;			/* UTF-8 byte order mark */
	} while (skip_line(s));
	n = split(s, fields, SWEEPCSV_COLS_MAX);
	if (n < 0)
		return reader_fail(r, err, SWEEPCSV_E_TOO_MANY_COLUMNS, r->line, "", "", -EINVAL);
	r->n_cols = n;
	for (i = 0; i < n; i++) {
		r->col_role[i] = -1;
		for (k = 0; k < N_ROLES; k++) {
			if (strcasecmp(fields[i], role_names[k]) != 0)
				continue;
			if (r->has_role[k])
				return reader_fail(r, err, SWEEPCSV_E_DUP_COLUMN, r->line,
						   role_names[k], "", -EINVAL);
			r->has_role[k] = true;
			r->col_role[i] = k;
		}
	}
	for (k = 0; k < N_REQUIRED; k++)
		if (!r->has_role[k])
			return reader_fail(r, err, SWEEPCSV_E_MISSING_COLUMN, r->line,
					   role_names[k], "", -EINVAL);
	return 0;
}

/* Next data row into *row. Return 1, 0 at end, or a negative error. */
static int read_row(struct sweepcsv *r, struct row *row, struct sweepcsv_err *err)
{
	char *fields[SWEEPCSV_COLS_MAX];
	enum sweepcsv_kind kind;
	int i, n, ret, role;

	do {
		ret = read_line(r, err);
		if (ret <= 0)
			return ret;
	} while (skip_line(r->buf));
	n = split(r->buf, fields, SWEEPCSV_COLS_MAX);
	if (n != r->n_cols)
		return reader_fail(r, err, SWEEPCSV_E_FIELD_COUNT, r->line, "", "", -EINVAL);
	row->line = r->line;
	for (i = 0; i < N_ROLES; i++)
		row->v[i] = NAN;
	for (i = 0; i < n; i++) {
		role = r->col_role[i];
		if (role < 0)
			continue;
		if (role == COL_SWEEP) {
			if (!parse_u32(fields[i], &row->sweep))
				return reader_fail(r, err, SWEEPCSV_E_BAD_SWEEP_ID, r->line,
						   role_names[role], fields[i], -EINVAL);
			continue;
		}
		if (role >= N_REQUIRED && fields[i][0] == '\0')
			continue;		/* optional column left empty */
		kind = parse_double(fields[i], &row->v[role]);
		if (kind != SWEEPCSV_E_NONE)
			return reader_fail(r, err, kind, r->line, role_names[role], fields[i],
					   -EINVAL);
	}
	if (!(row->v[COL_FREQ] > 0.0))
		return reader_fail(r, err, SWEEPCSV_E_BAD_FREQ, r->line, role_names[COL_FREQ],
				   "", -EINVAL);
	/* as the live command takes it: a sentinel 0 or a Fahrenheit column
	 * would compensate the index by tens of percent */
	if (isfinite(row->v[COL_TEMP]) && !(row->v[COL_TEMP] >= 25.0 && row->v[COL_TEMP] <= 45.0))
		return reader_fail(r, err, SWEEPCSV_E_BAD_TEMP, r->line, role_names[COL_TEMP],
				   "", -EINVAL);
	r->any_row = true;
	return 1;
}

/* ---------------------------------------------------------------- public */

static int reader_new(FILE *f, bool own_f, const char *name, size_t max_points,
		      struct sweepcsv **ret, struct sweepcsv_err *err)
{
	struct sweepcsv *r;
	int e;

	r = calloc(1, sizeof(*r));
	if (!r)
		return set_err(err, name, SWEEPCSV_E_IO, 0, "", "out of memory", -ENOMEM);
	r->freq_hz = calloc(3 * max_points, sizeof(double));
	if (!r->freq_hz) {
		free(r);
		return set_err(err, name, SWEEPCSV_E_IO, 0, "", "out of memory", -ENOMEM);
	}
	r->r_ohm = r->freq_hz + max_points;
	r->x_ohm = r->r_ohm + max_points;
	r->f = f;
	r->own_f = own_f;
	r->max_points = max_points;
	copy_trunc(r->name, sizeof(r->name), name);
	e = read_header(r, err);
	if (e < 0) {
		r->own_f = false;		/* the caller closes what it opened */
		sweepcsv_free(r);
		return e;
	}
	*ret = r;
	return 0;
}

int sweepcsv_open_stream(FILE *f, const char *name, size_t max_points, struct sweepcsv **ret,
			 struct sweepcsv_err *err)
{
	if (!name)
		name = "(stream)";
	if (!f || !ret || max_points == 0 || max_points > BIOZ_MAX_POINTS_LIMIT)
		return set_err(err, name, SWEEPCSV_E_IO, 0, "", "bad arguments", -EINVAL);
	return reader_new(f, false, name, max_points, ret, err);
}

int sweepcsv_open(const char *path, size_t max_points, struct sweepcsv **ret,
		  struct sweepcsv_err *err)
{
	FILE *f;
	int e;

	if (!path || !ret || max_points == 0 || max_points > BIOZ_MAX_POINTS_LIMIT)
		return set_err(err, path ? path : "(null)", SWEEPCSV_E_IO, 0, "",
			       "bad arguments", -EINVAL);
	f = fopen(path, "re");			/* 'e': O_CLOEXEC */
	if (!f) {
		e = -errno;
		return set_err(err, path, SWEEPCSV_E_IO, 0, "", strerror(-e), e);
	}
	e = reader_new(f, true, path, max_points, ret, err);
	if (e < 0)
		fclose(f);
	return e;
}

struct sweepcsv *sweepcsv_free(struct sweepcsv *r)
{
	if (r) {
		if (r->own_f && r->f)
			fclose(r->f);
		free(r->freq_hz);
		free(r);
	}
	return NULL;
}

int sweepcsv_next(struct sweepcsv *r, struct sweepcsv_sweep *ret, struct sweepcsv_err *err)
{
	struct row row;
	double temp_sum = 0.0, t_first = NAN;
	size_t n = 0, n_temp = 0;
	uint32_t id = 0;
	uint64_t first_line = 0;
	int e;

	if (!r || !ret)
		return -EINVAL;
	if (r->failed) {
		if (err)
			*err = r->failed_err;
		return r->failed;
	}
	for (;;) {
		if (r->have_pending) {
			row = r->pending;
			r->have_pending = false;
		} else if (r->at_eof) {
			break;
		} else {
			e = read_row(r, &row, err);
			if (e < 0)
				return e;
			if (e == 0) {
				r->at_eof = true;
				if (!r->any_row)
					return reader_fail(r, err, SWEEPCSV_E_NO_ROWS, r->line,
							   "", "", -EINVAL);
				break;
			}
		}
		if (n > 0 && row.sweep != id) {
			r->pending = row;
			r->have_pending = true;
			break;
		}
		if (n == 0) {
			id = row.sweep;
			first_line = row.line;
			t_first = row.v[COL_T];
		} else if (!(row.v[COL_FREQ] > r->freq_hz[n - 1])) {
			return reader_fail(r, err, SWEEPCSV_E_FREQ_ORDER, row.line,
					   role_names[COL_FREQ], "", -EINVAL);
		}
		if (n == r->max_points)
			return reader_fail(r, err, SWEEPCSV_E_TOO_MANY_POINTS, row.line, "",
					   "", -E2BIG);
		r->freq_hz[n] = row.v[COL_FREQ];
		r->r_ohm[n] = row.v[COL_R];
		r->x_ohm[n] = row.v[COL_X];
		if (isfinite(row.v[COL_TEMP])) {
			temp_sum += row.v[COL_TEMP];
			n_temp++;
		}
		n++;
	}
	if (n == 0)
		return 0;
	*ret = (struct sweepcsv_sweep){
		.sweep = id, .n = n, .freq_hz = r->freq_hz, .r_ohm = r->r_ohm,
		.x_ohm = r->x_ohm, .temp_c = n_temp ? temp_sum / (double)n_temp : NAN,
		.t_s = t_first, .first_line = first_line,
	};
	return 1;
}

/* ---------------------------------------------------------------- subject */

int sweepcsv_subject_parse(const char *src, const char *s, struct bioz_subject *ret,
			   struct sweepcsv_err *err)
{
	static const char *const keys[] = { "height_cm", "weight_kg", "sex", "age" };
	static const double lo[] = { 30.0, 1.0, 0.0, 0.0 };
	static const double hi[] = { 250.0, 400.0, 0.0, 120.0 };
	struct bioz_subject sub = { .height_cm = NAN, .weight_kg = NAN, .age_y = NAN };
	char buf[SWEEPCSV_SUBJECT_MAX + 1], *fields[8];
	bool seen[4] = { false };
	int i, k, n;

	if (!s || !ret)
		return set_err(err, src, SWEEPCSV_E_SUBJECT_MISSING, 0, "", "", -EINVAL);
	if (strlen(s) > SWEEPCSV_SUBJECT_MAX)
		return set_err(err, src, SWEEPCSV_E_SUBJECT_TOO_LONG, 0, "", "", -EINVAL);
	strcpy(buf, s);
	n = split(buf, fields, 8);
	if (n < 0)
		return set_err(err, src, SWEEPCSV_E_SUBJECT_KEY, 0, "", "too many items",
			       -EINVAL);
	for (i = 0; i < n; i++) {
		char *eq = strchr(fields[i], '='), *key, *val;
		double v;

		if (!eq)
			return set_err(err, src, SWEEPCSV_E_SUBJECT_KEY, 0, fields[i], "",
				       -EINVAL);
		*eq = '\0';
		key = trim(fields[i]);
		val = trim(eq + 1);
		for (k = 0; k < 4; k++)
			if (strcasecmp(key, keys[k]) == 0)
				break;
		if (k == 4)
			return set_err(err, src, SWEEPCSV_E_SUBJECT_KEY, 0, key, "", -EINVAL);
		if (seen[k])
			return set_err(err, src, SWEEPCSV_E_SUBJECT_DUP, 0, key, "", -EINVAL);
		seen[k] = true;
		if (k == 2) {
			if (!strcasecmp(val, "m") || !strcasecmp(val, "male"))
				sub.sex = BIOZ_SEX_MALE;
			else if (!strcasecmp(val, "f") || !strcasecmp(val, "female"))
				sub.sex = BIOZ_SEX_FEMALE;
			else
				return set_err(err, src, SWEEPCSV_E_SUBJECT_VALUE, 0, key, val,
					       -EINVAL);
			continue;
		}
		if (parse_double(val, &v) != SWEEPCSV_E_NONE)
			return set_err(err, src, SWEEPCSV_E_SUBJECT_VALUE, 0, key, val, -EINVAL);
		if (v < lo[k] || v > hi[k])
			return set_err(err, src, SWEEPCSV_E_SUBJECT_RANGE, 0, key, val, -EINVAL);
		if (k == 0)
			sub.height_cm = v;
		else if (k == 1)
			sub.weight_kg = v;
		else
			sub.age_y = v;
	}
	for (k = 0; k < 3; k++)
		if (!seen[k])
			return set_err(err, src, SWEEPCSV_E_SUBJECT_MISSING, 0, keys[k], "",
				       -EINVAL);
	*ret = sub;
	return 0;
}

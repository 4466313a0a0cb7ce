// SPDX-License-Identifier: MIT
/*
 * recording.c - read WFDB (.hea/.dat), EDF/EDF+/BDF and BioSPPy text
 * recordings into memory for --analyze, the device simulator and tests.
 *
 * Every file is hostile until checked: each header number is parsed with an
 * end-pointer check in the C locale, every size is bounded (see recording.h)
 * and every product goes through __builtin_mul_overflow before it is used to
 * allocate or index. Samples are kept as the file's integer codes (int32) or,
 * for text, as doubles, and converted to uV when read, so memory is 4 bytes a
 * sample. Errors name the file, the line or field, and what is wrong.
 * EDF is parsed here rather than with EDFlib: EDFlib keeps a global table of
 * open files, opens them without O_CLOEXEC and parses only from a path; our
 * parser works on a buffer, which also lets the fuzzer reach it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recording.h"

#define REC_MAX_LINE_TOKENS	16
#define REC_MAX_TOKEN		256	/* a WFDB file name or a number */
#define REC_EDF_MAX_RECORD_BYTES (64u << 20)	/* EDFlib's limit is 10 MB */
#define REC_MAX_ANN_TEXT	512	/* EDFLIB_MAX_ANNOTATION_LEN */
#define TEXT_MAX_COLUMNS	64	/* a text line's values (one per channel) */

struct rec_chan {
	char label[RECORDING_LABEL_MAX];
	char unit[RECORDING_UNIT_MAX];
	double rate_hz;
	uint64_t n;
	/* physical = (code - baseline) * per_count + phys_offset; uV = phys * uv_per_unit */
	double baseline;
	double per_count;
	double phys_offset;
	double uv_per_unit;	/* 0: not a voltage */
	double sat_lo, sat_hi;	/* code <= sat_lo or >= sat_hi: saturated */
	double invalid;		/* code that means "no sample" (WFDB) */
	bool has_invalid;
	uint64_t n_saturated;
	int32_t *raw;		/* binary formats; points into rec->raw_block */
	double *val;		/* text; points into rec->val_block */
};

struct recording {
	enum recording_format format;
	char format_name[32];
	size_t n_channels;
	struct rec_chan *ch;
	int32_t *raw_block;
	double *val_block;
	size_t n_ann;
	struct recording_annotation *ann;
	char *ann_text;
	double start_s;			/* EDF+: the first record's start, from its TAL */
};

/* One open call's parsing context. */
struct rec_ctx {
	struct recording_opts opts;
	struct recording_error *err;
	locale_t c_locale;
	const char *path;		/* the file being parsed */
	char dir[PATH_MAX];		/* its directory, with a trailing '/', or "" */
	const uint8_t *mem_dat;		/* fuzzing: contents of any WFDB data file */
	size_t mem_dat_len;
	bool use_mem_dat;
	char fieldbuf[80];
};

struct rec_tok {
	const char *p;
	size_t n;
};

/* ---- errors ------------------------------------------------------------- */

static int rec_fail(struct rec_ctx *c, int err, const char *path,
		    unsigned long line, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int rec_fail(struct rec_ctx *c, int err, const char *path,
		    unsigned long line, const char *field, const char *fmt, ...)
{
	struct recording_error *e = c->err;
	va_list ap;

	if (e == NULL)
		return err;
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	e->line = line;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return err;
}

static const char *rec_field(struct rec_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const char *rec_field(struct rec_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fieldbuf, sizeof(c->fieldbuf), fmt, ap);
	va_end(ap);
	return c->fieldbuf;
}

int recording_strerror(const struct recording_error *err, char *buf, size_t len)
{
	if (err == NULL)
		return snprintf(buf, len, "(no error)");
	if (err->line > 0)
		return snprintf(buf, len, "%s:%lu: %s%s%s", err->path, err->line,
				err->field, err->field[0] ? ": " : "", err->msg);
	return snprintf(buf, len, "%s: %s%s%s", err->path, err->field,
			err->field[0] ? ": " : "", err->msg);
}

/* ---- numbers and text --------------------------------------------------- */

static bool rec_is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool rec_is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Copy a token into @buf as a C string; false if it does not fit. */
static bool rec_tok_str(struct rec_tok t, char *buf, size_t size)
{
	if (t.n >= size)
		return false;
	memcpy(buf, t.p, t.n);
	buf[t.n] = '\0';
	return true;
}

/* Parse all of @s as a finite double, in the C locale whatever the process's. */
static bool rec_parse_double(const struct rec_ctx *c, const char *s, double *ret)
{
	char *end;
	double v;

	if (s[0] == '\0' || rec_is_space(s[0]))
		return false;
	errno = 0;
	v = strtod_l(s, &end, c->c_locale);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
		return false;
	*ret = v;
	return true;
}

static bool rec_parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	char *end;
	long long v;

	if (!(rec_is_digit(s[0]) || ((s[0] == '-' || s[0] == '+') && rec_is_digit(s[1]))))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

static bool rec_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!rec_is_digit(s[0]))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*ret = v;
	return true;
}

static bool rec_tok_double(const struct rec_ctx *c, struct rec_tok t, double *ret)
{
	char buf[REC_MAX_TOKEN];

	return rec_tok_str(t, buf, sizeof(buf)) && rec_parse_double(c, buf, ret);
}

static bool rec_tok_i64(struct rec_tok t, int64_t min, int64_t max, int64_t *ret)
{
	char buf[REC_MAX_TOKEN];

	return rec_tok_str(t, buf, sizeof(buf)) && rec_parse_i64(buf, min, max, ret);
}

static bool rec_tok_u64(struct rec_tok t, uint64_t max, uint64_t *ret)
{
	char buf[REC_MAX_TOKEN];

	return rec_tok_str(t, buf, sizeof(buf)) && rec_parse_u64(buf, max, ret);
}

/* Split on blanks; returns the token count (at most @max). */
static size_t rec_split(const char *s, size_t len, struct rec_tok *tok, size_t max)
{
	size_t i = 0, n = 0;

	while (n < max) {
		while (i < len && rec_is_space(s[i]))
			i++;
		if (i >= len)
			break;
		tok[n].p = s + i;
		while (i < len && !rec_is_space(s[i]))
			i++;
		tok[n].n = (size_t)(s + i - tok[n].p);
		n++;
	}
	return n;
}

/* Copy a label, replacing control and non-ASCII bytes, trimming blanks. */
static void rec_copy_label(char *dst, size_t size, const char *src, size_t n)
{
	size_t i, o = 0;

	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
		n--;
	while (n > 0 && src[0] == ' ') {
		src++;
		n--;
	}
	for (i = 0; i < n && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	dst[o] = '\0';
}

static bool rec_ascii_eq_nocase(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		int x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return *a == *b;
}

/*
 * Microvolts per unit for a voltage unit, 0 for anything else. Case is
 * ignored ("mv" appears in a PhysioNet emgdb header); nobody records EMG in
 * megavolts. Micro may be 'u', UTF-8 U+00B5 or U+03BC, or Latin-1 0xB5 (EDF).
 */
static double rec_unit_to_uv(const char *u)
{
	if (rec_ascii_eq_nocase(u, "uV") || strcmp(u, "\xc2\xb5V") == 0 ||
	    strcmp(u, "\xce\xbcV") == 0 || strcmp(u, "\xb5V") == 0)
		return 1.0;
	if (rec_ascii_eq_nocase(u, "mV"))
		return 1e3;
	if (rec_ascii_eq_nocase(u, "V"))
		return 1e6;
	if (rec_ascii_eq_nocase(u, "nV"))
		return 1e-3;
	return 0.0;
}

/* ---- files -------------------------------------------------------------- */

/*
 * Read all of @path into a new NUL-terminated buffer (the NUL is not counted).
 * Refuses anything but a regular file and anything over @max bytes.
 */
static int rec_read_file(struct rec_ctx *c, const char *path, uint64_t max,
			 uint8_t **ret_buf, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t size, got = 0;
	char ebuf[128];
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		return rec_fail(c, err, path, 0, "", "cannot open: %s",
				strerror_r(-err, ebuf, sizeof(ebuf)));
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		rec_fail(c, err, path, 0, "", "cannot stat: %s",
			 strerror_r(-err, ebuf, sizeof(ebuf)));
		goto fail_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = rec_fail(c, -EINVAL, path, 0, "", "not a regular file");
		goto fail_close;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max ||
	    (uint64_t)st.st_size >= SIZE_MAX) {
		err = rec_fail(c, -EFBIG, path, 0, "",
			       "file of %lld bytes is over the %llu-byte limit",
			       (long long)st.st_size, (unsigned long long)max);
		goto fail_close;
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (buf == NULL) {
		err = rec_fail(c, -ENOMEM, path, 0, "", "out of memory");
		goto fail_close;
	}
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			rec_fail(c, err, path, 0, "", "read error: %s",
				 strerror_r(-err, ebuf, sizeof(ebuf)));
			goto fail_free;
		}
		if (r == 0)
			break;	/* shrank since fstat: parse what is there */
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	*ret_buf = buf;
	*ret_len = got;
	return 0;
fail_free:
	free(buf);
fail_close:
	close(fd);
	return err;
}

static int rec_alloc(struct rec_ctx *c, const char *path, size_t n_channels,
		     struct recording **ret)
{
	struct recording *rec;

	rec = calloc(1, sizeof(*rec));
	if (rec == NULL)
		return rec_fail(c, -ENOMEM, path, 0, "", "out of memory");
	if (n_channels > 0) {
		rec->ch = calloc(n_channels, sizeof(*rec->ch));
		if (rec->ch == NULL) {
			free(rec);
			return rec_fail(c, -ENOMEM, path, 0, "", "out of memory");
		}
	}
	rec->n_channels = n_channels;
	*ret = rec;
	return 0;
}

/* Allocate @total samples of @elem bytes, within the memory cap. */
static int rec_alloc_samples(struct rec_ctx *c, const char *path,
			     uint64_t total, size_t elem, void **ret)
{
	uint64_t bytes;
	void *p;

	if (__builtin_mul_overflow(total, (uint64_t)elem, &bytes) ||
	    bytes > c->opts.max_bytes || bytes >= SIZE_MAX)
		return rec_fail(c, -EFBIG, path, 0, "",
				"%llu samples are over the %llu-byte memory limit",
				(unsigned long long)total,
				(unsigned long long)c->opts.max_bytes);
	p = malloc(bytes > 0 ? (size_t)bytes : 1);
	if (p == NULL)
		return rec_fail(c, -ENOMEM, path, 0, "", "out of memory");
	*ret = p;
	return 0;
}

/* Count saturated codes once, so callers can report them without a scan. */
static void rec_count_saturated(struct rec_chan *ch)
{
	uint64_t i, n = 0;

	for (i = 0; i < ch->n; i++) {
		double v = ch->raw ? (double)ch->raw[i] : ch->val[i];

		if (ch->has_invalid && v == ch->invalid)
			continue;
		if (v <= ch->sat_lo || v >= ch->sat_hi)
			n++;
	}
	ch->n_saturated = n;
}

/* ---- WFDB --------------------------------------------------------------- */

struct wfdb_sig {
	char file[REC_MAX_TOKEN];
	unsigned long line;
	int fmt;
	uint64_t byte_offset;
	double gain;
	int64_t baseline, adczero;
	int adcres;
	bool has_cksum;
	int64_t cksum;
	char units[RECORDING_UNIT_MAX];
	char desc[RECORDING_LABEL_MAX];
	size_t group;		/* index of the data file */
	size_t pos;		/* position within that file's frame */
};

struct wfdb_line {
	char *p;
	size_t n;
	unsigned long no;
};

/* Next line that is neither blank nor a comment. */
static bool wfdb_next_line(char *buf, size_t len, size_t *pos, unsigned long *lineno,
			   struct wfdb_line *ret)
{
	while (*pos < len) {
		char *s = buf + *pos, *nl = memchr(s, '\n', len - *pos);
		size_t n = nl ? (size_t)(nl - s) : len - *pos, i = 0;

		*pos += n + (nl ? 1 : 0);
		(*lineno)++;
		while (i < n && rec_is_space(s[i]))
			i++;
		if (i == n || s[i] == '#')
			continue;
		while (n > i && rec_is_space(s[n - 1]))
			n--;
		ret->p = s;
		ret->n = n;
		ret->no = *lineno;
		return true;
	}
	return false;
}

/* Bits per sample code, the "invalid sample" code and the code range. */
static bool wfdb_format_info(int fmt, int *ret_bits, int64_t *ret_min, int64_t *ret_max)
{
	switch (fmt) {
	case 16:
	case 61:
		*ret_bits = 16;
		break;
	case 80:
		*ret_bits = 8;
		break;
	case 212:
		*ret_bits = 12;
		break;
	case 24:
		*ret_bits = 24;
		break;
	case 32:
		*ret_bits = 32;
		break;
	default:
		return false;
	}
	*ret_min = -(INT64_C(1) << (*ret_bits - 1));
	*ret_max = (INT64_C(1) << (*ret_bits - 1)) - 1;
	return true;
}

/* Bytes that hold @n sample codes of format @fmt. */
static bool wfdb_bytes_for(int fmt, uint64_t n, uint64_t *ret)
{
	uint64_t per;

	if (fmt == 212) {
		if (__builtin_mul_overflow(n / 2, (uint64_t)3, ret))
			return false;
		*ret += (n % 2) ? 2 : 0;
		return true;
	}
	per = fmt == 80 ? 1 : fmt == 24 ? 3 : fmt == 32 ? 4 : 2;
	return !__builtin_mul_overflow(n, per, ret);
}

/* Codes held completely in @bytes bytes. */
static uint64_t wfdb_codes_in(int fmt, uint64_t bytes)
{
	if (fmt == 212)
		return bytes / 3 * 2 + (bytes % 3 >= 2 ? 1 : 0);
	return bytes / (fmt == 80 ? 1 : fmt == 24 ? 3 : fmt == 32 ? 4 : 2);
}

/* The @i-th code of a stream of format @fmt (bytes already bounds-checked). */
static int32_t wfdb_code(const uint8_t *d, int fmt, uint64_t i)
{
	const uint8_t *p;
	uint32_t u;

	switch (fmt) {
	case 16:
		p = d + 2 * i;
		return (int16_t)(uint16_t)(p[0] | (uint16_t)p[1] << 8);
	case 61:
		p = d + 2 * i;
		return (int16_t)(uint16_t)(p[1] | (uint16_t)p[0] << 8);
	case 80:
		return (int32_t)d[i] - 128;
	case 24:
		p = d + 3 * i;
		u = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
		return (int32_t)(u ^ 0x800000u) - 0x800000;
	case 32:
		p = d + 4 * i;
		u = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		return (int32_t)u;
	default: /* 212: two 12-bit codes in three bytes, low nibbles first */
		p = d + 3 * (i / 2);
		if (i % 2 == 0)
			u = p[0] | (uint32_t)(p[1] & 0x0f) << 8;
		else
			u = p[2] | (uint32_t)(p[1] & 0xf0) << 4;
		return (int32_t)(u ^ 0x800u) - 0x800;
	}
}

/* "212", "16+512", "16x1", "16:0" */
static int wfdb_parse_format(struct rec_ctx *c, const struct wfdb_sig *s,
			     size_t idx, struct rec_tok t, int *ret_fmt,
			     uint64_t *ret_offset)
{
	const char *f = rec_field(c, "signal %zu format", idx);
	char buf[REC_MAX_TOKEN], *p, *end;
	unsigned long fmt;
	uint64_t offset = 0;

	if (!rec_tok_str(t, buf, sizeof(buf)) || !rec_is_digit(buf[0]))
		return rec_fail(c, -EBADMSG, c->path, s->line, f,
				"'%.*s' is not a WFDB format", (int)t.n, t.p);
	errno = 0;
	fmt = strtoul(buf, &end, 10);
	if (errno != 0 || fmt > 10000)
		return rec_fail(c, -EBADMSG, c->path, s->line, f, "bad format '%s'", buf);
	p = end;
	while (*p) {
		char kind = *p++;
		unsigned long long v;

		if (!rec_is_digit(*p))
			return rec_fail(c, -EBADMSG, c->path, s->line, f,
					"bad format suffix in '%s'", buf);
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno != 0)
			return rec_fail(c, -EBADMSG, c->path, s->line, f,
					"number out of range in '%s'", buf);
		p = end;
		if (kind == 'x' && v != 1)
			return rec_fail(c, -ENOTSUP, c->path, s->line, f,
					"%llu samples per frame: not supported", v);
		else if (kind == ':' && v != 0)
			return rec_fail(c, -ENOTSUP, c->path, s->line, f,
					"skew %llu: not supported", v);
		else if (kind == '+')
			offset = v;
		else if (kind != 'x' && kind != ':')
			return rec_fail(c, -EBADMSG, c->path, s->line, f,
					"bad format suffix '%c' in '%s'", kind, buf);
	}
	*ret_fmt = (int)fmt;
	*ret_offset = offset;
	return 0;
}

/* "gain[(baseline)][/units]" */
static int wfdb_parse_gain(struct rec_ctx *c, struct wfdb_sig *s, size_t idx,
			   struct rec_tok t, bool *ret_has_baseline)
{
	const char *f = rec_field(c, "signal %zu gain", idx);
	char buf[REC_MAX_TOKEN], *slash, *paren;
	double g;

	if (!rec_tok_str(t, buf, sizeof(buf)))
		return rec_fail(c, -EBADMSG, c->path, s->line, f, "field too long");
	slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash++ = '\0';
		if (slash[0] == '\0' || strlen(slash) >= sizeof(s->units))
			return rec_fail(c, -EBADMSG, c->path, s->line,
					rec_field(c, "signal %zu units", idx),
					"empty or over %zu characters",
					sizeof(s->units) - 1);
		rec_copy_label(s->units, sizeof(s->units), slash, strlen(slash));
	}
	*ret_has_baseline = false;
	paren = strchr(buf, '(');
	if (paren != NULL) {
		size_t n = strlen(paren);

		if (n < 3 || paren[n - 1] != ')')
			return rec_fail(c, -EBADMSG, c->path, s->line,
					rec_field(c, "signal %zu baseline", idx),
					"expected '(integer)'");
		paren[n - 1] = '\0';
		*paren++ = '\0';
		if (!rec_parse_i64(paren, INT32_MIN, INT32_MAX, &s->baseline))
			return rec_fail(c, -EBADMSG, c->path, s->line,
					rec_field(c, "signal %zu baseline", idx),
					"'%s' is not a 32-bit integer", paren);
		*ret_has_baseline = true;
	}
	if (!rec_parse_double(c, buf, &g))
		return rec_fail(c, -EBADMSG, c->path, s->line, f,
				"'%s' is not a number", buf);
	if (g == 0.0)
		g = 200.0;	/* WFDB: missing or zero gain means 200 */
	if (fabs(g) < 1e-9 || fabs(g) > 1e12)
		return rec_fail(c, -EBADMSG, c->path, s->line, f,
				"gain %g is absurd", g);
	s->gain = g;
	return 0;
}

static int wfdb_parse_signal(struct rec_ctx *c, const struct wfdb_line *l,
			     size_t idx, struct wfdb_sig *s)
{
	struct rec_tok t[REC_MAX_LINE_TOKENS];
	bool has_baseline = false;
	int64_t v;
	size_t n;
	int bits, err;
	int64_t fmin, fmax;

	n = rec_split(l->p, l->n, t, REC_MAX_LINE_TOKENS);
	s->line = l->no;
	if (n < 2)
		return rec_fail(c, -EBADMSG, c->path, l->no, rec_field(c, "signal %zu", idx),
				"expected 'file format [gain ...]'");
	if (!rec_tok_str(t[0], s->file, sizeof(s->file)))
		return rec_fail(c, -EBADMSG, c->path, l->no,
				rec_field(c, "signal %zu file", idx), "name too long");
	if (strchr(s->file, '/') != NULL || strcmp(s->file, "-") == 0 ||
	    strcmp(s->file, "..") == 0 || strcmp(s->file, ".") == 0)
		return rec_fail(c, -EBADMSG, c->path, l->no,
				rec_field(c, "signal %zu file", idx),
				"'%s': the data file must be a plain name next to the header",
				s->file);
	if (strcmp(s->file, "~") == 0)
		return rec_fail(c, -ENOTSUP, c->path, l->no,
				rec_field(c, "signal %zu file", idx),
				"null signal file '~' is not supported");
	err = wfdb_parse_format(c, s, idx, t[1], &s->fmt, &s->byte_offset);
	if (err < 0)
		return err;
	if (!wfdb_format_info(s->fmt, &bits, &fmin, &fmax))
		return rec_fail(c, -ENOTSUP, c->path, l->no,
				rec_field(c, "signal %zu format", idx),
				"format %d is not supported (16, 61, 80, 212, 24, 32 are)",
				s->fmt);
	s->gain = 200.0;
	snprintf(s->units, sizeof(s->units), "mV");
	s->adcres = 0;
	s->adczero = 0;
	if (n > 2) {
		err = wfdb_parse_gain(c, s, idx, t[2], &has_baseline);
		if (err < 0)
			return err;
	}
	if (n > 3) {
		if (!rec_tok_i64(t[3], 0, 32, &v))
			return rec_fail(c, -EBADMSG, c->path, l->no,
					rec_field(c, "signal %zu adc resolution", idx),
					"'%.*s' is not 0..32", (int)t[3].n, t[3].p);
		s->adcres = (int)v;
	}
	if (n > 4 && !rec_tok_i64(t[4], INT32_MIN, INT32_MAX, &s->adczero))
		return rec_fail(c, -EBADMSG, c->path, l->no,
				rec_field(c, "signal %zu adc zero", idx),
				"'%.*s' is not a 32-bit integer", (int)t[4].n, t[4].p);
	if (n > 5 && !rec_tok_i64(t[5], INT32_MIN, INT32_MAX, &v))
		return rec_fail(c, -EBADMSG, c->path, l->no,
				rec_field(c, "signal %zu initial value", idx),
				"'%.*s' is not a 32-bit integer", (int)t[5].n, t[5].p);
	if (n > 6) {
		if (!rec_tok_i64(t[6], -32768, 65535, &s->cksum))
			return rec_fail(c, -EBADMSG, c->path, l->no,
					rec_field(c, "signal %zu checksum", idx),
					"'%.*s' is not a 16-bit integer", (int)t[6].n, t[6].p);
		s->has_cksum = true;
	}
	if (n > 7 && !rec_tok_i64(t[7], 0, INT32_MAX, &v))
		return rec_fail(c, -EBADMSG, c->path, l->no,
				rec_field(c, "signal %zu block size", idx),
				"'%.*s' is not a block size", (int)t[7].n, t[7].p);
	if (!has_baseline)
		s->baseline = s->adczero;
	if (n > 8)
		rec_copy_label(s->desc, sizeof(s->desc), t[8].p,
			       (size_t)(l->p + l->n - t[8].p));
	else
		snprintf(s->desc, sizeof(s->desc), "signal %zu", idx);
	return 0;
}

static int wfdb_parse_record_line(struct rec_ctx *c, const struct wfdb_line *l,
				  uint64_t *ret_nsig, double *ret_fs,
				  uint64_t *ret_nsamp)
{
	struct rec_tok t[REC_MAX_LINE_TOKENS];
	char buf[REC_MAX_TOKEN], *slash;
	size_t n;

	n = rec_split(l->p, l->n, t, REC_MAX_LINE_TOKENS);
	if (n < 2)
		return rec_fail(c, -EBADMSG, c->path, l->no, "record line",
				"expected 'name nsig [fs [nsamp]]'");
	if (memchr(t[0].p, '/', t[0].n) != NULL)
		return rec_fail(c, -ENOTSUP, c->path, l->no, "record name",
				"multi-segment records are not supported");
	if (!rec_tok_u64(t[1], UINT32_MAX, ret_nsig))
		return rec_fail(c, -EBADMSG, c->path, l->no, "number of signals",
				"'%.*s' is not a count", (int)t[1].n, t[1].p);
	if (*ret_nsig > RECORDING_MAX_CHANNELS)
		return rec_fail(c, -EFBIG, c->path, l->no, "number of signals",
				"%llu signals: over the limit of %d",
				(unsigned long long)*ret_nsig, RECORDING_MAX_CHANNELS);
	*ret_fs = 250.0;	/* WFDB default */
	if (n > 2) {
		if (!rec_tok_str(t[2], buf, sizeof(buf)))
			return rec_fail(c, -EBADMSG, c->path, l->no,
					"sampling frequency", "field too long");
		slash = strchr(buf, '/');	/* "fs/counterfreq(base)" */
		if (slash != NULL)
			*slash = '\0';
		if (!rec_parse_double(c, buf, ret_fs))
			return rec_fail(c, -EBADMSG, c->path, l->no,
					"sampling frequency", "'%s' is not a number", buf);
		if (!(*ret_fs >= RECORDING_MIN_RATE_HZ && *ret_fs <= RECORDING_MAX_RATE_HZ))
			return rec_fail(c, -EBADMSG, c->path, l->no,
					"sampling frequency",
					"%g Hz is outside %g..%g Hz", *ret_fs,
					RECORDING_MIN_RATE_HZ, RECORDING_MAX_RATE_HZ);
	}
	*ret_nsamp = 0;
	if (n > 3 && !rec_tok_u64(t[3], UINT64_MAX, ret_nsamp))
		return rec_fail(c, -EBADMSG, c->path, l->no, "number of samples",
				"'%.*s' is not a count", (int)t[3].n, t[3].p);
	return 0;
}

/* Load a data file named in the header, from the header's directory. */
static int wfdb_load_dat(struct rec_ctx *c, const char *name, char *path,
			 size_t path_size, uint8_t **ret_owned,
			 const uint8_t **ret_data, size_t *ret_len)
{
	int n, err;

	n = snprintf(path, path_size, "%s%s", c->dir, name);
	if (n < 0 || (size_t)n >= path_size)
		return rec_fail(c, -ENAMETOOLONG, c->path, 0, "", "data file path too long");
	if (c->use_mem_dat) {
		*ret_owned = NULL;
		*ret_data = c->mem_dat;
		*ret_len = c->mem_dat_len;
		return 0;
	}
	err = rec_read_file(c, path, c->opts.max_bytes, ret_owned, ret_len);
	if (err < 0)
		return err;
	*ret_data = *ret_owned;
	return 0;
}

struct wfdb_group {
	const char *file;
	int fmt;
	uint64_t byte_offset;
	size_t n_sig;
	uint8_t *owned;
	const uint8_t *data;
	size_t len;
	char path[PATH_MAX];
};

/* Decode one data file's interleaved frames into its signals' channels. */
static int wfdb_decode_group(struct rec_ctx *c, struct recording *rec,
			     const struct wfdb_sig *sig, size_t nsig,
			     const struct wfdb_group *g, size_t gi,
			     uint64_t n_frames)
{
	const uint8_t *d = g->data + g->byte_offset;
	uint64_t f;
	size_t i;

	for (i = 0; i < nsig; i++) {
		const struct wfdb_sig *s = &sig[i];
		struct rec_chan *ch = &rec->ch[i];
		uint16_t sum = 0;

		if (s->group != gi)
			continue;
		for (f = 0; f < n_frames; f++) {
			int32_t v = wfdb_code(d, g->fmt, f * g->n_sig + s->pos);

			ch->raw[f] = v;
			sum = (uint16_t)(sum + (uint16_t)v);
		}
		/* WFDB checksums cover exactly the header's nsamp samples */
		if (s->has_cksum && !(c->opts.flags & RECORDING_OPT_IGNORE_CHECKSUM) &&
		    sum != (uint16_t)s->cksum)
			return rec_fail(c, -EBADMSG, g->path, 0,
					rec_field(c, "signal %zu checksum", i),
					"samples sum to %d, header (line %lu) says %d",
					(int16_t)sum, s->line, (int16_t)(uint16_t)s->cksum);
	}
	return 0;
}

static void wfdb_setup_channel(struct rec_chan *ch, const struct wfdb_sig *s,
			       double fs, uint64_t n_frames)
{
	int bits;
	int64_t fmin, fmax, lo, hi;
	int res;

	wfdb_format_info(s->fmt, &bits, &fmin, &fmax);
	res = s->adcres > 0 ? s->adcres : bits;
	/* the ADC range, clipped to the codes the format can hold */
	lo = s->adczero - (INT64_C(1) << (res - 1));
	hi = s->adczero + (INT64_C(1) << (res - 1)) - 1;
	ch->sat_lo = (double)(lo > fmin + 1 ? lo : fmin + 1);
	ch->sat_hi = (double)(hi < fmax ? hi : fmax);
	ch->invalid = (double)fmin;	/* WFDB_INVALID_SAMPLE for the format */
	ch->has_invalid = true;
	snprintf(ch->label, sizeof(ch->label), "%s", s->desc);
	snprintf(ch->unit, sizeof(ch->unit), "%s", s->units);
	ch->rate_hz = fs;
	ch->n = n_frames;
	ch->baseline = (double)s->baseline;
	ch->per_count = 1.0 / s->gain;
	ch->phys_offset = 0.0;
	ch->uv_per_unit = rec_unit_to_uv(s->units);
}

/* Frames available in one data file, checked against the header's nsamp. */
static int wfdb_group_frames(struct rec_ctx *c, const struct wfdb_group *g,
			     const struct wfdb_sig *first, uint64_t nsamp,
			     uint64_t *ret)
{
	uint64_t avail, need, total;

	if (g->byte_offset > g->len)
		return rec_fail(c, -EBADMSG, g->path, 0, "",
				"byte offset %llu (header line %lu) is past the end (%zu bytes)",
				(unsigned long long)g->byte_offset, first->line, g->len);
	avail = g->len - g->byte_offset;
	if (nsamp > 0) {
		if (__builtin_mul_overflow(nsamp, (uint64_t)g->n_sig, &total) ||
		    !wfdb_bytes_for(g->fmt, total, &need))
			return rec_fail(c, -EFBIG, c->path, 0, "number of samples",
					"%llu samples x %zu signals is impossibly large",
					(unsigned long long)nsamp, g->n_sig);
		if (need > avail)
			return rec_fail(c, -EBADMSG, g->path, 0, "",
					"truncated: the header says %llu samples a signal "
					"(%llu bytes), the file has %llu",
					(unsigned long long)nsamp,
					(unsigned long long)need,
					(unsigned long long)avail);
		*ret = nsamp;
		return 0;
	}
	total = wfdb_codes_in(g->fmt, avail);
	/* a 212 file may end in half a pair of padding; others end on a frame */
	if (g->fmt != 212 && total % g->n_sig != 0)
		return rec_fail(c, -EBADMSG, g->path, 0, "",
				"%llu bytes do not hold whole frames of %zu signals",
				(unsigned long long)avail, g->n_sig);
	if (!wfdb_bytes_for(g->fmt, total, &need) ||
	    (g->fmt != 212 && need != avail))
		return rec_fail(c, -EBADMSG, g->path, 0, "",
				"%llu bytes are not a whole number of samples",
				(unsigned long long)avail);
	*ret = total / g->n_sig;
	return 0;
}

static int wfdb_parse(struct rec_ctx *c, char *buf, size_t len, struct recording **ret)
{
	struct wfdb_sig *sig = NULL;
	struct wfdb_group *grp = NULL;
	struct recording *rec = NULL;
	struct wfdb_line l;
	uint64_t nsig, nsamp, n_frames = 0, total;
	size_t pos = 0, i, j, n_grp = 0;
	unsigned long lineno = 0;
	double fs;
	int err;

	if (memchr(buf, '\0', len) != NULL)
		return rec_fail(c, -EBADMSG, c->path, 0, "", "header contains NUL bytes");
	if (len > RECORDING_MAX_HEADER_BYTES)
		return rec_fail(c, -EFBIG, c->path, 0, "", "header over %u bytes",
				RECORDING_MAX_HEADER_BYTES);
	if (!wfdb_next_line(buf, len, &pos, &lineno, &l))
		return rec_fail(c, -EBADMSG, c->path, lineno, "record line",
				"header has no record line");
	err = wfdb_parse_record_line(c, &l, &nsig, &fs, &nsamp);
	if (err < 0)
		return err;
	if (nsig > 0) {
		sig = calloc(nsig, sizeof(*sig));
		grp = calloc(nsig, sizeof(*grp));
		if (sig == NULL || grp == NULL) {
			err = rec_fail(c, -ENOMEM, c->path, 0, "", "out of memory");
			goto out;
		}
	}
	for (i = 0; i < nsig; i++) {
		if (!wfdb_next_line(buf, len, &pos, &lineno, &l)) {
			err = rec_fail(c, -EBADMSG, c->path, lineno, "signal lines",
				       "header ends after %zu of %llu signal lines",
				       i, (unsigned long long)nsig);
			goto out;
		}
		err = wfdb_parse_signal(c, &l, i, &sig[i]);
		if (err < 0)
			goto out;
		for (j = 0; j < n_grp; j++)
			if (strcmp(grp[j].file, sig[i].file) == 0)
				break;
		if (j == n_grp) {
			grp[j].file = sig[i].file;
			grp[j].fmt = sig[i].fmt;
			grp[j].byte_offset = sig[i].byte_offset;
			n_grp++;
		} else if (grp[j].fmt != sig[i].fmt ||
			   grp[j].byte_offset != sig[i].byte_offset) {
			err = rec_fail(c, -EBADMSG, c->path, l.no,
				       rec_field(c, "signal %zu format", i),
				       "signals in %s must share one format and byte offset",
				       sig[i].file);
			goto out;
		}
		sig[i].group = j;
		sig[i].pos = grp[j].n_sig++;
	}

	for (j = 0; j < n_grp; j++) {
		uint64_t fr = 0;

		err = wfdb_load_dat(c, grp[j].file, grp[j].path, sizeof(grp[j].path),
				    &grp[j].owned, &grp[j].data, &grp[j].len);
		if (err < 0)
			goto out;
		for (i = 0; sig[i].group != j; i++)
			;
		err = wfdb_group_frames(c, &grp[j], &sig[i], nsamp, &fr);
		if (err < 0)
			goto out;
		if (j > 0 && fr != n_frames) {
			err = rec_fail(c, -EBADMSG, grp[j].path, 0, "",
				       "holds %llu frames, %s holds %llu",
				       (unsigned long long)fr, grp[0].path,
				       (unsigned long long)n_frames);
			goto out;
		}
		n_frames = fr;
	}

	err = rec_alloc(c, c->path, nsig, &rec);
	if (err < 0)
		goto out;
	rec->format = RECORDING_FORMAT_WFDB;
	if (nsig > 0)
		snprintf(rec->format_name, sizeof(rec->format_name), "WFDB format %d",
			 sig[0].fmt);
	else
		snprintf(rec->format_name, sizeof(rec->format_name), "WFDB");
	if (__builtin_mul_overflow(n_frames, nsig, &total)) {
		err = rec_fail(c, -EFBIG, c->path, 0, "", "too many samples");
		goto out;
	}
	err = rec_alloc_samples(c, c->path, total, sizeof(int32_t), (void **)&rec->raw_block);
	if (err < 0)
		goto out;
	for (i = 0; i < nsig; i++) {
		rec->ch[i].raw = rec->raw_block + i * n_frames;
		wfdb_setup_channel(&rec->ch[i], &sig[i], fs, n_frames);
	}
	for (j = 0; j < n_grp; j++) {
		err = wfdb_decode_group(c, rec, sig, nsig, &grp[j], j, n_frames);
		if (err < 0)
			goto out;
	}
	for (i = 0; i < nsig; i++)
		rec_count_saturated(&rec->ch[i]);
	*ret = rec;
	rec = NULL;
	err = 0;
out:
	for (j = 0; j < n_grp; j++)
		free(grp[j].owned);
	free(grp);
	free(sig);
	recording_free(rec);
	return err;
}

/* ---- EDF / EDF+ / BDF --------------------------------------------------- */

struct edf_sig {
	char label[17];
	char dim[9];
	double pmin, pmax;
	int64_t dmin, dmax;
	uint64_t spr;		/* samples per data record */
	uint64_t rec_off;	/* byte offset within a data record */
	bool annot;
};

/* Field @idx (width @w) of a block of @ns fields that starts at @base. */
static const char *edf_field(const uint8_t *hdr, size_t base, size_t w, size_t idx,
			     char *buf)
{
	memcpy(buf, hdr + base + idx * w, w);
	buf[w] = '\0';
	return buf;
}

/* Fixed-width numeric field: trim blanks, then all of it must parse. */
static bool edf_num(const struct rec_ctx *c, const char *field, double *ret)
{
	char buf[96];
	size_t n = strlen(field);

	while (n > 0 && field[n - 1] == ' ')
		n--;
	while (n > 0 && field[0] == ' ') {
		field++;
		n--;
	}
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, field, n);
	buf[n] = '\0';
	return rec_parse_double(c, buf, ret);
}

static bool edf_int(const char *field, int64_t min, int64_t max, int64_t *ret)
{
	char buf[96];
	size_t n = strlen(field);

	while (n > 0 && field[n - 1] == ' ')
		n--;
	while (n > 0 && field[0] == ' ') {
		field++;
		n--;
	}
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, field, n);
	buf[n] = '\0';
	return rec_parse_i64(buf, min, max, ret);
}

struct edf_ann_buf {
	struct recording_annotation *a;	/* .text holds an offset until the end */
	size_t n, cap;
	char *text;
	size_t text_len, text_cap;
};

static int edf_ann_push(struct rec_ctx *c, struct edf_ann_buf *b, double onset,
			double dur, const char *text, size_t n)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		void *p;

		if (b->n >= RECORDING_MAX_ANNOTATIONS)
			return rec_fail(c, -EFBIG, c->path, 0, "annotations",
					"more than %u annotations", RECORDING_MAX_ANNOTATIONS);
		p = reallocarray(b->a, cap, sizeof(*b->a));
		if (p == NULL)
			return rec_fail(c, -ENOMEM, c->path, 0, "", "out of memory");
		b->a = p;
		b->cap = cap;
	}
	if (b->text_len + n + 1 > b->text_cap) {
		size_t cap = b->text_cap ? b->text_cap : 1024;
		void *p;

		while (cap < b->text_len + n + 1)
			cap *= 2;
		if (cap > c->opts.max_bytes)
			return rec_fail(c, -EFBIG, c->path, 0, "annotations",
					"annotation text over the memory limit");
		p = realloc(b->text, cap);
		if (p == NULL)
			return rec_fail(c, -ENOMEM, c->path, 0, "", "out of memory");
		b->text = p;
		b->text_cap = cap;
	}
	memcpy(b->text + b->text_len, text, n);
	b->text[b->text_len + n] = '\0';
	b->a[b->n].onset_s = onset;
	b->a[b->n].duration_s = dur;
	b->a[b->n].text = (const char *)(uintptr_t)b->text_len;
	b->text_len += n + 1;
	b->n++;
	return 0;
}

/* "+12.5" or "-0.25"; @s is not NUL-terminated */
static bool edf_tal_number(const struct rec_ctx *c, const uint8_t *s, size_t n,
			   bool sign, double *ret)
{
	char buf[40];
	size_t i = 0;
	bool dot = false;

	if (n == 0 || n >= sizeof(buf))
		return false;
	if (sign) {
		if (s[0] != '+' && s[0] != '-')
			return false;
		i = 1;
	}
	if (i >= n || !rec_is_digit(s[i]))
		return false;
	for (; i < n; i++) {
		if (s[i] == '.' && !dot)
			dot = true;
		else if (!rec_is_digit(s[i]))
			return false;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return rec_parse_double(c, buf, ret);
}

/*
 * Parse the Time-stamped Annotation Lists of one data record's annotation
 * signal: "+onset[\x15duration]\x14[text\x14]...\0", repeated, then \0 fill.
 */
static int edf_parse_tals(struct rec_ctx *c, struct edf_ann_buf *b,
			  const uint8_t *d, size_t n, uint64_t record, double *ret_start)
{
	const char *f = rec_field(c, "annotations in data record %llu",
				  (unsigned long long)record);
	size_t pos = 0;

	while (pos < n && d[pos] != 0) {
		const uint8_t *tal = d + pos, *end = memchr(tal, 0, n - pos);
		const uint8_t *p, *q, *sep;
		double onset, dur = -1.0;

		if (end == NULL)
			return rec_fail(c, -EBADMSG, c->path, 0, f,
					"TAL at byte %zu is not NUL-terminated", pos);
		sep = memchr(tal, 0x14, (size_t)(end - tal));
		if (sep == NULL)
			return rec_fail(c, -EBADMSG, c->path, 0, f,
					"TAL at byte %zu has no onset terminator", pos);
		q = memchr(tal, 0x15, (size_t)(sep - tal));
		if (!edf_tal_number(c, tal, (size_t)((q ? q : sep) - tal), true, &onset) ||
		    (q != NULL && !edf_tal_number(c, q + 1, (size_t)(sep - q - 1),
						  false, &dur)))
			return rec_fail(c, -EBADMSG, c->path, 0, f,
					"TAL at byte %zu has a bad onset or duration", pos);
		/* the first TAL is the record's time-keeping one: its start */
		if (pos == 0 && ret_start != NULL)
			*ret_start = onset;
		/* texts, each ended by 0x14; empty ones are time-keeping */
		for (p = sep + 1; p < end;) {
			const uint8_t *t_end = memchr(p, 0x14, (size_t)(end - p));
			size_t tn;
			int err;

			if (t_end == NULL)
				return rec_fail(c, -EBADMSG, c->path, 0, f,
						"TAL at byte %zu: text not terminated by 0x14",
						pos);
			tn = (size_t)(t_end - p);
			if (tn > 0) {
				err = edf_ann_push(c, b, onset, dur, (const char *)p,
						   tn > REC_MAX_ANN_TEXT ? REC_MAX_ANN_TEXT : tn);
				if (err < 0)
					return err;
			}
			p = t_end + 1;
		}
		pos = (size_t)(end - d) + 1;
	}
	return 0;
}

/*
 * Record @r of an EDF+C file starts at @t s (its time-keeping TAL, NaN if it
 * has none). The first gives the recording's start after the header's start
 * time (often a fraction of a second): every time --analyze prints follows
 * it, as the annotations' onsets do. The others must follow on, @dur apart:
 * "EDF+C" promises it, and a file that breaks it has gaps that would
 * otherwise be read as continuous time.
 */
static int edf_record_start(struct rec_ctx *c, struct recording *rec, uint64_t r, double t,
			    double dur)
{
	double want;

	if (r == 0) {
		rec->start_s = isfinite(t) ? t : 0.0;
		return 0;
	}
	if (!(dur > 0.0))
		return 0;	/* annotation-only records (duration 0): no time line */
	want = rec->start_s + (double)r * dur;
	if (!isfinite(t) || fabs(t - want) > 1e-6 + 1e-9 * fabs(want))
		return rec_fail(c, -ENOTSUP, c->path, 0, "annotations",
				"data record %llu starts at %.7g s, not %.7g s: the file is not "
				"continuous though its header says EDF+C (discontinuous files are "
				"not supported)", (unsigned long long)r, t, want);
	return 0;
}

static int edf_parse_signal_headers(struct rec_ctx *c, const uint8_t *buf,
				    size_t ns, bool bdf, struct edf_sig *sig)
{
	/* field widths, in header order */
	static const size_t w[] = { 16, 80, 8, 8, 8, 8, 8, 80, 8, 32 };
	size_t base[10], k, i;
	char fb[96];
	int64_t dlim = bdf ? (INT64_C(1) << 23) : (INT64_C(1) << 15), spr;

	base[0] = 256;
	for (k = 1; k < 10; k++)
		base[k] = base[k - 1] + w[k - 1] * ns;
	for (i = 0; i < ns; i++) {
		struct edf_sig *s = &sig[i];

		rec_copy_label(s->label, sizeof(s->label),
			       edf_field(buf, base[0], 16, i, fb), 16);
		s->annot = strcmp(s->label, bdf ? "BDF Annotations" : "EDF Annotations") == 0;
		rec_copy_label(s->dim, sizeof(s->dim), edf_field(buf, base[2], 8, i, fb), 8);
		if (!edf_num(c, edf_field(buf, base[3], 8, i, fb), &s->pmin))
			return rec_fail(c, -EBADMSG, c->path, 0,
					rec_field(c, "signal %zu physical minimum", i),
					"'%s' is not a number", fb);
		if (!edf_num(c, edf_field(buf, base[4], 8, i, fb), &s->pmax))
			return rec_fail(c, -EBADMSG, c->path, 0,
					rec_field(c, "signal %zu physical maximum", i),
					"'%s' is not a number", fb);
		if (!edf_int(edf_field(buf, base[5], 8, i, fb), -dlim, dlim - 1, &s->dmin))
			return rec_fail(c, -EBADMSG, c->path, 0,
					rec_field(c, "signal %zu digital minimum", i),
					"'%s' is not an integer in %lld..%lld", fb,
					(long long)-dlim, (long long)dlim - 1);
		if (!edf_int(edf_field(buf, base[6], 8, i, fb), -dlim, dlim - 1, &s->dmax))
			return rec_fail(c, -EBADMSG, c->path, 0,
					rec_field(c, "signal %zu digital maximum", i),
					"'%s' is not an integer in %lld..%lld", fb,
					(long long)-dlim, (long long)dlim - 1);
		if (!edf_int(edf_field(buf, base[8], 8, i, fb), 1, 99999999, &spr))
			return rec_fail(c, -EBADMSG, c->path, 0,
					rec_field(c, "signal %zu samples per record", i),
					"'%s' is not a count of 1 or more", fb);
		s->spr = (uint64_t)spr;
		if (s->annot)
			continue;
		if (s->dmax <= s->dmin)
			return rec_fail(c, -EBADMSG, c->path, 0,
					rec_field(c, "signal %zu digital maximum", i),
					"%lld is not above the digital minimum %lld",
					(long long)s->dmax, (long long)s->dmin);
		if (s->pmax == s->pmin)
			return rec_fail(c, -EBADMSG, c->path, 0,
					rec_field(c, "signal %zu physical maximum", i),
					"equals the physical minimum (%g)", s->pmin);
	}
	return 0;
}

static int edf_parse(struct rec_ctx *c, const uint8_t *buf, size_t len,
		     struct recording **ret)
{
	struct edf_ann_buf ab = { 0 };
	struct edf_sig *sig = NULL;
	struct recording *rec = NULL;
	char fb[96], reserved[45];
	bool bdf, plus;
	int64_t hdr_bytes, n_rec_i, ns_i;
	uint64_t ns, n_rec, rec_bytes = 0, total = 0, data_bytes, r;
	size_t i, k, n_ch = 0, bps;
	double dur;
	int err;

	if (len < 256)
		return rec_fail(c, -EBADMSG, c->path, 0, "header",
				"%zu bytes: shorter than the 256-byte EDF header", len);
	bdf = buf[0] == 0xff && memcmp(buf + 1, "BIOSEMI", 7) == 0;
	if (!bdf && memcmp(buf, "0       ", 8) != 0)
		return rec_fail(c, -EBADMSG, c->path, 0, "version",
				"not '0' (EDF) or 0xFF'BIOSEMI' (BDF)");
	bps = bdf ? 3 : 2;
	memcpy(reserved, buf + 192, 44);
	reserved[44] = '\0';
	plus = memcmp(reserved, bdf ? "BDF+" : "EDF+", 4) == 0;
	if (plus && reserved[4] == 'D')
		return rec_fail(c, -ENOTSUP, c->path, 0, "reserved",
				"discontinuous %s+D files are not supported", bdf ? "BDF" : "EDF");
	if (!edf_int(edf_field(buf, 252, 4, 0, fb), 0, 9999, &ns_i))
		return rec_fail(c, -EBADMSG, c->path, 0, "number of signals",
				"'%s' is not a count", fb);
	ns = (uint64_t)ns_i;
	if (ns > RECORDING_MAX_CHANNELS)
		return rec_fail(c, -EFBIG, c->path, 0, "number of signals",
				"%llu signals: over the limit of %d",
				(unsigned long long)ns, RECORDING_MAX_CHANNELS);
	if (!edf_int(edf_field(buf, 184, 8, 0, fb), 0, INT32_MAX, &hdr_bytes) ||
	    (uint64_t)hdr_bytes != 256 * (ns + 1))
		return rec_fail(c, -EBADMSG, c->path, 0, "header bytes",
				"'%s' is not 256 x (1 + %llu signals)", fb,
				(unsigned long long)ns);
	if (len < (size_t)hdr_bytes)
		return rec_fail(c, -EBADMSG, c->path, 0, "header",
				"truncated: %zu bytes, the header alone needs %lld",
				len, (long long)hdr_bytes);
	if (!edf_int(edf_field(buf, 236, 8, 0, fb), -1, INT64_MAX, &n_rec_i))
		return rec_fail(c, -EBADMSG, c->path, 0, "number of data records",
				"'%s' is not a count", fb);
	if (!edf_num(c, edf_field(buf, 244, 8, 0, fb), &dur) || dur < 0 || dur > 1e6)
		return rec_fail(c, -EBADMSG, c->path, 0, "data record duration",
				"'%s' is not 0..1e6 seconds", fb);
	if (ns > 0) {
		sig = calloc(ns, sizeof(*sig));
		if (sig == NULL)
			return rec_fail(c, -ENOMEM, c->path, 0, "", "out of memory");
	}
	err = edf_parse_signal_headers(c, buf, ns, bdf, sig);
	if (err < 0)
		goto out;
	for (i = 0; i < ns; i++) {
		sig[i].rec_off = rec_bytes;
		rec_bytes += sig[i].spr * bps;	/* <= 1024 * 1e8 * 3: no overflow */
		if (!sig[i].annot)
			n_ch++;
	}
	if (rec_bytes > REC_EDF_MAX_RECORD_BYTES) {
		err = rec_fail(c, -EFBIG, c->path, 0, "samples per record",
			       "data records of %llu bytes: over the %u-byte limit",
			       (unsigned long long)rec_bytes, REC_EDF_MAX_RECORD_BYTES);
		goto out;
	}
	if (n_ch > 0 && dur == 0) {
		err = rec_fail(c, -EBADMSG, c->path, 0, "data record duration",
			       "0 s with %zu ordinary signals", n_ch);
		goto out;
	}
	data_bytes = len - (size_t)hdr_bytes;
	if (n_rec_i < 0) {	/* -1: still being recorded; trust the size */
		n_rec = rec_bytes ? data_bytes / rec_bytes : 0;
	} else {
		uint64_t need;

		n_rec = (uint64_t)n_rec_i;
		if (__builtin_mul_overflow(n_rec, rec_bytes, &need) || need > data_bytes) {
			err = rec_fail(c, -EBADMSG, c->path, 0, "number of data records",
				       "truncated: %llu records of %llu bytes, the file has %llu "
				       "data bytes", (unsigned long long)n_rec,
				       (unsigned long long)rec_bytes,
				       (unsigned long long)data_bytes);
			goto out;
		}
	}
	for (i = 0; i < ns; i++) {
		uint64_t nsamp;

		if (sig[i].annot)
			continue;
		if (__builtin_mul_overflow(sig[i].spr, n_rec, &nsamp) ||
		    __builtin_add_overflow(total, nsamp, &total)) {
			err = rec_fail(c, -EFBIG, c->path, 0, "", "too many samples");
			goto out;
		}
		if (!(sig[i].spr / dur <= RECORDING_MAX_RATE_HZ &&
		      sig[i].spr / dur >= RECORDING_MIN_RATE_HZ)) {
			err = rec_fail(c, -EBADMSG, c->path, 0,
				       rec_field(c, "signal %zu samples per record", i),
				       "%llu samples in %g s: rate outside %g..%g Hz",
				       (unsigned long long)sig[i].spr, dur,
				       RECORDING_MIN_RATE_HZ, RECORDING_MAX_RATE_HZ);
			goto out;
		}
	}
	err = rec_alloc(c, c->path, n_ch, &rec);
	if (err < 0)
		goto out;
	rec->format = RECORDING_FORMAT_EDF;
	snprintf(rec->format_name, sizeof(rec->format_name), "%s%s",
		 bdf ? "BDF" : "EDF", plus ? "+C" : "");
	err = rec_alloc_samples(c, c->path, total, sizeof(int32_t), (void **)&rec->raw_block);
	if (err < 0)
		goto out;

	total = 0;
	for (i = 0, k = 0; i < ns; i++) {
		struct rec_chan *ch;
		const struct edf_sig *s = &sig[i];

		if (s->annot)
			continue;
		ch = &rec->ch[k++];
		ch->raw = rec->raw_block + total;
		ch->n = s->spr * n_rec;
		total += ch->n;
		snprintf(ch->label, sizeof(ch->label), "%s", s->label);
		snprintf(ch->unit, sizeof(ch->unit), "%s", s->dim);
		ch->rate_hz = (double)s->spr / dur;
		ch->baseline = (double)s->dmin;
		ch->per_count = (s->pmax - s->pmin) / (double)(s->dmax - s->dmin);
		ch->phys_offset = s->pmin;
		ch->uv_per_unit = rec_unit_to_uv(s->dim);
		ch->sat_lo = (double)s->dmin;
		ch->sat_hi = (double)s->dmax;
	}
	for (r = 0; r < n_rec; r++) {
		const uint8_t *d = buf + hdr_bytes + r * rec_bytes;
		bool ann_seen = false;

		for (i = 0, k = 0; i < ns; i++) {
			const struct edf_sig *s = &sig[i];
			const uint8_t *p = d + s->rec_off;
			int32_t *out;
			uint64_t j;

			if (s->annot) {
				double t = NAN;

				err = edf_parse_tals(c, &ab, p, s->spr * bps, r,
						     ann_seen ? NULL : &t);
				if (err < 0)
					goto out;
				if (!ann_seen)
					err = edf_record_start(c, rec, r, t, dur);
				if (err < 0)
					goto out;
				ann_seen = true;	/* the first annotation signal keeps time */
				continue;
			}
			out = rec->ch[k++].raw + r * s->spr;
			for (j = 0; j < s->spr; j++, p += bps) {
				uint32_t u;

				if (!bdf) {
					out[j] = (int16_t)(uint16_t)(p[0] | (uint16_t)p[1] << 8);
					continue;
				}
				u = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
				out[j] = (int32_t)(u ^ 0x800000u) - 0x800000;
			}
		}
	}
	for (k = 0; k < n_ch; k++)
		rec_count_saturated(&rec->ch[k]);
	for (i = 0; i < ab.n; i++)	/* offsets become pointers: text is final */
		ab.a[i].text = ab.text + (uintptr_t)ab.a[i].text;
	rec->ann = ab.a;
	rec->n_ann = ab.n;
	rec->ann_text = ab.text;
	ab.a = NULL;
	ab.text = NULL;
	*ret = rec;
	rec = NULL;
	err = 0;
out:
	free(ab.a);
	free(ab.text);
	free(sig);
	recording_free(rec);
	return err;
}

/* ---- BioSPPy text ------------------------------------------------------- */

/* The value after the JSON key @key ("key": value) in @line, or NULL. */
static const char *text_json_value(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	if (p == NULL)
		return NULL;
	p += strlen(key);
	while (rec_is_space(*p))
		p++;
	if (*p++ != ':')
		return NULL;
	while (rec_is_space(*p))
		p++;
	return p;
}

/* Number after the JSON key @key ("key": 1000 or "key": [4, 12]) in @line. */
static bool text_json_number(const struct rec_ctx *c, const char *line, const char *key,
			     bool last_of_array, double *ret)
{
	const char *p = text_json_value(line, key), *q;
	char buf[64];
	size_t n;

	if (p == NULL)
		return false;
	if (*p == '[') {
		const char *close = strchr(p, ']');

		if (close == NULL)
			return false;
		if (last_of_array) {
			q = close;
			while (q > p + 1 && (rec_is_space(q[-1])))
				q--;
			p = q;
			while (p > line && p[-1] != ',' && p[-1] != '[')
				p--;
			while (rec_is_space(*p))
				p++;
		} else {
			p++;
		}
	}
	for (q = p; *q && (rec_is_digit(*q) || *q == '.' || *q == '-' || *q == '+' ||
			   *q == 'e' || *q == 'E'); q++)
		;
	n = (size_t)(q - p);
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return rec_parse_double(c, buf, ret);
}

#define TEXT_MAX_JSON_COLS	16

struct text_hdr {
	double rate_hz;
	double bits;
	char labels[RECORDING_LABEL_MAX * 4];
	/* OpenSignals: its "column" names and "resolution" per column */
	size_t n_json_cols, n_json_res;
	char json_col[TEXT_MAX_JSON_COLS][RECORDING_LABEL_MAX];
	double json_res[TEXT_MAX_JSON_COLS];
};

/*
 * The items of the JSON array after @key in @line, as strings (quotes
 * dropped) into @out[@max][@len]: how many, 0 if there is none.
 */
static size_t text_json_array(const char *line, const char *key, char (*out)[RECORDING_LABEL_MAX],
			      size_t max)
{
	const char *p = text_json_value(line, key), *close;
	size_t n = 0, k;

	if (p == NULL || *p != '[' || (close = strchr(p, ']')) == NULL)
		return 0;
	for (p++; p < close && n < max;) {
		while (p < close && (rec_is_space(*p) || *p == ','))
			p++;
		if (p >= close)
			break;
		if (*p == '"')
			p++;
		for (k = 0; p < close && *p != '"' && *p != ','; p++)
			if (k + 1 < RECORDING_LABEL_MAX)
				out[n][k++] = *p;
		while (k > 0 && rec_is_space(out[n][k - 1]))
			k--;
		out[n++][k] = '\0';
		if (p < close && *p == '"')
			p++;
	}
	return n;
}

/* One '#' line: "Key:= value" (BioSPPy) or a JSON object (OpenSignals). */
static int text_header_line(struct rec_ctx *c, char *s, unsigned long lineno,
			    struct text_hdr *h)
{
	char *v = strstr(s, ":=");
	double x;

	if (v != NULL) {
		v += 2;
		while (*v == ' ')
			v++;
		if (strstr(s, "Sampling Rate") != NULL) {
			if (!rec_parse_double(c, v, &h->rate_hz))
				return rec_fail(c, -EBADMSG, c->path, lineno,
						"Sampling Rate", "'%s' is not a number", v);
		} else if (strstr(s, "Resolution") != NULL) {
			if (!rec_parse_double(c, v, &h->bits))
				return rec_fail(c, -EBADMSG, c->path, lineno,
						"Resolution", "'%s' is not a number", v);
		} else if (strstr(s, "Labels") != NULL) {
			snprintf(h->labels, sizeof(h->labels), "%s", v);
		}
		return 0;
	}
	if (strchr(s, '{') == NULL)
		return 0;
	if (text_json_number(c, s, "\"sampling rate\"", false, &x) ||
	    text_json_number(c, s, "\"sampling_rate\"", false, &x))
		h->rate_hz = x;
	if (text_json_number(c, s, "\"resolution\"", true, &x))
		h->bits = x;
	/* per column: "column": ["nSeq", "I1", ..., "A1", ...], "resolution":
	 * [4, 1, ..., 10, ...] (a BITalino's A5 and A6 have 6 bits) */
	{
		char res[TEXT_MAX_JSON_COLS][RECORDING_LABEL_MAX];
		size_t k, n = text_json_array(s, "\"column\"", h->json_col, TEXT_MAX_JSON_COLS);

		if (n > 0)
			h->n_json_cols = n;
		n = text_json_array(s, "\"resolution\"", res, TEXT_MAX_JSON_COLS);
		for (k = 0; k < n; k++)
			if (!rec_parse_double(c, res[k], &h->json_res[k]))
				return rec_fail(c, -EBADMSG, c->path, lineno, "resolution",
						"'%s' is not a number", res[k]);
		if (n > 0)
			h->n_json_res = n;
	}
	return 0;
}

/* OpenSignals' sequence number and digital in/out columns: not signals. */
static bool text_col_is_digital(const char *name)
{
	return !strcmp(name, "nSeq") ||
	       ((name[0] == 'I' || name[0] == 'O') && rec_is_digit(name[1]) && !name[2]);
}

static void text_label(const struct text_hdr *h, size_t col, size_t n_cols,
		       char *dst, size_t size)
{
	const char *p = h->labels;
	size_t i, n, count = h->labels[0] ? 1 : 0;

	for (i = 0; h->labels[i]; i++)
		count += h->labels[i] == '\t';
	if (count != n_cols) {
		snprintf(dst, size, "column %zu", col);
		return;
	}
	for (i = 0; i < col; i++)
		p = strchr(p, '\t') + 1;
	n = strcspn(p, "\t");
	rec_copy_label(dst, size, p, n);
}

/* Pass over the data lines: count rows, fix the columns, or parse them. */
static int text_rows(struct rec_ctx *c, char *buf, size_t len, struct text_hdr *h,
		     size_t *n_cols, uint64_t *n_rows, struct recording *rec)
{
	char *s = buf, *end = buf + len;
	unsigned long lineno = 0;
	uint64_t row = 0;
	bool in_header = true;

	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s)), *e = nl ? nl : end;
		struct rec_tok t[TEXT_MAX_COLUMNS + 1];
		size_t n, i;

		lineno++;
		while (e > s && rec_is_space(e[-1]))
			e--;
		*e = '\0';
		while (rec_is_space(*s))
			s++;
		if (*s == '#') {
			if (in_header && rec == NULL) {
				int err = text_header_line(c, s, lineno, h);

				if (err < 0)
					return err;
			}
		} else if (*s != '\0') {
			in_header = false;
			n = rec_split(s, (size_t)(e - s), t, TEXT_MAX_COLUMNS + 1);
			if (n > TEXT_MAX_COLUMNS)
				return rec_fail(c, -EFBIG, c->path, lineno, "",
						"more than %d columns", TEXT_MAX_COLUMNS);
			if (*n_cols == 0)
				*n_cols = n;
			if (n != *n_cols)
				return rec_fail(c, -EBADMSG, c->path, lineno, "",
						"%zu values, earlier lines have %zu", n, *n_cols);
			for (i = 0; rec != NULL && i < n; i++) {
				double v;

				if (!rec_tok_double(c, t[i], &v))
					return rec_fail(c, -EBADMSG, c->path, lineno,
							rec_field(c, "column %zu", i),
							"'%.*s' is not a finite number",
							(int)(t[i].n > 40 ? 40 : t[i].n), t[i].p);
				rec->ch[i].val[row] = v;
			}
			row++;
		}
		s = nl ? nl + 1 : end;
	}
	*n_rows = row;
	return 0;
}

static int text_parse(struct rec_ctx *c, char *buf, size_t len, struct recording **ret)
{
	struct text_hdr h = { .rate_hz = NAN, .bits = NAN };
	struct recording *rec = NULL;
	char *copy;
	size_t n_cols = 0, i;
	uint64_t n_rows = 0, total;
	double bits, scale, offset;
	bool per_col;
	int err;

	if (memchr(buf, '\0', len) != NULL)
		return rec_fail(c, -EBADMSG, c->path, 0, "", "text file contains NUL bytes");
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {	/* UTF-8 BOM */
		buf += 3;
		len -= 3;
	}
	/* the first pass writes NULs at line ends: keep the original for the second */
	copy = malloc(len + 1);
	if (copy == NULL)
		return rec_fail(c, -ENOMEM, c->path, 0, "", "out of memory");
	memcpy(copy, buf, len + 1);
	err = text_rows(c, copy, len, &h, &n_cols, &n_rows, NULL);
	if (err < 0)
		goto out;
	if (isnan(h.rate_hz))
		h.rate_hz = c->opts.text_rate_hz > 0 ? c->opts.text_rate_hz : 1000.0;
	if (!(h.rate_hz >= RECORDING_MIN_RATE_HZ && h.rate_hz <= RECORDING_MAX_RATE_HZ)) {
		err = rec_fail(c, -EBADMSG, c->path, 0, "sampling rate",
			       "%g Hz is outside %g..%g Hz", h.rate_hz,
			       RECORDING_MIN_RATE_HZ, RECORDING_MAX_RATE_HZ);
		goto out;
	}
	bits = isnan(h.bits) ? (c->opts.text_resolution_bits ?
				(double)c->opts.text_resolution_bits : 12.0) : h.bits;
	if (!(bits >= 1 && bits <= 32 && bits == floor(bits))) {
		err = rec_fail(c, -EBADMSG, c->path, 0, "resolution",
			       "%g bits is not 1..32", bits);
		goto out;
	}
	if (n_rows == 0) {
		err = rec_fail(c, -EBADMSG, c->path, 0, "", "no samples");
		goto out;
	}
	err = rec_alloc(c, c->path, n_cols, &rec);
	if (err < 0)
		goto out;
	rec->format = RECORDING_FORMAT_TEXT;
	snprintf(rec->format_name, sizeof(rec->format_name), "BioSPPy text");
	if (__builtin_mul_overflow(n_rows, n_cols, &total)) {
		err = rec_fail(c, -EFBIG, c->path, 0, "", "too many samples");
		goto out;
	}
	err = rec_alloc_samples(c, c->path, total, sizeof(double), (void **)&rec->val_block);
	if (err < 0)
		goto out;
	if (c->opts.text_uv_per_count != 0) {
		scale = c->opts.text_uv_per_count;
		offset = c->opts.text_offset_counts;
	} else {	/* BITalino EMG: V = (count / 2^n - 1/2) * 3.3 / 1009 */
		scale = 3.3e6 / (1009.0 * ldexp(1.0, (int)bits));
		offset = ldexp(1.0, (int)bits - 1);
	}
	/* OpenSignals' columns, when its header names each of them */
	per_col = h.n_json_cols == n_cols && h.n_json_res == n_cols;
	for (i = 0; i < n_cols; i++) {
		struct rec_chan *ch = &rec->ch[i];
		double cbits = bits, cscale = scale, coffset = offset;

		ch->val = rec->val_block + i * n_rows;
		ch->n = n_rows;
		ch->rate_hz = h.rate_hz;
		text_label(&h, i, n_cols, ch->label, sizeof(ch->label));
		if (per_col) {
			snprintf(ch->label, sizeof(ch->label), "%s", h.json_col[i]);
			cbits = h.json_res[i];
			if (!(cbits >= 1 && cbits <= 32 && cbits == floor(cbits))) {
				err = rec_fail(c, -EBADMSG, c->path, 0, "resolution",
					       "column %zu: %g bits is not 1..32", i, cbits);
				goto out;
			}
			if (c->opts.text_uv_per_count == 0) {
				cscale = 3.3e6 / (1009.0 * ldexp(1.0, (int)cbits));
				coffset = ldexp(1.0, (int)cbits - 1);
			}
		}
		/* a counter or a digital line has no unit: not analysed */
		snprintf(ch->unit, sizeof(ch->unit), "%s",
			 per_col && text_col_is_digital(h.json_col[i]) ? "" : "uV");
		ch->uv_per_unit = ch->unit[0] ? 1.0 : 0.0;
		ch->baseline = coffset;
		ch->per_count = cscale;
		ch->sat_lo = 0.0;
		ch->sat_hi = ldexp(1.0, (int)cbits) - 1.0;
	}
	n_cols = 0;
	err = text_rows(c, buf, len, &h, &n_cols, &n_rows, rec);
	if (err < 0)
		goto out;
	for (i = 0; i < rec->n_channels; i++)
		rec_count_saturated(&rec->ch[i]);
	*ret = rec;
	rec = NULL;
out:
	free(copy);
	recording_free(rec);
	return err;
}

/* ---- detection and the public entry points ------------------------------ */

static bool rec_has_ext(const char *path, const char *ext)
{
	const char *base = strrchr(path, '/'), *dot;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	return dot != NULL && rec_ascii_eq_nocase(dot, ext);
}

/* Is line @s (not NUL-terminated, @n bytes) made only of numbers? */
static bool rec_line_numeric(const struct rec_ctx *c, const char *s, size_t n)
{
	struct rec_tok t[8];
	size_t k = rec_split(s, n, t, 8), i;
	double v;

	for (i = 0; i < k; i++)
		if (!rec_tok_double(c, t[i], &v))
			return false;
	return k > 0;
}

/* Guess the format from the first bytes of a file with no telling extension. */
static enum recording_format rec_sniff(const struct rec_ctx *c, const uint8_t *buf,
				       size_t len)
{
	struct wfdb_line l[2];
	char *copy;
	size_t pos = 0, n;
	unsigned long lineno = 0;
	enum recording_format f = RECORDING_FORMAT_AUTO;

	if (len >= 8 && (memcmp(buf, "0       ", 8) == 0 ||
			 (buf[0] == 0xff && memcmp(buf + 1, "BIOSEMI", 7) == 0)))
		return RECORDING_FORMAT_EDF;
	n = len < 65536 ? len : 65536;
	copy = malloc(n + 1);
	if (copy == NULL)
		return f;
	memcpy(copy, buf, n);
	copy[n] = '\0';
	if (memchr(copy, '\0', n) == NULL &&
	    wfdb_next_line(copy, n, &pos, &lineno, &l[0])) {
		bool second = wfdb_next_line(copy, n, &pos, &lineno, &l[1]);

		struct rec_tok t[2];
		uint64_t nsig;

		/* "100 2 360 650000" is numeric too; a WFDB signal line is not */
		if (rec_line_numeric(c, l[0].p, l[0].n) &&
		    (!second || rec_line_numeric(c, l[1].p, l[1].n)))
			f = RECORDING_FORMAT_TEXT;
		else if (rec_split(l[0].p, l[0].n, t, 2) == 2 &&
			 rec_tok_u64(t[1], UINT32_MAX, &nsig))
			f = RECORDING_FORMAT_WFDB;	/* "name nsig ..." */
	}
	free(copy);
	return f;
}

/* Parse a loaded file (@buf owned by the caller, NUL at @buf[@len]). */
static int rec_parse(struct rec_ctx *c, enum recording_format fmt, uint8_t *buf,
		     size_t len, struct recording **ret)
{
	if (fmt == RECORDING_FORMAT_AUTO)
		fmt = rec_sniff(c, buf, len);
	switch (fmt) {
	case RECORDING_FORMAT_WFDB:
		return wfdb_parse(c, (char *)buf, len, ret);
	case RECORDING_FORMAT_EDF:
		return edf_parse(c, buf, len, ret);
	case RECORDING_FORMAT_TEXT:
		return text_parse(c, (char *)buf, len, ret);
	default:
		return rec_fail(c, -EBADMSG, c->path, 0, "",
				"not a WFDB header, EDF/BDF file or BioSPPy text file");
	}
}

static int rec_ctx_init(struct rec_ctx *c, const struct recording_opts *opts,
			struct recording_error *err)
{
	memset(c, 0, sizeof(*c));
	if (opts != NULL)
		c->opts = *opts;
	if (c->opts.max_bytes == 0)
		c->opts.max_bytes = RECORDING_DEFAULT_MAX_BYTES;
	c->err = err;
	c->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (c->c_locale == (locale_t)0)
		return -ENOMEM;
	return 0;
}

static void rec_ctx_fini(struct rec_ctx *c)
{
	if (c->c_locale != (locale_t)0)
		freelocale(c->c_locale);
	c->c_locale = (locale_t)0;
}

int recording_open(const char *path, const struct recording_opts *opts,
		   struct recording **ret, struct recording_error *ret_err)
{
	struct recording *rec = NULL;
	struct rec_ctx c;
	enum recording_format fmt;
	char hea[PATH_MAX];
	const char *file = path, *slash;
	uint8_t *buf = NULL;
	size_t len;
	int err;

	if (path == NULL || ret == NULL || path[0] == '\0')
		return -EINVAL;
	if (strlen(path) + 5 > sizeof(hea))
		return -ENAMETOOLONG;
	err = rec_ctx_init(&c, opts, ret_err);
	if (err < 0)
		return err;
	fmt = c.opts.format;
	if (fmt == RECORDING_FORMAT_AUTO) {
		if (rec_has_ext(path, ".hea") || rec_has_ext(path, ".dat"))
			fmt = RECORDING_FORMAT_WFDB;
		else if (rec_has_ext(path, ".edf") || rec_has_ext(path, ".bdf") ||
			 rec_has_ext(path, ".rec"))
			fmt = RECORDING_FORMAT_EDF;
		else if (rec_has_ext(path, ".txt"))
			fmt = RECORDING_FORMAT_TEXT;
	}
	/* a WFDB record is named by its header: x.dat or plain x -> x.hea */
	if (rec_has_ext(path, ".dat") && fmt == RECORDING_FORMAT_WFDB) {
		snprintf(hea, sizeof(hea), "%.*s.hea", (int)(strrchr(path, '.') - path), path);
		file = hea;
	} else if (fmt == RECORDING_FORMAT_AUTO || fmt == RECORDING_FORMAT_WFDB) {
		snprintf(hea, sizeof(hea), "%s.hea", path);
		if (access(path, F_OK) < 0 && access(hea, F_OK) == 0) {
			file = hea;
			fmt = RECORDING_FORMAT_WFDB;
		}
	}
	c.path = file;
	slash = strrchr(file, '/');
	if (slash != NULL)
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash - file + 1), file);
	/* a header is small: don't read a huge file just to reject it */
	err = rec_read_file(&c, file, fmt == RECORDING_FORMAT_WFDB &&
			    c.opts.max_bytes > RECORDING_MAX_HEADER_BYTES ?
			    RECORDING_MAX_HEADER_BYTES : c.opts.max_bytes, &buf, &len);
	if (err < 0)
		goto out;
	err = rec_parse(&c, fmt, buf, len, &rec);
	if (err < 0)
		goto out;
	if (c.opts.flags & RECORDING_OPT_VOLTAGE_ONLY) {
		size_t i;

		for (i = 0; i < rec->n_channels; i++) {
			if (rec->ch[i].uv_per_unit != 0)
				continue;
			err = rec_fail(&c, -EMEDIUMTYPE, file, 0,
				       rec_field(&c, "signal %zu (%s) unit", i,
						 rec->ch[i].label),
				       "'%s' is not a voltage (uV, mV or V)",
				       rec->ch[i].unit);
			goto out;
		}
	}
	*ret = rec;
	rec = NULL;
out:
	recording_free(rec);
	free(buf);
	rec_ctx_fini(&c);
	return err;
}

struct recording *recording_free(struct recording *rec)
{
	if (rec == NULL)
		return NULL;
	free(rec->raw_block);
	free(rec->val_block);
	free(rec->ch);
	free(rec->ann);
	free(rec->ann_text);
	free(rec);
	return NULL;
}

/* ---- accessors ---------------------------------------------------------- */

static const struct rec_chan *rec_chan(const struct recording *rec, size_t channel)
{
	if (rec == NULL || channel >= rec->n_channels)
		return NULL;
	return &rec->ch[channel];
}

enum recording_format recording_format(const struct recording *rec)
{
	return rec ? rec->format : RECORDING_FORMAT_AUTO;
}

const char *recording_format_name(const struct recording *rec)
{
	return rec ? rec->format_name : NULL;
}

size_t recording_n_channels(const struct recording *rec)
{
	return rec ? rec->n_channels : 0;
}

double recording_rate_hz(const struct recording *rec, size_t channel)
{
	const struct rec_chan *ch = rec_chan(rec, channel);

	return ch ? ch->rate_hz : NAN;
}

uint64_t recording_n_samples(const struct recording *rec, size_t channel)
{
	const struct rec_chan *ch = rec_chan(rec, channel);

	return ch ? ch->n : 0;
}

const char *recording_label(const struct recording *rec, size_t channel)
{
	const struct rec_chan *ch = rec_chan(rec, channel);

	return ch ? ch->label : NULL;
}

const char *recording_unit(const struct recording *rec, size_t channel)
{
	const struct rec_chan *ch = rec_chan(rec, channel);

	return ch ? ch->unit : NULL;
}

bool recording_is_voltage(const struct recording *rec, size_t channel)
{
	const struct rec_chan *ch = rec_chan(rec, channel);

	return ch != NULL && ch->uv_per_unit != 0;
}

double recording_start_s(const struct recording *rec)
{
	return rec ? rec->start_s : 0.0;
}

uint64_t recording_n_saturated(const struct recording *rec, size_t channel)
{
	const struct rec_chan *ch = rec_chan(rec, channel);

	return ch ? ch->n_saturated : 0;
}

/* Validate a read; the count to copy, or -errno. */
static int rec_read_span(const struct recording *rec, size_t channel, uint64_t start,
			 size_t n, const void *out, const struct rec_chan **ret)
{
	const struct rec_chan *ch = rec_chan(rec, channel);

	if (ch == NULL || out == NULL || start > ch->n)
		return -EINVAL;
	if (n > ch->n - start)
		n = (size_t)(ch->n - start);
	if (n > INT_MAX)
		n = INT_MAX;
	*ret = ch;
	return (int)n;
}

static int rec_read_scaled(const struct recording *rec, size_t channel, uint64_t start,
			   size_t n, double *out, bool uv)
{
	const struct rec_chan *ch;
	double k;
	int i, cnt;

	cnt = rec_read_span(rec, channel, start, n, out, &ch);
	if (cnt < 0)
		return cnt;
	if (uv && ch->uv_per_unit == 0)
		return -EMEDIUMTYPE;
	k = uv ? ch->uv_per_unit : 1.0;
	for (i = 0; i < cnt; i++) {
		double v = ch->raw ? (double)ch->raw[start + i] : ch->val[start + i];

		if (ch->has_invalid && v == ch->invalid)
			out[i] = NAN;
		else
			out[i] = ((v - ch->baseline) * ch->per_count + ch->phys_offset) * k;
	}
	return cnt;
}

int recording_read(const struct recording *rec, size_t channel, uint64_t start,
		   size_t n, double *out_uv)
{
	return rec_read_scaled(rec, channel, start, n, out_uv, true);
}

int recording_read_physical(const struct recording *rec, size_t channel,
			    uint64_t start, size_t n, double *out)
{
	return rec_read_scaled(rec, channel, start, n, out, false);
}

int recording_read_flags(const struct recording *rec, size_t channel,
			 uint64_t start, size_t n, uint8_t *out_flags)
{
	const struct rec_chan *ch;
	int i, cnt;

	cnt = rec_read_span(rec, channel, start, n, out_flags, &ch);
	if (cnt < 0)
		return cnt;
	for (i = 0; i < cnt; i++) {
		double v = ch->raw ? (double)ch->raw[start + i] : ch->val[start + i];

		if (ch->has_invalid && v == ch->invalid)
			out_flags[i] = RECORDING_SAMPLE_INVALID;
		else if (v <= ch->sat_lo || v >= ch->sat_hi)
			out_flags[i] = RECORDING_SAMPLE_SATURATED;
		else
			out_flags[i] = 0;
	}
	return cnt;
}

size_t recording_n_annotations(const struct recording *rec)
{
	return rec ? rec->n_ann : 0;
}

const struct recording_annotation *recording_annotation(const struct recording *rec,
							size_t i)
{
	if (rec == NULL || i >= rec->n_ann)
		return NULL;
	return &rec->ann[i];
}

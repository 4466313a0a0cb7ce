// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * calstore.c - a bioimpedance calibration on disk (see calstore.h).
 *
 * Format, one item per line:
 *   twitchd-calibration 1
 *   device NAME
 *   resistor_ohm R   or   rc_network RS RP C_F   (RS + (RP || C), an R-C phantom)
 *   time_real_ns T
 *   excitation_mv MV pga_gain G      (the AD5933 settings it holds for)
 *   points N
 *   FREQ_HZ GAIN SYS_PHASE_RAD      (N lines, frequencies rising, %.17g)
 *   end
 * The "end" line makes a file cut short by a crash detectable even if the
 * rename was not preceded by a complete write (it always is: fsync first).
 * Files written before the excitation_mv line existed (same first line) are
 * refused with a message asking for a new calibration: their gain factor
 * may be for another output range or PGA gain, 2-10x off.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calstore.h"
#include "sweepcsv.h"

#define MAGIC	"twitchd-calibration 1"

static int path_of(const char *dir, const char *kind, const char *dev, const char *suffix,
		   char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s-%s%s", dir, kind, dev, suffix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Write @path atomically: @put writes the body into a temporary file beside
 * it, which is flushed, fsynced and renamed over @path.
 */
static int write_atomic(const char *tmp, const char *path,
			void (*put)(FILE *f, const void *arg), const void *arg,
			char *err, size_t err_size)
{
	FILE *f;
	int fd, e = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		e = errno;
		snprintf(err, err_size, "%s: %s", tmp, strerror(e));
		return -e;
	}
	f = fdopen(fd, "w");
	if (!f) {
		e = errno;
		close(fd);
		unlink(tmp);
		snprintf(err, err_size, "%s: %s", tmp, strerror(e));
		return -e;
	}
	put(f, arg);
	if (fflush(f) != 0 || ferror(f) || fsync(fd) < 0)
		e = errno ? errno : EIO;
	if (fclose(f) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, err_size, "%s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

struct cal_body {
	const char *dev;
	const struct bioz_cal_point *cal;
	size_t n;
	const struct calstore_info *info;
};

static void put_cal(FILE *f, const void *arg)
{
	const struct cal_body *b = arg;
	size_t i;

	fprintf(f, MAGIC "\ndevice %s\n", b->dev);
	if (b->info->rp_ohm > 0)
		fprintf(f, "rc_network %.17g %.17g %.17g\n", b->info->resistor_ohm,
			b->info->rp_ohm, b->info->c_f);
	else
		fprintf(f, "resistor_ohm %.17g\n", b->info->resistor_ohm);
	fprintf(f, "time_real_ns %" PRIu64 "\n", b->info->t_real_ns);
	fprintf(f, "excitation_mv %" PRIu32 " pga_gain %" PRIu32 "\n", b->info->excitation_mv,
		b->info->pga_gain);
	fprintf(f, "points %zu\n", b->n);
	for (i = 0; i < b->n; i++)
		fprintf(f, "%.17g %.17g %.17g\n", b->cal[i].freq_hz, b->cal[i].gain,
			b->cal[i].sys_phase_rad);
	fprintf(f, "end\n");
}

/*
 * An output range an AD5933 can offer (its top one is 1980 mV at 3.3 V and
 * scales with the supply: 3300 mV at 5.5 V), and a PGA gain of 1 or 5.
 */
static bool analog_ok(const struct calstore_info *info)
{
	return info->excitation_mv >= 1 && info->excitation_mv <= 5000 &&
	       (info->pga_gain == 1 || info->pga_gain == 5);
}

int calstore_save(const char *dir, const char *dev, const struct bioz_cal_point *cal, size_t n,
		  const struct calstore_info *info, char *err, size_t err_size)
{
	const struct cal_body b = { dev, cal, n, info };
	char tmp[512], path[512];

	if (!analog_ok(info)) {
		/* a file that could not be tied to its settings is never written */
		snprintf(err, err_size, "excitation %" PRIu32 " mV / PGA x%" PRIu32 " unknown or "
			 "out of range: not saved", info->excitation_mv, info->pga_gain);
		return -EINVAL;
	}

	if (path_of(dir, "calibration", dev, ".tmp", tmp, sizeof(tmp)) < 0 ||
	    path_of(dir, "calibration", dev, "", path, sizeof(path)) < 0) {
		snprintf(err, err_size, "state directory %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	return write_atomic(tmp, path, put_cal, &b, err, err_size);
}

static int bad(char *err, size_t err_size, const char *path, unsigned int line, const char *what)
{
	snprintf(err, err_size, "%s:%u: %s", path, line, what);
	return -EINVAL;
}

/* The next whole line into @line; false at the end or on a line too long. */
static bool next_line(FILE *f, char *line, size_t size, unsigned int *ln)
{
	++*ln;
	return fgets(line, (int)size, f) != NULL && strchr(line, '\n') != NULL;
}

/*
 * Open @kind-@dev in @dir (into @path) and check its first two lines:
 * @magic, then "device DEV". Return 0 with *ret open, -errno (-ENOENT: no
 * file), or -EINVAL with @err naming the file and line.
 */
static int open_checked(const char *dir, const char *kind, const char *dev, const char *magic,
			char *path, size_t path_size, unsigned int *ln, FILE **ret,
			char *err, size_t err_size)
{
	char line[256], name[64];
	FILE *f;
	int fd;

	*ln = 0;
	if (path_of(dir, kind, dev, "", path, path_size) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	if (!next_line(f, line, sizeof(line), ln) || strncmp(line, magic, strlen(magic)) ||
	    strcmp(line + strlen(magic), "\n")) {
		fclose(f);
		snprintf(line, sizeof(line), "not a twitchd %s file (first line)", kind);
		return bad(err, err_size, path, *ln, line);
	}
	if (!next_line(f, line, sizeof(line), ln) || sscanf(line, "device %63s", name) != 1 ||
	    strcmp(name, dev)) {
		fclose(f);
		return bad(err, err_size, path, *ln, "not this device's");
	}
	*ret = f;
	return 0;
}

int calstore_load(const char *dir, const char *dev, struct bioz_cal_point *cal, size_t max,
		  struct calstore_info *ret_info, char *err, size_t err_size)
{
	struct calstore_info info = { 0 };
	char path[512], line[256], extra;
	unsigned int ln;
	size_t n = 0, i;
	FILE *f;
	int rc;

	rc = open_checked(dir, "calibration", dev, MAGIC, path, sizeof(path), &ln, &f, err,
			  err_size);
	if (rc < 0)
		return rc;
	rc = -EINVAL;
#define NEXT() next_line(f, line, sizeof(line), &ln)
	/*
	 * RP and C are checked whenever the line is an rc_network one: an
	 * "rc_network RS 0 C" passed as a plain resistor with a stray C (any
	 * C, NaN too), which calstore_save() then wrote back as another file.
	 * Nor may either line carry trailing text (a point's line may not).
	 */
	if (!NEXT() || (sscanf(line, "resistor_ohm %lf %c", &info.resistor_ohm, &extra) != 1 &&
			(sscanf(line, "rc_network %lf %lf %lf %c", &info.resistor_ohm,
				&info.rp_ohm, &info.c_f, &extra) != 3 ||
			 !(info.rp_ohm >= 1 && info.rp_ohm <= 1e6 &&
			   info.c_f >= 1e-12 && info.c_f <= 1e-3))) ||
	    !(info.resistor_ohm >= 1 && info.resistor_ohm <= 1e6)) {
		rc = bad(err, err_size, path, ln, "resistor_ohm (1..1e6) or rc_network (RS RP C_F) "
			 "missing or out of range");
		goto out;
	}
	if (!NEXT() || sscanf(line, "time_real_ns %" SCNu64 " %c", &info.t_real_ns, &extra) != 1) {
		rc = bad(err, err_size, path, ln, "time_real_ns missing");
		goto out;
	}
	/* without it the factor holds for unknown settings: refused, not trusted */
	if (!NEXT() || sscanf(line, "excitation_mv %" SCNu32 " pga_gain %" SCNu32 " %c",
			      &info.excitation_mv, &info.pga_gain, &extra) != 2 ||
	    !analog_ok(&info)) {
		rc = bad(err, err_size, path, ln, strncmp(line, "points ", 7) == 0 ?
			 "made by an older twitchd, without the excitation range and PGA gain "
			 "it holds for: recalibrate (twitchctl calibrate OHM)" :
			 "excitation_mv (1..5000) pga_gain (1 or 5) missing or out of range");
		goto out;
	}
	/* "points 2e-08" is not 2 points */
	if (!NEXT() || sscanf(line, "points %zu %c", &n, &extra) != 1 || n < 2 || n > max) {
		rc = bad(err, err_size, path, ln, "points missing or out of range");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct bioz_cal_point p;

		if (!NEXT() || sscanf(line, "%lf %lf %lf %c", &p.freq_hz, &p.gain,
				      &p.sys_phase_rad, &extra) != 3 ||
		    !isfinite(p.freq_hz) || !(p.freq_hz > 0) || !isfinite(p.gain) ||
		    !(p.gain > 0) || !isfinite(p.sys_phase_rad) ||
		    (i > 0 && !(p.freq_hz > cal[i - 1].freq_hz))) {
			rc = bad(err, err_size, path, ln, "not a point (FREQ GAIN PHASE, rising)");
			goto out;
		}
		cal[i] = p;
	}
	if (!NEXT() || strcmp(line, "end\n")) {
		rc = bad(err, err_size, path, ln, "cut short (no end line)");
		goto out;
	}
#undef NEXT
	*ret_info = info;
	rc = (int)n;
out:
	fclose(f);
	return rc;
}

/*
 * Patient file, one item per line:
 *   twitchd-patient 1
 *   device NAME
 *   subject none | subject SPEC TIME_REAL_NS   (SPEC as `twitchctl subject`)
 *   baseline none | baseline N HAS_TEMP R_OHM U_OHM PHYS_VAR TEMP_C PHA_DEG
 *                            ECW_TBW TIME_REAL_NS   (%.17g; NaN as "nan")
 *   end
 */
#define PATIENT_MAGIC	"twitchd-patient 1"
_Static_assert(SWEEPCSV_SUBJECT_MAX == 256, "the subject's sscanf width is 256");

struct patient_body {
	const char *dev;
	const struct calstore_patient *p;
};

static void put_patient(FILE *f, const void *arg)
{
	const struct patient_body *b = arg;
	const struct calstore_patient *p = b->p;
	const struct bioz_subject *s = &p->subject;
	const struct bioz_ri_baseline *r = &p->baseline;

	fprintf(f, PATIENT_MAGIC "\ndevice %s\n", b->dev);
	if (p->has_subject) {
		fprintf(f, "subject height_cm=%.17g,weight_kg=%.17g,sex=%s", s->height_cm,
			s->weight_kg, s->sex == BIOZ_SEX_FEMALE ? "f" : "m");
		if (isfinite(s->age_y))
			fprintf(f, ",age=%.17g", s->age_y);
		fprintf(f, " %" PRIu64 "\n", p->subject_t_real_ns);
	} else {
		fprintf(f, "subject none\n");
	}
	if (p->has_baseline)
		fprintf(f, "baseline %" PRIu32 " %" PRIu32 " %.17g %.17g %.17g %.17g %.17g %.17g "
			"%" PRIu64 "\n", r->n, r->has_temp, r->r_ohm, r->u_ohm, r->phys_var,
			r->temp_c, r->pha_deg, r->ecw_tbw, p->baseline_t_real_ns);
	else
		fprintf(f, "baseline none\n");
	fprintf(f, "end\n");
}

int calstore_save_patient(const char *dir, const char *dev, const struct calstore_patient *p,
			  char *err, size_t err_size)
{
	const struct patient_body b = { dev, p };
	char tmp[512], path[512];

	if (path_of(dir, "patient", dev, ".tmp", tmp, sizeof(tmp)) < 0 ||
	    path_of(dir, "patient", dev, "", path, sizeof(path)) < 0) {
		snprintf(err, err_size, "state directory %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	return write_atomic(tmp, path, put_patient, &b, err, err_size);
}

int calstore_load_patient(const char *dir, const char *dev, struct calstore_patient *ret,
			  char *err, size_t err_size)
{
	struct calstore_patient p = { 0 };
	struct sweepcsv_err serr;
	char path[512], line[512], spec[SWEEPCSV_SUBJECT_MAX + 2], extra;
	unsigned int ln;
	FILE *f;
	int rc;

	rc = open_checked(dir, "patient", dev, PATIENT_MAGIC, path, sizeof(path), &ln, &f, err,
			  err_size);
	if (rc < 0)
		return rc;
	rc = -EINVAL;
#define NEXT() next_line(f, line, sizeof(line), &ln)
	if (!NEXT()) {
		rc = bad(err, err_size, path, ln, "cut short (no subject line)");
		goto out;
	}
	if (strcmp(line, "subject none\n")) {
		if (sscanf(line, "subject %256s %" SCNu64 " %c", spec,
			   &p.subject_t_real_ns, &extra) != 2 ||
		    sweepcsv_subject_parse("", spec, &p.subject, &serr) < 0) {
			rc = bad(err, err_size, path, ln, "not a subject (SPEC TIME or none)");
			goto out;
		}
		p.has_subject = true;
	}
	if (!NEXT()) {
		rc = bad(err, err_size, path, ln, "cut short (no baseline line)");
		goto out;
	}
	if (strcmp(line, "baseline none\n")) {
		struct bioz_ri_baseline *r = &p.baseline;

		if (sscanf(line, "baseline %" SCNu32 " %" SCNu32 " %lf %lf %lf %lf %lf %lf %" SCNu64
			   " %c", &r->n, &r->has_temp, &r->r_ohm, &r->u_ohm, &r->phys_var,
			   &r->temp_c, &r->pha_deg, &r->ecw_tbw, &p.baseline_t_real_ns,
			   &extra) != 9 ||
		    !bioz_ri_baseline_ok(r)) {
			rc = bad(err, err_size, path, ln, "not a baseline (9 values or none)");
			goto out;
		}
		if (r->n < CALSTORE_BASELINE_MIN_SWEEPS) {
			/* well-formed, but no spread to judge a change against */
			snprintf(err, err_size, "%s:%u: a baseline of %" PRIu32 " sweep%s, fewer "
				 "than %u", path, ln, r->n, r->n == 1 ? "" : "s",
				 CALSTORE_BASELINE_MIN_SWEEPS);
			p.baseline_refused = true;
		} else {
			p.has_baseline = true;
		}
	}
	if (!NEXT() || strcmp(line, "end\n")) {
		rc = bad(err, err_size, path, ln, "cut short (no end line)");
		goto out;
	}
#undef NEXT
	*ret = p;
	rc = 0;
out:
	fclose(f);
	return rc;
}

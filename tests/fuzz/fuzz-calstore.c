// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-calstore.c - libFuzzer entry point for daemon/calstore.c: the stored
 * calibration (calstore_load()) and patient file (calstore_load_patient())
 * read from a damaged or foreign state directory.
 *
 * Input layout: byte 0 bit 0 picks the file (0: calibration-fz, 1:
 * patient-fz); for a calibration, bit 1 set makes the room (max points)
 * (byte 0 >> 2) + 1 instead of BIOZLIVE_MAX_POINTS, as acquire.c asks. The
 * rest is the file, written into a private mkdtemp() directory under
 * $TMPDIR. What loads must survive the round trip (save, load again: the
 * same bits), and is then used as acquire.c uses it: loaded into a
 * bioz_live (the calibration, or the subject and the resistance-index
 * baseline beside a plain calibration) and run over three sweeps of a
 * Cole body as the AD5933 would report it through that calibration.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iipc -Idaemon \
 *	'-DCMPLX(x,y)=__builtin_complex((double)(x),(double)(y))' \
 *	tests/fuzz/fuzz-calstore.c daemon/bioz.c daemon/biozlive.c daemon/sweepcsv.c \
 *	ipc/record.c -lm -o fuzz-calstore
 *   (glibc defines CMPLX for GCC only; clang 14 has the builtin.)
 *   gcc -DFUZZ_STANDALONE -D_GNU_SOURCE -Iipc -Idaemon tests/fuzz/fuzz-calstore.c \
 *	daemon/bioz.c daemon/biozlive.c daemon/sweepcsv.c ipc/record.c -lm \
 *	-o fuzz-calstore && ./fuzz-calstore CORPUS-FILES...
 */
#include <fcntl.h>
#include <unistd.h>

#include "../../daemon/calstore.c"
#include "biozlive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what the last input did, for the standalone replayer's report */
static char fuzz_result[1100];
static char fuzz_dir[4000];
static struct bioz_live fuzz_bz;

/* Three sweeps of a Cole body at the calibration's frequencies, as raw
 * int16 DFT words the AD5933 would give through that calibration. */
static int fuzz_sweeps(struct bioz_live *b)
{
	static double freq[BIOZLIVE_MAX_POINTS], iq[2 * BIOZLIVE_MAX_POINTS];
	struct bioz_estimate e;
	size_t i, n = b->n_cal;
	int s, r = 0, ok = 0;

	for (s = 0; s < 3; s++) {
		for (i = 0; i < n; i++) {
			double zr, zx, m, th;

			freq[i] = b->cal[i].freq_hz;
			bioz_cole_z(freq[i], 600.0 + s, 400.0, 50000.0, 0.7, 0.0, &zr, &zx);
			m = 1.0 / (b->cal[i].gain * hypot(zr, zx));
			th = atan2(zx, zr) + b->cal[i].sys_phase_rad;
			iq[2 * i] = fmax(-32768.0, fmin(32767.0, round(m * cos(th))));
			iq[2 * i + 1] = fmax(-32768.0, fmin(32767.0, round(m * sin(th))));
		}
		r = bioz_live_sweep(b, (uint32_t)s, freq, iq, n, 60.0 * s, false, &e);
		if (r == 0) {
			ok++;
			/* a trusted fit has its parameters (else they may be NaN) */
			if (!(e.fit_flags & BIOZ_FIT_UNTRUSTED_MASK) &&
			    (!isfinite(e.r0_ohm) || !isfinite(e.rinf_ohm)))
				abort();
		}
	}
	return ok ? ok : r;
}

static void fuzz_calibration(size_t max)
{
	static struct bioz_cal_point cal[BIOZLIVE_MAX_POINTS], back[BIOZLIVE_MAX_POINTS];
	struct calstore_info info, info2;
	char err[600];
	int n, n2;
	size_t i;

	n = calstore_load(fuzz_dir, "fz", cal, max, &info, err, sizeof(err));
	if (n < 0) {
		if (n == -EINVAL && !strstr(err, "calibration-fz:"))
			abort();	/* the message names the file and line */
		snprintf(fuzz_result, sizeof(fuzz_result), "rejected: %s", err);
		return;
	}
	if (n < 2 || (size_t)n > max)
		abort();
	/* what loads is tied to analog settings an AD5933 can have */
	if (info.excitation_mv < 1 || info.excitation_mv > 5000 ||
	    (info.pga_gain != 1 && info.pga_gain != 5))
		abort();
	for (i = 0; i < (size_t)n; i++)
		if (!(cal[i].freq_hz > 0) || !isfinite(cal[i].freq_hz) || !(cal[i].gain > 0) ||
		    !isfinite(cal[i].gain) || !isfinite(cal[i].sys_phase_rad) ||
		    (i > 0 && !(cal[i].freq_hz > cal[i - 1].freq_hz)))
			abort();
	/* the round trip: what was accepted is written and read back bit for bit */
	if (calstore_save(fuzz_dir, "rt", cal, (size_t)n, &info, err, sizeof(err)) < 0)
		abort();
	n2 = calstore_load(fuzz_dir, "rt", back, (size_t)n, &info2, err, sizeof(err));
	if (n2 != n || memcmp(cal, back, (size_t)n * sizeof(cal[0])) ||
	    memcmp(&info, &info2, sizeof(info)))
		abort();
	memcpy(fuzz_bz.cal, cal, (size_t)n * sizeof(cal[0]));
	fuzz_bz.n_cal = (size_t)n;
	fuzz_bz.cal_from_file = true;
	fuzz_bz.cal_excitation_mv = info.excitation_mv;
	fuzz_bz.cal_pga_gain = info.pga_gain;
	/* the device at the file's settings, as acquire.c finds it (else nothing applies) */
	if (bioz_live_set_analog(&fuzz_bz, info.excitation_mv, info.pga_gain) != 0)
		abort();
	snprintf(fuzz_result, sizeof(fuzz_result), "ok: %d points, sweeps: %d", n,
		 fuzz_sweeps(&fuzz_bz));
}

static void fuzz_patient(void)
{
	struct calstore_patient p, p2;
	char err[600];
	size_t i;
	int r;

	r = calstore_load_patient(fuzz_dir, "fz", &p, err, sizeof(err));
	if (r < 0) {
		if (r == -EINVAL && !strstr(err, "patient-fz:"))
			abort();
		snprintf(fuzz_result, sizeof(fuzz_result), "rejected: %s", err);
		return;
	}
	if (p.has_baseline && (!bioz_ri_baseline_ok(&p.baseline) ||
			       p.baseline.n < CALSTORE_BASELINE_MIN_SWEEPS || p.baseline_refused))
		abort();
	if (calstore_save_patient(fuzz_dir, "rt", &p, err, sizeof(err)) < 0 ||
	    calstore_load_patient(fuzz_dir, "rt", &p2, err, sizeof(err)) < 0)
		abort();
	/* field by field (padding; NaN != NaN) */
#define SAME(a, b) (memcmp(&(a), &(b), sizeof(a)) == 0 || ((a) == (b)))
	if (p.has_subject != p2.has_subject || p.has_baseline != p2.has_baseline ||
	    (p.has_subject && (!SAME(p.subject.height_cm, p2.subject.height_cm) ||
			       !SAME(p.subject.weight_kg, p2.subject.weight_kg) ||
			       p.subject.sex != p2.subject.sex ||
			       (!SAME(p.subject.age_y, p2.subject.age_y) &&
				!(isnan(p.subject.age_y) && isnan(p2.subject.age_y))) ||
			       p.subject_t_real_ns != p2.subject_t_real_ns)) ||
	    (p.has_baseline && (p.baseline.n != p2.baseline.n ||
				p.baseline.has_temp != p2.baseline.has_temp ||
				!SAME(p.baseline.r_ohm, p2.baseline.r_ohm) ||
				!SAME(p.baseline.u_ohm, p2.baseline.u_ohm) ||
				!SAME(p.baseline.phys_var, p2.baseline.phys_var) ||
				p.baseline_t_real_ns != p2.baseline_t_real_ns)))
		abort();
#undef SAME
	/* as acquire.c restores it, beside a plain calibration */
	for (i = 0; i < 96; i++) {
		fuzz_bz.cal[i].freq_hz = 5000.0 + 1000.0 * (double)i;
		fuzz_bz.cal[i].gain = 1.0 / (1000.0 * (12345.678 + (double)i / 3.0));
		fuzz_bz.cal[i].sys_phase_rad = -0.1 + 1e-3 * (double)i / 7.0;
	}
	fuzz_bz.n_cal = 96;
	fuzz_bz.cal_excitation_mv = 1980;
	fuzz_bz.cal_pga_gain = 5;
	if (bioz_live_set_analog(&fuzz_bz, 1980, 5) != 0)
		abort();
	if (p.has_subject) {
		fuzz_bz.subject = p.subject;
		fuzz_bz.has_subject = true;
	}
	if (p.has_baseline && bioz_ri_set_baseline(&fuzz_bz.ri, &p.baseline) < 0)
		abort();	/* the loader checked it with bioz_ri_baseline_ok() */
	snprintf(fuzz_result, sizeof(fuzz_result), "ok:%s%s, sweeps: %d",
		 p.has_subject ? " subject" : "", p.has_baseline ? " baseline" : "",
		 fuzz_sweeps(&fuzz_bz));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[4100];
	size_t max;
	int fd;

	if (size < 1)
		return 0;
	if (fuzz_dir[0] == '\0') {
		const char *t = getenv("TMPDIR");

		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz-calstore.XXXXXX",
			 t && *t ? t : "/tmp");
		if (mkdtemp(fuzz_dir) == NULL)
			abort();
	}
	bioz_live_deinit(&fuzz_bz);
	if (bioz_live_init(&fuzz_bz) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/%s-fz", fuzz_dir, data[0] & 1 ? "patient" : "calibration");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1) || close(fd) < 0)
		abort();
	max = data[0] & 2 ? (size_t)(data[0] >> 2) + 1 : BIOZLIVE_MAX_POINTS;
	if (data[0] & 1)
		fuzz_patient();
	else
		fuzz_calibration(max);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fuzz_cleanup(void)
{
	static const char *const files[] = { "calibration-fz", "patient-fz", "calibration-rt",
					     "patient-rt" };
	char path[4100];
	size_t k;

	bioz_live_deinit(&fuzz_bz);
	if (fuzz_dir[0]) {
		for (k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
			snprintf(path, sizeof(path), "%s/%s", fuzz_dir, files[k]);
			unlink(path);
		}
		rmdir(fuzz_dir);
	}
}

#define FUZZ_CLEANUP()	fuzz_cleanup()
#define FUZZ_NAME	"fuzz-calstore"
#include "fuzz-standalone.h"
#endif

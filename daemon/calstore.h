/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * calstore.h - keep a bioimpedance calibration across restarts of twitchd.
 *
 * A cart is calibrated once against a known resistor; a daemon restart
 * (an update, a crash, a reboot) must not silently leave it uncalibrated
 * or make the nurse do it again. One small text file per device in
 * twitchd's state directory, written atomically (temporary file, fsync,
 * rename), read strictly: a damaged or foreign file is ignored with one
 * message naming the file and line, never half-used.
 */
#ifndef TWITCHD_CALSTORE_H
#define TWITCHD_CALSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bioz.h"

struct calstore_info {
	double resistor_ohm;		/* the known resistor, or RS of an R-C phantom */
	double rp_ohm, c_f;		/* RS + (RP || C); 0: a plain resistor */
	uint64_t t_real_ns;		/* when it was made, CLOCK_REALTIME */
	/* the AD5933 settings it was made at, and holds for only (biozlive.h) */
	uint32_t excitation_mv;		/* output range, mV p-p: 1..5000 */
	uint32_t pga_gain;		/* 1 or 5 */
};

/*
 * Write @cal (n points) for device @dev into @dir. Return 0 or -errno, @err
 * says what; -EINVAL (nothing written) if @info has no valid analog settings.
 */
int calstore_save(const char *dir, const char *dev, const struct bioz_cal_point *cal, size_t n,
		  const struct calstore_info *info, char *err, size_t err_size);
/*
 * calstore_load() - read device @dev's calibration from @dir into @cal
 * (room for @max points). A file from before the analog settings were
 * recorded is refused (-EINVAL, @err: calibrate again): its gain factor may
 * be for another excitation range or PGA gain. Return: the number of
 * points, -ENOENT if there is none, -EINVAL for a damaged file (@err: file,
 * line, what), -errno.
 */
int calstore_load(const char *dir, const char *dev, struct bioz_cal_point *cal, size_t max,
		  struct calstore_info *ret_info, char *err, size_t err_size);

/*
 * The patient's context of one bioimpedance device: subject data and the
 * resistance-index baseline, so a daemon restart neither drops body-water
 * estimates nor silently re-baselines on a patient who has already shifted
 * (which would hide the shift). File patient-NAME beside the calibration.
 */
struct calstore_patient {
	bool has_subject;
	struct bioz_subject subject;
	uint64_t subject_t_real_ns;
	bool has_baseline;
	struct bioz_ri_baseline baseline;
	uint64_t baseline_t_real_ns;
	bool baseline_refused;		/* load: a baseline of too few sweeps, not restored */
};

/*
 * A restored baseline needs this many sweeps: one sweep has no spread, so
 * the index's uncertainty would rest on that sweep's fit alone.
 */
#define CALSTORE_BASELINE_MIN_SWEEPS 3u

int calstore_save_patient(const char *dir, const char *dev, const struct calstore_patient *p,
			  char *err, size_t err_size);
/*
 * Return 0, -ENOENT if there is none, -EINVAL for a damaged file (@err),
 * -errno. A well-formed baseline of fewer than CALSTORE_BASELINE_MIN_SWEEPS
 * sweeps is not restored: 0 with has_baseline false, baseline_refused true
 * and @err naming the file, line and why (the subject still loads).
 */
int calstore_load_patient(const char *dir, const char *dev, struct calstore_patient *ret,
			  char *err, size_t err_size);

#endif

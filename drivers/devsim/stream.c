// SPDX-License-Identifier: MIT
/*
 * stream.c - the simulated kernel buffer: scans into the device node.
 *
 * On buffer enable the layout is computed from the *_en files with the
 * kernel's rule, a kfifo of roundup_pow_of_two(buffer/length) scans is set
 * up and the stream starts at scan 0. Each tick makes the scans that are due
 * by CLOCK_MONOTONIC at the device's rate, drops new scans when the kfifo is
 * full (as iio_store_to_kfifo() does) and moves whole watermarks into the
 * node's pty. The AD5933 instead answers one frequency sweep per enable.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "devsim.h"
#include "source.h"
#include "subject.h"

/* A kfifo holds at most this much; more is refused like a failed kzalloc. */
#define STREAM_MAX_FIFO_BYTES	(64u << 20)

static size_t stream_pow2(size_t v)
{
	size_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static clockid_t stream_ts_clock(const struct devsim_dev *d)
{
	char path[PATH_MAX], buf[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/current_timestamp_clock", d->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return CLOCK_REALTIME;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (strncmp(buf, "monotonic_raw", 13) == 0)
		return CLOCK_MONOTONIC_RAW;
	if (strncmp(buf, "monotonic", 9) == 0)
		return CLOCK_MONOTONIC;
	if (strncmp(buf, "boottime", 8) == 0)
		return CLOCK_BOOTTIME;
	if (strncmp(buf, "tai", 3) == 0)
		return CLOCK_TAI;
	return CLOCK_REALTIME;
}

static int64_t stream_clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------ AD5933 */

/*
 * ad5933_point() - what the chip measures at point @k of the sweep: the
 * load's impedance (source_body_z()) turned into DFT words by the
 * subject's helper (AD5933 data sheet: magnitude 1 / (GF |Z|), phase that of
 * Z plus the system phase), GF = 1 / K with K scaled by the excitation range
 * and the PGA. This is what the ad5933 profile's calibration inverts.
 */
void ad5933_point(const struct devsim_dev *d, uint32_t k, double *ret_f_hz,
		  int16_t *ret_re, int16_t *ret_im)
{
	const struct devsim_ad5933 *a = &d->ad;
	double f = (double)(a->start_code + (uint64_t)k * a->inc_code) *
		   (double)(a->mclk_hz / 4) / 134217728.0;
	double k_eff = a->k_counts_ohm * (double)a->range_mv[a->range] / 1980.0 *
		       (a->pga_x1 ? 1.0 : 5.0);
	double r, x;

	*ret_f_hz = f;
	*ret_re = *ret_im = 0;
	if (source_body_z(&d->sp, a->load_r_ohm, f, &r, &x) == 0)
		subject_ad5933_codes(r, x, 1.0 / k_eff, a->phase_sys_rad, ret_re,
				     ret_im);	/* 1: saturated, as the chip would */
}

/* ------------------------------------------------------------ fifo */

static void stream_log(struct devsim_dev *d, const uint8_t *p, size_t n)
{
	while (d->log_fd >= 0 && n > 0) {
		ssize_t w = write(d->log_fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(d->log_fd);	/* disk full: stop logging, go on */
			d->log_fd = -1;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* kfifo_in() of one scan: all or nothing */
static bool stream_push(struct devsim_dev *d, const uint8_t *scan)
{
	size_t sb = d->layout.scan_bytes;
	size_t tail, first;

	if (d->fifo_used + sb > d->fifo_cap) {
		d->n_dropped++;
		return false;
	}
	tail = (d->fifo_head + d->fifo_used) % d->fifo_cap;
	first = d->fifo_cap - tail < sb ? d->fifo_cap - tail : sb;
	memcpy(d->fifo + tail, scan, first);
	memcpy(d->fifo, scan + first, sb - first);
	d->fifo_used += sb;
	d->n_pushed++;
	return true;
}

/*
 * Move bytes to the pty until it is full; a short write keeps its rest.
 * A full pty with data left asks the loop for EPOLLOUT on the master, so
 * the reader's pace, not our tick, sets the throughput.
 */
static void stream_drain(struct devsim *ds, struct devsim_dev *d)
{
	while (d->fifo_used > 0) {
		size_t chunk = d->fifo_cap - d->fifo_head;
		ssize_t w;

		if (chunk > d->fifo_used)
			chunk = d->fifo_used;
		w = write(d->pty, d->fifo + d->fifo_head, chunk);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;		/* EAGAIN: the reader is behind */
		d->fifo_head = (d->fifo_head + (size_t)w) % d->fifo_cap;
		d->fifo_used -= (size_t)w;
		d->n_written_bytes += (size_t)w;
	}
	if (d->fifo_used == 0)
		d->draining = false;
	devsim_want_pollout(ds, d, d->fifo_used > 0);
}

/* EPOLLOUT on the master: the reader made room */
void stream_writable(struct devsim *ds, struct devsim_dev *d)
{
	if (d->enabled && !d->frozen && devsim_now_ns() >= d->stall_until_ns)
		stream_drain(ds, d);
	else
		devsim_want_pollout(ds, d, false);
}

/* ------------------------------------------------------------ enable */

static int stream_read_en(struct devsim_dev *d, size_t i)
{
	char path[PATH_MAX], buf[8] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/scan_elements/%s_en", d->dir,
		 d->elem[i].prefix);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && (buf[0] == '1' || buf[0] == 'y' || buf[0] == 'Y');
}

int stream_enable(struct devsim *ds, struct devsim_dev *d)
{
	struct scan_element in[DEVSIM_MAX_ELEMENTS];
	size_t i, n = 0, fifo_bytes;
	char err[128], path[PATH_MAX];
	int r;

	attr_refresh(ds, d);
	for (i = 0; i < d->n_elems; i++) {
		r = stream_read_en(d, i);
		if (r >= 0)
			d->elem[i].enabled = r;
		if (d->elem[i].enabled) {
			in[n].index = d->elem[i].index;
			in[n].type = d->elem[i].type;
			n++;
		}
	}
	if (n == 0)
		return -EINVAL;		/* "At least one scan element must be enabled" */
	r = scan_layout_compute(in, n, SCAN_RULE_KERNEL, &d->layout);
	if (r < 0)
		return r;
	for (i = 0; i < d->n_elems; i++) {
		size_t j;

		d->layout_pos[i] = -1;
		for (j = 0; j < d->layout.n_elements; j++)
			if (d->elem[i].enabled && d->layout.el[j].index == d->elem[i].index)
				d->layout_pos[i] = (int)j;
	}
	fifo_bytes = stream_pow2(d->length) * d->layout.scan_bytes;
	if (fifo_bytes > STREAM_MAX_FIFO_BYTES)
		return -ENOMEM;
	free(d->fifo);
	d->fifo = malloc(fifo_bytes);
	free(d->scan_buf);
	d->scan_buf = malloc(DEVSIM_GEN_SCANS * d->layout.scan_bytes);
	free(d->gen_uv);
	d->gen_uv = calloc((size_t)DEVSIM_GEN_SCANS * d->n_channels, sizeof(double));
	if (d->fifo == NULL || d->scan_buf == NULL || d->gen_uv == NULL)
		return -ENOMEM;
	if (d->kind != DEVSIM_AD5933 && d->src == NULL) {
		r = source_new(d->source_spec, &d->sp, d->n_channels,
			       (double)d->rate_hz, &d->src, err, sizeof(err));
		if (r < 0) {
			devsim_event(ds, d, "source-error %s", err);
			return r;
		}
	}
	d->fifo_cap = fifo_bytes;
	d->fifo_head = 0;
	d->fifo_used = 0;
	/* the kfifo is reset on enable: nothing stale reaches the reader */
	if (d->slave >= 0)
		tcflush(d->slave, TCIFLUSH);
	d->session++;
	d->n_produced = d->n_pushed = d->n_dropped = d->n_skipped = 0;
	d->n_written_bytes = 0;
	d->ad.next_point = 0;
	d->ts_clock = stream_ts_clock(d);
	d->t_enable_ns = devsim_now_ns();
	d->ts_enable_ns = stream_clock_ns(d->ts_clock) + d->ts_offset_ns;
	d->enabled = true;
	d->frozen = false;
	if (ds->log_bytes) {
		snprintf(path, sizeof(path), "%s/%s.s%u.bin", ds->ctl_dir, d->id,
			 d->session);
		d->log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	if (d->src != NULL) {
		/* the subject's events of this session, scan indexes from 0 */
		snprintf(path, sizeof(path), "%s/%s.s%u.truth.jsonl", ds->ctl_dir,
			 d->id, d->session);
		if (source_has_truth(d->src))
			d->truth_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
					   0644);
		r = source_restart(d->src, (double)d->rate_hz, d->truth_fd);
		if (r < 0) {
			devsim_event(ds, d, "source-error cannot restart at %u Hz: %s",
				     d->rate_hz, strerror(-r));
			stream_disable(ds, d, "source");
			return r;
		}
	}
	devsim_event(ds, d, "enable session=%u scan_bytes=%zu elements=%zu rate_hz=%u "
		     "length=%u fifo_scans=%zu watermark=%u", d->session,
		     d->layout.scan_bytes, d->layout.n_elements, d->rate_hz,
		     d->length, stream_pow2(d->length), d->watermark);
	return 0;
}

/*
 * Stop delivering and drop what the pty holds: the buffer/enable file was
 * written, so the writer is stopping or restarting the buffer. The kernel
 * would do that synchronously in the write; we learn of it a little later.
 */
void stream_freeze(struct devsim_dev *d)
{
	d->frozen = true;
	d->draining = false;
	if (d->slave >= 0)
		tcflush(d->slave, TCIFLUSH);
}

/*
 * The kernel keeps the kfifo readable after a disable until the next
 * enable; we drop it at once, because our disable comes late (see
 * stream_freeze()) and a new reader must not get the old session's scans.
 */
void stream_disable(struct devsim *ds, struct devsim_dev *d, const char *why)
{
	if (!d->enabled)
		return;
	stream_freeze(d);
	devsim_want_pollout(ds, d, false);
	d->enabled = false;
	devsim_event(ds, d, "disable session=%u why=\"%s\" produced=%llu pushed=%llu "
		     "dropped=%llu skipped=%llu unsent_bytes=%zu", d->session, why,
		     (unsigned long long)d->n_produced,
		     (unsigned long long)d->n_pushed,
		     (unsigned long long)d->n_dropped,
		     (unsigned long long)d->n_skipped, d->fifo_used);
	if (d->log_fd >= 0) {
		close(d->log_fd);
		d->log_fd = -1;
	}
	if (d->truth_fd >= 0) {
		close(d->truth_fd);
		d->truth_fd = -1;
	}
}

/* ------------------------------------------------------------ tick */

static int64_t stream_code(const struct devsim_dev *d, double uv, double lsb,
			   const struct scan_type *t)
{
	int bits = d->kind == DEVSIM_ADS131E08 ? model_raw_bits(d) : t->realbits;
	double lo, hi, v = round(uv / lsb);

	if (t->is_signed) {
		lo = -ldexp(1.0, bits - 1);
		hi = ldexp(1.0, bits - 1) - 1.0;
	} else {
		lo = 0.0;
		hi = ldexp(1.0, bits) - 1.0;
	}
	if (!(v >= lo))		/* also NaN */
		v = lo;
	if (v > hi)
		v = hi;
	return (int64_t)v;
}

/* Put a fresh scan through the faults and into the kfifo. */
static void stream_offer(struct devsim_dev *d, const uint8_t *scan,
			 uint64_t now_ns)
{
	d->n_produced++;
	if (d->skip_pending > 0) {
		d->skip_pending--;
		d->n_skipped++;
		return;
	}
	if (now_ns < d->stall_until_ns && d->stall_drop) {
		d->n_skipped++;
		return;
	}
	if (stream_push(d, scan))
		stream_log(d, scan, d->layout.scan_bytes);
}

static void stream_emg(struct devsim_dev *d, uint64_t now_ns)
{
	unsigned __int128 due128 = (unsigned __int128)(now_ns - d->t_enable_ns) *
				   d->rate_hz / 1000000000u;
	/* scans per second as made: the rate, off by the clock's error */
	double made_hz = (double)d->rate_hz * (1.0 + d->clock_ppm * 1e-6);
	uint64_t due = d->clock_ppm == 0.0 ? (uint64_t)due128 :
		       (uint64_t)((double)(now_ns - d->t_enable_ns) * made_hz / 1e9);
	size_t sb = d->layout.scan_bytes;
	double lsb = model_lsb_uv(d);

	while (d->n_produced < due) {
		size_t n = due - d->n_produced, i, e;

		if (n > DEVSIM_GEN_SCANS)
			n = DEVSIM_GEN_SCANS;
		source_fill(d->src, d->gen_uv, n);
		memset(d->scan_buf, d->dirty_bits ? 0xa5 : 0, n * sb);
		for (i = 0; i < n; i++) {
			uint8_t *scan = d->scan_buf + i * sb;
			const double *uv = d->gen_uv + i * d->n_channels;

			for (e = 0; e < d->n_elems; e++) {
				const struct devsim_elem *el = &d->elem[e];
				const struct scan_element *se;
				int64_t raw;

				if (d->layout_pos[e] < 0)
					continue;
				se = &d->layout.el[d->layout_pos[e]];
				if (el->is_timestamp) {
					uint64_t k = d->n_produced + i;

					raw = d->clock_ppm == 0.0 ?
					      d->ts_enable_ns + (int64_t)(
					      (unsigned __int128)k * 1000000000u /
					      d->rate_hz) :
					      d->ts_enable_ns + (int64_t)((double)k * 1e9 /
									  made_hz);
				} else {
					raw = stream_code(d, uv[e], lsb, &el->type);
				}
				scan_encode_raw(se, 0, raw, scan);
			}
		}
		for (i = 0; i < n; i++)
			stream_offer(d, d->scan_buf + i * sb, now_ns);
	}
}

static void stream_sweep(struct devsim *ds, struct devsim_dev *d, uint64_t now_ns)
{
	struct devsim_ad5933 *a = &d->ad;
	uint8_t scan[8] = { 0 };

	while (a->next_point <= a->n_increments) {
		uint64_t due = d->t_enable_ns +
			       ((uint64_t)a->init_ms +
				(uint64_t)(a->next_point + 1) * a->point_ms) * 1000000u;
		bool real_on = d->layout_pos[0] >= 0, imag_on = d->layout_pos[1] >= 0;
		int16_t re, im;
		double f;

		if (now_ns < due)
			break;
		ad5933_point(d, a->next_point, &f, &re, &im);
		if (real_on && imag_on) {
			scan_encode_raw(&d->layout.el[0], 0, re, scan);
			scan_encode_raw(&d->layout.el[1], 0, im, scan);
		} else {
			/*
			 * ad5933_work() picks the start register with
			 * test_bit(1, mask): one channel alone gets the
			 * other one's data. Reproduced on purpose.
			 */
			scan_encode_raw(&d->layout.el[0], 0, real_on ? im : re, scan);
		}
		devsim_event(ds, d, "sweep-point k=%u f_hz=%.3f real=%d imag=%d",
			     a->next_point, f, re, im);
		stream_offer(d, scan, now_ns);
		a->next_point++;
		if (a->next_point > a->n_increments)
			devsim_event(ds, d, "sweep-done points=%u", a->n_increments + 1);
	}
}

void stream_tick(struct devsim *ds, struct devsim_dev *d, uint64_t now_ns)
{
	if (!d->enabled || d->vanished)
		return;
	if (d->kind == DEVSIM_AD5933)
		stream_sweep(ds, d, now_ns);
	else
		stream_emg(d, now_ns);
	if (now_ns < d->stall_until_ns || d->frozen)
		return;
	/*
	 * poll() on the real node reports POLLIN at the watermark and the
	 * woken reader takes all there is; the pty would wake the reader for
	 * every byte. So: start handing over at a watermark, then everything.
	 */
	if (d->kind == DEVSIM_AD5933 ||
	    d->fifo_used >= (size_t)d->watermark * d->layout.scan_bytes ||
	    d->fifo_used >= d->fifo_cap)
		d->draining = true;
	if (d->draining)
		stream_drain(ds, d);
}

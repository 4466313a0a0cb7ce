/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * twitch.h - libtwitch, the client library of twitchd.
 *
 * twitchd publishes twitch events, sample blocks, bioimpedance estimates and
 * status through shared-memory broadcast rings. A client connects to the
 * daemon's control socket, receives the rings as sealed read-only memfds and
 * reads records from them without ever slowing the daemon down: a reader
 * that falls behind is told exactly how many records it lost.
 *
 * Conventions: functions return 0 (or a count) on success and a negative
 * errno on failure; ret_ parameters are written only on success; objects
 * are created by the _new and _connect functions and released by NULL-safe
 * _free functions that return NULL. The library never logs, exits or keeps global state.
 * Not thread-safe per object: use one client and its readers from one
 * thread at a time. twitchd is a monitoring aid, not a diagnostic device.
 */
#ifndef TWITCH_H
#define TWITCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TWITCH_API __attribute__((visibility("default")))

#define TWITCH_VERSION_MAJOR 1
#define TWITCH_VERSION_MINOR 3

/* Where twitchd listens unless $TWITCH_SOCKET or the caller says otherwise. */
#define TWITCH_SOCKET_DEFAULT "/run/twitchd/control.sock"

/* ------------------------------------------------------------------ */
/* Records. Frozen ABI: fixed-width fields only; to extend, add types. */

#define TWITCH_REC_TWITCH	1	/* struct twitch_rec_twitch */
#define TWITCH_REC_SAMPLES	2	/* struct twitch_rec_samples + data */
#define TWITCH_REC_BIOZ		3	/* struct twitch_rec_bioz */
#define TWITCH_REC_STATUS	4	/* struct twitch_rec_status */
#define TWITCH_REC_LOSS		5	/* struct twitch_rec_loss */
#define TWITCH_REC_MARKER	6	/* struct twitch_rec_marker */
#define TWITCH_REC_TEST		7	/* struct twitch_rec_test (benchmarks) */
#define TWITCH_REC_RATES	8	/* struct twitch_rec_rates */
#define TWITCH_REC_EPOCH	9	/* struct twitch_rec_epoch */
#define TWITCH_REC_ALERT	10	/* struct twitch_rec_alert (since 1.1) */
#define TWITCH_REC_TWITCH_UPDATE 11	/* struct twitch_rec_twitch (since 1.2) */
#define TWITCH_REC_TYPE_MAX	11

#define TWITCH_DEVICE_NONE	UINT16_C(0xffff)
#define TWITCH_INDEX_NONE	UINT64_MAX

/* Every record starts with this; size covers the whole record. */
struct twitch_record_hdr {
	uint16_t type;		/* TWITCH_REC_* */
	uint16_t size;		/* bytes, multiple of 8 */
	uint16_t device;	/* device index, TWITCH_DEVICE_NONE if none */
	uint16_t flags;		/* per type, see below */
	uint64_t seqno;		/* record sequence number in its stream, from 0 */
	uint64_t t_mono_ns;	/* CLOCK_MONOTONIC, ns */
	uint64_t t_real_ns;	/* CLOCK_REALTIME, ns, for display only */
	uint64_t sample_index;	/* first/onset sample, TWITCH_INDEX_NONE if none */
};

/* flags of a record made by libtwitch itself rather than read from a ring */
#define TWITCH_RECF_LOCAL	UINT16_C(0x8000)

/* Twitch classes. */
#define TWITCH_CLASS_FASCICULATION	1	/* single potential, ~2-30 ms */
#define TWITCH_CLASS_DOUBLET		2	/* two potentials 30-35 ms apart and the like */
#define TWITCH_CLASS_MULTIPLET		3
#define TWITCH_CLASS_MYOCLONUS		4	/* fragmentary, <= 150 ms */
#define TWITCH_CLASS_PHASIC		5	/* burst 0.1-5 s */
#define TWITCH_CLASS_LIMB_MOVEMENT	6	/* AASM LM, 0.5-10 s */
#define TWITCH_CLASS_TONIC		7
#define TWITCH_CLASS_MAX		7
/* Artefacts: only in records flagged TWITCH_EVF_REJECT. */
#define TWITCH_CLASS_ART_MAINS		16
#define TWITCH_CLASS_ART_POP		17	/* electrode pop: step and decay */
#define TWITCH_CLASS_ART_CLIPPING	18	/* saturated, invalid or lost data */
#define TWITCH_CLASS_ART_COMMON_MODE	19	/* movement on every channel */

#define TWITCH_EVF_ONSET	UINT16_C(0x0001)	/* onset notice; updates, the final follow */
#define TWITCH_EVF_REJECT	UINT16_C(0x0002)	/* an artefact: retract its onset
							 * notice and updates */

/*
 * A twitch event: type TWITCH_REC_TWITCH (an onset notice, the final record,
 * or a rejection, by the flags above), or TWITCH_REC_TWITCH_UPDATE (since
 * 1.2, flags 0): the event as it stood when one of its potentials ended, for
 * displays, ahead of its final (which waits 60-80 ms after the event's
 * end); a later potential may still join it or it may be rejected. A
 * client that does not know type 11 skips it, and counts each event once.
 */
struct twitch_rec_twitch {
	struct twitch_record_hdr hdr;	/* sample_index = onset sample */
	uint64_t channel_mask;		/* every channel the potential was seen on */
	uint32_t channel;		/* primary channel, from 0 in the device's order */
	uint32_t twitch_class;		/* TWITCH_CLASS_* */
	uint32_t duration_samples;
	uint32_t index_epoch;		/* sample-index epoch of the device */
	float duration_ms;
	float peak_uv;
	float energy;			/* TKEO energy, uV^2 */
	float snr;			/* peak over noise floor */
	float noise_floor_uv;
	float rate_hz;			/* the device's sampling rate */
};

#define TWITCH_UNIT_UV		1	/* microvolts */
#define TWITCH_UNIT_OHM		2
#define TWITCH_UNIT_RAW		3	/* device counts: no scale known */

struct twitch_rec_samples {
	struct twitch_record_hdr hdr;	/* sample_index = index of the first scan */
	uint32_t index_epoch;		/* bumps when a device returns after loss */
	uint16_t n_channels;
	uint16_t n_scans;
	float rate_hz;
	uint32_t unit;			/* TWITCH_UNIT_* */
	float data[];			/* n_scans * n_channels, interleaved by scan */
};

/* Bioimpedance estimate. Absent values are NaN and their valid bit clear. */
#define TWITCH_BIOZF_TRUSTED	UINT32_C(0x0001)	/* fit passed every quality check */
#define TWITCH_BIOZF_SUBJECT	UINT32_C(0x0002)	/* subject data known: body water valid */
#define TWITCH_BIOZF_BASELINE	UINT32_C(0x0004)	/* resistance index valid */
#define TWITCH_BIOZF_BIVA	UINT32_C(0x0008)	/* BIVA point and class valid */
/* since 1.3: the body-water equations' population does not hold the subject
 * (BMI outside 16..34, or under 18 years); the numbers are extrapolated */
#define TWITCH_BIOZF_OUTSIDE_VALIDITY	UINT32_C(0x0010)
/* since 1.3: ICW from a Cole fit whose fc is outside the swept band */
#define TWITCH_BIOZF_ICW_EXTRAPOLATED	UINT32_C(0x0020)

/* Alert bits (struct twitch_rec_bioz.alerts): a change against the baseline. */
#define TWITCH_BIOZ_ALERT_PHA_DROP		UINT32_C(0x0001)	/* phase angle fell */
#define TWITCH_BIOZ_ALERT_ECW_TBW_RISE		UINT32_C(0x0002)	/* ECW/TBW rose */
#define TWITCH_BIOZ_ALERT_RE_INDEX		UINT32_C(0x0004)	/* resistance index moved */
#define TWITCH_BIOZ_ALERT_CO_OCCURRENCE	UINT32_C(0x0008)	/* twitch rate up with a shift */

/* model_ri values (since 1.1): the other model ids are only for twitch_model_name(). */
#define TWITCH_MODEL_RI_TEMP_COMP	16	/* compensated to the baseline's temperature */
#define TWITCH_MODEL_RI_NOT_COMP	17	/* no tissue temperature: not compensated */

struct twitch_rec_bioz {
	struct twitch_record_hdr hdr;	/* sample_index = sweep number */
	uint32_t flags;			/* TWITCH_BIOZF_* */
	uint32_t n_points;		/* frequencies in the sweep */
	uint32_t n_used;		/* used by the fit (outliers dropped) */
	uint32_t biva_class;		/* 50, 75, 95 or 100 (outside 95%) */
	uint16_t model_fit;		/* model ids: names via twitch_model_name() */
	uint16_t model_ecw;
	uint16_t model_tbw_sf;
	uint16_t model_biva;
	uint32_t alerts;		/* alert bits raised by this sweep */
	uint16_t model_ri;		/* the resistance index's model: temperature-
					 * compensated or not (since 1.1; 0 before) */
	uint16_t _reserved;
	double r0_ohm, rinf_ohm, alpha, fc_hz;
	double r50_ohm, xc50_ohm, phase_deg_50k;
	double ecw_l, icw_l, tbw_l, tbw_sf_l, ecw_tbw;
	double biva_r_h, biva_xc_h;	/* ohm/m */
	double ri_index, ri_uncert;	/* extracellular-resistance index vs baseline */
	double temp_c;			/* tissue temperature used, NaN if none given */
	double rms_residual_ohm;
};

/* Status states. */
#define TWITCH_STATUS_DAEMON_START	1
#define TWITCH_STATUS_DAEMON_STOP	2
#define TWITCH_STATUS_DEVICE_UP		3
#define TWITCH_STATUS_DEVICE_LOST	4
#define TWITCH_STATUS_CONFIG_RELOADED	5
#define TWITCH_STATUS_HEARTBEAT		6
/* made by libtwitch (TWITCH_RECF_LOCAL): */
#define TWITCH_STATUS_DAEMON_GONE	16	/* socket closed or ring closed */
#define TWITCH_STATUS_DAEMON_RESTARTED	17	/* reconnected to a new epoch */
#define TWITCH_STATUS_PRODUCER_STALLED	18	/* heartbeat older than 10 periods */

struct twitch_rec_status {
	struct twitch_record_hdr hdr;
	uint32_t state;			/* TWITCH_STATUS_* */
	uint32_t index_epoch;
	uint32_t n_channels;
	float rate_hz;
	char profile[24];		/* NUL-terminated */
	char dev_name[24];		/* NUL-terminated */
	char text[96];			/* NUL-terminated, human-readable */
};

#define TWITCH_LOSS_DEVICE_OVERRUN	1	/* the device or kernel dropped scans */
#define TWITCH_LOSS_GAP			2	/* shortfall against elapsed time */
#define TWITCH_LOSS_READER_LAPPED	3	/* this reader was overtaken (local) */
#define TWITCH_LOSS_RESTART		4	/* records of an old epoch not seen (local) */

struct twitch_rec_loss {
	struct twitch_record_hdr hdr;	/* sample_index = first lost sample if known */
	uint32_t reason;		/* TWITCH_LOSS_* */
	uint32_t exact;			/* 1: count is exact; 0: within one block */
	uint64_t count;			/* scans (device) or records (reader) lost */
};

#define TWITCH_MARKER_MAX	160

struct twitch_rec_marker {
	struct twitch_record_hdr hdr;
	uint32_t client_pid;
	uint32_t client_uid;
	uint32_t len;			/* bytes of text, without the NUL */
	uint32_t _reserved;
	char text[TWITCH_MARKER_MAX];	/* NUL-terminated UTF-8 */
};

/* Twitch rates of one channel, like a load average; published every 10 s. */
struct twitch_rec_rates {
	struct twitch_record_hdr hdr;	/* sample_index = the index they hold at */
	uint32_t channel;
	uint32_t index_epoch;
	float per_min_1;		/* twitches per minute over the last 1, 5, 15 min */
	float per_min_5;		/* (divided by the time covered until the */
	float per_min_15;		/* window is full) */
	float covered_s;
	float noise_floor_uv;		/* noise RMS estimate of the channel */
	float _reserved;
};

/*
 * Sleep-lab metrics of one channel over one epoch (30 s). twitchd has no
 * sleep stages: a scoring program combines these with its own.
 */
#define TWITCH_EPF_RSWA_PHASIC	UINT32_C(0x0001)	/* >= 50% phasic mini-epochs */
#define TWITCH_EPF_EFM		UINT32_C(0x0002)	/* >= 5 potentials/min over 20 min */
#define TWITCH_EPF_PARTIAL	UINT32_C(0x0004)	/* the stream started inside it */

struct twitch_rec_epoch {
	struct twitch_record_hdr hdr;	/* sample_index = the epoch's first sample */
	uint32_t channel;
	uint32_t epoch_samples;
	uint32_t n_mini;		/* 3-s mini-epochs */
	uint32_t phasic_mini_mask;	/* bit i: mini-epoch i has a phasic burst */
	uint32_t n_twitches;
	uint32_t n_fm_potentials;	/* fragmentary myoclonus potentials */
	uint32_t n_lm;			/* limb movements */
	uint32_t flags;			/* TWITCH_EPF_* */
	float fmi_per_min;		/* fragmentary myoclonus index, this epoch */
	float fmi_window_per_min;	/* over the last 20 min */
	float background_uv;		/* resting mean |x| */
	uint32_t index_epoch;
};

/*
 * An alert raised or cleared by a bioimpedance sweep: a change against the
 * patient's own baseline beyond a configured threshold. One record per
 * change of state, so a subscriber sees each alert once, not once a sweep.
 * A monitoring aid: an alert claims no cause and no diagnosis.
 * For TWITCH_BIOZ_ALERT_CO_OCCURRENCE the value is the rising channel's
 * twitch rate over the last 5 min, the baseline its rate over the 10 min
 * before (per minute), and the text names the EMG device and channel.
 */
#define TWITCH_ALERT_RAISED	1
#define TWITCH_ALERT_CLEARED	2

struct twitch_rec_alert {
	struct twitch_record_hdr hdr;	/* sample_index = the sweep that changed it */
	uint32_t alert;			/* one TWITCH_BIOZ_ALERT_* bit */
	uint32_t state;			/* TWITCH_ALERT_RAISED or TWITCH_ALERT_CLEARED */
	double value;			/* the quantity now; NaN if none */
	double baseline;		/* its baseline; NaN if none */
	double threshold;		/* the limit it is judged against; NaN if none */
	double uncertainty;		/* of value, same unit; NaN if not known */
	char text[96];			/* NUL-terminated, human-readable */
};

struct twitch_rec_test {
	struct twitch_record_hdr hdr;
	uint64_t intended_ns;		/* intended send time, CLOCK_MONOTONIC */
	uint64_t check;			/* a function of seqno, to catch torn reads */
};

/* ------------------------------------------------------------------ */
/* Connection to the daemon. */

struct twitch_client;
struct twitch_reader;

struct twitch_stream_info {
	char name[24];			/* e.g. "events", "samples0" */
	uint32_t type;			/* 1 events, 2 samples, 3 test */
	uint32_t device;		/* device index of a samples stream, else UINT32_MAX */
	uint32_t slot_size;		/* bytes */
	uint32_t n_slots;
	uint32_t max_record;		/* largest record the stream can hold, bytes */
};

/*
 * twitch_client_connect() - connect to twitchd and map its streams read-only.
 * @path: control socket; NULL means $TWITCH_SOCKET, else TWITCH_SOCKET_DEFAULT.
 * Return: 0 and a new client in *ret (the caller owns it), -ENOENT or
 * -ECONNREFUSED if no daemon listens, -EACCES if the socket or the daemon
 * refused this user (see the twitchd group), -EPROTO on a malformed answer.
 * Blocks for at most about 2 s.
 */
TWITCH_API int twitch_client_connect(const char *path, struct twitch_client **ret);
/* Exit codes shared by the client tools (twitchctl(1) documents them). */
#define TWITCH_EXIT_NODAEMON	3	/* twitchd not running */
#define TWITCH_EXIT_PERM	4	/* refused: not in the twitchd group */

/*
 * twitch_connect_strerror() - one line for the user on why
 * twitch_client_connect(@path) failed with @err (@path NULL: the default),
 * without a trailing newline, into @buf.
 * Return: the exit code the client tools use for it: TWITCH_EXIT_NODAEMON,
 * TWITCH_EXIT_PERM, or 1.
 */
TWITCH_API int twitch_connect_strerror(int err, const char *path, char *buf, size_t size);

/* Releases the client. Every reader of it must be freed first. NULL-safe. */
TWITCH_API struct twitch_client *twitch_client_free(struct twitch_client *c);

TWITCH_API int twitch_client_n_streams(const struct twitch_client *c);
TWITCH_API int twitch_client_stream_info(const struct twitch_client *c, unsigned int i,
					 struct twitch_stream_info *ret);
/* 32 hex digits of the daemon's epoch, NUL-terminated, into buf[33]. */
TWITCH_API int twitch_client_epoch(const struct twitch_client *c, char buf[33]);

/*
 * twitch_client_command() - send one control command and read its answer.
 * @cmd: one line, e.g. "mark lights off", "ping"; at most 480 bytes.
 * @reply: receives the daemon's answer text (NUL-terminated), may be NULL.
 * Return: 0 if the daemon answered OK, the daemon's positive error number
 * (an errno value, e.g. EINVAL for bad arguments) if it refused, -errno if
 * the command could not be exchanged. Blocks for at most about 2 s; after
 * -ETIMEDOUT, the late answer is read and dropped before the next command,
 * so that it is never taken for that command's answer.
 */
TWITCH_API int twitch_client_command(struct twitch_client *c, const char *cmd,
				     char *reply, size_t reply_size);

/* ------------------------------------------------------------------ */
/* Readers. */

#define TWITCH_FROM_NEWEST	UINT64_C(0)		/* backlog: only new records */
#define TWITCH_FROM_OLDEST	UINT64_MAX		/* backlog: all retained */

/*
 * twitch_reader_new() - start reading stream @name of @c.
 * @backlog: how many already published records to deliver first (clamped to
 * what the ring still holds); TWITCH_FROM_NEWEST or TWITCH_FROM_OLDEST.
 * The reader borrows @c, which must outlive it.
 * Return: 0 and a new reader in *ret, -ENOENT for an unknown stream.
 */
TWITCH_API int twitch_reader_new(struct twitch_client *c, const char *name, uint64_t backlog,
				 struct twitch_reader **ret);
TWITCH_API struct twitch_reader *twitch_reader_free(struct twitch_reader *r);

/*
 * twitch_reader_next() - copy the next record into @buf.
 * @timeout_ms: 0 polls, -1 waits for ever; otherwise the longest wait.
 * Spins briefly, then sleeps on the ring's futex word.
 * Return: the record's size (> 0) when a record was copied, 0 on timeout,
 * -EMSGSIZE if @buf_size is smaller than the stream's max_record, -EPROTO if
 * the ring holds a malformed record or one of a type this library does not
 * know (the reader then skips it: call again).
 * Besides the daemon's records it delivers local ones (TWITCH_RECF_LOCAL):
 * a TWITCH_REC_LOSS with reason READER_LAPPED and the exact count when the
 * ring overtook the reader, and TWITCH_REC_STATUS DAEMON_GONE,
 * DAEMON_RESTARTED or PRODUCER_STALLED. After a restart the reader
 * reconnects by itself and continues with the new daemon's records (a
 * stream the new daemon has not made yet, such as the samples of a device
 * not open yet, is waited for); if it cannot read the new daemon's ring,
 * it returns -EPROTONOSUPPORT (a newer ring ABI) or -EPROTO (a malformed
 * ring header), again about every 0.2 s, until a daemon it can read is back.
 * A connection twitchd only dropped (a client over its command budget, or
 * not reading its replies) is reopened without a word: same daemon,
 * nothing lost.
 */
TWITCH_API int twitch_reader_next(struct twitch_reader *r, void *buf, size_t buf_size,
				  int timeout_ms);

/* Records this reader lost, in total since it was created: lapped, overwritten
 * before a seek, or published by a restarted daemon before it came back. */
TWITCH_API uint64_t twitch_reader_lost(const struct twitch_reader *r);

/*
 * twitch_reader_seek() - go on from record @seqno of the daemon's current
 * epoch, e.g. where a client stopped before it restarted (since 1.1).
 * Records the ring no longer holds are reported like a lapped read: one
 * local TWITCH_REC_LOSS (READER_LAPPED) with the exact count, then the
 * oldest record still held. A @seqno past the newest means "only new ones".
 * Return: 0, -ENOTCONN while the daemon is gone, -EBUSY if the reader's
 * queue of local records waiting to be delivered is full (three: read
 * them first).
 */
TWITCH_API int twitch_reader_seek(struct twitch_reader *r, uint64_t seqno);

/* How full a stream's ring is and where a reader stands in it (since 1.1). */
struct twitch_reader_stats {
	uint64_t published;		/* records published into the ring (its head) */
	uint64_t oldest;		/* seqno of the oldest record still safe to read */
	uint64_t position;		/* seqno of the reader's next record */
	uint64_t n_slots;		/* records the ring holds */
	uint64_t lost;			/* as twitch_reader_lost() */
	uint64_t heartbeat_age_ns;	/* since the producer's last heartbeat */
};

/*
 * twitch_reader_stats() - the ring's fill and the reader's place, without
 * reading a record. published - oldest is what a new reader could still
 * get; published - position is this reader's backlog.
 * Return: 0, or -ENOTCONN while the daemon is gone (nothing mapped).
 */
TWITCH_API int twitch_reader_stats(const struct twitch_reader *r,
				   struct twitch_reader_stats *ret);

/* ------------------------------------------------------------------ */
/* Helpers. */

/*
 * twitch_record_check() - validate a record's type and length.
 * Return: 0 if @rec (of @size bytes) is a well-formed record of a known
 * type, -EPROTO otherwise.
 */
TWITCH_API int twitch_record_check(const void *rec, size_t size);
/* Static names; "unknown" for values outside the ABI. */
TWITCH_API const char *twitch_record_type_name(unsigned int type);
TWITCH_API const char *twitch_class_name(unsigned int twitch_class);
TWITCH_API const char *twitch_status_name(unsigned int state);
TWITCH_API const char *twitch_loss_name(unsigned int reason);
TWITCH_API const char *twitch_model_name(unsigned int model);
/* The name of one TWITCH_BIOZ_ALERT_* bit, e.g. "phase_angle_drop" (since 1.1). */
TWITCH_API const char *twitch_alert_name(unsigned int alert_bit);

/*
 * twitch_record_json() - format a record as one JSON object (no newline).
 * Fields follow `twitchd --analyze`; absent values are null.
 * @t0_mono_ns: monotonic time that "t" is counted from (0: seconds of the
 * monotonic clock).
 * Return: the length written (excluding NUL), or -ENOSPC if @size is too
 * small, -EPROTO for a malformed record.
 */
TWITCH_API int twitch_record_json(const void *rec, size_t size, uint64_t t0_mono_ns,
				  char *buf, size_t buf_size);

#ifdef __cplusplus
}
#endif

#endif

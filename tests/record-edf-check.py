#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""record-edf-check.py - the independent side of tests/test-record-edf.sh.

  capture SECONDS OUT.npz STREAM [STOPFILE]
                                   a second client (libtwitch through ctypes,
                                   not twitch-record's code) keeps every sample
                                   record of STREAM and every final twitch
                                   event and marker of the events stream, for
                                   at most SECONDS or until STOPFILE exists
  check FILE CAPTURE.npz [--marker TEXT]... [--min-s S] [--max-s S] [--labels L,..]
        [--tail-gap must|may]
                                   checks FILE's structure (see below), reads
                                   it with MNE (python3-mne) and checks labels,
                                   rate, length, every sample against the
                                   capture (within one LSB), the twitch events
                                   and each marker as annotations. With
                                   --tail-gap, the recording must (may) end in
                                   zeros annotated "gap N samples DEV" within
                                   its last second: a stop in a file's first
                                   second, padded
  structure FILE [--labels L,..] [--transducers T,..]
                                   FILE's bytes against EDF+/BDF+ strictly,
                                   without EDFlib or MNE: at least one data
                                   record, a record count that matches the
                                   body, printable ASCII headers, signal labels
                                   unique, well-formed TALs with a timekeeping
                                   TAL per record and UTF-8 text; then the
                                   exact labels and transducer fields if given,
                                   and MNE reads it

Prints one line per check; exit 0 if all pass, 1 otherwise.
"""
import ctypes
import os
import re
import struct
import sys
import time

import numpy as np

HDR = struct.Struct("<HHHHQQQQ")        # struct twitch_record_hdr, 40 bytes
REC_TWITCH, REC_SAMPLES, REC_MARKER = 1, 2, 6
EVF_ONSET, EVF_REJECT = 1, 2
CLASSES = {1: "fasciculation", 2: "doublet", 3: "multiplet", 4: "myoclonus",
           5: "phasic", 6: "limb_movement", 7: "tonic"}


def capture(seconds, out, stream, stopfile):
    build = os.environ.get("TWITCH_BUILD", "build")
    lib = ctypes.CDLL(os.path.join(build, "libtwitch.so.1"))
    vp = ctypes.c_void_p
    lib.twitch_client_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)]
    lib.twitch_reader_new.argtypes = [vp, ctypes.c_char_p, ctypes.c_uint64,
                                      ctypes.POINTER(vp)]
    lib.twitch_reader_next.argtypes = [vp, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    c, rs, rev = vp(), vp(), vp()
    if lib.twitch_client_connect(None, ctypes.byref(c)) < 0:
        sys.exit("capture: cannot connect")
    if (lib.twitch_reader_new(c, stream.encode(), 0, ctypes.byref(rs)) < 0 or
            lib.twitch_reader_new(c, b"events", 0, ctypes.byref(rev)) < 0):
        sys.exit("capture: no stream " + stream)
    buf = ctypes.create_string_buffer(1 << 16)
    idx, data, twitches, markers = [], [], [], []
    rate = 0.0
    sys.stdout.write("capture: ready\n")
    sys.stdout.flush()
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (stopfile and os.path.exists(stopfile)):
        n = lib.twitch_reader_next(rs, buf, len(buf), 20)
        if n > 0:
            raw = buf.raw[:n]
            typ, _, _, _, _, tmono, _, sidx = HDR.unpack_from(raw)
            if typ == REC_SAMPLES:
                epoch, nch, nsc, rate, unit = struct.unpack_from("<IHHfI", raw, 40)
                v = np.frombuffer(raw, dtype="<f4", count=nch * nsc, offset=56)
                idx.append(np.arange(sidx, sidx + nsc, dtype=np.int64))
                data.append(v.reshape(nsc, nch).astype(np.float64))
        while True:
            n = lib.twitch_reader_next(rev, buf, len(buf), 0)
            if n <= 0:
                break
            raw = buf.raw[:n]
            typ, _, dev, flags, _, tmono, _, sidx = HDR.unpack_from(raw)
            if typ == REC_TWITCH and not flags & (EVF_ONSET | EVF_REJECT):
                _, ch, cls = struct.unpack_from("<QII", raw, 40)
                twitches.append((sidx, ch, cls))
            elif typ == REC_MARKER:
                text = raw[56:].split(b"\0", 1)[0].decode()
                markers.append(text)
    np.savez(out, idx=np.concatenate(idx), data=np.concatenate(data), rate=rate,
             twitches=np.array(twitches, dtype=np.int64).reshape(-1, 3),
             markers=np.array(markers, dtype=object), allow_pickle=True)


def header_lsb(path):
    """The largest physical step of one digital unit, from the file's header."""
    with open(path, "rb") as f:
        h = f.read(256)
        ns = int(h[252:256])
        s = f.read(ns * 256)

    def col(off, w):
        return [s[ns * off + k * w: ns * off + (k + 1) * w].decode().strip() for k in range(ns)]
    lsb = 0.0
    for lab, pmin, pmax, dmin, dmax in zip(col(0, 16), col(104, 8), col(112, 8), col(120, 8),
                                           col(128, 8)):
        if "Annotations" not in lab:
            lsb = max(lsb, (float(pmax) - float(pmin)) / (int(dmax) - int(dmin)))
    return lsb


TAL = re.compile(rb"([+-]\d+(?:\.\d+)?)(?:\x15(\d+(?:\.\d+)?))?\x14(.*)\x14", re.S)


class Checks:
    """ok(name, cond, detail): one "ok"/"FAIL" line per check; counts the fails."""

    def __init__(self):
        self.fails = 0

    def __call__(self, name, cond, detail=""):
        print("%s %s%s" % ("ok  " if cond else "FAIL", name, (": " + detail) if detail else ""))
        if not cond:
            self.fails += 1


def structure(path, ok):
    """Check the bytes of an EDF+/BDF+ file; return (labels, transducers)."""
    name = os.path.basename(path)
    d = open(path, "rb").read()
    h = d[:256]
    bdf = h[:1] == b"\xff"
    ok("%s: main header printable ASCII" % name,
       len(h) == 256 and all(32 <= b <= 126 for b in h[1 if bdf else 0:]))
    try:
        ns, hdr_bytes, nrec = int(h[252:256]), int(h[184:192]), int(h[236:244])
        rec_s = float(h[244:252])
    except ValueError:
        ok("%s: header numbers" % name, False, repr(h[184:256]))
        return [], []
    ok("header bytes", hdr_bytes == 256 * (ns + 1), "%d for %d signals" % (hdr_bytes, ns))
    s = d[256:hdr_bytes]
    ok("signal headers printable ASCII", all(32 <= b <= 126 for b in s))

    def col(off, w):
        return [s[ns * off + k * w: ns * off + (k + 1) * w].decode("latin1") for k in range(ns)]
    labels = [x.strip() for x in col(0, 16)]
    trans = [x.strip() for x in col(16, 80)]
    spr = [int(x) for x in col(216, 8)]
    annot = [k for k in range(ns) if labels[k] in ("EDF Annotations", "BDF Annotations")]
    data = [k for k in range(ns) if k not in annot]
    bps = 3 if bdf else 2
    rec_bytes = sum(spr) * bps
    body = len(d) - hdr_bytes
    ok("record count matches the body", nrec >= 1 and nrec * rec_bytes == body,
       "header %d, body %d bytes = %.3f records" % (nrec, body, body / rec_bytes))
    dl = [labels[k] for k in data]
    ok("data signal labels unique", len(set(dl)) == len(dl) and all(dl), ",".join(dl))
    offs = [sum(spr[:k]) * bps for k in range(ns)]
    errs, first = [], None
    for r in range(min(nrec, body // rec_bytes)):
        base = hdr_bytes + r * rec_bytes
        for j, k in enumerate(annot):
            raw = d[base + offs[k]: base + offs[k] + spr[k] * bps]
            for ti, t in enumerate(x for x in raw.split(b"\0") if x):
                m = TAL.fullmatch(t)
                if not m:
                    errs.append("record %d: bad TAL %r" % (r, t))
                    continue
                texts = m.group(3).split(b"\x14")
                if j == 0 and ti == 0:      # the record's timekeeping TAL
                    first = float(m.group(1)) if first is None else first
                    if texts != [b""] or abs(float(m.group(1)) - first - r * rec_s) > 1e-7:
                        errs.append("record %d: timekeeping TAL %r" % (r, t))
                    continue
                for tx in texts:
                    try:
                        tx.decode("utf-8")
                    except UnicodeDecodeError:
                        errs.append("record %d: text not UTF-8: %r" % (r, tx))
            if j == 0 and first is None:
                errs.append("record %d: no timekeeping TAL" % r)
    ok("TALs well-formed, timekeeping in each record, text UTF-8", not errs,
       "; ".join(errs[:3]))
    return dl, [trans[k] for k in data]


def check(path, cap_path, markers, min_s, max_s, labels, tail_gap=None):
    import mne
    mne.set_log_level("ERROR")
    ok = Checks()

    # several files (a rotation) are checked as one recording, in order
    parts, ann, t_s = [], [], 0.0
    for name in path.split(","):
        structure(name, ok)
        reader = mne.io.read_raw_bdf if name.endswith(".bdf") else mne.io.read_raw_edf
        try:
            raw = reader(name, preload=True)
        except Exception as e:                  # noqa: BLE001 (any refusal is the answer)
            ok("%s: MNE reads it" % os.path.basename(name), False, repr(e))
            return 1
        parts.append(raw.get_data() * 1e6)  # V -> uV
        ann += [(t_s + a["onset"], a["description"]) for a in raw.annotations]
        ok("%s: signal count" % os.path.basename(name), len(raw.ch_names) == len(labels),
           "%d" % len(raw.ch_names))
        ok("labels", raw.ch_names == labels, ",".join(raw.ch_names))
        rate = raw.info["sfreq"]
        ok("rate", rate == 4000.0, "%g Hz" % rate)
        t_s += parts[-1].shape[1] / rate
    x = np.concatenate(parts, axis=1)
    path = path.split(",")[0]
    n_ch, n_s = x.shape
    ok("length", min_s * rate <= n_s <= max_s * rate, "%d samples = %.2f s" % (n_s, n_s / rate))

    # a stop within a file's first second: that second ends in zeros, noted as a gap
    # (onsets come in steps of 100 us, truncated twice by EDFlib: within a sample)
    tail, tail_note = 0, None
    if tail_gap:
        for o, d in ann:
            w = d.split()
            if (len(w) == 4 and w[0] == "gap" and w[2] == "samples" and
                    abs(o * rate + int(w[1]) - n_s) <= 1 and int(w[1]) < rate):
                tail, tail_note = int(w[1]), (o, d)
        ok("ends in a gap noted as one (%s)" % tail_gap, tail > 0 or tail_gap == "may",
           "%d samples" % tail)
        if tail:
            lsb0 = header_lsb(path) * (1 + 1e-6)
            ok("the gap at the end is zeros", np.all(np.abs(x[:, n_s - tail:]) <= lsb0 / 2 + 1e-4))
            x = x[:, :n_s - tail]
            n_s -= tail
            ann.remove(tail_note)

    cap = np.load(cap_path, allow_pickle=True)
    cidx, cdat = cap["idx"], cap["data"]
    base = cidx[0]
    full = np.full((int(cidx[-1] - base) + 1, cdat.shape[1]), np.nan)
    full[cidx - base] = cdat
    # Find the capture index of the file's first sample: slide a window of
    # the file (taken where it is not a gap) over the capture.
    lsb = header_lsb(path) * (1 + 1e-6)
    half = lsb / 2 + 1e-4                     # float32 capture vs double scaling
    k0 = int(np.argmax(np.any(np.abs(x) > lsb, axis=0)))
    win = x[0, k0:k0 + 64]
    if len(win) < 64:
        ok("file found in the capture", False, "fewer than 64 samples to look for")
        return 1
    c0 = full[:, 0]
    sw = np.lib.stride_tricks.sliding_window_view(c0, 64)
    hits = np.nonzero(np.all(np.abs(sw - win) <= lsb, axis=1))[0]
    ok("file found in the capture", len(hits) == 1, "%d matches" % len(hits))
    if len(hits) != 1:
        return 1
    off = int(hits[0]) - k0                   # full[k + off] <-> x[:, k]
    span = min(n_s, full.shape[0] - off)
    ref = full[off:off + span].T
    got = x[:, :span]
    have = ~np.isnan(ref)
    err = np.abs(got[have] - ref[have])
    ok("samples equal the capture within half an LSB (%.4f uV)" % lsb, err.max() <= half,
       "%d values compared, max error %.4f uV" % (have.sum(), err.max()))
    ok("capture covers the file", span == n_s and have.all(axis=0).mean() > 0.9,
       "%d of %d samples seen by the capture" % (have.all(axis=0).sum(), n_s))
    gaps = ~have.all(axis=0)
    if gaps.any():
        # 0 uV is digital -0.5 with the digital range -2^(n-1)..2^(n-1)-1
        ok("gaps are zeros", np.all(np.abs(got[:, gaps]) <= half), "%d gap samples" % gaps.sum())
        noted = sum(int(d.split()[1]) for _, d in ann if d.startswith("gap "))
        ok("gaps annotated with their length", noted == gaps.sum(), "%d samples noted" % noted)

    # twitch events inside the file, at their sample index
    t0_index = base + off
    expect = [(float(s - t0_index) / rate, ch, CLASSES.get(int(cl), "unknown"))
              for s, ch, cl in cap["twitches"] if 0 <= s - t0_index < n_s - 0.2 * rate]
    found = 0
    for t, ch, cl in expect:
        want = "twitch %s ch%d " % (cl, ch)
        if any(abs(o - t) < 0.001 and d.startswith(want) for o, d in ann):
            found += 1
        else:
            print("     missing: %.4f s %s" % (t, want))
    # a file cut short by a stop may end before the first event was final
    ok("twitch events annotated at their onset",
       (expect or tail_gap is not None) and found == len(expect),
       "%d of %d" % (found, len(expect)))
    for marker in markers:
        ok("marker annotated", any(d == marker for _, d in ann), marker)
    print("     annotations: %d, e.g. %s" % (len(ann), ann[:4]))
    return 1 if ok.fails else 0


def structure_main(path, labels, transducers):
    import mne
    mne.set_log_level("ERROR")
    ok = Checks()
    dl, dt = structure(path, ok)
    if labels is not None:
        ok("labels", dl == labels.split(","), ",".join(dl))
    if transducers is not None:
        ok("transducers", dt == transducers.split(","), ",".join(dt))
    reader = mne.io.read_raw_bdf if path.endswith(".bdf") else mne.io.read_raw_edf
    try:
        raw = reader(path, preload=True)
        ok("MNE reads it", True, "%d signals, %d samples" % (len(raw.ch_names), raw.n_times))
    except Exception as e:                      # noqa: BLE001 (any refusal is the answer)
        ok("MNE reads it", False, repr(e))
    return 1 if ok.fails else 0


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "capture":
        capture(float(sys.argv[2]), sys.argv[3], sys.argv[4],
                sys.argv[5] if len(sys.argv) > 5 else None)
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "check":
        args = sys.argv[4:]
        opt = {"--min-s": "4", "--max-s": "6", "--labels": "", "--tail-gap": None}
        markers = []
        while args:
            if args[0] == "--marker":
                markers.append(args[1])
            elif args[0] in opt and (args[0] != "--tail-gap" or args[1] in ("must", "may")):
                opt[args[0]] = args[1]
            else:
                sys.exit(__doc__)
            args = args[2:]
        return check(sys.argv[2], sys.argv[3], markers, float(opt["--min-s"]),
                     float(opt["--max-s"]), opt["--labels"].split(","), opt["--tail-gap"])
    if len(sys.argv) >= 3 and sys.argv[1] == "structure":
        args = sys.argv[3:]
        opt = {"--labels": None, "--transducers": None}
        while args:
            if args[0] not in opt:
                sys.exit(__doc__)
            opt[args[0]] = args[1]
            args = args[2:]
        return structure_main(sys.argv[2], opt["--labels"], opt["--transducers"])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())

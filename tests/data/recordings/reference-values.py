#!/usr/bin/python3
"""Independent reference values for tests/test-recording.c.

Reads the real files in ../shared/data with nothing but the Python standard
library (struct over the raw bytes, the EDF header by fixed-width slicing),
following the format specifications, not twitchd's code. The test freezes the
printed values as constants; rerun this to see where each came from:

    /usr/bin/python3 tests/data/recordings/reference-values.py [SHARED_DIR]
"""
import struct
import sys

shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"
data = shared + "/data"


def wfdb16(name):
    raw = open(f"{data}/emgdb/{name}.dat", "rb").read()
    v = struct.unpack("<%dh" % (len(raw) // 2), raw)
    # WFDB: uV = (code - baseline) / gain * 1000, gain 10000/mV, baseline 0
    sat = [i for i, x in enumerate(v) if x <= -32767 or x >= 32767]
    print(f"{name}: n={len(v)} first={v[0]} last={v[-1]} mid[25000]={v[25000]} "
          f"sum={sum(v)} sumsq={sum(x * x for x in v)} min={min(v)} max={max(v)} "
          f"saturated={len(sat)} at {sat[:4]}")


def biosppy(name):
    vals = []
    for line in open(f"{data}/biosppy/{name}"):
        line = line.strip()
        if line and not line.startswith("#"):
            vals.append(float(line))
    # default conversion: BITalino EMG, uV = (x - 2048) * 3.3e6 / (1009 * 4096)
    k = 3.3e6 / (1009 * 4096)
    print(f"{name}: n={len(vals)} first={vals[0]!r} last={vals[-1]!r} "
          f"sum={sum(vals)!r} min={min(vals)} max={max(vals)} "
          f"first_uv={(vals[0] - 2048) * k!r} last_uv={(vals[-1] - 2048) * k!r}")


def edf(name):
    b = open(f"{data}/sleep-edf/{name}", "rb").read()
    ns = int(b[252:256])
    nrec = int(b[236:244])
    dur = float(b[244:252])
    off = 256

    def fld(w):
        nonlocal off
        r = [b[off + i * w:off + (i + 1) * w].decode("latin1").strip() for i in range(ns)]
        off += w * ns
        return r

    lab, _, dim, pmin, pmax, dmin, dmax, _, spr, _ = (
        fld(w) for w in (16, 80, 8, 8, 8, 8, 8, 80, 8, 32))
    spr = [int(x) for x in spr]
    recsz = 2 * sum(spr)
    hdr = 256 * (ns + 1)
    print(f"{name}: ns={ns} nrec={nrec} dur={dur} size={len(b)} "
          f"expect={hdr + nrec * recsz}")
    for s in range(ns):
        if lab[s] == "EDF Annotations":
            continue
        codes = []
        so = 2 * sum(spr[:s])
        for r in range(nrec):
            base = hdr + r * recsz + so
            codes += struct.unpack("<%dh" % spr[s], b[base:base + 2 * spr[s]])
        pn, px, dn, dx = float(pmin[s]), float(pmax[s]), int(dmin[s]), int(dmax[s])

        def phys(d):
            return pn + (d - dn) * (px - pn) / (dx - dn)
        nsat = sum(1 for d in codes if d <= dn or d >= dx)
        print(f"  {s} '{lab[s]}' [{dim[s]}] rate={spr[s] / dur} n={len(codes)} "
              f"first={phys(codes[0])!r} last={phys(codes[-1])!r} "
              f"codesum={sum(codes)} saturated={nsat}")
    # EDF+ annotations: TALs "+onset[\x15dur]\x14text\x14...\0"
    anns = []
    for s in range(ns):
        if lab[s] != "EDF Annotations":
            continue
        for r in range(nrec):
            base = hdr + r * recsz + 2 * sum(spr[:s])
            for tal in b[base:base + 2 * spr[s]].split(b"\0"):
                if not tal:
                    continue
                parts = tal.split(b"\x14")
                on, _, du = parts[0].partition(b"\x15")
                for t in parts[1:]:
                    if t:
                        anns.append((float(on), float(du) if du else -1, t.decode()))
    if anns:
        print(f"  annotations={len(anns)} first={anns[0]} second={anns[1]} last={anns[-1]}")


for n in ("emg_healthy", "emg_myopathy", "emg_neuropathy"):
    wfdb16(n)
for n in ("emg.txt", "emg_1.txt"):
    biosppy(n)
for n in ("short_psg.edf", "SC4001EC-Hypnogram.edf"):
    edf(n)

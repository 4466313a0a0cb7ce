#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# make-inputs.py - the small inputs of the --analyze regression replays.
#
#  sweeps.csv       synthetic bioimpedance sweeps (made by this project)
#  emg2ch.hea/.dat  a two-channel WFDB format-16 record cut from PhysioNet
#                   emgdb (ODC-By 1.0; see README.md)
#
# Usage (from anywhere): /usr/bin/python3 tests/replay/make-inputs.py [SHARED]
# SHARED is the shared folder holding data/emgdb (default: <root>/../shared).
# Standard library only. The outputs are committed; rerun only to change
# them, and rebuild the expected files afterwards (make replay-update).
import math
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared")


def cole(f, r0, rinf, fc, alpha):
    return rinf + (r0 - rinf) / (1 + (1j * f / fc) ** alpha)


def make_sweeps():
    # Body of bioimpedance.md section 11.2, subject M (175 cm, 75 kg, 40 y):
    # R0 600, Rinf 375 ohm, fc 50 kHz, alpha 0.70. Eight sweeps a minute
    # apart; the first five are the resistance-index baseline, then R0 and
    # Rinf rise 2 % a sweep (as when extracellular water falls). Gaussian
    # noise of 0.5 ohm on R and X; sweep 4 has a high-frequency hook on
    # its top three points (a lead-capacitance artefact the fit must drop).
    rng = random.Random(20240601)
    freqs = [5e3 * (200 ** (i / 49)) for i in range(50)]
    rows = []
    for k in range(8):
        grow = 1.0 + 0.02 * max(0, k - 4)
        r0, rinf = 600.0 * grow, 375.0 * grow
        temp_c = 34.0 + 0.1 * k
        for i, f in enumerate(freqs):
            z = cole(f, r0, rinf, 50e3, 0.70)
            r = z.real + rng.gauss(0.0, 0.5)
            x = z.imag + rng.gauss(0.0, 0.5)
            if k == 3 and i >= 47:
                x += (8.0, 15.0, 25.0)[i - 47]
            rows.append((k + 1, f, r, x, temp_c, 60.0 * k))
    with open(os.path.join(HERE, "sweeps.csv"), "w") as out:
        out.write("# Synthetic Cole-model sweeps for the --analyze replay; made by\n")
        out.write("# tests/replay/make-inputs.py (see README.md). Not patient data.\n")
        out.write("sweep,freq_hz,r_ohm,x_ohm,temp_c,t_s\n")
        for sw, f, r, x, t, ts in rows:
            out.write("%d,%.3f,%.4f,%.4f,%.1f,%.0f\n" % (sw, f, r, x, t, ts))


def make_emg2ch():
    # 3 s (samples 16000-27999) of emg_healthy and of emg_neuropathy, as
    # the two signals of one format-16 record, unmodified counts.
    start, n = 16000, 12000
    chans = []
    for rec in ("emg_healthy", "emg_neuropathy"):
        with open(os.path.join(SHARED, "data", "emgdb", rec + ".dat"), "rb") as f:
            f.seek(2 * start)
            data = f.read(2 * n)
        chans.append(struct.unpack("<%dh" % n, data))
    with open(os.path.join(HERE, "emg2ch.dat"), "wb") as out:
        for i in range(n):
            out.write(struct.pack("<hh", chans[0][i], chans[1][i]))
    with open(os.path.join(HERE, "emg2ch.hea"), "w") as out:
        out.write("emg2ch 2 4000 %d\n" % n)
        for c, label in ((0, "EMG healthy"), (1, "EMG neuropathy")):
            cs = sum(chans[c]) & 0xFFFF
            cs = cs - 0x10000 if cs >= 0x8000 else cs
            out.write("emg2ch.dat 16 10000/mV 16 0 %d %d 0 %s\n" % (chans[c][0], cs, label))
        out.write("# cut from PhysioNet emgdb 1.0.0 (doi:10.13026/C24S3D), ODC-By 1.0:\n")
        out.write("# samples 16000-27999 of emg_healthy and of emg_neuropathy\n")


make_sweeps()
make_emg2ch()

#!/usr/bin/python3
"""Write the seed corpus for tests/fuzz/fuzz-recording.c into ./fuzz/.

Each seed is one format-selector byte (see fuzz-recording.c) followed by a
small crafted file. All content is made up here; nothing is copied from data.
"""
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
os.makedirs(out, exist_ok=True)


def seed(name, sel, body):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([sel]) + body)


def edf(version, reserved, nrec, dur, sigs, records):
    ns = len(sigs)
    h = (version.ljust(8).encode("latin1") + b"X X X X".ljust(80) +
         b"Startdate X X X X".ljust(80) + b"01.01.24" + b"00.00.00" +
         str(256 * (ns + 1)).encode().ljust(8) + reserved.encode().ljust(44) +
         str(nrec).encode().ljust(8) + str(dur).encode().ljust(8) +
         str(ns).encode().ljust(4))
    for k, w in enumerate((16, 80, 8, 8, 8, 8, 8, 80, 8, 32)):
        for s in sigs:
            h += str(s[k]).encode("latin1").ljust(w)
    return h + b"".join(records)


w16 = struct.pack("<8h", 0, 100, -32768, 32767, 5, -5, 1234, -1234)
seed("wfdb16", 1, b"rec 2 1000 4\nrec.dat 16 200/mV 16 0 0 -31529 0 EMG a\n"
     b"rec.dat 16 1000(5)/uV 16 0\n# comment\n\0" + w16)
seed("wfdb212", 1, b"r 2 360 3\nr.dat 212 200 11 1024 995 -1054 0 MLII\n"
     b"r.dat 212 200 11 1024 1011 3063 0 V5\n\0" + bytes.fromhex("e333f3ff7fff000805"))
seed("wfdb-files", 1, b"t 3 50\na.dat 16 1/uV\na.dat 16 1/uV\nb.dat 80+9 1/uV\n\0" +
     bytes(range(12)))
sig_emg = ("EMG left", "", "uV", -100, 100, -1000, 1000, "", 4, "")
sig_ann = ("EDF Annotations", "", "", -1, 1, -32768, 32767, "", 16, "")
tal = [b"+0\x14\x14\0+0.25\x150.1\x14twitch\x14\0", b"+0.5\x14\x14\0+0.75\x14a\x14b\x14\0"]
recs = [struct.pack("<4h", 0, 10, -1000, 1000) + t.ljust(32, b"\0") for t in tal]
seed("edfplus", 2, edf("0", "EDF+C", 2, 0.5, [sig_emg, sig_ann], recs))
seed("edf-unknown-records", 2, edf("0", "", -1, 1, [sig_emg], [struct.pack("<4h", 1, 2, 3, 4)] * 3))
sig_bdf = ("EMG", "", "uV", -8388608, 8388607, -8388608, 8388607, "", 2, "")
seed("bdf", 2, edf("\xffBIOSEMI", "24BIT", 1, 1, [sig_bdf], [bytes.fromhex("563412feffff")]))
seed("text", 3, b"# Simple Text Format\n# Sampling Rate (Hz):= 1000.00\n# Resolution:= 12\n"
     b"# Labels:= EMG\n" + b"".join(b"%d\n" % (2048 + (i * 37) % 61 - 30) for i in range(40)))
seed("text-json", 3, b'# OpenSignals Text File Format\n# {"00:07": {"sampling rate": 500, '
     b'"resolution": [4, 1, 10], "column": ["nSeq", "A1"]}}\n# EndOfHeader\n'
     b"0\t512\n1\t0\n2\t1023\n")
seed("auto-text", 0, b"# Sampling Rate (Hz):= 100\n1 2\n3 4\n")

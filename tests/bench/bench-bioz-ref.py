#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench-bioz-ref.py - the Cole fit a competent user would write with SciPy,
the reference of tests/bench/bench-bioz.c (which runs this script with
Debian's /usr/bin/python3 and python3-scipy).

    bench-bioz-ref.py SPECTRA.csv

SPECTRA.csv: a line "freq_hz,f1,...,fN", then one line per sweep
"id,R1,...,RN,X1,...,XN" (ohm; X signed, negative for tissue).

The fit: scipy.optimize.least_squares (method 'trf', the default) on the
stacked real and imaginary residuals of the Cole model
    Z = Rinf + (R0 - Rinf) / (1 + (j f/fc)^alpha),
each divided by |Z| measured (the noise is proportional to |Z|), with the
robust loss 'soft_l1' and f_scale = 0.02 (twice the 1 % noise of the
spectra: residuals beyond it count less), x_scale='jac', bounds
R0, Rinf in (0, 10 max R], fc in [fmin/100, 100 fmax], alpha in [0.1, 1],
and x0 from the data: R0 = R at the lowest frequency, Rinf = R at the
highest, fc = the frequency of the largest -X, alpha = 0.7. Jacobian by
finite differences (the default, what most users leave).

Timing: the whole CSV is parsed first; one untimed warm-up fit; then each
fit (x0 and least_squares) is timed with time.perf_counter, and the loop's
CPU time with time.process_time (the caller sets OPENBLAS_NUM_THREADS etc.
to 1, so the fit is single-threaded). Results are printed after the loop:
    FIT id r0 rinf fc alpha us status nfev
    TOTAL n cpu_s wall_s
status is least_squares' (<= 0: not converged or failed; -9: exception).
"""
import sys
import time

try:
    import numpy as np
    from scipy.optimize import least_squares
except ImportError as e:
    print(f"bench-bioz-ref: {e} (install Debian's python3-scipy)", file=sys.stderr)
    sys.exit(3)


def cole(p, f):
    r0, rinf, fc, alpha = p
    return rinf + (r0 - rinf) / (1.0 + (1j * f / fc) ** alpha)


def residuals(p, f, z, w):
    d = (cole(p, f) - z) * w
    return np.concatenate((d.real, d.imag))


def fit(f, r, x):
    z = r + 1j * x
    w = 1.0 / np.abs(z)
    x0 = np.array([r[0], r[-1], f[np.argmax(-x)], 0.7])
    rmax = 10.0 * np.max(r)
    lb = np.array([1e-6, 1e-6, f[0] / 100.0, 0.1])
    ub = np.array([rmax, rmax, f[-1] * 100.0, 1.0])
    x0 = np.clip(x0, lb + 1e-9, ub - 1e-9)
    return least_squares(residuals, x0, args=(f, z, w), bounds=(lb, ub), loss="soft_l1",
                         f_scale=0.02, x_scale="jac")


def main():
    if len(sys.argv) != 2:
        print("usage: bench-bioz-ref.py SPECTRA.csv", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as fh:
        head = fh.readline().rstrip("\n").split(",")
        if head[0] != "freq_hz":
            print("bench-bioz-ref: bad CSV header", file=sys.stderr)
            return 2
        f = np.array([float(v) for v in head[1:]])
        n = len(f)
        sweeps = []
        for line in fh:
            v = line.rstrip("\n").split(",")
            a = np.array([float(t) for t in v[1:]])
            sweeps.append((v[0], a[:n].copy(), a[n:2 * n].copy()))
    if not sweeps:
        return 2

    fit(f, sweeps[0][1], sweeps[0][2])  # warm-up, untimed
    out = []
    cpu0 = time.process_time()
    wall = 0.0
    for sid, r, x in sweeps:
        t0 = time.perf_counter()
        try:
            res = fit(f, r, x)
            t1 = time.perf_counter()
            p, status, nfev = res.x, res.status, res.nfev
        except (ValueError, np.linalg.LinAlgError):
            t1 = time.perf_counter()
            p, status, nfev = (float("nan"),) * 4, -9, 0
        wall += t1 - t0
        out.append((sid, p, (t1 - t0) * 1e6, status, nfev))
    cpu = time.process_time() - cpu0
    for sid, p, us, status, nfev in out:
        print(f"FIT {sid} {float(p[0])!r} {float(p[1])!r} {float(p[2])!r} {float(p[3])!r} "
              f"{us:.3f} {int(status)} {int(nfev)}")
    print(f"TOTAL {len(out)} {cpu!r} {wall!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

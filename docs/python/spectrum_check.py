"""Reference values for vaekit's radially averaged power spectrum
(src/metrics/samples/spectrum.rs, test `matches_numpy_on_formula_images`).

    /work/venv/bin/python docs/python/spectrum_check.py

Builds two deterministic image sets [3, 2, 8, 6] (images, channels, rows,
cols) from an integer formula, exact in float32 on both sides, and computes
with numpy.fft.fft2, independently of vaekit's DFT:

    P(u, v) = |fft2(x - x.mean())|^2 / (rows * cols), averaged over images
    and channels;
    bin b = floor(N * rho + 1/2), rho = hypot(fftfreq(rows)[u], fftfreq(cols)[v]),
    N = max(rows, cols), bins 0 .. N // 2 kept (corners beyond dropped);
    power[b] = mean of P over the bin, counts[b] = its frequencies;
    energy = sum of power * counts over bins with centre b / N >= 0.25;
    high-frequency ratio = energy(B) / energy(A);
    log-spectral distance = RMS over bins b >= 1 of log10(P_B / P_A), powers
    floored at 1e-10.

Prints the values as Rust constants (repr: shortest round-trip decimals).
"""

import numpy as np

N_IMG, CH, ROWS, COLS = 3, 2, 8, 6
HF_CUTOFF = 0.25
FLOOR = 1e-10


def formula_sets():
    i, k, r, c = np.meshgrid(
        np.arange(N_IMG), np.arange(CH), np.arange(ROWS), np.arange(COLS), indexing="ij"
    )
    va = (i * 7 + k * 3 + r * 5 + c * 11 + r * c * 2 + r * r) % 16
    vb = (i * 5 + k * 13 + r * 3 + c * c + r * c) % 9
    a = va.astype(np.float32) / np.float32(15.0)
    b = vb.astype(np.float32) / np.float32(8.0)
    return a, b


def power_map(x):
    x = x.astype(np.float64)
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    p = np.abs(np.fft.fft2(x, axes=(-2, -1))) ** 2 / (x.shape[-2] * x.shape[-1])
    return p.reshape(-1, x.shape[-2], x.shape[-1]).mean(axis=0)


def radial(p):
    rows, cols = p.shape
    big = max(rows, cols)
    rho = np.hypot(np.fft.fftfreq(rows)[:, None], np.fft.fftfreq(cols)[None, :])
    b = np.floor(big * rho + 0.5).astype(int)
    nb = big // 2 + 1
    keep = b < nb
    counts = np.bincount(b[keep], minlength=nb)
    sums = np.bincount(b[keep], weights=p[keep], minlength=nb)
    power = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    freq = np.arange(nb) / big
    return freq, power, counts


def main():
    a, b = formula_sets()
    fa, pa, ca = radial(power_map(a))
    fb, pb, cb = radial(power_map(b))
    assert (ca == cb).all() and (fa == fb).all()
    hf = fa >= HF_CUTOFF - 1e-12
    ea = float((pa * ca)[hf].sum())
    eb = float((pb * cb)[hf].sum())
    d = np.log10(np.maximum(pb[1:], FLOOR) / np.maximum(pa[1:], FLOOR))
    lsd = float(np.sqrt(np.mean(d**2)))
    print(f"// numpy {np.__version__}; freq = {[float(f) for f in fa]}")
    print(f"const NUMPY_COUNTS: [usize; {len(ca)}] = [{', '.join(str(int(c)) for c in ca)}];")
    print(f"const NUMPY_POWER_A: [f64; {len(pa)}] = [{', '.join(repr(float(v)) for v in pa)}];")
    print(f"const NUMPY_POWER_B: [f64; {len(pb)}] = [{', '.join(repr(float(v)) for v in pb)}];")
    print(f"const NUMPY_ENERGY_A: f64 = {ea!r};")
    print(f"const NUMPY_ENERGY_B: f64 = {eb!r};")
    print(f"const NUMPY_HF_RATIO_BA: f64 = {eb / ea!r};")
    print(f"const NUMPY_LSD_BA: f64 = {lsd!r};")


if __name__ == "__main__":
    main()

"""Reference implementations for vaekit's sample metrics (precision, recall,
density, coverage, Fréchet distance, KID, MMD): check vaekit's numbers on the
same feature vectors, and time the reference implementations.

    /work/.venv/bin/pip install prdc torch pot  # prdc 0.2 brings scikit-learn, scipy, numpy; pot = POT

    vaekit metrics --real REAL.npy --fake FAKE.npy --features raw --out VAEKIT.json
    python docs/python/sample_metrics_ref.py compare REAL.npy FAKE.npy VAEKIT.json [--nearest-k 5] [--tol 1e-4]

    python docs/python/sample_metrics_ref.py bench --n 10000 --d 64 [--rounds 3] [--threads 2]

vaekit's own variants and their citations are defined in docs/metrics.md; this
script is the established implementations they are checked against.

compare
    REAL and FAKE are float32 [N, D] .npy feature arrays (vaekit's `--features
    raw`: the rows themselves). Computed here:

    - precision, recall (k = 3, Kynkäänniemi et al. 2019) and density,
      coverage (k = --nearest-k = 5, Naeem et al. 2020), all with
      `prdc.compute_prdc` (the authors' package). prdc's conventions, which
      vaekit must reproduce exactly:
        * distances: sklearn euclidean in float32 —
          sqrt(max(0, float32(|x|^2 + |y|^2 - 2 x.y computed in float64)));
          the self-distance matrices have their diagonal set to exactly 0;
        * radius r_i = the (k+1)-th smallest entry of row i of the
          real-real (fake-fake) distance matrix, the point itself (0)
          included, i.e. the distance to its k-th nearest *other* point
          (a duplicate counts as a neighbour at distance 0);
        * membership is strict: d < r;
        * precision = mean_j any_i [d(real_i, fake_j) < r_real_i]
          recall    = mean_i any_j [d(real_i, fake_j) < r_fake_j]
          density   = (1/k) mean_j sum_i [d(real_i, fake_j) < r_real_i]
          coverage  = mean_i [min_j d(real_i, fake_j) < r_real_i]
    - fd: the Fréchet distance as pytorch-fid / torch-fidelity compute it:
      mu = np.mean (float32 input, as theirs), sigma = np.cov(rowvar=False)
      (n-1, float64), covmean = real part of scipy.linalg.sqrtm(s1 @ s2)
      (retried with 1e-6 added to both diagonals if not finite),
      fd = |mu1-mu2|^2 + tr s1 + tr s2 - 2 tr covmean.
    - kid, kid_std: torch-fidelity's KID: kernel k(x,y) = (x.y/d + 1)^3,
      unbiased MMD^2 (diagonals of K_XX, K_YY left out, K_XY whole) per
      subset, `subsets` subsets of `subset_size` rows drawn with
      np.random.RandomState(seed).choice(n, subset_size, replace=False)
      (real then fake, per subset), mean and np.std (ddof 0). The subsets
      are read from the JSON (kid_subsets, kid_subset_size) if vaekit
      writes them, else --kid-subsets (100) and --kid-subset-size
      (min(1000, n_real, n_fake)). vaekit draws other subsets, so kid is
      checked only statistically: |ref - vaekit| <= 4 std/sqrt(subsets) + 1e-3.
      kid_std is shown, not checked.
    - kid_full: the same unbiased cubic-kernel MMD^2 over all of REAL
      against all of FAKE (deterministic), in float64:
        sum_{i!=i'} k(x,x')/(m(m-1)) + sum_{j!=j'} k(y,y')/(n(n-1))
        - 2 sum_{i,j} k(x,y)/(m n)
    - mmd2: the same unbiased estimator with the Gaussian kernel
      exp(-|x-y|^2 / (2 s^2)), s = the JSON's mmd_bandwidth, in float64.
    - swd, swd_values (if POT is installed): ot.sliced_wasserstein_distance
      (p = 2) with max(2000, swd_projections) directions of its own, on the
      same rows (with --features raw the features are the values, so both
      compare against the same reference). Checked statistically: |ref -
      vaekit| <= 4 sd / (2 ref), sd = the per-direction W_2^2 spread times
      sqrt(1/L_POT + 1/L_vaekit).

    Deterministic metrics (precision, recall, density, coverage, fd,
    kid_full, mmd2) pass when |ref - vaekit| <= tol * max(1, |ref|). The
    exit code is 1 if any of them, or kid, fails (or is missing from the
    JSON), else 0. A precision/recall/density/coverage mismatch of exactly
    a multiple of 1/N usually means a point sits on a radius: compare how
    the distances are rounded (above).

bench
    Draws real, fake ~ N(0, I) float32 [n, d] from np.random.default_rng(0)
    (real first), saves them to /tmp/vaekit_bench_real.npy and
    /tmp/vaekit_bench_fake.npy for vaekit's own benchmark, and times, with
    time.perf_counter, the median over --rounds of:
      prdc_k5         prdc.compute_prdc(nearest_k=5) (all four metrics;
                      prdc itself runs sklearn with n_jobs=8 threads)
      prdc_k3         prdc.compute_prdc(nearest_k=3) (for precision/recall)
      kid_full_torch  full-set unbiased cubic MMD^2 in torch, float32
                      kernels in blocks of 2048 rows, float64 sums
      kid_torch       KID, 100 subsets of 1000, torch, as above
      fd_numpy        FD with numpy/scipy as in compare
      mmd2_gauss_torch  full-set Gaussian MMD^2 in torch (s = sqrt(d);
                      timing does not depend on s)
    torch.set_num_threads(--threads) and BLAS limited to --threads
    (threadpoolctl). Prints one line per workload, then versions, the CPU's
    avx512f flag, and a last line `JSON {...}` with the medians in seconds.
"""
import argparse
import contextlib
import io
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np
import scipy
import scipy.linalg

BLOCK = 2048


# ---------------------------------------------------------------- reference metrics

def prdc_quiet(real, fake, k):
    """prdc.compute_prdc, without its 'Num real/Num fake' print."""
    import prdc
    with contextlib.redirect_stdout(io.StringIO()):
        out = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {key: float(v) for key, v in out.items()}


def frechet_distance(real, fake, eps=1e-6):
    """torch-fidelity's fid_features_to_statistics + fid_statistics_to_metric
    (identical to pytorch-fid's calculate_frechet_distance)."""
    mu1, sigma1 = np.mean(real, axis=0), np.cov(real, rowvar=False)
    mu2, sigma2 = np.mean(fake, axis=0), np.cov(fake, rowvar=False)
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        print(f"WARNING: fd: singular product; adding {eps} to diagonal of cov estimates",
              file=sys.stderr)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"fd: imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    tr_covmean = np.trace(covmean)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def _sqrtm(a):
    # scipy < 1.16 returned (X, errest) with disp=False; from 1.16 disp is
    # deprecated and the default call returns X alone (it only warns if inexact).
    out = scipy.linalg.sqrtm(a)
    return out[0] if isinstance(out, tuple) else out


def _poly_kernel(x, y):
    """torch-fidelity's polynomial_kernel: (x.y * gamma + coef0)^degree,
    gamma = 1/d, coef0 = 1, degree = 3."""
    return (np.matmul(x, y.T) * (1.0 / x.shape[1]) + 1) ** 3


def _tf_mmd2_unbiased(k_xx, k_xy, k_yy):
    """torch-fidelity's mmd2(..., mmd_est='unbiased') (equal subset sizes)."""
    m = k_xx.shape[0]
    diag_x, diag_y = np.diagonal(k_xx), np.diagonal(k_yy)
    kt_xx_sum = (k_xx.sum(axis=1) - diag_x).sum()
    kt_yy_sum = (k_yy.sum(axis=1) - diag_y).sum()
    k_xy_sum = k_xy.sum(axis=0).sum()
    return (kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy_sum / (m * m)


def kid_subsets(real, fake, subsets, subset_size, seed):
    """torch-fidelity's kid_features_to_metric (numpy, float32 features as theirs)."""
    n1, n2 = len(real), len(fake)
    if subset_size > n1 or subset_size > n2:
        raise ValueError(f"kid: subset_size {subset_size} > n_real {n1} or n_fake {n2}")
    mmds = np.zeros(subsets)
    rng = np.random.RandomState(seed)
    for i in range(subsets):
        f1 = real[rng.choice(n1, subset_size, replace=False)]
        f2 = fake[rng.choice(n2, subset_size, replace=False)]
        mmds[i] = _tf_mmd2_unbiased(_poly_kernel(f1, f1), _poly_kernel(f1, f2), _poly_kernel(f2, f2))
    return float(np.mean(mmds)), float(np.std(mmds))


def _block_sum(x, y, kernel, skip_diag):
    """sum_{i,j} kernel(x_i, y_j) in float64, over blocks of BLOCK rows of x;
    skip_diag (x is y) leaves out i == j."""
    total = 0.0
    for s in range(0, len(x), BLOCK):
        k = kernel(x[s:s + BLOCK], y)
        total += k.sum()
        if skip_diag:
            total -= np.trace(k, offset=s)     # entries (s+r, s+r)
    return total


def mmd2_unbiased_full(x, y, kernel):
    """Unbiased MMD^2 of all of x (m rows) against all of y (n rows)."""
    m, n = len(x), len(y)
    sxx = _block_sum(x, x, kernel, True)
    syy = _block_sum(y, y, kernel, True)
    sxy = _block_sum(x, y, kernel, False)
    return float(sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n))


def cubic_kernel64(a, b):
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def gaussian_kernel64(s):
    def k(a, b):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)
        return np.exp(-np.maximum(d2, 0.0) / (2 * s * s))
    return k


# ---------------------------------------------------------------- compare

def load_features(path):
    a = np.load(path)
    if a.ndim != 2:
        sys.exit(f"{path}: expected a [N, D] array, got shape {a.shape}")
    if a.dtype != np.float32:
        print(f"note: {path} is {a.dtype}; cast to float32 (prdc's distances depend on it)",
              file=sys.stderr)
        a = a.astype(np.float32)
    return a


def cmd_compare(args):
    real, fake = load_features(args.real), load_features(args.fake)
    if real.shape[1] != fake.shape[1]:
        sys.exit(f"feature dimensions differ: real {real.shape}, fake {fake.shape}")
    ours = json.load(open(args.vaekit))
    for key, n in [("n_real", len(real)), ("n_fake", len(fake))]:
        if key in ours and int(ours[key]) != n:
            sys.exit(f"{args.vaekit}: {key} = {ours[key]} but the .npy has {n} rows: not the same data")

    ref = {}
    pr = prdc_quiet(real, fake, args.pr_k)
    dc = prdc_quiet(real, fake, args.nearest_k)
    ref["precision"], ref["recall"] = pr["precision"], pr["recall"]
    ref["density"], ref["coverage"] = dc["density"], dc["coverage"]
    ref["fd"] = frechet_distance(real, fake)

    subsets = int(ours.get("kid_subsets", args.kid_subsets))
    subset_size = int(ours.get("kid_subset_size",
                               args.kid_subset_size or min(1000, len(real), len(fake))))
    ref["kid"], ref["kid_std"] = kid_subsets(real, fake, subsets, subset_size, args.kid_seed)
    r64, f64 = real.astype(np.float64), fake.astype(np.float64)
    ref["kid_full"] = mmd2_unbiased_full(r64, f64, cubic_kernel64)
    if "mmd_bandwidth" in ours:
        bw = float(ours["mmd_bandwidth"])
        ref["mmd2"] = mmd2_unbiased_full(r64, f64, gaussian_kernel64(bw))
    else:
        bw = None

    # Sliced Wasserstein with POT, its own random directions: vaekit's value
    # must agree within the two estimates' Monte Carlo error, estimated from
    # POT's per-direction W_2^2 (and the same spread for vaekit's L).
    swd_tol = {}
    try:
        import ot
    except ImportError:
        ot = None
    if ot is not None:
        L = int(ours.get("swd_projections", 100))
        n_pot = max(L, 2000)
        for name in ["swd", "swd_values"]:
            res, log = ot.sliced_wasserstein_distance(r64, f64, n_projections=n_pot, p=2,
                                                      seed=args.kid_seed, log=True)
            per = np.asarray(log["projected_emds"], dtype=np.float64)
            ref[name] = float(res)
            se2 = per.std(ddof=1) * math.sqrt(1.0 / n_pot + 1.0 / L)
            # |a - b| <= 4 se on the W^2 scale, moved to the W scale.
            swd_tol[name] = 4 * se2 / (2 * max(float(res), 1e-12)) + 1e-9
    kid_tol = 4 * ref["kid_std"] / math.sqrt(subsets) + 1e-3
    print(f"real {real.shape}, fake {fake.shape}; precision/recall k={args.pr_k}, "
          f"density/coverage k={args.nearest_k}; KID {subsets} subsets of {subset_size} "
          f"(seed {args.kid_seed}); mmd_bandwidth {bw}; tol {args.tol:g}")
    header = f"{'metric':<10} {'reference':>15} {'vaekit':>15} {'abs diff':>10} {'rel diff':>10}  status"
    print(header)
    print("-" * len(header))
    failed = []
    rows = ["precision", "recall", "density", "coverage", "fd", "kid_full", "mmd2", "kid", "kid_std"]
    rows += list(swd_tol)
    for name in rows:
        a = ref.get(name)
        b = ours.get(name)
        if a is None:
            status = "FAIL (no mmd_bandwidth in JSON)"
            failed.append(name)
            print(f"{name:<10} {'-':>15} {_fmt(b):>15} {'-':>10} {'-':>10}  {status}")
            continue
        if b is None:
            status = "info" if name == "kid_std" else "FAIL (missing)"
            if name != "kid_std":
                failed.append(name)
            print(f"{name:<10} {a:>15.8g} {'-':>15} {'-':>10} {'-':>10}  {status}")
            continue
        b = float(b)
        diff = abs(a - b)
        rel = diff / abs(a) if a != 0 else (0.0 if diff == 0 else math.inf)
        if name == "kid_std":
            status = "info"
        elif name == "kid":
            ok = diff <= kid_tol
            status = ("OK" if ok else "FAIL") + f" (tol {kid_tol:.2e})"
        elif name in swd_tol:
            ok = diff <= swd_tol[name]
            status = ("OK" if ok else "FAIL") + f" (tol {swd_tol[name]:.2e}, other directions)"
        else:
            ok = diff <= args.tol * max(1.0, abs(a))
            status = "OK" if ok else "FAIL"
        if status.startswith("FAIL"):
            failed.append(name)
        print(f"{name:<10} {a:>15.8g} {b:>15.8g} {diff:>10.2e} {rel:>10.2e}  {status}")
    if failed:
        print(f"FAIL: {', '.join(failed)}")
        return 1
    print("all metrics OK")
    return 0


def _fmt(v):
    return "-" if v is None else f"{float(v):.8g}"


# ---------------------------------------------------------------- bench

def torch_mmd2_full(x, y, kernel, torch):
    """Unbiased MMD^2 over full sets, kernel blocks of BLOCK rows (float32
    kernels, float64 sums): memory O(BLOCK * max(m, n))."""
    def block_sum(a, b, skip_diag):
        total = torch.zeros((), dtype=torch.float64)
        for s in range(0, a.shape[0], BLOCK):
            k = kernel(a[s:s + BLOCK], b)
            total += k.sum(dtype=torch.float64)
            if skip_diag:
                total -= torch.diagonal(k, offset=s).sum(dtype=torch.float64)
        return total
    m, n = x.shape[0], y.shape[0]
    sxx, syy, sxy = block_sum(x, x, True), block_sum(y, y, True), block_sum(x, y, False)
    return float(sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n))


def torch_cubic(a, b):
    return (a @ b.T).mul_(1.0 / a.shape[1]).add_(1.0).pow_(3)


def torch_gaussian(s):
    def k(a, b):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)
        return d2.clamp_(min=0).mul_(-1.0 / (2 * s * s)).exp_()
    return k


def torch_kid(x, y, subsets, subset_size, seed, torch):
    """torch-fidelity's KID (same subset draws) with the kernels in torch."""
    n1, n2 = x.shape[0], y.shape[0]
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    m = subset_size
    for i in range(subsets):
        a = x[torch.from_numpy(rng.choice(n1, m, replace=False))]
        b = y[torch.from_numpy(rng.choice(n2, m, replace=False))]
        kxx, kyy, kxy = torch_cubic(a, a), torch_cubic(b, b), torch_cubic(a, b)
        sxx = kxx.sum(dtype=torch.float64) - torch.diagonal(kxx).sum(dtype=torch.float64)
        syy = kyy.sum(dtype=torch.float64) - torch.diagonal(kyy).sum(dtype=torch.float64)
        mmds[i] = float((sxx + syy) / (m * (m - 1)) - 2 * kxy.sum(dtype=torch.float64) / (m * m))
    return float(np.mean(mmds)), float(np.std(mmds))


def cpu_flag(flag):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return flag in line.split(":", 1)[1].split()
    except OSError:
        pass
    return None


def cmd_bench(args):
    import torch
    import prdc  # noqa: F401  (fail early if missing)
    from importlib.metadata import version
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    real = rng.standard_normal((args.n, args.d), dtype=np.float32)
    fake = rng.standard_normal((args.n, args.d), dtype=np.float32)
    np.save("/tmp/vaekit_bench_real.npy", real)
    np.save("/tmp/vaekit_bench_fake.npy", fake)
    print(f"saved /tmp/vaekit_bench_real.npy, /tmp/vaekit_bench_fake.npy: float32 [{args.n}, {args.d}], "
          f"np.random.default_rng(0), real drawn first")
    xt, yt = torch.from_numpy(real), torch.from_numpy(fake)
    kid_size = min(1000, args.n)
    bw = math.sqrt(args.d)

    workloads = [
        ("prdc_k5", "prdc.compute_prdc(nearest_k=5): precision/recall/density/coverage",
         lambda: prdc_quiet(real, fake, 5)),
        ("prdc_k3", "prdc.compute_prdc(nearest_k=3): precision/recall k=3",
         lambda: prdc_quiet(real, fake, 3)),
        ("kid_full_torch", "full-set unbiased cubic MMD^2, torch blocks of 2048",
         lambda: torch_mmd2_full(xt, yt, torch_cubic, torch)),
        ("kid_torch", f"KID 100 subsets of {kid_size}, torch",
         lambda: torch_kid(xt, yt, 100, kid_size, 2020, torch)),
        ("fd_numpy", "FD, numpy/scipy (np.cov + sqrtm)",
         lambda: frechet_distance(real, fake)),
        ("mmd2_gauss_torch", f"full-set unbiased Gaussian MMD^2 (s = sqrt(d) = {bw:.3g}), torch blocks of 2048",
         lambda: torch_mmd2_full(xt, yt, torch_gaussian(bw), torch)),
    ]
    medians, values = {}, {}
    with threadpool_limits(limits=args.threads):
        for key, what, fn in workloads:
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                out = fn()
                times.append(time.perf_counter() - t0)
            medians[key] = statistics.median(times)
            values[key] = out
            print(f"{key:<17} {medians[key]:>10.4f} s  (median of {args.rounds})  {what}  -> {_short(out)}")

    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__, "scikit-learn": version("scikit-learn"),
                "torch": torch.__version__, "prdc": version("prdc")}
    avx512f = cpu_flag("avx512f")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"cpu: avx512f={avx512f}, os.cpu_count()={os.cpu_count()}, torch threads={torch.get_num_threads()}, "
          f"BLAS limited to {args.threads}")
    print("JSON " + json.dumps({"n": args.n, "d": args.d, "rounds": args.rounds, "threads": args.threads,
                                "median_s": medians, "versions": versions, "avx512f": avx512f}))
    return 0


def _short(out):
    if isinstance(out, dict):
        return "{" + ", ".join(f"{k}: {v:.6g}" for k, v in out.items()) + "}"
    if isinstance(out, tuple):
        return "(" + ", ".join(f"{v:.6g}" for v in out) + ")"
    return f"{out:.6g}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare", help="check vaekit's metrics JSON against the reference implementations")
    c.add_argument("real")
    c.add_argument("fake")
    c.add_argument("vaekit", help="the JSON written by `vaekit metrics ... --out`")
    c.add_argument("--nearest-k", type=int, default=5, help="k for density and coverage (5)")
    c.add_argument("--pr-k", type=int, default=3, help="k for precision and recall (3)")
    c.add_argument("--tol", type=float, default=1e-4,
                   help="deterministic metrics pass if |ref-vaekit| <= tol*max(1,|ref|)")
    c.add_argument("--kid-subsets", type=int, default=100, help="used if the JSON has no kid_subsets")
    c.add_argument("--kid-subset-size", type=int, default=None,
                   help="used if the JSON has no kid_subset_size (default min(1000, n_real, n_fake))")
    c.add_argument("--kid-seed", type=int, default=2020, help="torch-fidelity's default rng_seed")
    b = sub.add_parser("bench", help="time the reference implementations")
    b.add_argument("--n", type=int, default=10000)
    b.add_argument("--d", type=int, default=64)
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    sys.exit(cmd_compare(args) if args.cmd == "compare" else cmd_bench(args))


if __name__ == "__main__":
    main()

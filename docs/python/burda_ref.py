"""PyTorch twin of vaekit's reproduction of Burda, Grosse & Salakhutdinov (2016),
"Importance Weighted Autoencoders", Table 1 (MNIST): the same models, data split,
binarization, objectives, optimiser and schedule, so that vaekit's numbers and its
speed can be compared with these at the same (possibly truncated) budget.

  train: trains one model, then reports the test NLL -L_k (k = --eval-k) with its
         standard error over test digits, -L_k on the validation digits, and the
         active units of each stochastic layer; per-pass and eval wall times.
  bench: training throughput (forward + backward + Adam step) at batch B on
         synthetic random binary images, so that only compute is measured:
         10 warm-up steps, then --steps timed steps.

What it does, exactly:
  data     MNIST IDX gzip files in --data (train-images-idx3-ubyte.gz,
           t10k-images-idx3-ubyte.gz; parsed with gzip + numpy), grey levels /255
           in [0, 1]. Burda's split: training = all training digits but the last
           --val-last (400): 59,600 / 400 on the full MNIST; 7,600 / 400 on
           ../shared/data/mnist-10k. --limit N keeps the first N training digits.
  binarize training: dynamic, every batch x_bin = (u < x), u ~ U(0,1) fresh from
           torch's global generator. Test: ONE fixed draw from a torch.Generator
           seeded --binarize-seed (0) over the whole test set, the same for every
           run and seed (--eval-limit truncates after the draw, so the first N
           digits are binarized the same way whatever N). Validation: one fixed
           draw from a generator seeded --binarize-seed + 1.
  models   tanh hidden units; q Gaussian with diagonal covariance, each Gaussian
           layer a 2-hidden-layer MLP with two linear heads: the mean, and the
           log-variance (--layers 1, as vaekit's `vae`) or log sigma (--layers 2,
           as vaekit's `two_layer` and the authors' code); p(x|h1) Bernoulli.
           --layers 1: q(h1|x) 784-200-200 -> 50; p(h1) = N(0, I);
                       p(x|h1) 50-200-200 -> 784.
           --layers 2: q(h1|x) 784-200-200 -> 100; q(h2|h1) 100-100-100 -> 50;
                       p(h2) = N(0, I); p(h1|h2) 50-100-100 -> 100;
                       p(x|h1) 100-200-200 -> 784.
           Initialisation: nn.Linear's default, or with --init glorot weights
           U(-a, a), a = sqrt(6 / (fan_in + fan_out)), biases 0 (Glorot & Bengio
           2010; each head is its own Linear, so its fan_out is the latent width).
  weights  log w = log p(x, h) - log q(h|x) with every normalising constant kept,
           h ~ q by reparameterisation (k samples per digit).
  loss     --objective vae: the ELBO averaged over k samples, with the KL terms
           as vaekit's `elbo` objective has them (--kl analytic, the default:
           analytic KL for the one-layer model; for two layers h1's term sampled,
           h2's analytic given h1), or the mean over the samples of log w
           (--kl sampled, as Burda et al.'s code); --objective iwae:
           logsumexp_k log w - log k. Loss = -mean over the batch.
  optim    Adam(beta1 0.9, beta2 0.999, eps --eps = 1e-4), batch --batch = 20.
           Burda's schedule: stage i = 0..7 runs 3^i passes at learning rate
           0.001 * 10^(-i/7) (3,280 passes in all); --passes N stops after N
           passes (pass p, counted from 0, is in the smallest stage i with
           p < sum_{j<=i} 3^j; past 3,280 it stays in stage 7). Each pass visits
           the training set in a fresh order from numpy's RandomState(--seed);
           torch.manual_seed(--seed) drives the binarization and the samples.
  eval     -L_k per digit with k = --eval-k (5000) samples from a generator seeded
           --seed, in chunks of at most --chunk (500) rows per forward pass (one
           digit's samples split, or several digits per chunk when k < chunk),
           the chunks combined by an exact logsumexp in float64. Reported as the
           mean over test digits +- its standard error (std ddof=1 / sqrt N).
           Active units (Burda et al. section 5.2): A_u = Cov_x(E_q[u|x]) > 0.01,
           the unbiased variance (float64) over the (binarized) test digits.
           Layer 1: the means of q(h1|x). Layer 2, two estimates of E[h2|x]:
             mean-path  the mean of q(h2 | h1 = mu1(x));
             sampled    the average over S = --au-samples (100) draws
                        h1 ~ q(h1|x) of mu2(h1) (the true E_q[h2|x] by Monte Carlo).
           --eval-limit N evaluates (NLL and active units) on the first N test
           digits only. Validation: -L_k on the --val-last digits, same k.

Output: a first line naming the torch version, its thread count and whether the CPU
has AVX-512; per-pass lines (stage, learning rate, mean training loss, seconds);
the eval lines; then one JSON line prefixed "RESULT ".

Usage: python burda_ref.py train [--layers 1|2] [--objective vae|iwae] [--k K]
                                 [--passes N] [--seed S] [--data DIR] [--limit N]
                                 [--val-last 400] [--eval-k 5000] [--chunk 500]
                                 [--eval-limit N] [--init default|glorot]
                                 [--eps 1e-4] [--batch 20] [--threads T]
       python burda_ref.py bench [--layers 1|2] [--objective vae|iwae] [--k K]
                                 [--batch 20] [--steps N] [--threads T]

Set-up: python3 -m venv /work/venv && /work/venv/bin/pip install torch
--index-url https://download.pytorch.org/whl/cpu (the CPU wheel; the PyPI one is
large because it carries CUDA libraries). torch's default thread count is all cores;
--threads T sets it.

Run it right beside the vaekit run you compare it with, alternating: this machine
is shared and noisy, so only a ratio measured side by side means anything. Check
that nothing else is busy (uptime): with one of the 2 cores taken, torch's 2 threads
oversubscribe and it runs several times slower than with --threads 1.

  python docs/python/burda_ref.py train --layers 1 --objective iwae --k 5 --passes 13
  python docs/python/burda_ref.py train --layers 2 --objective vae --k 1 --passes 13 --init glorot
  python docs/python/burda_ref.py bench --layers 2 --objective iwae --k 50 --steps 200
  quick check: ... train --layers 1 --passes 1 --limit 2000 --eval-k 50 --eval-limit 200
"""
import argparse, gzip, json, math, struct, time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)
REPO = Path(__file__).resolve().parents[2]
STAGES = 8  # Burda's schedule: stages 0..7, 3^i passes each


# ---------------------------------------------------------------- data

def read_idx(path):
    """An IDX file (gzip) as a numpy uint8 array of its stated shape."""
    with gzip.open(path, "rb") as f:
        buf = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", buf[:4])
    assert zero == 0 and dtype == 0x08, f"{path}: not an unsigned-byte IDX file"
    dims = struct.unpack(">" + "I" * ndim, buf[4:4 + 4 * ndim])
    a = np.frombuffer(buf, np.uint8, offset=4 + 4 * ndim)
    assert a.size == math.prod(dims), f"{path}: {a.size} bytes for shape {dims}"
    return a.reshape(dims)


def grey(a):
    return torch.from_numpy(a.reshape(len(a), -1).astype(np.float32) / 255.0)


def fixed_binarization(x, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(x.shape, generator=g) < x).float()


def load(args):
    d = Path(args.data)
    train = grey(read_idx(d / "train-images-idx3-ubyte.gz"))
    test = grey(read_idx(d / "t10k-images-idx3-ubyte.gz"))
    n = len(train) - args.val_last
    assert n > 0, f"--val-last {args.val_last} leaves no training digits"
    val = train[n:]
    train = train[:n]
    if args.limit:
        train = train[:args.limit]
    test_bin = fixed_binarization(test, args.binarize_seed)
    val_bin = fixed_binarization(val, args.binarize_seed + 1)
    if args.eval_limit:
        test_bin = test_bin[:args.eval_limit]
    return train, val_bin, test_bin


# ---------------------------------------------------------------- models

class Gauss(nn.Module):
    """d_in -> h -> h (tanh) -> mean and log-variance of width d_out. The second
    head outputs the log-variance itself (vaekit's one-layer `vae`), or with
    log_sigma=True log sigma, doubled here (vaekit's `two_layer` and Burda et
    al.'s code, where sigma = exp(linear))."""
    def __init__(s, d_in, h, d_out, log_sigma=False):
        super().__init__()
        s.net = nn.Sequential(nn.Linear(d_in, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        s.mu = nn.Linear(h, d_out)
        s.lv = nn.Linear(h, d_out)
        s.scale = 2.0 if log_sigma else 1.0

    def forward(s, x):
        h = s.net(x)
        return s.mu(h), s.scale * s.lv(h)


def bernoulli_net(d_in, h, d_out=784):
    return nn.Sequential(nn.Linear(d_in, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(),
                         nn.Linear(h, d_out))


def log_normal(z, mu, lv):
    return -0.5 * (LOG_2PI + lv + (z - mu).pow(2) * torch.exp(-lv)).sum(-1)


def log_std_normal(z):
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def log_normal_eps(eps, lv):
    """log q(z) at z = mu + sigma * eps: the density written with eps itself."""
    return -0.5 * (LOG_2PI + lv + eps.pow(2)).sum(-1)


def analytic_kl(mu, lv):
    """KL(N(mu, e^lv) || N(0, I)) summed over the last dimension."""
    return 0.5 * (mu.pow(2) + lv.exp() - lv - 1.0).sum(-1)


def log_bernoulli(logits, x):
    """log p(x | logits) summed over pixels; x broadcasts over leading sample dims."""
    return (x * logits - F.softplus(logits)).sum(-1)


class OneLayer(nn.Module):
    latent = [50]

    def __init__(s):
        super().__init__()
        s.q1 = Gauss(784, 200, 50)
        s.px = bernoulli_net(50, 200)

    def log_w(s, x, k, gen=None):
        """Log-weights [k, B] for a batch x [B, 784]."""
        mu1, lv1 = s.q1(x)
        e1 = torch.randn((k,) + mu1.shape, generator=gen)
        h1 = mu1 + torch.exp(0.5 * lv1) * e1
        return (log_bernoulli(s.px(h1), x) + log_std_normal(h1)
                - log_normal_eps(e1, lv1))

    def elbo(s, x, k):
        """ELBO terms [k, B] as vaekit's `elbo` objective computes them:
        log p(x|h1) at each sample minus the analytic KL(q(h1|x) || N(0, I))."""
        mu1, lv1 = s.q1(x)
        e1 = torch.randn((k,) + mu1.shape)
        h1 = mu1 + torch.exp(0.5 * lv1) * e1
        return log_bernoulli(s.px(h1), x) - analytic_kl(mu1, lv1)

    @torch.no_grad()
    def means(s, x, samples, gen):
        return {"h1": s.q1(x)[0]}


class TwoLayer(nn.Module):
    latent = [100, 50]

    def __init__(s):
        super().__init__()
        s.q1 = Gauss(784, 200, 100, log_sigma=True)
        s.q2 = Gauss(100, 100, 50, log_sigma=True)
        s.p1 = Gauss(50, 100, 100, log_sigma=True)
        s.px = bernoulli_net(100, 200)

    def log_w(s, x, k, gen=None):
        mu1, lv1 = s.q1(x)
        e1 = torch.randn((k,) + mu1.shape, generator=gen)
        h1 = mu1 + torch.exp(0.5 * lv1) * e1                 # [k, B, 100]
        mu2, lv2 = s.q2(h1)
        e2 = torch.randn(mu2.shape, generator=gen)
        h2 = mu2 + torch.exp(0.5 * lv2) * e2                 # [k, B, 50]
        pm1, plv1 = s.p1(h2)
        return (log_bernoulli(s.px(h1), x) + log_normal(h1, pm1, plv1) + log_std_normal(h2)
                - log_normal_eps(e1, lv1) - log_normal_eps(e2, lv2))

    def elbo(s, x, k):
        """ELBO terms [k, B] as vaekit's `two_layer` computes them: h1's KL
        term sampled, h2's analytic given the sampled h1."""
        mu1, lv1 = s.q1(x)
        e1 = torch.randn((k,) + mu1.shape)
        h1 = mu1 + torch.exp(0.5 * lv1) * e1
        mu2, lv2 = s.q2(h1)
        h2 = mu2 + torch.exp(0.5 * lv2) * torch.randn(mu2.shape)
        pm1, plv1 = s.p1(h2)
        return (log_bernoulli(s.px(h1), x) + log_normal(h1, pm1, plv1)
                - log_normal_eps(e1, lv1) - analytic_kl(mu2, lv2))

    @torch.no_grad()
    def means(s, x, samples, gen):
        mu1, lv1 = s.q1(x)
        mean_path = s.q2(mu1)[0]
        e1 = torch.randn((samples,) + mu1.shape, generator=gen)
        sampled = s.q2(mu1 + torch.exp(0.5 * lv1) * e1)[0].mean(0)
        return {"h1": mu1, "h2_mean_path": mean_path, "h2_sampled": sampled}


def build(args):
    m = OneLayer() if args.layers == 1 else TwoLayer()
    if args.init == "glorot":
        for mod in m.modules():
            if isinstance(mod, nn.Linear):
                a = math.sqrt(6.0 / (mod.in_features + mod.out_features))
                nn.init.uniform_(mod.weight, -a, a)
                nn.init.zeros_(mod.bias)
    return m


def bound(lw, objective):
    """Per-digit training bound from log-weights [k, B]."""
    if objective == "vae":
        return lw.mean(0)
    return torch.logsumexp(lw, 0) - math.log(lw.shape[0])


def stage_of(p):
    end = 0
    for i in range(STAGES):
        end += 3 ** i
        if p < end:
            return i
    return STAGES - 1


def lr_of(stage):
    return 1e-3 * 10 ** (-stage / 7)


def make_step(m, opt, args):
    def step(xb):
        if args.objective == "vae" and args.kl == "analytic":
            loss = -m.elbo(xb, args.k).mean()
        else:
            loss = -bound(m.log_w(xb, args.k), args.objective).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def adam(m, args):
    return torch.optim.Adam(m.parameters(), lr=lr_of(0), betas=(0.9, 0.999), eps=args.eps)


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def log_px(m, x, k, chunk, gen):
    """-> float64 numpy [N]: L_k per digit, k samples, at most `chunk` rows a pass."""
    per = min(k, chunk)                      # samples per forward pass
    digits = max(1, chunk // k)              # digits per forward pass
    out = []
    for i in range(0, len(x), digits):
        xb = x[i:i + digits]
        acc = None                           # running logsumexp over chunks [B]
        for c in range(0, k, per):
            lw = m.log_w(xb, min(per, k - c), gen).double()
            l = torch.logsumexp(lw, 0)
            acc = l if acc is None else torch.logaddexp(acc, l)
        out.append(acc - math.log(k))
    return torch.cat(out).numpy()


def mean_se(v):
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


@torch.no_grad()
def active_units(m, x, samples, gen, delta=0.01, batch=500):
    parts = {}
    for i in range(0, len(x), batch):
        for key, v in m.means(x[i:i + batch], samples, gen).items():
            parts.setdefault(key, []).append(v.double())
    return {key: int((torch.cat(v).var(0, unbiased=True) > delta).sum()) for key, v in parts.items()}


# ---------------------------------------------------------------- commands

def train(args):
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    tr, val, test = load(args)
    n = len(tr)
    print(f"data {args.data}: train {n}, val {len(val)}, test {len(test)} "
          f"(test binarized with seed {args.binarize_seed})")
    print(f"model layers={args.layers} objective={args.objective} k={args.k} init={args.init} "
          f"batch={args.batch} eps={args.eps} passes={args.passes} seed={args.seed}")
    m = build(args)
    opt = adam(m, args)
    step = make_step(m, opt, args)
    per_pass = []
    for p in range(args.passes):
        st = stage_of(p)
        for g in opt.param_groups:
            g["lr"] = lr_of(st)
        t = time.perf_counter()
        order = torch.from_numpy(rng.permutation(n))
        tot = 0.0
        for b in range(0, n, args.batch):
            x = tr[order[b:b + args.batch]]
            xb = (torch.rand_like(x) < x).float()
            tot += step(xb).item() * len(x)
        dt = time.perf_counter() - t
        per_pass.append(dt)
        print(f"pass {p + 1}/{args.passes} stage {st} lr {lr_of(st):.3e} "
              f"train loss {tot / n:.3f} {dt:.2f} s", flush=True)
    train_s = sum(per_pass)
    print(f"train {train_s:.2f} s, mean {train_s / max(1, len(per_pass)):.3f} s/pass")
    if args.save:
        torch.save(m.state_dict(), args.save)

    gen = torch.Generator().manual_seed(args.seed)
    t = time.perf_counter()
    lk = log_px(m, test, args.eval_k, args.chunk, gen)
    nll, se = mean_se(-lk)
    t_nll = time.perf_counter() - t
    print(f"test NLL (-L_{args.eval_k}, {len(test)} digits) {nll:.3f} +- {se:.3f} nats, {t_nll:.2f} s")
    t = time.perf_counter()
    au = active_units(m, test, args.au_samples, gen)
    t_au = time.perf_counter() - t
    print("active units (A_u > 0.01, test): "
          + ", ".join(f"{key} {v}/{m.latent[1 if key.startswith('h2') else 0]}" for key, v in au.items())
          + f", {t_au:.2f} s")
    val_nll = val_se = None
    t_val = 0.0
    if len(val):
        t = time.perf_counter()
        val_nll, val_se = mean_se(-log_px(m, val, args.eval_k, args.chunk, gen))
        t_val = time.perf_counter() - t
        print(f"val NLL (-L_{args.eval_k}, {len(val)} digits) {val_nll:.3f} +- {val_se:.3f} nats, {t_val:.2f} s")
    ev = t_nll + t_au + t_val
    print(f"eval {ev:.2f} s")
    res = dict(layers=args.layers, objective=args.objective, k=args.k, passes=args.passes,
               seed=args.seed, init=args.init, batch=args.batch, eps=args.eps, kl=args.kl,
               n_train=n, n_test=len(test), n_val=len(val), data=str(args.data),
               train_seconds=train_s, seconds_per_pass=per_pass,
               test_nll=nll, test_nll_se=se, eval_k=args.eval_k,
               active_units=[au["h1"]] + ([au["h2_mean_path"]] if args.layers == 2 else []),
               val_nll=val_nll, val_nll_se=val_se, eval_seconds=ev,
               torch=torch.__version__, threads=torch.get_num_threads())
    if args.layers == 2:
        res["active_units_h2_mean_path"] = au["h2_mean_path"]
        res["active_units_h2_sampled"] = au["h2_sampled"]
        res["au_samples"] = args.au_samples
    print("RESULT " + json.dumps(res))


def bench(args):
    torch.manual_seed(0)
    m = build(args)
    opt = adam(m, args)
    step = make_step(m, opt, args)
    x = (torch.rand(args.batch * 8, 784) < 0.3).float()
    batch = lambda i: x[(i % 8) * args.batch:(i % 8 + 1) * args.batch]
    for i in range(10):
        step(batch(i))
    t = time.perf_counter()
    for i in range(args.steps):
        l = step(batch(i))
    l.item()
    dt = time.perf_counter() - t
    print(f"torch train layers={args.layers} k={args.k} batch={args.batch}: "
          f"{args.steps * args.batch / dt:.0f} images/s ({args.steps / dt:.1f} steps/s)")


def header():
    try:
        flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "").split()
        cpu = "AVX-512" if "avx512f" in flags else ("no AVX-512 (AVX2)" if "avx2" in flags else "no AVX-512")
    except OSError:
        cpu = "unknown"
    cap = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    kern = f" (torch kernels: {cap()})" if cap else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu: {cpu}{kern}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="PyTorch twin of vaekit's Burda et al. (2016) MNIST runs")
    p.add_argument("mode", choices=["train", "bench"])
    p.add_argument("--layers", type=int, choices=[1, 2], default=1)
    p.add_argument("--objective", choices=["vae", "iwae"], default="vae")
    p.add_argument("--k", type=int, default=1, help="samples per digit in training")
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--eps", type=float, default=1e-4, help="Adam epsilon")
    p.add_argument("--kl", choices=["analytic", "sampled"], default="analytic",
                   help="vae objective: the KL terms as vaekit's elbo objective has them "
                        "(analytic where there is one), or the one-sample log w (Burda et al.'s code)")
    p.add_argument("--init", choices=["default", "glorot"], default="default")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--passes", type=int, default=3280, help="passes over the training set (Burda: 3280)")
    p.add_argument("--data", default=str((REPO / "../shared/data/mnist").resolve()))
    p.add_argument("--val-last", type=int, default=400, help="last training digits held out for validation")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training digits")
    p.add_argument("--binarize-seed", type=int, default=0, help="seed of the fixed test binarization")
    p.add_argument("--eval-k", type=int, default=5000)
    p.add_argument("--chunk", type=int, default=500, help="rows per forward pass in evaluation")
    p.add_argument("--eval-limit", type=int, default=0, help="evaluate on the first N test digits only")
    p.add_argument("--au-samples", type=int, default=100, help="S for the sampled layer-2 active units")
    p.add_argument("--save", default="", help="write the trained state_dict here")
    p.add_argument("--steps", type=int, default=200, help="bench: timed steps")
    a = p.parse_args()
    assert a.k >= 1 and a.eval_k >= 1 and a.batch >= 1 and a.chunk >= 1
    if a.threads:
        torch.set_num_threads(a.threads)
    header()
    train(a) if a.mode == "train" else bench(a)

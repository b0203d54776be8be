"""PyTorch reference for vaekit's IWAE bench with a mixture prior or a Gaussian
decoder: the canonical 784-400-20 ReLU VAE of ../shared/bench/torch_vae_ref.py
with p(z) a learned mixture of K diagonal Gaussians (`gmm`), the VampPrior
(`vamp`: K pseudo-inputs u_k, p(z) = 1/K Σ_k q(z|u_k)), or the standard normal
(`vae`), and a Bernoulli or Gaussian (one learned variance) decoder.

It times log-weights/s of the k-sample importance-weighted bound, written the
way a PyTorch user writes it (batched matmuls, broadcasting, torch.logsumexp),
on synthetic binary data so that only compute is measured; the same workload
as `cargo bench --bench iwae_throughput -- --path fast --prior P --components K
--likelihood L`. Run the two side by side, alternating.

Usage: python benches/torch_mixture_ref.py [--prior gmm|vamp|vae] [--components K]
       [--likelihood bernoulli|gaussian] [--k 5000] [--chunk 5000] [--images 20]

Set-up: python3 -m venv .venv && .venv/bin/pip install torch  (CPU).
"""
import argparse, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

LOG2PI = math.log(2 * math.pi)


def diag_normal_log_prob(z, mean, log_var):
    """log N(z; mean, diag exp(log_var)) summed over the last dimension (broadcasting)."""
    return -0.5 * (LOG2PI + log_var + (z - mean).pow(2) * torch.exp(-log_var)).sum(-1)


class VAE(nn.Module):
    def __init__(s, prior, K, likelihood, d=784, h=400, z=20):
        super().__init__()
        s.fc1 = nn.Linear(d, h); s.mu = nn.Linear(h, z); s.lv = nn.Linear(h, z)
        s.fc3 = nn.Linear(z, h); s.fc4 = nn.Linear(h, d)
        s.prior, s.likelihood = prior, likelihood
        if prior == "gmm":
            s.means = nn.Parameter(torch.randn(K, z))
            s.log_vars = nn.Parameter(torch.zeros(K, z))
            s.logits = nn.Parameter(torch.zeros(K))
        elif prior == "vamp":
            s.pseudo = nn.Parameter(0.1 * torch.randn(K, d))
        if likelihood == "gaussian":
            s.dec_log_var = nn.Parameter(torch.zeros(1))

    def encode(s, x):
        h = F.relu(s.fc1(x)); return s.mu(h), s.lv(h)

    def decode(s, z):
        return s.fc4(F.relu(s.fc3(z)))

    def components(s):
        """Means, log-variances [K, z] and log-weights [K] of the mixture prior."""
        if s.prior == "gmm":
            return s.means, s.log_vars, F.log_softmax(s.logits, 0)
        m, lv = s.encode(torch.sigmoid(s.pseudo))
        return m, lv, torch.full((m.shape[0],), -math.log(m.shape[0]))

    def log_prior(s, z, comps):
        if s.prior == "vae":
            return -0.5 * (z.pow(2) + LOG2PI).sum(1)
        m, lv, lw = comps
        return torch.logsumexp(diag_normal_log_prob(z[:, None, :], m[None], lv[None]) + lw, dim=1)

    def log_lik(s, x, out):
        if s.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction='none').sum(1)
        return diag_normal_log_prob(x, out, s.dec_log_var.expand_as(out))


@torch.no_grad()
def iwae(args):
    torch.manual_seed(0)
    m = VAE(args.prior, args.components, args.likelihood)
    x = (torch.rand(args.images, 784) < 0.3).float()
    t = time.perf_counter(); tot = 0.0
    comps = m.components() if args.prior != "vae" else None  # once per evaluation
    for i in range(args.images):
        xi = x[i:i + 1]
        mu, lv = m.encode(xi)
        std = (0.5 * lv).exp()
        lws = []
        for c in range(0, args.k, args.chunk):
            n = min(args.chunk, args.k - c)
            eps = torch.randn(n, mu.shape[1])
            z = mu + std * eps
            lpx = m.log_lik(xi, m.decode(z))
            lpz = m.log_prior(z, comps)
            lqz = -0.5 * (eps.pow(2) + lv + LOG2PI).sum(1)
            lws.append(lpx + lpz - lqz)
        lw = torch.cat(lws)
        tot += (torch.logsumexp(lw, 0) - math.log(args.k)).item()
    dt = time.perf_counter() - t
    print(f"torch iwae k={args.k} {args.prior} K={args.components}, {args.likelihood}: "
          f"{args.images * args.k / dt:.0f} log-weights/s (mean log p {tot / args.images:.2f}, "
          f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()})")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--prior", choices=["gmm", "vamp", "vae"], default="gmm")
    p.add_argument("--components", type=int, default=10)
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    p.add_argument("--k", type=int, default=5000)
    p.add_argument("--chunk", type=int, default=5000)
    p.add_argument("--images", type=int, default=20)
    iwae(p.parse_args())

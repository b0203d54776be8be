"""PyTorch reference for the text benchmark: vaekit's LSTM text VAE, timed on
synthetic sentences so that only compute is measured.

  train: sentences/s over N steps at batch B (forward + backward + Adam step),
         after 10 warm-up steps
  iwae:  log-weights/s for the k-sample importance-weighted bound, per sentence,
         the K samples batched in chunks (default 500) to bound memory

The model (must stay identical to vaekit's for the comparison to be fair):
  data     vocabulary V = 1004 (1000 words + <pad>=0, <unk>=1, <s>=2, </s>=3);
           sentences of T = 12 ids: <s>, T-2 words uniform in 4..V-1, </s>.
           All the same length (no padding), but the loss is still masked.
  encoder  Embedding(V, E) -> one-layer LSTM(E, H) over ids 1..T-1 (with
           --encode-bos: over all T ids, <s> included); its last hidden state
           -> Linear(H, Z) for mu and Linear(H, Z) for log var.
  sample   z = mu + sigma * eps.
  decoder  its own Embedding(V, E); step t reads [embed(id t), z] for
           t = 0..T-2 (LSTM input E + Z); c0 = Linear(Z, H)(z), h0 = tanh(c0);
           one-layer LSTM(E + Z, H) -> Linear(H, V): logits for ids 1..T-1.
  loss     per sentence: masked sum of -log softmax at the target ids, plus the
           analytic KL to N(0, I); mean over the batch. Adam, lr 1e-3.
  sizes    E = 64, H = 128, Z = 16 (--embed --hidden --latent --vocab --len).
           --ptb: the Penn Treebank model of vaekit's `ptb` study (texar's size):
           V = 10002, T = 23 (21 words, PTB's mean is 21.1), E = H = 256, Z = 32;
           run it beside `cargo bench --bench text_throughput -- --ptb`.

Usage: python text_vae_ref.py [train|iwae] [--batch B] [--steps N] [--k K]
                              [--sentences M] [--chunk C] [--encode-bos]

Set-up: python3 -m venv /work/.venv && /work/.venv/bin/pip install torch   (the PyPI
wheel is large because it carries CUDA libraries; it runs on the CPU here). The
first line printed names the torch version, its thread count (torch's default: all
cores) and whether the CPU has AVX-512.

Run it right beside the benchmark you compare it with, alternating: this machine is
shared and noisy, so only a ratio measured side by side means anything. Check that
nothing else is busy (uptime): with one of the 2 cores taken, torch's 2 threads
oversubscribe and it runs several times slower than with OMP_NUM_THREADS=1.

  cargo bench --bench text_throughput -- --batch 128 --steps 200
  python docs/python/text_vae_ref.py train --batch 128 --steps 200
  cargo bench --bench text_throughput -- --k 5000 --sentences 20
  python docs/python/text_vae_ref.py iwae --k 5000 --sentences 20
"""
import argparse, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, UNK, BOS, EOS, SPECIALS = 0, 1, 2, 3, 4

class TextVAE(nn.Module):
    def __init__(s, v=1004, e=64, h=128, z=16, encode_bos=False):
        super().__init__()
        s.first = 0 if encode_bos else 1
        s.enc_emb = nn.Embedding(v, e); s.enc = nn.LSTM(e, h, batch_first=True)
        s.mu = nn.Linear(h, z); s.lv = nn.Linear(h, z)
        s.dec_emb = nn.Embedding(v, e); s.init = nn.Linear(z, h)
        s.dec = nn.LSTM(e + z, h, batch_first=True); s.out = nn.Linear(h, v)
    def encode(s, x):
        _, (hn, _) = s.enc(s.enc_emb(x[:, s.first:]))   # no padding, so h_n is the last state
        h = hn[0]; return s.mu(h), s.lv(h)
    def decode(s, x, z):
        inp = s.dec_emb(x[:, :-1])                # ids 0..T-2 in, logits for ids 1..T-1 out
        inp = torch.cat([inp, z.unsqueeze(1).expand(-1, inp.shape[1], -1)], 2)
        c0 = s.init(z); h0 = torch.tanh(c0)
        out, _ = s.dec(inp, (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous()))
        return s.out(out)

def sentences(n, v, t):
    x = torch.randint(SPECIALS, v, (n, t))
    x[:, 0] = BOS; x[:, -1] = EOS
    return x, torch.ones(n, t)                    # ids, mask (all ones: same length)

def log_px(logits, x, mask):
    """Masked sum over ids 1..T-1 of log softmax at the target id: [n]."""
    lp = F.log_softmax(logits, -1).gather(2, x[:, 1:].unsqueeze(2)).squeeze(2)
    return (lp * mask[:, 1:]).sum(1)

def model(args):
    return TextVAE(args.vocab, args.embed, args.hidden, args.latent, args.encode_bos)

def train(args):
    torch.manual_seed(0)
    m = model(args); opt = torch.optim.Adam(m.parameters(), 1e-3)
    x, mask = sentences(args.batch * 8, args.vocab, args.len)
    def step(i):
        sl = slice((i % 8) * args.batch, (i % 8 + 1) * args.batch)
        xb, mb = x[sl], mask[sl]
        mu, lv = m.encode(xb)
        z = mu + torch.randn_like(mu) * (0.5 * lv).exp()
        rec = -log_px(m.decode(xb, z), xb, mb)
        kl = -0.5 * torch.sum(1 + lv - mu.pow(2) - lv.exp(), 1)
        loss = (rec + kl).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        return loss
    for i in range(10): step(i)
    t = time.perf_counter()
    for i in range(args.steps): l = step(i)
    l.item(); dt = time.perf_counter() - t
    print(f"torch text train batch={args.batch} V={args.vocab} T={args.len} E={args.embed} H={args.hidden} Z={args.latent}: {args.steps*args.batch/dt:.0f} sentences/s")

@torch.no_grad()
def iwae(args):
    torch.manual_seed(0)
    m = model(args); x, mask = sentences(args.sentences, args.vocab, args.len)
    t = time.perf_counter(); tot = 0.0
    chunk = args.chunk
    for i in range(args.sentences):
        xi, mi = x[i:i+1], mask[i:i+1]
        mu, lv = m.encode(xi)
        std = (0.5 * lv).exp()
        lws = []
        for c in range(0, args.k, chunk):
            n = min(chunk, args.k - c)
            eps = torch.randn(n, mu.shape[1])
            z = mu + std * eps
            xs, ms = xi.expand(n, -1), mi.expand(n, -1)
            lpx = log_px(m.decode(xs, z), xs, ms)
            lpz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)
            lqz = -0.5 * (eps.pow(2) + lv + math.log(2 * math.pi)).sum(1)
            lws.append(lpx + lpz - lqz)
        lw = torch.cat(lws)
        tot += (torch.logsumexp(lw, 0) - math.log(args.k)).item()
    dt = time.perf_counter() - t
    print(f"torch text iwae k={args.k} V={args.vocab} T={args.len} E={args.embed} H={args.hidden} Z={args.latent}: {args.sentences*args.k/dt:.0f} log-weights/s (mean log p {tot/args.sentences:.2f})")

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
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "iwae"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--k", type=int, default=5000)
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--sentences", type=int, default=20)
    p.add_argument("--vocab", type=int, default=None, help="1004 (10002 with --ptb)")
    p.add_argument("--len", type=int, default=None, help="12 (23 with --ptb)")
    p.add_argument("--embed", type=int, default=None, help="64 (256 with --ptb)")
    p.add_argument("--hidden", type=int, default=None, help="128 (256 with --ptb)")
    p.add_argument("--latent", type=int, default=None, help="16 (32 with --ptb)")
    p.add_argument("--ptb", action="store_true", help="the sizes of vaekit's ptb study")
    p.add_argument("--encode-bos", action="store_true", help="encoder reads <s> too (T steps, not T-1)")
    a = p.parse_args()
    preset = dict(vocab=10002, len=23, embed=256, hidden=256, latent=32) if a.ptb else \
        dict(vocab=1004, len=12, embed=64, hidden=128, latent=16)
    for key, value in preset.items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    assert a.vocab > SPECIALS and a.len >= 3, "--vocab must exceed 4 and --len must be at least 3"
    header()
    train(a) if a.mode == "train" else iwae(a)

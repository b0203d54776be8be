"""PyTorch twin of vaekit's Penn Treebank text models: the LSTM text VAE
(`model.kind = "text_vae"`) and its decoder alone, the LSTM language model
(`"lstm_lm"`), trained on a text folder at the same budget (epochs) as a vaekit
run, reporting test NLL per sentence and perplexity so that vaekit's numbers can
be printed beside these.

What it does, exactly (as src/data/text.rs, src/data/tokens.rs, src/models/text.rs,
src/models/lstm.rs and docs/likelihood.md have it):
  data     --data DIR holds train.txt, valid.txt, test.txt, one sentence per line,
           tokens separated by whitespace (e.g. ../shared/data/ptb, Mikolov's PTB,
           which has literal <unk> tokens). Empty lines are skipped; sentences of
           more than --max-len (100, vaekit's data.max_len) words are dropped;
           the reserved tokens <s>, </s>, <pad> in the text are errors.
  vocab    from the training split alone (all of it, before --limit): ids
           <pad>=0, <unk>=1, <s>=2, </s>=3, then the --max-vocab (10,000) most
           frequent words seen at least --min-count (1) times, ties by first
           appearance. Any other word, and a literal <unk>, is id 1. On PTB:
           4 + 9,998 = 10,002 ids (its 10,000 types less <unk>, which is id 1, and
           the end of sentence, which is </s>).
  encoding a sentence of n words is <s> w1 .. wn </s> (n + 2 ids). The decoder
           reads <s> w1 .. wn and predicts w1 .. wn </s>: n + 1 predicted tokens,
           </s> counted, <s> never. --limit N keeps the first N training
           sentences (after the vocabulary is built, as vaekit's data.limit).
  batches  vaekit's bucketed batches: each epoch a seeded shuffle, cut into pools
           of 50 batches, each pool sorted by length (stable) and cut into
           batches of --batch (32), then the batches shuffled (numpy's PCG64
           seeded (seed, epoch); not vaekit's stream, so the same grouping rule
           but not the same batches). Padding on the right, masked out.
  encoder  (vae only) Embedding(V, E) -> one-layer LSTM(E, H) over the whole
           sentence, <s> and </s> included; its hidden state at the last real
           token (</s>) -> Linear(H, Z) for mu and Linear(H, Z) for log var.
           No dropout in the encoder.
  decoder  its own Embedding(V, E) of <s> w1 .. wn (word dropout: in training
           each word w1..wn, not <s>, is replaced by <unk> with probability
           --word-dropout; then dropout --embed-dropout on the embeddings); z
           concatenated to every step's input (vaekit's model.text.z_in_input,
           its default; --no-z-in-input turns it off); initial state
           c0 = Linear(Z, H)(z), h0 = tanh(c0); one-layer LSTM(E + Z, H);
           dropout --output-dropout on its outputs; Linear(H, V) -> logits.
           lm: the same decoder with no z (input E only) and a zero initial
           state; word dropout 0 unless --word-dropout is given.
  init     PyTorch defaults (Embedding N(0, 1); Linear U(+-1/sqrt(fan_in)) for
           weight and bias), which are burn's; LSTM weights and the input bias
           U(+-1/sqrt(H)) as nn.LSTM, but nn.LSTM's second bias (bias_hh) is set
           to 0 and frozen: vaekit's FusedLstm has one bias (a sum of two
           uniforms would start wider and learn at twice Adam's rate).
  loss     log p(x|z) per sentence = sum over predicted positions of
           mask * log_softmax(logits)[target] (by hand: log_softmax, gather,
           mask); KL = analytic KL(N(mu, e^lv) || N(0, I)); loss = mean over the
           batch of (-log p(x|z) + beta * KL), one z per sentence. Adam (lr
           --lr 1e-3, betas 0.9/0.999, eps 1e-8, vaekit's defaults), no gradient
           clipping (vaekit has none; --clip C clips the global norm, as texar's
           5). beta: linear from --kl-start (0.1) to 1 over --warmup-epochs (10),
           annealed per step as a fraction of epochs (vaekit's schedule.kind =
           "linear", unit = "epochs", beta_start = 0.1, warmup = 10): beta =
           0.1 + 0.9 * min(1, step / steps_per_epoch / 10), step counted from 0.
  epoch    prints the epoch, its seconds, the training loss (and its -log p(x|z),
           KL, beta), and on the validation split, without dropout: the negative
           ELBO per sentence with one posterior sample per sentence (as vaekit's
           validation line) and the KL, or for the lm the exact NLL; each with
           its perplexity.
  test     lm: exact NLL per sentence (+- standard error over sentences), NLL per
           token and perplexity, on every test sentence.
           vae: on every test sentence the negative ELBO (one sample) and KL;
           then on the first --eval-sentences test sentences (0 = all) the
           importance-weighted bound -L_k, k = --iwae-k (50; He et al. use 500)
           samples per sentence, log w = log p(x|z) + log p(z) - log q(z|x) with
           every constant kept, logsumexp in float64 over chunks of at most
           --eval-tokens (16000) decoder positions; beside it the negative ELBO
           with the same samples (mean of log p(x|z) over the k samples minus
           the analytic KL, as `vaekit eval`'s elbo_nats).
  ppl      perplexity = exp(sum of NLL / sum of predicted tokens), where a
           sentence of n words predicts n + 1 tokens (</s> counted, <s> not):
           docs/likelihood.md, the Penn Treebank convention. For the VAE it is
           an upper bound in expectation (from -L_k, or from the -ELBO).

Not what texar's PTB example does (its config_lstm_ptb.py is the source of the
defaults: embedding 256, LSTM 256, latent 32, decoder dropout in/out 0.5, word keep
0.5, Adam 1e-3, batch 32, KL weight 0.1 -> 1 over 10 epochs): texar also clips
gradients at global norm 5 (here --clip 5) and decays the learning rate when the
validation loss stalls (not here, not in vaekit); its connector maps z to both h0
and c0 linearly, where vaekit has h0 = tanh(c0).

Output: a first line naming the torch version, its thread count and whether the CPU
has AVX-512; the data line; one line per epoch; the test lines; with --json OUT the
final numbers as JSON (test_nll, test_ppl, test_elbo, kl, epochs,
seconds_per_epoch, torch, threads, avx512, and more).

Usage: python ptb_ref.py --data DIR --model lm|vae --epochs N [--batch 32]
           [--embed 256] [--hidden 256] [--latent 32] [--embed-dropout 0.5]
           [--output-dropout 0.5] [--word-dropout 0.5 (vae) / 0 (lm)] [--lr 1e-3]
           [--kl-start 0.1] [--warmup-epochs 10] [--max-len 100] [--seed 0]
           [--iwae-k 50] [--eval-sentences M] [--eval-tokens 16000] [--limit N]
           [--max-steps S] [--clip C] [--no-z-in-input] [--threads T] [--json OUT]
  --limit N      train on the first N training sentences (quick checks)
  --max-steps S  stop every epoch after S steps and print the projected time of a
                 whole epoch (timing only; seconds_per_epoch is then the projection)

Set-up: python3 -m venv /work/venv && /work/venv/bin/pip install torch numpy
--index-url https://download.pytorch.org/whl/cpu (the CPU wheel). Threads: torch's
default (all cores), printed; --threads T sets them.

Run it beside the vaekit run you compare it with, not at the same time: this
machine is shared and noisy (2 cores). Check that nothing else is busy (uptime):
with one of the 2 cores taken, torch's 2 threads oversubscribe and it runs several
times slower than with --threads 1.

  python docs/python/ptb_ref.py --data ../shared/data/ptb --model lm --epochs 10
  python docs/python/ptb_ref.py --data ../shared/data/ptb --model vae --epochs 10 --iwae-k 500
  quick check: ... --model vae --epochs 1 --limit 2000 --iwae-k 10 --eval-sentences 100

Measured (2 December 2026; torch 2.15.0, 2 threads, AVX-512; nothing else running,
load average 1.9-2.0 = this script's two threads): one epoch of the full PTB
training split (42,068 sentences, 1,315 batches) takes 166 s for the lm and 196 s
for the vae; validation 7 s; the vae's IWAE at k = 50 costs 39 s per 500 test
sentences (about 5 min for all 3,761; k = 500 about ten times that). With another
build on the machine (load average 3.3-3.8) the same epochs took 4.5 to 5.5 times
as long (920 s projected for the lm, 894 s for the vae).
"""
import argparse, json, math, time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]
LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------- data

def lines_of(path):
    """The file's lines as Rust's str::lines() gives them: split at \\n, a
    trailing \\r dropped, no empty last line after a final newline."""
    text = path.read_bytes().decode("utf-8")   # not UTF-8: an error, as vaekit
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [l[:-1] if l.endswith("\r") else l for l in lines]


def read_split(path, max_len):
    """-> (sentences as word lists, notes). Empty lines skipped, long ones dropped."""
    sentences, empty, long_ = [], [], []
    for i, line in enumerate(lines_of(path)):
        words = line.split()
        if not words:
            empty.append(i + 1)
            continue
        bad = next((w for w in words if w in SPECIALS and w != "<unk>"), None)
        if bad is not None:
            raise SystemExit(f"{path}: line {i + 1}: the token {bad} is reserved (vaekit adds "
                             f"<s> and </s> itself and pads with <pad>); remove it from the text")
        if len(words) > max_len:
            long_.append(i + 1)
            continue
        sentences.append(words)
    notes = []
    if empty:
        notes.append(f"{path}: skipped {len(empty)} empty line(s) (first at line {empty[0]})")
    if long_:
        notes.append(f"{path}: dropped {len(long_)} sentence(s) longer than max_len = {max_len} "
                     f"words (first at line {long_[0]})")
    if not sentences:
        raise SystemExit(f"{path}: no sentence left")
    return sentences, notes


def build_vocab(sentences, max_vocab, min_count):
    """The ids of vaekit's Vocab::build: specials, then words by count (descending),
    ties by first appearance; at most max_vocab (0 = all), at least min_count."""
    counts, first = {}, {}
    for s in sentences:
        for w in s:
            if w in SPECIALS:
                continue
            if w not in counts:
                counts[w] = 0
                first[w] = len(first)
            counts[w] += 1
    ranked = [w for w in counts if counts[w] >= max(1, min_count)]
    ranked.sort(key=lambda w: (-counts[w], first[w]))
    if max_vocab > 0:
        ranked = ranked[:max_vocab]
    words = SPECIALS + ranked
    return words, {w: i for i, w in enumerate(words)}


def encode(sentences, index):
    """-> (list of id lists <s> .. </s>, share of <unk> among the words)."""
    seqs, unk, n = [], 0, 0
    for s in sentences:
        ids = [index.get(w, UNK) for w in s]
        unk += sum(i == UNK for i in ids)
        n += len(ids)
        seqs.append([BOS] + ids + [EOS])
    return seqs, unk / max(1, n)


def load(args):
    d = Path(args.data)
    splits, notes = [], []
    for name in ["train.txt", "valid.txt", "test.txt"]:
        if not (d / name).is_file():
            raise SystemExit(f"{d / name}: missing; a text folder holds train.txt, valid.txt, test.txt")
        s, n = read_split(d / name, args.max_len)
        splits.append(s)
        notes += n
    words, index = build_vocab(splits[0], args.max_vocab, args.min_count)
    out = []
    for name, s in zip(["train.txt", "valid.txt", "test.txt"], splits):
        seqs, unk = encode(s, index)
        if unk > 0:
            notes.append(f"{d / name}: {100 * unk:.2f}% of words read as <unk> (vocabulary {len(words)})")
        out.append(seqs)
    train, val, test = out
    if args.limit and args.limit < len(train):
        train = train[:args.limit]
    return words, train, val, test, notes


def predicted_tokens(seqs):
    return sum(len(s) - 1 for s in seqs)


def bucketed_batches(seqs, batch, seed, epoch):
    """vaekit's TokenSet::bucketed_batches, with numpy's generator: shuffle, pools
    of 50 batches each sorted by length (stable) and cut, batches shuffled."""
    rng = np.random.Generator(np.random.PCG64([seed, epoch]))
    order = rng.permutation(len(seqs))
    batches = []
    pool = batch * 50
    for p in range(0, len(order), pool):
        chunk = sorted(order[p:p + pool].tolist(), key=lambda i: len(seqs[i]))
        batches += [chunk[b:b + batch] for b in range(0, len(chunk), batch)]
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def pad(seqs, idx):
    """ids [B, T] (padded on the right with <pad>), mask [B, T], lengths [B]."""
    lengths = torch.tensor([len(seqs[i]) for i in idx])
    t = int(lengths.max())
    ids = torch.full((len(idx), t), PAD, dtype=torch.long)
    for r, i in enumerate(idx):
        ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
    mask = (torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)).float()
    return ids, mask, lengths


# ---------------------------------------------------------------- model

def lstm(d_in, h):
    """nn.LSTM with vaekit's FusedLstm parameters: one bias (bias_hh zero, frozen)."""
    m = nn.LSTM(d_in, h, batch_first=True)
    with torch.no_grad():
        m.bias_hh_l0.zero_()
    m.bias_hh_l0.requires_grad_(False)
    return m


class TextModel(nn.Module):
    def __init__(s, v, args):
        super().__init__()
        s.lm = args.model == "lm"
        e, h, z = args.embed, args.hidden, args.latent
        s.z_in = args.z_in_input and not s.lm
        if not s.lm:
            s.enc_emb = nn.Embedding(v, e)
            s.enc = lstm(e, h)
            s.mu = nn.Linear(h, z)
            s.lv = nn.Linear(h, z)
            s.init = nn.Linear(z, h)
        s.emb = nn.Embedding(v, e)
        s.dec = lstm(e + (z if s.z_in else 0), h)
        s.out = nn.Linear(h, v)
        s.embed_dropout, s.output_dropout = args.embed_dropout, args.output_dropout
        s.word_dropout = args.word_dropout

    def encode(s, ids, lengths):
        """q(z|x): the encoder LSTM's state at each sentence's last real token."""
        out, _ = s.enc(s.enc_emb(ids))
        last = out[torch.arange(len(ids)), lengths - 1]
        return s.mu(last), s.lv(last)

    def log_px(s, ids, mask, lengths, z):
        """log p(x|z) per sentence [B]: the decoder reads ids 0..T-2 and predicts
        ids 1..T-1; padded positions masked out. z [B, Z] (None for the lm)."""
        inp = ids[:, :-1]
        if s.training and s.word_dropout > 0:
            pos = torch.arange(inp.shape[1]).unsqueeze(0)
            words = (pos >= 1) & (pos <= (lengths - 2).unsqueeze(1))     # w1..wn, not <s>
            drop = (torch.rand(inp.shape) < s.word_dropout) & words
            inp = inp.masked_fill(drop, UNK)
        x = F.dropout(s.emb(inp), s.embed_dropout, s.training)
        if s.z_in:
            x = torch.cat([x, z.unsqueeze(1).expand(-1, x.shape[1], -1)], 2)
        if s.lm:
            state = None                                                 # zeros
        else:
            c0 = s.init(z)
            state = (torch.tanh(c0).unsqueeze(0), c0.unsqueeze(0))
        hs, _ = s.dec(x, state)
        logits = s.out(F.dropout(hs, s.output_dropout, s.training))
        lp = F.log_softmax(logits, -1).gather(2, ids[:, 1:].unsqueeze(2)).squeeze(2)
        return (lp * mask[:, 1:]).sum(1)


def analytic_kl(mu, lv):
    return 0.5 * (mu.pow(2) + lv.exp() - lv - 1.0).sum(-1)


def beta_at(step, steps_per_epoch, args):
    if args.model == "lm":
        return 0.0
    if args.warmup_epochs <= 0:
        return 1.0
    t = step / steps_per_epoch
    return args.kl_start + (1.0 - args.kl_start) * min(1.0, t / args.warmup_epochs)


def forward(m, ids, mask, lengths, gen=None):
    """-> (log p(x|z) [B], KL [B]) with one z ~ q(z|x) per sentence."""
    if m.lm:
        return m.log_px(ids, mask, lengths, None), torch.zeros(len(ids))
    mu, lv = m.encode(ids, lengths)
    eps = torch.randn(mu.shape, generator=gen)
    z = mu + torch.exp(0.5 * lv) * eps
    return m.log_px(ids, mask, lengths, z), analytic_kl(mu, lv)


# ---------------------------------------------------------------- evaluation

def length_groups(seqs, idx, tokens):
    """Sentences idx sorted by length, grouped so that rows * T <= tokens."""
    idx = sorted(idx, key=lambda i: len(seqs[i]))
    groups, cur = [], []
    for i in idx:
        if cur and (len(cur) + 1) * len(seqs[i]) > tokens:
            groups.append(cur)
            cur = []
        cur.append(i)
    if cur:
        groups.append(cur)
    return groups


@torch.no_grad()
def elbo_eval(m, seqs, args, seed):
    """One-sample ELBO (or the lm's exact log p) per sentence, float64 numpy:
    (log p(x|z) [N], KL [N]) in the order of seqs. No dropout."""
    m.eval()
    gen = torch.Generator().manual_seed(seed)
    rec, kl = np.zeros(len(seqs)), np.zeros(len(seqs))
    for g in length_groups(seqs, range(len(seqs)), args.eval_tokens):
        ids, mask, lengths = pad(seqs, g)
        r, k = forward(m, ids, mask, lengths, gen)
        rec[g], kl[g] = r.double().numpy(), k.double().numpy()
    m.train()
    return rec, kl


@torch.no_grad()
def iwae_eval(m, seqs, k, args, seed):
    """L_k and the k-sample ELBO per sentence (float64 numpy, order of seqs):
    log w = log p(x|z) + log N(z; 0, I) - log q(z|x), z = mu + sigma * eps;
    chunks of at most --eval-tokens decoder positions, combined by logsumexp."""
    m.eval()
    gen = torch.Generator().manual_seed(seed)
    lk, elbo = np.zeros(len(seqs)), np.zeros(len(seqs))
    # Sentences per forward pass: all k samples of several short sentences, or
    # part of one sentence's samples.
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    p = 0
    while p < len(order):
        t = len(seqs[order[p]])
        rows = max(1, args.eval_tokens // t)
        nsent = max(1, rows // k)
        g = order[p:p + nsent]
        p += len(g)
        ids, mask, lengths = pad(seqs, g)
        t = ids.shape[1]
        per = max(1, min(k, args.eval_tokens // (t * len(g))))   # samples per pass
        mu, lv = m.encode(ids, lengths)
        kl = analytic_kl(mu, lv).double()
        acc, rec_sum = None, torch.zeros(len(g), dtype=torch.float64)
        for c in range(0, k, per):
            n = min(per, k - c)
            eps = torch.randn((n,) + mu.shape, generator=gen)             # [n, B, Z]
            z = mu + torch.exp(0.5 * lv) * eps
            b = len(g)
            lpx = m.log_px(ids.repeat(n, 1), mask.repeat(n, 1), lengths.repeat(n),
                           z.reshape(n * b, -1)).reshape(n, b)
            lw = (lpx + (-0.5 * (LOG_2PI + z.pow(2)).sum(-1))
                  - (-0.5 * (LOG_2PI + lv + eps.pow(2)).sum(-1))).double()
            l = torch.logsumexp(lw, 0)
            acc = l if acc is None else torch.logaddexp(acc, l)
            rec_sum += lpx.double().sum(0)
        lk[g] = (acc - math.log(k)).numpy()
        elbo[g] = (rec_sum / k - kl).numpy()
    m.train()
    return lk, elbo


def mean_se(v):
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan"))


def ppl(nll_sum, tokens):
    return math.exp(nll_sum / tokens)


# ---------------------------------------------------------------- run

def cpu_flags():
    try:
        return next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "").split()
    except OSError:
        return None


def header():
    flags = cpu_flags()
    if flags is None:
        cpu = "unknown"
    else:
        cpu = "AVX-512" if "avx512f" in flags else ("no AVX-512 (AVX2)" if "avx2" in flags else "no AVX-512")
    cap = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    kern = f" (torch kernels: {cap()})" if cap else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu: {cpu}{kern}", flush=True)


def run(args):
    torch.manual_seed(args.seed)
    words, train, val, test, notes = load(args)
    v = len(words)
    print(f"data {args.data}: train {len(train)}, val {len(val)}, test {len(test)} sentences; "
          f"vocabulary {v} (with <pad> <unk> <s> </s>); predicted tokens (words + </s>): "
          f"train {predicted_tokens(train)}, val {predicted_tokens(val)}, test {predicted_tokens(test)}")
    for n in notes:
        print("note: " + n)
    m = TextModel(v, args)
    n_params = sum(p.numel() for p in m.parameters() if p.requires_grad)
    print(f"model {args.model}: embed {args.embed} hidden {args.hidden}"
          + ("" if args.model == "lm" else f" latent {args.latent} z_in_input {args.z_in_input}")
          + f"; dropout embed {args.embed_dropout} output {args.output_dropout} word {args.word_dropout}; "
          f"{n_params} parameters; Adam lr {args.lr}, batch {args.batch}, clip {args.clip or 'none'}"
          + ("" if args.model == "lm" else
             f"; beta {args.kl_start} -> 1 over {args.warmup_epochs} epochs (per step)")
          + f"; epochs {args.epochs}, seed {args.seed}", flush=True)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=args.lr,
                           betas=(0.9, 0.999), eps=1e-8)
    val_tok = predicted_tokens(val)
    step, per_epoch, history = 0, [], []
    for ep in range(args.epochs):
        batches = bucketed_batches(train, args.batch, args.seed, ep)
        spe = len(batches)
        t0 = time.perf_counter()
        tot = rec_tot = kl_tot = 0.0
        n = 0
        for bi, b in enumerate(batches):
            ids, mask, lengths = pad(train, b)
            beta = beta_at(step, spe, args)
            rec, kl = forward(m, ids, mask, lengths)
            loss = (-rec + beta * kl).mean()
            opt.zero_grad()
            loss.backward()
            if args.clip > 0:
                nn.utils.clip_grad_norm_(m.parameters(), args.clip)
            opt.step()
            step += 1
            tot += loss.item() * len(b)
            rec_tot += -rec.sum().item()
            kl_tot += kl.sum().item()
            n += len(b)
            if args.max_steps and bi + 1 >= args.max_steps:
                break
        dt = time.perf_counter() - t0
        partial = n < len(train)
        if partial:
            proj = dt * spe / (bi + 1)
            print(f"epoch {ep + 1}: {bi + 1}/{spe} steps in {dt:.1f} s -> projected "
                  f"{proj:.1f} s for the whole epoch", flush=True)
            per_epoch.append(proj)
        else:
            per_epoch.append(dt)
        tv = time.perf_counter()
        vrec, vkl = elbo_eval(m, val, args, args.seed + 1)
        vnll = -(vrec - vkl)
        tv = time.perf_counter() - tv
        what = "NLL (exact)" if args.model == "lm" else "-ELBO (1 sample)"
        line = (f"epoch {ep + 1}/{args.epochs} {dt:.1f} s  train loss {tot / n:.3f} "
                f"(-log p(x|z) {rec_tot / n:.3f} KL {kl_tot / n:.3f} beta {beta:.3f})  "
                f"val {what} {vnll.mean():.3f} KL {vkl.mean():.3f} ppl {ppl(vnll.sum(), val_tok):.2f}  "
                f"(val {tv:.1f} s)")
        print(line, flush=True)
        history.append(dict(epoch=ep + 1, seconds=per_epoch[-1], train_loss=tot / n,
                            train_rec=rec_tot / n, train_kl=kl_tot / n, beta=beta,
                            val_nll=float(vnll.mean()), val_kl=float(vkl.mean()),
                            val_ppl=ppl(vnll.sum(), val_tok), partial=partial))
    spe_mean = sum(per_epoch) / max(1, len(per_epoch))
    print(f"train {sum(per_epoch):.1f} s, mean {spe_mean:.1f} s/epoch "
          f"({len(train)} sentences, batch {args.batch})", flush=True)

    print("perplexity = exp(sum of NLL / sum of predicted tokens), a sentence of n words "
          "predicting n + 1 tokens (</s> counted, <s> not)")
    te = time.perf_counter()
    rec, kl = elbo_eval(m, test, args, args.seed + 2)
    neg_elbo = -(rec - kl)
    tok = predicted_tokens(test)
    res = dict(model=args.model, data=str(args.data), epochs=args.epochs, seed=args.seed,
               n_train=len(train), n_val=len(val), n_test=len(test), vocab=v,
               test_tokens=tok, seconds_per_epoch=spe_mean, epoch_seconds=per_epoch,
               history=history,
               hyper=dict(batch=args.batch, embed=args.embed, hidden=args.hidden,
                          latent=args.latent if args.model == "vae" else 0,
                          z_in_input=args.z_in_input and args.model == "vae",
                          embed_dropout=args.embed_dropout, output_dropout=args.output_dropout,
                          word_dropout=args.word_dropout, lr=args.lr, clip=args.clip,
                          kl_start=args.kl_start, warmup_epochs=args.warmup_epochs,
                          max_len=args.max_len, max_vocab=args.max_vocab,
                          min_count=args.min_count, limit=args.limit),
               ppl_convention="exp(sum NLL / sum (words + 1)): </s> counted, <s> not",
               torch=torch.__version__, threads=torch.get_num_threads(),
               avx512=bool(cpu_flags() and "avx512f" in cpu_flags()))
    if args.model == "lm":
        nll, se = mean_se(neg_elbo)
        print(f"test NLL (exact, {len(test)} sentences) {nll:.3f} +- {se:.3f} nats/sentence, "
              f"{neg_elbo.sum() / tok:.4f} nats/token over {tok} tokens, perplexity "
              f"{ppl(neg_elbo.sum(), tok):.2f}", flush=True)
        res.update(test_nll=nll, test_nll_se=se, test_nll_per_token=neg_elbo.sum() / tok,
                   test_ppl=ppl(neg_elbo.sum(), tok), test_elbo=nll, kl=0.0,
                   eval_sentences=len(test), iwae_k=1)
    else:
        e, se = mean_se(neg_elbo)
        print(f"test -ELBO (1 sample, {len(test)} sentences) {e:.3f} +- {se:.3f} nats/sentence, "
              f"KL {kl.mean():.3f}, -log p(x|z) {-rec.mean():.3f}; "
              f"perplexity bound {ppl(neg_elbo.sum(), tok):.2f}", flush=True)
        sub = test[:args.eval_sentences] if args.eval_sentences else test
        stok = predicted_tokens(sub)
        ti = time.perf_counter()
        lk, elbo_k = iwae_eval(m, sub, args.iwae_k, args, args.seed + 3)
        ti = time.perf_counter() - ti
        nll, nse = mean_se(-lk)
        print(f"test NLL (-L_{args.iwae_k}, first {len(sub)} sentences, {stok} tokens) "
              f"{nll:.3f} +- {nse:.3f} nats/sentence, {-lk.sum() / stok:.4f} nats/token, "
              f"perplexity {ppl(-lk.sum(), stok):.2f}; -ELBO (same {args.iwae_k} samples) "
              f"{-elbo_k.mean():.3f}, perplexity {ppl(-elbo_k.sum(), stok):.2f}; {ti:.1f} s",
              flush=True)
        res.update(test_nll=nll, test_nll_se=nse, test_nll_per_token=-lk.sum() / stok,
                   test_ppl=ppl(-lk.sum(), stok), iwae_k=args.iwae_k,
                   eval_sentences=len(sub), eval_predicted_tokens=stok,
                   test_elbo=e, test_elbo_se=se, test_elbo_ppl=ppl(neg_elbo.sum(), tok),
                   test_elbo_k=float(-elbo_k.mean()), kl=float(kl.mean()),
                   test_rec=float(-rec.mean()), iwae_seconds=ti)
    res["eval_seconds"] = time.perf_counter() - te
    print(f"eval {res['eval_seconds']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="PyTorch twin of vaekit's PTB text VAE and LSTM LM")
    p.add_argument("--data", required=True, help="folder with train.txt, valid.txt, test.txt")
    p.add_argument("--model", choices=["lm", "vae"], default="vae")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--embed", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--no-z-in-input", dest="z_in_input", action="store_false",
                   help="z sets the decoder's initial state only (vaekit: model.text.z_in_input = false)")
    p.add_argument("--embed-dropout", type=float, default=0.5)
    p.add_argument("--output-dropout", type=float, default=0.5)
    p.add_argument("--word-dropout", type=float, default=None, help="default 0.5 (vae), 0 (lm)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=0.0, help="global gradient-norm clip (0 = none, as vaekit)")
    p.add_argument("--kl-start", type=float, default=0.1)
    p.add_argument("--warmup-epochs", type=float, default=10.0)
    p.add_argument("--max-len", type=int, default=100, help="drop sentences of more words (vaekit data.max_len)")
    p.add_argument("--max-vocab", type=int, default=10000)
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--limit", type=int, default=0, help="train on the first N training sentences only")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop each epoch after N steps and project its time (timing only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iwae-k", type=int, default=50)
    p.add_argument("--eval-sentences", type=int, default=0, help="IWAE on the first M test sentences (0 = all)")
    p.add_argument("--eval-tokens", type=int, default=16000, help="decoder positions per evaluation pass")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", default="", help="write the final numbers here")
    a = p.parse_args()
    if a.word_dropout is None:
        a.word_dropout = 0.5 if a.model == "vae" else 0.0
    assert a.epochs >= 1 and a.batch >= 1 and a.iwae_k >= 1 and a.max_len >= 1
    for name in ["embed_dropout", "output_dropout"]:
        assert 0 <= getattr(a, name) < 1, f"--{name.replace('_', '-')} must be in [0, 1)"
    assert 0 <= a.word_dropout <= 1
    if a.threads:
        torch.set_num_threads(a.threads)
    header()
    run(a)

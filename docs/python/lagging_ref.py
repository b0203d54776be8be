"""PyTorch twin of He, Spokoyny, Neubig & Berg-Kirkpatrick (ICLR 2019), "Lagging
inference networks and posterior collapse in variational autoencoders": the text
training procedure of their `text.py` (github.com/jxhe/vae-lagging-encoder, HEAD
cdc4eb9) with the model of `config/config_synthetic.py`. Re-written from a reading
of their code (text.py, modules/vae.py, modules/encoders/{encoder,enc_lstm}.py,
modules/decoders/dec_lstm.py, data/text_data.py); the algorithm is theirs, the
code is not a copy. Deviations are listed at the end of this docstring.

Data   DIR/{train,valid,test}.txt, one sentence a line, words split on spaces;
       empty lines are dropped. Vocabulary: <pad>=0 <s>=1 </s>=2 <unk>=3, then
       the training words in order of first appearance (valid/test words not in
       it map to <unk>). A sentence becomes <s> w1 .. wn </s>.
Model  encoder: Embedding(V, ni) -> LSTM(ni, enc_nh) over the whole id sequence
       (<s> and </s> included); its last hidden state -> Linear(enc_nh, 2 nz, no
       bias), split into mean and log-variance.
       decoder: its own Embedding(V, ni) -> dropout 0.5 -> concatenated with z at
       every step -> LSTM(ni + nz, dec_nh) with c0 = Linear(nz, dec_nh, no bias)(z),
       h0 = tanh(c0) -> dropout 0.5 -> Linear(dec_nh, V, no bias). It reads ids
       0..T-2 and predicts ids 1..T-1 (so </s> is predicted, <s> is not).
       Every parameter ~ U(-0.01, 0.01), both embeddings ~ U(-0.1, 0.1).
       nz=2 ni=50 enc_nh=dec_nh=50 (synthetic config).
Loss   per sentence: summed token cross-entropy (1 sample of z) + w * KL(q||N(0,I)),
       averaged over the batch; w goes from --kl_start to 1 linearly, raised by
       (1 - kl_start) / (warm_up * n_train / 16) before every batch.
Train  SGD for the encoder and SGD for the decoder, lr 1, momentum 0; gradient
       norm clipped to 5 over all parameters (both halves) at every update.
       Aggressive mode, per batch: up to 99 encoder-only updates, the first on the
       current batch and each later one on a batch drawn uniformly at random (with
       replacement); after every 15th the mean per-word loss of those 15 is
       compared with that of the previous 15 and the loop stops if it rose. Then
       one joint step on the current batch that updates only the decoder while
       aggressive, both halves otherwise. At the end of each aggressive epoch the
       validation MI is compared with the previous epoch's (0 before the first)
       and aggressive mode ends for good if it fell.
       After each epoch: validation -ELBO (w = 1, one z sample, dropout off);
       the best model so far is kept. Plateau decay: when the validation loss is
       above the reference loss for 2 epochs in a row and epoch >= 15 (0-based),
       halve the lr, reload the best model, new optimizers; stop after 5 decays.
       At the end the best model is reloaded and evaluated on test.
Metrics
       MI: per batch of 16, I(x;z) under q with the aggregate posterior taken
       over that batch only, from one z per sentence:
       mean_i E_q log q(z|x_i)  -  mean_i log (1/B) sum_j q(z_i | x_j),
       then averaged over batches weighted by batch size (their calc_mi_q).
       AU: dimensions whose encoder mean has variance >= 0.01 over the set
       (unbiased variance). KL: mean analytic KL per sentence. -ELBO: mean per
       sentence. NLL_iw: -log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q, K =
       --iw_nsamples, per sentence, averaged; ppl = exp(total / (words + </s>)).

Usage
  python docs/python/lagging_ref.py --data DIR [--aggressive 1] [--kl_start 1.0]
      [--warm_up 10] [--epochs 50] [--nz 2] [--seed 783435] [--iw_nsamples 500]
      [--max_train N] [--out FILE.json]

Known deviations from their code (all deliberate):
  * Batching is their create_data_batch (stable-by-length groups of <= 16, the
    groups fixed once, visited in a fresh random order each epoch). With the
    synthetic data every sentence has 10 words, so this is the same as fixed
    batches of 16 consecutive sentences in shuffled order. Their np.argsort is
    not stable, so which equal-length sentences share a batch differs; for i.i.d.
    lines that is immaterial. We sort stably.
  * --seed is used as given (theirs overrides it with seed_set[taskid]; the
    default 783435 is their taskid 0). Random streams differ from theirs anyway.
  * Validation is DIR/valid.txt (their synthetic config validates on the test file).
  * The importance-weighted NLL batches sentences (theirs: batch size 1) and takes
    its K samples in chunks of min(100, remaining); theirs takes int(K/100) chunks
    of 100, which crashes for K < 100 and drops the remainder for other K. Same
    estimator for K a multiple of 100.
  * Their per-iteration progress logging (MI/AU on validation every tenth of an
    epoch, only printed) is left out; it only consumes random numbers.
  * Their evaluation loops visit batches in a random permutation; we go in order
    (sums are order-independent).
  * The best model is kept in memory instead of a .pt file.
  * warm_up 0 gives w = 1 from the first step (theirs divides by zero).
  Reproduced on purpose although it looks unintended in theirs: the decoder
  embedding is built with padding_idx=-1, which torch reads as the LAST vocabulary
  id, so that word's decoder input embedding never gets a gradient (it keeps its
  random init). Also the MI used for stopping aggressive mode is a single-sample,
  per-batch estimate, so it is noisy; and pre_mi starts at 0.
"""
import argparse
import copy
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_GRAD = 5.0
DECAY_EPOCH = 2
LR_DECAY = 0.5
MAX_DECAY = 5
BATCH_SIZE = 16
DECAY_FROM_EPOCH = 15   # plateau decay only when epoch (0-based) >= 15
IW_CHUNK = 100          # their ns


# ----------------------------------------------------------------------------- data

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3


def read_sentences(path, limit=None):
    """Word lists, one per non-empty line (their reader drops empty lines)."""
    out = []
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            out.append(words)
            if limit is not None and len(out) >= limit:
                break
    return out


def build_vocab(sentences):
    w2i = {w: i for i, w in enumerate(SPECIALS)}
    for s in sentences:
        for w in s:
            if w not in w2i:
                w2i[w] = len(w2i)
    return w2i


def make_batches(sentences, w2i, batch_size=BATCH_SIZE):
    """Their create_data_batch: order by length, cut each equal-length run into
    groups of <= batch_size, each group a (B, len + 2) LongTensor <s> .. </s>.
    For constant-length data (the synthetic set: 10 words each) this is just
    consecutive groups of 16, shuffled per epoch by the caller = shuffled batches."""
    ids = [[w2i.get(w, UNK) for w in s] for s in sentences]
    lengths = np.array([len(s) for s in ids])
    order = np.argsort(lengths, kind="stable")
    batches = []
    start = 0
    n = len(order)
    while start < n:
        L = lengths[order[start]]
        end = start
        while end < n and end - start < batch_size and lengths[order[end]] == L:
            end += 1
        rows = [[BOS] + ids[k] + [EOS] for k in order[start:end]]
        batches.append(torch.tensor(rows, dtype=torch.long))
        start = end
    return batches


# ---------------------------------------------------------------------------- model

class Encoder(nn.Module):
    def __init__(self, vocab, ni, nh, nz):
        super().__init__()
        self.embed = nn.Embedding(vocab, ni)
        self.lstm = nn.LSTM(ni, nh, num_layers=1, batch_first=True)
        self.to_stats = nn.Linear(nh, 2 * nz, bias=False)

    def forward(self, x):
        _, (h_last, _) = self.lstm(self.embed(x))      # h_last: (1, B, nh)
        mu, logvar = self.to_stats(h_last[0]).chunk(2, dim=-1)
        return mu, logvar


class Decoder(nn.Module):
    def __init__(self, vocab, ni, nh, nz, drop_in, drop_out):
        super().__init__()
        self.ni, self.nz = ni, nz
        # Their padding_idx=-1 ("no padding") means id vocab-1 to torch: that
        # row gets zero gradient. Kept to match their training exactly.
        self.embed = nn.Embedding(vocab, ni, padding_idx=-1)
        self.drop_in = nn.Dropout(drop_in)
        self.drop_out = nn.Dropout(drop_out)
        self.z_to_cell = nn.Linear(nz, nh, bias=False)
        self.lstm = nn.LSTM(ni + nz, nh, num_layers=1, batch_first=True)
        self.to_vocab = nn.Linear(nh, vocab, bias=False)

    def neg_log_lik(self, x, z):
        """-log p(x | z) summed over target tokens. x: (B, T), z: (B, S, nz)
        -> (B, S)."""
        inp, tgt = x[:, :-1], x[:, 1:]
        B, T = inp.shape
        S = z.size(1)
        emb = self.drop_in(self.embed(inp))                       # mask shared by the S samples
        emb = emb.unsqueeze(1).expand(B, S, T, self.ni).reshape(B * S, T, self.ni)
        zz = z.unsqueeze(2).expand(B, S, T, self.nz).reshape(B * S, T, self.nz)
        flat_z = z.reshape(B * S, self.nz)
        c0 = self.z_to_cell(flat_z).unsqueeze(0)
        h0 = torch.tanh(c0)
        out, _ = self.lstm(torch.cat([emb, zz], dim=-1), (h0, c0))
        logits = self.to_vocab(self.drop_out(out))                 # (B*S, T, V)
        tgt = tgt.unsqueeze(1).expand(B, S, T).reshape(-1)
        ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt, reduction="none")
        return ce.view(B, S, T).sum(-1)


class VAE(nn.Module):
    def __init__(self, vocab, nz=2, ni=50, enc_nh=50, dec_nh=50, drop_in=0.5, drop_out=0.5):
        super().__init__()
        self.nz = nz
        self.encoder = Encoder(vocab, ni, enc_nh, nz)
        self.decoder = Decoder(vocab, ni, dec_nh, nz, drop_in, drop_out)
        for half in (self.encoder, self.decoder):
            for p in half.parameters():
                nn.init.uniform_(p, -0.01, 0.01)
            nn.init.uniform_(half.embed.weight, -0.1, 0.1)

    @staticmethod
    def draw(mu, logvar, n):
        std = (0.5 * logvar).exp()
        eps = torch.randn(mu.size(0), n, mu.size(1), dtype=mu.dtype)
        return mu.unsqueeze(1) + eps * std.unsqueeze(1)             # (B, n, nz)

    def loss(self, x, kl_weight, nsamples=1):
        mu, logvar = self.encoder(x)
        z = self.draw(mu, logvar, nsamples)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)
        rec = self.decoder.neg_log_lik(x, z).mean(1)
        return rec + kl_weight * kl, rec, kl

    @staticmethod
    def log_gauss(z, mu, logvar):
        """log N(z; mu, diag exp(logvar)) summed over the last dim (broadcasting)."""
        nz = z.size(-1)
        return (-0.5 * ((z - mu) ** 2 / logvar.exp()).sum(-1)
                - 0.5 * (nz * math.log(2 * math.pi) + logvar.sum(-1)))

    def mi_batch(self, x):
        """Their calc_mi_q: MI of q(z|x) on one batch, aggregate posterior over it."""
        mu, logvar = self.encoder(x)
        B, nz = mu.shape
        neg_entropy = (-0.5 * nz * math.log(2 * math.pi) - 0.5 * (1 + logvar).sum(-1)).mean()
        z = self.draw(mu, logvar, 1)                                  # (B, 1, nz)
        dens = self.log_gauss(z, mu.unsqueeze(0), logvar.unsqueeze(0))  # (B_z, B_x)
        log_qz = torch.logsumexp(dens, dim=1) - math.log(B)
        return (neg_entropy - log_qz.mean()).item()

    def nll_iw(self, x, k):
        """-log p(x) by importance weighting with k samples of q. -> (B,)"""
        mu, logvar = self.encoder(x)
        parts = []
        left = k
        while left > 0:
            n = min(IW_CHUNK, left)
            z = self.draw(mu, logvar, n)                                # (B, n, nz)
            log_prior = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_joint = log_prior - self.decoder.neg_log_lik(x, z)
            log_q = self.log_gauss(z, mu.unsqueeze(1), logvar.unsqueeze(1))
            parts.append(log_joint - log_q)
            left -= n
        return -(torch.logsumexp(torch.cat(parts, dim=1), dim=1) - math.log(k))


# -------------------------------------------------------------------------- metrics

def n_targets(b):
    return b.size(0) * (b.size(1) - 1)


@torch.no_grad()
def calc_mi(model, batches):
    total, n = 0.0, 0
    for b in batches:
        total += model.mi_batch(b) * b.size(0)
        n += b.size(0)
    return total / n


@torch.no_grad()
def calc_au(model, batches, delta=0.01):
    means = torch.cat([model.encoder(b)[0] for b in batches], dim=0)
    var = ((means - means.mean(0, keepdim=True)) ** 2).sum(0) / (means.size(0) - 1)
    return int((var >= delta).sum().item()), var.tolist()


@torch.no_grad()
def evaluate(model, batches):
    """Their test(): -ELBO with w = 1 and one z sample, KL, MI. Eval mode."""
    rec = kl = 0.0
    sents = words = 0
    for b in batches:
        _, r, k = model.loss(b, 1.0, nsamples=1)
        rec += r.sum().item()
        kl += k.sum().item()
        sents += b.size(0)
        words += n_targets(b)
    mi = calc_mi(model, batches)
    loss = (rec + kl) / sents
    return dict(loss=loss, rec=rec / sents, kl=kl / sents, mi=mi,
                ppl=math.exp(loss * sents / words))


@torch.no_grad()
def calc_iwnll(model, batches, k):
    tot, sents, words = 0.0, 0, 0
    for b in batches:
        tot += model.nll_iw(b, k).sum().item()
        sents += b.size(0)
        words += n_targets(b)
    return tot / sents, math.exp(tot / words)


# ------------------------------------------------------------------------- training

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, default=783435)
    ap.add_argument("--nz", type=int, default=2)
    ap.add_argument("--aggressive", type=int, default=0)
    ap.add_argument("--kl_start", type=float, default=1.0)
    ap.add_argument("--warm_up", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--iw_nsamples", type=int, default=500)
    ap.add_argument("--max_train", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    torch.set_num_threads(2)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    train_s = read_sentences(f"{args.data}/train.txt", args.max_train)
    w2i = build_vocab(train_s)
    valid_s = read_sentences(f"{args.data}/valid.txt")
    test_s = read_sentences(f"{args.data}/test.txt")
    train_b = make_batches(train_s, w2i)
    valid_b = make_batches(valid_s, w2i)
    test_b = make_batches(test_s, w2i)
    n_train = len(train_s)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; train {n_train} "
          f"valid {len(valid_s)} test {len(test_s)} sentences, vocab {len(w2i)}, "
          f"{len(train_b)} train batches", flush=True)

    model = VAE(len(w2i), nz=args.nz)
    lr = 1.0
    enc_opt = torch.optim.SGD(model.encoder.parameters(), lr=lr, momentum=0)
    dec_opt = torch.optim.SGD(model.decoder.parameters(), lr=lr, momentum=0)

    kl_weight = args.kl_start
    if args.warm_up > 0:
        anneal_rate = (1.0 - args.kl_start) / (args.warm_up * (n_train / BATCH_SIZE))
    else:
        anneal_rate = 1.0 - args.kl_start
    aggressive = bool(args.aggressive)
    pre_mi = 0.0
    best_loss = 1e4
    best_state = None
    ref_loss, not_improved, decay_cnt = 1e4, 0, 0
    records = []

    def step_params():
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_GRAD)

    model.train()
    for epoch in range(args.epochs):
        t0 = time.time()
        agg_this_epoch = aggressive
        rec_sum = kl_sum = 0.0
        sents = 0
        inner_steps = []
        for i in np.random.permutation(len(train_b)):
            batch = train_b[i]
            kl_weight = min(1.0, kl_weight + anneal_rate)

            # --- aggressive inner loop: encoder-only updates
            sub_iter = 1
            enc_batch = batch
            burn_words, burn_pre, burn_cur = 0, 1e4, 0.0
            while aggressive and sub_iter < 100:
                enc_opt.zero_grad()
                dec_opt.zero_grad()
                burn_words += n_targets(enc_batch)
                loss, _, _ = model.loss(enc_batch, kl_weight)
                burn_cur += loss.sum().item()
                loss.mean().backward()
                step_params()
                enc_opt.step()
                enc_batch = train_b[np.random.randint(0, len(train_b))]
                if sub_iter % 15 == 0:
                    burn_cur /= burn_words
                    if burn_pre - burn_cur < 0:
                        break
                    burn_pre = burn_cur
                    burn_cur, burn_words = 0.0, 0
                sub_iter += 1
            if aggressive:
                inner_steps.append(min(sub_iter, 99))

            # --- joint step (decoder only while aggressive)
            enc_opt.zero_grad()
            dec_opt.zero_grad()
            loss, rec, kl = model.loss(batch, kl_weight)
            loss.mean().backward()
            step_params()
            if not aggressive:
                enc_opt.step()
            dec_opt.step()
            rec_sum += rec.sum().item()
            kl_sum += kl.sum().item()
            sents += batch.size(0)

        # --- end of an aggressive epoch: stop if validation MI fell
        agg_mi = None
        stopped = False
        if aggressive:
            model.eval()
            cur_mi = calc_mi(model, valid_b)
            model.train()
            agg_mi = [pre_mi, cur_mi]
            if cur_mi - pre_mi < 0:
                aggressive = False
                stopped = True
            pre_mi = cur_mi
        train_sec = time.time() - t0

        model.eval()
        val = evaluate(model, valid_b)
        au, au_var = calc_au(model, valid_b)
        lr_used = lr
        if val["loss"] < best_loss:
            best_loss = val["loss"]
            best_state = copy.deepcopy(model.state_dict())
        decayed = False
        if val["loss"] > ref_loss:
            not_improved += 1
            if not_improved >= DECAY_EPOCH and epoch >= DECAY_FROM_EPOCH:
                ref_loss = val["loss"]
                not_improved = 0
                lr *= LR_DECAY
                model.load_state_dict(best_state)
                decay_cnt += 1
                decayed = True
                enc_opt = torch.optim.SGD(model.encoder.parameters(), lr=lr, momentum=0)
                dec_opt = torch.optim.SGD(model.decoder.parameters(), lr=lr, momentum=0)
        else:
            not_improved = 0
            ref_loss = val["loss"]

        rec = dict(epoch=epoch, train_sec=train_sec, kl_weight=kl_weight,
                   train_loss=(rec_sum + kl_sum) / sents, train_kl=kl_sum / sents,
                   aggressive=agg_this_epoch, stop_aggressive=stopped, agg_mi_pre_cur=agg_mi,
                   mean_inner_steps=(float(np.mean(inner_steps)) if inner_steps else 0.0),
                   val_loss=val["loss"], val_kl=val["kl"], val_mi=val["mi"], val_ppl=val["ppl"],
                   val_au=au, val_au_var=au_var, lr=lr_used, decayed=decayed, new_lr=lr)
        if decay_cnt == MAX_DECAY:
            rec["sec"] = time.time() - t0
            records.append(rec)
            print_epoch(rec)
            break
        tst = evaluate(model, test_b)                # their test_nepoch = 1
        rec.update(test_loss=tst["loss"], test_kl=tst["kl"], test_mi=tst["mi"])
        model.train()
        rec["sec"] = time.time() - t0
        records.append(rec)
        print_epoch(rec)

    # --- final: best model on test
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    t0 = time.time()
    tst = evaluate(model, test_b)
    au, au_var = calc_au(model, test_b)
    nll_iw, ppl_iw = calc_iwnll(model, test_b, args.iw_nsamples)
    final = dict(nll_iw=nll_iw, ppl_iw=ppl_iw, neg_elbo=tst["loss"], rec=tst["rec"],
                 kl=tst["kl"], mi=tst["mi"], au=au, au_var=au_var, ppl_elbo=tst["ppl"],
                 iw_nsamples=args.iw_nsamples, best_val_loss=best_loss,
                 sec_per_epoch=float(np.mean([r["sec"] for r in records])),
                 train_sec_per_epoch=float(np.mean([r["train_sec"] for r in records])),
                 eval_sec=time.time() - t0, epochs_run=len(records))
    print(f"TEST best model: nll_iw {nll_iw:.4f} (ppl {ppl_iw:.3f}, K={args.iw_nsamples}) "
          f"-elbo {tst['loss']:.4f} kl {tst['kl']:.4f} mi {tst['mi']:.4f} au {au} "
          f"| {final['sec_per_epoch']:.1f} s/epoch", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(args=vars(args), vocab=len(w2i), n_train=n_train,
                           n_valid=len(valid_s), n_test=len(test_s),
                           epochs=records, test=final), f, indent=1)


def print_epoch(r):
    flag = "agg" if r["aggressive"] else "std"
    if r["stop_aggressive"]:
        flag += "->std"
    print(f"epoch {r['epoch']:3d} {r['sec']:7.1f}s val_loss {r['val_loss']:.4f} "
          f"kl {r['val_kl']:.4f} mi {r['val_mi']:.4f} au {r['val_au']} {flag} "
          f"lr {r['lr']:.4g}" + (f" (decay -> {r['new_lr']:.4g})" if r["decayed"] else "")
          + f" | kl_w {r['kl_weight']:.3f} inner {r['mean_inner_steps']:.1f}", flush=True)


if __name__ == "__main__":
    main()

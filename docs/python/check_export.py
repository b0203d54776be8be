"""Recompute vaekit's numbers from an export, in NumPy: the posterior of the
first test images and log p(x | z = mean), compared with reference.json.

    pip install numpy scipy safetensors
    vaekit export RUN_DIR
    python docs/python/check_export.py RUN_DIR/export

Works for the MLP VAE (model.kind = "vae", model.arch = "mlp") with a
Bernoulli or Gaussian decoder.
"""
import json, sys, tomllib
import numpy as np
from scipy.special import erf
from safetensors.numpy import load_file

d = sys.argv[1]
w = load_file(f"{d}/model.safetensors")
cfg = tomllib.load(open(f"{d}/config.toml", "rb"))
ref = json.load(open(f"{d}/reference.json"))
if cfg["model"].get("arch", "mlp") != "mlp" or cfg["model"]["kind"] != "vae":
    sys.exit("check_export.py reimplements the MLP VAE with a standard normal prior only")
act = {
    "gelu": lambda a: 0.5 * a * (1 + erf(a / np.sqrt(2))),
    "relu": lambda a: np.maximum(a, 0),
    "leaky-relu": lambda a: np.where(a > 0, a, 0.01 * a),
    "tanh": np.tanh,
}[cfg["model"]["activation"]]

def mlp(h, prefix, n):
    # Burn stores Linear weights as [in, out]: y = h @ W + b.
    for i in range(n):
        h = act(h @ w[f"{prefix}.layers.{i}.weight"] + w[f"{prefix}.layers.{i}.bias"])
    return h

n_hidden = len(cfg["model"]["hidden"])
x = np.array(ref["x"], dtype=np.float64)
h = mlp(x, "encoder", n_hidden)
mean = h @ w["mean.weight"] + w["mean.bias"]
log_var = h @ w["log_var.weight"] + w["log_var.bias"]
out = mlp(mean, "decoder", n_hidden) @ w["out.weight"] + w["out.bias"]
if cfg["model"]["likelihood"] == "bernoulli":
    log_px = (x * out - np.logaddexp(0, out)).sum(1)          # x·l − softplus(l)
else:
    lv = np.maximum(w["likelihood.log_var"], cfg["model"]["min_log_var"])
    log_px = (-0.5 * (np.log(2 * np.pi) + lv + (x - out) ** 2 / np.exp(lv))).sum(1)

for name, ours, theirs in [("mean", mean, ref["mean"]), ("log_var", log_var, ref["log_var"]),
                           ("log p(x|z=mean)", log_px, ref["log_px_given_mean"])]:
    err = np.abs(np.asarray(ours) - np.asarray(theirs)).max()
    print(f"{name:>16}: max |numpy − vaekit| = {err:.2e}")
    assert err < 1e-3 * max(1.0, np.abs(theirs).max()), name
print("export OK: NumPy reproduces vaekit's numbers")

"""A small numpy trainer: Adam, straight-through estimator on latent weights, batch norm.

Regenerate a zoo model (writes ``networks/zoo/NAME.yaml`` and ``NAME.npz``)::

    python -m networks.train --zoo tnn_mlp_digits
    python -m networks.train --zoo all              # every trained zoo model
    python -m networks.train --zoo fashion          # the Fashion-MNIST ones (``digits``: the digits ones)

Train any network file on a data set::

    python -m networks.train --network arch.yaml --dataset digits --epochs 60 --out model.yaml

Training is deterministic for a seed (``--seed``, default the recipe's): the same seed
gives the same weights on the same numpy/BLAS build.  After the last epoch the batch-norm
statistics are recomputed on the whole training split, the weights are frozen to their
integer inference form and floats are rounded to float32 (what the ``.npz`` stores), so
the reported accuracy is that of the saved file.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import datasets
from .backend import ExactBackend
from .layers import BatchNorm, _Linear
from .model import Network, load_network, save_network

__all__ = ["train", "softmax_cross_entropy", "main"]


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy and its gradient wrt the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    B = logits.shape[0]
    loss = -np.mean(np.log(p[np.arange(B), y] + 1e-12))
    g = p
    g[np.arange(B), y] -= 1.0
    return loss, g / B


class Adam:
    def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
        self.params = params
        self.lr = lr
        self.b1, self.b2 = betas
        self.eps = eps
        self.t = 0
        self.m = [np.zeros_like(getattr(l, a)) for a, l in params]
        self.v = [np.zeros_like(getattr(l, a)) for a, l in params]

    def step(self, lr=None):
        lr = self.lr if lr is None else lr
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for i, (a, l) in enumerate(self.params):
            g = l.grads.get(a)
            if g is None:
                continue
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            p = getattr(l, a)
            p -= lr * (self.m[i] / c1) / (np.sqrt(self.v[i] / c2) + self.eps)


def _shift_augment(x, rng, max_shift):
    """Random integer translations (zero fill) of (B, C, H, W) images."""
    if max_shift <= 0 or x.ndim != 4:
        return x
    out = np.zeros_like(x)
    B, _, H, W = x.shape
    dy = rng.integers(-max_shift, max_shift + 1, B)
    dx = rng.integers(-max_shift, max_shift + 1, B)
    for i in range(B):
        sy, sx = dy[i], dx[i]
        ys, yd = (slice(0, H - sy), slice(sy, H)) if sy >= 0 else (slice(-sy, H), slice(0, H + sy))
        xs, xd = (slice(0, W - sx), slice(sx, W)) if sx >= 0 else (slice(-sx, W), slice(0, W + sx))
        out[i, :, yd, xd] = x[i, :, ys, xs]
    return out


def recalibrate_batchnorm(net: Network, x, chunk=2048):
    """Set every BN's running statistics to the statistics of ``x``: one pass in training
    mode, in chunks of ``chunk`` samples whose statistics are averaged (a single chunk,
    as for digits, gives the exact full-batch statistics)."""
    bns = [l for l in net.all_layers() if isinstance(l, BatchNorm)]
    if not bns:
        return
    saved = [b.momentum for b in bns]
    for i, start in enumerate(range(0, len(x), chunk)):
        for b in bns:
            b.momentum = i / (i + 1)          # running average over chunks
        net.train_forward(x[start:start + chunk])
    for b, m in zip(bns, saved):
        b.momentum = m
    for l in net.all_layers():
        l.__dict__.pop("_cache", None)
        l.__dict__.pop("_x", None)


def train(net: Network, x, y, epochs=60, lr=1e-2, batch=64, seed=0, augment_shift=0,
          x_val=None, y_val=None, log=print, init=True):
    """Train ``net`` in place; returns a history list of (epoch, loss, train_acc, val_acc)."""
    rng = np.random.default_rng(seed)
    if init:
        net.init(int(rng.integers(2 ** 31)))
    else:
        net.thaw()
    params = net.parameters()
    opt = Adam(params, lr=lr)
    clip_layers = [l for l in net.all_layers() if isinstance(l, _Linear) and l.wq.kind in ("binary", "xnor")]
    ttq_layers = [l for l in net.all_layers() if isinstance(l, _Linear) and l.wq.kind == "asym_ternary"]
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    n = x.shape[0]
    steps_per_epoch = (n + batch - 1) // batch
    total = epochs * steps_per_epoch
    hist = []
    t0 = time.time()
    step = 0
    for ep in range(epochs):
        perm = rng.permutation(n)
        losses, correct = [], 0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            if len(idx) < 2:
                continue
            xb = _shift_augment(x[idx], rng, augment_shift)
            logits = net.train_forward(xb)
            loss, g = softmax_cross_entropy(logits, y[idx])
            net.backward(g)
            cur = 0.5 * lr * (1 + np.cos(np.pi * step / total))     # cosine decay
            opt.step(cur)
            step += 1
            for l in clip_layers:
                np.clip(l.W, -1.0, 1.0, out=l.W)
            for l in ttq_layers:
                np.maximum(l.ab, 1e-3, out=l.ab)
            losses.append(loss)
            correct += int(np.sum(np.argmax(logits, 1) == y[idx]))
        val = None
        if x_val is not None and (ep == epochs - 1 or (ep + 1) % 10 == 0):
            net.freeze()
            val = net.accuracy(x_val, y_val, ExactBackend(check=False))
        hist.append((ep + 1, float(np.mean(losses)), correct / n, val))
        if log and (val is not None or ep == 0 or epochs <= 10):      # short schedules: every epoch
            log(f"epoch {ep + 1:3d}/{epochs}  loss {np.mean(losses):.4f}  train acc {correct / n:.4f}"
                + (f"  test acc {val:.4f}" if val is not None else "") + f"  ({time.time() - t0:.0f} s)")
    recalibrate_batchnorm(net, x)
    net.freeze()
    # round to what the weights file stores (float32) so the saved model is the evaluated one
    net.load_state_dict(net.state_dict(), source="(training)")
    return hist


# ==================================================================================== CLI
def _zoo_dir():
    return Path(__file__).resolve().parent / "zoo"


#: the recorded train accuracy is measured on at most this many training images (the first ones)
TRAIN_ACCURACY_SAMPLES = 10000
#: the trainer reports test accuracy during training only for test sets up to this size
VAL_DURING_TRAINING_MAX = 5000


def train_zoo(name, out_dir=None, epochs=None, seed=None, log=print, root=None):
    from . import zoo
    r = zoo.recipe(name)
    cfg = dict(r["train"])
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    if seed is not None:
        cfg["seed"] = int(seed)
    net = zoo.build(name)
    xtr, ytr = datasets.load(r["dataset"], split="train", root=root)
    xte, yte = datasets.load(r["dataset"], split="test", root=root)
    t0 = time.time()
    log(f"training {name} on {r['dataset']} ({len(ytr)} train / {len(yte)} test), {cfg}")
    # the in-training test evaluation (before the final BN statistics) only where it is cheap
    small = len(yte) <= VAL_DURING_TRAINING_MAX
    train(net, xtr, ytr, x_val=xte if small else None, y_val=yte if small else None, log=log, **cfg)
    secs = time.time() - t0
    acc = net.accuracy(xte, yte, ExactBackend())
    n_tr = min(len(ytr), TRAIN_ACCURACY_SAMPLES)
    tr_acc = net.accuracy(xtr[:n_tr], ytr[:n_tr], ExactBackend())
    cmd = f"python -m networks.train --zoo {name}"
    if epochs is not None or seed is not None:
        cmd += (f" --epochs {cfg['epochs']}" if epochs is not None else "") + (f" --seed {cfg['seed']}" if seed is not None else "")
    net.meta = {"test_accuracy": round(acc, 6), "train_accuracy": round(tr_acc, 6),
                "dataset_split": f"{r['dataset']} test split ({len(yte)} images), exact backend",
                **({"train_accuracy_on": f"first {n_tr} of the {len(ytr)} training images"}
                   if n_tr < len(ytr) else {}),
                "regenerate": cmd, "training": {k: v for k, v in cfg.items()}}
    out_dir = Path(out_dir) if out_dir else _zoo_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = save_network(net, out_dir / f"{name}.yaml")
    log(f"{name}: test accuracy {acc:.4f} (train {tr_acc:.4f}) in {secs:.0f} s -> {path}")
    return net, acc


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m networks.train``."""
    p = argparse.ArgumentParser(prog="python -m networks.train", description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--zoo", help="zoo model to (re)train, or 'all', 'digits', 'fashion'")
    g.add_argument("--network", help="network file (YAML) to train")
    p.add_argument("--dataset", default="digits",
                   help="data set to train and test --network on (default: digits; a zoo model "
                        "uses its own)")
    p.add_argument("--epochs", type=int,
                   help="passes over the training split (default: the zoo model's recipe; 60 for "
                        "--network)")
    p.add_argument("--lr", type=float, default=1e-2,
                   help="Adam learning rate for --network (default: 0.01; a zoo model uses its "
                        "recipe's)")
    p.add_argument("--batch", type=int, default=64,
                   help="minibatch size for --network (default: 64)")
    p.add_argument("--seed", type=int,
                   help="seed of the initialization and the minibatch order (default: the zoo "
                        "recipe's; 0 for --network); training is deterministic for a seed")
    p.add_argument("--augment-shift", type=int, default=0,
                   help="random shifts of up to this many pixels as augmentation, --network "
                        "only (default: 0, none)")
    p.add_argument("--out", help="output: directory (--zoo) or YAML file (--network)")
    p.add_argument("--root", help="data directory for non-shipped data sets")
    return p


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        if a.zoo:
            from . import zoo
            groups = {"all": zoo.trained(), "digits": [n for n in zoo.trained() if n.endswith("_digits")],
                      "fashion": [n for n in zoo.trained() if n.endswith("_fashion")]}
            names = groups.get(a.zoo, [a.zoo])
            for n in names:
                train_zoo(n, a.out, a.epochs, a.seed, root=a.root)
        else:
            # with its weights when the file names them: fixed constants of an imported graph
            # (input scaling, quantizer scales) survive init; everything trainable is re-initialized
            net = load_network(a.network)
            xtr, ytr = datasets.load(a.dataset, "train", root=a.root)
            xte, yte = datasets.load(a.dataset, "test", root=a.root)
            train(net, xtr, ytr, epochs=a.epochs or 60, lr=a.lr, batch=a.batch, seed=a.seed or 0,
                  augment_shift=a.augment_shift, x_val=xte, y_val=yte)
            acc = net.accuracy(xte, yte)
            net.meta = dict(net.meta, test_accuracy=round(acc, 6))
            out = a.out or str(Path(a.network).with_suffix("")) + "_trained.yaml"
            save_network(net, out)
            print(f"test accuracy {acc:.4f} -> {out}")
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rows of README's Fashion-MNIST zoo table: each model exact and on the cards.

    python benchmarks/zoo_accuracy.py                      # every shipped *_fashion model
    python benchmarks/zoo_accuracy.py tnn_cnn_fashion ...  # some of them

Exact: all 10,000 test images (the figure stored in the weights file is recomputed and
checked). On the cards: ``imcsim.simulate``, 3 chip instances (seed 0), mean +- std over
them, on the first 1,000 test images (the exact accuracy on those in brackets);
``xnor_sram_65nm`` as shipped and with ``adc.range: calibrated`` (per-layer references from
the training split). "-" where the network cannot run on the card (ternary weights on
XNOR cells) or runs nothing on the crossbar (full precision). Takes about 1-3 minutes per
model and card on one core.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np

import device_models
import imcsim
from networks import datasets, zoo
from networks.backend import ExactBackend

CARDS = (("tim_dnn_32nm", False), ("xnor_sram_65nm", False), ("xnor_sram_65nm", True))
ON_CARD_IMAGES = 1000
TRIALS = 3


def _runs_on(net, card_name):
    kinds = {l.wq.kind for l in net.all_layers() if getattr(l, "wq", None) is not None}
    kinds.discard("fp")
    if not kinds:
        return False
    return not (card_name.startswith("xnor") and "ternary" in kinds)


def row(name: str) -> str:
    net = zoo.load(name)
    x, y = datasets.load("fashion_mnist", split="test")
    exact = net.accuracy(x, y, ExactBackend())
    recorded = net.meta.get("test_accuracy")
    if recorded is not None and abs(exact - recorded) > 1e-6:
        raise SystemExit(f"{name}: exact accuracy {exact:.6f} differs from the {recorded} its weights "
                         "file records (retrained without updating it?)")
    xs, ys = x[:ON_CARD_IMAGES], y[:ON_CARD_IMAGES]
    exact_small = net.accuracy(xs, ys, ExactBackend())
    cells = []
    for card_name, calibrated in CARDS:
        if not _runs_on(net, card_name):
            cells.append("-")
            continue
        card = device_models.load_card(card_name)
        if calibrated:
            card = card.replace(**{"adc.range": "calibrated"})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = imcsim.simulate(net, card, xs, ys, trials=TRIALS, seed=0)
        acc = 100 * np.asarray(ds["accuracy"]).ravel()
        cell = f"{acc.mean():.2f} +- {acc.std(ddof=1):.2f} %"
        if card_name == "tim_dnn_32nm":
            cell += f" ({100 * exact_small:.2f})"
        cells.append(cell)
    return f"| `{name}` | {100 * exact:.2f} % | " + " | ".join(cells) + " |"


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or [
        n for n in zoo.trained() if n.endswith("_fashion") and zoo.path(n).exists()]
    print("| name | exact (10,000) | `tim_dnn_32nm` | `xnor_sram_65nm` | `xnor_sram_65nm`, calibrated |")
    print("|---|---|---|---|---|")
    for n in names:
        print(row(n), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

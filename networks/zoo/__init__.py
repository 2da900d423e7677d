"""The zoo: trained small BNN/TNN models (weights shipped) and layer-shape workloads.

``list()`` names every entry, ``load(name)`` returns a :class:`networks.Network`
(``has_weights`` says whether it can run), ``info(name)`` describes it.

Trained (digits, weights in ``NAME.yaml`` + ``NAME.npz`` next to this file; regenerate
with ``python -m networks.train --zoo NAME``):

=================  =================================================================
``fp_mlp_digits``  64-128-128-10, full precision, BN + ReLU (reference)
``tnn_mlp_digits`` 64-128-128-10; fc1 unsigned4 x ternary (TWN), fc2 ternary x ternary,
                   BN folded into ternary thresholds; fc3 full precision (digital)
``tbn_mlp_digits`` as TNN but binary weights (sign) with ternary activations (TBN)
``bnn_mlp_digits`` fc1 unsigned4 x binary, fc2 binary x binary (BNN, XNOR cells), sign act.
``tnn_cnn_digits`` conv3x3 16 (unsigned4 x ternary) - conv3x3 32 - maxpool - conv3x3 64 -
                   maxpool - fc 10 (fp); convs ternary x ternary
=================  =================================================================

Workload-only (layer shapes, no weights; ``init(seed)`` gives random weights):
``lenet5``, ``vgg_small_cifar10``, ``alexnet``, ``resnet18``, ``resnet34``.
"""
from __future__ import annotations

import builtins
from pathlib import Path

from ..layers import NetworkError
from ..model import Network, NetworkFileError, from_spec, load_network

_DIR = Path(__file__).resolve().parent

__all__ = ["list", "load", "info", "trained", "workloads", "recipe", "build", "path", "ZooError",
           "list_networks"]


class ZooError(NetworkError):
    """Unknown zoo name (the message lists the known ones) or missing shipped weights."""


_TRAIN_MLP = {"epochs": 60, "lr": 1e-2, "batch": 64, "seed": 0, "augment_shift": 0}
_TRAIN_CNN = {"epochs": 30, "lr": 1e-2, "batch": 64, "seed": 0, "augment_shift": 0}

_DIGITS_IN = {"inputs": "unsigned4", "input_clip": 0.9375}   # integer input = min(raw pixel, 15)
_FASHION_IN = {"inputs": "unsigned4", "input_clip": 1.0}     # integer input = round(raw pixel * 15/255)


def _mlp(wkind, hidden_in, act, first_w=None):
    """64-128-128-10 MLP: fc1 (unsigned4 inputs), fc2 (hidden_in inputs), fc3 fp."""
    if wkind == "fp":
        fc1 = {"type": "dense", "name": "fc1", "in": 64, "out": 128, "weights": "fp"}
        fc2 = {"type": "dense", "name": "fc2", "in": 128, "out": 128, "weights": "fp"}
    else:
        fc1 = {"type": "dense", "name": "fc1", "in": 64, "out": 128, "weights": first_w or wkind, **_DIGITS_IN}
        fc2 = {"type": "dense", "name": "fc2", "in": 128, "out": 128, "weights": wkind, "inputs": hidden_in}
    return [fc1, {"type": "batchnorm", "name": "bn1"}, dict(act, name="act1"),
            fc2, {"type": "batchnorm", "name": "bn2"}, dict(act, name="act2"),
            {"type": "dense", "name": "fc3", "in": 128, "out": 10, "weights": "fp"}]


_TERN = {"type": "ternarize", "delta": 0.5}

_TRAINED = {
    "tnn_mlp_digits": {
        "description": "Ternary MLP 64-128-128-10 on digits: fc1 unsigned4 x ternary (TWN), "
                       "fc2 ternary x ternary, BN folded into ternary thresholds, fc3 full precision",
        "layers": _mlp("ternary", "ternary", _TERN)},
    "tbn_mlp_digits": {
        "description": "Ternary-activation binary-weight (TBN) MLP 64-128-128-10 on digits: fc1 unsigned4 x "
                       "binary, fc2 ternary x binary, fc3 full precision",
        "layers": _mlp("binary", "ternary", _TERN)},
    "bnn_mlp_digits": {
        "description": "Binary MLP (BNN) 64-128-128-10 on digits: fc1 unsigned4 x binary, fc2 binary x binary "
                       "(XNOR), sign activations, fc3 full precision",
        "layers": _mlp("binary", "binary", {"type": "sign"})},
    "tnn_cnn_digits": {
        "description": "Ternary CNN on digits: conv3x3/16 (unsigned4 x ternary), conv3x3/32, maxpool, "
                       "conv3x3/64, maxpool, fc 256-10 full precision; convs ternary x ternary",
        "train": _TRAIN_CNN,
        "layers": [
            {"type": "conv2d", "name": "conv1", "in": 1, "out": 16, "kernel": 3, "padding": 1,
             "weights": "ternary", **_DIGITS_IN},
            {"type": "batchnorm", "name": "bn1"}, dict(_TERN, name="act1"),
            {"type": "conv2d", "name": "conv2", "in": 16, "out": 32, "kernel": 3, "padding": 1,
             "weights": "ternary", "inputs": "ternary"},
            {"type": "batchnorm", "name": "bn2"}, dict(_TERN, name="act2"),
            {"type": "maxpool", "name": "pool2", "kernel": 2},
            {"type": "conv2d", "name": "conv3", "in": 32, "out": 64, "kernel": 3, "padding": 1,
             "weights": "ternary", "inputs": "ternary"},
            {"type": "batchnorm", "name": "bn3"}, dict(_TERN, name="act3"),
            {"type": "maxpool", "name": "pool3", "kernel": 2},
            {"type": "flatten", "name": "flat"},
            {"type": "dense", "name": "fc", "in": 256, "out": 10, "weights": "fp"}]},
    "fp_mlp_digits": {
        "description": "Full-precision reference MLP 64-128-128-10 (BN, ReLU) on digits",
        "layers": _mlp("fp", None, {"type": "relu"})},
}


# ==================================================================================== Fashion-MNIST
# Trained on the 60,000 training images, reported on the 10,000 test images (exact backend).
_TRAIN_FASHION_MLP = {"epochs": 15, "lr": 5e-3, "batch": 100, "seed": 0, "augment_shift": 0}
# Short schedules: training CPU is scarce (a CNN epoch is 4-11 minutes of numpy on one shared core).
_TRAIN_FASHION_CNN = {"epochs": 8, "lr": 5e-3, "batch": 100, "seed": 0, "augment_shift": 0}
_TRAIN_FASHION_CNN_FP = dict(_TRAIN_FASHION_CNN, epochs=3)
_TRAIN_FASHION_CNN_BIREAL = dict(_TRAIN_FASHION_CNN, epochs=6)
# 8 epochs with sign before the pool gave 85.00 %, under the 86 % floor
_TRAIN_FASHION_CNN_XNOR = dict(_TRAIN_FASHION_CNN, epochs=10)
FASHION_HIDDEN = 512    #: hidden width of the quantized Fashion-MNIST MLPs (the fp one: 128, weights stay small)


def _fashion_mlp(wkind, hidden_in, act, hidden=FASHION_HIDDEN):
    """784-H-H-10 MLP: fc1 (unsigned4 inputs), fc2 (hidden_in inputs), fc3 fp."""
    if wkind == "fp":
        fc1 = {"type": "dense", "name": "fc1", "in": 784, "out": hidden, "weights": "fp"}
        fc2 = {"type": "dense", "name": "fc2", "in": hidden, "out": hidden, "weights": "fp"}
    else:
        fc1 = {"type": "dense", "name": "fc1", "in": 784, "out": hidden, "weights": wkind, **_FASHION_IN}
        fc2 = {"type": "dense", "name": "fc2", "in": hidden, "out": hidden, "weights": wkind, "inputs": hidden_in}
    return [fc1, {"type": "batchnorm", "name": "bn1"}, dict(act, name="act1"),
            fc2, {"type": "batchnorm", "name": "bn2"}, dict(act, name="act2"),
            {"type": "dense", "name": "fc3", "in": hidden, "out": 10, "weights": "fp"}]


def _fashion_cnn(wkind, act, widths=(16, 32, 64)):
    """conv3x3/c1 (unsigned4 inputs) - maxpool - conv3x3/c2 - maxpool - conv3x3/c3 - maxpool -
    fc 9*c3 -> 10 (fp); 28 -> 14 -> 7 -> 3. Each conv is followed by BN, activation, pool;
    with sign activations by pool, BN, sign."""
    c1, c2, c3 = widths
    L = []
    for i, (cin, cout) in enumerate(((1, c1), (c1, c2), (c2, c3)), 1):
        d = {"type": "conv2d", "name": f"conv{i}", "in": cin, "out": cout, "kernel": 3, "padding": 1,
             "weights": wkind}
        if wkind != "fp":
            d.update(_FASHION_IN if i == 1 else {"inputs": act["type"] == "sign" and "binary" or "ternary"})
        pool = {"type": "maxpool", "name": f"pool{i}", "kernel": 2}
        if act["type"] == "sign":
            # BNN order (Rastegari et al. 2016, Fig. 3): pool the real-valued sums before BN and
            # sign; pooling signs would turn most 2x2 windows into +1
            L += [d, pool, {"type": "batchnorm", "name": f"bn{i}"}, dict(act, name=f"act{i}")]
        else:
            L += [d, {"type": "batchnorm", "name": f"bn{i}"}, dict(act, name=f"act{i}"), pool]
    L += [{"type": "flatten", "name": "flat"},
          {"type": "dense", "name": "fc", "in": 9 * c3, "out": 10, "weights": "fp"}]
    return L


def _bireal_cnn(widths=(16, 32, 64)):
    """Bi-Real-style residual BNN (Liu et al. 2018): every binary conv reads sign(x) of the
    real-valued activations, its BN output is added to the real-valued block input (identity
    shortcut, digital), so real values flow between the binary convolutions.
    conv1 (unsigned4 x binary) - bn - maxpool - [res 16] - conv2 16->32 - bn - maxpool -
    [res 32] - conv3 32->64 - bn - maxpool - fc 576 -> 10 (fp)."""
    c1, c2, c3 = widths

    def conv(name, cin, cout, first=False):
        d = {"type": "conv2d", "name": name, "in": cin, "out": cout, "kernel": 3, "padding": 1,
             "weights": "binary"}
        d.update(_FASHION_IN if first else {"inputs": "binary"})
        return d

    def res(name, c):
        return {"type": "residual", "name": name,
                "body": [conv(f"{name}.conv", c, c), {"type": "batchnorm", "name": f"{name}.bn"}]}

    return [conv("conv1", 1, c1, first=True), {"type": "batchnorm", "name": "bn1"},
            {"type": "maxpool", "name": "pool1", "kernel": 2},
            res("res1", c1),
            conv("conv2", c1, c2), {"type": "batchnorm", "name": "bn2"},
            {"type": "maxpool", "name": "pool2", "kernel": 2},
            res("res2", c2),
            conv("conv3", c2, c3), {"type": "batchnorm", "name": "bn3"},
            {"type": "maxpool", "name": "pool3", "kernel": 2},
            {"type": "flatten", "name": "flat"},
            {"type": "dense", "name": "fc", "in": 9 * c3, "out": 10, "weights": "fp"}]


_SIGN = {"type": "sign"}
_FASHION = {
    "fp_mlp_fashion": {
        "description": "Full-precision reference MLP 784-128-128-10 (BN, ReLU) on Fashion-MNIST",
        "layers": _fashion_mlp("fp", None, {"type": "relu"}, hidden=128)},
    "tnn_mlp_fashion": {
        "description": f"Ternary MLP 784-{FASHION_HIDDEN}-{FASHION_HIDDEN}-10 on Fashion-MNIST: fc1 unsigned4 x "
                       "ternary (TWN), fc2 ternary x ternary, BN folded into ternary thresholds, fc3 fp",
        "layers": _fashion_mlp("ternary", "ternary", _TERN)},
    "tbn_mlp_fashion": {
        "description": f"TBN MLP 784-{FASHION_HIDDEN}-{FASHION_HIDDEN}-10 on Fashion-MNIST: fc1 unsigned4 x "
                       "binary, fc2 ternary x binary, fc3 fp",
        "layers": _fashion_mlp("binary", "ternary", _TERN)},
    "bnn_mlp_fashion": {
        "description": f"Binary MLP (BNN) 784-{FASHION_HIDDEN}-{FASHION_HIDDEN}-10 on Fashion-MNIST: fc1 "
                       "unsigned4 x binary, fc2 binary x binary (XNOR), sign activations, fc3 fp",
        "layers": _fashion_mlp("binary", "binary", _SIGN)},
    "fp_cnn_fashion": {
        "description": "Full-precision reference CNN on Fashion-MNIST: conv3x3/16 - pool - conv3x3/32 - pool - "
                       "conv3x3/64 - pool - fc 576-10 (BN, ReLU)",
        "train": _TRAIN_FASHION_CNN_FP, "layers": _fashion_cnn("fp", {"type": "relu"})},
    "tnn_cnn_fashion": {
        "description": "Ternary CNN on Fashion-MNIST: conv3x3/16 (unsigned4 x ternary) - pool - conv3x3/32 - "
                       "pool - conv3x3/64 - pool - fc 576-10 fp; convs ternary x ternary",
        "train": _TRAIN_FASHION_CNN, "layers": _fashion_cnn("ternary", _TERN)},
    "xnor_cnn_fashion": {
        "description": "XNOR-Net BNN CNN on Fashion-MNIST: binary weights scaled by alpha_c = mean|W| per "
                       "output channel, sign activations; conv3x3/16 (unsigned4 inputs) - pool - conv3x3/32 - "
                       "pool - conv3x3/64 - pool - fc 576-10 fp",
        "train": _TRAIN_FASHION_CNN_XNOR, "layers": _fashion_cnn("xnor", _SIGN)},
    "bireal_cnn_fashion": {
        "description": "Bi-Real-style residual BNN CNN on Fashion-MNIST: binary convs on sign(x), real-valued "
                       "identity shortcuts around the 16- and 32-channel blocks; fc 576-10 fp",
        "train": _TRAIN_FASHION_CNN_BIREAL, "layers": _bireal_cnn()},
}
for _n, _r in _FASHION.items():
    _r.setdefault("train", _TRAIN_FASHION_MLP)
    _r["dataset"] = "fashion_mnist"
_TRAINED.update(_FASHION)


# ==================================================================================== workloads
def _conv(name, cin, cout, k, stride=1, pad=0, w="ternary", x="ternary", bn=True, act=_TERN, bias=None):
    d = {"type": "conv2d", "name": name, "in": cin, "out": cout, "kernel": k, "stride": stride,
         "padding": pad, "weights": w}
    if w != "fp":
        d["inputs"] = x
    if bias is not None:
        d["bias"] = bias
    return _then_bn_act(d, bn, act)


def _fc(name, fin, fout, w="ternary", x="ternary", bn=True, act=_TERN):
    d = {"type": "dense", "name": name, "in": fin, "out": fout, "weights": w}
    if w != "fp":
        d["inputs"] = x
    return _then_bn_act(d, bn, act)


def _then_bn_act(layer, bn, act):
    """``layer``, then its batch norm and activation (named after it) when asked for."""
    name = layer["name"]
    out = [layer]
    if bn:
        out.append({"type": "batchnorm", "name": f"{name}_bn"})
    if act is not None:
        out.append(dict(act, name=f"{name}_act"))
    return out


def _lenet5():
    L = []
    L += _conv("conv1", 1, 6, 5, x="unsigned4")        # 32x32 -> 28x28
    L += [{"type": "maxpool", "name": "pool1", "kernel": 2}]
    L += _conv("conv2", 6, 16, 5)                       # 14 -> 10
    L += [{"type": "maxpool", "name": "pool2", "kernel": 2}, {"type": "flatten", "name": "flat"}]
    L += _fc("fc1", 400, 120) + _fc("fc2", 120, 84)
    L += _fc("fc3", 84, 10, w="fp", bn=False, act=None)
    return L


def _vgg_small():
    """VGG-small of the BNN literature (LQ-Nets / XNOR-Net style CIFAR-10 net):
    conv0 128 (fp) - 128 - mp - 256 - 256 - mp - 512 - 512 - mp - fc 10 (fp)."""
    B = {"w": "binary", "x": "binary", "act": {"type": "sign"}}
    L = _conv("conv0", 3, 128, 3, pad=1, w="fp", act={"type": "sign"})
    L += _conv("conv1", 128, 128, 3, pad=1, **B) + [{"type": "maxpool", "name": "pool1", "kernel": 2}]
    L += _conv("conv2", 128, 256, 3, pad=1, **B) + _conv("conv3", 256, 256, 3, pad=1, **B)
    L += [{"type": "maxpool", "name": "pool3", "kernel": 2}]
    L += _conv("conv4", 256, 512, 3, pad=1, **B) + _conv("conv5", 512, 512, 3, pad=1, **B)
    L += [{"type": "maxpool", "name": "pool5", "kernel": 2}, {"type": "flatten", "name": "flat"}]
    L += _fc("fc", 512 * 4 * 4, 10, w="fp", bn=False, act=None)
    return L


def _alexnet():
    """AlexNet (Krizhevsky 2012, single-tower, 227x227 input); first conv and last fc fp."""
    L = _conv("conv1", 3, 96, 11, stride=4, w="fp") + [{"type": "maxpool", "name": "pool1", "kernel": 3, "stride": 2}]
    L += _conv("conv2", 96, 256, 5, pad=2) + [{"type": "maxpool", "name": "pool2", "kernel": 3, "stride": 2}]
    L += _conv("conv3", 256, 384, 3, pad=1) + _conv("conv4", 384, 384, 3, pad=1) + _conv("conv5", 384, 256, 3, pad=1)
    L += [{"type": "maxpool", "name": "pool5", "kernel": 3, "stride": 2}, {"type": "flatten", "name": "flat"}]
    L += _fc("fc6", 256 * 6 * 6, 4096) + _fc("fc7", 4096, 4096) + _fc("fc8", 4096, 1000, w="fp", bn=False, act=None)
    return L


def _resnet(blocks):
    """ResNet-18/34 (He 2016, basic blocks, 224x224): conv1 and fc full precision, the
    rest ternary x ternary with BN; shortcut add digital, ternary activation after it."""
    L = _conv("conv1", 3, 64, 7, stride=2, pad=3, w="fp")
    L += [{"type": "maxpool", "name": "pool1", "kernel": 3, "stride": 2, "padding": 1}]
    cin = 64
    for s, (n, cout) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for b in range(n):
            stride = 2 if (b == 0 and s > 0) else 1
            nm = f"layer{s + 1}.{b}"
            body = _conv(f"{nm}.conv1", cin, cout, 3, stride, 1) + _conv(f"{nm}.conv2", cout, cout, 3, 1, 1, act=None)
            sc = _conv(f"{nm}.down", cin, cout, 1, stride, 0, act=None) if (stride != 1 or cin != cout) else []
            blk = {"type": "residual", "name": nm, "body": body}
            if sc:
                blk["shortcut"] = sc
            L += [blk, dict(_TERN, name=f"{nm}.act")]
            cin = cout
    L += [{"type": "avgpool", "name": "avgpool", "kernel": 7}, {"type": "flatten", "name": "flat"}]
    L += _fc("fc", 512, 1000, w="fp", bn=False, act=None)
    return L


_WORKLOADS = {
    "lenet5": ("LeNet-5 (LeCun 1998) on 32x32 grey images, ternary (conv1 unsigned4 inputs), fc3 fp",
               [1, 32, 32], 10, _lenet5),
    "vgg_small_cifar10": ("VGG-small CIFAR-10 net of the BNN literature (binary weights and activations; "
                          "first conv and fc fp)", [3, 32, 32], 10, _vgg_small),
    "alexnet": ("AlexNet (ImageNet, 227x227), ternary except first conv and last fc", [3, 227, 227], 1000, _alexnet),
    "resnet18": ("ResNet-18 (ImageNet, 224x224), ternary except conv1 and fc", [3, 224, 224], 1000,
                 lambda: _resnet((2, 2, 2, 2))),
    "resnet34": ("ResNet-34 (ImageNet, 224x224), ternary except conv1 and fc", [3, 224, 224], 1000,
                 lambda: _resnet((3, 4, 6, 3))),
}


# ==================================================================================== API
def trained():
    """Names of the trained entries (weights shipped)."""
    return builtins.list(_TRAINED)


def workloads():
    """Names of the workload-only entries."""
    return builtins.list(_WORKLOADS)


def list():  # noqa: A001 - the documented name
    """Every zoo name: trained entries first, then workloads."""
    return trained() + workloads()


list_networks = list


def recipe(name):
    """Architecture spec, data set and training settings of a trained entry."""
    if name not in _TRAINED:
        raise ZooError(f"{name!r} is not a trained zoo entry; trained: {', '.join(_TRAINED)}")
    r = _TRAINED[name]
    from .. import datasets
    ds = r.get("dataset", "digits")
    inf = datasets.info(ds)
    spec = {"name": name, "description": r["description"], "input_shape": builtins.list(inf.shape),
            "classes": inf.classes, "dataset": ds, "layers": r["layers"]}
    return {"spec": spec, "dataset": ds, "train": dict(r.get("train", _TRAIN_MLP))}


def build(name) -> Network:
    """A fresh (untrained) network of a zoo entry."""
    if name in _TRAINED:
        return from_spec(recipe(name)["spec"], f"zoo:{name}")
    if name in _WORKLOADS:
        desc, shape, classes, fn = _WORKLOADS[name]
        net = from_spec({"name": name, "description": desc, "input_shape": shape, "classes": classes,
                         "layers": fn()}, f"zoo:{name}")
        return net
    raise ZooError(_unknown(name))


def path(name) -> Path:
    """Network file of a trained entry."""
    return _DIR / f"{name}.yaml"


def _unknown(name):
    return f"unknown zoo network {name!r}; known: {', '.join(list())}"


def load(name) -> Network:
    """Load a zoo entry by name (or a network file by path)."""
    if name in _TRAINED:
        p = path(name)
        if not p.exists():
            raise ZooError(f"{p}: weights of zoo network {name!r} are missing; "
                                   f"regenerate with: python -m networks.train --zoo {name}")
        return load_network(p)
    if name in _WORKLOADS:
        return build(name)
    if isinstance(name, (str, Path)) and (str(name).endswith((".yaml", ".yml")) or Path(name).exists()):
        return load_network(name)
    raise ZooError(_unknown(name))


def info(name) -> dict:
    """``{name, kind, has_weights, description, test_accuracy, quantized_layers}``."""
    if name in _TRAINED:
        d = {"name": name, "kind": "trained", "has_weights": path(name).exists(),
             "description": _TRAINED[name]["description"], "dataset": _TRAINED[name].get("dataset", "digits")}
        if d["has_weights"]:
            net = load_network(path(name), weights=False)
            d["test_accuracy"] = net.meta.get("test_accuracy")
            d["quantized_layers"] = len(net.quantized_layers())
        return d
    if name in _WORKLOADS:
        net = build(name)
        return {"name": name, "kind": "workload", "has_weights": False, "description": _WORKLOADS[name][0],
                "quantized_layers": len(net.quantized_layers()),
                "macs": sum(l.macs for l in net.linear_layers())}
    raise ZooError(_unknown(name))

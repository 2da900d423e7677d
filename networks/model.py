"""The model container and the network file format.

A :class:`Network` is an ordered list of layers (residual blocks hold their own lists).
``forward(x, backend)`` runs it; quantized layers get their integer products from the
backend.  With ``fold=True`` (default) a quantized layer followed by an optional
BatchNorm and a Sign / Ternarize / Uniform activation is evaluated as per-channel
thresholds on the integer accumulator (BN folded), which is the form an accelerator
uses; ``fold=False`` applies scale, BN and activation in float one after the other
(same result up to ties at a threshold).

Network file (YAML, safe-loaded; unknown keys are errors)::

    format: imcsim-network/1
    name: tnn_mlp_digits
    description: ...
    input_shape: [1, 8, 8]          # one sample, channels first
    classes: 10
    dataset: digits                 # optional
    weights: tnn_mlp_digits.npz     # relative to the YAML file; null = workload only
    meta: {...}                     # free-form (accuracy, training command, ...)
    layers:
      - {type: dense, name: fc1, in: 64, out: 128, weights: ternary, inputs: unsigned4, input_clip: 0.9375}
      - {type: batchnorm, name: bn1}
      - {type: ternarize, name: act1, delta: 0.5}
      - {type: residual, name: block1, body: [...], shortcut: [...]}

Weights file (``.npz``, read with ``allow_pickle=False``): one array per
``<layer>.<key>``: quantized linear layers ``w_int`` (int8 codes, layer layout) and
``w_scale`` (per output channel) or ``asym`` ([a, b]); full-precision ones ``weight``;
``bias`` when the layer has one; batch norms ``gamma``, ``beta``, ``mean``, ``var``.
Floats are stored as float32 and computed in float64.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from .backend import ExactBackend
from .layers import (
    LAYER_TYPES,
    Context,
    Layer,
    LayerError,
    NetworkError,
    Residual,
    _Linear,
    backward_sequence,
    run_sequence,
    train_sequence,
)

FORMAT = "imcsim-network/1"
GRAPH_FORMAT = "imcsim-network/2"    #: graph networks (networks.graph)

__all__ = ["Network", "NetworkFileError", "load_network", "save_network", "build_layers",
           "run_sequence", "train_sequence", "backward_sequence"]


class NetworkFileError(NetworkError):
    """A network file or its weights file is invalid; the message names file, layer, key."""


def _walk(layers):
    for l in layers:
        yield l
        if l.children():
            yield from _walk(l.children())


# ==================================================================================== container
class Network:
    """An ordered network of layers; see the module docstring."""

    def __init__(self, layers, input_shape, name="network", classes=None, description="",
                 dataset=None, meta=None):
        self.layers = list(layers)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.name = str(name)
        self.description = str(description or "")
        self.dataset = dataset
        self.meta = dict(meta or {})
        names = {}
        for l in _walk(self.layers):
            if not isinstance(l, Layer):
                raise LayerError(f"network {name!r}: {l!r} is not a layer")
            if l.name in names:
                raise LayerError(f"network {name!r}: layer name {l.name!r} is used twice")
            names[l.name] = l
        self._by_name = names
        s = self.input_shape
        for l in self.layers:
            s = l.build(s)
        self.output_shape = tuple(s)
        self.classes = int(classes) if classes is not None else int(np.prod(self.output_shape))

    # -- info ------------------------------------------------------------------------------
    def __getitem__(self, name) -> Layer:
        return self._by_name[name]

    def all_layers(self):
        """Every layer, depth first (residual blocks and their children included)."""
        return list(_walk(self.layers))

    def quantized_layers(self):
        """Layers that call ``backend.matmul`` (in execution order), each with ``name``,
        ``K``, ``N``, ``vectors`` (matrix rows per inference: 1 for dense, output positions
        for conv), ``macs``, ``encoding`` (input encoding), ``weight_kind`` and ``info()``."""
        return [l for l in _walk(self.layers) if isinstance(l, _Linear) and l.quantized]

    def linear_layers(self):
        """All dense/conv layers, quantized or full precision (digital)."""
        return [l for l in _walk(self.layers) if isinstance(l, _Linear)]

    @property
    def has_weights(self) -> bool:
        return all(l.has_weights() for l in _walk(self.layers))

    def summary(self) -> str:
        rows = [f"{self.name}: input {self.input_shape} -> {self.output_shape}"
                f"{'' if self.has_weights else ' (workload only, no weights)'}"]
        for l in _walk(self.layers):
            extra = l.describe() if isinstance(l, _Linear) else ""
            rows.append(f"  {l.type:10s} {l.name:14s} {str(l.out_shape):16s}{extra}")
        return "\n".join(rows)

    def __repr__(self):
        return f"Network({self.name!r}, layers={len(self.layers)}, quantized={len(self.quantized_layers())})"

    # -- inference -------------------------------------------------------------------------
    def _prepare(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 0:
            raise LayerError(f"network {self.name!r}: input must have a batch axis")
        if x.shape[1:] != self.input_shape:
            if int(np.prod(x.shape[1:])) != int(np.prod(self.input_shape)):
                raise LayerError(f"network {self.name!r}: expects samples of shape {self.input_shape}, "
                                 f"got {x.shape[1:]}")
            x = x.reshape((x.shape[0],) + self.input_shape)
        return x

    def _context(self, backend, fold: bool) -> Context:
        """The execution context of one forward pass (refuses a network without weights)."""
        if not self.has_weights:
            raise LayerError(f"network {self.name!r} has no weights (workload-only entry); "
                             f"call init(seed) for random weights")
        return Context(ExactBackend() if backend is None else backend, fold)

    def forward(self, x, backend=None, fold: bool = True):
        """Logits (B, classes) float64; ``backend`` defaults to a fresh ExactBackend."""
        ctx = self._context(backend, fold)
        out = run_sequence(self.layers, self._prepare(x), ctx)
        return out.reshape(out.shape[0], int(np.prod(self.output_shape)))

    def predict(self, x, backend=None, fold: bool = True):
        return np.argmax(self.forward(x, backend, fold), axis=1)

    def accuracy(self, x, y, backend=None, fold=True, batch: int = 1024) -> float:
        """Fraction of correct predictions, evaluated ``batch`` samples at a time."""
        y = np.asarray(y)
        if len(y) == 0:
            return float("nan")
        backend = ExactBackend() if backend is None else backend
        hits = sum(int(np.sum(self.predict(x[i:i + batch], backend, fold) == y[i:i + batch]))
                   for i in range(0, len(y), batch))
        return hits / len(y)

    # -- training --------------------------------------------------------------------------
    def init(self, seed=0):
        """Random latent weights (and frozen inference form); returns self."""
        rng = np.random.default_rng(seed)
        for l in _walk(self.layers):
            l.init(rng)
        return self

    def freeze(self):
        for l in _walk(self.layers):
            if isinstance(l, _Linear):
                l.freeze()

    def thaw(self):
        for l in _walk(self.layers):
            if isinstance(l, _Linear):
                l.thaw()

    def parameters(self):
        """``[(attribute, layer), ...]`` of trainable arrays."""
        out = []
        for l in _walk(self.layers):
            out.extend(l.parameters())
        return out

    def train_forward(self, x):
        return train_sequence(self.layers, self._prepare(x)).reshape(x.shape[0], int(np.prod(self.output_shape)))

    def backward(self, g):
        g = g.reshape((g.shape[0],) + self.output_shape)
        backward_sequence(self.layers, g, need_input_grad=False)

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        out = {}
        for l in _walk(self.layers):
            for k, v in l.state().items():
                out[f"{l.name}.{k}"] = v
        return out

    def load_state_dict(self, arrays: dict, source: str = "weights"):
        """Set every layer from ``{'<layer>.<key>': array}``; shape errors name layer,
        key, expected and found shape."""
        seen = set()
        for l in _walk(self.layers):
            exp = l.expected_state()
            got = {}
            for k, (shape, kind) in exp.items():
                key = f"{l.name}.{k}"
                if key not in arrays:
                    raise NetworkFileError(f"{source}: layer {l.name!r}: missing array {key!r} "
                                           f"(expected shape {tuple(shape)})")
                a = np.asarray(arrays[key])
                if tuple(a.shape) != tuple(shape):
                    raise NetworkFileError(f"{source}: layer {l.name!r}: {k!r} has the wrong shape: expected "
                                           f"{tuple(shape)}, found {tuple(a.shape)}")
                if kind == "i" and a.dtype.kind not in "iu":
                    raise NetworkFileError(f"{source}: layer {l.name!r}: {k!r} must be integer, found {a.dtype}")
                if kind == "f" and a.dtype.kind not in "fiu":
                    raise NetworkFileError(f"{source}: layer {l.name!r}: {k!r} must be numeric, found {a.dtype}")
                if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                    raise NetworkFileError(f"{source}: layer {l.name!r}: {k!r} contains NaN or inf")
                got[k] = a
                seen.add(key)
            if exp:
                try:
                    l.load_state(got)
                except LayerError as e:
                    raise NetworkFileError(f"{source}: {e}") from None
        extra = sorted(set(arrays) - seen)
        if extra:
            raise NetworkFileError(f"{source}: unexpected arrays {extra} (no such layer/key in the network)")

    def spec(self) -> dict:
        d = {"format": FORMAT, "name": self.name, "description": self.description,
             "input_shape": list(self.input_shape), "classes": self.classes}
        if self.dataset is not None:
            d["dataset"] = self.dataset
        d["layers"] = [l.spec() for l in self.layers]
        if self.meta:
            d["meta"] = self.meta
        return d

    def copy(self):
        net = from_spec(self.spec())
        if self.has_weights:
            net.load_state_dict(self.state_dict())
        return net


# ==================================================================================== file format
_LAYER_KEYS = {
    "dense": {"in": "in_features", "out": "out_features", "weights": "weights", "inputs": "inputs",
              "bias": "bias", "input_clip": "input_clip", "input_delta": "input_delta"},
    "conv2d": {"in": "in_channels", "out": "out_channels", "kernel": "kernel", "stride": "stride",
               "padding": "padding", "weights": "weights", "inputs": "inputs", "bias": "bias",
               "input_clip": "input_clip", "input_delta": "input_delta"},
    "batchnorm": {"channels": "channels", "eps": "eps", "momentum": "momentum"},
    "sign": {}, "relu": {}, "flatten": {},
    "ternarize": {"delta": "delta"},
    "uniform": {"bits": "bits", "clip": "clip"},
    "maxpool": {"kernel": "kernel", "stride": "stride", "padding": "padding"},
    "avgpool": {"kernel": "kernel", "stride": "stride", "padding": "padding"},
}
_REQUIRED = {"dense": ("in", "out"), "conv2d": ("in", "out", "kernel")}


def _build_generic(t, name, s, at, multi_ok=False):
    """A layer of a type whose YAML keys are its constructor's keyword arguments."""
    import inspect

    from .layers import MULTI_INPUT_TYPES

    if t in MULTI_INPUT_TYPES and not multi_ok:
        raise NetworkFileError(f"{at}: a {t} layer has several inputs and needs a graph network "
                               f"(format imcsim-network/2 with nodes:)")
    cls = LAYER_TYPES[t]
    keys = [k for k in inspect.signature(cls.__init__).parameters if k not in ("self", "name")]
    for k in s:
        if k not in keys:
            raise NetworkFileError(f"{at}: unknown key {k!r} for a {t} layer; allowed: {', '.join(keys) or 'none'}")
    return cls(name, **s)


def build_layers(specs, where="layers", multi_ok=False, start=0):
    """Layers from a list of spec dicts (the ``layers:`` of a network file)."""
    if not isinstance(specs, list):
        raise NetworkFileError(f"{where}: expected a list of layers")
    out = []
    for i, s in enumerate(specs, start):
        at = f"{where}[{i}]"
        if not isinstance(s, dict):
            raise NetworkFileError(f"{at}: expected a mapping, got {type(s).__name__}")
        s = dict(s)
        t = s.pop("type", None)
        name = s.pop("name", None)
        if t not in LAYER_TYPES:
            raise NetworkFileError(f"{at}: unknown layer type {t!r}; known: {', '.join(LAYER_TYPES)}")
        if not isinstance(name, str) or not name:
            raise NetworkFileError(f"{at}: layer needs a name")
        at = f"{where}[{i}] ({name})"
        try:
            if t == "residual":
                extra = set(s) - {"body", "shortcut"}
                if extra:
                    raise NetworkFileError(f"{at}: unknown key {sorted(extra)[0]!r}")
                body = build_layers(s.get("body"), f"{at}.body")
                sc = build_layers(s.get("shortcut") or [], f"{at}.shortcut")
                out.append(Residual(name, body, sc))
                continue
            if t not in _LAYER_KEYS:
                out.append(_build_generic(t, name, s, at, multi_ok))
                continue
            keys = _LAYER_KEYS[t]
            for k in s:
                if k not in keys:
                    raise NetworkFileError(f"{at}: unknown key {k!r} for a {t} layer; allowed: {', '.join(keys)}")
            for k in _REQUIRED.get(t, ()):
                if k not in s:
                    raise NetworkFileError(f"{at}: missing key {k!r}")
            kwargs = {keys[k]: v for k, v in s.items()}
            out.append(LAYER_TYPES[t](name, **kwargs))
        except NetworkFileError:
            raise
        except (LayerError, ValueError, TypeError) as e:
            raise NetworkFileError(f"{at}: {e}") from None
    return out


_TOP_KEYS = {"format", "name", "description", "input_shape", "classes", "dataset", "weights", "layers", "meta"}


def from_spec(d, source="network"):
    if not isinstance(d, dict):
        raise NetworkFileError(f"{source}: expected a mapping at the top level")
    fmt = d.get("format", FORMAT)
    if fmt == GRAPH_FORMAT:
        from .graph import graph_from_spec

        return graph_from_spec(d, source)
    extra = set(d) - _TOP_KEYS
    if extra:
        raise NetworkFileError(f"{source}: unknown key {sorted(extra)[0]!r}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    if fmt != FORMAT:
        raise NetworkFileError(f"{source}: format {fmt!r} is not supported (expected {FORMAT!r} "
                               f"or {GRAPH_FORMAT!r})")
    for k in ("input_shape", "layers"):
        if k not in d:
            raise NetworkFileError(f"{source}: missing key {k!r}")
    shape = d["input_shape"]
    if not (isinstance(shape, list) and shape and all(isinstance(v, int) and v > 0 for v in shape)):
        raise NetworkFileError(f"{source}: input_shape must be a list of positive integers, got {shape!r}")
    layers = build_layers(d["layers"], f"{source}: layers")
    try:
        return Network(layers, shape, name=d.get("name", "network"), classes=d.get("classes"),
                       description=d.get("description", ""), dataset=d.get("dataset"), meta=d.get("meta"))
    except LayerError as e:
        raise NetworkFileError(f"{source}: {e}") from None


def load_network(path, weights=True):
    """Load a network file (YAML) and, unless ``weights=False`` or the file says
    ``weights: null``, its ``.npz`` weights (``allow_pickle=False``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NetworkFileError(f"{path}: network file not found") from None
    except OSError as e:
        raise NetworkFileError(f"{path}: cannot read ({e})") from None
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise NetworkFileError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    net = from_spec(d, str(path))
    wname = d.get("weights")
    net.path = path
    if weights and wname:
        wpath = (path.parent / wname) if not Path(wname).is_absolute() else Path(wname)
        expect = {f"{l.name}.{k}": shape for l in _walk(net.layers)
                  for k, (shape, _) in l.expected_state().items()}
        net.load_state_dict(read_npz(wpath, expect), source=str(wpath))
    return net


#: Largest weights file :func:`read_npz` unpacks [byte, summed over its arrays, as their
#: headers declare them before anything is decompressed].
MAX_NPZ_BYTES = 1 << 30


def _npz_headers(zf, path):
    """{array name: (shape, dtype)} of an open npz (zip) from each .npy header alone."""
    out = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            continue
        name = info.filename[:-4]
        with zf.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(f)
            except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
                raise NetworkFileError(f"{path}: array {name!r}: not a valid .npy header "
                                       f"({e})") from None
        if dtype.hasobject:
            raise NetworkFileError(f"{path}: array {name!r} holds Python objects (dtype "
                                   f"{dtype}); weights must be numeric arrays")
        out[name] = (tuple(int(d) for d in shape), dtype)
    return out


def read_npz(path, expect=None):
    """The arrays of an ``.npz`` weights file, as ``{name: array}``.

    Names, dtypes and shapes are read from the headers first and checked before anything
    is decompressed: object arrays are refused, the declared sizes must sum to at most
    :data:`MAX_NPZ_BYTES`, and with ``expect`` (``{name: shape}``, e.g. from a network's
    layers) every array must be expected with that shape. Every problem is a
    :class:`NetworkFileError` naming the file."""
    import zipfile
    import zlib

    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise NetworkFileError(f"{path}: weights file not found") from None
    except zipfile.BadZipFile:
        raise NetworkFileError(f"{path}: not a .npz weights file (an .npz is a zip archive "
                               "of .npy arrays; this file is not a zip archive)") from None
    except OSError as e:
        raise NetworkFileError(f"{path}: cannot read ({e.strerror or e})") from None
    with zf:
        headers = _npz_headers(zf, path)
        total = sum(int(np.prod(s, dtype=np.int64)) * dt.itemsize for s, dt in headers.values())
        if total > MAX_NPZ_BYTES:
            raise NetworkFileError(f"{path}: the arrays would take {total} bytes unpacked; "
                                   f"expected at most {MAX_NPZ_BYTES} (a weights file of a "
                                   "small BNN/TNN is a few MB)")
        if expect is not None:
            extra = sorted(set(headers) - set(expect))
            if extra:
                raise NetworkFileError(f"{path}: unexpected arrays {extra} (no such layer/key "
                                       "in the network)")
            for name, (shape, _) in headers.items():
                if tuple(expect[name]) != shape:
                    raise NetworkFileError(f"{path}: array {name!r} has the wrong shape: "
                                           f"expected {tuple(expect[name])}, found {shape}")
        out = {}
        for name in headers:
            try:
                with zf.open(name + ".npy") as f:
                    out[name] = np.lib.format.read_array(f, allow_pickle=False)
            except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
                raise NetworkFileError(f"{path}: array {name!r} is corrupt ({e})") from None
        return out


def save_network(net: Network, path, weights_path=None):
    """Write ``net`` as a YAML network file plus (if it has weights) an .npz next to it."""
    path = Path(path)
    d = net.spec()
    if net.has_weights:
        wpath = Path(weights_path) if weights_path else path.with_suffix(".npz")
        np.savez_compressed(wpath, **net.state_dict())
        try:
            rel = wpath.resolve().relative_to(path.resolve().parent)
            d["weights"] = str(rel)
        except ValueError:
            d["weights"] = str(wpath.resolve())
    else:
        d["weights"] = None
    order = ["format", "name", "description", "input_shape", "input_datatype", "classes", "dataset",
             "weights", "output", "meta", "layers", "nodes"]
    d = {k: d[k] for k in order if k in d}
    path.write_text(yaml.safe_dump(d, sort_keys=False, default_flow_style=None, width=110))
    return path

"""Quantizers as digital layers, with the semantics of QONNX and ONNX QDQ, so an imported
graph computes what its reference executor computes:

* ``quant``: QONNX ``Quant``/``IntQuant`` and an ONNX ``QuantizeLinear`` ->
  ``DequantizeLinear`` pair: ``y = (clip(R(x / scale + zero_point), qmin, qmax) -
  zero_point) * scale``; qmin/qmax from ``bits``, ``signed``, ``narrow`` (signed:
  [-2^(b-1) (+1 if narrow), 2^(b-1)-1]; unsigned: [0, 2^b-1 (-1 if narrow)]); R the
  ``rounding`` mode (ROUND = HALF_EVEN, CEIL, FLOOR, UP, DOWN, HALF_UP, HALF_DOWN).
  1-bit signed is bipolar (+1 where x / scale + zero_point >= 0, else -1), as in qonnx.
  ``qdq: true`` follows ONNX ``QuantizeLinear`` instead: ``q = clip(round_half_even(x /
  scale) + zero_point, qmin, qmax)`` (the zero point is added after rounding, which differs
  from QONNX at exact ties when the zero point is odd).
* ``bipolar``: QONNX ``BipolarQuant``: ``y = scale * (+1 if x >= 0 else -1)``.
* ``multithreshold``: QONNX/FINN ``MultiThreshold``: ``y = out_bias + out_scale * #{j: x >= T_cj}``.
* ``trunc``: QONNX ``Trunc`` (versions 1 and 2): drops low bits of an integer tensor.

``scale`` and ``zero_point`` have a broadcast ``shape`` per sample (``[1]`` per tensor,
``[C, 1, 1]`` per channel).  They are fixed (not trained); in training the gradient
passes straight through where the input lies inside the clipping range.
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer, LayerError
from networks.layers.elementwise import _Broadcast

ROUNDING = ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")


def round_fn(mode):
    """The numpy function of a QONNX rounding mode name."""
    m = str(mode).upper()
    if m in ("ROUND", "HALF_EVEN"):
        return np.round
    if m == "CEIL":
        return np.ceil
    if m == "FLOOR":
        return np.floor
    if m == "UP":
        return lambda u: np.sign(u) * np.ceil(np.abs(u))
    if m == "DOWN":
        return np.fix
    if m == "HALF_UP":
        return lambda u: np.sign(u) * np.floor(np.abs(u) + 0.5)
    if m == "HALF_DOWN":
        return lambda u: np.sign(u) * np.ceil(np.abs(u) - 0.5)
    raise LayerError(f"unknown rounding mode {mode!r}; expected one of {', '.join(ROUNDING)}")


def int_range(bits, signed, narrow):
    """``(qmin, qmax)`` of a ``bits``-bit integer grid."""
    bits = int(bits)
    if signed:
        return -(2 ** (bits - 1)) + (1 if narrow else 0), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1 - (1 if narrow else 0)


class _FixedBroadcast(_Broadcast):
    trainable = False

    def forward(self, x, ctx=None):
        if not self.has_weights():
            raise LayerError(f"layer {self.name!r} has no weights (workload-only network?)")
        return self.apply(x)


class Quant(_FixedBroadcast):
    """Uniform integer quantizer (QONNX ``Quant``, ONNX QDQ); see the module docstring."""
    type = "quant"
    arrays = ("scale", "zero_point")
    defaults = {"scale": 1.0, "zero_point": 0.0}

    def __init__(self, name, bits=8, signed=True, narrow=False, rounding="ROUND", qdq=False, shape=None,
                 channels=None):
        super().__init__(name, shape if (shape is not None or channels is not None) else [1], channels)
        self.bits, self.signed, self.narrow, self.qdq = int(bits), bool(signed), bool(narrow), bool(qdq)
        if self.qdq and str(rounding).upper() not in ("ROUND", "HALF_EVEN"):
            raise LayerError(f"layer {name!r}: qdq quantizers round half to even (rounding: ROUND)")
        self.rounding = str(rounding).upper()
        self._round = round_fn(self.rounding)
        if not 1 <= self.bits <= 32:
            raise LayerError(f"layer {name!r}: bits must be 1..32, got {bits}")
        if self.bits == 1 and not self.signed:
            self.qmin, self.qmax = 0, 1
        else:
            self.qmin, self.qmax = int_range(self.bits, self.signed, self.narrow)

    def codes(self, x):
        """The integers ``q`` (before subtracting the zero point) as float64."""
        if self.qdq:
            return np.clip(np.round(x / self._p("scale", x)) + self._p("zero_point", x), self.qmin, self.qmax)
        u = x / self._p("scale", x) + self._p("zero_point", x)
        if self.bits == 1 and self.signed:
            return np.where(u >= 0, 1.0, -1.0)
        return self._round(np.clip(u, self.qmin, self.qmax))

    def apply(self, x):
        return (self.codes(x) - self._p("zero_point", x)) * self._p("scale", x)

    @property
    def foldable(self):
        """Per-channel positive scale, one zero point, at most 8 bits: expressible as
        thresholds on the accumulator of the layer before (see :meth:`steps`)."""
        if self.scale is None or self.out_shape is None:
            return False
        s, z = self.per_channel("scale"), self.per_channel("zero_point")
        return bool(s is not None and z is not None and np.all(s > 0) and np.all(z == z[0]) and self.bits <= 8)

    def steps(self):
        """``(offset, [(T, strict, weight)], 1.0)``: ``y = offset + sum weight * [v >= T]``
        (``>`` when strict), per channel; the crossings of the rounding function are found by
        evaluating it at k, k + 1/2 and k + 1 (and just above them)."""
        s, z = self.per_channel("scale"), float(self.per_channel("zero_point")[0])
        if self.bits == 1 and self.signed:
            return (-1.0 - z) * s, [(-z * s, False, 2.0 * s)], 1.0
        R = np.round if self.qdq else self._round
        out = []
        for m in range(self.qmin + 1, self.qmax + 1):
            lvl = m - z if self.qdq else m              # R(u) >= lvl, u = v/s (qdq) or v/s + z
            for t in (lvl - 1.0, lvl - 0.5, lvl):
                if R(np.float64(t)) >= lvl:
                    strict = False
                    break
                if R(np.float64(t + 1e-6)) >= lvl:
                    strict = True
                    break
            T = t * s if self.qdq else (t - z) * s
            out.append((T, strict, s))
        return (self.qmin - z) * s, out, 1.0

    def backward(self, g, need_input_grad=True):
        x, self._x = self._x, None
        u = x / self._p("scale", x) + self._p("zero_point", x)
        return g * ((u >= self.qmin - 0.5) & (u <= self.qmax + 0.5))

    def spec(self):
        d = {"type": self.type, "name": self.name, "bits": self.bits, "signed": self.signed,
             "narrow": self.narrow, "rounding": self.rounding, "shape": list(self.shape)}
        if self.qdq:
            d["qdq"] = True
        return d


class Bipolar(_FixedBroadcast):
    """QONNX ``BipolarQuant``: ``scale * (+1 if x >= 0 else -1)``; STE 1{|x| <= 1}."""
    type = "bipolar"
    arrays = ("scale",)
    defaults = {"scale": 1.0}

    def __init__(self, name, shape=None, channels=None):
        super().__init__(name, shape if (shape is not None or channels is not None) else [1], channels)

    def apply(self, x):
        return np.where(x >= 0, 1.0, -1.0) * self._p("scale", x)

    @property
    def foldable(self):
        if self.scale is None or self.out_shape is None:
            return False
        s = self.per_channel("scale")
        return bool(s is not None and np.all(s > 0))

    def steps(self):
        s = self.per_channel("scale")
        return -s, [(0.0, False, 2.0 * s)], 1.0

    def backward(self, g, need_input_grad=True):
        x, self._x = self._x, None
        return g * (np.abs(x) <= 1.0)


class MultiThreshold(Layer):
    """QONNX/FINN ``MultiThreshold``: ``out_bias + out_scale * #{j : x >= T[c, j]}``; T has
    shape (channels, steps), channels = the input's channel count or 1 (shared).  The
    channel axis is the first per-sample axis (``channels_last: true``: the last)."""
    type = "multithreshold"

    def __init__(self, name, steps, channels=1, out_scale=1.0, out_bias=0.0, channels_last=False):
        super().__init__(name)
        self.n_steps, self.channels = int(steps), int(channels)
        self.out_scale, self.out_bias = float(out_scale), float(out_bias)
        self.channels_last = bool(channels_last)
        self.thresholds = None
        if self.n_steps < 1 or self.channels < 1:
            raise LayerError(f"layer {name!r}: need steps >= 1 and channels >= 1")

    def _out_shape(self, s):
        C = s[-1] if self.channels_last else s[0]
        if self.channels not in (1, C):
            raise LayerError(f"layer {self.name!r}: thresholds for {self.channels} channels, input {list(s)}")
        return s

    def init(self, rng):
        if self.thresholds is not None:      # fixed: keep imported thresholds
            return
        self.thresholds = np.tile(np.arange(self.n_steps, dtype=np.float64) - (self.n_steps - 1) / 2, (self.channels, 1))

    def has_weights(self):
        return self.thresholds is not None

    def expected_state(self):
        return {"thresholds": ((self.channels, self.n_steps), "f")}

    def state(self):
        return {"thresholds": np.asarray(self.thresholds, dtype=np.float32)}

    def load_state(self, arrays):
        self.thresholds = np.asarray(arrays["thresholds"], dtype=np.float64)

    def parameters(self):
        return []

    def forward(self, x, ctx=None):
        if not self.has_weights():
            raise LayerError(f"layer {self.name!r} has no weights (workload-only network?)")
        v = x if self.channels_last else np.moveaxis(x, 1, -1)
        n = (v[..., None] >= self.thresholds).sum(axis=-1).astype(np.float64)
        if not self.channels_last:
            n = np.moveaxis(n, -1, 1)
        return self.out_scale * n + self.out_bias

    def train_forward(self, x):
        return self.forward(x)

    def backward(self, g, need_input_grad=True):
        return g

    @property
    def foldable(self):
        return self.thresholds is not None and (not self.channels_last or len(self.in_shape or ()) == 1)

    def steps(self):
        T = self.thresholds
        return self.out_bias, [(T[:, j], False, self.out_scale) for j in range(T.shape[1])], 1.0

    def spec(self):
        return {"type": self.type, "name": self.name, "steps": self.n_steps, "channels": self.channels,
                "out_scale": self.out_scale, "out_bias": self.out_bias, "channels_last": self.channels_last}


class Trunc(_FixedBroadcast):
    """QONNX ``Trunc``.  Version 2: ``y = (R(clip(round(x/s + z) / T, omin, omax)) - z/T) * os``
    with T = 2^round(log2(os/s)); version 1: ``y = (R(round(x/s + z) / 2^(in_bits - out_bits))
    - z) * s``.  s = ``scale``, z = ``zero_point``, os = ``out_scale``, R = ``rounding``."""
    type = "trunc"
    arrays = ("scale", "zero_point", "out_scale")
    defaults = {"scale": 1.0, "zero_point": 0.0, "out_scale": 1.0}

    def __init__(self, name, in_bits, out_bits, version=2, signed=True, narrow=False, rounding="FLOOR",
                 shape=None, channels=None):
        super().__init__(name, shape if (shape is not None or channels is not None) else [1], channels)
        self.in_bits, self.out_bits, self.version = int(in_bits), int(out_bits), int(version)
        self.signed, self.narrow, self.rounding = bool(signed), bool(narrow), str(rounding).upper()
        self._round = round_fn(self.rounding)
        if self.version not in (1, 2):
            raise LayerError(f"layer {name!r}: trunc version must be 1 or 2")

    def apply(self, x):
        s, z = self._p("scale", x), self._p("zero_point", x)
        y = np.round(x / s + z)
        if self.version == 1:
            return (self._round(y / 2.0 ** (self.in_bits - self.out_bits)) - z) * s
        os_ = self._p("out_scale", x)
        t = 2.0 ** np.round(np.log2(os_ / s))
        lo, hi = int_range(self.out_bits, self.signed, self.narrow)
        return (self._round(np.clip(y / t, lo, hi)) - z / t) * os_

    def backward(self, g, need_input_grad=True):
        self._x = None
        return g

    def spec(self):
        return {"type": self.type, "name": self.name, "in_bits": self.in_bits, "out_bits": self.out_bits,
                "version": self.version, "signed": self.signed, "narrow": self.narrow,
                "rounding": self.rounding, "shape": list(self.shape)}

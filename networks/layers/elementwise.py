"""Element-wise digital layers with per-channel (or broadcast) parameters: affine scaling,
PReLU, RPReLU (ReActNet), RSign (ReActNet's learnable sign threshold), hardtanh.

Shapes are per sample (no batch axis).  A parameter of ``shape`` S broadcasts against the
per-sample shape with numpy's rules (so ``[C, 1, 1]`` is per channel of a (C, H, W)
tensor, ``[F]`` per feature of an (F,) vector, ``[1]`` one value).  ``channels: C`` is
the short form of the per-channel shape ``[C] + [1] * (rank - 1)``.
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer, LayerError


class _Broadcast(Layer):
    """A layer with named float arrays of one broadcast shape (per sample)."""
    arrays: tuple = ()          #: names of the float arrays (all of shape ``shape``)
    defaults: dict = {}         #: init value of each array

    def __init__(self, name, shape=None, channels=None):
        super().__init__(name)
        if shape is not None and channels is not None:
            raise LayerError(f"layer {name!r}: give shape or channels, not both")
        if shape is not None:
            if not (isinstance(shape, (list, tuple)) and all(int(v) >= 1 for v in shape)):
                raise LayerError(f"layer {name!r}: shape must be a list of positive integers, got {shape!r}")
            shape = tuple(int(v) for v in shape)
        self.shape = shape
        self.channels = None if channels is None else int(channels)
        for a in self.arrays:
            setattr(self, a, None)

    def _out_shape(self, s):
        if self.shape is None:
            C = self.channels if self.channels is not None else s[0]
            if C != s[0]:
                raise LayerError(f"layer {self.name!r}: expects {C} channels, gets shape {s}")
            self.channels = C
            self.shape = (C,) + (1,) * (len(s) - 1)
        try:
            b = np.broadcast_shapes(self.shape, s)
        except ValueError:
            b = None
        if b != tuple(s):
            raise LayerError(f"layer {self.name!r}: parameter shape {list(self.shape)} does not broadcast "
                             f"to the input shape {list(s)}")
        return s

    def _p(self, a, x):
        """Array ``a`` shaped to broadcast against a batch ``x`` (B, ...)."""
        v = getattr(self, a)
        return v.reshape((1,) * (x.ndim - len(self.shape)) + self.shape)

    def per_channel(self, a):
        """``a`` as a (C,) vector when it is constant over everything but the channel axis
        (or a scalar), else None."""
        v = np.asarray(getattr(self, a))
        C = self.out_shape[0]
        full = np.broadcast_to(v, self.out_shape).reshape(C, -1)
        if np.all(full == full[:, :1]):
            return full[:, 0].astype(np.float64)
        return None

    trainable = True

    def init(self, rng):
        """Default values; a layer that is not trainable keeps values it already has (the
        constants of an imported graph)."""
        if not self.trainable and self.has_weights():
            return
        for a in self.arrays:
            setattr(self, a, np.full(self.shape, float(self.defaults.get(a, 0.0))))

    def has_weights(self):
        return all(getattr(self, a) is not None for a in self.arrays)

    def expected_state(self):
        return {a: (self.shape, "f") for a in self.arrays}

    def state(self):
        return {a: np.asarray(getattr(self, a), dtype=np.float32) for a in self.arrays}

    def load_state(self, arrays):
        for a in self.arrays:
            setattr(self, a, np.asarray(arrays[a], dtype=np.float64).reshape(self.shape))

    def parameters(self):
        return [(a, self) for a in self.arrays] if self.trainable else []

    def spec(self):
        return {"type": self.type, "name": self.name, "shape": list(self.shape)}

    def _reduce(self, g, x_ndim):
        """Sum a batch gradient (B, ...) down to the parameter shape."""
        full = (1,) * (x_ndim - len(self.shape)) + self.shape
        axes = tuple(i for i, n in enumerate(full) if n == 1 and g.shape[i] != 1)
        return g.sum(axis=axes, keepdims=True).reshape(self.shape)

    def forward(self, x, ctx=None):
        if not self.has_weights():
            raise LayerError(f"layer {self.name!r} has no weights (workload-only network?)")
        return self.apply(x)

    def train_forward(self, x):
        self._x = x
        return self.apply(x)


class Affine(_Broadcast):
    """``y = x * scale + shift`` with broadcast (per-channel, per-element or scalar) scale and
    shift.  Per-channel output scaling of XNOR-Net++ (Bulat & Tzimiropoulos 2019), input
    normalization, and the element-wise Mul/Add/Sub/Div-by-constant chains of imported
    graphs.  ``bias: false`` leaves the shift out (fixed at 0, not trained);
    ``trainable: false`` (imported constants) keeps scale and shift fixed, also through
    ``init``."""
    type = "affine"
    arrays = ("scale", "shift")
    defaults = {"scale": 1.0, "shift": 0.0}

    def __init__(self, name, shape=None, channels=None, bias=True, trainable=True):
        super().__init__(name, shape, channels)
        self.bias = bool(bias)
        self.trainable = bool(trainable)
        if not self.bias:
            self.arrays = ("scale",)

    def apply(self, x):
        y = x * self._p("scale", x)
        return y + self._p("shift", x) if self.bias else y

    def affine(self):
        """``(k, h)`` per channel with ``y = k * x + h`` (for folding), or None when the
        parameters vary within a channel."""
        k = self.per_channel("scale")
        h = self.per_channel("shift") if self.bias else np.zeros(self.out_shape[0])
        return None if (k is None or h is None) else (k, h)

    def backward(self, g, need_input_grad=True):
        x, self._x = self._x, None
        self.grads["scale"] = self._reduce(g * x, x.ndim)
        if self.bias:
            self.grads["shift"] = self._reduce(g, x.ndim)
        return g * self._p("scale", x) if need_input_grad else None

    def spec(self):
        d = super().spec()
        if not self.bias:
            d["bias"] = False
        if not self.trainable:
            d["trainable"] = False
        return d


class PReLU(_Broadcast):
    """``y = x if x > 0 else slope * x`` (He et al. 2015), slope per channel by default."""
    type = "prelu"
    arrays = ("slope",)
    defaults = {"slope": 0.25}

    def apply(self, x):
        return np.where(x > 0, x, x * self._p("slope", x))

    def backward(self, g, need_input_grad=True):
        x, self._x = self._x, None
        self.grads["slope"] = self._reduce(np.where(x > 0, 0.0, g * x), x.ndim)
        return np.where(x > 0, g, g * self._p("slope", x)) if need_input_grad else None


class RPReLU(_Broadcast):
    """ReActNet's RPReLU (Liu et al. 2020): ``y = (x - gamma) + zeta`` if ``x > gamma``,
    else ``beta * (x - gamma) + zeta``; gamma, beta, zeta per channel."""
    type = "rprelu"
    arrays = ("gamma", "beta", "zeta")
    defaults = {"gamma": 0.0, "beta": 0.25, "zeta": 0.0}

    def apply(self, x):
        u = x - self._p("gamma", x)
        return np.where(u > 0, u, u * self._p("beta", x)) + self._p("zeta", x)

    def backward(self, g, need_input_grad=True):
        x, self._x = self._x, None
        u = x - self._p("gamma", x)
        slope = np.where(u > 0, 1.0, self._p("beta", x))
        self.grads["beta"] = self._reduce(np.where(u > 0, 0.0, g * u), x.ndim)
        self.grads["zeta"] = self._reduce(g, x.ndim)
        self.grads["gamma"] = self._reduce(-g * slope, x.ndim)
        return g * slope if need_input_grad else None


class RSign(_Broadcast):
    """ReActNet's RSign: ``y = +1 if x >= b else -1`` with a learnable threshold b per
    channel (sign(0) = +1 as everywhere in imcsim).  STE: the gradient passes where
    ``|x - b| <= 1`` (to x, and with the opposite sign to b)."""
    type = "rsign"
    arrays = ("threshold",)
    defaults = {"threshold": 0.0}
    out_encoding = "binary"

    def apply(self, x):
        return np.where(x >= self._p("threshold", x), 1.0, -1.0)

    @property
    def foldable(self):
        return self.threshold is not None and self.out_shape is not None and self.per_channel("threshold") is not None

    def steps(self):
        return -1.0, [(self.per_channel("threshold"), False, 2.0)], 1.0

    def backward(self, g, need_input_grad=True):
        x, self._x = self._x, None
        gm = g * (np.abs(x - self._p("threshold", x)) <= 1.0)
        self.grads["threshold"] = -self._reduce(gm, x.ndim)
        return gm if need_input_grad else None


class HardTanh(Layer):
    """``y = min(max(x, min_val), max_val)`` (default [-1, 1]); also ONNX ``Clip``.
    Gradient passes inside the interval."""
    type = "hardtanh"

    def __init__(self, name, min_val=-1.0, max_val=1.0):
        super().__init__(name)
        self.min_val, self.max_val = float(min_val), float(max_val)
        if not self.min_val <= self.max_val:
            raise LayerError(f"layer {name!r}: need min_val <= max_val, got {min_val}, {max_val}")

    def forward(self, x, ctx=None):
        return np.clip(x, self.min_val, self.max_val)

    def train_forward(self, x):
        self._x = x
        return self.forward(x)

    def backward(self, g, need_input_grad=True):
        x, self._x = self._x, None
        return g * ((x >= self.min_val) & (x <= self.max_val))

    def parameters(self):
        return []

    def spec(self):
        return {"type": self.type, "name": self.name, "min_val": self.min_val, "max_val": self.max_val}

"""Layout and reduction layers: reshape, transpose (per-sample axes), constant padding,
global average pooling, softmax.  Shapes are per sample (the batch axis is never touched).
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer, LayerError


class _NoParams(Layer):
    def parameters(self):
        return []

    def train_forward(self, x):
        self._B = x.shape[0]
        return self.forward(x)


class Reshape(_NoParams):
    """Reshape each sample to ``shape`` (one entry may be -1)."""
    type = "reshape"

    def __init__(self, name, shape):
        super().__init__(name)
        if not (isinstance(shape, (list, tuple)) and shape):
            raise LayerError(f"layer {name!r}: shape must be a non-empty list, got {shape!r}")
        self.shape = tuple(int(v) for v in shape)

    def _out_shape(self, s):
        n = int(np.prod(s))
        t = list(self.shape)
        if t.count(-1) > 1 or any(v == 0 or v < -1 for v in t):
            raise LayerError(f"layer {self.name!r}: bad target shape {list(self.shape)}")
        if -1 in t:
            rest = int(np.prod([v for v in t if v != -1]))
            if rest == 0 or n % rest:
                raise LayerError(f"layer {self.name!r}: cannot reshape {list(s)} to {list(self.shape)}")
            t[t.index(-1)] = n // rest
        if int(np.prod(t)) != n:
            raise LayerError(f"layer {self.name!r}: cannot reshape {list(s)} ({n} values) to {list(self.shape)}")
        return tuple(t)

    def forward(self, x, ctx=None):
        return x.reshape((x.shape[0],) + self.out_shape)

    def backward(self, g, need_input_grad=True):
        return g.reshape((g.shape[0],) + self.in_shape)

    def spec(self):
        return {"type": self.type, "name": self.name, "shape": list(self.shape)}


class Transpose(_NoParams):
    """Permute the per-sample axes: ``perm`` of ``range(rank)`` (the ONNX perm without the
    batch axis, minus 1)."""
    type = "transpose"

    def __init__(self, name, perm):
        super().__init__(name)
        self.perm = tuple(int(v) for v in perm)

    def _out_shape(self, s):
        if sorted(self.perm) != list(range(len(s))):
            raise LayerError(f"layer {self.name!r}: perm {list(self.perm)} is not a permutation of the "
                             f"{len(s)} axes of {list(s)}")
        return tuple(s[i] for i in self.perm)

    def forward(self, x, ctx=None):
        return x.transpose((0,) + tuple(p + 1 for p in self.perm))

    def backward(self, g, need_input_grad=True):
        inv = np.argsort(self.perm)
        return g.transpose((0,) + tuple(int(p) + 1 for p in inv))

    def spec(self):
        return {"type": self.type, "name": self.name, "perm": list(self.perm)}


class GlobalAvgPool(_NoParams):
    """Mean over the spatial axes: (C, H, W) -> (C, 1, 1), as ONNX GlobalAveragePool."""
    type = "globalavgpool"

    def _out_shape(self, s):
        if len(s) < 2:
            raise LayerError(f"layer {self.name!r}: needs (C, H, W) input, gets {list(s)}")
        return (s[0],) + (1,) * (len(s) - 1)

    def forward(self, x, ctx=None):
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)

    def backward(self, g, need_input_grad=True):
        n = int(np.prod(self.in_shape[1:]))
        return np.broadcast_to(g / n, (g.shape[0],) + self.in_shape).copy()


class Softmax(_NoParams):
    """Softmax over the last per-sample axis (does not change the predicted class)."""
    type = "softmax"

    def forward(self, x, ctx=None):
        z = np.exp(x - x.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)

    def train_forward(self, x):
        self._y = self.forward(x)
        return self._y

    def backward(self, g, need_input_grad=True):
        y, self._y = self._y, None
        return y * (g - (g * y).sum(axis=-1, keepdims=True))


class Pad(_NoParams):
    """Constant padding of the spatial axes of (C, H, W): ``pads = [top, left, bottom,
    right]`` with ``value`` (ONNX ``Pad``, constant mode; e.g. Larq's ``pad_values=1``)."""
    type = "pad"

    def __init__(self, name, pads, value=0.0):
        super().__init__(name)
        if not (isinstance(pads, (list, tuple)) and len(pads) == 4 and all(int(p) >= 0 for p in pads)):
            raise LayerError(f"layer {name!r}: pads must be [top, left, bottom, right] >= 0, got {pads!r}")
        self.pads = tuple(int(p) for p in pads)
        self.value = float(value)

    def _out_shape(self, s):
        if len(s) != 3:
            raise LayerError(f"layer {self.name!r}: pad needs (C, H, W) input, gets {list(s)}")
        t, l, b, r = self.pads
        return (s[0], s[1] + t + b, s[2] + l + r)

    def forward(self, x, ctx=None):
        t, l, b, r = self.pads
        return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=self.value)

    def backward(self, g, need_input_grad=True):
        t, l, b, r = self.pads
        return g[:, :, t:g.shape[2] - b, l:g.shape[3] - r]

    def spec(self):
        return {"type": self.type, "name": self.name, "pads": list(self.pads), "value": self.value}

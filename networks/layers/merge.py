"""Layers with several inputs, for graph networks (``imcsim-network/2``): residual add and
concatenation.  They take a list of inputs: ``build([shape, ...])``, ``forward([x, ...],
ctx)``, ``train_forward([x, ...])``, and ``backward(g)`` returns one gradient per input.
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer, LayerError


class _Merge(Layer):
    multi_input = True

    def build(self, in_shapes):
        self.in_shapes = [tuple(s) for s in in_shapes]
        if len(self.in_shapes) < 2:
            raise LayerError(f"layer {self.name!r}: a {self.type} needs at least two inputs, "
                             f"got {len(self.in_shapes)}")
        self.in_shape = self.in_shapes[0]
        self.out_shape = self._merged_shape(self.in_shapes)
        return self.out_shape

    def parameters(self):
        return []


class Add(_Merge):
    """Element-wise sum of inputs of one shape (residual connections); digital."""
    type = "add"

    def _merged_shape(self, shapes):
        if any(s != shapes[0] for s in shapes):
            raise LayerError(f"layer {self.name!r}: add needs inputs of one shape, got "
                             f"{', '.join(str(list(s)) for s in shapes)}")
        return shapes[0]

    def forward(self, xs, ctx=None):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def train_forward(self, xs):
        return self.forward(xs)

    def backward(self, g, need_input_grad=True):
        return [g] * len(self.in_shapes)


class Concat(_Merge):
    """Concatenation along per-sample ``axis`` (default 0 = channels; the ONNX axis minus 1)."""
    type = "concat"

    def __init__(self, name, axis=0):
        super().__init__(name)
        self.axis = int(axis)

    def _merged_shape(self, shapes):
        r = len(shapes[0])
        if not 0 <= self.axis < r or any(len(s) != r for s in shapes):
            raise LayerError(f"layer {self.name!r}: concat axis {self.axis} does not fit inputs "
                             f"{', '.join(str(list(s)) for s in shapes)}")
        for s in shapes:
            if any(s[i] != shapes[0][i] for i in range(r) if i != self.axis):
                raise LayerError(f"layer {self.name!r}: concat inputs differ outside axis {self.axis}: "
                                 f"{', '.join(str(list(s)) for s in shapes)}")
        out = list(shapes[0])
        out[self.axis] = sum(s[self.axis] for s in shapes)
        return tuple(out)

    def forward(self, xs, ctx=None):
        return np.concatenate(xs, axis=self.axis + 1)

    def train_forward(self, xs):
        return self.forward(xs)

    def backward(self, g, need_input_grad=True):
        cuts = np.cumsum([s[self.axis] for s in self.in_shapes])[:-1]
        return np.split(g, cuts, axis=self.axis + 1)

    def spec(self):
        return {"type": self.type, "name": self.name, "axis": self.axis}

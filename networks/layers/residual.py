"""Residual blocks: a body and a shortcut summed.
"""
from __future__ import annotations

from networks.layers.base import Layer, LayerError
from networks.layers.fold import backward_sequence, run_sequence, train_sequence


class Residual(Layer):
    """Residual block: ``body(x) + shortcut(x)`` (shortcut empty = identity); the add is digital."""
    type = "residual"

    def __init__(self, name, body, shortcut=None):
        super().__init__(name)
        self.body = list(body)
        self.shortcut = list(shortcut or [])
        if not self.body:
            raise LayerError(f"layer {name!r}: residual block needs a non-empty body")

    def children(self):
        return self.body + self.shortcut

    def build(self, in_shape):
        self.in_shape = tuple(in_shape)
        s = self.in_shape
        for l in self.body:
            s = l.build(s)
        t = self.in_shape
        for l in self.shortcut:
            t = l.build(t)
        if tuple(s) != tuple(t):
            raise LayerError(f"layer {self.name!r}: body output {tuple(s)} and shortcut output {tuple(t)} differ")
        self.out_shape = tuple(s)
        return self.out_shape

    def has_weights(self):
        return all(l.has_weights() for l in self.children())

    def spec(self):
        d = {"type": self.type, "name": self.name, "body": [l.spec() for l in self.body]}
        if self.shortcut:
            d["shortcut"] = [l.spec() for l in self.shortcut]
        return d

    def parameters(self):
        return []

    def forward(self, x, ctx):
        return run_sequence(self.body, x, ctx) + run_sequence(self.shortcut, x, ctx)

    def train_forward(self, x):
        return train_sequence(self.body, x) + train_sequence(self.shortcut, x)

    def backward(self, g, need_input_grad=True):
        return backward_sequence(self.body, g, True) + backward_sequence(self.shortcut, g, True)

"""Shape layers: flatten.
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer


class Flatten(Layer):
    type = "flatten"

    def _out_shape(self, s):
        return (int(np.prod(s)),)

    def forward(self, x, ctx=None):
        return x.reshape((x.shape[0],) + self.out_shape)

    def train_forward(self, x):
        return self.forward(x)

    def backward(self, g, need_input_grad=True):
        return g.reshape((g.shape[0],) + self.in_shape)

    def parameters(self):
        return []

"""Activations: sign, ternarize, uniform k-bit, ReLU.
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer, LayerError


# ==================================================================================== activations
class Activation(Layer):
    """Base of element-wise activations.  Quantizing ones describe themselves for folding
    as ``scale * (offset + sum_j weight_j * [v >= T_j])`` (``>`` when strict):
    ``steps() -> (offset, [(T_j, strict_j, weight_j)], scale)``."""
    foldable = False

    def forward(self, x, ctx=None):
        return self.apply(x)

    def train_forward(self, x):
        self._x = x
        return self.apply(x)

    def backward(self, g, need_input_grad=True):
        x = self._x
        self._x = None
        return g * self.ste(x)

    def parameters(self):
        return []


class Sign(Activation):
    """Binary activation: +1 if v >= 0 else -1 (BNN); STE = 1{|v| <= 1}."""
    type = "sign"
    foldable = True
    out_encoding = "binary"

    def apply(self, x):
        return np.where(x >= 0, 1.0, -1.0)

    def ste(self, x):
        return np.abs(x) <= 1.0

    def steps(self):
        return -1.0, [(0.0, False, 2.0)], 1.0


class Ternarize(Activation):
    """Ternary activation: +1 if v > delta, -1 if v < -delta, else 0; STE = 1{|v| <= 1}."""
    type = "ternarize"
    foldable = True
    out_encoding = "ternary"

    def __init__(self, name, delta=0.5):
        super().__init__(name)
        self.delta = float(delta)
        if self.delta < 0:
            raise LayerError(f"layer {name!r}: delta must be >= 0")

    def apply(self, x):
        return (x > self.delta).astype(np.float64) - (x < -self.delta)

    def ste(self, x):
        return np.abs(x) <= 1.0

    def steps(self):
        # [v > d] - [v < -d] = -1 + [v > d] + [v >= -d]
        return -1.0, [(self.delta, True, 1.0), (-self.delta, False, 1.0)], 1.0

    def spec(self):
        return {"type": self.type, "name": self.name, "delta": self.delta}


class Uniform(Activation):
    """k-bit unsigned activation (DoReFa / PACT with a fixed clip):
    ``q = floor(min(max(v,0),clip)/step + 1/2) * step``, step = clip/(2^k-1);
    STE = 1{0 <= v <= clip}."""
    type = "uniform"
    foldable = True

    def __init__(self, name, bits=4, clip=1.0):
        super().__init__(name)
        self.bits = int(bits)
        self.clip = float(clip)
        if not 1 <= self.bits <= 16 or not self.clip > 0:
            raise LayerError(f"layer {name!r}: need 1 <= bits <= 16 and clip > 0")

    @property
    def out_encoding(self):
        return f"unsigned{self.bits}"

    @property
    def step(self):
        return self.clip / (2 ** self.bits - 1)

    def apply(self, x):
        return np.floor(np.clip(x, 0.0, self.clip) / self.step + 0.5).clip(0, 2 ** self.bits - 1) * self.step

    def ste(self, x):
        return (x >= 0) & (x <= self.clip)

    def steps(self):
        st = self.step
        return 0.0, [((j - 0.5) * st, False, 1.0) for j in range(1, 2 ** self.bits)], st

    def spec(self):
        return {"type": self.type, "name": self.name, "bits": self.bits, "clip": self.clip}


class ReLU(Activation):
    type = "relu"

    def apply(self, x):
        return np.maximum(x, 0.0)

    def ste(self, x):
        return x > 0

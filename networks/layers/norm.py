"""Batch normalization.
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer, LayerError


# ==================================================================================== batch norm
class BatchNorm(Layer):
    """Batch normalization over the channel axis (axis 1); folded into thresholds at inference."""
    type = "batchnorm"

    def __init__(self, name, channels=None, eps=1e-5, momentum=0.9):
        super().__init__(name)
        self.channels = None if channels is None else int(channels)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.gamma = self.beta = self.mean = self.var = None

    def _out_shape(self, s):
        c = s[0]
        if self.channels is None:
            self.channels = c
        elif c != self.channels:
            raise LayerError(f"layer {self.name!r}: expects {self.channels} channels, gets shape {s}")
        return s

    def init(self, rng):
        C = self.channels
        self.gamma, self.beta = np.ones(C), np.zeros(C)
        self.mean, self.var = np.zeros(C), np.ones(C)

    def has_weights(self):
        return self.gamma is not None

    def expected_state(self):
        return {k: ((self.channels,), "f") for k in ("gamma", "beta", "mean", "var")}

    def state(self):
        return {k: np.asarray(getattr(self, k), dtype=np.float32) for k in ("gamma", "beta", "mean", "var")}

    def load_state(self, arrays):
        for k in ("gamma", "beta", "mean", "var"):
            setattr(self, k, np.asarray(arrays[k], dtype=np.float64))
        if np.any(self.var < 0):
            raise LayerError(f"layer {self.name!r}: negative running variance")

    def spec(self):
        return {"type": self.type, "name": self.name, "channels": self.channels, "eps": self.eps}

    def affine(self):
        """``(k, h)`` with ``BN(u) = k * u + h`` per channel (inference)."""
        k = self.gamma / np.sqrt(self.var + self.eps)
        return k, self.beta - k * self.mean

    @staticmethod
    def _shape(x):
        return (1, -1) + (1,) * (x.ndim - 2)

    def forward(self, x, ctx=None):
        if not self.has_weights():
            raise LayerError(f"layer {self.name!r} has no weights (workload-only network?)")
        k, h = self.affine()
        sh = self._shape(x)
        return x * k.reshape(sh) + h.reshape(sh)

    def parameters(self):
        return [("gamma", self), ("beta", self)]

    def train_forward(self, x):
        axes = (0,) + tuple(range(2, x.ndim))
        mu = x.mean(axis=axes)
        var = x.var(axis=axes)
        sh = self._shape(x)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu.reshape(sh)) * inv.reshape(sh)
        m = self.momentum
        n = x.size // x.shape[1]
        self.mean = m * self.mean + (1 - m) * mu
        self.var = m * self.var + (1 - m) * var * (n / max(n - 1, 1))
        self._cache = (xhat, inv, axes, sh)
        return xhat * self.gamma.reshape(sh) + self.beta.reshape(sh)

    def backward(self, g, need_input_grad=True):
        xhat, inv, axes, sh = self._cache
        self._cache = None
        self.grads["gamma"] = (g * xhat).sum(axis=axes)
        self.grads["beta"] = g.sum(axis=axes)
        if not need_input_grad:
            return None
        n = g.size // g.shape[1]
        gx = g * self.gamma.reshape(sh)
        return (inv.reshape(sh) / n) * (n * gx - gx.sum(axis=axes).reshape(sh)
                                        - xhat * (gx * xhat).sum(axis=axes).reshape(sh))

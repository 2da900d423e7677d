"""Max and average pooling.
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer, LayerError
from networks.layers.window import _pair, output_size


# ==================================================================================== pooling etc.
class _Pool(Layer):
    def __init__(self, name, kernel=2, stride=None, padding=0):
        super().__init__(name)
        self.kernel = _pair(kernel)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def _out_shape(self, s):
        if len(s) != 3:
            raise LayerError(f"layer {self.name!r}: pooling needs (C, H, W) input, gets {s}")
        C, H, W = s
        Ho, Wo = output_size(H, W, self.kernel, self.stride, self.padding)
        if Ho < 1 or Wo < 1:
            raise LayerError(f"layer {self.name!r}: kernel {self.kernel} does not fit input {s}")
        return (C, Ho, Wo)

    def _windows(self, x, pad_value):
        ph, pw = self.padding
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
        _, Ho, Wo = self.out_shape
        sh, sw = self.stride
        win = np.lib.stride_tricks.sliding_window_view(x, self.kernel, axis=(2, 3))[:, :, ::sh, ::sw][:, :, :Ho, :Wo]
        return win.reshape(win.shape[:4] + (self.kernel[0] * self.kernel[1],))

    def _scatter(self, gw, B):
        """gw (B, C, Ho, Wo, kh*kw) -> gradient wrt the (unpadded) input."""
        C, H, W = self.in_shape
        ph, pw = self.padding
        sh, sw = self.stride
        _, Ho, Wo = self.out_shape
        out = np.zeros((B, C, H + 2 * ph, W + 2 * pw))
        kh, kw = self.kernel
        for i in range(kh):
            for j in range(kw):
                out[:, :, i:i + sh * Ho:sh, j:j + sw * Wo:sw] += gw[..., i * kw + j]
        return out[:, :, ph:ph + H, pw:pw + W]

    def parameters(self):
        return []

    def spec(self):
        return {"type": self.type, "name": self.name, "kernel": list(self.kernel),
                "stride": list(self.stride), "padding": list(self.padding)}


class MaxPool2d(_Pool):
    type = "maxpool"

    def forward(self, x, ctx=None):
        return self._windows(x, -np.inf).max(axis=-1)

    def train_forward(self, x):
        w = self._windows(x, -np.inf)
        arg = w.argmax(axis=-1)
        self._cache = (arg, w.shape[-1], x.shape[0])
        return np.take_along_axis(w, arg[..., None], axis=-1)[..., 0]

    def backward(self, g, need_input_grad=True):
        arg, kk, B = self._cache
        self._cache = None
        gw = (np.arange(kk) == arg[..., None]) * g[..., None]
        return self._scatter(gw, B)


class AvgPool2d(_Pool):
    """Average pooling (zero padding counted in the average)."""
    type = "avgpool"

    def forward(self, x, ctx=None):
        return self._windows(x, 0.0).mean(axis=-1)

    def train_forward(self, x):
        self._B = x.shape[0]
        return self.forward(x)

    def backward(self, g, need_input_grad=True):
        kk = self.kernel[0] * self.kernel[1]
        gw = np.repeat((g / kk)[..., None], kk, axis=-1)
        return self._scatter(gw, self._B)

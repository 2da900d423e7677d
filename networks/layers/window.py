"""Window geometry shared by convolution and pooling: im2col and its adjoint.
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import LayerError


def _pair(v):
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise LayerError(f"expected an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def output_size(H: int, W: int, kernel, stride, padding) -> tuple[int, int]:
    """Output positions (Ho, Wo) of a window ``kernel`` sliding by ``stride`` over an
    H x W input padded by ``padding`` on each side (each a pair)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    return (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1


def im2col(x, kh, kw, stride, padding, pad_value=0.0):
    """(B, C, H, W) -> ((B*Ho*Wo, C*kh*kw) patches ordered (c, i, j), Ho, Wo)."""
    B, C, H, W = x.shape
    sh, sw = stride
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    Ho, Wo = output_size(H, W, (kh, kw), stride, padding)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :Ho, :Wo]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(B * Ho * Wo, C * kh * kw)
    return cols, Ho, Wo


def col2im(cols, x_shape, kh, kw, stride, padding, Ho, Wo):
    """Adjoint of :func:`im2col` (sums overlapping patches)."""
    B, C, H, W = x_shape
    sh, sw = stride
    ph, pw = padding
    d = cols.reshape(B, Ho, Wo, C, kh, kw)
    out = np.zeros((B, C, H + 2 * ph, W + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + sh * Ho:sh, j:j + sw * Wo:sw] += d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, ph:ph + H, pw:pw + W]

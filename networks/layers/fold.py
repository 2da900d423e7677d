"""Folding and sequence execution: a quantized layer followed by BatchNorm and a foldable
activation is evaluated as per-channel thresholds on the integer accumulator.
"""
from __future__ import annotations

import numpy as np

from networks.layers.activation import Activation
from networks.layers.base import LayerError
from networks.layers.linear import _Linear
from networks.layers.norm import BatchNorm


def threshold_activation(z, A, Bc, act):
    """Folded BN + activation: ``act(A*z + Bc)`` evaluated as per-channel thresholds on z.

    ``z`` (R, N) accumulators from the backend (integers unless asym), ``A``, ``Bc`` (N,).
    For each step ``[v >= T]`` (or ``>``) of the activation, the threshold on z is
    ``t = (T - Bc)/A``; a negative A flips the comparison; A = 0 gives a constant.
    """
    offset, steps, scale = act.steps()
    out = np.full(z.shape, offset, dtype=np.float64)
    pos = A > 0
    neg = A < 0
    zero = ~(pos | neg)
    Asafe = np.where(zero, 1.0, A)
    for T, strict, w in steps:
        t = (T - Bc) / Asafe
        if strict:
            hit = np.where(pos, z > t, np.where(neg, z < t, Bc > T))
        else:
            hit = np.where(pos, z >= t, np.where(neg, z <= t, Bc >= T))
        out += w * hit
    return out * scale if scale != 1.0 else out


def fold(qlayer, bn, act):
    """``(A, Bc)`` of a quantized layer followed by (optional) BN: ``v = A*z + Bc``."""
    s, c = qlayer.channel_affine()
    if bn is None:
        return s, c
    k, h = bn.affine()
    return k * s, k * c + h


def _fusable(layers, i, ctx):
    """Length of the fused group starting at i (3, 2) or 0."""
    l = layers[i]
    if not (ctx.fold and isinstance(l, _Linear) and l.quantized):
        return 0, None, None
    j = i + 1
    bn = None
    if j < len(layers) and isinstance(layers[j], BatchNorm):
        bn = layers[j]
        j += 1
    if j < len(layers) and isinstance(layers[j], Activation) and layers[j].foldable:
        return j + 1 - i, bn, layers[j]
    return 0, None, None


def run_sequence(layers, x, ctx):
    i = 0
    while i < len(layers):
        n, bn, act = _fusable(layers, i, ctx)
        l = layers[i]
        if n:
            B = x.shape[0]
            z = l.accumulate(x, ctx)
            if bn is not None and not bn.has_weights():
                raise LayerError(f"layer {bn.name!r} has no weights (workload-only network?)")
            A, Bc = fold(l, bn, act)
            x = l._unrows(threshold_activation(z, A, Bc, act), B)
            i += n
        else:
            x = l.forward(x, ctx)
            i += 1
    return x


def train_sequence(layers, x):
    for l in layers:
        x = l.train_forward(x)
    return x


def backward_sequence(layers, g, need_input_grad=True):
    for k in range(len(layers) - 1, -1, -1):
        g = layers[k].backward(g, need_input_grad=(need_input_grad or k > 0))
    return g

"""Numba kernels of the bit-serial analog MAC.

The bulk sums of one access (mismatch-weighted count of discharging cells per column and
rail) are dense products done by BLAS in :mod:`imcsim.engine`; the fused per-access work
that follows is here, one pass over every (vector, plane, column):

    weighted count -> bitline saturation -> read noise -> ADC code -> digital partial sum

The physics of each step is defined by the reference functions of ``device_models``
(``bitline.analog``, ``adc.convert``); tests check that these kernels agree with them.

Read noise is drawn from a counter-based stream: the Gaussian of one conversion is a pure
function of (stream key, counter) with counter = ((vector * planes + plane) * groups +
group) * columns * 2 + column * 2 + rail, vector being the global index of the vector in
the layer's input stream. A result therefore depends only on (seed, inputs, card), not on
batch chunking or thread count. The uniform generator is SplitMix64 (Steele, Lea, Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014) evaluated at the counter;
the Gaussian comes from an interpolated inverse-CDF table (2**14 equal-probability
intervals, truncated at +-3.99 sigma, rescaled to unit variance). Because the generator is
bounded, a conversion whose code cannot change under any noise value needs no draw: the
kernel skips those draws, which changes no result.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit, prange

#: bitline saturation curves (device_models.bitline.analog)
SAT_NONE, SAT_CLIP, SAT_EXP = 0, 1, 2
SATURATION_KINDS = {"none": SAT_NONE, "clip": SAT_CLIP, "exponential": SAT_EXP}

_TABLE_BITS = 14


@lru_cache(maxsize=1)
def gauss_table() -> np.ndarray:
    """Inverse normal CDF at the centres of 2**14 equal-probability intervals, plus one
    guard entry, scaled so that the interpolated generator has unit variance."""
    from scipy.special import ndtri

    n = 1 << _TABLE_BITS
    q = ndtri((np.arange(n) + 0.5) / n)
    # variance of the piecewise-linear generator (exact for uniform interpolation):
    # u uniform on [0, n-1) between table points; outside it clamps (tails at the ends)
    a, b = q[:-1], q[1:]
    seg_var = (a * a + a * b + b * b) / 3.0           # E[x^2] on each linear segment
    var = (seg_var.sum() + 0.5 * (q[0] ** 2 + q[-1] ** 2)) / n
    table = np.empty(n + 1)
    table[:n] = q / math.sqrt(var)
    table[n] = table[n - 1]
    return table


@njit(cache=True, inline="always")
def splitmix64(key, counter):
    z = (key + np.uint64(counter) * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def gauss(key, counter, table):
    """Standard normal (bounded by table[0], table[-1]) at ``counter`` of stream ``key``."""
    z = splitmix64(key, counter)
    # 53 random bits -> position in [0, n): index = top 14 bits, fraction = next 39 bits
    top = z >> np.uint64(64 - _TABLE_BITS)
    frac = float((z >> np.uint64(11)) & np.uint64((1 << 39) - 1)) * (1.0 / (1 << 39))
    # centres of intervals: the interval [i, i+1) of u*n maps between q[i-1/2]... use
    # u*n - 1/2 as the interpolation abscissa, clamped at both ends
    t = float(top) + frac - 0.5
    if t <= 0.0:
        return table[0]
    i = int(t)
    if i >= (1 << _TABLE_BITS) - 1:
        return table[(1 << _TABLE_BITS) - 1]
    f = t - i
    return table[i] + f * (table[i + 1] - table[i])


@njit(cache=True, inline="always")
def saturate(v, kind, s):
    if kind == 1:
        return v if v < s else s
    if kind == 2:
        return s * (1.0 - math.exp(-v / s)) if v > 0.0 else v
    return v


@njit(cache=True, inline="always")
def convert(v, sigma, offset, gain, v_min, lsb, top, key, counter, table, tmax):
    """One ADC conversion of analog value ``v`` [cells] with read noise ``sigma`` [cells].

    code = clip(floor((gain * (v + noise) - v_min) / lsb + offset + 1/2), 0, top);
    returns v_min + code * lsb (the count the digital side accumulates).
    """
    u = (gain * v - v_min) / lsb + offset + 0.5
    if sigma > 0.0:
        su = gain * sigma / lsb
        a = su * tmax
        lo = math.floor(u - a)
        hi = math.floor(u + a)
        lo = 0.0 if lo < 0.0 else (top if lo > top else lo)
        hi = 0.0 if hi < 0.0 else (top if hi > top else hi)
        if lo != hi:
            u += su * gauss(key, counter, table)
    c = math.floor(u)
    if c < 0.0:
        c = 0.0
    elif c > top:
        c = top
    return v_min + c * lsb


@njit(parallel=True, cache=True)
def convert_accumulate(C, n_planes, n_vec, n_cols, vec0, group, n_groups,
                       packed, pack_base, sat_kind, sat_s, noise_sigma, differential,
                       v_min, lsb, levels, offset, gain, s_bl, s_blb,
                       key, table, colacc):
    """Convert the analog sums of one row group and add them to the column partial sums.

    C: (n_planes * n_vec, 2 * n_cols) float32 weighted counts, BL in [:, :n_cols], BLB in
       [:, n_cols:] (or, if ``packed``, (.., n_cols) holding BL + pack_base * BLB exactly).
    offset, gain: (n_cols, 2) static ADC offset [LSB] and gain of the ADC serving each
       column and rail (differential sensing uses [:, 0]).
    colacc: (n_vec, n_cols) float64 running sum of sum_p s_p * value_p.
    """
    top = float(levels - 1)
    tmax = max(abs(table[0]), abs(table[-1]))
    for b in prange(n_vec):
        for p in range(n_planes):
            row = p * n_vec + b
            base = (((vec0 + b) * n_planes + p) * n_groups + group) * n_cols
            sb = s_bl[p]
            sbb = s_blb[p]
            for j in range(n_cols):
                if packed:
                    v = C[row, j]
                    blb = math.floor(v / pack_base)
                    bl = v - blb * pack_base
                else:
                    bl = C[row, j]
                    blb = C[row, n_cols + j]
                abl = saturate(bl, sat_kind, sat_s)
                ablb = saturate(blb, sat_kind, sat_s)
                ctr = (base + j) * 2
                if differential:
                    sig = noise_sigma * math.sqrt(max(bl, 0.0) + max(blb, 0.0))
                    val = convert(abl - ablb, sig, offset[j, 0], gain[j, 0], v_min, lsb,
                                  top, key, ctr, table, tmax)
                    colacc[b, j] += sb * val
                else:
                    vb = convert(abl, noise_sigma * math.sqrt(max(bl, 0.0)), offset[j, 0],
                                 gain[j, 0], v_min, lsb, top, key, ctr, table, tmax)
                    vbb = convert(ablb, noise_sigma * math.sqrt(max(blb, 0.0)), offset[j, 1],
                                  gain[j, 1], v_min, lsb, top, key, ctr + 1, table, tmax)
                    colacc[b, j] += sb * vb - sbb * vbb


@njit(cache=True)
def draw_gaussians(key, counters, table):
    """The stream's Gaussians at the given counters (for tests of the generator)."""
    out = np.empty(counters.shape[0])
    for i in range(counters.shape[0]):
        out[i] = gauss(key, counters[i], table)
    return out

"""Reference (numpy, clear, slow) implementation of one tile access, from the physics steps.

The engine's numba kernel fuses these steps; this module chains the reference functions
so that tests (and users) can check a fused implementation against them:

    cells.rail_counts -> bitline.analog (saturation) -> bitline.add_read_noise
    -> adc.convert (per rail for dual sensing, BL - BLB for differential)
    -> digital difference (dual)

Units: counts and analog values in cell swings; the result is the column partial sum in
units of one cell (an integer count when nothing non-ideal acts).
"""
from __future__ import annotations

import numpy as np

from . import adc, bitline, cells

__all__ = ["column_access"]


def column_access(x, w, card, *, gains=None, adc_offsets=None, adc_gains=None, rng=None,
                  max_count=None) -> np.ndarray:
    """Digital partial sums of one access of one input plane over one row group.

    x: (L,) or (B, L) input plane in {-1, 0, 1} (``binary``/xnor: {-1, +1});
    w: (L, C) stored weights (cell levels); gains: (L, C, 2) cell strengths
    (:func:`cells.draw_mismatch`) or None; adc_offsets / adc_gains: (C, 2) per column and
    rail, in LSB / relative (for differential sensing only rail 0 is used) or None;
    rng: generator for read noise (needed when ``bitline.read_noise_sigma > 0``);
    max_count: ADC full scale for range ``full``/``calibrated`` (default
    ``tile.rows_per_access``; ignored for ``clip``).

    Returns float64 (C,) or (B, C): dual sensing ``conv(BL) - conv(BLB)``; differential
    ``conv(BL - BLB)``.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    squeeze = x.ndim == 1
    x2 = np.atleast_2d(x)
    C = w.shape[1]
    n, k = cells.rail_counts(x2, w, gains)                       # (B, C) each
    sat, s = card["bitline.saturation"], card["bitline.saturation_count"]
    sigma = float(card["bitline.read_noise_sigma"])
    vb = bitline.analog(n, sat, s)
    vbb = bitline.analog(k, sat, s)
    if sigma > 0:
        if rng is None:
            raise ValueError("column_access: read noise needs an rng")
        vb = bitline.add_read_noise(vb, n, sigma, rng)
        vbb = bitline.add_read_noise(vbb, k, sigma, rng)
    M = card["tile.rows_per_access"] if max_count is None else max_count
    q = adc.quantizer(card, M)
    off = np.zeros((C, 2)) if adc_offsets is None else np.asarray(adc_offsets, float)
    gn = np.ones((C, 2)) if adc_gains is None else np.asarray(adc_gains, float)
    if card["adc.sensing"] == "dual":
        out = (adc.convert(vb, q, off[:, 0], gn[:, 0])
               - adc.convert(vbb, q, off[:, 1], gn[:, 1]))
    else:
        out = adc.convert(vb - vbb, q, off[:, 0], gn[:, 0])
    return out[0] if squeeze else out

"""Reference (numpy, clear, slow) implementation of one tile access, from the physics steps.

The engine's numba kernel fuses these steps; this module chains the reference functions
so that tests (and users) can check a fused implementation against them, output for
output (noise included, when the same standard normals are passed in):

    cells.rail_counts (weighted) -> per-cell noise -> bitline.analog (saturation)
    -> noise floor -> adc.convert (per rail for dual sensing, BL - BLB for differential)
    -> digital difference (dual)

Which standard normal goes where (the engine draws them from its counter-based streams
at the same places): without saturation one Gaussian per conversion, ``z1[..., rail]``
(dual) or ``z1[..., 0]`` (differential), of variance ``sigma_cell**2 c + sigma_floor**2``
(``c = c_BL + c_BLB`` for differential); with saturation ``z1[..., rail]`` is the per-cell
noise of each rail before the curve and ``z2[..., rail]`` (differential: ``z2[..., 0]``)
the floor after it.

Units: counts and analog values in cells; the result is the column partial sum in units of
one cell (an integer count when nothing non-ideal acts).
"""
from __future__ import annotations

import numpy as np

from . import adc, bitline, cells

__all__ = ["column_access"]


def column_access(x, w, card, *, gains=None, adc_offsets=None, adc_gains=None, rng=None,
                  z1=None, z2=None, max_count=None, split: bool = False) -> np.ndarray:
    """Digital partial sums of one access of one input plane over one row group.

    x: (L,) or (B, L) input plane in {-1, 0, 1} (``binary``/xnor: {-1, +1});
    w: (L, C) stored weights (cell levels);
    gains: (L, C, 2) cell strengths (:func:`cells.strengths`) or None;
    adc_offsets: (C, 2) or (C, 2, comparators) input-referred offsets [cells] per column and
    rail (differential: rail 0), one per comparator for a flash (``comparators = levels - 1``),
    or None; adc_gains: (C, 2) relative gains or None;
    z1, z2: (B, C, 2) standard normals (see the module notes), or None to draw them from
    ``rng`` when the card has noise;
    max_count: full scale for range ``full``/``calibrated`` (default: the rows of the group,
    ``L``; ignored for ``clip`` and ``custom``).

    Returns float64 (C,) or (B, C): dual sensing ``conv(BL) - conv(BLB)``; differential
    ``conv(BL - BLB)``. ``split=True`` (dual) returns both converted rails, (..., 2).
    """
    x = np.asarray(x)
    w = np.asarray(w)
    squeeze = x.ndim == 1
    x2 = np.atleast_2d(x)
    B, L = x2.shape
    C = w.shape[1]
    n, k = cells.rail_counts(x2, w, gains)                       # (B, C) each
    kind, s = bitline.saturation_of(card)
    sc = float(card["bitline.read_noise_sigma"])
    sf = adc.noise_floor_cells(card)
    differential = card["adc.sensing"] == "differential"
    if (sc > 0 or sf > 0) and (z1 is None or z2 is None):
        if rng is None:
            raise ValueError("column_access: noise needs an rng or z1 and z2")
        z1 = rng.standard_normal((B, C, 2)) if z1 is None else z1
        z2 = rng.standard_normal((B, C, 2)) if z2 is None else z2
    if sc == 0 and sf == 0:
        z1 = z2 = np.zeros((B, C, 2))
    z1 = np.asarray(z1, float).reshape(B, C, 2)
    z2 = np.asarray(z2, float).reshape(B, C, 2)
    pn, pk = np.maximum(n, 0.0), np.maximum(k, 0.0)
    if kind == "none":
        if differential:
            vals = [n - k + np.sqrt(sc ** 2 * (pn + pk) + sf ** 2) * z1[..., 0]]
        else:
            vals = [n + np.sqrt(sc ** 2 * pn + sf ** 2) * z1[..., 0],
                    k + np.sqrt(sc ** 2 * pk + sf ** 2) * z1[..., 1]]
    else:
        an = bitline.analog(n + sc * np.sqrt(pn) * z1[..., 0], kind, s)
        ak = bitline.analog(k + sc * np.sqrt(pk) * z1[..., 1], kind, s)
        if differential:
            vals = [an - ak + sf * z2[..., 0]]
        else:
            vals = [an + sf * z2[..., 0], ak + sf * z2[..., 1]]
    M = L if max_count is None else max_count
    g = adc.grid(card, M)
    if card["adc.follow_saturation"] and not differential:
        g = g._replace(kind="followed", thresholds=bitline.analog(g.thresholds, kind, s))
    off = np.zeros((C, 2)) if adc_offsets is None else np.asarray(adc_offsets, float)
    if off.ndim == 3 and off.shape[-1] == 1:
        off = off[..., 0]
    gn = np.ones((C, 2)) if adc_gains is None else np.asarray(adc_gains, float)
    # one offset per comparator: (1, C, comparators) against values (B, C)
    conv = [adc.convert(v, g, off[None, :, r] if off.ndim == 3 else off[:, r], gn[:, r])
            for r, v in enumerate(vals)]
    if split:
        out = np.stack(conv, axis=-1)
        return out[0] if squeeze else out
    out = conv[0] - conv[1] if len(conv) == 2 else conv[0]
    return out[0] if squeeze else out

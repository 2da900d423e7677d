"""Processing cells of an SRAM IMC crossbar: ternary (TiM-DNN) and binary XNOR cells.

Ternary processing cell (TPC)
-----------------------------
Jain, Gupta, Raghunathan, "TiM-DNN: Ternary In-Memory Accelerator for Deep Neural
Networks", IEEE TVLSI 28(7), 2020 (arXiv:1909.06892): the ternary processing cell and the
TiM tile.

* Storage: two SRAM bit-cells ``(Q1, Q2)`` hold a weight ``w`` in {-1, 0, +1}:
  ``+1 -> (1, 0)``, ``-1 -> (0, 1)``, ``0 -> (0, 0)`` (``(1, 1)`` is unused).
  See :func:`encode_ternary` / :func:`decode_ternary`.
* Wordline selection: an input ``x`` drives read wordline 1 (``x = +1``), read wordline 2
  (``x = -1``) or neither (``x = 0``); a zero input fires no wordline. See
  :func:`wordline_select`.
* Rails: a product ``x*w = +1`` discharges the bitline BL, a product ``-1`` discharges
  BLB, a zero product discharges nothing. With ``n`` cells on BL and ``k`` on BLB the
  column result is ``n - k``. See :func:`product_rail` and :func:`rail_counts`.

Asymmetric ternary values (TiM-DNN's asymmetric weighted ternary systems)
--------------------------------------------------------------------
Weights ``{-a, 0, b}`` are stored as {-1, 0, +1}; inputs ``{-c, 0, d}`` are applied as
two *input planes*, one access each:

* the ``+d`` plane drives (as ``x = +1``) the rows whose input is ``d``. BL counts the
  cells with ``w = +1`` (each contributes ``d*b``: digital scale ``+b*d``) and BLB counts
  the cells with ``w = -1`` (each contributes ``d*(-a)``: scale ``-a*d``);
* the ``-c`` plane drives (as ``x = -1``) the rows whose input is ``-c``. BL counts the
  cells with ``w = -1`` (``(-c)*(-a)``: scale ``+a*c``) and BLB counts the cells with
  ``w = +1`` (``(-c)*b``: scale ``-b*c``).

The result is ``b*d*n_BL(+d) - a*d*n_BLB(+d) + a*c*n_BL(-c) - b*c*n_BLB(-c)``. Because
each rail has its own scale, the rails must be converted separately: asymmetric values
require ``dual`` sensing (:data:`ASYM_REQUIRES_SENSING`). See :func:`asymmetric_scales`
and :func:`asymmetric_mac`. With ``a = b`` and ``c = d`` it reduces to ``a*c*(n - k)``.

Binary XNOR cell
----------------
Yin, Jiang, Seo, Seok, "XNOR-SRAM: In-Memory Computing SRAM Macro for Binary/Ternary
Deep Neural Networks", IEEE JSSC 55(6), 2020. Weights and inputs are in {-1, +1}; each
cell pulls the read bitline up (match, ``x*w = +1``) or down (mismatch, ``-1``), so with all
rows on the RBL forms a resistive divider whose voltage represents
``matches - mismatches``. In this model the match current is rail 0 (BL) and the
mismatch current rail 1 (BLB): the same rail mapping as the TPC, except that every active
row contributes to exactly one rail. It is normally sensed ``differential``.

Variation and faults
--------------------
* :func:`draw_mismatch`: static per-cell, per-rail relative discharge strength
  ``1 + sigma*N(0, 1)`` (clipped at 0), drawn once per chip instance.
* :func:`pelgrom_current_sigma`: that sigma from Pelgrom's law (Pelgrom, Duinmaijer,
  Welbers, "Matching properties of MOS transistors", IEEE JSSC 24(5), 1989):
  ``sigma_VT = A_VT / sqrt(W*L)`` and, in saturation with the square law,
  ``sigma_I / I = 2 * sigma_VT / (V_GS - V_T)``.
* :func:`draw_faults`: stuck-at cells that read a fixed weight.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "CELL_KINDS", "ASYM_REQUIRES_SENSING", "cell_levels", "encode_ternary", "decode_ternary",
    "wordline_select", "product_rail", "rail_counts", "column_result", "asymmetric_scales",
    "asymmetric_mac", "draw_mismatch", "draw_row_gains", "draw_cap_mismatch", "strengths",
    "draw_faults", "fault_level", "pelgrom_sigma_vt", "pelgrom_current_sigma",
]

CELL_KINDS = ("ternary", "xnor")
ASYM_REQUIRES_SENSING = "dual"

BL, BLB = 0, 1  #: rail indices (last axis of mismatch arrays)


def cell_levels(kind: str) -> tuple:
    """Weight values a cell can store: ternary ``(-1, 0, 1)``; xnor ``(-1, 1)``."""
    if kind == "ternary":
        return (-1, 0, 1)
    if kind == "xnor":
        return (-1, 1)
    raise ValueError(f"cell.kind: expected one of ternary, xnor, got {kind!r}")


# ------------------------------------------------------------------------------------
# TPC encoding and rails
# ------------------------------------------------------------------------------------

def encode_ternary(w) -> tuple[np.ndarray, np.ndarray]:
    """Bits ``(Q1, Q2)`` of the two SRAM cells of a TPC: +1 -> (1,0), -1 -> (0,1), 0 -> (0,0)."""
    w = np.asarray(w)
    if not np.isin(w, (-1, 0, 1)).all():
        raise ValueError("encode_ternary: expected weights in {-1, 0, 1}")
    return (w == 1).astype(np.uint8), (w == -1).astype(np.uint8)


def decode_ternary(q1, q2) -> np.ndarray:
    """Weight stored by bits ``(Q1, Q2)``; ``(1, 1)`` is not a valid state."""
    q1 = np.asarray(q1).astype(np.int8)
    q2 = np.asarray(q2).astype(np.int8)
    if np.any((q1 == 1) & (q2 == 1)):
        raise ValueError("decode_ternary: (1, 1) is not a valid TPC state")
    return q1 - q2


def wordline_select(x) -> tuple[np.ndarray, np.ndarray]:
    """Read wordlines fired by ternary inputs: ``(WL1, WL2)`` booleans; +1 -> WL1, -1 -> WL2,
    0 -> neither (no wordline energy)."""
    x = np.asarray(x)
    return x == 1, x == -1


def product_rail(x, w) -> np.ndarray:
    """Rail discharged by each cell: 0 (BL) for product +1, 1 (BLB) for -1, -1 for none."""
    p = np.asarray(x) * np.asarray(w)
    return np.where(p > 0, BL, np.where(p < 0, BLB, -1))


def rail_counts(x, w, gains=None) -> tuple[np.ndarray, np.ndarray]:
    """(Mismatch-weighted) counts of discharging cells per column, per rail.

    x: (L,) or (B, L) input plane in {-1, 0, 1}; w: (L, C) stored weights; gains: optional
    (L, C, 2) discharge strengths from :func:`draw_mismatch`. Returns ``(n_BL, n_BLB)``, each
    (C,) or (B, C) float64. With ``gains=None`` they are exact integer counts.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    squeeze = x.ndim == 1
    x2 = np.atleast_2d(x)
    p = x2[:, :, None] * w[None, :, :]                     # (B, L, C)
    pos = (p > 0).astype(np.float64)
    neg = (p < 0).astype(np.float64)
    if gains is not None:
        g = np.asarray(gains, dtype=np.float64)
        pos = pos * g[None, :, :, BL]
        neg = neg * g[None, :, :, BLB]
    n, k = pos.sum(axis=1), neg.sum(axis=1)
    return (n[0], k[0]) if squeeze else (n, k)


def column_result(x, w, gains=None) -> np.ndarray:
    """Ideal analog column result ``n - k`` (equals ``x @ w`` when ``gains`` is None)."""
    n, k = rail_counts(x, w, gains)
    return n - k


# ------------------------------------------------------------------------------------
# asymmetric ternary
# ------------------------------------------------------------------------------------

def asymmetric_scales(a: float, b: float, c: float, d: float) -> dict:
    """Per-plane, per-rail digital scale factors for weights {-a,0,b} and inputs {-c,0,d}.

    Returns ``{"+d": (scale_BL, scale_BLB), "-c": (scale_BL, scale_BLB)}`` =
    ``{"+d": (b*d, -a*d), "-c": (a*c, -b*c)}``; the ``+d`` plane is driven as x = +1 on the
    rows whose input is d, the ``-c`` plane as x = -1 on the rows whose input is -c.
    """
    return {"+d": (b * d, -a * d), "-c": (a * c, -b * c)}


def asymmetric_mac(x, w, a: float, b: float, c: float, d: float, gains=None) -> np.ndarray:
    """Reference asymmetric ternary MAC through the two planes and per-rail scales.

    x: (L,) or (B, L) in {-1, 0, 1} standing for {-c, 0, d}; w: (L, C) in {-1, 0, 1}
    standing for {-a, 0, b}. Equals ``xv @ wv`` with the real values when ``gains`` is None.
    """
    x = np.asarray(x)
    s = asymmetric_scales(a, b, c, d)
    plane_p = (x == 1).astype(np.int8)       # drive +1 where input = d
    plane_n = -(x == -1).astype(np.int8)     # drive -1 where input = -c
    n_p, k_p = rail_counts(plane_p, w, gains)
    n_n, k_n = rail_counts(plane_n, w, gains)
    return s["+d"][0] * n_p + s["+d"][1] * k_p + s["-c"][0] * n_n + s["-c"][1] * k_n


# ------------------------------------------------------------------------------------
# variation and faults
# ------------------------------------------------------------------------------------

def draw_mismatch(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Static relative discharge strength of every cell, per rail.

    Returns float64 array ``(*shape, 2)`` (rail axis last: 0 = BL, 1 = BLB) of
    ``1 + sigma * N(0, 1)``, clipped at 0 (a cell cannot charge a rail it discharges).
    ``sigma = 0`` gives exactly 1.0 everywhere (the normal draws are still consumed, so the
    random stream does not depend on sigma). Units: relative (1).
    """
    if sigma < 0:
        raise ValueError(f"cell.mismatch_sigma: expected a number >= 0, got {sigma!r}")
    shape = tuple(np.atleast_1d(shape).tolist()) if not isinstance(shape, tuple) else shape
    z = rng.standard_normal((*shape, 2))
    if sigma == 0:
        return np.ones((*shape, 2), dtype=np.float64)
    return np.maximum(1.0 + sigma * z, 0.0)


def draw_row_gains(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Static relative drive of every row [1]: ``1 + sigma * N(0, 1)`` clipped at 0, shape
    ``shape`` (the engine: (rows of the layer, column tiles): each tile row has its own
    wordline driver and pulse, common to all columns of that row). ``sigma = 0`` gives
    exact ones; the draws are consumed either way."""
    if sigma < 0:
        raise ValueError(f"cell.row_gain_sigma: expected a number >= 0, got {sigma!r}")
    z = rng.standard_normal(shape)
    return np.ones(np.shape(z)) if sigma == 0 else np.maximum(1.0 + sigma * z, 0.0)


def draw_cap_mismatch(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Static relative capacitance of every cell's capacitor (charge domain) [1]:
    ``1 + sigma * N(0, 1)`` clipped at 0, shape ``shape``; one capacitor per cell, shared by
    the rail its product drives. ``sigma = 0`` gives exact ones; the draws are consumed
    either way. A capacitor's sigma follows Pelgrom's area law too, ``A_C / sqrt(C)``."""
    if sigma < 0:
        raise ValueError(f"cell.cap_mismatch_sigma: expected a number >= 0, got {sigma!r}")
    z = rng.standard_normal(shape)
    return np.ones(np.shape(z)) if sigma == 0 else np.maximum(1.0 + sigma * z, 0.0)


def strengths(cell_gains, row_gains=None, corner: float = 0.0) -> np.ndarray:
    """Contribution of every cell per rail [cells]: ``(1 + corner) * row_gain[row] *
    cell_gain[row, col, rail]``. cell_gains (L, C, 2) (current: :func:`draw_mismatch`;
    charge: :func:`draw_cap_mismatch` broadcast over the rails); row_gains (L,) or None."""
    g = np.asarray(cell_gains, dtype=np.float64)
    if row_gains is not None:
        g = g * np.asarray(row_gains, dtype=np.float64)[:, None, None]
    return g * (1.0 + float(corner)) if corner != 0 else g


def fault_level(value: str, levels: Sequence[int]):
    """Weight read by a stuck cell for ``cell.fault_value`` (None for ``random``)."""
    fixed = {"zero": 0, "plus": 1, "minus": -1}
    if value == "random":
        return None
    if value not in fixed:
        raise ValueError(f"cell.fault_value: expected one of zero, plus, minus, random, "
                         f"got {value!r}")
    v = fixed[value]
    if v not in tuple(levels):
        raise ValueError(f"cell.fault_value: {value!r} is not a level of this cell "
                         f"{tuple(levels)}")
    return v


def draw_faults(w, rate: float, value: str, levels: Sequence[int], rng: np.random.Generator):
    """Stuck-at faults: each cell is stuck with probability ``rate``, independently.

    w: integer array of stored weights (one cell per element); value: ``zero`` | ``plus`` |
    ``minus`` | ``random`` (uniform over ``levels``, e.g. ``cell_levels(kind)``).
    Returns ``(w_faulty, mask)``: a copy of ``w`` whose stuck cells read the fault value, and
    the boolean mask of stuck cells. ``rate = 0`` returns an unchanged copy and an all-False
    mask.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"cell.fault_rate: expected a number in [0, 1], got {rate!r}")
    w = np.asarray(w)
    mask = rng.random(w.shape) < rate
    out = w.copy()
    fixed = fault_level(value, levels)
    if fixed is None:
        lv = np.asarray(tuple(levels), dtype=w.dtype if w.dtype.kind in "iu" else np.int64)
        rnd = lv[rng.integers(0, len(lv), size=w.shape)]
        out[mask] = rnd[mask]
    else:
        out[mask] = fixed
    return out, mask


def pelgrom_sigma_vt(a_vt_mv_um: float, w_um: float, l_um: float) -> float:
    """Threshold-voltage mismatch sigma [mV] of one transistor, Pelgrom's law.

    ``sigma_VT = A_VT / sqrt(W * L)``, A_VT in mV*um, W and L in um. Pelgrom, Duinmaijer,
    Welbers, "Matching properties of MOS transistors", IEEE JSSC 24(5):1433-1439, 1989.
    """
    if a_vt_mv_um < 0 or w_um <= 0 or l_um <= 0:
        raise ValueError("pelgrom_sigma_vt: expected A_VT >= 0 and W, L > 0")
    return a_vt_mv_um / math.sqrt(w_um * l_um)


def pelgrom_current_sigma(a_vt_mv_um: float, w_um: float, l_um: float, overdrive_v: float,
                          alpha: float = 2.0) -> float:
    """Relative sigma of a cell's discharge current (``cell.mismatch_sigma``) [1].

    Saturation, square law (``alpha = 2``): ``sigma_I / I = 2 * sigma_VT / (V_GS - V_T)``
    with ``sigma_VT = A_VT / sqrt(W L)`` (:func:`pelgrom_sigma_vt`, Pelgrom et al., IEEE JSSC
    1989). For a velocity-saturated device use the alpha-power law (``alpha`` ~ 1.3):
    ``sigma_I / I = alpha * sigma_VT / (V_GS - V_T)``. Inputs: A_VT [mV*um], W, L [um],
    overdrive V_GS - V_T [V]. Example: A_VT = 2.5 mV*um, W = 0.1 um, L = 0.03 um,
    overdrive 0.4 V -> sigma_VT = 45.6 mV, sigma_I/I = 0.228.
    """
    if overdrive_v <= 0:
        raise ValueError("pelgrom_current_sigma: expected overdrive V_GS - V_T > 0 V")
    return alpha * pelgrom_sigma_vt(a_vt_mv_um, w_um, l_um) * 1e-3 / overdrive_v

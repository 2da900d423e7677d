"""Sensing and analog-to-digital conversion of the column rails.

Sensing styles (``adc.sensing``)
--------------------------------
* ``dual``: each rail (BL, BLB) is converted by its own unsigned ADC over ``[0, M]``; the
  difference is taken digitally (TiM-DNN). Two conversions per column per access.
* ``differential``: ``BL - BLB`` is converted by one signed ADC over ``[-M, M]``
  (XNOR-SRAM's RBL divider). One conversion per column per access.

Quantizer rules (docs/architecture.md, "quantizer rules")
---------------------------------------------------------
``M`` is the full-scale count: for ``adc.range = full`` the largest count one rail can
reach in one access (the engine passes it, e.g. L); for ``calibrated`` the value the
engine calibrated from data; for ``clip`` the card's ``adc.clip_count`` (the ``max_count``
argument is then ignored).

=========================  ===============  ==============  ==================================
sensing / format           levels           steps           grid
=========================  ===============  ==============  ==================================
dual                       2**bits          levels - 1      v_min = 0, lsb = M / steps
differential, sign-mag.    2**bits - 1      levels - 1      symmetric: v_min = -(levels-1)/2*lsb,
                                                            lsb = 2M / steps
differential, two's compl. 2**bits          levels          v_min = -(levels/2)*lsb,
                                                            top = (levels/2 - 1)*lsb,
                                                            lsb = 2M / steps
=========================  ===============  ==============  ==================================

``adc.levels`` (non-null) replaces the level count (e.g. XNOR-SRAM's 11-level flash).
The lsb is never below one cell: ``lsb = max(span / steps, 1)`` (an ADC with more levels
than counts resolves every count exactly and its extra codes are unused).

Rounding (round half up, then clip to the code range)::

    code  = clip(floor((gain * v - v_min) / lsb + offset_lsb + 1/2), 0, levels - 1)
    value = v_min + code * lsb

``offset_lsb`` is the static input-referred offset in LSB (per ADC, per chip instance),
``gain`` the static relative gain (1 = ideal).

Cost models
-----------
* Energy and area per conversion: :mod:`device_models.adc_cost` (card value, Walden,
  Schreier, or counted from comparators, ladder taps, capacitor DAC and logic).
* Latency: flash one step, SAR ``bits + 1`` steps (sampling + one per bit), ``adc.step_ns``.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

__all__ = [
    "Quantizer", "make_quantizer", "quantizer", "convert", "convert_code", "draw_offsets",
    "draw_gains", "walden_energy_pj", "schreier_energy_pj", "energy_per_conversion",
    "conversion_time", "steps_per_conversion", "effective_bits", "level_count",
]

Quantizer = namedtuple("Quantizer", ["v_min", "lsb", "levels"])
Quantizer.__doc__ = """Grid of an ADC: codes 0..levels-1 stand for v_min + code*lsb [cell swings]."""


def level_count(sensing: str, bits: int, signed_format: str = "sign_magnitude",
                levels: int | None = None) -> int:
    """Number of levels of the converter (``levels`` overrides when not None)."""
    if levels is not None:
        return int(levels)
    if sensing == "dual":
        return 2 ** int(bits)
    if sensing == "differential":
        if signed_format == "sign_magnitude":
            return 2 ** int(bits) - 1
        if signed_format == "twos_complement":
            return 2 ** int(bits)
        raise ValueError(f"adc.signed_format: expected sign_magnitude or twos_complement, "
                         f"got {signed_format!r}")
    raise ValueError(f"adc.sensing: expected dual or differential, got {sensing!r}")


def make_quantizer(sensing: str, bits: int, max_count: float,
                   signed_format: str = "sign_magnitude", levels: int | None = None
                   ) -> Quantizer:
    """The converter's grid for full-scale count ``max_count`` (see the module rules)."""
    M = float(max_count)
    if not M >= 0 or not math.isfinite(M):
        raise ValueError(f"max_count: expected a finite number >= 0, got {max_count!r}")
    n = level_count(sensing, bits, signed_format, levels)
    if n < 2:
        raise ValueError(f"adc levels: expected >= 2, got {n}")
    if sensing == "dual":
        lsb = max(M / (n - 1), 1.0)
        return Quantizer(0.0, lsb, n)
    if signed_format == "sign_magnitude":
        if n % 2 == 0:
            raise ValueError(f"adc.levels: expected an odd count for sign_magnitude, got {n}")
        lsb = max(2.0 * M / (n - 1), 1.0)
        return Quantizer(-((n - 1) // 2) * lsb, lsb, n)
    lsb = max(2.0 * M / n, 1.0)
    return Quantizer(-(n // 2) * lsb, lsb, n)


def quantizer(card, max_count: float) -> Quantizer:
    """The converter's grid of ``card`` for full-scale count ``max_count``.

    ``max_count`` is the largest count one rail can reach in one access (``adc.range =
    full``; e.g. the rows in the group) or the calibrated value (``calibrated``). For
    ``adc.range = clip`` it is ignored and ``adc.clip_count`` is used. Dual sensing converts
    ``[0, M]``, differential ``[-M, M]``.
    """
    M = card["adc.clip_count"] if card["adc.range"] == "clip" else max_count
    return make_quantizer(card["adc.sensing"], card["adc.bits"], M,
                          card["adc.signed_format"], card["adc.levels"])


def convert_code(v, q: Quantizer, offset_lsb=0.0, gain=1.0) -> np.ndarray:
    """ADC output code (int64): ``clip(floor((gain*v - v_min)/lsb + offset + 1/2), 0, levels-1)``."""
    v = np.asarray(v, dtype=np.float64)
    x = (np.asarray(gain, dtype=np.float64) * v - q.v_min) / q.lsb \
        + np.asarray(offset_lsb, dtype=np.float64) + 0.5
    return np.clip(np.floor(x), 0, q.levels - 1).astype(np.int64)


def convert(v, q: Quantizer, offset_lsb=0.0, gain=1.0) -> np.ndarray:
    """Converted value [cell swings]: ``v_min + code * lsb`` (float64, vectorized)."""
    return q.v_min + convert_code(v, q, offset_lsb, gain) * q.lsb


def draw_offsets(n, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Static ADC offsets [LSB]: ``sigma * N(0, 1)``, shape ``n`` (int or tuple).

    ``sigma = 0`` gives exact zeros (the draws are still consumed)."""
    if sigma < 0:
        raise ValueError(f"adc.offset_sigma: expected a number >= 0, got {sigma!r}")
    z = rng.standard_normal(n)
    return np.zeros(np.shape(z)) if sigma == 0 else sigma * z


def draw_gains(n, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Static ADC gains [1]: ``1 + sigma * N(0, 1)`` clipped at 0, shape ``n``.

    ``sigma = 0`` gives exact ones (the draws are still consumed)."""
    if sigma < 0:
        raise ValueError(f"adc.gain_sigma: expected a number >= 0, got {sigma!r}")
    z = rng.standard_normal(n)
    return np.ones(np.shape(z)) if sigma == 0 else np.maximum(1.0 + sigma * z, 0.0)


# Cost models of a conversion (energy, area) live in device_models.adc_cost; these names
# are kept here for callers that price a conversion through this module.
from device_models.adc_cost import (  # noqa: E402
    effective_bits,
    energy_per_conversion,
    schreier_energy_pj,
    walden_energy_pj,
)


def steps_per_conversion(card) -> int:
    """Flash: 1 step; SAR: bits + 1 steps (sample + one per bit)."""
    return 1 if card["adc.kind"] == "flash" else int(card["adc.bits"]) + 1


def conversion_time(card) -> float:
    """Time of one conversion [ns] (not including ``adc.share`` serialization)."""
    return steps_per_conversion(card) * float(card["adc.step_ns"])

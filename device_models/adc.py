"""Sensing and analog-to-digital conversion of the column rails.

Sensing styles (``adc.sensing``)
--------------------------------
* ``dual``: each rail (BL, BLB) is converted by its own unsigned ADC over ``[0, M]``; the
  difference is taken digitally (TiM-DNN). Two conversions per column per access.
* ``differential``: ``BL - BLB`` is converted by one signed ADC over ``[-M, M]``
  (XNOR-SRAM's RBL divider). One conversion per column per access.

Grids (``adc.grid``; docs/cards.md, "ADC")
------------------------------------------
A converter with ``n`` levels has ``n - 1`` thresholds (comparator references) and one
reconstruction value per code, all in cells (one cell's nominal swing). ``M`` is the
full-scale count: for ``adc.range = full`` the rows present in the row group (the engine
passes it per group, so a short last group or tile gets its own full scale); for
``calibrated`` the engine's calibrated value; for ``clip`` the card's ``adc.clip_count``.

* ``uniform``: evenly spaced levels over the range, the classic quantizer (CrossSim's
  ``QuantizerADC`` / ``SignMagnitudeADC``). ``lsb = span / steps`` (never below one cell),
  ``value(code) = code / inv_lsb + v_min`` with ``inv_lsb = steps / span``; thresholds at
  the midpoints between values.

  =========================  ===========  =====  ===========================================
  sensing / format           levels       steps  span, v_min
  =========================  ===========  =====  ===========================================
  dual                       2**bits      n - 1  [0, M], v_min = 0
  differential, sign-mag.    2**bits - 1  n - 1  [-M, M], v_min = -M (symmetric, odd n)
  differential, two's compl. 2**bits      n      v_min = -(n/2) lsb, top = (n/2 - 1) lsb
  =========================  ===========  =====  ===========================================

* ``count_aligned``: the lsb is a whole number of cells, ``l = max(1, round_half_up(uniform
  lsb))``; the zero code holds count 0 alone (thresholds at +-1/2), every other code holds
  ``l`` consecutive counts (thresholds at ``+-(1/2 + k l)``, halfway between two counts) and
  reads the centre of its counts (``(k-1) l + (l+1)/2`` for the k-th code away from zero).
  No reachable integer count sits on a threshold, and with ``l = 1`` it is exact.
* ``custom``: ``adc.thresholds`` (``n - 1`` ascending values) and ``adc.code_values``
  (``n`` values) in cells from the card; the range does not apply.

Rounding rule
-------------
A code is the number of comparators that fire (a ones-counter over the flash thermometer,
so a "bubble" from crossed offsets costs one code, not a wild one). An input exactly on a
reference is a tie, resolved **half to even**: the code is the even one of the two
neighbouring codes, counting codes from 0 at the bottom of the range. For the ``uniform``
grid this is ``code = clip(rint((gain * v + offset - v_min) * inv_lsb), 0, n - 1)``,
numpy's ``rint`` (IEEE round half to even), exactly CrossSim's rule.

Offsets and gain, physical
--------------------------
``adc.offset_sigma_mv`` is the input-referred offset of one comparator [mV], converted to
cells by ``bitline.cell_swing_mv``, so it does not move when bits or range change. A
``flash`` converter has ``n - 1`` comparators with independent offsets (threshold k moves
by its own offset: differential nonlinearity); a ``sar`` converter has one comparator
whose offset moves every threshold alike. ``adc.gain_sigma`` is the relative error of the
reference span (ladder or capacitive DAC) per converter, ``v -> gain * v``.

Noise floor
-----------
``adc.noise_sigma_mv`` [mV] is the comparator's input-referred noise per conversion; with
the kT/C noise of the sampling capacitor (``bitline.sample_cap_ff``, at
``technology.temperature_k``) it forms the count-independent noise floor
:func:`noise_floor_cells`, which adds to the per-cell read noise of the bitline.

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
    "Quantizer", "Grid", "GRIDS", "make_quantizer", "quantizer", "make_grid", "grid",
    "convert", "convert_code", "draw_offsets", "draw_gains", "comparators",
    "offset_sigma_cells", "noise_floor_cells", "ktc_noise_mv", "BOLTZMANN",
    "walden_energy_pj", "schreier_energy_pj", "energy_per_conversion",
    "conversion_time", "steps_per_conversion", "effective_bits", "level_count",
]

#: Boltzmann constant [J/K] (exact, SI 2019)
BOLTZMANN = 1.380649e-23

GRIDS = ("uniform", "count_aligned", "custom")

Quantizer = namedtuple("Quantizer", ["v_min", "lsb", "levels"])
Quantizer.__doc__ = """Uniform grid of an ADC: codes 0..levels-1 stand for v_min + code*lsb [cells]."""


class Grid(namedtuple("Grid", ["kind", "levels", "thresholds", "values", "v_min", "inv_lsb"])):
    """An ADC's nominal grid [cells]: ``thresholds`` (levels - 1,) ascending, ``values``
    (levels,) the reconstruction value of each code; ``v_min`` and ``inv_lsb`` describe
    the uniform grid's affine form (``kind == "uniform"``; NaN otherwise)."""

    __slots__ = ()

    @property
    def top(self) -> int:
        return self.levels - 1


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


def _uniform_parts(sensing, n, M, signed_format):
    """(v_min, inv_lsb) of the uniform grid; inv_lsb = steps / span unless lsb < 1 cell."""
    if sensing == "dual":
        steps, span, v_min_of = n - 1, M, (lambda lsb: 0.0)
    elif signed_format == "sign_magnitude":
        if n % 2 == 0:
            raise ValueError(f"adc.levels: expected an odd count for sign_magnitude, got {n}")
        steps, span, v_min_of = n - 1, 2.0 * M, (lambda lsb: -((n - 1) // 2) * lsb)
    else:
        steps, span, v_min_of = n, 2.0 * M, (lambda lsb: -(n // 2) * lsb)
    if span > 0 and span / steps >= 1.0:
        inv = steps / span
        lsb = span / steps
    else:
        inv, lsb = 1.0, 1.0
    v_min = v_min_of(lsb)
    if sensing != "dual" and signed_format == "sign_magnitude" and inv != 1.0:
        v_min = -float(M)          # exactly -M, as (levels - 1)/2 * 2M/(levels - 1)
    return float(v_min), float(inv)


def make_quantizer(sensing: str, bits: int, max_count: float,
                   signed_format: str = "sign_magnitude", levels: int | None = None
                   ) -> Quantizer:
    """The uniform grid for full-scale count ``max_count`` (see the module rules)."""
    M = float(max_count)
    if not M >= 0 or not math.isfinite(M):
        raise ValueError(f"max_count: expected a finite number >= 0, got {max_count!r}")
    n = level_count(sensing, bits, signed_format, levels)
    if n < 2:
        raise ValueError(f"adc levels: expected >= 2, got {n}")
    v_min, inv = _uniform_parts(sensing, n, M, signed_format)
    return Quantizer(v_min, 1.0 / inv, n)


def _zero_code(sensing, n, signed_format):
    if sensing == "dual":
        return 0
    return (n - 1) // 2 if signed_format == "sign_magnitude" else n // 2


def make_grid(sensing: str, bits: int, max_count: float, signed_format: str = "sign_magnitude",
              levels: int | None = None, kind: str = "uniform", thresholds=None,
              code_values=None) -> Grid:
    """The converter's nominal grid (module rules): thresholds and code values [cells]."""
    q = make_quantizer(sensing, bits, max_count, signed_format, levels)
    n = q.levels
    if kind == "uniform":
        v_min, inv = _uniform_parts(sensing, n, float(max_count), signed_format)
        values = np.arange(n) / inv + v_min
        thr = (np.arange(n - 1) + 0.5) / inv + v_min
        return Grid(kind, n, thr, values, v_min, inv)
    if kind == "count_aligned":
        ell = max(1.0, math.floor(q.lsb + 0.5))
        z = _zero_code(sensing, n, signed_format)
        k = np.arange(n) - z                        # signed distance of each code from zero
        mag = np.abs(k)
        values = np.where(mag == 0, 0.0, (mag - 1) * ell + (ell + 1) / 2) * np.sign(k)
        # threshold between code c and c + 1
        kt = np.arange(n - 1) - z                   # lower code's distance from zero
        thr = np.where(kt >= 0, 0.5 + kt * ell, -(0.5 + (-kt - 1) * ell))
        return Grid(kind, n, thr.astype(float), values.astype(float), math.nan, math.nan)
    if kind == "custom":
        if thresholds is None or code_values is None:
            raise ValueError("adc.grid custom: expected adc.thresholds and adc.code_values")
        thr = np.asarray(thresholds, float)
        values = np.asarray(code_values, float)
        if thr.shape != (n - 1,) or values.shape != (n,):
            raise ValueError(f"adc.grid custom: expected {n - 1} thresholds and {n} code values "
                             f"for {n} levels, got {thr.size} and {values.size}")
        if np.any(np.diff(thr) <= 0):
            raise ValueError("adc.thresholds: expected strictly ascending values")
        return Grid(kind, n, thr, values, math.nan, math.nan)
    raise ValueError(f"adc.grid: expected one of {', '.join(GRIDS)}, got {kind!r}")


def _full_scale(card, max_count):
    return card["adc.clip_count"] if card["adc.range"] == "clip" else max_count


def quantizer(card, max_count: float) -> Quantizer:
    """The uniform grid of ``card`` for full-scale count ``max_count`` (ignored for
    ``adc.range = clip``, which uses ``adc.clip_count``)."""
    return make_quantizer(card["adc.sensing"], card["adc.bits"], _full_scale(card, max_count),
                          card["adc.signed_format"], card["adc.levels"])


def grid(card, max_count: float) -> Grid:
    """The nominal grid of ``card`` (``adc.grid``) for full-scale count ``max_count`` (the
    rows of the row group for ``range: full``; ignored for ``clip`` and ``custom``)."""
    return make_grid(card["adc.sensing"], card["adc.bits"], _full_scale(card, max_count),
                     card["adc.signed_format"], card["adc.levels"], card["adc.grid"],
                     card["adc.thresholds"], card["adc.code_values"])


def convert_code(v, g, offsets=0.0, gain=1.0) -> np.ndarray:
    """ADC output code (int64) of analog values ``v`` [cells].

    ``g``: a :class:`Grid` (or a uniform :class:`Quantizer`). ``offsets`` [cells]: a scalar
    or array broadcasting against ``v``, or with one more trailing axis of ``levels - 1`` (one
    offset per comparator, flash), input-referred; ``gain`` [1] scales the input. The code
    is the number of comparators with ``gain * v + offset > threshold``; a tie (equality) goes to the even of
    the two neighbouring codes (half to even, codes counted from the bottom).
    """
    if isinstance(g, Quantizer):
        inv = 1.0 / g.lsb
        g = Grid("uniform", g.levels, (np.arange(g.levels - 1) + 0.5) / inv + g.v_min,
                 np.arange(g.levels) / inv + g.v_min, g.v_min, inv)
    w = np.asarray(gain, dtype=np.float64) * np.asarray(v, dtype=np.float64)
    off = np.asarray(offsets, dtype=np.float64)
    n_thr = g.levels - 1
    if off.ndim > np.ndim(w) and off.shape[-1] == n_thr:
        thr = np.asarray(g.thresholds) - off                  # one offset per comparator
    elif g.kind == "uniform":
        # the affine form: rint((w + offset - v_min) * inv_lsb), CrossSim's arithmetic
        s = (w + off - g.v_min) * g.inv_lsb
        return np.clip(np.rint(s), 0, g.top).astype(np.int64)
    else:
        thr = np.asarray(g.thresholds) - off[..., None]
    wv = w[..., None]
    above = np.sum(wv > thr, axis=-1)
    ties = np.sum(wv == thr, axis=-1)
    code = above + ((ties > 0) & (above % 2 == 1))           # a tie goes to the even code
    return np.clip(code, 0, g.top).astype(np.int64)


def convert(v, g, offsets=0.0, gain=1.0) -> np.ndarray:
    """Converted value [cells]: the code's reconstruction value (float64, vectorized)."""
    code = convert_code(v, g, offsets, gain)
    if isinstance(g, Quantizer):
        return code / (1.0 / g.lsb) + g.v_min
    return np.asarray(g.values)[code]


def comparators(card) -> int:
    """Comparators with independent offsets per converter: flash ``levels - 1``; SAR and
    ramp (single-slope) 1 (a ramp's one comparator meets every reference in turn, so its
    offset moves them all alike)."""
    if card["adc.kind"] in ("sar", "ramp"):
        return 1
    return level_count(card["adc.sensing"], card["adc.bits"], card["adc.signed_format"],
                       card["adc.levels"]) - 1


def offset_sigma_cells(card) -> float:
    """Comparator offset sigma in cells: ``adc.offset_sigma_mv / bitline.cell_swing_mv``."""
    return float(card["adc.offset_sigma_mv"]) / float(card["bitline.cell_swing_mv"])


def ktc_noise_mv(cap_ff: float, temperature_k: float) -> float:
    """kT/C noise of a sampling capacitor [mV rms]: ``sqrt(k T / C)``, C in fF, T in K."""
    if temperature_k <= 0:
        return 0.0
    return math.sqrt(BOLTZMANN * temperature_k / (cap_ff * 1e-15)) * 1e3


def noise_floor_cells(card) -> float:
    """Count-independent noise of one conversion [cells]: the kT/C noise of
    ``bitline.sample_cap_ff`` at ``technology.temperature_k`` and the comparator noise
    ``adc.noise_sigma_mv``, added in quadrature, over ``bitline.cell_swing_mv``."""
    ktc = ktc_noise_mv(float(card["bitline.sample_cap_ff"]), float(card["technology.temperature_k"]))
    comp = float(card["adc.noise_sigma_mv"])
    return math.sqrt(ktc ** 2 + comp ** 2) / float(card["bitline.cell_swing_mv"])


def draw_offsets(n, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Static comparator offsets: ``sigma * N(0, 1)``, shape ``n`` (int or tuple), in the
    unit of ``sigma`` (the engine passes cells).

    ``sigma = 0`` gives exact zeros (the draws are still consumed)."""
    if sigma < 0:
        raise ValueError(f"adc.offset_sigma_mv: expected a number >= 0, got {sigma!r}")
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
    """Flash: 1 step; SAR: bits + 1 steps (sample + one per bit); ramp (single-slope):
    ``levels`` steps (sample + one comparison per ramp step, ``levels - 1`` of them)."""
    kind = card["adc.kind"]
    if kind == "flash":
        return 1
    if kind == "ramp":
        return level_count(card["adc.sensing"], card["adc.bits"], card["adc.signed_format"],
                           card["adc.levels"])
    return int(card["adc.bits"]) + 1


def conversion_time(card) -> float:
    """Time of one conversion [ns] (not including ``adc.share`` serialization)."""
    return steps_per_conversion(card) * float(card["adc.step_ns"])

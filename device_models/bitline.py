"""Bitline (rail) physics: from the count of discharging cells to an analog value.

Values here are in units of one cell's nominal swing ("cells", ``bitline.cell_swing_mv``
millivolts each), so an ideal rail's analog value equals its count exactly.

Two computing domains (``bitline.domain``):

* ``current`` (TiM-DNN, XNOR-SRAM): a precharged rail discharges by one cell's swing per
  discharging cell (current-mode discharge during a fixed evaluate time). The cell's
  strength varies with its transistors (``cell.mismatch_sigma``, Pelgrom), its row's
  wordline driver and pulse (``cell.row_gain_sigma``) and the global corner
  (``cell.current_corner``). As the rail approaches the floor its discharge slows: the
  headroom is ``s = (1000 technology.vdd - bitline.sense_margin_mv) / bitline.cell_swing_mv``
  cells (:func:`headroom_cells`), the most a rail can swing while the sense circuit and
  the discharge devices still work.
* ``charge`` (charge-sharing macros such as MC2-RAM, Valavi et al. JSSC 2019, IMAGINE):
  each cell holds a small capacitor charged by its product; all capacitors of the column
  are shorted and share their charge, so the rail voltage is linear in the sum of the
  charged capacitances (no discharge saturation). Variation is capacitor mismatch
  (``cell.cap_mismatch_sigma``, the relative sigma of one cell's capacitor), not transistor
  mismatch; the only noise is the kT/C noise of sampling plus the comparator's
  (:func:`device_models.adc.noise_floor_cells`), count-independent.

Order of the steps in one access, per rail (the engine's numba kernel follows the same
order, ``imcsim.engine.kernels``; :mod:`device_models.reference` chains them):

1. weighted count ``c`` = sum of the discharging cells' strengths
   (:func:`device_models.cells.rail_counts`; all 1.0 without variation, so ``c`` is the
   number of discharging cells);
2. per-cell read noise (current domain, :func:`add_read_noise`): ``c + sigma * sqrt(c) *
   z``, independent noise of ``bitline.read_noise_sigma`` cells per discharging cell,
   applied *before* the saturation: a saturated rail cannot read beyond its floor;
3. saturation (:func:`analog`): ``none``: identity; ``clip``: ``min(c, s)``;
   ``exponential``: ``s (1 - exp(-c / s))`` (an RC-like approach to the floor whose slope at
   0 is one cell); the charge domain is always ``none``;
4. the noise floor of the conversion (count-independent, ``sigma_floor * z``);
5. the ADC (:mod:`device_models.adc`), which converts each rail (``dual``) or
   ``analog(BL) - analog(BLB)`` (``differential``). With ``adc.follow_saturation`` (dual
   sensing only; a difference of two curves has none to follow, so differential sensing
   keeps linear references) the ADC references sit on the saturated curve: threshold ``t`` becomes
   ``analog(t)``, so compression alone costs nothing and shows only through noise and
   offsets; otherwise the references stay linear in the count.

Without saturation steps 2 and 4 are one Gaussian of variance ``sigma**2 c + sigma_floor**2``
(for differential sensing ``c = c_BL + c_BLB``), which is how the engine draws it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SATURATION_KINDS", "DOMAINS", "analog", "add_read_noise", "rail_value",
           "headroom_cells", "saturation_of"]

SATURATION_KINDS = ("none", "clip", "exponential")
DOMAINS = ("current", "charge")


def headroom_cells(card) -> float:
    """Saturation scale ``s`` [cells]: ``(1000 vdd - sense_margin_mv) / cell_swing_mv``."""
    return ((1000.0 * float(card["technology.vdd"]) - float(card["bitline.sense_margin_mv"]))
            / float(card["bitline.cell_swing_mv"]))


def saturation_of(card) -> tuple[str, float]:
    """``(kind, s)`` of the card's rail curve: the charge domain never saturates."""
    if card["bitline.domain"] == "charge":
        return "none", 1.0
    return str(card["bitline.saturation"]), headroom_cells(card)


def analog(weighted_count, saturation: str, saturation_count: float):
    """Analog value of a rail [cells] from its weighted (and noisy) count ``c``.

    ``none``: identity; ``clip``: ``min(c, s)``; ``exponential``: ``s * (1 - exp(-c/s))``
    with ``s = saturation_count`` [cells]. Values <= 0 are returned unchanged. Vectorized.
    """
    c = np.asarray(weighted_count, dtype=np.float64)
    if saturation == "none":
        return c
    s = float(saturation_count)
    if not s > 0:
        raise ValueError(f"bitline saturation headroom: expected a number > 0 cells, got {s!r}")
    if saturation == "clip":
        return np.where(c > 0, np.minimum(c, s), c)
    if saturation == "exponential":
        return np.where(c > 0, s * -np.expm1(-np.maximum(c, 0.0) / s), c)
    raise ValueError(f"bitline.saturation: expected one of none, clip, exponential, "
                     f"got {saturation!r}")


def add_read_noise(value, weighted_count, sigma: float, rng=None, z=None):
    """``value + sigma * sqrt(max(c, 0)) * z`` [cells], ``z`` standard normal (given, or drawn
    from ``rng``). With ``sigma = 0`` the value is returned unchanged and nothing is drawn."""
    v = np.asarray(value, dtype=np.float64)
    if sigma < 0:
        raise ValueError(f"bitline.read_noise_sigma: expected a number >= 0, got {sigma!r}")
    if sigma == 0:
        return v
    c = np.maximum(np.asarray(weighted_count, dtype=np.float64), 0.0)
    if z is None:
        if rng is None:
            raise ValueError("add_read_noise: read noise needs an rng or z")
        z = rng.standard_normal(np.broadcast(v, c).shape)
    return v + sigma * np.sqrt(c) * z


def rail_value(weighted_count, card, rng: np.random.Generator | None = None):
    """Steps 2-3 above (per-cell noise, then saturation) with the card's ``bitline.*``
    values; the noise floor belongs to the conversion (:mod:`device_models.reference`)."""
    kind, s = saturation_of(card)
    sigma = float(card["bitline.read_noise_sigma"])
    c = np.asarray(weighted_count, dtype=np.float64)
    if sigma > 0:
        c = add_read_noise(c, weighted_count, sigma, rng)
    return analog(c, kind, s)

"""Bitline (rail) physics: from the count of discharging cells to an analog value.

A precharged rail discharges by one cell's swing per discharging cell (linear region,
current-mode discharge during a fixed evaluate time); as the voltage drops the discharge
current falls (limited headroom), so the swing saturates. Values here are in units of one
cell's nominal swing ("cells"), so an ideal rail's analog value equals its count exactly.

Order of the steps in one access, per rail (the engine's numba kernel follows the same
order, ``imcsim.kernels``):

1. weighted count ``c`` = sum of the discharging cells' strengths
   (:func:`device_models.cells.rail_counts`, strengths from
   :func:`device_models.cells.draw_mismatch`; all 1.0 with no mismatch, so ``c`` is the
   number of discharging cells);
2. saturation (:func:`analog`): ``none``: ``c``; ``clip``: ``min(c, s)``;
   ``exponential``: ``s * (1 - exp(-c / s))`` (an RC-like discharge toward the floor, whose
   slope at 0 is one cell), ``s = bitline.saturation_count``;
3. read noise (:func:`add_read_noise`): ``analog + read_noise_sigma * sqrt(max(c, 0)) *
   N(0, 1)``: independent noise of ``read_noise_sigma`` cell swings per discharging cell,
   so a rail with no discharging cell has no noise. With differential sensing the two
   rails' noises add: ``sigma * sqrt(c_BL + c_BLB)`` on ``analog(BL) - analog(BLB)``;
4. the ADC (:mod:`device_models.adc`), which converts each rail (``dual``) or
   ``analog(BL) - analog(BLB)`` (``differential``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["SATURATION_KINDS", "analog", "add_read_noise", "rail_value"]

SATURATION_KINDS = ("none", "clip", "exponential")


def analog(weighted_count, saturation: str, saturation_count: float):
    """Analog value of a rail [cell swings] from its weighted count of discharging cells.

    ``none``: identity; ``clip``: ``min(c, s)``; ``exponential``: ``s * (1 - exp(-c/s))``.
    Negative inputs are returned unchanged. Vectorized.
    """
    c = np.asarray(weighted_count, dtype=np.float64)
    if saturation == "none":
        return c
    s = float(saturation_count)
    if not s > 0:
        raise ValueError(f"bitline.saturation_count: expected a number > 0, got {s!r}")
    if saturation == "clip":
        return np.where(c > 0, np.minimum(c, s), c)
    if saturation == "exponential":
        return np.where(c > 0, s * -np.expm1(-np.maximum(c, 0.0) / s), c)
    raise ValueError(f"bitline.saturation: expected one of none, clip, exponential, "
                     f"got {saturation!r}")


def add_read_noise(value, weighted_count, sigma: float, rng: np.random.Generator):
    """Rail value with read noise: ``value + sigma * sqrt(max(c, 0)) * N(0, 1)`` [cell swings].

    ``value``: the rail's analog value (after :func:`analog`); ``weighted_count``: its
    (mismatch-weighted) count of discharging cells ``c``. With ``sigma = 0`` the value is
    returned unchanged and no random numbers are drawn.
    """
    v = np.asarray(value, dtype=np.float64)
    if sigma < 0:
        raise ValueError(f"bitline.read_noise_sigma: expected a number >= 0, got {sigma!r}")
    if sigma == 0:
        return v
    c = np.maximum(np.asarray(weighted_count, dtype=np.float64), 0.0)
    return v + sigma * np.sqrt(c) * rng.standard_normal(np.broadcast(v, c).shape)


def rail_value(weighted_count, card, rng: np.random.Generator | None = None):
    """Steps 2-3 above (saturation, then read noise) with the card's ``bitline.*`` values."""
    v = analog(weighted_count, card["bitline.saturation"], card["bitline.saturation_count"])
    sigma = float(card["bitline.read_noise_sigma"])
    if sigma > 0:
        if rng is None:
            raise ValueError("rail_value: read noise needs an rng")
        v = add_read_noise(v, weighted_count, sigma, rng)
    return v

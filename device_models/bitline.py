"""Bitline (rail) physics: from the count of discharging cells to an analog value.

A precharged rail discharges by one cell's swing per discharging cell (linear region,
current-mode discharge during a fixed evaluate time); as the voltage drops the discharge
current falls (limited headroom), so the swing saturates. Values here are in units of one
cell's nominal swing ("cells"), so an ideal rail's analog value equals its count exactly.

Order of the steps in one access, per rail (the engine's kernel follows the same order):

1. weighted count ``c = sum of the discharging cells' strengths`` (:func:`cells.rail_counts`,
   strengths from :func:`cells.draw_mismatch`; all 1.0 with no mismatch);
2. read noise (:func:`add_read_noise`): ``c + read_noise_sigma * sqrt(n) * N(0, 1)`` with
   ``n`` the number of discharging cells on the rail (independent noise per discharging
   cell, in cell swings; no discharging cell, no noise);
3. saturation (:func:`analog`): ``none``: ``c``; ``clip``: ``min(c, s)``;
   ``exponential``: ``s * (1 - exp(-c / s))`` (an RC-like discharge toward the floor, whose
   slope at 0 is one cell), ``s = bitline.saturation_count``; negative values (noise) pass
   unchanged below 0.
4. the ADC (:mod:`device_models.adc`); with differential sensing it converts
   ``analog(BL) - analog(BLB)``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SATURATION_KINDS", "analog", "add_read_noise", "rail_value"]

SATURATION_KINDS = ("none", "clip", "exponential")


def analog(weighted_count, saturation: str, saturation_count: float):
    """Analog value of a rail [cell swings] from its weighted count of discharging cells.

    ``none``: identity; ``clip``: ``min(c, s)``; ``exponential``: ``s * (1 - exp(-c/s))``.
    Negative inputs (possible only through noise) are returned unchanged. Vectorized.
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


def add_read_noise(weighted_count, n_discharging, sigma: float, rng: np.random.Generator):
    """Rail value with read noise: ``c + sigma * sqrt(n) * N(0, 1)`` [cell swings].

    ``n_discharging``: cells discharging the rail in this access (same shape as c). With
    ``sigma = 0`` the value is returned unchanged (no random numbers drawn).
    """
    c = np.asarray(weighted_count, dtype=np.float64)
    if sigma < 0:
        raise ValueError(f"bitline.read_noise_sigma: expected a number >= 0, got {sigma!r}")
    if sigma == 0:
        return c
    n = np.asarray(n_discharging, dtype=np.float64)
    return c + sigma * np.sqrt(n) * rng.standard_normal(np.broadcast(c, n).shape)


def rail_value(weighted_count, n_discharging, card, rng: np.random.Generator | None = None):
    """Steps 2-3 above with the card's ``bitline.*`` parameters."""
    sigma = float(card["bitline.read_noise_sigma"])
    c = weighted_count
    if sigma > 0:
        if rng is None:
            raise ValueError("rail_value: read noise needs an rng")
        c = add_read_noise(c, n_discharging, sigma, rng)
    return analog(c, card["bitline.saturation"], card["bitline.saturation_count"])

"""Pelgrom's mismatch law (re-exported from :mod:`device_models.cells`).

Pelgrom, Duinmaijer, Welbers, "Matching properties of MOS transistors", IEEE JSSC
24(5):1433-1439, 1989: ``sigma_VT = A_VT / sqrt(W L)``; in saturation (square law) the
relative drain-current sigma is ``sigma_I / I = 2 sigma_VT / (V_GS - V_T)``.
"""
from .cells import pelgrom_current_sigma, pelgrom_sigma_vt

__all__ = ["pelgrom_sigma_vt", "pelgrom_current_sigma"]

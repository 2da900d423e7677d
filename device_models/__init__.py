"""device_models: the physics of SRAM in-memory-computing crossbars, and hardware cards.

Modules: :mod:`~device_models.cells` (ternary TiM cell, XNOR cell, mismatch, faults,
Pelgrom), :mod:`~device_models.bitline` (analog rail value, saturation, read noise),
:mod:`~device_models.adc` (sensing, quantizers, ADC cost models), :mod:`~device_models.card`
(the sourced, validated parameter sets in ``device_models/cards/*.yaml``),
:mod:`~device_models.reference` (one tile access chained from the reference functions).
"""
from . import adc, bitline, cells, pelgrom, reference
from .card import (SCHEMA, Card, CardError, card_from_dict, format_parameter_table,
                   list_cards, load_card, parameter_table)

__all__ = [
    "adc", "bitline", "cells", "pelgrom", "reference", "Card", "CardError", "SCHEMA", "load_card",
    "list_cards", "parameter_table", "format_parameter_table", "card_from_dict",
]

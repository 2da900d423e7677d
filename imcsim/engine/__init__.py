"""The crossbar engine: tiles, the mapper, input encodings, event counts, the IMC backend
and its numba kernels. It knows no prices and no studies.
"""
from __future__ import annotations

from .backend import ImcBackend, exact_product, mvm
from .encoding import Encoding, parse_encoding
from .events import EVENT_FIELDS, Events
from .mapper import Mapping, bits_for, map_layer, weight_slices
from .tile import Tile

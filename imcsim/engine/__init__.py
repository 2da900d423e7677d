"""The crossbar engine: tiles, the mapper, input encodings, event counts, the IMC backend
and its numba kernels. It knows no prices and no studies.
"""
from __future__ import annotations

from .encoding import Encoding, parse_encoding
from .events import EVENT_FIELDS, Events
from .mapper import Mapping, bits_for, map_layer, weight_slices
from .tile import Tile


def __getattr__(name):
    # the backend (and numba, through its kernels) loads on first use: the mapper and the
    # encodings serve `imcsim validate` without it
    if name in ("ImcBackend", "exact_product", "mvm"):
        from . import backend

        return getattr(backend, name)
    raise AttributeError(f"module 'imcsim.engine' has no attribute {name!r}")

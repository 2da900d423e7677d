"""imcsim: simulate binary and ternary neural networks on SRAM in-memory-computing crossbars.

Main entry points::

    import imcsim
    y, events = imcsim.mvm(x, w, "tim_dnn_32nm", seed=0, encoding="unsigned4")
    hw = imcsim.load_hardware("tim_dnn_32nm").replace(**{"adc.bits": 3})
    ds = imcsim.simulate(network, hw, x, y, trials=10, seed=0)
    ds = imcsim.run_study("studies/quickstart.yaml")
"""
from __future__ import annotations

try:  # the installed distribution's version; a source checkout falls back to the literal
    from importlib.metadata import version as _version

    __version__ = _version("imcsim")
except Exception:  # pragma: no cover - not installed
    __version__ = "0.1.0"

from .errors import ImcsimError, InputError

# imported on first use, so that `imcsim --version`, `list`, `info` and `validate` do not
# import numba
_LAZY = {
    "EVENT_FIELDS": ("imcsim.engine.events", "EVENT_FIELDS"),
    "Events": ("imcsim.engine.events", "Events"),
    "Mapping": ("imcsim.engine.mapper", "Mapping"),
    "map_layer": ("imcsim.engine.mapper", "map_layer"),
    "ImcBackend": ("imcsim.engine.backend", "ImcBackend"),
    "mvm": ("imcsim.engine.backend", "mvm"),
    "simulate": ("imcsim.simulation", "simulate"),
    "run_study": ("imcsim.study", "run_study"),
    "validate_study": ("imcsim.study", "validate_study"),
    "ExactBackend": ("networks", "ExactBackend"),
    "load_hardware": ("device_models", "load_card"),
    "load_card": ("device_models", "load_card"),
}


#: sub-packages reachable as attributes right after ``import imcsim`` (imcsim.report...)
_SUBPACKAGES = ("report", "study", "costs", "engine", "plot")


def __getattr__(name):
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'imcsim' has no attribute {name!r}")


__all__ = ["ImcsimError", "InputError", *_LAZY]

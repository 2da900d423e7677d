"""The command line: ``imcsim run | validate | plot | list | info | bench``."""
from __future__ import annotations

from .main import build_parser, main

__all__ = ["main", "build_parser"]

"""How a sweep value is written in labels, tables and point names (one rule everywhere)."""
from __future__ import annotations


def format_value(v) -> str:
    """A sweep value as text: numpy scalars as Python values, floats in ``%g``, bytes
    decoded, anything else ``str``."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)

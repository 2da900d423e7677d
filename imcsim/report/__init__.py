"""Results: the dataset schema (xarray, units on every variable), netCDF files, the Pareto
front and the summary table.

The names below load on first use (xarray is not imported by ``import imcsim.report``).
"""
from __future__ import annotations

_NAMES = {
    "dataset": ("VARIABLES", "COORDS", "POINT_DIMS", "card_text", "point_dataset",
                "estimate_dataset", "stack", "sweep_dims", "require_network"),
    "netcdf": ("write_netcdf", "read_netcdf"),
    "pareto": ("front_mask", "pareto_mask", "pareto_front", "design_dims", "condition_dims"),
    "summary": ("summary_table",),
    "labels": ("format_value", "parameter_role"),
    "tables": ("point_table", "layer_table", "format_table", "tables_text", "html_report",
               "write_html"),
}
_WHERE = {name: mod for mod, names in _NAMES.items() for name in names}


def __getattr__(name):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_WHERE)

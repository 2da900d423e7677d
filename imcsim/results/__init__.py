"""Results: the dataset schema (xarray, units on every variable), netCDF files, the Pareto
front and the summary table.
"""
from __future__ import annotations

from .dataset import (
    VARIABLES,
    COORDS,
    card_text,
    point_dataset,
    estimate_dataset,
    stack,
    sweep_dims,
    POINT_DIMS,
)
from .netcdf import write_netcdf, read_netcdf
from .pareto import front_mask, pareto_mask, pareto_front
from .summary import summary_table

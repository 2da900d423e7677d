"""The energy/accuracy Pareto front of a result.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

# --------------------------------------------------------------------------------------
# Pareto front
# --------------------------------------------------------------------------------------

def _energy_total(ds: xr.Dataset) -> xr.DataArray:
    if "energy_total" in ds:
        return ds["energy_total"]
    return ds["energy"].sum(("layer", "component"))


def front_mask(energy, accuracy) -> np.ndarray:
    """True for the points no other point dominates (energy low, accuracy high): no other
    point has energy <= and accuracy >= with one of them strict. A point with NaN (or
    infinite) energy or accuracy is never on the front and dominates nothing.
    ``energy``, ``accuracy``: same-shape arrays; returns a flat bool array."""
    ev = np.asarray(energy, dtype=float).reshape(-1)
    av = np.asarray(accuracy, dtype=float).reshape(-1)
    if ev.shape != av.shape:
        raise ValueError(f"front_mask: energy has {ev.size} points, accuracy {av.size}")
    ok = np.isfinite(ev) & np.isfinite(av)
    keep = np.zeros(ev.size, dtype=bool)
    for i in np.flatnonzero(ok):
        dom = ok & (ev <= ev[i]) & (av >= av[i]) & ((ev < ev[i]) | (av > av[i]))
        keep[i] = not dom.any()
    return keep


def pareto_mask(ds: xr.Dataset) -> xr.DataArray:
    """:func:`front_mask` of a result over its sweep points (energy per inference, mean
    accuracy over trials)."""
    e = _energy_total(ds)
    a = ds["accuracy"].mean("trial") if "trial" in ds["accuracy"].dims else ds["accuracy"]
    e, a = xr.broadcast(e, a)
    keep = front_mask(e.values, a.values)
    return xr.DataArray(keep.reshape(e.shape), dims=e.dims, coords=e.coords,
                        attrs={"long_name": "on the energy/accuracy Pareto front", "units": "1"})


def pareto_front(ds: xr.Dataset) -> xr.Dataset:
    """Non-dominated points (energy per inference vs mean accuracy), by rising energy.

    Returns a dataset with dimension ``point``: ``energy`` [pJ per inference], ``accuracy``
    [mean over trials] and one variable per sweep dimension holding its value there.
    """
    mask = pareto_mask(ds)
    e = _energy_total(ds)
    a = ds["accuracy"].mean("trial") if "trial" in ds["accuracy"].dims else ds["accuracy"]
    e, a = xr.broadcast(e, a)
    idx = np.argwhere(mask.values) if mask.ndim else (np.zeros((1, 0), int) if bool(mask) else np.zeros((0, 0), int))
    rows = []
    for ix in idx:
        ix = tuple(ix)
        rows.append((float(e.values[ix]), float(a.values[ix]), ix))
    rows.sort(key=lambda r: (r[0], -r[1]))
    data = {
        "energy": (("point",), np.array([r[0] for r in rows], float),
                   {"units": "pJ", "long_name": "energy per inference"}),
        "accuracy": (("point",), np.array([r[1] for r in rows], float),
                     {"units": "1", "long_name": "mean accuracy over trials"}),
    }
    for k, d in enumerate(mask.dims):
        vals = mask[d].values
        data[d] = (("point",), np.array([vals[r[2][k]] for r in rows]), dict(ds[d].attrs))
    out = xr.Dataset({k: xr.Variable(*v) for k, v in data.items()})
    out.attrs["long_name"] = "energy/accuracy Pareto front"
    return out

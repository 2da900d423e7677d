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


def _paths(ds, d) -> list[str]:
    return [p.strip() for p in str(ds[d].attrs.get("parameter", d)).split(",")]


def design_dims(ds: xr.Dataset) -> list[str]:
    """Sweep dimensions that are design choices (a zip group with one design member is
    one), in study order (:func:`imcsim.report.labels.parameter_role`)."""
    from imcsim.report.dataset import sweep_dims
    from imcsim.report.labels import is_condition

    return [d for d in sweep_dims(ds) if not is_condition(_paths(ds, d))]


def condition_dims(ds: xr.Dataset) -> list[str]:
    """Sweep dimensions that are operating or variation conditions (mismatch, noise,
    faults, offsets, supply)."""
    from imcsim.report.dataset import sweep_dims

    design = design_dims(ds)
    return [d for d in sweep_dims(ds) if d not in design]


def _design_values(ds: xr.Dataset, accuracy: str):
    """(energy, accuracy) over the design dimensions: energy per inference averaged over
    the conditions; accuracy the mean over conditions and trials (``"mean"``) or the
    lowest over the conditions of the mean over trials (``"worst"``)."""
    if accuracy not in ("mean", "worst"):
        raise ValueError(f"accuracy: expected 'mean' or 'worst', got {accuracy!r}")
    cond = condition_dims(ds)
    e = _energy_total(ds)
    if "trial" in e.dims:
        e = e.mean("trial")
    a = ds["accuracy"].mean("trial") if "trial" in ds["accuracy"].dims else ds["accuracy"]
    if cond:
        e = e.mean(cond)
        a = a.min(cond) if accuracy == "worst" else a.mean(cond)
    return xr.broadcast(e, a)


def pareto_mask(ds: xr.Dataset, accuracy: str = "mean") -> xr.DataArray:
    """:func:`front_mask` of a result over its *design* points (:func:`design_dims`):
    energy per inference, and accuracy over the conditions and trials (``accuracy``:
    ``"mean"`` or ``"worst"`` case over the conditions)."""
    e, a = _design_values(ds, accuracy)
    keep = front_mask(e.values, a.values)
    return xr.DataArray(keep.reshape(e.shape), dims=e.dims, coords=e.coords,
                        attrs={"long_name": f"on the energy/accuracy ({accuracy}) Pareto front",
                               "units": "1"})


def pareto_front(ds: xr.Dataset, accuracy: str = "mean") -> xr.Dataset:
    """Non-dominated design points (energy per inference vs accuracy), by rising energy.

    Conditions (mismatch, noise, faults, ...) are not design choices: accuracy is taken
    over them, their mean (``accuracy="mean"``) or worst case (``"worst"``), and energy
    averaged over them. A result without a design dimension has a one-point "front".
    Returns a dataset with dimension ``point``: ``energy`` [pJ per inference],
    ``accuracy`` and one variable per design dimension holding its value there.
    """
    mask = pareto_mask(ds, accuracy)
    e, a = _design_values(ds, accuracy)
    idx = np.argwhere(mask.values) if mask.ndim else (np.zeros((1, 0), int) if bool(mask) else np.zeros((0, 0), int))
    rows = []
    for ix in idx:
        ix = tuple(ix)
        rows.append((float(e.values[ix]), float(a.values[ix]), ix))
    rows.sort(key=lambda r: (r[0], -r[1]))
    what = ("mean accuracy over trials" if not condition_dims(ds) else
            f"{accuracy} accuracy over {', '.join(condition_dims(ds))} (mean over trials)")
    data = {
        "energy": (("point",), np.array([r[0] for r in rows], float),
                   {"units": "pJ", "long_name": "energy per inference"}),
        "accuracy": (("point",), np.array([r[1] for r in rows], float),
                     {"units": "1", "long_name": what}),
    }
    for k, d in enumerate(mask.dims):
        vals = mask[d].values
        data[d] = (("point",), np.array([vals[r[2][k]] for r in rows]), dict(ds[d].attrs))
    out = xr.Dataset({k: xr.Variable(*v) for k, v in data.items()})
    out.attrs["long_name"] = "energy/accuracy Pareto front over the design points"
    return out

"""The result dataset of imcsim (xarray): its variables with units, one point's dataset, and
stacking points along sweep dimensions.

One simulated point (a network on one card, several Monte Carlo trials) gives a dataset
with dimensions ``trial``, ``layer``, ``component`` (energy components) and
``area_component``; a study stacks its points along one more dimension per swept
parameter, named by the parameter path (``adc.bits``) with the values as coordinate.

=====================  ================================  ===================================
variable               dims                              units
=====================  ================================  ===================================
accuracy               sweep.., trial                    1 (fraction of correct predictions)
energy                 sweep.., layer, component         pJ per inference
energy_total           sweep..                           pJ per inference
latency                sweep.., layer                    ns per inference
latency_total          sweep..                           ns per inference (pipeline interval)
latency_end_to_end     sweep..                           ns (one inference, end to end)
throughput             sweep..                           inferences per second (batch)
macs, accesses,        sweep.., layer                    count per inference
adc_conversions
mac_error_rms          sweep.., trial, layer             1 (relative to the exact result)
tops, tops_per_watt,   sweep..                           TOPS, TOPS/W, TOPS/mm2
tops_per_mm2
power                  sweep..                           W
area                   sweep.., area_component           mm2
area_total             sweep..                           mm2
tiles, replicas,       sweep.., layer                    count / 1
utilization
tiles_used,            sweep..                           count
reload_rounds
=====================  ================================  ===================================

Every variable has ``units`` and ``long_name``; the dataset's attributes hold the study
text, the hardware card (YAML with sources), the seed and the package version.
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Iterable, Sequence

import numpy as np
import xarray as xr
from device_models import parameter_table
from imcsim import __version__
from imcsim import costs as _energy
from imcsim.errors import InputError

#: variable -> (units, long_name)
VARIABLES: dict[str, tuple[str, str]] = {
    "accuracy": ("1", "classification accuracy (fraction of correct predictions)"),
    "energy": ("pJ", "energy per inference by layer and component"),
    "energy_total": ("pJ", "energy per inference, all layers and components"),
    "latency": ("ns", "latency of one inference through the layer"),
    "latency_total": ("ns", "time per inference in steady state: the pipeline interval (slowest layer) on a pipelined chip, the end-to-end latency on a chip running layers in sequence; plus weight reloads"),
    "latency_end_to_end": ("ns", "end-to-end latency of one inference: first input in to last output out, every layer in turn, plus weight reloads"),
    "throughput": ("1/s", "inferences per second at the batch size"),
    "macs": ("count", "multiply-accumulates per inference"),
    "accesses": ("count", "tile accesses per inference"),
    "adc_conversions": ("count", "ADC conversions per inference"),
    "mac_error_rms": ("1", "relative RMS error of the layer's MAC results vs the exact integer result: sqrt(sum err^2 / sum exact^2)"),
    "tops": ("TOPS", "achieved throughput on this workload (2 ops per MAC)"),
    "tops_per_watt": ("TOPS/W", "achieved energy efficiency on this workload (2 ops per MAC)"),
    "tops_per_mm2": ("TOPS/mm2", "achieved throughput per chip area on this workload"),
    "power": ("W", "average power at the achieved throughput"),
    "area": ("mm2", "chip area by component"),
    "area_total": ("mm2", "chip area"),
    "tiles": ("count", "tiles holding one copy of the layer's weights"),
    "replicas": ("count", "copies of the layer's weights on spare tiles (for the latency of one inference)"),
    "utilization": ("1", "programmed cells / cells of the tiles the layer uses"),
    "tiles_used": ("count", "tiles the network occupies, including replicas"),
    "reload_rounds": ("count", "weight-reload rounds per batch (1: the network fits the chip)"),
}

#: coordinate -> (units, long_name)
COORDS: dict[str, tuple[str, str]] = {
    "adc_full_scale": ("cells", "largest rail count (dual) or |BL - BLB| (differential) the ADC range covers in one access; set from data when adc.range is calibrated"),
    "trial": ("1", "Monte Carlo chip instance"),
    "layer": ("", "quantized layer (execution order)"),
    "component": ("", "energy component"),
    "area_component": ("", "area component"),
}


def _attr_value(v: Any):
    """netCDF-safe attribute value (str, number, or 1-d array of numbers)."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, float, str, np.integer, np.floating)):
        return v
    if isinstance(v, dict):
        import yaml
        return yaml.safe_dump(v, sort_keys=False)
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return np.asarray(v)
    return str(v)


def card_text(card) -> str:
    """The card as YAML text with its sources (``card.dump()``)."""
    return card.dump()


def _annotate(ds: xr.Dataset) -> xr.Dataset:
    for name, (units, long_name) in {**VARIABLES, **COORDS}.items():
        if name in ds.variables:
            ds[name].attrs.update(units=units, long_name=long_name)
    return ds


def point_dataset(card, layers: Sequence[tuple[str, Any, Any]], accuracy: Sequence[float],
                  mac_error_rms=None, batch: int = 1, attrs: dict | None = None,
                  adc_full_scale=None) -> xr.Dataset:
    """Dataset of one simulated point.

    ``layers``: ``(name, events_per_inference, mapping)`` in execution order (events: an
    ``Events`` or a dict; mapping: a ``Mapping`` or a dict, see
    :func:`imcsim.costs.workload_cost`). ``accuracy``: one value per trial (NaN when the
    data has no labels). ``mac_error_rms``: (trials, layers) or None (NaN).
    ``adc_full_scale``: (trials, layers) count the ADCs were set for (the card's range, or
    calibrated from data when ``adc.range`` is ``calibrated``), or None (NaN).
    """
    layers = list(layers)
    cost = _energy.workload_cost(card, layers, batch=batch)
    acc = np.asarray(accuracy, dtype=float).reshape(-1)
    T, Lyr = acc.size, len(layers)
    err = np.full((T, Lyr), np.nan) if mac_error_rms is None else np.asarray(mac_error_rms, float).reshape(T, Lyr)
    names = [str(n) for n, _, _ in layers]
    comps = list(_energy.COMPONENTS)
    e = np.array([[lc.energy_pj[c] for c in comps] for lc in cost.layers]).reshape(Lyr, len(comps))
    ev = lambda key: np.array([float(lc.events.get(key, 0.0)) for lc in cost.layers])
    areas = cost.area_breakdown_mm2
    ds = xr.Dataset(
        {
            "accuracy": (("trial",), acc),
            "energy": (("layer", "component"), e),
            "energy_total": ((), float(e.sum())),
            "latency": (("layer",), np.array([lc.latency_ns for lc in cost.layers], float)),
            "latency_total": ((), float(cost.latency_ns)),
            "latency_end_to_end": ((), _end_to_end_ns(cost)),
            "throughput": ((), float(cost.throughput)),
            "macs": (("layer",), ev("macs")),
            "accesses": (("layer",), ev("accesses")),
            "adc_conversions": (("layer",), ev("adc_conversions")),
            "mac_error_rms": (("trial", "layer"), err),
            "adc_full_scale": (("trial", "layer"), np.full((T, Lyr), np.nan) if adc_full_scale is None
                               else np.asarray(adc_full_scale, float).reshape(T, Lyr)),
            "tops": ((), float(cost.tops)),
            "tops_per_watt": ((), float(cost.tops_per_watt)),
            "tops_per_mm2": ((), float(cost.tops_per_mm2)),
            "power": ((), float(cost.power_w)),
            "area": (("area_component",), np.array([areas[c] for c in _energy.AREA_COMPONENTS], float)),
            "area_total": ((), float(cost.area_mm2)),
            "tiles": (("layer",), np.array([lc.tiles for lc in cost.layers], np.int32)),
            "replicas": (("layer",), np.array([lc.replicas for lc in cost.layers], np.int32)),
            "utilization": (("layer",), np.array([lc.utilization for lc in cost.layers], float)),
            "tiles_used": ((), np.int32(cost.tiles_used)),
            "reload_rounds": ((), np.int32(cost.reload_rounds)),
        },
        coords={
            "trial": np.arange(T, dtype=np.int32),
            "layer": np.array(names, dtype=object),
            "component": np.array(comps, dtype=object),
            "area_component": np.array(_energy.AREA_COMPONENTS, dtype=object),
        },
    )
    _annotate(ds)
    base = {
        "title": "imcsim result",
        "hardware_name": str(card.name),
        "hardware": card_text(card),
        "architecture": _energy.architecture(card),
        "batch": int(batch),
        "imcsim_version": __version__,
    }
    base.update(attrs or {})
    ds.attrs.update({k: _attr_value(v) for k, v in base.items()})
    return ds


def _end_to_end_ns(cost) -> float:
    """End-to-end latency of one inference [ns]: every layer's time in turn (a layer bigger
    than the chip once per reload round it needs) plus the weight reloads. On a chip that
    runs layers in sequence this is ``cost.latency_ns``; on a pipelined chip
    ``cost.latency_ns`` is the interval between inferences (the slowest layer)."""
    chip = max(int(cost.chip_tiles), 1)
    rounds = int(cost.reload_rounds)
    t = 0.0
    for L in cost.layers:
        repeat = -(-int(L.tiles) // chip) if rounds > 1 and L.tiles > chip else 1
        t += float(L.latency_ns) * repeat
    return t + float(cost.reload_time_ns)


def estimate_dataset(network, hardware, batch: int = 1,
                     input_density: float = _energy.PEAK_INPUT_DENSITY,
                     weight_density: float = _energy.PEAK_WEIGHT_DENSITY,
                     attrs: dict | None = None) -> xr.Dataset:
    """ESTIMATED dataset of a network from its layer shapes alone (no weights, no data):
    the zoo's workload-only entries, or any network before it is trained.

    Same schema as :func:`imcsim.simulate` with one trial whose ``accuracy`` and
    ``mac_error_rms`` are NaN; events from the mapping and the assumed densities
    (:func:`imcsim.costs.estimate_network`); the attrs ``estimate`` says so.
    """
    import device_models as dm

    card = dm.load_card(hardware)
    network = require_network(network, "quantized_layers")
    shapes = _energy.network_shapes(network, input_density, weight_density)
    if not shapes:
        raise InputError(f"network {getattr(network, 'name', '')!r}: no quantized layer to cost")
    items, maps = [], []
    for sh in shapes:
        sh = dict(sh)
        name = sh.pop("name")
        ev, mp = _energy.estimate_events(card, **sh)
        items.append((name, ev, mp))
        maps.append(mp)
    for (_, ev, _mp), writes in zip(items, _energy.reload_writes_by_layer(card, maps, batch)):
        if writes:
            ev["weight_writes"] = writes
    base = {
        "network": str(getattr(network, "name", "")),
        "estimate": (f"ESTIMATE from layer shapes only: inputs nonzero with probability "
                     f"{input_density:g}, weights {weight_density:g} (binary operands: 1), "
                     f"independent; no accuracy"),
        "seed": "",
        "study": "",
    }
    base.update(attrs or {})
    return point_dataset(card, items, [np.nan], None, batch=batch, attrs=base)


# --------------------------------------------------------------------------------------
# stacking points along sweep dimensions
# --------------------------------------------------------------------------------------

def require_network(network, needs: str = "predict"):
    """A network object (one with the method ``needs``), or one bad-input line saying how to
    load one: names and paths are resolved by the caller (``networks.zoo.load``,
    ``networks.load_network``, or a study)."""
    if not callable(getattr(network, needs, None)):
        raise InputError(f"network: expected a networks.Network (networks.zoo.load(name) or "
                         f"networks.load_network(path)), got {type(network).__name__} "
                         f"{network!r:.60}")
    return network


def _coord_values(values: Sequence) -> np.ndarray:
    """Coordinate array for a sweep's values: numbers stay numbers, anything else (or a
    mix) becomes strings (``None`` -> ``"null"``)."""
    vals = list(values)
    if vals and all(isinstance(v, (bool, np.bool_)) for v in vals):
        return np.array(vals, dtype=bool)
    if vals and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in vals):
        return np.array(vals, dtype=np.int64)
    if vals and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in vals):
        return np.array(vals, dtype=float)
    return np.array(["null" if v is None else (str(v).lower() if isinstance(v, bool) else str(v)) for v in vals], dtype=object)


def _key(v):
    if isinstance(v, np.generic):
        v = v.item()
    return v


def stack(points: Iterable[tuple[dict, xr.Dataset]], sweep: dict[str, Sequence],
          attrs: dict | None = None, units: dict | None = None) -> xr.Dataset:
    """Stack per-point datasets along one dimension per swept parameter.

    ``sweep``: ``{parameter path: [values]}``; its order is the order of the dimensions.
    ``points``: ``(coords, dataset)`` with ``coords = {parameter path: value}``, one per
    point of the grid (any order). Each dimension is named by its parameter path, its
    coordinate holds the values (numbers, or strings when not all numbers) and its attrs
    ``parameter`` (the path), ``long_name`` and ``units`` (from ``units`` or the card
    schema when known). The result's attrs are the first point's, updated with ``attrs``.
    With an empty sweep the single point is returned (with ``attrs`` applied).
    """
    points = list(points)
    sweep = {str(k): list(v) for k, v in sweep.items()}
    if not sweep:
        if len(points) != 1:
            raise ValueError(f"stack: no sweep dimensions but {len(points)} points")
        ds = points[0][1].copy()
        ds.attrs.update({k: _attr_value(v) for k, v in (attrs or {}).items()})
        return ds
    table = {}
    for coords, ds in points:
        key = tuple(_key(coords[p]) for p in sweep)
        table[key] = ds
    dims = list(sweep)
    missing = [k for k in itertools.product(*(map(_key, v) for v in sweep.values())) if k not in table]
    if missing:
        raise ValueError(f"stack: no dataset for sweep point {dict(zip(dims, missing[0]))}")

    def nest(level: int, prefix: tuple):
        if level == len(dims):
            return table[prefix]
        return [nest(level + 1, prefix + (_key(v),)) for v in sweep[dims[level]]]

    nested = nest(0, ())
    # plain index coordinates first; the values are attached afterwards
    def expand(obj, level=0, idx=()):
        if level == len(dims):
            return obj.expand_dims({d: 1 for d in dims})
        return [expand(o, level + 1, idx + (i,)) for i, o in enumerate(obj)]

    combined = xr.combine_nested(expand(nested), concat_dim=dims, combine_attrs="override",
                                 data_vars="all", coords="different", compat="equals",
                                 join="outer")
    unit_of = dict(units or {})
    for path, _type, unit, _allowed, desc in parameter_table():
        unit_of.setdefault(path, (unit, desc))
    for d in dims:
        u = unit_of.get(d, ("", d))
        if isinstance(u, str):
            u = (u, d)
        combined = combined.assign_coords({d: (d, _coord_values(sweep[d]))})
        combined[d].attrs.update(parameter=d, long_name=f"{d}: {u[1]}" if u[1] != d else d,
                                 units=u[0] or "")
    # dimension order: sweep dims first, then the point's own
    order = dims + [d for d in POINT_DIMS if d in combined.dims]
    combined = combined.transpose(*order, *[d for d in combined.dims if d not in order])
    _annotate(combined)
    for name in list(combined.variables):
        # forget how the point files were encoded: integers the stacking filled with NaN
        # (networks with different layers) or longer layer names must not be written back
        # with the first point's encoding
        combined[name].encoding = {}
    combined.attrs["sweep"] = ", ".join(dims)
    combined.attrs["sweep_dims"] = json.dumps(dims)
    combined.attrs.update({k: _attr_value(v) for k, v in (attrs or {}).items()})
    return combined


#: dimensions of a point's own dataset (everything else is a swept parameter)
POINT_DIMS = ("trial", "layer", "component", "area_component")


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """The swept-parameter dimensions of a result, in study order: the ``sweep_dims``
    attribute (a JSON list written by :func:`stack` and the study runner) when present,
    otherwise every dimension that is not one of a point's own (:data:`POINT_DIMS`)."""
    raw = ds.attrs.get("sweep_dims")
    if raw is not None:
        try:
            named = json.loads(raw)
        except (TypeError, ValueError):
            named = None
        if isinstance(named, list):
            return [d for d in named if d in ds.dims]
    return [d for d in ds.dims if d not in POINT_DIMS]

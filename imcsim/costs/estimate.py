"""Workload-only estimates: event counts from layer shapes and input/weight densities, with
no weights and no simulation.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from imcsim.costs.peak import PEAK_INPUT_DENSITY, PEAK_WEIGHT_DENSITY
from imcsim.costs.prices import TERNARY_BITS, _v
from imcsim.costs.schedule import WorkloadCost, reload_writes_by_layer, workload_cost
from imcsim.engine.mapper import bits_for, map_layer
from imcsim.engine.tile import Tile
from imcsim.errors import InputError

# --------------------------------------------------------------------------------------
# workload-only estimate (layer shapes, no weights)
# --------------------------------------------------------------------------------------

def groups_fired(groups, R: int, K: int, L: int, input_density: float) -> float:
    """Expected number of row groups (per plane, per vector) that fire at least one
    wordline when each input is nonzero with probability ``input_density``."""
    total = 0.0
    for t, g in enumerate(groups):
        rows = min(R, K - t * R)
        for i in range(g):
            n = min(L, rows - i * L)
            total += 1.0 - (1.0 - input_density) ** n
    return total


def estimate_events(card, K: int, N: int, vectors: float = 1.0, planes: int = 1,
                    input_bits: int = TERNARY_BITS, output_bits: int | None = None,
                    slices: int = 1, input_density: float = PEAK_INPUT_DENSITY,
                    weight_density: float = PEAK_WEIGHT_DENSITY,
                    partial_sum_bits: int | None = None, x_max: float = 1, w_max: float = 1):
    """ESTIMATED events and mapping of one layer from its shape alone (no weights, no data).

    Assumes each input plane value is nonzero with probability ``input_density`` and each
    weight slice with ``weight_density``, independently: active wordlines =
    planes * K * input_density per vector, discharges = planes * K * columns *
    input_density * weight_density, precharges after each access that fires a wordline
    (probability 1 - (1 - input_density)**rows of the group). Static counts (accesses,
    conversions, accumulations) follow the mapping. Buffer bits: ``input_bits`` per input element per
    column tile, ``output_bits`` per output; interconnect: ``partial_sum_bits`` per column
    per row tile (None: as the engine sizes them, from K, ``x_max`` and ``w_max``, the
    largest input and weight magnitudes). Returns ``(events_per_inference, mapping)`` dicts.
    """
    if output_bits is None:
        output_bits = bits_for(K * x_max * w_max)
    if partial_sum_bits is None:
        partial_sum_bits = bits_for(min(K, int(_v(card, "tile.rows"))) * x_max)
    # the engine's mapping (a chip too small is reported as reload rounds, not refused)
    tile = replace(Tile.from_card(card), allow_reload=True)
    m = map_layer(K, N, slices, tile, planes)
    R, L, rl, cols = tile.rows, tile.rows_per_access, m.rails, m.columns
    row_tiles, col_tiles = m.row_tiles, m.col_tiles
    groups = list(m.groups_per_row_tile)
    G = sum(groups)
    # xnor cells on a resistive divider: E[n m / (n + m)] = (a - 1) / 4 per column and
    # access, a = conducting cells (random signs)
    div = 0.0
    if str(_v(card, "cell.kind")) == "xnor":
        for t, g in enumerate(groups):
            rows = min(R, K - t * R)
            for i in range(g):
                a = min(L, rows - i * L) * input_density * weight_density
                div += max(a - 1.0, 0.0) / 4.0
    per_vec = {
        "vectors": 1.0,
        "macs": float(K * N),
        "accesses": float(planes * G * col_tiles),
        "active_wordlines": planes * K * input_density * col_tiles,
        # a rail is precharged after an access that fired a wordline of its group
        "precharges": planes * cols * rl * groups_fired(groups, R, K, L, input_density),
        "discharges": planes * K * cols * input_density * weight_density,
        "divider_load": planes * cols * div,
        "adc_conversions": float(planes * G * cols * rl),
        "accumulations": float(planes * G * cols),
        "input_bits": float(K * input_bits * col_tiles),
        "output_bits": float(N * output_bits),
        "interconnect_bits": float(row_tiles * cols * partial_sum_bits),
        "weight_writes": 0.0,
    }
    ev = {k: v * vectors for k, v in per_vec.items()}
    mapping = {"K": K, "N": N, "slices": slices, "columns": cols, "row_tiles": row_tiles,
               "col_tiles": col_tiles, "tiles": m.tiles, "planes": planes, "rails": rl,
               "utilization": m.utilization, "accesses_per_vector": m.accesses_per_vector,
               "serial_accesses_per_vector": m.serial_accesses_per_vector}
    return ev, mapping


def estimate_workload(card, shapes: Iterable[dict], batch: int = 1,
                      input_density: float = PEAK_INPUT_DENSITY,
                      weight_density: float = PEAK_WEIGHT_DENSITY) -> WorkloadCost:
    """ESTIMATED cost of a workload given only its layer shapes (clearly an estimate).

    ``shapes``: dicts with ``name``, ``K``, ``N`` and optionally ``vectors`` (positions per
    inference, conv layers), ``planes``, ``slices``, ``input_bits``, ``output_bits``.
    Events come from the mapping and the assumed input / weight densities (see
    :func:`estimate_events`); weight-reload writes from :func:`reload_writes_by_layer`.
    """
    shapes = list(shapes)
    if not shapes:
        raise InputError("workload: no layer runs on the crossbar (every layer is full precision "
                         "and digital), so there is nothing to estimate")
    items, maps = [], []
    for s in shapes:
        s = dict(s)
        name = s.pop("name")
        s.setdefault("input_density", input_density)
        s.setdefault("weight_density", weight_density)
        ev, mp = estimate_events(card, **s)
        items.append((name, ev, mp))
        maps.append(mp)
    for (_, ev, _mp), writes in zip(items, reload_writes_by_layer(card, maps, batch)):
        if writes:
            ev["weight_writes"] = writes
    return workload_cost(card, items, batch=batch)


def network_shapes(network, input_density: float = PEAK_INPUT_DENSITY,
                   weight_density: float = PEAK_WEIGHT_DENSITY) -> list[dict]:
    """Layer shapes of a ``networks.Network`` (its ``quantized_layers()``) for
    :func:`estimate_workload`: K, N, vectors, planes and buffer bits from the input encoding,
    slices from the weight kind. Binary ({-1,+1}) inputs or weights are never zero, so
    their density is 1 whatever is assumed."""
    from imcsim.engine.encoding import parse_encoding
    from imcsim.engine.mapper import slices_for

    out = []
    for l in network.quantized_layers():
        wk = l.weight_kind
        asym = (1.0, 1.0, 1.0, 1.0) if wk == "asym_ternary" else None
        enc = parse_encoding(l.encoding, asym)
        w_max = l.weight_max_code
        slices = slices_for(w_max)
        x_max = max(abs(enc.lo), abs(enc.hi))
        out.append(dict(
            name=l.name, K=int(l.K), N=int(l.N), vectors=float(l.vectors), planes=enc.planes,
            input_bits=enc.bits, slices=slices, x_max=x_max, w_max=w_max,
            input_density=1.0 if enc.kind == "binary" else input_density,
            weight_density=1.0 if wk == "binary" else weight_density))
    return out


def estimate_network(card, network, batch: int = 1, input_density: float = PEAK_INPUT_DENSITY,
                     weight_density: float = PEAK_WEIGHT_DENSITY) -> WorkloadCost:
    """ESTIMATED cost of a ``networks.Network`` from its layer shapes alone (works for the
    zoo's workload-only entries, which have no weights): see :func:`estimate_workload`."""
    shapes = network_shapes(network, input_density, weight_density)
    return estimate_workload(card, shapes, batch=batch)

"""Scheduling a workload on a chip: latency, replicas on spare tiles, reload rounds, and the
energy per layer and component.

Latency: a tile runs its accesses in sequence, tiles run in parallel, so one input vector
of a layer takes ``serial_accesses_per_vector`` accesses of ``access_time(card)`` (shared
ADCs serialize their conversions inside the access time). A layer processing ``V``
vectors per inference with ``r`` copies of its weights on spare tiles takes
``ceil(B * V / r) * serial_accesses_per_vector * access_time`` for a batch of B
inferences. Spare tiles (``chip.tiles`` minus the tiles the network needs) are handed
out greedily to the layer that saves the most time per tile (sequence) or to the slowest
layer (pipeline). Layers run in sequence (time per inference = sum of the layers) or, when
``chip.pipeline``, pipelined (time per inference at steady state = the slowest layer).
A network needing more tiles than the chip has runs in weight-reload rounds if
``chip.allow_reload`` (each round rewrites its tiles in parallel, row by row at
``tile.write_ns_per_row``, once per batch), else it is an error. Digital accumulation,
buffer and interconnect transfers overlap with the accesses and add no time. Leakage is
shared among layers by their busy time (sequence) or by the tiles they hold (pipeline).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from imcsim.costs.peak import area_breakdown
from imcsim.costs.prices import (
    _NS_TO_S,
    _OPS_PER_PJ_TO_TOPS_PER_W,
    COMPONENTS,
    _as_dict,
    _mget,
    _v,
    access_time_ns,
    architecture,
    dynamic_energy,
)
from imcsim.errors import InputError

# --------------------------------------------------------------------------------------
# workload: latency, schedule, energy per layer
# --------------------------------------------------------------------------------------

@dataclass
class LayerCost:
    name: str
    vectors: float                #: input vectors per inference
    tiles: int                    #: tiles holding one copy of the weights
    serial_accesses: int          #: accesses (or cycles) of the busiest tile per vector
    replicas: int = 1             #: copies of the weights on the chip (spare tiles)
    replicas_batch: int = 1       #: copies used for the throughput batch
    latency_ns: float = 0.0       #: one inference through this layer [ns]
    batch_time_ns: float = 0.0    #: the throughput batch through this layer [ns]
    round: int = 0                #: weight-reload round the layer runs in
    energy_pj: dict = field(default_factory=dict)   #: per component, per inference
    events: dict = field(default_factory=dict)      #: per inference
    utilization: float = 0.0
    macs: float = 0.0


@dataclass
class WorkloadCost:
    """Energy, latency and throughput of a network on a card (per inference unless named)."""
    card_name: str
    layers: list                  #: [LayerCost]
    batch: int
    tiles_needed: int             #: tiles of one copy of every layer
    tiles_used: int               #: including replicas (batch of 1)
    chip_tiles: int
    reload_rounds: int
    reload_time_ns: float         #: per batch
    latency_ns: float             #: time per inference: sum (sequence) / max (pipeline) + reloads
    batch_time_ns: float          #: time for ``batch`` inferences
    throughput: float             #: inferences per second for ``batch``
    energy_pj: float              #: per inference, all layers and components
    macs: float                   #: per inference
    area_mm2: float
    area_breakdown_mm2: dict
    pipeline: bool

    @property
    def tops(self) -> float:
        """Achieved TOPS at the batch's throughput (2 ops per MAC)."""
        return 2.0 * self.macs * self.throughput * 1e-12

    @property
    def power_w(self) -> float:
        return self.energy_pj * 1e-12 * self.throughput

    @property
    def tops_per_watt(self) -> float:
        return 2.0 * self.macs / self.energy_pj * _OPS_PER_PJ_TO_TOPS_PER_W if self.energy_pj > 0 else float("nan")

    @property
    def tops_per_mm2(self) -> float:
        return self.tops / self.area_mm2

    @property
    def utilization(self) -> float:
        """Programmed cells / cells of the tiles used, over the network (one copy)."""
        num = sum(l.utilization * l.tiles for l in self.layers)
        return num / self.tiles_needed if self.tiles_needed else float("nan")

    def energy_by_component(self) -> dict[str, float]:
        return {c: sum(l.energy_pj[c] for l in self.layers) for c in COMPONENTS}


def _layer_time(vectors_per_inf: float, batch: int, replicas: int, serial: int, t_access: float) -> float:
    return math.ceil(batch * vectors_per_inf / replicas - 1e-9) * serial * t_access


def _digital_serial_cycles(card, mapping) -> int:
    """Cycles of the busiest tile per vector: its programmed weights / MAC units."""
    R, C = int(_v(card, "tile.rows")), int(_v(card, "tile.columns"))
    K = int(_mget(mapping, "K"))
    cols = int(_mget(mapping, "columns", None) or _mget(mapping, "N") * int(_mget(mapping, "slices", 1)))
    M = int(_v(card, "digital.macs_per_cycle"))
    return max(1, math.ceil(min(K, R) * min(cols, C) / M))


def digital_events(card, events, mapping) -> dict[str, float]:
    """The events of a digital card as its hardware sees them: ``accesses`` = MAC-array
    cycles summed over the tiles (``ceil(weights of a tile / macs_per_cycle)`` per tile
    and vector); no wordline, bitline, ADC or shift-add events (the engine's analog
    bookkeeping of the same product does not apply); data transfers and writes unchanged."""
    ev = dict(_as_dict(events))
    R, C = int(_v(card, "tile.rows")), int(_v(card, "tile.columns"))
    M = int(_v(card, "digital.macs_per_cycle"))
    K = int(_mget(mapping, "K"))
    cols = int(_mget(mapping, "columns", None) or _mget(mapping, "N") * int(_mget(mapping, "slices", 1)))
    cycles = 0
    for r0 in range(0, K, R):
        for c0 in range(0, cols, C):
            cycles += math.ceil(min(R, K - r0) * min(C, cols - c0) / M)
    ev["accesses"] = ev.get("vectors", 0.0) * cycles
    for k in ("active_wordlines", "precharges", "discharges", "adc_conversions", "accumulations"):
        ev[k] = 0.0
    return ev


def _allocate_replicas(layers: list, spare: int, batch: int, t_access: float, pipeline: bool) -> list[int]:
    """Greedy: give spare tiles to the layer whose time drops most per tile (sequence) or
    to the slowest layer (pipeline), while a copy fits and helps."""
    reps = [1] * len(layers)

    def time(i, r):
        L = layers[i]
        return _layer_time(L.vectors, batch, r, L.serial_accesses, t_access)

    while True:
        best, best_score = None, 0.0
        if pipeline:
            order = sorted(range(len(layers)), key=lambda i: -time(i, reps[i]))
            if not order:
                break
            i = order[0]
            if layers[i].tiles <= spare and time(i, reps[i] + 1) < time(i, reps[i]):
                best = i
        else:
            for i, L in enumerate(layers):
                if L.tiles > spare or L.tiles == 0:
                    continue
                gain = (time(i, reps[i]) - time(i, reps[i] + 1)) / L.tiles
                if gain > best_score:
                    best, best_score = i, gain
        if best is None:
            break
        reps[best] += 1
        spare -= layers[best].tiles
    return reps


def _rounds(layers: list, chip_tiles: int) -> list[list[int]]:
    """Pack layers, in order, into weight-reload rounds of at most ``chip_tiles`` tiles.

    A layer bigger than the chip gets rounds of its own (its row/column tiles in turns).
    """
    rounds, cur, used = [], [], 0
    for i, L in enumerate(layers):
        if L.tiles > chip_tiles:
            if cur:
                rounds.append(cur)
                cur, used = [], 0
            for _ in range(math.ceil(L.tiles / chip_tiles)):
                rounds.append([i])
            continue
        if used + L.tiles > chip_tiles:
            rounds.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += L.tiles
    if cur:
        rounds.append(cur)
    return rounds


def workload_cost(card, layers: Iterable[tuple[str, Any, Any]], batch: int = 1) -> WorkloadCost:
    """Energy, latency, throughput of a network from per-inference events and mappings.

    ``layers``: ``(name, events_per_inference, mapping)`` in execution order; events are an
    ``Events`` or a dict of :data:`imcsim.engine.events.EVENT_FIELDS`, mappings a ``Mapping`` or a
    dict with at least ``tiles``, ``serial_accesses_per_vector``, ``K``, ``columns``.
    ``batch``: inferences per batch for throughput (and reload amortization).
    Raises :class:`InputError` when the network needs more tiles than ``chip.tiles`` and
    ``chip.allow_reload`` is false.
    """
    layers = list(layers)
    batch = max(1, int(batch))
    chip_tiles = int(_v(card, "chip.tiles"))
    pipeline = bool(_v(card, "chip.pipeline"))
    digital = architecture(card) == "digital"
    t_access = access_time_ns(card)
    lc: list[LayerCost] = []
    for name, ev, mp in layers:
        evd = _as_dict(ev)
        tiles = int(_mget(mp, "tiles", 0) or 0)
        e_dyn = dynamic_energy(evd, card, mp)
        if digital:
            serial = _digital_serial_cycles(card, mp)
            evd = digital_events(card, evd, mp)
        else:
            serial = int(_mget(mp, "serial_accesses_per_vector", 0) or 0)
        lc.append(LayerCost(name=str(name), vectors=evd.get("vectors", 0.0), tiles=tiles,
                            serial_accesses=serial, events=evd,
                            utilization=float(_mget(mp, "utilization", 0.0) or 0.0),
                            macs=evd.get("macs", 0.0), energy_pj=e_dyn))
    needed = sum(L.tiles for L in lc)
    if needed > chip_tiles and not bool(_v(card, "chip.allow_reload")):
        worst = max(lc, key=lambda L: L.tiles)
        raise InputError(
            f"hardware {getattr(card, 'name', '')!s}: the network needs {needed} tiles "
            f"(largest layer {worst.name!r}: {worst.tiles}) but chip.tiles is {chip_tiles} "
            f"and chip.allow_reload is false; set chip.allow_reload: true or use more tiles")
    rounds = _rounds(lc, chip_tiles) if needed > chip_tiles else [list(range(len(lc)))]
    R = int(_v(card, "tile.rows"))
    write_ns = float(_v(card, "tile.write_ns_per_row"))
    if len(rounds) > 1:
        # every round rewrites its tiles (in parallel, row by row) once per batch
        reload_ns = 0.0
        for rd in rounds:
            rows = max((min(R, int(_mget(layers[i][2], "K", R) or R)) for i in rd), default=0)
            reload_ns += rows * write_ns
        spare = 0
    else:
        reload_ns = 0.0
        spare = chip_tiles - needed
    for k, rd in enumerate(rounds):
        for i in rd:
            lc[i].round = k
    reps1 = _allocate_replicas(lc, spare, 1, t_access, pipeline)
    repsb = reps1 if batch == 1 else _allocate_replicas(lc, spare, batch, t_access, pipeline)
    for L, r1, rb in zip(lc, reps1, repsb):
        L.replicas, L.replicas_batch = r1, rb
        L.latency_ns = _layer_time(L.vectors, 1, r1, L.serial_accesses, t_access)
        L.batch_time_ns = _layer_time(L.vectors, batch, rb, L.serial_accesses, t_access)
    def total(times):
        # a layer bigger than the chip appears in several rounds: each round runs every
        # vector through its share of the tiles, so its time counts once per round
        return sum((max if pipeline else sum)([times[i] for i in rd]) for rd in rounds)

    lat = total([L.latency_ns for L in lc]) + reload_ns
    bt = total([L.batch_time_ns for L in lc]) + reload_ns
    # leakage: the whole chip leaks during the time of one inference (at the batch's rate)
    leak_mw = chip_tiles * float(_v(card, "tile.leakage_mw"))
    t_inf = bt / batch
    if pipeline:
        weights = [L.tiles * L.replicas_batch for L in lc]
    else:
        weights = [L.batch_time_ns for L in lc]
    wsum = float(sum(weights))
    for L, w in zip(lc, weights):
        share = (w / wsum) if wsum > 0 else 1.0 / max(1, len(lc))
        L.energy_pj["leakage"] = leak_mw * t_inf * share   # mW * ns = pJ
    energy = sum(sum(L.energy_pj.values()) for L in lc)
    areas = area_breakdown(card)
    used = sum(L.tiles * L.replicas for L in lc) if len(rounds) == 1 else chip_tiles
    return WorkloadCost(
        card_name=str(getattr(card, "name", "")), layers=lc, batch=batch, tiles_needed=needed,
        tiles_used=used, chip_tiles=chip_tiles, reload_rounds=len(rounds),
        reload_time_ns=reload_ns, latency_ns=lat, batch_time_ns=bt,
        throughput=batch / (bt * _NS_TO_S) if bt > 0 else float("nan"),
        energy_pj=energy, macs=sum(L.macs for L in lc), area_mm2=float(sum(areas.values())),
        area_breakdown_mm2=areas, pipeline=pipeline)


def reload_weight_writes(card, mappings: Iterable, batch: int = 1) -> float:
    """Cells written per inference by weight reloads when the network does not fit the chip.

    Every round rewrites the programmed cells of its layers once per batch; a network that
    fits is programmed once and costs nothing per inference.
    """
    mappings = list(mappings)
    needed = sum(int(_mget(m, "tiles", 0)) for m in mappings)
    if needed <= int(_v(card, "chip.tiles")):
        return 0.0
    cells = sum(int(_mget(m, "K")) * int(_mget(m, "columns", None) or _mget(m, "N")) for m in mappings)
    return cells / max(1, int(batch))


def reload_writes_by_layer(card, mappings: Iterable, batch: int = 1) -> list[float]:
    """:func:`reload_weight_writes` split over the layers in proportion to their programmed
    cells (K x columns): cells written per inference, one value per mapping."""
    mappings = list(mappings)
    writes = reload_weight_writes(card, mappings, batch)
    cells = [float(int(_mget(m, "K")) * int(_mget(m, "columns", None) or _mget(m, "N")))
             for m in mappings]
    total = sum(cells)
    if not writes or total <= 0:
        return [0.0] * len(mappings)
    return [writes * c / total for c in cells]

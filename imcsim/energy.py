"""Energy, latency, area and headline figures of a chip from its card and the engine's events.

Everything physical comes from the hardware card (``device_models`` cards); this module
only multiplies event counts by per-event costs and schedules accesses in time. The only
constants here are unit conversions and the peak-sparsity assumptions of the contract
(docs/architecture.md, "Peak figures"): ternary inputs and weights, each nonzero with
probability 1/2.

Energy (pJ per inference, per layer and component), in-memory (``chip.architecture: imc``):

============  =========================================================================
component     events x card cost
============  =========================================================================
wordline      active_wordlines x ``wordline.energy_pj``
bitline       precharges x ``bitline.precharge_energy_pj``
              + discharges x ``cell.discharge_energy_pj``
adc           adc_conversions x energy per conversion (``device_models.adc``)
accumulate    accumulations x ``digital.accumulate_energy_pj``
buffer        (input_bits + output_bits) x ``chip.buffer_energy_pj_per_bit``
interconnect  interconnect_bits x ``chip.interconnect_energy_pj_per_bit``
leakage       ``chip.tiles`` x ``tile.leakage_mw`` x time per inference, shared among
              layers by their busy time (sequence) or by the tiles they hold (pipeline)
weight_load   weight_writes x ``cell.write_energy_pj``
============  =========================================================================

Digital near-memory baseline (``chip.architecture: digital``): the same tiles hold the
same weights in SRAM; every MAC reads its weight (2 bits per ternary slice, 1 bit per
binary weight) at ``digital.sram_read_energy_pj_per_bit`` (reported under ``bitline``:
it is the SRAM array read) and runs on a ternary MAC unit at ``digital.mac_energy_pj``
(reported under ``accumulate``); no zero-skipping, no ADC, no wordline component.
``buffer``, ``interconnect``, ``leakage`` and ``weight_load`` are as above.

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
buffer and interconnect transfers overlap with the accesses and add no time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Mapping as _MappingABC
from typing import Any, Iterable

from .errors import InputError
from .mapper import bits_for

#: energy components, in the order of the dataset's ``component`` coordinate
COMPONENTS: tuple[str, ...] = (
    "wordline", "bitline", "adc", "accumulate", "buffer", "interconnect", "leakage", "weight_load",
)
#: area components, in the order of the dataset's ``area_component`` coordinate
AREA_COMPONENTS: tuple[str, ...] = ("cells", "adc", "periphery", "global")

#: peak-figure assumptions of the contract: probability that an input / a weight is nonzero
PEAK_INPUT_DENSITY = 0.5
PEAK_WEIGHT_DENSITY = 0.5
#: bits per ternary value in buffers and SRAM (two bit-cells per ternary weight or input)
TERNARY_BITS = 2

# unit conversions
_UM2_TO_MM2 = 1e-6
_PJ_PER_NS_TO_MW = 1.0          # pJ/ns = mW
_OPS_PER_NS_TO_TOPS = 1e-3      # 1 op/ns = 1e9 op/s = 1e-3 TOPS
_MW_TO_W = 1e-3
_NS_TO_S = 1e-9
_OPS_PER_PJ_TO_TOPS_PER_W = 1.0  # op/pJ = 1e12 op/J = TOPS/W


def _v(card, path: str):
    """Value of a card parameter (works for a Card or a flat dict keyed by dotted paths)."""
    return card[path]


def architecture(card) -> str:
    return str(_v(card, "chip.architecture"))


def rails(card) -> int:
    """Converted rails per column: 2 for dual sensing, 1 for differential."""
    return 2 if str(_v(card, "adc.sensing")) == "dual" else 1


# --------------------------------------------------------------------------------------
# per-event costs
# --------------------------------------------------------------------------------------

def adc_energy_pj(card) -> float:
    """Energy of one ADC conversion [pJ] (``device_models.adc.energy_per_conversion``)."""
    try:
        from device_models import adc as dm_adc
        fn = dm_adc.energy_per_conversion
    except (ImportError, AttributeError):  # device_models not there yet: card value only
        if str(_v(card, "adc.energy_model")) != "card":
            raise
        return float(_v(card, "adc.energy_pj"))
    return float(fn(card))


def conversion_time_ns(card) -> float:
    """One conversion [ns]: flash ``adc.step_ns``, SAR ``(adc.bits + 1) * adc.step_ns``."""
    step = float(_v(card, "adc.step_ns"))
    if str(_v(card, "adc.kind")) == "sar":
        return (int(_v(card, "adc.bits")) + 1) * step
    return step


def access_time_ns(card) -> float:
    """Time of one access [ns]: precharge + evaluate + ``adc.share`` serialized conversions.

    For a digital card: one clock cycle ``digital.cycle_ns``.
    """
    if architecture(card) == "digital":
        return float(_v(card, "digital.cycle_ns"))
    return (float(_v(card, "tile.precharge_ns")) + float(_v(card, "tile.evaluate_ns"))
            + int(_v(card, "adc.share")) * conversion_time_ns(card))


def event_costs(card) -> dict[str, tuple[str, float]]:
    """Per-event costs of an IMC card: event name -> (component, pJ per event)."""
    buf = float(_v(card, "chip.buffer_energy_pj_per_bit"))
    return {
        "active_wordlines": ("wordline", float(_v(card, "wordline.energy_pj"))),
        "precharges": ("bitline", float(_v(card, "bitline.precharge_energy_pj"))),
        "discharges": ("bitline", float(_v(card, "cell.discharge_energy_pj"))),
        "adc_conversions": ("adc", adc_energy_pj(card)),
        "accumulations": ("accumulate", float(_v(card, "digital.accumulate_energy_pj"))),
        "input_bits": ("buffer", buf),
        "output_bits": ("buffer", buf),
        "interconnect_bits": ("interconnect", float(_v(card, "chip.interconnect_energy_pj_per_bit"))),
        "weight_writes": ("weight_load", float(_v(card, "cell.write_energy_pj"))),
    }


def _as_dict(events) -> dict[str, float]:
    if hasattr(events, "as_dict"):
        return events.as_dict()
    return {k: float(v) for k, v in dict(events).items()}


def _mget(mapping, key, default=None):
    if mapping is None:
        return default
    if isinstance(mapping, _MappingABC):
        return mapping.get(key, default)
    return getattr(mapping, key, default)


def weight_bits(card, slices: int = 1) -> int:
    """SRAM bits holding one logical weight: 2 per ternary slice, 1 for a binary XNOR cell."""
    return slices * (1 if str(_v(card, "cell.kind")) == "xnor" else TERNARY_BITS)


def dynamic_energy(events, card, mapping=None) -> dict[str, float]:
    """Dynamic energy [pJ] per component of the given event counts (no leakage).

    Linear in every event count. ``mapping`` is used only by digital cards (weight bits per
    MAC from ``mapping.slices``).
    """
    ev = _as_dict(events)
    out = {c: 0.0 for c in COMPONENTS}
    if architecture(card) == "digital":
        slices = int(_mget(mapping, "slices", 1) or 1)
        out["bitline"] = ev.get("macs", 0.0) * weight_bits(card, slices) * float(
            _v(card, "digital.sram_read_energy_pj_per_bit"))
        out["accumulate"] = ev.get("macs", 0.0) * slices * float(_v(card, "digital.mac_energy_pj"))
        buf = float(_v(card, "chip.buffer_energy_pj_per_bit"))
        out["buffer"] = (ev.get("input_bits", 0.0) + ev.get("output_bits", 0.0)) * buf
        out["interconnect"] = ev.get("interconnect_bits", 0.0) * float(
            _v(card, "chip.interconnect_energy_pj_per_bit"))
        out["weight_load"] = ev.get("weight_writes", 0.0) * float(_v(card, "cell.write_energy_pj"))
        return out
    for name, (comp, cost) in event_costs(card).items():
        out[comp] += ev.get(name, 0.0) * cost
    return out


# --------------------------------------------------------------------------------------
# peak figures
# --------------------------------------------------------------------------------------

@dataclass
class PeakFigures:
    """Headline figures of a card at peak (contract rule; see :func:`peak_figures`)."""
    tops: float                 #: peak throughput [TOPS], 2 ops per MAC
    power_mw: float             #: power at peak [mW]
    tops_per_watt: float
    area_mm2: float
    tops_per_mm2: float
    access_time_ns: float       #: one access (IMC) or one clock cycle (digital)
    energy_per_access_pj: float  #: one tile, one access (or one cycle), dynamic
    energy_breakdown_pj: dict = field(default_factory=dict)  #: per component, one tile-access
    area_breakdown_mm2: dict = field(default_factory=dict)
    macs_per_access: float = 0.0   #: per tile
    assumptions: str = ""

    @property
    def power_w(self) -> float:
        return self.power_mw * _MW_TO_W

    def as_dict(self) -> dict:
        return {"tops": self.tops, "power_w": self.power_w, "tops_per_watt": self.tops_per_watt,
                "area_mm2": self.area_mm2, "tops_per_mm2": self.tops_per_mm2,
                "access_time_ns": self.access_time_ns,
                "energy_per_access_pj": self.energy_per_access_pj}


PEAK_ASSUMPTIONS_IMC = (
    "every tile busy with back-to-back accesses, all C columns mapped, L = "
    "tile.rows_per_access rows per access, ternary inputs (1 plane) and ternary weights "
    "each 50 % nonzero (50 % sparsity): L/2 active wordlines and L*C/4 discharging cells "
    "per access; 2 ops per MAC")
PEAK_ASSUMPTIONS_DIGITAL = (
    "every tile's digital.macs_per_cycle ternary MAC units busy every digital.cycle_ns; "
    "each MAC reads its 2-bit ternary weight from SRAM; inputs read once per tile row "
    "(2 bits per input, reused across the C columns); no zero-skipping, so sparsity does "
    "not change the figures; 2 ops per MAC")


def area_breakdown(card) -> dict[str, float]:
    """Chip area [mm2] per part: ``cells``, ``adc``, ``periphery`` (all tiles), ``global``.

    area = tiles * (R*C*cell.area_um2 + (C*rails/adc.share)*adc.area_um2) * 1e-6
           + tiles * tile.periphery_area_mm2 + chip.global_area_mm2
    (digital cards have no ADCs: their MAC units are part of ``tile.periphery_area_mm2``).
    """
    T = int(_v(card, "chip.tiles"))
    R, C = int(_v(card, "tile.rows")), int(_v(card, "tile.columns"))
    cells = T * R * C * float(_v(card, "cell.area_um2")) * _UM2_TO_MM2
    if architecture(card) == "digital":
        adcs = 0.0
    else:
        adcs = T * (C * rails(card) / int(_v(card, "adc.share"))) * float(_v(card, "adc.area_um2")) * _UM2_TO_MM2
    return {"cells": cells, "adc": adcs,
            "periphery": T * float(_v(card, "tile.periphery_area_mm2")),
            "global": float(_v(card, "chip.global_area_mm2"))}


def chip_area_mm2(card) -> float:
    return float(sum(area_breakdown(card).values()))


def peak_figures(card) -> PeakFigures:
    """Peak TOPS, power, TOPS/W, area, TOPS/mm2 of a card (docs/architecture.md rule).

    IMC (``chip.architecture: imc``), per tile and access, with L = ``tile.rows_per_access``,
    C = ``tile.columns``, rails = 2 (dual) or 1 (differential):
    active wordlines L/2, discharges L*C/4, precharges and conversions C*rails,
    accumulations C, input bits 2*L;
    ``E_access = L/2 E_wl + C*rails E_pre + L*C/4 E_dis + C*rails E_adc + C E_acc + 2L E_buf``,
    ``peak TOPS = tiles * 2 * L * C / access_time * 1e-3``,
    ``power [mW] = tiles * (E_access / access_time + tile.leakage_mw)``.

    Digital (``chip.architecture: digital``), per tile and cycle, M = ``digital.macs_per_cycle``:
    M MACs, each reading 2 bits of weight from SRAM, and M/C inputs of 2 bits from the
    buffer (an input is reused across the C columns of a tile row);
    ``E_cycle = M (E_mac + 2 E_sram_bit) + 2 (M/C) E_buf``,
    ``peak TOPS = tiles * 2 * M / cycle_ns * 1e-3``, power as above with E_cycle / cycle_ns.
    """
    T = int(_v(card, "chip.tiles"))
    C = int(_v(card, "tile.columns"))
    t = access_time_ns(card)
    buf = float(_v(card, "chip.buffer_energy_pj_per_bit"))
    if architecture(card) == "digital":
        M = int(_v(card, "digital.macs_per_cycle"))
        breakdown = {c: 0.0 for c in COMPONENTS}
        breakdown["bitline"] = M * TERNARY_BITS * float(_v(card, "digital.sram_read_energy_pj_per_bit"))
        breakdown["accumulate"] = M * float(_v(card, "digital.mac_energy_pj"))
        breakdown["buffer"] = TERNARY_BITS * (M / C) * buf
        macs = float(M)
        assumptions = PEAK_ASSUMPTIONS_DIGITAL
    else:
        L = int(_v(card, "tile.rows_per_access"))
        rl = rails(card)
        ev = {
            "active_wordlines": L * PEAK_INPUT_DENSITY,
            "discharges": L * C * PEAK_INPUT_DENSITY * PEAK_WEIGHT_DENSITY,
            "precharges": C * rl,
            "adc_conversions": C * rl,
            "accumulations": C,
            "input_bits": TERNARY_BITS * L,
        }
        breakdown = dynamic_energy(ev, card)
        macs = float(L * C)
        assumptions = PEAK_ASSUMPTIONS_IMC
    e_access = float(sum(breakdown.values()))
    tops = T * 2 * macs / t * _OPS_PER_NS_TO_TOPS
    power_mw = T * (e_access / t * _PJ_PER_NS_TO_MW + float(_v(card, "tile.leakage_mw")))
    areas = area_breakdown(card)
    area = float(sum(areas.values()))
    return PeakFigures(
        tops=tops, power_mw=power_mw, tops_per_watt=tops / (power_mw * _MW_TO_W),
        area_mm2=area, tops_per_mm2=tops / area, access_time_ns=t,
        energy_per_access_pj=e_access, energy_breakdown_pj=breakdown,
        area_breakdown_mm2=areas, macs_per_access=macs, assumptions=assumptions)


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
    ``Events`` or a dict of :data:`imcsim.events.EVENT_FIELDS`, mappings a ``Mapping`` or a
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
    R, C = int(_v(card, "tile.rows")), int(_v(card, "tile.columns"))
    L = int(_v(card, "tile.rows_per_access"))
    rl = rails(card)
    cols = N * slices
    row_tiles, col_tiles = math.ceil(K / R), math.ceil(cols / C)
    groups = [math.ceil(min(R, K - t * R) / L) for t in range(row_tiles)]
    G = sum(groups)
    per_vec = {
        "vectors": 1.0,
        "macs": float(K * N),
        "accesses": float(planes * G * col_tiles),
        "active_wordlines": planes * K * input_density * col_tiles,
        # a rail is precharged after an access that fired a wordline of its group
        "precharges": planes * cols * rl * groups_fired(groups, R, K, L, input_density),
        "discharges": planes * K * cols * input_density * weight_density,
        "adc_conversions": float(planes * G * cols * rl),
        "accumulations": float(planes * G * cols),
        "input_bits": float(K * input_bits * col_tiles),
        "output_bits": float(N * output_bits),
        "interconnect_bits": float(row_tiles * cols * partial_sum_bits),
        "weight_writes": 0.0,
    }
    ev = {k: v * vectors for k, v in per_vec.items()}
    mapping = {"K": K, "N": N, "slices": slices, "columns": cols, "row_tiles": row_tiles,
               "col_tiles": col_tiles, "tiles": row_tiles * col_tiles, "planes": planes,
               "rails": rl, "utilization": K * cols / float(row_tiles * col_tiles * R * C),
               "accesses_per_vector": planes * G * col_tiles,
               "serial_accesses_per_vector": planes * max(groups)}
    return ev, mapping


def estimate_workload(card, shapes: Iterable[dict], batch: int = 1,
                      input_density: float = PEAK_INPUT_DENSITY,
                      weight_density: float = PEAK_WEIGHT_DENSITY) -> WorkloadCost:
    """ESTIMATED cost of a workload given only its layer shapes (clearly an estimate).

    ``shapes``: dicts with ``name``, ``K``, ``N`` and optionally ``vectors`` (positions per
    inference, conv layers), ``planes``, ``slices``, ``input_bits``, ``output_bits``.
    Events come from the mapping and the assumed input / weight densities (see
    :func:`estimate_events`); weight-reload writes from :func:`reload_weight_writes`.
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
    w = reload_weight_writes(card, maps, batch)
    if w:
        total_cells = sum(mp["K"] * mp["columns"] for mp in maps)
        for (_, ev, mp) in items:
            ev["weight_writes"] = w * mp["K"] * mp["columns"] / total_cells
    return workload_cost(card, items, batch=batch)


def network_shapes(network, input_density: float = PEAK_INPUT_DENSITY,
                   weight_density: float = PEAK_WEIGHT_DENSITY) -> list[dict]:
    """Layer shapes of a ``networks.Network`` (its ``quantized_layers()``) for
    :func:`estimate_workload`: K, N, vectors, planes and buffer bits from the input encoding,
    slices from the weight kind. Binary ({-1,+1}) inputs or weights are never zero, so
    their density is 1 whatever is assumed."""
    from .encoding import parse_encoding

    out = []
    for l in network.quantized_layers():
        wk = str(getattr(l, "weight_kind", "ternary"))
        asym = (1.0, 1.0, 1.0, 1.0) if wk == "asym_ternary" else None
        enc = parse_encoding(l.encoding, asym)
        slices, w_max = 1, 1
        if wk.startswith("signed"):
            k = int(wk[len("signed"):])
            slices, w_max = k, 2 ** (k - 1)
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


# --------------------------------------------------------------------------------------
# imcsim info CARD
# --------------------------------------------------------------------------------------

_FIGURE_RE = None


def _parse_figures(text: str) -> dict[str, float]:
    """Figures named in free text: ``114 TOPS``, ``0.9 W``, ``127 TOPS/W``, ``1.96 mm2``,
    ``58 TOPS/mm2`` (first occurrence of each unit)."""
    import re
    global _FIGURE_RE
    if _FIGURE_RE is None:
        _FIGURE_RE = re.compile(
            r"(\d+(?:\.\d+)?)\s*(TOPS/W|TOPS/mm2|TOPS/mm\^2|TOPS|mW|W|mm2|mm\^2)(?![\w/])")
    unit_key = {"TOPS/W": "tops_per_watt", "TOPS/mm2": "tops_per_mm2", "TOPS/mm^2": "tops_per_mm2",
                "TOPS": "tops", "W": "power_w", "mW": "power_w", "mm2": "area_mm2", "mm^2": "area_mm2"}
    out: dict[str, float] = {}
    for num, unit in _FIGURE_RE.findall(str(text)):
        key = unit_key[unit]
        if key not in out:
            out[key] = float(num) * (1e-3 if unit == "mW" else 1.0)
    return out


def paper_figures(card) -> dict[str, float]:
    """The paper's headline figures as the card states them, for comparison.

    Read from the card's ``references`` entry ``headline`` (free text such as
    ``"paper: 114 TOPS, 0.9 W, 1.96 mm2"``) or else from its description, after the words
    ``paper's`` up to the end of that sentence. TOPS/W and TOPS/mm2 missing there are
    derived from the others (key ``derived`` lists them).
    """
    refs = getattr(card, "references", None) or {}
    text = ""
    if isinstance(refs, dict):
        for k, v in refs.items():
            if str(k).lower() in ("headline", "headline_figures", "paper_figures"):
                text = str(v.get("value", v) if isinstance(v, dict) else v)
    if not text:
        desc = str(getattr(card, "description", "") or "")
        i = desc.find("paper's ")
        if i >= 0:
            rest = desc[i + len("paper's "):]
            j = rest.find(". ")
            text = rest if j < 0 else rest[:j]
    out = _parse_figures(text) if text else {}
    derived = []
    if "tops" in out and "power_w" in out and "tops_per_watt" not in out:
        out["tops_per_watt"] = out["tops"] / out["power_w"]
        derived.append("tops_per_watt")
    if "tops" in out and "area_mm2" in out and "tops_per_mm2" not in out:
        out["tops_per_mm2"] = out["tops"] / out["area_mm2"]
        derived.append("tops_per_mm2")
    if derived:
        out["derived"] = derived
    return out


def format_info(card) -> str:
    """Text of ``imcsim info CARD``: peak TOPS, power, TOPS/W, TOPS/mm2, area, paper figures."""
    import textwrap

    pf = peak_figures(card)
    paper = paper_figures(card)
    derived = paper.pop("derived", [])
    name = getattr(card, "name", "card")
    digital = architecture(card) == "digital"
    lines = [f"{name}"]
    desc = str(getattr(card, "description", "") or "").strip()
    if desc:
        lines += textwrap.wrap(" ".join(desc.split()), 88, initial_indent="  ", subsequent_indent="  ")
    T, R, C = int(_v(card, "chip.tiles")), int(_v(card, "tile.rows")), int(_v(card, "tile.columns"))
    node, vdd = float(_v(card, "technology.node_nm")), float(_v(card, "technology.vdd"))
    lines.append("")
    if digital:
        lines.append(
            f"  digital near-memory, {node:g} nm, {vdd:g} V: {T} tiles of {R}x{C} weights, "
            f"{int(_v(card, 'digital.macs_per_cycle'))} MAC units per tile, "
            f"cycle {float(_v(card, 'digital.cycle_ns')):g} ns")
        lines.append(f"  energy per tile cycle {pf.energy_per_access_pj:.4g} pJ")
    else:
        lines.append(
            f"  in-memory ({_v(card, 'cell.kind')} cells), {node:g} nm, {vdd:g} V: {T} tiles of "
            f"{R}x{C}, L = {int(_v(card, 'tile.rows_per_access'))} rows per access, "
            f"{_v(card, 'adc.sensing')} sensing, {int(_v(card, 'adc.bits'))}-bit "
            f"{_v(card, 'adc.kind')} ADC per {int(_v(card, 'adc.share'))} column(s)")
        lines.append(f"  access time {pf.access_time_ns:.4g} ns, energy per tile access "
                     f"{pf.energy_per_access_pj:.4g} pJ")
    lines[-2:-1] = textwrap.wrap(lines[-2].strip(), 88, initial_indent="  ", subsequent_indent="    ")
    lines.append("")
    rows = [
        ("peak throughput", "TOPS", pf.tops, "tops"),
        ("power at peak", "W", pf.power_w, "power_w"),
        ("energy efficiency", "TOPS/W", pf.tops_per_watt, "tops_per_watt"),
        ("area", "mm2", pf.area_mm2, "area_mm2"),
        ("area efficiency", "TOPS/mm2", pf.tops_per_mm2, "tops_per_mm2"),
    ]
    head = f"  {'figure':<20}{'unit':<10}{'imcsim':>10}"
    if paper:
        head += f"{'paper':>11}{'ratio':>8}"
    lines.append(head)
    for label, unit, val, key in rows:
        s = f"  {label:<20}{unit:<10}{val:>10.4g}"
        if paper:
            ref = paper.get(key)
            if ref:
                mark = "*" if key in derived else " "
                s += f"{ref:>10.4g}{mark}{val / ref:>8.3f}"
            else:
                s += f"{'-':>10} "
        lines.append(s)
    if derived:
        lines.append("  * derived from the paper's other figures")
    lines.append("")
    what = "cycle" if digital else "access"
    lines.append(f"  energy per tile {what} [pJ]: " + ", ".join(
        f"{k} {v:.4g}" for k, v in pf.energy_breakdown_pj.items() if v))
    lines.append("  area [mm2]: " + ", ".join(f"{k} {v:.4g}" for k, v in pf.area_breakdown_mm2.items()))
    lines.append("  leakage: {:.4g} mW per tile".format(float(_v(card, "tile.leakage_mw"))))
    lines.append("")
    lines += textwrap.wrap("assumed at peak: " + pf.assumptions, 88, initial_indent="  ",
                           subsequent_indent="    ")
    return "\n".join(lines)

"""Hardware cards: named, sourced, validated parameter sets for an IMC chip.

A card is a YAML file whose every leaf is ``{value: ..., source: "..."}``. The source
starts with ``paper:`` (reference + table/figure), ``derived:`` (with the arithmetic) or
``assumption:`` (with the reasoning). Values are addressed by dotted parameter paths
(``adc.bits``, ``cell.mismatch_sigma``, ...); :data:`SCHEMA` lists every path with its
type, unit, allowed range and meaning (see :func:`parameter_table`).

A loaded :class:`Card` is immutable; :meth:`Card.replace` returns a new validated card.
Every bad input raises :class:`CardError` (a ``ValueError``) whose one-line message names
the card file (or ``override``), the parameter path and what was expected.
"""
from __future__ import annotations

import copy
import difflib
import math
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from device_models import safe_yaml

__all__ = [
    "Card", "CardError", "Param", "SCHEMA", "SECTIONS", "SOURCE_PREFIXES",
    "load_card", "list_cards", "parameter_table", "card_from_dict", "format_parameter_table",
]

SOURCE_PREFIXES = ("paper:", "derived:", "assumption:", "fitted:")
TOP_LEVEL = ("name", "description", "references", "paper_figures")
#: keys of one ``paper_figures`` entry (``conditions`` and ``kind`` optional)
FIGURE_KEYS = ("name", "unit", "value", "source", "conditions", "kind")
#: figure names ``imcsim info`` can compute, with their units
FIGURE_UNITS = {"tops": "TOPS", "power_w": "W", "tops_per_watt": "TOPS/W", "area_mm2": "mm2",
                "tops_per_mm2": "TOPS/mm2", "energy_per_op_fj": "fJ/op"}


class CardError(ValueError):
    """A hardware card (file or override) is invalid.

    The message is one line: ``<file or override>: <parameter path>: expected ..., got ...``.
    """

    def __init__(self, where: str, path: str, expectation: str):
        self.where = where
        self.param_path = path
        self.expectation = expectation
        msg = f"{where}: {path}: {expectation}" if path else f"{where}: {expectation}"
        super().__init__(msg)


# --------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One parameter path of the card schema."""
    path: str
    type: str          #: "float", "int", "bool", "enum", "float|null", "int|null", "floatlist|null"
    unit: str          #: unit in brackets in docs ("1" for dimensionless, "" for none)
    allowed: str       #: human-readable allowed range / values
    description: str
    lo: float | None = None          #: lower bound
    lo_open: bool = False            #: lower bound excluded
    hi: float | None = None          #: upper bound (inclusive)
    choices: tuple = ()              #: enum values
    split_bounds: bool = False       #: report lo and hi violations separately (">= lo" / "<= hi")

    def check(self, value: Any) -> tuple[Any, str | None]:
        """Return ``(normalized_value, None)`` or ``(value, 'expected ..., got ...')``."""
        nullable = self.type.endswith("|null")
        base = self.type.split("|")[0]
        if value is None:
            if nullable:
                return None, None
            return value, f"expected {self._expect()}, got null"
        if base == "floatlist":
            if not isinstance(value, (list, tuple)) or not value:
                return value, f"expected {self._expect()}, got {value!r}"
            out = []
            for v in value:
                if isinstance(v, str) and _FLOAT_RE.match(v.strip()):
                    v = float(v)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    return value, f"expected {self._expect()}, got {value!r}"
                out.append(float(v))
            return tuple(out), None
        if base == "bool":
            if isinstance(value, bool):
                return value, None
            return value, f"expected true or false, got {value!r}"
        if base == "enum":
            if isinstance(value, str) and value in self.choices:
                return value, None
            close = difflib.get_close_matches(str(value), self.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return value, f"expected one of {', '.join(self.choices)}, got {value!r}{hint}"
        if isinstance(value, bool):
            return value, f"expected {self._expect()}, got {value!r}"
        if base == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                return value, f"expected {self._expect()}, got {value!r}"
        elif base == "float":
            if isinstance(value, int):
                value = float(value)
            elif isinstance(value, str) and _FLOAT_RE.match(value.strip()):
                value = float(value)   # YAML 1.1 reads 1e-5 (no dot) as a string
            if not isinstance(value, float) or not math.isfinite(value):
                return value, f"expected {self._expect()}, got {value!r}"
        if self.lo is not None:
            if value < self.lo or (self.lo_open and value == self.lo):
                return value, f"expected {self._expect(side='lo')}, got {value!r}"
        if self.hi is not None and value > self.hi:
            return value, f"expected {self._expect(side='hi')}, got {value!r}"
        return value, None

    def _expect(self, side: str = "") -> str:
        base = self.type.split("|")[0]
        noun = {"int": "an integer", "float": "a number",
                "floatlist": "a list of numbers"}.get(base, base)
        parts = [noun]
        if self.split_bounds and side == "hi":
            parts.append(f"<= {_fmt(self.hi)}")
        elif self.split_bounds and self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}")
        elif self.lo is not None and self.hi is not None:
            lo = _fmt(self.lo)
            parts.append(f"in {'(' if self.lo_open else '['}{lo}, {_fmt(self.hi)}]")
        elif self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}")
        s = " ".join(parts)
        if self.type.endswith("|null"):
            s += " or null"
        return s


_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _p(path, type_, unit, allowed, description, **kw) -> Param:
    return Param(path, type_, unit, allowed, description, **kw)


_NONNEG = dict(lo=0.0)
_POS = dict(lo=0.0, lo_open=True)

#: Largest tile side [cells] (tile.rows, tile.columns): SRAM crossbars have hundreds to a few
#: thousand; the bound keeps per-column state (ADC offsets, tables) within memory.
MAX_TILE_DIM = 65536

#: Every parameter path, in card order. (path -> Param)
SCHEMA: dict[str, Param] = {p.path: p for p in [
    _p("technology.node_nm", "float", "nm", "> 0", "process node", **_POS),
    _p("technology.vdd", "float", "V", "> 0", "supply voltage", **_POS),
    _p("technology.temperature_k", "float", "K", ">= 0",
       "temperature of the thermal (kT/C) noise; 0 switches it off", **_NONNEG),
    _p("chip.architecture", "enum", "", "imc | digital",
       "in-memory crossbar, or digital near-memory baseline", choices=("imc", "digital")),
    _p("chip.tiles", "int", "", ">= 1", "tiles on the chip", lo=1),
    _p("chip.allow_reload", "bool", "", "true | false",
       "a network needing more tiles runs in rounds with weight reloads"),
    _p("chip.pipeline", "bool", "", "true | false",
       "layers pipelined (latency = slowest layer) or in sequence"),
    _p("chip.global_area_mm2", "float", "mm2", ">= 0",
       "global buffers, control, interconnect", **_NONNEG),
    _p("chip.buffer_energy_pj_per_bit", "float", "pJ/bit", ">= 0",
       "input/output buffer access per bit", **_NONNEG),
    _p("chip.interconnect_energy_pj_per_bit", "float", "pJ/bit", ">= 0",
       "tile-to-tile / tile-to-buffer transfer per bit", **_NONNEG),
    _p("cell.kind", "enum", "", "ternary | xnor",
       "TiM ternary processing cell or binary XNOR cell", choices=("ternary", "xnor")),
    _p("cell.mismatch_sigma", "float", "1", ">= 0",
       "relative sigma of a cell's discharge strength, per rail, static", **_NONNEG),
    _p("cell.row_gain_sigma", "float", "1", ">= 0",
       "relative sigma of a row's drive (wordline driver and pulse width), common to all "
       "columns of the row, static", **_NONNEG),
    _p("cell.current_corner", "float", "1", "> -1",
       "relative deviation of every cell's current from nominal (supply/temperature corner); 0 = nominal",
       lo=-1.0, lo_open=True),
    _p("cell.cap_mismatch_sigma", "float", "1", ">= 0",
       "relative sigma of a cell's capacitor (charge domain), static", **_NONNEG),
    _p("cell.fault_rate", "float", "1", "[0, 1]", "fraction of stuck cells", lo=0.0, hi=1.0),
    _p("cell.fault_value", "enum", "", "zero | plus | minus | random",
       "weight a stuck cell reads (random: uniform over the cell's levels)",
       choices=("zero", "plus", "minus", "random")),
    _p("cell.area_um2", "float", "um2", "> 0", "area of one cell", **_POS),
    _p("cell.write_energy_pj", "float", "pJ", ">= 0", "writing one cell", **_NONNEG),
    _p("cell.discharge_energy_pj", "float", "pJ", ">= 0",
       "one discharging cell in one access", **_NONNEG),
    _p("tile.rows", "int", "", f"[1, {MAX_TILE_DIM}]", "R, cells per column", lo=1, hi=MAX_TILE_DIM,
       split_bounds=True),
    _p("tile.columns", "int", "", f"[1, {MAX_TILE_DIM}]", "C, cells per row", lo=1, hi=MAX_TILE_DIM,
       split_bounds=True),
    _p("tile.rows_per_access", "int", "", "[1, tile.rows]", "L, rows active at once", lo=1),
    _p("tile.periphery_area_mm2", "float", "mm2", ">= 0",
       "drivers, precharge, shift-add, control of one tile (ADCs excluded)", **_NONNEG),
    _p("tile.leakage_mw", "float", "mW", ">= 0", "leakage of one tile", **_NONNEG),
    _p("tile.precharge_ns", "float", "ns", ">= 0", "precharge phase of one access", **_NONNEG),
    _p("tile.evaluate_ns", "float", "ns", ">= 0",
       "evaluate (discharge) phase of one access", **_NONNEG),
    _p("tile.write_ns_per_row", "float", "ns", ">= 0", "time to write one row of weights",
       **_NONNEG),
    _p("wordline.energy_pj", "float", "pJ", ">= 0",
       "one active read wordline in one access", **_NONNEG),
    _p("bitline.precharge_energy_pj", "float", "pJ", ">= 0",
       "precharging one column rail after an access that fired a wordline", **_NONNEG),
    _p("bitline.divider_energy_pj", "float", "pJ", ">= 0",
       "static energy of a resistive-divider bitline per access and column, per unit of "
       "n*m/(n+m) (n, m cells pulling each way); 0 for a precharged (discharge) bitline",
       **_NONNEG),
    _p("bitline.domain", "enum", "", "current | charge",
       "current-mode discharge or charge sharing on per-cell capacitors",
       choices=("current", "charge")),
    _p("bitline.cell_swing_mv", "float", "mV", "> 0",
       "rail swing of one discharging cell (one cell's charge share); one cell [cells]", **_POS),
    _p("bitline.sense_margin_mv", "float", "mV", ">= 0 and < 1000 vdd",
       "lowest rail voltage at which discharge and sensing still work; headroom = vdd - this",
       **_NONNEG),
    _p("bitline.saturation", "enum", "", "none | clip | exponential",
       "transfer from weighted count to analog value (current domain)",
       choices=("none", "clip", "exponential")),
    _p("bitline.sample_cap_ff", "float", "fF", "> 0",
       "capacitance the converted voltage is sampled on (kT/C noise)", **_POS),
    _p("bitline.read_noise_sigma", "float", "cell swing", ">= 0",
       "read noise per discharging cell per access (rail sigma = this * sqrt(weighted count))",
       **_NONNEG),
    _p("adc.sensing", "enum", "", "dual | differential",
       "each rail unsigned, or BL-BLB signed", choices=("dual", "differential")),
    _p("adc.kind", "enum", "", "flash | sar | ramp", "architecture (latency, FOM)",
       choices=("flash", "sar", "ramp")),
    _p("adc.bits", "int", "bit", ">= 1 (at most 24)", "resolution", lo=1, hi=24,
       split_bounds=True),
    _p("adc.levels", "int|null", "", ">= 2 or null",
       "override of the number of levels (null: from bits and format)", lo=2),
    _p("adc.signed_format", "enum", "", "sign_magnitude | twos_complement",
       "signed conversion (differential sensing)", choices=("sign_magnitude", "twos_complement")),
    _p("adc.range", "enum", "", "full | clip | calibrated",
       "input range (full: the rows present in the row group)",
       choices=("full", "clip", "calibrated")),
    _p("adc.grid", "enum", "", "uniform | count_aligned | custom",
       "placement of references and code values", choices=("uniform", "count_aligned", "custom")),
    _p("adc.thresholds", "floatlist|null", "cells", "levels - 1 ascending, or null",
       "references of a custom grid"),
    _p("adc.code_values", "floatlist|null", "cells", "levels values, or null",
       "reconstruction value of each code of a custom grid"),
    _p("adc.follow_saturation", "bool", "", "true | false",
       "references placed on the saturated bitline curve (dual sensing; no effect on differential)"),
    _p("adc.clip_count", "float", "cells", "> 0",
       "largest magnitude represented when range = clip", **_POS),
    _p("adc.offset_sigma_mv", "float", "mV", ">= 0",
       "static input-referred offset of one comparator (flash: each of levels - 1; SAR, ramp: one)",
       **_NONNEG),
    _p("adc.noise_sigma_mv", "float", "mV", ">= 0",
       "comparator input noise per conversion (count-independent, with kT/C)", **_NONNEG),
    _p("adc.gain_sigma", "float", "1", ">= 0", "static per-ADC relative gain error", **_NONNEG),
    _p("adc.share", "int", "", ">= 1", "columns sharing one ADC (conversions serialized)", lo=1),
    _p("adc.energy_model", "enum", "", "card | walden | schreier | circuit",
       "how energy per conversion is obtained (device_models.adc_cost)",
       choices=("card", "walden", "schreier", "circuit")),
    _p("adc.energy_pj", "float", "pJ", ">= 0", "energy per conversion (energy_model = card)",
       **_NONNEG),
    _p("adc.walden_fom_fj", "float", "fJ/conv-step", "> 0", "Walden figure of merit", **_POS),
    _p("adc.schreier_fom_db", "float", "dB", "> 0",
       "Schreier figure of merit (SNDR + 10 log10(BW/P))", **_POS),
    _p("adc.enob", "float|null", "bit", "> 0 or null", "effective bits (null: bits)", **_POS),
    _p("adc.step_ns", "float", "ns", ">= 0",
       "one conversion step (flash: 1 step, SAR: bits + 1 steps, ramp: levels steps)", **_NONNEG),
    _p("adc.area_um2", "float", "um2", ">= 0", "one ADC (area_model = card)", **_NONNEG),
    _p("adc.area_model", "enum", "", "card | circuit",
       "how the area of one ADC is obtained (device_models.adc_cost)", choices=("card", "circuit")),
    _p("adc.reference_v", "float", "V", "> 0", "reference voltage of the SAR capacitor DAC",
       **_POS),
    _p("adc.comparator_energy_fj", "float", "fJ", ">= 0", "one comparator decision",
       **_NONNEG),
    _p("adc.tap_energy_fj", "float", "fJ", ">= 0",
       "reference-ladder share of one flash comparator per conversion", **_NONNEG),
    _p("adc.logic_energy_fj", "float", "fJ", ">= 0",
       "encoder / SAR register and logic per output bit per conversion", **_NONNEG),
    _p("adc.dac_unit_cap_ff", "float", "fF", ">= 0", "unit capacitor of the SAR DAC",
       **_NONNEG),
    _p("adc.comparator_area_um2", "float", "um2", ">= 0", "one comparator", **_NONNEG),
    _p("adc.tap_area_um2", "float", "um2", ">= 0", "one reference-ladder tap (flash)",
       **_NONNEG),
    _p("adc.logic_area_um2", "float", "um2", ">= 0", "encoder / SAR logic per output bit",
       **_NONNEG),
    _p("adc.dac_unit_area_um2", "float", "um2", ">= 0",
       "one unit capacitor of the SAR DAC with its switch", **_NONNEG),
    _p("digital.accumulate_energy_pj", "float", "pJ", ">= 0",
       "one shift-and-add of one column partial sum", **_NONNEG),
    _p("digital.mac_energy_pj", "float", "pJ", ">= 0",
       "one digital ternary MAC (digital architecture)", **_NONNEG),
    _p("digital.sram_read_energy_pj_per_bit", "float", "pJ/bit", ">= 0",
       "reading weights from SRAM (digital architecture)", **_NONNEG),
    _p("digital.macs_per_cycle", "int", "", ">= 1", "MAC units per tile (digital architecture)",
       lo=1),
    _p("digital.cycle_ns", "float", "ns", "> 0", "clock period of the digital MAC array", **_POS),
    _p("peak.input_density", "float", "1", "[0, 1]",
       "peak rule: probability that a ternary input is nonzero (binary inputs always drive)",
       lo=0.0, hi=1.0),
    _p("peak.weight_density", "float", "1", "[0, 1]",
       "peak rule: probability that a ternary weight is nonzero (binary cells always conduct)",
       lo=0.0, hi=1.0),
    _p("peak.conditions_known", "bool", "", "true | false",
       "the paper states the data statistics of its TOPS/W (else info gives a range)"),
    _p("peak.density_low", "float", "1", "[0, 1]",
       "peak rule: lowest plausible input/weight density when the conditions are unknown",
       lo=0.0, hi=1.0),
    _p("peak.density_high", "float", "1", "[0, 1]",
       "peak rule: highest plausible input/weight density when the conditions are unknown",
       lo=0.0, hi=1.0),
    _p("peak.include_buffers", "bool", "", "true | false",
       "peak rule: input-buffer reads inside the paper's power boundary (system) or not (macro)"),
]}

#: Sections of a card, in order, with their parameter names.
SECTIONS: dict[str, list[str]] = {}
for _path in SCHEMA:
    _sec, _key = _path.split(".", 1)
    SECTIONS.setdefault(_sec, []).append(_key)


def parameter_table() -> list[tuple[str, str, str, str, str]]:
    """Every parameter path as ``(path, type, unit, allowed, description)``."""
    return [(p.path, p.type.replace("|", " or "), p.unit, p.allowed, p.description)
            for p in SCHEMA.values()]


def format_parameter_table(markdown: bool = False) -> str:
    """The parameter table as printable text (plain columns, or a markdown table)."""
    rows = parameter_table()
    if markdown:
        out = ["| path | type | unit | allowed | meaning |", "|---|---|---|---|---|"]
        out += [f"| `{p}` | {t} | {u or '-'} | {a.replace('|', '&#124;')} | {d} |"
                for p, t, u, a, d in rows]
        return "\n".join(out)
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for p, t, u, a, d in rows:
        out.append(f"{p:<{w[0]}}  {t:<{w[1]}}  {u:<{w[2]}}  {a:<{w[3]}}  {d}")
    return "\n".join(out)


# --------------------------------------------------------------------------------------
# cross-field checks
# --------------------------------------------------------------------------------------

def _cross_checks(v: Callable[[str], Any]) -> list[tuple[str, str]]:
    """Checks between fields; returns [(path, expectation)] of violations."""
    errs: list[tuple[str, str]] = []
    if v("tile.rows_per_access") > v("tile.rows"):
        errs.append(("tile.rows_per_access",
                     f"expected an integer in [1, tile.rows = {v('tile.rows')}], "
                     f"got {v('tile.rows_per_access')}"))
    if v("cell.kind") == "xnor" and v("cell.fault_value") == "zero":
        errs.append(("cell.fault_value",
                     "expected plus, minus or random for an xnor cell (it stores only -1/+1), "
                     "got 'zero'"))
    levels = v("adc.levels")
    if (levels is not None and v("adc.sensing") == "differential"
            and v("adc.signed_format") == "sign_magnitude" and levels % 2 == 0):
        errs.append(("adc.levels",
                     "expected an odd number of levels for differential sign_magnitude "
                     f"conversion (symmetric about 0), got {levels}"))
    if levels is not None and levels > 2 ** v("adc.bits"):
        errs.append(("adc.levels",
                     f"expected at most 2**adc.bits = {2 ** v('adc.bits')} levels (the output "
                     f"code has adc.bits bits; set adc.levels: null to take the level count "
                     f"from adc.bits), got {levels}"))
    if v("adc.sensing") == "differential" and v("adc.signed_format") == "sign_magnitude" \
            and levels is None and v("adc.bits") < 2:
        errs.append(("adc.bits",
                     "expected an integer >= 2 for differential sign_magnitude conversion "
                     "(2**bits - 1 levels), got 1"))
    errs += _physics_checks(v)
    if v("peak.density_low") > v("peak.density_high"):
        errs.append(("peak.density_low",
                     f"expected at most peak.density_high = {v('peak.density_high')}, "
                     f"got {v('peak.density_low')}"))
    if v("chip.architecture") == "imc":
        if v("tile.precharge_ns") + v("tile.evaluate_ns") + v("adc.step_ns") <= 0:
            errs.append(("tile.evaluate_ns",
                         "expected tile.precharge_ns + tile.evaluate_ns + adc.step_ns > 0 "
                         "(an access takes time), got 0"))
    return errs


def _physics_checks(v: Callable[[str], Any]) -> list[tuple[str, str]]:
    """Bitline-domain and ADC-grid rules (device_models.bitline, device_models.adc)."""
    errs: list[tuple[str, str]] = []
    vdd_mv = 1000.0 * v("technology.vdd")
    if v("bitline.sense_margin_mv") >= vdd_mv:
        errs.append(("bitline.sense_margin_mv",
                     f"expected a number < 1000 x technology.vdd = {vdd_mv:g} mV (the rail needs "
                     f"headroom), got {v('bitline.sense_margin_mv')!r}"))
    if v("bitline.domain") == "charge":
        for path, ok, what in (("cell.mismatch_sigma", 0.0, "0 (charge domain: capacitor mismatch is "
                                "cell.cap_mismatch_sigma)"),
                               ("bitline.read_noise_sigma", 0.0, "0 (charge domain: its noise is kT/C "
                                "and the comparator's)"),
                               ("cell.current_corner", 0.0, "0 (charge domain: no cell current)")):
            if v(path) != ok:
                errs.append((path, f"expected {what}, got {v(path)!r}"))
        if v("bitline.saturation") != "none":
            errs.append(("bitline.saturation", "expected none in the charge domain (linear charge "
                         f"sharing does not saturate), got {v('bitline.saturation')!r}"))
    elif v("cell.cap_mismatch_sigma") != 0:
        errs.append(("cell.cap_mismatch_sigma", "expected 0 in the current domain (transistor "
                     f"mismatch is cell.mismatch_sigma), got {v('cell.cap_mismatch_sigma')!r}"))
    thr, vals = v("adc.thresholds"), v("adc.code_values")
    if v("adc.grid") == "custom":
        try:
            from .adc import level_count
            n = level_count(v("adc.sensing"), v("adc.bits"), v("adc.signed_format"), v("adc.levels"))
        except ValueError:
            return errs
        if thr is None or len(thr) != n - 1 or any(b <= a for a, b in zip(thr, thr[1:])):
            errs.append(("adc.thresholds", f"expected {n - 1} ascending values for a custom grid of "
                         f"{n} levels (to change the levels, also set adc.grid: count_aligned or "
                         f"uniform), got {list(thr) if thr is not None else None!r}"))
        if vals is None or len(vals) != n:
            errs.append(("adc.code_values", f"expected {n} values for a custom grid of {n} levels, "
                         f"got {list(vals) if vals is not None else None!r}"))
    else:
        for path, val in (("adc.thresholds", thr), ("adc.code_values", vals)):
            if val is not None:
                errs.append((path, f"expected null unless adc.grid is custom, got {list(val)!r}"))
    return errs


# --------------------------------------------------------------------------------------
# the Card
# --------------------------------------------------------------------------------------

class Card:
    """An immutable, validated hardware card.

    ``card[path]`` / ``card.get(path)`` give the value of a dotted parameter path,
    ``card.source(path)`` its source text. ``card.replace(**{path: value})`` returns a new
    validated card (the source of a replaced value becomes ``assumption: override ...``).
    """

    __slots__ = ("_values", "_sources", "_name", "_path", "_description", "_references",
                 "_paper_figures")

    def __init__(self, values: dict, sources: dict, name: str, path: str | None = None,
                 description: str = "", references: dict | None = None,
                 paper_figures: list | None = None):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_sources", dict(sources))
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_description", description)
        object.__setattr__(self, "_references", dict(references or {}))
        object.__setattr__(self, "_paper_figures",
                           tuple(dict(f) for f in (paper_figures or ())))

    def __setattr__(self, key, value):
        raise AttributeError("Card is immutable; use card.replace(**{'path': value})")

    def __delattr__(self, key):
        raise AttributeError("Card is immutable")

    def __reduce__(self):
        return (Card, (self._values, self._sources, self._name, self._path,
                       self._description, self._references, list(self._paper_figures)))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    # --- access ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def description(self) -> str:
        return self._description

    @property
    def references(self) -> dict:
        return dict(self._references)

    @property
    def paper_figures(self) -> list[dict]:
        """The paper's figures the card states: dicts with ``name``, ``unit``, ``value``,
        ``source``, ``conditions`` and ``kind`` (``prediction`` or ``fitted``)."""
        return [dict(f) for f in self._paper_figures]

    def _where(self) -> str:
        return os.path.basename(self._path) if self._path else (self._name or "card")

    def _lookup(self, path: str) -> str:
        if not isinstance(path, str) or path not in self._values:
            raise CardError(self._where(), str(path), _unknown_path_msg(str(path)))
        return path

    def __getitem__(self, path: str):
        return self._values[self._lookup(path)]

    def get(self, path: str, default: Any = ...):
        """Value of ``path``; an unknown path raises CardError unless a default is given."""
        if default is not ... and path not in self._values:
            return default
        return self[path]

    def source(self, path: str) -> str:
        return self._sources[self._lookup(path)]

    def __contains__(self, path) -> bool:
        return path in self._values

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self):
        return list(self._values)

    def items(self):
        return list(self._values.items())

    def sources(self) -> dict[str, str]:
        """Flat map path -> source text."""
        return dict(self._sources)

    def flat(self) -> dict[str, Any]:
        """Flat map path -> value."""
        return dict(self._values)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Card):
            return NotImplemented
        return (self._values == other._values and self._sources == other._sources
                and self._name == other._name and self._description == other._description
                and self._references == other._references
                and self._paper_figures == other._paper_figures)

    def __hash__(self):
        return hash((self._name, tuple(sorted((k, repr(v)) for k, v in self._values.items()))))

    def __repr__(self) -> str:
        return f"Card(name={self._name!r}, path={self._path!r})"

    # --- derive ---------------------------------------------------------------------
    def replace(self, **overrides) -> "Card":
        """New validated card with the given dotted paths changed.

        ``card.replace(**{"adc.bits": 3})``. A value may also be given as
        ``{"value": v, "source": "..."}`` to record its source; otherwise the source is
        ``assumption: set by override (card value was <old value>)``.
        """
        values = dict(self._values)
        sources = dict(self._sources)
        if ("adc.bits" in overrides and "adc.levels" not in overrides
                and self._values.get("adc.levels") is not None):
            # a fixed level count belongs to the card's converter at its own bits; a new
            # resolution is a new converter, whose level count follows adc.bits
            values["adc.levels"] = None
            sources["adc.levels"] = ("derived: null because adc.bits was overridden (card "
                                     f"value was {self._values['adc.levels']!r} levels)")
        for path, new in overrides.items():
            if path not in SCHEMA:
                raise CardError("override", path, _unknown_path_msg(path))
            src = None
            if isinstance(new, dict) and set(new) <= {"value", "source"} and "value" in new:
                src = new.get("source")
                new = new["value"]
            val, err = SCHEMA[path].check(new)
            if err:
                raise CardError("override", path, err)
            if src is None:
                src = f"assumption: set by override (card value was {self._values[path]!r})"
            elif not str(src).startswith(SOURCE_PREFIXES):
                raise CardError("override", path,
                                "expected a source starting with paper:, derived: or "
                                f"assumption:, got {src!r}")
            values[path] = val
            sources[path] = str(src)
        for p, msg in _cross_checks(values.__getitem__):
            raise CardError("override", p, msg)
        return Card(values, sources, self._name, self._path, self._description,
                    self._references, list(self._paper_figures))

    # --- export ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Nested plain values (no sources): {section: {key: value}}."""
        out: dict = {}
        for path, val in self._values.items():
            sec, key = path.split(".", 1)
            out.setdefault(sec, {})[key] = list(val) if isinstance(val, tuple) else copy.deepcopy(val)
        return out

    def to_source_dict(self) -> dict:
        """The card file structure: name, description, references, sections of {value, source}."""
        out: dict = {"name": self._name, "description": self._description,
                     "references": dict(self._references)}
        if self._paper_figures:
            out["paper_figures"] = [dict(f) for f in self._paper_figures]
        for path, val in self._values.items():
            sec, key = path.split(".", 1)
            out.setdefault(sec, {})[key] = {"value": list(val) if isinstance(val, tuple) else val,
                                            "source": self._sources[path]}
        return out

    def dump(self) -> str:
        """YAML text with values and sources; ``load_card(text) == card``."""
        return yaml.safe_dump(self.to_source_dict(), sort_keys=False, width=100,
                              allow_unicode=True)


def _unknown_path_msg(path: str) -> str:
    close = difflib.get_close_matches(path, list(SCHEMA), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown parameter path{hint}"


# --------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------

def _cards_dir() -> Path:
    return Path(str(resources.files("device_models.cards")))


def list_cards() -> list[str]:
    """Names of the shipped cards (files ``device_models/cards/*.yaml``)."""
    return sorted(p.stem for p in _cards_dir().glob("*.yaml"))


def card_from_dict(data: Any, where: str = "card", path: str | None = None) -> Card:
    """Validate a parsed card structure (``name``, ``description``, ``references``, sections
    of ``{value, source}`` leaves) and build a :class:`Card`. ``where`` names it in errors."""
    if not isinstance(data, dict):
        raise CardError(where, "", f"expected a mapping of card sections, got {type(data).__name__}")
    allowed_top = set(TOP_LEVEL) | set(SECTIONS)
    for key in data:
        if key not in allowed_top:
            close = difflib.get_close_matches(str(key), sorted(allowed_top), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CardError(where, str(key), f"unknown key{hint}; expected one of "
                            f"{', '.join(list(TOP_LEVEL) + list(SECTIONS))}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise CardError(where, "name", f"expected a non-empty string, got {name!r}")
    description = data.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise CardError(where, "description", f"expected a string, got {description!r}")
    references = data.get("references", {}) or {}
    if not isinstance(references, dict):
        raise CardError(where, "references", "expected a mapping of reference keys to text, "
                        f"got {type(references).__name__}")
    for k, v in references.items():
        if isinstance(v, (list, dict)):
            raise CardError(where, f"references.{k}", "expected the text of a reference, got a "
                            f"{type(v).__name__}")
    references = {str(k): str(v) for k, v in references.items()}
    paper_figures = _check_figures(data.get("paper_figures", []) or [], where)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for sec, keys in SECTIONS.items():
        block = data.get(sec)
        if block is None:
            raise CardError(where, sec, "missing section")
        if not isinstance(block, dict):
            raise CardError(where, sec, f"expected a mapping, got {type(block).__name__}")
        for key in block:
            if key not in keys:
                full = f"{sec}.{key}"
                raise CardError(where, full, _unknown_path_msg(full).replace(
                    "unknown parameter path", "unknown key"))
        for key in keys:
            full = f"{sec}.{key}"
            if key not in block:
                raise CardError(where, full, "missing key (every parameter needs "
                                "{value: ..., source: ...})")
            leaf = block[key]
            if not isinstance(leaf, dict) or "value" not in leaf or "source" not in leaf:
                raise CardError(where, full, "expected {value: ..., source: \"paper:|derived:|"
                                f"assumption: ...\"}}, got {leaf!r}")
            extra = set(leaf) - {"value", "source"}
            if extra:
                raise CardError(where, full, f"unknown key {sorted(extra)[0]!r} in leaf; "
                                "expected only value and source")
            src = leaf["source"]
            if not isinstance(src, str) or not src.strip().startswith(SOURCE_PREFIXES):
                raise CardError(where, full, "expected a source starting with paper:, derived: "
                                f"or assumption:, got {src!r}")
            val, err = SCHEMA[full].check(leaf["value"])
            if err:
                raise CardError(where, full, err)
            values[full] = val
            sources[full] = src.strip()
    for p, msg in _cross_checks(values.__getitem__):
        raise CardError(where, p, msg)
    return Card(values, sources, name, path, description, references, paper_figures)


def _check_figures(figs: Any, where: str) -> list[dict]:
    """Validate the ``paper_figures`` list: each entry a mapping with ``name`` (one of
    :data:`FIGURE_UNITS`), ``unit`` (its unit), a number ``value`` > 0, a ``source``
    starting with ``paper:`` or ``derived:``, optional ``conditions`` text and ``kind``
    (``prediction``, the default, or ``fitted``)."""
    if not isinstance(figs, list):
        raise CardError(where, "paper_figures", f"expected a list of figures, got {type(figs).__name__}")
    out = []
    for i, f in enumerate(figs):
        at = f"paper_figures[{i}]"
        if not isinstance(f, dict):
            raise CardError(where, at, f"expected a mapping, got {f!r}")
        extra = set(f) - set(FIGURE_KEYS)
        if extra:
            raise CardError(where, at, f"unknown key {sorted(extra)[0]!r}; expected "
                            f"{', '.join(FIGURE_KEYS)}")
        name = f.get("name")
        if name not in FIGURE_UNITS:
            raise CardError(where, f"{at}.name", f"expected one of {', '.join(FIGURE_UNITS)}, got {name!r}")
        if f.get("unit") != FIGURE_UNITS[name]:
            raise CardError(where, f"{at}.unit", f"expected {FIGURE_UNITS[name]!r} for {name}, "
                            f"got {f.get('unit')!r}")
        val = f.get("value")
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not val > 0:
            raise CardError(where, f"{at}.value", f"expected a number > 0, got {val!r}")
        src = f.get("source")
        if not isinstance(src, str) or not src.strip().startswith(("paper:", "derived:")):
            raise CardError(where, f"{at}.source", "expected a source starting with paper: or "
                            f"derived:, got {src!r}")
        kind = f.get("kind", "prediction")
        if kind not in ("prediction", "fitted"):
            raise CardError(where, f"{at}.kind", f"expected prediction or fitted, got {kind!r}")
        out.append({"name": name, "unit": f["unit"], "value": float(val),
                    "source": src.strip(), "conditions": str(f.get("conditions", "") or ""),
                    "kind": kind})
    return out


def load_card(name_or_path: "str | os.PathLike | Card") -> Card:
    """Load a card by shipped name (``tim_dnn_32nm``), by path to a YAML file, or from YAML
    text (as produced by :meth:`Card.dump`). A :class:`Card` is returned unchanged."""
    if isinstance(name_or_path, Card):
        return name_or_path
    if isinstance(name_or_path, dict):
        return card_from_dict(name_or_path, "card")
    text = None
    where = None
    file_path: str | None = None
    s = os.fspath(name_or_path)
    if isinstance(s, str) and "\n" in s:
        text, where = s, "card text"
    else:
        p = Path(s)
        candidates = []
        if p.suffix in (".yaml", ".yml") or os.sep in s or "/" in s:
            candidates.append(p)
            if p.suffix in (".yaml", ".yml") and p.name == s:   # bare "ideal.yaml"
                candidates.append(_cards_dir() / s)
        else:
            candidates.append(_cards_dir() / f"{s}.yaml")
            candidates.append(p)
        for c in candidates:
            if c.is_file():
                file_path = str(c)
                break
        if file_path is None:
            names = list_cards()
            close = difflib.get_close_matches(s, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CardError(s, "", f"no such card file or shipped card{hint}; shipped cards: "
                            f"{', '.join(names)}")
        where = os.path.basename(file_path)
        try:
            text = Path(file_path).read_text(encoding="utf-8")
        except OSError as e:
            raise CardError(where, "", f"cannot read the file ({e.strerror})") from None
        except UnicodeDecodeError as e:
            raise CardError(where, "", f"expected UTF-8 text, got byte 0x{e.object[e.start]:02x} "
                            f"at offset {e.start} (a binary file?)") from None
    data = _parse_yaml(text, where)
    if isinstance(data, dict) and "base" in data:
        data = _with_base(data, where, file_path)
    return card_from_dict(data, where, file_path)


def _parse_yaml(text: str, where: str):
    """The card's YAML: safe tags only, no duplicate keys, aliases bounded
    (:mod:`device_models.safe_yaml`); every problem a one-line CardError."""
    try:
        data, _ = safe_yaml.load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(e, "problem", "") or "")
        if isinstance(e, safe_yaml.YamlLimitError):
            raise CardError(where, "", f"{problem}{at}") from None
        if problem.startswith("duplicate key"):
            raise CardError(where, "", f"{problem}{at}; expected each key once") from None
        if isinstance(e, yaml.constructor.ConstructorError) and "tag" in problem:
            m = re.search(r"'([^']*)'", problem)
            tag = (m.group(1) if m else problem).replace("tag:yaml.org,2002:", "!!")
            raise CardError(where, "", f"unsupported YAML tag {tag!r}{at}; a card is plain YAML "
                            "(mappings, lists, numbers, strings), no !!python or other tags") from None
        raise CardError(where, "", f"expected valid YAML, got a syntax error{at}") from None
    return data
_LOADING_BASES: list = []   # base cards being loaded (a card cannot derive from itself)


def _with_base(data: dict, where: str, file_path: str | None) -> dict:
    """The full card structure of a card that starts from another: ``base: NAME_OR_PATH``
    (a shipped card, or a file relative to this one), then only the changed values, each a
    ``{value, source}`` leaf. The card must give its own ``name`` (not the base's) and
    ``description``; its ``references`` are added to the base's; the base's
    ``paper_figures`` describe the base's chip and are not inherited (give the derived
    card's own, if it has a paper)."""
    ref = data.get("base")
    if not isinstance(ref, str) or not ref.strip():
        raise CardError(where, "base", f"expected a card name or a card file path, got {ref!r}")
    for key in ("name", "description"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise CardError(where, key, f"expected a {key} of its own: a card with base: "
                            f"{ref} describes a different chip, got {data.get(key)!r}")
    base_ref = ref.strip()
    looks_like_path = base_ref.endswith((".yaml", ".yml")) or "/" in base_ref or os.sep in base_ref
    if looks_like_path and not os.path.isabs(base_ref) and file_path:
        base_ref = os.path.join(os.path.dirname(os.path.abspath(file_path)), base_ref)
    key = os.path.abspath(base_ref) if looks_like_path else base_ref
    if key in _LOADING_BASES or (file_path and key == os.path.abspath(file_path)):
        raise CardError(where, "base", f"expected a card that does not derive from itself, got "
                        f"{ref!r} (a cycle of base: references)")
    _LOADING_BASES.append(key)
    try:
        base = load_card(base_ref)
    except CardError as exc:
        raise CardError(where, "base", f"cannot load the base card {ref!r}: {exc}") from None
    finally:
        _LOADING_BASES.pop()
    if data["name"].strip() == base.name:
        raise CardError(where, "name", f"expected a name of its own, got the base's "
                        f"{base.name!r}")
    merged = base.to_source_dict()
    merged.pop("paper_figures", None)
    merged["name"] = data["name"]
    merged["description"] = data["description"]
    refs = dict(merged.get("references") or {})
    refs["base"] = (f"derived from card {base.name}"
                    + (f" ({base.path})" if base.path else "") + "; values not given here "
                    "are the base's, with the base's sources")
    own_refs = data.get("references") or {}
    if not isinstance(own_refs, dict):
        raise CardError(where, "references", "expected a mapping of reference keys to text, "
                        f"got {type(own_refs).__name__}")
    refs.update(own_refs)
    merged["references"] = refs
    for sec, block in data.items():
        if sec in ("base", "name", "description", "references"):
            continue
        if sec == "paper_figures" or sec not in SECTIONS:
            merged[sec] = block      # validated (or refused) by card_from_dict
            continue
        if not isinstance(block, dict):
            raise CardError(where, sec, f"expected a mapping, got {type(block).__name__}")
        for k, leaf in block.items():
            merged[sec][k] = leaf    # every changed value is a {value, source} leaf
    return merged

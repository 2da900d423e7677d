"""Peak figures of a chip (TOPS, power, TOPS/W, TOPS/mm2) and its area breakdown.

The peak rule follows the card's ``peak.*`` keys, which state the conditions under which
the paper measured its headline figures (data statistics, the power boundary); see
:func:`peak_figures` and docs/validation.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from imcsim.costs.prices import (
    _MW_TO_W,
    _OPS_PER_NS_TO_TOPS,
    _PJ_PER_NS_TO_MW,
    _UM2_TO_MM2,
    COMPONENTS,
    TERNARY_BITS,
    _v,
    access_time_ns,
    adc_area_um2,
    architecture,
    dynamic_energy,
    rails,
)

#: default densities of the shape-only estimates (``imcsim.costs.estimate``): probability
#: that a ternary input / weight is nonzero when nothing else is known
PEAK_INPUT_DENSITY = 0.5
PEAK_WEIGHT_DENSITY = 0.5


# --------------------------------------------------------------------------------------
# peak figures
# --------------------------------------------------------------------------------------

@dataclass
class PeakFigures:
    """Headline figures of a card at peak (the rule of docs/architecture.md; see :func:`peak_figures`)."""
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
    "tile.rows_per_access rows per access, one input plane; ternary inputs nonzero with "
    "probability peak.input_density, ternary weights with peak.weight_density (an XNOR "
    "cell's +-1 weight always conducts when its row is driven); L*d_in active wordlines, "
    "L*C*d_in*d_w conducting cells, and for a resistive-divider bitline C*(a-1)/4 units of "
    "n*m/(n+m) with a = L*d_in*d_w (random signs); input-buffer reads only if "
    "peak.include_buffers; 2 ops per MAC")
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
        adcs = T * (C * rails(card) / int(_v(card, "adc.share"))) * adc_area_um2(card) * _UM2_TO_MM2
    return {"cells": cells, "adc": adcs,
            "periphery": T * float(_v(card, "tile.periphery_area_mm2")),
            "global": float(_v(card, "chip.global_area_mm2"))}


def chip_area_mm2(card) -> float:
    return float(sum(area_breakdown(card).values()))


def peak_densities(card) -> tuple[float, float]:
    """(input, weight) nonzero probability of the peak rule: ``peak.input_density`` and
    ``peak.weight_density``; an XNOR cell stores +-1, so its weight density is 1 (every
    cell of a driven row conducts), whatever the card says."""
    d_in = float(_v(card, "peak.input_density"))
    if str(_v(card, "cell.kind")) == "xnor":
        return d_in, 1.0
    return d_in, float(_v(card, "peak.weight_density"))


def peak_events(card, input_density: float | None = None,
                weight_density: float | None = None) -> dict[str, float]:
    """Events of one tile access at peak (see :func:`peak_figures`)."""
    d_in, d_w = peak_densities(card)
    d_in = d_in if input_density is None else float(input_density)
    if str(_v(card, "cell.kind")) != "xnor":
        d_w = d_w if weight_density is None else float(weight_density)
    L, C, rl = int(_v(card, "tile.rows_per_access")), int(_v(card, "tile.columns")), rails(card)
    a = L * d_in * d_w          # conducting cells per column and access
    in_bits = 1 if str(_v(card, "cell.kind")) == "xnor" else TERNARY_BITS
    return {
        "active_wordlines": L * d_in,
        "discharges": C * a,
        # E[n m / (n + m)] over n ~ Bin(a, 1/2): (a - 1) / 4
        "divider_load": C * max(a - 1.0, 0.0) / 4.0,
        "precharges": C * rl,
        "adc_conversions": C * rl,
        "accumulations": C,
        "input_bits": in_bits * L if bool(_v(card, "peak.include_buffers")) else 0.0,
    }


def peak_range(card) -> tuple[PeakFigures, PeakFigures] | None:
    """Peak figures at ``peak.density_low`` and ``peak.density_high`` (inputs and weights
    both), for a card whose paper does not state its measurement statistics
    (``peak.conditions_known: false``; an XNOR cell's weights stay +-1); None otherwise."""
    if bool(_v(card, "peak.conditions_known")) or architecture(card) == "digital":
        return None
    lo, hi = float(_v(card, "peak.density_low")), float(_v(card, "peak.density_high"))
    return peak_figures(card, lo, lo), peak_figures(card, hi, hi)


def peak_figures(card, input_density: float | None = None,
                 weight_density: float | None = None) -> PeakFigures:
    """Peak TOPS, power, TOPS/W, area, TOPS/mm2 of a card.

    IMC (``chip.architecture: imc``), per tile and access, with L = ``tile.rows_per_access``,
    C = ``tile.columns``, rails = 2 (dual) or 1 (differential), d_in and d_w the input and
    weight densities (:func:`peak_densities`, or the arguments): active wordlines L d_in,
    conducting cells L C d_in d_w, divider load C (a - 1)/4 (a = L d_in d_w), precharges
    and conversions C*rails, accumulations C, input bits (2 per ternary, 1 per binary
    input) x L when ``peak.include_buffers``;
    ``E_access`` = the sum of these events x their card prices,
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
        ev = peak_events(card, input_density, weight_density)
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


def figure_value(pf: PeakFigures, name: str) -> float:
    """A named headline figure of :class:`PeakFigures` (names of ``paper_figures``)."""
    if name == "energy_per_op_fj":
        return 1e3 / pf.tops_per_watt        # fJ/op = 1e3 / (op/pJ)
    return float(getattr(pf, name))

"""Per-event prices from a hardware card, and dynamic energy as event counts x prices.

Energy components (pJ), in-memory (``chip.architecture: imc``):

============  =========================================================================
component     events x card cost
============  =========================================================================
wordline      active_wordlines x ``wordline.energy_pj``
bitline       precharges x ``bitline.precharge_energy_pj``
              + discharges x ``cell.discharge_energy_pj``
              + divider_load x ``bitline.divider_energy_pj`` (resistive-divider bitlines:
              the static current through n cells pulling up and m pulling down is
              proportional to n m / (n + m), counted by the engine per column and access)
adc           adc_conversions x energy per conversion (``device_models.adc_cost``)
accumulate    accumulations x ``digital.accumulate_energy_pj``
buffer        (input_bits + output_bits) x ``chip.buffer_energy_pj_per_bit``
interconnect  interconnect_bits x ``chip.interconnect_energy_pj_per_bit``
leakage       ``chip.tiles`` x ``tile.leakage_mw`` x time per inference (see schedule)
weight_load   weight_writes x ``cell.write_energy_pj``
============  =========================================================================

Digital near-memory baseline (``chip.architecture: digital``): the same tiles hold the
same weights in SRAM; every MAC reads its weight (2 bits per ternary slice, 1 bit per
binary weight) at ``digital.sram_read_energy_pj_per_bit`` (reported under ``bitline``:
it is the SRAM array read) and runs on a ternary MAC unit at ``digital.mac_energy_pj``
(reported under ``accumulate``); no zero-skipping, no ADC, no wordline component.
"""
from __future__ import annotations

from collections.abc import Mapping as _MappingABC

#: energy components, in the order of the dataset's ``component`` coordinate
COMPONENTS: tuple[str, ...] = (
    "wordline", "bitline", "adc", "accumulate", "buffer", "interconnect", "leakage", "weight_load",
)
#: area components, in the order of the dataset's ``area_component`` coordinate
AREA_COMPONENTS: tuple[str, ...] = ("cells", "adc", "periphery", "global")
#: Bits that hold one ternary value {-1, 0, +1} in buffers and SRAM: ceil(log2 3) = 2
#: (sign and nonzero, the two bit-cells of a ternary weight; the same two bits for a
#: ternary input in the input buffer). A representation fact, not a card parameter.
#: Output and partial-sum widths are not constants: the engine sizes them from the layer
#: (``imcsim.engine.mapper.bits_for``: enough bits for K * max|x| * max|w| per output and
#: for rows-per-tile * max|x| per partial sum), and the estimates use the same rule.
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
    """Converted rails per column (:func:`imcsim.engine.tile.converted_rails`)."""
    from imcsim.engine.tile import converted_rails

    return converted_rails(str(_v(card, "adc.sensing")))


# --------------------------------------------------------------------------------------
# per-event costs
# --------------------------------------------------------------------------------------

def adc_energy_pj(card) -> float:
    """Energy of one ADC conversion [pJ] (``device_models.adc_cost.energy_per_conversion``)."""
    from device_models import adc_cost

    return float(adc_cost.energy_per_conversion(card))


def adc_area_um2(card) -> float:
    """Area of one ADC [um2] (``device_models.adc_cost.area_per_adc``)."""
    from device_models import adc_cost

    return float(adc_cost.area_per_adc(card))


def conversion_time_ns(card) -> float:
    """One conversion [ns] (``device_models.adc.conversion_time``): flash ``adc.step_ns``,
    SAR ``(adc.bits + 1) * adc.step_ns``."""
    from device_models import adc as dm_adc

    return float(dm_adc.conversion_time(card))


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
        "divider_load": ("bitline", float(_v(card, "bitline.divider_energy_pj"))),
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

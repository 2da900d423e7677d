"""How values, parameters and components are written in labels, tables and point names (one
rule everywhere), and the role each parameter path plays in a sweep."""
from __future__ import annotations

import textwrap


def format_value(v) -> str:
    """A sweep value as text: numpy scalars as Python values, floats in ``%g``, bytes
    decoded, anything else ``str``."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


# --------------------------------------------------------------------------- roles
#: Parameter paths that are operating or variation *conditions* of a chip, not design
#: choices: a sweep over them asks how robust a design is, so a Pareto front is drawn over
#: the design points with accuracy taken over these (mean and worst case). Every other
#: parameter path (and ``network``, ``hardware``) is a *design* knob.
CONDITIONS: dict[str, str] = {
    "cell.mismatch_sigma": "variation",
    "cell.fault_rate": "variation",
    "cell.fault_value": "variation",
    "bitline.read_noise_sigma": "noise",
    "adc.offset_sigma_mv": "variation",
    "adc.gain_sigma": "variation",
    "adc.noise_sigma_mv": "noise",
    "cell.row_gain_sigma": "variation",
    "cell.cap_mismatch_sigma": "variation",
    "cell.current_corner": "operating point",
    "technology.temperature_k": "operating point",
    "technology.vdd": "operating point",
}

DESIGN = "design"


def parameter_role(path: str) -> str:
    """``"design"`` for a design knob, else the kind of condition (``"variation"``,
    ``"noise"``, ``"operating point"``) of parameter ``path``."""
    return CONDITIONS.get(str(path).strip(), DESIGN)


def is_condition(paths) -> bool:
    """True when every path of a sweep dimension (a zip group moves several) is a
    condition: a dimension with one design member is a design dimension."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    return bool(paths) and all(parameter_role(p) != DESIGN for p in paths)


# --------------------------------------------------------------------------- names
#: Short reader-facing names of the parameters most often swept (the parameter table's
#: description gives the rest).
SHORT_NAMES: dict[str, str] = {
    "adc.bits": "ADC resolution",
    "adc.clip_count": "ADC clip level",
    "adc.levels": "ADC levels",
    "adc.offset_sigma_mv": "comparator offset sigma [mV]",
    "adc.noise_sigma_mv": "comparator noise [mV]",
    "adc.gain_sigma": "ADC gain error sigma",
    "adc.share": "columns per ADC",
    "cell.mismatch_sigma": "cell mismatch sigma (relative)",
    "cell.fault_rate": "stuck-cell fraction",
    "cell.fault_value": "stuck-cell value",
    "bitline.read_noise_sigma": "read noise sigma",
    "bitline.sense_margin_mv": "bitline sense margin [mV]",
    "cell.row_gain_sigma": "row gain sigma",
    "tile.rows_per_access": "rows per access L",
    "tile.rows": "tile rows R",
    "tile.columns": "tile columns C",
    "chip.tiles": "tiles on the chip",
    "technology.vdd": "supply voltage",
    "network": "network",
    "hardware": "hardware card",
}


def _table() -> dict:
    from device_models import parameter_table

    return {p: (u, d) for p, _t, u, _a, d in parameter_table()}


def parameter_name(path: str) -> str:
    """Reader-facing name of a parameter path: :data:`SHORT_NAMES`, else the first clause
    of the parameter table's description, else the path."""
    path = str(path).strip()
    if path in SHORT_NAMES:
        return SHORT_NAMES[path]
    desc = _table().get(path, ("", ""))[1]
    if desc:
        return desc.split(",")[0].split(" (")[0]
    return path


def parameter_unit(path: str) -> str:
    """Unit of a parameter path from the parameter table (``""`` for none, ``"1"`` for a
    dimensionless ratio)."""
    return _table().get(str(path).strip(), ("", ""))[0]


def axis_label(paths, width: int = 0) -> str:
    """Axis label of a sweep dimension: each member's name and unit, ``"ADC resolution
    [bit] / ADC clip level [cells]"``; dimensionless and unit-less members carry no
    brackets. ``width`` > 0 wraps the text."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    parts = []
    for p in paths:
        u = parameter_unit(p)
        parts.append(parameter_name(p) + (f" [{u}]" if u and u != "1" else ""))
    text = " / ".join(parts)
    return "\n".join(textwrap.wrap(text, width)) if width else text


#: Reader-facing names of the energy components, by architecture: the digital
#: near-memory baseline books its SRAM weight reads under ``bitline`` and its MAC units
#: under ``accumulate`` (imcsim.costs.prices).
COMPONENT_NAMES: dict[str, dict[str, str]] = {
    "imc": {"wordline": "wordlines", "bitline": "bitlines (precharge + discharge)",
            "adc": "ADC conversions", "accumulate": "shift-and-add",
            "buffer": "I/O buffers", "interconnect": "interconnect", "leakage": "leakage",
            "weight_load": "weight writes"},
    "digital": {"wordline": "wordlines", "bitline": "SRAM weight reads",
                "adc": "ADC conversions", "accumulate": "digital MAC units",
                "buffer": "I/O buffers", "interconnect": "interconnect", "leakage": "leakage",
                "weight_load": "weight writes"},
}


def component_name(component: str, architectures=("imc",)) -> str:
    """Name of energy ``component`` for the given architecture(s); where the architectures
    name it differently, both names (``"bitlines (...) | SRAM weight reads (digital)"``)."""
    archs = list(dict.fromkeys(architectures)) or ["imc"]
    names = []
    for a in archs:
        n = COMPONENT_NAMES.get(a, COMPONENT_NAMES["imc"]).get(component, component)
        if n not in [x for x, _ in names]:
            names.append((n, a))
    if len(names) == 1:
        return names[0][0]
    return " | ".join(f"{n} ({a})" for n, a in names)

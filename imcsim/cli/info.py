"""The text of ``imcsim info CARD``: a card's peak figures against its paper's.
"""
from __future__ import annotations

from imcsim.costs.peak import peak_figures
from imcsim.costs.prices import _v, architecture

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

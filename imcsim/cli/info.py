"""The text of ``imcsim info CARD``: a card's peak figures against its paper's.
"""
from __future__ import annotations

from imcsim.costs.peak import figure_value, peak_figures, peak_range
from device_models.card import FIGURE_UNITS
from imcsim.costs.prices import _v, architecture

# --------------------------------------------------------------------------------------
# imcsim info CARD
# --------------------------------------------------------------------------------------

_LABELS = {"tops": "peak throughput", "power_w": "power at peak",
           "tops_per_watt": "energy efficiency", "area_mm2": "area",
           "tops_per_mm2": "area efficiency", "energy_per_op_fj": "energy per op"}


def paper_figures(card) -> list[dict]:
    """The paper's figures as the card states them (its ``paper_figures`` list)."""
    return list(getattr(card, "paper_figures", []) or [])


def validation_figures(card) -> dict:
    """``{"card": NAME, "figures": [{"name", "unit", "imcsim", "paper", "kind", "source",
    "conditions", "error"}]}`` for every figure the card's paper gives; ``error`` is
    imcsim / paper - 1; when the paper's data statistics are unknown (``peak.conditions_known:
    false``) each figure also has ``imcsim_range`` [low, high] over ``peak.density_low`` ..
    ``peak.density_high`` (the JSON of ``imcsim info CARD --json``)."""
    pf = peak_figures(card)
    rng = peak_range(card)
    out = []
    for f in paper_figures(card):
        val = figure_value(pf, f["name"])
        out.append({"name": f["name"], "unit": f["unit"], "imcsim": val, "paper": f["value"],
                    "kind": f["kind"], "source": f["source"], "conditions": f["conditions"],
                    "error": val / f["value"] - 1.0})
        if rng is not None:
            lo, hi = figure_value(rng[0], f["name"]), figure_value(rng[1], f["name"])
            out[-1]["imcsim_range"] = [min(lo, hi), max(lo, hi)]
    return {"card": str(getattr(card, "name", "")), "figures": out}


def format_info(card) -> str:
    """Text of ``imcsim info CARD``: peak TOPS, power, TOPS/W, TOPS/mm2, area, paper figures."""
    import textwrap

    pf = peak_figures(card)
    paper = paper_figures(card)
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
    rows = [("tops", "TOPS"), ("power_w", "W"), ("tops_per_watt", "TOPS/W"),
            ("area_mm2", "mm2"), ("tops_per_mm2", "TOPS/mm2")]
    figs: dict[str, list] = {}
    for f in paper:
        figs.setdefault(f["name"], []).append(f)
    rows += [(n, FIGURE_UNITS[n]) for n in figs if n not in dict(rows)]
    rng = peak_range(card)
    head = f"  {'figure':<20}{'unit':<10}{'imcsim':>10}"
    if paper:
        head += f"{'paper':>11}{'error':>9}  kind"
    lines.append(head)
    for key, unit in rows:
        val = figure_value(pf, key)
        s = f"  {_LABELS[key]:<20}{unit:<10}{val:>10.4g}"
        fl = figs.get(key, [])
        if not fl and paper:
            s += f"{'-':>11}"
        for i, f in enumerate(fl):
            if i:
                s = " " * 42
            s += f"{f['value']:>11.4g}{100 * (val / f['value'] - 1):>+8.1f}%  {f['kind']}"
            if i < len(fl) - 1:
                lines.append(s)
        lines.append(s)
    if rng is not None:
        lo, hi = (figure_value(rng[0], "tops_per_watt"), figure_value(rng[1], "tops_per_watt"))
        what = "input densities" if str(_v(card, "cell.kind")) == "xnor" else \
            "input and weight densities"
        lines += textwrap.wrap(
            f"the paper does not state its data statistics: TOPS/W {min(lo, hi):.4g} to "
            f"{max(lo, hi):.4g} over {what} "
            f"{float(_v(card, 'peak.density_low')):g} to {float(_v(card, 'peak.density_high')):g}",
            88, initial_indent="  ", subsequent_indent="    ")
    for f in paper:
        lines += textwrap.wrap(f"{f['name']}: {f['source']}"
                               + (f" ({f['conditions']})" if f["conditions"] else ""), 88,
                               initial_indent="  - ", subsequent_indent="    ")
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

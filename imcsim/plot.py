"""Figures of a study result (matplotlib, Agg backend: no screen needed), in PNG, PDF or SVG.

Kinds (:data:`KINDS`):

- ``pareto``: energy per inference vs accuracy over the *design* points of the sweep (each
  swept parameter has a role, :func:`imcsim.report.labels.parameter_role`: design knob,
  or operating/variation condition such as mismatch, noise, faults, offsets). Accuracy is
  taken over the conditions and trials: the mean, and the worst case over the conditions,
  each with its own front. A sweep with no design dimension has no front;
- ``energy_breakdown``: stacked bars of energy per layer by component at one point, chosen
  by a stated rule (the most accurate point, the lowest energy among equals; cost-only
  results: the lowest energy) or with ``select``, and the total per point by component;
- ``accuracy_heatmap``: mean accuracy over two swept parameters, the colour range shown
  (or fixed with ``options={"vmin": .., "vmax": ..}``);
- ``accuracy_vs_param``: accuracy (mean +- std over trials) vs one swept parameter, one
  line per value of a second;
- ``latency_vs_param``, ``throughput_vs_param``, ``tops_per_watt_vs_param``,
  ``area_vs_param``: that cost against one swept parameter (latency: end to end, and the
  pipeline interval where it differs);
- ``accuracy_vs_energy``: accuracy against energy per inference across the networks and
  cards a study sweeps, one marker per network, one colour per card.

Every axis names its quantity and unit (parameters from the parameter table), titles name
the network and card, accuracy plots draw the network's exact (digital) accuracy when the
result stores it, categorical axes (networks, cards, zip groups) are categories whose tick
labels name every member. Figures are sized for a paper: 3.5 in wide (one column) for one
panel, 7.16 in (two columns) for two, text 7 pt and larger.

A plot that does not apply to a result (a heatmap of a one-parameter sweep) raises
:class:`PlotDoesNotFit` with a one-line message.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["KINDS", "FORMATS", "PlotError", "PlotDoesNotFit", "plot", "open_result",
           "render"]

KINDS = ("pareto", "energy_breakdown", "accuracy_heatmap", "accuracy_vs_param",
         "energy_vs_param", "latency_vs_param", "throughput_vs_param", "tops_per_watt_vs_param",
         "area_vs_param", "accuracy_vs_energy")

#: file formats by suffix
FORMATS = ("png", "pdf", "svg")
#: default resolution of raster output [dots per inch]
DEFAULT_DPI = 300

from imcsim.errors import PlotDoesNotFit, PlotError  # noqa: E402
from imcsim.report.labels import format_value as _fmt  # noqa: E402

#: paper sizes [in]: one column, two columns
COLUMN_IN, PAGE_IN = 3.5, 7.16
#: text sizes [pt]
FONT_PT, SMALL_PT = 8.0, 7.0
_RC = {"font.size": FONT_PT, "axes.titlesize": FONT_PT, "axes.labelsize": FONT_PT,
       "xtick.labelsize": SMALL_PT, "ytick.labelsize": SMALL_PT, "legend.fontsize": SMALL_PT,
       "figure.titlesize": FONT_PT, "axes.linewidth": 0.6, "lines.linewidth": 1.0,
       "lines.markersize": 4.0, "pdf.fonttype": 42, "svg.fonttype": "none",
       "savefig.bbox": "tight", "savefig.pad_inches": 0.02}


# xarray loads on first use: the CLI's parser and `imcsim validate` read KINDS only
def sweep_dims(ds) -> list[str]:
    from imcsim.report.dataset import sweep_dims

    return sweep_dims(ds)


def front_mask(energy, accuracy):
    from imcsim.report.pareto import front_mask

    return front_mask(energy, accuracy)


def _labels():
    from imcsim.report import labels

    return labels


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def open_result(path):
    """Load a result dataset written by ``imcsim run``."""
    from imcsim.report.netcdf import read_netcdf

    try:
        return read_netcdf(path)
    except (OSError, ValueError, TypeError) as exc:
        raise PlotError(f"{path}: cannot read as a result dataset: "
                        f"{' '.join(str(exc).split())}") from None


# --------------------------------------------------------------------------- dimensions
def _varying(ds) -> list[str]:
    return [d for d in sweep_dims(ds) if ds.sizes[d] > 1]


def _member_paths(ds, d) -> list[str]:
    """Parameter paths of sweep dimension ``d`` (its ``parameter`` attr)."""
    return [p.strip() for p in str(ds[d].attrs.get("parameter", d)).split(",")]


def _extra_coords(ds, d) -> list[str]:
    """Non-dimension coordinates along sweep dimension ``d`` (other members of a zip
    group) whose values differ from ``d``'s own."""
    own = [_fmt(v) for v in ds[d].values]
    return [c for c, v in ds.coords.items()
            if c != d and v.dims == (d,) and [_fmt(x) for x in v.values] != own]


def _shown_members(ds, d) -> list[str]:
    """The coordinates that name the values of dimension ``d``: its own, then the other
    members of its zip group. A named group (``design``) shows its member paths; its own
    coordinate stands for the first member (whose values it holds)."""
    members = _member_paths(ds, d)
    if d in members or not members:
        return [d] + _extra_coords(ds, d)
    out = []
    for p in members:
        c = p if p in ds.coords and p != d else d
        if c not in out:
            out.append(c)
    return out


def _path_of(ds, c) -> str:
    """The parameter path a shown coordinate stands for (a named group's own coordinate:
    its first member)."""
    if c in ds.dims:
        members = _member_paths(ds, c)
        if c not in members and members:
            return members[0]
    return c


def _is_condition(ds, d) -> bool:
    return _labels().is_condition(_member_paths(ds, d))


def design_dims(ds) -> list[str]:
    """Sweep dimensions that are design choices (:func:`imcsim.report.pareto.design_dims`)."""
    from imcsim.report.pareto import design_dims

    return design_dims(ds)


def condition_dims(ds) -> list[str]:
    """Sweep dimensions that are operating or variation conditions."""
    from imcsim.report.pareto import condition_dims

    return condition_dims(ds)


def _numeric(vals) -> bool:
    return np.asarray(vals).dtype.kind in "iuf"


def _categorical(ds, d) -> bool:
    """A dimension drawn as categories: non-numeric values, or a named zip group."""
    return not _numeric(ds[d].values) or d not in _member_paths(ds, d)


def _dim_label(ds, d) -> str:
    paths = [_path_of(ds, c) for c in _shown_members(ds, d)]
    return _labels().axis_label(paths, width=48)


def _tick_labels(ds, d) -> list[str]:
    """One label per value of ``d``, naming every member of its zip group."""
    members = _shown_members(ds, d)
    out = []
    for i in range(ds.sizes[d]):
        vals = [_fmt(ds[c].values[i]) for c in members]
        out.append("\n".join(vals))
    return out


def _point_labels(ds, dims) -> list[str]:
    """``name=value, ...`` per point (C order over ``dims``), naming zip members."""
    short = {}
    for d in dims:
        for c in _shown_members(ds, d):
            short[c] = str(_path_of(ds, c)).rsplit(".", 1)[-1]
    last = list(short.values())
    short = {c: (s if last.count(s) == 1 else str(c)) for c, s in short.items()}
    out = []
    for pos in np.ndindex(*[ds.sizes[d] for d in dims]):
        parts = []
        for d, i in zip(dims, pos):
            parts.extend(f"{short[c]}={_fmt(ds[c].values[i])}" for c in _shown_members(ds, d))
        out.append(", ".join(parts))
    return out


def _point_values(ds, dims) -> list[list[str]]:
    """The values of every shown member per point (C order over ``dims``)."""
    return [[_fmt(ds[c].values[i]) for d, i in zip(dims, pos) for c in _shown_members(ds, d)]
            for pos in np.ndindex(*[ds.sizes[d] for d in dims])]


#: unit ladders: base unit -> [(factor from base, unit)] from small to large
_UNITS = {"pJ": [(1.0, "pJ"), (1e3, "nJ"), (1e6, "µJ"), (1e9, "mJ")],
          "ns": [(1.0, "ns"), (1e3, "µs"), (1e6, "ms"), (1e9, "s")]}


def _scale(values, unit: str) -> tuple[float, str]:
    """(divisor, unit) that keeps the largest of ``values`` below 1000 in that unit."""
    v = np.asarray(values, float)
    top = float(np.nanmax(np.abs(v))) if v.size and np.isfinite(v).any() else 0.0
    best = _UNITS[unit][0]
    for f, u in _UNITS[unit]:
        if top >= f:
            best = (f, u)
    return best


def _need_accuracy(ds, kind):
    _require(ds, "accuracy")
    if not np.isfinite(np.asarray(ds["accuracy"].values, float)).any():
        raise PlotDoesNotFit(f"{kind} needs accuracy; this result has none (a cost-only "
                             "study of workload-only networks); try energy_vs_param")


def _require(ds, *names):
    for n in names:
        if n not in ds.variables:
            raise PlotError(f"the result has no variable {n!r}; expected a dataset written "
                            "by `imcsim run`")


# --------------------------------------------------------------------------- statistics
def _energy_da(ds):
    _require(ds, "energy")
    if "energy_total" in ds:
        e = ds["energy_total"]
    else:
        e = ds["energy"].sum([d for d in ("layer", "component") if d in ds["energy"].dims])
    return e.mean("trial") if "trial" in e.dims else e


def _over(da, keep):
    """``da`` averaged over every dimension but ``keep`` (NaN ignored), ordered as ``keep``."""
    other = [d for d in da.dims if d not in keep]
    if other:
        da = da.mean(other)
    return da.transpose(*keep) if keep else da


def design_stats(ds):
    """Per design point (C order over :func:`design_dims`): energy per inference [pJ]
    (mean over conditions), mean accuracy over conditions and trials, its std over trials
    (no conditions) or None, and the worst case over the conditions of the mean over
    trials (None without conditions)."""
    _require(ds, "accuracy")
    dd, cd = design_dims(ds), condition_dims(ds)
    e = np.asarray(_over(_energy_da(ds), dd).values, float).reshape(-1)
    a = ds["accuracy"]
    per_cond = _over(a, dd + cd) if cd else None
    mean = np.asarray(_over(a, dd).values, float).reshape(-1)
    worst = std = None
    if cd:
        flat = np.asarray(per_cond.values, float).reshape(mean.size, -1)
        worst = np.nanmin(flat, axis=1) if np.isfinite(flat).any() else flat[:, 0]
    elif "trial" in a.dims and a.sizes["trial"] > 1:
        s = a.std("trial", ddof=1)
        std = np.asarray(_over(s, dd).values, float).reshape(-1)
    return e, mean, std, worst


def _accuracy_stats(ds, dims):
    _require(ds, "accuracy")
    a = ds["accuracy"]
    extra = [d for d in a.dims if d not in dims and d != "trial"]
    if extra:
        a = a.mean(extra)
    mean = a.mean("trial") if "trial" in a.dims else a
    if "trial" in a.dims and a.sizes["trial"] > 1:
        std = a.std("trial", ddof=1)
    else:
        std = None
    if dims:
        mean = mean.transpose(*dims)
        std = std.transpose(*dims) if std is not None else None
    return (np.asarray(mean.values, dtype=float),
            None if std is None else np.asarray(std.values, dtype=float))


def _trials(ds) -> int:
    return int(ds.sizes.get("trial", 1)) if "accuracy" in ds and "trial" in ds["accuracy"].dims else 1


def _spread_text(ds) -> str:
    n = _trials(ds)
    return f"mean ± std over {n} trials" if n > 1 else "one trial"


def exact_accuracy(ds) -> dict:
    """Exact (digital) accuracy of each network on the study's data, from the result's
    ``exact_accuracy`` attr (JSON ``{network: accuracy}``); ``{}`` if not stored."""
    raw = ds.attrs.get("exact_accuracy")
    if raw is None or raw == "":
        return {}
    try:
        v = json.loads(raw) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        return {}
    if isinstance(v, (int, float)):
        return {str(ds.attrs.get("network", "network")): float(v)}
    return {str(k): float(x) for k, x in v.items() if x is not None and np.isfinite(float(x))}


def _networks_at(ds, dims) -> list[str] | None:
    """The network of each point (C order over ``dims``), or None when no dimension of
    ``dims`` moves the network."""
    for d in dims:
        for c in _shown_members(ds, d):
            if _path_of(ds, c) == "network":
                names = [_fmt(v) for v in ds[c].values]
                k = dims.index(d)
                return [names[pos[k]] for pos in np.ndindex(*[ds.sizes[x] for x in dims])]
    return None


def _reference_lines(ax, ds, dims=None, xs=None, halfwidth=None):
    """The exact (digital) accuracy of the network: one dotted line across the axes, or,
    when ``dims`` move the network, a short dotted mark at each point's ``xs`` (halfwidth
    in data units on a categorical axis, a marker otherwise)."""
    ref = exact_accuracy(ds)
    if not ref:
        return
    nets = _networks_at(ds, dims) if dims else None
    if nets is None or len(ref) == 1:
        name, acc = next(iter(ref.items())) if len(ref) == 1 else (None, None)
        if acc is None:
            return
        ax.axhline(acc, color="0.35", ls=":", lw=0.9, label=f"exact (digital): {acc:.4f}",
                   zorder=1)
        return
    label = "exact (digital) accuracy of the point's network"
    for x, n in zip(xs, nets):
        if n not in ref:
            continue
        if halfwidth:
            ax.hlines(ref[n], x - halfwidth, x + halfwidth, color="0.35", ls=":", lw=1.2,
                      label=label, zorder=1)
        else:
            ax.plot([x], [ref[n]], "_", color="0.35", ms=12, mew=1.2, label=label, zorder=1)
        label = None


def _count(ds, path) -> int:
    for d in sweep_dims(ds):
        if path in _member_paths(ds, d) or path in _extra_coords(ds, d):
            c = path if path in ds.coords else d
            return len({_fmt(v) for v in ds[c].values})
    return 0


def _network_card(ds) -> str:
    net = ds.attrs.get("network")
    if not net and _count(ds, "network"):
        net = f"{_count(ds, 'network')} networks"
    hw = ds.attrs.get("hardware_name", "")
    if _count(ds, "hardware") > 1:
        hw = f"{_count(ds, 'hardware')} cards"
    if net and hw:
        return f"{net} on {hw}"
    return net or hw


def _all_members(ds) -> list[str]:
    out = []
    for d in sweep_dims(ds):
        out.extend(_member_paths(ds, d))
        out.extend(_extra_coords(ds, d))
    return out


def _title(ax_or_fig, ds, what: str, sup=False, extra: str = ""):
    where = _network_card(ds)
    study = ds.attrs.get("study", "")
    first = what + (f": {where}" if where else "")
    est = "estimated from layer shapes" if ds.attrs.get("estimate") else ""
    second = "; ".join(t for t in ((f"study {study}" if study else ""), est, extra) if t)
    text = first + (f"\n({second})" if second else "")
    if sup:
        ax_or_fig.suptitle(text)
    else:
        ax_or_fig.set_title(text)


# --------------------------------------------------------------------------- kinds
def _pareto(ds, fig, opts):
    _need_accuracy(ds, "pareto")
    dd, cd = design_dims(ds), condition_dims(ds)
    if not dd:
        raise PlotDoesNotFit(
            "pareto needs a design dimension: this sweep varies only operating/variation "
            "conditions (" + (", ".join(cd) if cd else "nothing") + "), so there is no "
            "design choice to trade; try accuracy_vs_param or accuracy_heatmap")
    e, mean, std, worst = design_stats(ds)
    labels = _point_labels(ds, dd)
    ax = fig.add_subplot(111)
    n_t = _trials(ds)
    if cd:
        cond = ", ".join(_labels().parameter_name(p) for d in cd for p in _member_paths(ds, d))
        mean_lab = f"mean over {cond}" + (f" and {n_t} trials" if n_t > 1 else "")
        ax.vlines(e, worst, mean, color="0.75", lw=0.8, zorder=1)
        ax.plot(e, mean, "o", color="tab:blue", label=mean_lab, zorder=3)
        ax.plot(e, worst, "v", color="tab:orange", label=f"worst case over {cond}", zorder=3)
        fronts = [(mean, "tab:blue", "front (mean)"), (worst, "tab:orange", "front (worst case)")]
    else:
        ax.errorbar(e, mean, yerr=std, fmt="o", color="tab:blue", ecolor="0.6", capsize=2,
                    label="design points (" + _spread_text(ds) + ")", zorder=3)
        fronts = [(mean, "tab:blue", "Pareto front")]
    on_front = np.zeros(e.size, bool)
    for acc, color, lab in fronts:
        m = front_mask(e, acc)
        on_front |= m
        order = np.argsort(e[m])
        ax.plot(e[m][order], acc[m][order], "-", color=color, lw=1.0, zorder=2, alpha=0.8)
        ax.scatter(e[m], acc[m], s=40, facecolors="none", edgecolors=color, linewidths=1.0,
                   label=lab, zorder=4)
    _reference_lines(ax, ds, dd, e)
    if e.size > 1 and np.all(e > 0) and np.nanmax(e) / np.nanmin(e) > 20:
        ax.set_xscale("log")
    span = np.nanmax(e) - np.nanmin(e) if e.size else 0.0
    if e.size > 1 and np.nanmin(e) > 0 and span / np.nanmin(e) < 0.02:
        ax.text(0.01, 0.01, f"energies within {100 * span / np.nanmin(e):.2g} % of each other",
                transform=ax.transAxes, fontsize=SMALL_PT, color="0.3")
    # number the points, list them beside the plot (labels of sweep values overlap)
    for k, (x, y) in enumerate(zip(e, mean)):
        ax.annotate(str(k + 1), (x, y), textcoords="offset points", xytext=(3, 3),
                    fontsize=SMALL_PT)
    key = "\n".join(f"{'*' if on_front[k] else ' '}{k + 1:>2}: {t}"
                    for k, t in enumerate(labels[:40]))
    if len(labels) > 40:
        key += f"\n... {len(labels) - 40} more"
    key += "\n* on a front"
    ax.text(1.03, 1.0, key, transform=ax.transAxes, va="top", ha="left", fontsize=SMALL_PT,
            family="monospace")
    ax.set_xlabel("energy per inference [pJ]")
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2,
               frameon=False)
    _title(ax, ds, "energy vs accuracy")


def _select_point(ds, dims, select):
    sel = {}
    select = dict(select or {})
    for k, v in select.items():
        if k not in dims:
            raise PlotError(f"--select {k}: not a sweep dimension; expected one of "
                            f"{', '.join(dims) or '(none: the result has no sweep)'}")
        vals = [_fmt(x) for x in ds[k].values]
        want = _fmt(v)
        if want not in vals:
            try:
                fv = float(v)
                idx = [i for i, x in enumerate(ds[k].values)
                       if isinstance(x.item() if hasattr(x, "item") else x, (int, float))
                       and float(x) == fv]
            except (TypeError, ValueError):
                idx = []
            if not idx:
                raise PlotError(f"--select {k}={v}: no such value; expected one of "
                                f"{', '.join(vals)}")
            sel[k] = idx[0]
        else:
            sel[k] = vals.index(want)
    return sel


def default_point(ds) -> tuple[dict, str]:
    """The point energy_breakdown shows when none is selected, and the rule that chose it:
    the design point of highest mean accuracy (over conditions and trials; the lowest
    energy among points within 0.0005 of it), a result without accuracy (cost only): the
    lowest energy; each condition (mismatch, noise, ...) at its nominal value (0, if
    swept, else its first value)."""
    dims = sweep_dims(ds)
    if not dims:
        return {}, "the only point"
    dd, cd = design_dims(ds), condition_dims(ds)
    sel = {}
    for d in cd:
        vals = ds[d].values
        zero = [i for i, v in enumerate(vals) if _numeric(vals) and float(v) == 0.0]
        sel[d] = int(zero[0]) if zero else 0
    nominal = ", ".join(f"{d}={_fmt(ds[d].values[i])}" for d, i in sel.items())
    if not dd:
        return sel, f"conditions at nominal: {nominal}" if nominal else "the only point"
    e = np.asarray(_over(_energy_da(ds), dd).values, float).reshape(-1)
    acc = None
    if "accuracy" in ds:
        acc = np.asarray(_over(ds["accuracy"], dd).values, float).reshape(-1)
    if acc is not None and np.isfinite(acc).any():
        best = np.nanmax(acc)
        cand = np.flatnonzero(np.isfinite(acc) & (acc >= best - 5e-4))
        k = int(cand[np.argmin(np.where(np.isfinite(e[cand]), e[cand], np.inf))])
        rule = "most accurate design point, lowest energy among equals"
    else:
        k = int(np.nanargmin(np.where(np.isfinite(e), e, np.inf)))
        rule = "lowest-energy point"
    pos = np.unravel_index(k, [ds.sizes[d] for d in dd])
    sel.update({d: int(i) for d, i in zip(dd, pos)})
    if nominal:
        rule += "; conditions at nominal"
    return {d: sel[d] for d in dims}, rule


def _architectures(ds, sel=None) -> list[str]:
    """Architectures (``imc``/``digital``) of the cards at point ``sel`` (None: every
    card of the result), from the ``architecture`` attr or the stored cards."""
    if ds.attrs.get("architecture"):
        return [str(ds.attrs["architecture"])]
    import yaml

    by_name = {}
    for doc in str(ds.attrs.get("hardware", "")).split("---\n"):
        try:
            c = yaml.safe_load(doc) or {}
            by_name[str(c.get("name"))] = str(c["chip"]["architecture"]["value"])
        except (yaml.YAMLError, KeyError, TypeError, AttributeError):
            continue
    if sel is not None:
        for c, v in ds.coords.items():
            if c == "hardware" and v.ndim == 1 and v.dims[0] in sel:
                ref = _fmt(v.values[sel[v.dims[0]]])
                name = ref if ref in by_name else Path(ref).stem
                if name in by_name:
                    return [by_name[name]]
    return list(dict.fromkeys(by_name.values())) or ["imc"]


def _energy_breakdown(ds, fig, opts):
    _require(ds, "energy")
    dims = sweep_dims(ds)
    e = ds["energy"]
    if "trial" in e.dims:
        e = e.mean("trial")
    if "layer" not in e.dims or "component" not in e.dims:
        raise PlotDoesNotFit("energy_breakdown needs energy over (layer, component); "
                             f"this result has {e.dims}")
    log = bool(opts.get("log"))
    comps = [_fmt(c) for c in e["component"].values]
    layers = [_fmt(c) for c in e["layer"].values]
    colors = _plt().get_cmap("tab10")(np.arange(max(len(comps), 2)) % 10)
    sel = _select_point(ds, dims, opts.get("select"))
    if sel:
        full = dict(default_point(ds)[0])
        full.update(sel)
        sel, rule = full, "as selected"
    else:
        sel, rule = default_point(ds)
    point = e.isel(sel) if sel else e
    arr = np.asarray(point.transpose("layer", "component").values, dtype=float)
    keep = ~np.all(np.isnan(arr), axis=1)  # a network sweep: this point's own layers
    if keep.any():
        arr = arr[keep]
        layers = [l for l, k in zip(layers, keep) if k]
    arr = np.nan_to_num(arr)
    used = [j for j in range(len(comps)) if np.any(arr[:, j] > 0)]
    npts = int(np.prod([ds.sizes[d] for d in dims])) if dims else 1
    tot = e.sum("layer", min_count=1).transpose(*dims, "component") if npts > 1 else None
    tarr = (np.nan_to_num(np.asarray(tot.values, dtype=float).reshape(npts, len(comps)))
            if tot is not None else None)
    f1, u1 = _scale(arr.sum(axis=1), "pJ")
    if npts > 1:
        gs = fig.add_gridspec(1, 2, width_ratios=[1, 1.5])
        ax1 = fig.add_subplot(gs[0, 0])
    else:
        ax1 = fig.add_subplot(111)
    arch = _architectures(ds, sel)
    _stack_bars(ax1, np.arange(len(layers)), arr / f1, used, comps, colors, arch, log)
    ax1.set_xticks(np.arange(len(layers)), layers, rotation=30 if len(layers) > 4 else 0,
                   ha="right" if len(layers) > 4 else "center")
    ax1.set_ylabel(f"energy per inference [{u1}]")
    where = ", ".join(f"{c}={_fmt(ds[c].values[i])}" for d, i in sel.items()
                      for c in _shown_members(ds, d))
    import textwrap

    ax1.set_title("\n".join(textwrap.wrap("per layer" + (f" at {where}" if where else ""), 44))
                  + "\n" + "\n".join(textwrap.wrap(f"({rule})", 52)), fontsize=SMALL_PT)
    ax1.grid(True, axis="y", alpha=0.3)
    legend_ax = ax1
    if npts > 1:
        ax2 = fig.add_subplot(gs[0, 1])
        used2 = [j for j in range(len(comps)) if np.any(tarr[:, j] > 0)]
        f2, u2 = _scale(tarr.sum(axis=1), "pJ")
        _stack_bars(ax2, np.arange(npts), tarr / f2, used2, comps, colors, _architectures(ds),
                    log)
        if npts <= 40:
            ticks = [" / ".join(vals) for vals in _point_values(ds, dims)]
            long = max(len(t) for t in ticks) > 4
            ax2.set_xticks(np.arange(npts), ticks, rotation=45 if long else 0,
                           ha="right" if long else "center", fontsize=SMALL_PT)
            ax2.set_xlabel(_labels().axis_label([_path_of(ds, c) for d in dims
                                                 for c in _shown_members(ds, d)], width=60))
        ax2.set_ylabel(f"energy per inference [{u2}]")
        ax2.set_title("total per point", fontsize=SMALL_PT)
        ax2.grid(True, axis="y", alpha=0.3)
        legend_ax = ax2
    handles, labs = legend_ax.get_legend_handles_labels()
    fig.legend(handles, labs, loc="outside lower center", ncol=min(4, len(labs)),
               frameon=False)
    _title(fig, ds, "energy breakdown by component", sup=True)


def _stack_bars(ax, x, arr, used, comps, colors, arch, log):
    L = _labels()
    bottom = np.zeros(len(x))
    for j in used:
        ax.bar(x, arr[:, j], bottom=bottom, color=colors[j], width=0.7,
               label=L.component_name(comps[j], arch))
        bottom += arr[:, j]
    top = max(float(bottom.max()) if bottom.size else 0.0, 1e-30)
    if log:
        ax.set_yscale("log")
        pos = arr[:, used][arr[:, used] > 0] if used else np.array([top])
        ax.set_ylim(max(float(pos.min()) * 0.5, top * 1e-6), top * 2)
    else:
        ax.set_ylim(0, top * 1.08)


def _accuracy_heatmap(ds, fig, opts):
    _need_accuracy(ds, "accuracy_heatmap")
    dims = _varying(ds)
    if len(dims) != 2:
        raise PlotDoesNotFit("accuracy_heatmap needs exactly two swept parameters with more "
                             f"than one value each; this result has {len(dims)}"
                             + (f" ({', '.join(dims)})" if dims else "")
                             + "; try --kind accuracy_vs_param or pareto")
    squeeze = {d: 0 for d in sweep_dims(ds) if d not in dims}
    sub = ds.isel(squeeze) if squeeze else ds
    mean, std = _accuracy_stats(sub, dims)
    lo, hi = float(np.nanmin(mean)), float(np.nanmax(mean))
    vmin = opts.get("vmin")
    vmax = opts.get("vmax")
    vmin = lo if vmin is None else float(vmin)
    vmax = hi if vmax is None else float(vmax)
    if vmax <= vmin:
        vmax = vmin + 1e-3
    ax = fig.add_subplot(111)
    im = ax.imshow(mean, origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
    fixed = opts.get("vmin") is not None or opts.get("vmax") is not None
    cb = fig.colorbar(im, ax=ax)
    label = "accuracy (" + ("mean over %d trials" % _trials(ds) if _trials(ds) > 1 else "one trial") + ")"
    ref = exact_accuracy(ds)
    if len(ref) == 1:
        acc = next(iter(ref.values()))
        if vmin <= acc <= vmax:
            cb.ax.axhline(acc, color="white", lw=1.5, ls=":")
        label += f"\nexact (digital) {acc:.4f}" + (" (dotted)" if vmin <= acc <= vmax else "")
    cb.set_label(label)
    rng = (f"colour range {vmin:.4g}-{vmax:.4g}" + (" (fixed)" if fixed else ", the data's"))
    ax.set_yticks(range(mean.shape[0]), _tick_labels(ds, dims[0]))
    ax.set_xticks(range(mean.shape[1]), _tick_labels(ds, dims[1]))
    ax.set_ylabel(_dim_label(ds, dims[0]))
    ax.set_xlabel(_dim_label(ds, dims[1]))
    if mean.size <= 100:
        for i in range(mean.shape[0]):
            for j in range(mean.shape[1]):
                bright = (mean[i, j] - vmin) / (vmax - vmin) > 0.6
                txt = f"{mean[i, j]:.3f}" + (f"\n±{std[i, j]:.3f}" if std is not None else "")
                ax.text(j, i, txt, ha="center", va="center", fontsize=SMALL_PT - 0.5,
                        color="black" if bright else "white")
    _title(ax, ds, "accuracy", extra=rng)


def _x_axis(ds, xd):
    """Positions, and whether the axis is categorical."""
    xv = ds[xd].values
    if _categorical(ds, xd):
        return np.arange(len(xv), dtype=float), True
    return np.asarray(xv, dtype=float), False


def _set_x(ax, ds, xd, x, categorical):
    if categorical or len(x) <= 12:
        rot = 20 if categorical and max(len(t) for t in _tick_labels(ds, xd)) > 8 else 0
        ax.set_xticks(x, _tick_labels(ds, xd), rotation=rot, ha="right" if rot else "center")
    if categorical:
        ax.set_xlim(-0.5, len(x) - 0.5)
    ax.set_xlabel(_dim_label(ds, xd))


def _order_dims(ds, dims):
    """Design dimensions first on the x axis (a condition then makes the lines)."""
    return sorted(dims, key=lambda d: (_is_condition(ds, d), dims.index(d)))


def _accuracy_vs_param(ds, fig, opts):
    _need_accuracy(ds, "accuracy_vs_param")
    dims = _varying(ds)
    if len(dims) not in (1, 2):
        raise PlotDoesNotFit("accuracy_vs_param needs one or two swept parameters with more "
                             f"than one value each; this result has {len(dims)}"
                             + (f" ({', '.join(dims)})" if dims else ""))
    dims = _order_dims(ds, dims)
    squeeze = {d: 0 for d in sweep_dims(ds) if d not in dims}
    sub = ds.isel(squeeze) if squeeze else ds
    mean, std = _accuracy_stats(sub, dims)
    xd = dims[0]
    x, cat = _x_axis(ds, xd)
    fmt = "o" if cat else "o-"
    ax = fig.add_subplot(111)
    if len(dims) == 1:
        ax.errorbar(x, mean, yerr=std, fmt=fmt, capsize=2, label=_spread_text(ds))
    else:
        n = ds.sizes[dims[1]]
        off = (np.arange(n) - (n - 1) / 2) * (0.6 / n) if cat else np.zeros(n)
        name = _labels().axis_label([_path_of(ds, c) for c in _shown_members(ds, dims[1])])
        for j, t in enumerate(_tick_labels(ds, dims[1])):
            ax.errorbar(x + off[j], mean[:, j], yerr=None if std is None else std[:, j],
                        fmt=fmt, capsize=2, label=f"{name} = {t.replace(chr(10), ', ')}")
    if len(dims) == 1:
        _reference_lines(ax, ds, dims, x, 0.3 if cat else None)
    else:
        _reference_lines(ax, ds)
    _set_x(ax, ds, xd, x, cat)
    ax.set_ylabel("accuracy" + (f" (mean ± std, {_trials(ds)} trials)" if _trials(ds) > 1 else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", frameon=False)
    _title(ax, ds, f"accuracy vs {_labels().parameter_name(_path_of(ds, _shown_members(ds, xd)[0]))}")


#: cost kinds: kind -> (variable, axis label, title word)
_COSTS = {
    "energy_vs_param": ("energy_total", "energy per inference [pJ]", "energy"),
    "latency_vs_param": ("latency_end_to_end", "latency per inference [ns]", "latency"),
    "throughput_vs_param": ("throughput", "throughput [inferences/s]", "throughput"),
    "tops_per_watt_vs_param": ("tops_per_watt", "achieved TOPS/W", "energy efficiency"),
    "area_vs_param": ("area_total", "chip area [mm2]", "area"),
}


def _cost_vs_param(kind):
    var, ylabel, word = _COSTS[kind]

    def draw(ds, fig, opts):
        dims = _varying(ds)
        if len(dims) not in (1, 2):
            raise PlotDoesNotFit(f"{kind} needs one or two swept parameters with more than "
                                 f"one value each; this result has {len(dims)}"
                                 + (f" ({', '.join(dims)})" if dims else ""))
        name = var if var in ds else ("latency_total" if var == "latency_end_to_end" else var)
        _require(ds, name)
        dims = _order_dims(ds, dims)
        series = [(name, "")]
        if var == "latency_end_to_end" and "latency_total" in ds and name != "latency_total":
            a = np.asarray(ds[name].values, float)
            b = np.asarray(ds["latency_total"].values, float)
            if not np.allclose(a, b, equal_nan=True):
                series = [(name, "end to end"), ("latency_total", "pipeline interval")]
        # a dimension along which no cost changes (a condition such as mismatch) adds no line
        dims = [d for d in dims if any(_changes(ds[v], d) for v, _ in series)] or dims[:1]
        squeeze = {d: 0 for d in sweep_dims(ds) if d not in dims}
        sub = ds.isel(squeeze) if squeeze else ds
        xd = dims[0]
        x, cat = _x_axis(ds, xd)
        ax = fig.add_subplot(111)
        styles = ["-", "--"]
        base = "ns" if "latency" in var else "pJ" if "energy" in var else ""
        f, unit = _scale(np.asarray(sub[name].values, float), base) if base else (1.0, "")
        for s, (vname, what) in enumerate(series):
            vals = np.asarray(_over(sub[vname], dims).values, float) / f
            mk = "os"[s] + ("" if cat else styles[s])
            if len(dims) == 1:
                ax.plot(x, vals, mk, color="tab:blue" if s == 0 else "tab:purple",
                        label=what or None)
            else:
                n = ds.sizes[dims[1]]
                off = (np.arange(n) - (n - 1) / 2) * (0.6 / n) if cat else np.zeros(n)
                lname = _labels().axis_label([_path_of(ds, c) for c in _shown_members(ds, dims[1])])
                for j, t in enumerate(_tick_labels(ds, dims[1])):
                    ax.plot(x + off[j], vals[:, j], mk, color=f"C{j}",
                            label=f"{lname} = {t.replace(chr(10), ', ')}"
                            + (f" ({what})" if what else ""))
        v = np.asarray(sub[name].values, float)
        if np.nanmin(v) > 0 and np.nanmax(v) / np.nanmin(v) > 30:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        _set_x(ax, ds, xd, x, cat)
        ax.set_ylabel(ylabel.replace(f"[{base}]", f"[{unit}]") if unit else ylabel)
        ax.grid(True, alpha=0.3)
        handles, labs = ax.get_legend_handles_labels()
        if len(labs) > 2:
            fig.legend(handles, labs, loc="outside lower center", ncol=2, frameon=False)
        elif labs:
            ax.legend(loc="best", frameon=False)
        _title(ax, ds, f"{word} vs {_labels().parameter_name(_path_of(ds, _shown_members(ds, xd)[0]))}")

    return draw


def _changes(da, d) -> bool:
    """True when ``da`` is not constant along dimension ``d`` (relative 1e-9)."""
    if d not in da.dims or da.sizes[d] < 2:
        return False
    v = np.asarray(da.transpose(d, ...).values, float).reshape(da.sizes[d], -1)
    ref = np.nanmax(np.abs(v)) if np.isfinite(v).any() else 0.0
    return bool(np.nanmax(np.abs(v - v[:1])) > 1e-9 * max(ref, 1e-30)) if np.isfinite(v).any() else False


def _accuracy_vs_energy(ds, fig, opts):
    _need_accuracy(ds, "accuracy_vs_energy")
    members = _all_members(ds)
    if "network" not in members and "hardware" not in members:
        raise PlotDoesNotFit("accuracy_vs_energy needs a sweep over network or hardware "
                             "(it compares networks and cards); try pareto")
    dims = sweep_dims(ds)
    e = np.asarray(_over(_energy_da(ds), dims).values, float).reshape(-1)
    a = np.asarray(_over(ds["accuracy"], dims).values, float).reshape(-1)

    def values_of(path):
        for d in dims:
            if path in _member_paths(ds, d) or path in _extra_coords(ds, d):
                c = path if path in ds.coords else d
                return np.array([_fmt(v) for v in ds[c].values]), d
        return None, None

    nets, nd = values_of("network")
    cards, hd = values_of("hardware")
    idx = list(np.ndindex(*[ds.sizes[d] for d in dims]))
    net_of = [nets[i[dims.index(nd)]] if nd else str(ds.attrs.get("network", "")) for i in idx]
    card_of = [cards[i[dims.index(hd)]] if hd else str(ds.attrs.get("hardware_name", ""))
               for i in idx]
    ax = fig.add_subplot(111)
    markers = "os^Dv<>P*X"
    un, uc = list(dict.fromkeys(net_of)), list(dict.fromkeys(card_of))
    cost_only = not np.isfinite(a).any()
    y = a if not cost_only else np.zeros_like(e)
    for k in range(len(e)):
        ax.scatter(e[k], y[k], marker=markers[un.index(net_of[k]) % len(markers)],
                   color=f"C{uc.index(card_of[k]) % 10}", s=30, zorder=3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker=markers[i % len(markers)], color="0.3", label=n)
               for i, n in enumerate(un)]
    handles += [Line2D([], [], ls="", marker="s", color=f"C{i % 10}", label=c)
                for i, c in enumerate(uc)]
    if np.all(e > 0) and np.nanmax(e) / np.nanmin(e) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("energy per inference [pJ]")
    if cost_only:
        ax.set_yticks([])
        ax.set_ylabel("(no accuracy: cost-only study)")
    else:
        ax.set_ylabel("accuracy" + (f" (mean over {_trials(ds)} trials)" if _trials(ds) > 1 else ""))
        _reference_lines(ax, ds, dims, e)
        handles += [h for h, l in zip(*ax.get_legend_handles_labels()) if l.startswith("exact")]
    ax.grid(True, alpha=0.3)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _title(ax, ds, "accuracy vs energy")


_DRAW = {"pareto": _pareto, "energy_breakdown": _energy_breakdown,
         "accuracy_heatmap": _accuracy_heatmap, "accuracy_vs_param": _accuracy_vs_param,
         **{k: _cost_vs_param(k) for k in _COSTS}, "accuracy_vs_energy": _accuracy_vs_energy}

_SIZES = {"pareto": (PAGE_IN * 0.75, 2.9), "energy_breakdown": (PAGE_IN, 3.6),
          "accuracy_vs_energy": (PAGE_IN * 0.7, 2.8)}


def _format_of(path: Path, fmt: str | None) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if fmt is not None:
        fmt = str(fmt).lower().lstrip(".")
        if fmt not in FORMATS:
            raise PlotError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
        if suffix and suffix != fmt:
            raise PlotError(f"{path}: the suffix .{suffix} does not match the format {fmt!r}")
        return fmt
    if not suffix:
        return "png"
    if suffix not in FORMATS:
        raise PlotError(f"{path}: unknown figure format .{suffix}; expected a file ending "
                        f"in {', '.join('.' + f for f in FORMATS)}")
    return suffix


def render(ds, kind: str, select: dict | None = None, options: dict | None = None):
    """Draw plot ``kind`` of result ``ds`` into a new matplotlib Figure (the caller closes
    it: ``matplotlib.pyplot.close(fig)``)."""
    if kind not in _DRAW:
        raise PlotError(f"unknown plot kind {kind!r}; expected one of {', '.join(KINDS)}")
    if isinstance(ds, (str, os.PathLike)):
        ds = open_result(ds)
    opts = dict(options or {})
    if select:
        opts["select"] = select
    plt = _plt()
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = plt.figure(figsize=_SIZES.get(kind, (COLUMN_IN, 2.8)), layout="constrained")
        try:
            _DRAW[kind](ds, fig, opts)
        except BaseException:
            plt.close(fig)
            raise
    return fig


def plot(ds, kind: str, path, select: dict | None = None, *, fmt: str | None = None,
         dpi: int | None = None, options: dict | None = None) -> Path:
    """Draw plot ``kind`` of result ``ds`` (a dataset or a path to one) into ``path``,
    written atomically in the format its suffix names (``.png``, ``.pdf``, ``.svg``; a
    path without suffix gets ``.<fmt>``, default png). ``dpi``: resolution of PNG output
    (default :data:`DEFAULT_DPI`). ``options``: ``log`` (energy_breakdown), ``vmin``,
    ``vmax`` (accuracy_heatmap colour range). Returns the path."""
    path = Path(path)
    fmt = _format_of(path, fmt)
    if not path.suffix:
        path = path.with_suffix("." + fmt)
    fig = render(ds, kind, select, options)
    plt = _plt()
    import matplotlib

    try:
        with matplotlib.rc_context(_RC):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.{fmt}")
                meta = {"png": {"Software": "imcsim"}, "pdf": {"Creator": "imcsim"},
                        "svg": {"Creator": "imcsim"}}[fmt]
                fig.savefig(tmp, dpi=int(dpi or DEFAULT_DPI), format=fmt, metadata=meta)
                os.replace(tmp, path)
            except OSError as exc:
                raise PlotError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path


def figure_bytes(ds, kind: str, fmt: str = "png", dpi: int = 150,
                 select: dict | None = None, options: dict | None = None) -> bytes:
    """Plot ``kind`` of ``ds`` as the bytes of a ``fmt`` file (for embedding)."""
    import io

    fmt = _format_of(Path("figure." + fmt), None)
    fig = render(ds, kind, select, options)
    plt = _plt()
    import matplotlib

    try:
        buf = io.BytesIO()
        with matplotlib.rc_context(_RC):
            fig.savefig(buf, dpi=dpi, format=fmt)
        return buf.getvalue()
    finally:
        plt.close(fig)


def figures_for_report(ds, fmt: str = "png", dpi: int = 120) -> list[tuple[str, bytes]]:
    """``(kind, bytes)`` of every kind that fits ``ds``, in :data:`KINDS` order."""
    out = []
    for kind in KINDS:
        try:
            out.append((kind, figure_bytes(ds, kind, fmt, dpi)))
        except PlotDoesNotFit:
            continue
    return out

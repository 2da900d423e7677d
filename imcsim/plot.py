"""PNG plots of a study result (matplotlib, Agg backend: no screen needed).

Kinds (:data:`KINDS`):

- ``pareto``: energy per inference vs accuracy (mean +- std over trials), one marker per
  sweep point labelled with its sweep values, the energy/accuracy Pareto front marked;
- ``energy_breakdown``: stacked bars of energy per layer by component at one point (the
  first, or the one chosen with ``select``), and the total per point by component;
- ``accuracy_heatmap``: mean accuracy over two swept parameters;
- ``accuracy_vs_param``: accuracy (mean +- std) vs one swept parameter, one line per value
  of a second swept parameter if there is one.

A plot that does not apply to a result (a heatmap of a one-parameter sweep) raises
:class:`PlotError` with a one-line message.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["KINDS", "PlotError", "plot", "open_result"]

KINDS = ("pareto", "energy_breakdown", "accuracy_heatmap", "accuracy_vs_param")


from imcsim.errors import PlotDoesNotFit, PlotError
from imcsim.results.labels import format_value as _fmt


# xarray loads on first use: the CLI's parser and `imcsim validate` read KINDS only
def sweep_dims(ds) -> list[str]:
    from imcsim.results.dataset import sweep_dims

    return sweep_dims(ds)


def front_mask(energy, accuracy):
    from imcsim.results.pareto import front_mask

    return front_mask(energy, accuracy)


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def open_result(path):
    """Load a result dataset written by ``imcsim run``."""
    from imcsim.results.netcdf import read_netcdf

    try:
        return read_netcdf(path)
    except (OSError, ValueError, TypeError) as exc:
        raise PlotError(f"{path}: cannot read as a result dataset: "
                        f"{' '.join(str(exc).split())}") from None


def _varying(ds) -> list[str]:
    return [d for d in sweep_dims(ds) if ds.sizes[d] > 1]


def _short_names(dims) -> dict:
    """Parameter paths shortened to their last part where that stays unambiguous
    (``cell.mismatch_sigma`` -> ``mismatch_sigma``)."""
    last = [str(d).rsplit(".", 1)[-1] for d in dims]
    return {d: (s if last.count(s) == 1 else str(d)) for d, s in zip(dims, last)}


def _extra_coords(ds, d) -> list[str]:
    """Non-dimension coordinates along sweep dimension ``d`` (other members of a zip
    group) whose values differ from ``d``'s own."""
    own = [_fmt(v) for v in ds[d].values]
    return [c for c, v in ds.coords.items()
            if c != d and v.dims == (d,) and [_fmt(x) for x in v.values] != own]


def _member_paths(ds, d) -> list[str]:
    """Parameter paths of sweep dimension ``d`` (its ``parameter`` attr)."""
    return [p.strip() for p in str(ds[d].attrs.get("parameter", d)).split(",")]


def _point_labels(ds, dims, extras: bool = True) -> list[str]:
    """``dim=value, ...`` per point. Other members of a zip group are shown when the
    group's dimension has a name of its own (``design``) or ``extras``."""
    def more(d):
        return [c for c in _extra_coords(ds, d) if extras or d not in _member_paths(ds, d)]

    names = []
    for d in dims:
        names.append(d)
        names.extend(more(d))
    short = _short_names(names)
    out = []
    for pos in np.ndindex(*[ds.sizes[d] for d in dims]):
        parts = []
        for d, i in zip(dims, pos):
            parts.append(f"{short[d]}={_fmt(ds[d].values[i])}")
            parts.extend(f"{short[c]}={_fmt(ds[c].values[i])}" for c in more(d))
        out.append(", ".join(parts))
    return out


def _require(ds, *names):
    for n in names:
        if n not in ds.variables:
            raise PlotError(f"the result has no variable {n!r}; expected a dataset written "
                            "by `imcsim run`")


def _energy_per_point(ds, dims) -> np.ndarray:
    """Energy per inference [pJ] for each point (C order over dims)."""
    _require(ds, "energy")
    e = ds["energy"]
    other = [d for d in e.dims if d not in dims]
    tot = e.sum(other) if other else e
    if "trial" in tot.dims:
        tot = tot.mean("trial")
    return np.asarray(tot.transpose(*dims).values, dtype=float).reshape(-1) if dims else \
        np.asarray([float(tot)])


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
        std = mean * 0
    if dims:
        mean = mean.transpose(*dims)
        std = std.transpose(*dims)
    return np.asarray(mean.values, dtype=float), np.asarray(std.values, dtype=float)


def _title(ds, what: str) -> str:
    name = ds.attrs.get("study", "")
    return f"{name}: {what}" if name else what


# --------------------------------------------------------------------------- kinds
def _pareto(ds, fig, select):
    dims = sweep_dims(ds)
    e = _energy_per_point(ds, dims)
    mean, std = _accuracy_stats(ds, dims)
    mean, std = mean.reshape(-1), std.reshape(-1)
    labels = _point_labels(ds, dims, extras=False) if dims else [ds.attrs.get("study", "point")]
    front = front_mask(e, mean)
    ax = fig.add_subplot(111)
    ax.errorbar(e, mean, yerr=std, fmt="o", color="tab:blue", ecolor="0.6", capsize=3,
                label="points (mean +- std over trials)", zorder=2)
    order = np.argsort(e[front])
    ax.plot(e[front][order], mean[front][order], "-", color="tab:red", lw=1.5, zorder=3)
    ax.scatter(e[front], mean[front], s=90, facecolors="none", edgecolors="tab:red",
               linewidths=1.5, label="Pareto front", zorder=4)
    if e.size > 1 and np.all(e > 0) and e.max() / e.min() > 20:
        ax.set_xscale("log")
    if len(labels) <= 40:
        # room on the right for the labels of the rightmost points
        ax.autoscale_view()
        x0, x1 = ax.get_xlim()
        width = min(max(len(t) for t in labels) * 0.012, 0.6)
        if ax.get_xscale() == "log":
            ax.set_xlim(x0, x1 * (x1 / x0) ** width)
        else:
            ax.set_xlim(x0, x1 + (x1 - x0) * width)
        # points that (nearly) coincide on the figure share one label, one line each
        xy = ax.transData.transform(np.column_stack([e, mean]))
        groups: dict = {}
        anchors: list = []
        for k, t in enumerate(labels):
            for a in anchors:
                if np.hypot(*(xy[k] - xy[a])) < 14.0:
                    groups[(e[a], mean[a])].append(t)
                    break
            else:
                anchors.append(k)
                groups[(e[k], mean[k])] = [t]
        notes = [ax.annotate("\n".join(ts), (x, y), textcoords="offset points",
                             xytext=(6, 3), fontsize=7, va="top" if len(ts) > 1 else "bottom")
                 for (x, y), ts in groups.items()]
        if _overlap(fig, notes):
            # too crowded for full labels: number the points, list the numbers beside
            for n in notes:
                n.remove()
            ax.set_xlim(x0, x1)
            for k, (x, y) in enumerate(zip(e, mean)):
                ax.annotate(str(k + 1), (x, y), textcoords="offset points", xytext=(4, 3),
                            fontsize=7)
            key = "\n".join(f"{'*' if front[k] else ' '}{k + 1:>2}: {t}"
                            for k, t in enumerate(labels)) + "\n\n* on the Pareto front"
            ax.text(1.02, 1.0, key, transform=ax.transAxes, va="top", ha="left", fontsize=7,
                    family="monospace")
    ax.set_xlabel("energy per inference [pJ]")
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(_title(ds, "energy vs accuracy"))


def _overlap(fig, texts) -> bool:
    """True if any two of the texts' boxes on the figure overlap."""
    try:
        r = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer=r) for t in texts]
    except Exception:
        return False
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if boxes[i].overlaps(boxes[j]):
                return True
    return False


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
    for d in dims:
        sel.setdefault(d, 0)
    return sel


def _energy_breakdown(ds, fig, select):
    _require(ds, "energy")
    dims = sweep_dims(ds)
    e = ds["energy"]
    if "trial" in e.dims:
        e = e.mean("trial")
    if "layer" not in e.dims or "component" not in e.dims:
        raise PlotDoesNotFit("energy_breakdown needs energy over (layer, component); "
                        f"this result has {e.dims}")
    comps = [_fmt(c) for c in e["component"].values]
    layers = [_fmt(c) for c in e["layer"].values]
    colors = _plt().get_cmap("tab20")(np.linspace(0, 1, max(len(comps), 2)))
    sel = _select_point(ds, dims, select)
    point = e.isel(sel) if sel else e
    arr = np.asarray(point.transpose("layer", "component").values, dtype=float)
    # a study sweeping networks has the union of their layers: show this point's own
    keep = ~np.all(np.isnan(arr), axis=1)
    if keep.any():
        arr = arr[keep]
        layers = [l for l, k in zip(layers, keep) if k]
    arr = np.nan_to_num(arr)
    npts = int(np.prod([ds.sizes[d] for d in dims])) if dims else 1
    ax1 = fig.add_subplot(1, 2 if npts > 1 else 1, 1)
    bottom = np.zeros(len(layers))
    x = np.arange(len(layers))
    for j, c in enumerate(comps):
        ax1.bar(x, arr[:, j], bottom=bottom, color=colors[j], label=c)
        bottom += arr[:, j]
    ax1.set_ylim(0, max(float(bottom.max()), 1e-30) * 1.08)
    ax1.set_xticks(x, layers, rotation=30, ha="right")
    ax1.set_ylabel("energy per inference [pJ]")
    where = ", ".join(f"{d}={_fmt(ds[d].values[i])}" for d, i in sel.items())
    ax1.set_title("per layer" + (f" ({where})" if where else ""), fontsize=9)
    ax1.grid(True, axis="y", alpha=0.3)
    if npts > 1:
        ax2 = fig.add_subplot(1, 2, 2)
        tot = e.sum("layer").transpose(*dims, "component")
        tarr = np.nan_to_num(np.asarray(tot.values, dtype=float).reshape(npts, len(comps)))
        labels = _point_labels(ds, dims)
        xb = np.arange(npts)
        bottom = np.zeros(npts)
        for j, c in enumerate(comps):
            ax2.bar(xb, tarr[:, j], bottom=bottom, color=colors[j], label=c)
            bottom += tarr[:, j]
        ax2.set_ylim(0, max(float(bottom.max()), 1e-30) * 1.08)
        if npts <= 40:
            ax2.set_xticks(xb, labels, rotation=60, ha="right", fontsize=7)
        ax2.set_title("total per point", fontsize=9)
        ax2.grid(True, axis="y", alpha=0.3)
        ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax1.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(_title(ds, "energy breakdown by component"))


def _numeric(vals) -> bool:
    return np.asarray(vals).dtype.kind in "iuf"


def _accuracy_heatmap(ds, fig, select):
    dims = _varying(ds)
    if len(dims) != 2:
        raise PlotDoesNotFit("accuracy_heatmap needs exactly two swept parameters with more "
                        f"than one value each; this result has {len(dims)}"
                        + (f" ({', '.join(dims)})" if dims else "")
                        + "; try --kind accuracy_vs_param or pareto")
    squeeze = {d: 0 for d in sweep_dims(ds) if d not in dims}
    sub = ds.isel(squeeze) if squeeze else ds
    mean, std = _accuracy_stats(sub, dims)
    ax = fig.add_subplot(111)
    im = ax.imshow(mean, origin="lower", aspect="auto", cmap="viridis")
    fig.colorbar(im, ax=ax, label="accuracy (mean over trials)")
    ax.set_yticks(range(mean.shape[0]), [_fmt(v) for v in ds[dims[0]].values])
    ax.set_xticks(range(mean.shape[1]), [_fmt(v) for v in ds[dims[1]].values])
    ax.set_ylabel(dims[0])
    ax.set_xlabel(dims[1])
    if mean.size <= 100:
        lo, hi = np.nanmin(mean), np.nanmax(mean)
        for i in range(mean.shape[0]):
            for j in range(mean.shape[1]):
                bright = hi > lo and (mean[i, j] - lo) / (hi - lo) > 0.6
                ax.text(j, i, f"{mean[i, j]:.3f}\n+-{std[i, j]:.3f}", ha="center",
                        va="center", fontsize=7, color="black" if bright else "white")
    ax.set_title(_title(ds, "accuracy"))


def _accuracy_vs_param(ds, fig, select):
    dims = _varying(ds)
    if len(dims) not in (1, 2):
        raise PlotDoesNotFit("accuracy_vs_param needs one or two swept parameters with more "
                        f"than one value each; this result has {len(dims)}"
                        + (f" ({', '.join(dims)})" if dims else ""))
    squeeze = {d: 0 for d in sweep_dims(ds) if d not in dims}
    sub = ds.isel(squeeze) if squeeze else ds
    mean, std = _accuracy_stats(sub, dims)
    xd = dims[0]
    xv = ds[xd].values
    x = np.asarray(xv, dtype=float) if _numeric(xv) else np.arange(len(xv))
    ax = fig.add_subplot(111)
    if len(dims) == 1:
        ax.errorbar(x, mean, yerr=std, fmt="o-", capsize=3)
    else:
        for j, v in enumerate(ds[dims[1]].values):
            ax.errorbar(x, mean[:, j], yerr=std[:, j], fmt="o-", capsize=3,
                        label=f"{dims[1]}={_fmt(v)}")
        ax.legend(fontsize=8, loc="best")
    if not _numeric(xv):
        ax.set_xticks(x, [_fmt(v) for v in xv], rotation=20, ha="right")
    elif len(x) <= 12:
        ax.set_xticks(x, [_fmt(v) for v in xv])
    ax.set_xlabel(xd)
    ax.set_ylabel("accuracy (mean +- std over trials)")
    ax.grid(True, alpha=0.3)
    ax.set_title(_title(ds, f"accuracy vs {xd}"))


_DRAW = {"pareto": _pareto, "energy_breakdown": _energy_breakdown,
         "accuracy_heatmap": _accuracy_heatmap, "accuracy_vs_param": _accuracy_vs_param}


def plot(ds, kind: str, path, select: dict | None = None) -> Path:
    """Draw plot ``kind`` of result ``ds`` (a dataset or a path to one) into PNG ``path``
    (written atomically). Returns the path."""
    if kind not in _DRAW:
        raise PlotError(f"unknown plot kind {kind!r}; expected one of {', '.join(KINDS)}")
    if isinstance(ds, (str, os.PathLike)):
        ds = open_result(ds)
    plt = _plt()
    fig = plt.figure(figsize={"energy_breakdown": (10, 6), "pareto": (9, 5.5)}.get(kind, (7.5, 5.5)))
    try:
        _DRAW[kind](ds, fig, select)
        fig.tight_layout()
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(path.suffix + ".png") if path.suffix else \
                path.with_suffix(".png")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
            fig.savefig(tmp, dpi=120, format="png")
            os.replace(tmp, path)
        except OSError as exc:
            raise PlotError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path

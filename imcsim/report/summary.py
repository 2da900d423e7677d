"""The summary table of a result: one row per sweep point.
"""
from __future__ import annotations

import itertools
import math
import numpy as np
from imcsim.report.dataset import sweep_dims
from imcsim.report.labels import format_value as _fmt

# --------------------------------------------------------------------------- summary
def summary_table(ds, max_rows: int | None = 200) -> str:
    """One row per point: sweep values, accuracy (mean, and +- the standard deviation over
    trials when there is more than one trial), energy per inference, latency per inference
    (end to end; and the pipeline interval in its own column when a point's differs),
    TOPS/W."""
    dims = sweep_dims(ds)
    shown = []  # each sweep dimension, then the other members of its zip group
    for d in dims:
        shown.append(d)
        own = [_fmt(_scalar(v)) for v in ds[d].values]
        shown.extend(c for c, v in ds.coords.items() if c != d and v.dims == (d,)
                     and [_fmt(_scalar(x)) for x in v.values] != own)
    trials = int(ds.sizes.get("trial", 1)) if "accuracy" in ds and "trial" in ds["accuracy"].dims else 1
    pipelined = _pipelined(ds)
    acc_col = "accuracy" if trials <= 1 else f"accuracy (+- std, {trials} trials)"
    cols = shown + [acc_col, "energy/inf", "latency/inf"] + (["interval/inf"] if pipelined else []) + ["TOPS/W"]
    rows = []
    sizes = [ds.sizes[d] for d in dims]
    for pos in itertools.product(*[range(s) for s in sizes]):
        sel = dict(zip(dims, pos))
        p = ds.isel(sel) if sel else ds
        row = [_fmt(_scalar(p[c].values)) for c in shown]
        row.append(accuracy_text(p["accuracy"].values) if "accuracy" in p else "-")
        row.append(_energy_text(_total_energy(p)))
        row.append(_latency_text(_end_to_end(p)))
        if pipelined:
            row.append(_latency_text(_total_latency(p)))
        row.append(f"{float(p['tops_per_watt']):.4g}" if "tops_per_watt" in p else "-")
        rows.append(row)
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(cols)]
    line = "  ".join(c.rjust(w) for c, w in zip(cols, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    limit = max_rows if max_rows and len(rows) > max_rows else None
    for r in rows[:limit]:
        out.append("  ".join(v.rjust(w) for v, w in zip(r, widths)))
    if limit:
        out.append(f"... {len(rows) - limit} more points (all of them in the result file)")
    if pipelined:
        out.append("latency/inf: one inference end to end; interval/inf: time between "
                   "inferences on the pipelined chip (its slowest layer)")
    return "\n".join(out)


def accuracy_text(values) -> str:
    """Accuracy over trials as text: the mean alone for one trial (or all NaN), else
    ``mean +- std`` (sample standard deviation over the trials)."""
    acc = np.asarray(values, dtype=float).reshape(-1)
    acc = acc[np.isfinite(acc)]
    if acc.size == 0:
        return "-"
    if acc.size == 1:
        return f"{acc[0]:.4f}"
    return f"{acc.mean():.4f} +- {acc.std(ddof=1):.4f}"


def _pipelined(ds) -> bool:
    """True when some point's pipeline interval differs from its end-to-end latency."""
    if "latency_end_to_end" not in ds or "latency_total" not in ds:
        return False
    a = np.asarray(ds["latency_end_to_end"].values, float)
    b = np.asarray(ds["latency_total"].values, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return bool(np.any(np.abs(a[ok] - b[ok]) > 1e-9 * np.maximum(np.abs(a[ok]), 1.0)))


def _end_to_end(p) -> float:
    if "latency_end_to_end" in p:
        return float(np.asarray(p["latency_end_to_end"].values, dtype=float).mean())
    return _total_latency(p)


def _scalar(v):
    v = np.asarray(v)
    return v.item() if v.ndim == 0 else v


def _total_energy(p) -> float:
    for name in ("energy_per_inference", "energy_total"):
        if name in p:
            return float(np.asarray(p[name].values, dtype=float).mean())
    if "energy" in p:
        return float(np.asarray(p["energy"].values, dtype=float).sum())
    return float("nan")


def _total_latency(p) -> float:
    for name in ("latency_per_inference", "latency_total", "inference_latency"):
        if name in p:
            return float(np.asarray(p[name].values, dtype=float).mean())
    if "latency" in p:
        return float(np.asarray(p["latency"].values, dtype=float).sum())
    return float("nan")


def _energy_text(pj: float) -> str:
    if not math.isfinite(pj):
        return "-"
    for unit, scale in (("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if pj >= scale:
            return f"{pj / scale:.4g} {unit}"
    return f"{pj:.4g} pJ"


def _latency_text(ns: float) -> str:
    if not math.isfinite(ns):
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.4g} {unit}"
    return f"{ns:.4g} ns"

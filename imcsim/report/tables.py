"""Tables of a result for papers and colleagues: one row per sweep point, one row per point
and layer, with units, as text, CSV or Markdown; and one self-contained HTML report (figures
embedded, the tables, the study text, the card and the provenance) that opens in any
browser without imcsim.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import itertools
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from imcsim.report.dataset import sweep_dims
from imcsim.report.labels import format_value as _fmt

__all__ = ["point_table", "layer_table", "format_table", "tables_text", "html_report",
           "write_html"]

TABLE_FORMATS = ("text", "csv", "markdown")


def _members(ds, d) -> list[str]:
    own = [_fmt(v) for v in ds[d].values]
    extra = [c for c, v in ds.coords.items() if c != d and v.dims == (d,)
             and [_fmt(x) for x in v.values] != own]
    return [d] + extra


def _unit(ds, name) -> str:
    u = str(ds[name].attrs.get("units", "")) if name in ds.variables else ""
    return u


def _head(name, unit) -> str:
    return f"{name} [{unit}]" if unit and unit != "1" else name


def _num(v, digits=4) -> str:
    v = float(v)
    if not np.isfinite(v):
        return "-"
    return f"{v:.{digits}g}"


def _positions(ds, dims):
    return list(itertools.product(*[range(ds.sizes[d]) for d in dims]))


def point_table(ds) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: one row per sweep point: the sweep values, accuracy (mean, std
    and worst over trials when there are several), energy per inference in total and by
    component, end-to-end latency, pipeline interval, throughput, TOPS, TOPS/W, area."""
    dims = sweep_dims(ds)
    shown = [c for d in dims for c in _members(ds, d)]
    trials = int(ds["accuracy"].sizes.get("trial", 1)) if "accuracy" in ds else 0
    comps = [_fmt(c) for c in ds["component"].values] if "component" in ds.coords else []
    head = [_head(c, str(ds[c].attrs.get("units", ""))) for c in shown]
    if trials:
        head += ["accuracy"] + (["accuracy std", "accuracy worst"] if trials > 1 else [])
    head += [_head("energy", "pJ")] + [_head(f"energy {c}", "pJ") for c in comps]
    cost = [("latency_end_to_end", "latency end to end"), ("latency_total", "interval (pipeline)"),
            ("throughput", "throughput"), ("tops", "TOPS"), ("tops_per_watt", "TOPS/W"),
            ("area_total", "area")]
    cost = [(v, n) for v, n in cost if v in ds]
    head += [_head(n, _unit(ds, v)) if v not in ("tops", "tops_per_watt") else n
             for v, n in cost]
    rows = []
    for pos in _positions(ds, dims):
        p = ds.isel(dict(zip(dims, pos))) if dims else ds
        row = [_fmt(np.asarray(p[c].values).item()) for c in shown]
        if trials:
            acc = np.asarray(p["accuracy"].values, float).reshape(-1)
            ok = acc[np.isfinite(acc)]
            row.append(f"{ok.mean():.4f}" if ok.size else "-")
            if trials > 1:
                row += [f"{ok.std(ddof=1):.4f}" if ok.size > 1 else "-",
                        f"{ok.min():.4f}" if ok.size else "-"]
        e = np.asarray(p["energy"].values, float) if "energy" in p else np.zeros((0, 0))
        row.append(_num(np.nansum(e)) if e.size else "-")
        row += [_num(np.nansum(e[:, j])) for j in range(len(comps))]
        row += [_num(np.asarray(p[v].values, float).mean()) for v, _ in cost]
        rows.append(row)
    return head, rows


#: per-layer variables: (variable, column name)
_LAYER_VARS = (("latency", "latency"), ("macs", "MACs"), ("accesses", "accesses"),
               ("adc_conversions", "ADC conversions"), ("tiles", "tiles"),
               ("utilization", "utilization"), ("mac_error_rms", "MAC error (rms)"))


def layer_table(ds) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: one row per sweep point and layer: the sweep values, the
    layer, energy per inference in total and by component, latency of the layer, MACs,
    accesses, ADC conversions, tiles, utilization and the relative RMS MAC error (mean
    over trials). Layers a point's network does not have are left out."""
    dims = sweep_dims(ds)
    shown = [c for d in dims for c in _members(ds, d)]
    comps = [_fmt(c) for c in ds["component"].values] if "component" in ds.coords else []
    vars_ = [(v, n) for v, n in _LAYER_VARS if v in ds]
    head = [_head(c, str(ds[c].attrs.get("units", ""))) for c in shown] + ["layer"]
    head += [_head("energy", "pJ")] + [_head(f"energy {c}", "pJ") for c in comps]
    head += [_head(n, _unit(ds, v)) if _unit(ds, v) not in ("count",) else n for v, n in vars_]
    rows = []
    layers = [_fmt(v) for v in ds["layer"].values]
    for pos in _positions(ds, dims):
        p = ds.isel(dict(zip(dims, pos))) if dims else ds
        e = np.asarray(p["energy"].transpose("layer", "component").values, float)
        for i, name in enumerate(layers):
            if np.all(np.isnan(e[i])):
                continue
            row = [_fmt(np.asarray(p[c].values).item()) for c in shown] + [name]
            row.append(_num(np.nansum(e[i])))
            row += [_num(x) for x in e[i]]
            for v, _ in vars_:
                da = p[v]
                if "trial" in da.dims:
                    da = da.mean("trial")
                row.append(_num(np.asarray(da.isel(layer=i).values, float)))
            rows.append(row)
    return head, rows


def format_table(head, rows, fmt: str = "text") -> str:
    """A table as aligned text, CSV or a Markdown table."""
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(TABLE_FORMATS)}")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(head)
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "markdown":
        esc = lambda t: str(t).replace("|", "\\|")  # noqa: E731
        out = ["| " + " | ".join(map(esc, head)) + " |",
               "|" + "|".join("---:" if i else "---" for i in range(len(head))) + "|"]
        out += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
        return "\n".join(out)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def _latency_note(ds) -> str:
    return ("latency end to end: one inference from first input to last output; interval "
            "(pipeline): time between inferences on a pipelined chip (its slowest layer)")


def tables_text(ds, fmt: str = "text", which=("points", "layers")) -> str:
    """The per-point and/or per-layer tables of ``ds`` in ``fmt``; text and Markdown get a
    heading per table, CSV tables are separated by one blank line."""
    parts = []
    for w in which:
        head, rows = point_table(ds) if w == "points" else layer_table(ds)
        title = ("per point (energy per inference)" if w == "points"
                 else "per layer (per inference)")
        t = format_table(head, rows, fmt)
        if fmt == "text":
            parts.append(f"{title}\n\n{t}")
        elif fmt == "markdown":
            parts.append(f"### {title}\n\n{t}")
        else:
            parts.append(t)
    if fmt != "csv" and "latency_end_to_end" in ds:
        parts.append(_latency_note(ds))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
pre{background:#f8f8f8;border:1px solid #e4e4e4;padding:.6em;overflow-x:auto;font-size:.8em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.scroll{overflow-x:auto}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;font-size:.9em}
dt{font-weight:600}dd{margin:0;word-break:break-all}
"""

_PROVENANCE = ("study", "study_file", "study_hash", "network", "hardware_name", "seed", "trials",
               "network_weights_sha256", "dataset_folder", "dataset_sha256", "exact_accuracy",
               "versions", "command_line", "created", "host_platform", "imcsim_version")


def _html_table(head, rows) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def html_report(ds, figures=(), source: str | os.PathLike | None = None) -> str:
    """One HTML page: title, provenance, every figure in ``figures`` (``(kind, png
    bytes)``, embedded as data URIs), the per-point and per-layer tables, the study text,
    the card(s) and the network specs. Needs nothing but a browser."""
    name = str(ds.attrs.get("study", "") or "imcsim result")
    where = " on ".join(str(x) for x in (ds.attrs.get("network", ""),
                                          ds.attrs.get("hardware_name", "")) if x)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(name)}: imcsim report</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(name)}</h1>"]
    if ds.attrs.get("description") or where:
        out.append(f"<p>{html.escape(where)}</p>")
    if source:
        out.append(f"<p>Result file: <code>{html.escape(str(source))}</code></p>")
    out.append("<h2>Provenance</h2><dl>")
    for k in _PROVENANCE:
        v = ds.attrs.get(k)
        if v is None or v == "":
            continue
        out.append(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>")
    out.append("</dl>")
    if figures:
        out.append("<h2>Figures</h2>")
        for kind, data in figures:
            b64 = base64.b64encode(data).decode("ascii")
            out.append(f'<figure id="fig-{html.escape(kind)}"><img alt="{html.escape(kind)}" '
                       f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(kind)}'
                       "</figcaption></figure>")
    out.append("<h2>Per point</h2>")
    out.append(_html_table(*point_table(ds)))
    out.append("<h2>Per layer</h2>")
    out.append(_html_table(*layer_table(ds)))
    if "latency_end_to_end" in ds:
        out.append(f"<p>{html.escape(_latency_note(ds))}.</p>")
    if ds.attrs.get("study_text"):
        out.append("<h2>Study</h2><pre>" + html.escape(str(ds.attrs["study_text"])) + "</pre>")
    if ds.attrs.get("hardware"):
        out.append("<h2>Hardware card</h2><pre>" + html.escape(str(ds.attrs["hardware"]))
                   + "</pre>")
    if ds.attrs.get("network_spec"):
        try:
            spec = json.dumps(json.loads(ds.attrs["network_spec"]), indent=1)
        except (TypeError, ValueError):
            spec = str(ds.attrs["network_spec"])
        out.append("<h2>Network</h2><pre>" + html.escape(spec) + "</pre>")
    out.append("</body></html>")
    return "\n".join(out)


def write_html(ds, path, figures=(), source=None) -> Path:
    """Write :func:`html_report` to ``path`` atomically; returns the path."""
    from imcsim.errors import InputError

    path = Path(path)
    text = html_report(ds, figures, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".html", dir=path.parent)
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path

"""The ``imcsim`` command line: run, validate, plot, report, list, info, import, bench.

Exit status: 0 done, 2 bad input (one line on stderr naming the file, the key and what
was expected), 1 an internal error (a bug: the traceback with IMCSIM_DEBUG=1), 130 interrupted (points already computed stay on disk).
"""
from __future__ import annotations

import argparse
import os
import sys

from imcsim import __version__

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

MAIN_EPILOG = """\
examples:
  imcsim run quickstart                     # a shipped study, by name
  imcsim run studies/adc_bits_sweep.yaml --workers 2
  imcsim run my_study.yaml --scheduler tcp://10.0.0.5:8786
  imcsim run my_study.yaml --resume         # continue after Ctrl-C or a crash
  imcsim validate my_study.yaml             # check a study without simulating
  imcsim plot results/quickstart.nc --kind pareto -o pareto.pdf
  imcsim report results/quickstart.nc --html quickstart.html
  imcsim list cards
  imcsim info tim_dnn_32nm
  imcsim import my_bnn.onnx -o nets/        # bring your own QONNX / ONNX network
  imcsim bench

exit status: 0 done, 2 bad input, 1 internal error (IMCSIM_DEBUG=1: traceback),
130 interrupted
"""

RUN_EPILOG = """\
STUDY is a study YAML file or the name of a shipped study (see `imcsim list studies`).
Each finished point is saved at once under OUTDIR/STUDY.points/; the result is
OUTDIR/STUDY.nc plus the PNG plots named in the study's outputs.plots.

examples:
  imcsim run quickstart
  imcsim run studies/variation_sweep.yaml --workers 2      # local dask cluster
  dask scheduler &  dask worker tcp://127.0.0.1:8786 &
  imcsim run studies/variation_sweep.yaml --scheduler tcp://127.0.0.1:8786
  imcsim run studies/variation_sweep.yaml --resume         # only the missing points
  imcsim run quickstart --out /tmp/results --no-plots
"""

VALIDATE_EPILOG = """\
Checks the schema, that the network(s), card(s) and dataset exist, that every swept or
set parameter path exists in the card and every value is accepted, and that the output
directory can be written. Simulates nothing.

examples:
  imcsim validate studies/quickstart.yaml
  imcsim validate binary_vs_ternary
"""

PLOT_EPILOG = """\
kinds:
  pareto             energy per inference vs accuracy (mean +- std), front marked
  energy_breakdown   stacked energy bars per layer by component (and per point)
  accuracy_heatmap   accuracy over two swept parameters
  accuracy_vs_param  accuracy vs one swept parameter, error bars (one line per value
                     of a second swept parameter, if any)
  latency_vs_param, throughput_vs_param, tops_per_watt_vs_param, area_vs_param
                     that cost vs one swept parameter
  accuracy_vs_energy accuracy vs energy per inference across the networks and cards swept

-o FILE writes the format its suffix names: .png, .pdf or .svg.

examples:
  imcsim plot results/quickstart.nc                  # every kind that fits
  imcsim plot results/quickstart.nc --kind pareto
  imcsim plot results/quickstart.nc --kind accuracy_heatmap -o heat.png
  imcsim plot results/quickstart.nc --kind energy_breakdown --select adc.bits=4 --log
  imcsim plot results/quickstart.nc --kind pareto -o fig.pdf
  imcsim plot results/quickstart.nc --format svg     # every kind, as SVG
"""

REPORT_EPILOG = """\
Per-point and per-layer tables of a result (accuracy, energy by component, latency,
accesses, conversions, utilization, MAC error), with units.

examples:
  imcsim report results/quickstart.nc                    # text tables
  imcsim report results/quickstart.nc --format csv > quickstart.csv
  imcsim report results/quickstart.nc --format markdown --layers
  imcsim report results/quickstart.nc --html report.html # one self-contained file
"""

LIST_EPILOG = """\
examples:
  imcsim list              # cards, networks and studies
  imcsim list cards
  imcsim list networks
  imcsim list studies
"""

INFO_EPILOG = """\
Peak TOPS, TOPS/W, TOPS/mm2, area and the energy of one access of a hardware card.

examples:
  imcsim info tim_dnn_32nm
  imcsim info path/to/my_card.yaml
"""

IMPORT_EPILOG = """\
Reads a QONNX (Brevitas, FINN, qonnx) or standard ONNX (QDQ, Sign-based) model and writes
OUTDIR/NAME.yaml (imcsim-network/2) and OUTDIR/NAME.npz; a study names the YAML file as
its network. MatMul/Gemm/Conv layers with quantized weights and quantized inputs become
crossbar layers, the rest runs digitally. Needs the onnx package: pip install 'imcsim[onnx]'.

examples:
  imcsim import TFC_2W2A.onnx -o nets/
  imcsim import model.onnx -o nets/ --name my_bnn
"""

BENCH_EPILOG = """\
Runs the performance benchmarks; options after `bench` go to the benchmark itself.

examples:
  imcsim bench
  imcsim bench --help
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line + exit status 2."""

    def error(self, message):  # pragma: no cover - exercised through main
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="imcsim", formatter_class=fmt, epilog=MAIN_EPILOG,
                description="Simulate binary/ternary neural networks on SRAM "
                            "in-memory-computing crossbars: accuracy, energy, latency, area.")
    p.add_argument("--version", action="version", version=f"imcsim {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    r = sub.add_parser("run", help="run a study: sweep x trials -> dataset, table, plots",
                       formatter_class=fmt, epilog=RUN_EPILOG,
                       description="Run every point of a study's sweep for every trial.")
    r.add_argument("study", metavar="STUDY", help="study YAML file or shipped study name")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, metavar="N",
                   help="run on a local dask cluster of N worker processes")
    g.add_argument("--scheduler", metavar="ADDR",
                   help="run on an existing dask scheduler, e.g. tcp://host:8786")
    r.add_argument("--resume", action="store_true",
                   help="keep the points already computed; compute only the missing ones")
    r.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    r.add_argument("--out", metavar="DIR", help="output directory (overrides outputs.dir)")
    r.add_argument("--quiet", action="store_true", help="no progress and no table")

    v = sub.add_parser("validate", help="check a study without simulating",
                       formatter_class=fmt, epilog=VALIDATE_EPILOG,
                       description="Check everything a run of STUDY would use.")
    v.add_argument("study", metavar="STUDY", help="study YAML file or shipped study name")

    from imcsim.plot import KINDS as PLOT_KINDS

    pl = sub.add_parser("plot", help="draw a plot from a saved result",
                        formatter_class=fmt, epilog=PLOT_EPILOG,
                        description="Draw PNG plots from a result dataset (.nc).")
    pl.add_argument("result", metavar="RESULT.nc", help="result file written by `imcsim run`")
    pl.add_argument("--kind", choices=PLOT_KINDS, metavar="KIND",
                    help="one of: " + ", ".join(PLOT_KINDS) + " (default: every kind that "
                         "fits the result)")
    pl.add_argument("-o", "--output", metavar="FILE",
                    help="figure file to write, .png, .pdf or .svg (default: RESULT_KIND.png "
                         "beside the result)")
    pl.add_argument("--format", choices=("png", "pdf", "svg"),
                    help="format of the figures written beside the result (default png)")
    pl.add_argument("--dpi", type=int, metavar="N", help="resolution of PNG output "
                    "(default 300)")
    pl.add_argument("--select", action="append", default=[], metavar="DIM=VALUE",
                    help="energy_breakdown: the point to break down (repeatable)")
    pl.add_argument("--log", action="store_true", help="energy_breakdown: log energy axis")
    pl.add_argument("--range", metavar="LO,HI", dest="vrange",
                    help="accuracy_heatmap: fixed colour range, e.g. 0.9,1.0")

    rp = sub.add_parser("report", help="per-point and per-layer tables; HTML report",
                        formatter_class=fmt, epilog=REPORT_EPILOG,
                        description="Tables of a result dataset (.nc) as text, CSV or "
                                    "Markdown, or one self-contained HTML report.")
    rp.add_argument("result", metavar="RESULT.nc", help="result file written by `imcsim run`")
    rp.add_argument("--format", choices=("text", "csv", "markdown"), default="text",
                    help="table format (default text)")
    rp.add_argument("--layers", action="store_true",
                    help="only the per-layer table (default: per point, then per layer)")
    rp.add_argument("--points", action="store_true", help="only the per-point table")
    rp.add_argument("--html", metavar="FILE",
                    help="write one self-contained HTML report (figures, tables, study, "
                         "card, provenance) instead of printing tables")

    ls = sub.add_parser("list", help="list shipped cards, networks, studies",
                        formatter_class=fmt, epilog=LIST_EPILOG,
                        description="List what ships with imcsim.")
    ls.add_argument("what", nargs="?", choices=("cards", "networks", "studies"),
                    help="what to list (default: all)")

    inf = sub.add_parser("info", help="peak figures and area of a hardware card",
                         formatter_class=fmt, epilog=INFO_EPILOG,
                         description="Peak TOPS, TOPS/W, TOPS/mm2 and area of a card.")
    inf.add_argument("card", metavar="CARD", help="card name or path to a card YAML file")
    inf.add_argument("--json", action="store_true",
                     help="print the card's figures against its paper's as JSON")

    im = sub.add_parser("import", help="import a QONNX / ONNX model as a network file",
                        formatter_class=fmt, epilog=IMPORT_EPILOG,
                        description="Import a quantized ONNX model (QONNX or QDQ) as an imcsim network.")
    im.add_argument("model", metavar="MODEL.onnx", help="ONNX model file")
    im.add_argument("-o", "--out", metavar="DIR", default=".", help="output directory (default: .)")
    im.add_argument("--name", help="network name and file stem (default: the model's file stem)")

    b = sub.add_parser("bench", help="performance benchmarks", formatter_class=fmt,
                       epilog=BENCH_EPILOG, add_help=False,
                       description="Performance benchmarks of the engine.")
    b.add_argument("args", nargs=argparse.REMAINDER, help="options for the benchmark")
    return p


# --------------------------------------------------------------------------- verbs
def _cmd_run(a) -> int:
    from imcsim.study import run_study

    quiet = a.quiet
    run_study(a.study, workers=a.workers, scheduler=a.scheduler, resume=a.resume,
              progress=not quiet, out_dir=a.out, plots=not a.no_plots, summary=not quiet)
    return EXIT_OK


def _cmd_validate(a) -> int:
    from imcsim.study import validate_study

    s = validate_study(a.study)
    dims = " x ".join(f"{d.name}[{d.size}]" for d in s.dims) or "a single point"
    print(f"{s.file}: OK: study {s.name!r}, {s.n_points} point(s) ({dims}), "
          f"{s.trials} trial(s) each, results in {s.result_path()}")
    return EXIT_OK


def _parse_select(items):
    out = {}
    for it in items:
        if "=" not in it:
            from imcsim.errors import PlotError

            raise PlotError(f"--select: expected DIM=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


#: first bytes of a netCDF file: classic / 64-bit offset / CDF-5, and netCDF-4 (HDF5)
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF")


def _open_result(path):
    """The result dataset of ``imcsim plot``, or a one-line PlotError (exit 2) for a
    missing, non-netCDF, truncated or corrupt file, and for a single point's file."""
    from imcsim.errors import PlotError
    from imcsim.report.netcdf import read_netcdf

    expected = "expected a .nc result file written by `imcsim run`"
    if not os.path.isfile(path):
        raise PlotError(f"{path}: no such result file; {expected}")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise PlotError(f"{path}: cannot read ({exc.strerror}); {expected}") from None
    if not head.startswith(_NETCDF_MAGIC):
        raise PlotError(f"{path}: not a netCDF file; {expected}")
    try:
        ds = read_netcdf(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure means a damaged file
        raise PlotError(f"{path}: cannot read: the file is cut short or damaged "
                        f"({type(exc).__name__}); {expected}") from None
    if "imcsim_point_index" in ds.attrs:
        raise PlotError(f"{path}: this is the file of one point of a study run (under "
                        "NAME.points/), not a result; plot the assembled NAME.nc beside that "
                        "folder (`imcsim run STUDY --resume` assembles it)")
    return ds


def _plot_options(a) -> dict:
    from imcsim.errors import PlotError

    opts = {"log": bool(a.log)}
    if a.vrange:
        try:
            lo, hi = (float(t) for t in a.vrange.split(","))
        except ValueError:
            raise PlotError(f"--range: expected LO,HI such as 0.9,1.0, got {a.vrange!r}") from None
        if not hi > lo:
            raise PlotError(f"--range: expected LO < HI, got {a.vrange!r}")
        opts.update(vmin=lo, vmax=hi)
    return opts


def _cmd_plot(a) -> int:
    from imcsim import plot

    ds = _open_result(a.result)
    select = _parse_select(a.select)
    opts = _plot_options(a)
    stem = os.path.splitext(a.result)[0]
    ext = a.format or "png"
    if a.kind:
        path = plot.plot(ds, a.kind, a.output or f"{stem}_{a.kind}.{ext}", select=select,
                         fmt=a.format, dpi=a.dpi, options=opts)
        print(f"wrote {path}")
        return EXIT_OK
    if a.output:
        raise plot.PlotError("-o FILE needs --kind KIND (without --kind every plot that fits "
                             "is written as RESULT_KIND.png)")
    for kind in plot.KINDS:
        try:
            path = plot.plot(ds, kind, f"{stem}_{kind}.{ext}", select=select, fmt=a.format,
                             dpi=a.dpi, options=opts)
        except plot.PlotDoesNotFit as exc:
            print(f"skipped {kind}: {exc}")
            continue
        print(f"wrote {path}")
    return EXIT_OK


def _cmd_list(a) -> int:
    what = [a.what] if a.what else ["cards", "networks", "studies"]
    for w in what:
        if w == "cards":
            import device_models

            names = device_models.list_cards()
        elif w == "networks":
            import networks

            zoo = networks.zoo
            workloads = set(zoo.workloads())

            def label(n):
                if n in workloads:
                    return f"{n}  (workload only: layer shapes, no weights; cost-only studies)"
                if not zoo.path(n).exists():
                    return f"{n}  (not trained yet: python -m networks.train --zoo {n})"
                return n

            names = [label(n) for n in zoo.list()]
        else:
            from imcsim.study import list_studies

            names = list_studies()
        if len(what) > 1:
            print(f"{w}:")
            for n in names:
                print(f"  {n}")
        else:
            for n in names:
                print(n)
    return EXIT_OK


def _cmd_report(a) -> int:
    from imcsim import plot
    from imcsim.report import tables as report

    if not os.path.isfile(a.result):
        raise plot.PlotError(f"{a.result}: no such result file; expected a .nc file "
                             "written by `imcsim run`")
    ds = plot.open_result(a.result)
    if a.html:
        path = report.write_html(ds, a.html, figures=plot.figures_for_report(ds),
                                 source=a.result)
        print(f"wrote {path}")
        return EXIT_OK
    which = ("layers",) if a.layers and not a.points else ("points",) if a.points and not a.layers \
        else ("points", "layers")
    print(report.tables_text(ds, fmt=a.format, which=which))
    return EXIT_OK


def _cmd_info(a) -> int:
    import device_models
    from imcsim.errors import StudyError
    from imcsim.study.resolve import resolve_name_or_path

    try:
        ref = resolve_name_or_path("card", a.card)
    except StudyError as exc:
        raise StudyError(exc.message, None, "CARD") from None
    card = device_models.load_card(ref)
    if a.json:
        import json

        from imcsim.cli.info import validation_figures

        print(json.dumps(validation_figures(card), indent=2))
        return EXIT_OK
    from imcsim.cli.info import format_info

    print(format_info(card))
    return EXIT_OK


def _cmd_import(a) -> int:
    from networks.onnx_import import import_onnx

    net, path = import_onnx(a.model, a.out, name=a.name)
    q = net.quantized_layers()
    print(f"wrote {path} and {path.with_suffix('.npz')}: {len(net.nodes)} nodes, {len(q)} crossbar "
          f"layer(s) ({', '.join(f'{l.name} {l.encoding} x {l.weight_kind}' for l in q) or 'none'})")
    for layer, why in net.meta.get("import", {}).get("digital", {}).items():
        print(f"  digital: {layer}: {why}")
    return EXIT_OK


def _cmd_bench(a) -> int:
    from imcsim.cli import bench

    args = [x for i, x in enumerate(a.args) if not (i == 0 and x == "--")]
    rc = bench.main(args)
    return int(rc or 0)


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None,
                  _default=__import__("warnings").showwarning):
    """ADC range warnings as one plain line on stderr (``imcsim: warning: ...``)."""
    if category.__name__ == "AdcRangeWarning":
        print(f"imcsim: warning: {message}", file=sys.stderr if file is None else file)
    else:
        _default(message, category, filename, lineno, file, line)


def main(argv=None) -> int:
    """Entry point of the ``imcsim`` console script; returns the exit status."""
    import warnings

    warnings.showwarning = _show_warning
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["bench"]:  # everything after `bench` belongs to the benchmark
        argv = ["bench", "--", *argv[1:]] if len(argv) > 1 else argv
    try:
        a = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_BAD_INPUT
    if not a.verb:
        parser.print_help()
        return EXIT_BAD_INPUT
    verbs = {"run": _cmd_run, "validate": _cmd_validate, "plot": _cmd_plot,
             "list": _cmd_list, "info": _cmd_info, "import": _cmd_import, "bench": _cmd_bench,
             "report": _cmd_report}
    try:
        return verbs[a.verb](a)
    except BrokenPipeError:  # `imcsim list | head -1`: the reader left; stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_ERROR
    except KeyboardInterrupt:
        msg = "imcsim: interrupted"
        if a.verb == "run":
            import shlex

            again = ["imcsim", "run", a.study, "--resume"]
            if a.out is not None:
                again += ["--out", a.out]
            if a.workers is not None:
                again += ["--workers", str(a.workers)]
            if a.scheduler is not None:
                again += ["--scheduler", a.scheduler]
            msg += ("; finished points are kept on disk: `"
                    f"{' '.join(shlex.quote(x) for x in again)}` computes only the missing ones")
        print(msg, file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        from imcsim.errors import bad_input_types

        if isinstance(exc, bad_input_types()):
            print(f"imcsim: {_one_line(exc)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if os.environ.get("IMCSIM_DEBUG"):
            import traceback

            traceback.print_exc(file=sys.stderr)
        print(f"imcsim: internal error: {type(exc).__name__}: {_one_line(exc)} (please report "
              "it; set IMCSIM_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # python -m imcsim.cli
    sys.exit(main())

"""`imcsim report` (tables with units as text/CSV/Markdown, one self-contained HTML file),
`imcsim plot -o` formats, `imcsim list networks`, and the provenance a result carries."""
from __future__ import annotations

import csv
import io
import json
import re
import sys

import pytest
import yaml

from imcsim.cli.main import main
from study_fixtures import tiny_study

TINY = tiny_study(study="tiny_report",
                  outputs={"dir": "out", "plots": ["pareto"], "format": "svg", "dpi": 100})

@pytest.fixture(scope="module")
def result(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    study = d / "tiny.yaml"
    study.write_text(yaml.safe_dump(TINY, sort_keys=False))
    import imcsim

    argv = sys.argv
    sys.argv = ["imcsim", "run", str(study)]
    try:
        imcsim.run_study(str(study), progress=False, out_dir=str(d / "out"))
    finally:
        sys.argv = argv
    return d, d / "out" / "tiny_report.nc"


def test_outputs_format_and_dpi(result):
    d, nc = result
    svg = d / "out" / "tiny_report_pareto.svg"
    assert svg.read_text()[:5] == "<?xml"
    assert not (d / "out" / "tiny_report_pareto.png").exists()


def test_provenance_reproduces_the_run(result):
    import xarray as xr

    d, nc = result
    a = xr.open_dataset(nc).attrs
    assert a["study_file"] == str((d / "tiny.yaml").resolve())
    spec = json.loads(a["network_spec"])["tnn_mlp_digits"]
    assert spec["layers"]
    assert re.fullmatch(r"[0-9a-f]{16}", json.loads(a["network_weights_sha256"])["tnn_mlp_digits"])
    assert re.fullmatch(r"[0-9a-f]{16}", a["dataset_sha256"]) and a["dataset_folder"]
    v = json.loads(a["versions"])
    assert {"python", "numpy", "numba", "xarray"} <= set(v)
    assert a["command_line"].endswith(f"run {d / 'tiny.yaml'}") and a["created"][:2] == "20"
    assert 0.9 < json.loads(a["exact_accuracy"])["tnn_mlp_digits"] <= 1.0


def test_report_tables_text_csv_markdown(result, capsys):
    d, nc = result
    assert main(["report", str(nc), "--format", "csv", "--points"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    head = rows[0]
    assert head[:2] == ["adc.bits [bit]", "cell.mismatch_sigma"]
    for col in ("accuracy", "energy [pJ]", "energy adc [pJ]", "latency end to end [ns]",
                "interval (pipeline) [ns]", "TOPS/W", "area [mm2]"):
        assert col in head, col
    assert len(rows) == 1 + 4
    assert main(["report", str(nc), "--format", "csv", "--layers"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][2] == "layer" and "ADC conversions" in rows[0] and "utilization" in rows[0]
    assert "MAC error (rms)" in rows[0] and len(rows) == 1 + 4 * 2   # 4 points x 2 layers
    assert main(["report", str(nc), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "### per point" in out and "### per layer" in out and "| adc.bits [bit] |" in out
    assert main(["report", str(nc)]) == 0
    assert "latency end to end" in capsys.readouterr().out


def test_html_report_holds_every_figure_and_table(result, tmp_path, capsys):
    from imcsim import plot

    d, nc = result
    out = tmp_path / "r.html"
    assert main(["report", str(nc), "--html", str(out)]) == 0
    text = out.read_text()
    # a 2-D sweep of one network on one card: every kind fits but accuracy_vs_energy
    fitting = [k for k in plot.KINDS if k != "accuracy_vs_energy"]
    assert text.count('src="data:image/png;base64,') == len(fitting)
    assert re.findall(r'id="fig-([a-z_]+)"', text) == fitting
    assert text.count("<table>") == 2
    assert "tiny_report" in text and "sweep:" in text          # the study text
    assert "tim_dnn_32nm" in text and "source:" in text        # the card with sources
    assert "network_weights_sha256" in text and "dataset_sha256" in text
    assert "<script" not in text and "<link" not in text       # nothing to fetch


@pytest.mark.parametrize("suffix,magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_plot_o_writes_the_format_asked(result, tmp_path, capsys, suffix, magic):
    d, nc = result
    out = tmp_path / f"q.{suffix}"
    assert main(["plot", str(nc), "--kind", "pareto", "-o", str(out)]) == 0
    assert out.read_bytes()[:len(magic)] == magic
    assert not (tmp_path / f"q.{suffix}.png").exists()
    assert main(["plot", str(nc), "--kind", "pareto", "-o", str(tmp_path / "q.jpg")]) == 2


def test_list_networks_marks_workload_only_entries(capsys):
    import networks

    assert main(["list", "networks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in networks.zoo.workloads():
        line = next(l for l in lines if l.split()[0] == name)
        assert "workload only" in line
    for name in networks.zoo.trained():
        line = next(l for l in lines if l.split()[0] == name)
        if networks.zoo.path(name).exists():
            assert line == name
        else:  # a zoo architecture whose weights are not shipped says how to train it
            assert f"not trained yet: python -m networks.train --zoo {name}" in line


def test_report_of_a_missing_file_is_bad_input(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none.nc")]) == 2
    err = capsys.readouterr().err
    assert "no such result file" in err and len(err.strip().splitlines()) == 1

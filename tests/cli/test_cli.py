"""The imcsim command line, end to end on tiny studies with the real network, dataset,
cards and engine: exit codes, files written, bad inputs, resume, dask workers."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from imcsim import cli
from study_fixtures import tiny_study
from imcsim import study as st

REPO = Path(__file__).resolve().parents[2]

TINY = tiny_study(outputs={"dir": "out", "plots": ["pareto", "energy_breakdown", "accuracy_heatmap",
                                                  "accuracy_vs_param"]})

def write_study(tmp_path, doc=None, name="tiny.yaml", **kw):
    doc = dict(TINY if doc is None else doc)
    doc.update(kw)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def run_cli(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "imcsim.cli", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def call(capsys, *args):
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """`imcsim run tiny.yaml` once in a subprocess (the real engine)."""
    tmp = tmp_path_factory.mktemp("e2e")
    path = write_study(tmp)
    proc = run_cli("run", path, cwd=tmp)
    return tmp, path, proc


@pytest.mark.slow
def test_run_end_to_end(ran):
    tmp, path, proc = ran
    assert proc.returncode == 0, proc.stderr
    out = tmp / "out"
    assert (out / "tiny.nc").is_file()
    assert len(list((out / "tiny.points").glob("point-*.nc"))) == 4
    for kind in ("pareto", "energy_breakdown", "accuracy_heatmap", "accuracy_vs_param"):
        png = out / f"tiny_{kind}.png"
        assert png.is_file() and png.stat().st_size > 1000, kind
    with xr.open_dataset(out / "tiny.nc") as ds:
        assert ds["accuracy"].dims == ("adc.bits", "cell.mismatch_sigma", "trial")
        assert ds.sizes["trial"] == 2
        assert {"energy", "latency", "tops_per_watt", "mac_error_rms"} <= set(ds.data_vars)
        assert ds.attrs["study"] == "tiny" and "adc.bits" in ds.attrs["study_text"]
        acc = ds["accuracy"].values
        assert np.all((acc >= 0) & (acc <= 1))
    # the summary table and the plain progress lines (stderr is not a terminal)
    assert "accuracy" in proc.stdout and "TOPS/W" in proc.stdout and "+-" in proc.stdout
    assert "point 4/4 done" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_plot_verb(ran, capsys):
    tmp, _, _ = ran
    res = tmp / "out" / "tiny.nc"
    rc, out, err = call(capsys, "plot", res, "--kind", "pareto", "-o", tmp / "p.png")
    assert rc == 0 and (tmp / "p.png").stat().st_size > 1000
    rc, out, err = call(capsys, "plot", res, "--kind", "energy_breakdown", "--select", "adc.bits=4")
    assert rc == 0 and (tmp / "out" / "tiny_energy_breakdown.png").is_file()
    rc, out, err = call(capsys, "plot", tmp / "missing.nc", "--kind", "pareto")
    assert rc == 2 and "no such result file" in err
    # no --kind: every kind that fits, beside the result
    rc, out, err = call(capsys, "plot", res)
    assert rc == 0 and out.count("wrote ") == 9   # every kind but accuracy_vs_energy (no network sweep)
    rc, out, err = call(capsys, "plot", res, "-o", tmp / "x.png")
    assert rc == 2 and "-o FILE needs --kind" in err


@pytest.mark.slow
def test_resume_computes_only_missing(ran, tmp_path):
    """Interrupted run (points 1 and 3 never finished) + --resume == uninterrupted run."""
    tmp, path, _ = ran
    full = xr.open_dataset(tmp / "out" / "tiny.nc").load()
    pdir = tmp_path / "out" / "tiny.points"
    pdir.mkdir(parents=True)
    for i in (0, 2):  # what an interrupted run left behind
        for suffix in ("", ".sha256"):  # each point file with its checksum
            name = f"point-0000{i}.nc{suffix}"
            (pdir / name).write_bytes((tmp / "out" / "tiny.points" / name).read_bytes())
    (pdir / "manifest.json").write_bytes((tmp / "out" / "tiny.points" / "manifest.json").read_bytes())
    proc = run_cli("run", path, "--resume", "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2/4 points already on disk" in proc.stderr
    assert proc.stderr.count(" done") == 2  # only the two missing points computed
    resumed = xr.open_dataset(tmp_path / "out" / "tiny.nc").load()
    for name in full.data_vars:
        xr.testing.assert_identical(resumed[name], full[name])
    assert not list((tmp_path / "out").glob("*.png"))


@pytest.mark.slow
def test_two_dask_workers_identical(ran, tmp_path):
    """`--workers 2` (a local dask cluster of 2 processes) gives the in-process numbers."""
    pytest.importorskip("distributed")
    tmp, path, _ = ran
    proc = run_cli("run", path, "--workers", "2", "--no-plots", "--out", tmp_path / "w", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    a = xr.open_dataset(tmp / "out" / "tiny.nc").load()
    b = xr.open_dataset(tmp_path / "w" / "tiny.nc").load()
    for name in a.data_vars:
        xr.testing.assert_identical(a[name], b[name])


@pytest.mark.slow
def test_scheduler_address(ran, tmp_path):
    """`--scheduler ADDRESS` of a running scheduler (here a LocalCluster listening on tcp)."""
    distributed = pytest.importorskip("distributed")
    tmp, path, _ = ran
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        proc = run_cli("run", path, "--scheduler", cluster.scheduler_address, "--no-plots",
                       "--out", tmp_path / "s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"dask scheduler {cluster.scheduler_address}" in proc.stderr
    a = xr.open_dataset(tmp / "out" / "tiny.nc").load()
    b = xr.open_dataset(tmp_path / "s" / "tiny.nc").load()
    for name in a.data_vars:
        xr.testing.assert_identical(a[name], b[name])


def test_ctrl_c_keeps_points(tmp_path, capsys, monkeypatch):
    """KeyboardInterrupt mid-run: exit 130, finished points stay, no result file."""
    path = write_study(tmp_path, dataset={"name": "digits", "split": "test", "limit": 8},
                       trials=1, outputs={"dir": str(tmp_path / "out"), "plots": []})
    real = st.compute_point
    calls = []

    def interrupted(spec):
        calls.append(spec["index"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(spec)

    monkeypatch.setattr(st.runner, "compute_point", interrupted)
    rc, out, err = call(capsys, "run", path)
    assert rc == 130 and "--resume" in err
    assert len(list((tmp_path / "out" / "tiny.points").glob("point-*.nc"))) == 2
    assert not (tmp_path / "out" / "tiny.nc").exists()
    calls.clear()
    rc, out, err = call(capsys, "run", path, "--resume", "--quiet")
    assert rc == 0 and calls == [2, 3]


# --------------------------------------------------------------------------- other verbs
def test_version_and_help(capsys):
    rc, out, err = call(capsys, "--version")
    assert rc == 0 and out.startswith("imcsim ")
    for verb in ("run", "validate", "plot", "list", "info"):
        rc, out, err = call(capsys, verb, "--help")
        assert rc == 0 and "examples:" in out, verb
    rc, out, err = call(capsys, "--help")
    assert rc == 0 and "examples:" in out


def test_list_and_info(capsys):
    rc, out, err = call(capsys, "list", "cards")
    assert rc == 0 and "tim_dnn_32nm" in out.split()
    rc, out, err = call(capsys, "list", "networks")
    assert rc == 0 and "tnn_mlp_digits" in out.split()
    rc, out, err = call(capsys, "list", "studies")
    assert rc == 0 and "quickstart" in out.split()
    rc, out, err = call(capsys, "list")
    assert rc == 0 and "cards:" in out and "networks:" in out and "studies:" in out
    rc, out, err = call(capsys, "info", "tim_dnn_32nm")
    assert rc == 0 and "TOPS" in out
    rc, out, err = call(capsys, "info", "tim_dnn_23nm")
    assert rc == 2 and "did you mean 'tim_dnn_32nm'" in err


def test_validate_shipped_studies(capsys):
    for name in st.list_studies():
        rc, out, err = call(capsys, "validate", name)
        assert rc == 0, err
        assert ": OK: study" in out


# --------------------------------------------------------------------------- bad input
def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


BAD = [
    # (what, patch of the study or raw text, extra CLI args, expected key, expected text)
    ("malformed yaml", "study: tiny\nnetwork: [tnn_mlp_digits\nhardware: x\n", (), ":3:", "malformed YAML"),
    ("unknown top-level key", {"trails": 3}, (), ": trails: ", "unknown key; expected one of"),
    ("unknown network", {"network": "tnn_mlp_digit"}, (), ": network: ",
     "unknown network 'tnn_mlp_digit'; did you mean 'tnn_mlp_digits'"),
    ("unknown card", {"hardware": "tim_dnn_32"}, (), ": hardware: ",
     "unknown card 'tim_dnn_32'; did you mean 'tim_dnn_32nm'"),
    ("path the card lacks", {"set": {"adc.bitz": 3}}, (), ": set: adc.bitz: ",
     "has no parameter 'adc.bitz'"),
    ("wrong type", {"sweep": {"adc.bits": [3, "four"]}}, (), ": sweep: adc.bits: ", "'four' rejected"),
    ("empty sweep list", {"sweep": {"adc.bits": []}}, (), ": sweep: adc.bits: ",
     "expected a non-empty list of values"),
    ("trials < 1", {"trials": 0}, (), ": trials: ", "expected an integer >= 1, got 0"),
    ("unwritable output dir", {"outputs": {"dir": "afile/results"}}, (), ": outputs: dir: ",
     "cannot write to directory"),
    ("scheduler not answering", {}, ("--scheduler", "tcp://127.0.0.1:{port}"), "--scheduler: ",
     "did not answer"),
]


@pytest.mark.parametrize("what, patch, args, key, text", BAD, ids=[b[0] for b in BAD])
def test_bad_input(tmp_path, capsys, monkeypatch, what, patch, args, key, text):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(st.runner, "SCHEDULER_TIMEOUT_S", 0.2)  # no fixed 5 s wait
    (tmp_path / "afile").write_text("not a directory")
    if isinstance(patch, str):
        path = tmp_path / "bad.yaml"
        path.write_text(patch)
    else:
        path = write_study(tmp_path, name="bad.yaml", **patch)
    args = [a.format(port=_free_port()) for a in args]
    rc, out, err = call(capsys, "run", path, *args)
    assert rc == 2, (what, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert key in lines[0] and text in lines[0], lines[0]
    assert lines[0].startswith(f"imcsim: {path}")
    if what != "scheduler not answering":
        rc2, _, err2 = call(capsys, "validate", path)
        assert rc2 == 2 and err2.strip() == err.strip()


@pytest.mark.slow
def test_bad_input_subprocess_no_traceback(tmp_path):
    path = write_study(tmp_path, trials=0)
    proc = run_cli("run", path, cwd=tmp_path)
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert line.startswith(f"imcsim: {path}:") and line.endswith("trials: expected an integer >= 1, got 0")


def _zoo_load_bug(monkeypatch):
    import networks

    def broken(name, *a, **k):
        raise TypeError("a bug inside networks.zoo.load")

    monkeypatch.setattr(networks.zoo, "load", broken)


def test_bug_is_internal_error_not_bad_input(tmp_path, capsys, monkeypatch):
    """A TypeError inside networks.zoo.load is a bug: exit 1, one line, no traceback."""
    monkeypatch.delenv("IMCSIM_DEBUG", raising=False)
    _zoo_load_bug(monkeypatch)
    path = write_study(tmp_path)
    rc, out, err = call(capsys, "validate", path)
    assert rc == 1
    assert err.strip() == ("imcsim: internal error: TypeError: a bug inside networks.zoo.load "
                           "(please report it; set IMCSIM_DEBUG=1 for the traceback)")


def test_bug_with_imcsim_debug_prints_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IMCSIM_DEBUG", "1")
    _zoo_load_bug(monkeypatch)
    rc, out, err = call(capsys, "validate", write_study(tmp_path))
    assert rc == 1
    assert err.startswith("Traceback (most recent call last):")
    assert "in broken" in err and "TypeError: a bug inside networks.zoo.load" in err
    assert err.strip().splitlines()[-1].startswith("imcsim: internal error: TypeError")


def test_bad_input_types_are_declared_by_class():
    import device_models
    import networks
    from imcsim.errors import ImcsimError, InputError, PlotError, StudyError, bad_input_types

    types_ = bad_input_types()
    assert types_ == (ImcsimError, device_models.CardError, networks.NetworkError,
                      networks.DatasetError, networks.BackendError)
    for cls in (InputError, PlotError, StudyError, networks.ZooError, networks.LayerError,
                networks.NetworkFileError):
        assert issubclass(cls, types_), cls
    assert not issubclass(TypeError, types_) and not issubclass(KeyError, types_)


def test_missing_study_file(tmp_path, capsys):
    rc, out, err = call(capsys, "run", tmp_path / "nope.yaml")
    assert rc == 2 and "no such study file" in err
    rc, out, err = call(capsys, "run", "quickstrat")
    assert rc == 2 and "did you mean 'quickstart'" in err


def test_bad_points_stay_on_disk_after_bad_resume(tmp_path, capsys):
    path = write_study(tmp_path, dataset={"name": "digits", "split": "test", "limit": 8},
                       sweep={"adc.bits": [3, 4]}, trials=1,
                       outputs={"dir": str(tmp_path / "out"), "plots": []})
    rc, out, err = call(capsys, "run", path, "--quiet")
    assert rc == 0
    path2 = write_study(tmp_path, dataset={"name": "digits", "split": "test", "limit": 8},
                        sweep={"adc.bits": [3, 4]}, trials=1, seed=99,
                        outputs={"dir": str(tmp_path / "out"), "plots": []})
    rc, out, err = call(capsys, "run", path2, "--resume")
    assert rc == 2 and "different version of this study" in err
    assert len(list((tmp_path / "out" / "tiny.points").glob("point-*.nc"))) == 2
    # a plot that does not apply to this one-parameter result: a reason, status 2
    rc, out, err = call(capsys, "plot", tmp_path / "out" / "tiny.nc", "--kind", "accuracy_heatmap")
    assert rc == 2 and "accuracy_heatmap needs exactly two swept parameters" in err
    assert len(err.strip().splitlines()) == 1
    rc, out, err = call(capsys, "plot", tmp_path / "out" / "tiny.nc")
    assert rc == 0 and "skipped accuracy_heatmap: accuracy_heatmap needs" in out
    assert out.count("wrote ") == 8   # pareto, energy_breakdown, accuracy_vs_param, 5 costs


# --------------------------------------------------------------------------- shipped studies
@pytest.mark.parametrize("name", ["quickstart", "adc_bits_sweep", "rows_per_access_sweep",
                                  "variation_sweep", "binary_vs_ternary", "tim_dnn_peak"])
def test_shipped_study_runs(tmp_path, name):
    """Each shipped study runs as shipped, on a few samples and one trial to stay fast."""
    doc = yaml.safe_load(st.resolve_study_path(name).read_text())
    doc["dataset"]["limit"] = 12
    doc["trials"] = 1
    doc["outputs"]["dir"] = str(tmp_path)
    ds = st.run_study(doc, progress=False)
    assert (tmp_path / f"{name}.nc").is_file()
    for kind in doc["outputs"]["plots"]:
        assert (tmp_path / f"{name}_{kind}.png").is_file(), kind
    assert np.isfinite(ds["energy_total"].values).all()
    with xr.open_dataset(tmp_path / f"{name}.nc") as f:
        for var in ("tiles", "accesses", "energy"):
            v = f[var].values  # NaN where a network lacks a layer, never a garbage integer
            assert np.all((v >= 0) | np.isnan(v)), var

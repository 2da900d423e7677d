"""Issue 13: bounded resources from any input, a resume that can never mix results,
shareable files, exit 2 for every bad input. One test (or a few) per numbered case.

Resource cases run under a time and memory bound that fails if the input is expanded
(the refusal must come from counting, not from trying).
"""
from __future__ import annotations

import errno
import os
import shutil
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

import device_models as dm
import networks
from imcsim.cli.main import main as cli
from imcsim.errors import InputError
from imcsim.study import StudyError, load_study, run_study, validate_study


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def counted(monkeypatch):
    """The real ``simulate``, counting its calls."""
    from imcsim import simulation

    real = simulation.simulate

    def wrapper(*a, **k):
        wrapper.calls += 1
        return real(*a, **k)

    wrapper.calls = 0
    monkeypatch.setattr(simulation, "simulate", wrapper)
    return wrapper


def doc(tmp_path, **kw):
    d = {"study": "rel", "network": "tnn_mlp_digits",
         "dataset": {"name": "digits", "split": "test", "limit": 8},
         "hardware": "tim_dnn_32nm", "sweep": {"adc.bits": [3, 4]}, "trials": 1, "seed": 0,
         "outputs": {"dir": str(tmp_path / "out"), "plots": []}}
    d.update(kw)
    return d


def write(path: Path, d) -> Path:
    path.write_text(d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False))
    return path


class Bound:
    """Fails if the block takes longer than ``seconds`` or its allocations (Python objects
    and numpy arrays, traced by ``tracemalloc``) peak above ``mb``."""

    def __init__(self, seconds: float, mb: float):
        self.seconds, self.mb = seconds, mb

    def __enter__(self):
        tracemalloc.start()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        dt = time.perf_counter() - self.t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        assert dt < self.seconds, f"took {dt:.1f} s (bound {self.seconds} s)"
        assert peak < self.mb, f"allocations peaked at {peak:.0f} MB (bound {self.mb} MB)"
        return False


def bomb_yaml(levels: int) -> str:
    out = 'a: &a ["l","l","l","l","l","l","l","l","l"]\n'
    names = "abcdefghijk"
    for x, y in zip(names[:levels - 1], names[1:levels]):
        out += f"{y}: &{y} [" + ",".join([f"*{x}"] * 9) + "]\n"
    return out


CARD_TEXT = dm.load_card("tim_dnn_32nm").dump()


# --------------------------------------------------------------------------- 1-4 resources
def test_1_alias_bomb_in_a_study_is_refused_fast(tmp_path):
    p = write(tmp_path / "bomb.yaml", bomb_yaml(9) + "study: laughs\nnetwork: tnn_mlp_digits\n"
              "dataset: digits\nhardware: tim_dnn_32nm\n")
    with Bound(seconds=5, mb=100):
        with pytest.raises(StudyError, match="aliases.*expand|expands to more than"):
            validate_study(p)
        assert cli(["validate", str(p)]) == 2


def test_1_aliases_within_the_bound_still_load(tmp_path):
    d = doc(tmp_path)
    text = yaml.safe_dump(d, sort_keys=False).replace("plots: []", "plots: &p []")
    s = load_study(write(tmp_path / "ok.yaml", text + "description: x\n"))
    assert s.n_points == 2


def test_2_alias_bomb_in_card_references_is_refused(tmp_path):
    refs = "references:\n" + "".join("  " + line + "\n" for line in bomb_yaml(7).splitlines())
    data = yaml.safe_load(CARD_TEXT)
    data.pop("references")
    body = yaml.safe_dump(data, sort_keys=False)
    p = tmp_path / "bomb_card.yaml"
    p.write_text(refs + body)
    with Bound(seconds=5, mb=100):
        with pytest.raises(dm.CardError, match="expands to more than"):
            dm.load_card(str(p))
    # a reference must be text: a (small) list is refused, not turned into its repr
    data["references"] = {"x": ["a", "b"]}
    with pytest.raises(dm.CardError, match="references.x: expected the text of a reference"):
        dm.card_from_dict(data)


def _npz_with_fake_array(path: Path, good: dict, name: str, shape: tuple):
    """An npz holding ``good`` plus an array whose header declares ``shape`` (float64) but
    whose data is absent: reading it would allocate the declared size."""
    np.savez_compressed(path, **good)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name + ".npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f8", "fortran_order": False, "shape": shape})
            f.write(bytes(64))


def test_3_npz_headers_checked_before_decompression(tmp_path):
    net = networks.zoo.load("tnn_mlp_digits")
    yml = networks.save_network(net, tmp_path / "n.yaml")
    npz = tmp_path / "n.npz"
    good = dict(np.load(npz))
    _npz_with_fake_array(npz, good, "bomb", (1 << 27,))         # 1 GiB declared
    with Bound(seconds=5, mb=100):
        with pytest.raises(networks.NetworkError, match=r"n\.npz.*(bytes unpacked|unexpected)"):
            networks.load_network(yml)
    # a wrong shape is named from the header, before the array is read
    key = next(iter(good))
    bad = dict(good)
    bad.pop(key)
    _npz_with_fake_array(npz, bad, key, (1 << 26,))
    with Bound(seconds=5, mb=100):
        with pytest.raises(networks.NetworkError, match="wrong shape"):
            networks.load_network(yml)


def test_4_worker_trial_and_point_counts_are_bounded(tmp_path):
    from imcsim.study.runner import max_workers

    with Bound(seconds=5, mb=100):
        with pytest.raises(StudyError, match=f"--workers: expected at most {max_workers()}"):
            run_study(doc(tmp_path), workers=1000, progress=False)
        assert cli(["run", str(write(tmp_path / "s.yaml", doc(tmp_path))), "--workers",
                    "1000"]) == 2
        with pytest.raises(StudyError, match=r"trials: expected at most 10000 trials"):
            load_study(doc(tmp_path, trials=1_000_000_000))
        big = doc(tmp_path, sweep={f"adc.p{i}": list(range(10)) for i in range(10)})
        with pytest.raises(StudyError, match="10000000000 points"):
            validate_study(big)          # counted, never expanded
    assert not (tmp_path / "out").exists()


def test_4_huge_tiles_are_refused():
    card = dm.load_card("tim_dnn_32nm")
    with pytest.raises(dm.CardError, match=r"tile.rows: expected an integer <= 65536"):
        card.replace(**{"tile.rows": 10**9, "tile.columns": 10**9})
    with pytest.raises(dm.CardError, match=r"tile.rows: expected an integer >= 1"):
        card.replace(**{"tile.rows": 0})


def test_4_mvm_lookup_tables_are_bounded():
    from imcsim.engine.backend import MAX_TABLE_BYTES, ImcBackend, mvm

    card = dm.load_card("tim_dnn_32nm").replace(**{"cell.mismatch_sigma": 0.05})
    x = np.ones((1, 100_000), np.int8)
    w = np.ones((100_000, 256), np.int8)
    with Bound(seconds=10, mb=300):   # the tables alone would take 2 GiB
        with pytest.raises(InputError, match=f"bound of {MAX_TABLE_BYTES >> 20} MiB"):
            mvm(x, w, card)
    be = ImcBackend(card, max_table_bytes=1 << 16)
    with pytest.raises(InputError, match="look-up tables"):
        be.matmul(np.ones((1, 512), np.int8), np.ones((512, 16), np.int8))
    y = ImcBackend(card).matmul(np.ones((1, 512), np.int8), np.ones((512, 16), np.int8))
    assert y.shape == (1, 16)


# --------------------------------------------------------------------------- 5-9 integrity
def test_5_resume_refuses_changed_weights_of_a_network_file(tmp_path, counted):
    net = networks.zoo.load("tnn_mlp_digits")
    networks.save_network(net, tmp_path / "net.yaml")
    d = doc(tmp_path, network="net.yaml", sweep={"adc.bits": [4]})
    p = write(tmp_path / "s.yaml", d)
    run_study(p, progress=False)
    h0 = load_study(p).content_hash()
    sd = net.state_dict()
    key = next(k for k, v in sd.items() if v.ndim == 2)
    sd[key] = -sd[key]
    np.savez_compressed(tmp_path / "net.npz", **sd)
    os.utime(tmp_path / "net.npz", ns=(1, 1))  # same size; a new stamp all the same
    assert load_study(p).content_hash() != h0
    with pytest.raises(StudyError, match="different version"):
        run_study(p, resume=True, progress=False)
    assert counted.calls == 1


def _idx(path: Path, a: np.ndarray):
    code = {np.dtype(np.uint8): 8}[a.dtype]
    path.write_bytes(struct.pack(">BBBB", 0, 0, code, a.ndim)
                     + struct.pack(">" + "I" * a.ndim, *a.shape) + a.tobytes())


def test_6_hash_covers_the_data_files_contents(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    rng = np.random.default_rng(0)
    _idx(root / "t10k-images-idx3-ubyte", rng.integers(0, 255, (4, 28, 28), dtype=np.uint8))
    labels = np.array([1, 2, 3, 4], np.uint8)
    _idx(root / "t10k-labels-idx1-ubyte", labels)
    monkeypatch.setenv("IMCSIM_DATA", str(root))
    s = load_study(doc(tmp_path, dataset={"name": "mnist", "split": "test"}))
    h0 = s.content_hash()
    assert s.content_hash() == h0
    labels[0] = 7
    _idx(root / "t10k-labels-idx1-ubyte", labels)
    os.utime(root / "t10k-labels-idx1-ubyte", ns=(5, 5))
    assert s.content_hash() != h0


def test_7_points_folder_is_locked(tmp_path):
    from imcsim.study.store import lock_points

    s = load_study(doc(tmp_path))
    pdir = s.points_dir()
    pdir.mkdir(parents=True)
    with lock_points(pdir):
        with pytest.raises(StudyError, match="another imcsim run .* is writing to"):
            run_study(doc(tmp_path), progress=False)


def test_7_9_assembly_and_resume_refuse_foreign_or_altered_points(tmp_path, counted):
    from imcsim.study.runner import assemble

    a = doc(tmp_path)
    b = doc(tmp_path, seed=1, outputs={"dir": str(tmp_path / "other"), "plots": []})
    run_study(a, progress=False)
    run_study(b, progress=False)
    pa, pb = tmp_path / "out" / "rel.points", tmp_path / "other" / "rel.points"
    s = load_study(a)
    # a point of run B (seed 1), checksum and all, in A's folder
    for suffix in ("", ".sha256"):
        shutil.copy(pb / f"point-00001.nc{suffix}", pa / f"point-00001.nc{suffix}")
    with pytest.raises(StudyError, match="belongs to another run"):
        assemble(s)
    # a value changed in place: the checksum no longer matches
    run_study(a, progress=False)
    f = pa / "point-00000.nc"
    raw = bytearray(f.read_bytes())
    raw[-9] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(StudyError, match="do not match its checksum"):
        assemble(s)
    calls = counted.calls
    res = run_study(a, resume=True, progress=False)   # only the altered point again
    assert counted.calls == calls + 1
    assert res.attrs["seed"] == 0


def test_8_same_name_other_study_file_is_refused_and_kept(tmp_path):
    p1 = write(tmp_path / "one.yaml", doc(tmp_path))
    p2 = write(tmp_path / "two.yaml", doc(tmp_path, seed=5))
    run_study(p1, progress=False)
    before = sorted((tmp_path / "out" / "rel.points").glob("point-*"))
    with pytest.raises(StudyError, match="another study file with the same name.*kept"):
        run_study(p2, progress=False)
    assert sorted((tmp_path / "out" / "rel.points").glob("point-*")) == before
    assert (tmp_path / "out" / "rel.nc").is_file()


# --------------------------------------------------------------------------- 10-12 numbers
def test_10_duplicate_grid_values_are_refused(tmp_path):
    with pytest.raises(StudyError, match=r"sweep: adc.bits: value 4 given twice"):
        load_study(doc(tmp_path, sweep={"adc.bits": [4, 4]}))
    with pytest.raises(StudyError, match="given twice"):
        load_study(doc(tmp_path, sweep={"adc.bits": [4, 4.0]}))


def test_11_card_duplicate_keys_are_refused(tmp_path):
    text = CARD_TEXT.replace("adc:\n", "adc:\n  bits:\n    value: 2\n    source: 'assumption: x'\n", 1)
    p = tmp_path / "dup.yaml"
    p.write_text(text)
    with pytest.raises(dm.CardError, match="duplicate key 'bits'"):
        dm.load_card(str(p))


def test_12_nan_scales_nan_inputs_and_overflowing_cards(tmp_path):
    from imcsim.engine.backend import mvm
    from imcsim.simulation import simulate

    x = np.ones((2, 8), int)
    w = np.ones((8, 3), int)
    with pytest.raises(InputError, match=r"asym: expected four scales \(a, b, c, d\) > 0, got \(1, nan"):
        mvm(x, w, "tim_dnn_32nm", asym=(1, float("nan"), 1, 1))
    net = networks.zoo.load("tnn_mlp_digits")
    xs, ys = networks.datasets.load("digits", limit=4)
    xn = xs.copy()
    xn[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="x: 1 input value"):
        simulate(net, "tim_dnn_32nm", xn, ys)
    card = dm.load_card("tim_dnn_32nm").replace(**{"tile.leakage_mw": 1.7e308})
    with pytest.raises(InputError, match="not finite|underflows"):
        simulate(net, card, xs, ys)


# --------------------------------------------------------------------------- 13-18 exits
@pytest.mark.parametrize("name", ["trial", "layer", "accuracy", "component"])
def test_13_zip_named_like_a_result_dimension_is_refused(tmp_path, name):
    d = doc(tmp_path, sweep={"zip": [{"name": name, "adc.bits": [3, 4]}]})
    with pytest.raises(StudyError, match=f"dimension name '{name}' is taken"):
        load_study(d)


def test_14_exit_2_for_unreadable_cards_results_and_full_disks(tmp_path, monkeypatch, capsys):
    card = tmp_path / "latin1.yaml"
    card.write_bytes(CARD_TEXT.replace("TiM-DNN", "TiM-DNN \xe9").encode("latin-1"))
    assert cli(["info", str(card)]) == 2
    assert "expected UTF-8 text" in capsys.readouterr().err
    ds = run_study(doc(tmp_path), progress=False)
    res = tmp_path / "out" / "rel.nc"
    cut = tmp_path / "cut.nc"
    cut.write_bytes(res.read_bytes()[:3000])
    assert cli(["plot", str(cut)]) == 2
    assert "cut short or damaged" in capsys.readouterr().err
    assert cli(["plot", str(tmp_path / "out" / "rel.points" / "point-00000.nc")]) == 2
    assert "one point of a study" in capsys.readouterr().err
    assert ds.attrs["seed"] == 0
    # a full disk: one line, exit 2, no temporary file left behind
    from imcsim.study import store

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "replace", full)
    p = write(tmp_path / "s.yaml", doc(tmp_path, outputs={"dir": str(tmp_path / "o2"),
                                                          "plots": []}))
    assert cli(["run", str(p), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert not [f for f in (tmp_path / "o2").rglob("*") if ".tmp" in f.name]


def test_15_scheduler_without_workers_is_refused(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from imcsim.study import runner

    monkeypatch.setattr(runner, "WORKER_WAIT_S", 1.0)
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as c:
        with pytest.raises(StudyError, match="has no workers"):
            run_study(doc(tmp_path), scheduler=c.scheduler_address, progress=False)


def test_16_api_errors_are_documented_types(tmp_path, monkeypatch):
    from imcsim.engine import backend as eb
    from imcsim.simulation import simulate

    for x, w in [(np.ones((2, 0), int), np.ones((0, 3), int)),
                 (np.ones((2, 4), int), np.ones((4, 0), int))]:
        with pytest.raises(InputError, match="K >= 1 rows and N >= 1 columns"):
            eb.mvm(x, w, "tim_dnn_32nm")
    with pytest.raises(InputError, match="asym"):
        eb.mvm(np.ones((2, 4), int), np.ones((4, 3), int), "tim_dnn_32nm", asym=(1, 2))
    net = networks.zoo.load("tnn_mlp_digits")
    xs, ys = networks.datasets.load("digits", limit=4)

    class NoRun:  # the wrong labels must be refused before any trial runs
        def __init__(self, *a, **k):
            raise AssertionError("a trial ran")

    monkeypatch.setattr(eb, "ImcBackend", NoRun)
    with pytest.raises(InputError, match="y: expected 4 labels"):
        simulate(net, "tim_dnn_32nm", xs, ys[:3])
    with pytest.raises(InputError, match="batch: expected an integer >= 1"):
        simulate(net, "tim_dnn_32nm", xs, ys, batch=-5)
    with pytest.raises(InputError, match="seed: expected a non-negative integer"):
        simulate(net, "tim_dnn_32nm", xs, ys, seed=-1)
    # corrupt weights and data files name the file and the cause
    yml = networks.save_network(net, tmp_path / "n.yaml")
    (tmp_path / "n.npz").write_text("not a zip\n")
    with pytest.raises(networks.NetworkError) as ei:
        networks.load_network(yml)
    assert "n.npz" in str(ei.value) and "allow_pickle" not in str(ei.value)
    gz = tmp_path / "t10k-labels-idx1-ubyte.gz"
    import gzip

    good = gzip.compress(struct.pack(">BBBBI", 0, 0, 8, 1, 4) + bytes(4))
    gz.write_bytes(good[:14] + bytes(6) + good[20:])
    with pytest.raises(networks.DatasetError, match="t10k-labels-idx1-ubyte.gz"):
        networks.datasets.read_idx(gz)


def test_17_validate_refuses_what_run_would(tmp_path):
    with pytest.raises(StudyError, match="at most 100 characters"):
        load_study(doc(tmp_path, study="x" * 300))
    if Path("/proc/self").is_dir():
        with pytest.raises(StudyError, match="outputs: dir: cannot write"):
            validate_study(doc(tmp_path, outputs={"dir": "/proc/imcsim-test/out", "plots": []}))
    with pytest.raises(StudyError, match="needs 2 tiles .* chip.allow_reload is false"):
        validate_study(doc(tmp_path, set={"chip.tiles": 1, "chip.allow_reload": False}))


def test_18_smaller_messages(tmp_path, monkeypatch, capsys):
    with pytest.raises(StudyError) as ei:
        validate_study(doc(tmp_path, dataset={"name": "nosuchset"}))
    assert str(ei.value).count("cifar10") == 1
    bad = tmp_path / "text.nc"
    bad.write_text("hello\n")
    assert cli(["plot", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not a netCDF file" in err and "engine" not in err
    from imcsim import study

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(study, "run_study", interrupted)
    assert cli(["run", "quickstart", "--out", str(tmp_path / "r d")]) == 130
    assert f"--resume --out '{tmp_path / 'r d'}'" in capsys.readouterr().err
    monkeypatch.undo()
    assert cli(["run", "quickstart", "--out", ""]) == 2
    assert "--out: expected a directory path" in capsys.readouterr().err
    tagged = CARD_TEXT.replace("name: tim_dnn_32nm", "name: !!python/object/apply:os.getcwd []")
    with pytest.raises(dm.CardError, match="unsupported YAML tag '!!python/object/apply"):
        dm.load_card(tagged)


# --------------------------------------------------------------------------- 19 modes
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_19_result_and_point_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        run_study(doc(tmp_path, sweep={"adc.bits": [4]}), progress=False)
    finally:
        os.umask(old)
    out = tmp_path / "out"
    for f in [out / "rel.nc", out / "rel.points" / "point-00000.nc"]:
        assert (f.stat().st_mode & 0o777) == mode, f


def test_15_bad_input_point_on_dask_is_one_line(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import logging

    from imcsim.study import runner

    def bad(spec):
        raise dm.CardError("override", "adc.bits", "expected a bad-input test")

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.records = []

        def emit(self, record):
            self.records.append(record.getMessage())

    keep = Keep()
    worker_log = logging.getLogger("distributed.worker")
    worker_log.addHandler(keep)
    monkeypatch.setattr(runner, "compute_point", bad)
    try:
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as c:
            with pytest.raises(StudyError, match="cannot be simulated: override: adc.bits"):
                run_study(doc(tmp_path), scheduler=c.scheduler_address, progress=False)
    finally:
        worker_log.removeHandler(keep)
    assert not [m for m in keep.records if "Compute Failed" in m]   # no worker traceback


def test_15_lost_scheduler_is_one_line(tmp_path, monkeypatch):
    """A scheduler lost mid-run: the futures are cancelled; the run says so in one line and
    keeps the finished points (a fake client: losing a real scheduler takes many seconds)."""
    distributed = pytest.importorskip("distributed")
    from distributed.client import FutureCancelledError

    from imcsim.study import runner

    class Fut:
        def __init__(self, key):
            self.key = key

        def result(self):
            raise FutureCancelledError(self.key, reason="scheduler-connection-lost")

        def cancel(self):
            pass

    class Client:
        def submit(self, fn, spec, pure, key):
            return Fut(key)

    monkeypatch.setattr(distributed, "as_completed", iter)
    s = load_study(doc(tmp_path))
    with pytest.raises(StudyError) as ei:
        runner._run_dask(Client(), s, s.points(), "h", lambda res, p: None)
    msg = str(ei.value)
    assert "lost the dask scheduler" in msg and "--resume" in msg and "\n" not in msg


def test_5_a_network_file_edited_during_the_run_is_refused(tmp_path):
    from imcsim.study import runner

    s = load_study(doc(tmp_path))
    spec = runner._spec(s, s.points()[0], "h")
    assert spec["network_digest"] and spec["data_digest"]
    spec["network_digest"] = "0" * 64           # what the run hashed differs from the file
    with pytest.raises(StudyError, match="network files changed during the run"):
        runner.compute_point(spec)

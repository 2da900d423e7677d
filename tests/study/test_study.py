"""Studies: schema, sweep expansion, seeding, storage of points, resume, dask execution.

The runner tests run the real network, dataset and engine on a tiny study (8 digits, 2
trials, 4 points).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from hypothesis import given, settings, strategies as hs

from imcsim import study as st
from imcsim.study.progress import Progress
from imcsim.study import StudyError, load_study, validate_study, run_study
from study_fixtures import tiny_study

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- counting
@pytest.fixture
def counted(monkeypatch):
    """The real ``simulate``, counting its calls; ``fail_after = n`` interrupts call n+1."""
    from imcsim import simulation

    real = simulation.simulate

    def wrapper(*a, **k):
        wrapper.calls += 1
        if wrapper.fail_after is not None and wrapper.calls > wrapper.fail_after:
            raise KeyboardInterrupt
        return real(*a, **k)

    wrapper.calls = 0
    wrapper.fail_after = None
    monkeypatch.setattr(simulation, "simulate", wrapper)
    return wrapper


def study_doc(tmp_path, **kw):
    doc = tiny_study(dataset={"name": "digits", "split": "test", "limit": 8}, seed=7,
                     outputs={"dir": str(tmp_path / "out"), "plots": []})
    doc.update(kw)
    return doc


def write(tmp_path, doc, name="s.yaml"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return p


# --------------------------------------------------------------------------- schema
def test_points_grid_order_and_zip(tmp_path):
    s = load_study(study_doc(tmp_path, sweep={
        "adc.bits": [3, 4],
        "zip": [{"name": "arch", "network": ["fake_mlp", "fake_cnn"],
                 "hardware": ["tim_dnn_32nm", "xnor_sram_65nm"]}],
        "cell.mismatch_sigma": [0.0, 0.1, 0.2]}))
    assert [d.name for d in s.dims] == ["adc.bits", "arch", "cell.mismatch_sigma"]
    assert s.shape == (2, 2, 3) and s.n_points == 12
    pts = s.points()
    assert [p.index for p in pts] == list(range(12))
    # C order: last dimension fastest
    assert pts[1].values == {"adc.bits": 3, "network": "fake_mlp", "hardware": "tim_dnn_32nm",
                             "cell.mismatch_sigma": 0.1}
    assert pts[3].network == "fake_cnn" and pts[3].hardware == "xnor_sram_65nm"
    assert pts[3].overrides == {"adc.bits": 3, "cell.mismatch_sigma": 0.0}
    assert s.dims[1].labels() == ["fake_mlp", "fake_cnn"]


def test_zip_without_name_uses_first_path(tmp_path):
    s = load_study(study_doc(tmp_path, sweep={"zip": [{"adc.bits": [3, 4], "adc.clip_count": [7, 15]}]}))
    assert [d.name for d in s.dims] == ["adc.bits"] and s.n_points == 2
    assert s.points()[1].overrides == {"adc.bits": 4, "adc.clip_count": 15}


def test_point_seed_is_spawned_child():
    kids = np.random.SeedSequence(7).spawn(5)
    for i in range(5):
        a = np.random.default_rng(st.point_seed(7, i)).integers(0, 2**32, 4)
        b = np.random.default_rng(kids[i]).integers(0, 2**32, 4)
        assert (a == b).all()


@pytest.mark.parametrize("patch, key, text", [
    ({"colour": 1}, "colour", "unknown key"),
    ({"trials": 0}, "trials", "expected an integer >= 1, got 0"),
    ({"trials": "ten"}, "trials", "expected an integer >= 1"),
    ({"sweep": {"adc.bits": []}}, "sweep: adc.bits", "expected a non-empty list of values, got []"),
    ({"sweep": {"adc.bits": 3}}, "sweep: adc.bits", "expected a list of values"),
    ({"sweep": {"zip": [{"adc.bits": [3, 4], "adc.clip_count": [7]}]}}, "sweep: zip[0]: adc.clip_count",
     "expected 2 values"),
    ({"set": {"adc.bits": 3}}, "sweep: adc.bits", "both fixed in 'set' and swept"),
    ({"dataset": {"name": "digits", "splt": "test"}}, "dataset: splt", "unknown key"),
    ({"outputs": {"dir": "x", "plots": ["paretto"]}}, "outputs: plots[0]", "did you mean 'pareto'"),
    ({"study": "bad name/x"}, "study", "expected a name"),
    ({"batch": 0}, "batch", "expected an integer >= 1 or null (automatic), got 0"),
    ({"batch": "big"}, "batch", "expected an integer >= 1 or null"),
])
def test_schema_errors(tmp_path, patch, key, text):
    p = write(tmp_path, study_doc(tmp_path, **patch))
    with pytest.raises(StudyError) as ei:
        load_study(p)
    msg = str(ei.value)
    assert msg.startswith(str(p)), msg
    assert f": {key}: " in msg, msg
    assert text in msg, msg
    assert "\n" not in msg


def test_line_numbers(tmp_path):
    p = write(tmp_path, "study: x\nnetwork: fake_mlp\ndataset: {name: digits}\nhardware: tim_dnn_32nm\n"
                        "sweep:\n  adc.bits: []\n")
    with pytest.raises(StudyError) as ei:
        load_study(p)
    assert str(ei.value).startswith(f"{p}:6: sweep: adc.bits:")


def test_malformed_yaml_and_duplicates(tmp_path):
    p = write(tmp_path, "study: x\nnetwork: [a, b\nhardware: y\n")
    with pytest.raises(StudyError) as ei:
        load_study(p)
    assert "malformed YAML" in str(ei.value) and str(ei.value).startswith(f"{p}:")
    p = write(tmp_path, "study: x\nstudy: y\n")
    with pytest.raises(StudyError, match="duplicate key 'study'"):
        load_study(p)


def test_safe_loader_refuses_python_tags(tmp_path):
    p = write(tmp_path, "study: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(StudyError, match="malformed YAML"):
        load_study(p)


def test_shipped_study_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the checkout: the installed copies
    for ref in ("quickstart", "quickstart.yaml", "studies/quickstart.yaml"):
        assert st.resolve_study_path(ref) == st.studies_dir() / "quickstart.yaml"
    assert {"quickstart", "adc_bits_sweep", "rows_per_access_sweep", "variation_sweep",
            "binary_vs_ternary", "tim_dnn_peak"} <= set(st.list_studies())
    assert st.resolve_study_path("quickstart").name == "quickstart.yaml"
    with pytest.raises(StudyError, match="did you mean 'quickstart'"):
        st.resolve_study_path("quikstart")


# --------------------------------------------------------------------------- validate
def test_validate_card_paths_and_values(tmp_path, counted):
    validate_study(study_doc(tmp_path))
    with pytest.raises(StudyError) as ei:
        validate_study(study_doc(tmp_path, sweep={"adc.bitz": [3]}))
    assert "sweep: adc.bitz" in str(ei.value) and "no parameter 'adc.bitz'" in str(ei.value)
    assert "did you mean 'adc.bits'" in str(ei.value)
    with pytest.raises(StudyError) as ei:
        validate_study(study_doc(tmp_path, set={"adc.range": "wide"}))
    assert "set: adc.range" in str(ei.value) and "'wide'" in str(ei.value)
    with pytest.raises(StudyError) as ei:
        validate_study(study_doc(tmp_path, sweep={"adc.bits": [4, "three"]}))
    assert "sweep: adc.bits" in str(ei.value) and "'three' rejected" in str(ei.value)
    with pytest.raises(StudyError) as ei:
        validate_study(study_doc(tmp_path, hardware="tim_dnn_23nm"))
    assert "hardware: unknown card 'tim_dnn_23nm'; did you mean 'tim_dnn_32nm'" in str(ei.value)
    with pytest.raises(StudyError) as ei:
        validate_study(study_doc(tmp_path, outputs={"dir": str(tmp_path), "plots": ["accuracy_heatmap"]},
                                 sweep={"adc.bits": [3, 4]}))
    assert "outputs: plots[0]" in str(ei.value) and "two swept parameters" in str(ei.value)


def test_validate_output_dir_not_writable(tmp_path, counted):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StudyError) as ei:
        validate_study(study_doc(tmp_path, outputs={"dir": str(tmp_path / "afile" / "sub")}))
    assert "outputs: dir" in str(ei.value) and "cannot write" in str(ei.value)
    assert not (tmp_path / "out").exists()  # validate creates nothing


# --------------------------------------------------------------------------- running
def test_run_writes_points_and_result(tmp_path, counted, capsys):
    ds = run_study(study_doc(tmp_path), progress=False)
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "tiny.points").glob("point-*.nc")) == \
        [f"point-0000{i}.nc" for i in range(4)]
    assert (out / "tiny.nc").is_file()
    assert counted.calls == 4
    assert ds["accuracy"].dims == ("adc.bits", "cell.mismatch_sigma", "trial")
    assert list(ds["adc.bits"].values) == [3, 4]
    on_disk = xr.open_dataset(out / "tiny.nc")
    assert on_disk.attrs["study"] == "tiny" and "study_text" in on_disk.attrs
    xr.testing.assert_allclose(on_disk["accuracy"], ds["accuracy"])
    on_disk.close()
    # the numbers follow SeedSequence(seed, point index): point 3 = (4, 0.1)
    import device_models
    import networks
    from imcsim.simulation import simulate

    x, y = networks.datasets.load("digits", split="test", limit=8)
    card = device_models.load_card("tim_dnn_32nm").replace(
        **{"adc.bits": 4, "cell.mismatch_sigma": 0.1})
    one = simulate(networks.zoo.load("tnn_mlp_digits"), card, x, y, trials=2,
                   seed=st.point_seed(7, 3))
    point = ds.isel({"adc.bits": 1, "cell.mismatch_sigma": 1})
    for name in ("accuracy", "mac_error_rms", "energy"):
        np.testing.assert_array_equal(point[name].values, one[name].values)


def test_zip_result_coords(tmp_path, counted):
    ds = run_study(study_doc(tmp_path, sweep={"zip": [{"adc.bits": [3, 4], "adc.clip_count": [7.0, 15.0]}]}),
                   progress=False)
    assert ds["accuracy"].dims == ("adc.bits", "trial")
    assert list(ds["adc.clip_count"].values) == [7.0, 15.0]
    assert ds["adc.clip_count"].dims == ("adc.bits",)


def test_resume_after_interruption(tmp_path, counted):
    doc = study_doc(tmp_path)
    counted.fail_after = 2
    with pytest.raises(KeyboardInterrupt):
        run_study(doc, progress=False)
    pdir = tmp_path / "out" / "tiny.points"
    assert len(list(pdir.glob("point-*.nc"))) == 2
    assert not (tmp_path / "out" / "tiny.nc").exists()
    assert not list(pdir.glob(".*tmp*"))
    counted.fail_after = None
    counted.calls = 0
    resumed = run_study(doc, resume=True, progress=False)
    assert counted.calls == 2  # only the missing points
    full = run_study(study_doc(tmp_path, outputs={"dir": str(tmp_path / "full"), "plots": []}),
                     progress=False)
    for name in ("accuracy", "energy", "latency_total"):
        xr.testing.assert_identical(resumed[name], full[name])


def test_resume_refuses_other_study(tmp_path, counted):
    run_study(study_doc(tmp_path), progress=False)
    with pytest.raises(StudyError, match="different version of this study"):
        run_study(study_doc(tmp_path, seed=8), resume=True, progress=False)
    # points kept
    assert len(list((tmp_path / "out" / "tiny.points").glob("point-*.nc"))) == 4


def test_progress_plain_lines_and_summary(tmp_path, counted, capsys):
    import io

    buf = io.StringIO()
    run_study(study_doc(tmp_path), stream=buf, summary=True)
    lines = buf.getvalue().splitlines()
    assert lines[0] == ("tiny: 4 point(s) (adc.bits[2] x cell.mismatch_sigma[2]) x 2 trial(s), "
                        "tnn_mlp_digits on tim_dnn_32nm, in-process")
    assert lines[1].startswith("point 1/4 done (adc.bits=3, cell.mismatch_sigma=0)")
    assert "ETA" in lines[-1] and lines[-1].startswith("point 4/4 done")
    out = capsys.readouterr().out
    assert "accuracy" in out and "energy/inf" in out and "TOPS/W" in out and "+-" in out


@pytest.mark.slow
def test_scheduler_that_does_not_answer(tmp_path, counted, monkeypatch):
    from imcsim.study import runner

    monkeypatch.setattr(runner, "SCHEDULER_TIMEOUT_S", 0.2)  # no fixed 5 s wait
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(StudyError) as ei:
        run_study(study_doc(tmp_path), scheduler=f"tcp://127.0.0.1:{port}", progress=False)
    assert "--scheduler" in str(ei.value) and "did not answer" in str(ei.value)


# --------------------------------------------------------------------------- real stack
def real_doc(tmp_path, sub="out", **kw):
    """The tiny study with its results in ``tmp_path/sub`` and no plots."""
    return study_doc(tmp_path, outputs={"dir": str(tmp_path / sub), "plots": []}, **kw)


def test_files_by_relative_path_real(tmp_path):
    """A network file and a card file named relative to the study file."""
    import device_models
    import networks

    (tmp_path / "models").mkdir()
    networks.save_network(networks.zoo.load("tnn_mlp_digits"), tmp_path / "models" / "net.yaml")
    (tmp_path / "models" / "card.yaml").write_text(device_models.load_card("tim_dnn_32nm").dump())
    doc = real_doc(tmp_path, network="models/net.yaml", hardware="models/card.yaml",
                   sweep={"adc.bits": [3, 4]}, trials=1)
    p = write(tmp_path, doc)
    ds = run_study(p, progress=False)
    by_name = run_study(real_doc(tmp_path, sub="named", sweep={"adc.bits": [3, 4]}, trials=1),
                        progress=False)
    xr.testing.assert_identical(ds["accuracy"], by_name["accuracy"])
    with pytest.raises(StudyError, match="network: network file not found"):
        validate_study(write(tmp_path, dict(doc, network="models/nope.yaml"), "b.yaml"))
    with pytest.raises(StudyError, match="hardware: card file not found"):
        validate_study(write(tmp_path, dict(doc, hardware="models/nope.yaml"), "b.yaml"))


def test_dataset_errors_real(tmp_path):
    with pytest.raises(StudyError) as ei:
        validate_study(real_doc(tmp_path, dataset={"name": "digit", "split": "test"}))
    assert "dataset: name: " in str(ei.value) and "did you mean 'digits'" in str(ei.value)
    with pytest.raises(StudyError) as ei:
        validate_study(real_doc(tmp_path, dataset={"name": "digits", "split": "tset"}))
    assert "dataset: split: " in str(ei.value) and "unknown split" in str(ei.value)


@pytest.mark.slow
def test_dask_local_cluster_matches_in_process_real(tmp_path):
    """The same study in-process and on a 2-worker LocalCluster: identical numbers."""
    distributed = pytest.importorskip("distributed")
    a = run_study(real_doc(tmp_path, sub="a"), progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        b = run_study(real_doc(tmp_path, sub="b"), scheduler=client, progress=False)
    for name in a.data_vars:
        xr.testing.assert_identical(a[name], b[name])
    # two chip instances per point, drawn per (seed, point, trial): with mismatch they differ
    err = a["mac_error_rms"].sel({"cell.mismatch_sigma": 0.1})
    assert np.all(err.isel(trial=0).values != err.isel(trial=1).values)


def test_progress_bar_on_a_terminal():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    buf = Tty()
    bar = Progress(4, already=1, stream=buf)
    bar.update("a")
    bar.update("b")
    bar.close()
    text = buf.getvalue()
    assert text.startswith("1/4 points already on disk\n")
    assert "\r[" in text and "3/4 points" in text and "elapsed" in text and "ETA" in text
    assert text.endswith("\n") and text.count("\n") == 2  # redrawn in place, not new lines


def test_network_that_the_card_cannot_hold_real(tmp_path):
    """A ternary network on XNOR cells is refused by validate, naming the key."""
    with pytest.raises(StudyError) as ei:
        validate_study(real_doc(tmp_path, hardware="xnor_sram_65nm",
                                sweep={"cell.mismatch_sigma": [0.0, 0.1]}))
    msg = str(ei.value)
    assert ": hardware: network 'tnn_mlp_digits' cannot run on card 'xnor_sram_65nm'" in msg
    with pytest.raises(StudyError) as ei:
        validate_study(real_doc(tmp_path, sweep={"zip": [{"name": "design",
                                                          "network": ["bnn_mlp_digits", "tnn_mlp_digits"],
                                                          "hardware": ["xnor_sram_65nm", "xnor_sram_65nm"]}]}))
    assert ": sweep: zip[0]: network: " in str(ei.value) and "network=tnn_mlp_digits" in str(ei.value)


def test_bad_input_while_simulating_names_the_point(tmp_path, counted, monkeypatch):
    from imcsim.errors import InputError

    def broken(*a, **k):
        raise InputError("x: something the engine refuses")

    from imcsim import simulation

    monkeypatch.setattr(simulation, "simulate", broken)
    p = write(tmp_path, study_doc(tmp_path))
    with pytest.raises(StudyError) as ei:
        run_study(p, progress=False)
    assert str(ei.value) == (f"{p}: point 0 (adc.bits=3, cell.mismatch_sigma=0) cannot be "
                             "simulated: x: something the engine refuses")


def test_workload_only_network_is_a_cost_only_study_real(tmp_path):
    # no trained weights: its points are estimates from the layer shapes (tests/study/test_cost_only.py)
    assert validate_study(real_doc(tmp_path, network="lenet5")).network == "lenet5"


def test_edited_card_file_is_reloaded_real(tmp_path):
    """In one Python session, editing a card file between runs changes the result."""
    import device_models

    card = tmp_path / "card.yaml"
    card.write_text(device_models.load_card("tim_dnn_32nm").dump())
    doc = real_doc(tmp_path, hardware=str(card), sweep={"adc.bits": [4]}, trials=1)
    a = run_study(doc, progress=False)
    doc_card = yaml.safe_load(card.read_text())
    doc_card["adc"]["comparator_energy_fj"]["value"] *= 5   # the card's ADC is counted from its parts
    card.write_text(yaml.safe_dump(doc_card, sort_keys=False))
    b = run_study(dict(doc, outputs={"dir": str(tmp_path / "b"), "plots": []}), progress=False)
    assert float(b["energy_total"].max()) > float(a["energy_total"].max())


@settings(max_examples=40, deadline=None)
@given(grid=hs.lists(hs.integers(1, 4), min_size=0, max_size=3),
       zips=hs.lists(hs.tuples(hs.integers(1, 4), hs.integers(1, 3)), max_size=2))
def test_sweep_expansion_property(tmp_path_factory, grid, zips):
    """Points = product of dimension sizes, in C order, every combination once; zip members
    move together."""
    sweep = {f"g{i}.p": list(range(n)) for i, n in enumerate(grid)}
    if zips:
        sweep["zip"] = [{f"z{j}.m{k}": [10 * k + v for v in range(n)] for k in range(m)}
                        for j, (n, m) in enumerate(zips)]
    doc = {"study": "prop", "network": "x", "dataset": "digits", "hardware": "y",
           **({"sweep": sweep} if sweep else {})}
    s = load_study(doc)
    sizes = list(grid) + [n for n, _ in zips]
    assert s.shape == tuple(sizes)
    pts = s.points()
    assert len(pts) == int(np.prod(sizes)) == s.n_points
    assert [p.position for p in pts] == list(np.ndindex(*sizes))
    for p in pts:
        for j, (n, m) in enumerate(zips):
            v0 = p.values[f"z{j}.m0"]
            assert all(p.values[f"z{j}.m{k}"] == 10 * k + v0 for k in range(m))
        assert set(p.overrides) == set(p.values)


def test_one_name_or_path_resolver(tmp_path):
    """Cards and networks of studies and `imcsim info` go through resolve_name_or_path."""
    from imcsim.study.resolve import resolve_name_or_path

    assert resolve_name_or_path("card", "tim_dnn_32nm") == "tim_dnn_32nm"
    assert resolve_name_or_path("network", "tnn_mlp_digits") == "tnn_mlp_digits"
    (tmp_path / "c.yaml").write_text("x")
    assert resolve_name_or_path("card", "c.yaml", tmp_path) == str((tmp_path / "c.yaml").resolve())
    with pytest.raises(StudyError, match=r"^card file not found: .*nope\.yaml$"):
        resolve_name_or_path("card", "./nope.yaml", tmp_path)
    with pytest.raises(StudyError, match=r"^unknown network 'tnn_mlp_digit'; did you mean 'tnn_mlp_digits'"):
        resolve_name_or_path("network", "tnn_mlp_digit")


def test_shipped_studies_come_from_this_checkout():
    assert st.studies_dir() == REPO / "studies"


def test_batch_key_reaches_simulate_and_the_hash(tmp_path, monkeypatch):
    """``batch`` is passed to simulate (unset: None, automatic streaming) and, when set,
    changes the study hash (it sets the throughput batch); unset, the hash is as before."""
    from imcsim import simulation

    seen = []
    real = simulation.simulate
    monkeypatch.setattr(simulation, "simulate", lambda *a, **k: seen.append(k.get("batch")) or real(*a, **k))
    doc = study_doc(tmp_path, sweep={"adc.bits": [3]}, trials=1)
    plain = load_study(write(tmp_path, doc))
    batched = load_study(write(tmp_path, dict(doc, batch=4), "b.yaml"))
    assert plain.batch is None and batched.batch == 4
    assert plain.content_hash() != batched.content_hash()
    run_study(batched, progress=False, plots=False, summary=False)
    assert seen == [4]
    ds = xr.open_dataset(tmp_path / "out" / "tiny.nc")
    assert "batch of 4 inferences" in ds.attrs["latency_basis"]

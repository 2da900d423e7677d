"""Study data sets (named sets with a root, the user's npz arrays) and the ADC range check:
validate and run warn when a card's ADC range and the counts a layer reaches disagree;
adc.range: calibrated calibrates on a training sample, never on the evaluation inputs."""
import warnings

import numpy as np
import pytest
import yaml

import imcsim
import imcsim.study  # noqa: F401  (imports the package in its own order)
import networks
from imcsim.errors import StudyError
from imcsim.simulation import (AdcRangeWarning, CALIBRATION_SIZE, adc_range_check, calibrate_full_scales,
                               simulate)
from imcsim.study import load_study, run_study, validate_study


def _write(tmp_path, **kw):
    doc = {"study": "t", "network": "bnn_mlp_digits", "dataset": {"name": "digits", "limit": 40},
           "hardware": "xnor_sram_65nm", "trials": 1, "outputs": {"dir": str(tmp_path / "out"), "plots": []}}
    doc.update(kw)
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    d = tmp_path_factory.mktemp("arrays")
    x, y = networks.datasets.load("digits", "test", limit=40)
    xc, _ = networks.datasets.load("digits", "train", limit=64)
    np.savez(d / "mine.npz", images=x, labels=y, train_images=xc)
    return d / "mine.npz"


def test_dataset_keys_in_the_schema(tmp_path, digits_npz):
    s = load_study(_write(tmp_path, dataset={"name": "fashion_mnist", "root": "data", "limit": 5}))
    assert s.dataset == {"name": "fashion_mnist", "split": "test", "limit": 5, "root": str(tmp_path / "data")}
    (tmp_path / "sub").mkdir()
    rel = tmp_path / "sub" / "a.npz"
    s = load_study(_write(tmp_path, dataset={"path": "sub/a.npz", "x": "images", "y": "labels"}))
    assert s.dataset["path"] == str(rel) and s.dataset["x"] == "images" and s.dataset["name"] is None
    with pytest.raises(StudyError, match=r"s.yaml:\d+: dataset: x: only with 'path'"):
        load_study(_write(tmp_path, dataset={"name": "digits", "x": "images"}))
    with pytest.raises(StudyError, match=r"dataset: split: not allowed with 'path'"):
        load_study(_write(tmp_path, dataset={"path": str(digits_npz), "split": "test"}))
    with pytest.raises(StudyError, match=r"dataset: y: expected an array name"):
        load_study(_write(tmp_path, dataset={"path": str(digits_npz), "y": 3}))
    with pytest.raises(StudyError, match=r"dataset: root: cannot load dataset 'mnist'.*nowhere"):
        validate_study(_write(tmp_path, dataset={"name": "mnist", "root": str(tmp_path / "nowhere")}))
    with pytest.raises(StudyError, match=r"dataset: x: cannot load arrays.*mine.npz: no array 'pixels'"):
        validate_study(_write(tmp_path, dataset={"path": str(digits_npz), "x": "pixels", "y": "labels"}))


def test_a_study_on_the_users_arrays_runs(tmp_path, digits_npz):
    p = _write(tmp_path, network="tnn_mlp_digits", hardware="ideal",
               dataset={"path": str(digits_npz), "x": "images", "y": "labels"})
    res = run_study(p, progress=False, plots=False, summary=False)
    x, y = networks.datasets.load("digits", "test", limit=40)
    net = networks.zoo.load("tnn_mlp_digits")
    assert float(res.accuracy.values.ravel()[0]) == net.accuracy(x, y)


def test_validate_and_run_warn_when_the_adc_range_misses_the_counts(tmp_path):
    """bnn_mlp_digits on xnor_sram_65nm: fc1 (64 inputs) reaches about 18 cells against the
    card's +-40 cells range (lsb 8): validate and run say so, per layer, with the fix."""
    p = _write(tmp_path)
    with pytest.warns(AdcRangeWarning) as rec:
        s = validate_study(p)
    msgs = [str(w.message) for w in rec]
    assert len(s.warnings) == 1 and msgs == s.warnings
    m = msgs[0]
    assert "layer 'fc1'" in m and "[-40, 40] cells" in m and "adc.range: calibrated" in m and "s.yaml" in m
    with pytest.warns(AdcRangeWarning, match="layer 'fc1'"):
        run_study(p, progress=False, plots=False, summary=False)
    # calibrated: the reference is set per layer from data; no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", AdcRangeWarning)
        s = validate_study(_write(tmp_path, set={"adc.range": "calibrated"}))
    assert s.warnings == []


def test_calibrated_range_needs_a_training_sample(tmp_path, digits_npz):
    ds = {"path": str(digits_npz), "x": "images", "y": "labels"}
    with pytest.raises(StudyError, match=r"dataset: adc.range: calibrated calibrates on a training sample.*calibration_x"):
        validate_study(_write(tmp_path, dataset=ds, set={"adc.range": "calibrated"}))
    res = run_study(_write(tmp_path, dataset=dict(ds, calibration_x="train_images"), set={"adc.range": "calibrated"}),
                    progress=False, plots=False, summary=False)
    assert "train_images" in res.attrs["adc_calibration"] and res.attrs["adc_calibration_size"] == 64


def test_hand_written_bnn_cnn_first_layer_warns():
    """The issue's example: a BNN CNN whose first layer (3x3 kernel on one channel) can reach
    only 9 cells, against +-40 on xnor_sram_65nm."""
    net = networks.model.from_spec({"name": "bnn_cnn", "input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "name": "conv1", "in": 1, "out": 8, "kernel": 3, "padding": 1, "weights": "binary",
         "inputs": "binary"},
        {"type": "batchnorm", "name": "bn1"}, {"type": "sign", "name": "s1"},
        {"type": "flatten", "name": "f"},
        {"type": "dense", "name": "fc", "in": 512, "out": 10, "weights": "fp"}]}).init(0)
    x, _ = networks.datasets.load("digits", "test", limit=16)
    found = adc_range_check(net, "xnor_sram_65nm", x)
    assert len(found) == 1 and "layer 'conv1'" in found[0]
    peak = float(found[0].split("counts reach ")[1].split(" cells")[0])
    assert 1 <= peak <= 9                                    # 9 cells at most, from a 3x3 kernel
    assert "[-40, 40]" in found[0] and "inside 2 code(s)" in found[0]
    assert adc_range_check(net, "ideal", x) == [] and adc_range_check(net, "digital_nmc_32nm", x) == []


def test_calibration_uses_the_training_sample_not_the_evaluation_inputs():
    net = networks.zoo.load("bnn_mlp_digits")
    card = imcsim.load_hardware("xnor_sram_65nm").replace(**{"adc.range": "calibrated"})
    xtr, _ = networks.datasets.load("digits", "train", limit=CALIBRATION_SIZE)
    fs = calibrate_full_scales(net, card, xtr)
    assert set(fs) == {"fc1", "fc2"} and all(v >= 1 for v in fs.values())
    x, y = networks.datasets.load("digits", "test", limit=30)
    a = simulate(net, card, x, y, seed=0)
    b = simulate(net, card, x[:10], y[:10], seed=0)          # other evaluation inputs: same references
    for ds in (a, b):
        np.testing.assert_array_equal(ds.adc_full_scale.values.ravel(), [fs["fc1"], fs["fc2"]])
        assert "digits training split" in ds.attrs["adc_calibration"]
        assert ds.attrs["adc_calibration_size"] == CALIBRATION_SIZE
    c = simulate(net, card, x, y, seed=0, calibration=xtr[:50], calibration_size=20)
    assert c.attrs["adc_calibration_size"] == 20
    np.testing.assert_array_equal(c.adc_full_scale.values.ravel(),
                                  list(calibrate_full_scales(net, card, xtr[:20]).values()))
    # the engine hook: given full scales are used as they are
    be = imcsim.ImcBackend(card, seed=0, full_scales={"fc1": 7.0})
    net.predict(x[:5], be)
    assert be.mappings["fc1"].adc_max_count == 7.0
    assert a.attrs["adc_range_warnings"] == "none"


def test_clipping_layer_warns():
    """A layer whose every access sums 64 cells against the +-40 of xnor_sram_65nm clips."""
    net = networks.model.from_spec({"name": "clipper", "input_shape": [1, 8, 8], "layers": [
        {"type": "flatten", "name": "f"},
        {"type": "dense", "name": "fc1", "in": 64, "out": 4, "weights": "binary", "inputs": "binary"},
        {"type": "batchnorm", "name": "bn"}, {"type": "sign", "name": "s"},
        {"type": "dense", "name": "fc", "in": 4, "out": 10, "weights": "fp"}]}).init(0)
    net["fc1"].w_int[:] = 1
    x, _ = networks.datasets.load("digits", "test", limit=8)     # pixels >= 0: sign gives +1 everywhere
    found = adc_range_check(net, "xnor_sram_65nm", x)
    assert len(found) == 1 and found[0].startswith("layer 'fc1': 100% of the conversions clip")
    assert "reach 64 cells" in found[0] and "adc.range: calibrated" in found[0]
    card = imcsim.load_hardware("xnor_sram_65nm").replace(**{"adc.range": "calibrated"})
    assert calibrate_full_scales(net, card, x) == {"fc1": 64.0}
    assert adc_range_check(net, card, x, {"fc1": 64.0}) == []

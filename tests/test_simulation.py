"""imcsim.simulate: accuracy and cost from the same runs, on the real engine."""
import numpy as np
import pytest
import xarray as xr

import device_models as dm
import imcsim
from imcsim import costs as energy

TIM = dm.load_card("tim_dnn_32nm")


class TinyTNN:
    """A two-layer ternary MLP (random weights) whose labels are its own exact outputs."""

    name = "tiny_tnn"

    def __init__(self, seed=0, K=48, H=80, N=6):
        rng = np.random.default_rng(seed)
        self.w1 = rng.integers(-1, 2, size=(K, H))
        self.w2 = rng.integers(-1, 2, size=(H, N))

    def forward(self, x, backend):
        h = backend.matmul(x, self.w1, encoding="ternary", layer="fc1")
        h = np.sign(h).astype(np.int64)
        return backend.matmul(h, self.w2, encoding="ternary", layer="fc2")

    def predict(self, x, backend):
        return np.argmax(self.forward(x, backend), axis=1)


@pytest.fixture(scope="module")
def data():
    net = TinyTNN()
    rng = np.random.default_rng(1)
    x = rng.integers(-1, 2, size=(60, 48))
    y = net.predict(x, imcsim.ExactBackend())
    return net, x, y


def test_dataset_has_the_schema_and_accuracy_and_energy_from_one_run(data):
    net, x, y = data
    ds = imcsim.simulate(net, TIM, x, y, trials=3, seed=0)
    assert isinstance(ds, xr.Dataset)
    assert ds.accuracy.dims == ("trial",) and ds.sizes["trial"] == 3
    assert list(ds.layer.values) == ["fc1", "fc2"]
    assert ds.energy.dims == ("layer", "component")
    assert ds.mac_error_rms.dims == ("trial", "layer")
    for v in ds.data_vars:
        assert "units" in ds[v].attrs and "long_name" in ds[v].attrs
    assert np.all((ds.accuracy >= 0) & (ds.accuracy <= 1))
    assert float(ds.energy_total) > 0 and float(ds.latency_total) > 0
    np.testing.assert_allclose(ds.macs.values, [48 * 80, 80 * 6])
    assert ds.attrs["network"] == "tiny_tnn" and ds.attrs["trials"] == 3
    assert "tim_dnn_32nm" in ds.attrs["hardware"]


def test_ideal_card_is_exact(data):
    net, x, y = data
    ds = imcsim.simulate(net, "ideal", x, y, trials=2, seed=5)
    np.testing.assert_array_equal(ds.accuracy.values, [1.0, 1.0])
    np.testing.assert_array_equal(ds.mac_error_rms.values, 0.0)


def test_seeds_reproduce_and_trials_differ(data):
    net, x, y = data
    noisy = TIM.replace(**{"cell.mismatch_sigma": 0.2, "bitline.read_noise_sigma": 0.2})
    a = imcsim.simulate(net, noisy, x, y, trials=2, seed=3)
    b = imcsim.simulate(net, noisy, x, y, trials=2, seed=3)
    xr.testing.assert_identical(a, b)
    err = a.mac_error_rms.values
    assert np.all(err > 0) and not np.array_equal(err[0], err[1])
    c = imcsim.simulate(net, noisy, x, y, trials=2, seed=np.random.SeedSequence(3))
    xr.testing.assert_equal(a.mac_error_rms, c.mac_error_rms)


def test_all_zero_input_fires_no_wordline_and_discharges_nothing(data):
    net, x, _ = data
    ds = imcsim.simulate(net, TIM, np.zeros_like(x[:8]), None, trials=1)
    e = ds.energy.sel(layer="fc1")
    assert float(e.sel(component="wordline")) == 0.0
    # no wordline fired: nothing discharged and no rail needs precharging again
    assert float(e.sel(component="bitline")) == 0.0
    assert np.isnan(ds.accuracy.values).all()


def test_batches_change_no_result(data):
    net, x, y = data
    whole = imcsim.simulate(net, TIM, x, y, trials=1, seed=1)
    parts = imcsim.simulate(net, TIM, x, y, trials=1, seed=1, batch=7)
    xr.testing.assert_allclose(whole.accuracy, parts.accuracy)
    xr.testing.assert_allclose(whole.energy.drop_sel(component="leakage"),
                               parts.energy.drop_sel(component="leakage"))
    xr.testing.assert_allclose(whole.mac_error_rms, parts.mac_error_rms)


def test_digital_baseline_is_exact_and_costs_more(data):
    net, x, y = data
    dig = imcsim.simulate(net, "digital_nmc_32nm", x, y, trials=1)
    tim = imcsim.simulate(net, "tim_dnn_32nm", x, y, trials=1)
    assert float(dig.accuracy[0]) == 1.0
    assert dig.attrs["architecture"] == "digital"
    assert float(dig.energy.sel(component="adc").sum()) == 0.0
    assert float(dig.adc_conversions.sum()) == 0.0 and float(dig.accesses.sum()) > 0
    assert float(dig.energy_total) > float(tim.energy_total)


def test_simulate_is_callable_from_the_package_and_the_module(data):
    from imcsim.simulation import simulate

    net, x, y = data
    assert imcsim.simulate is simulate
    from imcsim.engine.backend import ImcBackend

    assert imcsim.ImcBackend is ImcBackend


def test_a_zoo_network_end_to_end():
    import networks

    net = networks.zoo.load("tnn_mlp_digits")
    x, y = networks.datasets.load("digits", split="test", limit=100)
    ds = imcsim.simulate(net, "tim_dnn_32nm", x, y, trials=2, seed=0)
    exact = net.accuracy(x, y)
    # the ideal card is exact; the card's 4-bit ADC keeps every prediction (README: 99.44 %
    # on the 360 test images at 4 bits, std 0 over chip instances)
    ideal = imcsim.simulate(net, "ideal", x, y, trials=1, seed=0)
    assert float(ideal.accuracy[0]) == exact
    assert dm.load_card("tim_dnn_32nm")["adc.bits"] == 4
    np.testing.assert_array_equal(ds.accuracy.values, [exact, exact])
    assert float(ds.energy_total) > 0
    assert set(energy.COMPONENTS) == set(ds.component.values)
    assert list(ds.layer.values) == [l.name for l in net.quantized_layers()]
    np.testing.assert_allclose(ds.macs.values, [l.macs for l in net.quantized_layers()])


def test_a_full_precision_network_is_a_clear_error():
    import networks

    from imcsim.errors import InputError

    x, y = networks.datasets.load("digits", split="test", limit=5)
    with pytest.raises(InputError, match="fp_mlp_digits"):
        imcsim.simulate(networks.zoo.load("fp_mlp_digits"), TIM, x, y)


def test_a_network_name_is_not_resolved_here(data):
    """Names and paths are resolved by the caller (networks.zoo.load, a study), not here."""
    from imcsim.errors import InputError

    _, x, y = data
    with pytest.raises(InputError, match=r"^network: expected a networks.Network .*got str 'tnn_mlp_digits'"):
        imcsim.simulate("tnn_mlp_digits", TIM, x[:2], y[:2])


# --------------------------------------------------------------------------- streaming
def _same(a, b, rtol_error=1e-12):
    """Every variable equal (mac_error_rms to rtol: it sums per batch)."""
    assert set(a.data_vars) == set(b.data_vars)
    for v in a.data_vars:
        if v == "mac_error_rms":
            np.testing.assert_allclose(a[v].values, b[v].values, rtol=rtol_error, atol=0)
        else:
            np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)
    assert a.attrs == b.attrs


class _Dense:
    """What auto_batch reads of a layer."""

    def __init__(self, K, N):
        self.vectors, self.K, self.N = 1, K, N


class DescribedTNN(TinyTNN):
    """TinyTNN that describes its layers, as networks.Network does."""

    def quantized_layers(self):
        return [_Dense(*self.w1.shape), _Dense(*self.w2.shape)]


def test_default_streams_and_changes_no_result(data, monkeypatch):
    from imcsim import simulation

    _, x, y = data
    net = DescribedTNN()
    whole = imcsim.simulate(net, TIM.replace(**{"cell.mismatch_sigma": 0.1}), x, y, trials=2, seed=3, batch=len(x))
    monkeypatch.setattr(simulation, "AUTO_BATCH_BYTES", 7 * (16 * 48 + 32 * 80))
    assert simulation.auto_batch(net, len(x)) == 7
    calls = []
    orig = net.predict
    from imcsim.engine import ImcBackend

    monkeypatch.setattr(net, "predict",   # the engine's calls (the range check runs exactly)
                        lambda xb, be: (isinstance(be, ImcBackend) and calls.append(len(xb))) or orig(xb, be))
    streamed = imcsim.simulate(net, TIM.replace(**{"cell.mismatch_sigma": 0.1}), x, y, trials=2, seed=3)
    assert max(calls) < len(x) and sum(calls) == 2 * len(x)
    _same(whole, streamed)


def test_streaming_on_a_calibrated_card_changes_no_result(monkeypatch):
    """adc.range: calibrated sets each layer's full scale from its own calibration sample,
    before the inputs stream: the batches change nothing."""
    from imcsim import simulation

    net = DescribedTNN()
    x = np.random.default_rng(4).integers(-1, 2, size=(300, 48))
    cal = np.random.default_rng(6).integers(-1, 2, size=(200, 48))
    y = net.predict(x, imcsim.ExactBackend())
    card = TIM.replace(**{"adc.range": "calibrated", "adc.bits": 3, "cell.mismatch_sigma": 0.05})
    whole = imcsim.simulate(net, card, x, y, trials=1, seed=2, batch=len(x), calibration=cal)
    monkeypatch.setattr(simulation, "AUTO_BATCH_BYTES", 1)
    assert simulation.auto_batch(net, len(x)) == 1
    streamed = imcsim.simulate(net, card, x[:60], y[:60], trials=1, seed=2, calibration=cal)
    part = imcsim.simulate(net, card, x[:60], y[:60], trials=1, seed=2, batch=60, calibration=cal)
    _same(part, streamed)
    np.testing.assert_array_equal(whole.adc_full_scale.values, streamed.adc_full_scale.values)


def test_memory_is_flat_in_the_number_of_images(monkeypatch):
    """Peak traced memory of simulate on N and on 4N images: streamed, it does not grow
    (under 10 %); all at once, it grows (the measure can see it)."""
    import tracemalloc

    from imcsim import simulation

    net = DescribedTNN(seed=3, K=192, H=160, N=10)
    monkeypatch.setattr(simulation, "AUTO_BATCH_BYTES", 128 * (16 * 192 + 32 * 160))
    rng = np.random.default_rng(5)
    x4 = rng.integers(-1, 2, size=(1536, 192)).astype(np.int8)
    card = TIM.replace(**{"cell.mismatch_sigma": 0.05})
    imcsim.simulate(net, card, x4[:64], None)            # compile and warm caches first

    def peak(n, batch=None):
        x = x4[:n].copy()
        tracemalloc.start()
        try:
            imcsim.simulate(net, card, x, None, trials=1, seed=0, batch=batch)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    p1, p4 = peak(384), peak(1536)
    assert p4 <= 1.10 * p1, (p1, p4)
    a1, a4 = peak(384, 384), peak(1536, 1536)
    assert a4 >= 1.5 * a1, (a1, a4)
    print(f"peak traced memory: streamed {p1 / 1e6:.2f} / {p4 / 1e6:.2f} MB, at once {a1 / 1e6:.2f} / {a4 / 1e6:.2f} MB")


def test_range_check_and_calibration_histograms_stream_their_sample(monkeypatch):
    """The per-layer count histograms behind the range check and calibration are recorded
    batch by batch: the same histograms as at once, and memory flat in the sample size."""
    import tracemalloc

    from imcsim import simulation

    net = DescribedTNN(seed=3, K=192, H=160, N=10)
    x = np.random.default_rng(7).integers(-1, 2, size=(512, 192)).astype(np.int8)
    whole = simulation._histograms(net, TIM, x)
    monkeypatch.setattr(simulation, "AUTO_BATCH_BYTES", 32 * (16 * 192 + 32 * 160))
    assert simulation.auto_batch(net, len(x)) == 32
    streamed = simulation._histograms(net, TIM, x)
    assert whole.keys() == streamed.keys()
    for name in whole:
        np.testing.assert_array_equal(whole[name][0], streamed[name][0])
        np.testing.assert_array_equal(whole[name][1], streamed[name][1])

    def peak(n):
        tracemalloc.start()
        try:
            simulation._histograms(net, TIM, x[:n])
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    p1, p4 = peak(128), peak(512)
    assert p4 <= 1.10 * p1, (p1, p4)

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

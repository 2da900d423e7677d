"""Every plot kind renders a non-empty PNG; a plot that does not apply says why."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from imcsim import plot
from imcsim.plot import PlotError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def result(sweep: dict, trials: int = 3, seed: int = 0) -> xr.Dataset:
    """A synthetic result shaped like a study's dataset."""
    rng = np.random.default_rng(seed)
    dims = list(sweep)
    shape = tuple(len(v) for v in sweep.values())
    layers, comps = ["fc1", "fc2", "fc3"], ["wordline", "bitline", "adc", "digital", "buffer"]
    energy = rng.uniform(1, 10, shape + (len(layers), len(comps)))
    ds = xr.Dataset(
        {"accuracy": (dims + ["trial"], rng.uniform(0.6, 0.95, shape + (trials,))),
         "energy": (dims + ["layer", "component"], energy),
         "energy_total": (dims, energy.sum((-1, -2))),
         "latency_total": (dims, rng.uniform(10, 20, shape)),
         "tops_per_watt": (dims, rng.uniform(10, 100, shape))},
        coords={**{d: np.asarray(v) for d, v in sweep.items()},
                "trial": np.arange(trials), "layer": layers, "component": comps})
    ds.attrs["study"] = "synthetic"
    ds.attrs["sweep_dims"] = json.dumps(dims)
    return ds


def is_png(path):
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == PNG_MAGIC


@pytest.mark.parametrize("kind", plot.KINDS)
def test_each_kind_renders_png(tmp_path, kind):
    ds = result({"adc.bits": [2, 3, 4], "cell.mismatch_sigma": [0.0, 0.1]})
    out = plot.plot(ds, kind, tmp_path / f"{kind}.png")
    assert is_png(out)


def test_from_netcdf_file_and_string_coords(tmp_path):
    ds = result({"design": ["bnn_mlp_digits", "tnn_mlp_digits"]})
    ds.to_netcdf(tmp_path / "r.nc")
    for kind in ("pareto", "energy_breakdown", "accuracy_vs_param"):
        assert is_png(plot.plot(str(tmp_path / "r.nc"), kind, tmp_path / f"{kind}.png"))


def test_single_point_result(tmp_path):
    ds = result({}).squeeze()
    ds.attrs["sweep_dims"] = "[]"
    for kind in ("pareto", "energy_breakdown"):
        assert is_png(plot.plot(ds, kind, tmp_path / f"{kind}.png"))


def test_plots_that_do_not_apply(tmp_path):
    one = result({"adc.bits": [2, 3, 4]})
    with pytest.raises(PlotError, match="accuracy_heatmap needs exactly two swept parameters.*has 1"):
        plot.plot(one, "accuracy_heatmap", tmp_path / "h.png")
    three = result({"a": [1, 2], "b": [1, 2], "c": [1, 2]})
    with pytest.raises(PlotError, match="accuracy_vs_param needs one or two"):
        plot.plot(three, "accuracy_vs_param", tmp_path / "v.png")
    with pytest.raises(PlotError, match="unknown plot kind"):
        plot.plot(one, "histogram", tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_energy_breakdown_select(tmp_path):
    ds = result({"adc.bits": [2, 3, 4]})
    assert is_png(plot.plot(ds, "energy_breakdown", tmp_path / "e.png", select={"adc.bits": "3"}))
    with pytest.raises(PlotError, match="no such value; expected one of 2, 3, 4"):
        plot.plot(ds, "energy_breakdown", tmp_path / "e.png", select={"adc.bits": "9"})
    with pytest.raises(PlotError, match="not a sweep dimension"):
        plot.plot(ds, "energy_breakdown", tmp_path / "e.png", select={"rows": "9"})


def test_front_mask_and_its_nan_rule():
    from imcsim.results import front_mask

    e = [1.0, 2.0, 3.0, 2.5]
    a = [0.5, 0.8, 0.9, 0.7]
    assert list(front_mask(e, a)) == [True, True, True, False]
    # NaN is never on the front and dominates nothing
    assert list(front_mask([1.0, np.nan, 2.0], [0.5, 1.0, 0.6])) == [True, False, True]
    assert list(front_mask([1.0, 2.0], [np.nan, 0.6])) == [False, True]


def _figure():
    from matplotlib.figure import Figure

    return Figure()


def test_pareto_draws_every_point_and_marks_the_front():
    from imcsim.results import front_mask

    ds = result({"adc.bits": [2, 3, 4], "cell.mismatch_sigma": [0.0, 0.1]})
    fig = _figure()
    plot._DRAW["pareto"](ds, fig, {})
    ax = fig.axes[0]
    e = ds["energy_total"].values.reshape(-1)
    acc = ds["accuracy"].mean("trial").values.reshape(-1)
    line = ax.lines[0]  # the error-bar markers: one per point
    np.testing.assert_allclose(line.get_xdata(), e)
    np.testing.assert_allclose(line.get_ydata(), acc)
    front = front_mask(e, acc)
    marked = ax.collections[-1].get_offsets()
    assert sorted(map(tuple, np.asarray(marked))) == sorted(zip(e[front], acc[front]))


def test_heatmap_shows_the_mean_accuracy():
    ds = result({"adc.bits": [2, 3, 4], "cell.mismatch_sigma": [0.0, 0.1]})
    fig = _figure()
    plot._DRAW["accuracy_heatmap"](ds, fig, {})
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(image, ds["accuracy"].mean("trial").values)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["2", "3", "4"]


@pytest.fixture(scope="module")
def simulated_points():
    """Four points of imcsim.simulate (2 x 2 sweep), no study attributes."""
    import imcsim
    import networks

    net = networks.zoo.load("tnn_mlp_digits")
    x, y = networks.datasets.load("digits", split="test", limit=8)
    card = imcsim.load_hardware("tim_dnn_32nm")
    pts = []
    for bits in (3, 4):
        for sigma in (0.0, 0.1):
            ds = imcsim.simulate(net, card.replace(**{"adc.bits": bits,
                                                      "cell.mismatch_sigma": sigma}),
                                 x, y, trials=2, seed=0)
            pts.append(({"adc.bits": bits, "cell.mismatch_sigma": sigma}, ds))
    return pts


@pytest.mark.parametrize("kind", ["pareto", "accuracy_vs_param", "accuracy_heatmap"])
def test_results_of_simulate_and_stack_plot(tmp_path, simulated_points, kind):
    """A result of imcsim.simulate / results.stack (no study attrs) has area_component,
    which is not a swept parameter."""
    from imcsim.results import stack, sweep_dims

    pts = simulated_points
    assert sweep_dims(pts[0][1]) == []
    stacked = stack(pts, {"adc.bits": [3, 4], "cell.mismatch_sigma": [0.0, 0.1]})
    assert sweep_dims(stacked) == ["adc.bits", "cell.mismatch_sigma"]
    del stacked.attrs["sweep_dims"]  # the rule without the attribute
    assert sweep_dims(stacked) == ["adc.bits", "cell.mismatch_sigma"]
    assert is_png(plot.plot(stacked, kind, tmp_path / f"{kind}.png"))
    if kind == "pareto":
        assert is_png(plot.plot(pts[0][1], kind, tmp_path / "one.png"))

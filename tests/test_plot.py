"""Every plot kind renders; figures are honest (fronts over design points only, labels with
units, categorical axes as categories, the heatmap's range shown) and written in the format
asked for; a plot that does not apply says why."""
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
         "latency_end_to_end": (dims, rng.uniform(20, 40, shape)),
         "throughput": (dims, rng.uniform(1e6, 2e6, shape)),
         "area_total": (dims, rng.uniform(1, 2, shape)),
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
    if kind == "accuracy_vs_energy":  # compares networks and cards
        ds = result({"network": ["a", "b"], "hardware": ["x", "y"]})
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
    assert is_png(plot.plot(ds, "energy_breakdown", tmp_path / "e.png"))
    with pytest.raises(plot.PlotDoesNotFit, match="pareto needs a design dimension"):
        plot.plot(ds, "pareto", tmp_path / "p.png")


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
    from imcsim.report import front_mask

    e = [1.0, 2.0, 3.0, 2.5]
    a = [0.5, 0.8, 0.9, 0.7]
    assert list(front_mask(e, a)) == [True, True, True, False]
    # NaN is never on the front and dominates nothing
    assert list(front_mask([1.0, np.nan, 2.0], [0.5, 1.0, 0.6])) == [True, False, True]
    assert list(front_mask([1.0, 2.0], [np.nan, 0.6])) == [False, True]


def _figure():
    from matplotlib.figure import Figure

    return Figure()


def test_pareto_is_over_design_points_with_accuracy_over_the_conditions():
    from imcsim.report import front_mask

    ds = result({"adc.bits": [2, 3, 4], "cell.mismatch_sigma": [0.0, 0.1]})
    fig = _figure()
    plot._DRAW["pareto"](ds, fig, {})
    ax = fig.axes[0]
    e = ds["energy_total"].mean("cell.mismatch_sigma").values
    per_cond = ds["accuracy"].mean("trial")
    mean = ds["accuracy"].mean(("trial", "cell.mismatch_sigma")).values
    worst = per_cond.min("cell.mismatch_sigma").values
    by_label = {l.get_label(): l for l in ax.lines}
    means = next(l for k, l in by_label.items() if k.startswith("mean over"))
    worsts = next(l for k, l in by_label.items() if k.startswith("worst case over"))
    assert "cell mismatch" in means.get_label() and "3 trials" in means.get_label()
    np.testing.assert_allclose(means.get_xdata(), e)          # one marker per design point
    np.testing.assert_allclose(means.get_ydata(), mean)
    np.testing.assert_allclose(worsts.get_ydata(), worst)
    fronts = {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections
              if c.get_label().startswith("front")}
    assert set(fronts) == {"front (mean)", "front (worst case)"}
    assert sorted(map(tuple, fronts["front (mean)"])) == sorted(
        zip(e[front_mask(e, mean)], mean[front_mask(e, mean)]))
    assert ax.get_xlabel() == "energy per inference [pJ]"


def test_pareto_refuses_a_sweep_of_conditions_only(tmp_path):
    ds = result({"cell.mismatch_sigma": [0.0, 0.1], "bitline.read_noise_sigma": [0.0, 0.2]})
    with pytest.raises(plot.PlotDoesNotFit, match="no design choice"):
        plot.plot(ds, "pareto", tmp_path / "p.png")
    assert not list(tmp_path.iterdir())


def test_parameter_roles_name_real_parameter_paths():
    from device_models import SCHEMA
    from imcsim.report.labels import CONDITIONS, parameter_role

    assert set(CONDITIONS) <= set(SCHEMA)
    assert parameter_role("cell.mismatch_sigma") != "design"
    assert parameter_role("adc.bits") == parameter_role("network") == "design"


def test_axis_labels_carry_names_and_units_and_titles_name_network_and_card():
    ds = result({"adc.bits": [2, 3, 4], "bitline.read_noise_sigma": [0.0, 0.2]})
    ds.attrs.update(network="tnn_mlp_digits", hardware_name="tim_dnn_32nm",
                    exact_accuracy=json.dumps({"tnn_mlp_digits": 0.9944}))
    fig = _figure()
    plot._DRAW["accuracy_heatmap"](ds, fig, {})
    ax = fig.axes[0]
    assert ax.get_ylabel() == "ADC resolution [bit]"
    assert ax.get_xlabel() == "read noise sigma [cell swing]"
    assert "tnn_mlp_digits on tim_dnn_32nm" in ax.get_title()
    fig = _figure()
    plot._DRAW["accuracy_vs_param"](ds, fig, {})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "ADC resolution [bit]"      # the design knob on x
    ref = [l for l in ax.lines if l.get_label().startswith("exact (digital)")]
    assert len(ref) == 1 and ref[0].get_ydata()[0] == pytest.approx(0.9944)


def test_categorical_axes_are_categories_naming_every_zip_member():
    ds = result({"design": [0, 1, 2]})
    ds = ds.assign_coords(network=("design", ["bnn_mlp_digits", "tbn_mlp_digits", "tnn_mlp_digits"]),
                          hardware=("design", ["xnor_sram_65nm", "tim_dnn_32nm", "tim_dnn_32nm"]))
    ds["design"].attrs["parameter"] = "network, hardware"
    fig = _figure()
    plot._DRAW["accuracy_vs_param"](ds, fig, {})
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["bnn_mlp_digits\nxnor_sram_65nm", "tbn_mlp_digits\ntim_dnn_32nm",
                     "tnn_mlp_digits\ntim_dnn_32nm"]
    np.testing.assert_allclose(ax.get_xticks(), [0, 1, 2])
    data = [l for l in ax.lines if not l.get_label().startswith("exact")]
    assert all(l.get_linestyle() == "None" for l in data)  # categories are not joined
    assert ax.get_xlabel() == "network / hardware card"


def test_heatmap_colour_range_is_shown_or_fixed():
    ds = result({"adc.bits": [2, 3, 4], "cell.mismatch_sigma": [0.0, 0.1]})
    fig = _figure()
    plot._DRAW["accuracy_heatmap"](ds, fig, {})
    mean = ds["accuracy"].mean("trial").values
    assert f"colour range {mean.min():.4g}-{mean.max():.4g}" in fig.axes[0].get_title()
    fig = _figure()
    plot._DRAW["accuracy_heatmap"](ds, fig, {"vmin": 0.5, "vmax": 1.0})
    assert fig.axes[0].images[0].get_clim() == (0.5, 1.0)
    assert "colour range 0.5-1 (fixed)" in fig.axes[0].get_title()


def test_energy_breakdown_states_its_point_and_names_digital_components():
    ds = result({"adc.bits": [2, 3, 4]})
    ds["accuracy"][:] = 0.5
    ds["accuracy"][1] = 0.9
    fig = _figure()
    plot._DRAW["energy_breakdown"](ds, fig, {})
    ax1, ax2 = fig.axes[:2]
    assert "adc.bits=3" in ax1.get_title() and "most accurate" in ax1.get_title()
    assert ax2.get_ylabel().startswith("energy per inference [")
    ds.attrs["architecture"] = "digital"
    fig = _figure()
    plot._DRAW["energy_breakdown"](ds, fig, {"log": True})
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "SRAM weight reads" in names and fig.axes[0].get_yscale() == "log"


@pytest.mark.parametrize("suffix,magic", [("pdf", b"%PDF"), ("svg", b"<?xml"), ("png", PNG_MAGIC)])
def test_the_suffix_decides_the_format(tmp_path, suffix, magic):
    ds = result({"adc.bits": [2, 3, 4]})
    out = plot.plot(ds, "accuracy_vs_param", tmp_path / f"fig.{suffix}")
    assert out.name == f"fig.{suffix}" and out.read_bytes()[:len(magic)] == magic
    with pytest.raises(PlotError, match="unknown figure format .jpeg"):
        plot.plot(ds, "accuracy_vs_param", tmp_path / "fig.jpeg")


def test_text_survives_a_single_column_figure():
    ds = result({"adc.bits": [2, 3, 4], "cell.mismatch_sigma": [0.0, 0.1]})
    fig = plot.render(ds, "accuracy_heatmap")
    try:
        assert fig.get_size_inches()[0] == pytest.approx(plot.COLUMN_IN)
        sizes = [t.get_fontsize() for t in fig.findobj(lambda o: hasattr(o, "get_fontsize"))
                 if getattr(t, "get_text", lambda: "")()]
        assert min(sizes) >= 6.5
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)


def test_cost_kinds_label_units_and_show_the_pipeline_interval():
    ds = result({"tile.rows_per_access": [8, 16, 32]})
    fig = _figure()
    plot._DRAW["latency_vs_param"](ds, fig, {})
    ax = fig.axes[0]
    assert ax.get_ylabel() == "latency per inference [ns]"
    assert ax.get_xlabel() == "rows per access L"
    assert [l.get_label() for l in ax.lines] == ["end to end", "pipeline interval"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), ds["latency_end_to_end"].values)


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
    """A result of imcsim.simulate / report.stack (no study attrs) has area_component,
    which is not a swept parameter."""
    from imcsim.report import stack, sweep_dims

    pts = simulated_points
    assert sweep_dims(pts[0][1]) == []
    stacked = stack(pts, {"adc.bits": [3, 4], "cell.mismatch_sigma": [0.0, 0.1]})
    assert sweep_dims(stacked) == ["adc.bits", "cell.mismatch_sigma"]
    del stacked.attrs["sweep_dims"]  # the rule without the attribute
    assert sweep_dims(stacked) == ["adc.bits", "cell.mismatch_sigma"]
    assert is_png(plot.plot(stacked, kind, tmp_path / f"{kind}.png"))
    if kind == "pareto":  # one point: no design choice, no front
        with pytest.raises(plot.PlotDoesNotFit):
            plot.plot(pts[0][1], kind, tmp_path / "one.png")

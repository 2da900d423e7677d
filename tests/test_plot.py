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


def test_pareto_mask():
    e = [1.0, 2.0, 3.0, 2.5]
    a = [0.5, 0.8, 0.9, 0.7]
    assert list(plot.pareto_mask(e, a)) == [True, True, True, False]


def test_networks_with_different_layers(tmp_path):
    """A study sweeping networks stacks the union of their layers (NaN where absent)."""
    ds = result({"network": ["mlp", "cnn"]})
    ds["energy"][0, 2, :] = np.nan   # the MLP has no third layer
    ds["energy"][1, 0, :] = np.nan
    for kind in ("pareto", "energy_breakdown", "accuracy_vs_param"):
        assert is_png(plot.plot(ds, kind, tmp_path / f"{kind}.png"))
    assert is_png(plot.plot(ds, "energy_breakdown", tmp_path / "e.png", select={"network": "cnn"}))

"""The result dataset: schema, stacking, netCDF round trip, Pareto front (imcsim.report)."""
import os

import numpy as np
import pytest
import xarray as xr

import device_models as dm
from imcsim import costs as energy
from imcsim import report

TIM = dm.load_card("tim_dnn_32nm")

REQUIRED = {   # variable -> its own dims (sweep dims come first)
    "accuracy": ("trial",),
    "energy": ("layer", "component"),
    "latency": ("layer",),
    "macs": ("layer",),
    "accesses": ("layer",),
    "adc_conversions": ("layer",),
    "mac_error_rms": ("trial", "layer"),
    "tops": (),
    "tops_per_watt": (),
    "tops_per_mm2": (),
    "area": ("area_component",),
}
UNITS = {"accuracy": "1", "energy": "pJ", "latency": "ns", "macs": "count", "accesses": "count",
         "adc_conversions": "count", "mac_error_rms": "1", "tops": "TOPS",
         "tops_per_watt": "TOPS/W", "tops_per_mm2": "TOPS/mm2", "area": "mm2"}


def _layers(card, scale=1.0):
    l1 = energy.estimate_events(card, K=300, N=100, vectors=4 * scale)
    l2 = energy.estimate_events(card, K=100, N=10, vectors=1)
    return [("conv1",) + l1, ("fc",) + l2]


def _point(card, acc=(0.9, 0.8, 0.85), **attrs):
    err = np.full((len(acc), 2), 0.01)
    return report.point_dataset(card, _layers(card), acc, err, attrs={"seed": 0, **attrs})


def _check_schema(ds, sweep=()):
    for name, dims in REQUIRED.items():
        assert name in ds.data_vars, name
        assert ds[name].dims == tuple(sweep) + dims, (name, ds[name].dims)
        assert ds[name].attrs["units"] == UNITS[name]
    for name in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert list(ds["component"].values) == list(energy.COMPONENTS)
    assert list(ds["area_component"].values) == list(energy.AREA_COMPONENTS)
    for key in ("hardware", "seed", "imcsim_version"):
        assert key in ds.attrs
    for d in sweep:
        assert ds[d].attrs["parameter"] == d


def test_point_dataset_schema_and_values():
    ds = _point(TIM)
    _check_schema(ds)
    assert list(ds.layer.values) == ["conv1", "fc"]
    assert ds.sizes["trial"] == 3
    assert float(ds.energy_total) == pytest.approx(float(ds.energy.sum()))
    assert float(ds.area_total) == pytest.approx(energy.chip_area_mm2(TIM))
    assert float(ds.tops_per_watt) == pytest.approx(2 * float(ds.macs.sum()) / float(ds.energy_total))
    assert dm.load_card(TIM.path) == TIM   # the dumped card is the card
    assert "tim_dnn_32nm" in ds.attrs["hardware"]


def _stacked():
    pts = []
    sweep = {"adc.bits": [3, 4], "adc.range": ["full", "clip"], "cell.mismatch_sigma": [0.0, 0.1]}
    for b in sweep["adc.bits"]:
        for r in sweep["adc.range"]:
            for s in sweep["cell.mismatch_sigma"]:
                card = TIM.replace(**{"adc.bits": b, "adc.range": r, "cell.mismatch_sigma": s,
                                      "adc.energy_model": "walden", "adc.enob": None})
                acc = (0.5 + b / 10 - s, 0.5 + b / 10 - s)
                pts.append(({"adc.bits": b, "adc.range": r, "cell.mismatch_sigma": s},
                            _point(card, acc)))
    return report.stack(pts[::-1], sweep, attrs={"study": "study: x\n", "seed": 7}), sweep


def test_stack_schema_and_coordinates():
    ds, sweep = _stacked()
    _check_schema(ds, tuple(sweep))
    assert list(ds["adc.bits"].values) == [3, 4]
    assert list(ds["adc.range"].values) == ["full", "clip"]
    assert ds["adc.bits"].attrs["units"] == "bit"
    assert ds.attrs["study"] == "study: x\n" and ds.attrs["seed"] == 7
    # each point landed at its own coordinates
    a = ds.accuracy.sel({"adc.bits": 4, "adc.range": "clip", "cell.mismatch_sigma": 0.1})
    np.testing.assert_allclose(a.values, 0.5 + 0.4 - 0.1)
    # walden ADC energy grows with bits
    e = ds.energy.sel(component="adc").sum("layer")
    assert (e.sel({"adc.bits": 4}) > e.sel({"adc.bits": 3})).all()


def test_stack_refuses_a_missing_point():
    pts = [({"adc.bits": 3}, _point(TIM))]
    with pytest.raises(ValueError, match="adc.bits"):
        report.stack(pts, {"adc.bits": [3, 4]})


def test_netcdf_round_trip_is_unchanged(tmp_path):
    ds, _ = _stacked()
    path = tmp_path / "sub" / "result.nc"
    report.write_netcdf(ds, path)
    assert os.listdir(path.parent) == ["result.nc"]   # no temp file left behind
    with xr.open_dataset(path) as back:                # nothing but xarray
        back = back.load()
    xr.testing.assert_identical(ds, back)
    assert back.attrs["hardware"] == ds.attrs["hardware"]
    # a single point, with string and bool attrs, round-trips too; overwriting is atomic
    p = _point(TIM, flag=True, note=None)
    report.write_netcdf(p, path)
    back = report.read_netcdf(path)
    assert back.attrs["flag"] == 1 and back.attrs["note"] == ""
    xr.testing.assert_equal(p, back)


def _synthetic(energies, accuracies):
    e = np.asarray(energies, float)
    a = np.asarray(accuracies, float)
    return xr.Dataset(
        {"energy_total": (("adc.bits",), e),
         "accuracy": (("adc.bits", "trial"), np.stack([a, a], axis=1))},
        coords={"adc.bits": np.arange(1, e.size + 1), "trial": [0, 1]})


def test_pareto_front_keeps_the_non_dominated_points():
    #            bits:  1     2     3     4     5     6
    ds = _synthetic([10, 12, 11, 20, 30, 25], [0.5, 0.7, 0.6, 0.69, 0.9, 0.9])
    front = report.pareto_front(ds)
    assert list(front["adc.bits"].values) == [1, 3, 2, 6]
    assert list(front.energy.values) == [10, 11, 12, 25]
    np.testing.assert_allclose(front.accuracy.values, [0.5, 0.6, 0.7, 0.9])
    mask = report.pareto_mask(ds)
    assert list(mask.values) == [True, True, True, False, False, True]


def test_pareto_front_is_over_design_points_with_accuracy_over_the_conditions():
    ds, sweep = _stacked()
    assert report.design_dims(ds) == ["adc.bits", "adc.range"]
    assert report.condition_dims(ds) == ["cell.mismatch_sigma"]
    e = ds.energy_total.mean("cell.mismatch_sigma").values.reshape(-1)
    per_cond = ds.accuracy.mean("trial")
    for how, a in (("mean", per_cond.mean("cell.mismatch_sigma")),
                   ("worst", per_cond.min("cell.mismatch_sigma"))):
        a = a.values.reshape(-1)
        front = report.pareto_front(ds, accuracy=how)
        assert front.sizes["point"] >= 1 and "cell.mismatch_sigma" not in front
        for fe, fa in zip(front.energy.values, front.accuracy.values):
            assert np.isclose(a[np.isclose(e, fe)], fa).any()
            assert not np.any((e <= fe) & (a >= fa) & ((e < fe) | (a > fa)))
        for d in ("adc.bits", "adc.range"):
            assert d in front


def test_dataset_records_the_package_version():
    import imcsim
    assert isinstance(imcsim.__version__, str) and imcsim.__version__
    assert report.dataset.__version__ == imcsim.__version__

"""A study of workload-only networks is cost only: estimates from layer shapes, no accuracy."""
import numpy as np

import imcsim
from imcsim.study import validate_study


def test_workload_only_networks_run_as_cost_only(tmp_path):
    ds = imcsim.run_study({"study": "cost", "network": "lenet5",
                           "dataset": {"name": "digits", "limit": 4},
                           "hardware": "tim_dnn_32nm",
                           "sweep": {"hardware": ["tim_dnn_32nm", "digital_nmc_32nm"]},
                           "outputs": {"dir": str(tmp_path), "plots": []}},
                          progress=False)
    assert np.isnan(ds["accuracy"].values).all()
    e = ds["energy_total"].values
    assert np.all(np.isfinite(e) & (e > 0)) and e[0] != e[1]
    assert "ESTIMATE" in ds.attrs["estimate"]
    assert "no weights" in ds.attrs["network_weights_sha256"]
    assert "exact_accuracy" not in ds.attrs


def test_the_shipped_tim_vs_digital_study_validates():
    s = validate_study("tim_vs_digital", check_output_dir=False)
    assert s.n_points == 8

"""End-to-end latency beside the pipeline interval, and the summary table's spread rule."""
import numpy as np

import device_models as dm
from imcsim import costs as energy
from imcsim import report

TIM = dm.load_card("tim_dnn_32nm")


def _point(card, acc):
    l1 = energy.estimate_events(card, K=300, N=100, vectors=4)
    l2 = energy.estimate_events(card, K=100, N=10, vectors=1)
    return report.point_dataset(card, [("conv1",) + l1, ("fc",) + l2], acc)


def test_end_to_end_latency_and_pipeline_interval():
    piped = _point(TIM.replace(**{"chip.pipeline": True}), [0.9])
    seq = _point(TIM.replace(**{"chip.pipeline": False}), [0.9])
    lat = piped["latency"].values
    assert float(piped["latency_total"]) == lat.max()            # the interval
    assert float(piped["latency_end_to_end"]) == lat.sum()       # one inference through all
    assert float(seq["latency_end_to_end"]) == float(seq["latency_total"]) == seq["latency"].sum()
    for name in ("latency_total", "latency_end_to_end"):
        assert piped[name].attrs["units"] == "ns"
    assert "pipeline interval" in piped["latency_total"].attrs["long_name"]
    table = report.summary_table(piped)
    assert "latency/inf" in table and "interval/inf" in table
    assert "interval/inf" not in report.summary_table(seq)


def test_spread_only_when_there_is_more_than_one_trial():
    one = report.summary_table(_point(TIM, [0.9944]))
    assert "0.9944" in one and "+-" not in one
    three = report.summary_table(_point(TIM, [0.99, 0.98, 0.97]))
    assert "0.9800 +- 0.0100" in three and "3 trials" in three
    assert report.summary.accuracy_text([np.nan]) == "-"

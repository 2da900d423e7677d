"""Shared test data: the tiny study the CLI, report and study tests run (real simulation on
a few digits images), built from one base document."""
from __future__ import annotations

import copy

#: the base tiny study: the zoo's ternary MLP on a few digits test images, 2 x 2 points
TINY_STUDY = {
    "study": "tiny",
    "network": "tnn_mlp_digits",
    "dataset": {"name": "digits", "split": "test", "limit": 24},
    "hardware": "tim_dnn_32nm",
    "sweep": {"adc.bits": [3, 4], "cell.mismatch_sigma": [0.0, 0.1]},
    "trials": 2,
    "seed": 11,
    "outputs": {"dir": "out", "plots": []},
}


def tiny_study(**overrides) -> dict:
    """A deep copy of :data:`TINY_STUDY` with top-level keys replaced by ``overrides``."""
    doc = copy.deepcopy(TINY_STUDY)
    doc.update(copy.deepcopy(overrides))
    return doc

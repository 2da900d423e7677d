"""Studies: a YAML file in, every point of a sweep simulated for every Monte Carlo trial,
one labelled xarray dataset out.

A study file (see docs/studies.md for the full format)::

    study: adc_vs_mismatch
    network: tnn_mlp_digits            # zoo name, or a path (relative to the study file)
    dataset: {name: digits, split: test, limit: 500}
    hardware: tim_dnn_32nm             # card name, or a path (relative to the study file)
    set: {tile.rows_per_access: 16}    # fixed overrides by parameter path
    sweep:                             # grid: each key is one dimension of the result
      adc.bits: [2, 3, 4]
      cell.mismatch_sigma: [0.0, 0.05]
      zip:                             # groups of parameters that move together
        - {adc.bits: [3, 4], adc.clip_count: [8, 16]}     # one dimension, 2 values
    trials: 4
    seed: 0
    outputs: {dir: results, plots: [pareto, energy_breakdown]}

Seeding: point ``i`` (flat C-order index over the sweep grid) simulates with
``numpy.random.SeedSequence(seed, spawn_key=(i,))`` (the i-th child of the study seed);
``simulate`` spawns one child per trial from it.  Nothing depends on where the point
runs, so in-process, ``--workers N`` and ``--scheduler ADDRESS`` give identical numbers.

Nothing is lost: every finished point is written at once (temporary file, then
``os.replace``) as ``<outputs.dir>/<study>.points/point-NNNNN.nc``.  ``resume=True``
computes only the points missing there (after checking they belong to the same study),
then assembles ``<outputs.dir>/<study>.nc``.
"""
from __future__ import annotations

from imcsim.errors import StudyError
from imcsim.report.summary import summary_table

from .resolve import list_studies, resolve_study_path, studies_dir
from .runner import assemble, compute_point, point_seed, run_study
from .schema import PLOT_KINDS, Dimension, Point, Study, load_study
from .validate import validate_study

__all__ = [
    "StudyError",
    "Study",
    "Dimension",
    "Point",
    "PLOT_KINDS",
    "load_study",
    "validate_study",
    "run_study",
    "resolve_study_path",
    "list_studies",
    "summary_table",
]

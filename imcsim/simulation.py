"""``imcsim.simulate`` (module ``imcsim.simulation``): accuracy and cost of a network on a card, from the same runs.

For each Monte Carlo trial a fresh chip instance (static mismatch, faults, ADC offsets) is
drawn, ``backend = ImcBackend(card, seed=child)`` with the children of
``numpy.random.SeedSequence(seed).spawn(trials)``, and the whole input set is predicted
through it. Accuracy and the MAC error come from each trial; the event counts (hence
energy, latency, throughput) are the mean over the trials of the counts per inference (they
differ between trials only through stuck cells, which change how many cells discharge).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["simulate"]


def _seed_children(seed, trials: int) -> list[np.random.SeedSequence]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.spawn(trials)


def _seed_attr(seed) -> Any:
    if isinstance(seed, np.random.SeedSequence):
        return f"SeedSequence(entropy={seed.entropy}, spawn_key={tuple(seed.spawn_key)})"
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    return str(seed)


def _chunks(n: int, batch: int | None):
    if not batch or batch >= n:
        yield slice(0, n)
        return
    for s in range(0, n, batch):
        yield slice(s, min(n, s + batch))


def _rms(sums) -> float:
    e2, r2 = (float(v) for v in sums)
    if r2 > 0:
        return math.sqrt(e2 / r2)
    return 0.0 if e2 == 0 else float("inf")


def simulate(network, hardware, x, y=None, trials: int = 1, seed=0, batch: int | None = None,
             *, study: str | None = None, attrs: dict | None = None):
    """Run ``network`` on ``hardware`` for ``trials`` chip instances; return the dataset.

    Parameters
    ----------
    network : a ``networks.Network`` (``networks.zoo.load(name)``, ``networks.load_network(path)``)
    hardware : a ``device_models`` Card, a shipped card name or a path to a card file
    x : inputs, one inference per row (``len(x)`` inferences)
    y : labels (``len(x)``) or None (accuracy is NaN)
    trials : Monte Carlo chip instances
    seed : int or ``numpy.random.SeedSequence``; trial ``t`` uses child ``t`` of
        ``SeedSequence(seed).spawn(trials)``
    batch : inferences per ``predict`` call (memory bound, and the batch over which a
        weight reload is amortized and throughput is reported); None: all of ``x`` at once
    study : study text stored in the attrs (the study runner passes it)
    attrs : more dataset attributes

    Returns
    -------
    xarray.Dataset with dims ``trial``, ``layer``, ``component``, ``area_component`` (see
    :mod:`imcsim.results.dataset`): accuracy and ``mac_error_rms`` per trial, energy per layer and
    component [pJ per inference], latency [ns per inference], throughput, TOPS, TOPS/W,
    TOPS/mm2, area. Energy and latency come from the mean event counts over the trials.
    """
    import device_models as dm
    from imcsim import costs as energy
    from imcsim import results as report
    from imcsim.engine.backend import ImcBackend

    card = dm.load_card(hardware)
    net = report.require_network(network)
    trials = int(trials)
    if trials < 1:
        from imcsim.errors import InputError
        raise InputError(f"trials: expected an integer >= 1, got {trials}")
    n = len(x)
    if n == 0:
        from imcsim.errors import InputError
        raise InputError("x: no inputs to simulate")
    yv = None if y is None else np.asarray(y).reshape(-1)
    acc = np.full(trials, np.nan)
    names: list[str] = []
    ev_sum: dict[str, dict[str, float]] = {}
    err_rows = []
    scale_rows = []
    mappings = {}
    for t, child in enumerate(_seed_children(seed, trials)):
        backend = ImcBackend(card, seed=child)
        preds = [np.asarray(net.predict(x[sl], backend)).reshape(-1) for sl in _chunks(n, batch)]
        pred = np.concatenate(preds) if len(preds) > 1 else preds[0]
        if yv is not None:
            acc[t] = float(np.mean(pred == yv))
        if t == 0:
            names = list(backend.events)
            mappings = dict(backend.mappings)
            if not names:
                from imcsim.errors import InputError
                raise InputError(
                    f"network {getattr(net, 'name', type(net).__name__)!r}: no layer called backend.matmul (a "
                    f"full-precision network?); nothing ran on the hardware")
        for name in names:
            d = backend.events[name].scaled(1.0 / n).as_dict()
            acc_d = ev_sum.setdefault(name, {k: 0.0 for k in d})
            for k, v in d.items():
                acc_d[k] += v
        err_rows.append([_rms(backend.error_sums.get(name, (0.0, 0.0))) for name in names])
        scale_rows.append([float(backend.mappings[name].adc_max_count) for name in names])
    ev_mean = {name: {k: v / trials for k, v in d.items()} for name, d in ev_sum.items()}
    tp_batch = int(batch) if batch else n
    # a network that does not fit the chip reloads every round's weights once per batch
    maps = [mappings[nm] for nm in names]
    for nm, writes in zip(names, energy.reload_writes_by_layer(card, maps, tp_batch)):
        ev_mean[nm]["weight_writes"] = max(ev_mean[nm]["weight_writes"], writes)
    layers = [(nm, ev_mean[nm], mappings[nm]) for nm in names]
    base_attrs = {
        "network": str(getattr(net, "name", type(net).__name__)),
        "inferences": n,
        "trials": trials,
        "seed": _seed_attr(seed),
        "energy_basis": "energy, latency and counts from the mean event counts per inference over the trials",
        "latency_basis": ("latency: one inference (batch 1) per layer; latency_total: sum over layers "
                          "(in sequence) or slowest layer (chip.pipeline); throughput and tops for "
                          f"a batch of {tp_batch} inferences"),
    }
    if study:
        base_attrs["study"] = study
    base_attrs.update(attrs or {})
    return report.point_dataset(card, layers, acc, np.asarray(err_rows, float), batch=tp_batch,
                                attrs=base_attrs, adc_full_scale=np.asarray(scale_rows, float))

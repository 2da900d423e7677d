"""``imcsim.simulate`` (module ``imcsim.simulation``): accuracy and cost of a network on a card, from the same runs.

For each Monte Carlo trial a fresh chip instance (static mismatch, faults, ADC offsets) is
drawn, ``backend = ImcBackend(card, seed=child)`` with the children of
``numpy.random.SeedSequence(seed).spawn(trials)``, and the whole input set is predicted
through it, streamed in batches of inferences so that memory does not grow with the
number of inputs (``batch``; by default sized by :func:`auto_batch`). The engine's noise
stream is indexed by the position of each vector in a layer's input stream, so the batch
size changes no prediction, event count or energy. Accuracy and the MAC error come from
each trial; the event counts (hence energy, latency, throughput) are the mean over the
trials of the counts per inference (they differ between trials only through stuck cells,
which change how many cells discharge).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["simulate", "auto_batch"]

#: working memory [byte] one streamed batch may take when ``simulate``'s batch is None
#: (see :func:`auto_batch`); the chip's tables and the inputs themselves come on top
AUTO_BATCH_BYTES = 128 << 20
#: vectors of a layer's first call that the engine reads to calibrate the ADC range
#: (``adc.range: calibrated``, :meth:`imcsim.engine.ImcBackend._calibrate`); on such a card
#: an automatic batch holds at least that many vectors of every layer, so streaming
#: changes no result
CALIBRATION_VECTORS = 1024
#: bytes per (vector, K) element and per (vector, N) element that one layer's call keeps
#: alive: im2col rows in float64 plus the integer codes; outputs, accumulators and the
#: exact product of error tracking in float64 (an estimate, checked by the memory test)
_BYTES_PER_K, _BYTES_PER_N = 16, 32
#: batch when the network does not describe its layers (no ``quantized_layers``)
_FALLBACK_BATCH = 256


def _seed_children(seed, trials: int) -> list[np.random.SeedSequence]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.spawn(trials)


def _seed_attr(seed) -> Any:
    if isinstance(seed, np.random.SeedSequence):
        return f"SeedSequence(entropy={seed.entropy}, spawn_key={tuple(seed.spawn_key)})"
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    return str(seed)


def auto_batch(network, n: int, calibrated: bool = False) -> int:
    """Inferences per streamed batch when ``simulate(batch=None)``: as many as fit in
    :data:`AUTO_BATCH_BYTES` by the largest layer's working memory (``vectors x (16 K + 32 N)``
    bytes per inference), at least 1 and at most ``n``. With ``calibrated`` (the card's
    ``adc.range: calibrated``) at least enough that every layer's first call holds
    :data:`CALIBRATION_VECTORS` vectors, the engine's calibration sample.

    For the CIFAR-10 VGG-small network W2 of ``imcsim bench`` (largest: conv 1024 positions
    x K 1152 x N 128, 23 MB per image; fewest positions: 64): 128 MiB / 23 MB = 5 images,
    calibrated max(16, 5) = 16; for a dense MLP: 128 MiB / a few kB, calibrated >= 1024."""
    layers = getattr(network, "quantized_layers", None)
    layers = list(layers()) if callable(layers) else []
    dims = [(int(l.vectors), int(l.K), int(l.N)) for l in layers
            if getattr(l, "vectors", None) and getattr(l, "K", None) and getattr(l, "N", None)]
    if not dims:
        return max(1, min(n, _FALLBACK_BATCH))
    per_inf = max(v * (_BYTES_PER_K * k + _BYTES_PER_N * nn) for v, k, nn in dims)
    calib = max(math.ceil(CALIBRATION_VECTORS / v) for v, _, _ in dims) if calibrated else 1
    return max(1, min(n, max(calib, AUTO_BATCH_BYTES // per_inf)))


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
    batch : inferences per ``predict`` call. None (default): streamed in batches of
        :func:`auto_batch` inferences (memory flat in ``len(x)``), and throughput and weight
        reloads are reported for all of ``x`` as one batch, as when it ran at once. An
        integer: streamed in batches of that many, which is also the batch over which a
        weight reload is amortized and throughput is reported. The predictions, event
        counts, energy and accuracy do not depend on the streaming; ``mac_error_rms`` sums
        per batch, so it can differ in the last bits (relative 1e-15).
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
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1):
        from imcsim.errors import InputError
        raise InputError(f"batch: expected an integer >= 1 or None, got {batch!r}")
    stream = int(batch) if batch is not None else auto_batch(net, n, card["adc.range"] == "calibrated")
    yv = None if y is None else np.asarray(y).reshape(-1)
    acc = np.full(trials, np.nan)
    names: list[str] = []
    ev_sum: dict[str, dict[str, float]] = {}
    err_rows = []
    scale_rows = []
    mappings = {}
    for t, child in enumerate(_seed_children(seed, trials)):
        backend = ImcBackend(card, seed=child)
        preds = [np.asarray(net.predict(x[sl], backend)).reshape(-1) for sl in _chunks(n, stream)]
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

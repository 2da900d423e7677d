"""``imcsim.simulate`` (module ``imcsim.simulation``): accuracy and cost of a network on a card, from the same runs.

For each Monte Carlo trial a fresh chip instance (static mismatch, faults, ADC offsets) is
drawn, ``backend = ImcBackend(card, seed=child)`` with the children of
``numpy.random.SeedSequence(seed).spawn(trials)``, and the whole input set is predicted
through it, streamed in batches of inferences so that memory does not grow with the
number of inputs (``batch``; by default sized by :func:`auto_batch`). The engine's noise
stream is indexed by the position of each vector in a layer's input stream and the ADC
calibration uses its own sample, so the batch size changes no prediction, event count or
energy. Accuracy and the MAC error come from each trial; the event counts (hence energy,
latency, throughput) are the mean over the trials of the counts per inference (they
differ between trials only through stuck cells, which change how many cells discharge).

ADC range: calibration and the collapse check
--------------------------------------------
``adc.range: calibrated`` models a programmable per-layer ADC reference: before the
evaluation, :func:`calibrate_full_scales` runs the network exactly on a *calibration
sample* (``calibration``: an array of inputs, or a study ``dataset`` spec whose training
split is used; by default the network's own data set's training split; never the
evaluation inputs ``x``) of :data:`CALIBRATION_SIZE` inputs, and each layer's full scale
is the count that minimizes the squared conversion error (rounding and clipping) of the
card's ADC over the counts one access produces on that sample (per rail for dual sensing,
``BL - BLB`` for differential), with ideal devices.  The backend receives them through
its ``full_scales`` hook; the result's attributes record the sample.

Every run also checks, per layer, that the ADC range and the counts the layer reaches agree
(:func:`adc_range_check`, on the first :data:`RANGE_CHECK_SAMPLE` inputs, ideal devices):
it warns (:class:`AdcRangeWarning`) when the 99th percentile of the per-access count falls
inside :data:`COLLAPSE_CODES` ADC codes, or when more than :data:`CLIP_SHARE` of the
conversions clip, naming the layer, both ranges and the fix.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["simulate", "auto_batch", "calibrate_full_scales", "adc_range_check", "AdcRangeWarning",
           "CALIBRATION_SIZE", "RANGE_CHECK_SAMPLE", "COLLAPSE_CODES", "CLIP_SHARE", "AUTO_BATCH_BYTES",
           "MAX_TRIALS"]

#: working memory [byte] one streamed batch may take when ``simulate``'s batch is None
#: (see :func:`auto_batch`); the chip's tables and the inputs themselves come on top
AUTO_BATCH_BYTES = 128 << 20
#: bytes per (vector, K) element and per (vector, N) element that one layer's call keeps
#: alive: im2col rows in float64 plus the integer codes; outputs, accumulators and the
#: exact product of error tracking in float64 (an estimate, checked by the memory test)
_BYTES_PER_K, _BYTES_PER_N = 16, 32
#: batch when the network does not describe its layers (no ``quantized_layers``)
_FALLBACK_BATCH = 256

#: Most Monte Carlo trials of one ``simulate`` call (and of a study point).
MAX_TRIALS = 10_000

#: inputs (images) of the calibration sample of ``adc.range: calibrated`` (from the training split)
CALIBRATION_SIZE = 1024
#: inputs the ADC range check looks at (the first ones of the evaluation set)
RANGE_CHECK_SAMPLE = 128
#: warn when the 99th percentile of a layer's per-access count falls inside this many ADC codes
COLLAPSE_CODES = 2
#: warn when more than this share of a layer's conversions clip at the ADC's range
CLIP_SHARE = 0.20


class AdcRangeWarning(UserWarning):
    """The ADC range of a card and the counts a layer reaches disagree badly."""


def _seed_children(seed, trials: int) -> list[np.random.SeedSequence]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.spawn(trials)


def _seed_attr(seed) -> Any:
    if isinstance(seed, np.random.SeedSequence):
        return f"SeedSequence(entropy={seed.entropy}, spawn_key={tuple(seed.spawn_key)})"
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    return str(seed)


def auto_batch(network, n: int) -> int:
    """Inferences per streamed batch when ``simulate(batch=None)``: as many as fit in
    :data:`AUTO_BATCH_BYTES` by the largest layer's working memory (``vectors x (16 K + 32 N)``
    bytes per inference), at least 1 and at most ``n``.

    For the CIFAR-10 VGG-small network W2 of ``imcsim bench`` (largest: conv 1024 positions
    x K 1152 x N 128, 23 MB per image): 128 MiB / 23 MB = 5 images; for a dense MLP
    (a few kB per inference) the whole data set of up to tens of thousands of inputs."""
    layers = getattr(network, "quantized_layers", None)
    layers = list(layers()) if callable(layers) else []
    dims = [(int(l.vectors), int(l.K), int(l.N)) for l in layers
            if getattr(l, "vectors", None) and getattr(l, "K", None) and getattr(l, "N", None)]
    if not dims:
        return max(1, min(n, _FALLBACK_BATCH))
    per_inf = max(v * (_BYTES_PER_K * k + _BYTES_PER_N * nn) for v, k, nn in dims)
    return max(1, min(n, AUTO_BATCH_BYTES // per_inf))


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


# --------------------------------------------------------------------------- count statistics
def _require_network(network):
    from imcsim import report
    return report.require_network(network)


class _Recorder:
    """An exact backend that keeps the integer operands of every layer's calls."""

    def __init__(self):
        from networks import ExactBackend
        self._exact = ExactBackend(check=False)
        self.calls: dict = {}

    def matmul(self, x, w, encoding="ternary", layer="layer", asym=None):
        self.calls.setdefault(layer, []).append((np.asarray(x), np.asarray(w), encoding, asym))
        return self._exact.matmul(x, w, encoding=encoding, layer=layer, asym=asym)


def _layer_operands(net, x):
    rec = _Recorder()
    net.predict(x, rec)
    return rec.calls


def _count_histogram(tile, x, w, encoding, asym, chunk_bytes=16 << 20):
    """Histogram of the ideal per-access counts of ``x @ w`` on ``tile``: dual sensing, each
    rail's count (0..L); differential, BL - BLB (-L..L).  Returns (counts, histogram)."""
    from imcsim.engine import map_layer, parse_encoding, weight_slices

    enc = parse_encoding(encoding, asym)
    w_cols, place = weight_slices(np.asarray(w), tile.cell_kind)
    K, N = w.shape
    m = map_layer(K, N, place.size, tile, enc.planes)
    L = int(tile.rows_per_access)
    hist = np.zeros(2 * L + 1, dtype=np.int64)
    wp = (w_cols == 1).astype(np.float32)
    wn = (w_cols == -1).astype(np.float32)
    step = max(1, int(chunk_bytes // max(1, 4 * enc.planes * (K + w_cols.shape[1]))))
    diff = tile.sensing == "differential"
    for c0 in range(0, x.shape[0], step):
        planes = enc.planes_of(x[c0:c0 + step])
        P, B, _ = planes.shape
        a_pos = (planes == 1).reshape(P * B, K).astype(np.float32)
        a_neg = (planes == -1).reshape(P * B, K).astype(np.float32)
        for s, e, _ in m.groups:
            bl = a_pos[:, s:e] @ wp[s:e] + a_neg[:, s:e] @ wn[s:e]
            blb = a_pos[:, s:e] @ wn[s:e] + a_neg[:, s:e] @ wp[s:e]
            vals = (bl - blb).ravel() if diff else np.concatenate([bl.ravel(), blb.ravel()])
            hist += np.bincount(np.rint(vals).astype(np.int64) + L, minlength=2 * L + 1)
    return np.arange(-L, L + 1), hist


def _histograms(net, card, x):
    """``{layer: (counts, histogram)}`` over all calls of each layer on inputs ``x``,
    recorded in batches of :func:`auto_batch` inputs (the layers' operands of one batch at a
    time: memory does not grow with ``len(x)``)."""
    from imcsim.engine import Tile

    tile = Tile.from_card(card)
    out = {}
    for sl in _chunks(len(x), auto_batch(net, len(x))):
        for name, calls in _layer_operands(net, x[sl]).items():
            for xi, w, enc, asym in calls:
                v, h = _count_histogram(tile, xi, w, enc, asym)
                out[name] = (v, h if name not in out else out[name][1] + h)
    return out


def _reach(v, h, q):
    """Largest |count| with nonzero histogram, and the q-quantile of |count|."""
    a = np.abs(v)
    order = np.argsort(a, kind="stable")
    a, h = a[order], h[order]
    tot = h.sum()
    if tot == 0:
        return 0.0, 0.0
    cum = np.cumsum(h)
    quant = float(a[np.searchsorted(cum, q * tot)])
    return float(a[h > 0].max()), quant


def _best_full_scale(card, v, h) -> float:
    """The full scale M (an integer count, 1 .. the largest count reached) whose conversion
    error over the count histogram (v, h) is smallest: sum h * (convert(v) - v)^2, the
    converter's own grid and rounding (``device_models.adc``); ties go to the larger M."""
    import device_models as dm

    if str(card["adc.range"]) != "calibrated":
        card = card.replace(**{"adc.range": "calibrated"})
    peak = _reach(v, h, 1.0)[0]
    best, best_err = 1.0, np.inf
    keep = h > 0
    vv, hh = v[keep].astype(np.float64), h[keep].astype(np.float64)
    for M in range(1, int(peak) + 1):
        q = dm.adc.quantizer(card, float(M))
        err = float(np.sum(hh * (dm.adc.convert(vv, q) - vv) ** 2))
        if err <= best_err:
            best, best_err = float(M), err
    return best


def calibrate_full_scales(network, hardware, x_cal) -> dict:
    """Per-layer ADC full scale for ``adc.range: calibrated``, from the calibration inputs
    ``x_cal`` with ideal devices: the histogram of the counts one access produces (per rail
    for dual sensing, ``BL - BLB`` for differential) is collected per layer, and the full
    scale is the integer count M that minimizes the squared conversion error (rounding plus
    clipping) of the card's ADC over that histogram.  ``{layer: M}``."""
    import device_models as dm

    card = dm.load_card(hardware)
    net = _require_network(network)
    return {name: _best_full_scale(card, v, h) for name, (v, h) in _histograms(net, card, x_cal).items()}


def adc_range_check(network, hardware, x, full_scales: dict | None = None) -> list[str]:
    """Per-layer findings (one line each) where the card's ADC range and the counts the layer
    reaches on inputs ``x`` disagree badly (see the module docstring); [] when they agree or
    the card has no ADC (``chip.architecture: digital``)."""
    import device_models as dm

    card = dm.load_card(hardware)
    if str(card["chip.architecture"]) != "imc":
        return []
    net = _require_network(network)
    rng = str(card["adc.range"])
    L = int(card["tile.rows_per_access"])
    diff = str(card["adc.sensing"]) == "differential"
    found = []
    for name, (v, h) in _histograms(net, card, x).items():
        if rng == "calibrated":
            fs = (full_scales or {}).get(name)
            if fs is None:
                continue
        else:
            fs = float(L)
        q = dm.adc.quantizer(card, fs)
        v_min, lsb, levels = float(q[0]), float(q[1]), int(q[2])
        top = v_min + (levels - 1) * lsb
        peak, p99 = _reach(v, h, 0.99)
        zero = int(dm.adc.convert_code(0.0, q))
        codes = abs(int(dm.adc.convert_code(p99, q)) - zero) + 1
        pos = (v - v_min) / lsb + 0.5
        clipped = float(h[(pos >= levels) | (pos < 0)].sum()) / max(1, int(h.sum()))
        rail = "BL - BLB" if diff else "per rail"
        adc = (f"the ADC converts [{v_min:g}, {top:g}] cells ({rail}) in {levels} codes, lsb {lsb:.3g} cells")
        reach = (f"the layer's counts reach {peak:g} cells per access (99 % within {p99:g})")
        if codes <= COLLAPSE_CODES and peak > 0:
            found.append(f"layer {name!r}: {reach} but {adc}: its counts fall inside {codes} code(s), so the "
                         f"conversion keeps almost none of the layer's result; fix: adc.range: calibrated (a per-layer reference set "
                         f"from a training sample), or adc.range: clip with adc.clip_count: {max(p99, 1.0):g}")
        elif clipped > CLIP_SHARE:
            found.append(f"layer {name!r}: {clipped:.0%} of the conversions clip: {reach} but {adc}; fix: "
                         f"adc.range: calibrated (a per-layer reference set from a training sample)")
    return found


def _calibration_inputs(net, calibration, size):
    """The calibration sample: an array, a dataset spec (its training split), or the
    network's own data set (training split)."""
    import networks
    from imcsim.errors import InputError

    if calibration is None:
        ds = getattr(net, "dataset", None)
        if not ds:
            raise InputError("adc.range: calibrated needs a calibration sample from the training data: pass "
                             "calibration=ARRAY (training inputs) or a dataset spec; the network names no dataset")
        calibration = {"name": ds}
    if isinstance(calibration, dict):
        x_cal = networks.datasets.calibration_sample(calibration, size)
        where = (f"{calibration['path']} array {calibration.get('calibration_x')!r}" if calibration.get("path")
                 else f"{calibration['name']} training split")
        return x_cal, f"first {len(x_cal)} inputs of the {where}"
    x_cal = np.asarray(calibration)[:size]
    if len(x_cal) == 0:
        raise InputError("calibration: the calibration sample is empty")
    return x_cal, f"first {len(x_cal)} inputs of the calibration array passed to simulate"


def simulate(network, hardware, x, y=None, trials: int = 1, seed=0, batch: int | None = None,
             *, calibration=None, calibration_size: int = CALIBRATION_SIZE, check_range: bool = True,
             study: str | None = None, attrs: dict | None = None):
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
    calibration : inputs for ``adc.range: calibrated`` (an array of training inputs, or a
        dataset spec ``{name, root}`` / ``{path, calibration_x}`` whose training data is
        used); None: the training split of the network's own ``dataset``. Never ``x``.
    calibration_size : inputs of the calibration sample (:data:`CALIBRATION_SIZE`)
    check_range : warn (:class:`AdcRangeWarning`) per layer when the ADC range and the
        counts the layer reaches disagree badly (also stored in attr ``adc_range_warnings``)
    study : study text stored in the attrs (the study runner passes it)
    attrs : more dataset attributes

    Returns
    -------
    xarray.Dataset with dims ``trial``, ``layer``, ``component``, ``area_component`` (see
    :mod:`imcsim.report.dataset`): accuracy and ``mac_error_rms`` per trial, energy per layer and
    component [pJ per inference], latency [ns per inference], throughput, TOPS, TOPS/W,
    TOPS/mm2, area. Energy and latency come from the mean event counts over the trials.
    """
    import device_models as dm
    from imcsim import costs as energy
    from imcsim import report
    from imcsim.engine.backend import ImcBackend

    from imcsim.errors import InputError

    card = dm.load_card(hardware)
    net = report.require_network(network)
    trials = _check_int("trials", trials, 1, MAX_TRIALS)
    if batch is not None:
        batch = _check_int("batch", batch, 1, None, "or None (automatic batches)")
    _check_seed(seed)
    try:
        n = len(x)
    except TypeError:
        raise InputError(f"x: expected an array of inputs (one inference per row), got "
                         f"{type(x).__name__}") from None
    if n == 0:
        raise InputError("x: no inputs to simulate")
    xa = np.asarray(x)
    if xa.dtype.kind not in "biuf":
        raise InputError(f"x: expected a numeric array, got dtype {xa.dtype}")
    if xa.dtype.kind == "f" and not np.all(np.isfinite(xa)):
        bad = int(np.count_nonzero(~np.isfinite(xa)))
        raise InputError(f"x: {bad} input value(s) are NaN or inf; expected finite numbers")
    stream = batch if batch is not None else auto_batch(net, n)
    yv = None if y is None else np.asarray(y).reshape(-1)
    if yv is not None and yv.size != n:
        raise InputError(f"y: expected {n} labels (one per input row of x), got {yv.size}")
    cal_attrs = {}
    full_scales = None
    if str(card["adc.range"]) == "calibrated" and str(card["chip.architecture"]) == "imc":
        size = int(calibration_size)
        if size < 1:
            raise InputError(f"calibration_size: expected an integer >= 1, got {calibration_size}")
        x_cal, where = _calibration_inputs(net, calibration, size)
        full_scales = calibrate_full_scales(net, card, x_cal)
        cal_attrs = {"adc_calibration": f"adc.range calibrated per layer on the {where} (ideal devices; "
                                        "never the evaluation inputs)",
                     "adc_calibration_size": int(len(x_cal))}
    range_warnings = []
    if check_range:
        import warnings
        range_warnings = adc_range_check(net, card, x[:RANGE_CHECK_SAMPLE], full_scales)
        for msg in range_warnings:
            warnings.warn(f"{card.name}: {msg}", AdcRangeWarning, stacklevel=2)
    acc = np.full(trials, np.nan)
    names: list[str] = []
    ev_sum: dict[str, dict[str, float]] = {}
    err_rows = []
    scale_rows = []
    mappings = {}
    for t, child in enumerate(_seed_children(seed, trials)):
        backend = ImcBackend(card, seed=child, full_scales=full_scales)
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
    base_attrs.update(cal_attrs)
    if check_range:
        base_attrs["adc_range_warnings"] = "\n".join(range_warnings) if range_warnings else "none"
    if study:
        base_attrs["study"] = study
    base_attrs.update(attrs or {})
    ds = report.point_dataset(card, layers, acc, np.asarray(err_rows, float), batch=tp_batch,
                              attrs=base_attrs, adc_full_scale=np.asarray(scale_rows, float))
    _check_finite_costs(ds, card)
    return ds


#: Cost figures that must come out finite (an overflowing card value makes them inf).
_FINITE_COSTS = ("energy", "energy_total", "latency", "latency_total", "power", "tops",
                 "tops_per_watt", "tops_per_mm2", "area", "area_total")


def _check_finite_costs(ds, card) -> None:
    """Refuse a result whose energy, power, latency or area overflowed (a card value such
    as 1.7e308 is finite, but products and sums of it are not), or whose efficiency
    collapsed to 0 because of it."""
    from imcsim.errors import InputError

    for name in _FINITE_COSTS:
        if name not in ds:
            continue
        v = np.asarray(ds[name].values, dtype=float)
        if not np.all(np.isfinite(v)):
            raise InputError(
                f"card {card.name!r}: {name} is not finite ({ds[name].attrs.get('units', '')}); "
                "a card value is too large for float64 arithmetic: expected physical "
                "magnitudes (energies in pJ, powers in mW, times in ns)")
    for name in ("tops_per_watt", "tops_per_mm2", "tops"):
        if name in ds and float(ds[name]) == 0.0 and float(ds["macs"].sum()) > 0:
            raise InputError(
                f"card {card.name!r}: {name} underflows to 0 for a workload of "
                f"{float(ds['macs'].sum()):g} MACs; a card value is too large: expected "
                "physical magnitudes")


def _check_int(what: str, value, lo: int, hi: int | None, extra: str = "") -> int:
    from imcsim.errors import InputError

    rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, float) and value.is_integer()):
            raise InputError(f"{what}: expected an integer {rng}{' ' + extra if extra else ''}, "
                             f"got {value!r}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        raise InputError(f"{what}: expected an integer {rng}{' ' + extra if extra else ''}, "
                         f"got {v}")
    return v


def _check_seed(seed) -> None:
    from imcsim.errors import InputError

    if isinstance(seed, np.random.SeedSequence):
        return
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: expected a non-negative integer or numpy SeedSequence, "
                         f"got {seed!r}")

"""Validation of a parsed study: names, paths, card overrides, data set, output folder, and
whether each network fits each card, before anything is simulated.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from imcsim.engine.mapper import weight_slices
from imcsim.errors import InputError, bad_input_types
from imcsim.errors import StudyError
from imcsim.study.resolve import (
    _dm,
    _looks_like_path,
    _networks,
    _one_line,
    _suggest,
    resolve_name_or_path,
)
from imcsim.study.schema import Point, Study, _show, load_study


def _resolve(study: Study, kind: str, value: str, keys: tuple) -> str:
    try:
        return resolve_name_or_path(kind, value, study.base_dir)
    except StudyError as exc:
        raise study.error(exc.message, *keys) from None


def _check_network(study: Study, value: str, keys: tuple):
    ref = _resolve(study, "network", value, keys)
    if _looks_like_path(value):
        try:
            return _networks().load_network(ref)
        except (*bad_input_types(), OSError) as exc:
            raise study.error(f"cannot load network file: {_one_line(exc)}", *keys) from None
    try:
        return _networks().zoo.load(value)
    except (*bad_input_types(), OSError) as exc:
        raise study.error(f"cannot load network {value!r}: {_one_line(exc)}", *keys) from None


def _check_card(study: Study, value: str, keys: tuple):
    ref = _resolve(study, "card", value, keys)
    try:
        return _dm().load_card(ref)
    except (*bad_input_types(), OSError) as exc:
        raise study.error(f"cannot load card: {_one_line(exc)}", *keys) from None


def _path_keys(study: Study, path: str) -> tuple:
    """Where a parameter path appears in the study (for error messages)."""
    if path in study.set:
        return ("set", path)
    for d in study.dims:
        if path in d.members:
            if d.kind == "zip":
                gi = [x for x in study.dims if x.kind == "zip"].index(d)
                return ("sweep", "zip", gi, path)
            return ("sweep", path)
    return (path,)


def _card_has(card, path: str) -> bool:
    try:
        card[path]
        return True
    except (KeyError, ValueError, TypeError, IndexError):
        return False


def _check_overrides(study: Study, card, overrides: dict, card_label: str):
    for path in overrides:
        if not _card_has(card, path):
            paths = [row[0] for row in _dm().parameter_table()]
            hint = _suggest(path, paths)
            hint = f"; {hint}" if hint.startswith("did") else ""
            raise study.error(f"card {card_label!r} has no parameter {path!r}{hint}",
                              *_path_keys(study, path))
    try:
        return card.replace(**overrides) if overrides else card
    except bad_input_types() as exc:
        # find the culprit: replace one at a time
        for path, value in overrides.items():
            try:
                card.replace(**{path: value})
            except bad_input_types() as exc1:
                raise study.error(f"{_show(value)} rejected: {_one_line(exc1)}",
                                  *_path_keys(study, path)) from None
        keys = ", ".join(f"{k}={_show(v)}" for k, v in overrides.items()
                         if k not in study.set)
        raise study.error(f"the combination {keys} is rejected: {_one_line(exc)}",
                          "sweep") from None


def _check_output_dir(study: Study, create: bool = False):
    """The output directory can be written (created if ``create``; otherwise its nearest
    existing ancestor must be a writable directory)."""
    d = study.output_dir()
    keys = ("outputs", "dir")
    try:
        if create or d.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            probe = d / f".imcsim-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
            return
        anc = d.absolute()
        while not anc.exists():
            anc = anc.parent
        if not anc.is_dir():
            raise NotADirectoryError(20, f"{anc} is not a directory")
        if not os.access(anc, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
        # the permission bits can say yes where the file system says no (/proc, a
        # read-only mount): create and remove a folder where the run would create one
        os.rmdir(tempfile.mkdtemp(prefix=".imcsim-write-test-", dir=anc))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise study.error(f"cannot write to directory {str(d)!r}: {reason}; expected a "
                          "writable directory", *keys) from None


def _dataset_label(ds: dict) -> str:
    if ds.get("path"):
        return f"arrays {ds.get('x', 'x')!r}/{ds.get('y', 'y')!r} of {ds['path']}"
    return f"dataset {ds['name']!r} split {ds['split']!r}"


def _check_dataset(study: Study):
    ds = study.dataset
    try:
        if ds.get("path"):
            x, y = _networks().datasets.load_arrays(ds["path"], ds.get("x", "x"), ds.get("y", "y"), limit=1)
        else:
            x, y = _networks().datasets.load(ds["name"], split=ds["split"], limit=1, root=ds.get("root"))
    except (*bad_input_types(), OSError) as exc:
        names = list(_networks().datasets.list())
        if not ds.get("path") and names and ds["name"] not in names:  # the names once
            raise study.error(f"unknown dataset {ds['name']!r}; {_suggest(ds['name'], names)}",
                              "dataset", "name") from None
        keys: tuple = ("dataset",)
        hint = ""
        if ds.get("path"):
            msg = _one_line(exc)
            keys = ("dataset", "path")
            for k in ("x", "y"):
                if f"dataset key {k})" in msg:
                    keys = ("dataset", k)
        else:
            if ds["split"] not in _networks().datasets.info(ds["name"]).splits:
                keys = ("dataset", "split")
            elif ds.get("root"):
                keys = ("dataset", "root")
        raise study.error(f"cannot load {_dataset_label(ds)}: "
                          f"{_one_line(exc)}" + (f"; {hint}" if hint else ""),
                          *keys) from None
    if len(x) < 1:
        raise study.error("dataset is empty", "dataset")


def _check_calibration(study: Study, cards: list):
    """``adc.range: calibrated`` has a training sample to calibrate on."""
    if not any(c["adc.range"] == "calibrated" for c in cards):
        return
    ds = study.dataset
    try:
        _networks().datasets.calibration_sample(ds, 1)
    except (*bad_input_types(), OSError) as exc:
        keys = ("dataset", "calibration_x") if ds.get("path") and ds.get("calibration_x") else ("dataset",)
        raise study.error(f"adc.range: calibrated calibrates on a training sample, which cannot be "
                          f"loaded: {_one_line(exc)}", *keys) from None


#: card values the ADC range check depends on (points differing only elsewhere share one check)
_RANGE_KEYS = ("chip.architecture", "cell.kind", "tile.rows", "tile.columns", "tile.rows_per_access",
               "adc.sensing", "adc.bits", "adc.levels", "adc.signed_format", "adc.range", "adc.clip_count")


def range_warnings(study: Study, nets: dict, points_cards: list) -> list[str]:
    """Per-layer ADC range findings (see :func:`imcsim.simulation.adc_range_check`) for each
    distinct (network, ADC configuration) of the study, on the first inputs of its data set;
    each line names the point(s).  ``calibrated`` ranges are set from data and not checked."""
    from imcsim.simulation import RANGE_CHECK_SAMPLE, adc_range_check
    from imcsim.study.resolve import _dataset_cached

    x, _ = _dataset_cached(study.dataset)
    x = x[:RANGE_CHECK_SAMPLE]
    seen: dict = {}
    out = []
    for p, nw, card in points_cards:
        if card["adc.range"] == "calibrated" or not nets[nw].has_weights:
            continue            # calibrated: set from data; a workload-only network: costs only
        key = (nw,) + tuple(card[k] for k in _RANGE_KEYS)
        if key in seen:
            continue
        seen[key] = True
        try:
            found = adc_range_check(nets[nw], card, x)
        except bad_input_types():
            continue            # the run reports what cannot be simulated, with its point
        where = f"point {p.label()}: " if p.label() else ""
        out += [f"{study.file or 'study'}: {where}network {nw!r} on {card.name}: {m}" for m in found]
    return out


def _check_fits(study: Study, net, net_name: str, card, card_name: str, point: Point):
    """The network's quantized weights can be stored in the card's cells (an XNOR cell
    holds only -1/+1), checked on the weights themselves, without simulating."""
    kind = card["cell.kind"]
    for layer in net.quantized_layers():
        w = layer.weight_matrix()
        if w is None:
            continue
        try:
            weight_slices(np.asarray(w), kind)
        except InputError as exc:
            swept = [k for k in ("network", "hardware", "cell.kind")
                     if any(k in d.members for d in study.dims)]
            where = f" (point {point.label()})" if swept else ""
            keys = _path_keys(study, swept[0]) if swept else ("hardware",)
            raise study.error(
                f"network {net_name!r} cannot run on card {card_name!r}{where}: layer "
                f"{layer.name!r} has weights the {kind} cells cannot hold "
                f"({_one_line(exc)})", *keys) from None


#: card paths that decide whether a network's weights fit a card (cells and tiles)
_FIT_PATHS = ("cell.kind", "adc.sensing", "tile.rows", "tile.columns", "tile.rows_per_access",
              "chip.tiles", "chip.allow_reload")


def _check_tiles(study: Study, net, net_name: str, card, card_name: str, point: Point):
    """With ``chip.allow_reload: false`` the network's layers must fit ``chip.tiles`` at
    once (the run would refuse it after simulating): tiles counted by the engine's mapper."""
    if card["chip.allow_reload"]:
        return
    from imcsim.engine.mapper import map_layer
    from imcsim.engine.tile import Tile

    tile = Tile.from_card(card)
    needed, worst = 0, ("", 0)
    swept = [k for k in ("network", "hardware", "chip.tiles", "chip.allow_reload",
                         "tile.rows", "tile.columns") if any(k in d.members for d in study.dims)]
    where = f" (point {point.label()})" if swept else ""
    keys = _path_keys(study, swept[0]) if swept else ("hardware",)
    for layer in net.quantized_layers():
        w = layer.weight_matrix()
        if w is None:
            continue
        _, place = weight_slices(np.asarray(w), card["cell.kind"])
        K, N = np.shape(w)
        try:
            tiles = map_layer(K, N, place.size, tile, 1).tiles
        except InputError as exc:
            raise study.error(f"network {net_name!r} cannot run on card {card_name!r}{where}: "
                              f"layer {layer.name!r}: {_one_line(exc)}", *keys) from None
        needed += tiles
        worst = max(worst, (layer.name, tiles), key=lambda t: t[1])
    if needed > tile.chip_tiles:
        raise study.error(
            f"network {net_name!r} needs {needed} tiles on card {card_name!r}{where} (largest "
            f"layer {worst[0]!r}: {worst[1]}) but chip.tiles is {tile.chip_tiles} and "
            "chip.allow_reload is false; set chip.allow_reload: true or use more tiles", *keys)


def _check_networks_run(study: Study, nets: dict):
    """Each network has trained weights and takes the dataset's samples."""
    for name, net in nets.items():
        if not net.has_weights:
            continue  # a workload-only entry: its points are cost estimates from layer shapes
        ds = study.dataset
        if ds.get("path"):
            shape = tuple(_networks().datasets.load_arrays(ds["path"], ds["x"], ds["y"], limit=1)[0].shape[1:])
        else:
            shape = tuple(_networks().datasets.info(ds["name"]).shape)
        want = tuple(net.input_shape or shape)
        if int(np.prod(want)) != int(np.prod(shape)):
            raise study.error(
                f"network {name!r} takes inputs of shape {want}, dataset "
                f"{study.dataset['name'] or study.dataset.get('path')!r} gives {shape}", "dataset",
                "path" if study.dataset.get("path") else "name")


def validate_study(source, *, check_output_dir: bool = True, out_dir=None,
                   check_range: bool = True) -> Study:
    """Check everything a run would use, without simulating: the schema, the network(s),
    the card(s), every parameter path and every point's values (via ``card.replace``), the
    dataset, the calibration sample of ``adc.range: calibrated`` and (optionally) that the
    output directory can be written. Returns the Study; raises StudyError (or the
    card/network error it wraps) on the first problem.  With ``check_range`` it also warns
    (:class:`imcsim.simulation.AdcRangeWarning`, one per layer and ADC configuration, kept
    in ``study.warnings``) where a card's ADC range and the counts a layer reaches disagree
    badly; the lines name the point, the layer, both ranges and the fix."""
    study = load_study(source)
    if out_dir is not None:
        study.outputs["dir"] = str(out_dir)
    nets = {}
    cards = {}

    def net_values():
        for d in study.dims:
            if "network" in d.members:
                return d, d.members["network"]
        return None, [study.network]

    def hw_values():
        for d in study.dims:
            if "hardware" in d.members:
                return d, d.members["hardware"]
        return None, [study.hardware]

    nd, nvals = net_values()
    for i, v in enumerate(nvals):
        if not isinstance(v, str):
            raise study.error(f"expected a network name or path, got {_show(v)}",
                              *(_path_keys(study, "network") if nd else ("network",)))
        if v not in nets:
            nets[v] = _check_network(study, v, _path_keys(study, "network") if nd
                                     else ("network",))
    hd, hvals = hw_values()
    for v in hvals:
        if not isinstance(v, str):
            raise study.error(f"expected a card name or path, got {_show(v)}",
                              *(_path_keys(study, "hardware") if hd else ("hardware",)))
        if v not in cards:
            cards[v] = _check_card(study, v, _path_keys(study, "hardware") if hd
                                   else ("hardware",))
    seen = set()
    points_cards = []
    for p in study.points():
        hw = p.values.get("hardware", study.hardware)
        nw = p.values.get("network", study.network)
        card = _check_overrides(study, cards[hw], p.overrides, hw)
        points_cards.append((p, nw, card))
        key = (nw, hw) + tuple(card[k] for k in _FIT_PATHS)
        if key not in seen:
            seen.add(key)
            _check_fits(study, nets[nw], nw, card, hw, p)
            _check_tiles(study, nets[nw], nw, card, hw, p)
    _check_dataset(study)
    _check_calibration(study, [c for _, _, c in points_cards])
    _check_networks_run(study, nets)
    if check_range:
        study.warnings = range_warnings(study, nets, points_cards)
        if study.warnings:
            import warnings

            from imcsim.simulation import AdcRangeWarning
            for msg in study.warnings:
                warnings.warn(msg, AdcRangeWarning, stacklevel=2)
    for kind in study.outputs["plots"]:
        problem = _plot_problem(study, kind)
        if problem:
            i = study.outputs["plots"].index(kind)
            raise study.error(problem, "outputs", "plots", i)
    if check_output_dir:
        _check_output_dir(study)
    return study


def _plot_problem(study: Study, kind: str) -> str | None:
    ndim = len([d for d in study.dims if d.size > 1])
    if kind == "accuracy_heatmap" and ndim != 2:
        return (f"accuracy_heatmap needs exactly two swept parameters with more than one "
                f"value each; this study has {ndim}")
    if kind == "accuracy_vs_param" and ndim not in (1, 2):
        return (f"accuracy_vs_param needs one or two swept parameters with more than one "
                f"value each; this study has {ndim}")
    return None

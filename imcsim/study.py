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

import copy
import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import yaml

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

#: plot kinds a study may ask for in ``outputs.plots`` (see :mod:`imcsim.plot`)
PLOT_KINDS = ("pareto", "energy_breakdown", "accuracy_heatmap", "accuracy_vs_param")

TOP_KEYS = ("study", "description", "network", "dataset", "hardware", "set", "sweep",
            "trials", "seed", "outputs")
REQUIRED_KEYS = ("study", "network", "dataset", "hardware")
DATASET_KEYS = ("name", "split", "limit")
OUTPUT_KEYS = ("dir", "plots")
#: sweep/zip keys that are not card parameter paths
SPECIAL_PATHS = ("network", "hardware")
SCHEDULER_TIMEOUT_S = 5.0
POINT_FILE = "point-{:05d}.nc"
MANIFEST = "manifest.json"


# --------------------------------------------------------------------------- errors
class StudyError(ValueError):
    """Bad study input. Carries the file, the line (when known) and the key at fault;
    ``str()`` is one line: ``FILE:LINE: KEY: what was expected``."""

    def __init__(self, message: str, file: str | os.PathLike | None = None,
                 key: str | None = None, line: int | None = None):
        self.message = message
        self.file = None if file is None else str(file)
        self.key = key
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:  # one line, always
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.key:
            parts.append(self.key)
        parts.append(" ".join(str(self.message).split()))
        return ": ".join(parts)


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Dimension:
    """One dimension of the sweep: a grid key (one member) or a zip group (several)."""

    name: str                      # dimension name in the result
    members: dict                  # path -> list of values (all the same length)
    kind: str = "grid"             # "grid" or "zip"

    @property
    def size(self) -> int:
        return len(next(iter(self.members.values())))

    @property
    def paths(self) -> list[str]:
        return list(self.members)

    def labels(self) -> list:
        """Values of the dimension coordinate: the first member's values if they are
        distinct, else positions 0..n-1."""
        first = next(iter(self.members.values()))
        try:
            if len(set(map(_hashable, first))) == len(first):
                return list(first)
        except TypeError:
            pass
        return list(range(self.size))


@dataclass(frozen=True)
class Point:
    """One point of the sweep."""

    index: int                     # flat C-order index (last dimension fastest)
    position: tuple                # index along each dimension
    values: dict                   # path -> value, every swept path (network/hardware too)
    network: str                   # resolved network (zoo name or absolute path)
    hardware: str                  # resolved card (name or absolute path)
    overrides: dict                # card path -> value (study `set`, then swept paths)

    def label(self) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.values.items())


@dataclass
class Study:
    """A parsed, schema-checked study (names and paths not yet checked: see validate)."""

    name: str
    file: str | None
    text: str
    network: str
    dataset: dict
    hardware: str
    set: dict
    dims: list
    trials: int
    seed: int
    outputs: dict
    description: str = ""
    base_dir: Path = field(default_factory=Path.cwd)
    lines: dict = field(default_factory=dict, repr=False)

    # ---- helpers
    def error(self, message: str, *keys) -> StudyError:
        """A StudyError naming this file, the key path and its line."""
        return StudyError(message, self.file, _key_text(keys), _line_of(self.lines, keys))

    @property
    def n_points(self) -> int:
        return int(np.prod([d.size for d in self.dims])) if self.dims else 1

    @property
    def shape(self) -> tuple:
        return tuple(d.size for d in self.dims)

    def resolved_network(self, value: str | None = None) -> str:
        return _resolve_ref(value if value is not None else self.network, self.base_dir)

    def resolved_hardware(self, value: str | None = None) -> str:
        return _resolve_ref(value if value is not None else self.hardware, self.base_dir)

    def points(self) -> list[Point]:
        out = []
        ranges = [range(d.size) for d in self.dims]
        for index, pos in enumerate(itertools.product(*ranges)):
            values = {}
            for d, i in zip(self.dims, pos):
                for path, vals in d.members.items():
                    values[path] = vals[i]
            network = values.get("network", self.network)
            hardware = values.get("hardware", self.hardware)
            overrides = dict(self.set)
            overrides.update({k: v for k, v in values.items() if k not in SPECIAL_PATHS})
            out.append(Point(index, tuple(pos), values, self.resolved_network(network),
                             self.resolved_hardware(hardware), overrides))
        return out

    def content_hash(self) -> str:
        """Hash of everything that decides the numbers (not outputs, not description)."""
        doc = {
            "network": self.network, "dataset": self.dataset, "hardware": self.hardware,
            "set": self.set, "trials": self.trials, "seed": self.seed,
            "dims": [[d.name, d.kind, list(d.members.items())] for d in self.dims],
        }
        cards = {}  # the cards' contents too: an edited card file invalidates old points
        for ref in dict.fromkeys([self.hardware] + [v for d in self.dims
                                                    for v in d.members.get("hardware", [])]):
            try:
                cards[str(ref)] = _card_cached(self.resolved_hardware(ref)).dump()
            except Exception:
                cards[str(ref)] = None
        doc["cards"] = cards
        blob = json.dumps(doc, sort_keys=True, default=repr)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def output_dir(self) -> Path:
        return Path(self.outputs["dir"])

    def result_path(self) -> Path:
        return self.output_dir() / f"{self.name}.nc"

    def points_dir(self) -> Path:
        return self.output_dir() / f"{self.name}.points"


# --------------------------------------------------------------------------- YAML
class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_mapping)


def _yaml_load(text: str, file: str | None):
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        ctx = getattr(exc, "context", None)
        msg = f"malformed YAML: {problem}" + (f" ({ctx})" if ctx and problem != ctx else "")
        raise StudyError(msg, file, None, line) from None


def _line_map(text: str) -> dict:
    """(key, key, ...) -> line number of that key in the YAML text (best effort)."""
    out: dict = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return out

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = path + (str(k.value),)
                out[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                p = path + (i,)
                out[p] = v.start_mark.line + 1
                walk(v, p)

    if root is not None:
        walk(root, ())
    return out


def _line_of(lines: dict, keys: tuple) -> int | None:
    keys = tuple(keys)
    while keys:
        if keys in lines:
            return lines[keys]
        keys = keys[:-1]
    return None


def _key_text(keys) -> str | None:
    parts = [f"[{k}]" if isinstance(k, int) else str(k) for k in keys]
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out += p if p.startswith("[") else f": {p}"
    return out


# --------------------------------------------------------------------------- helpers
def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _typename(v) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(v), type(v).__name__)


def _show(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _looks_like_path(ref: str) -> bool:
    return ("/" in ref or os.sep in ref or ref.endswith((".yaml", ".yml", ".npz", ".json"))
            or ref.startswith("."))


def _resolve_ref(ref: str, base_dir: Path) -> str:
    """A zoo/card name stays a name; a path becomes absolute (relative to the study)."""
    if not isinstance(ref, str):
        return ref
    if _looks_like_path(ref):
        p = Path(ref).expanduser()
        if not p.is_absolute():
            p = (Path(base_dir) / p)
        return str(p.resolve())
    return ref


def _suggest(name: str, choices: Iterable[str]) -> str:
    choices = sorted(set(choices))
    close = difflib.get_close_matches(str(name), choices, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    if choices:
        return "known: " + ", ".join(choices)
    return ""


def studies_dir() -> Path:
    """Folder of the shipped studies (package ``imcsim.studies`` when installed, else the
    ``studies/`` folder of the source checkout)."""
    try:
        from importlib import resources

        p = Path(str(resources.files("imcsim.studies")))
        if p.is_dir() and any(p.glob("*.yaml")):
            return p
    except Exception:  # not installed: running from a checkout
        pass
    return Path(__file__).resolve().parent.parent / "studies"


def list_studies() -> list[str]:
    """Names of the shipped studies."""
    return sorted(p.stem for p in studies_dir().glob("*.yaml"))


def resolve_study_path(ref: str | os.PathLike) -> Path:
    """A study file path, or the name of a shipped study (``quickstart``)."""
    p = Path(ref)
    if p.is_file():
        return p
    if p.exists():
        raise StudyError("is not a file: expected a study YAML file", str(ref))
    name = str(ref)
    if not _looks_like_path(name) or name.endswith((".yaml", ".yml")):
        # a shipped study: `quickstart`, `quickstart.yaml`, or `studies/quickstart.yaml`
        # (the checkout's path, also outside the checkout once installed)
        plain = "/" not in name or p.parent.name == "studies"
        stem = p.stem if name.endswith((".yaml", ".yml")) and plain else name
        cand = studies_dir() / f"{stem}.yaml"
        if cand.is_file():
            return cand
    hint = _suggest(Path(name).stem, list_studies())
    raise StudyError("no such study file or shipped study"
                     + (f"; {hint}" if hint else ""), str(ref))


# --------------------------------------------------------------------------- parsing
def load_study(source, *, file: str | None = None) -> Study:
    """Parse and schema-check a study: a path, a shipped study name, a YAML text is not
    accepted (use a dict), or a dict. Names and card paths are checked by validate."""
    if isinstance(source, Study):
        return source
    if isinstance(source, dict):
        doc = copy.deepcopy(source)
        text = yaml.safe_dump(doc, sort_keys=False)
        base_dir = Path.cwd()
        file = file or "<study>"
        lines = _line_map(text)
    else:
        path = resolve_study_path(source)
        file = file or str(source if Path(source).is_file() else path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StudyError(f"cannot read: {exc}", file) from None
        doc = _yaml_load(text, file)
        base_dir = path.resolve().parent
        lines = _line_map(text)
    return _parse(doc, text, file, base_dir, lines)


def _parse(doc, text, file, base_dir, lines) -> Study:
    def err(msg, *keys):
        return StudyError(msg, file, _key_text(keys), _line_of(lines, keys))

    if not isinstance(doc, dict):
        raise err(f"expected a mapping of study keys ({', '.join(TOP_KEYS)}), got "
                  f"{_typename(doc)}")
    for k in doc:
        if k not in TOP_KEYS:
            hint = _suggest(str(k), TOP_KEYS)
            raise err(f"unknown key; expected one of {', '.join(TOP_KEYS)}"
                      + (f" ({hint})" if hint.startswith("did") else ""), str(k))
    for k in REQUIRED_KEYS:
        if k not in doc:
            raise err(f"missing required key {k!r}")

    name = doc["study"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise err("expected a name of letters, digits, '_', '-', '.' (it names the "
                  f"result files), got {_show(name)}", "study")
    description = doc.get("description") or ""
    if not isinstance(description, str):
        raise err(f"expected a string, got {_typename(description)}", "description")

    for key in ("network", "hardware"):
        v = doc[key]
        if not isinstance(v, str) or not v:
            raise err(f"expected a {'zoo network' if key == 'network' else 'card'} name "
                      f"or a file path, got {_show(v)}", key)

    ds = doc["dataset"]
    if isinstance(ds, str):
        ds = {"name": ds}
    if not isinstance(ds, dict):
        raise err(f"expected a mapping {{name, split, limit}}, got {_typename(ds)}",
                  "dataset")
    for k in ds:
        if k not in DATASET_KEYS:
            raise err(f"unknown key; expected one of {', '.join(DATASET_KEYS)}",
                      "dataset", str(k))
    if not isinstance(ds.get("name"), str) or not ds.get("name"):
        raise err(f"expected a dataset name, got {_show(ds.get('name'))}", "dataset", "name")
    split = ds.get("split", "test")
    if not isinstance(split, str):
        raise err(f"expected a split name such as 'test', got {_show(split)}",
                  "dataset", "split")
    limit = ds.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise err(f"expected an integer >= 1 or null, got {_show(limit)}", "dataset", "limit")
    dataset = {"name": ds["name"], "split": split, "limit": limit}

    setv = doc.get("set") or {}
    if not isinstance(setv, dict):
        raise err(f"expected a mapping of parameter path -> value, got {_typename(setv)}",
                  "set")
    for k, v in setv.items():
        if not isinstance(k, str):
            raise err(f"expected a parameter path such as 'adc.bits', got {_show(k)}",
                      "set", str(k))
        if k in SPECIAL_PATHS:
            raise err(f"{k!r} is set by the top-level key {k!r}, not in 'set'", "set", k)
        if isinstance(v, (list, dict)):
            raise err(f"expected a single value, got {_typename(v)} (to vary a parameter, "
                      "put it under 'sweep')", "set", k)

    dims = _parse_sweep(doc.get("sweep"), err)
    seen: dict = {}
    for d in dims:
        for p in d.paths:
            if p in seen:
                raise err(f"parameter swept twice (also in {seen[p]})", "sweep", p)
            seen[p] = d.name
            if p in setv:
                raise err("parameter both fixed in 'set' and swept; keep one", "sweep", p)
    names = [d.name for d in dims]
    for d in dims:
        if names.count(d.name) > 1:
            raise err(f"dimension name {d.name!r} used twice", "sweep")

    trials = doc.get("trials", 1)
    if isinstance(trials, bool) or not isinstance(trials, int):
        raise err(f"expected an integer >= 1, got {_show(trials)}", "trials")
    if trials < 1:
        raise err(f"expected an integer >= 1, got {trials}", "trials")
    seed = doc.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise err(f"expected an integer >= 0, got {_show(seed)}", "seed")

    outputs = doc.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise err(f"expected a mapping {{dir, plots}}, got {_typename(outputs)}", "outputs")
    for k in outputs:
        if k not in OUTPUT_KEYS:
            raise err(f"unknown key; expected one of {', '.join(OUTPUT_KEYS)}",
                      "outputs", str(k))
    out_dir = outputs.get("dir", "results")
    if not isinstance(out_dir, str) or not out_dir:
        raise err(f"expected a directory path, got {_show(out_dir)}", "outputs", "dir")
    plots = outputs.get("plots", ["pareto", "energy_breakdown"])
    if plots is None:
        plots = []
    if isinstance(plots, str):
        plots = [plots]
    if not isinstance(plots, list):
        raise err(f"expected a list of plot kinds, got {_typename(plots)}", "outputs", "plots")
    for i, kind in enumerate(plots):
        if kind not in PLOT_KINDS:
            hint = _suggest(str(kind), PLOT_KINDS)
            raise err(f"unknown plot kind {_show(kind)}; expected one of "
                      f"{', '.join(PLOT_KINDS)}" + (f" ({hint})" if hint.startswith("did")
                                                     else ""), "outputs", "plots", i)
    return Study(name=name, file=file, text=text, network=doc["network"], dataset=dataset,
                 hardware=doc["hardware"], set=dict(setv), dims=dims, trials=trials,
                 seed=seed, outputs={"dir": out_dir, "plots": list(plots)},
                 description=description, base_dir=Path(base_dir), lines=lines)


def _check_values(vals, err, *keys):
    if not isinstance(vals, list):
        raise err(f"expected a list of values, got {_typename(vals)} {_show(vals)} "
                  "(a single value belongs under 'set')", *keys)
    if not vals:
        raise err("expected a non-empty list of values, got []", *keys)
    for v in vals:
        if isinstance(v, (list, dict)):
            raise err(f"expected single values in the list, got {_typename(v)}", *keys)


def _parse_sweep(sweep, err) -> list[Dimension]:
    if sweep is None:
        return []
    if not isinstance(sweep, dict):
        raise err("expected a mapping of parameter path -> list of values (and optional "
                  f"'zip' groups), got {_typename(sweep)}", "sweep")
    if not sweep:
        raise err("expected at least one swept parameter, got an empty mapping "
                  "(leave 'sweep' out for a single point)", "sweep")
    dims = []
    for key, vals in sweep.items():
        if key == "zip":
            groups = vals
            if isinstance(groups, dict):
                groups = [groups]
            if not isinstance(groups, list) or not groups:
                raise err("expected a non-empty list of groups, each a mapping of "
                          "parameter path -> list of values of one common length", "sweep",
                          "zip")
            for gi, group in enumerate(groups):
                dims.append(_parse_zip(group, err, gi))
            continue
        if not isinstance(key, str):
            raise err(f"expected a parameter path such as 'adc.bits', got {_show(key)}",
                      "sweep", str(key))
        _check_values(vals, err, "sweep", key)
        dims.append(Dimension(key, {key: list(vals)}, "grid"))
    return dims


def _parse_zip(group, err, gi) -> Dimension:
    keys = ("sweep", "zip", gi)
    if not isinstance(group, dict) or not group:
        raise err("expected a mapping of parameter path -> list of values", *keys)
    name = group.get("name")
    members = {k: v for k, v in group.items() if k != "name"}
    if name is not None and (not isinstance(name, str) or not name):
        raise err(f"expected a dimension name, got {_show(name)}", *keys, "name")
    if len(members) < 1:
        raise err("expected at least one parameter path -> list of values", *keys)
    length = None
    for path, vals in members.items():
        if not isinstance(path, str):
            raise err(f"expected a parameter path, got {_show(path)}", *keys, str(path))
        _check_values(vals, err, *keys, path)
        if length is None:
            length = len(vals)
            first = path
        elif len(vals) != length:
            raise err(f"expected {length} values (as many as {first!r}), got {len(vals)}: "
                      "parameters in a zip group move together", *keys, path)
    return Dimension(name or next(iter(members)), {k: list(v) for k, v in members.items()},
                     "zip")


# --------------------------------------------------------------------------- validation
def _dm():
    import device_models

    return device_models


def _networks():
    import networks

    return networks


def _known_networks() -> list[str]:
    try:
        return list(_networks().zoo.list())
    except Exception:
        return []


def _known_cards() -> list[str]:
    try:
        return list(_dm().list_cards())
    except Exception:
        return []


def _check_network(study: Study, value: str, keys: tuple):
    ref = study.resolved_network(value)
    if _looks_like_path(value):
        if not Path(ref).is_file():
            raise study.error(f"network file not found: {ref}", *keys)
        try:
            return _networks().load_network(ref)
        except Exception as exc:
            raise study.error(f"cannot load network file: {_one_line(exc)}", *keys) from None
    known = _known_networks()
    if value not in known:
        hint = _suggest(value, known)
        raise study.error(f"unknown network {value!r}" + (f"; {hint}" if hint else ""), *keys)
    try:
        return _networks().zoo.load(value)
    except Exception as exc:
        raise study.error(f"cannot load network {value!r}: {_one_line(exc)}", *keys) from None


def _check_card(study: Study, value: str, keys: tuple):
    ref = study.resolved_hardware(value)
    if _looks_like_path(value):
        if not Path(ref).is_file():
            raise study.error(f"card file not found: {ref}", *keys)
    else:
        known = _known_cards()
        if value not in known:
            hint = _suggest(value, known)
            raise study.error(f"unknown card {value!r}" + (f"; {hint}" if hint else ""),
                              *keys)
    try:
        return _dm().load_card(ref)
    except Exception as exc:
        raise study.error(f"cannot load card: {_one_line(exc)}", *keys) from None


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


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
            hint = ""
            try:
                paths = [row[0] for row in _dm().parameter_table()]
                hint = _suggest(path, paths)
                hint = f"; {hint}" if hint.startswith("did") else ""
            except Exception:
                pass
            raise study.error(f"card {card_label!r} has no parameter {path!r}{hint}",
                              *_path_keys(study, path))
    try:
        return card.replace(**overrides) if overrides else card
    except Exception as exc:
        # find the culprit: replace one at a time
        for path, value in overrides.items():
            try:
                card.replace(**{path: value})
            except Exception as exc1:
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
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise study.error(f"cannot write to directory {str(d)!r}: {reason}; expected a "
                          "writable directory", *keys) from None


@functools.lru_cache(maxsize=16)
def _dataset_cached(name: str, split: str, limit):
    return _networks().datasets.load(name, split=split, limit=limit)


def _check_dataset(study: Study):
    ds = study.dataset
    try:
        x, y = _networks().datasets.load(ds["name"], split=ds["split"], limit=1)
    except Exception as exc:
        names = []
        try:
            names = list(_networks().datasets.list())
        except Exception:
            pass
        keys: tuple = ("dataset",)
        hint = ""
        if names and ds["name"] not in names:
            keys = ("dataset", "name")
            hint = _suggest(ds["name"], names)
        else:
            try:
                if ds["split"] not in _networks().datasets.info(ds["name"]).splits:
                    keys = ("dataset", "split")
            except Exception:
                pass
        raise study.error(f"cannot load dataset {ds['name']!r} split {ds['split']!r}: "
                          f"{_one_line(exc)}" + (f"; {hint}" if hint else ""),
                          *keys) from None
    if len(x) < 1:
        raise study.error("dataset is empty", "dataset")


def _get(card, path):
    try:
        return card[path]
    except Exception:
        return None


def _check_fits(study: Study, net, net_name: str, card, card_name: str, point: Point):
    """The network's quantized weights can be stored in the card's cells (an XNOR cell
    holds only -1/+1), checked on the weights themselves, without simulating."""
    try:
        from imcsim.errors import InputError
        from imcsim.mapper import weight_slices
    except Exception:  # engine not importable: the run will say
        return
    kind = _get(card, "cell.kind")
    try:
        layers = list(net.quantized_layers())
    except Exception:
        return
    for layer in layers:
        w = getattr(layer, "w_int", None)
        if w is None:
            continue
        w = np.asarray(w)
        try:
            weight_slices(w.reshape(w.shape[0], -1), kind)
        except InputError as exc:
            swept = [k for k in ("network", "hardware", "cell.kind")
                     if any(k in d.members for d in study.dims)]
            where = f" (point {point.label()})" if swept else ""
            keys = _path_keys(study, swept[0]) if swept else ("hardware",)
            raise study.error(
                f"network {net_name!r} cannot run on card {card_name!r}{where}: layer "
                f"{getattr(layer, 'name', '?')!r} has weights the {kind} cells cannot hold "
                f"({_one_line(exc)})", *keys) from None


def _check_networks_run(study: Study, nets: dict):
    """Each network has trained weights and takes the dataset's samples."""
    nd = next((d for d in study.dims if "network" in d.members), None)
    for name, net in nets.items():
        keys = _path_keys(study, "network") if nd else ("network",)
        if getattr(net, "has_weights", True) is False:
            try:
                trained = list(_networks().zoo.trained())
            except Exception:
                trained = []
            raise study.error(
                f"network {name!r} has no trained weights (a workload-only entry: layer "
                "shapes for energy estimates); a study simulates accuracy and needs a trained "
                "network" + (f", e.g. {', '.join(trained)}" if trained else ""), *keys)
        try:
            shape = tuple(_networks().datasets.info(study.dataset["name"]).shape)
        except Exception:
            continue
        want = tuple(getattr(net, "input_shape", shape) or shape)
        if int(np.prod(want)) != int(np.prod(shape)):
            raise study.error(
                f"network {name!r} takes inputs of shape {want}, dataset "
                f"{study.dataset['name']!r} gives {shape}", "dataset", "name")


def validate_study(source, *, check_output_dir: bool = True, out_dir=None) -> Study:
    """Check everything a run would use, without simulating: the schema, the network(s),
    the card(s), every parameter path and every point's values (via ``card.replace``), the
    dataset and (optionally) that the output directory can be written. Returns the Study;
    raises StudyError (or the card/network error it wraps) on the first problem."""
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
    for p in study.points():
        hw = p.values.get("hardware", study.hardware)
        nw = p.values.get("network", study.network)
        card = _check_overrides(study, cards[hw], p.overrides, hw)
        key = (nw, hw, _get(card, "cell.kind"), _get(card, "adc.sensing"))
        if key not in seen:
            seen.add(key)
            _check_fits(study, nets[nw], nw, card, hw, p)
    _check_dataset(study)
    _check_networks_run(study, nets)
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


# --------------------------------------------------------------------------- computing
def _stamp(ref: str, *suffixes: str):
    """(mtime, size) of a referenced file and its companions: an edited file is reloaded."""
    if not _looks_like_path(ref):
        return None
    out = []
    for p in [Path(ref)] + [Path(ref).with_suffix(s) for s in suffixes]:
        try:
            st_ = p.stat()
            out.append((st_.st_mtime_ns, st_.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _network_loaded(ref: str, stamp):
    if _looks_like_path(ref):
        return _networks().load_network(ref)
    return _networks().zoo.load(ref)


@functools.lru_cache(maxsize=8)
def _card_loaded(ref: str, stamp):
    return _dm().load_card(ref)


def _network_cached(ref: str):
    """The network (one load per process, again if its file changed)."""
    return _network_loaded(ref, _stamp(ref, ".npz"))


def _card_cached(ref: str):
    """The card (one load per process, again if its file changed)."""
    return _card_loaded(ref, _stamp(ref))


def point_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of point ``index``: the index-th child of the study seed."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(index),))


def compute_point(spec: dict):
    """Simulate one point (runs in-process or on a dask worker). ``spec`` holds only plain
    values, so it travels to any worker; returns simulate's dataset with point attrs."""
    from imcsim.simulation import simulate

    net = _network_cached(spec["network"])
    ds = spec["dataset"]
    x, y = _dataset_cached(ds["name"], ds["split"], ds["limit"])
    card = _card_cached(spec["hardware"])
    if spec["overrides"]:
        card = card.replace(**spec["overrides"])
    result = simulate(net, card, x, y, trials=spec["trials"],
                      seed=point_seed(spec["seed"], spec["index"]))
    result.attrs["imcsim_point_index"] = int(spec["index"])
    result.attrs["imcsim_study_hash"] = spec["hash"]
    return result


def _spec(study: Study, point: Point, digest: str) -> dict:
    return {"index": point.index, "network": point.network, "hardware": point.hardware,
            "dataset": dict(study.dataset), "overrides": dict(point.overrides),
            "trials": study.trials, "seed": study.seed, "hash": digest}


# --------------------------------------------------------------------------- storage
def _write_atomic(ds, path: Path):
    """netCDF file written to a temporary name, then renamed (report.write_netcdf)."""
    from imcsim import report

    report.write_netcdf(ds, path)


def _open(path: Path):
    import xarray as xr

    with xr.open_dataset(path) as ds:
        return ds.load()


def _read_manifest(pdir: Path) -> dict | None:
    try:
        return json.loads((pdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _write_manifest(pdir: Path, study: Study, digest: str):
    doc = {"study": study.name, "hash": digest, "points": study.n_points,
           "dims": [d.name for d in study.dims], "file": study.file}
    tmp = pdir / f".{MANIFEST}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, pdir / MANIFEST)


def _stored_points(pdir: Path, digest: str, n: int) -> set[int]:
    done = set()
    for i in range(n):
        f = pdir / POINT_FILE.format(i)
        if not f.is_file():
            continue
        try:
            import xarray as xr

            with xr.open_dataset(f) as ds:
                ok = (ds.attrs.get("imcsim_study_hash") == digest
                      and int(ds.attrs.get("imcsim_point_index", -1)) == i)
        except Exception:
            ok = False
        if ok:
            done.add(i)
    return done


# --------------------------------------------------------------------------- progress
class Progress:
    """Points done / total, elapsed, ETA: a bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, already: int = 0, stream=None, enabled: bool = True):
        self.total = total
        self.done = already
        self.already = already
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.t_first = None
        if enabled:
            if already:
                self._line(f"{already}/{total} points already on disk")
            if self.tty:
                self._draw()

    def _line(self, text):
        print(text, file=self.stream, flush=True)

    @staticmethod
    def _hms(seconds: float) -> str:
        if not math.isfinite(seconds):
            return "--:--"
        s = int(round(seconds))
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"

    def _eta(self) -> float:
        """Seconds left at the rate since the first new point (which also pays for the
        start-up: numba compilation, worker start), or from the first point alone."""
        new = self.done - self.already
        left = self.total - self.done
        if left == 0:
            return 0.0
        if new <= 0:
            return float("nan")
        now = time.monotonic()
        if new >= 2 and self.t_first is not None:
            return (now - self.t_first) / (new - 1) * left
        return (now - self.t0) / new * left

    def _draw(self):
        width = 30
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(round(frac * width))
        el = time.monotonic() - self.t0
        self.stream.write(f"\r[{bar:<{width}}] {self.done}/{self.total} points  "
                          f"elapsed {self._hms(el)}  ETA {self._hms(self._eta())} ")
        self.stream.flush()

    def update(self, label: str = ""):
        self.done += 1
        if self.t_first is None:
            self.t_first = time.monotonic()
        if not self.enabled:
            return
        if self.tty:
            self._draw()
        else:
            el = time.monotonic() - self.t0
            self._line(f"point {self.done}/{self.total} done"
                       + (f" ({label})" if label else "")
                       + f"  elapsed {self._hms(el)}  ETA {self._hms(self._eta())}")

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- running
def _connect(scheduler, workers):
    """-> (client, cluster_or_None, owned). ``scheduler`` may be an address or a Client."""
    try:
        import distributed
    except ImportError:
        raise StudyError("dask.distributed is not installed; pip install "
                         "'imcsim[distributed]'", None, "--workers/--scheduler") from None
    if scheduler is not None and not isinstance(scheduler, str):
        if isinstance(scheduler, distributed.Client):
            return scheduler, None, False
        return distributed.Client(scheduler), None, True  # a cluster object
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise StudyError(f"scheduler {scheduler!r} did not answer within "
                             f"{SCHEDULER_TIMEOUT_S:g} s ({_one_line(exc) or 'timeout'}); "
                             "expected the address of a running 'dask scheduler', such as "
                             "tcp://HOST:8786", None, "--scheduler") from None
        return client, None, True
    import logging

    # one point per worker process at a time, and numba's threads to match (no
    # oversubscription: N workers on N cores)
    one = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR, env=one)
    return distributed.Client(cluster), cluster, True


def run_study(source, workers: int | None = None, scheduler=None, resume: bool = False,
              progress: bool = True, *, out_dir=None, plots: bool | None = None,
              stream=None, summary: bool | None = None):
    """Run a study (path, shipped study name or dict) and return the result dataset.

    ``workers``: start a local dask cluster of that many worker processes; ``scheduler``:
    the address of a running dask scheduler (or a ``distributed.Client``); neither:
    in-process. ``resume``: keep the points already stored for this same study and
    compute only the missing ones. ``out_dir`` overrides ``outputs.dir``; ``plots=False``
    skips the plots (default: draw the study's plots); ``summary`` prints the summary table
    (default: when ``progress``). Writes ``<dir>/<study>.nc`` atomically.
    """
    stream = stream if stream is not None else sys.stderr
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise StudyError(f"expected an integer >= 1, got {workers!r}", None, "--workers")
    if workers is not None and scheduler is not None:
        raise StudyError("give either --workers or --scheduler, not both", None,
                         "--scheduler")
    study = validate_study(source, out_dir=out_dir)
    digest = study.content_hash()
    pdir = study.points_dir()
    points = study.points()
    n = len(points)
    _check_output_dir(study, create=True)
    try:
        pdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise study.error(f"cannot create {str(pdir)!r}: {exc.strerror}", "outputs",
                          "dir") from None

    manifest = _read_manifest(pdir)
    if resume:
        if manifest is not None and manifest.get("hash") != digest:
            raise study.error(
                f"--resume: {pdir} holds points of a different version of this study "
                f"(hash {manifest.get('hash')}, now {digest}); run without --resume to "
                "start over", "study")
        done = _stored_points(pdir, digest, n)
    else:
        done = set()
    todo = [p for p in points if p.index not in done]

    client = cluster = None
    owned = False
    if todo and (workers is not None or scheduler is not None):
        try:  # before anything on disk changes: a dead scheduler is bad input
            client, cluster, owned = _connect(scheduler, workers)
        except StudyError as exc:
            exc.file = exc.file or study.file
            raise StudyError(exc.message, exc.file, exc.key, exc.line) from None
    try:
        if not resume:
            for f in pdir.glob("point-*.nc"):
                f.unlink()
        _write_manifest(pdir, study, digest)
        if progress:
            where = ("in-process" if client is None else
                     f"{workers} local dask worker(s)" if workers is not None else
                     f"dask scheduler {scheduler}" if isinstance(scheduler, str) else "dask")
            dims = " x ".join(f"{d.name}[{d.size}]" for d in study.dims) or "one point"
            print(f"{study.name}: {n} point(s) ({dims}) x {study.trials} trial(s), "
                  f"{study.network} on {study.hardware}, {where}", file=stream, flush=True)
        bar = Progress(n, len(done), stream=stream, enabled=progress)

        def store(res, point):
            _write_atomic(res, pdir / POINT_FILE.format(point.index))
            bar.update(point.label())

        try:
            if client is None:
                for p in todo:
                    try:
                        res = compute_point(_spec(study, p, digest))
                    except bad_input_types() as exc:
                        raise _point_error(study, p, exc) from None
                    store(res, p)
            else:
                _run_dask(client, study, todo, digest, store)
        finally:
            bar.close()
    finally:
        if owned:
            client.close()
            if cluster is not None:
                cluster.close()

    result = assemble(study, digest)
    _write_atomic(result, study.result_path())
    if summary if summary is not None else progress:
        print(summary_table(result), file=sys.stdout, flush=True)
        print(f"wrote {study.result_path()}", file=sys.stdout, flush=True)
    if plots if plots is not None else True:
        _draw_plots(study, result, stream, verbose=summary if summary is not None else progress)
    return result


def _run_dask(client, study, todo, digest, store):
    """One task per point; results come back here and are written here (workers need no
    shared disk)."""
    import distributed

    by_key = {}
    futures = []
    for p in todo:
        fut = client.submit(compute_point, _spec(study, p, digest), pure=False,
                            key=f"imcsim-{study.name}-{digest}-{p.index}-{time.time_ns()}")
        by_key[fut.key] = p
        futures.append(fut)
    try:
        for fut in distributed.as_completed(futures):
            p = by_key[fut.key]
            try:
                res = fut.result()
            except bad_input_types() as exc:
                raise _point_error(study, p, exc) from None
            except Exception as exc:
                if "deserializ" in str(exc) or isinstance(exc, (ImportError, ModuleNotFoundError)):
                    raise RuntimeError(
                        "the dask scheduler or a worker cannot load imcsim's task: install "
                        "imcsim (the same version) in the environment of the scheduler and of "
                        f"every worker ({_one_line(exc)})") from exc
                raise
            store(res, p)
    finally:
        for fut in futures:
            fut.cancel()


def bad_input_types() -> tuple:
    """Exception classes that mean bad input (the CLI's exit status 2)."""
    import importlib

    types_ = [StudyError]
    for mod, names in (("imcsim.errors", ("InputError",)),
                       ("imcsim.plot", ("PlotError",)),
                       ("device_models", ("CardError",)),
                       ("networks", ("NetworkError", "NetworkFileError", "ZooError",
                                     "LayerError", "BackendError", "DatasetError")),
                       ("networks.datasets", ("DatasetError",)),
                       ("networks.zoo", ("ZooError", "UnknownNetwork"))):
        try:
            m = importlib.import_module(mod)
        except Exception:
            continue
        for n in names:
            t = getattr(m, n, None)
            if isinstance(t, type) and issubclass(t, BaseException) and t not in types_:
                types_.append(t)
    return tuple(types_)


def _point_error(study: Study, point: Point, exc) -> StudyError:
    """A bad-input error raised while simulating a point, naming the study and point."""
    if isinstance(exc, StudyError):
        return exc
    label = point.label() or "the single point"
    return StudyError(f"point {point.index} ({label}) cannot be simulated: {_one_line(exc)}",
                      study.file, None)


def _draw_plots(study, result, stream, verbose=True):
    kinds = study.outputs["plots"]
    if not kinds:
        return
    from imcsim import plot

    for kind in kinds:
        path = study.output_dir() / f"{study.name}_{kind}.png"
        try:
            plot.plot(result, kind, path)
        except plot.PlotError as exc:
            print(f"imcsim: skipped plot {kind}: {exc}", file=stream)
            continue
        if verbose:
            print(f"wrote {path}", file=sys.stdout, flush=True)


# --------------------------------------------------------------------------- assembling
def assemble(study: Study, digest: str | None = None):
    """Stack the stored points of a study into the result dataset."""
    digest = digest or study.content_hash()
    pdir = study.points_dir()
    point_ds = []
    for p in study.points():
        f = pdir / POINT_FILE.format(p.index)
        if not f.is_file():
            raise study.error(f"point {p.index} missing in {pdir}; rerun with --resume",
                              "study")
        ds = _open(f)
        for k in ("imcsim_point_index", "imcsim_study_hash"):
            ds.attrs.pop(k, None)
        point_ds.append(ds)
    result = _stack(study, point_ds)
    try:
        from imcsim.report import card_text

        hw = [v for d in study.dims for v in d.members.get("hardware", [])] or [study.hardware]
        cards = [_card_cached(study.resolved_hardware(v)) for v in dict.fromkeys(hw)]
        result.attrs["hardware"] = "---\n".join(card_text(c) for c in cards)
        result.attrs["hardware_name"] = ", ".join(str(c.name) for c in cards)
    except Exception:
        pass
    result.attrs["study"] = study.name
    result.attrs["study_text"] = study.text
    result.attrs["study_file"] = str(study.file)
    result.attrs["study_hash"] = digest
    result.attrs["seed"] = int(study.seed)
    result.attrs["trials"] = int(study.trials)
    result.attrs["sweep_dims"] = json.dumps([d.name for d in study.dims])
    result.attrs["sweep_spec"] = json.dumps(
        [{"name": d.name, "kind": d.kind, "paths": d.paths} for d in study.dims])
    try:
        from importlib.metadata import version

        result.attrs.setdefault("imcsim_version", version("imcsim"))
    except Exception:
        try:
            import imcsim

            result.attrs.setdefault("imcsim_version", str(imcsim.__version__))
        except Exception:
            pass
    return result


def _stack(study: Study, point_ds: list):
    """Stack per-point datasets into one with a dimension per sweep dimension (report's
    ``stack``); members of zip groups other than the one naming the dimension become
    extra coordinates along it."""
    from imcsim import report

    dims = study.dims
    labels = {d.name: d.labels() for d in dims}
    pts = []
    for p, ds in zip(study.points(), point_ds):
        pts.append(({d.name: labels[d.name][i] for d, i in zip(dims, p.position)}, ds))
    out = report.stack(pts, labels)
    for d in dims:
        out[d.name].attrs["parameter"] = ", ".join(d.paths)
        out[d.name].attrs["sweep_kind"] = d.kind
        for path, vals in d.members.items():
            if path != d.name:
                out = out.assign_coords({path: (d.name, report._coord_values(vals))})
                out[path].attrs.update(parameter=path, long_name=path)
    varying = _varying_attrs(point_ds) if len(point_ds) > 1 else set()
    for k in varying:
        if k not in ("hardware", "hardware_name"):
            out.attrs.pop(k, None)
    return out


def _varying_attrs(dss) -> set:
    keys = set()
    first = dss[0].attrs
    for ds in dss[1:]:
        for k, v in ds.attrs.items():
            if k not in first or not _same(first[k], v):
                keys.add(k)
    return keys


def _same(a, b) -> bool:
    try:
        return bool(np.all(np.asarray(a) == np.asarray(b)))
    except Exception:
        return False


# --------------------------------------------------------------------------- summary
def _sweep_dims(ds) -> list[str]:
    try:
        return list(json.loads(ds.attrs.get("sweep_dims", "[]")))
    except ValueError:
        return []


def summary_table(ds, max_rows: int | None = 200) -> str:
    """One row per point: sweep values, accuracy mean +- std over trials, energy per
    inference, latency per inference, TOPS/W."""
    dims = [d for d in _sweep_dims(ds) if d in ds.dims]
    shown = []  # each sweep dimension, then the other members of its zip group
    for d in dims:
        shown.append(d)
        own = [_fmt(_scalar(v)) for v in ds[d].values]
        shown.extend(c for c, v in ds.coords.items() if c != d and v.dims == (d,)
                     and [_fmt(_scalar(x)) for x in v.values] != own)
    cols = shown + ["accuracy", "energy/inf", "latency/inf", "TOPS/W"]
    rows = []
    sizes = [ds.sizes[d] for d in dims]
    for pos in itertools.product(*[range(s) for s in sizes]):
        sel = dict(zip(dims, pos))
        p = ds.isel(sel) if sel else ds
        row = [_fmt(_scalar(p[c].values)) for c in shown]
        if "accuracy" in p:
            acc = np.asarray(p["accuracy"].values, dtype=float)
            std = acc.std(ddof=1) if acc.size > 1 else 0.0
            row.append(f"{acc.mean():.4f} +- {std:.4f}")
        else:
            row.append("-")
        row.append(_energy_text(_total_energy(p)))
        row.append(_latency_text(_total_latency(p)))
        row.append(f"{float(p['tops_per_watt']):.4g}" if "tops_per_watt" in p else "-")
        rows.append(row)
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(cols)]
    line = "  ".join(c.rjust(w) for c, w in zip(cols, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    limit = max_rows if max_rows and len(rows) > max_rows else None
    for r in rows[:limit]:
        out.append("  ".join(v.rjust(w) for v, w in zip(r, widths)))
    if limit:
        out.append(f"... {len(rows) - limit} more points (all of them in the result file)")
    return "\n".join(out)


def _scalar(v):
    v = np.asarray(v)
    return v.item() if v.ndim == 0 else v


def _total_energy(p) -> float:
    for name in ("energy_per_inference", "energy_total"):
        if name in p:
            return float(np.asarray(p[name].values, dtype=float).mean())
    if "energy" in p:
        return float(np.asarray(p["energy"].values, dtype=float).sum())
    return float("nan")


def _total_latency(p) -> float:
    for name in ("latency_per_inference", "latency_total", "inference_latency"):
        if name in p:
            return float(np.asarray(p[name].values, dtype=float).mean())
    if "latency" in p:
        return float(np.asarray(p["latency"].values, dtype=float).sum())
    return float("nan")


def _energy_text(pj: float) -> str:
    if not math.isfinite(pj):
        return "-"
    for unit, scale in (("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if pj >= scale:
            return f"{pj / scale:.4g} {unit}"
    return f"{pj:.4g} pJ"


def _latency_text(ns: float) -> str:
    if not math.isfinite(ns):
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.4g} {unit}"
    return f"{ns:.4g} ns"

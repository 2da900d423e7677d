"""The study file: YAML with unique keys and a line map, the schema check, and the sweep
(dimensions, zip groups, points).
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from device_models import safe_yaml
from imcsim.errors import StudyError, bad_input_types
from imcsim.plot import KINDS as PLOT_KINDS  # the plot kinds outputs.plots may name
from imcsim.report.labels import format_value as _fmt
from imcsim.simulation import MAX_TRIALS
from imcsim.study.resolve import (
    _card_cached,
    _dataset_digest,
    _network_digest,
    _resolve_ref,
    _suggest,
    resolve_study_path,
)

TOP_KEYS = ("study", "description", "network", "dataset", "hardware", "set", "sweep",
            "trials", "seed", "batch", "outputs")
REQUIRED_KEYS = ("study", "network", "dataset", "hardware")
DATASET_KEYS = ("name", "split", "limit", "root", "path", "x", "y", "calibration_x")
#: keys of a named data set and of the user's arrays (``dataset: {path: my.npz, x: KEY, y: KEY}``)
_NAMED_DATASET_KEYS = ("name", "split", "limit", "root")
_ARRAY_DATASET_KEYS = ("path", "x", "y", "limit", "calibration_x")
OUTPUT_KEYS = ("dir", "plots", "format", "dpi")
#: figure formats outputs.format may name
PLOT_FORMATS = ("png", "pdf", "svg")
#: sweep/zip keys that are not card parameter paths
SPECIAL_PATHS = ("network", "hardware")

# ---- limits (docs/studies.md, "Limits"): a small file must never exhaust the machine
#: Longest study name [characters]: it names files (``NAME.points``, ``NAME_KIND.png``),
#: and a file name has at most 255 bytes on common file systems.
MAX_NAME_LENGTH = 100
#: Most Monte Carlo trials per point: ``imcsim.simulation.MAX_TRIALS``.
#: Most points of a sweep (the product of the dimensions' sizes): each point is a file and
#: is simulated once; validate checks every one.
MAX_POINTS = 100_000


def _reserved_names() -> frozenset:
    """Names a sweep dimension may not take: the result's own dimensions, coordinates and
    variables (a dimension named ``trial`` could never be assembled)."""
    from imcsim.report.dataset import COORDS, POINT_DIMS, VARIABLES

    return frozenset(POINT_DIMS) | frozenset(COORDS) | frozenset(VARIABLES)


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
    #: ADC range warnings found by validate_study (one line each)
    warnings: list = field(default_factory=list, repr=False)
    #: inferences simulated at a time (``simulate``'s batch); None: automatic streaming
    batch: int | None = None

    # ---- helpers
    def error(self, message: str, *keys) -> StudyError:
        """A StudyError naming this file, the key path and its line."""
        return StudyError(message, self.file, _key_text(keys), _line_of(self.lines, keys))

    @property
    def n_points(self) -> int:
        return math.prod(d.size for d in self.dims)  # Python ints: no overflow

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
        if self.batch is not None:   # sets the throughput and reload batch (no key: as before)
            doc["batch"] = self.batch
        cards = {}  # the cards' contents too: an edited card file invalidates old points
        for ref in dict.fromkeys([self.hardware] + [v for d in self.dims
                                                    for v in d.members.get("hardware", [])]):
            try:
                cards[str(ref)] = _card_cached(self.resolved_hardware(ref)).dump()
            except (*bad_input_types(), OSError):  # validate names the problem
                cards[str(ref)] = None
        doc["cards"] = cards
        nets = {}  # the networks' specs and weights: an edited network file too
        for ref in dict.fromkeys([self.network] + [v for d in self.dims
                                                   for v in d.members.get("network", [])]):
            try:
                nets[str(ref)] = _network_digest(self.resolved_network(ref))
            except (*bad_input_types(), OSError):
                nets[str(ref)] = None
        doc["networks"] = nets
        try:  # the samples themselves: edited data files too
            doc["data"] = _dataset_digest(self.dataset)
        except (*bad_input_types(), OSError):
            doc["data"] = None
        blob = json.dumps(doc, sort_keys=True, default=repr)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def output_dir(self) -> Path:
        return Path(self.outputs["dir"])

    def result_path(self) -> Path:
        return self.output_dir() / f"{self.name}.nc"

    def points_dir(self) -> Path:
        return self.output_dir() / f"{self.name}.points"


# --------------------------------------------------------------------------- YAML
def _yaml_load(text: str, file: str | None):
    """(doc, line map) of a study text: safe tags, unique keys, aliases bounded
    (``device_models.safe_yaml``)."""
    try:
        doc, root = safe_yaml.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        ctx = getattr(exc, "context", None)
        if isinstance(exc, safe_yaml.YamlLimitError):
            raise StudyError(problem, file, None, line) from None
        msg = f"malformed YAML: {problem}" + (f" ({ctx})" if ctx and problem != ctx else "")
        raise StudyError(msg, file, None, line) from None
    return doc, _line_map(root)


def _line_map(root) -> dict:
    """(key, key, ...) -> line number of that key in the YAML text (best effort), from the
    composed node graph ``root`` (or a YAML text). A node reached again through an alias
    is not walked again: the map has one entry per node of the text, never per expansion."""
    out: dict = {}
    if isinstance(root, str):
        try:
            _, root = safe_yaml.load(root)
        except yaml.YAMLError:
            return out
    if root is None:
        return out
    seen: set = set()
    stack = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = path + (str(k.value),)
                out.setdefault(p, k.start_mark.line + 1)
                stack.append((v, p))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                p = path + (i,)
                out.setdefault(p, v.start_mark.line + 1)
                stack.append((v, p))
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


def _typename(v) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(v), type(v).__name__)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 6, 6, 60, 60


def _show(v) -> str:
    """A short repr: bounded work whatever ``v`` holds (shared lists are not expanded)."""
    s = _REPR.repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


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
        doc, lines = _yaml_load(text, file)
        base_dir = path.resolve().parent
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
    if len(name) > MAX_NAME_LENGTH:
        raise err(f"expected a name of at most {MAX_NAME_LENGTH} characters (it names the "
                  f"result files), got {len(name)}", "study")
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
        raise err(f"expected a mapping {{name, split, limit, root}} or {{path, x, y}}, got "
                  f"{_typename(ds)}", "dataset")
    for k in ds:
        if k not in DATASET_KEYS:
            raise err(f"unknown key; expected one of {', '.join(DATASET_KEYS)}",
                      "dataset", str(k))
    limit = ds.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise err(f"expected an integer >= 1 or null, got {_show(limit)}", "dataset", "limit")
    if "path" in ds:
        # the user's own arrays: dataset: {path: my.npz, x: KEY, y: KEY}
        for k in ds:
            if k not in _ARRAY_DATASET_KEYS:
                raise err(f"not allowed with 'path' (the user's arrays take "
                          f"{', '.join(_ARRAY_DATASET_KEYS)})", "dataset", str(k))
        for k in ("path", "x", "y", "calibration_x"):
            if k in ds and (not isinstance(ds[k], str) or not ds[k]):
                raise err(f"expected {'a file path' if k == 'path' else 'an array name in the file'}, "
                          f"got {_show(ds[k])}", "dataset", k)
        p = Path(ds["path"]).expanduser()
        dataset = {"path": str(p if p.is_absolute() else (Path(base_dir) / p).resolve()),
                   "x": ds.get("x", "x"), "y": ds.get("y", "y"), "limit": limit}
        if "calibration_x" in ds:
            dataset["calibration_x"] = ds["calibration_x"]
        dataset["name"] = None
        dataset["split"] = None
    else:
        for k in ds:
            if k not in _NAMED_DATASET_KEYS:
                raise err(f"only with 'path' (the user's arrays); a named data set takes "
                          f"{', '.join(_NAMED_DATASET_KEYS)}", "dataset", str(k))
        if not isinstance(ds.get("name"), str) or not ds.get("name"):
            raise err(f"expected a dataset name (or path: FILE.npz), got {_show(ds.get('name'))}",
                      "dataset", "name")
        split = ds.get("split", "test")
        if not isinstance(split, str):
            raise err(f"expected a split name such as 'test', got {_show(split)}",
                      "dataset", "split")
        dataset = {"name": ds["name"], "split": split, "limit": limit}
        if ds.get("root") is not None:
            if not isinstance(ds["root"], str) or not ds["root"]:
                raise err(f"expected a directory path, got {_show(ds['root'])}", "dataset", "root")
            r = Path(ds["root"]).expanduser()
            dataset["root"] = str(r if r.is_absolute() else (Path(base_dir) / r).resolve())

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
    reserved = _reserved_names()
    for gi, d in enumerate([x for x in dims if x.kind == "zip"]):
        if d.name in reserved:
            raise err(f"dimension name {d.name!r} is taken by the result's own "
                      f"dimensions and variables ({', '.join(sorted(reserved))}); "
                      "choose another name", "sweep", "zip", gi,
                      "name")
    for d in dims:
        if names.count(d.name) > 1:
            raise err(f"dimension name {d.name!r} used twice", "sweep")
    n_points = math.prod(d.size for d in dims)
    if n_points > MAX_POINTS:
        sizes = " x ".join(str(d.size) for d in dims)
        raise err(f"the sweep has {n_points} points ({sizes}); expected at most "
                  f"{MAX_POINTS} (split it into several studies)", "sweep")

    trials = doc.get("trials", 1)
    if isinstance(trials, bool) or not isinstance(trials, int):
        raise err(f"expected an integer >= 1, got {_show(trials)}", "trials")
    if trials < 1:
        raise err(f"expected an integer >= 1, got {trials}", "trials")
    if trials > MAX_TRIALS:
        raise err(f"expected at most {MAX_TRIALS} trials per point, got {trials}", "trials")
    seed = doc.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise err(f"expected an integer >= 0, got {_show(seed)}", "seed")
    batch = doc.get("batch")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise err(f"expected an integer >= 1 or null (automatic), got {_show(batch)}", "batch")

    outputs = doc.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise err(f"expected a mapping {{dir, plots, format, dpi}}, got {_typename(outputs)}",
                  "outputs")
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
    fig_format = outputs.get("format", "png")
    if fig_format not in PLOT_FORMATS:
        raise err(f"expected one of {', '.join(PLOT_FORMATS)}, got {_show(fig_format)}",
                  "outputs", "format")
    dpi = outputs.get("dpi", 300)
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 50 <= dpi <= 2400:
        raise err(f"expected an integer in [50, 2400] (dots per inch), got {_show(dpi)}",
                  "outputs", "dpi")
    return Study(name=name, file=file, text=text, network=doc["network"], dataset=dataset,
                 hardware=doc["hardware"], set=dict(setv), dims=dims, trials=trials,
                 seed=seed, outputs={"dir": out_dir, "plots": list(plots),
                                     "format": fig_format, "dpi": dpi},
                 description=description, base_dir=Path(base_dir), lines=lines, batch=batch)


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
        seen: dict = {}
        for i, v in enumerate(vals):
            k = (type(v) is str, v)  # 4 and 4.0 are one value; 4 and '4' are not
            if k in seen:
                raise err(f"value {_show(v)} given twice (positions {seen[k]} and {i}); "
                          "the values of a grid dimension must differ", "sweep", key)
            seen[k] = i
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

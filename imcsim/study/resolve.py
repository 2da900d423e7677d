"""Name-or-path resolution of studies, cards, networks and data sets, with caches that reload
when a file changes.
"""
from __future__ import annotations

import difflib
import functools
import os
from pathlib import Path
from typing import Iterable

from imcsim.errors import StudyError


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
    """Folder of the shipped studies: the ``studies/`` folder of this source checkout when
    there is one (so a working copy uses its own studies, whatever else is installed), else
    the installed package ``imcsim.studies``."""
    checkout = Path(__file__).resolve().parents[2] / "studies"
    if checkout.is_dir() and any(checkout.glob("*.yaml")):
        return checkout
    from importlib import resources

    return Path(str(resources.files("imcsim.studies")))


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


# --------------------------------------------------------------------------- validation
def _dm():
    import device_models

    return device_models


def _networks():
    import networks

    return networks


def _known_networks() -> list[str]:
    return list(_networks().zoo.list())


def _known_cards() -> list[str]:
    return list(_dm().list_cards())


_SHIPPED = {"network": _known_networks, "card": _known_cards}


def resolve_name_or_path(kind: str, ref: str, base_dir: Path | str = ".") -> str:
    """The one rule for naming a shipped ``network`` or ``card``, or a file: a name stays a
    name (it must be shipped), a path becomes absolute (relative to ``base_dir``, the study
    file's folder) and must be a file. Raises :class:`StudyError` (message only; callers
    add the file and key): ``{kind} file not found: PATH`` or ``unknown {kind} 'NAME';
    did you mean ...?``."""
    if _looks_like_path(ref):
        path = _resolve_ref(ref, Path(base_dir))
        if not Path(path).is_file():
            raise StudyError(f"{kind} file not found: {path}")
        return path
    known = _SHIPPED[kind]()
    if ref not in known:
        hint = _suggest(ref, known)
        raise StudyError(f"unknown {kind} {ref!r}" + (f"; {hint}" if hint else ""))
    return ref


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@functools.lru_cache(maxsize=16)
def _dataset_cached(name: str, split: str, limit, root=None, path=None, x=None, y=None):
    if path is not None:     # the user's arrays: dataset: {path, x, y}
        return _networks().datasets.load_arrays(path, x or "x", y or "y", limit)
    return _networks().datasets.load(name, split=split, limit=limit, root=root)


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

"""What a result file needs to say to reproduce its run: the networks' specs and a hash of
their weights, the data set's folder and a hash of its contents, the software versions, the
command line and the time, and the exact (digital) accuracy of each network on the data.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import numpy as np

from imcsim.errors import bad_input_types
from imcsim.study.resolve import _dataset_cached, _network_cached


def _hash_arrays(arrays) -> str:
    h = hashlib.sha256()
    for name, a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str(name).encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def weights_hash(net) -> str:
    """sha256 (first 16 hex digits) of a network's weights (names, dtypes, shapes and
    bytes of its state dict, sorted by name); ``""`` for a network without weights."""
    has = getattr(net, "has_weights", False)
    has = has() if callable(has) else has
    if not has:
        return ""
    sd = net.state_dict()
    return _hash_arrays(sorted(sd.items()))


def versions() -> dict:
    """Versions of Python and of the libraries that decide the numbers."""
    out = {"python": platform.python_version()}
    for mod in ("numpy", "numba", "xarray", "scipy", "matplotlib"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - an optional library that is absent
            out[mod] = "not installed"
    from imcsim import __version__

    out["imcsim"] = __version__
    return out


def _data(study):
    ds = study.dataset
    extra = {k: ds[k] for k in ("root", "path", "x", "y") if ds.get(k) is not None}
    return _dataset_cached(ds["name"], ds["split"], ds["limit"], **extra)


def dataset_folder(study) -> str:
    """The folder the study's data came from (absolute), as the data loader finds it."""
    import networks

    ds = study.dataset
    if ds.get("path"):
        return str(Path(ds["path"]).resolve().parent)
    find = getattr(networks.datasets, "find_root", None)
    try:
        if find is not None:
            return str(Path(find(ds["name"], ds.get("root"))).resolve())
        if ds["name"] == "digits":
            return str(Path(networks.datasets.__file__).resolve().parent / "zoo")
        root = ds.get("root") or os.environ.get("IMCSIM_DATA", "")
        return str(Path(root).resolve()) if root else ""
    except bad_input_types():
        return ""


def _command_line() -> str:
    """The command that made the result, as typed (``python -m imcsim.cli`` for the module)."""
    if not sys.argv or not sys.argv[0]:
        return ""
    a0 = Path(sys.argv[0])
    prog = ("python -m imcsim.cli" if a0.name == "__main__.py" and a0.parent.name == "cli"
            else a0.name)
    return " ".join([prog, shlex.join(sys.argv[1:])]).strip()


def provenance(study) -> dict:
    """Attributes for the result of ``study`` (all plain strings and numbers)."""
    nets = [study.network] + [v for d in study.dims for v in d.members.get("network", [])]
    specs, hashes, exact = {}, {}, {}
    try:
        x, y = _data(study)
        data_hash = _hash_arrays([("x", x), ("y", y)])
    except (*bad_input_types(), OSError):
        x = y = None
        data_hash = ""
    for ref in dict.fromkeys(nets):
        try:
            net = _network_cached(study.resolved_network(ref))
        except (*bad_input_types(), OSError):
            continue
        name = str(ref)
        specs[name] = net.spec()
        hashes[name] = weights_hash(net) or "no weights (workload only)"
        if hashes[name] != "no weights (workload only)" and x is not None and len(y):
            try:
                exact[name] = round(float(net.accuracy(x, y)), 6)
            except (*bad_input_types(), ValueError):
                pass
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    file = study.file
    if file and Path(file).is_file():
        file = str(Path(file).resolve())
    out = {
        "study_file": file or "",
        "network_spec": json.dumps(specs, sort_keys=True),
        "network_weights_sha256": json.dumps(hashes, sort_keys=True),
        "dataset_folder": dataset_folder(study),
        "dataset_sha256": data_hash,
        "versions": json.dumps(versions()),
        "command_line": _command_line(),
        "created": now.isoformat(),
        "host_platform": platform.platform(),
    }
    if exact:
        out["exact_accuracy"] = json.dumps(exact, sort_keys=True)
    return out

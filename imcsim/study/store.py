"""The point store: one netCDF file per finished point, written atomically, and the manifest
that ties a points folder to one study.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from imcsim.results.netcdf import read_netcdf, write_netcdf
from imcsim.study.schema import Study

POINT_FILE = "point-{:05d}.nc"
MANIFEST = "manifest.json"


# --------------------------------------------------------------------------- storage
_write_atomic = write_netcdf   # a temporary name, then os.replace
_open = read_netcdf


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
        try:  # a point file cut short by a crash is computed again
            attrs = read_netcdf(f).attrs
        except (OSError, ValueError):
            continue
        ok = (attrs.get("imcsim_study_hash") == digest
              and int(attrs.get("imcsim_point_index", -1)) == i)
        if ok:
            done.add(i)
    return done

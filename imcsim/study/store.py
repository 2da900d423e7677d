"""The point store: one netCDF file per finished point, written atomically, and the manifest
that ties a points folder to one study.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from imcsim.study.schema import Study

POINT_FILE = "point-{:05d}.nc"
MANIFEST = "manifest.json"


# --------------------------------------------------------------------------- storage
def _write_atomic(ds, path: Path):
    """netCDF file written to a temporary name, then renamed (report.write_netcdf)."""
    from imcsim import results as report

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

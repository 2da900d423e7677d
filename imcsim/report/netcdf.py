"""Reading and writing result files (netCDF).
"""
from __future__ import annotations

import os
import tempfile

import xarray as xr

from imcsim.report.dataset import _attr_value

# --------------------------------------------------------------------------------------
# netCDF
# --------------------------------------------------------------------------------------

def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> str:
    """Write ``ds`` to netCDF (scipy engine, netCDF3) atomically: temp file + os.replace.

    The file opens with ``xarray.open_dataset(path)`` and nothing else.
    """
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    out = ds.copy()
    out.attrs = {k: _attr_value(v) for k, v in ds.attrs.items()}
    for name in out.variables:
        out[name].attrs = {k: _attr_value(v) for k, v in out[name].attrs.items()}
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".nc", dir=d)
    try:  # mkstemp makes the file 0600; the result gets the mode of any new file
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    try:
        out.to_netcdf(tmp, engine="scipy")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_netcdf(path: str | os.PathLike) -> xr.Dataset:
    """Read a result file fully into memory (``xarray.open_dataset``) and close it."""
    with xr.open_dataset(path) as ds:
        return ds.load()

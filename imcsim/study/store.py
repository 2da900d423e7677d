"""The point store: one netCDF file per finished point, written atomically, its checksum,
the manifest that ties a points folder to one study, and the lock that keeps two runs out
of one points folder.

A point ``i`` is stored as ``point-NNNNN.nc`` (temporary name, then ``os.replace``) and,
after it, ``point-NNNNN.nc.sha256`` (the SHA-256 of the point file's bytes, in the format
of ``sha256sum``). A point counts as stored only if both exist, the checksum matches, and
the point file names this study's hash and index ``i``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from imcsim.report.netcdf import read_netcdf, write_netcdf
from imcsim.study.schema import Study

POINT_FILE = "point-{:05d}.nc"
CHECKSUM_SUFFIX = ".sha256"
MANIFEST = "manifest.json"
LOCK_FILE = ".lock"


class PointProblem(Exception):
    """A stored point that cannot be used (the message says why, in a few words)."""


# --------------------------------------------------------------------------- storage
_write_atomic = write_netcdf   # a temporary name, then os.replace
_open = read_netcdf


def _write_text_atomic(path: Path, text: str):
    """Write ``text`` under a temporary name, then rename; the temporary file is removed
    whatever goes wrong (a full disk leaves nothing behind)."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_point(ds, pdir: Path, index: int) -> Path:
    """Store point ``index``: the point file, then its checksum file."""
    f = pdir / POINT_FILE.format(index)
    _write_atomic(ds, f)
    _write_text_atomic(f.with_name(f.name + CHECKSUM_SUFFIX),
                       f"{_file_sha256(f)}  {f.name}\n")
    return f


def read_point(pdir: Path, index: int, digest: str):
    """The stored dataset of point ``index`` of the study with hash ``digest``; raises
    :class:`PointProblem` if it is missing, altered, cut short or another study's."""
    f = pdir / POINT_FILE.format(index)
    if not f.is_file():
        raise PointProblem("missing")
    try:
        want = (f.with_name(f.name + CHECKSUM_SUFFIX)).read_text().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        raise PointProblem("its checksum file is missing") from None
    try:
        got = _file_sha256(f)
    except OSError as exc:
        raise PointProblem(f"unreadable ({exc.strerror})") from None
    if got != want:
        raise PointProblem("its contents do not match its checksum (changed after it was "
                           "written)")
    try:
        ds = _open(f)
    except (OSError, ValueError) as exc:
        raise PointProblem(f"not a readable point file ({type(exc).__name__})") from None
    h = ds.attrs.get("imcsim_study_hash")
    if h != digest:
        raise PointProblem(f"it belongs to another run (study hash {h}, this run {digest})")
    try:
        i = int(ds.attrs.get("imcsim_point_index", -1))
    except (TypeError, ValueError):
        i = -1
    if i != index:
        raise PointProblem(f"it holds point {i}")
    return ds


def remove_points(pdir: Path):
    """Delete every stored point and checksum of a points folder."""
    for pattern in ("point-*.nc", "point-*.nc" + CHECKSUM_SUFFIX, ".tmp-*.nc"):
        for f in pdir.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()


def study_identity(study: Study) -> str | None:
    """The absolute path of the study file (None for a study given as a dict)."""
    if study.file and Path(study.file).is_file():
        return str(Path(study.file).resolve())
    return None


def _read_manifest(pdir: Path) -> dict | None:
    try:
        doc = json.loads((pdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write_manifest(pdir: Path, study: Study, digest: str):
    doc = {"study": study.name, "hash": digest, "points": study.n_points,
           "dims": [d.name for d in study.dims], "file": study.file,
           "source": study_identity(study)}
    _write_text_atomic(pdir / MANIFEST, json.dumps(doc, indent=1))


def _stored_points(pdir: Path, digest: str, n: int) -> set[int]:
    done = set()
    for i in range(n):
        try:  # a point file cut short by a crash, or altered, is computed again
            read_point(pdir, i, digest)
        except PointProblem:
            continue
        done.add(i)
    return done


class PointsLocked(Exception):
    """Another process holds the lock of a points folder."""


@contextlib.contextmanager
def lock_points(pdir: Path):
    """Hold an exclusive lock on ``pdir`` (``fcntl.flock`` on ``pdir/.lock``) for the
    duration; raises :class:`PointsLocked` at once if another run holds it. The lock goes
    with the process: a killed run leaves no stale lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    fd = os.open(pdir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            except OSError:
                holder = ""
            raise PointsLocked(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)

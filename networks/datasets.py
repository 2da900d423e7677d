"""Datasets: the offline ``digits`` set, and MNIST / Fashion-MNIST / CIFAR-10 loaders.

``load(name, split="test", limit=None, root=None) -> (x float32, y int64)``

Images come back as ``(N, C, H, W)`` float32 in ``[0, 1]``; networks reshape them to
their own input shape (a dense first layer flattens them).

=================  =========  ============  =========  ================================
name               shape      raw pixels    x          split
=================  =========  ============  =========  ================================
``digits``         1 x 8 x 8  0 .. 16       raw / 16   fixed: permutation of 1797 with
                                                       ``default_rng(0)``, first 1437
                                                       train, last 360 test
``mnist``          1 x 28x28  0 .. 255      raw / 255  the IDX files' own train/test
``fashion_mnist``  1 x 28x28  0 .. 255      raw / 255  the IDX files' own train/test
``kmnist``         1 x 28x28  0 .. 255      raw / 255  the IDX files' own train/test
``cifar10``        3 x 32x32  0 .. 255      raw / 255  data_batch_1..5 / test_batch
=================  =========  ============  =========  ================================

The user's own arrays: :func:`load_arrays` (``path`` of an ``.npz``, the keys of ``x`` and
``y``), loaded with ``allow_pickle=False``; ``x`` is (N, ...) of numbers, ``y`` (N,) integer
labels, used as they are (no scaling).

``digits`` ships with the package (``networks/zoo/digits.npz``, installed as package
data with the zoo weights; provenance and licence in ``DIGITS_LICENSE.txt`` there and
in the file's ``provenance``/``licence`` arrays: UCI "Optical Recognition of Handwritten Digits",
Alpaydin & Kaynak 1998, CC BY 4.0).  The others are read from a directory the user
names: ``root=...``, else the environment variable ``IMCSIM_DATA``, else the system data
directories (:data:`SYSTEM_DATA_DIRS`, ``/usr/share/datasets``, where Debian's package
``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist``).  In a directory
the files may sit in the directory itself or in a folder named after the set, with ``-``
or ``_`` (``fashion_mnist`` or ``fashion-mnist``; ``cifar-10-batches-bin`` for CIFAR-10);
IDX files may be gzip-compressed.  Nothing is downloaded.

Input encoding of the first layer: :func:`info` gives, per data set, the range of ``x``
and the unsigned encoding the zoo's first quantized layer uses (digits: ``unsigned4``
with clip 15/16, i.e. the integer input is ``min(raw, 15)``).
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["load", "load_arrays", "load_spec", "calibration_sample", "list", "info", "available", "find_root", "DatasetError", "DatasetInfo",
           "read_idx", "read_cifar10_batch", "DIGITS_SPLIT_SEED", "DIGITS_TRAIN_SIZE", "SYSTEM_DATA_DIRS"]

_builtin_list = list

DIGITS_SPLIT_SEED = 0
DIGITS_TRAIN_SIZE = 1437
# shipped next to the zoo weights: networks.zoo is the package whose *.npz files are installed
_DATA_DIR = Path(__file__).resolve().parent / "zoo"
#: searched (in this order) when neither ``root`` nor ``IMCSIM_DATA`` is given
SYSTEM_DATA_DIRS = ("/usr/share/datasets",)


class DatasetError(ValueError):
    """A data set could not be loaded; the message names the file and what is wrong."""


class DatasetFileNotFound(DatasetError, FileNotFoundError):
    """A data file is missing."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple            #: (C, H, W) of one sample
    classes: int
    raw_max: int            #: largest raw pixel value (raw values are integers 0..raw_max)
    scale: float            #: x = raw * scale, in [0, 1]
    input_encoding: str     #: encoding of the zoo's first quantized layer for this data
    input_clip: float       #: clip of that unsigned quantizer (x units): int = round(min(x, clip)/clip*(2**k-1))
    splits: dict = field(default_factory=dict)   #: split name -> number of samples (None: depends on files)
    offline: bool = False   #: ships with the package
    description: str = ""


_INFO = {
    "digits": DatasetInfo(
        "digits", (1, 8, 8), 10, 16, 1.0 / 16, "unsigned4", 15.0 / 16,
        {"train": 1437, "test": 360, "all": 1797}, True,
        "UCI optical handwritten digits 8x8 (Alpaydin & Kaynak 1998, CC BY 4.0), shipped; "
        "split: numpy default_rng(0) permutation, 1437 train / 360 test"),
    "mnist": DatasetInfo(
        "mnist", (1, 28, 28), 10, 255, 1.0 / 255, "unsigned4", 1.0,
        {"train": 60000, "test": 10000}, False,
        "MNIST IDX files from a user directory (train-images-idx3-ubyte, ...)"),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", (1, 28, 28), 10, 255, 1.0 / 255, "unsigned4", 1.0,
        {"train": 60000, "test": 10000}, False,
        "Fashion-MNIST IDX files (Xiao, Rasul & Vollgraf 2017, MIT licence; same file names as MNIST); "
        "found by default where Debian's dataset-fashion-mnist installs them"),
    "kmnist": DatasetInfo(
        "kmnist", (1, 28, 28), 10, 255, 1.0 / 255, "unsigned4", 1.0,
        {"train": 60000, "test": 10000}, False,
        "Kuzushiji-MNIST IDX files (Clanuwat et al. 2018, CC BY-SA 4.0) from a user directory"),
    "cifar10": DatasetInfo(
        "cifar10", (3, 32, 32), 10, 255, 1.0 / 255, "unsigned8", 1.0,
        {"train": 50000, "test": 10000}, False,
        "CIFAR-10 binary version from a user directory (data_batch_1..5.bin, test_batch.bin)"),
}


def list() -> _builtin_list:  # noqa: A001 - the documented name
    """Names of the data sets :func:`load` knows."""
    return _builtin_list(_INFO)


def info(name: str) -> DatasetInfo:
    """Shape, classes, pixel scaling and first-layer input encoding of a data set."""
    try:
        return _INFO[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(_INFO)}") from None


def load(name: str, split: str = "test", limit: int | None = None, root=None):
    """Load a data set split as ``(x float32 (N, C, H, W) in [0, 1], y int64 (N,))``.

    ``limit`` keeps the first ``limit`` samples of the split.  ``root`` (or the
    environment variable ``IMCSIM_DATA``) is the directory holding the files of the
    non-shipped sets.
    """
    inf = info(name)
    if split not in inf.splits:
        raise DatasetError(f"dataset {name!r}: unknown split {split!r}; known: {', '.join(inf.splits)}")
    if limit is not None:
        limit = int(limit)
        if limit < 0:
            raise DatasetError(f"dataset {name!r}: limit must be >= 0, got {limit}")
    if name == "digits":
        raw, y = _digits(split)
    elif name in ("mnist", "fashion_mnist", "kmnist"):
        raw, y = _idx_set(name, split, root)
    elif name == "cifar10":
        raw, y = _cifar10(split, root)
    else:  # pragma: no cover
        raise DatasetError(f"unknown dataset {name!r}")
    if limit is not None:
        raw, y = raw[:limit], y[:limit]
    x = (raw.astype(np.float32) * np.float32(inf.scale)).reshape((raw.shape[0],) + inf.shape)
    return x, y.astype(np.int64)


# --------------------------------------------------------------------------- digits
def _digits(split):
    path = _DATA_DIR / "digits.npz"
    if not path.exists():
        raise DatasetFileNotFound(f"{path}: shipped digits file is missing (broken installation?)")
    with np.load(path, allow_pickle=False) as f:
        images = f["images"]
        labels = f["labels"]
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(images.shape[0])
    if split == "train":
        idx = perm[:DIGITS_TRAIN_SIZE]
    elif split == "test":
        idx = perm[DIGITS_TRAIN_SIZE:]
    else:
        idx = np.arange(images.shape[0])
    return images[idx], labels[idx]


# --------------------------------------------------------------------------- IDX
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Parse an IDX file (the MNIST format; gzip-compressed if the name ends in .gz).

    Header: two zero bytes, a type byte (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
    0x0D float, 0x0E double), the number of dimensions, then each dimension as a
    big-endian uint32; then the data, big-endian, row-major.
    """
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read()
    except FileNotFoundError:
        raise DatasetFileNotFound(f"{path}: file not found") from None
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None
    if len(data) < 4:
        raise DatasetError(f"{path}: not an IDX file (only {len(data)} bytes)")
    z0, z1, tcode, ndim = data[0], data[1], data[2], data[3]
    if z0 != 0 or z1 != 0 or tcode not in _IDX_TYPES or ndim == 0:
        raise DatasetError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    hdr = 4 + 4 * ndim
    if len(data) < hdr:
        raise DatasetError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * ndim, data[4:hdr])
    dt = np.dtype(_IDX_TYPES[tcode])
    n = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
    if len(data) - hdr != n:
        raise DatasetError(f"{path}: IDX header says {dims} ({n} data bytes) but the file holds "
                           f"{len(data) - hdr} data bytes")
    return np.frombuffer(data, dtype=dt, count=int(np.prod(dims)), offset=hdr).reshape(dims).astype(dt.newbyteorder("="))


def _folder_names(name):
    """Folder names a set may sit in: its name with ``_`` or ``-`` (and none)."""
    out = [name, name.replace("_", "-"), name.replace("_", "")]
    return _builtin_list(dict.fromkeys(out))


def _search_dirs(name, root):
    """``(directories to look in, where they came from)``: the explicit root, else
    ``IMCSIM_DATA``, else the system data directories."""
    if root is None:
        root = os.environ.get("IMCSIM_DATA") or None
        origin = "IMCSIM_DATA" if root else None
    else:
        origin = "root"
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DatasetFileNotFound(f"{root}: data directory for {name!r} not found ({origin})")
        return [root], origin
    dirs = [Path(d) for d in SYSTEM_DATA_DIRS if Path(d).is_dir()]
    return dirs, "system"


def _find(name, root, candidates, folders=None):
    dirs, origin = _search_dirs(name, root)
    folders = folders or _folder_names(name)
    tried = []
    for base in dirs:
        for d in [base] + [base / f for f in folders]:
            for c in candidates:
                if (d / c).exists():
                    return d / c
            tried.append(str(d))
    if origin == "system":
        raise DatasetError(
            f"dataset {name!r} is not shipped and was not found in {', '.join(SYSTEM_DATA_DIRS)}"
            f"/{{{','.join(folders)}}}: pass root=DIRECTORY (a study: dataset: {{name: {name}, root: DIR}}) "
            f"or set IMCSIM_DATA to the directory holding {candidates[0]}"
            + (" (Debian/Ubuntu: apt-get install dataset-fashion-mnist)" if name == "fashion_mnist" else ""))
    raise DatasetFileNotFound(f"{dirs[0] / candidates[0]}: file not found (also tried "
                              f"{', '.join(candidates[1:]) or 'nothing else'} in {', '.join(tried)})")


def find_root(name, root=None):
    """Directory holding the files of set ``name`` (``root``, ``IMCSIM_DATA`` or the
    system data directories), or raise :class:`DatasetError` saying where it looked."""
    info(name)
    if name == "digits":
        return _DATA_DIR
    first = "test_batch.bin" if name == "cifar10" else "t10k-images-idx3-ubyte"
    cands = [first] if name == "cifar10" else [first, first + ".gz", "t10k-images.idx3-ubyte"]
    folders = ["cifar-10-batches-bin"] + _folder_names(name) if name == "cifar10" else None
    return _find(name, root, cands, folders).parent


def available(name, root=None) -> bool:
    """Whether :func:`load` can find the files of ``name`` (``digits``: always)."""
    try:
        find_root(name, root)
        return True
    except DatasetError:
        return False


def _idx_set(name, split, root):
    prefix = "train" if split == "train" else "t10k"
    ipath = _find(name, root, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images-idx3-ubyte.gz",
                               f"{prefix}-images.idx3-ubyte"])
    lpath = _find(name, root, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels-idx1-ubyte.gz",
                               f"{prefix}-labels.idx1-ubyte"])
    images = read_idx(ipath)
    labels = read_idx(lpath)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(f"{ipath}: expected ubyte images of shape (N, rows, cols), found "
                           f"{images.dtype} {images.shape}")
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{ipath}: expected 28x28 images, found {images.shape[1]}x{images.shape[2]}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DatasetError(f"{lpath}: expected ubyte labels of shape (N,), found {labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{lpath}: {labels.shape[0]} labels but {ipath.name} holds {images.shape[0]} images")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{lpath}: label {int(labels.max())} out of range 0..9")
    return images, labels


# --------------------------------------------------------------------------- CIFAR-10
_CIFAR_RECORD = 1 + 3 * 32 * 32


def read_cifar10_batch(path):
    """Parse one CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes
    (1024 red, 1024 green, 1024 blue, row-major 32x32).  Returns (uint8 (N,3,32,32), uint8 (N,))."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetFileNotFound(f"{path}: file not found") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None
    if len(data) == 0 or len(data) % _CIFAR_RECORD:
        raise DatasetError(f"{path}: not a CIFAR-10 binary batch ({len(data)} bytes is not a multiple "
                           f"of the {_CIFAR_RECORD}-byte record)")
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = rec[:, 0].copy()
    if labels.max() > 9:
        raise DatasetError(f"{path}: label {int(labels.max())} out of range 0..9 (not a CIFAR-10 batch?)")
    return rec[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def _cifar10(split, root):
    files = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    xs, ys = [], []
    for fn in files:
        p = _find("cifar10", root, [fn], ["cifar-10-batches-bin"] + _folder_names("cifar10"))
        x, y = read_cifar10_batch(p)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


# --------------------------------------------------------------------------- user arrays
def load_arrays(path, x="x", y="y", limit=None):
    """The user's own arrays from an ``.npz`` file: ``(x float32 (N, ...), y int64 (N,))``.

    ``x`` and ``y`` name the arrays in the file.  Loaded with ``allow_pickle=False`` (an
    object array is refused); ``x`` must be numeric with a leading sample axis, ``y``
    integer-valued labels >= 0 of the same length.  Values are used as they are: scale
    the images the way the network was trained.
    """
    path = Path(path).expanduser()
    try:
        f = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetFileNotFound(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path}: not a readable .npz file ({e})") from None
    if not hasattr(f, "files"):
        raise DatasetError(f"{path}: expected an .npz archive of named arrays, found a single array")
    with f:
        arrays = {}
        for role, key in (("x", x), ("y", y)):
            if key not in f.files:
                raise DatasetError(f"{path}: no array {key!r} (dataset key {role}); the file holds "
                                   f"{', '.join(f.files) or 'nothing'}")
            try:
                arrays[role] = f[key]
            except ValueError as e:
                raise DatasetError(f"{path}: array {key!r} cannot be loaded without pickle ({e})") from None
    xa, ya = arrays["x"], arrays["y"]
    if xa.dtype.kind not in "biuf" or xa.ndim < 2:
        raise DatasetError(f"{path}: array {x!r} must be numeric with a sample axis (N, ...), found "
                           f"{xa.dtype} {xa.shape}")
    if ya.ndim != 1 or ya.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: array {y!r} must be a vector of integer labels (N,), found {ya.dtype} {ya.shape}")
    if ya.dtype.kind == "f" and not np.all(np.isfinite(ya) & (ya == np.round(ya))):
        raise DatasetError(f"{path}: array {y!r} must hold integer labels, found non-integer values")
    if len(ya) != len(xa):
        raise DatasetError(f"{path}: {len(ya)} labels in {y!r} but {len(xa)} samples in {x!r}")
    if ya.size and ya.min() < 0:
        raise DatasetError(f"{path}: array {y!r}: labels must be >= 0, found {int(ya.min())}")
    if xa.dtype.kind == "f" and not np.all(np.isfinite(xa)):
        raise DatasetError(f"{path}: array {x!r} holds NaN or infinite values")
    if limit is not None:
        limit = int(limit)
        if limit < 0:
            raise DatasetError(f"{path}: limit must be >= 0, got {limit}")
        xa, ya = xa[:limit], ya[:limit]
    return xa.astype(np.float32), ya.astype(np.int64)


# --------------------------------------------------------------------------- study specs
def load_spec(spec: dict):
    """Load what a study's ``dataset:`` names: ``{name, split, limit, root}`` (a named set)
    or ``{path, x, y, limit}`` (the user's arrays, :func:`load_arrays`)."""
    if spec.get("path") is not None:
        return load_arrays(spec["path"], spec.get("x") or "x", spec.get("y") or "y", spec.get("limit"))
    return load(spec["name"], split=spec.get("split") or "test", limit=spec.get("limit"),
                root=spec.get("root"))


def calibration_sample(spec: dict, size: int):
    """Inputs to calibrate on for the evaluation set ``spec`` names: the first ``size``
    images of the set's *training* split (never the evaluation set), or, for the user's
    arrays, the first ``size`` rows of the array named by ``calibration_x`` in the same
    file.  Raises :class:`DatasetError` when there is none."""
    size = int(size)
    if size < 1:
        raise DatasetError(f"calibration sample size must be >= 1, got {size}")
    if spec.get("path") is not None:
        key = spec.get("calibration_x")
        if not key:
            raise DatasetError(f"{spec['path']}: adc.range: calibrated needs a calibration sample from the "
                               f"training data: name its array with dataset: calibration_x: KEY")
        path = Path(spec["path"]).expanduser()
        try:
            with np.load(path, allow_pickle=False) as f:
                if key not in f.files:
                    raise DatasetError(f"{path}: no array {key!r} (dataset key calibration_x); the file "
                                       f"holds {', '.join(f.files)}")
                xa = f[key]
        except FileNotFoundError:
            raise DatasetFileNotFound(f"{path}: file not found") from None
        except (OSError, EOFError) as e:
            raise DatasetError(f"{path}: not a readable .npz file ({e})") from None
        except ValueError as e:
            raise DatasetError(f"{path}: array {key!r} cannot be loaded without pickle ({e})") from None
        if xa.dtype.kind not in "biuf" or xa.ndim < 2 or len(xa) == 0:
            raise DatasetError(f"{path}: array {key!r} (calibration_x) must be numeric (N, ...) with N >= 1, "
                               f"found {xa.dtype} {xa.shape}")
        return xa[:size].astype(np.float32)
    x, _ = load(spec["name"], split="train", limit=size, root=spec.get("root"))
    return x

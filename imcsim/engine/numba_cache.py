"""numba's on-disk cache for imcsim's kernels, keyed on the content of their source file.

numba (``cache=True``) finds a kernel's cache with its first *locator* that applies: next to
the source file (``__pycache__``) or in a user cache directory named after the file's
*path*; numba before 0.68 also treats the cache as stale as soon as the file's mtime
changes. Reinstalling the same version rewrites the files with new mtimes, and a new
virtual environment puts them on a new path: either way every kernel compiles again
(about 20-40 s on a 2-core machine). :class:`ContentCacheLocator`, placed first in numba's
list of locators when this module is imported (``imcsim.engine.kernels`` imports it before
its decorators run), keeps the cache of imcsim's own modules under::

    <root>/<module path>-<first 16 hex digits of the file's SHA-256>/

with the same hash as numba's freshness stamp, so any install of the same source finds
the cache, and an edited file gets a new directory (the old one is left in place; each
holds about 1 MB). numba still checks its own version, the function's bytecode and the
CPU in every index entry, so a cache built elsewhere is used only where it is valid.

``<root>``: ``$IMCSIM_CACHE_DIR/numba`` if set, else ``$NUMBA_CACHE_DIR/imcsim`` if numba's
own variable is set, else ``$XDG_CACHE_HOME/imcsim/numba`` (default ``~/.cache/imcsim/numba``).
``IMCSIM_NUMBA_CACHE=numba`` leaves the choice to numba's own locators. Files outside
imcsim's packages, and a root that cannot be written, fall through to numba's locators.
"""
from __future__ import annotations

import functools
import hashlib
import os

from numba.core import caching as _caching

#: the packages whose files this locator serves (directories next to this package)
_PACKAGES = ("imcsim", "device_models", "networks")
_HERE = os.path.dirname(os.path.abspath(__file__))
_SITE = os.path.dirname(os.path.dirname(_HERE))    # the directory holding the imcsim package


def cache_root() -> str:
    """The directory under which the kernels' caches are kept (see the module docstring)."""
    if os.environ.get("IMCSIM_CACHE_DIR"):
        return os.path.join(os.path.expanduser(os.environ["IMCSIM_CACHE_DIR"]), "numba")
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.path.join(os.path.expanduser(os.environ["NUMBA_CACHE_DIR"]), "imcsim")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "imcsim", "numba")


@functools.lru_cache(maxsize=None)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    # mtime and size only key the memo (a file edited while the process runs is re-hashed)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def source_digest(path: str) -> str:
    """SHA-256 (hex) of the file's content."""
    st = os.stat(path)
    return _digest(path, st.st_mtime_ns, st.st_size)


def _module_path(py_file: str) -> str | None:
    """``imcsim/engine/kernels`` for a file of one of imcsim's packages, else None."""
    path = os.path.abspath(py_file)
    rel = os.path.relpath(path, _SITE)
    if rel.startswith(os.pardir) or not rel.endswith(".py"):
        return None
    parts = rel[:-3].split(os.sep)
    if parts[0] not in _PACKAGES:
        return None
    return "/".join(parts)


class ContentCacheLocator(_caching._CacheLocator):
    """Cache of a function of imcsim's packages in a directory named by the module path and
    the SHA-256 of the source file; the same hash is the freshness stamp."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        mod = _module_path(py_file)
        digest = source_digest(py_file)
        self._stamp = digest
        self._cache_path = os.path.join(cache_root(), f"{mod.replace('/', '.')}-{digest[:16]}")

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return self._stamp

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.environ.get("IMCSIM_NUMBA_CACHE", "").strip().lower() == "numba":
            return None
        if not os.path.isfile(py_file) or _module_path(py_file) is None:
            return None
        try:
            self = cls(py_func, py_file)
            self.ensure_cache_path()
        except OSError:
            return None      # not writable: numba's own locators decide
        return self


def install() -> None:
    """Put :class:`ContentCacheLocator` first in numba's locator list (idempotent)."""
    impl = getattr(_caching, "CacheImpl", None) or getattr(_caching, "_CacheImpl")   # numba >= 0.68 / older
    classes = impl._locator_classes
    if ContentCacheLocator not in classes:
        classes.insert(0, ContentCacheLocator)


install()

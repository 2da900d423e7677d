"""The kernels' numba cache is keyed on the content of the source file (imcsim.engine.numba_cache)."""
import hashlib
import os
import shutil

from numba.core import caching

from imcsim.engine import kernels, numba_cache


def _impl():
    return getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")


def test_locator_is_first_and_serves_the_kernels(tmp_path, monkeypatch):
    monkeypatch.setenv("IMCSIM_CACHE_DIR", str(tmp_path))
    assert _impl()._locator_classes[0] is numba_cache.ContentCacheLocator
    f = kernels.mac_convert_accumulate.py_func
    loc = numba_cache.ContentCacheLocator.from_function(f, kernels.__file__)
    digest = hashlib.sha256(open(kernels.__file__, "rb").read()).hexdigest()
    assert loc.get_source_stamp() == digest
    assert loc.get_cache_path() == os.path.join(str(tmp_path), "numba", f"imcsim.engine.kernels-{digest[:16]}")
    assert os.path.isdir(loc.get_cache_path())
    # the dispatcher numba built at import uses this locator (the cache dir may differ: env at import)
    impl = kernels.mac_convert_accumulate._cache._impl
    assert type(getattr(impl, "locator", None) or impl._locator) is numba_cache.ContentCacheLocator


def test_same_content_elsewhere_same_cache_and_edit_changes_it(tmp_path, monkeypatch):
    """A reinstall rewrites the file (new mtime, maybe a new path): same content, same cache
    directory and stamp; an edited file gets another."""
    monkeypatch.setenv("IMCSIM_CACHE_DIR", str(tmp_path / "cache"))
    site = tmp_path / "site"
    (site / "imcsim" / "engine").mkdir(parents=True)
    copy = site / "imcsim" / "engine" / "kernels.py"
    shutil.copyfile(kernels.__file__, copy)
    os.utime(copy, (1e9, 1e9))
    monkeypatch.setattr(numba_cache, "_SITE", str(site))
    f = kernels.mac_convert_accumulate.py_func
    a = numba_cache.ContentCacheLocator.from_function(f, str(copy))
    monkeypatch.setattr(numba_cache, "_SITE", os.path.dirname(os.path.dirname(numba_cache._HERE)))
    b = numba_cache.ContentCacheLocator.from_function(f, kernels.__file__)
    assert a.get_cache_path() == b.get_cache_path()
    assert a.get_source_stamp() == b.get_source_stamp()
    monkeypatch.setattr(numba_cache, "_SITE", str(site))
    with open(copy, "a") as fh:
        fh.write("\n# edited\n")
    c = numba_cache.ContentCacheLocator.from_function(f, str(copy))
    assert c.get_source_stamp() != a.get_source_stamp()
    assert c.get_cache_path() != a.get_cache_path()


def test_other_files_and_opt_out_fall_through(tmp_path, monkeypatch):
    f = kernels.mac_convert_accumulate.py_func
    other = tmp_path / "mod.py"
    other.write_text("x = 1\n")
    assert numba_cache.ContentCacheLocator.from_function(f, str(other)) is None
    monkeypatch.setenv("IMCSIM_NUMBA_CACHE", "numba")
    assert numba_cache.ContentCacheLocator.from_function(f, kernels.__file__) is None

"""Running a study: seeding, computing points in-process or on dask, assembling the result.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time

import numpy as np

from imcsim import __version__
from imcsim.errors import StudyError, bad_input_types
from imcsim.report.summary import summary_table
from imcsim.study.progress import Progress
from imcsim.study.resolve import (
    _card_cached,
    _dataset_cached,
    _dataset_digest,
    _network_cached,
    _network_digest,
    _one_line,
)
from imcsim.study.schema import Point, Study
from imcsim.study.store import (
    POINT_FILE,
    PointProblem,
    PointsLocked,
    _read_manifest,
    _stored_points,
    _write_atomic,
    _write_manifest,
    lock_points,
    read_point,
    remove_points,
    study_identity,
    write_point,
)
from imcsim.study.validate import _check_output_dir, validate_study

SCHEDULER_TIMEOUT_S = 5.0
#: How long a run waits for a scheduler given by --scheduler to have one worker [s].
WORKER_WAIT_S = 30.0
#: Most local dask worker processes per core of this machine (``--workers``): more only
#: adds processes (about 150 MB each) that wait for a core.
MAX_WORKERS_PER_CORE = 2


def max_workers() -> int:
    """The largest ``--workers`` accepted on this machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return MAX_WORKERS_PER_CORE * max(1, cores)


def point_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of point ``index``: the index-th child of the study seed."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(index),))


def compute_point(spec: dict):
    """Simulate one point (runs in-process or on a dask worker). ``spec`` holds only plain
    values, so it travels to any worker; returns simulate's dataset with point attrs."""
    from imcsim.simulation import simulate

    net = _network_cached(spec["network"])
    if not net.has_weights:  # a workload-only network: cost from layer shapes, no accuracy
        return _estimate_point(spec, net)
    ds = spec["dataset"]
    x, y = _dataset_cached(ds)
    # the files this worker reads are the ones the run hashed (an edit during the run
    # would put two weight sets or data sets under one hash)
    changed = [what for what, want, got in (
        ("network", spec.get("network_digest"), lambda: _network_digest(spec["network"])),
        ("data", spec.get("data_digest"),
         lambda: _dataset_digest(ds)))
        if want is not None and got() != want]
    if changed:
        raise StudyError(f"the {' and '.join(changed)} files changed during the run (they "
                         "differ from what the study hash covers); run again", None,
                         "network" if "network" in changed else "dataset")
    card = _card_cached(spec["hardware"])
    if spec["overrides"]:
        card = card.replace(**spec["overrides"])
    # adc.range: calibrated calibrates on the training data of the study's data set
    cal = {"calibration": ds} if card["adc.range"] == "calibrated" else {}
    import warnings

    with warnings.catch_warnings():   # validate_study already warned, once per ADC configuration
        warnings.filterwarnings("ignore", category=UserWarning, message=".*ADC converts")
        result = simulate(net, card, x, y, trials=spec["trials"],
                          seed=point_seed(spec["seed"], spec["index"]), batch=spec.get("batch"), **cal)
    result.attrs["imcsim_point_index"] = int(spec["index"])
    result.attrs["imcsim_study_hash"] = spec["hash"]
    return result


def _compute_point_task(spec: dict):
    """``compute_point`` as a dask task: bad input comes back as a value, not an exception,
    so the worker logs no "Compute Failed" traceback for it (the run names it in one line)."""
    try:
        return compute_point(spec)
    except bad_input_types() as exc:
        return {"imcsim_bad_input": _one_line(exc)}


def _estimate_point(spec: dict, net):
    """The cost-only point of a workload-only network (``report.estimate_dataset``: events
    from the layer shapes at the peak rule's data densities; accuracy NaN)."""
    from imcsim.report.dataset import estimate_dataset

    card = _card_cached(spec["hardware"])
    if spec["overrides"]:
        card = card.replace(**spec["overrides"])
    result = estimate_dataset(net, card)
    result.attrs["imcsim_point_index"] = int(spec["index"])
    result.attrs["imcsim_study_hash"] = spec["hash"]
    return result


def _spec(study: Study, point: Point, digest: str) -> dict:
    spec = {"index": point.index, "network": point.network, "hardware": point.hardware,
            "dataset": dict(study.dataset), "overrides": dict(point.overrides),
            "trials": study.trials, "seed": study.seed, "batch": study.batch, "hash": digest}
    try:  # cached per file stamp: cheap per point
        spec["network_digest"] = _network_digest(point.network)
        d = study.dataset
        spec["data_digest"] = _dataset_digest(d)
    except (*bad_input_types(), OSError):
        pass
    return spec


# --------------------------------------------------------------------------- running
def _connect(scheduler, workers):
    """-> (client, cluster_or_None, owned). ``scheduler`` may be an address or a Client."""
    try:
        import distributed
    except ImportError:
        raise StudyError("dask.distributed is not installed; pip install "
                         "'imcsim[distributed]'", None, "--workers/--scheduler") from None
    if scheduler is not None and not isinstance(scheduler, str):
        if isinstance(scheduler, distributed.Client):
            return scheduler, None, False
        return distributed.Client(scheduler), None, True  # a cluster object
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise StudyError(f"scheduler {scheduler!r} did not answer within "
                             f"{SCHEDULER_TIMEOUT_S:g} s ({_one_line(exc) or 'timeout'}); "
                             "expected the address of a running 'dask scheduler', such as "
                             "tcp://HOST:8786", None, "--scheduler") from None
        try:  # a scheduler without workers would take the tasks and never run them
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (TimeoutError, OSError, distributed.TimeoutError):
            client.close()
            raise StudyError(f"scheduler {scheduler!r} has no workers (waited "
                             f"{WORKER_WAIT_S:g} s); start some with `dask worker "
                             f"{scheduler}`", None, "--scheduler") from None
        return client, None, True
    import logging

    # one point per worker process at a time, and numba's threads to match (no
    # oversubscription: N workers on N cores)
    one = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR, env=one)
    return distributed.Client(cluster), cluster, True


def run_study(source, workers: int | None = None, scheduler=None, resume: bool = False,
              progress: bool = True, *, out_dir=None, plots: bool | None = None,
              stream=None, summary: bool | None = None):
    """Run a study (path, shipped study name or dict) and return the result dataset. Writes
    files: every point under ``<outputs.dir>/<study>.points/``, the result
    ``<outputs.dir>/<study>.nc`` and the study's plots (``plots=False``: none); ``out_dir``
    puts them elsewhere (a temporary directory, for a script that wants only the dataset).

    ``workers``: start a local dask cluster of that many worker processes; ``scheduler``:
    the address of a running dask scheduler (or a ``distributed.Client``); neither:
    in-process. ``resume``: keep the points already stored for this same study and
    compute only the missing ones. ``out_dir`` overrides ``outputs.dir``; ``plots=False``
    skips the plots (default: draw the study's plots); ``summary`` prints the summary table
    (default: when ``progress``). Writes ``<dir>/<study>.nc`` atomically.
    """
    stream = stream if stream is not None else sys.stderr
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise StudyError(f"expected an integer >= 1, got {workers!r}", None, "--workers")
    if workers is not None and int(workers) > max_workers():
        raise StudyError(f"expected at most {max_workers()} local worker processes "
                         f"({MAX_WORKERS_PER_CORE} per core of this machine), got {workers}; "
                         "for more, start workers on other machines and use --scheduler",
                         None, "--workers")
    if out_dir is not None and not str(out_dir).strip():
        raise StudyError("expected a directory path, got ''", None, "--out")
    if workers is not None and scheduler is not None:
        raise StudyError("give either --workers or --scheduler, not both", None,
                         "--scheduler")
    study = validate_study(source, out_dir=out_dir)
    digest = study.content_hash()
    pdir = study.points_dir()
    points = study.points()
    _check_output_dir(study, create=True)
    try:
        pdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise study.error(f"cannot create {str(pdir)!r}: {exc.strerror}", "outputs",
                          "dir") from None

    try:
        with lock_points(pdir):
            return _run_locked(study, digest, pdir, points, resume, workers, scheduler,
                               progress, plots, stream, summary)
    except PointsLocked as exc:
        who = f" (process {exc.args[0]})" if exc.args and exc.args[0] else ""
        raise study.error(f"another imcsim run{who} is writing to {pdir}; wait for it to "
                          "finish, or give this run another --out DIR", "outputs", "dir") from None


def _run_locked(study, digest, pdir, points, resume, workers, scheduler, progress, plots,
                stream, summary):
    n = len(points)
    manifest = _read_manifest(pdir)
    if manifest is not None:
        other = manifest.get("source")
        mine = study_identity(study)
        if other and mine and other != mine and manifest.get("hash") != digest:
            raise study.error(
                f"{pdir} holds the points of another study file with the same name "
                f"({other}); they are kept. Give this study another name or another "
                "--out DIR (or delete that folder to start over)", "study")
    if resume:
        if manifest is not None and manifest.get("hash") != digest:
            raise study.error(
                f"--resume: {pdir} holds points of a different version of this study "
                f"(hash {manifest.get('hash')}, now {digest}: the study, its card, network "
                "or data files changed); run without --resume to start over", "study")
        done = _stored_points(pdir, digest, n)
    else:
        done = set()
    todo = [p for p in points if p.index not in done]

    client = cluster = None
    owned = False
    if todo and (workers is not None or scheduler is not None):
        try:  # before anything on disk changes: a dead scheduler is bad input
            client, cluster, owned = _connect(scheduler, workers)
        except StudyError as exc:
            exc.file = exc.file or study.file
            raise StudyError(exc.message, exc.file, exc.key, exc.line) from None
    try:
        with _disk_errors(study, pdir):
            if not resume:
                remove_points(pdir)
            _write_manifest(pdir, study, digest)
        if progress:
            where = ("in-process" if client is None else
                     f"{workers} local dask worker(s)" if workers is not None else
                     f"dask scheduler {scheduler}" if isinstance(scheduler, str) else "dask")
            dims = " x ".join(f"{d.name}[{d.size}]" for d in study.dims) or "one point"
            print(f"{study.name}: {n} point(s) ({dims}) x {study.trials} trial(s), "
                  f"{study.network} on {study.hardware}, {where}", file=stream, flush=True)
        bar = Progress(n, len(done), stream=stream, enabled=progress)

        def store(res, point):
            with _disk_errors(study, pdir):
                write_point(res, pdir, point.index)
            bar.update(point.label())

        try:
            if client is None:
                for p in todo:
                    try:
                        res = compute_point(_spec(study, p, digest))
                    except bad_input_types() as exc:
                        raise _point_error(study, p, exc) from None
                    store(res, p)
            else:
                with _quiet_distributed():
                    _run_dask(client, study, todo, digest, store)
        finally:
            bar.close()
    finally:
        if owned:
            with _quiet_distributed():
                with contextlib.suppress(Exception):
                    client.close()
                if cluster is not None:
                    cluster.close()

    result = assemble(study, digest)
    with _disk_errors(study, study.result_path().parent):
        _write_atomic(result, study.result_path())
    if summary if summary is not None else progress:
        print(summary_table(result), file=sys.stdout, flush=True)
        print(f"wrote {study.result_path()}", file=sys.stdout, flush=True)
    if plots if plots is not None else True:
        _draw_plots(study, result, stream, verbose=summary if summary is not None else progress)
    return result


@contextlib.contextmanager
def _disk_errors(study: Study, where):
    """A write that fails for want of space, quota or permission is bad input (exit 2):
    one line naming the folder and the reason (temporary files are removed by the writers)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _DISK_ERRNOS:
            raise
        raise study.error(f"cannot write in {where}: {exc.strerror or exc}", "outputs",
                          "dir") from None


_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                errno.EFBIG, errno.ENAMETOOLONG}


def _run_dask(client, study, todo, digest, store):
    """One task per point; results come back here and are written here (workers need no
    shared disk)."""
    import distributed

    lost = _lost_errors()
    by_key = {}
    futures = []
    try:
        for p in todo:
            fut = client.submit(_compute_point_task, _spec(study, p, digest), pure=False,
                                key=f"imcsim-{study.name}-{digest}-{p.index}-{time.time_ns()}")
            by_key[fut.key] = p
            futures.append(fut)
        for fut in distributed.as_completed(futures):
            p = by_key[fut.key]
            try:
                res = fut.result()
            except bad_input_types() as exc:
                raise _point_error(study, p, exc) from None
            except lost as exc:
                if isinstance(exc, OSError) and exc.errno is not None:
                    raise
                raise _lost(study, exc) from None
            except Exception as exc:
                if "deserializ" in str(exc) or isinstance(exc, (ImportError, ModuleNotFoundError)):
                    raise RuntimeError(
                        "the dask scheduler or a worker cannot load imcsim's task: install "
                        "imcsim (the same version) in the environment of the scheduler and of "
                        f"every worker ({_one_line(exc)})") from exc
                raise
            if isinstance(res, dict) and "imcsim_bad_input" in res:
                label = p.label() or "the single point"
                raise StudyError(f"point {p.index} ({label}) cannot be simulated: "
                                 f"{res['imcsim_bad_input']}", study.file, None)
            store(res, p)
    except lost as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a file error of this machine, not the connection
        raise _lost(study, exc) from None
    finally:
        for fut in futures:
            with contextlib.suppress(Exception):
                fut.cancel()


@contextlib.contextmanager
def _quiet_distributed():
    """The dask client logs a lost connection with tracebacks of its own; the run says it
    in one line instead (the levels are put back afterwards)."""
    import logging

    quiet = [logging.getLogger(n) for n in ("distributed.client", "distributed.core",
                                            "distributed.comm", "distributed.batched",
                                            "distributed.utils", "distributed.semaphore")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, lv in zip(quiet, levels):
            lg.setLevel(lv)


def _lost(study: Study, exc) -> StudyError:
    """A lost scheduler or worker, like one that never answered: one line, exit status 2."""
    return StudyError(f"lost the dask scheduler or its workers ({type(exc).__name__}: "
                      f"{_one_line(exc)}); the finished points are kept: run again with "
                      "--resume", study.file, "--scheduler")


def _lost_errors() -> tuple:
    """Exceptions that mean the connection to the scheduler or a worker was lost."""
    out = [TimeoutError, OSError]  # a comm timeout is an OSError without errno
    try:
        from distributed import KilledWorker
        from distributed.comm import CommClosedError

        out += [KilledWorker, CommClosedError]
    except ImportError:  # pragma: no cover
        pass
    import asyncio
    import concurrent.futures

    out += [asyncio.CancelledError, concurrent.futures.CancelledError]
    return tuple(out)


def _point_error(study: Study, point: Point, exc) -> StudyError:
    """A bad-input error raised while simulating a point, naming the study and point."""
    if isinstance(exc, StudyError):
        return exc
    label = point.label() or "the single point"
    return StudyError(f"point {point.index} ({label}) cannot be simulated: {_one_line(exc)}",
                      study.file, None)


def _draw_plots(study, result, stream, verbose=True):
    kinds = study.outputs["plots"]
    if not kinds:
        return
    from imcsim import plot

    fmt = study.outputs.get("format", "png")
    for kind in kinds:
        path = study.output_dir() / f"{study.name}_{kind}.{fmt}"
        try:
            plot.plot(result, kind, path, fmt=fmt, dpi=study.outputs.get("dpi"))
        except plot.PlotError as exc:
            print(f"imcsim: skipped plot {kind}: {exc}", file=stream)
            continue
        if verbose:
            print(f"wrote {path}", file=sys.stdout, flush=True)


# --------------------------------------------------------------------------- assembling
def assemble(study: Study, digest: str | None = None):
    """Stack the stored points of a study into the result dataset."""
    digest = digest or study.content_hash()
    pdir = study.points_dir()
    point_ds = []
    for p in study.points():
        try:
            ds = read_point(pdir, p.index, digest)
        except PointProblem as exc:
            f = pdir / POINT_FILE.format(p.index)
            raise study.error(f"cannot assemble: point file {f} is unusable: {exc}; rerun "
                              "with --resume to compute it again", "study") from None
        for k in ("imcsim_point_index", "imcsim_study_hash"):
            ds.attrs.pop(k, None)
        point_ds.append(ds)
    result = _stack(study, point_ds)
    hw = [v for d in study.dims for v in d.members.get("hardware", [])] or [study.hardware]
    cards = [_card_cached(study.resolved_hardware(v)) for v in dict.fromkeys(hw)]
    result.attrs["hardware"] = "---\n".join(c.dump() for c in cards)
    result.attrs["hardware_name"] = ", ".join(dict.fromkeys(str(c.name) for c in cards))
    result.attrs["study"] = study.name
    result.attrs["study_text"] = study.text
    result.attrs["study_file"] = str(study.file)
    from imcsim.study.provenance import provenance

    result.attrs.update(provenance(study))
    result.attrs["study_hash"] = digest
    result.attrs["seed"] = int(study.seed)
    result.attrs["trials"] = int(study.trials)
    result.attrs["sweep_dims"] = json.dumps([d.name for d in study.dims])
    result.attrs["sweep_spec"] = json.dumps(
        [{"name": d.name, "kind": d.kind, "paths": d.paths} for d in study.dims])
    result.attrs.setdefault("imcsim_version", __version__)
    return result


def _stack(study: Study, point_ds: list):
    """Stack per-point datasets into one with a dimension per sweep dimension (report's
    ``stack``); members of zip groups other than the one naming the dimension become
    extra coordinates along it."""
    from imcsim import report
    from imcsim.report.dataset import _coord_values

    dims = study.dims
    labels = {d.name: d.labels() for d in dims}
    pts = []
    for p, ds in zip(study.points(), point_ds):
        pts.append(({d.name: labels[d.name][i] for d, i in zip(dims, p.position)}, ds))
    out = report.stack(pts, labels)
    for d in dims:
        out[d.name].attrs["parameter"] = ", ".join(d.paths)
        out[d.name].attrs["sweep_kind"] = d.kind
        for path, vals in d.members.items():
            if path != d.name:
                out = out.assign_coords({path: (d.name, _coord_values(vals))})
                out[path].attrs.update(parameter=path, long_name=path)
    varying = _varying_attrs(point_ds) if len(point_ds) > 1 else set()
    for k in varying:
        if k not in ("hardware", "hardware_name"):
            out.attrs.pop(k, None)
    return out


def _varying_attrs(dss) -> set:
    keys = set()
    first = dss[0].attrs
    for ds in dss[1:]:
        for k, v in ds.attrs.items():
            if k not in first or not _same(first[k], v):
                keys.add(k)
    return keys


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.all(a == b))

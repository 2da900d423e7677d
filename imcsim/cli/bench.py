"""``imcsim bench``: throughput of the engine against a numpy float32 GEMM, measured in pairs.

Workload W1: ternary weights K x N = 1152 x 256 from
``default_rng(0).integers(-1, 2)``; B = 4096 unsigned 4-bit inputs from
``default_rng(1).integers(0, 16)`` (ternary variant: ``default_rng(1).integers(-1, 2)``);
tiles 256 x 256 (K splits 256, 256, 256, 256, 128), bit-serial inputs (one plane per
access), a 6-bit ADC per column per access (differential sensing: one conversion of
BL - BLB per column, sign-magnitude, 63 levels over +-L, full range), digital shift-and-add.

W1 cases: (a) ideal devices, L = 256; (b) mismatch 5 % + read noise 2 % of one cell's swing
per cell, L = 256; (c) as (b) with L = 16; (d) ternary inputs on the devices of (b).
Dual-rail variants ``a-dual``, ``b-dual``, ``c-dual``: the same with ``adc.sensing: dual``
(each rail converted by its own 6-bit unsigned ADC over [0, L]: twice the conversions of
W1). Every other non-ideality of the card (keys ending in ``_sigma``, faults, saturation)
is off.

Network case ``w2``: a VGG-small-shaped ternary CIFAR-10 network on the card as
shipped (default ``tim_dnn_32nm``): conv 3x3 padding 1, 3 -> 128 (unsigned4 inputs) -> 128
-> maxpool -> 256 -> 256 -> maxpool -> 512 -> 512 -> maxpool -> fc 8192 -> 10 (full
precision), ternary weights (random, ``Network.init(0)``), batch norm whose statistics are
those of the pre-activations on the benchmark's images (so ternarize at delta 0.5 leaves
about 38 % zeros; the fraction measured is printed), random 32 x 32 x 3 images
(``default_rng(2)``); 608 M crossbar MACs per image; error tracking on, as in
``imcsim.simulate``. Reported as images/s and as the ratio to the float32 GEMMs of the six
crossbar layers' im2col shapes for the same images (the same MAC count). ``trial`` times a
fresh chip instance (drawing it and building its tables) plus the images; ``steady`` the
images on a chip already built; the time spent drawing the chip instance and building its
tables is timed inside the trial runs.

How a pair is timed (the machine is shared and noisy: the ratio is the number to compare):
for each of ``--repeat`` pairs, GEMM then case, interleaved (GEMM, case, GEMM, case, ...);
the GEMM slot is the best of 3 back-to-back calls, the case slot one run. Before every
slot, idle threads are parked: OpenBLAS worker threads spin for ~0.1 s after a GEMM (and
numba's OpenMP threads briefly after a kernel), taking a core from whatever runs next; the
bench sleeps until the process uses under 5 % of a core over 10 ms (at most 1 s), and
reports the waits. Reported per case: the median and range of the per-pair ratios
GEMM time / case time, median times, the peak resident memory of the process while the
case ran (``VmHWM`` reset per case through ``/proc/self/clear_refs``; the process's
``ru_maxrss`` where that is unavailable) and in brackets its rise above the resident memory
at the start of the case (what the case itself needed: the process keeps the memory of
compiling the kernels and of earlier cases), and the share of the machine's CPUs that
other processes took meanwhile (from ``/proc/stat``). A warm-up run (compiling the kernels) precedes
the pairs. The 1-minute load average is printed before and after.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np

#: the goals (x GEMM, median of the pairs); None: no goal
TARGETS = {"a": 0.25, "b": 0.15, "c": 0.05, "d": None, "a-dual": None, "b-dual": None,
           "c-dual": None, "w2": 0.05}
RSS_TARGET_MB = 400.0          #: the bound for the W1 cases
W2_RSS_TARGET_MB = 1024.0      #: the bound for W2: under 1 GB
ALL_CASES = ("a", "b", "c", "d", "a-dual", "b-dual", "c-dual", "w2")
DEFAULT_CASES = "a,b,c,d,a-dual,b-dual,c-dual,w2"

#: W1 cases: rows per access, noisy devices, input encoding, sensing
W1_SPEC = {
    "a": (256, False, "unsigned4", "differential"),
    "b": (256, True, "unsigned4", "differential"),
    "c": (16, True, "unsigned4", "differential"),
    "d": (256, True, "ternary", "differential"),
    "a-dual": (256, False, "unsigned4", "dual"),
    "b-dual": (256, True, "unsigned4", "dual"),
    "c-dual": (16, True, "unsigned4", "dual"),
}
LABELS = {
    "a": "(a) ideal devices, L=256, 4-bit inputs",
    "b": "(b) mismatch 5% + noise 2%, L=256",
    "c": "(c) as (b), L=16",
    "d": "(d) ternary inputs, devices of (b), L=256",
    "a-dual": "(a) dual-rail variant (2 conversions/column)",
    "b-dual": "(b) dual-rail variant",
    "c-dual": "(c) dual-rail variant",
    "w2": "W2 VGG-small ternary CIFAR-10 net",
}

W2_LAYERS = [  # (name, c_in, c_out, pool after)
    ("conv1", 3, 128, False), ("conv2", 128, 128, True), ("conv3", 128, 256, False),
    ("conv4", 256, 256, True), ("conv5", 256, 512, False), ("conv6", 512, 512, True),
]


# ----------------------------------------------------------------------------- cases
def parse_cases(text: str) -> list[str]:
    """Case ids from ``--cases``: comma-separated ids (``a,b-dual,w2``); a token without a
    comma that is not an id is read letter by letter (``abcd``, as before)."""
    out = []
    for tok in str(text).replace(" ", "").split(","):
        if not tok:
            continue
        if tok in ALL_CASES:
            out.append(tok)
        elif all(ch in ALL_CASES for ch in tok):
            out.extend(tok)
        else:
            raise ValueError(f"--cases: expected letters of abcd or comma-separated case ids "
                             f"({', '.join(ALL_CASES)}), got {text!r}")
    return out


def w1_card(base: str, L: int, noisy: bool, sensing: str = "differential"):
    """The card of a W1 case: ``base`` with W1's tile and ADC, and every non-ideality off
    except the case's mismatch and read noise."""
    import device_models as dm

    card = dm.load_card(base)
    over = {}
    for k in card.keys():   # every other non-ideality off, whatever the card's version names
        if k.split(".")[0] in ("cell", "bitline", "adc") and (k.endswith("_sigma") or k.endswith("_sigma_mv")):
            over[k] = 0.0
    over.update({
        "tile.rows": 256, "tile.columns": 256, "tile.rows_per_access": L,
        "adc.bits": 6, "adc.range": "full", "adc.share": 1, "adc.levels": None,
        "adc.sensing": sensing, "adc.signed_format": "sign_magnitude", "adc.offset_sigma_mv": 0.0,
        "adc.gain_sigma": 0.0, "adc.grid": "uniform", "adc.thresholds": None, "adc.code_values": None,
        "adc.follow_saturation": False, "adc.noise_sigma_mv": 0.0, "technology.temperature_k": 0.0,
        "cell.row_gain_sigma": 0.0, "cell.current_corner": 0.0, "bitline.domain": "current",
        "cell.cap_mismatch_sigma": 0.0,
        "bitline.saturation": "none", "cell.fault_rate": 0.0, "cell.kind": "ternary",
        "chip.tiles": max(64, int(card["chip.tiles"])),
        "cell.mismatch_sigma": 0.05 if noisy else 0.0,
        "bitline.read_noise_sigma": 0.02 if noisy else 0.0,
    })
    return card.replace(**over)


# Kept for callers of the former bench (dual-rail, as it measured before).
def _card(base: str, L: int, noisy: bool):
    return w1_card(base, L, noisy, "dual")


def w2_network(images: np.ndarray, seed: int = 0):
    """The W2 network (see the module docstring) with batch-norm statistics measured on
    ``images`` through the exact backend; returns (network, fraction of zero activations)."""
    import networks
    from networks.layers import Context, run_sequence

    specs = []
    for i, (name, cin, cout, pool) in enumerate(W2_LAYERS):
        conv = {"type": "conv2d", "name": name, "in": cin, "out": cout, "kernel": [3, 3],
                "stride": [1, 1], "padding": [1, 1], "weights": "ternary", "bias": False}
        if i == 0:
            conv.update(inputs="unsigned4", input_clip=1.0)
        else:
            conv.update(inputs="ternary", input_delta=0.5)
        specs += [conv, {"type": "batchnorm", "name": f"bn{i + 1}", "channels": cout},
                  {"type": "ternarize", "name": f"act{i + 1}", "delta": 0.5}]
        if pool:
            specs.append({"type": "maxpool", "name": f"pool{i + 1}", "kernel": [2, 2], "stride": [2, 2],
                          "padding": [0, 0]})
    specs += [{"type": "flatten", "name": "flat"},
              {"type": "dense", "name": "fc", "in": 8192, "out": 10, "weights": "fp", "inputs": "fp",
               "bias": True}]
    net = networks.model.from_spec({"name": "w2_vgg_small_cifar10", "input_shape": [3, 32, 32],
                                    "classes": 10, "layers": specs}, "W2")
    net.init(seed)
    ctx = Context(networks.ExactBackend(), fold=False)
    x = net._prepare(images)
    zeros = total = 0
    for i, l in enumerate(net.layers):   # statistics layer by layer, on the data it will see
        if isinstance(l, networks.BatchNorm):
            axes = (0, 2, 3)
            l.gamma, l.beta = np.ones(l.channels), np.zeros(l.channels)
            l.mean, l.var = x.mean(axis=axes), x.var(axis=axes)
        x = run_sequence([l], x, ctx)
        if isinstance(l, networks.Ternarize):
            zeros += int(np.count_nonzero(x == 0))
            total += x.size
    return net, zeros / max(total, 1)


# ----------------------------------------------------------------------------- measuring
def park(max_wait: float = 1.0, step: float = 0.01, idle: float = 0.05) -> float:
    """Sleep until this process uses under ``idle`` of a core over ``step`` seconds (spinning
    BLAS / OpenMP threads gone to sleep), at most ``max_wait``; returns the seconds waited."""
    t0 = time.perf_counter()
    while True:
        c0, w0 = time.process_time(), time.perf_counter()
        time.sleep(step)
        if time.process_time() - c0 <= idle * (time.perf_counter() - w0):
            break
        if time.perf_counter() - t0 >= max_wait:
            break
    return time.perf_counter() - t0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mb(resettable: bool) -> float:
    if resettable:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def blas_info() -> dict:
    """The BLAS numpy runs: threadpoolctl's report if installed, else OpenBLAS asked directly."""
    info = {"env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL_", "NUMBA_"))}}
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads",
                                                      "architecture", "threading_layer")}
                               for d in threadpool_info()]
        return info
    except ImportError:
        pass
    try:
        libs = sorted({ln.split()[-1] for ln in open("/proc/self/maps") if "openblas" in ln.lower()
                       and ln.split()[-1].endswith(tuple([".so"] + [f".so.{i}" for i in range(10)]))})
    except OSError:
        libs = []
    for path in libs:
        lib = ctypes.CDLL(path)
        for pre in ("scipy_openblas_", "openblas_"):
            for suf in ("64_", ""):
                core = getattr(lib, f"{pre}get_corename{suf}", None)
                nthr = getattr(lib, f"{pre}get_num_threads{suf}", None)
                if core is not None:
                    core.restype = ctypes.c_char_p
                    info["openblas"] = {"library": os.path.basename(path), "core": core().decode(),
                                        "num_threads": int(nthr()) if nthr is not None else None}
                    return info
    return info


def _cpu_snapshot():
    """(busy CPU seconds of the whole machine, CPU seconds of this process, wall time)."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")   # all but idle, iowait
    except (OSError, ValueError, IndexError):
        busy = float("nan")
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return busy, ru.ru_utime + ru.ru_stime, time.perf_counter()


def _others_share(s0, s1) -> float:
    """Fraction of the machine's CPUs taken by other processes between two snapshots."""
    wall = s1[2] - s0[2]
    if not wall > 0:
        return float("nan")
    return max(0.0, ((s1[0] - s0[0]) - (s1[1] - s0[1])) / (wall * (os.cpu_count() or 1)))


def _time(fn, n: int = 1) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _pairs(gemm, case, repeat: int, do_park: bool, extra=None):
    """``repeat`` interleaved pairs: (GEMM best of 3, one case run[, extra run])."""
    g, c, e, waits = [], [], [], []
    for _ in range(repeat):
        if do_park:
            waits.append(park())
        g.append(_time(gemm, 3))
        if do_park:
            waits.append(park())
        c.append(_time(case))
        if extra is not None:
            if do_park:
                waits.append(park())
            e.append(_time(extra))
    return g, c, e, waits


def _summary(g, c, work):
    ratios = [gi / ci for gi, ci in zip(g, c)]
    return {"ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "ratios": ratios, "seconds_median": statistics.median(c), "gemm_seconds_median": statistics.median(g),
            "seconds": c, "gemm_seconds": g, "rate_median": work / statistics.median(c)}


# ----------------------------------------------------------------------------- the run
def run(base: str = "tim_dnn_32nm", batch: int = 4096, repeat: int = 3, cases: str = DEFAULT_CASES,
        out=None, images: int = 8, w2_card: str | None = None, do_park: bool = True) -> dict:
    """Run the cases; print a table to ``out`` (None: ``sys.stdout`` at call time; False:
    silent) and return the results dict."""
    import numba

    import device_models as dm
    from imcsim import __version__
    from imcsim.engine import ImcBackend

    ids = parse_cases(cases) if isinstance(cases, str) else list(cases)
    out = sys.stdout if out is None else out  # the stream at call time, not at import
    say = (lambda *a: print(*a, file=out, flush=True)) if out is not False else (lambda *a: None)
    resettable = _reset_peak()
    res = {"imcsim": __version__, "numpy": np.__version__, "numba": numba.__version__,
           "python": platform.python_version(), "machine": platform.machine(),
           "cpu": _cpu_model(), "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
           "load_1min_before": os.getloadavg()[0], "repeat": repeat, "parked": do_park,
           "blas": blas_info(), "peak_memory": "VmHWM per case" if resettable else "ru_maxrss (process)",
           "cases": {}}
    say(f"imcsim {__version__} bench; 1-minute load {res['load_1min_before']:.2f} on {res['cpus']} CPUs; "
        f"numba threads {res['numba_threads']}; BLAS {_blas_line(res['blas'])}")
    say(f"pairs: {repeat} x (GEMM best of 3, case) interleaved{', idle threads parked' if do_park else ''}; "
        "ratio = GEMM time / case time (median, range); "
        "others: share of the machine's CPUs taken by other processes while the case ran")
    say(f"{'case':<46} {'ms':>8} {'rate':>13} {'x GEMM':>7} {'range':>13} {'goal':>5} {'met':>4} {'peak MB (+case)':>15} {'others':>6}")
    w1 = [c for c in ids if c != "w2"]
    if w1:
        K, N = 1152, 256
        w = np.random.default_rng(0).integers(-1, 2, size=(K, N)).astype(np.int8)
        x4 = np.random.default_rng(1).integers(0, 16, size=(batch, K)).astype(np.int8)
        xt = np.random.default_rng(1).integers(-1, 2, size=(batch, K)).astype(np.int8)
        a32, b32 = x4.astype(np.float32), w.astype(np.float32)
        macs = batch * K * N
        res["w1"] = {"B": batch, "K": K, "N": N, "macs": macs, "card": base}
        for c in w1:
            L, noisy, enc, sensing = W1_SPEC[c]
            card = w1_card(base, L, noisy, sensing)
            x = x4 if enc == "unsigned4" else xt

            def case():
                ImcBackend(card, seed=0, track_error=False).matmul(x, w, encoding=enc, layer="w1")

            ImcBackend(card, seed=0, track_error=False).matmul(x[:64], w, encoding=enc, layer="w1")
            a32 @ b32
            _reset_peak()
            rss0 = _rss_mb()
            s0 = _cpu_snapshot()
            g, t, _, waits = _pairs(lambda: a32 @ b32, case, repeat, do_park)
            r = _summary(g, t, macs)
            r["others_cpu_share"] = _others_share(s0, _cpu_snapshot())
            r.update(label=LABELS[c], sensing=sensing, rows_per_access=L, encoding=enc, target=TARGETS[c],
                     peak_mb=_peak_mb(resettable), rss_start_mb=rss0, park_waits_s=waits,
                     gmac_per_s=r["rate_median"] / 1e9)
            res["cases"][c] = r
            _row(say, c, r, f"{r['gmac_per_s']:.2f} GMAC/s")
    if "w2" in ids:
        card = dm.load_card(w2_card or "tim_dnn_32nm")
        imgs = np.random.default_rng(2).random((images, 3, 32, 32))
        net, zero_frac = w2_network(imgs)
        qls = net.quantized_layers()
        macs_img = sum(l.macs for l in qls)
        mats = [(np.ones((images * l.vectors, l.K), np.float32), np.ones((l.K, l.N), np.float32)) for l in qls]

        def gemm():
            for a_, b_ in mats:
                a_ @ b_

        holder = {}
        builds = []

        def trial():
            be = holder["be"] = ImcBackend(card, seed=0)
            build = getattr(be, "_build", None)     # time the chip draw and tables of every layer
            spent = [0.0]
            if callable(build):
                def timed(*a, **k):
                    t0 = time.perf_counter()
                    try:
                        return build(*a, **k)
                    finally:
                        spent[0] += time.perf_counter() - t0
                be._build = timed
            net.predict(imgs, be)
            builds.append(spent[0] if callable(build) else float("nan"))

        def steady():
            net.predict(imgs, holder["be"])

        warm = ImcBackend(card, seed=0)
        net.predict(imgs[:1], warm)
        del warm
        gemm()
        _reset_peak()
        rss0 = _rss_mb()
        s0 = _cpu_snapshot()
        g, t, s, waits = _pairs(gemm, trial, repeat, do_park, extra=steady)
        r = _summary(g, s, images)
        r["others_cpu_share"] = _others_share(s0, _cpu_snapshot())
        rt = _summary(g, t, images)
        r.update(label=LABELS["w2"], card=card.name if hasattr(card, "name") else str(w2_card), images=images,
                 macs_per_image=macs_img, zero_activation_fraction=zero_frac, target=TARGETS["w2"],
                 images_per_s=images / r["seconds_median"], trial=rt,
                 trial_images_per_s=images / rt["seconds_median"],
                 build_seconds_median=statistics.median(builds), build_seconds=builds,
                 peak_mb=_peak_mb(resettable), rss_start_mb=rss0, park_waits_s=waits)
        res["cases"]["w2"] = r
        _row(say, "w2", r, f"{r['images_per_s']:.2f} img/s", "steady")
        rt["others_cpu_share"] = r["others_cpu_share"]
        rt["rss_start_mb"] = rss0
        _row(say, "w2", rt, f"{r['trial_images_per_s']:.2f} img/s", "trial", peak=r["peak_mb"])
        say(f"  W2: {images} random images, {macs_img / 1e6:.0f} M crossbar MACs per image, "
            f"{100 * zero_frac:.1f} % zero activations; drawing the chip and building its tables "
            f"{r['build_seconds_median']:.2f} s per trial (median)")
    res["load_1min_after"] = os.getloadavg()[0]
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    waits = [w_ for c in res["cases"].values() for w_ in c["park_waits_s"]]
    if waits:
        res["park_wait_ms_median"] = 1e3 * statistics.median(waits)
        res["park_wait_ms_max"] = 1e3 * max(waits)
    say(f"1-minute load after: {res['load_1min_after']:.2f}; process peak RSS {res['peak_rss_mb']:.0f} MB "
        f"(W1 goal <= {RSS_TARGET_MB:.0f} MB, W2 < {W2_RSS_TARGET_MB:.0f} MB)"
        + (f"; park waits median {res['park_wait_ms_median']:.0f} ms, max {res['park_wait_ms_max']:.0f} ms"
           if waits else ""))
    return res


def _row(say, c, r, rate, tag="", peak=None):
    tgt = r.get("target", TARGETS.get(c))
    met = "-" if tgt is None else ("yes" if r["ratio_median"] >= tgt else "NO")
    label = LABELS[c] + (f" ({tag})" if tag else "")
    rng = f"{r['ratio_min']:.3f}-{r['ratio_max']:.3f}"
    pk = r.get("peak_mb", peak)
    inc = pk - r.get("rss_start_mb", float("nan"))
    say(f"{label:<46} {r['seconds_median'] * 1e3:8.1f} {rate:>13} {r['ratio_median']:7.3f} {rng:>13} "
        f"{'-' if tgt is None else f'{tgt:.2f}':>5} {met:>4} {pk:6.0f} ({inc:+6.0f}) {100 * r.get('others_cpu_share', float('nan')):5.0f}%")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _blas_line(info: dict) -> str:
    if "openblas" in info:
        o = info["openblas"]
        s = f"OpenBLAS core {o['core']}, {o['num_threads']} threads"
    elif "threadpools" in info:
        s = "; ".join(f"{d['internal_api']} {d.get('architecture')} x{d.get('num_threads')}"
                      for d in info["threadpools"])
    else:
        s = "unknown"
    env = info.get("env", {})
    blas_env = {k: v for k, v in env.items() if k.startswith("OPENBLAS")}
    return s + (f" ({', '.join(f'{k}={v}' for k, v in blas_env.items())})" if blas_env else "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="imcsim bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples:\n"
                                       "  imcsim bench                          # every case, B = 4096, 8 W2 images\n"
                                       "  imcsim bench --cases ab --repeat 5\n"
                                       "  imcsim bench --cases a,b-dual,w2 --json bench.json\n"
                                       "  imcsim bench --quick                  # seconds: small sizes, one pair\n"
                                       "  python benchmarks/bench_mvm.py        # the same from a checkout")
    p.add_argument("--card", default="tim_dnn_32nm", help="base card of W1 (tile and ADC are set by the workload)")
    p.add_argument("--w2-card", default=None, help="card of W2, used as shipped (default tim_dnn_32nm)")
    p.add_argument("--batch", type=int, default=4096, help="W1 input vectors B (default 4096)")
    p.add_argument("--images", type=int, default=8, help="W2 images per run (default 8)")
    p.add_argument("--repeat", type=int, default=3, help="interleaved (GEMM, case) pairs per case (default 3)")
    p.add_argument("--cases", default=DEFAULT_CASES,
                   help=f"cases, comma-separated or as letters ('abcd'); known: {', '.join(ALL_CASES)}")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke test: B=256, 1 image, 1 pair")
    p.add_argument("--no-park", action="store_true", help="do not wait for idle BLAS threads (to see their effect)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON ('-': stdout only JSON)")
    a = p.parse_args(argv)
    if a.quick:
        a.batch, a.images, a.repeat = min(a.batch, 256), min(a.images, 1), 1
    for name in ("batch", "images", "repeat"):
        if getattr(a, name) < 1:
            p.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")
    try:
        ids = parse_cases(a.cases)
    except ValueError as e:
        p.error(str(e))
    if not ids:
        p.error(f"--cases: expected at least one case, got {a.cases!r}")
    res = run(a.card, a.batch, a.repeat, ids, out=False if a.json == "-" else sys.stdout, images=a.images,
              w2_card=a.w2_card, do_park=not a.no_park)
    if a.json:
        text = json.dumps(res, indent=1, default=float)
        if a.json == "-":
            print(text)
        else:
            with open(a.json, "w") as f:
                f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

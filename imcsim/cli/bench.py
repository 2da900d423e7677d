"""``imcsim bench``: throughput of the engine on workload W1 against a float32 GEMM.

Workload W1: ternary weights K x N = 1152 x 256 from
``default_rng(0).integers(-1, 2)``; B = 4096 unsigned 4-bit inputs from
``default_rng(1).integers(0, 16)`` (ternary variant: ``default_rng(1).integers(-1, 2)``);
tiles 256 x 256 (K splits 256, 256, 256, 256, 128), bit-serial inputs (one plane per
access), a 6-bit ADC per column and rail per access, digital shift-and-add.

Cases: (a) ideal devices, L = 256; (b) mismatch 5 % + read noise 2 % of one cell's swing
per cell, L = 256; (c) as (b) with L = 16; (d) ternary inputs on the devices of (b), one
access per row group.

Throughput is reported as MAC/s and as a ratio to a numpy float32 GEMM of the same
(B x K) @ (K x N) timed right before each case in the same run (this machine is shared and
noisy: the ratio is the number to compare). Times are the best of ``--repeat`` runs after
a warm-up run that compiles the kernels; a run includes drawing the chip instance and
building its tables. Peak RSS is the process's high-water mark (``ru_maxrss``).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

TARGETS = {"a": 0.25, "b": 0.15, "c": 0.05, "d": None}
RSS_TARGET_MB = 400.0


def _card(base: str, L: int, noisy: bool):
    import device_models as dm

    card = dm.load_card(base)
    over = {
        "tile.rows": 256, "tile.columns": 256, "tile.rows_per_access": L,
        "adc.bits": 6, "adc.range": "full", "adc.share": 1, "adc.levels": None,
        "adc.sensing": "dual", "adc.offset_sigma_mv": 0.0, "adc.gain_sigma": 0.0,
        "adc.grid": "uniform", "adc.thresholds": None, "adc.code_values": None,
        "adc.follow_saturation": False, "adc.noise_sigma_mv": 0.0, "technology.temperature_k": 0.0,
        "cell.row_gain_sigma": 0.0, "cell.current_corner": 0.0, "bitline.domain": "current",
        "cell.cap_mismatch_sigma": 0.0,
        "bitline.saturation": "none", "cell.fault_rate": 0.0, "cell.kind": "ternary",
        "chip.tiles": max(64, int(card["chip.tiles"])),
        "cell.mismatch_sigma": 0.05 if noisy else 0.0,
        "bitline.read_noise_sigma": 0.02 if noisy else 0.0,
    }
    return card.replace(**over)


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(base: str = "tim_dnn_32nm", batch: int = 4096, repeat: int = 3, cases: str = "abcd",
        out=None) -> dict:
    from imcsim.engine import ImcBackend

    out = sys.stdout if out is None else out  # the stream at call time, not at import

    K, N = 1152, 256
    w = np.random.default_rng(0).integers(-1, 2, size=(K, N)).astype(np.int8)
    x4 = np.random.default_rng(1).integers(0, 16, size=(batch, K)).astype(np.int8)
    xt = np.random.default_rng(1).integers(-1, 2, size=(batch, K)).astype(np.int8)
    a32 = x4.astype(np.float32)
    b32 = w.astype(np.float32)
    a32 @ b32
    macs = batch * K * N
    spec = {"a": (256, False, x4, "unsigned4"), "b": (256, True, x4, "unsigned4"),
            "c": (16, True, x4, "unsigned4"), "d": (256, True, xt, "ternary")}
    print(f"workload W1: B={batch} K={K} N={N}, {macs / 1e9:.2f} GMAC; card {base} with 256x256 tiles, "
          f"6-bit ADC per column and rail", file=out)
    print("GEMM: numpy float32 (B x K) @ (K x N), timed right before each case (the machine is "
          "shared: the ratio is the number to compare)", file=out)
    print(f"{'case':<44} {'time ms':>9} {'GMAC/s':>8} {'GEMM ms':>8} {'x GEMM':>8} {'target':>7}  met",
          file=out)
    results = {}
    labels = {"a": "(a) ideal devices, L=256, 4-bit inputs",
              "b": "(b) mismatch 5% + noise 2%, L=256",
              "c": "(c) as (b), L=16",
              "d": "(d) ternary inputs, devices of (b), L=256"}
    for c in cases:
        L, noisy, x, enc = spec[c]
        card = _card(base, L, noisy)
        ImcBackend(card, seed=0, track_error=False).matmul(x[:64], w, encoding=enc, layer="w1")
        t_gemm = _best(lambda: a32 @ b32, max(5, repeat))
        t = _best(lambda: ImcBackend(card, seed=0, track_error=False).matmul(x, w, encoding=enc, layer="w1"),
                  repeat)
        rate = macs / t
        ratio = t_gemm / t
        tgt = TARGETS[c]
        met = "-" if tgt is None else ("yes" if ratio >= tgt else "NO")
        tg = "-" if tgt is None else f"{tgt:.2f}"
        print(f"{labels[c]:<44} {t * 1e3:9.1f} {rate / 1e9:8.2f} {t_gemm * 1e3:8.1f} {ratio:8.3f} {tg:>7}  {met}",
              file=out)
        results[c] = {"seconds": t, "macs_per_s": rate, "gemm_seconds": t_gemm, "ratio": ratio,
                      "target": tgt}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak RSS {rss:.0f} MB (target <= {RSS_TARGET_MB:.0f} MB)", file=out)
    results["peak_rss_mb"] = rss
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="imcsim bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples:\n"
                                       "  imcsim bench                      # all four cases, B = 4096\n"
                                       "  imcsim bench --cases ab --repeat 5\n"
                                       "  imcsim bench --batch 1024          # a quicker, smaller run\n"
                                       "  python benchmarks/bench_mvm.py     # the same from a checkout")
    p.add_argument("--card", default="tim_dnn_32nm", help="base card (tile and ADC are set by the workload)")
    p.add_argument("--batch", type=int, default=4096, help="input vectors B (default 4096)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per case, best reported")
    p.add_argument("--cases", default="abcd", help="subset of cases to run, e.g. 'ab'")
    a = p.parse_args(argv)
    if a.batch < 1:
        p.error(f"--batch: expected an integer >= 1, got {a.batch}")
    if a.repeat < 1:
        p.error(f"--repeat: expected an integer >= 1, got {a.repeat}")
    if not a.cases or set(a.cases) - set(TARGETS):
        p.error(f"--cases: expected letters of {''.join(TARGETS)}, got {a.cases!r}")
    run(a.card, a.batch, a.repeat, a.cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Paired timing of one W1 case in several source trees (this checkout against an older
release, say), for kernel changes whose effect is smaller than the machine's noise.

    git worktree add --detach /tmp/old 3fc08af
    python benchmarks/ab_trees.py --rows 16 --noisy --rounds 10 /tmp/old .

One worker process per tree (``PYTHONPATH`` = the tree) builds the W1 card of that tree's
own bench (``imcsim.cli.bench.w1_card``, or ``imcsim.bench._card`` in releases before the
layout change, which are dual-rail only) and compiles its kernels; then the workers run the
case in turn, round after round, so that every round compares the trees over the same
seconds. A run is a fresh chip instance plus the B = 4096 vectors (``track_error=False``),
as in ``imcsim bench``. ``--w2 IMAGES`` times the network W2 instead (the bench's
``steady`` case: IMAGES images through a chip built before the first round).
``--llvm-option OPT`` sets an LLVM option in every worker before anything compiles (run
the trees with and without it to see what a code-generation option does). Printed per
tree: the minimum and median time [ms] and the median and range of the per-round ratio to
the first tree (the number to compare on a shared machine).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# both workers: LLVM options first (before anything compiles), then a case `run`, then the
# round loop (LOOP)
PRELUDE = r'''
import sys, time, numpy as np
import os, llvmlite.binding as _ll
for _o in filter(None, os.environ.get('AB_LLVM_OPTIONS', '').split()):
    _ll.set_option('', _o)
'''

LOOP = r'''
run()
print("ready", flush=True)
for _ in sys.stdin:
    t = time.perf_counter(); run(); print(time.perf_counter() - t, flush=True)
'''

WORKER = PRELUDE + r'''
L, noisy, sensing, enc = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], sys.argv[4]
try:
    from imcsim.cli.bench import w1_card
    card = w1_card("tim_dnn_32nm", L, noisy, sensing)
except ImportError:                       # releases before the layout change: dual only
    if sensing != "dual":
        sys.exit("this tree's bench has dual-rail sensing only")
    from imcsim.bench import _card
    card = _card("tim_dnn_32nm", L, noisy)
from imcsim.engine import ImcBackend
K, N = 1152, 256
w = np.random.default_rng(0).integers(-1, 2, size=(K, N)).astype(np.int8)
rng = np.random.default_rng(1)
x = (rng.integers(0, 16, size=(4096, K)) if enc == "unsigned4"
     else rng.integers(-1, 2, size=(4096, K))).astype(np.int8)
run = lambda: ImcBackend(card, seed=0, track_error=False).matmul(x, w, encoding=enc, layer="w1")
''' + LOOP

WORKER_W2 = PRELUDE + r'''
images = int(sys.argv[1])
import device_models as dm
from imcsim.cli.bench import w2_network
from imcsim.engine import ImcBackend
imgs = np.random.default_rng(2).random((images, 3, 32, 32))
net, _ = w2_network(imgs)
be = ImcBackend(dm.load_card("tim_dnn_32nm"), seed=0)
run = lambda: net.predict(imgs, be)
''' + LOOP


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="+", help="source trees (the first is the reference)")
    ap.add_argument("--rows", type=int, default=256, help="rows per access L (default 256)")
    ap.add_argument("--noisy", action="store_true", help="mismatch 5 %% + read noise 2 %%")
    ap.add_argument("--sensing", default="dual", choices=["dual", "differential"])
    ap.add_argument("--encoding", default="unsigned4", choices=["unsigned4", "ternary"])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--llvm-option", action="append", default=[], metavar="OPT",
                    help="an LLVM command-line option for every worker, set before anything "
                         "compiles (for example -x86-branches-within-32B-boundaries); the "
                         "workers then compile into a fresh cache directory")
    ap.add_argument("--w2", type=int, metavar="IMAGES", default=0,
                    help="time the network W2 instead: IMAGES images on a built chip (the "
                         "bench's steady case; trees with imcsim.cli.bench only)")
    a = ap.parse_args(argv)
    procs = []
    scratch = tempfile.mkdtemp(prefix="ab_trees_") if a.llvm_option else None
    for i, tree in enumerate(a.trees):
        env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
        if scratch:        # a cached kernel would not carry the option
            env.update(AB_LLVM_OPTIONS=" ".join(a.llvm_option),
                       NUMBA_CACHE_DIR=os.path.join(scratch, f"numba{i}"),
                       IMCSIM_CACHE_DIR=os.path.join(scratch, f"imcsim{i}"))
        args = ([WORKER_W2, str(a.w2)] if a.w2 else
                [WORKER, str(a.rows), "1" if a.noisy else "0", a.sensing, a.encoding])
        procs.append(subprocess.Popen(
            [sys.executable, "-c", *args], cwd=tree, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True))
    for tree, p in zip(a.trees, procs):
        if p.stdout.readline().strip() != "ready":
            print(f"{tree}: the worker failed", file=sys.stderr)
            return 1
    times = [[] for _ in procs]
    for _ in range(a.rounds):
        for i, p in enumerate(procs):
            time.sleep(0.3)                # let the other worker's threads go idle
            p.stdin.write("go\n")
            p.stdin.flush()
            times[i].append(float(p.stdout.readline()))
    for p in procs:
        p.stdin.close()
        p.wait()
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    width = max(len(t) for t in a.trees)
    for tree, ts in zip(a.trees, times):
        r = [x / y for x, y in zip(ts, times[0])]
        print(f"{tree:<{width}}  min {min(ts) * 1e3:7.1f} ms  median {statistics.median(ts) * 1e3:7.1f} ms"
              f"  ratio to the first: median {statistics.median(r):.3f} ({min(r):.3f}-{max(r):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

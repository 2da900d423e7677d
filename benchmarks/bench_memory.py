"""Peak memory of ``imcsim.simulate`` on the W2 network against the number of images.

    python benchmarks/bench_memory.py [--images 16,64] [--batch N] [--card tim_dnn_32nm]

Each image count runs in a fresh process: the W2 network of ``imcsim bench`` (batch-norm
statistics from the first 8 images, so the network is the same at every count), random
32 x 32 x 3 images (``default_rng(2)``), one trial on the card as shipped; the process's
peak resident memory (``ru_maxrss``) is reported with the resident memory before
``simulate`` (inputs and network loaded, kernels compiled on one image), the seconds and
the streamed batch. Flat memory means the peak does not grow with the image count.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
import numpy as np
n, batch, card = int(sys.argv[1]), (None if sys.argv[2] == "auto" else int(sys.argv[2])), sys.argv[3]
import imcsim, imcsim.study
from imcsim import simulation
from imcsim.cli.bench import w2_network, _rss_mb
imgs = np.random.default_rng(2).random((n, 3, 32, 32))
net, zeros = w2_network(imgs[:8])
imcsim.simulate(net, card, imgs[:1], None)          # compile / load the kernels
rss0 = _rss_mb()
t = time.perf_counter()
imcsim.simulate(net, card, imgs, None, trials=1, seed=0, batch=batch)
dt = time.perf_counter() - t
print(json.dumps({"images": n, "batch": batch if batch else simulation.auto_batch(net, n),
                  "seconds": dt, "rss_before_mb": rss0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "inputs_mb": imgs.nbytes / 2**20, "zero_activations": zeros}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="16,64", help="comma-separated image counts (default 16,64)")
    ap.add_argument("--batch", default="auto", help="simulate's batch (default: auto)")
    ap.add_argument("--card", default="tim_dnn_32nm")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rows = []
    print(f"{'images':>6} {'batch':>5} {'seconds':>8} {'RSS before MB':>13} {'peak RSS MB':>11} {'inputs MB':>9}  "
          f"(1-minute load)")
    for n in [int(v) for v in a.images.split(",")]:
        load = os.getloadavg()[0]
        p = subprocess.run([sys.executable, "-c", CHILD, str(n), a.batch, a.card], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr[-2000:], file=sys.stderr)
            return 1
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r["load_1min"] = load
        rows.append(r)
        print(f"{r['images']:6d} {r['batch']:5d} {r['seconds']:8.1f} {r['rss_before_mb']:13.0f} "
              f"{r['peak_rss_mb']:11.0f} {r['inputs_mb']:9.1f}  ({load:.2f})", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

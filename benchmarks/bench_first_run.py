"""First run after an install: seconds of ``imcsim run quickstart`` cold, warm, after a reinstall.

    python benchmarks/bench_first_run.py [--src .] [--work /tmp/imcsim-first-run] [--json out.json]

Steps, each timed as the wall and CPU seconds of ``imcsim run quickstart --no-plots
--quiet`` in a new process:

1. ``cold``: a fresh virtual environment (``--system-site-packages``, so numpy, numba ...
   come from the current interpreter; imcsim itself is installed from ``--src`` with
   ``pip install --no-deps``), and an empty numba cache (``IMCSIM_CACHE_DIR`` pointed at a
   new directory): the run compiles every kernel.
2. ``warm``: the same again (the kernels load from the cache).
3. ``reinstall``: ``pip install --force-reinstall --no-deps`` of the same source (every
   file rewritten, new mtimes), then the run.
4. ``new venv``: a second fresh environment at another path, same source, same cache
   directory (a user who installs the same version elsewhere).

The 1-minute load average is printed with each step (the machine may be shared).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time


def _venv(path: str, src: str) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", path], check=True)
    py = os.path.join(path, "bin", "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", src], check=True)
    return py


def _timed(cmd, env) -> dict:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime),
            "load_1min": load}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=".", help="source tree or wheel to install (default: .)")
    ap.add_argument("--work", default="/tmp/imcsim-first-run", help="scratch directory (emptied)")
    ap.add_argument("--study", default="quickstart")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    src = os.path.abspath(a.src)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    env = dict(os.environ, IMCSIM_CACHE_DIR=os.path.join(a.work, "cache"))
    env.pop("NUMBA_CACHE_DIR", None)
    res = {}

    def step(name, py):
        out = os.path.join(a.work, f"out_{name.replace(' ', '_')}")
        cmd = [py, "-m", "imcsim.cli", "run", a.study, "--out", out, "--no-plots", "--quiet"]
        r = _timed(cmd, env)
        res[name] = r
        print(f"{name:<10} {r['wall_s']:6.1f} s wall {r['cpu_s']:6.1f} s CPU   (1-minute load {r['load_1min']:.2f})",
              flush=True)

    py1 = _venv(os.path.join(a.work, "venv1"), src)
    step("cold", py1)
    step("warm", py1)
    subprocess.run([py1, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", src], check=True)
    step("reinstall", py1)
    py2 = _venv(os.path.join(a.work, "venv2"), src)
    step("new venv", py2)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the crossbar engine: W1 cases and the W2 network (see imcsim/cli/bench.py);
the same as `imcsim bench`.

    python benchmarks/bench_mvm.py [--cases a,b,c,d,a-dual,b-dual,c-dual,w2] [--repeat 3] [--json out.json]
"""
import sys
from pathlib import Path

try:
    import imcsim  # noqa: F401  (installed)
except ImportError:  # a checkout that is not installed: use its sources
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imcsim.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the crossbar engine on workload W1 (see imcsim/cli/bench.py); same as `imcsim bench`.

    python benchmarks/bench_mvm.py [--cases abcd] [--repeat 3]
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

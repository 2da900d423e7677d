"""Benchmark of the crossbar engine on workload W1 (see imcsim/bench.py); same as `imcsim bench`.

    python benchmarks/bench_mvm.py [--cases abcd] [--repeat 3]
"""
import sys

from imcsim.bench import main

if __name__ == "__main__":
    sys.exit(main())

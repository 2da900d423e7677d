"""Cheap commands stay cheap: `--version`, `list`, `info` and `validate` import no numba."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from imcsim.cli.main import main
rc = main(sys.argv[1:])
assert rc == 0, rc
print("numba" in sys.modules)
"""


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--version"], ["list"], ["info", "tim_dnn_32nm"],
                                  ["validate", "quickstart"]], ids=" ".join)
def test_cheap_verbs_do_not_import_numba(args):
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False", proc.stdout

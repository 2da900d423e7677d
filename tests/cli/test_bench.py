"""`imcsim bench` on a tiny case (small batch, one timed run)."""
from __future__ import annotations

import pytest

from imcsim import cli
from imcsim.cli import bench


def test_bench_tiny_run_through_the_cli(capsys):
    rc = cli.main(["bench", "--batch", "8", "--repeat", "1", "--cases", "ad"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("workload W1: B=8 K=1152 N=256, 0.00 GMAC")
    rows = [l for l in lines if l.startswith("(")]
    assert [r[:3] for r in rows] == ["(a)", "(d)"]
    assert rows[0].split()[-1] in ("yes", "NO") and rows[1].split()[-1] == "-"
    assert lines[-1].startswith("peak RSS ")


def test_bench_results():
    import io

    res = bench.run(batch=4, repeat=1, cases="a", out=io.StringIO())
    a = res["a"]
    assert set(a) == {"seconds", "macs_per_s", "gemm_seconds", "ratio", "target"}
    assert a["macs_per_s"] == pytest.approx(4 * 1152 * 256 / a["seconds"])
    assert a["ratio"] == pytest.approx(a["gemm_seconds"] / a["seconds"])
    assert a["target"] == bench.TARGETS["a"] and res["peak_rss_mb"] > 0


@pytest.mark.parametrize("args, text", [(["--cases", "az"], "--cases: expected letters of abcd"),
                                        (["--batch", "0"], "--batch: expected an integer >= 1"),
                                        (["--repeat", "0"], "--repeat: expected an integer >= 1")])
def test_bench_bad_options(capsys, args, text):
    with pytest.raises(SystemExit) as ei:
        bench.main(args)
    assert ei.value.code == 2 and text in capsys.readouterr().err

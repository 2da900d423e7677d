"""`imcsim bench` on a tiny case (small batch, one timed pair)."""
from __future__ import annotations

import json

import pytest

from imcsim import cli
from imcsim.cli import bench


def test_bench_tiny_run_through_the_cli(capsys):
    rc = cli.main(["bench", "--batch", "8", "--repeat", "1", "--cases", "ad"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("imcsim ") and "1-minute load" in lines[0]
    rows = [l for l in lines if l.startswith("(")]
    assert [r[:3] for r in rows] == ["(a)", "(d)"]
    # columns: ... goal met peak (+rise) others
    assert rows[0].split()[-5] in ("yes", "NO") and rows[1].split()[-5] == "-"
    assert lines[-1].startswith("1-minute load after")


def test_bench_results():
    import io

    res = bench.run(batch=4, repeat=2, cases="a", out=io.StringIO())
    a = res["cases"]["a"]
    assert a["sensing"] == "differential" and a["rows_per_access"] == 256
    assert len(a["ratios"]) == len(a["seconds"]) == len(a["gemm_seconds"]) == 2
    assert a["ratios"] == pytest.approx([g / c for g, c in zip(a["gemm_seconds"], a["seconds"])])
    assert a["ratio_min"] <= a["ratio_median"] <= a["ratio_max"]
    assert a["rate_median"] == pytest.approx(4 * 1152 * 256 / a["seconds_median"])
    assert a["target"] == bench.TARGETS["a"] and res["peak_rss_mb"] > 0 and a["peak_mb"] > 0
    assert 0.0 <= a["others_cpu_share"] <= 1.0 or a["others_cpu_share"] != a["others_cpu_share"]


def test_bench_json_and_case_names(tmp_path, capsys):
    path = tmp_path / "b.json"
    assert bench.main(["--batch", "4", "--repeat", "1", "--cases", "a-dual", "--json", str(path)]) == 0
    res = json.loads(path.read_text())
    assert list(res["cases"]) == ["a-dual"] and res["cases"]["a-dual"]["sensing"] == "dual"
    assert bench.parse_cases("abcd") == ["a", "b", "c", "d"]
    assert bench.parse_cases("a,c-dual,w2") == ["a", "c-dual", "w2"]


def test_w1_cards_convert_once_per_column_or_per_rail():
    diff = bench.w1_card("tim_dnn_32nm", 256, True, "differential")
    dual = bench.w1_card("tim_dnn_32nm", 16, False, "dual")
    assert diff["adc.sensing"] == "differential" and diff["adc.signed_format"] == "sign_magnitude"
    assert diff["cell.mismatch_sigma"] == 0.05 and diff["bitline.read_noise_sigma"] == 0.02
    assert dual["adc.sensing"] == "dual" and dual["tile.rows_per_access"] == 16
    for card in (diff, dual):
        assert card["adc.bits"] == 6 and card["adc.range"] == "full" and card["bitline.saturation"] == "none"
        assert all(card[k] == 0 for k in card.keys() if k.endswith("_sigma")
                   and k not in ("cell.mismatch_sigma", "bitline.read_noise_sigma"))


def test_w2_network_has_the_shape_and_the_zeros():
    import numpy as np

    imgs = np.random.default_rng(2).random((2, 3, 32, 32))
    net, zeros = bench.w2_network(imgs)
    assert sum(l.macs for l in net.quantized_layers()) == 607_518_720    # 608 M MACs per image
    assert 0.33 < zeros < 0.43                                          # about 38 % zeros


@pytest.mark.parametrize("args, text", [(["--cases", "az"], "--cases: expected letters of abcd"),
                                        (["--batch", "0"], "--batch: expected an integer >= 1"),
                                        (["--repeat", "0"], "--repeat: expected an integer >= 1"),
                                        (["--images", "0"], "--images: expected an integer >= 1")])
def test_bench_bad_options(capsys, args, text):
    with pytest.raises(SystemExit) as ei:
        bench.main(args)
    assert ei.value.code == 2 and text in capsys.readouterr().err

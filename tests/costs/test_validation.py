"""The validation table (docs/validation.md): every card's figures against its paper.

Each row of the table gives imcsim's value (4 significant digits); these tests recompute it
from the card and fail when a change moves it by more than the stated tolerance, so that a
change to a card, a price or the peak rule that moves a validated figure is seen (and the
table updated with what it teaches).
"""
from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import device_models as dm
from imcsim.cli.info import validation_figures

DOC = Path(__file__).parents[2] / "docs" / "validation.md"
#: a recomputed figure must stay within this relative distance of the documented value
#: (the table prints 4 significant digits: 0.05 % rounding, the rest is real change)
TOLERANCE = 0.005
#: the six macro cards of the validation
CARDS = ("tim_dnn_32nm", "xnor_sram_65nm", "khwa_6t_65nm", "dual8t_ternary_65nm",
         "t8t_ternary_28nm", "imagine_22nm")


def _table() -> list[dict]:
    rows = []
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| `(\w+)` \| (\w+) \| (prediction|fitted) \| ([\d.e+]+) \| ([\d.e+]+) \| "
                     r"([+-][\d.]+) % \| ([^|]*)\|$", line)
        if m:
            card, name, kind, paper, imc, err, rng = m.groups()
            r = None
            if rng.strip():
                lo, hi = re.match(r"^([\d.e+]+)-([\d.e+]+)$", rng.strip()).groups()
                r = (float(lo), float(hi))
            rows.append(dict(card=card, name=name, kind=kind, paper=float(paper),
                             imcsim=float(imc), error=float(err) / 100, range=r))
    return rows


TABLE = _table()


def test_the_table_covers_six_cards_and_every_paper_figure():
    assert {r["card"] for r in TABLE} == set(CARDS)
    for name in CARDS:
        figs = dm.load_card(name).paper_figures
        rows = [r for r in TABLE if r["card"] == name]
        assert sorted((f["name"], f["value"]) for f in figs) == \
            sorted((r["name"], r["paper"]) for r in rows), name
        # every card has a TOPS/W prediction, none fitted
        assert any(r["name"] == "tops_per_watt" and r["kind"] == "prediction" for r in rows)


@pytest.mark.parametrize("name", CARDS)
def test_each_card_stays_where_the_validation_table_says(name):
    got = validation_figures(dm.load_card(name))
    assert got["card"] == name
    rows = [r for r in TABLE if r["card"] == name]
    assert len(got["figures"]) == len(rows)
    for f in got["figures"]:
        row = next(r for r in rows if r["name"] == f["name"] and r["paper"] == pytest.approx(f["paper"]))
        assert f["kind"] == row["kind"], (name, f["name"])
        assert f["imcsim"] == pytest.approx(row["imcsim"], rel=TOLERANCE), (name, f["name"])
        assert f["error"] == pytest.approx(row["error"], abs=0.01), (name, f["name"])
        if row["range"] is not None:
            lo, hi = f["imcsim_range"]
            assert (lo, hi) == pytest.approx(row["range"], rel=TOLERANCE), (name, f["name"])


def test_fitted_figures_name_a_fitted_card_value_and_predictions_do_not_hide_one():
    # a card whose figure is marked fitted must say which value was fitted (a fitted:
    # source); a card with no fitted figure must have no fitted: value
    for name in CARDS:
        card = dm.load_card(name)
        fitted_values = [p for p, s in card.sources().items() if s.startswith("fitted:")]
        fitted_figs = [f for f in card.paper_figures if f["kind"] == "fitted"]
        assert bool(fitted_values) == bool(fitted_figs), name


def test_cards_reproduce_the_papers_architecture():
    facts = {  # (node, rows at once, columns, ADC kind, levels) from each paper's abstract
        "tim_dnn_32nm": (32, 16, 256, "flash", 16),
        "xnor_sram_65nm": (65, 256, 64, "flash", 11),
        "khwa_6t_65nm": (65, 64, 64, "flash", 2),
        "dual8t_ternary_65nm": (65, 256, 128, "ramp", 2),
        "t8t_ternary_28nm": (28, 16, 64, "sar", 33),
        "imagine_22nm": (22, 1152, 256, "sar", 2),
    }
    from device_models.adc_cost import converted_levels

    for name, (node, L, C, kind, levels) in facts.items():
        c = dm.load_card(name)
        assert (c["technology.node_nm"], c["tile.rows_per_access"], c["tile.columns"],
                c["adc.kind"], converted_levels(c)) == (node, L, C, kind, levels), name


def test_info_json_prints_the_figures():
    from imcsim.cli.main import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["info", "xnor_sram_65nm", "--json"])
    assert rc == 0
    out = json.loads(buf.getvalue())
    assert out["card"] == "xnor_sram_65nm"
    (f,) = out["figures"]
    assert set(f) >= {"name", "unit", "imcsim", "paper", "kind", "source"}
    assert (f["name"], f["unit"], f["paper"], f["kind"]) == ("tops_per_watt", "TOPS/W", 403.0,
                                                             "prediction")
    assert f["source"].startswith("paper:")


@pytest.mark.parametrize("mutate, match", [
    (lambda f: f.update(name="tops_per_joule"), r"paper_figures\[0\]\.name: expected one of"),
    (lambda f: f.update(unit="GOPS"), r"paper_figures\[0\]\.unit: expected 'TOPS/W'"),
    (lambda f: f.update(value=-3), r"paper_figures\[0\]\.value: expected a number > 0"),
    (lambda f: f.update(source="a slide"), r"paper_figures\[0\]\.source: expected a source"),
    (lambda f: f.update(kind="guess"), r"paper_figures\[0\]\.kind: expected prediction or fitted"),
])
def test_bad_paper_figures_are_one_line_card_errors(mutate, match):
    import yaml

    data = yaml.safe_load(Path(dm.load_card("xnor_sram_65nm").path).read_text())
    mutate(data["paper_figures"][0])
    with pytest.raises(dm.CardError, match=match) as ei:
        dm.card_from_dict(data, "xnor_sram_65nm.yaml")
    assert "\n" not in str(ei.value)

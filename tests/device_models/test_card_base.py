"""Cards derived from another (`base:`): only the changed values, each with its source; their
own name and description; the base's paper figures are not inherited."""
import pytest

import device_models as dm
from device_models import CardError

DERIVED = """\
base: tim_dnn_32nm
name: tim_sar_l32
description: TiM-DNN with SAR ADCs and 32 rows per access
tile:
  rows_per_access: {value: 32, source: "assumption: twice the published 16"}
adc:
  kind: {value: sar, source: "assumption: SAR in place of flash"}
"""


def test_a_derived_card_changes_only_what_it_says(tmp_path):
    p = tmp_path / "tim_sar_l32.yaml"
    p.write_text(DERIVED)
    base, card = dm.load_card("tim_dnn_32nm"), dm.load_card(str(p))
    assert card.name == "tim_sar_l32" and card.description.startswith("TiM-DNN with SAR")
    assert card["tile.rows_per_access"] == 32 and card["adc.kind"] == "sar"
    assert card.source("adc.kind") == "assumption: SAR in place of flash"
    changed = {k for k in base.keys() if base[k] != card[k]}
    assert changed == {"tile.rows_per_access", "adc.kind"}
    assert card.source("adc.bits") == base.source("adc.bits")
    assert "tim_dnn_32nm" in card.references["base"]
    assert not getattr(card, "paper_figures", [])
    assert dm.load_card(card.dump()) == card          # the dump stands alone
    (tmp_path / "second.yaml").write_text(
        "base: tim_sar_l32.yaml\nname: second\ndescription: d\n"
        "adc:\n  bits: {value: 5, source: 'assumption: one more bit'}\n")
    second = dm.load_card(str(tmp_path / "second.yaml"))
    assert second["adc.kind"] == "sar" and second["adc.bits"] == 5


@pytest.mark.parametrize("text,match", [
    (DERIVED.replace("name: tim_sar_l32\n", ""), "name: expected a name of its own"),
    (DERIVED.replace("name: tim_sar_l32", "name: tim_dnn_32nm"), "got the base's"),
    (DERIVED.replace("description: TiM-DNN with SAR ADCs and 32 rows per access\n", ""),
     "description: expected a description of its own"),
    (DERIVED.replace("base: tim_dnn_32nm", "base: tim_dnn_23nm"), "base: cannot load"),
    (DERIVED.replace('{value: sar, source: "assumption: SAR in place of flash"}', "sar"),
     "adc.kind: expected {value"),
    (DERIVED.replace("base: tim_dnn_32nm", "base: me.yaml"), "derive from itself"),
])
def test_derived_card_errors_are_one_line(tmp_path, text, match):
    p = tmp_path / "me.yaml"
    p.write_text(text)
    with pytest.raises(CardError, match=match) as e:
        dm.load_card(str(p))
    assert "\n" not in str(e.value)

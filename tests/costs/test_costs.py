"""Energy, latency, area and headline figures (imcsim.energy)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import device_models as dm
from imcsim import costs as energy
from imcsim.cli.info import format_info
from imcsim.errors import InputError
from imcsim.engine.events import EVENT_FIELDS

TIM = dm.load_card("tim_dnn_32nm")
XNOR = dm.load_card("xnor_sram_65nm")
DIG = dm.load_card("digital_nmc_32nm")


def _total(d):
    return sum(d.values())


# ------------------------------------------------------------------------- linearity
counts = st.fixed_dictionaries({k: st.floats(0, 1e6, allow_nan=False) for k in EVENT_FIELDS})


@settings(max_examples=40, deadline=None)
@given(a=counts, b=counts, k=st.floats(0, 1e3, allow_nan=False),
       card=st.sampled_from([TIM, XNOR, DIG]))
def test_energy_is_linear_in_the_event_counts(a, b, k, card):
    ea, eb = energy.dynamic_energy(a, card), energy.dynamic_energy(b, card)
    eab = energy.dynamic_energy({f: a[f] + b[f] for f in a}, card)
    eka = energy.dynamic_energy({f: k * a[f] for f in a}, card)
    for c in energy.COMPONENTS:
        assert eab[c] == pytest.approx(ea[c] + eb[c], rel=1e-12, abs=1e-9)
        assert eka[c] == pytest.approx(k * ea[c], rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("card", [TIM, XNOR], ids=["tim", "xnor"])
def test_each_event_costs_its_card_value(card):
    zero = {k: 0.0 for k in EVENT_FIELDS}
    costs = energy.event_costs(card)
    total = 0.0
    for name in EVENT_FIELDS:
        for n in (1.0, 7.0):
            e = energy.dynamic_energy({**zero, name: n}, card)
            if name in costs:
                comp, cost = costs[name]
                assert e[comp] == pytest.approx(n * cost)
                assert _total(e) == pytest.approx(n * cost)
            else:                       # vectors, macs, accesses cost nothing by themselves
                assert _total(e) == 0.0
        total += _total(energy.dynamic_energy({**zero, name: 3.0}, card))
    assert _total(energy.dynamic_energy({k: 3.0 for k in EVENT_FIELDS}, card)) == pytest.approx(total)
    # the costs are the card's
    assert costs["active_wordlines"] == ("wordline", card["wordline.energy_pj"])
    assert costs["discharges"] == ("bitline", card["cell.discharge_energy_pj"])
    assert costs["precharges"] == ("bitline", card["bitline.precharge_energy_pj"])
    assert costs["adc_conversions"][0] == "adc"
    assert costs["weight_writes"] == ("weight_load", card["cell.write_energy_pj"])


def test_adc_energy_follows_the_energy_model():
    from device_models import adc_cost

    # every predicting card counts its converter from its parts, so bits move the energy
    assert TIM["adc.energy_model"] == "circuit" and XNOR["adc.energy_model"] == "circuit"
    e4 = energy.adc_energy_pj(TIM)
    c, tap, lg = (TIM["adc.comparator_energy_fj"], TIM["adc.tap_energy_fj"],
                  TIM["adc.logic_energy_fj"])
    assert e4 == pytest.approx(((2 ** 4 - 1) * (c + tap) + 4 * lg) * 1e-3)
    for bits in (2, 3, 5):
        cb = TIM.replace(**{"adc.bits": bits})
        assert energy.adc_energy_pj(cb) == pytest.approx(
            adc_cost.flash_energy_pj(2 ** bits, bits, c, tap, lg))
    walden = TIM.replace(**{"adc.energy_model": "walden", "adc.bits": 5})
    assert energy.adc_energy_pj(walden) == pytest.approx(TIM["adc.walden_fom_fj"] * 2 ** 5 * 1e-3)
    fixed = TIM.replace(**{"adc.energy_model": "card", "adc.energy_pj": 0.2, "adc.bits": 2})
    assert energy.adc_energy_pj(fixed) == pytest.approx(0.2)


@pytest.mark.parametrize("name", [n for n in dm.list_cards() if n != "digital_nmc_32nm"])
def test_adc_bits_sweep_moves_energy_and_area_on_the_shipped_cards(name):
    # issue 10 item 9: a sweep of adc.bits changes the ADC's energy and area on every card,
    # also on a card with a fixed level count (XNOR-SRAM's 11 levels: a new resolution is
    # a new converter, whose levels follow the bits)
    card = dm.load_card(name)
    es, areas = [], []
    for bits in (2, 3, 4, 5, 6):
        cb = card.replace(**{"adc.bits": bits})
        es.append(energy.adc_energy_pj(cb))
        areas.append(energy.area_breakdown(cb)["adc"])
    assert all(b > a for a, b in zip(es, es[1:])), es
    assert all(b > a for a, b in zip(areas, areas[1:])), areas


def test_sar_and_flash_differ_and_trade_time_for_energy():
    flash = TIM.replace(**{"adc.bits": 6})
    sar = flash.replace(**{"adc.kind": "sar", "adc.dac_unit_cap_ff": 0.5,
                           "adc.dac_unit_area_um2": 0.3})
    assert energy.adc_energy_pj(sar) < energy.adc_energy_pj(flash)
    assert energy.adc_area_um2(sar) < energy.adc_area_um2(flash)
    assert energy.conversion_time_ns(sar) == pytest.approx(7 * flash["adc.step_ns"])
    assert energy.conversion_time_ns(flash) == pytest.approx(flash["adc.step_ns"])
    # a flash's comparators double per bit (x 16 from 4 to 8 bits, less its fixed logic);
    # a SAR adds one decision per bit and doubles only its small capacitor array
    s4, s8 = (energy.adc_energy_pj(sar.replace(**{"adc.bits": b})) for b in (4, 8))
    f4, f8 = (energy.adc_energy_pj(flash.replace(**{"adc.bits": b})) for b in (4, 8))
    assert f8 / f4 > 10 and s8 < f8 / 4


# ------------------------------------------------------------------------- zero input
def test_all_zero_input_costs_no_wordline_or_discharge_energy():
    from imcsim.engine import ImcBackend

    w = np.random.default_rng(0).integers(-1, 2, size=(300, 40))
    be = ImcBackend(TIM, seed=0)
    be.matmul(np.zeros((5, 300), dtype=int), w, encoding="ternary", layer="l")
    ev = be.events["l"]
    e = energy.dynamic_energy(ev, TIM)
    assert ev.active_wordlines == 0 and ev.discharges == 0
    assert e["wordline"] == 0.0
    # no wordline fired, so no cell discharged and no rail needs precharging again
    assert ev.precharges == 0 and e["bitline"] == 0.0
    # and an all-zero weight matrix likewise discharges nothing
    be2 = ImcBackend(TIM, seed=0)
    be2.matmul(np.ones((5, 300), dtype=int), np.zeros((300, 40), dtype=int), layer="z")
    assert be2.events["z"].discharges == 0
    assert energy.dynamic_energy(be2.events["z"], TIM)["bitline"] == pytest.approx(
        be2.events["z"].precharges * TIM["bitline.precharge_energy_pj"])


# ------------------------------------------------------------------------- headline figures
def test_peak_rule_by_hand_differential_shared_adc():
    # binary XNOR cells: every driven row's cells conduct (no zero weights); only the
    # card's input density thins the rows; the divider draws (a - 1)/4 units per column
    c = XNOR
    L, C, T = c["tile.rows_per_access"], c["tile.columns"], c["chip.tiles"]
    d = c["peak.input_density"]
    a = L * d
    t = c["tile.precharge_ns"] + c["tile.evaluate_ns"] + c["adc.share"] * c["adc.step_ns"]
    assert not c["peak.include_buffers"]
    e = (L * d * c["wordline.energy_pj"] + C * 1 * c["bitline.precharge_energy_pj"]
         + L * C * d * c["cell.discharge_energy_pj"] + C * (a - 1) / 4 * c["bitline.divider_energy_pj"]
         + C * 1 * energy.adc_energy_pj(c) + C * c["digital.accumulate_energy_pj"])
    pf = energy.peak_figures(c)
    assert pf.access_time_ns == pytest.approx(t)
    assert pf.energy_per_access_pj == pytest.approx(e)
    assert pf.tops == pytest.approx(T * 2 * L * C / t * 1e-3)
    assert pf.power_mw == pytest.approx(T * (e / t + c["tile.leakage_mw"]))
    area = T * (c["tile.rows"] * C * c["cell.area_um2"] * 1e-6
                + C / c["adc.share"] * energy.adc_area_um2(c) * 1e-6 + c["tile.periphery_area_mm2"]) \
        + c["chip.global_area_mm2"]
    assert pf.area_mm2 == pytest.approx(area)
    assert pf.tops_per_watt == pytest.approx(pf.tops / pf.power_w)


def test_sar_conversion_time_and_sharing_slow_the_access():
    sar = TIM.replace(**{"adc.kind": "sar"})
    assert energy.conversion_time_ns(sar) == pytest.approx((TIM["adc.bits"] + 1) * TIM["adc.step_ns"])
    shared = TIM.replace(**{"adc.share": 4})
    assert energy.access_time_ns(shared) == pytest.approx(
        TIM["tile.precharge_ns"] + TIM["tile.evaluate_ns"] + 4 * TIM["adc.step_ns"])
    assert energy.peak_figures(shared).tops < energy.peak_figures(TIM).tops
    assert energy.peak_figures(shared).area_mm2 < energy.peak_figures(TIM).area_mm2


def test_digital_peak_rule():
    c = DIG
    M, C, T, t = c["digital.macs_per_cycle"], c["tile.columns"], c["chip.tiles"], c["digital.cycle_ns"]
    e = M * (c["digital.mac_energy_pj"] + 2 * c["digital.sram_read_energy_pj_per_bit"]) \
        + 2 * M / C * c["chip.buffer_energy_pj_per_bit"]
    pf = energy.peak_figures(c)
    assert pf.tops == pytest.approx(T * 2 * M / t * 1e-3)
    assert pf.energy_per_access_pj == pytest.approx(e)
    assert pf.power_mw == pytest.approx(T * (e / t + c["tile.leakage_mw"]))
    assert pf.area_breakdown_mm2["adc"] == 0.0
    # sparsity does not matter to a digital design without zero-skipping; the IMC design
    # at the same peak rule is faster and more efficient
    tim = energy.peak_figures(TIM)
    assert tim.tops > pf.tops and tim.tops_per_watt > pf.tops_per_watt


def test_format_info_prints_the_headline_table():
    text = format_info(TIM)
    for word in ("TOPS", "TOPS/W", "TOPS/mm2", "mm2", "paper", "peak.input_density", "114",
                 "fitted", "prediction", "0.25 to 1"):
        assert word in text
    assert "digital.macs_per_cycle" in format_info(DIG)


# ------------------------------------------------------------------------- latency
def _conv_layer(card, vectors=64, K=512, N=256):
    """Events and mapping of a conv-like layer (``vectors`` positions per inference)."""
    return energy.estimate_events(card, K=K, N=N, vectors=vectors)


def test_latency_halves_when_tiles_double():
    ev, mp = _conv_layer(TIM)
    assert mp["tiles"] == 2
    small = TIM.replace(**{"chip.tiles": mp["tiles"]})
    double = TIM.replace(**{"chip.tiles": 2 * mp["tiles"]})
    a = energy.workload_cost(small, [("conv", ev, mp)])
    b = energy.workload_cost(double, [("conv", ev, mp)])
    assert a.layers[0].replicas == 1 and b.layers[0].replicas == 2
    assert b.latency_ns == pytest.approx(a.latency_ns / 2)
    assert b.throughput == pytest.approx(2 * a.throughput)
    # by hand: 64 vectors x (512 rows / 16 per access over 2 row tiles = 16 accesses) x 2.3 ns
    assert a.latency_ns == pytest.approx(64 * 16 * energy.access_time_ns(TIM))


def test_a_layer_with_one_vector_cannot_use_spare_tiles_for_latency_but_a_batch_can():
    ev, mp = _conv_layer(TIM, vectors=1)
    big = TIM.replace(**{"chip.tiles": 8})
    one = energy.workload_cost(big, [("fc", ev, mp)], batch=1)
    many = energy.workload_cost(big, [("fc", ev, mp)], batch=8)
    assert one.layers[0].replicas == 1
    assert many.layers[0].replicas_batch == 4
    assert many.throughput == pytest.approx(4 * one.throughput)


def test_sequence_sums_layers_pipeline_takes_the_slowest():
    l1 = ("a",) + _conv_layer(TIM, vectors=10, K=256, N=256)
    l2 = ("b",) + _conv_layer(TIM, vectors=30, K=256, N=256)
    seq = energy.workload_cost(TIM.replace(**{"chip.pipeline": False, "chip.tiles": 2}), [l1, l2])
    pipe = energy.workload_cost(TIM.replace(**{"chip.pipeline": True, "chip.tiles": 2}), [l1, l2])
    t = [L.latency_ns for L in seq.layers]
    assert t[1] == pytest.approx(3 * t[0])
    assert seq.latency_ns == pytest.approx(sum(t))
    assert pipe.latency_ns == pytest.approx(max(t))
    # the leakage of the chip is charged over the time per inference
    leak = 2 * TIM["tile.leakage_mw"]
    assert seq.energy_by_component()["leakage"] == pytest.approx(leak * seq.latency_ns)
    assert pipe.energy_by_component()["leakage"] == pytest.approx(leak * pipe.latency_ns)


def test_too_few_tiles_is_a_clear_error_or_reload_rounds():
    ev, mp = _conv_layer(TIM, vectors=1, K=1024, N=512)   # 4 x 2 = 8 tiles
    no = TIM.replace(**{"chip.tiles": 3, "chip.allow_reload": False})
    with pytest.raises(InputError, match=r"needs 8 tiles.*chip.tiles is 3"):
        energy.workload_cost(no, [("big", ev, mp)])
    yes = TIM.replace(**{"chip.tiles": 3, "chip.allow_reload": True})
    c = energy.workload_cost(yes, [("big", ev, mp)])
    assert c.reload_rounds == 3
    assert c.reload_time_ns == pytest.approx(3 * 256 * TIM["tile.write_ns_per_row"])
    fits = energy.workload_cost(TIM, [("big", ev, mp)])
    assert fits.reload_rounds == 1 and fits.reload_time_ns == 0
    assert c.latency_ns > fits.latency_ns
    # a network whose layers fit one at a time but not together reloads in rounds
    l1 = ("a",) + _conv_layer(TIM, vectors=1, K=512, N=256)
    l2 = ("b",) + _conv_layer(TIM, vectors=1, K=512, N=256)
    two = TIM.replace(**{"chip.tiles": 2})
    c2 = energy.workload_cost(two, [l1, l2])
    assert c2.reload_rounds == 2 and [L.round for L in c2.layers] == [0, 1]
    writes = energy.reload_weight_writes(two, [l1[2], l2[2]], batch=4)
    assert writes == pytest.approx(2 * 512 * 256 / 4)


def test_digital_latency_counts_mac_cycles():
    ev, mp = _conv_layer(DIG, vectors=3, K=512, N=256)
    c = energy.workload_cost(DIG.replace(**{"chip.tiles": 2}), [("l", ev, mp)])
    # busiest tile holds 256 x 256 weights, 256 MACs per 1-ns cycle: 256 cycles per vector
    assert c.layers[0].latency_ns == pytest.approx(3 * 256 * DIG["digital.cycle_ns"])
    e = c.energy_by_component()
    assert e["bitline"] == pytest.approx(3 * 512 * 256 * 2 * DIG["digital.sram_read_energy_pj_per_bit"])
    assert e["accumulate"] == pytest.approx(3 * 512 * 256 * DIG["digital.mac_energy_pj"])
    assert e["adc"] == 0 and e["wordline"] == 0


def test_achieved_figures_approach_peak_on_a_full_dense_workload():
    # every tile full and busy (32 layers of one tile each, 1 vector each, pipelined):
    # achieved TOPS equals the peak; TOPS/W matches the peak at 50 % sparsity minus
    # buffer/interconnect extras
    layers = [(f"l{i}",) + energy.estimate_events(TIM, K=256, N=256, vectors=1, output_bits=0,
                                                   partial_sum_bits=0, input_bits=2)
              for i in range(32)]
    c = energy.workload_cost(TIM, layers, batch=1)
    pf = energy.peak_figures(TIM)
    assert c.tops == pytest.approx(pf.tops, rel=1e-9)
    # the estimate precharges only accesses that fire a wordline: probability 1 - 2**-16
    # for 16 rows at 50 % density, where the peak rule precharges every access
    assert c.tops_per_watt == pytest.approx(pf.tops_per_watt, rel=1e-5)
    assert c.tops_per_mm2 == pytest.approx(pf.tops_per_mm2, rel=1e-9)


def test_estimated_events_match_the_engine_on_random_data():
    from imcsim.engine import ImcBackend

    rng = np.random.default_rng(1)
    K, N, B = 300, 40, 400
    x = rng.integers(-1, 2, size=(B, K)) * (rng.random((B, K)) < 0.75)   # 50 % nonzero
    w = rng.integers(-1, 2, size=(K, N)) * (rng.random((K, N)) < 0.75)
    be = ImcBackend(TIM, seed=0)
    be.matmul(x, w, layer="l")
    got = be.events["l"].scaled(1 / B).as_dict()
    est, mp = energy.estimate_events(TIM, K=K, N=N)
    m = be.mappings["l"]
    assert (mp["tiles"], mp["serial_accesses_per_vector"]) == (m.tiles, m.serial_accesses_per_vector)
    for k in ("macs", "accesses", "adc_conversions", "accumulations", "input_bits"):
        assert est[k] == pytest.approx(got[k]), k
    for k in ("active_wordlines", "discharges", "precharges"):
        assert est[k] == pytest.approx(got[k], rel=0.05), k


def test_area_breakdown_sums_to_the_chip_area():
    for card in (TIM, XNOR, DIG):
        a = energy.area_breakdown(card)
        assert set(a) == set(energy.AREA_COMPONENTS)
        assert sum(a.values()) == pytest.approx(energy.chip_area_mm2(card))
    assert math.isclose(energy.area_breakdown(TIM)["cells"], 32 * 256 * 256 * TIM["cell.area_um2"] * 1e-6)


def test_workload_only_zoo_network_estimate():
    import networks
    from imcsim import report

    net = networks.zoo.load("alexnet")
    assert not net.has_weights
    shapes = energy.network_shapes(net)
    assert [s["name"] for s in shapes] == [l.name for l in net.quantized_layers()]
    a = energy.estimate_network(TIM, net, batch=4)
    d = energy.estimate_network(DIG, net, batch=4)
    assert a.reload_rounds > 1                     # AlexNet does not fit 32 tiles
    assert a.macs == pytest.approx(sum(l.macs for l in net.quantized_layers()))
    assert d.energy_pj > a.energy_pj and a.throughput > d.throughput
    ds = report.estimate_dataset(net, TIM, batch=4)
    assert "ESTIMATE" in ds.attrs["estimate"] and np.isnan(ds.accuracy).all()
    assert float(ds.energy_total) == pytest.approx(a.energy_pj)


def test_digital_cards_report_mac_cycles_not_adc_conversions():
    ev, mp = energy.estimate_events(TIM, K=300, N=100, vectors=2)
    c = energy.workload_cost(DIG, [("l", ev, mp)])
    e = c.layers[0].events
    assert e["adc_conversions"] == 0 and e["discharges"] == 0
    # tiles: 256 x 100 and 44 x 100 weights -> 100 + 18 cycles per vector
    assert e["accesses"] == pytest.approx(2 * (100 + 18))


@settings(max_examples=30, deadline=None)
@given(shapes=st.lists(st.tuples(st.integers(1, 700), st.integers(1, 600), st.integers(1, 50)),
                       min_size=1, max_size=4),
       extra=st.integers(0, 40), pipeline=st.booleans(), batch=st.sampled_from([1, 3, 16]))
def test_more_tiles_never_slow_a_network_down(shapes, extra, pipeline, batch):
    layers = [(f"l{i}",) + energy.estimate_events(TIM, K=K, N=N, vectors=V)
              for i, (K, N, V) in enumerate(shapes)]
    need = sum(mp["tiles"] for _, _, mp in layers)
    base = TIM.replace(**{"chip.pipeline": pipeline, "chip.tiles": need})
    more = base.replace(**{"chip.tiles": need + extra})
    a = energy.workload_cost(base, layers, batch=batch)
    b = energy.workload_cost(more, layers, batch=batch)
    assert b.latency_ns <= a.latency_ns + 1e-9
    assert b.batch_time_ns <= a.batch_time_ns + 1e-9
    assert b.tiles_used <= more["chip.tiles"]
    assert sum(sum(L.energy_pj.values()) for L in b.layers) == pytest.approx(b.energy_pj)


# ------------------------------------------------------------------------- XNOR divider
def test_xnor_divider_energy_follows_how_many_cells_pull_each_way():
    # issue 10 item 9: a resistive divider draws I n m / (n + m); the engine counts it
    from imcsim.engine import ImcBackend

    rng = np.random.default_rng(3)
    K, N = 256, 64
    w = rng.choice([-1, 1], size=(K, N))
    agree = np.sign(w[:, 0])[None, :].repeat(2, 0)          # every cell of column 0 agrees
    x = np.vstack([agree, rng.choice([-1, 1], size=(6, K))])
    be = ImcBackend(XNOR, seed=0)
    be.matmul(x, w, encoding="binary", layer="l")
    ev = be.events["l"]
    # brute force: n = cells pulling one way, m the other, per vector and column
    n = (x[:, :, None] * w[None] > 0).sum(1).astype(float)
    m = K - n
    expect = (n * m / K).sum()
    assert ev.divider_load == pytest.approx(expect, rel=1e-6)
    # the all-agreeing column draws no static current; a balanced one the most
    assert (n[:2, 0] * m[:2, 0]).sum() == 0
    e = energy.dynamic_energy(ev, XNOR)["bitline"]
    assert e == pytest.approx(ev.precharges * XNOR["bitline.precharge_energy_pj"]
                              + ev.divider_load * XNOR["bitline.divider_energy_pj"])
    # and ternary cells (a precharged bitline) count no divider load
    be2 = ImcBackend(TIM, seed=0)
    be2.matmul(x[:, :256], rng.integers(-1, 2, size=(256, 8)), layer="t")
    assert be2.events["t"].divider_load == 0


def test_sar_dac_energy_is_the_conventional_switching_sum():
    from device_models import adc_cost

    # Ginsburg and Chandrakasan (JSSC 2007): 1363.3 C Vref^2 for a 10-bit conventional array
    assert adc_cost.sar_dac_energy_pj(10, 1.0, 1.0) == pytest.approx(1.3633, rel=1e-4)
    # one bit: one decision of half the array, 2^(1+1-2) (2 - 1) = 1 C V^2
    assert adc_cost.sar_dac_energy_pj(1, 2.0, 0.5) == pytest.approx(2.0 * 0.25e-3)
    # a flash has levels - 1 comparators; the XNOR card's 11-level flash has 10
    assert adc_cost.flash_energy_pj(11, 4, 1.0, 0.0, 0.0) == pytest.approx(10e-3)
    assert adc_cost.converted_levels(XNOR) == 11


def test_estimated_divider_load_matches_the_engine_on_random_binary_data():
    from imcsim.engine import ImcBackend

    rng = np.random.default_rng(5)
    K, N, B = 300, 40, 300
    x = rng.choice([-1, 1], size=(B, K))
    w = rng.choice([-1, 1], size=(K, N))
    be = ImcBackend(XNOR, seed=0)
    be.matmul(x, w, encoding="binary", layer="l")
    got = be.events["l"].divider_load / B
    est, _ = energy.estimate_events(XNOR, K=K, N=N, input_density=1.0, weight_density=1.0)
    # groups of 256 and 44 rows: (255 + 43) / 4 per column
    assert est["divider_load"] == pytest.approx(N * (255 + 43) / 4)
    assert got == pytest.approx(est["divider_load"], rel=0.03)


@pytest.mark.parametrize("weights, slices", [("ternary", 1), ("int2", 1), ("int4", 3), ("int8", 7)])
def test_estimate_slices_match_the_engine_mapping(weights, slices):
    """The shape-only estimate splits k-bit weights into as many columns as the engine does
    (one rule: imcsim.engine.mapper.slices_for of the largest weight code)."""
    import imcsim
    from networks import Dense, Network

    net = Network([Dense("fc", 12, 5, weights=weights, inputs="unsigned2")], input_shape=[12])
    net.init(seed=1)
    net.freeze()
    shapes = energy.network_shapes(net)
    assert shapes[0]["slices"] == slices
    be = imcsim.ImcBackend(TIM, seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (3, 12))
    net.forward(x, be)
    assert be.mappings["fc"].slices == slices


@pytest.mark.parametrize("over", [{"adc.kind": "flash"}, {"adc.kind": "sar", "adc.bits": 5},
                                  {"adc.sensing": "differential"}, {"adc.sensing": "dual"}])
def test_costs_use_the_rules_of_the_engine_and_the_cards(over):
    """Conversion time is device_models.adc's, rails per column the tile's (one home each)."""
    import device_models as dm
    from imcsim.engine.tile import Tile

    card = TIM.replace(**over)
    assert energy.conversion_time_ns(card) == dm.adc.conversion_time(card)
    assert energy.rails(card) == Tile.from_card(card).converted_rails
    want = 2 if card["adc.sensing"] == "dual" else 1
    assert energy.rails(card) == want

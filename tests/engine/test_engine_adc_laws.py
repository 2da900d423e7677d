"""The ADC, noise and bitline laws, each as a test that can fail, and exact equivalence with
a CrossSim-style reference written from its semantics."""
import math

import numpy as np
import pytest
from numba import njit
from scipy.special import ndtr, ndtri

import device_models as dm
import imcsim
from imcsim.engine import ImcBackend, kernels
from imcsim.engine.kernels import (P_TAIL, Z_MAX, draw_gaussians, gauss_table,
                                   gaussians_from_bits)

from test_engine_reference import reference_product  # same folder (pytest prepend import mode)

IDEAL = dm.load_card("ideal")


def binomial_ok(k, n, p, z=4.5):
    """k successes of n trials within z standard deviations of n p."""
    return abs(k - n * p) <= z * math.sqrt(n * p * (1 - p))


# ------------------------------------------------------------------ CrossSim equivalence
def crosssim_reference(x, w, tile_rows: int, bits: int):
    """CrossSim's input-bit-sliced MVM with a SignMagnitudeADC per slice, written from its
    semantics: each tile of ``tile_rows`` rows (the last may be shorter) is one access per
    input bit; the differential pair gives sum(plane * w) over the tile; the ADC has
    2**bits - 1 levels over +-(rows in the tile), input clipped to that range and rounded
    half to even (rint of (v - min) * (levels - 1) / range); bits add with 2**p."""
    B, K = x.shape
    y = np.zeros((B, w.shape[1]))
    levels = 2 ** bits - 1
    for s in range(0, K, tile_rows):
        e = min(K, s + tile_rows)
        M = float(e - s)
        qmult = (levels - 1) / (2 * M)
        for p in range(4):
            plane = (x[:, s:e] >> p) & 1
            v = (plane @ w[s:e]).astype(np.float64)
            v = np.clip(v, -M, M)
            code = np.rint((v - (-M)) * qmult)
            y += float(2 ** p) * (code / qmult + (-M))
    return y


def crosssim_card(tile_rows: int, bits: int = 6):
    return IDEAL.replace(**{"tile.rows": tile_rows, "tile.columns": 256,
                            "tile.rows_per_access": tile_rows, "adc.sensing": "differential",
                            "adc.signed_format": "sign_magnitude", "adc.bits": bits,
                            "adc.range": "full", "adc.grid": "uniform", "chip.tiles": 64})


@pytest.mark.parametrize("tile_rows", [256, 124, 100])
def test_crosssim_equivalence_on_w1_tilings(tile_rows):
    """W1 (ternary 1152 x 256, unsigned 4-bit inputs, 6-bit sign-magnitude ADC): 256-row
    tiles (a short 128-row tile), 124-row tiles (lsb exactly 4 cells: many ties, short 36-row
    tile), 100-row tiles (short 52): every output equal."""
    w = np.random.default_rng(0).integers(-1, 2, size=(1152, 256))
    x = np.random.default_rng(1).integers(0, 16, size=(48, 1152))
    ref = crosssim_reference(x, w, tile_rows, 6)
    y, _ = imcsim.mvm(x, w, crosssim_card(tile_rows), encoding="unsigned4")
    np.testing.assert_array_equal(y, ref)
    # the data really exercises ties and the short tile's own range
    assert not np.array_equal(ref, x @ w)


def test_full_scale_is_the_rows_of_each_group():
    be = ImcBackend(crosssim_card(256), seed=0)
    w = np.ones((384, 4), int)
    be.matmul(np.zeros((1, 384), int), w, encoding="unsigned4", layer="l")
    st = be._layers["l"]
    assert sorted(float(g.values[-1]) for g in st.grids) == [128.0, 256.0]
    # a 128-row group's full rail reads 128 exactly (it would read 128 +- lsb/2 on +-256)
    y, _ = imcsim.mvm(np.ones((1, 384), int), w, crosssim_card(256), encoding="unsigned1")
    assert np.all(y == 384)


# ------------------------------------------------------------------ ties and grids
def test_ties_go_half_to_even():
    q = dm.adc.make_grid("dual", 3, 14)                       # lsb 2: ties at odd counts
    v = np.arange(15.0)
    codes = dm.adc.convert_code(v, q)
    assert codes[1::2].tolist() == [0, 2, 2, 4, 4, 6, 6]      # 1,3,5,... -> even codes
    # the per-comparator path follows the same rule
    codes2 = dm.adc.convert_code(v, q, np.zeros((15, 7)))
    assert np.array_equal(codes, codes2)


@pytest.mark.parametrize("sensing,fmt", [("dual", "sign_magnitude"),
                                         ("differential", "sign_magnitude"),
                                         ("differential", "twos_complement")])
@pytest.mark.parametrize("bits", [2, 3, 4, 6])
@pytest.mark.parametrize("M", [7, 15, 16, 40, 100, 256])
def test_count_aligned_grid_places_no_reference_on_a_count(sensing, fmt, bits, M):
    g = dm.adc.make_grid(sensing, bits, M, fmt, kind="count_aligned")
    thr = np.asarray(g.thresholds)
    assert np.all(np.abs(thr - np.floor(thr) - 0.5) < 1e-12)          # halfway between counts
    lo = -M if sensing == "differential" else 0
    counts = np.arange(lo, M + 1, dtype=float)
    assert not np.any(np.isin(counts, thr))
    steps = np.diff(thr)
    ell = steps.max()
    assert ell == math.floor(ell) and set(np.unique(steps)) <= {1.0, ell}
    assert 0.0 in set(np.asarray(g.values))                            # zero reads zero
    # each code reads the centre of its counts
    codes = dm.adc.convert_code(counts, g)
    for c in np.unique(codes):
        inside = counts[codes == c]
        if 0 < c < g.levels - 1 and inside.min() > lo and inside.max() < M:
            assert g.values[c] == pytest.approx(inside.mean())


def test_uniform_grids_of_the_issue_have_references_on_counts():
    """The motivation: the uniform 3-bit grid over 15 cells puts references 0.07 cells
    above counts 1 and 3; count_aligned does not."""
    u = dm.adc.make_grid("dual", 3, 15)
    assert np.min(np.abs(u.thresholds - np.round(u.thresholds))) < 0.11
    c = dm.adc.make_grid("dual", 3, 15, kind="count_aligned")
    assert np.min(np.abs(c.thresholds - np.round(c.thresholds))) == 0.5


# ------------------------------------------------------------------ offsets and gains
def _adc_card(kind, bits, **over):
    base = {"tile.rows": 16, "tile.columns": 64, "tile.rows_per_access": 16, "adc.bits": bits,
            "adc.kind": kind, "adc.grid": "count_aligned", "adc.offset_sigma_mv": 6.6,
            "chip.tiles": 100, "adc.range": "clip", "adc.clip_count": 15.0}
    base.update(over)
    return IDEAL.replace(**base)


def _state(card, K=64, N=64, seed=0):
    be = ImcBackend(card, seed=seed)
    be.matmul(np.zeros((1, K), int), np.ones((K, N), int), encoding="ternary", layer="l")
    return be._layers["l"]


def test_offsets_stay_in_volts_across_bits():
    # SAR: one comparator per converter, the same offset [cells] at every resolution
    a = _state(_adc_card("sar", 3)).offset
    b = _state(_adc_card("sar", 5)).offset
    np.testing.assert_array_equal(a, b)
    assert a.shape[-1] == 1
    # flash: 2**b - 1 comparators each, same sigma in cells (6.6 mV / 33 mV = 0.2) at any b
    for bits in (3, 5):
        o = _state(_adc_card("flash", bits)).offset
        assert o.shape[-1] == 2 ** bits - 1
        n = o.size // 1          # offsets of all comparators (columns share none: share 1)
        s = np.std(o[:, ::1, :, :])
        # chi-square: the sample sigma of n normals is within 4.5 sqrt(1/(2n)) relative
        assert abs(s / 0.2 - 1) < 4.5 / math.sqrt(2 * n)


def test_flash_comparators_are_independent_sar_shifts_all_alike():
    nominal = dm.adc.make_grid("dual", 4, 15, kind="count_aligned").thresholds
    sar = _state(_adc_card("sar", 4)).conv.thr[0, 0, 0]            # (NS, 15)
    np.testing.assert_allclose(np.diff(sar, axis=1), np.diff(nominal)[None, :].repeat(64, 0),
                               atol=1e-12)
    flash = _state(_adc_card("flash", 4)).offset[0, :, 0, :]       # (NS, 15)
    c = np.corrcoef(flash.T)                                         # comparator x comparator
    off_diag = c[~np.eye(15, dtype=bool)]
    # independent: each sample correlation of 64 pairs has sd 1/sqrt(63)
    assert np.all(np.abs(off_diag) < 4.5 / math.sqrt(63))
    # a flash's steps differ (DNL), a SAR's do not
    steps = np.diff(_state(_adc_card("flash", 4)).conv.thr[0, 0, 0], axis=1)
    assert steps.std() > 0.05


def test_gain_is_relative_and_bits_independent():
    a = _state(_adc_card("sar", 3, **{"adc.gain_sigma": 0.02})).gain
    b = _state(_adc_card("sar", 6, **{"adc.gain_sigma": 0.02})).gain
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ noise
def test_noise_floor_acts_at_count_zero():
    """No discharging cell: the per-cell noise is silent, the floor is not. Differential,
    lsb 1 cell: P(code != 0) = P(|z| > 0.5 / sigma_floor)."""
    base = {"tile.rows": 1, "tile.columns": 200, "tile.rows_per_access": 1,
            "adc.sensing": "differential", "adc.bits": 3, "chip.tiles": 100,
            "bitline.read_noise_sigma": 0.5}
    x = np.zeros((100, 1), int)
    w = np.ones((1, 200), int)
    quiet = IDEAL.replace(**base)
    assert np.all(imcsim.mvm(x, w, quiet, seed=1)[0] == 0)
    floor = IDEAL.replace(**{**base, "adc.noise_sigma_mv": 16.5})     # 0.5 cells
    assert dm.adc.noise_floor_cells(floor) == pytest.approx(0.5)
    y = imcsim.mvm(x, w, floor, seed=1)[0]
    assert binomial_ok(int(np.count_nonzero(y)), y.size, 2 * ndtr(-1.0))


def test_ktc_noise_of_the_sampling_capacitor():
    card = IDEAL.replace(**{"technology.temperature_k": 300.0, "bitline.sample_cap_ff": 50.0})
    ktc = math.sqrt(1.380649e-23 * 300 / 50e-15) * 1e3          # 0.288 mV
    assert dm.adc.ktc_noise_mv(50.0, 300.0) == pytest.approx(ktc)
    assert dm.adc.noise_floor_cells(card) == pytest.approx(ktc / 33.0)
    both = card.replace(**{"adc.noise_sigma_mv": 0.5})
    assert dm.adc.noise_floor_cells(both) == pytest.approx(math.hypot(ktc, 0.5) / 33.0)


def test_gaussian_tails_at_4_5_sigma():
    z = draw_gaussians(np.uint64(77), np.arange(20_000_000, dtype=np.int64), gauss_table())
    k = int(np.count_nonzero(np.abs(z) > 4.5))
    assert binomial_ok(k, z.size, 2 * ndtr(-4.5))
    assert np.abs(z).max() <= Z_MAX


def test_gaussian_tails_at_6_sigma():
    """Tail draws (selector 0) restricted to p < 2**-20 by their uniform bits: P(z < -6 |
    p < 2**-20) = Phi(-6) 2**20 = 1.03e-3, tested with a binomial tolerance on 2 M draws;
    and the tail quantile is exact where it is evaluated."""
    rng = np.random.default_rng(9)
    # u = (k + 1/2) 2**-53 < 2**-11, p = u P_TAIL < 2**-20; low bit 0: negative sign
    k53 = rng.integers(0, 1 << 42, size=2_000_000, dtype=np.uint64)
    bits = k53 << np.uint64(11)
    tails = np.ones(bits.size, dtype=bool)
    z = gaussians_from_bits(bits, tails, gauss_table())
    assert np.all(z < 0)
    k = int(np.count_nonzero(z < -6.0))
    assert binomial_ok(k, z.size, ndtr(-6.0) * 2.0 ** 20)
    for p in (ndtr(-9.0), ndtr(-8.0), ndtr(-6.0), ndtr(-4.5), P_TAIL * 0.999):
        kk = np.uint64(int(p / P_TAIL * 2.0 ** 53 - 0.5))
        zz = gaussians_from_bits(np.array([kk << np.uint64(11)], np.uint64),
                                 np.array([True]), gauss_table())[0]
        pp = (float(kk) + 0.5) * 2.0 ** -53 * P_TAIL
        assert zz == pytest.approx(ndtri(pp), rel=1e-12)


def test_generator_bounds_hold():
    """No central draw exceeds Z_CENTRAL (its largest is the table's entry at P_TAIL) and no
    tail draw exceeds Z_MAX (its largest has p = 2**-63): the skips of pass 1 rely on both."""
    table = gauss_table()
    assert abs(table[int(P_TAIL * 2 ** 14)]) <= kernels.Z_CENTRAL
    edge = np.array([0, (1 << 64) - 1], dtype=np.uint64)     # u at both ends
    central = gaussians_from_bits(edge, np.zeros(2, dtype=bool), table)
    assert np.all(np.abs(central) <= kernels.Z_CENTRAL)
    assert abs(gaussians_from_bits(edge[:1], np.ones(1, dtype=bool), table)[0]) <= Z_MAX
    assert -kernels.lower_quantile(2.0 ** -63) <= Z_MAX


def test_tail_bound_of_each_top_byte_holds_for_every_draw_in_it():
    """Pass 1 bounds a tail draw by the top byte i of its SplitMix64 value: |z| <=
    sqrt(_TAIL_RATIO2[i]) Z_CENTRAL for every draw in the bin, checked at both edges of each
    bin and at random bits; the bound is tight (the bin's largest draw reaches it within
    1e-4 relative) so that it rules out what it can."""
    rng = np.random.default_rng(4)
    top = np.arange(256, dtype=np.uint64) << np.uint64(56)
    low = rng.integers(0, 1 << 56, size=(256, 2000), dtype=np.uint64)
    low[:, 0] = 0
    low[:, 1] = (1 << 56) - 1
    bits = (top[:, None] | low).ravel()
    z = np.abs(gaussians_from_bits(bits, np.ones(bits.size, dtype=bool), gauss_table()))
    zb = np.sqrt(kernels._TAIL_RATIO2) * kernels.Z_CENTRAL
    zmax = z.reshape(256, -1).max(axis=1)
    assert np.all(zmax <= zb), np.flatnonzero(zmax > zb)
    np.testing.assert_allclose(zmax[1:], zb[1:], rtol=1e-4)
    assert zb[0] == pytest.approx(Z_MAX, rel=1e-11) and np.all(np.diff(zb) < 0)


def test_selector_makes_tail_draws_at_their_rate():
    """The selector byte makes 1/256 of the draws tail draws (|z| > Z_CENTRAL), and the
    central ones never exceed it."""
    z = draw_gaussians(np.uint64(5), np.arange(4_000_000, dtype=np.int64), gauss_table())
    central = -ndtri(P_TAIL)
    assert binomial_ok(int(np.count_nonzero(np.abs(z) > central)), z.size, 2 * P_TAIL)
    assert abs(z.mean()) < 4.5 / math.sqrt(z.size)
    assert abs(z.var() - 1) < 4.5 * math.sqrt(2 / z.size)


def _block_counts_and_slots(key, rail, n_blocks):
    sk = np.uint64(kernels._selector_key(np.uint64(key), rail))
    seen = np.empty(4, np.uint64)
    mark = np.zeros(256, np.uint8)
    cols = np.empty(kernels._TAILS_MAX, np.int64)
    counts = np.empty(n_blocks, int)
    slots = []
    for b in range(n_blocks):
        k = kernels._block_tails(sk, b, 0, 256, 1, seen, mark, cols, 0)
        counts[b] = k
        slots.append(cols[:k].copy())
    return counts, slots


def test_tail_slots_of_a_block_are_a_bernoulli_set():
    """Each block's tail slots: their number follows Binomial(256, 1/256) and they are
    distinct slots spread uniformly (chi-square tests at fixed keys, p > 1e-4), so every slot
    is a tail draw with probability 1/256 independently."""
    from scipy.stats import binom, chisquare

    counts, slots = _block_counts_and_slots(3, 0, 60_000)
    expected = binom.pmf(np.arange(6), 256, 1 / 256)
    expected = np.append(expected, 1 - expected.sum()) * counts.size
    observed = np.bincount(np.minimum(counts, 6), minlength=7)
    assert chisquare(observed, expected).pvalue > 1e-4
    assert all(len(set(s)) == len(s) for s in slots)
    allslots = np.concatenate(slots)
    assert chisquare(np.bincount(allslots, minlength=256)).pvalue > 1e-4
    # the two rails' selector streams are not the same stream
    other, _ = _block_counts_and_slots(3, 1, 2_000)
    assert not np.array_equal(other, counts[:2_000])


@njit
def _marks_of_a_row(key, rail, h0, n):
    mark = np.zeros(n, np.uint8)
    cols = np.empty(n, np.int64)
    m = kernels._row_tails(key, rail, h0, n, 1, np.empty(4, np.uint64), mark, cols, 0)
    return mark, cols[:m]


@pytest.mark.parametrize("h0,n", [(0, 256), (256 * 40 + 17, 300), (255, 2), (5_000_003, 1000)])
def test_row_tail_marks_agree_with_the_per_counter_selector(h0, n):
    """The kernel's row-wise tail marks are the per-counter definition (slot h = counter // 2,
    rail = counter % 2), also for rows that start inside a block or span several."""
    for rail in (0, 1):
        mark, cols = _marks_of_a_row(np.uint64(21), rail, h0, n)
        want = np.array([kernels.is_tail(np.uint64(21), 2 * (h0 + j) + rail) for j in range(n)])
        np.testing.assert_array_equal(mark.astype(bool), want)
        np.testing.assert_array_equal(np.sort(cols), np.flatnonzero(want))


def test_engine_errs_at_the_gaussian_rate_at_a_4_5_sigma_margin():
    """10 M conversions of a zero rail whose nearest reference is 4.5 sigma of the noise
    floor away: the code changes with probability 2 Phi(-4.5) (87 in 12.8 M, issue text);
    a generator truncated near 4 sigma would give none."""
    sigma_cells = 0.5 / 4.5
    card = IDEAL.replace(**{"tile.rows": 1, "tile.columns": 1000, "tile.rows_per_access": 1,
                            "adc.sensing": "differential", "adc.bits": 3, "chip.tiles": 10,
                            "adc.noise_sigma_mv": sigma_cells * 33.0})
    y = imcsim.mvm(np.zeros((10_000, 1), int), np.ones((1, 1000), int), card, seed=2)[0]
    assert binomial_ok(int(np.count_nonzero(y)), y.size, 2 * ndtr(-4.5))


# ------------------------------------------------------------------ paired chips
PAIRED = ["cell.mismatch_sigma", "cell.row_gain_sigma", "adc.offset_sigma_mv", "adc.gain_sigma",
          "cell.fault_rate"]


def test_paired_chips_zero_and_tiny_sigma_give_the_same_chip():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, size=(40, 70))
    w = rng.integers(-1, 2, size=(70, 12))
    base = {"tile.rows": 32, "tile.columns": 8, "tile.rows_per_access": 16, "adc.bits": 4,
            "adc.grid": "count_aligned", "chip.tiles": 100, "adc.range": "clip",
            "adc.clip_count": 15.0, "bitline.read_noise_sigma": 0.2}
    zero = IDEAL.replace(**base)
    tiny = IDEAL.replace(**{**base, **{p: 1e-12 for p in PAIRED if p != "cell.fault_rate"}})
    a = imcsim.mvm(x, w, zero, seed=4, encoding="unsigned4")[0]
    b = imcsim.mvm(x, w, tiny, seed=4, encoding="unsigned4")[0]
    np.testing.assert_array_equal(a, b)


def test_each_static_quantity_has_its_own_stream():
    base = _adc_card("flash", 4, **{"adc.gain_sigma": 0.02, "cell.row_gain_sigma": 0.05})
    ref = _state(base)
    for path, value in [("cell.mismatch_sigma", 0.1), ("cell.fault_rate", 0.1),
                        ("cell.row_gain_sigma", 0.0), ("adc.gain_sigma", 0.0)]:
        other = _state(base.replace(**{path: value}))
        if path != "adc.gain_sigma":
            np.testing.assert_array_equal(other.gain, ref.gain)
        np.testing.assert_array_equal(other.offset, ref.offset)


# ------------------------------------------------------------------ saturation
@pytest.mark.parametrize("name", ["tim_dnn_32nm", "xnor_sram_65nm", "ideal"])
def test_saturation_stays_within_the_supply(name):
    card = dm.load_card(name)
    s = dm.bitline.headroom_cells(card)
    swing = card["bitline.cell_swing_mv"]
    headroom_mv = 1000 * card["technology.vdd"] - card["bitline.sense_margin_mv"]
    assert s * swing == pytest.approx(headroom_mv)
    c = np.arange(0, 2000, dtype=float)
    for kind in ("clip", "exponential"):
        assert np.all(dm.bitline.analog(c, kind, s) * swing <= headroom_mv + 1e-9)


def test_tim_card_compresses_a_full_rail_within_its_headroom():
    card = dm.load_card("tim_dnn_32nm")
    s = dm.bitline.headroom_cells(card)
    v16 = float(dm.bitline.analog(16.0, "exponential", s))
    assert 16 * card["bitline.cell_swing_mv"] < 1000 * card["technology.vdd"]
    assert 10.0 < v16 < 13.0                            # 20-40 % compression at L = 16


def test_noise_acts_before_the_clip():
    """A clipped rail cannot read above its floor, whatever the noise."""
    card = IDEAL.replace(**{"tile.rows": 16, "tile.columns": 8, "tile.rows_per_access": 16,
                            "adc.bits": 5, "chip.tiles": 10, "bitline.saturation": "clip",
                            "bitline.sense_margin_mv": 900 - 10 * 33.0,
                            "bitline.read_noise_sigma": 1.0})
    y = imcsim.mvm(np.ones((2000, 16), int), np.ones((16, 8), int), card, seed=0)[0]
    assert y.max() <= 10.0 and y.min() < 10.0


def test_references_that_follow_the_curve_undo_the_compression():
    base = {"tile.rows": 16, "tile.columns": 8, "tile.rows_per_access": 16, "adc.bits": 5,
            "chip.tiles": 10, "bitline.saturation": "exponential",
            "bitline.sense_margin_mv": 900 - 20 * 33.0, "adc.grid": "count_aligned"}
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(50, 16))
    w = np.ones((16, 8), int)
    linear = imcsim.mvm(x, w, IDEAL.replace(**base), encoding="unsigned1")[0]
    follow = imcsim.mvm(x, w, IDEAL.replace(**{**base, "adc.follow_saturation": True}),
                        encoding="unsigned1")[0]
    np.testing.assert_array_equal(follow, x @ w)
    assert np.any(linear < x @ w)


# ------------------------------------------------------------------ correlated variation
def test_row_gain_is_common_to_the_columns_of_a_row():
    card = IDEAL.replace(**{"tile.rows": 16, "tile.columns": 16, "tile.rows_per_access": 16,
                            "adc.bits": 8, "chip.tiles": 10, "cell.row_gain_sigma": 0.3})
    be = ImcBackend(card, seed=0)
    be.matmul(np.zeros((1, 16), int), np.ones((16, 16), int), layer="l")
    g = be._layers["l"].strengths                           # (K, NS, 2)
    assert np.all(g == g[:, :1, :1])                        # one value per row
    assert g[:, 0, 0].std() > 0.1


def test_current_corner_scales_every_cell():
    card = IDEAL.replace(**{"tile.rows": 16, "tile.columns": 4, "tile.rows_per_access": 16,
                            "adc.bits": 8, "chip.tiles": 10, "cell.current_corner": -0.2})
    y = imcsim.mvm(np.ones((1, 10), int), np.ones((10, 4), int), card)[0]
    assert np.all(y == 8.0)                                 # 10 cells x 0.8


# ------------------------------------------------------------------ charge domain
CHARGE = IDEAL.replace(**{"bitline.domain": "charge", "tile.rows": 32, "tile.columns": 8,
                          "tile.rows_per_access": 32, "adc.bits": 4, "chip.tiles": 100,
                          "adc.sensing": "differential", "cell.kind": "xnor",
                          "cell.fault_value": "random"})


def test_charge_domain_is_exact_at_zero_and_linear():
    rng = np.random.default_rng(2)
    x = rng.choice([-1, 1], size=(30, 64))
    w = rng.choice([-1, 1], size=(64, 8))
    exact = CHARGE.replace(**{"adc.bits": 7})
    assert np.array_equal(imcsim.mvm(x, w, exact, encoding="binary")[0], x @ w)
    # no discharge saturation: a card cannot ask for one
    with pytest.raises(dm.CardError, match="bitline.saturation: expected none in the charge domain"):
        CHARGE.replace(**{"bitline.saturation": "clip"})
    with pytest.raises(dm.CardError, match="cell.mismatch_sigma: expected 0"):
        CHARGE.replace(**{"cell.mismatch_sigma": 0.1})


def test_charge_domain_capacitor_mismatch_and_ktc_against_the_reference():
    card = CHARGE.replace(**{"cell.cap_mismatch_sigma": 0.05, "technology.temperature_k": 300.0,
                             "bitline.sample_cap_ff": 0.5, "adc.offset_sigma_mv": 3.0})
    # kT/C of 0.5 fF at 300 K: 2.88 mV = 0.087 cells
    assert dm.adc.noise_floor_cells(card) == pytest.approx(2.878 / 33.0, rel=1e-3)
    rng = np.random.default_rng(3)
    x = rng.choice([-1, 1], size=(20, 64))
    w = rng.choice([-1, 1], size=(64, 8))
    be = ImcBackend(card, seed=1)
    y = be.matmul(x, w, encoding="binary", layer="l")
    g = be._layers["l"].strengths
    assert np.array_equal(g[..., 0], g[..., 1])             # one capacitor per cell
    np.testing.assert_allclose(y, reference_product(be, "l", x, "binary"), rtol=1e-12, atol=1e-9)
    assert not np.array_equal(y, x @ w)

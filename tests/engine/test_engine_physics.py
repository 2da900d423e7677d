"""Engine behaviour under non-idealities: reproducibility, direction of each effect,
agreement with the device_models reference functions, noise statistics, event counts and
bad input."""
import numpy as np
import pytest

import device_models as dm
import imcsim
from imcsim.engine import ImcBackend
from imcsim.engine.kernels import draw_gaussians, gauss_table

IDEAL = dm.load_card("ideal")


def card(**over):
    base = {"tile.rows": 64, "tile.columns": 32, "tile.rows_per_access": 16,
            "adc.sensing": "dual", "adc.bits": 6, "adc.levels": None, "adc.range": "full",
            "chip.tiles": 1000}
    base.update(over)
    return IDEAL.replace(**base)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, size=(300, 150))
    w = rng.integers(-1, 2, size=(150, 24))
    return x, w, (x @ w).astype(float)


def rel_err(y, ye):
    return float(np.sqrt(np.sum((y - ye) ** 2) / np.sum(ye ** 2)))


NOISY = {"cell.mismatch_sigma": 0.05, "bitline.read_noise_sigma": 0.3, "adc.offset_sigma_mv": 6.6,
         "adc.gain_sigma": 0.02, "cell.fault_rate": 0.01}


def test_same_seed_same_result_other_seed_other_result(data):
    x, w, _ = data
    c = card(**NOISY)
    y1, _ = imcsim.mvm(x, w, c, seed=3, encoding="unsigned4")
    y2, _ = imcsim.mvm(x, w, c, seed=3, encoding="unsigned4")
    y3, _ = imcsim.mvm(x, w, c, seed=4, encoding="unsigned4")
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, y3)


def test_result_independent_of_chunking_and_call_splitting(data):
    x, w, _ = data
    c = card(**NOISY)
    y_one = ImcBackend(c, seed=9, chunk_bytes=1 << 30).matmul(x, w, encoding="unsigned4")
    y_small = ImcBackend(c, seed=9, chunk_bytes=30_000).matmul(x, w, encoding="unsigned4")
    be = ImcBackend(c, seed=9)
    y_split = np.vstack([be.matmul(x[:100], w, encoding="unsigned4"),
                         be.matmul(x[100:], w, encoding="unsigned4")])
    np.testing.assert_array_equal(y_one, y_small)
    np.testing.assert_array_equal(y_one, y_split)


def test_result_independent_of_thread_count(data):
    import numba

    x, w, _ = data
    c = card(**NOISY)
    y2 = ImcBackend(c, seed=1).matmul(x, w, encoding="unsigned4")
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        y1 = ImcBackend(c, seed=1).matmul(x, w, encoding="unsigned4")
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(y1, y2)


def test_shortcuts_change_nothing_with_faults_and_coarse_adc(data):
    x, w, _ = data
    c = card(**{"cell.fault_rate": 0.05, "adc.bits": 3, "adc.offset_sigma_mv": 10.0})
    a = ImcBackend(c, seed=2).matmul(x, w, encoding="unsigned4")
    b = ImcBackend(c, seed=2, shortcuts=False).matmul(x, w, encoding="unsigned4")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sensing", ["dual", "differential"])
@pytest.mark.parametrize("saturation", ["none", "exponential"])
def test_skipped_draws_change_nothing_on_the_general_path(data, sensing, saturation):
    """Per-comparator offsets (search conversions), small noise (most conversions beyond
    Z_CENTRAL sigmas, where only tail draws matter) with and without saturation: skipping
    draws gives the result of drawing every one."""
    x, w, _ = data
    c = card(**{"cell.mismatch_sigma": 0.05, "bitline.read_noise_sigma": 0.02,
                "adc.offset_sigma_mv": 3.0, "adc.noise_sigma_mv": 0.5, "adc.sensing": sensing,
                "adc.signed_format": "sign_magnitude", "bitline.saturation": saturation,
                "bitline.cell_swing_mv": 33.0, "adc.bits": 5})
    a = ImcBackend(c, seed=4).matmul(x, w, encoding="unsigned4")
    b = ImcBackend(c, seed=4, shortcuts=False).matmul(x, w, encoding="unsigned4")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("path,values", [
    ("cell.mismatch_sigma", [0.0, 0.1, 0.3]),
    ("bitline.read_noise_sigma", [0.0, 0.2, 1.0]),
    ("cell.fault_rate", [0.0, 0.01, 0.1]),
    ("adc.offset_sigma_mv", [0.0, 10.0, 33.0]),
    ("adc.noise_sigma_mv", [0.0, 10.0, 33.0]),
    ("cell.row_gain_sigma", [0.0, 0.05, 0.2]),
    ("adc.gain_sigma", [0.0, 0.05, 0.2]),
    ("adc.bits", [8, 4, 2]),
])
def test_each_non_ideality_increases_the_error(data, path, values):
    x, w, ye = data
    # 64 rows per access: counts large enough that small deviations cross ADC thresholds
    base = {"tile.rows_per_access": 64, "adc.bits": 7}
    errs = [rel_err(imcsim.mvm(x, w, card(**{**base, path: v}), seed=0,
                               encoding="unsigned4")[0], ye)
            for v in values]
    assert errs[0] == 0.0, f"{path}={values[0]} must be exact"
    assert errs[0] < errs[1] < errs[2], f"{path}: errors {errs} do not grow"


def test_saturation_compresses_large_counts():
    # all-ones inputs and +1 weights: every row discharges BL; saturation lowers the result
    x = np.ones((4, 64), dtype=int)
    w = np.ones((64, 8), dtype=int)
    exact = 64.0
    lin = imcsim.mvm(x, w, card(), encoding="ternary")[0]
    np.testing.assert_array_equal(lin, exact)
    # headroom s = (900 mV - margin) / 33 mV: 372 mV -> 16 cells, 570 mV -> 10 cells
    sat = imcsim.mvm(x, w, card(**{"bitline.saturation": "exponential",
                                   "bitline.sense_margin_mv": 372.0}), encoding="ternary")[0]
    clip = imcsim.mvm(x, w, card(**{"bitline.saturation": "clip",
                                    "bitline.sense_margin_mv": 570.0}), encoding="ternary")[0]
    # 4 groups of 16 rows: exponential gives 16 * (1 - e^-1) ~ 10.1 per group
    assert np.all(sat < exact) and np.all(sat > 0)
    np.testing.assert_allclose(sat, 4 * np.round(16 * (1 - np.exp(-1))), atol=1e-9)
    np.testing.assert_array_equal(clip, 40.0)


def test_gaussian_stream_statistics():
    table = gauss_table()
    z = draw_gaussians(np.uint64(12345), np.arange(400_000, dtype=np.int64), table)
    assert abs(z.mean()) < 4 / np.sqrt(z.size)               # 4 standard errors
    assert abs(z.std() - 1.0) < 0.005
    assert abs(np.mean(z ** 4) - 3.0) < 0.05                 # Gaussian kurtosis
    assert abs(np.mean(np.abs(z) > 1.0) - 0.3173) < 0.003
    assert abs(np.mean(np.abs(z) > 3.0) - 0.0027) < 0.0004
    z2 = draw_gaussians(np.uint64(12346), np.arange(1000, dtype=np.int64), table)
    assert abs(np.corrcoef(z[:1000], z2)[0, 1]) < 0.15


def test_read_noise_has_the_requested_sigma():
    """sigma per discharging cell -> sigma * sqrt(n) on the rail; an ADC with lsb = 1 adds
    its quantization variance 1/12."""
    n, sig = 16, 1.5
    x = np.ones((20_000, n), dtype=int)
    w = np.ones((n, 1), dtype=int)
    c = card(**{"tile.rows": 16, "tile.rows_per_access": 16, "adc.bits": 8,
                "bitline.read_noise_sigma": sig})
    y = imcsim.mvm(x, w, c, seed=1, encoding="ternary")[0][:, 0]
    expected = np.sqrt(sig ** 2 * n + 1 / 12)
    assert abs(y.mean() - n) < 4 * expected / np.sqrt(y.size)
    assert abs(y.std() / expected - 1) < 0.03


def test_events_follow_the_data():
    rng = np.random.default_rng(3)
    K, N, B = 70, 10, 9
    c = card(**{"tile.rows": 32, "tile.columns": 8, "tile.rows_per_access": 8})
    x = rng.integers(0, 4, size=(B, K))
    w = rng.integers(-1, 2, size=(K, N))
    y, ev = imcsim.mvm(x, w, c, encoding="unsigned2")
    row_tiles, col_tiles = 3, 2
    groups = 4 + 4 + 1                      # 32 = 4 groups of 8, twice, then 6 rows
    planes = 2
    bits = np.stack([(x >> p) & 1 for p in range(2)])
    assert ev.vectors == B and ev.macs == B * K * N
    assert ev.accesses == B * planes * groups * col_tiles
    assert ev.active_wordlines == bits.sum() * col_tiles
    assert ev.discharges == sum(float((bits[p] @ (w != 0)).sum()) for p in range(2))
    starts = [0, 8, 16, 24, 32, 40, 48, 56, 64]
    active = sum(np.count_nonzero(np.bitwise_or.reduceat(bits[p], starts, axis=1)) for p in range(2))
    assert ev.precharges == active * N * 2
    assert ev.adc_conversions == B * planes * groups * N * 2
    assert ev.accumulations == B * planes * groups * N
    assert ev.input_bits == B * K * 2 * col_tiles
    zero_ev = imcsim.mvm(np.zeros_like(x), w, c, encoding="unsigned2")[1]
    assert zero_ev.active_wordlines == 0 and zero_ev.discharges == 0 and zero_ev.precharges == 0
    assert zero_ev.accesses == ev.accesses
    zero_w = imcsim.mvm(x, np.zeros_like(w), c, encoding="unsigned2")[1]
    assert zero_w.discharges == 0 and zero_w.active_wordlines == ev.active_wordlines


def test_mapping_reports_tiles_and_utilization():
    be = ImcBackend(card(**{"tile.rows": 32, "tile.columns": 8}))
    be.matmul(np.zeros((1, 70), int), np.ones((70, 10), int) * 3, encoding="ternary", layer="m")
    m = be.mappings["m"]
    assert (m.slices, m.columns, m.row_tiles, m.col_tiles, m.tiles) == (2, 20, 3, 3, 9)
    assert m.utilization == pytest.approx(70 * 20 / (9 * 32 * 8))


def test_too_many_tiles_without_reload_is_an_error():
    c = card(**{"tile.rows": 16, "tile.columns": 8, "chip.tiles": 2, "chip.allow_reload": False})
    with pytest.raises(imcsim.InputError, match="needs 6 tiles.*chip has 2"):
        imcsim.mvm(np.zeros((1, 40), int), np.zeros((40, 10), int), c)
    c2 = c.replace(**{"chip.allow_reload": True})
    _, ev = imcsim.mvm(np.zeros((1, 40), int), np.zeros((40, 10), int), c2)
    assert ev.weight_writes == 40 * 10


@pytest.mark.parametrize("x,w,kw,msg", [
    (np.full((2, 3), 2), np.ones((3, 2), int), {"encoding": "ternary"}, r"x: value 2 outside the ternary range \[-1, 1\]"),
    (np.full((2, 3), 16), np.ones((3, 2), int), {"encoding": "unsigned4"}, r"x: value 16 outside the unsigned4 range \[0, 15\]"),
    (np.full((2, 3), 0.5), np.ones((3, 2), int), {"encoding": "ternary"}, r"x: value 0.5 is not an integer"),
    (np.full((2, 3), np.nan), np.ones((3, 2), int), {"encoding": "ternary"}, r"x: contains NaN"),
    (np.zeros((2, 3), int), np.ones((4, 2), int), {"encoding": "ternary"}, r"inner dimensions differ"),
    (np.zeros((2, 3), int), np.ones((3, 2)) * 0.5, {"encoding": "ternary"}, r"w: value 0.5 is not an integer"),
    (np.zeros((2, 3), int), np.ones((3, 2), int), {"encoding": "ternary3"}, r"encoding: 'ternary3' is not one of"),
    (np.zeros((2, 3), int), np.ones((3, 2), int), {"encoding": "binary"}, r"value 0 is not allowed for binary"),
    (np.zeros((2, 3), int), np.ones((3, 2), int) * 2, {"encoding": "ternary", "asym": (1, 1, 1, 1)}, r"asymmetric scales need ternary weights"),
    (np.zeros((2, 3), int), np.full((3, 2), 2 ** 20), {"encoding": "ternary"}, r"w: value .* exceeds"),
])
def test_bad_input_names_argument_and_range(x, w, kw, msg):
    with pytest.raises(imcsim.InputError, match=msg):
        imcsim.mvm(x, w, card(), **kw)


def test_xnor_card_rejects_zero_weights():
    c = card(**{"cell.kind": "xnor", "adc.sensing": "differential", "cell.fault_value": "random"})
    with pytest.raises(imcsim.InputError, match=r"XNOR cells hold weights in \{-1, \+1\}, got 0"):
        imcsim.mvm(np.ones((1, 3), int), np.zeros((3, 2), int), c, encoding="binary")


def test_calibrated_range_follows_the_data_and_beats_full_range():
    """range: calibrated sets the ADC full scale to the largest count the data reaches
    (ideal devices, first call), stored in the mapping; with few bits it resolves the
    small counts of sparse data better than a range covering all L rows."""
    rng = np.random.default_rng(8)
    K, N, B = 128, 16, 400
    x = rng.integers(-1, 2, size=(B, K)) * (rng.random((B, K)) < 0.2)      # sparse inputs
    w = rng.integers(-1, 2, size=(K, N))
    ye = (x @ w).astype(float)
    base = {"tile.rows": 128, "tile.rows_per_access": 64, "adc.bits": 3}
    full = ImcBackend(card(**base), seed=0)
    cal = ImcBackend(card(**{**base, "adc.range": "calibrated"}), seed=0)
    y_full = full.matmul(x, w, encoding="ternary", layer="l")
    y_cal = cal.matmul(x, w, encoding="ternary", layer="l")
    # the largest rail count of the data, per row group of 64 rows
    counts = [np.maximum(x[:, s:s + 64], 0) @ (w[s:s + 64] == 1) + np.maximum(-x[:, s:s + 64], 0) @ (w[s:s + 64] == -1)
              for s in (0, 64)]
    counts += [np.maximum(x[:, s:s + 64], 0) @ (w[s:s + 64] == -1) + np.maximum(-x[:, s:s + 64], 0) @ (w[s:s + 64] == 1)
               for s in (0, 64)]
    assert cal.mappings["l"].adc_max_count == max(c.max() for c in counts)
    assert full.mappings["l"].adc_max_count == 64
    assert rel_err(y_cal, ye) < 0.5 * rel_err(y_full, ye)

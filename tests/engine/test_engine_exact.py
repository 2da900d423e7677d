"""Exactness of the engine: with ideal devices and an ADC that resolves every count,
y == x @ w bit for bit, for every shape, tile size, rows per access, encoding and sensing."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import device_models as dm
import imcsim
from imcsim.engine import ImcBackend

IDEAL = dm.load_card("ideal")


def ideal_card(rows, cols, L, sensing="dual", fmt="sign_magnitude", cell="ternary"):
    # enough bits for every count of L rows: dual needs L+1 levels, differential 2L+1
    bits = int(np.ceil(np.log2(2 * L + 2))) + 1
    return IDEAL.replace(**{
        "tile.rows": rows, "tile.columns": cols, "tile.rows_per_access": L,
        "adc.sensing": sensing, "adc.signed_format": fmt, "adc.bits": bits,
        "adc.levels": None, "adc.range": "full", "cell.kind": cell, "chip.tiles": 10_000,
        "cell.fault_value": "random",
    })


def draw_inputs(rng, B, K, encoding):
    if encoding == "ternary":
        return rng.integers(-1, 2, size=(B, K))
    if encoding == "binary":
        return rng.choice(np.array([-1, 1]), size=(B, K))
    k = int(encoding.lstrip("unsigned").lstrip("signed"))
    if encoding.startswith("unsigned"):
        return rng.integers(0, 2 ** k, size=(B, K))
    return rng.integers(-(2 ** (k - 1)), 2 ** (k - 1), size=(B, K))


encodings = st.sampled_from(["ternary", "binary", "unsigned1", "unsigned3", "unsigned8",
                             "signed2", "signed4"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(K=st.integers(1, 150), N=st.integers(1, 40), B=st.integers(1, 6),
       rows=st.sampled_from([4, 16, 33, 64]), cols=st.sampled_from([3, 8, 32]),
       Lfrac=st.floats(0.01, 1.0), enc=encodings, wbits=st.sampled_from([1, 1, 2, 5]),
       sensing=st.sampled_from(["dual", "differential"]),
       fmt=st.sampled_from(["sign_magnitude", "twos_complement"]),
       shortcuts=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_ideal_is_exact(K, N, B, rows, cols, Lfrac, enc, wbits, sensing, fmt, shortcuts, seed):
    rng = np.random.default_rng(seed)
    L = max(1, int(round(Lfrac * rows)))
    card = ideal_card(rows, cols, L, sensing, fmt)
    x = draw_inputs(rng, B, K, enc)
    wmax = 2 ** (wbits - 1) if wbits > 1 else 1
    w = rng.integers(-wmax, wmax + 1, size=(K, N))
    be = ImcBackend(card, seed=seed, shortcuts=shortcuts)
    y = be.matmul(x, w, encoding=enc, layer="l")
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, x.astype(np.float64) @ w.astype(np.float64))
    assert be.error_sums["l"][0] == 0.0


@settings(max_examples=25, deadline=None)
@given(K=st.integers(1, 120), N=st.integers(1, 20), B=st.integers(1, 5),
       L=st.sampled_from([1, 7, 16, 64]), seed=st.integers(0, 2 ** 16),
       enc=st.sampled_from(["binary", "ternary"]))
def test_xnor_cells_are_exact(K, N, B, L, seed, enc):
    rng = np.random.default_rng(seed)
    card = ideal_card(64, 16, L, "differential", cell="xnor")
    x = draw_inputs(rng, B, K, enc)
    w = rng.choice(np.array([-1, 1]), size=(K, N))
    y, ev = imcsim.mvm(x, w, card, seed=seed, encoding=enc)
    np.testing.assert_array_equal(y, x @ w)


@settings(max_examples=25, deadline=None)
@given(K=st.integers(1, 100), N=st.integers(1, 20), B=st.integers(1, 5),
       L=st.sampled_from([1, 5, 32]), seed=st.integers(0, 2 ** 16),
       scales=st.tuples(*[st.sampled_from([0.25, 0.5, 1.0, 1.5, 3.0])] * 4),
       shortcuts=st.booleans())
def test_asymmetric_scales_are_exact(K, N, B, L, seed, scales, shortcuts):
    rng = np.random.default_rng(seed)
    a, b, c, d = scales
    card = ideal_card(32, 8, L, "dual")
    x = rng.integers(-1, 2, size=(B, K))
    w = rng.integers(-1, 2, size=(K, N))
    be = ImcBackend(card, seed=seed, shortcuts=shortcuts)
    y = be.matmul(x, w, encoding="ternary", layer="l", asym=scales)
    xs = np.where(x > 0, d, np.where(x < 0, -c, 0.0))
    ws = np.where(w > 0, b, np.where(w < 0, -a, 0.0))
    np.testing.assert_allclose(y, xs @ ws, rtol=1e-12, atol=1e-9)


def test_shipped_ideal_card_is_exact_on_awkward_shapes():
    rng = np.random.default_rng(5)
    for K, N in [(1, 1), (129, 3), (300, 257), (1000, 1)]:
        x = rng.integers(0, 16, size=(7, K))
        w = rng.integers(-1, 2, size=(K, N))
        y, _ = imcsim.mvm(x, w, "ideal", encoding="unsigned4")
        np.testing.assert_array_equal(y, x @ w)


def test_large_batch_streams_in_chunks_and_stays_exact():
    rng = np.random.default_rng(2)
    card = ideal_card(64, 16, 16)
    x = rng.integers(0, 4, size=(3000, 70))
    w = rng.integers(-1, 2, size=(70, 9))
    be = ImcBackend(card, chunk_bytes=20_000, shortcuts=False)
    np.testing.assert_array_equal(be.matmul(x, w, encoding="unsigned2"), x @ w)

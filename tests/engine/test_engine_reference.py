"""The numba kernel against device_models.reference, output for output (noise included:
the reference gets the kernel's standard normals), and the draws the kernel skips."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import device_models as dm
from imcsim.engine import ImcBackend
from imcsim.engine.encoding import parse_encoding
from imcsim.engine.kernels import draw_gaussians, gauss_table

IDEAL = dm.load_card("ideal")


def reference_product(be: ImcBackend, layer: str, x, encoding: str, asym=None, vec0: int = 0):
    """What the engine computes for layer ``layer`` (ternary weights), access by access with
    device_models.reference, the chip state taken from the backend and the standard normals
    from its streams at the kernel's counters."""
    st_ = be._layers[layer]
    m = st_.mapping
    enc = parse_encoding(encoding, asym)
    planes = enc.planes_of(np.asarray(x))                      # (P, B, K)
    P, B, K = planes.shape
    NS = m.columns
    G = m.groups.shape[0]
    card = be.card
    differential = card["adc.sensing"] == "differential"
    table = gauss_table()
    out = np.zeros((B, NS))
    for gi, (s, e, t) in enumerate(m.groups):
        w = st_.w_cols[s:e]
        gains = None if st_.strengths is None else st_.strengths[s:e].astype(np.float64)
        off = st_.offset[t]                                    # (NS, 2, comparators)
        gn = st_.gain[t]
        M = e - s if card["adc.range"] == "full" else m.adc_max_count
        for p in range(P):
            # counters ((((v * P + p) * G + g) * NS + j) * 2 + rail
            v = np.arange(B)[:, None, None] + vec0
            j = np.arange(NS)[None, :, None]
            r = np.arange(2)[None, None, :]
            ctr = ((((v * P + p) * G + gi) * NS + j) * 2 + r).reshape(-1).astype(np.int64)
            z1 = draw_gaussians(st_.key, ctr, table).reshape(B, NS, 2)
            z2 = draw_gaussians(st_.key_floor, ctr, table).reshape(B, NS, 2)
            y = dm.reference.column_access(planes[p][:, s:e], w, card, gains=gains,
                                           adc_offsets=off, adc_gains=gn, z1=z1, z2=z2,
                                           max_count=M, split=not differential)
            if differential:
                out += enc.s_bl[p] * y
            else:
                out += enc.s_bl[p] * y[..., 0]
                out += -enc.s_blb[p] * y[..., 1]
    return out


def _card(base, **over):
    return base.replace(**over)


DUAL = IDEAL.replace(**{"tile.rows": 24, "tile.columns": 5, "tile.rows_per_access": 10,
                        "adc.bits": 3, "chip.tiles": 1000, "adc.share": 2})
DIFF = IDEAL.replace(**{"tile.rows": 24, "tile.columns": 5, "tile.rows_per_access": 10,
                        "adc.bits": 4, "chip.tiles": 1000, "adc.sensing": "differential",
                        "cell.kind": "xnor", "cell.fault_value": "random"})


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 20), sensing=st.sampled_from(["dual", "differential"]),
       enc=st.sampled_from(["ternary", "unsigned2", "signed3", "asym", "binary"]),
       sat=st.sampled_from(["none", "clip", "exponential"]),
       grid=st.sampled_from(["uniform", "count_aligned"]),
       kind=st.sampled_from(["flash", "sar"]), follow=st.booleans(),
       variation=st.booleans(), noise=st.booleans(), offsets=st.booleans(),
       K=st.integers(3, 40), B=st.integers(1, 5))
# the kernel's written-out branches, every time: affine conversion without saturation, with
# noise, dual and differential (a SAR keeps the affine form under offsets)
@example(seed=1, sensing="differential", enc="unsigned2", sat="none", grid="uniform", kind="sar",
         follow=False, variation=True, noise=True, offsets=True, K=33, B=4)
@example(seed=2, sensing="differential", enc="binary", sat="none", grid="uniform", kind="flash",
         follow=False, variation=True, noise=True, offsets=False, K=40, B=5)
@example(seed=3, sensing="dual", enc="signed3", sat="none", grid="uniform", kind="sar",
         follow=False, variation=True, noise=True, offsets=True, K=33, B=4)
def test_kernel_equals_reference(seed, sensing, enc, sat, grid, kind, follow, variation, noise,
                                 offsets, K, B):
    rng = np.random.default_rng(seed)
    base = DUAL if sensing == "dual" else DIFF
    if sensing == "differential":
        enc = "binary" if enc in ("asym", "binary") else enc
        follow = False
    elif enc == "binary":
        enc = "ternary"
    over = {"bitline.saturation": sat, "bitline.sense_margin_mv": 900.0 - 33.0 * 6.5,
            "adc.grid": grid, "adc.kind": kind, "adc.follow_saturation": follow}
    if variation:
        over.update({"cell.mismatch_sigma": 0.1, "cell.row_gain_sigma": 0.05,
                     "cell.current_corner": -0.03, "cell.fault_rate": 0.05})
    if noise:
        over.update({"bitline.read_noise_sigma": 0.3, "adc.noise_sigma_mv": 10.0,
                     "technology.temperature_k": 300.0})
    if offsets:
        over.update({"adc.offset_sigma_mv": 8.0, "adc.gain_sigma": 0.05})
    card = base.replace(**over)
    N = int(rng.integers(1, 8))
    asym = None
    if sensing == "differential":
        w = rng.choice([-1, 1], size=(K, N))
    else:
        w = rng.integers(-1, 2, size=(K, N))
    if enc == "binary":
        x = rng.choice([-1, 1], size=(B, K))
    elif enc in ("ternary", "asym"):
        x = rng.integers(-1, 2, size=(B, K))
        if enc == "asym":
            asym, enc = (0.7, 1.3, 0.9, 1.1), "ternary"
    else:
        e = parse_encoding(enc)
        x = rng.integers(e.lo, e.hi + 1, size=(B, K))
    be = ImcBackend(card, seed=seed, track_error=False)
    y = be.matmul(x, w, encoding=enc, layer="l", asym=asym)
    ref = reference_product(be, "l", x, enc, asym)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-9)


def test_skipped_noise_draws_change_no_result():
    """Draw skipping (codes no bounded draw can change; central draws far from a
    reference) against drawing every Gaussian, with and without saturation, on data that
    puts many conversions near references."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 8, size=(200, 60))
    w = rng.integers(-1, 2, size=(60, 12))
    for sat, sensing in (("none", "dual"), ("exponential", "dual"), ("clip", "differential"),
                         ("none", "differential")):
        card = DUAL.replace(**{"bitline.read_noise_sigma": 0.4, "adc.noise_sigma_mv": 5.0,
                               "technology.temperature_k": 300.0, "bitline.saturation": sat,
                               "bitline.sense_margin_mv": 600.0, "cell.mismatch_sigma": 0.05,
                               "adc.sensing": sensing, "adc.bits": 4})
        a = ImcBackend(card, seed=3).matmul(x, w, encoding="unsigned3")
        b = ImcBackend(card, seed=3, shortcuts=False).matmul(x, w, encoding="unsigned3")
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, x @ w)

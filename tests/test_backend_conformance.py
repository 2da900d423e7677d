"""One suite, both backends: ``networks.ExactBackend`` and ``imcsim.ImcBackend`` on the
``ideal`` card serve the same ``matmul`` call, refuse the same bad arguments with the same
error class and message, and count the same events."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import imcsim
import networks
from networks import BackendError


def exact():
    return networks.ExactBackend()


def imc():
    return imcsim.ImcBackend("ideal", seed=0)


BACKENDS = pytest.mark.parametrize("make", [exact, imc], ids=["exact", "imc"])

ENCODINGS = ["ternary", "binary", "unsigned1", "unsigned4", "signed2", "signed5"]


def inputs(encoding, shape, rng):
    kind, bits, lo, hi = networks.quant.parse_encoding(encoding)
    if kind == "binary":
        return rng.choice(np.array([-1, 1]), size=shape)
    return rng.integers(lo, hi + 1, size=shape)


def test_the_same_signature():
    a = inspect.signature(networks.ExactBackend.matmul).parameters
    b = inspect.signature(imcsim.ImcBackend.matmul).parameters
    assert list(a) == list(b) == ["self", "x", "w", "encoding", "layer", "asym"]
    for name in ("encoding", "asym"):
        assert a[name].default == b[name].default
    assert a["asym"].default is None and a["encoding"].default == "ternary"


@BACKENDS
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_exact_product_for_every_encoding(make, encoding):
    rng = np.random.default_rng(ENCODINGS.index(encoding))
    x = inputs(encoding, (5, 70), rng)
    w = rng.integers(-1, 2, size=(70, 9))
    y = make().matmul(x, w, encoding=encoding, layer="l")
    assert y.dtype == np.float64 and y.shape == (5, 9)
    np.testing.assert_array_equal(y, x.astype(np.float64) @ w)


@BACKENDS
def test_asymmetric_scales(make):
    rng = np.random.default_rng(3)
    x = rng.integers(-1, 2, size=(4, 40))
    w = rng.integers(-1, 2, size=(40, 6))
    a, b, c, d = 0.5, 2.0, 0.25, 4.0   # powers of two: the products are exact in float64
    y = make().matmul(x, w, encoding="ternary", layer="l", asym=(a, b, c, d))
    wv = np.select([w > 0, w < 0], [b, -a], 0.0)
    xv = np.select([x > 0, x < 0], [d, -c], 0.0)
    np.testing.assert_array_equal(y, xv @ wv)


BAD = [
    # (x, w, keyword arguments, the message after "layer 'l': ")
    (np.full((2, 3), 2), np.ones((3, 2), int), {"encoding": "ternary"},
     "x: value 2 outside the ternary range [-1, 1]"),
    (np.full((2, 3), 16), np.ones((3, 2), int), {"encoding": "unsigned4"},
     "x: value 16 outside the unsigned4 range [0, 15]"),
    (np.full((2, 3), 0.5), np.ones((3, 2), int), {"encoding": "ternary"},
     "x: value 0.5 is not an integer; ternary inputs are integers in [-1, 1]"),
    (np.full((2, 3), np.nan), np.ones((3, 2), int), {"encoding": "ternary"},
     "x: contains NaN or inf; ternary inputs are integers in [-1, 1]"),
    (np.zeros((2, 3), int), np.ones((3, 2), int), {"encoding": "binary"},
     "x: value 0 is not allowed for binary (bipolar) inputs; allowed {-1, +1}"),
    (np.zeros((2, 3), int), np.ones((4, 2), int), {"encoding": "ternary"},
     "x, w: inner dimensions differ: x is (2, 3), w is (4, 2)"),
    (np.zeros(3, int), np.ones((3, 2), int), {"encoding": "ternary"},
     "x, w: expected 2-D arrays (B, K) and (K, N), got shapes (3,) and (3, 2)"),
    (np.zeros((2, 3), int), np.ones((3, 2)) * 0.5, {"encoding": "ternary"},
     "w: value 0.5 is not an integer; weights are integers"),
    (np.zeros((2, 3), int), np.ones((3, 2), int), {"encoding": "ternary3"},
     "encoding: 'ternary3' is not one of ternary, binary, unsigned<k> (1 <= k <= 16), "
     "signed<k> (2 <= k <= 16)"),
    (np.zeros((2, 3), int), np.ones((3, 2), int), {"encoding": "signed1"},
     "encoding: 'signed1' is not one of"),
    (np.zeros((2, 3), int), np.ones((3, 2), int), {"encoding": "unsigned4", "asym": (1, 1, 1, 1)},
     "asym: asymmetric scales need ternary inputs, got encoding 'unsigned4'"),
    (np.zeros((2, 3), int), np.ones((3, 2), int), {"encoding": "ternary", "asym": (1, 0, 1, 1)},
     "asym: expected four scales (a, b, c, d) > 0, got (1, 0, 1, 1)"),
    (np.zeros((2, 3), int), np.ones((3, 2), int) * 2, {"encoding": "ternary", "asym": (1, 1, 1, 1)},
     "w: asymmetric scales need ternary weights in {-1, 0, 1}"),
]


@BACKENDS
@pytest.mark.parametrize("x, w, kw, message", BAD, ids=[b[3][:40] for b in BAD])
def test_the_same_errors(make, x, w, kw, message):
    with pytest.raises(BackendError) as ei:
        make().matmul(x, w, layer="l", **kw)
    assert str(ei.value).startswith(f"layer 'l': {message}"), str(ei.value)
    assert "\n" not in str(ei.value)


def test_the_engine_error_is_the_imcsim_bad_input_type_too():
    with pytest.raises(imcsim.InputError):
        imc().matmul(np.full((2, 3), 2), np.ones((3, 2), int), encoding="ternary", layer="l")


@BACKENDS
def test_event_keys(make):
    rng = np.random.default_rng(5)
    be = make()
    x = rng.integers(-1, 2, size=(6, 20))
    w = rng.integers(-1, 2, size=(20, 4))
    be.matmul(x, w, encoding="ternary", layer="a")
    be.matmul(x[:2], w, encoding="ternary", layer="a")
    be.matmul(x, w[:, :3], encoding="ternary", layer="b")
    assert set(be.events) == {"a", "b"}
    assert be.events["a"]["vectors"] == 8 and be.events["a"]["macs"] == 8 * 20 * 4
    assert be.events["b"]["vectors"] == 6 and be.events["b"]["macs"] == 6 * 20 * 3
    if isinstance(be, imcsim.ImcBackend):
        assert set(be.events["a"].as_dict()) == set(imcsim.EVENT_FIELDS)
    be.reset()
    assert be.events == {}

"""networks: layers, quantizers, STE gradients, BN folding, exact backend, network files."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import networks
from networks import ExactBackend, NetworkFileError, load_network, save_network
from networks.backend import BackendError, xnor_popcount_matmul
from networks.layers import (AvgPool2d, BatchNorm, Context, Conv2d, Dense, Flatten, LayerError, MaxPool2d,
                             ReLU, Residual, Sign, Ternarize, Uniform, fold, im2col, threshold_activation)
from networks.model import Network, from_spec
from networks.quant import InputQuantizer, WeightQuantizer, parse_encoding


@pytest.mark.slow
def test_networks_does_not_import_hardware():
    import subprocess
    import sys
    code = ("import sys, networks, networks.train; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('imcsim', 'device_models')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ==================================================================================== quantizers
def test_weight_quantizers_follow_the_literature():
    rng = np.random.default_rng(1)
    W = rng.normal(0, 0.3, (50, 7))
    W[0, 0] = 0.0  # sign(0) is +1 for a binary weight
    c, s = WeightQuantizer("binary").quantize(W)
    assert set(np.unique(c)) == {-1, 1} and np.all(s == 1)
    assert c[0, 0] == 1
    c, s = WeightQuantizer("xnor").quantize(W)
    np.testing.assert_allclose(s, np.abs(W).mean(axis=0))
    c, s = WeightQuantizer("ternary").quantize(W)
    delta = 0.7 * np.abs(W).mean(axis=0)
    np.testing.assert_array_equal(c, np.sign(W) * (np.abs(W) > delta))
    for j in range(7):
        sel = np.abs(W[:, j]) > delta[j]
        assert s[j] == pytest.approx(np.abs(W[sel, j]).mean())
    c, s = WeightQuantizer("int4").quantize(W)
    assert c.min() >= -7 and c.max() <= 7
    np.testing.assert_allclose(s, np.abs(W).max(axis=0) / 7)
    assert np.max(np.abs(c * s - W)) <= s.max() / 2 + 1e-12
    q = WeightQuantizer("asym_ternary")
    c, _ = q.quantize(W)
    t = 0.05 * np.abs(W).max()
    np.testing.assert_array_equal(c, (W > t).astype(int) - (W < -t))
    Wq, ste = q.fake(W, (0.2, 0.5))
    assert set(np.unique(Wq)) <= {-0.2, 0.0, 0.5}
    assert WeightQuantizer("xnor").weight_kind == "binary"
    assert WeightQuantizer("int3").weight_kind == "signed3"
    with pytest.raises(ValueError, match="unknown weight quantizer"):
        WeightQuantizer("quaternary")


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["binary", "ternary", "unsigned1", "unsigned4", "unsigned8", "signed4"]),
       st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=40))
def test_input_quantizer_codes_in_range_and_consistent(spec, values):
    q = InputQuantizer(spec, clip=1.5)
    x = np.array(values)
    codes, scale = q.to_int(x)
    kind, bits, lo, hi = parse_encoding(spec)
    assert codes.dtype.kind == "i" and codes.min() >= lo and codes.max() <= hi
    if kind == "binary":
        assert set(np.unique(codes)) <= {-1, 1}
    fake, _ = q.fake(x)
    np.testing.assert_allclose(fake, codes * scale)
    # quantizing the dequantized values gives the same codes (activations feed layers exactly)
    np.testing.assert_array_equal(q.to_int(fake)[0], codes)


def test_activation_outputs():
    x = np.array([-2.0, -0.6, -0.5, 0.0, 0.4, 0.5, 0.51, 3.0])
    np.testing.assert_array_equal(Sign("s").apply(x), [-1, -1, -1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(Ternarize("t", 0.5).apply(x), [-1, -1, 0, 0, 0, 0, 1, 1])
    u = Uniform("u", bits=2, clip=1.5)      # step 0.5
    np.testing.assert_allclose(u.apply(x), [0, 0, 0, 0, 0.5, 0.5, 0.5, 1.5])


# ==================================================================================== shapes
def _conv_reference(x, W, stride, pad):
    B, C, H, Wd = x.shape
    O, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (Wd + 2 * pad - kw) // stride + 1
    out = np.zeros((B, O, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("bchw,ochw->bo", patch, W)
    return out


@pytest.mark.parametrize("stride,pad", [(1, 0), (1, 1), (2, 1), (2, 0)])
def test_conv2d_matches_direct_convolution(stride, pad):
    rng = np.random.default_rng(stride * 10 + pad)
    conv = Conv2d("c", 3, 5, 3, stride=stride, padding=pad)
    out_shape = conv.build((3, 7, 6))
    conv.init(rng)
    x = rng.normal(size=(2, 3, 7, 6))
    y = conv.forward(x, Context(ExactBackend()))
    assert y.shape == (2,) + out_shape
    np.testing.assert_allclose(y, _conv_reference(x, conv.w_fp, stride, pad), atol=1e-12)
    assert conv.K == 27 and conv.N == 5 and conv.vectors == out_shape[1] * out_shape[2]


def test_quantized_conv_passes_im2col_patches_to_the_backend():
    rng = np.random.default_rng(0)
    conv = Conv2d("qc", 2, 4, 3, stride=1, padding=1, weights="ternary", inputs="ternary")
    conv.build((2, 5, 5))
    conv.init(rng)

    class Spy(ExactBackend):
        def matmul(self, x, w, encoding="ternary", layer="layer", asym=None):
            self.seen = (x.shape, w.shape, encoding, layer, asym, x.dtype.kind, w.dtype.kind)
            return super().matmul(x, w, encoding, layer, asym)

    be = Spy()
    x = rng.integers(-1, 2, (3, 2, 5, 5)).astype(float)
    y = conv.forward(x, Context(be))
    assert be.seen == ((3 * 25, 18), (18, 4), "ternary", "qc", None, "i", "i")
    ref = _conv_reference(x, conv.w_int * conv.w_scale[:, None, None, None], 1, 1)
    np.testing.assert_allclose(y, ref, atol=1e-12)
    assert be.events["qc"]["vectors"] == 75 and be.events["qc"]["macs"] == 75 * 18 * 4


def test_pool_flatten_residual_shapes():
    net = Network([
        Conv2d("c1", 1, 4, 3, padding=1), MaxPool2d("mp", 2), AvgPool2d("ap", 3, stride=1, padding=1),
        Residual("r", [Conv2d("r.c", 4, 8, 1, stride=2), BatchNorm("r.bn")],
                 [Conv2d("r.down", 4, 8, 1, stride=2)]),
        Flatten("f"), Dense("fc", 8 * 2 * 2, 3)], input_shape=(1, 8, 8)).init(0)
    assert net["mp"].out_shape == (4, 4, 4) and net["ap"].out_shape == (4, 4, 4)
    assert net["r"].out_shape == (8, 2, 2) and net.output_shape == (3,)
    assert net.forward(np.zeros((2, 64))).shape == (2, 3)
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    mp = MaxPool2d("m", 3, stride=2, padding=1)
    mp.build((1, 4, 4))
    np.testing.assert_array_equal(mp.forward(x)[0, 0], [[5, 7], [13, 15]])
    with pytest.raises(LayerError, match="differ"):
        Network([Residual("bad", [Conv2d("x", 1, 2, 1)])], input_shape=(1, 4, 4))
    with pytest.raises(LayerError, match="used twice"):
        Network([Dense("a", 4, 4), Dense("a", 4, 4)], input_shape=(4,))
    with pytest.raises(LayerError, match="expects 5 input features"):
        Network([Dense("a", 5, 4)], input_shape=(4,))


def test_im2col_order_is_channel_major():
    x = np.arange(2 * 3 * 3, dtype=float).reshape(1, 2, 3, 3)
    cols, Ho, Wo = im2col(x, 2, 2, (1, 1), (0, 0))
    assert (Ho, Wo) == (2, 2) and cols.shape == (4, 8)
    np.testing.assert_array_equal(cols[0], [0, 1, 3, 4, 9, 10, 12, 13])


# ==================================================================================== gradients
def _numeric_grad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + eps
        fp = f()
        a[i] = old - eps
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def _fp_net():
    return Network([
        Conv2d("c1", 2, 3, 3, stride=1, padding=1), BatchNorm("bn1"), ReLU("r1"),
        Residual("res", [Conv2d("res.c", 3, 3, 3, padding=1), BatchNorm("res.bn")],
                 [Conv2d("res.sc", 3, 3, 1)]),
        Conv2d("c2", 3, 3, 3, stride=2, padding=1), MaxPool2d("mp", 3, stride=2, padding=1),
        AvgPool2d("ap", 2), Flatten("fl"), Dense("fc", 3, 4)],
        input_shape=(2, 5, 5))


def test_backward_matches_numeric_gradient_full_precision():
    rng = np.random.default_rng(3)
    net = _fp_net().init(1)
    for l in net.linear_layers():
        l.W = rng.normal(0, 0.5, l.W.shape)
        if l.b is not None:
            l.b = rng.normal(0, 0.1, l.b.shape)
    x = rng.normal(size=(4, 2, 5, 5))
    r = rng.normal(size=(4, 4))

    def loss():
        return float(np.sum(net.train_forward(x) * r))

    loss()
    net.backward(r)
    for attr, layer in net.parameters():
        num = _numeric_grad(loss, getattr(layer, attr))
        np.testing.assert_allclose(layer.grads[attr], num, rtol=1e-4, atol=1e-6,
                                   err_msg=f"{layer.name}.{attr}")


@pytest.mark.parametrize("wspec,ispec", [("binary", "binary"), ("ternary", "ternary"), ("xnor", "unsigned3"),
                                         ("asym_ternary", "ternary"), ("int4", "signed4")])
def test_straight_through_estimator(wspec, ispec):
    """dL/dW_latent = dL/dW_quantized * STE mask; dL/dx = dL/dx_quantized * mask;
    checked against numeric gradients of the same layer with the quantized values held as floats."""
    rng = np.random.default_rng(7)
    layer = Dense("q", 6, 5, weights=wspec, inputs=ispec, input_clip=1.0)
    layer.build((6,))
    layer.init(rng)
    layer.W = rng.uniform(-1.5, 1.5, layer.W.shape)
    x = rng.uniform(-1.5, 1.5, (4, 6))
    r = rng.normal(size=(4, 5))
    layer.train_forward(x)
    dx = layer.backward(r)
    Wq, ste = layer.wq.fake(layer.W, layer.ab)
    xq, xmask = layer.iq.fake(x)
    # numeric gradient wrt the quantized weights and inputs, as continuous variables
    Wq = Wq.copy()
    xq = xq.copy()
    num_w = _numeric_grad(lambda: float(np.sum((xq @ Wq) * r)), Wq)
    num_x = _numeric_grad(lambda: float(np.sum((xq @ Wq) * r)), xq)
    exp_w = num_w * (ste if ste is not None else 1.0)
    np.testing.assert_allclose(layer.grads["W"], exp_w, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dx, num_x * xmask, rtol=1e-5, atol=1e-8)
    if wspec in ("binary", "xnor"):
        assert np.all(layer.grads["W"][np.abs(layer.W) > 1] == 0)
    if wspec == "asym_ternary":
        codes, _ = layer.wq.quantize(layer.W)
        np.testing.assert_allclose(layer.grads["ab"], [-(num_w * (codes < 0)).sum(), (num_w * (codes > 0)).sum()])


def test_activation_ste():
    x = np.array([-1.5, -1.0, -0.3, 0.0, 0.7, 1.0, 1.2])
    g = np.ones_like(x)
    for act in (Sign("s"), Ternarize("t")):
        act.train_forward(x)
        np.testing.assert_array_equal(act.backward(g), [0, 1, 1, 1, 1, 1, 0])
    u = Uniform("u", bits=3, clip=1.0)
    u.train_forward(x)
    np.testing.assert_array_equal(u.backward(g), [0, 0, 0, 1, 1, 1, 0])


# ==================================================================================== BN folding
@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["sign", "ternarize", "uniform2", "uniform4"]),
       st.sampled_from([("ternary", "ternary"), ("binary", "binary"), ("xnor", "unsigned4"),
                        ("asym_ternary", "binary"), ("int3", "ternary")]),
       st.booleans(), st.integers(0, 10_000))
def test_folded_thresholds_equal_bn_then_activation(act, q, with_bn, seed):
    rng = np.random.default_rng(seed)
    layer = Dense("q", 16, 12, weights=q[0], inputs=q[1], bias=bool(seed % 2))
    layer.build((16,))
    layer.init(rng)
    if layer.b is not None:
        layer.b = rng.normal(0, 0.5, 12)
    bn = None
    if with_bn:
        bn = BatchNorm("bn", 12)
        bn.build((12,))
        bn.init(rng)
        bn.gamma = rng.normal(0, 1, 12)
        bn.gamma[:2] = [0.0, -0.7]                       # zero and negative scales flip/fix outputs
        bn.beta = rng.normal(0, 0.5, 12)
        bn.mean = rng.normal(0, 2, 12)
        bn.var = rng.uniform(0.1, 4, 12)
    a = {"sign": Sign("a"), "ternarize": Ternarize("a", 0.4),
         "uniform2": Uniform("a", 2, 1.0), "uniform4": Uniform("a", 4, 2.0)}[act]
    x = rng.uniform(-1.2, 1.2, (64, 16))
    ctx = Context(ExactBackend())
    u = layer.forward(x, ctx)
    ref = a.apply(bn.forward(u) if bn is not None else u)
    z = layer.accumulate(x, ctx)
    A, Bc = fold(layer, bn, a)
    folded = threshold_activation(z, A, Bc, a)
    np.testing.assert_array_equal(folded, ref)


# ==================================================================================== backend
def test_exact_backend_integer_products_and_events():
    rng = np.random.default_rng(0)
    be = ExactBackend()
    for enc in ("ternary", "binary", "unsigned4", "signed5"):
        kind, bits, lo, hi = parse_encoding(enc)
        x = rng.integers(lo, hi + 1, (9, 70))
        if kind == "binary":
            x = np.where(x >= 0, 1, -1)
        w = rng.integers(-7, 8, (70, 6)).astype(np.int8)
        y = be.matmul(x.astype(np.int8 if hi < 128 else np.int32), w, encoding=enc, layer=enc)
        assert y.dtype == np.float64 and y.shape == (9, 6)
        np.testing.assert_array_equal(y, x.astype(np.int64) @ w.astype(np.int64))
        assert be.events[enc] == {"vectors": 9, "macs": 9 * 70 * 6, "calls": 1}
    be.reset()
    assert be.events == {}


def test_exact_backend_asym_and_errors():
    rng = np.random.default_rng(1)
    x = rng.integers(-1, 2, (5, 11))
    w = rng.integers(-1, 2, (11, 3))
    a, b, c, d = 0.3, 1.7, 0.5, 2.0
    y = ExactBackend().matmul(x, w, encoding="ternary", layer="l", asym=(a, b, c, d))
    wv = np.select([w > 0, w < 0], [b, -a], 0.0)
    xv = np.select([x > 0, x < 0], [d, -c], 0.0)
    np.testing.assert_allclose(y, xv @ wv, rtol=1e-12, atol=1e-12)
    # balanced sums are exactly zero (no summation-order residue)
    xb = np.array([[1, 1, -1, -1]])
    wb = np.array([[1], [-1], [1], [-1]])
    assert ExactBackend().matmul(xb, wb, encoding="ternary", layer="z", asym=(0.2488, 0.2611, 1, 1))[0, 0] == 0.0
    be = ExactBackend()
    with pytest.raises(BackendError, match=r"layer 'l': x: value 2 outside the ternary range \[-1, 1\]"):
        be.matmul(np.array([[2, 0]]), np.ones((2, 1), int), encoding="ternary", layer="l")
    with pytest.raises(BackendError, match="value 0 is not allowed for binary"):
        be.matmul(np.array([[0, 1]]), np.ones((2, 1), int), encoding="binary", layer="l")
    with pytest.raises(BackendError, match="x: value 0.5 is not an integer"):
        be.matmul(np.array([[0.5, 1]]), np.ones((2, 1), int), encoding="unsigned2", layer="l")
    with pytest.raises(BackendError, match="inner dimensions differ"):
        be.matmul(np.ones((1, 2), int), np.ones((3, 1), int), encoding="unsigned2", layer="l")
    with pytest.raises(BackendError, match="encoding: 'quaternary' is not one of"):
        be.matmul(np.ones((1, 2), int), np.ones((2, 1), int), encoding="quaternary", layer="l")


@pytest.mark.parametrize("K", [1, 63, 64, 65, 200])
def test_bitpacked_xnor_popcount_is_exact(K):
    rng = np.random.default_rng(K)
    x = np.where(rng.random((7, K)) < 0.5, 1, -1).astype(np.int8)
    w = np.where(rng.random((K, 5)) < 0.5, 1, -1).astype(np.int8)
    np.testing.assert_array_equal(xnor_popcount_matmul(x, w), x.astype(int) @ w.astype(int))
    y = ExactBackend(packed=True).matmul(x, w, encoding="binary", layer="b")
    np.testing.assert_array_equal(y, x.astype(int) @ w.astype(int))


# ==================================================================================== network files
def _small_qnet():
    return Network([
        Conv2d("conv1", 1, 4, 3, padding=1, weights="ternary", inputs="unsigned4"), BatchNorm("bn1"),
        Ternarize("act1"), MaxPool2d("pool1", 2),
        Residual("blk", [Conv2d("blk.c", 4, 4, 3, padding=1, weights="asym_ternary", inputs="ternary"),
                         BatchNorm("blk.bn")]),
        Sign("act2"), Flatten("flat"),
        Dense("fc1", 64, 8, weights="binary", inputs="binary"), BatchNorm("bn3"), Uniform("act3", 3, 1.0),
        Dense("fc2", 8, 3, weights="int4", inputs="unsigned3", bias=True)],
        input_shape=(1, 8, 8), name="small")


def test_network_file_round_trip(tmp_path):
    net = _small_qnet().init(5)
    rng = np.random.default_rng(0)
    for l in net.all_layers():
        if isinstance(l, BatchNorm):
            l.gamma, l.beta = rng.normal(1, 0.3, l.channels), rng.normal(0, 0.3, l.channels)
            l.mean, l.var = rng.normal(0, 0.5, l.channels), rng.uniform(0.5, 2, l.channels)
    net.load_state_dict(net.state_dict())            # round to the stored precision
    x = rng.uniform(0, 1, (20, 1, 8, 8))
    p = save_network(net, tmp_path / "small.yaml")
    assert (tmp_path / "small.npz").exists()
    net2 = load_network(p)
    assert net2.spec() == net.spec()
    s1, s2 = net.state_dict(), net2.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])
        assert s1[k].dtype == s2[k].dtype
    np.testing.assert_array_equal(net.forward(x), net2.forward(x))
    assert [l.name for l in net2.quantized_layers()] == ["conv1", "blk.c", "fc1", "fc2"]
    assert net2["blk.c"].asym is not None and net2["fc2"].weight_kind == "signed4"
    with np.load(tmp_path / "small.npz", allow_pickle=False) as f:
        assert f["conv1.w_int"].dtype == np.int8 and f["conv1.w_int"].shape == (4, 1, 3, 3)


def test_shape_mismatch_names_layer_expected_and_found(tmp_path):
    net = _small_qnet().init(0)
    save_network(net, tmp_path / "n.yaml")
    arrays = dict(np.load(tmp_path / "n.npz", allow_pickle=False))
    arrays["fc1.w_int"] = np.ones((64, 9), np.int8)
    np.savez(tmp_path / "n.npz", **arrays)
    with pytest.raises(NetworkFileError) as e:
        load_network(tmp_path / "n.yaml")
    msg = str(e.value)
    assert "fc1" in msg and "(64, 8)" in msg and "(64, 9)" in msg and "n.npz" in msg


def test_bad_network_files(tmp_path):
    net = _small_qnet().init(0)
    p = save_network(net, tmp_path / "n.yaml")
    arrays = dict(np.load(tmp_path / "n.npz", allow_pickle=False))
    # missing array
    a = dict(arrays)
    del a["bn1.var"]
    np.savez(tmp_path / "n.npz", **a)
    with pytest.raises(NetworkFileError, match="bn1.*missing.*bn1.var"):
        load_network(p)
    # pickled object arrays are refused
    a = dict(arrays)
    a["bn1.var"] = np.array([object()] * 4, dtype=object)
    np.savez(tmp_path / "n.npz", **a)
    with pytest.raises(NetworkFileError, match="n.npz"):
        load_network(p)
    # out-of-range ternary codes
    a = dict(arrays)
    a["conv1.w_int"] = a["conv1.w_int"] * 3
    a["conv1.w_int"][0, 0, 0, 0] = 3
    np.savez(tmp_path / "n.npz", **a)
    with pytest.raises(NetworkFileError, match="conv1"):
        load_network(p)
    # unknown key in the YAML
    text = p.read_text().replace("delta: 0.5", "delta: 0.5, colour: red", 1)
    (tmp_path / "k.yaml").write_text(text)
    with pytest.raises(NetworkFileError, match="colour"):
        load_network(tmp_path / "k.yaml")
    with pytest.raises(NetworkFileError, match="not found"):
        load_network(tmp_path / "nothing.yaml")
    (tmp_path / "m.yaml").write_text(p.read_text().replace("n.npz", "missing.npz"))
    with pytest.raises(NetworkFileError, match="missing.npz"):
        load_network(tmp_path / "m.yaml")
    with pytest.raises(NetworkFileError, match="unknown layer type"):
        from_spec({"input_shape": [4], "layers": [{"type": "lstm", "name": "x"}]})
    with pytest.raises(NetworkFileError, match="need quantized inputs"):
        from_spec({"input_shape": [4], "layers": [{"type": "dense", "name": "x", "in": 4, "out": 2,
                                                     "weights": "ternary", "inputs": "fp"}]})


def test_asym_needs_ternary_inputs():
    with pytest.raises(LayerError, match="asym_ternary"):
        Dense("x", 4, 2, weights="asym_ternary", inputs="unsigned4")


def test_workload_without_weights_is_clear():
    net = Network([Dense("a", 4, 2, weights="ternary", inputs="ternary")], input_shape=(4,))
    assert not net.has_weights
    with pytest.raises(LayerError, match="no weights"):
        net.forward(np.zeros((1, 4)))
    assert net.init(0).has_weights
    assert isinstance(networks.NetworkError, type) and issubclass(NetworkFileError, networks.NetworkError)


def test_empty_batch_and_pickle():
    import pickle
    net = _small_qnet().init(2)
    out = net.forward(np.zeros((0, 1, 8, 8)), ExactBackend(packed=True))
    assert out.shape == (0, 3)
    x = np.random.default_rng(0).uniform(0, 1, (5, 64))           # flat samples are reshaped
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(net)).forward(x), net.forward(x))


@pytest.mark.parametrize("H, W, kernel, stride, padding", [
    (8, 8, (3, 3), (1, 1), (1, 1)), (7, 9, (2, 3), (2, 1), (0, 1)), (5, 5, (5, 5), (1, 1), (0, 0))])
def test_window_geometry_is_one_rule(H, W, kernel, stride, padding):
    """Conv, pooling and im2col agree on the output size (networks.layers.window.output_size)."""
    from networks.layers.window import output_size

    Ho, Wo = output_size(H, W, kernel, stride, padding)
    assert (Ho, Wo) == ((H + 2 * padding[0] - kernel[0]) // stride[0] + 1,
                        (W + 2 * padding[1] - kernel[1]) // stride[1] + 1)
    x = np.zeros((1, 2, H, W))
    cols, ho, wo = im2col(x, *kernel, stride, padding)
    assert (ho, wo) == (Ho, Wo) and cols.shape == (Ho * Wo, 2 * kernel[0] * kernel[1])
    conv = Conv2d("c", 2, 3, kernel=kernel, stride=stride, padding=padding, weights="ternary",
                  inputs="ternary")
    pool = MaxPool2d("p", kernel=kernel, stride=stride, padding=padding)
    assert conv._out_shape((2, H, W)) == (3, Ho, Wo)
    assert pool._out_shape((2, H, W)) == (2, Ho, Wo)

"""ONNX / QONNX import: the imported network computes what the reference executor computes.

References: ``qonnx.core.onnx_exec.execute_onnx`` for QONNX graphs, ``onnx.reference``
for standard ONNX.  Inputs: MNIST itself is not available here, so the TFC models see
Fashion-MNIST test images (real 28 x 28 images in [0, 1], from
/usr/share/datasets/fashion-mnist when installed) plus uniform random images in [0, 1];
the small graphs see random inputs in their first quantizer's domain.  Equivalence:
logits within 1e-5 x (1 + the sample's largest |logit|) (float32 reference vs float64 here)
and the same class wherever the reference's top two logits differ by more than 1e-5.

The TFC fixtures live at ``<repository root>/../shared/models/qonnx_tfc/`` (or in
``$IMCSIM_SHARED_MODELS/qonnx_tfc``); the tests that need them skip when absent.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import onnx
from onnx import TensorProto, helper, numpy_helper

import networks
from networks.onnx_import import OnnxImportError, from_onnx, import_onnx

ROOT = Path(__file__).resolve().parents[2]
_SHARED = Path(os.environ.get("IMCSIM_SHARED_MODELS", ROOT.parent / "shared" / "models"))
TFC_DIR = _SHARED / "qonnx_tfc"
FASHION = Path("/usr/share/datasets/fashion-mnist")
ATOL = 1e-5     # absolute, plus RTOL x the sample's largest |logit|: the references sum in
RTOL = 1e-5     # float32 (eps 1.2e-7) over up to ~800 terms


def _tfc(name):
    p = TFC_DIR / f"{name}.onnx"
    if not p.is_file():
        pytest.skip(f"QONNX fixture {p} not found (needs ../shared/models/qonnx_tfc beside the repository)")
    return p


def _images(n_real=16, n_random=16, seed=0):
    rng = np.random.default_rng(seed)
    parts = [rng.uniform(0, 1, (n_random, 1, 28, 28)).astype(np.float32)]
    if (FASHION / "t10k-images-idx3-ubyte.gz").is_file():
        x, _ = networks.datasets.load("fashion_mnist", "test", limit=n_real, root=str(FASHION))
        parts.insert(0, np.asarray(x, dtype=np.float32).reshape(-1, 1, 28, 28))
    return np.concatenate(parts)


def _agree(ours, ref):
    ref = np.asarray(ref, dtype=np.float64)
    # float32 sums in the reference: the error scales with the magnitude of the sample's logits
    tol = ATOL + RTOL * np.abs(ref).max(axis=1, keepdims=True)
    assert ours.shape == ref.shape
    bad = np.abs(ours - ref) > tol
    assert not bad.any(), (f"{bad.sum()} logits differ beyond tolerance; largest difference "
                           f"{np.abs(ours - ref).max():.3g}")
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > ATOL
    assert clear.sum() >= len(ref) // 2       # quantized networks do tie (e.g. equal BN-scaled counts)
    np.testing.assert_array_equal(ours.argmax(1)[clear], ref.argmax(1)[clear])


def _qonnx_exec(path_or_model, x):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    m = ModelWrapper(path_or_model if isinstance(path_or_model, onnx.ModelProto) else str(path_or_model))
    m = m.transform(InferShapes())
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.concatenate([execute_onnx(m, {iname: x[i:i + 1]})[oname] for i in range(len(x))])


def _onnx_ref(model, x):
    from onnx.reference import ReferenceEvaluator

    sess = ReferenceEvaluator(model)
    iname = model.graph.input[0].name
    return np.concatenate([sess.run(None, {iname: x[i:i + 1]})[0] for i in range(len(x))])


# ==================================================================================== TFC (QONNX)
@pytest.mark.parametrize("name,enc,wk", [("TFC_1W1A", "binary", "binary"), ("TFC_2W2A", "ternary", "ternary")])
def test_tfc_matches_qonnx_executor(name, enc, wk):
    path = _tfc(name)
    net = from_onnx(path)
    q = net.quantized_layers()
    assert [l.name for l in q] == net.meta["import"]["crossbar_layers"] and len(q) == 4
    assert [(l.K, l.N) for l in q] == [(784, 64), (64, 64), (64, 64), (64, 10)]
    assert all(l.encoding == enc and l.weight_kind == wk for l in q)
    assert net.meta["import"]["digital"] == {}
    # MatMul -> BatchNormalization -> quantizer: evaluated as thresholds on the accumulator
    assert len(net._fused_groups()) == 3
    x = _images()
    ref = _qonnx_exec(path, x)
    ours = net.forward(x)
    _agree(ours, ref)
    _agree(net.forward(x, fold=False), ref)


def test_tfc_ideal_card_equals_exact_backend():
    import device_models as dm
    from imcsim.engine import ImcBackend

    net = from_onnx(_tfc("TFC_2W2A"))
    x = _images(8, 8, seed=1)
    exact = net.forward(x, networks.ExactBackend())
    imc = net.forward(x, ImcBackend(dm.load_card("ideal"), seed=0))
    np.testing.assert_array_equal(imc, exact)


def test_tfc_round_trip_and_cli(tmp_path):
    from imcsim.cli.main import main

    path = _tfc("TFC_1W1A")
    assert main(["import", str(path), "-o", str(tmp_path), "--name", "tfc1"]) == 0
    loaded = networks.load_network(tmp_path / "tfc1.yaml")
    assert loaded.spec()["format"] == "imcsim-network/2"
    x = _images(4, 4, seed=2)
    np.testing.assert_array_equal(loaded.forward(x), from_onnx(path).forward(x))
    # save -> load again gives the same file
    networks.save_network(loaded, tmp_path / "again.yaml")
    again = networks.load_network(tmp_path / "again.yaml")
    np.testing.assert_array_equal(again.forward(x), loaded.forward(x))


def test_trainer_trains_an_imported_network():
    """The trainer takes an imported graph: from scratch (init=True: the imported constants,
    i.e. the input scaling and the quantizers, stay fixed) the loss falls; fine-tuning
    (init=False) runs."""
    from networks.train import train

    if not (FASHION / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not found in {FASHION}")
    net = from_onnx(_tfc("TFC_2W2A"))
    fixed = {l.name: l.state() for l in net.all_layers() if l.type in ("affine", "quant")}
    x, y = networks.datasets.load("fashion_mnist", "train", limit=256, root=str(FASHION))
    hist = train(net, x, y, epochs=4, lr=1e-2, batch=32, seed=0, log=None)
    # the imported output scaling (the last BN as fixed Sub/Div/Mul/Add) keeps logits small,
    # so the loss falls slowly while the train accuracy climbs (0.37 -> 0.75 with seed 0)
    assert hist[-1][1] < hist[0][1] - 0.1 and hist[-1][2] > hist[0][2] + 0.2, hist
    for name, st in fixed.items():
        for k, v in st.items():
            np.testing.assert_array_equal(net[name].state()[k], v)
    train(net, x[:64], y[:64], epochs=1, batch=32, log=None, init=False)
    assert net.has_weights


def test_study_over_imported_tfc_runs_on_tim_and_xnor(tmp_path, monkeypatch):
    import imcsim

    if not (FASHION / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not found in {FASHION} (Debian package dataset-fashion-mnist)")
    _, yaml_path = import_onnx(_tfc("TFC_1W1A"), tmp_path / "nets")
    monkeypatch.setenv("IMCSIM_DATA", str(FASHION))
    study = tmp_path / "tfc.yaml"
    study.write_text(f"""study: tfc_cards
network: {yaml_path}
dataset: {{name: fashion_mnist, split: test, limit: 3}}
hardware: tim_dnn_32nm
sweep:
  hardware: [tim_dnn_32nm, xnor_sram_65nm]
trials: 1
seed: 0
outputs: {{dir: {tmp_path / 'results'}, plots: []}}
""")
    ds = imcsim.run_study(str(study), progress=False, plots=False, summary=False)
    assert ds["accuracy"].size == 2 and np.all(np.isfinite(ds["accuracy"].values))
    assert float(ds["energy"].sum()) > 0
    assert set(ds["layer"].values) == {"MatMul_16", "MatMul_24", "MatMul_32", "MatMul_40"}


# ==================================================================================== small graphs
def _model(nodes, inits, x_shape, out_shape, opsets=(("", 15),), x_name="x", annotations=None, batch=1):
    """A one-input, one-output model.  Opset 15 by default: onnx.reference's
    BatchNormalization for opsets below 14 does not compute the inference formula
    (onnx 1.23; onnxruntime and the formula agree with the import there)."""
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, [batch] + list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch] + list(out_shape))],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    if annotations:
        for tensor, dt in annotations.items():
            qa = onnx.TensorAnnotation(tensor_name=tensor)
            kv = qa.quant_parameter_tensor_names.add()
            kv.key, kv.value = "finn_datatype", dt
            g.quantization_annotation.append(qa)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    m.ir_version = 8
    return m


def _save(m, tmp_path, name="m.onnx"):
    p = tmp_path / name
    onnx.save(m, str(p))
    return p


def _f32(rng, *shape, scale=1.0):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def test_sign_based_pytorch_export(tmp_path):
    """x -> Gemm (fp) -> BN -> Sign -> MatMul(Sign(W) * alpha) -> BN -> Sign -> MatMul(fp): the
    middle layer is a crossbar layer (xnor weights, ternary inputs since ONNX Sign(0) = 0)."""
    rng = np.random.default_rng(0)
    W2 = _f32(rng, 32, 24)
    alpha = np.abs(W2).mean(axis=0, keepdims=True).astype(np.float32)
    inits = {"W1": _f32(rng, 16, 32), "b1": _f32(rng, 32), "g1": np.abs(_f32(rng, 32)) + 0.5, "be1": _f32(rng, 32),
             "m1": _f32(rng, 32), "v1": np.abs(_f32(rng, 32)) + 0.5, "W2": W2, "alpha": alpha,
             "g2": np.abs(_f32(rng, 24)) + 0.5, "be2": _f32(rng, 24), "m2": _f32(rng, 24, scale=3),
             "v2": np.abs(_f32(rng, 24, scale=5)) + 1, "W3": _f32(rng, 24, 10)}
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h1"]),
             helper.make_node("BatchNormalization", ["h1", "g1", "be1", "m1", "v1"], ["n1"]),
             helper.make_node("Sign", ["n1"], ["s1"]),
             helper.make_node("Sign", ["W2"], ["sw"]),
             helper.make_node("Mul", ["sw", "alpha"], ["w2q"]),
             helper.make_node("MatMul", ["s1", "w2q"], ["h2"]),
             helper.make_node("BatchNormalization", ["h2", "g2", "be2", "m2", "v2"], ["n2"]),
             helper.make_node("Sign", ["n2"], ["s2"]),
             helper.make_node("MatMul", ["s2", "W3"], ["y"])]
    m = _model(nodes, inits, [16], [10])
    net = from_onnx(_save(m, tmp_path))
    q = net.quantized_layers()
    assert len(q) == 1 and q[0].encoding == "ternary" and q[0].wq.spec == "xnor"
    assert set(net.meta["import"]["digital"]) == {l.name for l in net.linear_layers() if not l.quantized}
    x = _f32(rng, 40, 16)
    _agree(net.forward(x), _onnx_ref(m, x))


@pytest.mark.parametrize("wtype,atype,wlo,whi,opset,enc,wk", [
    ("INT4", "UINT4", -7, 7, 21, "unsigned4", "signed4"),
    ("INT2", "UINT2", -2, 1, 25, "unsigned2", "signed3"),       # int2 codes -2..1: 3-bit symmetric weights
    ("INT8", "UINT8", -127, 127, 21, "unsigned8", "signed8"),
])
def test_qdq_convolution(tmp_path, wtype, atype, wlo, whi, opset, enc, wk):
    """QuantizeLinear/DequantizeLinear (unsigned activations, signed per-channel weights) around
    a Conv with padding and bias, then ReLU, MaxPool, Flatten, Gemm; int2, int4 and int8."""
    if not hasattr(TensorProto, wtype):
        pytest.skip(f"onnx {onnx.__version__} has no {wtype}")
    rng = np.random.default_rng(1)
    wq = rng.integers(wlo, whi + 1, size=(6, 3, 3, 3)).astype(np.int8)
    ws = (np.abs(rng.normal(size=6)) * 0.1 + 0.01).astype(np.float32)
    amax = 2 ** int(atype[4:]) - 1
    T = lambda name, t, dims, vals: numpy_helper.to_array(helper.make_tensor(name, getattr(TensorProto, t), dims, vals))  # noqa: E731
    inits = {"xs": np.float32(1 / amax), "xz": T("xz", atype, [], [0]),
             "wq": T("wq", wtype, wq.shape, wq.reshape(-1).tolist()), "ws": ws, "wz": T("wz", wtype, [6], [0] * 6),
             "cb": _f32(rng, 6), "fw": _f32(rng, 6 * 4 * 4, 10), "fb": _f32(rng, 10)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd", "cb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"])]
    m = _model(nodes, inits, [3, 8, 8], [10], opsets=(("", opset),))
    m.ir_version = 10 if opset < 25 else 12
    onnx.checker.check_model(m)
    net = from_onnx(_save(m, tmp_path))
    q = net.quantized_layers()
    assert len(q) == 1 and q[0].encoding == enc and q[0].weight_kind == wk
    np.testing.assert_array_equal(q[0].w_int, wq)
    x = rng.uniform(-0.1, 1.1, (24, 3, 8, 8)).astype(np.float32)
    _agree(net.forward(x), _onnx_ref(m, x))


def _rsign(prefix, x, C, rng, inits):
    inits[f"{prefix}_b"] = _f32(rng, 1, C, 1, 1, scale=0.1)
    return [helper.make_node("Sub", [x, f"{prefix}_b"], [f"{prefix}_u"]),
            helper.make_node("Sign", [f"{prefix}_u"], [f"{prefix}_s"])], f"{prefix}_s"


def _bin_conv(prefix, x, Ci, Co, rng, inits, stride=1):
    W = _f32(rng, Co, Ci, 3, 3)
    inits[f"{prefix}_W"] = W
    inits[f"{prefix}_a"] = np.abs(W).mean(axis=(1, 2, 3), keepdims=True).astype(np.float32)
    for k, v in (("g", np.abs(_f32(rng, Co)) + 0.5), ("be", _f32(rng, Co)), ("m", _f32(rng, Co, scale=2)),
                 ("v", np.abs(_f32(rng, Co, scale=4)) + 1)):
        inits[f"{prefix}_{k}"] = v.astype(np.float32)
    return [helper.make_node("Sign", [f"{prefix}_W"], [f"{prefix}_sw"]),
            helper.make_node("Mul", [f"{prefix}_sw", f"{prefix}_a"], [f"{prefix}_wq"]),
            helper.make_node("Conv", [x, f"{prefix}_wq"], [f"{prefix}_c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                             strides=[stride, stride]),
            helper.make_node("BatchNormalization", [f"{prefix}_c"] + [f"{prefix}_{k}" for k in ("g", "be", "m", "v")],
                             [f"{prefix}_bn"])], f"{prefix}_bn"


def _head(x, C, rng, inits, reduce_mean=False):
    inits["fc_W"], inits["fc_b"] = _f32(rng, C, 10), _f32(rng, 10)
    if reduce_mean:                       # PyTorch's x.mean((2, 3)); axes an attribute before opset 18
        pool = [helper.make_node("ReduceMean", [x], ["flat"], axes=[2, 3], keepdims=0)]
    else:
        pool = [helper.make_node("GlobalAveragePool", [x], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"])]
    return pool + [helper.make_node("Gemm", ["flat", "fc_W", "fc_b"], ["y"])]


def test_reactnet_block(tmp_path):
    """ReActNet basic block: RSign (Sub + Sign) -> binary 3x3 conv (Sign(W) * alpha) -> BN ->
    residual Add -> RPReLU (Sub gamma, PRelu, Add zeta) -> global average pool -> Gemm."""
    rng = np.random.default_rng(2)
    C, inits = 8, {}
    n1, s = _rsign("rs", "x", C, rng, inits)
    n2, bn = _bin_conv("c1", s, C, C, rng, inits)
    inits["rp_g"], inits["rp_b"], inits["rp_z"] = (_f32(rng, C, 1, 1, scale=0.1), np.abs(_f32(rng, C, 1, 1)) * 0.3,
                                                 _f32(rng, C, 1, 1, scale=0.1))
    n3 = [helper.make_node("Add", [bn, "x"], ["res"]),
          helper.make_node("Sub", ["res", "rp_g"], ["rp_u"]),
          helper.make_node("PRelu", ["rp_u", "rp_b"], ["rp_p"]),
          helper.make_node("Add", ["rp_p", "rp_z"], ["rp"])]
    m = _model(n1 + n2 + n3 + _head("rp", C, rng, inits), inits, [C, 6, 6], [10], batch="N")   # symbolic batch
    net = from_onnx(_save(m, tmp_path))
    q = net.quantized_layers()
    assert len(q) == 1 and q[0].encoding == "ternary" and q[0].wq.spec == "xnor"   # padded: 0 reads 0
    assert {"add", "prelu", "globalavgpool", "ternarize"} <= {l.type for l in net.all_layers()}
    x = _f32(rng, 24, C, 6, 6)
    _agree(net.forward(x), _onnx_ref(m, x))


def test_bireal_block_with_downsampling_shortcut(tmp_path):
    """Bi-Real-Net downsampling block: Sign -> binary 3x3 conv stride 2 -> BN, shortcut AvgPool 2x2
    -> 1x1 real-valued conv -> BN, Add; then Concat, Clip (hardtanh), Transpose, Reshape, head,
    Softmax."""
    rng = np.random.default_rng(3)
    C, inits = 6, {}
    n1 = [helper.make_node("Sign", ["x"], ["s"])]
    n2, bn = _bin_conv("c1", "s", C, 2 * C, rng, inits, stride=2)
    inits["sc_W"] = _f32(rng, 2 * C, C, 1, 1)
    inits.update({f"sc_{k}": v for k, v in (("g", np.abs(_f32(rng, 2 * C)) + .5), ("be", _f32(rng, 2 * C)),
                                            ("m", _f32(rng, 2 * C)), ("v", np.abs(_f32(rng, 2 * C)) + 1))})
    inits["shape"] = np.array([1, 2 * C, 4, 4], dtype=np.int64)
    n3 = [helper.make_node("AveragePool", ["x"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
          helper.make_node("Conv", ["ap", "sc_W"], ["sc_c"], kernel_shape=[1, 1]),
          helper.make_node("BatchNormalization", ["sc_c", "sc_g", "sc_be", "sc_m", "sc_v"], ["sc"]),
          helper.make_node("Add", [bn, "sc"], ["res"]),
          helper.make_node("Clip", ["res", "lo", "hi"], ["ht"]),
          helper.make_node("Concat", ["ht", "sc"], ["cat"], axis=1),
          helper.make_node("Transpose", ["cat"], ["tr"], perm=[0, 1, 3, 2]),
          helper.make_node("Reshape", ["tr", "shape2"], ["rs"])]
    inits["lo"], inits["hi"] = np.float32(-1.0), np.float32(1.0)
    inits["shape2"] = np.array([0, 4 * C, 4, 4], dtype=np.int64)
    head = _head("rs", 4 * C, rng, inits, reduce_mean=True)
    head[-1].output[0] = "logits"
    head.append(helper.make_node("Softmax", ["logits"], ["y"], axis=-1))
    del inits["shape"]
    m = _model(n1 + n2 + n3 + head, inits, [C, 8, 8], [10])
    net = from_onnx(_save(m, tmp_path))
    q = net.quantized_layers()
    assert len(q) == 1 and q[0].name.startswith("c1") or q[0].vectors == 16
    types = {l.type for l in net.all_layers()}
    assert {"avgpool", "add", "hardtanh", "concat", "transpose", "softmax"} <= types
    x = _f32(rng, 24, C, 8, 8)
    _agree(net.forward(x), _onnx_ref(m, x))


def test_nhwc_input_and_explicit_pads(tmp_path):
    """A Larq/tf2onnx-style graph: NHWC input -> Transpose -> Sign -> Pad (value 1, as Larq's
    pad_values=1) -> binary Conv without pads -> BN -> asymmetric Pad (value 0) -> MaxPool ->
    GlobalAveragePool -> Gemm."""
    rng = np.random.default_rng(8)
    C, inits = 4, {}
    n2, bn = _bin_conv("c1", "p1", C, 6, rng, inits)
    n2[2].attribute.pop([a.name for a in n2[2].attribute].index("pads"))      # the Conv pads nothing itself
    inits["p1_pads"] = np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64)
    inits["p1_val"] = np.float32(1.0)
    inits["p2_pads"] = np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=np.int64)
    nodes = ([helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
              helper.make_node("Sign", ["xt"], ["s"]),
              helper.make_node("Pad", ["s", "p1_pads", "p1_val"], ["p1"])] + n2
             + [helper.make_node("Pad", [bn, "p2_pads"], ["p2"]),
                helper.make_node("MaxPool", ["p2"], ["mp"], kernel_shape=[2, 2], strides=[2, 2])]
             + _head("mp", 6, rng, inits))
    m = _model(nodes, inits, [5, 5, C], [10])
    net = from_onnx(_save(m, tmp_path))
    q = net.quantized_layers()
    assert len(q) == 1 and q[0].encoding == "ternary" and q[0].K == C * 9
    assert [l.type for l in net.all_layers()].count("pad") == 2
    x = _f32(rng, 24, 5, 5, C)
    _agree(net.forward(x), _onnx_ref(m, x))


QDOM = "qonnx.custom_op.general"


def test_qonnx_quant_multithreshold_trunc_and_bipolar_input(tmp_path):
    """A QONNX graph with a BIPOLAR-annotated input: MatMul(BipolarQuant(W), per-channel scale) ->
    MultiThreshold (levels -1..2) -> MatMul(Quant 4-bit narrow W) -> Trunc (v1) -> Quant
    (per-channel, 3-bit unsigned, HALF_UP) -> MatMul(fp) -> output; checked against qonnx."""
    rng = np.random.default_rng(4)
    T = np.sort(rng.normal(size=(16, 3)) * 3, axis=1).astype(np.float32)
    inits = {"W1": _f32(rng, 20, 16), "s1": (np.abs(_f32(rng, 1, 16)) + 0.5).astype(np.float32), "T": T,
             "W2": _f32(rng, 16, 12), "s2": np.float32(0.25), "z0": np.float32(0.0), "b4": np.float32(4),
             "ts": np.float32(1.0), "ib": np.float32(8), "ob": np.float32(4),
             "s3": (np.abs(_f32(rng, 12)) + 0.2).astype(np.float32), "b3": np.float32(3), "W3": _f32(rng, 12, 10)}
    nodes = [helper.make_node("BipolarQuant", ["W1", "s1"], ["w1q"], domain=QDOM),
             helper.make_node("MatMul", ["x", "w1q"], ["h1"]),
             helper.make_node("MultiThreshold", ["h1", "T"], ["a1"], domain=QDOM, out_dtype="INT2", out_bias=-1.0),
             helper.make_node("Quant", ["W2", "s2", "z0", "b4"], ["w2q"], domain=QDOM, signed=1, narrow=1,
                              rounding_mode="ROUND"),
             helper.make_node("MatMul", ["a1", "w2q"], ["h2"]),
             helper.make_node("Mul", ["h2", "b4"], ["h2i"]),
             helper.make_node("Trunc", ["h2i", "ts", "z0", "ib", "ob"], ["t"], domain=QDOM, rounding_mode="FLOOR"),
             helper.make_node("Quant", ["t", "s3", "z0", "b3"], ["a2"], domain=QDOM, signed=0, narrow=0,
                              rounding_mode="HALF_UP"),
             helper.make_node("MatMul", ["a2", "W3"], ["y"])]
    m = _model(nodes, inits, [20], [10], opsets=(("", 13), (QDOM, 1)), annotations={"x": "BIPOLAR"})
    net = from_onnx(_save(m, tmp_path))
    assert net.input_datatype == "BIPOLAR"
    q = net.quantized_layers()
    assert [(l.encoding, l.weight_kind) for l in q] == [("binary", "binary"), ("signed3", "signed4")]
    x = np.where(rng.uniform(size=(32, 20)) < 0.5, -1.0, 1.0).astype(np.float32)
    _agree(net.forward(x), _qonnx_exec(m, x))
    with pytest.raises(networks.NetworkError, match="BIPOLAR"):
        net.forward(x * 0.5)


def test_qdq_odd_zero_point_ties_pooling_squeeze_and_a_digital_gemm(tmp_path):
    """uint8 QDQ with an odd zero point on inputs that sit exactly on rounding ties (ONNX
    rounds x/scale half to even, then adds the zero point) -> MaxPool (the grid survives) ->
    Conv (int8 per-tensor weights, no padding; the codes q - 129 need signed9 inputs) -> LeakyRelu -> Squeeze -> Gemm (transB, int8 weights, but its input is not
    quantized: digital, with the reason recorded) -> Unsqueeze -> Flatten."""
    rng = np.random.default_rng(6)
    wq = rng.integers(-127, 128, size=(5, 2, 3, 3)).astype(np.int8)
    gq = rng.integers(-127, 128, size=(4, 5)).astype(np.int8)
    inits = {"xs": np.float32(1 / 64), "xz": np.uint8(129), "wq": wq, "ws": np.float32(0.02), "wz": np.int8(0),
             "gq": gq, "gs": np.float32(0.05), "gz": np.int8(0), "gb": _f32(rng, 4),
             "ax": np.array([2, 3], dtype=np.int64), "ax1": np.array([2], dtype=np.int64)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("MaxPool", ["xd"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
             helper.make_node("Conv", ["p", "wd"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("LeakyRelu", ["c"], ["lr"], alpha=0.1),
             helper.make_node("Squeeze", ["lr", "ax"], ["sq"]),
             helper.make_node("DequantizeLinear", ["gq", "gs", "gz"], ["gd"]),
             helper.make_node("Gemm", ["sq", "gd", "gb"], ["g"], transB=1),
             helper.make_node("Unsqueeze", ["g", "ax1"], ["u"]),
             helper.make_node("Flatten", ["u"], ["y"])]
    m = _model(nodes, inits, [2, 6, 6], [4], opsets=(("", 19),))
    m.ir_version = 9
    net = from_onnx(_save(m, tmp_path))
    q = net.quantized_layers()
    assert [(l.encoding, l.weight_kind) for l in q] == [("signed9", "signed8")]   # codes q - 129 in [-129, 126]
    assert "does not come from a quantizer" in list(net.meta["import"]["digital"].values())[0]
    x = ((rng.integers(-140, 140, size=(32, 2, 6, 6)) + 0.5) / 64).astype(np.float32)     # all ties
    _agree(net.forward(x), _onnx_ref(m, x))


def test_qonnx_trunc_v2(tmp_path):
    """Quant (8-bit unsigned input) -> MatMul (Quant 4-bit weights) -> Trunc v2 (qonnx opset 2)."""
    rng = np.random.default_rng(7)
    inits = {"s": np.float32(1 / 255), "z": np.float32(0), "b8": np.float32(8), "W": _f32(rng, 12, 6),
             "ws": np.float32(0.125), "b4": np.float32(4), "ts": np.float32(1 / 255 * 0.125), "ib": np.float32(16),
             "os": np.float32(1 / 255 * 0.125 * 16), "ob": np.float32(6)}
    nodes = [helper.make_node("Quant", ["x", "s", "z", "b8"], ["xq"], domain=QDOM, signed=0, narrow=0,
                              rounding_mode="ROUND"),
             helper.make_node("Quant", ["W", "ws", "z", "b4"], ["wq"], domain=QDOM, signed=1, narrow=1,
                              rounding_mode="ROUND"),
             helper.make_node("MatMul", ["xq", "wq"], ["h"]),
             helper.make_node("Trunc", ["h", "ts", "z", "ib", "os", "ob"], ["y"], domain=QDOM, rounding_mode="FLOOR",
                              signed=1, narrow=0)]
    m = _model(nodes, inits, [12], [6], opsets=(("", 15), (QDOM, 2)))
    net = from_onnx(_save(m, tmp_path))
    q = net.quantized_layers()
    assert [(l.encoding, l.weight_kind) for l in q] == [("unsigned8", "signed4")]
    assert net.all_layers()[-1].type == "trunc" and net.all_layers()[-1].version == 2
    x = rng.uniform(0, 1, (32, 12)).astype(np.float32)
    ref = _qonnx_exec(m, x)
    np.testing.assert_allclose(net.forward(x), ref, rtol=0, atol=ATOL)


def test_qonnx_cnv_style_convolutions(tmp_path):
    """FINN's CNV pattern in QONNX: 8-bit signed input Quant -> Conv (BipolarQuant weights,
    scale per output channel (O, 1, 1, 1)) -> BN -> BipolarQuant -> MaxPool -> Conv (2-bit
    narrow Quant weights) -> BN -> Quant (2-bit) -> Flatten -> MatMul (BipolarQuant) -> output."""
    rng = np.random.default_rng(9)
    bn = lambda p, C: {f"{p}_{k}": v.astype(np.float32) for k, v in (  # noqa: E731
        ("g", np.abs(rng.normal(size=C)) + .5), ("b", rng.normal(size=C)), ("m", rng.normal(size=C) * 3),
        ("v", np.abs(rng.normal(size=C)) * 5 + 1))}
    inits = {"s8": np.float32(1 / 127), "z": np.float32(0), "b8": np.float32(8), "one": np.float32(1),
             "W1": _f32(rng, 8, 3, 3, 3), "s1": (np.abs(_f32(rng, 8, 1, 1, 1)) + .1).astype(np.float32),
             "W2": _f32(rng, 8, 8, 3, 3), "s2": np.float32(0.5), "b2": np.float32(2), "W3": _f32(rng, 8 * 2 * 2, 10)}
    inits.update(bn("bn1", 8))
    inits.update(bn("bn2", 8))
    nodes = [helper.make_node("Quant", ["x", "s8", "z", "b8"], ["xq"], domain=QDOM, signed=1, narrow=1,
                              rounding_mode="ROUND"),
             helper.make_node("BipolarQuant", ["W1", "s1"], ["w1"], domain=QDOM),
             helper.make_node("Conv", ["xq", "w1"], ["c1"], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c1", "bn1_g", "bn1_b", "bn1_m", "bn1_v"], ["n1"]),
             helper.make_node("BipolarQuant", ["n1", "one"], ["a1"], domain=QDOM),
             helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Quant", ["W2", "s2", "z", "b2"], ["w2"], domain=QDOM, signed=1, narrow=1,
                              rounding_mode="ROUND"),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c2", "bn2_g", "bn2_b", "bn2_m", "bn2_v"], ["n2"]),
             helper.make_node("Quant", ["n2", "one", "z", "b2"], ["a2"], domain=QDOM, signed=1, narrow=1,
                              rounding_mode="ROUND"),
             helper.make_node("Flatten", ["a2"], ["f"]),
             helper.make_node("BipolarQuant", ["W3", "one"], ["w3"], domain=QDOM),
             helper.make_node("MatMul", ["f", "w3"], ["y"])]
    m = _model(nodes, inits, [3, 10, 10], [10], opsets=(("", 15), (QDOM, 1)))
    net = from_onnx(_save(m, tmp_path))
    q = net.quantized_layers()
    assert [(l.encoding, l.weight_kind, l.wq.spec) for l in q] == [
        ("signed8", "binary", "xnor"), ("binary", "ternary", "ternary"), ("ternary", "binary", "binary")]
    assert len(net._fused_groups()) == 2
    x = rng.uniform(-1, 1, (16, 3, 10, 10)).astype(np.float32)
    _agree(net.forward(x), _qonnx_exec(m, x))


# ==================================================================================== refusals
@pytest.mark.parametrize("case,match", [
    ("lstm", r"node 'rnn' \(LSTM\): op type 'LSTM' is not supported"),
    ("group", r"node 'dw' \(Conv\): grouped or depthwise convolution \(group = 2\)"),
    ("domain", r"node 'cx' \(Foo\): domain 'com.example' is not supported"),
    ("mul2", r"node 'mm' \(Mul\): Mul of two run-time tensors is not supported"),
])
def test_unmappable_nodes_raise_one_clear_error(tmp_path, case, match):
    from imcsim.cli.main import main

    rng = np.random.default_rng(5)
    if case == "lstm":
        nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="rnn", hidden_size=2)]
        inits = {"W": _f32(rng, 1, 8, 4), "R": _f32(rng, 1, 8, 2)}
        shape, out = [3, 4], [1, 1, 3, 2]
    elif case == "group":
        nodes = [helper.make_node("Conv", ["x", "W"], ["y"], name="dw", kernel_shape=[3, 3], group=2)]
        inits, shape, out = {"W": _f32(rng, 4, 1, 3, 3)}, [2, 5, 5], [4, 3, 3]
    elif case == "domain":
        nodes = [helper.make_node("Foo", ["x"], ["y"], name="cx", domain="com.example")]
        inits, shape, out = {}, [4], [4]
    else:
        nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Mul", ["x", "r"], ["y"], name="mm")]
        inits, shape, out = {}, [4], [4]
    opsets = (("", 13), ("com.example", 1)) if case == "domain" else (("", 13),)
    p = _save(_model(nodes, inits, shape, out, opsets=opsets), tmp_path)
    with pytest.raises(OnnxImportError, match=match) as e:
        from_onnx(p)
    assert isinstance(e.value, networks.NetworkError) and str(p) in str(e.value)
    assert main(["import", str(p), "-o", str(tmp_path / "o")]) == 2


def test_not_an_onnx_file(tmp_path):
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"\x00\x01not a protobuf at all" * 10)
    with pytest.raises(OnnxImportError, match="bad.onnx"):
        from_onnx(p)
    with pytest.raises(OnnxImportError, match="not found"):
        from_onnx(tmp_path / "missing.onnx")

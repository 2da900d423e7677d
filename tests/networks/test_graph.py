"""Graph networks (imcsim-network/2): file format, execution, folding, gradients, training."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

import networks
from networks import GraphNetwork, Network, NetworkFileError, load_network, save_network
from networks.graph import Node
from networks.layers import (Add, Affine, BatchNorm, Concat, Dense, GlobalAvgPool, HardTanh, Pad, PReLU, RPReLU,
                             Reshape, RSign, Sign, Softmax, Transpose)

BIREAL = """\
format: imcsim-network/2
name: bireal_tiny
input_shape: [1, 8, 8]
classes: 10
nodes:
  - {type: conv2d, name: stem, in: 1, out: 8, kernel: 3, padding: 1}
  - {type: batchnorm, name: bn0}
  - {type: rsign, name: rs1, channels: 8}
  - {type: conv2d, name: c1, in: 8, out: 8, kernel: 3, padding: 1, weights: xnor, inputs: ternary}
  - {type: batchnorm, name: bn1}
  - {type: add, name: res1, from: [bn1, bn0]}
  - {type: rprelu, name: rp1, channels: 8}
  - {type: sign, name: s2}
  - {type: conv2d, name: c2, in: 8, out: 16, kernel: 3, stride: 2, padding: 1, weights: binary, inputs: ternary}
  - {type: batchnorm, name: bn2}
  - {type: avgpool, name: down, from: [rp1], kernel: 2}
  - {type: conv2d, name: sc, in: 8, out: 16, kernel: 1}
  - {type: batchnorm, name: bnsc}
  - {type: add, name: res2, from: [bn2, bnsc]}
  - {type: affine, name: alpha, channels: 16, bias: false}
  - {type: prelu, name: pr}
  - {type: concat, name: cat, from: [pr, res2]}
  - {type: globalavgpool, name: gap}
  - {type: reshape, name: flat, shape: [-1]}
  - {type: dense, name: fc, in: 32, out: 10}
"""


def _bireal(tmp_path, seed=0):
    p = tmp_path / "bireal.yaml"
    p.write_text(BIREAL)
    return load_network(p, weights=False).init(seed)


def _digits(n=None):
    x, y = networks.datasets.load("digits", "train")
    return (x, y) if n is None else (x[:n], y[:n])


def test_v2_file_round_trip(tmp_path):
    net = _bireal(tmp_path)
    assert isinstance(net, GraphNetwork) and net.output_shape == (10,)
    assert [l.name for l in net.quantized_layers()] == ["c1", "c2"]
    net.load_state_dict(net.state_dict())              # float32, as stored
    x, _ = _digits(16)
    path = save_network(net, tmp_path / "saved.yaml")
    spec = yaml.safe_load(path.read_text())
    assert spec["format"] == "imcsim-network/2" and spec["nodes"][5]["from"] == ["bn1", "bn0"]
    assert "from" not in spec["nodes"][1]              # the previous node is the default
    back = load_network(path)
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    np.testing.assert_array_equal(net.copy().forward(x), net.forward(x))


def test_v1_files_keep_loading_as_sequential_networks():
    net = networks.zoo.load("tnn_mlp_digits")
    assert type(net) is Network and net.spec()["format"] == "imcsim-network/1"


def test_sequential_network_as_graph_gives_identical_logits():
    """The zoo's TNN CNN (dense/conv -> BN -> ternarize groups) written as a chain of graph
    nodes: the graph's fused threshold path reproduces the sequential one bit for bit."""
    seq = networks.zoo.load("tnn_cnn_digits")
    g = GraphNetwork([Node(l, [prev]) for l, prev in zip(
        networks.model.build_layers(seq.spec()["layers"]), ["input"] + [s["name"] for s in seq.spec()["layers"]])],
        seq.input_shape, name="g")
    g.load_state_dict(seq.state_dict())
    x, _ = networks.datasets.load("digits", "test", limit=64)
    np.testing.assert_array_equal(g.forward(x), seq.forward(x))
    np.testing.assert_array_equal(g.forward(x, fold=False), seq.forward(x, fold=False))


def test_fused_chain_with_affine_matches_unfused():
    rng = np.random.default_rng(0)
    nodes = [Node(Dense("fc1", 64, 32, weights="ternary", inputs="unsigned4", input_clip=0.9375), ["input"]),
             Node(BatchNorm("bn1"), ["fc1"]), Node(Affine("sc1", channels=32), ["bn1"]),
             Node(Sign("s1"), ["sc1"]),
             Node(Dense("fc2", 32, 10, weights="binary", inputs="binary"), ["s1"])]
    net = GraphNetwork(nodes, (1, 8, 8)).init(1)
    net["sc1"].scale = rng.normal(size=(32,))           # negative scales flip the comparison
    net["sc1"].shift = rng.normal(size=(32,))
    assert net._fused_groups() == {0: ([net["bn1"], net["sc1"]], 3)}
    x, _ = _digits(200)
    np.testing.assert_allclose(net.forward(x), net.forward(x, fold=False), atol=1e-9)


def test_graph_on_ideal_imc_card_equals_exact(tmp_path):
    import device_models as dm
    from imcsim.engine import ImcBackend

    net = _bireal(tmp_path, seed=3)
    x, _ = _digits(12)
    np.testing.assert_array_equal(net.forward(x, ImcBackend(dm.load_card("ideal"), seed=0)),
                                  net.forward(x, networks.ExactBackend()))


# ---------------------------------------------------------------------------------- gradients
def _numgrad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        fp = f()
        a[i] = old - eps
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


@pytest.mark.parametrize("make,shape", [
    (lambda: Affine("a", channels=3), (3, 2, 2)),
    (lambda: PReLU("p", channels=3), (3, 2, 2)),
    (lambda: RPReLU("r", channels=4), (4,)),
    (lambda: HardTanh("h", -0.5, 0.7), (5,)),
    (lambda: Transpose("t", [1, 2, 0]), (2, 3, 2)),
    (lambda: Reshape("rs", [3, -1]), (2, 3, 2)),
    (lambda: GlobalAvgPool("g"), (3, 2, 2)),
    (lambda: Softmax("sm"), (6,)),
    (lambda: Pad("pd", [1, 0, 2, 1], 0.5), (2, 3, 3)),
])
def test_backward_matches_numeric_gradient(make, shape):
    rng = np.random.default_rng(0)
    layer = make()
    layer.build(shape)
    layer.init(rng)
    for a, _ in layer.parameters():
        setattr(layer, a, getattr(layer, a) + rng.normal(size=getattr(layer, a).shape) * 0.3)
    x = rng.normal(size=(4,) + shape)
    x[np.abs(x) < 0.05] = 0.3                     # keep away from the kinks
    w = rng.normal(size=(4,) + layer.out_shape)
    y = layer.train_forward(x)
    dx = layer.backward(w)
    np.testing.assert_allclose(dx, _numgrad(lambda: float((layer.forward(x) * w).sum()), x), atol=1e-6)
    for a, _ in layer.parameters():
        num = _numgrad(lambda: float((layer.forward(x) * w).sum()), getattr(layer, a))
        np.testing.assert_allclose(layer.grads[a], num, atol=1e-6, err_msg=a)
    assert y.shape == w.shape


def test_merge_layers_forward_and_backward():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3, 4, 4)), rng.normal(size=(2, 5, 4, 4))
    cat = Concat("c")
    assert cat.build([(3, 4, 4), (5, 4, 4)]) == (8, 4, 4)
    np.testing.assert_array_equal(cat.forward([a, b]), np.concatenate([a, b], axis=1))
    ga, gb = cat.backward(np.arange(2 * 8 * 16, dtype=float).reshape(2, 8, 4, 4))
    assert ga.shape == a.shape and gb.shape == b.shape and gb[0, 0, 0, 0] == 3 * 16
    add = Add("s")
    with pytest.raises(networks.LayerError, match="one shape"):
        add.build([(3, 4, 4), (5, 4, 4)])


def test_rsign_threshold_and_ste():
    r = RSign("r", channels=2)
    r.build((2, 3))
    r.threshold = np.array([[0.5], [-0.5]])
    x = np.array([[[0.4, 0.5, 2.0], [-0.6, -0.5, 0.0]]])
    np.testing.assert_array_equal(r.forward(x), [[[-1, 1, 1], [-1, 1, 1]]])
    r.train_forward(x)
    g = r.backward(np.ones_like(x))
    np.testing.assert_array_equal(g, [[[1, 1, 0], [1, 1, 1]]])
    np.testing.assert_array_equal(r.grads["threshold"], [[-2], [-3]])


# ---------------------------------------------------------------------------------- training
def test_trainer_trains_a_graph_network(tmp_path):
    from networks.train import train

    net = _bireal(tmp_path)
    x, y = _digits(256)
    hist = train(net, x, y, epochs=6, lr=1e-2, batch=32, seed=0, log=None)
    losses = [h[1] for h in hist]
    assert losses[-1] < 0.7 * losses[0], losses
    assert net.accuracy(x, y) > 0.5                       # train accuracy of the frozen integer form


def test_train_cli_with_a_graph_file(tmp_path):
    from networks.train import main

    p = tmp_path / "g.yaml"
    p.write_text(BIREAL)
    out = tmp_path / "trained.yaml"
    assert main(["--network", str(p), "--dataset", "digits", "--epochs", "1", "--out", str(out)]) == 0
    net = load_network(out)
    assert isinstance(net, GraphNetwork) and "test_accuracy" in net.meta


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("edit,match", [
    (lambda d: d["nodes"][5].update({"from": ["bn1", "nope"]}), r"node 'res1': input 'nope' is not 'input' or an earlier node"),
    (lambda d: d["nodes"][1].update({"from": ["stem", "stem"]}), r"node 'bn0' \(batchnorm\) takes one input, got 2"),
    (lambda d: d["nodes"][2].update({"colour": 1}), r"nodes\[2\] \(rs1\): unknown key 'colour' for a rsign layer"),
    (lambda d: d.update({"output": "nothing"}), r"output 'nothing' is not a node"),
    (lambda d: d.update({"extra": 1}), r"unknown key 'extra'"),
    (lambda d: d["nodes"][13].update({"from": ["bn2", "bn1"]}), r"add needs inputs of one shape"),
    (lambda d: d.update({"input_datatype": "INT99X"}), r"unknown input_datatype"),
])
def test_graph_file_errors_name_the_node(tmp_path, edit, match):
    d = yaml.safe_load(BIREAL)
    edit(d)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(NetworkFileError, match=match) as e:
        load_network(p, weights=False)
    assert str(p) in str(e.value)


def test_multi_input_layer_in_a_sequential_file_is_refused(tmp_path):
    p = tmp_path / "seq.yaml"
    p.write_text("format: imcsim-network/1\ninput_shape: [4]\nlayers:\n- {type: add, name: a}\n")
    with pytest.raises(NetworkFileError, match="needs a graph network"):
        load_network(p, weights=False)


def test_input_datatype_is_checked():
    net = GraphNetwork([Node(Dense("fc", 4, 2, weights="binary", inputs="binary"), ["input"])], (4,),
                       input_datatype="BIPOLAR").init(0)
    net.forward(np.array([[1, -1, 1, 1.0]]))
    with pytest.raises(networks.LayerError, match="BIPOLAR: input values must be -1 or \\+1"):
        net.forward(np.array([[1, 0, 1, 1.0]]))


# ---------------------------------------------------------------------------------- quantizer folding
_ROUNDINGS = ["ROUND", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]


@pytest.mark.parametrize("rounding,bits,signed,narrow,qdq,zp",
                         [(r,) + c for r in _ROUNDINGS for c in [(3, True, False, False, 0), (2, True, True, False, 0),
                                                                 (4, False, False, False, 3), (1, True, False, False, 0)]]
                         + [("ROUND", 4, False, False, True, 5)])      # QDQ rounds half to even only
def test_quant_thresholds_equal_the_quantizer_at_ties(rounding, bits, signed, narrow, qdq, zp):
    """The threshold form of a quant layer (used when it is folded onto an accumulator)
    equals its direct evaluation everywhere, exact ties included (power-of-two scales make
    v / s + z exact)."""
    from networks.layers import Quant, threshold_activation

    q = Quant("q", bits=bits, signed=signed, narrow=narrow, rounding=rounding, qdq=qdq, channels=3)
    q.build((3,))
    q.scale = np.array([0.25, 0.5, 2.0]).reshape(3)
    q.zero_point = np.full(3, float(zp))
    assert q.foldable
    u = np.arange(-12, 12.25, 0.25)                      # every tie k + 1/2 and every integer
    v = (u[:, None] - (0 if qdq else zp)) * q.scale[None, :]
    direct = q.apply(v)
    folded = threshold_activation(v, np.ones(3), np.zeros(3), q)
    np.testing.assert_array_equal(folded, direct)

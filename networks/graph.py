"""Graph networks: a directed acyclic graph of layers (``imcsim-network/2``).

A :class:`GraphNetwork` is a list of *nodes*, each a layer and the names of its inputs (``from:``):
``"input"`` (the network input) or an earlier node (a node's output is named by the node).
Listing nodes in execution order makes every file a DAG by construction.  Layers with
several inputs (``add``, ``concat``) take them in the listed order; every other layer takes
one.  The network output is the node named by ``output`` (default: the last node).

With ``fold=True`` (default) a quantized dense/conv node whose only consumer is a chain of
per-channel affine nodes (``batchnorm``, per-channel ``affine``) ending in a ``sign``,
``ternarize``, ``uniform``, ``rsign``, ``bipolar``, ``multithreshold`` or ``quant`` node
(per-channel parameters; ``quant`` up to 8 bits), each the only consumer of the one
before, is evaluated
as per-channel thresholds on the integer accumulator, as in sequential networks
(:mod:`networks.layers.fold`); everything else runs one node at a time.

Network file::

    format: imcsim-network/2
    name: bireal_block
    input_shape: [16, 8, 8]
    input_datatype: FLOAT32        # optional: BIPOLAR, BINARY, TERNARY, INT<k>, UINT<k> are checked
    classes: 10
    weights: bireal_block.npz
    output: fc                     # optional, default the last node
    nodes:
      - {type: sign, name: s1, from: [input]}
      - {type: conv2d, name: c1, in: 16, out: 16, kernel: 3, padding: 1, weights: binary, inputs: ternary}
      - {type: batchnorm, name: bn1}            # from omitted: the previous node
      - {type: add, name: res1, from: [bn1, input]}
      - ...

Weights are stored as in ``imcsim-network/1`` (one ``<layer>.<key>`` array per state
array in an ``.npz``).  ``imcsim-network/1`` files (sequential ``layers:``) still load as
:class:`networks.Network`.
"""
from __future__ import annotations

import re

import numpy as np

from .layers import Affine, BatchNorm, Layer, LayerError, _Linear, threshold_activation
from .model import GRAPH_FORMAT, Network, NetworkFileError, _walk, build_layers

__all__ = ["GraphNetwork", "Node", "graph_from_spec", "check_datatype"]

INPUT = "input"
_DT = re.compile(r"^(BIPOLAR|BINARY|TERNARY|FLOAT32|FLOAT16|(U?INT)(\d+))$")


class Node:
    """A layer and the names of its inputs."""

    def __init__(self, layer: Layer, inputs):
        self.layer = layer
        self.inputs = [str(i) for i in inputs]

    @property
    def name(self):
        return self.layer.name

    @property
    def multi(self):
        return bool(getattr(self.layer, "multi_input", False))

    def __repr__(self):
        return f"Node({self.layer.type} {self.name!r} <- {self.inputs})"


def check_datatype(x, datatype, where):
    """Raise LayerError unless every value of ``x`` belongs to the QONNX ``datatype``."""
    if datatype is None:
        return
    m = _DT.match(str(datatype))
    if not m:
        raise LayerError(f"{where}: unknown input_datatype {datatype!r}; expected BIPOLAR, BINARY, "
                         f"TERNARY, INT<k>, UINT<k> or FLOAT32")
    dt = m.group(1)
    if dt.startswith("FLOAT"):
        return
    if dt == "BIPOLAR":
        ok, allowed = np.all((x == 1) | (x == -1)), "-1 or +1"
    elif dt == "BINARY":
        ok, allowed = np.all((x == 0) | (x == 1)), "0 or 1"
    elif dt == "TERNARY":
        ok, allowed = np.all((x == 0) | (x == 1) | (x == -1)), "-1, 0 or +1"
    else:
        k = int(m.group(3))
        lo, hi = (0, 2 ** k - 1) if m.group(2) == "UINT" else (-(2 ** (k - 1)), 2 ** (k - 1) - 1)
        ok, allowed = bool(np.all(x == np.round(x)) and np.all((x >= lo) & (x <= hi))), f"integers in [{lo}, {hi}]"
    if not ok:
        raise LayerError(f"{where}: input_datatype is {dt}: input values must be {allowed}")


def _channel_affine_of(layer):
    """``(k, h)`` per channel of a batchnorm / per-channel affine layer, else None."""
    if isinstance(layer, BatchNorm):
        return layer.affine() if layer.has_weights() else None
    if isinstance(layer, Affine) and layer.has_weights():
        return layer.affine()
    return None


class GraphNetwork(Network):
    """A DAG of layers; see the module docstring.  Same interface as :class:`Network`."""

    def __init__(self, nodes, input_shape, name="network", classes=None, description="",
                 dataset=None, meta=None, output=None, input_datatype=None):
        self.nodes = [n if isinstance(n, Node) else Node(*n) for n in nodes]
        if not self.nodes:
            raise LayerError(f"network {name!r}: a graph needs at least one node")
        self.layers = [n.layer for n in self.nodes]
        self.input_shape = tuple(int(v) for v in input_shape)
        self.name = str(name)
        self.description = str(description or "")
        self.dataset = dataset
        self.meta = dict(meta or {})
        self.input_datatype = None if input_datatype is None else str(input_datatype)
        if self.input_datatype is not None:
            check_datatype(np.zeros(0), self.input_datatype, f"network {name!r}")
        names = {}
        for l in _walk(self.layers):
            if not isinstance(l, Layer):
                raise LayerError(f"network {name!r}: {l!r} is not a layer")
            if l.name in names or l.name == INPUT:
                raise LayerError(f"network {name!r}: layer name {l.name!r} is used twice (or is the reserved "
                                 f"name {INPUT!r})")
            names[l.name] = l
        self._by_name = names
        shapes = {INPUT: self.input_shape}
        self.consumers = {INPUT: []}
        for n in self.nodes:
            for i in n.inputs:
                if i not in shapes:
                    raise LayerError(f"network {name!r}: node {n.name!r}: input {i!r} is not {INPUT!r} or an "
                                     f"earlier node")
                self.consumers[i].append(n.name)
            if n.multi:
                shapes[n.name] = tuple(n.layer.build([shapes[i] for i in n.inputs]))
            else:
                if len(n.inputs) != 1:
                    raise LayerError(f"network {name!r}: node {n.name!r} ({n.layer.type}) takes one input, "
                                     f"got {len(n.inputs)}")
                shapes[n.name] = tuple(n.layer.build(shapes[n.inputs[0]]))
            self.consumers[n.name] = []
        self.output = self.nodes[-1].name if output is None else str(output)
        if self.output not in shapes or self.output == INPUT:
            raise LayerError(f"network {name!r}: output {self.output!r} is not a node")
        self.output_shape = shapes[self.output]
        self.classes = int(classes) if classes is not None else int(np.prod(self.output_shape))
        self._index = {n.name: k for k, n in enumerate(self.nodes)}

    # -- info ------------------------------------------------------------------------------
    def summary(self) -> str:
        rows = [f"{self.name}: input {self.input_shape} -> {self.output_shape} (graph, {len(self.nodes)} nodes)"
                f"{'' if self.has_weights else ' (workload only, no weights)'}"]
        for n in self.nodes:
            l = n.layer
            extra = l.describe() if isinstance(l, _Linear) else ""
            rows.append(f"  {l.type:14s} {l.name:18s} {str(l.out_shape):16s} <- {', '.join(n.inputs)}{extra}")
        return "\n".join(rows)

    def __repr__(self):
        return f"GraphNetwork({self.name!r}, nodes={len(self.nodes)}, quantized={len(self.quantized_layers())})"

    # -- inference -------------------------------------------------------------------------
    def _fused_groups(self):
        """``{first node index: (chain of affine layers, activation node index)}``."""
        groups = {}
        for k, n in enumerate(self.nodes):
            l = n.layer
            if not (isinstance(l, _Linear) and l.quantized):
                continue
            chain, cur = [], n.name
            while True:
                cons = self.consumers[cur]
                if len(cons) != 1 or cur == self.output:
                    break
                nxt = self.nodes[self._index[cons[0]]]
                if getattr(nxt.layer, "foldable", False) and hasattr(nxt.layer, "steps"):
                    groups[k] = (chain, self._index[nxt.name])
                    break
                if isinstance(nxt.layer, (BatchNorm, Affine)):
                    chain.append(nxt.layer)
                    cur = nxt.name
                    continue
                break
        return groups

    def _prepare_graph_input(self, x):
        x = self._prepare(x)
        check_datatype(x, self.input_datatype, f"network {self.name!r}")
        return x

    def forward(self, x, backend=None, fold: bool = True):
        """Logits (B, classes) float64; ``backend`` defaults to a fresh ExactBackend."""
        ctx = self._context(backend, fold)
        vals = {INPUT: self._prepare_graph_input(x)}
        last_use = {}
        for k, n in enumerate(self.nodes):
            for i in n.inputs:
                last_use[i] = k
        groups = self._fused_groups() if fold else {}
        skip = set()
        for k, n in enumerate(self.nodes):
            if k in skip:
                continue
            l = n.layer
            xs = [vals[i] for i in n.inputs]
            if k in groups:
                chain, ka = groups[k]
                affines = [_channel_affine_of(c) for c in chain]
                if all(a is not None for a in affines):
                    B = xs[0].shape[0]
                    z = l.accumulate(xs[0], ctx)
                    A, Bc = l.channel_affine()
                    for kk, hh in affines:
                        A, Bc = kk * A, kk * Bc + hh
                    act = self.nodes[ka].layer
                    vals[self.nodes[ka].name] = l._unrows(threshold_activation(z, A, Bc, act), B)
                    skip.update(range(k + 1, ka + 1))
                    for i in n.inputs:
                        if last_use.get(i, -1) <= k and i != self.output:
                            vals.pop(i, None)
                    continue
            vals[n.name] = l.forward(xs, ctx) if n.multi else l.forward(xs[0], ctx)
            for i in set(n.inputs):
                if last_use.get(i, -1) <= k and i != self.output:
                    vals.pop(i, None)
        out = vals[self.output]
        return out.reshape(out.shape[0], int(np.prod(self.output_shape)))

    # -- training --------------------------------------------------------------------------
    def train_forward(self, x):
        x = self._prepare(x)
        self._B = x.shape[0]
        vals = {INPUT: x}
        for n in self.nodes:
            xs = [vals[i] for i in n.inputs]
            vals[n.name] = n.layer.train_forward(xs) if n.multi else n.layer.train_forward(xs[0])
        out = vals[self.output]
        return out.reshape(out.shape[0], int(np.prod(self.output_shape)))

    def backward(self, g):
        grads = {self.output: g.reshape((g.shape[0],) + self.output_shape)}
        for n in reversed(self.nodes):
            gy = grads.pop(n.name, None)
            if gy is None:                      # a node that does not reach the output
                gy = np.zeros((self._B,) + tuple(n.layer.out_shape))
            need = any(i != INPUT for i in n.inputs)
            dx = n.layer.backward(gy, need_input_grad=need)
            if not need:
                continue
            dxs = dx if n.multi else [dx]
            for i, d in zip(n.inputs, dxs):
                if i == INPUT:
                    continue
                grads[i] = d if i not in grads else grads[i] + d

    # -- state -----------------------------------------------------------------------------
    def spec(self) -> dict:
        d = {"format": GRAPH_FORMAT, "name": self.name, "description": self.description,
             "input_shape": list(self.input_shape)}
        if self.input_datatype is not None:
            d["input_datatype"] = self.input_datatype
        d["classes"] = self.classes
        if self.dataset is not None:
            d["dataset"] = self.dataset
        if self.output != self.nodes[-1].name:
            d["output"] = self.output
        nodes, prev = [], INPUT
        for n in self.nodes:
            s = n.layer.spec()
            if n.inputs != [prev]:
                s["from"] = list(n.inputs)
            nodes.append(s)
            prev = n.name
        d["nodes"] = nodes
        if self.meta:
            d["meta"] = self.meta
        return d


_GRAPH_KEYS = {"format", "name", "description", "input_shape", "input_datatype", "classes", "dataset",
               "weights", "output", "meta", "nodes"}


def graph_from_spec(d, source="network"):
    """A :class:`GraphNetwork` from the parsed YAML of an ``imcsim-network/2`` file."""
    extra = set(d) - _GRAPH_KEYS
    if extra:
        raise NetworkFileError(f"{source}: unknown key {sorted(extra)[0]!r}; allowed: {', '.join(sorted(_GRAPH_KEYS))}")
    for k in ("input_shape", "nodes"):
        if k not in d:
            raise NetworkFileError(f"{source}: missing key {k!r}")
    shape = d["input_shape"]
    if not (isinstance(shape, list) and shape and all(isinstance(v, int) and v > 0 for v in shape)):
        raise NetworkFileError(f"{source}: input_shape must be a list of positive integers, got {shape!r}")
    specs = d["nodes"]
    if not isinstance(specs, list) or not specs:
        raise NetworkFileError(f"{source}: nodes: expected a non-empty list of nodes")
    nodes, prev = [], INPUT
    for i, s in enumerate(specs):
        at = f"{source}: nodes[{i}]"
        if not isinstance(s, dict):
            raise NetworkFileError(f"{at}: expected a mapping, got {type(s).__name__}")
        s = dict(s)
        inputs = s.pop("from", [prev])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not (isinstance(inputs, list) and inputs and all(isinstance(v, str) for v in inputs)):
            raise NetworkFileError(f"{at}: from: must be a list of node names, got {inputs!r}")
        layer = build_layers([s], f"{source}: nodes", multi_ok=True, start=i)[0]
        nodes.append(Node(layer, inputs))
        prev = layer.name
    try:
        return GraphNetwork(nodes, shape, name=d.get("name", "network"), classes=d.get("classes"),
                            description=d.get("description", ""), dataset=d.get("dataset"), meta=d.get("meta"),
                            output=d.get("output"), input_datatype=d.get("input_datatype"))
    except LayerError as e:
        raise NetworkFileError(f"{source}: {e}") from None

"""Import trained quantized networks from ONNX: QONNX, standard QDQ, and Sign-based exports.

``networks.from_onnx("model.onnx")`` returns a :class:`networks.graph.GraphNetwork`;
``import_onnx("model.onnx", "nets/")`` (and ``imcsim import model.onnx -o nets/``) writes
``nets/model.yaml`` (``imcsim-network/2``) and ``nets/model.npz``.  Needs only the
``onnx`` package (``pip install 'imcsim[onnx]'``).

What is read (docs/networks.md has the full table):

* QONNX ``Quant``/``IntQuant``, ``BipolarQuant``, ``Trunc``, ``MultiThreshold`` in the
  domains ``onnx.brevitas``, ``qonnx.custom_op.general``, ``finn.custom_op.general`` and
  ``finn`` (Brevitas, qonnx and FINN exports);
* standard ONNX QDQ: ``QuantizeLinear`` -> ``DequantizeLinear`` pairs on activations and
  ``DequantizeLinear`` (or Q -> DQ) on weight initializers, int2/uint2/int4/uint4/int8/uint8,
  per tensor or per channel (``axis``);
* plain ``Sign`` (ONNX semantics: sign(0) = 0, imported as ``ternarize`` with delta 0)
  with the usual ``Mul``/``Add``/``Div``/``Sub`` scales around it;
* MatMul, Gemm, Conv (2-D, group 1), BatchNormalization, Add, Concat, Reshape, Flatten,
  Transpose, Squeeze, Unsqueeze, Relu, PRelu, LeakyRelu, Clip, MaxPool, AveragePool,
  GlobalAveragePool, ReduceMean (over the spatial axes), Pad (constant, spatial), Softmax,
  Identity, Dropout; constant sub-graphs (Shape, Gather,
  Pow, Sqrt, ...) are evaluated at import.

A MatMul/Gemm/Conv becomes a crossbar layer (it calls ``backend.matmul``) when its weight
is a constant whose values are an integer code times a per-output-channel scale (from a
quantizer node, or binary/ternary by value: every non-zero weight of a channel has one
magnitude) with codes binary, ternary or k-bit (k <= 8), and its input comes from a
quantizer with one scale for the whole tensor (the grid ``S * code``).  The encoding
follows the input grid: ``binary`` for {-S, +S}, ``ternary`` for {-S, 0, S} (and for
binary inputs of a zero-padded convolution, whose padding reads 0), ``unsigned<k>`` or
``signed<k>`` otherwise; the input scale S and the weight scale go into the layer's
per-channel ``w_scale`` (or its input step).  Any other MatMul/Gemm/Conv runs digitally
with its dequantized weights; the reason is recorded in ``meta.import.digital``.
Anything that cannot be mapped raises :class:`OnnxImportError` naming the file, the node,
its op type and why.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .graph import INPUT, GraphNetwork, Node
from .layers import (Add, Affine, AvgPool2d, BatchNorm, Bipolar, Concat, Conv2d, Dense, Flatten, GlobalAvgPool,
                     HardTanh, LayerError, MaxPool2d, MultiThreshold, Pad, PReLU, Quant, ReLU, Reshape, Softmax,
                     Ternarize, Transpose, Trunc)
from .layers.qact import int_range
from .model import NetworkFileError, save_network

__all__ = ["from_onnx", "import_onnx", "OnnxImportError", "QONNX_DOMAINS"]

QONNX_DOMAINS = ("onnx.brevitas", "qonnx.custom_op.general", "finn.custom_op.general", "finn")
_QONNX_OPS = ("Quant", "IntQuant", "BipolarQuant", "Trunc", "MultiThreshold")


class OnnxImportError(NetworkFileError):
    """An ONNX model that cannot be imported; the message names the file, node, op type and why."""


# ==================================================================================== values
class Const:
    """A constant tensor; ``q = (codes, scale, zero_point)`` (full-shape arrays) when it is
    known to equal ``(codes - zero_point) * scale``; ``batch`` marks entries of a shape
    vector that stand for the batch size."""

    def __init__(self, value, q=None, batch=None):
        self.value = np.asarray(value)
        self.q = q
        self.batch = None if batch is None else np.asarray(batch, dtype=bool)
        if self.batch is not None and not self.batch.any():
            self.batch = None


class Grid:
    """Values ``S * c`` with integer codes ``c`` in ``codes`` (a sorted tuple when small) or
    in ``[lo, hi]``."""

    def __init__(self, S, lo, hi, codes=None):
        self.S, self.lo, self.hi = float(S), int(lo), int(hi)
        self.codes = tuple(codes) if codes is not None else None

    def subset(self, allowed):
        vals = self.codes if self.codes is not None else range(self.lo, self.hi + 1)
        return all(v in allowed for v in vals)

    def scaled(self, a):
        return Grid(self.S * a, self.lo, self.hi, self.codes)


class Dyn:
    """A tensor computed at run time: produced by graph node ``node``; ``shape`` per sample."""

    def __init__(self, node, shape, grid=None):
        self.node, self.shape, self.grid = node, tuple(int(v) for v in shape), grid


class QTensor:
    """The integer output of a QuantizeLinear on a run-time tensor (must meet its DequantizeLinear)."""

    def __init__(self, src, scale, zp, bits, signed, axis, onnx_node):
        self.src, self.scale, self.zp, self.bits, self.signed, self.axis = src, scale, zp, bits, signed, axis
        self.onnx_node = onnx_node


_QDQ_TYPES = {"INT8": (8, True), "UINT8": (8, False), "INT4": (4, True), "UINT4": (4, False),
              "INT2": (2, True), "UINT2": (2, False)}
_DT = re.compile(r"^(U?INT)(\d+)$")


def _grid_of_datatype(dt):
    """The input grid of a QONNX datatype annotation (None for floats)."""
    dt = str(dt).upper()
    if dt == "BIPOLAR":
        return Grid(1.0, -1, 1, (-1, 1))
    if dt == "BINARY":
        return Grid(1.0, 0, 1)
    if dt == "TERNARY":
        return Grid(1.0, -1, 1)
    m = _DT.match(dt)
    if m:
        k = int(m.group(2))
        return Grid(1.0, 0, 2 ** k - 1) if m.group(1) == "UINT" else Grid(1.0, -(2 ** (k - 1)), 2 ** (k - 1) - 1)
    return None


# ==================================================================================== importer
class _Importer:
    def __init__(self, path, model, name=None):
        from onnx import helper, numpy_helper

        self.helper, self.nph = helper, numpy_helper
        self.path = str(path)
        self.model = model
        self.g = model.graph
        self.opsets = {o.domain or "": o.version for o in model.opset_import}
        self.nodes = []          # graph Nodes
        self.arrays = {}         # state arrays
        self.names = {INPUT}
        self.env = {}
        self.digital = {}        # layer -> why it is not on the crossbar
        self.name = name or Path(self.path).stem

    # -- helpers ---------------------------------------------------------------------------
    def fail(self, node, why):
        nm = node.name or "(unnamed)"
        raise OnnxImportError(f"{self.path}: node {nm!r} ({node.op_type}): {why}")

    def attrs(self, node):
        out = {}
        for a in node.attribute:
            v = self.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode()
            out[a.name] = v
        return out

    def layer_name(self, node, k):
        base = node.name or f"{node.op_type}_{k}"
        base = re.sub(r"[^A-Za-z0-9_.\-]", "_", base).strip("_") or f"{node.op_type}_{k}"
        n, i = base, 1
        while n in self.names:
            i += 1
            n = f"{base}_{i}"
        self.names.add(n)
        return n

    def emit(self, node, layer, inputs, arrays=None, grid=None):
        """Append ``layer`` fed by the Dyn values ``inputs``; returns its Dyn output."""
        try:
            if getattr(layer, "multi_input", False):
                out = layer.build([d.shape for d in inputs])
            else:
                out = layer.build(inputs[0].shape)
        except LayerError as e:
            self.fail(node, str(e))
        self.nodes.append(Node(layer, [d.node for d in inputs]))
        for k, v in (arrays or {}).items():
            self.arrays[f"{layer.name}.{k}"] = np.asarray(v)
        return Dyn(layer.name, out, grid)

    def const(self, node, name, what="input"):
        v = self.env.get(name)
        if not isinstance(v, Const):
            self.fail(node, f"{what} {name!r} must be a constant (an initializer or a constant expression)")
        return v

    def param_shape(self, node, arrays, full_rank):
        """Broadcast per-sample shape of parameter arrays against a tensor of rank
        ``full_rank`` (batch axis included): the batch axis must broadcast (size 1)."""
        shapes = [np.shape(a) for a in arrays]
        try:
            b = np.broadcast_shapes(*shapes) if shapes else ()
        except ValueError:
            self.fail(node, f"parameter shapes {shapes} do not broadcast")
        if len(b) > full_rank:
            self.fail(node, f"parameter shape {list(b)} has more axes than the tensor ({full_rank})")
        b = (1,) * (full_rank - len(b)) + tuple(b)
        if b[0] != 1:
            self.fail(node, f"parameter of shape {list(b)} varies along the batch axis")
        per = b[1:] or (1,)
        return per, [np.broadcast_to(np.asarray(a, dtype=np.float64).reshape((1,) * (full_rank - np.ndim(a))
                                                                             + np.shape(a)), b).reshape(per)
                     for a in arrays]

    @staticmethod
    def _scalar(a):
        a = np.asarray(a, dtype=np.float64)
        return float(a.reshape(-1)[0]) if a.size and np.all(a == a.reshape(-1)[0]) else None

    # -- main loop -------------------------------------------------------------------------
    def run(self):
        g = self.g
        for t in g.initializer:
            self.env[t.name] = Const(self._to_array(t))
        inits = {t.name for t in g.initializer}
        data = [i for i in g.input if i.name not in inits]
        if len(data) != 1:
            raise OnnxImportError(f"{self.path}: the graph has {len(data)} run-time inputs "
                                  f"({', '.join(i.name for i in data) or 'none'}); imcsim needs exactly one")
        inp = data[0]
        dims = inp.type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(shape) < 2 or any(v is None or v < 1 for v in shape[1:]):
            raise OnnxImportError(f"{self.path}: input {inp.name!r} has shape {shape}; expected (batch, "
                                  f"known sizes...), e.g. (1, 1, 28, 28)")
        # the declared batch size (a symbolic one counts as 1: a placeholder in shape arithmetic)
        self.declared_batch = shape[0] if shape[0] else 1
        self.input_shape = tuple(shape[1:])
        dt = None
        for qa in g.quantization_annotation:
            if qa.tensor_name == inp.name:
                for kv in qa.quant_parameter_tensor_names:
                    if kv.key == "finn_datatype":
                        dt = kv.value
        self.input_datatype = None if dt is None or str(dt).upper().startswith("FLOAT") else str(dt).upper()
        self.env[inp.name] = Dyn(INPUT, self.input_shape,
                                 _grid_of_datatype(self.input_datatype) if self.input_datatype else None)
        for k, node in enumerate(g.node):
            self.visit(node, k)
        if len(g.output) != 1:
            raise OnnxImportError(f"{self.path}: the graph has {len(g.output)} outputs; imcsim needs one (the logits)")
        out = self.env.get(g.output[0].name)
        if not isinstance(out, Dyn) or out.node == INPUT:
            raise OnnxImportError(f"{self.path}: output {g.output[0].name!r} is not computed from the input")
        return self.build(out)

    def _to_array(self, t):
        a = self.nph.to_array(t)
        if a.dtype.kind not in "fiub":        # int4 / uint4 / int2 ... (ml_dtypes)
            a = a.astype(np.int64)
        return a

    def build(self, out):
        qnames = [n.layer.name for n in self.nodes if getattr(n.layer, "quantized", False)]
        meta = {"import": {"source": Path(self.path).name,
                           "producer": f"{self.model.producer_name} {self.model.producer_version}".strip(),
                           "opsets": {k or "ai.onnx": int(v) for k, v in self.opsets.items()},
                           "crossbar_layers": qnames, "digital": dict(self.digital)}}
        try:
            net = GraphNetwork(self.nodes, self.input_shape, name=self.name, meta=meta, output=out.node,
                               input_datatype=self.input_datatype,
                               description=f"imported from {Path(self.path).name} by networks.onnx_import")
            net.load_state_dict({k: v for k, v in self.arrays.items()}, source=self.path)
            # round to what the weights file stores (float32): the imported network is the saved one
            net.load_state_dict(net.state_dict(), source=self.path)
        except LayerError as e:
            raise OnnxImportError(f"{self.path}: {e}") from None
        return net

    # -- dispatch --------------------------------------------------------------------------
    def visit(self, node, k):
        dom = node.domain or ""
        op = node.op_type
        if dom in QONNX_DOMAINS:
            if op not in _QONNX_OPS:
                self.fail(node, f"op {op!r} of domain {dom!r} is not supported (QONNX ops read: "
                                f"{', '.join(_QONNX_OPS)})")
        elif dom not in ("", "ai.onnx"):
            self.fail(node, f"domain {dom!r} is not supported (standard ONNX and QONNX domains "
                            f"{', '.join(QONNX_DOMAINS)})")
        ins = [self.env.get(i) if i else None for i in node.input]
        for i, v in zip(node.input, ins):
            if i and v is None:
                self.fail(node, f"input {i!r} is not defined before this node")
        present = [v for v in ins if v is not None]
        if op == "Constant":
            return self.set(node, Const(self._constant_attr(node)))
        if all(isinstance(v, Const) for v in present):
            return self.set(node, self.fold(node, ins))
        if any(isinstance(v, QTensor) for v in present) and op != "DequantizeLinear":
            self.fail(node, "consumes the integer output of a QuantizeLinear; only a DequantizeLinear may "
                            "(QDQ pairs)")
        fn = getattr(self, f"op_{op}", None)
        if fn is None:
            self.fail(node, f"op type {op!r} is not supported on run-time tensors; see docs/networks.md for "
                            f"the supported ops")
        self.set(node, fn(node, ins, self.attrs(node), k))

    def set(self, node, v):
        outs = [o for o in node.output if o]
        if isinstance(v, tuple):
            for o, vv in zip(outs, v):
                self.env[o] = vv
        else:
            self.env[outs[0]] = v
            for o in outs[1:]:
                self.env[o] = None

    def _constant_attr(self, node):
        a = self.attrs(node)
        if len(node.attribute) != 1:
            self.fail(node, "a Constant needs exactly one value attribute")
        at = node.attribute[0]
        if at.name == "value":
            return self._to_array(at.t)
        if at.name in ("value_float", "value_int"):
            return np.asarray(self.helper.get_attribute_value(at), dtype=np.float32 if "float" in at.name else np.int64)
        if at.name in ("value_floats", "value_ints"):
            return np.asarray(a[at.name], dtype=np.float32 if "float" in at.name else np.int64)
        self.fail(node, f"Constant with attribute {at.name!r} is not supported")

    # ==================================================================================== constants
    def fold(self, node, ins):
        op, a = node.op_type, self.attrs(node)
        v = [None if x is None else x.value for x in ins]
        q0 = ins[0].q if ins and ins[0] is not None else None
        b0 = ins[0].batch if ins and ins[0] is not None else None
        try:
            if op in ("Identity", "Dropout"):
                return Const(v[0], q0, b0)
            if op == "Cast":
                dt = self.helper.tensor_dtype_to_np_dtype(a["to"])
                return Const(v[0].astype(dt), q0, b0)
            if op == "Shape":
                return Const(np.asarray(v[0].shape, dtype=np.int64))
            if op in ("Add", "Sub", "Mul", "Div", "Pow"):
                fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power}[op]
                if op == "Div" and v[0].dtype.kind in "iu" and v[1].dtype.kind in "iu":
                    r = v[0] // v[1]
                else:
                    r = fn(v[0], v[1])
                return Const(r, batch=self._bor(ins, r.shape))
            if op == "MatMul":
                return Const(np.matmul(v[0], v[1]))
            if op in ("Min", "Max"):
                fn = np.minimum if op == "Min" else np.maximum
                r = v[0]
                for w in v[1:]:
                    r = fn(r, w)
                return Const(r)
            if op in ("Sqrt", "Neg", "Abs", "Sign", "Reciprocal", "Floor", "Ceil", "Round", "Exp", "Log"):
                fn = {"Sqrt": np.sqrt, "Neg": np.negative, "Abs": np.abs, "Sign": np.sign,
                      "Reciprocal": np.reciprocal, "Floor": np.floor, "Ceil": np.ceil, "Round": np.round,
                      "Exp": np.exp, "Log": np.log}[op]
                return Const(fn(v[0]).astype(v[0].dtype))
            if op == "Transpose":
                perm = a.get("perm", list(range(v[0].ndim))[::-1])
                q = None if q0 is None else tuple(np.transpose(z, perm) for z in q0)
                return Const(np.transpose(v[0], perm), q)
            if op == "Reshape":
                t = [int(s) for s in v[1]]
                t = [v[0].shape[i] if s == 0 else s for i, s in enumerate(t)]
                q = None if q0 is None else tuple(z.reshape(t) for z in q0)
                return Const(v[0].reshape(t), q, None if b0 is None else b0.reshape(t))
            if op == "Flatten":
                ax = a.get("axis", 1)
                sh = (int(np.prod(v[0].shape[:ax])), -1)
                return Const(v[0].reshape(sh), None if q0 is None else tuple(z.reshape(sh) for z in q0))
            if op in ("Unsqueeze", "Squeeze"):
                axes = a.get("axes", None if len(v) < 2 or v[1] is None else [int(s) for s in v[1]])
                if op == "Unsqueeze":
                    r = v[0]
                    rank = r.ndim + len(axes)
                    for ax in sorted(x % rank for x in axes):
                        r = np.expand_dims(r, ax)
                    bb = None if b0 is None else b0.reshape(r.shape)
                    return Const(r, batch=bb)
                r = np.squeeze(v[0], axis=None if axes is None else tuple(axes))
                return Const(r, batch=None if b0 is None else b0.reshape(r.shape))
            if op == "Concat":
                ax = a["axis"]
                r = np.concatenate([x for x in v if x is not None], axis=ax)
                bb = np.concatenate([x.batch if x.batch is not None else np.zeros(x.value.shape, bool)
                                     for x in ins if x is not None], axis=ax)
                return Const(r, batch=bb)
            if op == "Gather":
                ax = a.get("axis", 0)
                r = np.take(v[0], v[1].astype(np.int64), axis=ax)
                return Const(r, batch=None if b0 is None else np.take(b0, v[1].astype(np.int64), axis=ax))
            if op == "ReduceMean":
                axes = a.get("axes", None if len(v) < 2 or v[1] is None else [int(s) for s in v[1]])
                return Const(np.mean(v[0], axis=None if axes is None else tuple(axes),
                                     keepdims=bool(a.get("keepdims", 1))).astype(v[0].dtype))
            if op == "Clip":
                lo = a.get("min", v[1] if len(v) > 1 and v[1] is not None else -np.inf)
                hi = a.get("max", v[2] if len(v) > 2 and v[2] is not None else np.inf)
                return Const(np.clip(v[0], lo, hi).astype(v[0].dtype))
            if op == "ConstantOfShape":
                val = self._to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
                return Const(np.full([int(s) for s in v[0]], val.reshape(-1)[0], dtype=val.dtype))
            if op in ("Quant", "IntQuant"):
                return self._fold_quant(node, v, a)
            if op == "BipolarQuant":
                codes = np.where(v[0] >= 0, 1, -1)
                s = np.broadcast_to(v[1], codes.shape).astype(np.float64)
                return Const((codes * v[1]).astype(np.float32), (codes, s, np.zeros(codes.shape)))
            if op == "DequantizeLinear":
                return self._fold_dq(node, ins, a)
            if op == "QuantizeLinear":
                return self._fold_q(node, ins, a)
        except OnnxImportError:
            raise
        except Exception as e:  # noqa: BLE001 - a constant expression numpy cannot evaluate
            self.fail(node, f"cannot evaluate this constant expression ({type(e).__name__}: {e})")
        self.fail(node, f"op type {op!r} on constants is not supported")

    @staticmethod
    def _bor(ins, shape):
        m = None
        for x in ins:
            if x is not None and x.batch is not None:
                bb = np.broadcast_to(x.batch, shape)
                m = bb if m is None else (m | bb)
        return m

    def _fold_quant(self, node, v, a):
        x, s, z, bits = v[0], v[1], v[2], v[3]
        lay = Quant("_", bits=int(np.asarray(bits).reshape(-1)[0]), signed=bool(a.get("signed", 1)),
                    narrow=bool(a.get("narrow", 0)), rounding=a.get("rounding_mode", "ROUND"))
        u = x / s + z
        if lay.bits == 1 and lay.signed:
            q = np.where(u >= 0, 1.0, -1.0)
        else:
            q = lay._round(np.clip(u, lay.qmin, lay.qmax))
        val = ((q - z) * s).astype(np.float32)
        full = val.shape
        return Const(val, (q.astype(np.int64), np.broadcast_to(s, full).astype(np.float64),
                           np.broadcast_to(z, full).astype(np.float64)))

    def _axis_shape(self, arr, axis, rank):
        arr = np.asarray(arr)
        if arr.ndim == 0 or arr.size == 1:
            return arr.reshape(())
        sh = [1] * rank
        sh[axis % rank] = arr.size
        return arr.reshape(sh)

    def _fold_dq(self, node, ins, a):
        x = ins[0].value
        s = self._axis_shape(ins[1].value, a.get("axis", 1), x.ndim)
        z = self._axis_shape(ins[2].value if len(ins) > 2 and ins[2] is not None else np.zeros(()), a.get("axis", 1),
                             x.ndim)
        if "block_size" in a and a["block_size"]:
            self.fail(node, "blocked quantization (block_size) is not supported")
        codes = x.astype(np.int64)
        val = ((codes - z.astype(np.int64)) * s).astype(np.float32)
        return Const(val, (codes, np.broadcast_to(s, x.shape).astype(np.float64),
                           np.broadcast_to(z, x.shape).astype(np.float64)))

    def _qdq_type(self, node, zp_const, a):
        if "output_dtype" in a and a["output_dtype"]:
            from onnx import TensorProto
            name = TensorProto.DataType.Name(a["output_dtype"])
        elif zp_const is not None:
            name = {"int8": "INT8", "uint8": "UINT8"}.get(str(zp_const.value.dtype), None)
            if name is None:
                name = self._zp_tensor_type(node)
        else:
            name = "UINT8"
        if name not in _QDQ_TYPES:
            self.fail(node, f"quantized type {name} is not supported (int2, uint2, int4, uint4, int8, uint8)")
        return _QDQ_TYPES[name]

    def _zp_tensor_type(self, node):
        from onnx import TensorProto
        zname = node.input[2]
        for t in self.g.initializer:
            if t.name == zname:
                return TensorProto.DataType.Name(t.data_type)
        for n in self.g.node:
            if n.op_type == "Constant" and zname in n.output:
                return TensorProto.DataType.Name(n.attribute[0].t.data_type)
        return "UINT8"

    def _fold_q(self, node, ins, a):
        x = ins[0].value
        zc = ins[2] if len(ins) > 2 else None
        bits, signed = self._qdq_type(node, zc, a)
        lo, hi = int_range(bits, signed, False)
        s = self._axis_shape(ins[1].value, a.get("axis", 1), x.ndim)
        z = self._axis_shape(zc.value if zc is not None else np.zeros(()), a.get("axis", 1), x.ndim)
        q = np.clip(np.round(x / s) + z, lo, hi).astype(np.int64)
        return Const(q)

    # ==================================================================================== run-time ops
    def _dyn(self, node, ins, n=1):
        d = [x for x in ins if isinstance(x, Dyn)]
        if len(d) != n or not isinstance(ins[0], Dyn):
            self.fail(node, "expected the run-time tensor as the first input")
        return d[0]

    def op_Identity(self, node, ins, a, k):
        return ins[0]

    op_Dropout = op_Identity

    def op_Shape(self, node, ins, a, k):
        x = self._dyn(node, ins)
        full = [self.declared_batch] + list(x.shape)
        mask = [True] + [False] * len(x.shape)
        st, en = a.get("start", 0), a.get("end", None)
        return Const(np.asarray(full[st:en], dtype=np.int64), batch=mask[st:en])

    def op_Reshape(self, node, ins, a, k):
        x = self._dyn(node, ins)
        t = self.const(node, node.input[1], "shape")
        tv = [int(s) for s in t.value.reshape(-1)]
        bm = t.batch.reshape(-1) if t.batch is not None else np.zeros(len(tv), bool)
        full = (self.declared_batch,) + x.shape
        if bm[1:].any():
            self.fail(node, "the target shape uses the batch size outside the first axis")
        if not (bm[0] or tv[0] in (0, -1) or tv[0] == self.declared_batch):
            self.fail(node, f"target shape {tv} changes the batch axis; imcsim keeps axis 0 as the batch")
        per = [full[i + 1] if s == 0 else s for i, s in enumerate(tv[1:])]
        if tv[0] == -1 and -1 in per:
            self.fail(node, f"target shape {tv} has -1 in the batch axis and elsewhere")
        if tv[0] == -1:
            n = int(np.prod(per))
            if n != int(np.prod(x.shape)):
                self.fail(node, f"target shape {tv} does not keep the batch axis (per sample {per}, "
                                f"input per sample {list(x.shape)})")
        return self._reshape(node, x, per, k)

    def _reshape(self, node, x, per, k):
        if not per:
            self.fail(node, "cannot reshape a sample to a scalar")
        try:
            lay = Reshape(self.layer_name(node, k), per)
            shp = lay.build(x.shape)
        except LayerError as e:
            self.fail(node, str(e))
        if tuple(shp) == x.shape:
            self.names.discard(lay.name)
            return x
        if len(shp) == 1:
            lay = Flatten(lay.name)
        return self.emit(node, lay, [x], grid=x.grid)

    def op_Flatten(self, node, ins, a, k):
        x = self._dyn(node, ins)
        if a.get("axis", 1) != 1:
            self.fail(node, f"Flatten axis {a.get('axis')} is not 1 (imcsim keeps axis 0 as the batch)")
        return self._reshape(node, x, [int(np.prod(x.shape))], k)

    def op_Squeeze(self, node, ins, a, k):
        x = self._dyn(node, ins)
        axes = a.get("axes", None if len(ins) < 2 else [int(s) for s in self.const(node, node.input[1]).value])
        rank = len(x.shape) + 1
        axes = [i for i in range(1, rank) if (i - 1 < len(x.shape) and x.shape[i - 1] == 1)] if axes is None \
            else [ax % rank for ax in axes]
        if 0 in axes:
            self.fail(node, "squeezes the batch axis")
        per = [s for i, s in enumerate(x.shape) if i + 1 not in axes]
        return self._reshape(node, x, per, k)

    def op_Unsqueeze(self, node, ins, a, k):
        x = self._dyn(node, ins)
        axes = a.get("axes", None if len(ins) < 2 else [int(s) for s in self.const(node, node.input[1]).value])
        rank = len(x.shape) + 1 + len(axes)
        per = [self.declared_batch] + list(x.shape)
        for ax in sorted(ax % rank for ax in axes):
            if ax == 0:
                self.fail(node, "inserts an axis before the batch axis")
            per.insert(ax, 1)
        return self._reshape(node, x, per[1:], k)

    def op_Transpose(self, node, ins, a, k):
        x = self._dyn(node, ins)
        perm = a.get("perm", list(range(len(x.shape) + 1))[::-1])
        if perm[0] != 0:
            self.fail(node, f"perm {perm} moves the batch axis")
        p = [int(v) - 1 for v in perm[1:]]
        if p == list(range(len(p))):
            return x
        return self.emit(node, Transpose(self.layer_name(node, k), p), [x], grid=x.grid)

    # -- linear layers ------------------------------------------------------------------------
    def weight_codes(self, c, out_axis):
        """``(spec, codes, scale (N,))`` of a constant weight, or ``(None, reason)``."""
        W = np.asarray(c.value, dtype=np.float64)
        if c.q is not None:
            codes, s, z = c.q
            if np.any(z != 0):
                return None, "its weight quantizer has a non-zero zero point"
            M = np.moveaxis(codes, out_axis, 0).reshape(codes.shape[out_axis], -1).astype(np.int64)
            S = np.moveaxis(s, out_axis, 0).reshape(M.shape)
            if not np.all(S == S[:, :1]):
                return None, "its weight scale is not one value per output channel"
            scale = S[:, 0].copy()
            neg = scale < 0
            M[neg] = -M[neg]
            scale = np.abs(scale)
            if np.any(scale == 0):
                return None, "a weight scale is zero"
        else:
            M = np.moveaxis(W, out_axis, 0).reshape(W.shape[out_axis], -1)
            mag = np.abs(M).max(axis=1)
            nz = M != 0
            if not np.all(np.where(nz, np.abs(M) == mag[:, None], True)):
                return None, ("its weights are not quantized (no quantizer node, and not binary/ternary by "
                              "value)")
            scale = np.where(mag > 0, mag, 1.0)
            M = np.sign(M).astype(np.int64)
        vals = set(np.unique(M).tolist())
        if vals <= {-1, 1}:
            spec = "binary" if np.all(scale == 1) else "xnor"
        elif vals <= {-1, 0, 1}:
            spec = "ternary"
        else:
            m = int(np.abs(M).max())
            kb = next((b for b in range(2, 9) if 2 ** (b - 1) - 1 >= m), None)
            if kb is None:
                return None, f"its weight codes reach {m}, beyond the 8-bit symmetric range [-127, 127]"
            spec = f"int{kb}"
        codes = np.moveaxis(M.reshape((W.shape[out_axis],) + tuple(np.delete(W.shape, out_axis))), 0, out_axis)
        return spec, codes, scale

    def input_encoding(self, grid, padded):
        """``(inputs spec, quantizer kwargs, factor into w_scale)`` of an input grid, or None."""
        if grid is None or not grid.S > 0:
            return None
        if grid.subset({-1, 1}) and not padded:
            return "binary", {}, grid.S
        if grid.subset({-1, 0, 1}):
            return "ternary", {"input_delta": 0.5 * grid.S}, grid.S
        if grid.lo >= 0:
            kb = max(1, int(grid.hi).bit_length())
            if kb > 16:
                return None
            return f"unsigned{kb}", {"input_clip": grid.S * (2 ** kb - 1)}, 1.0
        kb = next((b for b in range(2, 17) if -(2 ** (b - 1)) <= grid.lo and grid.hi <= 2 ** (b - 1) - 1), None)
        if kb is None:
            return None
        return f"signed{kb}", {"input_clip": grid.S * (2 ** (kb - 1) - 1)}, 1.0

    def linear(self, node, k, x, wc, out_axis, bias, make, padded=False):
        """Emit a Dense/Conv2d: crossbar when weights and input are quantized, else digital."""
        name = self.layer_name(node, k)
        wq = self.weight_codes(wc, out_axis)
        enc = self.input_encoding(x.grid, padded)
        arrays = {}
        if wq[0] is not None and enc is not None:
            spec, codes, scale = wq
            ispec, ikw, factor = enc
            lay = make(name, weights=spec, inputs=ispec, bias=bias is not None, **ikw)
            arrays["w_int"] = codes.astype(np.int8)
            arrays["w_scale"] = scale * factor
        else:
            why = wq[1] if wq[0] is None else (
                "its input does not come from a quantizer with one scale for the tensor"
                if x.grid is None else f"its input grid (scale {x.grid.S}) has no crossbar encoding")
            self.digital[name] = why
            lay = make(name, weights="fp", inputs="fp", bias=bias is not None)
            arrays["weight"] = np.asarray(wc.value, dtype=np.float64)
        if bias is not None:
            arrays["bias"] = np.asarray(bias, dtype=np.float64).reshape(-1)
        return self.emit(node, lay, [x], arrays)

    def op_MatMul(self, node, ins, a, k):
        x = self._dyn(node, ins)
        w = self.const(node, node.input[1], "weight")
        if len(x.shape) != 1 or w.value.ndim != 2 or w.value.shape[0] != x.shape[0]:
            self.fail(node, f"MatMul of a (batch, {', '.join(map(str, x.shape))}) input and a "
                            f"{list(w.value.shape)} weight; imcsim maps (batch, K) x (K, N)")
        K, N = w.value.shape
        return self.linear(node, k, x, w, 1, None,
                           lambda nm, **kw: Dense(nm, K, N, **kw))

    def op_Gemm(self, node, ins, a, k):
        x = self._dyn(node, ins)
        if a.get("transA", 0):
            self.fail(node, "transA = 1 is not supported")
        w = self.const(node, node.input[1], "weight")
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        val = w.value.T if a.get("transB", 0) else w.value
        q = None
        if w.q is not None:
            q = tuple(z.T for z in w.q) if a.get("transB", 0) else w.q
        if alpha != 1.0:
            val = val * alpha
            q = None if q is None else (q[0], q[1] * alpha, q[2])
        wc = Const(val, q)
        if len(x.shape) != 1 or val.shape[0] != x.shape[0]:
            self.fail(node, f"Gemm of a (batch, {', '.join(map(str, x.shape))}) input and a {list(val.shape)} weight")
        K, N = val.shape
        bias = None
        if len(node.input) > 2 and node.input[2]:
            c = self.const(node, node.input[2], "bias").value.astype(np.float64) * beta
            bias = np.broadcast_to(c.reshape(-1) if c.size == N else c, (N,)) if c.size in (1, N) else None
            if bias is None:
                self.fail(node, f"bias of shape {list(c.shape)} is not per output ({N})")
        return self.linear(node, k, x, wc, 1, bias, lambda nm, **kw: Dense(nm, K, N, **kw))

    def op_Conv(self, node, ins, a, k):
        x = self._dyn(node, ins)
        w = self.const(node, node.input[1], "weight")
        if w.value.ndim != 4 or len(x.shape) != 3:
            self.fail(node, f"only 2-D convolutions are supported (weight {list(w.value.shape)}, "
                            f"input per sample {list(x.shape)})")
        if a.get("group", 1) != 1:
            self.fail(node, f"grouped or depthwise convolution (group = {a.get('group')}) is not supported")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.fail(node, f"dilations {a.get('dilations')} are not supported")
        O, I, kh, kw = w.value.shape
        if I != x.shape[0]:
            self.fail(node, f"weight has {I} input channels, the input {x.shape[0]}")
        strides = a.get("strides", [1, 1])
        pads = self._pads(node, a, x.shape[1:], (kh, kw), strides)
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = self.const(node, node.input[2], "bias").value.astype(np.float64)
        return self.linear(node, k, x, w, 0, bias,
                           lambda nm, **kw_: Conv2d(nm, I, O, (kh, kw), stride=strides, padding=pads, **kw_),
                           padded=any(pads))

    def _pads(self, node, a, hw, kernel, strides):
        ap = a.get("auto_pad", "NOTSET")
        if ap in ("NOTSET", "VALID"):
            p = a.get("pads", [0, 0, 0, 0]) if ap == "NOTSET" else [0, 0, 0, 0]
        else:
            p = []
            for L, kk, s in zip(hw, kernel, strides):
                tot = max((-(-L // s) - 1) * s + kk - L, 0)
                p.append(tot)
            p = [p[0] // 2, p[1] // 2, p[0] - p[0] // 2, p[1] - p[1] // 2]
            if ap == "SAME_LOWER":
                p = [p[2], p[3], p[0], p[1]]
        if p[0] != p[2] or p[1] != p[3]:
            self.fail(node, f"asymmetric padding {list(p)} is not supported (pads must be equal at both ends)")
        return (int(p[0]), int(p[1]))

    # -- normalization, element-wise ------------------------------------------------------------
    def op_BatchNormalization(self, node, ins, a, k):
        x = self._dyn(node, ins)
        if a.get("training_mode", 0):
            self.fail(node, "training_mode = 1 is not supported (export the model in eval mode)")
        C = x.shape[0]
        arrs = {}
        for key, nm in zip(("gamma", "beta", "mean", "var"), node.input[1:5]):
            v = self.const(node, nm, key).value.astype(np.float64).reshape(-1)
            if v.size != C:
                self.fail(node, f"{key} has {v.size} values for {C} channels")
            arrs[key] = v
        lay = BatchNorm(self.layer_name(node, k), channels=C, eps=float(a.get("epsilon", 1e-5)))
        return self.emit(node, lay, [x], arrs)

    def _affine(self, node, k, x, scale, shift, grid=None):
        rank = len(x.shape) + 1
        per, (s, h) = self.param_shape(node, [scale, shift], rank)
        lay = Affine(self.layer_name(node, k), shape=list(per), trainable=False)
        return self.emit(node, lay, [x], {"scale": s, "shift": h}, grid=grid)

    def _binary(self, node, ins, k, op):
        d = [i for i, v in enumerate(ins) if isinstance(v, Dyn)]
        if len(d) == 2:
            if op == "Add":
                if ins[0].shape != ins[1].shape:
                    self.fail(node, f"adds tensors of shapes {list(ins[0].shape)} and {list(ins[1].shape)}; "
                                    f"broadcasting between run-time tensors is not supported")
                return self.emit(node, Add(self.layer_name(node, k)), [ins[0], ins[1]])
            self.fail(node, f"{op} of two run-time tensors is not supported (only Add: residual connections)")
        x = ins[d[0]]
        c = np.asarray(ins[1 - d[0]].value, dtype=np.float64)
        first = d[0] == 0
        one, zero = np.ones_like(c), np.zeros_like(c)
        grid = None
        sc = self._scalar(c)
        if op == "Add":
            return self._affine(node, k, x, one, c)
        if op == "Sub":
            return self._affine(node, k, x, one, -c) if first else self._affine(node, k, x, -one, c)
        if op == "Mul":
            if x.grid is not None and sc is not None and sc > 0:
                grid = x.grid.scaled(sc)
            return self._affine(node, k, x, c, zero, grid)
        if op == "Div":
            if not first:
                self.fail(node, "division of a constant by a run-time tensor is not supported")
            if np.any(c == 0):
                self.fail(node, "division by zero")
            if x.grid is not None and sc is not None and sc > 0:
                grid = x.grid.scaled(1.0 / sc)
            return self._affine(node, k, x, 1.0 / c, zero, grid)
        self.fail(node, f"{op} is not supported")

    def op_Add(self, node, ins, a, k):
        return self._binary(node, ins, k, "Add")

    def op_Sub(self, node, ins, a, k):
        return self._binary(node, ins, k, "Sub")

    def op_Mul(self, node, ins, a, k):
        return self._binary(node, ins, k, "Mul")

    def op_Div(self, node, ins, a, k):
        return self._binary(node, ins, k, "Div")

    def op_Concat(self, node, ins, a, k):
        if not all(isinstance(v, Dyn) for v in ins):
            self.fail(node, "concatenates constants with run-time tensors; not supported")
        ax = int(a["axis"]) % (len(ins[0].shape) + 1)
        if ax == 0:
            self.fail(node, "concatenates along the batch axis")
        return self.emit(node, Concat(self.layer_name(node, k), axis=ax - 1), list(ins))

    def op_Relu(self, node, ins, a, k):
        return self.emit(node, ReLU(self.layer_name(node, k)), [self._dyn(node, ins)])

    def op_PRelu(self, node, ins, a, k):
        x = self._dyn(node, ins)
        slope = self.const(node, node.input[1], "slope").value
        per, (s,) = self.param_shape(node, [slope], len(x.shape) + 1)
        return self.emit(node, PReLU(self.layer_name(node, k), shape=list(per)), [x], {"slope": s})

    def op_LeakyRelu(self, node, ins, a, k):
        x = self._dyn(node, ins)
        return self.emit(node, PReLU(self.layer_name(node, k), shape=[1]), [x],
                         {"slope": np.full((1,), float(a.get("alpha", 0.01)))})

    def op_Clip(self, node, ins, a, k):
        x = self._dyn(node, ins)
        lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
        if len(node.input) > 1 and node.input[1]:
            lo = float(self.const(node, node.input[1], "min").value)
        if len(node.input) > 2 and node.input[2]:
            hi = float(self.const(node, node.input[2], "max").value)
        return self.emit(node, HardTanh(self.layer_name(node, k), lo, hi), [x])

    def op_Sign(self, node, ins, a, k):
        x = self._dyn(node, ins)
        return self.emit(node, Ternarize(self.layer_name(node, k), delta=0.0), [x], grid=Grid(1.0, -1, 1))

    def op_Softmax(self, node, ins, a, k):
        x = self._dyn(node, ins)
        ax = a.get("axis", -1 if self.opsets.get("", 13) >= 13 else 1)
        if len(x.shape) != 1 or ax not in (-1, 1):
            self.fail(node, f"Softmax over axis {ax} of a (batch, {list(x.shape)}) tensor; only the last axis "
                            f"of a (batch, classes) tensor is supported")
        return self.emit(node, Softmax(self.layer_name(node, k)), [x])

    def op_Pad(self, node, ins, a, k):
        """Constant padding of H and W (a Conv after it sees the padded values; a grid input
        keeps its grid when the pad value is on it, 0 turns a binary grid ternary)."""
        x = self._dyn(node, ins)
        mode = a.get("mode", "constant")
        if mode != "constant":
            self.fail(node, f"mode {mode!r} is not supported (constant only)")
        if "pads" in a:
            pads = list(a["pads"])
        else:
            pads = [int(v) for v in self.const(node, node.input[1], "pads").value.reshape(-1)]
        value = float(a.get("value", 0.0))
        if len(node.input) > 2 and node.input[2]:
            value = float(np.asarray(self.const(node, node.input[2], "constant value").value).reshape(-1)[0])
        if len(node.input) > 3 and node.input[3]:
            self.fail(node, "the axes input is not supported")
        if len(x.shape) != 3 or len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)):
            self.fail(node, f"pads {pads}: only the spatial axes of a (batch, C, H, W) tensor may be padded")
        if any(p < 0 for p in pads):
            self.fail(node, f"negative pads {pads} (cropping) are not supported")
        grid = x.grid
        if grid is not None:
            c = value / grid.S
            if c != round(c):
                grid = None
            else:
                c = int(round(c))
                codes = None if grid.codes is None else tuple(sorted(set(grid.codes) | {c}))
                grid = Grid(grid.S, min(grid.lo, c), max(grid.hi, c), codes)
        lay = Pad(self.layer_name(node, k), [pads[2], pads[3], pads[6], pads[7]], value)
        return self.emit(node, lay, [x], grid=grid)

    # -- pooling -----------------------------------------------------------------------------
    def _pool_common(self, node, a, x):
        if len(x.shape) != 3:
            self.fail(node, f"2-D pooling needs (C, H, W) per sample, got {list(x.shape)}")
        if a.get("ceil_mode", 0):
            self.fail(node, "ceil_mode = 1 is not supported")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.fail(node, "dilations are not supported")
        kern = a["kernel_shape"]
        strides = a.get("strides", [1, 1])
        return kern, strides, self._pads(node, a, x.shape[1:], kern, strides)

    def op_MaxPool(self, node, ins, a, k):
        x = self._dyn(node, ins)
        if len(node.output) > 1 and node.output[1]:
            self.fail(node, "the Indices output is not supported")
        kern, strides, pads = self._pool_common(node, a, x)
        return self.emit(node, MaxPool2d(self.layer_name(node, k), kern, strides, pads), [x], grid=x.grid)

    def op_AveragePool(self, node, ins, a, k):
        x = self._dyn(node, ins)
        kern, strides, pads = self._pool_common(node, a, x)
        if any(pads) and not a.get("count_include_pad", 0):
            self.fail(node, "padding with count_include_pad = 0 is not supported (imcsim counts the padding "
                            "in the average)")
        return self.emit(node, AvgPool2d(self.layer_name(node, k), kern, strides, pads), [x])

    def op_ReduceMean(self, node, ins, a, k):
        """The mean over every spatial axis (``x.mean((2, 3))`` in PyTorch) is a global average pool."""
        x = self._dyn(node, ins)
        axes = a.get("axes", None)
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in self.const(node, node.input[1], "axes").value.reshape(-1)]
        rank = len(x.shape) + 1
        if axes is None or sorted(ax % rank for ax in axes) != list(range(2, rank)) or rank < 3:
            self.fail(node, f"ReduceMean over axes {axes} of a (batch, {', '.join(map(str, x.shape))}) tensor; only "
                            f"the mean over all spatial axes (a global average pool) is supported")
        y = self.emit(node, GlobalAvgPool(self.layer_name(node, k)), [x])
        if a.get("keepdims", 1):
            return y
        return self._reshape(node, y, [x.shape[0]], k)

    def op_GlobalAveragePool(self, node, ins, a, k):
        return self.emit(node, GlobalAvgPool(self.layer_name(node, k)), [self._dyn(node, ins)])

    # -- quantizers --------------------------------------------------------------------------
    def _quant_grid(self, s, z, qmin, qmax, bipolar=False):
        S, Z = self._scalar(s), self._scalar(z)
        if S is None or Z is None or not S > 0 or Z != round(Z):
            return None
        if bipolar:
            return Grid(S, -1 - int(Z), 1 - int(Z), (-1 - int(Z), 1 - int(Z)))
        return Grid(S, qmin - int(Z), qmax - int(Z))

    def op_Quant(self, node, ins, a, k):
        x = self._dyn(node, ins)
        s = self.const(node, node.input[1], "scale").value
        z = self.const(node, node.input[2], "zero point").value
        bits = self.const(node, node.input[3], "bit width").value
        b = float(np.asarray(bits).reshape(-1)[0])
        if b != int(b) or not 1 <= b <= 32:
            self.fail(node, f"bit width {b} is not an integer in 1..32")
        per, (s2, z2) = self.param_shape(node, [s, z], len(x.shape) + 1)
        try:
            lay = Quant(self.layer_name(node, k), bits=int(b), signed=bool(a.get("signed", 1)),
                        narrow=bool(a.get("narrow", 0)), rounding=a.get("rounding_mode", "ROUND"), shape=list(per))
        except LayerError as e:
            self.fail(node, str(e))
        grid = self._quant_grid(s, z, lay.qmin, lay.qmax, bipolar=(lay.bits == 1 and lay.signed))
        return self.emit(node, lay, [x], {"scale": s2, "zero_point": z2}, grid=grid)

    op_IntQuant = op_Quant

    def op_BipolarQuant(self, node, ins, a, k):
        x = self._dyn(node, ins)
        s = self.const(node, node.input[1], "scale").value
        per, (s2,) = self.param_shape(node, [s], len(x.shape) + 1)
        grid = self._quant_grid(s, np.zeros(()), -1, 1, bipolar=True)
        return self.emit(node, Bipolar(self.layer_name(node, k), shape=list(per)), [x], {"scale": s2}, grid=grid)

    def op_MultiThreshold(self, node, ins, a, k):
        x = self._dyn(node, ins)
        T = np.asarray(self.const(node, node.input[1], "thresholds").value, dtype=np.float64)
        if T.ndim != 2:
            self.fail(node, f"thresholds of shape {list(T.shape)}; expected (channels, steps)")
        layout = str(a.get("data_layout", "") or "")
        last = layout in ("NHWC", "NWC")
        os_, ob = float(a.get("out_scale", 1.0)), float(a.get("out_bias", 0.0))
        lay = MultiThreshold(self.layer_name(node, k), steps=T.shape[1], channels=T.shape[0],
                             out_scale=os_, out_bias=ob, channels_last=last)
        grid = None
        J = T.shape[1]
        if os_ > 0:
            for S in (os_, os_ / 2):
                c0 = ob / S
                if c0 == round(c0):
                    step = int(round(os_ / S))
                    codes = [int(round(c0)) + step * j for j in range(J + 1)]
                    grid = Grid(S, codes[0], codes[-1], codes if J < 64 else None)
                    break
        return self.emit(node, lay, [x], {"thresholds": T}, grid=grid)

    def op_Trunc(self, node, ins, a, k):
        x = self._dyn(node, ins)
        ver = 2 if len(node.input) >= 6 else 1
        s = self.const(node, node.input[1], "scale").value
        z = self.const(node, node.input[2], "zero point").value
        ib = int(np.asarray(self.const(node, node.input[3], "input bit width").value).reshape(-1)[0])
        if ver == 2:
            os_ = self.const(node, node.input[4], "output scale").value
            ob = int(np.asarray(self.const(node, node.input[5], "output bit width").value).reshape(-1)[0])
        else:
            os_ = s
            ob = int(np.asarray(self.const(node, node.input[4], "output bit width").value).reshape(-1)[0])
        per, (s2, z2, o2) = self.param_shape(node, [s, z, os_], len(x.shape) + 1)
        lay = Trunc(self.layer_name(node, k), in_bits=ib, out_bits=ob, version=ver,
                    signed=bool(a.get("signed", 1)), narrow=bool(a.get("narrow", 0)),
                    rounding=a.get("rounding_mode", "FLOOR"), shape=list(per))
        return self.emit(node, lay, [x], {"scale": s2, "zero_point": z2, "out_scale": o2})

    def op_QuantizeLinear(self, node, ins, a, k):
        x = self._dyn(node, ins)
        zc = ins[2] if len(ins) > 2 else None
        bits, signed = self._qdq_type(node, zc, a)
        s = self.const(node, node.input[1], "scale").value
        z = zc.value if zc is not None else np.zeros((), dtype=np.int64)
        if "block_size" in a and a["block_size"]:
            self.fail(node, "blocked quantization (block_size) is not supported")
        if a.get("saturate", 1) != 1:
            self.fail(node, "saturate = 0 is not supported")
        return QTensor(x, s, z, bits, signed, a.get("axis", 1), node)

    def op_DequantizeLinear(self, node, ins, a, k):
        q = ins[0]
        if not isinstance(q, QTensor):
            self.fail(node, "expects the output of a QuantizeLinear (or an integer constant)")
        s = self.const(node, node.input[1], "scale").value
        z = ins[2].value if len(ins) > 2 and ins[2] is not None else np.zeros((), dtype=np.int64)
        if not (np.array_equal(np.asarray(s, np.float64), np.asarray(q.scale, np.float64))
                and np.array_equal(np.asarray(z, np.int64), np.asarray(q.zp, np.int64))
                and a.get("axis", 1) == q.axis):
            self.fail(node, "scale, zero point or axis differ from those of its QuantizeLinear")
        x = q.src
        rank = len(x.shape) + 1
        s_ax = self._axis_shape(s, q.axis, rank)
        z_ax = self._axis_shape(z, q.axis, rank)
        per, (s2, z2) = self.param_shape(node, [s_ax, z_ax], rank)
        lo, hi = int_range(q.bits, q.signed, False)
        lay = Quant(self.layer_name(node, k), bits=q.bits, signed=q.signed, narrow=False, rounding="ROUND",
                    qdq=True, shape=list(per))
        grid = self._quant_grid(s, z, lo, hi)
        return self.emit(node, lay, [x], {"scale": s2, "zero_point": z2}, grid=grid)


# ==================================================================================== API
def _load(path):
    try:
        import onnx
    except ImportError:  # pragma: no cover - depends on the environment
        raise OnnxImportError(f"{path}: importing ONNX models needs the onnx package: "
                              f"pip install 'imcsim[onnx]'") from None
    p = Path(path)
    if not p.is_file():
        raise OnnxImportError(f"{path}: ONNX model file not found")
    try:
        return onnx.load(str(p))
    except Exception as e:  # noqa: BLE001 - protobuf decode errors have many types
        raise OnnxImportError(f"{path}: not a readable ONNX model ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]})") from None


def from_onnx(path, name=None) -> GraphNetwork:
    """Import an ONNX / QONNX model as a :class:`GraphNetwork` (see the module docstring).

    ``name`` defaults to the file's stem.  Raises :class:`OnnxImportError` (a
    ``NetworkFileError``) naming the node, its op type and why when it cannot be mapped."""
    model = _load(path)
    return _Importer(path, model, name).run()


def import_onnx(path, out_dir, name=None):
    """Import ``path`` and write ``out_dir/NAME.yaml`` and ``NAME.npz``; returns
    ``(network, yaml path)``."""
    net = from_onnx(path, name)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OnnxImportError(f"{out}: cannot create the output directory ({e})") from None
    return net, save_network(net, out / f"{net.name}.yaml")

"""Layers that multiply by a weight matrix through the backend: dense and conv2d (im2col).

Tensor layouts: dense (B, F); conv (B, C, H, W).  Dense weights are stored (in, out)
= (K, N); conv weights (out, in, kh, kw) and the im2col patch of one output position is
ordered (c_in, kh, kw), so the matrix handed to the backend is ``W.reshape(out, -1).T``
with K = c_in*kh*kw.  Zero padding is applied before input quantization (so a padded
position reads code 0 for ternary/unsigned inputs and +1 for binary inputs, identically
in training and inference).
"""
from __future__ import annotations

import numpy as np

from networks.layers.base import Layer, LayerError
from networks.layers.window import _pair, col2im, im2col, output_size
from networks.quant import InputQuantizer, WeightQuantizer


# ==================================================================================== linear
class _Linear(Layer):
    """Common part of Dense and Conv2d: weight/input quantization and the backend call."""

    def describe(self) -> str:
        """One line of a network summary: shape, vectors, weight and input kinds."""
        return (f" K={self.K} N={self.N} vectors={self.vectors} weights={self.wq.spec} "
                f"inputs={self.iq.spec}" + ("" if self.quantized else " (digital)"))

    def __init__(self, name, weights="fp", inputs=None, bias=None, input_clip=1.0, input_delta=0.5):
        super().__init__(name)
        self.wq = WeightQuantizer(weights)
        if inputs is None:
            inputs = "fp" if self.wq.kind == "fp" else "ternary"
        self.iq = InputQuantizer(inputs, clip=input_clip, delta=input_delta)
        if self.wq.kind == "fp" and self.iq.kind != "fp":
            raise LayerError(f"layer {name!r}: full-precision weights need inputs: fp, got {inputs!r}")
        if self.wq.kind != "fp" and self.iq.kind == "fp":
            raise LayerError(f"layer {name!r}: quantized weights ({weights}) need quantized inputs "
                             f"(binary, ternary, unsigned<k>, signed<k>), got fp")
        if self.wq.kind == "asym_ternary" and self.iq.kind not in ("binary", "ternary"):
            raise LayerError(f"layer {name!r}: asym_ternary weights need binary or ternary inputs "
                             f"(the backend's asym mode), got {inputs!r}")
        self.use_bias = (self.wq.kind == "fp") if bias is None else bool(bias)
        # latent (training) weights and the frozen inference form
        self.W = None          # latent weights, layer layout
        self.b = None          # bias (N,) or None
        self.ab = None         # asym_ternary (a, b) as array (2,)
        self.w_int = None      # int8 codes, layer layout
        self.w_scale = None    # (N,) float64
        self.w_fp = None       # fp weights (layer layout)

    # -- info used by studies --------------------------------------------------------------
    @property
    def quantized(self) -> bool:
        return self.wq.kind != "fp"

    @property
    def encoding(self):
        """Encoding handed to the backend.  Binary inputs of an asym_ternary layer are sent
        as ``ternary`` (+-1 are ternary values): the backends' asym mode takes ternary inputs."""
        if self.wq.kind == "asym_ternary" and self.iq.kind == "binary":
            return "ternary"
        return self.iq.encoding

    @property
    def weight_kind(self) -> str:
        return self.wq.weight_kind

    @property
    def weight_max_code(self) -> int | None:
        """Largest magnitude of the layer's integer weight codes (None: full precision)."""
        return self.wq.max_code

    @property
    def input_kind(self) -> str:
        return self.iq.spec

    def weight_matrix(self):
        """The integer weight codes as the backend receives them, (K, N) int8, or None
        when the layer has no weights (workload-only) or is full precision."""
        if not self.quantized or self.w_int is None:
            return None
        return self._to_matrix(self.w_int)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference."""
        return self.K * self.N * self.vectors

    @property
    def asym(self):
        if self.wq.kind != "asym_ternary" or self.ab is None:
            return None
        return (float(self.ab[0]), float(self.ab[1]), 1.0, 1.0)

    def info(self) -> dict:
        return {"name": self.name, "type": self.type, "K": self.K, "N": self.N, "vectors": self.vectors,
                "macs": self.macs, "encoding": self.encoding, "weights": self.wq.spec,
                "weight_kind": self.weight_kind, "quantized": self.quantized}

    # -- weights -------------------------------------------------------------------------
    def _wshape(self):
        raise NotImplementedError

    def _to_matrix(self, W):
        raise NotImplementedError

    def _from_matrix(self, M):
        raise NotImplementedError

    def init(self, rng):
        # Glorot-uniform latent weights (He-normal for full-precision layers)
        if self.quantized:
            lim = np.sqrt(6.0 / (self.K + self.N))
            self.W = rng.uniform(-lim, lim, self._wshape())
        else:
            self.W = rng.normal(0, np.sqrt(2.0 / self.K), self._wshape())
        self.b = np.zeros(self.N) if self.use_bias else None
        if self.wq.kind == "asym_ternary":
            M = self._to_matrix(self.W)
            codes, _ = self.wq.quantize(M)
            a = np.abs(M[codes < 0]).mean() if np.any(codes < 0) else 0.1
            b = np.abs(M[codes > 0]).mean() if np.any(codes > 0) else 0.1
            self.ab = np.array([a, b])
        self.freeze()

    def freeze(self):
        """Compute the inference form (codes and scales) from the latent weights."""
        if self.W is None:
            return
        if self.quantized:
            codes, scale = self.wq.quantize(self._to_matrix(self.W))
            self.w_int = self._from_matrix(codes).astype(np.int8)
            self.w_scale = scale.astype(np.float64)
            self.w_fp = None
        else:
            self.w_fp = np.array(self.W, dtype=np.float64)

    def thaw(self):
        """Latent weights from the inference form (to continue training a loaded model)."""
        if self.W is not None:
            return
        if self.quantized:
            M = self._to_matrix(self.w_int).astype(np.float64)
            if self.wq.kind == "asym_ternary":
                M = np.where(M > 0, self.ab[1], np.where(M < 0, -self.ab[0], 0.0))
            else:
                M = M * self.w_scale[None, :]
            self.W = self._from_matrix(M)
        else:
            self.W = self.w_fp.copy()

    def has_weights(self):
        return (self.w_int is not None) if self.quantized else (self.w_fp is not None)

    def expected_state(self):
        s = {}
        if self.quantized:
            s["w_int"] = (self._wshape(), "i")
            if self.wq.kind == "asym_ternary":
                s["asym"] = ((2,), "f")
            else:
                s["w_scale"] = ((self.N,), "f")
        else:
            s["weight"] = (self._wshape(), "f")
        if self.use_bias:
            s["bias"] = ((self.N,), "f")
        return s

    def state(self):
        s = {}
        if self.quantized:
            s["w_int"] = self.w_int.astype(np.int8)
            if self.wq.kind == "asym_ternary":
                s["asym"] = np.asarray(self.ab, dtype=np.float32)
            else:
                s["w_scale"] = self.w_scale.astype(np.float32)
        else:
            s["weight"] = self.w_fp.astype(np.float32)
        if self.use_bias:
            s["bias"] = np.asarray(self.b, dtype=np.float32)
        return s

    def load_state(self, arrays):
        self.W = None
        if self.quantized:
            w = np.asarray(arrays["w_int"])
            lim = 1 if self.wq.kind != "int" else 2 ** (self.wq.bits - 1) - 1
            if w.size and (w.min() < -lim or w.max() > lim):
                raise LayerError(f"layer {self.name!r}: w_int values must lie in [-{lim}, {lim}] for "
                                 f"{self.wq.spec} weights, found [{w.min()}, {w.max()}]")
            if self.wq.kind in ("binary", "xnor") and np.any(w == 0):
                raise LayerError(f"layer {self.name!r}: binary weights must be -1 or +1, found 0")
            self.w_int = w.astype(np.int8)
            if self.wq.kind == "asym_ternary":
                self.ab = np.asarray(arrays["asym"], dtype=np.float64)
                self.w_scale = np.ones(self.N)
            else:
                self.w_scale = np.asarray(arrays["w_scale"], dtype=np.float64)
        else:
            self.w_fp = np.asarray(arrays["weight"], dtype=np.float64)
        self.b = np.asarray(arrays["bias"], dtype=np.float64) if self.use_bias else None

    # -- the layer's own geometry ----------------------------------------------------------
    def _rows(self, x):
        """(R, K) rows of the matrix product and whatever _unrows needs."""
        raise NotImplementedError

    def _unrows(self, y, B):
        raise NotImplementedError

    def _rows_backward(self, d, B):
        raise NotImplementedError

    # -- inference ---------------------------------------------------------------------------
    def accumulate(self, x, ctx):
        """Integer accumulators ``z`` (R, N) from the backend (quantized layers)."""
        if not self.has_weights():
            raise LayerError(f"layer {self.name!r} has no weights (workload-only network?)")
        rows = self._rows(x)
        x_int, _ = self.iq.to_int(rows)
        return ctx.backend.matmul(x_int, self._to_matrix(self.w_int), encoding=self.encoding,
                                  layer=self.name, asym=self.asym)

    def channel_affine(self):
        """``(s, c)`` with real output ``u = s * z + c`` per output channel."""
        s = self.iq.step * (self.w_scale if self.wq.kind != "asym_ternary" else np.ones(self.N))
        c = self.b if self.use_bias else np.zeros(self.N)
        return s, c

    def forward(self, x, ctx):
        B = x.shape[0]
        if self.quantized:
            z = self.accumulate(x, ctx)
            s, c = self.channel_affine()
            y = z * s[None, :] + c[None, :]
        else:
            if not self.has_weights():
                raise LayerError(f"layer {self.name!r} has no weights (workload-only network?)")
            y = self._rows(x) @ self._to_matrix(self.w_fp)
            if self.use_bias:
                y = y + self.b[None, :]
        return self._unrows(y, B)

    # -- training ----------------------------------------------------------------------------
    def parameters(self):
        out = [("W", self)]
        if self.use_bias:
            out.append(("b", self))
        if self.wq.kind == "asym_ternary":
            out.append(("ab", self))
        return out

    def train_forward(self, x):
        B = x.shape[0]
        rows = self._rows(x)
        xq, xmask = self.iq.fake(rows)
        M = self._to_matrix(self.W)
        Mq, ste = self.wq.fake(M, self.ab)
        y = xq @ Mq
        if self.use_bias:
            y = y + self.b[None, :]
        self._cache = (B, xq, xmask, M, Mq, ste)
        return self._unrows(y, B)

    def backward(self, g, need_input_grad=True):
        B, xq, xmask, M, Mq, ste = self._cache
        self._cache = None
        gy = self._rows_of_output(g)
        dMq = xq.T @ gy
        if self.wq.kind == "asym_ternary":
            codes, _ = self.wq.quantize(M)
            self.grads["ab"] = np.array([-(dMq * (codes < 0)).sum(), (dMq * (codes > 0)).sum()])
        dM = dMq * ste if ste is not None else dMq
        self.grads["W"] = self._from_matrix(dM)
        if self.use_bias:
            self.grads["b"] = gy.sum(axis=0)
        if not need_input_grad:
            return None
        dx = gy @ Mq.T
        if xmask is not None:
            dx = dx * xmask
        return self._rows_backward(dx, B)

    def _rows_of_output(self, g):
        raise NotImplementedError

    def spec(self):
        d = {"type": self.type, "name": self.name}
        d.update(self._geom_spec())
        d["weights"] = self.wq.spec
        d["inputs"] = self.iq.spec
        if self.iq.kind in ("unsigned", "signed"):
            d["input_clip"] = self.iq.clip
        if self.iq.kind == "ternary":
            d["input_delta"] = self.iq.delta
        d["bias"] = self.use_bias
        return d


class Dense(_Linear):
    """Fully connected layer ``y = x W + b``; W has shape (in, out)."""
    type = "dense"

    def __init__(self, name, in_features, out_features, weights="fp", inputs=None, bias=None,
                 input_clip=1.0, input_delta=0.5):
        super().__init__(name, weights, inputs, bias, input_clip, input_delta)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.K, self.N, self.vectors = self.in_features, self.out_features, 1

    def _out_shape(self, s):
        if int(np.prod(s)) != self.in_features:
            raise LayerError(f"layer {self.name!r}: expects {self.in_features} input features, "
                             f"gets shape {s} ({int(np.prod(s))} features)")
        return (self.out_features,)

    def _wshape(self):
        return (self.in_features, self.out_features)

    def _to_matrix(self, W):
        return W

    def _from_matrix(self, M):
        return M

    def _rows(self, x):
        return x.reshape(x.shape[0], self.in_features)

    def _unrows(self, y, B):
        return y

    def _rows_of_output(self, g):
        return g

    def _rows_backward(self, d, B):
        return d.reshape((B,) + self.in_shape)

    def _geom_spec(self):
        return {"in": self.in_features, "out": self.out_features}


class Conv2d(_Linear):
    """2-D convolution via im2col; weight shape (out, in, kh, kw)."""
    type = "conv2d"

    def __init__(self, name, in_channels, out_channels, kernel, stride=1, padding=0, weights="fp",
                 inputs=None, bias=None, input_clip=1.0, input_delta=0.5):
        super().__init__(name, weights, inputs, bias, input_clip, input_delta)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel = _pair(kernel)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.K = self.in_channels * self.kernel[0] * self.kernel[1]
        self.N = self.out_channels
        self.vectors = None

    def _out_shape(self, s):
        if len(s) != 3 or s[0] != self.in_channels:
            raise LayerError(f"layer {self.name!r}: expects input (C={self.in_channels}, H, W), gets {s}")
        _, H, W = s
        Ho, Wo = output_size(H, W, self.kernel, self.stride, self.padding)
        if Ho < 1 or Wo < 1:
            raise LayerError(f"layer {self.name!r}: kernel {self.kernel} does not fit input {s}")
        self.vectors = Ho * Wo
        return (self.out_channels, Ho, Wo)

    def _wshape(self):
        return (self.out_channels, self.in_channels) + self.kernel

    def _to_matrix(self, W):
        return W.reshape(W.shape[0], -1).T

    def _from_matrix(self, M):
        return M.T.reshape(self._wshape())

    def _rows(self, x):
        cols, _, _ = im2col(x, *self.kernel, self.stride, self.padding)
        return cols

    def _unrows(self, y, B):
        C, Ho, Wo = self.out_shape
        return y.reshape(B, Ho, Wo, C).transpose(0, 3, 1, 2)

    def _rows_of_output(self, g):
        return g.transpose(0, 2, 3, 1).reshape(-1, g.shape[1])

    def _rows_backward(self, d, B):
        _, Ho, Wo = self.out_shape
        return col2im(d, (B,) + self.in_shape, *self.kernel, self.stride, self.padding, Ho, Wo)

    def _geom_spec(self):
        return {"in": self.in_channels, "out": self.out_channels, "kernel": list(self.kernel),
                "stride": list(self.stride), "padding": list(self.padding)}

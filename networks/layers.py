"""Layers: dense, conv2d (im2col), batch norm, activations, pooling, flatten, residual.

Every layer maps float64 arrays to float64 arrays and can run three ways:

* ``forward(x, ctx)``: inference.  A *quantized* layer (weights not ``fp``) turns its
  input into integer codes, asks ``ctx.backend.matmul(x_int, w_int, encoding=...,
  layer=self.name, asym=...)`` for the integer product and applies its scales and bias.
  Full-precision layers compute in float64 themselves (digital, no backend call).
* ``train_forward(x)`` / ``backward(g)``: training with fake quantization and the
  straight-through estimator on latent float weights (see ``networks.quant``).
* ``fold`` (done by :class:`networks.model.Network`): a quantized layer followed by
  BatchNorm and a Sign / Ternarize / Uniform activation is evaluated as per-channel
  thresholds on the integer accumulator (``threshold_activation``).

Tensor layouts: dense (B, F); conv (B, C, H, W).  Dense weights are stored (in, out)
= (K, N); conv weights (out, in, kh, kw) and the im2col patch of one output position is
ordered (c_in, kh, kw), so the matrix handed to the backend is ``W.reshape(out, -1).T``
with K = c_in*kh*kw.  Zero padding is applied before input quantization (so a padded
position reads code 0 for ternary/unsigned inputs and +1 for binary inputs, identically
in training and inference).
"""
from __future__ import annotations

import numpy as np

from .quant import InputQuantizer, WeightQuantizer


class NetworkError(ValueError):
    """Base of the errors of the networks package (bad input: a user-facing message)."""


class LayerError(NetworkError):
    """Bad layer definition or incompatible shapes."""


class Context:
    """What a forward pass needs: the backend, and whether to fold BN into thresholds."""

    def __init__(self, backend=None, fold: bool = True):
        self.backend = backend
        self.fold = fold


class Layer:
    type = "layer"
    params: tuple = ()        #: names of trainable arrays (attributes)
    buffers: tuple = ()       #: names of non-trainable state arrays

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise LayerError(f"layer name must be a non-empty string, got {name!r}")
        self.name = name
        self.in_shape = None
        self.out_shape = None
        self.grads: dict = {}

    # shape propagation -----------------------------------------------------------------
    def build(self, in_shape: tuple) -> tuple:
        self.in_shape = tuple(in_shape)
        self.out_shape = self._out_shape(self.in_shape)
        return self.out_shape

    def _out_shape(self, s):
        return s

    # parameters ------------------------------------------------------------------------
    def init(self, rng) -> None:
        pass

    def has_weights(self) -> bool:
        return True

    def state(self) -> dict:
        """Arrays of the inference form, keyed ``<name>.<key>``."""
        return {}

    def expected_state(self) -> dict:
        """Expected ``{key: (shape, dtype kind)}`` of :meth:`state`."""
        return {}

    def load_state(self, arrays: dict) -> None:
        pass

    def spec(self) -> dict:
        return {"type": self.type, "name": self.name}

    def children(self):
        return ()

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, in={self.in_shape}, out={self.out_shape})"


# ==================================================================================== linear
class _Linear(Layer):
    """Common part of Dense and Conv2d: weight/input quantization and the backend call."""

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
    def input_kind(self) -> str:
        return self.iq.spec

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


def _pair(v):
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise LayerError(f"expected an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def im2col(x, kh, kw, stride, padding, pad_value=0.0):
    """(B, C, H, W) -> ((B*Ho*Wo, C*kh*kw) patches ordered (c, i, j), Ho, Wo)."""
    B, C, H, W = x.shape
    sh, sw = stride
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    Ho = (H + 2 * ph - kh) // sh + 1
    Wo = (W + 2 * pw - kw) // sw + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :Ho, :Wo]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(B * Ho * Wo, C * kh * kw)
    return cols, Ho, Wo


def col2im(cols, x_shape, kh, kw, stride, padding, Ho, Wo):
    """Adjoint of :func:`im2col` (sums overlapping patches)."""
    B, C, H, W = x_shape
    sh, sw = stride
    ph, pw = padding
    d = cols.reshape(B, Ho, Wo, C, kh, kw)
    out = np.zeros((B, C, H + 2 * ph, W + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + sh * Ho:sh, j:j + sw * Wo:sw] += d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, ph:ph + H, pw:pw + W]


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
        Ho = (H + 2 * self.padding[0] - self.kernel[0]) // self.stride[0] + 1
        Wo = (W + 2 * self.padding[1] - self.kernel[1]) // self.stride[1] + 1
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


# ==================================================================================== batch norm
class BatchNorm(Layer):
    """Batch normalization over the channel axis (axis 1); folded into thresholds at inference."""
    type = "batchnorm"

    def __init__(self, name, channels=None, eps=1e-5, momentum=0.9):
        super().__init__(name)
        self.channels = None if channels is None else int(channels)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.gamma = self.beta = self.mean = self.var = None

    def _out_shape(self, s):
        c = s[0]
        if self.channels is None:
            self.channels = c
        elif c != self.channels:
            raise LayerError(f"layer {self.name!r}: expects {self.channels} channels, gets shape {s}")
        return s

    def init(self, rng):
        C = self.channels
        self.gamma, self.beta = np.ones(C), np.zeros(C)
        self.mean, self.var = np.zeros(C), np.ones(C)

    def has_weights(self):
        return self.gamma is not None

    def expected_state(self):
        return {k: ((self.channels,), "f") for k in ("gamma", "beta", "mean", "var")}

    def state(self):
        return {k: np.asarray(getattr(self, k), dtype=np.float32) for k in ("gamma", "beta", "mean", "var")}

    def load_state(self, arrays):
        for k in ("gamma", "beta", "mean", "var"):
            setattr(self, k, np.asarray(arrays[k], dtype=np.float64))
        if np.any(self.var < 0):
            raise LayerError(f"layer {self.name!r}: negative running variance")

    def spec(self):
        return {"type": self.type, "name": self.name, "channels": self.channels, "eps": self.eps}

    def affine(self):
        """``(k, h)`` with ``BN(u) = k * u + h`` per channel (inference)."""
        k = self.gamma / np.sqrt(self.var + self.eps)
        return k, self.beta - k * self.mean

    @staticmethod
    def _shape(x):
        return (1, -1) + (1,) * (x.ndim - 2)

    def forward(self, x, ctx=None):
        if not self.has_weights():
            raise LayerError(f"layer {self.name!r} has no weights (workload-only network?)")
        k, h = self.affine()
        sh = self._shape(x)
        return x * k.reshape(sh) + h.reshape(sh)

    def parameters(self):
        return [("gamma", self), ("beta", self)]

    def train_forward(self, x):
        axes = (0,) + tuple(range(2, x.ndim))
        mu = x.mean(axis=axes)
        var = x.var(axis=axes)
        sh = self._shape(x)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu.reshape(sh)) * inv.reshape(sh)
        m = self.momentum
        n = x.size // x.shape[1]
        self.mean = m * self.mean + (1 - m) * mu
        self.var = m * self.var + (1 - m) * var * (n / max(n - 1, 1))
        self._cache = (xhat, inv, axes, sh)
        return xhat * self.gamma.reshape(sh) + self.beta.reshape(sh)

    def backward(self, g, need_input_grad=True):
        xhat, inv, axes, sh = self._cache
        self._cache = None
        self.grads["gamma"] = (g * xhat).sum(axis=axes)
        self.grads["beta"] = g.sum(axis=axes)
        if not need_input_grad:
            return None
        n = g.size // g.shape[1]
        gx = g * self.gamma.reshape(sh)
        return (inv.reshape(sh) / n) * (n * gx - gx.sum(axis=axes).reshape(sh)
                                        - xhat * (gx * xhat).sum(axis=axes).reshape(sh))


# ==================================================================================== activations
class Activation(Layer):
    """Base of element-wise activations.  Quantizing ones describe themselves for folding
    as ``scale * (offset + sum_j weight_j * [v >= T_j])`` (``>`` when strict):
    ``steps() -> (offset, [(T_j, strict_j, weight_j)], scale)``."""
    foldable = False

    def forward(self, x, ctx=None):
        return self.apply(x)

    def train_forward(self, x):
        self._x = x
        return self.apply(x)

    def backward(self, g, need_input_grad=True):
        x = self._x
        self._x = None
        return g * self.ste(x)

    def parameters(self):
        return []


class Sign(Activation):
    """Binary activation: +1 if v >= 0 else -1 (BNN); STE = 1{|v| <= 1}."""
    type = "sign"
    foldable = True
    out_encoding = "binary"

    def apply(self, x):
        return np.where(x >= 0, 1.0, -1.0)

    def ste(self, x):
        return np.abs(x) <= 1.0

    def steps(self):
        return -1.0, [(0.0, False, 2.0)], 1.0


class Ternarize(Activation):
    """Ternary activation: +1 if v > delta, -1 if v < -delta, else 0; STE = 1{|v| <= 1}."""
    type = "ternarize"
    foldable = True
    out_encoding = "ternary"

    def __init__(self, name, delta=0.5):
        super().__init__(name)
        self.delta = float(delta)
        if self.delta < 0:
            raise LayerError(f"layer {name!r}: delta must be >= 0")

    def apply(self, x):
        return (x > self.delta).astype(np.float64) - (x < -self.delta)

    def ste(self, x):
        return np.abs(x) <= 1.0

    def steps(self):
        # [v > d] - [v < -d] = -1 + [v > d] + [v >= -d]
        return -1.0, [(self.delta, True, 1.0), (-self.delta, False, 1.0)], 1.0

    def spec(self):
        return {"type": self.type, "name": self.name, "delta": self.delta}


class Uniform(Activation):
    """k-bit unsigned activation (DoReFa / PACT with a fixed clip):
    ``q = floor(min(max(v,0),clip)/step + 1/2) * step``, step = clip/(2^k-1);
    STE = 1{0 <= v <= clip}."""
    type = "uniform"
    foldable = True

    def __init__(self, name, bits=4, clip=1.0):
        super().__init__(name)
        self.bits = int(bits)
        self.clip = float(clip)
        if not 1 <= self.bits <= 16 or not self.clip > 0:
            raise LayerError(f"layer {name!r}: need 1 <= bits <= 16 and clip > 0")

    @property
    def out_encoding(self):
        return f"unsigned{self.bits}"

    @property
    def step(self):
        return self.clip / (2 ** self.bits - 1)

    def apply(self, x):
        return np.floor(np.clip(x, 0.0, self.clip) / self.step + 0.5).clip(0, 2 ** self.bits - 1) * self.step

    def ste(self, x):
        return (x >= 0) & (x <= self.clip)

    def steps(self):
        st = self.step
        return 0.0, [((j - 0.5) * st, False, 1.0) for j in range(1, 2 ** self.bits)], st

    def spec(self):
        return {"type": self.type, "name": self.name, "bits": self.bits, "clip": self.clip}


class ReLU(Activation):
    type = "relu"

    def apply(self, x):
        return np.maximum(x, 0.0)

    def ste(self, x):
        return x > 0


def threshold_activation(z, A, Bc, act):
    """Folded BN + activation: ``act(A*z + Bc)`` evaluated as per-channel thresholds on z.

    ``z`` (R, N) accumulators from the backend (integers unless asym), ``A``, ``Bc`` (N,).
    For each step ``[v >= T]`` (or ``>``) of the activation, the threshold on z is
    ``t = (T - Bc)/A``; a negative A flips the comparison; A = 0 gives a constant.
    """
    offset, steps, scale = act.steps()
    out = np.full(z.shape, offset, dtype=np.float64)
    pos = A > 0
    neg = A < 0
    zero = ~(pos | neg)
    Asafe = np.where(zero, 1.0, A)
    for T, strict, w in steps:
        t = (T - Bc) / Asafe
        if strict:
            hit = np.where(pos, z > t, np.where(neg, z < t, Bc > T))
        else:
            hit = np.where(pos, z >= t, np.where(neg, z <= t, Bc >= T))
        out += w * hit
    return out * scale if scale != 1.0 else out


def fold(qlayer, bn, act):
    """``(A, Bc)`` of a quantized layer followed by (optional) BN: ``v = A*z + Bc``."""
    s, c = qlayer.channel_affine()
    if bn is None:
        return s, c
    k, h = bn.affine()
    return k * s, k * c + h


# ==================================================================================== pooling etc.
class _Pool(Layer):
    def __init__(self, name, kernel=2, stride=None, padding=0):
        super().__init__(name)
        self.kernel = _pair(kernel)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def _out_shape(self, s):
        if len(s) != 3:
            raise LayerError(f"layer {self.name!r}: pooling needs (C, H, W) input, gets {s}")
        C, H, W = s
        Ho = (H + 2 * self.padding[0] - self.kernel[0]) // self.stride[0] + 1
        Wo = (W + 2 * self.padding[1] - self.kernel[1]) // self.stride[1] + 1
        if Ho < 1 or Wo < 1:
            raise LayerError(f"layer {self.name!r}: kernel {self.kernel} does not fit input {s}")
        return (C, Ho, Wo)

    def _windows(self, x, pad_value):
        ph, pw = self.padding
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
        _, Ho, Wo = self.out_shape
        sh, sw = self.stride
        win = np.lib.stride_tricks.sliding_window_view(x, self.kernel, axis=(2, 3))[:, :, ::sh, ::sw][:, :, :Ho, :Wo]
        return win.reshape(win.shape[:4] + (self.kernel[0] * self.kernel[1],))

    def _scatter(self, gw, B):
        """gw (B, C, Ho, Wo, kh*kw) -> gradient wrt the (unpadded) input."""
        C, H, W = self.in_shape
        ph, pw = self.padding
        sh, sw = self.stride
        _, Ho, Wo = self.out_shape
        out = np.zeros((B, C, H + 2 * ph, W + 2 * pw))
        kh, kw = self.kernel
        for i in range(kh):
            for j in range(kw):
                out[:, :, i:i + sh * Ho:sh, j:j + sw * Wo:sw] += gw[..., i * kw + j]
        return out[:, :, ph:ph + H, pw:pw + W]

    def parameters(self):
        return []

    def spec(self):
        return {"type": self.type, "name": self.name, "kernel": list(self.kernel),
                "stride": list(self.stride), "padding": list(self.padding)}


class MaxPool2d(_Pool):
    type = "maxpool"

    def forward(self, x, ctx=None):
        return self._windows(x, -np.inf).max(axis=-1)

    def train_forward(self, x):
        w = self._windows(x, -np.inf)
        arg = w.argmax(axis=-1)
        self._cache = (arg, w.shape[-1], x.shape[0])
        return np.take_along_axis(w, arg[..., None], axis=-1)[..., 0]

    def backward(self, g, need_input_grad=True):
        arg, kk, B = self._cache
        self._cache = None
        gw = (np.arange(kk) == arg[..., None]) * g[..., None]
        return self._scatter(gw, B)


class AvgPool2d(_Pool):
    """Average pooling (zero padding counted in the average)."""
    type = "avgpool"

    def forward(self, x, ctx=None):
        return self._windows(x, 0.0).mean(axis=-1)

    def train_forward(self, x):
        self._B = x.shape[0]
        return self.forward(x)

    def backward(self, g, need_input_grad=True):
        kk = self.kernel[0] * self.kernel[1]
        gw = np.repeat((g / kk)[..., None], kk, axis=-1)
        return self._scatter(gw, self._B)


class Flatten(Layer):
    type = "flatten"

    def _out_shape(self, s):
        return (int(np.prod(s)),)

    def forward(self, x, ctx=None):
        return x.reshape((x.shape[0],) + self.out_shape)

    def train_forward(self, x):
        return self.forward(x)

    def backward(self, g, need_input_grad=True):
        return g.reshape((g.shape[0],) + self.in_shape)

    def parameters(self):
        return []


class Residual(Layer):
    """Residual block: ``body(x) + shortcut(x)`` (shortcut empty = identity); the add is digital."""
    type = "residual"

    def __init__(self, name, body, shortcut=None):
        super().__init__(name)
        self.body = list(body)
        self.shortcut = list(shortcut or [])
        if not self.body:
            raise LayerError(f"layer {name!r}: residual block needs a non-empty body")

    def children(self):
        return self.body + self.shortcut

    def build(self, in_shape):
        self.in_shape = tuple(in_shape)
        s = self.in_shape
        for l in self.body:
            s = l.build(s)
        t = self.in_shape
        for l in self.shortcut:
            t = l.build(t)
        if tuple(s) != tuple(t):
            raise LayerError(f"layer {self.name!r}: body output {tuple(s)} and shortcut output {tuple(t)} differ")
        self.out_shape = tuple(s)
        return self.out_shape

    def has_weights(self):
        return all(l.has_weights() for l in self.children())

    def spec(self):
        d = {"type": self.type, "name": self.name, "body": [l.spec() for l in self.body]}
        if self.shortcut:
            d["shortcut"] = [l.spec() for l in self.shortcut]
        return d

    def parameters(self):
        return []

    def forward(self, x, ctx):
        from .model import run_sequence
        return run_sequence(self.body, x, ctx) + run_sequence(self.shortcut, x, ctx)

    def train_forward(self, x):
        from .model import train_sequence
        return train_sequence(self.body, x) + train_sequence(self.shortcut, x)

    def backward(self, g, need_input_grad=True):
        from .model import backward_sequence
        return backward_sequence(self.body, g, True) + backward_sequence(self.shortcut, g, True)


LAYER_TYPES = {c.type: c for c in (Dense, Conv2d, BatchNorm, Sign, Ternarize, Uniform, ReLU,
                                    MaxPool2d, AvgPool2d, Flatten, Residual)}

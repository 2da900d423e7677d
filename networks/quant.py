"""Quantizers: weights (sign, XNOR-Net, TWN, asymmetric ternary, k-bit) and layer inputs.

Everything here is plain numpy and knows nothing of hardware.  A quantizer has two
faces:

* ``quantize`` / ``to_int``: the integer form a quantized layer hands the backend
  (weights as int8 codes plus a per-output-channel scale; inputs as int codes plus one
  scale), so that ``real = scale * code``;
* ``fake``: the dequantized real values used in training, with the straight-through
  estimator (STE) multiplier for the backward pass (``dlatent = dquantized * ste``).

Weight specs (``weights:`` of a layer), matrices in (K, N) layout (N = output channels):

==================  ==========================  =====================================  ===========
spec                codes                        scale (per output channel c)          literature
==================  ==========================  =====================================  ===========
``fp``              (none: float weights)        --                                    --
``binary``          sign(W) in {-1,+1}           1 (BN absorbs it)                      BinaryConnect / BNN (Courbariaux 2016)
``xnor``            sign(W) in {-1,+1}           alpha_c = mean_k |W_kc|                XNOR-Net (Rastegari 2016)
``ternary``         {-1,0,1}, |W| > delta_c      mean |W| over |W| > delta_c;           TWN (Li & Liu 2016)
                    delta_c = 0.7 mean_k |W_kc|
``asym_ternary``    {-1,0,1}, |W| > t,           codes stand for {-a, 0, b}: learned   TTQ (Zhu 2017)
                    t = 0.05 max |W|             positive scalars a, b (per layer)
``int<k>``          round(W / m_c * (2^(k-1)-1)) m_c / (2^(k-1)-1), m_c = max_k |W_kc|  k-bit symmetric
==================  ==========================  =====================================  ===========

sign(0) = +1 everywhere.  STE: ``binary``/``xnor`` pass the gradient where |W| <= 1
(hardtanh STE, BNN); the others pass it unchanged (``asym_ternary`` scales it by b, 1, a
for the +, 0, - codes, as in TTQ).

Input specs (``inputs:`` of a layer): ``fp``, ``binary`` (sign, 0 -> +1), ``ternary``
(+1 if x > delta, -1 if x < -delta, else 0; delta = ``input_delta``, default 0.5),
``unsigned<k>`` (code = floor(min(max(x,0),clip)/step + 1/2), step = clip/(2^k-1),
clip = ``input_clip``, default 1), ``signed<k>`` (code = clip(floor(x/step + 1/2),
-2^(k-1), 2^(k-1)-1), step = clip/(2^(k-1)-1)).  The encoding name given to the backend
is the spec itself (``binary``, ``ternary``, ``unsigned4``, ...).
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

WEIGHT_SPECS = ("fp", "binary", "xnor", "ternary", "asym_ternary", "int<k>")
INPUT_SPECS = ("fp", "binary", "ternary", "unsigned<k>", "signed<k>")

_ENC = re.compile(r"^(ternary|binary|unsigned(\d+)|signed(\d+))$")
_INTW = re.compile(r"^int(\d+)$")

#: the input encodings a backend accepts (the one grammar; imcsim's engine builds on it)
ENCODING_GRAMMAR = "ternary, binary, unsigned<k> (1 <= k <= 16), signed<k> (2 <= k <= 16)"


class EncodingSpec(NamedTuple):
    """An input encoding: ``kind`` (ternary | binary | unsigned | signed), ``bits`` per
    input element in the buffers (ternary: 2), the allowed integer range ``lo .. hi``."""
    kind: str
    bits: int
    lo: int
    hi: int


def parse_encoding(enc: str) -> EncodingSpec:
    """The :class:`EncodingSpec` of a backend input encoding name; ``ValueError`` naming
    the grammar otherwise. ``signed1`` (values {-1, 0}) is refused: a signed code needs a
    sign bit and a magnitude bit."""
    m = _ENC.match(str(enc))
    k = int(m.group(2) or m.group(3)) if m and (m.group(2) or m.group(3)) else None
    if not m or (m.group(2) and not 1 <= k <= 16) or (m.group(3) and not 2 <= k <= 16):
        raise ValueError(f"{enc!r} is not one of {ENCODING_GRAMMAR}")
    if m.group(2):
        return EncodingSpec("unsigned", k, 0, 2 ** k - 1)
    if m.group(3):
        return EncodingSpec("signed", k, -(2 ** (k - 1)), 2 ** (k - 1) - 1)
    if enc == "binary":
        return EncodingSpec("binary", 1, -1, 1)
    return EncodingSpec("ternary", 2, -1, 1)


def _int_dtype(lo, hi):
    return np.int8 if (lo >= -128 and hi <= 127) else np.int32


# --------------------------------------------------------------------------- inputs
class InputQuantizer:
    """Quantizer of a layer's input; see the module docstring for the specs."""

    def __init__(self, spec: str = "fp", clip: float = 1.0, delta: float = 0.5):
        self.spec = str(spec)
        self.clip = float(clip)
        self.delta = float(delta)
        if self.spec == "fp":
            self.kind, self.bits, self.lo, self.hi = "fp", None, None, None
            self.encoding = None
        else:
            try:
                self.kind, self.bits, self.lo, self.hi = parse_encoding(self.spec)
            except ValueError:
                raise ValueError(f"unknown input quantizer {spec!r}; expected one of {', '.join(INPUT_SPECS)}") from None
            self.encoding = self.spec
        if self.kind in ("unsigned", "signed") and not self.clip > 0:
            raise ValueError(f"input quantizer {spec!r}: clip must be > 0, got {clip}")
        if self.kind == "ternary" and not self.delta >= 0:
            raise ValueError(f"input quantizer {spec!r}: delta must be >= 0, got {delta}")

    @property
    def step(self) -> float:
        """Real value of one code step (the input scale)."""
        if self.kind == "unsigned":
            return self.clip / (2 ** self.bits - 1)
        if self.kind == "signed":
            return self.clip / (2 ** (self.bits - 1) - 1)
        return 1.0

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Integer codes as float64 (exact small integers)."""
        if self.kind == "binary":
            return np.where(x >= 0, 1.0, -1.0)
        if self.kind == "ternary":
            return (x > self.delta).astype(np.float64) - (x < -self.delta)
        if self.kind == "unsigned":
            step = self.step
            return np.floor(np.clip(x, 0.0, self.clip) / step + 0.5).clip(0, self.hi)
        if self.kind == "signed":
            return np.floor(x / self.step + 0.5).clip(self.lo, self.hi)
        raise ValueError("fp input quantizer has no integer codes")

    def to_int(self, x: np.ndarray):
        """``(codes as an integer array, scale)`` with ``real = scale * codes``."""
        c = self.codes(x)
        return c.astype(_int_dtype(self.lo, self.hi)), self.step

    def fake(self, x: np.ndarray):
        """``(dequantized x, STE mask)``."""
        if self.kind == "fp":
            return x, None
        q = self.codes(x) * self.step
        if self.kind in ("binary", "ternary"):
            mask = (np.abs(x) <= 1.0)
        elif self.kind == "unsigned":
            mask = (x >= 0) & (x <= self.clip)
        else:
            mask = np.abs(x) <= self.clip
        return q, mask


# --------------------------------------------------------------------------- weights
class WeightQuantizer:
    """Quantizer of a weight matrix in (K, N) layout; see the module docstring."""

    def __init__(self, spec: str = "fp"):
        self.spec = str(spec)
        m = _INTW.match(self.spec)
        if m:
            self.kind, self.bits = "int", int(m.group(1))
            if not 2 <= self.bits <= 8:
                raise ValueError(f"weight quantizer {spec!r}: bits must be 2..8")
        elif self.spec in ("fp", "binary", "xnor", "ternary", "asym_ternary"):
            self.kind, self.bits = self.spec, None
        else:
            raise ValueError(f"unknown weight quantizer {spec!r}; expected one of {', '.join(WEIGHT_SPECS)}")

    @property
    def weight_kind(self) -> str:
        """What the backend sees: ``binary`` ({-1,+1}), ``ternary`` ({-1,0,1}),
        ``asym_ternary`` ({-1,0,1} standing for {-a,0,b}), ``signed<k>``, or ``fp``."""
        return {"fp": "fp", "binary": "binary", "xnor": "binary", "ternary": "ternary",
                "asym_ternary": "asym_ternary"}.get(self.kind, f"signed{self.bits}")

    @property
    def max_code(self) -> int | None:
        """Largest magnitude of an integer weight code: 1 for binary, xnor, ternary and
        asym_ternary, ``2**(k-1) - 1`` for int<k>; None for fp."""
        if self.kind == "fp":
            return None
        if self.kind == "int":
            return 2 ** (self.bits - 1) - 1
        return 1

    def ttq_threshold(self, W):
        return 0.05 * np.max(np.abs(W))

    def quantize(self, W: np.ndarray, ab=None):
        """``(codes int8 (K, N), scale float64 (N,))``; for asym_ternary scale is ones and
        ``ab`` = (a, b) is carried separately by the layer."""
        W = np.asarray(W, dtype=np.float64)
        N = W.shape[1]
        if self.kind == "binary":
            return np.where(W >= 0, 1, -1).astype(np.int8), np.ones(N)
        if self.kind == "xnor":
            return np.where(W >= 0, 1, -1).astype(np.int8), np.abs(W).mean(axis=0)
        if self.kind == "ternary":
            delta = 0.7 * np.abs(W).mean(axis=0)
            codes = (np.sign(W) * (np.abs(W) > delta)).astype(np.int8)
            nz = np.abs(codes).sum(axis=0)
            scale = np.where(nz > 0, (np.abs(W) * (codes != 0)).sum(axis=0) / np.maximum(nz, 1), 1.0)
            return codes, scale
        if self.kind == "asym_ternary":
            t = self.ttq_threshold(W)
            return ((W > t).astype(np.int8) - (W < -t).astype(np.int8)), np.ones(N)
        if self.kind == "int":
            n = 2 ** (self.bits - 1) - 1
            m = np.abs(W).max(axis=0)
            m = np.where(m > 0, m, 1.0)
            return np.clip(np.floor(W / m * n + 0.5), -n, n).astype(np.int8), m / n
        raise ValueError("fp weights have no integer codes")

    def fake(self, W: np.ndarray, ab=None):
        """``(dequantized W, STE multiplier)`` for training."""
        if self.kind == "fp":
            return W, None
        codes, scale = self.quantize(W)
        if self.kind == "asym_ternary":
            a, b = ab
            pos, neg = codes > 0, codes < 0
            Wq = b * pos - a * neg
            ste = np.where(pos, b, np.where(neg, a, 1.0))
            return Wq, ste
        Wq = codes * scale[None, :]
        if self.kind in ("binary", "xnor"):
            return Wq, (np.abs(W) <= 1.0).astype(np.float64)
        return Wq, None

"""The exact digital backend: the reference for every matrix product a quantized layer asks for.

``ExactBackend().matmul(x, w, encoding="ternary", layer="fc1", asym=None)`` returns the
float64 ``(B, N)`` product ``x @ w`` of integer inputs and integer weights, exactly (each
partial sum is an integer below 2**53, so float64 arithmetic is exact whatever the
summation order).  With ``asym=(a, b, c, d)`` the weights in {-1,0,1} stand for
{-a, 0, b} and the inputs in {-1,0,1} for {-c, 0, d}; the result is real.

Binary x binary products (``encoding="binary"``, weights in {-1,+1}) can run on a
bit-packed XNOR/popcount kernel (numba), as in daBNN / BitFlow / XOR-Net:
``x . w = K - 2 * popcount(xbits XOR wbits)``; ``ExactBackend(packed=True)``.

The same call is served by the IMC backend of ``imcsim`` (``imcsim.ImcBackend``).
"""
from __future__ import annotations

import numpy as np

from .quant import parse_encoding

__all__ = ["ExactBackend", "BackendError", "check_matmul", "check_inputs", "xnor_popcount_matmul"]


class BackendError(ValueError):
    """Bad arguments to ``matmul`` (shape, encoding, values)."""


class ExactBackend:
    """Exact integer backend with per-layer event totals.

    ``events[layer]`` is a dict with ``vectors`` (rows of x), ``macs`` (K*N per vector)
    and ``calls``; ``reset()`` clears it.
    """

    name = "exact"

    def __init__(self, check: bool = True, packed: bool = False):
        self.check = check
        self.packed = packed
        self.events: dict = {}

    def reset(self) -> None:
        self.events.clear()

    def matmul(self, x, w, encoding: str = "ternary", layer: str = "layer", asym=None):
        x, w, spec = check_matmul(x, w, encoding, layer, asym, check_values=self.check)
        kind = spec.kind
        if asym is not None:
            # integer counts of each (input sign, weight sign) pair, then one real combination
            # grouped by weight value: y = b (d n++ - c n-+) - a (d n+- - c n--).  A sum that is
            # zero in exact arithmetic comes out exactly 0 (no summation-order residue).
            a, b, c, d = (float(v) for v in asym)
            xp, xn = (x > 0).astype(np.float64), (x < 0).astype(np.float64)
            wp, wn = (w > 0).astype(np.float64), (w < 0).astype(np.float64)
            y = b * (d * (xp @ wp) - c * (xn @ wp)) - a * (d * (xp @ wn) - c * (xn @ wn))
        elif self.packed and kind == "binary" and _is_binary(w):
            y = xnor_popcount_matmul(x, w)
        else:
            y = x.astype(np.float64) @ w.astype(np.float64)
        ev = self.events.setdefault(layer, {"vectors": 0, "macs": 0, "calls": 0})
        ev["vectors"] += int(x.shape[0])
        ev["macs"] += int(x.shape[0]) * int(w.shape[0]) * int(w.shape[1])
        ev["calls"] += 1
        return np.asarray(y, dtype=np.float64)


def _is_binary(a):
    return bool(np.all((a == 1) | (a == -1)))


def check_matmul(x, w, encoding, layer, asym=None, *, check_values: bool = True,
                 error: type[BackendError] = BackendError):
    """The argument rules of ``backend.matmul``, one function for every backend (this
    module's ``ExactBackend`` and ``imcsim.ImcBackend``): same messages, each starting with
    ``layer 'NAME': `` and naming the argument, the value and what is allowed. Raises
    ``error`` (a :class:`BackendError`); returns ``(x, w, EncodingSpec)`` as arrays.
    ``check_values=False`` checks shapes, dtypes and the encoding only."""
    where = f"layer {layer!r}: "
    try:
        spec = parse_encoding(encoding)
    except ValueError as exc:
        raise error(f"{where}encoding: {exc}") from None
    if asym is not None:
        if spec.kind != "ternary":
            raise error(f"{where}asym: asymmetric scales need ternary inputs, got encoding "
                        f"{encoding!r}")
        try:
            scales = [float(v) for v in asym]
        except (TypeError, ValueError):
            scales = []
        if len(scales) != 4 or not min(scales) > 0:
            raise error(f"{where}asym: expected four scales (a, b, c, d) > 0, got {asym!r}")
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 2 or w.ndim != 2:
        raise error(f"{where}x, w: expected 2-D arrays (B, K) and (K, N), got shapes "
                    f"{x.shape} and {w.shape}")
    if x.shape[1] != w.shape[0]:
        raise error(f"{where}x, w: inner dimensions differ: x is {x.shape}, w is {w.shape}")
    if x.dtype.kind not in "biuf" or w.dtype.kind not in "biuf":
        raise error(f"{where}x, w: expected numeric arrays, got dtypes {x.dtype} and {w.dtype}")
    if check_values:
        check_inputs(x, spec, encoding, f"{where}x", error)
        _check_integers(w, f"{where}w", "weights are integers", error)
        if asym is not None and w.size and np.abs(w).max() > 1:
            raise error(f"{where}w: asymmetric scales need ternary weights in {{-1, 0, 1}}")
    return x, w, spec


def check_inputs(x, spec, encoding: str, what: str = "x", error=BackendError) -> None:
    """Raise ``error`` unless every element of ``x`` is an integer code of ``encoding``
    (``spec`` its :class:`~networks.quant.EncodingSpec`)."""
    allowed = f"{encoding} inputs are integers in [{spec.lo}, {spec.hi}]"
    _check_integers(x, what, allowed, error)
    if x.size:
        lo, hi = x.min(), x.max()
        if lo < spec.lo or hi > spec.hi:
            bad = (lo if lo < spec.lo else hi).item()
            raise error(f"{what}: value {bad!r} outside the {encoding} range [{spec.lo}, {spec.hi}]")
    if spec.kind == "binary" and np.any(x == 0):
        raise error(f"{what}: value 0 is not allowed for binary (bipolar) inputs; allowed {{-1, +1}}")


def _check_integers(a, what: str, allowed: str, error) -> None:
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise error(f"{what}: contains NaN or inf; {allowed}")
        if not np.all(a == np.round(a)):
            bad = a[a != np.round(a)].flat[0].item()
            raise error(f"{what}: value {bad!r} is not an integer; {allowed}")


# --------------------------------------------------------------------------- XNOR/popcount
_XNOR_KERNEL = None


def _xnor_kernel():
    """The compiled XNOR/popcount kernel (numba is imported on first use: importing
    ``networks`` stays cheap)."""
    global _XNOR_KERNEL
    if _XNOR_KERNEL is None:
        import numba

        @numba.njit(cache=True, nogil=True)
        def kernel(xp, wp, K, out):  # pragma: no cover - compiled
            B, nw = xp.shape
            N = wp.shape[0]
            for i in range(B):
                for j in range(N):
                    cnt = 0
                    for k in range(nw):
                        v = xp[i, k] ^ wp[j, k]
                        # popcount (SWAR)
                        v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
                        v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
                        v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
                        cnt += (v * np.uint64(0x0101010101010101)) >> np.uint64(56)
                    out[i, j] = K - 2 * cnt
            return out

        _XNOR_KERNEL = kernel
    return _XNOR_KERNEL


def _pack(bits01):
    """Pack a (R, K) {0,1} array into (R, ceil(K/64)) uint64 words (padding bits 0)."""
    R, K = bits01.shape
    nw = (K + 63) // 64
    padded = np.zeros((R, nw * 64), dtype=np.uint8)
    padded[:, :K] = bits01
    by = np.packbits(padded, axis=1, bitorder="little")          # (R, nw*8) bytes
    return np.ascontiguousarray(by).view(np.uint64).reshape(R, nw)


def xnor_popcount_matmul(x, w):
    """Exact ``x @ w`` for x, w in {-1,+1} by bit packing (+1 -> bit 1) and XOR/popcount.

    Padding bits are 0 in both operands, so they never count as a mismatch."""
    x = np.asarray(x)
    w = np.asarray(w)
    K = x.shape[1]
    xp = _pack((x > 0).astype(np.uint8))
    wp = _pack((w.T > 0).astype(np.uint8))
    out = np.empty((x.shape[0], w.shape[1]), dtype=np.int64)
    _xnor_kernel()(xp, wp, K, out)
    return out.astype(np.float64)

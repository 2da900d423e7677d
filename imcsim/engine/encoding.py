"""Input encodings: how an integer input vector becomes signed ternary planes.

Each access applies one plane (values in {-1, 0, +1}: +1 drives read wordline 1, -1 read
wordline 2, 0 neither) to one row group. The digital side adds the per-rail results of
every plane with its place values:

    y = sum_p ( s_bl[p] * BL_p - s_blb[p] * BLB_p )            (dual sensing)
    y = sum_p   s[p] * (BL_p - BLB_p)                         (differential sensing)

where BL_p (BLB_p) is the converted count of +1 (-1) products of plane p.

=============  =====================  ======  ==========================================
encoding       values of x            planes  place values
=============  =====================  ======  ==========================================
``ternary``    {-1, 0, 1}             1       1
``binary``     {-1, +1} (bipolar)     1       1
``unsigned<k>`` 0 .. 2**k - 1          k       2**p, plane p = bit p (values {0, 1})
``signed<k>``  -2**(k-1) .. 2**(k-1)-1 k       two's complement: 2**p, top plane -2**(k-1)
asymmetric     {-1, 0, 1} standing    2       plane 0 = (x == +1) as +1: s_bl = b*d,
 (``asym``)    for {-c, 0, d}; w in           s_blb = a*d; plane 1 = (x == -1) as -1:
               {-1,0,1} for {-a,0,b}          s_bl = a*c, s_blb = b*c (needs dual sensing)
=============  =====================  ======  ==========================================
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imcsim.errors import InputError
from networks.backend import check_inputs
from networks.quant import EncodingSpec
from networks.quant import parse_encoding as parse_grammar


@dataclass(frozen=True)
class Encoding:
    name: str
    kind: str            #: ternary | binary | unsigned | signed
    bits: int            #: bits per input element in the buffers (ternary: 2)
    planes: int
    lo: int              #: smallest allowed value
    hi: int              #: largest allowed value
    s_bl: np.ndarray     #: (planes,) digital weight of the BL rail of each plane
    s_blb: np.ndarray    #: (planes,) digital weight of the BLB rail of each plane
    has_negative: bool   #: some plane carries -1 values (drives read wordline 2)
    asym: tuple | None = None

    @property
    def symmetric(self) -> bool:
        return bool(np.array_equal(self.s_bl, self.s_blb))

    def check(self, x: np.ndarray, name: str = "x") -> None:
        """Raise :class:`InputError` unless every element of ``x`` is allowed
        (``networks.backend.check_inputs``: the rule of both backends)."""
        check_inputs(x, EncodingSpec(self.kind, self.bits, self.lo, self.hi), self.name, name,
                     InputError)

    def planes_of(self, x: np.ndarray) -> np.ndarray:
        """Signed ternary planes of integer inputs ``x`` (B, K) -> int8 (planes, B, K)."""
        xi = x.astype(np.int64, copy=False)
        if self.asym is not None:
            return np.stack([(xi == 1), -(xi == -1).astype(np.int8)]).astype(np.int8)
        if self.kind in ("ternary", "binary"):
            return xi.astype(np.int8)[None]
        k = self.bits
        u = xi & ((1 << k) - 1)          # two's complement bit pattern for signed
        return np.stack([((u >> p) & 1) for p in range(k)]).astype(np.int8)


def parse_encoding(encoding: str, asym=None) -> Encoding:
    """The planes and place values of an input encoding (the grammar is
    ``networks.quant.parse_encoding``'s: ternary, binary, unsigned<k>, signed<k>)."""
    try:
        kind, bits, lo, hi = parse_grammar(encoding)
    except ValueError as exc:
        raise InputError(f"encoding: {exc}") from None
    if asym is not None:
        if kind != "ternary":
            raise InputError(f"asym: asymmetric scales need ternary inputs, got encoding {encoding!r}")
        a, b, c, d = (float(v) for v in asym)
        if not min(a, b, c, d) > 0:
            raise InputError(f"asym: expected four scales (a, b, c, d) > 0, got {asym!r}")
        return Encoding("ternary", "ternary", bits, 2, lo, hi, np.array([b * d, a * c]),
                        np.array([a * d, b * c]), True, (a, b, c, d))
    if kind in ("ternary", "binary"):
        one = np.ones(1)
        return Encoding(kind, kind, bits, 1, lo, hi, one, one, True)
    place = 2.0 ** np.arange(bits)
    if kind == "unsigned":
        return Encoding(encoding, kind, bits, bits, lo, hi, place, place, False)
    place[-1] = -place[-1]
    return Encoding(encoding, kind, bits, bits, lo, hi, place, place, False)

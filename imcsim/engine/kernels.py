"""Numba kernels of the bit-serial analog MAC.

One fused pass over every access (vector x plane x row group), per column and rail:

    weighted count -> per-cell noise -> bitline saturation -> noise floor -> ADC code
    -> partial sum

Without variation the count of a row group is exact: popcounts of the input plane's bits
with the bits of the cells holding +1 / -1, 64 rows a machine word. With variation it is a
sum of table look-ups: the group is cut into chunks of 4 rows, and for each chunk a table
holds, for each of the 16 patterns of active rows, the weighted number of discharging
cells of every column and rail; a 4-row look-up replaces 4 multiply-adds per column and
rail. Blocks of vectors run in parallel (numba ``prange``).

The physics of each step is defined by the reference functions of ``device_models``
(``bitline``, ``adc``, chained in ``device_models.reference``); tests check that these
kernels agree with them output for output, noise included.

Interface: :func:`mac_convert_accumulate` takes six small records (named tuples, see
:class:`Inputs`, :class:`Groups`, :class:`Sums`, :class:`Conv`, :class:`Noise`) and the
output; modes are the named constants below.

Noise
-----
Gaussians come from a counter-based stream: the standard normal of one conversion is a
pure function of (stream key, counter) with counter = ((vector * planes + plane) * groups
+ group) * columns * 2 + column * 2 + rail, vector being the global index of the vector in
the layer's input stream; a result therefore depends only on (seed, inputs, card), not on
batch chunking or thread count. The uniform generator is SplitMix64 (Steele, Lea, Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014) evaluated at the counter.
A draw is a mixture that is exactly Gaussian: it is a tail draw with probability ``2 P_TAIL =
1/256``, ``p = P_TAIL u``, otherwise a central one, ``p = P_TAIL + (1/2 - P_TAIL) u``, with
``u`` from the top 53 bits of the draw's own SplitMix64 value and the sign from its lowest
bit. Which draws are tail draws is decided by a separate selector stream (a salted key per
rail): the column slots ``counter // 2`` form blocks of 256, and each block's tail slots are
an independent Bernoulli(1/256) set drawn as a whole (:func:`_block_tails`): their number
from Binomial(256, 1/256) by its inverse distribution function (truncated at
``_TAILS_MAX = 24`` per block, P(more) < 1e-25), their positions as distinct bytes of
further SplitMix64 values, which makes them a uniform random subset. A row of 256 columns
thus finds its tail draws (one on average) with 1.6 SplitMix64 calls instead of one per
column. Central quantiles are interpolated from a table of exact
quantiles at ``2**-14`` spacing (``|z| <= Z_CENTRAL = 2.886``, error < 4e-5); tail
quantiles are computed by Acklam's rational approximation refined by one Halley step (P. J.
Acklam, "An algorithm for computing the inverse normal cumulative distribution function",
2003; exact to double precision). The smallest tail ``p`` is ``2**-63``, so the tails are
exact up to ``Z_MAX = 9.00`` sigma, the generator's bound (P(|z| > 9) = 2e-19 is the only
truncation).

Because the generator is bounded, a conversion whose code no value ``|z| <= Z_MAX`` could
change needs no draw; one whose distance to the nearest reference exceeds ``Z_CENTRAL``
sigmas can change only with a tail draw, which the row's tail marks rule out 255 times in
256; a tail draw's |z| is then bounded by the top byte of its own SplitMix64 value (the
largest |z| of that 1/256 bin of its uniform: 3.10 for half the tail draws), which rules
out most of the rest. These skips change no result (``Noise.skip = False`` draws
everything; tests compare).
"""
from __future__ import annotations

import math
from collections import namedtuple
from functools import lru_cache

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from . import numba_cache  # noqa: F401  (before the decorators: the cache keyed on this file's content)

#: bitline saturation curves (device_models.bitline.analog)
SAT_NONE, SAT_CLIP, SAT_EXP = 0, 1, 2
SATURATION_CODES = {"none": SAT_NONE, "clip": SAT_CLIP, "exponential": SAT_EXP}
#: conversion modes: AFFINE: uniform grid, one offset per converter (rint of an affine
#: map); SEARCH: any grid, per-comparator references (binary search, ones-counter rule)
CONV_AFFINE, CONV_SEARCH = 0, 1

_TABLE_BITS = 14
#: probability of each tail of the mixture (a selector byte of 0: 2 P_TAIL = 1/256)
P_TAIL = 2.0 ** -9
#: |z| at P_TAIL (the float64 of -ndtri(2**-9), the table's entry 32: no central draw
#: exceeds it), and a bound on the largest |z| the generator can return (p = 2**-63:
#: 9.004403971492415; tests check both)
Z_CENTRAL = 2.8856349124267573
Z_MAX = 9.0044039715
#: column slots per block of the selector stream, the most tail slots a block can hold, and
#: P(no tail slot in a block) = (1 - 1/256)**256, the first term of the binomial's
#: distribution function
_BLOCK = 256
_TAILS_MAX = 24
_P_NO_TAIL = (1.0 - 1.0 / _BLOCK) ** _BLOCK


def _tail_count_cdf() -> np.ndarray:
    """F[k] = P(K <= k), k = 0.._TAILS_MAX - 1, for K ~ Binomial(_BLOCK, 1/_BLOCK), summed
    in float64 from _P_NO_TAIL by the recurrence p(k+1) = p(k) (_BLOCK - k) / ((k + 1)
    (_BLOCK - 1)): the thresholds of :func:`_block_tails`' inverse distribution function."""
    cdf = np.empty(_TAILS_MAX)
    pk = f = _P_NO_TAIL
    cdf[0] = f
    for k in range(_TAILS_MAX - 1):
        pk *= (_BLOCK - k) / ((k + 1) * (_BLOCK - 1.0))
        f += pk
        cdf[k + 1] = f
    return cdf


_TAIL_CDF = _tail_count_cdf()
#: salt of the selector stream (SplitMix64's golden-ratio increment's complement)
_SALT = np.uint64(0x61C8864680B583EB)
_RAIL_SALT = np.uint64(0xD1B54A32D192ED03)

Inputs = namedtuple("Inputs", ["x", "kind", "nbits", "planes", "s_bl", "s_blb"])
Inputs.__doc__ = """x (B, K) int32 inputs; kind PLANE_*; nbits; planes P; s_bl, s_blb (P,)
digital place value of each plane's BL and BLB result."""
Groups = namedtuple("Groups", ["start", "stop", "tile", "grid"])
Groups.__doc__ = """Row group g spans rows start[g]..stop[g]-1 of row tile tile[g] and is
converted on ADC grid grid[g] (its full scale)."""
Sums = namedtuple("Sums", ["popcount", "wb_pos", "wb_neg", "chunk_start", "chunk_rows",
                           "chunk0", "chunk1", "t_pos", "t_neg", "has_neg"])
Sums.__doc__ = """How group sums are formed: popcount (bool) with wb_pos/wb_neg (G, words,
NS) uint64 bits of the cells holding +1/-1; else look-up tables t_pos/t_neg (chunks, 16,
2 NS) float32 over chunks of <= 4 rows (chunk c starts at chunk_start[c], has
chunk_rows[c] rows; group g owns chunks chunk0[g]..chunk1[g]-1)."""
Conv = namedtuple("Conv", ["mode", "differential", "sat_kind", "sat_s", "top", "gain",
                           "aff_o", "inv", "vmin", "thr", "vals"])
Conv.__doc__ = """Rail curve and ADC: mode CONV_*; differential (bool); sat_kind SAT_*,
sat_s [cells]; top = levels - 1; gain (T, 2, NS); AFFINE: code = rint((gain v + aff_o) *
inv) with aff_o (T, Q, 2, NS) = offset - v_min [cells], inv (Q,) [1/cells] and the value
code / inv + vmin (vmin (Q,), the same arithmetic as vals); SEARCH:
thr (T, Q, 2, NS, levels - 1) ascending effective references [cells]; vals (Q, levels)
reconstruction value of each code [cells]."""
Noise = namedtuple("Noise", ["sigma_cell", "sigma_floor", "key_cell", "key_floor", "table",
                             "skip"])
Noise.__doc__ = """sigma_cell [cells per sqrt(cell)], sigma_floor [cells]; streams key_cell
(per-cell noise, or the combined noise without saturation) and key_floor (the floor, with
saturation); table: gauss_table(); skip: skip draws that cannot change a code."""


@lru_cache(maxsize=1)
def gauss_table() -> np.ndarray:
    """Exact normal quantiles ``ndtri(i / 2**14)`` for i = 0..2**13 (i = 0: -inf, unused)."""
    from scipy.special import ndtri

    n = 1 << _TABLE_BITS
    with np.errstate(divide="ignore"):
        return ndtri(np.arange(n // 2 + 1) / n)


@njit(cache=True, inline="always")
def splitmix64(key, counter):
    z = (key + np.uint64(counter) * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _selector_key(key, rail):
    return key ^ _SALT ^ (np.uint64(rail) * _RAIL_SALT)


@njit(cache=True, inline="always")
def _put_tail(j, n, bit, mark, cols, m):
    """Records column j (if 0 <= j < n) as a tail draw: mark[j] |= bit, cols[m] = j;
    returns the new m."""
    if j >= 0 and j < n:
        mark[j] |= bit
        cols[m] = j
        m += 1
    return m


@njit(cache=True, inline="always")
def _block_tails(sk, block, off, n, bit, seen, mark, cols, m):
    """Records the tail slots s (0..255) of slot block ``block`` of the selector stream
    ``sk`` (:func:`_selector_key`) as columns off + s, those in [0, n) (:func:`_put_tail`),
    in the order drawn; returns the new m. Their number k comes from the top 53 bits u of
    SplitMix64 at ``64 block`` through the inverse distribution function of Binomial(256,
    1/256): k = the first index with u < _TAIL_CDF[k], at most _TAILS_MAX; their positions
    are the first k distinct bytes of SplitMix64 at ``64 block + 1``, ``64 block + 2``, ...
    (seen (4,) uint64: scratch bitmap of the bytes taken; 63 words, 504 bytes, always hold k
    <= 24 distinct ones in practice). k = 0 (P = 0.37) and k = 1 (0.37) return early (the
    first byte is always new), and slots go straight to the columns (in a microbenchmark
    12 ns a row, against 58 ns through a list of slots)."""
    base = np.uint64(block) << np.uint64(6)
    u = float(splitmix64(sk, base) >> np.uint64(11)) * (1.0 / 9007199254740992.0)   # 2**-53
    if u < _TAIL_CDF[0]:
        return m
    w = splitmix64(sk, base | np.uint64(1))
    v = w & np.uint64(0xFF)
    m = _put_tail(off + np.int64(v), n, bit, mark, cols, m)
    if u < _TAIL_CDF[1]:
        return m
    k = 2
    while k < _TAILS_MAX and u >= _TAIL_CDF[k]:
        k += 1
    for i in range(4):
        seen[i] = 0
    seen[v >> np.uint64(6)] = np.uint64(1) << (v & np.uint64(63))
    got = 1
    b0 = 1
    i = 1
    while got < k and i < 64:
        if i > 1:
            w = splitmix64(sk, base | np.uint64(i))
        for b in range(b0, 8):
            v = (w >> np.uint64(8 * b)) & np.uint64(0xFF)
            sbit = np.uint64(1) << (v & np.uint64(63))
            q = v >> np.uint64(6)
            if got < k and (seen[q] & sbit) == 0:
                seen[q] |= sbit
                m = _put_tail(off + np.int64(v), n, bit, mark, cols, m)
                got += 1
        b0 = 0
        i += 1
    return m


@njit(cache=True, inline="always")
def _tail_at(key, counter, seen, one, col):
    """True when the draw at ``counter`` of stream ``key`` is a tail draw: slot h = counter //
    2 is among the tail slots of its block in the selector stream of rail counter % 2 (one
    (1,) uint8, col (_TAILS_MAX,) int64: scratch)."""
    c = np.uint64(counter)
    h = c >> np.uint64(1)
    t = np.int64(h & np.uint64(_BLOCK - 1))
    return _block_tails(_selector_key(key, c & np.uint64(1)), h >> np.uint64(8), -t, 1, 1,
                        seen, one, col, 0) > 0


@njit(cache=True)
def is_tail(key, counter):
    """True when the draw at ``counter`` of stream ``key`` is a tail draw (|z| > Z_CENTRAL;
    one draw in 256)."""
    return _tail_at(np.uint64(key), counter, np.empty(4, np.uint64), np.zeros(1, np.uint8),
                    np.empty(_TAILS_MAX, np.int64))


@njit(cache=True, inline="always")
def _row_tails(key, rail, h0, n, bit, seen, mark, cols, m):
    """Marks the tail draws of one row's n conversions (stream key, selector rail ``rail``,
    first column slot h0): mark[j] |= bit and j appended to cols[m:]; returns the new m."""
    sk = _selector_key(key, rail)
    for blk in range(h0 // _BLOCK, (h0 + n - 1) // _BLOCK + 1):
        m = _block_tails(sk, blk, blk * _BLOCK - h0, n, bit, seen, mark, cols, m)
    return m


@njit(cache=True)
def lower_quantile(p):
    """Normal quantile of p in (0, 1/2] (<= 0): Acklam's approximation and one Halley step."""
    q = math.sqrt(-2.0 * math.log(p))
    if p < 0.02425:
        x = ((((( -7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                 - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q
               + 4.374664141464968e+00) * q + 2.938163982698783e+00) / \
            ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
               + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1.0)
    else:
        r0 = p - 0.5
        r = r0 * r0
        x = (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
                - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
              - 3.066479806614716e+01) * r + 2.506628277459239e+00) * r0 / \
            (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
                - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
              - 1.328068155288572e+01) * r + 1.0)
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@njit(cache=True, inline="always")
def gauss_from_bits(bits, tail, table):
    """Standard normal from a draw's 64 uniform bits and its selector (module notes)."""
    u = (float(bits >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)   # 2**-53
    if tail:
        z = lower_quantile(u * P_TAIL)
    else:
        t = (P_TAIL + (0.5 - P_TAIL) * u) * (1 << _TABLE_BITS)
        i = int(t)
        z = table[i] + (t - i) * (table[i + 1] - table[i])
    return -z if (bits & np.uint64(1)) else z


@njit(cache=True)
def draw_gaussians(key, counters, table):
    """The stream's standard normals at the given counters (for tests of the generator and
    of the kernel against the reference)."""
    key = np.uint64(key)          # an int64 key would mix with uint64 into floats
    out = np.empty(counters.shape[0])
    seen = np.empty(4, np.uint64)
    one = np.zeros(1, np.uint8)
    col = np.empty(_TAILS_MAX, np.int64)
    for i in range(counters.shape[0]):
        c = counters[i]
        out[i] = gauss_from_bits(splitmix64(key, c), _tail_at(key, c, seen, one, col), table)
    return out


@njit(cache=True)
def gaussians_from_bits(bits, tails, table):
    """gauss_from_bits over arrays of uint64 bits and bool selectors (tests feed it
    tail-restricted bits)."""
    out = np.empty(bits.shape[0])
    for i in range(bits.shape[0]):
        out[i] = gauss_from_bits(bits[i], tails[i], table)
    return out


# ---------------------------------------------------------------------------------------
# Table look-up accumulation: group sums of binary input planes without a dense product
# ---------------------------------------------------------------------------------------
#: how the kernel reads planes from x: bits of the two's complement pattern (unsigned and
#: signed k-bit), the sign of a ternary/bipolar value (one plane), or the asymmetric split
#: (plane 0: x == +1 applied as +1; plane 1: x == -1 applied as -1)
PLANE_BITS, PLANE_SIGN, PLANE_ASYM = 0, 1, 2
CHUNK = 4          #: rows per table look-up (16 patterns)


@njit(cache=True, inline="always")
def _patterns(x, b, s, n, kind, p, mask):
    """4-bit patterns of the +1 and -1 plane values of rows s..s+n of vector b, plane p."""
    mp = 0
    mn = 0
    for r in range(n):
        v = x[b, s + r]
        if kind == PLANE_BITS:
            mp |= (((v & mask) >> p) & 1) << r
        elif kind == PLANE_SIGN:
            if v == 1:
                mp |= 1 << r
            elif v == -1:
                mn |= 1 << r
        else:
            if p == 0 and v == 1:
                mp |= 1 << r
            elif p == 1 and v == -1:
                mn |= 1 << r
    return mp, mn


@njit(cache=True, fastmath=True, inline="always")
def _add_patterns(row, tf, idx, c0, c1):
    """row += sum over chunks c0..c1-1 of tf[16 c + idx[c]] (four chunks per pass)."""
    n = row.shape[0]
    c = c0
    while c + 4 <= c1:
        t1 = tf[c * 16 + np.intp(idx[c])]
        t2 = tf[c * 16 + 16 + np.intp(idx[c + 1])]
        t3 = tf[c * 16 + 32 + np.intp(idx[c + 2])]
        t4 = tf[c * 16 + 48 + np.intp(idx[c + 3])]
        for j in range(n):
            row[j] += (t1[j] + t2[j]) + (t3[j] + t4[j])
        c += 4
    while c < c1:
        t1 = tf[c * 16 + np.intp(idx[c])]
        for j in range(n):
            row[j] += t1[j]
        c += 1


@njit(cache=True, inline="always")
def _saturate(v, kind, s):
    """Bitline saturation (device_models.bitline.analog): none, clip at s, or
    s * (1 - exp(-v / s)); values <= 0 pass unchanged."""
    if kind == SAT_NONE or v <= 0.0:
        return v
    if kind == SAT_CLIP:
        return min(v, s)
    return s * (1.0 - math.exp(-v / s))


@njit(cache=True, inline="always")
def _search(w, thr):
    """(code, distance [cells] to the nearest reference) of value w against ascending
    references thr: the number of references below w, a tie going to the even code."""
    m = thr.shape[0]
    lo = 0
    hi = m
    while lo < hi:
        mid = (lo + hi) >> 1
        if thr[mid] < w:
            lo = mid + 1
        else:
            hi = mid
    d = np.inf
    if lo > 0:
        d = w - thr[lo - 1]
    if lo < m:
        d2 = thr[lo] - w
        if d2 < d:
            d = d2
        if d2 == 0.0 and (lo & 1) == 1:
            lo += 1
    return lo, d


@njit(cache=True, inline="always")
def _affine(s, top):
    """(code, distance in lsb to the nearest reference) of the affine value s: rint (half
    to even) clipped to [0, top]; references sit at k + 1/2, k = 0..top-1."""
    c = np.rint(s)
    d = max(0.5 - abs(s - c), 0.5 - s, s - top + 0.5)
    return min(max(c, 0.0), float(top)), d


@njit(cache=True, inline="always")
def _code(v, conv, t, q, rail, j):
    """(code, distance, scale) of analog value v [cells] on ADC (t, rail, column j), grid q;
    distance in the unit of scale [scale units per cell]."""
    gn = conv.gain[t, rail, j]
    if conv.mode == CONV_AFFINE:
        inv = conv.inv[q]
        c, d = _affine((gn * v + conv.aff_o[t, q, rail, j]) * inv, conv.top)
        return int(c), d, gn * inv
    c, d = _search(gn * v, conv.thr[t, q, rail, j])
    return c, d, gn


@njit(cache=True, inline="always")
def _analog(row, n, j, rail, conv):
    """Noise-free analog value [cells] of column j: one rail (dual) or BL - BLB."""
    if conv.differential:
        return _saturate(row[j], conv.sat_kind, conv.sat_s) - _saturate(row[n + j], conv.sat_kind, conv.sat_s)
    return _saturate(row[rail * n + j], conv.sat_kind, conv.sat_s)


@njit(cache=True, inline="always")
def _rail_sigma(row, n, j, rail, conv, noise):
    """Noise bound per unit z [cells]: without saturation the sigma of the one combined
    Gaussian, sqrt(sigma_cell**2 cnt + sigma_floor**2); with saturation the sum of the
    sigmas of the separate draws (each |z| <= Z_MAX bounds the total move)."""
    return _sigma_bound(row, n, j, rail, conv, noise, 1.0, 1.0, 1.0)


@njit(cache=True, inline="always")
def _sigma_bound(row, n, j, rail, conv, noise, z1, z2, z3):
    """Bound on the move [cells] of a conversion's noise when its draws are bounded by |z1|
    (cell noise; BL of a differential column), |z2| (BLB) and |z3| (the floor): without
    saturation z1 times the sigma of the one combined Gaussian; with saturation the sum of
    each draw's sigma times its bound."""
    sc = noise.sigma_cell
    sf = noise.sigma_floor
    if conv.differential:
        a = max(float(row[j]), 0.0)
        b = max(float(row[n + j]), 0.0)
        if conv.sat_kind == SAT_NONE:
            return z1 * math.sqrt(sc * sc * (a + b) + sf * sf)
        return sc * (z1 * math.sqrt(a) + z2 * math.sqrt(b)) + sf * z3
    a = max(float(row[rail * n + j]), 0.0)
    if conv.sat_kind == SAT_NONE:
        return z1 * math.sqrt(sc * sc * a + sf * sf)
    return sc * z1 * math.sqrt(a) + sf * z3


#: bits of a conversion's tail mark (:func:`_row_marks`): the draw of key_cell at its counter
#: ctr, of key_cell at ctr + 1 (BLB of a differential column, with saturation), of key_floor
#: at ctr (with saturation)
_T_CELL, _T_CELL_B, _T_FLOOR = 1, 2, 4


@njit(cache=True, inline="always")
def _row_marks(key_cell, key_floor, saturating, differential, h0, rail, n, seen, mark, cols):
    """Marks the tail draws of one row's conversions, for every stream
    :func:`_noisy_value` draws from (bits _T_*; the noise's keys; saturating: conv.sat_kind
    != SAT_NONE; h0: the row's first column slot, rail: the conversion's rail); returns the
    number of entries written to cols (the marked columns, for clearing). It takes scalars,
    not the Conv and Noise tuples: in a microbenchmark a call cost 110 ns with the tuples and
    36 ns with scalars."""
    m = _row_tails(key_cell, rail, h0, n, _T_CELL, seen, mark, cols, 0)
    if saturating:
        if differential:
            m = _row_tails(key_cell, 1, h0, n, _T_CELL_B, seen, mark, cols, m)
        m = _row_tails(key_floor, rail, h0, n, _T_FLOOR, seen, mark, cols, m)
    return m


@njit(cache=True, inline="always")
def _noisy_value(row, n, j, rail, conv, noise, ctr, mark, central_ok):
    """(drawn, analog value with noise): drawn is False (and the value unused) when every
    draw is central and central_ok (the code cannot change then); mark: the conversion's
    tail mark (:func:`_row_marks`). Streams: without saturation one Gaussian of key_cell at
    ctr; with saturation per-rail cell noise of key_cell at ctr (rail 0) / ctr + 1 (BLB of a
    differential column) before the curve, and the floor of key_floor at ctr after it."""
    sc = noise.sigma_cell
    sf = noise.sigma_floor
    k1 = noise.key_cell
    k3 = noise.key_floor
    t1 = (mark & _T_CELL) != 0
    if conv.sat_kind == SAT_NONE:
        if central_ok and not t1:
            return False, 0.0
        z = gauss_from_bits(splitmix64(k1, ctr), t1, noise.table)
        return True, _analog(row, n, j, rail, conv) + _rail_sigma(row, n, j, rail, conv, noise) * z
    t3 = (mark & _T_FLOOR) != 0
    if conv.differential:
        t2 = (mark & _T_CELL_B) != 0
        if central_ok and not (t1 or t2 or t3):
            return False, 0.0
        a = float(row[j])
        b = float(row[n + j])
        za = gauss_from_bits(splitmix64(k1, ctr), t1, noise.table)
        zb = gauss_from_bits(splitmix64(k1, ctr + 1), t2, noise.table)
        va = _saturate(a + sc * math.sqrt(max(a, 0.0)) * za, conv.sat_kind, conv.sat_s)
        vb = _saturate(b + sc * math.sqrt(max(b, 0.0)) * zb, conv.sat_kind, conv.sat_s)
        return True, va - vb + sf * gauss_from_bits(splitmix64(k3, ctr), t3, noise.table)
    if central_ok and not (t1 or t3):
        return False, 0.0
    a = float(row[rail * n + j])
    za = gauss_from_bits(splitmix64(k1, ctr), t1, noise.table)
    va = _saturate(a + sc * math.sqrt(max(a, 0.0)) * za, conv.sat_kind, conv.sat_s)
    return True, va + sf * gauss_from_bits(splitmix64(k3, ctr), t3, noise.table)


#: relative widening of the candidate bound of pass 1 (see :func:`_convert_rows`): a margin far
#: above float64 rounding, so that the candidates contain every conversion the bounds of the
#: general path flag, whatever the order in which the terms are rounded
_CANDIDATE_SLACK = 1.0 + 2.0 ** -20
#: bins of a tail draw's bound: the top 8 bits i of the draw's SplitMix64 value
_TAIL_BINS = 256


def _tail_bound_ratio2() -> np.ndarray:
    """R[i] = (zb[i] / Z_CENTRAL)**2, the candidate bound of a tail draw whose SplitMix64
    value has top byte i, relative to a central one: its u is at least i / 256, so its |z| is
    at most zb[i] = -lower_quantile(P_TAIL i / 256) (the quantile is monotone; i = 0:
    Z_MAX, the generator's bound), widened by 2**-40 relative (far above the few ulp by
    which the quantile's Halley step can round, in the test of each bin's edges). Half the
    tail draws have |z| <= 3.10 (i >= 128), so this rules out most of those a fixed Z_MAX
    bound would send to pass 2."""
    zb = np.array([Z_MAX] + [-lower_quantile.py_func(P_TAIL * i / _TAIL_BINS)
                             for i in range(1, _TAIL_BINS)])
    return (zb * (1.0 + 2.0 ** -40) / Z_CENTRAL) ** 2


_TAIL_RATIO2 = _tail_bound_ratio2()


@njit(cache=True, inline="always")
def _tail_ratio2(key, ctr):
    """_TAIL_RATIO2 of the tail draw of stream key at ctr (its top byte's bin)."""
    return _TAIL_RATIO2[splitmix64(key, ctr) >> np.uint64(56)]


@njit(cache=True, inline="always")
def _tail_z(key, ctr, tail):
    """Bound on |z| of the draw of stream key at ctr: Z_CENTRAL for a central draw, the
    bound of its top byte's bin for a tail draw (:func:`_tail_bound_ratio2`)."""
    if not tail:
        return Z_CENTRAL
    return Z_CENTRAL * math.sqrt(_tail_ratio2(key, ctr))


@njit(cache=True, inline="always")
def _drawn_bound(row, n, j, conv, noise, ctr, mark):
    """Bound on the move [cells] of the noise of one conversion with tail mark ``mark``
    (:func:`_noisy_value`'s streams): :func:`_sigma_bound` with each draw's own bound on
    |z| (:func:`_tail_z`)."""
    z1 = _tail_z(noise.key_cell, ctr, (mark & _T_CELL) != 0)
    z2 = _tail_z(noise.key_cell, ctr + 1, (mark & _T_CELL_B) != 0)
    z3 = _tail_z(noise.key_floor, ctr, (mark & _T_FLOOR) != 0)
    return _sigma_bound(row, n, j, ctr & 1, conv, noise, z1, z2, z3)


@njit(cache=True, inline="always")
def _candidate_coefficients(gr, inv, noise, ca, cb):
    """ca[j], cb[j] of the candidate test of pass 1, e**2 <= ca[j] c + cb[j] (c: the
    column's discharging cells): Z_CENTRAL**2 (gain inv)**2 sigma_cell**2 and the same with
    sigma_floor**2, widened by _CANDIDATE_SLACK."""
    z2 = Z_CENTRAL * Z_CENTRAL * _CANDIDATE_SLACK
    sc2 = noise.sigma_cell * noise.sigma_cell
    sf2 = noise.sigma_floor * noise.sigma_floor
    for j in range(gr.shape[0]):
        gi = gr[j] * inv
        ca[j] = z2 * gi * gi * sc2
        cb[j] = z2 * gi * gi * sf2


@njit(cache=True, fastmath={"nnan", "ninf", "nsz"})
def _convert_rows(buf, n, P, b0, vec0, g, G, t, q, conv, noise, s_bl, s_blb, acc, flag, hits,
                  mark):
    """Convert and accumulate every access of row group g (tile t, grid q) for a block of
    vectors. buf[r] holds the weighted counts of access r = bi * P + p (vector b0 + bi,
    plane p): BL in [:n], BLB in [n:]. The value of each code is added to acc[bi] with the
    plane's digital scale.

    Pass 1 converts without noise and flags the conversions whose code some noise value
    could change: a draw is needed within Z_CENTRAL noise bounds of the nearest reference,
    or within Z_MAX bounds when the draw is a tail draw (the row's tail draws are marked
    first, :func:`_row_marks`; mark (n,) uint8 is zero on entry and on return). Pass 2 draws
    the noise of the flagged conversions alone and corrects their sums.

    In the written-out affine branches (no saturation) pass 1 flags a superset of these at a
    few operations per conversion: the distance to the nearest reference is bounded below by
    e = 1/2 - |s - rint(s)| (in lsb; beyond the clipped ends of the grid the nearest
    reference lies only farther), compared with the central bound; the tail draws (one in
    256) are then compared with the bound of their own draw (:func:`_tail_bound_ratio2`:
    the largest |z| of the bin of its top byte, Z_MAX only for 1 in 256 of them). Drawing a
    conversion its noise cannot move changes nothing, so the superset gives the result of
    drawing every conversion, as the general path does (tests compare with
    ``Noise.skip = False``)."""
    R = buf.shape[0]
    noisy = noise.sigma_cell > 0.0 or noise.sigma_floor > 0.0
    n_rails = 1 if conv.differential else 2
    vals = conv.vals[q]
    written = conv.mode == CONV_AFFINE and conv.sat_kind == SAT_NONE
    key_cell = noise.key_cell
    key_floor = noise.key_floor
    saturating = conv.sat_kind != SAT_NONE
    differential = conv.differential
    ca = np.empty((n_rails, n))
    cb = np.empty((n_rails, n))
    tcol = np.empty(3 * n, np.int64)
    seen = np.empty(4, np.uint64)
    if written and noisy:
        for rail in range(n_rails):
            _candidate_coefficients(conv.gain[t, rail], conv.inv[q], noise, ca[rail], cb[rail])
    for r in range(R):
        bi = r // P
        p = r - bi * P
        accv = acc[bi]
        row = buf[r]
        ctr0 = ((((vec0 + b0 + bi) * P + p) * G + g) * n) * 2
        for rail in range(n_rails):
            scale = s_bl[p] if rail == 0 else -s_blb[p]
            need = 0
            nt = 0
            if noisy:
                nt = _row_marks(key_cell, key_floor, saturating, differential, ctr0 >> 1, rail,
                                n, seen, mark, tcol)
            if written and not conv.differential:
                # the common case, written out so that LLVM vectorizes it
                gr = conv.gain[t, rail]
                orr = conv.aff_o[t, q, rail]
                inv = conv.inv[q]
                vmin = conv.vmin[q]
                top = float(conv.top)
                src = row[rail * n:(rail + 1) * n]
                if not noisy:
                    for j in range(n):
                        c = min(max(np.rint((gr[j] * src[j] + orr[j]) * inv), 0.0), top)
                        accv[j] += scale * (c / inv + vmin)
                else:
                    car = ca[rail]
                    cbr = cb[rail]
                    for j in range(n):
                        s = (gr[j] * src[j] + orr[j]) * inv
                        c = np.rint(s)
                        e = 0.5 - abs(s - c)
                        c = min(max(c, 0.0), top)
                        accv[j] += scale * (c / inv + vmin)
                        hit = e * e <= car[j] * max(src[j], 0.0) + cbr[j]
                        flag[j] = hit
                        need += hit
                    # the tail draws (about one column a row): the same bound with Z_MAX
                    for i in range(nt):
                        j = tcol[i]
                        s = (gr[j] * src[j] + orr[j]) * inv
                        e = 0.5 - abs(s - np.rint(s))
                        r2 = _tail_ratio2(key_cell, ctr0 + rail + 2 * j)
                        if e * e <= r2 * (car[j] * max(src[j], 0.0) + cbr[j]):
                            need += not flag[j]
                            flag[j] = True
            elif written:
                # differential, affine, no saturation: BL - BLB converted once; the same
                # arithmetic as the generic branch below (float64 difference; the code
                # values of a uniform grid are code / inv + vmin, as conv.vals), written out
                # so that LLVM vectorizes it
                gr = conv.gain[t, 0]
                orr = conv.aff_o[t, q, 0]
                inv = conv.inv[q]
                vmin = conv.vmin[q]
                top = float(conv.top)
                if not noisy:
                    for j in range(n):
                        sv = (gr[j] * (float(row[j]) - float(row[n + j])) + orr[j]) * inv
                        c = min(max(np.rint(sv), 0.0), top)
                        accv[j] += scale * (c / inv + vmin)
                else:
                    car = ca[0]
                    cbr = cb[0]
                    for j in range(n):
                        a = float(row[j])
                        b = float(row[n + j])
                        sv = (gr[j] * (a - b) + orr[j]) * inv
                        c = np.rint(sv)
                        e = 0.5 - abs(sv - c)
                        c = min(max(c, 0.0), top)
                        accv[j] += scale * (c / inv + vmin)
                        hit = e * e <= car[j] * (max(a, 0.0) + max(b, 0.0)) + cbr[j]
                        flag[j] = hit
                        need += hit
                    for i in range(nt):
                        j = tcol[i]
                        a = float(row[j])
                        b = float(row[n + j])
                        sv = (gr[j] * (a - b) + orr[j]) * inv
                        e = 0.5 - abs(sv - np.rint(sv))
                        r2 = _tail_ratio2(key_cell, ctr0 + 2 * j)
                        if e * e <= r2 * (car[j] * (max(a, 0.0) + max(b, 0.0)) + cbr[j]):
                            need += not flag[j]
                            flag[j] = True
            else:
                for j in range(n):
                    v = _analog(row, n, j, rail, conv)
                    c, d, k = _code(v, conv, t, q, rail, j)
                    accv[j] += scale * vals[c]
                    bound = k * _rail_sigma(row, n, j, rail, conv, noise)
                    hit = d <= Z_MAX * bound
                    if hit and noise.skip and d > Z_CENTRAL * bound:
                        # beyond Z_CENTRAL bounds only a tail draw can change the code: its
                        # mark and the bound of its own draw decide here, so that pass 2
                        # sees only the draws that can change a code
                        hit = mark[j] != 0 and d <= k * _drawn_bound(
                            row, n, j, conv, noise, ctr0 + 2 * j + rail, mark[j])
                    flag[j] = hit
                    need += hit
            if noisy and (need or not noise.skip):
                m = _gather(flag, hits, n, noise.skip)
                if written and not conv.differential:
                    _noise_pass_affine(row[rail * n:(rail + 1) * n], hits, m, mark,
                                       conv.gain[t, rail], conv.aff_o[t, q, rail], conv.inv[q],
                                       conv.vmin[q], float(conv.top), noise, ctr0 + rail, scale,
                                       accv)
                elif written:
                    _noise_pass_affine_diff(row, n, hits, m, mark, conv.gain[t, 0],
                                            conv.aff_o[t, q, 0], conv.inv[q], conv.vmin[q],
                                            float(conv.top), noise, ctr0, scale, accv)
                else:
                    for i in range(m):
                        j = hits[i]
                        v = _analog(row, n, j, rail, conv)
                        c, d, k = _code(v, conv, t, q, rail, j)
                        central_ok = noise.skip and d > k * Z_CENTRAL * _rail_sigma(row, n, j, rail, conv, noise)
                        drawn, vn = _noisy_value(row, n, j, rail, conv, noise, ctr0 + 2 * j + rail,
                                                 mark[j], central_ok)
                        if drawn:
                            cn, _, _ = _code(vn, conv, t, q, rail, j)
                            accv[j] += scale * (vals[cn] - vals[c])
            for i in range(nt):
                mark[tcol[i]] = 0


@njit(cache=True, inline="always")
def _gather(flag, hits, n, skip):
    """The columns whose noise must be drawn (flagged, or every one without skipping),
    written to hits[:m] without branches; returns m."""
    m = 0
    for j in range(n):
        hits[m] = j
        m += flag[j] or not skip
    return m


@njit(cache=True, fastmath={"nnan", "ninf", "nsz"})
def _noise_pass_affine(src, hits, m, mark, gr, orr, inv, vmin, top, noise, ctr0, scale, accv):
    """Pass 2 of the common case (affine conversion of one rail, no saturation): the noise
    of column j is one Gaussian of sigma sqrt(sigma_cell**2 c + sigma_floor**2) drawn at
    counter ctr0 + 2 j, for the columns hits[:m] (those pass 1 flagged, every column without
    skipping); mark: the row's tail marks (:func:`_row_marks`)."""
    sc2 = noise.sigma_cell * noise.sigma_cell
    sf2 = noise.sigma_floor * noise.sigma_floor
    key = noise.key_cell
    table = noise.table
    for i in range(m):
        j = hits[i]
        ctr = ctr0 + 2 * j
        v = float(src[j])
        tail = mark[j] != 0
        c = min(max(np.rint((gr[j] * v + orr[j]) * inv), 0.0), top)
        vn = v + math.sqrt(sc2 * max(v, 0.0) + sf2) * gauss_from_bits(splitmix64(key, ctr), tail,
                                                                       table)
        cn = min(max(np.rint((gr[j] * vn + orr[j]) * inv), 0.0), top)
        if cn != c:
            accv[j] += scale * ((cn / inv + vmin) - (c / inv + vmin))


@njit(cache=True, fastmath={"nnan", "ninf", "nsz"})
def _noise_pass_affine_diff(row, n, hits, m, mark, gr, orr, inv, vmin, top, noise, ctr0,
                            scale, accv):
    """Pass 2 of a differential affine conversion without saturation: the noise of column j
    (BL - BLB) is one Gaussian of sigma sqrt(sigma_cell**2 (BL + BLB) + sigma_floor**2) drawn
    at counter ctr0 + 2 j, for the columns hits[:m]; the arithmetic of the generic
    branch (:func:`_noisy_value`, :func:`_code`)."""
    sc = noise.sigma_cell
    sf = noise.sigma_floor
    key = noise.key_cell
    table = noise.table
    for i in range(m):
        j = hits[i]
        ctr = ctr0 + 2 * j
        a = float(row[j])
        b = float(row[n + j])
        v = a - b
        tail = mark[j] != 0
        c = min(max(np.rint((gr[j] * v + orr[j]) * inv), 0.0), top)
        sig = math.sqrt(sc * sc * (max(a, 0.0) + max(b, 0.0)) + sf * sf)
        vn = v + sig * gauss_from_bits(splitmix64(key, ctr), tail, table)
        cn = min(max(np.rint((gr[j] * vn + orr[j]) * inv), 0.0), top)
        if cn != c:
            accv[j] += scale * ((cn / inv + vmin) - (c / inv + vmin))


@intrinsic
def _popcount(typingctx, x):
    """Number of set bits of a uint64 (llvm.ctpop: one POPCNT, or VPOPCNTQ when vectorized)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, inline="always")
def _bit_words(x, b, s, e, kind, p, mask, wpos, wneg):
    """Bits of the +1 and -1 values of plane p of rows s..e-1 of vector b, 64 rows a word."""
    for w in range(wpos.shape[0]):
        wpos[w] = 0
        wneg[w] = 0
    for r in range(e - s):
        mp, mn = _patterns(x, b, s + r, 1, kind, p, mask)
        w = r >> 6
        sh = np.uint64(r & 63)
        wpos[w] |= np.uint64(mp) << sh
        wneg[w] |= np.uint64(mn) << sh


@njit(cache=True, fastmath=True)
def _popcount_counts(xp, xn, wbp, wbn, n_words, vbl, vblb):
    """Exact counts of discharging cells of every column of one access: BL counts +1
    inputs on +1 cells and -1 inputs on -1 cells, BLB the two other products."""
    n = vbl.shape[0]
    for j in range(n):
        vbl[j] = 0
        vblb[j] = 0
    for w in range(n_words):
        a = xp[w]
        c = xn[w]
        wp = wbp[w]
        wn = wbn[w]
        if a != 0:
            for j in range(n):
                vbl[j] += _popcount(a & wp[j])
                vblb[j] += _popcount(a & wn[j])
        if c != 0:
            for j in range(n):
                vbl[j] += _popcount(c & wn[j])
                vblb[j] += _popcount(c & wp[j])


@njit(parallel=True, cache=True, fastmath=True)
def mac_convert_accumulate(inp, groups, sums, conv, noise, vec_block, vec0, colacc):
    """Every access of a batch of vectors, fused: group sums, noise, saturation, ADC and
    digital accumulation (records: :class:`Inputs`, :class:`Groups`, :class:`Sums`,
    :class:`Conv`, :class:`Noise`).

    Group sums, per column and rail: by popcount (``sums.popcount``: no variation, every
    discharging cell counts 1) or by table look-up (weighted). vec_block vectors form one
    parallel block; vec0 is the global index of x[0] in the layer's input stream (noise
    counters). colacc (B, n_cols) float64 is filled with sum_p (s_bl[p] * BL_p - s_blb[p] *
    BLB_p) of the converted values (differential: s_bl[p] * conv(BL - BLB)).
    """
    x = inp.x
    kind = inp.kind
    B = x.shape[0]
    n_cols = colacc.shape[1]
    G = groups.start.shape[0]
    P = inp.planes
    mask = (1 << inp.nbits) - 1
    M = sums.t_pos.shape[2]
    n_chunks = sums.chunk_start.shape[0]
    tp = sums.t_pos.reshape(sums.t_pos.shape[0] * 16, M)
    tn = sums.t_neg.reshape(sums.t_neg.shape[0] * 16, M)
    n_words = sums.wb_pos.shape[1]
    use_popcount = sums.popcount
    n_blocks = (B + vec_block - 1) // vec_block
    for blk in prange(n_blocks):
        b0 = blk * vec_block
        nb = min(B, b0 + vec_block) - b0
        R = nb * P
        acc = np.zeros((nb, n_cols))
        flag = np.empty(n_cols, np.bool_)
        mark = np.zeros(n_cols, np.uint8)
        hits = np.empty(n_cols, np.int64)
        cnt_bl = np.empty(n_cols, np.uint64)
        cnt_blb = np.empty(n_cols, np.uint64)
        buf = np.empty((R, 2 * n_cols if use_popcount else M), np.float32)
        if use_popcount:
            xbp = np.zeros((R, G, n_words), np.uint64)
            xbn = np.zeros((R, G, n_words), np.uint64)
            for bi in range(nb):
                for g in range(G):
                    for p in range(P):
                        _bit_words(x, b0 + bi, groups.start[g], groups.stop[g], kind, p, mask,
                                   xbp[bi * P + p, g], xbn[bi * P + p, g])
            ipos = np.empty((1, 1), np.uint8)
            ineg = np.empty((1, 1), np.uint8)
        else:
            xbp = np.empty((1, 1, 1), np.uint64)
            xbn = np.empty((1, 1, 1), np.uint64)
            ipos = np.zeros((R, n_chunks), np.uint8)
            ineg = np.zeros((R, n_chunks), np.uint8)
            for bi in range(nb):
                for c in range(n_chunks):
                    for p in range(P):
                        mp, mn = _patterns(x, b0 + bi, sums.chunk_start[c], sums.chunk_rows[c],
                                           kind, p, mask)
                        ipos[bi * P + p, c] = mp
                        ineg[bi * P + p, c] = mn
        for g in range(G):
            nw = (groups.stop[g] - groups.start[g] + 63) >> 6
            if not use_popcount:
                c0 = sums.chunk0[g]
                c1 = sums.chunk1[g]
                buf[:, :] = 0.0
                # whole rows as 1-D views, loops from 0: LLVM vectorizes the look-up adds
                # (pattern 0 is a row of zeros, so no branch is needed)
                for r in range(R):
                    _add_patterns(buf[r], tp, ipos[r], c0, c1)
                    if sums.has_neg:
                        _add_patterns(buf[r], tn, ineg[r], c0, c1)
            else:
                for r in range(R):
                    _popcount_counts(xbp[r, g], xbn[r, g], sums.wb_pos[g], sums.wb_neg[g], nw,
                                     cnt_bl, cnt_blb)
                    for j in range(n_cols):
                        buf[r, j] = np.float32(cnt_bl[j])
                        buf[r, n_cols + j] = np.float32(cnt_blb[j])
            _convert_rows(buf, n_cols, P, b0, vec0, g, G, groups.tile[g], groups.grid[g], conv,
                          noise, inp.s_bl, inp.s_blb, acc, flag, hits, mark)
        for bi in range(nb):
            for j in range(n_cols):
                colacc[b0 + bi, j] = acc[bi, j]


@njit(parallel=True, cache=True)
def count_activity(x, kind, nbits, group_start, group_stop, active_rows, active_groups):
    """Wordline activity of a batch, counted from the data in one pass.

    active_rows[k] (+=): (vector, plane) pairs whose plane value at row k is nonzero, i.e.
    accesses in which row k's read wordline fires (per column tile).
    active_groups[g] (+=): (vector, plane) pairs for which row group g fires at least one
    wordline (only then do its rails need precharging again).
    """
    B = x.shape[0]
    mask = (1 << nbits) - 1
    for g in prange(group_start.shape[0]):
        s = group_start[g]
        e = group_stop[g]
        fired = 0
        for b in range(B):
            orv = 0
            pos = 0
            neg = 0
            for r in range(s, e):
                v = x[b, r]
                if kind == PLANE_BITS:
                    u = v & mask
                    orv |= u
                    active_rows[r] += _popcount(np.uint64(u))
                elif v != 0:
                    active_rows[r] += 1
                    if v > 0:
                        pos = 1
                    else:
                        neg = 1
            if kind == PLANE_BITS:
                fired += _popcount(np.uint64(orv))
            elif kind == PLANE_SIGN:
                fired += pos | neg
            else:
                fired += pos + neg
        active_groups[g] += fired

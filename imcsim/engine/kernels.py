"""Numba kernels of the bit-serial analog MAC.

One fused pass over every access (vector x plane x row group), per column and rail:

    mismatch-weighted count -> bitline saturation -> read noise -> ADC code -> partial sum

Without mismatch the count of a row group is exact: popcounts of the input plane's bits
with the bits of the cells holding +1 / -1, 64 rows a machine word. With mismatch it is a
sum of table look-ups: the group is cut into chunks of 4 rows, and for each chunk a table
holds, for each of the 16 patterns of active rows, the mismatch-weighted number of
discharging cells of every column and rail; a 4-row look-up replaces 4 multiply-adds per
column and rail. Blocks of vectors run in parallel (numba ``prange``).

The physics of each step is defined by the reference functions of ``device_models``
(``bitline.analog``, ``adc.convert``); tests check that these kernels agree with them.

Read noise is drawn from a counter-based stream: the Gaussian of one conversion is a pure
function of (stream key, counter) with counter = ((vector * planes + plane) * groups +
group) * columns * 2 + column * 2 + rail, vector being the global index of the vector in
the layer's input stream. A result therefore depends only on (seed, inputs, card), not on
batch chunking or thread count. The uniform generator is SplitMix64 (Steele, Lea, Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014) evaluated at the counter;
the Gaussian comes from an interpolated inverse-CDF table (2**14 equal-probability
intervals, truncated at +-3.99 sigma, rescaled to unit variance). Because the generator is
bounded, a conversion whose code cannot change under any noise value needs no draw: the
kernel skips those draws, which changes no result.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from . import numba_cache  # noqa: F401  (before the decorators: the cache keyed on this file's content)

#: bitline saturation curves (device_models.bitline.analog)
SAT_NONE, SAT_CLIP, SAT_EXP = 0, 1, 2
SATURATION_KINDS = {"none": SAT_NONE, "clip": SAT_CLIP, "exponential": SAT_EXP}

_TABLE_BITS = 14


@lru_cache(maxsize=1)
def gauss_table() -> np.ndarray:
    """Inverse normal CDF at the centres of 2**14 equal-probability intervals, plus one
    guard entry, scaled so that the interpolated generator has unit variance."""
    from scipy.special import ndtri

    n = 1 << _TABLE_BITS
    q = ndtri((np.arange(n) + 0.5) / n)
    # variance of the piecewise-linear generator (exact for uniform interpolation):
    # u uniform on [0, n-1) between table points; outside it clamps (tails at the ends)
    a, b = q[:-1], q[1:]
    seg_var = (a * a + a * b + b * b) / 3.0           # E[x^2] on each linear segment
    var = (seg_var.sum() + 0.5 * (q[0] ** 2 + q[-1] ** 2)) / n
    table = np.empty(n + 1)
    table[:n] = q / math.sqrt(var)
    table[n] = table[n - 1]
    return table


@njit(cache=True, inline="always")
def splitmix64(key, counter):
    z = (key + np.uint64(counter) * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def gauss(key, counter, table):
    """Standard normal (bounded by table[0], table[-1]) at ``counter`` of stream ``key``."""
    z = splitmix64(key, counter)
    # 53 random bits -> position in [0, n): index = top 14 bits, fraction = next 39 bits
    top = z >> np.uint64(64 - _TABLE_BITS)
    frac = float((z >> np.uint64(11)) & np.uint64((1 << 39) - 1)) * (1.0 / (1 << 39))
    # table[i] is the quantile at the centre (i + 1/2) / n of interval i, so the abscissa
    # of u = (top + frac) / n is u * n - 1/2; beyond the first and last centres it clamps
    t = float(top) + frac - 0.5
    if t <= 0.0:
        return table[0]
    i = int(t)
    if i >= (1 << _TABLE_BITS) - 1:
        return table[(1 << _TABLE_BITS) - 1]
    f = t - i
    return table[i] + f * (table[i + 1] - table[i])


@njit(cache=True)
def draw_gaussians(key, counters, table):
    """The stream's Gaussians at the given counters (for tests of the generator)."""
    out = np.empty(counters.shape[0])
    for i in range(counters.shape[0]):
        out[i] = gauss(key, counters[i], table)
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
        if kind == 0:
            mp |= (((v & mask) >> p) & 1) << r
        elif kind == 1:
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
    if kind == 0 or v <= 0.0:
        return v
    if kind == 1:
        return min(v, s)
    return s * (1.0 - math.exp(-v / s))


@njit(cache=True, fastmath=True)
def _convert_block(buf, n_cols, P, b0, vec0, g, G, ga, ob, sat_kind, sat_s, sigma, differential,
                   top, tmax, key, table, s_bl, s_blb, v_min, lsb, acc, flag, hits, va, vc):
    """Saturate, add read noise, convert and accumulate every access of one row group for a
    block of vectors.

    buf[r] holds the (mismatch-weighted) counts of discharging cells of access r = bi * P +
    p (vector b0 + bi, plane p): BL in [:n_cols], BLB in [n_cols:]. ga, ob (2, n_cols):
    the conversion u = ga * v + ob of the ADCs serving each column and rail
    (ga = gain / lsb, ob = offset + 1/2 - v_min / lsb); code = clip(floor(u), 0, top),
    value = v_min + code * lsb, added to acc[bi] with the plane's digital scale.

    Read noise of sigma * sqrt(cnt) [cells] (cnt: the rail's discharging cells; both rails'
    for differential sensing) comes from the counter-based stream at
    ((((vec0 + b) * P + p) * G + g) * n_cols + j) * 2 + rail. Pass 1 (vectorizable)
    converts without noise and flags the conversions whose code some value of the bounded
    generator could change: the distance d from u to its nearest code threshold satisfies
    d**2 <= (ga * sigma * tmax)**2 * cnt (clamps ignored: at worst a draw changes nothing).
    Pass 2 draws the noise of the flagged conversions alone and corrects their sums, so
    the skipped draws change no result.
    """
    R = buf.shape[0]
    k2 = (sigma * tmax) ** 2
    n_rails = 1 if differential else 2
    for r in range(R):
        bi = r // P
        p = r - bi * P
        accv = acc[bi]
        row = buf[r]
        ctr0 = ((((vec0 + b0 + bi) * P + p) * G + g) * n_cols) * 2
        for rail in range(n_rails):
            scale = s_bl[p] if rail == 0 else -s_blb[p]
            if differential:
                for j in range(n_cols):
                    bl = row[j]
                    blb = row[n_cols + j]
                    va[j] = _saturate(bl, sat_kind, sat_s) - _saturate(blb, sat_kind, sat_s)
                    vc[j] = bl + blb
                _rail_pass(va, vc, ga[0], ob[0], k2, sigma, top, tmax, scale, v_min, lsb, accv,
                           flag, hits, key, ctr0, table)
            elif sat_kind == 0:
                src = row[rail * n_cols:(rail + 1) * n_cols]
                _rail_pass(src, src, ga[rail], ob[rail], k2, sigma, top, tmax, scale, v_min, lsb,
                           accv, flag, hits, key, ctr0 + rail, table)
            else:
                src = row[rail * n_cols:(rail + 1) * n_cols]
                for j in range(n_cols):
                    vc[j] = src[j]
                    va[j] = _saturate(src[j], sat_kind, sat_s)
                _rail_pass(va, vc, ga[rail], ob[rail], k2, sigma, top, tmax, scale, v_min, lsb,
                           accv, flag, hits, key, ctr0 + rail, table)


@njit(cache=True, fastmath=True, inline="always")
def _rail_pass(a, cnt, gr, orr, k2, sigma, top, tmax, scale, v_min, lsb, accv, flag, hits, key,
               ctr0, table):
    """One rail of one access row: both passes described in :func:`_convert_block`; the
    noise of column j is drawn at counter ctr0 + 2 j."""
    n = accv.shape[0]
    need = 0
    for j in range(n):
        u = gr[j] * a[j] + orr[j]
        f = math.floor(u)
        c = min(max(f, 0.0), top)
        accv[j] += scale * (v_min + c * lsb)
        d = min(u - f, f + 1.0 - u)
        hit = d * d <= gr[j] * gr[j] * k2 * max(cnt[j], 0.0)
        flag[j] = hit
        need += hit
    if need and sigma > 0.0:
        # the flagged columns, gathered without branches (they are scattered at random)
        m = 0
        for j in range(n):
            hits[m] = j
            m += flag[j]
        for i in range(m):
            j = hits[i]
            u = gr[j] * a[j] + orr[j]
            c = min(max(math.floor(u), 0.0), top)
            z = gauss(key, ctr0 + 2 * j, table)
            cn = min(max(math.floor(u + gr[j] * sigma * math.sqrt(max(cnt[j], 0.0)) * z), 0.0), top)
            accv[j] += scale * (cn - c) * lsb


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
def mac_convert_accumulate(x, kind, nbits, n_planes, group_start, group_stop, group_tile,
                           use_popcount, wb_pos, wb_neg, chunk_start, chunk_rows,
                           group_chunk0, group_chunk1, t_pos, t_neg, has_neg,
                           vec_block, vec0, sat_kind, sat_s, noise_sigma, differential,
                           v_min, lsb, levels, offset, gain, s_bl, s_blb, key, table, colacc):
    """Every access of a batch of vectors, fused: group sums, saturation, noise, ADC and
    digital accumulation.

    x: (B, K) integer inputs; planes are read from it by ``kind`` (PLANE_*). Row group g
    spans rows group_start[g]..group_stop[g]-1 of row tile group_tile[g].

    Group sums, per column and rail:
    * ``use_popcount`` (no mismatch): exact counts by popcount of the input plane's bits
      (64 rows a word) with the bits of the cells holding +1 (wb_pos[g, w, :]) and -1
      (wb_neg);
    * otherwise by table look-up: chunks of <= 4 rows (never straddling a group; chunk c
      starts at chunk_start[c], has chunk_rows[c] rows; group g owns chunks
      group_chunk0[g]..group_chunk1[g]-1); t_pos[c, m, :] (t_neg) is the
      mismatch-weighted sum, BL columns in [:n_cols] and BLB in [n_cols:], of the rows of
      chunk c selected by pattern m of +1 (-1) plane values.

    offset, gain: (row_tiles, n_cols, 2) static ADC state. colacc (B, n_cols) float64 is
    filled with sum_p (s_bl[p] * BL_p - s_blb[p] * BLB_p) (differential: s_bl[p] * (BL-BLB)).
    """
    B = x.shape[0]
    n_cols = colacc.shape[1]
    G = group_start.shape[0]
    P = n_planes
    mask = (1 << nbits) - 1
    top = float(levels - 1)
    inv_lsb = 1.0 / lsb
    tmax = max(abs(table[0]), abs(table[-1]))
    # conversion as u = ga * v + ob: ga = gain / lsb, ob = offset + 1/2 - v_min / lsb
    ga = np.ascontiguousarray(gain.transpose(0, 2, 1) * inv_lsb)
    ob = np.ascontiguousarray(offset.transpose(0, 2, 1) + 0.5 - v_min * inv_lsb)
    M = t_pos.shape[2]
    n_chunks = chunk_start.shape[0]
    tp = t_pos.reshape(t_pos.shape[0] * 16, M)
    tn = t_neg.reshape(t_neg.shape[0] * 16, M)
    n_words = wb_pos.shape[1]
    n_blocks = (B + vec_block - 1) // vec_block
    for blk in prange(n_blocks):
        b0 = blk * vec_block
        nb = min(B, b0 + vec_block) - b0
        R = nb * P
        acc = np.zeros((nb, n_cols))
        flag = np.empty(n_cols, np.bool_)
        hits = np.empty(n_cols, np.int64)
        va = np.empty(n_cols)
        vc = np.empty(n_cols)
        cnt_bl = np.empty(n_cols, np.uint64)
        cnt_blb = np.empty(n_cols, np.uint64)
        buf = np.empty((R, 2 * n_cols if use_popcount else M), np.float32)
        if use_popcount:
            xbp = np.zeros((R, G, n_words), np.uint64)
            xbn = np.zeros((R, G, n_words), np.uint64)
            for bi in range(nb):
                for g in range(G):
                    for p in range(P):
                        _bit_words(x, b0 + bi, group_start[g], group_stop[g], kind, p, mask,
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
                        mp, mn = _patterns(x, b0 + bi, chunk_start[c], chunk_rows[c], kind, p, mask)
                        ipos[bi * P + p, c] = mp
                        ineg[bi * P + p, c] = mn
        for g in range(G):
            nw = (group_stop[g] - group_start[g] + 63) >> 6
            if not use_popcount:
                c0 = group_chunk0[g]
                c1 = group_chunk1[g]
                buf[:, :] = 0.0
                # whole rows as 1-D views, loops from 0: LLVM vectorizes the look-up adds
                # (pattern 0 is a row of zeros, so no branch is needed)
                for r in range(R):
                    _add_patterns(buf[r], tp, ipos[r], c0, c1)
                    if has_neg:
                        _add_patterns(buf[r], tn, ineg[r], c0, c1)
            else:
                for r in range(R):
                    _popcount_counts(xbp[r, g], xbn[r, g], wb_pos[g], wb_neg[g], nw, cnt_bl, cnt_blb)
                    for j in range(n_cols):
                        buf[r, j] = np.float32(cnt_bl[j])
                        buf[r, n_cols + j] = np.float32(cnt_blb[j])
            _convert_block(buf, n_cols, P, b0, vec0, g, G, ga[group_tile[g]], ob[group_tile[g]],
                           sat_kind, sat_s, noise_sigma, differential, top, tmax, key, table,
                           s_bl, s_blb, v_min, lsb, acc, flag, hits, va, vc)
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
                if kind == 0:
                    u = v & mask
                    orv |= u
                    active_rows[r] += _popcount(np.uint64(u))
                elif v != 0:
                    active_rows[r] += 1
                    if v > 0:
                        pos = 1
                    else:
                        neg = 1
            if kind == 0:
                fired += _popcount(np.uint64(orv))
            elif kind == 1:
                fired += pos | neg
            else:
                fired += pos + neg
        active_groups[g] += fired

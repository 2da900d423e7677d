"""The crossbar engine: integer matrix products simulated on IMC tiles, access by access.

``ImcBackend.matmul(x, w, encoding=..., layer=...)`` is the seam the network layers call
(``networks.ExactBackend`` answers the same call exactly). For each layer the backend
keeps one chip instance: its weights mapped onto tiles (:mod:`imcsim.mapper`), the static
non-idealities of the cells and ADCs it uses (drawn once from the backend's seed and the
layer name) and the position of the layer in its noise stream. Every call then runs:

1. the input is split into signed ternary planes (:mod:`imcsim.encoding`);
2. one fused numba kernel (:mod:`imcsim.kernels`) forms, per plane and row group, the
   (mismatch-weighted) number of discharging cells of every column and rail, saturates,
   adds read noise, converts with the ADC and accumulates the digital partial sums with
   the planes' place values;
3. slices of multi-bit weights are recombined with their place values;
4. every event that costs energy is counted from the data (:mod:`imcsim.engine.events`).

Group sums: without mismatch every discharging cell counts one, and the counts are
popcounts of the input plane's bits with the bits of the cells holding +1 / -1 (64 rows a
machine word); with mismatch they are sums of table look-ups over chunks of 4 rows
(:mod:`imcsim.kernels`). A short cut that changes no result: with no non-ideality at all and
an ADC that resolves every count, the conversion is the identity and the product is
``x @ w`` directly (events are still counted from the data).

Comparability with CrossSim: with ``adc.sensing: differential``, ``adc.signed_format:
sign_magnitude`` (2**b - 1 levels over +-rows of the tile), ``tile.rows_per_access`` =
``tile.rows``, ``unsigned<k>`` inputs (one plane and one conversion per input bit), this
engine applies the same quantization as CrossSim's ``SignMagnitudeADC`` with the range
option ``MAX`` (input-bit-sliced, ADC per slice), as long as 2**b - 2 <= 2 * rows (with more
levels than counts our lsb stops at one cell and the result becomes exact).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from imcsim.errors import InputError
from networks.backend import check_matmul

from .encoding import Encoding, parse_encoding
from .events import Events
from .kernels import (
    CHUNK,
    PLANE_ASYM,
    PLANE_BITS,
    PLANE_SIGN,
    SATURATION_KINDS,
    count_activity,
    gauss_table,
    mac_convert_accumulate,
)
from .mapper import Mapping, bits_for, map_layer, weight_slices
from .tile import Tile

#: float32 products are exact for integers below this bound
_F32_EXACT = float(2 ** 24)
#: float64 holds every integer below this bound
_F64_EXACT = float(2 ** 53)


def _as_seedseq(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (int, np.integer)) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise InputError(f"seed: expected a non-negative integer or numpy SeedSequence, got {seed!r}")


def _child(ss: np.random.SeedSequence, *keys: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=ss.entropy, spawn_key=tuple(ss.spawn_key) + keys)


@dataclass
class _Physics:
    """Card values the kernel needs, read once per backend."""

    mismatch_sigma: float
    fault_rate: float
    fault_value: str
    saturation: str
    saturation_count: float
    noise_sigma: float
    adc_range: str
    offset_sigma: float
    gain_sigma: float

    @classmethod
    def from_card(cls, card) -> "_Physics":
        return cls(
            mismatch_sigma=float(card["cell.mismatch_sigma"]),
            fault_rate=float(card["cell.fault_rate"]),
            fault_value=str(card["cell.fault_value"]),
            saturation=str(card["bitline.saturation"]),
            saturation_count=float(card["bitline.saturation_count"]),
            noise_sigma=float(card["bitline.read_noise_sigma"]),
            adc_range=str(card["adc.range"]),
            offset_sigma=float(card["adc.offset_sigma"]),
            gain_sigma=float(card["adc.gain_sigma"]),
        )


@dataclass
class _LayerState:
    """One layer on one chip instance: mapped weights and static non-idealities."""

    w: np.ndarray              # the weights as given (K, N)
    encoding: Encoding
    mapping: Mapping
    place: np.ndarray          # (S,) place value of each weight slice
    w_cols: np.ndarray         # (K, N*S) int8 cell values after faults
    nnz_rows: np.ndarray       # (K,) nonzero cells per row (cells that can discharge)
    q: tuple                   # (v_min, lsb, levels) of the ADC
    lossless: bool             # conversion is the identity for every reachable count
    tables: dict | None        # look-up tables and chunk layout for the kernel (see _tables)
    tables_groups: tuple       # (group_start, group_stop) int64 arrays of the row groups
    offset: np.ndarray         # (row_tiles, NS, 2) static ADC offsets [LSB]
    gain: np.ndarray           # (row_tiles, NS, 2) static ADC gains
    key: np.uint64             # noise stream key
    out_bits: int
    psum_bits: int
    vec_offset: int = 0        # vectors already simulated (position in the noise stream)


class ImcBackend:
    """Simulated IMC hardware behind ``matmul``; one chip instance per backend.

    Parameters
    ----------
    hardware : Card or str
        A ``device_models`` card, a shipped card name or a path to a card file.
    seed : int or numpy.random.SeedSequence
        Chip instance and noise stream. Layer ``name`` draws its static state from
        ``SeedSequence(seed).spawn_key + (crc32(name), 0)`` and its noise from ``(.., 1)``.
    track_error : bool
        Also compute the exact product of every call, for ``error_sums``.
    chunk_bytes : int
        Working memory per batch chunk [byte]; the batch streams through in chunks.
    full_scales : dict or None
        Calibration hook (``adc.range: calibrated``): ``{layer name: full-scale count}``
        computed elsewhere (``imcsim.simulation`` calibrates on a training sample). A layer
        found here takes its full scale from it instead of from its first call.
    max_table_bytes : int
        Bound on the group-sum tables of one layer [byte] (default :data:`MAX_TABLE_BYTES`);
        a layer that needs more is refused with InputError before anything is allocated.
    shortcuts : bool
        Use the exact short cuts: identity conversion for ideal devices, popcount group sums
        without mismatch. They change no result; False forms every group sum by table
        look-up and converts every access (tests use it to check that claim).
    """

    def __init__(self, hardware, seed=0, *, track_error: bool = True, chunk_bytes: int = 32 << 20,
                 shortcuts: bool = True, full_scales: dict | None = None,
                 max_table_bytes: int | None = None):
        self.shortcuts = bool(shortcuts)
        self.full_scales = dict(full_scales or {})
        self.max_table_bytes = int(MAX_TABLE_BYTES if max_table_bytes is None else max_table_bytes)
        import device_models as dm

        self.card = dm.load_card(hardware)   # a Card, a card name or a path
        self.tile = Tile.from_card(self.card)
        self.physics = _Physics.from_card(self.card)
        self.seed = _as_seedseq(seed)
        self.track_error = track_error
        self.chunk_bytes = int(chunk_bytes)
        self.events: dict[str, Events] = {}
        self.mappings: dict[str, Mapping] = {}
        self.error_sums: dict[str, tuple[float, float]] = {}
        self._layers: dict[str, _LayerState] = {}

    def reset(self) -> None:
        """Clear the event and error totals (the chip instance is kept)."""
        self.events.clear()
        self.error_sums.clear()

    # ------------------------------------------------------------------ public call
    def matmul(self, x, w, *, encoding: str = "ternary", layer: str = "mvm", asym=None) -> np.ndarray:
        """Simulate ``x @ w`` on the crossbar. x (B, K) integers in the encoding's range,
        w (K, N) integers; returns float64 (B, N)."""
        x, w, _ = check_matmul(x, w, encoding, layer, asym, error=InputError)
        if w.shape[0] == 0 or w.shape[1] == 0:
            raise InputError(f"layer {layer!r}: w: expected K >= 1 rows and N >= 1 columns, got "
                             f"shape {w.shape}")
        enc = parse_encoding(encoding, asym)
        state = self._state(layer, w, enc, x)
        B = x.shape[0]
        m = state.mapping
        y = np.empty((B, m.N), dtype=np.float64)
        ev = Events()
        per_vec = m.K * 8 + m.columns * 16 + 1
        bc = max(1, min(B, self.chunk_bytes // per_vec))
        for c0 in range(0, B, bc):
            c1 = min(B, c0 + bc)
            y[c0:c1] = self._run_chunk(state, x[c0:c1], ev)
        if m.reload_rounds > 1:
            ev.weight_writes += m.programmed_cells
        self.events.setdefault(layer, Events()).__iadd__(ev)
        if self.track_error:
            ye = exact_product(x, w, enc)
            e2 = float(np.sum((y - ye) ** 2))
            r2 = float(np.sum(ye ** 2))
            s = self.error_sums.get(layer, (0.0, 0.0))
            self.error_sums[layer] = (s[0] + e2, s[1] + r2)
        return y

    # ------------------------------------------------------------------ chip state
    def _state(self, name: str, w: np.ndarray, enc: Encoding, x: np.ndarray) -> _LayerState:
        st = self._layers.get(name)
        if st is not None:
            if st.w is w or (st.w.shape == w.shape and np.array_equal(st.w, w)):
                if st.encoding.name != enc.name or st.encoding.asym != enc.asym:
                    raise InputError(f"layer {name!r}: called with encoding {enc.name} "
                                     f"after {st.encoding.name}; one layer, one encoding")
                return st
            raise InputError(f"layer {name!r}: called with different weights than before; "
                             "give every weight matrix its own layer name")
        st = self._build(name, w, enc, x)
        self._layers[name] = st
        self.mappings[name] = st.mapping
        return st

    def _build(self, name: str, w: np.ndarray, enc: Encoding, x: np.ndarray) -> _LayerState:
        import device_models as dm

        wmax = float(np.abs(w).max()) if w.size else 0.0
        if wmax > 2 ** 15:
            raise InputError(f"w: value {wmax:g} exceeds the largest weight magnitude 2**15")
        if enc.asym is not None and self.tile.sensing != "dual":
            raise InputError("asym: asymmetric scales need per-rail digital scales, i.e. adc.sensing: dual")
        xmax = max(abs(enc.lo), abs(enc.hi))
        bound = w.shape[0] * xmax * wmax
        if bound >= _F64_EXACT:
            raise InputError(f"x, w: the product can reach {bound:g}, beyond exact float64 integers (2**53)")
        cell = self.tile.cell_kind
        w_cols, place = weight_slices(w, cell)
        K, N = w.shape
        S = place.size
        m = map_layer(K, N, S, self.tile, enc.planes)
        ph = self.physics
        # before anything of the layer's size is drawn: the tables' bound (stated in the error)
        popcount = not (ph.mismatch_sigma > 0) and self.shortcuts
        need = _table_bytes(m.groups, m.columns, enc.has_negative, popcount=popcount)
        if need > self.max_table_bytes:
            raise InputError(
                f"layer {name!r}: w: a {K} x {N} layer "
                f"{'with cell mismatch ' if ph.mismatch_sigma > 0 else ''}needs "
                f"{need / 2**20:.0f} MiB of look-up tables on this card, more than the "
                f"bound of {self.max_table_bytes / 2**20:.0f} MiB (ImcBackend("
                "max_table_bytes=...)); split the layer or raise the bound")
        rng = np.random.default_rng(_child(self.seed, zlib.crc32(name.encode()), 0))
        key = _child(self.seed, zlib.crc32(name.encode()), 1).generate_state(1, np.uint64)[0]
        NS = m.columns
        # static cell state: mismatch gains per rail, stuck-at faults
        if ph.mismatch_sigma > 0:
            g = dm.cells.draw_mismatch((K, NS), ph.mismatch_sigma, rng).astype(np.float32)
        else:
            g = None
        if ph.fault_rate > 0:
            w_cols, _ = dm.cells.draw_faults(w_cols, ph.fault_rate, ph.fault_value,
                                              dm.cells.cell_levels(cell), rng)
            w_cols = np.asarray(w_cols, dtype=np.int8)
        # static ADC state: one ADC per (row tile, column tile, ADC of the tile, rail)
        T = self.tile
        shape = (m.row_tiles, m.col_tiles, T.adcs_per_rail, 2)
        n = int(np.prod(shape))
        off = np.asarray(dm.adc.draw_offsets(n, ph.offset_sigma, rng), dtype=np.float64).reshape(shape)
        gn = np.asarray(dm.adc.draw_gains(n, ph.gain_sigma, rng), dtype=np.float64).reshape(shape)
        j = np.arange(NS)
        ct, local = j // T.columns, T.adc_index(j % T.columns)
        offset = np.ascontiguousarray(off[:, ct, local, :])
        gain = np.ascontiguousarray(gn[:, ct, local, :])
        # ADC grid
        gsize = m.groups[:, 1] - m.groups[:, 0]
        lmax = int(gsize.max())
        L = T.rows_per_access
        if ph.adc_range == "calibrated" and name in self.full_scales:   # calibration hook
            max_count = float(self.full_scales[name])
        elif ph.adc_range == "calibrated":
            max_count = self._calibrate(w_cols, enc, m, x)
        else:
            max_count = float(L)
        qz = dm.adc.quantizer(self.card, max_count)
        v_min, lsb, levels = float(qz[0]), float(qz[1]), int(qz[2])
        m = replace(m, adc_max_count=float(max_count) if ph.adc_range != "clip" else float(self.card["adc.clip_count"]))
        sat_ok = ph.saturation == "none" or (ph.saturation == "clip" and ph.saturation_count >= lmax)
        lo_needed = -lmax if T.sensing == "differential" else 0
        lossless = (g is None and ph.noise_sigma == 0 and sat_ok and ph.offset_sigma == 0
                    and ph.gain_sigma == 0 and lsb == 1.0 and v_min == np.floor(v_min)
                    and v_min <= lo_needed and v_min + (levels - 1) >= lmax)
        lossless = lossless and self.shortcuts
        tables = None
        if not (lossless and enc.symmetric):
            tables = _tables(w_cols, g, m.groups, enc.has_negative,
                             popcount=g is None and self.shortcuts)
        out_bits = bits_for(bound)
        psum_bits = bits_for(min(K, T.rows) * xmax)
        return _LayerState(
            w=w, encoding=enc, mapping=m, place=place, w_cols=w_cols,
            nnz_rows=np.count_nonzero(w_cols, axis=1).astype(np.float64),
            q=(v_min, lsb, levels), lossless=bool(lossless),
            tables=tables, offset=offset, gain=gain,
            tables_groups=(np.ascontiguousarray(m.groups[:, 0]), np.ascontiguousarray(m.groups[:, 1])),
            key=np.uint64(key), out_bits=out_bits, psum_bits=psum_bits)

    def _calibrate(self, w_cols, enc: Encoding, m: Mapping, x: np.ndarray) -> float:
        """ADC full scale from data: the largest per-access count (dual: per rail;
        differential: |BL - BLB|) over the first 1024 vectors of the first call, ideal
        devices. Stored in ``mappings[layer].adc_max_count``."""
        planes = enc.planes_of(x[:1024])
        P, B, K = planes.shape
        a_pos = (planes == 1).reshape(P * B, K).astype(np.float32)
        a_neg = (planes == -1).reshape(P * B, K).astype(np.float32)
        wp = (w_cols == 1).astype(np.float32)
        wn = (w_cols == -1).astype(np.float32)
        best = 1.0
        for s, e, _ in m.groups:
            bl = a_pos[:, s:e] @ wp[s:e] + a_neg[:, s:e] @ wn[s:e]
            blb = a_pos[:, s:e] @ wn[s:e] + a_neg[:, s:e] @ wp[s:e]
            if self.tile.sensing == "dual":
                best = max(best, float(bl.max(initial=0)), float(blb.max(initial=0)))
            else:
                best = max(best, float(np.abs(bl - blb).max(initial=0)))
        return best

    # ------------------------------------------------------------------ one chunk
    def _run_chunk(self, st: _LayerState, x: np.ndarray, ev: Events) -> np.ndarray:
        enc, m = st.encoding, st.mapping
        b, K = x.shape
        P = enc.planes
        NS, S, G = m.columns, st.place.size, m.groups.shape[0]
        kind = (PLANE_ASYM if enc.asym is not None else
                PLANE_SIGN if enc.kind in ("ternary", "binary") else PLANE_BITS)
        xi = np.ascontiguousarray(x, dtype=np.int32)
        active_rows = np.zeros(K, np.int64)
        active_groups = np.zeros(G, np.int64)
        count_activity(xi, kind, enc.bits, st.tables_groups[0], st.tables_groups[1],
                       active_rows, active_groups)
        if st.lossless and enc.symmetric:
            # conversion is the identity: sum_p s_p (plane_p @ w) = (sum_p s_p plane_p) @ w,
            # and sum_p s_p plane_p is x itself for the symmetric encodings
            if enc.asym is None:
                colacc = _exact_cols(x, st.w_cols, float(np.abs(x).max(initial=0)) * K)
            else:
                colacc = np.tensordot(enc.s_bl, enc.planes_of(x), 1) @ st.w_cols.astype(np.float64)
        else:
            colacc = np.empty((b, NS), dtype=np.float64)
            v_min, lsb, levels = st.q
            ph = self.physics
            tb = st.tables
            M = tb["t_pos"].shape[2]
            vec_block = max(1, min(64, (256 << 10) // (4 * P * max(M, 2 * NS))))
            mac_convert_accumulate(
                xi, kind, enc.bits, P,
                tb["group_start"], tb["group_stop"], tb["group_tile"], tb["popcount"],
                tb["wb_pos"], tb["wb_neg"], tb["chunk_start"], tb["chunk_rows"],
                tb["group_chunk0"], tb["group_chunk1"], tb["t_pos"], tb["t_neg"], tb["has_neg"],
                vec_block, st.vec_offset,
                SATURATION_KINDS[ph.saturation], ph.saturation_count if ph.saturation_count > 0 else 1.0,
                ph.noise_sigma, self.tile.sensing == "differential", v_min, lsb, levels,
                st.offset, st.gain, enc.s_bl, enc.s_blb, st.key, gauss_table(), colacc)
        st.vec_offset += b
        y = colacc.reshape(b, m.N, S) @ st.place if S > 1 else colacc
        # events, from the data of this chunk
        acc = b * P * G
        ev.vectors += b
        ev.macs += b * K * m.N
        ev.accesses += acc * m.col_tiles
        ev.active_wordlines += float(active_rows.sum()) * m.col_tiles
        ev.discharges += float(active_rows.astype(np.float64) @ st.nnz_rows)
        if self.tile.cell_kind == "xnor":
            ev.divider_load += _divider_load(enc.planes_of(x), st.w_cols, m.groups)
        # a rail is precharged again only after an access that fired a wordline of its
        # group: with no wordline fired no cell can discharge and the bitline keeps its charge
        ev.precharges += float(active_groups.sum()) * NS * m.rails
        ev.adc_conversions += acc * NS * m.rails
        ev.accumulations += acc * NS
        ev.input_bits += b * K * enc.bits * m.col_tiles
        ev.output_bits += b * m.N * st.out_bits
        ev.interconnect_bits += b * m.row_tiles * NS * st.psum_bits
        return y


#: Default bound on the look-up tables of one layer [byte] (``ImcBackend(max_table_bytes=)``):
#: with mismatch they take 16 x 2 x 4 bytes per row chunk and column rail, whatever the
#: batch, so a large layer could otherwise exhaust the memory before it runs.
MAX_TABLE_BYTES = 1 << 30


def _table_bytes(groups: np.ndarray, NS: int, has_neg: bool, popcount: bool) -> int:
    """Bytes of the group-sum tables :func:`_tables` would build (the look-up tables and
    their temporaries; the popcount words without mismatch)."""
    sizes = (groups[:, 1] - groups[:, 0]).astype(np.int64)
    if popcount:
        return int(2 * groups.shape[0] * int(-(-sizes.max() // 64)) * NS * 8)
    chunks = int(np.sum(-(-sizes // CHUNK)))
    M = 2 * NS
    tables = chunks * 16 * M * 4 * (2 if has_neg else 1)
    temps = chunks * CHUNK * M * 4 + 2 * int(sizes.sum()) * M * 4
    return int(tables + temps)


def _divider_load(planes: np.ndarray, w_cols: np.ndarray, groups: np.ndarray) -> float:
    """Sum over accesses and columns of n*m/(n+m): n cells pull the bitline one way, m the
    other (a resistive divider's static current is proportional to it). Ideal cells, from
    the input planes (P, B, K) and the cell values (K, NS) in {-1, 0, 1}: with
    t = n + m (conducting cells) and d = n - m (the exact group sum),
    n*m/(n+m) = (t^2 - d^2) / (4 t)."""
    P, B, K = planes.shape
    a = planes.reshape(P * B, K).astype(np.float32)
    w = w_cols.astype(np.float32)
    dense = bool(np.all(w_cols != 0))   # xnor cells: every cell of a driven row conducts
    total = 0.0
    for s, e, _ in groups:
        d2 = np.square(a[:, s:e] @ w[s:e], dtype=np.float64)
        if dense:                         # t is the same for every column of the group
            t = np.abs(a[:, s:e]).sum(axis=1, dtype=np.float64)
            q = t * t * w.shape[1] - d2.sum(axis=1)
        else:
            t = (np.abs(a[:, s:e]) @ np.abs(w[s:e])).astype(np.float64)
            q = t * t - d2
        total += float(np.divide(q, 4.0 * t, out=np.zeros_like(q), where=t > 0).sum())
    return total


def _tables(w_cols: np.ndarray, g, groups: np.ndarray, has_neg: bool, popcount: bool) -> dict:
    """What the kernel needs to form the group sums of one layer on one chip instance.

    A +1 input discharges BL through cells holding +1 and BLB through cells holding -1; a -1
    input the other way round.
    * ``popcount`` (no mismatch: every discharging cell counts 1): the bits of the cells
      holding +1 and -1, 64 rows of a group a word, per column: (G, words, NS) uint64.
    * otherwise look-up tables: for every chunk of <= 4 rows inside a row group and each of
      the 16 patterns of its rows, the mismatch-weighted number of discharging cells per
      column and rail when those rows carry +1 (t_pos) or -1 (t_neg): (chunks, 16, 2 NS).
    """
    K, NS = w_cols.shape
    G = groups.shape[0]
    out = {"group_start": np.ascontiguousarray(groups[:, 0]),
           "group_stop": np.ascontiguousarray(groups[:, 1]),
           "group_tile": np.ascontiguousarray(groups[:, 2]), "popcount": bool(popcount),
           "has_neg": bool(has_neg)}
    if popcount:
        n_words = int(-(-(groups[:, 1] - groups[:, 0]).max() // 64))
        wb = np.zeros((2, G, n_words, NS), np.uint64)
        for gi, (s, e, _) in enumerate(groups):
            for w in range(n_words):
                r0 = int(s) + 64 * w
                r1 = min(int(e), r0 + 64)
                if r0 >= r1:
                    break
                weights = (np.uint64(1) << np.arange(r1 - r0, dtype=np.uint64))[:, None]
                for k, level in enumerate((1, -1)):
                    bits = (w_cols[r0:r1] == level).astype(np.uint64)
                    wb[k, gi, w] = np.bitwise_or.reduce(bits * weights, axis=0)
        out.update(wb_pos=wb[0], wb_neg=wb[1], t_pos=np.zeros((1, 16, 1), np.float32),
                   t_neg=np.zeros((1, 16, 1), np.float32), chunk_start=np.zeros(1, np.int64),
                   chunk_rows=np.zeros(1, np.int64), group_chunk0=np.zeros(G, np.int64),
                   group_chunk1=np.zeros(G, np.int64))
        return out
    wpos = (w_cols == 1).astype(np.float32)
    wneg = (w_cols == -1).astype(np.float32)
    gg = g if g is not None else np.ones((K, NS, 2), np.float32)
    rows_pos = np.concatenate([gg[..., 0] * wpos, gg[..., 1] * wneg], axis=1)
    rows_neg = np.concatenate([gg[..., 0] * wneg, gg[..., 1] * wpos], axis=1)
    starts, nrows, c0, c1 = [], [], [], []
    for s, e, _ in groups:
        c0.append(len(starts))
        for cs in range(int(s), int(e), CHUNK):
            starts.append(cs)
            nrows.append(min(CHUNK, int(e) - cs))
        c1.append(len(starts))
    starts = np.asarray(starts, np.int64)
    nrows = np.asarray(nrows, np.int64)
    M = rows_pos.shape[1]
    # rows of every chunk, padded with zero rows to 4
    idx = starts[:, None] + np.arange(CHUNK)[None, :]
    valid = np.arange(CHUNK)[None, :] < nrows[:, None]
    idx = np.where(valid, idx, 0)
    pattern_bits = ((np.arange(16)[:, None] >> np.arange(CHUNK)[None, :]) & 1).astype(np.float32)

    def build(rows):
        r = rows[idx] * valid[..., None]                       # (chunks, 4, M)
        return np.ascontiguousarray(np.einsum("pr,crm->cpm", pattern_bits, r), dtype=np.float32)

    out.update(t_pos=build(rows_pos),
               t_neg=build(rows_neg) if has_neg else np.zeros((1, 16, M), np.float32),
               chunk_start=starts, chunk_rows=nrows, group_chunk0=np.asarray(c0, np.int64),
               group_chunk1=np.asarray(c1, np.int64),
               wb_pos=np.zeros((G, 1, 1), np.uint64), wb_neg=np.zeros((G, 1, 1), np.uint64))
    return out


def _exact_cols(x: np.ndarray, w_cols: np.ndarray, bound: float) -> np.ndarray:
    """x @ w_cols exactly (float32 BLAS when every partial sum is exact, else float64)."""
    if bound < _F32_EXACT:
        return (x.astype(np.float32) @ w_cols.astype(np.float32)).astype(np.float64)
    return x.astype(np.float64) @ w_cols.astype(np.float64)


def exact_product(x: np.ndarray, w: np.ndarray, enc: Encoding) -> np.ndarray:
    """The exact result the hardware approximates: x @ w, or with asymmetric scales
    (w in {-1,0,1} standing for {-a,0,b}, x for {-c,0,d})."""
    if enc.asym is not None:
        a, b, c, d = enc.asym
        xs = np.where(x > 0, d, np.where(x < 0, -c, 0.0))
        ws = np.where(w > 0, b, np.where(w < 0, -a, 0.0))
        return xs @ ws
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * x.shape[1]
    return _exact_cols(x, w, bound)


def mvm(x, w, hardware, seed=0, encoding: str = "ternary", asym=None):
    """Simulate one matrix product ``x @ w`` on a fresh chip instance.

    Parameters
    ----------
    x : array (B, K) of integers in the range of ``encoding``
    w : array (K, N) of integers (ternary {-1,0,1}, binary {-1,+1}, or signed k-bit)
    hardware : Card or str (card name or path)
    seed : int or SeedSequence, chip instance and noise stream
    encoding : ``ternary``, ``binary``, ``unsigned<k>`` or ``signed<k>``
    asym : (a, b, c, d) or None, asymmetric ternary scales

    Returns
    -------
    y : float64 (B, N), integer-valued when no non-ideality acts
    events : :class:`imcsim.engine.events.Events`, totals over the B vectors
    """
    be = ImcBackend(hardware, seed, track_error=False)
    y = be.matmul(x, w, encoding=encoding, layer="mvm", asym=asym)
    return y, be.events["mvm"]

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
    CONV_AFFINE,
    CONV_SEARCH,
    PLANE_ASYM,
    PLANE_BITS,
    PLANE_SIGN,
    SATURATION_CODES,
    Conv,
    Groups,
    Inputs,
    Noise,
    Sums,
    count_activity,
    gauss_table,
    mac_convert_accumulate,
)
from .mapper import Mapping, bits_for, map_layer, weight_slices
from .tile import Tile

#: vectors of the first call used to calibrate the ADC range (``adc.range: calibrated``);
#: the default of ``ImcBackend(calibration_vectors=...)``
CALIBRATION_VECTORS = 1024

#: static quantities of a chip instance, each drawn from its own stream
#: ``SeedSequence(seed).spawn_key + (crc32(layer), 0, index)`` so that setting one to zero
#: leaves every other where it was (paired chips)
STREAMS = {"cell_mismatch": 0, "faults": 1, "row_gain": 2, "cap_mismatch": 3,
           "adc_offset": 4, "adc_gain": 5}

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
    """Card values the kernel needs, read once per backend (units: cells unless stated)."""

    domain: str
    mismatch_sigma: float      # [1] transistor mismatch of a cell (current domain)
    cap_sigma: float           # [1] capacitor mismatch of a cell (charge domain)
    row_gain_sigma: float      # [1] per-row drive
    corner: float              # [1] global relative deviation of cell current
    fault_rate: float
    fault_value: str
    saturation: str            # none | clip | exponential (charge domain: none)
    sat_s: float               # headroom [cells]
    sigma_cell: float          # read noise per discharging cell [cells]
    sigma_floor: float         # count-independent noise per conversion [cells]
    adc_range: str
    grid: str
    offset_sigma: float        # comparator offset [cells]
    comparators: int           # comparators with independent offsets per converter
    gain_sigma: float          # [1]
    follow: bool               # references on the saturated curve

    @classmethod
    def from_card(cls, card) -> "_Physics":
        import device_models as dm

        kind, s = dm.bitline.saturation_of(card)
        return cls(
            domain=str(card["bitline.domain"]),
            mismatch_sigma=float(card["cell.mismatch_sigma"]),
            cap_sigma=float(card["cell.cap_mismatch_sigma"]),
            row_gain_sigma=float(card["cell.row_gain_sigma"]),
            corner=float(card["cell.current_corner"]),
            fault_rate=float(card["cell.fault_rate"]),
            fault_value=str(card["cell.fault_value"]),
            saturation=kind,
            sat_s=float(s),
            sigma_cell=float(card["bitline.read_noise_sigma"]),
            sigma_floor=float(dm.adc.noise_floor_cells(card)),
            adc_range=str(card["adc.range"]),
            grid=str(card["adc.grid"]),
            offset_sigma=float(dm.adc.offset_sigma_cells(card)),
            comparators=int(dm.adc.comparators(card)),
            gain_sigma=float(card["adc.gain_sigma"]),
            # a difference of two curves has no single curve to follow: dual sensing only
            follow=bool(card["adc.follow_saturation"]) and card["adc.sensing"] == "dual",
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
    grids: list                # nominal ADC grids (device_models.adc.Grid), one per full scale
    group_grid: np.ndarray     # (G,) grid of each row group
    lossless: bool             # conversion is the identity for every reachable count
    tables: dict | None        # look-up tables and chunk layout for the kernel (see _tables)
    tables_groups: tuple       # (group_start, group_stop) int64 arrays of the row groups
    offset: np.ndarray         # (row_tiles, NS, 2, comparators) static offsets [cells]
    gain: np.ndarray           # (row_tiles, NS, 2) static ADC gains
    conv: Conv                 # the kernel's conversion record
    strengths: np.ndarray | None   # (K, NS, 2) float32 cell contributions, None when all 1
    key: np.uint64             # noise stream key (per-cell / combined noise)
    key_floor: np.uint64       # noise stream key (floor noise, with saturation)
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
        without variation, skipping noise draws that cannot change a code. They change no
        result; False forms every group sum by table look-up, converts every access and
        draws every Gaussian (tests use it to check that claim).
    calibration_vectors : int
        ``adc.range: calibrated``: the full scale is the largest count over this many
        vectors of the layer's first call (ideal devices).
    """

    def __init__(self, hardware, seed=0, *, track_error: bool = True, chunk_bytes: int = 32 << 20,
                 shortcuts: bool = True, calibration_vectors: int = CALIBRATION_VECTORS,
                 full_scales: dict | None = None, max_table_bytes: int | None = None):
        self.shortcuts = bool(shortcuts)
        if int(calibration_vectors) < 1:
            raise InputError(f"calibration_vectors: expected an integer >= 1, got {calibration_vectors!r}")
        self.calibration_vectors = int(calibration_vectors)
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
        weighted = ((ph.domain == "current" and ph.mismatch_sigma > 0)
                    or (ph.domain == "charge" and ph.cap_sigma > 0)
                    or ph.row_gain_sigma > 0 or ph.corner != 0)
        popcount = not weighted and self.shortcuts
        need = _table_bytes(m.groups, m.columns, enc.has_negative, popcount=popcount)
        if need > self.max_table_bytes:
            raise InputError(
                f"layer {name!r}: w: a {K} x {N} layer "
                f"{'with weighted cells ' if weighted else ''}needs "
                f"{need / 2**20:.0f} MiB of look-up tables on this card, more than the "
                f"bound of {self.max_table_bytes / 2**20:.0f} MiB (ImcBackend("
                "max_table_bytes=...)); split the layer or raise the bound")
        T = self.tile
        crc = zlib.crc32(name.encode())

        def stream(what):
            return np.random.default_rng(_child(self.seed, crc, 0, STREAMS[what]))

        key = _child(self.seed, crc, 1).generate_state(1, np.uint64)[0]
        key_floor = _child(self.seed, crc, 2).generate_state(1, np.uint64)[0]
        NS = m.columns
        j = np.arange(NS)
        ct, local = j // T.columns, T.adc_index(j % T.columns)
        # static cell state: strengths per rail, stuck-at faults (each from its own stream)
        g = None
        if ph.domain == "current" and ph.mismatch_sigma > 0:
            g = dm.cells.draw_mismatch((K, NS), ph.mismatch_sigma, stream("cell_mismatch"))
        if ph.domain == "charge" and ph.cap_sigma > 0:
            cap = dm.cells.draw_cap_mismatch((K, NS), ph.cap_sigma, stream("cap_mismatch"))
            g = np.repeat(cap[:, :, None], 2, axis=2)
        if ph.row_gain_sigma > 0:
            rows = dm.cells.draw_row_gains((K, m.col_tiles), ph.row_gain_sigma, stream("row_gain"))
            g = (np.ones((K, NS, 2)) if g is None else g) * rows[:, ct][:, :, None]
        if ph.corner != 0:
            g = (np.ones((K, NS, 2)) if g is None else g) * (1.0 + ph.corner)
        if g is not None:
            g = g.astype(np.float32)
        if ph.fault_rate > 0:
            w_cols, _ = dm.cells.draw_faults(w_cols, ph.fault_rate, ph.fault_value,
                                              dm.cells.cell_levels(cell), stream("faults"))
            w_cols = np.asarray(w_cols, dtype=np.int8)
        # static ADC state: one converter per (row tile, column tile, ADC of the tile, rail),
        # each with its comparators' offsets [cells]
        shape = (m.row_tiles, m.col_tiles, T.adcs_per_rail, 2)
        off = np.asarray(dm.adc.draw_offsets(shape + (ph.comparators,), ph.offset_sigma,
                                             stream("adc_offset")), dtype=np.float64)
        gn = np.asarray(dm.adc.draw_gains(shape, ph.gain_sigma, stream("adc_gain")), dtype=np.float64)
        offset = np.ascontiguousarray(off[:, ct, local])              # (T, NS, 2, comparators)
        gain = np.ascontiguousarray(gn[:, ct, local])                 # (T, NS, 2)
        # ADC grids: full scale per row group (range full: the rows present in the group)
        gsize = (m.groups[:, 1] - m.groups[:, 0]).astype(np.int64)
        lmax = int(gsize.max())
        if ph.adc_range == "calibrated" and name in self.full_scales:   # calibration hook
            scales = np.full(gsize.shape, float(self.full_scales[name]))
        elif ph.adc_range == "calibrated":
            scales = np.full(gsize.shape, self._calibrate(w_cols, enc, m, x))
        elif ph.adc_range == "clip":
            scales = np.full(gsize.shape, float(self.card["adc.clip_count"]))
        else:
            scales = gsize.astype(float)
        uniq, group_grid = np.unique(scales, return_inverse=True)
        grids = [dm.adc.grid(self.card, float(M)) for M in uniq]
        if ph.grid == "custom":
            max_count = float(np.max(np.abs(grids[0].values)))
        else:
            max_count = float(uniq.max())
        m = replace(m, adc_max_count=max_count)
        sat_ok = ph.saturation == "none" or (ph.saturation == "clip" and ph.sat_s >= lmax)
        lossless = (g is None and ph.sigma_cell == 0 and ph.sigma_floor == 0 and sat_ok
                    and ph.offset_sigma == 0 and ph.gain_sigma == 0 and self.shortcuts)
        if lossless:
            lo_sign = -1 if T.sensing == "differential" else 0
            for gi, gr in enumerate(grids):
                n_max = int(gsize[group_grid == gi].max())
                c = np.arange(lo_sign * n_max, n_max + 1, dtype=float)
                if not np.array_equal(dm.adc.convert(c, gr), c):
                    lossless = False
        conv = self._conv(grids, offset, gain, T.sensing == "differential")
        tables = None
        if not (lossless and enc.symmetric):
            tables = _tables(w_cols, g, m.groups, enc.has_negative,
                             popcount=g is None and self.shortcuts)
            tables["group_grid"] = np.ascontiguousarray(group_grid.astype(np.int64))
        out_bits = bits_for(bound)
        psum_bits = bits_for(min(K, T.rows) * xmax)
        return _LayerState(
            w=w, encoding=enc, mapping=m, place=place, w_cols=w_cols,
            nnz_rows=np.count_nonzero(w_cols, axis=1).astype(np.float64),
            grids=grids, group_grid=group_grid, lossless=bool(lossless),
            tables=tables, offset=offset, gain=gain, conv=conv, strengths=g,
            tables_groups=(np.ascontiguousarray(m.groups[:, 0]), np.ascontiguousarray(m.groups[:, 1])),
            key=np.uint64(key), key_floor=np.uint64(key_floor), out_bits=out_bits,
            psum_bits=psum_bits)

    def _conv(self, grids, offset, gain, differential: bool) -> Conv:
        """The kernel's conversion record: the affine form for uniform grids whose
        comparators share one offset (SAR, or no offsets), else per-ADC sorted references
        (each comparator's own offset; with adc.follow_saturation the references sit on the
        saturated curve)."""
        import device_models as dm

        ph = self.physics
        Tn, NS = offset.shape[0], offset.shape[1]
        Q = len(grids)
        n = grids[0].levels
        affine = (all(gr.kind == "uniform" for gr in grids) and not ph.follow
                  and (ph.comparators == 1 or ph.offset_sigma == 0))
        gain_k = np.ascontiguousarray(gain.transpose(0, 2, 1))       # (T, 2, NS)
        vals = np.ascontiguousarray(np.stack([np.asarray(gr.values, float) for gr in grids]))
        if affine:
            o = offset[..., 0].transpose(0, 2, 1)                    # (T, 2, NS)
            aff_o = np.ascontiguousarray(np.stack([o - gr.v_min for gr in grids], axis=1))
            inv = np.asarray([gr.inv_lsb for gr in grids], float)
            vmin = np.asarray([gr.v_min for gr in grids], float)
            thr = np.zeros((1, 1, 1, 1, 1))
            mode = CONV_AFFINE
        else:
            nominal = np.stack([np.asarray(gr.thresholds, float) for gr in grids])   # (Q, n-1)
            if ph.follow:
                nominal = dm.bitline.analog(nominal, ph.saturation, ph.sat_s)
            eff = nominal[None, :, None, None, :] - offset.transpose(0, 2, 1, 3)[:, None]
            thr = np.ascontiguousarray(np.sort(eff, axis=-1))         # (T, Q, 2, NS, n-1)
            aff_o = np.zeros((Tn, Q, 2, NS))
            inv = np.ones(Q)
            vmin = np.zeros(Q)
            mode = CONV_SEARCH
        return Conv(mode, bool(differential), SATURATION_CODES[ph.saturation],
                    float(ph.sat_s) if ph.saturation != "none" else 1.0, int(n - 1), gain_k,
                    aff_o, inv, vmin, thr, vals)

    def _calibrate(self, w_cols, enc: Encoding, m: Mapping, x: np.ndarray) -> float:
        """ADC full scale from data: the largest per-access count (dual: per rail;
        differential: |BL - BLB|) over the first vectors of the first call, ideal
        devices (``calibration_vectors``, default 1024). Stored in
        ``mappings[layer].adc_max_count``."""
        planes = enc.planes_of(x[:self.calibration_vectors])
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
            ph = self.physics
            tb = st.tables
            M = tb["t_pos"].shape[2]
            vec_block = max(1, min(64, (256 << 10) // (4 * P * max(M, 2 * NS))))
            mac_convert_accumulate(
                Inputs(xi, kind, enc.bits, P, enc.s_bl, enc.s_blb),
                Groups(tb["group_start"], tb["group_stop"], tb["group_tile"], tb["group_grid"]),
                Sums(tb["popcount"], tb["wb_pos"], tb["wb_neg"], tb["chunk_start"],
                     tb["chunk_rows"], tb["group_chunk0"], tb["group_chunk1"], tb["t_pos"],
                     tb["t_neg"], tb["has_neg"]),
                st.conv,
                Noise(ph.sigma_cell, ph.sigma_floor, st.key, st.key_floor, gauss_table(),
                      self.shortcuts),
                vec_block, st.vec_offset, colacc)
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

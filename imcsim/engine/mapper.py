"""Lay a layer's K x N integer weight matrix onto crossbar tiles.

K (the reduction dimension; for conv2d K = kh * kw * c_in after im2col) is split over row
tiles of R rows and, inside a tile, over row groups of L rows (the last group may be
short). N is split over column tiles of C columns. Multi-bit signed integer weights are
stored as sign-magnitude ternary slices on adjacent columns,
``w = sign(w) * sum_j 2**j * bit_j(|w|)``: slice j holds ``sign(w) * bit_j`` in {-1,0,1}
and its column result is recombined digitally with place value ``2**j``. Weights already in
{-1, 0, 1} need one slice; XNOR cells hold {-1, +1} only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imcsim.errors import InputError

from .tile import Tile


@dataclass(frozen=True)
class Mapping:
    """Where a layer's weights live and how many accesses one input vector costs."""

    K: int
    N: int
    slices: int                      #: ternary slices per weight (adjacent columns)
    columns: int                     #: N * slices physical columns
    row_tiles: int
    col_tiles: int
    tiles: int                       #: row_tiles * col_tiles
    groups: np.ndarray = field(repr=False)  #: (G, 3) int: start, stop (over K), row tile
    groups_per_row_tile: tuple = ()
    planes: int = 1                  #: input planes per vector (accesses per row group)
    rails: int = 2                   #: converted rails per column (dual 2, differential 1)
    utilization: float = 0.0         #: programmed cells / cells of the tiles used
    reload_rounds: int = 1           #: rounds needed when the layer has more tiles than the chip
    accesses_per_vector: int = 0     #: planes * row groups * column tiles
    serial_accesses_per_vector: int = 0  #: accesses on the busiest tile (tiles run in parallel)
    adc_max_count: float = 0.0       #: full-scale count the ADC was set for (range full/clip/calibrated)

    @property
    def programmed_cells(self) -> int:
        return self.K * self.columns

    def as_dict(self) -> dict:
        return {
            "K": self.K, "N": self.N, "slices": self.slices, "columns": self.columns,
            "row_tiles": self.row_tiles, "col_tiles": self.col_tiles, "tiles": self.tiles,
            "groups": int(self.groups.shape[0]), "planes": self.planes, "rails": self.rails,
            "utilization": self.utilization, "reload_rounds": self.reload_rounds,
            "accesses_per_vector": self.accesses_per_vector,
            "serial_accesses_per_vector": self.serial_accesses_per_vector,
            "adc_max_count": self.adc_max_count,
        }


def bits_for(bound: float) -> int:
    """Bits of a two's complement integer holding every value in [-bound, bound]."""
    return int(np.ceil(np.log2(2.0 * bound + 1.0))) if bound > 0 else 1


def slices_for(max_magnitude: int) -> int:
    """Sign-magnitude slices (adjacent columns) of weights up to ``max_magnitude``: one
    for {-1, 0, 1}, else the bits of the magnitude."""
    return 1 if max_magnitude <= 1 else int(max_magnitude).bit_length()


def weight_slices(w: np.ndarray, cell_kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Split integer weights (K, N) into cell values (K, N*S) int8 and place values (S,).

    Column ``n * S + s`` holds slice ``s`` of output ``n``.
    """
    w = np.asarray(w)
    if cell_kind == "xnor":
        bad = (w != 1) & (w != -1)
        if bad.any():
            v = w[bad].flat[0].item()
            raise InputError(f"w: XNOR cells hold weights in {{-1, +1}}, got {v!r}")
        return w.astype(np.int8), np.ones(1, dtype=np.float64)
    wmax = int(np.abs(w).max()) if w.size else 0
    if wmax <= 1:
        return w.astype(np.int8), np.ones(1, dtype=np.float64)
    S = slices_for(wmax)
    a = np.abs(w).astype(np.int64)
    sg = np.sign(w).astype(np.int8)
    out = np.empty(w.shape + (S,), dtype=np.int8)
    for s in range(S):
        out[..., s] = sg * ((a >> s) & 1).astype(np.int8)
    return out.reshape(w.shape[0], -1), 2.0 ** np.arange(S)


def map_layer(K: int, N: int, slices: int, tile: Tile, planes: int) -> Mapping:
    """Tile a K x (N*slices) array; raises if the chip is too small and reloads are forbidden."""
    R, C = tile.rows, tile.columns
    columns = N * slices
    row_tiles = -(-K // R)
    col_tiles = -(-columns // C)
    tiles = row_tiles * col_tiles
    if tiles > tile.chip_tiles and not tile.allow_reload:
        raise InputError(
            f"layer needs {tiles} tiles ({row_tiles} row x {col_tiles} column tiles of "
            f"{R}x{C}) but the chip has {tile.chip_tiles} and chip.allow_reload is false")
    groups = []
    per_tile = []
    for t in range(row_tiles):
        r0 = t * R
        g = tile.row_groups(min(R, K - r0))
        per_tile.append(len(g))
        groups += [(r0 + s, r0 + e, t) for s, e in g]
    groups = np.asarray(groups, dtype=np.int64).reshape(-1, 3)
    return Mapping(
        K=K, N=N, slices=slices, columns=columns, row_tiles=row_tiles, col_tiles=col_tiles,
        tiles=tiles, groups=groups, groups_per_row_tile=tuple(per_tile), planes=planes,
        rails=tile.converted_rails,
        utilization=K * columns / float(tiles * R * C),
        reload_rounds=-(-tiles // tile.chip_tiles),
        accesses_per_vector=planes * len(groups) * col_tiles,
        serial_accesses_per_vector=planes * max(per_tile),
    )

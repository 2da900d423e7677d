"""A crossbar tile assembled from a hardware card.

A tile holds ``rows x columns`` cells (R x C); one access drives ``rows_per_access`` (L)
rows at once with one input plane and senses every column. The last row group of a tile
may be shorter than L. Each column has one ADC per converted rail (``dual`` sensing: BL and
BLB each converted by an unsigned ADC, difference taken digitally, as in TiM-DNN;
``differential``: BL - BLB converted by one signed ADC), or ``adc.share`` columns share
one ADC, whose conversions are then serialized (they cost time, not extra conversions).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def converted_rails(sensing: str) -> int:
    """ADC conversions per column per access: 2 for dual sensing (BL and BLB each), 1 for
    differential (BL - BLB)."""
    return 2 if sensing == "dual" else 1


@dataclass(frozen=True)
class Tile:
    rows: int                #: R, cells per column
    columns: int             #: C, cells per row
    rows_per_access: int     #: L, rows active in one access
    sensing: str             #: "dual" or "differential"
    adc_share: int           #: columns sharing one ADC
    cell_kind: str           #: "ternary" or "xnor"
    chip_tiles: int          #: tiles on the chip
    allow_reload: bool       #: a layer needing more tiles than the chip runs in rounds

    @classmethod
    def from_card(cls, card) -> "Tile":
        return cls(
            rows=int(card["tile.rows"]),
            columns=int(card["tile.columns"]),
            rows_per_access=int(card["tile.rows_per_access"]),
            sensing=str(card["adc.sensing"]),
            adc_share=int(card["adc.share"]),
            cell_kind=str(card["cell.kind"]),
            chip_tiles=int(card["chip.tiles"]),
            allow_reload=bool(card["chip.allow_reload"]),
        )

    @property
    def converted_rails(self) -> int:
        """ADC conversions per column per access (:func:`converted_rails`)."""
        return converted_rails(self.sensing)

    @property
    def adcs_per_rail(self) -> int:
        """ADCs of one tile serving one rail: one per ``adc.share`` columns."""
        return -(-self.columns // self.adc_share)

    def row_groups(self, n_rows: int) -> list[tuple[int, int]]:
        """Row groups ``(start, stop)`` of a tile holding ``n_rows`` (<= R) programmed rows."""
        L = self.rows_per_access
        return [(s, min(s + L, n_rows)) for s in range(0, n_rows, L)]

    def adc_index(self, local_column: np.ndarray) -> np.ndarray:
        """ADC serving each local column of a tile (columns sharing an ADC share its offset)."""
        return np.asarray(local_column) // self.adc_share

"""Event counts of the crossbar engine: what happened, counted from the data simulated.

The engine adds these up per layer (totals over every vector it simulated); the energy
model multiplies them by the card's per-event costs. See docs/architecture.md.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

#: name -> (units, description)
EVENT_FIELDS: dict[str, tuple[str, str]] = {
    "vectors": ("count", "input vectors (rows of x) processed"),
    "macs": ("count", "logical multiply-accumulates, K*N per vector"),
    "accesses": ("count", "tile accesses: one input plane x one row group x one column tile"),
    "active_wordlines": ("count", "rows driven with a nonzero plane value, over all accesses"),
    "precharges": ("count", "column rails precharged: mapped columns x converted rails, after each access that fired a wordline"),
    "discharges": ("count", "cells discharging a rail (both rails)"),
    "divider_load": ("cells", "xnor cells: sum over accesses and mapped columns of n*m/(n+m), n and m the cells pulling the bitline each way (a resistive divider's static current)"),
    "adc_conversions": ("count", "ADC conversions (dual: 2 per mapped column per access; differential: 1)"),
    "accumulations": ("count", "digital shift-and-adds, one per mapped column per access"),
    "input_bits": ("bit", "bits read from the input buffer and driven into the tiles"),
    "output_bits": ("bit", "bits of the layer outputs written to the output buffer"),
    "interconnect_bits": ("bit", "partial-sum bits moved from the tiles to the accumulator"),
    "weight_writes": ("count", "cells written by weight reloads (initial programming excluded)"),
}


@dataclass
class Events:
    """Totals of every event-count in :data:`EVENT_FIELDS` (floats, counts or bits)."""

    vectors: float = 0.0
    macs: float = 0.0
    accesses: float = 0.0
    active_wordlines: float = 0.0
    precharges: float = 0.0
    discharges: float = 0.0
    divider_load: float = 0.0
    adc_conversions: float = 0.0
    accumulations: float = 0.0
    input_bits: float = 0.0
    output_bits: float = 0.0
    interconnect_bits: float = 0.0
    weight_writes: float = 0.0

    def __iadd__(self, other: "Events") -> "Events":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def __add__(self, other: "Events") -> "Events":
        out = Events(**self.as_dict())
        out += other
        return out

    def scaled(self, factor: float) -> "Events":
        """Every count multiplied by ``factor`` (e.g. 1 / inferences for per-inference counts)."""
        return Events(**{k: v * factor for k, v in self.as_dict().items()})

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    def __getitem__(self, key: str) -> float:
        if key not in EVENT_FIELDS:
            raise KeyError(f"unknown event {key!r}; known: {', '.join(EVENT_FIELDS)}")
        return getattr(self, key)


assert [f.name for f in fields(Events)] == list(EVENT_FIELDS), "Events and EVENT_FIELDS disagree"

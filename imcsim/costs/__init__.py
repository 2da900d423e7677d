"""Costs of running a workload on a chip: per-event prices from the card, peak figures and
area, scheduling (latency, replicas, reload rounds) and shape-only estimates.

Everything physical comes from the hardware card (``device_models`` cards); this package
only multiplies event counts by per-event costs and schedules accesses in time.
"""
from __future__ import annotations

from .estimate import (
    estimate_events,
    estimate_network,
    estimate_workload,
    groups_fired,
    network_shapes,
)
from .peak import (
    PEAK_ASSUMPTIONS_DIGITAL,
    PEAK_ASSUMPTIONS_IMC,
    PEAK_INPUT_DENSITY,
    PEAK_WEIGHT_DENSITY,
    PeakFigures,
    area_breakdown,
    chip_area_mm2,
    figure_value,
    peak_densities,
    peak_events,
    peak_figures,
    peak_range,
)
from .prices import (
    AREA_COMPONENTS,
    COMPONENTS,
    TERNARY_BITS,
    access_time_ns,
    adc_area_um2,
    adc_energy_pj,
    architecture,
    conversion_time_ns,
    dynamic_energy,
    event_costs,
    rails,
    weight_bits,
)
from .schedule import (
    LayerCost,
    WorkloadCost,
    digital_events,
    reload_weight_writes,
    reload_writes_by_layer,
    workload_cost,
)

"""Energy and area of an ADC conversion as functions of its resolution.

The quantizer (grid, rounding, offsets) lives in :mod:`device_models.adc`; this module
prices a conversion and sizes the converter. ``adc.energy_model`` and ``adc.area_model``
select the model; every model below responds to ``adc.bits`` (or the level count).

Energy models (``adc.energy_model``), E in pJ per conversion
-------------------------------------------------------------
* ``card``: ``adc.energy_pj``, a number taken from the paper's own ADC figure (it does not
  follow a change of bits: a sweep of bits on such a card changes nothing but the grid).
* ``walden``: ``E = FOM_W * 2**ENOB`` (R. H. Walden, "Analog-to-digital converter survey
  and analysis", IEEE JSAC 17(4):539-550, 1999), FOM_W in fJ per conversion step.
* ``schreier``: thermal-noise-limited form of the Schreier figure of merit
  ``FOM_S = SNDR + 10 log10(BW / P)`` [dB]; at Nyquist rate (fs = 2 BW)
  ``E = 0.5 * 10**((6.02 ENOB + 1.76 - FOM_S) / 10)`` J (R. Schreier, G. C. Temes,
  "Understanding Delta-Sigma Data Converters", Wiley 2005; B. Murmann, "ADC Performance
  Survey 1997-2024", https://github.com/bmurmann/ADC-survey, whose envelope of the best
  designs follows this form at high resolution and the Walden form at low resolution).
* ``circuit``: counted from the converter's parts, by ``adc.kind``:

  - flash: ``n - 1`` comparators decide at once, each with its reference-ladder tap:
    ``E = (n - 1) * (E_cmp + E_tap) + b * E_logic``, n = levels converted, b = output bits
    (thermometer-to-binary encoder charged per output bit);
  - ramp (single-slope, e.g. an in-memory ADC whose reference ramp is shared by all
    columns): one comparator per column decides once per ramp step, ``n - 1`` steps, each
    with its share of the shared ramp/reference generator, and a ``b``-bit latch of the
    shared counter: ``E = (n - 1) * (E_cmp + E_tap) + b * E_logic``, the same count as a
    flash (one decision per reference) spread over time;
  - SAR: ``b`` comparator decisions, a binary-weighted capacitive DAC of ``2**b`` unit
    capacitors switched as in the conventional (charge-redistribution) scheme, and the
    successive-approximation register: ``E = b * E_cmp + E_dac(b) + b * E_logic`` with
    ``E_dac(b) = C_u * Vref**2 * sum_{i=1..b} 2**(b + 1 - 2 i) * (2**i - 1)``, the average
    switching energy of the conventional scheme (B. P. Ginsburg, A. P. Chandrakasan,
    "500-MS/s 5-bit ADC in 65-nm CMOS with split capacitor array DAC", IEEE JSSC
    42(4):739-747, 2007, eq. for the conventional array; 1363 C_u Vref^2 at 10 bits).

Area models (``adc.area_model``), A in um2 per ADC
--------------------------------------------------
* ``card``: ``adc.area_um2``.
* ``circuit``: flash ``(n - 1) * (A_cmp + A_tap) + b * A_logic``; SAR
  ``A_cmp + 2**b * A_u + b * A_logic`` (one comparator, the unit-capacitor array, one
  register bit and its logic per output bit); ramp ``A_cmp + A_tap + b * A_logic`` (one
  comparator, its tap on the shared ramp, a b-bit latch of the shared counter; the ramp
  generator and counter themselves are shared periphery, not per ADC).

So flash energy and area double per bit while SAR grows linearly in the comparator and
logic and doubles only in its (small) unit-capacitor array, and a SAR needs ``b + 1``
steps where a flash needs one: the two architectures trade time for energy and area. A
ramp costs a flash's energy in a SAR's area (less: no capacitor array) and takes ``n``
steps (``device_models.adc.steps_per_conversion``).
"""
from __future__ import annotations

__all__ = [
    "effective_bits", "walden_energy_pj", "schreier_energy_pj", "sar_dac_energy_pj",
    "flash_energy_pj", "sar_energy_pj", "flash_area_um2", "sar_area_um2", "ramp_area_um2",
    "energy_per_conversion", "area_per_adc", "converted_levels",
]

_FJ_TO_PJ = 1e-3


def effective_bits(card) -> float:
    """``adc.enob``, or ``adc.bits`` when it is null [bit]."""
    e = card["adc.enob"]
    return float(card["adc.bits"] if e is None else e)


def converted_levels(card) -> int:
    """Levels the converter distinguishes: ``adc.levels``, or from bits and the format
    (dual: 2**bits; differential sign-magnitude: 2**bits - 1; two's complement: 2**bits)."""
    if card["adc.levels"] is not None:
        return int(card["adc.levels"])
    b = int(card["adc.bits"])
    if card["adc.sensing"] == "differential" and card["adc.signed_format"] == "sign_magnitude":
        return 2 ** b - 1
    return 2 ** b


def walden_energy_pj(fom_fj: float, enob: float) -> float:
    """Walden model: ``E = FOM_W * 2**ENOB``; FOM_W [fJ/conv-step], ENOB [bit] -> E [pJ]."""
    return fom_fj * 2.0 ** enob * _FJ_TO_PJ


def schreier_energy_pj(fom_db: float, enob: float) -> float:
    """Schreier (thermal-noise-limited) model at Nyquist rate [pJ]:
    ``E = 0.5 * 10**((6.02 ENOB + 1.76 - FOM_S) / 10)`` J; FOM_S [dB], ENOB [bit]."""
    sndr = 6.02 * enob + 1.76
    return 0.5 * 10.0 ** ((sndr - fom_db) / 10.0) * 1e12


def sar_dac_energy_pj(bits: int, unit_cap_ff: float, vref: float) -> float:
    """Average switching energy of a conventional binary-weighted SAR capacitor DAC [pJ]:
    ``C_u Vref^2 sum_{i=1..b} 2^(b+1-2i) (2^i - 1)`` (Ginsburg and Chandrakasan, JSSC 2007);
    unit_cap_ff [fF], vref [V]."""
    b = int(bits)
    k = sum(2.0 ** (b + 1 - 2 * i) * (2.0 ** i - 1.0) for i in range(1, b + 1))
    return k * unit_cap_ff * vref ** 2 * _FJ_TO_PJ


def flash_energy_pj(levels: int, bits: int, comparator_fj: float, tap_fj: float,
                    logic_fj: float) -> float:
    """Flash conversion [pJ]: ``(levels - 1) (E_cmp + E_tap) + bits E_logic``; energies in fJ."""
    return ((int(levels) - 1) * (comparator_fj + tap_fj) + int(bits) * logic_fj) * _FJ_TO_PJ


def sar_energy_pj(bits: int, comparator_fj: float, unit_cap_ff: float, vref: float,
                  logic_fj: float) -> float:
    """SAR conversion [pJ]: ``bits E_cmp + E_dac(bits) + bits E_logic``; energies in fJ,
    unit capacitor in fF, reference in V."""
    b = int(bits)
    return (b * (comparator_fj + logic_fj)) * _FJ_TO_PJ + sar_dac_energy_pj(b, unit_cap_ff, vref)


def flash_area_um2(levels: int, bits: int, comparator_um2: float, tap_um2: float,
                   logic_um2: float) -> float:
    """Flash area [um2]: ``(levels - 1) (A_cmp + A_tap) + bits A_logic``."""
    return (int(levels) - 1) * (comparator_um2 + tap_um2) + int(bits) * logic_um2


def sar_area_um2(bits: int, comparator_um2: float, unit_cap_um2: float, logic_um2: float) -> float:
    """SAR area [um2]: ``A_cmp + 2**bits A_u + bits A_logic``."""
    b = int(bits)
    return comparator_um2 + 2 ** b * unit_cap_um2 + b * logic_um2


def ramp_area_um2(bits: int, comparator_um2: float, tap_um2: float, logic_um2: float) -> float:
    """Ramp (single-slope) area per ADC [um2]: ``A_cmp + A_tap + bits A_logic``."""
    return comparator_um2 + tap_um2 + int(bits) * logic_um2


def _sar_bits(card) -> int:
    """Decisions of a SAR: enough bits for the converted levels."""
    n = converted_levels(card)
    return max(1, (n - 1).bit_length())


def energy_per_conversion(card) -> float:
    """Energy of one conversion [pJ] by ``adc.energy_model`` (see the module docstring)."""
    model = card["adc.energy_model"]
    if model == "card":
        return float(card["adc.energy_pj"])
    if model == "walden":
        return walden_energy_pj(card["adc.walden_fom_fj"], effective_bits(card))
    if model == "schreier":
        return schreier_energy_pj(card["adc.schreier_fom_db"], effective_bits(card))
    if model == "circuit":
        vref = float(card["adc.reference_v"])
        if card["adc.kind"] in ("flash", "ramp"):    # one decision per reference
            return flash_energy_pj(converted_levels(card), int(card["adc.bits"]),
                                   card["adc.comparator_energy_fj"], card["adc.tap_energy_fj"],
                                   card["adc.logic_energy_fj"])
        return sar_energy_pj(_sar_bits(card), card["adc.comparator_energy_fj"],
                             card["adc.dac_unit_cap_ff"], vref, card["adc.logic_energy_fj"])
    raise ValueError(f"adc.energy_model: expected card, walden, schreier or circuit, got {model!r}")


def area_per_adc(card) -> float:
    """Area of one ADC [um2] by ``adc.area_model``."""
    model = card["adc.area_model"]
    if model == "card":
        return float(card["adc.area_um2"])
    if model == "circuit":
        if card["adc.kind"] == "flash":
            return flash_area_um2(converted_levels(card), int(card["adc.bits"]),
                                  card["adc.comparator_area_um2"], card["adc.tap_area_um2"],
                                  card["adc.logic_area_um2"])
        if card["adc.kind"] == "ramp":
            return ramp_area_um2(int(card["adc.bits"]), card["adc.comparator_area_um2"],
                                 card["adc.tap_area_um2"], card["adc.logic_area_um2"])
        return sar_area_um2(_sar_bits(card), card["adc.comparator_area_um2"],
                            card["adc.dac_unit_area_um2"], card["adc.logic_area_um2"])
    raise ValueError(f"adc.area_model: expected card or circuit, got {model!r}")

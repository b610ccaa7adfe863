"""The analysers' metrics: the unit of each metric key people see, and its display name in the page's language.

Keys are those the edge maps put on the wire (edge/simulate, the Modbus and serial maps). Display names live in the
gettext catalogs as metric.<key> (cloud/locale), severities as severity.<name>; a metric not listed there keeps its
key as its name, since that is all there is to say about it.
"""

from __future__ import annotations

from cloud.i18n import DEFAULT_LANGUAGE, translate

# The unit of each known metric ("" for counts, codes and switches); a reading that arrives without one gets this.
METRICS: dict[str, str] = {
    "reaction_disk_temp": "°C",
    "incubator_temp": "°C",
    "reagent_fridge_temp": "°C",
    "reaction_disk_setpoint": "°C",
    "wash_pressure": "kPa",
    "sample_probe_pressure": "kPa",
    "ise_na_mv": "mV",
    "vacuum": "kPa",
    "water_conductivity": "µS/cm",
    "pressure_offset": "Pa",
    "lamp_hours": "h",
    "lamp_intensity": "%",
    "reagent_r1_level": "%",
    "reagent_r2_level": "%",
    "cuvette_blank": "mAbs",
    "uptime": "s",
    "sample_count": "",
    "test_count": "",
    "error_code": "",
    "error_count": "",
    "alarm": "",
    "running": "",
    "cover_closed": "",
    "maintenance_mode": "",
    "calibrating": "",
    "reagent_lot": "",
    "reagent_r1_lot": "",
    "reagent_r2_lot": "",
    "fridge_compressor_on": "",
    "firmware": "",
    "serial_number": "",
    "device_clock": "",
}
METRIC_UNITS = {key: unit for key, unit in METRICS.items() if unit}
# Switches (1 on, 0 off): a page says yes or no rather than 1 or 0.
SWITCHES = frozenset({"alarm", "running", "cover_closed", "maintenance_mode", "calibrating", "fridge_compressor_on"})
# The instrument's own clock, in milliseconds since 1970: a page shows it as a time of day, not a 13-digit number.
CLOCKS_MS = frozenset({"device_clock"})
# ASCII spellings gateways send for units that have their own signs (an analyzer's "uS/cm" is µS/cm).
UNIT_SIGNS = {"uS/cm": "µS/cm", "us/cm": "µS/cm", "uL": "µL", "ul": "µL", "um": "µm", "umol/L": "µmol/L",
              "degC": "°C", "deg C": "°C", "ohm": "Ω", "Ohm": "Ω"}
# Units that only say "a number of things": a page shows the number alone (a gateway sending "count" put raw
# English next to it).
PLAIN_COUNT_UNITS = frozenset({"count", "counts", "cnt", "1"})


def display_unit(metric: str, unit: str | None) -> str:
    """The unit a page shows beside a metric's values: the reading's own, else the catalog's; none for a count."""
    if unit and unit.strip().lower() in PLAIN_COUNT_UNITS:
        return ""
    if metric in CLOCKS_MS:  # shown as a time of day, which carries no unit
        return ""
    shown = unit or METRIC_UNITS.get(metric, "")
    return UNIT_SIGNS.get(shown, shown)


def metric_label(metric: str, language: str = DEFAULT_LANGUAGE) -> str:
    """A metric's display name in the language; an unknown metric keeps its key (it is all there is)."""
    key = f"metric.{metric}"
    label = translate(key, language)
    return metric if label == key else label


def severity_label(severity: str, language: str = DEFAULT_LANGUAGE) -> str:
    """An alert severity (warning, major, critical) in words."""
    key = f"severity.{severity}"
    label = translate(key, language)
    return severity if label == key else label

"""Pre-check checklists, pure: which checks an engineer runs for an alert, by the device's category and the metric.

A metric falls into a family by its name (temperature, pressure, optics, water, else the general family); the
list is the family's list for the device's category if there is one, else the family's general list. Texts are
English keys translated by cloud/i18n.py; codes are stable, so two alerts on one ticket never repeat a check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One checklist item: a stable code and its text (an English key of the UI catalog)."""

    code: str
    text: str


QC = Check("qc.last_run", "Review the QC results of the last run")
FAN = Check("temp.fan_filter", "Check the cooling fan and clean or replace the air filter")
ROOM = Check("temp.room", "Check the room temperature and the air flow around the analyzer")
ALARM_LOG = Check("general.alarm_log", "Check the analyzer's alarm and error log since the alert started")

# (family, words in the metric name that put it there), first match wins.
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("temperature", ("temp", "thermo", "heater", "fridge", "incubat")),
    ("pressure", ("pressure", "vacuum", "kpa", "flow", "pump")),
    ("optics", ("lamp", "cuvette", "absorb", "photometer", "optic", "blank")),
    ("water", ("water", "conductivity", "purif")),
)

# (family, category or None for every category) -> the checks, in the order the engineer runs them.
CHECKLISTS: dict[tuple[str, str | None], tuple[Check, ...]] = {
    ("temperature", None): (
        Check("temp.reference", "Check the temperature at the alerting point against the reference thermometer"),
        FAN, ROOM, QC),
    ("temperature", "chemistry"): (
        Check("temp.reaction_disk",
              "Check the incubator / reaction disk temperature against the reference thermometer"),
        Check("temp.bath", "Check the incubation bath fluid level and its circulation"),
        FAN, QC),
    ("temperature", "immunoassay"): (
        Check("temp.incubator", "Check the incubator temperature against the reference thermometer"),
        Check("temp.reagent_cooling", "Check the reagent compartment cooling"),
        FAN, QC),
    ("pressure", None): (
        Check("pressure.gauge", "Check the vacuum / pressure reading against the service gauge"),
        Check("pressure.leaks", "Check tubing, valves and seals for leaks or kinks"),
        Check("pressure.containers", "Check the wash solution and waste containers"),
        Check("pressure.prime", "Run a wash / prime cycle and watch for air bubbles"),
        QC),
    ("optics", None): (
        Check("optics.lamp", "Check the lamp hours and intensity against the replacement limit"),
        Check("optics.blank", "Run a cuvette blank / photometer check"),
        Check("optics.clean", "Clean the cuvettes and the optical path as the manual describes"),
        QC),
    ("water", None): (
        Check("water.purifier", "Compare the water conductivity with the purifier's own display"),
        Check("water.filters", "Check the purifier's filters and the water supply"),
        QC),
    ("general", None): (
        Check("general.display", "Compare the alerting reading with the analyzer's own display"),
        ALARM_LOG,
        Check("general.inspect", "Inspect the module for leaks, unusual noises and loose connections"),
        QC),
    ("general", "blood_gas"): (
        Check("general.display", "Compare the alerting reading with the analyzer's own display"),
        Check("blood_gas.calibration", "Run a calibration and check the electrodes and sensor cassette"),
        ALARM_LOG, QC),
}


def family_of(metric: str) -> str:
    """The family of a metric, by the words in its name."""
    name = metric.lower()
    for family, words in FAMILIES:
        if any(word in name for word in words):
            return family
    return "general"


def checklist_for(category: str | None, metric: str) -> tuple[str, tuple[Check, ...]]:
    """(the checklist's key, its checks) for an alert of metric on a device of category."""
    family = family_of(metric)
    if category is not None and (family, category) in CHECKLISTS:
        return f"{family}:{category}", CHECKLISTS[(family, category)]
    return f"{family}:*", CHECKLISTS[(family, None)]


def all_texts() -> tuple[str, ...]:
    """Every check's text once (the pages' translation lists)."""
    seen: dict[str, None] = {}
    for checks in CHECKLISTS.values():
        for check in checks:
            seen.setdefault(check.text, None)
    return tuple(seen)

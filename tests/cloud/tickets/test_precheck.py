"""Pre-check checklists (pure), the precheck transition's place in the table, and migration 0010."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.i18n import CATALOG, translate
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models
from cloud.tickets.checklists import CHECKLISTS, QC, all_texts, checklist_for, family_of
from cloud.tickets.models import PrecheckAnswer, PrecheckOutcome
from cloud.tickets.state import OPEN, Action, Party, Status, allowed_actions, next_status
from cloud.web.desk import JS_TEXTS

TABLES = {"precheck_task", "precheck_item"}
JS = Path(__file__).resolve().parents[3] / "cloud" / "web" / "static" / "js"


@pytest.mark.parametrize(("metric", "family"), [
    ("temp_c", "temperature"), ("reaction_disk_temp", "temperature"), ("incubator_temp", "temperature"),
    ("reagent_fridge_temp", "temperature"), ("vacuum", "pressure"), ("wash_pressure", "pressure"),
    ("pressure_kpa", "pressure"), ("lamp_intensity", "optics"), ("cuvette_blank", "optics"),
    ("water_conductivity", "water"), ("sample_count", "general"), ("pH", "general"),
])
def test_metrics_fall_into_families_by_their_names(metric: str, family: str) -> None:
    assert family_of(metric) == family


def test_the_checklist_follows_the_category_then_falls_back_to_the_familys_general_list() -> None:
    key, checks = checklist_for("chemistry", "reaction_disk_temp")
    assert key == "temperature:chemistry"
    assert checks[0].text == "Check the incubator / reaction disk temperature against the reference thermometer"
    assert [c.code for c in checks][-2:] == ["temp.fan_filter", "qc.last_run"]
    assert checklist_for("immunoassay", "incubator_temp")[0] == "temperature:immunoassay"
    assert checklist_for("hematology", "temp_c")[0] == "temperature:*"
    assert checklist_for(None, "vacuum")[0] == "pressure:*"
    assert checklist_for("blood_gas", "ph_drift")[0] == "general:blood_gas"
    assert checklist_for("molecular", "sample_count")[0] == "general:*"


def test_every_checklist_ends_with_the_qc_review_and_has_unique_codes_and_chinese_texts() -> None:
    for key, checks in CHECKLISTS.items():
        codes = [c.code for c in checks]
        assert len(set(codes)) == len(codes), key
        assert checks[-1] == QC, key
    for text in all_texts():
        assert translate(text, "zh-CN") != text, text


def test_the_precheck_action_resolves_from_any_open_state_for_the_engineer_and_the_desk_only() -> None:
    for status in OPEN:
        for party in (Party.assigned_engineer, Party.agent, Party.service_center, Party.admin):
            assert next_status(status, Action.precheck, frozenset({party})) == Status.resolved
        assert Action.precheck not in allowed_actions(status, frozenset({Party.reporter, Party.system}))
    assert Action.precheck not in allowed_actions(Status.resolved, frozenset(Party))


def test_migration_0010_matches_the_models_and_is_reversible(tmp_path) -> None:  # noqa: ANN001
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0010")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    later = ("ix_precheck_task_updated_at",)  # added by 0023 (the dashboards' incremental rollups)
    assert [d for d in diffs if "precheck" in repr(d) and not any(name in repr(d) for name in later)] == []
    assert TABLES <= set(inspect(engine).get_table_names())
    downgrade(engine, "0009")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine, "0010")
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_every_text_the_precheck_script_shows_is_declared_and_translated() -> None:
    used = set(re.findall(r"""\bt\(\s*["']([^"']+)["']\s*\)""", (JS / "precheck.js").read_text()))
    used |= set(re.findall(r"""showSheet\(\s*["']([^"']+)["']""", (JS / "engineer.js").read_text()))
    # keys built from values: the answers, the outcomes and their hints, the checks themselves
    used |= {f"precheck.{a.value}" for a in PrecheckAnswer}
    used |= {f"precheck.{o.value}{hint}" for o in PrecheckOutcome for hint in ("", ".hint")}
    used |= set(all_texts()) | {"action.precheck"}
    assert {"Finish pre-check", "Note", "Pre-check checklist"} <= used
    assert used - set(JS_TEXTS) == set()
    assert {key for key in used if key not in CATALOG["zh-CN"]} == set()

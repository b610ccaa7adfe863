"""The basic/advanced predictor: learns online which reports need an engineer on site, keeps everything it learned
in plain JSON, and on held-back generated history beats the base rate clearly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from cloud.profiles.history import FleetDevice, generate
from models.maintenance.onsite import MIN_SAMPLES, OnsitePredictor, Report, features, text_tokens


def test_text_is_learned_by_character_pairs_latin_words_and_a_fault_code_flag() -> None:
    assert text_tokens("LIS 传输失败 E-2041") == ["传输", "输失", "失败", "lis", "code"]
    assert text_tokens("") == []
    x = features(Report(text="漏液", device_category="chemistry", model="AU5800", source="wechat"))
    assert x["category=chemistry"] == 1 and x["model=au5800"] == 1 and x["source=reported"] == 1 and x["w=漏液"] == 1


def test_it_learns_which_reports_need_an_engineer_and_is_ready_after_enough_cases() -> None:
    model = OnsitePredictor()
    loud, quiet = Report(text="机械臂异响，撞针"), Report(text="请问质控怎么做")
    for i in range(MIN_SAMPLES):
        assert model.ready is False
        model.learn_one(loud if i % 2 == 0 else quiet, i % 2 == 0)
    assert model.ready and model.samples == MIN_SAMPLES and model.onsite == MIN_SAMPLES // 2
    for _ in range(100):
        model.learn_one(loud, True)
        model.learn_one(quiet, False)
    assert model.predict_one(loud) > 0.8 and model.predict_one(quiet) < 0.2


def test_its_state_is_json_and_restores_the_same_predictions() -> None:
    model = OnsitePredictor()
    for i in range(50):
        model.learn_one(Report(text=f"故障 {i % 3}", model="XN-1000", age_years=i / 10), i % 3 == 0)
    state = json.loads(json.dumps(model.to_state()))
    restored = OnsitePredictor.from_state(state)
    probe = Report(text="故障 0", model="XN-1000", age_years=2.0)
    assert restored.predict_one(probe) == model.predict_one(probe) and restored.samples == 50
    assert OnsitePredictor.from_state({"version": 0}).samples == 0 and OnsitePredictor.from_state(None).samples == 0


def _auc(scores: list[float], labels: list[bool]) -> float:
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_on_held_back_generated_history_it_ranks_on_site_cases_well_above_chance() -> None:
    fleet = [FleetDevice(id=i, hospital_id=i % 6, category=("chemistry", "hematology", "immunoassay")[i % 3],
                         model=("AU5800", "XN-1000", "cobas e 801", "BS-2000M")[i % 4],
                         install_date=date(2012 + i % 12, 1, 1), condition=55 + i % 40) for i in range(80)]
    end = datetime(2026, 12, 1, tzinfo=UTC)
    cases = generate(fleet, start=end - timedelta(days=365), end=end, seed=3)
    by_id = {d.id: d for d in fleet}
    reports = [(Report(text=c.description, device_category=by_id[c.device_id].category,
                       model=by_id[c.device_id].model, source=c.source, alert_metric=c.alert_metric,
                       urgency=c.urgency), c.tier == "on_site") for c in cases]
    split = int(len(reports) * 0.8)
    model = OnsitePredictor()
    for report, onsite in reports[:split]:
        model.learn_one(report, onsite)
    held = reports[split:]
    auc = _auc([model.predict_one(r) for r, _ in held], [y for _, y in held])
    assert len(held) > 100 and auc > 0.7

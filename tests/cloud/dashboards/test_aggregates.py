"""The dashboard numbers of a hand-built history (tests/cloud/dashboards/history.py), worked out on paper, from
the raw tickets and from the monthly rollups alike, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cloud.dashboards import aggregates as agg
from cloud.dashboards import charts, device_time, rollups, sources
from cloud.dashboards.aggregates import Dimension, Drill, Filters
from cloud.errors import Invalid
from cloud.registry.models import Device, DeviceGroup
from cloud.tickets.models import Ticket
from cloud.tickets.state import Status
from tests.cloud.dashboards.history import NOW, SHANGHAI_JAN, SHANGHAI_MAR, History, build_history
from tests.cloud.world import World

SOURCES = ["raw", "rollup"]
JAN_FEB_HOURS = (31 + 28) * 24  # in-service hours of one device over January and February
OPEN_T6_HOURS = 13 * 24  # t6 reported 02-25 00:00 UTC, still open at NOW (03-10 00:00 UTC)


@pytest.fixture
def history(db: Session, world: World) -> History:
    return build_history(db, world)


def _a(world: World, **more) -> Filters:  # noqa: ANN003
    return Filters(start=SHANGHAI_JAN, end=SHANGHAI_MAR, hospital_ids=(world.hospital_a,), **more)


@pytest.mark.parametrize("source", SOURCES)
def test_the_numbers_of_hospital_a_over_january_and_february(db: Session, world: World, history: History,
                                                             source: str) -> None:
    m = agg.metrics(db, _a(world), now=NOW, source=source)
    # t1 t2 t3 t4 t5 t6 t7 t10; t8 (merged), t0 (December local time) and b1 (hospital B) are not counted.
    assert m.tickets == 8
    assert m.reports == 5  # t1 t2 t5 t6 t7: a person reported them
    assert m.faults == 6  # t1 t2 t4 t5 t6 t10: t3 was a false alarm, t7 withdrawn
    assert m.devices == 4 and m.device_months == pytest.approx(8.0)  # four devices, two whole months
    assert m.failure_rate == pytest.approx(6 / 8)
    assert m.repair_rate == pytest.approx(5 / 8)
    assert m.repaired == 5 and m.repair_hours == pytest.approx(10 + 30 + 20 + 1 + 3)
    assert m.mttr_hours == pytest.approx(64 / 5)
    assert m.open_faults == 1 and m.downtime_hours == pytest.approx(64 + OPEN_T6_HOURS)
    assert m.service_hours == pytest.approx(4 * JAN_FEB_HOURS)
    assert m.mtbf_hours == pytest.approx((4 * JAN_FEB_HOURS - (64 + OPEN_T6_HOURS)) / 6)
    # Resolved at least once: t1 t2 t4 t5 t10; t2 was reopened.
    assert (m.ftf, m.ftf_base) == (4, 5) and m.ftf_rate == pytest.approx(0.8)
    # First response in 30 min: t1 t3 t4 t10 met; t2 late and t6 overdue now; t5 (self-served), t7 never needed one.
    assert (m.fr_met, m.fr_late) == (4, 2) and m.fr_sla == pytest.approx(4 / 6)
    # Resolution in 24 h: t1 t3 t4 t5 t10 met; t2 took 30 h, t6 is overdue.
    assert (m.res_met, m.res_late) == (5, 2) and m.res_sla == pytest.approx(5 / 7)
    assert (m.basic, m.remote, m.on_site, m.solved) == (1, 3, 2, 6)
    assert m.self_service_rate == pytest.approx(1 / 6) and m.on_site_share == pytest.approx(2 / 6)
    assert m.predictive == 3 and m.predictive_share == pytest.approx(3 / 8)
    assert (m.pred_confirmed, m.pred_false) == (2, 1) and m.predictive_precision == pytest.approx(2 / 3)
    assert m.rated == 2 and m.rating == pytest.approx(4.0) and m.rating_speed == pytest.approx(3.5)


@pytest.mark.parametrize("source", SOURCES)
def test_the_monthly_trend_counts_each_ticket_in_its_local_month(db: Session, world: World, history: History,
                                                                 source: str) -> None:
    jan, feb = agg.trend(db, _a(world), now=NOW, source=source)
    assert (jan.month, feb.month) == (date(2026, 1, 1), date(2026, 2, 1))
    # t7 was reported on 12-31 17:00 UTC, which is January 1st in Shanghai.
    assert (jan.tickets, jan.faults, jan.repaired) == (4, 3, 3)  # t1 t2 t7 t10
    assert jan.mttr_hours == pytest.approx((10 + 30 + 3) / 3)
    assert jan.device_months == pytest.approx(4.0) and jan.failure_rate == pytest.approx(3 / 4)
    assert (feb.tickets, feb.faults, feb.repaired) == (4, 3, 2)  # t3 t4 t5 t6
    assert feb.mttr_hours == pytest.approx((20 + 1) / 2)
    assert feb.predictive_precision == pytest.approx(1 / 2)  # t4 confirmed, t3 false
    assert feb.mtbf_hours == pytest.approx((4 * 28 * 24 - (21 + OPEN_T6_HOURS)) / 3)


@pytest.mark.parametrize("source", SOURCES)
def test_breakdowns_by_age_band_device_and_origin(db: Session, world: World, history: History,
                                                   source: str) -> None:
    bands = {m.key: m for m in agg.breakdown(db, _a(world), Dimension.age_band, now=NOW, source=source)}
    assert {k: (m.tickets, m.faults) for k, m in bands.items()} == {
        "0-1": (2, 2), "8+": (2, 1), "unknown": (1, 1), "3-5": (3, 2)}
    # Each band had one device for the two months.
    assert bands["0-1"].device_months == pytest.approx(2.0) and bands["0-1"].failure_rate == pytest.approx(1.0)
    assert bands["3-5"].label == "3–5 年"
    origins = {m.key: m for m in agg.breakdown(db, _a(world), Dimension.origin, now=NOW, source=source)}
    assert (origins["predictive"].tickets, origins["reported"].tickets) == (3, 5)
    devices = agg.breakdown(db, _a(world), Dimension.device, now=NOW)
    a0, a1, a2, a3 = (str(d) for d in world.devices_a)
    assert {m.key: m.faults for m in devices} == {a0: 2, a1: 1, a2: 1, a3: 2}
    assert [m.key for m in devices][:2] == [a3, a0]  # most faults first, then most tickets (t7 on a3)


@pytest.mark.parametrize("source", SOURCES)
def test_fault_distribution_names_categories_and_tiers(db: Session, world: World, history: History,
                                                      source: str) -> None:
    rows = {r.code: r for r in agg.faults(db, _a(world), now=NOW, source=source)}
    assert {code: r.faults for code, r in rows.items()} == {
        "optics_lamp": 1, "reagent_fluidics": 1, "sample_probe": 1, "temperature_control": 1, "operator_error": 1,
        "": 1}
    assert rows["optics_lamp"].label == "光学 / 光源" and rows["optics_lamp"].on_site == 1
    assert rows["operator_error"].basic_fault and rows["operator_error"].basic == 1
    assert rows[""].label == "未分类" and rows[""].share == pytest.approx(1 / 6)
    english = {r.code: r.label for r in agg.faults(db, _a(world), language="en", now=NOW, source=source)}
    assert english["temperature_control"] == "Temperature control"
    over_time = agg.fault_trend(db, _a(world), now=NOW, source=source)
    assert sorted((r.month, r.code) for r in over_time if r.month == date(2026, 1, 1)) == [
        (date(2026, 1, 1), "optics_lamp"), (date(2026, 1, 1), "reagent_fluidics"), (date(2026, 1, 1), "sample_probe")]


@pytest.mark.parametrize("source", SOURCES)
def test_engineer_workload_and_ratings(db: Session, world: World, history: History, source: str) -> None:
    (row,) = agg.engineers(db, _a(world), now=NOW, source=source)
    assert (row.engineer_id, row.tickets, row.on_site, row.repaired) == (history.engineer_id, 2, 2, 2)
    assert row.mttr_hours == pytest.approx(15.0) and row.rating == pytest.approx(5.0)
    everywhere = agg.engineers(db, Filters(start=SHANGHAI_JAN, end=SHANGHAI_MAR), now=NOW, source=source)
    assert everywhere[0].tickets == 3  # b1 in hospital B too


def test_hospital_breakdown_keeps_hospitals_apart(db: Session, world: World, history: History) -> None:
    rows = {m.key: m for m in agg.breakdown(db, Filters(start=SHANGHAI_JAN, end=SHANGHAI_MAR), Dimension.hospital,
                                            now=NOW)}
    assert rows[str(world.hospital_a)].tickets == 8 and rows[str(world.hospital_b)].tickets == 1
    assert rows[str(world.hospital_b)].device_months == pytest.approx(4.0)  # two devices, two months
    assert rows[str(world.hospital_a)].label == "上海交通大学医学院附属瑞金医院"


def test_drill_down_lists_the_tickets_behind_a_number(db: Session, world: World, history: History) -> None:
    t = history.tickets

    def ids(what: Drill, **more) -> set[int]:  # noqa: ANN003
        page = agg.drill(db, _a(world, **more), what, now=NOW, limit=100)
        assert page.total == len(page.items)
        return {row.id for row in page.items}

    assert ids(Drill(measure="faults")) == {t["t1"], t["t2"], t["t4"], t["t5"], t["t6"], t["t10"]}
    assert ids(Drill(measure="fr_late")) == {t["t2"], t["t6"]}
    assert ids(Drill(measure="pred_false")) == {t["t3"]}
    assert ids(Drill(measure="not_ftf")) == {t["t2"]}
    assert ids(Drill(measure="tickets", month=date(2026, 1, 1))) == {t["t1"], t["t2"], t["t7"], t["t10"]}
    assert ids(Drill(measure="faults", by=Dimension.age_band, key="3-5")) == {t["t6"], t["t10"]}
    assert ids(Drill(measure="faults", fault_category="")) == {t["t6"]}
    assert ids(Drill(measure="tickets", engineer_id=history.engineer_id)) == {t["t1"], t["t4"]}
    assert ids(Drill(measure="open")) == {t["t6"]}
    row = agg.drill(db, _a(world), Drill(measure="on_site", month=date(2026, 1, 1)), now=NOW).items[0]
    assert (row.number, row.fault_category, row.tier, row.repair_hours) == ("DASH-t1", "光学 / 光源", "on_site", 10.0)


def test_the_rollups_follow_changes_to_tickets(db: Session, world: World, history: History) -> None:
    assert agg.metrics(db, _a(world), now=NOW, source="rollup").faults == 6
    db.commit()
    ticket = db.get(Ticket, history.tickets["t7"])
    assert ticket is not None
    ticket.status = Status.closed  # the withdrawn report turns out to have been a fault after all
    ticket.updated_at = datetime.now(UTC) + timedelta(seconds=1)
    db.commit()
    assert agg.metrics(db, _a(world), now=NOW, source="rollup").faults == 7
    assert rollups.refresh(db) == 0  # nothing new since
    assert agg.metrics(db, _a(world), now=NOW, source="raw").faults == 7


def test_the_background_job_keeps_the_running_months_device_time_so_requests_need_not(
        app, db: Session, world: World, history: History) -> None:  # noqa: ANN001
    # Redoing the running month's device time takes seconds on 50,000 devices: the job does it hourly, and a
    # request leaves it to the job for half an hour longer; only then (no job running) does it itself.
    rollups.refresh(db)
    db.commit()
    state = db.get(rollups.RollupState, 1)
    assert state is not None and state.exposure_current_at is not None

    def age(minutes: int) -> datetime:
        assert state is not None
        state.exposure_current_at = datetime.now(UTC) - timedelta(minutes=minutes)
        db.commit()
        return state.exposure_current_at

    stamped = age(70)
    agg.metrics(db, _a(world), source="rollup")
    db.commit()
    db.refresh(state)
    assert state.exposure_current_at == stamped  # the request left it to the job
    rollups.refresh_job(app.state.sessionmaker)  # the job, in its own transaction
    db.refresh(state)
    assert state.exposure_current_at > stamped + timedelta(minutes=69)
    stamped = age(100)
    agg.metrics(db, _a(world), source="rollup")
    db.commit()
    db.refresh(state)
    assert state.exposure_current_at > stamped + timedelta(minutes=99)  # no job for that long: the request did


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_request_answers_from_the_committed_rollups_while_a_refresh_holds_the_lock(
        app, db: Session, world: World, history: History, backend: str) -> None:  # noqa: ANN001
    assert agg.metrics(db, _a(world), now=NOW, source="rollup").faults == 6
    db.commit()
    ticket = db.get(Ticket, history.tickets["t7"])
    assert ticket is not None
    ticket.status = Status.closed  # a fault after all: the next refresh counts it
    ticket.updated_at = datetime.now(UTC) + timedelta(seconds=1)
    db.commit()
    with app.state.sessionmaker() as job:  # the background job, in the middle of its refresh
        job.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": rollups.ADVISORY_LOCK})
        with pytest.raises(rollups.RefreshBusy):
            rollups.refresh(db, wait=False)
        db.rollback()
        # Without waiting for it: the rollups as last committed (t7 not yet a fault), not the raw tickets.
        assert agg.metrics(db, _a(world), now=NOW).faults == 6
        db.rollback()
        job.rollback()
    assert agg.metrics(db, _a(world), now=NOW).faults == 7


def test_impossible_filters_say_why(db: Session, world: World) -> None:
    with pytest.raises(Invalid, match="end of the time range is before its start"):
        agg.metrics(db, Filters(start=SHANGHAI_MAR, end=SHANGHAI_JAN), now=NOW)
    with pytest.raises(Invalid, match="unknown age band"):
        agg.metrics(db, Filters(age_bands=("old",)), now=NOW)
    with pytest.raises(Invalid, match="outside the time range"):
        agg.drill(db, _a(world), Drill(month=date(2025, 1, 1)), now=NOW)


def test_an_empty_slice_has_zeros_and_no_rates(db: Session, world: World) -> None:
    m = agg.metrics(db, _a(world), now=NOW)
    assert (m.tickets, m.faults, m.devices) == (0, 0, 4)
    assert m.failure_rate == 0.0 and m.mttr_hours is None and m.fr_sla is None and m.predictive_precision is None
    assert [p.tickets for p in agg.trend(db, _a(world), now=NOW)] == [0, 0]


def test_profile_of_one_device(db: Session, world: World, history: History) -> None:
    profile = agg.profile(db, Filters(start=SHANGHAI_JAN, end=SHANGHAI_MAR, device_ids=(world.devices_a[0],)),
                          now=NOW)
    assert (profile.summary.tickets, profile.summary.faults, profile.summary.device_months) == (2, 2, 2.0)
    assert [r.code for r in profile.faults] == ["optics_lamp", "reagent_fluidics"]
    assert [p.faults for p in profile.trend] == [2, 0]


@pytest.mark.parametrize("by", [d for d in Dimension if d != Dimension.device])
def test_every_rollup_grain_agrees_with_the_raw_tickets(db: Session, world: World, history: History,
                                                       by: Dimension) -> None:
    everywhere = Filters(start=SHANGHAI_JAN, end=SHANGHAI_MAR)
    for filters in (everywhere, Filters(start=SHANGHAI_JAN, end=SHANGHAI_MAR, device_categories=("chemistry",)),
                    Filters(start=SHANGHAI_JAN, end=SHANGHAI_MAR, source=agg.Origin.predictive)):
        raw = [m.as_dict() for m in agg.breakdown(db, filters, by, now=NOW, source="raw")]
        rolled = [m.as_dict() for m in agg.breakdown(db, filters, by, now=NOW, source="rollup")]
        assert rolled == raw
    assert agg.trend(db, everywhere, now=NOW, source="rollup") == agg.trend(db, everywhere, now=NOW, source="raw")
    assert agg.faults(db, everywhere, now=NOW, source="rollup") == agg.faults(db, everywhere, now=NOW, source="raw")


def test_device_time_follows_the_registry(db: Session, world: World, history: History) -> None:
    assert agg.metrics(db, _a(world), now=NOW, source="rollup").device_months == pytest.approx(8.0)
    db.commit()
    device = db.get(Device, world.devices_a[2])
    assert device is not None
    # Installed on 2026-02-15 (00:00 UTC) after all: no January, and February from the 15th (14 of 28 days, less the
    # 8 hours February had already run in Shanghai time when that day began in UTC).
    device.install_date = date(2026, 2, 15)
    db.commit()
    feb_share = (14 * 24 - 8) / (28 * 24)
    rolled = agg.trend(db, _a(world), now=NOW, source="rollup")
    assert [m.device_months for m in rolled] == pytest.approx([3.0, 3.0 + feb_share])
    assert [m.device_months for m in agg.trend(db, _a(world), now=NOW, source="raw")] == pytest.approx(
        [3.0, 3.0 + feb_share])
    # t5 (02-15 02:00) was two hours after the install: the device was 0–1 years old.
    assert {m.key for m in agg.breakdown(db, _a(world), Dimension.age_band, now=NOW)} >= {"0-1"}


def _spread_filters() -> list[Filters]:
    """Filters over both hospitals that the coarse grains (and the fine rows by model) answer."""
    base = Filters(start=SHANGHAI_JAN, end=SHANGHAI_MAR)
    return [base, replace(base, models=("cobas c 702",)), replace(base, age_bands=("8+",)),
            replace(base, age_bands=("0-1", "unknown")), replace(base, device_categories=("chemistry",)),
            replace(base, source=agg.Origin.predictive)]


@pytest.mark.parametrize("by", [Dimension.department, Dimension.group, Dimension.hospital, Dimension.model])
def test_grains_under_model_and_age_filters_agree_with_the_raw_tickets(db: Session, world: World,
                                                                      history: History, by: Dimension) -> None:
    # Two of hospital A's devices stand in a line (a device group), so the group grains (n4, n8) hold rows.
    group = DeviceGroup(system_number="MG-T0001", hospital_id=world.hospital_a, department_id=world.dept_a,
                        name="流水线", compatible_models=[], tags=[])
    db.add(group)
    db.flush()
    for device_id in world.devices_a[:2]:
        device = db.get(Device, device_id)
        assert device is not None
        device.group_id = group.id
    db.commit()
    for filters in _spread_filters():
        raw = [m.as_dict() for m in agg.breakdown(db, filters, by, now=NOW, source="raw")]
        rolled = [m.as_dict() for m in agg.breakdown(db, filters, by, now=NOW, source="rollup")]
        assert rolled == raw, filters
    assert {m.key for m in agg.breakdown(db, _spread_filters()[1], Dimension.group, now=NOW)} == {str(group.id)}


def test_engineers_under_model_and_age_filters_agree_with_the_raw_tickets(db: Session, world: World,
                                                                          history: History) -> None:
    for filters in _spread_filters():
        raw = agg.engineers(db, filters, now=NOW, source="raw")
        assert agg.engineers(db, filters, now=NOW, source="rollup") == raw, filters
    # t1 (c 702, 0–1 years old) and t4 (c 502, 8+) were the engineer's in hospital A.
    assert [r.tickets for r in agg.engineers(db, _spread_filters()[2], now=NOW, source="rollup")] == [1]


def test_the_device_rollup_agrees_with_the_raw_tickets(db: Session, world: World, history: History) -> None:
    for filters in [_a(world), _a(world, models=("cobas c 702",)), _a(world, age_bands=("8+",)),
                    _a(world, source=agg.Origin.predictive), *_spread_filters()]:
        raw = [m.as_dict() for m in agg.breakdown(db, filters, Dimension.device, now=NOW, source="raw")]
        rolled = [m.as_dict() for m in agg.breakdown(db, filters, Dimension.device, now=NOW, source="rollup")]
        assert rolled == raw, filters
    # A changed ticket moves its device's row at the next refresh: t5 (a2) is cancelled, no fault any more.
    ticket = db.get(Ticket, history.tickets["t5"])
    assert ticket is not None
    ticket.status = Status.cancelled
    db.commit()
    rolled = {m.key: m.faults for m in agg.breakdown(db, _a(world), Dimension.device, now=NOW, source="rollup")}
    assert rolled == {m.key: m.faults for m in agg.breakdown(db, _a(world), Dimension.device, now=NOW, source="raw")}
    assert rolled[str(world.devices_a[2])] == 0


@pytest.mark.parametrize("source", SOURCES)
def test_a_page_of_the_device_breakdown_is_the_same_slice_of_the_whole_ranking(db: Session, world: World,
                                                                              history: History, source: str) -> None:
    # The page is ranked on faults and tickets alone and measured only for its members: every number of every
    # page must still equal the one in the whole list, in the same order.
    for filters in (_a(world), _a(world, models=("cobas c 702",)), *_spread_filters()):
        whole = [m.as_dict() for m in agg.breakdown(db, filters, Dimension.device, now=NOW, source=source)]
        pages = []
        for offset in range(0, len(whole) + 2, 2):
            rows, total = agg.breakdown_page(db, filters, Dimension.device, now=NOW, source=source, limit=2,
                                             offset=offset)
            assert total == len(whole), filters
            pages += [m.as_dict() for m in rows]
        assert pages == whole, filters
    first, total = agg.breakdown_page(db, _a(world), Dimension.device, now=NOW, source=source, limit=1)
    assert total == 4 and first[0].key == str(world.devices_a[3]) and first[0].faults == 2
    assert agg.breakdown_page(db, _a(world), Dimension.device, now=NOW, source=source, limit=5, offset=9) == ([], 4)


def test_device_time_per_device_in_one_query_agrees_with_the_monthly_sum(db: Session, world: World,
                                                                         history: History,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The device breakdown sums each device's time without a row per month, and names the devices from the same
    # query (and, on PostgreSQL, any others through one array of ids: MANY_IDS 0 takes that path here).
    monkeypatch.setattr(charts, "MANY_IDS", 0)
    device = db.get(Device, world.devices_a[2])
    assert device is not None
    device.install_date = date(2026, 2, 15)  # installed within the range
    db.commit()
    april = rollups.month_bounds(date(2026, 3, 1), "Asia/Shanghai")[1]
    for filters in (_a(world), Filters(start=SHANGHAI_JAN, end=april),
                    Filters(start=SHANGHAI_JAN + timedelta(days=3), end=SHANGHAI_MAR - timedelta(days=2))):
        plan = sources._plan(db, filters, now=NOW)
        monthly = device_time._exposure(db, plan, "device_id", per_month=False)
        summed, names = device_time._per_device(db, plan)
        assert set(summed) == set(monthly)
        for key, values in monthly.items():
            assert summed[key] == pytest.approx(values, rel=1e-12)
        by_id = agg.member_labels(db, Dimension.device, [key for key, in monthly], "zh-CN")
        assert by_id and {key: names[key] for key in by_id} == by_id
        assert all(m.label == names[m.key] for m in agg.breakdown(db, filters, Dimension.device, now=NOW))
    db.rollback()

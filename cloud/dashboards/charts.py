"""The dashboard's charts and tables: the metrics of a slice, its monthly trend, breakdowns by a dimension,
fault distributions, engineers' workload, and the names of dimension members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.dashboards.device_time import _exposure, _per_device
from cloud.dashboards.models import (
    MEASURE_COLUMNS,
    EngineerRollup,
    FaultRollup,
)
from cloud.dashboards.shapes import (
    DIMENSION_COLUMN,
    MAX_IDLE_DEVICES,
    Dimension,
    EngineerRow,
    FaultRow,
    Filters,
    Metrics,
    Origin,
    Series,
)
from cloud.dashboards.sources import (
    _facts,
    _grain,
    _key,
    _plan,
    _ranking_facts,
    _raw_source,
    _raw_source_open,
    _rollup_source,
    _source,
    _sum_rows,
)
from cloud.i18n import translate
from cloud.registry.models import Department, Device, DeviceGroup, Hospital
from cloud.tickets.models import FaultCategory

_BLANK = Metrics().__dict__


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _metrics(values: dict[str, float], exposure: list[float] | None) -> Metrics:
    """The Metrics of summed facts (MEASURES, OPEN_MEASURES; missing ones are 0) and [devices, device-months,
    service hours].

    Built as one dictionary rather than through the dataclass's __init__ and then attribute by attribute: a
    breakdown of 3,000 devices makes 3,000 of these, and the two-step way cost twice as much."""
    g = values.get
    tickets, reports, faults = int(g("tickets", 0.0)), int(g("reports", 0.0)), int(g("faults", 0.0))
    repaired, ftf_base, ftf = int(g("repaired", 0.0)), int(g("ftf_base", 0.0)), int(g("ftf", 0.0))
    fr_met, res_met, basic = int(g("fr_met", 0.0)), int(g("res_met", 0.0)), int(g("basic", 0.0))
    remote, on_site, predictive = int(g("remote", 0.0)), int(g("on_site", 0.0)), int(g("predictive", 0.0))
    pred_confirmed, pred_false = int(g("pred_confirmed", 0.0)), int(g("pred_false", 0.0))
    rated, repair_s = g("rated", 0.0), g("repair_s", 0.0)
    fr_late = int(g("fr_late", 0.0) + g("fr_overdue", 0.0))
    res_late = int(g("res_late", 0.0) + g("res_overdue", 0.0))
    repair_hours = repair_s / 3600.0
    downtime_hours = (repair_s + g("open_down_s", 0.0)) / 3600.0
    solved = basic + remote + on_site
    basic_share = _ratio(basic, solved)
    m = Metrics.__new__(Metrics)
    d = m.__dict__
    d.update(_BLANK)  # every field, with its default
    d.update(tickets=tickets, reports=reports, faults=faults, repaired=repaired,
                repair_hours=repair_hours, downtime_hours=downtime_hours, open_faults=int(g("open_faults", 0.0)),
                mttr_hours=_ratio(repair_hours, repaired), ftf_base=ftf_base, ftf=ftf, ftf_rate=_ratio(ftf, ftf_base),
                fr_met=fr_met, fr_late=fr_late, fr_sla=_ratio(fr_met, fr_met + fr_late), res_met=res_met,
                res_late=res_late, res_sla=_ratio(res_met, res_met + res_late), basic=basic, remote=remote,
                on_site=on_site, solved=solved, basic_share=basic_share, remote_share=_ratio(remote, solved),
                on_site_share=_ratio(on_site, solved), self_service_rate=basic_share, predictive=predictive,
                predictive_share=_ratio(predictive, tickets), pred_confirmed=pred_confirmed, pred_false=pred_false,
                predictive_precision=_ratio(pred_confirmed, pred_confirmed + pred_false), rated=int(rated),
                rating=_ratio(g("rating_sum", 0.0), rated), rating_speed=_ratio(g("speed_sum", 0.0), g("speed_n", 0.0)),
                rating_attitude=_ratio(g("attitude_sum", 0.0), g("attitude_n", 0.0)),
                rating_skill=_ratio(g("skill_sum", 0.0), g("skill_n", 0.0)))
    if exposure is not None:
        device_months, service_hours = exposure[1], exposure[2]
        d.update(devices=int(round(exposure[0])), device_months=device_months, service_hours=service_hours,
                 failure_rate=_ratio(faults, device_months), repair_rate=_ratio(reports, device_months),
                 mtbf_hours=_ratio(max(service_hours - downtime_hours, 0.0), faults))
    return m


def metrics(session: Session, filters: Filters, *, now: datetime | None = None, source: str = "auto") -> Metrics:
    """The numbers of the whole filtered slice (the dashboard's cards, the profile's summary)."""
    plan = _plan(session, filters, now=now, source=source)
    values = _facts(session, plan, ()).get((), {})
    return _metrics(values, _exposure(session, plan, None, per_month=False).get((), [0.0, 0.0, 0.0]))


def trend(session: Session, filters: Filters, *, now: datetime | None = None, source: str = "auto"
          ) -> list[Metrics]:
    """The numbers per month of the range (every month present, empty ones as zeros): the trend charts."""
    plan = _plan(session, filters, now=now, source=source)
    values = _facts(session, plan, ("bucket",))
    exposure = _exposure(session, plan, None, per_month=True)
    out = []
    for index, (month, _, _) in enumerate(plan.months):
        m = _metrics(values.get((index,), {}), exposure.get((index,), [0.0, 0.0, 0.0]))
        m.month, m.key, m.label = month, month.strftime("%Y-%m"), month.strftime("%Y-%m")
        m.devices = None
        out.append(m)
    return out


def breakdown(session: Session, filters: Filters, by: Dimension, *, language: str = "zh-CN",
              now: datetime | None = None, limit: int | None = None, source: str = "auto") -> list[Metrics]:
    """The numbers per member of a dimension (the profile per hospital, model, age band, …), most faults first."""
    return breakdown_page(session, filters, by, language=language, now=now, limit=limit, source=source)[0]


def breakdown_page(session: Session, filters: Filters, by: Dimension, *, language: str = "zh-CN",
                   now: datetime | None = None, limit: int | None = None, offset: int = 0, source: str = "auto"
                   ) -> tuple[list[Metrics], int]:
    """One page of the breakdown (most faults, then most tickets, then by name) and how many members it has.

    Members are ranked on their summed facts before any Metrics is built: a large hospital's 2,750 devices made
    2,750 Metrics (a third of the answer's time) for a table that shows a hundred."""
    column = DIMENSION_COLUMN[Dimension(by)]
    plan = _plan(session, filters, now=now, source=source)  # per device: the device rollup
    # A page of devices is ranked on two sums and measured in full for its members only (thousands of devices).
    paged = by == Dimension.device and limit is not None
    values = _ranking_facts(session, plan, column) if paged else _facts(session, plan, (column,))
    names: dict[str, str] | None = None
    if by == Dimension.device and not plan.filters.age_bands:  # device time and names in one query
        exposure, names = _per_device(session, plan)
    else:
        exposure = _exposure(session, plan, column, per_month=False) if by != Dimension.origin else {}
    keys = {k[0] for k in values}
    if by != Dimension.origin and not (by == Dimension.device and len(exposure) > MAX_IDLE_DEVICES):
        keys |= {k[0] for k in exposure}  # members without tickets too (thousands of quiet devices: not)
    if by == Dimension.origin:
        keys |= {o.value for o in Origin if not filters.source or filters.source == o}
    if by not in (Dimension.department, Dimension.category, Dimension.model):
        keys.discard(None)
    if names is None:
        labels = member_labels(session, by, keys, language)
    else:  # devices with tickets here that have moved out of the filters since are named by id
        labels = {**names, **member_labels(session, by, [k for k in keys if _key(k) not in names], language)}
    none_label = translate("(none)", language)

    def label_of(member: Any) -> str:
        return labels.get(_key(member), _key(member) or none_label)

    def rank(member: Any) -> tuple[float, float, str]:
        facts = values.get((member,))
        return (-facts.get("faults", 0.0), -facts.get("tickets", 0.0), label_of(member)) if facts \
            else (0.0, 0.0, label_of(member))

    ranked = sorted(keys, key=rank)
    page = ranked[offset:offset + limit] if limit else ranked[offset:]
    whole = _exposure(session, plan, None, per_month=False).get((), [0.0, 0.0, 0.0]) \
        if by == Dimension.origin else None
    if paged:
        values = _facts(session, plan, (column,), members=[m for m in page if m is not None])
    rows = []
    for member in page:
        share = whole if whole is not None else exposure.get((member,), [0.0, 0.0, 0.0])
        m = _metrics(values.get((member,), {}), share)
        m.key, m.label = _key(member), label_of(member)
        rows.append(m)
    return rows, len(ranked)


def breakdown_trend(session: Session, filters: Filters, by: Dimension, *, top: int = 8, language: str = "zh-CN",
                    now: datetime | None = None, source: str = "auto") -> list[Series]:
    """The monthly numbers of the `top` members with the most faults (a 'failure rate per model' chart)."""
    by = Dimension(by)
    column = DIMENSION_COLUMN[by]
    plan = _plan(session, filters, now=now, needs_raw=by == Dimension.device, source=source)
    values = _facts(session, plan, (column, "bucket"))
    totals: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (member, _index), v in values.items():
        totals[member][0] += v.get("faults", 0.0)
        totals[member][1] += v.get("tickets", 0.0)
    # The leaders: most faults, then most tickets; members without a value (no department, …) lead nothing.
    ranked = sorted((m for m in totals if m is not None), key=lambda m: (-totals[m][0], -totals[m][1], str(m)))
    leaders = ranked[:top]
    if not leaders:
        return []
    if by == Dimension.origin:
        whole = _exposure(session, plan, None, per_month=True)
        exposure = {(o.value, i): e for o in Origin for (i,), e in whole.items()}
    else:
        # Only the leaders' device time (8 of 200 hospitals' months, not all of them).
        exposure = _exposure(session, plan, column, per_month=True,
                             device_ids=leaders if by == Dimension.device else None,
                             members=leaders if by not in (Dimension.device, Dimension.age_band) else None)
    labels = member_labels(session, by, leaders, language)
    series = []
    for member in leaders:
        points = []
        for index, (month, _, _) in enumerate(plan.months):
            m = _metrics(values.get((member, index), {}), exposure.get((member, index), [0.0, 0.0, 0.0]))
            m.month, m.key, m.label = month, month.strftime("%Y-%m"), month.strftime("%Y-%m")
            m.devices = None
            points.append(m)
        key = str(member)
        series.append(Series(key=key, label=labels.get(key, key), points=points))
    return series


def _raw_member(by: Dimension, key: str | None) -> Any:
    if key is None:
        return None
    if by in (Dimension.hospital, Dimension.department, Dimension.group, Dimension.device):
        return int(key)
    return key


# ---------------------------------------------------------------------------------------------------- faults


def fault_names(session: Session, language: str) -> dict[tuple[str | None, str], tuple[str, bool]]:
    """(device category or None, code) → (display name in language, basic) for the whole managed list.

    A bulk stand-in for cloud/tickets/faults.fault_label, which names one code at a time.
    """
    out: dict[tuple[str | None, str], tuple[str, bool]] = {}
    for row in session.execute(select(FaultCategory)).scalars():
        name = row.name_en if language == "en" and row.name_en else row.name_zh
        out[(row.device_category, row.code)] = (name, bool(row.basic))
    return out


def fault_label_of(names: dict[tuple[str | None, str], tuple[str, bool]], code: str, category: str | None,
                   language: str) -> tuple[str, bool]:
    """The name of a code for a device category (its own entry first, then the one for every category)."""
    if not code:
        return translate("Not categorised", language), False
    found = names.get((category, code)) or names.get((None, code))
    if found is None:
        found = next((v for (c, k), v in names.items() if k == code), None)
    return found or (translate("Unknown fault category", language), False)


def faults(session: Session, filters: Filters, *, by: Dimension | None = None, language: str = "zh-CN",
           now: datetime | None = None, source: str = "auto") -> list[FaultRow]:
    """Faults per fault category (and per member of `by`), with the tier that solved them; most frequent first."""
    plan = _plan(session, filters, now=now, needs_raw=by == Dimension.device, source=source)
    column = DIMENSION_COLUMN[Dimension(by)] if by else None
    group = [column] if column else []
    single_category = filters.device_categories[0] if len(filters.device_categories) == 1 else None
    grain = _grain(plan, FaultRollup, [*group, "fault_category"])
    if grain is not None:
        src = _rollup_source(plan, FaultRollup, grain)
        rows = _sum_rows(session, src, [*group, "fault_category"], ("faults", "basic", "remote", "on_site"))
    else:
        raw = _raw_source(plan)
        stmt = select(*[raw.c[g] for g in group], raw.c.fault_category, func.sum(raw.c.faults).label("faults"),
                      func.sum(raw.c.basic).label("basic"), func.sum(raw.c.remote).label("remote"),
                      func.sum(raw.c.on_site).label("on_site")).where(raw.c.faults == 1).group_by(
            *[raw.c[g] for g in group], raw.c.fault_category)
        rows = [dict(r._mapping) for r in session.execute(stmt)]
    names = fault_names(session, language)
    totals: dict[Any, int] = defaultdict(int)
    for row in rows:
        totals[row[column] if column else None] += int(row["faults"] or 0)
    out = []
    for row in rows:
        if not row["faults"]:
            continue
        member = row[column] if column else None
        label, basic = fault_label_of(names, row["fault_category"], single_category, language)
        out.append(FaultRow(code=row["fault_category"], label=label, basic_fault=basic, faults=int(row["faults"]),
                            share=_ratio(int(row["faults"]), totals[member]), basic=int(row["basic"] or 0),
                            remote=int(row["remote"] or 0), on_site=int(row["on_site"] or 0), key=_key(member)))
    out.sort(key=lambda r: (r.key or "", -r.faults, r.label))
    return out


def fault_trend(session: Session, filters: Filters, *, language: str = "zh-CN", now: datetime | None = None,
                source: str = "auto") -> list[FaultRow]:
    """Faults per fault category per month (FaultRow.month set), for the 'distribution over time' chart."""
    plan = _plan(session, filters, now=now, source=source)
    grain = _grain(plan, FaultRollup, ["fault_category"])
    if grain is not None:
        src = _rollup_source(plan, FaultRollup, grain)
        rows = _sum_rows(session, src, ["bucket", "fault_category"], ("faults", "basic", "remote", "on_site"))
    else:
        raw = _raw_source(plan)
        rows = [dict(r._mapping) for r in session.execute(
            select(raw.c.bucket, raw.c.fault_category, func.sum(raw.c.faults).label("faults"),
                   func.sum(raw.c.basic).label("basic"), func.sum(raw.c.remote).label("remote"),
                   func.sum(raw.c.on_site).label("on_site"))
            .where(raw.c.faults == 1).group_by(raw.c.bucket, raw.c.fault_category))]
    names = fault_names(session, language)
    single_category = filters.device_categories[0] if len(filters.device_categories) == 1 else None
    out = []
    for row in rows:
        if not row["faults"] or row["bucket"] < 0:
            continue
        label, basic = fault_label_of(names, row["fault_category"], single_category, language)
        out.append(FaultRow(code=row["fault_category"], label=label, basic_fault=basic, faults=int(row["faults"]),
                            basic=int(row["basic"] or 0), remote=int(row["remote"] or 0),
                            on_site=int(row["on_site"] or 0), month=plan.months[int(row["bucket"])][0]))
    out.sort(key=lambda r: (r.month or date.min, -r.faults))
    return out


# ---------------------------------------------------------------------------------------------------- engineers


def engineers(session: Session, filters: Filters, *, now: datetime | None = None, source: str = "auto"
              ) -> list[EngineerRow]:
    """Per engineer: tickets dispatched to them, solved on site, MTTR, still open, ratings; busiest first."""
    plan = _plan(session, filters, now=now, source=source)
    src = _source(plan, EngineerRollup, ["engineer_id"])
    stmt = select(src.c.engineer_id, *[func.coalesce(func.sum(src.c[m]), 0).label(m) for m in MEASURE_COLUMNS]
                  ).where(src.c.engineer_id.is_not(None)).group_by(src.c.engineer_id)
    rows = {int(r.engineer_id): {m: float(r._mapping[m] or 0) for m in MEASURE_COLUMNS}
            for r in session.execute(stmt)}
    open_src = _raw_source_open(plan)
    open_counts: dict[int, int] = dict(session.execute(
        select(open_src.c.engineer_id, func.count()).where(open_src.c.engineer_id.is_not(None))
        .group_by(open_src.c.engineer_id)).all())
    names = {u.id: u.full_name or u.username for u in session.execute(
        select(User).where(User.id.in_(set(rows) | set(open_counts)))).scalars()}
    out = []
    for engineer_id in set(rows) | {int(k) for k in open_counts}:
        v = defaultdict(float, rows.get(engineer_id, {}))
        out.append(EngineerRow(
            engineer_id=engineer_id, name=names.get(engineer_id, f"#{engineer_id}"), tickets=int(v["tickets"]),
            on_site=int(v["on_site"]), repaired=int(v["repaired"]),
            mttr_hours=_ratio(v["repair_s"] / 3600.0, v["repaired"]), open_now=int(open_counts.get(engineer_id, 0)),
            rated=int(v["rated"]), rating=_ratio(v["rating_sum"], v["rated"]),
            ftf_rate=_ratio(v["ftf"], v["ftf_base"])))
    out.sort(key=lambda r: (-r.tickets, r.name))
    return out


# ---------------------------------------------------------------------------------------------------- labels


MANY_IDS = 50  # more ids than this are sent to PostgreSQL as one array, not a parameter each


def _among(session: Session, column: Any, ids: list[int]) -> ColumnElement[bool]:
    """column IN ids; on PostgreSQL with many ids `= ANY(array)`: binding and planning 2,752 parameters of a
    hospital's devices took 100–300 ms where the look-up itself took 12 ms."""
    if len(ids) > MANY_IDS and session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(ids, ARRAY(Integer)))  # type: ignore[no-any-return]
    return column.in_(ids)  # type: ignore[no-any-return]


def member_labels(session: Session, by: Dimension, keys: Iterable[Any], language: str) -> dict[str | None, str]:
    """Display names of a dimension's members (hospital names, device numbers, translated categories, …)."""
    wanted: list[Any] = [k for k in keys if k is not None and k != ""]
    if not wanted:
        return {}
    if by in (Dimension.hospital, Dimension.department, Dimension.group, Dimension.device):
        wanted = [int(k) for k in wanted if str(k).lstrip("-").isdigit()]
    if by == Dimension.hospital:
        return {str(i): n for i, n in session.execute(
            select(Hospital.id, Hospital.name).where(_among(session, Hospital.id, wanted)))}
    if by == Dimension.department:
        return {str(i): f"{h} · {n}" for i, n, h in session.execute(
            select(Department.id, Department.name, Hospital.name).join(
                Hospital, Hospital.id == Department.hospital_id).where(_among(session, Department.id, wanted)))}
    if by == Dimension.group:
        return {str(i): f"{n} ({s})" for i, n, s in session.execute(
            select(DeviceGroup.id, DeviceGroup.name, DeviceGroup.system_number).where(
                _among(session, DeviceGroup.id, wanted)))}
    if by == Dimension.device:
        return {str(i): f"{s} {m}" for i, s, m in session.execute(
            select(Device.id, Device.system_number, Device.model).where(_among(session, Device.id, wanted)))}
    if by == Dimension.category:
        return {str(k): translate(str(k), language) for k in wanted}
    if by == Dimension.age_band:
        return {str(k): translate(f"age_band.{k}", language) for k in wanted}
    if by == Dimension.origin:
        return {str(k): translate(f"desk.source.{k}", language) for k in wanted}
    return {str(k): str(k) for k in wanted}

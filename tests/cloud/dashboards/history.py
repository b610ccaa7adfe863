"""A small ticket history built by hand, whose dashboard numbers the tests work out on paper.

Hospital A (Asia/Shanghai), four chemistry devices, January and February 2026 (local months):

ticket  device (age band)  reported (UTC)   source      how it went
t1      a0 (0-1)           01-05 02:00      web         response 20 min, resolved in 10 h on site, optics,
                                                        rated 5, engineer E
t2      a0 (0-1)           01-20 02:00      web         response 40 min (late), resolved in 30 h (late) remote,
                                                        reagents, reopened once, rated 3
t7      a3 (3-5)           12-31 17:00      web         (01-01 01:00 in Shanghai) cancelled, never answered
t10     a3 (3-5)           01-28 02:00      predictive  pre-check: fixed; response 15 min, resolved in 3 h remote,
                                                        sample probe
t3      a1 (8+)            02-03 02:00      predictive  pre-check: false alarm; response 10 min, resolved in 2 h
t4      a1 (8+)            02-10 02:00      predictive  pre-check: fault confirmed; response 5 min, resolved in 20 h
                                                        on site, temperature control, engineer E
t5      a2 (unknown)       02-15 02:00      wechat      self-served (basic) in 1 h, operator error, no response
t6      a3 (3-5)           02-25 00:00      web         still open, no response: both SLAs overdue at NOW
t8      a2                 02-12 02:00      web         merged into another: never counted
t0      a0                 12-31 15:00      web         (12-31 23:00 in Shanghai) December: outside the range
b1      b0 (hospital B)    01-10 02:00      web         resolved in 5 h on site: another hospital

NOW = 2026-03-10 00:00 UTC. The numbers (EXPECTED) are worked out in tests/cloud/dashboards/test_aggregates.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from cloud.auth.models import Role, User
from cloud.registry.models import Device
from cloud.tickets.models import PrecheckOutcome, PrecheckTask, Source, Ticket, Urgency
from cloud.tickets.state import Status, Tier
from tests.cloud.world import World

NOW = datetime(2026, 3, 10, tzinfo=UTC)
SHANGHAI_JAN = datetime(2025, 12, 31, 16, tzinfo=UTC)  # 2026-01-01 00:00 in Asia/Shanghai
SHANGHAI_MAR = datetime(2026, 2, 28, 16, tzinfo=UTC)  # 2026-03-01 00:00 in Asia/Shanghai


@dataclass
class History:
    """Ids of what the history made."""

    tickets: dict[str, int] = field(default_factory=dict)
    engineer_id: int = 0


def _at(month: int, day: int, hour: int = 2, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def build_history(session: Session, world: World) -> History:
    """Write the table above into the test database (committed)."""
    history = History()
    a0, a1, a2, a3 = (session.get(Device, i) for i in world.devices_a)
    assert a0 and a1 and a2 and a3
    a0.install_date, a1.install_date, a2.install_date, a3.install_date = (
        date(2025, 6, 1), date(2017, 6, 1), None, date(2022, 1, 1))
    engineer = session.get(User, world.users["engineer"])
    assert engineer is not None and engineer.role == Role.engineer
    history.engineer_id = engineer.id

    def ticket(name: str, device: Device | int, created: datetime, *, source: Source = Source.web,
               status: Status = Status.closed, response: timedelta | None = None,
               resolved: timedelta | None = None, tier: Tier | None = None, fault: str | None = None,
               reopens: int = 0, rating: int | None = None, engineer_id: int | None = None,
               outcome: PrecheckOutcome | None = None) -> None:
        device_row = device if isinstance(device, Device) else session.get(Device, device)
        assert device_row is not None
        row = Ticket(
            number=f"DASH-{name}", hospital_id=device_row.hospital_id, device_id=device_row.id, source=source,
            status=status, urgency=Urgency.normal, priority=3, description=f"history {name}",
            reporter_name="检验科", reporter_phone="13800000000", created_at=created,
            first_response_due_at=created + timedelta(minutes=30), resolution_due_at=created + timedelta(hours=24),
            first_responded_at=created + response if response else None,
            resolved_at=created + resolved if resolved else None,
            closed_at=created + resolved if resolved and status == Status.closed else None,
            tier=tier, fault_category=fault, reopen_count=reopens, rating_overall=rating,
            rating_speed=4 if rating == 5 else rating, rating_attitude=rating, rating_skill=rating,
            engineer_id=engineer_id)
        session.add(row)
        session.flush()
        if outcome is not None:
            session.add(PrecheckTask(ticket_id=row.id, hospital_id=row.hospital_id, category="chemistry",
                                     metric="reaction_temp", checklist="temperature:chemistry", outcome=outcome,
                                     finished_at=created + (resolved or timedelta(0))))
        history.tickets[name] = row.id

    E = engineer.id
    ticket("t1", a0, _at(1, 5), response=timedelta(minutes=20), resolved=timedelta(hours=10), tier=Tier.on_site,
           fault="optics_lamp", rating=5, engineer_id=E)
    ticket("t2", a0, _at(1, 20), response=timedelta(minutes=40), resolved=timedelta(hours=30), tier=Tier.remote,
           fault="reagent_fluidics", reopens=1, rating=3)
    ticket("t7", a3, datetime(2025, 12, 31, 17, tzinfo=UTC), status=Status.cancelled)
    ticket("t10", a3, _at(1, 28), source=Source.predictive, response=timedelta(minutes=15),
           resolved=timedelta(hours=3), tier=Tier.remote, fault="sample_probe", outcome=PrecheckOutcome.fixed)
    ticket("t3", a1, _at(2, 3), source=Source.predictive, response=timedelta(minutes=10),
           resolved=timedelta(hours=2), tier=Tier.remote, outcome=PrecheckOutcome.false_alarm)
    ticket("t4", a1, _at(2, 10), source=Source.predictive, response=timedelta(minutes=5),
           resolved=timedelta(hours=20), tier=Tier.on_site, fault="temperature_control",
           outcome=PrecheckOutcome.fault_confirmed, engineer_id=E)
    ticket("t5", a2, _at(2, 15), source=Source.wechat, resolved=timedelta(hours=1), tier=Tier.basic,
           fault="operator_error")
    ticket("t6", a3, _at(2, 25, 0), status=Status.submitted)
    ticket("t8", a2, _at(2, 12), status=Status.merged)
    ticket("t0", a0, datetime(2025, 12, 31, 15, tzinfo=UTC), response=timedelta(minutes=1),
           resolved=timedelta(hours=1), tier=Tier.remote, fault="other")
    ticket("b1", world.devices_b[0], _at(1, 10), response=timedelta(minutes=5), resolved=timedelta(hours=5),
           tier=Tier.on_site, fault="mechanical", rating=4, engineer_id=E)
    session.commit()
    return history

"""What `make run` sets up besides the seed (cloud/demo_run.py): the demo gateway's mappings and alert policies.

Only the live drifting analyzer learns for 3 minutes (its drift comes 4 minutes in); every other stream, the
history analyzer's week included, keeps the service's day, so the week's first busy morning does not alarm."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from cloud.alerts.models import ANY_METRIC, AlertPolicy
from cloud.alerts.service import policy_book
from cloud.config import Settings
from cloud.db import make_engine, make_sessionmaker
from cloud.demo import seed
from cloud.demo_history import HISTORY_DEVICE
from cloud.demo_run import DRIFTING_KEY, MODBUS_DEVICES, STATUS_POINTS, prepare_gateway
from cloud.migrate import upgrade
from cloud.registry.models import Device


def test_only_the_drifting_analyzer_learns_fast_and_a_second_start_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}", data_dir=tmp_path / "data",
                        _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        assert seed(session, data_dir=settings.data_dir)
        session.commit()
        prepare_gateway(session, settings)
        prepare_gateway(session, settings)  # a restarted demo
        number = {key: n for key, n, _ in MODBUS_DEVICES}[DRIFTING_KEY]
        ids = dict(session.execute(select(Device.system_number, Device.id)).all())
        drifting, history = ids[number], ids[HISTORY_DEVICE[1]]
        rows = session.scalars(select(AlertPolicy)).all()
        assert [(r.metric, r.learning_hours) for r in rows if r.device_id == drifting] == [(ANY_METRIC, 0.05)]
        assert {r.metric for r in rows if r.device_id is None} == set(STATUS_POINTS)
        book = policy_book(session, device_ids=[drifting, history], metrics=["reaction_disk_temp"])
        day = settings.alert_learning_hours * 3600
        assert book.rules(drifting, "reaction_disk_temp", 0.5, day).learning_s == 180
        assert book.rules(history, "reaction_disk_temp", 0.5, day).learning_s == day == 86400
    engine.dispose()

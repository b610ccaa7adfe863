"""The basic/advanced predictor in the service: its estimate is kept on the ticket at submission, the desk sees it
with the route it suggests (the reporter does not), the periodic learner teaches it every resolution once, and with
auto-dispatch switched on a confident on-site estimate sends the best-matching engineer at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.audit.models import AuditLog
from cloud.config import Settings
from cloud.main import create_app
from cloud.profiles import predictor
from cloud.profiles.models import PredictorState
from cloud.tickets.models import Ticket
from models.maintenance.onsite import OnsitePredictor, Report
from tests.cloud.tickets.helpers import act, submit

ONSITE_TEXT = "机械臂异响，撞针，无法开机"
REMOTE_TEXT = "请问质控怎么做，试剂怎么装"


def _teach(db, cases: int) -> None:  # noqa: ANN001
    """Store a model that learned `cases` cases: noisy arms need an engineer, questions do not."""
    model = OnsitePredictor()
    for i in range(cases):
        loud = i % 2 == 0
        model.learn_one(Report(text=ONSITE_TEXT if loud else REMOTE_TEXT, device_category="chemistry"), loud)
    predictor.save(db, model)
    db.commit()


def test_no_estimate_before_the_model_has_learned_enough(client, world, db) -> None:
    body = submit(client, world, description=ONSITE_TEXT).json()["ticket"]
    assert db.get(Ticket, body["id"]).onsite_probability is None
    shown = client.get(f"/api/v1/tickets/{body['id']}", headers=world.headers("agent")).json()
    assert shown["onsite_probability"] is None and shown["onsite_route"] is None


def test_the_estimate_is_kept_at_submission_and_shown_to_the_desk_only(client, world, db) -> None:
    _teach(db, 120)
    loud = submit(client, world, description=ONSITE_TEXT).json()
    quiet = submit(client, world, description=REMOTE_TEXT).json()["ticket"]
    desk = client.get(f"/api/v1/tickets/{loud['ticket']['id']}", headers=world.headers("agent")).json()
    assert desk["onsite_probability"] > 0.7 and desk["onsite_route"] == "dispatch"
    other = client.get(f"/api/v1/tickets/{quiet['id']}", headers=world.headers("agent")).json()
    assert other["onsite_probability"] < 0.3 and other["onsite_route"] == "remote"
    assert db.get(Ticket, loud["ticket"]["id"]).onsite_probability == desk["onsite_probability"]
    # The reporter's view of the same ticket carries neither.
    mine = client.get(f"/api/v1/tickets/{loud['ticket']['id']}", headers={"X-Reporter-Key": loud["reporter_key"]})
    assert mine.status_code == 200 and mine.json()["onsite_probability"] is None
    # Without auto-dispatch (the default) the desk decides: the ticket waits in the queue.
    assert desk["status"] == "submitted"


def test_the_estimate_is_no_new_version_so_the_desk_acts_on_what_it_was_shown(client, world, db) -> None:
    _teach(db, 120)
    submitted = submit(client, world, description=ONSITE_TEXT).json()["ticket"]
    stored = db.get(Ticket, submitted["id"])
    assert stored.onsite_probability is not None and stored.version == submitted["version"]
    answer = act(client, submitted["id"], world.headers("agent"), "reply", text="请先重启仪器",
                 version=submitted["version"])
    assert answer.status_code == 200, answer.text


def test_every_resolution_teaches_the_model_once_in_the_learners_next_run(client, world, db) -> None:
    later = datetime.now(UTC) + timedelta(minutes=1)  # past the learner's margin
    ticket = submit(client, world, description=REMOTE_TEXT).json()["ticket"]
    act(client, ticket["id"], world.headers("agent"), "answer", text="按说明书操作即可",
        fault_category="operator_error")
    assert predictor.learn_pending(db, now=datetime.now(UTC)) == 0  # too fresh: its transaction may be in flight
    assert predictor.learn_pending(db, now=later) == 1
    db.commit()
    state = db.execute(select(PredictorState)).scalar_one()
    assert state.samples == 1 and state.state["onsite"] == 0 and state.version == 1
    second = submit(client, world, description=ONSITE_TEXT).json()["ticket"]
    engineer = world.headers("engineer")
    act(client, second["id"], world.headers("agent"), "dispatch", engineer_id=world.users["engineer"])
    act(client, second["id"], engineer, "accept")
    act(client, second["id"], engineer, "arrive")
    act(client, second["id"], engineer, "complete", findings="更换皮带", fault_category="mechanical")
    assert predictor.learn_pending(db, now=later) == 1  # only the new one
    assert predictor.learn_pending(db, now=later) == 0
    db.commit()
    db.expire_all()
    state = db.execute(select(PredictorState)).scalar_one()
    assert state.samples == 2 and state.state["onsite"] == 1 and state.version == 2


def test_auto_dispatch_sends_an_engineer_for_a_confident_on_site_estimate(settings, world, db) -> None:  # noqa: ANN001
    _teach(db, 400)
    with TestClient(create_app(Settings(**{**settings.model_dump(), "onsite_autodispatch": 0.8}))) as client:
        loud_id = submit(client, world, description=ONSITE_TEXT).json()["ticket"]["id"]
        quiet_id = submit(client, world, description=REMOTE_TEXT).json()["ticket"]["id"]
        # Dispatched right after the submission committed (cloud/profiles/flows.py), as the desk then sees it.
        loud = client.get(f"/api/v1/tickets/{loud_id}", headers=world.headers("agent")).json()
        quiet = client.get(f"/api/v1/tickets/{quiet_id}", headers=world.headers("agent")).json()
        assert loud["status"] == "dispatched" and loud["engineer_id"] == world.users["engineer"]
        assert quiet["status"] == "submitted"
    row = db.execute(select(AuditLog).where(AuditLog.entity_id == loud["id"], AuditLog.entity == "ticket",
                                            AuditLog.action == "dispatch")).scalar_one()
    assert row.after["via"] == "onsite_prediction" and row.after["onsite_probability"] >= 0.8

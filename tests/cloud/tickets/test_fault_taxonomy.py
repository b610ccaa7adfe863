"""The fault taxonomy: every resolution names what the fault was (category, root cause, parts), picked from the
managed list of the device's category with a suggestion; reopening counts; admins keep the list."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditLog
from cloud.auth.models import User
from cloud.config import Settings
from cloud.kb.models import AskChannel, BotAsk, KbEntry
from cloud.tickets import faults, service
from tests.cloud.tickets.helpers import act, reporter, submit
from tests.cloud.world import World

EN = {"Accept-Language": "en"}
GENERAL = ["temperature_control", "optics_lamp", "sample_probe", "reagent_fluidics", "mechanical",
           "communication_software", "operator_error", "no_fault", "other"]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _on_site(client: TestClient, world: World, **body: Any) -> tuple[int, dict[str, str]]:
    """A reported ticket of the c702 (chemistry) with the engineer at the device: (id, reporter headers)."""
    submitted = _ok(submit(client, world, **body), 201)
    tid = submitted["ticket"]["id"]
    _ok(act(client, tid, world.headers("agent"), "dispatch", engineer_id=world.users["engineer"]))
    for action in ("accept", "arrive"):
        _ok(act(client, tid, world.headers("engineer"), action))
    return tid, reporter(submitted["reporter_key"])


def _suggestion(client: TestClient, world: World, tid: int, who: str = "engineer", **params: str) -> Any:
    return _ok(client.get(f"/api/v1/tickets/{tid}/fault-suggestion", params=params, headers=world.headers(who)))


# --- the list -----------------------------------------------------------------------------------------------------

def test_each_device_category_sees_the_general_list_and_its_own_entries_in_order(
        client: TestClient, world: World) -> None:
    chemistry = _ok(client.get("/api/v1/fault-categories", params={"device_category": "chemistry"},
                               headers=world.headers("engineer")))
    assert [c["code"] for c in chemistry] == [*GENERAL[:4], "ise", *GENERAL[4:]]
    ise = chemistry[4]
    assert (ise["name"], ise["device_category"], ise["basic"]) == ("ISE 电极", "chemistry", False)
    blood_gas = _ok(client.get("/api/v1/fault-categories", params={"device_category": "blood_gas"},
                               headers=world.headers("engineer")))
    assert next(c["name"] for c in blood_gas if c["code"] == "ise") == "电极 / 传感器"
    hematology = _ok(client.get("/api/v1/fault-categories", params={"device_category": "hematology"},
                                headers=world.headers("engineer")))
    assert [c["code"] for c in hematology] == GENERAL  # no ISE on a hematology analyzer
    english = _ok(client.get("/api/v1/fault-categories", params={"device_category": "chemistry"},
                             headers={**world.headers("agent"), **EN}))
    assert [c["name"] for c in english][:2] == ["Temperature control", "Optics / lamp"]
    assert client.get("/api/v1/fault-categories").status_code == 401


# --- resolving ----------------------------------------------------------------------------------------------------

def test_the_engineer_completes_with_category_root_cause_and_parts_shown_by_name(
        client: TestClient, world: World) -> None:
    tid, _rep = _on_site(client, world)
    engineer = world.headers("engineer")
    missing = act(client, tid, engineer, "complete", findings="更换传感器")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "fault_category"
    unknown = act(client, tid, engineer, "complete", findings="更换传感器", fault_category="ise_on_hematology")
    assert unknown.status_code == 422
    nameless = act(client, tid, engineer, "complete", findings="更换传感器", fault_category="temperature_control",
                   parts=[{"name": "  ", "qty": 1}])
    assert nameless.status_code == 422
    done = _ok(act(client, tid, engineer, "complete", findings="反应盘温控传感器接触不良，更换后恢复",
                   fault_category="temperature_control", root_cause="传感器插头氧化",
                   parts=[{"name": "温控传感器", "part_no": "05-4471", "qty": 1}, {"name": "导热硅脂", "qty": 2}]))
    assert (done["status"], done["tier"], done["fault_category"], done["fault_category_name"]) == (
        "resolved", "on_site", "temperature_control", "温控")
    assert done["root_cause"] == "传感器插头氧化" and done["reopen_count"] == 0
    assert done["parts"] == [{"name": "温控传感器", "part_no": "05-4471", "qty": 1},
                             {"name": "导热硅脂", "part_no": None, "qty": 2}]
    complete = done["timeline"][-1]
    assert complete["action"] == "complete"
    assert complete["details"]["fault_category_name"] == "温控"
    assert complete["details"]["parts"][0] == {"name": "温控传感器", "part_no": "05-4471", "qty": 1}
    # the names follow the caller's language, never the code
    english = _ok(client.get(f"/api/v1/tickets/{tid}", headers={**engineer, **EN}))
    assert english["fault_category_name"] == "Temperature control"
    assert english["timeline"][-1]["details"]["fault_category_name"] == "Temperature control"
    listed = _ok(client.get("/api/v1/tickets", params={"device_id": world.devices_a[0]},
                            headers=world.headers("agent")))
    assert listed["items"][0]["fault_category_name"] == "温控"


def test_the_desk_resolves_remotely_with_a_category_and_reopening_counts(client: TestClient, world: World) -> None:
    submitted = _ok(submit(client, world, description="LIS 传输失败，结果上传不了"), 201)
    tid, rep = submitted["ticket"]["id"], reporter(submitted["reporter_key"])
    agent = world.headers("agent")
    assert act(client, tid, agent, "answer", text="已远程重启接口服务").status_code == 422
    answered = _ok(act(client, tid, agent, "answer", text="已远程重启接口服务",
                       fault_category="communication_software"))
    assert (answered["tier"], answered["fault_category_name"], answered["reopen_count"]) == (
        "remote", "通信与软件", 0)
    reopened = _ok(act(client, tid, rep, "reopen", reason="还是传不上去"))
    assert (reopened["reopen_count"], reopened["tier"]) == (1, None)
    # the category it was filed under before is the suggestion now
    suggestion = _suggestion(client, world, tid, "agent")["suggestion"]
    assert (suggestion["code"], suggestion["source"]) == ("communication_software", "previous")
    _ok(act(client, tid, agent, "answer", text="更换网线后正常", fault_category="communication_software"))
    twice = _ok(act(client, tid, rep, "reopen", reason="又断了"))
    assert twice["reopen_count"] == 2 and twice["timeline"][-1]["details"]["reopen_count"] == 2


def test_a_ticket_of_a_hematology_analyzer_cannot_be_filed_under_chemistrys_ise(
        client: TestClient, world: World) -> None:
    submitted = _ok(submit(client, world, device_id=world.devices_b[0]), 201)
    refused = act(client, submitted["ticket"]["id"], world.headers("agent"), "answer", text="远程处理",
                  fault_category="ise")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "fault_category"


# --- suggestions --------------------------------------------------------------------------------------------------

def test_the_suggestion_comes_from_the_report_then_from_what_the_resolver_writes(
        client: TestClient, world: World) -> None:
    tid, _rep = _on_site(client, world)  # "反应盘温度报警，无法开始测试"
    answer = _suggestion(client, world, tid)
    assert answer["suggestion"] == {"code": "temperature_control", "name": "温控", "source": "text",
                                    "detail": "温度", "source_label": "来自报修描述中的“温度”"}
    assert "ise" in [c["code"] for c in answer["categories"]]
    typed = _suggestion(client, world, tid, text="加样针堵塞，清洗后正常")["suggestion"]
    assert (typed["code"], typed["source"]) == ("sample_probe", "findings")
    assert typed["source_label"] == "来自填写内容中的“加样针”"
    english = _ok(client.get(f"/api/v1/tickets/{tid}/fault-suggestion", headers={**world.headers("agent"), **EN}))
    assert english["suggestion"]["source_label"] == "From the words of the report: “温度”"
    # the engineer of another ticket and lab users do not get it
    assert client.get(f"/api/v1/tickets/{tid}/fault-suggestion", headers=world.headers("lab_a")).status_code == 403


def test_words_match_whole_english_words_and_never_suggest_other(db: Session) -> None:
    assert faults.match_text(db, "ISE module drift", "chemistry") == ("ise", "ISE")
    assert faults.match_text(db, "ISE module drift", "hematology") is None  # no ISE entry there
    assert faults.match_text(db, "please raise the priority", "chemistry") is None  # "raise" is not ISE
    assert faults.match_text(db, "其他问题", "chemistry") is None
    # the most words win: probe and clog beat a passing mention of temperature
    assert faults.match_text(db, "样本针堵针，吸样失败，温度正常", "chemistry")[0] == "sample_probe"  # type: ignore[index]
    assert faults.metric_category("reaction_disk_temp") == "temperature_control"
    assert faults.metric_category("lamp_intensity") == "optics_lamp"
    assert faults.metric_category("vacuum") == "reagent_fluidics"
    assert faults.metric_category("reagent_r1_level") == "reagent_fluidics"
    assert faults.metric_category("error_code") is None


def test_a_bot_handover_is_suggested_from_the_kb_entry_that_answered(
        client: TestClient, db: Session, world: World, settings: Settings) -> None:
    entry = KbEntry(key="kb-probe-clog", question="样本针堵针报警怎么处理？", answer="清洗样本针",
                    variants=["加样针堵了"], models=[], category="chemistry", codes=[])
    db.add(entry)
    db.flush()
    ask = BotAsk(text="机器报警了", conversation_id="c-1", channel=AskChannel.web, intent="answer", entry_id=entry.id)
    db.add(ask)
    db.commit()
    lab = db.get(User, world.users["lab_a"])
    ticket = service.open_escalated(
        db, settings=settings, device_id=world.devices_a[0], reporter=lab, text="报警还在", ask_ids=[ask.id],
        conversation=[{"who": "user", "text": "机器报警了", "at": "2026-12-02T08:00:00Z"},
                      {"who": "bot", "text": "请清洗样本针", "at": "2026-12-02T08:00:01Z", "entry_id": entry.id}])
    db.commit()
    suggestion = _suggestion(client, world, ticket.id, "center")["suggestion"]
    assert (suggestion["code"], suggestion["source"]) == ("sample_probe", "kb")
    assert suggestion["source_label"] == "来自知识库条目：样本针堵针报警怎么处理？"


def test_self_service_files_the_suggested_category_when_there_is_one(client: TestClient, world: World) -> None:
    submitted = _ok(submit(client, world, description="试剂R1余量不足报警"), 201)
    closed = _ok(act(client, submitted["ticket"]["id"], reporter(submitted["reporter_key"]), "self_serve"))
    assert (closed["status"], closed["tier"], closed["fault_category"]) == ("closed", "basic", "reagent_fluidics")
    vague = _ok(submit(client, world, description="请来看一下"), 201)
    closed = _ok(act(client, vague["ticket"]["id"], reporter(vague["reporter_key"]), "self_serve"))
    assert closed["fault_category"] is None  # nothing pointed anywhere: no guess


# --- the managed list ---------------------------------------------------------------------------------------------

def test_admins_add_rename_reorder_and_deactivate_and_tickets_keep_their_name(
        client: TestClient, db: Session, world: World) -> None:
    admin = world.headers("admin")
    assert client.post("/api/v1/fault-categories", json={"name_zh": "比色杯"},
                       headers=world.headers("agent")).status_code == 403
    cuvettes = _ok(client.post("/api/v1/fault-categories", json={
        "device_category": "chemistry", "name_zh": "比色杯", "name_en": "Cuvettes"}, headers=admin), 201)
    assert (cuvettes["code"], cuvettes["device_category"]) == ("cuvettes", "chemistry")
    clash = client.post("/api/v1/fault-categories", json={"device_category": "chemistry", "name_zh": "温控"},
                        headers=admin)
    assert clash.status_code == 409
    # it is found by its name, at the end of chemistry's list, and nowhere else
    tid, _rep = _on_site(client, world, description="比色杯划痕导致吸光度异常")
    codes = [c["code"] for c in _suggestion(client, world, tid)["categories"]]
    assert codes[-1] == "cuvettes"
    hematology = _ok(client.get("/api/v1/fault-categories", params={"device_category": "hematology"}, headers=admin))
    assert "cuvettes" not in [c["code"] for c in hematology]
    # move it up twice in chemistry's list
    for _ in range(2):
        _ok(client.patch(f"/api/v1/fault-categories/{cuvettes['id']}",
                         json={"move": "up", "list_category": "chemistry"}, headers=admin))
    chemistry = [c["code"] for c in _ok(client.get("/api/v1/fault-categories", params={"device_category": "chemistry"},
                                                   headers=admin))]
    assert chemistry[-3:] == ["cuvettes", "no_fault", "other"]
    _ok(act(client, tid, world.headers("engineer"), "complete", findings="更换比色杯", fault_category="cuvettes"))
    # renamed: the ticket shows the new name; deactivated: no longer offered, the ticket keeps its name
    _ok(client.patch(f"/api/v1/fault-categories/{cuvettes['id']}", json={"name_zh": "比色杯 / 反应杯"}, headers=admin))
    _ok(client.patch(f"/api/v1/fault-categories/{cuvettes['id']}", json={"active": False}, headers=admin))
    seen = _ok(client.get(f"/api/v1/tickets/{tid}", headers=admin))
    assert (seen["fault_category"], seen["fault_category_name"]) == ("cuvettes", "比色杯 / 反应杯")
    offered = _ok(client.get("/api/v1/fault-categories", params={"device_category": "chemistry"}, headers=admin))
    assert "cuvettes" not in [c["code"] for c in offered]
    other_tid, _ = _on_site(client, world, description="比色杯又脏了")
    assert act(client, other_tid, world.headers("engineer"), "complete", findings="清洁",
               fault_category="cuvettes").status_code == 422
    trail = db.execute(select(AuditLog.action).where(AuditLog.entity == "fault_category",
                                                     AuditLog.entity_id == cuvettes["id"]).order_by(AuditLog.id))
    assert list(trail.scalars()) == ["create", "move", "move", "update", "deactivate"]


def test_fault_label_and_categories_for_serve_the_other_parts(db: Session) -> None:
    assert faults.fault_label(db, "ise", "chemistry", "zh-CN") == "ISE 电极"
    assert faults.fault_label(db, "ise", "blood_gas", "en") == "Electrodes / sensors"
    assert faults.fault_label(db, "ise", "hematology", "zh-CN") == "ISE 电极"  # any entry of the code names it
    assert faults.fault_label(db, None, "chemistry") == ""
    assert faults.fault_label(db, "gone_code", "chemistry", "zh-CN") == "未列出的故障类别"
    assert [c.code for c in faults.categories_for(db, "chemistry")][4] == "ise"
    assert faults.is_basic(db, "operator_error", "chemistry") is True
    assert faults.is_basic(db, "mechanical", "chemistry") is False

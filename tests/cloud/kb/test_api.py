"""The /api/v1/kb API: staff read, admins edit; materials link manual sections and videos for the bot's answer."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cloud.kb.helpers import make_pdf
from tests.cloud.world import World

BODY = {"key": "c702-e32", "question": "c702 报 E-32 怎么办", "answer": "1. 检查条码\n2. 重装试剂",
        "variants": ["E-32 报警", " ", "e-32 报警"], "models": ["cobas c 702"], "category": "chemistry",
        "codes": ["E-32"]}


def test_admins_edit_staff_read_lab_users_do_not(client: TestClient, world: World) -> None:
    assert client.post("/api/v1/kb/entries", json=BODY, headers=world.headers("agent")).status_code == 403
    assert client.get("/api/v1/kb/entries", headers=world.headers("lab_a")).status_code == 403
    assert client.get("/api/v1/kb/entries").status_code == 401
    created = client.post("/api/v1/kb/entries", json=BODY, headers=world.headers("admin"))
    assert created.status_code == 201
    entry = created.json()
    assert entry["variants"] == ["E-32 报警"]  # blanks and repeats dropped
    listed = client.get("/api/v1/kb/entries", params={"q": "E-32", "status": "active"},
                        headers=world.headers("agent")).json()
    assert [e["key"] for e in listed["items"]] == ["c702-e32"]
    edited = client.put(f"/api/v1/kb/entries/{entry['id']}", headers=world.headers("admin"),
                        json={**BODY, "answer": "1. 检查条码\n2. 清洁阅读器"})
    assert edited.json()["answer"].endswith("清洁阅读器")
    retired = client.post(f"/api/v1/kb/entries/{entry['id']}/retire", headers=world.headers("admin"))
    assert retired.json()["status"] == "retired"
    history = client.get(f"/api/v1/kb/entries/{entry['id']}/revisions", headers=world.headers("agent")).json()
    assert [(h["action"], h["actor"]) for h in history] == [("retired", "admin"), ("edited", "admin"),
                                                              ("created", "admin")]


def test_bad_entries_get_clear_errors(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    assert client.post("/api/v1/kb/entries", json={"question": "", "answer": "x"}, headers=admin).status_code == 422
    assert client.post("/api/v1/kb/entries", json={**BODY, "key": "空 格"}, headers=admin).status_code == 422
    client.post("/api/v1/kb/entries", json=BODY, headers=admin)
    taken = client.post("/api/v1/kb/entries", json=BODY, headers=admin)
    assert taken.status_code == 409 and "已被另一个条目使用" in taken.json()["detail"]
    assert client.get("/api/v1/kb/entries/999", headers=admin).status_code == 404


def test_materials_link_the_manual_section_page(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    manual = client.post("/api/v1/kb/manuals", headers=admin, data={"title": "c702 手册"},
                         files={"file": ("m.pdf", make_pdf(), "application/pdf")}).json()
    section_url = manual["sections"][1]["url"]
    entry = client.post("/api/v1/kb/entries", headers=admin, json={**BODY, "attachments": [
        {"kind": "manual", "title": "第二章 试剂更换", "url": section_url},
        {"kind": "link", "title": "厂家说明", "url": "https://example.org/e32"}]}).json()
    materials = client.get(f"/api/v1/kb/entries/{entry['id']}/materials", headers=world.headers("agent")).json()
    assert materials == [
        {"kind": "manual", "title": "第二章 试剂更换", "url": section_url, "cover_url": None},
        {"kind": "link", "title": "厂家说明", "url": "https://example.org/e32", "cover_url": None}]
    assert entry["attachments"][0]["section_number"] == 2

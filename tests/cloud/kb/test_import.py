"""JSONL import/export: all lines or none, every bad line named in Chinese, dry runs, re-import updates, round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from cloud.audit.service import Actor
from cloud.errors import Invalid
from cloud.kb import importer, service
from cloud.kb.models import KbStatus
from tests.cloud.world import World

ACTOR = Actor.system("test")


def jsonl(*rows: dict | str) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows).encode()


GOOD = [
    {"id": "c702-e32", "question": "c702 报 E-32", "answer": "1. 检查条码\n2. 重装试剂", "variants": ["E-32 报警"],
     "models": ["cobas c 702"], "category": "chemistry", "codes": ["E-32"],
     "attachments": [{"kind": "video", "title": "更换试剂", "url": "https://example.org/v.mp4"}]},
    {"id": "xn-selftest", "question": "XN 自检失败", "answer": "重启仪器", "models": ["XN-1000"]},
]


def test_a_broken_line_imports_nothing_and_every_error_is_named(db, world: World) -> None:
    content = jsonl(GOOD[0], {"id": "a", "question": "缺答案"}, "{not json", GOOD[1],
                    {"id": "c702-e32", "question": "q", "answer": "a"}, {"question": "没有编号", "answer": "x"},
                    {"id": "b", "question": "q", "answer": "a", "codes": "E-1", "colour": 1})
    with pytest.raises(Invalid) as caught:
        importer.run_import(db, content=content, actor=ACTOR)
    messages = [e["message"] for e in caught.value.extra["errors"]]
    assert "第 2 行：缺少 answer" in messages
    assert any(m.startswith("第 3 行：不是有效的 JSON") for m in messages)
    assert "第 5 行：id“c702-e32”与第 1 行重复" in messages
    assert "第 6 行：缺少 id" in messages
    assert "第 7 行：codes 应为列表" in messages and "第 7 行：未知字段 colour" in messages
    assert "未导入任何条目" in caught.value.message
    db.rollback()
    assert service.list_entries(db)[1] == 0


def test_dry_run_says_what_would_change_and_writes_nothing(db, world: World) -> None:
    report = importer.run_import(db, content=jsonl(*GOOD), actor=ACTOR, dry_run=True)
    db.rollback()
    assert report.created == ["c702-e32", "xn-selftest"] and report.updated == []
    assert service.list_entries(db)[1] == 0


def test_reimport_updates_by_id_and_export_round_trips(db, world: World) -> None:
    importer.run_import(db, content=jsonl(*GOOD), actor=ACTOR)
    db.commit()
    changed = dict(GOOD[1], answer="1. 关机\n2. 等 30 秒\n3. 开机", status="retired")
    report = importer.run_import(db, content=jsonl(GOOD[0], changed), actor=ACTOR)
    db.commit()
    assert (report.created, report.updated, report.unchanged) == ([], ["xn-selftest"], ["c702-e32"])
    entry = service.entry_by_key(db, key="xn-selftest")
    assert entry.status == KbStatus.retired and entry.answer.startswith("1. 关机")
    assert [r.action for r in service.revisions(db, entry_id=entry.id)] == ["imported", "imported"]

    lines = importer.export_lines(db)
    # Active entries are written without a status; empty lists and fields are written out in full.
    assert [json.loads(line) for line in lines] == [
        GOOD[0], {**changed, "variants": [], "category": "", "codes": [], "attachments": []}]
    again = importer.run_import(db, content="\n".join(lines).encode(), actor=ACTOR)
    assert again.unchanged == ["c702-e32", "xn-selftest"]


def test_the_api_previews_and_imports_for_admins_only(client: TestClient, world: World) -> None:
    files = {"file": ("kb.jsonl", jsonl(*GOOD), "application/x-ndjson")}
    assert client.post("/api/v1/kb/import", files=files, headers=world.headers("agent")).status_code == 403
    preview = client.post("/api/v1/kb/import?dry_run=true", files=files, headers=world.headers("admin"))
    assert preview.json()["created"] == ["c702-e32", "xn-selftest"]
    assert client.get("/api/v1/kb/entries", headers=world.headers("admin")).json()["total"] == 0
    done = client.post("/api/v1/kb/import", files=files, headers=world.headers("admin"))
    assert done.status_code == 200
    bad = client.post("/api/v1/kb/import", headers=world.headers("admin"),
                      files={"file": ("kb.jsonl", jsonl({"id": "x", "answer": "a"}), "text/plain")})
    assert bad.status_code == 422 and bad.json()["errors"][0]["message"] == "第 1 行：缺少 question"
    export = client.get("/api/v1/kb/export", headers=world.headers("agent"))
    assert [json.loads(line)["id"] for line in export.text.splitlines()] == ["c702-e32", "xn-selftest"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_cli_imports_with_dry_run_and_exports(settings, world: World, tmp_path) -> None:
    env = {**os.environ, "MEDFIX_DATABASE_URL": settings.database_url, "MEDFIX_DATA_DIR": str(settings.data_dir)}
    source = tmp_path / "kb.jsonl"
    source.write_bytes(jsonl(*GOOD))
    cli = [sys.executable, "-m", "medfix.cli", "cloud", "kb"]
    dry = subprocess.run([*cli, "import", str(source), "--dry-run"], env=env, capture_output=True, text=True)
    assert dry.returncode == 0 and "dry run: 2 new" in dry.stdout
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(jsonl(GOOD[0], '{"id": "x", "question": "q"}'))
    failed = subprocess.run([*cli, "import", str(broken)], env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and "第 2 行：缺少 answer" in failed.stderr
    assert subprocess.run([*cli, "import", str(source)], env=env, capture_output=True, text=True).returncode == 0
    out = tmp_path / "out.jsonl"
    subprocess.run([*cli, "export", str(out)], env=env, check=True, capture_output=True)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["c702-e32", "xn-selftest"]


def test_an_import_announces_itself_once(app, db, world: World) -> None:  # noqa: ANN001
    seen = []
    app.state.bus.subscribe("kb.", seen.append)
    importer.run_import(db, content=jsonl(*GOOD), actor=ACTOR, dry_run=True)
    db.rollback()
    assert seen == []
    importer.run_import(db, content=jsonl(*GOOD), actor=ACTOR)
    db.commit()
    assert [(e.name, e.data["entry_id"], len(e.data["entry_ids"])) for e in seen] == [("kb.changed", None, 2)]

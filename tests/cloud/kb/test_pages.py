"""Admin pages over HTTP: role checks, the form's Chinese errors, saving, history in Shanghai time, import preview."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from cloud.kb.models import KbRevision
from tests.cloud.world import World, sign_in_form

CSRF = {"X-Requested-With": "medfix"}


def _sign_in(client: TestClient, username: str) -> None:
    answer = sign_in_form(client, username)
    assert answer.status_code == 303


def test_only_staff_see_the_kb_and_only_admins_edit(client: TestClient, world: World) -> None:
    assert client.get("/admin/kb", follow_redirects=False).headers["location"].startswith("/login")
    _sign_in(client, "agent")
    page = client.get("/admin/kb")
    assert page.status_code == 200 and "知识库" in page.text and "新建条目" not in page.text
    assert client.get("/admin/kb/new", follow_redirects=False).status_code in (303, 403)
    _sign_in(client, "lab_a")
    assert client.get("/admin/kb", follow_redirects=False).status_code in (303, 403)


def test_the_form_saves_and_the_entry_page_shows_history_in_shanghai_time(client: TestClient, world: World,
                                                                          db) -> None:
    _sign_in(client, "admin")
    empty = client.post("/admin/kb/new", data={"question": "", "answer": ""}, headers=CSRF)
    assert empty.status_code == 422 and "问题 不能为空" in empty.text
    saved = client.post("/admin/kb/new", headers=CSRF, data={
        "question": "c702 报 E-32", "variants": "E-32 报警\n\n试剂条码读不出", "answer": "1. 检查条码\n2. 重装试剂",
        "models": "cobas c 702，cobas c 502", "category": "chemistry", "codes": "E-32"}, follow_redirects=False)
    assert saved.status_code == 303
    entry_url = saved.headers["location"]
    entry_id = int(entry_url.rsplit("/", 1)[1])
    revision = db.query(KbRevision).filter_by(entry_id=entry_id).one()
    revision.created_at = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)  # 00:30 the next day in Shanghai
    db.commit()
    page = client.get(entry_url)
    assert "2026-12-03 00:30" in page.text and "新建" in page.text and "试剂条码读不出" in page.text
    assert "cobas c 502" in page.text and "生化" in page.text
    form = client.get(f"{entry_url}/edit")
    assert "E-32 报警\n试剂条码读不出" in form.text
    assert client.post(f"{entry_url}/retire", data={"confirm": "yes"}, headers=CSRF).status_code == 200
    page = client.get(entry_url)
    assert "已停用" in page.text and "恢复启用" in page.text
    listed = client.get("/admin/kb", params={"status": "retired"})
    assert "c702 报 E-32" in listed.text
    assert client.post(f"{entry_url}/retire", data={"confirm": "yes"}).status_code == 403  # no CSRF header


def test_jsonl_upload_previews_then_imports(client: TestClient, world: World) -> None:
    _sign_in(client, "admin")
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": "a1", "question": "问1", "answer": "答1"}, {"id": "a2", "question": "问2", "answer": "答2"}])
    preview = client.post("/admin/kb/import", headers=CSRF, files={"file": ("kb.jsonl", lines.encode(), "text/plain")})
    assert preview.status_code == 200, preview.text[-3000:]
    assert "预览" in preview.text and "a1, a2" in preview.text
    assert "没有符合条件的条目" in client.get("/admin/kb").text
    content = re.search(r'<textarea name="content" hidden>(.*?)</textarea>', preview.text, re.S)[1]
    done = client.post("/admin/kb/import", headers=CSRF, data={"content": content.replace("&#34;", '"'), "apply": "1"})
    assert done.status_code == 200 and "已导入" in done.text
    assert "问2" in client.get("/admin/kb").text
    broken = client.post("/admin/kb/import", headers=CSRF, files={"file": ("kb.jsonl", b'{"id": "x"}', "text/plain")})
    assert broken.status_code == 422 and "第 1 行：缺少 question" in broken.text


def test_a_manual_that_is_not_a_pdf_is_refused_on_the_page(client: TestClient, world: World) -> None:
    _sign_in(client, "admin")
    answer = client.post("/admin/kb/manuals", headers=CSRF, data={"title": "假手册"},
                         files={"file": ("fake.pdf", b"hello, I am a text file", "application/pdf")})
    assert answer.status_code == 422 and "这个文件不是 PDF" in answer.text
    assert "还没有手册" in answer.text


def test_the_form_attaches_a_section_a_video_and_a_link_and_removes_unticked_ones(client: TestClient, world: World,
                                                                                  tmp_path) -> None:
    from tests.cloud.kb.helpers import make_mp4, make_pdf
    from tests.conftest import need

    clip = make_mp4(tmp_path)
    need(clip is not None, "ffmpeg")
    admin = world.headers("admin")
    manual = client.post("/api/v1/kb/manuals", headers=admin, data={"title": "c702 手册"},
                         files={"file": ("m.pdf", make_pdf(), "application/pdf")}).json()
    entry = client.post("/api/v1/kb/entries", headers=admin,
                        json={"question": "换试剂", "answer": "1. 打开试剂仓"}).json()
    _sign_in(client, "admin")
    saved = client.post(f"/admin/kb/{entry['id']}/edit", headers=CSRF, data={
        "question": "换试剂", "answer": "1. 打开试剂仓", "section_id": [str(manual["sections"][1]["id"])],
        "link_url": "https://example.org/help", "link_title": "厂家帮助", "video_title": "换试剂演示"},
        files={"video": ("clip.mp4", clip, "video/mp4")}, follow_redirects=False)
    assert saved.status_code == 303, saved.text[-2000:]
    attachments = client.get(f"/api/v1/kb/entries/{entry['id']}", headers=admin).json()["attachments"]
    assert [(a["kind"], a["title"]) for a in attachments] == [
        ("manual", "c702 手册 · 第二章 试剂更换"), ("link", "厂家帮助"), ("video", "换试剂演示")]
    assert attachments[2]["cover_url"]
    keep = [str(attachments[0]["id"]), str(attachments[2]["id"])]
    client.post(f"/admin/kb/{entry['id']}/edit", headers=CSRF, data={
        "question": "换试剂", "answer": "1. 打开试剂仓", "keep_attachment": keep})
    after = client.get(f"/api/v1/kb/entries/{entry['id']}", headers=admin).json()["attachments"]
    assert [a["kind"] for a in after] == ["manual", "video"]
    assert client.get(after[1]["url"]).status_code == 200  # the kept upload still plays


def test_the_new_entry_form_is_prefilled_from_unanswered_questions(client: TestClient, world: World) -> None:
    _sign_in(client, "admin")
    page = client.get("/admin/kb/new", params={"question": "离心机异响怎么办", "variants": "离心机声音大\n离心机响"})
    assert page.status_code == 200
    assert "离心机异响怎么办" in page.text and "离心机声音大\n离心机响" in page.text

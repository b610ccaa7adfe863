"""Manuals: a real PDF is split into sections with page ranges; a file that is not a PDF is refused, nothing saved.
Videos: an MP4 upload gets a cover frame and a phone page that plays it."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select

from cloud.kb.manuals import split_sections
from cloud.kb.models import KbManual
from tests.cloud.kb.helpers import make_mp4, make_pdf
from tests.cloud.world import World


def _upload(client: TestClient, world: World, content: bytes, title: str = "cobas c 702 操作手册"):
    return client.post("/api/v1/kb/manuals", headers=world.headers("admin"),
                       data={"title": title, "models": "cobas c 702，cobas c 502"},
                       files={"file": ("manual.pdf", content, "application/pdf")})


def test_a_pdf_is_split_by_its_outline_with_chinese_text_and_page_ranges(client: TestClient, world: World) -> None:
    answer = _upload(client, world, make_pdf())
    assert answer.status_code == 201, answer.text
    manual = answer.json()
    assert manual["pages"] == 3 and manual["models"] == ["cobas c 702", "cobas c 502"]
    assert [(s["title"], s["page_start"], s["page_end"]) for s in manual["sections"]] == [
        ("第一章 开机与关机", 1, 1), ("第二章 试剂更换", 2, 2), ("第三章 日常保养", 3, 3)]
    detail = client.get(f"/api/v1/kb/manuals/{manual['id']}", headers=world.headers("agent")).json()
    assert "E-32" in detail["sections"][1]["text"] and "试剂条码" in detail["sections"][1]["text"]

    page = client.get(manual["sections"][1]["url"])  # the phone page a bot answer links to
    assert page.status_code == 200
    assert "出现 E-32 报警时先检查试剂条码。" in page.text and "weui" in page.text
    assert f'/kb/manuals/{manual["id"]}/file#page=2' in page.text and "打开 PDF 第 2 页" in page.text
    pdf = client.get(f"/kb/manuals/{manual['id']}/file")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")


def test_without_an_outline_headings_split_the_manual() -> None:
    sections = split_sections(PdfReader(io.BytesIO(make_pdf(outline=False))))
    assert [s.title for s in sections] == ["第一章 开机与关机", "第二章 试剂更换", "第三章 日常保养"]
    assert [(s.page_start, s.page_end) for s in sections] == [(1, 1), (2, 2), (3, 3)]


def test_a_pdf_that_is_not_a_pdf_gets_a_clear_message_and_nothing_is_saved(client: TestClient, world: World,
                                                                          db, settings) -> None:
    for content in (b"MZ\x90\x00 this is an exe", b"%PDF-1.7\n garbage that is no pdf", b""):
        answer = _upload(client, world, content)
        assert answer.status_code == 422
        assert "PDF" in answer.json()["detail"] or "空" in answer.json()["detail"]
    assert db.execute(select(func.count(KbManual.id))).scalar_one() == 0
    assert not (settings.data_dir / "kb" / "manuals").exists()
    assert _upload(client, world, make_pdf(), title="").status_code == 201  # the file name stands in
    assert client.post("/api/v1/kb/manuals", headers=world.headers("agent"),
                       files={"file": ("m.pdf", make_pdf(), "application/pdf")}).status_code == 403


def test_an_uploaded_video_gets_a_cover_frame_and_a_phone_page(client: TestClient, world: World, tmp_path) -> None:
    from tests.conftest import need

    clip = make_mp4(tmp_path)
    need(clip is not None, "ffmpeg")
    admin = world.headers("admin")
    entry = client.post("/api/v1/kb/entries", headers=admin, json={"question": "怎么换试剂", "answer": "见视频"}).json()
    refused = client.post(f"/api/v1/kb/entries/{entry['id']}/videos", headers=admin,
                          files={"video": ("x.mp4", b"not a video at all", "video/mp4")})
    assert refused.status_code == 422 and "MP4" in refused.json()["detail"]
    answer = client.post(f"/api/v1/kb/entries/{entry['id']}/videos", headers=admin, data={"title": "更换试剂演示"},
                         files={"video": ("clip.mp4", clip, "video/mp4")})
    assert answer.status_code == 201, answer.text
    video = answer.json()["attachments"][0]
    assert video["kind"] == "video" and video["cover_url"]
    cover = client.get(video["cover_url"])
    assert cover.headers["content-type"] == "image/jpeg" and cover.content[:2] == b"\xff\xd8"
    page = client.get(video["url"])
    assert page.status_code == 200 and "<video" in page.text and video["cover_url"] in page.text
    assert client.get(page.text.split('src="')[1].split('"')[0]).content == clip

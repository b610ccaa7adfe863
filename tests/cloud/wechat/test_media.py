"""Media recorded in WeChat (security finding 9 of issue #13): /wechat/media records the media_id and answers at
once; the background worker fetches it (with retries), converts AMR voice to MP3 (the original kept), resumes
what a crash interrupted, marks a failed conversion, and the callers are rate-limited."""

from __future__ import annotations

import io
import random
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update

from cloud.config import Settings
from cloud.db import utcnow
from cloud.main import create_app
from cloud.tickets.models import TicketAttachment
from cloud.wechat.media_worker import MediaWorker
from cloud.wechat.models import WechatMedia
from cloud.wechat.standin import StandIn
from tests.cloud.tickets.helpers import submit
from tests.cloud.world import World
from tests.conftest import need

HEADERS = {"X-Requested-With": "medfix"}


def _amr(seconds: int = 1) -> bytes:
    """An AMR-NB file as WeChat's uploadVoice leaves it: the magic line, then 12.2 kbit/s frames (20 ms each)."""
    rng = random.Random(7)
    frames = (b"\x3c" + bytes(rng.randrange(256) for _ in range(31)) for _ in range(50 * seconds))
    return b"#!AMR\n" + b"".join(frames)


def _fake_ffmpeg(tmp_path: Path, body: str) -> str:
    """A stand-in ffmpeg: a shell script reading the recording from stdin, then doing body."""
    script = tmp_path / "fake-ffmpeg"
    script.write_text(f"#!/bin/sh\ncat >/dev/null\n{body}\n")
    script.chmod(0o755)
    return str(script)


@contextmanager
def _app(settings: Settings, **changes: Any) -> Iterator[tuple[TestClient, MediaWorker, Any]]:
    """The app with changed settings (media_workers=0 unless said: the test runs the worker itself)."""
    app = create_app(settings.model_copy(update={"media_workers": 0, "media_interval_s": 0.0, **changes}))
    with TestClient(app) as client:
        yield client, app.state.media_worker, app.state.sessionmaker


def _voice(client: TestClient, media_id: str, **extra: Any) -> Any:
    return client.post("/wechat/media", json={"media_id": media_id, "kind": "voice", "duration_s": 2, **extra},
                       headers=HEADERS)


def test_the_request_answers_before_a_slow_conversion_finishes(
        settings: Settings, standin: StandIn, tmp_path: Path) -> None:
    slow = _fake_ffmpeg(tmp_path, "sleep 4\nprintf 'ID3-converted'")
    with _app(settings, media_workers=1, ffmpeg_path=slow) as (client, worker, sessions):
        media_id = standin.add_media(_amr(2), "audio/amr")
        started = time.monotonic()
        response = _voice(client, media_id, transcript="离心机有异响")
        answered = time.monotonic() - started
        assert response.status_code == 201, response.text
        out = response.json()
        assert out["state"] == "pending" and out["key"] and out["transcript"] == "离心机有异响"
        assert answered < 3  # the fetch and the 4 s conversion happen after the answer
        with sessions() as db:
            waiting = db.get(TicketAttachment, out["id"])
            assert waiting is not None and waiting.state == "pending" and waiting.path == ""
        assert worker.wait_idle(30)
        with sessions() as db:
            attachment = db.get(TicketAttachment, out["id"])
            assert attachment is not None and attachment.state == "ready"
            assert attachment.content_type == "audio/mpeg"
            assert (settings.data_dir / attachment.path).read_bytes() == b"ID3-converted"


def test_a_pending_voice_note_becomes_ready_mp3_after_the_worker_runs_and_the_amr_is_kept(
        settings: Settings, standin: StandIn, world: World) -> None:
    need(shutil.which("ffmpeg") is not None, "ffmpeg (make browser installs it)")
    amr = _amr(2)
    with _app(settings) as (client, worker, sessions):
        media_id = standin.add_media(amr, "audio/amr")
        standin.fail_next["media/get"] = [-1]  # WeChat busy once: tried again
        out = _voice(client, media_id).json()
        # A ticket may reference it at once: the desk sees it as pending (处理中) without a file yet.
        ticket = submit(client, world, attachments=[{"id": out["id"], "key": out["key"]}]).json()["ticket"]
        desk = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("agent")).json()
        assert [(a["state"], a["url"]) for a in desk["attachments"]] == [("pending", "")]
        assert worker.run_due() == 2  # the failed try, then the one that worked
        desk = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("agent")).json()
        (shown,) = desk["attachments"]
        assert shown["state"] == "ready" and shown["content_type"] == "audio/mpeg" and shown["url"]
        playable = client.get(shown["url"], headers=world.headers("agent")).content
        assert playable.startswith(b"ID3") or playable[:2] == b"\xff\xfb"
        with sessions() as db:
            row = db.execute(select(WechatMedia).where(WechatMedia.media_id == media_id)).scalar_one()
            assert row.state == "ready" and row.attempts == 2 and row.original_type == "audio/amr"
            assert row.original_path.endswith(".amr")
            assert (settings.data_dir / row.original_path).read_bytes() == amr


def test_a_photo_media_id_becomes_an_upload(settings: Settings, standin: StandIn) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "JPEG")
    with _app(settings) as (client, worker, sessions):
        media_id = standin.add_media(buffer.getvalue(), "image/jpeg")
        response = client.post("/wechat/media", json={"media_id": media_id, "kind": "photo"}, headers=HEADERS)
        assert response.status_code == 201 and response.json()["state"] == "pending"
        worker.run_due()
        with sessions() as db:
            row = db.execute(select(WechatMedia).where(WechatMedia.media_id == media_id)).scalar_one()
            attachment = db.get(TicketAttachment, row.attachment_id)
            assert row.state == "ready" and row.original_type == "image/jpeg"
            assert attachment is not None and attachment.state == "ready"
            assert attachment.content_type == "image/jpeg" and attachment.size == len(buffer.getvalue())


def test_a_media_item_a_crash_interrupted_is_resumed_once_its_claim_runs_out(
        settings: Settings, standin: StandIn, tmp_path: Path) -> None:
    quick = _fake_ffmpeg(tmp_path, "printf 'ID3-resumed'")
    with _app(settings, ffmpeg_path=quick) as (client, worker, sessions):
        out = _voice(client, standin.add_media(_amr(), "audio/amr")).json()
        claimed = worker.claim()  # a process takes it ... and dies before it records anything
        assert claimed is not None and claimed.attempts == 1
        assert worker.run_due() == 0  # its claim still holds: nobody else works on it
    with sessions() as db:  # the claim runs out
        db.execute(update(WechatMedia).values(claimed_until=utcnow() - timedelta(seconds=1)))
        db.commit()
    # After the restart, the new process's worker finds it by itself (no request kicks it).
    with _app(settings, ffmpeg_path=quick, media_workers=1, media_interval_s=0.1) as (_client, _worker, sessions):
        deadline = time.monotonic() + 20
        while True:
            with sessions() as db:
                attachment = db.get(TicketAttachment, out["id"])
                assert attachment is not None
                if attachment.state != "pending" or time.monotonic() > deadline:
                    break
            time.sleep(0.1)
        assert attachment.state == "ready"
        assert (settings.data_dir / attachment.path).read_bytes() == b"ID3-resumed"
        with sessions() as db:
            assert db.execute(select(WechatMedia.attempts)).scalar_one() == 2


@pytest.mark.parametrize("body", ["echo broken >&2\nexit 1", "sleep 5\nprintf 'ID3-late'"],
                         ids=["ffmpeg-fails", "ffmpeg-too-slow"])
def test_a_failed_conversion_is_marked_failed_and_the_original_kept(
        settings: Settings, standin: StandIn, world: World, tmp_path: Path, body: str) -> None:
    amr = _amr()
    failing = _fake_ffmpeg(tmp_path, body)
    with _app(settings, ffmpeg_path=failing, ffmpeg_timeout_s=0.5) as (client, worker, sessions):
        out = _voice(client, standin.add_media(amr, "audio/amr")).json()
        started = time.monotonic()
        assert worker.run_due() == 1
        assert time.monotonic() - started < 4  # the slow one was stopped at its timeout
        ticket = submit(client, world, attachments=[{"id": out["id"], "key": out["key"]}]).json()["ticket"]
        desk = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("agent")).json()
        (shown,) = desk["attachments"]
        assert shown["state"] == "failed" and shown["content_type"] == "audio/amr"  # 语音转换失败, original offered
        assert client.get(shown["url"], headers=world.headers("agent")).content == amr
        with sessions() as db:
            row = db.execute(select(WechatMedia)).scalar_one()
            assert row.state == "failed" and row.error == "conversion failed"
            assert (settings.data_dir / row.original_path).read_bytes() == amr


def test_an_expired_media_id_fails_at_once_and_persistent_failures_after_the_last_try(
        settings: Settings, standin: StandIn) -> None:
    with _app(settings, media_max_attempts=3) as (client, worker, sessions):
        gone = _voice(client, "no-such-media").json()
        assert worker.run_due() == 1  # no second try: WeChat does not have it (kept 3 days)
        busy = _voice(client, standin.add_media(_amr(), "audio/amr")).json()
        standin.fail_next["media/get"] = [-1, -1, -1]
        assert worker.run_due() == 3
        with sessions() as db:
            states = {a.id: (a.state, a.path) for a in db.execute(select(TicketAttachment)).scalars()}
            assert states == {gone["id"]: ("failed", ""), busy["id"]: ("failed", "")}
            errors = sorted(str(m.error).split(":")[0] for m in db.execute(select(WechatMedia)).scalars())
            assert errors == ["gone", "unavailable"]


def test_conversions_are_rate_limited_per_caller_with_a_chinese_message(
        settings: Settings, standin: StandIn) -> None:
    with _app(settings, media_conversions_per_minute=2) as (client, _worker, _sessions):
        for _ in range(2):
            assert _voice(client, standin.add_media(_amr(), "audio/amr")).status_code == 201
        refused = _voice(client, standin.add_media(_amr(), "audio/amr"))
        assert refused.status_code == 429
        assert refused.json()["detail"] == "短时间内提交的微信照片和语音过多，请稍等一分钟再试。"
        assert refused.json()["retry_after"] == 60

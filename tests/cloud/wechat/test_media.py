"""Media recorded in WeChat: fetched at once with retries, AMR voice converted to MP3, the original kept."""

from __future__ import annotations

import io
import random
import shutil

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.tickets.models import TicketAttachment
from cloud.wechat.models import WechatMedia
from cloud.wechat.standin import StandIn
from tests.conftest import need

HEADERS = {"X-Requested-With": "medfix"}


def _amr(seconds: int = 1) -> bytes:
    """An AMR-NB file as WeChat's uploadVoice leaves it: the magic line, then 12.2 kbit/s frames (20 ms each)."""
    rng = random.Random(7)
    frames = (b"\x3c" + bytes(rng.randrange(256) for _ in range(31)) for _ in range(50 * seconds))
    return b"#!AMR\n" + b"".join(frames)


def test_a_voice_media_id_is_fetched_converted_to_mp3_and_the_amr_kept(
        client: TestClient, db: Session, standin: StandIn, settings: Settings) -> None:
    need(shutil.which("ffmpeg") is not None, "ffmpeg (make browser installs it)")
    amr = _amr(2)
    media_id = standin.add_media(amr, "audio/amr")
    standin.fail_next["media/get"] = [-1]  # WeChat busy once: retried
    response = client.post("/wechat/media", json={"media_id": media_id, "kind": "voice", "duration_s": 2,
                                                  "transcript": "离心机有异响"}, headers=HEADERS)
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["content_type"] == "audio/mpeg" and out["transcript"] == "离心机有异响" and out["key"]
    attachment = db.get(TicketAttachment, out["id"])
    assert attachment is not None
    playable = (settings.data_dir / attachment.path).read_bytes()
    assert playable.startswith(b"ID3") or playable[:2] == b"\xff\xfb"
    row = db.execute(select(WechatMedia).where(WechatMedia.media_id == media_id)).scalar_one()
    assert row.attachment_id == attachment.id and row.original_type == "audio/amr"
    assert row.original_path.endswith(".amr")
    assert (settings.data_dir / row.original_path).read_bytes() == amr


def test_a_photo_media_id_becomes_an_upload(client: TestClient, db: Session, standin: StandIn) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "JPEG")
    media_id = standin.add_media(buffer.getvalue(), "image/jpeg")
    response = client.post("/wechat/media", json={"media_id": media_id, "kind": "photo"}, headers=HEADERS)
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/jpeg"
    row = db.execute(select(WechatMedia).where(WechatMedia.media_id == media_id)).scalar_one()
    assert row.original_type == "image/jpeg"


def test_an_expired_media_id_is_a_clear_404_and_persistent_failures_a_502(
        client: TestClient, standin: StandIn) -> None:
    gone = client.post("/wechat/media", json={"media_id": "no-such-media", "kind": "voice"}, headers=HEADERS)
    assert gone.status_code == 404 and "3 days" in gone.json()["detail"]
    media_id = standin.add_media(_amr(), "audio/amr")
    standin.fail_next["media/get"] = [-1, -1, -1]
    busy = client.post("/wechat/media", json={"media_id": media_id, "kind": "voice"}, headers=HEADERS)
    assert busy.status_code == 502

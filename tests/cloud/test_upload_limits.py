"""Issue #13 (3): a body limit in front of every route, upload quotas per reporter and hospital, unused uploads go."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.db import utcnow
from cloud.main import create_app
from cloud.tickets.models import TicketAttachment
from cloud.tickets.unattached import sweep_unattached
from tests.cloud.tickets.helpers import png_bytes, submit, upload
from tests.cloud.world import World

MB = 1024 * 1024


def noisy_png(side: int = 800) -> bytes:
    """A PNG of noise: it does not compress, so side=800 is about 1.9 MB."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def app_client(settings: Settings, **changes: object) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update=changes))) as client:
        yield client


# ---- the body limit --------------------------------------------------------------------------------------------

def test_a_large_body_is_refused_with_413_before_the_route_reads_it(client: TestClient) -> None:
    big = b"username=" + b"x" * (2 * MB)
    page = client.post("/login", content=big, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                       "Accept": "text/html"})
    assert page.status_code == 413
    assert "text/html" in page.headers["content-type"] and "内容过大" in page.text
    api = client.post("/api/v1/auth/token", content=big,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert api.status_code == 413
    assert api.json()["code"] == "body_too_large" and "请求内容过大" in api.json()["detail"]
    assert api.json()["limit_bytes"] == 1024 * 1024
    assert api.headers["X-Content-Type-Options"] == "nosniff"  # the security headers wrap the refusal too


def test_a_body_that_grows_past_the_limit_while_streaming_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, so only counting while reading can tell
        for _ in range(40):
            yield b"x" * (64 * 1024)

    response = client.post("/api/v1/auth/token", content=chunks(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


def test_small_bodies_pass_and_upload_routes_take_their_files(client: TestClient, world: World) -> None:
    assert client.post("/api/v1/auth/token", data={"username": "agent", "password": "wrong"}).status_code == 401
    photo = upload(client, "photo", noisy_png())  # about 1.9 MB: over the 1 MB default, within the 10 MB photos
    assert photo.status_code == 201, photo.text
    too_big = upload(client, "photo", b"\x89PNG" + b"\x00" * (11 * MB))
    assert too_big.status_code == 413 and too_big.json()["limit_bytes"] > 10 * MB
    # The ingest keeps its own, larger limit (and its own answer: this one has no gateway token).
    ingest = client.post("/api/v1/ingest", content=b"{" + b" " * (2 * MB) + b"}",
                         headers={"Content-Type": "application/json"})
    assert ingest.status_code == 401


def test_the_default_limit_is_a_setting(settings: Settings) -> None:
    with app_client(settings, max_body_kb=64) as client:
        response = client.post("/api/v1/auth/token", content=b"x" * (100 * 1024),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 413 and response.json()["limit_bytes"] == 64 * 1024


# ---- quotas ----------------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("one_rate_window")
def test_uploads_per_minute_are_limited_per_reporter(settings: Settings, world: World) -> None:
    with app_client(settings, uploads_per_minute=2) as client:
        assert [upload(client, "photo", png_bytes()).status_code for _ in range(2)] == [201, 201]
        third = upload(client, "photo", png_bytes())
        assert third.status_code == 429 and "上传太频繁" in third.json()["detail"]
        # A signed-in reporter is counted by account, not by the address everyone here shares.
        signed_in = client.post("/api/v1/uploads", data={"kind": "photo"}, headers=world.headers("lab_a"),
                                files={"file": ("x.png", png_bytes(), "image/png")})
        assert signed_in.status_code == 201


@pytest.mark.usefixtures("one_rate_window")
def test_daily_file_and_megabyte_quotas_per_reporter(settings: Settings, world: World) -> None:
    with app_client(settings, upload_daily_files=2) as client:
        assert [upload(client, "photo", png_bytes()).status_code for _ in range(2)] == [201, 201]
        refused = upload(client, "photo", png_bytes())
        assert refused.status_code == 429 and "今天上传的文件已达上限" in refused.json()["detail"]
        assert 0 < refused.json()["retry_after"] <= 86_400
    with app_client(settings, upload_daily_mb=3) as client:
        assert upload(client, "photo", noisy_png()).status_code == 201
        assert upload(client, "photo", noisy_png()).status_code == 429  # 2 x 1.9 MB > 3 MB
        assert upload(client, "photo", png_bytes()).status_code == 201  # a refused upload used up nothing


def test_the_day_of_a_daily_quota_is_the_hospitals_and_the_refusal_says_when_it_ends(
        settings: Settings, world: World, db: Session) -> None:
    from cloud.registry.models import Hospital
    from cloud.tickets.quota import charge_reporter

    db.execute(update(Hospital).where(Hospital.id == world.hospital_b).values(time_zone="Asia/Urumqi"))  # UTC+6
    db.commit()
    midnight_beijing = datetime(2026, 12, 4, 16, 0, tzinfo=UTC).timestamp()  # 00:00 on 5 Dec in Beijing
    with app_client(settings, upload_daily_files=2) as client:
        state = client.app.state  # type: ignore[attr-defined]

        def charge(reporter: str, hospital: int | None, at: float) -> bool:
            return charge_reporter(state, state.settings, reporter, hospital, 1, now=at) is None

        # Hospital A (Beijing): two files late in the evening use up the day; its midnight starts a new one,
        # not 08:00 the next morning (UTC's midnight).
        assert [charge("user:a", world.hospital_a, midnight_beijing - 600) for _ in range(3)] == [True, True, False]
        assert not charge("user:a", world.hospital_a, midnight_beijing - 1)
        assert charge("user:a", world.hospital_a, midnight_beijing + 1)
        # Hospital B in Urumqi: 00:00 Beijing is 22:00 there, still the same day; its own midnight is 2 h later.
        assert [charge("user:b", world.hospital_b, midnight_beijing - 600) for _ in range(3)] == [True, True, False]
        assert not charge("user:b", world.hospital_b, midnight_beijing + 1)
        assert charge("user:b", world.hospital_b, midnight_beijing + 7200 + 1)

        for _ in range(2):
            assert upload(client, "photo", png_bytes()).status_code == 201
        refused = upload(client, "photo", png_bytes())
        assert refused.status_code == 429
        wait = refused.json()["retry_after"]
        assert refused.headers["Retry-After"] == str(wait)
        local_now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))  # an anonymous reporter: the default zone
        seconds_to_midnight = 86_400 - (local_now.hour * 3600 + local_now.minute * 60 + local_now.second)
        assert abs(wait - seconds_to_midnight) <= 5


@pytest.mark.usefixtures("one_rate_window")
def test_daily_megabyte_quota_per_hospital(settings: Settings, world: World) -> None:
    def as_user(client: TestClient, user: str) -> int:
        return client.post("/api/v1/uploads", data={"kind": "photo"}, headers=world.headers(user),
                           files={"file": ("x.png", noisy_png(), "image/png")}).status_code

    with app_client(settings, upload_daily_hospital_mb=3) as client:
        assert as_user(client, "lab_a") == 201
        refused = client.post("/api/v1/uploads", data={"kind": "photo"}, headers=world.headers("lab_new"),
                              files={"file": ("x.png", noisy_png(), "image/png")})
        assert refused.status_code == 429 and "医院今天上传的文件已达上限" in refused.json()["detail"]
        assert as_user(client, "lab_b") == 201  # another hospital has its own quota


# ---- the sweep -------------------------------------------------------------------------------------------------

def _age(db: Session, ids: list[int], hours: float) -> None:
    db.execute(update(TicketAttachment).where(TicketAttachment.id.in_(ids))
               .values(created_at=utcnow() - timedelta(hours=hours)))
    db.commit()


def test_uploads_nobody_used_are_swept_after_a_day(client: TestClient, world: World, db: Session,
                                                    app: object, settings: Settings) -> None:
    shared = png_bytes("blue")
    attached = upload(client, "photo", shared).json()
    ticket = submit(client, world, attachments=[{"id": attached["id"], "key": attached["key"]}])
    assert ticket.status_code == 201, ticket.text
    same_bytes = upload(client, "photo", shared).json()  # never attached, but its file backs the ticket's photo
    unused = upload(client, "photo", png_bytes("green")).json()
    in_chat = upload(client, "photo", png_bytes("yellow")).json()
    group_id = client.get("/api/v1/service-groups", headers=world.headers("lab_a")).json()[0]["id"]
    posted = client.post(f"/api/v1/service-groups/{group_id}/messages", headers=world.headers("lab_a"),
                         json={"kind": "photo", "attachments": [{"id": in_chat["id"], "key": in_chat["key"]}]})
    assert posted.status_code == 201, posted.text
    recent = upload(client, "photo", png_bytes("white")).json()
    files = {row.id: settings.data_dir / row.path for row in db.execute(select(TicketAttachment)).scalars()}
    _age(db, [attached["id"], same_bytes["id"], unused["id"], in_chat["id"]], 25)
    _age(db, [recent["id"]], 23)

    assert sweep_unattached(app.state.sessionmaker, settings) == 2  # type: ignore[attr-defined]

    db.expire_all()
    left = set(db.execute(select(TicketAttachment.id)).scalars())
    assert {same_bytes["id"], unused["id"]}.isdisjoint(left)
    assert {attached["id"], in_chat["id"], recent["id"]} <= left
    assert not files[unused["id"]].exists()
    assert files[attached["id"]].exists() and files[same_bytes["id"]] == files[attached["id"]]
    assert files[in_chat["id"]].exists() and files[recent["id"]].exists()
    assert sweep_unattached(app.state.sessionmaker, settings) == 0  # type: ignore[attr-defined]

"""Small helpers for ticket tests: submit, act, upload."""

from __future__ import annotations

import io
import uuid
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from tests.cloud.world import World


def png_bytes(color: str = "red") -> bytes:
    """A real little PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="PNG")
    return buffer.getvalue()


def webm_bytes() -> bytes:
    """Bytes that start like a WebM (Matroska) recording, as browsers' MediaRecorder writes them."""
    return b"\x1a\x45\xdf\xa3" + b"\x00" * 200


def upload(client: TestClient, kind: str, content: bytes, **form: Any) -> Any:
    """POST /uploads; returns the response."""
    return client.post("/api/v1/uploads", data={"kind": kind, **{k: str(v) for k, v in form.items()}},
                       files={"file": ("x.bin", content, "application/octet-stream")})


def submit(client: TestClient, world: World, *, device_id: int | None = None, key: str | None = None,
           headers: dict[str, str] | None = None, **body: Any) -> Any:
    """POST /tickets with an idempotency key; returns the response."""
    payload = {"device_id": device_id if device_id is not None else world.devices_a[0],
               "description": "反应盘温度报警，无法开始测试", "urgency": "high", "reporter_name": "陈老师",
               "reporter_phone": "13800001111", **body}
    if payload.get("device_id") is None:
        payload.pop("device_id")
    if not (headers or {}).get("Authorization") and "qr_code" not in payload and "group_id" not in payload:
        payload["qr_code"] = label_code(client, world, payload["device_id"])
    return client.post("/api/v1/tickets", json=payload,
                       headers={"Idempotency-Key": key or uuid.uuid4().hex, **(headers or {})})


def label_code(client: TestClient, world: World, device_id: int) -> str:
    """The device's QR label code (issued on first use), as printed on its label."""
    response = client.get(f"/api/v1/devices/{device_id}/qr.svg", headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    filename = response.headers["Content-Disposition"].split('filename="')[1].rstrip('"')
    return filename.rsplit(".", 1)[0].rsplit("-", 1)[1]  # "<system number>-<code>.svg"


def act(client: TestClient, ticket_id: int, headers: dict[str, str], action: str, **body: Any) -> Any:
    """POST an action; returns the response."""
    return client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": action, **body}, headers=headers)


def reporter(key: str) -> dict[str, str]:
    """Headers of an anonymous reporter holding the ticket link's key."""
    return {"X-Reporter-Key": key}

"""Reading the report PDFs back: their text (pypdf, through the embedded font's ToUnicode map), pages, images."""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import update
from sqlalchemy.orm import Session

from cloud.tickets.models import Ticket
from tests.cloud.tickets.helpers import act, png_bytes, submit, upload
from tests.cloud.world import World


def pdf_text(content: bytes) -> str:
    """All the text of a PDF, whitespace removed (CJK text extracts with stray spaces between runs)."""
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


def pdf_pages(content: bytes) -> int:
    """Number of pages."""
    return len(PdfReader(io.BytesIO(content)).pages)


def pdf_images(content: bytes) -> int:
    """Number of raster images drawn (the photos)."""
    return sum(len(page.images) for page in PdfReader(io.BytesIO(content)).pages)


def repaired_ticket(client: TestClient, world: World, *, reporter: str = "lab_a") -> dict[str, Any]:
    """A ticket reported by a signed-in lab user with a photo, dispatched, repaired on site with a photo, the fault
    category, root cause and parts; returns {"id", "number", "key"}."""
    lab = world.headers(reporter)
    before = upload(client, "photo", png_bytes("red")).json()
    body = submit(client, world, headers=lab, description="反应盘温度报警，无法开始测试",
                  attachments=[{"id": before["id"], "key": before["key"]}]).json()
    ticket_id = body["ticket"]["id"]
    agent, engineer = world.headers("agent"), world.headers("engineer")
    assert act(client, ticket_id, agent, "dispatch", engineer_id=world.users["engineer"]).status_code == 200
    assert act(client, ticket_id, engineer, "accept").status_code == 200
    assert act(client, ticket_id, engineer, "arrive").status_code == 200
    after = upload(client, "photo", png_bytes("green")).json()
    done = act(client, ticket_id, engineer, "complete", findings="更换反应盘加热器，校准温度传感器，质控通过",
               fault_category="temperature_control", root_cause="反应盘加热器老化",
               parts=[{"name": "反应盘加热器", "part_no": "04512345001", "qty": 1}],
               attachments=[{"id": after["id"], "key": after["key"]}])
    assert done.status_code == 200, done.text
    return {"id": ticket_id, "number": body["ticket"]["number"], "key": body["reporter_key"]}


def set_times(db: Session, ticket_id: int, **moments: datetime) -> None:
    """Move a ticket's timestamps (created_at, resolved_at, …) as if it happened then."""
    db.execute(update(Ticket).where(Ticket.id == ticket_id).values(**moments))
    db.commit()

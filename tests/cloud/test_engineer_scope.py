"""Security finding 6 of issue #13: an engineer who serves listed hospitals sees those hospitals' tickets, devices
and hospitals, plus the tickets assigned to them anywhere; the reporter's phone number only on their own tickets.
An engineer with no hospitals listed serves every hospital (as the dashboards already read it)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.auth.models import User
from tests.cloud.tickets.helpers import act, png_bytes, submit
from tests.cloud.world import World


def _serve(db: Session, world: World, hospital_ids: list[int]) -> None:
    engineer = db.get(User, world.users["engineer"])
    assert engineer is not None
    engineer.service_hospital_ids = hospital_ids
    db.commit()


def test_an_engineer_sees_the_hospitals_they_serve_and_their_own_tickets(client: TestClient, db: Session,
                                                                         world: World) -> None:
    in_a = submit(client, world, device_id=world.devices_a[0]).json()["ticket"]
    in_b = submit(client, world, device_id=world.devices_b[0]).json()["ticket"]
    _serve(db, world, [world.hospital_a])
    engineer = world.headers("engineer")

    listed = {t["id"] for t in client.get("/api/v1/tickets", headers=engineer).json()["items"]}
    assert in_a["id"] in listed and in_b["id"] not in listed
    assert client.get(f"/api/v1/tickets/{in_b['id']}", headers=engineer).status_code == 404
    assert client.post(f"/api/v1/tickets/{in_b['id']}/actions", json={"action": "note", "text": "看看"},
                       headers=engineer).status_code == 404
    assert [h["id"] for h in client.get("/api/v1/hospitals", headers=engineer).json()] == [world.hospital_a]
    assert client.get(f"/api/v1/devices/{world.devices_b[0]}", headers=engineer).status_code == 404
    assert client.get(f"/api/v1/devices/{world.devices_a[0]}", headers=engineer).status_code == 200
    assert client.get(f"/api/v1/devices/{world.devices_b[0]}/profile", headers=engineer).status_code == 404
    assert client.get(f"/api/v1/devices/{world.devices_a[0]}/profile", headers=engineer).status_code == 200
    # Nor do they search another hospital's devices by photo.
    photo = {"photo": ("p.png", png_bytes(), "image/png")}
    assert client.post("/api/v1/identify/photo", files=photo, data={"hospital_id": str(world.hospital_b)},
                       headers=engineer).status_code == 404
    assert client.post("/api/v1/identify/photo", files=photo, data={"hospital_id": str(world.hospital_a)},
                       headers=engineer).status_code == 200

    # The desk sends them to hospital B all the same: that ticket is theirs to see and work on.
    dispatched = act(client, in_b["id"], world.headers("agent"), "dispatch", engineer_id=world.users["engineer"])
    assert dispatched.status_code == 200, dispatched.text
    mine = client.get(f"/api/v1/tickets/{in_b['id']}", headers=engineer)
    assert mine.status_code == 200 and "accept" in mine.json()["allowed_actions"]
    listed = {t["id"] for t in client.get("/api/v1/tickets", headers=engineer).json()["items"]}
    assert {in_a["id"], in_b["id"]} <= listed

    # Serving every hospital (none listed) sees them all again.
    _serve(db, world, [])
    assert client.get(f"/api/v1/devices/{world.devices_b[1]}", headers=engineer).status_code == 200


def test_the_reporters_phone_number_only_on_the_engineers_own_tickets(client: TestClient, db: Session,
                                                                      world: World) -> None:
    theirs = submit(client, world, device_id=world.devices_a[0]).json()["ticket"]
    other = submit(client, world, device_id=world.devices_a[1]).json()["ticket"]
    act(client, theirs["id"], world.headers("agent"), "dispatch", engineer_id=world.users["engineer"])
    engineer = world.headers("engineer")
    assert client.get(f"/api/v1/tickets/{theirs['id']}", headers=engineer).json()["reporter_phone"] == "13800001111"
    assert client.get(f"/api/v1/tickets/{other['id']}", headers=engineer).json()["reporter_phone"] is None
    listed = {t["id"]: t for t in client.get("/api/v1/tickets", headers=engineer).json()["items"]}
    assert listed[other["id"]]["reporter_phone"] is None and listed[theirs["id"]]["reporter_phone"] == "13800001111"
    # The desk sees every reporter's number.
    assert client.get(f"/api/v1/tickets/{other['id']}",
                      headers=world.headers("agent")).json()["reporter_phone"] == "13800001111"

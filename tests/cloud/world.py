"""A small world every cloud test starts from: two hospitals, devices in each, one account per role."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.auth.models import Role
from cloud.auth.service import create_user, issue_token
from cloud.registry import service
from cloud.registry.schemas import DeviceIn, HospitalIn

PASSWORD = "correct-horse-battery"
ACTOR = Actor.system("test-world")


@dataclass
class World:
    """Ids and ready-made bearer tokens of the seeded world."""

    hospital_a: int = 0
    hospital_b: int = 0
    dept_a: int = 0
    dept_b: int = 0
    devices_a: list[int] = field(default_factory=list)
    devices_b: list[int] = field(default_factory=list)
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str) -> dict[str, str]:
        """Authorization headers for one of the world's accounts."""
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def build_world(session: Session) -> World:
    """Create the world through the real services and commit it."""
    world = World()
    a = service.create_hospital(session, actor=ACTOR, data=HospitalIn(
        name="上海交通大学医学院附属瑞金医院", aliases=["瑞金医院"], latitude=31.2117, longitude=121.4677,
        geofence_radius_m=800))
    b = service.create_hospital(session, actor=ACTOR, data=HospitalIn(
        name="复旦大学附属中山医院", aliases=["中山医院"], latitude=31.2007, longitude=121.4530))
    # Fixed codes the tests type (real ones are random and expire: registry_service.rotate_invite_code).
    a.invite_code, b.invite_code = "RJ-INVITE", "ZS-INVITE"
    world.hospital_a, world.hospital_b = a.id, b.id
    world.dept_a = service.create_department(session, hospital_id=a.id, name="检验科", actor=ACTOR).id
    world.dept_b = service.create_department(session, hospital_id=b.id, name="检验科", actor=ACTOR).id
    for serial, model in [("C702-1", "cobas c 702"), ("C502-1", "cobas c 502"), ("E801-1", "cobas e 801"),
                          ("XN-A1", "XN-1000")]:
        world.devices_a.append(service.create_device(session, actor=ACTOR, data=DeviceIn(
            serial=serial, manufacturer="Roche" if model.startswith("cobas") else "Sysmex", model=model,
            category="chemistry", hospital_id=a.id, department_id=world.dept_a)).id)
    for serial, model in [("XN-B1", "XN-550"), ("ISR-B1", "ARCHITECT i2000SR")]:
        world.devices_b.append(service.create_device(session, actor=ACTOR, data=DeviceIn(
            serial=serial, manufacturer="Sysmex" if model.startswith("XN") else "Abbott", model=model,
            category="hematology", hospital_id=b.id, department_id=world.dept_b)).id)
    accounts = [
        ("admin", Role.admin, None, True), ("agent", Role.agent, None, True),
        ("engineer", Role.engineer, None, True), ("center", Role.service_center, None, True),
        ("lab_a", Role.lab_user, a.id, True), ("lab_b", Role.lab_user, b.id, True),
        ("lab_new", Role.lab_user, a.id, False),
    ]
    for username, role, hospital_id, verified in accounts:
        user = create_user(session, username=username, password=PASSWORD, role=role, actor=ACTOR,
                           full_name=username, hospital_id=hospital_id, verified=verified)
        world.users[username] = user.id
        world.tokens[username] = issue_token(session, user=user, ttl=timedelta(days=7))
    session.commit()
    return world


def sign_in_form(client: Any, username: str, password: str = PASSWORD, **form: str) -> Any:
    """Post the HTML sign-in form as a browser does: its page first, for the form's CSRF token and cookie."""
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return client.post("/login", data={"username": username, "password": password, "csrf": found.group(1), **form},
                       follow_redirects=False)

"""Tenant isolation, route by route, from the OpenAPI document (issue #13): every operation x every role x an
object of the caller's own hospital (A) and of another (B).

Expected, per cell:
- anonymous: 401, except the routes public by design (PUBLIC, each with its reason);
- a lab user of A (verified or not) and an engineer who serves A, on B's object named in the path: 403 or 404
  (a change with an empty body may also be refused as 422), never 2xx; and no answer they get on any route, lists
  and exports included, carries B's data (its name, its devices' serials, its tickets', groups' and messages' texts);
- desk and admin: no 5xx; an administrator reads every object of both hospitals (200), so each id in the matrix is
  real and a 404 above means "hidden", not "wrong fixture".
No cell answers 5xx. A new route fails `test_every_route_is_in_the_matrix` until its path parameters are known here:
the matrix cannot silently skip it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert, AlertSeverity
from cloud.auth.models import User
from cloud.db import utcnow
from tests.cloud.kb.helpers import make_pdf
from tests.cloud.tickets.helpers import png_bytes, submit, upload
from tests.cloud.world import World

SCOPED = ("lab_new", "lab_a", "engineer")  # see hospital A only
UNSCOPED = ("agent", "center", "admin")
MUTATING = {"post", "put", "patch", "delete"}
# Ends the caller's own sign-in: called with a token, every later cell would be an anonymous one in disguise.
SIGN_OUT = ("post", "/api/v1/auth/logout")

# What only hospital B's data contains: a scoped caller's answer must hold none of it.
B_MARKERS = ("复旦大学附属中山医院", "中山医院", "XN-B1", "ISR-B1", "乙院矩阵标记")

# Public by design, with why: anonymous callers may get a 2xx here (never B's data unless they hold B's label).
PUBLIC = {
    ("post", "/api/v1/auth/token"): "sign-in",
    ("post", "/api/v1/auth/register"): "self-registration of lab users",
    ("get", "/api/v1/hospitals/search"): "reporters pick their hospital by name (names only)",
    ("post", "/api/v1/uploads"): "reporters attach photos before they submit",
    ("post", "/api/v1/tickets"): "reporting with the device's label, no account",
    ("get", "/api/v1/qr/{code}"): "the printed label is the credential",
    ("post", "/api/v1/ingest"): "gateways, by their own token",
    ("get", "/wechat/callback"): "WeChat's server, by signature",
    ("post", "/wechat/callback"): "WeChat's server, by signature",
    ("get", "/wechat/jssdk-config"): "the WeChat page's JS-SDK signature",
    ("post", "/wechat/media"): "a reporter's WeChat voice or photo",
    ("post", "/api/v1/bot/ask"): "the bot answers reporters too",
    ("post", "/api/v1/bot/feedback"): "a reporter's thumbs up/down on an answer they got",
    ("get", "/api/v1/bot/entries/{entry_id}"): "the knowledge base's answers the bot suggests, like the repair page",
    ("get", "/api/v1/tickets/{ticket_id}"): "a reporter's private link (X-Reporter-Key); 404 without it",
    ("post", "/api/v1/tickets/{ticket_id}/actions"): "a reporter confirms or reopens by their private link",
    ("get", "/api/v1/tickets/{ticket_id}/attachments/{attachment_id}"): "a reporter's own photos, by the link",
    ("post", "/api/v1/identify/photo"): "a reporter without a label finds the device by its photo",
    ("get", "/healthz"): "load balancer",
    ("get", "/readyz"): "load balancer",
}
# Cells where a scoped caller may reach an object of hospital B, with why.
CROSS_HOSPITAL_BY_DESIGN = {
    ("get", "/api/v1/qr/{code}"): "a label in hand is proof of standing before the device (the reporter's path)",
}


@dataclass
class Objects:
    """For each kind of id in a path, (hospital A's, hospital B's)."""

    ids: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def pick(self, kind: str, target: int) -> Any:
        return self.ids[kind][target]


def param_kind(path: str, name: str) -> str:
    """Which kind of object a path parameter names (group_id is a device group or a service group by path)."""
    if name == "group_id" and path.startswith("/api/v1/service-groups"):
        return "service_group_id"
    if name == "attachment_id" and path.startswith("/api/v1/service-groups"):
        return "group_attachment_id"
    return name


def build(client: TestClient, db: Session, world: World) -> Objects:
    """One object of each kind in each hospital, made the way users make them."""
    admin = world.headers("admin")
    objects = Objects()
    # The engineer serves hospital A only (from before anything happens, so whatever reaches them is A's); the
    # world made them a member of B's service group while they served every hospital: that must not let them in.
    engineer = db.get(User, world.users["engineer"])
    assert engineer is not None
    engineer.service_hospital_ids = [world.hospital_a]
    db.commit()
    objects.ids["hospital_id"] = (world.hospital_a, world.hospital_b)
    objects.ids["device_id"] = (world.devices_a[0], world.devices_b[0])
    objects.ids["user_id"] = (world.users["lab_a"], world.users["lab_b"])
    departments = []
    for hospital in (world.hospital_a, world.hospital_b):
        made = client.post(f"/api/v1/hospitals/{hospital}/departments", json={"name": f"矩阵科室{hospital}"},
                           headers=admin)
        assert made.status_code == 201, made.text
        departments.append(made.json()["id"])
    objects.ids["department_id"] = tuple(departments)  # type: ignore[assignment]

    groups, gateways, tickets, attachments, photos, claims, asks = [], [], [], [], [], [], []
    for side, (devices, lab) in enumerate(((world.devices_a, "lab_a"), (world.devices_b, "lab_b"))):
        marker = "甲院" if side == 0 else "乙院矩阵标记"
        group = client.post("/api/v1/groups", json={"name": f"{marker}设备组", "device_ids": devices[:2]},
                            headers=admin)
        assert group.status_code == 201, group.text
        groups.append(group.json()["id"])
        gateway = client.post("/api/v1/gateways", headers=admin, json={
            "name": f"gw-matrix-{side}-{uuid.uuid4().hex[:6]}", "hospital_id": world.hospital_a if side == 0
            else world.hospital_b})
        assert gateway.status_code == 201, gateway.text
        gateways.append(gateway.json()["id"])
        photo = upload(client, "photo", png_bytes("blue" if side else "green"))
        assert photo.status_code == 201, photo.text
        ticket = submit(client, world, device_id=devices[0], description=f"{marker}：反应盘温度报警",
                        attachments=[{"id": photo.json()["id"], "key": photo.json()["key"]}])
        assert ticket.status_code == 201, ticket.text
        tickets.append(ticket.json()["ticket"]["id"])
        attachments.append(photo.json()["id"])
        device_photo = client.post(f"/api/v1/devices/{devices[0]}/photos", headers=admin,
                                   files={"photo": ("d.png", png_bytes("white"), "image/png")})
        assert device_photo.status_code == 201, device_photo.text
        photos.append(device_photo.json()["id"])
        claim = client.post("/api/v1/me/claims", json={"device_id": devices[1]}, headers=world.headers(lab))
        assert claim.status_code == 201, claim.text
        claims.append(claim.json()["id"])
        ask = client.post("/api/v1/bot/ask", json={"text": f"{marker} 样本针堵了怎么办", "device_id": devices[0]},
                          headers=world.headers(lab))
        assert ask.status_code == 200, ask.text
        asks.append(ask.json()["ask_id"])
    objects.ids.update(group_id=tuple(groups), gateway_id=tuple(gateways), ticket_id=tuple(tickets),  # type: ignore[arg-type]
                       attachment_id=tuple(attachments), photo_id=tuple(photos), claim_id=tuple(claims),
                       ask_id=tuple(asks))

    service_groups, messages, group_attachments = [], [], []
    for lab in ("lab_a", "lab_b"):
        [group] = client.get("/api/v1/service-groups", headers=world.headers(lab)).json()
        service_groups.append(group["id"])
        text = "甲院群消息" if lab == "lab_a" else "乙院矩阵标记群消息"
        photo = upload(client, "photo", png_bytes("red"))
        assert photo.status_code == 201, photo.text
        message = client.post(f"/api/v1/service-groups/{group['id']}/messages", headers=world.headers(lab),
                              json={"text": text, "attachments": [{"id": photo.json()["id"],
                                                                   "key": photo.json()["key"]}]})
        assert message.status_code == 201, message.text
        messages.append(message.json()["id"])
        group_attachments.append(photo.json()["id"])
    objects.ids["service_group_id"] = tuple(service_groups)  # type: ignore[assignment]
    objects.ids["message_id"] = tuple(messages)  # type: ignore[assignment]
    objects.ids["group_attachment_id"] = tuple(group_attachments)  # type: ignore[assignment]
    requests_ = []
    for side, lab in enumerate(("lab_a", "lab_b")):
        made = client.post("/api/v1/service-groups/requests", headers=world.headers(lab),
                           json={"kind": "device_group", "device_group_id": groups[side], "name": f"矩阵群{side}",
                                 "reason": "设备组专属沟通"})
        assert made.status_code == 201, made.text
        requests_.append(made.json()["id"])
    objects.ids["request_id"] = tuple(requests_)  # type: ignore[assignment]

    alerts = []
    for hospital, device in ((world.hospital_a, world.devices_a[0]), (world.hospital_b, world.devices_b[0])):
        now = utcnow()
        alert = Alert(hospital_id=hospital, device_id=device, metric="temp_c", severity=AlertSeverity.warning,
                      started_at=now - timedelta(minutes=5), last_abnormal_at=now, last_score=0.99, peak_score=0.99)
        db.add(alert)
        db.flush()
        alerts.append(alert.id)
    db.commit()
    objects.ids["alert_id"] = tuple(alerts)  # type: ignore[assignment]

    windows = []
    for device in (world.devices_a[0], world.devices_b[0]):
        start = utcnow() + timedelta(days=1)
        made = client.post("/api/v1/maintenance-windows", headers=admin, json={
            "device_id": device, "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
            "reason": "矩阵保养"})
        assert made.status_code == 201, made.text
        windows.append(made.json()["id"])
    objects.ids["window_id"] = tuple(windows)  # type: ignore[assignment]

    labels = []
    for device in (world.devices_a[0], world.devices_b[0]):
        svg = client.get(f"/api/v1/devices/{device}/qr.svg", headers=admin)
        labels.append(svg.headers["Content-Disposition"].split('filename="')[1].rstrip('"')
                      .rsplit(".", 1)[0].rsplit("-", 1)[1])
    objects.ids["code"] = tuple(labels)  # type: ignore[assignment]
    objects.ids["device_key"] = ("c702", "c702")
    objects.ids["fmt"] = ("csv", "csv")
    # Shared catalogues (not any hospital's): the same object on both sides; the markers still guard the answers.
    objects.ids["item_id"] = (1, 1)  # a precheck item: reached only through its ticket, which is scoped
    entry = client.post("/api/v1/kb/entries", headers=admin,
                        json={"question": "样本针堵了怎么办", "answer": "清洗样本针"})
    assert entry.status_code == 201, entry.text
    objects.ids["entry_id"] = (entry.json()["id"],) * 2  # type: ignore[assignment]
    manual = client.post("/api/v1/kb/manuals", headers=admin, data={"title": "cobas c 702 操作手册"},
                         files={"file": ("manual.pdf", make_pdf(), "application/pdf")})
    assert manual.status_code == 201, manual.text
    objects.ids["manual_id"] = (manual.json()["id"],) * 2  # type: ignore[assignment]
    categories = client.get("/api/v1/fault-categories", headers=admin).json()
    objects.ids["category_id"] = (_first_id(categories),) * 2  # type: ignore[assignment]
    policies = []
    for device in (world.devices_a[0], world.devices_b[0]):
        made = client.post("/api/v1/alert-policies", headers=admin, json={
            "metric": "temp_c", "device_id": device, "sensitivity": 0.6, "min_duration_s": 30, "cooldown_s": 600})
        assert made.status_code == 201, made.text
        policies.append(made.json()["id"])
    objects.ids["policy_id"] = tuple(policies)  # type: ignore[assignment]

    return objects


def _first_id(listing: Any, default: int | None = None) -> int:
    items = listing["items"] if isinstance(listing, dict) else listing
    if not items:
        assert default is not None, listing
        return default
    return int(items[0]["id"])


def operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = client.get("/openapi.json").json()
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def url_for(path: str, op: dict[str, Any], objects: Objects, target: int) -> str:
    """The path with the target hospital's ids, and its hospital/device/group query filters pointed there too."""
    url = re.sub(r"{(\w+)}", lambda m: str(objects.pick(param_kind(path, m.group(1)), target)), path)
    query: dict[str, Any] = {}
    scoped_by = ""
    for parameter in op.get("parameters", []):
        if parameter["in"] != "query":
            continue
        name = parameter["name"]
        if name in ("hospital_id", "device_id", "group_id", "department_id") and not scoped_by:
            query[name] = objects.pick(name, target)  # one filter: several at once may contradict each other
            scoped_by = name
        elif parameter.get("required"):
            schema = parameter.get("schema", {})
            query[name] = (schema.get("enum") or [None])[0] or {"integer": 1, "boolean": "true"}.get(
                schema.get("type", ""), "x")
    query.update(EXTRA_QUERY.get(path, {}))
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


# A CSV export of the ticket list: text the markers can be found in (XLSX is zipped).
EXTRA_QUERY = {"/api/v1/dashboards/export.{fmt}": {"view": "tickets"}}


def leaked(text: str) -> list[str]:
    return [marker for marker in B_MARKERS if marker in text]


def test_every_route_is_in_the_matrix(client: TestClient, db: Session, world: World) -> None:
    objects = build(client, db, world)
    unknown = {(method, path, name) for method, path, _ in operations(client)
               for name in re.findall(r"{(\w+)}", path) if param_kind(path, name) not in objects.ids}
    assert unknown == set(), "path parameters the matrix cannot fill: add their objects to build()"


def test_no_route_shows_or_changes_another_hospitals_data(client: TestClient, db: Session, world: World) -> None:
    objects = build(client, db, world)
    problems: list[str] = []
    cells = 0
    for method, path, op in operations(client):
        for target, side in ((0, "A"), (1, "B")):
            url = url_for(path, op, objects, target)
            mutating = method in MUTATING
            # B's object by a path id (a list filtered by B's id answers an empty page, which the markers check).
            names_b_object = side == "B" and _path_of(url) != _path_of(url_for(path, op, objects, 0))

            def call(who: str | None, method: str = method, url: str = url) -> Any:
                headers = world.headers(who) if who else {}
                return client.request(method.upper(), url, headers=headers,
                                      json={} if method in MUTATING else None)

            # Anonymous: 401 unless public by design; never B's data unless by design.
            response = call(None)
            cells += 1
            if response.status_code >= 500:
                problems.append(f"anonymous {method.upper()} {url}: {response.status_code}")
            elif (method, path) not in PUBLIC and response.status_code != 401:
                problems.append(f"anonymous {method.upper()} {url}: {response.status_code}, not 401")
            elif side == "B" and leaked(response.text) and (method, path) not in CROSS_HOSPITAL_BY_DESIGN:
                problems.append(f"anonymous {method.upper()} {url}: shows {leaked(response.text)}")
            for who in SCOPED:
                if (mutating and side == "A") or (method, path) == SIGN_OUT:
                    continue  # changing one's own hospital's objects is their right (and would spoil the fixtures)
                response = call(who)
                cells += 1
                status = response.status_code
                if status >= 500:
                    problems.append(f"{who} {method.upper()} {url}: {status}")
                elif names_b_object and (method, path) not in CROSS_HOSPITAL_BY_DESIGN \
                        and status not in ({403, 404, 422} if mutating else {403, 404}):
                    # 403: not for this role; 404: not in their world; 422: an empty body, refused before anything
                    problems.append(f"{who} {method.upper()} {url}: {status} on hospital B's object")
                elif leaked(response.text) and (method, path) not in CROSS_HOSPITAL_BY_DESIGN:
                    problems.append(f"{who} {method.upper()} {url}: shows {leaked(response.text)}")
            if mutating:
                continue
            for who in UNSCOPED:
                response = call(who)
                cells += 1
                if response.status_code >= 500:
                    problems.append(f"{who} GET {url}: {response.status_code}")
                elif who == "admin" and response.status_code != 200 and (method, path) not in ADMIN_NOT_200:
                    problems.append(f"admin GET {url}: {response.status_code} (the matrix's id is not real?)")
    assert cells > 1000
    assert problems == [], "\n".join(problems)
    # The scoped accounts were themselves all along, and their own hospital's objects stayed theirs to see.
    for who in (*SCOPED, *UNSCOPED):
        assert client.get("/api/v1/auth/me", headers=world.headers(who)).status_code == 200, who
    for url in (f"/api/v1/devices/{world.devices_a[0]}", f"/api/v1/tickets/{objects.pick('ticket_id', 0)}",
                f"/api/v1/service-groups/{objects.pick('service_group_id', 0)}"):
        for who in ("lab_a", "engineer"):
            assert client.get(url, headers=world.headers(who)).status_code == 200, (who, url)


# GETs an administrator does not get a 200 from, with why.
ADMIN_NOT_200 = {
    ("get", "/api/v1/me/devices"): "a lab user's own devices: administrators have none (403)",
    ("get", "/wechat/callback"): "answers WeChat's signed echo only",
    ("get", "/wechat/jssdk-config"): "WeChat not set up in tests",
    ("get", "/api/v1/tickets/{ticket_id}/precheck"): "only predictive tickets have a checklist",
}


def _path_of(url: str) -> str:
    return url.split("?", 1)[0]

"""Issue #13 (1): the label-lost form must not hand out label codes or history for a guessable number."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from cloud.registry.backup import issue_pass, pass_device
from tests.cloud.tickets.helpers import label_code, submit
from tests.cloud.world import World

ZH = {"Accept-Language": "zh-CN"}


def system_number(client: TestClient, world: World, device_id: int) -> str:
    return client.get(f"/api/v1/devices/{device_id}", headers=world.headers("admin")).json()["system_number"]


def test_a_system_number_alone_reveals_nothing_to_a_passer_by(client: TestClient, world: World) -> None:
    number = system_number(client, world, world.devices_a[0])
    for headers in ({}, world.headers("lab_new")):  # anonymous, or signed in but not verified
        response = client.post("/report", data={"number": number}, headers=ZH | headers, follow_redirects=False)
        assert response.status_code == 422
        assert "location" not in response.headers
        assert "请同时填写铭牌上的序列号和设备编号" in response.text
    # The old single field (the sequential number) leads nowhere either.
    legacy = client.post("/report", data={"identifier": number}, follow_redirects=False)
    assert legacy.status_code == 422 and "location" not in legacy.headers


def test_serial_and_number_open_a_report_form_without_code_or_history(client: TestClient, world: World) -> None:
    device = world.devices_a[0]
    code = label_code(client, world, device)
    old = submit(client, world, device_id=device, description="旧故障：试剂针堵塞 E801")
    assert old.status_code == 201
    number = system_number(client, world, device)
    response = client.post("/report", data={"serial": "c702 1", "number": number}, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/report/device/") and code not in location
    page = client.get(location, headers=ZH).text
    assert number in page and "report-form" in page
    assert code not in page and "旧故障" not in page and old.json()["ticket"]["number"] not in page
    assert "repair-history" not in page and "dup-form" not in page
    # The pass on the page lets its holder report this device, and only this one.
    token = re.search(r'data-code="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert submit(client, world, device_id=device, qr_code=token).status_code == 201
    other = submit(client, world, device_id=world.devices_a[1], qr_code=token)
    assert other.status_code == 403
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert submit(client, world, device_id=device, qr_code=forged).status_code == 403


def test_a_wrong_pair_says_so_in_chinese(client: TestClient, world: World) -> None:
    # The serial of one device with the number of another: not found, and no hint which half was right.
    number = system_number(client, world, world.devices_a[1])
    response = client.post("/report", data={"serial": "C702-1", "number": number}, headers=ZH)
    assert response.status_code == 404 and "序列号和设备编号不匹配任何设备" in response.text


def test_passes_expire_and_cannot_be_forged(settings, world: World) -> None:  # noqa: ANN001
    token = issue_pass(settings, device_id=world.devices_a[0], now=time.time())
    assert pass_device(settings, token) == world.devices_a[0]
    assert pass_device(settings, token, now=time.time() + 3 * 3600) is None
    device_id, expires, signature = token.removeprefix("bp.").split(".")
    assert pass_device(settings, f"bp.{world.devices_a[1]}.{expires}.{signature}") is None
    assert pass_device(settings, f"bp.{device_id}.{int(expires) + 99999}.{signature}") is None


def test_trusted_users_need_one_identifier_but_only_within_their_hospital(client: TestClient,
                                                                          world: World) -> None:
    foreign = system_number(client, world, world.devices_b[0])
    mine = client.post("/report", data={"serial": "C702-1"}, headers=world.headers("lab_a"), follow_redirects=False)
    assert mine.status_code == 303 and mine.headers["location"].startswith("/r/")
    other = client.post("/report", data={"number": foreign}, headers=world.headers("lab_a"), follow_redirects=False)
    assert other.status_code == 404
    staff = client.post("/report", data={"number": foreign}, headers=world.headers("agent"), follow_redirects=False)
    assert staff.status_code == 303 and staff.headers["location"].startswith("/r/")


@pytest.mark.usefixtures("one_rate_window")
def test_the_form_is_rate_limited_per_address(client: TestClient, world: World) -> None:
    app = client.app
    app.state.settings = app.state.settings.model_copy(update={"report_by_id_per_minute": 3})  # type: ignore[attr-defined]
    for _ in range(3):
        assert client.post("/report", data={"serial": uuid.uuid4().hex[:8], "number": "MF-000001"}).status_code == 404
    limited = client.post("/report", data={"serial": "C702-1", "number": "MF-000001"}, headers=ZH)
    assert limited.status_code == 429 and "尝试次数过多" in limited.text

"""The desk's inbox through the API: search, filters, views and their counts, a ticket's relatives."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import World


def _ids(client: TestClient, world: World, query: str, user: str = "agent") -> list[int]:
    response = client.get(f"/api/v1/tickets?{query}", headers=world.headers(user))
    assert response.status_code == 200, response.text
    return sorted(t["id"] for t in response.json()["items"])


def test_search_finds_by_number_device_serial_reporter_and_text(client: TestClient, world: World) -> None:
    first = submit(client, world, device_id=world.devices_a[0], description="反应盘温度报警",
                   reporter_name="陈老师", reporter_phone="13800001111").json()["ticket"]
    second = submit(client, world, device_id=world.devices_a[3], description="进样针堵塞 100%_done",
                    reporter_name="王医生", reporter_phone="13900002222").json()["ticket"]
    third = submit(client, world, device_id=world.devices_b[0], description="屏幕黑屏",
                   reporter_name="李护士", reporter_phone="021-64041990").json()["ticket"]
    assert _ids(client, world, f"q={first['number']}") == [first["id"]]
    assert _ids(client, world, f"q={second['device_system_number']}") == [second["id"]]
    assert _ids(client, world, "q=xn-b1") == [third["id"]]  # the serial, in any case
    assert _ids(client, world, "q=王医生") == [second["id"]]
    assert _ids(client, world, "q=64041990") == [third["id"]]
    assert _ids(client, world, "q=温度") == [first["id"]]
    assert _ids(client, world, "q=100%25_") == [second["id"]]  # % and _ are letters here, not wildcards
    assert _ids(client, world, "q=nothing-like-this") == []


def test_filters_combine_and_stay_in_the_callers_scope(client: TestClient, world: World) -> None:
    a = submit(client, world, device_id=world.devices_a[0], urgency="high").json()["ticket"]
    b = submit(client, world, device_id=world.devices_a[3], urgency="low").json()["ticket"]
    c = submit(client, world, device_id=world.devices_b[0], urgency="normal").json()["ticket"]
    act(client, b["id"], world.headers("agent"), "dispatch", engineer_id=world.users["engineer"])
    assert _ids(client, world, f"hospital_id={world.hospital_a}") == sorted([a["id"], b["id"]])
    assert _ids(client, world, f"priority={a['priority']}") == [a["id"]]
    assert _ids(client, world, f"assignee={world.users['engineer']}") == [b["id"]]
    assert _ids(client, world, "status=dispatched") == [b["id"]]
    assert _ids(client, world, "source=reported") == sorted([a["id"], b["id"], c["id"]])
    assert _ids(client, world, "source=predictive") == []
    assert _ids(client, world, f"hospital_id={world.hospital_a}&status=submitted") == [a["id"]]
    # A lab user of hospital B asking for hospital A's tickets gets none of them.
    assert _ids(client, world, f"hospital_id={world.hospital_a}", user="lab_b") == []
    assert client.get("/api/v1/tickets?source=bogus", headers=world.headers("agent")).status_code == 422


def test_views_mine_unassigned_all_with_counts(client: TestClient, world: World) -> None:
    agent = world.users["agent"]
    mine = submit(client, world).json()["ticket"]
    assert mine["agent_id"] == agent  # the only agent gets it on submission
    done = submit(client, world, device_id=world.devices_a[1]).json()["ticket"]
    act(client, done["id"], world.headers("agent"), "cancel", reason="重复报修")
    # The admin's view of "mine" is empty; nobody is unassigned while an agent has room.
    assert _ids(client, world, "view=mine") == sorted([mine["id"], done["id"]])
    assert _ids(client, world, "view=mine", user="admin") == []
    assert _ids(client, world, "view=unassigned") == []
    assert _ids(client, world, "view=all&status=cancelled") == [done["id"]]
    counts = client.get("/api/v1/tickets/counts?view=mine", headers=world.headers("agent")).json()
    assert counts["views"] == {"mine": 1, "unassigned": 0, "all": 1}  # open tickets only
    assert counts["statuses"]["submitted"] == 1 and counts["statuses"]["cancelled"] == 1
    filtered = client.get(f"/api/v1/tickets/counts?hospital_id={world.hospital_b}",
                          headers=world.headers("agent")).json()
    assert filtered["views"]["all"] == 0


def test_related_lists_the_reporters_other_tickets_and_the_open_twins(client: TestClient, world: World) -> None:
    lab = world.headers("lab_a")
    older = submit(client, world, headers=lab, device_id=world.devices_a[0]).json()["ticket"]
    other = submit(client, world, headers=lab, device_id=world.devices_a[1]).json()["ticket"]
    newer = submit(client, world, headers=lab, device_id=world.devices_a[0]).json()["ticket"]
    stranger = submit(client, world, device_id=world.devices_a[2], reporter_phone="13700009999").json()["ticket"]
    related = client.get(f"/api/v1/tickets/{newer['id']}/related", headers=world.headers("agent")).json()
    assert sorted(t["id"] for t in related["reporter"]) == sorted([older["id"], other["id"]])
    assert [t["id"] for t in related["duplicates"]] == [older["id"]]
    listed = {t["id"]: t for t in client.get("/api/v1/tickets", headers=world.headers("agent")).json()["items"]}
    assert listed[newer["id"]]["possible_duplicates"] == [older["id"]]
    assert listed[stranger["id"]]["possible_duplicates"] == []
    assert client.get(f"/api/v1/tickets/{newer['id']}/related", headers=lab).status_code == 403


def test_the_console_page_offers_the_filters_in_chinese(client: TestClient, world: World) -> None:
    page = client.get("/console?q=WO-1&view=mine", headers={**world.headers("agent"), "Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert "工单号、设备编号、序列号、报修人、电话或描述" in page.text and "清除筛选" in page.text
    assert '"desk.Mine"' in page.text and '"action.reply"' in page.text  # the scripts' texts
    assert f'"id": {world.hospital_a}' in page.text  # the hospital filter's choices
    assert f'"id": {world.users["engineer"]}' in page.text  # an engineer to filter by

"""Admin console, fault categories: the list per device category by name (never a code), add, rename, reorder,
deactivate, with messages in the page's language."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.tickets.models import FaultCategory
from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import World

PAGE = "/admin/fault-categories"


def _post(client: TestClient, world: World, path: str, data: dict[str, str], user: str = "admin") -> Any:
    return client.post(path, data=data, headers={**world.headers(user), "Accept": "application/json"})


def _names(client: TestClient, world: World, category: str = "") -> list[str]:
    page = client.get(PAGE, params={"category": category} if category else {}, headers=world.headers("admin"))
    assert page.status_code == 200, page.text
    table = page.text.split('id="fault-table"')[1].split("</table>")[0]
    return re.findall(r'data-name="([^"]+)"', table)


def test_the_lists_show_names_in_order_and_never_codes(client: TestClient, world: World) -> None:
    page = client.get(PAGE, params={"category": "chemistry"}, headers=world.headers("admin"))
    assert page.status_code == 200
    assert "生化设备的故障分类" in page.text and "仅生化" in page.text
    table = page.text.split('id="fault-table"')[1].split("</table>")[0]
    assert not re.search(r">\s*(temperature_control|optics_lamp|no_fault|chemistry)\s*<", table)
    assert _names(client, world, "chemistry")[:5] == ["温控", "光学 / 光源", "加样针 / 堵针", "试剂与液路", "ISE 电极"]
    assert "ISE 电极" not in _names(client, world)  # the general list holds the general entries only
    assert "电极 / 传感器" in _names(client, world, "blood_gas")
    client.cookies.set("medfix_lang", "en")
    english = client.get(PAGE, params={"category": "chemistry"}, headers=world.headers("admin")).text
    assert "Fault categories for Chemistry devices" in english and "Only Chemistry" in english
    assert client.get(PAGE, headers=world.headers("engineer")).status_code == 403


def test_admins_add_rename_reorder_and_deactivate_in_place(client: TestClient, db: Session, world: World) -> None:
    empty = _post(client, world, f"{PAGE}/new", {"name_zh": " ", "scope": "chemistry"})
    assert empty.status_code == 422 and empty.json()["errors"][0] == {"field": "name_zh", "message": "请填写中文名称。"}
    twin = _post(client, world, f"{PAGE}/new", {"name_zh": "温控", "scope": "chemistry"})
    assert twin.status_code == 409 and twin.json()["errors"][0]["field"] == "name_zh"
    made = _post(client, world, f"{PAGE}/new", {"name_zh": "比色杯", "name_en": "Cuvettes", "scope": "chemistry",
                                                "basic": "on"})
    assert made.status_code == 200 and made.json()["message"] == "已添加故障类别"
    row = db.query(FaultCategory).filter_by(code="cuvettes").one()
    assert (row.device_category, row.basic, row.active) == ("chemistry", True, True)
    assert _names(client, world, "chemistry")[-1] == "比色杯"
    assert "比色杯" not in _names(client, world, "hematology")
    # renamed, then up one place in chemistry's list
    renamed = _post(client, world, f"{PAGE}/{row.id}", {"name_zh": "比色杯 / 反应杯", "name_en": "Cuvettes"})
    assert renamed.status_code == 200
    moved = _post(client, world, f"{PAGE}/{row.id}/move", {"direction": "up", "listed": "chemistry"})
    assert moved.status_code == 200 and moved.json()["message"] == "顺序已保存"
    assert _names(client, world, "chemistry")[-2:] == ["比色杯 / 反应杯", "其他"]
    # the general list keeps its own order
    assert _names(client, world)[-2:] == ["未发现故障 / 误报", "其他"]
    # deactivated: greyed with a way back; a ticket filed under it is counted and keeps the name
    submitted = submit(client, world, description="比色杯污染").json()["ticket"]["id"]
    assert act(client, submitted, world.headers("agent"), "answer", text="请更换比色杯",
               fault_category="cuvettes").status_code == 200
    assert _post(client, world, f"{PAGE}/{row.id}/active", {"active": "0"}).status_code == 200
    page = client.get(PAGE, params={"category": "chemistry"}, headers=world.headers("admin")).text
    line = page.split(f'data-category-id="{row.id}"')[1].split("</tr>")[0]
    assert 'class="inactive"' in line and "已停用" in line and "启用" in line
    assert re.search(r'class="num">1<', line)
    seen = client.get(f"/api/v1/tickets/{submitted}", headers=world.headers("agent")).json()
    assert seen["fault_category_name"] == "比色杯 / 反应杯"
    assert _post(client, world, f"{PAGE}/{row.id}/active", {"active": "1"}).json()["message"] == "已启用"
    assert _post(client, world, f"{PAGE}/{row.id}/move", {"direction": "up"}, user="agent").status_code == 403

"""The profile pages: a device's profile on the desktop and on the engineer's phone, the preventive-maintenance
ranking, the override on the admin device page, and the score with the repair history on the label's page."""

from __future__ import annotations

import json

from sqlalchemy import update

from cloud.auth.models import User
from cloud.registry.models import Device
from tests.cloud.tickets.helpers import act, label_code, submit


def _page(client, world, path: str, user: str = "agent"):  # noqa: ANN001, ANN202
    return client.get(path, headers=world.headers(user), follow_redirects=False)


def _post(client, world, path: str, data: dict[str, str], user: str = "admin"):  # noqa: ANN001, ANN202
    return client.post(path, data=data, headers={**world.headers(user), "Accept": "application/json"})


def _repair(client, world, device_id: int) -> int:  # noqa: ANN001
    ticket = submit(client, world, device_id=device_id).json()["ticket"]
    assert act(client, ticket["id"], world.headers("agent"), "answer", text="已远程处理",
               fault_category="temperature_control").status_code == 200
    return int(ticket["id"])


def test_the_profile_page_shows_score_risk_figures_and_cases_in_chinese(client, world) -> None:
    device_id = world.devices_a[0]
    _repair(client, world, device_id)
    page = _page(client, world, f"/devices/{device_id}/profile")
    assert page.status_code == 200
    text = page.text
    for words in ("维保评分", "未来 30 天故障风险", "关键指标", "平均修复时间", "各月故障（按类别）", "故障分布",
                  "温控", "预测性告警", "最近工单", "预防性维护", 'id="pf-trend"'):
        assert words in text, words
    assert 'id="pf-score-value">96<' in text
    assert "人工调整评分" not in text  # only admins override
    assert "人工调整评分" in _page(client, world, f"/devices/{device_id}/profile", "admin").text


def test_who_may_open_a_profile_page(client, world, db) -> None:
    device_id = world.devices_a[0]
    assert _page(client, world, f"/devices/{device_id}/profile", "lab_a").status_code == 404
    db.execute(update(User).where(User.id == world.users["lab_a"]).values(is_lab_manager=True))
    db.commit()
    assert _page(client, world, f"/devices/{device_id}/profile", "lab_a").status_code == 200
    assert _page(client, world, f"/devices/{world.devices_b[0]}/profile", "lab_a").status_code == 404
    anonymous = client.get(f"/devices/{device_id}/profile", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_the_engineer_sees_the_devices_numbers_and_the_preventive_list_on_the_phone(client, world) -> None:
    device_id = world.devices_a[1]
    _repair(client, world, device_id)
    phone = _page(client, world, f"/engineer/devices/{device_id}", "engineer")
    assert phone.status_code == 200 and "weui" in phone.text
    assert "设备画像" in phone.text and "30 天故障风险" in phone.text and "平均故障间隔" in phone.text
    assert _page(client, world, f"/engineer/devices/{device_id}", "agent").status_code == 403
    listing = _page(client, world, "/engineer/preventive", "engineer")
    assert listing.status_code == 200 and f'data-device-id="{device_id}"' in listing.text
    assert "未来 30 天最可能发生故障的设备" in listing.text
    assert "预防性维护" in _page(client, world, "/engineer", "engineer").text


def test_the_preventive_page_ranks_with_reasons_and_filters_by_hospital(client, world) -> None:
    troubled = world.devices_a[2]
    for _ in range(3):
        _repair(client, world, troubled)
    page = _page(client, world, "/preventive")
    assert page.status_code == 200
    first_row = page.text.split('<tr data-device-id="')[1]
    assert first_row.startswith(f'{troubled}"') and "近 90 天故障 3 次" in first_row and "温度计" in first_row
    only_b = _page(client, world, f"/preventive?hospital_id={world.hospital_b}")
    assert f'data-device-id="{troubled}"' not in only_b.text
    assert f'data-device-id="{world.devices_b[0]}"' in only_b.text
    assert _page(client, world, "/preventive", "lab_a").status_code == 403


def test_the_admin_overrides_the_score_on_the_device_page_with_a_reason(client, world, db) -> None:
    device_id = world.devices_a[3]
    page = _page(client, world, f"/admin/devices/{device_id}", "admin")
    assert page.status_code == 200 and 'id="override-form"' in page.text and "系统计算值" in page.text
    assert 'name="maintenance_score"' not in page.text  # the score is no longer typed in with the other fields
    refused = _post(client, world, f"/admin/devices/{device_id}/score-override", {"score": "55", "reason": ""})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "reason"
    assert refused.json()["detail"] == "请填写人工调整评分的原因。"
    bad = _post(client, world, f"/admin/devices/{device_id}/score-override", {"score": "120", "reason": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "score"
    done = _post(client, world, f"/admin/devices/{device_id}/score-override",
                 {"score": "55", "reason": "厂家召回批次，待更换主板"})
    assert done.status_code == 200 and done.json()["ok"]
    db.expire_all()
    assert db.get(Device, device_id).maintenance_score == 55
    page = _page(client, world, f"/admin/devices/{device_id}", "admin").text
    assert 'id="score-held"' in page and "厂家召回批次，待更换主板" in page
    listing = _page(client, world, "/admin/devices", "admin").text
    row = listing.split(f'data-device-id="{device_id}"')[1].split("</tr>")[0]
    assert f'href="/devices/{device_id}/profile"' in row and '>55<sup class="held"' in row  # the held score, marked
    landing = client.get(f"/r/{label_code(client, world, device_id)}")
    assert "<b>55</b>" in landing.text
    cleared = _post(client, world, f"/admin/devices/{device_id}/score-override/clear", {"reason": ""})
    assert cleared.status_code == 200
    db.expire_all()
    assert db.get(Device, device_id).maintenance_score == 100
    assert _post(client, world, f"/admin/devices/{device_id}/score-override", {"score": "1", "reason": "x"},
                 "agent").status_code == 403


def test_the_label_page_shows_the_score_and_what_each_repair_was(client, world) -> None:
    device_id = world.devices_a[0]
    _repair(client, world, device_id)
    landing = client.get(f"/r/{label_code(client, world, device_id)}")
    assert landing.status_code == 200
    assert "<b>96</b>" in landing.text  # the score bar's number
    history = landing.text.split('id="repair-history"')[1]
    assert '<b class="fault-name">温控</b>' in history and "远程解决" in history
    assert "近 12 个月故障 1 次" in landing.text


def test_the_console_carries_the_on_site_estimate_texts(client, world) -> None:
    page = _page(client, world, "/console")  # the script's texts are JSON in the page (non-ASCII escaped)
    for text in ("预计需工程师上门", "建议：先远程处理", "维保画像"):
        assert json.dumps(text)[1:-1] in page.text, text

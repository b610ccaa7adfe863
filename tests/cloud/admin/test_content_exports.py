"""Exports of the knowledge base, the bot's unanswered questions, the preventive ranking, a device's profile and
WeChat's failed messages: what the page selects, in Chinese, local times, the page's scope and roles."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.auth.models import User
from cloud.db import utcnow
from cloud.kb import service as kb_service
from cloud.kb.models import BotAsk, KbManual
from cloud.kb.schemas import KbEntryIn
from cloud.notify.models import Delivery, Notification
from cloud.registry.models import Hospital
from tests.cloud.admin.test_list_exports import _csv, _sheet
from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import World

ADMIN = Actor.system("test")


def _repair(client: TestClient, world: World, device_id: int) -> None:
    ticket = submit(client, world, device_id=device_id).json()["ticket"]
    assert act(client, ticket["id"], world.headers("agent"), "answer", text="已远程处理",
               fault_category="temperature_control").status_code == 200


def test_the_kb_export_keeps_the_lists_filters_and_the_manuals_export_names_the_uploader(
        client: TestClient, world: World, db: Session) -> None:
    for n, (question, category) in enumerate([("样本针堵塞报警怎么处理", "chemistry"), ("血球仪堵孔", "hematology"),
                                              ("反应盘温度报警", "chemistry")]):
        kb_service.create_entry(db, data=KbEntryIn(
            key=f"kb-{n}", question=question, answer="1. 清洗样本针\n2. 重新测试", variants=[question + "了"],
            models=["cobas c 702"] if n == 0 else [], category=category, codes=["E-32"] if n == 0 else []),
            actor=ADMIN, announce=False)
    db.add(KbManual(title="cobas c 702 操作手册", models=["cobas c 702"], path="manuals/x.pdf", pages=120,
                    size=2 * 1024 * 1024, sha256="0" * 64, uploaded_by_id=world.users["admin"],
                    created_at=datetime(2026, 3, 1, 1, 30, tzinfo=UTC)))
    db.commit()
    page = client.get("/admin/kb", params={"category": "chemistry"}, headers=world.headers("agent"))
    assert "/admin/exports/kb.xlsx?category=chemistry" in page.text and "导出 Excel" in page.text
    rows = _sheet(client.get("/admin/exports/kb.xlsx", params={"category": "chemistry"},
                             headers=world.headers("agent")))
    assert rows[0] == ("问题", "条目编号", "其他问法", "答案", "适用型号", "类别", "故障代码", "状态", "附件",
                       "更新于")
    by_key = {row[1]: row for row in rows[1:]}
    assert set(by_key) == {"kb-0", "kb-2"}  # the hematology entry is filtered out
    assert by_key["kb-0"][4] == "cobas c 702" and by_key["kb-2"][4] == "所有型号"
    assert by_key["kb-0"][5] == "生化" and by_key["kb-0"][7] == "启用" and by_key["kb-0"][6] == "E-32"
    assert isinstance(by_key["kb-0"][9], datetime)
    searched = _csv(client.get("/admin/exports/kb.csv", params={"q": "血球"}, headers=world.headers("admin")))
    assert [row[1] for row in searched[1:]] == ["kb-1"] and searched[1][5] == "血液"

    manuals = _sheet(client.get("/admin/exports/kb-manuals.xlsx", headers=world.headers("center")))
    assert manuals[0] == ("标题", "适用型号", "页数", "章节数", "大小（MB）", "上传人", "上传时间")
    assert manuals[1][:3] == ("cobas c 702 操作手册", "cobas c 702", 120) and manuals[1][4] == 2
    assert manuals[1][5] == "admin" and manuals[1][6] == datetime(2026, 3, 1, 9, 30)  # Beijing, not UTC
    for path in ("kb", "kb-manuals", "bot-unanswered"):
        assert client.get(f"/admin/exports/{path}.xlsx", headers=world.headers("engineer")).status_code == 403
        assert client.get(f"/admin/exports/{path}.csv", headers=world.headers("lab_a")).status_code == 403


def test_the_bot_export_holds_the_periods_unanswered_groups_and_the_weekly_rates(
        client: TestClient, world: World, db: Session) -> None:
    now = utcnow()
    for n, (text, channel, days_ago) in enumerate([("那个机器的小针又罢工了", "wechat", 1),
                                                   ("机器的小针又罢工了怎么办", "web", 2),
                                                   ("转盘热乎乎的不正常", "web", 3), ("去年的老问题", "web", 60)]):
        db.add(BotAsk(text=text, user_id=world.users["lab_a"], conversation_id=f"c{n}", channel=channel,
                      intent="handoff", handoff=True, created_at=now - timedelta(days=days_ago)))
    db.commit()
    page = client.get("/admin/bot", params={"days": 30}, headers=world.headers("agent"))
    assert "/admin/exports/bot-unanswered.xlsx?days=30" in page.text
    response = client.get("/admin/exports/bot-unanswered.xlsx", params={"days": 30}, headers=world.headers("agent"))
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["未答问题", "机器人每周指标"]
    rows = list(book["未答问题"].iter_rows(values_only=True))
    assert rows[0][:6] == ("序号", "问题", "其他问法", "提问次数", "最近提问", "渠道")
    assert len(rows) == 3  # two groups; the question of 60 days ago is outside the period
    assert rows[1][3] == 2 and rows[1][5] == "网页、微信"  # the two 小针 wordings, channels in words
    assert isinstance(rows[1][4], datetime)
    rates = _csv(client.get("/admin/exports/bot-unanswered.csv", params={"days": 30, "table": "rates"},
                            headers=world.headers("agent")))
    assert rates[0] == ["周（起始日）", "提问数", "自助解决率", "转人工率", "反馈准确率"]
    assert sum(int(row[1]) for row in rates[1:]) >= 3 and all(row[0][:2] == "20" for row in rates[1:])


def test_the_preventive_export_is_the_whole_ranking_in_the_readers_scope(client: TestClient, world: World,
                                                                        db: Session) -> None:
    troubled = world.devices_a[2]
    for _ in range(3):
        _repair(client, world, troubled)
    page = client.get("/preventive", headers=world.headers("agent"))
    assert 'href="/preventive/export.xlsx"' in page.text
    rows = _sheet(client.get("/preventive/export.xlsx", headers=world.headers("agent")))
    assert rows[0][:8] == ("排名", "系统编号", "厂家", "型号", "类别", "医院", "科室", "30 天故障风险")
    assert len(rows) == 1 + 6  # every ranked device of both hospitals
    first = rows[1]
    assert first[0] == 1 and first[3] == "cobas e 801" and first[4] == "生化"
    assert first[5] == "上海交通大学医学院附属瑞金医院" and 0 < first[7] < 1 and isinstance(first[8], int)
    assert "近 90 天故障 3 次" in first[10] and "温度计" in first[11]
    only_b = _csv(client.get("/preventive/export.csv", params={"hospital_id": world.hospital_b},
                             headers=world.headers("agent")))
    assert {row[5] for row in only_b[1:]} == {"复旦大学附属中山医院"} and len(only_b) == 3
    db.execute(update(User).where(User.id == world.users["engineer"])
               .values(service_hospital_ids=[world.hospital_a]))
    db.commit()
    engineer = _sheet(client.get("/preventive/export.xlsx", headers=world.headers("engineer")))
    assert {row[5] for row in engineer[1:]} == {"上海交通大学医学院附属瑞金医院"}  # the hospitals served
    db.execute(update(User).where(User.id == world.users["lab_a"]).values(is_lab_manager=True))
    db.commit()
    assert client.get("/preventive/export.xlsx", headers=world.headers("lab_a")).status_code == 403  # no page


def test_the_profile_export_holds_faults_the_whole_repair_history_and_alerts(client: TestClient, world: World,
                                                                            db: Session) -> None:
    device_id = world.devices_a[0]
    for _ in range(12):  # more than the ten cases the page lists
        _repair(client, world, device_id)
    db.get(Hospital, world.hospital_a).time_zone = "Asia/Tokyo"
    db.commit()
    page = client.get(f"/devices/{device_id}/profile", headers=world.headers("agent"))
    assert f'href="/devices/{device_id}/profile/export.csv?table=history"' in page.text
    response = client.get(f"/devices/{device_id}/profile/export.xlsx", headers=world.headers("agent"))
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["故障分布", "维修记录", "预测性告警"]
    faults = list(book["故障分布"].iter_rows(values_only=True))
    assert faults[0][:4] == ("故障类别", "基础故障", "故障数", "占比") and faults[1][0] == "温控" and faults[1][2] == 12
    history = list(book["维修记录"].iter_rows(values_only=True))
    assert history[0][:6] == ("工单", "报修时间", "故障类别", "故障描述", "服务层级", "状态")
    assert len(history) == 1 + 12 and history[1][2] == "温控" and history[1][4] == "远程解决"
    created = history[1][1]
    assert abs((created - (utcnow().replace(tzinfo=None) + timedelta(hours=9))).total_seconds()) < 600  # Tokyo
    assert history[1][9] == "东京（UTC+9）"
    csv_rows = _csv(client.get(f"/devices/{device_id}/profile/export.csv", params={"table": "history"},
                               headers=world.headers("admin")))
    assert csv_rows[0][0] == "工单" and len(csv_rows) == 13
    db.execute(update(User).where(User.id == world.users["lab_a"]).values(is_lab_manager=True))
    db.commit()
    assert client.get(f"/devices/{device_id}/profile/export.xlsx", headers=world.headers("lab_a")).status_code == 200
    other = client.get(f"/devices/{world.devices_b[0]}/profile/export.xlsx", headers=world.headers("lab_a"))
    assert other.status_code == 404 and other.headers["content-type"] != response.headers["content-type"]
    assert client.get(f"/devices/{device_id}/profile/export.xlsx", headers=world.headers("lab_b")).status_code == 404


def test_the_wechat_export_lists_every_failed_message_with_its_reason_in_words(client: TestClient, world: World,
                                                                               db: Session) -> None:
    for n, (user, error) in enumerate([("lab_a", "WeChat error 43004: require subscribe"),
                                       ("lab_b", "no WeChat binding for this user")]):
        note = Notification(user_id=world.users[user], event_key=f"ticket.submitted:{n}", kind="ticket.submitted",
                            title="报修已提交", body=f"WO-00000{n} 已受理", link="/t/x")
        db.add(note)
        db.flush()
        db.add(Delivery(notification_id=note.id, channel="wechat", status="failed", error=error,
                        updated_at=datetime(2026, 3, 1, 1, 30, tzinfo=UTC)))
    db.commit()
    rows = _sheet(client.get("/admin/exports/wechat-failed.xlsx", headers=world.headers("admin")))
    assert rows[0] == ("时间", "接收人", "医院", "消息内容", "正文", "失败原因", "尝试次数", "可重发", "时区")
    by_user: dict[Any, Any] = {row[1]: row for row in rows[1:]}
    assert by_user["lab_a"][0] == datetime(2026, 3, 1, 9, 30)  # Beijing time, not 01:30 UTC
    assert by_user["lab_a"][2] == "上海交通大学医学院附属瑞金医院"
    assert "该用户已取消关注公众号" in by_user["lab_a"][5] and by_user["lab_a"][7] == "是"
    assert by_user["lab_b"][5] == "该用户未绑定微信。" and by_user["lab_b"][7] == "否"
    assert client.get("/admin/exports/wechat-failed.csv", headers=world.headers("agent")).status_code == 403

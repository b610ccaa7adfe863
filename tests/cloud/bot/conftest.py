"""Bot service fixtures: a small Chinese KB seeded through cloud.kb.service, helpers to ask and wait."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud.audit.service import Actor
from cloud.kb import service as kb_service
from cloud.kb.schemas import AttachmentIn, KbEntryIn

SEED = [
    KbEntryIn(key="probe-clog", question="样本针堵塞报警怎么处理", models=["cobas c 702"], codes=["E-32"],
              category="chemistry", variants=["加样针堵了"],
              answer="1. 暂停进样\n2. 按手册清洗样本针\n3. 执行灌注后重新检测",
              attachments=[AttachmentIn(kind="video", title="样本针清洗视频", url="https://example.org/v/probe.mp4")]),
    KbEntryIn(key="disk-temp", question="反应盘温度异常报警", category="chemistry", variants=["孵育盘温度不对"],
              answer="1. 检查恒温水浴液位\n2. 检查循环泵\n3. 温度稳定后做质控"),
    KbEntryIn(key="lamp-old", question="光源灯老化需要更换", category="chemistry",
              answer="1. 查看灯使用时长\n2. 超过 2000 小时更换卤素灯\n3. 更换后做光度计检查"),
    KbEntryIn(key="waste-full", question="废液桶满了报警", answer="1. 倒空废液桶\n2. 复位液位传感器"),
    KbEntryIn(key="qc-out", question="质控结果失控怎么办", category="chemistry",
              answer="1. 检查质控品有效期\n2. 重新定标\n3. 再做一次质控"),
]
ACTOR = Actor.system("bot-tests")


def seed_kb(app: FastAPI) -> dict[str, int]:
    """The seed entries created through the KB service; their int ids by key."""
    with app.state.sessionmaker() as session:
        ids = {}
        for data in SEED:
            ids[data.key or ""] = kb_service.create_entry(session, data=data, actor=ACTOR)
        session.commit()
        return {key: entry.id for key, entry in ids.items()}


@pytest.fixture
def kb(app: FastAPI) -> dict[str, int]:
    """The seeded KB (int entry ids by key)."""
    return seed_kb(app)


def ask(client: TestClient, text: str, headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """POST /api/v1/bot/ask and return the JSON (asserting 200)."""
    response = client.post("/api/v1/bot/ask", json={"text": text, **extra}, headers=headers or {})
    assert response.status_code == 200, response.text
    return dict(response.json())

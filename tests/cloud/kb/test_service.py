"""Entries: create, edit, retire, learned variants — each kept in the history, each announced as kb.changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cloud.audit.models import AuditLog
from cloud.audit.service import Actor
from cloud.errors import Conflict, Invalid
from cloud.events import DomainEvent
from cloud.kb import service
from cloud.kb.models import BotAsk, KbStatus
from cloud.kb.schemas import AttachmentIn, KbEntryIn
from tests.cloud.world import World

ENTRY = KbEntryIn(key="c702-e32", question="c702 报 E-32 怎么办", answer="1. 检查试剂条码\n2. 重新装载试剂",
                  variants=["E-32 报警", "试剂条码读不出"], models=["cobas c 702"], category="chemistry",
                  codes=["E-32"])


@pytest.fixture
def events(app) -> list[DomainEvent]:  # noqa: ANN001
    """Every kb event the app's bus delivers (after commit)."""
    seen: list[DomainEvent] = []
    app.state.bus.subscribe("kb.", seen.append)
    return seen


def test_an_entry_keeps_who_changed_what_in_its_history(db, world: World, events) -> None:
    admin = Actor(user_id=world.users["admin"], label="admin")
    entry = service.create_entry(db, data=ENTRY, actor=admin)
    db.commit()
    edited = ENTRY.model_copy(update={"answer": "1. 检查试剂条码\n2. 清洁条码阅读器\n3. 重新装载"})
    service.update_entry(db, entry_id=entry.id, data=edited, actor=admin)
    service.update_entry(db, entry_id=entry.id, data=edited, actor=admin)  # no change: no new version
    service.set_status(db, entry_id=entry.id, status=KbStatus.retired, actor=admin)
    service.add_variant(db, entry_id=entry.id, text="  c702 试剂   报错 E-32 ", actor=Actor.system("bot"))
    service.add_variant(db, entry_id=entry.id, text="E-32 报警", actor=Actor.system("bot"))  # known: ignored
    db.commit()

    history = service.revisions(db, entry_id=entry.id)
    assert [(r.version, r.action, r.actor) for r in history] == [
        (4, "learned", "bot"), (3, "retired", "admin"), (2, "edited", "admin"), (1, "created", "admin")]
    assert history[2].snapshot["answer"].endswith("3. 重新装载")
    assert history[0].snapshot["variants"][-1] == "c702 试剂 报错 E-32"
    assert entry.status == KbStatus.retired
    assert [e.data["entry_id"] for e in events] == [entry.id] * 4
    audit = db.execute(select(AuditLog.action).where(AuditLog.entity == "kb_entry")).scalars().all()
    assert audit == ["kb.created", "kb.edited", "kb.retired", "kb.learned"]


def test_search_by_words_model_code_and_status(db, world: World) -> None:
    actor = Actor.system("t")
    service.create_entry(db, data=ENTRY, actor=actor)
    other = service.create_entry(db, data=KbEntryIn(question="XN-1000 开机自检失败", answer="重启", models=["XN-1000"],
                                                    category="hematology", codes=["1202"]), actor=actor)
    service.set_status(db, entry_id=other.id, status=KbStatus.retired, actor=actor)
    db.commit()
    assert [e.key for e in service.list_entries(db, q="条码")[0]] == ["c702-e32"]  # found through a variant
    assert service.list_entries(db, model="c 702")[1] == 1
    assert [e.id for e in service.list_entries(db, code="1202")[0]] == [other.id]
    assert service.list_entries(db, status=KbStatus.active)[1] == 1
    assert service.list_entries(db, category="hematology")[1] == 1
    assert other.key.startswith("kb-")


def test_a_taken_id_and_a_missing_section_are_refused_with_nothing_saved(db, world: World) -> None:
    actor = Actor.system("t")
    service.create_entry(db, data=ENTRY, actor=actor)
    db.commit()
    with pytest.raises(Conflict):
        service.create_entry(db, data=ENTRY, actor=actor)
    db.rollback()
    bad = ENTRY.model_copy(update={"key": "x1", "attachments": [
        AttachmentIn(kind="manual", title="第二章", url="/kb/manuals/99/sections/2")]})
    with pytest.raises(Invalid) as caught:
        service.create_entry(db, data=bad, actor=actor)
    assert "手册章节不存在" in caught.value.extra["errors"][0]["message"]
    db.rollback()
    assert service.list_entries(db)[1] == 1


def test_use_and_feedback_come_from_the_ask_log(db, world: World) -> None:
    entry = service.create_entry(db, data=ENTRY, actor=Actor.system("t"))
    db.flush()
    for helpful in (True, True, False, None):
        db.add(BotAsk(text="E-32 又报了", conversation_id="c1", channel="group", intent="answer", entry_id=entry.id,
                      confidence=0.9, reason="confident", alternatives=[], handoff=False, helpful=helpful))
    db.add(BotAsk(text="试剂报警怎么处理", conversation_id="c2", channel="web", intent="handoff", entry_id=None,
                  confidence=0.2, reason="low_confidence", alternatives=[], handoff=True, resolved_entry_id=entry.id,
                  resolved_by_id=world.users["agent"], answer_text="见条目"))
    db.commit()
    usage = service.usage(db, entry_id=entry.id)
    assert (usage["answered"], usage["helpful"], usage["not_helpful"], usage["resolved_to"]) == (4, 2, 1, 1)
    assert usage["recent"][0].text == "试剂报警怎么处理"


def test_active_docs_give_the_bot_every_active_entry(db, world: World) -> None:
    bot = pytest.importorskip("models.bot")
    if not hasattr(bot, "KbDoc"):
        pytest.skip("models.bot does not export KbDoc yet")
    actor = Actor.system("t")
    entry = service.create_entry(db, data=ENTRY, actor=actor)
    gone = service.create_entry(db, data=KbEntryIn(question="旧问题", answer="旧答案"), actor=actor)
    service.set_status(db, entry_id=gone.id, status=KbStatus.retired, actor=actor)
    db.commit()
    docs = service.active_docs(db)
    assert [d.entry_id for d in docs] == [entry.key]
    assert docs[0].codes == ("E-32",) and docs[0].models == ("cobas c 702",) and "E-32 报警" in docs[0].variants

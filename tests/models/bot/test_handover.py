"""Safety first, polite refusal off topic, hand-over when unsure, and no input that breaks the bot."""

from __future__ import annotations

import time

import pytest

from models.bot import Bot, Intent, KbDoc

SAFETY = [
    ("仪器后面在冒烟", "smoke"), ("有股烧焦味", "burning"), ("闻到一股糊味", "burning"),
    ("机器里面起火了", "fire"), ("电源那里冒火花", "fire"), ("摸机壳被电了一下", "shock"),
    ("外壳漏电", "shock"), ("试剂洒进电路板了", "liquid"), ("清洗液流到主板上", "liquid"),
    ("血样打翻洒了一地", "biohazard"), ("离心机里试管碎了血溅出来", "biohazard"), ("生物危害溢洒", "biohazard"),
    ("冒出一股青烟", "smoke"), ("仪器后面着了", "fire"), ("被采血针扎了", "biohazard"), ("培养瓶摔碎了", "biohazard"),
    ("机器里有股怪味", "burning"), ("水漏到插座上了", "liquid"), ("smoke from the analyzer", "smoke"),
]


@pytest.mark.parametrize("text", ["气泡太多", "试剂针扎到试剂盒底了", "生物安全柜紫外灯多久换", "样本有溶血",
                                  "c702报警没有冒烟", "孵育盘温度过高"])
def test_ordinary_trouble_is_not_a_safety_case(shipped_bot: Bot, text: str) -> None:
    assert shipped_bot.ask(text).intent != Intent.safety


@pytest.mark.parametrize(("text", "kind"), SAFETY)
def test_safety_hazards_always_get_the_safety_instruction(shipped_bot: Bot, text: str, kind: str) -> None:
    reply = shipped_bot.ask(text)
    assert reply.intent == Intent.safety
    assert reply.reason == f"safety:{kind}"
    assert reply.entry_id is None
    assert reply.safety_message and "热线" in reply.safety_message


def test_safety_wins_even_when_an_entry_matches_well(shipped_bot: Bot) -> None:
    assert shipped_bot.ask("AU5800 报E-32").entry_id == "au5800-ise-drift"
    reply = shipped_bot.ask("AU5800 报E-32，后面还冒烟了", model="AU5800")
    assert reply.intent == Intent.safety
    assert reply.entry_id is None
    assert "电源" in (reply.safety_message or "")


def test_no_smoke_is_not_a_hazard(shipped_bot: Bot) -> None:
    assert shipped_bot.ask("没有冒烟，就是c702样本针堵了").intent == Intent.answer


@pytest.mark.parametrize("text", ["今天天气怎么样", "中午食堂吃啥", "推荐一只股票", "给我讲个笑话", "帮我订张机票"])
def test_out_of_scope_gets_a_polite_refusal(shipped_bot: Bot, text: str) -> None:
    reply = shipped_bot.ask(text)
    assert reply.intent == Intent.out_of_scope
    assert reply.entry_id is None


@pytest.mark.parametrize("text", ["仪器坏了要报修", "机器坏了，派个人来修一下", "要报修"])
def test_a_repair_request_is_never_out_of_scope(shipped_bot: Bot, text: str) -> None:
    # It was told "我只能回答检验科仪器设备方面的问题" above the way to report it.
    reply = shipped_bot.ask(text)
    assert reply.repair_intent and reply.intent != Intent.out_of_scope, reply


@pytest.mark.parametrize("text", ["生物安全柜紫外灯多久换", "质谱仪真空度不够", "微生物培养箱二氧化碳浓度低"])
def test_lab_questions_the_kb_does_not_cover_are_handed_over(shipped_bot: Bot, text: str) -> None:
    reply = shipped_bot.ask(text)
    assert reply.intent in (Intent.handoff, Intent.out_of_scope)
    assert reply.entry_id is None
    assert reply.confidence < shipped_bot.threshold


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "？？？", "。。。", "🙂🙂"])
def test_empty_questions_hand_over_without_error(shipped_bot: Bot, text: str) -> None:
    reply = shipped_bot.ask(text)
    assert reply.intent == Intent.handoff
    assert reply.entry_id is None


def test_a_huge_question_is_answered_quickly(shipped_bot: Bot) -> None:
    text = "c702 样本针堵了 " + "很长的描述" * 50_000
    started = time.perf_counter()
    reply = shipped_bot.ask(text)
    assert time.perf_counter() - started < 1.0
    assert reply.intent in (Intent.answer, Intent.handoff)


def test_an_empty_kb_hands_over() -> None:
    reply = Bot().ask("样本针堵了")
    assert (reply.intent, reply.reason) == (Intent.handoff, "no_entries")


def test_weird_input_never_raises(shipped_bot: Bot) -> None:
    for text in ["\x00\x01", "a" * 5000, "1202" * 300, "E-" * 400, "<script>alert(1)</script>", "🔥" * 10,
                 "cobas cobas cobas", "ＡＢＣ１２３", "\u200b\u200b"]:
        shipped_bot.ask(text, model="未知型号", category="unknown")
    bot = Bot()
    bot.index([KbDoc("x", "", ""), KbDoc("x", "重复的 id", "第一个赢")])
    bot.ask("重复")

"""What lab staff get back when they ask: the right entry, the device's model first, codes read from the text."""

from __future__ import annotations

import doctest

import pytest

import models.bot.bot
from models.bot import Bot, Intent, KbDoc


def test_bot_docstring_example_runs() -> None:
    assert doctest.testmod(models.bot.bot, raise_on_error=False).failed == 0


@pytest.mark.parametrize(("text", "entry"), [
    ("采样针堵住了咋办", "clog"),            # 采样针 = 加样针 = 样本针, 堵住 = 堵塞
    ("孵育盘温度不对", "temp"),              # 孵育盘 = 反应盘
    ("反应杯洗不干净有残留", "cuvette"),      # 反应杯 = 比色杯
])
def test_synonyms_find_the_entry_written_with_other_words(text: str, entry: str) -> None:
    bot = Bot()
    bot.index([
        KbDoc("clog", "加样针堵塞报警", "1. 停机\n2. 清洗样本针"),
        KbDoc("temp", "反应盘温度超出范围", "1. 检查室温\n2. 补加循环液"),
        KbDoc("cuvette", "比色杯清洗不干净", "1. 执行比色杯清洗维护"),
    ])
    reply = bot.ask(text)
    assert reply.intent == Intent.answer
    assert reply.entry_id == entry


@pytest.mark.parametrize("text", ["AU5800报E32了咋整", "5800 报警 e-32 钾偏高", "ＡＵ５８００　Ｅ－３２"])
def test_a_fault_code_in_a_chinese_sentence_finds_its_entry(shipped_bot: Bot, text: str) -> None:
    reply = shipped_bot.ask(text)
    assert reply.entry_id == "au5800-ise-drift"
    assert reply.codes == ("E-32",)


def test_the_device_model_puts_that_models_entry_first(shipped_bot: Bot) -> None:
    assert shipped_bot.ask("反应盘温度报警", model="BS-2000M").entry_id == "bs2000m-temp"
    assert shipped_bot.ask("反应盘温度报警", model="cobas c 702").entry_id == "cobas-c-incubator-temp"
    assert shipped_bot.ask("温度报警", model="ARCHITECT i2000SR").entry_id == "architect-temp"
    # a model named in the text wins over the device the question was asked from
    assert shipped_bot.ask("XN 温度报警", model="BS-2000M").entry_id == "xn-temp"


@pytest.mark.parametrize(("text", "entry"), [
    ("c702 加样针老吸到血块", "cobas-c-sample-clot"),
    ("C 502 试剂针撞了 报1104", "cobas-c-reagent-probe-crash"),
    ("xn-1000 RBC堵孔", "xn-detector-clog"),
    ("雅培那台激发液没了", "architect-trigger"),
    ("血气仪定标老失败", "abl90-cal"),
    ("结果传不到LIS上", "lis-comm"),
])
def test_colloquial_questions_with_english_models_are_answered(shipped_bot: Bot, text: str, entry: str) -> None:
    reply = shipped_bot.ask(text)
    assert (reply.intent, reply.entry_id) == (Intent.answer, entry)
    assert 0.0 <= reply.confidence <= 1.0
    assert reply.confidence >= shipped_bot.threshold
    assert len(reply.alternatives) <= 3
    assert entry not in {c.entry_id for c in reply.alternatives}


def test_repair_intent_is_flagged(shipped_bot: Bot) -> None:
    assert shipped_bot.ask("c702坏了 快派人来修一下").repair_intent
    assert shipped_bot.ask("AU5800 E-32 怎么办").repair_intent
    assert not shipped_bot.ask("每天保养要做什么").repair_intent


def test_a_greeting_is_a_greeting(shipped_bot: Bot) -> None:
    assert shipped_bot.ask("你好！").intent == Intent.greeting
    assert shipped_bot.ask("你好，c702 样本针堵了").intent == Intent.answer


def test_manual_sections_and_the_category_help_find_an_entry() -> None:
    bot = Bot()
    bot.index([
        KbDoc("lamp", "光源灯能量低", "1. 按手册更换", category="chemistry",
              sections=("更换卤素灯：关机冷却十五分钟，拧下固定螺丝，取出旧灯，装入新灯后预热三十分钟。",)),
        KbDoc("tips", "吸头用完", "1. 装入新吸头托盘", category="immunoassay"),
        KbDoc("tips-chem", "吸头用完", "1. 生化没有吸头，检查样本针", category="chemistry"),
    ])
    # words only the manual section has: the entry is found (answered, or offered first when handing over)
    reply = bot.ask("固定螺丝拧下来以后旧灯怎么取出")
    assert (reply.entry_id or reply.alternatives[0].entry_id) == "lamp"
    assert bot.ask("吸头没了", category="immunoassay").entry_id == "tips"
    reply = bot.ask("发光仪吸头没了")  # 发光 → an immunoassay analyzer
    assert (reply.entry_id or reply.alternatives[0].entry_id) == "tips"

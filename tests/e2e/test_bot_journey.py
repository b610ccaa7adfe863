"""Issue #10 end to end on the demo: a lab user asks in the hospital's service group, the bot answers with a manual
section, "没解决" hands over to the desk, the agent answers and marks the right entry, and the bot answers the same
question from that entry next time; a safety case is handed over at once."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in, token

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}
DESKTOP = {"viewport": {"width": 1280, "height": 720}, "locale": "zh-CN"}

QUESTION = "AU5800的钾偏高，ISE是不是要做定标"
# The demo KB's answers: the ISE drift entry cites the demo manual's ISE section; the calibration entry does not.
ISE_SECTION = "ISE 电极定标失败"
CALIBRATION_ANSWER = "查看定标报告"
AGENT_ANSWER = "陈老师，请按定标失败的流程先看定标报告，定标品要新复溶。"


def _bot_answers(page: object) -> int:
    return int(page.locator(".m.bot").count())  # type: ignore[attr-defined]


def _ask(phone: object, text: str) -> object:
    """Send text in the open group chat and wait for the bot's next bubble; returns that bubble."""
    before = _bot_answers(phone)
    phone.fill("#c-input", text)  # type: ignore[attr-defined]
    phone.click("#c-send")  # type: ignore[attr-defined]
    phone.wait_for_function(f"document.querySelectorAll('.m.bot').length > {before}",  # type: ignore[attr-defined]
                            timeout=15000)
    return phone.locator(".m.bot").last  # type: ignore[attr-defined]


def test_ask_not_solved_agent_teaches_and_the_bot_answers_next_time(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    phone_context = browser.new_context(**PHONE)
    desk_context = browser.new_context(**DESKTOP)
    phone, desk = phone_context.new_page(), desk_context.new_page()
    phone_errors, desk_errors = page_errors(phone), page_errors(desk)
    try:
        sign_in(phone, demo_server, "labuser", "/groups")
        phone.click(".g-item:has-text('瑞金')")
        phone.wait_for_selector(".m-bubble")

        # 1. The bot answers from the KB and links the manual section that covers it.
        answer = _ask(phone, QUESTION)
        manual_link = answer.locator(".m-materials a", has_text=ISE_SECTION)
        assert manual_link.count() == 1
        href = manual_link.get_attribute("href")
        section = httpx.get(f"{demo_server.url}{href}", timeout=10)
        assert section.status_code == 200 and "ISE 参比液" in section.text
        screenshot(phone, "bot-answer-manual-390")

        # 2. "没解决": the question goes to a person.
        answer.locator(".m-feedback button[data-helpful=false]").click()
        phone.wait_for_selector(".m.bot.handoff", timeout=10000)

        # 3. The agent sees the conversation in the console, flagged as handed over, answers and marks the entry.
        sign_in(desk, demo_server, "agent", "/console")
        desk.click("#groups-toggle")
        desk.wait_for_selector(".gp-group .gp-badge.handoff", timeout=10000)
        desk.click(".gp-group:has-text('瑞金')")
        desk.wait_for_selector(f"#gp-msgs >> text={QUESTION}")
        desk.fill("#gp-input", AGENT_ANSWER)
        desk.click("#gp-compose button[type=submit]")
        phone.wait_for_selector(f".m:not(.mine) >> text={AGENT_ANSWER}", timeout=10000)
        desk.locator("#gp-msgs .gp-act[data-pick]").last.click()
        desk.fill(".gp-picker input", "定标失败")
        desk.locator(".gp-picker li[data-entry]", has_text="生化项目定标失败").first.click()
        desk.wait_for_selector(".gp-picker .gp-note >> text=生化项目定标失败", timeout=10000)
        screenshot(desk, "bot-handoff-console-1280")

        # 4. The same question is now answered from the entry the agent marked.
        again = _ask(phone, QUESTION)
        assert CALIBRATION_ANSWER in again.inner_text()
        assert ISE_SECTION not in again.inner_text()
        screenshot(phone, "bot-learned-390")
        assert not phone_errors and not desk_errors, phone_errors + desk_errors
    finally:
        phone_context.close()
        desk_context.close()


def test_a_safety_case_is_handed_over_at_once_with_a_safety_instruction(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(**PHONE)
    phone = context.new_page()
    try:
        sign_in(phone, demo_server, "labuser", "/groups")
        phone.click(".g-item:has-text('瑞金')")
        phone.wait_for_selector(".m-bubble")
        reply = _ask(phone, "AU5800 后面在冒烟，有一股烧焦的味道")
        text = reply.inner_text()
        assert "电源" in text  # the safety instruction, not a KB answer
        assert reply.locator(".m-feedback").count() == 0
        phone.wait_for_selector(".m.bot.handoff", timeout=10000)
        screenshot(phone, "bot-safety-390")
        notes = httpx.get(f"{demo_server.url}/api/v1/notifications",
                          headers={"Authorization": f"Bearer {token(demo_server, 'agent')}"}, timeout=10)
        assert notes.status_code == 200
        assert "冒烟" in notes.text
    finally:
        context.close()

"""The WeChat sandbox end to end: scan in the simulated phone → callback → OAuth → bind → report → template messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cloud.wechat.demo import standin_env
from cloud.wechat.sandbox import OPENIDS
from cloud.wechat.standin import StandIn, serve
from tests.e2e.conftest import LiveServer, medfix, screenshot, token

pytestmark = pytest.mark.browser

INVITE_CODE = "RJ-2026"  # the demo hospital's invite code (cloud/demo.py)


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, StandIn]]:
    """The demo product with WeChat switched on against a stand-in running in this test process."""
    standin = StandIn()
    with serve(standin.app()) as standin_url:
        server = LiveServer(tmp_path_factory.mktemp("wxsandbox"), standin_env(standin_url, standin))
        medfix("demo", "seed", env=server.env)
        server.start()
        try:
            yield server, standin
        finally:
            server.stop()




def test_scan_to_template_messages_for_engineer_and_reporter(sandbox_server: tuple[LiveServer, StandIn],
                                                             browser: Any) -> None:
    server, standin = sandbox_server
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/wechat/sandbox")

    page.click("#bind-engineer")
    page.wait_for_selector("#bind-engineer:disabled")

    page.select_option("#openid", OPENIDS["reporter"])
    device_scene = page.locator("#label option[data-kind=device]").first.get_attribute("value")
    assert device_scene and device_scene.startswith("d:")
    page.select_option("#label", device_scene)
    page.click("#scan")
    phone = page.frame_locator("#phone")
    article = phone.locator("a.news")
    article.wait_for()
    assert "报修" in article.inner_text()
    screenshot(page, "wechat-sandbox-reply")

    article.click()  # → /wechat/sandbox/open → the stand-in's authorize page → /wechat/oauth/callback → bind
    phone.locator("input[name=full_name]").wait_for()
    phone.locator("input[name=full_name]").fill("陈老师")
    phone.locator("input[name=phone]").fill("13800001111")
    phone.locator("input[name=invite_code]").fill(INVITE_CODE)
    screenshot(page, "wechat-sandbox-bind")
    phone.locator("button[type=submit]").click()

    phone.locator("textarea[name=description]").wait_for()  # signed in: the repair page of the scanned device
    phone.locator("textarea[name=description]").fill("反应盘温度报警，无法开始检测")
    assert phone.locator("input[name=reporter_name]").input_value() == "陈老师"
    phone.locator("#submit").click()
    phone.locator("#ticket").wait_for()
    ticket_id = int(phone.locator("#ticket").get_attribute("data-id") or "0")

    # The reporter is told the report was received, in WeChat.
    page.wait_for_selector("#messages-reporter li[data-msgid]")

    agent = {"Authorization": f"Bearer {token(server, 'agent')}"}
    ticket = httpx.get(f"{server.url}/api/v1/tickets/{ticket_id}", headers=agent).json()
    engineers = httpx.get(f"{server.url}/api/v1/tickets/{ticket_id}/engineers", headers=agent).json()
    engineer = next((e for e in engineers if e["name"] == "张工程师"), engineers[0])  # the demo engineer
    response = httpx.post(f"{server.url}/api/v1/tickets/{ticket_id}/actions", headers=agent,
                          json={"action": "dispatch", "version": ticket["version"], "engineer_id": engineer["id"]})
    assert response.status_code == 200, response.text

    page.wait_for_selector("#messages-engineer li[data-msgid]")
    page.wait_for_function("document.querySelectorAll('#messages-reporter li[data-msgid]').length >= 2")
    screenshot(page, "wechat-sandbox-messages")

    by_user: dict[str, list[str]] = {}
    for sent in standin.sent:
        by_user.setdefault(sent.touser, []).append(sent.template_id)
    assert by_user[OPENIDS["engineer"]] == ["TPL-DISPATCHED"]
    assert by_user[OPENIDS["reporter"]] == ["TPL-RECEIVED", "TPL-DISPATCHED"]
    assert all(s.url and s.url.startswith(server.url) for s in standin.sent)

    # The engineer opens the dispatch from WeChat: OAuth with the bound openid signs them straight in.
    page.select_option("#openid", OPENIDS["engineer"])
    phone.locator("a.template").first.click()
    phone.locator("#status[data-status=dispatched]").wait_for()
    screenshot(page, "wechat-sandbox-engineer")
    assert not errors, errors
    context.close()


def test_the_sandbox_is_mounted_only_with_a_local_standin() -> None:
    from cloud.config import Settings
    from cloud.wechat.sandbox import sandbox_enabled

    def settings(**values: Any) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    assert sandbox_enabled(settings(wechat_appid="wx1", wechat_api_base="http://127.0.0.1:9100"))
    assert not sandbox_enabled(settings(wechat_appid="wx1"))  # the real api.weixin.qq.com
    assert not sandbox_enabled(settings(wechat_api_base="http://127.0.0.1:9100"))  # WeChat off


def test_text_and_voice_messages_are_answered_by_the_bot(sandbox_server: tuple[LiveServer, StandIn],
                                                         browser: Any) -> None:
    server, _standin = sandbox_server
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server.url}/wechat/sandbox")
        page.select_option("#openid", OPENIDS["reporter"])
        page.fill("#chat-text", "c702 样本针老报凝块")
        page.click("#send-text")
        phone = page.frame_locator("#phone")
        phone.locator(".bubble", has_text="纤维蛋白").wait_for(timeout=15000)  # the demo KB's clot answer
        page.fill("#chat-text", "仪器后面冒烟了")
        page.click("#send-voice")  # a voice message: WeChat's Recognition carries the words
        phone.locator(".bubble", has_text="电源").wait_for(timeout=15000)  # the safety instruction
        screenshot(page, "wechat-sandbox-bot")
        assert not errors, errors
    finally:
        context.close()

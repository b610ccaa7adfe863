"""Every main page, for every role, in Chinese and in English: no raw keys, enum values or untranslated words.

The sweep reads what a person sees (the rendered text after the page's scripts ran), so a key that a script
looks up and a server message that was never translated are caught as well as a template's.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LiveServer, label_code, page_errors, screenshot, sign_in

pytestmark = pytest.mark.browser

# A dotted key of the catalogs (status.open, desk.tab.todo, metric.vacuum) or a snake_case value (in_service).
PREFIXES = ("status", "action", "tier", "desk", "metric", "severity", "role", "precheck", "hint", "entity", "audit",
            "field", "actor", "server", "contact", "who", "conversation", "alert", "report", "fault", "confirm",
            "sandbox", "kb", "bot", "group", "source", "urgency", "dash", "profile", "risk")
DOTTED = re.compile(r"\b(?:" + "|".join(PREFIXES) + r")\.[A-Za-z_][\w.-]*")
SNAKE = re.compile(r"(?<![\w./@:-])[a-z]+(?:_[a-z0-9]+)+(?![\w./@-])")
# English words that must not show on a Chinese page (labels left untranslated).
ENGLISH_UI = re.compile(r"\b(?:Submit|Cancel|Save|Search|Status|Hospital|Device|Ticket|Report|Open|Closed|"
                        r"Engineer|Priority|Loading|Error)\b")

# Where a page's own words are: headings, table heads, buttons, labels, navigation, placeholders' owners.
CHROME = "h1, h2, h3, th, button, label, nav a, .weui-btn, .weui-cells__title, .tab, legend"

PAGES = {
    "admin": ["/admin/devices", "/admin/devices/1", "/admin/groups", "/admin/hospitals", "/admin/users",
              "/admin/verifications", "/admin/gateways", "/admin/alerts", "/admin/audit", "/admin/wechat",
              "/admin/kb", "/admin/kb/manuals", "/admin/bot"],
    "agent": ["/console", "/alerts"],
    "engineer": ["/engineer", "/alerts", "/alerts?tab=all"],
    "labuser": ["/my/devices", "/groups", "/alerts"],
}


def raw_words(text: str) -> list[str]:
    return sorted(set(DOTTED.findall(text)) | set(SNAKE.findall(text)))


def sweep(browser, server: LiveServer, user: str, paths: list[str], language: str) -> dict[str, list[str]]:  # noqa: ANN001
    phone = user in ("engineer", "labuser")
    context = browser.new_context(viewport={"width": 390, "height": 844} if phone else {"width": 1440, "height": 900},
                                  locale="zh-CN" if language == "zh-CN" else "en-US")
    context.add_cookies([{"name": "medfix_lang", "value": language, "url": server.url}])
    page = context.new_page()
    errors = page_errors(page)
    found: dict[str, list[str]] = {}
    sign_in(page, server, user, paths[0])
    for path in paths:
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("networkidle")
        text = page.inner_text("body")
        bad = raw_words(text)
        if language == "zh-CN":  # the page's own words (data such as a hospital's English alias may be English)
            chrome = "\n".join(page.locator(CHROME).all_inner_texts())
            bad += sorted(set(ENGLISH_UI.findall(chrome)))
        if bad:
            found[path] = bad
        screenshot(page, f"sweep-{language}-{user}{path.replace('/', '-')}")
    assert errors == [], errors
    context.close()
    return found


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_staff_pages_show_no_raw_keys(demo_server: LiveServer, browser, language: str) -> None:  # noqa: ANN001
    found: dict[str, list[str]] = {}
    for user, paths in PAGES.items():
        found |= sweep(browser, demo_server, user, paths, language)
    assert found == {}


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_reporters_label_page_shows_no_raw_keys(demo_server: LiveServer, browser, language: str) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  locale="zh-CN" if language == "zh-CN" else "en-US")
    context.add_cookies([{"name": "medfix_lang", "value": language, "url": demo_server.url}])
    page = context.new_page()
    for kind in ("devices", "groups"):
        page.goto(f"{demo_server.url}/r/{label_code(demo_server, kind, 1)}")
        page.wait_for_load_state("networkidle")
        text = page.inner_text("body")
        assert raw_words(text) == [], (kind, raw_words(text))
        screenshot(page, f"sweep-{language}-label-{kind}")
    context.close()

"""The gettext catalogs: up to date with the code, complete in zh-CN, no raw keys in English, pages switch language."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from cloud.i18n import CATALOG, LANGUAGES, translate, translations
from cloud.i18n_catalogs import extract, stale_catalogs
from cloud.web.pages import TEMPLATES

# A dotted key (status.open, desk.tab.todo) or a snake_case value (in_service): never shown as it is.
KEY = re.compile(r"^[a-z][a-z0-9_]+\.[^ ]|^[a-z0-9]+(_[a-z0-9]+)+$")
PLACEHOLDER = re.compile(r"\{[a-z_0-9]*\}")


def test_the_catalogs_hold_every_text_the_code_names() -> None:
    # `make messages` was run after the last change of a text: nothing new is missing, no location is stale.
    assert stale_catalogs() == []


def test_every_text_has_its_chinese_translation() -> None:
    found = extract()
    zh = CATALOG["zh-CN"]
    assert len(found) > 500  # the extraction sees the templates, the scripts and the code
    assert sorted(msgid for msgid in found if msgid not in zh) == []


def test_english_pages_show_words_not_keys() -> None:
    zh, en = CATALOG["zh-CN"], CATALOG["en"]
    assert sorted(key for key in zh if KEY.search(key) and key not in en) == []
    assert translate("status.submitted", "en") == "Submitted, waiting for the desk"
    assert translate("status.submitted") == "已提交，等待受理"
    assert translate("blood_gas", "en") == "Blood gas"


def test_translations_keep_the_placeholders() -> None:
    # A translator who drops {number} from a text would send messages without the ticket number.
    for language in LANGUAGES:
        for msgid, text in CATALOG[language].items():
            if not KEY.search(msgid):
                assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(msgid)), (language, msgid)


def test_trans_blocks_and_plurals_follow_the_request_language() -> None:
    template = TEMPLATES.env.from_string(
        "{% trans %}Sign in{% endtrans %} · {{ _('Devices') }} · "
        "{% trans count=n %}{{ count }} device{% pluralize %}{{ count }} devices{% endtrans %}")
    rendered = {language: template.render(gettext=translations(language).gettext,
                                          ngettext=translations(language).ngettext, _=translations(language).gettext,
                                          n=2) for language in LANGUAGES}
    assert rendered["en"] == "Sign in · Devices · 2 devices"
    assert rendered["zh-CN"].startswith("登录 · 设备 · ")


def test_the_sign_in_page_in_both_languages(client: TestClient) -> None:
    zh = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    client.cookies.set("medfix_lang", "en")
    en = client.get("/login").text
    assert "登录" in zh and "Sign in" not in zh.split("<body", 1)[1]
    assert "Sign in" in en and "登录" not in en.split("<body", 1)[1]

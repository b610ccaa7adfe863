"""The one translation layer for user-visible text: gettext catalogs, zh-CN first, English second.

The catalogs are ordinary gettext files, cloud/locale/<locale>/LC_MESSAGES/messages.po, so translators work with
their usual tools (Poedit, Lokalize, Weblate). A msgid is the English text, or a dotted key where one English word
means different things in different places (status.open, action.cancel, metric.vacuum); the English catalog
translates only such keys, everything else is English already. `make messages` extracts new texts from the
templates, scripts and code into both catalogs (cloud/i18n_catalogs.py, docs/i18n.md).

The .po files are read at start-up with Babel and compiled in memory, so no compiled .mo file is kept in the
repository or has to be built at install time. Fuzzy entries are not used, as gettext would not use them either.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Protocol

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")
# The page's language (a BCP 47 tag, as in <html lang>) → the catalog's folder (a POSIX locale name).
LOCALES = {"zh-CN": "zh_CN", "en": "en"}
LANGUAGE_COOKIE = "medfix_lang"  # the language a person picked on a page (cloud/web/pages.py sets it)


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / LOCALES[language] / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> Translations:
    """The language's catalog as a gettext translations object (an unknown language gets zh-CN)."""
    with catalog_path(language if language in LOCALES else DEFAULT_LANGUAGE).open("rb") as po:
        catalog = read_po(po, locale=LOCALES.get(language, "zh_CN"))
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


def translate(text: str, language: str = DEFAULT_LANGUAGE) -> str:
    """text in language; a text without a translation comes back unchanged (it is English already)."""
    return translations(language).gettext(text)


def ntranslate(singular: str, plural: str, count: int, language: str = DEFAULT_LANGUAGE) -> str:
    """The singular or plural form for count (Chinese has one form, English two)."""
    return translations(language).ngettext(singular, plural, count)


class _Catalog(Mapping[str, dict[str, str]]):
    """CATALOG[language][msgid] → the translation, for code and tests that ask what a catalog holds."""

    def __getitem__(self, language: str) -> dict[str, str]:
        return _entries(language)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(LANGUAGES)

    def __len__(self) -> int:
        return len(LANGUAGES)


@cache
def _entries(language: str) -> dict[str, str]:
    if language not in LOCALES:
        raise KeyError(language)
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=LOCALES[language])
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


CATALOG = _Catalog()


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The language for a request: an explicit cookie wins, then Accept-Language, then zh-CN."""
    if cookie in LANGUAGES:
        return cookie
    header = (accept_language or "").lower()
    if header.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


class _Asking(Protocol):
    cookies: Mapping[str, str]
    headers: Mapping[str, str]


def request_language(request: _Asking) -> str:
    """The language of the person asking: the pages' cookie, else Accept-Language, else zh-CN."""
    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))

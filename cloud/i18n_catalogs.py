"""`make messages`: bring the gettext catalogs (cloud/locale) up to date with the texts in the code.

Babel extracts every literal text passed to the translation functions: `_()` and `{% trans %}` in the templates,
`t()` in the page scripts, `_()`, `translate()` and `N_()` in Python. A new text is added to every catalog with an
empty translation, for the translator to fill in; a text the code no longer names literally is kept, because
dotted keys are often built at run time (f"status.{status}"), so removing one is a deliberate edit of the .po.

The test suite runs the same merge and fails when the committed catalogs differ from its result, or when a
zh-CN translation is missing (tests/cloud/test_i18n.py).

    .venv/bin/python -m cloud.i18n_catalogs          # update cloud/locale/*/LC_MESSAGES/messages.po
    .venv/bin/python -m cloud.i18n_catalogs --check  # exit 1 if they are not up to date
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from cloud.i18n import LANGUAGES, LOCALES, catalog_path

ROOT = Path(__file__).resolve().parents[1]
METHOD_MAP = [
    ("cloud/web/templates/**.html", "jinja2"),
    ("cloud/web/static/js/**.js", "javascript"),
    ("cloud/**.py", "python"),
]
# `t` is the page scripts' lookup (static/js/*.js) and the request-bound translate in Python pages.
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "translate": None, "t": None,
}


# The prefix of a key built by concatenation ("status." + status), never a sentence ending in a full stop.
KEY_PREFIX = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*\.")


def N_(text: str) -> str:  # noqa: N802 (gettext's own name for it)
    """Marks a text for extraction where it is translated later (a constant, a list of keys)."""
    return text


def extract() -> dict[str, list[tuple[str, int]]]:
    """Every literal msgid in the code, with the files that use it."""
    found: dict[str, list[tuple[str, int]]] = {}
    # Babel warns on stderr of every f-string it skips; ours are dotted keys built on purpose (f"status.{s}").
    with contextlib.redirect_stderr(io.StringIO()):
        extracted = list(extract_from_dir(str(ROOT), METHOD_MAP, {}, keywords=KEYWORDS, strip_comment_tags=True))
    for filename, lineno, message, _comments, _context in extracted:
        for msgid in message if isinstance(message, tuple) else (message,):
            # A key built at run time is not a text: a script's template literal with a substitution
            # (t(`tier.${tier}`)), or the prefix of a concatenation (_("status." + status)).
            if msgid and "${" not in msgid and not KEY_PREFIX.fullmatch(msgid):
                found.setdefault(msgid, []).append((filename, lineno))
    return found


def merged(language: str, found: dict[str, list[tuple[str, int]]]) -> Catalog:
    """The language's catalog with the new texts added (untranslated) and every location refreshed."""
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=LOCALES[language])
    for msgid in found:
        if msgid not in catalog:
            catalog.add(msgid, "")
    for message in catalog:
        if message.id:
            message.locations = sorted({(path, 0) for path, _line in found.get(str(message.id), [])})
    return catalog


def rendered(catalog: Catalog) -> bytes:
    # File names without line numbers: they tell a translator where a text is used without churning every edit.
    out = io.BytesIO()
    write_po(out, catalog, width=0, sort_output=True, include_lineno=False)
    return out.getvalue()


def _content(catalog: Catalog) -> list[tuple[str, str, tuple[str, ...]]]:
    # What a translator and the code see; the header (Babel's version, dates) may differ between machines.
    return sorted((str(m.id), str(m.string), tuple(sorted(path for path, _ in m.locations)))
                  for m in catalog if m.id)


def stale_catalogs() -> list[Path]:
    """The catalogs that differ from their merge with the code's texts (new texts, moved texts)."""
    found = extract()
    stale = []
    for language in LANGUAGES:
        with catalog_path(language).open("rb") as po:
            current = read_po(po, locale=LOCALES[language])
        if _content(current) != _content(merged(language, found)):
            stale.append(catalog_path(language))
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report catalogs that are not up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_catalogs()
        for path in stale:
            sys.stdout.write(f"not up to date: {path.relative_to(ROOT)} (run `make messages`)\n")
        return 1 if stale else 0
    found = extract()
    for language in LANGUAGES:
        catalog = merged(language, found)
        catalog_path(language).write_bytes(rendered(catalog))
        missing = sum(1 for m in catalog if m.id and not m.string)
        sys.stdout.write(f"{catalog_path(language).relative_to(ROOT)}: {len(catalog)} texts, {missing} untranslated\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

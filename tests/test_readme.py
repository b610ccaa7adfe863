"""The README documents every setting (its configuration table is what operators read)."""

from __future__ import annotations

from pathlib import Path

from cloud.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [f"MEDFIX_{name.upper()}" for name in Settings.model_fields if f"`MEDFIX_{name.upper()}`" not in text]
    assert missing == [], f"document these settings in README.md: {missing}"


def test_the_readme_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text

"""UI texts of the servicegroups pages and messages (zh-CN first)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {},
    "en": {},
}

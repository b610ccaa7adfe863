"""A ticket's text as a server-rendered page shows it in a line: a device chart link written into it (a predictive
ticket's description says "告警曲线：/devices/7/chart?metric=…&start=…") shrinks to its label, so nobody reads a
raw address with a UTC instant in it. The same pattern as static/js/chart_links.js, which turns these links into
links on the pages drawn in the browser."""

from __future__ import annotations

import re

CHART_LINK = re.compile(r"(?:告警)?(?:曲线|Chart)[:：]\s*(/devices/\d+/chart\?[^\s，。；、）),\"'<>]*)"
                        r"|(/devices/\d+/chart\?[^\s，。；、）),\"'<>]*)")


def short_text(text: str | None, label: str) -> str:
    """text with every chart link replaced by label."""
    return CHART_LINK.sub(lambda _match: label, text or "")

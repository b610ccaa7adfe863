"""UI texts of the newer domains, one module each, merged into the one catalog (cloud/web/i18n.py).

Each module defines TEXTS = {"zh-CN": {...}, "en": {...}}; keys are the English text (or a dotted key where
one English word means different things); entries already in the catalog win, so a domain cannot change another's.
"""

from __future__ import annotations

from cloud.web.texts import admin, admin_registry, bot, desk, identify, kb, reporter, servicegroups, site, tiers

DOMAIN_TEXTS: tuple[dict[str, dict[str, str]], ...] = (site.TEXTS, kb.TEXTS, bot.TEXTS, servicegroups.TEXTS,
                                                       tiers.TEXTS, identify.TEXTS, admin.TEXTS,
                                                       reporter.TEXTS, admin_registry.TEXTS, desk.TEXTS)

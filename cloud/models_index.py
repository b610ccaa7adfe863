"""Imports every domain's models so Base.metadata knows all tables (Alembic and tests need that)."""

from __future__ import annotations


def import_all_models() -> None:
    """Register every table on Base.metadata."""
    import cloud.alerts.models
    import cloud.audit.models
    import cloud.auth.models
    import cloud.bot.models
    import cloud.dashboards.models
    import cloud.identify.models
    import cloud.kb.models
    import cloud.notify.models
    import cloud.numbering
    import cloud.profiles.models
    import cloud.qr.models
    import cloud.registry.models
    import cloud.reports.models
    import cloud.servicegroups.models
    import cloud.telemetry.models
    import cloud.tickets.models
    import cloud.wechat.models  # noqa: F401

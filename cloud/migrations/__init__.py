"""Alembic migrations (static, reversible)."""

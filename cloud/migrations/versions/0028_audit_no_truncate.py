"""audit_log: PostgreSQL also refuses TRUNCATE (row triggers never see it); SQLite has no TRUNCATE

Security finding 12 of issue #13: the append-only triggers of the initial migration fire per row, and
TRUNCATE (alone or cascading from a table audit_log points at) removes rows without any.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # audit_log_append_only() (0001) raises; a statement trigger is the only kind TRUNCATE fires.
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")

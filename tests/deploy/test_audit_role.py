"""Finding 12 of issue #13 on PostgreSQL: the deployment's application role may only INSERT and SELECT the audit log.

The database is set up exactly as deploy/cloud says (roles.sql, then migrate.sh running the migrations as the owner
role and grants.sql); the world is written through the application role, as the API workers write.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from cloud.audit.models import AuditLog
from cloud.audit.service import Actor, record
from cloud.db import make_engine, make_sessionmaker
from tests.cloud.world import build_world
from tests.deploy.support import Deployed, deployed_database

INSUFFICIENT_PRIVILEGE = "42501"  # SQLSTATE: the role lacks the right; refused before any trigger runs
RAISED = "P0001"  # SQLSTATE of audit_log_append_only()'s RAISE EXCEPTION


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    with deployed_database() as database:
        engine = make_engine(database.app_url)
        with make_sessionmaker(engine)() as session:
            build_world(session)  # hospitals, devices, accounts: the audit log fills as in production
        engine.dispose()
        yield database


@pytest.fixture
def app_engine(deployed: Deployed) -> Iterator[Engine]:
    engine = create_engine(deployed.app_url)
    yield engine
    engine.dispose()


def refused(engine: Engine, statement: str) -> str:
    """The SQLSTATE with which statement fails (it must fail)."""
    with engine.connect() as conn:
        with pytest.raises(DBAPIError) as failure:
            conn.execute(text(statement))
        conn.rollback()
    return str(getattr(failure.value.orig, "sqlstate", ""))


def test_the_application_role_appends_to_and_reads_the_audit_log(deployed: Deployed, app_engine: Engine) -> None:
    sessions = make_sessionmaker(app_engine)
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(AuditLog))
        assert before > 0  # the world's creation was audited through this role
        record(session, actor=Actor.system("deploy-test"), action="check", entity="deployment", entity_id=1)
        session.commit()
        assert session.scalar(select(func.count()).select_from(AuditLog)) == before + 1
        assert session.scalar(select(AuditLog.actor_label).order_by(AuditLog.id.desc()).limit(1)) == "deploy-test"


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor_label = 'someone else'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "TRUNCATE user_account CASCADE",  # would reach audit_log through its foreign key
])
def test_the_application_role_may_not_rewrite_or_empty_the_audit_log(app_engine: Engine, statement: str) -> None:
    with app_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    assert refused(app_engine, statement) == INSUFFICIENT_PRIVILEGE
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == before
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE actor_label = 'someone else'")).scalar() == 0


def test_the_application_role_changes_no_schema_and_no_schema_version(app_engine: Engine) -> None:
    for statement in ("CREATE TABLE intruder (id int)", "DROP TABLE reading",
                      "ALTER TABLE audit_log DISABLE TRIGGER ALL", "UPDATE alembic_version SET version_num = '0001'"):
        assert refused(app_engine, statement) == INSUFFICIENT_PRIVILEGE, statement


def test_the_application_role_keeps_ordinary_rights_elsewhere(app_engine: Engine) -> None:
    with app_engine.begin() as conn:  # the app deletes expired tokens, edits accounts and devices
        assert conn.execute(text("UPDATE user_account SET full_name = full_name")).rowcount > 0
        conn.execute(text("DELETE FROM auth_token WHERE false"))


def test_even_the_owner_cannot_truncate_or_rewrite_it_while_the_triggers_stand(deployed: Deployed) -> None:
    owner = create_engine(deployed.owner_url)
    try:
        for statement in ("TRUNCATE audit_log", "DELETE FROM audit_log", "UPDATE audit_log SET action = 'x'"):
            assert refused(owner, statement) == RAISED, statement
    finally:
        owner.dispose()

"""Human-friendly system numbers (MF-000123) from named counters in the database."""

from __future__ import annotations

from sqlalchemy import Integer, String, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud.db import Base


class NumberSequence(Base):
    """One counter per kind of number; incremented atomically inside the caller's transaction."""

    __tablename__ = "number_sequence"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


PREFIXES = {"device": "MF", "device_group": "MG", "ticket": "WO"}


def next_value(session: Session, name: str) -> int:
    """The next value of counter `name`; the row lock is held until the caller's transaction ends."""
    stmt = update(NumberSequence).where(NumberSequence.name == name).values(value=NumberSequence.value + 1)
    result = session.execute(stmt.returning(NumberSequence.value)).scalar_one_or_none()
    if result is not None:
        return int(result)
    try:
        with session.begin_nested():
            session.execute(insert(NumberSequence).values(name=name, value=1))
        return 1
    except IntegrityError:
        # Another transaction created the counter first: take the next value from it.
        return int(session.execute(stmt.returning(NumberSequence.value)).scalar_one())


def next_number(session: Session, kind: str) -> str:
    """The next system number for kind, e.g. 'MF-000123' for a device."""
    return f"{PREFIXES[kind]}-{next_value(session, kind):06d}"


def current_value(session: Session, name: str) -> int:
    """The last value handed out for counter `name` (0 if none)."""
    value = session.execute(select(NumberSequence.value).where(NumberSequence.name == name)).scalar()
    return int(value or 0)

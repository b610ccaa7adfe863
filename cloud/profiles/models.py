"""Maintenance-profile tables: the learned models shared by every process (predictor_state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime, utcnow


class PredictorState(Base):
    """A learned model kept in the database (the basic/advanced predictor, 'onsite'), so every process shares it.

    `version` goes up with every save: a process keeps the model it loaded while the version is unchanged.
    """

    __tablename__ = "predictor_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

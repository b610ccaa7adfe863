"""The bot's own table: its learned state (re-ranker and paraphrases), so a restart keeps what was learned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime, utcnow


class BotState(Base):
    """One named blob of models.bot.Bot.dump_state(); every API worker loads it on (re)build."""

    __tablename__ = "bot_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    learned: Mapped[int] = mapped_column(Integer, default=0)  # how many feedback rounds went into it
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

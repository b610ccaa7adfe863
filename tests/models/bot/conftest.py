from __future__ import annotations

import pytest

from models.bot import Bot, KbDoc, load_kb


@pytest.fixture(scope="session")
def kb() -> list[KbDoc]:
    return load_kb()


@pytest.fixture(scope="session")
def shipped_bot(kb: list[KbDoc]) -> Bot:
    """One bot over the shipped KB for the read-only tests (learning tests build their own)."""
    bot = Bot()
    bot.index(kb)
    return bot


@pytest.fixture
def fresh_bot(kb: list[KbDoc]) -> Bot:
    bot = Bot()
    bot.index(kb)
    return bot

"""The live bot of one process: built from the active KB, rebuilt on `kb.changed`, its learned state persisted.

Every API worker holds its own Bot. Learned paraphrases also go into the KB as variants (P2's add_variant), so a
worker that rebuilds from the database converges on what another worker learned; the re-ranker's weights travel
through the bot_state row (last writer wins, which is fine for an online learner fed the same kind of feedback).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.bot.models import BotState
from cloud.events import DomainEvent, EventBus

if TYPE_CHECKING:
    from models.bot import Bot, BotReply

log = logging.getLogger("medfix.bot.holder")

STATE_NAME = "default"
REBUILD_DEBOUNCE_S = 0.5  # a KB import emits one kb.changed per entry: rebuild once after the burst
# kb.changed is heard only by the worker that made the change; the others notice within this many seconds.
STALE_CHECK_S = 30.0


@dataclass(frozen=True)
class Snapshot:
    """One built index: the Bot and the KB ids it was built from (external key <-> int id, questions)."""

    bot: Bot
    key_to_id: dict[str, int]
    id_to_key: dict[int, str]
    questions: dict[str, str]
    fingerprint: tuple[str, ...] = ()  # what the KB and the learned state looked like when it was built


@dataclass
class _Learn:
    text: str
    entry_key: str
    helpful: bool
    shown: tuple[str, ...]
    model: str | None


@dataclass
class BotHolder:
    """One models.bot.Bot per process, swapped whole on rebuild so asks never see a half-built index."""

    sessions: sessionmaker[Session]
    debounce_s: float = REBUILD_DEBOUNCE_S
    factory: Callable[[], Bot] | None = None
    _snapshot: Snapshot | None = None
    _build_lock: threading.Lock = field(default_factory=threading.Lock)
    _first_lock: threading.Lock = field(default_factory=threading.Lock)
    _learn_lock: threading.Lock = field(default_factory=threading.Lock)
    _timer: threading.Timer | None = None
    _timer_lock: threading.Lock = field(default_factory=threading.Lock)
    _rebuilding: bool = False
    _replay: list[_Learn] = field(default_factory=list)  # learns that arrived while a rebuild was running
    _deferred: list[_Learn] = field(default_factory=list)  # learns about entries the index did not have yet
    builds: int = 0
    stale_check_s: float = STALE_CHECK_S
    _checked_at: float = 0.0
    _checking: bool = False

    def install(self, bus: EventBus) -> None:
        """Rebuild (debounced, off the request thread) after every committed KB change."""
        bus.subscribe("kb.changed", self.on_kb_changed)

    def on_kb_changed(self, _event: DomainEvent) -> None:
        """Schedule a rebuild; a burst of changes gives one rebuild."""
        if self._snapshot is None and not self._rebuilding:
            return  # nothing built or building: the first use builds from the current KB anyway
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self._rebuild_quietly)
            self._timer.daemon = True
            self._timer.start()

    def _rebuild_quietly(self) -> None:
        try:
            self.rebuild()
        except Exception:  # a failed rebuild keeps serving the previous index
            log.exception("bot index rebuild failed; the previous index keeps answering")

    def warm_in_background(self) -> None:
        """Build the index on a daemon thread when the KB has entries (an empty KB costs nothing to build later)."""

        def warm() -> None:
            from cloud.kb.models import KbEntry

            try:
                with self.sessions() as session:
                    if session.execute(select(KbEntry.id).limit(1)).first() is None:
                        return
                self.snapshot  # noqa: B018 - builds it unless an ask already did
            except Exception:  # warming is an optimisation; the first ask builds it otherwise
                log.exception("warming the bot index failed")

        threading.Thread(target=warm, name="bot-warm", daemon=True).start()

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait for a scheduled rebuild to finish (tests, shutdown)."""
        with self._timer_lock:
            timer = self._timer
        if timer is not None:
            timer.join(timeout)
        with self._build_lock:
            pass

    def stop(self) -> None:
        """Cancel a pending rebuild."""
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    @property
    def snapshot(self) -> Snapshot:
        """The current index, built on first use."""
        snapshot = self._snapshot
        if snapshot is None:
            with self._first_lock:  # one first build, however many asks arrive together
                snapshot = self._snapshot or self.rebuild()
        elif time.monotonic() - self._checked_at > self.stale_check_s and not self._checking:
            self._checking = True  # off the asking thread: this ask is served by the current index
            threading.Thread(target=self._check_stale, name="bot-stale-check", daemon=True).start()
        return snapshot

    def _check_stale(self) -> None:
        try:
            with self.sessions() as session:
                current = fingerprint(session)
            snapshot = self._snapshot
            if snapshot is not None and current != snapshot.fingerprint:
                log.info("the KB or the learned state changed in another worker; rebuilding the bot index")
                self.rebuild()
        except Exception:
            log.exception("checking the bot index for changes failed")
        finally:
            self._checked_at = time.monotonic()
            self._checking = False

    def _new_bot(self) -> Bot:
        if self.factory is not None:
            return self.factory()
        from models.bot import Bot

        return Bot()

    def rebuild(self) -> Snapshot:
        """Build a fresh Bot from the active KB entries and the persisted learned state, then swap it in."""
        from cloud.kb import service as kb_service
        from cloud.kb.models import KbEntry

        with self._build_lock:
            with self._learn_lock:
                self._rebuilding = True
                self._replay.clear()
            try:
                with self.sessions() as session:
                    stamp = fingerprint(session)
                    docs = kb_service.active_docs(session)
                    rows = session.execute(select(KbEntry.id, KbEntry.key, KbEntry.question)).all()
                    state = session.execute(select(BotState.blob).where(BotState.name == STATE_NAME)).scalar()
                bot = self._new_bot()
                bot.index(docs)
                if state:
                    try:
                        bot.load_state(state)
                    except Exception:  # a state from an incompatible model version: start learning afresh
                        log.exception("could not load the bot's learned state; starting without it")
                key_to_id = {str(key): int(id_) for id_, key, _q in rows}
                snapshot = Snapshot(bot=bot, key_to_id=key_to_id, id_to_key={v: k for k, v in key_to_id.items()},
                                    questions={str(key): str(q) for _id, key, q in rows}, fingerprint=stamp)
                with self._learn_lock:
                    # learned on the old index while this one was being built, or about entries it lacked
                    deferred = [d for d in self._deferred if d.entry_key in key_to_id]
                    self._deferred = [d for d in self._deferred if d.entry_key not in key_to_id]
                    for item in [*self._replay, *deferred]:
                        bot.learn(item.text, entry_id=item.entry_key, helpful=item.helpful, shown=item.shown,
                                  model=item.model)
                    self._replay.clear()
                    self._snapshot = snapshot
                    self._checked_at = time.monotonic()
                    self.builds += 1
                    blob = bot.dump_state() if deferred else None
                if blob is not None:
                    with self.sessions() as session:
                        save_state(session, blob)
                        session.commit()
            finally:
                with self._learn_lock:
                    self._rebuilding = False
        log.info("bot index built: %s entries", len(docs))
        return snapshot

    def ask(self, text: str, *, model: str | None = None, category: str | None = None) -> tuple[BotReply, Snapshot]:
        """The current Bot's reply and the snapshot that gave it (so ids map consistently)."""
        snapshot = self.snapshot
        with self._learn_lock:  # river's learners are not thread-safe: never score while one learns
            return snapshot.bot.ask(text, model=model or None, category=category or None), snapshot

    def learn(self, session: Session, *, text: str, entry_id: int, helpful: bool, shown: Sequence[int] = (),
              model: str | None = None) -> None:
        """Teach the live Bot and stage its new state in session (persisted when the caller commits)."""
        snapshot = self.snapshot
        key = snapshot.id_to_key.get(entry_id)
        if key is None:  # an entry created after the last build: learned once the rebuild its kb.changed triggers
            from cloud.kb.models import KbEntry  # has indexed it

            entry = session.get(KbEntry, entry_id)
            if entry is not None:
                with self._learn_lock:
                    self._deferred.append(_Learn(text=text, entry_key=entry.key, helpful=helpful, shown=(),
                                                 model=model or None))
            return
        shown_keys = tuple(snapshot.id_to_key[i] for i in shown if i in snapshot.id_to_key)
        item = _Learn(text=text, entry_key=key, helpful=helpful, shown=shown_keys, model=model or None)
        with self._learn_lock:
            snapshot.bot.learn(item.text, entry_id=item.entry_key, helpful=item.helpful, shown=item.shown,
                               model=item.model)
            if self._rebuilding:
                self._replay.append(item)
            blob = snapshot.bot.dump_state()
        save_state(session, blob)


def fingerprint(session: Session) -> tuple[str, ...]:
    """A cheap summary of the KB and the learned state: it changes whenever a rebuild would give another index."""
    from cloud.kb.models import KbEntry

    count, changed = session.execute(select(func.count(KbEntry.id), func.max(KbEntry.updated_at))).one()
    learned = session.execute(select(BotState.updated_at, BotState.learned)
                              .where(BotState.name == STATE_NAME)).first()
    return (str(count), str(changed), str(learned[0] if learned else ""), str(learned[1] if learned else ""))


def save_state(session: Session, blob: bytes) -> None:
    """Store the learned state (one row, replaced)."""
    row = session.execute(select(BotState).where(BotState.name == STATE_NAME)).scalar_one_or_none()
    if row is None:
        session.add(BotState(name=STATE_NAME, blob=blob, learned=1))
    else:
        row.blob = blob
        row.learned = (row.learned or 0) + 1


def holder_of(app_state: Any) -> BotHolder:
    """The app's BotHolder."""
    holder: BotHolder = app_state.bot
    return holder

"""The ticket state machine: one transition table, the only place that says which action moves what where.

`tickets.service.apply_action` is the only writer of a ticket's status and consults nothing but this table;
the tier a case is solved at (basic / remote / on site) is a column of the same rows (`tier_after`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    """Where a ticket stands."""

    submitted = "submitted"  # in the service desk's queue
    escalated = "escalated"  # with the remote service centre for diagnosis
    dispatched = "dispatched"  # offered to an engineer, not yet accepted
    accepted = "accepted"  # an engineer took it
    on_site = "on_site"  # the engineer is at the device
    resolved = "resolved"  # answered or fixed; awaiting the reporter's confirmation
    reopened = "reopened"  # the reporter says it is not fixed; back in the queue
    closed = "closed"  # confirmed by the reporter, or closed automatically
    cancelled = "cancelled"  # withdrawn, with a reason
    merged = "merged"  # a duplicate folded into the older open ticket of the same device; never counts as solved


class Action(enum.StrEnum):
    """What someone does to a ticket."""

    answer = "answer"  # a remote answer that resolves the ticket
    escalate = "escalate"  # to the remote service centre (tier 2)
    dispatch = "dispatch"  # to an engineer
    accept = "accept"
    decline = "decline"  # the engineer hands it back to the queue
    arrive = "arrive"  # engineer on site
    complete = "complete"  # engineer finished, with findings
    confirm = "confirm"  # the reporter confirms the fix
    auto_close = "auto_close"  # nobody confirmed within the configured time
    reopen = "reopen"
    cancel = "cancel"
    add_info = "add_info"  # the reporter adds text or attachments
    note = "note"  # an internal note by staff, never shown to the reporter
    rate = "rate"  # the reporter's satisfaction rating after closing
    precheck = "precheck"  # a predictive ticket's pre-check ends as false alarm / fixed: resolved with findings
    self_serve = "self_serve"  # the reporter (or desk) closes it as solved by the bot / knowledge base
    reply = "reply"  # the desk writes to the reporter (web and WeChat); not a resolution, the status stays
    reassign = "reassign"  # the desk hands a dispatched or accepted ticket to another engineer
    merge = "merge"  # a duplicate is merged into the older open ticket of the same device (tickets/desk.py)


class Tier(enum.StrEnum):
    """At which level a case was solved: kept on the ticket for profiles and dashboards."""

    basic = "basic"  # self-service: the bot or the knowledge base
    remote = "remote"  # the service desk or the remote service centre
    on_site = "on_site"  # an engineer at the device


class Party(enum.StrEnum):
    """Who may take an action: roles, plus the ticket's own reporter and assigned engineer."""

    agent = "agent"
    service_center = "service_center"
    admin = "admin"
    assigned_engineer = "assigned_engineer"
    reporter = "reporter"
    system = "system"


OPEN = frozenset({Status.submitted, Status.escalated, Status.dispatched, Status.accepted, Status.on_site,
                  Status.reopened})
# Statuses a service report describes (cloud/reports): the work is done (resolved, awaiting confirmation) or the
# case is closed; the closing messages link it.
REPORTABLE = frozenset({Status.resolved, Status.closed})
FINAL = frozenset({Status.closed, Status.cancelled, Status.merged})
DESK = frozenset({Party.agent, Party.admin})
REMOTE = frozenset({Party.agent, Party.service_center, Party.admin})


@dataclass(frozen=True)
class Transition:
    """One row: `action` by one of `parties` moves a ticket from any of `sources` to `target`."""

    action: Action
    sources: frozenset[Status]
    target: Status | None  # None: the status stays (notes, added information, ratings)
    parties: frozenset[Party]
    # The tier a resolving action records, by who takes it: the first (parties, tier) pair that matches wins.
    tiers: tuple[tuple[frozenset[Party], Tier], ...] = ()


TRANSITIONS: tuple[Transition, ...] = (
    Transition(Action.answer, frozenset({Status.submitted, Status.escalated, Status.reopened}), Status.resolved,
               REMOTE, tiers=((REMOTE, Tier.remote),)),
    # The system escalates when a lab user says the bot's answer did not help (tickets.service.open_escalated).
    Transition(Action.escalate, frozenset({Status.submitted, Status.reopened}), Status.escalated,
               frozenset({*DESK, Party.system})),
    # The system dispatches predictive tickets by rule (cloud/alerts) and notes further alerts on them.
    Transition(Action.dispatch, frozenset({Status.submitted, Status.escalated, Status.reopened}), Status.dispatched,
               frozenset({*REMOTE, Party.system})),
    Transition(Action.accept, frozenset({Status.dispatched}), Status.accepted, frozenset({Party.assigned_engineer})),
    Transition(Action.decline, frozenset({Status.dispatched}), Status.submitted, frozenset({Party.assigned_engineer})),
    Transition(Action.arrive, frozenset({Status.accepted}), Status.on_site, frozenset({Party.assigned_engineer})),
    Transition(Action.complete, frozenset({Status.on_site}), Status.resolved, frozenset({Party.assigned_engineer}),
               tiers=((frozenset({Party.assigned_engineer}), Tier.on_site),)),
    Transition(Action.confirm, frozenset({Status.resolved}), Status.closed, frozenset({Party.reporter, *DESK})),
    Transition(Action.auto_close, frozenset({Status.resolved}), Status.closed, frozenset({Party.system})),
    Transition(Action.reopen, frozenset({Status.resolved}), Status.reopened, frozenset({Party.reporter, *DESK})),
    Transition(Action.cancel, OPEN, Status.cancelled, frozenset({*DESK, Party.reporter})),
    Transition(Action.add_info, OPEN | {Status.resolved}, None, frozenset({Party.reporter, *REMOTE})),
    Transition(Action.note, OPEN | {Status.resolved}, None,
               frozenset({*REMOTE, Party.assigned_engineer, Party.system})),
    Transition(Action.rate, frozenset({Status.closed}), None, frozenset({Party.reporter})),
    # Only through finishing the pre-check (cloud/alerts/precheck.py): from wherever the work stands, since a
    # false alarm is often seen on the chart before anyone travels, and the desk may finish it too.
    # Finished by the engineer it counts as on site; finished by the desk or centre from the chart, as remote.
    Transition(Action.precheck, OPEN, Status.resolved, frozenset({Party.assigned_engineer, *REMOTE}),
               tiers=((frozenset({Party.assigned_engineer}), Tier.on_site), (REMOTE, Tier.remote))),
    # Solved by the bot or the knowledge base before anyone worked on it: closed at once, counted as self-served.
    Transition(Action.self_serve, frozenset({Status.submitted, Status.escalated, Status.reopened}), Status.closed,
               frozenset({Party.reporter, *DESK}), tiers=((frozenset({Party.reporter, *DESK}), Tier.basic),)),
    # A message to the reporter that keeps the ticket where it is; unlike a note the reporter sees it.
    Transition(Action.reply, OPEN | {Status.resolved}, None, REMOTE),
    # Another engineer takes over: the new one has to accept it again.
    Transition(Action.reassign, frozenset({Status.dispatched, Status.accepted}), Status.dispatched, REMOTE),
    # Only through tickets.desk.merge, which checks both tickets are open and of the same device.
    Transition(Action.merge, OPEN, Status.merged, REMOTE),
)

_BY_ACTION = {t.action: t for t in TRANSITIONS}


class TransitionError(Exception):
    """The action is not allowed now; carries what is."""

    def __init__(self, message: str, allowed: list[Action]) -> None:
        super().__init__(message)
        self.allowed = allowed


def transition_for(action: Action) -> Transition:
    """The table row of an action."""
    return _BY_ACTION[action]


def allowed_actions(status: Status, parties: frozenset[Party]) -> list[Action]:
    """The actions these parties may take on a ticket in status, in table order."""
    return [t.action for t in TRANSITIONS if status in t.sources and t.parties & parties]


def tier_after(action: Action, parties: frozenset[Party], target: Status, current: Tier | None) -> Tier | None:
    """The ticket's tier after action: set by a resolving row, cleared when the case is open again, else kept."""
    for who, tier in _BY_ACTION[action].tiers:
        if who & parties:
            return tier
    return None if target in OPEN else current


def next_status(status: Status, action: Action, parties: frozenset[Party]) -> Status:
    """The status after action, or TransitionError naming the actions allowed instead."""
    row = _BY_ACTION[action]
    if status not in row.sources or not row.parties & parties:
        allowed = allowed_actions(status, parties)
        if status not in row.sources:
            raise TransitionError(f"cannot {action.value} a ticket that is {status.value}", allowed)
        raise TransitionError(f"you may not {action.value} this ticket", allowed)
    return row.target or status

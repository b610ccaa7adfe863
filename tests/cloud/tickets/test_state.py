"""The transition table itself: every row, from every source, by every party."""

from __future__ import annotations

import pytest

from cloud.tickets.state import TRANSITIONS, Action, Party, Status, TransitionError, allowed_actions, next_status

ROWS = [(t.action, source, t.target or source, party) for t in TRANSITIONS for source in sorted(t.sources)
        for party in sorted(t.parties)]


@pytest.mark.parametrize(("action", "source", "target", "party"), ROWS,
                         ids=[f"{a.value}:{s.value}->{t.value}:{p.value}" for a, s, t, p in ROWS])
def test_every_row_moves_to_its_target(action: Action, source: Status, target: Status, party: Party) -> None:
    assert next_status(source, action, frozenset({party})) == target
    assert action in allowed_actions(source, frozenset({party}))


@pytest.mark.parametrize("transition", TRANSITIONS, ids=[t.action.value for t in TRANSITIONS])
def test_every_action_is_refused_from_other_states_with_the_allowed_list(transition) -> None:  # noqa: ANN001
    party = frozenset(transition.parties)
    for status in set(Status) - set(transition.sources):
        with pytest.raises(TransitionError) as caught:
            next_status(status, transition.action, party)
        assert caught.value.allowed == allowed_actions(status, party)
        assert transition.action not in caught.value.allowed


@pytest.mark.parametrize("transition", TRANSITIONS, ids=[t.action.value for t in TRANSITIONS])
def test_every_action_is_refused_to_other_parties(transition) -> None:  # noqa: ANN001
    source = sorted(transition.sources)[0]
    for party in set(Party) - set(transition.parties):
        with pytest.raises(TransitionError, match="may not"):
            next_status(source, transition.action, frozenset({party}))


def test_final_states_allow_nothing_but_a_rating() -> None:
    everyone = frozenset(Party)
    assert allowed_actions(Status.cancelled, everyone) == []
    assert allowed_actions(Status.closed, everyone) == [Action.rate]


def test_the_required_paths_exist() -> None:
    def walk(status: Status, *steps: tuple[Action, Party]) -> Status:
        for action, party in steps:
            status = next_status(status, action, frozenset({party}))
        return status

    engineer, reporter = Party.assigned_engineer, Party.reporter
    assert walk(Status.submitted, (Action.answer, Party.agent)) == Status.resolved
    assert walk(Status.submitted, (Action.escalate, Party.agent), (Action.answer, Party.service_center)) == \
        Status.resolved
    assert walk(Status.submitted, (Action.escalate, Party.agent), (Action.dispatch, Party.service_center),
                (Action.accept, engineer), (Action.arrive, engineer), (Action.complete, engineer),
                (Action.confirm, reporter)) == Status.closed
    assert walk(Status.submitted, (Action.dispatch, Party.agent), (Action.decline, engineer)) == Status.submitted
    assert walk(Status.resolved, (Action.reopen, reporter)) == Status.reopened
    assert walk(Status.resolved, (Action.auto_close, Party.system)) == Status.closed

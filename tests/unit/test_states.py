"""The job-state transition table: the moves it allows, the ones it refuses, and that the
ledger and a cycle's saved history both follow it."""

from __future__ import annotations

import pytest

from mlfabric.scheduler import InvalidTransition, Scheduler, Tick
from mlfabric.scheduler.builders import MakeJob, MakeNode, MakeProject
from mlfabric.scheduler.states import ACTIVE, STATES, TRANSITIONS, after

LEGAL = [("Pending", "started", "Running"), ("Pending", "failed", "Failed"),
         ("Running", "preempted", "Pending"), ("Running", "evicted", "Pending"),
         ("Running", "stopped", "Stopped"), ("Running", "succeeded", "Succeeded"),
         ("Running", "failed", "Failed"), ("Running", "lost", "Lost")]


@pytest.mark.parametrize(("state", "event", "to"), LEGAL)
def test_legal_moves(state: str, event: str, to: str) -> None:
    assert after(state, event) == to


@pytest.mark.parametrize(("state", "event"), [
    ("Pending", "succeeded"), ("Pending", "preempted"), ("Running", "started"),
    ("Succeeded", "started"), ("Failed", "preempted"), ("Lost", "succeeded"),
    ("Stopped", "started"), ("Running", "deleted")])
def test_illegal_moves(state: str, event: str) -> None:
    with pytest.raises(InvalidTransition, match=f"a {state} job cannot be {event}"):
        after(state, event)


def test_the_table_is_closed_over_the_states() -> None:
    assert set(TRANSITIONS) == {(s, e) for s, e, _ in LEGAL}
    assert {s for s, _ in TRANSITIONS} <= set(ACTIVE)
    assert set(TRANSITIONS.values()) <= set(STATES)
    ended = set(STATES) - set(ACTIVE)
    assert not [k for k in TRANSITIONS if k[0] in ended]  # an ended job stays ended


def test_the_ledger_moves_through_the_table() -> None:
    sched = Scheduler(validate=True)
    sched.handle(MakeNode("n").gpus(2).add(), MakeProject("a").quota(2).add(),
                 MakeProject("b").quota(0).add())
    sched.handle(MakeJob("low", "b").gpus(2).submit(), Tick(1.0))
    assert sched.job("b", "low").status == "running"
    sched.handle(MakeJob("high", "a").gpus(2).at(2.0).submit(), Tick(2.0))
    assert sched.job("b", "low").status == "pending"  # preempted: Running -> Pending
    assert sched.job("a", "high").status == "running"

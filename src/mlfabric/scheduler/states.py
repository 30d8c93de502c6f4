"""Job states and the moves between them: one table that the pure ledger and the
states the catalog keeps both go through, so neither can make a move the other does not
know.

A job is ``Pending`` until it starts; ``Running`` until it is preempted or evicted
(``Pending`` again, with its submit time) or ends: ``Succeeded``, ``Failed``, ``Stopped``
(a delete or a time limit) or ``Lost`` (its processes vanished). A pending job that could
not start is ``Failed``. Deleted jobs leave the catalog.
"""

from __future__ import annotations

from mlfabric.errors import MlfabricError

PENDING, RUNNING = "Pending", "Running"
SUCCEEDED, FAILED, STOPPED, LOST = "Succeeded", "Failed", "Stopped", "Lost"
ACTIVE = (PENDING, RUNNING)
STATES = (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED, LOST)

# (state, event) -> state; the events are the kinds a job's history records.
TRANSITIONS: dict[tuple[str, str], str] = {
    (PENDING, "started"): RUNNING,
    (PENDING, "failed"): FAILED,  # could not start
    (RUNNING, "preempted"): PENDING,
    (RUNNING, "evicted"): PENDING,  # its node or pool went away
    (RUNNING, "stopped"): STOPPED,
    (RUNNING, "succeeded"): SUCCEEDED,
    (RUNNING, "failed"): FAILED,
    (RUNNING, "lost"): LOST,
}


class InvalidTransition(MlfabricError, AssertionError):
    """A move the table does not allow: a bug, never a user's mistake."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"a {state} job cannot be {event}")
        self.state = state
        self.event = event


def after(state: str, event: str) -> str:
    """The state a job in ``state`` is in after ``event``."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None

"""``scheduler status``: the saved decisions of the last cycle, the same through the
library, the CLI and (for a member) the REST API; and every state a job's history goes
through is a move of the transition table."""

from __future__ import annotations

import json
from pathlib import Path

from mlfabric import jobs, nodes, projects
from mlfabric.scheduler.states import after
from tests.helpers import run_cli


def test_status_and_history(home: Path) -> None:
    h = str(home)
    assert jobs.status(home=h).at is None
    nodes.add("n1", gpus=4, runtime="sim", home=h)
    projects.create("a", quota=2, home=h)
    projects.create("b", quota=2, home=h)
    jobs.submit("a1", project="a", gpus=4, home=h)
    jobs.submit("b1", project="b", gpus=2, home=h)  # reclaims its quota from a
    jobs.submit("b2", project="b", gpus=4, home=h)  # more than b's share: waits
    st = jobs.status(home=h)
    assert st.at is not None and (st.running, st.pending) == (1, 2)
    shares = {p.project: (p.fair_share, p.allocated, p.running, p.pending)
              for p in st.projects}
    assert shares == {"a": (2.0, 0.0, 0, 1), "b": (2.0, 2.0, 1, 1)}
    assert sum(st.reasons.values()) == 2
    assert {p.name: p.fair_share for p in projects.list(home=h)} == {"a": 2.0, "b": 2.0}
    shown = run_cli(home, "scheduler", "status", "--json")
    assert shown.code == 0 and json.loads(shown.out)["projects"] == [
        p.to_dict() for p in st.projects]
    text = run_cli(home, "scheduler", "status")
    assert "1 running, 2 pending" in text.out and "FAIR SHARE" in text.out
    # a1 ran, was preempted, waits: every recorded move is one the table allows
    state = "Pending"
    for e in jobs.events("a1", project="a", home=h):
        if e["kind"] == "submitted":
            continue
        state = after(state, e["kind"])
    assert state == jobs.get("a1", project="a", home=h).state == "Pending"

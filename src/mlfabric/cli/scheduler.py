"""``mlfabric scheduler step|run|status``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import jobs
from mlfabric.console import OPTIONS, emit_json, say, table, when
from mlfabric.units import parse_duration

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


def _say(r: jobs.CycleReport) -> None:
    if OPTIONS.json:
        emit_json(r)
        return
    parts = [f"{k} {', '.join(v)}" for k, v in
             (("started", r.started), ("preempted", r.preempted), ("stopped", r.stopped),
              ("finished", r.finished), ("lost", r.lost),
              ("failed to start", r.failed_to_start)) if v]
    say("; ".join([*parts, f"{r.running} running, {r.pending} pending"]))


@app.command("step")
def step(grace: str | None = typer.Option(None, "--grace", help="Preemption grace period "
                                          "(default $MLFABRIC_PREEMPT_GRACE or 10s).")) -> None:
    """Run one scheduling cycle."""
    _say(jobs.step(home=OPTIONS.home,
                   grace_s=parse_duration(grace) if grace is not None else None))


@app.command("run")
def run(interval: str = typer.Option("1s", "--interval", help="Time between cycles."),
        grace: str | None = typer.Option(None, "--grace", help="Preemption grace period."),
        cycles: int | None = typer.Option(None, "--cycles", help="Stop after N cycles.")
        ) -> None:
    """Run the scheduler daemon: cycles until SIGTERM (process exits, time limits)."""
    def _report(r: jobs.CycleReport) -> None:
        if r.started or r.preempted or r.stopped or r.finished or r.lost or r.failed_to_start:
            _say(r)

    jobs.run_daemon(home=OPTIONS.home, interval_s=parse_duration(interval),
                    grace_s=parse_duration(grace) if grace is not None else None,
                    max_cycles=cycles, on_cycle=_report)


@app.command("status")
def status() -> None:
    """What the last cycle decided: fair share and allocation per project, why jobs wait."""
    s = jobs.status(home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(s)
        return
    if s.at is None:
        say("no scheduling cycle has run yet")
        return
    say(f"last cycle {when(s.at)}: {s.running} running, {s.pending} pending")
    table(["PROJECT", "POOL", "FAIR SHARE", "ALLOCATED", "RUNNING", "PENDING"],
          [[p.project, p.pool, f"{p.fair_share:g}", f"{p.allocated:g}", p.running, p.pending]
           for p in s.projects])
    for code, n in sorted(s.reasons.items()):
        say(f"{n} pending: {code}")

"""``mlfabric job submit|list|get|describe|logs|delete|exec``."""

from __future__ import annotations

import shlex
import sys

import typer

from mlfabric.cli import options
from mlfabric.cli.backend import jobs
from mlfabric.console import OPTIONS, emit_json, listing, note, record, say, table, when
from mlfabric.errors import MlfabricError, NotFound

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS
_REST = {"allow_extra_args": False, "allow_interspersed_args": True}



def _gpus(j: jobs.JobInfo) -> str:
    from mlfabric.units import format_size

    if j.gpu_memory:
        return format_size(j.gpu_memory)
    each = f"{j.gpus if j.gpus is not None else 1:g}"
    return f"{j.processes}x{each}" if j.processes > 1 else each


def _where(j: jobs.JobInfo) -> str | None:
    if not j.placements:
        return None
    parts = []
    for p in j.placements:
        share = f"@{p['fraction']:g}" if p.get("fraction") is not None else ""
        parts.append(f"{p['node']}:{','.join(str(g) for g in p['gpus'])}{share}")
    return " ".join(parts)


def _fields(j: jobs.JobInfo) -> list[list[object]]:
    kind = "interactive" if j.interactive else "training"
    rows = [["name", j.name], ["project", j.project], ["state", j.state],
            ["reason", j.reason], ["gpus", _gpus(j)],
            ["type", kind + (" (preemptible)" if j.preemptible else "")],
            ["command", shlex.join(j.command) or None], ["placements", _where(j)],
            ["runtime", j.runtime], ["submitted", when(j.submitted_at)],
            ["started", when(j.started_at)], ["finished", when(j.finished_at)],
            ["exit code", j.exit_code], ["message", j.message], ["snapshot", j.snapshot],
            ["logs", j.log_dir], ["engine", j.engine],
            *([f"{j.engine} {k}", v] for k, v in j.endpoints.items())]
    return [r for r in rows if r[1] is not None]


def _show(j: jobs.JobInfo) -> None:
    record(j, _fields(j), j.ref)


@app.command("submit", context_settings=_REST)
def submit(name: str = typer.Argument(..., help="Job name (unique in its project)."),
           command: list[str] | None = typer.Argument(None, help="-- COMMAND ARGS..."),
           project: str = options.project(required=True),
           gpus: str | None = typer.Option(None, "--gpus", "-g", help="Whole GPUs per process, "
                                           "or a fraction below 1 of one GPU (default 1)."),
           gpu_memory: str | None = typer.Option(None, "--gpu-memory", help="GPU memory to "
                                                 "share one GPU by, e.g. 8Gi."),
           interactive: bool = typer.Option(False, "--interactive", help="Interactive "
                                            "(not preemptible, within quota)."),
           preemptible: bool = typer.Option(False, "--preemptible", help="Allow preemption "
                                            "(lets interactive jobs go over quota)."),
           processes: int = typer.Option(1, "--processes", help="Gang processes (all or "
                                         "nothing)."),
           volume: list[str] | None = typer.Option(None, "--volume", help="VOL[:PATH]: "
                                                   "/abs mounts there (as docker -v), rel "
                                                   "links in the work folder (repeatable)."),
           dataset: list[str] | None = typer.Option(None, "--dataset", help="DS:VER "
                                                    "(repeatable)."),
           env: list[str] | None = typer.Option(None, "--env", "-e", help="K=V (repeatable)."),
           snapshot_on_complete: str | None = typer.Option(
               None, "--snapshot-on-complete", help="Snapshot this volume when the job "
               "succeeds."),
           sim_duration: str | None = typer.Option(None, "--sim-duration", help="sim runtime: "
                                                   "finish after this long, e.g. 30s."),
           engine: str | None = typer.Option(None, "--engine", help="dask: a Dask cluster "
                                             "of --processes N (a scheduler, N-1 workers); "
                                             "the command, if any, runs once it is up."),
           queue_only: bool = typer.Option(False, "--queue-only", help="Only queue it: the "
                                           "next cycle (scheduler run or scheduler step) starts "
                                           "it with everything queued since.")
           ) -> None:
    """Submit a job: ``job submit NAME -p P -g G -- COMMAND ARGS``."""
    if not command and engine is None:
        raise typer.BadParameter("no command to run: put the command after --, e.g. "
                                 f"job submit {name} -p {project} -- python train.py",
                                 param_hint="COMMAND")
    j = jobs.submit(name, project=project, gpus=gpus, gpu_memory=gpu_memory,
                    queue_only=queue_only,
                    interactive=interactive, preemptible=True if preemptible else None,
                    processes=processes, command=command or [], env=env or [],
                    volumes=volume or [], datasets=dataset or [],
                    snapshot_on_complete=snapshot_on_complete, sim_duration=sim_duration,
                    engine=engine, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(j)
    elif j.state == "Pending":
        say(f"submitted job {j.ref}: pending ({j.reason})")
    else:
        say(f"submitted job {j.ref}: {j.state.lower()}")


@app.command("list")
def list_(project: str | None = options.project(help=options.ONE_PROJECT),
          all_projects: bool = typer.Option(False, "--all-projects", "-A",
                                            help="Every project.")) -> None:
    """List jobs."""
    js = jobs.list(project=None if all_projects else project, home=OPTIONS.home)
    listing(js, ["PROJECT", "NAME", "STATE", "GPUS", "WHERE", "REASON"],
            [[j.project, j.name, j.state, _gpus(j), _where(j), j.reason or j.message]
             for j in js], [j.ref for j in js])


@app.command("get")
def get(name: str, project: str | None = options.project()) -> None:
    """Show a job: state, placements, or why it is pending."""
    _show(jobs.get(name, project=project, home=OPTIONS.home))


@app.command("describe")
def describe(name: str, project: str | None = options.project()) -> None:
    """Show a job and its history: each state change with its time and reason."""
    j = jobs.get(name, project=project, home=OPTIONS.home)
    events = jobs.events(j.name, project=j.project, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json({"job": j, "events": events})
        return
    table(["field", "value"], _fields(j))
    table(["TIME", "EVENT", "MESSAGE"],
          [[when(e["at"]), e["kind"], e["message"]] for e in events], title="Events")


@app.command("logs")
def logs(name: str, project: str | None = options.project(),
         rank: int = typer.Option(0, "--rank", help="Process rank."),
         follow: bool = typer.Option(False, "--follow", "-f", help="Stream until the job "
                                     "ends.")) -> None:
    """Print a job's log (of one process); with --follow, exit with the job's exit code."""
    if not follow:
        sys.stdout.write(jobs.logs(name, project=project, rank=rank, home=OPTIONS.home))
        return
    for chunk in jobs.follow_logs(name, project=project, rank=rank, home=OPTIONS.home):
        if chunk:
            sys.stdout.write(chunk)
            sys.stdout.flush()
    # As runai's --attach: a script that follows a job fails when the job does.
    j = jobs.get(name, project=project, home=OPTIONS.home)
    if j.state != "Succeeded":
        code = j.exit_code if j.exit_code and 0 < j.exit_code < 256 else 1
        note(f"job {j.ref} {j.state.lower()}"
             + (f" (exit code {j.exit_code})" if j.exit_code is not None else "")
             + (f": {j.message}" if j.message else ""))
        raise typer.Exit(code)


@app.command("delete")
def delete(names: list[str] = typer.Argument(..., help="Job names."),
           project: str | None = options.project()) -> None:
    """Delete jobs; running ones are stopped. Names that match no job are named after the
    others are deleted (exit 1)."""
    gone = jobs.delete(names, project=project, missing_ok=True, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(gone)
    else:
        for j in gone:
            say(f"deleted job {j.ref}")
    deleted = {j.ref for j in gone} | {j.name for j in gone}
    missing = [n if "/" in n or project is None else f"{project}/{n}"
               for n in names if n not in deleted]
    if len(missing) == 1:
        raise NotFound("job", missing[0])
    if missing:
        raise MlfabricError(f"jobs not found: {', '.join(missing)}")


@app.command("exec", context_settings=_REST)
def exec_(name: str, command: list[str] | None = typer.Argument(None, help="-- CMD ARGS"),
          project: str | None = options.project()) -> None:
    """Run a command with a running job's variables and working directory."""
    code = jobs.exec_in(name, command or [], project=project, home=OPTIONS.home)
    raise typer.Exit(code)

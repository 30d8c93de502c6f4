"""Entry point: ``mlfabric [--home DIR] [--json] [--quiet] NOUN VERB ...``.

User mistakes become one line ``error: ...`` on stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import os
import sys

import typer

from mlfabric.cli import (
    cache,
    dataset,
    demo,
    faces,
    inference,
    job,
    model_repo,
    node,
    project,
    remote,
    scheduler,
    server,
    snapshot,
    store,
    token,
    transfer,
    volume,
    workspace,
)
from mlfabric.console import OPTIONS, err_console
from mlfabric.errors import MlfabricError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="mlfabric: versioned data volumes, datasets, GPU scheduling, serving.")
app.add_typer(volume.app, name="volume")
app.add_typer(snapshot.app, name="snapshot")
app.add_typer(transfer.app, name="transfer")
app.add_typer(remote.app, name="remote")
app.add_typer(dataset.app, name="dataset")
app.add_typer(cache.app, name="cache")
app.add_typer(node.app, name="node")
app.add_typer(project.app, name="project")
app.add_typer(job.app, name="job")
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(workspace.app, name="workspace")
app.add_typer(inference.app, name="inference")
app.add_typer(model_repo.app, name="model-repo")
app.add_typer(faces.app, name="faces")
app.add_typer(server.app, name="server")
app.add_typer(token.app, name="token")
app.command("gc")(store.gc)
app.command("verify")(store.verify)
app.command("demo")(demo.demo)


@app.callback()
def _global(
    home: str | None = typer.Option(None, "--home", help="State folder (default $MLFABRIC_HOME "
                                    "or ~/.mlfabric)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors."),
) -> None:
    OPTIONS.home = home or OPTIONS.home
    OPTIONS.json = json_out or OPTIONS.json
    OPTIONS.quiet = quiet or OPTIONS.quiet


_GLOBAL_FLAGS = {"--json": "json", "--quiet": "quiet", "-q": "quiet"}


def _hoist_global_options(argv: list[str]) -> list[str]:
    """Accept the global options anywhere before ``--`` (``volume list --json`` too)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out += argv[i:]
            break
        if a in _GLOBAL_FLAGS:
            setattr(OPTIONS, _GLOBAL_FLAGS[a], True)
        elif a == "--home" and i + 1 < len(argv):
            OPTIONS.home = argv[i + 1]
            i += 1
        elif a.startswith("--home="):
            OPTIONS.home = a.split("=", 1)[1]
        else:
            out.append(a)
        i += 1
    return out


def main(argv: list[str] | None = None) -> None:
    args = _hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="mlfabric", standalone_mode=True)
    except MlfabricError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("error: interrupted", markup=False)
        sys.exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()

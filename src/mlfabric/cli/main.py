"""Entry point: ``mlfabric [--home DIR] [-o FORMAT | --json] [--quiet] NOUN VERB ...``.

User mistakes become one line ``error: ...`` on stderr and exit 1 (``{"error": ...}``
under ``-o json|yaml``); usage errors exit 2.
A noun's module is imported only when that noun runs, so a command pays for its own
imports and no other: ``mlfabric --help`` imports none of them. Apps (``mlfabric.apps``)
join as nouns through their entry points.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from mlfabric.errors import MlfabricError

# noun -> (typer app or command as "module:attr", one-line help). The help lives here,
# not in the noun's module, so listing the nouns imports none of them.
NOUNS: dict[str, tuple[str, str]] = {
    "volume": ("mlfabric.cli.volume:app", "Versioned data volumes."),
    "snapshot": ("mlfabric.cli.snapshot:app", "Immutable point-in-time snapshots of volumes."),
    "transfer": ("mlfabric.cli.transfer:app",
                 "Bulk data movement between file systems and object stores."),
    "remote": ("mlfabric.cli.remote:app",
               "Lake locations for datasets: a local folder, s3:// or memory://."),
    "dataset": ("mlfabric.cli.dataset:app", "Immutable dataset versions in a lake."),
    "cache": ("mlfabric.cli.cache:app",
              "Local caches of dataset versions, with a size budget, TTL and leases."),
    "node": ("mlfabric.cli.node:app", "GPU nodes and node pools."),
    "project": ("mlfabric.cli.project:app", "Projects: GPU quotas and fair share."),
    "job": ("mlfabric.cli.job:app", "Scheduled GPU jobs."),
    "scheduler": ("mlfabric.cli.scheduler:app", "The scheduling loop and its state."),
    "workspace": ("mlfabric.cli.workspace:app", "JupyterLab workspaces on volumes."),
    "inference": ("mlfabric.cli.inference:app", "Triton-compatible inference servers."),
    "config": ("mlfabric.cli.config:app", "Your defaults: the project of every command."),
    "init": ("mlfabric.cli.init:init", "Make a home (--home DIR, else the default one)."),
    "model-repo": ("mlfabric.cli.model_repo:app",
                   "Model repositories (volumes in Triton's layout)."),
    "server": ("mlfabric.cli.server:app", "The platform server: REST API and dashboard."),
    "token": ("mlfabric.cli.token:app", "API tokens for the platform server."),
    "gc": ("mlfabric.cli.store:gc",
           "Remove objects no snapshot needs, and leftovers of interrupted operations."),
    "verify": ("mlfabric.cli.store:verify",
               "Re-hash stored objects and check volumes against their snapshots."),
    "demo": ("mlfabric.cli.demo:demo",
             "Create a volume, snapshot it, change it, diff, clone and restore it."),
}


def _argument_metavar(param: Any) -> None:
    """``NAME`` in the usage line (``[NAME]`` when optional), not typer's ``{name}``."""
    name = (param.metavar or param.name or "arg").upper() + ("..." if param.nargs != 1 else "")
    shown = name if param.required else f"[{name}]"
    param.make_metavar = lambda ctx=None, usage=False: shown if usage else name


def plain(cmd: Any) -> Any:
    """Help as text for a terminal: ``NAME`` metavars instead of click's ``<str>`` and
    ``{name}``, docstrings without reST's double backquotes; for ``cmd`` and below."""
    for attr in ("help", "short_help"):
        if getattr(cmd, attr, None):
            setattr(cmd, attr, getattr(cmd, attr).replace("``", ""))
    for param in cmd.params:
        if getattr(param, "help", None):
            param.help = param.help.replace("``", "")
        if param.param_type_name == "argument":
            _argument_metavar(param)
        elif (param.metavar is None and not (param.is_flag or param.count)
              and not hasattr(param.type, "choices")):
            param.metavar = (param.name or "value").upper()
    for sub in getattr(cmd, "commands", {}).values():
        plain(sub)
    return cmd


def _load(target: str, name: str, help_text: str) -> Any:
    """The command of a noun: its typer app (or single typer function), mounted."""
    module, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    # Mounted under a parent, as a noun always was: typer would collapse a one-command app.
    parent = typer.Typer(add_completion=False, rich_markup_mode=None)
    if isinstance(obj, typer.Typer):
        obj.rich_markup_mode = None
        parent.add_typer(obj, name=name, help=obj.info.help or help_text)
    else:
        parent.command(name, help=help_text)(obj)
    cmd = typer.main.get_command(parent)
    commands = getattr(cmd, "commands", None)  # a lone function comes back as itself
    if commands is None:
        cmd.name = name
        return plain(cmd)
    return plain(commands[name])


class Nouns(TyperGroup):
    """The top-level group: nouns load on first use, apps come from their entry points;
    listing them (``mlfabric --help``) imports none."""

    _apps: dict[str, Any] | None = None

    def apps(self) -> dict[str, Any]:
        if self._apps is None:
            from mlfabric.apps import discover

            self._apps = {n: a for n, a in discover().items() if a.cli and n not in NOUNS}
        return self._apps

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted([*NOUNS, *self.apps()])

    def _help(self, name: str) -> str | None:
        if name in NOUNS:
            return NOUNS[name][1]
        app = self.apps().get(name)
        return None if app is None else app.help

    def _listed(self, method: Any, *args: Any) -> Any:
        """``method`` (a listing of the nouns) with stand-ins that load nothing."""
        self._listing = True
        try:
            return method(*args)
        finally:
            self._listing = False

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        self._listed(super().format_commands, ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        """Completing the noun itself loads none; completing below one loads only it."""
        return self._listed(super().shell_complete, ctx, incomplete)

    _listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing:
            help_text = self._help(cmd_name)
            return None if help_text is None else TyperCommand(cmd_name, help=help_text)
        if cmd_name in NOUNS:
            return _load(*NOUNS[cmd_name][:1], cmd_name, NOUNS[cmd_name][1])
        app = self.apps().get(cmd_name)
        return None if app is None else _load(app.cli, cmd_name, app.help)


app = typer.Typer(cls=Nouns, no_args_is_help=True, add_completion=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="mlfabric: versioned data volumes, datasets, GPU scheduling, serving.")


def _version(value: bool) -> None:
    if value:
        from mlfabric import __version__

        sys.stdout.write(f"mlfabric {__version__}\n")
        raise typer.Exit()


@app.callback()
def _global(
    home: str | None = typer.Option(None, "--home", metavar="DIR", help="State folder "
                                    "(default $MLFABRIC_HOME or ~/.mlfabric)."),
    output: str | None = typer.Option(None, "--output", "-o", metavar="FORMAT",
                                      help="wide|name|json|yaml: whole table cells, names "
                                      "only, or the result as a document (errors too, on "
                                      "stderr)."),
    json_out: bool = typer.Option(False, "--json", help="The same as -o json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only names (of what a listing "
                               "lists) and errors."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                 help="Print the version and exit."),
) -> None:
    # Every one of them is taken out of the arguments first (_hoist_global_options): here
    # only for the help, and for a caller that passes them to the group itself.
    from mlfabric.console import OPTIONS

    OPTIONS.home = home or OPTIONS.home
    OPTIONS.output = _format(output) if output else "json" if json_out else OPTIONS.output
    OPTIONS.quiet = quiet or OPTIONS.quiet


class _UsageError(typer.TyperException):
    exit_code = 2


def _format(value: str) -> str:
    from mlfabric.console import FORMATS

    if value not in FORMATS:
        raise _UsageError(f"-o/--output: unknown output format '{value}' "
                          f"(one of {', '.join(FORMATS)})")
    return value


def _hoist_global_options(argv: list[str]) -> list[str]:
    """Accept the global options anywhere before ``--`` (``volume list --json`` too).
    ``-o k=v`` is left alone: the transfer commands' file-system option."""
    from mlfabric.console import FORMATS, OPTIONS

    out: list[str] = []
    i = 0
    while i < len(argv):
        a, value = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if a == "--":
            out += argv[i:]
            break
        if a in ("--quiet", "-q"):
            OPTIONS.quiet = True
        elif a == "--json":
            OPTIONS.output = "json"
        elif a == "--home" and value is not None:
            OPTIONS.home = value
            i += 1
        elif a.startswith("--home="):
            OPTIONS.home = a.split("=", 1)[1]
        elif a.startswith("--output="):
            OPTIONS.output = _format(a.split("=", 1)[1])
        elif a in ("--output", "-o") and value is not None and not (a == "-o" and "=" in value):
            OPTIONS.output = _format(value)
            i += 1
        elif a.startswith("-o") and a[2:] in FORMATS:  # -oyaml, as kubectl takes it
            OPTIONS.output = a[2:]
        else:
            out.append(a)
        i += 1
    return out


# Nouns that do not use the home (or make it), and options that print and exit.
_NO_HOME_NOUNS = {"init", "config"}
_PRINT_AND_EXIT = {"--help", "--version", "--show-completion", "--install-completion"}


def _check_home(args: list[str]) -> None:
    """An explicit ``--home`` must name a home: a typo is an error, not a new empty home
    (the default home is made on first use; ``mlfabric init`` makes others)."""
    from mlfabric.config import SERVER_ENV
    from mlfabric.console import OPTIONS

    ours = args[:args.index("--")] if "--" in args else args
    if (OPTIONS.home is None or not ours or ours[0] in _NO_HOME_NOUNS
            or _PRINT_AND_EXIT & set(ours) or os.environ.get(SERVER_ENV)
            or "_MLFABRIC_COMPLETE" in os.environ):
        return
    from mlfabric.home import require_home

    require_home(OPTIONS.home)


def main(argv: list[str] | None = None) -> None:
    from mlfabric.console import error

    try:
        args = _hoist_global_options(list(sys.argv[1:] if argv is None else argv))
        _check_home(args)
        code = plain(typer.main.get_command(app)).main(args=args, prog_name="mlfabric",
                                                       standalone_mode=False)
    except MlfabricError as exc:
        error(exc.to_dict())
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: exit 2
        from mlfabric.console import OPTIONS

        asks_for_help = type(exc).__name__ == "NoArgsIsHelpError"  # a noun alone
        if (OPTIONS.json and not asks_for_help) or not hasattr(exc, "show"):
            error({"type": "UsageError" if exc.exit_code == 2 else type(exc).__name__,
                   "message": exc.format_message()})
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    except KeyboardInterrupt:  # typer makes one inside a command exit 130 itself
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    # What a command returns is not an exit status; typer.Exit's code is.
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

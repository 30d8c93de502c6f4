"""Rendering for the CLI: rich tables (fitted to a terminal, whole cells when piped or with
``-o wide``), one name a line (``-o name``, ``--quiet`` on listings), documents (``-o
json|yaml``, ``--json``), a progress bar for long work (none with ``--json``/``--quiet``
or when stdout is not a terminal)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlfabric.progress import Progress as ProgressSink
from mlfabric.records import jsonable as to_jsonable
from mlfabric.units import format_size

FORMATS = ("wide", "name", "json", "yaml")  # -o, as kubectl's


@dataclass
class Options:
    home: str | None = None
    output: str = ""  # "" (tables and sentences) or one of FORMATS
    quiet: bool = False

    @property
    def json(self) -> bool:
        """A document of the result on stdout (``-o json|yaml``) instead of sentences."""
        return self.output in ("json", "yaml")

    @json.setter
    def json(self, on: bool) -> None:  # --json; False: back to tables and sentences
        self.output = "json" if on else ""


OPTIONS = Options()


def __getattr__(name: str) -> Any:
    """``console`` (stdout) and ``err_console`` (stderr), made on first use: rich is not
    imported by commands that print nothing (``mlfabric --help``)."""
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = Console(stderr=name == "err_console", highlight=False, soft_wrap=True)
    globals()[name] = made
    return made


def _out() -> Any:
    return globals().get("console") or __getattr__("console")


def _err() -> Any:
    return globals().get("err_console") or __getattr__("err_console")


def when(ts: float | None) -> str | None:
    """Epoch seconds as local ``YYYY-MM-DD HH:MM:SS`` for tables."""
    return None if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def size(n: int | None) -> str | None:
    """Bytes as IEC text for tables (``-`` when unknown)."""
    return None if n is None else format_size(n)


def emit_json(value: Any) -> None:
    """A result as a document on stdout: JSON, or YAML with ``-o yaml`` (the same data)."""
    data = to_jsonable(value)
    if OPTIONS.output == "yaml":
        import yaml  # only here: no command pays for it at start-up

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def error(detail: dict[str, Any]) -> None:
    """An error on stderr in one line: ``{"error": {...}}`` under ``-o json|yaml`` (JSON
    is YAML too), else ``error: MESSAGE``."""
    if OPTIONS.json:
        sys.stderr.write(json.dumps({"error": to_jsonable(detail)}) + "\n")
    else:
        _err().print(f"error: {detail['message']}", markup=False, highlight=False)


def listing(items: Sequence[Any], columns: list[str], rows: list[list[Any]],
            names: list[str]) -> None:
    """A list command's result: its table, one name a line (what the noun's other verbs
    take) with ``-o name`` or ``--quiet``, or the document."""
    if OPTIONS.json:
        emit_json(items)
    elif OPTIONS.output == "name" or OPTIONS.quiet:
        sys.stdout.write("".join(f"{n}\n" for n in names))
    else:
        table(columns, rows)


def record(item: Any, rows: list[list[Any]], name: str) -> None:
    """A get command's result: a field/value table, its name with ``-o name``, or the
    document."""
    if OPTIONS.json:
        emit_json(item)
    elif OPTIONS.output == "name":
        sys.stdout.write(f"{name}\n")
    else:
        table(["field", "value"], rows)


def say(text: str) -> None:
    """A human line on stdout (suppressed by --quiet and --json)."""
    if not (OPTIONS.quiet or OPTIONS.json):
        _out().print(text, markup=False)


def note(text: str) -> None:
    """A human line on stderr, shown with --json too (suppressed by --quiet)."""
    if not OPTIONS.quiet:
        _err().print(text, markup=False)


def warn(text: str) -> None:
    if not OPTIONS.quiet:
        _err().print(f"warning: {text}", markup=False)


def interactive() -> bool:
    """Whether a person answers on stdin (a terminal; not a script or a pipe)."""
    return sys.stdin.isatty()


def confirm(question: str) -> None:
    """Ask ``question [y/N]`` on stderr; anything but yes aborts (``error:``, exit 1).
    Commands ask only when ``interactive()`` and not told ``--yes``."""
    _err().print(f"{question} [y/N] ", markup=False, end="")
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        from mlfabric.errors import MlfabricError

        raise MlfabricError("aborted: nothing was changed")


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    """Fitted to a terminal's width; with every cell whole (a row is one line, whatever
    its length) when stdout is not a terminal, so ``| grep`` finds what it looks for, and
    with ``-o wide``."""
    if OPTIONS.quiet:
        return
    from rich.table import Table

    t = Table(title=title, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["-" if v is None else str(v) for v in r])
    out = _out()
    if OPTIONS.output == "wide" or not out.is_terminal:
        from rich.measure import Measurement

        t.width = Measurement.get(out, out.options.update_width(_UNBOUNDED), t).maximum
    out.print(t)


_UNBOUNDED = 1 << 20  # columns: wider than any table


class BarProgress(ProgressSink):
    """One rich bar per phase on stderr: files, bytes and throughput when the total is
    known in bytes, a file count otherwise."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._bytes = False
        self._files = 0

    def start(self, description: str, total: int | None = None) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        self.finish()
        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        self._bytes = total is not None
        if self._bytes:
            columns += [BarColumn(), TextColumn("{task.fields[files]} files"),
                        DownloadColumn(), TransferSpeedColumn()]
        else:
            columns.append(TextColumn("{task.fields[files]} files"))
        columns.append(TimeElapsedColumn())
        self._files = 0
        self._bar = Progress(*columns, console=_err(), transient=True)
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, files=0)

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        if self._bar is not None:
            self._files += n
            self._bar.update(self._task, advance=nbytes if self._bytes else 0,
                             files=self._files)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def progress() -> ProgressSink:
    """A progress sink fit for the current output mode."""
    if OPTIONS.json or OPTIONS.quiet or not _err().is_terminal:
        return ProgressSink()
    return BarProgress()

"""The live per-agent view: sentences of calls as they are heard, kept in the platform's
catalog (SQLite, or PostgreSQL when ``MLFABRIC_CATALOG_URL`` says so) in the app's own
table ``callcenter_project_sentences``; per-agent and per-call summaries over them; and a
follow stream of a call's new sentences as server-sent events.

Calls belong to a project: agents and calls are names within it, and every read and
write names the project (the REST rows let a member name only its own projects)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError

from mlfabric import projects
from mlfabric.apps.callcenter.records import SentenceEvent
from mlfabric.apps.callcenter.script import LABELS, SCORES
from mlfabric.errors import AlreadyExists, InvalidInput
from mlfabric.home import open_home
from mlfabric.names import validate_name

_META = MetaData()
SENTENCES = Table(
    "callcenter_project_sentences", _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(63), nullable=False, index=True),
    Column("agent", String(63), nullable=False, index=True),
    Column("call", String(63), nullable=False, index=True),
    Column("idx", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("label", String(16), nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("heard_at", Float, nullable=False),
    Column("stored_at", Float, nullable=False),
    UniqueConstraint("project", "call", "idx", name="callcenter_project_sentence_once"),
)
UNSCOPED_TABLE = "callcenter_sentences"  # before calls belonged to projects
UNSCOPED_PROJECT = "default"  # where its rows move
_ready: set[str] = set()
POLL_S = 0.05
FOLLOW_IDLE_S = 30.0  # a follow ends after this long with nothing new
PING_S = 1.0  # a comment line this often while idle
MAX_TEXT = 2000  # characters of one sentence
MAX_INDEX = 100_000  # sentences of one call


def _create(conn: Connection) -> None:
    """The table, and the rows of the unscoped table of earlier versions moved into
    project ``default`` (in the same transaction: none is lost or copied twice)."""
    _META.create_all(conn, checkfirst=True)
    if not inspect(conn).has_table(UNSCOPED_TABLE):
        return
    old = Table(UNSCOPED_TABLE, MetaData(), autoload_with=conn)
    names = ("agent", "call", "idx", "text", "label", "start_s", "end_s", "heard_at",
             "stored_at")
    rows = [{"project": UNSCOPED_PROJECT, **{n: r._mapping[n] for n in names}}
            for r in conn.execute(select(old)).all()]
    if rows:
        conn.execute(SENTENCES.insert(), rows)
    old.drop(conn)


def _catalog(home: str | None, project: str) -> Any:
    """The catalog of ``home``, once ``project`` is known to be one of its projects."""
    if not project:
        raise InvalidInput("name the project of the calls (project)")
    validate_name(project, "project name")
    projects.show(project, home=home)  # NotFound for a project that is not there
    catalog = open_home(home).catalog
    if catalog.url not in _ready:
        catalog.run_write(_create)
        _ready.add(catalog.url)
    return catalog


def _event(row: Any) -> SentenceEvent:
    return SentenceEvent(agent=row.agent, call=row.call, index=row.idx, text=row.text,
                         label=row.label, start=row.start_s, end=row.end_s,
                         heard_at=row.heard_at)


def record_sentence(agent: str, call: str, index: int, text: str, label: str,
                    start: float = 0.0, end: float = 0.0, heard_at: float | None = None, *,
                    project: str, home: str | None = None) -> SentenceEvent:
    """Store one heard sentence of call ``call`` of ``project``, taken by ``agent``."""
    validate_name(agent, "agent name")
    validate_name(call, "call name")
    if label not in LABELS:
        raise InvalidInput(f"label must be one of {', '.join(LABELS)}, not '{label}'")
    if not 0 <= index <= MAX_INDEX:
        raise InvalidInput(f"index must be in 0..{MAX_INDEX}")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text is longer than {MAX_TEXT} characters")
    catalog = _catalog(home, project)
    now = time.time()
    row = {"project": project, "agent": agent, "call": call, "idx": index, "text": text,
           "label": label, "start_s": float(start), "end_s": float(end),
           "heard_at": float(heard_at if heard_at is not None else now), "stored_at": now}

    def _write(conn: Any) -> None:
        owner = conn.execute(select(SENTENCES.c.agent).where(
            SENTENCES.c.project == project, SENTENCES.c.call == call).limit(1)).scalar()
        if owner is not None and owner != agent:
            raise InvalidInput(f"call '{call}' belongs to agent '{owner}'")
        if conn.execute(select(SENTENCES.c.id).where(
                SENTENCES.c.project == project, SENTENCES.c.call == call,
                SENTENCES.c.idx == index)).first():
            raise AlreadyExists("sentence", f"{call}#{index}")
        conn.execute(SENTENCES.insert().values(**row))

    try:
        catalog.run_write(_write)
    except IntegrityError as exc:  # two writers raced past the check above
        raise AlreadyExists("sentence", f"{call}#{index}") from exc
    return SentenceEvent(agent=agent, call=call, index=index, text=text, label=label,
                         start=row["start_s"], end=row["end_s"], heard_at=row["heard_at"])


def _counts(labels: list[str]) -> dict[str, int]:
    return {k: labels.count(k) for k in LABELS}


def list_agents(*, project: str, home: str | None = None) -> list[dict[str, Any]]:
    """Every agent of ``project`` with calls: how many, their sentences by sentiment,
    the mean sentiment (-1..1) and when last heard."""
    rows = _catalog(home, project).run_read(lambda c: c.execute(
        select(SENTENCES.c.agent, SENTENCES.c.call, SENTENCES.c.label, SENTENCES.c.heard_at)
        .where(SENTENCES.c.project == project).order_by(SENTENCES.c.agent)).all())
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        a = out.setdefault(r.agent, {"agent": r.agent, "calls": set(), "labels": [],
                                     "last_at": 0.0})
        a["calls"].add(r.call)
        a["labels"].append(r.label)
        a["last_at"] = max(a["last_at"], r.heard_at)
    return [{"agent": a["agent"], "calls": len(a["calls"]), "sentences": len(a["labels"]),
             "by_label": _counts(a["labels"]), "mean_sentiment": _mean(a["labels"]),
             "last_at": a["last_at"]} for a in out.values()]


def _mean(labels: list[str]) -> float:
    return round(sum(SCORES[k] for k in labels) / len(labels), 4) if labels else 0.0


def list_calls(agent: str | None = None, *, project: str, home: str | None = None
               ) -> list[dict[str, Any]]:
    """Calls of ``project`` (of ``agent``, or all), newest first, each with its sentences
    by sentiment and its running sentiment trend (mean so far after each sentence)."""
    if agent is not None:
        validate_name(agent, "agent name")
    q = select(SENTENCES).where(SENTENCES.c.project == project).order_by(
        SENTENCES.c.call, SENTENCES.c.idx)
    if agent is not None:
        q = q.where(SENTENCES.c.agent == agent)
    rows = _catalog(home, project).run_read(lambda c: c.execute(q).all())
    calls: dict[str, list[Any]] = {}
    for r in rows:
        calls.setdefault(r.call, []).append(r)
    out = []
    for call, rs in calls.items():
        labels = [r.label for r in rs]
        trend = [_mean(labels[:i + 1]) for i in range(len(labels))]
        out.append({"call": call, "agent": rs[0].agent, "sentences": len(rs),
                    "by_label": _counts(labels), "mean_sentiment": _mean(labels),
                    "trend": trend, "started_at": min(r.heard_at for r in rs),
                    "last_at": max(r.heard_at for r in rs)})
    return sorted(out, key=lambda c: c["last_at"], reverse=True)


def call_sentences(call: str, after: int = -1, *, project: str, home: str | None = None
                   ) -> list[SentenceEvent]:
    """The sentences of call ``call`` of ``project`` with an index above ``after``, in
    order."""
    validate_name(call, "call name")
    return _sentences(_catalog(home, project), project, call, after)


def _sentences(catalog: Any, project: str, call: str, after: int) -> list[SentenceEvent]:
    rows = catalog.run_read(lambda c: c.execute(
        select(SENTENCES).where(SENTENCES.c.project == project, SENTENCES.c.call == call,
                                SENTENCES.c.idx > after).order_by(SENTENCES.c.idx)).all())
    return [_event(r) for r in rows]


def follow_call(call: str, after: int = -1, idle: float = FOLLOW_IDLE_S, *,
                project: str, home: str | None = None,
                clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """Server-sent events (``data: {json}``, one per sentence) as sentences of call
    ``call`` of ``project`` arrive; ends after ``idle`` seconds with nothing new."""
    validate_name(call, "call name")
    if idle <= 0 or idle > 3600:
        raise InvalidInput("idle must be in (0, 3600] seconds")
    catalog = _catalog(home, project)  # a call may be followed before its first sentence
    return _follow(catalog, project, call, after, idle, clock)


def _follow(catalog: Any, project: str, call: str, after: int, idle: float,
            clock: Callable[[], float]) -> Iterator[str]:
    yield ": following\n\n"  # opens the stream at once
    last = pinged = clock()
    while clock() - last < idle:
        new = _sentences(catalog, project, call, after)
        for e in new:
            yield f"id: {e.index}\ndata: {json.dumps(e.to_dict())}\n\n"
            after = e.index
        if new:
            last = pinged = clock()
        elif clock() - pinged >= PING_S:  # a reader that left ends the stream here
            yield ": ping\n\n"
            pinged = clock()
        time.sleep(POLL_S)

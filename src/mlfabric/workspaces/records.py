"""What workspace operations return (a JSON-ready record)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record


@dataclass(frozen=True)
class Workspace(Record):
    """A JupyterLab workspace: its volume, the interactive job serving it, and where.

    ``state`` comes from the job (Pending, Running, Failed, Lost...) or is ``Stopped``;
    ``reason`` says why it is pending or how its job ended. ``volumes`` are the extra
    volumes as ``VOL:PATH`` (PATH inside the Jupyter root), ``datasets`` the cached
    ``DATASET:VERSION`` refs (under ``datasets/DATASET``). ``password`` is set only in what
    ``create`` and ``clone`` return, when they generated it: it is stored hashed and never
    shown again. While it runs, ``node`` is the node its job was placed on and
    ``node_address`` that node's address where the runtime reports one (``ray``); a
    workspace bound to a wildcard address (0.0.0.0) has its URL on that address.
    """

    name: str
    project: str
    volume: str
    job: str
    state: str
    url: str
    host: str
    port: int
    gpus: float
    created_at: float
    reason: str | None = None
    size: int | None = None
    volumes: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    password: str | None = None
    node: str | None = None
    node_address: str | None = None

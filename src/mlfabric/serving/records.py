"""What the serving operations return (frozen dataclasses, JSON-ready via ``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlfabric.records import Record


@dataclass(frozen=True)
class InferenceServer(Record):
    """A Triton server on a model repository volume, run as a scheduled job.

    ``state`` is one word, the same in tables and JSON: the server's while its job runs
    (``starting``, ``ready``, ``restarting``, ``failed``, ``stopped``), else the job's
    in lower case (``pending``, ``failed``, ``lost``...); ``ready`` says whether the
    server answers and has tried to load every model (each model's own state is in
    ``models``: one that failed leaves the server ready); ``models`` holds, per model,
    ``{name, versions, state, reason}`` as the server last reported them (empty unless
    the job runs). While it runs, ``node`` is the node its job was placed on and
    ``node_address`` that node's address where the runtime reports one (``ray``); a
    server bound to a wildcard address (0.0.0.0) is reached at that address."""

    name: str
    project: str
    model_repo: str
    job: str
    state: str
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int
    gpus: float | None
    created_at: float
    ready: bool = False
    models: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    node: str | None = None
    node_address: str | None = None

    computed = ("http_url", "grpc_url", "metrics_url")

    @property
    def client_host(self) -> str:
        """Where clients connect: the bind address, or for a wildcard bind the address of
        the node it runs on (loopback when it runs on this machine); an IPv6 address in
        brackets, as URLs write it."""
        host = self.host
        if host in ("0.0.0.0", "", "::"):
            host = self.node_address or "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def http_url(self) -> str:
        """KServe v2 / Triton HTTP endpoint, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{self.client_host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """gRPC endpoint as gRPC clients take it: ``HOST:PORT``."""
        return f"{self.client_host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        """Prometheus metrics."""
        return f"http://{self.client_host}:{self.metrics_port}/metrics"


@dataclass(frozen=True)
class RepoReport(Record):
    """``model-repo check``: each model of a repository with its problems.

    Every model is ``{name, kind, platform, versions, max_batch_size, dynamic_batching,
    instances, inputs, outputs, problems}``; ``problems`` on the report itself are the
    repository's own (not a folder, stray files)."""

    volume: str
    path: str
    models: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    computed = ("ok",)

    @property
    def ok(self) -> bool:
        """No problem anywhere."""
        return not self.problems and not any(m["problems"] for m in self.models)

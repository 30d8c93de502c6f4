"""Inference servers in the catalog (``inference_servers`` rows) and their record form:
the row's model repository and ports, the job's state, the launcher's status file."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from mlfabric.catalog import named_row
from mlfabric.catalog.platform_schema import inference_servers as T
from mlfabric.errors import InvalidInput
from mlfabric.home import Home
from mlfabric.names import MAX_NAME, validate_name
from mlfabric.serving.records import InferenceServer
from mlfabric.serving.status import READY, STARTING, read_status, server_dir

JOB_PREFIX = "inference-"
MAX_SERVER_NAME = MAX_NAME - len(JOB_PREFIX)


def validate_server_name(name: str) -> str:
    """A DNS label short enough that its job name (``inference-NAME``) is one too."""
    validate_name(name, "inference server name")
    if len(name) > MAX_SERVER_NAME:
        raise InvalidInput(f"invalid inference server name '{name[:20]}...': longer than "
                           f"{MAX_SERVER_NAME} characters", field="name", value=name)
    return name


def job_name(name: str) -> str:
    """The scheduled job that runs server ``name``."""
    return f"{JOB_PREFIX}{name}"


def server_row(conn: Connection, name: str) -> Any:
    return named_row(conn, T, name, "inference server")


def to_server(st: Home, row: Any, job: Any | None) -> InferenceServer:
    """A row as a record; ``job`` is its ``JobInfo`` (None when the job is gone)."""
    if job is None:
        state, message = "lost", f"its job {row.project}/{row.job} no longer exists"
    else:
        state, message = job.state.lower(), job.reason or job.message
    ready, models = False, []
    status = read_status(server_dir(st.config.home, row.name)) if state == "running" else None
    if state == "running":
        # A running job's server is what its launcher last reported (starting until then).
        state = str(status.get("server") or STARTING) if status is not None else STARTING
    if status is not None:
        ready = status.get("server") == READY
        models = list(status.get("models") or [])
        if status.get("message"):
            message = str(status["message"])
    return InferenceServer(
        name=row.name, project=row.project, model_repo=row.model_repo, job=row.job,
        state=state, host=row.host, http_port=row.http_port, grpc_port=row.grpc_port,
        metrics_port=row.metrics_port, gpus=(row.spec or {}).get("gpus"),
        created_at=row.created_at, ready=ready, models=models, message=message,
        node=job.node if job is not None else None,
        node_address=job.node_address if job is not None else None)

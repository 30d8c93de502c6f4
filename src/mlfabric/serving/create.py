"""``mlfabric inference create``: a Triton server on a model repository volume, run as a
non-preemptible (interactive) scheduled job that holds its GPU share."""

from __future__ import annotations

import shutil
import socket
import sys
import time
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from mlfabric.catalog.platform_schema import inference_servers as T
from mlfabric.errors import AlreadyExists, Busy, InvalidInput, MlfabricError
from mlfabric.home import open_home
from mlfabric.names import validate_name
from mlfabric.serving.engine import port_free
from mlfabric.serving.records import InferenceServer
from mlfabric.serving.registry import job_name, validate_server_name
from mlfabric.serving.status import FAILED, READY, STOPPED, read_status, server_dir

REPOSITORY_LINK = "models"  # where the job's working directory sees the volume
WAIT_S = 120.0
_CYCLE_EVERY_S = 1.0


def _free_port(host: str, avoid: set[int]) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port
    raise Busy(f"no free TCP port on {host}", resource="port")


def _check_port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidInput(f"invalid {what} port '{value}': expected 1-65535", field=what,
                           value=value)
    return value


def choose_ports(conn: Connection, host: str, wanted: dict[str, int | None]) -> dict[str, int]:
    """Ports for http, grpc and metrics: the ones given (checked free and not another
    server's), the others picked free now. Stored, so a server keeps its endpoints."""
    taken: set[int] = set()
    for row in conn.execute(select(T.c.http_port, T.c.grpc_port, T.c.metrics_port)):
        taken.update(p for p in row if p)
    given = {k: _check_port(v, k) for k, v in wanted.items() if v is not None}
    if len(set(given.values())) != len(given):
        raise InvalidInput("the http, grpc and metrics ports must differ", field="port")
    for what, port in given.items():
        if port in taken:
            raise Busy(f"{what} port {port} belongs to another inference server",
                       resource=f"port {port}")
        if not port_free(host, port):
            raise Busy(f"{what} port {port} on {host} is in use", resource=f"port {port}")
    out = dict(given)
    for what in wanted:
        if what not in out:
            out[what] = _free_port(host, taken | set(out.values()))
    return out


def _gpus(value: str | float | None) -> float | None:
    """The GPU share as a number (the scheduler checks the amount itself)."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid GPU count '{value}': expected a whole number or a "
                           "fraction below 1 (e.g. 1, 0.5)", field="gpus", value=value) from None


def _wait_ready(name: str, project: str, job: str, wait_s: float,
                home: str | None) -> None:
    """Wait until the server has loaded its models, its job has left Running, or
    ``wait_s`` has passed; scheduling cycles run meanwhile (no daemon needed)."""
    from mlfabric import jobs

    folder = server_dir(open_home(home).config.home, name)
    deadline = time.monotonic() + wait_s
    last_cycle = time.monotonic()
    while time.monotonic() < deadline:
        info = jobs.get(job, project=project, home=home)
        if info.state != "Running":
            if info.state in ("Failed", "Lost", "Succeeded", "Stopped"):
                raise MlfabricError(
                    f"inference server '{name}' did not start ({info.state.lower()}"
                    f"{': ' + info.message if info.message else ''}); see `mlfabric job logs "
                    f"{job} -p {project}`, then `mlfabric inference delete {name}`")
            return  # pending: it starts when the scheduler finds room
        status = read_status(folder)
        if status is not None and status.get("server") == FAILED:
            raise MlfabricError(
                f"inference server '{name}' did not start: {status.get('message')}; see "
                f"`mlfabric job logs {job} -p {project}`, then "
                f"`mlfabric inference delete {name}`")
        if status is not None and status.get("server") in (READY, STOPPED):
            return
        if time.monotonic() - last_cycle >= _CYCLE_EVERY_S:
            jobs.step(home=home)  # notices a launcher that exited early
            last_cycle = time.monotonic()
        time.sleep(0.1)


def create(name: str, *, model_repo: str, project: str, gpus: str | float | None = None,
           host: str = "127.0.0.1", http_port: int | None = None,
           grpc_port: int | None = None, metrics_port: int | None = None,
           host_ipc: bool = False, wait_s: float = WAIT_S,
           home: str | None = None) -> InferenceServer:
    """Serve a model repository volume with Triton as a non-preemptible scheduled job;
    returns once its models are loaded (or it is pending, or after ``wait_s``).
    ``host_ipc``: the server sees the host's ``/dev/shm`` (docker's ``--ipc=host``), so
    clients on this machine can pass tensors in system shared memory."""
    from mlfabric import jobs, projects, volumes
    from mlfabric.serving.listing import show

    validate_server_name(name)
    validate_name(model_repo, "volume name")
    if not isinstance(host, str) or not host.strip():
        raise InvalidInput("give a host address to listen on, e.g. 127.0.0.1", field="host")
    volumes.show(model_repo, home=home)  # NotFound if missing
    projects.show(project, home=home)
    st = open_home(home)
    job = job_name(name)
    gpu = _gpus(gpus)

    def _insert(conn: Connection) -> dict[str, int]:
        if conn.execute(select(T.c.name).where(T.c.name == name)).first():
            raise AlreadyExists("inference server", name)
        ports = choose_ports(conn, host, {"http": http_port, "grpc": grpc_port,
                                          "metrics": metrics_port})
        conn.execute(T.insert().values(
            name=name, project=project, model_repo=model_repo, job=job, host=host,
            http_port=ports["http"], grpc_port=ports["grpc"], metrics_port=ports["metrics"],
            spec={"gpus": gpu, "host_ipc": bool(host_ipc)}, created_at=time.time()))
        return ports

    try:
        ports = st.catalog.run_write(_insert)
    except IntegrityError:
        raise AlreadyExists("inference server", name) from None
    folder = server_dir(st.config.home, name)
    shutil.rmtree(folder, ignore_errors=True)  # a previous server's leftovers
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "mlfabric.serving.launch", "--state-dir", str(folder),
               "--repository", REPOSITORY_LINK, "--host", host,
               "--http-port", str(ports["http"]), "--grpc-port", str(ports["grpc"]),
               "--metrics-port", str(ports["metrics"])]
    try:
        jobs.submit(job, project=project, gpus=gpu, interactive=True, command=command,
                    volumes=[f"{model_repo}:{REPOSITORY_LINK}"], home=home,
                    state_dirs=[str(folder)], host_shm=bool(host_ipc))
    except BaseException:
        st.catalog.run_write(lambda conn: conn.execute(T.delete().where(T.c.name == name)))
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if wait_s > 0:
        _wait_ready(name, project, job, wait_s, home)
    return show(name, home=home)

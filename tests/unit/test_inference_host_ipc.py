"""An inference server with the host's ``/dev/shm`` (``inference create --host-ipc``, for
system shared memory clients): an admin's choice over REST, and never a job's request."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfabric import projects, volumes
from mlfabric.api.operations import operations
from mlfabric.auth.records import Principal
from mlfabric.errors import AccessDenied


def test_only_an_admin_gives_a_server_the_hosts_shared_memory(home: Path) -> None:
    h = str(home)
    projects.create("team", quota=1, home=h)
    volumes.create("models", labels=["project=team"], home=h)
    create = operations()["serving.create"]
    args = {"name": "s", "model_repo": "models", "project": "team"}
    member = Principal(user="m", role="member", projects=("team",))
    assert create.access.check(member, args, h)["name"] == "s"
    with pytest.raises(AccessDenied, match="only an admin may set host_ipc"):
        create.access.check(member, {**args, "host_ipc": True}, h)
    admin = Principal(user="a", role="admin")
    assert create.access.check(admin, {**args, "host_ipc": True}, h)["host_ipc"] is True


def test_a_job_request_cannot_ask_for_it() -> None:
    submit = operations()["jobs.submit"]
    assert "host_shm" not in [p.name for p in submit.parameters()]

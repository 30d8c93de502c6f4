"""``mlfabric inference delete``: stop the server's job and forget the server."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal

from mlfabric.catalog.platform_schema import inference_servers as T
from mlfabric.errors import NotFound
from mlfabric.home import open_home
from mlfabric.serving.engine import processes_naming
from mlfabric.serving.records import InferenceServer
from mlfabric.serving.registry import server_row
from mlfabric.serving.status import remove_shm, server_dir


def delete(name: str, *, home: str | None = None) -> InferenceServer:
    """Delete a server: its job is stopped (SIGTERM, grace, SIGKILL to the whole process
    group: launcher, tritonserver, backend stubs) and its GPU share released."""
    from mlfabric import jobs
    from mlfabric.serving.listing import show

    server = show(name, home=home)
    with contextlib.suppress(NotFound):  # its job may have been deleted on its own
        jobs.delete([server.job], project=server.project, home=home)
    st = open_home(home)

    def _drop(conn) -> None:  # type: ignore[no-untyped-def]
        server_row(conn, name)
        conn.execute(T.delete().where(T.c.name == name))

    st.catalog.run_write(_drop)
    folder = server_dir(st.config.home, name)
    # A launcher killed outside the scheduler leaves its job ended and its processes
    # out of the job's reach: they all name the server's folder.
    for pid in processes_naming(folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    remove_shm(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return dataclasses.replace(server, state="deleted", ready=False, models=[])

"""``mlfabric inference list|show``."""

from __future__ import annotations

from sqlalchemy import select

from mlfabric.catalog.platform_schema import inference_servers as T
from mlfabric.errors import NotFound
from mlfabric.home import open_home
from mlfabric.serving.records import InferenceServer
from mlfabric.serving.registry import server_row, to_server


def show(name: str, *, home: str | None = None) -> InferenceServer:
    """One inference server: endpoints, job state, and each model's state and reason."""
    from mlfabric import jobs

    st = open_home(home)
    row = st.catalog.run_read(lambda c: server_row(c, name))
    try:
        job = jobs.get(row.job, project=row.project, home=home)
    except NotFound:
        job = None
    return to_server(st, row, job)


def list_servers(*, project: str | None = None,
                 home: str | None = None) -> list[InferenceServer]:
    """Inference servers (of one project), by name."""
    from mlfabric import jobs, projects

    st = open_home(home)
    if project is not None:
        projects.show(project, home=home)  # NotFound for an unknown project
    q = select(T).order_by(T.c.name)
    if project is not None:
        q = q.where(T.c.project == project)
    rows = st.catalog.run_read(lambda c: c.execute(q).all())
    by_ref = {(j.project, j.name): j for j in jobs.list(project=project, home=home)}
    return [to_server(st, r, by_ref.get((r.project, r.job))) for r in rows]

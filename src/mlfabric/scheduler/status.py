"""``mlfabric scheduler status``: what the last scheduling cycle decided, as it saved it."""

from __future__ import annotations

from sqlalchemy import Connection, select

from mlfabric.catalog import scheduler_schema as S
from mlfabric.home import open_home
from mlfabric.scheduler.reconcile import reconcile
from mlfabric.scheduler.records import ProjectShare, SchedulerStatus


def status(*, home: str | None = None) -> SchedulerStatus:
    """The last cycle: when, its counts and decisions, every project's fair share and
    allocation, and the reasons pending jobs wait for."""

    def _q(conn: Connection) -> SchedulerStatus:
        row = conn.execute(select(S.scheduler_cycles).where(S.scheduler_cycles.c.id == 1)
                           ).first()
        shares = [ProjectShare(project=r.project, pool=r.pool, fair_share=r.fair_share,
                               allocated=r.allocated, running=r.running, pending=r.pending)
                  for r in conn.execute(select(S.project_shares)
                                        .order_by(S.project_shares.c.project))]
        if row is None:
            return SchedulerStatus(at=None, projects=shares)
        return SchedulerStatus(at=row.at, running=row.running, pending=row.pending,
                               reasons=dict(row.reasons or {}),
                               last_cycle=dict(row.report or {}), projects=shares)

    st = open_home(home)
    reconcile(st)
    return st.catalog.run_read(_q)


def fair_shares(conn: Connection) -> dict[str, float]:
    """project -> fair share, as the last cycle computed it."""
    return {r.project: r.fair_share
            for r in conn.execute(select(S.project_shares.c.project,
                                         S.project_shares.c.fair_share))}

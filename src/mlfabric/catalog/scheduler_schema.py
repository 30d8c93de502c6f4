"""Catalog tables of the GPU scheduler: node pools, nodes, projects, jobs and job events.

A job row keeps its spec as JSON and, while it runs, its placements and the pid and
kernel start time of each process, so a restarted scheduler can re-adopt it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlfabric.catalog.schema import metadata

# Projects' uids start here, far from the host's own users (see scheduler/sandbox.py).
PROJECT_UID_BASE = 200_000

node_pools = Table(
    "node_pools",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("created_at", Float, nullable=False),
)

nodes = Table(
    "nodes",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("pool", String(63), nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("gpu_memory", BigInteger, nullable=False, default=0),
    Column("runtime", String(32), nullable=True),  # None: $MLFABRIC_RUNTIME
    Column("detected", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("quota", Float, nullable=False),
    Column("weight", Float, nullable=True),
    Column("gpu_limit", Float, nullable=True),
    Column("interactive_time_limit", Float, nullable=True),
    Column("pool", String(63), nullable=False),
    Column("created_at", Float, nullable=False),
    # The unprivileged uid (and gid) its jobs run as, one per project (catalog v7).
    Column("uid", Integer, nullable=True),
    Index("uq_projects_uid", "uid", unique=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(63), nullable=False, index=True),
    Column("name", String(63), nullable=False),
    Column("spec", JSON, nullable=False),
    # Pending, Running, Succeeded, Failed, Stopped, Lost (deleted jobs leave the table)
    Column("state", String(16), nullable=False, index=True),
    Column("submit_time", Float, nullable=False),
    Column("reason_code", String(32), nullable=True),
    Column("reason", Text, nullable=True),
    Column("placements", JSON, nullable=True),
    Column("processes", JSON, nullable=True),  # [{rank, pid, start_time}]
    Column("runtime", String(32), nullable=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("message", Text, nullable=True),
    Column("snapshot", String(140), nullable=True),
    Column("runs", Integer, nullable=False, default=0),
    UniqueConstraint("project", "name", name="uq_job_project_name"),
    sqlite_autoincrement=True,
)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(63), nullable=False, index=True),
    Column("job", String(63), nullable=False),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=True),
)

# What the last scheduling cycle decided, saved at its end so that readers (the
# dashboard, ``scheduler status``) show the cycle's own numbers, never a recomputation.
project_shares = Table(
    "project_shares",
    metadata,
    Column("project", String(63), primary_key=True),
    Column("pool", String(63), nullable=False),
    Column("fair_share", Float, nullable=False),
    Column("allocated", Float, nullable=False),
    Column("running", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("at", Float, nullable=False),
)

scheduler_cycles = Table(
    "scheduler_cycles",
    metadata,
    Column("id", Integer, primary_key=True),  # one row: the last cycle
    Column("at", Float, nullable=False),
    Column("running", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("reasons", JSON, nullable=False),  # reason code -> pending jobs
    Column("report", JSON, nullable=False),  # what it started, preempted, stopped...
)

TABLES = (node_pools, nodes, projects, jobs, job_events)
STATUS_TABLES = (project_shares, scheduler_cycles)

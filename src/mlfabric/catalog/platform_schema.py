"""Catalog tables of the platform layer: API tokens, JupyterLab workspaces and inference
servers. Workspaces and inference servers are each a volume plus a scheduled job; these
rows tie the two together and keep what the job alone does not (ports, hashed password,
the model repository)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Integer, String, Table, Text

from mlfabric.catalog.schema import metadata

# API tokens are stored as sha256 of the secret; only the prefix is kept in clear, to
# tell tokens apart in `token list`.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(63), nullable=False, index=True),
    Column("role", String(16), nullable=False),  # admin | member
    Column("projects", JSON, nullable=False),  # member: the projects it acts on
    Column("prefix", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    # v7: NULL never expires (every token made before v7); origin 'server' marks the
    # admin tokens ``server start`` issued, the ones ``--admin-token`` replaces.
    Column("expires_at", Float, nullable=True),
    Column("origin", String(16), nullable=True),
    sqlite_autoincrement=True,
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("project", String(63), nullable=False, index=True),
    Column("volume", String(63), nullable=False),
    Column("job", String(63), nullable=False),  # the scheduled job running JupyterLab
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=True),
    Column("password_hash", Text, nullable=True),
    # gpus, size, volumes (VOL:PATH), datasets (DS:VER), port_fixed (--port was given)
    Column("spec", JSON, nullable=False),
    Column("state", String(16), nullable=False),  # Running | Stopped (desired state)
    Column("created_at", Float, nullable=False),
)

inference_servers = Table(
    "inference_servers",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("project", String(63), nullable=False, index=True),
    Column("model_repo", String(63), nullable=False),  # a volume in Triton's layout
    Column("job", String(63), nullable=False),
    Column("host", String(255), nullable=False),
    Column("http_port", Integer, nullable=True),
    Column("grpc_port", Integer, nullable=True),
    Column("metrics_port", Integer, nullable=True),
    Column("spec", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

TABLES = (api_tokens, workspaces, inference_servers)

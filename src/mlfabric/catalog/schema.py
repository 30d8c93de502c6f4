"""Catalog tables (SQLAlchemy Core). The catalog is the source of truth: a directory or
object that no row references is an orphan that ``gc`` may remove."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

volumes = Table(
    "volumes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("size_limit", BigInteger, nullable=True),
    Column("labels", JSON, nullable=False, default=dict),
    Column("driver", String(32), nullable=False),
    Column("read_only", Boolean, nullable=False, default=False),
    Column("clone_mode", String(16), nullable=True),
    # Lineage is kept by name so it survives deletion of the source snapshot.
    Column("origin_volume", String(63), nullable=True),
    Column("origin_snapshot", String(63), nullable=True),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("volume_id", Integer, ForeignKey("volumes.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(63), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("kind", String(16), nullable=False, default="user"),
    # Content-addressed manifest object; NULL for a driver snapshot not yet indexed (btrfs).
    Column("manifest_oid", String(80), nullable=True),
    Column("files", BigInteger, nullable=True),
    Column("bytes", BigInteger, nullable=True),
    Column("driver_ref", String(4096), nullable=True),
    UniqueConstraint("volume_id", "name", name="uq_snapshot_volume_name"),
)

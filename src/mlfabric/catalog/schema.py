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
    # Ids are never reused: index files and snapshot paths are keyed by them.
    sqlite_autoincrement=True,
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
    sqlite_autoincrement=True,
)

# Bulk transfer journal: one row per run of ``transfer copy|sync`` ...
transfer_jobs = Table(
    "transfer_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 of "SRC\nDST" (canonical locations): the key every run of one pair shares.
    Column("pair", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("src", String(4096), nullable=False),
    Column("dst", String(4096), nullable=False),
    # Transfer flags only (checksum, delete, workers); file-system options may hold
    # secrets and are never stored.
    Column("options", JSON, nullable=False, default=dict),
    Column("state", String(16), nullable=False),
    Column("pid", Integer, nullable=True),
    Column("host", String(255), nullable=True),
    Column("proc_start", String(64), nullable=True),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("summary", JSON, nullable=True),
)

# ... and one row per file a run finished copying: what the source was and what the
# destination became, so a re-run (or a resumed one) skips files already done.
transfer_files = Table(
    "transfer_files",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 of pair + "\n" + path
    Column("pair", String(64), nullable=False, index=True),
    Column("path", String(4096), nullable=False),
    Column("src_size", BigInteger, nullable=False),
    Column("src_mtime", Float, nullable=True),
    Column("dst_size", BigInteger, nullable=False),
    Column("dst_token", String(512), nullable=True),
    Column("checksum", String(80), nullable=True),
    Column("job_id", Integer, nullable=True),
    Column("copied_at", Float, nullable=False),
)

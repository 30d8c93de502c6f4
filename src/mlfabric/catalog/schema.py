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

# -- datasets in an object-store lake -------------------------------------------------
# Remotes hold a URL, an optional endpoint and fsspec options; credentials are refused on
# the way in (they come from the environment or the standard config files).
remotes = Table(
    "remotes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("url", String(4096), nullable=False),
    Column("endpoint_url", String(4096), nullable=True),
    Column("options", JSON, nullable=False, default=dict),
    Column("timeout", Float, nullable=False),
    Column("created_at", Float, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("remote_id", Integer, ForeignKey("remotes.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"),
           nullable=False),
    Column("version", String(32), nullable=False),  # "v<number>"
    Column("number", Integer, nullable=False),
    Column("manifest_oid", String(80), nullable=False),
    # Lineage by name, so it survives deletion of the source volume or snapshot.
    Column("source_volume", String(63), nullable=True),
    Column("source_snapshot", String(63), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("files", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("objects", BigInteger, nullable=False),
    Column("uploaded_objects", BigInteger, nullable=True),
    Column("uploaded_bytes", BigInteger, nullable=True),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),
)

# Downstream lineage: volumes a dataset version was pulled into.
dataset_pulls = Table(
    "dataset_pulls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(63), nullable=False, index=True),
    Column("version", String(32), nullable=False),
    Column("volume", String(63), nullable=False),
    Column("pulled_at", Float, nullable=False),
)

# -- caches of dataset versions next to compute ----------------------------------------
cache_pools = Table(
    "cache_pools",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("path", String(4096), nullable=False),
    Column("budget", BigInteger, nullable=False),
    Column("ttl", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("hits", BigInteger, nullable=False, default=0),
    Column("misses", BigInteger, nullable=False, default=0),
    Column("evictions", BigInteger, nullable=False, default=0),
    Column("bytes_fetched", BigInteger, nullable=False, default=0),
    Column("bytes_evicted", BigInteger, nullable=False, default=0),
)

# Keyed by dataset and version name (not a foreign key): a leased entry may outlive a
# forced delete of its version, and is swept once released.
cache_entries = Table(
    "cache_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pool_id", Integer, ForeignKey("cache_pools.id", ondelete="CASCADE"),
           nullable=False),
    Column("dataset", String(63), nullable=False),
    Column("version", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # partial, complete, evicting
    Column("manifest_oid", String(80), nullable=False),  # the whole version
    Column("tree_oid", String(80), nullable=False),  # what is materialized (pool object)
    Column("files", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("paths", JSON, nullable=True),  # prepopulate selections; NULL when complete
    Column("created_at", Float, nullable=False),
    Column("last_used", Float, nullable=False),
    Column("uses", BigInteger, nullable=False, default=0),
    UniqueConstraint("pool_id", "dataset", "version", name="uq_cache_entry"),
)

cache_leases = Table(
    "cache_leases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", Integer, ForeignKey("cache_entries.id", ondelete="CASCADE"),
           nullable=False),
    Column("holder", String(255), nullable=False),
    Column("acquired_at", Float, nullable=False),
    UniqueConstraint("entry_id", "holder", name="uq_cache_lease"),
)

"""Versioned schema migrations. Each step moves the schema from version N-1 to N and
runs inside the same write transaction that records the new version."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, select, text

from mlfabric.catalog import schema

Migration = Callable[[Connection], None]


def _v1_volumes_and_snapshots(conn: Connection) -> None:
    for table in (schema.volumes, schema.snapshots):
        table.create(conn, checkfirst=True)


def _v2_transfer_journal(conn: Connection) -> None:
    for table in (schema.transfer_jobs, schema.transfer_files):
        table.create(conn, checkfirst=True)


def _v3_datasets_and_caches(conn: Connection) -> None:
    for table in (schema.remotes, schema.datasets, schema.dataset_versions,
                  schema.dataset_pulls, schema.cache_pools, schema.cache_entries,
                  schema.cache_leases):
        table.create(conn, checkfirst=True)


def _v4_scheduler(conn: Connection) -> None:
    from mlfabric.catalog import scheduler_schema

    for table in scheduler_schema.TABLES:
        table.create(conn, checkfirst=True)


def _v5_platform(conn: Connection) -> None:
    from mlfabric.catalog import platform_schema

    for table in platform_schema.TABLES:
        table.create(conn, checkfirst=True)


def _v6_scheduler_status(conn: Connection) -> None:
    from mlfabric.catalog import scheduler_schema

    for table in scheduler_schema.STATUS_TABLES:
        table.create(conn, checkfirst=True)


def _v7_project_uids(conn: Connection) -> None:
    """Each project gets the uid its confined jobs run as (in creation order)."""
    from mlfabric.catalog import scheduler_schema as S

    if "uid" not in {c["name"] for c in inspect(conn).get_columns("projects")}:
        conn.execute(text("ALTER TABLE projects ADD COLUMN uid INTEGER"))
    rows = conn.execute(select(S.projects.c.name).order_by(S.projects.c.created_at,
                                                           S.projects.c.name)).all()
    for n, row in enumerate(rows):
        conn.execute(S.projects.update().where(S.projects.c.name == row.name)
                     .values(uid=S.PROJECT_UID_BASE + n))
    if "uq_projects_uid" not in {i["name"] for i in inspect(conn).get_indexes("projects")}:
        next(i for i in S.projects.indexes if i.name == "uq_projects_uid").create(conn)


def _v8_token_expiry_and_origin(conn: Connection) -> None:
    from mlfabric.catalog import platform_schema

    table = platform_schema.api_tokens
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    quote = conn.dialect.identifier_preparer.quote
    for name in ("expires_at", "origin"):
        # v5 creates the table from today's definition, so a catalog made by this version
        # has the columns already; older rows get NULL: no expiry, not the server's.
        if name not in have:
            kind = table.c[name].type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(name)} {kind}"))


MIGRATIONS: list[Migration] = [
    _v1_volumes_and_snapshots,
    _v2_transfer_journal,
    _v3_datasets_and_caches,
    _v4_scheduler,
    _v5_platform,
    _v6_scheduler_status,
    _v7_project_uids,
    _v8_token_expiry_and_origin,
]

LATEST = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    schema.schema_version.create(conn, checkfirst=True)
    row = conn.execute(select(schema.schema_version.c.version)).first()
    return row[0] if row else 0


def read_version(conn: Connection) -> int:
    """The schema version, reading only (0 for an empty database)."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return 0
    row = conn.execute(select(schema.schema_version.c.version)).first()
    return row[0] if row else 0


def upgrade(conn: Connection) -> int:
    """Apply every pending migration; returns the resulting version."""
    version = current_version(conn)
    if version > LATEST:
        from mlfabric.errors import MlfabricError

        raise MlfabricError(
            f"catalog schema version {version} is newer than this mlfabric ({LATEST}); "
            "upgrade mlfabric")
    for step in MIGRATIONS[version:]:
        step(conn)
    if version == 0:
        conn.execute(schema.schema_version.insert().values(id=1, version=LATEST))
    elif version < LATEST:
        conn.execute(schema.schema_version.update().values(version=LATEST))
    return LATEST

"""The remote conformance suite: a transport of ``mlfabric.datasets.remote.TRANSPORTS``
lists, stores and serves objects verified, writes documents whole (exclusive creates
never overwrite) and deletes, through the ``RemoteLake`` interface only.

``scheme`` picks where the lake lives: ``file`` (a temp folder), ``memory``, or any
other, for which the test session provides a fixture ``<scheme>_lake_location`` that
returns a ``mlfabric.transfer.Location`` (the project's tests give ``s3`` on a moto
server). ``transport`` names the implementation (default: the one registered for the
scheme).
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric.datasets.remote import MANIFESTS, TRANSPORTS, RemoteLake, object_key, open_lake
from mlfabric.errors import CorruptData, NotFound
from mlfabric.oids import oid_of
from mlfabric.testing import Conformance
from mlfabric.transfer import Location, open_location

_ids = itertools.count()


class RemoteConformance(Conformance):
    """``class TestMine(RemoteConformance, transport="mine", scheme="memory"): ...``"""

    scheme = "file"
    transport: str | None = None

    @pytest.fixture
    def lake_location(self, request: pytest.FixtureRequest, tmp_path: Path) -> Location:
        if self.scheme == "file":
            return open_location(str(tmp_path / "lake"))
        if self.scheme == "memory":
            return open_location(f"memory://conformance-{os.getpid()}-{next(_ids)}/lake")
        return request.getfixturevalue(f"{self.scheme}_lake_location")

    @pytest.fixture
    def lake(self, lake_location: Location) -> Iterator[RemoteLake]:
        lake = (open_lake(lake_location, "test") if self.transport is None
                else TRANSPORTS.load(self.transport)(lake_location, "test"))
        lake.check()
        yield lake
        if self.scheme == "memory" and lake_location.fs.exists(lake_location.root):
            lake_location.fs.rm(lake_location.root, recursive=True)

    def tamper(self, lake: RemoteLake, key: str, data: bytes) -> None:
        """Write raw bytes at ``key`` behind the lake's back (the damage a suite needs)."""
        lake.loc.fs.pipe_file(lake.path(key), data)

    # -- the suite -----------------------------------------------------------------------
    def test_empty_lake(self, lake: RemoteLake) -> None:
        assert lake.list_objects() == {}
        assert lake.list("datasets") == []
        assert lake.read("datasets/x/v1.json") is None
        assert lake.delete(["objects/ab/" + "c" * 62]) == 1  # missing keys are fine

    def test_objects_round_trip(self, lake: RemoteLake, tmp_path: Path) -> None:
        blobs = [b"", b"hello", os.urandom(100_000)]
        ids = [_put(lake, tmp_path, b) for b in blobs]
        listed = lake.list_objects()
        assert set(listed) == set(ids)
        assert {listed[i].size for i in ids} == {0, 5, 100_000}
        assert all(listed[i].mtime is not None for i in ids)
        for i, b in zip(ids, blobs, strict=True):
            assert _get(lake, i, len(b)) == b
        _put(lake, tmp_path, b"hello")  # the same object again is fine
        assert len(lake.list_objects()) == 3
        m = _put(lake, tmp_path, b"manifest", area=MANIFESTS)
        assert set(lake.list_objects(MANIFESTS)) == {m} and m not in lake.list_objects()

    def test_multipart_sized_object(self, lake: RemoteLake, tmp_path: Path) -> None:
        data = os.urandom(9 * 2**20)  # above the 8 MiB part size: multipart on S3
        i = _put(lake, tmp_path, data)
        assert _get(lake, i, len(data)) == data

    def test_wrong_bytes_are_refused_and_leave_nothing(self, lake: RemoteLake,
                                                       tmp_path: Path) -> None:
        src = tmp_path / "src"
        src.write_bytes(b"actual content")
        with pytest.raises(CorruptData, match="is damaged"):
            lake.put_object(oid_of(b"something else"), src, len(b"actual content"))
        assert lake.list_objects() == {}
        assert lake.leftovers() == []

    def test_missing_and_damaged_objects(self, lake: RemoteLake, tmp_path: Path) -> None:
        with pytest.raises(NotFound, match="object 'sha256:"):
            _get(lake, oid_of(b"absent"), 6)
        i = _put(lake, tmp_path, b"original")
        self.tamper(lake, object_key(i), b"tampered")
        with pytest.raises(CorruptData, match=f"object {i} is damaged"):
            _get(lake, i, 8)

    def test_documents(self, lake: RemoteLake) -> None:
        key = "datasets/images/v1.json"
        assert lake.write(key, b"one", exclusive=True) is True
        assert lake.write(key, b"two", exclusive=True) is False
        assert lake.read(key) == b"one"
        assert lake.write(key, b"three") is True
        assert lake.read(key) == b"three"
        lake.write("datasets/images/v2.json", b"x")
        assert sorted(s.key for s in lake.list("datasets")) == [
            "datasets/images/v1.json", "datasets/images/v2.json"]
        lake.delete([key])
        assert lake.read(key) is None
        assert [s.key for s in lake.list("datasets")] == ["datasets/images/v2.json"]
        lake.flush()  # durable: a no-op or a sync, never an error


def _put(lake: RemoteLake, tmp_path: Path, data: bytes, area: str = "objects") -> str:
    src = tmp_path / f"src-{next(_ids)}"
    src.write_bytes(data)
    lake.put_object(oid_of(data), src, len(data), area=area)
    return oid_of(data)


def _get(lake: RemoteLake, object_id: str, size: int) -> bytes:
    out = io.BytesIO()
    lake.get_object(object_id, size, out)
    return out.getvalue()

"""Conformance suite of the remote interface (``RemoteLake``): every backend passes the
same tests: an in-memory lake, a local folder, and S3 over HTTP (moto's server)."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric.datasets.remote import MANIFESTS, RemoteLake, object_key
from mlfabric.errors import CorruptData, NotFound
from mlfabric.transfer.urls import open_location
from tests.component.test_transfer_s3 import _aws_env, endpoint, s3_client

__all__ = ["_aws_env", "endpoint"]  # fixtures shared with the transfer tests
_ids = itertools.count()


def oid(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["memory", "local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RemoteLake]:
    n = next(_ids)
    if request.param == "memory":
        url, ep = f"memory://conformance-{os.getpid()}-{n}/lake", None
    elif request.param == "local":
        url, ep = str(tmp_path / "lake"), None
    else:
        ep = request.getfixturevalue("endpoint")
        s3_client(ep).create_bucket(Bucket=f"conf-{n}")
        url = f"s3://conf-{n}/lake"
    store = RemoteLake(open_location(url, endpoint_url=ep, timeout=10), "test")
    store.check()
    yield store
    if request.param == "memory" and store.loc.fs.exists(store.loc.root):
        store.loc.fs.rm(store.loc.root, recursive=True)


def put(lake: RemoteLake, tmp_path: Path, data: bytes, area: str = "objects") -> str:
    src = tmp_path / f"src-{next(_ids)}"
    src.write_bytes(data)
    lake.put_object(oid(data), src, len(data), area=area)
    return oid(data)


def get(lake: RemoteLake, object_id: str, size: int) -> bytes:
    out = io.BytesIO()
    lake.get_object(object_id, size, out)
    return out.getvalue()


def test_empty_lake(lake: RemoteLake) -> None:
    assert lake.list_objects() == {}
    assert lake.list("datasets") == []
    assert lake.read("datasets/x/v1.json") is None
    assert lake.delete(["objects/ab/" + "c" * 62]) == 1  # missing keys are fine


def test_objects_round_trip(lake: RemoteLake, tmp_path: Path) -> None:
    blobs = [b"", b"hello", os.urandom(100_000)]
    ids = [put(lake, tmp_path, b) for b in blobs]
    listed = lake.list_objects()
    assert set(listed) == set(ids)
    assert {listed[i].size for i in ids} == {0, 5, 100_000}
    assert all(listed[i].mtime is not None for i in ids)
    for i, b in zip(ids, blobs, strict=True):
        assert get(lake, i, len(b)) == b
    put(lake, tmp_path, b"hello")  # the same object again is fine
    assert len(lake.list_objects()) == 3
    m = put(lake, tmp_path, b"manifest", area=MANIFESTS)
    assert set(lake.list_objects(MANIFESTS)) == {m} and m not in lake.list_objects()


def test_multipart_sized_object(lake: RemoteLake, tmp_path: Path) -> None:
    data = os.urandom(9 * 2**20)  # above the 8 MiB part size: multipart on S3
    i = put(lake, tmp_path, data)
    assert get(lake, i, len(data)) == data


def test_wrong_bytes_are_refused_and_leave_nothing(lake: RemoteLake, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"actual content")
    claimed = oid(b"something else")
    with pytest.raises(CorruptData, match="is damaged"):
        lake.put_object(claimed, src, len(b"actual content"))
    assert lake.list_objects() == {}
    assert lake.leftovers() == []


def test_missing_and_damaged_objects(lake: RemoteLake, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="object 'sha256:"):
        get(lake, oid(b"absent"), 6)
    i = put(lake, tmp_path, b"original")
    lake.loc.fs.pipe_file(lake.path(object_key(i)), b"tampered")
    with pytest.raises(CorruptData, match=f"object {i} is damaged"):
        get(lake, i, 8)


def test_documents(lake: RemoteLake) -> None:
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

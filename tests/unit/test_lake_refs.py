"""Pure parts of the lake and the cache: references, version documents, lake keys, and
the path selection of ``cache prepopulate``."""

from __future__ import annotations

import pytest

from mlfabric.datasets.cache.selection import select_paths
from mlfabric.datasets.lake.versions import read_version_doc, version_doc
from mlfabric.datasets.remote import object_key, oid_of_key
from mlfabric.errors import CorruptData, InvalidInput
from mlfabric.names import VersionRef, parse_version_ref, version_number
from mlfabric.storage.manifest import DIR, FILE, LINK, Entry, Manifest

OID = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "expect"), [
    ("images", VersionRef("images")),
    ("images:latest", VersionRef("images")),
    ("images:v3", VersionRef("images", "v3")),
    ("a-b:v120", VersionRef("a-b", "v120")),
])
def test_parse_version_ref(text: str, expect: VersionRef) -> None:
    assert parse_version_ref(text) == expect


@pytest.mark.parametrize(("text", "message"), [
    ("images:", "version missing"),
    ("images:v0", "invalid version 'v0'"),
    ("images:3", "invalid version '3'"),
    ("images:v1:v2", "expected DATASET:VERSION"),
    ("Images:v1", "invalid dataset name 'Images'"),
    (":v1", "invalid dataset name ''"),
])
def test_parse_version_ref_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_version_ref(text)


def test_require_version() -> None:
    for text in ("images", "images:latest"):
        with pytest.raises(InvalidInput, match="expected DATASET:VERSION"):
            parse_version_ref(text, require_version=True)
    assert version_number("v42") == 42


def test_version_doc_round_trip() -> None:
    data = version_doc("images", "v2", manifest_oid=OID, source="data@s1",
                       created_at=1_700_000_000.5, files=3, nbytes=30, objects=2)
    doc = read_version_doc(data, "datasets/images/v2.json")
    assert doc == {"dataset": "images", "version": "v2", "number": 2, "manifest": OID,
                   "source": "data@s1", "created_at": 1_700_000_000.5, "files": 3,
                   "bytes": 30, "objects": 2}


@pytest.mark.parametrize("data", [b"not json", b'{"format": 9}', b'{"format": 1}',
                                  b'{"format": 1, "dataset": "X", "version": "v1"}'])
def test_unreadable_version_doc(data: bytes) -> None:
    with pytest.raises(CorruptData, match="version document here is unreadable"):
        read_version_doc(data, "here")


def test_object_keys_share_the_local_store_layout() -> None:
    assert object_key(OID) == "objects/ab/" + "ab" * 31
    assert object_key(OID, "manifests").startswith("manifests/ab/")
    assert oid_of_key(object_key(OID)) == OID
    for key in ("objects/ab/.x.mlfabric-0-12345678.part", "objects/ab", "other/ab/" + "a" * 62,
                "objects/zz/" + "z" * 62):
        assert oid_of_key(key) is None
    with pytest.raises(InvalidInput, match="malformed object id"):
        object_key("md5:abc")


def tree() -> Manifest:
    def f(path: str) -> Entry:
        return Entry(path, FILE, OID, 0o644, 1, 0)

    def d(path: str) -> Entry:
        return Entry(path, DIR, "", 0o755, 0, 0)

    return Manifest.of([d("train"), d("train/cats"), d("train/dogs"), d("val"),
                        f("train/cats/1.jpg"), f("train/cats/2.jpg"), f("train/dogs/1.jpg"),
                        f("train/labels.json"), f("val/1.jpg"), f("README"),
                        Entry("latest", LINK, "train", 0o777, 5, 0)])


@pytest.mark.parametrize(("include", "exclude", "expect"), [
    (["train/cats"], [], {"train", "train/cats", "train/cats/1.jpg", "train/cats/2.jpg"}),
    (["train"], ["train/dogs", "*.json"],
     {"train", "train/cats", "train/cats/1.jpg", "train/cats/2.jpg"}),
    (["*.jpg"], ["train/cats/2.jpg"],
     {"train", "train/cats", "train/dogs", "val", "train/cats/1.jpg", "train/dogs/1.jpg",
      "val/1.jpg"}),
    (["README", "/val/"], [], {"README", "val", "val/1.jpg"}),
    (["latest"], [], {"latest"}),
])
def test_select_paths(include: list[str], exclude: list[str], expect: set[str]) -> None:
    assert set(select_paths(tree(), include, exclude).entries) == expect


@pytest.mark.parametrize(("include", "message"), [
    (["nothing/here"], "no file of the dataset matches nothing/here"),
    (["../etc"], "invalid path '../etc'"),
    ([""], "invalid path ''"),
])
def test_select_paths_rejects(include: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        select_paths(tree(), include)

import gzip
import json

import pytest

from mlfabric.errors import CorruptData
from mlfabric.storage.manifest import DIR, FILE, LINK, Entry, Manifest, diff_manifests
from mlfabric.storage.materialize import plan_tree

OID_A = "sha256:" + "a" * 64
OID_B = "sha256:" + "b" * 64


def f(path, oid=OID_A, mode=0o100644, size=1, mtime=1):
    return Entry(path, FILE, oid, mode, size, mtime)


def d(path, mode=0o40755):
    return Entry(path, DIR, "", mode, 0, 0)


def m(*entries):
    return Manifest.of(list(entries))


def test_roundtrip_is_deterministic():
    man = m(d("x"), f("x/a"), Entry("l", LINK, "x/a", 0o120777, 3, 5))
    data = man.to_bytes()
    assert Manifest.from_bytes(data).entries == man.entries
    assert data == m(*reversed(list(man.entries.values()))).to_bytes()


def test_any_file_name_roundtrips():
    # A newline, a tab and a byte that is not UTF-8 (kept as a surrogate by os.fsdecode).
    odd = ["new\nline", "tab\there", "bad-\udcff-byte", "sp ace/\u00e9t\u00e9"]
    man = m(d("sp ace"), *(f(p) for p in odd), Entry("l\n", LINK, "to\ttarget", 0o120777, 9, -5))
    assert Manifest.from_bytes(man.to_bytes()).entries == man.entries


def test_format_1_manifests_are_still_read():
    man = m(d("x"), f("x/a", mtime=7))
    rows = [list(e) for e in man.entries.values()]
    body = json.dumps({"version": 1, "entries": rows}).encode()
    assert Manifest.from_bytes(gzip.compress(body)).entries == man.entries


@pytest.mark.parametrize("data", [b"not a manifest", gzip.compress(b"{]"),
                                  m(f("a")).to_bytes()[:-1], m(f("a")).to_bytes() + b"x\0"])
def test_corrupt_manifest_is_a_clear_error(data):
    with pytest.raises(CorruptData, match="unreadable"):
        Manifest.from_bytes(data)


@pytest.mark.parametrize(("old", "new", "expected"), [
    (m(f("a")), m(f("a")), ([], [], [], [])),
    (m(), m(f("a")), (["a"], [], [], [])),
    (m(f("a")), m(), ([], ["a"], [], [])),
    (m(f("a")), m(f("a", OID_B)), ([], [], ["a"], [])),
    (m(f("a")), m(f("a", mode=0o100755)), ([], [], [], ["a"])),
    (m(f("a")), m(f("a", OID_B, mode=0o100755)), ([], [], ["a"], [])),
    (m(f("a", mtime=1)), m(f("a", mtime=2)), ([], [], [], [])),  # touch is not a change
    (m(d("x")), m(d("x", 0o40700)), ([], [], [], [])),  # directories are structure
    (m(f("a")), m(d("a")), ([], ["a"], [], [])),
    (m(Entry("l", LINK, "t1", 0o120777, 2, 1)), m(Entry("l", LINK, "t2", 0o120777, 2, 1)),
     ([], [], ["l"], [])),
])
def test_diff_table(old, new, expected):
    r = diff_manifests(old, new)
    assert (r.added, r.deleted, r.modified, r.mode_changed) == expected


def test_plan_into_empty_tree_creates_dirs_before_files():
    plan = plan_tree(Manifest(), m(d("x"), d("x/y"), f("x/y/a"), f("b")))
    assert [e.path for e in plan.mkdirs] == ["x", "x/y"]
    assert sorted(e.path for e in plan.write) == ["b", "x/y/a"]
    assert plan.remove == []
    assert [e.path for e in plan.dir_modes] == ["x/y", "x"]  # deepest first


def test_plan_update_in_place():
    cur = m(d("x"), f("x/keep"), f("x/old"), f("x/chg"), f("x/meta"), d("gone"), f("gone/z"),
            f("t"))
    tgt = m(d("x"), f("x/keep"), f("x/chg", OID_B), f("x/meta", mode=0o100600), f("x/new"),
            d("t"))
    plan = plan_tree(cur, tgt)
    assert plan.remove == ["x/old", "t", "gone"]  # children of removed dirs are not listed
    assert [e.path for e in plan.write] == ["x/chg", "x/new"]
    assert [e.path for e in plan.fix_meta] == ["x/meta"]
    assert [e.path for e in plan.mkdirs] == ["t"]

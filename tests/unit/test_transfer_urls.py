"""URL parsing, fsspec options, temp names and the size histogram (no I/O)."""

from __future__ import annotations

import sys

import pytest

from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.transfer.listing import mtime_of, temp_job, temp_path, token_of
from mlfabric.transfer.scan import histogram
from mlfabric.transfer.urls import open_location, parse_options


@pytest.mark.parametrize(("items", "want"), [
    (["anon=true"], {"anon": True}),
    (["client_kwargs.region_name=eu-west-1"], {"client_kwargs": {"region_name": "eu-west-1"}}),
    (['client_kwargs={"region_name": "x"}', "client_kwargs.verify=false"],
     {"client_kwargs": {"region_name": "x", "verify": False}}),
    (["default_block_size=1048576"], {"default_block_size": 1048576}),
    (["profile=dev"], {"profile": "dev"}),
    (["use_ssl=no way"], {"use_ssl": "no way"}),
])
def test_parse_options(items: list[str], want: dict[str, object]) -> None:
    assert parse_options(items) == want


@pytest.mark.parametrize(("items", "needle"), [
    (["novalue"], "expected key=value"),
    (["=x"], "expected key=value"),
    (["bad-key=1"], "invalid option key"),
    (["secret=abc"], "credential"),
    (["client_kwargs.aws_secret_access_key=abc"], "credential"),
    (['client_kwargs={"aws_access_key_id": "AKIA"}'], "credential"),
    (["a=1", "a.b=2"], "conflicts"),
])
def test_parse_options_rejects(items: list[str], needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        parse_options(items)


@pytest.mark.parametrize(("url", "needle"), [
    ("", "empty URL"),
    ("s3://", "bucket name missing"),
    ("s3:///key", "malformed URL"),
    ("s3://Bad_Bucket/x", "not a valid bucket name"),
    ("s3:/bucket/x", "expected s3://"),
    ("file://relative/path", "ABSOLUTE"),
    ("nosuchscheme://x/y", "unsupported URL scheme"),
    ("simplecache::s3://bucket/x", "chained"),
    ("file:///tmp/a\x00b", "NUL character"),  # os raises ValueError on it
    ("/tmp/a\x00b", "NUL character"),
])
def test_malformed_urls(url: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        open_location(url)


def test_bad_endpoint_and_timeout() -> None:
    with pytest.raises(InvalidInput, match="invalid endpoint URL"):
        open_location("s3://bucket/x", endpoint_url="localhost:9000")
    with pytest.raises(InvalidInput, match="invalid endpoint URL 'http://host:99999'"):
        open_location("s3://bucket/x", endpoint_url="http://host:99999")
    with pytest.raises(InvalidInput, match="positive"):
        open_location("/tmp", timeout=0)


def test_endpoint_credentials_are_redacted() -> None:
    with pytest.raises(InvalidInput) as info:
        open_location("s3://bucket/x", endpoint_url="ftp://user:hunter2@host")
    assert "hunter2" not in str(info.value)


def test_locations_and_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    loc = open_location(str(tmp_path / "a") + "/")
    assert loc.protocol == "file" and loc.root == str(tmp_path / "a")
    assert open_location(f"file://{tmp_path}/a").key == loc.key
    s3 = open_location("s3://bucket/pre/fix/", endpoint_url="http://127.0.0.1:9")
    assert (s3.root, s3.bucket, s3.endpoint) == ("bucket/pre/fix", "bucket", "http://127.0.0.1:9")
    assert s3.key == "s3://bucket/pre/fix @ http://127.0.0.1:9"
    assert s3.display("x/y") == "s3://bucket/pre/fix/x/y"
    mem = open_location("memory://m/d")
    assert mem.display() == "memory://m/d" and mem.join("x") == "/m/d/x"


def test_overlap() -> None:
    a, b, c = open_location("/data/a"), open_location("/data/a/b"), open_location("/data/ab")
    assert a.overlaps(b) and b.overlaps(a) and a.overlaps(a)
    assert not a.overlaps(c)
    assert not a.overlaps(open_location("memory://data/a"))


def test_missing_extra_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # pyarrow is installed for the tests (the dask extra); here it is absent, as in a
    # base install: a module set to None in sys.modules fails to import.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.fs", None)
    with pytest.raises(MlfabricError, match="hdfs:// needs pyarrow"):
        open_location("hdfs://127.0.0.1:1/data")


def test_hdfs_without_a_hadoop_client_is_one_short_line() -> None:
    # pyarrow here, no JVM or libhdfs on this machine: one line that says what is missing
    # (with a Hadoop client installed, the closed loopback port is the error instead).
    with pytest.raises(MlfabricError) as caught:
        open_location("hdfs://127.0.0.1:1/data")
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    assert message.startswith(("hdfs:// needs pyarrow", "cannot open hdfs://127.0.0.1:1/data"))


def test_temp_names_round_trip() -> None:
    tmp = temp_path("bucket/dir/file.bin", 42)
    assert tmp.startswith("bucket/dir/.file.bin.mlfabric-42-") and tmp.endswith(".part")
    assert temp_job(tmp) == 42 and temp_job("dir/file.bin") is None
    assert temp_job(temp_path("top", 7)) == 7
    assert temp_job("dir/.x.mlfabric-notajob.part") is None


def test_mtime_and_token_from_backend_infos() -> None:
    import datetime as dt

    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert mtime_of({"mtime": 12.5}) == 12.5
    assert mtime_of({"LastModified": when}) == when.timestamp()
    assert mtime_of({"created": 7}) == 7.0
    assert mtime_of({"last_modified": "2024-01-02T03:04:05Z"}) == when.timestamp()
    assert mtime_of({}) is None
    assert token_of({"ETag": '"abc"', "LastModified": when}) == "etag:abc"
    assert token_of({"mtime": 12.5}) == "mtime:12.5"


def test_histogram_buckets() -> None:
    buckets = histogram([0, 4095, 4096, 2**20, 5 * 2**30])
    counts = {b.label: b.files for b in buckets}
    assert counts["< 4.0 KiB"] == 2 and counts["< 64.0 KiB"] == 1
    assert counts["< 16.0 MiB"] == 1 and counts[">= 4.0 GiB"] == 1
    assert sum(b.files for b in buckets) == 5
    assert sum(b.bytes for b in buckets) == 4095 + 4096 + 2**20 + 5 * 2**30

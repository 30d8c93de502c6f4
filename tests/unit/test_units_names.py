import pytest

from mlfabric.errors import InvalidInput
from mlfabric.names import parse_labels, parse_snapshot_ref, validate_name
from mlfabric.units import format_size, parse_duration, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("50Gi", 50 * 2**30),
    ("1.5 TiB", int(1.5 * 2**40)),
    ("500MB", 500 * 10**6),
    ("1TB", 10**12),
    ("1tb", 10**12),
    ("2 k", 2000),
    ("3Ki", 3072),
    ("7", 7),
    ("7B", 7),
    (" 10 MiB ", 10 * 2**20),
    (".5Gi", 2**29),
    (0, 0),
])
def test_parse_size_accepts_si_and_iec(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["-1Gi", "1XB", "abc", "1e999TB", "", "1.2.3G", "Gi", "5 G i",
                                  "1e3", -5, 2**63, 2**70, "8Ei", "99999999999999999999Ti"])
def test_parse_size_rejects(text):
    with pytest.raises(InvalidInput, match="invalid size"):
        parse_size(text)


def test_format_size():
    assert format_size(512) == "512 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(50 * 2**30) == "50.0 GiB"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("8h", 28800),
                                                ("1d", 86400), ("1h30m", 5400), ("12", 12)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1x", "-1h", "h1", -1, float("nan"), float("inf"),
                                  1e300, "9999999999999999999d", "5300w", 2**53 + 1])
def test_parse_duration_rejects(text):
    with pytest.raises(InvalidInput):
        parse_duration(text)


def test_sizes_and_durations_stop_where_the_catalog_and_clocks_do():
    """The largest size a catalog's 64-bit integer holds; a century of seconds."""
    assert parse_size(2**63 - 1) == 2**63 - 1
    assert parse_size("7Ei") == 7 * 2**60
    assert parse_duration("36500d") == 36500 * 86400
    with pytest.raises(InvalidInput, match="timeout"):
        parse_duration(1e300, field="timeout")


@pytest.mark.parametrize("name", ["a", "data", "team-a-2", "0", "a" * 63])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(("name", "why"), [
    ("UPPER", "lowercase"), ("a_b", "lowercase"), ("../x", "lowercase"), ("-x", "lowercase"),
    ("x-", "lowercase"), ("a" * 64, "longer than 63"), ("", "empty"), ("a.b", "lowercase"),
])
def test_invalid_names(name, why):
    with pytest.raises(InvalidInput, match=why):
        validate_name(name, "volume name")


def test_snapshot_refs():
    assert parse_snapshot_ref("vol").snapshot is None
    r = parse_snapshot_ref("vol@s1", require_snapshot=True)
    assert (r.volume, r.snapshot, str(r)) == ("vol", "s1", "vol@s1")
    for bad in ("vol@", "@s", "a@b@c", "Vol@s"):
        with pytest.raises(InvalidInput):
            parse_snapshot_ref(bad)
    with pytest.raises(InvalidInput, match="VOLUME@SNAPSHOT"):
        parse_snapshot_ref("vol", require_snapshot=True)


def test_labels():
    assert parse_labels(["project=team-a", "x=1=2"]) == {"project": "team-a", "x": "1=2"}
    with pytest.raises(InvalidInput):
        parse_labels(["novalue"])

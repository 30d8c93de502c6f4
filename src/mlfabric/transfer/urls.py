"""Open fsspec file systems from URLs (local paths, ``file://``, ``memory://``, ``s3://``
with endpoint options, ``hdfs://`` through pyarrow) and turn their failures into one
clear line.

Credentials never pass through here: S3 reads them from the environment
(``AWS_ACCESS_KEY_ID`` ...) or the standard AWS config files, so they are neither stored
in the catalog nor printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlfabric.errors import InvalidInput, MlfabricError, NotFound
from mlfabric.names import check_text

# Seconds one request may wait to connect or for an answer. Requests are tried at most
# ``_ATTEMPTS`` times, so an unreachable endpoint fails within about that many timeouts.
DEFAULT_TIMEOUT = 30.0
_ATTEMPTS = 3

OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})
_S3 = frozenset({"s3", "s3a"})
_LOCAL = frozenset({"file", "local"})
_CREDENTIAL_OPTIONS = frozenset({
    "key", "secret", "token", "password", "username", "aws_access_key_id",
    "aws_secret_access_key", "aws_session_token", "account_key", "sas_token",
})
_INSTALL_HINTS = {
    "s3": "s3:// needs s3fs: pip install 'mlfabric[s3]'",
    "s3a": "s3a:// needs s3fs: pip install 'mlfabric[s3]'",
    "hdfs": "hdfs:// needs pyarrow with HDFS support (pip install pyarrow) and a Hadoop "
            "client (JAVA_HOME, HADOOP_HOME, libhdfs)",
}
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):(?P<slashes>/*)(?P<rest>.*)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_OPTION_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class Location:
    """A folder (or one file) on a file system, as a transfer sees it."""

    url: str  # as the user wrote it, for messages
    protocol: str  # "file", "memory", "s3", ...
    root: str  # the file system's own path, without protocol or trailing slash
    fs: Any  # fsspec.AbstractFileSystem
    endpoint: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def is_local(self) -> bool:
        return self.protocol in _LOCAL

    @property
    def is_object_store(self) -> bool:
        return self.protocol in OBJECT_STORES

    @property
    def key(self) -> str:
        """Canonical identity (journal key): protocol, root and endpoint; no secrets."""
        base = f"{self.protocol}://{self.root}"
        return f"{base} @ {self.endpoint}" if self.endpoint else base

    @property
    def bucket(self) -> str | None:
        return self.root.split("/", 1)[0] if self.is_object_store else None

    def join(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def rel(self, name: str) -> str:
        prefix = self.root + "/"
        name = name.rstrip("/")
        return name[len(prefix):] if name.startswith(prefix) else name.lstrip("/")

    def display(self, rel: str = "") -> str:
        base = self.root if self.is_local else f"{self.protocol}://{self.root.lstrip('/')}"
        return f"{base}/{rel}" if rel else base

    def overlaps(self, other: Location) -> bool:
        """True when one location lies inside the other on the same file system."""
        if (self.protocol in _LOCAL) != (other.protocol in _LOCAL):
            return False
        if not self.is_local and (self.protocol != other.protocol
                                  or self.endpoint != other.endpoint):
            return False
        a, b = self.root + "/", other.root + "/"
        return a.startswith(b) or b.startswith(a)


def parse_options(items: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``k=v`` options for the file system; dotted keys nest, values are JSON or text.

    ``client_kwargs.region_name=eu-west-1`` and ``client_kwargs={"region_name": "x"}``
    mean the same. Credentials are refused: they come from the environment.
    """
    if items is None:
        return {}
    pairs: list[tuple[str, Any]]
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            key, sep, raw = str(item).partition("=")
            key = key.strip()
            if not sep or not key:
                raise InvalidInput(f"invalid option '{item}': expected key=value",
                                   field="option", value=item)
            try:
                value: Any = json.loads(raw)
            except ValueError:
                value = raw
            pairs.append((key, value))
    out: dict[str, Any] = {}
    for key, value in pairs:
        if not _OPTION_KEY.match(key):
            raise InvalidInput(f"invalid option key '{key}'", field="option", value=key)
        parts = key.split(".")
        _refuse_credentials(parts, value)
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidInput(f"option '{key}' conflicts with '{part}'", field="option")
            node = child
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return out


def _refuse_credentials(parts: list[str], value: Any) -> None:
    names = [p.lower() for p in parts]
    if isinstance(value, dict):
        names += [str(k).lower() for k in value]
    bad = [n for n in names if n in _CREDENTIAL_OPTIONS]
    if bad:
        raise InvalidInput(
            f"option '{bad[0]}' would put a credential on the command line; set it in the "
            "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, "
            "AWS_PROFILE) or the AWS config files instead", field="option")


def _validate_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"invalid endpoint URL '{_redact(endpoint)}': expected "
                           "http(s)://HOST[:PORT]", field="endpoint_url")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise InvalidInput(f"invalid endpoint URL '{_redact(endpoint)}': bad port",
                           field="endpoint_url") from exc
    return endpoint.rstrip("/")


def _redact(url: str) -> str:
    """Drop user:password@ from a URL before it reaches a message."""
    return re.sub(r"//[^/@]*@", "//", url)


def _split(url: str) -> tuple[str, str]:
    """(protocol, path) of a URL or a local path; raises on malformed input."""
    text = url.strip()
    if not text:
        raise InvalidInput("empty URL: expected a path or SCHEME://...", field="url")
    if "::" in text:
        raise InvalidInput(f"malformed URL '{url}': chained URLs are not supported",
                           field="url", value=url)
    m = _SCHEME.match(text)
    if m is None:
        return "file", str(Path(text).expanduser().absolute())
    scheme, slashes, rest = m.group("scheme").lower(), m.group("slashes"), m.group("rest")
    if slashes != "//" and not (scheme in _LOCAL and slashes == "///"):
        raise InvalidInput(f"malformed URL '{url}': expected {scheme}://...",
                           field="url", value=url)
    if scheme in _LOCAL:
        path = (slashes[2:] + rest) if slashes == "///" else rest
        if not path.startswith("/"):
            raise InvalidInput(f"malformed URL '{url}': expected file:///ABSOLUTE/PATH",
                               field="url", value=url)
        return "file", os.path.normpath(path)
    if scheme in _S3:
        bucket = rest.split("/", 1)[0]
        if not bucket:
            raise InvalidInput(f"malformed URL '{url}': bucket name missing "
                               f"(expected {scheme}://BUCKET/PREFIX)", field="url", value=url)
        if not _BUCKET.match(bucket):
            raise InvalidInput(f"malformed URL '{url}': '{bucket}' is not a valid bucket name",
                               field="url", value=url)
    return scheme, rest


def protocol_of(url: str) -> str:
    """The protocol of a URL (``file`` for a local path); raises on a malformed one."""
    return _split(url)[0]


def _s3_kwargs(endpoint_url: str | None, options: dict[str, Any],
               timeout: float) -> dict[str, Any]:
    kwargs = dict(options)
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    config: dict[str, Any] = {"connect_timeout": timeout, "read_timeout": timeout,
                              "retries": {"max_attempts": _ATTEMPTS, "mode": "standard"}}
    if endpoint_url:
        # S3-compatible servers (MinIO, Ceph, older releases) reject or mishandle the CRC
        # checksums botocore sends by default since 1.36; send them only where an
        # operation requires one. The SigV4 payload hash (HTTP) or TLS (HTTPS) covers bodies.
        config["request_checksum_calculation"] = "when_required"
        config["response_checksum_validation"] = "when_required"
    user = dict(kwargs.get("config_kwargs") or {})
    if isinstance(user.get("retries"), dict):
        user["retries"] = {**config["retries"], **user["retries"]}
    config.update(user)
    kwargs["config_kwargs"] = config
    return kwargs


def s3_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint an S3 client will talk to (flag, then botocore's environment)."""
    return endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL") or None


def open_location(url: str, *, endpoint_url: str | None = None,
                  options: Mapping[str, Any] | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> Location:
    """Parse ``url`` and open its file system (no request is made yet)."""
    import fsspec

    if timeout <= 0:
        raise InvalidInput(f"invalid timeout {timeout}: must be positive", field="timeout")
    check_text(url, "url")
    protocol, path = _split(url)
    options = dict(options or {})
    endpoint = None
    kwargs: dict[str, Any] = {}
    if protocol in _S3:
        endpoint = s3_endpoint(endpoint_url)
        if endpoint:
            endpoint = _validate_endpoint(endpoint)
        kwargs = _s3_kwargs(endpoint_url and endpoint, options, timeout)
    elif protocol not in _LOCAL and protocol != "memory":
        kwargs = options
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        raise MlfabricError(_INSTALL_HINTS.get(protocol, f"{protocol}:// needs an extra "
                                               f"package: {exc}")) from exc
    except ValueError as exc:
        raise InvalidInput(f"unsupported URL scheme '{protocol}' in '{url}'",
                           field="url", value=url) from exc
    try:
        root = cls._strip_protocol(path if protocol in _LOCAL else f"{protocol}://{path}")
        if "://" in str(root):  # a backend that only strips its own default protocol
            root = cls._strip_protocol(path)
        url_kwargs = cls._get_kwargs_from_urls(f"{protocol}://{path}")
        fs = cls(**{**url_kwargs, **kwargs}, skip_instance_cache=True)
    except ImportError as exc:
        raise MlfabricError(_INSTALL_HINTS.get(protocol, str(exc))) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"invalid options for {protocol}://: {exc}", field="option") from exc
    except Exception as exc:
        if protocol == "hdfs" and re.search(r"libjvm|libhdfs", str(exc)):
            # pyarrow is there, the Hadoop client is not: its message lists every path tried
            raise MlfabricError(f"{_INSTALL_HINTS['hdfs']}: the Java runtime or libhdfs was "
                                "not found") from exc
        raise MlfabricError(f"cannot open {_redact(url)}: {describe(exc)}") from exc
    if protocol in _S3:
        # botocore already retries (standard mode); s3fs retrying on top would multiply
        # the time an unreachable endpoint takes to fail.
        fs.retries = 1
    root = str(root)
    if root not in ("", "/"):
        root = root.rstrip("/")
    elif protocol in _LOCAL:
        root = ""
    return Location(url=_redact(url), protocol=protocol, root=root, fs=fs,
                    endpoint=_redact(endpoint) if endpoint else None, timeout=timeout)


def describe(exc: BaseException, loc: Location | None = None, target: str | None = None) -> str:
    """One line for a file-system failure: unreachable, timed out, denied, not found."""
    return " ".join(_describe(exc, loc, target).split())


def _describe(exc: BaseException, loc: Location | None, target: str | None) -> str:
    where = target or (loc.display() if loc else "")
    endpoint = (loc.endpoint or "the AWS S3 endpoint") if loc is not None else "the endpoint"
    timeout = f"{loc.timeout:g}s" if loc is not None else "the timeout"
    be = sys.modules.get("botocore.exceptions")
    if be is not None:
        if isinstance(exc, be.NoCredentialsError | be.PartialCredentialsError):
            return ("no S3 credentials found: set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, ~/.aws/credentials), or pass "
                    "--option anon=true for a public bucket")
        if isinstance(exc, be.ConnectTimeoutError):
            return f"cannot reach {endpoint}: no connection within {timeout}"
        if isinstance(exc, be.ReadTimeoutError):
            return f"{endpoint} did not answer within {timeout}"
        if isinstance(exc, be.EndpointConnectionError):
            return f"cannot reach {endpoint}: connection failed"
        if isinstance(exc, be.ClientError):
            err = exc.response.get("Error", {})
            return f"{where}: {err.get('Code', '?')} {err.get('Message', '')}".strip()
        if isinstance(exc, be.BotoCoreError):
            return f"{where}: {exc}"
    if isinstance(exc, PermissionError):
        if loc is not None and loc.is_object_store:
            return (f"access denied to {where} ({exc.args[0] if exc.args else exc}); check "
                    "the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE "
                    "or ~/.aws) and the bucket policy")
        return f"permission denied: {where}"
    if isinstance(exc, FileNotFoundError):
        return f"not found: {where}"
    if isinstance(exc, IsADirectoryError):
        return f"{where}: a folder is in the way"
    if isinstance(exc, TimeoutError):
        return f"{where}: timed out after {timeout}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{where}: {exc.strerror}"
    text = str(exc) or type(exc).__name__
    return f"{where}: {text}" if where else text


@contextmanager
def translated(loc: Location, target: str | None = None) -> Iterator[None]:
    """Re-raise any file-system failure inside the block as one-line ``MlfabricError``."""
    try:
        yield
    except MlfabricError:
        raise
    except Exception as exc:
        raise MlfabricError(describe(exc, loc, target)) from exc


def probe_source(loc: Location) -> bool:
    """Check the source exists and can be reached; True when it is a single file."""
    _probe_bucket(loc)
    with translated(loc):
        try:
            info = loc.fs.info(loc.root or "/")
        except FileNotFoundError:
            raise NotFound("source", loc.display()) from None
    return info.get("type") == "file"


def probe_destination(loc: Location) -> None:
    """Check the destination can be reached and is (or can become) a folder."""
    _probe_bucket(loc)
    with translated(loc):
        try:
            info = loc.fs.info(loc.root or "/")
        except FileNotFoundError:
            return
    if info.get("type") == "file":
        raise InvalidInput(f"destination {loc.display()} is a file; expected a folder or "
                           "prefix", field="dst")


def _probe_bucket(loc: Location) -> None:
    bucket = loc.bucket
    if bucket is None:
        return
    with translated(loc, f"{loc.protocol}://{bucket}"):
        try:
            loc.fs.info(bucket)
        except FileNotFoundError:
            err = NotFound("bucket", bucket)
            at = f" at {loc.endpoint}" if loc.endpoint else ""
            err.message = f"bucket '{bucket}' not found{at}; create it first"
            raise err from None


def pair_key(src: Location, dst: Location) -> str:
    """Stable id of a (source, destination) pair for the journal."""
    return hashlib.sha256(f"{src.key}\n{dst.key}".encode()).hexdigest()


def open_pair(src_url: str, dst_url: str, *, endpoint_url: str | None = None,
              options: Sequence[str] | Mapping[str, Any] | None = None,
              timeout: float = DEFAULT_TIMEOUT) -> tuple[Location, Location]:
    """Open a source and a destination; refuses pairs where one lies inside the other."""
    opts = parse_options(options)
    src = open_location(src_url, endpoint_url=endpoint_url, options=opts, timeout=timeout)
    dst = open_location(dst_url, endpoint_url=endpoint_url, options=opts, timeout=timeout)
    if endpoint_url and not (src.protocol in _S3 or dst.protocol in _S3):
        raise InvalidInput("--endpoint-url applies to s3:// locations only",
                           field="endpoint_url")
    if src.overlaps(dst):
        raise InvalidInput(f"source {src.display()} and destination {dst.display()} overlap; "
                           "choose folders where neither contains the other", field="dst")
    return src, dst


def open_one(url: str, *, endpoint_url: str | None = None,
             options: Sequence[str] | Mapping[str, Any] | None = None,
             timeout: float = DEFAULT_TIMEOUT) -> Location:
    """Open one location (``scan``)."""
    loc = open_location(url, endpoint_url=endpoint_url, options=parse_options(options),
                        timeout=timeout)
    if endpoint_url and loc.protocol not in _S3:
        raise InvalidInput("--endpoint-url applies to s3:// locations only",
                           field="endpoint_url")
    return loc

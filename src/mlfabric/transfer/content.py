"""Reading file content in chunks: hashing and byte-by-byte comparison."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from mlfabric.oids import new_hash, oid_of_hash

CHUNK = 4 * 2**20


def read_chunks(fs: Any, path: str, on_bytes: Callable[[int], None] | None = None
                ) -> Iterator[bytes]:
    """The file's bytes in chunks of at most ``CHUNK``."""
    with fs.open(path, "rb", block_size=CHUNK) as f:
        while chunk := f.read(CHUNK):
            if on_bytes is not None:
                on_bytes(len(chunk))
            yield chunk


def hash_file(fs: Any, path: str, on_bytes: Callable[[int], None] | None = None) -> str:
    """``sha256:<hex>`` of the file's content."""
    h = new_hash()
    for chunk in read_chunks(fs, path, on_bytes):
        h.update(chunk)
    return oid_of_hash(h)


def same_bytes(fs_a: Any, path_a: str, fs_b: Any, path_b: str,
               on_bytes: Callable[[int], None] | None = None) -> bool:
    """True when both files hold exactly the same bytes."""
    a, b = read_chunks(fs_a, path_a, on_bytes), read_chunks(fs_b, path_b)
    buf_a = buf_b = b""
    try:
        while True:
            if not buf_a:
                buf_a = next(a, b"")
            if not buf_b:
                buf_b = next(b, b"")
            if not buf_a or not buf_b:
                return not buf_a and not buf_b
            n = min(len(buf_a), len(buf_b))
            if buf_a[:n] != buf_b[:n]:
                return False
            buf_a, buf_b = buf_a[n:], buf_b[n:]
    finally:
        a.close()
        b.close()

"""Test trees: write a tree of distinct files, and fingerprint a tree (content or link
target, and permission bits, per path)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def tree_digest(root: Path | str) -> dict[str, tuple[str, int]]:
    """path -> (content sha256 or link target or 'dir', permission bits)."""
    root = Path(root)
    out: dict[str, tuple[str, int]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link:" + os.readlink(p), 0)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), stat.S_IMODE(st.st_mode))
    return out


def write_tree(root: Path, n_files: int, *, dirs: int = 10, size: int = 200,
               seed: int = 0) -> list[str]:
    """``n_files`` files with distinct content spread over nested folders."""
    paths = []
    for i in range(n_files):
        d = root / f"d{i % dirs}" / f"sub{(i // dirs) % 5}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"file-{i:05}.bin"
        p.write_bytes((f"{seed}:{i}:".encode() * (size // 8 + 1))[:size])
        paths.append(p.relative_to(root).as_posix())
    return paths

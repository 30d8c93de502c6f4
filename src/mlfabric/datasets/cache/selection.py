"""Which paths of a version ``cache prepopulate --path P --exclude X`` warms. Pure.

A pattern matches a path when it names it, names a folder above it, or matches it as a
shell glob (``*.jpg``, ``train/*/labels.json``). Folders above a chosen path come along
so the tree stays whole.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from mlfabric.errors import InvalidInput
from mlfabric.storage.manifest import DIR, Manifest


def _clean(patterns: Iterable[str], what: str) -> list[str]:
    out = []
    for p in patterns:
        q = str(p).strip().strip("/")
        if not q or q.startswith("..") or "/../" in f"/{q}/":
            raise InvalidInput(f"invalid {what} '{p}': expected a path inside the dataset",
                               field=what, value=p)
        out.append(posixpath.normpath(q))
    return out


def matches(path: str, pattern: str) -> bool:
    return path == pattern or path.startswith(pattern + "/") or fnmatchcase(path, pattern)


def select_paths(manifest: Manifest, include: Sequence[str],
                 exclude: Sequence[str] = ()) -> Manifest:
    """The part of ``manifest`` under ``include`` and not under ``exclude``; raises when
    nothing matches (a typo should not warm an empty tree)."""
    inc, exc = _clean(include, "path"), _clean(exclude, "exclude")
    chosen = {p: e for p, e in manifest.entries.items()
              if e.kind != DIR and any(matches(p, i) for i in inc)
              and not any(matches(p, x) for x in exc)}
    if not chosen:
        raise InvalidInput(f"no file of the dataset matches {', '.join(inc)}"
                           + (f" minus {', '.join(exc)}" if exc else ""), field="path")
    out = dict(chosen)
    for p in chosen:
        parent = posixpath.dirname(p)
        while parent and parent not in out:
            entry = manifest.entries.get(parent)
            if entry is not None:
                out[parent] = entry
            parent = posixpath.dirname(parent)
    return Manifest(out)

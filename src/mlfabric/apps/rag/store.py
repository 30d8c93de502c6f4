"""A vector index on a volume: a FAISS exact inner-product index with stable chunk ids
(``IndexIDMap2`` over ``IndexFlatIP``, so a changed document's vectors are removed and
re-added without a rebuild) and JSON beside it: the chunks, the documents with their
content hashes, the PII report, and the lineage (the snapshot or dataset version it was
built from). A folder of plain files, so volume snapshots version it."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfabric.apps.rag.embed import DIM, MODEL
from mlfabric.errors import NotFound
from mlfabric.extras import require
from mlfabric.names import validate_name

FORMAT = 1


def _faiss():  # type: ignore[no-untyped-def]
    return require("faiss", "rag")


@dataclass
class IndexFiles:
    """An index's state in memory: read from its folder, written back whole-file."""

    folder: Path
    meta: dict[str, Any]
    chunks: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> chunk
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> doc
    vectors: Any = None  # the faiss index

    @classmethod
    def new(cls, folder: Path, name: str, **settings: Any) -> IndexFiles:
        faiss = _faiss()
        meta = {"format": FORMAT, "name": name, "model": MODEL, "dim": DIM,
                "engine": f"faiss {faiss.__version__} IndexIDMap2(IndexFlatIP)",
                "next_id": 0, "hash_key": secrets.token_hex(16), "lineage": [], **settings}
        return cls(folder, meta, vectors=faiss.IndexIDMap2(faiss.IndexFlatIP(DIM)))

    @classmethod
    def load(cls, folder: Path) -> IndexFiles:
        if not (folder / "meta.json").is_file():
            raise NotFound("index", folder.name)
        read = lambda n: json.loads((folder / n).read_text())  # noqa: E731
        return cls(folder, read("meta.json"), read("chunks.json"), read("documents.json"),
                   _faiss().read_index(str(folder / "index.faiss")))

    def add(self, doc: str, chunks: list[dict[str, Any]], vectors: Any) -> list[int]:
        """Add a document's chunks and their vectors; their new ids."""
        import numpy as np

        first = int(self.meta["next_id"])
        ids = list(range(first, first + len(chunks)))
        self.meta["next_id"] = first + len(chunks)
        if ids:
            self.vectors.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        for i, c in zip(ids, chunks, strict=True):
            self.chunks[str(i)] = {"document": doc, **c}
        return ids

    def remove(self, doc: str) -> int:
        """Drop a document and its vectors; how many chunks went."""
        import numpy as np

        entry = self.documents.pop(doc, None)
        ids = entry.get("ids", []) if entry else []
        if ids:
            self.vectors.remove_ids(np.asarray(ids, dtype=np.int64))
        for i in ids:
            self.chunks.pop(str(i), None)
        return len(ids)

    def search(self, vectors: Any, k: int) -> list[list[tuple[float, dict[str, Any]]]]:
        """The ``k`` nearest chunks of each query vector, best first, with their scores."""
        if self.vectors.ntotal == 0:
            return [[] for _ in range(len(vectors))]
        scores, ids = self.vectors.search(vectors, min(k, self.vectors.ntotal))
        return [[(float(s), {"id": int(i), **self.chunks[str(int(i))]})
                 for s, i in zip(row_s, row_i, strict=True) if i >= 0]
                for row_s, row_i in zip(scores, ids, strict=True)]

    def save(self) -> None:
        """Write every file to a temporary name, then rename it into place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        faiss = _faiss()
        tmp = self.folder / "index.faiss.tmp"
        faiss.write_index(self.vectors, str(tmp))
        os.replace(tmp, self.folder / "index.faiss")
        for name, value in (("chunks.json", self.chunks), ("documents.json", self.documents),
                            ("meta.json", self.meta)):  # meta last: it marks a whole index
            tmp = self.folder / f"{name}.tmp"
            tmp.write_text(json.dumps(value, sort_keys=True))
            os.replace(tmp, self.folder / name)


def index_folder(volume_path: str, name: str) -> Path:
    """Where index ``name`` lives on a volume: ``rag/NAME``."""
    validate_name(name, "index name")
    return Path(volume_path) / "rag" / name

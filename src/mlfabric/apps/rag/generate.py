"""An adapter to an OpenAI-compatible chat-completions endpoint (``POST
{url}/chat/completions``): what answers when one is configured. It receives only the
retrieved chunks, with every PII finding masked, and the question."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlfabric.errors import MlfabricError
from mlfabric.extras import require

SYSTEM = ("Answer the question using only the numbered context passages. Cite passages as "
          "[n]. If the context does not contain the answer, say you do not know.")


@dataclass(frozen=True)
class Endpoint:
    """Where to generate: base URL (``.../v1``), model name and an optional API key."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0

    @classmethod
    def configured(cls, url: str | None = None, model: str | None = None) -> Endpoint | None:
        """The endpoint named by the arguments or ``MLFABRIC_RAG_LLM_URL``,
        ``MLFABRIC_RAG_LLM_MODEL`` and ``MLFABRIC_RAG_LLM_KEY``; None when neither."""
        url = url or os.environ.get("MLFABRIC_RAG_LLM_URL")
        if not url:
            return None
        return cls(url.rstrip("/"), model or os.environ.get("MLFABRIC_RAG_LLM_MODEL", "default"),
                   os.environ.get("MLFABRIC_RAG_LLM_KEY"))


def messages(question: str, passages: list[str]) -> list[dict[str, str]]:
    """The chat messages for ``question`` over ``passages`` (already masked)."""
    context = "\n\n".join(f"[{n}] {p}" for n, p in enumerate(passages, 1))
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"}]


def complete(endpoint: Endpoint, question: str, passages: list[str]) -> str:
    """The endpoint's answer text."""
    httpx = require("httpx", "rag")
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    body = {"model": endpoint.model, "messages": messages(question, passages),
            "temperature": 0}
    try:
        r = httpx.post(f"{endpoint.url}/chat/completions", json=body, headers=headers,
                       timeout=endpoint.timeout)
    except httpx.HTTPError as exc:
        raise MlfabricError(f"generation endpoint {endpoint.url} unreachable: {exc}") from exc
    if r.status_code != 200:
        raise MlfabricError(f"generation endpoint {endpoint.url} answered HTTP "
                            f"{r.status_code}: {r.text[:200]}")
    try:
        return str(r.json()["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MlfabricError(f"generation endpoint {endpoint.url} answered no chat "
                            "completion") from exc

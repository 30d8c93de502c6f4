"""Checkpoints: ``OUT/checkpoint.pt`` (model, optimizer, epoch, recipe, the test
metrics of that epoch) and ``OUT/metrics.json`` (the same metrics and the dataset
version, readable without torch). Written to a temporary name, then renamed, so a
preempted job never leaves half a checkpoint."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlfabric.apps.lanes.model import SCNN
from mlfabric.errors import InvalidInput, NotFound

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


@dataclass
class Checkpoint:
    """A saved state: its recipe, how far it got and what it scored."""

    state: dict[str, Any]

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])

    @property
    def recipe(self) -> dict[str, Any]:
        return dict(self.state["recipe"])

    @property
    def size(self) -> tuple[int, int]:
        w, h = self.state["recipe"]["size"]
        return int(w), int(h)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.state.get("metrics") or {})

    def model(self) -> SCNN:
        m = SCNN(width=int(self.recipe["width"]))
        m.load_state_dict(self.state["model"])
        return m


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(out: Path, state: dict[str, Any], summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    _atomic_write(out / CHECKPOINT, buf.getvalue())
    _atomic_write(out / METRICS, (json.dumps(summary, indent=1) + "\n").encode())


def find_checkpoint(out: str | Path) -> Path | None:
    """The checkpoint file of ``out`` (a folder or the file itself), None if none yet."""
    p = Path(out)
    path = p / CHECKPOINT if p.is_dir() or not p.suffix else p
    return path if path.is_file() else None


def load_checkpoint(out: str | Path) -> Checkpoint:
    path = find_checkpoint(out)
    if path is None:
        raise NotFound("checkpoint", str(out))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise InvalidInput(f"{path}: not a lane checkpoint ({exc})") from exc
    if not isinstance(state, dict) or not {"model", "epoch", "recipe"} <= set(state):
        raise InvalidInput(f"{path}: not a lane checkpoint")
    return Checkpoint(state)

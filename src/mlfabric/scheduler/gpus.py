"""GPU discovery on this machine through ``nvidia-smi`` (absent: nodes are declared)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from mlfabric.errors import InvalidInput, MlfabricError

QUERY = ["--query-gpu=index,memory.total", "--format=csv,noheader,nounits"]
MIB = 1024 * 1024


@dataclass(frozen=True)
class DetectedGpus:
    """What ``nvidia-smi`` reports: the GPU count and the smallest memory per GPU (bytes)."""

    count: int
    memory: int


def parse_nvidia_smi(text: str) -> DetectedGpus:
    """Parse ``index, memory.total`` lines (MiB, no units) into a count and memory."""
    memories: list[int] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not parts[0].isdigit():
            raise InvalidInput(f"unexpected nvidia-smi output line: {line.strip()!r}",
                               field="nvidia-smi")
        try:
            memories.append(int(float(parts[1]) * MIB))
        except ValueError:
            raise InvalidInput(f"unexpected nvidia-smi memory value: {parts[1]!r}",
                               field="nvidia-smi") from None
    if not memories:
        raise InvalidInput("nvidia-smi reported no GPUs", field="nvidia-smi")
    return DetectedGpus(len(memories), min(memories))


def detect_gpus() -> DetectedGpus | None:
    """This machine's GPUs, or None when ``nvidia-smi`` is not installed."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        p = subprocess.run([exe, *QUERY], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MlfabricError(f"nvidia-smi failed: {exc}") from exc
    if p.returncode != 0:
        raise MlfabricError(f"nvidia-smi failed: {(p.stderr or p.stdout).strip()}")
    return parse_nvidia_smi(p.stdout)

"""Parsing ``nvidia-smi --query-gpu=index,memory.total --format=csv,noheader,nounits``."""

from __future__ import annotations

import pytest

from mlfabric.errors import InvalidInput
from mlfabric.scheduler.gpus import parse_nvidia_smi

H100X8 = "".join(f"{i}, 81559\n" for i in range(8))
MIXED = "0, 32768\n1, 16384\n\n"


@pytest.mark.parametrize(("text", "count", "memory"), [
    (H100X8, 8, 81559 * 2**20),
    (MIXED, 2, 16384 * 2**20),  # the smallest GPU bounds what a memory request may ask
])
def test_parses_count_and_memory(text: str, count: int, memory: int) -> None:
    found = parse_nvidia_smi(text)
    assert (found.count, found.memory) == (count, memory)


@pytest.mark.parametrize("text", ["", "No devices were found\n", "0, [N/A]\n"])
def test_rejects_unexpected_output(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_nvidia_smi(text)

"""Input the operating system, a clock or the catalog cannot take is refused where it
enters the library (as ``InvalidInput`` or ``NotFound``), before anything is stored:
the API answers 4xx for it, and no later scheduling cycle trips on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfabric import jobs, tokens
from mlfabric.errors import InvalidInput, NotFound


def test_exec_timeouts_stop_where_the_clock_does(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"timeout .*century"):
        jobs.exec_output("j", ["true"], timeout=2**53 + 1, home=str(tmp_path))


def test_token_ids_past_the_catalog_integers_are_not_found(tmp_path: Path) -> None:
    for token_id in (2**63, 2**70, 0, -1):
        with pytest.raises(NotFound, match="token"):
            tokens.revoke(token_id, home=str(tmp_path))

"""Input the operating system, a clock or the catalog cannot take is refused where it
enters the library (as ``InvalidInput`` or ``NotFound``), before anything is stored:
the API answers 4xx for it, and no later scheduling cycle trips on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfabric import caches, jobs, tokens
from mlfabric.errors import InvalidInput, NotFound
from mlfabric.names import check_text


def test_check_text_refuses_nul_only() -> None:
    assert check_text("any text, even \u00e9 or \\0", "path") == "any text, even \u00e9 or \\0"
    with pytest.raises(InvalidInput, match="path 'a\\\\x00b': contains a NUL") as exc:
        check_text("a\0b", "path")
    assert exc.value.field == "path"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"command": ["python", "-c", "\0"]}, "command"),
    ({"env": ["A=x\0y"]}, "env"),
    ({"env": {"A": "\0"}}, "env"),
    ({"volumes": ["data:in\0put"]}, "volume"),
])
def test_a_job_spec_the_local_runtime_could_not_start_is_refused(kwargs: dict,
                                                                 field: str) -> None:
    """Popen raises ValueError on a NUL: a stored spec with one broke every cycle."""
    with pytest.raises(InvalidInput) as exc:
        jobs.plan_submit("j", project="p", **kwargs)
    assert exc.value.field == field


def test_exec_timeouts_stop_where_the_clock_does(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"timeout .*century"):
        jobs.exec_output("j", ["true"], timeout=2**53 + 1, home=str(tmp_path))


def test_exec_refuses_what_subprocess_cannot_run(tmp_path: Path) -> None:
    for call in (jobs.exec_output, jobs.exec_in):
        with pytest.raises(InvalidInput, match="NUL"):
            call("j", ["true\0"], home=str(tmp_path))


def test_a_cache_pool_path_with_nul_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="NUL") as exc:
        caches.config("p", path=str(tmp_path / "a\0b"), home=str(tmp_path))
    assert exc.value.field == "path"


def test_token_ids_past_the_catalog_integers_are_not_found(tmp_path: Path) -> None:
    for token_id in (2**63, 2**70, 0, -1):
        with pytest.raises(NotFound, match="token"):
            tokens.revoke(token_id, home=str(tmp_path))

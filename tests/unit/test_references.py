"""The operation table's reference rules, held against the library: an argument whose name
says it names a resource needs a declared rule, and a rule must name a real argument."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest

from mlfabric.api import references as R
from mlfabric.api.operations import Operation, operations
from mlfabric.auth import Principal
from mlfabric.errors import AccessDenied, MlfabricError


@dataclass
class FakeOp:
    key: str
    refs: tuple[R.Ref, ...]
    params: tuple[str, ...]


def params(op: FakeOp) -> list[inspect.Parameter]:
    return [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in op.params]


def test_the_real_table_holds() -> None:
    table = operations()
    R.check(table.values(), Operation.parameters)
    declared = sum(len(op.refs) for op in table.values())
    assert declared >= 60


def test_an_undeclared_resource_argument_is_refused() -> None:
    op = FakeOp("jobs.submit", R.parse("name:new"), ("name", "volumes", "gpus"))
    with pytest.raises(MlfabricError, match=r"jobs\.submit: argument 'volumes' names a "
                                            r"resource but has no reference rule"):
        R.check([op], params)


def test_a_rule_for_a_missing_argument_is_refused() -> None:
    op = FakeOp("volumes.show", R.parse("name:volume source:volume"), ("name",))
    with pytest.raises(MlfabricError, match=r"names 'source', which volumes\.show does not"):
        R.check([op], params)


def test_kinds_are_a_closed_set() -> None:
    assert R.parse("a:volume b:mounted-dataset") == (R.Ref("a", "volume"),
                                                     R.Ref("b", "mounted-dataset"))
    with pytest.raises(ValueError, match="unknown reference kind 'volumes'"):
        R.parse("a:volumes")


def test_admins_only_says_what_the_caller_check_does() -> None:
    """``admins_only`` (what the tests of refusal order and the fuzzing rely on) agrees
    with the rule itself, row by row."""
    member = Principal("erin", "member", ("team-b",))
    admin_rows = 0
    for op in operations().values():
        try:
            op.access.check_caller(member)
            refused = False
        except AccessDenied:
            refused = True
        assert op.access.admins_only == refused, op.key
        admin_rows += refused
    assert admin_rows > 20

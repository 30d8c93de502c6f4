"""Schemathesis against a live server over the demo home: whatever a client sends, the
API answers 2xx-4xx and never shows its internals (a Python traceback, pydantic's
messages). A member's run also checks that an admin's operation is a 403 whatever the
request holds; an admin's reaches every operation. Each 5xx this found has a focused
test in ``test_api.py`` or ``tests/unit/test_input_bounds.py``.

The runs are deterministic; to fuzz longer and afresh by hand:
``MLFABRIC_FUZZ_EXAMPLES=50 MLFABRIC_FUZZ_BUDGET_S=600 MLFABRIC_FUZZ_RANDOM=1``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import events, from_schema

from mlfabric import tokens
from mlfabric.api.operations import operations
from tests.server import Server, demo_server

# The demo's nodes and every node the fuzzer adds run on the sim runtime: no process starts.
# Examples per operation in the fuzzing phase (the coverage phase adds its own: boundary
# values, missing and malformed bodies, wrong types, one per rule it knows).
EXAMPLES = int(os.environ.get("MLFABRIC_FUZZ_EXAMPLES", "3"))
# A bound on both runs together; they end well before it on a 2-core machine, and a run
# cut short by it still fails on what it found.
BUDGET_S = float(os.environ.get("MLFABRIC_FUZZ_BUDGET_S", "30"))
RANDOM = os.environ.get("MLFABRIC_FUZZ_RANDOM") == "1"
LEAKS = ("Traceback", "pydantic")
# Numbers past what a catalog column, a clock or a product of two of them can hold: the
# generator alone rarely draws them.
EDGES = [-1, 0, 2**31, 2**53 + 1, 2**63, 2**70, 1e300, -1e300]


ADMIN_ONLY = {(op.method, "/api/v1" + op.path) for op in operations().values()
              if op.access.admins_only}
STREAMED = {f"{op.method} /api/v1{op.path}" for op in operations().values() if op.stream}
STREAMS = "|".join(f"^{re.escape(k.split()[1])}$" for k in sorted(STREAMED))
assert len(ADMIN_ONLY) > 20  # the table's admin rows are recognised


@schemathesis.check
def no_internals_shown(ctx: Any, response: Any, case: Any) -> bool | None:
    """No answer carries a traceback or pydantic's own messages."""
    text = response.content.decode("utf-8", errors="replace")
    leaked = [word for word in LEAKS if word in text]
    if leaked:
        raise AssertionError(f"the answer shows {', '.join(leaked)}: {text[:300]}")
    return None


@schemathesis.check
def members_refused_first(ctx: Any, response: Any, case: Any) -> bool | None:
    """A member's request to an admin's operation is a 403, malformed or not (the
    member's run only)."""
    if (case.operation.method.upper(), case.operation.path) in ADMIN_ONLY \
            and response.status_code != 403:
        raise AssertionError(f"a member got {response.status_code}, not 403")
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("fuzz") / "home") as s:
        yield s


def _confined(sandbox: Path, keep_tokens: set[int]) -> Any:
    """A ``map_case`` hook that keeps what the fuzzer sends on this machine and short.

    Locations (transfer sources and targets, a remote's URL, a cache pool's folder) are
    kept under ``sandbox`` (the generated text is still there, below it), so nothing
    outside is read, written or deleted and no network is reached; servers listen on
    127.0.0.1 (a host name would be looked up in the DNS); commands run next to a job are
    ``true``; an inference server is not waited for; the tokens the run uses are not
    revoked."""

    def map_case(context: Any, case: Any) -> Any:
        body = case.body
        if isinstance(body, dict):
            for key in ("src", "dst", "path"):
                if isinstance(body.get(key), str):
                    body[key] = f"{sandbox}/{key}/{body[key].replace('..', '_')}"
            if isinstance(body.get("url"), str):
                body["url"] = f"file://{sandbox}/url/{body['url'].replace('..', '_')}"
            body.pop("endpoint_url", None)
            if "command" in body and case.operation.path.endswith("/exec"):
                body["command"] = ["true"]
            if case.operation.path.endswith("/inference"):
                body["wait_s"] = 0
            if "host" in body:  # a name to listen on is looked up in the DNS
                body["host"] = "127.0.0.1"
        params = case.path_parameters or {}
        if str(params.get("token_id")) in {str(t) for t in keep_tokens}:
            params["token_id"] = 10**6
        return case

    return map_case


def _known_values(admin: httpx.Client) -> list[str]:
    """Names the demo home has (volumes, snapshots, projects, nodes, datasets and their
    versions, remotes, jobs, pools) and values of the shapes the operations read (sizes,
    durations, labels): the fuzzer mixes them into its strings, so that its requests get
    past "not found" and into the operations."""
    def names(path: str, key: str = "name") -> list[str]:
        return [str(x[key]) for x in admin.get(path).json()]

    values = ["1", "0.5", "1Gi", "10s", "project=team-b", "sim", "default", "size",
              "9999999999999999999999Ei", "1e300", "1e300d", "-1",
              # free names: the operations that create get past "already exists"
              *(f"fuzz-{i}" for i in range(10))]
    for volume in names("/volumes"):
        values += [volume, *names(f"/volumes/{volume}/snapshots", "ref")]
    for dataset in names("/datasets"):
        values += [dataset, *(f"{dataset}:{v}" for v in names(f"/datasets/{dataset}/versions",
                                                               "version"))]
    for path in ("/projects", "/nodes", "/remotes", "/jobs", "/cache-pools"):
        values += names(path)
    return sorted(set(values))


def _parameter_keys(spec: dict[str, Any]) -> set[str]:
    """Every parameter of the schema as schemathesis names it (``query.project``,
    ``body.size``)."""
    keys = set()
    for item in spec["paths"].values():
        for op in item.values():
            keys |= {f"{p['in']}.{p['name']}" for p in op.get("parameters", ())}
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            keys |= {f"body.{name}" for name in body.get("schema", {}).get("properties", {})}
    return keys


def _fuzz(server: Server, token: str, *, member: bool, known: list[str], sandbox: Path,
          keep_tokens: set[int], deadline: float) -> tuple[list[str], set[str], bool]:
    """Run schemathesis with ``token``: the failures, the operations it called, and
    whether the deadline cut it short."""
    spec = httpx.get(server.url + "/openapi.json").json()
    config = schemathesis.Config.from_dict({
        "base-url": server.url,
        "headers": {"Authorization": f"Bearer {token}"},
        "request-timeout": 20,
        "continue-on-failure": True,
        "dictionaries": {"values": {"values": [*known, *EDGES]}},
        "parameters": {key: {"dictionary": "values", "probability": 0.4}
                       for key in _parameter_keys(spec)},
        # no shrinking: a failure is reported as drawn (a curl line), in bounded time
        "generation": {"max-examples": EXAMPLES, "deterministic": not RANDOM,
                       "no-shrink": True},
        "phases": {
            # the schema has no examples
            "examples": {"enabled": False},
            # boundary values, missing and malformed bodies, wrong types (for the admin:
            # a member is refused most of it, and the fuzzing phase sends both valid and
            # malformed requests); not the methods an operation lacks (the framework's 405)
            "coverage": {"enabled": not member, "unexpected-methods": []},
            # links between operations are not declared: the other phases reach them all
            "stateful": {"enabled": False},
        },
        "checks": {"enabled": False, "not_a_server_error": {"enabled": True},
                   "no_internals_shown": {"enabled": True},
                   "members_refused_first": {"enabled": member}},
        # streams follow their job or call until it ends: test_api.py and the apps' own
        # tests cover them
        "operations": [{"include-path-regex": STREAMS, "enabled": False}],
    })
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json", config=config)
    schema.hook(_confined(sandbox, keep_tokens))
    failures: list[str] = []
    called: set[str] = set()
    cut = False
    stream = from_schema(schema).execute()
    for event in stream:
        if not cut and time.monotonic() > deadline:
            cut = True
            stream.stop()  # the stream then finishes the scenario it runs and ends
        if isinstance(event, events.ScenarioFinished):
            rec = event.recorder
            if rec.interactions:
                called.add(rec.label)
            for case_id, checks in rec.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    interaction = rec.interactions.get(case_id)
                    response = interaction.response if interaction is not None else None
                    answer = (f"{response.status_code} {response.content[:300]!r}"
                              if response is not None else "no answer")
                    failures.append(f"{rec.label}: {check.failure_info.failure.title}: "
                                    f"{check.failure_info.code_sample} -> {answer}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"{getattr(event, 'label', '?')}: {event.value!r}")
    return failures, called, cut


def test_no_input_makes_the_api_fail(server: Server, tmp_path: Path) -> None:
    bob = tokens.create(user="bob", projects=["team-b"], home=str(server.home))
    with server.client() as admin:
        admin_id = next(t["id"] for t in admin.get("/tokens").json() if t["user"] == "admin")
        known = _known_values(admin)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("fuzz")
    run = {"known": known, "sandbox": tmp_path, "keep_tokens": {admin_id, bob.id}}
    start = time.monotonic()
    deadline = start + BUDGET_S
    failures, member_called, member_cut = _fuzz(server, bob.secret or "", member=True,
                                                deadline=deadline, **run)
    middle = time.monotonic()
    more, admin_called, admin_cut = _fuzz(server, server.token or "", member=False,
                                          deadline=deadline, **run)
    failures += more
    print(f"fuzzed {len(member_called)} operations as a member in {middle - start:.1f}s, "
          f"{len(admin_called)} as an admin in {time.monotonic() - middle:.1f}s")
    log = "".join(server.lines[-60:])
    assert not failures, "\n".join(failures) + "\nthe server's last lines:\n" + log
    if not (member_cut or admin_cut):  # the filters and the hook left the runs their work
        served = {f"{m.upper()} {p}" for p, item in
                  httpx.get(server.url + "/openapi.json").json()["paths"].items()
                  for m in item} - STREAMED
        assert member_called == served == admin_called, served ^ admin_called

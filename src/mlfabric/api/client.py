"""The library over HTTP: ``RemoteModule("volumes").create(...)`` calls the server's
``POST /api/v1/volumes`` and returns the same ``Volume`` the local call would.

Arguments are bound to the local function's signature (so a wrong call fails the same
way), only the ones given travel, and the result is rebuilt from its return annotation.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from mlfabric.api import errors, operations, wire
from mlfabric.config import SERVER_ENV, TOKEN_ENV
from mlfabric.errors import AccessDenied, MlfabricError

API = "/api/v1"


class Connection:
    """A server address and token; one HTTP client per process."""

    def __init__(self, url: str, token: str | None, timeout: float = 600.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url + API, headers=headers, timeout=timeout)

    @classmethod
    def from_env(cls) -> Connection | None:
        url = os.environ.get(SERVER_ENV)
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise MlfabricError(f"{SERVER_ENV} must be an http:// or https:// URL, not '{url}'")
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise AccessDenied(f"{SERVER_ENV} is set: set {TOKEN_ENV} to an API token too",
                               unauthenticated=True)
        return cls(url, token)

    def request(self, op: operations.Operation, args: dict[str, Any],
                stream: bool = False) -> httpx.Response:
        path = op.path
        for name in op.path_params:
            path = path.replace("{" + name + "}", quote(str(args.pop(name)), safe=""))
        query = _query(args) if op.in_query else None
        body = None if op.in_query else args
        try:
            req = self.http.build_request(op.method, path, params=query, json=body)
            resp = self.http.send(req, stream=stream)
        except httpx.HTTPError as exc:
            raise MlfabricError(f"cannot reach the server at {self.url}: {exc}") from exc
        if resp.status_code >= 400:
            if stream:
                resp.read()
            raise errors.rebuild(resp.status_code, _json(resp))
        return resp


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except json.JSONDecodeError:
        return resp.text


def _query(args: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for k, v in args.items():
        for item in v if isinstance(v, list | tuple) else [v]:
            if item is not None:
                pairs.append((k, json.dumps(item) if isinstance(item, bool) else str(item)))
    return pairs


def _bound(op: operations.Operation, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> dict[str, Any]:
    given = inspect.signature(op.func).bind_partial(*args, **kwargs).arguments
    out = {}
    for k, v in given.items():
        if k in operations.SERVER_OWNED:
            continue
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


class RemoteModule:
    """Stands in for ``mlfabric.<module>`` in client mode."""

    # Calls with a terminal-bound local form and a captured remote one.
    _ADAPTED: ClassVar[dict[tuple[str, str], str]] = {("jobs", "exec_in"): "exec_output"}

    def __init__(self, module: str, connect: Callable[[], Connection]) -> None:
        self._module, self._connect = module, connect

    def __getattr__(self, function: str) -> Any:
        target = self._ADAPTED.get((self._module, function), function)
        op = operations.find(self._module, target)
        if op is None:
            local = getattr(importlib.import_module(f"mlfabric.{self._module}"), function)
            if not callable(local) or isinstance(local, type):
                return local  # constants and record classes are the same in both modes
            return _unavailable(f"{self._module}.{function}")
        call = self._stream(op) if op.stream else self._call(op)
        if target != function:
            return _print_exec(call)
        return call

    def _call(self, op: operations.Operation) -> Callable[..., Any]:
        rtype = wire.return_type(op.func)

        def call(*args: Any, **kwargs: Any) -> Any:
            resp = self._connect().request(op, _bound(op, args, kwargs))
            return wire.decode(resp.json(), rtype)

        return call

    def _stream(self, op: operations.Operation) -> Callable[..., Iterator[str]]:
        def call(*args: Any, **kwargs: Any) -> Iterator[str]:
            resp = self._connect().request(op, _bound(op, args, kwargs), stream=True)
            try:
                yield from resp.iter_text()
            finally:
                resp.close()

        return call


def _unavailable(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise MlfabricError(f"'{name}' runs only on the server's machine: unset {SERVER_ENV} "
                            "to use it locally")

    return call


def _print_exec(call: Callable[..., Any]) -> Callable[..., int]:
    def run(*args: Any, **kwargs: Any) -> int:
        result = call(*args, **kwargs)
        sys.stdout.write(result.output)
        sys.stdout.flush()
        return int(result.exit_code)

    return run

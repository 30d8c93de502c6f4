"""FastAPI routes built from the operation table: one endpoint per library function.

Each endpoint gets a real signature (path parameters, typed query parameters, or a body
model that forbids unknown fields), so validation errors are 422s with a message and
``/docs`` shows every operation. Only the arguments a caller gave reach the function:
its own defaults apply otherwise.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from mlfabric.api.auth import principal
from mlfabric.api.operations import Operation, operations
from mlfabric.auth import Principal
from mlfabric.errors import InvalidInput
from mlfabric.records import jsonable


def _wire_type(tp: Any) -> Any:
    """``tp`` if pydantic can validate it from JSON, else ``Any``."""
    try:
        TypeAdapter(tp)
    except Exception:  # pydantic raises several kinds for unsupported types
        return Any
    return tp


def _query_type(tp: Any) -> Any:
    """Query strings carry scalars or repeated scalars."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (list, tuple) or (args and any(typing.get_origin(a) in (list, tuple)
                                                for a in args)):
        return list[str] | None
    return _wire_type(tp)


def _required(op: Operation, p: inspect.Parameter) -> bool:
    """Required of the caller: no default, and no access rule that may supply it."""
    return p.default is inspect.Parameter.empty and p.name not in op.access.fills()


def _body_model(op: Operation, params: list[inspect.Parameter],
                hints: dict[str, Any]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for p in params:
        tp = _wire_type(hints.get(p.name, Any))
        required = _required(op, p)
        fields[p.name] = (tp, ... if required else None)
    name = "".join(w.title() for w in op.key.replace(".", "_").split("_")) + "Body"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def _endpoint(op: Operation) -> Callable[..., Any]:
    func = op.func
    hints = typing.get_type_hints(func)
    params = op.parameters()
    takes_home = "home" in inspect.signature(func).parameters
    takes_history = "history" in inspect.signature(func).parameters
    in_path = set(op.path_params)
    sig: list[inspect.Parameter] = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter("who", inspect.Parameter.KEYWORD_ONLY, annotation=Principal,
                          default=Depends(principal)),
    ]
    for p in params:
        if p.name in in_path:
            sig.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                         annotation=_wire_type(hints.get(p.name, Any)),
                                         default=Path()))
        elif op.in_query:
            required = _required(op, p)
            sig.append(inspect.Parameter(
                p.name, inspect.Parameter.KEYWORD_ONLY,
                annotation=_query_type(hints.get(p.name, Any)),
                default=Query(... if required else None)))
    model = None
    if not op.in_query:
        model = _body_model(op, [p for p in params if p.name not in in_path], hints)
        sig.append(inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY,
                                     annotation=model, default=Body(default_factory=model)))

    def endpoint(request: Request, who: Principal, **values: Any) -> Any:
        home = request.app.state.home
        args = {k: v for k, v in values.items()
                if k in in_path or k in request.query_params}
        if model is not None:
            body = values["body"]
            args.update({k: getattr(body, k) for k in body.model_fields_set})
        args = op.access.check(who, args, home)
        missing = [p.name for p in params
                   if p.default is inspect.Parameter.empty and p.name not in args]
        if missing:
            raise InvalidInput(f"give {', '.join(missing)}", field=missing[0])
        if takes_history:  # the dashboard's allocation samples, kept by this server
            from mlfabric.web import history

            args["history"] = history(request.app)
        result = func(**args, home=home) if takes_home else func(**args)
        if op.stream:
            return _stream(result)
        return JSONResponse(jsonable(op.access.filter(who, result)))

    endpoint.__signature__ = inspect.Signature(sig)  # type: ignore[attr-defined]
    endpoint.__name__ = op.key.replace(".", "_")
    endpoint.__doc__ = inspect.getdoc(func)
    return endpoint


def _stream(chunks: Iterator[str]) -> StreamingResponse:
    """Start the iterator here so that its errors (unknown job) are still a 4xx."""
    first = next(chunks, "")

    def body() -> Iterator[str]:
        yield first
        yield from chunks

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1")
    for op in operations().values():
        r.add_api_route(op.path, _endpoint(op), methods=[op.method], tags=[op.module],
                        summary=(inspect.getdoc(op.func) or op.key).splitlines()[0],
                        name=op.key)
    return r

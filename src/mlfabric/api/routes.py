"""FastAPI routes built from the operation table: one endpoint per library function.

Each endpoint gets a real signature (path parameters, typed query parameters, or a body
model that forbids unknown fields), so validation errors are 422s with a message and
``/docs`` shows every operation. Only the arguments a caller gave reach the function:
its own defaults apply otherwise.

Who may call is decided before any argument is read: the caller is authenticated (401)
and the rules that need no argument (admin only) refuse it (403) in a dependency that
the body's own dependency depends on, and FastAPI solves dependencies before it
validates path and query parameters. So the body is read here, not by FastAPI (which
would parse it before any dependency runs): missing, not JSON, not an object or of the
wrong types, it is a 422 in the usual error format. Rules that look at the arguments
(a project's or a volume's owner) run after parsing, in the endpoint.
"""

from __future__ import annotations

import inspect
import json
import math
import typing
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

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


def _caller(op: Operation) -> Callable[[Request], Principal]:
    """The dependency that authenticates the request and applies ``op``'s rules that
    need no argument."""

    def caller(request: Request) -> Principal:
        who = principal(request)
        op.access.check_caller(who)
        return who

    return caller


def _invalid(where: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", *where), "msg": message}])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _json_kind(value: Any) -> str:
    kinds = ((bool, "a boolean"), (int | float, "a number"), (str, "a string"),
             (list, "an array"))
    return next((name for tp, name in kinds if isinstance(value, tp)), "null")


def parse_body(model: type[BaseModel], raw: bytes, content_type: str | None) -> BaseModel:
    """The arguments in a request body, or a ``RequestValidationError`` (a 422) that
    names what is wrong without pydantic's internals. No body means no arguments."""
    if not raw.strip():
        data: Any = {}
    else:
        media = (content_type or "application/json").split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise _invalid((), f"send a JSON object (content-type application/json), "
                           f"not {media or 'no type'}")
        try:
            # NaN and Infinity are not JSON (nor 1e400, which Python reads as infinity),
            # and no JSON answer could carry them back
            data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite)
        except json.JSONDecodeError as exc:
            raise _invalid((exc.pos,), f"JSON decode error: {exc.msg}") from None
        except ValueError as exc:  # not UTF-8, NaN or out of range
            raise _invalid((), f"JSON decode error: {exc}") from None
        except RecursionError:
            raise _invalid((), "JSON decode error: nested too deeply") from None
    if not isinstance(data, dict):
        raise _invalid((), f"give the arguments as a JSON object, not {_json_kind(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"]}
             for e in exc.errors(include_url=False, include_context=False,
                                 include_input=False)]) from None


def _body(model: type[BaseModel], caller: Callable[[Request], Principal]) -> Callable[..., Any]:
    """The dependency that reads the body, once ``caller`` has let the request through."""

    async def body(request: Request, who: Principal = Depends(caller)) -> BaseModel:
        return parse_body(model, await request.body(), request.headers.get("content-type"))

    return body


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` written in place: an OpenAPI document resolves
    ``#/$defs/...`` against its own root, where they are not."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [resolve(x, seen) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            return {} if name in seen else resolve(defs[name], seen | {name})
        return {k: resolve(v, seen) for k, v in node.items()}

    return resolve(schema, frozenset())


def request_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The ``requestBody`` of an operation whose body ``parse_body`` reads."""
    required = any(f.is_required() for f in model.model_fields.values())
    return {"requestBody": {"required": required, "content": {
        "application/json": {"schema": _inline_refs(model.model_json_schema())}}}}


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _refuse_nul(args: dict[str, Any], in_path: set[str], has_body: bool) -> None:
    """No argument of any operation may hold a NUL character: no path, command,
    variable or name of the operating system can carry one (``os`` raises ValueError)."""
    bad = [name for name, value in args.items() if _has_nul(value)]
    if bad:
        raise RequestValidationError([
            {"loc": ("path" if name in in_path else "body" if has_body else "query", name),
             "msg": "contains a NUL character"} for name in bad])


def _endpoint(op: Operation) -> tuple[Callable[..., Any], type[BaseModel] | None]:
    func = op.func
    hints = typing.get_type_hints(func)
    params = op.parameters()
    takes_home = "home" in inspect.signature(func).parameters
    takes_history = "history" in inspect.signature(func).parameters
    in_path = set(op.path_params)
    caller = _caller(op)
    sig: list[inspect.Parameter] = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter("who", inspect.Parameter.KEYWORD_ONLY, annotation=Principal,
                          default=Depends(caller)),
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
                                     annotation=model, default=Depends(_body(model, caller))))

    def endpoint(request: Request, who: Principal, **values: Any) -> Any:
        home = request.app.state.home
        args = {k: v for k, v in values.items()
                if k in in_path or k in request.query_params}
        if model is not None:
            body = values["body"]
            args.update({k: getattr(body, k) for k in body.model_fields_set})
        _refuse_nul(args, in_path, model is not None)
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
    return endpoint, model


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
        endpoint, model = _endpoint(op)
        r.add_api_route(op.path, endpoint, methods=[op.method], tags=[op.module],
                        summary=(inspect.getdoc(op.func) or op.key).splitlines()[0],
                        name=op.key,
                        openapi_extra=request_body_doc(model) if model is not None else None)
    return r

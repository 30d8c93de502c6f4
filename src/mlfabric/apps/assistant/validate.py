"""The static validator of a flow set: what would break a conversation, found before one
runs, each with its file and line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mlfabric.apps.assistant.engine import ENGINE_KEYS
from mlfabric.apps.assistant.flows import (
    HOME_STATE,
    MAIN,
    START,
    Flow,
    FlowSet,
    State,
    template_keys,
)
from mlfabric.records import Record

# The transitions each state type takes (a fulfillment state: next and error).
TRANSITIONS = {
    "message_text": ("next",), "message_text_random": ("next",),
    "input_user": ("match", "notmatch"), "input_context": ("match", "notmatch"),
    "conditional_exists": ("exists", "notexists"), "change_context": ("next",),
    "reset": ("next",),
}
REQUIRED = {"conditional_exists": ("exists", "notexists")}
FULFILLMENT = ("next", "error")
ERROR_KEY = "error"  # a fulfillment state that fails sets it before its error transition


@dataclass(frozen=True)
class Defect(Record):
    """One problem of a flow set, where it is."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def validate(flows: FlowSet, *, adapters: Mapping[str, Iterable[str]],
             intents: Iterable[str] | None = None) -> list[Defect]:
    """Every defect of ``flows``: unknown state types, missing or unreachable states,
    dangling transitions, intents or flows that do not exist, keys read but never set,
    and cycles that never wait for the user. ``adapters`` maps each fulfillment state
    type to the context keys it sets; ``intents``, when given, are the NLU's."""
    out: list[Defect] = []
    outputs = {k: tuple(v) for k, v in adapters.items()}
    known_intents = set(intents) if intents is not None else None
    main = flows.flows.get(MAIN)
    if main is None:
        first = next(iter(flows.flows.values()))
        out.append(Defect(first.path, 1, "no flow named 'main' (where conversations start)"))
    elif getattr(main.states.get(HOME_STATE), "type", None) != "input_user":
        out.append(Defect(main.path, main.line,
                          f"flow main has no input_user state {HOME_STATE} to come back to"))
    for flow in flows.flows.values():
        out += _check_flow(flow, flows, outputs, known_intents)
    out += _check_keys(flows, outputs)
    out += _check_cycles(flows)
    return sorted(out, key=lambda d: (d.path, d.line, d.message))


def _targets(state: State) -> list[tuple[str, str]]:
    """(transition, target state) inside the state's own flow."""
    return [(k, v) for k, v in state.transitions.items() if k != "flow"]


def _check_flow(flow: Flow, flows: FlowSet, outputs: dict[str, tuple[str, ...]],
                intents: set[str] | None) -> list[Defect]:
    out: list[Defect] = []
    for intent, target in flow.intent_transitions.items():
        line = flow.lines.get(f"intent_transitions.{intent}", flow.line)
        if target not in flows.flows:
            out.append(Defect(flow.path, line, f"intent {intent} goes to unknown flow "
                              f"'{target}'"))
        if intents is not None and intent not in intents:
            out.append(Defect(flow.path, line, f"intent '{intent}' is not one the NLU knows"))
    if START not in flow.states:
        out.append(Defect(flow.path, flow.line, f"flow {flow.name} has no {START} state"))
    for s in flow.states.values():
        allowed = TRANSITIONS.get(s.type, FULFILLMENT if s.type in outputs else None)
        if allowed is None:
            out.append(Defect(flow.path, s.line_of("type"), f"state {s.name} has unknown "
                              f"type '{s.type}' (neither a built-in nor an adapter)"))
            continue
        for key in REQUIRED.get(s.type, ()):
            if key not in s.transitions:
                out.append(Defect(flow.path, s.line, f"state {s.name} ({s.type}) has no "
                                  f"'{key}' transition"))
        for key, target in s.transitions.items():
            line = s.line_of(f"transitions.{key}")
            if key == "flow":
                if target not in flows.flows:
                    out.append(Defect(flow.path, line, f"state {s.name} goes to unknown "
                                      f"flow '{target}'"))
            elif key not in allowed:
                out.append(Defect(flow.path, line, f"state {s.name} ({s.type}) has no "
                                  f"transition '{key}' (it takes {', '.join(allowed)})"))
            elif target not in flow.states:
                out.append(Defect(flow.path, line, f"transition {s.name}.{key} goes to "
                                  f"unknown state '{target}'"))
    reached = _reachable(flow)
    for s in flow.states.values():
        if s.name not in reached and START in flow.states:
            out.append(Defect(flow.path, s.line, f"state {s.name} is unreachable from "
                              f"{START}"))
    return out


def _reachable(flow: Flow) -> set[str]:
    seen: set[str] = set()
    todo = [START] if START in flow.states else []
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.states:
            continue
        seen.add(name)
        todo += [t for _, t in _targets(flow.states[name])]
    return seen


def sets(state: State, outputs: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The context keys a state writes."""
    p = state.properties
    if state.type in ("input_user", "input_context"):
        return [str(v) for v in (p.get("entities") or {}).values()]
    if state.type == "change_context":
        return [str(k) for k in (p.get("update_keys") or {})]
    if state.type in outputs:
        return [*outputs[state.type], ERROR_KEY]
    return []


def _check_keys(flows: FlowSet, outputs: Mapping[str, tuple[str, ...]]) -> list[Defect]:
    written = {*ENGINE_KEYS, *(k for f in flows.flows.values() for s in f.states.values()
                               for k in sets(s, outputs))}
    out = []
    for f in flows.flows.values():
        for s in f.states.values():
            for prop, value in s.properties.items():
                for key in template_keys(value):
                    if key not in written:
                        out.append(Defect(f.path, s.line_of(f"properties.{prop}"),
                                          f"state {s.name} reads '{{{{{key}}}}}' but no "
                                          "state ever sets it"))
    return out


def _check_cycles(flows: FlowSet) -> list[Defect]:
    """A loop of states none of which waits for input: the engine would spin."""
    out: list[Defect] = []
    Node = tuple[str, str]

    def edges(node: Node) -> list[tuple[Node, int]]:
        f = flows.flows[node[0]]
        s = f.states.get(node[1])
        if s is None or s.type == "input_user":
            return []
        nxt = []
        for key, target in s.transitions.items():
            dest = (target, START) if key == "flow" else (node[0], target)
            if dest[0] in flows.flows and dest[1] in flows.flows[dest[0]].states:
                nxt.append((dest, s.line_of(f"transitions.{key}")))
        return nxt

    color: dict[Node, int] = {}
    reported: set[frozenset[Node]] = set()
    for f in flows.flows.values():
        for name in f.states:
            root = (f.name, name)
            if color.get(root):
                continue
            stack = [(root, iter(edges(root)))]
            path = [root]
            color[root] = 1
            while stack:
                node, it = stack[-1]
                step = next(it, None)
                if step is None:
                    color[node] = 2
                    stack.pop()
                    path.pop()
                    continue
                dest, line = step
                if color.get(dest) == 1:
                    loop = path[path.index(dest):]
                    if frozenset(loop) not in reported:
                        reported.add(frozenset(loop))
                        names = " -> ".join(f"{a}.{b}" for a, b in [*loop, dest])
                        out.append(Defect(flows.flows[node[0]].path, line,
                                          f"cycle without input: {names}"))
                elif not color.get(dest):
                    color[dest] = 1
                    path.append(dest)
                    stack.append((dest, iter(edges(dest))))
    return out

"""Dialog flows in the seed's YAML format (ALQUIST's, with Jarvis's additions), read with
the line of every key so the validator and the engine can point at the file.

A flow file::

    name: weather
    intent_transitions:          # intent -> flow, checked at every input_user state
      weather: weather
    states:
      START:
        type: conditional_exists
        properties: {key: '{{location}}'}
        transitions: {exists: FETCH, notexists: ASK}
      ...

A transition target is a state of the same flow; the transition ``flow`` names another
flow (it starts at that flow's ``START``). A state without transitions ends the flow:
the conversation goes back to ``main``'s ``INPUT``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlfabric.errors import InvalidInput

START = "START"
MAIN = "main"
HOME_STATE = "INPUT"  # where a finished flow hands the conversation back (in main)
ERROR_FLOW = "error"

TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class FlowError(InvalidInput):
    """A flow file that cannot be read (malformed YAML, wrong shape), with its place."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}", field="flow", value=path)
        self.path = path
        self.line = line


@dataclass(frozen=True)
class State:
    """One state: its type, properties and transitions, and the lines they are on."""

    name: str
    type: str
    properties: dict[str, Any]
    transitions: dict[str, str]
    line: int
    lines: dict[str, int] = field(default_factory=dict)  # "transitions.next" -> line

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


@dataclass(frozen=True)
class Flow:
    """One flow file."""

    name: str
    path: str
    states: dict[str, State]
    intent_transitions: dict[str, str]
    line: int = 1
    lines: dict[str, int] = field(default_factory=dict)  # "intent_transitions.X" -> line


@dataclass(frozen=True)
class FlowSet:
    """The flows of one assistant, by name."""

    flows: dict[str, Flow]

    def flow(self, name: str) -> Flow:
        try:
            return self.flows[name]
        except KeyError:
            raise InvalidInput(f"no flow named '{name}'", field="flow", value=name) from None

    def intents(self) -> dict[str, str]:
        """main's intent transitions: they hold at every input state of every flow."""
        main = self.flows.get(MAIN)
        return dict(main.intent_transitions) if main else {}


def template_keys(value: Any) -> list[str]:
    """The context keys a value reads through ``{{key}}`` (in strings, lists, dicts)."""
    if isinstance(value, str):
        return TEMPLATE.findall(value)
    if isinstance(value, dict):
        return [k for v in value.values() for k in template_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in template_keys(v)]
    return []


def render(value: Any, context: dict[str, Any]) -> Any:
    """``value`` with each ``{{key}}`` replaced by the context's value (empty if unset)."""
    if isinstance(value, str):
        return TEMPLATE.sub(lambda m: str(context.get(m.group(1), "")), value)
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def _plain(node: yaml.Node, path: str, lines: dict[str, int], where: str) -> Any:
    """A composed YAML node as plain data, recording each mapping key's line."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            here = f"{where}.{key}" if where else key
            lines[here] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, path, lines, here)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, path, lines, f"{where}[{i}]") for i, v in enumerate(node.value)]
    return yaml.constructor.SafeConstructor().construct_object(node)


def parse_flow(text: str, path: str) -> Flow:
    """A flow from its YAML text; ``FlowError`` (with the line) when it cannot be one."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise FlowError(path, line, f"malformed YAML: {exc.problem or exc}") from None
    if not isinstance(node, yaml.MappingNode):
        raise FlowError(path, node.start_mark.line + 1 if node else 1,
                        "a flow file is a mapping with name, intent_transitions and states")
    lines: dict[str, int] = {}
    data = _plain(node, path, lines, "")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise FlowError(path, lines.get("name", 1), "the flow has no name")
    raw_states = data.get("states")
    if not isinstance(raw_states, dict) or not raw_states:
        raise FlowError(path, lines.get("states", 1), "the flow has no states")
    intents = data.get("intent_transitions") or {}
    if not isinstance(intents, dict):
        raise FlowError(path, lines["intent_transitions"],
                        "intent_transitions maps intents to flows")
    states = {}
    for sname, raw in raw_states.items():
        base = f"states.{sname}"
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise FlowError(path, lines[base], f"state {sname} has no type")
        props = raw.get("properties") or {}
        trans = raw.get("transitions") or {}
        if not isinstance(props, dict) or not isinstance(trans, dict):
            raise FlowError(path, lines[base], f"state {sname}: properties and transitions "
                            "are mappings")
        own = {k[len(base) + 1:]: v for k, v in lines.items() if k.startswith(base + ".")}
        states[sname] = State(sname, raw["type"], props, {k: str(v) for k, v in trans.items()},
                              lines[base], own)
    intent_lines = {k: v for k, v in lines.items() if k.startswith("intent_transitions.")}
    return Flow(name, path, states, {str(k): str(v) for k, v in intents.items()},
                lines.get("name", 1), intent_lines)


def load_flows(folder: str | Path) -> FlowSet:
    """Every ``*.yaml``/``*.yml`` flow file of ``folder``."""
    base = Path(folder)
    if not base.is_dir():
        raise InvalidInput(f"flow folder '{folder}' does not exist", field="flows",
                           value=str(folder))
    flows: dict[str, Flow] = {}
    for p in sorted([*base.glob("*.yaml"), *base.glob("*.yml")]):
        f = parse_flow(p.read_text(encoding="utf-8"), str(p))
        if f.name in flows:
            raise FlowError(str(p), f.line, f"flow '{f.name}' is also defined in "
                            f"{flows[f.name].path}")
        flows[f.name] = f
    if not flows:
        raise InvalidInput(f"no flow files (*.yaml) in '{folder}'", field="flows",
                           value=str(folder))
    return FlowSet(flows)


def default_flows() -> Path:
    """The retail flow set shipped with the app."""
    return Path(__file__).with_name("flows")

"""The flow engine: one user turn moves a conversation through its flows' states until
it waits for input again. Pure policy: the NLU and the fulfillment adapters come in as
callables, the conversation's state is a plain value the caller keeps."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlfabric.apps.assistant.flows import (
    ERROR_FLOW,
    HOME_STATE,
    MAIN,
    START,
    FlowSet,
    State,
    render,
)
from mlfabric.errors import MlfabricError
from mlfabric.records import Record

MAX_CHARS = 500  # longer messages are refused (and the conversation goes on)
STEP_LIMIT = 200  # states one turn may pass without waiting for input
ENGINE_KEYS = ("intent", "text")  # the engine sets them at every input


@dataclass(frozen=True)
class Understanding:
    """What the NLU made of one message."""

    intent: str
    confidence: float
    slots: dict[str, str] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


class AdapterError(MlfabricError):
    """A fulfillment adapter could not answer; its message reaches the user."""

    def __init__(self, message: str, *, adapter: str, transient: bool = False) -> None:
        super().__init__(message)
        self.adapter = adapter
        self.transient = transient  # worth another try (time-out, unavailable)


@dataclass
class Conversation:
    """One user's place in the flows and what the assistant remembers of them."""

    flow: str = MAIN
    state: str = START
    context: dict[str, Any] = field(default_factory=dict)
    turn: int = 0
    started: bool = False


@dataclass(frozen=True)
class Turn(Record):
    """The assistant's answer to one message, and what it understood."""

    replies: list[str]
    intent: str | None
    confidence: float | None
    slots: dict[str, str]
    flow: str
    state: str
    context: dict[str, Any]
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


Understand = Callable[[str], Understanding]
Fulfil = Callable[[str, dict[str, Any]], dict[str, Any]]


class Engine:
    """Runs a flow set for conversations; ``threshold``: below this intent confidence a
    message goes to the error flow (unless it answers the question the state asked)."""

    def __init__(self, flows: FlowSet, understand: Understand, fulfil: Fulfil,
                 adapters: Mapping[str, Any], *, threshold: float = 0.5) -> None:
        self.flows = flows
        self.understand = understand
        self.fulfil = fulfil
        self.adapters = adapters
        self.threshold = threshold

    def start(self, conv: Conversation,
              client_context: Mapping[str, Any] | None = None) -> Turn:
        """The greeting: run main from START to its first input (``input_context`` states
        read ``client_context``, what the client knows: its location, its user)."""
        replies: list[str] = []
        if not conv.started:
            conv.started = True
            self._run(conv, MAIN, START, replies, client_context)
        return self._turn(conv, replies, None)

    def reply(self, conv: Conversation, text: str,
              client_context: Mapping[str, Any] | None = None) -> Turn:
        """Answer one message; bad messages get a clear reply and change nothing."""
        replies: list[str] = []
        if not conv.started:
            self.start(conv)
        text = text.strip()
        if not text:
            return self._turn(conv, ["Please type a question."], None)
        if len(text) > MAX_CHARS:
            return self._turn(conv, [f"That message is too long ({len(text)} characters; "
                                     f"at most {MAX_CHARS}). Please ask something shorter."],
                              None)
        conv.turn += 1
        u = self.understand(text)
        conv.context.update(intent=u.intent, text=text)
        flow = self.flows.flow(conv.flow)
        state = flow.states[conv.state]
        target = self._on_input(conv, state, flow.intent_transitions, u)
        self._run(conv, *target, replies, client_context)
        return self._turn(conv, replies, u)

    def _turn(self, conv: Conversation, replies: list[str], u: Understanding | None) -> Turn:
        return Turn(replies, u.intent if u else None, u.confidence if u else None,
                    dict(u.slots) if u else {}, conv.flow, conv.state, dict(conv.context),
                    list(u.tokens) if u else [], list(u.tags) if u else [])

    def _on_input(self, conv: Conversation, state: State, own: Mapping[str, str],
                  u: Understanding) -> tuple[str, str]:
        """Where a message at an input_user state leads: (flow, state)."""
        entities = state.properties.get("entities") or {}
        found = {key: u.slots[slot] for slot, key in entities.items() if slot in u.slots}
        conv.context.update(found)
        require = bool(state.properties.get("require_match", False))
        if found and (len(found) == len(entities) or not require) \
                and "match" in state.transitions:
            return conv.flow, state.transitions["match"]
        confident = u.confidence >= self.threshold
        intents = {**self.flows.intents(), **own}
        if confident and u.intent in intents:
            conv.context.update(u.slots)  # "price of jeans" brings its item along
            return intents[u.intent], START
        if not confident or "notmatch" not in state.transitions:
            return ERROR_FLOW, START
        return conv.flow, state.transitions["notmatch"]

    def _run(self, conv: Conversation, flow: str, name: str, replies: list[str],
             client: Mapping[str, Any] | None = None) -> None:
        """Pass states until one waits for input; a flow that ends hands back to main."""
        for _ in range(STEP_LIMIT):
            f = self.flows.flow(flow)
            s = f.states.get(name)
            if s is None:
                raise MlfabricError(f"{f.path}: flow {flow} has no state {name}")
            if s.type == "input_user":
                conv.flow, conv.state = flow, name
                return
            key = self._act(conv, s, replies, client or {})
            if key in s.transitions:
                name = s.transitions[key]
            elif "flow" in s.transitions:
                flow, name = s.transitions["flow"], START
            else:
                flow, name = MAIN, HOME_STATE
        replies.append("Sorry, something went wrong in this conversation; let's start over.")
        conv.flow, conv.state = MAIN, HOME_STATE

    def _act(self, conv: Conversation, s: State, replies: list[str],
             client: Mapping[str, Any]) -> str:
        """Do what a non-input state does; the transition it takes."""
        ctx, p = conv.context, s.properties
        if s.type == "message_text":
            replies.append(render(str(p.get("text", "")), ctx))
        elif s.type == "message_text_random":
            choices = list(p.get("responses") or [""])
            pick = random.Random(f"{conv.turn}:{s.name}").choice(choices)
            replies.append(render(str(pick), ctx))
        elif s.type == "conditional_exists":
            value = render(str(p.get("key", "")), ctx)
            return "exists" if value.strip() else "notexists"
        elif s.type == "change_context":
            ctx.update(render(dict(p.get("update_keys") or {}), ctx))
        elif s.type == "reset":
            keys = p.get("keys")
            for k in list(ctx) if keys is None else keys:
                ctx.pop(k, None)
        elif s.type == "input_context":
            entities = p.get("entities") or {}
            got = {key: client[src] for src, key in entities.items() if src in client}
            ctx.update(got)
            return "match" if len(got) == len(entities) else "notmatch"
        elif s.type in self.adapters:
            try:
                ctx.update(self.fulfil(s.type, render(dict(p), ctx)))
            except AdapterError as exc:
                ctx["error"] = exc.message
                if "error" not in s.transitions:
                    replies.append(f"Sorry, {exc.message}")
                return "error"
        else:
            raise MlfabricError(f"{s.name}: unknown state type '{s.type}'")
        return "next"

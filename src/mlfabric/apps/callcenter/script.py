"""Scripted support calls: pure policy, no I/O. A seed gives the same conversations.

Each call follows the shape of a support call (greeting, context, the customer's issue,
the agent's action and resolution, the customer's reaction, closing) over a product
vocabulary whose names a stock speech model has never seen. Every sentence carries a
gold sentiment label (``negative``, ``neutral``, ``positive``). Many sentences carry
their sentiment in domain facts ("my refund came through the same day") rather than in
generic sentiment words, which is what a center-trained model can learn and a generic
lexicon cannot; others carry lexicon words where the center's convention says neutral
("please hold while i look that up").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LABELS = ("negative", "neutral", "positive")
SCORES = {"negative": -1, "neutral": 0, "positive": 1}

# Product names: compounds of ordinary words, so that a stock dictionary lacks them but
# their pronunciation follows from their parts.
PRODUCTS = ("zenbox", "flowmax", "quickpod", "nimbuscam", "voltwave", "lumabeam",
            "tracklet", "homehub", "sparkdock", "aquamate", "skyrouter", "pixelpad")
PLANS = ("premium", "family", "starter", "business")
NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DAYS = ("two", "three", "four", "five", "ten")
NAMES = ("sam", "alex", "maria", "james", "priya", "tom", "lucy", "omar")

# (phase, speaker) -> label -> templates
GREETING = {"neutral": ("thank you for calling support this is {agent} speaking",
                        "support desk this is {agent} how can i help",
                        "hello you are through to {agent} in customer care")}
CONTEXT = {"neutral": ("i bought the {product} last month",
                       "my order number is {n1} {n2} {n3} {n4}",
                       "i am calling about my {product} order",
                       "i have the {plan} plan on my account",
                       "it is about the {product} i ordered for my office")}
ISSUE = {
    "negative": ("my {product} stopped charging after {days} days",
                 "i was billed twice for the same order",
                 "the courier left the box out in the rain",
                 "this is the third time i have called about my refund",
                 "the {product} arrived with a cracked screen",
                 "i am still waiting for my refund after {days} weeks",
                 "the {product} keeps dropping the connection every hour",
                 "nobody told me about the restocking fee",
                 "the {product} was on backorder for {days} weeks"),
    "positive": ("the replacement {product} arrived a day early",
                 "my refund came through the same day",
                 "the new {product} charges in half the time",
                 "the {plan} plan has saved me a lot this year",
                 "the {product} set itself up in two minutes",
                 "i want to order another {product} for my sister"),
}
ACTION = {"neutral": ("let me check the delivery status for you",
                      "can you confirm the billing address please",
                      "please hold while i look that up",
                      "i can see the order on your account",
                      "i will transfer you to the billing team",
                      "the tracking number is on your receipt",
                      "is the {product} covered by the warranty",
                      "i am opening a ticket for the {product} now")}
RESOLUTION = {
    "positive": ("i have issued a full refund to your card",
                 "a new {product} will ship out today at no charge",
                 "i have waived the restocking fee for you",
                 "i have upgraded you to the {plan} plan for free",
                 "the chargeback has been reversed on your account"),
    "negative": ("i am afraid the warranty expired last month",
                 "the {product} is out of stock until next quarter",
                 "we cannot refund an opened {product}",
                 "the promo code does not apply to the {plan} plan",
                 "the earliest delivery slot is in {days} weeks"),
}
REACTION = {
    "positive": ("that sorts it out thanks",
                 "brilliant that is exactly what i needed",
                 "great you have made my day",
                 "perfect i will keep an eye on my inbox"),
    "negative": ("that is not good enough",
                 "so i just lose the money then",
                 "i will be taking my business elsewhere",
                 "this is the worst support i have had"),
}
CLOSING = {"neutral": ("is there anything else i can help with today",
                       "your reference number is {n1} {n2} {n3}",
                       "you will get an email confirmation shortly"),
           "positive": ("thanks for your patience and have a lovely day",
                        "it was a pleasure helping you today")}


@dataclass(frozen=True)
class Line:
    """One sentence of a call as scripted."""

    speaker: str  # "agent" or "customer"
    text: str
    label: str


@dataclass(frozen=True)
class Call:
    """One scripted conversation."""

    id: str
    agent: str
    split: str  # "train" or "test" (held out)
    lines: tuple[Line, ...]


def agent_names(count: int) -> list[str]:
    return [f"agent-{i + 1:02d}" for i in range(count)]


def _fill(template: str, rng: random.Random, agent: str) -> str:
    return template.format(
        product=rng.choice(PRODUCTS), plan=rng.choice(PLANS), days=rng.choice(DAYS),
        n1=rng.choice(NUMBERS), n2=rng.choice(NUMBERS), n3=rng.choice(NUMBERS),
        n4=rng.choice(NUMBERS), agent=agent)


def _pick(rng: random.Random, table: dict[str, tuple[str, ...]], label: str,
          agent: str) -> tuple[str, str]:
    return label, _fill(rng.choice(table[label]), rng, agent)


def script_call(index: int, *, seed: int, agents: int, test_every: int = 4) -> Call:
    """The ``index``-th call of a corpus: its own random stream, so calls do not depend
    on how many were asked for. Every ``test_every``-th call is held out."""
    rng = random.Random(f"{seed}:{index}")
    agent = agent_names(agents)[index % agents]
    spoken = rng.choice(NAMES)
    happy_issue = rng.random() < 0.4
    resolved = rng.random() < 0.55
    steps: list[tuple[str, tuple[str, str]]] = [
        ("agent", _pick(rng, GREETING, "neutral", spoken)),
        ("customer", _pick(rng, CONTEXT, "neutral", spoken)),
        ("customer", _pick(rng, ISSUE, "positive" if happy_issue else "negative", spoken)),
        ("agent", _pick(rng, ACTION, "neutral", spoken)),
        ("agent", _pick(rng, RESOLUTION, "positive" if resolved else "negative", spoken)),
        ("customer", _pick(rng, REACTION, "positive" if resolved else "negative", spoken)),
        ("agent", _pick(rng, CLOSING, "neutral" if rng.random() < 0.3 else "positive",
                         spoken)),
    ]
    lines = tuple(Line(speaker, text, label) for speaker, (label, text) in steps)
    split = "test" if index % test_every == test_every - 1 else "train"
    return Call(id=f"call-{index + 1:05d}", agent=agent, split=split, lines=lines)


def script_corpus(conversations: int, *, seed: int, agents: int) -> list[Call]:
    return [script_call(i, seed=seed, agents=agents) for i in range(conversations)]

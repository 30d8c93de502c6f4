"""A generated training corpus for the retail domain: templates with slot values, each
sentence labelled with its intent and BIO tags, written in NeMo's format."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

from mlfabric.apps.assistant.nemo import OUTSIDE, Example, tokenize, write_nemo
from mlfabric.errors import InvalidInput

CITIES = ["paris", "berlin", "london", "tokyo", "austin", "seattle", "boston", "chicago",
          "denver", "miami", "new york", "san francisco", "santa clara", "los angeles",
          "madrid", "toronto", "san diego", "portland"]
ITEMS = ["jeans", "running shoes", "winter jacket", "socks", "sunglasses", "backpack",
         "dress", "hoodie", "sneakers", "baseball cap", "leather belt", "wool scarf",
         "rain boots", "t-shirt", "swim shorts", "yoga pants"]
CUISINES = ["sushi", "pizza", "thai", "burger", "ramen", "taco", "vegan", "indian",
            "italian", "korean bbq"]

TEMPLATES: dict[str, list[str]] = {
    "weather": [
        "what's the weather in {location}", "how is the weather in {location} today",
        "will it rain in {location}", "weather forecast for {location}",
        "what is the weather like", "is it cold outside", "is it going to be sunny",
        "tell me the weather in {location}", "how hot is it in {location}",
        "what's the temperature in {location}", "weather please",
        "do i need a coat in {location} today", "is it windy in {location}",
        "how's the weather", "what will the weather be tomorrow in {location}",
    ],
    "store_location": [
        "where is the nearest store", "find a store near {location}",
        "is there a shop in {location}", "closest store to {location}",
        "where can i find your store", "store locations in {location}",
        "where is your shop in {location}", "nearest store please",
        "which store is closest to me", "do you have a branch in {location}",
        "how do i get to the nearest store", "where is a store around {location}",
        "show me stores near {location}", "i'm looking for a store in {location}",
    ],
    "item_price": [
        "how much is the {item}", "what is the price of {item}", "how much do {item} cost",
        "price of {item}", "how much does the {item} cost", "what do {item} cost",
        "tell me the price of the {item}", "how expensive are {item}",
        "what's the cost of a {item}", "price check on {item}", "how much are {item}",
        "can you tell me how much the {item} is", "i want to know the price of {item}",
    ],
    # answers to the assistant's questions ("which city?")
    "inform": [
        "{location}", "in {location}", "i'm in {location}", "i am in {location}",
        "it's {location}", "{location} please", "the {item}", "{item}", "i want {item}",
        "i mean {location}", "near {location}",
    ],
    "greet": [
        "hi", "hello", "good morning", "hey there", "hello assistant", "hi there",
        "good afternoon", "hey", "good evening", "hello there", "greetings",
    ],
    "goodbye": [
        "bye", "goodbye", "see you later", "that's all thanks", "thanks bye",
        "see you", "have a nice day", "bye bye", "thank you goodbye", "i'm done thanks",
    ],
}

# Requests the shipped assistant was not trained for: the retraining loop teaches them.
NEW_TEMPLATES: dict[str, list[str]] = {
    "best_rated_place": [
        "the best-rated {cuisine} place", "where is the best {cuisine} restaurant",
        "top rated {cuisine} near me", "which {cuisine} place has the best reviews",
        "best {cuisine} spot around here", "recommend a highly rated {cuisine} place",
        "find the best-rated {cuisine} restaurant", "good {cuisine} place nearby",
    ],
    "cheapest_item": [
        "cheapest {item}", "what are your cheapest {item}", "show me the cheapest {item}",
        "the least expensive {item}", "lowest price {item}", "find me cheap {item}",
        "which {item} cost the least", "most affordable {item}",
    ],
}
VALUES = {"location": CITIES, "item": ITEMS, "cuisine": CUISINES}
SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, intent: str, rng: random.Random) -> Example:
    """One sentence from a template, its slots filled at random and tagged."""
    tokens: list[str] = []
    tags: list[str] = []
    for part in re.split(r"(\{\w+\})", template):
        m = SLOT.fullmatch(part)
        if m:
            words = tokenize(rng.choice(VALUES[m.group(1)]))
            tokens += words
            tags += [f"B-{m.group(1)}"] + [f"I-{m.group(1)}"] * (len(words) - 1)
        else:
            words = tokenize(part)
            tokens += words
            tags += [OUTSIDE] * len(words)
    return Example(tuple(tokens), intent, tuple(tags))


def generate(templates: dict[str, list[str]], per_intent: int, seed: int) -> list[Example]:
    """``per_intent`` distinct sentences per intent (fewer when the templates cannot make
    that many)."""
    rng = random.Random(seed)
    out: list[Example] = []
    for intent, forms in sorted(templates.items()):
        seen: set[tuple[str, ...]] = set()
        for _ in range(per_intent * 20):
            if len(seen) >= per_intent:
                break
            e = fill(rng.choice(forms), intent, rng)
            if e.tokens not in seen:
                seen.add(e.tokens)
                out.append(e)
    rng.shuffle(out)
    return out


def split(examples: Sequence[Example], test_fraction: float, seed: int
          ) -> tuple[list[Example], list[Example]]:
    """A seeded train/test split."""
    items = list(examples)
    random.Random(seed).shuffle(items)
    n = round(len(items) * test_fraction)
    return items[n:], items[:n]


def make_corpus(out: str | Path, *, per_intent: int = 120, test_fraction: float = 0.25,
                seed: int = 0) -> Path:
    """Write the retail corpus (train and test splits) in NeMo format to ``out``."""
    if per_intent < 4:
        raise InvalidInput("--per-intent must be at least 4", field="per_intent",
                           value=per_intent)
    train, test = split(generate(TEMPLATES, per_intent, seed), test_fraction, seed)
    return write_nemo(out, {"train": train, "test": test})


def new_requests(per_intent: int = 20, seed: int = 1) -> list[Example]:
    """Labelled requests of the two intents the shipped assistant does not know."""
    return generate(NEW_TEMPLATES, per_intent, seed)

"""Benchmark the retail assistant's NLU and turn latency against a keyword matcher.

1. NLU quality on a held-out generated set (another seed than training): intent accuracy,
   slot span F1 (seqeval) and sentence accuracy of the joint TF-IDF/CRF model, and of the
   peer, a keyword matcher: intent by cue words, slots by looking the known city and item
   names up in the sentence (a gazetteer: it knows every value the generator uses).
2. Turn latency (text in, text out), p50 and p95 over a scripted conversation, through
   the whole assistant of a fresh home (session load, NLU, flows, SQL fulfillment, the
   session saved and the turn logged); the peer runs the same path with the keyword
   matcher as its NLU. Also the NLU call alone for both.
3. Voice turns: a flite-spoken question recognised by PocketSphinx, answered, the answer
   spoken by flite; p50/p95 of the whole voice turn and of its parts, against the text turn,
   and how many recognised transcripts led to the intended intent.
4. The retraining loop: before/after intent accuracy on the two new intents.

Run:  .venv/bin/python bench/assistant.py [--per-intent 120] [--turns 200] [--voice-turns 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from mlfabric.apps import assistant
from mlfabric.apps.assistant import corpus, nlu
from mlfabric.apps.assistant.engine import Understanding
from mlfabric.apps.assistant.nemo import Example, spans, tokenize

CUES = {
    "weather": ("weather", "rain", "temperature", "hot", "cold", "sunny", "windy", "coat",
                "forecast"),
    "store_location": ("store", "shop", "branch", "stores"),
    "item_price": ("price", "cost", "much", "expensive"),
    "greet": ("hi", "hello", "hey", "morning", "afternoon", "evening", "greetings"),
    "goodbye": ("bye", "goodbye", "see", "thanks", "done", "day"),
}


class KeywordMatcher:
    """The peer: first intent whose cue word appears; slots from a gazetteer."""

    def __init__(self) -> None:
        self.values = sorted(((tokenize(v), slot) for slot, vs in corpus.VALUES.items()
                              for v in vs), key=lambda x: -len(x[0]))

    def tag(self, tokens: list[str]) -> list[str]:
        tags = ["O"] * len(tokens)
        for words, slot in self.values:
            n = len(words)
            for i in range(len(tokens) - n + 1):
                if tokens[i:i + n] == words and all(t == "O" for t in tags[i:i + n]):
                    tags[i:i + n] = [f"B-{slot}"] + [f"I-{slot}"] * (n - 1)
        return tags

    def intent(self, tokens: list[str]) -> str:
        for intent, cues in CUES.items():
            if any(t in cues for t in tokens):
                return intent
        return "inform"

    def understand(self, text: str) -> Understanding:
        tokens = tokenize(text)
        tags = self.tag(tokens)
        return Understanding(self.intent(tokens), 1.0, spans(tokens, tags), tokens, tags)

    def evaluate(self, examples: list[Example]) -> nlu.Metrics:
        from seqeval.metrics import f1_score

        intents = [self.intent(list(e.tokens)) for e in examples]
        tags = [self.tag(list(e.tokens)) for e in examples]
        gold = [list(e.tags) for e in examples]
        right = [p == e.intent for p, e in zip(intents, examples, strict=True)]
        whole = [r and t == g for r, t, g in zip(right, tags, gold, strict=True)]
        n = len(examples)
        return nlu.Metrics(n, sum(right) / n, float(f1_score(gold, tags)), sum(whole) / n)


# Requests phrased unlike the templates, several with cities and items neither the
# corpus nor the gazetteer has: (text, intent, {slot: value}).
PARAPHRASES = [
    ("is it snowing in oslo right now", "weather", {"location": "oslo"}),
    ("should i bring an umbrella to dallas", "weather", {"location": "dallas"}),
    ("how warm will it get in phoenix", "weather", {"location": "phoenix"}),
    ("what's it like outside in paris", "weather", {"location": "paris"}),
    ("any outlets around dallas", "store_location", {"location": "dallas"}),
    ("where can i shop in lisbon", "store_location", {"location": "lisbon"}),
    ("got a location near berlin", "store_location", {"location": "berlin"}),
    ("closest branch to vienna", "store_location", {"location": "vienna"}),
    ("what does a cardigan cost", "item_price", {"item": "cardigan"}),
    ("how pricey is the leather jacket", "item_price", {"item": "leather jacket"}),
    ("what would the sneakers set me back", "item_price", {"item": "sneakers"}),
    ("cost of the silk tie", "item_price", {"item": "silk tie"}),
    ("howdy", "greet", {}), ("yo there", "greet", {}),
    ("catch you later", "goodbye", {}), ("ok thank you so much bye", "goodbye", {}),
]


def paraphrases() -> list[Example]:
    out = []
    for text, intent, slots in PARAPHRASES:
        tokens = tokenize(text)
        tags = ["O"] * len(tokens)
        for slot, value in slots.items():
            words = tokenize(value)
            i = next(i for i in range(len(tokens)) if tokens[i:i + len(words)] == words)
            tags[i:i + len(words)] = [f"B-{slot}"] + [f"I-{slot}"] * (len(words) - 1)
        out.append(Example(tuple(tokens), intent, tuple(tags)))
    return out


SCRIPT = ["hello", "what's the weather like", "seattle", "where is the nearest store",
          "how much are the running shoes", "price of socks", "weather in tokyo",
          "find a store near boston", "qwerty asdf", "thanks bye"]


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def turn_latency(home: str, turns: int) -> list[float]:
    session = assistant.open_session("bench", home=home).session
    out = []
    for i in range(turns):
        t0 = time.perf_counter()
        assistant.chat(session, SCRIPT[i % len(SCRIPT)], home=home)
        out.append(time.perf_counter() - t0)
    return out


SPOKEN = [("what is the weather in boston", "weather"), ("how much are the socks", "item_price"),
          ("where is the nearest store", "store_location"), ("hello", "greet"),
          ("what is the price of the backpack", "item_price")]


def voice_turns(home: str, n: int, text_p50: float, text_p95: float) -> None:
    import base64

    from mlfabric.apps.assistant import voice

    session = assistant.open_session("voice", home=home).session
    clips = [(base64.b64encode(voice.synthesize(q)).decode(), intent) for q, intent in SPOKEN]
    voice.transcribe(base64.b64decode(clips[0][0]))  # warm: the decoder loads once
    whole, asr, tts, right = [], [], [], 0
    for i in range(n):
        clip, intent = clips[i % len(clips)]
        raw = base64.b64decode(clip)
        t0 = time.perf_counter()
        v = assistant.voice_chat(session, clip, home=home)
        whole.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        voice.transcribe(raw)
        asr.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        voice.synthesize(" ".join(v.turn.replies))
        tts.append(time.perf_counter() - t0)
        right += v.turn.intent == intent
    print(f"\nvoice turns ({n}: flite question -> PocketSphinx -> turn -> flite reply)")
    print(f"{'':22}{'p50 ms':>10}{'p95 ms':>10}")
    for name, xs in (("whole voice turn", whole), ("ASR (PocketSphinx)", asr),
                     ("TTS (flite)", tts)):
        print(f"{name:22}{percentile(xs, .5) * 1e3:>10.1f}{percentile(xs, .95) * 1e3:>10.1f}")
    print(f"voice / text turn: p50 {percentile(whole, .5) / text_p50:.0f}x, p95 "
          f"{percentile(whole, .95) / text_p95:.0f}x; intended intent after ASR: {right}/{n}")


def call_latency(fn, texts: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for t in texts:
        t0 = time.perf_counter()
        fn(t)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-intent", type=int, default=120)
    ap.add_argument("--turns", type=int, default=200)
    ap.add_argument("--voice-turns", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, load "
          f"{os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        data = corpus.make_corpus(Path(tmp) / "corpus", per_intent=args.per_intent, seed=0)
        t0 = time.perf_counter()
        nlu.train(data, Path(tmp) / "model")
        train_s = time.perf_counter() - t0
        model = nlu.load(Path(tmp) / "model")
        held = corpus.generate(corpus.TEMPLATES, max(20, args.per_intent // 3), seed=7)
        seen = {e.tokens for e in assistant.read_split(data, "train")}
        held = [e for e in held if e.tokens not in seen]
        peer = KeywordMatcher()
        for title, examples in ((f"held-out generated sentences (trained on {len(seen)} "
                                 f"in {train_s:.1f}s)", held),
                                ("hand-written paraphrases, unseen cities and items",
                                 paraphrases())):
            m, k = model.evaluate(examples), peer.evaluate(examples)
            print(f"\nNLU on {m.examples} {title}")
            print(f"{'':22}{'joint TF-IDF/CRF':>18}{'keyword matcher':>18}{'ratio':>8}")
            for name in ("intent_accuracy", "slot_f1", "sentence_accuracy"):
                a, b = getattr(m, name), getattr(k, name)
                print(f"{name:22}{a:>18.3f}{b:>18.3f}{a / b if b else float('inf'):>8.2f}")

        texts = [e.text for e in held[:200]]
        a = call_latency(model.understand, texts)
        b = call_latency(peer.understand, texts)
        print(f"\nNLU call: p50 {statistics.median(a) * 1e3:.2f} ms vs "
              f"{statistics.median(b) * 1e3:.3f} ms (ratio "
              f"{statistics.median(a) / statistics.median(b):.0f}x)")

        home = str(Path(tmp) / "home")
        Path(home).mkdir()
        assistant.setup(per_intent=args.per_intent, home=home)
        turn_latency(home, 10)  # warm
        ours = turn_latency(home, args.turns)
        from mlfabric.apps.assistant.service import assistant as of_home

        served = of_home(home)
        served.engine.understand = peer.understand  # the peer: same path, keyword NLU
        theirs = turn_latency(home, args.turns)
        print(f"\nturn latency over {args.turns} text turns (whole path: session, NLU, "
              "flows, SQL fulfillment, log)")
        print(f"{'':22}{'p50 ms':>10}{'p95 ms':>10}")
        for name, xs in (("joint NLU", ours), ("keyword matcher", theirs)):
            print(f"{name:22}{percentile(xs, .5) * 1e3:>10.2f}{percentile(xs, .95) * 1e3:>10.2f}")
        print(f"ratio p50 {percentile(ours, .5) / percentile(theirs, .5):.2f}x, "
              f"p95 {percentile(ours, .95) / percentile(theirs, .95):.2f}x")
        served.engine.understand = served._understand
        voice_turns(home, args.voice_turns, percentile(ours, .5), percentile(ours, .95))

        new = corpus.new_requests(per_intent=40, seed=5)
        train_new, test_new = corpus.split(new, 0.5, seed=1)
        base = assistant.read_split(data, "train")
        retrained = nlu.fit([*base, *train_new])
        before, after = model.evaluate(test_new), retrained.evaluate(test_new)
        print(f"\nretraining with two new intents ({len(train_new)} labelled sentences): "
              f"intent accuracy on {len(test_new)} held-out new requests "
              f"{before.intent_accuracy:.3f} -> {after.intent_accuracy:.3f}, slot F1 "
              f"{before.slot_f1:.3f} -> {after.slot_f1:.3f}")


if __name__ == "__main__":
    main()

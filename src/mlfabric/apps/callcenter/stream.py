"""A call as it happens: audio played in real-time frames (files one after another, as
one call), sentence ends found by pocketsphinx's endpointer (voice activity), each
sentence recognized by the streaming decoder as its audio arrives, labelled, and handed
to ``post`` the moment it ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mlfabric.apps.callcenter import audio
from mlfabric.apps.callcenter.asr import Recognizer
from mlfabric.apps.callcenter.records import SentenceEvent
from mlfabric.errors import InvalidInput
from mlfabric.extras import require

GAP_S = 0.6  # silence between the files of one call


def call_audio(files: Sequence[str | Path], gap: float = GAP_S) -> np.ndarray:
    """The files decoded and joined, with ``gap`` seconds of silence around each."""
    if not files:
        raise InvalidInput("give at least one audio file")
    pause = np.zeros(int(gap * audio.RATE), np.int16)
    parts = [pause]
    for f in files:
        parts += [audio.decode(f), pause]
    return np.concatenate(parts)


def labeller(model: str | None) -> Callable[[str], str]:
    """The adapted sentiment model in folder ``model``, or stock VADER."""
    from mlfabric.apps.callcenter.sentiment import load_classifier, vader_label

    if model is None:
        return vader_label
    clf = load_classifier(model)
    return lambda text: clf.predict([text])[0]


def stream_call(samples: np.ndarray, *, agent: str, call: str,
                post: Callable[[SentenceEvent], object], asr_model: str | None = None,
                sentiment_model: str | None = None, realtime: bool = True,
                clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> list[SentenceEvent]:
    """Play ``samples`` frame by frame (at real-time pace unless ``realtime`` is off);
    every sentence the endpointer closes is recognized, labelled and posted at once.
    ``heard_at`` of each event is the wall-clock time its audio ended."""
    ps = require("pocketsphinx", "callcenter")
    ep = ps.Endpointer(sample_rate=audio.RATE)
    rec = Recognizer(asr_model)
    label = labeller(sentiment_model)
    n = ep.frame_bytes // 2
    events: list[SentenceEvent] = []
    started, wall0 = clock(), time.time()

    def close() -> None:
        text = rec.finish().strip()
        if not text:  # noise the endpointer took for speech: nothing said
            return
        end = float(ep.speech_end)
        e = SentenceEvent(agent=agent, call=call, index=len(events), text=text,
                          label=label(text), start=float(ep.speech_start), end=end,
                          heard_at=wall0 + end)
        events.append(e)
        post(e)

    for i in range(0, len(samples), n):
        frame = samples[i:i + n]
        if realtime:
            ahead = started + (i + len(frame)) / audio.RATE - clock()
            if ahead > 0:
                sleep(ahead)
        was = ep.in_speech
        if len(frame) < n:
            speech = ep.end_stream(frame.astype("<i2").tobytes())
        else:
            speech = ep.process(frame.astype("<i2").tobytes())
        if speech is None:
            continue
        if not was:
            rec.start()
        rec.feed(np.frombuffer(speech, dtype="<i2"))
        if not ep.in_speech:
            close()
    if ep.in_speech:  # the audio ended mid-sentence
        close()
    return events

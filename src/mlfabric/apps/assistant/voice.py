"""Voice in and out: speech recognised with PocketSphinx (its bundled US English model,
the engine the call-center app uses) and replies spoken with flite (Debian ``flite``)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import threading
import wave
from pathlib import Path
from typing import Any

from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.extras import require

RATE = 16000  # what the acoustic model was trained at
MAX_SECONDS = 30.0

_decoder: Any = None
_lock = threading.Lock()


def synthesize(text: str) -> bytes:
    """``text`` spoken by flite, as WAV bytes."""
    flite = shutil.which("flite")
    if flite is None:
        raise MlfabricError("spoken replies need flite (Debian package flite)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reply.wav"
        p = subprocess.run([flite, "-t", text, "-o", str(out)], capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 0 or not out.is_file():
            raise MlfabricError(f"flite failed: {p.stderr.strip()[-200:]}")
        return out.read_bytes()


def _samples(audio: bytes) -> bytes:
    """Mono 16-bit PCM at 16 kHz from WAV bytes (resampled when needed)."""
    import numpy as np

    try:
        with wave.open(io.BytesIO(audio)) as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        raise InvalidInput("the audio is not a WAV file", field="audio") from None
    if width != 2:
        raise InvalidInput("the audio must be 16-bit PCM WAV", field="audio")
    x = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    if len(x) > MAX_SECONDS * rate:
        raise InvalidInput(f"the audio is longer than {MAX_SECONDS:g} s", field="audio")
    if rate != RATE and len(x):
        n = int(len(x) * RATE / rate)
        x = np.interp(np.arange(n) * rate / RATE, np.arange(len(x)), x)
    return x.astype("<i2").tobytes()


def transcribe(audio: bytes) -> str:
    """What is said in a WAV recording (empty when nothing was recognised)."""
    require("pocketsphinx", "assistant")
    import pocketsphinx

    pcm = _samples(audio)
    global _decoder
    with _lock:  # one decoder, loaded once (its language model takes seconds)
        if _decoder is None:
            _decoder = pocketsphinx.Decoder(samprate=RATE)
        _decoder.start_utt()
        _decoder.process_raw(pcm, full_utt=True)
        _decoder.end_utt()
        hyp = _decoder.hyp()
    return hyp.hypstr if hyp is not None else ""

"""Audio in and out through the Debian tools: flite speaks, ffmpeg encodes MP3 and
decodes anything to 16 kHz mono PCM. Samples are int16 numpy arrays at ``RATE``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from mlfabric.errors import CorruptData, InvalidInput, MlfabricError

RATE = 16000
VOICES = ("kal16", "awb", "rms", "slt")  # flite's 16 kHz general-domain voices
SILENCE_RMS = 30.0  # int16 RMS below this is silence
_BITEXACT = ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]
TELEPHONE = "highpass=f=300,lowpass=f=3400"


def tool(name: str) -> str:
    """The path of a Debian tool, or a clear error naming its package."""
    found = shutil.which(name)
    if found is None:
        raise MlfabricError(f"{name} is not installed (apt-get install {name})")
    return found


def synthesize(text: str, *, voice: str, speed: float = 1.0) -> np.ndarray:
    """``text`` spoken by a flite voice; ``speed`` > 1 is faster."""
    if voice not in VOICES:
        raise InvalidInput(f"unknown voice '{voice}' (one of {', '.join(VOICES)})")
    with tempfile.TemporaryDirectory(prefix="mlfabric-flite-") as tmp:
        out = os.path.join(tmp, "speech.wav")
        subprocess.run([tool("flite"), "-voice", voice, "--setf",
                        f"duration_stretch={1.0 / speed:.4f}", "-t", text, "-o", out],
                       check=True, capture_output=True)
        return read_wav(out)


def add_noise(samples: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Background noise (brown-ish hum plus hiss) at ``snr_db`` below the speech."""
    x = samples.astype(np.float64)
    power = float(np.mean(x ** 2)) or 1.0
    white = rng.standard_normal(len(x))
    hum = np.cumsum(rng.standard_normal(len(x)))
    hum -= np.convolve(hum, np.ones(401) / 401, mode="same")  # keep it from drifting
    noise = white / (np.std(white) or 1.0) + hum / (np.std(hum) or 1.0)
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / np.mean(noise ** 2))
    return np.clip(x + noise, -32768, 32767).astype(np.int16)


def encode_mp3(samples: np.ndarray, path: str | Path, *, telephone: bool = False) -> None:
    """Write ``samples`` as MP3; ``telephone`` band-limits to 300-3400 Hz at 8 kHz, as
    a phone line carries it."""
    args = [tool("ffmpeg"), "-v", "error", "-y", "-f", "s16le", "-ar", str(RATE), "-ac", "1",
            "-i", "-"]
    if telephone:
        args += ["-af", TELEPHONE, "-ar", "8000"]
    tmp = f"{path}.part"
    args += ["-c:a", "libmp3lame", "-b:a", "32k", *_BITEXACT, "-f", "mp3", tmp]
    subprocess.run(args, input=samples.astype("<i2").tobytes(), check=True,
                   capture_output=True)
    os.replace(tmp, path)


def decode(path: str | Path) -> np.ndarray:
    """Any audio file as 16 kHz mono int16 samples; ``CorruptData`` with ffmpeg's reason
    when it cannot be read."""
    p = subprocess.run([tool("ffmpeg"), "-v", "error", "-i", str(path), "-f", "s16le",
                        "-ac", "1", "-ar", str(RATE), "-"], capture_output=True)
    if p.returncode != 0:
        reason = p.stderr.decode(errors="replace").strip().splitlines()
        raise CorruptData(f"cannot decode {path}: {reason[-1] if reason else 'ffmpeg failed'}")
    return np.frombuffer(p.stdout, dtype="<i2").astype(np.int16)


def check_speech(samples: np.ndarray, path: str | Path) -> None:
    """Refuse audio with nothing to transcribe: empty or silent."""
    if len(samples) < RATE // 10:
        raise CorruptData(f"{path}: no audio (under 0.1 s)")
    if float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) < SILENCE_RMS:
        raise CorruptData(f"{path}: silence")


def read_wav(path: str | Path) -> np.ndarray:
    """A 16-bit mono WAV at 16 kHz; ``InvalidInput`` for any other sample rate."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise InvalidInput(f"{path}: not 16-bit mono")
            if w.getframerate() != RATE:
                raise InvalidInput(f"{path}: sample rate {w.getframerate()} Hz, "
                                   f"expected {RATE} Hz")
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    except (wave.Error, EOFError) as exc:
        raise CorruptData(f"{path}: {exc}") from exc


def write_wav(samples: np.ndarray, path: str | Path) -> None:
    """Write 16 kHz mono WAV atomically (a crash leaves no partial file at ``path``)."""
    tmp = f"{path}.part"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    os.replace(tmp, path)

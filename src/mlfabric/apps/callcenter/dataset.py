"""``make_dataset``: scripted calls spoken by flite, stored as MP3 with a manifest; and
the manifest read back."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlfabric.apps.callcenter import audio
from mlfabric.apps.callcenter.records import CallDataset
from mlfabric.apps.callcenter.script import LABELS, Call, script_corpus
from mlfabric.errors import AlreadyExists, InvalidInput, NotFound
from mlfabric.progress import NO_PROGRESS, Progress

MANIFEST = "manifest.json"
AUDIO_DIR = "audio"
WAV_DIR = "wav"
SPEED = (0.85, 1.2)


@dataclass(frozen=True)
class Sentence:
    """One sentence of the corpus as the manifest lists it."""

    call: str
    agent: str
    split: str
    index: int
    speaker: str
    text: str
    label: str
    audio: str  # MP3, relative to the dataset folder
    voice: str
    speed: float

    @property
    def wav(self) -> str:
        return str(Path(WAV_DIR) / Path(self.audio).relative_to(AUDIO_DIR).with_suffix(".wav"))


def _voices(call: Call, index: int, seed: int) -> list[tuple[str, float]]:
    """(voice, speed) per line: the agent keeps one voice, the customer another."""
    rng = np.random.default_rng([seed, index, 1])
    agent_voice = audio.VOICES[int(call.agent.rsplit("-", 1)[1]) % len(audio.VOICES)]
    others = [v for v in audio.VOICES if v != agent_voice]
    customer_voice = others[int(rng.integers(len(others)))]
    return [(agent_voice if line.speaker == "agent" else customer_voice,
             round(float(rng.uniform(*SPEED)), 3)) for line in call.lines]


def plan_corpus(conversations: int, *, seed: int, agents: int) -> list[Sentence]:
    """Every sentence of the corpus with its voice and speed (pure)."""
    out: list[Sentence] = []
    for i, call in enumerate(script_corpus(conversations, seed=seed, agents=agents)):
        for j, (line, (voice, speed)) in enumerate(zip(call.lines, _voices(call, i, seed),
                                                       strict=True)):
            out.append(Sentence(call=call.id, agent=call.agent, split=call.split, index=j,
                                speaker=line.speaker, text=line.text, label=line.label,
                                audio=f"{AUDIO_DIR}/{call.id}/{j:02d}.mp3", voice=voice,
                                speed=speed))
    return out


def _speak(root: Path, s: Sentence, seed: int, noise_db: float | None,
           telephone: bool) -> None:
    samples = audio.synthesize(s.text, voice=s.voice, speed=s.speed)
    if noise_db is not None:
        rng = np.random.default_rng([seed, int(s.call.rsplit("-", 1)[1]), s.index, 2])
        samples = audio.add_noise(samples, rng, noise_db)
    target = root / s.audio
    target.parent.mkdir(parents=True, exist_ok=True)
    audio.encode_mp3(samples, target, telephone=telephone)


def make_dataset(path: str, *, conversations: int, seed: int = 0, agents: int = 4,
                 noise_db: float | None = None, telephone: bool = False,
                 to_volume: str | None = None, force: bool = False, speak: bool = True,
                 workers: int | None = None,
                 home: str | None = None, progress: Progress = NO_PROGRESS) -> CallDataset:
    """Write ``conversations`` scripted calls to ``path`` (inside volume ``to_volume``
    when given, made if missing): one MP3 per sentence and ``manifest.json`` with the
    gold transcripts and sentiment labels (``speak=False``: the manifest alone, text to
    train sentiment on). The same seed gives the same bytes."""
    if conversations < 1:
        raise InvalidInput("--conversations must be at least 1")
    if agents < 1:
        raise InvalidInput("--agents must be at least 1")
    root = _target(path, to_volume, home)
    if (root / MANIFEST).exists() and not force:
        raise AlreadyExists("dataset", str(root))
    sentences = plan_corpus(conversations, seed=seed, agents=agents)
    if speak:
        progress.start("speaking", len(sentences))
        with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
            for _ in pool.map(lambda s: _speak(root, s, seed, noise_db, telephone),
                              sentences):
                progress.advance()
        progress.finish()
    labels = Counter(s.label for s in sentences)
    held_out = len({s.call for s in sentences if s.split == "test"})
    manifest = {"format": 1, "seed": seed, "conversations": conversations, "agents": agents,
                "noise_db": noise_db, "telephone": telephone, "audio": speak,
                "sentences": [vars(s) for s in sentences]}
    tmp = root / f"{MANIFEST}.part"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, root / MANIFEST)
    return CallDataset(path=str(root), conversations=conversations, sentences=len(sentences),
                       agents=agents, seed=seed, labels={k: labels[k] for k in LABELS},
                       held_out=held_out, volume=to_volume, created_at=time.time())


def _target(path: str, volume: str | None, home: str | None) -> Path:
    if volume is None:
        root = Path(path)
    else:
        from mlfabric import volumes

        try:
            base = volumes.path(volume, home=home)
        except NotFound:
            base = volumes.create(volume, home=home).path
        rel = Path(path)
        if rel.is_absolute() or ".." in rel.parts:
            raise InvalidInput(f"with --to-volume, the folder '{path}' must be relative "
                               "and inside the volume")
        root = Path(base) / rel
    root.mkdir(parents=True, exist_ok=True)
    return root


def read_manifest(path: str | Path) -> tuple[dict[str, Any], list[Sentence]]:
    """The manifest of a corpus folder and its sentences."""
    file = Path(path) / MANIFEST
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise NotFound("call-center dataset", str(path)) from None
    except ValueError as exc:
        raise InvalidInput(f"{file}: not a call-center manifest ({exc})") from None
    return data, [Sentence(**s) for s in data["sentences"]]

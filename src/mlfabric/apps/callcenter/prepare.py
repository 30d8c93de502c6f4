"""Audio preparation: every MP3 of a corpus to 16 kHz mono WAV, in parallel over cores,
one shard of the corpus at a time if asked. Resumable and idempotent: a WAV appears only
when whole (written aside, then renamed), and one already there is left alone. A file
that cannot be used (corrupt, empty, silent) is recorded with its reason; the batch goes
on."""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlfabric.apps.callcenter import audio
from mlfabric.apps.callcenter.dataset import WAV_DIR, Sentence, read_manifest
from mlfabric.apps.callcenter.records import FileError, PrepareReport
from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.progress import NO_PROGRESS, Progress

ERRORS = "errors-{k}-of-{n}.json"


def parse_shard(shard: str) -> tuple[int, int]:
    """``K/N`` (K from 0) as (K, N)."""
    try:
        k, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise InvalidInput(f"--shard must be K/N, e.g. 0/4 (got '{shard}')") from None
    if not 0 <= k < n:
        raise InvalidInput(f"--shard {shard}: K must be in 0..N-1")
    return k, n


def shard_of(sentences: list[Sentence], k: int, n: int) -> list[Sentence]:
    return [s for i, s in enumerate(sentences) if i % n == k]


def _convert(root: Path, s: Sentence) -> str | FileError:
    target = root / s.wav
    if target.exists():
        return "already"
    try:
        samples = audio.decode(root / s.audio)
        audio.check_speech(samples, s.audio)
    except MlfabricError as exc:
        return FileError(file=s.audio, reason=str(exc))
    target.parent.mkdir(parents=True, exist_ok=True)
    audio.write_wav(samples, target)
    return "converted"


def prepare(path: str, *, workers: int | None = None, shard: str = "0/1",
            progress: Progress = NO_PROGRESS) -> PrepareReport:
    """Convert the MP3s of shard ``K/N`` of the corpus at ``path`` to WAV under
    ``wav/``; the shard's unusable files go to ``wav/errors-K-of-N.json``."""
    k, n = parse_shard(shard)
    root = Path(path)
    _, sentences = read_manifest(root)
    mine = shard_of(sentences, k, n)
    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    progress.start("preparing audio", len(mine))
    outcomes: list[str | FileError] = []
    with ThreadPoolExecutor(workers) as pool:
        for outcome in pool.map(lambda s: _convert(root, s), mine):
            outcomes.append(outcome)
            progress.advance()
    progress.finish()
    errors = [o for o in outcomes if isinstance(o, FileError)]
    (root / WAV_DIR).mkdir(exist_ok=True)
    (root / WAV_DIR / ERRORS.format(k=k, n=n)).write_text(
        json.dumps([e.to_dict() for e in errors], indent=1) + "\n")
    return PrepareReport(path=str(root), files=len(mine), converted=outcomes.count("converted"),
                         already=outcomes.count("already"), errors=errors, workers=workers,
                         shard=f"{k}/{n}", seconds=time.perf_counter() - started)


def skipped(path: str | Path) -> list[FileError]:
    """Every file that preparation recorded as unusable, over all shards and runs."""
    out: dict[str, FileError] = {}
    for f in sorted((Path(path) / WAV_DIR).glob("errors-*-of-*.json")):
        out.update((e["file"], FileError(**e)) for e in json.loads(f.read_text()))
    return list(out.values())


def submit_prepare(path: str, *, volume: str, project: str, shards: int,
                   workers: int = 1, prefix: str = "prep",
                   home: str | None = None) -> list[str]:
    """One scheduler job per shard of the corpus at ``path`` inside ``volume``: each
    runs ``mlfabric callcenter prepare`` on its shard with the volume mounted. The jobs'
    names (``PREFIX-K-of-N``) are returned; as conversion is idempotent, a shard whose
    job failed is simply submitted again."""
    from mlfabric import jobs, volumes

    if shards < 1:
        raise InvalidInput("--jobs must be at least 1")
    rel = Path(path)
    if rel.is_absolute() or ".." in rel.parts:
        raise InvalidInput(f"the corpus folder '{path}' must be relative to volume "
                           f"'{volume}'")
    read_manifest(Path(volumes.path(volume, home=home)) / rel)  # there, and a corpus
    exe = str(Path(sys.executable).parent / "mlfabric")
    names = []
    for k in range(shards):
        name = f"{prefix}-{k}-of-{shards}"
        jobs.submit(name, project=project, volumes=[f"{volume}:corpus"],
                    command=[exe, "callcenter", "prepare", str(Path("corpus") / rel),
                             "--shard", f"{k}/{shards}", "--workers", str(workers)],
                    home=home)
        names.append(name)
    return names

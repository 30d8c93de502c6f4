"""Model versions on the volume ``assistant``: ``model/`` is the live NLU model and
``corpus/`` the data it learnt from; every promotion is a snapshot ``vN`` of the volume
and a row in the promotions table; a rollback restores the previous version.

``retrain`` trains a candidate (as a scheduler job when given a project), scores it and
the live model on the same held-out split, and promotes it only when it is not worse."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from mlfabric import jobs, snapshots
from mlfabric.apps.assistant import corpus, nlu
from mlfabric.apps.assistant.nemo import Example, read_split
from mlfabric.apps.assistant.service import (
    CORPUS_DIR,
    MODEL_DIR,
    PROMOTIONS,
    VOLUME,
    database,
    fulfillment_url,
    model_volume,
)
from mlfabric.errors import AlreadyExists, InvalidInput, MlfabricError, NotFound
from mlfabric.records import Record

CANDIDATES = "candidates"
JOB_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Version(Record):
    """A promotion, setup or rollback of the live model."""

    action: str
    snapshot: str
    data: str
    metrics: dict[str, float]
    at: float


@dataclass(frozen=True)
class IntentRow(Record):
    """Accuracy on one intent's held-out examples, live model against candidate."""

    intent: str
    examples: int
    live: float
    candidate: float


@dataclass(frozen=True)
class Retrain(Record):
    """A candidate's scores next to the live model's, and whether it was promoted."""

    candidate: str
    job: str | None
    live: nlu.Metrics
    candidate_metrics: nlu.Metrics
    promoted: bool
    reason: str
    snapshot: str | None
    intents: list[IntentRow] = field(default_factory=list)


def _record(action: str, snapshot: str, data: str, metrics: dict[str, float],
            home: str | None) -> Version:
    v = Version(action, snapshot, data, metrics, time.time())
    with database(home).begin() as c:
        c.execute(sa.insert(PROMOTIONS).values(at=v.at, action=action, snapshot=snapshot,
                                               data=data, metrics=json.dumps(metrics)))
    return v


def history(*, home: str | None = None) -> list[Version]:
    """Every setup, promotion and rollback, oldest first."""
    with database(home).connect() as c:
        rows = c.execute(sa.select(PROMOTIONS).order_by(PROMOTIONS.c.id)).all()
    return [Version(r.action, r.snapshot, r.data, json.loads(r.metrics), r.at) for r in rows]


def _snapshot(home: str | None) -> str:
    taken = {s.name for s in snapshots.list(VOLUME, home=home)}
    n = 1
    while f"v{n}" in taken:
        n += 1
    return snapshots.create(VOLUME, name=f"v{n}", home=home).name


def _metrics(m: nlu.Metrics | None) -> dict[str, float]:
    if m is None:
        return {}
    return {"intent_accuracy": m.intent_accuracy, "slot_f1": m.slot_f1,
            "sentence_accuracy": m.sentence_accuracy}


def setup(*, per_intent: int = 120, seed: int = 0, force: bool = False,
          home: str | None = None) -> Version:
    """Generate the retail corpus, train the first live model and take version v1."""
    vol = model_volume(home)
    if (vol / MODEL_DIR / nlu.MODEL_FILE).exists() and not force:
        raise AlreadyExists("assistant model", f"{VOLUME}:{MODEL_DIR}")
    fulfillment_url(home)
    corpus.make_corpus(vol / CORPUS_DIR, per_intent=per_intent, seed=seed)
    report = nlu.train(vol / CORPUS_DIR, vol / MODEL_DIR, seed=seed)
    return _record("setup", _snapshot(home), CORPUS_DIR, _metrics(report.test), home)


def _train_as_job(data: Path, out: Path, vol: Path, project: str, name: str,
                  home: str | None) -> None:
    """Train in a scheduler job that mounts the volume at ``data``."""
    def rel(p: Path) -> str:  # where the job sees it: the volume is mounted at data
        return str(Path("data") / p.relative_to(vol))

    command = [sys.executable, "-m", "mlfabric.cli.main", "assistant", "train",
               "--data", rel(data), "--out", rel(out)]
    jobs.submit(name, project=project, command=command, volumes=[f"{VOLUME}:data"],
                home=home)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        jobs.step(home=home)
        job = jobs.get(name, project=project, home=home)
        if job.state in ("Succeeded", "Failed"):
            break
        if time.monotonic() > deadline:
            raise MlfabricError(f"training job {project}/{name} did not finish in "
                                f"{JOB_TIMEOUT_S:g} s")
        time.sleep(0.2)
    if job.state != "Succeeded":
        log = jobs.logs(name, project=project, home=home)[-400:]
        raise MlfabricError(f"training job {project}/{name} failed: {log.strip()}")


def _per_intent(live: nlu.NluModel, cand: nlu.NluModel, test: Sequence[Example]
                ) -> list[IntentRow]:
    tokens = [e.tokens for e in test]
    a, b = live.predict(tokens)[0], cand.predict(tokens)[0]
    rows = []
    for intent in sorted({e.intent for e in test}):
        idx = [i for i, e in enumerate(test) if e.intent == intent]
        rows.append(IntentRow(intent, len(idx), sum(a[i] == intent for i in idx) / len(idx),
                              sum(b[i] == intent for i in idx) / len(idx)))
    return rows


def retrain(data: str | Path, *, project: str | None = None, home: str | None = None
            ) -> Retrain:
    """Train a candidate on a NeMo-format folder (train split), score it and the live
    model on its test split, and promote it only when neither intent accuracy nor slot
    F1 is lower. With ``project``, training runs as a scheduler job of that project."""
    vol = model_volume(home)
    live_dir = vol / MODEL_DIR
    if not (live_dir / nlu.MODEL_FILE).is_file():
        raise NotFound("assistant model", f"{VOLUME}:{MODEL_DIR} (run assistant setup)")
    test = read_split(data, "test")
    read_split(data, "train")  # checked before anything runs
    name = f"cand-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}"
    cand_dir = vol / CANDIDATES / name
    shutil.copytree(data, cand_dir / "data")
    job = None
    if project is not None:
        job = name
        _train_as_job(cand_dir / "data", cand_dir / "model", vol, project, name, home)
    else:
        nlu.train(cand_dir / "data", cand_dir / "model")
    live, cand = nlu.load(live_dir), nlu.load(cand_dir / "model")
    lm, cm = live.evaluate(test), cand.evaluate(test)
    worse = [k for k in ("intent_accuracy", "slot_f1") if getattr(cm, k) < getattr(lm, k)]
    rows = _per_intent(live, cand, test)
    if worse:
        return Retrain(name, job, lm, cm, False, f"lower {' and '.join(worse)} than the "
                       "live model", None, rows)
    for sub, src in ((MODEL_DIR, cand_dir / "model"), (CORPUS_DIR, cand_dir / "data")):
        staged = vol / f".{sub}.new"
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(src, staged)
        shutil.rmtree(vol / sub, ignore_errors=True)
        staged.rename(vol / sub)
    snap = _snapshot(home)
    _record("promote", snap, f"{CANDIDATES}/{name}/data", _metrics(cm), home)
    return Retrain(name, job, lm, cm, True, "not worse than the live model", snap, rows)


def rollback(*, home: str | None = None) -> Version:
    """Make the version before the live one live again (a snapshot restore)."""
    done = history(home=home)
    versions = [v for v in done if v.action in ("setup", "promote")]
    live = done[-1].snapshot if done else None
    order = [v.snapshot for v in versions]
    if live not in order or order.index(live) == 0:
        raise InvalidInput("there is no earlier version to roll back to")
    previous = versions[order.index(live) - 1]
    snapshots.restore(f"{VOLUME}@{previous.snapshot}", home=home)
    return _record("rollback", previous.snapshot, previous.data, previous.metrics, home)

"""The call-center pipeline on a tiny corpus spoken by the real flite and encoded by the
real ffmpeg: the corpus, audio preparation, pocketsphinx stock vs adapted, sentiment
stock vs adapted, the live per-agent view. bench/callcenter.py runs it full size."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlfabric import datasets, jobs, nodes, projects, remotes, snapshots, volumes
from mlfabric.apps import callcenter
from mlfabric.apps.callcenter import audio
from mlfabric.errors import AlreadyExists, InvalidInput, NotFound
from tests.helpers import require_root, run_cli, tree_digest

CALLS = 4  # the fourth is held out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("callcenter") / "corpus"
    made = callcenter.make_dataset(str(root), conversations=CALLS, seed=3, noise_db=25)
    assert (made.conversations, made.sentences, made.held_out) == (CALLS, 7 * CALLS, 1)
    return root


def _codec(path: Path) -> tuple[str, int]:
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,"
                        "sample_rate", "-of", "json", str(path)], capture_output=True,
                       text=True, check=True)
    stream = json.loads(p.stdout)["streams"][0]
    return stream["codec_name"], int(stream["sample_rate"])


def test_corpus_has_labelled_sentences_spoken_as_mp3(corpus: Path) -> None:
    manifest, sentences = callcenter.read_manifest(corpus)
    assert len(sentences) == 7 * CALLS and manifest["seed"] == 3
    assert {s.label for s in sentences} == {"negative", "neutral", "positive"}
    assert {s.split for s in sentences} == {"train", "test"}
    assert len({s.voice for s in sentences}) >= 3  # agents and customers sound different
    assert len({s.speed for s in sentences}) > 1
    assert any(w in " ".join(s.text for s in sentences).split()
               for w in ("zenbox", "flowmax", "quickpod", "nimbuscam", "voltwave",
                         "lumabeam", "tracklet", "homehub", "sparkdock", "aquamate",
                         "skyrouter", "pixelpad"))
    for s in sentences[:7]:
        assert _codec(corpus / s.audio) == ("mp3", audio.RATE)
        words = len(s.text.split())
        seconds = len(audio.decode(corpus / s.audio)) / audio.RATE
        assert 0.15 * words < seconds < 1.0 * words + 1  # speech of about that length
    with pytest.raises(AlreadyExists):
        callcenter.make_dataset(str(corpus), conversations=1)


def test_same_seed_same_bytes_and_telephone_band(tmp_path: Path) -> None:
    one = callcenter.make_dataset(str(tmp_path / "a"), conversations=1, seed=5)
    callcenter.make_dataset(str(tmp_path / "b"), conversations=1, seed=5)
    assert tree_digest(one.path) == tree_digest(tmp_path / "b")
    phone = callcenter.make_dataset(str(tmp_path / "c"), conversations=1, seed=5,
                                    telephone=True)
    assert tree_digest(phone.path) != tree_digest(one.path)
    first = callcenter.read_manifest(one.path)[1][0]
    assert _codec(Path(phone.path) / first.audio) == ("mp3", 8000)

    def high_band(path: Path) -> float:  # share of energy above 3.6 kHz
        spectrum = np.abs(np.fft.rfft(audio.decode(path).astype(float))) ** 2
        freqs = np.fft.rfftfreq(len(audio.decode(path)), 1 / audio.RATE)
        return float(spectrum[freqs > 3600].sum() / spectrum.sum())

    assert high_band(Path(phone.path) / first.audio) < 0.2 * high_band(
        Path(one.path) / first.audio)


def test_make_dataset_to_a_volume_then_dataset_push_versions_it(home: Path,
                                                                tmp_path: Path) -> None:
    r = run_cli(home, "--json", "callcenter", "make-dataset", "calls", "--conversations", "1",
                "--to-volume", "center")
    assert r.code == 0, r.err
    made = r.json()
    assert made["volume"] == "center" and made["sentences"] == 7
    assert (Path(made["path"]) / "manifest.json").is_file()
    remotes.add("lake", str(tmp_path / "lake"), home=str(home))
    v = datasets.push("center", remote="lake", name="calls", home=str(home))
    assert v.version == "v1" and v.files == 8  # 7 MP3s and the manifest

    bad = run_cli(home, "callcenter", "make-dataset", "x", "--conversations", "0")
    assert (bad.code, bad.err.strip()) == (1, "error: --conversations must be at least 1")
    outside = run_cli(home, "callcenter", "make-dataset", "../x", "--conversations", "1",
                      "--to-volume", "center")
    assert outside.code == 1 and "inside the volume" in outside.err


def test_prepare_shards_resume_and_record_bad_files(corpus: Path, tmp_path: Path) -> None:
    work = tmp_path / "corpus"
    shutil.copytree(corpus, work)
    _, sentences = callcenter.read_manifest(work)
    (work / sentences[1].audio).write_bytes(b"ID3 this is not an mp3 at all" * 20)
    (work / sentences[2].audio).write_bytes(b"")
    audio.encode_mp3(np.zeros(audio.RATE, np.int16), work / sentences[3].audio)
    half = callcenter.prepare(str(work), shard="0/2", workers=2)
    assert (half.files, half.shard) == (14, "0/2")
    r = run_cli(tmp_path / "home", "--json", "callcenter", "prepare", str(work), "--shard",
                "1/2")
    assert r.code == 0, r.err
    other = r.json()
    assert other["files"] == 14
    reasons = {e.file: e.reason for e in callcenter.skipped(work)}
    assert set(reasons) == {sentences[i].audio for i in (1, 2, 3)}
    assert "silence" in reasons[sentences[3].audio] and "cannot decode" in reasons[
        sentences[1].audio]
    assert half.converted + other["converted"] == 7 * CALLS - 3
    good = [s for i, s in enumerate(sentences) if i not in (1, 2, 3)]
    assert all(len(audio.read_wav(work / s.wav)) > audio.RATE // 2 for s in good)
    def wavs() -> dict[str, tuple[str, int]]:
        return {k: v for k, v in tree_digest(work / "wav").items() if k.endswith(".wav")}

    before = wavs()
    again = callcenter.prepare(str(work))  # idempotent: nothing converted twice
    assert (again.converted, again.already, len(again.errors)) == (0, 7 * CALLS - 3, 3)
    assert wavs() == before and len(callcenter.skipped(work)) == 3
    (work / good[0].wav).unlink()  # resumes what is missing
    assert callcenter.prepare(str(work)).converted == 1
    # a WAV at another rate is refused with the reason
    with wave.open(str(tmp_path / "8k.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    with pytest.raises(InvalidInput, match="sample rate 8000 Hz"):
        audio.read_wav(tmp_path / "8k.wav")
    bad = run_cli(tmp_path / "home", "callcenter", "prepare", str(work), "--shard", "2/2")
    assert (bad.code, bad.err.strip()) == (1, "error: --shard 2/2: K must be in 0..N-1")


@pytest.fixture(scope="module")
def prepared(corpus: Path) -> Path:
    assert callcenter.prepare(str(corpus)).converted == 7 * CALLS
    return corpus


@pytest.fixture(scope="module")
def heard(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Any]:
    r = run_cli(tmp_path_factory.mktemp("home"), "--json", "callcenter", "adapt-asr",
                str(prepared))
    assert r.code == 0, r.err
    return r.json(), callcenter.word_error_rate(str(prepared))


def test_domain_language_model_lowers_word_error_rate(prepared: Path,
                                                      heard: tuple[dict, Any]) -> None:
    model, report = heard
    _, sentences = callcenter.read_manifest(prepared)
    train_words = {w for s in sentences if s.split == "train" for w in s.text.split()}
    assert model["domain_words"] == len(train_words) and model["order"] == 3
    assert model["words"] > 5000
    assert set(model["new_words"]) <= train_words and model["new_words"]
    entries = dict(line.split(" ", 1) for line in
                   Path(model["dictionary"]).read_text().splitlines())
    assert train_words < set(entries) and entries["the"] == "DH AH"
    assert report.sentences == 7 and not report.errors
    assert report.adapted_wer < report.stock_wer
    # the streaming decoder hears a product name only the adapted model knows
    product = next(w for w in model["new_words"])
    said = audio.synthesize(f"my {product} arrived", voice="slt")
    assert product in callcenter.Recognizer(model["path"]).transcribe(said).split()
    assert product not in callcenter.Recognizer().transcribe(said).split()


def test_adapted_sentiment_beats_vader_and_the_seed_metric_misleads(
        home: Path, tmp_path: Path, prepared: Path, heard: tuple[dict, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = run_cli(home, "--json", "callcenter", "make-dataset", "text", "--conversations",
                   "24", "--seed", "8", "--text-only", "--to-volume", "center")
    assert made.code == 0, made.err
    remotes.add("lake", str(tmp_path / "lake"), home=str(home))
    version = datasets.push("center", remote="lake", name="calls", home=str(home))
    r = run_cli(home, "--json", "callcenter", "train-sentiment", made.json()["path"],
                "--volume", "models", "--dataset", "calls:v1")
    assert r.code == 0, r.err
    model = r.json()
    assert model["dataset"] == f"calls:v1 (from {version.source})"
    assert [s.name for s in snapshots.list("models", home=str(home))] == [model["snapshot"]]
    meta = json.loads((Path(model["path"]) / "model.json").read_text())
    assert meta["dataset"] == model["dataset"] and meta["sentences"] == model["sentences"]

    report = callcenter.evaluate_sentiment(made.json()["path"], model=model["path"],
                                           resamples=300)
    on_gold = {s.model: s for s in report.scores if s.text == "gold"}
    assert set(on_gold) == {"stock", "adapted", "always-neutral"}
    assert sum(map(sum, on_gold["adapted"].confusion)) == report.sentences == 42
    assert set(on_gold["stock"].per_class) == {"negative", "neutral", "positive"}
    paired = report.extra["paired_macro_f1"]
    assert paired["low"] > 0 and paired["conversations"] == 6  # excludes zero
    assert on_gold["adapted"].macro_f1 > on_gold["stock"].macro_f1 > on_gold[
        "always-neutral"].macro_f1

    # on the spoken corpus, with the ASR transcripts wer kept: the seed's number calls
    # the always-neutral model perfect, though it is the worst against gold
    spoken = callcenter.evaluate_sentiment(str(prepared), model=model["path"], resamples=50)
    assert spoken.seed_metric["always-neutral"] == 0.0
    assert set(spoken.seed_metric) == {"stock", "adapted", "always-neutral"}
    on_asr = {s.model: s for s in spoken.scores if s.text == "asr"}
    assert on_asr["always-neutral"].macro_f1 < on_asr["adapted"].macro_f1
    assert spoken.extra["asr_sentences"] == 7 and spoken.extra["skipped"] == 0
    wer = heard[1]
    assert spoken.extra["wer"] == pytest.approx({"stock": wer.stock_wer,
                                                 "adapted": wer.adapted_wer})
    out = run_cli(home, "callcenter", "eval-sentiment", str(prepared), "--model",
                  model["path"], "--resamples", "50", "--report", str(tmp_path / "report"))
    assert out.code == 0, out.err
    assert "always-neutral" in out.out and "seed's metric" in out.out
    md = (tmp_path / "report" / "report.md").read_text()
    assert f"| adapted | asr | {on_asr['adapted'].macro_f1:.3f} |" in md
    assert f"stock {wer.stock_wer:.3f}, adapted {wer.adapted_wer:.3f}" in md
    pngs = sorted((tmp_path / "report").glob("confusion-*.png"))
    assert len(pngs) == 6 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)

    # the evaluation as a scheduler job, its report written to a volume
    require_root("jobs run confined as their projects' uids")
    monkeypatch.setenv("MLFABRIC_RUNTIME", "local")
    h = str(home)
    nodes.add("n1", gpus=1, home=h)
    projects.create("center", quota=1, home=h)
    report_dir = Path(volumes.path("models", home=h)) / "reports" / "v1"
    outside = run_cli(home, "callcenter", "eval-sentiment", made.json()["path"], "--model",
                      model["path"], "--report", str(tmp_path / "r"), "--submit", "center")
    assert outside.code == 1 and "the report folder" in outside.err and "is in none" in \
        outside.err
    sub = run_cli(home, "--json", "callcenter", "eval-sentiment", made.json()["path"],
                  "--model", model["path"], "--resamples", "50", "--report", str(report_dir),
                  "--submit", "center")
    assert sub.code == 0, sub.err
    assert sub.json() == {"job": "eval", "project": "center"}
    deadline = time.monotonic() + 120
    while (j := jobs.get("eval", project="center", home=h)).state not in ("Succeeded",
                                                                         "Failed"):
        assert time.monotonic() < deadline, jobs.logs("eval", project="center", home=h)
        jobs.step(home=h)
        time.sleep(0.2)
    assert j.state == "Succeeded", jobs.logs("eval", project="center", home=h)
    md = (report_dir / "report.md").read_text()
    assert f"| adapted | gold | {on_gold['adapted'].macro_f1:.3f} |" in md


def test_prepare_as_one_scheduler_job_per_shard(home: Path, corpus: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    require_root("jobs run confined as their projects' uids")
    monkeypatch.setenv("MLFABRIC_RUNTIME", "local")
    h = str(home)
    nodes.add("n1", gpus=1, home=h)
    projects.create("center", quota=1, home=h)
    vol = Path(volumes.create("calls", labels=["project=center"], home=h).path)
    shutil.copytree(corpus, vol / "corpus", ignore=shutil.ignore_patterns("wav", "asr",
                                                                          "*.json.part"))
    (vol / "corpus" / "transcripts.json").unlink(missing_ok=True)
    r = run_cli(home, "--json", "callcenter", "prepare", "corpus", "--jobs", "2",
                "--volume", "calls", "--project", "center")
    assert r.code == 0, r.err
    assert r.json() == ["prep-0-of-2", "prep-1-of-2"]
    deadline = time.monotonic() + 120
    for name in r.json():
        while (j := jobs.get(name, project="center", home=h)).state not in ("Succeeded",
                                                                             "Failed"):
            assert time.monotonic() < deadline, jobs.logs(name, project="center", home=h)
            jobs.step(home=h)
            time.sleep(0.2)
        assert j.state == "Succeeded", jobs.logs(name, project="center", home=h)
    _, sentences = callcenter.read_manifest(vol / "corpus")
    assert all(len(audio.read_wav(vol / "corpus" / s.wav)) > 0 for s in sentences)
    assert sorted(p.name for p in (vol / "corpus" / "wav").glob("errors-*")) == [
        "errors-0-of-2.json", "errors-1-of-2.json"]
    bad = run_cli(home, "callcenter", "prepare", "../x", "--jobs", "2", "--volume", "calls",
                  "--project", "center")
    assert bad.code == 1 and "must be relative to volume 'calls'" in bad.err


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_live_history_is_kept_in_the_catalog(home: Path, backend: str,
                                             request: pytest.FixtureRequest,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "postgres":
        monkeypatch.setenv("MLFABRIC_CATALOG_URL", request.getfixturevalue("postgres_url"))
    h = str(home)
    for name in ("cc-a", "cc-b"):
        projects.create(name, quota=1, home=h)
    for i, label in enumerate(["negative", "neutral", "positive", "positive"]):
        callcenter.record_sentence("agent-02", "c-9", i, f"sentence {i}", label,
                                   start=i, end=i + 0.8, project="cc-a", home=h)
    callcenter.record_sentence("agent-03", "c-10", 0, "hello", "neutral", project="cc-a",
                               home=h)
    with pytest.raises(AlreadyExists):
        callcenter.record_sentence("agent-02", "c-9", 1, "again", "neutral", project="cc-a",
                                   home=h)
    with pytest.raises(InvalidInput, match="longer than 2000"):
        callcenter.record_sentence("agent-02", "c-9", 9, "x" * 2001, "neutral",
                                   project="cc-a", home=h)
    with pytest.raises(InvalidInput, match="belongs to agent 'agent-02'"):
        callcenter.record_sentence("agent-03", "c-9", 7, "mine", "neutral", project="cc-a",
                                   home=h)
    [c9] = callcenter.list_calls("agent-02", project="cc-a", home=h)
    assert (c9["call"], c9["sentences"], c9["trend"]) == ("c-9", 4, [-1.0, -0.5, 0.0, 0.25])
    agents = {a["agent"]: a for a in callcenter.list_agents(project="cc-a", home=h)}
    assert agents["agent-02"]["by_label"] == {"negative": 1, "neutral": 1, "positive": 2}
    assert [e.index for e in callcenter.call_sentences("c-9", 1, project="cc-a", home=h)] \
        == [2, 3]
    events = list(callcenter.follow_call("c-9", 2, idle=0.2, project="cc-a", home=h))
    assert [json.loads(e.split("data: ", 1)[1])["index"] for e in events if "data: " in e] == [3]
    # another project has calls of its own, under the same names, and sees none of cc-a's
    assert callcenter.list_agents(project="cc-b", home=h) == []
    assert callcenter.list_calls(project="cc-b", home=h) == []
    assert callcenter.call_sentences("c-9", project="cc-b", home=h) == []
    callcenter.record_sentence("agent-09", "c-9", 0, "other", "positive", project="cc-b",
                               home=h)
    assert [a["agent"] for a in callcenter.list_agents(project="cc-b", home=h)] == ["agent-09"]
    assert len(callcenter.call_sentences("c-9", project="cc-a", home=h)) == 4
    with pytest.raises(NotFound, match="project 'nosuch'"):
        callcenter.record_sentence("agent-02", "c-1", 0, "x", "neutral", project="nosuch",
                                   home=h)
    with pytest.raises(NotFound, match="project 'nosuch'"):
        callcenter.list_calls(project="nosuch", home=h)


def test_live_sentences_of_earlier_versions_move_to_project_default(home: Path) -> None:
    """Before calls belonged to projects, sentences were in an unscoped table: the first
    use moves each of them, once, into project ``default``, and drops that table."""
    from sqlalchemy import create_engine, inspect, text

    h = str(home)
    projects.create("default", quota=1, home=h)
    engine = create_engine(f"sqlite:///{home / 'catalog.db'}")  # the home's own catalog
    with engine.begin() as c:
        c.execute(text(
            "CREATE TABLE callcenter_sentences (id INTEGER PRIMARY KEY, agent VARCHAR(63), "
            "call VARCHAR(63), idx INTEGER, text TEXT, label VARCHAR(16), start_s FLOAT, "
            "end_s FLOAT, heard_at FLOAT, stored_at FLOAT)"))
        for i, label in enumerate(("negative", "positive")):
            c.execute(text("INSERT INTO callcenter_sentences (agent, call, idx, text, label, "
                           "start_s, end_s, heard_at, stored_at) VALUES ('agent-01', 'old-1', "
                           f":i, 'said {i}', :label, 0, 1, 100, 100)"),
                      {"i": i, "label": label})
    said = callcenter.call_sentences("old-1", project="default", home=h)
    assert [(e.index, e.text, e.label) for e in said] == [(0, "said 0", "negative"),
                                                          (1, "said 1", "positive")]
    assert not inspect(engine).has_table("callcenter_sentences")
    assert [c["call"] for c in callcenter.list_calls(project="default", home=h)] == ["old-1"]


def test_live_commands_name_their_project(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = str(home)
    projects.create("cc-a", quota=1, home=h)
    callcenter.record_sentence("agent-04", "c-1", 0, "thanks a lot", "positive",
                               project="cc-a", home=h)
    none = run_cli(home, "callcenter", "agents")
    assert none.code != 0 and "no project: give --project P" in none.err
    missing = run_cli(home, "callcenter", "calls", "-p", "nosuch")
    assert missing.code == 1 and missing.err.startswith("error: ") and "'nosuch'" in missing.err
    # the project is checked before any audio is read: the file need not exist
    early = run_cli(home, "callcenter", "stream", "-p", "nosuch", "--agent", "agent-04",
                    "--call", "c-2", "--fast", str(home / "no-such.mp3"))
    assert early.code == 1 and "'nosuch'" in early.err and "no-such.mp3" not in early.err
    calls = run_cli(home, "--json", "callcenter", "calls", "-p", "cc-a")
    assert calls.code == 0, calls.err
    assert [(c["call"], c["agent"]) for c in calls.json()] == [("c-1", "agent-04")]
    monkeypatch.setenv("MLFABRIC_PROJECT", "cc-a")  # the user's default project
    agents = run_cli(home, "--json", "callcenter", "agents")
    assert agents.code == 0 and [a["agent"] for a in agents.json()] == ["agent-04"]

"""The call-center pipeline full size, with its peers in the same run: audio preparation
parallel over cores against serial (the named peer), the ASR adapted to the center's
transcripts against the stock pocketsphinx model (WER, real-time factor), and the
adapted sentiment model against stock VADER and an always-neutral model (macro-F1 with a
paired bootstrap interval over whole calls, and the seed's mean-absolute-difference).

    .venv/bin/python bench/callcenter.py     # 40 calls scored, 300 (2,100 files) prepared
    .venv/bin/python bench/callcenter.py --prep-calls 0    # skip the 2,100-file part
Run it alone (flock /tmp/mlfabric-heavy.lock): it keeps every core busy for minutes.
Outputs go to bench/.work/callcenter/ (summary.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from mlfabric.apps import callcenter
from mlfabric.apps.callcenter.dataset import WAV_DIR
from mlfabric.apps.callcenter.sentiment import embed, load_classifier, vader_label

WORK = Path(__file__).resolve().parent / ".work" / "callcenter"


def prepare_both(corpus: Path) -> dict:
    """Serial (one worker) and parallel (one per core) on the same files, fresh each."""
    out = {}
    for name, workers in (("serial", 1), ("parallel", os.cpu_count() or 1)):
        shutil.rmtree(corpus / WAV_DIR, ignore_errors=True)
        r = callcenter.prepare(str(corpus), workers=workers)
        out[name] = {"workers": workers, "files": r.converted, "seconds": r.seconds,
                     "files_per_s": r.converted / r.seconds,
                     "files_per_s_per_core": r.converted / r.seconds / workers}
    out["speedup"] = out["serial"]["seconds"] / out["parallel"]["seconds"]
    return out


def prepare_by_jobs(corpus: Path, root: Path, shards: int) -> dict:
    """The corpus copied into a volume of a fresh home with one local node, prepared by
    ``shards`` scheduler jobs (one worker each), the scheduler stepped until all end."""
    from mlfabric import jobs, nodes, projects, volumes

    home = str(root / "jobs-home")
    os.environ["MLFABRIC_RUNTIME"] = "local"
    nodes.add("n1", gpus=1, home=home)
    projects.create("center", quota=1, home=home)
    vol = Path(volumes.create("calls", labels=["project=center"], home=home).path)
    shutil.copytree(corpus, vol / "corpus", ignore=shutil.ignore_patterns(WAV_DIR))
    t = time.perf_counter()
    names = callcenter.submit_prepare("corpus", volume="calls", project="center",
                                      shards=shards, home=home)
    states = {}
    while len(states) < len(names):
        jobs.step(home=home)
        for n in names:
            j = jobs.get(n, project="center", home=home)
            if j.state in ("Succeeded", "Failed"):
                states[n] = j.state
        time.sleep(0.2)
    seconds = time.perf_counter() - t
    files = len(list((vol / "corpus" / WAV_DIR).rglob("*.wav")))
    cores = min(shards, os.cpu_count() or 1)
    return {"jobs": shards, "states": sorted(set(states.values())), "files": files,
            "seconds": seconds, "files_per_s": files / seconds,
            "files_per_s_per_core": files / seconds / cores}


def sentiment_speed(texts: list[str], model: str) -> dict:
    clf = load_classifier(model)
    embed(texts[:8])  # warm
    t = time.perf_counter()
    clf.predict(texts)
    adapted = len(texts) / (time.perf_counter() - t)
    t = time.perf_counter()
    for x in texts:
        vader_label(x)
    stock = len(texts) / (time.perf_counter() - t)
    return {"adapted_sentences_per_s": adapted, "stock_sentences_per_s": stock}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=40, help="spoken calls (7 sentences each) "
                    "for WER and sentiment")
    ap.add_argument("--prep-calls", type=int, default=300, help="spoken calls for the "
                    "preparation throughput: serial, parallel and by scheduler jobs")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="scheduler jobs")
    ap.add_argument("--text-calls", type=int, default=300, help="text-only calls to train "
                    "sentiment on")
    ap.add_argument("--noise-db", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="callcenter-", dir=WORK))
    corpus, text = root / "spoken", root / "text"
    t = time.perf_counter()
    made = callcenter.make_dataset(str(corpus), conversations=args.calls, seed=args.seed,
                                   noise_db=args.noise_db)
    made_s = time.perf_counter() - t
    print(f"corpus: {made.sentences} sentences in {made.conversations} calls "
          f"({made.held_out} held out), {made.labels}, spoken in {made_s:.1f}s")
    prep: dict = {}
    if args.prep_calls:
        big = root / "throughput"
        t = time.perf_counter()
        many = callcenter.make_dataset(str(big), conversations=args.prep_calls,
                                       seed=args.seed + 2, noise_db=args.noise_db)
        print(f"throughput corpus: {many.sentences} files spoken in "
              f"{time.perf_counter() - t:.1f}s")
        prep = prepare_both(big)
        print(f"prepare {many.sentences} files: serial {prep['serial']['files_per_s']:.1f} "
              f"files/s, parallel ({prep['parallel']['workers']} workers) "
              f"{prep['parallel']['files_per_s']:.1f} files/s = "
              f"{prep['parallel']['files_per_s_per_core']:.1f} files/s per core; "
              f"parallel/serial {prep['speedup']:.2f}x")
        prep["jobs"] = prepare_by_jobs(big, root, args.jobs)
        pj = prep["jobs"]
        print(f"prepare by {pj['jobs']} scheduler jobs: {pj['files']} files, states "
              f"{pj['states']}, {pj['seconds']:.1f}s = {pj['files_per_s']:.1f} files/s = "
              f"{pj['files_per_s_per_core']:.1f} files/s per core (in-process parallel / "
              f"jobs {prep['parallel']['files_per_s'] / pj['files_per_s']:.2f}x)")
    callcenter.prepare(str(corpus))

    model = callcenter.adapt_asr(str(corpus))
    wer = callcenter.word_error_rate(str(corpus))
    rtf = wer.seconds / 2 / wer.audio_seconds  # both models decoded the same audio
    print(f"ASR on {wer.sentences} held-out sentences: WER stock {wer.stock_wer:.3f}, "
          f"adapted {wer.adapted_wer:.3f} ({wer.adapted_wer / wer.stock_wer:.2f}x); "
          f"{len(model.new_words)} new words; real-time factor {rtf:.3f} (mean of both)")

    callcenter.make_dataset(str(text), conversations=args.text_calls, seed=args.seed + 1,
                            speak=False)
    home = root / "home"
    trained = callcenter.train_sentiment(str(text), volume="models", home=str(home))
    report = callcenter.evaluate_sentiment(str(corpus), model=trained.path)
    for s in report.scores:
        print(f"sentiment {s.model:15} on {s.text:4}: macro-F1 {s.macro_f1:.3f} accuracy "
              f"{s.accuracy:.3f} F1 neg/neu/pos " +
              "/".join(f"{c['f1']:.2f}" for c in s.per_class.values()))
    d = report.extra["paired_macro_f1"]
    print(f"adapted - stock macro-F1 {d['difference']:+.3f}, 95% interval "
          f"[{d['low']:+.3f}, {d['high']:+.3f}] over {d['conversations']} calls")
    print("seed's metric (mean |gold - ASR|, lower 'better'): " + ", ".join(
        f"{k} {v:.3f}" for k, v in report.seed_metric.items()))
    _, sentences = callcenter.read_manifest(corpus)
    speed = sentiment_speed([s.text for s in sentences], trained.path)
    print(f"sentiment speed: adapted {speed['adapted_sentences_per_s']:.0f} sentences/s, "
          f"VADER {speed['stock_sentences_per_s']:.0f} sentences/s")
    summary = {"machine": platform.processor() or platform.machine(),
               "cores": os.cpu_count(), "load": os.getloadavg(), "corpus": made.to_dict(),
               "prepare": prep, "wer": wer.to_dict(), "real_time_factor": rtf,
               "sentiment": report.to_dict(), "sentiment_speed": speed}
    (WORK / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"no GPU here: CPU numbers only (the reference claims 10 ms ASR + 10 ms "
          f"sentiment per file on a GPU); load average {os.getloadavg()[0]:.1f}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

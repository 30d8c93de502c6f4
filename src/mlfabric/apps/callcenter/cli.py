"""``mlfabric callcenter make-dataset|prepare|adapt-asr|wer|train-sentiment|eval-sentiment|
stream|agents|calls``."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

import httpx
import typer

from mlfabric.apps import callcenter
from mlfabric.config import (
    NO_PROJECT,
    PROJECT_ENV,
    SERVER_ENV,
    TOKEN_ENV,
    default_project,
)
from mlfabric.console import OPTIONS, emit_json, progress, say, table, warn
from mlfabric.errors import MlfabricError

app = typer.Typer(no_args_is_help=True)  # its help: APP in mlfabric.apps.callcenter

_WORKERS = "Parallel workers (default: one per core)."


def _live_project(ctx: typer.Context, param: typer.CallbackParam, value: str | None
                  ) -> str | None:
    """The project of a live call: ``-p``, else the user's default project."""
    value = value or (None if ctx.resilient_parsing else default_project())
    if value is None and not ctx.resilient_parsing:
        raise typer.BadParameter(NO_PROJECT, param=param)
    return value


_PROJECT = typer.Option(None, "--project", "-p", callback=_live_project,
                        help=f"Project of the calls (default ${PROJECT_ENV}, then: "
                        "mlfabric config get project).")


@app.command("make-dataset")
def make_dataset(path: str = typer.Argument(..., help="Folder to write the corpus into "
                                            "(inside the volume with --to-volume)."),
                 conversations: int = typer.Option(..., "--conversations", help="Calls to "
                                                   "script and speak."),
                 seed: int = typer.Option(0, "--seed", help="Random seed."),
                 agents: int = typer.Option(4, "--agents", help="Agents taking the calls."),
                 noise_db: float | None = typer.Option(None, "--noise-db", help="Add "
                                                       "background noise at this SNR (dB)."),
                 telephone: bool = typer.Option(False, "--telephone", help="Band-limit to "
                                                "300-3400 Hz at 8 kHz, as a phone line."),
                 to_volume: str | None = typer.Option(None, "--to-volume", help="Write into "
                                                      "this volume (made if missing); "
                                                      "`dataset push` versions it."),
                 force: bool = typer.Option(False, "--force", help="Overwrite a corpus "
                                            "already there."),
                 text_only: bool = typer.Option(False, "--text-only", help="The manifest "
                                                "alone, no audio."),
                 workers: int | None = typer.Option(None, "--workers", help=_WORKERS)) -> None:
    """Script support calls, speak every sentence with flite, store MP3s and a manifest."""
    d = callcenter.make_dataset(path, conversations=conversations, seed=seed, agents=agents,
                                noise_db=noise_db, telephone=telephone, to_volume=to_volume,
                                force=force, speak=not text_only, workers=workers,
                                home=OPTIONS.home,
                                progress=progress())
    if OPTIONS.json:
        emit_json(d)
    else:
        labels = ", ".join(f"{n} {k}" for k, n in d.labels.items())
        say(f"wrote {d.conversations} calls ({d.held_out} held out), {d.sentences} sentences "
            f"({labels}) to {d.path}")


@app.command("prepare")
def prepare(path: str = typer.Argument(..., help="Corpus folder."),
            workers: int | None = typer.Option(None, "--workers", help=_WORKERS),
            shard: str = typer.Option("0/1", "--shard", help="Only shard K/N of the files "
                                      "(K from 0), as one scheduler job does."),
            jobs: int | None = typer.Option(None, "--jobs", help="Submit this many "
                                            "scheduler jobs, one per shard (PATH is then "
                                            "inside --volume)."),
            volume: str | None = typer.Option(None, "--volume", help="Volume holding the "
                                              "corpus (with --jobs)."),
            project: str | None = typer.Option(None, "--project", "-p", help="Project of "
                                               "the jobs (with --jobs).")) -> None:
    """Convert the corpus's MP3s to 16 kHz mono WAV (resumable; bad files recorded)."""
    if jobs is not None:
        if volume is None or project is None:
            raise typer.BadParameter("--jobs needs --volume and --project")
        names = callcenter.submit_prepare(path, volume=volume, project=project, shards=jobs,
                                          workers=workers or 1, home=OPTIONS.home)
        if OPTIONS.json:
            emit_json(names)
        else:
            say(f"submitted {len(names)} jobs: {', '.join(names)}")
        return
    r = callcenter.prepare(path, workers=workers, shard=shard, progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    say(f"shard {r.shard}: {r.converted} converted, {r.already} already done, "
        f"{len(r.errors)} skipped of {r.files} files in {r.seconds:.1f}s "
        f"with {r.workers} workers")
    for e in r.errors:
        warn(f"skipped {e.file}: {e.reason}")


@app.command("adapt-asr")
def adapt_asr(path: str = typer.Argument(..., help="Corpus folder."),
              out: str | None = typer.Option(None, "--out", "-o", help="Model folder "
                                             "(default PATH/asr)."),
              order: int = typer.Option(3, "--order", help="N-gram order."),
              background: int = typer.Option(5000, "--background", help="Likeliest words "
                                             "of the stock model to keep (0: none).")) -> None:
    """Build a domain ARPA language model and dictionary from the training transcripts."""
    m = callcenter.adapt_asr(path, out=out, order=order, background=background)
    if OPTIONS.json:
        emit_json(m)
    else:
        say(f"wrote {m.lm} ({m.order}-gram, {m.words} words from {m.sentences} sentences) "
            f"and {m.dictionary} ({len(m.new_words)} new words)")


@app.command("wer")
def wer(path: str = typer.Argument(..., help="Prepared corpus folder."),
        model: str | None = typer.Option(None, "--model", help="Adapted model folder "
                                         "(default PATH/asr).")) -> None:
    """Word error rate, stock vs adapted, on the held-out calls."""
    r = callcenter.word_error_rate(path, model=model, progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    say(f"WER on {r.sentences} held-out sentences: stock {r.stock_wer:.3f}, "
        f"adapted {r.adapted_wer:.3f} ({len(r.errors)} files skipped)")
    for e in r.errors:
        warn(f"skipped {e.file}: {e.reason}")


@app.command("train-sentiment")
def train_sentiment(path: str = typer.Argument(..., help="Corpus folder."),
                    volume: str = typer.Option(..., "--volume", help="Volume to save the "
                                               "model in (made if missing; snapshotted)."),
                    name: str = typer.Option("sentiment", "--name", help="Folder in the "
                                             "volume."),
                    dataset: str | None = typer.Option(None, "--dataset", help="Dataset "
                                                       "version the corpus came from "
                                                       "(NAME[:VERSION]), kept as lineage."),
                    seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Train the adapted sentiment model (sentence embeddings + logistic regression)."""
    m = callcenter.train_sentiment(path, volume=volume, name=name, dataset=dataset, seed=seed,
                                   home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(m)
    else:
        say(f"trained on {m.sentences} sentences; saved in {m.path}, snapshot "
            f"{m.volume}@{m.snapshot}" + (f", from dataset {m.dataset}" if m.dataset else ""))


@app.command("eval-sentiment")
def eval_sentiment(path: str = typer.Argument(..., help="Corpus folder."),
                   model: str = typer.Option(..., "--model", help="Sentiment model folder."),
                   resamples: int = typer.Option(1000, "--resamples", help="Bootstrap "
                                                 "resamples of whole conversations."),
                   report: str | None = typer.Option(None, "--report", help="Folder for "
                                                     "report.md and the confusion PNGs "
                                                     "(a volume's path keeps them)."),
                   submit: str | None = typer.Option(None, "--submit", metavar="PROJECT",
                                                     help="Run it as a scheduler job of "
                                                     "PROJECT (corpus, model and --report "
                                                     "inside volumes)."),
                   name: str = typer.Option("eval", "--name", help="The job's name "
                                            "(with --submit).")
                   ) -> None:
    """Stock vs adapted vs always-neutral sentiment on the held-out calls."""
    if submit is not None:
        if report is None:
            raise typer.BadParameter("--submit needs --report (a folder inside a volume)")
        job = callcenter.submit_eval(path, model=model, report=report, project=submit,
                                     name=name, resamples=resamples, home=OPTIONS.home)
        emit_json({"job": job, "project": submit}) if OPTIONS.json else say(
            f"submitted job {submit}/{job}: `mlfabric job logs {job} -p {submit}` follows it")
        return
    r = callcenter.evaluate_sentiment(path, model=model, resamples=resamples)
    if report is not None:
        written = callcenter.write_report(r, report)
        if not OPTIONS.json:
            say(f"wrote {len(written)} files to {report}")
    if OPTIONS.json:
        emit_json(r)
        return
    table(["MODEL", "TEXT", "MACRO-F1", "ACCURACY", "F1 NEG/NEU/POS"],
          [[s.model, s.text, f"{s.macro_f1:.3f}", f"{s.accuracy:.3f}",
            "/".join(f"{c['f1']:.2f}" for c in s.per_class.values())] for s in r.scores],
          title=f"sentiment on {r.sentences} held-out sentences")
    d = r.extra["paired_macro_f1"]
    say(f"adapted - stock macro-F1: {d['difference']:+.3f} (95% interval {d['low']:+.3f} "
        f"to {d['high']:+.3f}, {d['conversations']} calls resampled)")
    if r.seed_metric:
        say("seed's metric (mean |gold - ASR| sentiment, lower is 'better'): " + ", ".join(
            f"{k} {v:.3f}" for k, v in r.seed_metric.items()))
    say(f"{r.extra['skipped']} files skipped by preparation")


def _refused(resp: httpx.Response, what: str) -> None:
    if resp.status_code >= 400:
        try:
            message = resp.json().get("error", {}).get("message", resp.text)
        except ValueError:  # not JSON
            message = resp.text
        raise MlfabricError(f"server refused {what}: {message}")


def _poster(json_lines: bool, project: str) -> Callable[[callcenter.SentenceEvent], object]:
    """Store each sentence as one of ``project``: through the server
    (MLFABRIC_SERVER/MLFABRIC_TOKEN) when set, else in the home's catalog; then show it."""
    url, token = os.environ.get(SERVER_ENV), os.environ.get(TOKEN_ENV)
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) if url else None
    # before the call plays: the project is there and the caller may record in it
    if client is not None:
        _refused(client.get("/api/v1/callcenter/agents", params={"project": project}),
                 f"project '{project}'")
    else:
        callcenter.list_agents(project=project, home=OPTIONS.home)

    def post(e: callcenter.SentenceEvent) -> object:
        body = dataclasses.asdict(e)  # heard_at as epoch seconds, as the route takes it
        if client is not None:
            _refused(client.post("/api/v1/callcenter/sentences",
                                 json={**body, "project": project}), f"sentence {e.index}")
        else:
            callcenter.record_sentence(**{k: body[k] for k in (
                "agent", "call", "index", "text", "label", "start", "end", "heard_at")},
                project=project, home=OPTIONS.home)
        if json_lines:
            print(json.dumps(body), flush=True)
        else:
            say(f"[{e.end:6.1f}s] {e.label:8} {e.text}")
        return e

    return post


@app.command("stream")
def stream(files: list[str] = typer.Argument(..., help="Audio files of the call, played "
                                             "one after another."),
           agent: str = typer.Option(..., "--agent", help="Agent taking the call."),
           call: str = typer.Option(..., "--call", help="Call name."),
           project: str = _PROJECT,
           asr_model: str | None = typer.Option(None, "--asr-model", help="Adapted ASR "
                                                "folder (default: the stock model)."),
           model: str | None = typer.Option(None, "--model", help="Adapted sentiment "
                                            "model folder (default: VADER)."),
           fast: bool = typer.Option(False, "--fast", help="Do not wait for real time.")
           ) -> None:
    """Play a call in real-time frames; post each sentence with its sentiment as it ends."""
    from mlfabric.names import validate_name

    validate_name(agent, "agent name")
    validate_name(call, "call name")
    post = _poster(OPTIONS.json, project)
    samples = callcenter.call_audio(files)
    callcenter.stream_call(samples, agent=agent, call=call, post=post,
                           asr_model=asr_model, sentiment_model=model, realtime=not fast)


@app.command("agents")
def agents(project: str = _PROJECT) -> None:
    """Agents with their calls and sentiment so far."""
    rows = callcenter.list_agents(project=project, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(rows)
        return
    table(["AGENT", "CALLS", "SENTENCES", "NEG/NEU/POS", "MEAN"],
          [[a["agent"], a["calls"], a["sentences"], "/".join(map(str, a["by_label"].values())),
            f"{a['mean_sentiment']:+.2f}"] for a in rows])


@app.command("calls")
def calls(agent: str | None = typer.Option(None, "--agent", help="Only this agent's."),
          project: str = _PROJECT) -> None:
    """Calls, newest first, with their sentiment trend."""
    rows = callcenter.list_calls(agent, project=project, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(rows)
        return
    table(["CALL", "AGENT", "SENTENCES", "NEG/NEU/POS", "TREND"],
          [[c["call"], c["agent"], c["sentences"], "/".join(map(str, c["by_label"].values())),
            " ".join(f"{t:+.1f}" for t in c["trend"])] for c in rows])

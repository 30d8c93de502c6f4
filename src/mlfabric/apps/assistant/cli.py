"""``mlfabric assistant setup|chat|voice|validate|make-corpus|train|eval|export|to-nemo|retrain|
rollback|versions``."""

from __future__ import annotations

import sys

import typer

from mlfabric.apps import assistant
from mlfabric.console import OPTIONS, emit_json, say, table
from mlfabric.errors import MlfabricError

app = typer.Typer(no_args_is_help=True)  # its help: APP in mlfabric.apps.assistant


def _metrics_line(m: assistant.Metrics) -> str:
    return (f"intent accuracy {m.intent_accuracy:.3f}, slot F1 {m.slot_f1:.3f}, "
            f"sentence accuracy {m.sentence_accuracy:.3f} on {m.examples} examples")


@app.command("setup")
def setup(per_intent: int = typer.Option(120, "--per-intent", help="Generated sentences "
                                         "per intent."),
          seed: int = typer.Option(0, "--seed", help="Random seed."),
          force: bool = typer.Option(False, "--force", help="Replace a live model.")) -> None:
    """Generate the retail corpus, train the first model and make it live (version v1)."""
    v = assistant.setup(per_intent=per_intent, seed=seed, force=force, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(v)
    else:
        say(f"model {v.snapshot} is live: intent accuracy "
            f"{v.metrics['intent_accuracy']:.3f}, slot F1 {v.metrics['slot_f1']:.3f}")


@app.command("chat")
def chat(user: str = typer.Option("guest", "--user", help="Who is talking."),
         message: list[str] = typer.Option(None, "--message", "-m", help="Say this (repeat "
                                           "for several turns) instead of reading stdin.")
         ) -> None:
    """Talk to the assistant: one message a line on stdin (or --message), replies on stdout."""
    s = assistant.open_session(user, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json({"session": s.session, "replies": s.replies})
    else:
        for r in s.replies:
            say(f"assistant> {r}")
    prompt = sys.stdin.isatty() and not message
    lines = iter(message) if message else iter(sys.stdin.readline, "")
    while True:
        if prompt:
            sys.stdout.write("you> ")
            sys.stdout.flush()
        line = next(lines, None)
        if line is None:
            break
        line = line.rstrip("\n")
        if line.strip() in ("/quit", "/exit"):
            break
        try:
            t = assistant.chat(s.session, line, home=OPTIONS.home)
        except MlfabricError as exc:  # one bad turn must not end the conversation
            say(f"assistant> Sorry, {exc}")
            continue
        if OPTIONS.json:
            emit_json(t)
        else:
            for r in t.replies:
                say(f"assistant> {r}")


@app.command("voice")
def voice(audio: str = typer.Argument(..., help="WAV file with the spoken message."),
          out: str | None = typer.Option(None, "--out", "-o", help="Write the spoken reply "
                                         "(WAV) here."),
          user: str = typer.Option("guest", "--user", help="Who is talking.")) -> None:
    """One spoken turn: recognised with PocketSphinx, answered, the reply spoken by flite."""
    import base64
    from pathlib import Path

    s = assistant.open_session(user, home=OPTIONS.home)
    try:
        data = Path(audio).read_bytes()
    except OSError as exc:
        raise MlfabricError(f"cannot read '{audio}': {exc.strerror}") from None
    v = assistant.voice_chat(s.session, base64.b64encode(data).decode(), speak=out is not None,
                             home=OPTIONS.home)
    if out is not None and v.audio is not None:
        Path(out).write_bytes(base64.b64decode(v.audio))
    if OPTIONS.json:
        emit_json({"transcript": v.transcript, "turn": v.turn.to_dict(), "reply_audio": out})
        return
    say(f"heard> {v.transcript}")
    for r in v.turn.replies:
        say(f"assistant> {r}")


@app.command("validate")
def validate(folder: str | None = typer.Argument(None, help="Folder of flow files "
                                                  "(default: the shipped retail flows)."),
             model: bool = typer.Option(False, "--model", help="Also check intents against "
                                        "the live model's.")) -> None:
    """Check a flow set: each defect as FILE:LINE: message; exit 1 when there is one."""
    flows = assistant.load_flows(folder or assistant.default_flows())
    intents = None
    if model:
        intents = assistant.Assistant(OPTIONS.home).model().intents
    defects = assistant.validate(flows, adapters=assistant.OUTPUTS, intents=intents)
    if OPTIONS.json:
        emit_json(defects)
    else:
        for d in defects:
            say(str(d))
    if defects:
        raise MlfabricError(f"{len(defects)} defect(s) in {len(flows.flows)} flows")
    if not OPTIONS.json:
        say(f"{len(flows.flows)} flows, no defects")


@app.command("make-corpus")
def make_corpus(out: str = typer.Argument(..., help="Folder to write (NeMo format)."),
                per_intent: int = typer.Option(120, "--per-intent", help="Sentences per "
                                               "intent."),
                seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Write the generated retail corpus (train and test) in NeMo format."""
    path = assistant.make_corpus(out, per_intent=per_intent, seed=seed)
    train, test = assistant.read_split(path, "train"), assistant.read_split(path, "test")
    if OPTIONS.json:
        emit_json({"path": str(path), "train": len(train), "test": len(test)})
    else:
        say(f"wrote {len(train)} training and {len(test)} test sentences to {path}")


@app.command("train")
def train(data: str = typer.Option(..., "--data", help="NeMo-format folder."),
          out: str = typer.Option(..., "--out", help="Folder to save the model in."),
          seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Train the joint intent and slot model on the train split; score the test split."""
    r = assistant.train(data, out, seed=seed)
    if OPTIONS.json:
        emit_json(r)
    else:
        say(f"trained {r.model} on {r.train_examples} sentences, {len(r.intents)} intents, "
            f"in {r.seconds:.1f}s" + (f"; test: {_metrics_line(r.test)}" if r.test else ""))


@app.command("eval")
def eval_(model: str = typer.Option(..., "--model", help="Model folder."),
          data: str = typer.Option(..., "--data", help="NeMo-format folder."),
          split: str = typer.Option("test", "--split", help="Split to score.")) -> None:
    """Intent accuracy, slot F1 and sentence accuracy of a model on a split."""
    m = assistant.evaluate(model, data, split)
    emit_json(m) if OPTIONS.json else say(_metrics_line(m))


@app.command("export")
def export(out: str = typer.Option(..., "--out", "-o", help="CSV file to write."),
           day: str | None = typer.Option(None, "--day", help="YYYY-MM-DD (UTC; default "
                                          "today).")) -> None:
    """Write the day's conversation turns as CSV (for labelling)."""
    e = assistant.export(out, day=day, home=OPTIONS.home)
    emit_json(e) if OPTIONS.json else say(f"wrote {e.turns} turns of {e.day} to {e.path}")


@app.command("to-nemo")
def to_nemo(history: list[str] = typer.Argument(..., help="Labelled history CSV files."),
            out: str = typer.Option(..., "--out", "-o", help="NeMo-format folder to write."),
            base: str | None = typer.Option(None, "--base", help="Data to add them to "
                                            "(default: the live model's)."),
            test_fraction: float = typer.Option(0.25, "--test-fraction", help="Share of the "
                                                "history held out for testing.")) -> None:
    """Convert labelled history to NeMo format, joined with the base data; validated."""
    c = assistant.to_nemo(history, out, base=base, test_fraction=test_fraction,
                          home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(c)
    else:
        say(f"wrote {c.train} training and {c.test} test sentences ({c.history_rows} from "
            f"history, {c.skipped} unlabelled skipped) to {c.path}")


@app.command("retrain")
def retrain(data: str = typer.Option(..., "--data", help="NeMo-format folder (to-nemo's)."),
            project: str | None = typer.Option(None, "--project", "-p", help="Train as a "
                                               "scheduler job of this project.")) -> None:
    """Train a candidate, compare it with the live model, promote it if not worse."""
    r = assistant.retrain(data, project=project, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(r)
        return
    table(["intent", "examples", "live", "candidate"],
          [[i.intent, i.examples, f"{i.live:.2f}", f"{i.candidate:.2f}"] for i in r.intents],
          title="intent accuracy on the held-out split")
    say(f"live:      {_metrics_line(r.live)}")
    say(f"candidate: {_metrics_line(r.candidate_metrics)}")
    say(f"{'promoted as ' + str(r.snapshot) if r.promoted else 'not promoted'}: {r.reason}")


@app.command("rollback")
def rollback() -> None:
    """Make the previous model version live again."""
    v = assistant.rollback(home=OPTIONS.home)
    emit_json(v) if OPTIONS.json else say(f"rolled back to {v.snapshot}")


@app.command("versions")
def versions() -> None:
    """Setups, promotions and rollbacks of the live model."""
    vs = assistant.versions(home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(vs)
    else:
        table(["action", "snapshot", "intent acc", "slot F1", "data"],
              [[v.action, v.snapshot, f"{v.metrics.get('intent_accuracy', 0):.3f}",
                f"{v.metrics.get('slot_f1', 0):.3f}", v.data] for v in vs])

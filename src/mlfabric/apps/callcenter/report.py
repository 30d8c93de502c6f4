"""The evaluation as a report: ``report.md`` with every score and a 3x3 confusion matrix
per model and transcript as PNG, in a folder (a volume's, to keep it)."""

from __future__ import annotations

from pathlib import Path

from mlfabric.apps.callcenter.records import ModelScores, SentimentReport
from mlfabric.apps.callcenter.script import LABELS
from mlfabric.extras import require

REPORT = "report.md"


def _png(s: ModelScores, path: Path) -> None:
    require("matplotlib", "callcenter").use("Agg")
    plt = require("matplotlib.pyplot", "callcenter")
    fig, ax = plt.subplots(figsize=(3.6, 3.2), dpi=100)
    ax.imshow(s.confusion, cmap="Blues")
    ax.set_xticks(range(3), [x[:3] for x in LABELS])
    ax.set_yticks(range(3), [x[:3] for x in LABELS])
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{s.model} on {s.text} text")
    top = max(max(r) for r in s.confusion) or 1
    for i, row in enumerate(s.confusion):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center",
                    color="white" if n > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(r: SentimentReport, out: str | Path) -> list[str]:
    """Write ``report.md`` and the confusion PNGs into ``out``; the files written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# Sentiment on {r.sentences} held-out sentences", "",
             f"Corpus: `{r.path}`; files skipped by preparation: {r.extra.get('skipped', 0)}.",
             "", "| model | text | macro-F1 | accuracy | F1 negative | F1 neutral | "
             "F1 positive |", "|---|---|---|---|---|---|---|"]
    written = []
    for s in r.scores:
        f1 = [f"{s.per_class[k]['f1']:.3f}" for k in LABELS]
        lines.append(f"| {s.model} | {s.text} | {s.macro_f1:.3f} | {s.accuracy:.3f} | "
                     + " | ".join(f1) + " |")
    d = r.extra["paired_macro_f1"]
    lines += ["", f"Adapted minus stock macro-F1: {d['difference']:+.3f}, 95% interval "
              f"[{d['low']:+.3f}, {d['high']:+.3f}] ({d['resamples']} resamples of "
              f"{d['conversations']} whole calls).", ""]
    if r.extra.get("wer"):
        lines += [f"Word error rate on the same sentences: stock {r.extra['wer']['stock']:.3f}, "
                  f"adapted {r.extra['wer']['adapted']:.3f}.", ""]
    if r.seed_metric:
        lines += ["The seed's metric, mean |sentiment(gold text) - sentiment(ASR text)| "
                  "(it never sees the gold labels; always-neutral scores 0):", ""]
        lines += [f"- {k}: {v:.3f}" for k, v in r.seed_metric.items()] + [""]
    lines += ["## Confusion matrices (rows gold, columns predicted)", ""]
    for s in r.scores:
        name = f"confusion-{s.model}-{s.text}.png"
        _png(s, folder / name)
        written.append(str(folder / name))
        lines.append(f"![{s.model} on {s.text} text]({name})")
    (folder / REPORT).write_text("\n".join(lines) + "\n")
    return [str(folder / REPORT), *written]

"""The call-center speech sentiment pipeline: scripted support calls spoken by flite and
stored as MP3, audio preparation to 16 kHz WAV, streaming speech recognition with
pocketsphinx (stock and adapted to the center's vocabulary), per-sentence sentiment
(stock VADER and a classifier over offline sentence embeddings), and a live per-agent
view of calls.

Public API mirroring ``mlfabric callcenter ...``. The heavy libraries load on first use
(the ``callcenter`` extra).
"""

from mlfabric.apps import App
from mlfabric.exports import lazy_exports

APP = App(name="callcenter", help="Call-center speech sentiment: ASR and per-sentence "
          "sentiment, stock vs adapted.", module=__name__,
          cli="mlfabric.apps.callcenter.cli:app")

_EXPORTS = {
    "make_dataset": "dataset", "read_manifest": "dataset", "plan_corpus": "dataset",
    "Sentence": "dataset", "prepare": "prepare", "skipped": "prepare",
    "adapt_asr": "asr", "word_error_rate": "asr", "Recognizer": "asr",
    "transcribe_corpus": "asr",
    "train_sentiment": "sentiment", "vader_label": "sentiment", "load_classifier": "sentiment",
    "evaluate_sentiment": "evaluation", "paired_bootstrap": "evaluation",
    "seed_metric": "evaluation", "macro_f1": "evaluation", "confusion": "evaluation",
    "CallDataset": "records", "PrepareReport": "records", "FileError": "records",
    "AsrModel": "records", "WerReport": "records", "SentimentModel": "records",
    "SentimentReport": "records", "ModelScores": "records", "SentenceEvent": "records",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, needs=("numpy", "pocketsphinx"),
                                             extra="callcenter")

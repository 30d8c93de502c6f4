"""The call-center speech sentiment pipeline: scripted support calls spoken by flite and
stored as MP3, audio preparation to 16 kHz WAV, streaming speech recognition with
pocketsphinx (stock and adapted to the center's vocabulary), per-sentence sentiment
(stock VADER and a classifier over offline sentence embeddings), and a live per-agent
view of calls.

Public API mirroring ``mlfabric callcenter ...``. The heavy libraries load on first use
(the ``callcenter`` extra).
"""

from mlfabric.apps import App, Route
from mlfabric.exports import lazy_exports

# calls belong to a project; agents and calls are the app's own names in it ("text")
APP = App(name="callcenter", help="Call-center speech sentiment: ASR and per-sentence "
          "sentiment, stock vs adapted.", module=__name__,
          cli="mlfabric.apps.callcenter.cli:app", page="web",
          routes=(Route("record_sentence", "POST", "/callcenter/sentences", access="project",
                        refs="project:project agent:text call:text"),
                  Route("list_agents", "GET", "/callcenter/agents", access="project",
                        refs="project:project"),
                  Route("list_calls", "GET", "/callcenter/calls", access="project",
                        refs="project:project agent:text"),
                  Route("call_sentences", "GET", "/callcenter/calls/{call}/sentences",
                        access="project", refs="project:project call:text"),
                  Route("follow_call", "GET", "/callcenter/calls/{call}/events",
                        access="project", refs="project:project call:text", stream=True)))

_EXPORTS = {
    "make_dataset": "dataset", "read_manifest": "dataset", "plan_corpus": "dataset",
    "Sentence": "dataset", "prepare": "prepare", "skipped": "prepare",
    "submit_prepare": "prepare",
    "adapt_asr": "asr", "word_error_rate": "asr", "Recognizer": "asr",
    "transcribe_corpus": "asr",
    "train_sentiment": "sentiment", "vader_label": "sentiment", "load_classifier": "sentiment",
    "evaluate_sentiment": "evaluation", "paired_bootstrap": "evaluation",
    "submit_eval": "evaluation",
    "write_report": "report", "seed_metric": "evaluation", "macro_f1": "evaluation",
    "confusion": "evaluation",
    "record_sentence": "live", "list_agents": "live", "list_calls": "live",
    "call_sentences": "live", "follow_call": "live",
    "stream_call": "stream", "call_audio": "stream",
    "CallDataset": "records", "PrepareReport": "records", "FileError": "records",
    "AsrModel": "records", "WerReport": "records", "SentimentModel": "records",
    "SentimentReport": "records", "ModelScores": "records", "SentenceEvent": "records",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, needs=("numpy",),
                                             extra="callcenter")

"""The conversational retail assistant: YAML dialog flows (ALQUIST's format with Jarvis's
additions) and their validator, joint intent and slot NLU trained from NeMo-format data,
fulfillment from a seeded SQL database (or HTTP services), sessions with context, and the
retraining loop from the day's conversations.

Public API mirroring ``mlfabric assistant ...``. scikit-learn, sklearn-crfsuite and
seqeval load on first use (the ``assistant`` extra).
"""

from mlfabric.apps import App, Route
from mlfabric.exports import lazy_exports

APP = App(name="assistant", help="Conversational retail assistant (flows, NLU, retraining).",
          module=__name__, cli="mlfabric.apps.assistant.cli:app", page="web",
          routes=(Route("open_session", "POST", "/assistant/sessions", access="any",
                        refs="user:text"),
                  Route("chat", "POST", "/assistant/chat", access="any",
                        refs="session:text"),
                  Route("voice_chat", "POST", "/assistant/voice", access="any",
                        refs="session:text"),
                  Route("versions", "GET", "/assistant/versions", access="any")))

_EXPORTS = {
    "open_session": "service", "chat": "service", "Session": "service",
    "voice_chat": "service", "VoiceTurn": "service",
    "transcribe": "voice", "synthesize": "voice",
    "Assistant": "service",
    "load_flows": "flows", "parse_flow": "flows", "default_flows": "flows",
    "FlowSet": "flows", "FlowError": "flows",
    "validate": "validate", "Defect": "validate",
    "Engine": "engine", "Conversation": "engine", "Turn": "engine",
    "Understanding": "engine", "AdapterError": "engine",
    "train": "nlu", "evaluate": "nlu", "Metrics": "nlu", "TrainReport": "nlu",
    "make_corpus": "corpus", "new_requests": "corpus",
    "read_split": "nemo", "write_nemo": "nemo", "Example": "nemo", "tokenize": "nemo",
    "Fulfillment": "fulfillment", "HttpAdapter": "fulfillment",
    "seed_database": "fulfillment", "OUTPUTS": "fulfillment",
    "export": "history", "to_nemo": "history", "read_labelled": "history",
    "setup": "versions", "retrain": "versions", "rollback": "versions",
    "versions": "versions:history", "Retrain": "versions", "Version": "versions",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS,
                                             needs=("sklearn", "sklearn_crfsuite", "seqeval"),
                                             extra="assistant")

"""The assistant of one home: its flows, its live NLU model, its fulfillment database,
and the conversations (sessions with their context, every turn logged) in one SQLite
file under ``HOME/apps/assistant``. The models live on the volume ``assistant``."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from mlfabric import volumes
from mlfabric.apps.assistant import fulfillment, nlu
from mlfabric.apps.assistant.engine import Conversation, Engine, Turn
from mlfabric.apps.assistant.flows import default_flows, load_flows
from mlfabric.errors import InvalidInput, NotFound
from mlfabric.home import open_home
from mlfabric.records import Record

VOLUME = "assistant"
MODEL_DIR = "model"  # the live model, on the volume
CORPUS_DIR = "corpus"  # the data it was trained on, on the volume
CONFIG = "config.yaml"  # threshold, flows folder, HTTP services
DEFAULT_THRESHOLD = 0.5
DEFAULT_SESSION_IDLE_HOURS = 24.0  # a session unused this long is gone

_meta = sa.MetaData()
SESSIONS = sa.Table(
    "sessions", _meta, sa.Column("id", sa.String, primary_key=True),
    sa.Column("user", sa.String, nullable=False), sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False))
TURNS = sa.Table(
    "turns", _meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False), sa.Column("day", sa.String, index=True),
    sa.Column("user", sa.String), sa.Column("session", sa.String),
    sa.Column("text", sa.Text), sa.Column("tokens", sa.Text), sa.Column("intent", sa.String),
    sa.Column("confidence", sa.Float), sa.Column("tags", sa.Text), sa.Column("reply", sa.Text),
    sa.Column("flow", sa.String))
PROMOTIONS = sa.Table(
    "promotions", _meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False), sa.Column("action", sa.String),
    sa.Column("snapshot", sa.String), sa.Column("data", sa.String),
    sa.Column("metrics", sa.Text))


def state_dir(home: str | None) -> Path:
    path = open_home(home).path / "apps" / "assistant"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database(home: str | None) -> sa.Engine:
    """The conversations database (made on first use)."""
    url = f"sqlite:///{state_dir(home) / 'assistant.db'}"
    with _db_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = sa.create_engine(url)
            _meta.create_all(engine)
    return engine


_engines: dict[str, sa.Engine] = {}
_db_lock = threading.Lock()
_lock = threading.Lock()


def fulfillment_url(home: str | None) -> str:
    """The seeded fulfillment database of the home (seeded on first use)."""
    path = state_dir(home) / "fulfillment.db"
    return fulfillment.seed_database(fulfillment.sqlite_url(path))


def model_volume(home: str | None) -> Path:
    """The data folder of the models' volume (created on first use)."""
    try:
        return Path(volumes.path(VOLUME, home=home))
    except NotFound:
        volumes.create(VOLUME, labels=["app=assistant"], home=home)
        return Path(volumes.path(VOLUME, home=home))


def settings(home: str | None) -> dict[str, Any]:
    path = state_dir(home) / CONFIG
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: malformed YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: settings are a mapping (threshold, flows, services)")
    return data


@dataclass(frozen=True)
class Session(Record):
    """A conversation opened for a user, and the assistant's first words."""

    session: str
    user: str
    replies: list[str]


class Assistant:
    """Flows, model and adapters of one home, answering sessions' turns."""

    def __init__(self, home: str | None) -> None:
        self.home = home
        conf = settings(home)
        self.flows = load_flows(conf.get("flows") or default_flows())
        self.db = database(home)
        self.fulfil = fulfillment.build(fulfillment_url(home), conf.get("services"),
                                        timeout_s=float(conf.get("timeout_s", 2.0)),
                                        retries=int(conf.get("retries", 2)))
        self.model_dir = model_volume(home) / MODEL_DIR
        self._model_stamp: tuple[int, int, int] | None = None
        self._model: nlu.NluModel | None = None
        self.engine = Engine(self.flows, self._understand, self.fulfil,
                             fulfillment.OUTPUTS,
                             threshold=float(conf.get("threshold", DEFAULT_THRESHOLD)))
        hours = conf.get("session_idle_hours", DEFAULT_SESSION_IDLE_HOURS)
        if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
            raise InvalidInput(f"{state_dir(home) / CONFIG}: session_idle_hours must be a "
                               f"positive number of hours, not {hours!r}")
        self.idle_s = float(hours) * 3600
        self._lock = threading.Lock()

    def _understand(self, text: str) -> Any:
        return self.model().understand(text)

    def model(self) -> nlu.NluModel:
        """The live model, reloaded when a promotion or rollback replaced it."""
        path = self.model_dir / nlu.MODEL_FILE
        if not path.is_file():
            missing = NotFound("assistant model", str(self.model_dir))
            missing.message += ": run mlfabric assistant setup"
            raise missing
        st = path.stat()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._model is None or stamp != self._model_stamp:
            self._model, self._model_stamp = nlu.load(self.model_dir), stamp
        return self._model

    def open(self, user: str) -> Session:
        self.model()  # no conversation without a model: say so before the greeting
        sid = secrets.token_urlsafe(12)
        with self.db.begin() as c:  # what nobody used for idle_s goes (its turns stay logged)
            c.execute(sa.delete(SESSIONS).where(SESSIONS.c.updated_at
                                                < time.time() - self.idle_s))
        conv = Conversation()
        turn = self.engine.start(conv)
        self._save(sid, user, conv)
        return Session(sid, user, turn.replies)

    def turn(self, session: str, text: str, context: dict[str, Any] | None = None) -> Turn:
        with self._lock:  # one turn at a time per assistant: a session's state is read-modify-write
            user, conv = self._load(session)
            self.model()  # a missing model is an error before anything changes
            t = self.engine.reply(conv, text, context)
            self._save(session, user, conv)
            self._log(user, session, text, t)
        return t

    def _load(self, session: str) -> tuple[str, Conversation]:
        with self.db.connect() as c:
            row = c.execute(sa.select(SESSIONS).where(SESSIONS.c.id == session)).first()
        if row is None or row.updated_at < time.time() - self.idle_s:
            raise NotFound("session", session)  # an expired one is as good as gone
        return row.user, Conversation(**json.loads(row.state))

    def _save(self, session: str, user: str, conv: Conversation) -> None:
        state = json.dumps(vars(conv))
        with self.db.begin() as c:
            done = c.execute(sa.update(SESSIONS).where(SESSIONS.c.id == session).values(
                state=state, updated_at=time.time())).rowcount
            if not done:
                c.execute(sa.insert(SESSIONS).values(id=session, user=user, state=state,
                                                     updated_at=time.time()))

    def _log(self, user: str, session: str, text: str, t: Turn) -> None:
        now = time.time()
        day = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
        with self.db.begin() as c:
            c.execute(sa.insert(TURNS).values(
                at=now, day=day, user=user, session=session, text=text,
                tokens=" ".join(t.tokens), intent=t.intent or "", confidence=t.confidence or 0.0,
                tags=" ".join(t.tags), reply=" | ".join(t.replies), flow=t.flow))


_assistants: dict[str | None, Assistant] = {}


def assistant(home: str | None) -> Assistant:
    """The assistant of ``home``, one per process."""
    with _lock:
        found = _assistants.get(home)
        if found is None:
            found = _assistants[home] = Assistant(home)
        return found


def open_session(user: str = "guest", *, home: str | None = None) -> Session:
    """Start a conversation for ``user``: its session id and the greeting."""
    if not user.strip() or len(user) > 100:
        raise InvalidInput("a user name is 1 to 100 characters", field="user", value=user)
    return assistant(home).open(user.strip())


def chat(session: str, text: str, context: dict[str, Any] | None = None, *,
         home: str | None = None) -> Turn:
    """One message of a session and the assistant's replies (context kept per session)."""
    return assistant(home).turn(session, text, context)


@dataclass(frozen=True)
class VoiceTurn(Record):
    """A spoken message: what was heard, the turn, and the replies spoken (base64 WAV)."""

    transcript: str
    turn: Turn
    audio: str | None


def voice_chat(session: str, audio: str, speak: bool = True, *,
               home: str | None = None) -> VoiceTurn:
    """One spoken message (base64 WAV): recognised, answered, the answer spoken."""
    import base64
    import binascii

    from mlfabric.apps.assistant import voice

    try:
        raw = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("audio is base64-encoded WAV", field="audio") from None
    heard = voice.transcribe(raw)
    t = chat(session, heard, home=home)
    spoken = None
    if speak and t.replies:
        spoken = base64.b64encode(voice.synthesize(" ".join(t.replies))).decode()
    return VoiceTurn(heard, t, spoken)

"""The assistant's flow files: the shipped set is clean, the validator finds each planted
defect of a broken set on the right line, malformed YAML names its line, and the engine
walks the states (with an NLU and adapters given as plain functions: pure policy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfabric.apps.assistant.engine import AdapterError, Conversation, Engine, Understanding
from mlfabric.apps.assistant.flows import FlowError, default_flows, load_flows
from mlfabric.apps.assistant.fulfillment import OUTPUTS
from mlfabric.apps.assistant.nemo import as_bio, read_split, spans, write_nemo
from mlfabric.apps.assistant.validate import validate

pytestmark = pytest.mark.unit

MAIN = """\
name: main
intent_transitions:
  weather: weather
  order: orders
states:
  START:
    type: message_text
    properties:
      text: "Hello {{nickname}}"
    transitions:
      next: INPUT
  INPUT:
    type: input_user
    transitions:
      notmatch: UNKNOWN
  UNKNOWN:
    type: change_context
    properties:
      update_keys:
        last: unknown
    transitions:
      flow: error
  ORPHAN:
    type: message_text
    properties:
      text: "nobody comes here"
"""
WEATHER = """\
name: weather
states:
  START:
    type: conditional_exists
    properties:
      key: '{{location}}'
    transitions:
      exists: FETCH
      notexists: ASK
  ASK:
    type: message_text
    properties:
      text: "Which city?"
    transitions:
      next: ASK_AGAIN
  ASK_AGAIN:
    type: change_context
    properties:
      update_keys:
        asked: 'yes'
    transitions:
      next: ASK
  FETCH:
    type: weather
    properties:
      location: '{{location}}'
    transitions:
      next: ANSWRE
      error: FAILED
  ANSWER:
    type: message_txt
    properties:
      text: "{{weather_condition}}"
  FAILED:
    type: message_text
    properties:
      text: "Sorry: {{error}}"
"""
ERROR = """\
name: error
states:
  START:
    type: message_text
    properties:
      text: "Sorry?"
"""
# (file, line, what the message says) of every planted defect
PLANTED = [
    ("main.yaml", 4, "intent order goes to unknown flow 'orders'"),
    ("main.yaml", 9, "reads '{{nickname}}' but no state ever sets it"),
    ("main.yaml", 23, "state ORPHAN is unreachable"),
    # no state asks for the location: both places that read it are reported
    ("weather.yaml", 6, "reads '{{location}}' but no state ever sets it"),
    ("weather.yaml", 26, "reads '{{location}}' but no state ever sets it"),
    ("weather.yaml", 22, "cycle without input: weather.ASK -> weather.ASK_AGAIN -> weather.ASK"),
    ("weather.yaml", 28, "transition FETCH.next goes to unknown state 'ANSWRE'"),
    ("weather.yaml", 30, "state ANSWER is unreachable"),  # the typo above strands it
    ("weather.yaml", 31, "state ANSWER has unknown type 'message_txt'"),
]


def write_flows(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_the_shipped_retail_flows_are_clean() -> None:
    flows = load_flows(default_flows())
    assert set(flows.flows) == {"main", "retail", "weather", "store", "price", "error"}
    assert validate(flows, adapters=OUTPUTS) == []


def test_the_validator_finds_each_planted_defect_on_its_line(tmp_path: Path) -> None:
    folder = write_flows(tmp_path / "broken", {"main.yaml": MAIN, "weather.yaml": WEATHER,
                                               "error.yaml": ERROR})
    found = validate(load_flows(folder), adapters=OUTPUTS)
    got = [(Path(d.path).name, d.line, d.message) for d in found]
    for name, line, text in PLANTED:
        assert any(n == name and ln == line and text in m for n, ln, m in got), \
            (name, line, text, got)
    assert len(got) == len(PLANTED), got  # nothing reported that was not planted


def test_unknown_intents_are_reported_against_the_nlu(tmp_path: Path) -> None:
    flows = load_flows(default_flows())
    found = validate(flows, adapters=OUTPUTS, intents=["weather", "greet", "goodbye",
                                                       "item_price"])
    assert [(Path(d.path).name, d.line) for d in found] == [("main.yaml", 5)]
    assert "store_location" in found[0].message


def test_malformed_yaml_names_its_file_and_line(tmp_path: Path) -> None:
    folder = write_flows(tmp_path / "bad", {"main.yaml": "name: main\nstates:\n  START:\n"
                                            "    type: [message_text\n  INPUT: {}\n"})
    with pytest.raises(FlowError) as e:
        load_flows(folder)
    assert e.value.path.endswith("main.yaml") and e.value.line == 5
    assert "malformed YAML" in str(e.value)


def _engine(flows_dir: Path, intents: dict[str, Understanding],
            fail: set[str] | None = None) -> Engine:
    def understand(text: str) -> Understanding:
        return intents.get(text, Understanding("nonsense", 0.2))

    def fulfil(name: str, args: dict) -> dict:
        if name in (fail or set()):
            raise AdapterError(f"the {name} service did not answer within 1 s", adapter=name)
        return {"weather_condition": "sunny", "temperature": 21} if name == "weather" else {}

    return Engine(load_flows(flows_dir), understand, fulfil, OUTPUTS, threshold=0.5)


def test_the_engine_asks_for_a_missing_location_and_remembers_it() -> None:
    nlu = {"weather?": Understanding("weather", 0.9),
           "paris": Understanding("inform", 0.9, {"location": "paris"}),
           "and the weather": Understanding("weather", 0.9)}
    engine = _engine(default_flows(), nlu)
    conv = Conversation()
    assert engine.start(conv).replies[0].startswith("Hi, I'm the store assistant")
    asked = engine.reply(conv, "weather?")
    assert asked.replies == ["Which city are you in?"]
    assert (asked.flow, asked.state) == ("weather", "INPUT_LOCATION")
    told = engine.reply(conv, "paris")
    assert told.replies == ["In paris it is sunny and 21 degrees Celsius."]
    assert (told.flow, told.state) == ("main", "INPUT")
    again = engine.reply(conv, "and the weather")
    assert again.replies == ["In paris it is sunny and 21 degrees Celsius."]


def test_the_engine_routes_unsure_and_unknown_requests_to_the_error_flow() -> None:
    engine = _engine(default_flows(), {"inform": Understanding("inform", 0.95)})
    conv = Conversation()
    engine.start(conv)
    for text in ("gibberish", "inform"):  # unsure; sure but no flow takes it
        t = engine.reply(conv, text)
        assert t.replies[0].startswith(("Sorry, I did not understand", "I'm not sure"))
        assert (t.flow, t.state) == ("main", "INPUT")


def test_adapter_errors_reach_the_user_as_the_flow_error_message() -> None:
    engine = _engine(default_flows(), {"weather in paris": Understanding(
        "weather", 0.9, {"location": "paris"})}, fail={"weather"})
    conv = Conversation()
    engine.start(conv)
    t = engine.reply(conv, "weather in paris")
    assert t.replies == ["Sorry, I could not get the weather: the weather service did not "
                         "answer within 1 s"]
    assert (t.flow, t.state) == ("main", "INPUT")  # the conversation goes on


def test_empty_and_very_long_messages_get_an_answer_and_change_nothing() -> None:
    engine = _engine(default_flows(), {})
    conv = Conversation()
    engine.start(conv)
    before = (conv.flow, conv.state, dict(conv.context), conv.turn)
    assert engine.reply(conv, "   ").replies == ["Please type a question."]
    long = engine.reply(conv, "x" * 501).replies[0]
    assert long.startswith("That message is too long (501 characters; at most 500)")
    assert (conv.flow, conv.state, conv.context, conv.turn) == before


def test_nemo_files_read_back_and_plain_slot_labels_read_as_bio(tmp_path: Path) -> None:
    # a public set as NeMo's importer writes it: plain slot names, "O" last
    (tmp_path / "dict.intents.csv").write_text("alarm_set\nweather_query\n")
    (tmp_path / "dict.slots.csv").write_text("time\nplace_name\nO\n")
    (tmp_path / "train.tsv").write_text("sentence\tlabel\nwake me up at seven am\t0\n"
                                        "weather in new york\t1\n")
    (tmp_path / "train_slots.tsv").write_text("2 2 2 2 0 0\n2 2 1 1\n")
    got = read_split(tmp_path, "train")
    assert [e.intent for e in got] == ["alarm_set", "weather_query"]
    assert got[1].tags == ("O", "O", "B-place_name", "I-place_name")
    assert spans(got[0].tokens, got[0].tags) == {"time": "seven am"}
    assert as_bio(["O", "time", "time", "O", "time"]) == ["O", "B-time", "I-time", "O",
                                                         "B-time"]
    write_nemo(tmp_path / "again", {"train": got, "test": got[:1]})
    assert read_split(tmp_path / "again", "train") == got
    (tmp_path / "train_slots.tsv").write_text("2 2 2 2 0\n2 2 1 1\n")
    with pytest.raises(ValueError, match=r"train.tsv:2: 6 tokens but 5 slot ids"):
        read_split(tmp_path, "train")


CLIENT = """\
name: main
intent_transitions:
  weather: weather
states:
  START:
    type: input_context
    properties:
      entities:
        city: location
    transitions:
      match: KNOWN
      notmatch: INPUT
  KNOWN:
    type: message_text
    properties:
      text: "You are in {{location}}."
    transitions:
      next: INPUT
  INPUT:
    type: input_user
    transitions:
      notmatch: FORGET
  FORGET:
    type: reset
    properties:
      keys: [location]
    transitions:
      next: DONE
  DONE:
    type: message_text
    properties:
      text: "Forgotten{{location}}."
"""


def test_input_context_reads_the_client_and_reset_forgets(tmp_path: Path) -> None:
    folder = write_flows(tmp_path / "ctx", {"main.yaml": CLIENT, "error.yaml": ERROR,
                                            "weather.yaml": WEATHER.replace("ANSWRE", "ANSWER")
                                            .replace("message_txt", "message_text")
                                            .replace("next: ASK\n", "next: FETCH\n")})
    flows = load_flows(folder)
    assert validate(flows, adapters=OUTPUTS) == []  # input_context sets location
    engine = Engine(flows, lambda text: Understanding("bye", 0.9), lambda n, a: {}, OUTPUTS)
    conv = Conversation()
    engine.start(conv)
    assert conv.state == "INPUT" and "location" not in conv.context  # no client context
    t = engine.reply(conv, "forget me")
    assert t.replies == ["Forgotten."]
    conv = Conversation()
    assert engine.start(conv, {"city": "oslo"}).replies == ["You are in oslo."]
    assert conv.context["location"] == "oslo"
    assert engine.reply(conv, "forget").replies == ["Forgotten."]
    assert "location" not in conv.context

"""``mlfabric assistant`` as typed: the validator's report and exit code, bad flow files,
bad labelled history and a chat before any model, each one clear line on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfabric.apps.assistant.nemo import Example, write_nemo
from tests.helpers import run_cli
from tests.unit.test_assistant_flows import ERROR, MAIN, WEATHER, write_flows

pytestmark = pytest.mark.e2e


def test_validate_reports_each_defect_as_file_and_line(home: Path, tmp_path: Path) -> None:
    ok = run_cli(home, "assistant", "validate")
    assert (ok.code, ok.out.strip()) == (0, "6 flows, no defects")
    folder = write_flows(tmp_path / "broken", {"main.yaml": MAIN, "weather.yaml": WEATHER,
                                               "error.yaml": ERROR})
    bad = run_cli(home, "assistant", "validate", str(folder))
    assert bad.code == 1
    assert bad.err == "error: 9 defect(s) in 3 flows\n"
    assert f"{folder}/weather.yaml:28: transition FETCH.next goes to unknown state " \
           "'ANSWRE'" in bad.out.splitlines()
    listed = run_cli(home, "assistant", "validate", str(folder), "--json")
    assert {(Path(d["path"]).name, d["line"]) for d in listed.json()} >= {
        ("main.yaml", 4), ("weather.yaml", 22)}
    (folder / "main.yaml").write_text("name: main\nstates:\n  START: {type: [x\n")
    broken = run_cli(home, "assistant", "validate", str(folder))
    assert broken.code == 1 and broken.out == ""
    assert broken.err.startswith(f"error: {folder}/main.yaml:4: malformed YAML")


def test_bad_labelled_history_names_its_row(home: Path, tmp_path: Path) -> None:
    base = write_nemo(tmp_path / "base", {
        "train": [Example(("hi",), "greet", ("O",)),
                  Example(("weather", "in", "paris"), "weather", ("O", "O", "B-location"))],
        "test": [Example(("hello",), "greet", ("O",))]})
    csv = tmp_path / "day.csv"
    csv.write_text("at,user,session,text,tokens,intent,confidence,tags,reply,flow\n"
                   "t,u,s,cheapest jeans,cheapest jeans,cheapest_item,0.4,O B-item,r,error\n"
                   "t,u,s,best sushi place,best sushi place,best_place,0.4,O B-cuisine,r,e\n")
    r = run_cli(home, "assistant", "to-nemo", str(csv), "--out", str(tmp_path / "out"),
                "--base", str(base))
    assert (r.code, r.err) == (1, f"error: {csv}:3: 3 tokens but 2 tags\n")
    assert not (tmp_path / "out").exists()  # nothing written
    csv.write_text(csv.read_text().replace("O B-cuisine", "O B-cuisine I-item"))
    r = run_cli(home, "assistant", "to-nemo", str(csv), "--out", str(tmp_path / "out"),
                "--base", str(base))
    assert r.code == 1
    assert r.err == f"error: {csv}:3: tag 3 'I-item' does not continue a item span\n"
    csv.write_text(csv.read_text().replace("O B-cuisine I-item", "O B-cuisine O"))
    r = run_cli(home, "assistant", "to-nemo", str(csv), "--out", str(tmp_path / "out"),
                "--base", str(base), "--json")
    assert r.code == 0, r.err
    assert r.json()["history_rows"] == 2
    assert r.json()["train"] + r.json()["test"] == 3 + 2  # the base and both new rows
    written = (tmp_path / "out" / "dict.intents.csv").read_text().split()
    assert written == ["best_place", "cheapest_item", "greet", "weather"]


def test_chat_before_setup_says_what_to_do(home: Path) -> None:
    r = run_cli(home, "assistant", "chat", "-m", "hi")
    assert r.code == 1
    assert r.err.startswith("error: assistant model '") and r.out == ""
    assert r.err.endswith("not found: run mlfabric assistant setup\n")

"""The on-demand scenario: the example notebook (clean vs obfuscated detection on one
picture, with the attacker's reconstructions) runs top to bottom in a real kernel."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "faces_privacy.ipynb"


def test_example_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A python3 kernel spec naming this interpreter (the project's .venv), found first.
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (mlfabric)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("FACES_WORK", str(tmp_path / "work"))
    monkeypatch.delenv("FACES_DETECTOR", raising=False)
    monkeypatch.delenv("FACES_DATASET", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "faces found (clean):" in text and "SNR of what leaves the trusted zone" in text
    assert "AttackResult(psnr=" in text  # the attacker was scored, clean and noisy
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the four panels
    assert (tmp_path / "work" / "data" / "faceboxes.pt").is_file()

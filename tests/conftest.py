from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh MLFABRIC_HOME for one test."""
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.mlfabric or a catalog URL from the environment."""
    monkeypatch.setenv("MLFABRIC_HOME", str(tmp_path / "default-home"))
    monkeypatch.delenv("MLFABRIC_CATALOG_URL", raising=False)
    monkeypatch.delenv("MLFABRIC_STORAGE_DRIVER", raising=False)

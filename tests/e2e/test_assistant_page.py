"""The assistant's chat page in the dashboard's Apps tab, in headless Debian Chromium: a
typed question is answered through the REST API with the dashboard's token, and the
context holds across messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS, open_dashboard
from tests.helpers import run_cli
from tests.server import Server, start_server

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    assert run_cli(home, "assistant", "setup", "--per-intent", "40").code == 0
    srv = start_server(home)
    try:
        yield srv
    finally:
        assert srv.stop() == 0, "".join(srv.lines)


def test_the_chat_page_answers_in_the_apps_tab(server: Server) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian chromium is not installed at {CHROMIUM}")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            page: Any = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            open_dashboard(page, server, "apps")
            expect(page.get_by_test_id("app-assistant")).to_contain_text(
                "POST /api/v1/assistant/chat")
            page.get_by_test_id("app-open-assistant").click()
            frame = page.frame_locator('[data-testid="app-frame"]')
            log = frame.get_by_test_id("log")
            expect(log).to_contain_text("Hi, I'm the store assistant")
            frame.get_by_test_id("text").fill("what's the weather")
            frame.get_by_test_id("text").press("Enter")
            expect(log).to_contain_text("Which city are you in?")
            frame.get_by_test_id("text").fill("tokyo")
            frame.get_by_test_id("text").press("Enter")
            expect(log).to_contain_text("In tokyo it is")
            frame.get_by_test_id("text").fill("where is the nearest store")
            frame.get_by_test_id("text").press("Enter")
            expect(log).to_contain_text("The nearest store to tokyo is Fabric Store Shibuya")
            assert errors == []
        finally:
            browser.close()

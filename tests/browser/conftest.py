"""Browser tests: Playwright for Python driving Debian's chromium (browsers cannot be downloaded
here, so Playwright's own builds are never used), against real `phydev server` processes.

One browser for all of tests/browser (package scope: Playwright's sync API keeps an asyncio
loop running in this thread while it lives, which would break later tests' `asyncio.run`),
and a fresh context (its own storage: a new "tab") per test.
Every page is watched: a console error, an uncaught exception or a request to anything but
127.0.0.1 fails the test that caused it (requests elsewhere are aborted, never sent).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.conftest import REQUIRE_KERNEL, PhydevServer, require_kernel
from tests.e2e.conftest import OwnMaps, made_own_maps

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response, Route

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "browser-test-token"
PREFIX = "/agent/"


def _require_browser() -> None:
    reason = None
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing (scripts/test installs Debian's chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason is None:
        return
    if REQUIRE_KERNEL:
        pytest.fail(f"DEVAGENT_REQUIRE_KERNEL=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class Watch:
    """What a page did that a person would not want: console errors, uncaught exceptions,
    requests leaving 127.0.0.1. `allow` holds patterns of console errors a test expects (a
    401 the page answers by asking for the token, say)."""

    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    # Requests answered 4xx/5xx, with what was asked and answered: the console only says
    # "Failed to load resource", so these explain a failure.
    refused: list[str] = field(default_factory=list)

    def unexpected(self) -> list[str]:
        errors = [e for e in self.errors if not any(re.search(a, e) for a in self.allow)]
        return errors + (self.refused if errors else [])


@dataclass
class Tab:
    page: Page
    watch: Watch


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A new browser context (own sessionStorage, cookies) and page, watched (see Watch)."""
    watch = Watch()
    context = browser.new_context(viewport={"width": 1280, "height": 860})

    def route(r: Route) -> None:
        url = r.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            r.continue_()
        else:
            watch.external.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and watch.errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: watch.errors.append(f"exception: {e}"))

    def refused(response: Response) -> None:
        if response.status >= 400:
            asked = (response.request.post_data or response.url)[:160]
            watch.refused.append(f"HTTP {response.status} for {asked}: {response.text()[:300]}")

    page.on("response", refused)
    yield Tab(page, watch)
    context.close()
    assert watch.external == [], f"requests left 127.0.0.1: {watch.external}"
    assert watch.unexpected() == [], f"errors in the page: {watch.unexpected()}"


@pytest.fixture(scope="package")
def ui_maps() -> Iterator[OwnMaps]:
    """Maps only these tests write (t_hash, t_pcpu, t_array, t_str), pinned in a private
    bpffs that is the agents' --bpf_dir."""
    with made_own_maps() as maps:
        yield maps


def _agent(*args: str, bpf_dir: str, path: str = "/healthz") -> PhydevServer:
    server = PhydevServer(*args, bpf_dir=bpf_dir)
    try:
        server.wait_ready(path=path)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="package")
def rw_agent(ui_maps: OwnMaps) -> Iterator[PhydevServer]:
    """An agent that allows writes."""
    require_kernel()
    server = _agent("--allow-writes", bpf_dir=ui_maps.bpf_dir)
    yield server
    server.stop()


@pytest.fixture(scope="package")
def ro_agent(ui_maps: OwnMaps) -> Iterator[PhydevServer]:
    """An agent started without --allow-writes."""
    require_kernel()
    server = _agent(bpf_dir=ui_maps.bpf_dir)
    yield server
    server.stop()


@pytest.fixture(scope="package")
def token_agent(ui_maps: OwnMaps) -> Iterator[PhydevServer]:
    """An agent under --path-prefix /agent/ that needs a bearer token."""
    require_kernel()
    server = _agent(
        "--path-prefix", PREFIX, "--auth-token", TOKEN, bpf_dir=ui_maps.bpf_dir,
        path=PREFIX + "healthz",
    )  # fmt: skip
    yield server
    server.stop()

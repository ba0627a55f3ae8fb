"""The `?` key of the full-screen `phydev top` (issue 22, item 5): a help screen listing
every key binding, in a real terminal (tmux), over the live view; Esc closes it and the
view goes on. The key table (cli.top.keys) is checked against the app's bindings, so a key
added without a help line fails here."""

from __future__ import annotations

import time
from pathlib import Path

from devagent.cli.top.app import TopApp
from devagent.cli.top.help_screen import HelpScreen
from devagent.cli.top.keys import KEYS, help_text
from devagent.cli.top.view import COLUMNS
from tests.conftest import require_kernel
from tests.e2e.terminal import PHYDEV, Terminal


def test_every_binding_has_a_help_line() -> None:
    documented = {name for _, names, _ in KEYS for name in names}
    for screen in (TopApp, HelpScreen):
        for binding in screen.BINDINGS:
            for key in binding.key.split(","):  # type: ignore[union-attr]
                assert key.strip() in documented, f"{screen.__name__}: {key} has no help line"
    text = help_text()
    assert all(c in text for c in COLUMNS)


def test_question_mark_shows_every_key_in_a_real_terminal(tmp_path: Path) -> None:
    require_kernel()
    term = Terminal(f"{PHYDEV} top --interval 0.5 --no-enable-stats", tmp_path / "rc", 160, 40)
    try:
        term.wait_for("sorted by CPU %", "Help")  # the footer names the key
        term.keys("?")
        screen = term.wait_for("phydev top: keys", "this help")
        for shown, _, what in KEYS:
            assert shown in screen, f"{shown} missing:\n{screen}"
            assert what[:40] in screen.replace("\n", " ") or what[:25] in screen, (what, screen)
        term.keys("Escape")
        deadline = time.monotonic() + 15
        while "phydev top: keys" in term.screen():
            assert time.monotonic() < deadline, term.screen()
            time.sleep(0.2)
        term.wait_for("sorted by CPU %")
        term.keys("q")
        assert term.exit_status() == 0, term.screen()
    finally:
        term.close()

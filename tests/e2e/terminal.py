"""A real terminal for the full-screen `phydev top`: a detached tmux session (its own
server socket, so nothing else of the machine's tmux is touched) running one command under
sh, which writes the command's exit status to a file. tmux's own pane_dead_status is not
used: tmux may take its time to reap a dead pane's process (a zombie for 20 s and more was
seen on busy machines, CI included), and the status stays empty until it does.

COLUMNS and LINES are unset for the command: under pytest they say 80x24, and Textual
would believe them rather than the pane's real size."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

PHYDEV = str(Path(sys.executable).parent / "phydev")


def require_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/test installs it)")


class Terminal:
    """`command` in a tmux pane of `width` x `height`; the pane stays after it exits."""

    def __init__(self, command: str, status_file: Path, width: int = 160, height: int = 40):
        require_tmux()
        self.status_file = status_file
        self.socket = f"phydev-top-test-{id(self)}"
        self.name = "top"
        wrapped = f"sh -c '{command}; echo $? > {status_file}'"
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                  f"exec env -u COLUMNS -u LINES {wrapped}")  # fmt: skip
        self.tmux("set-option", "-t", self.name, "remain-on-exit", "on")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True).stdout  # fmt: skip

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def command_pid(self, timeout: float = 10.0) -> int:
        """The command's pid (the pane runs sh, which forks it)."""
        shell = int(self.tmux("display-message", "-p", "-t", self.name, "#{pane_pid}"))
        children = Path(f"/proc/{shell}/task/{shell}/children")
        deadline = time.monotonic() + timeout
        while not (text := children.read_text().split()):
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
        return int(text[0])

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """The screen once it shows every text (fails after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if all(t in screen for t in texts):
                return screen
            assert time.monotonic() < deadline, f"never showed {texts}:\n{screen}"
            time.sleep(0.2)

    def exit_status(self, timeout: float = 20.0) -> int | None:
        """The command's exit status once it has exited (None: still running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.status_file.read_text() if self.status_file.exists() else ""
            if text.endswith("\n"):
                return int(text)
            time.sleep(0.1)
        return None

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)

"""The `?` help of the full-screen `phydev top` (Textual): every key, from cli.top.keys, over
the live view, which keeps refreshing underneath. Esc, q or ? closes it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from .keys import help_text


class HelpScreen(ModalScreen[None]):
    """Every key binding of the live view, as text."""

    CSS = """
    HelpScreen { align: center middle; }
    #help { width: 120; max-width: 100%; height: auto; max-height: 100%; border: round $accent;
            padding: 1 2; background: $panel; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(Text(help_text()), id="help-text")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)

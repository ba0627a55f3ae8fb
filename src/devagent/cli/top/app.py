"""The full-screen `phydev top` (Textual). Imported only by the top command.

Refreshes run in a worker thread (kernel reads or an HTTP request must not freeze the
screen); the screen shows the latest frame, sorted and filtered as the user asked.
Keys: 1-9 or a click on a header sort by that column (again: reverse), s/r next column /
reverse, / filter (name, type, owner), a show or hide the agent's own programs, p pause,
Enter or a click select a program (detail pane), Esc close, ? every key (cli.top.keys), q quit.

Text from the kernel or an agent reaches the widgets as rich.text.Text (view, plain): a
process named `[/]` must not end the view with a MarkupError. A refresh that fails shows
its error in the status line and the view keeps polling; a crash (a bug) ends the view
with a non-zero exit status (run_app returns Textual's return code).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Label, Sparkline, Static

from .frame import Detail, Frame, Row, Source, SourceError, shown_rows
from .plain import printable
from .view import (
    COLUMNS,
    FLEET_COLUMNS,
    TEXT_COLUMNS,
    cell_texts,
    detail_text,
    filter_rows,
    header_lines,
    sort_rows,
)


class TopApp(App[None]):
    """The live view over a Source (local kernel or remote agent)."""

    TITLE = "phydev top"
    CSS = """
    #header { height: 3; padding: 0 1; background: $boost; }
    #programs { height: 1fr; }
    #detail { height: 16; display: none; border-top: solid $accent; padding: 0 1; }
    #detail.shown { display: block; }
    #sparks { height: 2; }
    .spark-label { width: 12; }
    Sparkline { width: 1fr; height: 1; }
    #filter { display: none; dock: bottom; }
    #filter.shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("p", "pause", "Pause"),
        Binding("a", "toggle_agent", "Agent's own"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "next_sort", "Sort"),
        Binding("r", "reverse_sort", "Reverse"),
        Binding("escape", "close", "Close", show=False),
        Binding("question_mark", "help", "Help"),
        *(Binding(str(n), f"sort({n - 1})", show=False) for n in range(1, len(COLUMNS) + 1)),
    ]

    def __init__(
        self,
        source: Source,
        interval: float = 1.0,
        count: int | None = None,
        show_agent: bool = False,
    ) -> None:
        super().__init__()
        self.show_agent = show_agent  # the agent's own programs shown (`a` toggles)
        self.source = source
        self.interval = interval
        self.count = count
        self.frame: Frame | None = None
        self.frames = 0  # frames shown so far (tests wait on it)
        self.columns = FLEET_COLUMNS if source.fleet else COLUMNS
        self.sort_column = self.columns.index("CPU %")
        self.sort_reverse = True
        self.filter_text = ""
        self.paused = False
        self.error: str | None = None
        self._refreshing = threading.Lock()

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield DataTable(id="programs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="detail"):
            yield Static(id="detail-title")
            with Horizontal(id="sparks"):
                yield Label("events/s", classes="spark-label")
                yield Sparkline([], id="spark-events")
                yield Label("  CPU %", classes="spark-label")
                yield Sparkline([], id="spark-cpu")
            yield Static(id="detail-body")
        yield Input(placeholder="filter by name, type or owner; Enter to keep, Esc to clear",
                    id="filter")  # fmt: skip
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in self.columns:
            table.add_column(name, key=name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(sig, self.exit)
        self.show_header()
        self.fetch()
        self.set_interval(self.interval, self.tick)

    # ------------------------------------------------------------ refreshing

    def tick(self) -> None:
        if not self.paused:
            self.fetch()

    class FrameReady(Message):
        """A refresh finished (posted from the worker thread)."""

        def __init__(self, frame: Frame | None, error: str | None = None) -> None:
            super().__init__()
            self.frame = frame
            self.error = error

    @work(thread=True)
    def fetch(self) -> None:
        """One refresh, off the event loop; skipped while another is still running (a
        thread worker cannot be cancelled, and a source reads into shared buffers). The
        result is posted, not handed over with call_from_thread: that would block this
        thread for good if the app is quitting."""
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            frame = self.source.refresh()
        except (SourceError, OSError) as exc:
            self.post_message(self.FrameReady(None, str(exc)))
            return
        finally:
            self._refreshing.release()
        self.post_message(self.FrameReady(frame))

    def on_top_app_frame_ready(self, message: FrameReady) -> None:
        if message.frame is None:
            self.error = message.error
            self.show_header()
        else:
            self.show_frame(message.frame)

    def show_frame(self, frame: Frame) -> None:
        self.error = None
        self.frame = frame
        self.show_header()
        self.show_rows()
        self.show_detail(frame.detail)
        self.frames += 1
        if self.count is not None and self.frames >= self.count:
            self.exit()

    # ------------------------------------------------------------ drawing

    def status_line(self) -> str:
        arrow = "▼" if self.sort_reverse else "▲"
        parts = [f"sorted by {self.columns[self.sort_column]} {arrow}"]
        if self.filter_text:
            parts.append(f"filter: {printable(self.filter_text)}")
        hidden = 0 if self.show_agent or not self.frame else len(self.frame.rows) - len(
            shown_rows(self.frame.rows, False))  # fmt: skip
        if hidden:
            parts.append(f"{hidden} of the agent's own hidden (a: show)")
        if self.paused:
            parts.append("PAUSED")
        if self.error:
            parts.append(f"error: {printable(self.error, 300)}")
        return " · ".join(parts)

    def show_header(self) -> None:
        header = self.frame.header if self.frame else None
        lines = header_lines(header) if header else ["waiting for the first reading ...", ""]
        text = Text("\n".join([*lines, self.status_line()]))
        self.query_one("#header", Static).update(text)

    def visible_rows(self) -> list[Row]:
        rows = shown_rows(self.frame.rows, self.show_agent) if self.frame else []
        rows = filter_rows(rows, self.filter_text)
        return sort_rows(rows, self.columns[self.sort_column], self.sort_reverse)

    def show_rows(self) -> None:
        table = self.query_one(DataTable)
        keep = self.highlighted_key()
        table.clear()
        for row in self.visible_rows():
            table.add_row(*cell_texts(row, self.columns), key=row.key)
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), scroll=False)

    def highlighted_key(self) -> str | None:
        """The key (Row.key) of the row under the cursor."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key: str | None = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return key

    def show_detail(self, detail: Detail | None) -> None:
        pane = self.query_one("#detail")
        if self.source.selected is None:
            pane.remove_class("shown")
            return
        pane.add_class("shown")
        title, body = detail_text(detail, self.source.selected)
        self.query_one("#detail-title", Static).update(Text(title, style="bold"))
        self.query_one("#detail-body", Static).update(Text(body))
        events = [v or 0.0 for v in detail.events_history] if detail else []
        cpu = [v or 0.0 for v in detail.cpu_history] if detail else []
        self.query_one("#spark-events", Sparkline).data = events
        self.query_one("#spark-cpu", Sparkline).data = cpu

    # ------------------------------------------------------------ actions

    def action_sort(self, column: int) -> None:
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = column
            self.sort_reverse = self.columns[column] not in TEXT_COLUMNS
        self.show_header()
        self.show_rows()

    def action_next_sort(self) -> None:
        self.action_sort((self.sort_column + 1) % len(self.columns))

    def action_reverse_sort(self) -> None:
        self.action_sort(self.sort_column)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.action_sort(event.column_index)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None or self.source.fleet:  # a fleet row has no detail pane
            return
        self.source.selected = int(key)
        self.show_detail(None)
        self.fetch()  # the detail comes with the next frame: get it now

    def action_help(self) -> None:
        from .help_screen import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_agent(self) -> None:
        self.show_agent = not self.show_agent
        self.show_header()
        self.show_rows()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.show_header()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.show_header()
        self.show_rows()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.query_one("#filter", Input).remove_class("shown")
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("shown"):
            box.value = ""
            box.remove_class("shown")
            self.query_one(DataTable).focus()
        elif self.source.selected is not None:
            self.source.selected = None
            self.show_detail(None)


def run_app(
    source: Source, interval: float, count: int | None = None, show_agent: bool = False
) -> int:
    """Run the full-screen view until the user quits, a signal ends it, or `count` frames
    have been shown. Returns the exit status: Textual prints an exception that ended the
    app once the screen is restored, and returns normally with return code 1."""
    app = TopApp(source, interval, count, show_agent)
    app.run()
    return app.return_code or 0

"""First render of the web UI's big tables in headless Chromium (Debian's, driven by
Playwright): from navigation to the first rows of /ui/programs and /ui/maps on screen, with
every program and map loaded, in a fresh browser context (nothing cached: every script and
style is fetched) and again with the browser's cache warm (a reload)."""

from __future__ import annotations

import os
import time

from bench.measure import Summary
from bench.server import AgentProcess

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
Row = tuple[str, str]


def p99(samples: list[float]) -> float:
    """Nearest-rank 99th percentile (the maximum for fewer than 100 samples)."""
    ranked = sorted(samples)
    return ranked[min(len(ranked) - 1, max(0, round(0.99 * len(ranked)) - 1))]


def row(label: str, samples: list[float]) -> Row:
    s = Summary.of(samples)
    return label, f"p50 {s.median * 1e3:.0f} ms, p99 {p99(samples) * 1e3:.0f} ms (n={s.n})"


def bench_ui(programs: int, repeat: int) -> list[Row]:
    if not os.access(CHROMIUM, os.X_OK):
        return [("web UI", f"skipped: {CHROMIUM} is missing (scripts/test installs it)")]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [("web UI", "skipped: playwright is not installed (the dev extra has it)")]
    loaded = f"{programs} programs + {programs} maps loaded"
    agent = AgentProcess()
    rows: list[Row] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for path, testid, minimum in (("programs", "programs", programs),
                                          ("maps", "maps", programs)):  # fmt: skip
                url = f"http://127.0.0.1:{agent.port}/ui/{path}"
                rows_seen = f'[data-testid="{testid}"] [data-key]'
                cold: list[float] = []
                warm: list[float] = []
                for _ in range(max(repeat, 10)):
                    context = browser.new_context(viewport={"width": 1280, "height": 860})
                    page = context.new_page()
                    start = time.perf_counter()
                    page.goto(url)
                    page.locator(rows_seen).first.wait_for()
                    cold.append(time.perf_counter() - start)
                    total = int(page.locator(f'[data-testid="{testid}"]').get_attribute(
                        "aria-rowcount") or 0)  # fmt: skip
                    if total < minimum:
                        raise RuntimeError(f"/ui/{path} shows {total} rows, want ≥ {minimum}")
                    start = time.perf_counter()
                    page.reload()
                    page.locator(rows_seen).first.wait_for()
                    warm.append(time.perf_counter() - start)
                    context.close()
                rows.append(row(f"/ui/{path} first render, fresh browser ({loaded})", cold))
                rows.append(row(f"/ui/{path} first render, cache warm (reload)", warm))
            browser.close()
    finally:
        agent.stop()
    return rows


if __name__ == "__main__":  # this section alone: sudo .venv/bin/python -m bench.ui
    from bench.objects import many_programs, raise_fd_limit

    raise_fd_limit()
    fds = many_programs(1000)
    try:
        for label, value in bench_ui(1000, 10):
            print(f"| {label} | {value} |")
    finally:
        for fd in fds:
            fd.close()

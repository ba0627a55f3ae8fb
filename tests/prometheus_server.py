"""A real Prometheus (Debian's `prometheus`) for tests and benchmarks: its own free port on
127.0.0.1 (never 9090), its own data directory, stopped by PID."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import free_port

PROMETHEUS = "/usr/bin/prometheus"


@dataclass
class Prometheus:
    proc: subprocess.Popen[str]
    url: str
    log: Path

    def query(self, promql: str) -> dict[str, Any]:
        qs = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=10) as resp:
            answer: dict[str, Any] = json.load(resp)
        return answer

    def series(self, promql: str) -> list[dict[str, Any]]:
        answer = self.query(promql)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_for(self, promql: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll until the query returns `count` series."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                result = self.series(promql)
            except OSError:
                result = []
            if len(result) >= count:
                return result
            time.sleep(0.5)
        raise AssertionError(f"{promql}: {len(result)} series after {timeout}s, wanted {count}")


@contextmanager
def launch_prometheus(
    targets: list[str],
    rules: dict[str, str] | None = None,
    interval: str = "1s",
    timeout: str | None = None,
) -> Iterator[Prometheus]:
    """A real Prometheus scraping `targets` (host:port, job "devagent") every `interval` and
    evaluating the rule files `rules` (file name -> YAML text) as often; stopped by PID."""
    if not Path(PROMETHEUS).exists():
        raise AssertionError("Debian's prometheus package is not installed (scripts/test does)")
    workdir = Path(tempfile.mkdtemp(prefix="devagent-prometheus-"))
    for name, text in (rules or {}).items():
        (workdir / name).write_text(text)
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  scrape_timeout: {timeout or interval}\n"
        f"  evaluation_interval: {interval}\n"
        + (f"rule_files: {json.dumps(sorted(rules))}\n" if rules else "")
        + "scrape_configs:\n"
        "  - job_name: devagent\n"
        "    static_configs:\n"
        f"      - targets: {json.dumps(targets)}\n"
    )
    port = free_port()
    log = workdir / "prometheus.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield Prometheus(proc, f"http://127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)

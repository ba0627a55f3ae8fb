"""A real `phydev server` process for the benchmarks, and a small keep-alive HTTP client."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

NAVIGATION = (
    "query Navigation { programs { id error name type tag runTime runCount btfId } "
    "maps { id error name type flags isPinned keySize valueSize maxEntries } }"
)
ENTRIES = (
    "query GetMapEntries($mapId: Int!, $offset: Int, $limit: Int, $keyFormat: MapEntryFormat, "
    "$valueFormat: MapEntryFormat) { map(id: $mapId) { isPerCPU entries(offset: $offset, "
    "limit: $limit, keyFormat: $keyFormat, valueFormat: $valueFormat) { key value cpuValues } "
    "entriesCount } }"
)


# Seconds past the agent's shared snapshot, scrape body and response cache (1 s): a request
# after this pause meets expired caches, as a UI poll every few seconds does.
CACHE_AGE = 1.05


def rss_kib(pid: int) -> int:
    """Resident memory of a running process (0 when /proc has no VmRSS line for it)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """One keep-alive connection to the agent."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def _send(self, method: str, path: str, body: str | None = None) -> http.client.HTTPResponse:
        """Send a request, reconnecting once if the server closed the idle connection."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body, headers)
                return self.conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}})
        resp = self._send("POST", "/query", body)
        data = json.loads(resp.read())
        if resp.status != 200 or data.get("errors"):
            raise RuntimeError(f"query failed: {resp.status} {str(data)[:300]}")
        return dict(data["data"])

    def query_bytes(self, query: str) -> bytes:
        """The raw answer, checked without parsing it: status 200, a `data` member and no
        `errors` member (parsing a 260 KB answer costs the client more CPU than the server
        spends sending it, so throughput runs would measure the client)."""
        resp = self._send("POST", "/query", json.dumps({"query": query}))
        body = resp.read()
        if resp.status != 200 or not body.startswith(b'{"data":') or b'"errors":' in body:
            raise RuntimeError(f"query failed: {resp.status} {body[:300]!r}")
        return body

    def get(self, path: str) -> bytes:
        resp = self._send("GET", path)
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status}")
        return body

    def close(self) -> None:
        self.conn.close()


class ServerProcess:
    """A server process listening on 127.0.0.1:`port`, started by `command`; stopped by PID."""

    def __init__(self, command: list[str], port: int, name: str) -> None:
        self.port = port
        env = {**os.environ, "PORT": str(self.port)}
        self.proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{name} did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class AgentProcess(ServerProcess):
    """`phydev server` on 127.0.0.1 with a free port."""

    def __init__(self, *args: str) -> None:
        port = free_port()
        exe = str(Path(sys.executable).parent / "phydev")
        command = [exe, "server", "--listen", "127.0.0.1", "--skip-welcome", *args]
        super().__init__(command, port, "phydev server")


class FloorProcess(ServerProcess):
    """bench/floor_server.py: a bare asyncio server answering `size` bytes of JSON."""

    def __init__(self, size: int) -> None:
        port = free_port()
        script = str(Path(__file__).with_name("floor_server.py"))
        super().__init__([sys.executable, script, str(port), str(size)], port, "floor server")
